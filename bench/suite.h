/* SPDX-License-Identifier: MIT */
/*
 * bench/suite.h - what the suites of bench_cache share: options, machine
 * load, samples and percentiles, the ratio/target/CSV output, two helper
 * threads, a vm with guest RAM and caches in it, and the fast-path loops
 * (suite 1 times them, suite 2's busy readers run them). Each suite is a
 * file of its own (suite_<name>.c); bench_cache.c is the driver.
 */
#ifndef GPC_BENCH_SUITE_H
#define GPC_BENCH_SUITE_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#define _LGPL_SOURCE /* inline urcu's read side, as its fast users do */

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <urcu/urcu-memb.h>
#include <gpc/gpc.h>

#include "common.h"

#define NR_SUITES  9  /* 6: the driver's end to end; 7: bench_vhost */
#define MAX_ROUNDS 15 /* interleaved rounds of the ns/op measurements: */
#define ROUNDS	   (opt.quick ? 7 : MAX_ROUNDS) /* 7 in a quick run */
#define GPA_BASE   0x100000ULL

/* ---- options ------------------------------------------------------------ */

struct bench_opt {
	bool quick;
	unsigned int suites; /* bit n-1: run suite n */
	const char *csv_dir;
	uint64_t target_ns;  /* one ns/op measurement lasts about this */
	uint64_t pilot_ns;   /* calibration runs at least this long */
	const char *profile; /* --profile: one loop for callgrind */
	uint64_t profile_iters;
};

extern struct bench_opt opt;

/* ---- machine load ---------------------------------------------------------- */

/*
 * What the rest of the machine did while a suite ran: CPU time of all CPUs
 * from /proc/stat (busy and steal), minus this process's own. On a shared
 * machine a suite that ran next to heavy load is flagged in its output.
 */
struct load {
	uint64_t t0;
	unsigned long long busy, steal, self;
};

/* ---- statistics ----------------------------------------------------------- */

struct samples {
	uint64_t *v;
	size_t n, cap;
};

struct pct {
	size_t n;
	double p50, p99, max, mean;
};

/* Median, min and max of ROUNDS values. */
struct mmm {
	double med, min, max;
};

/* ---- output ----------------------------------------------------------------- */

extern bool failed; /* some suite could not run: exit status 1 */

extern FILE *ratios_csv;

/* ---- helper threads -------------------------------------------------------- */

/*
 * Two helper threads: W1 pinned to the second CPU, W2 to the first (which it
 * shares with the main thread: a second busy reader on a two-CPU machine
 * has nowhere else to go). A job is a function the helper runs once; jobs
 * reach it through a condition variable, so it sleeps between them, and
 * "started"/"finished" counters let the main thread wait with a spin.
 */
struct worker {
	int idx, cpu;
	pthread_t th;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	uint64_t gen; /* jobs posted, under @lock */
	void (*fn)(struct worker *w, void *arg);
	void *arg;
	uint64_t cur; /* the job running */
	_Atomic uint64_t started, finished;
	_Atomic uint64_t go; /* main: start the timed part of job @cur */
	_Atomic bool stop;   /* main: end an open-ended job */
	uint64_t elapsed_ns; /* the job's timed part */
	uint64_t cpu_ns;     /* ... and the CPU time it got meanwhile */
};

extern struct worker workers[3];

/* ---- a vm with guest RAM ------------------------------------------------------ */

extern uint64_t page_size;

/*
 * A vm on the direct stage with @pages pages of guest RAM in memslot 0 at
 * GPA_BASE, faulted in.
 */
struct env {
	struct gpc_vm *vm;
	struct gpc_hostmem *hm;
	uint8_t *ram;
	size_t len;
};

/*
 * The urcu contender's cache: a pointer and a length, published with
 * rcu_assign_pointer and read under urcu_memb_read_lock, which is how an
 * RCU-protected translation cache (QEMU's, say) checks before it stores.
 */
struct urcu_cache {
	uint8_t *khva;
	uint64_t len;
} gpc_cacheline_aligned;

/* A long section: what a datapath thread that handles a whole request (a
 * ring's worth of descriptors) inside one read section looks like. */
#define LONG_SECTION_NS 20000

/* One read section of @d lasting LONG_SECTION_NS (busy, on the CPU). */
void long_srcu_section(struct gpc_srcu *d);

/* Scale a sample count down for --quick. */
unsigned int nq(unsigned int full, unsigned int quick);

/*
 * Create a vm with the calling thread unpinned, so that its SRCU domain's
 * worker thread (which inherits our affinity) may run on every CPU rather
 * than compete with the pinned main thread for the first one.
 */
