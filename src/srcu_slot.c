// SPDX-License-Identifier: MIT
/*
 * srcu_slot.c - the reader slots of SRCU domains: every thread's lookaside
 * table in its TLS, the registry of records through which grace periods
 * find each thread's slot, the read side's out-of-line paths (a thread's
 * first section in a domain, a misuse report; the wake of a sleeping grace
 * period is in srcu.c), and thread exit. docs/srcu.md, "Data", has the
 * design.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <gpc/srcu.h>

#include "internal.h"
#include "srcu_state_priv.h"

/* The sentinel's key is in the TLS image, so every thread starts with it. */
__thread struct gpc_srcu_slot gpc_srcu_tls[GPC_SRCU_TLS_ENTRIES + 1]
	__attribute__((tls_model("initial-exec"))) = {
		[GPC_SRCU_TLS_NONE] = { .key = GPC_SRCU_KEY_NONE },
	};
__thread int gpci_srcu_tls_tid __attribute__((tls_model("initial-exec")));

/*
 * Chunks of destroyed domains, for reuse. Only *tried* from the slot-claim
 * path (which may run in a signal handler); a busy lock there just means a
 * fresh mmap.
 */
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static struct srcu_rec *pool[MAX_CHUNKS];
static unsigned int pool_len;

static pthread_key_t exit_key;
static bool exit_key_ok; /* pthread_key_create succeeded */
/*
 * Initial-exec like the table: slot_slow reads them, and may run in a signal
 * handler of a dlopen()ed copy of the library, where the general model's
 * __tls_get_addr may allocate.
 */
static __thread bool exit_hook_armed __attribute__((tls_model("initial-exec")));
/*
 * Set once the thread's exit hook has begun: its TLS will go away, so from
 * then on its sections (a signal handler's, a later key destructor's) use
 * slots in the registry, never its lookaside entries.
 */
static __thread bool thread_exiting __attribute__((tls_model("initial-exec")));

/* ---- reader slots ----------------------------------------------------- */

static struct srcu_rec *chunk_get(void)
{
	struct srcu_rec *c = NULL;
	void *p;

