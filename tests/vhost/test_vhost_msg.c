// SPDX-License-Identifier: MIT
/*
 * test_vhost_msg.c - the vhost-user message layer (src/vhost/msg.h) over a
 * socketpair(AF_UNIX, SOCK_STREAM): sv[0] is the back-end's end, sv[1]
 * plays the front-end.
 *
 * Every request is sent once well-formed (it must validate and arrive
 * intact) and then malformed in each way its table row allows (size, fd
 * count, fields); then the stream-level failures (too many fds, truncated
 * header, payload too big, the peer gone mid-message, timeouts), replies
 * and the back-end channel. Every test also checks that no fd leaks: the
 * teardown compares the number of entries in /proc/self/fd with the count
 * its setup took.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "msg.h"

/* ---- fixtures ------------------------------------------------------------- */

static int open_fd_count(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the DIR's own fd */
}

struct fixture {
	int sv[2];
	int fd_base;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	f->fd_base = open_fd_count();
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, f->sv))
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	int now;

	if (f->sv[0] >= 0)
		close(f->sv[0]);
	if (f->sv[1] >= 0)
		close(f->sv[1]);
	now = open_fd_count();
	if (now != f->fd_base) {
		fprintf(stderr, "fd leak: %d open before, %d after\n",
			f->fd_base, now);
		free(f);
		return -1;
	}
	free(f);
	return 0;
}

#define BE(f) ((f)->sv[0])
#define FE(f) ((f)->sv[1])

/* ---- helpers -------------------------------------------------------------- */

/*
 * Send from the front-end's end with n fresh eventfds (closed here after
 * the send: the receiver's copies are then the only ones).
 */
static void fe_send(struct fixture *f, uint32_t req, uint32_t flags,
		    const void *payload, uint32_t size, unsigned int n)
{
	struct gpc_vhost_hdr h = { .request = req,
				   .flags = flags,
				   .size = size };
	int fds[GPC_VHOST_MAX_FDS];

	assert_true(n <= GPC_VHOST_MAX_FDS);
	for (unsigned int i = 0; i < n; i++) {
		fds[i] = eventfd(0, EFD_CLOEXEC);
		assert_true(fds[i] >= 0);
	}
	assert_int_equal(gpc_vhost_msg_send(FE(f), &h, payload, fds, n, 1000),
			 0);
	for (unsigned int i = 0; i < n; i++)
		close(fds[i]);
}

/* Raw bytes with n fds (any number, unlike gpc_vhost_msg_send). */
static void raw_send(int sock, const void *buf, size_t len, unsigned int n)
{
	union {
		struct cmsghdr align;
		char b[CMSG_SPACE(sizeof(int) * 64)];
	} ctl;
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	int fds[64];

	assert_true(n <= 64);
	if (n) {
		struct cmsghdr *c;

		memset(&ctl, 0, sizeof(ctl));
		for (unsigned int i = 0; i < n; i++) {
			fds[i] = eventfd(0, EFD_CLOEXEC);
			assert_true(fds[i] >= 0);
		}
		mh.msg_control = ctl.b;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * n);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * n);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * n);
	}
	assert_int_equal(sendmsg(sock, &mh, MSG_NOSIGNAL), (ssize_t)len);
	for (unsigned int i = 0; i < n; i++)
		close(fds[i]);
}

/* Receive on the back-end's end and validate; returns the validator's. */
static int be_take(struct fixture *f, struct gpc_vhost_msg *m, const char **why)
{
	*why = NULL;
	assert_int_equal(gpc_vhost_msg_recv(BE(f), m, 1000), 0);
	return gpc_vhost_msg_validate(m, why);
}

/*
 * Send, receive, validate: expect `want`. On success the fds are checked
 * (open, close-on-exec) and closed; on failure they must already be gone.
 */
static void expect(struct fixture *f, uint32_t req, uint32_t flags,
		   const void *payload, uint32_t size, unsigned int n, int want)
{
	struct gpc_vhost_msg m;
	const char *why;
	int rc;

	fe_send(f, req, flags, payload, size, n);
	rc = be_take(f, &m, &why);
	if (rc != want)
		fail_msg("%s size %u fds %u: got %d (%s), want %d",
			 gpc_vhost_msg_name(req), size, n, rc, why ? why : "-",
			 want);
	if (rc) {
		assert_non_null(why);
		assert_int_equal(m.nfds, 0);
	} else {
		assert_int_equal(m.hdr.request, req);
		assert_int_equal(m.hdr.size, size);
		if (size)
			assert_memory_equal(&m.payload, payload, size);
		for (unsigned int i = 0; i < m.nfds; i++) {
			int fl = fcntl(m.fds[i], F_GETFD);

			assert_true(fl >= 0 && (fl & FD_CLOEXEC));
		}
	}
	gpc_vhost_msg_close_fds(&m);
}

#define V GPC_VHOST_VERSION

/* ---- every supported request: valid, wrong size, wrong fd count ---------- */

struct shape {
	uint32_t req;
	uint32_t size;
	unsigned int fds;
};

