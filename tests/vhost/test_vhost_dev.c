// SPDX-License-Identifier: MIT
/*
 * tests/vhost/test_vhost_dev.c - the back-end (include/gpc/vhost.h) driven
 * by a test front-end over a socketpair (gpc_vhost_dev_serve_fd on a
 * thread), with a trivial echo device: it copies the readable bytes into
 * the writable ones, and holds a request whose first byte is 'H' until the
 * test writes the queue's release eventfd (the device's poll_fd), as a
 * device with I/O in the kernel would.
 *
 * Guest memory: memfd A (64 pages at GPA 1 MiB, front-end address UA) and
 * memfd B (16 pages at GPA 2 MiB, address UB, added with ADD_MEM_REG when
 * a test needs it); the test maps both itself to play the driver. Queue 0
 * has its rings on pages 0-2 of A, queue 1 on pages 8-10; buffers from
 * page 16 on (or in B).
 *
 * Every test runs on a GPC_SCHEME_SRCU and a GPC_SCHEME_RWLOCK back-end.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <gpc/vhost.h>

#include "msg.h"
#include "proto.h"
#include "vhost_echo.h"

#define PS	 4096ull
#define GA	 0x100000ull
#define UA	 0x7f0000000000ull
#define GB	 0x200000ull
#define UB	 0x7f1000000000ull
#define A_PAGES	 64
#define B_PAGES	 16
#define NUM	 16
#define NQ	 2
#define TMO	 2000 /* ms, every wait of the front-end */
#define CFG_SIZE 8

/* ---- the echo device -------------------------------------------------- */

/*
 * The test and the back-end map guest memory at different addresses, so
 * ThreadSanitizer cannot see the ring's acquire/release pairs as
 * synchronisation (it keys them by virtual address). The device bumps
 * echoed (release) after writing a buffer and the driver reads it
 * (acquire) after seeing a used element; the driver bumps posted before a
 * kick and the device reads it first (the kick's eventfd is a different
 * fd number on each side, so TSan's fd synchronisation misses it too).
 */
static _Atomic unsigned long echoed, posted;

struct dq {
	int release_fd;
	struct gpc_vhost_req *held[NUM];
	unsigned int nheld;
};

struct edev {
	struct dq q[NQ];
	_Atomic unsigned int starts, stops;
	/* At stop, forget held requests (a crashed back-end's device). */
	_Atomic bool crash_on_stop;
};

static int e_get_config(void *ctx, uint32_t off, void *buf, uint32_t len)
{
	(void)ctx;
	for (uint32_t i = 0; i < len; i++)
		((uint8_t *)buf)[i] = (uint8_t)(0xc0 + off + i);
	return 0;
}

static int e_queue_start(void *ctx, struct gpc_vhost_queue *q, void **qctx,
			 int *poll_fd)
{
	struct edev *e = ctx;
	struct dq *dq = &e->q[gpc_vhost_queue_index(q)];

	dq->nheld = 0;
	*qctx = dq;
	*poll_fd = dq->release_fd;
	e->starts++;
	return 0;
}

static uint32_t echo(struct gpc_vhost_req *r)
{
	uint32_t n = vhost_test_echo(r);

	atomic_fetch_add_explicit(&echoed, 1, memory_order_release);
	return n;
}

static void e_request(void *qctx, struct gpc_vhost_req *r)
{
	struct dq *dq = qctx;

	(void)atomic_load_explicit(&posted, memory_order_acquire);
	if (r->nr_read && *(char *)r->iov[0].iov_base == 'H') {
		/* Keep the buffers for later, as a device with I/O in flight. */
		dq->held[dq->nheld++] = r;
		return;
	}
	assert_int_equal(gpc_vhost_req_complete(r, echo(r)), 0);
}

static void e_queue_poll(void *qctx)
{
	struct dq *dq = qctx;
	uint64_t v;

	if (read(dq->release_fd, &v, sizeof(v)) != sizeof(v))
		return;
	for (unsigned int i = 0; i < dq->nheld; i++)
		gpc_vhost_req_complete(dq->held[i], echo(dq->held[i]));
	dq->nheld = 0;
}

static void e_queue_stop(void *ctx, struct gpc_vhost_queue *q, void *qctx)
{
	struct edev *e = ctx;
	struct dq *dq = qctx;

	(void)q;
	for (unsigned int i = 0; i < dq->nheld && !e->crash_on_stop; i++)
		gpc_vhost_req_complete(dq->held[i], 0);
	dq->nheld = 0;
	e->stops++;
}

static const struct gpc_vhost_device echo_dev = {
	.name = "echo",
	.num_queues = NQ,
	.queue_size_max = 256,
	.seg_max = 16,
	.config_size = CFG_SIZE,
	.get_config = e_get_config,
	.queue_start = e_queue_start,
	.queue_stop = e_queue_stop,
	.request = e_request,
	.queue_poll = e_queue_poll,
};

/* ---- the front-end ---------------------------------------------------- */

struct drv {
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	uint16_t avail_idx, last_used;
	int kick, call;
};

