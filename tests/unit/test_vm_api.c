// SPDX-License-Identifier: MIT
/*
 * tests/unit/test_vm_api.c - gpc/vm.h: create/destroy, the scheme and domain
 * accessors, the test hook, and the vm counters (struct gpc_vm_stats).
 *
 * The rules checked: bad arguments are refused without side effects; a vm
 * refuses to be destroyed (-EBUSY) while caches, vCPUs or an invalidation
 * in progress exist, and that refusal changes nothing (the cache keeps
 * working, the vCPU still enters, the invalidation still ends); every
 * counter moves exactly for the events it documents. Hits are summed over
 * the vm's caches (and those destroyed), not over the domain's threads (a
 * shared domain's are every vm's), so hits of a thread that has exited stay
 * counted.
 *
 * Each test runs on both schemes (direct stage; the stage does not matter
 * to anything here except reader_wait_ns, checked on both schemes).
 */
#include <malloc.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <gpc/gpc.h>

#include "harness.h"
#include "test_common.h"

#define NC 4
#define G0 TVM_GPA_BASE

struct fx {
	struct gpc_cache c[NC];
	struct tvm t;
	struct gpc_vm *vm;
	struct gpc_vcpu *v;
	uint64_t ps;
};

static int setup(void **state)
{
	const struct tvm_param *p = *state;
	struct fx *f =
		aligned_alloc(64, (sizeof(struct fx) + 63) & ~(size_t)63);

	if (!f)
		return -1;
	memset(f, 0, sizeof(*f));
	if (tvm_setup(&f->t, p->scheme, p->stage))
		return -1;
	f->vm = f->t.vm;
	f->ps = (uint64_t)sysconf(_SC_PAGESIZE);
	test_log_capture();
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	int err = 0;

	for (int i = 0; i < NC; i++)
		gpc_cache_destroy(&f->c[i]);
	if (f->v) {
		gpc_vcpu_exit_guest(f->v);
		gpc_vcpu_destroy(f->v);
	}
	/* Nothing here is worth a warning: bad input is an error code. */
	if (test_log_clean())
		err = -1;
	if (tvm_teardown(&f->t))
		err = -1;
	free(f);
	return err ? -1 : 0;
}

static bool is_srcu(struct fx *f)
{
	return f->t.scheme == GPC_SCHEME_SRCU;
}

static struct gpc_cache *active_cache(struct fx *f, int i, uint64_t off,
				      uint64_t len, unsigned int flags)
{
	struct gpc_cache *c = &f->c[i];

	assert_int_equal(gpc_cache_init(c, f->vm, GPC_USAGE_HOST, NULL, flags),
			 0);
	assert_int_equal(gpc_cache_activate_gpa(c, G0 + off, len), 0);
	return c;
}

static void stats(struct fx *f, struct gpc_vm_stats *st)
{
	assert_int_equal(gpc_vm_get_stats(f->vm, st), 0);
}

/* ---- create / destroy ------------------------------------------------------ */

static void vm_create_bad_args(void **state)
{
	struct gpc_vm_config cfg = { 0 };
	struct gpc_vm *vm = (struct gpc_vm *)1;

	(void)state;
	assert_int_equal(gpc_vm_create(NULL, NULL), -EINVAL);
	assert_int_equal(gpc_vm_create(&cfg, NULL), -EINVAL);
	cfg.scheme = (enum gpc_scheme)2;
	assert_int_equal(gpc_vm_create(&cfg, &vm), -EINVAL);
	cfg.scheme = (enum gpc_scheme) - 1;
	assert_int_equal(gpc_vm_create(&cfg, &vm), -EINVAL);
	cfg.scheme = GPC_SCHEME_SRCU;
	cfg.max_memslots = GPC_MEMSLOTS_MAX + 1;
	assert_int_equal(gpc_vm_create(&cfg, &vm), -EINVAL);
	/* *out is left alone on failure. */
	assert_ptr_equal(vm, (struct gpc_vm *)1);
	assert_int_equal(gpc_vm_destroy(NULL), -EINVAL);
}

