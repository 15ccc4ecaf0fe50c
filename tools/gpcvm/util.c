// SPDX-License-Identifier: MIT
/*
 * util.c - the clock, sleeping, futexes, a pseudo-random generator and page
 * canaries for every part of gpcvm (util.h).
 */
#include <limits.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <linux/futex.h>

#include "util.h"

uint64_t vmm_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void vmm_sleep_us(uint64_t us)
{
	struct timespec ts = { (time_t)(us / 1000000),
			       (long)(us % 1000000) * 1000 };

	nanosleep(&ts, NULL);
}

int vmm_futex_wait(_Atomic int *addr, int val, uint64_t timeout_ns)
{
	struct timespec ts = { (time_t)(timeout_ns / 1000000000ull),
			       (long)(timeout_ns % 1000000000ull) };

	return (int)syscall(SYS_futex, addr, FUTEX_WAIT_PRIVATE, val,
			    timeout_ns ? &ts : NULL, NULL, 0);
}

void vmm_futex_wake(_Atomic int *addr)
{
	syscall(SYS_futex, addr, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

uint64_t vmm_rand(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545f4914f6cdd1dull;
}

void vmm_canary_fill(uint8_t *p, uint64_t len, uint64_t tag)
{
	for (uint64_t off = 0; off < len; off += 8) {
		uint64_t v = tag ^ off;

		memcpy(p + off, &v, 8);
	}
}

int64_t vmm_canary_check(const uint8_t *p, uint64_t len, uint64_t tag)
{
	for (uint64_t off = 0; off < len; off += 8) {
		uint64_t v;

		memcpy(&v, p + off, 8);
		if (v != (tag ^ off))
			return (int64_t)off;
	}
	return -1;
}
