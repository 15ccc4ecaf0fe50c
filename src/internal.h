/* SPDX-License-Identifier: MIT */
/*
 * internal.h - helpers shared by the library's source files; not installed.
 *
 * Symbols declared here use the gpci_ prefix, which the version script
 * (libgpc.map) keeps out of the shared library's exported symbols.
 */
#ifndef GPC_INTERNAL_H
#define GPC_INTERNAL_H

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <gpc/gpc.h>

#include "testhook.h"

void gpci_log(enum gpc_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Monotonic clock in nanoseconds. Context: any context. */
static inline uint64_t gpci_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/*
 * Futex helpers on a private (process-local) 32-bit word. futex_wait
 * returns when woken, on a timeout, on a signal, or at once if *addr != val;
 * callers always re-check their condition. Context: wait may sleep; wake is
 * a system call that never blocks and is async-signal-safe.
 */
int gpci_futex_wait(_Atomic int *addr, int val, uint64_t timeout_ns);
void gpci_futex_wake(_Atomic int *addr, int nr);

/* ---- memslot table (memslot.c) -------------------------------------- */

struct gpci_memslot {
	uint64_t gpa, size, hva;
	uint32_t id, flags;
};

/*
 * An immutable table, sorted by gpa, published through vm->slots and freed
 * after a grace period of vm->srcu. It carries an index by guest-physical
 * chunk that turns a lookup into one probe and, usually, one slot
 * (memslot.c, "chunk index"): hashed, or dense (an array over the range of
 * chunks the slots cover) when that is smaller. The index and the list of
 * big slots live in the same allocation, behind the slots, and are
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
	struct gpc_srcu_head rcu;
	_Alignas(64) struct gpci_memslot s[];
};

int gpci_memslots_init(struct gpc_vm *vm);
void gpci_memslots_fini(struct gpc_vm *vm);
/*
 * The slot containing @gpa in the current table, or NULL; *gen receives the
 * table's generation. The caller is inside a read section of vm->srcu and
 * may use the returned slot until it leaves. Uses and updates the calling
 * thread's last-hit hint (its slot of vm->srcu).
 */
const struct gpci_memslot *gpci_memslot_find(struct gpc_vm *vm, uint64_t gpa,
					     uint64_t *gen);

/* ---- cache index by host page (index.c) -------------------------------- */

struct gpci_index_node {
	uint64_t page; /* hva >> page_shift */
	struct gpc_cache *c;
	struct gpci_index_node *next;
};

struct gpci_index {
	struct gpci_index_node **buckets;
	size_t nbuckets; /* power of two */
	size_t nnodes;
};

int gpci_index_init(struct gpci_index *idx);
void gpci_index_fini(struct gpci_index *idx);
/* Insert nodes[0..n) for pages first..first+n-1, all pointing at their c. */
void gpci_index_insert(struct gpci_index *idx, struct gpci_index_node *nodes,
		       size_t n);
void gpci_index_remove(struct gpci_index *idx, struct gpci_index_node *nodes,
		       size_t n);
/* Grow the table if crowded; may fail quietly (lookups stay correct). */
void gpci_index_maybe_grow(struct gpci_index *idx);
/*
 * Call fn(c, arg) once per cache with a page in [first, last]; stops early
 * and returns fn's nonzero result. Uses c->priv->visit to call each cache
 * once; @stamp must be unique per walk. Never allocates.
 */
int gpci_index_walk(struct gpci_index *idx, uint64_t first, uint64_t last,
		    uint64_t stamp, int (*fn)(struct gpc_cache *c, void *arg),
		    void *arg);

/* ---- vm ---------------------------------------------------------------- */

/* States of an in-progress entry (invalidate.c has the transitions). */
enum {
	GPCI_INFL_FREE,
	GPCI_INFL_FILLING,  /* claimed, range not yet published */
	GPCI_INFL_STARTING, /* range_start walking or waiting; cancel, lapse */
	GPCI_INFL_ACTIVE,   /* range_start returned 0: range_end may claim */
	GPCI_INFL_ENDING,   /* claimed by range_end */
	GPCI_INFL_PENDING, /* a non-blocking range_start returned -EAGAIN */
};

struct gpci_inflight {
	_Atomic int state;
	_Atomic uint64_t start, end;
	_Atomic uint64_t expires_ns; /* PENDING only: when the mark lapses */
};

struct gpc_vm {
	struct gpc_srcu srcu;
	enum gpc_scheme scheme;
	const struct gpc_hostmem_ops *hm_ops;
	void *hm_ctx;
	unsigned int max_memslots;
	unsigned int page_shift;
	uint64_t page_size;
	char name[32];

	/* memslots: writers serialized by slots_lock; readers lock free */
	pthread_mutex_t slots_lock;
	_Atomic(struct gpci_memslots *) slots;
	_Atomic uint64_t slots_gen;
	uint64_t *slot_ids; /* bitmap of the ids in use, under slots_lock */
	gpc_memslot_mirror_fn *mirror;
	void *mirror_ctx;

	/*
	 * Invalidations in progress: a lock-free array, so that a non-blocking
	 * range_start can register and roll back from any context. An entry
	 * is claimed by CAS of state 0 -> 1, filled, then published as 2;
	 * range_end claims it by CAS 2 -> 3 and frees it (0) when done.
	 */
	struct gpci_inflight inflight[GPC_INVAL_MAX_INFLIGHT];
	_Atomic unsigned int ninflight;
	_Atomic int inval_wake;	      /* futex: bumped when one ends */
	_Atomic int inval_sleepers;   /* refreshes waiting on it */
	_Atomic uint64_t inval_seq;   /* bumped by every range_end */
	_Atomic uint64_t inval_stamp; /* unique id per index walk */

	/* active caches by host page */
	pthread_mutex_t index_lock;
	struct gpci_index index;

	/* caches and vCPUs */
	pthread_mutex_t objs_lock;
	unsigned int ncaches;
	struct gpc_cache_priv *caches; /* live caches, for counters */
	/* All vCPUs ever created, freed with the vm; pushed with release so
	 * an invalidation may walk the list without a lock. */
	_Atomic(struct gpc_vcpu *) vcpus;
	unsigned int nvcpus_live;

	GPCI_TESTHOOK_VM_FIELDS

	_Atomic uint64_t st_refreshes, st_retries, st_refresh_waits;
	_Atomic uint64_t st_invalidations, st_inval_caches, st_eagain;
	_Atomic uint64_t st_pending_lapsed;
	_Atomic uint64_t st_kicks, st_reader_wait_ns, st_vcpu_wait_ns;
	_Atomic uint64_t st_memslot_changes, st_active, st_misses_retired;
};

/* Block every signal on this thread; returns the old mask in *old. Used
 * around locks that a non-blocking invalidation in a signal handler might
 * try, so such a handler never interrupts the lock holder on its own
 * thread. */
static inline void gpci_block_signals(sigset_t *old)
{
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, old);
}