/* NULL config: srcu scheme, direct stage, everything usable. */
static void vm_create_defaults(void **state)
{
	struct gpc_vm_config cfg = { .scheme = GPC_SCHEME_RWLOCK,
				     .max_memslots = 2,
				     .name = "two" };
	static struct gpc_cache c;
	struct gpc_vm *vm;
	long ps = sysconf(_SC_PAGESIZE);
	uint8_t *page = aligned_alloc((size_t)ps, (size_t)ps);

	(void)state;
	assert_non_null(page);
	assert_int_equal(gpc_vm_create(NULL, &vm), 0);
	assert_int_equal(gpc_vm_scheme(vm), GPC_SCHEME_SRCU);
	assert_non_null(gpc_vm_srcu(vm));
	assert_int_equal(gpc_memslot_create(vm, 5, 0, (uint64_t)ps,
					    (uintptr_t)page, 0),
			 0);
	assert_int_equal(gpc_cache_init(&c, vm, GPC_USAGE_HOST, NULL, 0), 0);
	assert_int_equal(gpc_cache_activate_gpa(&c, 16, 8), 0);
	assert_int_equal(gpc_cache_write(&c, 0, "default", 8), 0);
	assert_memory_equal(page + 16, "default", 8);
	assert_int_equal(gpc_cache_destroy(&c), 0);
	assert_int_equal(gpc_vm_destroy(vm), 0);

	/* max_memslots bounds the ids. */
	assert_int_equal(gpc_vm_create(&cfg, &vm), 0);
	assert_int_equal(gpc_vm_scheme(vm), GPC_SCHEME_RWLOCK);
	assert_int_equal(gpc_memslot_create(vm, 2, 0, (uint64_t)ps,
					    (uintptr_t)page, 0),
			 -EINVAL);
	assert_int_equal(gpc_memslot_create(vm, 1, 0, (uint64_t)ps,
					    (uintptr_t)page, 0),
			 0);
	assert_int_equal(gpc_vm_destroy(vm), 0);
	free(page);
}

static void vm_scheme_and_domain(void **state)
{
	struct fx *f = *state;
	struct gpc_guard g;
	struct gpc_cache *c = active_cache(f, 0, 0, 8, 0);
	struct gpc_srcu *d = gpc_vm_srcu(f->vm);

	assert_int_equal(gpc_vm_scheme(f->vm), f->t.scheme);
	assert_non_null(d);
	assert_null(gpc_vm_srcu(NULL));
	/* The srcu scheme's readers are sections of the vm's own domain. */
	assert_non_null(gpc_cache_begin(c, 0, 8, &g));
	assert_int_equal(gpc_srcu_read_held(d), is_srcu(f));
	gpc_cache_end(c, &g);
	assert_false(gpc_srcu_read_held(d));
}

/*
 * -EBUSY while anything refers to the vm, and the refusal changes nothing:
 * the cache is still active and valid, the vCPU still enters, the
 * invalidation is still in progress and ends normally.
 */
