/* SPDX-License-Identifier: MIT */
/*
 * gpc/hostmem.h - the host memory stage (stage 2: HVA -> page -> accessor
 * pointer) and the guest RAM it works on.
 *
 * Memory you own (the primary path). A VMM or back-end normally maps guest
 * RAM itself (mmap of a memfd, hugetlbfs file, shared memory it received,
 * or anonymous memory) and gives the addresses to memslots. The direct
 * stage (the default of gpc_vm_create()) then works on that memory as it
 * is: khva = hva, nothing is mapped again, and no struct gpc_hostmem is
 * needed. The one rule is the unmap order. Before the memory under a
 * memslot or a cache goes away or changes (munmap, mmap MAP_FIXED over it,
 * fallocate(PUNCH_HOLE), mprotect to less access):
 *
 *   1. gpc_memslot_delete() the slot (if it goes for good), so that no new
 *      activation or refresh finds it;
 *   2. gpc_invalidate_range_start(vm, hva, hva + len, 0) (flags 0: the
 *      blocking form), and wait for it to return 0: from then on no cache
 *      hands out a pointer into the range and no reader or vCPU still uses
 *      one (with GPC_INVAL_NONBLOCK, only a return of 0 means that);
 *   3. munmap() (or change the mapping);
 *   4. gpc_invalidate_range_end(vm, hva, hva + len).
 *
 * Step 2 is what covers every cache: GPA- and HVA-mode, both read-side
 * schemes, guest usage. gpc_memslot_delete() alone waits a grace period of
 * the vm's SRCU domain, which is enough only for GPA-mode host-usage
 * caches of the srcu scheme; it does not wait for rwlock-scheme readers
 * (they hold the cache's lock, not a section), for HVA-mode caches (they
 * ignore memslots) or for vCPUs in guest mode. Unmapping before step 2
 * returns lets a reader touch the unmapped page (SIGSEGV) or, worse, a new
 * mapping at the same address.
 *
 * What each stage needs of a range a cache activates:
 *  - direct: every page of [hva, hva + len) mapped and accessible as asked
 *    (readable; writable for a writable cache). Nothing else: khva = hva,
 *    so the accessor reaches the range through the same contiguous virtual
 *    addresses whatever backs each page. Pages of two memfds, of one
 *    memfd at offsets in any order, anonymous memory, hugetlbfs and
 *    THP-backed memory all work. The stage works in base pages
 *    (sysconf(_SC_PAGESIZE)) of the hva: it faults in each base page
 *    (MADV_POPULATE_READ/WRITE), and the page identity ("pfn") is that of
 *    the base page at the start of the range (inside a huge page, that
 *    base-size subpage's PFN from pagemap, or a token where pagemap shows
 *    none).
 *  - alias: the range must lie in regions of the struct gpc_hostmem (made
 *    by gpc_hostmem_alloc() or gpc_hostmem_import()) and its pages must be
 *    consecutive in one file (else -EINVAL): the alias is one mmap() of that
 *    file. The window it maps is aligned to the file's page size: the
 *    hugetlbfs page size (fstatfs() f_bsize, e.g. 2 MiB for MFD_HUGE_2MB)
 *    for a hugetlbfs file, the base page for anything else, shmem with
 *    transparent huge pages included (the pages are the same; the window
 *    may be mapped with base-page entries).
 *  - test (testing/gpc_testing.h, built for the tests, not installed):
 *    wraps another stage with counters, fault injection and a hook at
 *    every step.
 *
 * A stage is a table of operations (struct gpc_hostmem_ops). Refresh calls
 * translate() to learn which page backs a range (faulting it in), then map()
 * to get a pointer through which the accessor reaches it ("khva"), and
 * eventually unmap() once no reader can hold the pointer any more.
 *
 * A struct gpc_hostmem is a registry of memfd-backed shared mappings whose
 * backing (file, offset) the alias stage can look up: regions it allocates
 * (gpc_hostmem_alloc) or imports from a descriptor the caller has
 * (gpc_hostmem_import, what a vhost-user back-end does with the fds of
 * SET_MEM_TABLE / ADD_MEM_REG). The change helpers below alter such
 * memory and notify one vm around it (range_start before, range_end after),
 * as a Linux MMU notifier would.
 *
 * Retired copies: only the test build (gpc_testing) keeps the pages that a
 * remap or migrate replaces, for gpc_hostmem_retired_page(); the installed
 * library drops them when the change returns (migrating N bytes needs N
 * bytes of new memory; the old N bytes are freed as soon as nothing maps
 * them, i.e. once alias-stage caches have unmapped their old windows, a
 * grace period after the invalidation).
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

/*
 * A host memory stage. translate and map must be set (gpc_vm_create()
 * returns -EINVAL for a table without them); unmap may be NULL when there
 * is nothing to undo.
 */
