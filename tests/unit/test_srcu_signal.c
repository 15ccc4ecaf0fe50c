// SPDX-License-Identifier: MIT
/*
 * tests/unit/test_srcu_signal.c - read sections and seqcount reads in signal
 * handlers.
 *
 * The read side is async-signal-safe: a handler may enter and leave a
 * section whatever the interrupted code was doing, including being in the
 * middle of a read_lock/read_unlock of the same domain, waiting for a grace
 * period, or queueing a callback under the domain's mutex. Here the test
 * thread is bombarded with SIGUSR1/SIGUSR2 (the handler is installed without
 * blocking the other signal, so handlers interrupt handlers too) while it
 *	(a) loops in read sections,
 *	(b) calls synchronize,
 *	(c) calls gpc_srcu_call,
 *	(d) writes a seqcount with the sigsafe write section, while the handler
 *	    reads it with the spinning gpc_seqcount_read_begin().
 * The handler checks that the object it finds through the domain is never
 * poisoned and that the seqcount pair is consistent; nothing may deadlock.
 * An updater thread keeps replacing the object throughout.
 *
 * (The deterministic case of a bounded seqcount reader interrupting a plain
 * write section of its own thread is in test_seqcount.c.)
 */
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <gpc/seqcount.h>
#include <gpc/srcu.h>

#include "test_common.h"

#define POISON 0x5a5a5a5a

struct obj {
	struct gpc_srcu_head head;
	_Atomic int poison;
	long payload; /* plain: written before publication only */
	struct obj *retired_next;
};

static struct gpc_srcu dom;
static _Atomic(struct obj *) cur;

static struct gpc_seqcount seq = GPC_SEQCOUNT_INIT;
static _Atomic long seq_x, seq_y;

/* What handlers saw; only atomics, which are async-signal-safe. */
static atomic_long h_runs, h_nested, h_poisoned, h_torn, h_during, h_odd;

/*
 * Set by the test thread around the operation a phase is about
 * (synchronize, call, a write section); its handlers count how often they
 * interrupted it.
 */
static atomic_int in_op;

/* Retired objects stay allocated until the end, so a late reader of one
 * finds the poison rather than freed memory. */
static pthread_mutex_t retired_lock = PTHREAD_MUTEX_INITIALIZER;
static struct obj *retired;
static atomic_long n_retired;

static struct obj *obj_new(long payload)
{
	struct obj *o = calloc(1, sizeof(*o));

	if (!o)
		abort();
	o->payload = payload;
	return o;
}

static void retire(struct obj *o)
{
	atomic_store_explicit(&o->poison, POISON, memory_order_relaxed);
	pthread_mutex_lock(&retired_lock);
	o->retired_next = retired;
	retired = o;
	pthread_mutex_unlock(&retired_lock);
	atomic_fetch_add(&n_retired, 1);
}

static void free_retired(void)
{
	pthread_mutex_lock(&retired_lock);
	while (retired) {
		struct obj *o = retired;

		retired = o->retired_next;
		free(o);
	}
	pthread_mutex_unlock(&retired_lock);
}

/* Replace the current object; the caller must retire the returned one. */
static struct obj *replace(long payload)
{
	struct obj *o = obj_new(payload);

	return atomic_exchange_explicit(&cur, o, memory_order_acq_rel);
}

/*
 * Check the current object as a reader: false if it is poisoned (retired
 * while we may still hold it) or its payload was never written.
 */
static bool check_current(void)
{
	struct obj *o = atomic_load_explicit(&cur, memory_order_acquire);

	if (atomic_load_explicit(&o->poison, memory_order_relaxed))
		return false;
	return o->payload >= 0;
}

/* ---- the handler ------------------------------------------------------- */

