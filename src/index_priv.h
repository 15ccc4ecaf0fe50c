/* SPDX-License-Identifier: MIT */
/*
 * index_priv.h - the index of active caches by host page (index.c); not
 * installed.
 *
 * A hash of host pages to the caches that map them, under the index's own
 * lock: a refresh inserts a cache's pages (cache.c), an invalidation walks
 * a range (invalidate.c). Both go through the functions below.
 */
#ifndef GPC_INDEX_PRIV_H
#define GPC_INDEX_PRIV_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <gpc/gpc.h>

struct gpci_index_node {
	uint64_t page; /* hva >> page_shift */
	struct gpc_cache *c;
	struct gpci_index_node *next;
};

struct gpci_index {
	pthread_mutex_t lock; /* every function below but init/fini */
	struct gpci_index_node **buckets;
	size_t nbuckets; /* power of two */
	size_t nnodes;
};

int gpci_index_init(struct gpci_index *idx);
void gpci_index_fini(struct gpci_index *idx);

/*
 * The index lock is held briefly and always with signals blocked
 * (gpci_block_signals), so that a signal handler on the holder's thread
 * never tries it; a non-blocking invalidation only try-locks it.
 */
static inline void gpci_index_lock(struct gpci_index *idx)
{
	pthread_mutex_lock(&idx->lock);
}

static inline bool gpci_index_trylock(struct gpci_index *idx)
{
	return !pthread_mutex_trylock(&idx->lock);
}

static inline void gpci_index_unlock(struct gpci_index *idx)
{
	pthread_mutex_unlock(&idx->lock);
}

/* Insert nodes[0..n) for pages first..first+n-1, all pointing at their c. */
void gpci_index_insert(struct gpci_index *idx, struct gpci_index_node *nodes,
		       size_t n);
void gpci_index_remove(struct gpci_index *idx, struct gpci_index_node *nodes,
		       size_t n);
/* Grow the table if crowded; may fail quietly (lookups stay correct). */
void gpci_index_maybe_grow(struct gpci_index *idx);
/*
 * Call fn(c, arg) once per cache with a page in [first, last]; stops early
 * and returns fn's nonzero result. Calls each cache once, through
 * gpci_cache_visit() (cache_priv.h); @stamp must be unique per walk. Never
 * allocates.
 */
int gpci_index_walk(struct gpci_index *idx, uint64_t first, uint64_t last,
		    uint64_t stamp, int (*fn)(struct gpc_cache *c, void *arg),
		    void *arg);

/*
 * Call fn(n, arg) for every node with a page in [first, last] (a cache of
 * several pages there: once per page). For the dirty log (dirty.c), which
 * needs the pages themselves, not the caches. Never allocates.
 */
void gpci_index_walk_nodes(
	struct gpci_index *idx, uint64_t first, uint64_t last,
	void (*fn)(const struct gpci_index_node *n, void *arg), void *arg);

#endif /* GPC_INDEX_PRIV_H */
