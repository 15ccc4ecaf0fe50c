// SPDX-License-Identifier: MIT
/*
 * tests/scenarios/test_scenarios_invalidate.c - what an invalidation does
 * to caches, vCPUs and readers (R6, R8, R9, R15 of docs/regressions.md), on
 * both read-side schemes. What must hold:
 *
 * - R6: a blocking invalidation of a guest-usage cache's page kicks its vCPU
 *   out of guest mode and returns only after it left; the request is
 *   consumed and the next entry succeeds.
 * - R8: a non-blocking invalidation never waits: it returns -EAGAIN with the
 *   caches invalid, the vCPU kicked and no range_end owed, or succeeds only
 *   when nothing can still use the old page; a retry succeeds once the
 *   reader or vCPU has left.
 * - R9: invalidations of ranges that overlap no cache take no cache's
 *   writer lock and make no reader miss.
 * - R15: for an HVA-mode cache outside every memslot (the generation cannot
 *   tell), an invalidation while a refresh or activate has dropped its lock
 *   makes it retry: the old page is never published.
 *
 * Races are forced with stop points and test-stage hooks (harness.h); the
 * R8 cases fire non-blocking invalidations from a SIGUSR1 handler, which
 * main() installs. R6-R9 cases are named <scenario>_<scheme> and run again
 * with GPC_SRCU_NO_MEMBARRIER=1 (test_scenarios_invalidate_nomembarrier);
 * R15 is named <scenario>/<scheme> and runs once, as before the split.
 */
#include "scenario.h"

/* ---- a thread playing a vCPU --------------------------------------------- */

/*
 * The test decides when the vCPU may enter (enter_allowed) and when it may
 * leave guest mode (exit_allowed); in between it keeps writing a counter
 * through its guest-usage pointer, as a guest touching a shared page would.
 */
struct tvcpu {
	struct gpc_vcpu *v;
	struct gpc_cache *gc;
	atomic_int kicks, enter_allowed, exit_allowed, stop;
	atomic_int entries, exits, bailouts, errors;
	_Atomic uint64_t last; /* last value written in guest mode */
	uint64_t counter;
};

static void tvcpu_kick(struct gpc_vcpu *v, void *ctx)
{
	struct tvcpu *tv = ctx;

	(void)v;
	atomic_fetch_add(&tv->kicks, 1);
}

static int tvcpu_enter(struct tvcpu *tv)
{
	int r, tries = 0;

	while ((r = gpc_vcpu_enter_guest(tv->v)) == -EAGAIN) {
		atomic_fetch_add(&tv->bailouts, 1);
		if (gpc_vcpu_handle_requests(tv->v) < 0)
			atomic_fetch_add(&tv->errors, 1);
		if (++tries > 1000)
			return -EAGAIN; /* endless bail-out */
	}
	return r;
}

static void tvcpu_run_guest(struct tvcpu *tv, int n)
{
	struct timespec ts = { 0, 50000 };
	uint8_t *p = gpc_cache_guest_ptr(tv->gc, 0, 8);

	if (!p)
		atomic_fetch_add(&tv->errors, 1);
	atomic_store(&tv->entries, n);
	while (atomic_load(&tv->exit_allowed) < n) {
		if (p) {
			gm_store(p, ++tv->counter);
			atomic_store(&tv->last, tv->counter);
		}
		nanosleep(&ts, NULL);
	}
	atomic_store(&tv->exits, n);
	gpc_vcpu_exit_guest(tv->v);
}

static int tvcpu_main(void *arg)
{
	struct tvcpu *tv = arg;
	int n = 0, r;

	for (;;) {
		while (atomic_load(&tv->enter_allowed) <= n) {
			if (atomic_load(&tv->stop))
				return 0;
			test_sleep_ms(1);
		}
		r = tvcpu_enter(tv);
		if (r) {
			atomic_fetch_add(&tv->errors, 1);
			return r;
		}
		tvcpu_run_guest(tv, ++n);
	}
}