static void handler(int sig)
{
	int saved_errno = errno;
	bool nested = gpc_srcu_read_held(&dom);
	unsigned int s;
	long x, y;

	(void)sig;
	atomic_fetch_add_explicit(&h_runs, 1, memory_order_relaxed);
	if (atomic_load_explicit(&in_op, memory_order_relaxed))
		atomic_fetch_add_explicit(&h_during, 1, memory_order_relaxed);
	if (gpc_seqcount_raw(&seq) & 1)
		atomic_fetch_add(&h_odd, 1);
	gpc_srcu_read_lock(&dom);
	if (nested)
		atomic_fetch_add_explicit(&h_nested, 1, memory_order_relaxed);
	if (!check_current())
		atomic_fetch_add(&h_poisoned, 1);
	gpc_srcu_read_unlock(&dom);

	/*
	 * The spinning form: fine only because every writer of seq on this
	 * thread blocks signals for its write section.
	 */
	do {
		s = gpc_seqcount_read_begin(&seq);
		x = atomic_load_explicit(&seq_x, memory_order_relaxed);
		y = atomic_load_explicit(&seq_y, memory_order_relaxed);
	} while (gpc_seqcount_read_retry(&seq, s));
	if (x != -y)
		atomic_fetch_add(&h_torn, 1);
	errno = saved_errno;
}

static void install_handler(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = handler;
	/* Empty mask: SIGUSR2 may interrupt the SIGUSR1 handler and back. */
	sigemptyset(&sa.sa_mask);
	assert_int_equal(sigaction(SIGUSR1, &sa, NULL), 0);
	assert_int_equal(sigaction(SIGUSR2, &sa, NULL), 0);
	/*
	 * Start every phase with both signals unblocked. Under
	 * ThreadSanitizer, which runs handlers deferred at its own points, a
	 * handler run inside the pthread_sigmask of a sigsafe write section
	 * could leave the signals blocked for the rest of the process: the
	 * sigsafe phase then handled 0 of 40,000 signals (natively the kernel
	 * delivers on the mask change and nothing stays blocked).
	 */
	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, SIGUSR1);
	sigaddset(&sa.sa_mask, SIGUSR2);
	assert_int_equal(pthread_sigmask(SIG_UNBLOCK, &sa.sa_mask, NULL), 0);
}

/* ---- background threads ------------------------------------------------ */

struct bg {
	pthread_t target;
	atomic_int stop;
	atomic_long sent;
	atomic_long updates;
};

/* Sends signals to the test thread as fast as is reasonable. */
static void *bombarder(void *arg)
{
	struct bg *b = arg;
	uint64_t rnd = 0x9e3779b97f4a7c15ULL;

	while (!atomic_load_explicit(&b->stop, memory_order_relaxed)) {
		uint64_t r = test_rand(&rnd);

		pthread_kill(b->target, (r & 1) ? SIGUSR1 : SIGUSR2);
		atomic_fetch_add_explicit(&b->sent, 1, memory_order_relaxed);
		if (r & 6)
			usleep((r >> 8) % 50);
		else
			sched_yield();
	}
	return NULL;
}

/* Keeps replacing the object: unpublish, wait, poison. */
static void *updater(void *arg)
{
	struct bg *b = arg;
	long n = 0;

	while (!atomic_load_explicit(&b->stop, memory_order_relaxed)) {
		struct obj *old = replace(++n);

		if (n & 1)
			gpc_srcu_synchronize(&dom);
		else
			gpc_srcu_synchronize_expedited(&dom);
		retire(old);
		atomic_fetch_add_explicit(&b->updates, 1, memory_order_relaxed);
		usleep(200);
	}
	return NULL;
}

/*
 * Holds sections for a while, so that grace periods of the test thread
 * really wait (spin, then sleep on the futex) and get interrupted there.
 */
static void *slow_reader(void *arg)
{
	struct bg *b = arg;

	while (!atomic_load_explicit(&b->stop, memory_order_relaxed)) {
		gpc_srcu_read_lock(&dom);
		if (!check_current())
			atomic_fetch_add(&h_poisoned, 1);
		usleep(50);
		if (!check_current())
			atomic_fetch_add(&h_poisoned, 1);
		gpc_srcu_read_unlock(&dom);
		usleep(20);
	}
	return NULL;
}

static struct bg bg;
static pthread_t bomb_thread, upd_thread, slow_thread;

