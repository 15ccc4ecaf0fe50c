// SPDX-License-Identifier: MIT
/*
 * tests/scenarios/test_scenarios_refresh.c - refresh against failure,
 * repetition, invalidation and generation changes (R1, R2, R3a-c of
 * docs/regressions.md), on both read-side schemes and both host memory
 * stages. What must hold:
 *
 * - R1: a refresh that fails (memslot deleted, map failing after a change,
 *   translate failing, the very first map failing) leaves the cache
 *   invalid, and after it and after deactivate the test stage's maps and
 *   unmaps (translates and releases) balance: nothing leaks, nothing is
 *   released twice.
 * - R2: refreshing a valid cache is a no-op; after many refreshes of an
 *   unchanged page at most one mapping is live, the counts balance and the
 *   host pointer stays the same.
 * - R3a: an invalidation between translate and publish makes the refresh
 *   retry: the old page is never seen as valid, the cache ends on the new
 *   page.
 * - R3b: while a refresh is stopped with new stage-1 data but the old page,
 *   gpc_cache_check misses (valid was cleared before the lock was dropped).
 * - R3c: overlapping refreshes, one with a stale memslot generation, run one
 *   after the other; the result matches the current memslots.
 *
 * Every race is forced with a stop point (tests/support/harness.h) or a
 * test-stage hook, never by timing: a thread is parked at the exact step,
 * the other side runs, the thread is let go. Sleeps appear only as "give a
 * thread the chance to do something wrong" (tbg_done_within(&bg, 50) ==
 * false). Tests are named <scenario>_<scheme>; ctest runs them again with
 * GPC_SRCU_NO_MEMBARRIER=1 (test_scenarios_refresh_nomembarrier).
 */
#include "scenario.h"

/* ==== R1: a failed refresh leaves no mapping behind ====================== */

static void r1_memslot_deleted(struct tvm *t)
{
	struct gpc_testmem_counts k0, k;
	struct gpc_cache c;

	host_cache(t, &c, gpa_page(4), CACHE_LEN);
	k0 = tvm_counts(t);
	assert_int_equal(k0.live_maps, 1);
	/* The memslot goes away under a valid cache: stage 1 fails. */
	assert_int_equal(gpc_memslot_delete(t->vm, 0), 0);
	assert_true(misses_now(&c));
	assert_int_equal(gpc_cache_refresh(&c, 0), -EFAULT);
	assert_true(gpc_cache_is_active(&c));
	assert_true(misses_now(&c));
	k = tvm_counts(t);
	assert_int_equal(k.translates, k0.translates);
	assert_int_equal(k.maps, k0.maps);
	assert_int_equal(k.unmaps, k0.unmaps);
	/* Deactivate releases the one mapping, once. */
	assert_int_equal(gpc_cache_deactivate(&c), 0);
	assert_int_equal(gpc_cache_deactivate(&c), 0);
	assert_int_equal(gpc_cache_destroy(&c), 0);
	k = tvm_counts(t);
	assert_int_equal(k.unmaps, k0.unmaps + 1);
	assert_int_equal(k.live_maps, 0);
	assert_int_equal(gpc_memslot_create(t->vm, 0, TVM_GPA_BASE,
					    TVM_RAM_SIZE,
					    (uint64_t)(uintptr_t)t->ram, 0),
			 0);
}

/* The page changes, then mapping the new one fails: the old one stays owned
 * by the cache (released once by deactivate), nothing else is left. */
static void r1_map_fails_after_change(struct tvm *t)
{
	uint64_t page = page_of(tvm_hva(t, gpa_page(5)));
	struct gpc_testmem_counts k0, k;
	struct gpc_cache_stats st;
	struct gpc_cache c;

	host_cache(t, &c, gpa_page(5), CACHE_LEN);
	k0 = tvm_counts(t);
	assert_int_equal(gpc_hostmem_remap(t->vm, t->hm, page, pg), 0);
	assert_true(misses_now(&c));
	atomic_store(&t->tm.fail_map, 1);
	assert_int_equal(gpc_cache_refresh(&c, 0), -EFAULT);
	assert_true(misses_now(&c));
	k = tvm_counts(t);
	assert_int_equal(k.map_fails, k0.map_fails + 1);
	assert_int_equal(k.maps, k0.maps);
	assert_int_equal(k.live_maps, k0.live_maps);
	assert_int_equal(gpc_cache_deactivate(&c), 0);
	st = cstats(&c);
	assert_int_equal(st.maps, st.unmaps);
	assert_int_equal(gpc_cache_destroy(&c), 0);
	k = tvm_counts(t);
	assert_int_equal(k.live_maps, 0);
	assert_int_equal(k.unmaps, k0.unmaps + 1);
}

