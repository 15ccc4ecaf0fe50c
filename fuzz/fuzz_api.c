// SPDX-License-Identifier: MIT
/*
 * fuzz/fuzz_api.c - libFuzzer harness for the public API of libgpc.
 *
 * Each input is decoded (fuzz/fuzz_ops.h) into up to FZ_MAX_OPS calls on one
 * vm, all on one thread: memslot changes, cache init/activate/deactivate/
 * refresh/check/begin/read/write/copy, invalidations (blocking, with a host
 * memory change between range_start and range_end, left open for later ops,
 * and non-blocking), the host memory change helpers, a vCPU entering and
 * leaving guest mode, requests, fault injection, and bad inputs.
 *
 * After every call a reference model (struct model: plain C, no library
 * code) predicts the result and the state that follows, and the harness
 * compares: return codes, gpc_cache_check()/begin hits and misses, where a
 * hit points (direct stage: exactly the HVA; alias: a mapping with the same
 * contents), the bytes read, the bytes written (visible at the HVA), the
 * memslot generation, the invalidation sequence, counters, the vCPU's mode
 * and its kicks, and the test stage's live mappings (leaks). Test hooks
 * check invariants inside the calls: valid is cleared before a refresh
 * drops its lock, an inactive cache is never valid, every cache on the
 * pages of an invalidation is invalid before range_start waits, and a
 * refresh never publishes while an invalidation of its pages is in progress.
 *
 * One thread cannot wait for itself, so two stand-ins play the other
 * threads: the vCPU's kick callback records the kick and, while a blocking
 * call runs (rt.auto_exit), leaves guest mode as a vCPU thread would; the
 * REFRESH_RETRY hook ends the invalidations in progress, as the
 * invalidating thread eventually would, so a refresh that must wait for
 * them does not wait forever. The model knows both.
 *
 * Where the library may choose (a non-blocking invalidation on the srcu
 * scheme may or may not find its grace period complete), the model keeps
 * "maybe" and learns the answer from the call. Known, already reported
 * library bugs are avoided unless GPC_FUZZ_STRICT=1 (see docs/testing.md).
 *
 * On a mismatch the harness prints what it expected and what it got, then
 * traps, so libFuzzer saves the input.
 *
 * Known issues. The default run steps around library bugs that were found
 * and reported but not fixed yet, so that it keeps finding new ones;
 * GPC_FUZZ_STRICT=1 checks them too. Each gate is an "if (!strict)" next to
 * a comment naming the issue; remove it when the bug is fixed. None is open
 * at the moment. Found by this harness and fixed since:
 *  - F1: an HVA area in the last page of the address space (hva + len does
 *    not wrap, its page-rounded end does) made index_set() calloc ~2^52
 *    nodes; now -EINVAL (e326497).
 *  - F2: a refresh published a page of an invalidation in progress when the
 *    invalidation's unaligned bytes missed the cache's bytes (e326497).
 *  - F3: a refresh publishes while an invalidation whose range ends in the
 *    last page of the address space (e.g. [0, UINT64_MAX)) is in progress:
 *    the page rounding of the in-progress range wraps to 0 (reported after
 *    e326497; the seed "inval-open" reaches it).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <gpc/gpc.h>

#include "gpc_testing.h"

#include "fuzz_ops.h"

#define PG	    4096ull
#define NREG	    2
#define NPG	    12
#define NC	    4 /* caches 0-3; cache 4 stays a zeroed, never-initialised struct */
#define BOGUS_C	    NC
#define MAX_OPEN    72 /* more than GPC_INVAL_MAX_INFLIGHT, to reach -EBUSY */
#define GUARD_PAGES 4
#define BUFSZ	    (4 * PG)
#define GBASE	    0x100000ull
#define MAX_SLOTS   4
#define MAX_EV	    512

static const unsigned int reg_npages[NREG] = { 8, 4 };
static const unsigned int reg_first[NREG] = { 0, 8 };

enum tri { T_NO = 0, T_YES = 1, T_MAYBE = 2 };

/* vCPU modes of the model: the library's three, and "maybe evicted". */
enum {
	M_OUT = GPC_VCPU_OUTSIDE,
	M_IN = GPC_VCPU_IN_GUEST,
	M_EXITING = GPC_VCPU_EXITING,
	M_MAYBE = 3
};

/* ---- the reference model ------------------------------------------------ */

struct mpage {
	bool hole; /* gpc_hostmem_unmap()ed: PROT_NONE reservation */
	int prot;
	uint32_t file, foff; /* backing memfd (model id) and page offset */
	bool has_retired;    /* gpc_hostmem_retired_page() has the old copy */
};

struct mslot {
	bool used;
	uint64_t gpa, size, hva;
	uint32_t flags;
};

enum { CS_ZERO = 0, CS_LIVE, CS_DEAD };

struct mcache {
	int state, usage;
	unsigned int flags;
	bool active, hva_mode;
	uint64_t addr, len; /* what activate/refresh asked for */
	int valid;	    /* tri: khva != NULL */
	int cookie;	    /* tri: valid was ever cleared (srcu) */
	uint64_t pub_gen, pub_len, pub_hva;
	bool idx; /* in the vm's index, at [idx_hva, +idx_len) */
	uint64_t idx_hva, idx_len;
	bool mapped;		     /* holds a mapping of the stage */
	uint32_t map_file, map_foff; /* alias: what it maps (reuse check) */
	uint64_t map_page, map_len;
	uint64_t refreshes, retries;
};

struct mvcpu {
	bool alive;
	int mode;
	int maybe_to;  /* M_MAYBE: the mode if the maybe-eviction happened */
	int req_save;  /* M_MAYBE: req_inval if it did not */
	int req_inval; /* tri: GPC_REQ_CACHE_INVALID pending */
	unsigned int reqbits; /* other pending bits, exactly */
	int list[NC]; /* its active guest caches, in the library's order */
	int nlist;
};

struct range {
	uint64_t s, e;
};

struct model {
	int scheme, stage;
	struct mpage pages[NPG];
	uint32_t next_file;
	struct mslot slots[MAX_SLOTS];
	uint64_t gen;
	struct mcache c[NC + 1];
	struct mvcpu v;
	struct range open[MAX_OPEN];
	int nopen;
	uint64_t seq;
	int held; /* cache whose access is held, or -1 */
	int fail_translate, fail_map, fail_err;
	bool mirror;
	uint64_t st_inval, st_eagain, st_slot_changes, st_refreshes, st_retries,
		kicks;
	uint64_t rekicks; /* upper bound of uncounted re-sent kicks */
};

/* ---- runtime ------------------------------------------------------------- */

struct ev {
	int pt, ci, nended;
};

static struct {
	struct gpc_hostmem *hm;
	struct gpc_testmem tm;
	struct gpc_vm *vm;
	struct gpc_vcpu *v;
	struct gpc_cache c[NC + 1];
	uint8_t *rbase[NREG];
	bool auto_exit;
	struct ev ev[MAX_EV];
	int nev, evpos;
	struct range open[MAX_OPEN];
	int nopen;
	uint64_t kicks;
	/* memslot mirror */
	int mirror_err, mirror_calls;
	bool mo_set, mn_set;
	struct gpc_memslot_info mo, mn;
	/* the range_start in progress, for the INVAL_CLEARED check */
	bool inval_ctx;
	uint64_t is, ie;
	int logs;
	char logmsg[256];
	int opno;
	const char *opname;
	uint8_t rec[FZ_REC];
	bool in_hold;
} rt;

static struct model m;
static uint8_t *guard;
static uint8_t shadow[NPG][PG];
static uint8_t retired[NPG][PG];
static uint8_t buf[BUFSZ], buf2[BUFSZ];
static bool strict;
static int verbose;

/* ---- reporting ----------------------------------------------------------- */

static void dump_model(void)
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
			(void *)rt.rbase[i], reg_npages[i]);
	for (int i = 0; i < NPG; i++)
		fprintf(stderr,
			"  page %d: hole %d prot %d file %u/%u retired %d\n", i,
			m.pages[i].hole, m.pages[i].prot, m.pages[i].file,
			m.pages[i].foff, m.pages[i].has_retired);
}

__attribute__((noreturn, format(printf, 1, 2))) static void
fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr,
		"\nfuzz_api: MISMATCH at op %d (%s, args %02x %02x %02x %02x)%s: ",
		rt.opno, rt.opname ? rt.opname : "setup", rt.rec[1], rt.rec[2],
		rt.rec[3], rt.rec[4],
		rt.in_hold ? " inside a held access" : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	dump_model();
	fflush(stderr);
	__builtin_trap();
}

static void expect_err(const char *what, int got, int want)
{
	if (got != want)
		fail("%s returned %d (%s), expected %d (%s)", what, got,
		     strerror(got < 0 ? -got : got), want,
		     strerror(want < 0 ? -want : want));
}

static void log_fn(enum gpc_log_level level, const char *msg, void *ctx)
{
	(void)ctx;
	if (level > GPC_LOG_WARN)
		return;
	if (!rt.logs++)
		snprintf(rt.logmsg, sizeof(rt.logmsg), "%s", msg);
}

