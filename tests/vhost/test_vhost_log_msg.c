// SPDX-License-Identifier: MIT
/*
 * tests/vhost/test_vhost_log_msg.c - LOG_SHMFD + LOG_ALL wired into the
 * back-end through src/vhost/ext.h, driven like test_vhost_dev (whose
 * fixture vhost_ext_fixture.h includes), on both read-side schemes:
 * SET_LOG_BASE, and a write request sets exactly the bits of its buffer's
 * pages and of the used ring's page in the front-end's log, at completion
 * and through the harvest; SET_LOG_FD's eventfd is signalled after the
 * completions that set bits.
 *
 * The log module alone: test_vhost_dirty_log.c; writes through IOTLB
 * aliases: test_vhost_alias_log.c.
 */
#include "vhost_ext_fixture.h"

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		/* clang-format off */
		T(t_dirty_log),
		T(t_log_fd),
		/* clang-format on */
	};

	return cmocka_run_group_tests_name("vhost_log_msg", tests, NULL, NULL);
}