/* Requests whose payload is fixed-size and whose fields any bytes fill. */
static const struct shape fixed[] = {
	{ GPC_VHOST_GET_FEATURES, 0, 0 },
	{ GPC_VHOST_SET_FEATURES, 8, 0 },
	{ GPC_VHOST_SET_OWNER, 0, 0 },
	{ GPC_VHOST_RESET_OWNER, 0, 0 },
	{ GPC_VHOST_SET_LOG_FD, 0, 1 },
	{ GPC_VHOST_SET_VRING_NUM, 8, 0 },
	{ GPC_VHOST_SET_VRING_BASE, 8, 0 },
	{ GPC_VHOST_GET_VRING_BASE, 8, 0 },
	{ GPC_VHOST_GET_PROTOCOL_FEATURES, 0, 0 },
	{ GPC_VHOST_SET_PROTOCOL_FEATURES, 8, 0 },
	{ GPC_VHOST_GET_QUEUE_NUM, 0, 0 },
	{ GPC_VHOST_SET_BACKEND_REQ_FD, 0, 1 },
	{ GPC_VHOST_RESET_DEVICE, 0, 0 },
	{ GPC_VHOST_GET_MAX_MEM_SLOTS, 0, 0 },
	{ GPC_VHOST_GET_STATUS, 0, 0 },
};

static void test_fixed_shapes(void **state)
{
	struct fixture *f = *state;
	uint8_t buf[64];

	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 37 + 1);
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
		const struct shape *s = &fixed[i];

		expect(f, s->req, V, buf, s->size, s->fds, 0);
		/* need_reply is allowed on any request. */
		expect(f, s->req, V | GPC_VHOST_FLAG_NEED_REPLY, buf, s->size,
		       s->fds, 0);
		expect(f, s->req, V, buf, s->size + 1, s->fds, -EBADMSG);
		expect(f, s->req, V, buf, s->size + 8, s->fds, -EBADMSG);
		if (s->size)
			expect(f, s->req, V, buf, s->size - 1, s->fds,
			       -EBADMSG);
		expect(f, s->req, V, buf, s->size, s->fds + 1, -EBADF);
		if (s->fds)
			expect(f, s->req, V, buf, s->size, 0, -EBADF);
	}
}

static struct gpc_vhost_region region(uint64_t gpa, uint64_t size)
{
	return (struct gpc_vhost_region){ .guest_addr = gpa,
					  .size = size,
					  .user_addr = 0x7f0000000000ull + gpa,
					  .mmap_offset = 0 };
}

static void test_mem_table(void **state)
{
	struct fixture *f = *state;
	/* Room past the table: some cases send more bytes than it has. */
	union {
		struct gpc_vhost_mem_table t;
		uint8_t room[512];
	} u = { 0 };
	struct gpc_vhost_mem_table *tp = &u.t;
	uint32_t sz;

	for (uint32_t n = 0; n <= GPC_VHOST_MAX_REGIONS; n++) {
		tp->nregions = n;
		for (uint32_t i = 0; i < n; i++)
			tp->regions[i] = region((uint64_t)i << 30, 1u << 20);
		sz = 8 + 32 * n;
		expect(f, GPC_VHOST_SET_MEM_TABLE, V, tp, sz, n, 0);
		/* One fd short, one too many. */
		if (n)
			expect(f, GPC_VHOST_SET_MEM_TABLE, V, tp, sz, n - 1,
			       -EBADF);
		if (n < GPC_VHOST_MAX_FDS)
			expect(f, GPC_VHOST_SET_MEM_TABLE, V, tp, sz, n + 1,
			       -EBADF);
		/* The size of one region more, or one fewer. */
		if (n < GPC_VHOST_MAX_REGIONS)
			expect(f, GPC_VHOST_SET_MEM_TABLE, V, tp, sz + 32, n,
			       -EBADMSG);
		if (n)
			expect(f, GPC_VHOST_SET_MEM_TABLE, V, tp, sz - 32, n,
			       -EBADMSG);
		expect(f, GPC_VHOST_SET_MEM_TABLE, V, tp, sz + 1, n, -EBADMSG);
	}
	/* The whole table's size with fewer regions (some peers pad). */
	tp->nregions = 2;
	expect(f, GPC_VHOST_SET_MEM_TABLE, V, tp, sizeof(*tp), 2, -EBADMSG);
	/* Too short for the countp-> */
	expect(f, GPC_VHOST_SET_MEM_TABLE, V, tp, 4, 0, -EBADMSG);
	/* More than 8 regions. */
	tp->nregions = 9;
	expect(f, GPC_VHOST_SET_MEM_TABLE, V, tp, sizeof(*tp), 8, -ERANGE);
	tp->nregions = 0xffffffffu;
	expect(f, GPC_VHOST_SET_MEM_TABLE, V, tp, sizeof(*tp), 8, -ERANGE);
	/* Bad regions. */
	tp->nregions = 2;
	tp->regions[0] = region(0, 1 << 20);
	tp->regions[1] = region(1 << 30, 0);
	expect(f, GPC_VHOST_SET_MEM_TABLE, V, tp, 8 + 64, 2, -ERANGE);
	tp->regions[1] = region(~0ull - 4095, 8192);
	expect(f, GPC_VHOST_SET_MEM_TABLE, V, tp, 8 + 64, 2, -ERANGE);
	tp->regions[1] = region(1 << 30, 4096);
	tp->regions[1].user_addr = ~0ull;
	expect(f, GPC_VHOST_SET_MEM_TABLE, V, tp, 8 + 64, 2, -ERANGE);
	tp->regions[1] = region(1 << 30, 4096);
	tp->regions[1].mmap_offset = ~0ull - 100;
	expect(f, GPC_VHOST_SET_MEM_TABLE, V, tp, 8 + 64, 2, -ERANGE);
	/* A region ending exactly at 2^64 - 1 does not wrap. */
	tp->regions[1] = region(~0ull - 4095, 4096);
	tp->regions[1].user_addr = 0;
	expect(f, GPC_VHOST_SET_MEM_TABLE, V, tp, 8 + 64, 2, 0);
}

