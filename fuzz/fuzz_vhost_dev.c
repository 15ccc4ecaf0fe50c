// SPDX-License-Identifier: MIT
/*
 * fuzz/fuzz_vhost_dev.c - libFuzzer harness for libgpc-vhost's stateful
 * side: the dispatcher and its per-state checks, the memory table
 * (SET_MEM_TABLE, ADD_MEM_REG, REM_MEM_REG), vring setup, queue start and
 * stop, and the datapath behind a kick.
 *
 * A back-end (gpc_vhost_dev_create, no socket path) with a small echo
 * device serves one end of a socketpair with gpc_vhost_dev_serve_fd() on a
 * thread; this thread plays the front-end and the driver. Each input is
 * decoded into at most MAX_OPS operations (layout below): vhost-user
 * messages with the fds their request needs (memfds for memory regions,
 * eventfds for KICK/CALL/ERR; sometimes too many or too few), kicks after
 * writing a descriptor chain into the guest memory the harness owns (the
 * same memfds, mapped here), and short pauses. Then the harness closes its
 * end and joins the serving thread. What must hold:
 *  - no crash, no sanitizer report (ASan+UBSan build);
 *  - gpc_vhost_dev_serve_fd() returns 0, within JOIN_TIMEOUT_S (else
 *    abort(): a hang, kept by libFuzzer);
 *  - no fd leaks: every CHECK_FDS_EVERY inputs the process has exactly the
 *    fds it had after the first input;
 *  - every DESTROY_EVERY inputs both back-ends are destroyed (which must
 *    return 0) and created again.
 * Byte 0 of an input picks the read-side scheme (bit 0: rwlock) of the
 * back-end that serves it; one back-end per scheme is kept between inputs.
 *
 * Guest memory is two memfds, A (A_PAGES) and B (B_PAGES), created once;
 * the regions the decoder builds (fix_region) stay inside their memfd but
 * for one whole-file region in 16, which keeps the file's size at its
 * offset and so runs past the end of the file: the back-end must refuse
 * it (it used to map it, and its first access was a SIGBUS).
 * FUZZ_VHOST_DEV_PAST_EOF=1 makes every whole-file region do that.
 *
 * Input layout (all multi-byte fields little-endian, missing bytes 0):
 *   u8 cfg                 bit 0: scheme (0 srcu, 1 rwlock)
 *   then ops, each starting with u8 t:
 *   t & 15 in 0..11: a message; u8 r: request SUPPORTED[r % N]
 *   t & 15 == 15   : a message; u8 r: raw request number r
 *     u8 f: bit 0 need_reply; bit 1 flags from one more byte (raw);
 *           bits 2-3 size: 0,1 right, 2 right + (s8) next byte,
 *           3 a u16 from the next two bytes; bits 4-5 fds: 0,1 right,
 *           2 right + 1..3 extra, 3 one fewer (or one stray);
 *           bit 6: raw payload (no fix-ups towards valid values)
 *     then the request's payload (its natural size; SET_MEM_TABLE reads a
 *     u32 count first, GET/SET_CONFIG their 12-byte header first)
 *   t & 15 in 12..13: a kick: u8 q (bit 0 the queue; bit 7: the avail
 *     index jumps by q << 3 instead of 1), u8 n (descriptors, readable count),
 *     then per descriptor u8 flags-selector, u8 length, u8 buffer
 *   t & 15 == 14   : a pause (up to 1 ms, replies drained)
 *
 *	fuzz_vhost_dev -max_total_time=300 fuzz/corpus-vhost-dev
 *	FUZZ_VHOST_DEV_WRITE_SEEDS=<dir> fuzz_vhost_dev   (writes the seeds)
 *	FUZZ_VHOST_DEV_VERBOSE=1 fuzz_vhost_dev <input>   (back-end log)
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <gpc/vhost.h>

#include "fuzz_vhost_dev.h"
#include "vhost_echo.h"

#define JOIN_TIMEOUT_S	3
#define CHECK_FDS_EVERY 1
#define DESTROY_EVERY	256

/* ---- the echo device ---------------------------------------------------- */

