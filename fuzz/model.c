// SPDX-License-Identifier: MIT
/*
 * fuzz/model.c - the reference model of fuzz_api: plain C, no library code.
 *
 * It predicts each call's result and the state that follows: host memory
 * (pages, their backing and protection, holes, retired copies, the shadow
 * of their bytes), memslots and their generation, caches (valid, published
 * range, the index entry, the mapping), the vCPU's mode and requests, and
 * the invalidations in progress. Where the library may choose, it keeps
 * "maybe" (enum tri) and checks.c learns the answer from the library. The
 * hook calls the library makes are replayed from hooklog.c.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "gpc_testing.h"
#include "hooklog.h"
#include "model.h"
#include "report.h"

struct model m;
bool auto_exit;
uint8_t shadow[NPG][PG];
uint8_t retired[NPG][PG];

/* ---- reporting ----------------------------------------------------------- */

void dump_model(void)
{
	fprintf(stderr,
		"  model: scheme %s stage %s gen %llu seq %llu open %d held %d\n",
		m.scheme ? "rwlock" : "srcu", m.stage ? "alias" : "direct",
		(unsigned long long)m.gen, (unsigned long long)m.seq, m.nopen,
		m.held);
	for (int i = 0; i < MAX_SLOTS; i++)
		if (m.slots[i].used)
			fprintf(stderr,
				"  slot %d: gpa %#llx size %#llx hva %#llx flags %u\n",
				i, (unsigned long long)m.slots[i].gpa,
				(unsigned long long)m.slots[i].size,
				(unsigned long long)m.slots[i].hva,
				m.slots[i].flags);
	for (int i = 0; i <= NC; i++) {
		struct mcache *c = &m.c[i];

		fprintf(stderr,
			"  cache %d: state %d usage %d flags %u active %d %s %#llx len %llu "
			"valid %d pub_hva %#llx pub_len %llu pub_gen %llu idx %d %#llx+%llu mapped %d\n",
			i, c->state, c->usage, c->flags, c->active,
			c->hva_mode ? "hva" : "gpa",
			(unsigned long long)c->addr, (unsigned long long)c->len,
			c->valid, (unsigned long long)c->pub_hva,
			(unsigned long long)c->pub_len,
			(unsigned long long)c->pub_gen, c->idx,
			(unsigned long long)c->idx_hva,
			(unsigned long long)c->idx_len, c->mapped);
	}
	fprintf(stderr, "  vcpu: alive %d mode %d req %d bits %#x list",
		m.v.alive, m.v.mode, m.v.req_inval, m.v.reqbits);
	for (int i = 0; i < m.v.nlist; i++)
		fprintf(stderr, " %d", m.v.list[i]);
	fprintf(stderr, "\n");
	for (int i = 0; i < NREG; i++)
		fprintf(stderr, "  region %d at %p (%u pages)\n", i,
			(void *)rbase[i], reg_npages[i]);
	for (int i = 0; i < NPG; i++)
		fprintf(stderr,
			"  page %d: hole %d prot %d file %u/%u retired %d\n", i,
			m.pages[i].hole, m.pages[i].prot, m.pages[i].file,
			m.pages[i].foff, m.pages[i].has_retired);
}

/* The shadow bytes of @hva (inside a region). */
uint8_t *shadow_at(uint64_t hva)
{
	int pg;

	if (reg_of(hva, &pg) < 0 || reg_of(hva, &pg) == 2)
		fail("shadow_at(%#llx): not guest RAM",
		     (unsigned long long)hva);
	return &shadow[pg][hva & (PG - 1)];
}

/* ---- host memory --------------------------------------------------------- */

/* Stage 2 (test stage around direct/alias) for [hva, hva + len). */
static int m_stage2(uint64_t hva, uint64_t len, bool write)
{
	uint64_t start = page_down(hva), end = page_down(hva + len + PG - 1);
	uint32_t f = 0, o = 0;
	bool nc = false;
	int pg, r;

	if (m.fail_translate > 0) {
		m.fail_translate--;
		return m.fail_err;
	}
	if (m.stage) {
		for (uint64_t a = start; a < end; a += PG) {
			r = reg_of(a, &pg);
			if (r < 0 || r == 2 || m.pages[pg].hole)
				return -EFAULT;
			if (a == start) {
				f = m.pages[pg].file;
				o = m.pages[pg].foff;
			} else if (m.pages[pg].file != f ||
				   m.pages[pg].foff != o + (a - start) / PG) {
				nc = true;
			}
		}
		if (nc)
			return -EINVAL;
	}
	for (uint64_t a = start; a < end; a += PG) {
		r = reg_of(a, &pg);
		if (r < 0 || r == 2 || m.pages[pg].hole ||
		    !(m.pages[pg].prot & PROT_READ) ||
		    (write && !(m.pages[pg].prot & PROT_WRITE)))
			return -EFAULT;
	}
	return 0;
}

