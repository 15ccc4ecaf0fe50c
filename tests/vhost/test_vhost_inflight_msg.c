// SPDX-License-Identifier: MIT
/*
 * tests/vhost/test_vhost_inflight_msg.c - INFLIGHT_SHMFD wired into the
 * back-end through src/vhost/ext.h, driven like test_vhost_dev (whose
 * fixture vhost_ext_fixture.h includes: the socketpair front-end, the echo
 * device that holds requests starting with 'H'), on both read-side
 * schemes: a front-end takes the inflight fd, the device holds two
 * requests, the back-end "crashes" (its device forgets what it held, the
 * dev object is destroyed) and a new one gets the area back with
 * SET_INFLIGHT_FD: exactly the held requests are run again, in the order
 * they were taken, each completed once, and the queue goes on from the
 * used index plus them whatever base the front-end gives. Without
 * INFLIGHT_SHMFD negotiated the requests are refused.
 *
 * The tracking module alone, a crash after every store: test_vhost_inflight.c.
 */
#include "vhost_ext_fixture.h"

static void vring_msgs(struct fx *f, unsigned int i, uint16_t base)
{
	vring_msgs_log(f, i, base, false);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		/* clang-format off */
		T(t_inflight_reconnect),
		T(t_inflight_not_negotiated),
		/* clang-format on */
	};

	return cmocka_run_group_tests_name("vhost_inflight_msg", tests, NULL,
					   NULL);
}