static void tvcpu_create(struct tvm *t, struct tvcpu *tv, struct gpc_cache *gc,
			 uint64_t gpa)
{
	memset(tv, 0, sizeof(*tv));
	tv->gc = gc;
	assert_int_equal(gpc_vcpu_create(t->vm, tvcpu_kick, tv, &tv->v), 0);
	assert_int_equal(gpc_cache_init(gc, t->vm, GPC_USAGE_GUEST, tv->v, 0),
			 0);
	assert_int_equal(gpc_cache_activate_gpa(gc, gpa, CACHE_LEN), 0);
}

/* Let entry @n happen and wait until the vCPU is in guest mode. */
static void tvcpu_enter_nth(struct tvcpu *tv, int n)
{
	atomic_store(&tv->enter_allowed, n);
	assert_true(wait_ge(&tv->entries, n, TEST_PROMPT_MS));
}

static void tvcpu_exit_nth(struct tvcpu *tv, int n)
{
	atomic_store(&tv->exit_allowed, n);
	assert_true(wait_ge(&tv->exits, n, TEST_PROMPT_MS));
}

static void tvcpu_finish(struct tbg *bg, struct tvcpu *tv)
{
	atomic_store(&tv->stop, 1);
	atomic_store(&tv->exit_allowed, 1 << 30);
	assert_int_equal(tbg_join(bg), 0);
	assert_int_equal(atomic_load(&tv->errors), 0);
	assert_int_equal(gpc_cache_destroy(tv->gc), 0);
	assert_int_equal(gpc_vcpu_destroy(tv->v), 0);
}

/* ==== R6: a guest-usage cache evicts its vCPU ============================ */

static void r6_one(enum gpc_scheme scheme, enum tvm_stage stage)
{
	uint64_t hva, page, last;
	struct gpc_vcpu_stats vs;
	struct inval_arg ia;
	struct tvcpu tv;
	struct gpc_cache gc;
	struct tbg vb, ib;
	uint8_t *cur, *old;
	int bail;
	struct tvm t;

	setup(&t, scheme, stage);
	tvcpu_create(&t, &tv, &gc, gpa_page(6));
	hva = tvm_hva(&t, gpa_page(6));
	page = page_of(hva);
	cur = (uint8_t *)(uintptr_t)hva;
	tbg_start(&vb, tvcpu_main, &tv);
	tvcpu_enter_nth(&tv, 1);
	/* Invalidate while the vCPU runs with the cache. */
	ia = (struct inval_arg){ t.vm, page, page + pg, 0, &tv.exits, 0 };
	tbg_start(&ib, inval_start_fn, &ia);
	assert_true(wait_ge(&tv.kicks, 1, TEST_PROMPT_MS));
	assert_int_equal(gpc_vcpu_mode(tv.v), GPC_VCPU_EXITING);
	assert_false(gpc_cache_check(&gc, 0, 8));
	/* range_start waits until the vCPU has left guest mode. */
	assert_false(tbg_done_within(&ib, SHORT_MS));
	atomic_store(&tv.exit_allowed, 1);
	assert_int_equal(tbg_join(&ib), 0);
	assert_int_equal(ia.watch_seen, 1);
	last = atomic_load(&tv.last);
	assert_int_equal(gm_load(cur), last);
	/* Replace the page: nothing may reach the old one from now on. */
	assert_int_equal(gpc_hostmem_remap(NULL, t.hm, page, pg), 0);
	old = gpc_hostmem_retired_page(t.hm, page);
	assert_non_null(old);
	old += hva - page;
	/* Re-entry bails out once; the refresh in handle_requests waits
	 * for range_end. */
	atomic_store(&tv.enter_allowed, 2);
	assert_false(wait_ge(&tv.entries, 2, SHORT_MS));
	assert_int_equal(gm_load(old), last);
	assert_int_equal(gm_load(cur), 0);
	assert_int_equal(gpc_invalidate_range_end(t.vm, page, page + pg), 0);
	assert_true(wait_ge(&tv.entries, 2, TEST_PROMPT_MS));
	tvcpu_exit_nth(&tv, 2);
	assert_int_equal(atomic_load(&tv.bailouts), 1);
	assert_int_equal(gm_load(cur), atomic_load(&tv.last));
	assert_int_equal(gm_load(old), last);
	/* The request was consumed: the next entry goes straight in. */
	bail = atomic_load(&tv.bailouts);
	tvcpu_enter_nth(&tv, 3);
	tvcpu_exit_nth(&tv, 3);
	assert_int_equal(atomic_load(&tv.bailouts), bail);
	assert_int_equal(gpc_vcpu_get_stats(tv.v, &vs), 0);
	assert_int_equal(vs.entries, 3);
	assert_int_equal(vs.entry_bailouts, 1);
	assert_true(vs.kicks >= 1);
	assert_true(vs.requests_handled >= 1);
	assert_true(vstats(&t).kicks >= 1);
	tvcpu_finish(&vb, &tv);
	teardown(&t);
}

