// SPDX-License-Identifier: MIT
/*
 * tests/torture/stress_churn.c - the R18 soak: writers keep writing their caches'
 * GPAs while the host memory and the memslots churn under them (see
 * churn.h for what is changed and what is checked).
 *
 *	stress_churn [--duration SECONDS] [--threads N]
 *		     [--scheme srcu|rwlock|both] [--stage direct|alias|both]
 *		     [--seed N]
 *
 * --duration is the total run time, shared evenly by the selected
 * (scheme, stage) configurations; default 2 s (1 s under a sanitizer).
 * Prints one summary line per configuration; exits 1 on any violation, 2
 * on bad options or a setup failure, 4 if an access faulted.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include <gpc/gpc.h>

#include "harness.h"
#include "test_common.h"
#include "churn.h"

struct opts {
	double duration;
	int threads;
	int scheme_first, scheme_last;
	int stage_first, stage_last;
	uint64_t seed;
};

static void usage(const char *prog)
{
	fprintf(stderr,
		"usage: %s [--duration SECONDS] [--threads N] "
		"[--scheme srcu|rwlock|both] [--stage direct|alias|both] "
		"[--seed N]\n",
		prog);
}

/* "a|b|both" -> [*first, *last]; false if @arg is none of them. */
static bool pick(const char *arg, const char *a, const char *b, int *first,
		 int *last)
{
	if (!strcmp(arg, a))
		*first = *last = 0;
	else if (!strcmp(arg, b))
		*first = *last = 1;
	else if (!strcmp(arg, "both"))
		*first = 0, *last = 1;
	else
		return false;
	return true;
}

static int parse(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{ "duration", required_argument, NULL, 'd' },
		{ "threads", required_argument, NULL, 't' },
		{ "scheme", required_argument, NULL, 's' },
		{ "stage", required_argument, NULL, 'g' },
		{ "seed", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	o->duration = TEST_TSAN || TEST_ASAN ? 1 : 2;
	o->threads = 4;
	o->scheme_first = 0, o->scheme_last = 1;
	o->stage_first = 0, o->stage_last = 1;
	o->seed = (uint64_t)test_now_ns();
	while ((c = getopt_long(argc, argv, "d:t:s:g:r:h", longopts, NULL)) !=
	       -1) {
		switch (c) {
		case 'd':
			o->duration = atof(optarg);
			break;
		case 't':
			o->threads = atoi(optarg);
			break;
		case 's':
			if (!pick(optarg, "srcu", "rwlock", &o->scheme_first,
				  &o->scheme_last))
				return -1;
			break;
		case 'g':
			if (!pick(optarg, "direct", "alias", &o->stage_first,
				  &o->stage_last))
				return -1;
			break;
		case 'r':
			o->seed = strtoull(optarg, NULL, 0);
			break;
		default:
			return -1;
		}
	}
	if (optind != argc || o->duration <= 0 || o->threads < 1 ||
	    o->threads > CHURN_MAX_THREADS)
		return -1;
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o;
	int nconf, failed = 0;

	if (parse(argc, argv, &o)) {
		usage(argv[0]);
		return 2;
	}
	nconf = (o.scheme_last - o.scheme_first + 1) *
		(o.stage_last - o.stage_first + 1);
	printf("stress_churn: seed %#" PRIx64 "\n", o.seed);
	for (int s = o.scheme_first; s <= o.scheme_last; s++) {
		for (int g = o.stage_first; g <= o.stage_last; g++) {
			struct churn_opts co = {
				.duration = o.duration / nconf,
				.threads = o.threads,
				.scheme = s,
				.stage = g,
				.seed = o.seed + (uint64_t)(2 * s + g),
			};
			struct churn_result r;
			int err = churn_run(&co, &r);

			if (err) {
				fprintf(stderr, "stress_churn: setup: %d\n",
					err);
				return 2;
			}
			churn_print(stdout, &co, &r);
			fflush(stdout);
			failed |= r.violations != 0;
		}
	}
	printf("stress_churn: %s\n", failed ? "FAILED" : "ok");
	return failed ? 1 : 0;
}
