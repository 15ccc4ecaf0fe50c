// SPDX-License-Identifier: MIT
/*
 * hostmem.c - guest RAM made of memfd-backed shared mappings, the direct and
 * alias host memory stages, and the change helpers that alter host memory
 * under an invalidation notifier.
 *
 * The manager keeps, for every region it allocated, which (memfd, offset)
 * backs each page. A region starts as one extent; remap and migrate put a
 * new memfd under part of it, unmap punches a hole and protect changes the
 * protection, so a region is a sorted array of extents that is split where
 * a change begins or ends and merged again where neighbours agree. The
 * alias stage needs this to map the page again elsewhere; the direct stage
 * uses it only to make up a page identity when /proc/self/pagemap does not
 * give one.
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
#include <sys/uio.h>
#include <unistd.h>
#include <linux/falloc.h>

#include <gpc/hostmem.h>
#include <gpc/invalidate.h>

#include "internal.h"

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

/*
 * Page identities. Real PFNs from pagemap fit in 55 bits, so made-up
 * tokens carry a tag bit above that and can never equal a real one:
 * bit 63 for "memfd id + page offset", bit 62 for "virtual page number".
 */
#define TOKEN_FILE     (1ull << 63)
#define TOKEN_HVA      (1ull << 62)
#define TOKEN_ID_SHIFT 36
#define TOKEN_ID_MASK  ((1ull << 26) - 1)

/* A memfd; shared by the extents that map parts of it. */
struct hm_file {
	int fd;
	uint64_t id;   /* unique in the process, for page identities */
	uint64_t refs; /* extents using it; under hm->lock */
};

/* [hva, hva + len) is backed by file at off, or is a hole (file NULL). */
struct hm_extent {
	uint64_t hva, len;
	struct hm_file *file;
	uint64_t off;
	int prot;
};

struct hm_region {
	uint64_t hva, size;
	struct hm_extent *ext; /* sorted, covering the region exactly */
	size_t next, cap;
};

#ifdef GPC_TESTING
/* The pages that backed [hva, hva + len) before its last remap/migrate. */
struct hm_retired {
	uint64_t hva, len;
	void *addr;
};
#endif

struct gpc_hostmem {
	pthread_mutex_t lock;
	struct hm_region *regions; /* sorted by hva, disjoint */
	size_t nregions, rcap;
#ifdef GPC_TESTING
	/* Disjoint: each page keeps only its most recent retired copy. */
	struct hm_retired *retired;
	size_t nretired, tcap;
#endif
};

static _Atomic uint64_t next_file_id = 1;

/* Cached: sysconf() is a measurable share of a refresh. */
static uint64_t page_size(void)
{
	static _Atomic uint64_t ps;
	uint64_t v = atomic_load_explicit(&ps, memory_order_relaxed);

	if (!v) {
		v = (uint64_t)sysconf(_SC_PAGESIZE);
		atomic_store_explicit(&ps, v, memory_order_relaxed);
	}
	return v;
}

static unsigned int page_shift(void)
{
	return (unsigned int)__builtin_ctzll(page_size());
}

static bool page_aligned(uint64_t v)
{
	return (v & (page_size() - 1)) == 0;
}

/*
 * [*start, *end): the whole pages under [hva, hva + len).
 * Return: 0; -EINVAL for an empty range; -EFAULT if it wraps around.
 */
static int page_range(uint64_t hva, size_t len, uint64_t *start, uint64_t *end)
{
	uint64_t mask = page_size() - 1;

	if (!len)
		return -EINVAL;
	if (hva + len < hva || hva + len + mask < hva + len)
		return -EFAULT;
	*start = hva & ~mask;
	*end = (hva + len + mask) & ~mask;
	return 0;
}

/* ---- memfds ------------------------------------------------------------ */

static int file_new(uint64_t size, struct hm_file **out)
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
	f->id = atomic_fetch_add(&next_file_id, 1) & TOKEN_ID_MASK;
	*out = f;
	return 0;
}

static void file_put(struct hm_file *f)
{
	if (f && --f->refs == 0) {
		close(f->fd);
		free(f);
	}
}

