/* SPDX-License-Identifier: MIT */
/*
 * gpc/invalidate.h - telling a vm that host memory is about to change.
 *
 * Whoever changes the host mapping behind guest memory (munmap, a new
 * mapping over it, a discarded, migrated or write-protected page) brackets
 * the change with range_start and range_end, like a Linux MMU notifier:
 *
 *	err = gpc_invalidate_range_start(vm, start, end, 0);
 *	... change the mapping of [start, end) ...
 *	gpc_invalidate_range_end(vm, start, end);
 *
 * When range_start returns 0, no cache overlapping the range is valid, no
 * reader can still use a page it translated, no vCPU that uses such a cache
 * in guest mode is still in guest mode, and no refresh can publish a page of
 * the range until range_end. range_end bumps the vm's invalidation sequence
 * (for every invalidation, whether or not a memslot overlaps) and lets
 * waiting refreshes go on.
 *
 * With GPC_INVAL_NONBLOCK, range_start never sleeps and only tries locks: it
 * either completes as above, or returns -EAGAIN. Then the caller must not
 * change the mapping and must not call range_end. -EAGAIN leaves:
 *  - the overlapping caches invalid and their vCPUs kicked;
 *  - the range *pending*: refreshes of caches that overlap it wait (they
 *    may sleep) instead of making their caches valid again, so that the
 *    readers that still held old pages drain and none takes their place.
 * The caller then does one of two things:
 *  - retry with the same @start and @end (as often as it likes; the retry
 *    takes the pending mark over): it succeeds as soon as the readers that
 *    were inside at the first attempt have left and the kicked vCPUs are
 *    out of guest mode, i.e. within about one grace period, however busy
 *    the refreshing threads are;
 *  - or give up and withdraw the mark with gpc_invalidate_range_cancel().
 * A caller that does neither leaves the mark to lapse: GPC_INVAL_PENDING_MS
 * after the first -EAGAIN, the next refresh that waits on it frees it
 * (counted in gpc_vm_stats.inval_pending_lapsed). So a refresh overlapping
 * an abandoned mark is delayed by at most that long; a thread that itself
 * retries a non-blocking invalidation must not refresh an overlapping cache
 * in between (it would wait for its own mark). Two fine points: a refresh
 * that was publishing at the very moment of the first attempt may make its
 * cache valid again (with the mapping as it still is; the retry clears it),
 * and if the vm's index lock stays busy for more than a few tens of
 * microseconds, -EAGAIN comes before any cache was reached.
 */
#ifndef GPC_INVALIDATE_H
#define GPC_INVALIDATE_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct gpc_vm;

/* Do not sleep and do not wait for locks; fail with -EAGAIN instead. */
#define GPC_INVAL_NONBLOCK (1u << 0)

/* How many invalidations may be in progress (or pending) on one vm at once. */
#define GPC_INVAL_MAX_INFLIGHT 64

/* How long the pending mark a non-blocking -EAGAIN leaves lives at most. */
#define GPC_INVAL_PENDING_MS 100

/**
 * gpc_invalidate_range_start - begin an invalidation of [@start, @end).
 * @vm: the vm.
 * @start, @end: host virtual range, @start < @end (need not be aligned).
 * @flags: 0 or GPC_INVAL_NONBLOCK.
 *
 * Return: 0; -EINVAL (NULL vm, @end <= @start, unknown flags); -EAGAIN
 * (non-blocking only: retry or cancel, see above; it keeps coming while a
 * reader of an overlapping cache stays in its section or a vCPU using one
 * stays in guest mode - the caller's own thread included); -EBUSY if
 * GPC_INVAL_MAX_INFLIGHT invalidations are already in progress or pending;
 * -EDEADLK (blocking only) if it would wait for the caller itself: the
 * caller is inside a cache section or SRCU read section of @vm (checked
 * first: nothing registered or changed); or a vCPU it must wait for (one
 * using an overlapping guest-usage cache) was put in guest mode by the
 * calling thread and is still there after its kick - then, as after
 * -EAGAIN, the overlapping caches stay invalid and the vCPU kicked, but
 * nothing stays registered; the caller must not change the mapping and
 * must not call range_end (leave guest mode, then invalidate again).
 * Context: may sleep; with GPC_INVAL_NONBLOCK any context, async-signal-safe,
 * never blocks.
 */
int gpc_invalidate_range_start(struct gpc_vm *vm, uint64_t start, uint64_t end,
			       unsigned int flags);

/**
 * gpc_invalidate_range_end - end the invalidation begun for [@start, @end).
 *
 * Return: 0; -EINVAL (NULL vm, bad range); -ENOENT if no invalidation of
 * exactly that range is in progress.
 * Context: may spin briefly (takes short internal locks), never sleeps on
 * another thread.
 */
int gpc_invalidate_range_end(struct gpc_vm *vm, uint64_t start, uint64_t end);

/**
 * gpc_invalidate_range_cancel - withdraw the pending mark that a
 * non-blocking range_start of [@start, @end) left when it returned -EAGAIN:
 * the caller will not retry, and overlapping refreshes may go on at once.
 *
 * Return: 0; -EINVAL (NULL vm, bad range); -ENOENT if no pending mark of
 * exactly that range exists (never made, taken over by a retry that
 * succeeded, cancelled before, or lapsed).
 * Context: any context, async-signal-safe, never blocks.
 */
int gpc_invalidate_range_cancel(struct gpc_vm *vm, uint64_t start,
				uint64_t end);

/**
 * gpc_invalidate_sequence - the vm's invalidation sequence (bumped by every
 * range_end).
 *
 * Return: the sequence; 0 for NULL.
 * Context: any context.
 */
uint64_t gpc_invalidate_sequence(struct gpc_vm *vm);

#ifdef __cplusplus
}
#endif

#endif /* GPC_INVALIDATE_H */
