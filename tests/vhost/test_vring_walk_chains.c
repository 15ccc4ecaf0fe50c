// SPDX-License-Identifier: MIT
/*
 * tests/vhost/test_vring_walk_chains.c - the descriptor-chain walker
 * (src/vhost/vring_walk.h) on good chains, on both read-side schemes
 * (the fixture, guest memory and its layout: vring_walk_fixture.h):
 * single, multi, slot-crossing and indirect chains (direct prefix +
 * indirect, unaligned indirect table, indirect table in a read-only
 * slot), zero-length buffers, exact iovec capacity, the dirty log of
 * writable buffers. Each walk is also checked in the datapath's form
 * (gpc_vhost_walk_table) when its table maps as one piece.
 */
#include "vring_walk_fixture.h"

static void assert_iov(struct fx *f, unsigned int i, uint64_t gpa, size_t len)
{
	assert_ptr_equal(f->iov[i].iov_base, hp(f, gpa));
	assert_int_equal(f->iov[i].iov_len, len);
}

/* ---- unit: good chains ------------------------------------------------- */

static void test_single(void **state)
{
	struct fx *f = *state;

	set_desc(f, G0, 3, BUF + 8, 100, 0, 0);
	assert_int_equal(walk(f, 3, 0, 64), 0);
	assert_int_equal(f->c.nr_read, 1);
	assert_int_equal(f->c.nr_write, 0);
	assert_int_equal(f->c.read_len, 100);
	assert_int_equal(f->c.write_len, 0);
	assert_int_equal(f->c.ndesc, 1);
	assert_int_equal(f->c.err, GPC_VHOST_WALK_OK);
	assert_iov(f, 0, BUF + 8, 100);

	/* Writable alone; in slot 1; num 1 (head 0 is the only entry). */
	set_desc(f, G0, 0, G1 + 16, 7, WRITE, 0);
	assert_int_equal(walk_at(f, G0, 1, 0, 0, 1), 0);
	assert_int_equal(f->c.nr_read, 0);
	assert_int_equal(f->c.nr_write, 1);
	assert_int_equal(f->c.write_len, 7);
	assert_iov(f, 0, G1 + 16, 7);

	/* A readable buffer in the read-only slot is fine. */
	set_desc(f, G0, 1, G2 + 5, 9, 0, 0);
	assert_int_equal(walk(f, 1, 0, 64), 0);
	assert_iov(f, 0, G2 + 5, 9);
}

static void test_multi(void **state)
{
	struct fx *f = *state;

	/* 5 -> 2 -> 9 -> 0 -> 15: three readable, then two writable. */
	set_desc(f, G0, 5, BUF, 16, NEXT, 2);
	set_desc(f, G0, 2, BUF + 100, 200, NEXT, 9);
	set_desc(f, G0, 9, G1, 300, NEXT, 0);
	set_desc(f, G0, 0, BUF + ps, 1, NEXT | WRITE, 15);
	set_desc(f, G0, 15, G1 + ps, 4096, WRITE, 3 /* ignored: no NEXT */);
	assert_int_equal(walk(f, 5, 0, 64), 0);
	assert_int_equal(f->c.nr_read, 3);
	assert_int_equal(f->c.nr_write, 2);
	assert_int_equal(f->c.read_len, 516);
	assert_int_equal(f->c.write_len, 4097);
	assert_int_equal(f->c.ndesc, 5);
	assert_iov(f, 0, BUF, 16);
	assert_iov(f, 1, BUF + 100, 200);
	assert_iov(f, 2, G1, 300);
	assert_iov(f, 3, BUF + ps, 1);
	assert_iov(f, 4, G1 + ps, 4096);

	/* A chain of all 16 entries, the longest the queue allows. */
	for (unsigned int i = 0; i < NUM; i++)
		set_desc(f, G0, i, BUF + i * 10, 10, i < NUM - 1 ? NEXT : 0,
			 (uint16_t)(i + 1));
	assert_int_equal(walk(f, 0, 0, 64), 0);
	assert_int_equal(f->c.nr_read, NUM);
	assert_int_equal(f->c.read_len, NUM * 10);
	assert_int_equal(f->c.ndesc, NUM);
	/* Capacity exactly what is needed: fine; one less: -ENOBUFS. */
	assert_int_equal(walk(f, 0, 0, NUM), 0);
	FAILS(f, walk(f, 0, 0, NUM - 1), -ENOBUFS, GPC_VHOST_WALK_IOV_FULL,
	      NUM - 1, false);
	assert_int_equal(f->c.nr_read, NUM - 1); /* as far as it got */

	/* Zero-length buffers give no iovec but keep the order rules. */
	set_desc(f, G0, 0, BUF, 0, NEXT, 1);
	set_desc(f, G0, 1, BUF, 8, NEXT, 2);
	set_desc(f, G0, 2, 0xdead0000, 0, NEXT | WRITE, 3); /* not in memory */
	set_desc(f, G0, 3, BUF + 8, 8, WRITE, 0);
	assert_int_equal(walk(f, 0, 0, 64), 0);
	assert_int_equal(f->c.nr_read, 1);
	assert_int_equal(f->c.nr_write, 1);
	assert_int_equal(f->c.ndesc, 4);
	assert_iov(f, 0, BUF, 8);
	assert_iov(f, 1, BUF + 8, 8);
}