struct fx {
	enum gpc_scheme scheme;
	struct edev e;
	struct gpc_vhost_dev *d;
	pthread_t t;
	int sock;
	int memfd_a, memfd_b;
	uint8_t *a, *b;
	struct drv q[NQ];
	uint64_t features;
};

struct serve_arg {
	struct gpc_vhost_dev *d;
	int fd;
};

static void *serve_main(void *arg)
{
	struct serve_arg *s = arg;

	gpc_vhost_dev_serve_fd(s->d, s->fd);
	free(s);
	return NULL;
}

static void send_msg(struct fx *f, uint32_t req, bool need_reply, const void *p,
		     uint32_t size, const int *fds, unsigned int nfds)
{
	struct gpc_vhost_hdr h = {
		.request = req,
		.flags = GPC_VHOST_VERSION |
			 (need_reply ? GPC_VHOST_FLAG_NEED_REPLY : 0),
		.size = size,
	};

	assert_int_equal(gpc_vhost_msg_send(f->sock, &h, p, fds, nfds, TMO), 0);
}

static uint64_t recv_u64(struct fx *f, uint32_t req)
{
	struct gpc_vhost_msg m;

	assert_int_equal(gpc_vhost_msg_recv(f->sock, &m, TMO), 0);
	assert_int_equal(m.hdr.request, req);
	assert_int_equal(m.hdr.size, 8);
	return m.payload.u64;
}

/* A request with need_reply; its ack status. */
static uint64_t req_ack(struct fx *f, uint32_t req, const void *p,
			uint32_t size, const int *fds, unsigned int nfds)
{
	send_msg(f, req, true, p, size, fds, nfds);
	return recv_u64(f, req);
}

static uint64_t get_u64(struct fx *f, uint32_t req)
{
	send_msg(f, req, false, NULL, 0, NULL, 0);
	return recv_u64(f, req);
}

static void u64_ack0(struct fx *f, uint32_t req, uint64_t v)
{
	assert_int_equal(req_ack(f, req, &v, 8, NULL, 0), 0);
}

static void state_ack(struct fx *f, uint32_t req, unsigned int i,
		      unsigned int n, uint64_t want)
{
	struct vhost_vring_state s = { i, n };

	assert_int_equal(req_ack(f, req, &s, sizeof(s), NULL, 0), want);
}

static struct gpc_vhost_region region(uint64_t g, uint64_t pages, uint64_t u)
{
	return (struct gpc_vhost_region){ g, pages * PS, u, 0 };
}

static void add_region_b(struct fx *f, uint64_t want)
{
	struct gpc_vhost_mem_reg r = { 0, region(GB, B_PAGES, UB) };

	assert_int_equal(req_ack(f, GPC_VHOST_ADD_MEM_REG, &r, sizeof(r),
				 &f->memfd_b, 1),
			 want);
}

static int setup_conn(void **state, enum gpc_scheme scheme,
		      unsigned int workers)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct gpc_vhost_config cfg = { .scheme = scheme,
					.flags = GPC_VHOST_F_CHECK_STALE,
					.workers = workers };
	struct serve_arg *s = malloc(sizeof(*s));
	int sv[2];

	assert_non_null(f);
	f->scheme = scheme;
	for (int i = 0; i < NQ; i++)
		f->e.q[i].release_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	assert_int_equal(gpc_vhost_dev_create(&echo_dev, &f->e, &cfg, &f->d),
			 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
			 0);
	f->sock = sv[0];
	s->d = f->d;
	s->fd = sv[1];
	assert_int_equal(pthread_create(&f->t, NULL, serve_main, s), 0);
	f->memfd_a = memfd_create("a", MFD_CLOEXEC);
	f->memfd_b = memfd_create("b", MFD_CLOEXEC);
	assert_int_equal(ftruncate(f->memfd_a, A_PAGES * PS), 0);
	assert_int_equal(ftruncate(f->memfd_b, B_PAGES * PS), 0);
	f->a = mmap(NULL, A_PAGES * PS, PROT_READ | PROT_WRITE, MAP_SHARED,
		    f->memfd_a, 0);
	f->b = mmap(NULL, B_PAGES * PS, PROT_READ | PROT_WRITE, MAP_SHARED,
		    f->memfd_b, 0);
	assert_true(f->a != MAP_FAILED && f->b != MAP_FAILED);
	*state = f;
	return 0;
}

static int setup_srcu(void **state)
{
	return setup_conn(state, GPC_SCHEME_SRCU, 0);
}

/* Both queues on one thread (cfg.workers = 1). */
static int setup_one_worker(void **state)
{
	return setup_conn(state, GPC_SCHEME_SRCU, 1);
}

static int setup_rwlock(void **state)
{
	return setup_conn(state, GPC_SCHEME_RWLOCK, 0);
}

