// SPDX-License-Identifier: MIT
/*
 * tests/unit/test_seqcount.c - single-threaded semantics of gpc/seqcount.h.
 *
 * The count must be even between write sections and odd inside; read_try
 * must refuse while odd, read_retry must notice any writer since the start,
 * the bounded reader must give up after its attempts, and the sigsafe write
 * section must block signals. A signal handler that interrupts a plain
 * write section of its own thread is the case the bounded reader exists
 * for: it must report "writer in progress" instead of spinning forever.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <gpc/seqcount.h>

#include "test_common.h"

static void test_init_state(void **state)
{
	struct gpc_seqcount a = GPC_SEQCOUNT_INIT, b;
	unsigned int seq = 12345;

	(void)state;
	gpc_seqcount_init(&b);
	assert_int_equal(gpc_seqcount_raw(&a), 0);
	assert_int_equal(gpc_seqcount_raw(&b), 0);
	assert_true(gpc_seqcount_read_try(&a, &seq));
	assert_int_equal(seq, 0);
	assert_false(gpc_seqcount_read_retry(&a, seq));
	/* The spinning form returns at once on an even count. */
	assert_int_equal(gpc_seqcount_read_begin(&b), 0);
}

static void test_try_fails_while_odd(void **state)
{
	struct gpc_seqcount s = GPC_SEQCOUNT_INIT;
	unsigned int seq;

	(void)state;
	gpc_seqcount_write_begin(&s);
	assert_int_equal(gpc_seqcount_raw(&s) & 1, 1);
	assert_false(gpc_seqcount_read_try(&s, &seq));
	/* The failed try still reports the odd count it saw. */
	assert_int_equal(seq, gpc_seqcount_raw(&s));
	gpc_seqcount_write_end(&s);
	assert_int_equal(gpc_seqcount_raw(&s), 2);
	assert_true(gpc_seqcount_read_try(&s, &seq));
	assert_int_equal(seq, 2);
}

static void test_retry_detects_writer(void **state)
{
	struct gpc_seqcount s = GPC_SEQCOUNT_INIT;
	unsigned int seq, seq2;

	(void)state;
	/* A whole write section between begin and retry. */
	seq = gpc_seqcount_read_begin(&s);
	gpc_seqcount_write_begin(&s);
	gpc_seqcount_write_end(&s);
	assert_true(gpc_seqcount_read_retry(&s, seq));

	/* A writer that is still inside at retry time. */
	assert_true(gpc_seqcount_read_try(&s, &seq));
	gpc_seqcount_write_begin(&s);
	assert_true(gpc_seqcount_read_retry(&s, seq));
	gpc_seqcount_write_end(&s);
	assert_true(gpc_seqcount_read_retry(&s, seq));

	/* No writer: retry says the snapshot is good, repeatedly. */
	assert_true(gpc_seqcount_read_try(&s, &seq2));
	assert_false(gpc_seqcount_read_retry(&s, seq2));
	assert_false(gpc_seqcount_read_retry(&s, seq2));
	assert_int_equal(seq2, 4);
}

static void test_sigsafe_pair_counts(void **state)
{
	struct gpc_seqcount s = GPC_SEQCOUNT_INIT;
	sigset_t saved;
	unsigned int seq;

	(void)state;
	gpc_seqcount_write_begin_sigsafe(&s, &saved);
	assert_false(gpc_seqcount_read_try(&s, &seq));
	gpc_seqcount_write_end_sigsafe(&s, &saved);
	assert_int_equal(gpc_seqcount_raw(&s), 2);
}

/* Counter wrap-around: equal/odd tests must keep working past UINT_MAX. */
static void test_wraparound(void **state)
{
	struct gpc_seqcount s;
	unsigned int seq;

	(void)state;
	atomic_init(&s.seq, 0xfffffffeu);
	assert_true(gpc_seqcount_read_try(&s, &seq));
	gpc_seqcount_write_begin(&s);
	assert_false(gpc_seqcount_read_try(&s, &seq));
	gpc_seqcount_write_end(&s);
	assert_int_equal(gpc_seqcount_raw(&s), 0);
	assert_true(gpc_seqcount_read_retry(&s, 0xfffffffeu));
	assert_true(gpc_seqcount_read_try(&s, &seq));
	assert_false(gpc_seqcount_read_retry(&s, seq));
}

/* ---- bounded reader ---------------------------------------------------- */

struct pair {
	_Atomic long x, y;
};

/* The documented loop: a snapshot, or false when a writer is in progress. */
static bool bounded_read(const struct gpc_seqcount *s, const struct pair *p,
			 long *x, long *y, int *attempts)
{
	int tries = GPC_SEQCOUNT_TRIES;
	unsigned int seq;

	*attempts = 0;
	while (gpc_seqcount_read_bounded_begin(s, &seq, &tries)) {
		(*attempts)++;
		*x = atomic_load_explicit(&p->x, memory_order_relaxed);
		*y = atomic_load_explicit(&p->y, memory_order_relaxed);
		if (!gpc_seqcount_read_retry(s, seq))
			return true;
	}
	return false;
}