struct mslot *m_slot_at(uint64_t gpa)
{
	for (int i = 0; i < MAX_SLOTS; i++) {
		struct mslot *s = &m.slots[i];

		if (s->used && gpa >= s->gpa && gpa - s->gpa < s->size)
			return s;
	}
	return NULL;
}

/* cache.c m_slot_range_ok(): nonempty, and the page-rounded end does not wrap. */
bool m_range_ok(uint64_t addr, uint64_t len)
{
	uint64_t end = addr + len;

	return len && end > addr && end + (PG - 1) > end;
}

/* Stage 1 of cache @mc with length @len. */
static int m_stage1(struct mcache *mc, uint64_t len, uint64_t *hva)
{
	struct mslot *s;

	if (mc->hva_mode) {
		*hva = mc->addr;
		return 0;
	}
	s = m_slot_at(mc->addr);
	if (!s)
		return -EFAULT;
	if (len > s->gpa + s->size - mc->addr)
		return -EINVAL;
	if ((s->flags & GPC_MEMSLOT_READONLY) &&
	    !(mc->flags & GPC_CACHE_READONLY))
		return -EFAULT;
	*hva = s->hva + (mc->addr - s->gpa);
	return 0;
}

/* ---- vCPU ---------------------------------------------------------------- */

void m_kick_to(int *mode)
{
	m.kicks++;
	*mode = auto_exit ? M_OUT : M_EXITING;
}

/* gpci_vcpu_evict(): post the request, kick if in guest mode. */
static void m_evict(void)
{
	/* A vCPU kicked already and not out yet gets the callback again
	 * (lost-kick recovery); the library's kick counters count it too,
	 * checks.c compares them with the callback's count. */
	if (m.v.mode == M_EXITING || m.v.mode == M_MAYBE)
		m.rekicks++;
	if (m.v.mode == M_MAYBE) {
		/* One kick in all, whether the maybe happened or not. */
		m.kicks++;
		m.v.mode = m.v.maybe_to;
	} else if (m.v.mode == M_IN) {
		m_kick_to(&m.v.mode);
	}
	m.v.req_inval = T_YES;
}

/* An eviction that may or may not happen; resolved by gpc_vcpu_mode(). */
static void m_evict_maybe(void)
{
	if (m.v.mode == M_IN) {
		m.v.mode = M_MAYBE;
		m.v.maybe_to = auto_exit ? M_OUT : M_EXITING;
		m.v.req_save = m.v.req_inval;
		m.v.req_inval = T_MAYBE;
	} else if (m.v.mode != M_MAYBE && m.v.req_inval == T_NO) {
		m.v.req_inval = T_MAYBE;
	}
}

/* cache.c quiesce() of a guest-usage cache. */
static void m_quiesce(int ci)
{
	if (m.c[ci].usage != GPC_USAGE_GUEST)
		return;
	if (m.v.mode != M_OUT)
		m_evict();
}

void m_list_del(int ci)
{
	for (int i = 0; i < m.v.nlist; i++) {
		if (m.v.list[i] == ci) {
			m.v.list[i] = m.v.list[--m.v.nlist];
			return;
		}
	}
}

/* ---- caches -------------------------------------------------------------- */

static void m_clear_valid(struct mcache *mc)
{
	if (mc->valid == T_YES)
		mc->cookie = T_YES;
	else if (mc->valid == T_MAYBE && mc->cookie == T_NO)
		mc->cookie = T_MAYBE;
	mc->valid = T_NO;
}

bool gen_ok(struct mcache *mc)
{
	return mc->hva_mode || mc->pub_gen == m.gen;
}

