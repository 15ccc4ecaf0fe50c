// SPDX-License-Identifier: MIT
/*
 * tools/vhost-blk/blk_req.c - one virtio-blk request: what it asks, and
 * whether it may.
 *
 * A request is a header (struct virtio_blk_outhdr, 16 bytes) at the start
 * of the device-readable bytes, then the data (readable for OUT and the
 * ranges of DISCARD / WRITE_ZEROES, writable for IN and GET_ID), then the
 * status byte: the last device-writable byte. Linux puts each in its own
 * descriptor, but the spec lets a driver merge or split them anywhere, so
 * nothing here assumes an iovec boundary: the header and the ranges are
 * copied out byte-wise, the data is a slice of the iovecs (a view into the
 * caller's array when it starts and ends on iovec boundaries, a trimmed
 * copy into the caller's scratch array otherwise).
 *
 * The guest is untrusted: every length is summed in 64 bits, every sector
 * range is checked against the capacity without overflow, every count
 * against the limits the config space announced. A request that cannot be
 * served gets its status (IOERR or UNSUPP, as the virtio spec assigns them)
 * and a rate-limited log line; one without a writable byte has no status
 * to get and completes with a used length of 0.
 *
 * The used length is the whole writable length once the status is written
 * (QEMU's virtio-blk does the same): the status byte is the last writable
 * byte, so any shorter length would leave it outside what the driver (and
 * a dirty log kept by the library from that length) is told was written.
 */
#include <endian.h>
#include <inttypes.h>
#include <string.h>

#include "blk.h"

static uint64_t iov_total(const struct iovec *iov, unsigned int n)
{
	uint64_t t = 0;

	for (unsigned int i = 0; i < n; i++)
		t += iov[i].iov_len; /* n <= BLK_IOV_MAX: no overflow */
	return t;
}

size_t blk_iov_to_buf(const struct iovec *iov, unsigned int n, uint64_t skip,
		      void *dst, size_t len)
{
	size_t done = 0;

	for (unsigned int i = 0; i < n && done < len; i++) {
		size_t l = iov[i].iov_len, c;

		if (skip >= l) {
			skip -= l;
			continue;
		}
		c = l - skip;
		if (c > len - done)
			c = len - done;
		memcpy((char *)dst + done, (const char *)iov[i].iov_base + skip,
		       c);
		done += c;
		skip = 0;
	}
	return done;
}

size_t blk_buf_to_iov(const struct iovec *iov, unsigned int n, const void *src,
		      size_t len)
{
	size_t done = 0;

	for (unsigned int i = 0; i < n && done < len; i++) {
		size_t c = iov[i].iov_len;

		if (c > len - done)
			c = len - done;
		memcpy(iov[i].iov_base, (const char *)src + done, c);
		done += c;
	}
	return done;
}

unsigned int blk_iov_advance(struct iovec *iov, unsigned int n, uint64_t bytes,
			     unsigned int *first)
{
	unsigned int i = 0;

	while (i < n && bytes >= iov[i].iov_len) {
		bytes -= iov[i].iov_len;
		i++;
	}
	if (i < n) {
		iov[i].iov_base = (char *)iov[i].iov_base + bytes;
		iov[i].iov_len -= bytes;
	}
	*first = i;
	return n - i;
}

/*
 * The @len bytes at byte @skip of @src as iovecs: a view into @src where
 * the slice starts and ends on entry boundaries, else a trimmed copy into
 * @scratch. The caller has checked skip + len <= the total.
 */
static bool slice(const struct iovec *src, unsigned int n, uint64_t skip,
		  uint64_t len, struct iovec *scratch, unsigned int cap,
		  struct blk_op *op)
{
	unsigned int i = 0, j, cnt;
	uint64_t head, rest;

	/* The first entry the slice touches (zero-length ones skipped). */
	while (i < n && skip >= src[i].iov_len) {
		skip -= src[i].iov_len;
		i++;
	}
	/* The entry it ends in: rest is what it takes of that entry. */
	head = skip;
	rest = len + head;
	for (j = i; j < n && rest > src[j].iov_len; j++)
		rest -= src[j].iov_len;
	cnt = j - i + 1;
	if (j >= n || !len) {
		/* Unreachable with the caller's check; be safe anyway. */
		op->data = NULL;
		op->nr_data = 0;
		return len == 0;
	}
	if (!head && rest == src[j].iov_len) {
		op->data = src + i;
		op->nr_data = cnt;
		op->data_copied = false;
		return true;
	}
	if (cnt > cap)
		return false;
	memcpy(scratch, src + i, cnt * sizeof(*scratch));
	scratch[0].iov_base = (char *)scratch[0].iov_base + head;
	scratch[0].iov_len -= head;
	/* The last entry keeps `rest` of its bytes from its own start. */
	if (cnt == 1)
		scratch[0].iov_len = len;
	else
		scratch[cnt - 1].iov_len = rest;
	op->data = scratch;
	op->nr_data = cnt;
	op->data_copied = true;
	return true;
}

