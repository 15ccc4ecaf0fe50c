// SPDX-License-Identifier: MIT
/*
 * memslot.c - the guest-physical memory map of a vm (stage 1).
 *
 * The table is an immutable array of slots sorted by gpa. Readers enter a
 * read section of vm->srcu, load vm->slots and search it without taking any
 * lock or writing anything but an occasional hint. Writers serialize on
 * vm->slots_lock, build a complete new table, publish it, bump the
 * generation, and after dropping the lock wait a grace period of vm->srcu
 * before freeing the old table. So when a change returns, every reader that
 * could have found a slot in the old layout has left its section, and every
 * later reader sees the new table and the new generation.
 *
 * Writers are O(n) (the table is copied) and readers O(log n); a slot id is
 * found by a linear scan, which only writers and gpc_memslot_get() do
 * (a create only tests a bitmap of the ids in use).
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

#include "internal.h"

/* ---- tables ------------------------------------------------------------ */

/*
 * A table with room for @cap slots, none used yet. The room is rounded up to
 * a power of two so that consecutive tables have the same size: the one a
 * change frees is then exactly what the next change allocates, instead of
 * the heap growing and shrinking (and faulting in fresh pages) every time.
 */
static struct gpci_memslots *table_alloc(unsigned int cap, uint64_t gen)
{
	struct gpci_memslots *t;
	size_t room = 8;

	while (room < cap)
		room *= 2;
	t = malloc(sizeof(*t) + room * sizeof(t->s[0]));
	if (!t)
		return NULL;
	t->generation = gen;
	t->n = 0;
	atomic_init(&t->last_hit, 0);
	memset(&t->rcu, 0, sizeof(t->rcu));
	return t;
}

/*
 * A copy of @old for the next generation, with room for @extra more slots,
 * leaving out index @skip (or nothing if @skip is -1).
 */
