/* SPDX-License-Identifier: MIT */
/*
 * internal.h - the helpers every source file of the library uses (log,
 * clock, futex, signal masks); not installed. Each module's private state
 * and calls are in its own header (vm_priv.h, memslot_priv.h, index_priv.h,
 * invalidate_priv.h, cache_priv.h, vcpu_priv.h; docs/design.md has the
 * module map).
 *
 * Symbols declared in these headers use the gpci_ prefix, which the
 * version script (libgpc.map) keeps out of the shared library's exported
 * symbols.
 */
#ifndef GPC_INTERNAL_H
#define GPC_INTERNAL_H

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <gpc/gpc.h>

void gpci_log(enum gpc_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Monotonic clock in nanoseconds. Context: any context. */
static inline uint64_t gpci_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/*
 * Futex helpers on a private (process-local) 32-bit word. futex_wait
 * returns when woken, on a timeout, on a signal, or at once if *addr != val;
 * callers always re-check their condition. Context: wait may sleep; wake is
 * a system call that never blocks and is async-signal-safe.
 */
int gpci_futex_wait(_Atomic int *addr, int val, uint64_t timeout_ns);
void gpci_futex_wake(_Atomic int *addr, int nr);

/* Block every signal on this thread; returns the old mask in *old. Used
 * around locks that a non-blocking invalidation in a signal handler might
 * try, so such a handler never interrupts the lock holder on its own
 * thread. */
static inline void gpci_block_signals(sigset_t *old)
{
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, old);
}

static inline void gpci_restore_signals(const sigset_t *old)
{
	pthread_sigmask(SIG_SETMASK, old, NULL);
}

#endif /* GPC_INTERNAL_H */
