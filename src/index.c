// SPDX-License-Identifier: MIT
/*
 * index.c - active caches indexed by host page.
 *
 * An invalidation must find the caches that overlap its host range without
 * walking all of them (KVM walks a list of every cache of the vm). Each
 * active cache puts one node per host page it covers into a hash table keyed
 * by page number. A walk over [first, last] then costs
 * O(min(pages in the range, nodes)): it probes each page of a small range,
 * and scans the table once for a range larger than the table. Either way it
 * does not grow with caches that lie elsewhere.
 *
 * All functions but init/fini are called with the index lock held. Walks
 * never allocate, so a non-blocking invalidation can walk from a signal
 * handler.
 */
#include <errno.h>
#include <stdlib.h>

#include "cache_priv.h"
#include "index_priv.h"

#define INITIAL_BUCKETS 64

static size_t hash_page(uint64_t page, size_t nbuckets)
{
	/* Fibonacci hashing: consecutive pages spread over the buckets. */
	return (size_t)((page * 0x9e3779b97f4a7c15ull) >> 32) & (nbuckets - 1);
}

int gpci_index_init(struct gpci_index *idx)
{
	idx->buckets = calloc(INITIAL_BUCKETS, sizeof(*idx->buckets));
	if (!idx->buckets)
		return -ENOMEM;
	idx->nbuckets = INITIAL_BUCKETS;
	idx->nnodes = 0;
	pthread_mutex_init(&idx->lock, NULL);
	return 0;
}

void gpci_index_fini(struct gpci_index *idx)
{
	free(idx->buckets);
	idx->buckets = NULL;
	idx->nbuckets = 0;
	pthread_mutex_destroy(&idx->lock);
}

void gpci_index_insert(struct gpci_index *idx, struct gpci_index_node *nodes,
		       size_t n)
{
	for (size_t i = 0; i < n; i++) {
		size_t b = hash_page(nodes[i].page, idx->nbuckets);

		nodes[i].next = idx->buckets[b];
		idx->buckets[b] = &nodes[i];
	}
	idx->nnodes += n;
}

void gpci_index_remove(struct gpci_index *idx, struct gpci_index_node *nodes,
		       size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct gpci_index_node **pp;

		pp = &idx->buckets[hash_page(nodes[i].page, idx->nbuckets)];
		while (*pp && *pp != &nodes[i])
			pp = &(*pp)->next;
		if (*pp)
			*pp = nodes[i].next;
		nodes[i].next = NULL;
	}
	idx->nnodes -= n;
}

void gpci_index_maybe_grow(struct gpci_index *idx)
{
	size_t nb = idx->nbuckets * 4;
	struct gpci_index_node **nbk;

	if (idx->nnodes <= idx->nbuckets * 2)
		return;
	nbk = calloc(nb, sizeof(*nbk));
	if (!nbk)
		return; /* longer chains, still correct */
	for (size_t b = 0; b < idx->nbuckets; b++) {
		struct gpci_index_node *n = idx->buckets[b], *next;

		for (; n; n = next) {
			size_t h = hash_page(n->page, nb);

			next = n->next;
			n->next = nbk[h];
			nbk[h] = n;
		}
	}
	free(idx->buckets);
	idx->buckets = nbk;
	idx->nbuckets = nb;
}

static int visit(struct gpci_index_node *n, uint64_t stamp,
		 int (*fn)(struct gpc_cache *c, void *arg), void *arg)
{
	if (!gpci_cache_visit(n->c, stamp))
		return 0;
	return fn(n->c, arg);
}

static int walk_pages(struct gpci_index *idx, uint64_t first, uint64_t last,
		      uint64_t stamp, int (*fn)(struct gpc_cache *c, void *arg),
		      void *arg)
{
	for (uint64_t pg = first;; pg++) {
		struct gpci_index_node *n;

		n = idx->buckets[hash_page(pg, idx->nbuckets)];
		for (; n; n = n->next) {
			int r = n->page == pg ? visit(n, stamp, fn, arg) : 0;

			if (r)
				return r;
		}
		if (pg == last)
			return 0;
	}
}

static int walk_table(struct gpci_index *idx, uint64_t first, uint64_t last,
		      uint64_t stamp, int (*fn)(struct gpc_cache *c, void *arg),
		      void *arg)
{
	for (size_t b = 0; b < idx->nbuckets; b++) {
		struct gpci_index_node *n = idx->buckets[b];

		for (; n; n = n->next) {
			int r = 0;

			if (n->page >= first && n->page <= last)
				r = visit(n, stamp, fn, arg);
			if (r)
				return r;
		}
	}
	return 0;
}

int gpci_index_walk(struct gpci_index *idx, uint64_t first, uint64_t last,
		    uint64_t stamp, int (*fn)(struct gpc_cache *c, void *arg),
		    void *arg)
{
	if (!idx->nnodes)
		return 0;
	/* Probe page by page only while that is cheaper than one scan. */
	if (last - first < idx->nbuckets + idx->nnodes)
		return walk_pages(idx, first, last, stamp, fn, arg);
	return walk_table(idx, first, last, stamp, fn, arg);
}

void gpci_index_walk_nodes(
	struct gpci_index *idx, uint64_t first, uint64_t last,
	void (*fn)(const struct gpci_index_node *n, void *arg), void *arg)
{
	const struct gpci_index_node *n;

	if (!idx->nnodes)
		return;
	/* As gpci_index_walk(): page by page only while that is cheaper. */
	if (last - first < idx->nbuckets + idx->nnodes) {
		for (uint64_t pg = first;; pg++) {
			n = idx->buckets[hash_page(pg, idx->nbuckets)];
			for (; n; n = n->next)
				if (n->page == pg)
					fn(n, arg);
			if (pg == last)
				return;
		}
	}
	for (size_t b = 0; b < idx->nbuckets; b++)
		for (n = idx->buckets[b]; n; n = n->next)
			if (n->page >= first && n->page <= last)
				fn(n, arg);
}
