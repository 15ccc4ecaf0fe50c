// SPDX-License-Identifier: MIT
/*
 * src/vhost/ext_iotlb.c - VIRTIO_F_ACCESS_PLATFORM wired into the
 * back-end through the ext.h hooks, on the IOTLB module (iotlb.h).
 *
 * The spec has no protocol bit of its own for the IOTLB: with
 * ACCESS_PLATFORM the front-end needs BACKEND_REQ (misses go on the
 * back-end channel) and REPLY_ACK (it waits for each IOTLB_MSG's ack),
 * which the core offers; IOTLB_MSG is refused unless ACCESS_PLATFORM
 * was acked and those two are negotiated.
 *
 *  - SET_FEATURES acking ACCESS_PLATFORM (every queue stopped: the core
 *    refuses the change otherwise): the IOTLB is created on the memory
 *    vm's domain and becomes dev->dma_vm, so rings (SET_VRING_ADDR gives
 *    IOVAs then) and descriptor chains are translated by IOVA;
 *  - IOTLB_MSG update: gpc_vhost_iotlb_update() (the uaddr through the
 *    memory vm); invalidate: gpc_vhost_iotlb_invalidate(), then the
 *    in-flight wait (a request the device still holds with pointers
 *    found through the IOVAs completes), then the ack;
 *  - a translation that misses (.dma_miss): the first unmapped page of
 *    the rings or of the chain is found and a VHOST_IOTLB_MISS goes on
 *    the back-end channel; the datapath parks the queue until the IOTLB
 *    vm's generation moves (an update), other queues go on;
 *  - a region leaving the memory table (.region_removing): its entries
 *    dropped before the in-flight wait and the munmap;
 *  - GPC_VHOST_F_CHECK_STALE (with the fault guard): every entry maps an
 *    alias of its region pages (fault.h), retired after the in-flight wait
 *    that follows the change removing the entry, so a late access through
 *    an old translation is counted instead of reading the live region.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "gpc/translate.h"
#include "gpc/vm.h"

#include "dev_priv.h"
#include "ext.h"
#include "fault.h"
#include "iotlb.h"

/* How long a queue thread may wait to queue a miss on the channel, ms. */
#define MISS_SEND_TIMEOUT_MS 100

#define PAGE 4096ull

static void log_line(void *ctx, int level, const char *m)
{
	gpc_vhost_log(ctx, level, "%s", m);
}

static bool iotlb_handles(uint32_t req)
{
	return req == GPC_VHOST_IOTLB_MSG;
}

/*
 * After an update: wake the running queues, so that one parked on a miss
 * retries now rather than at its next RING_RETRY_MS poll. Under QEMU
 * every IOTLB miss is followed by an update and, with iommu.strict=1,
 * almost every request misses (four times: indirect table, header, data,
 * status): waiting out the poll tick, up to 5 ms per miss, held a Linux
 * guest to 32 requests/s (QEMU 7.2, TCG). The kick fd is the message
 * thread's to change (SET_VRING_KICK), so using it here does not race;
 * a spurious kick only makes the worker look at its rings once more.
 */
static void wake_queues(struct gpc_vhost_dev *d)
{
	uint64_t one = 1;

	for (unsigned int i = 0; i < d->dev->num_queues; i++) {
		struct gpc_vhost_queue *q = &d->queues[i];

		if (q->kick_fd < 0 ||
		    atomic_load(&q->state) != GPC_VHOST_Q_RUNNING)
			continue;
		if (write(q->kick_fd, &one, sizeof(one)) < 0) {
			/* a full counter is a pending kick already */
		}
	}
}

/* ---- CHECK_STALE aliases (iotlb.h's alias ops over fault.h) ---------- */

