/* SPDX-License-Identifier: MIT */
/*
 * gpc/hostmem.h - the host memory stage (stage 2: HVA -> page -> accessor
 * pointer) and the guest RAM it works on.
 *
 * A stage is a table of operations (struct gpc_hostmem_ops). Refresh calls
 * translate() to learn which page backs a range (faulting it in), then map()
 * to get a pointer through which the accessor reaches it ("khva"), and
 * eventually unmap() once no reader can hold the pointer any more.
 *
 * Stages shipped:
 *  - direct: the accessor is this process, so khva = hva; the page identity
 *    ("pfn") comes from /proc/self/pagemap where permitted, else it is a
 *    stable token derived from the backing object;
 *  - alias: khva is a separate shared mapping of the backing memfd at the
 *    page's offset, the userspace counterpart of the kernel's kmap/memremap,
 *    and what a backend in another process needs;
 *  - test (testing/gpc_testing.h, built for the tests, not installed):
 *    wraps another stage with counters, fault injection and a hook at
 *    every step.
 *
 * Guest RAM is allocated from a struct gpc_hostmem: memfd-backed shared
 * mappings whose backing (memfd, offset) the alias stage can look up. The
 * change helpers below alter host memory and notify one vm around it
 * (range_start before, range_end after), as a Linux MMU notifier would.
 */
#ifndef GPC_HOSTMEM_H
#define GPC_HOSTMEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct gpc_vm;
struct gpc_hostmem;

struct gpc_hostmem_ops {
	const char *name;
	/*
	 * Which page backs [hva, hva + len)? Faults the range in (for write
	 * if @write). A multi-page range must be contiguous in the backing
	 * object. *pfn receives the identity of the first page.
	 * Return: 0; -EFAULT if not mapped or not accessible as asked;
	 * -EINVAL if the pages are not contiguous in the host, or for a NULL
	 * @pfn, a zero @len or (alias) a NULL @ctx; -ENOMEM.
	 * Context: may sleep.
	 */
	int (*translate)(void *ctx, uint64_t hva, size_t len, bool write,
			 uint64_t *pfn);
	/*
	 * A pointer through which the accessor reaches [hva, hva + len),
	 * which translate() found backed by @pfn.
	 * Return: 0; -EFAULT; -ENOMEM. Context: may sleep.
	 */
	int (*map)(void *ctx, uint64_t hva, size_t len, uint64_t pfn,
		   bool write, void **khva);
	/*
	 * Undo map(). Called only once no reader can use @khva.
	 * Context: may sleep.
	 */
	void (*unmap)(void *ctx, void *khva, size_t len);
};

/* The direct stage; its context is the struct gpc_hostmem (or NULL). */
extern const struct gpc_hostmem_ops gpc_hostmem_direct_ops;
/* The alias stage; its context must be the struct gpc_hostmem. */
extern const struct gpc_hostmem_ops gpc_hostmem_alias_ops;

/**
 * gpc_hostmem_create - a manager of memfd-backed guest RAM.
 *
 * Return: 0; -EINVAL for NULL @out; -ENOMEM.
 * Context: may sleep.
 */
int gpc_hostmem_create(struct gpc_hostmem **out);

/**
 * gpc_hostmem_destroy - unmap every region and free the manager.
 *
 * Return: 0; -EINVAL for NULL.
 * Context: may sleep.
 */
int gpc_hostmem_destroy(struct gpc_hostmem *hm);

/**
 * gpc_hostmem_alloc - map @size bytes of zeroed shared memory (a memfd).
 * @hva: receives the address; page aligned.
 *
 * Return: 0; -EINVAL (NULL, zero or unaligned size); -ENOMEM.
 * Context: may sleep.
 */
int gpc_hostmem_alloc(struct gpc_hostmem *hm, size_t size, void **hva);

/**
 * gpc_hostmem_free - unmap a whole region returned by gpc_hostmem_alloc().
 *
 * No notification: the caller makes sure no cache uses it (or uses
 * gpc_hostmem_unmap() first).
 * Return: 0; -EINVAL if @hva/@size is not exactly one region.
 * Context: may sleep.
 */
int gpc_hostmem_free(struct gpc_hostmem *hm, void *hva, size_t size);

/**
 * gpc_hostmem_backing - which memfd and offset back @hva.
 *
 * @fd belongs to the manager and stays valid until the backing of @hva
 * changes.
 * Return: 0; -EINVAL if an argument is NULL; -EFAULT if @hva is in no
 * region (or was unmapped).
 * Context: may sleep briefly (takes the manager's lock).
 */
int gpc_hostmem_backing(struct gpc_hostmem *hm, uint64_t hva, int *fd,
			uint64_t *offset);

/*
 * Change helpers. Each one runs range_start(vm, range, blocking), changes
 * the host mapping, then range_end. @vm may be NULL (no notification).
 * All take page-aligned ranges that lie within one region of @hm.
 * Return: 0; -EINVAL (unaligned, empty, outside @hm's regions or across
 * two); -EFAULT (migrate: a hole in the range); -ENOMEM (protect: a hole in
 * the range); the system call's negative errno; never -EAGAIN (they block).
 * Context: may sleep.
 */

/*
 * gpc_hostmem_unmap - make the range inaccessible: the mapping is replaced by a PROT_NONE
 * reservation (so the address space stays the region's and no unrelated
 * mmap can land in the hole); later accesses fault, translate returns
 * -EFAULT. gpc_hostmem_remap() brings fresh memory back.
 */
int gpc_hostmem_unmap(struct gpc_vm *vm, struct gpc_hostmem *hm, uint64_t hva,
		      size_t len);
/*
 * gpc_hostmem_remap - map fresh zeroed memory (a new memfd) over the range.
 * Return and errors: see above. Context: may sleep.
 */
int gpc_hostmem_remap(struct gpc_vm *vm, struct gpc_hostmem *hm, uint64_t hva,
		      size_t len);
/*
 * gpc_hostmem_discard - give the pages back (FALLOC_FL_PUNCH_HOLE); they
 * read as zero after. Return and errors: see above. Context: may sleep.
 */
int gpc_hostmem_discard(struct gpc_vm *vm, struct gpc_hostmem *hm, uint64_t hva,
			size_t len);
/*
 * gpc_hostmem_migrate - copy the range to new backing and map that in place:
 * same content, different pages. Return and errors: see above.
 * Context: may sleep.
 */
int gpc_hostmem_migrate(struct gpc_vm *vm, struct gpc_hostmem *hm, uint64_t hva,
			size_t len);
/*
 * gpc_hostmem_protect - mprotect the range (PROT_NONE, PROT_READ or
 * PROT_READ|PROT_WRITE; anything else is -EINVAL). Return and errors: see
 * above. Context: may sleep.
 */
int gpc_hostmem_protect(struct gpc_vm *vm, struct gpc_hostmem *hm, uint64_t hva,
			size_t len, int prot);

#ifdef __cplusplus
}
#endif

#endif /* GPC_HOSTMEM_H */
