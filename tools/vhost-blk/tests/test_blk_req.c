// SPDX-License-Identifier: MIT
/*
 * tools/vhost-blk/tests/test_blk_req.c - gpc-vhost-blk's request parser
 * (blk_req.c) over plain iovecs into local buffers (the fixture:
 * blk_test.h): every request shape a driver may make (header, data and
 * status byte each in its own iovec, merged, split anywhere, zero-length
 * iovecs between), every refusal with its status (IOERR, UNSUPP) and its
 * log line, the shapes without a status byte, and the iovec helpers.
 *
 * DISCARD and WRITE_ZEROES: test_blk_ranges.c; the randomized hostile
 * pass: test_blk_hostile.c.
 */
#include "blk_test.h"

/* ---- the normal shapes ---------------------------------------------------- */

static void read_plain(void **state)
{
	static struct img m;

	hdr(&m, VIRTIO_BLK_T_IN, 8);
	parse3(*state, &m, 4096, false);
	assert_int_equal(m.op.kind, BLK_K_READ);
	assert_int_equal(m.op.off, 8 * 512);
	assert_int_equal(m.op.len, 4096);
	/* A view into the caller's iovecs, not a copy. */
	assert_ptr_equal(m.op.data, &m.iov[1]);
	assert_int_equal(m.op.nr_data, 1);
	assert_false(m.op.data_copied);
	assert_ptr_equal(m.op.status_ptr, &m.status);
	assert_int_equal(m.op.written, 4097);
	assert_int_equal(log_lines, 0);
}

static void write_plain(void **state)
{
	static struct img m;

	hdr(&m, VIRTIO_BLK_T_OUT, CAP_SECT - 8); /* the last 4 KiB */
	parse3(*state, &m, 4096, true);
	assert_int_equal(m.op.kind, BLK_K_WRITE);
	assert_int_equal(m.op.off, (CAP_SECT - 8) * 512ull);
	assert_ptr_equal(m.op.data, &m.iov[1]);
	assert_int_equal(m.op.written, 1);
	assert_ptr_equal(m.op.status_ptr, &m.status);
}

static void flush_and_get_id(void **state)
{
	static struct img m;

	hdr(&m, VIRTIO_BLK_T_FLUSH, 12345); /* the sector is ignored */
	iov_set(&m.iov[0], &m.hdr, sizeof(m.hdr));
	iov_set(&m.iov[1], &m.status, 1);
	blk_req_parse(*state, m.iov, 1, 1, m.scratch, 16, &m.op);
	assert_int_equal(m.op.kind, BLK_K_FLUSH);

	hdr(&m, VIRTIO_BLK_T_GET_ID, 0);
	parse3(*state, &m, 20, false);
	assert_int_equal(m.op.kind, BLK_K_GET_ID);
	assert_int_equal(m.op.len, 20);
	/* More room than 20 bytes: only 20 are the id. */
	parse3(*state, &m, 512, false);
	assert_int_equal(m.op.len, 20);
	assert_int_equal(m.op.written, 513);
	/* Less: as much as fits. */
	parse3(*state, &m, 7, false);
	assert_int_equal(m.op.kind, BLK_K_GET_ID);
	assert_int_equal(m.op.len, 7);
	/* None: nothing to copy, OK. */
	iov_set(&m.iov[1], &m.status, 1);
	blk_req_parse(*state, m.iov, 1, 1, m.scratch, 16, &m.op);
	assert_done(&m, VIRTIO_BLK_S_OK);
}

static void zero_length_rw(void **state)
{
	static struct img m;

	hdr(&m, VIRTIO_BLK_T_IN, CAP_SECT); /* at the end, 0 bytes: fine */
	iov_set(&m.iov[0], &m.hdr, sizeof(m.hdr));
	iov_set(&m.iov[1], &m.status, 1);
	blk_req_parse(*state, m.iov, 1, 1, m.scratch, 16, &m.op);
	assert_done(&m, VIRTIO_BLK_S_OK);
	hdr(&m, VIRTIO_BLK_T_OUT, 0); /* hdr() clears the iovecs too */
	iov_set(&m.iov[0], &m.hdr, sizeof(m.hdr));
	iov_set(&m.iov[1], &m.status, 1);
	blk_req_parse(*state, m.iov, 1, 1, m.scratch, 16, &m.op);
	assert_done(&m, VIRTIO_BLK_S_OK);
}

