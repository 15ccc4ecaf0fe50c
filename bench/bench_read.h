/* SPDX-License-Identifier: MIT */
/*
 * bench/bench_read.h - what the three files of bench_read share: the options,
 * the contenders and grace-period cases, the result structures, and the
 * entry points of the read side (read_side.c) and of the grace-period runs
 * (read_gp.c). Private to bench_read.
 *
 * The objects the timed loops touch (the SRCU domain, the modelled cache,
 * the locks, the per-thread readers, the helper's control block) are not
 * here: they stay static in read_side.c, next to the loops, so that the
 * measured code compiles exactly as it did when everything was one file.
 * The other files reach them only through the functions below.
 */
#ifndef GPC_BENCH_READ_H
#define GPC_BENCH_READ_H

#include <stdbool.h>
#include <stdint.h>

#include <gpc/srcu.h>

#define NR_THREADS 2
#define NR_ROUNDS  7

/* Set once by bench_read.c before anything runs, read-only afterwards. */
struct bench_opts {
	bool quick;
	const char *csv;
	uint64_t target_ns; /* wanted duration of one measurement */
	uint64_t pilot_ns;  /* calibration run at least this long */
	int gp_count;
};

extern struct bench_opts opt;

enum contender {
	C_RAW,
	C_SRCU,
	C_SRCU_SEQ,
	C_URCU,
	C_CK,
	C_RWLOCK,
	C_SPIN,
	NR_CONTENDERS
};

struct read_results {
	uint64_t iters[NR_CONTENDERS][NR_THREADS];
	double ns[NR_CONTENDERS][NR_THREADS][NR_ROUNDS];
	double med[NR_CONTENDERS][NR_THREADS];
	double min[NR_CONTENDERS][NR_THREADS];
	double max[NR_CONTENDERS][NR_THREADS];
	/*
	 * Wall-clock time of the main thread's timed read loops in the
	 * rounds, and the CPU time it actually got during them. On a shared
	 * machine the difference is time other tasks took; the ratio is
	 * printed so that a disturbed run can be told from a slow contender.
	 * (Timing itself stays on CLOCK_MONOTONIC.)
	 */
	uint64_t timed_wall_ns, timed_cpu_ns;
};

enum gp_case {
	GP_SRCU_IDLE,
	GP_URCU_IDLE,
	GP_SRCU_BUSY,
	GP_URCU_BUSY,
	NR_GP_CASES
};

struct gp_results {
	uint64_t *ns[NR_GP_CASES];
	int n;
	double p50[NR_GP_CASES];
	double p99[NR_GP_CASES];
	uint64_t membarriers[2]; /* ours, idle and busy */
	uint64_t gps[2];
};

/* ---- read_side.c -------------------------------------------------------- */

/* Domain, shared objects, both readers registered, helper thread started. */
int read_side_setup(void);
int read_side_teardown(void);

void read_bench(struct read_results *res);

/* Fast-path misses of both readers: must be 0, there is no writer. */
uint64_t read_misses(void);

/* The SRCU domain the readers use, for the grace-period runs. */
struct gpc_srcu *read_domain(void);

/*
 * Make the helper a busy reader (srcu or urcu_memb sections, back to back)
 * until busy_reader_stop() with what busy_reader_start() returned.
 */
uint64_t busy_reader_start(bool srcu);
void busy_reader_stop(uint64_t gen);

/* ---- read_gp.c ---------------------------------------------------------- */

int gp_bench(struct gp_results *res);

extern const char *const gp_name[NR_GP_CASES];

#endif
