// SPDX-License-Identifier: MIT
/*
 * memslot_aux.c - the secondary indexes of a memslot table: lookups by host
 * address and by the caller's user address.
 *
 * Placeholder: no index is built yet, so a table carries aux == NULL.
 */
#include <stddef.h>

#include "memslot_priv.h"

int gpci_memslots_aux_build(struct gpci_memslots *t)
{
	t->aux = NULL;
	return 0;
}

void gpci_memslots_aux_free(struct gpci_memslots *t)
{
	t->aux = NULL;
}
