// SPDX-License-Identifier: MIT
/*
 * memslot_txn.c - the memslot writers: transactions, and the single calls
 * as one-step transactions.
 *
 * A transaction holds the writers' lock from begin to commit or abort. Each
 * step builds the next working table from the previous one (memslot.c's
 * incremental index update, O(n)), so a step is validated against the
 * table as the transaction changed it so far, and the working table is
 * never visible to readers. A record per slot id touched keeps the slot as
 * it was at begin and as it is now; commit turns the records into the net
 * changes, builds the secondary indexes of the last working table, lets the
 * dirty log and the listeners prepare, and only then publishes: one table,
 * one generation bump, one grace period. Any failure before the publish
 * frees the working table and undoes the preparations: the published
 * table, the generation and the id bitmap were never touched.
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

/* One slot id the transaction touched: as it was at begin, as it is now. */
struct txn_rec {
	uint32_t id;
	bool had, has;
	struct gpci_memslot orig, cur;
};

struct gpc_memslot_txn {
	struct gpc_vm *vm;
	struct gpci_memslots *base; /* the published table at begin */
	struct gpci_memslots *work; /* as changed so far; == base if none */
	uint64_t *ids;		    /* the id bitmap as changed so far */
	struct txn_rec *rec;
	unsigned int nrec, rec_room;
	int err;    /* the first failed step's errno: poisoned */
	bool force; /* publish even without a change (tests) */
};

/* This thread's identity for the writers' lock's owner word. */
static _Thread_local char tl_self;

/* ---- the writers' lock ------------------------------------------------ */

int gpci_memslots_lock(struct gpc_vm *vm, bool in_section_ok)
{
	/*
	 * The lock is held across listener callbacks and open transactions:
	 * taking it again on the same thread would hang, so refuse. Only the
	 * owner itself can see its own address here, so a relaxed load is
	 * exact for the question "is it me".
	 */
	if (atomic_load_explicit(&vm->ms.owner, memory_order_relaxed) ==
	    &tl_self)
		return -EDEADLK;
	/*
	 * A writer waits a grace period of vm->srcu, so it must not be inside
	 * a section of that domain: refuse before changing anything rather
	 * than publish a change that we could not wait for.
	 */
	if (!in_section_ok && gpc_srcu_read_held(vm->srcu))
		return -EDEADLK;
	pthread_mutex_lock(&vm->ms.lock);
	atomic_store_explicit(&vm->ms.owner, &tl_self, memory_order_relaxed);
	return 0;
}

void gpci_memslots_unlock(struct gpc_vm *vm)
{
	atomic_store_explicit(&vm->ms.owner, NULL, memory_order_relaxed);
	pthread_mutex_unlock(&vm->ms.lock);
}

/* ---- publish and retire ------------------------------------------------ */

/*
 * Make @t the current table, and its generation the vm's. The table first:
 * the generation store is a release too, so whoever loads the new
 * generation with acquire (gpc_memslot_generation(), a cache's check) and
 * then looks a slot up finds the new table; a cache can therefore never
 * record the new generation next to a translation from the old table. A
 * reader that still sees the old generation may still be using the old
 * table; the grace period in txn_retire() waits for it. seq_cst puts the
 * generation in one total order with the vm's other seq_cst counters (the
 * invalidation sequence); this is a slow path and can afford it.
 */
static void memslots_publish(struct gpc_vm *vm, struct gpci_memslots *t)
{
	atomic_store_explicit(&vm->ms.table, t, memory_order_release);
	atomic_store_explicit(&vm->ms.gen, t->generation, memory_order_seq_cst);
	atomic_fetch_add_explicit(&vm->ms.st_changes, 1, memory_order_relaxed);
}

static void memslots_free_rcu(struct gpc_srcu_head *head)
{
	char *p = (char *)head - offsetof(struct gpci_memslots, rcu);

	gpci_memslots_free((struct gpci_memslots *)p);
}

/*
 * Wait until no reader can hold the old table. Waiting here (rather than
 * deferring the free with gpc_srcu_call) is what makes "no reader still
 * uses the old layout when the change returns" true, which caches rely
 * on. Returns whether the grace period completed.
 */