/* Would gpc_cache_check(c, off, len) succeed? */
int m_hit(int ci, uint64_t off, uint64_t len)
{
	struct mcache *mc = &m.c[ci];

	if (mc->state != CS_LIVE || mc->valid == T_NO || !gen_ok(mc) ||
	    off > mc->pub_len || len > mc->pub_len - off)
		return T_NO;
	return mc->valid;
}

static void m_end_all(int nended)
{
	if (nended != m.nopen)
		fail("the retry hook ended %d invalidations, the model has %d open",
		     nended, m.nopen);
	m.seq += (uint64_t)m.nopen;
	m.nopen = 0;
}

/* The map step: whether refresh maps afresh (alias stage: exactly). */
static int m_fresh(struct mcache *mc, uint64_t hva, uint64_t len, uint32_t *f,
		   uint32_t *o, uint64_t *mp, uint64_t *ml)
{
	int pg;

	*mp = page_down(hva);
	*ml = page_down(hva + len + PG - 1) - *mp;
	reg_of(*mp, &pg);
	*f = m.pages[pg].file;
	*o = m.pages[pg].foff;
	if (!m.stage)
		return T_MAYBE;
	return !(mc->mapped && mc->map_file == *f && mc->map_foff == *o &&
		 mc->map_page == *mp && mc->map_len == *ml);
}

static bool m_still_valid(int ci);

/* cache.c refresh_locked(), checked against the hook calls it made. */
int m_refresh_locked(int ci)
{
	struct mcache *mc = &m.c[ci];

	if (m_still_valid(ci))
		return 0;
	for (;;) {
		uint64_t hva = 0, mp, ml, end, pu;
		uint32_t f, o;
		bool B = false, O = false;
		int err, fresh;
		struct ev *e;

		ev_expect(GPC_HOOK_REFRESH_STAGE1, ci);
		err = m_stage1(mc, mc->len, &hva);
		m_clear_valid(mc);
		if (err)
			return err;
		end = hva + mc->len;
		pu = page_down(end + PG - 1);
		if (pu < end)
			return 1; /* the page-rounded end wraps: see callers */
		if (mc->idx &&
		    (mc->idx_hva / PG != hva / PG ||
		     (mc->idx_hva + mc->idx_len - 1) / PG != (end - 1) / PG))
			m_quiesce(ci);
		mc->idx = true;
		mc->idx_hva = hva;
		mc->idx_len = mc->len;
		err = m_stage2(hva, mc->len, !(mc->flags & GPC_CACHE_READONLY));
		if (err)
			return err;
		fresh = m_fresh(mc, hva, mc->len, &f, &o, &mp, &ml);
		if (fresh == T_YES && m.fail_map > 0) {
			m.fail_map--;
			return m.fail_err;
		}
		ev_expect(GPC_HOOK_REFRESH_PUBLISH, ci);
		for (int i = 0; i < m.nopen; i++) {
			B |= bytes_overlap(hva, end, m.open[i].s, m.open[i].e);
			O |= pages_overlap(hva, end, m.open[i].s, m.open[i].e);
		}
		e = ev_peek(GPC_HOOK_REFRESH_RETRY, ci);
		if (e) {
			ev_skip();
			if (!O)
				fail("refresh of cache %d retried with no invalidation of its pages in progress",
				     ci);
			m_end_all(e->nended);
			mc->retries++;
			m.st_retries++;
			continue;
		}
		if (B)
			fail("refresh of cache %d published [%#llx, +%llu) while an overlapping invalidation was in progress",
			     ci, (unsigned long long)hva,
			     (unsigned long long)mc->len);
		if (O)
			fail("refresh of cache %d published a page of an invalidation in progress ([%#llx, +%llu), the range shares a page)",
			     ci, (unsigned long long)hva,
			     (unsigned long long)mc->len);
		mc->valid = T_YES;
		mc->pub_gen = mc->hva_mode ? 0 : m.gen;
		mc->pub_len = mc->len;
		mc->pub_hva = hva;
		if (fresh != T_NO) {
			if (mc->mapped && mc->usage == GPC_USAGE_GUEST &&
			    m.v.mode != M_OUT) {
				if (fresh == T_YES)
					m_evict();
				else
					m_evict_maybe();
			}
			mc->mapped = true;
			mc->map_file = f;
			mc->map_foff = o;
			mc->map_page = mp;
			mc->map_len = ml;
		}
		mc->refreshes++;
		m.st_refreshes++;
		return 0;
	}
}

