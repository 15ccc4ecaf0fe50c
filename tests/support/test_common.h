/* SPDX-License-Identifier: MIT */
/*
 * tests/support/test_common.h - helpers shared by the libgpc test programs.
 *
 * Everything here is static so that each test program is one translation
 * unit plus the library. It provides:
 *  - iteration scaling: tests size their loops with test_iters(), which
 *    shrinks them under ThreadSanitizer (5-10x slower) and obeys the
 *    environment variable GPC_TEST_SCALE (a factor, e.g. 0.1 or 4);
 *  - a capturing log handler, to count what the library reports through
 *    gpc_log_set_handler() instead of letting it go to stderr;
 *  - a watchdog, so that a deadlock fails the test with a message naming
 *    the step that hung instead of waiting for ctest's timeout;
 *  - small time helpers.
 *
 * cmocka's assertions longjmp() out of the test function, so they may only
 * be used on the thread that runs the test. Helper threads record what they
 * saw in atomics and the test thread checks it after joining them.
 */
#ifndef GPC_TEST_COMMON_H
#define GPC_TEST_COMMON_H

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <gpc/log.h>

/* The test facilities (test stage, hooks, retired pages); gpc_testing. */
#include "gpc_testing.h"

/* ---- sanitizer detection and scaling ---------------------------------- */

#if defined(__SANITIZE_THREAD__)
#define TEST_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TEST_TSAN 1
#endif
#endif
#ifndef TEST_TSAN
#define TEST_TSAN 0
#endif

#if defined(__SANITIZE_ADDRESS__)
#define TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_ASAN 1
#endif
#endif
#ifndef TEST_ASAN
#define TEST_ASAN 0
#endif

/* How much slower than a plain build we expect to be. */
#define TEST_TSAN_FACTOR 0.15

static inline double test_scale(void)
{
	const char *env = getenv("GPC_TEST_SCALE");
	double f = TEST_TSAN ? TEST_TSAN_FACTOR : 1.0;

	if (env && *env) {
		double v = strtod(env, NULL);

		if (v > 0)
			f *= v;
	}
	return f;
}

/* @n scaled for this build and environment, at least 1. */
static inline long test_iters(long n)
{
	double v = (double)n * test_scale();

	return v < 1 ? 1 : (long)v;
}

/* ---- time ------------------------------------------------------------- */

