/* SPDX-License-Identifier: MIT */
/*
 * memslot_aux.h - the secondary indexes of a memslot table (memslot_aux.c):
 * lookups by host address and by the caller's user address; not installed.
 *
 * Built by gpci_memslots_aux_build() (memslot_priv.h) after the slots of a
 * new table are final and before it is published, freed with the table;
 * immutable in between, so readers inside a read section of vm->srcu use
 * them without any synchronization beyond the acquire load of the table.
 * A table without slots (and the vm's first table, which is never built
 * through a change) has aux == NULL: both lookups then miss.
 */
#ifndef GPC_MEMSLOT_AUX_H
#define GPC_MEMSLOT_AUX_H

#include <stdbool.h>
#include <stdint.h>

#include "memslot_priv.h"

/*
 * By host address: when the slots' host ranges are disjoint and in the
 * same order as their guest-physical ones (slots created over one mapping
 * in address order: the usual layout), t->s[] is itself sorted by hva and
 * nothing more is stored (hva_sorted). Otherwise the host address space is
 * cut into disjoint segments [seg_start[i], seg_end[i]), each owned by the
 * slot at position seg_pos[i]: among the slots whose host range covers the
 * segment, the one with the lowest guest-physical base (t->s[] is sorted by
 * gpa, so the lowest position). Aliasing slots thus give one answer, the
 * same for a table whatever the order its slots were added in. A table
 * of more slots than memslot_aux.c builds segments for, out of order, has
 * neither (hva_scan): its lookups scan t->s[] in gpa order, and the first
 * slot found is the lowest-gpa one.
 *
 * By user address: the slots with a uaddr, sorted by it, in user_start[]
 * (the bases, for the search) and user_pos[] (their positions). User
 * ranges never overlap: the build refuses such a table (-ENOTUNIQ).
 */
struct gpci_memslot_aux {
	bool hva_sorted;
	bool hva_scan;
	unsigned int nseg;
	unsigned int nuser;
	uint64_t *seg_start, *seg_end;
	uint32_t *seg_pos;
	uint64_t *user_start;
	uint32_t *user_pos;
};

/* Number of entries of the sorted @v[0..n) at or below @x. */
static inline unsigned int gpci_aux_upper(const uint64_t *v, unsigned int n,
					  uint64_t x)
{
	const uint64_t *base = v;

	if (!n)
		return 0;
	while (n > 1) {
		unsigned int half = n / 2;

		base = base[half] <= x ? base + half : base;
		n -= half;
	}
	return (unsigned int)(base - v) + (*base <= x);
}

/* Number of slots of @t whose hva is at or below @x (hva_sorted only). */
static inline unsigned int gpci_aux_hva_upper(const struct gpci_memslots *t,
					      uint64_t x)
{
	const struct gpci_memslot *base = t->s;
	unsigned int n = t->n;

	if (!n)
		return 0;
	while (n > 1) {
		unsigned int half = n / 2;

		base = base[half].hva <= x ? base + half : base;
		n -= half;
	}
	return (unsigned int)(base - t->s) + (base->hva <= x);
}

/*
 * The slot of @t whose host range contains @hva (the lowest-gpa one if
 * several do), or NULL. Context: any context; inside a read section of
 * vm->srcu that keeps @t alive.
 */
static inline const struct gpci_memslot *
gpci_memslots_by_hva(const struct gpci_memslots *t, uint64_t hva)
{
	const struct gpci_memslot_aux *a = t->aux;
	unsigned int u;

	if (!a)
		return NULL;
	if (a->hva_sorted) {
		u = gpci_aux_hva_upper(t, hva);
		if (u && hva - t->s[u - 1].hva < t->s[u - 1].size)
			return &t->s[u - 1];
		return NULL;
	}
	if (a->hva_scan) {
		for (u = 0; u < t->n; u++)
			if (hva - t->s[u].hva < t->s[u].size)
				return &t->s[u];
		return NULL;
	}
	u = gpci_aux_upper(a->seg_start, a->nseg, hva);
	if (u && hva < a->seg_end[u - 1])
		return &t->s[a->seg_pos[u - 1]];
	return NULL;
}

/*
 * The index in user order (for gpci_memslots_user_at()) of the slot of @t
 * whose user range contains @uaddr, or -1. Context: any context; inside a
 * read section of vm->srcu.
 */
static inline long gpci_memslots_by_uaddr(const struct gpci_memslots *t,
					  uint64_t uaddr)
{
	const struct gpci_memslot_aux *a = t->aux;
	const struct gpci_memslot *s;
	unsigned int u;

	if (!a || !uaddr)
		return -1;
	u = gpci_aux_upper(a->user_start, a->nuser, uaddr);
	if (!u)
		return -1;
	s = &t->s[a->user_pos[u - 1]];
	return uaddr - s->uaddr < s->size ? (long)u - 1 : -1;
}

/* The slot at index @k in user order, or NULL past the last. */
static inline const struct gpci_memslot *
gpci_memslots_user_at(const struct gpci_memslots *t, unsigned long k)
{
	const struct gpci_memslot_aux *a = t->aux;

	return a && k < a->nuser ? &t->s[a->user_pos[k]] : NULL;
}

#endif /* GPC_MEMSLOT_AUX_H */