static int alias_map(void *ctx, uint64_t hva, uint64_t size, uint64_t iova,
		     uint64_t *alias, int *cookie)
{
	struct gpc_vhost_dev *d = ctx;

	/* The region holding it, for its fd (the page granule). */
	for (unsigned int i = 0; i < d->nregions; i++) {
		const struct gpc_vhost_mreg *r = &d->regions[i];
		uint64_t lo = (uint64_t)(uintptr_t)r->hva;
		void *p;
		int err;

		if (hva < lo || hva - lo >= r->size || size > r->size ||
		    hva - lo > r->size - size)
			continue;
		err = gpc_vhost_fault_alias_map(d, (void *)(uintptr_t)hva,
						(size_t)size, r->fd, iova, &p,
						cookie);
		if (!err)
			*alias = (uint64_t)(uintptr_t)p;
		return err;
	}
	return -EFAULT;
}

static void alias_retire(void *ctx, uint64_t alias, uint64_t size, int cookie)
{
	(void)ctx;
	gpc_vhost_fault_alias_retire((void *)(uintptr_t)alias, (size_t)size,
				     cookie);
}

static void alias_unmap(void *ctx, uint64_t alias, uint64_t size, int cookie)
{
	(void)ctx;
	gpc_vhost_fault_alias_unmap((void *)(uintptr_t)alias, (size_t)size,
				    cookie);
}

static const struct gpc_vhost_iotlb_alias_ops alias_ops = {
	.map = alias_map,
	.retire = alias_retire,
	.unmap = alias_unmap,
};

/*
 * Entries went (replaced, invalidated, their region dropped): once no
 * request still holds a pointer found through them (the in-flight wait),
 * their aliases go PROT_NONE. Without aliases nothing waits here.
 */
static void retire_gone(struct gpc_vhost_dev *d, bool waited)
{
	if (!gpc_vhost_iotlb_retire_pending(d->iotlb))
		return;
	if (!waited)
		gpc_vhost_epoch_wait(d);
	gpc_vhost_iotlb_retire(d->iotlb);
}

static int iotlb_apply(struct gpc_vhost_dev *d, const struct vhost_iotlb_msg *m)
{
	int err;

	if (!d->iotlb || !gpc_vhost_feature_acked(d, VIRTIO_F_ACCESS_PLATFORM))
		return gpc_vhost_fail(d, -EOPNOTSUPP,
				      "ACCESS_PLATFORM was not acked");
	if (!gpc_vhost_proto_acked(d, GPC_VHOST_PROTOCOL_F_BACKEND_REQ) ||
	    !gpc_vhost_proto_acked(d, GPC_VHOST_PROTOCOL_F_REPLY_ACK))
		return gpc_vhost_fail(d, -EOPNOTSUPP,
				      "the IOTLB needs BACKEND_REQ and "
				      "REPLY_ACK");
	switch (m->type) {
	case VHOST_IOTLB_UPDATE:
		err = gpc_vhost_iotlb_update(d->iotlb, d->vm, m->iova, m->size,
					     m->uaddr, m->perm);
		if (err)
			return gpc_vhost_fail(d, err, "IOTLB update refused");
		gpc_vhost_inc(d, iotlb_updates);
		wake_queues(d);
		retire_gone(d, false); /* entries the update replaced */
		return 0;
	case VHOST_IOTLB_INVALIDATE:
		err = gpc_vhost_iotlb_invalidate(d->iotlb, m->iova, m->size);
		if (err)
			return gpc_vhost_fail(d, err,
					      "IOTLB invalidate failed");
		/* I/O the device holds through those IOVAs, before the ack. */
		gpc_vhost_epoch_wait(d);
		retire_gone(d, true);
		gpc_vhost_inc(d, iotlb_invalidations);
		return 0;
	default:
		return gpc_vhost_fail(d, -EINVAL, "IOTLB message type");
	}
}

/*
 * IOTLB_MSG always has a u64 reply (the spec: zero for success, non-zero
 * otherwise), so a refusal is a reply with the positive errno, not a
 * disconnect: the front-end knows the entry was not taken.
 */
