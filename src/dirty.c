// SPDX-License-Identifier: MIT
/*
 * dirty.c - the dirty log of memslots with GPC_MEMSLOT_LOG_DIRTY.
 *
 * A logging slot carries a struct gpci_dirty: one bit per 4 KiB page,
 * set by an atomic OR (skipped when the bits are set already), taken and
 * cleared by an atomic exchange per 64-bit word. The bitmap follows the
 * slot from table to table (memslot writers call the hooks of dirty_priv.h)
 * and is freed after the grace period that retires the last table holding
 * it; every marker is inside a read section of vm->srcu while it uses it.
 *
 * Writable caches do not mark on their inline fast path. Their whole range
 * counts as written while they map it, which takes two steps:
 *  (1) a refresh marks the range after the cache's pages are in the vm's
 *      index of active caches (cache.c: refresh_prepare() inserts, then
 *      gpci_dirty_cache_refreshed()) and before it publishes the
 *      translation, so before any write through it;
 *  (2) a harvest, after its exchanges, walks the index over the slot's
 *      host range under the index lock and marks again the pages of every
 *      writable cache it finds.
 * No write is lost: take a write W through cache C to page P and a harvest
 * H that takes P's word. C's pages stay in the index from before the
 * publish that made W possible until after the last reader of that
 * translation left (deactivate and leaving a range quiesce before removing
 * the index entries). If H's walk finds C, H marks P again after its
 * exchange, so P stays in the log for the next harvest. If it does not, C
 * was inserted after the walk (the index lock orders them): then C's mark
 * (1) follows the insert, which follows H's walk, which follows H's
 * exchange, so the bit is set again after H; or C left the index before
 * the walk, and then W happened before that removal, so before the walk:
 * the bit H took was set by (1) or by the previous harvest's (2) and not
 * cleared since, and W's data is visible to H's caller (the index lock
 * again). In every case each harvest while C maps P reports P, and the
 * first harvest after C unmapped it reports it once more.
 *
 * Marks made before the write (a translation for writing, (1)) are why a
 * harvest ends with a grace period of vm->srcu: a writer that marked
 * before our exchange is inside a section that began before it, so when
 * the grace period ends its write is complete and visible, and the pages
 * we return may be copied. (A marker that skipped its RMW because the bit
 * was set is covered the same way: its section read the bit before our
 * exchange.)
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>

#include <gpc/dirty.h>

#include "cache_priv.h"
#include "dirty_priv.h"
#include "index_priv.h"
#include "vm_priv.h"

struct gpci_dirty {
	uint64_t npages; /* 4 KiB pages of the slot */
	size_t nwords;
	_Atomic uint64_t bits[];
};

_Atomic unsigned long gpci_dirty_logs;

static struct gpci_dirty *dirty_alloc(uint64_t size)
{
	uint64_t npages = size >> GPC_DIRTY_PAGE_SHIFT;
	size_t nwords = (size_t)GPC_DIRTY_LOG_WORDS(size);
	struct gpci_dirty *d;

	d = calloc(1, sizeof(*d) + nwords * sizeof(d->bits[0]));
	if (!d)
		return NULL;
	d->npages = npages;
	d->nwords = nwords;
	atomic_fetch_add_explicit(&gpci_dirty_logs, 1, memory_order_relaxed);
	return d;
}

static void dirty_free(struct gpci_dirty *d)
{
	free(d);
	atomic_fetch_sub_explicit(&gpci_dirty_logs, 1, memory_order_relaxed);
}

/* ---- the hooks of memslot writers -------------------------------------- */

int gpci_dirty_slot_prepare(struct gpc_vm *vm, struct gpci_memslot *n,
			    const struct gpci_memslot *o)
{
	struct gpci_dirty *od = o ? o->dirty : NULL;

	(void)vm;
	if (!(n->flags & GPC_MEMSLOT_LOG_DIRTY)) {
		n->dirty = NULL;
		return 0;
	}
	/* Logging goes on: keep the bits (moves and flag changes). */
	if (od && o->size == n->size) {
		n->dirty = od;
		return 0;
	}
	n->dirty = dirty_alloc(n->size);
	return n->dirty ? 0 : -ENOMEM;
}