static void r6_guest_cache_evicts_vcpu(void **state)
{
	for (int stage = TVM_DIRECT; stage <= TVM_ALIAS; stage++) {
		test_watchdog_arm(60, "r6 %s", stage_names[stage]);
		r6_one(scheme_of(state), stage);
		test_watchdog_disarm();
	}
}

/* ==== R8: non-blocking invalidation: -EAGAIN, then a retry succeeds ====== */

/*
 * After -EAGAIN no range_end is owed, the sequence did not move, and the
 * range is pending (gpc/invalidate.h): (re)activating @other on it waits
 * instead of making a cache of the range valid again, until the caller
 * withdraws the mark.
 */
static void r8_pending(struct tvm *t, struct act_arg *other, uint64_t page,
		       uint64_t seq, uint64_t invals)
{
	struct tbg bg;

	assert_int_equal(gpc_invalidate_range_end(t->vm, page, page + pg),
			 -ENOENT);
	assert_int_equal(gpc_invalidate_sequence(t->vm), seq);
	assert_int_equal(vstats(t).invalidations, invals);
	tbg_start(&bg, activate_fn, other);
	assert_false(tbg_done_within(&bg, GPC_INVAL_PENDING_MS / 4));
	assert_int_equal(gpc_invalidate_range_cancel(t->vm, page, page + pg),
			 0);
	assert_true(tbg_done_within(&bg, TEST_PROMPT_MS));
	assert_int_equal(tbg_join(&bg), 0);
	assert_true(cstats(other->c).refresh_waits >= 1);
}

static int nb_start(struct tvm *t, uint64_t page)
{
	return gpc_invalidate_range_start(t->vm, page, page + pg,
					  GPC_INVAL_NONBLOCK);
}

/* Every attempt for @ms milliseconds fails with -EAGAIN. */
static bool nb_fails_for(struct tvm *t, uint64_t page, unsigned int ms)
{
	uint64_t end = test_now_ns() + ms * 1000000ull;

	do {
		if (nb_start(t, page) != -EAGAIN)
			return false;
		test_sleep_ms(1);
	} while (test_now_ns() < end);
	return true;
}

/* Retry every millisecond until it succeeds (or fails otherwise). */
static int nb_retry(struct tvm *t, uint64_t page)
{
	uint64_t end = test_now_ns() + TEST_PROMPT_MS * 1000000ull;
	int r;

	while ((r = nb_start(t, page)) == -EAGAIN && test_now_ns() < end)
		test_sleep_ms(1);
	return r;
}

/*
 * Only the guest cache is on the range at first, so the vCPU in guest mode
 * is the one reason for -EAGAIN (a cleared host cache would need a grace
 * period on srcu too).
 */
