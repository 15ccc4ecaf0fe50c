// SPDX-License-Identifier: MIT
/*
 * hostmem.c - guest RAM made of memfd-backed shared mappings: the memfds,
 * the registry of regions and extents, and the manager calls (create,
 * alloc, import, free, backing). The stages are in hostmem_stage.c, the
 * change helpers in hostmem_change.c, the test build's retired copies in
 * hostmem_retired.c.
 *
 * The manager keeps, for every region it allocated or imported, which
 * (memfd, offset) backs each page. A region starts as one extent; remap and
 * migrate put a new memfd under part of it, unmap punches a hole and protect
 * changes the protection, so a region is a sorted array of extents that is
 * split where a change begins or ends and merged again where neighbours
 * agree. The alias stage needs this to map the page again elsewhere; the
 * direct stage uses it only to make up a page identity when
 * /proc/self/pagemap does not give one.
 *
 * One mutex protects the whole registry. It is never held while calling
 * into a vm: a change helper validates, drops the lock, runs range_start
 * (which may wait for a refresh that is inside translate() and needs the
 * lock), then retakes it for the change itself.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <sys/stat.h>
#include <sys/vfs.h>

#include "hostmem_priv.h"

#ifndef HUGETLBFS_MAGIC
#define HUGETLBFS_MAGIC 0x958458f6
#endif

static _Atomic uint64_t next_file_id = 1;

/*
 * [*start, *end): the whole pages under [hva, hva + len).
 * Return: 0; -EINVAL for an empty range; -EFAULT if it wraps around.
 */
int gpci_hm_page_range(uint64_t hva, size_t len, uint64_t *start, uint64_t *end)
{
	uint64_t mask = gpci_hm_page_size() - 1;

	if (!len)
		return -EINVAL;
	if (hva + len < hva || hva + len + mask < hva + len)
		return -EFAULT;
	*start = hva & ~mask;
	*end = (hva + len + mask) & ~mask;
	return 0;
}

/* ---- memfds ------------------------------------------------------------ */

int gpci_hm_file_new(uint64_t size, struct hm_file **out)
{
	struct hm_file *f = calloc(1, sizeof(*f));
	int err;

	if (!f)
		return -ENOMEM;
	f->fd = memfd_create("gpc-guest-ram", MFD_CLOEXEC);
	if (f->fd < 0) {
		err = -errno;
		free(f);
		return err;
	}
	if (ftruncate(f->fd, (off_t)size)) {
		err = -errno;
		close(f->fd);
		free(f);
		return err;
	}
	f->id = atomic_fetch_add(&next_file_id, 1) & GPCI_TOKEN_ID_MASK;
	f->pgsize = gpci_hm_page_size();
	*out = f;
	return 0;
}

void gpci_hm_file_put(struct hm_file *f)
{
	if (f && --f->refs == 0) {
		close(f->fd);
		free(f);
	}
}

uint64_t gpci_hm_file_token(const struct hm_file *f, uint64_t off)
{
	return GPCI_TOKEN_FILE | (f->id << GPCI_TOKEN_ID_SHIFT) |
	       (off >> gpci_hm_page_shift());
}

/* ---- registry: regions and extents (all under hm->lock) ----------------- */

/* The region containing @hva, or NULL. */
struct hm_region *gpci_hm_region_find(struct gpc_hostmem *hm, uint64_t hva)
{
	size_t lo = 0, hi = hm->nregions;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		struct hm_region *r = &hm->regions[mid];

		if (hva < r->hva)
			hi = mid;
		else if (hva - r->hva >= r->size)
			lo = mid + 1;
		else
			return r;
	}
	return NULL;
}

/* The region holding all of [hva, hva + len), or NULL. */
struct hm_region *gpci_hm_region_of_range(struct gpc_hostmem *hm, uint64_t hva,
					  uint64_t len)
{
	struct hm_region *r = gpci_hm_region_find(hm, hva);

	if (!r || len > r->size - (hva - r->hva))
		return NULL;
	return r;
}

