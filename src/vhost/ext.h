/* SPDX-License-Identifier: MIT */
/*
 * src/vhost/ext.h - the hooks through which the optional modules (the
 * IOTLB, the dirty log, inflight tracking: src/vhost/iotlb.c, log.c,
 * inflight.c) plug into the back-end without the core knowing them.
 *
 * A module is one const struct gpc_vhost_ext listed in gpc_vhost_exts[]
 * (ext.c): wiring a module in is one line there. What a module gets:
 *  - its virtio and protocol feature bits are offered (and so the
 *    messages they gate pass the dispatcher's state checks);
 *  - every request for which .handles() is true is passed to .handle()
 *    on the control thread, after the core's generic checks (owner set,
 *    a validated message); the module sends the reply body itself when
 *    the request has one, and returns like a core handler (0, or a
 *    negative errno which becomes the REPLY_ACK status, or a disconnect
 *    when no ack was asked);
 *  - .reset() at disconnect and RESET_OWNER, after the queues stopped;
 *  - .submit() / .complete() on the queue thread for every request, in
 *    its read section (submit: after the walk, before the device sees
 *    it; complete: after the used element is written, before the used
 *    index is published), e.g. for the inflight shared-memory region;
 *    .submit()'s resubmitted is true for a head .resubmit() gave back
 *    (already tracked: not a new pop);
 *  - .resubmit() on the queue thread at every queue start, inside a read
 *    section, with the used index the ring has: a module that knows
 *    requests a previous back-end took and never completed (inflight
 *    tracking after a reconnect) puts their heads in heads[0..n) (room
 *    for the queue size) in the order they were taken and returns n; the
 *    datapath then submits them before anything new and goes on popping
 *    from used_idx + n (the spec's recovery). -ENODATA: the module has
 *    nothing to say for this queue (the front-end's base stands);
 *  - .used_written() on the queue thread after the back-end wrote
 *    [off, off + len) of a used ring (offsets from the ring's start):
 *    the used element (before the index is published), then the used
 *    index (off 2, after its store: what inflight's commit waits for),
 *    and avail_event (EVENT_IDX). The dirty log logs them at the ring's
 *    log_guest_addr when VHOST_VRING_F_LOG is set; buffers are logged by
 *    .complete() (it gets the request: its writable iovecs);
 *  - .features_changed() on the control thread after SET_FEATURES stored
 *    new features (old and new values): LOG_ALL starting or stopping
 *    libgpc's logging; an errno is the request's status (the features
 *    stay stored: the front-end that sees the error resets the device);
 *  - .queue_stopped() on the control thread after a queue was stopped
 *    (GET_VRING_BASE, disable, a new kick), before any reply: the last
 *    harvest of the dirty log;
 *  - .slot_flags(): memslot flags every region added from now on gets
 *    (GPC_MEMSLOT_LOG_DIRTY while logging); control thread.
 *  - .region_removing() on the control thread for each region whose
 *    delete from the memory vm was committed, before the in-flight wait
 *    and the munmap (the IOTLB drops its entries into it); a negative
 *    errno means something may still translate into the region, which
 *    then stays mapped (leaked) rather than unmapped under it;
 *  - .dma_miss() on the queue thread, inside the batch's read section,
 *    when a translation in dma_vm failed for lack of a mapping: the rings
 *    (head < 0) or the chain of head (a walk's TABLE/INDIRECT/BUF_OUTSIDE).
 *    true: the module asked for the mapping (an IOTLB miss); the datapath
 *    then parks the queue (the head is not consumed) and retries when
 *    dma_vm's memslot generation moves. false: not the module's; the
 *    request is a bad one as without it.
 * The IOTLB module also sets struct gpc_vhost_dev.dma_vm (its vm of
 * IOVAs) when VIRTIO_F_ACCESS_PLATFORM is acked: the datapath translates
 * ring and buffer addresses in dma_vm.
 */
#ifndef GPC_VHOST_EXT_H
#define GPC_VHOST_EXT_H

#include <stdbool.h>
#include <stdint.h>

#include "dev_priv.h"

struct gpc_vhost_ext {
	const char *name;
	uint64_t features;	    /* virtio bits (1ull << bit) */
	uint64_t protocol_features; /* protocol bits (1ull << bit) */
	bool (*handles)(uint32_t request);
	int (*handle)(struct gpc_vhost_dev *d, struct gpc_vhost_msg *msg);
	void (*reset)(struct gpc_vhost_dev *d);
	void (*submit)(struct gpc_vhost_queue *q, uint16_t head,
		       bool resubmitted);
	int (*resubmit)(struct gpc_vhost_queue *q, uint16_t used_idx,
			uint16_t *heads);
	void (*complete)(struct gpc_vhost_queue *q,
			 const struct gpc_vhost_req *req);
	void (*used_written)(struct gpc_vhost_queue *q, uint64_t off,
			     uint64_t len);
	int (*features_changed)(struct gpc_vhost_dev *d, uint64_t old_f,
				uint64_t new_f);
	void (*queue_stopped)(struct gpc_vhost_queue *q);
	uint32_t (*slot_flags)(struct gpc_vhost_dev *d);
	int (*region_removing)(struct gpc_vhost_dev *d,
			       const struct gpc_vhost_mreg *r);
	bool (*dma_miss)(struct gpc_vhost_queue *q, int head);
};

/* Offsets into a used ring (struct vring_used) for .used_written(). */
#define GPC_VHOST_USED_IDX_OFF	   2u
#define GPC_VHOST_USED_ELEM_OFF(i) (4ull + 8ull * (i))

/* NULL-terminated. */
GPC_VHOST_HIDDEN extern const struct gpc_vhost_ext *const gpc_vhost_exts[];

#endif /* GPC_VHOST_EXT_H */