	if (!pthread_mutex_trylock(&pool_lock)) {
		if (pool_len)
			c = pool[--pool_len];
		pthread_mutex_unlock(&pool_lock);
	}
	if (c)
		return c;
	p = mmap(NULL, CHUNK_BYTES, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

void gpci_srcu_chunk_put(struct srcu_rec *c)
{
	if (!pthread_mutex_trylock(&pool_lock)) {
		if (pool_len < MAX_CHUNKS) {
			pool[pool_len++] = c;
			c = NULL;
		}
		pthread_mutex_unlock(&pool_lock);
	}
	if (c)
		munmap(c, CHUNK_BYTES);
}

/* The one place the user words are reset: the slot changes hands. */
static void slot_user_clear(struct gpc_srcu_slot *s)
{
	for (int i = 0; i < GPC_SRCU_SLOT_USER_WORDS; i++)
		atomic_store_explicit(&s->user[i], 0, memory_order_relaxed);
}

static void slot_zero(struct gpc_srcu_slot *s)
{
	atomic_store_explicit(&s->ctr, 0, memory_order_relaxed);
	atomic_store_explicit(&s->events, 0, memory_order_relaxed);
	slot_user_clear(s);
	atomic_store_explicit(&s->key, 0, memory_order_relaxed);
}

/* Every record of a chunk free, its slot its own and outside. */
static void chunk_prepare(struct srcu_rec *c)
{
	for (size_t i = 0; i < SLOTS_PER_CHUNK; i++) {
		slot_zero(&c[i].own);
		atomic_store_explicit(&c[i].slot, &c[i].own,
				      memory_order_relaxed);
		atomic_store_explicit(&c[i].owner, 0, memory_order_relaxed);
	}
}

static struct srcu_rec *find_owned(struct gpc_srcu_state *st, int tid)
{
	struct srcu_rec *r;
	unsigned int i, n;
	size_t j;

	for_each_rec(st, r, i, j, n)
		if (rec_owner(r) == tid)
			return r;
	return NULL;
}

static struct srcu_rec *claim_free(struct gpc_srcu_state *st, int tid)
{
	struct srcu_rec *r;
	unsigned int i, n;
	size_t j;
	int zero;

	for_each_rec(st, r, i, j, n) {
		zero = 0;
		if (!rec_owner(r) &&
		    atomic_compare_exchange_strong(&r->owner, &zero, tid))
			return r;
	}
	return NULL;
}

/*
 * Add a chunk at index @n. Lock free: whoever installs chunks[n] first wins,
 * and everybody helps advance nchunks past it, so that when any claimer
 * returns, scanners will see the chunk its record is in.
 */
static int grow(struct gpc_srcu *d, unsigned int n)
{
	struct gpc_srcu_state *st = d->state;
	struct srcu_rec *c, *expected = NULL;

	if (n >= MAX_CHUNKS)
		return -ENOMEM;
	c = chunk_get();
	if (!c)
		return -ENOMEM;
	chunk_prepare(c);
	if (!atomic_compare_exchange_strong(&st->chunks[n], &expected, c))
		gpci_srcu_chunk_put(c);
	atomic_compare_exchange_strong(&st->nchunks, &n, n + 1);
	return 0;
}

/* Whether the exit hook will run for this thread (needed before a record
 * may point into its TLS). */
static bool arm_exit_hook(void)
{
	if (exit_hook_armed)
		return true;
	if (!exit_key_ok || pthread_setspecific(exit_key, (void *)1))
		return false;
	exit_hook_armed = true;
	return true;
}

/*
 * A thread must own at most one record per domain: read_unlock() without a
 * token finds the slot again through it, and must find the one the section
 * is on. A signal handler that interrupted us before our CAS may have
 * claimed a record of its own meanwhile (handlers run to completion before
 * we resume); after our CAS, look again, and if it did, give ours back.
 */
static struct srcu_rec *dedup_claim(struct gpc_srcu_state *st,
				    struct srcu_rec *mine, int tid)
{
	struct srcu_rec *r;
	unsigned int i, n;
	size_t j;

	for_each_rec(st, r, i, j, n) {
		if (r != mine && rec_owner(r) == tid) {
			atomic_store_explicit(&mine->owner, 0,
					      memory_order_release);
			return r;
		}
	}
	return mine;
}

static struct srcu_rec *claim_rec(struct gpc_srcu *d, int tid)
{
	struct gpc_srcu_state *st = d->state;
	struct srcu_rec *r;

	for (;;) {
		unsigned int n = atomic_load_explicit(&st->nchunks,
						      memory_order_acquire);

		r = claim_free(st, tid);
		if (r)
			return dedup_claim(st, r, tid);
		if (grow(d, n))
			return NULL;
	}
}

/*
 * Make the thread's lookaside entry @e the slot of record @r in @d. Only
 * reached while the entry is not @d's (free, or a destroyed domain's, whose
 * sections all ended), or again from a signal handler that interrupted the
 * same installation: every step can be repeated. The key goes last, so a
 * reader never sees the entry as @d's before it is ready, and the record
 * points at the entry before the thread's first section stores into it,
 * so a grace period that reads the record finds the section (the membarrier
 * or fence argument of run_gp's (A) covers the order of the two stores).
 */
static void install_entry(struct gpc_srcu *d, struct srcu_rec *r,
			  struct gpc_srcu_slot *e)
{
	atomic_store_explicit(&e->key, 0, memory_order_relaxed);
	gpc_barrier();
	if (rec_slot(r) != e) {
		slot_zero(e); /* a destroyed domain's words, or none */
		atomic_store_explicit(&r->slot, e, memory_order_release);
	}
	gpc_barrier();
	atomic_store_explicit(&e->key, d->key, memory_order_relaxed);
}

struct gpc_srcu_slot *gpc_srcu_slot_slow(struct gpc_srcu *d)
{
	int tid = self_tid();
	struct srcu_rec *r;

	if (gpc_unlikely(!srcu_ok(d))) {
		gpci_log(GPC_LOG_ERR,
			 "srcu: read side used on an invalid domain");
		abort();
	}
	r = find_owned(d->state, tid);
	if (r) {
		struct gpc_srcu_slot *s = rec_slot(r);

		/*
		 * The slot the record points at is the one to use: a section
		 * may be open on it. Either the record's own (which stays the
		 * thread's slot in this domain from then on), or the entry, in
		 * which case a signal handler interrupted its installation (or
		 * the exit hook is releasing it): finish the installation,
		 * unless the thread is exiting.
		 */
		if (s != &r->own && !thread_exiting)
			install_entry(d, r, s);
		return s;
	}
	r = claim_rec(d, tid);
	if (!r) {
		gpci_log(GPC_LOG_ERR, "srcu %s: out of reader slots",
			 d->state->name);
		abort();
	}
	/*
	 * The record's own words (its slot after claim_rec) for domains
	 * without an entry, and whenever no exit hook will point the record
	 * back at itself before the thread's TLS goes away.
	 */
	if (d->tls_index == GPC_SRCU_TLS_NONE || thread_exiting ||
	    !arm_exit_hook())
		return rec_slot(r);
	install_entry(d, r, &gpc_srcu_tls[d->tls_index]);
	return &gpc_srcu_tls[d->tls_index];
}

int gpc_srcu_register_thread(struct gpc_srcu *d)
{
	if (!srcu_ok(d))
		return -EINVAL;
	(void)gpc_srcu_slot_of(d);
	return 0;
}

void gpc_srcu_report_misuse(struct gpc_srcu *d, const char *what)
{
	gpci_log(GPC_LOG_ERR, "srcu %s: %s (thread %d)",
		 srcu_ok(d) ? d->state->name : "?", what, self_tid());
}

/*
 * Give back record @r: its events are kept, its slot is its own again, zero,
 * and it is free. @mine: the record is the calling thread's (thread exit,
 * under scan_lock), so its slot may be touched; a forked child releases
 * other threads' records without reading their TLS (a copy that may not
 * even be mapped, e.g. a stack with MADV_DONTFORK), losing their event
 * counts. A slot still inside a section belonged to a thread that can no
 * longer touch anything, so ending its section is safe.
 */
void gpci_srcu_rec_release(struct gpc_srcu_state *st, struct srcu_rec *r,
			   bool mine)
{
	struct gpc_srcu_slot *s = rec_slot(r);

	if (mine || s == &r->own) {
		/*
		 * The entry's key first: from here on a signal handler's
		 * section of this domain takes slot_slow, which uses what the
		 * record points at (this entry until the store below, then
		 * the record's own words): always a slot the scans read.
		 */
		atomic_store_explicit(&s->key, 0, memory_order_relaxed);
		gpc_barrier();
		atomic_fetch_add_explicit(&st->retired_events,
					  atomic_exchange(&s->events, 0),
					  memory_order_relaxed);
		slot_user_clear(s);
		atomic_store_explicit(&s->ctr, 0, memory_order_release);
	}
	if (s != &r->own) {
		slot_zero(&r->own);
		atomic_store_explicit(&r->slot, &r->own, memory_order_release);
	}
	atomic_store_explicit(&r->owner, 0, memory_order_release);
}

/*
 * Thread exit: give back this thread's records in a live domain, under
 * scan_lock so that no scanner is reading the thread's TLS, which goes away
 * with it. Returns whether a section was still open (an application bug;
 * the caller reports it once no lock is held, so a log handler may call
 * back into the library).
 */
static bool release_slots_of(struct gpc_srcu_state *st, int tid)
{
	struct srcu_rec *r;
	unsigned int i, n;
	size_t j;
	bool open = false;

	pthread_mutex_lock(&st->scan_lock);
	for_each_rec(st, r, i, j, n) {
		if (rec_owner(r) != tid)
			continue;
		unsigned long v = atomic_load_explicit(&rec_slot(r)->ctr,
						       memory_order_relaxed);

		if (v & GPC_SRCU_NEST_MASK)
			open = true;
		gpci_srcu_rec_release(st, r, true);
		/* A released section may be one a grace period waits for. */
		if ((v & GPC_SRCU_NEST_MASK) &&
		    (atomic_load_explicit(&st->d->gp_futex,
					  memory_order_seq_cst) &
		     GPC_SRCU_GPW_ACTIVE))
			gpc_srcu_wake_gp(st->d, v);
	}
	pthread_mutex_unlock(&st->scan_lock);
	return open;
}

static void thread_exit_hook(void *arg)
{
	int tid = self_tid();

	char open[4][32];
	unsigned int nopen = 0;

	(void)arg;
	/* Before anything is released: see thread_exiting. */
	thread_exiting = true;
	gpc_barrier();
	pthread_mutex_lock(&gpci_srcu_domains_lock);
	for (struct gpc_srcu_state *st = gpci_srcu_domains; st; st = st->next)
		if (release_slots_of(st, tid) && nopen < 4)
			snprintf(open[nopen++], sizeof(open[0]), "%s",
				 st->name);
	pthread_mutex_unlock(&gpci_srcu_domains_lock);
	/* Every entry but the sentinel (which keeps its key). */
	memset(&gpc_srcu_tls[GPC_SRCU_TLS_NONE + 1], 0,
	       sizeof(gpc_srcu_tls) - sizeof(gpc_srcu_tls[0]));
	for (unsigned int i = 0; i < nopen; i++)
		gpci_log(
			GPC_LOG_ERR,
			"srcu %s: thread %d exited inside a read section; section ended",
			open[i], tid);
}

/*
 * Whether the calling thread is inside a section of @d, without claiming a
 * slot for a thread that has none (an updater need not be a reader).
 */
bool gpci_srcu_held_by_self(struct gpc_srcu *d)
{
	struct gpc_srcu_slot *e = &gpc_srcu_tls[d->tls_index];
	struct gpc_srcu_slot *s = NULL;
	struct srcu_rec *r;

	if (atomic_load_explicit(&e->key, memory_order_relaxed) == d->key) {
		s = e;
	} else {
		r = find_owned(d->state, self_tid());
		if (r)
			s = rec_slot(r); /* ours: no lock needed */
	}
	return s && (atomic_load_explicit(&s->ctr, memory_order_relaxed) &
		     GPC_SRCU_NEST_MASK);
}

/* srcu_setup(): the key whose destructor is thread_exit_hook(). */
void gpci_srcu_exit_key_setup(void)
{
	exit_key_ok = !pthread_key_create(&exit_key, thread_exit_hook);
}
