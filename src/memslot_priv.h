/* SPDX-License-Identifier: MIT */
/*
 * memslot_priv.h - the memslot table's private state (memslot.c); not
 * installed.
 *
 * The vm keeps one struct gpci_memslot_state; readers reach the current
 * table through gpci_memslot_find(), writers only through the public
 * gpc_memslot_* calls. memslot.c builds tables (index included),
 * memslot_txn.c is the writers (transactions and the single calls),
 * memslot_listen.c the listeners; nothing else touches these fields (vm.c
 * creates and frees them through gpci_memslots_init/_fini).
 */
#ifndef GPC_MEMSLOT_PRIV_H
#define GPC_MEMSLOT_PRIV_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <gpc/gpc.h>

#include "internal.h"

/* The SRCU slot's user word that holds the thread's last memslot hit. */
#define GPCI_SLOT_MEMSLOT_HINT 1

struct gpci_dirty;
struct gpci_memslot_aux;

struct gpci_memslot {
	uint64_t gpa, size, hva;
	uint32_t id, flags;
	/* Not read by gpa lookups: behind the fields they read. */
	uint64_t uaddr;		  /* the caller's second address, 0 if none */
	struct gpci_dirty *dirty; /* dirty_priv.h; NULL unless logging */
};

/*
 * An immutable table, sorted by gpa, published through the state's table
 * pointer and freed after a grace period of vm->srcu. It carries an index
 * by guest-physical chunk that turns a lookup into one probe and, usually,
 * one slot (memslot.c, "chunk index"): hashed, or dense (an array over the
 * range of chunks the slots cover) when that is smaller. The index and the
 * list of big slots live in the same allocation, behind the slots, and are
 * complete before the table is published.
 */
struct gpci_memslots {
	/* What a lookup reads: the first cache line. */
	uint64_t generation;
	unsigned int n;
	unsigned int shift;	 /* a chunk is gpa >> shift */
	unsigned int hash_shift; /* hashed: 64 - log2(buckets) */
	unsigned int mask;	 /* hashed: buckets - 1 */
	unsigned int ndense;	 /* dense: entries; 0 if hashed */
	unsigned int nbig;
	uint64_t base; /* dense: the chunk of entry 0 */
	union {
		uint32_t *index;  /* hashed: mask + 1 buckets */
		uint16_t *dindex; /* dense: ndense positions */
	};
	uint64_t *big_gpa; /* bases of the big slots, sorted */
	uint16_t *big_pos; /* their positions in s[] */
	/* Writers only. */
	void *mem;	       /* what malloc returned */
	unsigned int room;     /* s[] entries allocated */
	unsigned int big_room; /* big_gpa/big_pos entries allocated */
	unsigned int used;     /* hashed: buckets not empty (live or removed) */
	unsigned int live;     /* entries */
	unsigned int changes;  /* changes since the index was built */
	unsigned int crowded;  /* of them, inserts into a shared chunk */
	unsigned int built_n;  /* slots when it was built */
	/* Lookups by hva and uaddr (memslot_aux.c); built before publish. */
	struct gpci_memslot_aux *aux;
	struct gpc_srcu_head rcu;
	_Alignas(64) struct gpci_memslot s[];
};

/*
 * A vm's memslots: writers serialized by lock (held from
 * gpc_memslot_txn_begin() to commit or abort), readers lock free.
 */
struct gpci_memslot_state {
	pthread_mutex_t lock;
	/*
	 * The thread holding lock (its address of a thread-local byte), so
	 * that a writer called by that thread (from a listener, or while it
	 * holds a transaction) fails with -EDEADLK instead of hanging.
	 */
	_Atomic(const void *) owner;
	_Atomic(struct gpci_memslots *) table;
	_Atomic uint64_t gen; /* the table's generation, read by caches */
	uint64_t *ids;	      /* bitmap of the ids in use, under lock */
	/* Listeners, in registration order; under lock. */
	struct gpc_memslot_listener **ls;
	unsigned int nls, ls_room;
	_Atomic unsigned int pins; /* listeners with GPC_MEMSLOT_LISTENER_PIN */
	/* gpc_memslot_set_mirror(): a listener of the library's own. */
	gpc_memslot_mirror_fn *mirror;
	void *mirror_ctx;
	struct gpc_memslot_listener mirror_l;
	_Atomic uint64_t st_changes; /* tables published */
	_Atomic uint64_t st_gps;     /* grace periods waited by writers */
};

/* ---- tables (memslot.c) ---- */

/*
 * The table that follows @old: without its slot at position @r (-1: none)
 * and with @x (NULL: none), index complete, aux not built, generation
 * @old's + 1, in *@out. Return: 0; -EADDRINUSE if @x overlaps a slot;
 * -ENOMEM. Context: may sleep (allocates).
 */
