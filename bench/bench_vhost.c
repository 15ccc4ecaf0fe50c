/* SPDX-License-Identifier: MIT */
/*
 * bench/bench_vhost.c - benchmark suite 7: vhost-user-blk back-ends side by
 * side, ours (tools/vhost-blk, gpc-vhost-blk on libgpc-vhost) and
 * qemu-storage-daemon's vhost-user-blk export (libvhost-user), driven by
 * the same synthetic front-end (tools/vhost-fe, gpc-vhost-fe) on the same
 * tmpfs file, in one run.
 *
 * Rows (each a fresh back-end process, so one row cannot warm the next):
 *   - 4 KiB random reads and writes (50/50) at queue depth 1, 32 and 128,
 *     with 1 and 2 queues: IOPS, p50/p99 latency as the front-end measures
 *     it (submit to used-ring entry), CPU of the back-end per request (the
 *     front-end reads it from /proc/<pid>/stat over its run, --backend-pid,
 *     so its own polling is not counted);
 *   - the same at depth 32, 1 queue, under churn: ADD_MEM_REG/REM_MEM_REG
 *     of a region that no request uses every 2 ms, and the front-end's
 *     REM_MEM_REG reply latency (the queues are busy meanwhile); idle and
 *     churn rows alternate 3 times (once with --quick) and their medians
 *     are compared.
 *   - end to end (bench_vhost_e2e.c): a Linux guest under QEMU/TCG on
 *     each back-end, the same verified workload, MB/s and p50/p99 on the
 *     guest's clock, CPU of the back-end and of QEMU per request; skipped
 *     with its reason without QEMU or a cached guest kernel (--no-e2e
 *     leaves it out).
 * Ratios:
 *   vhost_iops_vs_qsd_1q, vhost_iops_vs_qsd_2q (depth 32; >= 1.0, >= 1.6)
 *   vhost_churn_p99_vs_idle_p99, qsd_churn_p99_vs_idle_p99 (<= 1.5)
 *   vhost_rem_reply_p99_us (<= 1000)
 *   e2e_vhost_vs_qsd (no target: TCG bounds the guest)
 *
 * Rows the peer cannot run are printed as "n/a (why)". The time of each
 * row is bounded: a back-end that does not create its socket within 10 s,
 * or a front-end that runs 30 s past its duration, is killed and the row
 * reported as failed. Exit status 77 when a program is missing (the bench
 * driver reports the suite as skipped), 1 when a row failed, 0 otherwise;
 * never on a target.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_vhost_e2e.h"

#ifndef BENCH_VHOST_FE
#define BENCH_VHOST_FE "gpc-vhost-fe"
#endif
#ifndef BENCH_VHOST_BLK
#define BENCH_VHOST_BLK "gpc-vhost-blk"
#endif
/* The end-to-end row's pieces, from the build (bench/CMakeLists.txt). */
#ifndef BENCH_VHOST_PYTHON
#define BENCH_VHOST_PYTHON "/usr/bin/python3"
#endif
#ifndef BENCH_VHOST_E2E_SCRIPT
#define BENCH_VHOST_E2E_SCRIPT "tests/qemu/e2e.py"
#endif
#ifndef BENCH_VHOST_GUEST_BIN
#define BENCH_VHOST_GUEST_BIN "tests/qemu/gpc-guest-blkio"
#endif
#ifndef BENCH_VHOST_KERNEL_CACHE
#define BENCH_VHOST_KERNEL_CACHE "qemu-guest"
#endif
#ifndef BENCH_VHOST_E2E_WORK
#define BENCH_VHOST_E2E_WORK "e2e-work"
#endif

#define DISK_BYTES (256ull << 20)

static struct {
	bool quick;
	const char *csv_dir;
	const char *fe, *blk, *qsd;
	const char *kernel_cache;
	bool no_e2e;
	unsigned int seconds;
	unsigned int pairs; /* idle/churn rounds, <= MAX_PAIRS */
} opt;

