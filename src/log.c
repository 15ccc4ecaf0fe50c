// SPDX-License-Identifier: MIT
/*
 * log.c - the process-wide log handler and the futex helpers.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/futex.h>

#include "internal.h"

/*
 * The handler and its context are published together as one pointer to an
 * immutable pair, so a concurrent gpc_log_set_handler() can never pair one
 * caller's function with another's context. Replaced pairs are never freed
 * (a reporter may still be using one); a program sets the handler a handful
 * of times at most.
 */
struct log_sink {
	gpc_log_fn *fn;
	void *ctx;
	struct log_sink *older; /* keeps replaced sinks reachable */
};

static _Atomic(struct log_sink *) log_sink;
static struct log_sink *all_sinks;
static pthread_mutex_t sinks_lock = PTHREAD_MUTEX_INITIALIZER;

void gpc_log_set_handler(gpc_log_fn *fn, void *ctx)
{
	struct log_sink *s = NULL;

	if (fn) {
		s = malloc(sizeof(*s));
		if (!s)
			return;
		s->fn = fn;
		s->ctx = ctx;
		pthread_mutex_lock(&sinks_lock);
		s->older = all_sinks;
		all_sinks = s;
		pthread_mutex_unlock(&sinks_lock);
	}
	atomic_store_explicit(&log_sink, s, memory_order_release);
}

static const char *const level_names[] = { "error", "warning", "info" };

/*
 * Format into a stack buffer and hand it on; the default sink is one write(2)
 * so that a report from a signal handler (debug-build misuse checks) does not
 * go through stdio's locks.
 */
void gpci_log(enum gpc_log_level level, const char *fmt, ...)
{
	struct log_sink *s =
		atomic_load_explicit(&log_sink, memory_order_acquire);
	char buf[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (s) {
		s->fn(level, buf, s->ctx);
		return;
	}
	char line[600];
	n = snprintf(line, sizeof(line), "libgpc %s: %s\n",
		     level_names[level <= GPC_LOG_INFO ? level : GPC_LOG_INFO],
		     buf);
	if (n > 0) {
		ssize_t r = write(STDERR_FILENO, line,
				  (size_t)n < sizeof(line) ? (size_t)n :
							     sizeof(line) - 1);
		(void)r;
	}
}

int gpci_futex_wait(_Atomic int *addr, int val, uint64_t timeout_ns)
{
	struct timespec ts, *tp = NULL;

	if (timeout_ns) {
		ts.tv_sec = (time_t)(timeout_ns / 1000000000ull);
		ts.tv_nsec = (long)(timeout_ns % 1000000000ull);
		tp = &ts;
	}
	if (syscall(SYS_futex, (int *)addr, FUTEX_WAIT_PRIVATE, val, tp, NULL,
		    0) < 0)
		return -errno;
	return 0;
}

void gpci_futex_wake(_Atomic int *addr, int nr)
{
	syscall(SYS_futex, (int *)addr, FUTEX_WAKE_PRIVATE, nr, NULL, NULL, 0);
}