/*
 * Copies the readable bytes into the writable ones and completes; a
 * request whose first readable byte is 'H' is held and completed from
 * .queue_poll (the library calls it within a millisecond when the queue
 * has requests in flight and no poll fd), as a device with I/O in the
 * kernel would: that exercises a removal waiting for in-flight requests.
 */
struct dq {
	struct gpc_vhost_req *held[QMAX];
	unsigned int nheld;
};

struct edev {
	struct dq q[NQ];
	uint8_t config[CFG_SIZE];
};

static void complete(struct gpc_vhost_req *r, uint32_t len)
{
	int err = gpc_vhost_req_complete(r, len);

	CHECK(err == 0, "gpc_vhost_req_complete: %d", err);
}

static int e_queue_start(void *ctx, struct gpc_vhost_queue *q, void **qctx,
			 int *poll_fd)
{
	struct edev *e = ctx;
	unsigned int i = gpc_vhost_queue_index(q);

	CHECK(i < NQ, "queue index %u", i);
	e->q[i].nheld = 0;
	*qctx = &e->q[i];
	*poll_fd = -1;
	return 0;
}

static void e_queue_stop(void *ctx, struct gpc_vhost_queue *q, void *qctx)
{
	struct dq *dq = qctx;

	(void)ctx;
	(void)q;
	for (unsigned int i = 0; i < dq->nheld; i++)
		complete(dq->held[i], 0);
	dq->nheld = 0;
}

static void e_request(void *qctx, struct gpc_vhost_req *r)
{
	struct dq *dq = qctx;

	CHECK(r->nr_read + r->nr_write <= 8, "%u + %u iovecs > seg_max",
	      r->nr_read, r->nr_write);
	if (r->nr_read && r->iov[0].iov_len &&
	    *(volatile char *)r->iov[0].iov_base == 'H' && dq->nheld < QMAX) {
		dq->held[dq->nheld++] = r;
		return;
	}
	complete(r, vhost_test_echo(r));
}

static uint32_t e_bad_request(void *qctx, struct gpc_vhost_req *r, int err)
{
	(void)qctx;
	(void)err;
	/* What was translated must still be inside guest memory. */
	for (unsigned int i = 0; i < r->nr_read + r->nr_write; i++)
		if (r->iov[i].iov_len)
			(void)*(volatile char *)r->iov[i].iov_base;
	return 0;
}

static void e_queue_poll(void *qctx)
{
	struct dq *dq = qctx;

	for (unsigned int i = 0; i < dq->nheld; i++)
		complete(dq->held[i], vhost_test_echo(dq->held[i]));
	dq->nheld = 0;
}

static int e_get_config(void *ctx, uint32_t off, void *buf, uint32_t len)
{
	struct edev *e = ctx;

	CHECK(off + len <= CFG_SIZE, "get_config [%u, +%u)", off, len);
	memcpy(buf, e->config + off, len);
	return 0;
}

static int e_set_config(void *ctx, uint32_t off, const void *buf, uint32_t len)
{
	struct edev *e = ctx;

	CHECK(off + len <= CFG_SIZE, "set_config [%u, +%u)", off, len);
	memcpy(e->config + off, buf, len);
	return 0;
}

static const struct gpc_vhost_device echo_dev = {
	.name = "fuzz-echo",
	.num_queues = NQ,
	.queue_size_max = QMAX,
	.seg_max = 8,
	.config_size = CFG_SIZE,
	.get_config = e_get_config,
	.set_config = e_set_config,
	.queue_start = e_queue_start,
	.queue_stop = e_queue_stop,
	.request = e_request,
	.bad_request = e_bad_request,
	.queue_poll = e_queue_poll,
};