int gpci_memslots_build(struct gpc_vm *vm, const struct gpci_memslots *old,
			int r, const struct gpci_memslot *x,
			struct gpci_memslots **out);
/* Free a table that no reader can hold (aux included). NULL is fine. */
void gpci_memslots_free(struct gpci_memslots *t);
/* The position of the slot with @id in @t, or -1 (a linear scan). */
int gpci_memslots_find_id(const struct gpci_memslots *t, uint32_t id);
/* @s as the 0.1 calls return it. */
void gpci_memslot_info_of(struct gpc_memslot_info *info,
			  const struct gpci_memslot *s, uint64_t gen);

/* ---- writers and listeners (memslot_txn.c, memslot_listen.c) ---- */

/*
 * Take / drop the writers' lock. Return: 0; -EDEADLK if the calling thread
 * holds it already (a listener callback, an open transaction) or, with
 * @in_section_ok false, if it is inside a read section of vm->srcu (the
 * writer would wait a grace period for itself). Context: may sleep.
 */
int gpci_memslots_lock(struct gpc_vm *vm, bool in_section_ok);
void gpci_memslots_unlock(struct gpc_vm *vm);
/*
 * Call the listeners for a commit of @c[0..@n): prepare of each in
 * registration order; if one refuses, abort of those before it (in
 * reverse) and its error. Under the writers' lock, before publish.
 */
int gpci_listeners_prepare(struct gpc_vm *vm,
			   const struct gpc_memslot_change *c, unsigned int n);
/* After a successful prepare and the publish: each listener's commit. */
void gpci_listeners_commit(struct gpc_vm *vm,
			   const struct gpc_memslot_change *c, unsigned int n,
			   uint64_t gen);
/*
 * gpc_memslot_listener_add() with the binding's conditions, checked under
 * the writers' lock together with the add: -EBUSY if a listener with the
 * same prepare function is registered (one binding per vm) or, with
 * @need_empty, if the table has slots.
 */
int gpci_memslot_listener_bind(struct gpc_vm *vm,
			       struct gpc_memslot_listener *l, bool need_empty);
/* Whether a pinning listener is registered (gpc_vm_destroy: -EBUSY). */
bool gpci_memslots_pinned(struct gpc_vm *vm);
void gpci_listeners_fini(struct gpc_vm *vm);
#ifdef GPC_TESTING
/*
 * Publish a copy of the table with the next generation, the layout
 * unchanged (no listener is called): what a test does to make every cache
 * stale now that no public call bumps the generation for nothing.
 */
int gpci_memslot_test_bump(struct gpc_vm *vm);
/* Tables published and grace periods waited by writers so far. */
void gpci_memslot_test_counts(struct gpc_vm *vm, uint64_t *publishes,
			      uint64_t *gps);
#endif

int gpci_memslots_init(struct gpc_vm *vm);
void gpci_memslots_fini(struct gpc_vm *vm);
/*
 * The slot containing @gpa in the current table, or NULL; *gen receives the
 * table's generation. The caller is inside a read section of vm->srcu and
 * may use the returned slot until it leaves. Uses and updates the calling
 * thread's last-hit hint (its slot of vm->srcu). Context: any context.
 */
const struct gpci_memslot *gpci_memslot_find(struct gpc_vm *vm, uint64_t gpa,
					     uint64_t *gen);
/*
 * The current table, for readers inside a read section of vm->srcu, which
 * keeps it alive until they leave (acquire: its slots, index and aux are
 * complete). Context: any context.
 */
const struct gpci_memslots *gpci_memslot_table(struct gpc_vm *vm);
/*
 * The slot of @t containing @gpa, or NULL; @hint is the caller's last-hit
 * word (a slot user word of vm->srcu) or NULL. Context: any context.
 */
const struct gpci_memslot *gpci_memslots_search(const struct gpci_memslots *t,
						uint64_t gpa,
						_Atomic unsigned int *hint);
/*
 * The secondary indexes of a table under construction (memslot_aux.c):
 * built by the writer after the slots are final and before the table is
 * published, freed with the table. Any error it returns (-ENOMEM, or an
 * errno of its own such as a user-address overlap) aborts the whole
 * change: the writer frees the table and returns that errno unchanged.
 * Context: may sleep.
 */
int gpci_memslots_aux_build(struct gpci_memslots *t);
void gpci_memslots_aux_free(struct gpci_memslots *t);

/*
 * The word that holds the current table's generation: a cache keeps a
 * pointer to it and compares it on every access. Context: any context.
 */
_Atomic uint64_t *gpci_memslot_gen_word(struct gpc_vm *vm);
/* Add the memslot counters to @st (gpc_vm_get_stats). Any context. */
void gpci_memslot_stats(struct gpc_vm *vm, struct gpc_vm_stats *st);

#endif /* GPC_MEMSLOT_PRIV_H */
