// SPDX-License-Identifier: MIT
/*
 * dirty.c - the dirty log of memslots with GPC_MEMSLOT_LOG_DIRTY.
 *
 * Placeholder hooks: no bitmap is kept yet.
 */
#include <stddef.h>

#include "dirty_priv.h"

int gpci_dirty_slot_prepare(struct gpc_vm *vm, struct gpci_memslot *n,
			    const struct gpci_memslot *o)
{
	(void)vm;
	(void)o;
	n->dirty = NULL;
	return 0;
}

void gpci_dirty_slot_unprepare(struct gpci_memslot *n,
			       const struct gpci_memslot *o)
{
	(void)n;
	(void)o;
}

void gpci_dirty_slot_retire(struct gpc_vm *vm, const struct gpci_memslot *o,
			    const struct gpci_memslot *n)
{
	(void)vm;
	(void)o;
	(void)n;
}

void gpci_dirty_mark(struct gpci_dirty *d, uint64_t off, uint64_t len)
{
	(void)d;
	(void)off;
	(void)len;
}
