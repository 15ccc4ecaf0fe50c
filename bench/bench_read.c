/* SPDX-License-Identifier: MIT */
/*
 * bench/bench_read.c - read-side cost of gpc_srcu next to the alternatives.
 *
 * In one run, and on the same machine state, it measures ns per read-side
 * section for seven contenders, with one thread and with two threads that run
 * the same loop at the same time on the same shared objects (reported per
 * thread):
 *
 *   raw             one 8-byte store through a per-thread pointer: the floor
 *   srcu            gpc_srcu_read_lock + store + gpc_srcu_read_unlock_slot
 *                   (the slot returned by lock is the token, as the index of
 *                   the kernel's srcu_read_lock)
 *   srcu_seq        srcu section + bounded seqcount read of a modelled
 *                   gfn-to-pfn cache (valid flag, pointer) + store through
 *                   the pointer: the cache's fast path
 *   urcu_memb       liburcu-memb, inlined (_LGPL_SOURCE) + store
 *   ck_epoch        ck_epoch_begin/end on a per-thread record + store
 *   pthread_rwlock  rdlock on one shared lock + check valid + store + unlock
 *   spin_rwlock     kernel-style spinning reader lock (spin_rwlock.h)
 *                   + same body
 *
 * and the latency of a grace period, idle and with one busy reader, for
 * gpc_srcu_synchronize() against urcu_memb_synchronize_rcu().
 *
 * The program is in three files: this one (options, main and the report),
 * read_side.c (the contenders, their timed loops, the second thread and the
 * read-side measurements; how they are kept fair is at its top) and
 * read_gp.c (grace-period latency); bench_read.h is what they share.
 *
 * Output: a table (with the share of CPU time the main thread got while
 * timed: far below 100% means other load disturbed the run), then
 * "ratio <name> <value>" lines and informational
 * "target <name> <value> <= <limit> met|MISSED" lines. The exit status only
 * says whether the benchmark ran (setup failed, or the seqcount fast path
 * missed although no writer exists).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
/* urcu declares urcu_memb_has_sys_membarrier in its inline API only. */
#define _LGPL_SOURCE

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <urcu/urcu-memb.h>

#include <gpc/srcu.h>
#include <gpc/version.h>

#include "bench_read.h"
#include "common.h"

#define GP_FULL	 200
#define GP_QUICK 30

/* ---- options and names -------------------------------------------------- */

struct bench_opts opt;

/* clang-format off */
static const char *const contender_name[NR_CONTENDERS] = {
	[C_RAW] = "raw",
	[C_SRCU] = "srcu",
	[C_SRCU_SEQ] = "srcu_seq",
	[C_URCU] = "urcu_memb",
	[C_CK] = "ck_epoch",
	[C_RWLOCK] = "pthread_rwlock",
	[C_SPIN] = "spin_rwlock",
};
/* clang-format on */

/* ---- report ------------------------------------------------------------- */

struct ratio {
	const char *name;
	double value;
};

enum {
	R_SRCU_URCU,
	R_SRCU_URCU_2T,
	R_SEQ_RAW,
	R_RW_SEQ_1T,
	R_RW_SEQ_2T,
	R_CK_SRCU_1T,
	R_SPIN_SEQ_2T,
	R_SYNC_IDLE,
	R_SYNC_BUSY,
	NR_RATIOS
};

