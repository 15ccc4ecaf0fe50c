// SPDX-License-Identifier: MIT
/*
 * hostmem_change.c - the change helpers: alter the host memory of a region
 * (unmap, remap, discard, migrate, protect) inside an invalidation bracket
 * (range_start before, range_end after), as a Linux MMU notifier would.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>
#include <linux/falloc.h>

#include <gpc/invalidate.h>

#include "hostmem_priv.h"

/* ---- change helpers ------------------------------------------------------ */

/* A change of [hva, hva + len) inside region @r, under hm->lock. */
typedef int change_fn(struct gpc_hostmem *hm, struct hm_region *r, uint64_t hva,
		      uint64_t len, int arg);

/*
 * A region imported from hugetlbfs changes in whole huge pages: the kernel
 * splits or punches its mappings only there (the region starts on one).
 */
static int check_range(struct gpc_hostmem *hm, uint64_t hva, size_t len)
{
	struct hm_region *r;
	int err = 0;

	if (!hm || !len || !gpci_hm_base_aligned(hva) ||
	    !gpci_hm_base_aligned(len) || hva + len < hva)
		return -EINVAL;
	pthread_mutex_lock(&hm->lock);
	r = gpci_hm_region_of_range(hm, hva, len);
	if (!r || !gpci_hm_aligned(hva - r->hva, r->pgsize) ||
	    !gpci_hm_aligned(len, r->pgsize))
		err = -EINVAL;
	pthread_mutex_unlock(&hm->lock);
	return err;
}

/*
 * range_start, the change, range_end: the notifier bracket. The range is
 * checked again under the lock, since it was dropped for range_start; a
 * failed change still ends the invalidation it started.
 */
static int change(struct gpc_vm *vm, struct gpc_hostmem *hm, uint64_t hva,
		  size_t len, change_fn *fn, int arg)
{
	struct hm_region *r;
	int err = check_range(hm, hva, len);

	if (err)
		return err;
	if (vm) {
		err = gpc_invalidate_range_start(vm, hva, hva + len, 0);
		if (err)
			return err;
	}
	pthread_mutex_lock(&hm->lock);
	r = gpci_hm_region_of_range(hm, hva, len);
	err = r ? fn(hm, r, hva, len, arg) : -EINVAL;
	if (r)
		gpci_hm_ext_merge(r);
	pthread_mutex_unlock(&hm->lock);
	if (vm)
		gpc_invalidate_range_end(vm, hva, hva + len);
	return err;
}

/*
 * "Unmap" by putting an inaccessible reservation in place of the mapping
 * (one atomic MAP_FIXED): the old pages are unmapped and accesses fault
 * just as after munmap(), but no unrelated mmap() can land in the hole
 * while the region exists, so the registry stays disjoint and a later
 * remap can use MAP_FIXED there without clobbering someone else.
 */
static int do_unmap(struct gpc_hostmem *hm, struct hm_region *r, uint64_t hva,
		    uint64_t len, int arg)
{
	size_t i, first, last;
	void *p;
	int err;

	(void)hm, (void)arg;
	err = gpci_hm_ext_isolate(r, hva, len, &first, &last);
	if (err)
		return err;
	p = mmap((void *)(uintptr_t)hva, len, PROT_NONE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1,
		 0);
	if (p == MAP_FAILED)
		return -errno;
	for (i = first; i < last; i++) {
		gpci_hm_file_put(r->ext[i].file);
		r->ext[i].file = NULL;
		r->ext[i].prot = PROT_NONE;
	}
	return 0;
}

int gpc_hostmem_unmap(struct gpc_vm *vm, struct gpc_hostmem *hm, uint64_t hva,
		      size_t len)
{
	return change(vm, hm, hva, len, do_unmap, 0);
}

/* Put the old backing of extents [first, i) back after a failed replace. */
static void replace_undo(struct hm_region *r, size_t first, size_t i)
{
	while (i-- > first) {
		const struct hm_extent *e = &r->ext[i];
		void *at = (void *)(uintptr_t)e->hva;

		if (e->file)
			mmap(at, e->len, e->prot, MAP_SHARED | MAP_FIXED,
			     e->file->fd, (off_t)e->off);
		else
			mmap(at, e->len, PROT_NONE,
			     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE |
				     MAP_FIXED,
			     -1, 0);
	}
}

/*
 * Map @f (which covers [hva, ...)) over extents [first, last), retire the
 * old pages and update the registry. Remap maps fresh memory read-write;
 * migrate keeps each extent's protection. Mapped piece by piece, since
 * the pieces may differ in protection; on failure the pieces already done
 * get their old backing back, which the extents still hold.
 */
static int replace(struct gpc_hostmem *hm, struct hm_region *r, size_t first,
		   size_t last, uint64_t hva, struct hm_file *f, bool keep_prot)
{
	size_t i;

	for (i = first; i < last; i++) {
		const struct hm_extent *e = &r->ext[i];
		int prot = keep_prot ? e->prot : PROT_READ | PROT_WRITE;
		void *p = mmap((void *)(uintptr_t)e->hva, e->len, prot,
			       MAP_SHARED | MAP_FIXED, f->fd,
			       (off_t)(e->hva - hva));

		if (p == MAP_FAILED) {
			int err = -errno;

			replace_undo(r, first, i);
			return err;
		}
	}
	for (i = first; i < last; i++) {
		struct hm_extent *e = &r->ext[i];

		gpci_hm_retired_add(hm, e);
		gpci_hm_file_put(e->file);
		f->refs++;
		e->file = f;
		e->off = e->hva - hva;
		if (!keep_prot)
			e->prot = PROT_READ | PROT_WRITE;
	}
	return 0;
}

