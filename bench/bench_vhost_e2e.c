/* SPDX-License-Identifier: MIT */
/*
 * bench/bench_vhost_e2e.c - suite 7's end-to-end row (issue 14,
 * "Benchmark"): the same guest workload on our back-end and on
 * qemu-storage-daemon, in one run.
 *
 * Each row boots a Linux guest under QEMU (TCG) whose vhost-user-blk disk is
 * served by one back-end: gpc-vhost-blk, or qemu-storage-daemon with
 * aio=io_uring as the other rows of suite 7. tests/qemu/e2e.py does one boot
 * (guest_blkio --timing: several streams of O_DIRECT 4 KiB writes, an
 * overwrite of half the blocks, a flush, verifying reads; the guest times
 * each request on its own clock) and checks the data as the smoke test does
 * (guest verdict, CRC-32 of the backing file, every block's header): a row
 * that passes on corrupt data would be worthless. Same disk size and seed
 * for both back-ends; the guest's clock gives MB/s and p50/p99, /proc gives
 * the CPU of the back-end and of QEMU's threads over the timed window.
 *
 * Under TCG the guest's instructions are emulated, so the guest and QEMU's
 * vCPU thread bound the row, not the back-end: the ratio e2e_vhost_vs_qsd
 * (our MB/s over qsd's) has no target, and the "where the time goes" line
 * splits each request's wall time into QEMU's vCPU thread (guest + TCG),
 * QEMU's other threads (main loop: the back-end's call eventfds become
 * interrupts there without KVM's irqfd) and the back-end.
 *
 * The guest kernel comes from the QEMU tests' cache: it is not downloaded
 * here (e2e.py exits 77 without it, and the row is skipped with its reason,
 * as when QEMU, Python or the guest program is missing).
 */
#include "bench_vhost_e2e.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum e2e_backend { E2E_OURS, E2E_QSD, E2E_NR };
static const char *const e2e_name[E2E_NR] = { "gpc-vhost-blk", "qsd" };

#define MAX_ROUNDS 3

enum e2e_status { E2E_OK, E2E_SKIP, E2E_FAIL };

/* What one e2e.py run printed on its "e2e: PASS" line (key=value). */
struct e2e_result {
	enum e2e_status status;
	double mb_s, iops, p50_us, p99_us, be_us, qemu_us, vcpu_pct, other_pct,
		be_pct, window_s, reqs, irqs_per_req;
	char why[600];
};

static double e2e_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double e2e_field(const char *line, const char *key)
{
	char pat[64];
	const char *p;

	snprintf(pat, sizeof(pat), " %s=", key);
	p = strstr(line, pat);
	return p ? strtod(p + strlen(pat), NULL) : -1;
}

static void e2e_parse(const char *line, struct e2e_result *r)
{
	r->mb_s = e2e_field(line, "mb_s");
	r->iops = e2e_field(line, "iops");
	r->p50_us = e2e_field(line, "p50_us");
	r->p99_us = e2e_field(line, "p99_us");
	r->be_us = e2e_field(line, "be_cpu_us_per_req");
	r->qemu_us = e2e_field(line, "qemu_cpu_us_per_req");
	r->vcpu_pct = e2e_field(line, "qemu_vcpu_pct");
	r->other_pct = e2e_field(line, "qemu_other_pct");
	r->be_pct = e2e_field(line, "be_cpu_pct");
	r->window_s = e2e_field(line, "window_s");
	r->reqs = e2e_field(line, "reqs");
	r->irqs_per_req = e2e_field(line, "irqs_per_req");
	if (r->mb_s > 0 && r->reqs > 0 && r->window_s > 0) {
		r->status = E2E_OK;
	} else {
		r->status = E2E_FAIL;
		snprintf(r->why, sizeof(r->why), "unparsable: %.150s", line);
	}
}

