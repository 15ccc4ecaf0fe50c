// SPDX-License-Identifier: MIT
/*
 * tools/vhost-blk/tests/test_blk_disk.c - what gpc-vhost-blk's parser
 * stands on (the fixture: blk_test.h): opening the disk (blk_disk.c:
 * sizes, serials, options, what is not a file, read-only and direct), and
 * the log's rate limit on lines the guest causes (blk_log.c).
 */
#include "blk_test.h"

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(disk_open_cases),
		T(log_rate_limit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