static int teardown(void **state)
{
	struct fx *f = *state;

	close(f->sock);
	pthread_join(f->t, NULL);
	assert_int_equal(gpc_vhost_dev_destroy(f->d), 0);
	munmap(f->a, A_PAGES * PS);
	munmap(f->b, B_PAGES * PS);
	close(f->memfd_a);
	close(f->memfd_b);
	for (int i = 0; i < NQ; i++) {
		close(f->e.q[i].release_fd);
		if (f->q[i].kick > 0)
			close(f->q[i].kick);
		if (f->q[i].call > 0)
			close(f->q[i].call);
	}
	free(f);
	return 0;
}

static const uint64_t proto_want =
	(1ull << GPC_VHOST_PROTOCOL_F_MQ) |
	(1ull << GPC_VHOST_PROTOCOL_F_REPLY_ACK) |
	(1ull << GPC_VHOST_PROTOCOL_F_CONFIG) |
	(1ull << GPC_VHOST_PROTOCOL_F_CONFIGURE_MEM_SLOTS) |
	(1ull << GPC_VHOST_PROTOCOL_F_STATUS);

/* Features, protocol features (REPLY_ACK first), owner. */
static void negotiate(struct fx *f, bool event_idx)
{
	uint64_t feat = get_u64(f, GPC_VHOST_GET_FEATURES);

	assert_true(feat >> VIRTIO_F_VERSION_1 & 1);
	assert_true(feat >> VIRTIO_RING_F_EVENT_IDX & 1);
	assert_true(feat >> VIRTIO_RING_F_INDIRECT_DESC & 1);
	assert_true(feat >> GPC_VHOST_F_PROTOCOL_FEATURES & 1);
	assert_int_equal(get_u64(f, GPC_VHOST_GET_PROTOCOL_FEATURES) &
				 proto_want,
			 proto_want);
	{
		uint64_t p = proto_want;

		send_msg(f, GPC_VHOST_SET_PROTOCOL_FEATURES, false, &p, 8, NULL,
			 0);
	}
	assert_int_equal(req_ack(f, GPC_VHOST_SET_OWNER, NULL, 0, NULL, 0), 0);
	f->features = (1ull << VIRTIO_F_VERSION_1) |
		      (1ull << GPC_VHOST_F_PROTOCOL_FEATURES) |
		      (1ull << VIRTIO_RING_F_INDIRECT_DESC) |
		      (event_idx ? 1ull << VIRTIO_RING_F_EVENT_IDX : 0);
	u64_ack0(f, GPC_VHOST_SET_FEATURES, f->features);
}

static void set_mem_a(struct fx *f)
{
	struct gpc_vhost_mem_table t = { .nregions = 1 };

	t.regions[0] = region(GA, A_PAGES, UA);
	assert_int_equal(req_ack(f, GPC_VHOST_SET_MEM_TABLE, &t,
				 GPC_VHOST_MEM_TABLE_HDR_SIZE + 32, &f->memfd_a,
				 1),
			 0);
}

static uint64_t ring_page(unsigned int q)
{
	return q ? 8 : 0;
}

static void start_queue(struct fx *f, unsigned int i, uint16_t base)
{
	struct drv *q = &f->q[i];
	uint64_t pg = ring_page(i);
	struct vhost_vring_addr addr = {
		.index = i,
		.desc_user_addr = UA + pg * PS,
		.avail_user_addr = UA + (pg + 1) * PS,
		.used_user_addr = UA + (pg + 2) * PS,
	};
	uint64_t v;

	q->desc = (void *)(f->a + pg * PS);
	q->avail = (void *)(f->a + (pg + 1) * PS);
	q->used = (void *)(f->a + (pg + 2) * PS);
	q->avail_idx = q->last_used = base;
	q->avail->idx = base;
	if (!q->kick)
		q->kick = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (!q->call)
		q->call = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	state_ack(f, GPC_VHOST_SET_VRING_NUM, i, NUM, 0);
	assert_int_equal(req_ack(f, GPC_VHOST_SET_VRING_ADDR, &addr,
				 sizeof(addr), NULL, 0),
			 0);
	state_ack(f, GPC_VHOST_SET_VRING_BASE, i, base, 0);
	v = i;
	assert_int_equal(
		req_ack(f, GPC_VHOST_SET_VRING_CALL, &v, 8, &q->call, 1), 0);
	assert_int_equal(
		req_ack(f, GPC_VHOST_SET_VRING_KICK, &v, 8, &q->kick, 1), 0);
	state_ack(f, GPC_VHOST_SET_VRING_ENABLE, i, 1, 0);
}

static void connect_all(struct fx *f, bool event_idx)
{
	negotiate(f, event_idx);
	set_mem_a(f);
	for (unsigned int i = 0; i < NQ; i++)
		start_queue(f, i, 0);
}

