// SPDX-License-Identifier: MIT
/*
 * srcu.c - grace periods, reader slots, polling and callbacks of an SRCU
 * domain. The read side is inline in include/gpc/srcu.h; docs/srcu.md has
 * the algorithm and the argument for every barrier.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/membarrier.h>

#include <gpc/srcu.h>

#include "internal.h"
#include "srcu_priv.h"

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

/* Scans of the slots before a grace period goes to sleep on the futex. */
#define SPIN_SCANS   100
/* Upper bound of one futex sleep; a safety net, wakeups come from readers. */
#define SLEEP_MAX_NS 1000000000ull

/* The sentinel's key is in the TLS image, so every thread starts with it. */
__thread struct gpc_srcu_slot gpc_srcu_tls[GPC_SRCU_TLS_ENTRIES + 1]
	__attribute__((tls_model("initial-exec"))) = {
		[GPC_SRCU_TLS_NONE] = { .key = GPC_SRCU_KEY_NONE },
	};
static __thread int gpc_srcu_tls_tid __attribute__((tls_model("initial-exec")));
int gpc_srcu_reader_fence;

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

/* Live domains: for thread exit, fork and id allocation. */
static pthread_mutex_t domains_lock = PTHREAD_MUTEX_INITIALIZER;
static struct gpc_srcu_state *domains;
static _Atomic uint64_t next_serial = 1;

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

static bool srcu_ok(const struct gpc_srcu *d)
{
	return d && d->magic == SRCU_MAGIC && d->state;
}

static int self_tid(void)
{
	if (!gpc_srcu_tls_tid)
		gpc_srcu_tls_tid = (int)gettid();
	return gpc_srcu_tls_tid;
}

/* ---- membarrier ------------------------------------------------------- */

/*
 * The asymmetric fence. A full barrier on every running thread of the
 * process, so each reader's compiler barrier (between its slot store and its
 * loads of protected data) acts as a full barrier relative to our accesses
 * on either side of this call.
 */
static void gp_membarrier(struct gpc_srcu_state *st)
{
	if (gpc_srcu_reader_fence) {
		atomic_thread_fence(memory_order_seq_cst);
		return;
	}
	if (syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0)) {
		/* Cannot happen once registered; never be unsafe if it does. */
		gpci_log(GPC_LOG_ERR, "srcu: membarrier failed: %s",
			 strerror(errno));
		abort();
	}
	atomic_fetch_add_explicit(&st->st_mb, 1, memory_order_relaxed);
}

static void membarrier_setup(void)
{
	const char *no = getenv("GPC_SRCU_NO_MEMBARRIER");
	long cmds;

	gpc_srcu_reader_fence = 1;
	if (no && *no && strcmp(no, "0"))
		return;
	cmds = syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
	if (cmds < 0 || !(cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED))
		return;
	if (syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED,
		    0, 0))
		return;
	gpc_srcu_reader_fence = 0;
}

bool gpc_srcu_membarrier_available(void)
{
	return !gpc_srcu_reader_fence;
}

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

static void chunk_put(struct srcu_rec *c)
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

#define for_each_rec(st, r, i, j, n)                                        \
	for (i = 0,                                                         \
	    n = atomic_load_explicit(&(st)->nchunks, memory_order_acquire); \
	     i < n; i++)                                                    \
		for (j = 0, r = atomic_load_explicit(&(st)->chunks[i],      \
						     memory_order_acquire); \
		     j < SLOTS_PER_CHUNK; j++, r++)

static int rec_owner(struct srcu_rec *r)
{
	return atomic_load_explicit(&r->owner, memory_order_relaxed);
}

/*
 * The slot a record points at. Dereferencing it is safe for its owner
 * thread, and for anyone else under the domain's scan_lock.
 */
