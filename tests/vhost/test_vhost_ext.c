// SPDX-License-Identifier: MIT
/*
 * tests/vhost/test_vhost_ext.c - the back-end's optional features wired
 * through src/vhost/ext.h, driven like test_vhost_dev (whose fixture this
 * file includes: the socketpair front-end, the echo device that holds
 * requests starting with 'H'), on both read-side schemes:
 *
 *  - INFLIGHT_SHMFD: a front-end takes the inflight fd, the device holds
 *    two requests, the back-end "crashes" (its device forgets what it
 *    held, the dev object is destroyed) and a new one gets the area back
 *    with SET_INFLIGHT_FD: exactly the held requests are run again, in
 *    the order they were taken, each completed once, and the queue goes
 *    on from the used index plus them whatever base the front-end gives.
 *  - LOG_SHMFD + LOG_ALL: SET_LOG_BASE, and a write request sets exactly
 *    the bits of its buffer's pages and of the used ring's page in the
 *    front-end's log, at completion and through the harvest.
 *  - ACCESS_PLATFORM: rings and buffers by IOVA through the IOTLB, a miss
 *    answered by an update, an invalidation waiting for a held request.
 *  - CHECK_STALE (the fixture's flag) with the IOTLB: a device that keeps
 *    pointers found through IOVAs and uses them after the IOVAs'
 *    invalidation is counted (stale_accesses), logged, sees zeros, and the
 *    guest's memory is untouched; the invalidated entry's remainder works.
 */
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