struct gpc_hostmem_ops {
	const char *name;
	/*
	 * Which page backs [hva, hva + len)? Faults the range in (for write
	 * if @write). *pfn receives the identity of the first page. What a
	 * multi-page range needs is the stage's own rule (see above: direct,
	 * mapped and accessible; alias, consecutive in one file).
	 * Return: 0; -EFAULT if not mapped or not accessible as asked (alias:
	 * also a page outside @ctx's regions, or a hole in one);
	 * -EINVAL for a NULL @pfn, a zero @len, (alias) a NULL @ctx or pages
	 * not consecutive in one file of @ctx; -ENOMEM.
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

/*
 * The direct stage; its context is NULL (any memory of this process: what
 * memory you own needs) or a struct gpc_hostmem, used only for page
 * identities of its regions when pagemap gives none.
 */
extern const struct gpc_hostmem_ops gpc_hostmem_direct_ops;
/*
 * The alias stage; its context must be the struct gpc_hostmem, which must
 * outlive every vm that uses it (its caches' windows are unmapped through
 * it).
 */
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
 * @hm is freed: any later use of it, a second destroy included, is
 * undefined (the destroy rule of gpc/vm.h).
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

/* Flags of gpc_hostmem_import(). */
/* madvise(MADV_HUGEPAGE) the new mapping: shmem THP in "advise" mode. */
#define GPC_HOSTMEM_HUGEPAGE (1u << 0)

/**
 * gpc_hostmem_import - map memory the caller identifies by a descriptor.
 * @fd: a file that can be mapped shared and read-write: a memfd (also with
 *	MFD_HUGETLB), a hugetlbfs or tmpfs file, shared memory received from
 *	another process (vhost-user SET_MEM_TABLE / ADD_MEM_REG).
 * @offset: where the memory starts in @fd (vhost-user's mmap_offset).
 * @size: how many bytes.
 * @flags: 0 or GPC_HOSTMEM_HUGEPAGE.
 * @hva: receives the address of a new MAP_SHARED mapping of
 *	[@offset, @offset + @size) of @fd.
 *
 * The manager keeps its own duplicate of @fd (F_DUPFD_CLOEXEC) for as long
 * as any page of the region is backed by it: the caller's @fd stays the
 * caller's, and it may close it as soon as this returns. The region then
 * behaves like one from gpc_hostmem_alloc(): memslots may point into it,
 * both stages serve it (the alias stage maps windows of @fd itself), the
 * change helpers work on it, gpc_hostmem_free() releases it.
 *
 * @offset and @size must be multiples of @fd's page size (the hugetlbfs
 * page size, else the base page). A vhost-user region whose mmap_offset is
 * not aligned is imported from offset 0 with size mmap_offset + size, and
 * used from *@hva + mmap_offset.
 *
 * Others may keep writing to the memory through their own mappings (that
 * is the point of shared memory); what must not happen while the region
 * exists is @fd shrinking below @offset + @size (the pages behind it would
 * raise SIGBUS in every accessor, as for any mapping). Before the owner of
 * the memory takes it away, the caller follows the unmap order above
 * (delete the memslots or invalidate, then gpc_hostmem_free()).
 *
 * Return: 0; -EINVAL for a NULL @hm or @hva, a zero @size, an unknown flag,
 * or an @offset or @size that is not a multiple of @fd's page size; -EBADF
 * if @fd is not an open descriptor; -ENODEV if it is not a regular file
 * that can be mapped shared read-write (a pipe, a socket, a read-only
 * descriptor); -ENXIO if @offset + @size is beyond its size; -EMFILE if no
 * descriptor is left for the duplicate; -ENOMEM.
 * Context: may sleep.
 */
int gpc_hostmem_import(struct gpc_hostmem *hm, int fd, uint64_t offset,
		       size_t size, unsigned int flags, void **hva);

/**
 * gpc_hostmem_free - unmap a whole region returned by gpc_hostmem_alloc()
 * or gpc_hostmem_import().
 *
 * No notification: the caller makes sure no cache uses it (delete its
 * memslots, or use gpc_hostmem_unmap() first). For an imported region this
 * closes the manager's duplicates of the descriptor; the caller's own
 * descriptor and the memory behind it are not affected.
 * Return: 0; -EINVAL if @hva/@size is not exactly one region.
 * Context: may sleep.
 */
int gpc_hostmem_free(struct gpc_hostmem *hm, void *hva, size_t size);

/**
 * gpc_hostmem_backing - which memfd and offset back @hva.
 *
 * For an imported region, @fd is the manager's duplicate, not the
 * caller's descriptor. @fd belongs to the manager and stays valid until the backing of @hva
 * changes.
 * Return: 0; -EINVAL if an argument is NULL; -EFAULT if @hva is in no
 * region (or was unmapped).
 * Context: may sleep briefly (takes the manager's lock).
 */
int gpc_hostmem_backing(struct gpc_hostmem *hm, uint64_t hva, int *fd,
			uint64_t *offset);

/*
 * Change helpers: gpc_hostmem_unmap(), _remap(), _discard(), _migrate() and
 * _protect(). Each one runs range_start(@vm, range, blocking), changes the
 * host mapping, then range_end (range_end follows range_start even when
 * the change fails). @vm may be NULL (no notification). All take
 * page-aligned ranges that lie within one region of @hm (for a region
 * imported from hugetlbfs: aligned to its huge page size). A hole is a
 * page that gpc_hostmem_unmap() took away (gpc_hostmem_backing() returns
 * -EFAULT there).
 */

/**
 * gpc_hostmem_unmap - make the range inaccessible.
 * @vm: the vm to notify (range_start/range_end), or NULL for none.
 * @hm: the manager whose region holds the range.
 * @hva: start of the range, aligned to the region's page size.
 * @len: its length, a multiple of that page size.
 *
 * The mapping is replaced by a PROT_NONE reservation (so the address space
 * stays the region's and no unrelated mmap can land in the hole); later
 * accesses fault, translate returns -EFAULT. Unmapping a hole again is
 * fine. gpc_hostmem_remap() brings fresh memory back.
 *
 * Return: 0; -EINVAL if the range is not one the helpers take (NULL @hm,
 * empty, unaligned, not inside one region of @hm: one cause, a bad range;
 * nothing was changed and no invalidation ran); -EBUSY or -EDEADLK from
 * gpc_invalidate_range_start() of @vm (too many invalidations in progress;
 * the caller would wait for itself: inside a read section of @vm's domain,
 * or a vCPU it runs in guest mode) - nothing changed and no invalidation
 * left running; -ENOMEM if memory ran out (a system call's ENOMEM, or the
 * manager's bookkeeping); any other negative errno is the failing system
 * call's; never -EAGAIN (the helpers block). Every return after range_start
 * has run the whole invalidation: range_end follows even when the change
 * fails.
 * Context: may sleep (a blocking range_start).
 */
int gpc_hostmem_unmap(struct gpc_vm *vm, struct gpc_hostmem *hm, uint64_t hva,
		      size_t len);

/**
 * gpc_hostmem_remap - map fresh zeroed memory (a new memfd) over the range.
 * @vm: the vm to notify (range_start/range_end), or NULL for none.
 * @hm: the manager whose region holds the range.
 * @hva: start of the range, aligned to the region's page size.
 * @len: its length, a multiple of that page size.
 *
 * Holes included: afterwards every page of the range is backed and reads
 * as zero.
 *
 * Return: 0; -EINVAL if the range is not one the helpers take (NULL @hm,
 * empty, unaligned, not inside one region of @hm: one cause, a bad range;
 * nothing was changed and no invalidation ran); -EBUSY or -EDEADLK from
 * gpc_invalidate_range_start() of @vm (too many invalidations in progress;
 * the caller would wait for itself: inside a read section of @vm's domain,
 * or a vCPU it runs in guest mode) - nothing changed and no invalidation
 * left running; -ENOMEM if memory ran out (a system call's ENOMEM, or the
 * manager's bookkeeping); any other negative errno is the failing system
 * call's (the old backing is put back); never -EAGAIN (the helpers block).
 * Every return after range_start has run the whole invalidation: range_end
 * follows even when the change fails.
 * Context: may sleep (a blocking range_start).
 */
int gpc_hostmem_remap(struct gpc_vm *vm, struct gpc_hostmem *hm, uint64_t hva,
		      size_t len);

/**
 * gpc_hostmem_discard - give the pages back (FALLOC_FL_PUNCH_HOLE).
 * @vm: the vm to notify (range_start/range_end), or NULL for none.
 * @hm: the manager whose region holds the range.
 * @hva: start of the range, aligned to the region's page size.
 * @len: its length, a multiple of that page size.
 *
 * They read as zero after; the mapping stays. Holes are skipped.
 *
 * Return: 0; -EINVAL if the range is not one the helpers take (NULL @hm,
 * empty, unaligned, not inside one region of @hm: one cause, a bad range;
 * nothing was changed and no invalidation ran); -EBUSY or -EDEADLK from
 * gpc_invalidate_range_start() of @vm (too many invalidations in progress;
 * the caller would wait for itself: inside a read section of @vm's domain,
 * or a vCPU it runs in guest mode) - nothing changed and no invalidation
 * left running; -ENOMEM if memory ran out (a system call's ENOMEM, or the
 * manager's bookkeeping); any other negative errno is the failing system
 * call's (a part of the range may have been discarded); never -EAGAIN (the
 * helpers block). Every return after range_start has run the whole
 * invalidation: range_end follows even when the change fails.
 * Context: may sleep (a blocking range_start).
 */
int gpc_hostmem_discard(struct gpc_vm *vm, struct gpc_hostmem *hm, uint64_t hva,
			size_t len);

/**
 * gpc_hostmem_migrate - copy the range to new backing and map that in place.
 * @vm: the vm to notify (range_start/range_end), or NULL for none.
 * @hm: the manager whose region holds the range.
 * @hva: start of the range, aligned to the region's page size.
 * @len: its length, a multiple of that page size.
 *
 * Same content, different pages (a new page identity for every page).
 *
 * Return: 0; -EINVAL if the range is not one the helpers take (NULL @hm,
 * empty, unaligned, not inside one region of @hm: one cause, a bad range;
 * nothing was changed and no invalidation ran); -EFAULT if the range has a
 * hole (nothing to migrate; nothing changed); -EBUSY or -EDEADLK from
 * gpc_invalidate_range_start() of @vm (too many invalidations in progress;
 * the caller would wait for itself: inside a read section of @vm's domain,
 * or a vCPU it runs in guest mode) - nothing changed and no invalidation
 * left running; -ENOMEM if memory ran out (a system call's ENOMEM, or the
 * manager's bookkeeping); any other negative errno is the failing system
 * call's (the old backing is put back); never -EAGAIN (the helpers block).
 * Every return after range_start has run the whole invalidation: range_end
 * follows even when the change fails.
 * Context: may sleep (a blocking range_start).
 */
int gpc_hostmem_migrate(struct gpc_vm *vm, struct gpc_hostmem *hm, uint64_t hva,
			size_t len);

/**
 * gpc_hostmem_protect - mprotect the range.
 * @vm: the vm to notify (range_start/range_end), or NULL for none.
 * @hm: the manager whose region holds the range.
 * @hva: start of the range, aligned to the region's page size.
 * @len: its length, a multiple of that page size.
 * @prot: PROT_NONE, PROT_READ or PROT_READ | PROT_WRITE.
 *
 * The range keeps its backing; only the access changes.
 *
 * Return: 0; -EINVAL if the range is not one the helpers take (NULL @hm,
 * empty, unaligned, not inside one region of @hm: one cause, a bad range;
 * nothing was changed and no invalidation ran); -EFAULT if the range has a
 * hole (nothing changed: protect checks before mprotect(), whose ENOMEM
 * there would mean two things); -EINVAL also for any other @prot (a property
 * of the arguments, refused before anything runs); -EBUSY or -EDEADLK from
 * gpc_invalidate_range_start() of @vm (too many invalidations in progress;
 * the caller would wait for itself: inside a read section of @vm's domain,
 * or a vCPU it runs in guest mode) - nothing changed and no invalidation
 * left running; -ENOMEM if memory ran out (a system call's ENOMEM, or the
 * manager's bookkeeping); any other negative errno is the failing system
 * call's (a part of the range may have been changed); never -EAGAIN (the
 * helpers block). Every return after range_start has run the whole
 * invalidation: range_end follows even when the change fails.
 * Context: may sleep (a blocking range_start).
 */
int gpc_hostmem_protect(struct gpc_vm *vm, struct gpc_hostmem *hm, uint64_t hva,
			size_t len, int prot);

#ifdef __cplusplus
}
#endif

#endif /* GPC_HOSTMEM_H */
