/* SPDX-License-Identifier: MIT */
/*
 * bench/bench_cache.c - benchmark suites 1-5, 8, 9 of the gfn-to-pfn cache: the
 * driver (options, which suites run, header); each suite is in
 * suite_<name>.c, what they share in suite.{c,h} and common.{c,h}.
 *
 * Each suite runs its contenders side by side in one run, on the same
 * machine state, prints a table, "ratio <name> <value>" lines and
 * informational "target <name> <value> <=|>= <limit> met|MISSED" lines,
 * and (with --csv-dir) writes CSV files that the gnuplot scripts in
 * bench/plots turn into PNG plots. docs/performance.md has a full run.
 *
 *  1. fast path: check + 8-byte store through a cache, ns/op, one thread,
 *     two threads on one shared cache, two threads on a cache each:
 *     raw pointer store; srcu scheme (SRCU + seqcount); rwlock scheme; the
 *     same check + store protected by liburcu-memb.
 *  2. invalidation latency: blocking range_start with 0, 1 and 2 busy
 *     readers, per scheme, next to urcu_memb_synchronize_rcu() under the
 *     same load; non-blocking range_start: success rate and latency.
 *  3. refresh under invalidation storms: idle, under a storm of unrelated
 *     invalidations, under an overlapping storm that pauses now and then;
 *     gpc_cache_refresh() next to KVM's policy (retry while any
 *     invalidation is in progress anywhere in the vm), modelled here.
 *  4. scale: invalidation cost with 10, 1,000 and 100,000 active caches;
 *     memslot lookup with 1, 1,000 and 32,764 slots; memory per cache and
 *     per memslot; translation calls (gpc/translate.h) vs memslot lookup
 *     with 1 and 512 slots (suite_translate.c).
 *  5. real time: worst-case latency of a SCHED_FIFO reader pinned to the
 *     CPU of a writer it preempts, and of a signal-handler reader that
 *     interrupts a writer, per scheme.
 *
 * Suite 6 (end to end) lives in the reference VMM; bench/bench runs it
 * (a marked hook) once the VMM offers it.
 *
 * Conventions (as bench_read): every contender's op is a static inline
 * function inlined into a loop of its own (noinline, aligned(64)), chosen by
 * a switch outside the timed loop; rounds interleave the contenders with a
 * rotating order and the median is reported (15 rounds, 7 with --quick);
 * threads are pinned to the first two CPUs we may use; each suite says how
 * much of the machine other tasks took while it ran (this machine is
 * shared), and suite 1 the share of CPU time its timed loops got. Single
 * measurements use the wall clock (as the ratios do); suite 1 and the
 * memslot lookups also report the threads' CPU time, which other load
 * cannot inflate. Latencies are nearest-rank percentiles.
 *
 * The exit status says whether the suites ran (setup failed, or a fast path
 * missed although no writer exists), never whether a target was met.
 */
#include <getopt.h>
#include <sys/stat.h>

#include <gpc/version.h>

#include "suite.h"

/* ===================================================================== */
/* main                                                                     */
/* ===================================================================== */

static void usage(FILE *f, const char *prog)
{
	fprintf(f,
		"usage: %s [--quick] [--suite N[,N...]] [--csv-dir DIR]\n"
		"       %s --profile raw|srcu|rwlock|urcu|refresh|inval|cache_ool|... "
		"[--iters N]\n"
		"  --quick        short run of every selected suite (~30 s "
		"for all)\n"
		"  --suite LIST   suites to run (default: 1-5, 8 and 9):\n"
		"                 1 fast path, 2 invalidation latency, 3 "
		"refresh under\n"
		"                 storms, 4 scale, 5 real time, 8 dirty "
		"logging,\n"
		"                 9 memslot transactions (6 end to end and 7\n"
		"                 vhost-user are other programs of bench)\n"
		"  --csv-dir DIR  write each suite's CSV files into DIR\n"
		"  --profile X    run one loop once (for callgrind), see "
		"docs/performance.md\n"
		"  --version      print \"bench_cache libgpc X.Y.Z\" and exit\n"
		"Prints tables, 'ratio <name> <value>' lines and "
		"informational 'target'\nlines (not in the exit status).\n",
		prog, prog);
}