static void vring_msgs(struct fx *f, unsigned int i, uint16_t base)
{
	vring_msgs_log(f, i, base, false);
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

static void restart_backend(struct fx *f)
{
	restart_backend_dev(f, &echo_dev);
}

#define INFLIGHT_PROTO (1ull << GPC_VHOST_PROTOCOL_F_INFLIGHT_SHMFD)

static void t_inflight_reconnect(void **state)
{
	struct fx *f = *state;
	struct gpc_vhost_inflight in = { .num_queues = NQ, .queue_size = NUM };
	struct gpc_vhost_msg m;
	struct vring_used_elem e;
	uint16_t h1, h2, h4;
	int ifd;

	negotiate_proto(f, INFLIGHT_PROTO, 0);
	set_mem_a(f);
	send_msg(f, GPC_VHOST_GET_INFLIGHT_FD, false, &in, sizeof(in), NULL, 0);
	assert_int_equal(gpc_vhost_msg_recv(f->sock, &m, TMO), 0);
	assert_int_equal(m.hdr.request, GPC_VHOST_GET_INFLIGHT_FD);
	assert_int_equal(m.hdr.size, sizeof(in));
	assert_int_equal(m.nfds, 1);
	in = m.payload.inflight;
	ifd = gpc_vhost_msg_take_fd(&m, 0);
	assert_true(ifd >= 0);
	assert_true(in.mmap_size >= NQ * (NUM * 16 + 16));
	start_queue(f, 0, 0);

	/* One completed, two held (I/O in the kernel), one completed. */
	strcpy((char *)PTR(f, 0), "n0");
	post(f, 0, BUF(0), 8, BUF(1), 8);
	assert_true(wait_used(f, 0, TMO, &e));
	strcpy((char *)PTR(f, 2), "H1");
	strcpy((char *)PTR(f, 4), "H2");
	h1 = post(f, 0, BUF(2), 8, BUF(3), 8);
	h2 = post(f, 0, BUF(4), 8, BUF(5), 8);
	strcpy((char *)PTR(f, 6), "n3");
	post(f, 0, BUF(6), 8, BUF(7), 8);
	assert_true(wait_used(f, 0, TMO, &e));
	assert_int_equal(e.id, 6);
	assert_int_equal(f->q[0].used->idx, 2);

	/* The crash: nothing held is completed. */
	f->e.crash_on_stop = true;
	restart_backend(f);
	assert_int_equal(f->q[0].used->idx, 2);
	/* So that the resubmitted are not held again; seen in the echo. */
	PTR(f, 2)[0] = 'R';
	PTR(f, 4)[0] = 'S';

	negotiate_proto(f, INFLIGHT_PROTO, 0);
	set_mem_a(f);
	assert_int_equal(req_ack(f, GPC_VHOST_SET_INFLIGHT_FD, &in, sizeof(in),
				 &ifd, 1),
			 0);
	/*
	 * Base 0 would run all four again: the back-end must go on from
	 * used index 2 plus the two it resubmits.
	 */
	vring_msgs(f, 0, 0);
	assert_true(wait_used(f, 0, TMO, &e));
	assert_int_equal(e.id, h1);
	assert_int_equal(e.len, 8);
	assert_true(wait_used(f, 0, TMO, &e));
	assert_int_equal(e.id, h2);
	assert_string_equal((char *)PTR(f, 3), "R1");
	assert_string_equal((char *)PTR(f, 5), "S2");
	/* Exactly once: nothing else appears. */
	assert_false(wait_used(f, 0, 100, &e));
	assert_int_equal(f->q[0].used->idx, 4);
	/* New requests go on from avail index 4. */
	strcpy((char *)PTR(f, 8), "n4");
	h4 = post(f, 0, BUF(8), 8, BUF(9), 8);
	assert_true(wait_used(f, 0, TMO, &e));
	assert_int_equal(e.id, h4);
	assert_string_equal((char *)PTR(f, 9), "n4");
	assert_false(wait_used(f, 0, 50, &e));

	/* Replacing the area under a running queue is refused. */
	assert_int_equal(req_ack(f, GPC_VHOST_SET_INFLIGHT_FD, &in, sizeof(in),
				 &ifd, 1),
			 EBUSY);
	close(ifd);
}

/* Without INFLIGHT_SHMFD negotiated the requests are refused. */
static void t_inflight_not_negotiated(void **state)
{
	struct fx *f = *state;
	struct gpc_vhost_inflight in = { .num_queues = NQ, .queue_size = NUM };
	int fd = memfd_create("x", MFD_CLOEXEC);

	assert_true(get_u64(f, GPC_VHOST_GET_PROTOCOL_FEATURES) &
		    INFLIGHT_PROTO);
	negotiate_proto(f, 0, 0);
	assert_int_equal(ftruncate(fd, 4096), 0);
	in.mmap_size = 4096;
	assert_int_equal(req_ack(f, GPC_VHOST_SET_INFLIGHT_FD, &in, sizeof(in),
				 &fd, 1),
			 EOPNOTSUPP);
	close(fd);
}

#define LOG_PROTO  (1ull << GPC_VHOST_PROTOCOL_F_LOG_SHMFD)
#define LOG_ALL	   (1ull << VHOST_F_LOG_ALL)
#define LOG_BYTES  4096u
#define PAGE_OF(g) ((g) / PS)

/* Wait until the log's bit of page pg is set; false on timeout. */
static bool wait_bit(const uint8_t *log, uint64_t pg, int ms)
{
	for (int t = 0; t < ms * 10; t++) {
		if (atomic_load_explicit((_Atomic uint8_t *)&log[pg / 8],
					 memory_order_acquire) &
		    1u << (pg % 8))
			return true;
		usleep(100);
	}
	return false;
}

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

/*
 * A write request under LOG_ALL: its writable buffer (across a page
 * boundary) and the used ring's page, nothing else, both at completion
 * and after GET_VRING_BASE's harvest; nothing once LOG_ALL is off.
 */
static void t_dirty_log(void **state)
{
	struct fx *f = *state;
	struct vhost_vring_state st = { 0, 0 };
	struct vring_used_elem e;
	struct gpc_vhost_msg m;
	uint64_t in_gpa = BUF(3) + PS - 4;
	const uint64_t want[] = { PAGE_OF(in_gpa), PAGE_OF(in_gpa) + 1,
				  PAGE_OF(GA + 2 * PS) };
	int lfd = memfd_create("log", MFD_CLOEXEC);
	uint8_t *log;

	log = log_map(lfd);
	negotiate_proto(f, LOG_PROTO, 0);
	set_mem_a(f);
	log_base(f, lfd);
	start_queue(f, 0, 0);
	/* Re-address the ring with VHOST_VRING_F_LOG (stop, then restart). */
	send_msg(f, GPC_VHOST_GET_VRING_BASE, false, &st, sizeof(st), NULL, 0);
	assert_int_equal(gpc_vhost_msg_recv(f->sock, &m, TMO), 0);
	assert_int_equal(m.payload.state.num, 0);
	vring_msgs_log(f, 0, 0, true);
	u64_ack0(f, GPC_VHOST_SET_FEATURES, f->features | LOG_ALL);

	strcpy((char *)PTR(f, 0), "logged");
	post(f, 0, BUF(0), 8, in_gpa, 8);
	assert_true(wait_used(f, 0, TMO, &e));
	assert_int_equal(e.len, 8);
	/* The used index is logged right after its store. */
	assert_true(wait_bit(log, want[2], TMO));
	check_log(log, want, 3);

	/* libgpc's own marks, harvested at GET_VRING_BASE: the same pages. */
	memset(log, 0, LOG_BYTES);
	send_msg(f, GPC_VHOST_GET_VRING_BASE, false, &st, sizeof(st), NULL, 0);
	assert_int_equal(gpc_vhost_msg_recv(f->sock, &m, TMO), 0);
	assert_int_equal(m.payload.state.num, 1);
	check_log(log, want, 3);

	/* LOG_ALL off: nothing is logged any more. */
	u64_ack0(f, GPC_VHOST_SET_FEATURES, f->features);
	memset(log, 0, LOG_BYTES);
	vring_msgs_log(f, 0, 1, true);
	post(f, 0, BUF(0), 8, BUF(6), 8);
	assert_true(wait_used(f, 0, TMO, &e));
	usleep(20000);
	check_log(log, NULL, 0);
	munmap(log, LOG_BYTES);
	close(lfd);
}

static bool readable_within(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, ms) == 1;
}

