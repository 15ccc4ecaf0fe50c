/* SPDX-License-Identifier: MIT */
/*
 * gpc/srcu.h - instantiable sleepable-RCU domains with signal-safe readers.
 *
 * A domain (struct gpc_srcu) lets writers wait until every reader that might
 * still hold an old object has left its read-side section (a grace period),
 * while readers pay two plain stores to a per-thread slot and never block,
 * never spin and never execute an atomic read-modify-write. Readers may sleep
 * inside a section; a slow reader delays only the grace periods of its own
 * domain.
 *
 * Design (docs/srcu.md has the full argument): every (thread, domain) pair
 * owns a slot, a cache line only that thread writes. The outermost read_lock
 * copies the domain's grace-period counter (a phase bit and a nesting count of
 * one) into the slot; nested locks and unlocks add and subtract one. A grace
 * period flips the phase twice and each time waits until no slot is active in
 * the old phase. The store-load ordering a reader would need (its slot store
 * before its loads of protected data) is provided by the writer instead, with
 * membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED), which executes a full barrier
 * on every running thread of the process. Where membarrier is unavailable
 * (or GPC_SRCU_NO_MEMBARRIER=1 is set in the environment), readers fall back
 * to a full fence of their own.
 *
 * Threads: a thread gets its slot on its first read_lock of a domain, lock
 * free, which also works inside a signal handler. POSIX does not list
 * pthread_setspecific() (used to learn about thread exit) as async-signal-safe,
 * so a strictly conforming program calls gpc_srcu_register_thread() before the
 * first read section that a signal handler of that thread may enter; on glibc
 * the automatic path is safe as well. Thread exit releases the slots; exit
 * inside a read section ends the section and is reported as an error.
 */
#ifndef GPC_SRCU_H
#define GPC_SRCU_H

#include <stdbool.h>
#include <stdint.h>

#include <gpc/compiler.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Nesting count in the low half of a slot word, phase in the bit above it. */
#define GPC_SRCU_NEST_ONE  1UL
#define GPC_SRCU_NEST_MASK ((1UL << (sizeof(unsigned long) * 4)) - 1)
#define GPC_SRCU_PHASE	   (1UL << (sizeof(unsigned long) * 4))

/*
 * Size of the per-thread lookaside table, indexed by domain id: each entry
 * is the thread's slot in one domain. The first GPC_SRCU_TLS_ENTRIES (32)
 * live domains get the inline fast lookup (a domain initialised while
 * fewer than 32 others live gets an entry, the lowest free id, and keeps
 * what it got for its lifetime); every later one works fully, with
 * the same guarantees, but each of its read_lock/unlock calls finds the
 * thread's slot by an out-of-line scan of the domain's registry (several
 * times the inline cost, growing with the number of threads that ever read
 * in the domain; bench_cache suite 2 prints the ratio,
 * domain_slow_vs_fast_section). Many vms can share one domain
 * (gpc_vm_create_on()) to stay within the limit. The table is initial-exec
 * TLS (signal handlers must not reach __tls_get_addr), and 33 entries of
 * 32 bytes keep it within what glibc reserves for a library loaded with
 * dlopen() (64 do not; tests/test_dlopen.c checks).
 */
#define GPC_SRCU_TLS_ENTRIES 32

#define GPC_SRCU_DEFAULT_STALL_MS 10000

/*
 * The words one thread writes for one domain (its "slot"). For the first
 * GPC_SRCU_TLS_ENTRIES live domains they are the thread's own lookaside
 * entry in thread-local storage, so a reader finds them by address
 * arithmetic, with no pointer to load; for later domains they live in the
 * library's registry record of the thread. Grace periods read them through
 * that record. Written only by the owner thread (and, at its exit or in a
 * forked child, by the library on its behalf).
 */
/* The number of user words in a slot (struct gpc_srcu_slot.user). */
#define GPC_SRCU_SLOT_USER_WORDS 2