/* Bits for start_bg()/stop_bg(): which helpers a phase runs. */
#define BG_UPDATER     1
#define BG_SLOW_READER 2

static int group_setup(void **state)
{
	(void)state;
	if (gpc_srcu_init(&dom, NULL))
		return -1;
	/* Claim our slot outside any handler, as a strict program must. */
	if (gpc_srcu_register_thread(&dom))
		return -1;
	atomic_store(&cur, obj_new(0));
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	if (gpc_srcu_destroy(&dom))
		return -1;
	free(atomic_load(&cur));
	free_retired();
	return 0;
}

static void start_bg(int which)
{
	memset(&bg, 0, sizeof(bg));
	bg.target = pthread_self();
	atomic_store(&h_runs, 0);
	atomic_store(&h_nested, 0);
	atomic_store(&h_during, 0);
	install_handler();
	assert_int_equal(pthread_create(&bomb_thread, NULL, bombarder, &bg), 0);
	if (which & BG_UPDATER)
		assert_int_equal(
			pthread_create(&upd_thread, NULL, updater, &bg), 0);
	if (which & BG_SLOW_READER)
		assert_int_equal(pthread_create(&slow_thread, NULL, slow_reader,
						&bg),
				 0);
}

static void stop_bg(int which)
{
	atomic_store(&bg.stop, 1);
	assert_int_equal(pthread_join(bomb_thread, NULL), 0);
	if (which & BG_UPDATER)
		assert_int_equal(pthread_join(upd_thread, NULL), 0);
	if (which & BG_SLOW_READER)
		assert_int_equal(pthread_join(slow_thread, NULL), 0);
}

/*
 * A phase runs at least @n iterations and until its handlers interrupted
 * the operation under test @want times, but no longer than 10 s.
 */
struct phase {
	long i, n, want;
	uint64_t end;
};

static void phase_start(struct phase *p, long n, long want)
{
	p->i = 0;
	p->n = test_iters(n);
	p->want = want;
	p->end = test_now_ns() + 10000000000ULL;
}

static bool phase_more(struct phase *p, atomic_long *counter)
{
	/* Look at the clock rarely: it would dominate a tight loop. */
	if (p->i < p->n || (p->i & 255))
		return true;
	return atomic_load(counter) < p->want && test_now_ns() < p->end;
}

/* After a phase: nothing bad seen, our slot is clean, the domain works. */
static void check_after_phase(const char *phase)
{
	print_message("%s: %ld signals sent, %ld handled (%ld nested, %ld "
		      "during the operation), %ld updates\n",
		      phase, atomic_load(&bg.sent), atomic_load(&h_runs),
		      atomic_load(&h_nested), atomic_load(&h_during),
		      atomic_load(&bg.updates));
	assert_int_equal(atomic_load(&h_poisoned), 0);
	assert_int_equal(atomic_load(&h_torn), 0);
	assert_int_equal(atomic_load(&h_odd), 0);
	assert_true(atomic_load(&h_runs) > 0);
	assert_false(gpc_srcu_read_held(&dom));
	assert_int_equal(gpc_srcu_synchronize(&dom), 0);
}

/* ---- phases -------------------------------------------------------------- */

/* Deterministic: a handler run inside a section is a nested section. */
static void test_raise_inside_section(void **state)
{
	(void)state;
	install_handler();
	atomic_store(&h_runs, 0);
	atomic_store(&h_nested, 0);
	assert_int_equal(raise(SIGUSR1), 0);
	assert_int_equal(atomic_load(&h_nested), 0);
	gpc_srcu_read_lock(&dom);
	assert_int_equal(raise(SIGUSR2), 0);
	assert_int_equal(pthread_kill(pthread_self(), SIGUSR1), 0);
	assert_true(gpc_srcu_read_held(&dom));
	gpc_srcu_read_unlock(&dom);
	assert_int_equal(atomic_load(&h_runs), 3);
	assert_int_equal(atomic_load(&h_nested), 2);
	assert_false(gpc_srcu_read_held(&dom));
	assert_int_equal(gpc_srcu_synchronize(&dom), 0);
	assert_int_equal(atomic_load(&h_poisoned), 0);
}

