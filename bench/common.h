/* SPDX-License-Identifier: MIT */
/*
 * bench/common.h - what both benchmark programs (bench_read, bench_cache)
 * use: the clock, pinning to the first two CPUs, a bounded spin-wait, and
 * sorting for medians and percentiles.
 */
#ifndef GPC_BENCH_COMMON_H
#define GPC_BENCH_COMMON_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#define SPIN_TIMEOUT_NS (120 * 1000000000ULL) /* spin_until gives up */
#define MEDIAN_MAX	64 /* median() takes at most this many values */

/* The first two CPUs we may run on (pick_cpus), -1 before. */
extern int cpu_of[2];
extern cpu_set_t all_cpus; /* the process's CPUs at start */

uint64_t clock_ns(clockid_t clk);

uint64_t now_ns(void);

/* Busy-wait @ns: a pause that keeps the CPU, unlike a sleep. */
void spin_ns(uint64_t ns);

void sleep_ns(uint64_t ns);

/* @n per grace period (or any per-event rate): 0 when @gps is 0. */
double per_gp(uint64_t n, uint64_t gps);

/* The first two CPUs we may run on: 0 and 1 on an unrestricted machine. */
void pick_cpus(void);

/* Failure is ignored: unpinned threads only make the numbers noisier. */
void pin_to(int cpu);

/*
 * Spin until *w == v, yielding now and then: the thread we wait for may
 * share our CPU.
 */
void spin_until(_Atomic uint64_t *w, uint64_t v);

int cmp_u64(const void *a, const void *b);

int cmp_double(const void *a, const void *b);

double median(const double *v, int n);

#endif