struct gpc_srcu_slot {
	GPC_ATOMIC(unsigned long) ctr;	  /* phase | nesting, 0 when outside */
	GPC_ATOMIC(unsigned long) events; /* see gpc_srcu_count_event() */
	/*
	 * Per-thread words for the domain's user, on the line the read lock
	 * has just written (reading them costs no cache miss, and no other
	 * thread writes them). The domain never reads them and zeroes them
	 * whenever the slot changes hands, so a thread's first section finds
	 * 0. libgpc keeps its rwlock-scheme section count and the position of
	 * the thread's last memslot hit here (the counterpart of KVM's
	 * per-vCPU last-used slot).
	 */
	GPC_ATOMIC(unsigned int) user[GPC_SRCU_SLOT_USER_WORDS];
	/*
	 * Lookaside entries: the key of the domain whose slot this entry is,
	 * 0 when none (no domain has key 0: serials start at 1). Unused in
	 * registry records.
	 */
	GPC_ATOMIC(uint64_t) key;
};

struct gpc_srcu_state;

/*
 * The word a grace period waits on (struct gpc_srcu.gp_futex): 0 when no
 * grace period waits for readers; else ACTIVE, and PHASE when the phase
 * being drained has GPC_SRCU_PHASE set. A reader that ends the outermost
 * section of that phase sets WOKEN and, if the updater has said it sleeps
 * (SLEEP), wakes it: one system call per such section at most, none for
 * sections the grace period does not wait for (src/srcu.c, docs/srcu.md).
 */
#define GPC_SRCU_GPW_ACTIVE 1
#define GPC_SRCU_GPW_PHASE  2
#define GPC_SRCU_GPW_WOKEN  4
#define GPC_SRCU_GPW_SLEEP  8

/*
 * A domain. Embed it anywhere; initialise with gpc_srcu_init(). The first
 * cache line is what readers load; the grace-period machinery lives behind
 * @state.
 */
struct gpc_srcu {
	GPC_ATOMIC(unsigned long) gp_ctr; /* phase | GPC_SRCU_NEST_ONE */
	GPC_ATOMIC(int) gp_futex; /* GPC_SRCU_GPW_*: a grace period's wait */
	int reader_fence; /* gpc_srcu_reader_fence, on the line readers load */
	unsigned int id;  /* small, unique among live domains */
	unsigned int tls_index; /* id + 1, or GPC_SRCU_TLS_NONE if none */
	uint64_t serial;	/* unique for the process lifetime */
	/*
	 * serial << GPC_SRCU_KEY_SHIFT | tls_index: what this thread's
	 * lookaside entry holds when it is this domain's. One word names both
	 * the entry and the domain, so the lookup is one load and one compare
	 * (a copy of it lets a user skip even the load of the domain).
	 */
	uint64_t key;
	unsigned int magic;
	struct gpc_srcu_state *state;
};

/*
 * Optional attributes for gpc_srcu_init(); a zeroed structure (or NULL) means
 * the defaults.
 */
struct gpc_srcu_attr {
	const char *name;      /* for messages; copied */
	unsigned int stall_ms; /* stall report threshold, 0 = 10 s */
};

/* Counters of one domain, readable at any time with gpc_srcu_get_stats(). */
struct gpc_srcu_stats {
	uint64_t gp_completed; /* grace periods run by this domain */
	uint64_t gp_shared;    /* synchronize calls satisfied by another's */
	uint64_t membarriers;  /* membarrier() system calls issued */
	uint64_t sleeps;       /* futex sleeps while waiting for readers */
	uint64_t stalls;       /* stall reports */
	uint64_t callbacks;    /* callbacks invoked */
	uint64_t slots;	       /* reader slots in use */
	uint64_t reader_wakes; /* futex wakes of a sleeping grace period */
};

/* Callback head for gpc_srcu_call(); embed it in the object to be freed. */
struct gpc_srcu_head {
	struct gpc_srcu_head *next;
	void (*func)(struct gpc_srcu_head *head);
	uint64_t cookie;
};

/* ---- internal, used by the inline read side -------------------------- */

#define GPC_SRCU_KEY_SHIFT 8
#define GPC_SRCU_KEY_INDEX ((1u << GPC_SRCU_KEY_SHIFT) - 1)
gpc_static_assert(GPC_SRCU_TLS_ENTRIES <= GPC_SRCU_KEY_INDEX,
		  "the key's low byte holds the lookaside index");

/*
 * Entry 0 of the lookaside table is a sentinel: its key is always
 * GPC_SRCU_KEY_NONE (serial 0, index 255), which is no domain's key and not
 * 0. Domains without an entry of their own (tls_index GPC_SRCU_TLS_NONE) and
 * callers that must not take an inline path (key 0, e.g. a zero-filled
 * struct gpc_cache) look at it and never match; free entries hold key 0,
 * which only a zero key could match, and key 0 indexes the sentinel.
 */