/* ---- merged and split shapes ---------------------------------------------- */

static void header_split(void **state)
{
	static struct img m;
	uint8_t *h = (uint8_t *)&m.hdr;

	hdr(&m, VIRTIO_BLK_T_OUT, 40);
	iov_set(&m.iov[0], h, 5);
	iov_set(&m.iov[1], h + 5, 0);
	iov_set(&m.iov[2], h + 5, 7);
	iov_set(&m.iov[3], h + 12, 4);
	iov_set(&m.iov[4], m.data, 1024);
	iov_set(&m.iov[5], &m.status, 1);
	blk_req_parse(*state, m.iov, 5, 1, m.scratch, 16, &m.op);
	assert_int_equal(m.op.kind, BLK_K_WRITE);
	assert_int_equal(m.op.off, 40 * 512);
	assert_int_equal(m.op.len, 1024);
	assert_ptr_equal(m.op.data, &m.iov[4]);
	assert_false(m.op.data_copied);
}

static void header_and_data_merged(void **state)
{
	static uint8_t buf[16 + 2048];
	static struct img m;
	struct virtio_blk_outhdr h = { .type = htole32(VIRTIO_BLK_T_OUT),
				       .sector = htole64(2) };

	hdr(&m, VIRTIO_BLK_T_OUT, 0);
	memcpy(buf, &h, sizeof(h));
	iov_set(&m.iov[0], buf, 16 + 1024);	   /* header + 2 sectors... */
	iov_set(&m.iov[1], buf + 16 + 1024, 1024); /* ...+ 2 more */
	iov_set(&m.iov[2], &m.status, 1);
	blk_req_parse(*state, m.iov, 2, 1, m.scratch, 16, &m.op);
	assert_int_equal(m.op.kind, BLK_K_WRITE);
	assert_int_equal(m.op.len, 2048);
	assert_true(m.op.data_copied);
	assert_ptr_equal(m.op.data, m.scratch);
	assert_int_equal(m.op.nr_data, 2);
	assert_ptr_equal(m.op.data[0].iov_base, buf + 16);
	assert_int_equal(m.op.data[0].iov_len, 1024);
	assert_ptr_equal(m.op.data[1].iov_base, buf + 16 + 1024);
	/* The caller's iovecs are untouched. */
	assert_int_equal(m.iov[0].iov_len, 16 + 1024);
}

static void data_and_status_merged(void **state)
{
	static uint8_t buf[4096 + 1];
	static struct img m;

	hdr(&m, VIRTIO_BLK_T_IN, 0);
	iov_set(&m.iov[0], &m.hdr, sizeof(m.hdr));
	iov_set(&m.iov[1], buf, sizeof(buf));
	blk_req_parse(*state, m.iov, 1, 1, m.scratch, 16, &m.op);
	assert_int_equal(m.op.kind, BLK_K_READ);
	assert_int_equal(m.op.len, 4096);
	assert_true(m.op.data_copied);
	assert_int_equal(m.op.nr_data, 1);
	assert_ptr_equal(m.op.data[0].iov_base, buf);
	assert_int_equal(m.op.data[0].iov_len, 4096);
	assert_ptr_equal(m.op.status_ptr, buf + 4096);
	assert_int_equal(m.op.written, 4097);
}