static int iotlb_handle(struct gpc_vhost_dev *d, struct gpc_vhost_msg *msg)
{
	int err = iotlb_apply(d, &msg->payload.iotlb);

	if (err) {
		gpc_vhost_inc(d, refused_messages);
		gpc_vhost_log(d, GPC_VHOST_LOG_ERR,
			      "IOTLB_MSG refused: %s (%s)",
			      d->why ? d->why : "failed", strerror(-err));
		d->why = NULL;
	}
	return gpc_vhost_msg_reply_u64(d->sock, msg, (uint64_t)-err,
				       GPC_VHOST_SEND_TIMEOUT_MS);
}

static void drop_iotlb(struct gpc_vhost_dev *d)
{
	if (!d->iotlb)
		return;
	d->dma_vm = d->vm;
	if (gpc_vhost_iotlb_destroy(d->iotlb))
		gpc_vhost_log(d, GPC_VHOST_LOG_ERR, "IOTLB not freed: leaked");
	d->iotlb = NULL;
}

static int iotlb_features_changed(struct gpc_vhost_dev *d, uint64_t old_f,
				  uint64_t new_f)
{
	uint64_t bit = 1ull << VIRTIO_F_ACCESS_PLATFORM;
	int err;

	if (!((old_f ^ new_f) & bit))
		return 0;
	if (!(new_f & bit)) {
		drop_iotlb(d);
		return 0;
	}
	err = gpc_vhost_iotlb_create(gpc_vm_srcu(d->vm), gpc_vm_scheme(d->vm),
				     0, log_line, d, &d->iotlb);
	if (err)
		return gpc_vhost_fail(d, err, "no IOTLB");
	/* Late accesses are counted by the fault guard: none, no aliases. */
	if ((d->cfg.flags & GPC_VHOST_F_CHECK_STALE) &&
	    !(d->cfg.flags & GPC_VHOST_F_NO_FAULT_GUARD))
		gpc_vhost_iotlb_set_aliases(d->iotlb, &alias_ops, d);
	d->dma_vm = gpc_vhost_iotlb_vm(d->iotlb);
	return 0;
}

static void iotlb_reset(struct gpc_vhost_dev *d)
{
	drop_iotlb(d);
}

static int iotlb_region_removing(struct gpc_vhost_dev *d,
				 const struct gpc_vhost_mreg *r)
{
	int err;

	if (!d->iotlb)
		return 0;
	err = gpc_vhost_iotlb_drop_region(d->iotlb, (uint64_t)(uintptr_t)r->hva,
					  r->size);
	if (err) {
		gpc_vhost_log(d, GPC_VHOST_LOG_ERR,
			      "IOTLB entries into a removed region not dropped "
			      "(%d): the region stays mapped",
			      err);
		return err;
	}
	/*
	 * Their aliases map the region's pages on their own: retired here,
	 * after an in-flight wait of their own (the removal's comes after
	 * this hook; the second one then finds little in flight).
	 */
	retire_gone(d, false);
	return 0;
}

/*
 * The first page of [iova, + len) the IOTLB does not map for the access
 * @flags asks (GPC_TRANSLATE_WRITE: a read-only entry is a miss too, so
 * that the front-end is asked for write access); false: none.
 */
static bool first_missing(struct gpc_vm *vm, uint64_t iova, uint64_t len,
			  unsigned int flags, uint64_t *miss)
{
	uint64_t off = 0;

	while (off < len) {
		uint64_t l = len - off;
		void *p;

		if (gpc_translate_gpa(vm, iova + off, &l, flags, &p) || !l) {
			*miss = (iova + off) & ~(PAGE - 1);
			return true;
		}
		off += l;
	}
	return false;
}

/* One descriptor, copied (the guest rewrites tables concurrently). */
static bool read_desc(struct gpc_vm *vm, uint64_t table, uint64_t i,
		      struct vring_desc *out)
{
	uint64_t l = sizeof(*out);
	void *p;

	if (gpc_translate_gpa(vm, table + 16 * i, &l, 0, &p) ||
	    l != sizeof(*out))
		return false;
	memcpy(out, p, sizeof(*out));
	return true;
}

/*
 * Where the walk of @head missed: the first unmapped page of the table,
 * an indirect table or a buffer along the chain (bounded: at most num
 * descriptors per table), with the access the device needs.
 */