#define GPC_SRCU_TLS_NONE 0
#define GPC_SRCU_KEY_NONE ((uint64_t)GPC_SRCU_KEY_INDEX)

/*
 * The calling thread's lookaside entries, indexed by the domains' tls_index
 * (1 .. GPC_SRCU_TLS_ENTRIES; 0 is the sentinel above).
 */
extern __thread struct gpc_srcu_slot gpc_srcu_tls[GPC_SRCU_TLS_ENTRIES + 1]
	__attribute__((tls_model("initial-exec")));
/* Nonzero when readers must fence themselves (no membarrier). */
extern int gpc_srcu_reader_fence;

/*
 * Out-of-line helpers of the inline read side (not for direct use). Context
 * of all three: any context, async-signal-safe. slot_slow claims the calling
 * thread's slot lock free (see the header comment); wake_gp (@ctr: the
 * ended section's slot value) is one atomic RMW on the wait word and, if
 * a grace period sleeps for that section's phase, one futex system call;
 * report_misuse formats into a stack buffer and writes it.
 */
struct gpc_srcu_slot *gpc_srcu_slot_slow(struct gpc_srcu *d);
void gpc_srcu_wake_gp(struct gpc_srcu *d, unsigned long ctr);
void gpc_srcu_report_misuse(struct gpc_srcu *d, const char *what);

/*
 * The slot of the calling thread in @d, whose key is @key (@d->key, or a
 * copy of it the caller keeps next to its other hot data).
 *
 * The entry's address depends only on the key, so nothing is loaded but the
 * entry's key. An entry only ever changes from "free, or some destroyed
 * domain's" to "this domain's" (ids are unique among live domains), and
 * keys are never reused, so an entry whose key matches is @d's for as long
 * as @d lives. The installer resets the other words before it writes the
 * key, and a signal handler that installs the entry while we look at it
 * runs to completion first.
 *
 * Context: any context, async-signal-safe.
 */
static gpc_always_inline struct gpc_srcu_slot *
gpc_srcu__slot_by_key(struct gpc_srcu *d, uint64_t key)
{
	struct gpc_srcu_slot *e = &gpc_srcu_tls[key & GPC_SRCU_KEY_INDEX];

	if (gpc_likely(gpc_atomic_load(&e->key, GPC_MO_RELAXED) == key))
		return e;
	return gpc_srcu_slot_slow(d);
}

/*
 * gpc_srcu_slot_of - the calling thread's slot in @d (claimed on first use).
 *
 * Return: the slot, never NULL. @d is not checked on the inline path: a
 * domain that is not initialised aborts in the slow path (logged), as does
 * running out of reader slots.
 * Context: any context, async-signal-safe.
 */
static gpc_always_inline struct gpc_srcu_slot *
gpc_srcu_slot_of(struct gpc_srcu *d)
{
	return gpc_srcu__slot_by_key(d, d->key);
}

static gpc_always_inline void gpc_srcu_read_lock_slot(struct gpc_srcu *d,
						      struct gpc_srcu_slot *s);
static gpc_always_inline void
gpc_srcu__lock(struct gpc_srcu *d, struct gpc_srcu_slot *s, int fence);
static gpc_always_inline void
gpc_srcu__unlock(struct gpc_srcu *d, struct gpc_srcu_slot *s, int fence);

/**
 * gpc_srcu_read_lock - enter a read-side section of @d.
 * @d: an initialised domain. Not checked on the inline fast path: NULL
 *     crashes, and a zero-filled or destroyed domain is undefined.
 *
 * Sections nest, also across a signal handler that interrupts a section of
 * the same thread. Everything read inside the section stays valid until the
 * matching gpc_srcu_read_unlock(): a grace period of @d that starts after the
 * object was unpublished waits for it. The section may sleep.
 *
 * Return: the calling thread's slot in @d, which the caller may hand to
 * gpc_srcu_read_unlock_slot() to save the lookup (the kernel's srcu_read_lock
 * returns an index for the same reason); ignoring it is fine.
 * Context: any context, async-signal-safe; never blocks. The first call of a
 * thread for a domain claims a slot (lock free; see the header comment).
 */
static gpc_always_inline struct gpc_srcu_slot *
gpc_srcu_read_lock(struct gpc_srcu *d)
{
	struct gpc_srcu_slot *s = gpc_srcu_slot_of(d);

	gpc_srcu_read_lock_slot(d, s);
	return s;
}

