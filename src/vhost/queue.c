// SPDX-License-Identifier: MIT
/*
 * src/vhost/queue.c - the vring messages (SET_VRING_NUM/ADDR/BASE/KICK/
 * CALL/ERR/ENABLE, GET_VRING_BASE) and a queue's start and stop.
 *
 * A queue is configured while stopped, on the control thread; it starts
 * when it has a size, ring addresses and a kick (the spec: "started" on
 * SET_VRING_KICK) and is enabled (SET_VRING_ENABLE when PROTOCOL_FEATURES
 * was acked; enabled from the start otherwise), and after SET_FEATURES.
 * At start the ring addresses, front-end user addresses, are resolved to
 * guest-physical ones through the memory table (gpc_translate_uaddr_gpa),
 * and each ring must lie whole in one region: otherwise the queue is
 * refused (the message's error status, one log line) and stays stopped.
 * Starting hands the queue to its worker thread (datapath.c), which runs
 * the device's .queue_start; stopping (GET_VRING_BASE, disable, a new
 * kick, disconnect) takes it back after the device's .queue_stop.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gpc/srcu.h"
#include "gpc/translate.h"
#include "gpc/vm.h"

#include "dev_priv.h"
#include "ext.h"

void gpc_vhost_queue_init(struct gpc_vhost_dev *d, struct gpc_vhost_queue *q,
			  unsigned int index)
{
	memset(q, 0, sizeof(*q));
	q->dev = d;
	q->index = index;
	q->kick_fd = q->call_fd = q->err_fd = q->poll_fd = -1;
	atomic_init(&q->state, GPC_VHOST_Q_STOPPED);
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

void gpc_vhost_queue_reset(struct gpc_vhost_queue *q)
{
	struct gpc_vhost_dev *d = q->dev;
	unsigned int index = q->index;

	close_fd(&q->kick_fd);
	close_fd(&q->call_fd);
	close_fd(&q->err_fd);
	free(q->slots);
	free(q->iovs);
	free(q->privs);
	free(q->resub);
	gpc_vhost_queue_init(d, q, index);
}

/* Resolve one ring: [uaddr, + len) in one region; its GPA. */
static int resolve(struct gpc_vhost_dev *d, uint64_t uaddr, uint64_t len,
		   uint64_t align, uint64_t *gpa)
{
	uint64_t got = len;
	void *p;
	int err;

	if (uaddr & (align - 1))
		return -EINVAL;
	err = gpc_translate_uaddr(d->dma_vm, uaddr, &got, 0, &p);
	if (err)
		return err;
	if (got != len)
		return -EFAULT; /* runs past its region */
	return gpc_translate_uaddr_gpa(d->dma_vm, uaddr, gpa, NULL);
}

static int resolve_rings(struct gpc_vhost_queue *q)
{
	struct gpc_vhost_dev *d = q->dev;
	struct gpc_srcu *s = gpc_vm_srcu(d->dma_vm);
	uint64_t n = q->num;
	int err;

	if (d->dma_vm != d->vm) {
		/*
		 * With an IOTLB (ACCESS_PLATFORM) the addresses are IOVAs,
		 * translated by the datapath in every batch; what the IOTLB
		 * does not map yet is asked for with a miss then (QEMU maps
		 * only the used ring ahead).
		 */
		if (q->addr.desc_user_addr & 15 ||
		    q->addr.avail_user_addr & 1 || q->addr.used_user_addr & 3)
			return -EINVAL;
		q->desc_gpa = q->addr.desc_user_addr;
		q->avail_gpa = q->addr.avail_user_addr;
		q->used_gpa = q->addr.used_user_addr;
		return 0;
	}
	gpc_srcu_read_lock(s);
	err = resolve(d, q->addr.desc_user_addr, 16 * n, 16, &q->desc_gpa);
	if (!err)
		err = resolve(d, q->addr.avail_user_addr, 6 + 2 * n, 2,
			      &q->avail_gpa);
	if (!err)
		err = resolve(d, q->addr.used_user_addr, 6 + 8 * n, 4,
			      &q->used_gpa);
	gpc_srcu_read_unlock(s);
	return err;
}

/*
 * SET_VRING_ADDR's early check: after SET_FEATURES, without an IOTLB (the
 * addresses are then IOVAs, which may be mapped only later) and once a
 * memory table exists,
 * each ring must start in a region, aligned, and, when the size is known
 * already (QEMU sends NUM, BASE, then ADDR; other front-ends may send ADDR
 * first), lie whole in one region. The front-end hears of a bad ring at
 * the message that set it rather than at the kick; try_start() checks
 * again, since the table may change in between.
 */
