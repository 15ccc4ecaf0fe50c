// SPDX-License-Identifier: MIT
/*
 * gpcvm - the reference VMM of libgpc.
 *
 * Runs a small guest (guest/) on KVM, or on threads where KVM is missing,
 * with Xen-style event delivery and runstate areas kept in guest memory
 * through libgpc caches while the memory under them churns; then reports
 * what happened and exits non-zero on any violation. docs/gpcvm.md has the
 * protocol, the scenarios and the checks.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vmm.h"

#define EXIT_VIOLATION	 1
#define EXIT_USAGE	 2
#define EXIT_SKIP	 77
#define START_TIMEOUT_NS 10000000000ull
#define DONE_TIMEOUT_NS	 15000000000ull

static struct vmm vmm;

/* --bench */
static bool bench, bench_quick, duration_set;
static const char *csv_dir;

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: gpcvm [options]\n"
		"\n"
		"The reference VMM of libgpc: runs a guest with Xen-style event channels\n"
		"and runstate areas kept through libgpc caches while the memory under them\n"
		"churns, checks that no event is lost and no write lands on memory after its\n"
		"invalidation returned, prints a report and exits 1 on any violation.\n"
		"\n"
		"Options:\n"
		"  -d, --duration SECONDS  how long to run the churn (default 10)\n"
		"  -n, --vcpus N           number of vCPUs, 1-%d (default 2)\n"
		"  -s, --scheme NAME       read-side scheme of the caches: srcu (default)\n"
		"                          or rwlock\n"
		"  -c, --scenario LIST     comma-separated churn scenarios (default all):\n"
		"                            shinfo    the guest moves its shared-info page\n"
		"                            remap     the VMM remaps the pages under the\n"
		"                                      runstate areas (blocking invalidation)\n"
		"                            hotplug   the VMM unplugs and replugs a RAM slot\n"
		"                                      the guest is not using\n"
		"                            reclaim   a reclaim thread discards idle pages\n"
		"                                      (non-blocking invalidation, -EAGAIN)\n"
		"                            badinput  the guest makes bad registrations and\n"
		"                                      checks the error codes\n"
		"                            all, none\n"
		"  -r, --seed N            seed of every random choice (default: time)\n"
		"  -b, --backend NAME      kvm, sim or auto (default): auto uses KVM if\n"
		"                          /dev/kvm works and falls back to sim, where threads\n"
		"                          play the guest on the same memory layout; an\n"
		"                          explicit kvm without KVM exits 77\n"
		"      --move-period US    how often the guest moves shared info (default\n"
		"                          20000 us)\n"
		"  -q, --quiet             no live status line\n"
		"      --status            live status line even if stderr is no terminal\n"
		"  -v, --verbose           log guest console output and VMM steps\n"
		"      --bench             benchmark (suite 6 of bench/bench): a normal\n"
		"                          run with srcu, then one with rwlock, for ~10 s\n"
		"                          each (or -d), then a table of events/s and\n"
		"                          sender-side delivery latency p50/p99 and\n"
		"                          \"ratio\" lines; exit status as above\n"
		"      --quick             with --bench: ~2 s per scheme\n"
		"      --csv-dir DIR       with --bench: write DIR/e2e.csv\n"
		"  -h, --help              this text\n"
		"      --version           print \"gpcvm libgpc X.Y.Z\" and exit\n"
		"\n"
		"Exit status: 0 no violation, 1 violations, 2 bad usage or setup failure,\n"
		"77 --backend kvm where KVM is not available.\n",
		GPCVM_MAX_VCPUS);
}

