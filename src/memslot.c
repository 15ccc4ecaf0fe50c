// SPDX-License-Identifier: MIT
/*
 * memslot.c - the guest-physical memory map of a vm (stage 1).
 *
 * The table is an immutable array of slots sorted by gpa, with a hash index
 * by guest-physical chunk. Readers enter a read section of vm->srcu, load
 * vm->ms.table and search it without taking any lock or writing anything but
 * a hint in their own SRCU slot. Writers serialize on vm->ms.lock, build
 * a complete new table (index included), publish it, bump the generation,
 * and after dropping the lock wait a grace period of vm->srcu before
 * freeing the old table. So when a change returns, every reader that could
 * have found a slot in the old layout has left its section, and every
 * later reader sees the new table and the new generation; and no reader
 * ever sees a table whose index is still being built.
 *
 * Writers are O(n) (the table and its index are copied) and readers O(1)
 * (see "chunk index" below); a slot id is found by a linear scan, which
 * only writers and gpc_memslot_get() do.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <gpc/memslot.h>
#include <gpc/srcu.h>

#include "dirty_priv.h"
#include "memslot_priv.h"
#include "vm_priv.h"

/* ---- chunk index ------------------------------------------------------- */

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

/* ---- readers' side ------------------------------------------------------ */

/*
 * Number of slots whose base is at or below @gpa. Branch-free halving (the
 * comparison becomes a conditional move): a lookup of a random address over
 * 32k slots is dominated by mispredicted branches otherwise. Invariant: the
 * answer lies in [base, base + n] (as indices).
 */
static unsigned int table_upper(const struct gpci_memslots *t, uint64_t gpa)
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

/* The binary search, for the rare lookups the index cannot answer. */
static __attribute__((noinline, cold)) long
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
 * The slot containing @gpa, trying the calling thread's last hit first.
 * The hint is a per-thread word (see struct gpc_srcu_slot) and carries no
 * data: any value is as safe as any other, it is checked like a candidate.
 * It is therefore relaxed, and stored unconditionally, since no other
 * thread shares its line.
 */
static gpc_always_inline const struct gpci_memslot *
table_search(const struct gpci_memslots *t, uint64_t gpa,
	     _Atomic unsigned int *hint)
{
	unsigned int h = atomic_load_explicit(hint, memory_order_relaxed);
	unsigned int p;
	long pos;

	if (gpc_likely(h < t->n) && slot_contains(&t->s[h], gpa))
		return &t->s[h];
	p = index_probe(t, gpa);
	pos = p == NO_ENTRY ? big_search(t, gpa) : scan_from(t, p, gpa);
	if (gpc_unlikely(pos == SEARCH))
		pos = search_sorted(t, gpa);
	if (pos < 0)
		return NULL;
	atomic_store_explicit(hint, (unsigned int)pos, memory_order_relaxed);
	return &t->s[pos];
}

/* ---- writers' side: the index ----------------------------------------- */

static bool slot_big(const struct gpci_memslot *s, unsigned int shift)
{
	return (slot_last(s) >> shift) - (s->gpa >> shift) >= SMALL_CHUNKS;
}

/*
 * The chunks of @s that have entries, into @c (room for SMALL_CHUNKS):
 * all of a small slot's, the first and the last of a big one.
 */
static unsigned int slot_chunks(const struct gpci_memslot *s,
				unsigned int shift, uint64_t *c)
{
	uint64_t first = s->gpa >> shift, last = slot_last(s) >> shift;
	unsigned int k = 0;

	if (last - first >= SMALL_CHUNKS) {
		c[0] = first;
		c[1] = last;
		return 2;
	}
	for (;;) {
		c[k++] = first;
		if (first == last)
			return k;
		first++;
	}
}

/* The chunk the live entry @e of @t belongs to. */
static uint64_t entry_chunk(const struct gpci_memslots *t, uint32_t e)
{
	const struct gpci_memslot *s = &t->s[e & IDX_POS];
	uint64_t off = (e >> IDX_OFF_SHIFT) & 3;

	if (slot_big(s, t->shift))
		return off ? slot_last(s) >> t->shift : s->gpa >> t->shift;
	return (s->gpa >> t->shift) + off;
}

/* The entry of chunk @c, whose first slot is at position @p. */
static uint32_t entry_make(const struct gpci_memslots *t, uint64_t c,
			   unsigned int p)
{
	const struct gpci_memslot *s = &t->s[p];
	uint64_t first = s->gpa >> t->shift;
	uint32_t off = slot_big(s, t->shift) ? c != first :
					       (uint32_t)(c - first);

	return hash_fp(t, chunk_hash(c)) | off << IDX_OFF_SHIFT | p;
}

/* The bucket (entry) of @t holding the entry of chunk @c, or -1. */
static long index_find(const struct gpci_memslots *t, uint64_t c)
{
	uint64_t h = chunk_hash(c);
	uint32_t fp;
	unsigned int i;

	if (t->ndense) {
		c -= t->base;
		return c < t->ndense && t->dindex[c] != NO_ENTRY ? (long)c : -1;
	}
	fp = hash_fp(t, h);
	i = hash_bucket(t, h);
	for (;; i = (i + 1) & t->mask) {
		uint32_t e = t->index[i];

		if (e == IDX_EMPTY)
			return -1;
		if (!((e ^ fp) & (IDX_FP | IDX_FREE)) && entry_chunk(t, e) == c)
			return i;
	}
}

/* Add the entry of chunk @c (which has none) for position @p. */
static void index_add(struct gpci_memslots *t, uint64_t c, unsigned int p)
{
	unsigned int i;

	t->live++;
	if (t->ndense) {
		/* In range: index_stale() checked, or the build sized it. */
		t->dindex[c - t->base] = (uint16_t)p;
		return;
	}
	i = hash_bucket(t, chunk_hash(c));
	while (!(t->index[i] & IDX_FREE))
		i = (i + 1) & t->mask;
	t->used += t->index[i] == IDX_EMPTY;
	t->index[i] = entry_make(t, c, p);
}