static int do_remap(struct gpc_hostmem *hm, struct hm_region *r, uint64_t hva,
		    uint64_t len, int arg)
{
	size_t first, last;
	struct hm_file *f;
	int err;

	(void)arg;
	err = gpci_hm_ext_isolate(r, hva, len, &first, &last);
	if (!err)
		err = gpci_hm_file_new(len, &f);
	if (err)
		return err;
	f->refs = 1; /* ours until the extents hold it */
	err = replace(hm, r, first, last, hva, f, false);
	gpci_hm_file_put(f);
	return err;
}

int gpc_hostmem_remap(struct gpc_vm *vm, struct gpc_hostmem *hm, uint64_t hva,
		      size_t len)
{
	return change(vm, hm, hva, len, do_remap, 0);
}

/* Read [off, off + len) of @src into @dst, riding out short reads. */
static int copy_in(char *dst, int src, uint64_t off, uint64_t len)
{
	while (len) {
		ssize_t n = pread(src, dst, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		dst += n;
		off += (uint64_t)n;
		len -= (uint64_t)n;
	}
	return 0;
}

/*
 * Copy the contents of extents [first, last) into @f. From the memfds,
 * not through the hva, so that PROT_NONE pages are copied too.
 */
static int copy_extents(struct hm_region *r, size_t first, size_t last,
			uint64_t hva, uint64_t len, struct hm_file *f)
{
	char *dst =
		mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, f->fd, 0);
	int err = 0;
	size_t i;

	if (dst == MAP_FAILED)
		return -errno;
	for (i = first; !err && i < last; i++) {
		const struct hm_extent *e = &r->ext[i];

		err = copy_in(dst + (e->hva - hva), e->file->fd, e->off,
			      e->len);
	}
	munmap(dst, len);
	return err;
}

/* Runs after range_start, so no cached writer can change the content
 * between the copy and the switch. */
static int do_migrate(struct gpc_hostmem *hm, struct hm_region *r, uint64_t hva,
		      uint64_t len, int arg)
{
	size_t first, last;
	struct hm_file *f;
	int err;

	(void)arg;
	err = gpci_hm_ext_isolate(r, hva, len, &first, &last);
	if (err)
		return err;
	if (gpci_hm_ext_range_has_hole(r, first, last))
		return -EFAULT; /* nothing there to migrate */
	err = gpci_hm_file_new(len, &f);
	if (err)
		return err;
	f->refs = 1;
	err = copy_extents(r, first, last, hva, len, f);
	if (!err)
		err = replace(hm, r, first, last, hva, f, true);
	gpci_hm_file_put(f);
	return err;
}

int gpc_hostmem_migrate(struct gpc_vm *vm, struct gpc_hostmem *hm, uint64_t hva,
			size_t len)
{
	return change(vm, hm, hva, len, do_migrate, 0);
}

/* Free the pages of one extent; they read as zero afterwards. */
static int discard_extent(const struct hm_extent *e)
{
	void *at = (void *)(uintptr_t)e->hva;

	if (!fallocate(e->file->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		       (off_t)e->off, (off_t)e->len))
		return 0;
	if (errno != EOPNOTSUPP && errno != ENOSYS)
		return -errno;
	if (!madvise(at, e->len, MADV_REMOVE))
		return 0;
	/* Last resort; on a shared mapping it drops PTEs, not the data. */
	return madvise(at, e->len, MADV_DONTNEED) ? -errno : 0;
}

/* Holes have nothing to give back and are skipped. */
static int do_discard(struct gpc_hostmem *hm, struct hm_region *r, uint64_t hva,
		      uint64_t len, int arg)
{
	size_t i, first, last;
	int err;

	(void)hm, (void)arg;
	err = gpci_hm_ext_isolate(r, hva, len, &first, &last);
	for (i = first; !err && i < last; i++)
		if (r->ext[i].file)
			err = discard_extent(&r->ext[i]);
	return err;
}

int gpc_hostmem_discard(struct gpc_vm *vm, struct gpc_hostmem *hm, uint64_t hva,
			size_t len)
{
	return change(vm, hm, hva, len, do_discard, 0);
}

/*
 * A hole is -EFAULT, as for migrate: mprotect() on unmapped memory would
 * say ENOMEM, which also means "out of memory" (one errno, one cause).
 */
static int do_protect(struct gpc_hostmem *hm, struct hm_region *r, uint64_t hva,
		      uint64_t len, int prot)
{
	size_t i, first, last;
	int err;

	(void)hm;
	err = gpci_hm_ext_isolate(r, hva, len, &first, &last);
	if (err)
		return err;
	if (gpci_hm_ext_range_has_hole(r, first, last))
		return -EFAULT;
	if (mprotect((void *)(uintptr_t)hva, len, prot))
		return -errno;
	for (i = first; i < last; i++)
		r->ext[i].prot = prot;
	return 0;
}

int gpc_hostmem_protect(struct gpc_vm *vm, struct gpc_hostmem *hm, uint64_t hva,
			size_t len, int prot)
{
	if (prot != PROT_NONE && prot != PROT_READ &&
	    prot != (PROT_READ | PROT_WRITE))
		return -EINVAL;
	return change(vm, hm, hva, len, do_protect, prot);
}
