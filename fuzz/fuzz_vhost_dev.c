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
 *   t & 15 in 12..13: a kick: u8 q, u8 n (descriptors, readable count),
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
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
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

#include "proto.h"

#define PS		4096ull
#define A_PAGES		16
#define B_PAGES		8
#define MIB		0x100000ull
#define UBASE		0x7f0000000000ull
#define NQ		2
#define QMAX		256
#define CFG_SIZE	8
#define MAX_OPS		32
#define MAX_MSGS	24
#define NEVFD		4
#define MAX_MODEL_REG	16
#define JOIN_TIMEOUT_S	3
#define REPLY_WAIT_MS	10
#define CHECK_FDS_EVERY 1
#define DESTROY_EVERY	256

#define CHECK(cond, ...)                                                \
	do {                                                            \
		if (!(cond)) {                                          \
			fprintf(stderr, "fuzz_vhost_dev: %s: ", #cond); \
			fprintf(stderr, __VA_ARGS__);                   \
			fputc('\n', stderr);                            \
			abort();                                        \
		}                                                       \
	} while (0)

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

static uint32_t echo(struct gpc_vhost_req *r)
{
	uint32_t n = 0;
	unsigned int ri = 0, wi = r->nr_read;
	size_t roff = 0, woff = 0;

	while (ri < r->nr_read && wi < r->nr_read + r->nr_write) {
		size_t k = r->iov[ri].iov_len - roff;

		if (r->iov[wi].iov_len - woff < k)
			k = r->iov[wi].iov_len - woff;
		memmove((char *)r->iov[wi].iov_base + woff,
			(char *)r->iov[ri].iov_base + roff, k);
		n += (uint32_t)k;
		roff += k;
		woff += k;
		if (roff == r->iov[ri].iov_len) {
			ri++;
			roff = 0;
		}
		if (woff == r->iov[wi].iov_len) {
			wi++;
			woff = 0;
		}
	}
	return n;
}

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
	complete(r, echo(r));
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
		complete(dq->held[i], echo(dq->held[i]));
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
static bool past_eof;
static struct edev edevs[2];
static struct gpc_vhost_dev *devs[2];
static int memfd[2] = { -1, -1 };
static uint8_t *gmem[2];
static const unsigned int gpages[2] = { A_PAGES, B_PAGES };
static int evfd[NEVFD];
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

/* ---- the input ---------------------------------------------------------- */

struct in {
	const uint8_t *p;
	size_t n, off;
};

static uint8_t u8(struct in *in)
{
	return in->off < in->n ? in->p[in->off++] : 0;
}

static void bytes(struct in *in, void *out, size_t len)
{
	uint8_t *o = out;

	for (size_t i = 0; i < len; i++)
		o[i] = u8(in);
}

static uint64_t u64(struct in *in)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v |= (uint64_t)u8(in) << (8 * i);
	return v;
}

/* ---- the front-end's model of what it sent ------------------------------ */

/* A region as sent (accepted or not): where the harness finds its bytes. */
struct mregion {
	unsigned int m; /* memfd */
	uint64_t gpa, uaddr, size, off;
};

struct mqueue {
	unsigned int num;
	bool addr_set;
	uint64_t desc, avail, used; /* user addresses */
	int kick;		    /* the eventfd sent as its kick, -1 */
};

struct fe {
	int sock;
	bool gone;	/* the back-end closed the connection */
	bool reply_ack; /* we believe REPLY_ACK was negotiated */
	struct mregion reg[MAX_MODEL_REG];
	unsigned int nreg;
	struct mqueue q[NQ];
};

static const uint32_t supported[] = {
	GPC_VHOST_GET_FEATURES,
	GPC_VHOST_SET_FEATURES,
	GPC_VHOST_SET_OWNER,
	GPC_VHOST_RESET_OWNER,
	GPC_VHOST_SET_MEM_TABLE,
	GPC_VHOST_SET_LOG_BASE,
	GPC_VHOST_SET_LOG_FD,
	GPC_VHOST_SET_VRING_NUM,
	GPC_VHOST_SET_VRING_ADDR,
	GPC_VHOST_SET_VRING_BASE,
	GPC_VHOST_GET_VRING_BASE,
	GPC_VHOST_SET_VRING_KICK,
	GPC_VHOST_SET_VRING_CALL,
	GPC_VHOST_SET_VRING_ERR,
	GPC_VHOST_GET_PROTOCOL_FEATURES,
	GPC_VHOST_SET_PROTOCOL_FEATURES,
	GPC_VHOST_GET_QUEUE_NUM,
	GPC_VHOST_SET_VRING_ENABLE,
	GPC_VHOST_SET_BACKEND_REQ_FD,
	GPC_VHOST_IOTLB_MSG,
	GPC_VHOST_GET_CONFIG,
	GPC_VHOST_SET_CONFIG,
	GPC_VHOST_GET_INFLIGHT_FD,
	GPC_VHOST_SET_INFLIGHT_FD,
	GPC_VHOST_RESET_DEVICE,
	GPC_VHOST_GET_MAX_MEM_SLOTS,
	GPC_VHOST_ADD_MEM_REG,
	GPC_VHOST_REM_MEM_REG,
	GPC_VHOST_SET_STATUS,
	GPC_VHOST_GET_STATUS,
};
#define NSUP (sizeof(supported) / sizeof(supported[0]))