/*
 * Point the entry of chunk @c, in bucket @b, at position @p, or remove it
 * if @p < 0 (removed, not emptied: the chains of later entries go on
 * through a removed bucket).
 */
static void index_set(struct gpci_memslots *t, long b, uint64_t c, long p)
{
	if (p < 0)
		t->live--;
	if (t->ndense)
		t->dindex[b] = p < 0 ? NO_ENTRY : (uint16_t)p;
	else
		t->index[b] = p < 0 ? IDX_REMOVED :
				      entry_make(t, c, (unsigned int)p);
}

/*
 * The position the entry of chunk @c should hold in @t (its first slot),
 * or -1 if it should have none: no slot intersects it, or it lies inside a
 * big slot.
 */
static long chunk_expected(const struct gpci_memslots *t, uint64_t c)
{
	uint64_t base = c << t->shift;
	unsigned int u = table_upper(t, base), p;
	const struct gpci_memslot *s;

	p = u && slot_last(&t->s[u - 1]) >= base ? u - 1 : u;
	if (p >= t->n)
		return -1;
	s = &t->s[p];
	if (s->gpa >> t->shift > c)
		return -1;
	if (slot_big(s, t->shift) && c != s->gpa >> t->shift &&
	    c != slot_last(s) >> t->shift)
		return -1;
	return p;
}

/* Position @p of the old table in the new one; see index_update(). */
static unsigned int pos_move(unsigned int p, int r, int q)
{
	p -= r >= 0 && p > (unsigned int)r;
	return p + (q >= 0 && p >= (unsigned int)q);
}

/* Four entries, for the copy below: signed for the comparisons. */
typedef int32_t idx_vec __attribute__((vector_size(16)));
typedef uint32_t idx_uvec __attribute__((vector_size(16)));

/*
 * Copy @buckets entries, moving positions as pos_move() does. Written with
 * vector extensions (four entries per operation, lowered to plain integer
 * code where there is no SIMD): this pass runs on every change and is as
 * long as the copy of the slots for an index of two buckets per slot.
 *
 * Per lane, with p the low half of the entry (below 2^16, so signed
 * comparisons are exact; they yield -1 or 0): a = -(p > r), b = -(p + a >
 * q - 1), and the position moves by a - b, which never carries into the
 * upper half (p > r >= 0 where it is -1, p < 0x7fff where it is 1). An
 * empty or removed bucket has p = 0xffff, above every r and q, so a = b =
 * -1 and it stays as it is.
 */
static void index_copy_hashed(uint32_t *restrict dst,
			      const uint32_t *restrict src,
			      unsigned int buckets, int r, int q)
{
	idx_vec zero = { 0, 0, 0, 0 };
	idx_vec rr = zero + (r < 0 ? (int32_t)IDX_POS : r);
	idx_vec qm1 = zero + (q < 0 ? (int32_t)IDX_POS : q - 1);
	unsigned int i;

	_Static_assert((IDX_EMPTY & 0xffff) == 0xffff &&
			       (IDX_REMOVED & 0xffff) == 0xffff,
		       "free buckets keep their low half at 0xffff");
	if (r < 0 && q < 0) {
		memcpy(dst, src, (size_t)buckets * sizeof(*dst));
		return;
	}
	for (i = 0; i < buckets; i += 4) {
		idx_uvec e;
		idx_vec p, a, b;

		memcpy(&e, src + i, sizeof(e));
		p = (idx_vec)(e & 0xffff);
		a = p > rr;
		b = p + a > qm1;
		e += (idx_uvec)(a - b);
		memcpy(dst + i, &e, sizeof(e));
	}
}

/* Eight dense entries: empty ones are -1, below every r and q. */
typedef int16_t didx_vec __attribute__((vector_size(16)));

/* index_copy_hashed() for a dense index of @n entries (a multiple of 8). */
static void index_copy_dense(uint16_t *restrict dst,
			     const uint16_t *restrict src, unsigned int n,
			     int r, int q)
{
	didx_vec zero = { 0, 0, 0, 0, 0, 0, 0, 0 };
	didx_vec rr = zero + (int16_t)(r < 0 ? (int)IDX_POS : r);
	didx_vec qm1 = zero + (int16_t)(q < 0 ? (int)IDX_POS : q - 1);
	unsigned int i;

	if (r < 0 && q < 0) {
		memcpy(dst, src, (size_t)n * sizeof(*dst));
		return;
	}
	for (i = 0; i < n; i += 8) {
		didx_vec p, a, b;

		memcpy(&p, src + i, sizeof(p));
		a = p > rr;
		b = p + a > qm1;
		p += a - b;
		memcpy(dst + i, &p, sizeof(p));
	}
}

/* Copy @old's index into @t (same geometry), positions moved. */
static void index_copy(struct gpci_memslots *t, const struct gpci_memslots *old,
		       int r, int q)
{
	/*
	 * Positions below both r and q stay. An append (slots created in
	 * address order) or the removal of the last slot moves none, or only
	 * the removed slot's, whose chunks are recomputed: a plain copy.
	 */
	if ((r < 0 || (unsigned int)r + 1 >= old->n) &&
	    (q < 0 || (unsigned int)q >= old->n))
		r = q = -1;
	if (t->ndense)
		index_copy_dense(t->dindex, old->dindex, t->ndense, r, q);
	else
		index_copy_hashed(t->index, old->index, t->mask + 1, r, q);
}