/* Index of the extent containing @hva, which lies inside @r. */
size_t gpci_hm_ext_index(const struct hm_region *r, uint64_t hva)
{
	size_t lo = 0, hi = r->next;

	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;

		if (r->ext[mid].hva <= hva)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

/*
 * Make room for @need elements of @size bytes in the array *@arr of
 * capacity *@cap (doubling, so appends stay amortized O(1)).
 */
int gpci_hm_array_reserve(void **arr, size_t *cap, size_t need, size_t size)
{
	size_t ncap = need * 2;
	void *n;

	if (need <= *cap)
		return 0;
	n = realloc(*arr, ncap * size);
	if (!n)
		return -ENOMEM;
	*arr = n;
	*cap = ncap;
	return 0;
}

static int ext_reserve(struct hm_region *r, size_t extra)
{
	return gpci_hm_array_reserve((void **)&r->ext, &r->cap, r->next + extra,
				     sizeof(*r->ext));
}

/* Make @at an extent boundary. Needs room for one more extent. */
static void ext_split(struct hm_region *r, uint64_t at)
{
	struct hm_extent *e, *n;
	size_t i;

	if (at == r->hva + r->size)
		return;
	i = gpci_hm_ext_index(r, at);
	e = &r->ext[i];
	if (e->hva == at)
		return;
	memmove(&r->ext[i + 2], &r->ext[i + 1], (r->next - i - 1) * sizeof(*e));
	n = &r->ext[i + 1];
	*n = *e;
	n->hva = at;
	n->len = e->hva + e->len - at;
	n->off = e->off + (at - e->hva);
	e->len = at - e->hva;
	if (n->file)
		n->file->refs++;
	r->next++;
}

/*
 * Split the extents at both ends of [hva, hva + len) so that exactly
 * [*first, *last) cover it. Splitting is harmless if the change then
 * fails: gpci_hm_ext_merge() joins the pieces again.
 */
int gpci_hm_ext_isolate(struct hm_region *r, uint64_t hva, uint64_t len,
			size_t *first, size_t *last)
{
	int err = ext_reserve(r, 2);

	if (err)
		return err;
	ext_split(r, hva);
	ext_split(r, hva + len);
	*first = gpci_hm_ext_index(r, hva);
	*last = hva + len == r->hva + r->size ? r->next :
						gpci_hm_ext_index(r, hva + len);
	return 0;
}

static bool ext_joinable(const struct hm_extent *a, const struct hm_extent *b)
{
	if (a->file != b->file)
		return false;
	return !a->file || (a->prot == b->prot && a->off + a->len == b->off);
}

/* Join neighbours that agree, so repeated changes do not pile up extents. */
void gpci_hm_ext_merge(struct hm_region *r)
{
	size_t i, j = 0;

	for (i = 1; i < r->next; i++) {
		struct hm_extent *a = &r->ext[j], *b = &r->ext[i];

		if (ext_joinable(a, b)) {
			a->len += b->len;
			gpci_hm_file_put(b->file);
		} else {
			r->ext[++j] = *b;
		}
	}
	r->next = j + 1;
}

bool gpci_hm_ext_range_has_hole(const struct hm_region *r, size_t first,
				size_t last)
{
	size_t i;

	for (i = first; i < last; i++)
		if (!r->ext[i].file)
			return true;
	return false;
}

/*
 * Where [start, end) is backed: *file and *off of its first page.
 * Return: 0; -EFAULT if some page is in no region or in a hole; -EINVAL if
 * the pages are not consecutive in one memfd (a hole wins over that).
 */
int gpci_hm_lookup(struct gpc_hostmem *hm, uint64_t start, uint64_t end,
		   struct hm_file **file, uint64_t *off)
{
	uint64_t addr = start, want = 0;
	int err = 0;

	while (addr < end) {
		struct hm_region *r = gpci_hm_region_find(hm, addr);
		const struct hm_extent *e;
		uint64_t o;

		if (!r)
			return -EFAULT;
		e = &r->ext[gpci_hm_ext_index(r, addr)];
		if (!e->file)
			return -EFAULT;
		o = e->off + (addr - e->hva);
		if (addr == start) {
			*file = e->file;
			*off = o;
		} else if (e->file != *file || o != want) {
			err = -EINVAL;
		}
		want = e->off + e->len;
		addr = e->hva + e->len;
	}
	return err;
}

/* ---- manager ------------------------------------------------------------ */

int gpc_hostmem_create(struct gpc_hostmem **out)
{
	struct gpc_hostmem *hm;

	if (!out)
		return -EINVAL;
	hm = calloc(1, sizeof(*hm));
	if (!hm)
		return -ENOMEM;
	if (pthread_mutex_init(&hm->lock, NULL)) {
		free(hm);
		return -ENOMEM;
	}
	*out = hm;
	return 0;
}

/* Unmap region @i and drop it from the registry. Under hm->lock. */
static void region_remove(struct gpc_hostmem *hm, size_t i)
{
	struct hm_region *r = &hm->regions[i];
	size_t k;

	munmap((void *)(uintptr_t)r->hva, r->size);
	for (k = 0; k < r->next; k++)
		gpci_hm_file_put(r->ext[k].file);
	gpci_hm_retired_cut(hm, r->hva, r->hva + r->size);
	free(r->ext);
	memmove(r, r + 1, (hm->nregions - i - 1) * sizeof(*r));
	hm->nregions--;
}

int gpc_hostmem_destroy(struct gpc_hostmem *hm)
{
	if (!hm)
		return -EINVAL;
	pthread_mutex_lock(&hm->lock);
	while (hm->nregions)
		region_remove(hm, hm->nregions - 1);
	gpci_hm_retired_fini(hm);
	gpci_hm_windows_fini(hm);
	pthread_mutex_unlock(&hm->lock);
	pthread_mutex_destroy(&hm->lock);
	free(hm->regions);
	free(hm);
	return 0;
}

/*
 * Put a new region (one extent: @f from @off, read-write) into the sorted
 * array.
 */
static int region_insert(struct gpc_hostmem *hm, uint64_t hva, uint64_t size,
			 struct hm_file *f, uint64_t off)
{
	struct hm_region *r;
	size_t i;

	if (hm->nregions == hm->rcap) {
		size_t cap = hm->rcap ? hm->rcap * 2 : 8;

		r = realloc(hm->regions, cap * sizeof(*r));
		if (!r)
			return -ENOMEM;
		hm->regions = r;
		hm->rcap = cap;
	}
	for (i = hm->nregions; i > 0 && hm->regions[i - 1].hva > hva; i--)
		;
	r = &hm->regions[i];
	memmove(r + 1, r, (hm->nregions - i) * sizeof(*r));
	*r = (struct hm_region){ .hva = hva,
				 .size = size,
				 .pgsize = f->pgsize };
	r->ext = malloc(4 * sizeof(*r->ext));
	if (!r->ext) {
		memmove(r, r + 1, (hm->nregions - i) * sizeof(*r));
		return -ENOMEM;
	}
	r->cap = 4;
	r->next = 1;
	r->ext[0] =
		(struct hm_extent){ hva, size, f, off, PROT_READ | PROT_WRITE };
	f->refs = 1;
	hm->nregions++;
	return 0;
}

int gpc_hostmem_alloc(struct gpc_hostmem *hm, size_t size, void **hva)
{
	struct hm_file *f;
	void *p;
	int err;

	if (!hm || !hva || !size || !gpci_hm_base_aligned(size))
		return -EINVAL;
	if (gpci_hm_file_new(size, &f))
		return -ENOMEM;
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, f->fd, 0);
	if (p == MAP_FAILED) {
		f->refs = 1;
		gpci_hm_file_put(f);
		return -ENOMEM;
	}
	pthread_mutex_lock(&hm->lock);
	err = region_insert(hm, (uintptr_t)p, size, f, 0);
	pthread_mutex_unlock(&hm->lock);
	if (err) {
		munmap(p, size);
		f->refs = 1;
		gpci_hm_file_put(f);
		return err;
	}
	*hva = p;
	return 0;
}