static struct gpc_srcu_slot *rec_slot(struct srcu_rec *r)
{
	return atomic_load_explicit(&r->slot, memory_order_acquire);
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
		chunk_put(c);
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

/*
 * A reader ended the outermost section @ctr (its slot value before the
 * unlock), which its relaxed load found armed for. The RMW reads the
 * latest value, so a sleep announced before it is never missed; and that
 * value decides: the load may have been stale (the previous phase's arming,
 * before this phase's membarrier), so the phase is checked again and only
 * a section of the phase being drained wakes. Release: our slot store
 * happens before the updater's next scan once its exchange reads WOKEN
 * (sleep_for_readers). A WOKEN set by a section of the other phase costs
 * the updater one extra scan, never a system call.
 */
void gpc_srcu_wake_gp(struct gpc_srcu *d, unsigned long ctr)
{
	int old = atomic_fetch_or_explicit(&d->gp_futex, GPC_SRCU_GPW_WOKEN,
					   memory_order_release);

	if ((old & GPC_SRCU_GPW_SLEEP) &&
	    !(old & GPC_SRCU_GPW_PHASE) == !(ctr & GPC_SRCU_PHASE)) {
		atomic_fetch_add_explicit(&d->state->st_wakes, 1,
					  memory_order_relaxed);
		gpci_futex_wake(&d->gp_futex, 1);
	}
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
static void rec_release(struct gpc_srcu_state *st, struct srcu_rec *r,
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
		rec_release(st, r, true);
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
	pthread_mutex_lock(&domains_lock);
	for (struct gpc_srcu_state *st = domains; st; st = st->next)
		if (release_slots_of(st, tid) && nopen < 4)
			snprintf(open[nopen++], sizeof(open[0]), "%s",
				 st->name);
	pthread_mutex_unlock(&domains_lock);
	/* Every entry but the sentinel (which keeps its key). */
	memset(&gpc_srcu_tls[GPC_SRCU_TLS_NONE + 1], 0,
	       sizeof(gpc_srcu_tls) - sizeof(gpc_srcu_tls[0]));
	for (unsigned int i = 0; i < nopen; i++)
		gpci_log(
			GPC_LOG_ERR,
			"srcu %s: thread %d exited inside a read section; section ended",
			open[i], tid);
}

/* ---- grace periods ---------------------------------------------------- */

/*
 * A slot holds up the current wait if it is inside a section that began in
 * the other phase than the domain's counter has now.
 */
static bool slot_blocks(unsigned long v, unsigned long now)
{
	return (v & GPC_SRCU_NEST_MASK) && ((v ^ now) & GPC_SRCU_PHASE);
}

/*
 * Return the owner of a slot that holds up the wait, or 0 if none. The
 * acquire load pairs with the release store of read_unlock: once we see a
 * reader outside, everything it did inside happens before what we do next.
 */
static int scan_blocker(struct gpc_srcu *d)
{
	unsigned long now =
		atomic_load_explicit(&d->gp_ctr, memory_order_relaxed);
	struct gpc_srcu_state *st = d->state;
	struct srcu_rec *r;
	unsigned int i, n;
	size_t j;
	int tid = 0;

	pthread_mutex_lock(&st->scan_lock);
	for_each_rec(st, r, i, j, n) {
		unsigned long v = atomic_load_explicit(&rec_slot(r)->ctr,
						       memory_order_acquire);

		if (slot_blocks(v, now)) {
			tid = rec_owner(r);
			if (!tid)
				tid = -1;
			break;
		}
	}
	pthread_mutex_unlock(&st->scan_lock);
	return tid;
}

/*
 * Whether any slot is inside a section, of either phase; the caller holds
 * scan_lock. Acquire loads: a slot seen outside orders its section before
 * what the caller does next (pairs with read_unlock's release store).
 */
static bool any_slot_open(struct gpc_srcu_state *st)
{
	struct srcu_rec *r;
	unsigned int i, n;
	size_t j;

	for_each_rec(st, r, i, j, n)
		if (atomic_load_explicit(&rec_slot(r)->ctr,
					 memory_order_acquire) &
		    GPC_SRCU_NEST_MASK)
			return true;
	return false;
}

static void report_stall(struct gpc_srcu *d, int tid, uint64_t waited_ns)
{
	struct gpc_srcu_state *st = d->state;

	atomic_fetch_add_explicit(&st->st_stalls, 1, memory_order_relaxed);
	gpci_log(
		GPC_LOG_WARN,
		"srcu %s: grace period %llu stalled for %llu ms: thread %d has been inside a read section for at least %llu ms",
		st->name, (unsigned long long)atomic_load(&st->gp_seq) / 2 + 1,
		(unsigned long long)(waited_ns / 1000000), tid,
		(unsigned long long)(waited_ns / 1000000));
}

/*
 * The wait protocol (docs/srcu.md, "Waiting for readers"). Each phase's
 * wait first arms gp_futex with the phase it drains (arm_wait), and the
 * next membarrier makes every reader see it: run_gp's (A) for the first
 * phase; for the second, one more, issued only if that wait has to sleep.
 * From then on a reader that ends the outermost section of the drained
 * phase sets WOKEN by an atomic RMW and calls futex_wake only if the word
 * says SLEEP. The updater announces a sleep by an exchange that also reads
 * WOKEN, so a reader that left since the last scan is never slept through:
 * its RMW comes either before our exchange (we see WOKEN and scan again)
 * or after it (it sees SLEEP and wakes us). No membarrier per sleep, no
 * wake-up from sections the grace period does not wait for.
 */
static int arm_wait(struct gpc_srcu *d)
{
	unsigned long now =
		atomic_load_explicit(&d->gp_ctr, memory_order_relaxed);
	/* The drained phase is the one the counter does not have now. */
	int w = GPC_SRCU_GPW_ACTIVE |
		((now & GPC_SRCU_PHASE) ? 0 : GPC_SRCU_GPW_PHASE);

	atomic_store_explicit(&d->gp_futex, w, memory_order_relaxed);
	return w;
}

/*
 * Sleep until a reader of the drained phase leaves (or the timeout). The
 * acq_rel exchanges pair with the release RMW in gpc_srcu_wake_gp(): when
 * they read WOKEN, the reader's slot store happens before our next scan.
 */
static void sleep_for_readers(struct gpc_srcu *d, int armed,
			      uint64_t timeout_ns)
{
	struct gpc_srcu_state *st = d->state;
	int old = atomic_exchange_explicit(
		&d->gp_futex, armed | GPC_SRCU_GPW_SLEEP, memory_order_acq_rel);

	if (!(old & GPC_SRCU_GPW_WOKEN)) {
		atomic_fetch_add_explicit(&st->st_sleeps, 1,
					  memory_order_relaxed);
		gpci_futex_wait(&d->gp_futex, armed | GPC_SRCU_GPW_SLEEP,
				timeout_ns);
	}
	/* Awake again: readers need not wake us until the next sleep. */
	atomic_exchange_explicit(&d->gp_futex, armed, memory_order_acq_rel);
}

/*
 * Wait until no slot holds up the phase being drained (@armed). @barrier:
 * the membarrier that makes readers see @armed is still due (second
 * phase); it is issued before the first sleep, and then everything is
 * scanned again.
 */
static void wait_for_readers(struct gpc_srcu *d, bool expedited, int armed,
			     bool barrier, uint64_t gp_start,
			     bool *stall_reported)
{
	struct gpc_srcu_state *st = d->state;

	for (unsigned int scans = 0;; scans++) {
		int tid = scan_blocker(d);
		uint64_t waited, left;

		if (!tid)
			return;
		waited = gpci_now_ns() - gp_start;
		if (!*stall_reported && waited >= st->stall_ns) {
			report_stall(d, tid, waited);
			*stall_reported = true;
		}
		if (scans < SPIN_SCANS) {
			gpc_cpu_relax();
			continue;
		}
		if (expedited) {
			sched_yield();
			continue;
		}
		if (barrier) {
			atomic_thread_fence(memory_order_seq_cst);
			gp_membarrier(st);
			barrier = false;
			continue;
		}
		left = *stall_reported ? SLEEP_MAX_NS : st->stall_ns - waited;
		if (left > SLEEP_MAX_NS)
			left = SLEEP_MAX_NS;
		sleep_for_readers(d, armed, left < 1000000 ? 1000000 : left);
	}
}

/*
 * One grace period; the caller holds gp_lock.
 *
 * (A) The membarrier orders the updater's earlier stores (unpublishing an
 *     object) before the loads of every reader section that the scans below
 *     do not see: such a reader stored its slot after the barrier point on
 *     its CPU, so its loads come after it and find the new state. Pairs with
 *     the compiler barrier at the end of read_lock.
 * (B) Two phase flips: a reader that loaded gp_ctr before a flip but stored
 *     it to its slot after our scan carries a stale phase. It cannot hold
 *     anything old (see A), but with one flip per grace period the next
 *     grace period would take it for a current reader and not wait for it
 *     although by then it may hold something that period retires. Waiting
 *     for the old phase, flipping, and waiting again covers every reader
 *     that was inside when the grace period began.
 * (C) No membarrier at the end: every reader we waited for was seen outside
 *     through an acquire load of its release store, which orders its section
 *     before our return; readers we never saw inside began after (A).
 */
static void run_gp(struct gpc_srcu *d, bool expedited)
{
	struct gpc_srcu_state *st = d->state;
	uint64_t seq = atomic_load_explicit(&st->gp_seq, memory_order_relaxed);
	uint64_t start = gpci_now_ns();
	bool reported = false;
	unsigned long ctr;
	int armed;

	/* Odd: cookies taken from now on name the grace period after this. */
	atomic_store_explicit(&st->gp_seq, seq + 1, memory_order_relaxed);
	armed = arm_wait(d);
	atomic_thread_fence(memory_order_seq_cst);
	gp_membarrier(st); /* (A); readers also see the armed word now */

	wait_for_readers(d, expedited, armed, false, start, &reported);
	atomic_thread_fence(memory_order_seq_cst);
	ctr = atomic_load_explicit(&d->gp_ctr, memory_order_relaxed);
	atomic_store_explicit(&d->gp_ctr, ctr ^ GPC_SRCU_PHASE,
			      memory_order_relaxed);
	armed = arm_wait(d);
	atomic_thread_fence(memory_order_seq_cst);
	wait_for_readers(d, expedited, armed, true, start, &reported); /* (B) */

	atomic_store_explicit(&d->gp_futex, 0, memory_order_relaxed);
	atomic_thread_fence(memory_order_seq_cst);
	atomic_store_explicit(&st->gp_seq, seq + 2, memory_order_release);
	atomic_fetch_add_explicit(&st->st_gp, 1, memory_order_relaxed);
}

/*
 * Whether the calling thread is inside a section of @d, without claiming a
 * slot for a thread that has none (an updater need not be a reader).
 */
static bool held_by_self(struct gpc_srcu *d)
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

static int synchronize(struct gpc_srcu *d, bool expedited)
{
	struct gpc_srcu_state *st;
	uint64_t cookie;

	if (!srcu_ok(d))
		return -EINVAL;
	if (held_by_self(d))
		return -EDEADLK;
	st = d->state;
	cookie = gpc_srcu_get_state(d);
	pthread_mutex_lock(&st->gp_lock);
	/* Someone else's grace period, begun after our cookie, covers us. */
	if (gpc_srcu_poll_state(d, cookie) == 1)
		atomic_fetch_add_explicit(&st->st_shared, 1,
					  memory_order_relaxed);
	else
		run_gp(d, expedited);
	pthread_mutex_unlock(&st->gp_lock);
	return 0;
}

int gpc_srcu_synchronize(struct gpc_srcu *d)
{
	return synchronize(d, false);
}

int gpc_srcu_synchronize_expedited(struct gpc_srcu *d)
{
	return synchronize(d, true);
}

/* ---- polling ---------------------------------------------------------- */

/*
 * gp_seq counts starts and ends of grace periods. From a snapshot s, the
 * first grace period that starts after it ends when gp_seq reaches
 * (s + 3) & ~1: s + 2 if none was running, s + 3 if one was (it may have
 * begun its scans before our caller's stores).
 */
uint64_t gpc_srcu_get_state(struct gpc_srcu *d)
{
	uint64_t s;

	if (!srcu_ok(d))
		return 0;
	/* Order the caller's earlier stores before the snapshot. */
	atomic_thread_fence(memory_order_seq_cst);
	s = atomic_load_explicit(&d->state->gp_seq, memory_order_acquire);
	return (s + 3) & ~1ull;
}

int gpc_srcu_poll_state(struct gpc_srcu *d, uint64_t cookie)
{
	uint64_t s;

	if (!srcu_ok(d) || !cookie || (cookie & 1))
		return -EINVAL;
	s = atomic_load_explicit(&d->state->gp_seq, memory_order_acquire);
	/*
	 * Plain unsigned comparisons: a 64-bit count of grace periods does not
	 * wrap, so a huge cookie is bogus, not old. No cookie issued so far can
	 * exceed the current count plus 3.
	 */
	if (cookie > s + 3)
		return -EINVAL;
	if (s < cookie)
		return 0;
	/* Order the caller's later accesses after the grace period. */
	atomic_thread_fence(memory_order_seq_cst);
	return 1;
}

/*
 * One look, no wait. The fence orders the caller's stores before the
 * membarrier, which makes every reader's slot store that precedes its loads
 * of protected data visible to the scan below, or else places those loads
 * after the caller's stores: run_gp's (A). Both phases count: with no
 * flip, a section of either phase may have begun before us. The acquire
 * loads pair with read_unlock's release store, as in scan_blocker().
 * A try-lock only: the scan lock may be held by the thread we interrupt.
 */
int gpc_srcu_try_synchronize(struct gpc_srcu *d)
{
	struct gpc_srcu_state *st;
	int done;

	if (!srcu_ok(d))
		return -EINVAL;
	st = d->state;
	if (pthread_mutex_trylock(&st->scan_lock))
		return 0;
	atomic_thread_fence(memory_order_seq_cst);
	gp_membarrier(st);
	done = !any_slot_open(st);
	pthread_mutex_unlock(&st->scan_lock);
	if (done)
		atomic_thread_fence(memory_order_seq_cst);
	return done;
}

static void wake_worker(struct gpc_srcu_state *st)
{
	atomic_fetch_add_explicit(&st->worker_futex, 1, memory_order_seq_cst);
	/* Pairs with the fence between worker_sleeping=1 and its re-check. */
	if (atomic_load_explicit(&st->worker_sleeping, memory_order_seq_cst))
		gpci_futex_wake(&st->worker_futex, 1);
}

uint64_t gpc_srcu_start_poll(struct gpc_srcu *d)
{
	struct gpc_srcu_state *st;
	uint64_t c, r;

	if (!srcu_ok(d))
		return 0;
	st = d->state;
	c = gpc_srcu_get_state(d);
	r = atomic_load_explicit(&st->gp_req, memory_order_relaxed);
	while (c > r)
		if (atomic_compare_exchange_weak(&st->gp_req, &r, c)) {
			wake_worker(st);
			break;
		}
	return c;
}

/* ---- callbacks and the worker ----------------------------------------- */

int gpc_srcu_call(struct gpc_srcu *d, struct gpc_srcu_head *head,
		  void (*func)(struct gpc_srcu_head *head))
{
	struct gpc_srcu_state *st;

	if (!srcu_ok(d) || !head || !func)
		return -EINVAL;
	st = d->state;
	head->func = func;
	head->next = NULL;
	head->cookie = gpc_srcu_get_state(d);
	pthread_mutex_lock(&st->cb_lock);
	*st->cb_tail = head;
	st->cb_tail = &head->next;
	st->cb_queued++;
	pthread_mutex_unlock(&st->cb_lock);
	wake_worker(st);
	return 0;
}

/* Detach the callbacks whose grace period is over (a FIFO prefix). */
static struct gpc_srcu_head *take_ready(struct gpc_srcu *d, bool *more)
{
	struct gpc_srcu_state *st = d->state;
	struct gpc_srcu_head *first = NULL, **pp;

	pthread_mutex_lock(&st->cb_lock);
	pp = &st->cb_head;
	while (*pp && gpc_srcu_poll_state(d, (*pp)->cookie) == 1)
		pp = &(*pp)->next;
	if (pp != &st->cb_head) {
		first = st->cb_head;
		st->cb_head = *pp;
		*pp = NULL; /* ends the detached list */
		if (!st->cb_head)
			st->cb_tail = &st->cb_head;
		for (struct gpc_srcu_head *h = first; h; h = h->next)
			st->cb_inflight++;
	}
	*more = st->cb_head != NULL;
	pthread_mutex_unlock(&st->cb_lock);
	return first;
}

static void run_callbacks(struct gpc_srcu *d, struct gpc_srcu_head *h)
{
	struct gpc_srcu_state *st = d->state;
	uint64_t n = 0;

	while (h) {
		struct gpc_srcu_head *next = h->next;

		h->func(h);
		h = next;
		n++;
	}
	atomic_fetch_add_explicit(&st->st_callbacks, n, memory_order_relaxed);
	pthread_mutex_lock(&st->cb_lock);
	st->cb_done += n;
	st->cb_inflight -= n;
	pthread_cond_broadcast(&st->cb_done_cond);
	pthread_mutex_unlock(&st->cb_lock);
}

static bool gp_wanted(struct gpc_srcu_state *st, bool cbs_pending)
{
	uint64_t req = atomic_load_explicit(&st->gp_req, memory_order_relaxed);
	uint64_t seq = atomic_load_explicit(&st->gp_seq, memory_order_relaxed);

	return cbs_pending || req > seq;
}

static void worker_sleep(struct gpc_srcu_state *st, int seen)
{
	atomic_store_explicit(&st->worker_sleeping, 1, memory_order_seq_cst);
	/* Pairs with wake_worker(): it bumps the word, then reads sleeping. */
	if (atomic_load_explicit(&st->worker_futex, memory_order_seq_cst) ==
	    seen)
		gpci_futex_wait(&st->worker_futex, seen, 0);
	atomic_store_explicit(&st->worker_sleeping, 0, memory_order_relaxed);
}

static void *worker_main(void *arg)
{
	struct gpc_srcu *d = arg;
	struct gpc_srcu_state *st = d->state;

	for (;;) {
		int seen = atomic_load_explicit(&st->worker_futex,
						memory_order_seq_cst);
		bool more;
		struct gpc_srcu_head *ready = take_ready(d, &more);

		if (ready) {
			run_callbacks(d, ready);
			continue;
		}
		if (gp_wanted(st, more)) {
			pthread_mutex_lock(&st->gp_lock);
			if (gp_wanted(st, more))
				run_gp(d, false);
			pthread_mutex_unlock(&st->gp_lock);
			continue;
		}
		if (atomic_load_explicit(&st->stop, memory_order_acquire))
			break;
		worker_sleep(st, seen);
	}
	return NULL;
}

static int start_worker(struct gpc_srcu *d)
{
	struct gpc_srcu_state *st = d->state;
	sigset_t all, old;
	int err;

	/* The worker takes no signals: they belong to the application. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = pthread_create(&st->worker, NULL, worker_main, d);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	st->worker_started = !err;
	return err ? -EAGAIN : 0;
}

static void stop_worker(struct gpc_srcu_state *st)
{
	if (!st->worker_started)
		return;
	atomic_store_explicit(&st->stop, true, memory_order_release);
	wake_worker(st);
	pthread_join(st->worker, NULL);
	st->worker_started = false;
}

int gpc_srcu_barrier(struct gpc_srcu *d)
{
	struct gpc_srcu_state *st;
	uint64_t target;

	if (!srcu_ok(d))
		return -EINVAL;
	st = d->state;
	if (st->worker_started && pthread_equal(pthread_self(), st->worker))
		return -EDEADLK;
	/* Queued callbacks wait for a grace period, which waits for us. */
	if (held_by_self(d))
		return -EDEADLK;
	pthread_mutex_lock(&st->cb_lock);
	target = st->cb_queued;
	while (st->cb_done < target)
		pthread_cond_wait(&st->cb_done_cond, &st->cb_lock);
	pthread_mutex_unlock(&st->cb_lock);
	return 0;
}

/* ---- setup and teardown ----------------------------------------------- */

/* Lowest id not used by a live domain, so that the first 32 live domains
 * get distinct entries in every thread's lookaside cache. */
static unsigned int alloc_id(void)
{
	for (unsigned int id = 0;; id++) {
		struct gpc_srcu_state *st = domains;

		while (st && st->d->id != id)
			st = st->next;
		if (!st)
			return id;
	}
}

static void state_free(struct gpc_srcu_state *st)
{
	unsigned int n = atomic_load(&st->nchunks);

	for (unsigned int i = 0; i < n; i++)
		chunk_put(atomic_load(&st->chunks[i]));
	pthread_mutex_destroy(&st->gp_lock);
	pthread_mutex_destroy(&st->scan_lock);
	pthread_mutex_destroy(&st->cb_lock);
	pthread_cond_destroy(&st->cb_done_cond);
	free(st);
}

/*
 * Whether @d is a live domain: its magic says so and the list of live
 * domains holds its state, pointing back at @d. The list is the proof: a
 * never-zeroed struct may hold any magic, and a copy of a live domain holds
 * the magic and the state of the original. Caller holds domains_lock.
 */
static bool domain_live(const struct gpc_srcu *d)
{
	if (d->magic != SRCU_MAGIC)
		return false;
	for (struct gpc_srcu_state *st = domains; st; st = st->next)
		if (st == d->state && st->d == d)
			return true;
	return false;
}

static void state_setup(struct gpc_srcu_state *st,
			const struct gpc_srcu_attr *attr)
{
	uint64_t stall_ms;

	pthread_mutex_init(&st->gp_lock, NULL);
	pthread_mutex_init(&st->scan_lock, NULL);
	pthread_mutex_init(&st->cb_lock, NULL);
	pthread_cond_init(&st->cb_done_cond, NULL);
	st->cb_tail = &st->cb_head;
	snprintf(st->name, sizeof(st->name), "%s",
		 attr && attr->name ? attr->name : "srcu");
	stall_ms = attr && attr->stall_ms ? attr->stall_ms :
					    GPC_SRCU_DEFAULT_STALL_MS;
	st->stall_ns = stall_ms * 1000000ull;
}

/*
 * Everything under domains_lock, from the check that @d is not live to its
 * link into the list: the check and the registration it protects are one
 * step, and alloc_id() needs the list stable anyway.
 */
int gpc_srcu_init(struct gpc_srcu *d, const struct gpc_srcu_attr *attr)
{
	struct gpc_srcu_state *st;
	int err;

	if (!d)
		return -EINVAL;
	st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	state_setup(st, attr);
	pthread_mutex_lock(&domains_lock);
	/* Re-initialising would leak the registration and strand readers. */
	if (domain_live(d)) {
		pthread_mutex_unlock(&domains_lock);
		state_free(st);
		return -EBUSY;
	}
	memset(d, 0, sizeof(*d));
	st->d = d;
	atomic_init(&d->gp_ctr, GPC_SRCU_NEST_ONE);
	atomic_init(&d->gp_futex, 0);
	d->reader_fence = gpc_srcu_reader_fence;
	d->serial = atomic_fetch_add(&next_serial, 1);
	d->state = st;
	d->magic = SRCU_MAGIC;
	d->id = alloc_id();
	d->tls_index = d->id < GPC_SRCU_TLS_ENTRIES ? d->id + 1 :
						      GPC_SRCU_TLS_NONE;
	d->key = d->serial << GPC_SRCU_KEY_SHIFT | d->tls_index;
	err = start_worker(d);
	if (!err) {
		st->next = domains;
		domains = st;
	}
	pthread_mutex_unlock(&domains_lock);
	if (err) {
		d->magic = 0;
		d->state = NULL;
		state_free(st);
	}
	return err;
}

int gpci_srcu_get(struct gpc_srcu *d)
{
	int err = -EINVAL;

	if (!d)
		return -EINVAL;
	pthread_mutex_lock(&domains_lock);
	if (domain_live(d)) {
		d->state->users++;
		err = 0;
	}
	pthread_mutex_unlock(&domains_lock);
	return err;
}

unsigned int gpci_srcu_users(struct gpc_srcu *d)
{
	unsigned int n = 0;

	pthread_mutex_lock(&domains_lock);
	if (d && domain_live(d))
		n = d->state->users;
	pthread_mutex_unlock(&domains_lock);
	return n;
}

void gpci_srcu_put(struct gpc_srcu *d)
{
	pthread_mutex_lock(&domains_lock);
	if (domain_live(d) && d->state->users)
		d->state->users--;
	else
		gpci_log(GPC_LOG_ERR, "srcu: put of a domain without users");
	pthread_mutex_unlock(&domains_lock);
}

/* Whether any thread is inside a read section of @d. */
static bool any_reader(struct gpc_srcu *d)
{
	struct gpc_srcu_state *st = d->state;
	bool found;

	pthread_mutex_lock(&st->scan_lock);
	found = any_slot_open(st);
	pthread_mutex_unlock(&st->scan_lock);
	return found;
}

bool gpci_srcu_readers(struct gpc_srcu *d)
{
	return srcu_ok(d) && any_reader(d);
}

/* Whether vms use @d; the caller holds domains_lock. */
static bool domain_used(struct gpc_srcu_state *st)
{
	return st->users != 0;
}

static void unlink_domain(struct gpc_srcu_state *st)
{
	struct gpc_srcu_state **pp = &domains;

	while (*pp != st)
		pp = &(*pp)->next;
	*pp = st->next;
}

/*
 * The users count is checked twice, like the readers: first to refuse
 * before the barrier waits (nothing changes on a refusal), then again
 * under domains_lock, where gpci_srcu_get() also runs, so that a vm
 * created on the domain meanwhile is never left on a dead one.
 */
int gpc_srcu_destroy(struct gpc_srcu *d)
{
	struct gpc_srcu_state *st;
	bool used;
	int err;

	/*
	 * The destroy rule of every caller-allocated object (gpc/vm.h): a
	 * domain that is destroyed already, or zero-filled storage that was
	 * never initialised, has nothing to tear down.
	 */
	if (d && !d->state && (d->magic == SRCU_DEAD || !d->magic))
		return 0;
	if (!srcu_ok(d))
		return -EINVAL;
	st = d->state;
	if (st->worker_started && pthread_equal(pthread_self(), st->worker))
		return -EDEADLK;
	pthread_mutex_lock(&domains_lock);
	used = domain_used(st);
	pthread_mutex_unlock(&domains_lock);
	if (used)
		goto used;
	/* Before the barrier: a reader inside would make it wait forever. */
	if (any_reader(d))
		goto busy;
	err = gpc_srcu_barrier(d);
	if (err)
		return err;
	pthread_mutex_lock(&domains_lock);
	if (domain_used(st)) {
		pthread_mutex_unlock(&domains_lock);
		goto used;
	}
	if (any_reader(d)) {
		pthread_mutex_unlock(&domains_lock);
		goto busy;
	}
	d->magic = SRCU_DEAD;
	unlink_domain(st);
	pthread_mutex_unlock(&domains_lock);
	stop_worker(st);
	d->state = NULL;
	state_free(st);
	return 0;
used:
	gpci_log(GPC_LOG_ERR, "srcu %s: destroy while vms use it; refused",
		 st->name);
	return -EBUSY;
busy:
	gpci_log(GPC_LOG_ERR, "srcu %s: destroy with a reader inside; refused",
		 st->name);
	return -EBUSY;
}

int gpc_srcu_get_stats(struct gpc_srcu *d, struct gpc_srcu_stats *out)
{
	struct gpc_srcu_state *st;
	struct srcu_rec *r;
	unsigned int i, n;
	size_t j;

	if (!srcu_ok(d) || !out)
		return -EINVAL;
	st = d->state;
	memset(out, 0, sizeof(*out));
	out->gp_completed =
		atomic_load_explicit(&st->st_gp, memory_order_relaxed);
	out->gp_shared =
		atomic_load_explicit(&st->st_shared, memory_order_relaxed);
	out->membarriers =
		atomic_load_explicit(&st->st_mb, memory_order_relaxed);
	out->sleeps =
		atomic_load_explicit(&st->st_sleeps, memory_order_relaxed);
	out->reader_wakes =
		atomic_load_explicit(&st->st_wakes, memory_order_relaxed);
	out->stalls =
		atomic_load_explicit(&st->st_stalls, memory_order_relaxed);
	out->callbacks =
		atomic_load_explicit(&st->st_callbacks, memory_order_relaxed);
	for_each_rec(st, r, i, j, n)
		if (rec_owner(r))
			out->slots++;
	return 0;
}

uint64_t gpc_srcu_events(struct gpc_srcu *d)
{
	struct gpc_srcu_state *st;
	struct srcu_rec *r;
	unsigned int i, n;
	size_t j;
	uint64_t sum;

	if (!srcu_ok(d))
		return 0;
	st = d->state;
	pthread_mutex_lock(&st->scan_lock);
	sum = atomic_load_explicit(&st->retired_events, memory_order_relaxed);
	for_each_rec(st, r, i, j, n)
		sum += atomic_load_explicit(&rec_slot(r)->events,
					    memory_order_relaxed);
	pthread_mutex_unlock(&st->scan_lock);
	return sum;
}

/* ---- fork ------------------------------------------------------------- */

/*
 * fork(). Around it we hold the domain list lock and every callback lock,
 * which are only ever held briefly, so the child inherits a consistent list
 * and queue. We do not take gp_lock: a grace period may wait for a reader
 * for a long time (even for the forking thread's own section, or for a
 * thread that is exiting and needs the domain list lock), and fork() must
 * not wait for it.
 *
 * In the child only the forking thread exists: its slots are re-owned under
 * its new thread id, every other thread's slot is released (those threads,
 * and their sections, are gone), and each worker is started again. A grace
 * period that was in progress in the parent had no observable effect yet
 * (gp_seq was odd, no cookie of it had completed), so the child rolls it
 * back to "not started"; the phase may have flipped already, which the
 * two-flip grace period tolerates from any starting phase. Callbacks the
 * parent's worker was running at the fork are not run in the child; they
 * count as done there so gpc_srcu_barrier() does not wait for them.
 */
static void fork_prepare(void)
{
	pthread_mutex_lock(&domains_lock);
	for (struct gpc_srcu_state *st = domains; st; st = st->next)
		pthread_mutex_lock(&st->cb_lock);
}

static void fork_parent(void)
{
	for (struct gpc_srcu_state *st = domains; st; st = st->next)
		pthread_mutex_unlock(&st->cb_lock);
	pthread_mutex_unlock(&domains_lock);
}

/*
 * The other threads' TLS is still mapped in the child (a copy of theirs),
 * so their records may be read and released without scan_lock, whose state
 * the fork may have caught mid-operation: it is initialised afresh after.
 */
static void child_fix_slots(struct gpc_srcu_state *st, int old_tid, int tid)
{
	struct srcu_rec *r;
	unsigned int i, n;
	size_t j;

	for_each_rec(st, r, i, j, n) {
		int owner = rec_owner(r);

		if (owner && owner == old_tid)
			atomic_store(&r->owner, tid);
		else if (owner)
			rec_release(st, r, false);
	}
}

static void child_fix_domain(struct gpc_srcu_state *st, int old_tid, int tid)
{
	uint64_t seq = atomic_load(&st->gp_seq);

	child_fix_slots(st, old_tid, tid);
	pthread_mutex_init(&st->gp_lock, NULL);
	pthread_mutex_init(&st->scan_lock, NULL);
	if (seq & 1)
		atomic_store(&st->gp_seq, seq - 1);
	atomic_store(&st->d->gp_futex, 0);
	atomic_store(&st->worker_sleeping, 0);
	st->cb_done += st->cb_inflight;
	st->cb_inflight = 0;
	pthread_cond_init(&st->cb_done_cond, NULL);
	pthread_mutex_unlock(&st->cb_lock);
	st->worker_started = false;
	if (start_worker(st->d))
		gpci_log(GPC_LOG_ERR,
			 "srcu %s: cannot restart the worker after fork",
			 st->name);
}

static void fork_child(void)
{
	int old_tid = gpc_srcu_tls_tid;
	int tid = (int)gettid();

	gpc_srcu_tls_tid = tid;
	for (struct gpc_srcu_state *st = domains; st; st = st->next)
		child_fix_domain(st, old_tid, tid);
	pthread_mutex_unlock(&domains_lock);
}

__attribute__((constructor)) static void srcu_setup(void)
{
	membarrier_setup();
	/* Without the key no record may point into a thread's TLS: every
	 * thread then reads on registry slots (slower, still correct). */
	exit_key_ok = !pthread_key_create(&exit_key, thread_exit_hook);
	pthread_atfork(fork_prepare, fork_parent, fork_child);
}
