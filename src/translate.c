// SPDX-License-Identifier: MIT
/*
 * translate.c - one-shot translations through the memslot table inside a
 * caller's read section (gpc/translate.h).
 *
 * Every call loads the current table once (acquire: its slots and
 * secondary indexes are complete, memslot_priv.h) and answers from it
 * alone, so a result never mixes two tables: a scatter list is one
 * table's view of the range even while a writer publishes the next one.
 * The caller's read section of vm->srcu is what keeps that table (and the
 * memory behind it, by the unmap rule of gpc/memslot.h) alive until it
 * leaves; we only check that it is in one, through its own slot (one load
 * and compare in the thread's lookaside entry), which is also where the
 * thread's last-hit hint for gpa lookups lives.
 *
 * No lock, no allocation, no system call: any context, async-signal-safe.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include <gpc/translate.h>

#include "dirty_priv.h"
#include "memslot_aux.h"
#include "memslot_priv.h"
#include "memslot_search.h"
#include "vm_priv.h"

/*
 * The calling thread's slot of the vm's domain if it is inside a section,
 * else NULL. A relaxed load of our own slot's count: only this thread (and
 * its signal handlers, which leave it as they found it) writes it.
 */
static gpc_always_inline struct gpc_srcu_slot *section_of(struct gpc_vm *vm)
{
	struct gpc_srcu_slot *rs = gpc_srcu_slot_of(vm->srcu);

	if (atomic_load_explicit(&rs->ctr, memory_order_relaxed) &
	    GPC_SRCU_NEST_MASK)
		return rs;
	return NULL;
}

/*
 * The current table. Acquire pairs with the writer's release publish: its
 * slots, index and aux are complete before we can see the pointer
 * (gpci_memslot_table(), loaded here without the call).
 */
static gpc_always_inline const struct gpci_memslots *table_of(struct gpc_vm *vm)
{
	return atomic_load_explicit(&vm->ms.table, memory_order_acquire);
}

/*
 * The slot of the current table containing @gpa: memslot.c's search,
 * inlined (memslot_search.h), which tries the thread's last hit (its
 * position, in the slot's hint word) first and then the chunk index. The
 * hint is only a candidate, checked against the table we loaded.
 */
static gpc_always_inline const struct gpci_memslot *
gpa_slot(struct gpc_vm *vm, struct gpc_srcu_slot *rs, uint64_t gpa,
	 const struct gpci_memslots **tp)
{
	const struct gpci_memslots *t = table_of(vm);

	*tp = t;
	return table_search(t, gpa, &rs->user[GPCI_SLOT_MEMSLOT_HINT]);
}

/* [addr, addr + len) ends above 2^64 (an end of exactly 2^64 is fine). */
static gpc_always_inline bool range_wraps(uint64_t addr, uint64_t len)
{
	return len && len - 1 > UINT64_MAX - addr;
}

/*
 * The checks and side effects of a translation of @n bytes at offset @off
 * of @s: refuse a write to a read-only slot, log a write on a logging one.
 * Marked before the caller writes, inside the caller's section: a harvest
 * of the dirty log waits for such sections before it reports (dirty.c), so
 * the write is done by then.
 */
static gpc_always_inline int slot_use(const struct gpci_memslot *s,
				      uint64_t off, uint64_t n,
				      unsigned int flags)
{
	if (!(flags & GPC_TRANSLATE_WRITE))
		return 0;
	if (s->flags & GPC_MEMSLOT_READONLY)
		return -EROFS;
	if (s->dirty && n)
		gpci_dirty_mark(s->dirty, off, n);
	return 0;
}

/* *@len = what fits of it in @s from @off, *@ptr = its host address. */
static gpc_always_inline int slot_piece(const struct gpci_memslot *s,
					uint64_t off, uint64_t *len,
					unsigned int flags, void **ptr)
{
	uint64_t rest = s->size - off, n = *len < rest ? *len : rest;
	int ret = slot_use(s, off, n, flags);

	if (ret)
		return ret;
	*len = n;
	*ptr = (void *)(uintptr_t)(s->hva + off);
	return 0;
}

