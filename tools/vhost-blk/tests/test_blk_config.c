// SPDX-License-Identifier: MIT
/*
 * tools/vhost-blk/tests/test_blk_config.c - gpc-vhost-blk's feature bits
 * and config space (blk_config.c) (the fixture: blk_test.h): the fields,
 * reads of pieces, reads and writes outside, the one writable field (wce),
 * and a read-only disk's.
 */
#include "blk_test.h"

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(config_space),
		T(config_readonly),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