/* The eventfd's count so far (0: nothing), read and reset. */
static uint64_t take_count(int efd)
{
	uint64_t v = 0;

	if (read(efd, &v, sizeof(v)) != sizeof(v))
		return 0;
	return v;
}

/*
 * SET_LOG_FD: an fd that is not an eventfd, or two fds, is an error
 * reply; an eventfd is signalled after completions that set log bits
 * (and after the harvest of GET_VRING_BASE), not without LOG_ALL; a
 * second eventfd replaces the first.
 */
static void t_log_fd(void **state)
{
	struct fx *f = *state;
	struct vhost_vring_state st = { 0, 0 };
	struct vring_used_elem e;
	struct gpc_vhost_msg m;
	int lfd = memfd_create("log", MFD_CLOEXEC);
	int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	int efd2 = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	int two[2] = { efd, efd2 };
	uint8_t *log;

	log = log_map(lfd);
	negotiate_proto(f, LOG_PROTO, 0);
	set_mem_a(f);
	assert_int_equal(req_ack(f, GPC_VHOST_SET_LOG_FD, NULL, 0, &lfd, 1),
			 EINVAL);
	assert_int_equal(req_ack(f, GPC_VHOST_SET_LOG_FD, NULL, 0, two, 2),
			 EBADF);
	assert_int_equal(req_ack(f, GPC_VHOST_SET_LOG_FD, NULL, 0, &efd, 1), 0);
	log_base(f, lfd);

	/* Without LOG_ALL a completion logs nothing and signals nothing. */
	start_queue(f, 0, 0);
	strcpy((char *)PTR(f, 0), "quiet");
	post(f, 0, BUF(0), 8, BUF(1), 8);
	assert_true(wait_used(f, 0, TMO, &e));
	usleep(20000);
	assert_int_equal(take_count(efd), 0);

	/* LOG_ALL: each logged completion is signalled, bits set first. */
	u64_ack0(f, GPC_VHOST_SET_FEATURES, f->features | LOG_ALL);
	post(f, 0, BUF(0), 8, BUF(3), 8);
	assert_true(wait_used(f, 0, TMO, &e));
	assert_true(readable_within(efd, TMO));
	assert_true(log[PAGE_OF(BUF(3)) / 8] >> (PAGE_OF(BUF(3)) % 8) & 1);
	post(f, 0, BUF(0), 8, BUF(5), 8);
	assert_true(wait_used(f, 0, TMO, &e));
	assert_true(wait_bit(log, PAGE_OF(BUF(5)), TMO));
	usleep(20000); /* the signal follows the used index */
	assert_int_equal(take_count(efd), 2);

	/* A second eventfd replaces the first (which is closed for us). */
	assert_int_equal(req_ack(f, GPC_VHOST_SET_LOG_FD, NULL, 0, &efd2, 1),
			 0);
	/* GET_VRING_BASE's harvest moves libgpc's bits: a signal. */
	send_msg(f, GPC_VHOST_GET_VRING_BASE, false, &st, sizeof(st), NULL, 0);
	assert_int_equal(gpc_vhost_msg_recv(f->sock, &m, TMO), 0);
	assert_int_equal(take_count(efd), 0);
	assert_int_equal(take_count(efd2), 1);
	munmap(log, LOG_BYTES);
	close(lfd);
	close(efd);
	close(efd2);
}

/* ---- SET_VRING_ADDR's early check ---- */

static uint64_t vring_addr(struct fx *f, unsigned int i, uint64_t desc,
			   uint64_t avail, uint64_t used)
{
	struct vhost_vring_addr a = { .index = i,
				      .desc_user_addr = desc,
				      .avail_user_addr = avail,
				      .used_user_addr = used };

	return req_ack(f, GPC_VHOST_SET_VRING_ADDR, &a, sizeof(a), NULL, 0);
}

/*
 * With a memory table and no IOTLB, SET_VRING_ADDR refuses a ring that
 * starts outside every region or misaligned, and, once SET_VRING_NUM
 * gave the size, one that runs past its region; without the size only
 * the starts are checked. Before a memory table (and before
 * SET_FEATURES) anything is taken: the kick checks again.
 */