int vm_create_unpinned(const struct gpc_vm_config *cfg, struct gpc_vm **out);

void load_sample(unsigned long long *busy, unsigned long long *steal,
		 unsigned long long *self);

void load_begin(struct load *l);

void load_report(const struct load *l, const char *what);

int samples_init(struct samples *s, size_t cap);

void samples_free(struct samples *s);

void samples_add(struct samples *s, uint64_t v);

/* Nearest-rank percentiles; the samples are left in their order. */
struct pct pct_of(const struct samples *s);

struct mmm mmm_of(const double *v);

uint64_t rnd(void);

void fail(const char *what, int err);

void ratio(const char *name, double v);

/* A ratio that could not be measured here (e.g. no SCHED_FIFO). */
void ratio_skipped(const char *name, const char *why);

/* Informational: the exit status never depends on a target. */
void target(const char *name, double v, bool at_most, double limit);

/* csv_dir/name, opened for writing; NULL without --csv-dir. */
FILE *csv_open(const char *name, const char *header);

void csv_close(FILE *f);

/*
 * Write the sorted samples as an empirical CDF (for plots). @total is the
 * number of attempts: more than s->n when some never completed, so that the
 * curve then stops short of 1.
 */
void csv_cdf_of(FILE *f, const char *name, const struct samples *s,
		size_t total);

void csv_cdf(FILE *f, const char *name, const struct samples *s);

void *worker_main(void *arg);

int workers_start(void);

uint64_t worker_post_nowait(struct worker *w,
			    void (*fn)(struct worker *, void *), void *arg);

/* Post a job and wait until it runs; returns its number. */
uint64_t worker_post(struct worker *w, void (*fn)(struct worker *, void *),
		     void *arg);

void worker_wait(struct worker *w, uint64_t gen);

/* End an open-ended job (one that loops until @stop). */
void worker_stop(struct worker *w, uint64_t gen);

bool worker_stopping(struct worker *w);

void workers_exit(void);

int env_create(struct env *e, enum gpc_scheme scheme, size_t pages,
	       const char *name);

void env_destroy(struct env *e);

uint64_t env_hva(const struct env *e, uint64_t off);

/* Initialise and activate @c on [GPA_BASE + off, + len). */
int cache_init_at(struct gpc_cache *c, struct env *e, uint64_t off,
		  uint64_t len);

/* A host-usage cache of [GPA_BASE + off, + len), in its own cache lines. */
struct gpc_cache *cache_new(struct env *e, uint64_t off, uint64_t len);

void cache_free(struct gpc_cache *c);

/* The payload of every access: a relaxed 8-byte store that cannot be
 * dropped or merged by the compiler. */
static inline void store(void *p, uint64_t v)
{
	atomic_store_explicit((_Atomic uint64_t *)p, v, memory_order_relaxed);
}

/* ---- the fast-path loops (suite_fastpath.c) -------------------------------- */

/* What one thread's loop uses; set by fp_bind() before each measurement. */
struct fp_reader {
	struct gpc_cache *sc; /* srcu scheme cache */
	struct gpc_cache *rc; /* rwlock scheme cache */
	struct urcu_cache *uc;
	uint8_t *raw;	 /* the same page, through a plain pointer */
	uint64_t off;	 /* this thread's word: its own cache line */
	uint64_t misses; /* must stay 0: no writer runs */
} gpc_cacheline_aligned;

void fp_loop_raw(struct fp_reader *r, uint64_t n);
void fp_loop_srcu(struct fp_reader *r, uint64_t n);
void fp_loop_rwlock(struct fp_reader *r, uint64_t n);
void fp_loop_urcu(struct fp_reader *r, uint64_t n);

/* ---- the suites: each prints its table, ratio and target lines ----------- */

void suite_fastpath(void);  /* 1 fast path */
void suite_inval(void);	    /* 2 invalidation latency */
void suite_nonblock(void);  /* 2, retried non-blocking invalidations */
void suite_kick(void);	    /* 2, kick and wait; independent domains */
void suite_domains(void);   /* 2, domains beyond TLS; shared domains */
void suite_storm(void);	    /* 3 refresh under invalidation storms */
void suite_scale(void);	    /* 4 scale */
void suite_translate(void); /* 4, translation calls vs memslot lookup */
void suite_rt(void);	    /* 5 real time */
void suite_dirty(void);	    /* 8 dirty logging */
void suite_txn(void);	    /* 9 memslot transactions */
int run_profile(void);	    /* --profile: one fast-path loop for callgrind */
void suite_ffi(void);	    /* 1, out-of-line (FFI) forms vs inline */
int ffi_profile(const char *name); /* --profile of suite_ffi's loops */

#endif
