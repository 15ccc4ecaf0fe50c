// SPDX-License-Identifier: MIT
/*
 * tools/vhost-blk/tests/test_blk_req.c - gpc-vhost-blk's request parser
 * (blk_req.c), config space (blk_config.c) and disk (blk_disk.c), over
 * plain iovecs into local buffers: no front-end, no library.
 *
 * Every request shape a driver may make (header, data and status byte each
 * in its own iovec, merged, split anywhere, zero-length iovecs between),
 * every refusal with its status (IOERR, UNSUPP) and its log line, the
 * shapes without a status byte, and a randomized hostile pass that checks
 * the parser's output stays inside the iovecs it was given.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "blk.h"

#define DISK_BYTES (1u << 20) /* 2048 sectors */
#define CAP_SECT   (DISK_BYTES / 512)

/* ---- log capture ---------------------------------------------------------- */

static unsigned int log_lines;
static char log_last[512];

static void sink(void *ctx, enum blk_log_level level, const char *line)
{
	(void)ctx;
	(void)level;
	log_lines++;
	snprintf(log_last, sizeof(log_last), "%s", line);
}

static void log_clear(void)
{
	log_lines = 0;
	log_last[0] = 0;
	blk_log_reset_limit();
}

#define assert_logged(substr)                                          \
	do {                                                           \
		assert_true(log_lines > 0);                            \
		if (!strstr(log_last, (substr)))                       \
			fail_msg("log line '%s' lacks '%s'", log_last, \
				 (substr));                            \
	} while (0)

/* ---- fixtures ------------------------------------------------------------- */