static void done(struct blk_op *op, uint8_t status)
{
	op->kind = BLK_K_DONE;
	op->status = status;
}

/* The sector range [@sector, + @bytes) is whole blocks inside the disk. */
static bool range_ok(const struct blk_disk *d, uint64_t sector, uint64_t bytes,
		     const char *what)
{
	uint64_t bs = d->blk_size >> BLK_SECTOR_SHIFT;

	if (bytes & (BLK_SECTOR_SIZE - 1)) {
		blk_log_guest("%s at sector %" PRIu64 ": %" PRIu64
			      " bytes, not whole sectors",
			      what, sector, bytes);
		return false;
	}
	if ((sector & (bs - 1)) || (bytes & (d->blk_size - 1))) {
		blk_log_guest("%s at sector %" PRIu64 " of %" PRIu64
			      " bytes: not aligned to the %u-byte block",
			      what, sector, bytes, d->blk_size);
		return false;
	}
	if (sector > d->capacity ||
	    (bytes >> BLK_SECTOR_SHIFT) > d->capacity - sector) {
		blk_log_guest("%s at sector %" PRIu64 " of %" PRIu64
			      " bytes: beyond the capacity (%" PRIu64
			      " sectors)",
			      what, sector, bytes, d->capacity);
		return false;
	}
	return true;
}

static void parse_rw(const struct blk_disk *d, const struct iovec *src,
		     unsigned int n, uint64_t skip, uint64_t len,
		     uint64_t sector, struct iovec *scratch, unsigned int cap,
		     struct blk_op *op, enum blk_kind kind)
{
	const char *what = kind == BLK_K_READ ? "read" : "write";

	if (!range_ok(d, sector, len, what))
		return done(op, VIRTIO_BLK_S_IOERR);
	if (!len)
		return done(op, VIRTIO_BLK_S_OK);
	if (!slice(src, n, skip, len, scratch, cap, op)) {
		blk_log_guest("%s at sector %" PRIu64 ": more iovecs than %u",
			      what, sector, cap);
		return done(op, VIRTIO_BLK_S_IOERR);
	}
	op->kind = kind;
	op->off = sector << BLK_SECTOR_SHIFT;
	op->len = len;
}

static void parse_ranges(const struct blk_disk *d, const struct iovec *iov,
			 unsigned int nr_read, uint64_t bytes,
			 struct blk_op *op, bool zeroes)
{
	const char *what = zeroes ? "write-zeroes" : "discard";
	uint32_t max_seg = zeroes ? d->lim.max_write_zeroes_seg :
				    d->lim.max_discard_seg;
	uint32_t max_sec = zeroes ? d->lim.max_write_zeroes_sectors :
				    d->lim.max_discard_sectors;
	struct virtio_blk_discard_write_zeroes seg[BLK_MAX_RANGES];
	uint64_t n = bytes / sizeof(seg[0]);

	if (max_seg > BLK_MAX_RANGES)
		max_seg = BLK_MAX_RANGES;
	/* virtio: a segment count the device cannot take is UNSUPP. */
	if (!bytes || bytes % sizeof(seg[0]) || n > max_seg) {
		blk_log_guest("%s: %" PRIu64 " bytes of ranges (16 each, "
			      "1 .. %u of them)",
			      what, bytes, max_seg);
		return done(op, VIRTIO_BLK_S_UNSUPP);
	}
	blk_iov_to_buf(iov, nr_read, sizeof(struct virtio_blk_outhdr), seg,
		       n * sizeof(seg[0]));
	for (unsigned int i = 0; i < n; i++) {
		uint64_t sector = le64toh(seg[i].sector);
		uint32_t num = le32toh(seg[i].num_sectors);
		uint32_t flags = le32toh(seg[i].flags);
		uint32_t allowed = zeroes ? VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP :
					    0;
		struct blk_range *r;

		/* Unknown flags, or unmap on a discard: UNSUPP (virtio). */
		if (flags & ~allowed) {
			blk_log_guest("%s range %u: flags 0x%x", what, i,
				      flags);
			return done(op, VIRTIO_BLK_S_UNSUPP);
		}
		if (num > max_sec) {
			blk_log_guest("%s range %u: %u sectors, at most %u",
				      what, i, num, max_sec);
			return done(op, VIRTIO_BLK_S_IOERR);
		}
		if (!range_ok(d, sector, (uint64_t)num << BLK_SECTOR_SHIFT,
			      what))
			return done(op, VIRTIO_BLK_S_IOERR);
		if (!num)
			continue;
		r = &op->ranges[op->nr_ranges++];
		r->off = sector << BLK_SECTOR_SHIFT;
		r->len = (uint64_t)num << BLK_SECTOR_SHIFT;
		r->unmap = zeroes &&
			   (flags & VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP) &&
			   d->lim.write_zeroes_may_unmap;
	}
	if (!op->nr_ranges)
		return done(op, VIRTIO_BLK_S_OK);
	op->kind = zeroes ? BLK_K_WRITE_ZEROES : BLK_K_DISCARD;
}

