// SPDX-License-Identifier: MIT
/*
 * tests/scenarios/test_scenarios_lifecycle.c - activate, deactivate and
 * refresh of a cache racing each other and its readers (R5, R10, R14, R17
 * of docs/regressions.md), on both read-side schemes. What must hold:
 *
 * - R5: a refresh of a deactivated cache fails and leaves it invalid; a
 *   reader during a re-activation at another address sees the old or the
 *   new mapping, consistently, or a miss - never a valid flag with a NULL
 *   or released pointer.
 * - R10: a deactivate while a refresh has dropped its lock to translate
 *   never leaves the cache valid while inactive or valid on a released
 *   mapping; the counts balance.
 * - R14: refreshing a cache that was never activated (or whose activation
 *   failed) returns -EINVAL, logs no warning and changes no state.
 * - R17: with one thread juggling activate (by GPA, by HVA) and deactivate
 *   while others deliver through the cache (timed): no crash, no write
 *   through a stale pointer; every delivery lands at the current location
 *   or is reported as a miss.
 *
 * Races are forced with stop points (harness.h); R17 is a timed stress run
 * on top of that, using churn.h's spin and fault catcher (support/churn.c). R5 is named <scenario>_<scheme> and runs again with
 * GPC_SRCU_NO_MEMBARRIER=1 (test_scenarios_lifecycle_nomembarrier); R10,
 * R14 and R17 are named <scenario>/<scheme> and run once, as before.
 */
#include "scenario.h"
#include "churn.h"

/* ==== R5: refresh after deactivate; a reader during re-activation ======= */

static int miss_then_refresh_fn(void *arg)
{
	struct gpc_cache *c = arg;
	struct gpc_guard g;
	uint8_t *p = gpc_cache_begin(c, 0, 8, &g);

	if (p) {
		gpc_cache_end(c, &g);
		return 1; /* the fast path should have missed */
	}
	return gpc_cache_refresh(c, 0);
}

static void r5_deactivate_one(enum gpc_scheme scheme, enum tvm_stage stage)
{
	struct gpc_testmem_counts k0, k;
	uint64_t refreshes, x = 0;
	struct gpc_cache c;
	struct tbg d, r;
	struct tstop *s;
	struct tvm t;

	setup(&t, scheme, stage);
	host_cache(&t, &c, gpa_page(4), CACHE_LEN);
	k0 = tvm_counts(&t);
	refreshes = cstats(&c).refreshes;
	/* Deactivate stops after marking the cache inactive and invalid. */
	s = tstop_arm(&t, GPC_HOOK_DEACTIVATE, &c);
	tbg_start(&d, deactivate_fn, &c);
	assert_true(tstop_wait(s));
	/* A fast path misses now, and its slow path refreshes. */
	tbg_start(&r, miss_then_refresh_fn, &c);
	assert_false(tbg_done_within(&r, SHORT_MS));
	tstop_release(s);
	assert_int_equal(tbg_join(&d), 0);
	assert_int_equal(tbg_join(&r), -EINVAL);
	/* It stayed inactive and invalid, and nothing was translated. */
	assert_false(gpc_cache_is_active(&c));
	assert_true(misses_now(&c));
	assert_int_equal(gpc_cache_refresh(&c, 0), -EINVAL);
	assert_int_equal(gpc_cache_read(&c, 0, &x, sizeof(x)), -EINVAL);
	assert_int_equal(gpc_cache_write(&c, 0, &x, sizeof(x)), -EINVAL);
	assert_true(misses_now(&c));
	k = tvm_counts(&t);
	assert_int_equal(k.translates, k0.translates);
	assert_int_equal(k.maps, k0.maps);
	assert_int_equal(k.live_maps, 0);
	assert_int_equal(cstats(&c).refreshes, refreshes);
	assert_int_equal(gpc_cache_destroy(&c), 0);
	teardown(&t);
}

static void r5_refresh_after_deactivate(void **state)
{
	for (int stage = TVM_DIRECT; stage <= TVM_ALIAS; stage++) {
		test_watchdog_arm(60, "r5a %s", stage_names[stage]);
		r5_deactivate_one(scheme_of(state), stage);
		test_watchdog_disarm();
	}
}

struct react_arg {
	struct gpc_cache *c;
	uint64_t gpa;
	bool deactivate_first;
};

static int reactivate_fn(void *arg)
{
	struct react_arg *a = arg;
	int err = 0;

	if (a->deactivate_first)
		err = gpc_cache_deactivate(a->c);
	return err ? err : gpc_cache_activate_gpa(a->c, a->gpa, CACHE_LEN);
}