/* Translate fails (injected): nothing mapped; the next refresh reuses the
 * mapping the cache already had. */
static void r1_translate_fails(struct tvm *t)
{
	struct gpc_testmem_counts k0, k;
	struct gpc_cache c;

	host_cache(t, &c, gpa_page(6), CACHE_LEN);
	/* Stale with the same page, so that the refresh translates. */
	bump_generation(t);
	k0 = tvm_counts(t);
	atomic_store(&t->tm.fail_translate, 1);
	assert_int_equal(gpc_cache_refresh(&c, 0), -EFAULT);
	assert_true(misses_now(&c));
	/* The failed refresh left it invalid: this one translates again. */
	assert_int_equal(gpc_cache_refresh(&c, 0), 0);
	assert_false(misses_now(&c));
	k = tvm_counts(t);
	assert_int_equal(k.translate_fails, k0.translate_fails + 1);
	assert_int_equal(k.translates, k0.translates + 1);
	assert_int_equal(k.maps, k0.maps);
	assert_int_equal(gpc_cache_destroy(&c), 0);
	k = tvm_counts(t);
	assert_int_equal(k.live_maps, 0);
}

/* The very first map fails: activate is -EFAULT, the cache active and
 * invalid, and deactivate has nothing to release. */
static void r1_first_map_fails(struct tvm *t)
{
	struct gpc_testmem_counts k0, k;
	struct gpc_cache c;

	k0 = tvm_counts(t);
	assert_int_equal(gpc_cache_init(&c, t->vm, GPC_USAGE_HOST, NULL, 0), 0);
	atomic_store(&t->tm.fail_map, 1);
	assert_int_equal(gpc_cache_activate_gpa(&c, gpa_page(7), CACHE_LEN),
			 -EFAULT);
	assert_true(gpc_cache_is_active(&c));
	assert_true(misses_now(&c));
	assert_int_equal(gpc_cache_deactivate(&c), 0);
	k = tvm_counts(t);
	assert_int_equal(k.maps, k0.maps);
	assert_int_equal(k.unmaps, k0.unmaps);
	assert_int_equal(gpc_cache_activate_gpa(&c, gpa_page(7), CACHE_LEN), 0);
	assert_int_equal(gpc_cache_destroy(&c), 0);
	k = tvm_counts(t);
	assert_int_equal(k.maps, k0.maps + 1);
	assert_int_equal(k.live_maps, 0);
}

static void r1_failed_refresh_no_leak(void **state)
{
	for (int stage = TVM_DIRECT; stage <= TVM_ALIAS; stage++) {
		struct tvm t;

		test_watchdog_arm(60, "r1 %s", stage_names[stage]);
		setup(&t, scheme_of(state), stage);
		r1_memslot_deleted(&t);
		r1_map_fails_after_change(&t);
		r1_translate_fails(&t);
		r1_first_map_fails(&t);
		teardown(&t);
		test_watchdog_disarm();
	}
}

/* ==== R2: repeated refreshes of an unchanged page ======================= */

static int refresh_hook_calls(struct tvm *t)
{
	int n = 0;

	for (int i = GPC_HOOK_REFRESH_STAGE1; i <= GPC_HOOK_REFRESH_RETRY; i++)
		n += atomic_load(&t->hook_calls[i]);
	return n;
}

/*
 * A refresh of a cache that is valid for its address, length and
 * generation does nothing: no stage (so no hook), no translate, no map or
 * unmap, not counted as a refresh, and the pointer stays what it was.
 * Also with the length given explicitly when it is the current one.
 */