static void test_mem_reg(void **state)
{
	struct fixture *f = *state;
	union {
		struct gpc_vhost_mem_reg r;
		uint8_t room[64];
	} u = { .r = { .region = region(1ull << 32, 1 << 27) } };
	struct gpc_vhost_mem_reg *rp = &u.r;
	uint32_t sz = sizeof(*rp);

	expect(f, GPC_VHOST_ADD_MEM_REG, V, rp, sz, 1, 0);
	expect(f, GPC_VHOST_ADD_MEM_REG, V, rp, sz, 0, -EBADF);
	expect(f, GPC_VHOST_ADD_MEM_REG, V, rp, sz, 2, -EBADF);
	expect(f, GPC_VHOST_ADD_MEM_REG, V, rp, sz - 8, 1, -EBADMSG);
	expect(f, GPC_VHOST_ADD_MEM_REG, V, rp, sz + 8, 1, -EBADMSG);
	/* The spec's two forms of REM_MEM_REG: no fd, or one that is closed. */
	expect(f, GPC_VHOST_REM_MEM_REG, V, rp, sz, 0, 0);
	{
		struct gpc_vhost_msg m;
		const char *why;

		fe_send(f, GPC_VHOST_REM_MEM_REG, V, rp, sz, 1);
		assert_int_equal(be_take(f, &m, &why), 0);
		assert_int_equal(m.nfds, 0); /* closed by the validator */
	}
	expect(f, GPC_VHOST_REM_MEM_REG, V, rp, sz, 2, -EBADF);
	expect(f, GPC_VHOST_REM_MEM_REG, V, rp, sz - 1, 0, -EBADMSG);
	rp->region.size = 0;
	expect(f, GPC_VHOST_ADD_MEM_REG, V, rp, sz, 1, -ERANGE);
	expect(f, GPC_VHOST_REM_MEM_REG, V, rp, sz, 0, -ERANGE);
}

static void test_log(void **state)
{
	struct fixture *f = *state;
	struct gpc_vhost_log l = { .mmap_size = 1 << 20, .mmap_offset = 4096 };

	expect(f, GPC_VHOST_SET_LOG_BASE, V, &l, sizeof(l), 1, 0);
	expect(f, GPC_VHOST_SET_LOG_BASE, V, &l, sizeof(l), 0, -EBADF);
	expect(f, GPC_VHOST_SET_LOG_BASE, V, &l, sizeof(l), 2, -EBADF);
	/* The legacy form (a u64 and no fd, without LOG_SHMFD). */
	expect(f, GPC_VHOST_SET_LOG_BASE, V, &l, 8, 0, -EBADMSG);
	l.mmap_size = 0;
	expect(f, GPC_VHOST_SET_LOG_BASE, V, &l, sizeof(l), 1, -ERANGE);
	l.mmap_size = 2;
	l.mmap_offset = ~0ull;
	expect(f, GPC_VHOST_SET_LOG_BASE, V, &l, sizeof(l), 1, -ERANGE);
}

static void test_vring_fd(void **state)
{
	struct fixture *f = *state;
	const uint32_t reqs[] = { GPC_VHOST_SET_VRING_KICK,
				  GPC_VHOST_SET_VRING_CALL,
				  GPC_VHOST_SET_VRING_ERR };

	for (size_t i = 0; i < 3; i++) {
		uint64_t v = 5;

		expect(f, reqs[i], V, &v, 8, 1, 0);
		expect(f, reqs[i], V, &v, 8, 0, -EBADF);
		expect(f, reqs[i], V, &v, 8, 2, -EBADF);
		expect(f, reqs[i], V, &v, 4, 1, -EBADMSG);
		v = 0xff | GPC_VHOST_VRING_NOFD;
		expect(f, reqs[i], V, &v, 8, 0, 0);
		expect(f, reqs[i], V, &v, 8, 1, -EBADF);
		v = 1ull << 9;
		expect(f, reqs[i], V, &v, 8, 1, -ERANGE);
		v = (1ull << 63) | GPC_VHOST_VRING_NOFD;
		expect(f, reqs[i], V, &v, 8, 0, -ERANGE);
	}
}

static void test_vring_state_addr(void **state)
{
	struct fixture *f = *state;
	struct vhost_vring_addr a = { .index = 1,
				      .flags = 1u << VHOST_VRING_F_LOG,
				      .desc_user_addr = 0x1000,
				      .used_user_addr = 0x3000,
				      .avail_user_addr = 0x2000,
				      .log_guest_addr = 0x9000 };
	struct vhost_vring_state s = { .index = 0, .num = 1 };

	expect(f, GPC_VHOST_SET_VRING_ADDR, V, &a, sizeof(a), 0, 0);
	expect(f, GPC_VHOST_SET_VRING_ADDR, V, &a, sizeof(a) - 8, 0, -EBADMSG);
	expect(f, GPC_VHOST_SET_VRING_ADDR, V, &a, sizeof(a), 1, -EBADF);
	a.flags = 2;
	expect(f, GPC_VHOST_SET_VRING_ADDR, V, &a, sizeof(a), 0, -ERANGE);

	expect(f, GPC_VHOST_SET_VRING_ENABLE, V, &s, sizeof(s), 0, 0);
	s.num = 0;
	expect(f, GPC_VHOST_SET_VRING_ENABLE, V, &s, sizeof(s), 0, 0);
	s.num = 2;
	expect(f, GPC_VHOST_SET_VRING_ENABLE, V, &s, sizeof(s), 0, -ERANGE);
	expect(f, GPC_VHOST_SET_VRING_ENABLE, V, &s, 4, 0, -EBADMSG);
}