static void vm_destroy_busy(void **state)
{
	struct fx *f = *state;
	struct gpc_cache *g = &f->c[1];
	struct gpc_cache *c = active_cache(f, 0, 0, 8, 0);
	struct gpc_cache *idle = &f->c[2];
	uint64_t h = tvm_hva(&f->t, G0 + 8 * f->ps);
	struct gpc_vm_stats s0, s1;
	struct gpc_cache_stats cs0, cs1;

	assert_int_equal(gpc_vcpu_create(f->vm, NULL, NULL, &f->v), 0);
	assert_int_equal(gpc_cache_init(g, f->vm, GPC_USAGE_GUEST, f->v, 0), 0);
	assert_int_equal(gpc_cache_activate_gpa(g, G0 + f->ps, 8), 0);
	assert_int_equal(gpc_cache_init(idle, f->vm, GPC_USAGE_HOST, NULL, 0),
			 0);
	assert_int_equal(gpc_invalidate_range_start(f->vm, h, h + 1, 0), 0);

	stats(f, &s0);
	assert_int_equal(gpc_cache_get_stats(c, &cs0), 0);
	assert_int_equal(gpc_vm_destroy(f->vm), -EBUSY);
	stats(f, &s1);
	assert_int_equal(gpc_cache_get_stats(c, &cs1), 0);
	assert_memory_equal(&cs0, &cs1, sizeof(cs0));
	assert_int_equal(s1.active_caches, s0.active_caches);
	assert_int_equal(s1.invalidations, s0.invalidations);
	assert_true(gpc_cache_is_active(c));
	assert_true(gpc_cache_check(c, 0, 8));
	assert_int_equal(gpc_cache_write(c, 0, "still ok", 8), 0);
	assert_int_equal(gpc_vcpu_enter_guest(f->v), 0);
	assert_non_null(gpc_cache_guest_ptr(g, 0, 8));
	gpc_vcpu_exit_guest(f->v);

	/* Take them away one by one; busy until the last is gone. */
	assert_int_equal(gpc_invalidate_range_end(f->vm, h, h + 1), 0);
	assert_int_equal(gpc_vm_destroy(f->vm), -EBUSY);
	assert_int_equal(gpc_cache_destroy(c), 0);
	assert_int_equal(gpc_vm_destroy(f->vm), -EBUSY);
	/* An inactive cache counts too. */
	assert_int_equal(gpc_cache_destroy(g), 0);
	assert_int_equal(gpc_vm_destroy(f->vm), -EBUSY);
	assert_int_equal(gpc_cache_destroy(idle), 0);
	/* Only the vCPU left. */
	assert_int_equal(gpc_vm_destroy(f->vm), -EBUSY);
	assert_int_equal(gpc_vcpu_destroy(f->v), 0);
	f->v = NULL;
	assert_int_equal(gpc_vm_destroy(f->vm), 0);
	f->t.vm = NULL; /* tvm_teardown: nothing left to destroy */
}

/* A non-blocking invalidation in progress also keeps the vm. */
static void vm_destroy_busy_nonblock_inval(void **state)
{
	struct fx *f = *state;
	uint64_t h = tvm_hva(&f->t, G0);

	assert_int_equal(gpc_invalidate_range_start(f->vm, h, h + f->ps,
						    GPC_INVAL_NONBLOCK),
			 0);
	assert_int_equal(gpc_vm_destroy(f->vm), -EBUSY);
	assert_int_equal(gpc_invalidate_range_end(f->vm, h, h + f->ps), 0);
	/* And the refusal did not end it twice. */
	assert_int_equal(gpc_invalidate_range_end(f->vm, h, h + f->ps),
			 -ENOENT);
}

/* ---- the test hook ----------------------------------------------------------- */

struct hook_rec {
	_Atomic int calls[GPC_HOOK_NR];
	struct gpc_cache *last_cache[GPC_HOOK_NR];
};

static void rec_hook(struct gpc_vm *vm, enum gpc_hook_point point,
		     struct gpc_cache *c, void *ctx)
{
	struct hook_rec *r = ctx;

	(void)vm;
	atomic_fetch_add(&r->calls[point], 1);
	r->last_cache[point] = c;
}