/* ---- import ---------------------------------------------------------- */

uint64_t gpci_hostmem_page_size_of(long f_type, long f_bsize, uint64_t base)
{
	uint64_t bs = (uint64_t)f_bsize;

	/* f_type is a signed long whose width differs between ABIs; the
	 * magic is compared as the 32-bit value statfs(2) documents. */
	if ((uint32_t)f_type != (uint32_t)HUGETLBFS_MAGIC || f_bsize <= 0)
		return base;
	if (bs < base || (bs & (bs - 1)))
		return base; /* not a page size: trust the base page */
	return bs;
}

int gpci_hostmem_window(uint64_t off, uint64_t len, uint64_t pgsize,
			uint64_t *woff, uint64_t *wlen)
{
	uint64_t mask = pgsize - 1, end;

	if (!pgsize || (pgsize & mask) || !len)
		return -EINVAL;
	if (off + len < off || off + len + mask < off + len)
		return -EFAULT;
	end = (off + len + mask) & ~mask;
	*woff = off & ~mask;
	*wlen = end - *woff;
	return 0;
}

/*
 * A struct hm_file for a dup of the caller's @fd: ours to close, so the
 * caller's descriptor is free again as soon as the import returns.
 * Return: 0; -EBADF; -ENODEV (not a file that can be mapped shared);
 * -ENXIO (@end beyond its size); -EINVAL (offsets not aligned to its page
 * size); -ENOMEM; -EMFILE.
 */
