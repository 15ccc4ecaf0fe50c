// SPDX-License-Identifier: MIT
/*
 * tests/unit/test_srcu_thread_exit.c - threads that end, inside a section or not.
 *
 * A thread that exits inside a read section can never leave it; the library
 * ends the section for it (so grace periods do not wait forever) and reports
 * the bug as an error. A thread that exits normally gives its slots back, so
 * that a program running many short-lived threads does not accumulate them.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <gpc/srcu.h>

#include "test_common.h"

static uint64_t slots_of(struct gpc_srcu *d)
{
	struct gpc_srcu_stats st;

	assert_int_equal(gpc_srcu_get_stats(d, &st), 0);
	return st.slots;
}

static int poll_until_done(struct gpc_srcu *d, uint64_t cookie)
{
	uint64_t end = test_now_ns() + TEST_PROMPT_MS * 1000000ULL;
	int r;

	while ((r = gpc_srcu_poll_state(d, cookie)) == 0 && test_now_ns() < end)
		test_sleep_ms(1);
	return r;
}

/* Wait up to TEST_PROMPT_MS for at least @n ERR messages. */
static bool wait_errors(unsigned int n)
{
	uint64_t end = test_now_ns() + TEST_PROMPT_MS * 1000000ULL;

	while (test_log_count(GPC_LOG_ERR) < n && test_now_ns() < end)
		test_sleep_ms(1);
	return test_log_count(GPC_LOG_ERR) >= n;
}

/* ---- exit inside a section --------------------------------------------- */

struct quitter {
	struct gpc_srcu *d[2];
	int ndomains;
	int depth;
	atomic_int inside;
	atomic_int go;
};

/* Enter @depth nested sections of each domain, then exit without leaving. */
static void *quitter_main(void *arg)
{
	struct quitter *q = arg;
	int i, k;

	for (k = 0; k < q->ndomains; k++)
		for (i = 0; i < q->depth; i++)
			gpc_srcu_read_lock(q->d[k]);
	atomic_store(&q->inside, 1);
	while (!atomic_load(&q->go))
		test_sleep_ms(1);
	pthread_exit(NULL);
}

struct syncer {
	struct gpc_srcu *d;
	atomic_int done;
	atomic_int ret;
};

static void *syncer_main(void *arg)
{
	struct syncer *s = arg;

	atomic_store(&s->ret, gpc_srcu_synchronize(s->d));
	atomic_store(&s->done, 1);
	return NULL;
}

/*
 * The thread exits while a synchronize waits for it: the wait ends, and
 * exactly one error is reported.
 */
static void test_exit_during_grace_period(void **state)
{
	struct gpc_srcu d;
	struct quitter q = { .d = { &d }, .ndomains = 1, .depth = 3 };
	struct syncer s = { .d = &d };
	pthread_t qt, st;
	uint64_t base, c;

	(void)state;
	test_log_capture();
	assert_int_equal(gpc_srcu_init(&d, NULL), 0);
	base = slots_of(&d);
	test_watchdog_arm(60, "synchronize while a reader exits inside");
	assert_int_equal(pthread_create(&qt, NULL, quitter_main, &q), 0);
	assert_true(test_wait_flag(&q.inside, TEST_PROMPT_MS));
	assert_true(slots_of(&d) == base + 1);

	c = gpc_srcu_start_poll(&d);
	assert_int_equal(pthread_create(&st, NULL, syncer_main, &s), 0);
	test_sleep_ms(100);
	assert_int_equal(atomic_load(&s.done), 0);
	assert_int_equal(gpc_srcu_poll_state(&d, c), 0);
	assert_int_equal(test_log_count(GPC_LOG_ERR), 0);

	atomic_store(&q.go, 1);
	assert_int_equal(pthread_join(qt, NULL), 0);
	assert_true(test_wait_flag(&s.done, TEST_PROMPT_MS));
	assert_int_equal(pthread_join(st, NULL), 0);
	assert_int_equal(atomic_load(&s.ret), 0);
	assert_int_equal(poll_until_done(&d, c), 1);
	test_watchdog_disarm();

	assert_true(wait_errors(1));
	test_sleep_ms(50);
	if (test_log_count(GPC_LOG_ERR) != 1 ||
	    test_log_matching(GPC_LOG_ERR, "exit") != 1)
		test_log_dump();
	assert_int_equal(test_log_count(GPC_LOG_ERR), 1);
	assert_int_equal(test_log_matching(GPC_LOG_ERR, "exit"), 1);
	/* Its slot went back with it. */
	assert_true(slots_of(&d) == base);
	assert_int_equal(gpc_srcu_synchronize(&d), 0);
	assert_int_equal(gpc_srcu_destroy(&d), 0);
}