static void t_vring_addr(void **state)
{
	struct fx *f = *state;
	uint64_t far = UA + 2 * A_PAGES * PS, end = UA + A_PAGES * PS;

	negotiate_proto(f, 0, 0);
	assert_int_equal(vring_addr(f, 0, far, far, far), 0);
	set_mem_a(f);
	/* Size unknown on queue 1: starts only. */
	assert_int_equal(vring_addr(f, 1, far, UA + PS, UA + 2 * PS), ENOENT);
	assert_int_equal(vring_addr(f, 1, UA, far, UA + 2 * PS), ENOENT);
	assert_int_equal(vring_addr(f, 1, UA, UA + PS, far), ENOENT);
	assert_int_equal(vring_addr(f, 1, UA + 8, UA + PS, UA + 2 * PS),
			 EINVAL);
	assert_int_equal(vring_addr(f, 1, end - 16, end - 6, end - 12), 0);
	/* Size known on queue 0: the whole ring must fit. */
	state_ack(f, GPC_VHOST_SET_VRING_NUM, 0, NUM, 0);
	assert_int_equal(vring_addr(f, 0, end - 16, UA + PS, UA + 2 * PS),
			 EFAULT);
	assert_int_equal(vring_addr(f, 0, UA, end - 6, UA + 2 * PS), EFAULT);
	assert_int_equal(vring_addr(f, 0, UA, UA + PS, end - 12), EFAULT);
	assert_int_equal(vring_addr(f, 0, end - 16 * NUM, end - 2 * PS,
				    end - 3 * PS),
			 0);
	/* After the refusals the queue starts as usual. */
	start_queue(f, 0, 0);
	strcpy((char *)PTR(f, 0), "addr");
	post(f, 0, BUF(0), 8, BUF(1), 8);
	{
		struct vring_used_elem e;

		assert_true(wait_used(f, 0, TMO, &e));
	}
	assert_string_equal((char *)PTR(f, 1), "addr");
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

/* The next back-end message is an IOTLB miss of iova for perm. */
static void expect_miss(int bsock, uint64_t iova, uint8_t perm)
{
	struct gpc_vhost_msg m;

	assert_int_equal(gpc_vhost_msg_recv(bsock, &m, TMO), 0);
	assert_int_equal(m.hdr.request, GPC_VHOST_BACKEND_IOTLB_MSG);
	assert_int_equal(m.payload.iotlb.type, VHOST_IOTLB_MISS);
	assert_int_equal(m.payload.iotlb.iova, iova);
	assert_int_equal(m.payload.iotlb.perm, perm);
}

/*
 * Rings and buffers in IOVA space (IV + x -> UA + x, not the GPAs): echo
 * through the IOTLB; a buffer the IOTLB lacks is asked for with a miss on
 * the back-end channel while queue 0 waits and queue 1 goes on, and an
 * update answers it; an invalidation's ack waits for a request the device
 * holds through the invalidated IOVAs; afterwards they miss again.
 */
static void t_iotlb(void **state)
{
	struct fx *f = *state;
	struct vring_used_elem e;
	struct gpc_vhost_stats st;
	uint64_t v;
	int bs;

	assert_true(get_u64(f, GPC_VHOST_GET_FEATURES) & AP_FEATURE);
	negotiate_proto(f, IOMMU_PROTO, AP_FEATURE);
	bs = backend_channel(f);
	set_mem_a(f);
	/* Rings (pages 0-10) and buffer pages 16, 17: not 18 on. */
	assert_int_equal(iotlb_msg(f, VHOST_IOTLB_UPDATE, IV, 16, UA,
				   VHOST_ACCESS_RW),
			 0);
	assert_int_equal(iotlb_msg(f, VHOST_IOTLB_UPDATE, BUFIV(0), 2,
				   UA + 16 * PS, VHOST_ACCESS_RW),
			 0);
	/* An IOVA range outside guest memory is refused. */
	assert_int_equal(iotlb_msg(f, VHOST_IOTLB_UPDATE, IOVA(100), 1,
				   UA + 100 * PS, VHOST_ACCESS_RW),
			 EFAULT);
	start_queue_iova(f, 0);
	start_queue_iova(f, 1);

	strcpy((char *)PTR(f, 0), "by iova");
	post(f, 0, BUFIV(0), 8, BUFIV(1), 8);
	assert_true(wait_used(f, 0, TMO, &e));
	assert_int_equal(e.len, 8);
	assert_string_equal((char *)PTR(f, 1), "by iova");

	/* A miss: queue 0 waits for the mapping, queue 1 goes on. */
	memset(PTR(f, 2), 0, 8);
	post(f, 0, BUFIV(0), 8, BUFIV(2), 8);
	expect_miss(bs, BUFIV(2), VHOST_ACCESS_WO);
	assert_false(wait_used(f, 0, 50, &e));
	strcpy((char *)PTR(f, 0), "queue 1");
	post(f, 1, BUFIV(0), 8, BUFIV(1), 8);
	assert_true(wait_used(f, 1, TMO, &e));
	assert_string_equal((char *)PTR(f, 1), "queue 1");
	assert_int_equal(iotlb_msg(f, VHOST_IOTLB_UPDATE, BUFIV(2), 1,
				   UA + 18 * PS, VHOST_ACCESS_WO),
			 0);
	assert_true(wait_used(f, 0, TMO, &e));
	assert_int_equal(e.len, 8);
	assert_string_equal((char *)PTR(f, 2), "queue 1");

	/* An invalidation waits for the request held through it. */
	strcpy((char *)PTR(f, 0), "Held");
	post(f, 0, BUFIV(0), 8, BUFIV(1), 8);
	{
		struct vhost_iotlb_msg m = { .iova = BUFIV(0),
					     .size = 2 * PS,
					     .type = VHOST_IOTLB_INVALIDATE };

		usleep(20000); /* the device holds it */
		send_msg(f, GPC_VHOST_IOTLB_MSG, true, &m, sizeof(m), NULL, 0);
	}
	assert_false(readable_within(f->sock, 100));
	v = 1;
	assert_int_equal(write(f->e.q[0].release_fd, &v, 8), 8);
	assert_int_equal(recv_u64(f, GPC_VHOST_IOTLB_MSG), 0);
	assert_true(wait_used(f, 0, TMO, &e));
	assert_string_equal((char *)PTR(f, 1), "Held");
	/* Gone: the same buffer misses now (read access first). */
	post(f, 0, BUFIV(0), 8, BUFIV(2), 8);
	expect_miss(bs, BUFIV(0), VHOST_ACCESS_RO);
	assert_false(wait_used(f, 0, 50, &e));
	/*
	 * A region leaving the table takes its IOTLB entries along before
	 * its munmap (CHECK_STALE: a late access would fault): queue 1's
	 * buffer in B by IOVA works, then misses once B is removed.
	 */
	add_region_b(f, 0);
	assert_int_equal(iotlb_msg(f, VHOST_IOTLB_UPDATE, IOVA(200), 2, UB,
				   VHOST_ACCESS_RW),
			 0);
	strcpy((char *)f->b, "in b");
	post(f, 1, IOVA(200), 8, IOVA(201), 8);
	assert_true(wait_used(f, 1, TMO, &e));
	assert_string_equal((char *)f->b + PS, "in b");
	{
		struct gpc_vhost_mem_reg r = { 0, region(GB, B_PAGES, UB) };

		assert_int_equal(req_ack(f, GPC_VHOST_REM_MEM_REG, &r,
					 sizeof(r), NULL, 0),
				 0);
	}
	post(f, 1, IOVA(200), 8, IOVA(201), 8);
	expect_miss(bs, IOVA(200), VHOST_ACCESS_RO);
	assert_false(wait_used(f, 1, 50, &e));
	assert_int_equal(gpc_vhost_dev_get_stats(f->d, &st), 0);
	assert_true(st.iotlb_misses >= 3);
	assert_int_equal(st.iotlb_invalidations, 1);
	close(bs);
}

/*
 * Nothing mapped when the queue starts (QEMU maps at most the used ring
 * ahead): each ring, the descriptor table and the buffer are asked for in
 * turn, and the request completes once all are there.
 */
static void t_iotlb_ring_miss(void **state)
{
	struct fx *f = *state;
	struct vring_used_elem e;
	int bs;

	negotiate_proto(f, IOMMU_PROTO, AP_FEATURE);
	bs = backend_channel(f);
	set_mem_a(f);
	start_queue_iova(f, 0);
	strcpy((char *)PTR(f, 0), "late");
	post(f, 0, BUFIV(0), 8, BUFIV(1), 8);
	expect_miss(bs, IOVA(1), VHOST_ACCESS_RO); /* avail */
	assert_int_equal(iotlb_msg(f, VHOST_IOTLB_UPDATE, IOVA(1), 1, UA + PS,
				   VHOST_ACCESS_RO),
			 0);
	expect_miss(bs, IOVA(2), VHOST_ACCESS_RW); /* used */
	assert_int_equal(iotlb_msg(f, VHOST_IOTLB_UPDATE, IOVA(2), 1,
				   UA + 2 * PS, VHOST_ACCESS_RW),
			 0);
	expect_miss(bs, IOVA(0), VHOST_ACCESS_RO); /* descriptors */
	assert_int_equal(iotlb_msg(f, VHOST_IOTLB_UPDATE, IOVA(0), 1, UA,
				   VHOST_ACCESS_RO),
			 0);
	expect_miss(bs, BUFIV(0), VHOST_ACCESS_RO); /* the buffers */
	assert_int_equal(iotlb_msg(f, VHOST_IOTLB_UPDATE, BUFIV(0), 2,
				   UA + 16 * PS, VHOST_ACCESS_RW),
			 0);
	assert_true(wait_used(f, 0, TMO, &e));
	assert_int_equal(e.len, 8);
	assert_string_equal((char *)PTR(f, 1), "late");
	close(bs);
}

/*
 * Permissions: a used ring behind a read-only entry is asked for again
 * with RW (the datapath writes it); a device-writable buffer behind a
 * read-only entry is a bad request and stays unwritten; behind a
 * write-only entry it is written.
 */
static void t_iotlb_perm(void **state)
{
	struct fx *f = *state;
	struct vring_used_elem e;
	struct gpc_vhost_stats st;
	int bs;

	negotiate_proto(f, IOMMU_PROTO, AP_FEATURE);
	bs = backend_channel(f);
	set_mem_a(f);
	assert_int_equal(iotlb_msg(f, VHOST_IOTLB_UPDATE, IV, 3, UA,
				   VHOST_ACCESS_RO),
			 0);
	assert_int_equal(iotlb_msg(f, VHOST_IOTLB_UPDATE, BUFIV(0), 2,
				   UA + 16 * PS, VHOST_ACCESS_RO),
			 0);
	start_queue_iova(f, 0);
	strcpy((char *)PTR(f, 0), "perm");
	memset(PTR(f, 1), 0, 8);
	post(f, 0, BUFIV(0), 8, BUFIV(1), 8);
	expect_miss(bs, IOVA(2), VHOST_ACCESS_RW); /* used, read-only */
	assert_false(wait_used(f, 0, 50, &e));
	assert_int_equal(iotlb_msg(f, VHOST_IOTLB_UPDATE, IOVA(2), 1,
				   UA + 2 * PS, VHOST_ACCESS_RW),
			 0);
	assert_true(wait_used(f, 0, TMO, &e));
	assert_int_equal(e.len, 0);
	assert_int_equal(PTR(f, 1)[0], 0);
	assert_int_equal(gpc_vhost_dev_get_stats(f->d, &st), 0);
	assert_int_equal(st.bad_requests, 1);
	/* Write-only: the device writes it. */
	assert_int_equal(iotlb_msg(f, VHOST_IOTLB_UPDATE, BUFIV(2), 1,
				   UA + 18 * PS, VHOST_ACCESS_WO),
			 0);
	post(f, 0, BUFIV(0), 8, BUFIV(2), 8);
	assert_true(wait_used(f, 0, TMO, &e));
	assert_int_equal(e.len, 8);
	assert_string_equal((char *)PTR(f, 2), "perm");
	close(bs);
}

static uint64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/*
 * Under QEMU with iommu.strict=1 nearly every request misses once: the
 * update that answers a miss must wake the parked queue, not leave it to
 * its next RING_RETRY_MS (5 ms) poll, which made a Linux guest crawl at
 * 32 requests/s. Rounds of miss, update, completion, invalidation: most
 * completions must follow the update's ack within 1 ms (the poll alone
 * gives ~5 ms: a queue parks just before the test reads the miss).
 */
static void t_iotlb_miss_wakes(void **state)
{
	enum { ROUNDS = 40 };
	struct fx *f = *state;
	struct vring_used_elem e;
	unsigned int fast = 0;
	int bs[2];

	negotiate_proto(f, IOMMU_PROTO, AP_FEATURE);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, bs),
			 0);
	assert_int_equal(req_ack(f, GPC_VHOST_SET_BACKEND_REQ_FD, NULL, 0,
				 &bs[1], 1),
			 0);
	close(bs[1]);
	set_mem_a(f);
	assert_int_equal(iotlb_msg(f, VHOST_IOTLB_UPDATE, IV, 16, UA,
				   VHOST_ACCESS_RW),
			 0);
	assert_int_equal(iotlb_msg(f, VHOST_IOTLB_UPDATE, BUFIV(0), 1,
				   UA + 16 * PS, VHOST_ACCESS_RW),
			 0);
	start_queue_iova(f, 0);
	strcpy((char *)PTR(f, 0), "wake");
	for (unsigned int r = 0; r < ROUNDS; r++) {
		uint64_t t0;

		memset(PTR(f, 1), 0, 8);
		post(f, 0, BUFIV(0), 8, BUFIV(1), 8);
		expect_miss(bs[0], BUFIV(1), VHOST_ACCESS_WO);
		assert_int_equal(iotlb_msg(f, VHOST_IOTLB_UPDATE, BUFIV(1), 1,
					   UA + 17 * PS, VHOST_ACCESS_WO),
				 0);
		t0 = mono_us();
		assert_true(wait_used(f, 0, TMO, &e));
		if (mono_us() - t0 < 1000)
			fast++;
		assert_string_equal((char *)PTR(f, 1), "wake");
		assert_int_equal(iotlb_msg(f, VHOST_IOTLB_INVALIDATE, BUFIV(1),
					   1, 0, 0),
				 0);
	}
	print_message("      %u of %u completions within 1 ms of the update\n",
		      fast, (unsigned int)ROUNDS);
	assert_true(fast >= ROUNDS / 2);
	close(bs[0]);
}