static void everything_in_one_pair(void **state)
{
	/* A one-descriptor request can only be [hdr+data] [data+status]. */
	static uint8_t rd[16 + 512], wr[512 + 1];
	static struct img m;
	struct virtio_blk_outhdr h = { .type = htole32(VIRTIO_BLK_T_OUT) };

	hdr(&m, 0, 0);
	memcpy(rd, &h, sizeof(h));
	iov_set(&m.iov[0], rd, sizeof(rd));
	iov_set(&m.iov[1], wr, sizeof(wr));
	blk_req_parse(*state, m.iov, 1, 1, m.scratch, 16, &m.op);
	assert_int_equal(m.op.kind, BLK_K_WRITE);
	assert_int_equal(m.op.len, 512);
	assert_ptr_equal(m.op.data[0].iov_base, rd + 16);
	/* The status is the last writable byte, whatever precedes it. */
	assert_ptr_equal(m.op.status_ptr, wr + 512);
	assert_int_equal(m.op.written, 513);
}

static void zero_length_iovecs(void **state)
{
	static struct img m;

	hdr(&m, VIRTIO_BLK_T_IN, 0);
	iov_set(&m.iov[0], &m.hdr, sizeof(m.hdr));
	iov_set(&m.iov[1], m.data, 0);
	iov_set(&m.iov[2], m.data, 512);
	iov_set(&m.iov[3], m.data + 512, 0);
	iov_set(&m.iov[4], m.data + 512, 512);
	iov_set(&m.iov[5], &m.status, 1);
	iov_set(&m.iov[6], &m.status, 0); /* after the status: ignored */
	blk_req_parse(*state, m.iov, 1, 6, m.scratch, 16, &m.op);
	assert_int_equal(m.op.kind, BLK_K_READ);
	assert_int_equal(m.op.len, 1024);
	assert_ptr_equal(m.op.status_ptr, &m.status);
	/* A view from the first non-empty data iovec to the last one. */
	assert_ptr_equal(m.op.data, &m.iov[2]);
	assert_int_equal(m.op.nr_data, 3);
}

static void extra_readable_on_read(void **state)
{
	/* Readable bytes after the header of an IN are ignored. */
	static struct img m;

	hdr(&m, VIRTIO_BLK_T_IN, 0);
	iov_set(&m.iov[0], &m.hdr, sizeof(m.hdr));
	iov_set(&m.iov[1], m.data, 512);
	iov_set(&m.iov[2], m.data + 512, 512);
	iov_set(&m.iov[3], &m.status, 1);
	blk_req_parse(*state, m.iov, 2, 2, m.scratch, 16, &m.op);
	assert_int_equal(m.op.kind, BLK_K_READ);
	assert_int_equal(m.op.len, 512);
	assert_ptr_equal(m.op.data, &m.iov[2]);
}

static void scratch_too_small(void **state)
{
	static uint8_t buf[16 + 512 * 4];
	static struct img m;
	struct virtio_blk_outhdr h = { .type = htole32(VIRTIO_BLK_T_OUT) };

	hdr(&m, 0, 0);
	memcpy(buf, &h, sizeof(h));
	iov_set(&m.iov[0], buf, 16 + 512);
	for (int i = 1; i < 4; i++)
		iov_set(&m.iov[i], buf + 16 + 512 * i, 512);
	iov_set(&m.iov[4], &m.status, 1);
	blk_req_parse(*state, m.iov, 4, 1, m.scratch, 3, &m.op);
	assert_done(&m, VIRTIO_BLK_S_IOERR);
	assert_logged("iovecs");
	blk_req_parse(*state, m.iov, 4, 1, m.scratch, 4, &m.op);
	assert_int_equal(m.op.kind, BLK_K_WRITE);
	assert_int_equal(m.op.nr_data, 4);
}

/* ---- malformed shapes ----------------------------------------------------- */