static int check_addr(struct gpc_vhost_queue *q,
		      const struct vhost_vring_addr *a)
{
	struct gpc_vhost_dev *d = q->dev;
	struct gpc_srcu *s = gpc_vm_srcu(d->vm);
	uint64_t n = q->num, gpa;
	int err;

	/* Before SET_FEATURES an ACCESS_PLATFORM may still make them IOVAs. */
	if (!d->features_set || d->dma_vm != d->vm || !d->nregions)
		return 0;
	gpc_srcu_read_lock(s);
	err = resolve(d, a->desc_user_addr, n ? 16 * n : 1, 16, &gpa);
	if (!err)
		err = resolve(d, a->avail_user_addr, n ? 6 + 2 * n : 1, 2,
			      &gpa);
	if (!err)
		err = resolve(d, a->used_user_addr, n ? 6 + 8 * n : 1, 4, &gpa);
	gpc_srcu_read_unlock(s);
	return err;
}

static bool ready(const struct gpc_vhost_queue *q)
{
	const struct gpc_vhost_dev *d = q->dev;
	bool enabled =
		q->enabled ||
		!gpc_vhost_feature_acked(d, GPC_VHOST_F_PROTOCOL_FEATURES);

	return d->features_set && q->num && q->addr_set && q->kick_set &&
	       enabled;
}

/* Start @q if it has all it needs; 0 if started or not ready yet. */
static int try_start(struct gpc_vhost_queue *q)
{
	struct gpc_vhost_dev *d = q->dev;
	size_t priv = (d->dev->req_priv_size + 15) & ~(size_t)15;
	int err;

	if (atomic_load(&q->state) != GPC_VHOST_Q_STOPPED || !ready(q))
		return 0;
	err = resolve_rings(q);
	if (err)
		return gpc_vhost_fail(d, err,
				      "a ring is not in the memory table, "
				      "misaligned, or across regions: queue "
				      "not started");
	q->event_idx = gpc_vhost_feature_acked(d, VIRTIO_RING_F_EVENT_IDX);
	q->indirect = gpc_vhost_feature_acked(d, VIRTIO_RING_F_INDIRECT_DESC);
	free(q->slots);
	free(q->iovs);
	free(q->privs);
	free(q->resub);
	q->slots = calloc(q->num, sizeof(*q->slots));
	q->resub = calloc(q->num, sizeof(*q->resub));
	/* calloc: pages of iovecs no request reaches are never touched. */
	q->iovs = calloc((size_t)q->num * d->seg_max, sizeof(*q->iovs));
	q->privs = priv ? calloc(q->num, priv) : NULL;
	if (!q->slots || !q->iovs || !q->resub || (priv && !q->privs))
		return -ENOMEM;
	for (unsigned int i = 0; i < q->num; i++) {
		struct gpc_vhost_req_slot *s = &q->slots[i];

		s->req.queue = q;
		s->req.queue_index = q->index;
		s->req.iov = &q->iovs[(size_t)i * d->seg_max];
		s->req.priv = priv ? q->privs + i * priv : NULL;
		s->next_free = (uint16_t)(i + 1);
	}
	q->free_head = 0;
	q->nr_in_flight = 0;
	q->last_avail = q->base;
	return gpc_vhost_worker_cmd(q, GPC_VHOST_WCMD_START, -1);
}

void gpc_vhost_queue_stop(struct gpc_vhost_queue *q)
{
	if (atomic_load(&q->state) == GPC_VHOST_Q_STOPPED)
		return;
	gpc_vhost_worker_cmd(q, GPC_VHOST_WCMD_STOP, -1);
	q->base = q->last_avail;
	/* e.g. the dirty log's last harvest before GET_VRING_BASE's reply. */
	for (unsigned int i = 0; gpc_vhost_exts[i]; i++)
		if (gpc_vhost_exts[i]->queue_stopped)
			gpc_vhost_exts[i]->queue_stopped(q);
}

void gpc_vhost_queues_stop_all(struct gpc_vhost_dev *d)
{
	for (unsigned int i = 0; i < d->dev->num_queues; i++)
		gpc_vhost_queue_stop(&d->queues[i]);
}