static int parse_scenarios(const char *arg, unsigned int *out)
{
	static const struct {
		const char *name;
		unsigned int bits;
	} names[] = {
		{ "shinfo", GPCVM_SC_SHINFO },
		{ "remap", GPCVM_SC_REMAP },
		{ "hotplug", GPCVM_SC_HOTPLUG },
		{ "reclaim", GPCVM_SC_RECLAIM },
		{ "badinput", GPCVM_SC_BADINPUT },
		{ "all", GPCVM_SC_ALL },
		{ "none", 0 },
	};
	char *dup = strdup(arg), *save = NULL, *tok;
	unsigned int sc = 0;
	int err = 0;

	if (!dup)
		return -ENOMEM;
	for (tok = strtok_r(dup, ",", &save); tok && !err;
	     tok = strtok_r(NULL, ",", &save)) {
		unsigned int i;

		for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			if (!strcmp(tok, names[i].name))
				break;
		if (i == sizeof(names) / sizeof(names[0])) {
			fprintf(stderr, "gpcvm: unknown scenario '%s'\n", tok);
			err = -EINVAL;
		} else {
			sc |= names[i].bits;
		}
	}
	free(dup);
	*out = sc;
	return err;
}

static int parse_args(int argc, char **argv, struct vmm_opts *o)
{
	static const struct option lo[] = {
		{ "duration", required_argument, NULL, 'd' },
		{ "vcpus", required_argument, NULL, 'n' },
		{ "scheme", required_argument, NULL, 's' },
		{ "scenario", required_argument, NULL, 'c' },
		{ "seed", required_argument, NULL, 'r' },
		{ "backend", required_argument, NULL, 'b' },
		{ "move-period", required_argument, NULL, 'm' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "status", no_argument, NULL, 'S' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "bench", no_argument, NULL, 'B' },
		{ "quick", no_argument, NULL, 'Q' },
		{ "csv-dir", required_argument, NULL, 'C' },
		{ NULL, 0, NULL, 0 },
	};
	char *end;
	int c;

	o->duration = 10;
	o->vcpus = 2;
	o->scheme = GPC_SCHEME_SRCU;
	o->scenarios = GPCVM_SC_ALL;
	o->seed = (uint64_t)time(NULL);
	o->backend = VMM_BACKEND_AUTO;
	o->status = isatty(STDERR_FILENO);
	o->shinfo_period_us = 20000;
	while ((c = getopt_long(argc, argv, "d:n:s:c:r:b:qvh", lo, NULL)) !=
	       -1) {
		switch (c) {
		case 'd':
			o->duration = strtod(optarg, &end);
			if (*end || o->duration <= 0 || o->duration > 86400)
				goto bad;
			duration_set = true;
			break;
		case 'B':
			bench = true;
			break;
		case 'Q':
			bench_quick = true;
			break;
		case 'C':
			csv_dir = optarg;
			break;
		case 'n':
			o->vcpus = (unsigned int)strtoul(optarg, &end, 0);
			if (*end || !o->vcpus || o->vcpus > GPCVM_MAX_VCPUS)
				goto bad;
			break;
		case 's':
			if (!strcmp(optarg, "srcu"))
				o->scheme = GPC_SCHEME_SRCU;
			else if (!strcmp(optarg, "rwlock"))
				o->scheme = GPC_SCHEME_RWLOCK;
			else
				goto bad;
			break;
		case 'c':
			if (parse_scenarios(optarg, &o->scenarios))
				return -EINVAL;
			break;
		case 'r':
			o->seed = strtoull(optarg, &end, 0);
			if (*end)
				goto bad;
			break;
		case 'b':
			if (!strcmp(optarg, "kvm"))
				o->backend = VMM_BACKEND_KVM;
			else if (!strcmp(optarg, "sim"))
				o->backend = VMM_BACKEND_SIM;
			else if (!strcmp(optarg, "auto"))
				o->backend = VMM_BACKEND_AUTO;
			else
				goto bad;
			break;
		case 'm':
			o->shinfo_period_us =
				(unsigned int)strtoul(optarg, &end, 0);
			if (*end || !o->shinfo_period_us)
				goto bad;
			break;
		case 'q':
			o->status = false;
			break;
		case 'S':
			o->status = true;
			break;
		case 'v':
			o->verbose = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -EINVAL;
		}
	}
	if ((bench_quick || csv_dir) && !bench) {
		fprintf(stderr,
			"gpcvm: --quick and --csv-dir go with --bench\n");
		return -EINVAL;
	}
	if (bench && !duration_set)
		o->duration = bench_quick ? 2 : 10;
	if (optind < argc) {
		fprintf(stderr, "gpcvm: unexpected argument '%s'\n",
			argv[optind]);
		return -EINVAL;
	}
	return 0;
bad:
	fprintf(stderr, "gpcvm: bad value '%s' for -%c\n", optarg, c);
	return -EINVAL;
}

