// SPDX-License-Identifier: MIT
/*
 * fuzz/checks.c - the library against the model after (and inside) every
 * operation: what the model left open is learnt first (resolve), then the
 * caches, counters, generations, vCPU, mappings, bytes and statistics are
 * compared.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "checks.h"
#include "hooklog.h"
#include "model.h"
#include "report.h"
#include "runtime.h"

/* Learn what the model left open ("maybe") from side-effect-free calls. */
void resolve(void)
{
	for (int i = 0; i <= NC; i++) {
		struct mcache *mc = &m.c[i];
		bool r = gpc_cache_check(&rt.c[i], 0, 0);

		if (mc->state != CS_LIVE || !mc->active) {
			if (r)
				fail("cache %d is valid but not active", i);
			continue;
		}
		if (!gen_ok(mc) || mc->valid == T_NO) {
			if (r)
				fail("cache %d passes check, the model says it %s",
				     i,
				     mc->valid == T_NO ?
					     "was invalidated" :
					     "has a stale generation");
			continue;
		}
		if (mc->valid == T_YES && !r)
			fail("cache %d fails check, the model says it is valid",
			     i);
		mc->valid = r ? T_YES : T_NO;
	}
	if (m.v.mode == M_MAYBE) {
		int obs = (int)gpc_vcpu_mode(rt.v);

		if (obs == M_IN) {
			m.v.mode = M_IN;
			m.v.req_inval = m.v.req_save;
		} else if (obs == m.v.maybe_to) {
			m.v.mode = obs;
			m.kicks++;
			m.v.req_inval = T_YES;
		} else {
			fail("vCPU mode %d, expected %d or %d", obs, M_IN,
			     m.v.maybe_to);
		}
	}
}

void check_state(void)
{
	struct gpc_testmem_counts tc;
	uint64_t mapped = 0;

	ev_done();
	if (rt.logs)
		fail("the library logged %d error/warning(s), first: %s",
		     rt.logs, rt.logmsg);
	resolve();
	for (int i = 0; i <= NC; i++) {
		bool a = gpc_cache_is_active(&rt.c[i]);
		bool want = m.c[i].state == CS_LIVE && m.c[i].active;

		if (a != want)
			fail("cache %d is_active %d, expected %d", i, a, want);
		if (m.c[i].state == CS_LIVE && m.c[i].mapped)
			mapped++;
	}
	if (gpc_memslot_generation(rt.vm) != m.gen)
		fail("memslot generation %llu, expected %llu",
		     (unsigned long long)gpc_memslot_generation(rt.vm),
		     (unsigned long long)m.gen);
	if (gpc_invalidate_sequence(rt.vm) != m.seq)
		fail("invalidation sequence %llu, expected %llu",
		     (unsigned long long)gpc_invalidate_sequence(rt.vm),
		     (unsigned long long)m.seq);
	if (rt.nopen != m.nopen)
		fail("%d invalidations open, the model has %d", rt.nopen,
		     m.nopen);
	if (rt.kicks < m.kicks || rt.kicks > m.kicks + m.rekicks)
		fail("%llu kicks, expected %llu", (unsigned long long)rt.kicks,
		     (unsigned long long)m.kicks);
	if (m.v.alive && (int)gpc_vcpu_mode(rt.v) != m.v.mode)
		fail("vCPU mode %d, expected %d", (int)gpc_vcpu_mode(rt.v),
		     m.v.mode);
	/* R1/R2: one live mapping per cache that holds one, no more. */
	gpc_testmem_counts(&rt.tm, &tc);
	if (tc.live_maps != (int64_t)mapped)
		fail("test stage has %lld live mappings, the caches hold %llu",
		     (long long)tc.live_maps, (unsigned long long)mapped);
}

/* The bytes at the expected place of a hit on cache @ci at @off. */
void verify_hit(int ci, const uint8_t *p, uint64_t off, uint64_t len)
{
	struct mcache *mc = &m.c[ci];
	uint64_t hva = mc->pub_hva + off;

	if (!m.stage && p != (const uint8_t *)(uintptr_t)hva)
		fail("cache %d: hit at %p, the direct stage must give the hva %#llx",
		     ci, (const void *)p, (unsigned long long)hva);
	if (m.stage && p == (const uint8_t *)(uintptr_t)hva)
		fail("cache %d: the alias stage gave the hva itself", ci);
	if (len > BUFSZ)
		len = BUFSZ;
	if (len && memcmp(p, shadow_at(hva), len))
		fail("cache %d: %llu bytes at off %llu differ from what was written at hva %#llx",
		     ci, (unsigned long long)len, (unsigned long long)off,
		     (unsigned long long)hva);
}

/* After a write of [hva, hva + len): the HVA shows it. */
void verify_hva(uint64_t hva, uint64_t len)
{
	if (memcmp((void *)(uintptr_t)hva, shadow_at(hva), len))
		fail("bytes written through a cache are not at hva %#llx (+%llu)",
		     (unsigned long long)hva, (unsigned long long)len);
}