static void test_bounded_counts_down(void **state)
{
	struct gpc_seqcount s = GPC_SEQCOUNT_INIT;
	unsigned int seq;
	int tries = 2;

	(void)state;
	assert_true(gpc_seqcount_read_bounded_begin(&s, &seq, &tries));
	assert_int_equal(tries, 1);
	assert_true(gpc_seqcount_read_bounded_begin(&s, &seq, &tries));
	assert_int_equal(tries, 0);
	/* Used up: false, and the count never goes negative. */
	assert_false(gpc_seqcount_read_bounded_begin(&s, &seq, &tries));
	assert_int_equal(tries, 0);

	/* With a writer inside it fails at once, spending one attempt. */
	tries = GPC_SEQCOUNT_TRIES;
	gpc_seqcount_write_begin(&s);
	assert_false(gpc_seqcount_read_bounded_begin(&s, &seq, &tries));
	assert_int_equal(tries, GPC_SEQCOUNT_TRIES - 1);
	gpc_seqcount_write_end(&s);

	/* A negative budget is "used up", not a huge one. */
	tries = -1;
	assert_false(gpc_seqcount_read_bounded_begin(&s, &seq, &tries));
}

static void test_bounded_snapshot(void **state)
{
	struct gpc_seqcount s = GPC_SEQCOUNT_INIT;
	struct pair p;
	long x, y;
	int attempts;

	(void)state;
	atomic_init(&p.x, 7);
	atomic_init(&p.y, -7);
	assert_true(bounded_read(&s, &p, &x, &y, &attempts));
	assert_int_equal(x, 7);
	assert_int_equal(y, -7);
	assert_int_equal(attempts, 1);

	gpc_seqcount_write_begin(&s);
	atomic_store_explicit(&p.x, 8, memory_order_relaxed);
	assert_false(bounded_read(&s, &p, &x, &y, &attempts));
	assert_int_equal(attempts, 0);
	atomic_store_explicit(&p.y, -8, memory_order_relaxed);
	gpc_seqcount_write_end(&s);
	assert_true(bounded_read(&s, &p, &x, &y, &attempts));
	assert_int_equal(x, 8);
	assert_int_equal(y, -8);
}

/* ---- signal handlers on the writer's own thread ------------------------ */

static struct gpc_seqcount sig_seq = GPC_SEQCOUNT_INIT;
static struct pair sig_pair;
static atomic_int sig_runs, sig_hits, sig_misses, sig_torn, sig_odd_seen;

/* Reads sig_seq with the bounded form: must return, whatever it finds. */
static void bounded_handler(int sig)
{
	int saved_errno = errno;
	long x, y;
	int attempts;

	(void)sig;
	atomic_fetch_add(&sig_runs, 1);
	if (gpc_seqcount_raw(&sig_seq) & 1)
		atomic_fetch_add(&sig_odd_seen, 1);
	if (bounded_read(&sig_seq, &sig_pair, &x, &y, &attempts)) {
		atomic_fetch_add(&sig_hits, 1);
		if (x != -y)
			atomic_fetch_add(&sig_torn, 1);
	} else {
		atomic_fetch_add(&sig_misses, 1);
	}
	errno = saved_errno;
}

static void install(int sig, void (*fn)(int), struct sigaction *old)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = fn;
	sigemptyset(&sa.sa_mask);
	assert_int_equal(sigaction(sig, &sa, old), 0);
}

static void reset_sig_counters(void)
{
	atomic_store(&sig_runs, 0);
	atomic_store(&sig_hits, 0);
	atomic_store(&sig_misses, 0);
	atomic_store(&sig_torn, 0);
	atomic_store(&sig_odd_seen, 0);
}

/*
 * The handler interrupts a plain write section of its own thread: the
 * writer cannot make progress until the handler returns, so a spinning
 * reader would livelock. The bounded reader must answer "writer in
 * progress". raise() delivers the signal before it returns.
 */
static void test_bounded_in_handler_interrupting_writer(void **state)
{
	struct sigaction old;

	(void)state;
	reset_sig_counters();
	atomic_store(&sig_pair.x, 1);
	atomic_store(&sig_pair.y, -1);
	install(SIGUSR1, bounded_handler, &old);

	test_watchdog_arm(10, "bounded reader in a handler inside write "
			      "section");
	gpc_seqcount_write_begin(&sig_seq);
	atomic_store_explicit(&sig_pair.x, 2, memory_order_relaxed);
	/* Half-written pair: a reader that accepted it would be torn. */
	assert_int_equal(pthread_kill(pthread_self(), SIGUSR1), 0);
	assert_int_equal(raise(SIGUSR1), 0);
	atomic_store_explicit(&sig_pair.y, -2, memory_order_relaxed);
	gpc_seqcount_write_end(&sig_seq);
	test_watchdog_disarm();

	assert_int_equal(atomic_load(&sig_runs), 2);
	assert_int_equal(atomic_load(&sig_odd_seen), 2);
	assert_int_equal(atomic_load(&sig_misses), 2);
	assert_int_equal(atomic_load(&sig_hits), 0);

	/* Outside the section the handler gets a consistent snapshot. */
	assert_int_equal(raise(SIGUSR1), 0);
	assert_int_equal(atomic_load(&sig_hits), 1);
	assert_int_equal(atomic_load(&sig_torn), 0);
	assert_int_equal(sigaction(SIGUSR1, &old, NULL), 0);
}