static void r8_vcpu(enum gpc_scheme scheme)
{
	uint64_t page, seq, invals, eagain;
	struct inval_arg ia;
	struct gpc_cache gc, hc;
	struct act_arg other = { &hc, gpa_page(6) + 8, 8 };
	struct tvcpu tv;
	struct tbg vb, ib;
	struct tvm t;

	setup(&t, scheme, TVM_DIRECT);
	tvcpu_create(&t, &tv, &gc, gpa_page(6));
	assert_int_equal(gpc_cache_init(&hc, t.vm, GPC_USAGE_HOST, NULL, 0), 0);
	page = page_of(tvm_hva(&t, gpa_page(6)));
	tbg_start(&vb, tvcpu_main, &tv);
	tvcpu_enter_nth(&tv, 1);
	seq = gpc_invalidate_sequence(t.vm);
	invals = vstats(&t).invalidations;
	eagain = vstats(&t).inval_eagain;
	/* The vCPU stays in guest mode: a waiting range_start would hang. */
	ia = (struct inval_arg){ t.vm, page, page + pg, GPC_INVAL_NONBLOCK,
				 NULL, 0 };
	tbg_start(&ib, inval_start_fn, &ia);
	assert_true(tbg_done_within(&ib, TEST_PROMPT_MS));
	assert_int_equal(tbg_join(&ib), -EAGAIN);
	/* Cache invalid, vCPU kicked, counted. */
	assert_false(gpc_cache_check(&gc, 0, 8));
	assert_true(atomic_load(&tv.kicks) >= 1);
	assert_int_equal(gpc_vcpu_mode(tv.v), GPC_VCPU_EXITING);
	assert_int_equal(vstats(&t).inval_eagain, eagain + 1);
	/* While it is still inside, every retry fails the same way. */
	assert_true(nb_fails_for(&t, page, SHORT_MS));
	r8_pending(&t, &other, page, seq, invals);
	/* Gone: a retry soon succeeds (srcu: once the grace period the
	 * cleared host cache needs has run), and range_end is owed. */
	tvcpu_exit_nth(&tv, 1);
	assert_int_equal(nb_retry(&t, page), 0);
	assert_int_equal(gpc_invalidate_range_end(t.vm, page, page + pg), 0);
	assert_int_equal(gpc_invalidate_sequence(t.vm), seq + 1);
	tvcpu_enter_nth(&tv, 2);
	tvcpu_exit_nth(&tv, 2);
	assert_int_equal(gpc_cache_destroy(&hc), 0);
	tvcpu_finish(&vb, &tv);
	teardown(&t);
}

/*
 * srcu: a reader inside a read section; rwlock: a reader holding the read
 * lock. Also from a signal handler that interrupts that very reader, where
 * a waiting invalidation would deadlock.
 */