/* The big list of @old without position @r and with the new slot at @q. */
static void big_copy(struct gpci_memslots *t, const struct gpci_memslots *old,
		     int r, int q)
{
	const struct gpci_memslot *x =
		q >= 0 && slot_big(&t->s[q], t->shift) ? &t->s[q] : NULL;
	unsigned int k, j = 0;

	for (k = 0; k < old->nbig; k++) {
		if (old->big_pos[k] == r)
			continue;
		if (x && x->gpa < old->big_gpa[k]) {
			t->big_gpa[j] = x->gpa;
			t->big_pos[j++] = (uint16_t)q;
			x = NULL;
		}
		t->big_gpa[j] = old->big_gpa[k];
		t->big_pos[j++] = (uint16_t)pos_move(old->big_pos[k], r, q);
	}
	if (x) {
		t->big_gpa[j] = x->gpa;
		t->big_pos[j++] = (uint16_t)q;
	}
	t->nbig = j;
}

/*
 * The index of @t, which is @old's slots without position @r and with a
 * new slot at position @q (either may be -1), from @old's index: same
 * geometry, every position moved, and the entries of the chunks of the two
 * slots recomputed. No other chunk changes: its slots are the same, its
 * first slot too, and whether a slot is big depends on shift only.
 */
static void index_update(struct gpci_memslots *t,
			 const struct gpci_memslots *old, int r, int q)
{
	uint64_t c[2 * SMALL_CHUNKS], cq[SMALL_CHUNKS];
	long where[2 * SMALL_CHUNKS];
	unsigned int nc = 0, k, j, m;

	if (r >= 0)
		nc = slot_chunks(&old->s[r], t->shift, c);
	if (q >= 0) {
		m = slot_chunks(&t->s[q], t->shift, cq);
		for (k = 0; k < m; k++) {
			for (j = 0; j < nc && c[j] != cq[k]; j++)
				;
			if (j == nc)
				c[nc++] = cq[k];
		}
	}
	/* Found in the old index: entries name their chunk by old slots. */
	for (k = 0; k < nc; k++)
		where[k] = index_find(old, c[k]);
	index_copy(t, old, r, q);
	big_copy(t, old, r, q);
	t->used = old->used;
	t->live = old->live;
	t->changes = old->changes + 1;
	t->built_n = old->built_n;
	for (k = 0; k < nc; k++) {
		long p = chunk_expected(t, c[k]);

		if (where[k] >= 0)
			index_set(t, where[k], c[k], p);
		else if (p >= 0)
			index_add(t, c[k], (unsigned int)p);
	}
}

/* Fill the index of @t from scratch; its geometry is set. */
static void index_build(struct gpci_memslots *t)
{
	uint64_t c[SMALL_CHUNKS];
	unsigned int i, k, nc;

	if (t->ndense)
		memset(t->dindex, 0xff, (size_t)t->ndense * sizeof(*t->dindex));
	else
		memset(t->index, 0xff,
		       ((size_t)t->mask + 1) * sizeof(*t->index));
	t->used = t->live = t->nbig = 0;
	for (i = 0; i < t->n; i++) {
		const struct gpci_memslot *s = &t->s[i];

		nc = slot_chunks(s, t->shift, c);
		if (slot_big(s, t->shift)) {
			t->big_gpa[t->nbig] = s->gpa;
			t->big_pos[t->nbig++] = (uint16_t)i;
		}
		for (k = 0; k < nc; k++)
			/* The previous slot's last chunk has its entry. */
			if (k || !i || c[0] != slot_last(s - 1) >> t->shift)
				index_add(t, c[k], i);
	}
	t->changes = 0;
	t->crowded = 0;
	t->built_n = t->n;
}

static unsigned int bit_length(uint64_t x)
{
	return x ? 64 - (unsigned int)__builtin_clzll(x) : 0;
}

/*
 * Choose the chunk shift for @n sorted slots. Two forces: a small shift
 * makes big slots (each adds a step to the big-list search of lookups
 * inside it), a large one puts several slots into one chunk (a lookup may
 * scan over them). Let D(S) count the slots that share their first chunk
 * with the previous slot's last chunk and B(S) the big slots. We take the
 * smallest S (from the page shift on, where D is 0) with B(S) <=
 * BIG_TARGET, as long as D(S) <= n/4, and then grow S while D does not
 * grow, which only makes the index smaller. O(n): per slot, the shift from
 * which it shares a chunk with its predecessor, and from which it is
 * small, go into histograms.
 */
static unsigned int index_plan(const struct gpci_memslot *s, unsigned int n,
			       unsigned int page_shift)
{
	unsigned int share[65] = { 0 }, small[64] = { 0 };
	unsigned int d[64], b[64], i, lo, hi, S, sum_d = 0, sum_s = 0;

	for (i = 0; i < n; i++) {
		unsigned int v = bit_length(s[i].size);

		/* Big below bit_length(size) - 3: size > 4 << S there. */
		S = v > page_shift + 3 ? v - 3 : page_shift;
		while (S < 63 && slot_big(&s[i], S))
			S++;
		small[S]++;
		if (i)
			share[bit_length(slot_last(&s[i - 1]) ^ s[i].gpa)]++;
	}
	for (S = 0; S < 64; S++) {
		sum_d += share[S];
		sum_s += small[S];
		d[S] = sum_d;
		b[S] = n - sum_s;
	}
	hi = page_shift;
	while (hi < 63 && d[hi + 1] <= n / 4)
		hi++;
	lo = page_shift;
	while (lo < hi && b[lo] > BIG_TARGET)
		lo++;
	while (lo < hi && d[lo + 1] == d[lo])
		lo++;
	return lo;
}

/* Entries and big slots of @n sorted slots at @shift. */
static void index_count(const struct gpci_memslot *s, unsigned int n,
			unsigned int shift, unsigned int *entries,
			unsigned int *nbig)
{
	uint64_t c[SMALL_CHUNKS];
	unsigned int i;

	*entries = *nbig = 0;
	for (i = 0; i < n; i++) {
		*entries += slot_chunks(&s[i], shift, c);
		*nbig += slot_big(&s[i], shift);
		if (i && c[0] == slot_last(&s[i - 1]) >> shift)
			(*entries)--;
	}
}

/*
 * Whether @x shares a chunk with the slot before or after it in @t (which
 * the lookups of that chunk may have to scan over).
 */
