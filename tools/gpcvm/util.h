/* SPDX-License-Identifier: MIT */
/*
 * tools/gpcvm/util.h - small helpers every part of gpcvm uses: the clock,
 * sleeping, futexes, a pseudo-random generator and page canaries. No VMM
 * state: these depend on nothing but libc and the kernel.
 */
#ifndef GPCVM_UTIL_H
#define GPCVM_UTIL_H

#include <stdatomic.h>
#include <stdint.h>

/* CLOCK_MONOTONIC in nanoseconds. Context: any (async-signal-safe). */
uint64_t vmm_now_ns(void);
/* Sleep about @us microseconds. Context: may sleep. */
void vmm_sleep_us(uint64_t us);
/*
 * Sleep while *@addr == @val, at most @timeout_ns (0: no limit). Returns 0
 * when woken, -1 with errno EAGAIN (value differed), ETIMEDOUT or EINTR.
 * Context: may sleep.
 */
int vmm_futex_wait(_Atomic int *addr, int val, uint64_t timeout_ns);
/* Wake every waiter on @addr. Context: any (async-signal-safe). */
void vmm_futex_wake(_Atomic int *addr);

/* xorshift64*: the next value of the sequence in *@s (not 0). Context: any. */
uint64_t vmm_rand(uint64_t *s);

/* Fill @len bytes (a multiple of 8) at @p with the canary of @tag. */
void vmm_canary_fill(uint8_t *p, uint64_t len, uint64_t tag);
/* Offset of the first word at @p that is not the canary of @tag, or -1. */
int64_t vmm_canary_check(const uint8_t *p, uint64_t len, uint64_t tag);

#endif /* GPCVM_UTIL_H */
