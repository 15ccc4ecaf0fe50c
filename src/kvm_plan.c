// SPDX-License-Identifier: MIT
/*
 * kvm_plan.c - the order in which the KVM binding mirrors a memslot commit
 * (see kvm_priv.h). KVM has no atomic multi-slot update, so a commit
 * becomes a sequence of single-slot calls, each of which KVM must accept
 * given the slots it holds at that point, and each with its inverse so
 * that a failure (or a later listener's refusal) can put KVM back.
 */
#include <stdbool.h>

#include "kvm_priv.h"

static struct gpci_kvm_region region_of(const struct gpc_memslot_desc *d)
{
	struct gpci_kvm_region r = { .id = d->id,
				     .flags = d->flags & GPC_MEMSLOT_READONLY,
				     .gpa = d->gpa,
				     .size = d->size,
				     .hva = d->hva };

	return r;
}

static struct gpci_kvm_region region_none(uint32_t id)
{
	struct gpci_kvm_region r = { .id = id };

	return r;
}

/* Append "delete @d" (undo: create it again). */
static unsigned int op_delete(struct gpci_kvm_op *ops, unsigned int k,
			      const struct gpc_memslot_desc *d)
{
	ops[k].set = region_none(d->id);
	ops[k].undo = region_of(d);
	return k + 1;
}

/* Append "create @d" (undo: delete it). */
static unsigned int op_create(struct gpci_kvm_op *ops, unsigned int k,
			      const struct gpc_memslot_desc *d)
{
	ops[k].set = region_of(d);
	ops[k].undo = region_none(d->id);
	return k + 1;
}

static bool ro_toggles(const struct gpc_memslot_change *c)
{
	return (c->old_slot.flags ^ c->new_slot.flags) & GPC_MEMSLOT_READONLY;
}

unsigned int gpci_kvm_plan(const struct gpc_memslot_change *c, unsigned int n,
			   struct gpci_kvm_op *ops)
{
	unsigned int i, k = 0, moves = 0;

	for (i = 0; i < n; i++)
		moves += c[i].op == GPC_MEMSLOT_CHANGE_MOVE;
	/* 1: make room. */
	for (i = 0; i < n; i++)
		if (c[i].op == GPC_MEMSLOT_CHANGE_DELETE ||
		    c[i].op == GPC_MEMSLOT_CHANGE_REPLACE ||
		    (c[i].op == GPC_MEMSLOT_CHANGE_MOVE && moves > 1))
			k = op_delete(ops, k, &c[i].old_slot);
	/* 2: in place. */
	for (i = 0; i < n; i++) {
		if (c[i].op == GPC_MEMSLOT_CHANGE_MOVE && moves == 1) {
			ops[k].set = region_of(&c[i].new_slot);
			ops[k++].undo = region_of(&c[i].old_slot);
		} else if (c[i].op == GPC_MEMSLOT_CHANGE_FLAGS &&
			   ro_toggles(&c[i])) {
			k = op_delete(ops, k, &c[i].old_slot);
			k = op_create(ops, k, &c[i].new_slot);
		}
	}
	/* 3: fill in. */
	for (i = 0; i < n; i++)
		if (c[i].op == GPC_MEMSLOT_CHANGE_ADD ||
		    c[i].op == GPC_MEMSLOT_CHANGE_REPLACE ||
		    (c[i].op == GPC_MEMSLOT_CHANGE_MOVE && moves > 1))
			k = op_create(ops, k, &c[i].new_slot);
	return k;
}
