// SPDX-License-Identifier: MIT
/*
 * tools/vhost-blk/tests/test_blk_ranges.c - gpc-vhost-blk's request parser
 * (blk_req.c) on DISCARD and WRITE_ZEROES requests, over plain iovecs
 * (the fixture: blk_test.h): their segments, split across iovecs, and
 * every bad segment with its status.
 */
#include "blk_test.h"

static void seg(struct virtio_blk_discard_write_zeroes *s, uint64_t sector,
		uint32_t num, uint32_t flags)
{
	s->sector = htole64(sector);
	s->num_sectors = htole32(num);
	s->flags = htole32(flags);
}

static void ranges(void **state)
{
	struct blk_disk *d = *state;
	static struct img m;
	struct virtio_blk_discard_write_zeroes *s =
		(struct virtio_blk_discard_write_zeroes *)m.data;

	hdr(&m, VIRTIO_BLK_T_DISCARD, 0);
	seg(&s[0], 8, 16, 0);
	parse3(d, &m, 16, true);
	assert_int_equal(m.op.kind, BLK_K_DISCARD);
	assert_int_equal(m.op.nr_ranges, 1);
	assert_int_equal(m.op.ranges[0].off, 8 * 512);
	assert_int_equal(m.op.ranges[0].len, 16 * 512);
	assert_false(m.op.ranges[0].unmap);

	/* As many as the limit, the last one ending at the capacity. */
	hdr(&m, VIRTIO_BLK_T_DISCARD, 0);
	for (unsigned int i = 0; i < d->lim.max_discard_seg; i++)
		seg(&s[i], i * 64, 8, 0);
	seg(&s[d->lim.max_discard_seg - 1], CAP_SECT - 8, 8, 0);
	parse3(d, &m, 16 * d->lim.max_discard_seg, true);
	assert_int_equal(m.op.kind, BLK_K_DISCARD);
	assert_int_equal(m.op.nr_ranges, d->lim.max_discard_seg);
	/* One more: UNSUPP. */
	log_clear();
	parse3(d, &m, 16 * (d->lim.max_discard_seg + 1), true);
	assert_done(&m, VIRTIO_BLK_S_UNSUPP);
	assert_logged("ranges");

	/* Write zeroes, unmap allowed by the flag and the config... */
	hdr(&m, VIRTIO_BLK_T_WRITE_ZEROES, 0);
	seg(&s[0], 0, 8, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP);
	seg(&s[1], 64, 8, 0);
	parse3(d, &m, 32, true);
	assert_int_equal(m.op.kind, BLK_K_WRITE_ZEROES);
	assert_int_equal(m.op.nr_ranges, 2);
	assert_true(m.op.ranges[0].unmap);
	assert_false(m.op.ranges[1].unmap);
	/* ...and with the config saying no. */
	d->lim.write_zeroes_may_unmap = false;
	parse3(d, &m, 32, true);
	assert_false(m.op.ranges[0].unmap);
	d->lim.write_zeroes_may_unmap = true;

	/* Ranges of zero sectors are skipped; only those: OK at once. */
	hdr(&m, VIRTIO_BLK_T_DISCARD, 0);
	seg(&s[0], 8, 0, 0);
	seg(&s[1], 16, 8, 0);
	parse3(d, &m, 32, true);
	assert_int_equal(m.op.nr_ranges, 1);
	assert_int_equal(m.op.ranges[0].off, 16 * 512);
	parse3(d, &m, 16, true);
	assert_done(&m, VIRTIO_BLK_S_OK);
}

static void ranges_split_across_iovecs(void **state)
{
	static struct img m;
	struct virtio_blk_discard_write_zeroes s[2];
	uint8_t *p = m.data;

	hdr(&m, VIRTIO_BLK_T_WRITE_ZEROES, 0);
	seg(&s[0], 24, 8, 0);
	seg(&s[1], 48, 16, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP);
	memcpy(p, s, sizeof(s));
	iov_set(&m.iov[0], &m.hdr, 10);
	iov_set(&m.iov[1], (char *)&m.hdr + 10, 6);
	iov_set(&m.iov[2], p, 3);
	iov_set(&m.iov[3], p + 3, 20);
	iov_set(&m.iov[4], p + 23, 9);
	iov_set(&m.iov[5], &m.status, 1);
	blk_req_parse(*state, m.iov, 5, 1, m.scratch, 16, &m.op);
	assert_int_equal(m.op.kind, BLK_K_WRITE_ZEROES);
	assert_int_equal(m.op.nr_ranges, 2);
	assert_int_equal(m.op.ranges[0].off, 24 * 512);
	assert_int_equal(m.op.ranges[1].off, 48 * 512);
	assert_int_equal(m.op.ranges[1].len, 16 * 512);
	assert_true(m.op.ranges[1].unmap);
}