static void test_cross_slot(void **state)
{
	struct fx *f = *state;

	/* 128 bytes across G1: slots adjacent in gpa, apart in host memory. */
	set_desc(f, G0, 0, G1 - 64, 128, NEXT, 1);
	set_desc(f, G0, 1, G1 - 8, 16, WRITE, 0);
	assert_int_equal(walk(f, 0, 0, 64), 0);
	assert_int_equal(f->c.nr_read, 2);
	assert_int_equal(f->c.nr_write, 2);
	assert_int_equal(f->c.read_len, 128);
	assert_int_equal(f->c.write_len, 16);
	assert_iov(f, 0, G1 - 64, 64);
	assert_iov(f, 1, G1, 64);
	assert_iov(f, 2, G1 - 8, 8);
	assert_iov(f, 3, G1, 8);
	/* Three entries do not hold the four pieces. */
	FAILS(f, walk(f, 0, 0, 3), -ENOBUFS, GPC_VHOST_WALK_IOV_FULL, 1, false);
	FAILS(f, walk(f, 0, 0, 1), -ENOBUFS, GPC_VHOST_WALK_IOV_FULL, 0, false);
	FAILS(f, walk(f, 0, 0, 0), -ENOBUFS, GPC_VHOST_WALK_IOV_FULL, 0, false);
}

static void test_indirect(void **state)
{
	struct fx *f = *state;

	/* The head refers to a table of 4: 2 readable, 2 writable. */
	set_desc(f, IT, 0, BUF, 10, NEXT, 2);
	set_desc(f, IT, 2, BUF + 10, 20, NEXT, 1);
	set_desc(f, IT, 1, G1 - 4, 8, NEXT | WRITE, 3);
	set_desc(f, IT, 3, BUF + 40, 30, WRITE, 0);
	/* WRITE on the referring descriptor is ignored (virtio 1.x). */
	set_desc(f, G0, 7, IT, 4 * 16, INDIR | WRITE, 0);
	assert_int_equal(walk(f, 7, IND, 64), 0);
	assert_int_equal(f->c.nr_read, 2);
	assert_int_equal(f->c.nr_write, 3);
	assert_int_equal(f->c.read_len, 30);
	assert_int_equal(f->c.write_len, 38);
	assert_int_equal(f->c.ndesc, 5);
	assert_iov(f, 0, BUF, 10);
	assert_iov(f, 1, BUF + 10, 20);
	assert_iov(f, 2, G1 - 4, 4);
	assert_iov(f, 3, G1, 4);
	assert_iov(f, 4, BUF + 40, 30);

	/* Direct descriptors first, then the indirect one. */
	set_desc(f, G0, 4, BUF + 500, 5, NEXT, 6);
	set_desc(f, G0, 6, IT, 4 * 16, INDIR, 0);
	assert_int_equal(walk(f, 4, IND, 64), 0);
	assert_int_equal(f->c.nr_read, 3);
	assert_int_equal(f->c.read_len, 35);
	assert_int_equal(f->c.ndesc, 6);
	assert_iov(f, 0, BUF + 500, 5);
	/* ... but a writable direct one before a readable indirect entry. */
	set_desc(f, G0, 4, BUF + 500, 5, NEXT | WRITE, 6);
	FAILS(f, walk(f, 4, IND, 64), -EILSEQ, GPC_VHOST_WALK_ORDER, 0, true);

	/* A table larger than the chain; the walk starts at entry 0. */
	set_desc(f, G0, 8, IT, 64 * 16, INDIR, 0);
	assert_int_equal(walk(f, 8, IND, 64), 0);
	assert_int_equal(f->c.nr_read + f->c.nr_write, 5);

	/* An unaligned table (4 bytes past an 8-byte boundary). */
	set_desc(f, IT2 + 4, 0, BUF + 1, 3, NEXT, 1);
	set_desc(f, IT2 + 4, 1, BUF + 9, 5, WRITE, 0);
	set_desc(f, G0, 9, IT2 + 4, 2 * 16, INDIR, 0);
	assert_int_equal(walk(f, 9, IND, 64), 0);
	assert_int_equal(f->c.nr_read, 1);
	assert_int_equal(f->c.nr_write, 1);
	assert_iov(f, 0, BUF + 1, 3);
	assert_iov(f, 1, BUF + 9, 5);

	/* A table in the read-only slot: reading it is fine. */
	set_desc(f, G2 + 64, 0, BUF, 12, WRITE, 0);
	set_desc(f, G0, 10, G2 + 64, 16, INDIR, 0);
	assert_int_equal(walk(f, 10, IND, 64), 0);
	assert_int_equal(f->c.nr_write, 1);
	assert_iov(f, 0, BUF, 12);

	/*
	 * The largest table allowed passes the length checks (it is 512 KiB,
	 * more than slot 1 has after G1 + ps: so it fails the translation).
	 */
	set_desc(f, G0, 11, G1 + ps, GPC_VHOST_INDIRECT_MAX * 16, INDIR, 0);
	FAILS(f, walk(f, 11, IND, 64), -EFAULT, GPC_VHOST_WALK_INDIRECT_OUTSIDE,
	      11, false);
}

