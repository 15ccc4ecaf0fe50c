/* SPDX-License-Identifier: MIT */
/*
 * memslot_search.h - the readers' search of a memslot table (the chunk
 * index of memslot_index.h, then the slots), inlined by the lookups of
 * memslot.c and by translate.c; not installed.
 *
 * Inline rather than called: a translation is one search plus a few
 * checks, and a call into memslot.c cost it the call, a second test of the
 * thread's hint (the caller had tried it already) and the saved registers
 * of a non-leaf function (suite 4's translate_own_vs_lookup; see
 * docs/performance.md). Only the rare binary search stays out of line.
 */
#ifndef GPC_MEMSLOT_SEARCH_H
#define GPC_MEMSLOT_SEARCH_H

#include <stdint.h>

#include "memslot_index.h"
#include "memslot_priv.h"

/* The binary search, for the rare lookups the index cannot answer. */
static __attribute__((noinline, cold, unused)) long
search_sorted(const struct gpci_memslots *t, uint64_t gpa)
{
	unsigned int u = table_upper(t, gpa);

	return u && slot_contains(&t->s[u - 1], gpa) ? (long)u - 1 : MISS;
}

/* The candidate position of gpa's chunk, or NO_ENTRY. */
static gpc_always_inline unsigned int index_probe(const struct gpci_memslots *t,
						  uint64_t gpa)
{
	uint64_t h = gpa >> t->shift;
	uint32_t fp;
	unsigned int i;

	if (t->ndense) {
		h -= t->base; /* below base, wraps past ndense */
		return h < t->ndense ? t->dindex[h] : NO_ENTRY;
	}
	h = chunk_hash(h);
	fp = hash_fp(t, h);
	i = hash_bucket(t, h);
	/* Ends: writers keep at least half of the buckets empty. */
	for (;;) {
		uint32_t e = t->index[i];

		if (!((e ^ fp) & (IDX_FP | IDX_FREE)))
			return e & IDX_POS;
		if (e == IDX_EMPTY)
			return NO_ENTRY;
		i = (i + 1) & t->mask;
	}
}

/*
 * The position of the slot containing @gpa, scanning forward from @p, the
 * first slot of gpa's chunk if the entry was gpa's; MISS, or SEARCH if the
 * candidate turns out not to be that.
 */
static gpc_always_inline long scan_from(const struct gpci_memslots *t,
					unsigned int p, uint64_t gpa)
{
	unsigned int k;

	if (gpc_unlikely(p >= t->n))
		return SEARCH;
	for (k = 0; k < SCAN_MAX; k++, p++) {
		const struct gpci_memslot *s = &t->s[p];

		if (slot_contains(s, gpa))
			return p;
		if (gpa < s->gpa) {
			/*
			 * A gap before s, if the slot before it ends at or
			 * below gpa: known once we stepped over it, else
			 * checked (the candidate may be a later slot).
			 */
			if (k || !p || slot_last(s - 1) < gpa)
				return MISS;
			return SEARCH;
		}
		if (p + 1 == t->n)
			return MISS; /* beyond the last slot */
	}
	return SEARCH;
}

/* A chunk without an entry: inside a big slot, or in no slot at all. */
static gpc_always_inline long big_search(const struct gpci_memslots *t,
					 uint64_t gpa)
{
	const uint64_t *base = t->big_gpa;
	unsigned int m = t->nbig, p;

	if (!m)
		return MISS;
	while (m > 1) {
		unsigned int half = m / 2;

		base = base[half] <= gpa ? base + half : base;
		m -= half;
	}
	if (*base > gpa)
		return MISS;
	p = t->big_pos[base - t->big_gpa];
	return slot_contains(&t->s[p], gpa) ? (long)p : MISS;
}

/*
 * The position of the slot containing @gpa by the chunk index alone; MISS,
 * or SEARCH when only the binary search can tell. A hit becomes the
 * thread's hint: a per-thread word (see struct gpc_srcu_slot) that carries
 * no data (any value is as safe as any other, it is checked like a
 * candidate), so it is relaxed, and stored unconditionally, since no other
 * thread shares its line. Calls nothing.
 */
static gpc_always_inline long table_index_probe(const struct gpci_memslots *t,
						uint64_t gpa,
						_Atomic unsigned int *hint)
{
	unsigned int p = index_probe(t, gpa);
	long pos = p == NO_ENTRY ? big_search(t, gpa) : scan_from(t, p, gpa);

	if (pos >= 0)
		atomic_store_explicit(hint, (unsigned int)pos,
				      memory_order_relaxed);
	return pos;
}

/* The hint's slot if it contains @gpa (the common case), else the index. */
static gpc_always_inline long table_probe(const struct gpci_memslots *t,
					  uint64_t gpa,
					  _Atomic unsigned int *hint)
{
	unsigned int h = atomic_load_explicit(hint, memory_order_relaxed);

	if (gpc_likely(h < t->n) && slot_contains(&t->s[h], gpa))
		return h;
	return table_index_probe(t, gpa, hint);
}

/* The slot containing @gpa, or NULL: table_probe() and its tail. */
static gpc_always_inline const struct gpci_memslot *
table_search(const struct gpci_memslots *t, uint64_t gpa,
	     _Atomic unsigned int *hint)
{
	long pos = table_probe(t, gpa, hint);

	if (gpc_unlikely(pos == SEARCH)) {
		pos = search_sorted(t, gpa);
		if (pos >= 0)
			atomic_store_explicit(hint, (unsigned int)pos,
					      memory_order_relaxed);
	}
	return pos < 0 ? NULL : &t->s[pos];
}

#endif /* GPC_MEMSLOT_SEARCH_H */