void gpci_dirty_slot_unprepare(struct gpci_memslot *n,
			       const struct gpci_memslot *o)
{
	if (n->dirty && n->dirty != (o ? o->dirty : NULL))
		dirty_free(n->dirty);
	n->dirty = NULL;
}

void gpci_dirty_slot_retire(struct gpc_vm *vm, const struct gpci_memslot *o,
			    const struct gpci_memslot *n)
{
	(void)vm;
	if (o && o->dirty && (!n || n->dirty != o->dirty))
		dirty_free(o->dirty);
}

/* ---- marking ----------------------------------------------------------- */

/*
 * Set pages [first, last]. Release: a harvester whose exchange sees a bit
 * that a writer set after writing (gpc_cache_write) also sees the data.
 */
static void bits_set(_Atomic uint64_t *bits, uint64_t first, uint64_t last)
{
	for (uint64_t w = first / 64; w <= last / 64; w++) {
		unsigned int lo = w == first / 64 ? first % 64 : 0;
		unsigned int hi = w == last / 64 ? last % 64 : 63;
		uint64_t m = (~0ull >> (63 - hi)) & (~0ull << lo);

		if ((atomic_load_explicit(&bits[w], memory_order_relaxed) &
		     m) != m)
			atomic_fetch_or_explicit(&bits[w], m,
						 memory_order_release);
	}
}

void gpci_dirty_mark(struct gpci_dirty *d, uint64_t off, uint64_t len)
{
	uint64_t first, last;

	if (!d || !len)
		return;
	first = off >> GPC_DIRTY_PAGE_SHIFT;
	if (first >= d->npages)
		return;
	last = (off + (len - 1)) >> GPC_DIRTY_PAGE_SHIFT;
	if (last >= d->npages || off + (len - 1) < off)
		last = d->npages - 1;
	bits_set(d->bits, first, last);
}

/*
 * Mark [gpa, gpa + len) in the slot that holds @gpa, if it logs; return
 * its bitmap (NULL if none) and in *@off the offset of @gpa in the slot.
 */
static struct gpci_dirty *mark_gpa(struct gpc_vm *vm, uint64_t gpa,
				   uint64_t len, uint64_t *off)
{
	const struct gpci_memslot *s;
	struct gpci_dirty *d = NULL;
	uint64_t gen;

	/*
	 * A section of vm->srcu of our own: on the rwlock scheme the caller's
	 * cache section is not one, and the bitmap may be retired meanwhile.
	 */
	gpc_srcu_read_lock(vm->srcu);
	s = gpci_memslot_find(vm, gpa, &gen);
	if (s && s->dirty) {
		d = s->dirty;
		*off = gpa - s->gpa;
		gpci_dirty_mark(d, *off, len);
	}
	gpc_srcu_read_unlock(vm->srcu);
	return d;
}

struct gpci_dirty *gpci_dirty_cache_refreshed(struct gpc_cache *c, uint64_t gpa,
					      uint64_t len, uint64_t *off)
{
	if (!gpci_dirty_any() || (c->flags & GPC_CACHE_READONLY))
		return NULL;
	return mark_gpa(c->vm, gpa, len, off);
}

void gpci_dirty_cache_publish(struct gpc_cache *c, struct gpci_dirty *d,
			      uint64_t off)
{
	struct gpc_cache_priv *p = c->priv;

	atomic_store_explicit(&p->log_dirty, d, memory_order_relaxed);
	atomic_store_explicit(&p->log_off, off, memory_order_relaxed);
	atomic_store_explicit(&p->log_gpa, p->hva_mode ? UINT64_MAX : p->gpa,
			      memory_order_relaxed);
}