/**
 * gpc_srcu_count_event - add one to the calling thread's event counter of @d.
 * @s: the thread's slot, as returned by gpc_srcu_slot_of(@d).
 *
 * A statistics counter that costs no shared cache line: it lives in the
 * thread's own slot and gpc_srcu_events() sums the slots. An increment made
 * by a signal handler that interrupts another increment may be lost.
 *
 * Context: any context, async-signal-safe.
 */
static gpc_always_inline void gpc_srcu_count_event(struct gpc_srcu_slot *s)
{
	gpc_atomic_store(&s->events,
			 gpc_atomic_load(&s->events, GPC_MO_RELAXED) + 1,
			 GPC_MO_RELAXED);
}

/**
 * gpc_srcu_read_lock_slot - gpc_srcu_read_lock() for a caller that already
 * looked up its slot with gpc_srcu_slot_of().
 *
 * Context: any context, async-signal-safe; never blocks.
 */
static gpc_always_inline void gpc_srcu_read_lock_slot(struct gpc_srcu *d,
						      struct gpc_srcu_slot *s)
{
	gpc_srcu__lock(d, s, d->reader_fence);
}

/*
 * The read side proper, with d->reader_fence passed in: a caller that keeps
 * the flag from lock to unlock (a cache guard does) saves reloading it.
 */
static gpc_always_inline void gpc_srcu__lock(struct gpc_srcu *d,
					     struct gpc_srcu_slot *s, int fence)
{
	unsigned long v = gpc_atomic_load(&s->ctr, GPC_MO_RELAXED);

	/*
	 * A signal handler may run between this load and the store below; it
	 * leaves the word as it found it, so the plain read-modify-write is
	 * safe against it without an atomic instruction.
	 */
	if (gpc_likely(!(v & GPC_SRCU_NEST_MASK)))
		v = gpc_atomic_load(&d->gp_ctr, GPC_MO_RELAXED);
	else
		v += GPC_SRCU_NEST_ONE;
	/*
	 * Release adds nothing on x86 and little elsewhere; it keeps the
	 * previous section's accesses ordered before this store, so a grace
	 * period that reads this value (rather than the unlock's) still
	 * synchronizes with the previous section (release sequences are not
	 * something every tool models).
	 */
	gpc_atomic_store(&s->ctr, v, GPC_MO_RELEASE);
	/*
	 * The slot store must be visible before our loads of protected data.
	 * Pairs with the membarrier() at the start of a grace period ((A) in
	 * run_gp(), srcu.c), which makes this compiler barrier act as a full
	 * barrier whenever it matters.
	 */
	if (gpc_unlikely(fence))
		gpc_atomic_thread_fence(GPC_MO_SEQ_CST);
	else
		gpc_barrier();
}

/**
 * gpc_srcu_read_unlock_slot - gpc_srcu_read_unlock() with the slot that
 * gpc_srcu_read_lock() (or gpc_srcu_slot_of()) returned for @d on this
 * thread.
 *
 * Context: any context, async-signal-safe; never blocks.
 */
static gpc_always_inline void gpc_srcu_read_unlock_slot(struct gpc_srcu *d,
							struct gpc_srcu_slot *s)
{
	gpc_srcu__unlock(d, s, d->reader_fence);
}

/*
 * The count is loaded here, never carried from the lock: sections (of one
 * domain, or a cache's and another's) may end in any order.
 */
static gpc_always_inline void
gpc_srcu__unlock(struct gpc_srcu *d, struct gpc_srcu_slot *s, int fence)
{
	unsigned long v = gpc_atomic_load(&s->ctr, GPC_MO_RELAXED);

#ifdef GPC_DEBUG
	if (!(v & GPC_SRCU_NEST_MASK)) {
		gpc_srcu_report_misuse(d, "read_unlock without read_lock");
		return;
	}
#endif
	if (gpc_unlikely(fence))
		gpc_atomic_thread_fence(GPC_MO_SEQ_CST);
	/*
	 * Release: our section's accesses happen before a grace period that
	 * sees this store. The grace period ends with an acquire load of it
	 * and no membarrier, so this is the ordering it relies on (free on
	 * x86: every store is a release there).
	 */
	gpc_atomic_store(&s->ctr, v - GPC_SRCU_NEST_ONE, GPC_MO_RELEASE);
	if ((v & GPC_SRCU_NEST_MASK) == GPC_SRCU_NEST_ONE) {
		int w;

		/*
		 * Store above, then load the wait word: a grace period arms
		 * it and then issues membarrier() (or a fence) before it
		 * scans the phase, so either its scans see our store or we
		 * see it armed. Only a section of the phase it drains wakes.
		 */
		if (gpc_unlikely(fence))
			gpc_atomic_thread_fence(GPC_MO_SEQ_CST);
		else
			gpc_barrier();
		w = gpc_atomic_load(&d->gp_futex, GPC_MO_RELAXED);
		if (gpc_unlikely(w & GPC_SRCU_GPW_ACTIVE) &&
		    !(w & GPC_SRCU_GPW_PHASE) == !(v & GPC_SRCU_PHASE))
			gpc_srcu_wake_gp(d, v);
	}
}