static inline void gpci_restore_signals(const sigset_t *old)
{
	pthread_sigmask(SIG_SETMASK, old, NULL);
}

/*
 * Whether the calling thread is inside a cache section of @vm (an SRCU read
 * section, or an rwlock-scheme begin/end counted in its slot's aux word):
 * slow paths that wait for readers or take a cache's write lock would then
 * wait for the caller itself.
 */
static inline bool gpci_section_held(struct gpc_vm *vm)
{
	struct gpc_srcu_slot *s = gpc_srcu_slot_of(&vm->srcu);

	return (atomic_load_explicit(&s->ctr, memory_order_relaxed) &
		GPC_SRCU_NEST_MASK) ||
	       atomic_load_explicit(&s->aux, memory_order_relaxed);
}

/* ---- caches ------------------------------------------------------------ */

struct gpc_cache_priv {
	struct gpc_cache *c;
	/* Serializes refresh, activate, deactivate and destroy. */
	pthread_mutex_t refresh_lock;
	/* srcu scheme: serializes writers of c->seq (rwlock scheme: c->rw). */
	pthread_mutex_t wlock;
	enum gpc_usage usage;
	struct gpc_vcpu *vcpu;

	/* Under refresh_lock (and read by invalidation under index_lock). */
	_Atomic int active;
	bool hva_mode;
	uint64_t gpa, uhva, len;