static void r8_reader(enum gpc_scheme scheme)
{
	struct holder h = { .val = 0x8888888888888888ull };
	struct probe pr = { .op = PROBE_INVAL_NB };
	uint64_t page, seq, invals;
	struct gpc_cache hc, oc;
	struct act_arg other = { &oc, gpa_page(5) + CACHE_LEN, 8 };
	struct inval_arg ia;
	struct tbg hb, ib;
	struct tvm t;

	setup(&t, scheme, TVM_DIRECT);
	host_cache(&t, &hc, gpa_page(5), CACHE_LEN);
	host_cache(&t, &oc, other.gpa, other.len);
	page = page_of(tvm_hva(&t, gpa_page(5)));
	h.c = &hc;
	holder_start(&hb, &h);
	seq = gpc_invalidate_sequence(t.vm);
	invals = vstats(&t).invalidations;
	ia = (struct inval_arg){ t.vm, page, page + pg, GPC_INVAL_NONBLOCK,
				 NULL, 0 };
	tbg_start(&ib, inval_start_fn, &ia);
	assert_true(tbg_done_within(&ib, TEST_PROMPT_MS));
	assert_int_equal(tbg_join(&ib), -EAGAIN);
	r8_pending(&t, &other, page, seq, invals);
	/* From a handler on the reader's own thread: -EAGAIN, no hang. */
	pr.vm = t.vm;
	pr.start = page;
	pr.end = page + pg;
	assert_true(probe_fire(&pr, h.self));
	assert_int_equal(atomic_load(&pr.ret), -EAGAIN);
	/* While the reader stays, every retry fails (srcu: the grace period
	 * cannot end; rwlock: the write lock cannot be taken). */
	assert_true(nb_fails_for(&t, page, SHORT_MS));
	assert_int_equal(gpc_invalidate_range_end(t.vm, page, page + pg),
			 -ENOENT);
	/* The reader leaves; a retry soon succeeds. */
	holder_finish(&hb, &h);
	assert_int_equal(nb_retry(&t, page), 0);
	assert_true(misses_now(&hc));
	assert_int_equal(gpc_invalidate_range_end(t.vm, page, page + pg), 0);
	assert_int_equal(gpc_invalidate_sequence(t.vm), seq + 1);
	assert_int_equal(gpc_cache_refresh(&hc, 0), 0);
	assert_false(misses_now(&hc));
	assert_int_equal(gpc_cache_destroy(&hc), 0);
	assert_int_equal(gpc_cache_destroy(&oc), 0);
	teardown(&t);
}

static void r8_nonblock_inval_eagain_then_retry(void **state)
{
	test_watchdog_arm(60, "r8 vcpu");
	r8_vcpu(scheme_of(state));
	test_watchdog_arm(60, "r8 reader");
	r8_reader(scheme_of(state));
	test_watchdog_disarm();
}

/*
 * The -EAGAIN contract in full (gpc/invalidate.h): "having left the
 * overlapping caches invalid and their vCPUs kicked". A host cache on the
 * first page of the range is held by a reader; a guest cache on the second
 * page belongs to a vCPU in guest mode. After -EAGAIN a new reader must
 * miss the first, and the vCPU must have been kicked. Failures are
 * collected and asserted after cleaning up, so that a failure leaves no
 * thread behind.
 */
static void r8_eagain_contract_one(enum gpc_scheme scheme)
{
	struct holder h = { .val = 1 };
	bool hc_valid, gc_valid, kicked;
	struct gpc_cache hc, gc;
	struct tvcpu tv;
	struct tbg hb, vb;
	uint64_t page;
	int r;
	struct tvm t;

	setup(&t, scheme, TVM_DIRECT);
	host_cache(&t, &hc, gpa_page(4), CACHE_LEN);
	tvcpu_create(&t, &tv, &gc, gpa_page(5));
	page = page_of(tvm_hva(&t, gpa_page(4)));
	h.c = &hc;
	holder_start(&hb, &h);
	tbg_start(&vb, tvcpu_main, &tv);
	tvcpu_enter_nth(&tv, 1);
	r = gpc_invalidate_range_start(t.vm, page, page + 2 * pg,
				       GPC_INVAL_NONBLOCK);
	hc_valid = !misses_now(&hc);
	gc_valid = gpc_cache_check(&gc, 0, 8);
	kicked = atomic_load(&tv.kicks) >= 1;
	if (!r) /* not the expected result, but then range_end is owed */
		gpc_invalidate_range_end(t.vm, page, page + 2 * pg);
	else /* the caller retries only the first page: withdraw the mark */
		gpc_invalidate_range_cancel(t.vm, page, page + 2 * pg);
	holder_finish(&hb, &h);
	tvcpu_exit_nth(&tv, 1);
	assert_int_equal(nb_retry(&t, page), 0); /* first page only */
	assert_int_equal(gpc_invalidate_range_end(t.vm, page, page + pg), 0);
	assert_int_equal(gpc_cache_destroy(&hc), 0);
	tvcpu_finish(&vb, &tv);
	teardown(&t);
	assert_int_equal(r, -EAGAIN);
	if (hc_valid || gc_valid || !kicked)
		print_error("%s: after -EAGAIN: held host cache %s, guest "
			    "cache %s, vCPU %s\n",
			    tvm_scheme_names[scheme],
			    hc_valid ? "still VALID" : "invalid",
			    gc_valid ? "still VALID" : "invalid",
			    kicked ? "kicked" : "NOT kicked");
	assert_false(hc_valid);
	assert_false(gc_valid);
	assert_true(kicked);
}