/**
 * gpc_srcu_read_unlock - leave the innermost read-side section of @d.
 * @d: the domain passed to the matching gpc_srcu_read_lock() (not checked,
 *     as there).
 *
 * An unlock without a matching lock is undefined (the thread's count
 * underflows and later grace periods of @d may end while a reader is
 * inside). It is reported through the log and ignored only where this
 * inline code is compiled with GPC_DEBUG defined: in the caller's own
 * compile (-DGPC_DEBUG) for this form, and in a library built with
 * cmake -DGPC_DEBUG=ON for gpc_srcu_read_unlock_ool(). (Cache sections
 * have their own check, which the GPC_DEBUG environment variable turns
 * on: gpc/cache.h.)
 *
 * Context: any context, async-signal-safe; never blocks. When a grace period
 * is asleep waiting for this reader, the outermost unlock wakes it with one
 * futex system call.
 */
static gpc_always_inline void gpc_srcu_read_unlock(struct gpc_srcu *d)
{
	gpc_srcu_read_unlock_slot(d, gpc_srcu_slot_of(d));
}

/**
 * gpc_srcu_read_held - whether the calling thread is inside a section of @d.
 * @d: an initialised domain. Not checked (inline): NULL crashes, and a
 *     zero-filled or destroyed domain is undefined.
 *
 * Return: true if the calling thread is inside at least one read section
 * of @d (srcu-scheme cache sections of vms on @d included; rwlock-scheme
 * cache sections are not read sections), else false.
 * Context: any context, async-signal-safe. For assertions.
 */
static inline bool gpc_srcu_read_held(struct gpc_srcu *d)
{
	struct gpc_srcu_slot *s = gpc_srcu_slot_of(d);

	return gpc_atomic_load(&s->ctr, GPC_MO_RELAXED) & GPC_SRCU_NEST_MASK;
}

/* ---- the read side out of line, for FFI callers ----------------------- */

/*
 * Exported forms of the static inline read side above, for callers that
 * cannot compile C inline functions (Rust with bindgen, Go with cgo, ...).
 * They run the same inline code inside the library, for one call's cost;
 * sections they open and close are the same sections as the inline
 * forms', so the two may be mixed (lock with one, unlock with the other).
 * Stable FFI entry points of LIBGPC_0.2 (docs/abi.md).
 */

/**
 * gpc_srcu_read_lock_ool - gpc_srcu_read_lock(), as an exported function.
 * @d: an initialised domain (not checked, as in the inline form).
 *
 * Return: the calling thread's slot in @d (as gpc_srcu_read_lock(); an
 * FFI caller may ignore it).
 * Context: any context, async-signal-safe; never blocks.
 */
struct gpc_srcu_slot *gpc_srcu_read_lock_ool(struct gpc_srcu *d);

/**
 * gpc_srcu_read_unlock_ool - gpc_srcu_read_unlock(), as an exported
 * function.
 * @d: the domain passed to the matching read lock.
 *
 * An unlock without a lock is caught (logged, ignored) only in a library
 * built with cmake -DGPC_DEBUG=ON; see gpc_srcu_read_unlock().
 *
 * Context: any context, async-signal-safe; never blocks (the outermost
 * unlock may wake a sleeping grace period with one futex system call).
 */
void gpc_srcu_read_unlock_ool(struct gpc_srcu *d);

/**
 * gpc_srcu_read_held_ool - gpc_srcu_read_held(), as an exported function.
 * @d: an initialised domain (not checked).
 *
 * Return: true if the calling thread is inside a read section of @d.
 * Context: any context, async-signal-safe. For assertions.
 */