/* The back-end command template of e2e.py's --backend (gpcqemu.Backend). */
static void e2e_template(const struct e2e_conf *c, enum e2e_backend b, char *t,
			 size_t n)
{
	if (b == E2E_OURS)
		snprintf(t, n,
			 "%s --socket {socket} --file {file} --queues "
			 "{queues}",
			 c->blk);
	else
		snprintf(t, n,
			 "%s --blockdev driver=file,node-name=file0,"
			 "filename={file},aio=io_uring --export "
			 "type=vhost-user-blk,id=exp0,addr.type=unix,"
			 "addr.path={socket},node-name=file0,"
			 "writable={writable},num-queues={queues}",
			 c->qsd);
}

/*
 * One boot on back-end @b: e2e.py with the guest's own bound (@timeout s of
 * boot + workload); its stdout is read through a pipe with 60 s more of
 * deadline, after which it is killed (its children die with it:
 * PR_SET_PDEATHSIG). Its stderr (the console and logs of a failed run) goes
 * to <work>/<name>.stderr.
 */
static void e2e_run(const struct e2e_conf *c, enum e2e_backend b,
		    unsigned int round, unsigned long long seed,
		    unsigned int disk_mib, unsigned int timeout,
		    struct e2e_result *r)
{
	char name[64], work[512], disk[512], errlog[512], tmpl[1024];
	char seeds[32], mibs[16], tos[16], buf[4096], line[4096] = "";
	size_t used = 0;
	int p[2], status;
	double end;
	pid_t pid;

	memset(r, 0, sizeof(*r));
	r->status = E2E_FAIL;
	snprintf(name, sizeof(name), "e2e-%s-%u", e2e_name[b], round);
	snprintf(work, sizeof(work), "%s/%s", c->work, name);
	snprintf(disk, sizeof(disk), "%s/%s.img", c->disk_dir, name);
	snprintf(errlog, sizeof(errlog), "%s/%s.stderr", c->work, name);
	snprintf(seeds, sizeof(seeds), "0x%llx", seed);
	snprintf(mibs, sizeof(mibs), "%u", disk_mib);
	snprintf(tos, sizeof(tos), "%u", timeout);
	e2e_template(c, b, tmpl, sizeof(tmpl));
	if (pipe2(p, O_CLOEXEC)) {
		snprintf(r->why, sizeof(r->why), "pipe: %s", strerror(errno));
		return;
	}
	pid = fork();
	if (pid < 0) {
		snprintf(r->why, sizeof(r->why), "fork: %s", strerror(errno));
		close(p[0]);
		close(p[1]);
		return;
	}
	if (!pid) {
		int err = open(errlog, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		/* Killed with us (bench's watchdog), QEMU and the back-end too. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(p[1], 1);
		if (err >= 0)
			dup2(err, 2);
		execl(c->python, c->python, c->script, "--name", name,
		      "--backend", tmpl, "--work", work, "--disk", disk,
		      "--cache", c->cache, "--guest-bin", c->guest_bin,
		      "--disk-mib", mibs, "--seed", seeds, "--timeout", tos,
		      (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	end = e2e_now() + timeout + 60;
	for (;;) {
		struct pollfd pfd = { .fd = p[0], .events = POLLIN };
		int left = (int)((end - e2e_now()) * 1000);
		ssize_t n;

		if (left <= 0 || poll(&pfd, 1, left) <= 0) {
			kill(pid, SIGKILL);
			snprintf(r->why, sizeof(r->why),
				 "e2e.py timed out (killed)");
			break;
		}
		n = read(p[0], buf + used, sizeof(buf) - 1 - used);
		if (n <= 0)
			break;
		used += (size_t)n;
		buf[used] = 0;
		/* Keep the result line (e2e:, SKIP: or FAIL:), drop the log. */
		for (char *nl; (nl = strchr(buf, '\n'));) {
			*nl = 0;
			if (!strncmp(buf, "e2e: ", 5) ||
			    !strncmp(buf, "SKIP: ", 6) ||
			    !strncmp(buf, "FAIL: ", 6))
				snprintf(line, sizeof(line), "%s", buf);
			used -= (size_t)(nl + 1 - buf);
			memmove(buf, nl + 1, used + 1);
		}
		if (used == sizeof(buf) - 1)
			used = 0; /* a log line that long is not the result */
	}
	close(p[0]);
	waitpid(pid, &status, 0);
	unlink(disk); /* e2e.py's own cleanup may have been killed */
	if (r->why[0])
		return;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 77) {
		r->status = E2E_SKIP;
		snprintf(r->why, sizeof(r->why), "%.300s",
			 !strncmp(line, "SKIP: ", 6) ? line + 6 :
						       "e2e.py exit status 77");
		return;
	}
	if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0) ||
	    strncmp(line, "e2e: PASS ", 10)) {
		snprintf(r->why, sizeof(r->why), "%.150s (exit %d; see %.300s)",
			 line[0] ? line : "no result line",
			 WIFEXITED(status) ? WEXITSTATUS(status) : -1, errlog);
		return;
	}
	e2e_parse(line, r);
}