static void r8_nonblock_eagain_leaves_caches_invalid(void **state)
{
	test_watchdog_arm(60, "r8 contract");
	r8_eagain_contract_one(scheme_of(state));
	test_watchdog_disarm();
}

/* ==== R9: unrelated invalidations ======================================== */

struct r9_ranges {
	uint64_t s[8], e[8];
	int n;
};

/* Ranges that overlap no cache: neighbours of the cache's page (one ending
 * exactly where it starts, one starting exactly where it ends, unaligned
 * ones), far RAM, and host memory outside every memslot. */
static void r9_ranges_init(struct r9_ranges *r, struct tvm *t, uint64_t page)
{
	uint64_t ram = (uint64_t)(uintptr_t)t->ram;
	uint64_t s[] = { page - pg, page + pg,	   page - 100,
			 page + pg, ram + 64 * pg, 1ull << 40 };
	uint64_t e[] = { page,		page + 2 * pg, page,
			 page + pg + 1, ram + 80 * pg, (1ull << 40) + pg };

	r->n = (int)(sizeof(s) / sizeof(s[0]));
	for (int i = 0; i < r->n; i++) {
		r->s[i] = s[i];
		r->e[i] = e[i];
	}
}

struct r9_storm {
	struct gpc_vm *vm;
	struct r9_ranges *r;
	long rounds;
};

/* Blocking and non-blocking invalidations of every unrelated range. */
static int r9_storm_fn(void *arg)
{
	struct r9_storm *st = arg;

	for (long k = 0; k < st->rounds; k++) {
		for (int i = 0; i < st->r->n; i++) {
			uint64_t s = st->r->s[i], e = st->r->e[i];
			unsigned int fl = (k & 1) ? GPC_INVAL_NONBLOCK : 0;

			if (gpc_invalidate_range_start(st->vm, s, e, fl))
				return -1;
			if (gpc_invalidate_range_end(st->vm, s, e))
				return -2;
		}
	}
	return 0;
}

struct r9_loop {
	struct gpc_cache *c;
	atomic_int stop;
	atomic_long reads, misses;
};

static int r9_reader_fn(void *arg)
{
	struct r9_loop *l = arg;

	while (!atomic_load(&l->stop) || atomic_load(&l->reads) < 100) {
		struct gpc_guard g;
		uint8_t *p = gpc_cache_begin(l->c, 0, 8, &g);

		if (p) {
			(void)gm_load(p);
			gpc_cache_end(l->c, &g);
		} else {
			atomic_fetch_add(&l->misses, 1);
		}
		atomic_fetch_add(&l->reads, 1);
	}
	return 0;
}