static inline uint64_t test_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static inline void test_sleep_ms(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/*
 * Wait up to @timeout_ms for *@flag to become nonzero, polling every
 * millisecond. Returns whether it did. Used instead of wall-time thresholds:
 * the timeouts we pass are seconds, far beyond any expected latency.
 */
static inline bool test_wait_flag(atomic_int *flag, unsigned int timeout_ms)
{
	uint64_t end = test_now_ns() + (uint64_t)timeout_ms * 1000000ULL;

	while (!atomic_load(flag)) {
		if (test_now_ns() > end)
			return false;
		test_sleep_ms(1);
	}
	return true;
}

/* Cheap per-thread pseudo-random numbers (xorshift64*). */
static inline uint64_t test_rand(uint64_t *state)
{
	uint64_t x = *state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * 0x2545F4914F6CDD1DULL;
}

/* ---- log capture ------------------------------------------------------ */

#define TEST_LOG_KEEP 16
#define TEST_LOG_LEN  256

struct test_log {
	pthread_mutex_t lock;
	unsigned int count[3]; /* per enum gpc_log_level */
	unsigned int total;
	char last[TEST_LOG_KEEP][TEST_LOG_LEN];
	int last_level[TEST_LOG_KEEP];
	bool echo; /* also print to stderr */
};

static struct test_log test_log = { .lock = PTHREAD_MUTEX_INITIALIZER };

/*
 * The handler may run on the library's worker threads and, for debug-build
 * misuse reports, on the offending thread; a mutex is fine for both since we
 * never misuse the API from inside a signal handler.
 */
static void test_log_handler(enum gpc_log_level level, const char *msg,
			     void *ctx)
{
	struct test_log *l = ctx;
	unsigned int i;

	pthread_mutex_lock(&l->lock);
	if ((unsigned int)level < 3)
		l->count[level]++;
	i = l->total++ % TEST_LOG_KEEP;
	snprintf(l->last[i], TEST_LOG_LEN, "%s", msg);
	l->last_level[i] = level;
	if (l->echo)
		fprintf(stderr, "gpc log [%d]: %s\n", (int)level, msg);
	pthread_mutex_unlock(&l->lock);
}

/*
 * Start counting from zero and route the library's messages to us. The
 * handler is installed once per process and never removed: the library
 * keeps every handler it was given alive (a reporter may still be using
 * it), so installing it per test would only pile up allocations.
 */
static inline void test_log_capture(void)
{
	static bool installed;

	pthread_mutex_lock(&test_log.lock);
	memset(test_log.count, 0, sizeof(test_log.count));
	test_log.total = 0;
	test_log.echo = getenv("GPC_TEST_LOG_ECHO") != NULL;
	pthread_mutex_unlock(&test_log.lock);
	if (!installed) {
		gpc_log_set_handler(test_log_handler, &test_log);
		installed = true;
	}
}

static inline unsigned int test_log_count(enum gpc_log_level level)
{
	unsigned int n;

	pthread_mutex_lock(&test_log.lock);
	n = test_log.count[level];
	pthread_mutex_unlock(&test_log.lock);
	return n;
}

/*
 * Messages among the last TEST_LOG_KEEP whose level is at most @max_level
 * (ERR = 0 is the most severe) and that contain @word, case-insensitively.
 */
static inline unsigned int test_log_matching(enum gpc_log_level max_level,
					     const char *word)
{
	unsigned int i, n = 0, kept;

	pthread_mutex_lock(&test_log.lock);
	kept = test_log.total < TEST_LOG_KEEP ? test_log.total : TEST_LOG_KEEP;
	for (i = 0; i < kept; i++)
		if (test_log.last_level[i] <= (int)max_level &&
		    strcasestr(test_log.last[i], word))
			n++;
	pthread_mutex_unlock(&test_log.lock);
	return n;
}

/* Print what was captured; called when an expectation about it fails. */
static inline void test_log_dump(void)
{
	unsigned int i, kept;

	pthread_mutex_lock(&test_log.lock);
	kept = test_log.total < TEST_LOG_KEEP ? test_log.total : TEST_LOG_KEEP;
	fprintf(stderr, "captured %u log messages (ERR %u WARN %u INFO %u)\n",
		test_log.total, test_log.count[0], test_log.count[1],
		test_log.count[2]);
	for (i = 0; i < kept; i++)
		fprintf(stderr, "  [%d] %s\n", test_log.last_level[i],
			test_log.last[i]);
	pthread_mutex_unlock(&test_log.lock);
}

/*
 * 0 if nothing at warning level or above was logged, else dump the log and
 * return -1. For teardowns of tests where bad input is an error code and
 * nothing is worth a warning.
 */
static inline int test_log_clean(void)
{
	if (!test_log_count(GPC_LOG_ERR) && !test_log_count(GPC_LOG_WARN))
		return 0;
	test_log_dump();
	return -1;
}

/* ---- watchdog --------------------------------------------------------- */

/*
 * One helper thread per process sleeps until the armed deadline; if the test
 * has not disarmed it by then, it names the step and exits the process. A
 * hang is a failure, and a signal-based alarm would not do: under TSan a
 * signal is only delivered when the target thread enters the runtime, which
 * a spinning thread may never do.
 */
struct test_watchdog {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool started;
	bool armed;
	uint64_t deadline_ns;
	char what[128];
};

static struct test_watchdog test_wd = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.cond = PTHREAD_COND_INITIALIZER,
};

static void *test_watchdog_thread(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&test_wd.lock);
	for (;;) {
		struct timespec ts = { 0, 50 * 1000000L };

		if (test_wd.armed && test_now_ns() > test_wd.deadline_ns) {
			fprintf(stderr,
				"watchdog: '%s' did not finish in time\n",
				test_wd.what);
			fflush(stderr);
			_exit(3);
		}
		/* Poll in 50 ms steps: simpler than a CLOCK_MONOTONIC cond. */
		pthread_mutex_unlock(&test_wd.lock);
		nanosleep(&ts, NULL);
		pthread_mutex_lock(&test_wd.lock);
	}
	return NULL;
}

/* Fail the whole program unless test_watchdog_disarm() runs within @sec. */
static inline void test_watchdog_arm(unsigned int sec, const char *fmt, ...)
{
	va_list ap;
	pthread_t t;

	pthread_mutex_lock(&test_wd.lock);
	if (!test_wd.started) {
		if (pthread_create(&t, NULL, test_watchdog_thread, NULL) == 0) {
			pthread_detach(t);
			test_wd.started = true;
		}
	}
	va_start(ap, fmt);
	vsnprintf(test_wd.what, sizeof(test_wd.what), fmt, ap);
	va_end(ap);
	test_wd.deadline_ns = test_now_ns() + (uint64_t)sec * 1000000000ULL;
	test_wd.armed = true;
	pthread_mutex_unlock(&test_wd.lock);
}

static inline void test_watchdog_disarm(void)
{
	pthread_mutex_lock(&test_wd.lock);
	test_wd.armed = false;
	pthread_mutex_unlock(&test_wd.lock);
}

/* Generous bound for "completes promptly": seconds, never milliseconds. */
#define TEST_PROMPT_MS 5000

#endif /* GPC_TEST_COMMON_H */