/* The whole of guest RAM against the shadow, and the retired pages. */
void verify_ram(void)
{
	for (int r = 0; r < NREG; r++) {
		for (unsigned int i = 0; i < reg_npages[r]; i++) {
			int pg = (int)(reg_first[r] + i);
			uint64_t hva = (uintptr_t)rbase[r] + i * PG;
			int fd;
			uint64_t off;

			if (m.pages[pg].has_retired) {
				void *t = gpc_hostmem_retired_page(rt.hm, hva);

				/* NULL is allowed (best effort). R4: nothing was
				 * written to an old page after it was replaced. */
				if (t && memcmp(t, retired[pg], PG))
					fail("retired page of hva %#llx was written after it was replaced",
					     (unsigned long long)hva);
			}
			if (m.pages[pg].hole) {
				if (gpc_hostmem_backing(rt.hm, hva, &fd,
							&off) != -EFAULT)
					fail("hva %#llx should be a hole",
					     (unsigned long long)hva);
				continue;
			}
			if (m.pages[pg].prot & PROT_READ) {
				if (memcmp((void *)(uintptr_t)hva, shadow[pg],
					   PG))
					fail("guest RAM page %d differs from the model",
					     pg);
				continue;
			}
			if (gpc_hostmem_backing(rt.hm, hva, &fd, &off))
				fail("no backing for hva %#llx",
				     (unsigned long long)hva);
			if (pread(fd, buf2, PG, (off_t)off) != (ssize_t)PG ||
			    memcmp(buf2, shadow[pg], PG))
				fail("guest RAM page %d (PROT_NONE) differs from the model",
				     pg);
		}
	}
}

void check_stats(void)
{
	struct gpc_vm_stats vs;
	uint64_t active = 0;

	expect_err("gpc_vm_get_stats", gpc_vm_get_stats(rt.vm, &vs), 0);
	for (int i = 0; i < NC; i++) {
		struct gpc_cache_stats cs;
		struct mcache *mc = &m.c[i];

		if (mc->state != CS_LIVE) {
			expect_err("gpc_cache_get_stats (not initialised)",
				   gpc_cache_get_stats(&rt.c[i], &cs), -EINVAL);
			continue;
		}
		active += mc->active;
		expect_err("gpc_cache_get_stats",
			   gpc_cache_get_stats(&rt.c[i], &cs), 0);
		if (cs.refreshes != mc->refreshes ||
		    cs.refresh_retries != mc->retries || cs.refresh_waits ||
		    cs.maps - cs.unmaps != (uint64_t)mc->mapped)
			fail("cache %d stats: refreshes %llu retries %llu waits %llu maps-unmaps %lld; expected %llu %llu 0 %d",
			     i, (unsigned long long)cs.refreshes,
			     (unsigned long long)cs.refresh_retries,
			     (unsigned long long)cs.refresh_waits,
			     (long long)(cs.maps - cs.unmaps),
			     (unsigned long long)mc->refreshes,
			     (unsigned long long)mc->retries, mc->mapped);
	}
	if (vs.active_caches != active ||
	    vs.memslot_changes != m.st_slot_changes ||
	    vs.invalidations != m.st_inval || vs.inval_eagain != m.st_eagain ||
	    vs.refreshes != m.st_refreshes ||
	    vs.refresh_retries != m.st_retries || vs.refresh_waits ||
	    vs.kicks != rt.kicks)
		fail("vm stats: active %llu slot changes %llu invalidations %llu eagain %llu refreshes %llu retries %llu waits %llu kicks %llu; "
		     "expected %llu %llu %llu %llu %llu %llu 0 %llu",
		     (unsigned long long)vs.active_caches,
		     (unsigned long long)vs.memslot_changes,
		     (unsigned long long)vs.invalidations,
		     (unsigned long long)vs.inval_eagain,
		     (unsigned long long)vs.refreshes,
		     (unsigned long long)vs.refresh_retries,
		     (unsigned long long)vs.refresh_waits,
		     (unsigned long long)vs.kicks, (unsigned long long)active,
		     (unsigned long long)m.st_slot_changes,
		     (unsigned long long)m.st_inval,
		     (unsigned long long)m.st_eagain,
		     (unsigned long long)m.st_refreshes,
		     (unsigned long long)m.st_retries,
		     /* every call of the kick callback counts (issue #11) */
		     (unsigned long long)rt.kicks);
	{
		unsigned int n = 0;

		for (int i = 0; i < MAX_SLOTS; i++)
			n += m.slots[i].used;
		if (gpc_memslot_count(rt.vm) != n)
			fail("memslot count %u, expected %u",
			     gpc_memslot_count(rt.vm), n);
	}
}
