// SPDX-License-Identifier: MIT
/*
 * tests/scenarios/test_scenarios_b.c - regression scenarios R10-R18 of
 * docs/regressions.md, each on both read-side schemes.
 *
 * Every race is forced with stop points (harness.h): a refresh, a
 * deactivate or an invalidation is parked at an exact step while the other
 * side runs. Where the library has no hook (an invalidation in the middle
 * of registering itself, R12), a signal handler parks the thread once it
 * finds it at that step. Sleeps only give a thread the chance to do
 * something wrong ("does not complete within 50 ms"); they never make a
 * test pass. R17 and R18 are timed stress runs on top of that (R18's engine
 * is churn.h, also used by the stress_churn soak program).
 *
 * Helper threads never assert: they record what they saw and the test
 * thread checks it after joining them. Tests are named "rNN_what/scheme";
 * GPC_TEST_FILTER and GPC_TEST_SKIP (cmocka patterns) select them.
 */
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>

#include <cmocka.h>

#include <gpc/gpc.h>

#include "harness.h"
#include "vm_priv.h" /* R12: the in-progress registry, vm->inv.inflight */
#include "test_common.h"
#include "churn.h"

static int scheme_srcu = GPC_SCHEME_SRCU;
static int scheme_rwlock = GPC_SCHEME_RWLOCK;
static uint64_t pg;

/* ---- common helpers ----------------------------------------------------- */

static enum gpc_scheme scheme_of(void **state)
{
	return (enum gpc_scheme) * (int *)*state;
}

static const char *stage_name(enum tvm_stage st)
{
	return st == TVM_ALIAS ? "alias" : "direct";
}

static void vm_up(struct tvm *t, void **state, enum tvm_stage st)
{
	assert_int_equal(tvm_setup(t, scheme_of(state), st), 0);
}

static void vm_down(struct tvm *t)
{
	assert_int_equal(tvm_teardown(t), 0);
}

static void cache_up(struct tvm *t, struct gpc_cache *c)
{
	assert_int_equal(gpc_cache_init(c, t->vm, GPC_USAGE_HOST, NULL, 0), 0);
}

static uint64_t page_gpa(unsigned int n)
{
	return TVM_GPA_BASE + n * pg;
}

static struct gpc_cache_stats cstats(struct gpc_cache *c)
{
	struct gpc_cache_stats st;

	assert_int_equal(gpc_cache_get_stats(c, &st), 0);
	return st;
}

static int64_t live_maps(struct tvm *t)
{
	return tvm_counts(t).live_maps;
}

static void *alloc_region(struct tvm *t, size_t size)
{
	void *p;

	assert_int_equal(gpc_hostmem_alloc(t->hm, size, &p), 0);
	return p;
}

/*
 * A refresh of a cache that is valid for its address, length and memslot
 * generation leaves it alone (no stage, no hook). Where a scenario needs
 * the refresh to run its stages, it first makes the cache stale: a
 * generation bump with the same layout (slot 0 keeps its flags) keeps the
 * cache's page and invalidates nothing, so the refresh re-translates the
 * same page.
 */
static void bump_generation(struct tvm *t)
{
	uint64_t gen = gpc_memslot_generation(t->vm);

	assert_int_equal(gpc_memslot_set_flags(t->vm, 0, 0), 0);
	assert_true(gpc_memslot_generation(t->vm) > gen);
}

static int bg_refresh(void *arg)
{
	return gpc_cache_refresh(arg, 0);
}

static int bg_deactivate(void *arg)
{
	return gpc_cache_deactivate(arg);
}

/* A blocking invalidation of [start, end), both halves. */
struct inval_arg {
	struct gpc_vm *vm;
	uint64_t start, end;
};

static int bg_invalidate(void *arg)
{
	struct inval_arg *a = arg;
	int err = gpc_invalidate_range_start(a->vm, a->start, a->end, 0);

	if (err)
		return err;
	return gpc_invalidate_range_end(a->vm, a->start, a->end);
}

/* ---- R10: deactivate while a refresh has dropped its lock ---------------- */

/*
 * A fast-path user that keeps writing through the cache whenever it hits:
 * with the alias stage, a hit on a released mapping would fault.
 */
struct poker {
	struct gpc_cache *c;
	pthread_t thread;
	atomic_int stop;
	atomic_long hits, misses;
};

static void *poker_main(void *arg)
{
	struct poker *k = arg;
	struct gpc_guard g;

	while (!atomic_load(&k->stop)) {
		volatile uint64_t *p = gpc_cache_begin(k->c, 0, 8, &g);

		if (p) {
			*p = 0x706f6b65ull;
			gpc_cache_end(k->c, &g);
			atomic_fetch_add(&k->hits, 1);
		} else {
			atomic_fetch_add(&k->misses, 1);
		}
		sched_yield();
	}
	return NULL;
}

static void poker_start(struct poker *k, struct gpc_cache *c)
{
	memset(k, 0, sizeof(*k));
	k->c = c;
	assert_int_equal(pthread_create(&k->thread, NULL, poker_main, k), 0);
}

static void poker_stop(struct poker *k)
{
	atomic_store(&k->stop, 1);
	pthread_join(k->thread, NULL);
}

/*
 * Deactivate arrives while refresh is in stage 2 (its lock dropped, parked
 * after translate+map). Refresh and deactivate are serialized by the
 * cache's refresh mutex: deactivate must wait, then turn the published
 * cache inactive and invalid in one step, and only then release the
 * mapping. At no point is the cache valid but inactive.
 */
static void r10_deactivate_waits_for_refresh(struct tvm *t, struct gpc_cache *c)
{
	struct tstop *s1, *s2;
	struct gpc_guard g;
	struct tbg rb, db;

	/* stale (same page): the refresh has stages to run */
	bump_generation(t);
	s1 = tstop_arm(t, GPC_HOOK_REFRESH_TRANSLATED, c);
	tbg_start(&rb, bg_refresh, c);
	assert_true(tstop_wait(s1));
	/* valid was cleared before the lock was dropped */
	assert_false(gpc_cache_check(c, 0, 8));
	assert_true(gpc_cache_is_active(c));
	tbg_start(&db, bg_deactivate, c);
	/* serialized behind the refresh: it cannot complete meanwhile */
	assert_false(tbg_done_within(&db, 50));
	assert_true(gpc_cache_is_active(c));
	s2 = tstop_arm(t, GPC_HOOK_DEACTIVATE, c);
	tstop_release(s1);
	/* the refresh started on an active cache: it publishes */
	assert_int_equal(tbg_join(&rb), 0);
	assert_true(tstop_wait(s2));
	/* deactivate: inactive and invalid, mapping not released yet */
	assert_false(gpc_cache_is_active(c));
	assert_false(gpc_cache_check(c, 0, 8));
	assert_null(gpc_cache_begin(c, 0, 8, &g));
	assert_int_equal(live_maps(t), 1);
	tstop_release(s2);
	assert_int_equal(tbg_join(&db), 0);
	assert_false(gpc_cache_is_active(c));
	assert_false(gpc_cache_check(c, 0, 8));
	assert_int_equal(live_maps(t), 0);
	/* a late slow path cannot bring it back */
	assert_int_equal(gpc_cache_refresh(c, 0), -EINVAL);
	assert_false(gpc_cache_check(c, 0, 8));
	assert_int_equal(live_maps(t), 0);
}

/*
 * The other order: deactivate is parked after marking the cache inactive
 * and invalid (before it quiesces and unmaps), and a missed fast path's
 * slow path calls refresh. The refresh waits for deactivate, then fails
 * with -EINVAL and leaves the cache invalid and unmapped.
 */
static void r10_refresh_waits_for_deactivate(struct tvm *t, struct gpc_cache *c,
					     uint64_t gpa)
{
	struct tstop *s;
	struct tbg rb, db;

	assert_int_equal(gpc_cache_activate_gpa(c, gpa, 64), 0);
	s = tstop_arm(t, GPC_HOOK_DEACTIVATE, c);
	tbg_start(&db, bg_deactivate, c);
	assert_true(tstop_wait(s));
	tbg_start(&rb, bg_refresh, c);
	assert_false(tbg_done_within(&rb, 50));
	assert_false(gpc_cache_check(c, 0, 8));
	tstop_release(s);
	assert_int_equal(tbg_join(&db), 0);
	assert_int_equal(tbg_join(&rb), -EINVAL);
	assert_false(gpc_cache_is_active(c));
	assert_false(gpc_cache_check(c, 0, 8));
	assert_int_equal(live_maps(t), 0);
	/* and the cache is still usable afterwards */
	assert_int_equal(gpc_cache_activate_gpa(c, gpa, 64), 0);
	assert_true(gpc_cache_check(c, 0, 64));
	assert_int_equal(gpc_cache_deactivate(c), 0);
	assert_int_equal(live_maps(t), 0);
}

static void r10_one(void **state, enum tvm_stage st)
{
	uint64_t gpa = page_gpa(2) + 64;
	struct gpc_cache c;
	struct poker k;
	struct tvm t;

	vm_up(&t, state, st);
	cache_up(&t, &c);
	assert_int_equal(gpc_cache_activate_gpa(&c, gpa, 64), 0);
	poker_start(&k, &c);
	r10_deactivate_waits_for_refresh(&t, &c);
	r10_refresh_waits_for_deactivate(&t, &c, gpa);
	poker_stop(&k);
	assert_int_equal(gpc_cache_destroy(&c), 0);
	vm_down(&t);
}