static void r9_one(enum gpc_scheme scheme)
{
	struct holder h = { .val = 9 };
	struct gpc_srcu_stats ss0, ss;
	struct gpc_cache_stats cs0, cs;
	struct gpc_vm_stats vs0, vs;
	struct r9_storm storm;
	struct r9_ranges rg;
	struct r9_loop loop = { 0 };
	struct inval_arg ia;
	struct gpc_cache c;
	struct tbg hb, sb, ob, lb;
	unsigned int seq0;
	uint64_t page;
	struct tvm t;

	setup(&t, scheme, TVM_DIRECT);
	host_cache(&t, &c, gpa_page(8), CACHE_LEN);
	page = page_of(tvm_hva(&t, gpa_page(8)));
	r9_ranges_init(&rg, &t, page);
	storm = (struct r9_storm){ t.vm, &rg, test_iters(50) + 1 };
	tvm_flush(&t);
	h.c = &c;
	holder_start(&hb, &h);
	seq0 = gpc_seqcount_raw(&c.seq);
	cs0 = cstats(&c);
	vs0 = vstats(&t);
	assert_int_equal(gpc_srcu_get_stats(gpc_vm_srcu(t.vm), &ss0), 0);
	/* They complete while a reader holds the cache: no writer lock of
	 * it (rwlock) and no grace period (srcu) is involved. */
	tbg_start(&sb, r9_storm_fn, &storm);
	assert_true(tbg_done_within(&sb, TEST_PROMPT_MS));
	assert_int_equal(tbg_join(&sb), 0);
	assert_int_equal(gpc_seqcount_raw(&c.seq), seq0);
	cs = cstats(&c);
	vs = vstats(&t);
	assert_int_equal(gpc_srcu_get_stats(gpc_vm_srcu(t.vm), &ss), 0);
	assert_int_equal(cs.misses, cs0.misses);
	assert_int_equal(cs.invalidations, cs0.invalidations);
	assert_int_equal(vs.inval_caches, vs0.inval_caches);
	assert_int_equal(vs.invalidations,
			 vs0.invalidations + (uint64_t)(storm.rounds * rg.n));
	assert_int_equal(ss.gp_completed, ss0.gp_completed);
	/* Control: an overlapping invalidation does wait for that reader. */
	ia = (struct inval_arg){ t.vm, page, page + pg, 0, NULL, 0 };
	tbg_start(&ob, inval_start_fn, &ia);
	assert_false(tbg_done_within(&ob, SHORT_MS));
	holder_finish(&hb, &h);
	assert_int_equal(tbg_join(&ob), 0);
	assert_int_equal(gpc_invalidate_range_end(t.vm, page, page + pg), 0);
	/* A reader in a loop through a storm of unrelated ones never misses. */
	assert_int_equal(gpc_cache_refresh(&c, 0), 0);
	cs0 = cstats(&c);
	loop.c = &c;
	tbg_start(&lb, r9_reader_fn, &loop);
	assert_int_equal(r9_storm_fn(&storm), 0);
	atomic_store(&loop.stop, 1);
	assert_int_equal(tbg_join(&lb), 0);
	assert_int_equal(atomic_load(&loop.misses), 0);
	assert_int_equal(cstats(&c).misses, cs0.misses);
	assert_int_equal(gpc_cache_destroy(&c), 0);
	teardown(&t);
}

static void r9_unrelated_inval_no_lock_no_miss(void **state)
{
	test_watchdog_arm(60, "r9");
	r9_one(scheme_of(state));
	test_watchdog_disarm();
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

struct hva_act_arg {
	struct gpc_cache *c;
	uint64_t addr, len;
};

static int bg_activate_hva(void *arg)
{
	struct hva_act_arg *a = arg;

	return gpc_cache_activate_hva(a->c, a->addr, a->len);
}

enum r15_how { R15_ACTIVATE, R15_REFRESH, R15_TESTMEM };

/* Start the refresh of @how and return once it is parked in stage 2. */
static void r15_park(struct tvm *t, struct gpc_cache *c, struct hva_act_arg *aa,
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
		tbg_start(b, refresh_fn, c);
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
	struct hva_act_arg aa = { &c, hva + 64, 64 };
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

/* ---- main ----------------------------------------------------------------- */

int main(void)
{
	const struct CMUnitTest tests[] = {
		BOTH_SCHEMES(r6_guest_cache_evicts_vcpu),
		BOTH_SCHEMES(r8_nonblock_inval_eagain_then_retry),
		BOTH_SCHEMES(r8_nonblock_eagain_leaves_caches_invalid),
		BOTH_SCHEMES(r9_unrelated_inval_no_lock_no_miss),
		BOTH(r15_hva_cache_outside_memslot),
	};

	scenario_install_probe_handler();
	return scenario_run("scenarios_invalidate", tests);
}