/* A descriptor table in slot 1 and a queue of 256; the caller's gpa. */
static void test_table_placement(void **state)
{
	struct fx *f = *state;

	set_desc(f, G1 + ps, 255, BUF, 1, 0, 0);
	assert_int_equal(walk_at(f, G1 + ps, 256, 255, 0, 4), 0);
	assert_iov(f, 0, BUF, 1);
	/* Ending exactly at the slot's end. */
	set_desc(f, G1 + (SLOT_PAGES - 1) * ps, 0, BUF, 2, 0, 0);
	assert_int_equal(walk_at(f, G1 + (SLOT_PAGES - 1) * ps, 256, 0, 0, 4),
			 0);
	assert_iov(f, 0, BUF, 2);
}

/* Writable buffers are marked dirty, readable ones not. */
static void test_dirty(void **state)
{
	struct fx *f = *state;
	uint64_t bm[GPC_DIRTY_LOG_WORDS(SLOT_PAGES * 65536)] = { 0 };
	uint64_t p5 = 5 * ps / GPC_DIRTY_PAGE_SIZE;
	uint64_t p6 = 6 * ps / GPC_DIRTY_PAGE_SIZE;
	uint64_t p7 = 7 * ps / GPC_DIRTY_PAGE_SIZE;
	size_t words = GPC_DIRTY_LOG_WORDS(SLOT_PAGES * ps);

	assert_true(gpc_dirty_log_get_and_clear(f->vm, 0, bm, words) >= 0);
	set_desc(f, G0, 0, G0 + 6 * ps, 64, NEXT, 1); /* read */
	set_desc(f, G0, 1, G0 + 5 * ps + 8, 16, WRITE | NEXT, 2);
	set_desc(f, G0, 2, G0 + 7 * ps, 1, WRITE, 0);
	gpc_srcu_read_lock(f->d);
	assert_int_equal(
		gpc_vhost_walk(f->vm, G0, NUM, 0, 0, f->iov, 64, &f->c), 0);
	/* The device writes inside the section the walk was made in. */
	memset(f->iov[1].iov_base, 1, f->iov[1].iov_len);
	memset(f->iov[2].iov_base, 2, f->iov[2].iov_len);
	gpc_srcu_read_unlock(f->d);
	memset(bm, 0, sizeof(bm));
	assert_int_equal(gpc_dirty_log_get_and_clear(f->vm, 0, bm, words), 2);
	assert_true(bm[p5 / 64] >> (p5 % 64) & 1);
	assert_true(bm[p7 / 64] >> (p7 % 64) & 1);
	assert_false(bm[p6 / 64] >> (p6 % 64) & 1);
	assert_int_equal(f->m0[5 * ps + 8], 1);
	assert_int_equal(f->m0[7 * ps], 2);
}

int main(void)
{
	const struct CMUnitTest unit[] = {
		T2(test_single),	  T2(test_multi),
		T2(test_cross_slot),	  T2(test_indirect),
		T2(test_table_placement), T2(test_dirty),
	};

	ps = (uint64_t)sysconf(_SC_PAGESIZE);
	return cmocka_run_group_tests_name("vring_walk chains", unit, NULL,
					   NULL);
}