static void r10_deactivate_during_refresh(void **state)
{
	test_watchdog_arm(30, "r10_deactivate_during_refresh");
	r10_one(state, TVM_DIRECT);
	r10_one(state, TVM_ALIAS);
	test_watchdog_disarm();
}

/* ---- R11: slow paths under a caller's lock ------------------------------- */

/*
 * The lock-order rule checked here (include/gpc/vm.h: the library's locks
 * are leaves with respect to the caller's):
 *
 *   A caller may hold its own lock L across any slow-path call - refresh,
 *   read, write, activate, deactivate, range_start/range_end, memslot
 *   changes - even while another thread sits inside a library callback
 *   that waits for L, because a callback runs with no library lock held
 *   that those calls need. The exceptions, which the test respects:
 *    - a hook called from refresh/activate/deactivate of cache X runs with
 *      X's refresh mutex held: L's holder must not refresh, activate or
 *      deactivate X itself;
 *    - a hook called from an invalidation of range R runs while R is in
 *      progress: L's holder must not refresh a cache overlapping R (it
 *      would sleep until R ends);
 *    - a kick callback runs under the vm's index lock, possibly from a
 *      signal handler: it must not block at all, so it may only try L.
 *      (A vCPU thread may of course take L on its way out of guest mode.)
 *   Callbacks may themselves use the fast path of any cache: a hook called
 *   from refresh of X calls gpc_cache_begin() on another cache.
 */
struct r11 {
	struct tvm *t;
	struct gpc_cache a, b, g;
	uint64_t gpa_a, gpa_b, gpa_g;
	void *spare;	   /* one page for a memslot created under L */
	pthread_mutex_t m; /* the caller's lock, "L" */
	/* the hook that takes L */
	enum gpc_hook_point point;
	struct gpc_cache *hook_cache;
	atomic_int armed, in_hook, hook_done, begin_hit;
	/* the vCPU whose exit path takes L */
	struct gpc_vcpu *v;
	atomic_int kicked, kick_busy, in_guest, vcpu_locked, vcpu_err;
};

/* A library callback that needs the caller's lock (held by the other thread). */
static void r11_hook_body(struct r11 *x)
{
	struct gpc_guard g;
	volatile uint64_t *p = gpc_cache_begin(&x->a, 0, 8, &g);

	if (p) {
		*p = 0x11;
		gpc_cache_end(&x->a, &g);
		atomic_store(&x->begin_hit, 1);
	}
	atomic_store(&x->in_hook, 1);
	pthread_mutex_lock(&x->m);
	pthread_mutex_unlock(&x->m);
	atomic_store(&x->hook_done, 1);
}

static void r11_hook(struct gpc_vm *vm, enum gpc_hook_point point,
		     struct gpc_cache *c, void *ctx)
{
	struct r11 *x = ctx;
	int one = 1;

	if (point == x->point && (!x->hook_cache || c == x->hook_cache) &&
	    atomic_compare_exchange_strong(&x->armed, &one, 0)) {
		r11_hook_body(x);
		return;
	}
	tvm_hook(vm, point, c, x->t);
}

static void r11_arm(struct r11 *x, enum gpc_hook_point point,
		    struct gpc_cache *c)
{
	x->point = point;
	x->hook_cache = c;
	atomic_store(&x->in_hook, 0);
	atomic_store(&x->hook_done, 0);
	atomic_store(&x->begin_hit, 0);
	atomic_store(&x->armed, 1);
}

/*
 * Everything a slow path might do, from the thread that holds L, while the
 * other thread is inside the library waiting for L. None of it may wait
 * for that thread. @blocked says whether it is still waiting.
 */
static void r11_work_under_lock(struct r11 *x, atomic_int *blocked_done)
{
	struct gpc_vm *vm = x->t->vm;
	uint64_t hva = tvm_hva(x->t, x->gpa_a) & ~(pg - 1);
	uint64_t v = 0x1234567, r = 0;

	/* a memslot change that makes a stale: a refresh that re-translates,
	 * then one that finds a valid and leaves it alone */
	bump_generation(x->t);
	assert_int_equal(gpc_cache_refresh(&x->a, 0), 0);
	assert_int_equal(gpc_cache_refresh(&x->a, 0), 0);
	assert_int_equal(gpc_cache_write(&x->a, 0, &v, 8), 0);
	assert_int_equal(gpc_cache_read(&x->a, 0, &r, 8), 0);
	assert_true(r == v);
	assert_int_equal(gpc_invalidate_range_start(vm, hva, hva + pg, 0), 0);
	assert_int_equal(gpc_invalidate_range_end(vm, hva, hva + pg), 0);
	assert_int_equal(gpc_cache_read(&x->a, 0, &r, 8), 0);
	assert_true(r == v);
	assert_int_equal(gpc_cache_deactivate(&x->a), 0);
	assert_int_equal(gpc_cache_activate_gpa(&x->a, x->gpa_a, 64), 0);
	assert_int_equal(gpc_memslot_create(vm, 1, 0x10000000, pg,
					    (uintptr_t)x->spare, 0),
			 0);
	assert_int_equal(gpc_memslot_delete(vm, 1), 0);
	assert_int_equal(gpc_cache_refresh(&x->a, 0), 0);
	/* all of it while the other thread still waits for L */
	assert_false(atomic_load(blocked_done));
}

/* A hook from refresh of b (b's refresh mutex held) waits for L. */
static void r11_hook_in_refresh(struct r11 *x)
{
	uint64_t hva = tvm_hva(x->t, x->gpa_b) & ~(pg - 1);
	struct tbg rb;

	/*
	 * b is valid, and a refresh would leave it alone: a (no-op)
	 * invalidation of its page only makes it invalid, so that its
	 * refresh runs its stages - and calls the hook. a and g stay valid.
	 */
	assert_int_equal(gpc_invalidate_range_start(x->t->vm, hva, hva + pg, 0),
			 0);
	assert_int_equal(gpc_invalidate_range_end(x->t->vm, hva, hva + pg), 0);
	assert_false(gpc_cache_check(&x->b, 0, 8));
	r11_arm(x, GPC_HOOK_REFRESH_TRANSLATED, &x->b);
	pthread_mutex_lock(&x->m);
	tbg_start(&rb, bg_refresh, &x->b);
	assert_true(test_wait_flag(&x->in_hook, TEST_PROMPT_MS));
	/* the hook used another cache's fast path from inside refresh */
	assert_true(atomic_load(&x->begin_hit));
	r11_work_under_lock(x, &x->hook_done);
	pthread_mutex_unlock(&x->m);
	assert_int_equal(tbg_join(&rb), 0);
	assert_true(atomic_load(&x->hook_done));
}

/* A hook from an invalidation of b's page (in progress) waits for L. */
static void r11_hook_in_invalidation(struct r11 *x)
{
	uint64_t hva = tvm_hva(x->t, x->gpa_b) & ~(pg - 1);
	struct inval_arg ia = { x->t->vm, hva, hva + pg };
	struct tbg ib;

	r11_arm(x, GPC_HOOK_INVAL_CLEARED, NULL);
	pthread_mutex_lock(&x->m);
	tbg_start(&ib, bg_invalidate, &ia);
	assert_true(test_wait_flag(&x->in_hook, TEST_PROMPT_MS));
	assert_true(atomic_load(&x->begin_hit));
	assert_false(gpc_cache_check(&x->b, 0, 8));
	r11_work_under_lock(x, &x->hook_done);
	pthread_mutex_unlock(&x->m);
	assert_int_equal(tbg_join(&ib), 0);
	assert_true(atomic_load(&x->hook_done));
	assert_int_equal(gpc_cache_refresh(&x->b, 0), 0);
}

/* Must not block: it runs under the vm's index lock. */
static void r11_kick(struct gpc_vcpu *v, void *ctx)
{
	struct r11 *x = ctx;

	(void)v;
	if (pthread_mutex_trylock(&x->m) == 0)
		pthread_mutex_unlock(&x->m);
	else
		atomic_store(&x->kick_busy, 1);
	atomic_store(&x->kicked, 1);
}

/* A vCPU that stays in guest mode until kicked, then takes L to exit. */
static void *r11_vcpu_main(void *arg)
{
	struct r11 *x = arg;
	int err;

	while ((err = gpc_vcpu_enter_guest(x->v)) == -EAGAIN) {
		err = gpc_vcpu_handle_requests(x->v);
		if (err < 0)
			break;
	}
	if (err) {
		atomic_store(&x->vcpu_err, err);
		return NULL;
	}
	atomic_store(&x->in_guest, 1);
	while (!atomic_load(&x->kicked))
		test_sleep_ms(1);
	pthread_mutex_lock(&x->m);
	atomic_store(&x->vcpu_locked, 1);
	pthread_mutex_unlock(&x->m);
	gpc_vcpu_exit_guest(x->v);
	return NULL;
}

/*
 * An invalidation of the guest cache's page kicks the vCPU and waits for it
 * to leave guest mode; the vCPU waits for L; L's holder goes on with its
 * slow paths (unrelated ranges), which must not wait for either of them.
 */