void blk_req_parse(const struct blk_disk *d, const struct iovec *iov,
		   unsigned int nr_read, unsigned int nr_write,
		   struct iovec *scratch, unsigned int scratch_cap,
		   struct blk_op *op)
{
	const struct iovec *wr = iov + nr_read;
	struct virtio_blk_outhdr hdr;
	uint64_t rlen, wlen, sector, out_len, in_len;
	unsigned int last;

	memset(op, 0, sizeof(*op));
	op->kind = BLK_K_DONE;
	if (!iov)
		nr_read = nr_write = 0;
	rlen = iov_total(iov, nr_read);
	wlen = iov_total(wr, nr_write);

	/* The status byte: the last byte of the last non-empty iovec. */
	for (last = nr_write; last > 0 && !wr[last - 1].iov_len; last--)
		;
	if (!last) {
		blk_log_guest("request without a writable byte for its status "
			      "(%u readable iovecs, %" PRIu64 " bytes)",
			      nr_read, rlen);
		op->status_ptr = NULL;
		op->written = 0;
		return;
	}
	op->status_ptr =
		(uint8_t *)wr[last - 1].iov_base + wr[last - 1].iov_len - 1;
	op->written = wlen > UINT32_MAX ? UINT32_MAX : (uint32_t)wlen;

	if (rlen < sizeof(hdr)) {
		blk_log_guest("request header: %" PRIu64
			      " readable bytes, %zu needed",
			      rlen, sizeof(hdr));
		return done(op, VIRTIO_BLK_S_IOERR);
	}
	blk_iov_to_buf(iov, nr_read, 0, &hdr, sizeof(hdr));
	op->type = le32toh(hdr.type);
	sector = le64toh(hdr.sector);
	out_len = rlen - sizeof(hdr); /* readable bytes after the header */
	in_len = wlen - 1;	      /* writable bytes before the status */

	switch (op->type) {
	case VIRTIO_BLK_T_IN:
		return parse_rw(d, wr, nr_write, 0, in_len, sector, scratch,
				scratch_cap, op, BLK_K_READ);
	case VIRTIO_BLK_T_OUT:
		if (d->readonly) {
			blk_log_guest("write at sector %" PRIu64
				      " on a read-only disk",
				      sector);
			return done(op, VIRTIO_BLK_S_IOERR);
		}
		return parse_rw(d, iov, nr_read, sizeof(hdr), out_len, sector,
				scratch, scratch_cap, op, BLK_K_WRITE);
	case VIRTIO_BLK_T_FLUSH:
		op->kind = BLK_K_FLUSH;
		return;
	case VIRTIO_BLK_T_GET_ID:
		if (in_len > VIRTIO_BLK_ID_BYTES)
			in_len = VIRTIO_BLK_ID_BYTES;
		if (!in_len)
			return done(op, VIRTIO_BLK_S_OK);
		if (!slice(wr, nr_write, 0, in_len, scratch, scratch_cap, op))
			return done(op, VIRTIO_BLK_S_IOERR);
		op->kind = BLK_K_GET_ID;
		op->len = in_len;
		return;
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		if (d->readonly) {
			blk_log_guest("%s on a read-only disk",
				      op->type == VIRTIO_BLK_T_DISCARD ?
					      "discard" :
					      "write-zeroes");
			return done(op, VIRTIO_BLK_S_IOERR);
		}
		return parse_ranges(d, iov, nr_read, out_len, op,
				    op->type == VIRTIO_BLK_T_WRITE_ZEROES);
	default:
		blk_log_guest("request type %" PRIu32 " not supported",
			      op->type);
		return done(op, VIRTIO_BLK_S_UNSUPP);
	}
}
