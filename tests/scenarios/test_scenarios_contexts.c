// SPDX-License-Identifier: MIT
/*
 * tests/scenarios/test_scenarios_contexts.c - readers and slow paths in
 * contexts that must not block or deadlock (R7, R11, R13 of
 * docs/regressions.md), on both read-side schemes. What must hold:
 *
 * - R7: a reader in a signal handler always returns at once while a writer
 *   (refresh, invalidation) holds the cache: with the cache or with a miss
 *   it can defer.
 * - R11: a slow path reached while the caller holds one of its own locks
 *   (a refresh, an invalidation, a vCPU kick) completes: the library's
 *   locks are leaves, taken neither recursively nor around a callback.
 * - R13: interrupt-like readers (signal handlers) never hang: srcu readers
 *   never wait; rwlock readers that cannot take the lock get a miss.
 *
 * main() installs R7's SIGUSR1 handler (scenario.h); R13 installs its own
 * for SIGUSR1 when it runs, so R7's cases come first in the table. R7 is
 * named <scenario>_<scheme> and runs again with GPC_SRCU_NO_MEMBARRIER=1
 * (test_scenarios_contexts_nomembarrier); R11 and R13 are named
 * <scenario>/<scheme> and run once, as before the split.
 */
#include "scenario.h"

/* ==== R7: an atomic-context reader never blocks on a writer ============== */

static void r7_expect(struct probe *pr, pthread_t thr, int hit, uint64_t val)
{
	assert_true(probe_fire(pr, thr)); /* the handler returned */
	assert_int_equal(atomic_load(&pr->hit), hit);
	if (hit)
		assert_int_equal(atomic_load(&pr->val), val);
}

static int try_read_fn(void *arg)
{
	struct gpc_cache *c = arg;
	struct gpc_guard g;
	uint8_t *p = gpc_cache_try_begin(c, 0, 8, &g);

	if (p)
		gpc_cache_end(c, &g);
	return p != NULL;
}

/*
 * The writer is the interrupted thread itself, inside its write section
 * (rwlock: holding the write lock; srcu: the seqcount odd). The library's
 * write sections are short, block signals and have no hook, so the test
 * plays that writer on the cache's own lock/seqcount.
 */
static void r7_writer_here(struct gpc_cache *c, bool in)
{
	if (c->scheme == GPC_SCHEME_RWLOCK) {
		if (in)
			assert_int_equal(pthread_rwlock_wrlock(&c->rw), 0);
		else
			assert_int_equal(pthread_rwlock_unlock(&c->rw), 0);
	} else if (in) {
		gpc_seqcount_write_begin(&c->seq);
	} else {
		gpc_seqcount_write_end(&c->seq);
	}
}

static void r7_one(enum gpc_scheme scheme)
{
	uint64_t v = 0x7777777777777777ull, page, misses;
	struct probe pr = { .op = PROBE_READ };
	pthread_t self = pthread_self();
	struct inval_arg ia;
	struct gpc_cache c;
	struct tstop *s;
	struct tbg bg;
	struct tvm t;

	setup(&t, scheme, TVM_DIRECT);
	host_cache(&t, &c, gpa_page(4), CACHE_LEN);
	page = page_of(tvm_hva(&t, gpa_page(4)));
	assert_int_equal(gpc_cache_write(&c, 0, &v, sizeof(v)), 0);
	gpc_srcu_register_thread(gpc_vm_srcu(t.vm));
	pr.c = &c;
	misses = cstats(&c).misses;
	r7_expect(&pr, self, 1, v);
	/* 1. A writer holds the write side; a handler interrupts it. */
	r7_writer_here(&c, true);
	r7_expect(&pr, self, 0, 0);
	/* A (real-time) reader thread meanwhile misses too, promptly. */
	tbg_start(&bg, try_read_fn, &c);
	assert_true(tbg_done_within(&bg, TEST_PROMPT_MS));
	r7_writer_here(&c, false);
	assert_int_equal(tbg_join(&bg), 0);
	r7_expect(&pr, self, 1, v);
	/* 2. An invalidation parked after clearing the cache. */
	s = tstop_arm(&t, GPC_HOOK_INVAL_CLEARED, NULL);
	ia = (struct inval_arg){ t.vm, page, page + pg, 0, NULL, 0 };
	tbg_start(&bg, inval_start_fn, &ia);
	assert_true(tstop_wait(s));
	r7_expect(&pr, self, 0, 0);
	tstop_release(s);
	assert_int_equal(tbg_join(&bg), 0);
	r7_expect(&pr, self, 0, 0);
	assert_int_equal(gpc_invalidate_range_end(t.vm, page, page + pg), 0);
	/* 3. A refresh parked between clearing valid and publishing. */
	s = tstop_arm(&t, GPC_HOOK_REFRESH_TRANSLATED, &c);
	tbg_start(&bg, refresh_fn, &c);
	assert_true(tstop_wait(s));
	r7_expect(&pr, self, 0, 0);
	tstop_release(s);
	assert_int_equal(tbg_join(&bg), 0);
	r7_expect(&pr, self, 1, v);
	/* Every miss above was counted as one. */
	assert_int_equal(cstats(&c).misses, misses + 5);
	assert_int_equal(gpc_cache_destroy(&c), 0);
	teardown(&t);
}

static void r7_signal_reader_never_blocks(void **state)
{
	test_watchdog_arm(60, "r7");
	r7_one(scheme_of(state));
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
	tbg_start(&rb, refresh_fn, &x->b);
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
	struct inval_arg ia = { .vm = x->t->vm, .start = hva, .end = hva + pg };
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
	struct inval_arg ia = { .vm = x->t->vm, .start = hva, .end = hva + pg };
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
struct r13_holder {
	struct gpc_cache *c;
	atomic_int holding, leave, hit;
};

static int r13_holder_main(void *arg)
{
	struct r13_holder *h = arg;
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
	struct inval_arg ia = { .vm = t->vm, .start = hva, .end = hva + pg };
	struct r13_holder h = { .c = a };
	struct gpc_guard g;
	struct tbg hb, ib;
	int hit = -1;

	tbg_start(&hb, r13_holder_main, &h);
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
	tbg_start(&rb, refresh_fn, a);
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

/* ---- main ----------------------------------------------------------------- */

int main(void)
{
	const struct CMUnitTest tests[] = {
		BOTH_SCHEMES(r7_signal_reader_never_blocks),
		BOTH(r11_slow_path_under_caller_lock),
		BOTH(r13_rwlock_trylock_miss_not_hang),
		BOTH(r13_srcu_never_blocks),
	};

	scenario_install_probe_handler();
	return scenario_run("scenarios_contexts", tests);
}