static bool find_chain_miss(struct gpc_vhost_queue *q, uint16_t head,
			    uint64_t *iova, uint8_t *perm)
{
	struct gpc_vm *vm = q->dev->dma_vm;
	uint64_t table = q->desc_gpa, n = q->num, i = head;
	struct vring_desc d;
	bool indirect = false;

	*perm = VHOST_ACCESS_RO;
	if (first_missing(vm, table, 16 * n, 0, iova))
		return true;
	for (uint64_t steps = 0; steps < 2 * n + 2 && i < n; steps++) {
		if (!read_desc(vm, table, i, &d))
			return false;
		if (!indirect && d.flags & VRING_DESC_F_INDIRECT) {
			if (first_missing(vm, d.addr, d.len, 0, iova))
				return true;
			table = d.addr;
			n = d.len / 16;
			indirect = true;
			i = 0;
			continue;
		}
		if (first_missing(vm, d.addr, d.len, 0, iova)) {
			*perm = d.flags & VRING_DESC_F_WRITE ? VHOST_ACCESS_WO :
							       VHOST_ACCESS_RO;
			return true;
		}
		if (!(d.flags & VRING_DESC_F_NEXT))
			return false;
		i = d.next;
	}
	return false;
}

static bool find_ring_miss(struct gpc_vhost_queue *q, uint64_t *iova,
			   uint8_t *perm)
{
	struct gpc_vm *vm = q->dev->dma_vm;

	*perm = VHOST_ACCESS_RO;
	if (first_missing(vm, q->avail_gpa, 6 + 2ull * q->num, 0, iova))
		return true;
	/*
	 * The datapath maps the used ring for writing: a read-only entry
	 * there is asked for again (RW) instead of leaving the queue parked
	 * with nothing asked.
	 */
	*perm = VHOST_ACCESS_RW;
	return first_missing(vm, q->used_gpa, 6 + 8ull * q->num,
			     GPC_TRANSLATE_WRITE, iova);
}

static bool iotlb_dma_miss(struct gpc_vhost_queue *q, int head)
{
	struct gpc_vhost_dev *d = q->dev;
	struct vhost_iotlb_msg m;
	uint64_t iova;
	uint8_t perm;
	int err;

	if (!d->iotlb)
		return false;
	if (head < 0 ? !find_ring_miss(q, &iova, &perm) :
		       !find_chain_miss(q, (uint16_t)head, &iova, &perm))
		return true; /* mapped meanwhile: the retry will see it */
	if (gpc_vhost_iotlb_miss(d->iotlb, iova, perm, &m))
		return true; /* outstanding already */
	pthread_mutex_lock(&d->backend_lock);
	err = d->backend_fd < 0 ?
		      -ENOTCONN :
		      gpc_vhost_msg_backend_send(d->backend_fd,
						 GPC_VHOST_BACKEND_IOTLB_MSG,
						 false, &m, sizeof(m), NULL, 0,
						 MISS_SEND_TIMEOUT_MS);
	pthread_mutex_unlock(&d->backend_lock);
	if (err) {
		gpc_vhost_iotlb_miss_cancel(d->iotlb, iova);
		gpc_vhost_log(d, GPC_VHOST_LOG_WARN,
			      "queue %u: IOTLB miss at 0x%llx not sent (%d)",
			      q->index, (unsigned long long)iova, err);
	} else {
		gpc_vhost_inc(d, iotlb_misses);
	}
	return true;
}

GPC_VHOST_HIDDEN extern const struct gpc_vhost_ext gpc_vhost_ext_iotlb;
const struct gpc_vhost_ext gpc_vhost_ext_iotlb = {
	.name = "iotlb",
	.features = 1ull << VIRTIO_F_ACCESS_PLATFORM,
	.handles = iotlb_handles,
	.handle = iotlb_handle,
	.reset = iotlb_reset,
	.features_changed = iotlb_features_changed,
	.region_removing = iotlb_region_removing,
	.dma_miss = iotlb_dma_miss,
};