/* ---- process-wide state ------------------------------------------------- */

static bool verbose;
/* FUZZ_VHOST_DEV_PAST_EOF: every whole-file region keeps the size of the
 * file at its offset, so it runs past the end (see the top). */
bool past_eof;
static struct edev edevs[2];
static struct gpc_vhost_dev *devs[2];
int memfd[2] = { -1, -1 };
uint8_t *gmem[2];
const unsigned int gpages[2] = { A_PAGES, B_PAGES };
int evfd[NEVFD];
static unsigned long nr_inputs;
static int fd_baseline = -1;

static void quiet_log(void *ctx, int level, const char *msg)
{
	(void)ctx;
	if (verbose)
		fprintf(stderr, "backend[%d]: %s\n", level, msg);
}

static void create_devs(void)
{
	for (int s = 0; s < 2; s++) {
		struct gpc_vhost_config cfg = {
			.scheme = s ? GPC_SCHEME_RWLOCK : GPC_SCHEME_SRCU,
			.log = quiet_log,
		};
		int err = gpc_vhost_dev_create(&echo_dev, &edevs[s], &cfg,
					       &devs[s]);

		CHECK(err == 0, "gpc_vhost_dev_create: %d", err);
	}
}

static void destroy_devs(void)
{
	for (int s = 0; s < 2; s++) {
		int err = gpc_vhost_dev_destroy(devs[s]);

		CHECK(err == 0, "gpc_vhost_dev_destroy: %d", err);
		devs[s] = NULL;
	}
}

/*
 * The fds the back-end could leak: eventfds, epoll fds, memfds, sockets.
 * Pipes and files are not counted: libFuzzer's symbolizer (NEW_FUNC lines)
 * opens pipes of its own in the middle of a run.
 */
static int open_fd_count(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0, self;

	CHECK(d, "opendir /proc/self/fd: %d", errno);
	self = dirfd(d);
	while ((e = readdir(d))) {
		char path[300], to[256];
		ssize_t k;

		if (e->d_name[0] == '.' || atoi(e->d_name) == self)
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
		k = readlink(path, to, sizeof(to) - 1);
		to[k > 0 ? k : 0] = 0;
		if (!strncmp(to, "anon_inode:", 11) ||
		    !strncmp(to, "/memfd:", 7) || !strncmp(to, "socket:", 7))
			n++;
	}
	closedir(d);
	return n;
}

/* What is open, for the report of a leak. */
static void list_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;

	while (d && (e = readdir(d))) {
		char path[300], to[256];
		ssize_t k;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
		k = readlink(path, to, sizeof(to) - 1);
		to[k > 0 ? k : 0] = 0;
		fprintf(stderr, "  fd %s -> %s\n", e->d_name, to);
	}
	if (d)
		closedir(d);
}