/* ---- address helpers ----------------------------------------------------- */

static uint64_t page_down(uint64_t a)
{
	return a & ~(PG - 1);
}

/* Region of @hva (0, 1), 2 for the guard, -1 elsewhere; *pg: model page. */
static int reg_of(uint64_t hva, int *pg)
{
	for (int r = 0; r < NREG; r++) {
		uint64_t b = (uintptr_t)rt.rbase[r];

		if (hva >= b && hva - b < reg_npages[r] * PG) {
			*pg = (int)(reg_first[r] + (hva - b) / PG);
			return r;
		}
	}
	if (hva >= (uintptr_t)guard &&
	    hva - (uintptr_t)guard < GUARD_PAGES * PG)
		return 2;
	return -1;
}

static uint64_t reg_end(int r)
{
	if (r == 2)
		return (uintptr_t)guard + GUARD_PAGES * PG;
	return (uintptr_t)rt.rbase[r] + reg_npages[r] * PG;
}

static uint64_t reg_base(int r)
{
	return r == 2 ? (uintptr_t)guard : (uintptr_t)rt.rbase[r];
}

static unsigned int reg_np(int r)
{
	return r == 2 ? GUARD_PAGES : reg_npages[r];
}

/* The shadow bytes of @hva (inside a region). */
static uint8_t *shadow_at(uint64_t hva)
{
	int pg;

	if (reg_of(hva, &pg) < 0 || reg_of(hva, &pg) == 2)
		fail("shadow_at(%#llx): not guest RAM",
		     (unsigned long long)hva);
	return &shadow[pg][hva & (PG - 1)];
}

/* Pages [a, b) and [c, d) share a page (byte ranges, nonempty). */
static bool pages_overlap(uint64_t a, uint64_t b, uint64_t c, uint64_t d)
{
	return a / PG <= (d - 1) / PG && c / PG <= (b - 1) / PG;
}

static bool bytes_overlap(uint64_t a, uint64_t b, uint64_t c, uint64_t d)
{
	return a < d && c < b;
}

/* ---- hook event log -------------------------------------------------------- */

static const char *pt_name(int pt)
{
	static const char *n[] = {
		"REFRESH_STAGE1",  "REFRESH_UNLOCKED", "REFRESH_TRANSLATED",
		"REFRESH_PUBLISH", "REFRESH_RETRY",    "INVAL_START",
		"INVAL_CLEARED",   "INVAL_END",	       "DEACTIVATE",
		"ACTIVATE",	   "VCPU_ENTER",
	};

	return pt >= 0 && pt < GPC_HOOK_NR ? n[pt] : "?";
}

static void ev_expect(int pt, int ci)
{
	struct ev *e;

	if (rt.evpos >= rt.nev)
		fail("expected hook %s for cache %d, no more hook calls",
		     pt_name(pt), ci);
	e = &rt.ev[rt.evpos++];
	if (e->pt != pt || e->ci != ci)
		fail("expected hook %s for cache %d, got %s for cache %d",
		     pt_name(pt), ci, pt_name(e->pt), e->ci);
}

static struct ev *ev_peek(int pt, int ci)
{
	struct ev *e;

	if (rt.evpos >= rt.nev)
		return NULL;
	e = &rt.ev[rt.evpos];
	return e->pt == pt && e->ci == ci ? e : NULL;
}

static void ev_done(void)
{
	if (rt.evpos != rt.nev)
		fail("unexpected hook call %s for cache %d",
		     pt_name(rt.ev[rt.evpos].pt), rt.ev[rt.evpos].ci);
	rt.nev = rt.evpos = 0;
}

static int cache_index(struct gpc_cache *c)
{
	return c ? (int)(c - rt.c) : -1;
}

/* End every invalidation in progress, as the thread that began it would. */
static int rt_end_all(void)
{
	int n = rt.nopen;

	for (int i = 0; i < n; i++) {
		int err = gpc_invalidate_range_end(rt.vm, rt.open[i].s,
						   rt.open[i].e);

		if (err)
			fail("range_end(%#llx, %#llx) of an open invalidation returned %d",
			     (unsigned long long)rt.open[i].s,
			     (unsigned long long)rt.open[i].e, err);
	}
	rt.nopen = 0;
	return n;
}

static void hook_fn(struct gpc_vm *vm, enum gpc_hook_point pt,
		    struct gpc_cache *c, void *ctx)
{
	int ci = cache_index(c);
	struct ev *e = NULL;

	(void)vm, (void)ctx;
	switch (pt) {
	case GPC_HOOK_REFRESH_STAGE1:
	case GPC_HOOK_REFRESH_PUBLISH:
		/* R3b: valid is cleared before the refresh drops its lock. */
		if (gpc_cache_check(c, 0, 0))
			fail("cache %d valid at hook %s", ci, pt_name(pt));
		if (!gpc_cache_is_active(c))
			fail("cache %d inactive at hook %s", ci, pt_name(pt));
		break;
	case GPC_HOOK_ACTIVATE:
		if (!gpc_cache_is_active(c))
			fail("cache %d not active at hook ACTIVATE", ci);
		break;
	case GPC_HOOK_DEACTIVATE:
		if (gpc_cache_is_active(c) || gpc_cache_check(c, 0, 0))
			fail("cache %d still active or valid at hook DEACTIVATE",
			     ci);
		break;
	case GPC_HOOK_INVAL_CLEARED:
		/* Every cache on the pages of the range is invalid before
		 * range_start waits (unless a held reader made it -EAGAIN). */
		if (!rt.inval_ctx)
			return;
		for (int i = 0; i < NC; i++) {
			struct mcache *mc = &m.c[i];

			if (mc->state != CS_LIVE || !mc->active || !mc->idx ||
			    !pages_overlap(mc->idx_hva,
					   mc->idx_hva + mc->idx_len, rt.is,
					   rt.ie))
				continue;
			if (gpc_cache_check(&rt.c[i], 0, 0))
				fail("cache %d still valid at INVAL_CLEARED of [%#llx, %#llx)",
				     i, (unsigned long long)rt.is,
				     (unsigned long long)rt.ie);
		}
		return;
	case GPC_HOOK_VCPU_ENTER:
		if (gpc_vcpu_mode(rt.v) != GPC_VCPU_IN_GUEST)
			fail("vCPU not in guest mode at hook VCPU_ENTER");
		break;
	case GPC_HOOK_REFRESH_RETRY:
		break;
	default:
		return;
	}
	if (rt.nev >= MAX_EV)
		fail("too many hook calls in one operation");
	e = &rt.ev[rt.nev++];
	e->pt = pt;
	e->ci = ci;
	e->nended = 0;
	if (pt == GPC_HOOK_REFRESH_RETRY)
		e->nended = rt_end_all();
}

static void kick_fn(struct gpc_vcpu *v, void *ctx)
{
	(void)ctx;
	if (v != rt.v)
		fail("kick for a vCPU that is not the current one");
	if (gpc_vcpu_mode(v) != GPC_VCPU_EXITING)
		fail("kick callback: mode %d, expected EXITING",
		     (int)gpc_vcpu_mode(v));
	rt.kicks++;
	/* The vCPU thread's signal handler: KVM_RUN returns, mode OUTSIDE. */
	if (rt.auto_exit)
		gpc_vcpu_exit_guest(v);
}

static int mirror_fn(void *ctx, const struct gpc_memslot_info *old,
		     const struct gpc_memslot_info *new_slot)
{
	(void)ctx;
	rt.mirror_calls++;
	rt.mo_set = old != NULL;
	rt.mn_set = new_slot != NULL;
	if (old)
		rt.mo = *old;
	if (new_slot)
		rt.mn = *new_slot;
	return rt.mirror_err;
}

/* ---- model: host memory ---------------------------------------------------- */

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

static struct mslot *m_slot_at(uint64_t gpa)
{
	for (int i = 0; i < MAX_SLOTS; i++) {
		struct mslot *s = &m.slots[i];

		if (s->used && gpa >= s->gpa && gpa - s->gpa < s->size)
			return s;
	}
	return NULL;
}

/* cache.c range_ok(): nonempty, and the page-rounded end does not wrap. */
static bool m_range_ok(uint64_t addr, uint64_t len)
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

/* ---- model: vCPU ----------------------------------------------------------- */

static void m_kick_to(int *mode)
{
	m.kicks++;
	*mode = rt.auto_exit ? M_OUT : M_EXITING;
}