/*
 * A device with a bug: of a request whose first byte is 'K' it keeps the
 * pointers to both buffers (found through the IOTLB) after completing it.
 */
static _Atomic(char *) kept_out, kept_in;

static void keep_request(void *qctx, struct gpc_vhost_req *r)
{
	(void)atomic_load_explicit(&posted, memory_order_acquire);
	if (r->nr_read && r->nr_write && *(char *)r->iov[0].iov_base == 'K') {
		atomic_store(&kept_out, r->iov[0].iov_base);
		atomic_store(&kept_in, r->iov[r->nr_read].iov_base);
	}
	e_request(qctx, r);
}

static struct gpc_vhost_device keep_dev;

/*
 * CHECK_STALE with the IOTLB: the device keeps the pointers of a request
 * through BUFIV(0) (read) and BUFIV(1) (written), one entry of two pages;
 * BUFIV(1) is invalidated, then the device writes through its old pointer
 * and reads through the other: each is one stale access (one per page,
 * the whole old translation is gone: page 0 has a new one now), no crash,
 * the guest's pages keep their data, the device reads zeros, not the
 * guest's live data. BUFIV(0)'s remainder and a new mapping of BUFIV(1)
 * work. (A mutant that leaves the retired alias accessible, or maps the
 * slot to the region itself, writes "STALE!" into the guest's page.)
 */
