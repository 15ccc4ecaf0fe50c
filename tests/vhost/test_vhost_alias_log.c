// SPDX-License-Identifier: MIT
/*
 * tests/vhost/test_vhost_alias_log.c - the dirty log sees writes made
 * through CHECK_STALE's IOTLB aliases, on both read-side schemes, with
 * vhost_ext_fixture.h's helpers (on top of test_vhost_dev.c's fixture).
 *
 * Under GPC_VHOST_F_CHECK_STALE an IOTLB entry's slot points at an alias
 * of the region pages (fault.h), an address the memory vm does not know,
 * so looking a buffer's host address up there finds no GPA. A write
 * request through an IOVA with LOG_ALL on must still set the bits of the
 * GPA's pages; so must one that completes after its IOTLB entry was
 * invalidated (the invalidation's ack waits for it; the alias is retired
 * only after that wait). The same requests without CHECK_STALE (slots
 * into the regions' own mappings) are the control.
 */
#include "vhost_ext_fixture.h"

/* A write at BUFIV(1) + PS - 4: GPA pages of BUF(1) and BUF(2). */
#define W_IOVA (BUFIV(1) + PS - 4)

static void alias_log_case(struct fx *f, unsigned int flags)
{
	const uint64_t want[] = { PAGE_OF(BUF(1)), PAGE_OF(BUF(2)) };
	struct vhost_iotlb_msg inval = { .iova = BUFIV(0),
					 .size = 3 * PS,
					 .type = VHOST_IOTLB_INVALIDATE };
	int lfd = memfd_create("log", MFD_CLOEXEC);
	struct vring_used_elem e;
	struct gpc_vhost_stats st;
	unsigned int kept;
	uint8_t *log;
	uint64_t v = 1;
	int bs;

	restart_backend_flags(f, &echo_dev, flags);
	log = log_map(lfd);
	negotiate_proto(f, IOMMU_PROTO | LOG_PROTO, AP_FEATURE);
	bs = backend_channel(f);
	set_mem_a(f);
	log_base(f, lfd);
	/* Rings by IOVA (unlogged rings: only the buffer's pages count). */
	assert_int_equal(iotlb_msg(f, VHOST_IOTLB_UPDATE, IV, 16, UA,
				   VHOST_ACCESS_RW),
			 0);
	assert_int_equal(iotlb_msg(f, VHOST_IOTLB_UPDATE, BUFIV(0), 3,
				   UA + 16 * PS, VHOST_ACCESS_RW),
			 0);
	start_queue_iova(f, 0);
	u64_ack0(f, GPC_VHOST_SET_FEATURES, f->features | LOG_ALL);

	/* A write through the IOVA: its two GPA pages, nothing else. */
	strcpy((char *)PTR(f, 0), "Alias");
	post(f, 0, BUFIV(0), 8, W_IOVA, 8);
	assert_true(wait_used(f, 0, TMO, &e));
	assert_int_equal(e.len, 8);
	assert_string_equal((char *)PTR(f, 1) + PS - 4, "Alias");
	/* Logged before the used index is stored: no wait needed. */
	check_log(log, want, 2);

	/*
	 * A request holding its pointers while its entry is invalidated: the
	 * write (at release) comes after the entry left the IOTLB table.
	 */
	memset(log, 0, LOG_BYTES);
	kept = gpc_vhost_fault_aliases_kept();
	strcpy((char *)PTR(f, 0), "Held");
	post(f, 0, BUFIV(0), 8, W_IOVA, 8);
	usleep(20000); /* the device holds it */
	send_msg(f, GPC_VHOST_IOTLB_MSG, true, &inval, sizeof(inval), NULL, 0);
	assert_false(readable_within(f->sock, 100)); /* the ack waits */
	assert_int_equal(write(f->e.q[0].release_fd, &v, 8), 8);
	assert_int_equal(recv_u64(f, GPC_VHOST_IOTLB_MSG), 0);
	assert_true(wait_used(f, 0, TMO, &e));
	assert_int_equal(e.len, 8);
	assert_string_equal((char *)PTR(f, 1) + PS - 4, "Held");
	check_log(log, want, 2);
	/* With CHECK_STALE that entry had an alias, retired now. */
	if (flags & GPC_VHOST_F_CHECK_STALE)
		assert_true(gpc_vhost_fault_aliases_kept() == kept + 1 ||
			    kept == GPC_VHOST_FAULT_ALIAS_KEEP);
	assert_int_equal(gpc_vhost_dev_get_stats(f->d, &st), 0);
	assert_int_equal(st.stale_accesses, 0);
	close(bs);
	munmap(log, LOG_BYTES);
	close(lfd);
}

static void t_alias_log(void **state)
{
	alias_log_case(*state, GPC_VHOST_F_CHECK_STALE);
}

static void t_alias_log_control(void **state)
{
	alias_log_case(*state, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		/* clang-format off */
		T(t_alias_log),
		T(t_alias_log_control),
		/* clang-format on */
	};

	return cmocka_run_group_tests_name("vhost_alias_log", tests, NULL,
					   NULL);
}