/*
 * The srcu scheme: the caller's begin .. end is a section of vm->srcu whose
 * check found the cache's generation current, so the translation it used
 * was published from a table that no grace period has retired yet, and
 * log_dirty (stored before that publish, or by a later one, from a table
 * current then) is that table's bitmap or a newer one's: alive until the
 * section ends. Same page, no lookup. The rwlock scheme's section is not
 * one of vm->srcu and the bitmap may be retired under it: look the slot up
 * again inside a section of our own. (Either way a cache's whole range is
 * marked already, by its refresh and by harvests; this keeps the log exact
 * for what the call wrote should that ever change.)
 */
void gpci_dirty_cache_wrote(struct gpc_cache *c, uint64_t off, uint64_t len)
{
	struct gpc_cache_priv *p = c->priv;
	struct gpci_dirty *d;
	uint64_t gpa, o;

	if (c->scheme == GPC_SCHEME_SRCU) {
		d = atomic_load_explicit(&p->log_dirty, memory_order_relaxed);
		o = atomic_load_explicit(&p->log_off, memory_order_relaxed);
		gpci_dirty_mark(d, o + off, len);
		return;
	}
	gpa = atomic_load_explicit(&p->log_gpa, memory_order_relaxed);
	if (gpa != UINT64_MAX)
		mark_gpa(c->vm, gpa + off, len, &o);
}

/* ---- harvesting -------------------------------------------------------- */

struct harvest {
	struct gpc_vm *vm;
	const struct gpci_memslot *s;
	struct gpci_dirty *d;
	uint64_t *out; /* d->nwords words */
};

/* The logging slot @id of the current table; inside a section. */
static int find_logging(struct gpc_vm *vm, uint32_t id,
			const struct gpci_memslot **out)
{
	const struct gpci_memslots *t = gpci_memslot_table(vm);

	for (unsigned int i = 0; i < t->n; i++) {
		if (t->s[i].id != id)
			continue;
		if (!t->s[i].dirty)
			return -ENODATA;
		*out = &t->s[i];
		return 0;
	}
	return -ENOENT;
}

/* (2) of the file comment: one page of a cache found in the index. */
static void remark_node(const struct gpci_index_node *n, void *arg)
{
	struct harvest *h = arg;
	uint64_t hva = n->page << h->vm->page_shift, off, first, last;

	/* Set at init, before the cache could be indexed: stable. */
	if (n->c->flags & GPC_CACHE_READONLY)
		return;
	off = hva - h->s->hva;
	if (off >= h->s->size)
		return;
	first = off >> GPC_DIRTY_PAGE_SHIFT;
	last = (off + h->vm->page_size - 1) >> GPC_DIRTY_PAGE_SHIFT;
	if (last >= h->d->npages)
		last = h->d->npages - 1;
	bits_set(h->d->bits, first, last);
	for (uint64_t p = first; p <= last; p++)
		h->out[p / 64] |= 1ull << (p % 64);
}

/*
 * Exchange every word into h->out, then mark the pages of writable caches
 * again (in that order: see the file comment). Inside a section.
 */
static void take(struct harvest *h)
{
	struct gpci_dirty *d = h->d;
	struct gpc_vm *vm = h->vm;
	uint64_t first = h->s->hva >> vm->page_shift;
	uint64_t last = (h->s->hva + h->s->size - 1) >> vm->page_shift;
	sigset_t old;

	for (size_t w = 0; w < d->nwords; w++) {
		uint64_t v =
			atomic_load_explicit(&d->bits[w], memory_order_relaxed);

		/* Acquire: pairs with bits_set()'s release. */
		if (v)
			v = atomic_exchange_explicit(&d->bits[w], 0,
						     memory_order_acquire);
		h->out[w] = v;
	}
	/* Signals blocked around the index lock, as everywhere (index.c). */
	gpci_block_signals(&old);
	gpci_index_lock(&vm->index);
	gpci_index_walk_nodes(&vm->index, first, last, remark_node, h);
	gpci_index_unlock(&vm->index);
	gpci_restore_signals(&old);
}

