/* SPDX-License-Identifier: MIT */
/*
 * gpc/translate.h - one-shot translations through the memslot table, inside
 * a read section: guest-physical or user address -> pointer, and back.
 *
 * For code that does not keep a cache per address: a vhost-user back-end
 * resolving the buffers of a descriptor chain (guest-physical addresses) or
 * the rings of SET_VRING_ADDR (front-end virtual addresses: a slot's user
 * address, struct gpc_memslot_desc.uaddr), a device model copying a packet.
 * Each call is one lookup in the table that is current when it runs, with
 * no lock, no system call and no shared write.
 *
 * The pointer handed out is the slot's stage-1 host address (its hva plus
 * the offset): the caller's own mapping, not an alias, so the caller may
 * access it only if the slot's hva is mapped in this process (the direct
 * stage, or a back-end that mapped the regions it was given). It stays
 * valid until the read section that the translation was made in ends: a
 * memslot change that removes or moves the slot waits for that section
 * before it returns, and the caller unmaps the memory only after that
 * (gpc/memslot.h). The pattern:
 *
 *	struct gpc_srcu *d = gpc_vm_srcu(vm);
 *	uint64_t len = desc_len;
 *	void *p;
 *
 *	gpc_srcu_read_lock(d);
 *	int err = gpc_translate_gpa(vm, desc_addr, &len, GPC_TRANSLATE_WRITE,
 *				    &p);
 *	if (!err && len == desc_len)
 *		memcpy(p, data, len);          // access inside the section
 *	gpc_srcu_read_unlock(d);               // p is dead from here on
 *
 * Never keep the pointer past the section: translate again in the next one
 * (or use a struct gpc_cache, gpc/cache.h, for an address used again and
 * again). A miss (-ENOENT) means "no slot there in the table current now":
 * the address is bad, or the table is being changed by the front-end (a
 * region removed before its replacement is added). Either fail the request
 * or retry it after the change (a vhost-user back-end handles the memory
 * messages and the ring on different threads: retry when the table's
 * generation, gpc_memslot_generation(), has moved).
 *
 * The translation uses the vm's SRCU domain whatever the vm's read-side
 * scheme (GPC_SCHEME_SRCU or GPC_SCHEME_RWLOCK): the memslot table is
 * always published through it. A caller outside a section of that domain
 * gets -EPERM. Sections of the domain may be long (a whole request); they
 * only delay memslot changes and invalidations of the vm.
 *
 * User addresses are unique: gpc_memslot_add() refuses a slot whose user
 * range overlaps another slot's with -ENOTUNIQ (nothing changes). Host
 * ranges may overlap (two slots aliasing one mapping); see
 * gpc_translate_hva_gpa() for which slot a reverse lookup returns then.
 *
 * Host-memory invalidations (gpc/invalidate.h) are not seen by these calls:
 * they read the memslot table only. A caller that changes the memory behind
 * a slot without a memslot change (remaps it, punches a hole) must make sure
 * by itself that no translation made before is still in use; the
 * invalidation's grace period does that for sections of the vm's domain.
 *
 * Every call here: any context, async-signal-safe, never blocks, never
 * allocates.
 */
#ifndef GPC_TRANSLATE_H
#define GPC_TRANSLATE_H

#include <stdint.h>

#include <gpc/memslot.h>