static void compute_ratios(const struct read_results *rd,
			   const struct gp_results *gp, struct ratio *ra)
{
#define RATIO(i, n, v) ra[i] = (struct ratio){ n, v }
	RATIO(R_SRCU_URCU, "srcu_read_vs_urcu_memb",
	      rd->med[C_SRCU][0] / rd->med[C_URCU][0]);
	RATIO(R_SRCU_URCU_2T, "srcu_read_vs_urcu_memb_2t",
	      rd->med[C_SRCU][1] / rd->med[C_URCU][1]);
	RATIO(R_SEQ_RAW, "srcu_seq_store_vs_raw",
	      rd->med[C_SRCU_SEQ][0] / rd->med[C_RAW][0]);
	RATIO(R_RW_SEQ_1T, "rwlock_vs_srcu_seq_1t",
	      rd->med[C_RWLOCK][0] / rd->med[C_SRCU_SEQ][0]);
	RATIO(R_RW_SEQ_2T, "rwlock_vs_srcu_seq_2t",
	      rd->med[C_RWLOCK][1] / rd->med[C_SRCU_SEQ][1]);
	RATIO(R_CK_SRCU_1T, "ck_vs_srcu_1t",
	      rd->med[C_CK][0] / rd->med[C_SRCU][0]);
	RATIO(R_SPIN_SEQ_2T, "spin_rwlock_vs_srcu_seq_2t",
	      rd->med[C_SPIN][1] / rd->med[C_SRCU_SEQ][1]);
	RATIO(R_SYNC_IDLE, "srcu_sync_idle_vs_urcu_sync_idle",
	      gp->p50[GP_SRCU_IDLE] / gp->p50[GP_URCU_IDLE]);
	RATIO(R_SYNC_BUSY, "srcu_sync_busy_vs_urcu_sync_busy",
	      gp->p50[GP_SRCU_BUSY] / gp->p50[GP_URCU_BUSY]);
#undef RATIO
}

static void print_header(void)
{
	printf("bench_read: %s run, %d rounds, CPUs %d and %d\n",
	       opt.quick ? "quick" : "full", NR_ROUNDS, cpu_of[0], cpu_of[1]);
	printf("readers fence-free: srcu %s, urcu_memb %s\n",
	       gpc_srcu_membarrier_available() ? "yes (membarrier)" :
						 "no (reader fences)",
	       urcu_memb_has_sys_membarrier ? "yes (membarrier)" :
					      "no (reader fences)");
#if !defined(__OPTIMIZE__)
	printf("WARNING: built without optimisation: meaningless numbers\n");
#endif
#ifdef GPC_DEBUG
	printf("WARNING: GPC_DEBUG build: read_unlock checks misuse\n");
#endif
}

static void print_read_table(const struct read_results *rd)
{
	double share;

	printf("\nread side, ns/op: median [min..max] of %d rounds; "
	       "2t = per thread, both on the same objects\n",
	       NR_ROUNDS);
	printf("%-15s %9s %19s   %9s %19s\n", "contender", "1t", "[min..max]",
	       "2t", "[min..max]");
	for (int c = 0; c < NR_CONTENDERS; c++)
		printf("%-15s %9.2f [%7.2f..%8.2f]   %9.2f [%7.2f..%8.2f]\n",
		       contender_name[c], rd->med[c][0], rd->min[c][0],
		       rd->max[c][0], rd->med[c][1], rd->min[c][1],
		       rd->max[c][1]);
	share = rd->timed_wall_ns ?
			100.0 * rd->timed_cpu_ns / rd->timed_wall_ns :
			0;
	printf("main thread was on CPU %.1f%% of its timed loops%s\n", share,
	       share < 95 ? " (other load: numbers disturbed)" : "");
}

static void print_gp_table(const struct gp_results *gp)
{
	printf("\ngrace period latency, us, over %d grace periods "
	       "(busy = one reader thread in back-to-back sections)\n",
	       gp->n);
	printf("%-15s %10s %10s\n", "case", "p50", "p99");
	for (int g = 0; g < NR_GP_CASES; g++)
		printf("%-15s %10.1f %10.1f\n", gp_name[g], gp->p50[g] / 1e3,
		       gp->p99[g] / 1e3);
	printf("srcu membarriers per grace period: idle %.2f, busy %.2f\n",
	       per_gp(gp->membarriers[0], gp->gps[0]),
	       per_gp(gp->membarriers[1], gp->gps[1]));
}

static void print_ratios(const struct ratio *ra)
{
	/* Targets are informational: the exit status does not depend on them. */
	static const struct {
		int ratio;
		double limit;
	} targets[] = {
		{ R_SRCU_URCU, 1.5 },
		{ R_SEQ_RAW, 4.0 },
		{ R_SYNC_BUSY, 1.0 },
	};

	printf("\n");
	for (int i = 0; i < NR_RATIOS; i++)
		printf("ratio %s %.3f\n", ra[i].name, ra[i].value);
	for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++) {
		const struct ratio *r = &ra[targets[i].ratio];

		printf("target %s %.3f <= %.1f %s\n", r->name, r->value,
		       targets[i].limit,
		       r->value <= targets[i].limit ? "met" : "MISSED");
	}
}