/* Inside an SRCU read section of the vm (memslot writers refuse). */
bool srcu_held(void)
{
	return m.held >= 0 && m.scheme == GPC_SCHEME_SRCU;
}

/* Inside a cache section of either scheme (slow paths refuse: -EDEADLK). */
bool held(void)
{
	return m.held >= 0;
}

/* Valid for the address, length and generation a refresh would use: the
 * refresh leaves it alone (cache.c still_valid()). */
static bool m_still_valid(int ci)
{
	struct mcache *mc = &m.c[ci];
	uint64_t hva;

	if (mc->valid != T_YES || mc->pub_len != mc->len ||
	    m_stage1(mc, mc->len, &hva) || hva != mc->pub_hva)
		return false;
	if (mc->hva_mode ? mc->pub_gen != 0 : mc->pub_gen != m.gen)
		return false;
	return m_hit(ci, 0, mc->len) == T_YES;
}

/* gpc_cache_refresh(c, len). */
int m_refresh(int ci, uint64_t len)
{
	struct mcache *mc = &m.c[ci];
	int err;

	if (mc->state != CS_LIVE)
		return -EINVAL;
	if (held())
		return -EDEADLK;
	if (!mc->active)
		return -EINVAL;
	if (len && len != mc->len) {
		uint64_t hva;

		if (!m_range_ok(mc->addr, len))
			return -EINVAL;
		/* A length past the memslot changes nothing. */
		if (m_stage1(mc, len, &hva) == -EINVAL)
			return -EINVAL;
		mc->len = len;
	}
	err = m_refresh_locked(ci);
	if (err == 1)
		fail("refresh of cache %d: page-rounded end wraps around; the model has no answer",
		     ci);
	return err;
}

void m_deactivate(int ci)
{
	struct mcache *mc = &m.c[ci];

	mc->active = false;
	m_clear_valid(mc);
	ev_expect(GPC_HOOK_DEACTIVATE, ci);
	m_quiesce(ci);
	mc->idx = false;
	mc->mapped = false;
	if (mc->usage == GPC_USAGE_GUEST)
		m_list_del(ci);
}

/* ---- invalidation -------------------------------------------------------- */

/* range_start's walk and result. *maybe: the result may also be -EAGAIN. */
int m_inval_start(uint64_t s, uint64_t e, unsigned int flags, bool *maybe)
{
	bool nb = flags & GPC_INVAL_NONBLOCK;
	bool busy = false, guest = false, was_valid_host = false;
	int need = T_NO;

	*maybe = false;
	if (e <= s || (flags & ~GPC_INVAL_NONBLOCK))
		return -EINVAL;
	if (!nb && held())
		return -EDEADLK;
	if (m.nopen >= GPC_INVAL_MAX_INFLIGHT)
		return -EBUSY;
	if (nb && m.scheme == GPC_SCHEME_RWLOCK && m.held >= 0) {
		struct mcache *h = &m.c[m.held];

		busy = h->active && h->idx &&
		       pages_overlap(h->idx_hva, h->idx_hva + h->idx_len, s, e);
	}
	for (int i = 0; i < NC; i++) {
		struct mcache *mc = &m.c[i];

		if (mc->state != CS_LIVE || !mc->active || !mc->idx ||
		    !pages_overlap(mc->idx_hva, mc->idx_hva + mc->idx_len, s,
				   e))
			continue;
		if (mc->usage == GPC_USAGE_HOST && mc->valid == T_YES)
			was_valid_host = true;
		m_clear_valid(mc);
		if (mc->usage == GPC_USAGE_GUEST) {
			m_evict();
			guest = true;
		} else if (m.scheme == GPC_SCHEME_SRCU && mc->cookie > need) {
			need = mc->cookie;
		}
	}
	if (!nb) {
		m.st_inval++;
		return 0;
	}
	if (busy || (guest && m.v.mode != M_OUT)) {
		m.st_eagain++;
		return -EAGAIN;
	}
	if (need != T_NO) {
		if (m.held >= 0 && was_valid_host) {
			m.st_eagain++;
			return -EAGAIN;
		}
		*maybe = true;
	}
	return 0;
}

