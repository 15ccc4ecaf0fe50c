/* SPDX-License-Identifier: MIT */
/*
 * bench/read_gp.c - the grace-period half of bench_read: the latency of a
 * grace period, idle and with one busy reader (the helper thread of
 * read_side.c in back-to-back sections), for gpc_srcu_synchronize() against
 * urcu_memb_synchronize_rcu(), with the membarrier() calls ours issued.
 * Batches of GP_BATCH per case are interleaved, as the read-side rounds are,
 * so that noise from other tenants of the machine hits every case alike.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <urcu/urcu-memb.h>

#include <gpc/srcu.h>

#include "bench_read.h"
#include "common.h"

#define GP_BATCH 10 /* grace periods per contender before switching */

const char *const gp_name[NR_GP_CASES] = {
	[GP_SRCU_IDLE] = "srcu_idle",
	[GP_URCU_IDLE] = "urcu_memb_idle",
	[GP_SRCU_BUSY] = "srcu_busy",
	[GP_URCU_BUSY] = "urcu_memb_busy",
};

static bool gp_is_srcu(enum gp_case g)
{
	return g == GP_SRCU_IDLE || g == GP_SRCU_BUSY;
}

/*
 * @count grace periods of case @g into @out, timing each one; for ours,
 * also count the membarrier() calls they issued.
 */
static int gp_batch(struct gp_results *res, enum gp_case g, uint64_t *out,
		    int count)
{
	struct gpc_srcu *dom = read_domain();
	struct gpc_srcu_stats before, after;
	int busy = g == GP_SRCU_BUSY;
	uint64_t t0;
	int err = 0;

	gpc_srcu_get_stats(dom, &before);
	for (int i = 0; i < count && !err; i++) {
		t0 = now_ns();
		if (gp_is_srcu(g))
			err = gpc_srcu_synchronize(dom);
		else
			urcu_memb_synchronize_rcu();
		out[i] = now_ns() - t0;
	}
	if (err) {
		fprintf(stderr, "gpc_srcu_synchronize: %s\n", strerror(-err));
		return err;
	}
	if (gp_is_srcu(g)) {
		gpc_srcu_get_stats(dom, &after);
		res->membarriers[busy] +=
			after.membarriers - before.membarriers;
		res->gps[busy] += after.gp_completed - before.gp_completed;
	}
	return 0;
}

/* Run one batch, with the helper as a busy reader for the _BUSY cases. */
static int gp_case_batch(struct gp_results *res, enum gp_case g, int done,
			 int count)
{
	uint64_t gen = 0;
	int err;

	if (g == GP_SRCU_BUSY || g == GP_URCU_BUSY)
		gen = busy_reader_start(g == GP_SRCU_BUSY);
	err = gp_batch(res, g, res->ns[g] + done, count);
	if (gen)
		busy_reader_stop(gen);
	return err;
}

/* Nearest-rank percentile of the sorted @v. */
static double percentile(const uint64_t *v, int n, int p)
{
	int rank = (p * n + 99) / 100;

	return (double)v[rank > 0 ? rank - 1 : 0];
}

/* Batches of GP_BATCH per case, interleaved (see the top of this file). */
int gp_bench(struct gp_results *res)
{
	int n = opt.gp_count, err;

	res->n = n;
	for (int g = 0; g < NR_GP_CASES; g++) {
		res->ns[g] = calloc(n, sizeof(uint64_t));
		if (!res->ns[g])
			return -ENOMEM;
	}
	for (int done = 0; done < n; done += GP_BATCH) {
		int count = n - done < GP_BATCH ? n - done : GP_BATCH;

		for (int g = 0; g < NR_GP_CASES; g++) {
			err = gp_case_batch(res, g, done, count);
			if (err)
				return err;
		}
	}
	for (int g = 0; g < NR_GP_CASES; g++) {
		uint64_t *sorted = malloc(n * sizeof(uint64_t));

		if (!sorted)
			return -ENOMEM;
		memcpy(sorted, res->ns[g], n * sizeof(uint64_t));
		qsort(sorted, n, sizeof(uint64_t), cmp_u64);
		res->p50[g] = percentile(sorted, n, 50);
		res->p99[g] = percentile(sorted, n, 99);
		free(sorted);
	}
	return 0;
}