/* gpci_vcpu_evict(): post the request, kick if in guest mode. */
static void m_evict(void)
{
	/* A vCPU kicked already and not out yet gets the callback again
	 * (lost-kick recovery), which the library does not count. */
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
		m.v.maybe_to = rt.auto_exit ? M_OUT : M_EXITING;
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

static void m_list_del(int ci)
{
	for (int i = 0; i < m.v.nlist; i++) {
		if (m.v.list[i] == ci) {
			m.v.list[i] = m.v.list[--m.v.nlist];
			return;
		}
	}
}

/* ---- model: caches --------------------------------------------------------- */

static void m_clear_valid(struct mcache *mc)
{
	if (mc->valid == T_YES)
		mc->cookie = T_YES;
	else if (mc->valid == T_MAYBE && mc->cookie == T_NO)
		mc->cookie = T_MAYBE;
	mc->valid = T_NO;
}

static bool gen_ok(struct mcache *mc)
{
	return mc->hva_mode || mc->pub_gen == m.gen;
}

/* Would gpc_cache_check(c, off, len) succeed? */
static int m_hit(int ci, uint64_t off, uint64_t len)
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
static int m_refresh_locked(int ci)
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
			rt.evpos++;
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
static bool srcu_held(void)
{
	return m.held >= 0 && m.scheme == GPC_SCHEME_SRCU;
}

/* Inside a cache section of either scheme (slow paths refuse: -EDEADLK). */
static bool held(void)
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
static int m_refresh(int ci, uint64_t len)
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

static void m_deactivate(int ci)
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

/* ---- model: invalidation ----------------------------------------------------- */

/* range_start's walk and result. *maybe: the result may also be -EAGAIN. */
static int m_inval_start(uint64_t s, uint64_t e, unsigned int flags,
			 bool *maybe)
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
static int m_change(int kind, uint64_t hva, uint64_t len, int prot)
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
				return -ENOMEM;
		for (int i = first; i < first + np; i++)
			m.pages[i].prot = prot;
		return 0;
	}
}

/* The argument checks of the change helpers. */
static int m_change_check(int kind, uint64_t hva, uint64_t len, int prot)
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

static int rt_change(int kind, struct gpc_vm *vm, uint64_t hva, uint64_t len,
		     int prot)
{
	switch (kind) {
	case 0:
		return gpc_hostmem_unmap(vm, rt.hm, hva, len);
	case 1:
		return gpc_hostmem_remap(vm, rt.hm, hva, len);
	case 2:
		return gpc_hostmem_discard(vm, rt.hm, hva, len);
	case 3:
		return gpc_hostmem_migrate(vm, rt.hm, hva, len);
	default:
		return gpc_hostmem_protect(vm, rt.hm, hva, len, prot);
	}
}

/* ---- checks after every operation ------------------------------------------- */

/* Learn what the model left open ("maybe") from side-effect-free calls. */
static void resolve(void)
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

static void check_state(void)
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
static void verify_hit(int ci, const uint8_t *p, uint64_t off, uint64_t len)
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
static void verify_hva(uint64_t hva, uint64_t len)
{
	if (memcmp((void *)(uintptr_t)hva, shadow_at(hva), len))
		fail("bytes written through a cache are not at hva %#llx (+%llu)",
		     (unsigned long long)hva, (unsigned long long)len);
}

static void fill(uint8_t *p, uint64_t len, uint8_t pat)
{
	for (uint64_t i = 0; i < len; i++)
		p[i] = (uint8_t)(pat + i * 31 + (uint64_t)rt.opno * 7);
}

