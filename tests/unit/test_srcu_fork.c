// SPDX-License-Identifier: MIT
/*
 * tests/unit/test_srcu_fork.c - fork() while other threads use the domain.
 *
 * The child of a multi-threaded process has one thread. Slots of the
 * threads that did not come along (some of them inside read sections at the
 * time of the fork) must not hold up the child's grace periods, and the
 * domain's worker must run again in the child, so read sections,
 * synchronize, polling and call + barrier all work there. The parent goes on
 * as before.
 *
 * The child reports through its exit status (cmocka is not used there);
 * alarm() in the child and a bounded waitpid() loop in the parent turn a
 * hang into a failure.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/wait.h>

#include <cmocka.h>

#include <gpc/srcu.h>

#include "test_common.h"

#if TEST_TSAN
/*
 * The library restarts its worker thread in the child. TSan refuses new
 * threads after a multi-threaded fork unless told otherwise; this is a
 * limitation of its fork support, not a report we silence.
 */
const char *__tsan_default_options(void);
const char *__tsan_default_options(void)
{
	return "die_after_fork=0";
}
#endif

#define CHILD_TIMEOUT_S 10

/* ---- threads of the parent --------------------------------------------- */

struct busy {
	struct gpc_srcu *d;
	atomic_int running; /* threads that have started */
	atomic_int stop;
	atomic_int parked_inside; /* the parked thread is in its section */
	atomic_long sections;
};

/* Short sections back to back, some with a sleep inside. */
static void *busy_reader(void *arg)
{
	struct busy *b = arg;
	uint64_t rnd = (uintptr_t)&rnd | 1;

	atomic_fetch_add(&b->running, 1);
	while (!atomic_load_explicit(&b->stop, memory_order_relaxed)) {
		gpc_srcu_read_lock(b->d);
		if (!(test_rand(&rnd) & 15))
			usleep(100);
		gpc_srcu_read_unlock(b->d);
		atomic_fetch_add_explicit(&b->sections, 1,
					  memory_order_relaxed);
	}
	return NULL;
}

/* Stays inside one section until told to stop: across the fork. */
static void *parked_reader(void *arg)
{
	struct busy *b = arg;

	atomic_fetch_add(&b->running, 1);
	gpc_srcu_read_lock(b->d);
	gpc_srcu_read_lock(b->d);
	atomic_store(&b->parked_inside, 1);
	while (!atomic_load(&b->stop))
		test_sleep_ms(1);
	gpc_srcu_read_unlock(b->d);
	gpc_srcu_read_unlock(b->d);
	return NULL;
}

/* Grace periods in flight while the fork happens. */
static void *sync_loop(void *arg)
{
	struct busy *b = arg;

	atomic_fetch_add(&b->running, 1);
	while (!atomic_load(&b->stop))
		gpc_srcu_synchronize(b->d);
	return NULL;
}

/* ---- the child ---------------------------------------------------------- */

static atomic_int child_cb_ran;

static void child_cb(struct gpc_srcu_head *h)
{
	(void)h;
	atomic_fetch_add(&child_cb_ran, 1);
}

static void *child_thread(void *arg)
{
	struct gpc_srcu *d = arg;
	int i;

	for (i = 0; i < 100; i++) {
		gpc_srcu_read_lock(d);
		gpc_srcu_read_unlock(d);
	}
	return NULL;
}

