/* SPDX-License-Identifier: MIT */
/*
 * gpc/memslot.h - the guest-physical memory map of a vm (stage 1).
 *
 * A memslot maps [gpa, gpa + size) of guest-physical space to
 * [hva, hva + size) of this process. Slots never overlap. The table is an
 * immutable sorted array with a hash index by guest-physical chunk,
 * published through the vm's SRCU domain: readers find a slot in constant
 * expected time, whatever the number and sizes of the slots (with a
 * per-thread last-hit shortcut), without locks and without writing shared
 * memory; writers build a new table, index included, publish it, bump the
 * generation and wait a grace period so that when a change returns, no SRCU
 * reader still uses the old layout. rwlock-scheme readers and vCPUs in guest mode are not waited for
 * (docs/design.md, "Memslot changes"): a VMM that needs that brackets the
 * change with an invalidation of the slot's host range, which waits for
 * both.
 *
 * Every change bumps the table's generation, which caches in GPA mode
 * compare against on every check.
 */
#ifndef GPC_MEMSLOT_H
#define GPC_MEMSLOT_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct gpc_vm;

#define GPC_MEMSLOTS_MAX 32764

/* The slot may only be read through; writable caches on it fail refresh. */
#define GPC_MEMSLOT_READONLY  (1u << 0)
/* Pages written through the library are logged (gpc/dirty.h). */
#define GPC_MEMSLOT_LOG_DIRTY (1u << 1)
#define GPC_MEMSLOT_FLAGS_ALL (GPC_MEMSLOT_READONLY | GPC_MEMSLOT_LOG_DIRTY)

struct gpc_memslot_info {
	uint32_t id;
	uint32_t flags;
	uint64_t gpa;
	uint64_t size;
	uint64_t hva;
	uint64_t generation; /* of the table the slot was found in */
};

/*
 * A slot as the calls of release 0.2 take and give it (struct
 * gpc_memslot_info stays as release 0.1 defined it). @uaddr is a second
 * address of the slot's memory chosen by the caller, for example the
 * front-end's virtual address of a vhost-user region; 0 means none.
 */
struct gpc_memslot_desc {
	uint32_t id;
	uint32_t flags;
	uint64_t gpa;
	uint64_t size;
	uint64_t hva;
	uint64_t uaddr;
	uint64_t generation;  /* filled in by the calls that return a slot */
	uint64_t reserved[2]; /* zero */
};

/*
 * A hook a vm binding (for example to a KVM VM) installs to mirror changes.
 * It is called with the memslot lock held, after validation and before the
 * new table is published; an error aborts the change. @old or @new is NULL
 * for a create or a delete. The hook must not call the gpc_memslot_* writers
 * (the lock is held); readers are fine and see the old table.
 */
typedef int gpc_memslot_mirror_fn(void *ctx, const struct gpc_memslot_info *old,
				  const struct gpc_memslot_info *new_slot);

/**
 * gpc_memslot_create - add a slot.
 * @id: slot id, below the vm's max_memslots.
 * @gpa, @size, @hva: page-aligned; @size nonzero.
 * @flags: GPC_MEMSLOT_* flags.
 *
 * Return: 0; -EINVAL for a NULL vm, an id out of range, unaligned or zero
 * values, address overflow or unknown flags; -EEXIST if @id is in use or the
 * range overlaps another slot; -ENOMEM; the mirror hook's error; -EDEADLK
 * if called inside a read section of the vm's domain (gpc_vm_srcu()), which
 * the change would have to wait for.
 * Context: may sleep (waits a grace period of the vm's domain).
 */
int gpc_memslot_create(struct gpc_vm *vm, uint32_t id, uint64_t gpa,
		       uint64_t size, uint64_t hva, uint32_t flags);

/**
 * gpc_memslot_add - add the slot @d describes, with its user address.
 * @d: id, flags, gpa, size, hva as for gpc_memslot_create(); @d->uaddr
 *     page aligned (or 0: none); generation and reserved are ignored.
 *
 * Return: as gpc_memslot_create().
 * Context: may sleep (waits a grace period of the vm's domain).
 */
int gpc_memslot_add(struct gpc_vm *vm, const struct gpc_memslot_desc *d);

/**
 * gpc_memslot_delete - remove slot @id.
 *
 * Return: 0; -EINVAL for a NULL vm; -ENOENT if no slot has @id; -ENOMEM;
 * -EDEADLK inside a read section of the vm's domain.
 * Context: may sleep.
 */
int gpc_memslot_delete(struct gpc_vm *vm, uint32_t id);

/**
 * gpc_memslot_move - give slot @id a new guest-physical base (same size, hva).
 *
 * Return: 0; -EINVAL (NULL vm, unaligned gpa, overflow); -ENOENT;
 * -EEXIST if the new range overlaps another slot; -ENOMEM; -EDEADLK inside
 * a read section of the vm's domain.
 * Context: may sleep.
 */
int gpc_memslot_move(struct gpc_vm *vm, uint32_t id, uint64_t new_gpa);

/**
 * gpc_memslot_set_flags - change the flags of slot @id.
 *
 * Return: 0; -EINVAL (NULL vm or unknown flags); -ENOENT; -ENOMEM;
 * -EDEADLK inside a read section of the vm's domain.
 * Context: may sleep.
 */
int gpc_memslot_set_flags(struct gpc_vm *vm, uint32_t id, uint32_t flags);

/**
 * gpc_memslot_lookup - find the slot that contains @gpa.
 * @out: receives a copy of the slot and the table generation.
 *
 * Return: 0; -EINVAL if an argument is NULL; -ENOENT if no slot contains it.
 * Context: any context, async-signal-safe (enters the vm's read section).
 */
int gpc_memslot_lookup(struct gpc_vm *vm, uint64_t gpa,
		       struct gpc_memslot_info *out);

/**
 * gpc_memslot_get - copy slot @id.
 *
 * Return: 0; -EINVAL; -ENOENT.
 * Context: any context, async-signal-safe.
 */
int gpc_memslot_get(struct gpc_vm *vm, uint32_t id,
		    struct gpc_memslot_info *out);

/**
 * gpc_memslot_generation - the current table generation.
 *
 * Context: any context.
 */
uint64_t gpc_memslot_generation(struct gpc_vm *vm);

/**
 * gpc_memslot_count - number of slots in the current table.
 *
 * Context: any context.
 */
unsigned int gpc_memslot_count(struct gpc_vm *vm);

/**
 * gpc_memslot_set_mirror - install the mirror hook (NULL removes it).
 *
 * Return: 0; -EINVAL for a NULL vm.
 * Context: may sleep (takes the memslot lock).
 */
int gpc_memslot_set_mirror(struct gpc_vm *vm, gpc_memslot_mirror_fn *fn,
			   void *ctx);

#ifdef __cplusplus
}
#endif

#endif /* GPC_MEMSLOT_H */