static void init_once(void)
{
	static bool done;

	if (done)
		return;
	done = true;
	verbose = getenv("FUZZ_VHOST_DEV_VERBOSE") != NULL;
	past_eof = getenv("FUZZ_VHOST_DEV_PAST_EOF") != NULL;
	for (int m = 0; m < 2; m++) {
		memfd[m] = memfd_create(m ? "fuzz-b" : "fuzz-a", MFD_CLOEXEC);
		CHECK(memfd[m] >= 0, "memfd_create: %d", errno);
		CHECK(!ftruncate(memfd[m], (off_t)(gpages[m] * PS)),
		      "ftruncate: %d", errno);
		gmem[m] = mmap(NULL, gpages[m] * PS, PROT_READ | PROT_WRITE,
			       MAP_SHARED, memfd[m], 0);
		CHECK(gmem[m] != MAP_FAILED, "mmap: %d", errno);
	}
	for (int i = 0; i < NEVFD; i++) {
		evfd[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		CHECK(evfd[i] >= 0, "eventfd: %d", errno);
	}
	create_devs();
}

/* ---- one input ---------------------------------------------------------- */

struct serve_arg {
	struct gpc_vhost_dev *d;
	int fd;
	int ret;
};

static void *serve_main(void *arg)
{
	struct serve_arg *s = arg;

	s->ret = gpc_vhost_dev_serve_fd(s->d, s->fd);
	return NULL;
}

static void run_input(const uint8_t *data, size_t size)
{
	struct in in = { data, size, 0 };
	unsigned int scheme = u8(&in) & 1;
	struct fe fe = { .sock = -1 };
	struct serve_arg sa = { .d = devs[scheme], .ret = -1 };
	struct timespec ts;
	pthread_t t;
	int sv[2], err;
	unsigned int nops = 0, nmsgs = 0;

	for (int m = 0; m < 2; m++)
		memset(gmem[m], 0, gpages[m] * PS);
	for (int i = 0; i < NEVFD; i++) {
		uint64_t v;

		if (read(evfd[i], &v, 8) < 0) {
			/* EAGAIN: it was 0 */
		}
	}
	memset(&edevs[scheme].config, 0, sizeof(edevs[scheme].config));
	for (int i = 0; i < NQ; i++)
		fe.q[i].kick = -1;
	CHECK(!socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
	      "socketpair: %d", errno);
	fe.sock = sv[0];
	sa.fd = sv[1];
	CHECK(!pthread_create(&t, NULL, serve_main, &sa), "pthread_create");

	while (in.off < in.n && nops < MAX_OPS && !fe.gone) {
		uint8_t op = u8(&in) & 15;

		nops++;
		if (op <= 11 || op == 15) {
			if (nmsgs++ == MAX_MSGS)
				break;
			fzd_op_msg(&fe, &in, op == 15);
		} else if (op <= 13) {
			fzd_op_kick(&fe, &in);
		} else {
			fzd_wait_reply(&fe, 1);
		}
	}

	close(fe.sock);
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += JOIN_TIMEOUT_S;
	err = pthread_timedjoin_np(t, NULL, &ts);
	if (err) {
		fprintf(stderr,
			"fuzz_vhost_dev: gpc_vhost_dev_serve_fd did not return "
			"within %d s of the disconnect (%d)\n",
			JOIN_TIMEOUT_S, err);
		abort();
	}
	CHECK(sa.ret == 0, "gpc_vhost_dev_serve_fd: %d", sa.ret);
	if (verbose) {
		struct gpc_vhost_stats st;

		CHECK(!gpc_vhost_dev_get_stats(sa.d, &st), "get_stats");
		fprintf(stderr,
			"fuzz_vhost_dev: %u ops; totals: %llu messages, %llu "
			"refused, %llu requests, %llu bad, %llu kicks, %llu "
			"calls, %llu mem adds, %llu removes\n",
			nops, (unsigned long long)st.messages,
			(unsigned long long)st.refused_messages,
			(unsigned long long)st.requests,
			(unsigned long long)st.bad_requests,
			(unsigned long long)st.kicks,
			(unsigned long long)st.calls,
			(unsigned long long)st.mem_adds,
			(unsigned long long)st.mem_removes);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	init_once();
	run_input(data, size);
	nr_inputs++;
	if (nr_inputs % DESTROY_EVERY == 0) {
		destroy_devs();
		create_devs();
	}
	if (nr_inputs % CHECK_FDS_EVERY == 0) {
		int n = open_fd_count();

		if (fd_baseline < 0)
			fd_baseline = n;
		if (n != fd_baseline)
			list_fds();
		CHECK(n == fd_baseline,
		      "%d fds open after input %lu, %d after the first: a "
		      "leak",
		      n, nr_inputs, fd_baseline);
	}
	return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *dir = getenv("FUZZ_VHOST_DEV_WRITE_SEEDS");

	(void)argc;
	(void)argv;
	if (dir) {
		fzd_write_seeds(dir);
		exit(0);
	}
	return 0;
}