static bool has_reply_body(uint32_t req)
{
	switch (req) {
	case GPC_VHOST_GET_FEATURES:
	case GPC_VHOST_GET_PROTOCOL_FEATURES:
	case GPC_VHOST_GET_QUEUE_NUM:
	case GPC_VHOST_GET_VRING_BASE:
	case GPC_VHOST_GET_CONFIG:
	case GPC_VHOST_GET_INFLIGHT_FD:
	case GPC_VHOST_GET_MAX_MEM_SLOTS:
	case GPC_VHOST_GET_STATUS:
	case GPC_VHOST_SET_LOG_BASE:
	case GPC_VHOST_IOTLB_MSG:
		return true;
	default:
		return false;
	}
}

/*
 * REGION: a region towards valid values from 32 raw bytes: inside memfd A
 * or B (bit 63 of the guest address), at one of four 1 MiB-spaced guest
 * and user bases (so two regions sometimes overlap), a page offset into
 * the fd and a page count that never pass the end of the file.
 */
static struct gpc_vhost_region fix_region(struct gpc_vhost_region w,
					  unsigned int *m_out)
{
	unsigned int m = (unsigned int)(w.guest_addr >> 63);
	uint64_t p = gpages[m], off, np;

	off = (w.mmap_offset & 1) ? (w.mmap_offset >> 1) % p : 0;
	np = (w.size & 1) ? 1 + (w.size >> 1) % (p - off) : p - off;
	if (past_eof || (w.size & 0x1f) == 0x1e)
		np = p; /* with an offset: past the end of the file */
	*m_out = m;
	return (struct gpc_vhost_region){
		.guest_addr = (1 + (w.guest_addr & 3)) * MIB +
			      ((w.guest_addr >> 8) & 3) * PS,
		.size = np * PS,
		.user_addr = UBASE + (w.user_addr & 3) * MIB +
			     ((w.user_addr >> 8) & 3) * PS,
		.mmap_offset = off * PS,
	};
}

static void model_add(struct fe *fe, const struct gpc_vhost_region *r,
		      unsigned int m)
{
	if (fe->nreg == MAX_MODEL_REG)
		return;
	fe->reg[fe->nreg++] = (struct mregion){ m, r->guest_addr, r->user_addr,
						r->size, r->mmap_offset };
}

static void model_rem(struct fe *fe, const struct gpc_vhost_region *w)
{
	for (unsigned int i = 0; i < fe->nreg; i++)
		if (fe->reg[i].gpa == w->guest_addr &&
		    fe->reg[i].uaddr == w->user_addr &&
		    fe->reg[i].size == w->size) {
			fe->reg[i] = fe->reg[--fe->nreg];
			return;
		}
}

/* The harness's pointer to [addr, + len) by user (or guest) address. */
static uint8_t *model_ptr(struct fe *fe, uint64_t addr, uint64_t len, bool gpa)
{
	for (unsigned int i = fe->nreg; i-- > 0;) {
		const struct mregion *r = &fe->reg[i];
		uint64_t base = gpa ? r->gpa : r->uaddr;

		if (addr < base || addr - base >= r->size ||
		    len > r->size - (addr - base))
			continue;
		if (r->off + (addr - base) + len > gpages[r->m] * PS)
			continue;
		return gmem[r->m] + r->off + (addr - base);
	}
	return NULL;
}

/* An address in a region of the model (user or guest) from one byte. */
static uint64_t model_addr(struct fe *fe, uint8_t sel, uint8_t sub, bool gpa)
{
	const struct mregion *r;
	uint64_t pages;

	if (!fe->nreg)
		return (gpa ? MIB : UBASE) + (uint64_t)sel * PS;
	r = &fe->reg[sel % fe->nreg];
	pages = r->size / PS;
	return (gpa ? r->gpa : r->uaddr) + ((sel >> 4) % pages) * PS +
	       (uint64_t)sub * 16;
}