static bool slot_crowds(const struct gpci_memslots *t,
			const struct gpci_memslot *x)
{
	unsigned int u = table_upper(t, x->gpa);

	return (u > 0 &&
		slot_last(&t->s[u - 1]) >> t->shift == x->gpa >> t->shift) ||
	       (u < t->n &&
		t->s[u].gpa >> t->shift == slot_last(x) >> t->shift);
}

/*
 * Whether a change from @old that inserts @x (if not NULL) must build a
 * new index rather than update @old's; *@crowds says whether @x shares a
 * chunk with a neighbour.
 */
static bool index_stale(const struct gpci_memslots *old,
			const struct gpci_memslot *x, bool *crowds)
{
	unsigned int buckets = old->mask + 1, add = 0;
	uint64_t c[SMALL_CHUNKS];

	*crowds = x && slot_crowds(old, x);
	if (old->changes >=
	    (old->built_n > MIN_REBUILD ? old->built_n : MIN_REBUILD))
		return true; /* periodic, amortized O(1) per change */
	/*
	 * The shift was chosen so that at most a quarter of the slots share
	 * a chunk with a neighbour (which lookups scan over); once as many
	 * more do, choose again. With few slots it may have been chosen
	 * large (one slot: any shift will do), which the first slots
	 * created next to it then crowd.
	 */
	if (*crowds && old->crowded >= old->built_n / 4 + 4)
		return true;
	if (x) {
		add = slot_chunks(x, old->shift, c);
		if (slot_big(x, old->shift) && old->nbig >= old->big_room)
			return true;
		/* A dense index only has room for its range. */
		if (old->ndense && (c[0] - old->base >= old->ndense ||
				    c[add - 1] - old->base >= old->ndense))
			return true;
	}
	/* Much emptier than built for: shrink (hysteresis of 8). */
	if (old->ndense)
		return old->ndense > 64 && old->live * 16 < old->ndense;
	/* One bucket in two stays empty, so probes are short and end. */
	if (old->used + add + 1 > buckets / 2)
		return true;
	return buckets > MIN_BUCKETS && old->live * 16 < buckets;
}

/* ---- tables ------------------------------------------------------------ */

/* The shape of an index, which the size of a table depends on. */
struct index_geom {
	unsigned int shift;
	unsigned int buckets; /* hashed; 0 if dense */
	unsigned int ndense;  /* dense (a multiple of 8); 0 if hashed */
	uint64_t base;	      /* dense */
	unsigned int big_room;
};

static struct index_geom table_geom(const struct gpci_memslots *t)
{
	struct index_geom g = { .shift = t->shift,
				.buckets = t->ndense ? 0 : t->mask + 1,
				.ndense = t->ndense,
				.base = t->base,
				.big_room = t->big_room };

	return g;
}

/* The fields of @t that describe the shape @g (not its sizes). */
static void table_set_geom(struct gpci_memslots *t, const struct index_geom *g)
{
	t->shift = g->shift;
	t->ndense = g->ndense;
	t->base = g->base;
	t->mask = g->ndense ? 0 : g->buckets - 1;
	t->hash_shift =
		g->ndense ? 0 : 64 - (unsigned int)__builtin_ctz(g->buckets);
}

static size_t index_bytes(const struct index_geom *g)
{
	return g->ndense ? ((size_t)g->ndense * sizeof(uint16_t) + 63) & ~63ul :
			   (size_t)g->buckets * sizeof(uint32_t);
}

/*
 * A table with room for @cap slots, none used yet, and an index of shape
 * @g, not filled in. The room is rounded up to a power of two so that
 * consecutive tables have the same size: the one a change frees is then
 * exactly what the next change allocates, instead of the heap growing and
 * shrinking (and faulting in fresh pages) every time. Aligned to a cache
 * line by hand, so that no 32-byte slot straddles two (malloc's reuse of
 * same-sized blocks is what aligned_alloc loses).
 */
static struct gpci_memslots *
table_alloc(unsigned int cap, const struct index_geom *g, uint64_t gen)
{
	size_t ib = index_bytes(g), size;
	struct gpci_memslots *t;
	unsigned int room = 8;
	void *mem;

	while (room < cap)
		room *= 2;
	size = offsetof(struct gpci_memslots, s) +
	       (size_t)room * sizeof(struct gpci_memslot) + ib +
	       (size_t)g->big_room * (sizeof(uint64_t) + sizeof(uint16_t));
	mem = malloc(size + 63);
	if (!mem)
		return NULL;
	t = (struct gpci_memslots *)(((uintptr_t)mem + 63) & ~(uintptr_t)63);
	memset(t, 0, offsetof(struct gpci_memslots, s));
	t->mem = mem;
	t->generation = gen;
	t->room = room;
	table_set_geom(t, g);
	t->big_room = g->big_room;
	t->index = (uint32_t *)(t->s + room);
	t->big_gpa = (uint64_t *)((char *)t->index + ib);
	t->big_pos = (uint16_t *)(t->big_gpa + g->big_room);
	return t;
}

static void table_free(struct gpci_memslots *t)
{
	if (t) {
		gpci_memslots_aux_free(t);
		free(t->mem);
	}
}

/*
 * The shape of a new index for @n sorted slots: a shift chosen for them,
 * and the dense form if it takes no more room than the hashed one.
 */
static struct index_geom index_shape(const struct gpci_memslot *s,
				     unsigned int n, unsigned int page_shift)
{
	struct index_geom g = { .shift = index_plan(s, n, page_shift),
				.buckets = MIN_BUCKETS };
	unsigned int entries, nbig;
	uint64_t first, last, slack;

	index_count(s, n, g.shift, &entries, &nbig);
	while (g.buckets < 2 * (entries + 1))
		g.buckets *= 2;
	g.big_room = 2 * nbig + 8;
	if (!n)
		return g;
	first = s[0].gpa >> g.shift;
	last = slot_last(&s[n - 1]) >> g.shift;
	/* Room to grow on both sides, so that appends rebuild rarely. */
	slack = (last - first) / DENSE_SLACK + 8;
	if (last - first + 2 * slack >= 2ull * g.buckets)
		return g;
	g.base = first > slack ? first - slack : 0;
	g.ndense = (unsigned int)(last + slack - g.base + 8) & ~7u;
	g.buckets = 0;
	return g;
}

