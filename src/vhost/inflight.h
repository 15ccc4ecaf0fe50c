/* SPDX-License-Identifier: MIT */
/*
 * src/vhost/inflight.h - inflight I/O tracking (INFLIGHT_SHMFD) for split
 * virtqueues, private to libgpc-vhost.
 *
 * A back-end that completes requests out of order cannot find, after a
 * crash and a reconnect, which available-ring entries it had taken and not
 * completed: the avail ring has moved on. The spec ("Inflight I/O
 * tracking" in QEMU's docs/interop/vhost-user.rst) has the back-end keep a
 * shared-memory area that survives it: GET_INFLIGHT_FD hands the front-end
 * an fd of that area (the front-end keeps it and says nothing about its
 * contents), SET_INFLIGHT_FD gives it back to the restarted back-end.
 *
 * The area: one region per queue, each a 16-byte header (features,
 * version, desc_num, last_batch_head, used_idx) and desc_num 16-byte
 * entries (inflight, 5 bytes of padding, next, counter), the layouts the
 * spec gives (static_asserts in inflight.c). Each queue's region starts on
 * a 64-byte boundary (GPC_VHOST_INFLIGHT_STRIDE), which for every power of
 * two queue size is the stride QEMU's libvhost-user uses, so an area is
 * interchangeable between the two.
 *
 * Per queue, on its own thread (no lock; only that thread writes its
 * region):
 *
 *	gpc_vhost_inflight_begin(a, q, head);     after popping head
 *	...the request runs...
 *	gpc_vhost_inflight_put(a, q, head);       before writing its used elem
 *	(more puts for a batch)
 *	write the used elements, then used->idx
 *	gpc_vhost_inflight_commit(a, q, used->idx as just written);
 *
 * and at queue start after SET_INFLIGHT_FD:
 *
 *	gpc_vhost_inflight_resubmit(a, q, used->idx, heads, cap, &n);
 *	last_avail_idx = used->idx + n; resubmit heads[0..n) in that order.
 *
 * A crash at any point of that sequence leaves an area from which resubmit
 * gives exactly the heads taken and not yet visible in used->idx (the
 * tests stop the sequence after every store and check).
 *
 * The front-end shares the area and may write anything into it at any
 * time: every index read from it is checked before use (a head or next
 * beyond desc_num ends a walk and is counted), an inflight byte other than
 * 0 or 1 is cleared and counted, counters are renumbered by resubmit, and a
 * header that is not ours (unknown version or features, desc_num not the
 * queue size) is refused by gpc_vhost_inflight_map(). Nothing read from the
 * area can make us touch memory outside it.
 */
#ifndef GPC_VHOST_INFLIGHT_H
#define GPC_VHOST_INFLIGHT_H

#include <stdint.h>

#include "proto.h"

#ifndef GPC_VHOST_HIDDEN
#define GPC_VHOST_HIDDEN __attribute__((visibility("hidden")))
#endif

/* The region version this code writes and reads (the spec's "1"). */
#define GPC_VHOST_INFLIGHT_VERSION    1u
/* The most queues an area may describe (include/gpc/vhost.h's bound). */
#define GPC_VHOST_INFLIGHT_MAX_QUEUES 64u
/* The largest split queue (virtio 1.x). */
#define GPC_VHOST_INFLIGHT_MAX_QSIZE  32768u

/* Bytes of one queue's region: header and entries, rounded up to 64. */
#define GPC_VHOST_INFLIGHT_STRIDE(qsize) \
	((((uint64_t)(qsize)*16u + 16u) + 63u) & ~(uint64_t)63u)

/* One tracked area, mapped in this process. */
struct gpc_vhost_inflight_area;

/* Counters since the area was created or mapped. */
struct gpc_vhost_inflight_stats {
	uint64_t begins, commits, resubmitted;
	/* values in the area that were not ours (cleared, walks cut short) */
	uint64_t corrupt;
};

/*
 * Called after every store the tracking calls make to the area (tests stop
 * there and copy the area, as a crash at that point would leave it).
 */
typedef void gpc_vhost_inflight_hook_fn(void *ctx, const char *step);

/**
 * gpc_vhost_inflight_create - a new area for GET_INFLIGHT_FD.
 * @num_queues: 1 .. GPC_VHOST_INFLIGHT_MAX_QUEUES (the request's field).
 * @queue_size: 1 .. GPC_VHOST_INFLIGHT_MAX_QSIZE (the request's field).
 * @out: receives the area (mapped, every queue's header initialised).
 * @fd: receives a memfd of the area (close-on-exec, sealed against
 *      growing and shrinking) to send with the reply; the caller closes it
 *      once sent (the mapping stays).
 * @reply: receives the reply payload (mmap_size, mmap_offset 0, the two
 *         counts).
 *
 * Return: 0; -EINVAL for a NULL argument or a count out of range; -ENOMEM;
 * the errno of memfd_create(), ftruncate(), fcntl() or mmap().
 * Context: may sleep.
 */
GPC_VHOST_HIDDEN int
gpc_vhost_inflight_create(unsigned int num_queues, unsigned int queue_size,
			  struct gpc_vhost_inflight_area **out, int *fd,
			  struct gpc_vhost_inflight *reply);

