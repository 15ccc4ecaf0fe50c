/* SPDX-License-Identifier: MIT */
/*
 * tests/support/churn.h - the R18 churn engine, shared by
 * test_scenarios_hostmem (r18_churn_stress, a short run) and stress_churn
 * (the long soak); test_scenarios_lifecycle uses its spin and fault
 * catcher for R17. The implementation is churn.c, linked into all three.
 *
 * N writer threads each own one cache, in GPA mode, on its own page of
 * memslot 0 (page 3*i + 1 of the slot, at byte offset 8*i of that page).
 * Each keeps writing the cache's GPA through it: begin -> store -> end; on
 * a miss it refreshes (-EFAULT is expected while the page is unmapped,
 * protected or not in any slot, and is ridden out). A churn thread
 * meanwhile changes everything under them, always through the notifier
 * helpers of gpc/hostmem.h:
 *
 *  - munmap + mmap: gpc_hostmem_unmap() (the page becomes an inaccessible
 *    hole), a pause, then gpc_hostmem_remap() (fresh zeroed memory);
 *  - mmap over a mapped page: gpc_hostmem_remap() in place; the old page is
 *    retired, and must not change after the call returned (with the alias
 *    stage a stale write through an old khva would land exactly there);
 *  - migrate: same content, new page (retired check as above);
 *  - mprotect PROT_NONE or PROT_READ, a pause, then read-write again;
 *  - memslot delete, a pause, and re-create at the other of two RAM
 *    regions (another HVA);
 *  - memslot move to a far GPA (no cache GPA is then in any slot), a
 *    pause, and back.
 *
 * What must hold: no access faults (a SIGSEGV/SIGBUS handler reports the
 * address and exits 4), writers see no error other than -EFAULT, and at the
 * end, with everything mapped read-write again, every byte of both RAM
 * regions is 0 except the 8 bytes a cache owns in each region, which hold 0
 * or that cache's GPA.
 *
 * churn.h includes harness.h: struct churn_opts names a tvm_stage.
 */
#ifndef GPC_TEST_CHURN_H
#define GPC_TEST_CHURN_H

#include <stdint.h>
#include <stdio.h>

#include <gpc/gpc.h>

#include "harness.h"

#define CHURN_MAX_THREADS 32

enum churn_op {
	CHURN_UNMAP_REMAP,
	CHURN_REMAP,
	CHURN_MIGRATE,
	CHURN_PROT_NONE,
	CHURN_PROT_READ,
	CHURN_SLOT_RECREATE,
	CHURN_SLOT_MOVE,
	CHURN_NR_OPS
};

/* Printable names of the operations, indexed by enum churn_op. */
extern const char *const churn_op_names[CHURN_NR_OPS];

struct churn_opts {
	double duration; /* seconds */
	int threads;
	enum gpc_scheme scheme;
	enum tvm_stage stage;
	uint64_t seed;
};

struct churn_result {
	long writes, misses, refresh_ok, refresh_efault, refresh_other;
	int last_other_err;
	long ops[CHURN_NR_OPS];
	long op_errors;
	long violations; /* bad bytes, retired pages written, API errors */
	uint64_t max_op_ns;
	char msg[256]; /* the first violation */
};

/*
 * Run one configuration. Returns 0 when it could be run at all (then
 * @r->violations says whether it passed), or a setup error. Installs the
 * fault handlers of churn_catch_faults() first.
 */
int churn_run(const struct churn_opts *o, struct churn_result *r);

/* One summary line of a finished run. */
void churn_print(FILE *f, const struct churn_opts *o,
		 const struct churn_result *r);

/*
 * Report SIGSEGV/SIGBUS with the faulting address and _exit(4): a stray
 * access through a stale cache pointer becomes a clear failure instead of
 * a plain crash. Process-wide; other timed stress tests use it too.
 */
void churn_catch_faults(void);

/* Busy-wait up to a few microseconds, the length drawn from @rng. */
void churn_spin(uint64_t *rng);

#endif /* GPC_TEST_CHURN_H */