static bool running(const struct gpc_vhost_queue *q)
{
	return atomic_load(&q->state) != GPC_VHOST_Q_STOPPED;
}

static int set_fd(struct gpc_vhost_queue *q, struct gpc_vhost_msg *msg,
		  int *slot)
{
	int fd = -1;

	if (!(msg->payload.u64 & GPC_VHOST_VRING_NOFD))
		fd = gpc_vhost_msg_take_fd(msg, 0);
	close_fd(slot);
	*slot = fd;
	(void)q;
	return 0;
}

int gpc_vhost_queue_msg(struct gpc_vhost_dev *d, struct gpc_vhost_msg *msg)
{
	uint32_t req = msg->hdr.request;
	unsigned int idx;
	struct gpc_vhost_queue *q;
	int fd, err;

	if (req == GPC_VHOST_SET_VRING_KICK ||
	    req == GPC_VHOST_SET_VRING_CALL || req == GPC_VHOST_SET_VRING_ERR)
		idx = (unsigned int)(msg->payload.u64 &
				     GPC_VHOST_VRING_IDX_MASK);
	else if (req == GPC_VHOST_SET_VRING_ADDR)
		idx = msg->payload.addr.index;
	else
		idx = msg->payload.state.index;
	if (idx >= d->dev->num_queues)
		return gpc_vhost_fail(d, -ERANGE, "queue index out of range");
	q = &d->queues[idx];

	switch (req) {
	case GPC_VHOST_SET_VRING_NUM: {
		unsigned int n = msg->payload.state.num;

		if (running(q))
			return gpc_vhost_fail(d, -EBUSY, "queue is running");
		if (!n || n & (n - 1) || n > d->queue_size_max)
			return gpc_vhost_fail(d, -EINVAL,
					      "size not a power of two within "
					      "the maximum");
		q->num = n;
		return 0;
	}
	case GPC_VHOST_SET_VRING_ADDR:
		if (running(q))
			return gpc_vhost_fail(d, -EBUSY, "queue is running");
		err = check_addr(q, &msg->payload.addr);
		if (err)
			return gpc_vhost_fail(d, err,
					      "a ring is not in the memory "
					      "table, misaligned, or across "
					      "regions");
		q->addr = msg->payload.addr;
		q->addr_set = true;
		return 0;
	case GPC_VHOST_SET_VRING_BASE:
		if (running(q))
			return gpc_vhost_fail(d, -EBUSY, "queue is running");
		if (msg->payload.state.num > 0xffff)
			return gpc_vhost_fail(d, -ERANGE, "base above 16 bits");
		q->base = (uint16_t)msg->payload.state.num;
		return 0;
	case GPC_VHOST_GET_VRING_BASE: {
		struct vhost_vring_state st = { .index = idx };

		/* The spec: this stops the ring; a new kick starts it. */
		gpc_vhost_queue_stop(q);
		q->kick_set = false;
		close_fd(&q->kick_fd);
		st.num = q->base;
		return gpc_vhost_msg_reply(d->sock, msg, &st, sizeof(st), NULL,
					   0, GPC_VHOST_SEND_TIMEOUT_MS);
	}
	case GPC_VHOST_SET_VRING_KICK:
		/* A new kick on a running queue: restart it with the fd. */
		gpc_vhost_queue_stop(q);
		set_fd(q, msg, &q->kick_fd);
		q->kick_set = true;
		return try_start(q);
	case GPC_VHOST_SET_VRING_CALL:
		if (!running(q))
			return set_fd(q, msg, &q->call_fd);
		fd = -1;
		if (!(msg->payload.u64 & GPC_VHOST_VRING_NOFD))
			fd = gpc_vhost_msg_take_fd(msg, 0);
		/* The worker swaps it in and hands the old one back. */
		fd = gpc_vhost_worker_cmd(q, GPC_VHOST_WCMD_SET_CALL, fd);
		if (fd >= 0)
			close(fd);
		return 0;
	case GPC_VHOST_SET_VRING_ERR:
		/* Kept for the connection; the datapath reports nothing on it. */
		return set_fd(q, msg, &q->err_fd);
	case GPC_VHOST_SET_VRING_ENABLE:
		if (msg->payload.state.num) {
			q->enabled = true;
			return try_start(q);
		}
		gpc_vhost_queue_stop(q);
		q->enabled = false;
		return 0;
	default:
		return -EOPNOTSUPP;
	}
}