static void t_iotlb_stale(void **state)
{
	struct fx *f = *state;
	struct vring_used_elem e;
	struct gpc_vhost_stats st;
	char *out, *in, got[8];
	unsigned int retired;
	int bs;

	keep_dev = echo_dev;
	keep_dev.name = "keeping echo";
	keep_dev.request = keep_request;
	atomic_store(&kept_out, NULL);
	atomic_store(&kept_in, NULL);
	restart_backend_dev(f, &keep_dev);
	negotiate_proto(f, IOMMU_PROTO, AP_FEATURE);
	bs = backend_channel(f);
	set_mem_a(f);
	assert_int_equal(iotlb_msg(f, VHOST_IOTLB_UPDATE, IV, 16, UA,
				   VHOST_ACCESS_RW),
			 0);
	assert_int_equal(iotlb_msg(f, VHOST_IOTLB_UPDATE, BUFIV(0), 2,
				   UA + 16 * PS, VHOST_ACCESS_RW),
			 0);
	start_queue_iova(f, 0);
	strcpy((char *)PTR(f, 0), "Keep");
	post(f, 0, BUFIV(0), 8, BUFIV(1), 8);
	assert_true(wait_used(f, 0, TMO, &e));
	assert_int_equal(e.len, 8);
	assert_string_equal((char *)PTR(f, 1), "Keep");
	out = atomic_load(&kept_out);
	in = atomic_load(&kept_in);
	assert_non_null(out);
	assert_non_null(in);
	/* An alias of the guest's pages, not the region's mapping. */
	assert_true(in == out + PS);
	assert_string_equal(in, "Keep");
	assert_int_equal(gpc_vhost_dev_get_stats(f->d, &st), 0);
	assert_int_equal(st.stale_accesses, 0);
	retired = gpc_vhost_fault_aliases_kept();

	assert_int_equal(
		iotlb_msg(f, VHOST_IOTLB_INVALIDATE, BUFIV(1), 1, 0, 0), 0);
	/* The old entry's alias went PROT_NONE, the remainder has its own. */
	assert_true(gpc_vhost_fault_aliases_kept() == retired + 1 ||
		    retired == GPC_VHOST_FAULT_ALIAS_KEEP);
	strcpy((char *)PTR(f, 0), "Live");
	memcpy(in, "STALE!", 7);       /* the bug: a late write */
	memcpy(got, out, sizeof(got)); /* and a late read */
	assert_int_equal(gpc_vhost_dev_get_stats(f->d, &st), 0);
	assert_int_equal(st.stale_accesses, 2);
	assert_int_equal(st.bus_faults, 0);
	assert_memory_equal(got, "\0\0\0\0\0\0\0\0", 8);
	assert_string_equal((char *)PTR(f, 1), "Keep");
	assert_string_equal((char *)PTR(f, 0), "Live");
	assert_true(log_wait_line("accessed after its IOTLB invalidation"));

	/* The remainder (BUFIV(0)) and a new mapping of BUFIV(1) work. */
	assert_int_equal(iotlb_msg(f, VHOST_IOTLB_UPDATE, BUFIV(1), 1,
				   UA + 17 * PS, VHOST_ACCESS_WO),
			 0);
	post(f, 0, BUFIV(0), 8, BUFIV(1), 8);
	assert_true(wait_used(f, 0, TMO, &e));
	assert_int_equal(e.len, 8);
	assert_string_equal((char *)PTR(f, 1), "Live");
	assert_int_equal(gpc_vhost_dev_get_stats(f->d, &st), 0);
	assert_int_equal(st.stale_accesses, 2);
	close(bs);
}