static void test_iotlb(void **state)
{
	struct fixture *f = *state;
	struct vhost_iotlb_msg m = { .iova = 0x100000,
				     .size = 0x1000,
				     .uaddr = 0x7f0000100000ull,
				     .perm = VHOST_ACCESS_RW,
				     .type = VHOST_IOTLB_UPDATE };
	uint32_t sz = sizeof(m);

	expect(f, GPC_VHOST_IOTLB_MSG, V | GPC_VHOST_FLAG_NEED_REPLY, &m, sz, 0,
	       0);
	expect(f, GPC_VHOST_IOTLB_MSG, V, &m, sz, 1, -EBADF);
	/* The packed size (26) some might compute is not what QEMU sends. */
	expect(f, GPC_VHOST_IOTLB_MSG, V, &m, 26, 0, -EBADMSG);
	m.perm = 0;
	expect(f, GPC_VHOST_IOTLB_MSG, V, &m, sz, 0, -ERANGE);
	m.perm = 4;
	expect(f, GPC_VHOST_IOTLB_MSG, V, &m, sz, 0, -ERANGE);
	m.perm = VHOST_ACCESS_RO;
	m.size = 0;
	expect(f, GPC_VHOST_IOTLB_MSG, V, &m, sz, 0, -ERANGE);
	m.size = 0x1000;
	m.iova = ~0ull - 10;
	expect(f, GPC_VHOST_IOTLB_MSG, V, &m, sz, 0, -ERANGE);
	/* An invalidation of "everything" (QEMU: mask + 1 == 0) is fine. */
	m.type = VHOST_IOTLB_INVALIDATE;
	m.iova = 0;
	m.size = 0;
	expect(f, GPC_VHOST_IOTLB_MSG, V, &m, sz, 0, 0);
	/* Misses and access failures go the other way. */
	m.type = VHOST_IOTLB_MISS;
	expect(f, GPC_VHOST_IOTLB_MSG, V, &m, sz, 0, -ERANGE);
	m.type = VHOST_IOTLB_ACCESS_FAIL;
	expect(f, GPC_VHOST_IOTLB_MSG, V, &m, sz, 0, -ERANGE);
	m.type = 0;
	expect(f, GPC_VHOST_IOTLB_MSG, V, &m, sz, 0, -ERANGE);
}

static void test_config(void **state)
{
	struct fixture *f = *state;
	struct gpc_vhost_config c = { .offset = 0, .size = 60, .flags = 0 };
	const uint32_t reqs[] = { GPC_VHOST_GET_CONFIG, GPC_VHOST_SET_CONFIG };

	for (size_t i = 0; i < sizeof(c.payload); i++)
		c.payload[i] = (uint8_t)i;
	for (size_t i = 0; i < 2; i++) {
		uint32_t r = reqs[i];

		c.offset = 0;
		c.size = 60;
		c.flags = GPC_VHOST_CONFIG_WRITABLE;
		expect(f, r, V, &c, 12 + 60, 0, 0);
		c.flags = GPC_VHOST_CONFIG_MIGRATION;
		expect(f, r, V, &c, 12 + 60, 0, 0);
		expect(f, r, V, &c, 12 + 60, 1, -EBADF);
		expect(f, r, V, &c, 12 + 59, 0, -EBADMSG);
		expect(f, r, V, &c, 12 + 61, 0, -EBADMSG);
		expect(f, r, V, &c, 8, 0, -EBADMSG);
		c.size = 0;
		expect(f, r, V, &c, 12, 0, 0);
		c.size = 256;
		expect(f, r, V, &c, 12 + 256, 0, 0);
		c.size = 257;
		expect(f, r, V, &c, 12 + 256, 0, -ERANGE);
		c.size = 16;
		c.offset = 240;
		expect(f, r, V, &c, 12 + 16, 0, 0);
		c.offset = 241;
		expect(f, r, V, &c, 12 + 16, 0, -ERANGE);
		c.offset = 0xffffffffu;
		expect(f, r, V, &c, 12 + 16, 0, -ERANGE);
		c.offset = 0;
		c.flags = 2;
		expect(f, r, V, &c, 12 + 16, 0, -ERANGE);
	}
}

static void test_inflight_status(void **state)
{
	struct fixture *f = *state;
	struct gpc_vhost_inflight in = { .mmap_size = 0,
					 .mmap_offset = 0,
					 .num_queues = 2,
					 .queue_size = 256 };
	uint64_t st = 0x0f;

	expect(f, GPC_VHOST_GET_INFLIGHT_FD, V, &in, sizeof(in), 0, 0);
	expect(f, GPC_VHOST_GET_INFLIGHT_FD, V, &in, sizeof(in), 1, -EBADF);
	expect(f, GPC_VHOST_GET_INFLIGHT_FD, V, &in, 20, 0, -EBADMSG);
	in.mmap_size = 8192;
	expect(f, GPC_VHOST_SET_INFLIGHT_FD, V, &in, sizeof(in), 1, 0);
	expect(f, GPC_VHOST_SET_INFLIGHT_FD, V, &in, sizeof(in), 0, -EBADF);
	in.mmap_offset = ~0ull;
	expect(f, GPC_VHOST_SET_INFLIGHT_FD, V, &in, sizeof(in), 1, -ERANGE);

	expect(f, GPC_VHOST_SET_STATUS, V, &st, 8, 0, 0);
	st = 0x100;
	expect(f, GPC_VHOST_SET_STATUS, V, &st, 8, 0, -ERANGE);
	expect(f, GPC_VHOST_SET_STATUS, V, &st, 8, 1, -ERANGE);
}

/* ---- the header ---------------------------------------------------------- */

