// SPDX-License-Identifier: MIT
/*
 * src/vhost/ext_inflight.c - INFLIGHT_SHMFD wired into the back-end
 * through the ext.h hooks: GET_INFLIGHT_FD / SET_INFLIGHT_FD, and per
 * request the tracking calls of inflight.h in the spec's order:
 *
 *	pop (.submit)          gpc_vhost_inflight_begin()
 *	used element written   gpc_vhost_inflight_put()     (.complete)
 *	used->idx stored       gpc_vhost_inflight_commit()  (.used_written)
 *	queue start            gpc_vhost_inflight_resubmit() (.resubmit)
 *
 * The area (dev->inflight) changes only while every queue is stopped:
 * a message that would replace it under a running queue is refused, so
 * the queue threads read the pointer without a lock (the start command
 * orders the control thread's store before the worker's first read).
 * A queue the area does not describe (its index beyond the area's queue
 * count, or a size other than the area's) is not tracked: one log line
 * at its start, and its requests go on untracked.
 */
#include <errno.h>
#include <unistd.h>

#include "dev_priv.h"
#include "ext.h"
#include "inflight.h"

static bool inflight_handles(uint32_t req)
{
	return req == GPC_VHOST_GET_INFLIGHT_FD ||
	       req == GPC_VHOST_SET_INFLIGHT_FD;
}

static bool any_running(const struct gpc_vhost_dev *d)
{
	for (unsigned int i = 0; i < d->dev->num_queues; i++)
		if (atomic_load(&d->queues[i].state) != GPC_VHOST_Q_STOPPED)
			return true;
	return false;
}

/* Replace the area (NULL: none); every queue is stopped. */
static void set_area(struct gpc_vhost_dev *d, struct gpc_vhost_inflight_area *a,
		     const struct gpc_vhost_inflight *shape)
{
	gpc_vhost_inflight_destroy(d->inflight);
	d->inflight = a;
	d->inflight_nq = a ? shape->num_queues : 0;
	d->inflight_qsize = a ? shape->queue_size : 0;
}

static int inflight_handle(struct gpc_vhost_dev *d, struct gpc_vhost_msg *msg)
{
	const struct gpc_vhost_inflight *in = &msg->payload.inflight;
	struct gpc_vhost_inflight_area *a = NULL;
	struct gpc_vhost_inflight reply;
	int err, fd = -1;

	if (!gpc_vhost_proto_acked(d, GPC_VHOST_PROTOCOL_F_INFLIGHT_SHMFD))
		return gpc_vhost_fail(d, -EOPNOTSUPP,
				      "INFLIGHT_SHMFD was not negotiated");
	if (any_running(d))
		return gpc_vhost_fail(d, -EBUSY,
				      "the inflight area changes only while "
				      "every queue is stopped");
	if (msg->hdr.request == GPC_VHOST_SET_INFLIGHT_FD) {
		/* The fd stays the message's: the dispatcher closes it. */
		err = gpc_vhost_inflight_map(msg->fds[0], in, &a);
		if (err)
			return gpc_vhost_fail(d, err,
					      "an inflight area that is not "
					      "one we could have written");
		set_area(d, a, in);
		return 0;
	}
	err = gpc_vhost_inflight_create(in->num_queues, in->queue_size, &a, &fd,
					&reply);
	if (err)
		return gpc_vhost_fail(d, err,
				      "no inflight area for those counts");
	set_area(d, a, in);
	err = gpc_vhost_msg_reply(d->sock, msg, &reply, sizeof(reply), &fd, 1,
				  GPC_VHOST_SEND_TIMEOUT_MS);
	close(fd);
	return err;
}

static void inflight_reset(struct gpc_vhost_dev *d)
{
	set_area(d, NULL, NULL);
}

static bool tracked(const struct gpc_vhost_queue *q)
{
	const struct gpc_vhost_dev *d = q->dev;

	return d->inflight && q->index < d->inflight_nq &&
	       q->num == d->inflight_qsize;
}

static void inflight_submit(struct gpc_vhost_queue *q, uint16_t head,
			    bool resubmitted)
{
	int err;

	if (!tracked(q) || resubmitted)
		return;
	err = gpc_vhost_inflight_begin(q->dev->inflight, q->index, head);
	/*
	 * -EBUSY: the driver made a head available twice; the first copy's
	 * entry stays, the ring is the driver's to repair (it is broken).
	 */
	if (err)
		gpc_vhost_log(q->dev, GPC_VHOST_LOG_WARN,
			      "queue %u: head %u not tracked (%d)", q->index,
			      head, err);
}

static void inflight_complete(struct gpc_vhost_queue *q,
			      const struct gpc_vhost_req *req)
{
	if (tracked(q))
		gpc_vhost_inflight_put(q->dev->inflight, q->index, req->head);
}

static void inflight_used_written(struct gpc_vhost_queue *q, uint64_t off,
				  uint64_t len)
{
	(void)len;
	/* Only the used index's store commits a batch. */
	if (off == GPC_VHOST_USED_IDX_OFF && tracked(q))
		gpc_vhost_inflight_commit(q->dev->inflight, q->index,
					  q->used_idx);
}

static int inflight_resubmit(struct gpc_vhost_queue *q, uint16_t used_idx,
			     uint16_t *heads)
{
	struct gpc_vhost_dev *d = q->dev;
	unsigned int n = 0, k = 0;
	int err;

	if (!d->inflight)
		return -ENODATA;
	if (!tracked(q)) {
		gpc_vhost_log(d, GPC_VHOST_LOG_WARN,
			      "queue %u (size %u) is not in the inflight area "
			      "(%u queues of %u): not tracked",
			      q->index, q->num, d->inflight_nq,
			      d->inflight_qsize);
		return -ENODATA;
	}
	err = gpc_vhost_inflight_resubmit(d->inflight, q->index, used_idx,
					  heads, q->num, &n);
	if (err) {
		gpc_vhost_log(d, GPC_VHOST_LOG_ERR,
			      "queue %u: inflight area unusable (%d): nothing "
			      "resubmitted",
			      q->index, err);
		return -ENODATA;
	}
	/* resubmit checked each head against the area's size, = q->num. */
	for (unsigned int i = 0; i < n; i++)
		if (heads[i] < q->num)
			heads[k++] = heads[i];
	if (k)
		gpc_vhost_log(d, GPC_VHOST_LOG_INFO,
			      "queue %u: %u requests resubmitted", q->index, k);
	return (int)k;
}

GPC_VHOST_HIDDEN extern const struct gpc_vhost_ext gpc_vhost_ext_inflight;
const struct gpc_vhost_ext gpc_vhost_ext_inflight = {
	.name = "inflight",
	.protocol_features = 1ull << GPC_VHOST_PROTOCOL_F_INFLIGHT_SHMFD,
	.handles = inflight_handles,
	.handle = inflight_handle,
	.reset = inflight_reset,
	.submit = inflight_submit,
	.resubmit = inflight_resubmit,
	.complete = inflight_complete,
	.used_written = inflight_used_written,
};
