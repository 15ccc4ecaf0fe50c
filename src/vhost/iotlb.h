/* SPDX-License-Identifier: MIT */
/*
 * src/vhost/iotlb.h - the device IOTLB (VIRTIO_F_ACCESS_PLATFORM) of
 * libgpc-vhost, private to the library.
 *
 * With an IOMMU, ring and buffer addresses are IOVAs, which the front-end
 * maps to its user addresses with IOTLB_MSG updates and unmaps with
 * invalidations (QEMU's docs/interop/vhost-user.rst, "IOMMU support"); a
 * back-end missing a translation asks with an IOTLB miss on the back-end
 * channel.
 *
 * The IOTLB is a libgpc vm of its own whose memslots are keyed by IOVA
 * (the slot's "gpa" is the IOVA) and whose hva points into the back-end's
 * existing mapping of the region (the direct stage: no new mmap). It is
 * created on the memory vm's SRCU domain, so one read section covers
 * translations through both, and everything that takes a vm works on it
 * unchanged: gpc_translate_gpa(iotlb_vm, iova, ...), gpc_vhost_walk()
 * for descriptor chains in IOVA space, caches for rings.
 *
 * Updates and invalidations are memslot transactions: readers see the
 * IOTLB before or after, never half of it, and every commit waits a grace
 * period of the domain. When gpc_vhost_iotlb_invalidate() returns, no
 * translation through the invalidated IOVAs can start, and none made before
 * is still inside a read section (on the rwlock scheme the call also
 * invalidates the entries' host ranges on the IOTLB vm, which waits for
 * cache sections, which are not SRCU sections there). It does NOT wait for
 * I/O already submitted with those pointers (io_uring): the caller does
 * the in-flight wait (the back-end's in-flight epochs, docs/vhost.md)
 * after it and only then replies to the IOTLB_MSG.
 *
 * Entries: the front-end's mappings, without overlaps. An update that
 * overlaps existing entries replaces them where they overlap (the guest
 * mapped the IOVA again), keeping the parts outside; an invalidation of
 * part of an entry keeps the rest. Each entry is one memslot, so there
 * are at most max_entries of them (default and ceiling GPC_MEMSLOTS_MAX);
 * an update beyond that is refused (-ENOSPC, one log line).
 *
 * Write-only entries (VHOST_ACCESS_WO): libgpc slots are readable or
 * read-only, nothing in between, so a WO entry is a writable slot and a
 * read through it is not refused by the translation; a device that wants
 * the strict check asks gpc_vhost_iotlb_perm(). Read-only entries (and
 * entries over a read-only region) are GPC_MEMSLOT_READONLY: a write
 * translation fails with -EROFS.
 *
 * Dirty logging: the IOTLB vm's slots never log (their bits would be by
 * IOVA, the vhost-user log is by GPA); writes through IOVAs are logged
 * with gpc_vhost_dirty_log_write_hva() (dirty_log.h).
 *
 * Aliases (GPC_VHOST_F_CHECK_STALE, gpc_vhost_iotlb_set_aliases()): each
 * entry's slot points at an alias of the region pages it maps instead (a
 * second mapping of them, made by the alias ops) rather than into the
 * region's mapping. An entry that goes (invalidated, replaced by an
 * update, its region dropped) leaves its alias to gpc_vhost_iotlb_retire(),
 * which the caller calls after its in-flight wait: the alias then goes
 * PROT_NONE, so a pointer found through the old translation faults (and
 * is counted) instead of reading the live region. The parts of a partly
 * invalidated entry get new aliases, as they get new slots. An entry whose
 * alias could not be made uses the region's mapping (counted: unchecked).
 *
 * Every writer call (update, invalidate, drop_region) runs on the control
 * thread, outside any read section of the domain; miss and perm may be
 * called from queue threads.
 */
#ifndef GPC_VHOST_IOTLB_H
#define GPC_VHOST_IOTLB_H

#include <stdbool.h>
#include <stdint.h>

#include <gpc/vm.h>

#include "proto.h"

#ifndef GPC_VHOST_HIDDEN
#define GPC_VHOST_HIDDEN __attribute__((visibility("hidden")))
#endif

/* Outstanding misses remembered (beyond: the oldest is forgotten). */
#define GPC_VHOST_IOTLB_MISS_MAX       64
/* A miss still unanswered after this long may be sent again. */
#define GPC_VHOST_IOTLB_MISS_RESEND_MS 1000

struct gpc_vhost_iotlb;

/* Log lines: the signature of include/gpc/vhost.h's gpc_vhost_log_fn. */
typedef void gpc_vhost_iotlb_log_fn(void *ctx, int level, const char *msg);

struct gpc_vhost_iotlb_stats {
	uint64_t updates, invalidations, drops; /* calls that returned 0 */
	uint64_t entries;			/* now */
	uint64_t refused_full;	   /* updates refused with -ENOSPC */
	uint64_t remainders_lost;  /* parts of entries dropped: no slot id */
	uint64_t misses_sent;	   /* miss messages built to be sent */
	uint64_t misses_coalesced; /* misses already outstanding */
	/* With aliases: made, retired, entries left without one. */
	uint64_t aliases, aliases_retired, unchecked;
};