#ifdef __cplusplus
extern "C" {
#endif

struct gpc_vm;
struct iovec; /* <sys/uio.h> */

/*
 * The caller will write through the translation: a GPC_MEMSLOT_READONLY
 * slot is refused (-EROFS), and on a slot with GPC_MEMSLOT_LOG_DIRTY the
 * pages of the translated range are marked dirty when the call returns, so
 * the write must happen inside the same read section (a dirty-log harvest
 * waits for the sections that may still write what they marked).
 */
#define GPC_TRANSLATE_WRITE	(1u << 0)
#define GPC_TRANSLATE_FLAGS_ALL GPC_TRANSLATE_WRITE

/**
 * gpc_translate_gpa - guest-physical address -> pointer and contiguous length.
 * @vm: the vm.
 * @gpa: the guest-physical address.
 * @len: in: bytes wanted (0 is allowed: only @gpa is translated); out: the
 *       bytes from @gpa that lie in the same slot, at most the bytes wanted
 *       (shorter at the slot's end: translate gpa + *len next, or use
 *       gpc_translate_gpa_iov()). Unchanged on error.
 * @flags: 0 or GPC_TRANSLATE_WRITE.
 * @ptr: receives the slot's hva + (gpa - slot gpa), valid until the read
 *       section ends. Unchanged on error.
 *
 * Return: 0;
 * -EINVAL if @vm, @len or @ptr is NULL or @flags has an undefined bit;
 * -EPERM if the calling thread is not inside a read section of
 * gpc_vm_srcu(@vm);
 * -EOVERFLOW if @gpa + *@len is beyond 2^64;
 * -ENOENT if no slot of the current table contains @gpa;
 * -EROFS if @flags has GPC_TRANSLATE_WRITE and the slot is
 * GPC_MEMSLOT_READONLY.
 * Context: any context, async-signal-safe, never blocks; inside a read
 * section of gpc_vm_srcu(@vm).
 */
int gpc_translate_gpa(struct gpc_vm *vm, uint64_t gpa, uint64_t *len,
		      unsigned int flags, void **ptr);

/**
 * gpc_translate_gpa_iov - [gpa, gpa + len) -> host pieces, across slots.
 * @len: bytes to translate; 0 fills nothing and returns 0.
 * @flags: 0 or GPC_TRANSLATE_WRITE (checked and logged slot by slot).
 * @iov: receives the pieces in address order; a piece ends where a slot
 *       ends unless the next slot continues it in host memory too (then the
 *       two make one piece).
 * @niov: entries of @iov.
 * @done: if not NULL, receives the bytes translated, on success (@len) and
 *        on error (those before the failing address, covered by the first
 *        entries of @iov, which are filled).
 *
 * Return: the number of entries filled (0 only for @len 0);
 * -EINVAL if @vm is NULL, @iov is NULL with @niov > 0, or @flags has an
 * undefined bit;
 * -EPERM if not inside a read section of gpc_vm_srcu(@vm);
 * -EOVERFLOW if @gpa + @len is beyond 2^64;
 * -ENOBUFS if the range needs more than @niov entries (all @niov are
 * filled; *@done says how far they reach; continue from gpa + *@done);
 * -ENOENT if gpa + *@done lies in no slot (a hole);
 * -EROFS if @flags has GPC_TRANSLATE_WRITE and the slot at gpa + *@done
 * is GPC_MEMSLOT_READONLY.
 * On a write translation that fails, the pages of the part translated are
 * marked dirty all the same (a page marked and not written costs a copy,
 * never a lost write).
 * Context: any context, async-signal-safe, never blocks; inside a read
 * section of gpc_vm_srcu(@vm).
 */
int gpc_translate_gpa_iov(struct gpc_vm *vm, uint64_t gpa, uint64_t len,
			  unsigned int flags, struct iovec *iov,
			  unsigned int niov, uint64_t *done);

/**
 * gpc_translate_uaddr - user address -> pointer and contiguous length.
 * @uaddr: an address in the slots' user address space (the uaddr given to
 *         gpc_memslot_add(); slots without one are never found).
 * @len, @flags, @ptr: as gpc_translate_gpa(); the length stops at the end
 *                     of the slot.
 *
 * Return: as gpc_translate_gpa(), with -ENOENT when no slot's user range
 * contains @uaddr, and -EOVERFLOW when @uaddr + *@len is beyond 2^64.
 * Context: any context, async-signal-safe, never blocks; inside a read
 * section of gpc_vm_srcu(@vm).
 */
int gpc_translate_uaddr(struct gpc_vm *vm, uint64_t uaddr, uint64_t *len,
			unsigned int flags, void **ptr);

/**
 * gpc_translate_uaddr_iov - [uaddr, uaddr + len) -> host pieces, across
 * slots whose user ranges are adjacent.
 *
 * Return: as gpc_translate_gpa_iov(), in user addresses (-ENOENT: no
 * slot's user range contains uaddr + *@done).
 * Context: any context, async-signal-safe, never blocks; inside a read
 * section of gpc_vm_srcu(@vm).
 */
int gpc_translate_uaddr_iov(struct gpc_vm *vm, uint64_t uaddr, uint64_t len,
			    unsigned int flags, struct iovec *iov,
			    unsigned int niov, uint64_t *done);

/**
 * gpc_translate_uaddr_gpa - user address -> guest-physical address.
 * @gpa: receives the guest-physical address of @uaddr.
 * @slot: if not NULL, receives the slot (with the table's generation).
 *
 * For a vhost-user back-end: the ring addresses of SET_VRING_ADDR are user
 * addresses, the dirty log is indexed by guest-physical address.
 *
 * Return: 0; -EINVAL if @vm or @gpa is NULL; -EPERM if not inside a read
 * section of gpc_vm_srcu(@vm); -ENOENT if no slot's user range contains
 * @uaddr.
 * Context: any context, async-signal-safe, never blocks; inside a read
 * section of gpc_vm_srcu(@vm).
 */
int gpc_translate_uaddr_gpa(struct gpc_vm *vm, uint64_t uaddr, uint64_t *gpa,
			    struct gpc_memslot_desc *slot);

/**
 * gpc_translate_hva_gpa - host address in a slot -> guest-physical address.
 * @hva: a host address (a pointer a translation returned, or any address
 *       in some slot's [hva, hva + size)).
 * @gpa: receives the guest-physical address.
 * @slot: if not NULL, receives the slot (with the table's generation).
 *
 * Slots may share host memory (two guest-physical ranges aliasing one
 * mapping). Then the answer is the slot with the lowest guest-physical
 * base among those whose host range contains @hva, and the guest-physical
 * address in it: the same answer for the same table, whatever the order
 * the slots were added in.
 *
 * Return: 0; -EINVAL if @vm or @gpa is NULL; -EPERM if not inside a read
 * section of gpc_vm_srcu(@vm); -ENOENT if no slot's host range contains
 * @hva.
 * Context: any context, async-signal-safe, never blocks; inside a read
 * section of gpc_vm_srcu(@vm).
 */
int gpc_translate_hva_gpa(struct gpc_vm *vm, const void *hva, uint64_t *gpa,
			  struct gpc_memslot_desc *slot);

/**
 * gpc_translate_gpa_slot - the slot that contains @gpa, as a descriptor.
 * @slot: receives the slot, user address included, and the generation of
 *        the table it was found in.
 *
 * gpc_memslot_lookup() for a caller already inside a section, with the
 * 0.2 descriptor (user address) instead of struct gpc_memslot_info.
 *
 * Return: 0; -EINVAL if @vm or @slot is NULL; -EPERM if not inside a read
 * section of gpc_vm_srcu(@vm); -ENOENT if no slot contains @gpa.
 * Context: any context, async-signal-safe, never blocks; inside a read
 * section of gpc_vm_srcu(@vm).
 */
int gpc_translate_gpa_slot(struct gpc_vm *vm, uint64_t gpa,
			   struct gpc_memslot_desc *slot);

#ifdef __cplusplus
}
#endif

#endif /* GPC_TRANSLATE_H */