static void e2e_print(FILE *csv, enum e2e_backend b, unsigned int round,
		      const struct e2e_result *r)
{
	if (r->status != E2E_OK) {
		printf("%-14s %5u  %s: %s\n", e2e_name[b], round,
		       r->status == E2E_SKIP ? "skipped" : "FAILED", r->why);
		fflush(stdout);
		return;
	}
	printf("%-14s %5u %8.2f %7.0f %8.0f %8.0f %9.1f %9.1f %6.1f %6.1f "
	       "%6.1f\n",
	       e2e_name[b], round, r->mb_s, r->iops, r->p50_us, r->p99_us,
	       r->be_us, r->qemu_us, r->vcpu_pct, r->other_pct, r->be_pct);
	if (csv)
		fprintf(csv,
			"%s,%u,%.2f,%.0f,%.0f,%.0f,%.2f,%.2f,%.1f,%.1f,"
			"%.1f,%.0f,%.3f\n",
			e2e_name[b], round, r->mb_s, r->iops, r->p50_us,
			r->p99_us, r->be_us, r->qemu_us, r->vcpu_pct,
			r->other_pct, r->be_pct, r->reqs, r->window_s);
	fflush(stdout);
}

/*
 * Where a request's wall time goes on back-end @b: the window's wall time
 * per request, and the CPU of each party per request. "rest" is what no
 * party's CPU accounts for: positive, everyone waited (for a wakeup, or
 * for a CPU on a busy machine); negative, parties ran in parallel (two
 * cores, up to 4 requests in flight).
 */
static void e2e_where(enum e2e_backend b, const struct e2e_result *r)
{
	double wall = r->window_s * 1e6 / r->reqs;

	printf("  %s: wall %.1f us/req = QEMU vCPU (guest + TCG) %.1f + "
	       "QEMU other threads %.1f + back-end %.1f + rest %.1f "
	       "(CPU us per request); %.2f guest interrupts per request\n",
	       e2e_name[b], wall, wall * r->vcpu_pct / 100,
	       wall * r->other_pct / 100, r->be_us,
	       wall - wall * (r->vcpu_pct + r->other_pct) / 100 - r->be_us,
	       r->irqs_per_req);
}

static int e2e_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The index in @r[0..n) of the round whose MB/s is the median. */
static unsigned int e2e_median(const struct e2e_result *r, unsigned int n)
{
	double v[MAX_ROUNDS];

	for (unsigned int i = 0; i < n; i++)
		v[i] = r[i].mb_s;
	qsort(v, n, sizeof(*v), e2e_cmp);
	for (unsigned int i = 0; i < n; i++)
		if (r[i].mb_s == v[(n - 1) / 2])
			return i;
	return 0;
}

static bool e2e_exec(const char *path)
{
	return path && access(path, X_OK) == 0;
}