static void no_status_byte(void **state)
{
	static struct img m;

	hdr(&m, VIRTIO_BLK_T_IN, 0);
	iov_set(&m.iov[0], &m.hdr, sizeof(m.hdr));
	iov_set(&m.iov[1], m.data, 512);
	/* Nothing writable at all. */
	blk_req_parse(*state, m.iov, 2, 0, m.scratch, 16, &m.op);
	assert_int_equal(m.op.kind, BLK_K_DONE);
	assert_null(m.op.status_ptr);
	assert_int_equal(m.op.written, 0);
	assert_logged("status");
	/* Writable iovecs, all empty. */
	log_clear();
	iov_set(&m.iov[1], m.data, 0);
	iov_set(&m.iov[2], m.data, 0);
	blk_req_parse(*state, m.iov, 1, 2, m.scratch, 16, &m.op);
	assert_null(m.op.status_ptr);
	assert_logged("status");
	/* No iovecs at all, and a NULL array. */
	log_clear();
	blk_req_parse(*state, m.iov, 0, 0, m.scratch, 16, &m.op);
	assert_null(m.op.status_ptr);
	blk_req_parse(*state, NULL, 3, 3, m.scratch, 16, &m.op);
	assert_null(m.op.status_ptr);
	assert_int_equal(m.op.kind, BLK_K_DONE);
}

static void short_header(void **state)
{
	static struct img m;

	hdr(&m, VIRTIO_BLK_T_IN, 0);
	iov_set(&m.iov[0], &m.hdr, 15);
	iov_set(&m.iov[1], &m.status, 1);
	blk_req_parse(*state, m.iov, 1, 1, m.scratch, 16, &m.op);
	assert_done(&m, VIRTIO_BLK_S_IOERR);
	assert_logged("header");
	/* No readable bytes: the status byte is still there to say so. */
	log_clear();
	blk_req_parse(*state, m.iov + 1, 0, 1, m.scratch, 16, &m.op);
	assert_done(&m, VIRTIO_BLK_S_IOERR);
	assert_ptr_equal(m.op.status_ptr, &m.status);
	assert_logged("header");
	/* A header split short: 8 + 7 bytes. */
	log_clear();
	iov_set(&m.iov[0], &m.hdr, 8);
	iov_set(&m.iov[1], (char *)&m.hdr + 8, 7);
	iov_set(&m.iov[2], &m.status, 1);
	blk_req_parse(*state, m.iov, 2, 1, m.scratch, 16, &m.op);
	assert_done(&m, VIRTIO_BLK_S_IOERR);
}

static void bad_lengths(void **state)
{
	static struct img m;

	/* Not whole sectors. */
	hdr(&m, VIRTIO_BLK_T_IN, 0);
	parse3(*state, &m, 511, false);
	assert_done(&m, VIRTIO_BLK_S_IOERR);
	assert_logged("sectors");
	hdr(&m, VIRTIO_BLK_T_OUT, 0);
	parse3(*state, &m, 4095, true);
	assert_done(&m, VIRTIO_BLK_S_IOERR);
	hdr(&m, VIRTIO_BLK_T_OUT, 0);
	parse3(*state, &m, 1, true);
	assert_done(&m, VIRTIO_BLK_S_IOERR);
}

static void beyond_capacity(void **state)
{
	static const uint64_t bad[] = { CAP_SECT - 7,	CAP_SECT,
					CAP_SECT + 1,	UINT64_MAX,
					UINT64_MAX - 7, UINT64_MAX >> 9,
					1ull << 55 };
	static struct img m;

	for (unsigned int i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		hdr(&m, VIRTIO_BLK_T_IN, bad[i]);
		log_clear();
		parse3(*state, &m, 4096, false);
		assert_done(&m, VIRTIO_BLK_S_IOERR);
		assert_logged("capacity");
		hdr(&m, VIRTIO_BLK_T_OUT, bad[i]);
		parse3(*state, &m, 4096, true);
		assert_done(&m, VIRTIO_BLK_S_IOERR);
	}
	/* A zero-length request just past the end is out too. */
	hdr(&m, VIRTIO_BLK_T_IN, CAP_SECT + 1);
	iov_set(&m.iov[0], &m.hdr, sizeof(m.hdr));
	iov_set(&m.iov[1], &m.status, 1);
	blk_req_parse(*state, m.iov, 1, 1, m.scratch, 16, &m.op);
	assert_done(&m, VIRTIO_BLK_S_IOERR);
}