static void r2_valid_refresh_is_noop(struct tvm *t, struct gpc_cache *c,
				     uint8_t *p0)
{
	struct gpc_testmem_counts k0 = tvm_counts(t), k;
	struct gpc_cache_stats st0 = cstats(c), st;
	int hooks0 = refresh_hook_calls(t);
	struct gpc_guard g;
	uint8_t *p;

	assert_false(misses_now(c));
	for (int i = 0; i < 4; i++) {
		assert_int_equal(gpc_cache_refresh(c, i & 1 ? CACHE_LEN : 0),
				 0);
		p = gpc_cache_begin(c, 0, 8, &g);
		assert_ptr_equal(p, p0);
		gpc_cache_end(c, &g);
	}
	assert_int_equal(refresh_hook_calls(t), hooks0);
	k = tvm_counts(t);
	assert_int_equal(k.translates, k0.translates);
	assert_int_equal(k.maps, k0.maps);
	assert_int_equal(k.unmaps, k0.unmaps);
	st = cstats(c);
	assert_int_equal(st.refreshes, st0.refreshes);
	assert_int_equal(st.refresh_retries, st0.refresh_retries);
	assert_int_equal(st.maps, st0.maps);
}

static void r2_one(enum gpc_scheme scheme, enum tvm_stage stage)
{
	long n = test_iters(400);
	struct gpc_testmem_counts k0, k;
	struct gpc_cache_stats st;
	struct gpc_guard g;
	struct gpc_cache c;
	struct tvm t;
	uint8_t *p0, *p;

	setup(&t, scheme, stage);
	host_cache(&t, &c, gpa_page(3), CACHE_LEN);
	p0 = gpc_cache_begin(&c, 0, 8, &g);
	assert_non_null(p0);
	gpc_cache_end(&c, &g);
	r2_valid_refresh_is_noop(&t, &c, p0);
	/*
	 * Each refresh follows a generation change with the same layout, so
	 * it goes through all its stages and translates the same page again:
	 * it must reuse the mapping it has, not map (and leak) another one.
	 */
	k0 = tvm_counts(&t);
	for (long i = 0; i < n; i++) {
		bump_generation(&t);
		assert_true(misses_now(&c));
		assert_int_equal(gpc_cache_refresh(&c, 0), 0);
		p = gpc_cache_begin(&c, 0, 8, &g);
		assert_ptr_equal(p, p0);
		gpc_cache_end(&c, &g);
	}
	k = tvm_counts(&t);
	assert_int_equal(k.translates, k0.translates + (uint64_t)n);
	assert_int_equal(k.maps, k0.maps);
	assert_int_equal(k.unmaps, k0.unmaps);
	assert_int_equal(k.live_maps, 1);
	st = cstats(&c);
	assert_int_equal(st.refreshes, (uint64_t)n + 1);
	assert_int_equal(st.maps, 1);
	/* Valid again for the new generation: left alone once more. */
	r2_valid_refresh_is_noop(&t, &c, p0);
	/* When the length does change, each new mapping replaces the old. */
	for (int i = 0; i < 16; i++) {
		assert_int_equal(
			gpc_cache_refresh(&c, i & 1 ? CACHE_LEN : 2 * pg), 0);
		k = tvm_counts(&t);
		assert_int_equal(k.live_maps, 1);
	}
	assert_int_equal(k.maps, k0.maps + 16);
	assert_int_equal(gpc_cache_destroy(&c), 0);
	k = tvm_counts(&t);
	assert_int_equal(k.live_maps, 0);
	teardown(&t);
}

static void r2_refresh_reuses_mapping(void **state)
{
	for (int stage = TVM_DIRECT; stage <= TVM_ALIAS; stage++) {
		test_watchdog_arm(60, "r2 %s", stage_names[stage]);
		r2_one(scheme_of(state), stage);
		test_watchdog_disarm();
	}
}

/* ==== R3a: invalidation between translate and publish ==================== */

/* Park a refresh inside the test stage (a second kind of stop point). */
struct tmpark {
	pthread_mutex_t m;
	pthread_cond_t cv;
	atomic_int armed;
	enum gpc_testmem_step step;
	uint64_t page;
	int reached, released;
};

