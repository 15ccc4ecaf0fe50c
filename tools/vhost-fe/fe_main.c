// SPDX-License-Identifier: MIT
/*
 * tools/vhost-fe/fe_main.c - gpc-vhost-fe's command line.
 *
 * Exit status: 0 on success (no mismatch, no stale write, no I/O error,
 * every conformance case passed or not supported), 1 on failure, 2 on a
 * usage error, 77 when the asked feature is not offered (--iotlb against
 * a back-end without ACCESS_PLATFORM), so a test can skip.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fe.h"

#ifndef GPC_VERSION_STRING
#define GPC_VERSION_STRING "unknown"
#endif

static void usage(FILE *f)
{
	fprintf(f,
		"usage: gpc-vhost-fe --socket PATH [options]\n"
		"  --duration SEC       I/O time (default 2)\n"
		"  --queues N           queues driven (default 1)\n"
		"  --qdepth N           requests in flight per queue (32)\n"
		"  --ring N             ring size, power of two (256)\n"
		"  --blocks N           4 KiB blocks of the disk used (4096)\n"
		"  --mem-mb N           size of guest region 0 (64)\n"
		"  --read-pct P         share of reads (50)\n"
		"  --table              memory by SET_MEM_TABLE only\n"
		"  --no-event-idx       do not negotiate EVENT_IDX\n"
		"  --indirect           negotiate INDIRECT_DESC and use it\n"
		"  --churn-mem MS       ADD/REM of an extra region every MS\n"
		"  --churn-live         buffers in the churned region\n"
		"  --churn-inflight     REM_MEM_REG right after a burst of\n"
		"                       requests into the region (implies\n"
		"                       --churn-live; qdepth 128 advised)\n"
		"  --expect-inflight-rem N  fail unless >= N requests were in\n"
		"                       flight there at REM times, summed\n"
		"  --quiesce            drain all queues before memory changes\n"
		"  --churn-ring MS      move a ring every MS\n"
		"  --churn-reconnect MS reconnect every MS\n"
		"  --iotlb              ACCESS_PLATFORM + IOTLB (exit 77 if not "
		"offered)\n"
		"  --churn-iotlb        --churn-mem invalidates and remaps the\n"
		"                       region's IOVAs (implies --iotlb)\n"
		"  --expect-zero        unwritten blocks must read as zeroes\n"
		"  --conformance        run the protocol conformance cases\n"
		"  --known-accepts L    conformance cases (comma list) the\n"
		"                       back-end is known to ack with 0\n"
		"  --skip-cases L       conformance cases (comma list) not\n"
		"                       sent: they crash that back-end\n"
		"  --bench              QD 1/32/128 runs, one summary each\n"
		"  --control-no-rem     test of the checker: poison the churned\n"
		"                       region without REM (must fail)\n"
		"  --backend-pid PID    also report the back-end's CPU per "
		"request\n"
		"  --timeout MS         bound of every wait (5000)\n"
		"  --seed N             random seed (1)\n"
		"  --verbose, --help, --version\n");
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "duration", required_argument, NULL, 'd' },
		{ "queues", required_argument, NULL, 'q' },
		{ "qdepth", required_argument, NULL, 'Q' },
		{ "ring", required_argument, NULL, 'n' },
		{ "blocks", required_argument, NULL, 'b' },
		{ "mem-mb", required_argument, NULL, 'm' },
		{ "read-pct", required_argument, NULL, 'r' },
		{ "table", no_argument, NULL, 'T' },
		{ "no-event-idx", no_argument, NULL, 'E' },
		{ "indirect", no_argument, NULL, 'I' },
		{ "churn-mem", required_argument, NULL, 'M' },
		{ "churn-live", no_argument, NULL, 'L' },
		{ "churn-inflight", no_argument, NULL, 'F' },
		{ "expect-inflight-rem", required_argument, NULL, 'N' },
		{ "quiesce", no_argument, NULL, 'U' },
		{ "backend-pid", required_argument, NULL, 'P' },
		{ "control-no-rem", no_argument, NULL, 'X' },
		{ "churn-iotlb", no_argument, NULL, 'Y' },
		{ "churn-ring", required_argument, NULL, 'R' },
		{ "churn-reconnect", required_argument, NULL, 'C' },
		{ "iotlb", no_argument, NULL, 'i' },
		{ "expect-zero", no_argument, NULL, 'z' },
		{ "conformance", no_argument, NULL, 'c' },
		{ "bench", no_argument, NULL, 'B' },
		{ "known-accepts", required_argument, NULL, 'K' },
		{ "skip-cases", required_argument, NULL, 'k' },
		{ "timeout", required_argument, NULL, 't' },
		{ "seed", required_argument, NULL, 'S' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct fe_opts o = { .duration = 2,
			     .queues = 1,
			     .qdepth = 32,
			     .ring_num = 256,
			     .blocks = 4096,
			     .mem_mb = 64,
			     .read_pct = 50,
			     .timeout_ms = 5000,
			     .seed = 1 };
	struct fe_stats st = { 0 };
	int c, rc;

	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 's':
			o.socket = optarg;
			break;
		case 'd':
			o.duration = atof(optarg);
			break;
		case 'q':
			o.queues = (unsigned int)atoi(optarg);
			break;
		case 'Q':
			o.qdepth = (unsigned int)atoi(optarg);
			break;
		case 'n':
			o.ring_num = (unsigned int)atoi(optarg);
			break;
		case 'b':
			o.blocks = strtoull(optarg, NULL, 0);
			break;
		case 'm':
			o.mem_mb = strtoull(optarg, NULL, 0);
			break;
		case 'r':
			o.read_pct = atoi(optarg);
			break;
		case 'T':
			o.table_form = true;
			break;
		case 'E':
			o.no_event_idx = true;
			break;
		case 'I':
			o.indirect = true;
			break;
		case 'M':
			o.churn_mem_ms = (unsigned int)atoi(optarg);
			break;
		case 'L':
			o.churn_live = true;
			break;
		case 'F':
			o.churn_inflight = o.churn_live = true;
			break;
		case 'N':
			o.expect_inflight_rem = strtoull(optarg, NULL, 0);
			break;
		case 'Y':
			o.churn_iotlb = o.iotlb = true;
			break;
		case 'X':
			o.control_no_rem = o.churn_live = true;
			break;
		case 'P':
			o.backend_pid = atoi(optarg);
			break;
		case 'U':
			o.quiesce = true;
			break;
		case 'R':
			o.churn_ring_ms = (unsigned int)atoi(optarg);
			break;
		case 'C':
			o.churn_reconnect_ms = (unsigned int)atoi(optarg);
			break;
		case 'i':
			o.iotlb = true;
			break;
		case 'z':
			o.expect_zero = true;
			break;
		case 'c':
			o.conformance = true;
			break;
		case 'B':
			o.bench = true;
			break;
		case 'K':
			o.known_accepts = optarg;
			break;
		case 'k':
			o.skip_cases = optarg;
			break;
		case 't':
			o.timeout_ms = atoi(optarg);
			break;
		case 'S':
			o.seed = strtoull(optarg, NULL, 0);
			break;
		case 'v':
			o.verbose = fe_verbose = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("gpc-vhost-fe libgpc %s\n", GPC_VERSION_STRING);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!o.socket || o.queues < 1 || o.queues > FE_MAX_QUEUES ||
	    o.qdepth < 1 || o.ring_num < 2 || o.ring_num > 32768 ||
	    (o.ring_num & (o.ring_num - 1)) || o.blocks < 1 || o.mem_mb < 4 ||
	    o.timeout_ms < 1 || o.duration < 0) {
		usage(stderr);
		return 2;
	}
	/* Enough descriptors for every request in flight (3 each). */
	if (!o.bench && o.qdepth * 3 > o.ring_num) {
		fprintf(stderr, "fe: --ring %u too small for --qdepth %u\n",
			o.ring_num, o.qdepth);
		return 2;
	}
	if (o.conformance)
		return fe_run_conformance(&o);
	if (o.bench)
		return fe_run_bench(&o);
	rc = fe_run_io(&o, &st);
	free(st.lat_ns);
	free(st.rem_ns);
	free(st.rem_live_ns);
	return rc;
}
