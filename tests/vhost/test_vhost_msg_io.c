// SPDX-License-Identifier: MIT
/*
 * test_vhost_msg_io.c - the vhost-user message layer's socket side
 * (src/vhost/msg.c) over a socketpair(AF_UNIX, SOCK_STREAM): too many fds
 * (in one piece and over two), split headers, truncation, timeouts, EINTR,
 * a clean end, a payload too big, the peer gone mid-message, replies and
 * REPLY_ACK, the back-end channel, send errors and fd ownership. No fd may
 * leak (vhost_msg_test.h's teardown).
 */
#include <signal.h>
#include <sys/time.h>
#include <time.h>

#include "vhost_msg_test.h"

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
		struct gpc_vhost_config_msg c = { .size = 256 };

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

	return cmocka_run_group_tests_name("vhost_msg_io", tests, NULL, NULL);
}
