// SPDX-License-Identifier: MIT
/*
 * tools/vhost-fe/fe_util.c - clock, random numbers and percentiles of the
 * synthetic front-end.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "fe.h"

bool fe_verbose;

uint64_t fe_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* xorshift64*: reproducible from --seed, good enough to pick LBAs. */
uint64_t fe_rand(uint64_t *state)
{
	uint64_t x = *state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * 0x2545f4914f6cdd1dull;
}

void fe_lat_add(uint64_t **v, uint64_t *n, uint64_t *cap, uint64_t x)
{
	if (*n == *cap) {
		uint64_t nc = *cap ? *cap * 2 : 4096;
		uint64_t *nv = realloc(*v, nc * sizeof(**v));

		if (!nv)
			return; /* a lost sample, not a wrong one */
		*v = nv;
		*cap = nc;
	}
	(*v)[(*n)++] = x;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The p-th percentile (0..100) of v; sorts v. */
uint64_t fe_pct(uint64_t *v, uint64_t n, double p)
{
	uint64_t i;

	if (!n)
		return 0;
	qsort(v, n, sizeof(*v), cmp_u64);
	i = (uint64_t)(p / 100.0 * (double)(n - 1) + 0.5);
	return v[i < n ? i : n - 1];
}