static void slot_desc(struct gpc_memslot_desc *d, const struct gpci_memslot *s,
		      uint64_t gen)
{
	*d = (struct gpc_memslot_desc){ .id = s->id,
					.flags = s->flags,
					.gpa = s->gpa,
					.size = s->size,
					.hva = s->hva,
					.uaddr = s->uaddr,
					.generation = gen };
}

/* gpc_translate_gpa() with every check in order: what the fast path
 * leaves to it (errors, a thread's first section, the binary search). */
static __attribute__((noinline)) int
translate_gpa_slow(struct gpc_vm *vm, uint64_t gpa, uint64_t *len,
		   unsigned int flags, void **ptr)
{
	const struct gpci_memslots *t;
	const struct gpci_memslot *s;
	struct gpc_srcu_slot *rs;

	if (!vm || !len || !ptr || (flags & ~GPC_TRANSLATE_FLAGS_ALL))
		return -EINVAL;
	rs = section_of(vm);
	if (!rs)
		return -EPERM;
	if (range_wraps(gpa, *len))
		return -EOVERFLOW;
	s = gpa_slot(vm, rs, gpa, &t);
	if (!s)
		return -ENOENT;
	return slot_piece(s, gpa - s->gpa, len, flags, ptr);
}

/* The fast path's write to a logging slot: mark, then hand out. */
static __attribute__((noinline)) int
translate_marked(const struct gpci_memslot *s, uint64_t off, uint64_t n,
		 uint64_t *len, void **ptr)
{
	gpci_dirty_mark(s->dirty, off, n);
	*len = n;
	*ptr = (void *)(uintptr_t)(s->hva + off);
	return 0;
}

/* slot_piece() of the slot at @pos of @t, its dirty marking a tail call. */
static gpc_always_inline int piece_at(const struct gpci_memslots *t, long pos,
				      uint64_t gpa, uint64_t *len,
				      unsigned int flags, void **ptr)
{
	const struct gpci_memslot *s = &t->s[pos];
	uint64_t off = gpa - s->gpa, rest = s->size - off;
	uint64_t n = *len < rest ? *len : rest;

	if (flags & GPC_TRANSLATE_WRITE) {
		if (s->flags & GPC_MEMSLOT_READONLY)
			return -EROFS;
		if (s->dirty && n)
			return translate_marked(s, off, n, len, ptr);
	}
	*len = n;
	*ptr = (void *)(uintptr_t)(s->hva + off);
	return 0;
}

/* The rare case the chunk index cannot answer: the binary search. */
static __attribute__((noinline)) int
translate_sorted(const struct gpci_memslots *t, _Atomic unsigned int *hint,
		 uint64_t gpa, uint64_t *len, unsigned int flags, void **ptr)
{
	long pos = search_sorted(t, gpa);

	if (pos < 0)
		return -ENOENT;
	atomic_store_explicit(hint, (unsigned int)pos, memory_order_relaxed);
	return piece_at(t, pos, gpa, len, flags, ptr);
}

/*
 * The translation in @t after the hint missed, all checks passed: the
 * chunk index. Out of line and with tail calls only, so that the caller's
 * hint hit needs no frame; its own saved registers are the price of the
 * probe's loops next to six live arguments.
 */
static __attribute__((noinline)) int
translate_in(const struct gpci_memslots *t, _Atomic unsigned int *hint,
	     uint64_t gpa, uint64_t *len, unsigned int flags, void **ptr)
{
	long pos = table_index_probe(t, gpa, hint);

	if (gpc_unlikely(pos < 0)) {
		if (pos == MISS)
			return -ENOENT;
		return translate_sorted(t, hint, gpa, len, flags, ptr);
	}
	return piece_at(t, pos, gpa, len, flags, ptr);
}

/*
 * The fast path: the thread's last hit, inline, or translate_in(); it
 * calls nothing else, so it needs no frame. The thread's slot is found
 * without claiming one (a thread in a section has claimed its slot
 * already); any check that fails goes to translate_gpa_slow(), which
 * starts over and answers with the errors in their documented order.
 */