static void vm_set_hook(void **state)
{
	struct fx *f = *state;
	struct gpc_cache *c = &f->c[0];
	struct hook_rec r;
	uint64_t h = tvm_hva(&f->t, G0);

	memset(&r, 0, sizeof(r));
	assert_int_equal(gpc_vm_set_hook(NULL, rec_hook, &r), -EINVAL);
	assert_int_equal(gpc_vm_set_hook(f->vm, rec_hook, &r), 0);
	assert_int_equal(gpc_cache_init(c, f->vm, GPC_USAGE_HOST, NULL, 0), 0);
	assert_int_equal(gpc_cache_activate_gpa(c, G0, 8), 0);
	/* One pass of refresh: every point once, no retry. */
	assert_int_equal(atomic_load(&r.calls[GPC_HOOK_ACTIVATE]), 1);
	for (int p = GPC_HOOK_REFRESH_STAGE1; p <= GPC_HOOK_REFRESH_PUBLISH;
	     p++) {
		assert_int_equal(atomic_load(&r.calls[p]), 1);
		assert_ptr_equal(r.last_cache[p], c);
	}
	assert_int_equal(atomic_load(&r.calls[GPC_HOOK_REFRESH_RETRY]), 0);

	/* Invalidation points pass NULL as the cache. */
	assert_int_equal(gpc_invalidate_range_start(f->vm, h, h + 1, 0), 0);
	assert_int_equal(gpc_invalidate_range_end(f->vm, h, h + 1), 0);
	for (int p = GPC_HOOK_INVAL_START; p <= GPC_HOOK_INVAL_END; p++) {
		assert_int_equal(atomic_load(&r.calls[p]), 1);
		assert_null(r.last_cache[p]);
	}
	/* Failed calls reach no hook point. */
	assert_int_equal(gpc_invalidate_range_start(f->vm, h, h, 0), -EINVAL);
	assert_int_equal(gpc_invalidate_range_end(f->vm, h, h + 2), -ENOENT);
	assert_int_equal(atomic_load(&r.calls[GPC_HOOK_INVAL_START]), 1);
	assert_int_equal(atomic_load(&r.calls[GPC_HOOK_INVAL_END]), 1);
	assert_int_equal(gpc_cache_refresh(&f->c[1], 0), -EINVAL);
	assert_int_equal(atomic_load(&r.calls[GPC_HOOK_REFRESH_STAGE1]), 1);

	assert_int_equal(gpc_cache_deactivate(c), 0);
	assert_int_equal(atomic_load(&r.calls[GPC_HOOK_DEACTIVATE]), 1);
	assert_ptr_equal(r.last_cache[GPC_HOOK_DEACTIVATE], c);
	assert_int_equal(gpc_vcpu_create(f->vm, NULL, NULL, &f->v), 0);
	assert_int_equal(gpc_vcpu_enter_guest(f->v), 0);
	gpc_vcpu_exit_guest(f->v);
	assert_int_equal(atomic_load(&r.calls[GPC_HOOK_VCPU_ENTER]), 1);

	/* Removed: no more calls. */
	assert_int_equal(gpc_vm_set_hook(f->vm, NULL, NULL), 0);
	assert_int_equal(gpc_cache_activate_gpa(c, G0, 8), 0);
	assert_int_equal(gpc_cache_deactivate(c), 0);
	assert_int_equal(atomic_load(&r.calls[GPC_HOOK_ACTIVATE]), 1);
	assert_int_equal(atomic_load(&r.calls[GPC_HOOK_DEACTIVATE]), 1);
}

static void nop_hook(struct gpc_vm *vm, enum gpc_hook_point point,
		     struct gpc_cache *c, void *ctx)
{
	(void)vm, (void)point, (void)c, (void)ctx;
}

/*
 * Replaced hooks are kept while a thread may still run them, but they must
 * be freed with the vm at the latest ("replaced pairs are freed only with
 * the vm"): 1000 replacements, then destroy, must not leave 1000 pairs
 * allocated. Measured with mallinfo2(), so skipped where a sanitizer's
 * allocator replaces glibc's.
 */
static void vm_set_hook_frees_replaced_hooks(void **state)
{
	struct mallinfo2 m0, m1;
	struct gpc_vm *vm;
	void *probe;
	long leaked;

	(void)state;
	m0 = mallinfo2();
	probe = malloc(1 << 16);
	if (probe)
		*(volatile char *)probe = 1; /* not optimised away */
	m1 = mallinfo2();
	free(probe);
	if (m1.uordblks < m0.uordblks + (1 << 16))
		skip(); /* mallinfo2 does not see our allocations */
	/* Warm up: first-use allocations of the library and of glibc. */
	assert_int_equal(gpc_vm_create(NULL, &vm), 0);
	assert_int_equal(gpc_vm_set_hook(vm, nop_hook, NULL), 0);
	assert_int_equal(gpc_vm_destroy(vm), 0);

	m0 = mallinfo2();
	assert_int_equal(gpc_vm_create(NULL, &vm), 0);
	for (int i = 0; i < 1000; i++)
		assert_int_equal(gpc_vm_set_hook(vm, nop_hook, NULL), 0);
	assert_int_equal(gpc_vm_set_hook(vm, NULL, NULL), 0);
	assert_int_equal(gpc_vm_destroy(vm), 0);
	m1 = mallinfo2();
	leaked = (long)m1.uordblks - (long)m0.uordblks;
	if (leaked > 4096)
		fail_msg("%ld bytes still allocated after 1000 hook "
			 "replacements and gpc_vm_destroy()",
			 leaked);
}

