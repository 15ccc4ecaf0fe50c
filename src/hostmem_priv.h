/* SPDX-License-Identifier: MIT */
/*
 * hostmem_priv.h - the state of a struct gpc_hostmem shared by the files of
 * the host memory module; not installed.
 *
 *   hostmem.c          memfds, the registry of regions and extents, the
 *                      manager calls (create, alloc, import, free, backing)
 *   hostmem_stage.c    faulting in, page identities, the direct and alias
 *                      stages
 *   hostmem_change.c   the change helpers (unmap, remap, discard, migrate,
 *                      protect) under an invalidation notifier
 *   hostmem_retired.c  the retired copies of replaced pages (test build)
 *
 * One mutex (hm->lock) protects the registry and the table of huge alias
 * windows. It is never held while calling into a vm.
 */
#ifndef GPC_HOSTMEM_PRIV_H
#define GPC_HOSTMEM_PRIV_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <gpc/hostmem.h>

/*
 * Page identities. Real PFNs from pagemap fit in 55 bits, so made-up
 * tokens carry a tag bit above that and can never equal a real one:
 * bit 63 for "memfd id + page offset", bit 62 for "virtual page number".
 */
#define GPCI_TOKEN_FILE	    (1ull << 63)
#define GPCI_TOKEN_HVA	    (1ull << 62)
#define GPCI_TOKEN_ID_SHIFT 36
#define GPCI_TOKEN_ID_MASK  ((1ull << 26) - 1)

/* A memfd (ours or a dup of an imported one); shared by extents. */
struct hm_file {
	int fd;
	uint64_t id;	 /* unique in the process, for page identities */
	uint64_t refs;	 /* extents using it; under hm->lock */
	uint64_t pgsize; /* its page size: base, or a hugetlbfs page */
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
	uint64_t pgsize;       /* changes must be aligned to it */
	struct hm_extent *ext; /* sorted, covering the region exactly */
	size_t next, cap;
};

/* An alias window over hugetlbfs pages: munmap needs its exact bounds. */
struct hm_window {
	uint64_t base, len;
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
	/* Alias windows with pgsize > base page; nwin read without lock. */
	struct hm_window *win;
	_Atomic size_t nwin;
	size_t wcap;
#ifdef GPC_TESTING
	/* Disjoint: each page keeps only its most recent retired copy. */
	struct hm_retired *retired;
	size_t nretired, tcap;
#endif
};

/* The base page size. Cached: sysconf() is a measurable share of a refresh. */
static inline uint64_t gpci_hm_page_size(void)
{
	static _Atomic uint64_t ps;
	uint64_t v = atomic_load_explicit(&ps, memory_order_relaxed);

	if (!v) {
		v = (uint64_t)sysconf(_SC_PAGESIZE);
		atomic_store_explicit(&ps, v, memory_order_relaxed);
	}
	return v;
}

static inline unsigned int gpci_hm_page_shift(void)
{
	return (unsigned int)__builtin_ctzll(gpci_hm_page_size());
}

static inline bool gpci_hm_aligned(uint64_t v, uint64_t pgsize)
{
	return (v & (pgsize - 1)) == 0;
}

static inline bool gpci_hm_base_aligned(uint64_t v)
{
	return gpci_hm_aligned(v, gpci_hm_page_size());
}

/*
 * [*start, *end): the whole base pages under [hva, hva + len).
 * Return: 0; -EINVAL for an empty range; -EFAULT if it wraps around.
 */
int gpci_hm_page_range(uint64_t hva, size_t len, uint64_t *start,
		       uint64_t *end);

/* hostmem.c: memfds */
int gpci_hm_file_new(uint64_t size, struct hm_file **out);
void gpci_hm_file_put(struct hm_file *f);
uint64_t gpci_hm_file_token(const struct hm_file *f, uint64_t off);

/* hostmem.c: the registry (all under hm->lock) */
struct hm_region *gpci_hm_region_find(struct gpc_hostmem *hm, uint64_t hva);
struct hm_region *gpci_hm_region_of_range(struct gpc_hostmem *hm, uint64_t hva,
					  uint64_t len);
size_t gpci_hm_ext_index(const struct hm_region *r, uint64_t hva);
int gpci_hm_array_reserve(void **arr, size_t *cap, size_t need, size_t size);
int gpci_hm_ext_isolate(struct hm_region *r, uint64_t hva, uint64_t len,
			size_t *first, size_t *last);
void gpci_hm_ext_merge(struct hm_region *r);
bool gpci_hm_ext_range_has_hole(const struct hm_region *r, size_t first,
				size_t last);
int gpci_hm_lookup(struct gpc_hostmem *hm, uint64_t start, uint64_t end,
		   struct hm_file **file, uint64_t *off);

/*
 * The page size of a file from its statfs(): f_bsize on hugetlbfs
 * (HUGETLBFS_MAGIC), else @base. Pure, so the tests can check it without
 * huge pages.
 */
uint64_t gpci_hostmem_page_size_of(long f_type, long f_bsize, uint64_t base);

/*
 * The alias window for file bytes [off, off + len): *woff and *wlen are
 * @off rounded down and @off + @len rounded up to @pgsize (a power of two),
 * since mmap() of a hugetlbfs file needs both aligned to its page size.
 * Return: 0; -EINVAL if @pgsize is not a power of two or the range is empty;
 * -EFAULT if it overflows.
 */
int gpci_hostmem_window(uint64_t off, uint64_t len, uint64_t pgsize,
			uint64_t *woff, uint64_t *wlen);

/* hostmem_retired.c (empty outside the test build), under hm->lock */
void gpci_hm_retired_cut(struct gpc_hostmem *hm, uint64_t start, uint64_t end);
void gpci_hm_retired_add(struct gpc_hostmem *hm, const struct hm_extent *e);
void gpci_hm_retired_fini(struct gpc_hostmem *hm);

/* hostmem_stage.c: forget the huge alias windows (destroy) */
void gpci_hm_windows_fini(struct gpc_hostmem *hm);

/*
 * Whether @ops can serve as a vm's host memory stage: translate() and map()
 * set (unmap() may be NULL: nothing to undo). gpc_vm_create() refuses
 * anything else with -EINVAL.
 */
bool gpci_hostmem_ops_ok(const struct gpc_hostmem_ops *ops);

#endif /* GPC_HOSTMEM_PRIV_H */