static void tmpark_hook(enum gpc_testmem_step step, uint64_t hva, void *ctx)
{
	struct tmpark *k = ctx;
	int one = 1;

	if (step != k->step || page_of(hva) != k->page ||
	    !atomic_compare_exchange_strong(&k->armed, &one, 2))
		return;
	pthread_mutex_lock(&k->m);
	k->reached = 1;
	pthread_cond_broadcast(&k->cv);
	while (!k->released)
		pthread_cond_wait(&k->cv, &k->m);
	pthread_mutex_unlock(&k->m);
}

static bool tmpark_wait(struct tmpark *k)
{
	uint64_t end = test_now_ns() + 10000000000ull;
	bool r = false;

	while (!r && test_now_ns() < end) {
		pthread_mutex_lock(&k->m);
		r = k->reached;
		pthread_mutex_unlock(&k->m);
		if (!r)
			test_sleep_ms(1);
	}
	return r;
}

static void tmpark_release(struct tmpark *k)
{
	pthread_mutex_lock(&k->m);
	k->released = 1;
	pthread_cond_broadcast(&k->cv);
	pthread_mutex_unlock(&k->m);
}

/* Where R3a parks the refresh; the last one is a test-stage step. */
enum r3a_where { R3A_TRANSLATED, R3A_PUBLISH, R3A_TESTMEM_TRANSLATED };

/*
 * @complete: the invalidation also ends before the refresh goes on, so only
 * the cache's invalidation counter (not the in-progress registry) can tell
 * the refresh that its page is stale.
 */
static void r3a_one(enum gpc_scheme scheme, enum tvm_stage stage,
		    enum r3a_where where, bool complete)
{
	struct tmpark k = { .m = PTHREAD_MUTEX_INITIALIZER,
			    .cv = PTHREAD_COND_INITIALIZER };
	uint64_t hva, page, v = 0x3a3a3a3a01020304ull;
	struct gpc_cache_stats st;
	struct tstop *s = NULL;
	struct gpc_cache c;
	struct tbg bg;
	uint8_t *old;
	struct tvm t;

	setup(&t, scheme, stage);
	host_cache(&t, &c, gpa_page(4), CACHE_LEN);
	hva = tvm_hva(&t, gpa_page(4));
	page = page_of(hva);
	/* Stale (same page), so that the refresh runs its stages. */
	bump_generation(&t);
	if (where == R3A_TESTMEM_TRANSLATED) {
		k.step = GPC_TESTMEM_TRANSLATED;
		k.page = page;
		atomic_store(&k.armed, 1);
		t.tm.hook_ctx = &k;
		t.tm.hook = tmpark_hook;
	} else {
		s = tstop_arm(&t,
			      where == R3A_TRANSLATED ?
				      GPC_HOOK_REFRESH_TRANSLATED :
				      GPC_HOOK_REFRESH_PUBLISH,
			      &c);
	}
	/* The refresh translates the current page and stops before publish. */
	tbg_start(&bg, refresh_fn, &c);
	assert_true(s ? tstop_wait(s) : tmpark_wait(&k));
	/* An invalidation starts, clears the cache, and the page is replaced. */
	assert_int_equal(gpc_invalidate_range_start(t.vm, page, page + pg, 0),
			 0);
	assert_true(misses_now(&c));
	assert_int_equal(gpc_hostmem_remap(NULL, t.hm, page, pg), 0);
	old = gpc_hostmem_retired_page(t.hm, page);
	assert_non_null(old);
	if (complete)
		assert_int_equal(
			gpc_invalidate_range_end(t.vm, page, page + pg), 0);
	if (s)
		tstop_release(s);
	else
		tmpark_release(&k);
	if (!complete) {
		/* It must not publish what it translated: it retries, and
		 * waits while the invalidation is in progress. */
		assert_false(tbg_done_within(&bg, SHORT_MS));
		assert_true(misses_now(&c));
		assert_int_equal(
			gpc_invalidate_range_end(t.vm, page, page + pg), 0);
	}
	assert_int_equal(tbg_join(&bg), 0);
	t.tm.hook = NULL;
	st = cstats(&c);
	assert_true(st.refresh_retries >= 1);
	assert_true(complete || st.refresh_waits >= 1);
	assert_true(atomic_load(&t.hook_calls[GPC_HOOK_REFRESH_RETRY]) >= 1);
	/* What it published is the new page: writes land there only. */
	assert_int_equal(gpc_cache_write(&c, 0, &v, sizeof(v)), 0);
	assert_int_equal(gm_load((void *)(uintptr_t)hva), v);
	assert_int_equal(gm_load(old + (hva - page)), 0);
	assert_int_equal(gpc_cache_destroy(&c), 0);
	assert_int_equal(tvm_counts(&t).live_maps, 0);
	teardown(&t);
}