/* ---- counters ------------------------------------------------------------------ */

static void vm_stats_bad_args(void **state)
{
	struct fx *f = *state;
	struct gpc_vm_stats st;

	assert_int_equal(gpc_vm_get_stats(NULL, &st), -EINVAL);
	assert_int_equal(gpc_vm_get_stats(f->vm, NULL), -EINVAL);
}

struct hit_thread {
	struct gpc_cache *c;
	int n, hits;
};

static int hit_thread_fn(void *arg)
{
	struct gpc_guard g;
	struct hit_thread *h = arg;

	for (int i = 0; i < h->n; i++) {
		if (gpc_cache_try_begin(h->c, 0, 8, &g)) {
			h->hits++;
			gpc_cache_end(h->c, &g);
		}
	}
	return 0;
}

/* hits, misses, refreshes, invalidations, inval_caches, active_caches. */
static void vm_stats_basic(void **state)
{
	struct fx *f = *state;
	struct gpc_guard g;
	struct gpc_cache *a = active_cache(f, 0, 0, 8, GPC_CACHE_COUNT_HITS);
	struct gpc_cache *b =
		active_cache(f, 1, 3 * f->ps, 8, GPC_CACHE_COUNT_HITS);
	struct gpc_cache *u = active_cache(f, 2, 5 * f->ps, 8, 0);
	struct hit_thread ht[3] = { { .c = a, .n = 300 },
				    { .c = b, .n = 200 },
				    { .c = u, .n = 50 } };
	struct gpc_vm_stats s0, s1;
	struct tbg bg[3];
	uint64_t h = tvm_hva(&f->t, G0);

	stats(f, &s0);
	assert_int_equal(s0.active_caches, 3);
	assert_int_equal(s0.refreshes, 3);
	assert_int_equal(s0.hits, 0);
	assert_int_equal(s0.misses, 0);
	/*
	 * 100 counted hits here, 500 in two threads that then exit; the 10
	 * here and 50 in a third thread on u, which does not count hits (the
	 * srcu fast path stays free of the counter), are not counted.
	 */
	for (int i = 0; i < 100; i++) {
		assert_non_null(gpc_cache_begin(a, 0, 8, &g));
		gpc_cache_end(a, &g);
	}
	for (int i = 0; i < 10; i++) {
		assert_non_null(gpc_cache_begin(u, 0, 8, &g));
		gpc_cache_end(u, &g);
	}
	for (int i = 0; i < 3; i++)
		tbg_start(&bg[i], hit_thread_fn, &ht[i]);
	for (int i = 0; i < 3; i++)
		tbg_join(&bg[i]);
	stats(f, &s1);
	assert_int_equal(ht[0].hits + ht[1].hits + ht[2].hits, 550);
	assert_int_equal(s1.hits, 600);

	/* An invalidation of a's page: one invalidation, one cache cleared. */
	assert_int_equal(gpc_invalidate_range_start(f->vm, h, h + 1, 0), 0);
	assert_int_equal(gpc_invalidate_range_end(f->vm, h, h + 1), 0);
	/* Three misses on the invalid cache. */
	for (int i = 0; i < 3; i++)
		assert_null(gpc_cache_begin(a, 0, 8, &g));
	/* An invalidation that meets no cache at all still counts. */
	assert_int_equal(gpc_invalidate_range_start(f->vm, 1, 2, 0), 0);
	assert_int_equal(gpc_invalidate_range_end(f->vm, 1, 2), 0);
	assert_int_equal(gpc_cache_refresh(a, 0), 0);
	stats(f, &s1);
	assert_int_equal(s1.misses, 3);
	assert_int_equal(s1.invalidations, 2);
	assert_int_equal(s1.inval_caches, 1);
	assert_int_equal(s1.refreshes, 4);
	assert_int_equal(s1.refresh_retries, 0);
	assert_int_equal(s1.refresh_waits, 0);
	assert_int_equal(s1.inval_eagain, 0);
	assert_int_equal(s1.kicks, 0);
	assert_int_equal(s1.vcpu_wait_ns, 0);

	/* A destroyed cache's misses stay counted; it leaves active_caches. */
	assert_int_equal(gpc_cache_destroy(a), 0);
	stats(f, &s1);
	assert_int_equal(s1.misses, 3);
	assert_int_equal(s1.active_caches, 2);
	assert_int_equal(gpc_cache_deactivate(b), 0);
	assert_int_equal(gpc_cache_deactivate(u), 0);
	stats(f, &s1);
	assert_int_equal(s1.active_caches, 0);
	assert_int_equal(s1.hits, 600);
}