/* Post a 2-descriptor chain (out -> in) and kick; its head. */
static uint16_t post(struct fx *f, unsigned int i, uint64_t out_gpa,
		     uint32_t out_len, uint64_t in_gpa, uint32_t in_len)
{
	struct drv *q = &f->q[i];
	uint16_t head = (uint16_t)((q->avail_idx * 2) % NUM);
	uint64_t one = 1;

	q->desc[head] = (struct vring_desc){ out_gpa, out_len,
					     VRING_DESC_F_NEXT,
					     (uint16_t)(head + 1) };
	q->desc[head + 1] =
		(struct vring_desc){ in_gpa, in_len, VRING_DESC_F_WRITE, 0 };
	q->avail->ring[q->avail_idx % NUM] = head;
	q->avail_idx++;
	atomic_store_explicit((_Atomic uint16_t *)&q->avail->idx, q->avail_idx,
			      memory_order_release);
	atomic_fetch_add_explicit(&posted, 1, memory_order_release);
	assert_int_equal(write(q->kick, &one, 8), 8);
	return head;
}

/* Wait up to ms for the next used element; false on timeout. */
static bool wait_used(struct fx *f, unsigned int i, int ms,
		      struct vring_used_elem *out)
{
	struct drv *q = &f->q[i];

	for (int t = 0; t < ms * 10; t++) {
		uint16_t idx =
			atomic_load_explicit((_Atomic uint16_t *)&q->used->idx,
					     memory_order_acquire);

		if (idx != q->last_used) {
			(void)atomic_load_explicit(&echoed,
						   memory_order_acquire);
			*out = q->used->ring[q->last_used % NUM];
			q->last_used++;
			return true;
		}
		usleep(100);
	}
	return false;
}

static uint64_t calls(struct drv *q)
{
	uint64_t v = 0;

	if (read(q->call, &v, 8) != 8)
		return 0;
	return v;
}

#define BUF(n)	  (GA + (16 + (n)) * PS)
#define PTR(f, n) ((f)->a + (16 + (n)) * PS)

/* A test on both read-side schemes (also vhost_ext_fixture.h's). */
#define T(fn)                                                      \
	cmocka_unit_test_setup_teardown(fn, setup_srcu, teardown), \
		cmocka_unit_test_setup_teardown(fn, setup_rwlock, teardown)

/*
 * tests/vhost/vhost_ext_fixture.h and other tests include this file for
 * the fixture above (the front-end, the echo device) with
 * VHOST_DEV_FIXTURE_ONLY defined.
 */
#ifndef VHOST_DEV_FIXTURE_ONLY

/* ---- tests ------------------------------------------------------------ */

static void t_negotiation(void **state)
{
	struct fx *f = *state;
	struct gpc_vhost_config_msg c = { .offset = 2, .size = 4 };
	struct gpc_vhost_msg m;

	negotiate(f, false);
	assert_int_equal(get_u64(f, GPC_VHOST_GET_QUEUE_NUM), NQ);
	assert_int_equal(get_u64(f, GPC_VHOST_GET_MAX_MEM_SLOTS),
			 GPC_VHOST_MAX_MEM_SLOTS);
	send_msg(f, GPC_VHOST_GET_CONFIG, false, &c,
		 GPC_VHOST_CONFIG_HDR_SIZE + 4, NULL, 0);
	assert_int_equal(gpc_vhost_msg_recv(f->sock, &m, TMO), 0);
	assert_int_equal(m.hdr.size, GPC_VHOST_CONFIG_HDR_SIZE + 4);
	assert_int_equal(m.payload.config.payload[0], 0xc2);
	assert_int_equal(m.payload.config.payload[3], 0xc5);
	/* Beyond the 8-byte space: a reply without bytes. */
	c.offset = 6;
	send_msg(f, GPC_VHOST_GET_CONFIG, false, &c,
		 GPC_VHOST_CONFIG_HDR_SIZE + 4, NULL, 0);
	assert_int_equal(gpc_vhost_msg_recv(f->sock, &m, TMO), 0);
	assert_int_equal(m.hdr.size, GPC_VHOST_CONFIG_HDR_SIZE);
	u64_ack0(f, GPC_VHOST_SET_STATUS, 0xf);
	assert_int_equal(get_u64(f, GPC_VHOST_GET_STATUS), 0xf);
	assert_int_equal(gpc_vhost_dev_features(f->d), f->features);
}