/*
 * A thread whose very first read section of the domain is entered by a
 * signal handler: the slot is claimed there (lock free), and the thread
 * still gives it back when it exits.
 */
struct fresh {
	atomic_int ready;
	atomic_int done;
};

static void *fresh_main(void *arg)
{
	struct fresh *f = arg;

	atomic_store(&f->ready, 1);
	while (!atomic_load(&f->done))
		usleep(100);
	return NULL;
}

static uint64_t slots_in_use(void)
{
	struct gpc_srcu_stats st;

	assert_int_equal(gpc_srcu_get_stats(&dom, &st), 0);
	return st.slots;
}

static void test_first_lock_in_handler(void **state)
{
	struct fresh f = { 0 };
	pthread_t t;
	uint64_t base;
	long runs;

	(void)state;
	install_handler();
	base = slots_in_use();
	runs = atomic_load(&h_runs);
	assert_int_equal(pthread_create(&t, NULL, fresh_main, &f), 0);
	assert_true(test_wait_flag(&f.ready, TEST_PROMPT_MS));
	assert_int_equal(slots_in_use(), base);
	test_watchdog_arm(30, "first read section inside a handler");
	assert_int_equal(pthread_kill(t, SIGUSR1), 0);
	while (atomic_load(&h_runs) == runs)
		test_sleep_ms(1);
	assert_int_equal(slots_in_use(), base + 1);
	atomic_store(&f.done, 1);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(slots_in_use(), base);
	assert_int_equal(atomic_load(&h_poisoned), 0);
	assert_int_equal(gpc_srcu_synchronize(&dom), 0);
	test_watchdog_disarm();
}

/* (a) The test thread loops in read sections. */
static void test_signals_in_read_loop(void **state)
{
	struct phase p;
	uint64_t rnd = 12345;
	long bad = 0;

	(void)state;
	start_bg(BG_UPDATER);
	test_watchdog_arm(60, "signals during read sections");
	/* Until a handler has interrupted a section many times. */
	for (phase_start(&p, 20000, 200); phase_more(&p, &h_nested); p.i++) {
		uint64_t r = test_rand(&rnd);

		gpc_srcu_read_lock(&dom);
		if (r & 2)
			gpc_srcu_read_lock(&dom);
		if (!check_current())
			bad++;
		/* A sleep inside gives signals (also under TSan) a way in. */
		if (!(r & 0x70))
			usleep(20);
		if (!check_current())
			bad++;
		if (r & 2)
			gpc_srcu_read_unlock(&dom);
		gpc_srcu_read_unlock(&dom);
	}
	stop_bg(BG_UPDATER);
	test_watchdog_disarm();
	assert_int_equal(bad, 0);
	check_after_phase("read loop");
	assert_true(atomic_load(&h_nested) > 0);
}

/*
 * (a') The same without sleeps: back-to-back lock/unlock, so that signals
 * also land between the load and the store of read_lock/read_unlock. A
 * handler that did not leave the slot as it found it would corrupt the
 * nesting count, which the checks after the phase would see (read_held, or
 * a synchronize that never returns). Under TSan a signal is delivered only
 * when the thread enters the runtime, so there the phase proves less.
 */
static void test_signals_in_tight_read_loop(void **state)
{
	struct phase p;
	long bad = 0;

	(void)state;
	start_bg(0);
	test_watchdog_arm(60, "signals during a tight read loop");
	for (phase_start(&p, 2000000, TEST_TSAN ? 0 : 500);
	     phase_more(&p, &h_runs); p.i++) {
		gpc_srcu_read_lock(&dom);
		if (p.i & 1)
			gpc_srcu_read_lock(&dom);
		if (!check_current())
			bad++;
		if (p.i & 1)
			gpc_srcu_read_unlock(&dom);
		gpc_srcu_read_unlock(&dom);
	}
	stop_bg(0);
	test_watchdog_disarm();
	assert_int_equal(bad, 0);
	check_after_phase("tight read loop");
}