static bool memslots_wait(struct gpc_vm *vm)
{
	int ret = gpc_srcu_synchronize(vm->srcu);

	atomic_fetch_add_explicit(&vm->ms.st_gps, 1, memory_order_relaxed);
	if (!ret)
		return true;
	gpci_log(GPC_LOG_ERR, "memslot: grace period failed (%d)", ret);
	return false;
}

/* ---- records ----------------------------------------------------------- */

static struct txn_rec *rec_find(struct gpc_memslot_txn *tx, uint32_t id)
{
	unsigned int i;

	for (i = 0; i < tx->nrec; i++)
		if (tx->rec[i].id == id)
			return &tx->rec[i];
	return NULL;
}

/*
 * The record of @id, made if new from @now (the slot in the working table
 * before this step, NULL if absent). Records are made before the step
 * changes anything, so -ENOMEM leaves the transaction as it was.
 */
static struct txn_rec *rec_get(struct gpc_memslot_txn *tx, uint32_t id,
			       const struct gpci_memslot *now)
{
	struct txn_rec *r = rec_find(tx, id);

	if (r)
		return r;
	if (tx->nrec == tx->rec_room) {
		unsigned int room = tx->rec_room ? 2 * tx->rec_room : 4;
		struct txn_rec *n = realloc(tx->rec, room * sizeof(*n));

		if (!n)
			return NULL;
		tx->rec = n;
		tx->rec_room = room;
	}
	r = &tx->rec[tx->nrec++];
	memset(r, 0, sizeof(*r));
	r->id = id;
	r->had = r->has = now != NULL;
	if (now)
		r->orig = r->cur = *now;
	return r;
}

static bool id_used(const uint64_t *ids, uint32_t id)
{
	return ids[id / 64] & 1ull << id % 64;
}

static void id_set(uint64_t *ids, uint32_t id, bool on)
{
	if (on)
		ids[id / 64] |= 1ull << id % 64;
	else
		ids[id / 64] &= ~(1ull << id % 64);
}

/* ---- begin, steps, abort ----------------------------------------------- */

int gpc_memslot_txn_begin(struct gpc_vm *vm, struct gpc_memslot_txn **out)
{
	struct gpc_memslot_txn *tx;
	size_t idb;
	int ret;

	if (!vm || !out)
		return -EINVAL;
	idb = (vm->max_memslots + 63) / 64 * sizeof(uint64_t);
	tx = calloc(1, sizeof(*tx));
	if (!tx)
		return -ENOMEM;
	tx->ids = malloc(idb);
	if (!tx->ids) {
		free(tx);
		return -ENOMEM;
	}
	ret = gpci_memslots_lock(vm, false);
	if (ret) {
		free(tx->ids);
		free(tx);
		return ret;
	}
	tx->vm = vm;
	/* Relaxed: writers are ordered by the lock. */
	tx->base = atomic_load_explicit(&vm->ms.table, memory_order_relaxed);
	tx->work = tx->base;
	memcpy(tx->ids, vm->ms.ids, idb);
	*out = tx;
	return 0;
}

/* Free @tx and drop the lock; nothing of it was published. */
static void txn_end(struct gpc_memslot_txn *tx)
{
	struct gpc_vm *vm = tx->vm;

	if (tx->work != tx->base)
		gpci_memslots_free(tx->work);
	gpci_memslots_unlock(vm);
	free(tx->rec);
	free(tx->ids);
	free(tx);
}

void gpc_memslot_txn_abort(struct gpc_memslot_txn *tx)
{
	if (tx)
		txn_end(tx);
}

/* A step's result: a failure poisons the transaction. */
static int step_done(struct gpc_memslot_txn *tx, int ret)
{
	if (ret && !tx->err)
		tx->err = ret;
	return ret;
}

/*
 * Replace the working table by the one without position @r and with @x
 * (see gpci_memslots_build); every working table carries the generation
 * the commit will publish.
 */