/*
 * How entries get aliases (ext_iotlb.c, over fault.h); all on the control
 * thread. map: a second mapping of the region pages [@hva, + @size) for the
 * entry at @iova, *@alias and a *@cookie given back to retire or unmap;
 * non-zero: none (the entry uses @hva). retire: the entry is gone and no
 * request uses it any more. unmap: the alias was never published.
 */
struct gpc_vhost_iotlb_alias_ops {
	int (*map)(void *ctx, uint64_t hva, uint64_t size, uint64_t iova,
		   uint64_t *alias, int *cookie);
	void (*retire)(void *ctx, uint64_t alias, uint64_t size, int cookie);
	void (*unmap)(void *ctx, uint64_t alias, uint64_t size, int cookie);
};

/**
 * gpc_vhost_iotlb_create - an empty IOTLB on @domain.
 * @domain: the memory vm's domain (gpc_vm_srcu(mem_vm)); the memory vm
 *          (if the domain is its own) must be destroyed after the IOTLB.
 * @scheme: the read-side scheme of the IOTLB vm (that of the memory vm).
 * @max_entries: 0 for GPC_MEMSLOTS_MAX, else at most that.
 * @log, @log_ctx: log lines (NULL: stderr).
 *
 * Return: 0; -EINVAL (NULL @domain or @out, @max_entries too large, a bad
 * scheme or domain); -ENOMEM.
 * Context: may sleep.
 */
GPC_VHOST_HIDDEN int
gpc_vhost_iotlb_create(struct gpc_srcu *domain, enum gpc_scheme scheme,
		       unsigned int max_entries, gpc_vhost_iotlb_log_fn *log,
		       void *log_ctx, struct gpc_vhost_iotlb **out);

/**
 * gpc_vhost_iotlb_destroy - remove every entry and free @t (NULL: no-op).
 * Aliases, of live entries and waiting ones, are retired: the caller has
 * no request in flight (its queues are stopped).
 *
 * Return: 0; -EBUSY or -EDEADLK from gpc_vm_destroy() (caches left on the
 * IOTLB vm, a read section of the domain held by the caller); @t is kept
 * then.
 * Context: may sleep.
 */
GPC_VHOST_HIDDEN int gpc_vhost_iotlb_destroy(struct gpc_vhost_iotlb *t);

/*
 * gpc_vhost_iotlb_set_aliases - entries from now on get aliases from @ops
 * (with @ctx); call it before the first update. The file comment has why.
 * Return: 0; -EINVAL for NULL or an incomplete @ops; -EBUSY if @t has
 * entries. Context: control thread.
 */
GPC_VHOST_HIDDEN int
gpc_vhost_iotlb_set_aliases(struct gpc_vhost_iotlb *t,
			    const struct gpc_vhost_iotlb_alias_ops *ops,
			    void *ctx);

/*
 * gpc_vhost_iotlb_retire - hand the aliases of the entries that went since
 * the last call to the alias ops' retire. Call it after the in-flight wait
 * that follows an invalidate, a drop_region, or an update that replaced
 * entries (gpc_vhost_iotlb_retire_pending()). Return: how many. Context:
 * control thread; may spin (the ops).
 */
GPC_VHOST_HIDDEN unsigned int gpc_vhost_iotlb_retire(struct gpc_vhost_iotlb *t);

/* Aliases wait for gpc_vhost_iotlb_retire(). Context: control thread. */
GPC_VHOST_HIDDEN bool gpc_vhost_iotlb_retire_pending(struct gpc_vhost_iotlb *t);

/* The IOTLB vm, for translations and walks by IOVA. Context: any. */
GPC_VHOST_HIDDEN struct gpc_vm *gpc_vhost_iotlb_vm(struct gpc_vhost_iotlb *t);

/**
 * gpc_vhost_iotlb_update - IOTLB_MSG update: [@iova, + @size) -> @uaddr.
 * @mem_vm: the memory vm (its slots' user addresses are the regions'),
 *          on the IOTLB's domain.
 * @perm: VHOST_ACCESS_RO, _WO or _RW.
 *
 * The range must lie in one region (the spec: "within vhost memory
 * regions"); its host address comes from that region's mapping. Entries
 * overlapping the range are replaced where they overlap. Misses pending
 * on an IOVA the update covers with the permission they asked are
 * resolved (gpc_vhost_iotlb_seq() moves on every update).
 *
 * Return: 0; -EINVAL for NULL, @size 0, an IOVA, size or address not page
 * aligned or wrapping 2^64, @perm not one of the three, or @mem_vm on
 * another domain; -EFAULT if [@uaddr, + @size) is not all inside one
 * region of @mem_vm; -ENOSPC if the entries it needs are beyond
 * max_entries (nothing changed, logged); -EDEADLK inside a read section of
 * the domain; -ENOMEM; a memslot errno.
 * Context: may sleep (a grace period).
 */