/*
 * Give @t (slots in place) an index built afresh, of a shape chosen for
 * its slots; the table may have to be reallocated for it, so the result
 * is in *@out. Frees @t on failure.
 */
static int table_reindex(struct gpc_vm *vm, struct gpci_memslots *t,
			 struct gpci_memslots **out)
{
	struct index_geom g = index_shape(t->s, t->n, vm->page_shift);
	struct index_geom had = table_geom(t);

	if (index_bytes(&g) != index_bytes(&had) ||
	    g.big_room != had.big_room) {
		struct gpci_memslots *nt = table_alloc(t->n, &g, t->generation);

		if (!nt) {
			table_free(t);
			return -ENOMEM;
		}
		memcpy(nt->s, t->s, (size_t)t->n * sizeof(t->s[0]));
		nt->n = t->n;
		table_free(t);
		t = nt;
	} else {
		/* Same sizes, so the same places: the fields alone change. */
		table_set_geom(t, &g);
	}
	index_build(t);
	*out = t;
	return 0;
}

/* Index of the slot with @id, or -1. Linear: ids are not sorted. */
static int table_find_id(const struct gpci_memslots *t, uint32_t id)
{
	unsigned int i;

	for (i = 0; i < t->n; i++)
		if (t->s[i].id == id)
			return (int)i;
	return -1;
}

/*
 * Insert @s into @t (which has room for it), keeping it sorted; returns its
 * position. Slots never overlap, so only the neighbours at the insertion
 * point need checking; ranges are half-open, so adjacent slots are fine.
 */
static int table_insert(struct gpci_memslots *t, const struct gpci_memslot *s)
{
	unsigned int pos = table_upper(t, s->gpa);

	if (pos > 0 && slot_last(&t->s[pos - 1]) >= s->gpa)
		return -EEXIST;
	if (pos < t->n && t->s[pos].gpa <= slot_last(s))
		return -EEXIST;
	memmove(t->s + pos + 1, t->s + pos,
		(size_t)(t->n - pos) * sizeof(t->s[0]));
	t->s[pos] = *s;
	t->n++;
	return (int)pos;
}

/*
 * The table that follows @old: without its slot at position @r (-1: none)
 * and with @x (NULL: none), index included, in *@out. -EEXIST if @x
 * overlaps a slot, -ENOMEM.
 */
static int table_build(struct gpc_vm *vm, const struct gpci_memslots *old,
		       int r, const struct gpci_memslot *x,
		       struct gpci_memslots **out)
{
	unsigned int n = old->n - (r >= 0) + (x != NULL);
	bool crowds, stale = index_stale(old, x, &crowds);
	struct index_geom g = table_geom(old);
	struct gpci_memslots *t = table_alloc(n, &g, old->generation + 1);
	unsigned int k;
	int q = -1;

	if (!t)
		return -ENOMEM;
	k = r < 0 ? old->n : (unsigned int)r;
	memcpy(t->s, old->s, (size_t)k * sizeof(t->s[0]));
	if (k < old->n)
		memcpy(t->s + k, old->s + k + 1,
		       (size_t)(old->n - k - 1) * sizeof(t->s[0]));
	t->n = old->n - (r >= 0);
	if (x) {
		q = table_insert(t, x);
		if (q < 0) {
			table_free(t);
			return q;
		}
	}
	if (stale)
		return table_reindex(vm, t, out);
	index_update(t, old, r, q);
	t->crowded = old->crowded + crowds;
	*out = t;
	return 0;
}

/* table_build(), then the secondary indexes of the result. */
static int table_next(struct gpc_vm *vm, const struct gpci_memslots *old, int r,
		      const struct gpci_memslot *x, struct gpci_memslots **out)
{
	int ret = table_build(vm, old, r, x, out);

	if (ret)
		return ret;
	ret = gpci_memslots_aux_build(*out);
	if (ret) {
		table_free(*out);
		*out = NULL;
	}
	return ret;
}

static void slot_info(struct gpc_memslot_info *info,
		      const struct gpci_memslot *s, uint64_t gen)
{
	info->id = s->id;
	info->flags = s->flags;
	info->gpa = s->gpa;
	info->size = s->size;
	info->hva = s->hva;
	info->generation = gen;
}

#ifdef GPC_TESTING
/*
 * Check the index of the current table against its slots, exactly: every
 * entry is where a probe for its chunk finds it and holds that chunk's
 * first slot, every chunk that needs an entry has one, the big list holds
 * exactly the big slots, the counts are right. Lookups never return a
 * wrong slot because of a wrong entry (they check), only a slow answer, so
 * this is how tests see such mistakes. Returns 0 or the failed check.
 */