/*
 * The thread exits inside sections of two domains with nobody waiting:
 * both sections end (later grace periods do not wait), one error each.
 */
static void test_exit_inside_two_domains(void **state)
{
	struct gpc_srcu a, b;
	struct quitter q = { .d = { &a, &b }, .ndomains = 2, .depth = 1 };
	pthread_t qt;

	(void)state;
	test_log_capture();
	assert_int_equal(gpc_srcu_init(&a, NULL), 0);
	assert_int_equal(gpc_srcu_init(&b, NULL), 0);
	test_watchdog_arm(60, "grace periods after a reader exited inside");
	assert_int_equal(pthread_create(&qt, NULL, quitter_main, &q), 0);
	assert_true(test_wait_flag(&q.inside, TEST_PROMPT_MS));
	atomic_store(&q.go, 1);
	assert_int_equal(pthread_join(qt, NULL), 0);
	assert_int_equal(gpc_srcu_synchronize(&a), 0);
	assert_int_equal(gpc_srcu_synchronize_expedited(&b), 0);
	test_watchdog_disarm();

	assert_true(wait_errors(2));
	test_sleep_ms(50);
	assert_int_equal(test_log_count(GPC_LOG_ERR), 2);
	/* A domain the thread had left is not reported as busy either. */
	assert_int_equal(gpc_srcu_destroy(&a), 0);
	assert_int_equal(gpc_srcu_destroy(&b), 0);
	assert_int_equal(test_log_count(GPC_LOG_ERR), 2);
}

/* ---- normal exit and slot reuse ---------------------------------------- */

struct worker {
	struct gpc_srcu *a, *b;
	int sections;
	pthread_barrier_t *hold; /* if set: wait twice before exiting */
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	int i;

	for (i = 0; i < w->sections; i++) {
		gpc_srcu_read_lock(w->a);
		if (w->b && (i & 1)) {
			gpc_srcu_read_lock(w->b);
			gpc_srcu_read_unlock(w->b);
		}
		gpc_srcu_read_unlock(w->a);
	}
	/* One event per thread: the sum must survive our exit. */
	gpc_srcu_count_event(gpc_srcu_slot_of(w->a));
	if (w->hold) {
		/* Alive with our slot while the test counts slots. */
		pthread_barrier_wait(w->hold);
		pthread_barrier_wait(w->hold);
	}
	return NULL;
}