/*
 * Mappings of guest memory (memfds) in this process: the back-end's
 * regions, the test's own view and CHECK_STALE's aliases. Only these are
 * counted because a sanitizer's allocator maps memory of its own while the
 * test runs (ASan's grew the whole count past the bound in CI).
 */
static unsigned int memfd_vma_count(void)
{
	FILE *m = fopen("/proc/self/maps", "r");
	unsigned int n = 0;
	char line[512];

	assert_non_null(m);
	while (fgets(line, sizeof(line), m))
		n += strstr(line, "/memfd:") != NULL;
	fclose(m);
	return n;
}

/*
 * What CHECK_STALE's aliases cost (figure): rounds of a one-page update
 * and its invalidation, as QEMU with iommu.strict=1 sends them, over the
 * socket, without and with CHECK_STALE. With it, the retired aliases stay
 * bounded: 1500 rounds (past GPC_VHOST_FAULT_ALIAS_KEEP) leave at most
 * that many kept and the mappings of guest memory grow by no more.
 */
static void t_iotlb_alias_cost(void **state)
{
	enum { ROUNDS = 1500 };
	struct fx *f = *state;
	double us[2];

	for (int mode = 0; mode < 2; mode++) {
		struct gpc_vhost_stats st;
		unsigned int vmas;
		uint64_t t0;

		restart_backend_flags(f, &echo_dev,
				      mode ? GPC_VHOST_F_CHECK_STALE : 0);
		negotiate_proto(f, IOMMU_PROTO, AP_FEATURE);
		set_mem_a(f);
		vmas = memfd_vma_count();
		t0 = mono_us();
		for (unsigned int r = 0; r < ROUNDS; r++) {
			uint64_t pg = 16 + r % 32;

			assert_int_equal(iotlb_msg(f, VHOST_IOTLB_UPDATE,
						   IOVA(pg), 1, UA + pg * PS,
						   VHOST_ACCESS_RW),
					 0);
			assert_int_equal(iotlb_msg(f, VHOST_IOTLB_INVALIDATE,
						   IOVA(pg), 1, 0, 0),
					 0);
		}
		us[mode] = (double)(mono_us() - t0) / ROUNDS;
		assert_int_equal(gpc_vhost_dev_get_stats(f->d, &st), 0);
		assert_int_equal(st.iotlb_updates, ROUNDS);
		assert_int_equal(st.iotlb_invalidations, ROUNDS);
		if (mode) {
			assert_int_equal(gpc_vhost_fault_aliases_kept(),
					 GPC_VHOST_FAULT_ALIAS_KEEP);
			assert_true(memfd_vma_count() <=
				    vmas + GPC_VHOST_FAULT_ALIAS_KEEP);
		}
	}
	print_message("      update + invalidate: %.1f us plain, %.1f us "
		      "with CHECK_STALE's aliases (%s)\n",
		      us[0], us[1],
		      f->scheme == GPC_SCHEME_SRCU ? "srcu" : "rwlock");
}