static void ranges_bad(void **state)
{
	struct blk_disk *d = *state;
	static struct img m;
	struct virtio_blk_discard_write_zeroes *s =
		(struct virtio_blk_discard_write_zeroes *)m.data;
	struct {
		uint32_t type;
		uint64_t sector;
		uint32_t num, flags;
		size_t bytes;
		uint8_t status;
		const char *log;
	} cases[] = {
		/* No range, a partial one, a range and a half. */
		{ VIRTIO_BLK_T_DISCARD, 0, 8, 0, 0, VIRTIO_BLK_S_UNSUPP,
		  "ranges" },
		{ VIRTIO_BLK_T_DISCARD, 0, 8, 0, 15, VIRTIO_BLK_S_UNSUPP,
		  "ranges" },
		{ VIRTIO_BLK_T_WRITE_ZEROES, 0, 8, 0, 24, VIRTIO_BLK_S_UNSUPP,
		  "ranges" },
		/* Unmap on a discard; an unknown flag. */
		{ VIRTIO_BLK_T_DISCARD, 0, 8,
		  VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP, 16, VIRTIO_BLK_S_UNSUPP,
		  "flags" },
		{ VIRTIO_BLK_T_WRITE_ZEROES, 0, 8, 2, 16, VIRTIO_BLK_S_UNSUPP,
		  "flags" },
		{ VIRTIO_BLK_T_WRITE_ZEROES, 0, 8, 0x80000001u, 16,
		  VIRTIO_BLK_S_UNSUPP, "flags" },
		/* Beyond the capacity, wrapping, too long, not sectors. */
		{ VIRTIO_BLK_T_DISCARD, CAP_SECT - 4, 8, 0, 16,
		  VIRTIO_BLK_S_IOERR, "capacity" },
		{ VIRTIO_BLK_T_DISCARD, UINT64_MAX - 2, 8, 0, 16,
		  VIRTIO_BLK_S_IOERR, "capacity" },
		{ VIRTIO_BLK_T_WRITE_ZEROES, CAP_SECT, 1, 0, 16,
		  VIRTIO_BLK_S_IOERR, "capacity" },
		{ VIRTIO_BLK_T_WRITE_ZEROES, 0, UINT32_MAX, 0, 16,
		  VIRTIO_BLK_S_IOERR, "at most" },
		{ VIRTIO_BLK_T_DISCARD, 0, (1u << 22) + 8, 0, 16,
		  VIRTIO_BLK_S_IOERR, "at most" },
	};

	for (unsigned int i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		hdr(&m, cases[i].type, 0);
		seg(&s[0], cases[i].sector, cases[i].num, cases[i].flags);
		seg(&s[1], 0, 8, 0);
		log_clear();
		parse3(d, &m, cases[i].bytes, true);
		assert_done(&m, cases[i].status);
		assert_logged(cases[i].log);
	}
	/* A bad second range fails the whole request. */
	hdr(&m, VIRTIO_BLK_T_DISCARD, 0);
	seg(&s[0], 0, 8, 0);
	seg(&s[1], CAP_SECT, 8, 0);
	parse3(d, &m, 32, true);
	assert_done(&m, VIRTIO_BLK_S_IOERR);
	/* Limits smaller than the parser's own. */
	d->lim.max_discard_seg = 1;
	seg(&s[1], 8, 8, 0);
	parse3(d, &m, 32, true);
	assert_done(&m, VIRTIO_BLK_S_UNSUPP);
	d->lim.max_discard_seg = BLK_MAX_RANGES;
	d->lim.max_write_zeroes_sectors = 8;
	hdr(&m, VIRTIO_BLK_T_WRITE_ZEROES, 0);
	seg(&s[0], 0, 16, 0);
	parse3(d, &m, 16, true);
	assert_done(&m, VIRTIO_BLK_S_IOERR);
	seg(&s[0], 0, 8, 0);
	parse3(d, &m, 16, true);
	assert_int_equal(m.op.kind, BLK_K_WRITE_ZEROES);
	blk_limits_default(&d->lim, d);
	/* Unaligned to a 4 KiB logical block. */
	d->blk_size = 4096;
	seg(&s[0], 4, 8, 0);
	parse3(d, &m, 16, true);
	assert_done(&m, VIRTIO_BLK_S_IOERR);
	d->blk_size = 512;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(ranges),
		T(ranges_split_across_iovecs),
		T(ranges_bad),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