static void r11_kick_under_lock(struct r11 *x)
{
	uint64_t hva = tvm_hva(x->t, x->gpa_g) & ~(pg - 1);
	struct inval_arg ia = { x->t->vm, hva, hva + pg };
	pthread_t vt;
	struct tbg ib;

	pthread_mutex_lock(&x->m);
	assert_int_equal(pthread_create(&vt, NULL, r11_vcpu_main, x), 0);
	assert_true(test_wait_flag(&x->in_guest, TEST_PROMPT_MS));
	tbg_start(&ib, bg_invalidate, &ia);
	assert_true(test_wait_flag(&x->kicked, TEST_PROMPT_MS));
	/* the kick ran while we held L, and did not block on it */
	assert_true(atomic_load(&x->kick_busy));
	assert_false(tbg_done_within(&ib, 50));
	r11_work_under_lock(x, &x->vcpu_locked);
	assert_false(atomic_load(&ib.done));
	pthread_mutex_unlock(&x->m);
	assert_int_equal(tbg_join(&ib), 0);
	pthread_join(vt, NULL);
	assert_int_equal(atomic_load(&x->vcpu_err), 0);
	assert_true(atomic_load(&x->vcpu_locked));
}

static void r11_slow_path_under_caller_lock(void **state)
{
	struct tvm t;
	struct r11 *x = calloc(1, sizeof(*x));

	assert_non_null(x);
	test_watchdog_arm(30, "r11_slow_path_under_caller_lock (deadlock?)");
	vm_up(&t, state, TVM_DIRECT);
	x->t = &t;
	pthread_mutex_init(&x->m, NULL);
	x->spare = alloc_region(&t, pg);
	x->gpa_a = page_gpa(3);
	x->gpa_b = page_gpa(5);
	x->gpa_g = page_gpa(7);
	assert_int_equal(gpc_vm_set_hook(t.vm, r11_hook, x), 0);
	assert_int_equal(gpc_vcpu_create(t.vm, r11_kick, x, &x->v), 0);
	cache_up(&t, &x->a);
	cache_up(&t, &x->b);
	assert_int_equal(gpc_cache_init(&x->g, t.vm, GPC_USAGE_GUEST, x->v, 0),
			 0);
	assert_int_equal(gpc_cache_activate_gpa(&x->a, x->gpa_a, 64), 0);
	assert_int_equal(gpc_cache_activate_gpa(&x->b, x->gpa_b, 64), 0);
	assert_int_equal(gpc_cache_activate_gpa(&x->g, x->gpa_g, 64), 0);

	r11_hook_in_refresh(x);
	r11_hook_in_invalidation(x);
	r11_kick_under_lock(x);

	assert_int_equal(gpc_cache_destroy(&x->a), 0);
	assert_int_equal(gpc_cache_destroy(&x->b), 0);
	assert_int_equal(gpc_cache_destroy(&x->g), 0);
	assert_int_equal(gpc_vcpu_destroy(x->v), 0);
	vm_down(&t);
	pthread_mutex_destroy(&x->m);
	free(x);
	test_watchdog_disarm();
}

/* ---- R12: refresh under a stream of invalidations ------------------------ */

/* Invalidations of fixed ranges, back to back, until told to stop. */
struct storm {
	struct gpc_vm *vm;
	uint64_t range[4][2];
	int nranges;
	atomic_int stop;
	atomic_long count;
	atomic_int err;
};

static int storm_unrelated_main(void *arg)
{
	struct storm *s = arg;

	while (!atomic_load(&s->stop)) {
		for (int i = 0; i < s->nranges; i++) {
			uint64_t a = s->range[i][0], b = s->range[i][1];
			int err = gpc_invalidate_range_start(s->vm, a, b, 0);

			if (!err)
				err = gpc_invalidate_range_end(s->vm, a, b);
			if (err) {
				atomic_store(&s->err, err);
				return err;
			}
			atomic_fetch_add(&s->count, 1);
		}
	}
	return 0;
}

static bool wait_count(atomic_long *n, long target)
{
	uint64_t end = test_now_ns() + TEST_PROMPT_MS * 1000000ull;

	while (atomic_load(n) < target) {
		if (test_now_ns() > end)
			return false;
		sched_yield();
	}
	return true;
}

/*
 * A refresh parked at @point while unrelated invalidations run, one of
 * them still in progress when it goes on: it completes at once.
 */
static void r12_parked_refresh(struct tvm *t, struct gpc_cache *c,
			       struct storm *s, enum gpc_hook_point point)
{
	uint64_t far = tvm_hva(t, page_gpa(40));
	struct tstop *st;
	struct tbg rb;

	/* stale (same page): the refresh reaches @point */
	bump_generation(t);
	st = tstop_arm(t, point, c);
	tbg_start(&rb, bg_refresh, c);
	assert_true(tstop_wait(st));
	assert_int_equal(gpc_invalidate_range_start(t->vm, far, far + pg, 0),
			 0);
	assert_true(wait_count(&s->count,
			       atomic_load(&s->count) + test_iters(100)));
	tstop_release(st);
	assert_true(tbg_done_within(&rb, TEST_PROMPT_MS));
	assert_int_equal(tbg_join(&rb), 0);
	assert_int_equal(gpc_invalidate_range_end(t->vm, far, far + pg), 0);
	assert_true(gpc_cache_check(c, 0, pg));
}

/* Refreshes of c while the unrelated storm runs. */
#define R12_REFRESHES test_iters(3000)

static void r12_refresh_unrelated_storm(void **state)
{
	struct gpc_cache c, d;
	struct gpc_cache_stats c0, c1, d1;
	struct storm s = { 0 };
	struct tbg sb;
	struct tvm t;
	uint64_t hc, hd;

	test_watchdog_arm(30, "r12_refresh_unrelated_storm");
	vm_up(&t, state, TVM_DIRECT);
	cache_up(&t, &c);
	cache_up(&t, &d);
	/* c covers exactly page 10; d is another cache the storm hits */
	assert_int_equal(gpc_cache_activate_gpa(&c, page_gpa(10), pg), 0);
	assert_int_equal(gpc_cache_activate_gpa(&d, page_gpa(20), 64), 0);
	hc = tvm_hva(&t, page_gpa(10));
	hd = tvm_hva(&t, page_gpa(20));
	s.vm = t.vm;
	/* d's page, the pages right below and above c, a cacheless range */
	s.range[0][0] = hd, s.range[0][1] = hd + pg;
	s.range[1][0] = hc - pg, s.range[1][1] = hc;
	s.range[2][0] = hc + pg, s.range[2][1] = hc + 2 * pg;
	s.range[3][0] = hc + 30 * pg, s.range[3][1] = hc + 34 * pg;
	s.nranges = 4;
	c0 = cstats(&c);
	tbg_start(&sb, storm_unrelated_main, &s);
	assert_true(wait_count(&s.count, 50));

	/* each refresh follows a generation bump, so each one translates */
	for (long i = 0; i < R12_REFRESHES; i++) {
		bump_generation(&t);
		assert_int_equal(gpc_cache_refresh(&c, 0), 0);
	}
	r12_parked_refresh(&t, &c, &s, GPC_HOOK_REFRESH_UNLOCKED);
	r12_parked_refresh(&t, &c, &s, GPC_HOOK_REFRESH_TRANSLATED);
	r12_parked_refresh(&t, &c, &s, GPC_HOOK_REFRESH_PUBLISH);

	atomic_store(&s.stop, 1);
	assert_int_equal(tbg_join(&sb), 0);
	c1 = cstats(&c);
	d1 = cstats(&d);
	print_message("r12: %lu refreshes, %lu retries, %lu waits during %ld "
		      "unrelated invalidations\n",
		      (unsigned long)(c1.refreshes - c0.refreshes),
		      (unsigned long)(c1.refresh_retries - c0.refresh_retries),
		      (unsigned long)(c1.refresh_waits - c0.refresh_waits),
		      atomic_load(&s.count));
	/* the storm never touched c, so nothing made its refreshes go round */
	assert_int_equal(c1.refresh_retries - c0.refresh_retries, 0);
	assert_int_equal(c1.refresh_waits - c0.refresh_waits, 0);
	assert_int_equal(c1.invalidations - c0.invalidations, 0);
	assert_int_equal(c1.refreshes - c0.refreshes,
			 (uint64_t)R12_REFRESHES + 3);
	/* ...but it did invalidate a real cache all along */
	assert_true(d1.invalidations > 0);
	assert_true(atomic_load(&s.count) >= 50 + 3 * test_iters(100));
	assert_int_equal(gpc_cache_destroy(&c), 0);
	assert_int_equal(gpc_cache_destroy(&d), 0);
	vm_down(&t);
	test_watchdog_disarm();
}

/*
 * An unrelated invalidation caught after claiming its in-progress entry
 * and counting itself in ninflight, but before publishing its range
 * (inflight_add() in src/invalidate.c: state 1).
 * No hook exists there, so a signal handler parks the storm thread when
 * it finds such an entry: signals go to the storm thread until one lands
 * in that window (only the storm thread invalidates meanwhile, and it holds
 * no lock and has signals unblocked there). Then a refresh of c - whose
 * range the invalidation does not overlap - must complete at once.
 */