static int mkfile(uint64_t size)
{
	int fd = memfd_create("blk", MFD_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	return fd;
}

static void disk_open(struct blk_disk *d, bool ro)
{
	struct blk_disk_opts o = { .readonly = ro,
				   .serial = "gpc-serial-0001",
				   .num_queues = 2 };

	assert_int_equal(blk_disk_open_fd(d, mkfile(DISK_BYTES), -1, &o), 0);
}

static int setup(void **state)
{
	static struct blk_disk d;

	blk_log_set_sink(sink, NULL);
	log_clear();
	disk_open(&d, false);
	*state = &d;
	return 0;
}

static int teardown(void **state)
{
	blk_disk_close(*state);
	return 0;
}

/* A request image: header, a data area, the status byte, scratch. */
struct img {
	struct virtio_blk_outhdr hdr;
	uint8_t data[8192];
	uint8_t status;
	struct iovec iov[16];
	struct iovec scratch[16];
	struct blk_op op;
};

static void hdr(struct img *m, uint32_t type, uint64_t sector)
{
	memset(m, 0, sizeof(*m));
	m->hdr.type = htole32(type);
	m->hdr.sector = htole64(sector);
	m->status = 0xee;
}

static void iov_set(struct iovec *v, void *base, size_t len)
{
	v->iov_base = base;
	v->iov_len = len;
}

/* The usual Linux shape: [hdr] [data] [status] (@out: data readable). */
static void parse3(struct blk_disk *d, struct img *m, size_t len, bool out)
{
	iov_set(&m->iov[0], &m->hdr, sizeof(m->hdr));
	iov_set(&m->iov[1], m->data, len);
	iov_set(&m->iov[2], &m->status, 1);
	blk_req_parse(d, m->iov, out ? 2 : 1, out ? 1 : 2, m->scratch, 16,
		      &m->op);
}

static void assert_done(const struct img *m, uint8_t status)
{
	assert_int_equal(m->op.kind, BLK_K_DONE);
	assert_int_equal(m->op.status, status);
	assert_non_null(m->op.status_ptr);
}

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

/* ---- DISCARD and WRITE_ZEROES --------------------------------------------- */

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

/* ---- a hostile pass --------------------------------------------------------- */

/* @p .. +@n inside one of the @k iovecs at @v. */
static bool inside(const struct iovec *v, unsigned int k, const void *p,
		   size_t n)
{
	for (unsigned int i = 0; i < k; i++) {
		const char *b = v[i].iov_base;

		if ((const char *)p >= b &&
		    (const char *)p + n <= b + v[i].iov_len)
			return true;
	}
	return false;
}

static void hostile_random(void **state)
{
	static uint8_t buf[4096];
	struct blk_disk *d = *state;
	struct iovec iov[12], scratch[12];
	struct blk_op op;
	unsigned int seed = 12345;

	blk_log_set_sink(NULL, NULL);
	blk_log_set_sink(sink, NULL);
	for (int it = 0; it < 200000; it++) {
		unsigned int n = (unsigned int)rand_r(&seed) % 12;
		unsigned int nr = n ? (unsigned int)rand_r(&seed) % (n + 1) : 0;

		for (unsigned int i = 0; i < n; i++) {
			size_t off = (size_t)rand_r(&seed) % sizeof(buf);
			size_t len = (size_t)rand_r(&seed) % 4 == 0 ?
					     0 :
					     (size_t)rand_r(&seed) %
						     (sizeof(buf) - off + 1);
			iov[i].iov_base = buf + off;
			iov[i].iov_len = len % 3 == 0 ? len % 40 : len;
		}
		/* Plausible headers half of the time. */
		for (unsigned int i = 0; i < 64; i++)
			buf[i] = (uint8_t)rand_r(&seed);
		if (rand_r(&seed) & 1) {
			struct virtio_blk_outhdr h = {
				.type = htole32((uint32_t)rand_r(&seed) % 16),
				.sector = htole64((uint64_t)rand_r(&seed) %
						  (CAP_SECT + 16)),
			};

			if (n && iov[0].iov_len >= sizeof(h))
				memcpy(iov[0].iov_base, &h, sizeof(h));
		}
		blk_req_parse(d, iov, nr, n - nr, scratch, 12, &op);
		if (op.status_ptr)
			assert_true(inside(iov + nr, n - nr, op.status_ptr, 1));
		else
			assert_int_equal(op.written, 0);
		if (op.kind == BLK_K_READ || op.kind == BLK_K_WRITE ||
		    op.kind == BLK_K_GET_ID) {
			uint64_t t = 0;
			const struct iovec *src =
				op.kind == BLK_K_WRITE ? iov : iov + nr;
			unsigned int k = op.kind == BLK_K_WRITE ? nr : n - nr;

			for (unsigned int i = 0; i < op.nr_data; i++) {
				t += op.data[i].iov_len;
				if (op.data[i].iov_len)
					assert_true(inside(src, k,
							   op.data[i].iov_base,
							   op.data[i].iov_len));
			}
			assert_int_equal(t, op.len);
			if (op.kind != BLK_K_GET_ID) {
				assert_true(op.off + op.len <= DISK_BYTES);
				assert_int_equal(op.len % 512, 0);
			}
		}
		if (op.kind == BLK_K_DISCARD || op.kind == BLK_K_WRITE_ZEROES) {
			assert_true(op.nr_ranges >= 1 &&
				    op.nr_ranges <= BLK_MAX_RANGES);
			for (unsigned int i = 0; i < op.nr_ranges; i++)
				assert_true(op.ranges[i].off +
						    op.ranges[i].len <=
					    DISK_BYTES);
		}
		blk_log_reset_limit();
	}
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

/* ---- config space ------------------------------------------------------------ */

static void config_space(void **state)
{
	struct blk_disk *d = *state;
	struct virtio_blk_config c;
	uint64_t f = blk_config_features(d);
	uint8_t v, buf[sizeof(c) + 8];

	assert_true(f & (1ull << VIRTIO_BLK_F_SEG_MAX));
	assert_true(f & (1ull << VIRTIO_BLK_F_BLK_SIZE));
	assert_true(f & (1ull << VIRTIO_BLK_F_FLUSH));
	assert_true(f & (1ull << VIRTIO_BLK_F_MQ));
	assert_true(f & (1ull << VIRTIO_BLK_F_DISCARD));
	assert_true(f & (1ull << VIRTIO_BLK_F_WRITE_ZEROES));
	assert_false(f & (1ull << VIRTIO_BLK_F_RO));
	assert_false(f & (1ull << VIRTIO_BLK_F_SIZE_MAX));
	assert_false(f & (1ull << VIRTIO_BLK_F_SECURE_ERASE));

	assert_int_equal(blk_config_read(d, 0, &c, sizeof(c)), 0);
	assert_int_equal(le64toh(c.capacity), CAP_SECT);
	assert_int_equal(le32toh(c.blk_size), 512);
	assert_int_equal(le32toh(c.seg_max), d->lim.seg_max);
	assert_int_equal(le16toh(c.num_queues), 2);
	assert_int_equal(c.wce, 1);
	assert_int_equal(le32toh(c.max_discard_seg), BLK_MAX_RANGES);
	assert_int_equal(le32toh(c.max_discard_sectors), 1u << 22);
	assert_int_equal(le32toh(c.discard_sector_alignment), 8);
	assert_int_equal(le32toh(c.max_write_zeroes_seg), BLK_MAX_RANGES);
	assert_int_equal(c.write_zeroes_may_unmap, 1);

	/* Pieces, e.g. what QEMU reads field by field. */
	assert_int_equal(
		blk_config_read(d,
				offsetof(struct virtio_blk_config, num_queues),
				buf, 2),
		0);
	assert_int_equal(buf[0] | buf[1] << 8, 2);
	assert_int_equal(blk_config_read(d, sizeof(c), buf, 0), 0);
	/* Outside, and wrapping. */
	assert_int_equal(blk_config_read(d, 0, buf, sizeof(c) + 1), -EINVAL);
	assert_int_equal(blk_config_read(d, sizeof(c), buf, 1), -EINVAL);
	assert_int_equal(blk_config_read(d, UINT32_MAX, buf, 2), -EINVAL);
	assert_int_equal(blk_config_read(d, 8, buf, UINT32_MAX), -EINVAL);
	assert_int_equal(blk_config_read(NULL, 0, buf, 1), -EINVAL);
	assert_int_equal(blk_config_read(d, 0, NULL, 1), -EINVAL);

	/* The driver may switch the cache mode, and only that. */
	v = 0;
	assert_int_equal(
		blk_config_write(d, offsetof(struct virtio_blk_config, wce), &v,
				 1),
		0);
	assert_false(atomic_load(&d->wce));
	assert_int_equal(blk_config_read(d, 0, &c, sizeof(c)), 0);
	assert_int_equal(c.wce, 0);
	v = 2;
	assert_int_equal(
		blk_config_write(d, offsetof(struct virtio_blk_config, wce), &v,
				 1),
		-EINVAL);
	v = 1;
	assert_int_equal(blk_config_write(d, 0, &v, 1), -EPERM);
	assert_int_equal(
		blk_config_write(d, offsetof(struct virtio_blk_config, wce),
				 buf, 2),
		-EPERM);
	assert_int_equal(blk_config_write(d, sizeof(c), &v, 1), -EINVAL);
	assert_int_equal(blk_config_write(d, UINT32_MAX, &v, 1), -EINVAL);
	assert_int_equal(
		blk_config_write(d, offsetof(struct virtio_blk_config, wce), &v,
				 1),
		0);
	assert_true(atomic_load(&d->wce));
}

static void config_readonly(void **state)
{
	static struct blk_disk ro;
	struct virtio_blk_config c;
	uint64_t f;

	(void)state;
	disk_open(&ro, true);
	f = blk_config_features(&ro);
	assert_true(f & (1ull << VIRTIO_BLK_F_RO));
	assert_false(f & (1ull << VIRTIO_BLK_F_DISCARD));
	assert_false(f & (1ull << VIRTIO_BLK_F_WRITE_ZEROES));
	assert_int_equal(blk_config_read(&ro, 0, &c, sizeof(c)), 0);
	assert_int_equal(c.max_discard_sectors, 0);
	assert_int_equal(c.max_write_zeroes_seg, 0);
	blk_disk_close(&ro);
}

/* ---- the disk ------------------------------------------------------------------ */

static void disk_open_cases(void **state)
{
	struct blk_disk_opts o = { .num_queues = 1 };
	char path[] = "/tmp/test_blk_req.XXXXXX";
	struct blk_disk d;
	int fd;

	(void)state;
	/* The tail beyond whole blocks is not the guest's. */
	assert_int_equal(blk_disk_open_fd(&d, mkfile(DISK_BYTES + 100), -1, &o),
			 0);
	assert_int_equal(d.size, DISK_BYTES);
	assert_int_equal(d.capacity, CAP_SECT);
	assert_int_equal(d.blk_size, 512);
	assert_false(d.is_blkdev);
	blk_disk_close(&d);
	/* Less than a block. */
	log_clear();
	assert_int_equal(blk_disk_open_fd(&d, mkfile(511), -1, &o), -EINVAL);
	assert_logged("block");
	assert_int_equal(blk_disk_open_fd(&d, mkfile(0), -1, &o), -EINVAL);
	/* A serial of 20 bytes fits; 21 do not. */
	o.serial = "01234567890123456789";
	assert_int_equal(blk_disk_open_fd(&d, mkfile(4096), -1, &o), 0);
	assert_memory_equal(d.serial, o.serial, 20);
	blk_disk_close(&d);
	o.serial = "012345678901234567890";
	assert_int_equal(blk_disk_open_fd(&d, mkfile(4096), -1, &o), -EINVAL);
	o.serial = NULL;
	/* No queues; no options; a bad fd. */
	o.num_queues = 0;
	assert_int_equal(blk_disk_open_fd(&d, mkfile(4096), -1, &o), -EINVAL);
	o.num_queues = 1;
	assert_int_equal(blk_disk_open_fd(&d, -1, -1, &o), -EINVAL);
	assert_int_equal(blk_disk_open(&d, "/x", NULL), -EINVAL);
	/* Not a file: a directory, a pipe. */
	log_clear();
	assert_int_equal(
		blk_disk_open(&d, "/tmp",
			      &(struct blk_disk_opts){ .readonly = true,
						       .num_queues = 1 }),
		-EINVAL);
	assert_logged("regular");
	{
		int p[2];

		assert_int_equal(pipe(p), 0);
		close(p[1]);
		assert_int_equal(blk_disk_open_fd(&d, p[0], -1, &o), -EINVAL);
	}
	/* Missing. */
	assert_int_equal(blk_disk_open(&d, "/nonexistent/disk.img", &o),
			 -ENOENT);
	/* A real file, read-only and direct. */
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 65536), 0);
	close(fd);
	o.readonly = true;
	o.direct = true;
	assert_int_equal(blk_disk_open(&d, path, &o), 0);
	assert_true(d.readonly);
	assert_int_equal(d.capacity, 128);
	assert_int_equal(fcntl(d.fd, F_GETFL) & O_ACCMODE, O_RDONLY);
	if (d.fd_direct >= 0)
		assert_true(fcntl(d.fd_direct, F_GETFL) & O_DIRECT);
	blk_disk_close(&d);
	o.readonly = false;
	assert_int_equal(blk_disk_open(&d, path, &o), 0);
	assert_int_equal(fcntl(d.fd, F_GETFL) & O_ACCMODE, O_RDWR);
	blk_disk_close(&d);
	unlink(path);
}

static void log_rate_limit(void **state)
{
	uint64_t dropped = blk_log_dropped();

	(void)state;
	log_clear();
	for (int i = 0; i < 100; i++)
		blk_log_guest("line %d", i);
	/* A burst gets through only partly, and the rest is counted. */
	assert_true(log_lines >= 1 && log_lines <= 20);
	assert_int_equal(blk_log_dropped() - dropped, 100 - log_lines);
	/* Lines not caused by the guest are never dropped. */
	log_clear();
	for (int i = 0; i < 100; i++)
		blk_log(BLK_LOG_INFO, "line %d", i);
	assert_int_equal(log_lines, 100);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

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
		T(ranges),
		T(ranges_split_across_iovecs),
		T(ranges_bad),
		T(hostile_random),
		T(iov_helpers),
		T(config_space),
		T(config_readonly),
		T(disk_open_cases),
		T(log_rate_limit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
