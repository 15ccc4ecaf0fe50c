// SPDX-License-Identifier: MIT
/*
 * tests/vhost/vhost_ext_fixture.h - what the tests of the back-end's
 * optional features (src/vhost/ext.h) share, on top of test_vhost_dev.c's
 * fixture (included: the socketpair front-end, the echo device that holds
 * requests starting with 'H', memfds A and B, T() for both read-side
 * schemes): negotiation with extra protocol bits, the vring messages at a
 * chosen ring base, the back-end's log lines kept for the test, a
 * back-end restart, the front-end's dirty log, and the IOTLB (IOVA space,
 * IOTLB_MSG, the back-end channel, rings by IOVA).
 *
 * Included (once, as the first include) by test_vhost_inflight_msg.c,
 * test_vhost_log_msg.c, test_vhost_vring_addr.c, test_vhost_iotlb_msg.c
 * and test_vhost_alias_log.c, each a program of its own; not every one
 * uses every helper, hence the pragma (for this header only: a program's
 * own unused helpers still warn).
 */
#ifndef GPC_TESTS_VHOST_EXT_FIXTURE_H
#define GPC_TESTS_VHOST_EXT_FIXTURE_H

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#define VHOST_DEV_FIXTURE_ONLY
#include "test_vhost_dev.c"

#include "fault.h"

/* Negotiate as negotiate() does, with extra protocol bits. */
static void negotiate_proto(struct fx *f, uint64_t extra_proto,
			    uint64_t extra_features)
{
	uint64_t p = proto_want | extra_proto;

	assert_int_equal(get_u64(f, GPC_VHOST_GET_FEATURES) & extra_features,
			 extra_features);
	assert_int_equal(get_u64(f, GPC_VHOST_GET_PROTOCOL_FEATURES) & p, p);
	send_msg(f, GPC_VHOST_SET_PROTOCOL_FEATURES, false, &p, 8, NULL, 0);
	assert_int_equal(req_ack(f, GPC_VHOST_SET_OWNER, NULL, 0, NULL, 0), 0);
	f->features = (1ull << VIRTIO_F_VERSION_1) |
		      (1ull << GPC_VHOST_F_PROTOCOL_FEATURES) |
		      (1ull << VIRTIO_RING_F_INDIRECT_DESC) | extra_features;
	u64_ack0(f, GPC_VHOST_SET_FEATURES, f->features);
}

/*
 * The vring messages of start_queue() without touching the driver side;
 * log: VHOST_VRING_F_LOG with the used ring's GPA as log_guest_addr.
 */
static void vring_msgs_at(struct fx *f, unsigned int i, uint16_t base, bool log,
			  uint64_t ring_base)
{
	struct drv *q = &f->q[i];
	uint64_t pg = ring_page(i), v = i;
	struct vhost_vring_addr addr = {
		.index = i,
		.flags = log ? 1u << VHOST_VRING_F_LOG : 0,
		.desc_user_addr = ring_base + pg * PS,
		.avail_user_addr = ring_base + (pg + 1) * PS,
		.used_user_addr = ring_base + (pg + 2) * PS,
		.log_guest_addr = log ? GA + (pg + 2) * PS : 0,
	};

	state_ack(f, GPC_VHOST_SET_VRING_NUM, i, NUM, 0);
	assert_int_equal(req_ack(f, GPC_VHOST_SET_VRING_ADDR, &addr,
				 sizeof(addr), NULL, 0),
			 0);
	state_ack(f, GPC_VHOST_SET_VRING_BASE, i, base, 0);
	assert_int_equal(
		req_ack(f, GPC_VHOST_SET_VRING_CALL, &v, 8, &q->call, 1), 0);
	assert_int_equal(
		req_ack(f, GPC_VHOST_SET_VRING_KICK, &v, 8, &q->kick, 1), 0);
	state_ack(f, GPC_VHOST_SET_VRING_ENABLE, i, 1, 0);
}

static void vring_msgs_log(struct fx *f, unsigned int i, uint16_t base,
			   bool log)
{
	vring_msgs_at(f, i, base, log, UA);
}

/* The back-end's log lines: on stderr, and kept for log_wait_line(). */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static char logbuf[8192];
static size_t loglen;

static void cap_log(void *ctx, int level, const char *msg)
{
	size_t n = strlen(msg);

	(void)ctx;
	fprintf(stderr, "[log %d] %s\n", level, msg);
	pthread_mutex_lock(&log_lock);
	if (loglen + n + 2 < sizeof(logbuf)) {
		memcpy(logbuf + loglen, msg, n);
		loglen += n;
		logbuf[loglen++] = '\n';
		logbuf[loglen] = 0;
	}
	pthread_mutex_unlock(&log_lock);
}

/* A line holding @s within TMO ms (the control thread logs it). */
static bool log_wait_line(const char *s)
{
	for (int t = 0; t < TMO; t++) {
		bool found;

		pthread_mutex_lock(&log_lock);
		found = strstr(logbuf, s) != NULL;
		pthread_mutex_unlock(&log_lock);
		if (found)
			return true;
		usleep(1000);
	}
	return false;
}

