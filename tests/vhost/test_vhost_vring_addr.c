// SPDX-License-Identifier: MIT
/*
 * tests/vhost/test_vhost_vring_addr.c - SET_VRING_ADDR's early check of
 * the ring addresses against the memory table, driven like test_vhost_dev
 * (whose fixture vhost_ext_fixture.h includes), on both read-side schemes.
 */
#include "vhost_ext_fixture.h"

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		/* clang-format off */
		T(t_vring_addr),
		/* clang-format on */
	};

	return cmocka_run_group_tests_name("vhost_vring_addr", tests, NULL,
					   NULL);
}