/*
 * Sample the cache from this thread: a miss, or (only while the old
 * translation is still published) exactly the old pointer, still mapped.
 */
static void r5_sample(struct gpc_cache *c, uint8_t *old, bool old_ok)
{
	struct gpc_guard g;
	uint8_t *p = fast_begin(c, 0, 8, &g);

	if (!p)
		return;
	(void)gm_load(p);
	gpc_cache_end(c, &g);
	assert_true(old_ok);
	assert_ptr_equal(p, old);
}

/*
 * Stops, in the order the re-activating thread passes them; @block is the
 * index of the first stop it cannot reach while the reader holds the old
 * page (srcu: the grace period before moving away; rwlock: the write lock).
 */
static void r5_reader_one(enum gpc_scheme scheme, enum tvm_stage stage,
			  bool deact)
{
	static const enum gpc_hook_point pts[2][4] = {
		{ GPC_HOOK_ACTIVATE, GPC_HOOK_REFRESH_STAGE1,
		  GPC_HOOK_REFRESH_UNLOCKED, GPC_HOOK_REFRESH_PUBLISH },
		{ GPC_HOOK_DEACTIVATE, GPC_HOOK_ACTIVATE,
		  GPC_HOOK_REFRESH_STAGE1, GPC_HOOK_REFRESH_PUBLISH },
	};
	int block = deact ? (scheme == GPC_SCHEME_SRCU ? 1 : 0) :
			    (scheme == GPC_SCHEME_SRCU ? 2 : 1);
	struct holder h = { .val = 0x5b5b5b5b5b5b5b5bull };
	struct react_arg a;
	struct tstop *s[4];
	struct gpc_guard g;
	struct gpc_cache c;
	struct tbg hb, x;
	uint8_t *p;
	struct tvm t;

	setup(&t, scheme, stage);
	host_cache(&t, &c, gpa_page(2), CACHE_LEN);
	h.c = &c;
	holder_start(&hb, &h);
	for (int i = 0; i < 4; i++)
		s[i] = tstop_arm(&t, pts[deact][i], &c);
	a = (struct react_arg){ &c, gpa_page(11), deact };
	tbg_start(&x, reactivate_fn, &a);
	for (int i = 0; i < 4; i++) {
		if (i == block) {
			assert_false(stop_reached_within(s[i], SHORT_MS));
			holder_finish(&hb, &h);
		}
		assert_true(tstop_wait(s[i]));
		/* Before anything was cleared the old translation is whole. */
		r5_sample(&c, atomic_load(&h.p), !deact && i == 0);
		tstop_release(s[i]);
	}
	assert_int_equal(tbg_join(&x), 0);
	/* The reader's store reached the old page while it was mapped. */
	assert_int_equal(gm_load(hva_ptr(&t, gpa_page(2))), h.val);
	p = gpc_cache_begin(&c, 0, 8, &g);
	assert_non_null(p);
	gm_store(p, 0x5c);
	gpc_cache_end(&c, &g);
	assert_int_equal(gm_load(hva_ptr(&t, gpa_page(11))), 0x5c);
	assert_int_equal(gpc_cache_destroy(&c), 0);
	assert_int_equal(tvm_counts(&t).live_maps, 0);
	teardown(&t);
}

static void r5_reader_during_reactivate(void **state)
{
	for (int stage = TVM_DIRECT; stage <= TVM_ALIAS; stage++) {
		for (int deact = 0; deact < 2; deact++) {
			test_watchdog_arm(60, "r5b %s %d", stage_names[stage],
					  deact);
			r5_reader_one(scheme_of(state), stage, deact);
			test_watchdog_disarm();
		}
	}
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
	tbg_start(&rb, refresh_fn, c);
	assert_true(tstop_wait(s1));
	/* valid was cleared before the lock was dropped */
	assert_false(gpc_cache_check(c, 0, 8));
	assert_true(gpc_cache_is_active(c));
	tbg_start(&db, deactivate_fn, c);
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
	tbg_start(&db, deactivate_fn, c);
	assert_true(tstop_wait(s));
	tbg_start(&rb, refresh_fn, c);
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

/* ---- main ----------------------------------------------------------------- */

int main(void)
{
	const struct CMUnitTest tests[] = {
		BOTH_SCHEMES(r5_refresh_after_deactivate),
		BOTH_SCHEMES(r5_reader_during_reactivate),
		BOTH(r10_deactivate_during_refresh),
		BOTH(r14_refresh_never_activated),
		BOTH(r17_juggle_activate_deactivate),
	};

	return scenario_run("scenarios_lifecycle", tests);
}
