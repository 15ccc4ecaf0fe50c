/* SPDX-License-Identifier: MIT */
/* bench/common.c - see common.h. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gpc/gpc.h>

#include "common.h"

int cpu_of[2] = { -1, -1 };
cpu_set_t all_cpus;

uint64_t clock_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

uint64_t now_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

/* Busy-wait @ns: a pause that keeps the CPU, unlike a sleep. */
void spin_ns(uint64_t ns)
{
	uint64_t end = now_ns() + ns;

	while (now_ns() < end)
		gpc_cpu_relax();
}

void sleep_ns(uint64_t ns)
{
	struct timespec ts = { (time_t)(ns / 1000000000ULL),
			       (long)(ns % 1000000000ULL) };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

double per_gp(uint64_t n, uint64_t gps)
{
	return gps ? (double)n / (double)gps : 0.0;
}

/* The first two CPUs we may run on: 0 and 1 on an unrestricted machine. */
void pick_cpus(void)
{
	cpu_set_t set;
	int n = 0;

	if (sched_getaffinity(0, sizeof(set), &set))
		return;
	all_cpus = set;
	for (int cpu = 0; cpu < CPU_SETSIZE && n < 2; cpu++)
		if (CPU_ISSET(cpu, &set))
			cpu_of[n++] = cpu;
	if (n == 1)
		cpu_of[1] = cpu_of[0];
}

/* Failure is ignored: unpinned threads only make the numbers noisier. */
void pin_to(int cpu)
{
	cpu_set_t set;

	if (cpu < 0)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	(void)pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

/*
 * Spin until *w == v, yielding now and then: the thread we wait for may
 * share our CPU.
 */
void spin_until(_Atomic uint64_t *w, uint64_t v)
{
	uint64_t deadline = now_ns() + SPIN_TIMEOUT_NS;
	unsigned int n = 0;

	while (atomic_load_explicit(w, memory_order_acquire) != v) {
		if (++n % 256 == 0) {
			sched_yield();
			/*
			 * Bounded: a thread that never answers (a lost wakeup,
			 * a stuck job) ends the run with a message instead of
			 * hanging "make bench"; the driver moves on.
			 */
			if (now_ns() > deadline) {
				fprintf(stderr,
					"%s: timeout: a helper thread did not "
					"answer in %llu s\n",
					program_invocation_short_name,
					SPIN_TIMEOUT_NS / 1000000000ULL);
				exit(1);
			}
		} else {
			gpc_cpu_relax();
		}
	}
}

int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

double median(const double *v, int n)
{
	double t[MEDIAN_MAX];

	if (n > MEDIAN_MAX)
		abort();

	memcpy(t, v, sizeof(*v) * (size_t)n);
	qsort(t, (size_t)n, sizeof(*t), cmp_double);
	return n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
}
