/* SPDX-License-Identifier: MIT */
/*
 * srcu_priv.h - what the rest of the library asks of an SRCU domain beyond
 * gpc/srcu.h (srcu_domain.c); not installed.
 *
 * A domain may serve many vms (gpc_vm_create_on()). Each vm counts itself
 * as a user of its domain for as long as it lives, its own domain included,
 * so that gpc_srcu_destroy() refuses (-EBUSY) to pull a domain from under a
 * vm instead of leaving the vm with freed state it can never destroy.
 */
#ifndef GPC_SRCU_PRIV_H
#define GPC_SRCU_PRIV_H

#include <stdbool.h>

#include <gpc/srcu.h>

/*
 * Count one more user of @d. Serialized with gpc_srcu_destroy() (both take
 * the list of live domains), so a destroy either sees the user and refuses
 * or has already marked @d dead, and then this fails.
 * Return: 0; -EINVAL if @d is not a live domain. Context: may sleep briefly.
 */
int gpci_srcu_get(struct gpc_srcu *d);

/* Drop a user counted by gpci_srcu_get(). Context: may sleep briefly. */
void gpci_srcu_put(struct gpc_srcu *d);

/*
 * The users of @d counted now (0 for a domain that is not live). A vm
 * whose own domain other vms were created on (gpc_vm_create_on() of
 * gpc_vm_srcu()) must not go first. Context: may sleep briefly.
 */
unsigned int gpci_srcu_users(struct gpc_srcu *d);

/*
 * Whether any thread (the caller included) is inside a read section of
 * @d now: what gpc_srcu_destroy() refuses with -EBUSY. A vm checks it
 * before it tears anything down, so that a refusal changes nothing.
 * Context: may sleep briefly (the domain's scan lock).
 */
bool gpci_srcu_readers(struct gpc_srcu *d);

#endif /* GPC_SRCU_PRIV_H */
