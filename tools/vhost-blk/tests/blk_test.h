// SPDX-License-Identifier: MIT
/*
 * tools/vhost-blk/tests/blk_test.h - the fixture of gpc-vhost-blk's tests
 * over plain iovecs into local buffers (no front-end, no library): a
 * memfd disk of DISK_BYTES opened for each test (setup, teardown, T()),
 * the device's log lines captured (assert_logged), and a request image
 * with its parse in the usual Linux shape (parse3, assert_done).
 *
 * Included once by test_blk_req.c, test_blk_ranges.c, test_blk_hostile.c,
 * test_blk_config.c and test_blk_disk.c, each a program of its own; not
 * every one uses every helper, hence the pragma (for this header only: a
 * program's own unused helpers still warn).
 */
#ifndef GPC_TESTS_BLK_TEST_H
#define GPC_TESTS_BLK_TEST_H

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"

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

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

#pragma GCC diagnostic pop

#endif /* GPC_TESTS_BLK_TEST_H */