/* ---- talking to the back-end -------------------------------------------- */

/* Read and drop what the back-end sent (closing any fd); false at EOF. */
static bool drain(struct fe *fe)
{
	for (;;) {
		char buf[512];
		union {
			struct cmsghdr align;
			char b[CMSG_SPACE(sizeof(int) * 16)];
		} ctl;
		struct iovec iov = { buf, sizeof(buf) };
		struct msghdr mh = { .msg_iov = &iov,
				     .msg_iovlen = 1,
				     .msg_control = ctl.b,
				     .msg_controllen = sizeof(ctl.b) };
		ssize_t n =
			recvmsg(fe->sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);

		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); n > 0 && c;
		     c = CMSG_NXTHDR(&mh, c))
			if (c->cmsg_level == SOL_SOCKET &&
			    c->cmsg_type == SCM_RIGHTS) {
				int *fds = (int *)CMSG_DATA(c);
				size_t k = (c->cmsg_len - CMSG_LEN(0)) /
					   sizeof(int);

				for (size_t i = 0; i < k; i++)
					close(fds[i]);
			}
		if (n > 0)
			continue;
		if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
			fe->gone = true;
			return false;
		}
		return true;
	}
}

/* Wait up to ms for a reply (or the disconnect); true if one came. */
static bool wait_reply(struct fe *fe, int ms)
{
	struct pollfd p = { .fd = fe->sock, .events = POLLIN };
	int n = poll(&p, 1, ms);

	if (n > 0) {
		drain(fe);
		return true;
	}
	return false;
}

static bool send_raw(struct fe *fe, const struct gpc_vhost_hdr *h,
		     const void *payload, size_t len, const int *fds,
		     unsigned int nfds)
{
	union {
		struct cmsghdr align;
		char b[CMSG_SPACE(sizeof(int) * 16)];
	} ctl;
	struct iovec iov[2] = { { (void *)h, sizeof(*h) },
				{ (void *)payload, len } };
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = len ? 2 : 1 };
	size_t total = sizeof(*h) + len, sent = 0;

	if (nfds) {
		struct cmsghdr *c;

		mh.msg_control = ctl.b;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	while (sent < total) {
		ssize_t n = sendmsg(fe->sock, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			struct pollfd p = { .fd = fe->sock, .events = POLLOUT };

			drain(fe);
			if (poll(&p, 1, 100) <= 0)
				return false;
			continue;
		}
		if (n <= 0)
			return false;
		sent += (size_t)n;
		/* Only the first piece carries the fds. */
		mh.msg_control = NULL;
		mh.msg_controllen = 0;
		while (n > 0 && mh.msg_iovlen) {
			size_t k = (size_t)n < mh.msg_iov[0].iov_len ?
					   (size_t)n :
					   mh.msg_iov[0].iov_len;

			mh.msg_iov[0].iov_base =
				(char *)mh.msg_iov[0].iov_base + k;
			mh.msg_iov[0].iov_len -= k;
			n -= (ssize_t)k;
			if (!mh.msg_iov[0].iov_len) {
				mh.msg_iov++;
				mh.msg_iovlen--;
			}
		}
	}
	return true;
}

/* ---- one message -------------------------------------------------------- */

static unsigned int fix_index(uint32_t raw)
{
	/* Mostly a queue of the device; sometimes one past or anything. */
	if (raw & 0x80)
		return raw;
	return raw % (NQ + ((raw & 0x40) ? 1 : 0));
}

