// SPDX-License-Identifier: MIT
/*
 * memslot_aux.c - the secondary indexes of a memslot table: lookups by host
 * address and by the caller's user address (memslot_aux.h has the layout
 * and the lookups; gpc/translate.h the calls that use them).
 *
 * The writer builds them for every new table, after its slots are final and
 * before it is published, so a reader never sees a table without them.
 * Cost per change: one pass over the slots when their host ranges are in
 * gpa order and their user ranges too (the layouts of a VMM that creates
 * slots in address order, and of a vhost-user back-end, whose regions have
 * gpa and user address growing together); otherwise a radix sort, O(n) a pass
 * (at most 8, usually 2 or 3), and a sweep over the host bounds, O(n log n),
 * next to the O(n) copy of the table the change makes anyway. The host
 * segments are built only for tables of up to AUX_SEG_MAX slots: above
 * that, a table whose host ranges are out of gpa order (test_memslot's
 * full table, 32k slots at scattered gpas) would pay milliseconds per
 * change for a sort that the index is rarely asked for, so its reverse
 * lookups scan the slots instead (hva_scan; O(n), still lock free). The
 * cure, if such a table ever needs fast reverse lookups, is to build from
 * the previous table's segments (a merge, O(n)), which needs the old table
 * passed to gpci_memslots_aux_build().
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "memslot_aux.h"
#include "memslot_priv.h"

#define AUX_SEG_MAX 4096

struct key_pos {
	uint64_t key;
	uint32_t pos;
};

/*
 * Stable LSD radix sort of @v[0..n) by key, 8 bits a pass, with @tmp
 * (n entries) as scratch; passes whose digit is the same for every key
 * (the high bytes of addresses, usually) are skipped. The arrays are
 * filled in position order, so stable by key is by key then position.
 * O(n) per pass: what made every publish of a table of a few thousand
 * slots cost a qsort (test_memslot's full table, 0.95 s for its first
 * 4096 creates).
 */
static void key_pos_sort(struct key_pos *v, struct key_pos *tmp, unsigned int n)
{
	struct key_pos *src = v, *dst = tmp, *x;
	uint64_t all_or = 0, all_and = ~(uint64_t)0;
	bool sorted = true;

	for (unsigned int i = 0; i < n; i++) {
		all_or |= v[i].key;
		all_and &= v[i].key;
		sorted &= !i || v[i - 1].key <= v[i].key;
	}
	if (sorted)
		return; /* the usual layout: nothing to do */
	for (unsigned int shift = 0; shift < 64; shift += 8) {
		unsigned int count[256] = { 0 }, sum = 0;

		if (!(((all_or ^ all_and) >> shift) & 0xff))
			continue; /* the same digit everywhere */
		for (unsigned int i = 0; i < n; i++)
			count[(src[i].key >> shift) & 0xff]++;
		for (unsigned int d = 0; d < 256; d++) {
			unsigned int c = count[d];

			count[d] = sum;
			sum += c;
		}
		for (unsigned int i = 0; i < n; i++)
			dst[count[(src[i].key >> shift) & 0xff]++] = src[i];
		x = src;
		src = dst;
		dst = x;
	}
	if (src != v)
		memcpy(v, src, n * sizeof(*v));
}

static uint64_t slot_hva_end(const struct gpci_memslots *t, uint32_t p)
{
	/* No wrap: writers refuse hva + size beyond 2^64 - 1. */
	return t->s[p].hva + t->s[p].size;
}

/*
 * One pass over the slots: whether their host ranges are disjoint and in
 * the order of the slots (gpa order), and how many have a user address.
 */
static bool slots_scan(const struct gpci_memslots *t, unsigned int *nuser)
{
	bool sorted = true;
	unsigned int n = t->s[0].uaddr != 0;

	for (unsigned int i = 1; i < t->n; i++) {
		sorted &= slot_hva_end(t, i - 1) <= t->s[i].hva;
		n += t->s[i].uaddr != 0;
	}
	*nuser = n;
	return sorted;
}

/*
 * The @n slots with a user address, sorted by it, into @v. -ENOTUNIQ if two
 * user ranges overlap.
 */