/* The whole of guest RAM against the shadow, and the retired pages. */
static void verify_ram(void)
{
	for (int r = 0; r < NREG; r++) {
		for (unsigned int i = 0; i < reg_npages[r]; i++) {
			int pg = (int)(reg_first[r] + i);
			uint64_t hva = (uintptr_t)rt.rbase[r] + i * PG;
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

/* ---- argument decoding ----------------------------------------------------- */

static const uint64_t lens[16] = {
	1,	2,  4,	    8,	    16,	    24, 64, 256,
	PG - 8, PG, PG + 8, 2 * PG, 3 * PG, 8,	0,  UINT64_MAX,
};

static uint64_t dec_boff(uint8_t b)
{
	switch (b >> 6) {
	case 0:
		return 0;
	case 1:
		return (b & 63) * 8ull;
	case 2:
		return PG - 8ull * ((b & 7) + 1);
	default:
		return (b & 63) * 64ull;
	}
}

static uint64_t dec_gpa(uint8_t b, uint8_t boff)
{
	if ((b >> 6) != 3)
		return GBASE + (b & 31) * PG + dec_boff(boff);
	switch (b & 3) {
	case 0:
		return dec_boff(boff);
	case 1:
		return UINT64_MAX - (boff & 15);
	case 2:
		return GBASE - 8;
	default:
		return 1ull << 52;
	}
}

static uint64_t dec_slot_gpa(uint8_t b)
{
	if ((b >> 6) != 3)
		return GBASE + (b & 31) * PG;
	switch (b & 3) {
	case 0:
		return GBASE + 8; /* unaligned */
	case 1:
		return UINT64_MAX & ~(PG - 1); /* overflows with any size */
	case 2:
		return 0;
	default:
		return 1ull << 40;
	}
}

/* An HVA for a cache, and its length clamped so that the range stays in
 * memory this harness owns (the direct stage would use anything mapped). */
static uint64_t dec_hva(uint8_t b, uint8_t boff, uint64_t *len)
{
	int r = b >> 6;
	uint64_t hva, lim;

	if (r == 3) {
		if (b & 1) {
			/* The last page of the address space. */
			hva = UINT64_MAX - PG + 1 + (dec_boff(boff) & (PG - 1));
			return hva;
		}
		hva = dec_boff(boff);
		lim = 3 * PG;
	} else {
		hva = reg_base(r) + ((b & 15) % reg_np(r)) * PG +
		      dec_boff(boff);
		lim = reg_end(r);
	}
	if (*len && *len != UINT64_MAX && hva + *len > lim)
		*len = lim - hva;
	return hva;
}

/* A new length for HVA-mode cache @mc, clamped like dec_hva() does. */
static uint64_t clamp_hva_len(const struct mcache *mc, uint64_t len)
{
	uint64_t lim;
	int r, pg;

	if (!mc->hva_mode || !len)
		return len;
	r = reg_of(mc->addr, &pg);
	if (r >= 0)
		lim = reg_end(r);
	else if (mc->addr < 3 * PG)
		lim = 3 * PG;
	else
		return len; /* the top page: nothing mapped above */
	return mc->addr + len > lim || mc->addr + len < mc->addr ?
		       lim - mc->addr :
		       len;
}

static uint64_t dec_off(uint8_t b, uint64_t L)
{
	switch (b & 7) {
	case 0:
		return 0;
	case 1:
		return 1;
	case 2:
		return L / 2;
	case 3:
		return L ? L - 1 : 0;
	case 4:
		return L;
	case 5:
		return L + 1;
	case 6:
		return (b >> 3) * 8ull;
	default:
		return UINT64_MAX - (b >> 3);
	}
}

static uint64_t dec_alen(uint8_t b, uint64_t L, uint64_t off)
{
	uint64_t n;

	switch (b & 7) {
	case 0:
		n = 1;
		break;
	case 1:
		n = 4;
		break;
	case 2:
		n = 8;
		break;
	case 3:
		n = off < L ? L - off : 1;
		break;
	case 4:
		n = off < L ? L - off + 1 : 2;
		break;
	case 5:
		n = 0;
		break;
	case 6:
		n = (b >> 3) + 1u;
		break;
	default:
		n = L;
		break;
	}
	return n > BUFSZ ? BUFSZ : n;
}

/* An invalidation range from three bytes. */
static void dec_range(uint8_t a, uint8_t b, uint8_t c, uint64_t *s, uint64_t *e)
{
	int r = a >> 6;
	uint64_t st;

	if (r == 3) {
		*s = 0;
		*e = c == 0xff ? 0 : UINT64_MAX;
		return;
	}
	st = reg_base(r) + ((a & 15) % reg_np(r)) * PG;
	switch (b >> 6) {
	case 1:
		st += (b & 63) * 16ull;
		break;
	case 2:
		st += PG - 1 - (b & 7);
		break;
	case 3:
		st += (b & 63) * 64ull;
		break;
	}
	*s = st;
	if (c == 0xff)
		*e = st;
	else if (c == 0xfe)
		*e = st - 1;
	else if (c < 128)
		*e = st + ((c & 7) + 1) * PG;
	else
		*e = st + (c & 63) * 16ull + 1;
}

static int cache_arg(uint8_t a)
{
	return (a & 7) > NC ? NC : (a & 7);
}

/* ---- operations ---------------------------------------------------------- */

static void prep_mirror(bool fails)
{
	rt.mirror_err = fails ? -EPERM : 0;
	rt.mirror_calls = 0;
}

/* After a memslot change the model predicted would pass validation. */
static int m_mirror(const struct mslot *o, uint32_t id, const struct mslot *n,
		    bool fails)
{
	if (!m.mirror)
		return 0;
	if (rt.mirror_calls != 1)
		fail("memslot mirror called %d times, expected once",
		     rt.mirror_calls);
	if (rt.mo_set != (o != NULL) || rt.mn_set != (n != NULL))
		fail("memslot mirror old/new presence wrong");
	if (o && (rt.mo.id != id || rt.mo.gpa != o->gpa ||
		  rt.mo.size != o->size || rt.mo.hva != o->hva ||
		  rt.mo.flags != o->flags || rt.mo.generation != m.gen))
		fail("memslot mirror: old slot info wrong");
	if (n && (rt.mn.id != id || rt.mn.gpa != n->gpa ||
		  rt.mn.size != n->size || rt.mn.hva != n->hva ||
		  rt.mn.flags != n->flags || rt.mn.generation != m.gen + 1))
		fail("memslot mirror: new slot info wrong");
	return fails ? -EPERM : 0;
}

static void mirror_not_called(void)
{
	if (rt.mirror_calls)
		fail("memslot mirror called for a change that fails validation");
}

static bool range_ok(uint64_t a, uint64_t size)
{
	return size && !(a & (PG - 1)) && !(size & (PG - 1)) && a + size >= a;
}

static bool slot_overlaps(int skip, uint64_t gpa, uint64_t size)
{
	for (int i = 0; i < MAX_SLOTS; i++)
		if (i != skip && m.slots[i].used &&
		    bytes_overlap(gpa, gpa + size, m.slots[i].gpa,
				  m.slots[i].gpa + m.slots[i].size))
			return true;
	return false;
}

static void slot_changed(void)
{
	m.gen++;
	m.st_slot_changes++;
}

static void op_slot_create(const uint8_t *a)
{
	uint32_t id = a[0] & 7, flags;
	bool mf = a[0] & 32;
	int r = a[2] >> 6, want, got;
	uint64_t gpa = dec_slot_gpa(a[1]), hva, size;
	unsigned int p, np;
	static const uint32_t fsel[4] = { 0, GPC_MEMSLOT_READONLY, 4,
					  GPC_MEMSLOT_READONLY };

	flags = fsel[(a[0] >> 3) & 3];
	if (r == 3)
		r = 2;
	p = (a[2] & 15) % reg_np(r);
	hva = reg_base(r) + p * PG;
	np = a[3] & 15;
	if (np >= 12)
		np = reg_np(r) - p;
	if (np <= 8 && np > reg_np(r) - p)
		np = reg_np(r) - p;
	size = np * PG;
	if (np == 9)
		size = PG + 8;
	else if (np == 10)
		hva += 8, size = PG;
	else if (np == 11)
		hva = UINT64_MAX & ~(PG - 1), size = PG;
	prep_mirror(mf);
	got = gpc_memslot_create(rt.vm, id, gpa, size, hva, flags);
	if (id >= MAX_SLOTS || (flags & ~GPC_MEMSLOT_FLAGS_ALL) ||
	    !range_ok(gpa, size) || !range_ok(hva, size))
		want = -EINVAL;
	else if (srcu_held())
		want = -EDEADLK;
	else if (m.slots[id].used || slot_overlaps(-1, gpa, size))
		want = -EEXIST;
	else
		want = 1;
	if (want != 1) {
		mirror_not_called();
	} else {
		struct mslot n = { true, gpa, size, hva, flags };

		want = m_mirror(NULL, id, &n, mf);
		if (!want) {
			m.slots[id] = n;
			slot_changed();
		}
	}
	expect_err("gpc_memslot_create", got, want);
}

static void op_slot_delete(const uint8_t *a)
{
	uint32_t id = a[0] & 7;
	bool mf = a[0] & 32;
	int want, got;

	prep_mirror(mf);
	got = gpc_memslot_delete(rt.vm, id);
	if (srcu_held())
		want = -EDEADLK;
	else if (id >= MAX_SLOTS || !m.slots[id].used)
		want = -ENOENT;
	else
		want = 1;
	if (want != 1) {
		mirror_not_called();
	} else {
		want = m_mirror(&m.slots[id], id, NULL, mf);
		if (!want) {
			m.slots[id].used = false;
			slot_changed();
		}
	}
	expect_err("gpc_memslot_delete", got, want);
}

static void op_slot_move(const uint8_t *a)
{
	uint32_t id = a[0] & 7;
	bool mf = a[0] & 32;
	uint64_t gpa = dec_slot_gpa(a[1]);
	int want, got;

	prep_mirror(mf);
	got = gpc_memslot_move(rt.vm, id, gpa);
	if (gpa & (PG - 1))
		want = -EINVAL;
	else if (srcu_held())
		want = -EDEADLK;
	else if (id >= MAX_SLOTS || !m.slots[id].used)
		want = -ENOENT;
	else if (!range_ok(gpa, m.slots[id].size))
		want = -EINVAL;
	else if (slot_overlaps((int)id, gpa, m.slots[id].size))
		want = -EEXIST;
	else
		want = 1;
	if (want != 1) {
		mirror_not_called();
	} else {
		struct mslot n = m.slots[id];

		n.gpa = gpa;
		want = m_mirror(&m.slots[id], id, &n, mf);
		if (!want) {
			m.slots[id] = n;
			slot_changed();
		}
	}
	expect_err("gpc_memslot_move", got, want);
}

static void op_slot_flags(const uint8_t *a)
{
	uint32_t id = a[0] & 7;
	bool mf = a[0] & 32;
	static const uint32_t fsel[4] = { 0, GPC_MEMSLOT_READONLY, 8,
					  GPC_MEMSLOT_READONLY | 8 };
	uint32_t flags = fsel[a[1] & 3];
	int want, got;

	prep_mirror(mf);
	got = gpc_memslot_set_flags(rt.vm, id, flags);
	if (flags & ~GPC_MEMSLOT_FLAGS_ALL)
		want = -EINVAL;
	else if (srcu_held())
		want = -EDEADLK;
	else if (id >= MAX_SLOTS || !m.slots[id].used)
		want = -ENOENT;
	else
		want = 1;
	if (want != 1) {
		mirror_not_called();
	} else {
		struct mslot n = m.slots[id];

		n.flags = flags;
		want = m_mirror(&m.slots[id], id, &n, mf);
		if (!want) {
			m.slots[id] = n;
			slot_changed();
		}
	}
	expect_err("gpc_memslot_set_flags", got, want);
}

static void op_activate(const uint8_t *a, bool hva_mode)
{
	int ci = cache_arg(a[0]), want, got;
	struct mcache *mc = &m.c[ci];
	uint64_t len = lens[a[3] & 15], addr;

	if (hva_mode)
		addr = dec_hva(a[1], a[2], &len);
	else
		addr = dec_gpa(a[1], a[2]);
	got = hva_mode ? gpc_cache_activate_hva(&rt.c[ci], addr, len) :
			 gpc_cache_activate_gpa(&rt.c[ci], addr, len);
	if (mc->state != CS_LIVE || !m_range_ok(addr, len)) {
		want = -EINVAL;
	} else if (held()) {
		want = -EDEADLK;
	} else {
		if (mc->active && mc->usage == GPC_USAGE_GUEST)
			m_list_del(ci);
		mc->hva_mode = hva_mode;
		mc->addr = addr;
		mc->len = len;
		if (mc->usage == GPC_USAGE_GUEST)
			m.v.list[m.v.nlist++] = ci;
		mc->active = true;
		ev_expect(GPC_HOOK_ACTIVATE, ci);
		want = m_refresh_locked(ci);
	}
	expect_err(hva_mode ? "gpc_cache_activate_hva" :
			      "gpc_cache_activate_gpa",
		   got, want);
}

static void op_deactivate(const uint8_t *a)
{
	int ci = cache_arg(a[0]), want = 0, got;
	struct mcache *mc = &m.c[ci];

	got = gpc_cache_deactivate(&rt.c[ci]);
	if (mc->state != CS_LIVE)
		want = -EINVAL;
	else if (held())
		want = -EDEADLK;
	else if (mc->active)
		m_deactivate(ci);
	expect_err("gpc_cache_deactivate", got, want);
}

static void op_refresh(const uint8_t *a)
{
	int ci = cache_arg(a[0]), want, got;
	struct mcache *mc = &m.c[ci];
	uint64_t len = a[1] < 16 ? 0 : lens[a[1] & 15];

	if (len != UINT64_MAX || (a[1] & 32))
		len = clamp_hva_len(mc, len);
	got = gpc_cache_refresh(&rt.c[ci], len);
	want = m_refresh(ci, len);
	expect_err("gpc_cache_refresh", got, want);
}

/* gpc_cache_read/write: begin, on a miss refresh, again. */
static int m_access(int ci, uint64_t off, uint64_t len, bool write)
{
	struct mcache *mc = &m.c[ci];

	if (write && mc->state == CS_LIVE && (mc->flags & GPC_CACHE_READONLY))
		return -EPERM;
	/* Guest-usage caches are for their vCPU only (gpc_cache_guest_ptr). */
	if (mc->state != CS_LIVE || !len || off + len < off || !mc->active ||
	    mc->usage != GPC_USAGE_HOST)
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

static void op_read(const uint8_t *a)
{
	int ci = cache_arg(a[0]), want, got;
	struct mcache *mc = &m.c[ci];
	uint64_t off = dec_off(a[1], mc->len),
		 len = dec_alen(a[2], mc->len, off);

	memset(buf, 0xa5, len);
	got = gpc_cache_read(&rt.c[ci], off, buf, len);
	want = m_access(ci, off, len, false);
	expect_err("gpc_cache_read", got, want);
	if (!got && memcmp(buf, shadow_at(mc->pub_hva + off), len))
		fail("gpc_cache_read of cache %d at %llu (+%llu) returned other bytes than were written at hva %#llx",
		     ci, (unsigned long long)off, (unsigned long long)len,
		     (unsigned long long)(mc->pub_hva + off));
}

static void op_write(const uint8_t *a)
{
	int ci = cache_arg(a[0]), want, got;
	struct mcache *mc = &m.c[ci];
	uint64_t off = dec_off(a[1], mc->len),
		 len = dec_alen(a[2], mc->len, off);

	fill(buf, len, a[3]);
	got = gpc_cache_write(&rt.c[ci], off, buf, len);
	want = m_access(ci, off, len, true);
	expect_err("gpc_cache_write", got, want);
	if (!got) {
		memcpy(shadow_at(mc->pub_hva + off), buf, len);
		verify_hva(mc->pub_hva + off, len);
	}
}

static void op_copy(const uint8_t *a)
{
	int d = cache_arg(a[0]), s = cache_arg(a[0] >> 3), want, got;
	struct mcache *md = &m.c[d], *ms = &m.c[s];
	uint64_t doff = dec_off(a[1], md->len), soff = dec_off(a[2], ms->len);
	uint64_t len = dec_alen(a[3], ms->len, soff);

	got = gpc_cache_copy(&rt.c[d], doff, &rt.c[s], soff, len);
	if (md->state != CS_LIVE || ms->state != CS_LIVE || !len ||
	    soff + len < soff || doff + len < doff)
		want = -EINVAL;
	else if (md->flags & GPC_CACHE_READONLY)
		want = -EPERM;
	else if (soff + len > ms->len || doff + len > md->len)
		want = -EINVAL;
	else
		want = m_access(s, soff, len, false);
	if (!want) {
		/* The whole source is read before anything is written. */
		memcpy(buf2, shadow_at(ms->pub_hva + soff), len);
		want = m_access(d, doff, len, true);
		if (!want) {
			memcpy(shadow_at(md->pub_hva + doff), buf2, len);
			verify_hva(md->pub_hva + doff, len);
		}
	}
	expect_err("gpc_cache_copy", got, want);
}

/* check / begin / try_begin / guest_ptr on one cache. */
static void op_check(const uint8_t *a)
{
	int ci = cache_arg(a[0]), how = (a[0] >> 3) & 3, h;
	struct mcache *mc = &m.c[ci];
	uint64_t off = dec_off(a[1], mc->pub_len);
	uint64_t len = dec_alen(a[2], mc->pub_len, off);
	struct gpc_guard g;
	uint8_t *p = NULL;
	bool got;

	if ((how == 1 || how == 2) && mc->state != CS_LIVE)
		how = 0;
	h = m_hit(ci, off, len);
	switch (how) {
	case 0:
		got = gpc_cache_check(&rt.c[ci], off, len);
		break;
	case 1:
		got = (p = gpc_cache_begin(&rt.c[ci], off, len, &g)) != NULL;
		break;
	case 2:
		got = (p = gpc_cache_try_begin(&rt.c[ci], off, len, &g)) !=
		      NULL;
		break;
	default:
		got = (p = gpc_cache_guest_ptr(&rt.c[ci], off, len)) != NULL;
		break;
	}
	if (h != T_MAYBE && got != (h == T_YES))
		fail("cache %d: %s(off %llu, len %llu) %s, the model says %s",
		     ci,
		     how == 0 ? "check" :
		     how == 3 ? "guest_ptr" :
				"begin",
		     (unsigned long long)off, (unsigned long long)len,
		     got ? "hit" : "missed", h == T_YES ? "hit" : "miss");
	if (got) {
		mc->valid = T_YES;
		if (p) {
			verify_hit(ci, p, off, len);
			if ((a[3] & 1) && !(mc->flags & GPC_CACHE_READONLY) &&
			    len) {
				fill(p, len, a[3]);
				memcpy(shadow_at(mc->pub_hva + off), p, len);
			}
		}
		if (how == 1 || how == 2)
			gpc_cache_end(&rt.c[ci], &g);
		if (p && (a[3] & 1) && !(mc->flags & GPC_CACHE_READONLY) && len)
			verify_hva(mc->pub_hva + off, len);
	}
}

static void op_guest(const uint8_t *a)
{
	uint8_t b[4] = { (uint8_t)(a[0] | 0x18), a[1], a[2], a[3] };

	op_check(b);
}

/* An invalidation: range_start, maybe a host memory change, range_end
 * now or later. */
static void do_inval(uint64_t s, uint64_t e, unsigned int flags, int helper,
		     bool leave_open)
{
	bool nb = flags & GPC_INVAL_NONBLOCK, maybe;
	int got, want;

	if (nb && m.nopen >= GPC_INVAL_MAX_INFLIGHT - 1)
		leave_open = false;
	rt.inval_ctx = true;
	rt.is = s;
	rt.ie = e;
	rt.auto_exit = !nb;
	got = gpc_invalidate_range_start(rt.vm, s, e, flags);
	rt.inval_ctx = false;
	want = m_inval_start(s, e, flags, &maybe);
	if (maybe && got == -EAGAIN) {
		want = -EAGAIN;
		m.st_eagain++;
	}
	expect_err(nb ? "gpc_invalidate_range_start(NONBLOCK)" :
			"gpc_invalidate_range_start",
		   got, want);
	if (got)
		return;
	if (nb)
		m.st_inval++;
	if (helper) {
		uint64_t hs = page_down(s + PG - 1), he = page_down(e);
		static const int prots[3] = { PROT_NONE, PROT_READ,
					      PROT_READ | PROT_WRITE };
		int kind = helper - 1, prot = kind >= 4 ? prots[kind - 4] : 0;

		if (kind > 4)
			kind = 4;
		if (hs < he && hs >= s) {
			got = rt_change(kind, NULL, hs, he - hs, prot);
			want = m_change_check(kind, hs, he - hs, prot);
			if (!want)
				want = m_change(kind, hs, he - hs, prot);
			expect_err("host memory change inside an invalidation",
				   got, want);
		}
	}
	if (leave_open && m.nopen < MAX_OPEN) {
		rt.open[rt.nopen++] = (struct range){ s, e };
		m.open[m.nopen++] = (struct range){ s, e };
		return;
	}
	got = gpc_invalidate_range_end(rt.vm, s, e);
	expect_err("gpc_invalidate_range_end", got, 0);
	m.seq++;
}

static void op_inval(const uint8_t *a)
{
	uint64_t s, e;

	dec_range(a[0], a[1], a[2], &s, &e);
	do_inval(s, e, (a[3] & 16) ? 2u : 0u, a[3] & 7, a[3] & 8);
}

static void op_inval_nb(const uint8_t *a)
{
	uint64_t s, e;

	dec_range(a[0], a[1], a[2], &s, &e);
	do_inval(s, e, GPC_INVAL_NONBLOCK, 0, a[3] & 1);
}

static void remove_open(struct range *list, int *n, uint64_t s, uint64_t e)
{
	for (int i = 0; i < *n; i++) {
		if (list[i].s == s && list[i].e == e) {
			list[i] = list[--*n];
			return;
		}
	}
}

static bool is_open(uint64_t s, uint64_t e)
{
	for (int i = 0; i < m.nopen; i++)
		if (m.open[i].s == s && m.open[i].e == e)
			return true;
	return false;
}

static void op_inval_end(const uint8_t *a)
{
	uint64_t s, e;
	int got, want;

	switch (a[1] & 3) {
	case 0:
		if (!m.nopen) {
			s = (uintptr_t)guard + 1;
			e = s + 3;
			break;
		}
		s = m.open[a[0] % m.nopen].s;
		e = m.open[a[0] % m.nopen].e;
		break;
	case 1:
		if (!m.nopen)
			return;
		s = m.open[a[0] % m.nopen].s;
		e = m.open[a[0] % m.nopen].e + 1;
		break;
	case 2:
		s = (uintptr_t)guard + a[0];
		e = s;
		break;
	default:
		m.seq += (uint64_t)m.nopen;
		m.nopen = 0;
		rt_end_all();
		return;
	}
	got = gpc_invalidate_range_end(rt.vm, s, e);
	if (e <= s) {
		want = -EINVAL;
	} else if (!is_open(s, e)) {
		want = -ENOENT;
	} else {
		want = 0;
		remove_open(m.open, &m.nopen, s, e);
		remove_open(rt.open, &rt.nopen, s, e);
		m.seq++;
	}
	expect_err("gpc_invalidate_range_end", got, want);
}

static void op_helper(const uint8_t *a)
{
	static const int prots[4] = { PROT_NONE, PROT_READ,
				      PROT_READ | PROT_WRITE, PROT_WRITE };
	int kind = a[0] & 7, prot = kind >= 4 ? prots[kind - 4] : 0,
	    r = a[1] >> 6;
	uint64_t hva, len;
	bool maybe;
	int got, want;

	if (kind > 4)
		kind = 4;
	if (r == 3) {
		hva = (uintptr_t)rt.rbase[0];
		len = reg_npages[0] * PG;
	} else {
		hva = reg_base(r) + ((a[1] & 15) % reg_np(r)) * PG;
		len = ((a[2] & 7) + 1) * PG;
	}
	if ((a[3] & 3) == 1)
		hva += 8;
	else if ((a[3] & 3) == 2)
		len = 0;
	want = m_change_check(kind, hva, len, prot);
	rt.inval_ctx = true;
	rt.is = hva;
	rt.ie = hva + len;
	rt.auto_exit = true;
	got = rt_change(kind, rt.vm, hva, len, prot);
	rt.inval_ctx = false;
	if (!want) {
		want = m_inval_start(hva, hva + len, 0, &maybe);
		if (!want) {
			want = m_change(kind, hva, len, prot);
			m.seq++;
		}
	}
	expect_err("host memory change helper", got, want);
}

static void op_enter(void)
{
	int got, want, any = T_NO, caches = T_YES;

	got = gpc_vcpu_enter_guest(rt.v);
	if (!m.v.alive || m.v.mode != M_OUT) {
		expect_err("gpc_vcpu_enter_guest", got, -EINVAL);
		return;
	}
	ev_expect(GPC_HOOK_VCPU_ENTER, -1);
	any = m.v.reqbits ? T_YES : m.v.req_inval;
	for (int i = 0; i < m.v.nlist; i++) {
		int ci = m.v.list[i], h = m_hit(ci, 0, m.c[ci].pub_len);

		if (h == T_NO)
			caches = T_NO;
		else if (h == T_MAYBE && caches == T_YES)
			caches = T_MAYBE;
	}
	if (any == T_YES || caches == T_NO)
		want = -EAGAIN;
	else if (any == T_NO && caches == T_YES)
		want = 0;
	else
		want = got == 0 || got == -EAGAIN ? got : 0;
	expect_err("gpc_vcpu_enter_guest", got, want);
	if (got == 0) {
		m.v.req_inval = T_NO;
		for (int i = 0; i < m.v.nlist; i++)
			m.c[m.v.list[i]].valid = T_YES;
		m.v.mode = M_IN;
	} else if (caches == T_YES) {
		m.v.req_inval = m.v.reqbits ? m.v.req_inval : T_YES;
	}
}

static void op_exit(void)
{
	gpc_vcpu_exit_guest(rt.v);
	if (m.v.alive || m.v.mode != M_OUT)
		m.v.mode = M_OUT;
}

static void op_handle(void)
{
	int got, want = 0;

	if (m.held >= 0 && m.scheme == GPC_SCHEME_RWLOCK)
		for (int i = 0; i < m.v.nlist; i++)
			if (m.v.list[i] == m.held &&
			    m_hit(m.held, 0, m.c[m.held].pub_len) != T_YES)
				return;
	rt.auto_exit = true;
	got = gpc_vcpu_handle_requests(rt.v);
	if (!m.v.alive) {
		expect_err("gpc_vcpu_handle_requests", got, -EINVAL);
		return;
	}
	{
		int list[NC], n = m.v.nlist;
		unsigned int bits = m.v.reqbits;

		memcpy(list, m.v.list, sizeof(list));
		m.v.req_inval = T_NO;
		m.v.reqbits = 0;
		for (int i = 0; i < n; i++) {
			int ci = list[i], e = 0;

			if (m_hit(ci, 0, m.c[ci].pub_len) != T_YES)
				e = m_refresh(ci, 0);
			if (e && !want)
				want = e;
		}
		if (!want)
			want = (int)(bits & ~(GPC_REQ_USER - 1));
		else /* on error the caller's bits stay pending */
			m.v.reqbits = bits & ~(GPC_REQ_USER - 1);
	}
	expect_err("gpc_vcpu_handle_requests", got, want);
}

static void op_request(const uint8_t *a)
{
	static const unsigned int reqs[8] = {
		GPC_REQ_USER,
		GPC_REQ_USER << 3,
		GPC_REQ_CACHE_INVALID,
		0,
		2,
		GPC_REQ_USER | GPC_REQ_CACHE_INVALID,
		GPC_REQ_USER << 7,
		4,
	};
	unsigned int req = reqs[a[0] & 7];
	int got;

	rt.auto_exit = a[1] & 1;
	got = gpc_vcpu_request(rt.v, req);
	if (!m.v.alive) {
		expect_err("gpc_vcpu_request", got, -EINVAL);
		return;
	}
	expect_err("gpc_vcpu_request", got, 0);
	m.v.reqbits |= req & ~GPC_REQ_CACHE_INVALID;
	if (req & GPC_REQ_CACHE_INVALID)
		m.v.req_inval = T_YES;
	if (m.v.mode == M_IN)
		m_kick_to(&m.v.mode);
}

static void op_init(const uint8_t *a)
{
	int ci = cache_arg(a[0]), sel = a[1] % 6, got, want = 0;
	static const unsigned int fsel[5] = {
		0,
		GPC_CACHE_READONLY,
		GPC_CACHE_COUNT_HITS,
		GPC_CACHE_READONLY | GPC_CACHE_COUNT_HITS,
		1u << 5,
	};
	unsigned int flags = fsel[a[2] % 5];
	struct mcache *mc = &m.c[ci];
	enum gpc_usage usage = GPC_USAGE_HOST;
	struct gpc_vcpu *v = NULL;

	if (ci == BOGUS_C)
		sel = sel == 5 ? 5 : 2;
	if (mc->state == CS_LIVE) {
		rt.auto_exit = true;
		got = gpc_cache_destroy(&rt.c[ci]);
		if (held()) {
			expect_err("gpc_cache_destroy inside a cache section",
				   got, -EDEADLK);
			return;
		}
		if (mc->active)
			m_deactivate(ci);
		mc->state = CS_DEAD;
		expect_err("gpc_cache_destroy", got, 0);
		check_state();
	} else if (sel == 5) {
		got = gpc_cache_destroy(&rt.c[ci]);
		expect_err("gpc_cache_destroy (not initialised)", got, -EINVAL);
		return;
	}
	if (sel == 5)
		return;
	switch (sel) {
	case 1:
		usage = GPC_USAGE_GUEST, v = rt.v;
		break;
	case 2:
		usage = (enum gpc_usage)7;
		break;
	case 3:
		v = rt.v;
		break;
	case 4:
		usage = GPC_USAGE_GUEST;
		break;
	}
	if (ci == BOGUS_C)
		usage = GPC_USAGE_GUEST, v = NULL;
	got = gpc_cache_init(&rt.c[ci], rt.vm, usage, v, flags);
	if ((flags & ~GPC_CACHE_FLAGS_ALL) || (usage == GPC_USAGE_HOST && v) ||
	    (usage != GPC_USAGE_HOST &&
	     (usage != GPC_USAGE_GUEST || !v || !m.v.alive)))
		want = -EINVAL;
	expect_err("gpc_cache_init", got, want);
	if (!got) {
		memset(mc, 0, sizeof(*mc));
		mc->state = CS_LIVE;
		mc->usage = usage;
		mc->flags = flags;
	}
}

static void op_fault(const uint8_t *a)
{
	static const int errs[4] = { 0, ENOMEM, -EIO, EINVAL };
	static const int merr[4] = { -EFAULT, -ENOMEM, -EIO, -EINVAL };

	rt.tm.fail_errno = errs[a[2] & 3];
	m.fail_err = merr[a[2] & 3];
	m.fail_translate = a[0] & 3;
	atomic_store(&rt.tm.fail_translate, m.fail_translate);
	/* Whether map is called is predictable on the alias stage only. */
	m.fail_map = m.stage ? (a[1] & 3) : 0;
	atomic_store(&rt.tm.fail_map, m.fail_map);
}

static void check_stats(void)
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
	    vs.kicks != m.kicks)
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
		     (unsigned long long)m.kicks);
	{
		unsigned int n = 0;

		for (int i = 0; i < MAX_SLOTS; i++)
			n += m.slots[i].used;
		if (gpc_memslot_count(rt.vm) != n)
			fail("memslot count %u, expected %u",
			     gpc_memslot_count(rt.vm), n);
	}
}

static bool vm_busy(void)
{
	if (m.v.alive || m.nopen)
		return true;
	for (int i = 0; i < NC; i++)
		if (m.c[i].state == CS_LIVE)
			return true;
	return false;
}

static void op_bad(const uint8_t *a)
{
	uint64_t g = (uintptr_t)guard + a[1] * 8ull;
	struct gpc_memslot_info info;
	int got, want;

	switch (a[0] % 12) {
	case 0:
		expect_err("range_start(end == start)",
			   gpc_invalidate_range_start(rt.vm, g, g, 0), -EINVAL);
		break;
	case 1:
		expect_err("range_start(unknown flags)",
			   gpc_invalidate_range_start(rt.vm, g, g + 1, 0x80),
			   -EINVAL);
		break;
	case 2:
		got = gpc_invalidate_range_end(rt.vm, g, g + PG);
		want = is_open(g, g + PG) ? 0 : -ENOENT;
		if (!want) {
			remove_open(m.open, &m.nopen, g, g + PG);
			remove_open(rt.open, &rt.nopen, g, g + PG);
			m.seq++;
		}
		expect_err("range_end(never started)", got, want);
		break;
	case 3:
		expect_err("range_end(end < start)",
			   gpc_invalidate_range_end(rt.vm, g + 1, g), -EINVAL);
		break;
	case 4: {
		uint32_t id = a[1] & 7;

		got = gpc_memslot_get(rt.vm, id, &info);
		want = id < MAX_SLOTS && m.slots[id].used ? 0 : -ENOENT;
		expect_err("gpc_memslot_get", got, want);
		if (!got && (info.id != id || info.gpa != m.slots[id].gpa ||
			     info.size != m.slots[id].size ||
			     info.hva != m.slots[id].hva ||
			     info.flags != m.slots[id].flags ||
			     info.generation != m.gen))
			fail("gpc_memslot_get(%u): wrong info", id);
		break;
	}
	case 5: {
		uint64_t gpa = dec_gpa(a[1], a[2]);
		struct mslot *s = m_slot_at(gpa);

		got = gpc_memslot_lookup(rt.vm, gpa, &info);
		expect_err("gpc_memslot_lookup", got, s ? 0 : -ENOENT);
		if (s && (info.gpa != s->gpa || info.hva != s->hva ||
			  info.size != s->size || info.generation != m.gen))
			fail("gpc_memslot_lookup(%#llx): wrong slot",
			     (unsigned long long)gpa);
		break;
	}
	case 6:
		if (vm_busy())
			expect_err("gpc_vm_destroy (busy)",
				   gpc_vm_destroy(rt.vm), -EBUSY);
		break;
	case 7: {
		int ci = BOGUS_C;
		struct gpc_cache_stats cs;

		for (int i = 0; i < NC; i++)
			if (m.c[i].state == CS_DEAD && (a[1] & 1))
				ci = i;
		expect_err("refresh (not initialised)",
			   gpc_cache_refresh(&rt.c[ci], 0), -EINVAL);
		expect_err("deactivate (not initialised)",
			   gpc_cache_deactivate(&rt.c[ci]), -EINVAL);
		expect_err("destroy (not initialised)",
			   gpc_cache_destroy(&rt.c[ci]), -EINVAL);
		expect_err("get_stats (not initialised)",
			   gpc_cache_get_stats(&rt.c[ci], &cs), -EINVAL);
		expect_err("read (not initialised)",
			   gpc_cache_read(&rt.c[ci], 0, buf, 1), -EINVAL);
		expect_err("write (not initialised)",
			   gpc_cache_write(&rt.c[ci], 0, buf, 1), -EINVAL);
		if (gpc_cache_check(&rt.c[ci], 0, 0) ||
		    gpc_cache_is_active(&rt.c[ci]))
			fail("cache %d not initialised but checks or is active",
			     ci);
		break;
	}
	case 8:
		expect_err("gpc_vcpu_get_stats",
			   gpc_vcpu_get_stats(rt.v,
					      &(struct gpc_vcpu_stats){ 0 }),
			   0);
		break;
	case 9:
		expect_err("gpc_memslot_create(id out of range)",
			   gpc_memslot_create(rt.vm, 1000 + a[1], GBASE, PG,
					      (uintptr_t)guard, 0),
			   -EINVAL);
		break;
	case 10: {
		struct gpc_vcpu_stats vs;

		expect_err("gpc_vcpu_get_stats", gpc_vcpu_get_stats(rt.v, &vs),
			   0);
		break;
	}
	default:
		check_stats();
		break;
	}
}

static void op_vcpu_life(const uint8_t *a)
{
	int got, want;

	if (a[0] & 1) {
		if (m.v.alive)
			return;
		got = gpc_vcpu_create(rt.vm, kick_fn, NULL, &rt.v);
		expect_err("gpc_vcpu_create", got, 0);
		memset(&m.v, 0, sizeof(m.v));
		m.v.alive = true;
		return;
	}
	got = gpc_vcpu_destroy(rt.v);
	if (!m.v.alive) {
		want = -EINVAL;
	} else if (m.v.mode != M_OUT || m.v.nlist) {
		want = -EBUSY;
	} else {
		want = 0;
		for (int i = 0; i < NC; i++)
			if (m.c[i].state == CS_LIVE &&
			    m.c[i].usage == GPC_USAGE_GUEST)
				want = -EBUSY;
	}
	expect_err("gpc_vcpu_destroy", got, want);
	if (!got)
		m.v.alive = false;
}

static void dispatch(const uint8_t *rec, const uint8_t **next,
		     const uint8_t *end);

/* Access held across another operation (srcu: a read section; rwlock: the
 * cache's reader lock). */
static void op_hold(const uint8_t *a, const uint8_t **next, const uint8_t *end)
{
	int ci = cache_arg(a[0]), h;
	struct mcache *mc = &m.c[ci];
	uint64_t off = dec_off(a[1], mc->pub_len);
	uint64_t len = dec_alen(a[2], mc->pub_len, off);
	uint8_t rec[FZ_REC] = { 0 };
	struct gpc_guard g;
	uint8_t *p = NULL;

	if (*next < end) {
		size_t n = (size_t)(end - *next);

		memcpy(rec, *next, n < FZ_REC ? n : FZ_REC);
		*next += n < FZ_REC ? n : FZ_REC;
	}
	if (mc->state != CS_LIVE || rt.in_hold)
		return;
	h = m_hit(ci, off, len);
	p = (a[0] & 8) ? gpc_cache_try_begin(&rt.c[ci], off, len, &g) :
			 gpc_cache_begin(&rt.c[ci], off, len, &g);
	if (h != T_MAYBE && (p != NULL) != (h == T_YES))
		fail("cache %d: begin %s, the model says %s", ci,
		     p ? "hit" : "missed", h == T_YES ? "hit" : "miss");
	if (!p)
		return;
	mc->valid = T_YES;
	verify_hit(ci, p, off, len);
	m.held = ci;
	rt.in_hold = true;
	if ((rec[0] % FZ_OP_NR) != FZ_OP_HOLD)
		dispatch(rec, NULL, NULL);
	rt.in_hold = false;
	/* Still mapped and unchanged while held? (R4/R10 on one thread.) */
	verify_hit(ci, p, off, len);
	gpc_cache_end(&rt.c[ci], &g);
	m.held = -1;
	check_state();
}

static const char *op_names[FZ_OP_NR] = {
	"slot_create",
	"slot_delete",
	"slot_move",
	"slot_flags",
	"activate_gpa",
	"activate_hva",
	"deactivate",
	"refresh",
	"check",
	"read",
	"write",
	"copy",
	"inval",
	"inval_end",
	"inval_nonblock",
	"hostmem_helper",
	"vcpu_enter",
	"vcpu_exit",
	"handle_requests",
	"vcpu_request",
	"guest_ptr",
	"hold",
	"init",
	"fault",
	"bad",
	"stats",
	"vcpu_life",
};

/* Operations that never block on the vCPU (everything else runs with the
 * vCPU "thread" leaving guest mode when kicked, and not left EXITING). */
static bool nonblocking_op(int op)
{
	return op == FZ_OP_INVAL_NB || op == FZ_OP_CHECK || op == FZ_OP_GUEST ||
	       op == FZ_OP_ENTER || op == FZ_OP_EXIT || op == FZ_OP_REQUEST ||
	       op == FZ_OP_STATS || op == FZ_OP_FAULT || op == FZ_OP_HOLD;
}

static void dispatch(const uint8_t *rec, const uint8_t **next,
		     const uint8_t *end)
{
	int op = rec[0] % FZ_OP_NR;
	const uint8_t *a = rec + 1;
	const char *outer = rt.opname;

	if (!rt.in_hold)
		memcpy(rt.rec, rec, FZ_REC);
	rt.opname = op_names[op];
	if (verbose)
		fprintf(stderr, "op %d%s: %s %02x %02x %02x %02x\n", rt.opno,
			rt.in_hold ? " (held)" : "", rt.opname, a[0], a[1],
			a[2], a[3]);
	resolve();
	if (!nonblocking_op(op) && m.v.alive && m.v.mode == M_EXITING) {
		/* The vCPU thread saw its kick and left guest mode. */
		gpc_vcpu_exit_guest(rt.v);
		m.v.mode = M_OUT;
	}
	rt.auto_exit = true;
	switch (op) {
	case FZ_OP_SLOT_CREATE:
		op_slot_create(a);
		break;
	case FZ_OP_SLOT_DELETE:
		op_slot_delete(a);
		break;
	case FZ_OP_SLOT_MOVE:
		op_slot_move(a);
		break;
	case FZ_OP_SLOT_FLAGS:
		op_slot_flags(a);
		break;
	case FZ_OP_ACT_GPA:
		op_activate(a, false);
		break;
	case FZ_OP_ACT_HVA:
		op_activate(a, true);
		break;
	case FZ_OP_DEACT:
		op_deactivate(a);
		break;
	case FZ_OP_REFRESH:
		op_refresh(a);
		break;
	case FZ_OP_CHECK:
		op_check(a);
		break;
	case FZ_OP_READ:
		op_read(a);
		break;
	case FZ_OP_WRITE:
		op_write(a);
		break;
	case FZ_OP_COPY:
		op_copy(a);
		break;
	case FZ_OP_INVAL:
		op_inval(a);
		break;
	case FZ_OP_INVAL_END:
		op_inval_end(a);
		break;
	case FZ_OP_INVAL_NB:
		op_inval_nb(a);
		break;
	case FZ_OP_HELPER:
		op_helper(a);
		break;
	case FZ_OP_ENTER:
		op_enter();
		break;
	case FZ_OP_EXIT:
		op_exit();
		break;
	case FZ_OP_HANDLE:
		op_handle();
		break;
	case FZ_OP_REQUEST:
		op_request(a);
		break;
	case FZ_OP_GUEST:
		op_guest(a);
		break;
	case FZ_OP_HOLD:
		if (next)
			op_hold(a, next, end);
		break;
	case FZ_OP_INIT:
		op_init(a);
		break;
	case FZ_OP_FAULT:
		op_fault(a);
		break;
	case FZ_OP_BAD:
		op_bad(a);
		break;
	case FZ_OP_STATS:
		check_stats();
		break;
	case FZ_OP_VCPU_LIFE:
		op_vcpu_life(a);
		break;
	}
	rt.auto_exit = true;
	/* Faults of the map step are predictable on the alias stage only. */
	if (!m.stage && atomic_load(&rt.tm.fail_map))
		atomic_store(&rt.tm.fail_map, 0);
	check_state();
	rt.opname = outer;
}

/* ---- setup and teardown ---------------------------------------------------- */

static void setup(uint8_t cfg)
{
	struct gpc_vm_config vc = { 0 };
	int err;

	memset(&rt.c, 0, sizeof(rt.c));
	memset(&m, 0, sizeof(m));
	memset(shadow, 0, sizeof(shadow));
	rt.nev = rt.evpos = rt.nopen = 0;
	rt.kicks = 0;
	rt.logs = 0;
	m.held = -1;
	m.scheme = cfg & FZ_CFG_RWLOCK ? GPC_SCHEME_RWLOCK : GPC_SCHEME_SRCU;
	m.stage = !!(cfg & FZ_CFG_ALIAS);
	expect_err("gpc_hostmem_create", gpc_hostmem_create(&rt.hm), 0);
	for (int r = 0; r < NREG; r++) {
		void *p;

		expect_err("gpc_hostmem_alloc",
			   gpc_hostmem_alloc(rt.hm, reg_npages[r] * PG, &p), 0);
		rt.rbase[r] = p;
		for (unsigned int i = 0; i < reg_npages[r]; i++) {
			struct mpage *pg = &m.pages[reg_first[r] + i];

			pg->prot = PROT_READ | PROT_WRITE;
			pg->file = (uint32_t)r + 1;
			pg->foff = i;
		}
	}
	m.next_file = NREG + 1;
	gpc_testmem_init(&rt.tm,
			 m.stage ? &gpc_hostmem_alias_ops :
				   &gpc_hostmem_direct_ops,
			 rt.hm);
	vc.scheme = m.scheme;
	vc.hostmem = &gpc_testmem_ops;
	vc.hostmem_ctx = &rt.tm;
	vc.max_memslots = MAX_SLOTS;
	vc.name = "fuzz";
	err = gpc_vm_create(&vc, &rt.vm);
	expect_err("gpc_vm_create", err, 0);
	m.gen = gpc_memslot_generation(rt.vm);
	expect_err("gpc_vm_set_hook", gpc_vm_set_hook(rt.vm, hook_fn, NULL), 0);
	expect_err("gpc_vcpu_create",
		   gpc_vcpu_create(rt.vm, kick_fn, NULL, &rt.v), 0);
	m.v.alive = true;
	if (!(cfg & FZ_CFG_NOSLOTS)) {
		expect_err("gpc_memslot_create",
			   gpc_memslot_create(rt.vm, 0, GBASE, 8 * PG,
					      (uintptr_t)rt.rbase[0], 0),
			   0);
		expect_err("gpc_memslot_create",
			   gpc_memslot_create(rt.vm, 1, GBASE + 16 * PG, 4 * PG,
					      (uintptr_t)rt.rbase[1], 0),
			   0);
		m.slots[0] = (struct mslot){ true, GBASE, 8 * PG,
					     (uintptr_t)rt.rbase[0], 0 };
		m.slots[1] = (struct mslot){ true, GBASE + 16 * PG, 4 * PG,
					     (uintptr_t)rt.rbase[1], 0 };
		m.gen += 2;
		m.st_slot_changes = 2;
	}
	if (cfg & FZ_CFG_MIRROR) {
		expect_err("gpc_memslot_set_mirror",
			   gpc_memslot_set_mirror(rt.vm, mirror_fn, NULL), 0);
		m.mirror = true;
	}
	for (int i = 0; i < NC; i++) {
		unsigned int flags = 0;
		enum gpc_usage u = i == 3 ? GPC_USAGE_GUEST : GPC_USAGE_HOST;

		if (i == 1 && (cfg & FZ_CFG_RO1))
			flags = GPC_CACHE_READONLY;
		if (i == 2)
			flags = GPC_CACHE_COUNT_HITS;
		expect_err("gpc_cache_init",
			   gpc_cache_init(&rt.c[i], rt.vm, u,
					  i == 3 ? rt.v : NULL, flags),
			   0);
		m.c[i].state = CS_LIVE;
		m.c[i].usage = u;
		m.c[i].flags = flags;
	}
}

static void teardown(void)
{
	struct gpc_testmem_counts tc;

	rt.opname = "teardown";
	rt.auto_exit = true;
	if (m.v.alive && m.v.mode != M_OUT) {
		gpc_vcpu_exit_guest(rt.v);
		m.v.mode = M_OUT;
	}
	m.seq += (uint64_t)m.nopen;
	m.nopen = 0;
	rt_end_all();
	check_state();
	check_stats();
	for (int i = 0; i < NC; i++) {
		if (m.c[i].state != CS_LIVE)
			continue;
		expect_err("gpc_cache_destroy", gpc_cache_destroy(&rt.c[i]), 0);
		if (m.c[i].active)
			m_deactivate(i);
		m.c[i].state = CS_DEAD;
		check_state();
	}
	if (m.v.alive) {
		expect_err("gpc_vcpu_destroy", gpc_vcpu_destroy(rt.v), 0);
		m.v.alive = false;
	}
	expect_err("gpc_srcu_barrier", gpc_srcu_barrier(gpc_vm_srcu(rt.vm)), 0);
	gpc_testmem_counts(&rt.tm, &tc);
	if (tc.live_maps)
		fail("%lld mappings leaked", (long long)tc.live_maps);
	verify_ram();
	expect_err("gpc_vm_destroy", gpc_vm_destroy(rt.vm), 0);
	expect_err("gpc_hostmem_destroy", gpc_hostmem_destroy(rt.hm), 0);
	if (rt.logs)
		fail("the library logged: %s", rt.logmsg);
	rt.vm = NULL;
	rt.hm = NULL;
	rt.opname = NULL;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *s = getenv("GPC_FUZZ_STRICT");
	const char *v = getenv("GPC_FUZZ_VERBOSE");

	(void)argc, (void)argv;
	strict = s && *s && strcmp(s, "0");
	verbose = v && *v && strcmp(v, "0");
	if ((uint64_t)sysconf(_SC_PAGESIZE) != PG) {
		fprintf(stderr, "fuzz_api: needs 4 KiB pages\n");
		exit(1);
	}
	guard = mmap(NULL, GUARD_PAGES * PG, PROT_NONE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (guard == MAP_FAILED) {
		perror("mmap");
		exit(1);
	}
	gpc_log_set_handler(log_fn, NULL);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p, *end = data + size;

	if (size < 1)
		return 0;
	setup(data[0]);
	p = data + 1;
	for (rt.opno = 0; p < end && rt.opno < FZ_MAX_OPS; rt.opno++) {
		uint8_t rec[FZ_REC] = { 0 };
		size_t n = (size_t)(end - p);

		memcpy(rec, p, n < FZ_REC ? n : FZ_REC);
		p += n < FZ_REC ? n : FZ_REC;
		dispatch(rec, &p, end);
	}
	teardown();
	return 0;
}