static void t_bad_states(void **state)
{
	struct fx *f = *state;
	struct gpc_vhost_mem_table t = { .nregions = 1 };
	struct gpc_vhost_config_msg c = { .offset = 0, .size = 4 };
	struct gpc_vhost_mem_reg r = { 0, region(GB, B_PAGES, UB) };
	uint64_t p = proto_want, v;

	/* REPLY_ACK negotiated before the owner, as QEMU does. */
	send_msg(f, GPC_VHOST_SET_PROTOCOL_FEATURES, false, &p, 8, NULL, 0);
	t.regions[0] = region(GA, A_PAGES, UA);
	assert_int_equal(req_ack(f, GPC_VHOST_SET_MEM_TABLE, &t,
				 GPC_VHOST_MEM_TABLE_HDR_SIZE + 32, &f->memfd_a,
				 1),
			 EPERM);
	v = 0;
	assert_int_equal(req_ack(f, GPC_VHOST_SET_OWNER, NULL, 0, NULL, 0), 0);
	assert_int_equal(req_ack(f, GPC_VHOST_SET_OWNER, NULL, 0, NULL, 0),
			 EBUSY);
	v = 1ull << 63; /* not offered */
	assert_int_equal(req_ack(f, GPC_VHOST_SET_FEATURES, &v, 8, NULL, 0),
			 EINVAL);
	v = 1ull << GPC_VHOST_PROTOCOL_F_PAGEFAULT;
	assert_int_equal(req_ack(f, GPC_VHOST_SET_PROTOCOL_FEATURES, &v, 8,
				 NULL, 0),
			 EINVAL);
	/* A queue cannot start before SET_FEATURES: it just does not. */
	state_ack(f, GPC_VHOST_SET_VRING_NUM, NQ, NUM, ERANGE);
	state_ack(f, GPC_VHOST_SET_VRING_NUM, 0, 3, EINVAL);
	state_ack(f, GPC_VHOST_SET_VRING_NUM, 0, 512, EINVAL);
	state_ack(f, GPC_VHOST_SET_VRING_NUM, 0, 0, EINVAL);
	state_ack(f, GPC_VHOST_SET_VRING_BASE, 0, 0x10000, ERANGE);
	u64_ack0(f, GPC_VHOST_SET_FEATURES,
		 1ull << VIRTIO_F_VERSION_1 |
			 1ull << GPC_VHOST_F_PROTOCOL_FEATURES);
	/* Rings outside memory: the kick that would start it fails. */
	{
		struct drv *q = &f->q[0];

		q->kick = eventfd(0, EFD_CLOEXEC);
		state_ack(f, GPC_VHOST_SET_VRING_NUM, 0, NUM, 0);
		struct vhost_vring_addr a = { .index = 0,
					      .desc_user_addr = UA,
					      .avail_user_addr = UA + PS,
					      .used_user_addr = UA + 2 * PS };
		assert_int_equal(req_ack(f, GPC_VHOST_SET_VRING_ADDR, &a,
					 sizeof(a), NULL, 0),
				 0);
		state_ack(f, GPC_VHOST_SET_VRING_ENABLE, 0, 1, 0);
		v = 0;
		assert_int_equal(req_ack(f, GPC_VHOST_SET_VRING_KICK, &v, 8,
					 &q->kick, 1),
				 ENOENT);
		/* With memory it starts; then its base cannot change. */
		set_mem_a(f);
		assert_int_equal(req_ack(f, GPC_VHOST_SET_VRING_KICK, &v, 8,
					 &q->kick, 1),
				 0);
		state_ack(f, GPC_VHOST_SET_VRING_BASE, 0, 0, EBUSY);
		state_ack(f, GPC_VHOST_SET_VRING_NUM, 0, NUM, EBUSY);
	}
	/* Memory: overlaps, unknown region, misalignment. */
	r.region = region(GA + PS, 1, UB);
	assert_int_equal(req_ack(f, GPC_VHOST_ADD_MEM_REG, &r, sizeof(r),
				 &f->memfd_b, 1),
			 EADDRINUSE);
	r.region = region(GB, 1, UA + PS);
	assert_int_equal(req_ack(f, GPC_VHOST_ADD_MEM_REG, &r, sizeof(r),
				 &f->memfd_b, 1),
			 ENOTUNIQ);
	r.region = region(GB + 1, 1, UB);
	assert_int_equal(req_ack(f, GPC_VHOST_ADD_MEM_REG, &r, sizeof(r),
				 &f->memfd_b, 1),
			 EINVAL);
	r.region = region(GB, B_PAGES, UB);
	assert_int_equal(req_ack(f, GPC_VHOST_REM_MEM_REG, &r, sizeof(r), NULL,
				 0),
			 ENOENT);
	/* Config: read-only, and bounded. */
	assert_int_equal(req_ack(f, GPC_VHOST_SET_CONFIG, &c,
				 GPC_VHOST_CONFIG_HDR_SIZE + 4, NULL, 0),
			 EPERM);
	c.offset = 6;
	assert_int_equal(req_ack(f, GPC_VHOST_SET_CONFIG, &c,
				 GPC_VHOST_CONFIG_HDR_SIZE + 4, NULL, 0),
			 ERANGE);
	/* SET_LOG_FD wants an eventfd (test_vhost_log_msg: t_log_fd). */
	assert_int_equal(req_ack(f, GPC_VHOST_SET_LOG_FD, NULL, 0, &f->memfd_b,
				 1),
			 EINVAL);
	/* A GET with a bad index has no error form: disconnect. */
	{
		struct vhost_vring_state s = { NQ + 5, 0 };
		struct gpc_vhost_msg m;

		send_msg(f, GPC_VHOST_GET_VRING_BASE, false, &s, sizeof(s),
			 NULL, 0);
		int rc = gpc_vhost_msg_recv(f->sock, &m, TMO);
		assert_true(rc == -EPIPE || rc == -ECONNRESET);
	}
	close(f->q[0].kick);
	f->q[0].kick = 0;
}