static int step_table(struct gpc_memslot_txn *tx, int r,
		      const struct gpci_memslot *x)
{
	struct gpci_memslots *t;
	int ret = gpci_memslots_build(tx->vm, tx->work, r, x, &t);

	if (ret)
		return ret;
	t->generation = tx->base->generation + 1;
	if (tx->work != tx->base)
		gpci_memslots_free(tx->work);
	tx->work = t;
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

static int slot_valid(struct gpc_vm *vm, const struct gpci_memslot *s)
{
	if (s->id >= vm->max_memslots || (s->flags & ~GPC_MEMSLOT_FLAGS_ALL))
		return -EINVAL;
	if (!range_ok(vm, s->gpa, s->size) || !range_ok(vm, s->hva, s->size))
		return -EINVAL;
	if (s->uaddr && !range_ok(vm, s->uaddr, s->size))
		return -EINVAL;
	return 0;
}

static int desc_slot(const struct gpc_memslot_desc *d, struct gpci_memslot *s)
{
	if (d->reserved[0] || d->reserved[1])
		return -EINVAL;
	*s = (struct gpci_memslot){ .gpa = d->gpa,
				    .size = d->size,
				    .hva = d->hva,
				    .id = d->id,
				    .flags = d->flags,
				    .uaddr = d->uaddr };
	return 0;
}

/* The step of an add: @s validated, not yet recorded. */
static int txn_add_slot(struct gpc_memslot_txn *tx,
			const struct gpci_memslot *s)
{
	struct txn_rec *r;
	int ret;

	if (tx->err)
		return -ECANCELED;
	ret = slot_valid(tx->vm, s);
	if (ret)
		return step_done(tx, ret);
	/*
	 * The ids in use are in a bitmap, not found by a scan of the table:
	 * a scan of 32k slots costs about as much as the copy of the table.
	 */
	if (id_used(tx->ids, s->id))
		return step_done(tx, -EEXIST);
	r = rec_get(tx, s->id, NULL);
	if (!r)
		return step_done(tx, -ENOMEM);
	ret = step_table(tx, -1, s);
	if (ret)
		return step_done(tx, ret);
	id_set(tx->ids, s->id, true);
	r->has = true;
	r->cur = *s;
	return 0;
}

int gpc_memslot_txn_add(struct gpc_memslot_txn *tx,
			const struct gpc_memslot_desc *d)
{
	struct gpci_memslot s;

	if (!tx)
		return -EINVAL;
	if (!d)
		return tx->err ? -ECANCELED : step_done(tx, -EINVAL);
	if (!tx->err && desc_slot(d, &s))
		return step_done(tx, -EINVAL);
	return txn_add_slot(tx, &s);
}

/* The position of @id in the working table, its record in *@r. */
static int txn_find(struct gpc_memslot_txn *tx, uint32_t id, struct txn_rec **r)
{
	int i;

	if (tx->err)
		return -ECANCELED;
	if (id >= tx->vm->max_memslots || !id_used(tx->ids, id))
		return step_done(tx, -ENOENT);
	i = gpci_memslots_find_id(tx->work, id);
	if (i < 0)
		return step_done(tx, -ENOENT);
	*r = rec_get(tx, id, &tx->work->s[i]);
	return *r ? i : step_done(tx, -ENOMEM);
}

int gpc_memslot_txn_delete(struct gpc_memslot_txn *tx, uint32_t id)
{
	struct txn_rec *r;
	int i, ret;

	if (!tx)
		return -EINVAL;
	i = txn_find(tx, id, &r);
	if (i < 0)
		return i;
	ret = step_table(tx, i, NULL);
	if (ret)
		return step_done(tx, ret);
	id_set(tx->ids, id, false);
	r->has = false;
	return 0;
}

int gpc_memslot_txn_move(struct gpc_memslot_txn *tx, uint32_t id,
			 uint64_t new_gpa)
{
	struct gpci_memslot moved;
	struct txn_rec *r;
	int i, ret;

	if (!tx)
		return -EINVAL;
	if (!tx->err && (new_gpa & (tx->vm->page_size - 1)))
		return step_done(tx, -EINVAL);
	i = txn_find(tx, id, &r);
	if (i < 0)
		return i;
	moved = tx->work->s[i];
	if (moved.gpa == new_gpa)
		return 0; /* no step: no generation bump for nothing */
	moved.gpa = new_gpa;
	if (!range_ok(tx->vm, new_gpa, moved.size))
		return step_done(tx, -EINVAL);
	/* Without the slot itself, so a move may overlap its old range. */
	ret = step_table(tx, i, &moved);
	if (ret)
		return step_done(tx, ret);
	r->cur = moved;
	return 0;
}

int gpc_memslot_txn_set_flags(struct gpc_memslot_txn *tx, uint32_t id,
			      uint32_t flags)
{
	struct txn_rec *r;
	int i, ret;

	if (!tx)
		return -EINVAL;
	if (!tx->err && (flags & ~GPC_MEMSLOT_FLAGS_ALL))
		return step_done(tx, -EINVAL);
	i = txn_find(tx, id, &r);
	if (i < 0)
		return i;
	if (tx->work->s[i].flags == flags)
		return 0;
	/* Same layout: the positions, and so i, stay. */
	ret = step_table(tx, -1, NULL);
	if (ret)
		return step_done(tx, ret);
	tx->work->s[i].flags = flags;
	r->cur.flags = flags;
	return 0;
}

/* ---- commit ------------------------------------------------------------ */

static void slot_desc(struct gpc_memslot_desc *d, const struct gpci_memslot *s,
		      uint64_t gen)
{
	memset(d, 0, sizeof(*d));
	d->id = s->id;
	d->flags = s->flags;
	d->gpa = s->gpa;
	d->size = s->size;
	d->hva = s->hva;
	d->uaddr = s->uaddr;
	d->generation = gen;
}

/* The net change of @r, 0 if none. */
static uint32_t rec_op(const struct txn_rec *r)
{
	const struct gpci_memslot *o = &r->orig, *n = &r->cur;
	bool gpa, flags;

	if (!r->had)
		return r->has ? GPC_MEMSLOT_CHANGE_ADD : 0;
	if (!r->has)
		return GPC_MEMSLOT_CHANGE_DELETE;
	if (o->size != n->size || o->hva != n->hva || o->uaddr != n->uaddr)
		return GPC_MEMSLOT_CHANGE_REPLACE;
	gpa = o->gpa != n->gpa;
	flags = o->flags != n->flags;
	if (gpa && flags)
		return GPC_MEMSLOT_CHANGE_REPLACE;
	return gpa   ? GPC_MEMSLOT_CHANGE_MOVE :
	       flags ? GPC_MEMSLOT_CHANGE_FLAGS :
		       0;
}

/* What a commit works on, beside the transaction. */
struct commit {
	struct gpc_memslot_change *c;
	/* Per change: the slot in the old table and in the new (or NULL). */
	const struct gpci_memslot **o;
	struct gpci_memslot **n;
	/*
	 * The bitmaps of the new slots, copied while the writers' lock is
	 * held: after it is dropped, a later commit may free the table that
	 * n[] points into before our grace period ends.
	 */
	struct gpci_dirty **nd;
	unsigned int nc, prepared;
};

/* A slot of @t found by its base (slots never overlap). */
static const struct gpci_memslot *slot_at(const struct gpci_memslots *t,
					  uint64_t gpa)
{
	return gpci_memslots_search(t, gpa, NULL);
}

/*
 * A slot deleted and added back exactly as it was is no change: no
 * listener hears of it and the dirty log neither prepares nor retires it.
 * But the add made a fresh slot in the working table, without the bitmap
 * the old one had; give it that bitmap, or the slot would stop logging and
 * the bitmap leak (a SET_MEM_TABLE that keeps a region does exactly this).
 */
static void keep_unchanged(struct gpc_memslot_txn *tx)
{
	unsigned int i;

	for (i = 0; i < tx->nrec; i++) {
		const struct txn_rec *r = &tx->rec[i];
		struct gpci_memslot *n;

		if (!r->had || !r->has || rec_op(r))
			continue;
		/*
		 * Only a fresh slot of the private working table is written:
		 * when no step built one (a set-flags to the flags a slot has)
		 * work is the published table, which readers are reading.
		 */
		n = (struct gpci_memslot *)slot_at(tx->work, r->cur.gpa);
		if (tx->work != tx->base &&
		    n->dirty != slot_at(tx->base, r->orig.gpa)->dirty)
			n->dirty = slot_at(tx->base, r->orig.gpa)->dirty;
	}
}

/* The net changes, in the order struct gpc_memslot_change promises. */
static int commit_list(struct gpc_memslot_txn *tx, struct commit *cm)
{
	static const uint32_t order[] = { GPC_MEMSLOT_CHANGE_DELETE,
					  GPC_MEMSLOT_CHANGE_REPLACE,
					  GPC_MEMSLOT_CHANGE_MOVE,
					  GPC_MEMSLOT_CHANGE_FLAGS,
					  GPC_MEMSLOT_CHANGE_ADD };
	unsigned int k, i;

	cm->c = calloc(tx->nrec ? tx->nrec : 1, sizeof(*cm->c));
	cm->o = calloc(tx->nrec ? tx->nrec : 1, sizeof(*cm->o));
	cm->n = calloc(tx->nrec ? tx->nrec : 1, sizeof(*cm->n));
	cm->nd = calloc(tx->nrec ? tx->nrec : 1, sizeof(*cm->nd));
	if (!cm->c || !cm->o || !cm->n || !cm->nd)
		return -ENOMEM;
	keep_unchanged(tx);
	for (k = 0; k < sizeof(order) / sizeof(order[0]); k++) {
		for (i = 0; i < tx->nrec; i++) {
			const struct txn_rec *r = &tx->rec[i];
			struct gpc_memslot_change *c = &cm->c[cm->nc];

			if (rec_op(r) != order[k])
				continue;
			c->op = order[k];
			cm->o[cm->nc] =
				r->had ? slot_at(tx->base, r->orig.gpa) : NULL;
			cm->n[cm->nc] = r->has ? (struct gpci_memslot *)slot_at(
							 tx->work, r->cur.gpa) :
						 NULL;
			if (r->had)
				slot_desc(&c->old_slot, &r->orig,
					  tx->base->generation);
			if (r->has)
				slot_desc(&c->new_slot, &r->cur,
					  tx->work->generation);
			cm->nc++;
		}
	}
	return 0;
}

static void commit_free(struct commit *cm)
{
	free(cm->c);
	free(cm->o);
	free(cm->n);
	free(cm->nd);
}

/*
 * The dirty log's part: each slot of the new table that is new or changed
 * gets the bitmap its flags ask for. A replaced slot is a new slot to the
 * log (its size or host memory changed), so it does not inherit.
 */
static int commit_dirty_prepare(struct gpc_vm *vm, struct commit *cm)
{
	unsigned int i;
	int ret;

	for (i = 0; i < cm->nc; i++) {
		const struct gpci_memslot *o = cm->o[i];

		if (!cm->n[i])
			continue;
		if (cm->c[i].op == GPC_MEMSLOT_CHANGE_REPLACE) {
			cm->n[i]->dirty = NULL;
			o = NULL;
		}
		ret = gpci_dirty_slot_prepare(vm, cm->n[i], o);
		if (ret)
			return ret;
		cm->prepared = i + 1;
	}
	return 0;
}

static void commit_dirty_unprepare(struct commit *cm)
{
	unsigned int i;

	for (i = cm->prepared; i-- > 0;) {
		if (!cm->n[i])
			continue;
		gpci_dirty_slot_unprepare(
			cm->n[i], cm->c[i].op == GPC_MEMSLOT_CHANGE_REPLACE ?
					  NULL :
					  cm->o[i]);
	}
}

/* Everything before the publish; on error nothing is left of it. */
static int commit_prepare(struct gpc_memslot_txn *tx, struct commit *cm)
{
	struct gpc_vm *vm = tx->vm;
	int ret;

	/*
	 * Any error of the secondary indexes (memory, or a conflict they
	 * detect such as overlapping user addresses) aborts the change.
	 */
	ret = gpci_memslots_aux_build(tx->work);
	if (ret || !cm->nc)
		return ret;
	ret = commit_dirty_prepare(vm, cm);
	if (!ret) {
		ret = gpci_listeners_prepare(vm, cm->c, cm->nc);
		if (!ret)
			return 0;
	}
	commit_dirty_unprepare(cm);
	return ret;
}

int gpc_memslot_txn_commit(struct gpc_memslot_txn *tx)
{
	struct commit cm = { 0 };
	struct gpci_memslots *old;
	struct gpc_vm *vm;
	unsigned int i;
	int ret;

	if (!tx)
		return -EINVAL;
	vm = tx->vm;
	ret = tx->err ? -ECANCELED : commit_list(tx, &cm);
	if (!ret && (cm.nc || tx->force))
		ret = commit_prepare(tx, &cm);
	if (ret || (!cm.nc && !tx->force)) {
		commit_free(&cm);
		txn_end(tx);
		return ret;
	}
	old = tx->base;
	for (i = 0; i < cm.nc; i++)
		cm.nd[i] = cm.n[i] ? cm.n[i]->dirty : NULL;
	memslots_publish(vm, tx->work);
	memcpy(vm->ms.ids, tx->ids, (vm->max_memslots + 63) / 64 * 8);
	if (cm.nc)
		gpci_listeners_commit(vm, cm.c, cm.nc, tx->work->generation);
	tx->base = tx->work; /* txn_end() must not free it */
	txn_end(tx);
	if (memslots_wait(vm)) {
		for (i = 0; i < cm.nc; i++) {
			struct gpci_memslot n = { .dirty = cm.nd[i] };

			if (cm.o[i])
				gpci_dirty_slot_retire(vm, cm.o[i],
						       cm.n[i] ? &n : NULL);
		}
		gpci_memslots_free(old);
	} else if (gpc_srcu_call(vm->srcu, &old->rcu, memslots_free_rcu)) {
		/* Bitmaps too: a reader may still mark through them. */
		gpci_log(GPC_LOG_ERR, "memslot: old table leaked");
	}
	commit_free(&cm);
	return 0;
}

#ifdef GPC_TESTING
int gpci_memslot_test_bump(struct gpc_vm *vm)
{
	struct gpc_memslot_txn *tx;
	int ret = gpc_memslot_txn_begin(vm, &tx);

	if (ret)
		return ret;
	ret = step_table(tx, -1, NULL); /* a copy, one generation on */
	if (ret) {
		gpc_memslot_txn_abort(tx);
		return ret;
	}
	tx->force = true;
	return gpc_memslot_txn_commit(tx);
}

void gpci_memslot_test_counts(struct gpc_vm *vm, uint64_t *publishes,
			      uint64_t *gps)
{
	*publishes = atomic_load(&vm->ms.st_changes);
	*gps = atomic_load(&vm->ms.st_gps);
}
#endif

/* ---- the single calls: one-step transactions --------------------------- */

static int one_step_begin(struct gpc_vm *vm, struct gpc_memslot_txn **tx)
{
	return vm ? gpc_memslot_txn_begin(vm, tx) : -EINVAL;
}

/* Commit @tx if the step succeeded (its errno is the call's), else abort. */
static int one_step_end(struct gpc_memslot_txn *tx, int ret)
{
	if (ret) {
		gpc_memslot_txn_abort(tx);
		return ret;
	}
	return gpc_memslot_txn_commit(tx);
}

static int slot_add(struct gpc_vm *vm, const struct gpci_memslot *s)
{
	struct gpc_memslot_txn *tx;
	int ret;

	/* Bad arguments first: they fail without the lock. */
	if (!vm || slot_valid(vm, s))
		return -EINVAL;
	ret = one_step_begin(vm, &tx);
	if (ret)
		return ret;
	return one_step_end(tx, txn_add_slot(tx, s));
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

	if (!d || desc_slot(d, &s))
		return -EINVAL;
	return slot_add(vm, &s);
}

int gpc_memslot_delete(struct gpc_vm *vm, uint32_t id)
{
	struct gpc_memslot_txn *tx;
	int ret = one_step_begin(vm, &tx);

	if (ret)
		return ret;
	return one_step_end(tx, gpc_memslot_txn_delete(tx, id));
}

int gpc_memslot_move(struct gpc_vm *vm, uint32_t id, uint64_t new_gpa)
{
	struct gpc_memslot_txn *tx;
	int ret;

	if (!vm || (new_gpa & (vm->page_size - 1)))
		return -EINVAL;
	ret = one_step_begin(vm, &tx);
	if (ret)
		return ret;
	return one_step_end(tx, gpc_memslot_txn_move(tx, id, new_gpa));
}

int gpc_memslot_set_flags(struct gpc_vm *vm, uint32_t id, uint32_t flags)
{
	struct gpc_memslot_txn *tx;
	int ret;

	if (!vm || (flags & ~GPC_MEMSLOT_FLAGS_ALL))
		return -EINVAL;
	ret = one_step_begin(vm, &tx);
	if (ret)
		return ret;
	return one_step_end(tx, gpc_memslot_txn_set_flags(tx, id, flags));
}