static struct gpci_memslots *table_copy(const struct gpci_memslots *old,
					unsigned int extra, int skip)
{
	struct gpci_memslots *t =
		table_alloc(old->n + extra, old->generation + 1);
	unsigned int k;

	if (!t)
		return NULL;
	if (skip < 0) {
		memcpy(t->s, old->s, (size_t)old->n * sizeof(t->s[0]));
		t->n = old->n;
		return t;
	}
	k = (unsigned int)skip;
	memcpy(t->s, old->s, (size_t)k * sizeof(t->s[0]));
	memcpy(t->s + k, old->s + k + 1,
	       (size_t)(old->n - k - 1) * sizeof(t->s[0]));
	t->n = old->n - 1;
	return t;
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

static bool slot_contains(const struct gpci_memslot *s, uint64_t gpa)
{
	return gpa >= s->gpa && gpa - s->gpa < s->size;
}

/*
 * Insert @s into @t (which has room for it), keeping it sorted. Slots never
 * overlap, so only the neighbours at the insertion point need checking;
 * ranges are half-open, so adjacent slots are fine.
 */
static int table_insert(struct gpci_memslots *t, const struct gpci_memslot *s)
{
	unsigned int pos = table_upper(t, s->gpa);

	if (pos > 0 && t->s[pos - 1].gpa + t->s[pos - 1].size > s->gpa)
		return -EEXIST;
	if (pos < t->n && t->s[pos].gpa < s->gpa + s->size)
		return -EEXIST;
	memmove(t->s + pos + 1, t->s + pos,
		(size_t)(t->n - pos) * sizeof(t->s[0]));
	t->s[pos] = *s;
	t->n++;
	return 0;
}

/*
 * The slot containing @gpa, trying the last hit first. The hint is stored
 * only when it changes, so lookups that keep hitting the same slot never
 * write the table's cache line; it is a relaxed atomic because it carries
 * no data, any index is as safe as any other.
 */
static const struct gpci_memslot *table_search(struct gpci_memslots *t,
					       uint64_t gpa)
{
	unsigned int hint =
		atomic_load_explicit(&t->last_hit, memory_order_relaxed);
	unsigned int pos;

	if (hint < t->n && slot_contains(&t->s[hint], gpa))
		return &t->s[hint];
	pos = table_upper(t, gpa);
	if (pos == 0 || !slot_contains(&t->s[pos - 1], gpa))
		return NULL;
	/* pos - 1 != hint: the hinted slot did not contain @gpa. */
	atomic_store_explicit(&t->last_hit, pos - 1, memory_order_relaxed);
	return &t->s[pos - 1];
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

/* ---- internal interface ------------------------------------------------ */

int gpci_memslots_init(struct gpc_vm *vm)
{
	struct gpci_memslots *t;

	vm->slot_ids = calloc((vm->max_memslots + 63) / 64, sizeof(uint64_t));
	if (!vm->slot_ids)
		return -ENOMEM;
	t = table_alloc(0, 1);
	if (!t) {
		free(vm->slot_ids);
		return -ENOMEM;
	}
	atomic_store_explicit(&vm->slots, t, memory_order_release);
	atomic_store_explicit(&vm->slots_gen, 1, memory_order_seq_cst);
	return 0;
}

void gpci_memslots_fini(struct gpc_vm *vm)
{
	free(atomic_exchange_explicit(&vm->slots, NULL, memory_order_relaxed));
	free(vm->slot_ids);
	vm->slot_ids = NULL;
}

const struct gpci_memslot *gpci_memslot_find(struct gpc_vm *vm, uint64_t gpa,
					     uint64_t *gen)
{
	/*
	 * Acquire pairs with the release in memslots_publish(): the slots of
	 * the table are complete before we can see its pointer. The section
	 * our caller is in keeps the table alive until it leaves.
	 */
	struct gpci_memslots *t =
		atomic_load_explicit(&vm->slots, memory_order_acquire);

	*gen = t->generation;
	return table_search(t, gpa);
}

/* ---- writers ----------------------------------------------------------- */

/*
 * Take the writers' lock. A writer waits a grace period of vm->srcu, so it
 * must not be inside a section of that domain: refuse before changing
 * anything rather than publish a change that we could not wait for.
 */
static int memslots_lock(struct gpc_vm *vm)
{
	if (gpc_srcu_read_held(&vm->srcu))
		return -EDEADLK;
	pthread_mutex_lock(&vm->slots_lock);
	return 0;
}

static void memslots_free_rcu(struct gpc_srcu_head *head)
{
	char *p = (char *)head - offsetof(struct gpci_memslots, rcu);

	free(p);
}

/*
 * Free @old once no reader can hold it. Waiting here (rather than deferring
 * the free with gpc_srcu_call) is what makes "no reader still uses the old
 * layout when the change returns" true, which caches rely on.
 */
static void memslots_retire(struct gpc_vm *vm, struct gpci_memslots *old)
{
	int ret = gpc_srcu_synchronize(&vm->srcu);

	if (!ret) {
		free(old);
		return;
	}
	gpci_log(GPC_LOG_ERR, "memslot: grace period failed (%d)", ret);
	if (gpc_srcu_call(&vm->srcu, &old->rcu, memslots_free_rcu))
		gpci_log(GPC_LOG_ERR, "memslot: old table leaked");
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
	atomic_store_explicit(&vm->slots, t, memory_order_release);
	atomic_store_explicit(&vm->slots_gen, t->generation,
			      memory_order_seq_cst);
	atomic_fetch_add_explicit(&vm->st_memslot_changes, 1,
				  memory_order_relaxed);
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
	int ret = 0;

	if (vm->mirror) {
		if (o)
			slot_info(&oi, o, old->generation);
		if (n)
			slot_info(&ni, n, t->generation);
		ret = vm->mirror(vm->mirror_ctx, o ? &oi : NULL,
				 n ? &ni : NULL);
	}
	if (ret) {
		pthread_mutex_unlock(&vm->slots_lock);
		free(t);
		return ret;
	}
	memslots_publish(vm, t);
	if (o && !n)
		vm->slot_ids[o->id / 64] &= ~(1ull << o->id % 64);
	else if (n && !o)
		vm->slot_ids[n->id / 64] |= 1ull << n->id % 64;
	pthread_mutex_unlock(&vm->slots_lock);
	memslots_retire(vm, old);

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
	struct gpci_memslots *t;
	int ret;

	if (vm->slot_ids[s->id / 64] & 1ull << s->id % 64)
		return -EEXIST;
	t = table_copy(old, 1, -1);
	if (!t)
		return -ENOMEM;
	ret = table_insert(t, s);
	if (ret) {
		free(t);
		return ret;
	}
	*out = t;
	return 0;
}

int gpc_memslot_create(struct gpc_vm *vm, uint32_t id, uint64_t gpa,
		       uint64_t size, uint64_t hva, uint32_t flags)
{
	struct gpci_memslot s = {
		.gpa = gpa, .size = size, .hva = hva, .id = id, .flags = flags
	};
	struct gpci_memslots *old, *t;
	int ret;

	if (!vm || id >= vm->max_memslots || (flags & ~GPC_MEMSLOT_FLAGS_ALL))
		return -EINVAL;
	if (!range_ok(vm, gpa, size) || !range_ok(vm, hva, size))
		return -EINVAL;
	ret = memslots_lock(vm);
	if (ret)
		return ret;
	/* Relaxed: writers are ordered by slots_lock. */
	old = atomic_load_explicit(&vm->slots, memory_order_relaxed);
	ret = create_table(vm, old, &s, &t);
	if (ret) {
		pthread_mutex_unlock(&vm->slots_lock);
		return ret;
	}
	return memslots_commit(vm, old, t, NULL, &s);
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
	old = atomic_load_explicit(&vm->slots, memory_order_relaxed);
	i = table_find_id(old, id);
	t = i < 0 ? NULL : table_copy(old, 0, i);
	if (!t) {
		pthread_mutex_unlock(&vm->slots_lock);
		return i < 0 ? -ENOENT : -ENOMEM;
	}
	return memslots_commit(vm, old, t, &old->s[i], NULL);
}

/* The table for a move of @old->s[i] to @gpa, in *@out; @moved gets it. */
static int move_table(struct gpc_vm *vm, struct gpci_memslots *old, int i,
		      uint64_t gpa, struct gpci_memslots **out,
		      struct gpci_memslot *moved)
{
	struct gpci_memslots *t;
	int ret;

	*moved = old->s[i];
	moved->gpa = gpa;
	if (!range_ok(vm, gpa, moved->size))
		return -EINVAL;
	/* Without the slot itself, so a move may overlap its old range. */
	t = table_copy(old, 1, i);
	if (!t)
		return -ENOMEM;
	ret = table_insert(t, moved);
	if (ret) {
		free(t);
		return ret;
	}
	*out = t;
	return 0;
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
	old = atomic_load_explicit(&vm->slots, memory_order_relaxed);
	i = table_find_id(old, id);
	ret = i < 0 ? -ENOENT : move_table(vm, old, i, new_gpa, &t, &moved);
	if (ret) {
		pthread_mutex_unlock(&vm->slots_lock);
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
	old = atomic_load_explicit(&vm->slots, memory_order_relaxed);
	i = table_find_id(old, id);
	t = i < 0 ? NULL : table_copy(old, 0, -1);
	if (!t) {
		pthread_mutex_unlock(&vm->slots_lock);
		return i < 0 ? -ENOENT : -ENOMEM;
	}
	t->s[i].flags = flags;
	return memslots_commit(vm, old, t, &old->s[i], &t->s[i]);
}

int gpc_memslot_set_mirror(struct gpc_vm *vm, gpc_memslot_mirror_fn *fn,
			   void *ctx)
{
	if (!vm)
		return -EINVAL;
	/* Under the lock so that a change in progress sees both or neither. */
	pthread_mutex_lock(&vm->slots_lock);
	vm->mirror = fn;
	vm->mirror_ctx = ctx;
	pthread_mutex_unlock(&vm->slots_lock);
	return 0;
}

/* ---- readers ----------------------------------------------------------- */

int gpc_memslot_lookup(struct gpc_vm *vm, uint64_t gpa,
		       struct gpc_memslot_info *out)
{
	const struct gpci_memslot *s;
	uint64_t gen;
	int ret = -ENOENT;

	if (!vm || !out)
		return -EINVAL;
	gpc_srcu_read_lock(&vm->srcu);
	s = gpci_memslot_find(vm, gpa, &gen);
	if (s) {
		slot_info(out, s, gen);
		ret = 0;
	}
	gpc_srcu_read_unlock(&vm->srcu);
	return ret;
}

int gpc_memslot_get(struct gpc_vm *vm, uint32_t id,
		    struct gpc_memslot_info *out)
{
	struct gpci_memslots *t;
	int i;

	if (!vm || !out)
		return -EINVAL;
	gpc_srcu_read_lock(&vm->srcu);
	/* Acquire: see gpci_memslot_find(). */
	t = atomic_load_explicit(&vm->slots, memory_order_acquire);
	i = table_find_id(t, id);
	if (i >= 0)
		slot_info(out, &t->s[i], t->generation);
	gpc_srcu_read_unlock(&vm->srcu);
	return i < 0 ? -ENOENT : 0;
}

uint64_t gpc_memslot_generation(struct gpc_vm *vm)
{
	if (!vm)
		return 0;
	/* Pairs with the seq_cst store in memslots_publish(). */
	return atomic_load_explicit(&vm->slots_gen, memory_order_acquire);
}

unsigned int gpc_memslot_count(struct gpc_vm *vm)
{
	struct gpci_memslots *t;
	unsigned int n;

	if (!vm)
		return 0;
	gpc_srcu_read_lock(&vm->srcu);
	t = atomic_load_explicit(&vm->slots, memory_order_acquire);
	n = t->n;
	gpc_srcu_read_unlock(&vm->srcu);
	return n;
}