/* The guest's clock: boot->now_us, every millisecond. */
static void *clock_thread(void *arg)
{
	struct vmm *m = arg;

	while (!atomic_load(&m->clock_stop)) {
		__atomic_store_n(&m->boot->now_us,
				 (vmm_now_ns() - m->t_start) / 1000,
				 __ATOMIC_RELEASE);
		vmm_sleep_us(1000);
	}
	return NULL;
}

/* Set up the vm, the memory and the vCPUs on backend @be. */
static int setup(struct vmm *m, const struct vmm_backend_ops *be)
{
	int err;

	m->be = be;
	err = vmm_setup(m);
	if (err)
		return err;
	err = m->be->create_vcpus(m);
	if (err)
		return err;
	return vmm_setup_caches(m);
}

static int choose_backend(struct vmm *m)
{
	char why[256];
	int err;

	if (m->opt.backend == VMM_BACKEND_SIM) {
		snprintf(m->backend_why, sizeof(m->backend_why), "as asked");
		return setup(m, &vmm_backend_sim);
	}
	err = gpc_kvm_probe(NULL, why, sizeof(why));
	if (!err) {
		err = setup(m, &vmm_backend_kvm);
		if (!err)
			return 0;
		struct vmm_opts opt = m->opt;

		snprintf(why, sizeof(why), "%s", m->backend_why);
		vmm_teardown(m);
		/* Start over: nothing of the KVM attempt counts. */
		memset(m, 0, sizeof(*m));
		m->opt = opt;
	}
	if (m->opt.backend == VMM_BACKEND_KVM) {
		fprintf(stderr, "gpcvm: KVM is not available: %s\n", why);
		return EXIT_SKIP;
	}
	snprintf(m->backend_why, sizeof(m->backend_why),
		 "KVM unavailable: %.200s", why);
	return setup(m, &vmm_backend_sim);
}

static int start_vcpus(struct vmm *m)
{
	for (unsigned int i = 0; i < m->opt.vcpus; i++) {
		int err = pthread_create(&m->vcpus[i].thread, NULL,
					 m->be->vcpu_thread, &m->vcpus[i]);

		if (err)
			return -err;
		m->vcpus[i].started = true;
	}
	return 0;
}

static bool wait_until(uint64_t deadline, bool (*cond)(struct vmm *m),
		       struct vmm *m)
{
	while (!cond(m)) {
		if (vmm_now_ns() > deadline || atomic_load(&m->abort))
			return cond(m);
		vmm_sleep_us(1000);
	}
	return true;
}

static bool guest_up(struct vmm *m)
{
	return atomic_load(&m->shinfo_gpa) != 0;
}

static bool all_done(struct vmm *m)
{
	for (unsigned int i = 0; i < m->opt.vcpus; i++)
		if (!atomic_load(&m->vcpus[i].done))
			return false;
	return true;
}

static void run(struct vmm *m)
{
	uint64_t next_status = vmm_now_ns() + 250000000ull;
	double t;

	for (;;) {
		t = (double)(vmm_now_ns() - m->t_start) / 1e9;
		if (t >= m->opt.duration || atomic_load(&m->abort))
			break;
		if (m->opt.status && vmm_now_ns() >= next_status) {
			vmm_status_line(m, t);
			next_status = vmm_now_ns() + 250000000ull;
		}
		vmm_sleep_us(5000);
	}
	if (m->opt.status)
		vmm_status_clear(m);
}

