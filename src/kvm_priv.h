/* SPDX-License-Identifier: MIT */
/*
 * kvm_priv.h - how the KVM binding mirrors a memslot commit (kvm_plan.c);
 * not installed. Separate from kvm.c, and built without <linux/kvm.h>, so
 * that tests check the order against a fake KVM where there is no
 * /dev/kvm.
 */
#ifndef GPC_KVM_PRIV_H
#define GPC_KVM_PRIV_H

#include <stdint.h>

#include <gpc/memslot.h>

/* One KVM_SET_USER_MEMORY_REGION: @size 0 deletes slot @id. */
struct gpci_kvm_region {
	uint32_t id;
	uint32_t flags; /* GPC_MEMSLOT_* (only READONLY reaches KVM) */
	uint64_t gpa, size, hva;
};

/* A step of a plan and the step that undoes it. */
struct gpci_kvm_op {
	struct gpci_kvm_region set, undo;
};

/*
 * The KVM calls that take KVM from the table before the commit of
 * @c[0..@n) to the table after, into @ops (room for 2 * @n), in an order
 * KVM accepts (it refuses a region that overlaps another, and an in-place
 * change of size, hva or KVM_MEM_READONLY):
 *  1. deletes: deleted and replaced slots, and every moved slot when a
 *     commit moves more than one (moves among themselves could collide);
 *  2. in-place changes: the single move of a commit that moves one slot,
 *     and flag changes that toggle READONLY (a delete and a create of the
 *     same range);
 *  3. creates: added and replaced slots, and the moved ones of phase 1.
 * After phase 1 KVM holds a subset of the new table plus at most the old
 * range of the one slot that moves in place, so nothing a later step adds
 * can overlap. Flag changes that do not reach KVM make no call. Returns
 * the number of steps. Context: any context.
 */
unsigned int gpci_kvm_plan(const struct gpc_memslot_change *c, unsigned int n,
			   struct gpci_kvm_op *ops);

#endif /* GPC_KVM_PRIV_H */