static void test_header_flags(void **state)
{
	struct fixture *f = *state;
	uint64_t v = 0;

	expect(f, GPC_VHOST_SET_FEATURES, 0, &v, 8, 0, -EPROTO);
	expect(f, GPC_VHOST_SET_FEATURES, 2, &v, 8, 0, -EPROTO);
	expect(f, GPC_VHOST_SET_FEATURES, 3, &v, 8, 0, -EPROTO);
	expect(f, GPC_VHOST_SET_FEATURES, V | GPC_VHOST_FLAG_REPLY, &v, 8, 0,
	       -EPROTO);
	expect(f, GPC_VHOST_SET_FEATURES, V | (1u << 4), &v, 8, 0, -EPROTO);
	expect(f, GPC_VHOST_SET_FEATURES, V | (1u << 31), &v, 8, 0, -EPROTO);
	/* The fds of a message refused for its header are closed too. */
	expect(f, GPC_VHOST_SET_LOG_FD, 0, NULL, 0, 1, -EPROTO);
}

static void test_unknown_requests(void **state)
{
	struct fixture *f = *state;
	const uint32_t reqs[] = { 0,
				  GPC_VHOST_SEND_RARP,
				  GPC_VHOST_NET_SET_MTU,
				  GPC_VHOST_SET_VRING_ENDIAN,
				  GPC_VHOST_POSTCOPY_ADVISE,
				  GPC_VHOST_GPU_SET_SOCKET,
				  GPC_VHOST_VRING_KICK,
				  GPC_VHOST_REQUEST_MAX,
				  1000,
				  0xffffffffu };
	uint64_t v = 0;

	for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
		expect(f, reqs[i], V, &v, 8, 0, -EOPNOTSUPP);
		expect(f, reqs[i], V, &v, 8, 3, -EOPNOTSUPP);
	}
	assert_string_equal(gpc_vhost_msg_name(GPC_VHOST_SET_MEM_TABLE),
			    "SET_MEM_TABLE");
	assert_string_equal(gpc_vhost_msg_name(1000), "?");
	assert_string_equal(
		gpc_vhost_backend_msg_name(GPC_VHOST_BACKEND_IOTLB_MSG),
		"IOTLB_MSG");
}

/* ---- the stream ------------------------------------------------------------ */

/* More than 8 fds in one piece: the kernel truncates, all are closed. */
static void test_too_many_fds(void **state)
{
	struct fixture *f = *state;
	const unsigned int counts[] = { 9, 12, 32, 64 };
	struct gpc_vhost_hdr h = { GPC_VHOST_SET_OWNER, V, 0 };
	struct gpc_vhost_msg m;

	for (size_t i = 0; i < 4; i++) {
		raw_send(FE(f), &h, sizeof(h), counts[i]);
		assert_int_equal(gpc_vhost_msg_recv(BE(f), &m, 1000),
				 -ETOOMANYREFS);
		assert_int_equal(m.nfds, 0);
	}
}

/*
 * fds on two pieces of one message: 8 in all is a message, 5 + 5 is too
 * many. The second piece is the payload.
 */
static void test_fds_in_pieces(void **state)
{
	struct fixture *f = *state;
	struct gpc_vhost_mem_table t = { .nregions = 8 };
	struct gpc_vhost_hdr h = { GPC_VHOST_SET_MEM_TABLE, V, 8 + 8 * 32 };
	struct gpc_vhost_msg m;
	const char *why;

	for (int i = 0; i < 8; i++)
		t.regions[i] = region((uint64_t)i << 30, 4096);
	raw_send(FE(f), &h, sizeof(h), 3);
	raw_send(FE(f), &t, h.size, 5);
	assert_int_equal(be_take(f, &m, &why), 0);
	assert_int_equal(m.nfds, 8);
	gpc_vhost_msg_close_fds(&m);

	raw_send(FE(f), &h, sizeof(h), 5);
	raw_send(FE(f), &t, h.size, 5);
	assert_int_equal(gpc_vhost_msg_recv(BE(f), &m, 1000), -ETOOMANYREFS);
	assert_int_equal(m.nfds, 0);
}

/* A header in three pieces arrives whole. */
static void test_split_header(void **state)
{
	struct fixture *f = *state;
	struct {
		struct gpc_vhost_hdr h;
		uint64_t v;
	} __attribute__((packed))
	w = { { GPC_VHOST_SET_FEATURES, V, 8 }, 0x1234 };
	struct gpc_vhost_msg m;
	const char *why;

	raw_send(FE(f), &w, 5, 0);
	raw_send(FE(f), (char *)&w + 5, 9, 1);
	raw_send(FE(f), (char *)&w + 14, sizeof(w) - 14, 0);
	/* The fd came with the middle piece; SET_FEATURES takes none. */
	assert_int_equal(be_take(f, &m, &why), -EBADF);
	raw_send(FE(f), &w, 7, 0);
	raw_send(FE(f), (char *)&w + 7, sizeof(w) - 7, 0);
	assert_int_equal(be_take(f, &m, &why), 0);
	assert_int_equal(m.payload.u64, 0x1234);
}

