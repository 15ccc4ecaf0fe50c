/* SPDX-License-Identifier: MIT */
/*
 * gpc/cache.h - a cached translation GPA (or HVA) -> host page -> pointer.
 *
 * Life cycle: gpc_cache_init() -> gpc_cache_activate_gpa()/_hva() ->
 * (fast path: gpc_cache_begin()/gpc_cache_end(); on a miss,
 * gpc_cache_refresh() and try again) -> gpc_cache_deactivate() ->
 * gpc_cache_destroy().
 *
 *	struct gpc_guard g;
 *	uint64_t *p = gpc_cache_begin(c, off, sizeof(*p), &g);
 *	if (!p)
 *		return defer_or_refresh(c);    // miss: nothing held
 *	*p = value;
 *	gpc_cache_end(c, &g);
 *
 * Invariants (docs/design.md maps each to the code and the test):
 *  - valid implies active: an inactive cache fails check and refresh;
 *  - a check succeeds only if the cache is valid, its generation equals the
 *    memslot table's (GPA mode), and the range asked for fits;
 *  - valid is cleared before any lock is dropped in refresh, by every
 *    overlapping invalidation, and by deactivate;
 *  - a page is published valid only if no overlapping invalidation ran or
 *    was in progress since it was translated.
 *
 * Usage:
 *  - host usage: every access between gpc_cache_begin() and gpc_cache_end();
 *  - guest usage: one vCPU uses the pointer from gpc_cache_guest_ptr() while
 *    it is in guest mode (gpc/vcpu.h); invalidation evicts the vCPU. An
 *    invalidation waits for that vCPU, not for readers, so a guest-usage
 *    cache must not be accessed any other way (begin/end, read/write/copy
 *    refuse it or are unsafe on it).
 *
 * Fast path by scheme:
 *  - srcu: begin enters the vm's SRCU read section and takes a seqcount
 *    snapshot with a bounded number of attempts; it never blocks and never
 *    waits for a writer (a writer in progress is a miss). Any context.
 *  - rwlock: begin takes the cache's reader lock (may block behind a writer);
 *    gpc_cache_try_begin() only tries it and misses instead.
 *
 * Storage and misuse (what a wrong call does, so that it is not a crash):
 *  - a zero-filled struct gpc_cache (static, calloc, memset) that was never
 *    initialised - and a destroyed one, which gpc_cache_destroy() leaves
 *    zero-filled - misses on every call: begin/try_begin/guest_ptr return
 *    NULL, check and is_active false, the other calls -EINVAL, and
 *    gpc_cache_destroy() of it is a no-op returning 0 (QEMU's
 *    address_space_cache_init_empty() in spirit). gpc_cache_init() needs
 *    such storage: on an initialised cache it returns -EBUSY.
 *  - sections of different caches of one or several vms may nest and end
 *    in any order, on both schemes. On the rwlock scheme this holds because
 *    the library's writers hold at most one cache's write lock at a time
 *    and never wait while holding it, and a reader is let in while a lock
 *    is read-held even if a writer waits (glibc's and musl's default);
 *    tests/unit/test_misuse.c (sections_nest_any_order) checks it.
 *  - gpc_cache_end() with nothing to end (after a miss, or on the rwlock
 *    scheme a second end) is reported through the log (gpc/log.h) and
 *    ignored. A second end after a hit on the srcu scheme's inline path
 *    is not detected (it would cost the fast path) unless the cache is
 *    checked: in a library built with GPC_DEBUG (cmake -DGPC_DEBUG=ON),
 *    or when GPC_DEBUG is set to anything but "" or "0" in the environment
 *    at gpc_cache_init(), every begin and end of the cache goes out of
 *    line and is matched per thread (srcu: 202 instructions per access
 *    instead of 47, bench_cache --profile srcu under callgrind). A
 *    caller compiled with -DGPC_DEBUG also gets srcu.h's inline check.
 *  - a thread that exits inside a section: on the srcu scheme the domain
 *    ends the section, on the rwlock scheme the library releases the read
 *    lock at the thread's exit (both logged), so later invalidations do not
 *    block for good. Sections beyond 8 nested rwlock-scheme (or checked)
 *    sections per thread are not tracked for this and for the end check.
 *  - -EDEADLK always means "this would wait for the calling thread
 *    itself": inside a cache section or SRCU read section of the vm
 *    (nothing changed); called back from the same cache's refresh (a host
 *    memory callback or test hook; nothing changed); or it would wait for
 *    a vCPU that the calling thread put in guest mode and that is still
 *    there after its kick (each function says what is left changed).
 */