int gpc_translate_gpa(struct gpc_vm *vm, uint64_t gpa, uint64_t *len,
		      unsigned int flags, void **ptr)
{
	if (gpc_likely(vm && len && ptr &&
		       !(flags & ~GPC_TRANSLATE_FLAGS_ALL))) {
		uint64_t key = vm->srcu->key;
		struct gpc_srcu_slot *rs =
			&gpc_srcu_tls[key & GPC_SRCU_KEY_INDEX];

		if (gpc_likely(atomic_load_explicit(
				       &rs->key, memory_order_relaxed) == key &&
			       (atomic_load_explicit(&rs->ctr,
						     memory_order_relaxed) &
				GPC_SRCU_NEST_MASK) &&
			       !range_wraps(gpa, *len))) {
			const struct gpci_memslots *t = table_of(vm);
			_Atomic unsigned int *hint =
				&rs->user[GPCI_SLOT_MEMSLOT_HINT];
			unsigned int h = atomic_load_explicit(
				hint, memory_order_relaxed);

			if (gpc_likely(h < t->n) &&
			    slot_contains(&t->s[h], gpa))
				return piece_at(t, h, gpa, len, flags, ptr);
			return translate_in(t, hint, gpa, len, flags, ptr);
		}
	}
	return translate_gpa_slow(vm, gpa, len, flags, ptr);
}

int gpc_translate_uaddr(struct gpc_vm *vm, uint64_t uaddr, uint64_t *len,
			unsigned int flags, void **ptr)
{
	const struct gpci_memslots *t;
	const struct gpci_memslot *s;
	long k;

	if (!vm || !len || !ptr || (flags & ~GPC_TRANSLATE_FLAGS_ALL))
		return -EINVAL;
	if (!section_of(vm))
		return -EPERM;
	if (range_wraps(uaddr, *len))
		return -EOVERFLOW;
	t = table_of(vm);
	k = gpci_memslots_by_uaddr(t, uaddr);
	if (k < 0)
		return -ENOENT;
	s = gpci_memslots_user_at(t, (unsigned long)k);
	return slot_piece(s, uaddr - s->uaddr, len, flags, ptr);
}

/* ---- scatter forms ------------------------------------------------------ */

/* One scatter translation in progress. */
struct iov_walk {
	const struct gpci_memslots *t;
	struct iovec *iov;
	unsigned int niov, k; /* entries, entries filled */
	uint64_t done;	      /* bytes translated */
};

/*
 * Append @n bytes at @hva to the list: to the last entry if it ends at
 * @hva (two slots adjacent in host memory too), else in a new one.
 */
static gpc_always_inline int iov_add(struct iov_walk *w, uint64_t hva,
				     uint64_t n)
{
	struct iovec *last = w->k ? &w->iov[w->k - 1] : NULL;

	if (last && (uintptr_t)last->iov_base + last->iov_len == hva) {
		last->iov_len += n;
		return 0;
	}
	if (w->k == w->niov)
		return -ENOBUFS;
	w->iov[w->k++] = (struct iovec){ .iov_base = (void *)(uintptr_t)hva,
					 .iov_len = n };
	return 0;
}

/*
 * Translate [addr + w->done, addr + len) starting in slot @s, which
 * contains it (NULL: a hole), whose user-order index is @k if @by_user.
 * Gpa order is the table's, user order the aux index's; either way the
 * next slot must start where the last one ended.
 */
static gpc_always_inline int iov_walk(struct iov_walk *w,
				      const struct gpci_memslot *s, long k,
				      bool by_user, uint64_t addr, uint64_t len,
				      unsigned int flags)
{
	while (w->done < len) {
		uint64_t at = addr + w->done, base, off, n;
		int ret;

		if (!s)
			return -ENOENT;
		base = by_user ? s->uaddr : s->gpa;
		if (at - base >= s->size)
			return -ENOENT;
		off = at - base;
		n = s->size - off < len - w->done ? s->size - off :
						    len - w->done;
		if (s->flags & GPC_MEMSLOT_READONLY &&
		    flags & GPC_TRANSLATE_WRITE)
			return -EROFS;
		ret = iov_add(w, s->hva + off, n);
		if (ret)
			return ret;
		slot_use(s, off, n, flags);
		w->done += n;
		if (by_user)
			s = gpci_memslots_user_at(w->t, (unsigned long)++k);
		else
			s = s + 1 < w->t->s + w->t->n ? s + 1 : NULL;
	}
	return (int)w->k;
}