static void r3a_inval_between_translate_and_publish(void **state)
{
	for (int stage = TVM_DIRECT; stage <= TVM_ALIAS; stage++) {
		for (int w = R3A_TRANSLATED; w <= R3A_TESTMEM_TRANSLATED; w++) {
			for (int done = 0; done < 2; done++) {
				test_watchdog_arm(60, "r3a %s %d %d",
						  stage_names[stage], w, done);
				r3a_one(scheme_of(state), stage, w, done);
				test_watchdog_disarm();
			}
		}
	}
}

/* ==== R3b: the cache is invalid while a refresh has new stage-1 data ===== */

/*
 * Variant 0: re-activation at another GPA in the same memslot - the
 * generation does not change, so only valid can make a check fail.
 * Variant 1: the memslot now points at other host memory (new generation).
 */
static void r3b_one(enum gpc_scheme scheme, enum tvm_stage stage, int variant)
{
	static const enum gpc_hook_point pts[] = {
		GPC_HOOK_REFRESH_STAGE1,
		GPC_HOOK_REFRESH_UNLOCKED,
		GPC_HOOK_REFRESH_TRANSLATED,
		GPC_HOOK_REFRESH_PUBLISH,
	};
	struct tstop *s[4];
	struct gpc_guard g;
	struct gpc_cache c;
	struct act_arg a;
	uint8_t *p, *ram2 = NULL, *want, *was;
	uint64_t gen, v = 0x3b3b3b3b3b3b3b3bull;
	struct tbg bg;
	struct tvm t;

	setup(&t, scheme, stage);
	host_cache(&t, &c, gpa_page(2), CACHE_LEN);
	was = hva_ptr(&t, gpa_page(2));
	a = (struct act_arg){ &c, gpa_page(9), CACHE_LEN };
	want = hva_ptr(&t, gpa_page(9));
	if (variant) {
		assert_int_equal(gpc_hostmem_alloc(t.hm, TVM_RAM_SIZE,
						   (void **)&ram2),
				 0);
		assert_int_equal(gpc_memslot_delete(t.vm, 0), 0);
		assert_int_equal(
			gpc_memslot_create(t.vm, 0, TVM_GPA_BASE, TVM_RAM_SIZE,
					   (uint64_t)(uintptr_t)ram2, 0),
			0);
		want = ram2 + (gpa_page(2) - TVM_GPA_BASE);
	}
	gen = gpc_memslot_generation(t.vm);
	for (int i = 0; i < 4; i++)
		s[i] = tstop_arm(&t, pts[i], &c);
	tbg_start(&bg, variant ? refresh_fn : activate_fn,
		  variant ? (void *)&c : (void *)&a);
	/* At every step between stage 1 and publish, a check fails. */
	for (int i = 0; i < 4; i++) {
		assert_true(tstop_wait(s[i]));
		assert_int_equal(gpc_memslot_generation(t.vm), gen);
		assert_true(misses_now(&c));
		assert_false(gpc_cache_check(&c, 0, CACHE_LEN));
		tstop_release(s[i]);
	}
	assert_int_equal(tbg_join(&bg), 0);
	p = gpc_cache_begin(&c, 0, 8, &g);
	assert_non_null(p);
	gm_store(p, v);
	gpc_cache_end(&c, &g);
	assert_int_equal(gm_load(want), v);
	assert_int_equal(gm_load(was), 0);
	assert_int_equal(gpc_cache_destroy(&c), 0);
	teardown(&t);
}