static int write_csv(const char *path, const struct read_results *rd,
		     const struct gp_results *gp, const struct ratio *ra)
{
	FILE *f = fopen(path, "w");

	if (!f) {
		perror(path);
		return -1;
	}
	fprintf(f, "kind,name,threads,index,value,unit\n");
	for (int c = 0; c < NR_CONTENDERS; c++)
		for (int t = 0; t < NR_THREADS; t++)
			for (int r = 0; r < NR_ROUNDS; r++)
				fprintf(f, "read,%s,%d,%d,%.4f,ns_per_op\n",
					contender_name[c], t + 1, r,
					rd->ns[c][t][r]);
	for (int g = 0; g < NR_GP_CASES; g++)
		for (int i = 0; i < gp->n; i++)
			fprintf(f, "gp,%s,1,%d,%llu,ns\n", gp_name[g], i,
				(unsigned long long)gp->ns[g][i]);
	fprintf(f, "membarriers_per_gp,srcu_idle,1,0,%.4f,count\n",
		per_gp(gp->membarriers[0], gp->gps[0]));
	fprintf(f, "membarriers_per_gp,srcu_busy,1,0,%.4f,count\n",
		per_gp(gp->membarriers[1], gp->gps[1]));
	for (int i = 0; i < NR_RATIOS; i++)
		fprintf(f, "ratio,%s,,,%.4f,ratio\n", ra[i].name, ra[i].value);
	if (fclose(f)) {
		perror(path);
		return -1;
	}
	return 0;
}

/* ---- command line and main ---------------------------------------------- */

static void usage(FILE *f, const char *prog)
{
	fprintf(f, "usage: %s [--quick] [--csv FILE] [--help]\n", prog);
	fprintf(f,
		"  --quick     short run: ~5 ms per measurement, %d grace\n"
		"              periods per case, under ~10 s in total\n",
		GP_QUICK);
	fprintf(f, "  --csv FILE  also write every measurement to FILE\n"
		   "  --help      this text\n"
		   "  --version   print \"bench_read libgpc X.Y.Z\" and exit\n"
		   "Prints a table, then 'ratio <name> <value>' lines and\n"
		   "informational 'target' lines (not in the exit status).\n");
}

static int parse_opts(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "quick", no_argument, NULL, 'q' },
		{ "csv", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	opt.target_ns = 30000000;
	opt.pilot_ns = 2000000;
	opt.gp_count = GP_FULL;
	while ((ch = getopt_long(argc, argv, "qc:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'q':
			opt.quick = true;
			opt.target_ns = 5000000;
			opt.pilot_ns = 500000;
			opt.gp_count = GP_QUICK;
			break;
		case 'c':
			opt.csv = optarg;
			break;
		case 'h':
			usage(stdout, argv[0]);
			exit(0);
		case 'V':
			printf("bench_read libgpc %s\n", gpc_version());
			exit(0);
		default:
			usage(stderr, argv[0]);
			return -1;
		}
	}
	if (optind < argc) {
		usage(stderr, argv[0]);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static struct read_results rd;
	struct gp_results gp = { 0 };
	struct ratio ra[NR_RATIOS];
	uint64_t misses;
	int err;

	if (parse_opts(argc, argv))
		return 2;
	if (read_side_setup())
		return 1;
	print_header();
	read_bench(&rd);
	print_read_table(&rd);
	err = gp_bench(&gp);
	if (err)
		return 1;
	print_gp_table(&gp);
	compute_ratios(&rd, &gp, ra);
	print_ratios(ra);
	fflush(stdout);

	if (opt.csv && write_csv(opt.csv, &rd, &gp, ra))
		err = 1;
	misses = read_misses();
	if (misses) {
		fprintf(stderr,
			"cache fast path missed %llu times, no writer\n",
			(unsigned long long)misses);
		err = 1;
	}
	if (read_side_teardown())
		err = 1;
	for (int g = 0; g < NR_GP_CASES; g++)
		free(gp.ns[g]);
	return err ? 1 : 0;
}