/* Without need_reply, a refused message is a disconnect. */
static void t_refused_disconnects(void **state)
{
	struct fx *f = *state;
	struct gpc_vhost_msg m;
	struct gpc_vhost_stats st;
	int rc;

	send_msg(f, GPC_VHOST_SET_VRING_NUM, false,
		 &(struct vhost_vring_state){ 0, NUM }, 8, NULL, 0);
	rc = gpc_vhost_msg_recv(f->sock, &m, TMO);
	assert_true(rc == -EPIPE || rc == -ECONNRESET);
	assert_int_equal(gpc_vhost_dev_get_stats(f->d, &st), 0);
	assert_int_equal(st.refused_messages, 1);
}

static void t_echo(void **state)
{
	struct fx *f = *state;
	struct vring_used_elem e;
	struct gpc_vhost_stats st;

	connect_all(f, false);
	for (int n = 0; n < 40; n++) {
		snprintf((char *)PTR(f, 0), 64, "hello %d", n);
		memset(PTR(f, 1), 0, 64);
		post(f, n & 1, BUF(0), 16, BUF(1), 64);
		assert_true(wait_used(f, n & 1, TMO, &e));
		assert_int_equal(e.len, 16);
		assert_string_equal((char *)PTR(f, 1), (char *)PTR(f, 0));
	}
	assert_true(calls(&f->q[0]) >= 1);
	/* A chain outside memory: completed with length 0, counted. */
	post(f, 0, GA + 1000 * PS, 16, BUF(1), 64);
	assert_true(wait_used(f, 0, TMO, &e));
	assert_int_equal(e.len, 0);
	assert_int_equal(gpc_vhost_dev_get_stats(f->d, &st), 0);
	assert_int_equal(st.requests, 41);
	assert_int_equal(st.bad_requests, 1);
}

static void t_event_idx(void **state)
{
	struct fx *f = *state;
	struct drv *q = &f->q[0];
	struct vring_used_elem e;
	uint16_t *used_event, *avail_event;

	connect_all(f, true);
	used_event = &q->avail->ring[NUM];
	avail_event = (uint16_t *)&q->used->ring[NUM];
	/* The first completion always signals (nothing signalled yet). */
	post(f, 0, BUF(0), 8, BUF(1), 8);
	assert_true(wait_used(f, 0, TMO, &e));
	usleep(20000);
	assert_int_equal(calls(q), 1);
	/* The driver wants a call only after used index 100: none. */
	atomic_store((_Atomic uint16_t *)used_event, 100);
	for (int n = 0; n < 2; n++) {
		post(f, 0, BUF(0), 8, BUF(1), 8);
		assert_true(wait_used(f, 0, TMO, &e));
	}
	usleep(20000);
	assert_int_equal(calls(q), 0);
	/* The back-end published where it is in the avail ring. */
	assert_int_equal(atomic_load((_Atomic uint16_t *)avail_event), 3);
	/* Now after the next one (used index 3 -> 4 crosses 3). */
	atomic_store((_Atomic uint16_t *)used_event, 3);
	post(f, 0, BUF(0), 8, BUF(1), 8);
	assert_true(wait_used(f, 0, TMO, &e));
	usleep(20000);
	assert_int_equal(calls(q), 1);
}

static void t_vring_base(void **state)
{
	struct fx *f = *state;
	struct vring_used_elem e;
	struct vhost_vring_state s = { 0, 0 };
	struct gpc_vhost_msg m;

	connect_all(f, false);
	for (int n = 0; n < 5; n++) {
		post(f, 0, BUF(0), 8, BUF(1), 8);
		assert_true(wait_used(f, 0, TMO, &e));
	}
	send_msg(f, GPC_VHOST_GET_VRING_BASE, false, &s, sizeof(s), NULL, 0);
	assert_int_equal(gpc_vhost_msg_recv(f->sock, &m, TMO), 0);
	assert_int_equal(m.payload.state.index, 0);
	assert_int_equal(m.payload.state.num, 5);
	assert_int_equal(f->e.stops, 1);
	/* Stopped: a kick does nothing. */
	post(f, 0, BUF(0), 8, BUF(1), 8);
	assert_false(wait_used(f, 0, 100, &e));
	/* Restarted at base 5 it serves the pending one. */
	{
		uint64_t v = 0;

		state_ack(f, GPC_VHOST_SET_VRING_BASE, 0, 5, 0);
		assert_int_equal(req_ack(f, GPC_VHOST_SET_VRING_KICK, &v, 8,
					 &f->q[0].kick, 1),
				 0);
	}
	assert_true(wait_used(f, 0, TMO, &e));
}

/* Is a message waiting on the socket within ms? */
static bool readable(struct fx *f, int ms)
{
	struct pollfd p = { .fd = f->sock, .events = POLLIN };

	return poll(&p, 1, ms) == 1;
}

/*
 * REM_MEM_REG of region B while queue 0 holds a request whose buffers are
 * in B: no reply until the device completes it, while queue 1 (buffers in
 * A) keeps completing.
 */
