// SPDX-License-Identifier: MIT
/*
 * tools/vhost-blk/blk_disk.c - the backing store of gpc-vhost-blk: a
 * regular file or a block device, its size and block size, and the two
 * descriptors the engine chooses from.
 *
 * With --direct a second descriptor is opened with O_DIRECT, and only
 * requests whose buffers, offset and length are aligned for it use it: a
 * guest's buffers are wherever the guest put them, and a misaligned
 * O_DIRECT request fails with EINVAL, so such requests (and a kernel that
 * refuses one anyway) fall back to the buffered descriptor instead of
 * failing. Both descriptors see the same data: the kernel keeps the page
 * cache coherent with direct writes.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/fs.h>

#include "blk.h"

/*
 * What O_DIRECT on a regular file needs, short of asking the file system
 * (statx STATX_DIOALIGN is not in Debian 12's glibc): every common one is
 * content with a page, and a request aligned less goes buffered.
 */
#define FILE_DIO_ALIGN 4096u

/* Granularity of hole punching on a file system (its block, at most). */
#define FILE_DISCARD_ALIGN 4096u

/* Sectors one DISCARD / WRITE_ZEROES range may cover: 2 GiB. */
#define MAX_RANGE_SECTORS (1u << 22)

/* Data segments announced when the device does not say (QEMU's default). */
#define DEFAULT_SEG_MAX 126u

void blk_limits_default(struct blk_limits *lim, const struct blk_disk *d)
{
	uint32_t blk_sectors = d->blk_size >> BLK_SECTOR_SHIFT;
	uint32_t align = d->is_blkdev ? d->blk_size : FILE_DISCARD_ALIGN;

	if (align < d->blk_size)
		align = d->blk_size;
	memset(lim, 0, sizeof(*lim));
	lim->seg_max = DEFAULT_SEG_MAX;
	/* Whole logical blocks: a range of them must pass the block check. */
	lim->max_discard_sectors = MAX_RANGE_SECTORS & ~(blk_sectors - 1);
	lim->max_discard_seg = BLK_MAX_RANGES;
	lim->discard_sector_alignment = align >> BLK_SECTOR_SHIFT;
	lim->max_write_zeroes_sectors = lim->max_discard_sectors;
	lim->max_write_zeroes_seg = BLK_MAX_RANGES;
	lim->write_zeroes_may_unmap = true;
}

static bool pow2(uint64_t x)
{
	return x && !(x & (x - 1));
}

int blk_disk_open_fd(struct blk_disk *d, int fd, int fd_direct,
		     const struct blk_disk_opts *o)
{
	struct stat st;
	uint64_t size;
	uint32_t lbs = BLK_SECTOR_SIZE;
	int ret = 0;

	memset(d, 0, sizeof(*d));
	d->fd = fd;
	d->fd_direct = fd_direct;
	if (fd < 0 || !o || !o->num_queues) {
		ret = -EINVAL;
		goto fail;
	}
	if (o->serial && strlen(o->serial) > VIRTIO_BLK_ID_BYTES) {
		blk_log(BLK_LOG_ERR, "serial '%s' longer than %u bytes",
			o->serial, VIRTIO_BLK_ID_BYTES);
		ret = -EINVAL;
		goto fail;
	}
	if (fstat(fd, &st)) {
		ret = -errno;
		goto fail;
	}
	if (S_ISBLK(st.st_mode)) {
		int ssz = 0;

		if (ioctl(fd, BLKGETSIZE64, &size) ||
		    ioctl(fd, BLKSSZGET, &ssz)) {
			ret = -errno;
			goto fail;
		}
		if (ssz >= (int)BLK_SECTOR_SIZE && pow2((uint64_t)ssz) &&
		    ssz <= 65536)
			lbs = (uint32_t)ssz;
		d->is_blkdev = true;
		d->dio_align = lbs;
	} else if (S_ISREG(st.st_mode)) {
		size = (uint64_t)st.st_size;
		d->dio_align = FILE_DIO_ALIGN;
	} else {
		blk_log(BLK_LOG_ERR,
			"not a regular file nor a block device (mode 0%o)",
			(unsigned int)(st.st_mode & S_IFMT));
		ret = -EINVAL;
		goto fail;
	}
	/* A tail shorter than a block is not addressable by the guest. */
	size &= ~(uint64_t)(lbs - 1);
	if (!size) {
		blk_log(BLK_LOG_ERR, "smaller than one %u-byte block", lbs);
		ret = -EINVAL;
		goto fail;
	}
	d->size = size;
	d->capacity = size >> BLK_SECTOR_SHIFT;
	d->blk_size = lbs;
	d->readonly = o->readonly;
	d->num_queues = o->num_queues;
	if (o->serial)
		memcpy(d->serial, o->serial, strlen(o->serial));
	atomic_init(&d->wce, true);
	atomic_init(&d->no_zero_range, false);
	blk_limits_default(&d->lim, d);
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	if (fd_direct >= 0)
		close(fd_direct);
	d->fd = d->fd_direct = -1;
	return ret;
}

int blk_disk_open(struct blk_disk *d, const char *path,
		  const struct blk_disk_opts *o)
{
	int flags, fd, fdd = -1;

	if (!d || !path || !o)
		return -EINVAL;
	flags = (o->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC;
	fd = open(path, flags);
	if (fd < 0) {
		int e = errno;

		blk_log(BLK_LOG_ERR, "%s: %s", path, strerror(e));
		return -e;
	}
	if (o->direct) {
		fdd = open(path, flags | O_DIRECT);
		/* A file system without O_DIRECT: buffered only, said once. */
		if (fdd < 0)
			blk_log(BLK_LOG_WARN,
				"%s: O_DIRECT refused (%s): buffered I/O only",
				path, strerror(errno));
	}
	return blk_disk_open_fd(d, fd, fdd, o);
}

void blk_disk_close(struct blk_disk *d)
{
	if (!d)
		return;
	if (d->fd >= 0)
		close(d->fd);
	if (d->fd_direct >= 0)
		close(d->fd_direct);
	d->fd = d->fd_direct = -1;
}