/* memslot_changes counts every change of the table, not failed ones. */
static void vm_stats_memslot_changes(void **state)
{
	struct fx *f = *state;
	struct gpc_vm_stats s0, s1;
	uint64_t h = tvm_hva(&f->t, G0);

	stats(f, &s0);
	assert_int_equal(gpc_memslot_create(f->vm, 1, 0x40000000, f->ps, h, 0),
			 0);
	assert_int_equal(gpc_memslot_move(f->vm, 1, 0x50000000), 0);
	assert_int_equal(gpc_memslot_set_flags(f->vm, 1, GPC_MEMSLOT_READONLY),
			 0);
	assert_int_equal(gpc_memslot_delete(f->vm, 1), 0);
	assert_int_equal(gpc_memslot_delete(f->vm, 1), -ENOENT);
	stats(f, &s1);
	assert_int_equal(s1.memslot_changes - s0.memslot_changes, 4);
}

/*
 * reader_wait_ns: a blocking invalidation of a valid srcu cache waits a
 * grace period and accounts for it. inval_eagain: a non-blocking one that
 * finds a reader (srcu: a section that may hold the page; rwlock: the
 * reader lock held) gives up.
 */
static void vm_stats_waits_and_eagain(void **state)
{
	struct fx *f = *state;
	struct gpc_guard g;
	struct gpc_cache *a = active_cache(f, 0, 0, 8, 0);
	struct gpc_vm_stats s0, s1;
	uint64_t h = tvm_hva(&f->t, G0);

	stats(f, &s0);
	assert_int_equal(gpc_invalidate_range_start(f->vm, h, h + 8, 0), 0);
	assert_int_equal(gpc_invalidate_range_end(f->vm, h, h + 8), 0);
	stats(f, &s1);
	if (is_srcu(f))
		assert_true(s1.reader_wait_ns > s0.reader_wait_ns);
	else
		assert_true(s1.reader_wait_ns >= s0.reader_wait_ns);
	assert_int_equal(s1.vcpu_wait_ns, 0);

	assert_int_equal(gpc_cache_refresh(a, 0), 0);
	stats(f, &s0);
	assert_non_null(gpc_cache_begin(a, 0, 8, &g));
	assert_int_equal(gpc_invalidate_range_start(f->vm, h, h + 8,
						    GPC_INVAL_NONBLOCK),
			 -EAGAIN);
	gpc_cache_end(a, &g);
	stats(f, &s1);
	assert_int_equal(s1.inval_eagain - s0.inval_eagain, 1);
	assert_int_equal(s1.invalidations, s0.invalidations);
}

/* kicks and vcpu_wait_ns: a vCPU thread in guest mode is evicted. */
struct vcpu_thread {
	struct gpc_vcpu *v;
	struct gpc_cache *g;
	_Atomic int inside, kicked, ok;
	_Atomic int calls; /* kick callback runs */
};