static char workdir[256], disk[300];
static FILE *csv;
static bool failed;

/* What one front-end run reported (its summary line, key=value). */
struct fe_result {
	bool ok;
	double iops, p50_us, p99_us, rem_p99_us, cpu_us_per_req;
	uint64_t requests, mismatches, stale;
	char why[160];
};

enum backend { OURS, QSD, NR_BACKENDS };
static const char *const backend_name[NR_BACKENDS] = { "gpc-vhost-blk", "qsd" };

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static bool exists_exec(const char *path)
{
	return path && access(path, X_OK) == 0;
}

/* Start the back-end @b listening on @sock with @queues queues. */
static pid_t backend_start(enum backend b, const char *sock,
			   unsigned int queues)
{
	char qs[16], bd[512], ex[512];
	pid_t pid;

	snprintf(qs, sizeof(qs), "%u", queues);
	snprintf(bd, sizeof(bd),
		 "driver=file,node-name=file0,filename=%s,aio=io_uring", disk);
	snprintf(ex, sizeof(ex),
		 "type=vhost-user-blk,id=exp0,addr.type=unix,addr.path=%s,"
		 "node-name=file0,writable=on,num-queues=%u",
		 sock, queues);
	unlink(sock);
	pid = fork();
	if (pid)
		return pid;
	/* The back-ends' own output would garble the table. */
	int null = open("/dev/null", O_WRONLY);

	if (null >= 0) {
		dup2(null, 1);
		dup2(null, 2);
	}
	if (b == OURS)
		execl(opt.blk, opt.blk, "--socket", sock, "--file", disk,
		      "--queues", qs, (char *)NULL);
	else
		execl(opt.qsd, opt.qsd, "--blockdev", bd, "--export", ex,
		      (char *)NULL);
	_exit(127);
}

/* Wait (at most 10 s) for the back-end's socket; false if it died. */
static bool backend_wait(pid_t pid, const char *sock)
{
	double end = now_s() + 10;
	struct stat st;

	while (now_s() < end) {
		if (stat(sock, &st) == 0 && S_ISSOCK(st.st_mode))
			return true;
		if (waitpid(pid, NULL, WNOHANG) == pid)
			return false;
		usleep(10000);
	}
	return false;
}