int gpci_memslots_verify(struct gpc_vm *vm)
{
	struct gpci_memslots *t;
	unsigned int i, k, nc, used = 0, live = 0, nbig = 0;
	uint64_t c[SMALL_CHUNKS];
	int ret = 0;

	pthread_mutex_lock(&vm->ms.lock);
	t = atomic_load_explicit(&vm->ms.table, memory_order_relaxed);
	for (i = 0; i < t->ndense && !ret; i++) {
		uint16_t p = t->dindex[i];

		if (p == NO_ENTRY)
			continue;
		live++;
		if (p >= t->n)
			ret = -2;
		else if (chunk_expected(t, t->base + i) != p)
			ret = -3;
	}
	if (!ret && t->ndense && live != t->live)
		ret = -6;
	for (i = 0; !t->ndense && i <= t->mask && !ret; i++) {
		uint32_t e = t->index[i];
		uint64_t ch;

		used += e != IDX_EMPTY;
		if (e & IDX_FREE) {
			if (e != IDX_EMPTY && e != IDX_REMOVED)
				ret = -1;
			continue;
		}
		live++;
		if ((e & IDX_POS) >= t->n) {
			ret = -2;
			break;
		}
		ch = entry_chunk(t, e);
		if (chunk_expected(t, ch) != (long)(e & IDX_POS))
			ret = -3;
		else if (entry_make(t, ch, e & IDX_POS) != e)
			ret = -4;
		else if (index_find(t, ch) != (long)i)
			ret = -5; /* unreachable, or a duplicate before it */
	}
	if (!ret && !t->ndense &&
	    (used != t->used || live != t->live ||
	     2 * (used + 1) > t->mask + 1))
		ret = -6;
	for (i = 0; i < t->n && !ret; i++) {
		const struct gpci_memslot *s = &t->s[i];

		if (i && t->s[i - 1].gpa + t->s[i - 1].size > s->gpa)
			ret = -7;
		nc = slot_chunks(s, t->shift, c);
		for (k = 0; k < nc && !ret; k++)
			if (chunk_expected(t, c[k]) >= 0 &&
			    index_find(t, c[k]) < 0)
				ret = -8;
		if (slot_big(s, t->shift) &&
		    (nbig >= t->nbig || t->big_gpa[nbig] != s->gpa ||
		     t->big_pos[nbig++] != i))
			ret = -9;
	}
	if (!ret && (nbig != t->nbig || nbig > t->big_room))
		ret = -10;
	pthread_mutex_unlock(&vm->ms.lock);
	return ret;
}

/* ---- internal interface ------------------------------------------------ */
#endif /* GPC_TESTING */

int gpci_memslots_init(struct gpc_vm *vm)
{
	struct gpci_memslots *t;
	int ret;
	struct index_geom g = { .shift = vm->page_shift,
				.buckets = MIN_BUCKETS,
				.big_room = 8 };

	vm->ms.ids = calloc((vm->max_memslots + 63) / 64, sizeof(uint64_t));
	if (!vm->ms.ids)
		return -ENOMEM;
	t = table_alloc(0, &g, 1);
	ret = t ? table_reindex(vm, t, &t) : -ENOMEM;
	if (ret) {
		free(vm->ms.ids);
		return ret;
	}
	pthread_mutex_init(&vm->ms.lock, NULL);
	atomic_store_explicit(&vm->ms.table, t, memory_order_release);
	atomic_store_explicit(&vm->ms.gen, 1, memory_order_seq_cst);
	return 0;
}

void gpci_memslots_fini(struct gpc_vm *vm)
{
	struct gpci_memslots *t = atomic_exchange_explicit(
		&vm->ms.table, NULL, memory_order_relaxed);

	/* DIRTY-HOOK: the bitmaps of the slots still there (no reader). */
	for (unsigned int i = 0; t && i < t->n; i++)
		gpci_dirty_slot_retire(vm, &t->s[i], NULL);
	table_free(t);
	free(vm->ms.ids);
	vm->ms.ids = NULL;
	pthread_mutex_destroy(&vm->ms.lock);
}

_Atomic uint64_t *gpci_memslot_gen_word(struct gpc_vm *vm)
{
	return &vm->ms.gen;
}

void gpci_memslot_stats(struct gpc_vm *vm, struct gpc_vm_stats *st)
{
	st->memslot_changes = atomic_load(&vm->ms.st_changes);
}

const struct gpci_memslot *gpci_memslot_find(struct gpc_vm *vm, uint64_t gpa,
					     uint64_t *gen)
{
	struct gpc_srcu_slot *rs = gpc_srcu_slot_of(vm->srcu);
	/*
	 * Acquire pairs with the release in memslots_publish(): the slots and
	 * the index of the table are complete before we can see its pointer.
	 * The section our caller is in keeps the table alive until it leaves.
	 */
	struct gpci_memslots *t =
		atomic_load_explicit(&vm->ms.table, memory_order_acquire);

	*gen = t->generation;
	return table_search(t, gpa, &rs->user[GPCI_SLOT_MEMSLOT_HINT]);
}

const struct gpci_memslots *gpci_memslot_table(struct gpc_vm *vm)
{
	/* Acquire: see gpci_memslot_find(). */
	return atomic_load_explicit(&vm->ms.table, memory_order_acquire);
}

const struct gpci_memslot *gpci_memslots_search(const struct gpci_memslots *t,
						uint64_t gpa,
						_Atomic unsigned int *hint)
{
	_Atomic unsigned int none = 0;

	return table_search(t, gpa, hint ? hint : &none);
}

/* ---- writers ----------------------------------------------------------- */

/*
 * Take the writers' lock. A writer waits a grace period of vm->srcu, so it
 * must not be inside a section of that domain: refuse before changing
 * anything rather than publish a change that we could not wait for.
 */
static int memslots_lock(struct gpc_vm *vm)
{
	if (gpc_srcu_read_held(vm->srcu))
		return -EDEADLK;
	pthread_mutex_lock(&vm->ms.lock);
	return 0;
}

static void memslots_free_rcu(struct gpc_srcu_head *head)
{
	char *p = (char *)head - offsetof(struct gpci_memslots, rcu);

	table_free((struct gpci_memslots *)p);
}

/*
 * Free @old once no reader can hold it. Waiting here (rather than deferring
 * the free with gpc_srcu_call) is what makes "no reader still uses the old
 * layout when the change returns" true, which caches rely on.
 */
static bool memslots_retire(struct gpc_vm *vm, struct gpci_memslots *old)
{
	int ret = gpc_srcu_synchronize(vm->srcu);

	if (!ret) {
		table_free(old);
		return true;
	}
	gpci_log(GPC_LOG_ERR, "memslot: grace period failed (%d)", ret);
	if (gpc_srcu_call(vm->srcu, &old->rcu, memslots_free_rcu))
		gpci_log(GPC_LOG_ERR, "memslot: old table leaked");
	return false;
}

