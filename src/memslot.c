// SPDX-License-Identifier: MIT
/*
 * memslot.c - the guest-physical memory map of a vm (stage 1): its tables
 * and their lookups.
 *
 * The table is an immutable array of slots sorted by gpa, with a hash index
 * by guest-physical chunk (memslot_index.h; its writers' side in
 * memslot_index.c). Readers enter a read section of vm->srcu, load
 * vm->ms.table and search it without taking any lock or writing anything but
 * a hint in their own SRCU slot. Writers (memslot_txn.c) serialize on
 * vm->ms.lock, build a complete new table here (index included), publish
 * it, bump the generation, and after dropping the lock wait a grace period
 * of vm->srcu before freeing the old table. So when a change returns, every reader that could
 * have found a slot in the old layout has left its section, and every
 * later reader sees the new table and the new generation; and no reader
 * ever sees a table whose index is still being built.
 *
 * Writers are O(n) (the table and its index are copied) and readers O(1)
 * (see "the chunk index" in memslot_index.h); a slot id is found by a linear scan, which
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
#include "memslot_index.h"
#include "memslot_priv.h"
#include "memslot_search.h"
#include "vm_priv.h"

/* ---- tables ------------------------------------------------------------ */

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

void gpci_memslots_free(struct gpci_memslots *t)
{
	if (t) {
		gpci_memslots_aux_free(t);
		free(t->mem);
	}
}

/*
 * Give @t (slots in place) an index built afresh, of a shape chosen for
 * its slots; the table may have to be reallocated for it, so the result
 * is in *@out. Frees @t on failure.
 */
static int table_reindex(struct gpc_vm *vm, struct gpci_memslots *t,
			 struct gpci_memslots **out)
{
	struct index_geom g = gpci_index_shape(t->s, t->n, vm->page_shift);
	struct index_geom had = table_geom(t);

	if (index_bytes(&g) != index_bytes(&had) ||
	    g.big_room != had.big_room) {
		struct gpci_memslots *nt = table_alloc(t->n, &g, t->generation);

		if (!nt) {
			gpci_memslots_free(t);
			return -ENOMEM;
		}
		memcpy(nt->s, t->s, (size_t)t->n * sizeof(t->s[0]));
		nt->n = t->n;
		gpci_memslots_free(t);
		t = nt;
	} else {
		/* Same sizes, so the same places: the fields alone change. */
		table_set_geom(t, &g);
	}
	gpci_index_build(t);
	*out = t;
	return 0;
}

/* Index of the slot with @id, or -1. Linear: ids are not sorted. */
int gpci_memslots_find_id(const struct gpci_memslots *t, uint32_t id)
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
		return -EADDRINUSE;
	if (pos < t->n && t->s[pos].gpa <= slot_last(s))
		return -EADDRINUSE;
	memmove(t->s + pos + 1, t->s + pos,
		(size_t)(t->n - pos) * sizeof(t->s[0]));
	t->s[pos] = *s;
	t->n++;
	return (int)pos;
}

/*
 * The table that follows @old: without its slot at position @r (-1: none)
 * and with @x (NULL: none), index included, in *@out. -EADDRINUSE if
 * @x overlaps a slot, -ENOMEM.
 */
int gpci_memslots_build(struct gpc_vm *vm, const struct gpci_memslots *old,
			int r, const struct gpci_memslot *x,
			struct gpci_memslots **out)
{
	unsigned int n = old->n - (r >= 0) + (x != NULL);
	bool crowds, stale = gpci_index_stale(old, x, &crowds);
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
			gpci_memslots_free(t);
			return q;
		}
	}
	if (stale)
		return table_reindex(vm, t, out);
	gpci_index_update(t, old, r, q);
	t->crowded = old->crowded + crowds;
	*out = t;
	return 0;
}

void gpci_memslot_info_of(struct gpc_memslot_info *info,
			  const struct gpci_memslot *s, uint64_t gen)
{
	info->id = s->id;
	info->flags = s->flags;
	info->gpa = s->gpa;
	info->size = s->size;
	info->hva = s->hva;
	info->generation = gen;
}

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

	/* The bitmaps of the slots still there (no reader is left). */
	for (unsigned int i = 0; t && i < t->n; i++)
		gpci_dirty_slot_retire(vm, &t->s[i], NULL);
	gpci_memslots_free(t);
	free(vm->ms.ids);
	vm->ms.ids = NULL;
	gpci_listeners_fini(vm);
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
		gpci_memslot_info_of(out, s, t->generation);
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
	i = gpci_memslots_find_id(t, id);
	if (i >= 0)
		gpci_memslot_info_of(out, &t->s[i], t->generation);
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