bool gpc_srcu_read_held_ool(struct gpc_srcu *d);

/* ---- setup ------------------------------------------------------------ */

/**
 * gpc_srcu_init - initialise a domain.
 * @d: storage for the domain (natural alignment suffices; 64 bytes keeps
 *     the readers' line to itself).
 * @attr: attributes, or NULL for the defaults.
 *
 * Starts the domain's worker thread, which drives polled grace periods and
 * runs callbacks: one per domain, however many vms use it
 * (gpc_vm_create_on()).
 *
 * @d must not be a live domain: zero-filled storage, or a domain that
 * gpc_srcu_destroy() destroyed. Initialising a live domain again would leak
 * its registration and strand its readers, so it is refused (a live domain
 * is recognised by the library's list of domains, not by its bytes alone).
 *
 * Return: 0; -EINVAL if @d is NULL; -EBUSY if @d is a live domain (nothing
 * is changed); -ENOMEM; -EAGAIN if the worker thread cannot be created.
 * Context: may sleep.
 */
int gpc_srcu_init(struct gpc_srcu *d, const struct gpc_srcu_attr *attr);

/**
 * gpc_srcu_destroy - tear down a domain.
 * @d: the domain.
 *
 * Waits for all queued callbacks to run (gpc_srcu_barrier()), stops the
 * worker and frees everything. A domain that a reader is still inside is
 * left untouched and usable, and reported through the log.
 *
 * Return: 0, also for a domain destroyed already or zero-filled storage
 * never initialised (a no-op: the destroy rule of gpc/vm.h); -EINVAL if @d
 * is NULL or garbage (neither initialised, destroyed nor zero-filled);
 * -EBUSY if a thread (the caller included) is inside a read section of @d,
 * or a vm uses @d (a vm created on it with gpc_vm_create_on(), or @d is a
 * vm's own domain, gpc_vm_srcu(): destroy the vms first); -EDEADLK if
 * called from one of @d's callbacks. On -EBUSY nothing is changed.
 * Context: may sleep.
 */
int gpc_srcu_destroy(struct gpc_srcu *d);

/**
 * gpc_srcu_register_thread - claim the calling thread's slot in @d now.
 *
 * Optional everywhere except as described in the header comment: before the
 * first read section that a signal handler of this thread may enter, for
 * programs that must not rely on glibc's pthread_setspecific() being
 * async-signal-safe.
 *
 * Return: 0; -EINVAL if @d is not an initialised domain; -ENOMEM.
 * Context: may sleep (may map a page of slots).
 */
int gpc_srcu_register_thread(struct gpc_srcu *d);

/* ---- grace periods ---------------------------------------------------- */

/**
 * gpc_srcu_synchronize - wait for a full grace period of @d.
 *
 * Every read section of @d that began before the call has ended when it
 * returns, and the caller's earlier stores are visible to every section that
 * begins after. Concurrent callers share grace periods. The wait spins
 * briefly, then sleeps on a futex until the last old reader leaves.
 *
 * Return: 0; -EINVAL if @d is not an initialised domain; -EDEADLK if the
 * caller is inside a read section of @d (it would wait for itself).
 * Context: may sleep.
 */
int gpc_srcu_synchronize(struct gpc_srcu *d);

/**
 * gpc_srcu_synchronize_expedited - like gpc_srcu_synchronize(), faster.
 *
 * Never sleeps on the futex: it polls the readers, yielding the CPU between
 * polls, which trades CPU time for latency.
 *
 * Return: as gpc_srcu_synchronize().
 * Context: may sleep (it yields the CPU rather than blocking on a futex).
 */
int gpc_srcu_synchronize_expedited(struct gpc_srcu *d);

/**
 * gpc_srcu_get_state - cookie for "a grace period that starts after now".
 *
 * Issues a full fence, so the caller's earlier stores are ordered before the
 * grace period that the cookie names. Does not start a grace period.
 *
 * Return: the cookie (always even; 0 for an invalid @d).
 * Context: any context, async-signal-safe.
 */
uint64_t gpc_srcu_get_state(struct gpc_srcu *d);

/**
 * gpc_srcu_start_poll - like gpc_srcu_get_state(), and make sure the grace
 * period it names will run without anyone calling synchronize.
 *
 * Wakes the domain's worker with one futex system call when needed.
 *
 * Return: the cookie (0 for an invalid @d).
 * Context: any context, async-signal-safe; never blocks.
 */