int e2e_rows(const struct e2e_conf *c)
{
	struct e2e_result res[E2E_NR][MAX_ROUNDS];
	unsigned int rounds = c->quick ? 1 : MAX_ROUNDS;
	unsigned int disk_mib = c->quick ? 32 : 64;
	unsigned int timeout = c->quick ? 60 : 120;
	unsigned long long seed;
	const char *skip = NULL;
	bool failed = false, ok[E2E_NR] = { true, c->qsd != NULL };
	unsigned int med[E2E_NR] = { 0, 0 };
	int nb = c->qsd ? E2E_NR : 1;
	FILE *csv = NULL;
	struct stat st;

	/* One seed for every row: the same blocks, in the same order. */
	seed = ((unsigned long long)time(NULL) * 0x9e3779b97f4a7c15ULL) >> 8;
	printf("end to end: a Linux guest under QEMU (TCG) on each back-end, "
	       "guest_blkio --timing: 4 streams of O_DIRECT 4 KiB writes, "
	       "overwrites, flush, verifying reads on a %u MiB disk, seed "
	       "%llx, data checked on the host; latency = the guest's clock "
	       "around each pread/pwrite; CPU from /proc over the timed "
	       "window (%u boot%s per back-end)\n",
	       disk_mib, seed, rounds, rounds > 1 ? "s, alternating" : "");
	if (!e2e_exec(c->python))
		skip = "Python 3 not found";
	else if (stat(c->script, &st))
		skip = "tests/qemu/e2e.py not found";
	else if (!e2e_exec(c->guest_bin))
		skip = "the guest program gpc-guest-blkio is not built "
		       "(GPC_BUILD_TESTS=ON)";
	if (!skip && mkdir(c->work, 0755) && errno != EEXIST)
		skip = "cannot create the e2e work folder";
	if (skip) {
		printf("e2e: skipped: %s\n", skip);
		printf("ratio e2e_vhost_vs_qsd skipped (%s)\n", skip);
		return 0;
	}
	if (c->csv_dir) {
		char path[512];

		snprintf(path, sizeof(path), "%s/vhost_e2e.csv", c->csv_dir);
		csv = fopen(path, "w");
		if (csv)
			fprintf(csv, "backend,round,mb_s,iops,p50_us,p99_us,"
				     "be_cpu_us_per_req,qemu_cpu_us_per_req,"
				     "qemu_vcpu_pct,qemu_other_pct,be_cpu_pct,"
				     "reqs,window_s\n");
	}
	printf("%-14s %5s %8s %7s %8s %8s %9s %9s %6s %6s %6s\n", "back-end",
	       "round", "MB/s", "IOPS", "p50 us", "p99 us", "be us/rq",
	       "qemu us/rq", "vcpu%", "qemu%", "be%");
	for (unsigned int i = 0; i < rounds && !skip; i++)
		for (int b = 0; b < nb && !skip; b++) {
			struct e2e_result *r = &res[b][i];

			e2e_run(c, b, i + 1, seed, disk_mib, timeout, r);
			e2e_print(csv, b, i + 1, r);
			if (r->status == E2E_SKIP)
				skip = r->why;
			else if (r->status == E2E_FAIL)
				ok[b] = false, failed |= b == E2E_OURS;
		}
	if (csv)
		fclose(csv);
	if (skip) {
		printf("ratio e2e_vhost_vs_qsd skipped (%s)\n", skip);
		return failed ? -1 : 0;
	}
	printf("where the time goes (%s):\n",
	       rounds > 1 ? "the median round" : "one round");
	for (int b = 0; b < nb; b++)
		if (ok[b]) {
			med[b] = e2e_median(res[b], rounds);
			e2e_where(b, &res[b][med[b]]);
		}
	if (!c->qsd)
		printf("ratio e2e_vhost_vs_qsd skipped (qemu-storage-daemon "
		       "missing)\n");
	else if (ok[E2E_OURS] && ok[E2E_QSD])
		printf("ratio e2e_vhost_vs_qsd %.3f\n",
		       res[E2E_OURS][med[E2E_OURS]].mb_s /
			       res[E2E_QSD][med[E2E_QSD]].mb_s);
	else
		printf("ratio e2e_vhost_vs_qsd skipped (%s row failed)\n",
		       ok[E2E_OURS] ? "qemu-storage-daemon's" : "our");
	fflush(stdout);
	return failed ? -1 : 0;
}