static int file_import(int fd, uint64_t off, uint64_t size,
		       struct hm_file **out)
{
	struct statfs sfs;
	struct stat st;
	struct hm_file *f;
	uint64_t pgsize;

	if (fd < 0 || fstat(fd, &st))
		return -EBADF;
	if (!S_ISREG(st.st_mode) || fstatfs(fd, &sfs))
		return -ENODEV;
	pgsize = gpci_hostmem_page_size_of((long)sfs.f_type, (long)sfs.f_bsize,
					   gpci_hm_page_size());
	if (!gpci_hm_aligned(off, pgsize) || !gpci_hm_aligned(size, pgsize))
		return -EINVAL;
	if (off + size < off || off + size > (uint64_t)st.st_size)
		return -ENXIO;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (f->fd < 0) {
		int err = errno == EMFILE ? -EMFILE : -ENOMEM;

		free(f);
		return err;
	}
	f->id = atomic_fetch_add(&next_file_id, 1) & GPCI_TOKEN_ID_MASK;
	f->pgsize = pgsize;
	*out = f;
	return 0;
}

int gpc_hostmem_import(struct gpc_hostmem *hm, int fd, uint64_t offset,
		       size_t size, unsigned int flags, void **hva)
{
	struct hm_file *f;
	void *p;
	int err;

	if (!hm || !hva || !size || (flags & ~GPC_HOSTMEM_HUGEPAGE))
		return -EINVAL;
	err = file_import(fd, offset, size, &f);
	if (err)
		return err;
	f->refs = 1;
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, f->fd,
		 (off_t)offset);
	if (p == MAP_FAILED) {
		/* EACCES: opened read-only or on a noexec/ro mount. */
		err = errno == ENOMEM ? -ENOMEM : -ENODEV;
		gpci_hm_file_put(f);
		return err;
	}
	/* Best effort: shmem THP in "advise" mode allocates huge pages only
	 * for faults through a mapping marked so. */
	if (flags & GPC_HOSTMEM_HUGEPAGE)
		(void)madvise(p, size, MADV_HUGEPAGE);
	pthread_mutex_lock(&hm->lock);
	err = region_insert(hm, (uintptr_t)p, size, f, offset);
	pthread_mutex_unlock(&hm->lock);
	if (err) {
		munmap(p, size);
		gpci_hm_file_put(f);
		return err;
	}
	*hva = p;
	return 0;
}

int gpc_hostmem_free(struct gpc_hostmem *hm, void *hva, size_t size)
{
	struct hm_region *r;
	int err = -EINVAL;

	if (!hm || !hva)
		return -EINVAL;
	pthread_mutex_lock(&hm->lock);
	r = gpci_hm_region_find(hm, (uintptr_t)hva);
	if (r && r->hva == (uintptr_t)hva && r->size == size) {
		region_remove(hm, (size_t)(r - hm->regions));
		err = 0;
	}
	pthread_mutex_unlock(&hm->lock);
	return err;
}

int gpc_hostmem_backing(struct gpc_hostmem *hm, uint64_t hva, int *fd,
			uint64_t *offset)
{
	struct hm_region *r;
	int err = -EFAULT;

	if (!hm || !fd || !offset)
		return -EINVAL;
	pthread_mutex_lock(&hm->lock);
	r = gpci_hm_region_find(hm, hva);
	if (r) {
		const struct hm_extent *e = &r->ext[gpci_hm_ext_index(r, hva)];

		if (e->file) {
			*fd = e->file->fd;
			*offset = e->off + (hva - e->hva);
			err = 0;
		}
	}
	pthread_mutex_unlock(&hm->lock);
	return err;
}

#ifdef GPC_TESTING
void *gpc_hostmem_retired_page(struct gpc_hostmem *hm, uint64_t hva)
{
	void *p = NULL;
	size_t i;

	if (!hm)
		return NULL;
	pthread_mutex_lock(&hm->lock);
	for (i = 0; i < hm->nretired; i++) {
		const struct hm_retired *t = &hm->retired[i];

		if (hva >= t->hva && hva - t->hva < t->len) {
			p = (char *)t->addr + (hva - t->hva);
			break;
		}
	}
	pthread_mutex_unlock(&hm->lock);
	return p;
}
#endif