struct regpark {
	struct gpc_vm *vm;
	atomic_int caught, release;
	long signals;
};

static _Atomic(struct regpark *) regpark_cur;

/* Claimed and counted in ninflight, range not yet published. */
static bool inflight_registering(struct gpc_vm *vm)
{
	if (!atomic_load(&vm->inv.ninflight))
		return false;
	for (int i = 0; i < GPC_INVAL_MAX_INFLIGHT; i++)
		if (atomic_load(&vm->inv.inflight[i].state) == 1)
			return true;
	return false;
}

static void regpark_handler(int sig)
{
	struct regpark *p = atomic_load(&regpark_cur);
	int saved = errno;

	(void)sig;
	if (p && !atomic_load(&p->caught) && inflight_registering(p->vm)) {
		atomic_store(&p->caught, 1);
		while (!atomic_load(&p->release))
			test_sleep_ms(1);
	}
	errno = saved;
}

static cpu_set_t saved_cpus;

/* The calling thread on one CPU, @other on another, if there are two. */
static void pin_apart(pthread_t other)
{
	cpu_set_t a, b;
	int cpus[2], n = 0;

	sched_getaffinity(0, sizeof(saved_cpus), &saved_cpus);
	for (int i = 0; i < CPU_SETSIZE && n < 2; i++)
		if (CPU_ISSET(i, &saved_cpus))
			cpus[n++] = i;
	if (n < 2)
		return;
	CPU_ZERO(&a);
	CPU_ZERO(&b);
	CPU_SET(cpus[0], &a);
	CPU_SET(cpus[1], &b);
	pthread_setaffinity_np(pthread_self(), sizeof(a), &a);
	pthread_setaffinity_np(other, sizeof(b), &b);
}

static void unpin(void)
{
	pthread_setaffinity_np(pthread_self(), sizeof(saved_cpus), &saved_cpus);
}

/* Signal the storm thread until it is parked inside its registration. */
static bool regpark_catch(struct regpark *p, pthread_t storm)
{
	uint64_t end = test_now_ns() + 4000000000ull;
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = regpark_handler;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	assert_int_equal(sigaction(SIGUSR2, &sa, NULL), 0);
	atomic_store(&regpark_cur, p);
	/*
	 * On different CPUs a signal interrupts the storm thread at a random
	 * instruction (an IPI), rather than where it was last preempted.
	 */
	pin_apart(storm);
	while (!atomic_load(&p->caught) && test_now_ns() < end) {
		p->signals++;
		pthread_kill(storm, SIGUSR2);
		/* Reading the entry keeps its cache line here, which slows
		 * the storm thread's store that ends the window. */
		for (int i = 0; i < 200 && !atomic_load(&p->caught); i++)
			(void)atomic_load(&p->vm->inv.inflight[0].state);
	}
	unpin();
	return atomic_load(&p->caught);
}

static void r12_refresh_unrelated_registering(void **state)
{
	struct regpark rp = { 0 };
	struct storm s = { 0 };
	struct gpc_cache_stats st0, st1;
	struct gpc_cache c;
	struct tbg sb, rb;
	struct tvm t;
	uint64_t far, t0;
	bool prompt, caught;

	test_watchdog_arm(30, "r12_refresh_unrelated_registering");
	vm_up(&t, state, TVM_DIRECT);
	cache_up(&t, &c);
	assert_int_equal(gpc_cache_activate_gpa(&c, page_gpa(10), pg), 0);
	/* stale (same page), so that the refresh below runs its stages */
	bump_generation(&t);
	far = tvm_hva(&t, page_gpa(40));
	s.vm = rp.vm = t.vm;
	s.range[0][0] = far, s.range[0][1] = far + pg;
	s.nranges = 1;
	tbg_start(&sb, storm_unrelated_main, &s);
	t0 = test_now_ns();
	caught = regpark_catch(&rp, sb.thread);
	print_message("r12: %s after %ld signals, %.2f s\n",
		      caught ? "caught" : "not caught", rp.signals,
		      (test_now_ns() - t0) / 1e9);
	if (!caught) {
		/* e.g. TSan delivers signals only at its own safe points */
		atomic_store(&rp.release, 1);
		atomic_store(&s.stop, 1);
		tbg_join(&sb);
		assert_int_equal(gpc_cache_destroy(&c), 0);
		vm_down(&t);
		test_watchdog_disarm();
		skip();
	}
	st0 = cstats(&c);
	tbg_start(&rb, bg_refresh, &c);
	prompt = tbg_done_within(&rb, 200);
	atomic_store(&rp.release, 1);
	assert_int_equal(tbg_join(&rb), 0);
	atomic_store(&s.stop, 1);
	assert_int_equal(tbg_join(&sb), 0);
	atomic_store(&regpark_cur, NULL);
	st1 = cstats(&c);
	print_message(
		"r12: refresh beside a registering unrelated "
		"invalidation: %s, %lu retries, %lu waits\n",
		prompt ? "prompt" : "waited for it",
		(unsigned long)(st1.refresh_retries - st0.refresh_retries),
		(unsigned long)(st1.refresh_waits - st0.refresh_waits));
	assert_true(prompt);
	assert_int_equal(st1.refreshes - st0.refreshes, 1);
	assert_int_equal(st1.refresh_retries - st0.refresh_retries, 0);
	assert_int_equal(gpc_cache_destroy(&c), 0);
	vm_down(&t);
	test_watchdog_disarm();
}

/*
 * Overlapping invalidations, chained so that one is always in progress
 * during a burst (the next starts before the previous ends); between
 * bursts none is. A refresh that meets the burst must sleep until the
 * pause, not spin through retries.
 */
struct ostorm {
	struct gpc_vm *vm;
	uint64_t hva;
	atomic_int burst, stop, paused;
	atomic_long count;
	atomic_int err;
};

static int ostorm_pair(struct ostorm *s, uint64_t a0, uint64_t a1, uint64_t b0,
		       uint64_t b1)
{
	/* b starts while a is in progress, then a ends */
	int err = gpc_invalidate_range_start(s->vm, b0, b1, 0);

	if (!err)
		err = gpc_invalidate_range_end(s->vm, a0, a1);
	if (!err)
		atomic_fetch_add(&s->count, 1);
	return err;
}

static int ostorm_burst(struct ostorm *s)
{
	uint64_t a0 = s->hva, a1 = s->hva + pg, b1 = s->hva + 2 * pg;
	int err = gpc_invalidate_range_start(s->vm, a0, a1, 0);

	while (!err && atomic_load(&s->burst) && !atomic_load(&s->stop)) {
		err = ostorm_pair(s, a0, a1, a0, b1);
		if (!err)
			err = ostorm_pair(s, a0, b1, a0, a1);
	}
	if (!err)
		err = gpc_invalidate_range_end(s->vm, a0, a1);
	if (!err)
		atomic_fetch_add(&s->count, 1);
	return err;
}

static int ostorm_main(void *arg)
{
	struct ostorm *s = arg;
	int err = 0;

	while (!err && !atomic_load(&s->stop)) {
		if (!atomic_load(&s->burst)) {
			atomic_store(&s->paused, 1);
			test_sleep_ms(1);
			continue;
		}
		atomic_store(&s->paused, 0);
		err = ostorm_burst(s);
	}
	atomic_store(&s->err, err);
	return err;
}

/* Invalidations that must go by while the refresh sleeps. */
#define R12_MIN_DURING 200

/* Poll until the refresh is counted asleep (or give up). */
static bool wait_refresh_waits(struct gpc_cache *c, uint64_t base)
{
	uint64_t end = test_now_ns() + TEST_PROMPT_MS * 1000000ull;

	while (cstats(c).refresh_waits <= base) {
		if (test_now_ns() > end)
			return false;
		test_sleep_ms(1);
	}
	return true;
}

static void r12_one_burst(struct gpc_cache *c, struct ostorm *s)
{
	struct gpc_cache_stats st0 = cstats(c), st1;
	long n0, n1, during;
	struct tbg rb;

	atomic_store(&s->paused, 0);
	atomic_store(&s->burst, 1);
	n0 = atomic_load(&s->count);
	assert_true(wait_count(&s->count, n0 + 20));
	tbg_start(&rb, bg_refresh, c);
	assert_false(tbg_done_within(&rb, 50));
	assert_true(wait_refresh_waits(c, st0.refresh_waits));
	/* many invalidations go by while the refresh sleeps */
	n1 = atomic_load(&s->count);
	assert_true(wait_count(&s->count, n1 + R12_MIN_DURING));
	assert_false(atomic_load(&rb.done));
	atomic_store(&s->burst, 0);
	assert_true(test_wait_flag(&s->paused, TEST_PROMPT_MS));
	during = atomic_load(&s->count) - n1;
	assert_true(tbg_done_within(&rb, TEST_PROMPT_MS));
	assert_int_equal(tbg_join(&rb), 0);
	st1 = cstats(c);
	/* it slept, and went round a handful of times, not once per
	 * invalidation */
	assert_true(st1.refresh_waits > st0.refresh_waits);
	assert_true(st1.refresh_retries - st0.refresh_retries <= 4);
	assert_true((st1.refresh_retries - st0.refresh_retries) * 40 <
		    (uint64_t)during);
	assert_true(gpc_cache_check(c, 0, pg));
}

