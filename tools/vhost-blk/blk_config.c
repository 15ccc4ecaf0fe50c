// SPDX-License-Identifier: MIT
/*
 * tools/vhost-blk/blk_config.c - the virtio-blk config space and feature
 * bits of gpc-vhost-blk (Linux's <linux/virtio_blk.h> layout; virtio 1.x,
 * so every field is little-endian whatever the host).
 *
 * What is offered and why:
 *   SEG_MAX       the guest must bound its scatter lists: one request's
 *                 iovecs are bounded by the library (struct
 *                 gpc_vhost_device.seg_max) and by readv's IOV_MAX.
 *   BLK_SIZE      the logical block of a block device (512 for files):
 *                 requests not aligned to it are refused (IOERR).
 *   FLUSH         writes are cached (page cache, or the device's cache);
 *                 FLUSH is fdatasync.
 *   CONFIG_WCE    the driver may switch the cache to write-through; then
 *                 every write is RWF_DSYNC.
 *   MQ            num_queues is meaningful (QEMU asks for it with >1).
 *   DISCARD, WRITE_ZEROES
 *                 hole punching and zeroing ranges; not with RO.
 *   RO            --readonly: writes are refused with IOERR.
 * Not offered: SIZE_MAX (no limit on one segment), GEOMETRY, TOPOLOGY,
 * SECURE_ERASE (a request of that type is UNSUPP).
 */
#include <endian.h>
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "blk.h"

#define BIT(f) (1ull << (f))

uint64_t blk_config_features(const struct blk_disk *d)
{
	uint64_t f = BIT(VIRTIO_BLK_F_SEG_MAX) | BIT(VIRTIO_BLK_F_BLK_SIZE) |
		     BIT(VIRTIO_BLK_F_FLUSH) | BIT(VIRTIO_BLK_F_CONFIG_WCE) |
		     BIT(VIRTIO_BLK_F_MQ);

	if (d->readonly)
		f |= BIT(VIRTIO_BLK_F_RO);
	else
		f |= BIT(VIRTIO_BLK_F_DISCARD) | BIT(VIRTIO_BLK_F_WRITE_ZEROES);
	return f;
}

void blk_config_fill(const struct blk_disk *d, struct virtio_blk_config *c)
{
	const struct blk_limits *l = &d->lim;

	memset(c, 0, sizeof(*c));
	c->capacity = htole64(d->capacity);
	c->seg_max = htole32(l->seg_max);
	c->blk_size = htole32(d->blk_size);
	c->wce = atomic_load_explicit(&d->wce, memory_order_relaxed) ? 1 : 0;
	c->num_queues = htole16((uint16_t)d->num_queues);
	if (!d->readonly) {
		c->max_discard_sectors = htole32(l->max_discard_sectors);
		c->max_discard_seg = htole32(l->max_discard_seg);
		c->discard_sector_alignment =
			htole32(l->discard_sector_alignment);
		c->max_write_zeroes_sectors =
			htole32(l->max_write_zeroes_sectors);
		c->max_write_zeroes_seg = htole32(l->max_write_zeroes_seg);
		c->write_zeroes_may_unmap = l->write_zeroes_may_unmap ? 1 : 0;
	}
}

/* @off + @len inside the struct, without overflowing. */
static bool in_config(uint32_t off, uint32_t len)
{
	return off <= sizeof(struct virtio_blk_config) &&
	       len <= sizeof(struct virtio_blk_config) - off;
}

int blk_config_read(struct blk_disk *d, uint32_t off, void *buf, uint32_t len)
{
	struct virtio_blk_config c;

	if (!d || (!buf && len) || !in_config(off, len))
		return -EINVAL;
	/* Filled at every read: wce may have changed (another front-end). */
	blk_config_fill(d, &c);
	memcpy(buf, (const char *)&c + off, len);
	return 0;
}

int blk_config_write(struct blk_disk *d, uint32_t off, const void *buf,
		     uint32_t len)
{
	uint8_t v;

	if (!d || !buf || !in_config(off, len))
		return -EINVAL;
	/*
	 * The driver may write only wce (virtio: "writeback" field, with
	 * CONFIG_WCE); QEMU sends exactly that byte. Anything else in the
	 * config space is the device's.
	 */
	if (off != offsetof(struct virtio_blk_config, wce) || len != 1)
		return -EPERM;
	v = *(const uint8_t *)buf;
	if (v > 1)
		return -EINVAL;
	atomic_store_explicit(&d->wce, v == 1, memory_order_relaxed);
	blk_log(BLK_LOG_INFO, "cache mode: %s",
		v ? "writeback" : "writethrough");
	return 0;
}