uint64_t gpc_srcu_start_poll(struct gpc_srcu *d);

/**
 * gpc_srcu_poll_state - has the grace period named by @cookie completed?
 *
 * When it returns 1 it has also issued a full fence, so the caller's later
 * accesses are ordered after every read section that the cookie covers.
 *
 * Return: 1 if completed, 0 if not yet; -EINVAL if @d is not an initialised
 * domain or @cookie was never issued by it (odd, or beyond any cookie it
 * could have issued).
 * Context: any context, async-signal-safe; never blocks.
 */
int gpc_srcu_poll_state(struct gpc_srcu *d, uint64_t cookie);

/**
 * gpc_srcu_try_synchronize - is every read section of @d that began before
 * this call over already? A grace period attempt that never waits.
 *
 * Issues a full fence and one barrier on every thread of the process (the
 * membarrier of a grace period; a fence only where readers fence
 * themselves), then looks at every reader's slot once: if no thread is
 * inside a section of @d, of either phase, the answer is yes. Readers
 * that enter later are no concern, as for gpc_srcu_synchronize(): the
 * barrier orders the caller's earlier stores (unpublishing an object)
 * before their loads. It does not start, end or count a grace period, so
 * cookies of gpc_srcu_get_state() are not advanced by it.
 *
 * Use it where a full grace period cannot be waited for but a quiet moment
 * is likely (a non-blocking invalidation uses it before falling back to
 * gpc_srcu_start_poll()). A caller inside a section of @d always gets 0.
 *
 * When it returns 1 it has also issued a full fence, so the caller's later
 * accesses are ordered after every section it found ended.
 *
 * Return: 1 if every section that began before the call has ended; 0 if a
 * thread is inside a section, or the domain's slot list is in use (a grace
 * period scanning it, a thread registering or exiting: try again later);
 * -EINVAL if @d is not an initialised domain.
 * Context: any context, async-signal-safe; never blocks (one system call;
 * a try-lock, never a wait, for the slot list).
 */
int gpc_srcu_try_synchronize(struct gpc_srcu *d);

/**
 * gpc_srcu_call - run @func(@head) on the worker after a grace period.
 *
 * Callbacks run in the order they were queued, on the domain's worker thread,
 * outside any lock of the library; they may queue further callbacks but must
 * not call gpc_srcu_barrier() or gpc_srcu_destroy() on their domain.
 *
 * Return: 0; -EINVAL if @d, @head or @func is NULL or @d is not initialised.
 * Context: may sleep briefly (takes the domain's callback mutex); not
 * async-signal-safe.
 */
int gpc_srcu_call(struct gpc_srcu *d, struct gpc_srcu_head *head,
		  void (*func)(struct gpc_srcu_head *head));

/**
 * gpc_srcu_barrier - wait until every callback queued before the call ran.
 *
 * Return: 0; -EINVAL for an invalid @d; -EDEADLK if called from a callback
 * of @d or inside a read section of @d.
 * Context: may sleep.
 */
int gpc_srcu_barrier(struct gpc_srcu *d);

/**
 * gpc_srcu_get_stats - copy @d's counters into @st.
 *
 * Return: 0; -EINVAL if either pointer is NULL or @d is not initialised.
 * Context: any context (relaxed loads; the values are not a snapshot).
 */
int gpc_srcu_get_stats(struct gpc_srcu *d, struct gpc_srcu_stats *st);

/**
 * gpc_srcu_membarrier_available - whether readers run fence-free.
 *
 * Return: true if grace periods use membarrier(PRIVATE_EXPEDITED); false if
 * readers issue their own fences (old kernel, seccomp, or the environment
 * variable GPC_SRCU_NO_MEMBARRIER=1 at program start).
 * Context: any context.
 */
bool gpc_srcu_membarrier_available(void);

/**
 * gpc_srcu_events - sum of every thread's gpc_srcu_count_event() counts,
 * including threads that have exited.
 *
 * Return: the sum; 0 for a NULL, not initialised or destroyed @d.
 * Context: may block briefly (takes the domain's scan lock, which keeps
 * exiting threads' slots alive while it reads them); relaxed loads, not a
 * snapshot. Not async-signal-safe.
 */
uint64_t gpc_srcu_events(struct gpc_srcu *d);

#ifdef __cplusplus
}
#endif

#endif /* GPC_SRCU_H */