#define CHILD_CHECK(cond, code)                                              \
	do {                                                                 \
		if (!(cond)) {                                               \
			fprintf(stderr, "child: check failed: %s\n", #cond); \
			_exit(code);                                         \
		}                                                            \
	} while (0)

/* Everything the child can do with the inherited domain; never returns. */
static void child_main(struct gpc_srcu *d, bool destroy)
{
	struct gpc_srcu_head h;
	struct gpc_srcu_stats st;
	uint64_t c, end;
	pthread_t t;

	alarm(CHILD_TIMEOUT_S);
	gpc_srcu_read_lock(d);
	gpc_srcu_read_lock(d);
	CHILD_CHECK(gpc_srcu_read_held(d), 10);
	CHILD_CHECK(gpc_srcu_synchronize(d) == -EDEADLK, 11);
	gpc_srcu_read_unlock(d);
	gpc_srcu_read_unlock(d);
	CHILD_CHECK(!gpc_srcu_read_held(d), 12);

	CHILD_CHECK(gpc_srcu_synchronize(d) == 0, 13);
	CHILD_CHECK(gpc_srcu_synchronize_expedited(d) == 0, 14);

	CHILD_CHECK(gpc_srcu_call(d, &h, child_cb) == 0, 15);
	CHILD_CHECK(gpc_srcu_barrier(d) == 0, 16);
	CHILD_CHECK(atomic_load(&child_cb_ran) == 1, 17);

	/* Polled grace periods need the worker, restarted in the child. */
	c = gpc_srcu_start_poll(d);
	end = test_now_ns() + TEST_PROMPT_MS * 1000000ULL;
	while (gpc_srcu_poll_state(d, c) == 0 && test_now_ns() < end)
		usleep(1000);
	CHILD_CHECK(gpc_srcu_poll_state(d, c) == 1, 18);

	/* The child may start threads of its own. */
	CHILD_CHECK(pthread_create(&t, NULL, child_thread, d) == 0, 19);
	CHILD_CHECK(pthread_join(t, NULL) == 0, 20);
	CHILD_CHECK(gpc_srcu_synchronize(d) == 0, 21);

	/* Only this thread can own a slot now. */
	CHILD_CHECK(gpc_srcu_get_stats(d, &st) == 0, 22);
	CHILD_CHECK(st.slots <= 1, 23);

	/* The parent's readers are gone: nobody is inside any more. */
	if (destroy)
		CHILD_CHECK(gpc_srcu_destroy(d) == 0, 24);
	_exit(0);
}

/* ---- the parent ---------------------------------------------------------- */

/*
 * Wait for @pid for at most CHILD_TIMEOUT_S + 5 seconds; kill it if it
 * hangs. Returns its exit code, or -(signal) if it was killed.
 */
static int reap(pid_t pid)
{
	uint64_t end = test_now_ns() + (CHILD_TIMEOUT_S + 5) * 1000000000ULL;
	int status;
	pid_t r;

	while ((r = waitpid(pid, &status, WNOHANG)) == 0 && test_now_ns() < end)
		test_sleep_ms(5);
	if (r == 0) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		fprintf(stderr, "child %d hung; killed\n", (int)pid);
		return -SIGKILL;
	}
	assert_int_equal(r, pid);
	if (WIFSIGNALED(status)) {
		fprintf(stderr, "child died of signal %d\n", WTERMSIG(status));
		return -WTERMSIG(status);
	}
	return WEXITSTATUS(status);
}

/*
 * Fork once all @n threads of @b are past their start-up. A thread still
 * being set up may hold a lock of the C library or of a sanitizer runtime
 * that the child would then never see released (glibc's malloc protects
 * itself around fork(); ASan's allocator does not). The test is about the
 * library's fork handling, not about that.
 */
static void wait_running(struct busy *b, int n)
{
	uint64_t end = test_now_ns() + TEST_PROMPT_MS * 1000000ULL;

	while (atomic_load(&b->running) < n && test_now_ns() < end)
		test_sleep_ms(1);
	assert_int_equal(atomic_load(&b->running), n);
	test_sleep_ms(10);
}

static pid_t fork_child(struct gpc_srcu *d, bool destroy)
{
	pid_t pid;

	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		child_main(d, destroy);
	return pid;
}

static void parent_checks(struct gpc_srcu *d)
{
	uint64_t c = gpc_srcu_start_poll(d);
	uint64_t end = test_now_ns() + TEST_PROMPT_MS * 1000000ULL;

	assert_int_equal(gpc_srcu_synchronize(d), 0);
	assert_int_equal(gpc_srcu_synchronize_expedited(d), 0);
	while (gpc_srcu_poll_state(d, c) == 0 && test_now_ns() < end)
		test_sleep_ms(1);
	assert_int_equal(gpc_srcu_poll_state(d, c), 1);
	assert_int_equal(gpc_srcu_barrier(d), 0);
}

/*
 * Threads of the parent are inside read sections when it forks, one of
 * them for the whole time: the child must not wait for any of them.
 */