static void op_msg(struct fe *fe, struct in *in, bool raw_req)
{
	uint8_t r = u8(in), f = u8(in);
	uint32_t req = raw_req ? r : supported[r % NSUP];
	bool fix = !(f & 0x40);
	union gpc_vhost_payload pl;
	uint8_t buf[sizeof(pl) + 64];
	struct gpc_vhost_hdr h = {
		.request = req,
		.flags = GPC_VHOST_VERSION |
			 ((f & 1) ? GPC_VHOST_FLAG_NEED_REPLY : 0),
	};
	size_t natural = 0, len;
	int fds[16];
	unsigned int nfds = 0, want_fds = 0;
	int fdkind = 0; /* 0 eventfd, 1 memfd A/B by region */
	unsigned int regm[GPC_VHOST_MAX_REGIONS] = { 0 };
	int vring_kick_q = -1;
	unsigned int fdbase = req;
	bool ok;

	memset(&pl, 0, sizeof(pl));
	if (f & 2)
		h.flags = u8(in);
	switch (req) {
	case GPC_VHOST_SET_FEATURES:
		pl.u64 = u64(in);
		if (fix)
			pl.u64 &= (1ull << VIRTIO_F_VERSION_1) |
				  (1ull << VIRTIO_RING_F_EVENT_IDX) |
				  (1ull << VIRTIO_RING_F_INDIRECT_DESC) |
				  (1ull << GPC_VHOST_F_PROTOCOL_FEATURES) |
				  (1ull << VHOST_F_LOG_ALL) |
				  (1ull << VIRTIO_F_ACCESS_PLATFORM);
		natural = 8;
		break;
	case GPC_VHOST_SET_PROTOCOL_FEATURES:
		pl.u64 = u64(in);
		if (fix)
			pl.u64 &= 0x1ffff;
		natural = 8;
		break;
	case GPC_VHOST_SET_STATUS:
		pl.u64 = u64(in);
		if (fix)
			pl.u64 &= 0xff;
		natural = 8;
		break;
	case GPC_VHOST_SET_MEM_TABLE: {
		uint32_t n = (uint32_t)u8(in);

		n = fix ? n % 4 : n;
		pl.mem.nregions = n;
		if (n > GPC_VHOST_MAX_REGIONS)
			n = GPC_VHOST_MAX_REGIONS;
		for (uint32_t i = 0; i < n; i++) {
			bytes(in, &pl.mem.regions[i],
			      sizeof(pl.mem.regions[i]));
			if (fix)
				pl.mem.regions[i] =
					fix_region(pl.mem.regions[i], &regm[i]);
		}
		natural = GPC_VHOST_MEM_TABLE_HDR_SIZE + 32 * n;
		want_fds = n;
		fdkind = 1;
		break;
	}
	case GPC_VHOST_ADD_MEM_REG:
	case GPC_VHOST_REM_MEM_REG:
		bytes(in, &pl.mem_reg.region, sizeof(pl.mem_reg.region));
		if (fix && req == GPC_VHOST_REM_MEM_REG && fe->nreg &&
		    !(pl.mem_reg.region.size & 1)) {
			/* Mostly one the model has. */
			const struct mregion *m =
				&fe->reg[pl.mem_reg.region.guest_addr %
					 fe->nreg];

			pl.mem_reg.region =
				(struct gpc_vhost_region){ m->gpa, m->size,
							   m->uaddr, m->off };
		} else if (fix) {
			pl.mem_reg.region =
				fix_region(pl.mem_reg.region, &regm[0]);
		}
		natural = sizeof(pl.mem_reg);
		want_fds = req == GPC_VHOST_ADD_MEM_REG;
		fdkind = 1;
		break;
	case GPC_VHOST_SET_VRING_NUM:
	case GPC_VHOST_SET_VRING_BASE:
	case GPC_VHOST_GET_VRING_BASE:
	case GPC_VHOST_SET_VRING_ENABLE:
		bytes(in, &pl.state, sizeof(pl.state));
		if (fix) {
			pl.state.index = fix_index(pl.state.index);
			if (req == GPC_VHOST_SET_VRING_NUM)
				pl.state.num = 1u << (pl.state.num % 10);
			else if (req == GPC_VHOST_SET_VRING_BASE)
				pl.state.num &=
					(pl.state.num & 0x100) ? 0xffff : 0xff;
			else if (req == GPC_VHOST_SET_VRING_ENABLE)
				pl.state.num &= 1;
		}
		natural = sizeof(pl.state);
		break;
	case GPC_VHOST_SET_VRING_ADDR:
		bytes(in, &pl.addr, sizeof(pl.addr));
		if (fix) {
			uint64_t d = pl.addr.desc_user_addr,
				 a = pl.addr.avail_user_addr,
				 u = pl.addr.used_user_addr;

			pl.addr.index = fix_index(pl.addr.index);
			pl.addr.flags &= 1;
			pl.addr.desc_user_addr = model_addr(
				fe, (uint8_t)d, (uint8_t)(d >> 8) & 3, false);
			pl.addr.avail_user_addr = model_addr(
				fe, (uint8_t)a, (uint8_t)(a >> 8) & 3, false);
			pl.addr.used_user_addr = model_addr(
				fe, (uint8_t)u, (uint8_t)(u >> 8) & 3, false);
			pl.addr.log_guest_addr &= 0xffff000;
		}
		natural = sizeof(pl.addr);
		break;
	case GPC_VHOST_SET_VRING_KICK:
	case GPC_VHOST_SET_VRING_CALL:
	case GPC_VHOST_SET_VRING_ERR:
		pl.u64 = u64(in);
		if (fix)
			pl.u64 = fix_index((uint32_t)pl.u64 & 0xff) |
				 (((pl.u64 >> 8) & 7) == 7 ?
					  GPC_VHOST_VRING_NOFD :
					  0);
		natural = 8;
		want_fds = !(pl.u64 & GPC_VHOST_VRING_NOFD);
		/* Each queue its own eventfd: kick 0 and 1 apart. */
		fdbase = req + 2 * (unsigned int)(pl.u64 & 1);
		if (req == GPC_VHOST_SET_VRING_KICK)
			vring_kick_q = (int)(pl.u64 & 0xff);
		break;
	case GPC_VHOST_GET_CONFIG:
	case GPC_VHOST_SET_CONFIG:
		bytes(in, &pl.config, GPC_VHOST_CONFIG_HDR_SIZE);
		if (fix) {
			pl.config.offset %= CFG_SIZE + 4;
			pl.config.size %= CFG_SIZE + 4;
			pl.config.flags &= 1;
		}
		len = pl.config.size < GPC_VHOST_MAX_CONFIG_SIZE ?
			      pl.config.size :
			      GPC_VHOST_MAX_CONFIG_SIZE;
		bytes(in, pl.config.payload, len);
		natural = GPC_VHOST_CONFIG_HDR_SIZE + len;
		break;
	case GPC_VHOST_SET_LOG_BASE:
		bytes(in, &pl.log, sizeof(pl.log));
		natural = sizeof(pl.log);
		want_fds = 1;
		break;
	case GPC_VHOST_SET_LOG_FD:
	case GPC_VHOST_SET_BACKEND_REQ_FD:
		want_fds = 1;
		break;
	case GPC_VHOST_IOTLB_MSG:
		bytes(in, &pl.iotlb, sizeof(pl.iotlb));
		natural = sizeof(pl.iotlb);
		break;
	case GPC_VHOST_GET_INFLIGHT_FD:
	case GPC_VHOST_SET_INFLIGHT_FD:
		bytes(in, &pl.inflight, sizeof(pl.inflight));
		natural = sizeof(pl.inflight);
		want_fds = req == GPC_VHOST_SET_INFLIGHT_FD;
		break;
	default:
		break;
	}

	/* The size field: mostly right. */
	memset(buf, 0, sizeof(buf));
	memcpy(buf, &pl, natural);
	switch ((f >> 2) & 3) {
	case 2:
		len = natural + (size_t)(int8_t)u8(in);
		if (len > sizeof(buf)) /* negative: wrapped */
			len = 0;
		break;
	case 3:
		len = u8(in);
		len |= (size_t)u8(in) << 8;
		if (len > sizeof(buf))
			len = sizeof(buf);
		break;
	default:
		len = natural;
	}
	h.size = (uint32_t)len;

	/* The fds: mostly the ones the request carries. */
	switch ((f >> 4) & 3) {
	case 2:
		nfds = want_fds + 1 + u8(in) % 3;
		break;
	case 3:
		nfds = want_fds ? want_fds - 1 : 1;
		break;
	default:
		nfds = want_fds;
	}
	for (unsigned int i = 0; i < nfds; i++) {
		if (fdkind == 1 && i < want_fds)
			fds[i] = memfd[regm[i]];
		else
			fds[i] = evfd[(i + fdbase) % NEVFD];
	}

	ok = send_raw(fe, &h, buf, len, fds, nfds);
	if (!ok) {
		fe->gone = true;
		return;
	}

	/* What the front-end now believes. */
	{
		switch (req) {
		case GPC_VHOST_SET_PROTOCOL_FEATURES:
			fe->reply_ack =
				pl.u64 >> GPC_VHOST_PROTOCOL_F_REPLY_ACK & 1;
			break;
		case GPC_VHOST_SET_MEM_TABLE:
			if (!fix)
				break;
			fe->nreg = 0;
			for (uint32_t i = 0;
			     i < pl.mem.nregions && i < GPC_VHOST_MAX_REGIONS;
			     i++)
				model_add(fe, &pl.mem.regions[i], regm[i]);
			break;
		case GPC_VHOST_ADD_MEM_REG:
			if (fix)
				model_add(fe, &pl.mem_reg.region, regm[0]);
			break;
		case GPC_VHOST_REM_MEM_REG:
			model_rem(fe, &pl.mem_reg.region);
			break;
		case GPC_VHOST_SET_VRING_NUM:
			if (pl.state.index < NQ)
				fe->q[pl.state.index].num = pl.state.num;
			break;
		case GPC_VHOST_SET_VRING_ADDR:
			if (pl.addr.index < NQ) {
				struct mqueue *q = &fe->q[pl.addr.index];

				q->addr_set = true;
				q->desc = pl.addr.desc_user_addr;
				q->avail = pl.addr.avail_user_addr;
				q->used = pl.addr.used_user_addr;
			}
			break;
		case GPC_VHOST_SET_VRING_KICK:
			if (vring_kick_q >= 0 && vring_kick_q < NQ)
				fe->q[vring_kick_q].kick =
					want_fds && nfds ? fds[0] : -1;
			break;
		default:
			break;
		}
	}

	/* Replies: wait for one we expect, drain the rest. */
	if (has_reply_body(req) ||
	    ((h.flags & GPC_VHOST_FLAG_NEED_REPLY) && fe->reply_ack)) {
		if (!wait_reply(fe, REPLY_WAIT_MS) && !has_reply_body(req))
			fe->reply_ack = false; /* learn: no ack comes */
	} else {
		drain(fe);
	}
}

