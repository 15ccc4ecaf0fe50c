// SPDX-License-Identifier: MIT
/*
 * memslot_index.c - the writers' side of a memslot table's chunk index
 * (the format: memslot_index.h): updating an index from the previous
 * table's, building one afresh, choosing its shape, and (tests) checking
 * one exactly. memslot.c, which builds tables, calls it; lookups read the
 * index there.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "memslot_index.h"
#include "vm_priv.h"

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
void gpci_index_update(struct gpci_memslots *t, const struct gpci_memslots *old,
		       int r, int q)
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
void gpci_index_build(struct gpci_memslots *t)
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
bool gpci_index_stale(const struct gpci_memslots *old,
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

/*
 * The shape of a new index for @n sorted slots: a shift chosen for them,
 * and the dense form if it takes no more room than the hashed one.
 */
struct index_geom gpci_index_shape(const struct gpci_memslot *s, unsigned int n,
				   unsigned int page_shift)
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

#endif /* GPC_TESTING */
