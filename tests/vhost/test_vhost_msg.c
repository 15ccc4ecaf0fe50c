// SPDX-License-Identifier: MIT
/*
 * test_vhost_msg.c - the vhost-user request validator (src/vhost/msg.h,
 * msg_validate.c), over a socketpair(AF_UNIX, SOCK_STREAM) through the real
 * receive path.
 *
 * Every request is sent once well-formed (it must validate and arrive
 * intact, its fds open and close-on-exec) and then malformed in each way
 * its table row allows (size, fd count, fields); then the header's flags
 * and the requests the library does not handle. A rejected message must
 * come back with a reason and no fd left. test_vhost_msg_io.c has the
 * stream, the replies and the back-end channel.
 */
#include "vhost_msg_test.h"

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
	struct gpc_vhost_config_msg c = { .offset = 0, .size = 60, .flags = 0 };
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
	};

	return cmocka_run_group_tests_name("vhost_msg", tests, NULL, NULL);
}