static int parse_suites(const char *arg)
{
	char *end;

	while (*arg) {
		long v = strtol(arg, &end, 10);

		if (end == arg || v < 1 || v > NR_SUITES)
			return -1;
		opt.suites |= 1u << (v - 1);
		arg = *end == ',' ? end + 1 : end;
		if (*end && *end != ',')
			return -1;
	}
	return 0;
}

static int parse_opts(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "quick", no_argument, NULL, 'q' },
		{ "suite", required_argument, NULL, 's' },
		{ "csv-dir", required_argument, NULL, 'c' },
		{ "profile", required_argument, NULL, 'p' },
		{ "iters", required_argument, NULL, 'i' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	opt.target_ns = 30000000;
	opt.pilot_ns = 2000000;
	opt.profile_iters = 1000000;
	while ((ch = getopt_long(argc, argv, "qs:c:p:i:h", longopts, NULL)) !=
	       -1) {
		switch (ch) {
		case 'q':
			opt.quick = true;
			opt.target_ns = 5000000;
			opt.pilot_ns = 500000;
			break;
		case 's':
			if (parse_suites(optarg)) {
				usage(stderr, argv[0]);
				return -1;
			}
			break;
		case 'c':
			opt.csv_dir = optarg;
			break;
		case 'p':
			opt.profile = optarg;
			break;
		case 'i':
			opt.profile_iters = strtoull(optarg, NULL, 0);
			break;
		case 'h':
			usage(stdout, argv[0]);
			exit(0);
		case 'V':
			printf("bench_cache libgpc %s\n", gpc_version());
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
	if (!opt.suites)
		opt.suites = (1u << NR_SUITES) - 1;
	return 0;
}

static void print_header(void)
{
	printf("bench_cache: %s run, CPUs %d and %d, page %llu, "
	       "srcu readers %s\n",
	       opt.quick ? "quick" : "full", cpu_of[0], cpu_of[1],
	       (unsigned long long)page_size,
	       gpc_srcu_membarrier_available() ? "fence-free (membarrier)" :
						 "fenced (no membarrier)");
#if !defined(__OPTIMIZE__)
	printf("WARNING: built without optimisation: meaningless numbers\n");
#endif
#ifdef GPC_DEBUG
	printf("WARNING: GPC_DEBUG build: extra checks on the fast path\n");
#endif
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		void (*fn)(void);
	} suites[NR_SUITES] = {
		{ "1 fast path", suite_fastpath },
		{ "2 invalidation latency", suite_inval },
		{ "3 refresh under invalidation storms", suite_storm },
		{ "4 scale", suite_scale },
		{ "5 real time", suite_rt },
		{ NULL, NULL }, /* 6: end to end, run by the bench driver */
		{ NULL, NULL }, /* 7: vhost-user, bench_vhost */
		{ "8 dirty logging", suite_dirty },
		{ "9 memslot transactions", suite_txn },
	};
	uint64_t t0 = now_ns();
	int err;

	if (parse_opts(argc, argv))
		return 2;
	page_size = (uint64_t)sysconf(_SC_PAGESIZE);
	pick_cpus();
	pin_to(cpu_of[0]);
	urcu_memb_register_thread();
	err = workers_start();
	if (err) {
		fail("pthread_create", err);
		return 1;
	}
	if (opt.profile) {
		err = run_profile();
		workers_exit();
		urcu_memb_unregister_thread();
		return err;
	}
	if (opt.csv_dir) {
		mkdir(opt.csv_dir, 0777);
		ratios_csv = csv_open("cache_ratios.csv", "name,value");
	}
	print_header();
	for (int i = 0; i < NR_SUITES; i++) {
		struct load l;
		char what[64];

		if (!(opt.suites & (1u << i)) || !suites[i].fn)
			continue;
		printf("\n==== suite %s ====\n", suites[i].name);
		load_begin(&l);
		suites[i].fn();
		snprintf(what, sizeof(what), "suite %d", i + 1);
		load_report(&l, what);
		fflush(stdout);
	}
	csv_close(ratios_csv);
	workers_exit();
	urcu_memb_unregister_thread();
	printf("\nbench_cache: done in %.1f s%s\n",
	       (double)(now_ns() - t0) / 1e9, failed ? " (with errors)" : "");
	return failed ? 1 : 0;
}
