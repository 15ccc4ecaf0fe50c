/* SPDX-License-Identifier: MIT */
/*
 * memslot_index.h - the chunk index of a memslot table: its format, what
 * lookups (memslot.c) and the index's writers (memslot_index.c) share;
 * not installed.
 */
#ifndef GPC_MEMSLOT_INDEX_H
#define GPC_MEMSLOT_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "memslot_priv.h"

/* ---- the chunk index ---- */

/*
 * Guest-physical space is cut into chunks of 2^shift bytes, shift chosen
 * per table (at least the page shift; see index_plan()). Every chunk that a
 * slot intersects has an entry in an open-addressing hash table, except the
 * inner chunks of big slots (slots over more than SMALL_CHUNKS chunks),
 * which get entries for their first and last chunk only and are listed,
 * sorted, in big_gpa/big_pos. The entry of a chunk holds the position of
 * the first slot, in sorted order, that intersects it. So a lookup:
 *  - hashes gpa >> shift and probes linearly (the table is at most half
 *    full, so one bucket is the rule), then scans forward from the
 *    candidate over the slots of that chunk, which the choice of shift
 *    keeps to one or two (SCAN_MAX at most, then a binary search);
 *  - for a chunk without an entry (it intersects no slot, or lies inside
 *    one big slot), searches the big list, which the choice of shift keeps
 *    short (BIG_TARGET), usually empty.
 * So the usual lookup reads one bucket and one slot whatever the number of
 * slots (the scan and the big list are what index_plan() keeps short; a
 * layout that defeats it, many big slots among crowded tiny ones, costs a
 * binary search over the big slots, or over all of them past SCAN_MAX:
 * never a wrong answer, at worst the cost of the search it replaces). And
 * the index takes O(entries) memory whatever the sizes of the slots: at
 * most SMALL_CHUNKS entries per small slot and 2 per big one, in at most
 * twice as many 4-byte buckets (rounded up to a power of two); the big
 * list costs 10 bytes per big slot.
 *
 * An entry is 32 bits: a 14-bit fingerprint of its chunk (the hash bits
 * below the bucket number), the chunk's offset from the first chunk of the
 * entry's slot (2 bits: 0..3 in a small slot, 0 or 1 for the first or last
 * chunk of a big one), and the slot's position (15 bits; IDX_FREE, the bit
 * above, marks empty and removed buckets). The offset lets writers tell
 * which chunk an entry belongs to without storing keys. Fingerprints can
 * collide, so a lookup never trusts a candidate: a hit is a slot that
 * contains gpa, a miss is concluded only where the slot before the stopping
 * point ends at or below gpa, and anything else falls back to the binary
 * search. What a lookup does trust is the absence of an entry; writers keep
 * that exact (index_update(); gpci_memslots_verify() checks it for tests).
 *
 * A layout whose chunks with entries fill most of their range (slots
 * created next to each other, or at regular steps) gets the dense form
 * instead: an array of 16-bit positions indexed by chunk - base, over that
 * range plus some room to grow (DENSE_SLACK). It is exact without
 * fingerprints, needs no hashing, and takes 2 bytes per chunk instead of
 * 4 per bucket: for suite 4's 32k slots 67 KiB instead of 256, which keeps
 * more of the slots in L2 and one multiplication off the path (random
 * lookups 4.4 instead of 5.4 ns). It is chosen at each build when it is
 * the smaller of the two.
 *
 * Writers build the next table's index from the old one (positions moved
 * past the removed and inserted slot, entries of their chunks recomputed):
 * one pass over the buckets, next to the copy of the slots, and a plain
 * copy when no position moves (slots created in address order). They
 * build it afresh, choosing shift anew, when it is half full, when the big
 * list is full, when it is much too large, and after built_n changes (so
 * that shift follows a layout that drifts away from the one it was chosen
 * for, at an amortized cost of O(1) per change); a dense index also when a
 * slot falls outside its range. Either way the index is complete before
 * the table is published, with the table.
 */
#define IDX_EMPTY     0xffffffffu
#define IDX_REMOVED   0x0000ffffu
#define IDX_FREE      0x00008000u /* in empty and removed buckets only */
#define IDX_POS	      0x00007fffu
#define IDX_OFF_SHIFT 16
#define IDX_FP_BITS   14
#define IDX_FP	      0xfffc0000u