static void r3b_check_fails_mid_refresh(void **state)
{
	for (int stage = TVM_DIRECT; stage <= TVM_ALIAS; stage++) {
		for (int variant = 0; variant < 2; variant++) {
			test_watchdog_arm(60, "r3b %s %d", stage_names[stage],
					  variant);
			r3b_one(scheme_of(state), stage, variant);
			test_watchdog_disarm();
		}
	}
}

/* ==== R3c: overlapping refreshes, one with a stale generation ============ */

static void r3c_one(enum gpc_scheme scheme, enum tvm_stage stage)
{
	uint64_t off = gpa_page(3) - TVM_GPA_BASE, v = 0x3c3c3c3c3c3c3c3cull;
	struct gpc_testmem_counts k0, k;
	struct tstop *sa, *sb;
	struct gpc_guard g;
	struct gpc_cache c;
	struct tbg a, b;
	uint8_t *ram2, *p;
	struct tvm t;

	setup(&t, scheme, stage);
	assert_int_equal(gpc_hostmem_alloc(t.hm, TVM_RAM_SIZE, (void **)&ram2),
			 0);
	host_cache(&t, &c, gpa_page(3), CACHE_LEN);
	/* Stale (same page): refresh A has work to do. */
	bump_generation(&t);
	k0 = tvm_counts(&t);
	/* Refresh A translates the page of the current generation... */
	sa = tstop_arm(&t, GPC_HOOK_REFRESH_TRANSLATED, &c);
	tbg_start(&a, refresh_fn, &c);
	assert_true(tstop_wait(sa));
	/* ...then the memslot moves to other host memory: A is stale. */
	assert_int_equal(gpc_memslot_delete(t.vm, 0), 0);
	assert_int_equal(gpc_memslot_create(t.vm, 0, TVM_GPA_BASE, TVM_RAM_SIZE,
					    (uint64_t)(uintptr_t)ram2, 0),
			 0);
	/* Refresh B cannot even start stage 1 while A is inside. */
	sb = tstop_arm(&t, GPC_HOOK_REFRESH_STAGE1, &c);
	tbg_start(&b, refresh_fn, &c);
	assert_false(stop_reached_within(sb, SHORT_MS));
	assert_false(atomic_load(&b.done));
	tstop_release(sa);
	assert_int_equal(tbg_join(&a), 0);
	/* A published its translation with the old generation; B is in
	 * stage 1 now. No reader may use A's page. */
	assert_true(tstop_wait(sb));
	assert_true(misses_now(&c));
	tstop_release(sb);
	assert_int_equal(tbg_join(&b), 0);
	/* B translated afresh: its pointer reaches the new memory only. */
	p = gpc_cache_begin(&c, 0, 8, &g);
	assert_non_null(p);
	gm_store(p, v);
	gpc_cache_end(&c, &g);
	assert_int_equal(gm_load(ram2 + off), v);
	assert_int_equal(gm_load(t.ram + off), 0);
	k = tvm_counts(&t);
	assert_int_equal(k.maps, k0.maps + 1);
	assert_int_equal(k.live_maps, 1);
	assert_int_equal(gpc_cache_destroy(&c), 0);
	teardown(&t);
}

static void r3c_overlapping_refreshes_serialized(void **state)
{
	for (int stage = TVM_DIRECT; stage <= TVM_ALIAS; stage++) {
		test_watchdog_arm(60, "r3c %s", stage_names[stage]);
		r3c_one(scheme_of(state), stage);
		test_watchdog_disarm();
	}
}

/* ---- main ----------------------------------------------------------------- */

int main(void)
{
	const struct CMUnitTest tests[] = {
		BOTH_SCHEMES(r1_failed_refresh_no_leak),
		BOTH_SCHEMES(r2_refresh_reuses_mapping),
		BOTH_SCHEMES(r3a_inval_between_translate_and_publish),
		BOTH_SCHEMES(r3b_check_fails_mid_refresh),
		BOTH_SCHEMES(r3c_overlapping_refreshes_serialized),
	};

	return scenario_run("scenarios_refresh", tests);
}