#ifndef GPC_CACHE_H
#define GPC_CACHE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <gpc/compiler.h>
#include <gpc/seqcount.h>
#include <gpc/srcu.h>
#include <gpc/vm.h>

#ifdef __cplusplus
extern "C" {
#endif

struct gpc_vcpu;
struct gpc_cache_priv;

enum gpc_usage {
	GPC_USAGE_HOST = 0,  /* accesses inside begin/end */
	GPC_USAGE_GUEST = 1, /* accesses by one vCPU in guest mode */
};

/* Cache flags (gpc_cache_init). */
#define GPC_CACHE_READONLY   (1u << 0) /* never written through: map read-only */
/*
 * Count hits: per cache (a shared store on every hit) and per thread for the
 * vm's stats. Off by default, which keeps the srcu fast path free of it;
 * hits of caches without it are not counted anywhere.
 */
#define GPC_CACHE_COUNT_HITS (1u << 1)
#define GPC_CACHE_FLAGS_ALL  (GPC_CACHE_READONLY | GPC_CACHE_COUNT_HITS)

/*
 * Read-side state from gpc_cache_begin() to gpc_cache_end(); opaque. It
 * carries what end needs (the thread's slot, the domain, its fence mode) so
 * that end loads nothing from the cache: begin and end inline, it lives in
 * registers.
 */
struct gpc_guard {
	/* NULL: end goes out of line (rwlock, checked cache, after a miss) */
	struct gpc_srcu_slot *slot;
	struct gpc_srcu *srcu;
	int fence;
};

/* The counters of one cache since gpc_cache_init(). */
struct gpc_cache_stats {
	/* begins that hit (only with GPC_CACHE_COUNT_HITS, else 0) */
	uint64_t hits;
	/* begins and try_begins that missed (nothing held), including
	 * those of read/write/copy; check and guest_ptr are not counted */
	uint64_t misses;
	/* refreshes that published a translation (activate's included) */
	uint64_t refreshes;
	/* refresh rounds repeated because an overlapping invalidation ran */
	uint64_t refresh_retries;
	/* sleeps of a refresh while an overlapping invalidation was in
	 * progress (or a non-blocking one's pending mark) */
	uint64_t refresh_waits;
	/* invalidations that found the cache valid and cleared it */
	uint64_t invalidations;
	/* host memory mappings made (stage map calls) and released */
	uint64_t maps, unmaps;
};

/*
 * The cache. Embed it where it is used (its fast-path fields must be
 * reachable by inline code); treat every field as private.
 */
struct gpc_cache {
	/* Read by the fast path; set at init. */
	struct gpc_srcu *srcu;
	/*
	 * srcu->key when begin may take the inline path, else 0, the key of
	 * the sentinel entry, which never matches (rwlock scheme, hit
	 * counting, readers that must fence themselves, checked caches - and
	 * a zero-filled, never initialised cache). One load and one compare
	 * both find the thread's slot and rule out every slow case: a
	 * thread's first section in the vm misses the entry and takes the
	 * out-of-line path too.
	 */
	uint64_t fast_key;
	int scheme;
	unsigned int flags;
	/* Read by the fast path; written only under the write side. */
	struct gpc_seqcount seq;
	/*
	 * The accessor pointer to the cache's byte 0; NULL when the cache is
	 * not valid ("valid" in the docs is khva != NULL: one load, not two).
	 */
	GPC_ATOMIC(uint8_t *) khva;
	GPC_ATOMIC(uint64_t) len;
	GPC_ATOMIC(uint64_t) gen;
	/*
	 * What gen must equal: the vm's memslot generation in GPA mode, or a
	 * constant 0 in HVA mode (which ignores memslot changes), so the check
	 * has no mode branch.
	 */
	GPC_ATOMIC(const GPC_ATOMIC(uint64_t) *) genp;
	unsigned int magic;
	/* rwlock scheme: readers hold it across check and use. */
	pthread_rwlock_t rw;
	/* Written on misses (slow path) and, if asked for, on hits. */
	GPC_ATOMIC(uint64_t) hits;
	GPC_ATOMIC(uint64_t) misses;
	struct gpc_vm *vm;
	struct gpc_cache_priv *priv;
	/*
	 * Users embed struct gpc_cache, so its size is ABI: room for a later
	 * minor release to add fields without a new SONAME (docs/abi.md).
	 * Zero at init; never read by 0.1.
	 */
	uint64_t reserved[4];
};

/*
 * The layout the inline fast path and embedding users compiled against:
 * a change here is an ABI break (new SONAME) unless it only uses reserved
 * space. Checked where the layout is known (x86-64 and AArch64 glibc).
 */
#if defined(__GLIBC__) && (defined(__x86_64__) || defined(__aarch64__))
gpc_static_assert(sizeof(struct gpc_cache) == 192,
		  "struct gpc_cache size is ABI");
gpc_static_assert(offsetof(struct gpc_cache, fast_key) == 8 &&
			  offsetof(struct gpc_cache, seq) == 24 &&
			  offsetof(struct gpc_cache, khva) == 32,
		  "struct gpc_cache fast-path offsets are ABI");
#endif

/* ---- internal helpers of the inline fast path ------------------------ */

/*
 * gpc_cache_hva_gen (exported since 0.1) is the generation HVA-mode caches
 * compare against, always 0; the inline code reaches it only through
 * c->genp, so it is not declared here: an extern _Atomic variable makes
 * bindgen up to 0.70 panic ("Couldn't resolve constant type"), even when
 * blocklisted (rust-bindgen issue 2920). src/cache.c defines it.
 */

/*
 * Read (pointer, generation, length) after a seqcount read of @seq and check
 * them. Returns false if a writer ran meanwhile (discard, maybe retry);
 * otherwise true, with *@p the pointer for [off, off + len) or NULL
 * (invalid, stale generation, out of range).
 */
static gpc_always_inline bool gpc_cache__read(struct gpc_cache *c,
					      unsigned int seq, uint64_t off,
					      uint64_t len, uint8_t **p)
{
	uint8_t *k = gpc_atomic_load(&c->khva, GPC_MO_RELAXED);
	uint64_t gen = gpc_atomic_load(&c->gen, GPC_MO_RELAXED);
	const GPC_ATOMIC(uint64_t) *genp =
		gpc_atomic_load(&c->genp, GPC_MO_RELAXED);
	uint64_t clen = gpc_atomic_load(&c->len, GPC_MO_RELAXED);

	if (gpc_seqcount_read_retry(&c->seq, seq))
		return false;
	if (gpc_likely(k && gen == gpc_atomic_load(genp, GPC_MO_RELAXED) &&
		       off <= clen && len <= clen - off))
		*p = k + off;
	else
		*p = NULL;
	return true;
}

/*
 * One attempt: NULL also when a writer is inside or ran meanwhile; the fast
 * path leaves the retries to its out-of-line miss path, so that the inline
 * code is a straight line.
 */
static gpc_always_inline uint8_t *
gpc_cache__snapshot_once(struct gpc_cache *c, uint64_t off, uint64_t len)
{
	unsigned int seq;
	uint8_t *p;

	if (!gpc_seqcount_read_try(&c->seq, &seq) ||
	    !gpc_cache__read(c, seq, off, len, &p))
		return NULL;
	return p;
}

/*
 * As gpc_cache__snapshot_once() with GPC_SEQCOUNT_TRIES attempts: a writer
 * that finished between our two reads of the count costs a retry, not a
 * miss. Never waits for a writer that is inside.
 */
static gpc_always_inline uint8_t *
gpc_cache__snapshot(struct gpc_cache *c, uint64_t off, uint64_t len)
{
	int tries = GPC_SEQCOUNT_TRIES;
	unsigned int seq;
	uint8_t *p;

	while (gpc_seqcount_read_bounded_begin(&c->seq, &seq, &tries))
		if (gpc_cache__read(c, seq, off, len, &p))
			return p;
	return NULL;
}

/*
 * Out of line, to keep the inlined fast path small. None takes the guard's
 * address, which would keep it in memory: begin_slow returns its words.
 */
struct gpc_cache__begun {
	void *p;
	struct gpc_srcu_slot *slot;
	int fence;
};

void *gpc_cache__miss(struct gpc_cache *c, struct gpc_srcu_slot *s,
		      uint64_t off, uint64_t len);
struct gpc_cache__begun gpc_cache__miss_begun(struct gpc_cache *c,
					      struct gpc_srcu_slot *s,
					      uint64_t off, uint64_t len);
struct gpc_cache__begun gpc_cache__begin_slow(struct gpc_cache *c, uint64_t off,
					      uint64_t len, bool try_only);
void gpc_cache__rw_end(struct gpc_cache *c);

static gpc_always_inline void *gpc_cache__slow(struct gpc_cache *c,
					       uint64_t off, uint64_t len,
					       struct gpc_guard *g,
					       bool try_only)
{
	struct gpc_cache__begun b =
		gpc_cache__begin_slow(c, off, len, try_only);

	g->slot = b.slot;
	g->srcu = c->srcu;
	g->fence = b.fence;
	return b.p;
}

/*
 * begin: on the srcu scheme, the inline path (the thread's slot from its
 * lookaside entry, no fence of its own); everything else out of line.
 */
static gpc_always_inline void *gpc_cache__begin(struct gpc_cache *c,
						uint64_t off, uint64_t len,
						struct gpc_guard *g,
						bool try_only)
{
	uint64_t key = c->fast_key;
	struct gpc_srcu_slot *s = &gpc_srcu_tls[key & GPC_SRCU_KEY_INDEX];
	uint8_t *p;

	/* See gpc_srcu__slot_by_key(): the entry is the thread's slot. */
	if (gpc_unlikely(gpc_atomic_load(&s->key, GPC_MO_RELAXED) != key))
		return gpc_cache__slow(c, off, len, g, try_only);
	g->slot = s;
	g->srcu = c->srcu;
	g->fence = 0;
	gpc_srcu__lock(g->srcu, s, 0);
	p = gpc_cache__snapshot_once(c, off, len);
	if (gpc_unlikely(!p)) {
		/* On a miss the slot is NULL: an end after it is caught. */
		struct gpc_cache__begun b =
			gpc_cache__miss_begun(c, s, off, len);

		g->slot = b.slot;
		return b.p;
	}
	return p;
}

/* ---- fast path -------------------------------------------------------- */

/**
 * gpc_cache_begin - start an access to [@off, @off + @len) of a host-usage
 * cache.
 * @g: caller storage that carries the read-side state to gpc_cache_end()
 *     (like the index of the kernel's srcu_read_lock, or the flags of
 *     read_lock_irqsave); keeping it saves a lookup on the fast path.
 *
 * Return: a pointer to byte @off of the cached area, usable until
 * gpc_cache_end(); or NULL on a miss (the cache is invalid, stale or too
 * short, a writer is in progress, or the cache is zero-filled: never
 * initialised or destroyed), in which case nothing is held and
 * gpc_cache_end() must not be called (if it is, it is reported and
 * ignored). On a miss, call gpc_cache_refresh() from a context that may
 * sleep, or defer the work.
 * Context: srcu scheme: any context, async-signal-safe, never blocks.
 * rwlock scheme: may block behind a writer (use gpc_cache_try_begin()).
 */
static gpc_always_inline void *gpc_cache_begin(struct gpc_cache *c,
					       uint64_t off, uint64_t len,
					       struct gpc_guard *g)
{
	return gpc_cache__begin(c, off, len, g, false);
}

/**
 * gpc_cache_try_begin - gpc_cache_begin() that never blocks on either scheme.
 *
 * Return: as gpc_cache_begin(); on the rwlock scheme a writer holding the
 * lock is also a miss.
 * Context: any context, async-signal-safe, never blocks.
 */
static gpc_always_inline void *gpc_cache_try_begin(struct gpc_cache *c,
						   uint64_t off, uint64_t len,
						   struct gpc_guard *g)
{
	return gpc_cache__begin(c, off, len, g, true);
}

/**
 * gpc_cache_end - finish an access that gpc_cache_begin() granted.
 * @g: the guard that gpc_cache_begin() filled in.
 *
 * Sections of different caches may end in any order. An end after a miss,
 * and on the rwlock scheme or a checked cache any end without a section of
 * @c on this thread, is logged and does nothing (see the header comment).
 * Context: any context, async-signal-safe (the log report of a misuse
 * calls the log handler).
 */
static gpc_always_inline void gpc_cache_end(struct gpc_cache *c,
					    struct gpc_guard *g)
{
	if (gpc_unlikely(!g->slot)) {
		gpc_cache__rw_end(c);
		return;
	}
	/*
	 * The unlock loads the slot's count rather than the guard carrying it
	 * from begin: sections of different caches may end in any order
	 * (measured: 0.1-0.2 ns more than a copy, which would demand LIFO).
	 */
	gpc_srcu__unlock(g->srcu, g->slot, g->fence);
}

/**
 * gpc_cache_guest_ptr - the pointer a guest-usage cache's vCPU uses.
 *
 * Valid while the vCPU stays in guest mode after gpc_vcpu_enter_guest()
 * succeeded (which checked the cache); call it from the vCPU's thread.
 * Return: the pointer to byte @off, or NULL if the cache is not valid
 * (zero-filled included) or [@off, @off + @len) does not fit.
 * Context: any context.
 */
static gpc_always_inline void *gpc_cache_guest_ptr(struct gpc_cache *c,
						   uint64_t off, uint64_t len)
{
	return gpc_cache__snapshot(c, off, len);
}

/* ---- the fast path out of line, for FFI callers ---------------------- */

/*
 * The functions above are static inline: a C or C++ caller compiles them
 * into its own code, which is what makes the fast path cheap, but a caller
 * through a foreign-function interface (Rust with bindgen, Go with cgo,
 * Python ctypes, ...) sees no symbol for them. These exported forms run the
 * very same inline code inside the library, for the cost of one call each
 * (bench_cache suite 1, "ool_vs_inline"). They are the stable FFI entry
 * points (docs/abi.md): their names and signatures follow the ABI rules of
 * LIBGPC_0.2. A struct gpc_guard filled in by one form may be ended by
 * either form of end.
 */

/**
 * gpc_cache_begin_ool - gpc_cache_begin(), as an exported function.
 * @c: an initialised host-usage cache (not checked, as in the inline form).
 * @off: offset of the access in the cached area.
 * @len: length of the access.
 * @g: caller storage for the read-side state, passed to gpc_cache_end_ool()
 *     (or gpc_cache_end()).
 *
 * Return: as gpc_cache_begin(): a pointer to byte @off, usable until the
 * matching end; or NULL on a miss (invalid, stale or too short, or a
 * writer in progress), with nothing held: do not call end then.
 * Context: as gpc_cache_begin(): srcu scheme any context, async-signal-safe,
 * never blocks; rwlock scheme may block behind a writer.
 */
void *gpc_cache_begin_ool(struct gpc_cache *c, uint64_t off, uint64_t len,
			  struct gpc_guard *g);

/**
 * gpc_cache_try_begin_ool - gpc_cache_try_begin(), as an exported function.
 * @c: an initialised host-usage cache (not checked).
 * @off: offset of the access in the cached area.
 * @len: length of the access.
 * @g: caller storage for the read-side state.
 *
 * Return: as gpc_cache_begin_ool(); on the rwlock scheme a writer holding
 * the lock is also a miss.
 * Context: any context, async-signal-safe, never blocks.
 */
void *gpc_cache_try_begin_ool(struct gpc_cache *c, uint64_t off, uint64_t len,
			      struct gpc_guard *g);

/**
 * gpc_cache_end_ool - gpc_cache_end(), as an exported function.
 * @c: the cache passed to the begin that granted the access.
 * @g: the guard that begin filled in.
 *
 * Only after a begin that returned non-NULL, once.
 * Context: any context, async-signal-safe.
 */
void gpc_cache_end_ool(struct gpc_cache *c, struct gpc_guard *g);

/**
 * gpc_cache_guest_ptr_ool - gpc_cache_guest_ptr(), as an exported function.
 * @c: an initialised guest-usage cache (not checked).
 * @off: offset in the cached area.
 * @len: length of the access.
 *
 * Return: as gpc_cache_guest_ptr(): the pointer to byte @off, or NULL if
 * the cache is not valid or [@off, @off + @len) does not fit.
 * Context: any context; from the cache's vCPU thread in guest mode.
 */
void *gpc_cache_guest_ptr_ool(struct gpc_cache *c, uint64_t off, uint64_t len);

/* ---- slow path -------------------------------------------------------- */

/**
 * gpc_cache_init - set up an inactive cache of @vm.
 * @usage: GPC_USAGE_HOST or GPC_USAGE_GUEST.
 * @vcpu: for guest usage, the vCPU that uses it (of the same vm); else NULL.
 * @flags: GPC_CACHE_* flags.
 *
 * @c must be zero-filled or destroyed (gpc_cache_destroy() leaves it so);
 * its old contents are not looked at beyond that. With GPC_DEBUG set in
 * the environment (or a GPC_DEBUG build of the library) the cache is
 * checked: see the header comment.
 *
 * Return: 0;
 * -EINVAL if an argument is wrong: @c or @vm NULL, @usage unknown, @flags
 * with bits outside GPC_CACHE_FLAGS_ALL, guest usage without @vcpu, host
 * usage with one, or @vcpu destroyed or of another vm (each a property of
 * the arguments, which the caller can test itself);
 * -EBUSY if @c is initialised (and not destroyed): a second init would
 * leak the first one's registration, so nothing is changed;
 * -ENOMEM if the cache's state cannot be allocated.
 * Context: may sleep.
 */
int gpc_cache_init(struct gpc_cache *c, struct gpc_vm *vm, enum gpc_usage usage,
		   struct gpc_vcpu *vcpu, unsigned int flags);

/**
 * gpc_cache_destroy - deactivate (if needed) and free the cache's state.
 *
 * Leaves @c zero-filled, as if never initialised.
 * Return: 0, also for a zero-filled cache (never initialised, or destroyed
 * already: a no-op); -EINVAL if @c is NULL or neither initialised nor
 * zero-filled (garbage); -EDEADLK (nothing is changed) inside a cache
 * section or SRCU read section of the vm, or when called back from the
 * cache's own refresh; and for a guest-usage cache whose vCPU the calling
 * thread has in guest mode and its kick did not get out (the vCPU is left
 * kicked, with a request posted: leave guest mode first).
 * Context: may sleep.
 */
int gpc_cache_destroy(struct gpc_cache *c);

/**
 * gpc_cache_activate_gpa - cache [@gpa, @gpa + @len) and translate it.
 *
 * The range may span several pages if they lie in one memslot and the host
 * memory stage can map them as one (gpc/hostmem.h: the direct stage takes
 * any mapped range, the alias stage pages consecutive in one file). The
 * cache becomes reachable by invalidations first, then active, then it is
 * refreshed.
 *
 * Return: 0 (active and valid);
 * -EINVAL, nothing changed, for bad arguments: @c NULL, not initialised or
 * destroyed, @len 0, or [@gpa, @gpa + @len) wrapping around;
 * -EFAULT if no memslot contains @gpa, the range is not backed, or the
 * cache is writable (no GPC_CACHE_READONLY) and the memslot is read-only
 * (GPC_MEMSLOT_READONLY); gpc_memslot_lookup() tells these apart;
 * -EINVAL if the range runs past the end of its memslot (a cache never
 * spans memslots; the slot from gpc_memslot_lookup() shows it) or, on the
 * alias stage, its pages are not consecutive in one file (the direct stage
 * needs only that they are mapped: gpc/hostmem.h) - after these three the cache stays active and invalid, and a
 * later refresh may succeed once the memory is there;
 * -ENOMEM; -EDEADLK (nothing is changed) inside a cache section or SRCU
 * read section of the vm, or called back from the cache's own refresh;
 * -EDEADLK also when re-activating a guest-usage cache at another host
 * range must wait for its vCPU and the calling thread has that vCPU in
 * guest mode (the cache is left active and invalid).
 * Context: may sleep.
 */
int gpc_cache_activate_gpa(struct gpc_cache *c, uint64_t gpa, uint64_t len);

/**
 * gpc_cache_activate_hva - like gpc_cache_activate_gpa() for a host virtual
 * range; the cache then ignores memslot changes.
 *
 * Return: as gpc_cache_activate_gpa().
 * Context: may sleep.
 */
int gpc_cache_activate_hva(struct gpc_cache *c, uint64_t hva, uint64_t len);

/**
 * gpc_cache_deactivate - make the cache inactive and invalid.
 *
 * It leaves the invalidation index, and its mapping is released once no
 * reader can hold it. A no-op for an inactive cache.
 * Return: 0; -EINVAL for NULL or a cache not initialised (or destroyed);
 * -EDEADLK (nothing is changed) inside a cache section or SRCU read
 * section of the vm, or called back from the cache's own refresh; and for
 * an active guest-usage cache whose vCPU the calling thread has in guest
 * mode and its kick did not get out (it stays active; the vCPU is left
 * kicked, with a request posted).
 * Context: may sleep.
 */
int gpc_cache_deactivate(struct gpc_cache *c);

/**
 * gpc_cache_check - whether an access to [@off, @off + @len) may go ahead.
 *
 * Only meaningful inside gpc_cache_begin()/end(), or on a guest-usage cache
 * from its vCPU in guest mode.
 * Return: true if valid, fresh and [@off, @off + @len) fits; false
 * otherwise, and for NULL or a zero-filled cache.
 * Context: any context.
 */
bool gpc_cache_check(struct gpc_cache *c, uint64_t off, uint64_t len);

/**
 * gpc_cache_refresh - re-translate an active cache, keeping its address.
 * @len: the length to cache (0 keeps the current length).
 *
 * Serialized with activate, deactivate and other refreshes of the cache.
 * Retries while an overlapping invalidation completes in the meantime and
 * sleeps while one is in progress; unrelated invalidations do not disturb it.
 * A cache that is valid for its current address and generation is left
 * alone (as KVM does), so that threads that missed together do not
 * invalidate each other's fresh translation.
 * Return: 0 (valid); -EINVAL, with no change of state, if @c is NULL or
 * not initialised, if the cache is not active (never activated,
 * deactivated; gpc_cache_is_active() tells), if a new @len wraps around or
 * would run past the memslot, or if the cached range now runs past the
 * end of its memslot (the slot shrank or moved); -EFAULT if the address is
 * not (or no longer) in a memslot or backed, or the cache is writable and
 * the memslot read-only (the cache stays active and invalid); -ENOMEM;
 * -EDEADLK (nothing is changed) if the caller is inside a cache section
 * (gpc_cache_begin/end, either scheme) or an SRCU read section of the vm,
 * or is called back from this cache's own refresh: it would wait for
 * itself; -EDEADLK also (the cache is left invalid) when the refresh of a
 * guest-usage cache must wait for its vCPU (the cache moves to another
 * host range) and the calling thread has that vCPU in guest mode.
 * Context: may sleep.
 */
int gpc_cache_refresh(struct gpc_cache *c, uint64_t len);

/**
 * gpc_cache_read - copy @len bytes at @off out of the cached area.
 *
 * Loops begin -> (miss: refresh) -> copy -> end. A zero @len is -EINVAL,
 * as for gpc_cache_write() and gpc_cache_copy() (and activate).
 * Return: 0;
 * -EINVAL for bad arguments: @c or @buf NULL, @c not initialised, @len 0,
 * @off + @len wrapping around, a guest-usage cache (its accesses belong to
 * its vCPU), or @off + @len beyond the cached length - all properties the
 * caller knows from its own calls;
 * -EINVAL also for an inactive cache (gpc_cache_is_active() tells);
 * -EDEADLK inside a cache section or SRCU read section of the vm (checked
 * on every call, not only when a refresh is needed), or when called back
 * from this cache's own refresh;
 * -EFAULT if it cannot be made valid (not backed, no memslot, writable
 * cache on a read-only memslot); -ENOMEM;
 * -EAGAIN if it missed again after each of 1000 refreshes (invalidations of
 * its range keep coming): nothing was copied.
 * Context: may sleep.
 */
int gpc_cache_read(struct gpc_cache *c, uint64_t off, void *buf, size_t len);

/**
 * gpc_cache_write - copy @len bytes into the cached area at @off.
 *
 * Return: as gpc_cache_read(); -EPERM for a read-only cache
 * (GPC_CACHE_READONLY), checked after the NULL/initialised checks.
 * Context: may sleep.
 */
int gpc_cache_write(struct gpc_cache *c, uint64_t off, const void *buf,
		    size_t len);

/**
 * gpc_cache_copy - copy @len bytes from @src at @src_off to @dst at @dst_off.
 *
 * Both caches must belong to the same vm. Nothing is written unless the
 * whole source range could be read.
 * Return: as gpc_cache_read() for @src and gpc_cache_write() for @dst;
 * also -EINVAL if they belong to different vms. A zero @len is -EINVAL.
 * Context: may sleep.
 */
int gpc_cache_copy(struct gpc_cache *dst, uint64_t dst_off,
		   struct gpc_cache *src, uint64_t src_off, size_t len);

/**
 * gpc_cache_get_stats - read the cache's counters.
 *
 * Return: 0; -EINVAL if @c is NULL or not initialised, or @st is NULL.
 * Context: any context.
 */
int gpc_cache_get_stats(struct gpc_cache *c, struct gpc_cache_stats *st);

/**
 * gpc_cache_is_active - whether the cache is active (for tests/asserts).
 *
 * Return: true if activated and not deactivated since; false otherwise,
 * and for NULL or a zero-filled cache.
 * Context: any context.
 */
bool gpc_cache_is_active(struct gpc_cache *c);

#ifdef __cplusplus
}
#endif

#endif /* GPC_CACHE_H */
