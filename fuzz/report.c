// SPDX-License-Identifier: MIT
/*
 * fuzz/report.c - how the harness reports: the operation being run, the
 * op trace (GPC_FUZZ_VERBOSE) and the mismatch report that traps.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "report.h"

struct fz_ctx cur_op;
bool strict;
int verbose;
static void (*dump_fn)(void);

void report_set_dump(void (*dump)(void))
{
	dump_fn = dump;
}

void fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr,
		"\nfuzz_api: MISMATCH at op %d (%s, args %02x %02x %02x %02x)%s: ",
		cur_op.opno, cur_op.opname ? cur_op.opname : "setup",
		cur_op.rec[1], cur_op.rec[2], cur_op.rec[3], cur_op.rec[4],
		cur_op.in_hold ? " inside a held access" : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	if (dump_fn)
		dump_fn();
	fflush(stderr);
	__builtin_trap();
}

void expect_err(const char *what, int got, int want)
{
	/* The op trace (GPC_FUZZ_VERBOSE): every checked result, so that two
	 * builds of the harness can be compared call by call. */
	if (verbose)
		fprintf(stderr, "  = %s: %d\n", what, got);
	if (got != want)
		fail("%s returned %d (%s), expected %d (%s)", what, got,
		     strerror(got < 0 ? -got : got), want,
		     strerror(want < 0 ? -want : want));
}