static void t_rem_waits_in_flight(void **state)
{
	struct fx *f = *state;
	struct vring_used_elem e;
	struct gpc_vhost_mem_reg r = { 0, region(GB, B_PAGES, UB) };
	struct gpc_vhost_stats st;
	uint64_t one = 1;

	connect_all(f, false);
	add_region_b(f, 0);
	memcpy(f->b, "Held in B", 10);
	post(f, 0, GB, 10, GB + PS, 10);
	assert_false(wait_used(f, 0, 50, &e)); /* held */
	send_msg(f, GPC_VHOST_REM_MEM_REG, true, &r, sizeof(r), NULL, 0);
	for (int n = 0; n < 10; n++) {
		post(f, 1, BUF(0), 8, BUF(1), 8);
		assert_true(wait_used(f, 1, TMO, &e));
	}
	assert_false(readable(f, 200));
	assert_int_equal(gpc_vhost_dev_get_stats(f->d, &st), 0);
	assert_int_equal(st.mem_removes, 0);
	/* The device completes: then, and only then, the reply. */
	assert_int_equal(write(f->e.q[0].release_fd, &one, 8), 8);
	assert_true(wait_used(f, 0, TMO, &e));
	assert_int_equal(e.len, 10);
	assert_int_equal(recv_u64(f, GPC_VHOST_REM_MEM_REG), 0);
	assert_memory_equal(f->b + PS, "Held in B", 10);
	assert_int_equal(gpc_vhost_dev_get_stats(f->d, &st), 0);
	assert_int_equal(st.mem_removes, 1);
	/* B is gone: a chain there is a bad request now. */
	post(f, 0, GB, 10, GB + PS, 10);
	assert_true(wait_used(f, 0, TMO, &e));
	assert_int_equal(e.len, 0);
	/* And it can come back. */
	add_region_b(f, 0);
	post(f, 0, GB, 10, GB + PS, 10);
	assert_int_equal(write(f->e.q[0].release_fd, &one, 8), 8);
	assert_true(wait_used(f, 0, TMO, &e));
	assert_int_equal(e.len, 10);
}

/* SET_MEM_TABLE that drops B with a request held in B: same wait. */
static void t_table_drop_waits(void **state)
{
	struct fx *f = *state;
	struct vring_used_elem e;
	uint64_t one = 1;
	struct gpc_vhost_mem_table t = { .nregions = 1 };

	connect_all(f, false);
	add_region_b(f, 0);
	memcpy(f->b, "Hold", 4);
	post(f, 0, GB, 4, GB + PS, 4);
	assert_false(wait_used(f, 0, 50, &e));
	t.regions[0] = region(GA, A_PAGES, UA);
	send_msg(f, GPC_VHOST_SET_MEM_TABLE, true, &t,
		 GPC_VHOST_MEM_TABLE_HDR_SIZE + 32, &f->memfd_a, 1);
	post(f, 1, BUF(0), 8, BUF(1), 8);
	assert_true(wait_used(f, 1, TMO, &e));
	assert_false(readable(f, 200));
	assert_int_equal(write(f->e.q[0].release_fd, &one, 8), 8);
	assert_true(wait_used(f, 0, TMO, &e));
	assert_int_equal(recv_u64(f, GPC_VHOST_SET_MEM_TABLE), 0);
	/* A was kept: queue 1 goes on. */
	post(f, 1, BUF(0), 8, BUF(1), 8);
	assert_true(wait_used(f, 1, TMO, &e));
}

/* ---- the socket: server and client mode, run and stop -------------- */

struct run_arg {
	struct gpc_vhost_dev *d;
	int rc;
};

static void *run_main(void *arg)
{
	struct run_arg *r = arg;

	r->rc = gpc_vhost_dev_run(r->d);
	return NULL;
}

static uint64_t socket_get_u64(int sock, uint32_t req)
{
	struct gpc_vhost_hdr h = { req, GPC_VHOST_VERSION, 0 };
	struct gpc_vhost_msg m;

	assert_int_equal(gpc_vhost_msg_send(sock, &h, NULL, NULL, 0, TMO), 0);
	assert_int_equal(gpc_vhost_msg_recv(sock, &m, TMO), 0);
	return m.payload.u64;
}

static uint64_t socket_features(int sock)
{
	return socket_get_u64(sock, GPC_VHOST_GET_FEATURES);
}