/*
 * Make @t the current table, and its generation the vm's. The table first:
 * the generation store is a release too, so whoever loads the new
 * generation with acquire (gpc_memslot_generation(), a cache's check) and
 * then looks a slot up finds the new table; a cache can therefore never
 * record the new generation next to a translation from the old table. A
 * reader that still sees the old generation may still be using the old
 * table; the grace period in memslots_retire() waits for it. seq_cst puts
 * the generation in one total order with the vm's other seq_cst counters
 * (the invalidation sequence); this is a slow path and can afford it.
 */
static void memslots_publish(struct gpc_vm *vm, struct gpci_memslots *t)
{
	atomic_store_explicit(&vm->ms.table, t, memory_order_release);
	atomic_store_explicit(&vm->ms.gen, t->generation, memory_order_seq_cst);
	atomic_fetch_add_explicit(&vm->ms.st_changes, 1, memory_order_relaxed);
}

/*
 * Commit a change that replaces @old by @t. @o and @n are the slot before
 * and after (NULL for a create or a delete), for the mirror hook. Called
 * with slots_lock held; drops it. On error nothing was published.
 */
static int memslots_commit(struct gpc_vm *vm, struct gpci_memslots *old,
			   struct gpci_memslots *t,
			   const struct gpci_memslot *o,
			   const struct gpci_memslot *n)
{
	struct gpc_memslot_info oi, ni;
	/* DIRTY-HOOK (lead: reconcile with the txn rewrite): copies of the
	 * slots for gpci_dirty_slot_retire(), which runs after @old is freed
	 * and when @t may be gone too. */
	struct gpci_memslot oc = o ? *o : (struct gpci_memslot){ 0 };
	struct gpci_memslot nc = n ? *n : (struct gpci_memslot){ 0 };
	int ret = 0;

	if (vm->ms.mirror) {
		if (o)
			slot_info(&oi, o, old->generation);
		if (n)
			slot_info(&ni, n, t->generation);
		ret = vm->ms.mirror(vm->ms.mirror_ctx, o ? &oi : NULL,
				    n ? &ni : NULL);
	}
	if (ret) {
		if (n) /* DIRTY-HOOK: what prepare allocated for @n */
			gpci_dirty_slot_unprepare(&nc, o);
		pthread_mutex_unlock(&vm->ms.lock);
		table_free(t);
		return ret;
	}
	memslots_publish(vm, t);
	if (o && !n)
		vm->ms.ids[o->id / 64] &= ~(1ull << o->id % 64);
	else if (n && !o)
		vm->ms.ids[n->id / 64] |= 1ull << n->id % 64;
	pthread_mutex_unlock(&vm->ms.lock);
	/* DIRTY-HOOK: after the grace period only (else leak the bitmap). */
	if (memslots_retire(vm, old))
		gpci_dirty_slot_retire(vm, o ? &oc : NULL, n ? &nc : NULL);

	return 0;
}

/* Aligned to the vm's page, nonzero size, no wrap-around past 2^64. */
static bool range_ok(struct gpc_vm *vm, uint64_t addr, uint64_t size)
{
	uint64_t mask = vm->page_size - 1;
	uint64_t end;

	if (!size || (addr & mask) || (size & mask))
		return false;
	return !__builtin_add_overflow(addr, size, &end);
}

/*
 * The table for a create: -EEXIST if @s->id is in use or @s overlaps. The
 * ids in use are in a bitmap, not found by a scan of the table: a scan of
 * 32k slots costs about as much as the copy of the table.
 */
static int create_table(struct gpc_vm *vm, const struct gpci_memslots *old,
			const struct gpci_memslot *s,
			struct gpci_memslots **out)
{
	if (vm->ms.ids[s->id / 64] & 1ull << s->id % 64)
		return -EEXIST;
	return table_next(vm, old, -1, s, out);
}

static int slot_add(struct gpc_vm *vm, const struct gpci_memslot *x)
{
	struct gpci_memslot s = *x;
	struct gpci_memslots *old, *t;
	int ret;

	if (!vm || s.id >= vm->max_memslots ||
	    (s.flags & ~GPC_MEMSLOT_FLAGS_ALL))
		return -EINVAL;
	if (!range_ok(vm, s.gpa, s.size) || !range_ok(vm, s.hva, s.size))
		return -EINVAL;
	if (s.uaddr && !range_ok(vm, s.uaddr, s.size))
		return -EINVAL;
	ret = memslots_lock(vm);
	if (ret)
		return ret;
	/* Relaxed: writers are ordered by slots_lock. */
	old = atomic_load_explicit(&vm->ms.table, memory_order_relaxed);
	/* DIRTY-HOOK: the bitmap goes into the table with the slot. */
	ret = gpci_dirty_slot_prepare(vm, &s, NULL);
	if (!ret) {
		ret = create_table(vm, old, &s, &t);
		if (ret)
			gpci_dirty_slot_unprepare(&s, NULL);
	}
	if (ret) {
		pthread_mutex_unlock(&vm->ms.lock);
		return ret;
	}
	return memslots_commit(vm, old, t, NULL, &s);
}

int gpc_memslot_create(struct gpc_vm *vm, uint32_t id, uint64_t gpa,
		       uint64_t size, uint64_t hva, uint32_t flags)
{
	struct gpci_memslot s = {
		.gpa = gpa, .size = size, .hva = hva, .id = id, .flags = flags
	};

	return slot_add(vm, &s);
}

int gpc_memslot_add(struct gpc_vm *vm, const struct gpc_memslot_desc *d)
{
	struct gpci_memslot s;

	if (!d)
		return -EINVAL;
	s = (struct gpci_memslot){ .gpa = d->gpa,
				   .size = d->size,
				   .hva = d->hva,
				   .id = d->id,
				   .flags = d->flags,
				   .uaddr = d->uaddr };
	return slot_add(vm, &s);
}

