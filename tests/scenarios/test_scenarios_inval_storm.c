// SPDX-License-Identifier: MIT
/*
 * tests/scenarios/test_scenarios_inval_storm.c - a refresh under a stream of
 * invalidations (R12 of docs/regressions.md), on both read-side schemes.
 * What must hold:
 *
 * - a stream of invalidations of unrelated ranges does not make a refresh
 *   retry: it finishes promptly, also while an invalidating thread is parked
 *   in the middle of registering itself (r12_refresh_unrelated_registering
 *   looks at vm->inv.inflight, hence src/ on the include path, and spends
 *   up to 4 s per scheme catching the thread there, skipping itself if it
 *   cannot; ctest runs it on its own as
 *   test_scenarios_inval_storm_r12_registering);
 * - with overlapping ranges the refresh sleeps rather than spins, and
 *   completes once the stream pauses.
 *
 * Helper threads never assert: they record what they saw and the test
 * thread checks it after joining them. Tests are named "r12_what/scheme".
 */
#include "scenario.h"
#include "vm_priv.h" /* the in-progress registry, vm->inv.inflight */

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
	tbg_start(&rb, refresh_fn, c);
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
	tbg_start(&rb, refresh_fn, &c);
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
	tbg_start(&rb, refresh_fn, c);
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

/* ---- main ----------------------------------------------------------------- */

int main(void)
{
	const struct CMUnitTest tests[] = {
		BOTH(r12_refresh_unrelated_storm),
		BOTH(r12_refresh_unrelated_registering),
		BOTH(r12_refresh_overlapping_storm_waits),
	};

	return scenario_run("scenarios_inval_storm", tests);
}