static void r12_refresh_overlapping_storm_waits(void **state)
{
	struct ostorm s = { 0 };
	struct gpc_cache c;
	struct tbg sb;
	struct tvm t;

	test_watchdog_arm(40, "r12_refresh_overlapping_storm_waits");
	vm_up(&t, state, TVM_DIRECT);
	cache_up(&t, &c);
	assert_int_equal(gpc_cache_activate_gpa(&c, page_gpa(10), pg), 0);
	s.vm = t.vm;
	s.hva = tvm_hva(&t, page_gpa(10));
	tbg_start(&sb, ostorm_main, &s);
	/* two bursts with a pause between them */
	r12_one_burst(&c, &s);
	r12_one_burst(&c, &s);
	atomic_store(&s.stop, 1);
	assert_int_equal(tbg_join(&sb), 0);
	assert_int_equal(atomic_load(&s.err), 0);
	assert_int_equal(gpc_cache_destroy(&c), 0);
	vm_down(&t);
	test_watchdog_disarm();
}

/* ---- R13: interrupt-like readers meet a writer --------------------------- */

/* One read attempt in a signal handler, on the thread the signal hits. */
struct sigreq {
	struct gpc_cache *c;
	bool try_only;
	atomic_int done, hit;
};

static _Atomic(struct sigreq *) sig_req;

static void r13_handler(int sig)
{
	struct sigreq *q = atomic_load(&sig_req);
	struct gpc_guard g;
	volatile uint64_t *p;
	int saved = errno;

	(void)sig;
	if (!q)
		return;
	p = q->try_only ? gpc_cache_try_begin(q->c, 0, 8, &g) :
			  gpc_cache_begin(q->c, 0, 8, &g);
	if (p) {
		*p = 0x5151;
		gpc_cache_end(q->c, &g);
	}
	atomic_store(&q->hit, p != NULL);
	atomic_store(&q->done, 1);
	errno = saved;
}

static void r13_install_handler(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = r13_handler;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	assert_int_equal(sigaction(SIGUSR1, &sa, NULL), 0);
}

/*
 * Run a read attempt in a signal handler on @th; false if the handler did
 * not come back (it blocked). *@hit tells whether it got the cache.
 */
static bool sig_read(pthread_t th, struct gpc_cache *c, bool try_only, int *hit)
{
	struct sigreq *q = calloc(1, sizeof(*q)); /* leaked if it hangs */
	bool ok;

	q->c = c;
	q->try_only = try_only;
	atomic_store(&sig_req, q);
	pthread_kill(th, SIGUSR1);
	ok = test_wait_flag(&q->done, TEST_PROMPT_MS);
	if (ok) {
		*hit = atomic_load(&q->hit);
		atomic_store(&sig_req, NULL);
		free(q);
	}
	return ok;
}

/* A thread that only sleeps, for signals to land on. */
struct sleeper {
	pthread_t thread;
	atomic_int stop;
};

static void *sleeper_main(void *arg)
{
	struct sleeper *s = arg;

	while (!atomic_load(&s->stop))
		test_sleep_ms(1);
	return NULL;
}

static void sleeper_start(struct sleeper *s)
{
	memset(s, 0, sizeof(*s));
	assert_int_equal(pthread_create(&s->thread, NULL, sleeper_main, s), 0);
}

static void sleeper_stop(struct sleeper *s)
{
	atomic_store(&s->stop, 1);
	pthread_join(s->thread, NULL);
}

/*
 * A writer inside its write section, for as long as the test likes: a
 * writer preempted (or stopped) there. The library's own write sections are
 * short and have no hook inside, so the test enters one by hand: the write
 * lock on the rwlock scheme, an odd seqcount on the srcu scheme (readers of
 * that scheme never look at the writers' mutex).
 */
static void writer_enter(struct gpc_cache *c)
{
	if (c->scheme == GPC_SCHEME_RWLOCK)
		assert_int_equal(pthread_rwlock_wrlock(&c->rw), 0);
	else
		gpc_seqcount_write_begin(&c->seq);
}

static void writer_leave(struct gpc_cache *c)
{
	if (c->scheme == GPC_SCHEME_RWLOCK)
		pthread_rwlock_unlock(&c->rw);
	else
		gpc_seqcount_write_end(&c->seq);
}

static int bg_try_loop(void *arg)
{
	struct gpc_cache *c = arg;
	struct gpc_guard g;
	int hits = 0;

	for (long i = 0; i < test_iters(1000); i++) {
		void *p = gpc_cache_try_begin(c, 0, 8, &g);

		if (p) {
			hits++;
			gpc_cache_end(c, &g);
		}
	}
	return hits;
}

static int bg_begin_once(void *arg)
{
	struct gpc_cache *c = arg;
	struct gpc_guard g;
	void *p = gpc_cache_begin(c, 0, 8, &g);

	if (!p)
		return 0;
	gpc_cache_end(c, &g);
	return 1;
}

/*
 * rwlock: a reader in interrupt-like context must use try_begin, which
 * reports a writer as a miss (the limitation made visible), and never
 * hangs - not even on the writer's own thread. Plain begin waits behind
 * the writer: that is the scheme's limitation. srcu: both forms miss at
 * once while the write section is open.
 */
static void r13_rwlock_trylock_miss_not_hang(void **state)
{
	bool rw = scheme_of(state) == GPC_SCHEME_RWLOCK;
	struct gpc_cache c;
	struct sleeper sl;
	struct tbg tb, bb;
	uint64_t m0;
	struct tvm t;
	int hit = -1;

	test_watchdog_arm(30, "r13_rwlock_trylock_miss_not_hang (hang?)");
	r13_install_handler();
	vm_up(&t, state, TVM_DIRECT);
	cache_up(&t, &c);
	assert_int_equal(gpc_cache_activate_gpa(&c, page_gpa(3), 64), 0);
	sleeper_start(&sl);
	assert_true(sig_read(sl.thread, &c, true, &hit));
	assert_true(hit);
	m0 = cstats(&c).misses;

	writer_enter(&c);
	/* an interrupt on the writer's own thread */
	assert_true(sig_read(pthread_self(), &c, true, &hit));
	assert_false(hit);
	/* an interrupt on another thread */
	assert_true(sig_read(sl.thread, &c, true, &hit));
	assert_false(hit);
	if (!rw) {
		assert_true(sig_read(sl.thread, &c, false, &hit));
		assert_false(hit);
	}
	/* a thread that only tries: all misses, promptly */
	tbg_start(&tb, bg_try_loop, &c);
	assert_true(tbg_done_within(&tb, TEST_PROMPT_MS));
	assert_int_equal(tbg_join(&tb), 0);
	/* plain begin: rwlock readers wait behind the writer; srcu never */
	tbg_start(&bb, bg_begin_once, &c);
	if (rw) {
		assert_false(tbg_done_within(&bb, 50));
	} else {
		assert_true(tbg_done_within(&bb, TEST_PROMPT_MS));
		assert_int_equal(tbg_join(&bb), 0);
	}
	/* every failed try was reported as a miss */
	assert_true(cstats(&c).misses >= m0 + 2 + (uint64_t)test_iters(1000));
	writer_leave(&c);

	if (rw)
		assert_int_equal(tbg_join(&bb), 1);
	assert_true(sig_read(sl.thread, &c, true, &hit));
	assert_true(hit);
	sleeper_stop(&sl);
	assert_int_equal(gpc_cache_destroy(&c), 0);
	vm_down(&t);
	test_watchdog_disarm();
}

/* Holds a read section of a cache until told to leave it. */
struct holder {
	struct gpc_cache *c;
	atomic_int holding, leave, hit;
};

static int holder_main(void *arg)
{
	struct holder *h = arg;
	struct gpc_guard g;
	volatile uint64_t *p = gpc_cache_begin(h->c, 0, 8, &g);

	atomic_store(&h->hit, p != NULL);
	atomic_store(&h->holding, 1);
	if (!p)
		return -1;
	while (!atomic_load(&h->leave))
		test_sleep_ms(1);
	*p = 0x484f4c44ull;
	gpc_cache_end(h->c, &g);
	return 0;
}

/*
 * Interrupt-like readers (signal handlers) on a sleeping thread, on the
 * invalidating thread itself while it waits, and on a thread parked inside
 * refresh. srcu: plain begin never blocks - the invalidated cache is a
 * miss, an unrelated one a hit. rwlock: the same with try_begin (the
 * invalidated cache may still be a hit while the writer waits for the lock).
 */
static void r13_inval_waiting(struct tvm *t, struct gpc_cache *a,
			      struct gpc_cache *b, struct sleeper *sl, bool rw)
{
	uint64_t hva = tvm_hva(t, page_gpa(4));
	struct inval_arg ia = { t->vm, hva, hva + pg };
	struct holder h = { .c = a };
	struct gpc_guard g;
	struct tbg hb, ib;
	int hit = -1;