/* What both scatter forms check first; 1 if there is nothing to do. */
static gpc_always_inline int iov_begin(struct gpc_vm *vm, uint64_t addr,
				       uint64_t len, unsigned int flags,
				       struct iovec *iov, unsigned int niov,
				       uint64_t *done,
				       struct gpc_srcu_slot **rs)
{
	if (done)
		*done = 0;
	if (!vm || (!iov && niov) || (flags & ~GPC_TRANSLATE_FLAGS_ALL))
		return -EINVAL;
	*rs = section_of(vm);
	if (!*rs)
		return -EPERM;
	if (range_wraps(addr, len))
		return -EOVERFLOW;
	return !len;
}

int gpc_translate_gpa_iov(struct gpc_vm *vm, uint64_t gpa, uint64_t len,
			  unsigned int flags, struct iovec *iov,
			  unsigned int niov, uint64_t *done)
{
	struct iov_walk w = { .iov = iov, .niov = niov };
	struct gpc_srcu_slot *rs;
	int ret = iov_begin(vm, gpa, len, flags, iov, niov, done, &rs);
	const struct gpci_memslot *s;

	if (ret)
		return ret < 0 ? ret : 0;
	s = gpa_slot(vm, rs, gpa, &w.t);
	ret = iov_walk(&w, s, 0, false, gpa, len, flags);
	if (done)
		*done = w.done;
	return ret;
}

int gpc_translate_uaddr_iov(struct gpc_vm *vm, uint64_t uaddr, uint64_t len,
			    unsigned int flags, struct iovec *iov,
			    unsigned int niov, uint64_t *done)
{
	struct iov_walk w = { .iov = iov, .niov = niov };
	struct gpc_srcu_slot *rs;
	int ret = iov_begin(vm, uaddr, len, flags, iov, niov, done, &rs);
	long k;

	if (ret)
		return ret < 0 ? ret : 0;
	w.t = table_of(vm);
	k = gpci_memslots_by_uaddr(w.t, uaddr);
	ret = iov_walk(
		&w, k < 0 ? NULL : gpci_memslots_user_at(w.t, (unsigned long)k),
		k, true, uaddr, len, flags);
	if (done)
		*done = w.done;
	return ret;
}

/* ---- reverse and descriptor lookups ------------------------------------ */

int gpc_translate_uaddr_gpa(struct gpc_vm *vm, uint64_t uaddr, uint64_t *gpa,
			    struct gpc_memslot_desc *slot)
{
	const struct gpci_memslots *t;
	const struct gpci_memslot *s;
	long k;

	if (!vm || !gpa)
		return -EINVAL;
	if (!section_of(vm))
		return -EPERM;
	t = table_of(vm);
	k = gpci_memslots_by_uaddr(t, uaddr);
	if (k < 0)
		return -ENOENT;
	s = gpci_memslots_user_at(t, (unsigned long)k);
	*gpa = s->gpa + (uaddr - s->uaddr);
	if (slot)
		slot_desc(slot, s, t->generation);
	return 0;
}

int gpc_translate_hva_gpa(struct gpc_vm *vm, const void *hva, uint64_t *gpa,
			  struct gpc_memslot_desc *slot)
{
	uint64_t h = (uint64_t)(uintptr_t)hva;
	const struct gpci_memslots *t;
	const struct gpci_memslot *s;

	if (!vm || !gpa)
		return -EINVAL;
	if (!section_of(vm))
		return -EPERM;
	t = table_of(vm);
	s = gpci_memslots_by_hva(t, h);
	if (!s)
		return -ENOENT;
	*gpa = s->gpa + (h - s->hva);
	if (slot)
		slot_desc(slot, s, t->generation);
	return 0;
}

int gpc_translate_gpa_slot(struct gpc_vm *vm, uint64_t gpa,
			   struct gpc_memslot_desc *slot)
{
	const struct gpci_memslots *t;
	const struct gpci_memslot *s;
	struct gpc_srcu_slot *rs;

	if (!vm || !slot)
		return -EINVAL;
	rs = section_of(vm);
	if (!rs)
		return -EPERM;
	s = gpa_slot(vm, rs, gpa, &t);
	if (!s)
		return -ENOENT;
	slot_desc(slot, s, t->generation);
	return 0;
}