static void test_truncated_header(void **state)
{
	struct fixture *f = *state;
	struct gpc_vhost_hdr h = { GPC_VHOST_SET_OWNER, V, 0 };
	struct gpc_vhost_msg m;

	/* Nothing queued: -EAGAIN, with or without a wait. */
	assert_int_equal(gpc_vhost_msg_recv(BE(f), &m, 0), -EAGAIN);
	assert_int_equal(gpc_vhost_msg_recv(BE(f), &m, 20), -EAGAIN);
	/* Half a header and a stalled peer: -ETIMEDOUT after the timeout. */
	raw_send(FE(f), &h, 5, 2);
	assert_int_equal(gpc_vhost_msg_recv(BE(f), &m, 50), -ETIMEDOUT);
	assert_int_equal(m.nfds, 0);
	/* Half a header and the peer gone: -ECONNRESET. */
	close(f->sv[0]);
	close(f->sv[1]);
	assert_int_equal(
		socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, f->sv), 0);
	raw_send(FE(f), &h, 11, 1);
	close(f->sv[1]);
	f->sv[1] = -1;
	assert_int_equal(gpc_vhost_msg_recv(BE(f), &m, -1), -ECONNRESET);
	assert_int_equal(m.nfds, 0);
}

static volatile sig_atomic_t alarms;