static void stop(struct vmm *m)
{
	vmm_churn_stop(m);
	__atomic_store_n(&m->boot->stop_churn, 1, __ATOMIC_RELEASE);
	vmm_events_stop(m);
	/* Every event is in the page: the guest may drain and count. */
	__atomic_store_n(&m->boot->stop, 1, __ATOMIC_SEQ_CST);
	for (unsigned int i = 0; i < m->opt.vcpus; i++)
		vmm_notify_vcpu(m, i);
	if (!wait_until(vmm_now_ns() + DONE_TIMEOUT_NS, all_done, m)) {
		for (unsigned int i = 0; i < m->opt.vcpus; i++)
			if (!atomic_load(&m->vcpus[i].done))
				vmm_violation(m, V_HANG,
					      "vCPU %u did not finish", i);
		atomic_store(&m->abort, 1);
		vmm_futex_wake(&m->pause_req);
	}
	for (unsigned int i = 0; i < m->opt.vcpus; i++) {
		struct vmm_vcpu *v = &m->vcpus[i];

		if (!v->started)
			continue;
		while (pthread_tryjoin_np(v->thread, NULL)) {
			/* Out of KVM_RUN, or out of a relax loop. */
			gpc_vcpu_request(v->gv, VMM_REQ_PAUSE);
			vmm_sleep_us(1000);
		}
		if (!v->final_report)
			vmm_violation(m, V_HANG, "no final report from vCPU %u",
				      i);
	}
	m->t_end = vmm_now_ns();
	atomic_store(&m->clock_stop, 1);
	pthread_join(m->clock, NULL);
}

/*
 * One run from setup to report, as asked in m->opt; the exit status. With
 * @row (--bench), what the table needs is kept before the teardown.
 */
static int run_vmm(struct vmm *m, struct vmm_bench_row *row)
{
	int err, bad;

	err = choose_backend(m);
	if (err == EXIT_SKIP)
		return EXIT_SKIP;
	if (err) {
		fprintf(stderr, "gpcvm: setup failed: %s\n", strerror(-err));
		return EXIT_USAGE;
	}
	m->t_start = vmm_now_ns();
	if ((err = pthread_create(&m->clock, NULL, clock_thread, m)) ||
	    (err = -start_vcpus(m))) {
		fprintf(stderr, "gpcvm: cannot start threads: %s\n",
			strerror(err));
		return EXIT_USAGE;
	}
	if (!wait_until(vmm_now_ns() + START_TIMEOUT_NS, guest_up, m)) {
		vmm_violation(m, V_HANG,
			      "the guest did not place its "
			      "shared-info page");
		atomic_store(&m->abort, 1);
	}
	if (!atomic_load(&m->abort)) {
		err = vmm_events_start(m);
		if (err || (err = vmm_churn_start(m))) {
			fprintf(stderr, "gpcvm: cannot start: %s\n",
				strerror(-err));
			atomic_store(&m->abort, 1);
		}
	}
	run(m);
	stop(m);
	vmm_churn_final_check(m);
	vmm_events_check_sequences(m);
	bad = vmm_report(m);
	if (row)
		vmm_bench_row(m, row);
	vmm_teardown(m);
	return bad ? EXIT_VIOLATION : 0;
}

/* --bench: the normal run with each scheme in turn, then the table. */
static int run_bench(struct vmm *m)
{
	static const enum gpc_scheme schemes[] = { GPC_SCHEME_SRCU,
						   GPC_SCHEME_RWLOCK };
	struct vmm_bench_row rows[2];
	struct vmm_opts opt = m->opt;
	int rc = 0;

	for (unsigned int i = 0; i < 2; i++) {
		int r;

		memset(m, 0, sizeof(*m));
		m->opt = opt;
		m->opt.scheme = schemes[i];
		r = run_vmm(m, &rows[i]);
		if (r == EXIT_SKIP || r == EXIT_USAGE)
			return r;
		if (r)
			rc = r;
	}
	if (vmm_bench_report(rows, 2, csv_dir, bench_quick))
		return EXIT_USAGE;
	return rc;
}

int main(int argc, char **argv)
{
	struct vmm *m = &vmm;

	setvbuf(stdout, NULL, _IOLBF, 0);
	/* Before parse_args: it needs nothing else and must not fail. */
	if (argc == 2 && !strcmp(argv[1], "--version")) {
		printf("gpcvm libgpc %s\n", gpc_version());
		return 0;
	}
	if (parse_args(argc, argv, &m->opt))
		return EXIT_USAGE;
	return bench ? run_bench(m) : run_vmm(m, NULL);
}
