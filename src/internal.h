/* SPDX-License-Identifier: MIT */
/*
 * internal.h - helpers shared by the library's source files; not installed.
 *
 * Symbols declared here use the gpci_ prefix, which the version script
 * (libgpc.map) keeps out of the shared library's exported symbols.
 */
#ifndef GPC_INTERNAL_H
#define GPC_INTERNAL_H

#include <stdint.h>
#include <time.h>

#include <gpc/log.h>

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

#endif /* GPC_INTERNAL_H */
