/* SPDX-License-Identifier: MIT */
/*
 * fuzz/report.h - the operation being run (for the reports), the switches
 * from the environment, and the two ways fuzz_api reports: the op trace
 * (verbose) and a mismatch, which prints and traps so that libFuzzer keeps
 * the input. A leaf: no library or harness code.
 */
#ifndef GPC_FUZZ_REPORT_H
#define GPC_FUZZ_REPORT_H

#include <stdbool.h>
#include <stdint.h>

#include "fuzz_ops.h"

/* What runs now: set by dispatch(), printed by fail(). */
struct fz_ctx {
	int opno;
	const char *opname; /* NULL: setup */
	uint8_t rec[FZ_REC];
	bool in_hold; /* the operation runs inside a held access */
};

extern struct fz_ctx cur_op;
extern bool strict; /* GPC_FUZZ_STRICT: check the known, reported bugs too */
extern int verbose; /* GPC_FUZZ_VERBOSE: print the op trace */

/* What fail() prints after its message (the model's state). */
void report_set_dump(void (*dump)(void));

/* Print a mismatch, the operation and the dump, then trap. */
__attribute__((noreturn, format(printf, 1, 2))) void fail(const char *fmt, ...);

/* Trace the result @got of @what; fail() unless it is @want. */
void expect_err(const char *what, int got, int want);

#endif /* GPC_FUZZ_REPORT_H */