static int user_order(const struct gpci_memslots *t, struct key_pos *v,
		      struct key_pos *tmp, unsigned int n)
{
	unsigned int k = 0;

	for (unsigned int i = 0; i < t->n && k < n; i++)
		if (t->s[i].uaddr)
			v[k++] = (struct key_pos){ t->s[i].uaddr, i };
	key_pos_sort(v, tmp, n);
	for (unsigned int i = 1; i < n; i++) {
		const struct gpci_memslot *prev = &t->s[v[i - 1].pos];

		/* No wrap: writers refuse uaddr + size beyond 2^64 - 1. */
		if (prev->uaddr + prev->size > v[i].key)
			return -ENOTUNIQ;
	}
	return 0;
}

/* ---- host segments of aliasing slots ----------------------------------- */

/* A min-heap of slot positions: the lowest position is the lowest gpa. */
struct pos_heap {
	uint32_t *v;
	unsigned int n;
};

static void heap_push(struct pos_heap *h, uint32_t p)
{
	unsigned int i = h->n++;

	while (i && h->v[(i - 1) / 2] > p) {
		h->v[i] = h->v[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	h->v[i] = p;
}

static void heap_pop(struct pos_heap *h)
{
	uint32_t last = h->v[--h->n];
	unsigned int i = 0;

	for (;;) {
		unsigned int c = 2 * i + 1;

		if (c >= h->n)
			break;
		if (c + 1 < h->n && h->v[c + 1] < h->v[c])
			c++;
		if (h->v[c] >= last)
			break;
		h->v[i] = h->v[c];
		i = c;
	}
	if (h->n)
		h->v[i] = last;
}

/* Scratch space of a segment build; segments go to start/end/pos. */
struct seg_work {
	struct key_pos *by_hva; /* n: slots sorted by hva */
	struct key_pos *bounds; /* 2n: every start and end, sorted, unique */
	struct key_pos *tmp;	/* 2n: the sorts' scratch */
	struct pos_heap heap;	/* n: the slots covering the sweep point */
	uint64_t *start, *end;	/* 2n: the segments */
	uint32_t *pos;
};

static void seg_emit(struct seg_work *w, unsigned int *nseg, uint64_t b,
		     uint64_t e, uint32_t p)
{
	unsigned int k = *nseg;

	if (k && w->end[k - 1] == b && w->pos[k - 1] == p) {
		w->end[k - 1] = e;
		return;
	}
	w->start[k] = b;
	w->end[k] = e;
	w->pos[k] = p;
	*nseg = k + 1;
}

/*
 * A sweep over the elementary intervals between consecutive bounds: the
 * heap holds every slot that started at or before the interval (with the
 * ones that ended removed lazily, when they reach the top), so its top is
 * the lowest-gpa slot covering the interval. O(n log n).
 */
static unsigned int seg_sweep(const struct gpci_memslots *t, struct seg_work *w)
{
	unsigned int n = t->n, nb = 0, nu = 0, j = 0, nseg = 0;

	for (unsigned int i = 0; i < n; i++) {
		w->by_hva[i] = (struct key_pos){ t->s[i].hva, i };
		w->bounds[nb++] = (struct key_pos){ t->s[i].hva, i };
		w->bounds[nb++] = (struct key_pos){ slot_hva_end(t, i), i };
	}
	key_pos_sort(w->by_hva, w->tmp, n);
	key_pos_sort(w->bounds, w->tmp, nb);
	for (unsigned int i = 0; i < nb; i++)
		if (!nu || w->bounds[i].key != w->bounds[nu - 1].key)
			w->bounds[nu++] = w->bounds[i];
	w->heap.n = 0;
	for (unsigned int k = 0; k + 1 < nu; k++) {
		uint64_t b = w->bounds[k].key;

		while (j < n && w->by_hva[j].key == b)
			heap_push(&w->heap, w->by_hva[j++].pos);
		while (w->heap.n && slot_hva_end(t, w->heap.v[0]) <= b)
			heap_pop(&w->heap);
		if (w->heap.n)
			seg_emit(w, &nseg, b, w->bounds[k + 1].key,
				 w->heap.v[0]);
	}
	return nseg;
}

static void seg_work_free(struct seg_work *w)
{
	free(w->by_hva);
	free(w->bounds);
	free(w->tmp);
	free(w->heap.v);
	free(w->start);
	free(w->end);
	free(w->pos);
}

static int seg_work_alloc(struct seg_work *w, unsigned int n)
{
	memset(w, 0, sizeof(*w));
	w->by_hva = malloc(n * sizeof(*w->by_hva));
	w->bounds = malloc(2 * (size_t)n * sizeof(*w->bounds));
	w->tmp = malloc(2 * (size_t)n * sizeof(*w->tmp));
	w->heap.v = malloc(n * sizeof(uint32_t));
	w->start = malloc(2 * (size_t)n * sizeof(uint64_t));
	w->end = malloc(2 * (size_t)n * sizeof(uint64_t));
	w->pos = malloc(2 * (size_t)n * sizeof(uint32_t));
	if (w->by_hva && w->bounds && w->tmp && w->heap.v && w->start &&
	    w->end && w->pos)
		return 0;
	seg_work_free(w);
	memset(w, 0, sizeof(*w));
	return -ENOMEM;
}

/* ---- build ------------------------------------------------------------- */

/* The aux block with room for @nseg segments and @nuser user entries. */
static struct gpci_memslot_aux *aux_alloc(unsigned int nseg, unsigned int nuser)
{
	size_t size = sizeof(struct gpci_memslot_aux) +
		      (size_t)nseg * (2 * sizeof(uint64_t) + sizeof(uint32_t)) +
		      (size_t)nuser * (sizeof(uint64_t) + sizeof(uint32_t));
	struct gpci_memslot_aux *a = calloc(1, size);
	char *p;

	if (!a)
		return NULL;
	/* 64-bit arrays first: everything stays naturally aligned. */
	p = (char *)(a + 1);
	a->seg_start = (uint64_t *)p;
	a->seg_end = a->seg_start + nseg;
	a->user_start = a->seg_end + nseg;
	a->seg_pos = (uint32_t *)(a->user_start + nuser);
	a->user_pos = a->seg_pos + nseg;
	a->nseg = nseg;
	a->nuser = nuser;
	return a;
}

/* @t's aux from the sorted user entries and the segments built. */
static void aux_fill(struct gpci_memslot_aux *a, const struct key_pos *user,
		     const struct seg_work *w)
{
	for (unsigned int i = 0; i < a->nseg; i++) {
		a->seg_start[i] = w->start[i];
		a->seg_end[i] = w->end[i];
		a->seg_pos[i] = w->pos[i];
	}
	for (unsigned int i = 0; i < a->nuser; i++) {
		a->user_start[i] = user[i].key;
		a->user_pos[i] = user[i].pos;
	}
}

int gpci_memslots_aux_build(struct gpci_memslots *t)
{
	struct gpci_memslot_aux *a = NULL;
	struct seg_work w = { 0 };
	struct key_pos *user = NULL, *utmp = NULL;
	unsigned int nuser, nseg = 0;
	bool sorted, scan;
	int ret = 0;

	t->aux = NULL;
	if (!t->n)
		return 0;
	sorted = slots_scan(t, &nuser);
	scan = !sorted && t->n > AUX_SEG_MAX;
	if (nuser) {
		user = malloc(nuser * sizeof(*user));
		utmp = malloc(nuser * sizeof(*utmp));
		ret = user && utmp ? user_order(t, user, utmp, nuser) : -ENOMEM;
	}
	if (!ret && !sorted && !scan) {
		ret = seg_work_alloc(&w, t->n);
		if (!ret)
			nseg = seg_sweep(t, &w);
	}
	if (!ret) {
		a = aux_alloc(nseg, nuser);
		ret = a ? 0 : -ENOMEM;
	}
	if (a) {
		a->hva_sorted = sorted;
		a->hva_scan = scan;
		aux_fill(a, user, &w);
		t->aux = a;
	}
	seg_work_free(&w);
	free(utmp);
	free(user);
	return ret;
}

void gpci_memslots_aux_free(struct gpci_memslots *t)
{
	free(t->aux);
	t->aux = NULL;
}