/* IOTLB_MSG without ACCESS_PLATFORM acked is refused. */
static void t_iotlb_not_acked(void **state)
{
	struct fx *f = *state;

	negotiate_proto(f, IOMMU_PROTO, 0);
	set_mem_a(f);
	assert_int_equal(iotlb_msg(f, VHOST_IOTLB_UPDATE, IV, 1, UA,
				   VHOST_ACCESS_RW),
			 EOPNOTSUPP);
}

/*
 * test_vhost_alias_log.c includes this file for its helpers (the log, the
 * IOTLB) with VHOST_EXT_FIXTURE_ONLY defined.
 */
#ifndef VHOST_EXT_FIXTURE_ONLY
int main(void)
{
	const struct CMUnitTest tests[] = {
		/* clang-format off */
		T(t_inflight_reconnect),
		T(t_inflight_not_negotiated),
		T(t_dirty_log),
		T(t_log_fd),
		T(t_vring_addr),
		T(t_iotlb),
		T(t_iotlb_ring_miss),
		T(t_iotlb_miss_wakes),
		T(t_iotlb_perm),
		T(t_iotlb_stale),
		T(t_iotlb_alias_cost),
		T(t_iotlb_not_acked),
		/* clang-format on */
	};

	return cmocka_run_group_tests_name("vhost_ext", tests, NULL, NULL);
}
#endif /* VHOST_EXT_FIXTURE_ONLY */
