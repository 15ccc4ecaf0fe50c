/* SPDX-License-Identifier: MIT */
/*
 * gpc/dirty.h - the dirty log of memslots (for live migration).
 *
 * A memslot created (or changed by gpc_memslot_set_flags) with
 * GPC_MEMSLOT_LOG_DIRTY carries a bitmap with one bit per 4 KiB page
 * (GPC_DIRTY_PAGE_SIZE, whatever the host page size) of the slot: bit i of
 * the slot's log is the page at gpa + i * GPC_DIRTY_PAGE_SIZE. Off by
 * default; a slot that does not log costs nothing anywhere.
 *
 * What marks a page of a logging slot:
 *  - gpc_cache_write() and gpc_cache_copy() (the destination): exactly the
 *    pages written;
 *  - a translation requested for writing (GPC_TRANSLATE_WRITE): the pages
 *    of the range it returns;
 *  - a writable cache (no GPC_CACHE_READONLY) in GPA mode, host or guest
 *    usage: its inline fast path (gpc_cache_begin(), gpc_cache_guest_ptr())
 *    is not touched, so its whole range counts as written for as long as
 *    the cache maps it: marked by its refresh, and marked again by every
 *    harvest while it stays mapped. Writable HVA-mode caches whose range
 *    lies in the slot's memory are marked by every harvest while mapped,
 *    but not by their refresh (they do not look memslots up). A VMM that
 *    wants a tight log keeps writable caches short and deactivates those it
 *    no longer needs.
 *
 * Harvesting (gpc_dirty_log_get_and_clear(), gpc_dirty_log_harvest()) is
 * safe against concurrent writers: no write is lost between the get and
 * the clear. Every write made through a translation obtained after logging
 * was enabled (the set_flags or add call returned) is reported by the first
 * harvest that begins after the write completes, or by an earlier one; and
 * when a harvest returns, the data of every write it reports as complete is
 * visible to the caller (it waits a grace period of the vm's domain for
 * writers that marked before writing, such as translate-for-write users).
 * A page written again after being harvested is reported again later.
 *
 * Stopping logging (set_flags without the flag) or deleting the slot drops
 * its bits: harvest first. A move keeps the log (bits are slot-relative).
 */
#ifndef GPC_DIRTY_H
#define GPC_DIRTY_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct gpc_vm;

#define GPC_DIRTY_PAGE_SHIFT 12
#define GPC_DIRTY_PAGE_SIZE  (1ull << GPC_DIRTY_PAGE_SHIFT)

/* uint64_t words of a bitmap for a slot of @size bytes (one bit a page). */
#define GPC_DIRTY_LOG_WORDS(size) \
	((((uint64_t)(size) >> GPC_DIRTY_PAGE_SHIFT) + 63) / 64)

/**
 * gpc_dirty_log_get_and_clear - fetch and clear the dirty log of a slot.
 * @vm: the vm.
 * @slot_id: a slot with GPC_MEMSLOT_LOG_DIRTY.
 * @bitmap: receives the log: bit i % 64 of word i / 64 set if page i of the
 *          slot (at gpa + i * GPC_DIRTY_PAGE_SIZE) was written. Words
 *          [0, GPC_DIRTY_LOG_WORDS(size)) are overwritten (the bits past the
 *          slot's last page are zero), later words are left alone.
 * @words: uint64_t words at @bitmap.
 *
 * Each word of the log is taken and cleared by one atomic exchange, so a
 * page marked concurrently is either in @bitmap or still in the log for the
 * next call; then the pages of writable caches that map the slot are marked
 * again (in the log and in @bitmap); then the call waits a grace period of
 * the vm's domain (see the file comment for what that guarantees).
 *
 * Return: the number of pages set in @bitmap (at most INT_MAX); -EINVAL if
 * @vm or @bitmap is NULL; -ENOENT if no slot has @slot_id; -ENODATA if the
 * slot does not log (no GPC_MEMSLOT_LOG_DIRTY); -ENOSPC if @words is below
 * GPC_DIRTY_LOG_WORDS(slot size); -EDEADLK if the calling thread is inside
 * a cache section of the vm: a read section of its SRCU domain (the grace
 * period would wait for it) or, on the rwlock scheme, a gpc_cache_begin()
 * .. gpc_cache_end() (an invalidation may hold the lock we need while it
 * waits for that section).
 * The log is untouched on every error.
 * Context: may sleep.
 */
int gpc_dirty_log_get_and_clear(struct gpc_vm *vm, uint32_t slot_id,
				uint64_t *bitmap, size_t words);

/**
 * gpc_dirty_log_harvest - move the dirty log of a slot into a vhost-user log.
 * @vm: the vm.
 * @slot_id: a slot with GPC_MEMSLOT_LOG_DIRTY.
 * @log_base: a vhost-user dirty log (VHOST_USER_SET_LOG_BASE): one bit per
 *            4 KiB page of guest-physical space, page p at bit p % 8 of
 *            byte p / 8 (little-endian bit order in bytes, so a
 *            little-endian host may read it as 64-bit words as well). No
 *            alignment is required.
 * @log_size: bytes at @log_base.
 *
 * Takes and clears the slot's log as gpc_dirty_log_get_and_clear() does,
 * and sets, with an atomic OR per byte (the log is shared with the
 * front-end, which clears it concurrently), bit (gpa / 4096) for every
 * dirty page, shifting the slot's words when its gpa is not a multiple of
 * 64 pages: 64 pages at a time, never a copy per page. Bits are only set,
 * never cleared, and only after the writes they report are visible (after
 * the grace period).
 *
 * Return: the number of pages reported (at most INT_MAX); -EINVAL if @vm or
 * @log_base is NULL; -ENOENT if no slot has @slot_id; -ENODATA if the slot
 * does not log; -ENOSPC if @log_size bytes do not reach the bit of the
 * slot's last page; -ENOMEM if the staging buffer cannot be allocated;
 * -EDEADLK as gpc_dirty_log_get_and_clear(). The log is untouched on every
 * error.
 * Context: may sleep.
 */
int gpc_dirty_log_harvest(struct gpc_vm *vm, uint32_t slot_id, void *log_base,
			  size_t log_size);

#ifdef __cplusplus
}
#endif

#endif /* GPC_DIRTY_H */