#define SMALL_CHUNKS 4	/* a slot over more chunks is big */
#define SCAN_MAX     8	/* slots scanned from a candidate */
#define BIG_TARGET   8	/* big slots index_plan() aims at, at most */
#define MIN_BUCKETS  16 /* a multiple of 4: see index_copy() */
#define DENSE_SLACK  8 /* a dense index has 1/8 of its range free on each side */
#define MIN_REBUILD  64 /* changes between periodic rebuilds, at least */
#define HASH_MUL     0x9e3779b97f4a7c15ull /* 2^64 / golden ratio, odd */

/* Lookup results besides a position; also an empty dense entry. */
#define NO_ENTRY 0xffffu
#define MISS	 (-1L)
#define SEARCH	 (-2L) /* the candidate was wrong: binary search */

_Static_assert(GPC_MEMSLOTS_MAX <= IDX_POS, "slot positions fit IDX_POS");
_Static_assert(offsetof(struct gpci_memslots, s) % 64 == 0,
	       "slots do not straddle cache lines");
_Static_assert(offsetof(struct gpci_memslots, mem) <= 64,
	       "what a lookup reads fits the table's first line");

static inline uint64_t slot_last(const struct gpci_memslot *s)
{
	return s->gpa + (s->size - 1);
}

/*
 * One comparison: below s->gpa the difference wraps to at least
 * 2^64 - s->gpa, which exceeds any size a slot there can have.
 */
static gpc_always_inline bool slot_contains(const struct gpci_memslot *s,
					    uint64_t gpa)
{
	return gpa - s->gpa < s->size;
}

static gpc_always_inline uint64_t chunk_hash(uint64_t chunk)
{
	return chunk * HASH_MUL;
}

/* The fingerprint of hash @h, in place in an entry. */
static gpc_always_inline uint32_t hash_fp(const struct gpci_memslots *t,
					  uint64_t h)
{
	return (uint32_t)(h >> (t->hash_shift - IDX_FP_BITS))
	       << (32 - IDX_FP_BITS);
}

static gpc_always_inline unsigned int hash_bucket(const struct gpci_memslots *t,
						  uint64_t h)
{
	return (unsigned int)(h >> t->hash_shift);
}

/*
 * Number of slots whose base is at or below @gpa. Branch-free halving (the
 * comparison becomes a conditional move): a lookup of a random address over
 * 32k slots is dominated by mispredicted branches otherwise. Invariant: the
 * answer lies in [base, base + n] (as indices).
 */
static inline unsigned int table_upper(const struct gpci_memslots *t,
				       uint64_t gpa)
{
	const struct gpci_memslot *base = t->s;
	unsigned int n = t->n;

	if (!n)
		return 0;
	while (n > 1) {
		unsigned int half = n / 2;

		base = base[half].gpa <= gpa ? base + half : base;
		n -= half;
	}
	return (unsigned int)(base - t->s) + (base->gpa <= gpa);
}

/* The shape of an index, which the size of a table depends on. */
struct index_geom {
	unsigned int shift;
	unsigned int buckets; /* hashed; 0 if dense */
	unsigned int ndense;  /* dense (a multiple of 8); 0 if hashed */
	uint64_t base;	      /* dense */
	unsigned int big_room;
};

/*
 * Whether a change from @old that inserts @x (if not NULL) must build a
 * new index rather than update @old's; *@crowds says whether @x shares a
 * chunk with a neighbour.
 */
bool gpci_index_stale(const struct gpci_memslots *old,
		      const struct gpci_memslot *x, bool *crowds);
/*
 * The index of @t, which is @old's slots without position @r and with a
 * new slot at position @q (either may be -1), from @old's index.
 */
void gpci_index_update(struct gpci_memslots *t, const struct gpci_memslots *old,
		       int r, int q);
/* Fill the index of @t from scratch; its geometry is set. */
void gpci_index_build(struct gpci_memslots *t);
/* The shape of a new index for @n sorted slots. */
struct index_geom gpci_index_shape(const struct gpci_memslot *s, unsigned int n,
				   unsigned int page_shift);

#endif /* GPC_MEMSLOT_INDEX_H */