int gpc_memslot_delete(struct gpc_vm *vm, uint32_t id)
{
	struct gpci_memslots *old, *t;
	int i, ret;

	if (!vm)
		return -EINVAL;
	ret = memslots_lock(vm);
	if (ret)
		return ret;
	old = atomic_load_explicit(&vm->ms.table, memory_order_relaxed);
	i = table_find_id(old, id);
	ret = i < 0 ? -ENOENT : table_next(vm, old, i, NULL, &t);
	if (ret) {
		pthread_mutex_unlock(&vm->ms.lock);
		return ret;
	}
	return memslots_commit(vm, old, t, &old->s[i], NULL);
}

/* The table for a move of @old->s[i] to @gpa, in *@out; @moved gets it. */
static int move_table(struct gpc_vm *vm, struct gpci_memslots *old, int i,
		      uint64_t gpa, struct gpci_memslots **out,
		      struct gpci_memslot *moved)
{
	*moved = old->s[i];
	moved->gpa = gpa;
	if (!range_ok(vm, gpa, moved->size))
		return -EINVAL;
	/* DIRTY-HOOK: a move keeps the bitmap (never allocates). */
	gpci_dirty_slot_prepare(vm, moved, &old->s[i]);
	/* Without the slot itself, so a move may overlap its old range. */
	return table_next(vm, old, i, moved, out);
}

int gpc_memslot_move(struct gpc_vm *vm, uint32_t id, uint64_t new_gpa)
{
	struct gpci_memslots *old, *t;
	struct gpci_memslot moved;
	int i, ret;

	if (!vm || (new_gpa & (vm->page_size - 1)))
		return -EINVAL;
	ret = memslots_lock(vm);
	if (ret)
		return ret;
	old = atomic_load_explicit(&vm->ms.table, memory_order_relaxed);
	i = table_find_id(old, id);
	ret = i < 0 ? -ENOENT : move_table(vm, old, i, new_gpa, &t, &moved);
	if (ret) {
		pthread_mutex_unlock(&vm->ms.lock);
		return ret;
	}
	return memslots_commit(vm, old, t, &old->s[i], &moved);
}

int gpc_memslot_set_flags(struct gpc_vm *vm, uint32_t id, uint32_t flags)
{
	struct gpci_memslots *old, *t;
	int i, ret;

	if (!vm || (flags & ~GPC_MEMSLOT_FLAGS_ALL))
		return -EINVAL;
	ret = memslots_lock(vm);
	if (ret)
		return ret;
	old = atomic_load_explicit(&vm->ms.table, memory_order_relaxed);
	i = table_find_id(old, id);
	/* Same layout: the positions, and so i, stay. */
	ret = i < 0 ? -ENOENT : table_next(vm, old, -1, NULL, &t);
	if (ret) {
		pthread_mutex_unlock(&vm->ms.lock);
		return ret;
	}
	t->s[i].flags = flags;
	/* DIRTY-HOOK: logging on (a new bitmap), kept, or off. */
	ret = gpci_dirty_slot_prepare(vm, &t->s[i], &old->s[i]);
	if (ret) {
		pthread_mutex_unlock(&vm->ms.lock);
		table_free(t);
		return ret;
	}
	return memslots_commit(vm, old, t, &old->s[i], &t->s[i]);
}

int gpc_memslot_set_mirror(struct gpc_vm *vm, gpc_memslot_mirror_fn *fn,
			   void *ctx)
{
	if (!vm)
		return -EINVAL;
	/* Under the lock so that a change in progress sees both or neither. */
	pthread_mutex_lock(&vm->ms.lock);
	vm->ms.mirror = fn;
	vm->ms.mirror_ctx = ctx;
	pthread_mutex_unlock(&vm->ms.lock);
	return 0;
}

/* ---- readers ----------------------------------------------------------- */

int gpc_memslot_lookup(struct gpc_vm *vm, uint64_t gpa,
		       struct gpc_memslot_info *out)
{
	const struct gpci_memslot *s;
	const struct gpci_memslots *t;
	struct gpc_srcu_slot *rs;
	int ret = -ENOENT;

	if (!vm || !out)
		return -EINVAL;
	rs = gpc_srcu_read_lock(vm->srcu);
	/* Acquire: see gpci_memslot_find(). */
	t = atomic_load_explicit(&vm->ms.table, memory_order_acquire);
	s = table_search(t, gpa, &rs->user[GPCI_SLOT_MEMSLOT_HINT]);
	if (s) {
		slot_info(out, s, t->generation);
		ret = 0;
	}
	gpc_srcu_read_unlock_slot(vm->srcu, rs);
	return ret;
}

int gpc_memslot_get(struct gpc_vm *vm, uint32_t id,
		    struct gpc_memslot_info *out)
{
	struct gpci_memslots *t;
	int i;

	if (!vm || !out)
		return -EINVAL;
	gpc_srcu_read_lock(vm->srcu);
	/* Acquire: see gpci_memslot_find(). */
	t = atomic_load_explicit(&vm->ms.table, memory_order_acquire);
	i = table_find_id(t, id);
	if (i >= 0)
		slot_info(out, &t->s[i], t->generation);
	gpc_srcu_read_unlock(vm->srcu);
	return i < 0 ? -ENOENT : 0;
}

uint64_t gpc_memslot_generation(struct gpc_vm *vm)
{
	if (!vm)
		return 0;
	/* Pairs with the seq_cst store in memslots_publish(). */
	return atomic_load_explicit(&vm->ms.gen, memory_order_acquire);
}

unsigned int gpc_memslot_count(struct gpc_vm *vm)
{
	struct gpci_memslots *t;
	unsigned int n;

	if (!vm)
		return 0;
	gpc_srcu_read_lock(vm->srcu);
	t = atomic_load_explicit(&vm->ms.table, memory_order_acquire);
	n = t->n;
	gpc_srcu_read_unlock(vm->srcu);
	return n;
}