/* A host memory change (no notification) of the page-aligned range. */
int m_change(int kind, uint64_t hva, uint64_t len, int prot)
{
	int first, np = (int)(len / PG);
	uint32_t f;

	reg_of(hva, &first);
	switch (kind) {
	case 0: /* unmap */
		for (int i = first; i < first + np; i++) {
			m.pages[i].hole = true;
			m.pages[i].prot = PROT_NONE;
			memset(shadow[i], 0, PG);
		}
		return 0;
	case 1: /* remap */
		f = m.next_file++;
		for (int i = first; i < first + np; i++) {
			m.pages[i].has_retired = !m.pages[i].hole;
			if (!m.pages[i].hole)
				memcpy(retired[i], shadow[i], PG);
			m.pages[i].hole = false;
			m.pages[i].prot = PROT_READ | PROT_WRITE;
			m.pages[i].file = f;
			m.pages[i].foff = (uint32_t)(i - first);
			memset(shadow[i], 0, PG);
		}
		return 0;
	case 2: /* discard */
		for (int i = first; i < first + np; i++)
			if (!m.pages[i].hole)
				memset(shadow[i], 0, PG);
		return 0;
	case 3: /* migrate */
		for (int i = first; i < first + np; i++)
			if (m.pages[i].hole)
				return -EFAULT;
		f = m.next_file++;
		for (int i = first; i < first + np; i++) {
			m.pages[i].has_retired = true;
			memcpy(retired[i], shadow[i], PG);
			m.pages[i].file = f;
			m.pages[i].foff = (uint32_t)(i - first);
		}
		return 0;
	default: /* protect */
		for (int i = first; i < first + np; i++)
			if (m.pages[i].hole)
				return -EFAULT; /* as migrate */
		for (int i = first; i < first + np; i++)
			m.pages[i].prot = prot;
		return 0;
	}
}

/* The argument checks of the change helpers. */
int m_change_check(int kind, uint64_t hva, uint64_t len, int prot)
{
	int r, pg;

	if (kind >= 4 && prot != PROT_NONE && prot != PROT_READ &&
	    prot != (PROT_READ | PROT_WRITE))
		return -EINVAL;
	if (!len || (hva & (PG - 1)) || (len & (PG - 1)) || hva + len < hva)
		return -EINVAL;
	r = reg_of(hva, &pg);
	if (r < 0 || r == 2 || len > reg_end(r) - hva)
		return -EINVAL;
	return 0;
}

bool m_slot_range_ok(uint64_t a, uint64_t size)
{
	return size && !(a & (PG - 1)) && !(size & (PG - 1)) && a + size >= a;
}

bool m_slot_overlaps(int skip, uint64_t gpa, uint64_t size)
{
	for (int i = 0; i < MAX_SLOTS; i++)
		if (i != skip && m.slots[i].used &&
		    bytes_overlap(gpa, gpa + size, m.slots[i].gpa,
				  m.slots[i].gpa + m.slots[i].size))
			return true;
	return false;
}

void m_slot_changed(void)
{
	m.gen++;
	m.st_slot_changes++;
}

/* gpc_cache_read/write: begin, on a miss refresh, again. */
int m_access(int ci, uint64_t off, uint64_t len, bool write)
{
	struct mcache *mc = &m.c[ci];

	if (write && mc->state == CS_LIVE && (mc->flags & GPC_CACHE_READONLY))
		return -EPERM;
	/* Guest-usage caches are for their vCPU only (gpc_cache_guest_ptr). */
	if (mc->state != CS_LIVE || !len || off + len < off ||
	    mc->usage != GPC_USAGE_HOST)
		return -EINVAL;
	/* Refused inside a section whether or not it would miss. */
	if (held())
		return -EDEADLK;
	if (!mc->active)
		return -EINVAL;
	for (int round = 0; round < 3; round++) {
		int err;

		if (m_hit(ci, off, len) == T_YES)
			return 0;
		if (off + len > mc->len)
			return -EINVAL;
		err = m_refresh(ci, 0);
		if (err)
			return err;
	}
	fail("model: access of cache %d does not converge", ci);
}

void remove_open(struct range *list, int *n, uint64_t s, uint64_t e)
{
	for (int i = 0; i < *n; i++) {
		if (list[i].s == s && list[i].e == e) {
			list[i] = list[--*n];
			return;
		}
	}
}

bool is_open(uint64_t s, uint64_t e)
{
	for (int i = 0; i < m.nopen; i++)
		if (m.open[i].s == s && m.open[i].e == e)
			return true;
	return false;
}
