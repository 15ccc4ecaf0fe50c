/* SPDX-License-Identifier: MIT */
/*
 * dirty_priv.h - the dirty log of a memslot (dirty.c); not installed.
 *
 * A slot with GPC_MEMSLOT_LOG_DIRTY carries a struct gpci_dirty (its
 * bitmap), which follows the slot from table to table (moves and flag
 * changes that keep logging keep it). Memslot writers call the hooks
 * below, under the memslot lock, while they build and commit a table.
 */
#ifndef GPC_DIRTY_PRIV_H
#define GPC_DIRTY_PRIV_H

#include <stdatomic.h>
#include <stdbool.h>

#include "memslot_priv.h"

/*
 * @n is a slot of the table being built: new (@o NULL) or a changed copy of
 * @o. Give @n the bitmap its flags ask for: a new one when logging starts,
 * @o's when it goes on, none when it stops. Return: 0; -ENOMEM (the
 * change is aborted). Context: may sleep.
 */
int gpci_dirty_slot_prepare(struct gpc_vm *vm, struct gpci_memslot *n,
			    const struct gpci_memslot *o);
/* The change that prepared @n failed: free what prepare allocated. */
void gpci_dirty_slot_unprepare(struct gpci_memslot *n,
			       const struct gpci_memslot *o);
/*
 * A committed change replaced @o by @n (NULL: deleted), and a grace period
 * of vm->srcu has passed: free @o's bitmap if @n no longer uses it.
 * Context: may sleep.
 */
void gpci_dirty_slot_retire(struct gpc_vm *vm, const struct gpci_memslot *o,
			    const struct gpci_memslot *n);

/*
 * Mark [off, off + len) of the slot that owns @d as written (offsets from
 * the slot's gpa). @d may be NULL (the slot does not log): nothing to do.
 * The caller is inside a read section of vm->srcu, which keeps @d alive.
 * Context: any context, never blocks.
 */
void gpci_dirty_mark(struct gpci_dirty *d, uint64_t off, uint64_t len);

/*
 * Bitmaps alive in the process (all vms). Zero: no slot logs anywhere, and
 * the out-of-line write paths skip their lookup after this one load.
 */
extern _Atomic unsigned long gpci_dirty_logs;

static inline bool gpci_dirty_any(void)
{
	return atomic_load_explicit(&gpci_dirty_logs, memory_order_relaxed);
}

/*
 * A GPA-mode cache @c is about to publish a translation of [gpa, gpa +
 * len): if it is writable and the slot logs, mark those pages and return
 * the slot's bitmap (and in *@off the cache's offset in the slot), else
 * NULL. Called by its refresh after the cache's pages are in the vm's index
 * and before it publishes (the order the no-lost-write argument needs:
 * dirty.c). Context: may sleep (takes no lock but a read section).
 */
struct gpci_dirty *gpci_dirty_cache_refreshed(struct gpc_cache *c, uint64_t gpa,
					      uint64_t len, uint64_t *off);

/*
 * Record, in @c's publish write section, what gpc_cache_write() marks:
 * @d and @off from gpci_dirty_cache_refreshed() (NULL: nothing).
 */
void gpci_dirty_cache_publish(struct gpc_cache *c, struct gpci_dirty *d,
			      uint64_t off);

/*
 * gpc_cache_write() copied @len bytes at @off of @c, still inside its
 * begin .. end: mark them. Context: any context.
 */
void gpci_dirty_cache_wrote(struct gpc_cache *c, uint64_t off, uint64_t len);

#endif /* GPC_DIRTY_PRIV_H */