/* Spinning-form handler: safe only because the writer blocks signals. */
static void spinning_handler(int sig)
{
	int saved_errno = errno;
	unsigned int seq;
	long x, y;

	(void)sig;
	atomic_fetch_add(&sig_runs, 1);
	if (gpc_seqcount_raw(&sig_seq) & 1)
		atomic_fetch_add(&sig_odd_seen, 1);
	do {
		seq = gpc_seqcount_read_begin(&sig_seq);
		x = atomic_load_explicit(&sig_pair.x, memory_order_relaxed);
		y = atomic_load_explicit(&sig_pair.y, memory_order_relaxed);
	} while (gpc_seqcount_read_retry(&sig_seq, seq));
	if (x != -y)
		atomic_fetch_add(&sig_torn, 1);
	atomic_fetch_add(&sig_hits, 1);
	errno = saved_errno;
}

/*
 * A signal raised inside a sigsafe write section stays pending until the
 * section ends, so the spinning handler never sees the odd count.
 */
static void test_sigsafe_defers_handler(void **state)
{
	struct sigaction old;
	sigset_t saved, cur;

	(void)state;
	reset_sig_counters();
	atomic_store(&sig_pair.x, 3);
	atomic_store(&sig_pair.y, -3);
	install(SIGUSR1, spinning_handler, &old);

	test_watchdog_arm(10, "spinning handler after a sigsafe section");
	gpc_seqcount_write_begin_sigsafe(&sig_seq, &saved);
	atomic_store_explicit(&sig_pair.x, 4, memory_order_relaxed);
	assert_int_equal(pthread_kill(pthread_self(), SIGUSR1), 0);
	/* Still pending: the handler has not run inside the section. */
	assert_int_equal(atomic_load(&sig_runs), 0);
	atomic_store_explicit(&sig_pair.y, -4, memory_order_relaxed);
	gpc_seqcount_write_end_sigsafe(&sig_seq, &saved);
	test_watchdog_disarm();

	/* Delivered by the time the mask is restored. */
	assert_int_equal(atomic_load(&sig_runs), 1);
	assert_int_equal(atomic_load(&sig_odd_seen), 0);
	assert_int_equal(atomic_load(&sig_torn), 0);
	assert_int_equal(atomic_load(&sig_hits), 1);

	/* And the caller's mask is exactly what it was. */
	assert_int_equal(pthread_sigmask(SIG_SETMASK, NULL, &cur), 0);
	assert_false(sigismember(&cur, SIGUSR1));
	assert_int_equal(sigaction(SIGUSR1, &old, NULL), 0);
}

/* The section blocks every blockable signal and restores the old mask. */
static void test_sigsafe_mask(void **state)
{
	struct gpc_seqcount s = GPC_SEQCOUNT_INIT;
	sigset_t one, before, inside, saved, after;

	(void)state;
	/* Start with SIGUSR2 blocked, to see that it stays blocked after. */
	sigemptyset(&one);
	sigaddset(&one, SIGUSR2);
	assert_int_equal(pthread_sigmask(SIG_BLOCK, &one, &before), 0);

	gpc_seqcount_write_begin_sigsafe(&s, &saved);
	assert_int_equal(pthread_sigmask(SIG_SETMASK, NULL, &inside), 0);
	assert_true(sigismember(&inside, SIGUSR1));
	assert_true(sigismember(&inside, SIGUSR2));
	assert_true(sigismember(&inside, SIGALRM));
	assert_true(sigismember(&inside, SIGTERM));
	/* What it saved is the mask we had, with SIGUSR2 blocked. */
	assert_true(sigismember(&saved, SIGUSR2));
	assert_false(sigismember(&saved, SIGUSR1));
	gpc_seqcount_write_end_sigsafe(&s, &saved);

	assert_int_equal(pthread_sigmask(SIG_SETMASK, NULL, &after), 0);
	assert_true(sigismember(&after, SIGUSR2));
	assert_false(sigismember(&after, SIGUSR1));
	assert_false(sigismember(&after, SIGTERM));
	assert_int_equal(pthread_sigmask(SIG_SETMASK, &before, NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_state),
		cmocka_unit_test(test_try_fails_while_odd),
		cmocka_unit_test(test_retry_detects_writer),
		cmocka_unit_test(test_sigsafe_pair_counts),
		cmocka_unit_test(test_wraparound),
		cmocka_unit_test(test_bounded_counts_down),
		cmocka_unit_test(test_bounded_snapshot),
		cmocka_unit_test(test_bounded_in_handler_interrupting_writer),
		cmocka_unit_test(test_sigsafe_defers_handler),
		cmocka_unit_test(test_sigsafe_mask),
	};

	return cmocka_run_group_tests_name("seqcount", tests, NULL, NULL);
}
