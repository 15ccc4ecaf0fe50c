/* SPDX-License-Identifier: MIT */
/*
 * srcu_state_priv.h - what the files of the SRCU domain share: the domain's
 * writer-side state, the registry records of reader slots, the list of live
 * domains, and the calls one file makes into another; not installed, and
 * included by srcu*.c only (the rest of the library uses srcu_priv.h).
 *
 * srcu.c: grace periods and polling; srcu_slot.c: reader slots, the
 * thread-local lookaside table, thread exit; srcu_worker.c: callbacks and
 * the worker; srcu_domain.c: init, destroy, users, statistics;
 * srcu_fork.c: fork(). docs/srcu.md has the algorithm.
 */
#ifndef GPC_SRCU_STATE_PRIV_H
#define GPC_SRCU_STATE_PRIV_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <gpc/srcu.h>

#include "internal.h"

#define SRCU_MAGIC 0x53524355u /* "SRCU" */
#define SRCU_DEAD  0x44454144u /* "DEAD" */

/*
 * A thread's registry record in a domain: whose it is, and where its slot
 * is (its lookaside entry in its TLS, or @own for a domain without an
 * entry). Records come in page-sized chunks that a domain adds lock free.
 * Only the owner writes @own, so a record has a cache line of its own.
 */
struct srcu_rec {
	_Atomic(struct gpc_srcu_slot *) slot;
	_Atomic int owner; /* thread id, 0 when free */
	struct gpc_srcu_slot own;
} gpc_cacheline_aligned;

/* 33 of them are every thread's static TLS: see GPC_SRCU_TLS_ENTRIES. */
_Static_assert(sizeof(struct gpc_srcu_slot) == 32, "a slot is 4 words");

#define CHUNK_BYTES	4096
#define SLOTS_PER_CHUNK (CHUNK_BYTES / sizeof(struct srcu_rec))
#define MAX_CHUNKS	1024

struct gpc_srcu_state {
	struct gpc_srcu *d;
	struct gpc_srcu_state *next; /* in the list of live domains */

	/* Serializes grace periods; held for the whole of one. */
	pthread_mutex_t gp_lock;
	_Atomic uint64_t gp_seq; /* even: idle; odd: a grace period runs */
	_Atomic uint64_t gp_req; /* highest cookie asked for by start_poll */

	_Atomic(struct srcu_rec *) chunks[MAX_CHUNKS];
	_Atomic unsigned int nchunks;
	/*
	 * Held while anyone but the owner dereferences a record's slot
	 * pointer (grace-period scans, event sums, destroy's check), and by
	 * thread exit while it points the records of the exiting thread back
	 * at themselves: a slot in a thread's TLS goes away with the thread.
	 */
	pthread_mutex_t scan_lock;

	/* Worker: drives polled grace periods and runs callbacks. */
	pthread_t worker;
	bool worker_started;
	_Atomic bool stop;
	_Atomic int worker_futex;    /* bumped by every wakeup */
	_Atomic int worker_sleeping; /* nonzero while it may futex_wait */

	pthread_mutex_t cb_lock; /* protects the queue and the tickets */
	pthread_cond_t cb_done_cond;
	struct gpc_srcu_head *cb_head, **cb_tail;
	uint64_t cb_queued, cb_done;
	uint64_t cb_inflight; /* detached by the worker, not yet counted done */

	char name[32];
	uint64_t stall_ns;
	/*
	 * vms on this domain (gpci_srcu_get/put), under domains_lock: while
	 * nonzero, gpc_srcu_destroy() refuses with -EBUSY.
	 */
	unsigned int users;

	_Atomic uint64_t retired_events; /* of released slots */
	_Atomic uint64_t st_wakes;	 /* futex_wake calls by readers */
	_Atomic uint64_t st_gp, st_shared, st_mb, st_sleeps, st_stalls,
		st_callbacks;
};

/* Live domains: for thread exit, fork and id allocation (srcu_domain.c). */
extern pthread_mutex_t gpci_srcu_domains_lock;
extern struct gpc_srcu_state *gpci_srcu_domains;

/* The calling thread's id, cached (srcu_slot.c; fork resets it). */
extern __thread int gpci_srcu_tls_tid
	__attribute__((tls_model("initial-exec")));

static inline bool srcu_ok(const struct gpc_srcu *d)
{
	return d && d->magic == SRCU_MAGIC && d->state;
}

static inline int self_tid(void)
{
	if (!gpci_srcu_tls_tid)
		gpci_srcu_tls_tid = (int)gettid();
	return gpci_srcu_tls_tid;
}

#define for_each_rec(st, r, i, j, n)                                        \
	for (i = 0,                                                         \
	    n = atomic_load_explicit(&(st)->nchunks, memory_order_acquire); \
	     i < n; i++)                                                    \
		for (j = 0, r = atomic_load_explicit(&(st)->chunks[i],      \
						     memory_order_acquire); \
		     j < SLOTS_PER_CHUNK; j++, r++)

static inline int rec_owner(struct srcu_rec *r)
{
	return atomic_load_explicit(&r->owner, memory_order_relaxed);
}

/*
 * The slot a record points at. Dereferencing it is safe for its owner
 * thread, and for anyone else under the domain's scan_lock.
 */
static inline struct gpc_srcu_slot *rec_slot(struct srcu_rec *r)
{
	return atomic_load_explicit(&r->slot, memory_order_acquire);
}

/* ---- srcu.c: grace periods ---- */

/* Decide between membarrier and reader fences (srcu_setup). */
void gpci_srcu_membarrier_setup(void);
/* One grace period of @d; the caller holds gp_lock. Context: may sleep. */
void gpci_srcu_run_gp(struct gpc_srcu *d, bool expedited);
/* Whether any slot of @st is inside a section; the caller holds scan_lock. */
bool gpci_srcu_any_slot_open(struct gpc_srcu_state *st);

/* ---- srcu_slot.c: reader slots ---- */

/* Create the key whose destructor releases an exiting thread's slots. */
void gpci_srcu_exit_key_setup(void);
/* Give a chunk of records back (to the pool, or unmap it). */
void gpci_srcu_chunk_put(struct srcu_rec *c);
/* Give back record @r (see the comment at its definition). */
void gpci_srcu_rec_release(struct gpc_srcu_state *st, struct srcu_rec *r,
			   bool mine);
/* Whether the calling thread is inside a section of @d; claims no slot. */
bool gpci_srcu_held_by_self(struct gpc_srcu *d);

/* ---- srcu_worker.c: the worker ---- */

/* Return: 0; -EAGAIN if the thread cannot be created. */
int gpci_srcu_start_worker(struct gpc_srcu *d);
void gpci_srcu_stop_worker(struct gpc_srcu_state *st);

/* ---- srcu_fork.c: pthread_atfork() handlers (srcu_setup) ---- */

void gpci_srcu_fork_prepare(void);
void gpci_srcu_fork_parent(void);
void gpci_srcu_fork_child(void);

#endif /* GPC_SRCU_STATE_PRIV_H */