/* (b) The test thread is an updater and waits in synchronize. */
static void test_signals_in_synchronize(void **state)
{
	struct phase p;
	int r;

	(void)state;
	start_bg(BG_UPDATER | BG_SLOW_READER);
	test_watchdog_arm(60, "signals during synchronize");
	for (phase_start(&p, 1000, 200); phase_more(&p, &h_during); p.i++) {
		struct obj *old = replace(p.i);

		atomic_store_explicit(&in_op, 1, memory_order_relaxed);
		r = (p.i & 1) ? gpc_srcu_synchronize(&dom) :
				gpc_srcu_synchronize_expedited(&dom);
		atomic_store_explicit(&in_op, 0, memory_order_relaxed);
		if (r)
			break;
		retire(old);
	}
	stop_bg(BG_UPDATER | BG_SLOW_READER);
	test_watchdog_disarm();
	assert_int_equal(r, 0);
	check_after_phase("synchronize");
	assert_true(atomic_load(&h_during) > 0);
}

static void retire_cb(struct gpc_srcu_head *h)
{
	retire((struct obj *)((char *)h - offsetof(struct obj, head)));
}

/* (c) The test thread queues callbacks (taking the domain's mutex). */
static void test_signals_in_call(void **state)
{
	struct phase p;
	int r = 0;

	(void)state;
	start_bg(BG_UPDATER | BG_SLOW_READER);
	test_watchdog_arm(60, "signals during gpc_srcu_call");
	for (phase_start(&p, 5000, 50); phase_more(&p, &h_during); p.i++) {
		struct obj *old = replace(p.i);

		atomic_store_explicit(&in_op, 1, memory_order_relaxed);
		r = gpc_srcu_call(&dom, &old->head, retire_cb);
		atomic_store_explicit(&in_op, 0, memory_order_relaxed);
		if (r)
			break;
		if (!(p.i % 500) && (r = gpc_srcu_barrier(&dom)))
			break;
	}
	assert_int_equal(r, 0);
	assert_int_equal(gpc_srcu_barrier(&dom), 0);
	stop_bg(BG_UPDATER | BG_SLOW_READER);
	test_watchdog_disarm();
	check_after_phase("call");
	assert_true(atomic_load(&h_during) > 0);
}

/*
 * (d) The test thread writes the seqcount with signals blocked; handlers
 * that arrive meanwhile run after the section and read with the spinning
 * form, which therefore never waits for the writer it interrupted. No
 * handler may run inside a write section (h_during) or see an odd count.
 */
static void test_signals_in_sigsafe_write(void **state)
{
	struct phase p;
	sigset_t saved;

	(void)state;
	start_bg(0);
	test_watchdog_arm(60, "spinning seqcount reader vs sigsafe writer");
	for (phase_start(&p, 50000, 200); phase_more(&p, &h_runs); p.i++) {
		gpc_seqcount_write_begin_sigsafe(&seq, &saved);
		atomic_store_explicit(&in_op, 1, memory_order_relaxed);
		atomic_store_explicit(&seq_x, p.i, memory_order_relaxed);
		/* Widen the window between the two halves. */
		for (int k = 0; k < 20; k++)
			gpc_cpu_relax();
		atomic_store_explicit(&seq_y, -p.i, memory_order_relaxed);
		atomic_store_explicit(&in_op, 0, memory_order_relaxed);
		gpc_seqcount_write_end_sigsafe(&seq, &saved);
	}
	stop_bg(0);
	test_watchdog_disarm();
	check_after_phase("sigsafe seqcount write");
	assert_int_equal(atomic_load(&h_during), 0);
	assert_int_equal(gpc_seqcount_raw(&seq) & 1, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_raise_inside_section),
		cmocka_unit_test(test_first_lock_in_handler),
		cmocka_unit_test(test_signals_in_read_loop),
		cmocka_unit_test(test_signals_in_tight_read_loop),
		cmocka_unit_test(test_signals_in_synchronize),
		cmocka_unit_test(test_signals_in_call),
		cmocka_unit_test(test_signals_in_sigsafe_write),
	};

	return cmocka_run_group_tests_name("srcu_signal", tests, group_setup,
					   group_teardown);
}