/* The back-end process dies and a new one (of @dev, @flags) serves. */
static void restart_backend_flags(struct fx *f,
				  const struct gpc_vhost_device *dev,
				  unsigned int flags)
{
	struct gpc_vhost_config cfg = { .scheme = f->scheme,
					.flags = flags,
					.log = cap_log };
	struct serve_arg *s = malloc(sizeof(*s));
	int sv[2];

	assert_non_null(s);
	close(f->sock);
	pthread_join(f->t, NULL);
	assert_int_equal(gpc_vhost_dev_destroy(f->d), 0);
	f->e.crash_on_stop = false;
	assert_int_equal(gpc_vhost_dev_create(dev, &f->e, &cfg, &f->d), 0);
	pthread_mutex_lock(&log_lock);
	loglen = 0;
	logbuf[0] = 0;
	pthread_mutex_unlock(&log_lock);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
			 0);
	f->sock = sv[0];
	s->d = f->d;
	s->fd = sv[1];
	assert_int_equal(pthread_create(&f->t, NULL, serve_main, s), 0);
}

static void restart_backend_dev(struct fx *f,
				const struct gpc_vhost_device *dev)
{
	restart_backend_flags(f, dev, GPC_VHOST_F_CHECK_STALE);
}

#define LOG_PROTO  (1ull << GPC_VHOST_PROTOCOL_F_LOG_SHMFD)
#define LOG_ALL	   (1ull << VHOST_F_LOG_ALL)
#define LOG_BYTES  4096u
#define PAGE_OF(g) ((g) / PS)

/* The log has exactly the bits of pages want[0..n). */
static void check_log(const uint8_t *log, const uint64_t *want, unsigned int n)
{
	for (uint64_t pg = 0; pg < LOG_BYTES * 8ull; pg++) {
		bool set = log[pg / 8] >> (pg % 8) & 1, wanted = false;

		for (unsigned int i = 0; i < n; i++)
			wanted |= want[i] == pg;
		if (set != wanted)
			fail_msg("page 0x%llx: bit %d, want %d",
				 (unsigned long long)pg, set, wanted);
	}
}

/* The front-end's view of a LOG_BYTES log in memfd @lfd. */
static uint8_t *log_map(int lfd)
{
	uint8_t *log;

	assert_true(lfd >= 0);
	assert_int_equal(ftruncate(lfd, LOG_BYTES), 0);
	log = mmap(NULL, LOG_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, lfd, 0);
	assert_true(log != MAP_FAILED);
	return log;
}

/* SET_LOG_BASE of the whole of @lfd; its u64 reply is 0. */
static void log_base(struct fx *f, int lfd)
{
	struct gpc_vhost_log lb = { .mmap_size = LOG_BYTES };

	send_msg(f, GPC_VHOST_SET_LOG_BASE, false, &lb, sizeof(lb), &lfd, 1);
	assert_int_equal(recv_u64(f, GPC_VHOST_SET_LOG_BASE), 0);
}

static bool readable_within(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, ms) == 1;
}

/* ---- IOTLB ---- */

#define IV	   0x40000000ull /* the IOVA of page 0 of memfd A */
#define IOVA(pg)   (IV + (pg)*PS)
#define BUFIV(n)   IOVA(16 + (n))
#define AP_FEATURE (1ull << VIRTIO_F_ACCESS_PLATFORM)
#define IOMMU_PROTO                                   \
	((1ull << GPC_VHOST_PROTOCOL_F_BACKEND_REQ) | \
	 (1ull << GPC_VHOST_PROTOCOL_F_REPLY_ACK))

static uint64_t iotlb_msg(struct fx *f, uint8_t type, uint64_t iova,
			  uint64_t pages, uint64_t ua, uint8_t perm)
{
	struct vhost_iotlb_msg m = { .iova = iova,
				     .size = pages * PS,
				     .uaddr = ua,
				     .perm = perm,
				     .type = type };

	return req_ack(f, GPC_VHOST_IOTLB_MSG, &m, sizeof(m), NULL, 0);
}

/* The back-end channel (SET_BACKEND_REQ_FD): our end of it. */
static int backend_channel(struct fx *f)
{
	int bs[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, bs),
			 0);
	assert_int_equal(req_ack(f, GPC_VHOST_SET_BACKEND_REQ_FD, NULL, 0,
				 &bs[1], 1),
			 0);
	close(bs[1]);
	return bs[0];
}

/* The driver side of start_queue(), rings addressed by IOVA. */
static void start_queue_iova(struct fx *f, unsigned int i)
{
	struct drv *q = &f->q[i];
	uint64_t pg = ring_page(i);

	q->desc = (void *)(f->a + pg * PS);
	q->avail = (void *)(f->a + (pg + 1) * PS);
	q->used = (void *)(f->a + (pg + 2) * PS);
	q->avail_idx = q->last_used = 0;
	q->avail->idx = 0;
	q->kick = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	q->call = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	vring_msgs_at(f, i, 0, false, IV);
}

#pragma GCC diagnostic pop

#endif /* GPC_TESTS_VHOST_EXT_FIXTURE_H */