static void t_socket_modes(void **state)
{
	struct gpc_vhost_config cfg = { .scheme = GPC_SCHEME_SRCU };
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct run_arg r = { 0 };
	struct edev e = { 0 };
	pthread_t t;
	int s, l;

	(void)state;
	for (int i = 0; i < NQ; i++)
		e.q[i].release_fd = -1;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "/tmp/gpc-vhost-test-%d",
		 (int)getpid());
	cfg.socket_path = sa.sun_path;
	/* Server: we connect. */
	assert_int_equal(gpc_vhost_dev_create(&echo_dev, &e, &cfg, &r.d), 0);
	assert_int_equal(pthread_create(&t, NULL, run_main, &r), 0);
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(connect(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_true(socket_features(s) >> VIRTIO_F_VERSION_1 & 1);
	close(s);
	/* A second front-end after the first one left. */
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(connect(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_true(socket_features(s) >> VIRTIO_F_VERSION_1 & 1);
	assert_true(socket_get_u64(s, GPC_VHOST_GET_PROTOCOL_FEATURES) >>
			    GPC_VHOST_PROTOCOL_F_CONFIGURE_MEM_SLOTS &
		    1);
	assert_int_equal(gpc_vhost_dev_destroy(r.d), -EBUSY);
	assert_int_equal(gpc_vhost_dev_stop(r.d), 0);
	pthread_join(t, NULL);
	assert_int_equal(r.rc, 0);
	close(s);
	assert_int_equal(gpc_vhost_dev_destroy(r.d), 0);
	/* Without memory slots: the front-end must send whole tables. */
	cfg.flags = GPC_VHOST_F_NO_MEM_SLOTS;
	assert_int_equal(gpc_vhost_dev_create(&echo_dev, &e, &cfg, &r.d), 0);
	assert_int_equal(pthread_create(&t, NULL, run_main, &r), 0);
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(connect(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_false(socket_get_u64(s, GPC_VHOST_GET_PROTOCOL_FEATURES) >>
			     GPC_VHOST_PROTOCOL_F_CONFIGURE_MEM_SLOTS &
		     1);
	assert_int_equal(gpc_vhost_dev_stop(r.d), 0);
	pthread_join(t, NULL);
	assert_int_equal(r.rc, 0);
	close(s);
	assert_int_equal(gpc_vhost_dev_destroy(r.d), 0);
	/* Client: the back-end retries until we listen. */
	cfg.flags = GPC_VHOST_F_CLIENT;
	unlink(sa.sun_path);
	assert_int_equal(gpc_vhost_dev_create(&echo_dev, &e, &cfg, &r.d), 0);
	assert_int_equal(pthread_create(&t, NULL, run_main, &r), 0);
	usleep(150000); /* a failed attempt or two */
	l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(bind(l, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(l, 1), 0);
	s = accept(l, NULL, NULL);
	assert_true(s >= 0);
	assert_true(socket_features(s) >> VIRTIO_F_VERSION_1 & 1);
	assert_int_equal(gpc_vhost_dev_stop(r.d), 0);
	pthread_join(t, NULL);
	assert_int_equal(r.rc, 0);
	close(s);
	close(l);
	unlink(sa.sun_path);
	assert_int_equal(gpc_vhost_dev_destroy(r.d), 0);
}

/* Refused arguments of the calls themselves. */
static void t_api_errors(void **state)
{
	struct gpc_vhost_config cfg = { .scheme = GPC_SCHEME_SRCU };
	struct gpc_vhost_device bad = echo_dev;
	struct gpc_vhost_dev *d;
	char longp[200];

	(void)state;
	assert_int_equal(gpc_vhost_dev_create(NULL, NULL, &cfg, &d), -EINVAL);
	bad.request = NULL;
	assert_int_equal(gpc_vhost_dev_create(&bad, NULL, &cfg, &d), -EINVAL);
	bad = echo_dev;
	bad.num_queues = GPC_VHOST_MAX_QUEUES + 1;
	assert_int_equal(gpc_vhost_dev_create(&bad, NULL, &cfg, &d), -EINVAL);
	bad = echo_dev;
	bad.queue_size_max = 100;
	assert_int_equal(gpc_vhost_dev_create(&bad, NULL, &cfg, &d), -EINVAL);
	cfg.flags = 1u << 20;
	assert_int_equal(gpc_vhost_dev_create(&echo_dev, NULL, &cfg, &d),
			 -EINVAL);
	cfg.flags = 0;
	memset(longp, 'x', sizeof(longp) - 1);
	longp[sizeof(longp) - 1] = 0;
	cfg.socket_path = longp;
	assert_int_equal(gpc_vhost_dev_create(&echo_dev, NULL, &cfg, &d),
			 -ENAMETOOLONG);
	assert_int_equal(gpc_vhost_dev_run(NULL), -EINVAL);
	assert_int_equal(gpc_vhost_dev_serve_fd(NULL, 0), -EINVAL);
	assert_int_equal(gpc_vhost_dev_stop(NULL), -EINVAL);
	assert_int_equal(gpc_vhost_dev_destroy(NULL), -EINVAL);
	assert_int_equal(gpc_vhost_req_complete(NULL, 0), -EINVAL);
	assert_int_equal(gpc_vhost_dev_config_changed(NULL), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(t_negotiation),
		T(t_bad_states),
		T(t_refused_disconnects),
		T(t_echo),
		T(t_event_idx),
		T(t_vring_base),
		T(t_rem_waits_in_flight),
		T(t_table_drop_waits),
		cmocka_unit_test_setup_teardown(t_echo, setup_one_worker,
						teardown),
		cmocka_unit_test_setup_teardown(t_rem_waits_in_flight,
						setup_one_worker, teardown),
		cmocka_unit_test(t_socket_modes),
		cmocka_unit_test(t_api_errors),
	};

	return cmocka_run_group_tests_name("vhost_dev", tests, NULL, NULL);
}
#endif /* VHOST_DEV_FIXTURE_ONLY */
