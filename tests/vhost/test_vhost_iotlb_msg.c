// SPDX-License-Identifier: MIT
/*
 * tests/vhost/test_vhost_iotlb_msg.c - ACCESS_PLATFORM wired into the
 * back-end through src/vhost/ext.h, driven like test_vhost_dev (whose
 * fixture vhost_ext_fixture.h includes: the socketpair front-end, the echo
 * device that holds requests starting with 'H'), on both read-side
 * schemes:
 *
 *  - rings and buffers by IOVA through the IOTLB, a miss answered by an
 *    update (and waking the queue at once), an invalidation waiting for a
 *    held request, permissions, IOTLB_MSG refused without the feature;
 *  - CHECK_STALE (the fixture's flag) with the IOTLB: a device that keeps
 *    pointers found through IOVAs and uses them after the IOVAs'
 *    invalidation is counted (stale_accesses), logged, sees zeros, and the
 *    guest's memory is untouched; the invalidated entry's remainder works;
 *    what its aliases cost, and that they stay bounded.
 *
 * The IOTLB module alone: test_vhost_iotlb.c.
 */
#include "vhost_ext_fixture.h"

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		/* clang-format off */
		T(t_iotlb),
		T(t_iotlb_ring_miss),
		T(t_iotlb_miss_wakes),
		T(t_iotlb_perm),
		T(t_iotlb_stale),
		T(t_iotlb_alias_cost),
		T(t_iotlb_not_acked),
		/* clang-format on */
	};

	return cmocka_run_group_tests_name("vhost_iotlb_msg", tests, NULL,
					   NULL);
}