	tbg_start(&hb, holder_main, &h);
	assert_true(test_wait_flag(&h.holding, TEST_PROMPT_MS));
	assert_true(atomic_load(&h.hit));
	tbg_start(&ib, bg_invalidate, &ia);
	/* it waits for the holder (grace period / write lock) */
	assert_false(tbg_done_within(&ib, 50));
	assert_true(sig_read(sl->thread, a, rw, &hit));
	if (!rw)
		assert_false(hit);
	assert_true(sig_read(sl->thread, b, rw, &hit));
	assert_true(hit);
	/*
	 * On the invalidating thread itself, inside its grace-period wait
	 * (srcu). On the rwlock scheme that thread waits for the write lock
	 * with every signal blocked - the library's guard against a handler
	 * interrupting its own writer - so an interrupt is deferred, not run.
	 */
	if (!rw) {
		assert_true(sig_read(ib.thread, a, false, &hit));
		assert_false(hit);
		assert_true(sig_read(ib.thread, b, false, &hit));
		assert_true(hit);
		assert_null(gpc_cache_begin(a, 0, 8, &g));
	}
	atomic_store(&h.leave, 1);
	assert_int_equal(tbg_join(&hb), 0);
	assert_int_equal(tbg_join(&ib), 0);
}

static void r13_refresh_parked(struct tvm *t, struct gpc_cache *a,
			       struct gpc_cache *b, bool rw)
{
	uint64_t hva = tvm_hva(t, page_gpa(4));
	struct tstop *s;
	struct tbg rb;
	int hit = -1;

	/*
	 * a is valid, and a refresh would leave it alone: an invalidation of
	 * its page (nothing changes) makes it invalid, b stays valid.
	 */
	assert_int_equal(gpc_invalidate_range_start(t->vm, hva, hva + pg, 0),
			 0);
	assert_int_equal(gpc_invalidate_range_end(t->vm, hva, hva + pg), 0);
	s = tstop_arm(t, GPC_HOOK_REFRESH_UNLOCKED, a);
	tbg_start(&rb, bg_refresh, a);
	assert_true(tstop_wait(s));
	/* on the thread that holds a's refresh mutex */
	assert_true(sig_read(rb.thread, a, rw, &hit));
	assert_false(hit);
	assert_true(sig_read(rb.thread, b, rw, &hit));
	assert_true(hit);
	tstop_release(s);
	assert_int_equal(tbg_join(&rb), 0);
	assert_true(gpc_cache_check(a, 0, 8));
}

static void r13_srcu_never_blocks(void **state)
{
	bool rw = scheme_of(state) == GPC_SCHEME_RWLOCK;
	struct gpc_cache a, b;
	struct sleeper sl;
	struct tvm t;

	test_watchdog_arm(30, "r13_srcu_never_blocks (hang?)");
	r13_install_handler();
	vm_up(&t, state, TVM_DIRECT);
	cache_up(&t, &a);
	cache_up(&t, &b);
	assert_int_equal(gpc_cache_activate_gpa(&a, page_gpa(4), 64), 0);
	assert_int_equal(gpc_cache_activate_gpa(&b, page_gpa(6), 64), 0);
	sleeper_start(&sl);
	r13_inval_waiting(&t, &a, &b, &sl, rw);
	assert_int_equal(gpc_cache_refresh(&a, 0), 0);
	r13_refresh_parked(&t, &a, &b, rw);
	sleeper_stop(&sl);
	assert_int_equal(gpc_cache_destroy(&a), 0);
	assert_int_equal(gpc_cache_destroy(&b), 0);
	vm_down(&t);
	test_watchdog_disarm();
}

/* ---- R14: refresh of a cache that was never activated -------------------- */

struct r14_snap {
	struct gpc_cache_stats cs;
	struct gpc_vm_stats vs;
	struct gpc_testmem_counts tc;
	uint64_t seq, gen;
};

static void r14_take(struct tvm *t, struct gpc_cache *c, struct r14_snap *s)
{
	s->cs = cstats(c);
	assert_int_equal(gpc_vm_get_stats(t->vm, &s->vs), 0);
	s->tc = tvm_counts(t);
	s->seq = gpc_invalidate_sequence(t->vm);
	s->gen = gpc_memslot_generation(t->vm);
}

/* Nothing observable changed, and the cache is still inactive and invalid. */
static void r14_same(struct tvm *t, struct gpc_cache *c,
		     const struct r14_snap *s0)
{
	struct r14_snap s1;

	r14_take(t, c, &s1);
	assert_memory_equal(&s0->cs, &s1.cs, sizeof(s1.cs));
	assert_int_equal(s0->vs.refreshes, s1.vs.refreshes);
	assert_int_equal(s0->vs.refresh_retries, s1.vs.refresh_retries);
	assert_int_equal(s0->vs.active_caches, s1.vs.active_caches);
	assert_memory_equal(&s0->tc, &s1.tc, sizeof(s1.tc));
	assert_int_equal(s0->seq, s1.seq);
	assert_int_equal(s0->gen, s1.gen);
	assert_false(gpc_cache_is_active(c));
	assert_false(gpc_cache_check(c, 0, 1));
	assert_null(atomic_load(&c->khva));
}

static void r14_refresh_einval(struct gpc_cache *c)
{
	uint64_t v = 0;

	assert_int_equal(gpc_cache_refresh(c, 0), -EINVAL);
	assert_int_equal(gpc_cache_refresh(c, 8), -EINVAL);
	assert_int_equal(gpc_cache_refresh(c, pg), -EINVAL);
	assert_int_equal(gpc_cache_read(c, 0, &v, 8), -EINVAL);
	assert_int_equal(gpc_cache_write(c, 0, &v, 8), -EINVAL);
}

static void r14_refresh_never_activated(void **state)
{
	struct gpc_cache c, z;
	struct r14_snap s0;
	struct tvm t;
	void *low;

	vm_up(&t, state, TVM_DIRECT);
	/* GPA 0 is real memory here: a refresh that took the zeroed,
	 * page-aligned address of a never-activated cache at face value
	 * would succeed */
	low = alloc_region(&t, 4 * pg);
	assert_int_equal(
		gpc_memslot_create(t.vm, 1, 0, 4 * pg, (uintptr_t)low, 0), 0);
	cache_up(&t, &z);
	assert_int_equal(gpc_cache_activate_gpa(&z, 0, 8), 0);
	assert_int_equal(gpc_cache_destroy(&z), 0);
	test_log_capture();

	cache_up(&t, &c);
	r14_take(&t, &c, &s0);
	r14_refresh_einval(&c);
	r14_same(&t, &c, &s0);
	/* errored activations leave it never activated */
	assert_int_equal(gpc_cache_activate_gpa(&c, 0, 0), -EINVAL);
	assert_int_equal(gpc_cache_activate_gpa(&c, UINT64_MAX - 7, 16),
			 -EINVAL);
	assert_int_equal(gpc_cache_activate_hva(&c, 0, 0), -EINVAL);
	assert_int_equal(gpc_cache_activate_hva(&c, UINT64_MAX & ~(pg - 1),
						2 * pg),
			 -EINVAL);
	r14_refresh_einval(&c);
	r14_same(&t, &c, &s0);
	/* deactivating a never-activated cache is a no-op too */
	assert_int_equal(gpc_cache_deactivate(&c), 0);
	r14_refresh_einval(&c);
	r14_same(&t, &c, &s0);

	if (test_log_count(GPC_LOG_ERR) + test_log_count(GPC_LOG_WARN) +
	    test_log_count(GPC_LOG_INFO))
		test_log_dump();
	assert_int_equal(test_log_count(GPC_LOG_ERR), 0);
	assert_int_equal(test_log_count(GPC_LOG_WARN), 0);
	assert_int_equal(test_log_count(GPC_LOG_INFO), 0);
	assert_int_equal(gpc_cache_destroy(&c), 0);
	assert_int_equal(gpc_memslot_delete(t.vm, 1), 0);
	vm_down(&t);
}

/* ---- R15: HVA-mode cache outside every memslot --------------------------- */

/* Park a thread at one step of the test stage (between translate and map). */
struct tmstop {
	pthread_mutex_t m;
	pthread_cond_t cv;
	enum gpc_testmem_step step;
	atomic_int armed;
	int reached, released;
};

static void tmstop_hook(enum gpc_testmem_step step, uint64_t hva, void *ctx)
{
	struct tmstop *s = ctx;
	int one = 1;

	(void)hva;
	if (step != s->step ||
	    !atomic_compare_exchange_strong(&s->armed, &one, 0))
		return;
	pthread_mutex_lock(&s->m);
	s->reached = 1;
	pthread_cond_broadcast(&s->cv);
	while (!s->released)
		pthread_cond_wait(&s->cv, &s->m);
	pthread_mutex_unlock(&s->m);
}

static bool tmstop_wait(struct tmstop *s)
{
	uint64_t end = test_now_ns() + TEST_PROMPT_MS * 1000000ull;
	bool r;

	for (;;) {
		pthread_mutex_lock(&s->m);
		r = s->reached;
		pthread_mutex_unlock(&s->m);
		if (r || test_now_ns() > end)
			return r;
		test_sleep_ms(1);
	}
}

static void tmstop_release(struct tmstop *s)
{
	pthread_mutex_lock(&s->m);
	s->released = 1;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->m);
}

struct act_arg {
	struct gpc_cache *c;
	uint64_t addr, len;
};

static int bg_activate_hva(void *arg)
{
	struct act_arg *a = arg;

	return gpc_cache_activate_hva(a->c, a->addr, a->len);
}