static int count_pages(const uint64_t *w, size_t n)
{
	uint64_t k = 0;

	for (size_t i = 0; i < n; i++)
		k += (uint64_t)__builtin_popcountll(w[i]);
	return k > INT_MAX ? INT_MAX : (int)k;
}

/* The grace period that makes what we took safe to copy (file comment). */
static void harvest_wait(struct gpc_vm *vm)
{
	int err = gpc_srcu_synchronize(vm->srcu);

	if (err)
		gpci_log(GPC_LOG_ERR, "dirty: grace period failed (%d)", err);
}

int gpc_dirty_log_get_and_clear(struct gpc_vm *vm, uint32_t slot_id,
				uint64_t *bitmap, size_t words)
{
	struct harvest h = { .vm = vm, .out = bitmap };
	size_t n = 0;
	int ret;

	if (!vm || !bitmap)
		return -EINVAL;
	/* The grace period would wait for us; on the rwlock scheme an
	 * invalidation holding the index lock may wait for our section. */
	if (gpci_section_held(vm))
		return -EDEADLK;
	gpc_srcu_read_lock(vm->srcu);
	ret = find_logging(vm, slot_id, &h.s);
	if (!ret) {
		h.d = h.s->dirty;
		n = h.d->nwords;
		if (words < n)
			ret = -ENOSPC;
		else
			take(&h);
	}
	gpc_srcu_read_unlock(vm->srcu);
	if (ret)
		return ret;
	harvest_wait(vm);
	return count_pages(bitmap, n);
}

/*
 * OR the 8 pages of @byte, the first of which is log page @page, into the
 * vhost-user log (bit page % 8 of byte page / 8).
 */
static void log_or(uint8_t *log, uint64_t page, uint8_t byte)
{
	unsigned int sh = page % 8;
	uint8_t lo = (uint8_t)(byte << sh), hi = (uint8_t)(byte >> (8 - sh));

	if (lo)
		atomic_fetch_or_explicit((_Atomic uint8_t *)&log[page / 8], lo,
					 memory_order_relaxed);
	if (sh && hi)
		atomic_fetch_or_explicit((_Atomic uint8_t *)&log[page / 8 + 1],
					 hi, memory_order_relaxed);
}

static void log_put(uint8_t *log, uint64_t first_page, const uint64_t *w,
		    size_t n)
{
	for (size_t i = 0; i < n; i++) {
		for (unsigned int b = 0; b < 8 && w[i] >> (8 * b); b++) {
			uint8_t byte = (uint8_t)(w[i] >> (8 * b));

			if (byte)
				log_or(log, first_page + 64 * i + 8 * b, byte);
		}
	}
}

int gpc_dirty_log_harvest(struct gpc_vm *vm, uint32_t slot_id, void *log_base,
			  size_t log_size)
{
	struct harvest h = { .vm = vm };
	uint64_t first = 0;
	size_t n = 0;
	int ret;

	if (!vm || !log_base)
		return -EINVAL;
	if (gpci_section_held(vm))
		return -EDEADLK;
	gpc_srcu_read_lock(vm->srcu);
	ret = find_logging(vm, slot_id, &h.s);
	if (!ret) {
		h.d = h.s->dirty;
		n = h.d->nwords;
		first = h.s->gpa >> GPC_DIRTY_PAGE_SHIFT;
		/* Bytes up to the one that holds the slot's last page. */
		if ((first + h.d->npages + 7) / 8 > log_size)
			ret = -ENOSPC;
	}
	if (!ret) {
		h.out = malloc(n * sizeof(*h.out));
		if (!h.out)
			ret = -ENOMEM;
		else
			take(&h);
	}
	gpc_srcu_read_unlock(vm->srcu);
	if (ret)
		return ret;
	/* Into the log only once the writes are visible (file comment). */
	harvest_wait(vm);
	log_put(log_base, first, h.out, n);
	ret = count_pages(h.out, n);
	free(h.out);
	return ret;
}