/* ---- a kick ------------------------------------------------------------- */

static void op_kick(struct fe *fe, struct in *in)
{
	unsigned int qi = u8(in) % NQ, nb = u8(in);
	struct mqueue *q = &fe->q[qi];
	unsigned int nd = 1 + nb % 4, nread = (nb >> 2) % (nd + 1);
	unsigned int num = q->num;
	struct vring_desc *desc = NULL;
	struct vring_avail *avail = NULL;
	struct vring_used *used = NULL;
	uint64_t one = 1;
	uint16_t head, idx, used0 = 0;
	int kfd = q->kick >= 0 ? q->kick : evfd[qi];

	if (num && num <= QMAX && q->addr_set) {
		desc = (void *)model_ptr(fe, q->desc, 16ull * num, false);
		avail = (void *)model_ptr(fe, q->avail, 6 + 2ull * num, false);
		used = (void *)model_ptr(fe, q->used, 6 + 8ull * num, false);
	}
	if (!desc || !avail || !used ||
	    ((uintptr_t)desc | (uintptr_t)avail) & 1 || (uintptr_t)used & 3) {
		/* Consume the descriptor bytes all the same. */
		for (unsigned int i = 0; i < nd; i++)
			(void)u8(in), (void)u8(in), (void)u8(in);
		if (write(kfd, &one, 8) != 8) {
			/* a full counter: the kick is pending anyway */
		}
		return;
	}
	head = (uint16_t)(nb >> 4) % num;
	for (unsigned int i = 0; i < nd; i++) {
		uint8_t fs = u8(in), lb = u8(in), bs = u8(in);
		uint16_t at = (uint16_t)((head + i) % num);
		uint64_t gpa = model_addr(fe, bs, lb & 3, true);
		uint32_t len = 1 + (uint32_t)lb * 16;
		uint16_t flags = 0;
		uint8_t *p;

		if (i + 1 < nd)
			flags |= VRING_DESC_F_NEXT;
		if (i >= nread)
			flags |= VRING_DESC_F_WRITE;
		if (fs & 0x80)
			flags = fs & 7; /* raw, INDIRECT included */
		desc[at] = (struct vring_desc){
			.addr = gpa,
			.len = (fs & 0x40) ? len * 64 : len,
			.flags = flags,
			.next = (fs & 0x20) ? fs % num : (at + 1) % num,
		};
		/* The first readable buffer says whether to hold it. */
		p = model_ptr(fe, gpa, 1, true);
		if (i == 0 && p)
			*p = (fs & 0x10) ? 'H' : 'x';
	}
	idx = atomic_load_explicit((_Atomic uint16_t *)&avail->idx,
				   memory_order_relaxed);
	avail->ring[idx % num] = head;
	used0 = atomic_load_explicit((_Atomic uint16_t *)&used->idx,
				     memory_order_acquire);
	atomic_store_explicit((_Atomic uint16_t *)&avail->idx,
			      (uint16_t)(idx + 1), memory_order_release);
	if (write(kfd, &one, 8) != 8) {
		/* as above */
	}
	/* Give the datapath a moment, so that it runs before the close. */
	for (int t = 0; t < 20; t++) {
		if (atomic_load_explicit((_Atomic uint16_t *)&used->idx,
					 memory_order_acquire) != used0)
			break;
		usleep(50);
	}
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
			op_msg(&fe, &in, op == 15);
		} else if (op <= 13) {
			op_kick(&fe, &in);
		} else {
			wait_reply(&fe, 1);
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

/* ---- seeds -------------------------------------------------------------- */

struct seed {
	uint8_t b[2048];
	size_t n;
};

static void put(struct seed *s, const void *p, size_t len)
{
	CHECK(s->n + len <= sizeof(s->b), "seed too long");
	if (len)
		memcpy(s->b + s->n, p, len);
	s->n += len;
}

static void put8(struct seed *s, uint8_t v)
{
	put(s, &v, 1);
}

static unsigned int sup_index(uint32_t req)
{
	for (unsigned int i = 0; i < NSUP; i++)
		if (supported[i] == req)
			return i;
	CHECK(0, "request %u not in the list", req);
	return 0;
}

/* A message op: request, f (need_reply, fix-ups on), payload bytes. */
static void smsg(struct seed *s, uint32_t req, bool need_reply, const void *p,
		 size_t len)
{
	put8(s, 0);
	put8(s, (uint8_t)sup_index(req));
	put8(s, need_reply ? 1 : 0);
	put(s, p, len);
}

static void su64(struct seed *s, uint32_t req, uint64_t v)
{
	smsg(s, req, true, &v, 8);
}

static void sstate(struct seed *s, uint32_t req, uint32_t i, uint32_t n)
{
	struct vhost_vring_state st = { i, n };

	smsg(s, req, true, &st, sizeof(st));
}

/*
 * The raw bytes that fix_region() turns into "all of memfd m at guest
 * base g, user base u" (the size's bit 0 clear: the whole file).
 */
static struct gpc_vhost_region sregion(unsigned int m, unsigned int g,
				       unsigned int u)
{
	return (struct gpc_vhost_region){
		.guest_addr = ((uint64_t)m << 63) | g,
		.size = 0,
		.user_addr = u,
		.mmap_offset = 0,
	};
}

/*
 * A queue on region 0 (memfd A at GPA 1 MiB, UBASE): model_addr() picks
 * page sel >> 4 of region sel % nreg.
 */
static void squeue(struct seed *s, unsigned int q, uint8_t page)
{
	struct vhost_vring_addr a = {
		.index = q,
		.desc_user_addr = (uint64_t)page << 4,
		.avail_user_addr = (uint64_t)(page + 1) << 4,
		.used_user_addr = (uint64_t)(page + 2) << 4,
	};
	uint64_t v = q;

	sstate(s, GPC_VHOST_SET_VRING_NUM, q, 4); /* 1 << 4 = 16 */
	smsg(s, GPC_VHOST_SET_VRING_ADDR, true, &a, sizeof(a));
	sstate(s, GPC_VHOST_SET_VRING_BASE, q, 0);
	su64(s, GPC_VHOST_SET_VRING_CALL, v);
	su64(s, GPC_VHOST_SET_VRING_KICK, v);
	sstate(s, GPC_VHOST_SET_VRING_ENABLE, q, 1);
}

/* A kick of two descriptors (readable page 8, writable page 9). */
static void skick(struct seed *s, unsigned int q, bool hold)
{
	put8(s, 12);
	put8(s, (uint8_t)q);
	put8(s, 1 | (1 << 2)); /* 2 descriptors, 1 readable, head 0 */
	put8(s, hold ? 0x10 : 0);
	put8(s, 4); /* 65 bytes */
	put8(s, 8 << 4);
	put8(s, 0);
	put8(s, 4);
	put8(s, 9 << 4);
}

static void negotiate(struct seed *s, uint64_t features)
{
	uint64_t proto = (1ull << GPC_VHOST_PROTOCOL_F_MQ) |
			 (1ull << GPC_VHOST_PROTOCOL_F_REPLY_ACK) |
			 (1ull << GPC_VHOST_PROTOCOL_F_CONFIG) |
			 (1ull << GPC_VHOST_PROTOCOL_F_CONFIGURE_MEM_SLOTS) |
			 (1ull << GPC_VHOST_PROTOCOL_F_STATUS);

	smsg(s, GPC_VHOST_GET_FEATURES, false, NULL, 0);
	smsg(s, GPC_VHOST_GET_PROTOCOL_FEATURES, false, NULL, 0);
	su64(s, GPC_VHOST_SET_PROTOCOL_FEATURES, proto);
	smsg(s, GPC_VHOST_SET_OWNER, true, NULL, 0);
	su64(s, GPC_VHOST_SET_FEATURES, features);
}

static void smem_table(struct seed *s, unsigned int n)
{
	put8(s, 0);
	put8(s, (uint8_t)sup_index(GPC_VHOST_SET_MEM_TABLE));
	put8(s, 1);
	put8(s, (uint8_t)n);
	for (unsigned int i = 0; i < n; i++) {
		struct gpc_vhost_region r = sregion(i & 1, i, i);

		put(s, &r, sizeof(r));
	}
}

static void write_seed(const char *dir, const char *name, const struct seed *s)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	CHECK(f && fwrite(s->b, 1, s->n, f) == s->n && !fclose(f),
	      "cannot write %s", path);
}