enum r15_how { R15_ACTIVATE, R15_REFRESH, R15_TESTMEM };

/* Start the refresh of @how and return once it is parked in stage 2. */
static void r15_park(struct tvm *t, struct gpc_cache *c, struct act_arg *aa,
		     enum r15_how how, struct tbg *b, struct tstop **s,
		     struct tmstop *ts)
{
	*s = NULL;
	if (how == R15_TESTMEM) {
		ts->step = GPC_TESTMEM_TRANSLATED;
		atomic_store(&ts->armed, 1);
		t->tm.hook_ctx = ts;
		t->tm.hook = tmstop_hook;
	} else {
		*s = tstop_arm(t, GPC_HOOK_REFRESH_TRANSLATED, c);
	}
	if (how == R15_REFRESH)
		tbg_start(b, bg_refresh, c);
	else
		tbg_start(b, bg_activate_hva, aa);
	if (*s)
		assert_true(tstop_wait(*s));
	else
		assert_true(tmstop_wait(ts));
}

static void r15_one(struct tvm *t, uint8_t *page, enum r15_how how)
{
	uint64_t hva = (uintptr_t)page, m1 = 0x4f4c44, m2 = 0x4e4557, v = 1;
	struct gpc_cache c;
	struct act_arg aa = { &c, hva + 64, 64 };
	struct tmstop ts = { .m = PTHREAD_MUTEX_INITIALIZER,
			     .cv = PTHREAD_COND_INITIALIZER };
	struct tstop *s;
	uint64_t seq0, r0;
	struct tbg b;
	uint8_t *old;

	cache_up(t, &c);
	memcpy(page + 64, &m1, 8);
	if (how == R15_REFRESH) {
		assert_int_equal(gpc_cache_activate_hva(&c, hva + 64, 64), 0);
		/*
		 * Valid, so a refresh would leave it alone; an invalidation
		 * of its page (nothing changes) makes it invalid. A memslot
		 * generation bump would not: an HVA cache ignores memslots.
		 */
		assert_int_equal(
			gpc_invalidate_range_start(t->vm, hva, hva + pg, 0), 0);
		assert_int_equal(gpc_invalidate_range_end(t->vm, hva, hva + pg),
				 0);
		assert_false(gpc_cache_check(&c, 0, 8));
	}
	r0 = cstats(&c).refresh_retries;
	r15_park(t, &c, &aa, how, &b, &s, &ts);
	assert_false(gpc_cache_check(&c, 0, 8));
	/* a complete invalidation of the page while the refresh is out */
	seq0 = gpc_invalidate_sequence(t->vm);
	assert_int_equal(gpc_hostmem_remap(t->vm, t->hm, hva, pg), 0);
	assert_true(gpc_invalidate_sequence(t->vm) > seq0);
	if (s)
		tstop_release(s);
	else
		tmstop_release(&ts);
	assert_int_equal(tbg_join(&b), 0);
	t->tm.hook = NULL;
	/* it went round again and published the new (zeroed) page */
	assert_true(cstats(&c).refresh_retries > r0);
	assert_int_equal(gpc_cache_read(&c, 0, &v, 8), 0);
	assert_int_equal(v, 0);
	assert_int_equal(gpc_cache_write(&c, 0, &m2, 8), 0);
	assert_memory_equal(page + 64, &m2, 8);
	old = gpc_hostmem_retired_page(t->hm, hva);
	assert_non_null(old);
	assert_memory_equal(old + 64, &m1, 8);
	assert_int_equal(gpc_cache_destroy(&c), 0);
}

static void r15_hva_cache_outside_memslot(void **state)
{
	for (int st = TVM_DIRECT; st <= TVM_ALIAS; st++) {
		struct tvm t;
		uint8_t *out;

		vm_up(&t, state, st);
		/* no memslot covers this region */
		out = alloc_region(&t, 4 * pg);
		r15_one(&t, out + pg, R15_ACTIVATE);
		r15_one(&t, out + 2 * pg, R15_REFRESH);
		r15_one(&t, out + 3 * pg, R15_TESTMEM);
		assert_int_equal(live_maps(&t), 0);
		vm_down(&t);
	}
}

/* ---- R16: an area across a page boundary, at every offset ---------------- */

#define RS_LEN	 32 /* a Xen-runstate-like area */
#define RS_GUARD 0xAA

/*
 * One offset: the area starts at @gpa. @expect is 0 (works) or the error
 * activate must return; then nothing may be written.
 */
static void r16_offset(struct tvm *t, struct gpc_cache *c, uint64_t gpa,
		       int expect)
{
	uint8_t *host = (uint8_t *)(uintptr_t)tvm_hva(t, gpa);
	uint8_t buf[RS_LEN], back[RS_LEN], tail[8], *p;
	struct gpc_guard g;
	int64_t maps0 = tvm_counts(t).maps;

	for (int i = 0; i < RS_LEN; i++)
		buf[i] = (uint8_t)(gpa * 7 + (uint64_t)i + 1) | 1;
	for (int i = 0; i < 8; i++)
		tail[i] = (uint8_t)(0x40 + i);
	assert_int_equal(gpc_cache_activate_gpa(c, gpa, RS_LEN), expect);
	if (expect) {
		assert_null(gpc_cache_begin(c, 0, 8, &g));
		assert_int_equal(gpc_cache_write(c, 0, buf, RS_LEN), expect);
		for (int i = -1; i <= RS_LEN; i++)
			assert_int_equal(host[i], RS_GUARD);
		assert_int_equal(gpc_cache_deactivate(c), 0);
		return;
	}
	/* one cache, one mapping, even across the boundary */
	assert_int_equal(tvm_counts(t).maps - maps0, 1);
	assert_int_equal(gpc_cache_write(c, 0, buf, RS_LEN), 0);
	p = gpc_cache_begin(c, RS_LEN - 8, 8, &g);
	assert_non_null(p);
	memcpy(p, tail, 8);
	gpc_cache_end(c, &g);
	memcpy(buf + RS_LEN - 8, tail, 8);
	assert_int_equal(gpc_cache_read(c, 0, back, RS_LEN), 0);
	assert_memory_equal(back, buf, RS_LEN);
	/* the bytes landed exactly there, and nowhere around */
	assert_memory_equal(host, buf, RS_LEN);
	assert_int_equal(host[-1], RS_GUARD);
	assert_int_equal(host[RS_LEN], RS_GUARD);
	assert_int_equal(gpc_cache_deactivate(c), 0);
}

/*
 * Every start from fully before the boundary (page 4 | page 5), through
 * each byte of crossing, to fully after it. @noncontig: the two pages are
 * not contiguous in the host (alias: -EINVAL when crossing).
 */
static void r16_sweep(struct tvm *t, struct gpc_cache *c, bool noncontig)
{
	uint64_t boundary = page_gpa(5);
	uint8_t *host = (uint8_t *)(uintptr_t)tvm_hva(t, page_gpa(4));

	for (int off = -RS_LEN - 3; off <= 3; off++) {
		uint64_t gpa = boundary + off;
		bool crosses = off < 0 && off + RS_LEN > 0;
		int expect = noncontig && crosses && t->stage == TVM_ALIAS ?
				     -EINVAL :
				     0;

		memset(host, RS_GUARD, 2 * pg);
		r16_offset(t, c, gpa, expect);
	}
}

static void r16_cross_page_every_offset(void **state)
{
	for (int st = TVM_DIRECT; st <= TVM_ALIAS; st++) {
		struct gpc_cache c;
		struct tvm t;

		vm_up(&t, state, st);
		cache_up(&t, &c);
		r16_sweep(&t, &c, false);
		/* page 5 gets new backing: no longer next to page 4 in the
		 * memfd (the direct stage does not care: same hva range) */
		assert_int_equal(gpc_hostmem_remap(t.vm, t.hm,
						   tvm_hva(&t, page_gpa(5)),
						   pg),
				 0);
		r16_sweep(&t, &c, true);
		assert_int_equal(gpc_cache_destroy(&c), 0);
		assert_int_equal(live_maps(&t), 0);
		vm_down(&t);
	}
}

/* ---- R17: activate/deactivate juggled under delivering threads ----------- */

#define R17_LOCS       4
#define R17_LEN	       64
#define R17_DELIVERERS 2

struct r17 {
	struct tvm t;
	struct gpc_cache c;
	uint8_t *out;		 /* a region outside every memslot */
	uint64_t addr[R17_LOCS]; /* what activate is given */
	bool by_gpa[R17_LOCS];
	uint8_t *loc[R17_LOCS]; /* where the bytes are (via the hva) */
	uint8_t snap[R17_LOCS][R17_LEN];
	const uint8_t *retired;
	uint8_t retired_copy[R17_LEN];
	atomic_int stop;
	long hits[R17_DELIVERERS], misses[R17_DELIVERERS];
	long steps, migrations, violations;
	char msg[160];
};

struct r17_deliverer {
	struct r17 *x;
	int id;
};

static void r17_violation(struct r17 *x, const char *what, int loc)
{
	if (x->violations++ == 0)
		snprintf(x->msg, sizeof(x->msg), "%s (location %d, step %ld)",
			 what, loc, x->steps);
}

/*
 * Deliver by incrementing our own counter at our own offset: every hit
 * lands in the location that is current, so at the end the counters of
 * all locations add up to the hits.
 */
