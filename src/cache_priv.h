/* SPDX-License-Identifier: MIT */
/*
 * cache_priv.h - a cache's private state (cache.c, cache_write.c,
 * cache_init.c, cache_access.c); not installed.
 *
 * struct gpc_cache (gpc/cache.h) holds what the inline read side needs; the
 * rest lives in struct gpc_cache_priv, reached through c->priv. Other
 * modules use the functions below: the index calls gpci_cache_visit() in
 * its walks, an invalidation gpci_cache_invalidate() and the accessors,
 * vm.c gpci_cache_vm_stats(); vm.c's registry of live caches links them
 * through vm_next/vm_prev (gpci_vm_add_cache).
 */
#ifndef GPC_CACHE_PRIV_H
#define GPC_CACHE_PRIV_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <gpc/gpc.h>

struct gpci_index_node;

#define CACHE_MAGIC 0x47504343u /* "GPCC" */
#define CACHE_DEAD  0x64656164u /* "dead" */

/*
 * c->flags bit (never a GPC_CACHE_* flag): every begin and end of the
 * cache goes out of line and is checked (gpc_cache_init: a library built
 * with GPC_DEBUG, or GPC_DEBUG=1 in the environment).
 */
#define GPCI_CACHE_CHECKED (1u << 31)

/* The SRCU slot's user word that counts the thread's rwlock-scheme cache
 * sections that its list of open sections (cache_access.c) has no room
 * for; the listed ones are found on the list. */
#define GPCI_SLOT_RW_SECTIONS 0

struct gpc_cache_priv {
	struct gpc_cache *c;
	/* Serializes refresh, activate, deactivate and destroy. */
	pthread_mutex_t refresh_lock;
	/* srcu scheme: serializes writers of c->seq (rwlock scheme: c->rw). */
	pthread_mutex_t wlock;
	enum gpc_usage usage;
	struct gpc_vcpu *vcpu;

	/* Under refresh_lock (and read by invalidation under the index lock). */
	_Atomic int active;
	bool hva_mode;
	uint64_t gpa, uhva, len;

	/* The current mapping; under refresh_lock. */
	bool mapped;
	void *map_base;	  /* what map() returned, page aligned */
	uint64_t map_hva; /* page-aligned hva it maps */
	uint64_t map_len; /* whole pages */
	uint64_t pfn;

	uint64_t pub_hva; /* hva of the published translation */
	/*
	 * The dirty log of the published translation (dirty.c): its slot's
	 * bitmap or NULL, the cache's offset in the slot, its gpa (UINT64_MAX
	 * in HVA mode). Stored in the publish's write section.
	 */
	_Atomic(struct gpci_dirty *) log_dirty;
	_Atomic uint64_t log_off, log_gpa;

	/* Index entries for [idx_first, idx_first + idx_n) pages. */
	struct gpci_index_node *idx;
	size_t idx_n;
	uint64_t idx_first;

	/* Bumped by every overlapping invalidation, at start and at end. */
	_Atomic uint64_t inval_count;
	/* SRCU cookie taken when valid last went from 1 to 0. */
	_Atomic uint64_t clear_cookie;
	uint64_t visit; /* index walk stamp, under the index lock */
	struct gpc_cache_priv *vm_next, *vm_prev; /* vm.c, under objs_lock */

	_Atomic uint64_t st_refreshes, st_retries, st_waits, st_invals;
	_Atomic uint64_t st_maps, st_unmaps;
};

/* The vm-wide cache counters (struct gpc_vm's cst; cache.c writes them). */
struct gpci_cache_vmstats {
	_Atomic uint64_t refreshes, retries, refresh_waits, active;
};

/* An initialised, not destroyed cache (a zero-filled one is not). */
static inline bool gpci_cache_ok(const struct gpc_cache *c)
{
	return c && c->magic == CACHE_MAGIC && c->priv;
}

/*
 * refresh_lock is an error-checking mutex: a thread that holds it already
 * (a host memory callback or a test hook of this cache's refresh that calls
 * back into the cache) gets -EDEADLK instead of hanging for good.
 */
static inline int gpci_refresh_lock(struct gpc_cache_priv *p)
{
	return -pthread_mutex_lock(&p->refresh_lock);
}

/* Write side of the cache fields: the lock that excludes readers (rwlock
 * scheme) or other writers (srcu scheme), plus the seqcount. Callers block
 * signals around write sections (gpci_block_signals), once for a batch.
 * trylock returns false if the lock is busy. */
void gpci_cache_write_lock(struct gpc_cache *c);
bool gpci_cache_write_trylock(struct gpc_cache *c);
void gpci_cache_write_unlock(struct gpc_cache *c);
/* Clear valid inside a write section; records clear_cookie if it was set.
 * Returns whether it was valid. */
bool gpci_cache_clear_valid(struct gpc_cache *c);

/*
 * An invalidation reached @c (the caller holds the index lock, signals
 * blocked): count it, and clear valid under the write lock; non-blocking
 * (@nonblock) only if the lock is free at once, else without it (*busy set).
 * Returns whether the cache was valid. Context: as the invalidation.
 */
bool gpci_cache_invalidate(struct gpc_cache *c, bool nonblock, bool *busy);
/* The end of an invalidation that reached @c (under the index lock). */
void gpci_cache_bump_inval(struct gpc_cache *c);
/* The vCPU of a guest-usage cache; NULL for host usage. Any context. */
struct gpc_vcpu *gpci_cache_guest_vcpu(struct gpc_cache *c);
/* The SRCU cookie of the cache's last clear of valid. Any context. */
uint64_t gpci_cache_clear_cookie(struct gpc_cache *c);
/* First time this walk (@stamp) reaches @c? For the index, under its lock. */
bool gpci_cache_visit(struct gpc_cache *c, uint64_t stamp);
/* Fill in the vm-wide cache counters of @st (gpc_vm_get_stats). */
void gpci_cache_vm_stats(struct gpc_vm *vm, struct gpc_vm_stats *st);

/*
 * Whether the calling thread is inside a cache section of @vm (an SRCU read
 * section, or an rwlock-scheme begin .. end on its list of open sections
 * or counted in its slot's GPCI_SLOT_RW_SECTIONS word): slow paths that wait for readers or take a
 * cache's write lock would then wait for the caller itself. Any context.
 */
bool gpci_section_held(struct gpc_vm *vm);

#endif /* GPC_CACHE_PRIV_H */