static void test_fork_with_readers_inside(void **state)
{
	enum { R = 2 };
	struct gpc_srcu d;
	struct busy b;
	pthread_t rt[R], pt;
	int i, code;
	pid_t pid;

	(void)state;
	/* Armed first, so that its thread exists before the fork. */
	test_watchdog_arm(60, "fork with a reader parked inside");
	assert_int_equal(gpc_srcu_init(&d, NULL), 0);
	memset(&b, 0, sizeof(b));
	b.d = &d;
	/* The forking thread has a slot of its own too. */
	gpc_srcu_read_lock(&d);
	gpc_srcu_read_unlock(&d);
	assert_int_equal(pthread_create(&pt, NULL, parked_reader, &b), 0);
	for (i = 0; i < R; i++)
		assert_int_equal(pthread_create(&rt[i], NULL, busy_reader, &b),
				 0);
	assert_true(test_wait_flag(&b.parked_inside, TEST_PROMPT_MS));
	wait_running(&b, R + 1);

	pid = fork_child(&d, true);
	code = reap(pid);

	/* The parent's own domain is unaffected by the child. */
	atomic_store(&b.stop, 1);
	for (i = 0; i < R; i++)
		assert_int_equal(pthread_join(rt[i], NULL), 0);
	assert_int_equal(pthread_join(pt, NULL), 0);
	parent_checks(&d);
	test_watchdog_disarm();
	assert_int_equal(code, 0);
	assert_true(atomic_load(&b.sections) > 0);
	assert_int_equal(gpc_srcu_destroy(&d), 0);
}

static void noop_cb(struct gpc_srcu_head *h)
{
	(void)h;
}

/*
 * Fork while grace periods and callbacks are in flight and readers come
 * and go: the child inherits no half-finished grace period.
 */
static void test_fork_during_grace_periods(void **state)
{
	enum { R = 2, FORKS = 3, CBS = 64 };
	struct gpc_srcu d;
	struct gpc_srcu_head h[CBS];
	struct busy b;
	pthread_t rt[R], st;
	int i, k, code;

	(void)state;
	test_watchdog_arm(90, "fork during grace periods");
	assert_int_equal(gpc_srcu_init(&d, NULL), 0);
	memset(&b, 0, sizeof(b));
	b.d = &d;
	for (i = 0; i < R; i++)
		assert_int_equal(pthread_create(&rt[i], NULL, busy_reader, &b),
				 0);
	assert_int_equal(pthread_create(&st, NULL, sync_loop, &b), 0);
	wait_running(&b, R + 1);

	for (k = 0; k < FORKS; k++) {
		for (i = 0; i < CBS; i++)
			assert_int_equal(gpc_srcu_call(&d, &h[i], noop_cb), 0);
		gpc_srcu_start_poll(&d);
		code = reap(fork_child(&d, false));
		assert_int_equal(code, 0);
		assert_int_equal(gpc_srcu_barrier(&d), 0);
	}
	atomic_store(&b.stop, 1);
	for (i = 0; i < R; i++)
		assert_int_equal(pthread_join(rt[i], NULL), 0);
	assert_int_equal(pthread_join(st, NULL), 0);
	parent_checks(&d);
	test_watchdog_disarm();
	assert_int_equal(gpc_srcu_destroy(&d), 0);
}

/* A callback that runs until the parent has forked. */
static atomic_int blocking_running, blocking_release;

static void blocking_cb(struct gpc_srcu_head *h)
{
	(void)h;
	atomic_store(&blocking_running, 1);
	while (!atomic_load(&blocking_release))
		usleep(1000);
}

/*
 * Fork while the worker is in the middle of a batch of callbacks. The
 * child has no worker thread in that batch: barrier and destroy there must
 * not wait for callbacks that no thread of the child will ever finish.
 */
static void test_fork_while_callbacks_run(void **state)
{
	struct gpc_srcu d;
	struct gpc_srcu_head h[3];
	int code;
	pid_t pid;

	(void)state;
	test_watchdog_arm(60, "fork while a callback runs");
	assert_int_equal(gpc_srcu_init(&d, NULL), 0);
	atomic_store(&blocking_running, 0);
	atomic_store(&blocking_release, 0);
	assert_int_equal(gpc_srcu_call(&d, &h[0], blocking_cb), 0);
	assert_int_equal(gpc_srcu_call(&d, &h[1], noop_cb), 0);
	assert_true(test_wait_flag(&blocking_running, TEST_PROMPT_MS));
	assert_int_equal(gpc_srcu_call(&d, &h[2], noop_cb), 0);

	pid = fork_child(&d, true);
	atomic_store(&blocking_release, 1);
	code = reap(pid);
	assert_int_equal(gpc_srcu_barrier(&d), 0);
	parent_checks(&d);
	test_watchdog_disarm();
	assert_int_equal(code, 0);
	assert_int_equal(gpc_srcu_destroy(&d), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fork_with_readers_inside),
		cmocka_unit_test(test_fork_during_grace_periods),
		cmocka_unit_test(test_fork_while_callbacks_run),
	};

	return cmocka_run_group_tests_name("srcu_fork", tests, NULL, NULL);
}
