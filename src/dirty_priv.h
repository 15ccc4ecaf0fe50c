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

#endif /* GPC_DIRTY_PRIV_H */