static void kick_flag(struct gpc_vcpu *v, void *ctx)
{
	struct vcpu_thread *vt = ctx;

	(void)v;
	atomic_fetch_add(&vt->calls, 1);
	atomic_store(&vt->kicked, 1);
}

static int vcpu_thread_fn(void *arg)
{
	struct vcpu_thread *vt = arg;

	if (gpc_vcpu_enter_guest(vt->v))
		return -1;
	atomic_store(&vt->ok, gpc_cache_guest_ptr(vt->g, 0, 8) != NULL);
	atomic_store(&vt->inside, 1);
	/* "Guest code" runs until the kick. */
	while (!atomic_load(&vt->kicked))
		test_sleep_ms(1);
	gpc_vcpu_exit_guest(vt->v);
	return 0;
}

static void vm_stats_kicks(void **state)
{
	struct fx *f = *state;
	struct gpc_cache *g = &f->c[0];
	struct vcpu_thread vt = { .g = g };
	struct gpc_vm_stats s0, s1;
	struct gpc_vcpu_stats vs;
	uint64_t h = tvm_hva(&f->t, G0);
	struct tbg bg;

	assert_int_equal(gpc_vcpu_create(f->vm, kick_flag, &vt, &f->v), 0);
	vt.v = f->v;
	assert_int_equal(gpc_cache_init(g, f->vm, GPC_USAGE_GUEST, f->v, 0), 0);
	assert_int_equal(gpc_cache_activate_gpa(g, G0, 8), 0);
	stats(f, &s0);
	test_watchdog_arm(30, "blocking invalidation of a vCPU in guest mode");
	tbg_start(&bg, vcpu_thread_fn, &vt);
	assert_true(test_wait_flag(&vt.inside, TEST_PROMPT_MS));
	/* Returns only after the vCPU left guest mode. */
	assert_int_equal(gpc_invalidate_range_start(f->vm, h, h + 1, 0), 0);
	assert_int_equal(gpc_vcpu_mode(f->v), GPC_VCPU_OUTSIDE);
	assert_int_equal(gpc_invalidate_range_end(f->vm, h, h + 1), 0);
	assert_int_equal(tbg_join(&bg), 0);
	test_watchdog_disarm();
	assert_true(atomic_load(&vt.ok));
	stats(f, &s1);
	/* A vCPU that has not left after a kick is kicked again every few
	 * ms, so under load there may be more than one; both counters count
	 * callback runs, exactly. */
	assert_true(atomic_load(&vt.calls) >= 1);
	assert_int_equal(s1.kicks - s0.kicks, atomic_load(&vt.calls));
	assert_true(s1.vcpu_wait_ns > s0.vcpu_wait_ns);
	assert_int_equal(gpc_vcpu_get_stats(f->v, &vs), 0);
	assert_int_equal(vs.kicks, atomic_load(&vt.calls));
	/* The request is consumed and the vCPU enters again. */
	assert_int_equal(gpc_vcpu_enter_guest(f->v), -EAGAIN);
	assert_true(gpc_vcpu_handle_requests(f->v) >= 0);
	assert_int_equal(gpc_vcpu_enter_guest(f->v), 0);
	gpc_vcpu_exit_guest(f->v);
	assert_int_equal(gpc_cache_destroy(g), 0);
}

/* ---- main ------------------------------------------------------------------------ */

#define T2(fn) \
	TP(fn, TVM_SRCU_DIRECT, "/srcu"), TP(fn, TVM_RWLOCK_DIRECT, "/rwlock")

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(vm_create_bad_args),
		cmocka_unit_test(vm_create_defaults),
		T2(vm_scheme_and_domain),
		T2(vm_destroy_busy),
		T2(vm_destroy_busy_nonblock_inval),
		T2(vm_set_hook),
		cmocka_unit_test(vm_set_hook_frees_replaced_hooks),
		T2(vm_stats_bad_args),
		T2(vm_stats_basic),
		T2(vm_stats_memslot_changes),
		T4(vm_stats_waits_and_eagain),
		T2(vm_stats_kicks),
	};

	return cmocka_run_group_tests_name("vm_api", tests, NULL, NULL);
}