GPC_VHOST_HIDDEN int gpc_vhost_iotlb_update(struct gpc_vhost_iotlb *t,
					    struct gpc_vm *mem_vm,
					    uint64_t iova, uint64_t size,
					    uint64_t uaddr, uint8_t perm);

/**
 * gpc_vhost_iotlb_invalidate - IOTLB_MSG invalidate of [@iova, + @size).
 *
 * One transaction deleting every entry overlapping the range and adding
 * back the parts outside it (a part that gets no slot id, only possible
 * with the IOTLB full, is dropped too and counted: dropping more than asked
 * is safe, the next access misses). See the file comment for what holds
 * when it returns, and the in-flight wait the caller still owes. A range
 * that overlaps nothing changes nothing (0). @size 0 or a range that
 * wraps is clipped at 2^64 (the kernel's vhost treats the IOTLB the same
 * way; QEMU sends size 2^64 - 1 for "everything").
 *
 * Return: 0; -EINVAL for NULL; -EDEADLK inside a read section of the
 * domain; -ENOMEM; a memslot errno (nothing changed).
 * Context: may sleep (a grace period).
 */
GPC_VHOST_HIDDEN int gpc_vhost_iotlb_invalidate(struct gpc_vhost_iotlb *t,
						uint64_t iova, uint64_t size);

/**
 * gpc_vhost_iotlb_invalidate_batch - several invalidations, one grace
 * period: @iova[i], @size[i] for i < @n (a front-end that queued several
 * IOTLB_MSG invalidations without waiting for replies). As
 * gpc_vhost_iotlb_invalidate() for each; the replies may all go after it.
 *
 * Return: as gpc_vhost_iotlb_invalidate().
 * Context: may sleep.
 */
GPC_VHOST_HIDDEN int gpc_vhost_iotlb_invalidate_batch(struct gpc_vhost_iotlb *t,
						      const uint64_t *iova,
						      const uint64_t *size,
						      unsigned int n);

/**
 * gpc_vhost_iotlb_drop_region - the memory vm is removing the region
 * mapped at [@hva, + @size): every entry pointing into it goes (one
 * transaction, then as invalidate). Call it before the region is unmapped.
 *
 * Return: as gpc_vhost_iotlb_invalidate().
 * Context: may sleep.
 */
GPC_VHOST_HIDDEN int gpc_vhost_iotlb_drop_region(struct gpc_vhost_iotlb *t,
						 uint64_t hva, uint64_t size);

/**
 * gpc_vhost_iotlb_miss - a translation of @iova for @perm missed: build the
 * IOTLB miss (VHOST_IOTLB_MISS, @iova, @perm) for the back-end channel.
 * @msg: receives the message when it should be sent.
 *
 * A miss on the same page for a permission an outstanding one already
 * asked for is not sent again for GPC_VHOST_IOTLB_MISS_RESEND_MS: the
 * caller parks the request and retries it when gpc_vhost_iotlb_seq()
 * moves. The caller sends @msg with gpc_vhost_msg_backend_send()
 * (GPC_VHOST_BACKEND_IOTLB_MSG) under its back-end channel lock, and calls
 * gpc_vhost_iotlb_miss_cancel() if the send failed.
 *
 * Return: 0 (send @msg); -EALREADY (outstanding: do not send); -EINVAL for
 * NULL or @perm not RO, WO or RW.
 * Context: any thread; may block briefly (a mutex), never sleeps.
 */
GPC_VHOST_HIDDEN int gpc_vhost_iotlb_miss(struct gpc_vhost_iotlb *t,
					  uint64_t iova, uint8_t perm,
					  struct vhost_iotlb_msg *msg);

/* Forget the outstanding miss on @iova's page (its send failed). */
GPC_VHOST_HIDDEN void gpc_vhost_iotlb_miss_cancel(struct gpc_vhost_iotlb *t,
						  uint64_t iova);

/* Whether a miss on @iova's page is outstanding. Context: any thread. */
GPC_VHOST_HIDDEN bool gpc_vhost_iotlb_miss_pending(struct gpc_vhost_iotlb *t,
						   uint64_t iova);

/*
 * Moves (by one) on every update that returned 0: a queue that parked a
 * request on a miss retries it when this differs from what it saw.
 * Context: any context.
 */
GPC_VHOST_HIDDEN uint64_t gpc_vhost_iotlb_seq(const struct gpc_vhost_iotlb *t);

/*
 * The permission (VHOST_ACCESS_*) of the entry containing @iova, 0 if
 * none. Context: any thread; may block briefly (a mutex).
 */
GPC_VHOST_HIDDEN uint8_t gpc_vhost_iotlb_perm(struct gpc_vhost_iotlb *t,
					      uint64_t iova);

/* A snapshot of the counters. Context: any thread (a mutex). */
GPC_VHOST_HIDDEN void
gpc_vhost_iotlb_get_stats(struct gpc_vhost_iotlb *t,
			  struct gpc_vhost_iotlb_stats *st);

#endif /* GPC_VHOST_IOTLB_H */