/**
 * gpc_vhost_inflight_map - map the area SET_INFLIGHT_FD gives back.
 * @fd: the message's fd (the caller keeps it and closes it after).
 * @msg: the message's payload, untrusted.
 * @out: receives the area.
 *
 * Every field is checked before anything is mapped: the counts in range,
 * mmap_size at least the layout's size for them (a larger area is mapped
 * only as far as the layout reaches), mmap_offset a multiple of 8 (the
 * entries' u64 fields are accessed atomically; a misaligned one could be
 * split, found by fuzz_vhost_inflight), mmap_offset + mmap_size without
 * overflow and inside the file (fstat: an access beyond a file's end would
 * be SIGBUS). Then each queue's header: version 0 (never used: initialised
 * now), or GPC_VHOST_INFLIGHT_VERSION with features 0 and desc_num equal
 * to queue_size. The entries are not checked here (resubmit does, as it
 * reads them). A file not sealed against shrinking (F_SEAL_SHRINK) is
 * accepted (QEMU's own fallback is a plain file) but counted: the
 * front-end could truncate it under us.
 *
 * Return: 0; -EINVAL for a NULL argument, a negative fd or any field
 * above out of range; -EPROTO for a queue header that is not one this code
 * wrote (unknown version or features, another desc_num); -ENOMEM; the
 * errno of fstat() or mmap().
 * Context: may sleep.
 */
GPC_VHOST_HIDDEN int
gpc_vhost_inflight_map(int fd, const struct gpc_vhost_inflight *msg,
		       struct gpc_vhost_inflight_area **out);

/**
 * gpc_vhost_inflight_destroy - unmap and free @a (NULL: nothing).
 * Context: may sleep.
 */
GPC_VHOST_HIDDEN void
gpc_vhost_inflight_destroy(struct gpc_vhost_inflight_area *a);

/**
 * gpc_vhost_inflight_begin - @head of queue @q was taken from the avail ring.
 *
 * Sets the entry's counter to the queue's next counter, then its inflight
 * byte (the spec's order: an entry is inflight only once its counter is
 * right).
 *
 * Return: 0; -EINVAL for NULL; -ERANGE if @q or @head is out of range;
 * -EBUSY if the entry is inflight already (the driver put a head on the
 * avail ring twice: the caller refuses the second request; nothing is
 * changed).
 * Context: the queue's thread; any context, never blocks.
 */
GPC_VHOST_HIDDEN int gpc_vhost_inflight_begin(struct gpc_vhost_inflight_area *a,
					      unsigned int q, uint16_t head);

/**
 * gpc_vhost_inflight_put - @head is about to go on the used ring.
 *
 * Links the entry into the last batch (next = last_batch_head,
 * last_batch_head = head). Call it for each head of a batch before any of
 * the batch's used elements or used->idx are written.
 *
 * Return: 0; -EINVAL for NULL; -ERANGE if @q or @head is out of range.
 * Context: the queue's thread; any context, never blocks.
 */
GPC_VHOST_HIDDEN int gpc_vhost_inflight_put(struct gpc_vhost_inflight_area *a,
					    unsigned int q, uint16_t head);

/**
 * gpc_vhost_inflight_commit - used->idx is now @used_idx.
 *
 * Clears the inflight byte of every entry of the batch (the @used_idx -
 * the header's used_idx entries from last_batch_head on), then stores
 * @used_idx in the header. Call it after the store of used->idx.
 *
 * Return: 0; -EINVAL for NULL; -ERANGE if @q is out of range; -EPROTO if
 * the batch list was cut short by an index the front-end wrote (counted;
 * the header is updated all the same).
 * Context: the queue's thread; any context, never blocks.
 */
GPC_VHOST_HIDDEN int
gpc_vhost_inflight_commit(struct gpc_vhost_inflight_area *a, unsigned int q,
			  uint16_t used_idx);

/**
 * gpc_vhost_inflight_resubmit - the heads to run again after a reconnect.
 * @used_idx: used->idx as the ring has it now.
 * @heads: receives the inflight heads in the order they were taken
 *         (ascending counter; ties, which only a front-end can make, by
 *         head).
 * @cap: entries at @heads (the queue size always suffices).
 * @n: receives the number of heads.
 *
 * First the spec's recovery: if the header's used_idx is not @used_idx, a
 * batch was published on the used ring but not committed here: its entries
 * are cleared and used_idx set. Then the inflight entries are collected,
 * and renumbered 1 .. n in their order so the queue's counter goes on from
 * n + 1 (a front-end's garbage counters cannot make it wrap).
 *
 * Return: 0; -EINVAL for NULL; -ERANGE if @q is out of range; -ENOBUFS if
 * more than @cap heads are inflight (nothing is changed after the
 * recovery step).
 * Context: the queue's thread, before its first begin; may allocate.
 */
GPC_VHOST_HIDDEN int
gpc_vhost_inflight_resubmit(struct gpc_vhost_inflight_area *a, unsigned int q,
			    uint16_t used_idx, uint16_t *heads,
			    unsigned int cap, unsigned int *n);

/* Bytes of the area as laid out (the reply's mmap_size). Context: any. */
GPC_VHOST_HIDDEN uint64_t
gpc_vhost_inflight_size(const struct gpc_vhost_inflight_area *a);

/* The area's first byte (tests copy it). Context: any. */
GPC_VHOST_HIDDEN void *
gpc_vhost_inflight_base(const struct gpc_vhost_inflight_area *a);

/* A snapshot of the counters. Context: any context. */
GPC_VHOST_HIDDEN void
gpc_vhost_inflight_get_stats(const struct gpc_vhost_inflight_area *a,
			     struct gpc_vhost_inflight_stats *st);

/* Install (or with NULL remove) the step hook. Context: before use. */
GPC_VHOST_HIDDEN void
gpc_vhost_inflight_set_hook(struct gpc_vhost_inflight_area *a,
			    gpc_vhost_inflight_hook_fn *fn, void *ctx);

#endif /* GPC_VHOST_INFLIGHT_H */