static void unsupported_types(void **state)
{
	static const uint32_t types[] = { 2,
					  3,
					  5,
					  9,
					  10,
					  12,
					  VIRTIO_BLK_T_SECURE_ERASE,
					  VIRTIO_BLK_T_BARRIER,
					  VIRTIO_BLK_T_BARRIER | 1,
					  UINT32_MAX };
	static struct img m;

	for (unsigned int i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		hdr(&m, types[i], 0);
		log_clear();
		parse3(*state, &m, 512, true);
		assert_done(&m, VIRTIO_BLK_S_UNSUPP);
		assert_logged("not supported");
	}
}

static void readonly_disk(void **state)
{
	static struct blk_disk ro;
	static struct img m;

	(void)state;
	disk_open(&ro, true);
	hdr(&m, VIRTIO_BLK_T_OUT, 0);
	parse3(&ro, &m, 512, true);
	assert_done(&m, VIRTIO_BLK_S_IOERR);
	assert_logged("read-only");
	hdr(&m, VIRTIO_BLK_T_IN, 0);
	parse3(&ro, &m, 512, false);
	assert_int_equal(m.op.kind, BLK_K_READ);
	hdr(&m, VIRTIO_BLK_T_DISCARD, 0);
	parse3(&ro, &m, 16, true);
	assert_done(&m, VIRTIO_BLK_S_IOERR);
	hdr(&m, VIRTIO_BLK_T_WRITE_ZEROES, 0);
	parse3(&ro, &m, 16, true);
	assert_done(&m, VIRTIO_BLK_S_IOERR);
	hdr(&m, VIRTIO_BLK_T_FLUSH, 0);
	parse3(&ro, &m, 0, true);
	assert_int_equal(m.op.kind, BLK_K_FLUSH);
	blk_disk_close(&ro);
}

static void block_size_4k(void **state)
{
	struct blk_disk *d = *state;
	static struct img m;

	d->blk_size = 4096;
	hdr(&m, VIRTIO_BLK_T_IN, 1); /* not on a 4 KiB block */
	parse3(d, &m, 4096, false);
	assert_done(&m, VIRTIO_BLK_S_IOERR);
	assert_logged("block");
	hdr(&m, VIRTIO_BLK_T_IN, 8);
	parse3(d, &m, 512, false); /* less than a block */
	assert_done(&m, VIRTIO_BLK_S_IOERR);
	parse3(d, &m, 8192, false);
	assert_int_equal(m.op.kind, BLK_K_READ);
	d->blk_size = 512;
}

/* ---- iovec helpers ---------------------------------------------------------- */

static void iov_helpers(void **state)
{
	char a[8] = "abcdefg", b[8] = "hijklmn", out[16];
	struct iovec v[3] = { { a, 3 }, { b, 0 }, { b, 5 } };
	unsigned int first, left;

	(void)state;
	memset(out, 0, sizeof(out));
	assert_int_equal(blk_iov_to_buf(v, 3, 2, out, 16), 6);
	assert_string_equal(out, "chijkl");
	assert_int_equal(blk_iov_to_buf(v, 3, 100, out, 16), 0);
	assert_int_equal(blk_buf_to_iov(v, 3, "XYZUVWQ", 7), 7);
	assert_memory_equal(a, "XYZ", 3);
	assert_memory_equal(b, "UVWQ", 4);
	left = blk_iov_advance(v, 3, 4, &first);
	assert_int_equal(first, 2);
	assert_int_equal(left, 1);
	assert_ptr_equal(v[2].iov_base, b + 1);
	assert_int_equal(v[2].iov_len, 4);
	left = blk_iov_advance(v + 2, 1, 4, &first);
	assert_int_equal(left, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(read_plain),
		T(write_plain),
		T(flush_and_get_id),
		T(zero_length_rw),
		T(header_split),
		T(header_and_data_merged),
		T(data_and_status_merged),
		T(everything_in_one_pair),
		T(zero_length_iovecs),
		T(extra_readable_on_read),
		T(scratch_too_small),
		T(no_status_byte),
		T(short_header),
		T(bad_lengths),
		T(beyond_capacity),
		T(unsupported_types),
		T(readonly_disk),
		T(block_size_4k),
		T(iov_helpers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