static void test_normal_exit(void **state)
{
	struct gpc_srcu a, b;
	struct worker w = { &a, &b, 100, NULL };
	pthread_t t;
	uint64_t base_a, base_b;

	(void)state;
	test_log_capture();
	assert_int_equal(gpc_srcu_init(&a, NULL), 0);
	assert_int_equal(gpc_srcu_init(&b, NULL), 0);
	base_a = slots_of(&a);
	base_b = slots_of(&b);
	assert_int_equal(pthread_create(&t, NULL, worker_main, &w), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_true(slots_of(&a) == base_a);
	assert_true(slots_of(&b) == base_b);
	assert_int_equal(gpc_srcu_events(&a), 1);
	assert_int_equal(gpc_srcu_events(&b), 0);
	test_watchdog_arm(60, "synchronize after normal thread exits");
	assert_int_equal(gpc_srcu_synchronize(&a), 0);
	assert_int_equal(gpc_srcu_synchronize(&b), 0);
	test_watchdog_disarm();
	assert_int_equal(test_log_count(GPC_LOG_ERR), 0);
	assert_int_equal(test_log_count(GPC_LOG_WARN), 0);
	assert_int_equal(gpc_srcu_destroy(&a), 0);
	assert_int_equal(gpc_srcu_destroy(&b), 0);
}

/*
 * 200 short-lived threads, a few at a time: while a batch is alive each of
 * its threads owns a slot; once it has been joined they are all back, so
 * the count never grows past the number of live threads.
 */
static void test_slot_reuse(void **state)
{
	enum { TOTAL = 200, BATCH = 4 };
	struct gpc_srcu d;
	struct worker w;
	pthread_barrier_t hold;
	pthread_t t[BATCH];
	uint64_t base, n;
	int done, i;

	(void)state;
	test_log_capture();
	assert_int_equal(gpc_srcu_init(&d, NULL), 0);
	assert_int_equal(pthread_barrier_init(&hold, NULL, BATCH + 1), 0);
	w = (struct worker){ &d, NULL, 10, &hold };
	base = slots_of(&d);
	test_watchdog_arm(60, "200 short-lived reader threads");
	for (done = 0; done < TOTAL; done += BATCH) {
		for (i = 0; i < BATCH; i++)
			assert_int_equal(pthread_create(&t[i], NULL,
							worker_main, &w),
					 0);
		pthread_barrier_wait(&hold);
		n = slots_of(&d);
		pthread_barrier_wait(&hold);
		for (i = 0; i < BATCH; i++)
			assert_int_equal(pthread_join(t[i], NULL), 0);
		if (n != base + BATCH)
			print_message("batch at %d: %llu slots\n", done,
				      (unsigned long long)n);
		assert_true(n == base + BATCH);
		assert_true(slots_of(&d) == base);
	}
	test_watchdog_disarm();
	/* Counted once each: kept at exit, not again by the slot's next user. */
	assert_int_equal(gpc_srcu_events(&d), TOTAL);
	assert_int_equal(pthread_barrier_destroy(&hold), 0);
	assert_int_equal(gpc_srcu_synchronize(&d), 0);
	assert_int_equal(test_log_count(GPC_LOG_ERR), 0);
	assert_int_equal(gpc_srcu_destroy(&d), 0);
}

/* ---- sections after the exit hook began ---------------------------------- */

/*
 * A signal that lands while the exit hook is releasing the thread's slots:
 * the handler's section of a domain already released must still be seen by
 * that domain's grace periods. The log message about the other domain
 * (released after X: domains are listed newest first) raises the signal,
 * standing for an asynchronous one at that point.
 */
static struct gpc_srcu ew_x, ew_y;
static pthread_t ew_victim;
static atomic_int ew_in_handler, ew_sync_done, ew_saw_sync, ew_may_leave;

static void ew_on_sig(int sig)
{
	(void)sig;
	gpc_srcu_read_lock(&ew_x);
	atomic_store(&ew_in_handler, 1);
	for (int i = 0; i < 1000 && !atomic_load(&ew_may_leave); i++) {
		if (atomic_load(&ew_sync_done))
			atomic_store(&ew_saw_sync, 1);
		test_sleep_ms(1);
	}
	if (atomic_load(&ew_sync_done))
		atomic_store(&ew_saw_sync, 1);
	gpc_srcu_read_unlock(&ew_x);
}

static void ew_log(enum gpc_log_level level, const char *msg, void *ctx)
{
	(void)level;
	(void)ctx;
	if (pthread_equal(pthread_self(), ew_victim) &&
	    strstr(msg, "exited inside"))
		raise(SIGUSR1);
}

static void *ew_victim_main(void *arg)
{
	(void)arg;
	gpc_srcu_read_lock(&ew_x); /* X's entry and record */
	gpc_srcu_read_unlock(&ew_x);
	gpc_srcu_read_lock(&ew_y); /* exits inside Y: the hook logs */
	return NULL;
}

static void *ew_syncer(void *arg)
{
	(void)arg;
	gpc_srcu_synchronize(&ew_x);
	atomic_store(&ew_sync_done, 1);
	return NULL;
}

static void test_signal_during_exit_hook(void **state)
{
	struct sigaction sa = { .sa_handler = ew_on_sig }, old;
	pthread_t s;

	(void)state;
	assert_int_equal(sigaction(SIGUSR1, &sa, &old), 0);
	gpc_log_set_handler(ew_log, NULL);
	assert_int_equal(gpc_srcu_init(&ew_y, NULL), 0);
	assert_int_equal(gpc_srcu_init(&ew_x, NULL), 0);
	assert_int_equal(pthread_create(&ew_victim, NULL, ew_victim_main, NULL),
			 0);
	while (!atomic_load(&ew_in_handler))
		test_sleep_ms(1);
	assert_int_equal(pthread_create(&s, NULL, ew_syncer, NULL), 0);
	assert_int_equal(pthread_join(s, NULL), 0);
	atomic_store(&ew_may_leave, 1);
	assert_int_equal(pthread_join(ew_victim, NULL), 0);
	/* The grace period waited for the handler's section. */
	assert_int_equal(atomic_load(&ew_saw_sync), 0);
	gpc_log_set_handler(NULL, NULL);
	assert_int_equal(sigaction(SIGUSR1, &old, NULL), 0);
	assert_int_equal(gpc_srcu_destroy(&ew_x), 0);
	assert_int_equal(gpc_srcu_destroy(&ew_y), 0);
}

/*
 * A key destructor that runs after libgpc's and reads in every destructor
 * round, also the last, after which libgpc's hook does not run again: its
 * sections must not leave a record pointing into the dead thread's TLS
 * (ctest runs this program once more with glibc's stack cache off, so the
 * TLS is unmapped at once and such a pointer would crash the scans below).
 */
static struct gpc_srcu lr_d;
static pthread_key_t lr_key;
static atomic_int lr_calls;

static void lr_dtor(void *v)
{
	(void)v;
	atomic_fetch_add(&lr_calls, 1);
	gpc_srcu_read_lock(&lr_d);
	gpc_srcu_read_unlock(&lr_d);
	pthread_setspecific(lr_key, (void *)1); /* one more round */
}

static void *lr_main(void *arg)
{
	(void)arg;
	gpc_srcu_read_lock(&lr_d);
	gpc_srcu_read_unlock(&lr_d);
	pthread_setspecific(lr_key, (void *)1);
	return NULL;
}

static void *nothing(void *arg)
{
	return arg;
}

static void test_reader_in_late_destructor(void **state)
{
	pthread_t t;

	(void)state;
	/* TSan's own per-thread state is gone by the later destructor
	 * rounds, and its interceptors abort there (a TSan limitation). */
	if (TEST_TSAN)
		skip();
	test_log_capture();
	assert_int_equal(gpc_srcu_init(&lr_d, NULL), 0);
	/* Created after libgpc's key: its destructor runs after libgpc's. */
	assert_int_equal(pthread_key_create(&lr_key, lr_dtor), 0);
	assert_int_equal(pthread_create(&t, NULL, lr_main, NULL), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_true(atomic_load(&lr_calls) >= 2);
	/* Recycle the thread's stack and TLS, then scan. */
	for (int i = 0; i < 8; i++) {
		assert_int_equal(pthread_create(&t, NULL, nothing, NULL), 0);
		assert_int_equal(pthread_join(t, NULL), 0);
	}
	assert_int_equal(gpc_srcu_synchronize(&lr_d), 0);
	(void)gpc_srcu_events(&lr_d);
	assert_int_equal(pthread_key_delete(lr_key), 0);
	assert_int_equal(test_log_count(GPC_LOG_ERR), 0);
	assert_int_equal(gpc_srcu_destroy(&lr_d), 0);
}

/*
 * The exit hook reports a section left open after it dropped its locks, so
 * a log handler may call back into the library (here: gpc_srcu_events,
 * which takes the domain's scan lock).
 */
static struct gpc_srcu lh_d;
static atomic_int lh_logged;

static void lh_log(enum gpc_log_level level, const char *msg, void *ctx)
{
	(void)level;
	(void)msg;
	(void)ctx;
	(void)gpc_srcu_events(&lh_d);
	atomic_fetch_add(&lh_logged, 1);
}

static void *lh_main(void *arg)
{
	(void)arg;
	gpc_srcu_read_lock(&lh_d); /* exits inside */
	return NULL;
}

static void test_log_handler_reenters(void **state)
{
	pthread_t t;

	(void)state;
	assert_int_equal(gpc_srcu_init(&lh_d, NULL), 0);
	gpc_log_set_handler(lh_log, NULL);
	assert_int_equal(pthread_create(&t, NULL, lh_main, NULL), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	gpc_log_set_handler(NULL, NULL);
	assert_int_equal(atomic_load(&lh_logged), 1);
	assert_int_equal(gpc_srcu_destroy(&lh_d), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exit_during_grace_period),
		cmocka_unit_test(test_exit_inside_two_domains),
		cmocka_unit_test(test_normal_exit),
		cmocka_unit_test(test_slot_reuse),
		cmocka_unit_test(test_signal_during_exit_hook),
		cmocka_unit_test(test_reader_in_late_destructor),
		cmocka_unit_test(test_log_handler_reenters),
	};

	return cmocka_run_group_tests_name("srcu_thread_exit", tests, NULL,
					   NULL);
}