	/* The current mapping; under refresh_lock. */
	bool mapped;
	void *map_base;	  /* what map() returned, page aligned */
	uint64_t map_hva; /* page-aligned hva it maps */
	uint64_t map_len; /* whole pages */
	uint64_t pfn;

	uint64_t pub_hva; /* hva of the published translation */

	/* Index entries for [idx_first, idx_first + idx_n) pages. */
	struct gpci_index_node *idx;
	size_t idx_n;
	uint64_t idx_first;

	/* Bumped by every overlapping invalidation, at start and at end. */
	_Atomic uint64_t inval_count;
	/* SRCU cookie taken when valid last went from 1 to 0. */
	_Atomic uint64_t clear_cookie;
	uint64_t visit; /* index walk stamp, under index_lock */
	struct gpc_cache_priv *vm_next, *vm_prev; /* under objs_lock */

	_Atomic uint64_t st_refreshes, st_retries, st_waits, st_invals;
	_Atomic uint64_t st_maps, st_unmaps;
};

/* Write side of the cache fields: the lock that excludes readers (rwlock
 * scheme) or other writers (srcu scheme), plus the seqcount. Callers block
 * signals around write sections (gpci_block_signals), once for a batch.
 * trylock returns false if the lock is busy. */
void gpci_cache_write_lock(struct gpc_cache *c);
bool gpci_cache_write_trylock(struct gpc_cache *c);
void gpci_cache_write_unlock(struct gpc_cache *c);
/* Clear valid inside a write section; records clear_cookie if it was set.
 * Returns whether it was valid. */
bool gpci_cache_clear_valid(struct gpc_cache *c);

/* ---- vCPUs ------------------------------------------------------------- */

struct gpc_vcpu {
	struct gpc_vm *vm;
	_Atomic int mode;
	_Atomic unsigned int requests;
	gpc_kick_fn *kick;
	void *kick_ctx;
	_Atomic int exit_waiters;
	_Atomic int dead;
	_Atomic unsigned int nref; /* guest-usage caches that name it */
	pthread_mutex_t lock;	   /* the guest-usage cache list */
	struct gpc_cache **caches;
	unsigned int ncaches, cap;
	struct gpc_vcpu *next;
	_Atomic uint64_t st_entries, st_bailouts, st_kicks, st_handled;
};

int gpci_vcpu_add_cache(struct gpc_vcpu *v, struct gpc_cache *c);
void gpci_vcpu_del_cache(struct gpc_vcpu *v, struct gpc_cache *c);
/* Post GPC_REQ_CACHE_INVALID; kick if in guest mode. Returns whether the
 * vCPU was in (or leaving) guest mode, so the caller must wait for it.
 * Context: any context, async-signal-safe. */
bool gpci_vcpu_evict(struct gpc_vcpu *v);
/* Wait until the vCPU is outside guest mode, re-kicking it now and then.
 * Context: may sleep. */
void gpci_vcpu_wait_outside(struct gpc_vcpu *v);
/* Whether an invalidation in progress overlaps [start, end). Any context. */
bool gpci_inflight_overlaps(struct gpc_vm *vm, uint64_t start, uint64_t end);
/* Sleep until no invalidation in progress overlaps [start, end). */
void gpci_inflight_wait(struct gpc_vm *vm, uint64_t start, uint64_t end);

/*
 * Whether an invalidation is in progress (registered and not ended);
 * pending marks of failed non-blocking attempts do not count.
 */
bool gpci_inflight_in_progress(struct gpc_vm *vm);

#endif /* GPC_INTERNAL_H */
