// SPDX-License-Identifier: MIT
/*
 * tools/vhost-blk/blk_dev.c - gpc-vhost-blk's struct gpc_vhost_device.
 *
 * The library runs .queue_start, .request, .queue_poll and .queue_stop of
 * a queue on that queue's thread, so each queue owns one io_uring engine
 * (its qctx) and no lock is taken anywhere on the datapath; the counters
 * are per queue index, single-writer, and read by the status line.
 *
 * seg_max, two of them: the config space tells the driver how many data
 * segments a request may have (limits.seg_max); the library needs the most
 * iovecs a chain may give (struct gpc_vhost_device.seg_max), which is more:
 * the header and status descriptors, and every buffer may be split once
 * where two memory regions meet. A chain beyond it is the library's
 * -ENOBUFS (.bad_request), which a driver keeping to seg_max never sees.
 */
#include <errno.h>
#include <string.h>

#include "blk_dev.h"

static struct blk_dev *dev_of(void *ctx)
{
	return ctx;
}

static int get_config(void *ctx, uint32_t off, void *buf, uint32_t len)
{
	return blk_config_read(dev_of(ctx)->disk, off, buf, len);
}

static int set_config(void *ctx, uint32_t off, const void *buf, uint32_t len)
{
	int ret = blk_config_write(dev_of(ctx)->disk, off, buf, len);

	if (ret)
		blk_log_guest("config write of %u bytes at %u refused (%s)",
			      len, off, strerror(-ret));
	return ret;
}

static void complete(void *ctx, struct gpc_vhost_req *req, uint32_t written)
{
	struct blk_dev *b = ctx;
	int ret = gpc_vhost_req_complete(req, written);

	/* The library's contract broken by us: loud, never silent. */
	if (ret) {
		atomic_fetch_add_explicit(&b->complete_errors, 1,
					  memory_order_relaxed);
		blk_log(BLK_LOG_ERR, "gpc_vhost_req_complete: %s",
			strerror(-ret));
	}
}

static int queue_start(void *ctx, struct gpc_vhost_queue *q, void **qctx,
		       int *poll_fd)
{
	struct blk_dev *b = ctx;
	unsigned int idx = gpc_vhost_queue_index(q);
	struct blk_uring *u;
	int ret;

	if (idx >= GPC_VHOST_MAX_QUEUES)
		return -EINVAL;
	ret = blk_uring_create(b->disk, b->queue_size, &b->qstats[idx],
			       complete, b, &u);
	if (ret) {
		blk_log(BLK_LOG_ERR, "queue %u: io_uring: %s", idx,
			strerror(-ret));
		return ret;
	}
	atomic_fetch_add_explicit(&b->queue_starts, 1, memory_order_relaxed);
	*qctx = u;
	*poll_fd = blk_uring_fd(u);
	return 0;
}

static void queue_stop(void *ctx, struct gpc_vhost_queue *q, void *qctx)
{
	(void)ctx;
	(void)q;
	/* Waits for every request's I/O, completing each. */
	blk_uring_destroy(qctx);
}

static void request(void *qctx, struct gpc_vhost_req *req)
{
	blk_uring_request(qctx, req, req->iov, req->nr_read, req->nr_write,
			  req->priv);
}

static uint32_t bad_request(void *qctx, struct gpc_vhost_req *req, int err)
{
	(void)qctx;
	(void)req;
	(void)err;
	/*
	 * The chain could not be translated whole, and what was is a prefix:
	 * its last writable byte is not necessarily the status byte (that
	 * may be in the part that failed), so nothing is written; the
	 * library completes the request with length 0 and has logged why.
	 */
	return 0;
}

static void queue_poll(void *qctx)
{
	blk_uring_poll(qctx);
}

int blk_dev_init(struct blk_dev *b, struct blk_disk *disk,
		 unsigned int queue_size)
{
	struct gpc_vhost_device *v = &b->vdev;
	unsigned int iovs;

	if (!disk || queue_size < 2 || queue_size > 32768 ||
	    (queue_size & (queue_size - 1)) || !disk->num_queues ||
	    disk->num_queues > GPC_VHOST_MAX_QUEUES)
		return -EINVAL;
	memset(b, 0, sizeof(*b));
	b->disk = disk;
	b->queue_size = queue_size;
	/* Without indirect tables a chain is at most the queue. */
	if (disk->lim.seg_max > queue_size - 2 && queue_size > 2)
		disk->lim.seg_max = queue_size - 2;
	iovs = 2 * (disk->lim.seg_max + 2);
	if (iovs > BLK_IOV_MAX)
		iovs = BLK_IOV_MAX;

	v->name = "gpc-vhost-blk";
	v->features = blk_config_features(disk);
	v->num_queues = disk->num_queues;
	v->queue_size_max = queue_size;
	v->seg_max = iovs;
	v->req_priv_size = blk_ureq_size();
	v->config_size = sizeof(struct virtio_blk_config);
	v->get_config = get_config;
	v->set_config = set_config;
	v->queue_start = queue_start;
	v->queue_stop = queue_stop;
	v->request = request;
	v->bad_request = bad_request;
	v->queue_poll = queue_poll;
	return 0;
}

#define LD(f) atomic_load_explicit(&s->f, memory_order_relaxed)

void blk_dev_totals(const struct blk_dev *b, int queue, struct blk_totals *t)
{
	unsigned int lo = queue < 0 ? 0 : (unsigned int)queue;
	unsigned int hi = queue < 0 ? b->disk->num_queues : lo + 1;

	memset(t, 0, sizeof(*t));
	for (unsigned int i = lo; i < hi && i < GPC_VHOST_MAX_QUEUES; i++) {
		const struct blk_qstats *s = &b->qstats[i];
		uint64_t m = LD(inflight_max);

		t->requests += LD(requests);
		t->reads += LD(reads);
		t->writes += LD(writes);
		t->flushes += LD(flushes);
		t->get_ids += LD(get_ids);
		t->discards += LD(discards);
		t->write_zeroes += LD(write_zeroes);
		t->bytes_read += LD(bytes_read);
		t->bytes_written += LD(bytes_written);
		t->ioerr += LD(ioerr);
		t->unsupp += LD(unsupp);
		t->no_status += LD(no_status);
		t->retries += LD(retries);
		t->efaults += LD(efaults);
		t->inflight += LD(inflight);
		if (m > t->inflight_max)
			t->inflight_max = m;
	}
}