static void on_alarm(int sig)
{
	(void)sig;
	alarms++;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/*
 * Signals (no SA_RESTART) every 5 ms while a receive waits 100 ms: EINTR is
 * retried and the wait still ends at the caller's deadline, not earlier.
 */
static void test_eintr(void **state)
{
	struct fixture *f = *state;
	struct sigaction sa = { .sa_handler = on_alarm }, old;
	struct itimerval it = { { 0, 5000 }, { 0, 5000 } }, off = { 0 };
	struct gpc_vhost_hdr h = { GPC_VHOST_SET_OWNER, V, 0 };
	struct gpc_vhost_msg m;
	double t0, dt;
	int rc;

	sigemptyset(&sa.sa_mask);
	assert_int_equal(sigaction(SIGALRM, &sa, &old), 0);
	alarms = 0;
	assert_int_equal(setitimer(ITIMER_REAL, &it, NULL), 0);
	t0 = now_s();
	rc = gpc_vhost_msg_recv(BE(f), &m, 100);
	dt = now_s() - t0;
	/* Half a message: -ETIMEDOUT, again at the deadline. */
	raw_send(FE(f), &h, 6, 1);
	{
		double t1 = now_s();
		int rc2 = gpc_vhost_msg_recv(BE(f), &m, 100);
		double dt2 = now_s() - t1;

		setitimer(ITIMER_REAL, &off, NULL);
		sigaction(SIGALRM, &old, NULL);
		assert_int_equal(rc2, -ETIMEDOUT);
		assert_true(dt2 >= 0.099);
		assert_int_equal(m.nfds, 0);
	}
	assert_int_equal(rc, -EAGAIN);
	assert_true(dt >= 0.099);
	assert_true(alarms > 2);
}

static void test_clean_eof(void **state)
{
	struct fixture *f = *state;
	struct gpc_vhost_msg m;
	const char *why;

	fe_send(f, GPC_VHOST_SET_OWNER, V, NULL, 0, 0);
	close(f->sv[1]);
	f->sv[1] = -1;
	assert_int_equal(be_take(f, &m, &why), 0);
	assert_int_equal(gpc_vhost_msg_recv(BE(f), &m, -1), -EPIPE);
}

static void test_payload_too_big(void **state)
{
	struct fixture *f = *state;
	const uint32_t sizes[] = { GPC_VHOST_MAX_PAYLOAD + 1, 4096,
				   0xffffffffu };
	struct gpc_vhost_msg m;

	for (size_t i = 0; i < 3; i++) {
		struct gpc_vhost_hdr h = { GPC_VHOST_SET_CONFIG, V, sizes[i] };

		raw_send(FE(f), &h, sizeof(h), 2);
		assert_int_equal(gpc_vhost_msg_recv(BE(f), &m, 1000),
				 -EMSGSIZE);
		assert_int_equal(m.nfds, 0);
	}
	/* The largest allowed size is received. */
	{
		struct gpc_vhost_config c = { .size = 256 };

		expect(f, GPC_VHOST_SET_CONFIG, V, &c, GPC_VHOST_MAX_PAYLOAD, 0,
		       0);
	}
}

static void test_peer_close_mid_payload(void **state)
{
	struct fixture *f = *state;
	struct {
		struct gpc_vhost_hdr h;
		uint8_t body[40];
	} __attribute__((packed))
	w = { { GPC_VHOST_ADD_MEM_REG, V, 40 }, { 0 } };
	struct gpc_vhost_msg m;

	raw_send(FE(f), &w, sizeof(w.h) + 20, 1);
	close(f->sv[1]);
	f->sv[1] = -1;
	assert_int_equal(gpc_vhost_msg_recv(BE(f), &m, -1), -ECONNRESET);
	assert_int_equal(m.nfds, 0);
}

/* ---- replies -------------------------------------------------------------- */

/* The front-end's side: receive a reply and check it. */
static void fe_reply(struct fixture *f, struct gpc_vhost_msg *r, uint32_t req,
		     uint32_t size, unsigned int nfds)
{
	const char *why = NULL;

	assert_int_equal(gpc_vhost_msg_recv(FE(f), r, 1000), 0);
	assert_int_equal(r->hdr.flags, V | GPC_VHOST_FLAG_REPLY);
	assert_int_equal(gpc_vhost_msg_validate_reply(r, req, size, nfds, &why),
			 0);
}

static void test_reply_round_trip(void **state)
{
	struct fixture *f = *state;
	struct gpc_vhost_msg m, r;
	const char *why;
	struct vhost_vring_state s = { .index = 3, .num = 0 };
	struct gpc_vhost_inflight in = { .num_queues = 1, .queue_size = 128 };
	int efd;

	/* GET_FEATURES: a u64 body, whatever need_reply says. */
	fe_send(f, GPC_VHOST_GET_FEATURES, V | GPC_VHOST_FLAG_NEED_REPLY, NULL,
		0, 0);
	assert_int_equal(be_take(f, &m, &why), 0);
	assert_true(gpc_vhost_msg_has_reply(m.hdr.request));
	assert_false(gpc_vhost_msg_wants_ack(&m));
	assert_int_equal(gpc_vhost_msg_reply_ack(BE(f), &m, 0, 1000), 0);
	assert_int_equal(gpc_vhost_msg_reply_u64(
				 BE(f), &m, 1ull << VIRTIO_F_VERSION_1, 1000),
			 0);
	fe_reply(f, &r, GPC_VHOST_GET_FEATURES, 8, 0);
	assert_int_equal(r.payload.u64, 1ull << VIRTIO_F_VERSION_1);

	/* GET_VRING_BASE: a state body. */
	fe_send(f, GPC_VHOST_GET_VRING_BASE, V, &s, sizeof(s), 0);
	assert_int_equal(be_take(f, &m, &why), 0);
	s.num = 77;
	assert_int_equal(gpc_vhost_msg_reply(BE(f), &m, &s, sizeof(s), NULL, 0,
					     1000),
			 0);
	fe_reply(f, &r, GPC_VHOST_GET_VRING_BASE, sizeof(s), 0);
	assert_int_equal(r.payload.state.index, 3);
	assert_int_equal(r.payload.state.num, 77);

	/* REPLY_ACK: sent only with need_reply; the status is the errno. */
	fe_send(f, GPC_VHOST_SET_OWNER, V | GPC_VHOST_FLAG_NEED_REPLY, NULL, 0,
		0);
	assert_int_equal(be_take(f, &m, &why), 0);
	assert_true(gpc_vhost_msg_wants_ack(&m));
	assert_int_equal(gpc_vhost_msg_reply_ack(BE(f), &m, 0, 1000), 0);
	fe_reply(f, &r, GPC_VHOST_SET_OWNER, 8, 0);
	assert_int_equal(r.payload.u64, 0);
	assert_int_equal(gpc_vhost_msg_reply_ack(BE(f), &m, -EINVAL, 1000), 0);
	fe_reply(f, &r, GPC_VHOST_SET_OWNER, 8, 0);
	assert_int_equal(r.payload.u64, EINVAL);
	fe_send(f, GPC_VHOST_SET_OWNER, V, NULL, 0, 0);
	assert_int_equal(be_take(f, &m, &why), 0);
	assert_false(gpc_vhost_msg_wants_ack(&m));
	assert_int_equal(gpc_vhost_msg_reply_ack(BE(f), &m, -EINVAL, 1000), 0);
	assert_int_equal(gpc_vhost_msg_recv(FE(f), &r, 0), -EAGAIN);

	/* GET_INFLIGHT_FD: a body and an fd. */
	fe_send(f, GPC_VHOST_GET_INFLIGHT_FD, V, &in, sizeof(in), 0);
	assert_int_equal(be_take(f, &m, &why), 0);
	efd = eventfd(0, EFD_CLOEXEC);
	assert_true(efd >= 0);
	in.mmap_size = 4096;
	assert_int_equal(gpc_vhost_msg_reply(BE(f), &m, &in, sizeof(in), &efd,
					     1, 1000),
			 0);
	close(efd);
	fe_reply(f, &r, GPC_VHOST_GET_INFLIGHT_FD, sizeof(in), 1);
	assert_int_equal(r.payload.inflight.mmap_size, 4096);
	assert_true(fcntl(r.fds[0], F_GETFD) >= 0);
	gpc_vhost_msg_close_fds(&r);

	/* A reply that is not the one awaited is refused, its fds closed. */
	assert_int_equal(gpc_vhost_msg_reply_u64(BE(f), &m, 1, 1000), 0);
	assert_int_equal(gpc_vhost_msg_recv(FE(f), &r, 1000), 0);
	assert_int_equal(gpc_vhost_msg_validate_reply(
				 &r, GPC_VHOST_GET_FEATURES, 8, 0, &why),
			 -EBADMSG);
	fe_send(f, GPC_VHOST_SET_OWNER, V, NULL, 0, 0);
	assert_int_equal(gpc_vhost_msg_recv(FE(f), &r, 0), -EAGAIN);
	assert_int_equal(gpc_vhost_msg_recv(BE(f), &m, 1000), 0);
	/* A request (no reply bit) where a reply is awaited. */
	assert_int_equal(gpc_vhost_msg_validate_reply(&m, GPC_VHOST_SET_OWNER,
						      0, 0, &why),
			 -EPROTO);
}

static void test_backend_channel(void **state)
{
	struct fixture *f = *state;
	struct vhost_iotlb_msg miss = { .iova = 0x5000,
					.perm = VHOST_ACCESS_RO,
					.type = VHOST_IOTLB_MISS };
	struct gpc_vhost_vring_area area = { .u64 = 1, .size = 4096 };
	struct gpc_vhost_msg m, ack;
	const char *why = NULL;
	int efd;

	/* IOTLB miss with need_reply; the front-end acks. */
	assert_int_equal(gpc_vhost_msg_backend_send(
				 BE(f), GPC_VHOST_BACKEND_IOTLB_MSG, true,
				 &miss, sizeof(miss), NULL, 0, 1000),
			 0);
	assert_int_equal(gpc_vhost_msg_recv(FE(f), &m, 1000), 0);
	assert_int_equal(m.hdr.request, GPC_VHOST_BACKEND_IOTLB_MSG);
	assert_int_equal(m.hdr.flags, V | GPC_VHOST_FLAG_NEED_REPLY);
	assert_int_equal(gpc_vhost_msg_backend_check(m.hdr.request, m.hdr.size,
						     m.nfds, &why),
			 0);
	assert_memory_equal(&m.payload.iotlb, &miss, sizeof(miss));
	assert_int_equal(gpc_vhost_msg_reply_u64(FE(f), &m, 0, 1000), 0);
	assert_int_equal(gpc_vhost_msg_recv(BE(f), &ack, 1000), 0);
	assert_int_equal(gpc_vhost_msg_validate_reply(
				 &ack, GPC_VHOST_BACKEND_IOTLB_MSG, 8, 0, &why),
			 0);

	/* A host notifier with its fd, and without (deregister). */
	efd = eventfd(0, EFD_CLOEXEC);
	assert_true(efd >= 0);
	assert_int_equal(gpc_vhost_msg_backend_send(
				 BE(f),
				 GPC_VHOST_BACKEND_VRING_HOST_NOTIFIER_MSG,
				 false, &area, sizeof(area), &efd, 1, 1000),
			 0);
	close(efd);
	assert_int_equal(gpc_vhost_msg_recv(FE(f), &m, 1000), 0);
	assert_int_equal(m.nfds, 1);
	assert_int_equal(m.hdr.flags, V);
	gpc_vhost_msg_close_fds(&m);
	assert_int_equal(gpc_vhost_msg_backend_send(
				 BE(f), GPC_VHOST_BACKEND_CONFIG_CHANGE_MSG,
				 false, NULL, 0, NULL, 0, 1000),
			 0);
	assert_int_equal(gpc_vhost_msg_recv(FE(f), &m, 1000), 0);
	assert_int_equal(m.hdr.size, 0);

	/* Malformed back-end messages never leave. */
	efd = eventfd(0, EFD_CLOEXEC);
	assert_int_equal(gpc_vhost_msg_backend_send(BE(f), 99, false, NULL, 0,
						    NULL, 0, 1000),
			 -EINVAL);
	assert_int_equal(
		gpc_vhost_msg_backend_send(BE(f), GPC_VHOST_BACKEND_IOTLB_MSG,
					   false, &miss, 26, NULL, 0, 1000),
		-EINVAL);
	assert_int_equal(gpc_vhost_msg_backend_send(
				 BE(f), GPC_VHOST_BACKEND_IOTLB_MSG, false,
				 &miss, sizeof(miss), &efd, 1, 1000),
			 -EINVAL);
	close(efd);
	assert_int_equal(gpc_vhost_msg_recv(FE(f), &m, 0), -EAGAIN);
}

/* ---- sending --------------------------------------------------------------- */

static void test_send_errors(void **state)
{
	struct fixture *f = *state;
	struct gpc_vhost_hdr h = { GPC_VHOST_SET_OWNER, V, 0 };
	int fds[GPC_VHOST_MAX_FDS + 1] = { 0 };
	char big[GPC_VHOST_MAX_PAYLOAD + 1] = { 0 };
	int rc = 0;

	assert_int_equal(gpc_vhost_msg_send(FE(f), &h, NULL, fds,
					    GPC_VHOST_MAX_FDS + 1, 0),
			 -EINVAL);
	h.size = sizeof(big);
	assert_int_equal(gpc_vhost_msg_send(FE(f), &h, big, NULL, 0, 0),
			 -EINVAL);
	h.size = 8;
	assert_int_equal(gpc_vhost_msg_send(FE(f), &h, NULL, NULL, 0, 0),
			 -EINVAL);

	/* A full socket: nothing queued is -EAGAIN. */
	h.size = 0;
	for (int i = 0; i < 1000000; i++) {
		rc = gpc_vhost_msg_send(FE(f), &h, NULL, NULL, 0, 0);
		if (rc)
			break;
	}
	assert_int_equal(rc, -EAGAIN);

	/* The peer gone: -EPIPE, and no SIGPIPE (it would end the test). */
	close(f->sv[0]);
	f->sv[0] = -1;
	assert_int_equal(gpc_vhost_msg_send(FE(f), &h, NULL, NULL, 0, 1000),
			 -EPIPE);
}

static void test_take_fd(void **state)
{
	struct fixture *f = *state;
	struct gpc_vhost_msg m;
	const char *why;
	uint64_t v = 2;
	int fd;

	fe_send(f, GPC_VHOST_SET_VRING_CALL, V, &v, 8, 1);
	assert_int_equal(be_take(f, &m, &why), 0);
	fd = gpc_vhost_msg_take_fd(&m, 0);
	assert_true(fd >= 0);
	assert_int_equal(gpc_vhost_msg_take_fd(&m, 0), -1);
	assert_int_equal(gpc_vhost_msg_take_fd(&m, 1), -1);
	gpc_vhost_msg_close_fds(&m);
	/* Still ours after close_fds. */
	assert_true(fcntl(fd, F_GETFD) >= 0);
	close(fd);
	gpc_vhost_msg_close_fds(&m); /* idempotent */
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_fixed_shapes),
		T(test_mem_table),
		T(test_mem_reg),
		T(test_log),
		T(test_vring_fd),
		T(test_vring_state_addr),
		T(test_iotlb),
		T(test_config),
		T(test_inflight_status),
		T(test_header_flags),
		T(test_unknown_requests),
		T(test_too_many_fds),
		T(test_fds_in_pieces),
		T(test_split_header),
		T(test_truncated_header),
		T(test_eintr),
		T(test_clean_eof),
		T(test_payload_too_big),
		T(test_peer_close_mid_payload),
		T(test_reply_round_trip),
		T(test_backend_channel),
		T(test_send_errors),
		T(test_take_fd),
	};

	return cmocka_run_group_tests_name("vhost_msg", tests, NULL, NULL);
}