static void write_seeds(const char *dir)
{
	const uint64_t feat = (1ull << VIRTIO_F_VERSION_1) |
			      (1ull << GPC_VHOST_F_PROTOCOL_FEATURES) |
			      (1ull << VIRTIO_RING_F_INDIRECT_DESC);
	struct seed s;

	for (uint8_t scheme = 0; scheme < 2; scheme++) {
		char name[64];

		/* The full valid session: negotiate, memory, queue, I/O. */
		s.n = 0;
		put8(&s, scheme);
		negotiate(&s, feat);
		smem_table(&s, 1);
		squeue(&s, 0, 0);
		skick(&s, 0, false);
		skick(&s, 0, true);
		sstate(&s, GPC_VHOST_GET_VRING_BASE, 0, 0);
		snprintf(name, sizeof(name), "session-%s",
			 scheme ? "rwlock" : "srcu");
		write_seed(dir, name, &s);

		/* EVENT_IDX, two queues, ADD/REM_MEM_REG under a held request. */
		s.n = 0;
		put8(&s, scheme);
		negotiate(&s, feat | 1ull << VIRTIO_RING_F_EVENT_IDX);
		smem_table(&s, 1);
		{
			struct gpc_vhost_mem_reg r = { 0, sregion(1, 1, 1) };

			smsg(&s, GPC_VHOST_ADD_MEM_REG, true, &r.region,
			     sizeof(r.region));
		}
		squeue(&s, 0, 0);
		squeue(&s, 1, 4);
		skick(&s, 0, true);
		skick(&s, 1, false);
		{
			/* REM_MEM_REG of model region 1 (guest_addr % nreg). */
			struct gpc_vhost_region r = { .guest_addr = 1 };

			smsg(&s, GPC_VHOST_REM_MEM_REG, true, &r, sizeof(r));
		}
		sstate(&s, GPC_VHOST_GET_VRING_BASE, 1, 0);
		smsg(&s, GPC_VHOST_RESET_OWNER, true, NULL, 0);
		snprintf(name, sizeof(name), "two-queues-%s",
			 scheme ? "rwlock" : "srcu");
		write_seed(dir, name, &s);
	}

	/* Memory table churn: two regions, then a table that keeps one. */
	s.n = 0;
	put8(&s, 0);
	negotiate(&s, feat);
	smem_table(&s, 2);
	squeue(&s, 0, 0);
	smem_table(&s, 1);
	skick(&s, 0, false);
	smem_table(&s, 0);
	write_seed(dir, "table-churn", &s);

	/* Config space, status, queue count, slots, back-end channel. */
	s.n = 0;
	put8(&s, 1);
	negotiate(&s, feat);
	smsg(&s, GPC_VHOST_GET_QUEUE_NUM, false, NULL, 0);
	smsg(&s, GPC_VHOST_GET_MAX_MEM_SLOTS, false, NULL, 0);
	{
		uint8_t c[12 + 4] = { 2, 0, 0, 0, 4, 0, 0, 0,
				      0, 0, 0, 0, 1, 2, 3, 4 };

		smsg(&s, GPC_VHOST_SET_CONFIG, true, c, sizeof(c));
		smsg(&s, GPC_VHOST_GET_CONFIG, false, c, sizeof(c));
	}
	su64(&s, GPC_VHOST_SET_STATUS, 0xf);
	smsg(&s, GPC_VHOST_GET_STATUS, false, NULL, 0);
	smsg(&s, GPC_VHOST_RESET_DEVICE, true, NULL, 0);
	write_seed(dir, "config-status", &s);

	/* Before SET_OWNER, and a wrong size: the refusals. */
	s.n = 0;
	put8(&s, 0);
	smsg(&s, GPC_VHOST_GET_FEATURES, false, NULL, 0);
	sstate(&s, GPC_VHOST_SET_VRING_NUM, 0, 4);
	write_seed(dir, "before-owner", &s);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *dir = getenv("FUZZ_VHOST_DEV_WRITE_SEEDS");

	(void)argc;
	(void)argv;
	if (dir) {
		write_seeds(dir);
		exit(0);
	}
	return 0;
}