static void backend_stop(pid_t pid)
{
	double end = now_s() + 5;

	kill(pid, SIGTERM);
	while (now_s() < end) {
		if (waitpid(pid, NULL, WNOHANG) == pid)
			return;
		usleep(10000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

static double field(const char *line, const char *key)
{
	char pat[64];
	const char *p;

	snprintf(pat, sizeof(pat), " %s=", key);
	p = strstr(line, pat);
	return p ? strtod(p + strlen(pat), NULL) : -1;
}

/* Parse the front-end's "fe: key=value ..." summary line into @r. */
static void parse_summary(const char *line, struct fe_result *r)
{
	r->requests = (uint64_t)field(line, "requests");
	r->mismatches = (uint64_t)field(line, "mismatches");
	r->stale = (uint64_t)field(line, "stale_writes");
	r->iops = field(line, "iops");
	r->p50_us = field(line, "p50_us");
	r->p99_us = field(line, "p99_us");
	r->rem_p99_us = field(line, "rem_reply_p99_us");
	r->ok = r->iops > 0 && r->mismatches == 0 && r->stale == 0;
	if (!r->ok)
		snprintf(r->why, sizeof(r->why), "front-end summary: %.120s",
			 line);
}

/*
 * Run the front-end against @sock (one row); its stdout is read
 * through a pipe with a deadline of the run's duration + 30 s.
 */
static void fe_run(const char *sock, pid_t be, unsigned int queues,
		   unsigned int qd, bool churn, struct fe_result *r)
{
	char qs[16], ds[16], ts[16], ps[16], line[4096] = "", buf[4096];
	double cpu = -1;
	size_t used = 0;
	int p[2], status;
	double end;
	pid_t pid;

	memset(r, 0, sizeof(*r));
	snprintf(qs, sizeof(qs), "%u", queues);
	snprintf(ds, sizeof(ds), "%u", qd);
	snprintf(ts, sizeof(ts), "%u", opt.seconds);
	snprintf(ps, sizeof(ps), "%d", (int)be);
	if (pipe2(p, O_CLOEXEC)) {
		snprintf(r->why, sizeof(r->why), "pipe: %s", strerror(errno));
		return;
	}
	pid = fork();
	if (!pid) {
		dup2(p[1], 1);
		/*
		 * The whole disk, half reads, a ring that holds depth 128 (3
		 * descriptors a request); churn: a region no request uses.
		 */
		if (churn)
			execl(opt.fe, opt.fe, "--socket", sock, "--queues", qs,
			      "--qdepth", ds, "--duration", ts, "--blocks",
			      "65536", "--read-pct", "50", "--ring", "512",
			      "--backend-pid", ps, "--churn-mem", "2",
			      (char *)NULL);
		else
			execl(opt.fe, opt.fe, "--socket", sock, "--queues", qs,
			      "--qdepth", ds, "--duration", ts, "--blocks",
			      "65536", "--read-pct", "50", "--ring", "512",
			      "--backend-pid", ps, (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	end = now_s() + opt.seconds + 30;
	for (;;) {
		struct pollfd pfd = { .fd = p[0], .events = POLLIN };
		int left = (int)((end - now_s()) * 1000);
		ssize_t n;

		if (left <= 0 || poll(&pfd, 1, left) <= 0) {
			kill(pid, SIGKILL);
			snprintf(r->why, sizeof(r->why),
				 "front-end timed out (killed)");
			break;
		}
		n = read(p[0], buf + used, sizeof(buf) - 1 - used);
		if (n <= 0)
			break;
		used += (size_t)n;
		buf[used] = 0;
		/*
		 * Keep the last "fe:" summary and the back-end's CPU line
		 * printed before it; drop complete lines before them.
		 */
		for (char *nl; (nl = strchr(buf, '\n'));) {
			*nl = 0;
			if (strstr(buf, "backend_cpu_us_per_req="))
				cpu = field(buf, "backend_cpu_us_per_req");
			else if (!strncmp(buf, "fe:", 3))
				snprintf(line, sizeof(line), "%s", buf);
			used -= (size_t)(nl + 1 - buf);
			memmove(buf, nl + 1, used + 1);
		}
		if (used == sizeof(buf) - 1)
			used = 0; /* a line that long is not a summary */
	}
	close(p[0]);
	waitpid(pid, &status, 0);
	if (r->why[0])
		return;
	if (!line[0]) {
		snprintf(r->why, sizeof(r->why),
			 "front-end printed no summary (status %d)",
			 WIFEXITED(status) ? WEXITSTATUS(status) : -1);
		return;
	}
	parse_summary(line, r);
	if (r->ok && cpu >= 0)
		r->cpu_us_per_req = cpu;
	if (r->ok && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
		r->ok = false;
		snprintf(r->why, sizeof(r->why), "front-end exit status %d",
			 WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	}
}

/* One row on back-end @b: a fresh back-end process, one front-end run. */
static void row(enum backend b, unsigned int queues, unsigned int qd,
		bool churn, struct fe_result *r)
{
	char sock[300];
	pid_t pid;

	snprintf(sock, sizeof(sock), "%s/%s.sock", workdir, backend_name[b]);
	pid = backend_start(b, sock, queues);
	if (pid < 0 || !backend_wait(pid, sock)) {
		memset(r, 0, sizeof(*r));
		snprintf(r->why, sizeof(r->why),
			 "%s did not create its socket in 10 s",
			 backend_name[b]);
		if (pid > 0)
			backend_stop(pid);
		failed = true;
		return;
	}
	fe_run(sock, pid, queues, qd, churn, r);
	backend_stop(pid);
	if (!r->ok)
		failed = true;
}

static void print_row(enum backend b, unsigned int queues, unsigned int qd,
		      bool churn, const struct fe_result *r)
{
	if (!r->ok) {
		printf("%-14s %2u %4u %-5s  FAILED: %s\n", backend_name[b],
		       queues, qd, churn ? "churn" : "idle", r->why);
		return;
	}
	printf("%-14s %2u %4u %-5s %10.0f %9.1f %9.1f %9.2f", backend_name[b],
	       queues, qd, churn ? "churn" : "idle", r->iops, r->p50_us,
	       r->p99_us, r->cpu_us_per_req);
	if (churn)
		printf(" %9.1f", r->rem_p99_us);
	printf("\n");
	if (csv)
		fprintf(csv, "%s,%u,%u,%s,%.0f,%.2f,%.2f,%.3f,%.2f\n",
			backend_name[b], queues, qd, churn ? "churn" : "idle",
			r->iops, r->p50_us, r->p99_us, r->cpu_us_per_req,
			churn ? r->rem_p99_us : 0);
	fflush(stdout);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, unsigned int n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

#define MAX_PAIRS 7

/*
 * @opt.pairs rounds of (idle row, churn row) on back-end @b; @idle and
 * @churn receive rows whose iops, p99 and REM reply p99 are the medians
 * (ok only if every row was).
 */
static void churn_pairs(enum backend b, struct fe_result *idle,
			struct fe_result *churn)
{
	double ip99[MAX_PAIRS], iiops[MAX_PAIRS], cp99[MAX_PAIRS],
		ciops[MAX_PAIRS], crem[MAX_PAIRS];
	bool ok = true;
	struct fe_result r;

	for (unsigned int i = 0; i < opt.pairs; i++) {
		row(b, 1, 32, false, &r);
		ok = ok && r.ok;
		ip99[i] = r.p99_us;
		iiops[i] = r.iops;
		*idle = r;
		row(b, 1, 32, true, &r);
		ok = ok && r.ok;
		cp99[i] = r.p99_us;
		ciops[i] = r.iops;
		crem[i] = r.rem_p99_us;
		*churn = r;
	}
	idle->ok = churn->ok = ok;
	idle->p99_us = median(ip99, opt.pairs);
	idle->iops = median(iiops, opt.pairs);
	churn->p99_us = median(cp99, opt.pairs);
	churn->iops = median(ciops, opt.pairs);
	churn->rem_p99_us = median(crem, opt.pairs);
	/* The medians' p50 and CPU are not meaningful: the last row's. */
	print_row(b, 1, 32, false, idle);
	print_row(b, 1, 32, true, churn);
}

static void ratio(const char *name, double num, double den, bool ok)
{
	if (ok && den > 0)
		printf("ratio %s %.3f\n", name, num / den);
	else
		printf("ratio %s skipped (a row failed)\n", name);
}

static void target(const char *name, double v, const char *op, double lim,
		   bool ok)
{
	bool met = *op == '>' ? v >= lim : v <= lim;

	if (ok)
		printf("target %s %.3f %s %.3f %s\n", name, v, op, lim,
		       met ? "met" : "MISSED");
}

static int make_disk(void)
{
	int fd;

	snprintf(workdir, sizeof(workdir), "/dev/shm/gpc-bench-vhost.XXXXXX");
	if (!mkdtemp(workdir)) {
		/* No tmpfs at /dev/shm: the build folder's /tmp then. */
		snprintf(workdir, sizeof(workdir),
			 "/tmp/gpc-bench-vhost.XXXXXX");
		if (!mkdtemp(workdir))
			return -errno;
	}
	snprintf(disk, sizeof(disk), "%s/disk.img", workdir);
	fd = open(disk, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		return -errno;
	/* Allocated, not sparse: the first write of a block costs no more. */
	if (posix_fallocate(fd, 0, DISK_BYTES)) {
		close(fd);
		return -ENOSPC;
	}
	close(fd);
	return 0;
}

static void cleanup(void)
{
	char sock[300];

	for (int b = 0; b < NR_BACKENDS; b++) {
		snprintf(sock, sizeof(sock), "%s/%s.sock", workdir,
			 backend_name[b]);
		unlink(sock);
	}
	unlink(disk);
	rmdir(workdir);
}

static int parse_opts(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "quick", no_argument, NULL, 'q' },
		{ "csv-dir", required_argument, NULL, 'c' },
		{ "fe", required_argument, NULL, 'f' },
		{ "blk", required_argument, NULL, 'b' },
		{ "qsd", required_argument, NULL, 'd' },
		{ "kernel-cache", required_argument, NULL, 'k' },
		{ "no-e2e", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	opt.fe = BENCH_VHOST_FE;
	opt.blk = BENCH_VHOST_BLK;
	opt.qsd = "/usr/bin/qemu-storage-daemon";
	opt.kernel_cache = BENCH_VHOST_KERNEL_CACHE;
	while ((ch = getopt_long(argc, argv, "qc:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'q':
			opt.quick = true;
			break;
		case 'c':
			opt.csv_dir = optarg;
			break;
		case 'f':
			opt.fe = optarg;
			break;
		case 'b':
			opt.blk = optarg;
			break;
		case 'd':
			opt.qsd = optarg;
			break;
		case 'k':
			opt.kernel_cache = optarg;
			break;
		case 'n':
			opt.no_e2e = true;
			break;
		case 'h':
			printf("usage: %s [--quick] [--csv-dir DIR] [--fe PATH] "
			       "[--blk PATH] [--qsd PATH]\n"
			       "       [--kernel-cache DIR] [--no-e2e]\n"
			       "Suite 7: gpc-vhost-blk vs qemu-storage-daemon "
			       "under the synthetic front-end, then under a "
			       "Linux guest in QEMU.\n",
			       argv[0]);
			exit(0);
		default:
			return -1;
		}
	}
	opt.seconds = opt.quick ? 1 : 5;
	opt.pairs = opt.quick ? 1 : 3;
	return 0;
}

int main(int argc, char **argv)
{
	static const unsigned int depths[] = { 1, 32, 128 };
	struct fe_result res[NR_BACKENDS][2][3], churn[NR_BACKENDS];
	struct fe_result idle32[NR_BACKENDS];
	bool have[NR_BACKENDS];
	int err;

	if (parse_opts(argc, argv))
		return 2;
	printf("==== suite 7 vhost-user-blk: gpc-vhost-blk vs "
	       "qemu-storage-daemon (%s, %u s per row) ====\n",
	       opt.quick ? "quick" : "full", opt.seconds);
	if (!exists_exec(opt.fe) || !exists_exec(opt.blk)) {
		printf("suite 7: skipped: %s or %s not built\n", opt.fe,
		       opt.blk);
		return 77;
	}
	have[OURS] = true;
	have[QSD] = exists_exec(opt.qsd);
	if (!have[QSD])
		printf("suite 7: %s missing: qsd rows n/a (apt-get install "
		       "qemu-system-common)\n",
		       opt.qsd);
	err = make_disk();
	if (err) {
		printf("suite 7: cannot create the disk file: %s\n",
		       strerror(-err));
		return 1;
	}
	if (opt.csv_dir) {
		char path[512];

		snprintf(path, sizeof(path), "%s/vhost.csv", opt.csv_dir);
		csv = fopen(path, "w");
		if (csv)
			fprintf(csv,
				"backend,queues,qd,load,iops,p50_us,"
				"p99_us,cpu_us_per_req,rem_reply_p99_us\n");
	}
	printf("4 KiB random 50/50 read/write on a %llu MiB tmpfs file; "
	       "latency = submit to used entry (front-end clock)\n",
	       DISK_BYTES >> 20);
	printf("%-14s %2s %4s %-5s %10s %9s %9s %9s %9s\n", "back-end", "q",
	       "qd", "load", "IOPS", "p50 us", "p99 us", "cpu us/rq",
	       "rem p99");
	for (int b = 0; b < NR_BACKENDS; b++) {
		if (!have[b])
			continue;
		for (unsigned int q = 1; q <= 2; q++)
			for (unsigned int d = 0; d < 3; d++) {
				row(b, q, depths[d], false, &res[b][q - 1][d]);
				print_row(b, q, depths[d], false,
					  &res[b][q - 1][d]);
			}
	}
	/*
	 * Churn against idle: a p99 is the noisiest figure on a shared machine,
	 * so idle and churn rows alternate, PAIRS times per back-end, and the
	 * medians are compared (res's QD-32 row was taken at another moment).
	 */
	printf("idle/churn pairs at QD 32, 1 queue (medians of %u):\n",
	       opt.pairs);
	for (int b = 0; b < NR_BACKENDS; b++)
		if (have[b])
			churn_pairs(b, &idle32[b], &churn[b]);
	if (have[QSD]) {
		ratio("vhost_iops_vs_qsd_1q", res[OURS][0][1].iops,
		      res[QSD][0][1].iops,
		      res[OURS][0][1].ok && res[QSD][0][1].ok);
		ratio("vhost_iops_vs_qsd_2q", res[OURS][1][1].iops,
		      res[QSD][1][1].iops,
		      res[OURS][1][1].ok && res[QSD][1][1].ok);
	}
	ratio("vhost_churn_p99_vs_idle_p99", churn[OURS].p99_us,
	      idle32[OURS].p99_us, churn[OURS].ok && idle32[OURS].ok);
	if (have[QSD])
		ratio("qsd_churn_p99_vs_idle_p99", churn[QSD].p99_us,
		      idle32[QSD].p99_us, churn[QSD].ok && idle32[QSD].ok);
	if (churn[OURS].ok)
		printf("ratio vhost_rem_reply_p99_us %.3f\n",
		       churn[OURS].rem_p99_us);
	if (have[QSD]) {
		target("vhost_iops_vs_qsd_1q",
		       res[OURS][0][1].iops / res[QSD][0][1].iops, ">=", 1.0,
		       res[OURS][0][1].ok && res[QSD][0][1].ok &&
			       res[QSD][0][1].iops > 0);
		target("vhost_iops_vs_qsd_2q",
		       res[OURS][1][1].iops / res[QSD][1][1].iops, ">=", 1.6,
		       res[OURS][1][1].ok && res[QSD][1][1].ok &&
			       res[QSD][1][1].iops > 0);
	}
	target("vhost_churn_p99_vs_idle_p99",
	       churn[OURS].p99_us / idle32[OURS].p99_us, "<=", 1.5,
	       churn[OURS].ok && idle32[OURS].ok && idle32[OURS].p99_us > 0);
	target("vhost_rem_reply_p99_us", churn[OURS].rem_p99_us, "<=", 1000,
	       churn[OURS].ok);
	if (opt.no_e2e) {
		printf("e2e: skipped: --no-e2e\n");
		printf("ratio e2e_vhost_vs_qsd skipped (--no-e2e)\n");
	} else {
		struct e2e_conf ec = {
			.python = BENCH_VHOST_PYTHON,
			.script = BENCH_VHOST_E2E_SCRIPT,
			.guest_bin = BENCH_VHOST_GUEST_BIN,
			.cache = opt.kernel_cache,
			.work = BENCH_VHOST_E2E_WORK,
			.disk_dir = workdir,
			.blk = opt.blk,
			.qsd = have[QSD] ? opt.qsd : NULL,
			.csv_dir = opt.csv_dir,
			.quick = opt.quick,
		};

		if (e2e_rows(&ec))
			failed = true;
	}
	if (csv)
		fclose(csv);
	cleanup();
	return failed ? 1 : 0;
}