static uint64_t file_token(const struct hm_file *f, uint64_t off)
{
	return TOKEN_FILE | (f->id << TOKEN_ID_SHIFT) | (off >> page_shift());
}

/* ---- registry: regions and extents (all under hm->lock) ----------------- */

/* The region containing @hva, or NULL. */
static struct hm_region *region_find(struct gpc_hostmem *hm, uint64_t hva)
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
static struct hm_region *region_of_range(struct gpc_hostmem *hm, uint64_t hva,
					 uint64_t len)
{
	struct hm_region *r = region_find(hm, hva);

	if (!r || len > r->size - (hva - r->hva))
		return NULL;
	return r;
}

/* Index of the extent containing @hva, which lies inside @r. */
static size_t ext_index(const struct hm_region *r, uint64_t hva)
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
static int array_reserve(void **arr, size_t *cap, size_t need, size_t size)
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
	return array_reserve((void **)&r->ext, &r->cap, r->next + extra,
			     sizeof(*r->ext));
}

/* Make @at an extent boundary. Needs room for one more extent. */
static void ext_split(struct hm_region *r, uint64_t at)
{
	struct hm_extent *e, *n;
	size_t i;

	if (at == r->hva + r->size)
		return;
	i = ext_index(r, at);
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
 * fails: ext_merge() joins the pieces again.
 */
static int ext_isolate(struct hm_region *r, uint64_t hva, uint64_t len,
		       size_t *first, size_t *last)
{
	int err = ext_reserve(r, 2);

	if (err)
		return err;
	ext_split(r, hva);
	ext_split(r, hva + len);
	*first = ext_index(r, hva);
	*last = hva + len == r->hva + r->size ? r->next :
						ext_index(r, hva + len);
	return 0;
}

static bool ext_joinable(const struct hm_extent *a, const struct hm_extent *b)
{
	if (a->file != b->file)
		return false;
	return !a->file || (a->prot == b->prot && a->off + a->len == b->off);
}

/* Join neighbours that agree, so repeated changes do not pile up extents. */
static void ext_merge(struct hm_region *r)
{
	size_t i, j = 0;

	for (i = 1; i < r->next; i++) {
		struct hm_extent *a = &r->ext[j], *b = &r->ext[i];

		if (ext_joinable(a, b)) {
			a->len += b->len;
			file_put(b->file);
		} else {
			r->ext[++j] = *b;
		}
	}
	r->next = j + 1;
}

static bool ext_range_has_hole(const struct hm_region *r, size_t first,
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
static int hm_lookup(struct gpc_hostmem *hm, uint64_t start, uint64_t end,
		     struct hm_file **file, uint64_t *off)
{
	uint64_t addr = start, want = 0;
	int err = 0;

	while (addr < end) {
		struct hm_region *r = region_find(hm, addr);
		const struct hm_extent *e;
		uint64_t o;

		if (!r)
			return -EFAULT;
		e = &r->ext[ext_index(r, addr)];
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

/*
 * ---- retired pages (under hm->lock; test build only) --------------------
 *
 * The test build (GPC_TESTING, the gpc_testing library) keeps the pages a
 * remap or migrate retires mapped read-only, so that a test can prove
 * nothing was written to them after range_start returned. The installed
 * library keeps nothing: these helpers are empty there.
 */
#ifdef GPC_TESTING

static int retired_reserve(struct gpc_hostmem *hm, size_t extra)
{
	return array_reserve((void **)&hm->retired, &hm->tcap,
			     hm->nretired + extra, sizeof(*hm->retired));
}

static void retired_remove(struct gpc_hostmem *hm, size_t i)
{
	munmap(hm->retired[i].addr, hm->retired[i].len);
	hm->retired[i] = hm->retired[--hm->nretired];
}

/*
 * Cut [start, end) out of record @i, which overlaps it. Returns whether the
 * record is gone. A record that would split in two and cannot get a slot
 * for its second half is dropped whole: retired copies are a test aid and
 * losing one only makes gpc_hostmem_retired_page() return NULL.
 */
static bool retired_cut_one(struct gpc_hostmem *hm, size_t i, uint64_t start,
			    uint64_t end)
{
	struct hm_retired *t = &hm->retired[i];
	uint64_t t_end = t->hva + t->len;
	char *base = t->addr;

	if (start <= t->hva && end >= t_end) {
		retired_remove(hm, i);
		return true;
	}
	if (start > t->hva && end < t_end) {
		if (retired_reserve(hm, 1)) {
			retired_remove(hm, i);
			return true;
		}
		t = &hm->retired[i];
		hm->retired[hm->nretired++] =
			(struct hm_retired){ end, t_end - end,
					     base + (end - t->hva) };
		munmap(base + (start - t->hva), end - start);
		t->len = start - t->hva;
		return false;
	}
	if (start <= t->hva) {
		munmap(base, end - t->hva);
		t->addr = base + (end - t->hva);
		t->len = t_end - end;
		t->hva = end;
	} else {
		munmap(base + (start - t->hva), t_end - start);
		t->len = start - t->hva;
	}
	return false;
}

/* Forget (and unmap) every retired page of [start, end). */
static void retired_cut(struct gpc_hostmem *hm, uint64_t start, uint64_t end)
{
	size_t i = 0;

	while (i < hm->nretired) {
		struct hm_retired *t = &hm->retired[i];

		if (t->hva < end && start < t->hva + t->len &&
		    retired_cut_one(hm, i, start, end))
			continue; /* slot i now holds another record */
		i++;
	}
}

/*
 * Keep the pages of extent @e reachable, read-only, at a private address:
 * they are about to stop backing e->hva. Best effort (see retired_cut_one).
 */
static void retired_add(struct gpc_hostmem *hm, const struct hm_extent *e)
{
	void *p;

	retired_cut(hm, e->hva, e->hva + e->len);
	if (!e->file || retired_reserve(hm, 1))
		return;
	p = mmap(NULL, e->len, PROT_READ, MAP_SHARED, e->file->fd,
		 (off_t)e->off);
	if (p == MAP_FAILED)
		return;
	hm->retired[hm->nretired++] = (struct hm_retired){ e->hva, e->len, p };
}

/* Unmap and free every retired copy (destroy). */
static void retired_fini(struct gpc_hostmem *hm)
{
	while (hm->nretired)
		retired_remove(hm, hm->nretired - 1);
	free(hm->retired);
}

#else /* !GPC_TESTING */

static inline void retired_cut(struct gpc_hostmem *hm, uint64_t start,
			       uint64_t end)
{
	(void)hm;
	(void)start;
	(void)end;
}

static inline void retired_add(struct gpc_hostmem *hm,
			       const struct hm_extent *e)
{
	(void)hm;
	(void)e;
}

static inline void retired_fini(struct gpc_hostmem *hm)
{
	(void)hm;
}

#endif /* GPC_TESTING */

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
		file_put(r->ext[k].file);
	retired_cut(hm, r->hva, r->hva + r->size);
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
	retired_fini(hm);
	pthread_mutex_unlock(&hm->lock);
	pthread_mutex_destroy(&hm->lock);
	free(hm->regions);
	free(hm);
	return 0;
}

/* Put a new region (one extent over all of @f) into the sorted array. */
static int region_insert(struct gpc_hostmem *hm, uint64_t hva, uint64_t size,
			 struct hm_file *f)
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
	*r = (struct hm_region){ .hva = hva, .size = size };
	r->ext = malloc(4 * sizeof(*r->ext));
	if (!r->ext) {
		memmove(r, r + 1, (hm->nregions - i) * sizeof(*r));
		return -ENOMEM;
	}
	r->cap = 4;
	r->next = 1;
	r->ext[0] =
		(struct hm_extent){ hva, size, f, 0, PROT_READ | PROT_WRITE };
	f->refs = 1;
	hm->nregions++;
	return 0;
}

int gpc_hostmem_alloc(struct gpc_hostmem *hm, size_t size, void **hva)
{
	struct hm_file *f;
	void *p;
	int err;

	if (!hm || !hva || !size || !page_aligned(size))
		return -EINVAL;
	if (file_new(size, &f))
		return -ENOMEM;
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, f->fd, 0);
	if (p == MAP_FAILED) {
		f->refs = 1;
		file_put(f);
		return -ENOMEM;
	}
	pthread_mutex_lock(&hm->lock);
	err = region_insert(hm, (uintptr_t)p, size, f);
	pthread_mutex_unlock(&hm->lock);
	if (err) {
		munmap(p, size);
		f->refs = 1;
		file_put(f);
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
	r = region_find(hm, (uintptr_t)hva);
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
	r = region_find(hm, hva);
	if (r) {
		const struct hm_extent *e = &r->ext[ext_index(r, hva)];

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

/* ---- faulting in ---------------------------------------------------------- */

/*
 * Whether MADV_POPULATE_* works here: 1 yes, 0 no, -1 not known yet. It
 * arrived in Linux 5.14; before that madvise() rejects it with EINVAL,
 * which is also what it says for some real errors, so we ask once, on a
 * page of our own. GPC_HOSTMEM_NO_POPULATE=1 forces the fallback (tests).
 */
static _Atomic int populate_ok = -1;

static bool populate_supported(void)
{
	int ok = atomic_load_explicit(&populate_ok, memory_order_relaxed);
	const char *env;
	void *p;

	if (ok >= 0)
		return ok;
	env = getenv("GPC_HOSTMEM_NO_POPULATE");
	ok = 0;
	if (!env || !*env || !strcmp(env, "0")) {
		p = mmap(NULL, page_size(), PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p != MAP_FAILED) {
			ok = !madvise(p, page_size(), MADV_POPULATE_READ);
			munmap(p, page_size());
		}
	}
	atomic_store_explicit(&populate_ok, ok, memory_order_relaxed);
	return ok;
}

/* Every extent of [start, end) known to @hm allows writing (or is not ours). */
static bool hm_writable(struct gpc_hostmem *hm, uint64_t start, uint64_t end)
{
	bool ok = true;
	uint64_t addr = start;

	pthread_mutex_lock(&hm->lock);
	while (ok && addr < end) {
		struct hm_region *r = region_find(hm, addr);
		const struct hm_extent *e;

		if (!r) {
			addr += page_size();
			continue;
		}
		e = &r->ext[ext_index(r, addr)];
		ok = e->file && (e->prot & PROT_WRITE);
		addr = e->hva + e->len;
	}
	pthread_mutex_unlock(&hm->lock);
	return ok;
}

/*
 * Fallback for kernels without MADV_POPULATE_*: read one byte of every
 * page through process_vm_readv() on ourselves, which faults the page in
 * like an access would but returns EFAULT instead of raising SIGSEGV.
 * Writability can only be judged from what @hm recorded (protect()); for
 * memory it does not know, a write fault is not detected here.
 */
static int probe_pages(struct gpc_hostmem *hm, uint64_t start, uint64_t end,
		       bool write)
{
	pid_t self = getpid();
	uint64_t addr;
	char byte;

	for (addr = start; addr < end; addr += page_size()) {
		struct iovec local = { &byte, 1 };
		struct iovec remote = { (void *)(uintptr_t)addr, 1 };

		if (process_vm_readv(self, &local, 1, &remote, 1, 0) != 1)
			return -EFAULT;
	}
	if (write && hm && !hm_writable(hm, start, end))
		return -EFAULT;
	return 0;
}

/* Fault in the page-aligned [start, end), for writing if @write. */
static int populate(struct gpc_hostmem *hm, uint64_t start, uint64_t end,
		    bool write)
{
	int advice = write ? MADV_POPULATE_WRITE : MADV_POPULATE_READ;

	if (!populate_supported())
		return probe_pages(hm, start, end, write);
	while (madvise((void *)(uintptr_t)start, end - start, advice)) {
		/* ENOMEM: a hole; EFAULT: no access as asked; EINVAL: a
		 * VM_PFNMAP/VM_IO range. All are "cannot fault it in". */
		if (errno != EINTR)
			return -EFAULT;
	}
	return 0;
}

/* ---- page identities ------------------------------------------------------ */

/*
 * /proc/self/pagemap, opened once: -2 not tried, -1 unavailable. A fork
 * child would read its parent's page tables through an inherited
 * descriptor, so the child forgets it (see pagemap_atfork).
 */
static _Atomic int pagemap_fd = -2;
static pthread_once_t pagemap_once = PTHREAD_ONCE_INIT;

static void pagemap_child(void)
{
	int fd = atomic_exchange(&pagemap_fd, -2);

	if (fd >= 0)
		close(fd);
}

static void pagemap_atfork(void)
{
	pthread_atfork(NULL, NULL, pagemap_child);
}

static int pagemap_get(void)
{
	int fd = atomic_load(&pagemap_fd), want = -2;

	if (fd != -2)
		return fd;
	pthread_once(&pagemap_once, pagemap_atfork);
	fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		fd = -1;
	if (!atomic_compare_exchange_strong(&pagemap_fd, &want, fd)) {
		if (fd >= 0)
			close(fd);
		fd = want;
	}
	return fd;
}

/* The PFN of the present page at @hva, or 0 when not permitted/present. */
static uint64_t pagemap_pfn(uint64_t hva)
{
	int fd = pagemap_get();
	uint64_t ent;

	if (fd < 0)
		return 0;
	if (pread(fd, &ent, sizeof(ent),
		  (off_t)((hva >> page_shift()) * sizeof(ent))) != sizeof(ent))
		return 0;
	if (!(ent & (1ull << 63)))
		return 0;
	return ent & ((1ull << 55) - 1);
}

/* A stable identity for the page at @hva when pagemap shows no PFN. */
static uint64_t token_of(struct gpc_hostmem *hm, uint64_t hva)
{
	uint64_t tok = TOKEN_HVA | (hva >> page_shift());
	struct hm_file *f;
	uint64_t off;

	if (!hm)
		return tok;
	pthread_mutex_lock(&hm->lock);
	if (!hm_lookup(hm, hva, hva + 1, &f, &off))
		tok = file_token(f, off);
	pthread_mutex_unlock(&hm->lock);
	return tok;
}

/* ---- the direct stage ------------------------------------------------------ */

static int direct_translate(void *ctx, uint64_t hva, size_t len, bool write,
			    uint64_t *pfn)
{
	uint64_t start, end, p;
	int err;

	if (!pfn)
		return -EINVAL;
	err = page_range(hva, len, &start, &end);
	if (!err)
		err = populate(ctx, start, end, write);
	if (err)
		return err;
	/* Same virtual range, so always "contiguous": nothing to check. */
	p = pagemap_pfn(start);
	*pfn = p ? p : token_of(ctx, start);
	return 0;
}

static int direct_map(void *ctx, uint64_t hva, size_t len, uint64_t pfn,
		      bool write, void **khva)
{
	(void)ctx, (void)len, (void)pfn, (void)write;
	if (!khva)
		return -EINVAL;
	*khva = (void *)(uintptr_t)hva;
	return 0;
}

static void direct_unmap(void *ctx, void *khva, size_t len)
{
	(void)ctx, (void)khva, (void)len;
}

const struct gpc_hostmem_ops gpc_hostmem_direct_ops = {
	.name = "direct",
	.translate = direct_translate,
	.map = direct_map,
	.unmap = direct_unmap,
};

/* ---- the alias stage -------------------------------------------------------- */

static int alias_translate(void *ctx, uint64_t hva, size_t len, bool write,
			   uint64_t *pfn)
{
	struct gpc_hostmem *hm = ctx;
	uint64_t start, end, off;
	struct hm_file *f;
	int err;

	if (!hm || !pfn)
		return -EINVAL;
	err = page_range(hva, len, &start, &end);
	if (err)
		return err;
	pthread_mutex_lock(&hm->lock);
	err = hm_lookup(hm, start, end, &f, &off);
	if (!err)
		*pfn = file_token(f, off);
	pthread_mutex_unlock(&hm->lock);
	if (err)
		return err;
	/* The accessor uses the alias, but the hva must still be usable
	 * as asked: a PROT_NONE or read-only range fails like a fault. */
	return populate(hm, start, end, write);
}

/*
 * Map what backs the range now. If it changed since translate() saw @pfn,
 * an invalidation has started since, and the caller's retry protocol
 * throws this mapping away; the lock only keeps the memfd open meanwhile.
 */
static int alias_map(void *ctx, uint64_t hva, size_t len, uint64_t pfn,
		     bool write, void **khva)
{
	int prot = PROT_READ | (write ? PROT_WRITE : 0);
	struct gpc_hostmem *hm = ctx;
	uint64_t start, end, off;
	struct hm_file *f;
	void *p = MAP_FAILED;
	int err;

	(void)pfn;
	if (!hm || !khva)
		return -EINVAL;
	err = page_range(hva, len, &start, &end);
	if (err)
		return err;
	pthread_mutex_lock(&hm->lock);
	err = hm_lookup(hm, start, end, &f, &off);
	if (!err) {
		p = mmap(NULL, end - start, prot, MAP_SHARED, f->fd,
			 (off_t)off);
		if (p == MAP_FAILED)
			err = errno == ENOMEM ? -ENOMEM : -EFAULT;
	}
	pthread_mutex_unlock(&hm->lock);
	if (err)
		return err == -ENOMEM ? err : -EFAULT;
	*khva = (char *)p + (hva - start);
	return 0;
}

static void alias_unmap(void *ctx, void *khva, size_t len)
{
	uint64_t start, end;

	(void)ctx;
	if (khva && !page_range((uintptr_t)khva, len, &start, &end))
		munmap((void *)(uintptr_t)start, end - start);
}

const struct gpc_hostmem_ops gpc_hostmem_alias_ops = {
	.name = "alias",
	.translate = alias_translate,
	.map = alias_map,
	.unmap = alias_unmap,
};

/* ---- change helpers ------------------------------------------------------ */

/* A change of [hva, hva + len) inside region @r, under hm->lock. */
typedef int change_fn(struct gpc_hostmem *hm, struct hm_region *r, uint64_t hva,
		      uint64_t len, int arg);

static int check_range(struct gpc_hostmem *hm, uint64_t hva, size_t len)
{
	int err = 0;

	if (!hm || !len || !page_aligned(hva) || !page_aligned(len) ||
	    hva + len < hva)
		return -EINVAL;
	pthread_mutex_lock(&hm->lock);
	if (!region_of_range(hm, hva, len))
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
	r = region_of_range(hm, hva, len);
	err = r ? fn(hm, r, hva, len, arg) : -EINVAL;
	if (r)
		ext_merge(r);
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
	err = ext_isolate(r, hva, len, &first, &last);
	if (err)
		return err;
	p = mmap((void *)(uintptr_t)hva, len, PROT_NONE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1,
		 0);
	if (p == MAP_FAILED)
		return -errno;
	for (i = first; i < last; i++) {
		file_put(r->ext[i].file);
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

		retired_add(hm, e);
		file_put(e->file);
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
	err = ext_isolate(r, hva, len, &first, &last);
	if (!err)
		err = file_new(len, &f);
	if (err)
		return err;
	f->refs = 1; /* ours until the extents hold it */
	err = replace(hm, r, first, last, hva, f, false);
	file_put(f);
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
	err = ext_isolate(r, hva, len, &first, &last);
	if (err)
		return err;
	if (ext_range_has_hole(r, first, last))
		return -EFAULT; /* nothing there to migrate */
	err = file_new(len, &f);
	if (err)
		return err;
	f->refs = 1;
	err = copy_extents(r, first, last, hva, len, f);
	if (!err)
		err = replace(hm, r, first, last, hva, f, true);
	file_put(f);
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
	err = ext_isolate(r, hva, len, &first, &last);
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

/* A hole fails as mprotect() on unmapped memory would: -ENOMEM. */
static int do_protect(struct gpc_hostmem *hm, struct hm_region *r, uint64_t hva,
		      uint64_t len, int prot)
{
	size_t i, first, last;
	int err;

	(void)hm;
	err = ext_isolate(r, hva, len, &first, &last);
	if (err)
		return err;
	if (ext_range_has_hole(r, first, last))
		return -ENOMEM;
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