static void *r17_deliver_main(void *arg)
{
	struct r17_deliverer *d = arg;
	struct r17 *x = d->x;
	uint64_t off = 8 * (uint64_t)d->id, rng = 0x1234567 + off;
	struct gpc_guard g;

	while (!atomic_load_explicit(&x->stop, memory_order_relaxed)) {
		volatile uint64_t *p = gpc_cache_begin(&x->c, off, 8, &g);

		if (p) {
			uint64_t v = *p;

			/* Sometimes a long section: a switch that did not wait
			 * for us would lose this update or see it land in a
			 * location that is no longer current. */
			if ((x->hits[d->id] & 3) == 0)
				churn_spin(&rng);
			*p = v + 1;
			gpc_cache_end(&x->c, &g);
			x->hits[d->id]++;
		} else if ((++x->misses[d->id] & 7) == 0) {
			/* the slow path: -EINVAL while inactive is fine */
			gpc_cache_refresh(&x->c, 0);
		}
		sched_yield();
	}
	return NULL;
}

/* Nobody wrote to @l while it was not current; then make it current. */
static void r17_enter(struct r17 *x, int l)
{
	int err;

	if (memcmp(x->loc[l], x->snap[l], R17_LEN))
		r17_violation(x, "written while not current", l);
	err = x->by_gpa[l] ?
		      gpc_cache_activate_gpa(&x->c, x->addr[l], R17_LEN) :
		      gpc_cache_activate_hva(&x->c, x->addr[l], R17_LEN);
	if (err)
		r17_violation(x, "activate failed", l);
}

/* @l is not current any more (activate elsewhere/deactivate returned). */
static void r17_left(struct r17 *x, int l)
{
	memcpy(x->snap[l], x->loc[l], R17_LEN);
}

/* Give the current location new pages; the old ones must stay untouched. */
static void r17_migrate(struct r17 *x, int l)
{
	uint64_t hva = (uintptr_t)x->loc[l];

	if (gpc_hostmem_migrate(x->t.vm, x->t.hm, hva & ~(pg - 1), pg)) {
		r17_violation(x, "migrate failed", l);
		return;
	}
	x->retired = gpc_hostmem_retired_page(x->t.hm, hva);
	if (x->retired)
		memcpy(x->retired_copy, x->retired, R17_LEN);
	x->migrations++;
}

static void r17_check_retired(struct r17 *x)
{
	if (x->retired && memcmp(x->retired, x->retired_copy, R17_LEN))
		r17_violation(x, "retired page written after migrate", -1);
	x->retired = NULL;
}

/* by GPA, by HVA, off; by GPA, by HVA (outside memslots), off; ... */
static void r17_juggle(struct r17 *x, uint64_t ms)
{
	static const int seq[] = { 0, 1, -1, 2, 3, -1 };
	uint64_t end = test_now_ns() + ms * 1000000ull;
	int cur = -1;

	for (x->steps = 0; test_now_ns() < end; x->steps++) {
		int next = seq[x->steps % 6];

		r17_check_retired(x);
		if (next >= 0)
			r17_enter(x, next);
		else if (gpc_cache_deactivate(&x->c))
			r17_violation(x, "deactivate failed", cur);
		if (cur >= 0)
			r17_left(x, cur);
		cur = next;
		if (cur >= 0 && x->steps % 5 == 0)
			r17_migrate(x, cur);
	}
	r17_check_retired(x);
	if (cur >= 0) {
		gpc_cache_deactivate(&x->c);
		r17_left(x, cur);
	}
}

static void r17_setup(struct r17 *x, void **state, enum tvm_stage st)
{
	vm_up(&x->t, state, st);
	cache_up(&x->t, &x->c);
	x->out = alloc_region(&x->t, 4 * pg);
	x->by_gpa[0] = true, x->addr[0] = page_gpa(10);
	x->by_gpa[1] = false, x->addr[1] = tvm_hva(&x->t, page_gpa(11)) + 256;
	x->by_gpa[2] = true, x->addr[2] = page_gpa(12) + 128;
	x->by_gpa[3] = false, x->addr[3] = (uintptr_t)x->out + pg + 512;
	for (int l = 0; l < R17_LOCS; l++) {
		x->loc[l] = x->by_gpa[l] ?
				    (uint8_t *)(uintptr_t)tvm_hva(&x->t,
								  x->addr[l]) :
				    (uint8_t *)(uintptr_t)x->addr[l];
		memset(x->snap[l], 0, R17_LEN);
	}
}

static void r17_run(void **state, enum tvm_stage st, uint64_t ms)
{
	struct r17_deliverer d[R17_DELIVERERS];
	pthread_t th[R17_DELIVERERS];
	struct r17 *x = calloc(1, sizeof(*x));
	long hits = 0;

	assert_non_null(x);
	r17_setup(x, state, st);
	for (int i = 0; i < R17_DELIVERERS; i++) {
		d[i] = (struct r17_deliverer){ x, i };
		assert_int_equal(pthread_create(&th[i], NULL, r17_deliver_main,
						&d[i]),
				 0);
	}
	r17_juggle(x, ms);
	atomic_store(&x->stop, 1);
	for (int i = 0; i < R17_DELIVERERS; i++)
		pthread_join(th[i], NULL);
	/* every hit landed at a location that was current then */
	for (int i = 0; i < R17_DELIVERERS; i++) {
		uint64_t sum = 0, v;

		for (int l = 0; l < R17_LOCS; l++) {
			memcpy(&v, x->loc[l] + 8 * i, 8);
			sum += v;
		}
		if (sum != (uint64_t)x->hits[i])
			r17_violation(x, "deliveries lost or misplaced", -1);
		hits += x->hits[i];
	}
	print_message("r17 %s/%s: %ld steps, %ld migrations, %ld hits, "
		      "%ld+%ld misses\n",
		      tvm_scheme_names[x->t.scheme], stage_name(st), x->steps,
		      x->migrations, hits, x->misses[0], x->misses[1]);
	if (x->violations)
		print_error("r17: %ld violations, first: %s\n", x->violations,
			    x->msg);
	assert_int_equal(x->violations, 0);
	assert_true(x->steps >= 6);
	assert_int_equal(gpc_cache_destroy(&x->c), 0);
	assert_int_equal(live_maps(&x->t), 0);
	vm_down(&x->t);
	free(x);
}

static void r17_juggle_activate_deactivate(void **state)
{
	double ms = 500 * test_scale();

	test_watchdog_arm(60, "r17_juggle_activate_deactivate");
	churn_catch_faults();
	r17_run(state, TVM_DIRECT, ms < 200 ? 200 : (uint64_t)ms);
	r17_run(state, TVM_ALIAS, ms < 200 ? 200 : (uint64_t)ms);
	test_watchdog_disarm();
}

/* ---- R18: writers under churn --------------------------------------------- */

static void r18_churn_stress(void **state)
{
	double secs = 0.4 * test_scale();

	test_watchdog_arm(60, "r18_churn_stress");
	for (int st = TVM_DIRECT; st <= TVM_ALIAS; st++) {
		struct churn_opts o = {
			.duration = secs < 0.15 ? 0.15 : secs,
			.threads = 3,
			.scheme = scheme_of(state),
			.stage = st,
			.seed = 0x5eed0 + (uint64_t)st,
		};
		struct churn_result r;
		long ops = 0;

		assert_int_equal(churn_run(&o, &r), 0);
		churn_print(stdout, &o, &r);
		for (int i = 0; i < CHURN_NR_OPS; i++)
			ops += r.ops[i];
		assert_int_equal(r.violations, 0);
		assert_true(r.writes > 0);
		assert_true(ops > 0);
	}
	test_watchdog_disarm();
}

/* ---- main ------------------------------------------------------------------ */

/* Each scenario once per scheme, named "scenario/scheme". */
#define BOTH(f)                                             \
	{ #f "/srcu", f, NULL, NULL, &scheme_srcu },        \
	{                                                   \
#f "/rwlock", f, NULL, NULL, &scheme_rwlock \
	}

int main(void)
{
	const struct CMUnitTest tests[] = {
		BOTH(r10_deactivate_during_refresh),
		BOTH(r11_slow_path_under_caller_lock),
		BOTH(r12_refresh_unrelated_storm),
		BOTH(r12_refresh_unrelated_registering),
		BOTH(r12_refresh_overlapping_storm_waits),
		BOTH(r13_rwlock_trylock_miss_not_hang),
		BOTH(r13_srcu_never_blocks),
		BOTH(r14_refresh_never_activated),
		BOTH(r15_hva_cache_outside_memslot),
		BOTH(r16_cross_page_every_offset),
		BOTH(r17_juggle_activate_deactivate),
		BOTH(r18_churn_stress),
	};

	const char *filter = getenv("GPC_TEST_FILTER");
	const char *skip = getenv("GPC_TEST_SKIP");

	pg = (uint64_t)sysconf(_SC_PAGESIZE);
	/* e.g. GPC_TEST_FILTER='r12*' to run one scenario, GPC_TEST_SKIP to
	 * leave some out */
	if (filter && *filter)
		cmocka_set_test_filter(filter);
	if (skip && *skip)
		cmocka_set_skip_filter(skip);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
