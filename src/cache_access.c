// SPDX-License-Identifier: MIT
/*
 * cache_access.c - using a cache: the read side's out-of-line helpers (the
 * bounded snapshot after a miss, the rwlock scheme's begin and end, counted
 * hits), the copy calls built on begin/refresh/end, and the counters.
 *
 * The inline fast path is in include/gpc/cache.h; cache.c makes caches
 * valid and invalid.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cache_priv.h"
#include "dirty_priv.h"
#include "internal.h"
#include "vm_priv.h"

/* ---- the calling thread's open sections that end out of line ---------- */

/*
 * Every section whose gpc_cache_end() comes out of line (rwlock scheme; on
 * checked caches, every scheme) is recorded here at begin and looked up at
 * end, so that an end with nothing to end (after a miss, a second end, the
 * wrong cache) is reported and ignored instead of unlocking a lock nobody
 * holds, and so that a thread that exits inside such a section gives its
 * read lock back (an invalidation would otherwise wait for it forever).
 * Initial-exec TLS, written only by the owner thread (and its signal
 * handlers, which leave it as they found it: a push reserves its entry
 * before it fills it, a pop fills the hole before it shrinks the list).
 * Sections beyond HELD_MAX are counted, not recorded, and their ends are
 * trusted. The list is also what tells slow paths that the thread is in
 * an rwlock-scheme section of a vm (gpci_section_held()), so begin and
 * end touch no other per-thread word; an rwlock section beyond HELD_MAX
 * is counted in the thread's slot of the domain instead.
 */
#define HELD_MAX 8

/*
 * An entry is the cache's address, with bit 0 set for the rwlock scheme:
 * at thread exit only those caches are looked at (an rwlock-scheme cache
 * cannot be destroyed while a reader holds its lock; an srcu-scheme one
 * may be gone once the domain's exit hook ended the section).
 */
#define HELD_RW 1u

struct held_sections {
	_Atomic uintptr_t c[HELD_MAX];
	_Atomic unsigned int n;
	_Atomic unsigned int untracked;
	bool armed; /* exit hook set for this thread */
};

static __thread struct held_sections held
	__attribute__((tls_model("initial-exec")));
static pthread_key_t held_key;
static bool held_key_ok;

static void held_exit(void *arg)
{
	struct held_sections *h = arg;
	unsigned int n = atomic_load_explicit(&h->n, memory_order_relaxed);

	for (unsigned int i = 0; i < n; i++) {
		uintptr_t e =
			atomic_load_explicit(&h->c[i], memory_order_relaxed);
		struct gpc_cache *c = (struct gpc_cache *)(e & ~(uintptr_t)1);

		/* srcu scheme: the domain's exit hook ends the section. */
		if (e & HELD_RW)
			pthread_rwlock_unlock(&c->rw);
		gpci_log(GPC_LOG_ERR,
			 "cache %p: a thread exited inside a section; %s",
			 (void *)c,
			 e & HELD_RW ? "its read lock was released" :
				       "the SRCU section is ended");
	}
	atomic_store_explicit(&h->n, 0, memory_order_relaxed);
}

__attribute__((constructor)) static void held_setup(void)
{
	held_key_ok = !pthread_key_create(&held_key, held_exit);
}

static void held_arm(struct held_sections *h)
{
	h->armed = true;
	if (held_key_ok)
		pthread_setspecific(held_key, h);
}

/*
 * An rwlock-scheme section beyond HELD_MAX, which the list cannot name:
 * counted in the thread's slot of the cache's domain instead, so that
 * gpci_section_held() still sees it. @d: +1 or -1.
 */
static void rw_untracked(struct gpc_cache *c, unsigned int d)
{
	struct gpc_srcu_slot *s = gpc_srcu_slot_of(c->srcu);

	atomic_store_explicit(
		&s->user[GPCI_SLOT_RW_SECTIONS],
		atomic_load_explicit(&s->user[GPCI_SLOT_RW_SECTIONS],
				     memory_order_relaxed) +
			d,
		memory_order_relaxed);
}

static inline void held_push(struct gpc_cache *c, uintptr_t e)
{
	struct held_sections *h = &held;
	unsigned int n = atomic_load_explicit(&h->n, memory_order_relaxed);

	if (gpc_unlikely(!h->armed))
		held_arm(h);
	if (gpc_unlikely(n == HELD_MAX)) {
		atomic_store_explicit(
			&h->untracked,
			atomic_load_explicit(&h->untracked,
					     memory_order_relaxed) +
				1,
			memory_order_relaxed);
		if (e & HELD_RW)
			rw_untracked(c, 1);
		return;
	}
	atomic_store_explicit(&h->n, n + 1, memory_order_relaxed);
	atomic_signal_fence(memory_order_seq_cst);
	atomic_store_explicit(&h->c[n], e, memory_order_relaxed);
}

/*
 * Whether the thread had a section of @c (entry @e) to end (and it is
 * forgotten now).
 */
static inline bool held_pop(struct gpc_cache *c, uintptr_t e)
{
	struct held_sections *h = &held;
	unsigned int n = atomic_load_explicit(&h->n, memory_order_relaxed);
	unsigned int u;

	for (unsigned int i = n; i-- > 0;) {
		if (atomic_load_explicit(&h->c[i], memory_order_relaxed) != e)
			continue;
		atomic_store_explicit(
			&h->c[i],
			atomic_load_explicit(&h->c[n - 1],
					     memory_order_relaxed),
			memory_order_relaxed);
		atomic_signal_fence(memory_order_seq_cst);
		atomic_store_explicit(&h->n, n - 1, memory_order_relaxed);
		return true;
	}
	u = atomic_load_explicit(&h->untracked, memory_order_relaxed);
	if (!u)
		return false;
	atomic_store_explicit(&h->untracked, u - 1, memory_order_relaxed);
	if (e & HELD_RW)
		rw_untracked(c, (unsigned int)-1);
	return true;
}

/* ---- fast-path helpers kept out of line --------------------------------- */

/*
 * Inside a section of @s: the bounded snapshot (a writer that finished
 * meanwhile is not a miss); on a real miss leave the section and count it.
 * Still inside on success. The inline fast path calls it after its single
 * attempt failed (the guard is filled in already), begin_slow instead of
 * an attempt of its own.
 */
void *gpc_cache__miss(struct gpc_cache *c, struct gpc_srcu_slot *s,
		      uint64_t off, uint64_t len)
{
	uint8_t *p = gpc_cache__snapshot(c, off, len);

	if (p)
		return p;
	gpc_srcu_read_unlock_slot(c->srcu, s);
	atomic_fetch_add_explicit(&c->misses, 1, memory_order_relaxed);
	return NULL;
}

/*
 * gpc_cache__miss() for the inline fast path of this release, which keeps
 * the guard's slot from it: NULL on a miss, so that a gpc_cache_end() after
 * the miss goes out of line and is caught instead of ending a section the
 * thread is not in. (Returning the words, as begin_slow does, keeps the
 * guard in registers; gpc_cache__miss stays for older inline code.)
 */
struct gpc_cache__begun gpc_cache__miss_begun(struct gpc_cache *c,
					      struct gpc_srcu_slot *s,
					      uint64_t off, uint64_t len)
{
	struct gpc_cache__begun b = { gpc_cache__miss(c, s, off, len), NULL,
				      0 };

	if (b.p)
		b.slot = s;
	return b;
}

/* A hit of the srcu scheme or the rwlock scheme (out of line only). */
static void count_hit(struct gpc_cache *c, struct gpc_srcu_slot *s)
{
	if (!(c->flags & GPC_CACHE_COUNT_HITS))
		return;
	gpc_srcu_count_event(s);
	atomic_fetch_add_explicit(&c->hits, 1, memory_order_relaxed);
}

/*
 * The rwlock scheme's begin: the reader lock is held across check and use,
 * as in KVM. It writes the shared lock word on every access, which is what
 * the srcu scheme avoids.
 */
static gpc_always_inline struct gpc_cache__begun
rw_begin(struct gpc_cache *c, uint64_t off, uint64_t len, bool try_only)
{
	struct gpc_cache__begun b = { NULL, NULL, 0 };
	uint8_t *p;
	int err = try_only ? pthread_rwlock_tryrdlock(&c->rw) :
			     pthread_rwlock_rdlock(&c->rw);

	if (err) {
		atomic_fetch_add_explicit(&c->misses, 1, memory_order_relaxed);
		return b;
	}
	p = gpc_cache__snapshot(c, off, len);
	if (p) {
		/*
		 * The list entry is what gpci_section_held() counts (slow
		 * paths refuse to deadlock): no slot lookup here or at end.
		 */
		held_push(c, (uintptr_t)c | HELD_RW);
		if (gpc_unlikely(c->flags & GPC_CACHE_COUNT_HITS))
			count_hit(c, gpc_srcu_slot_of(c->srcu));
		b.p = p;
		return b;
	}
	pthread_rwlock_unlock(&c->rw);
	atomic_fetch_add_explicit(&c->misses, 1, memory_order_relaxed);
	return b;
}

/*
 * begin off the inline path: the rwlock scheme (slot NULL: it needs no
 * token), counted hits, readers that fence themselves, checked caches
 * (slot NULL too: their end comes here to be checked), a thread's first
 * section in the vm (which claims its slot), and caches that were never
 * initialised or are destroyed (their key is 0): a miss, nothing held.
 */
/* begin_slow's srcu scheme: a section of its own, the bounded snapshot. */
static __attribute__((noinline)) struct gpc_cache__begun
srcu_begin(struct gpc_cache *c, uint64_t off, uint64_t len)
{
	struct gpc_cache__begun b = { NULL, NULL, 0 };
	struct gpc_srcu *d = c->srcu;
	struct gpc_srcu_slot *s = gpc_srcu_slot_of(d);

	b.fence = d->reader_fence;
	gpc_srcu__lock(d, s, b.fence);
	/* The bounded snapshot, or out of the section with a miss counted. */
	b.p = gpc_cache__miss(c, s, off, len);
	if (b.p) {
		if (c->flags & GPCI_CACHE_CHECKED)
			held_push(c, (uintptr_t)c);
		else
			b.slot = s;
		count_hit(c, s);
	}
	return b;
}

struct gpc_cache__begun gpc_cache__begin_slow(struct gpc_cache *c, uint64_t off,
					      uint64_t len, bool try_only)
{
	struct gpc_cache__begun b = { NULL, NULL, 0 };

	if (gpc_unlikely(c->magic != CACHE_MAGIC))
		return b;
	/*
	 * The srcu scheme out of line: its registers saved around its calls
	 * are not the rwlock path's, which every access of that scheme takes.
	 */
	if (c->scheme == GPC_SCHEME_SRCU)
		return srcu_begin(c, off, len);
	return rw_begin(c, off, len, try_only);
}

/*
 * The end of every section whose guard has no slot: the rwlock scheme,
 * checked caches of the srcu scheme, and - misuse - an end after a miss
 * (begin cleared the guard's slot), a second end or an end on the wrong
 * cache, which find no section of @c on this thread's list: reported and
 * ignored, so the lock word and the section counter stay right.
 */
void gpc_cache__rw_end(struct gpc_cache *c)
{
	bool rw = c->scheme != GPC_SCHEME_SRCU;

	if (!held_pop(c, (uintptr_t)c | (rw ? HELD_RW : 0))) {
		gpci_log(GPC_LOG_ERR,
			 "cache %p: gpc_cache_end() without a section of this "
			 "cache (after a miss, or a second end): ignored",
			 (void *)c);
		return;
	}
	if (rw)
		pthread_rwlock_unlock(&c->rw);
	else
		gpc_srcu_read_unlock(c->srcu);
}

/* ---- checks, accessors, counters -------------------------------------- */

bool gpc_cache_check(struct gpc_cache *c, uint64_t off, uint64_t len)
{
	return gpci_cache_ok(c) && gpc_cache__snapshot(c, off, len) != NULL;
}

bool gpc_cache_is_active(struct gpc_cache *c)
{
	return gpci_cache_ok(c) && atomic_load(&c->priv->active);
}

static int access_check(struct gpc_cache *c, uint64_t off, size_t len)
{
	if (!gpci_cache_ok(c) || !len || off + len < off)
		return -EINVAL;
	/* Invalidation waits for a guest cache's vCPU, not for readers. */
	if (c->priv->usage != GPC_USAGE_HOST)
		return -EINVAL;
	/*
	 * A miss refreshes, which waits for readers: inside a section the
	 * caller would wait for itself. Refused whether or not this call
	 * would miss, so the answer does not depend on the cache's state.
	 */
	if (gpci_section_held(c->vm))
		return -EDEADLK;
	if (!atomic_load(&c->priv->active))
		return -EINVAL;
	return 0;
}

/*
 * Whether [@off, @off + @len) lies inside the cache's (requested) length.
 * That length changes under refresh_lock (activate, refresh with a new
 * length), so it is read under it: an unlocked read raced with those
 * writers (ThreadSanitizer, tests/unit/test_cache_len_race.c).
 */
static int within_len(struct gpc_cache *c, uint64_t off, uint64_t len)
{
	struct gpc_cache_priv *p = c->priv;
	int err = gpci_refresh_lock(p);

	if (err)
		return err; /* -EDEADLK: called back from its own refresh */
	err = off + len <= p->len ? 0 : -EINVAL;
	pthread_mutex_unlock(&p->refresh_lock);
	return err;
}

/*
 * dirty log: mark exactly what was written, after the copy and still inside
 * the section (dirty.c says why both). One relaxed load when nothing logs.
 */
static void mark_written(struct gpc_cache *c, uint64_t off, size_t len)
{
	if (gpci_dirty_any())
		gpci_dirty_cache_wrote(c, off, len);
}

/*
 * begin -> (miss: refresh) -> use -> end. Bounded: a refresh that succeeds
 * makes the next begin hit unless an invalidation came in between, and we
 * give up after many such rounds rather than loop forever.
 */
static int copy_through(struct gpc_cache *c, uint64_t off, void *buf,
			size_t len, bool write)
{
	int err = access_check(c, off, len);

	for (int round = 0; !err && round < 1000; round++) {
		struct gpc_guard g;
		uint8_t *p = gpc_cache_begin(c, off, len, &g);

		if (p) {
			if (write) {
				memcpy(p, buf, len);
				mark_written(c, off, len);
			} else
				memcpy(buf, p, len);
			gpc_cache_end(c, &g);
			return 0;
		}
		err = within_len(c, off, len);
		if (!err)
			err = gpc_cache_refresh(c, 0);
	}
	return err ? err : -EAGAIN;
}

int gpc_cache_read(struct gpc_cache *c, uint64_t off, void *buf, size_t len)
{
	if (!buf)
		return -EINVAL;
	return copy_through(c, off, buf, len, false);
}

int gpc_cache_write(struct gpc_cache *c, uint64_t off, const void *buf,
		    size_t len)
{
	if (!buf || !gpci_cache_ok(c))
		return -EINVAL;
	if (c->flags & GPC_CACHE_READONLY)
		return -EPERM;
	return copy_through(c, off, (void *)buf, len, true);
}

/*
 * Copy through a bounce buffer, so that nothing is written unless the whole
 * source could be read, and no section of either cache is held while the
 * other one refreshes. The whole source is read before anything is written.
 */
int gpc_cache_copy(struct gpc_cache *dst, uint64_t dst_off,
		   struct gpc_cache *src, uint64_t src_off, size_t len)
{
	uint8_t small[256], *buf = small;
	int err;

	if (!gpci_cache_ok(dst) || !gpci_cache_ok(src) || dst->vm != src->vm ||
	    !len || src_off + len < src_off || dst_off + len < dst_off)
		return -EINVAL;
	if (dst->flags & GPC_CACHE_READONLY)
		return -EPERM;
	/*
	 * Before within_len(): inside a section (an rwlock read lock held)
	 * taking a refresh lock inverts the lock order against a refresh,
	 * which holds it and then takes the write lock (ThreadSanitizer).
	 */
	if (gpci_section_held(src->vm))
		return -EDEADLK;
	err = within_len(src, src_off, len);
	if (!err)
		err = within_len(dst, dst_off, len);
	if (err)
		return err;
	if (len > sizeof(small)) {
		buf = malloc(len);
		if (!buf)
			return -ENOMEM;
	}
	err = gpc_cache_read(src, src_off, buf, len);
	if (!err)
		err = gpc_cache_write(dst, dst_off, buf, len);
	if (buf != small)
		free(buf);
	return err;
}

int gpc_cache_get_stats(struct gpc_cache *c, struct gpc_cache_stats *st)
{
	struct gpc_cache_priv *p;

	if (!gpci_cache_ok(c) || !st)
		return -EINVAL;
	p = c->priv;
	st->hits = atomic_load(&c->hits);
	st->misses = atomic_load(&c->misses);
	st->refreshes = atomic_load(&p->st_refreshes);
	st->refresh_retries = atomic_load(&p->st_retries);
	st->refresh_waits = atomic_load(&p->st_waits);
	st->invalidations = atomic_load(&p->st_invals);
	st->maps = atomic_load(&p->st_maps);
	st->unmaps = atomic_load(&p->st_unmaps);
	return 0;
}

void gpci_cache_vm_stats(struct gpc_vm *vm, struct gpc_vm_stats *st)
{
	st->refreshes = atomic_load(&vm->cst.refreshes);
	st->refresh_retries = atomic_load(&vm->cst.retries);
	st->refresh_waits = atomic_load(&vm->cst.refresh_waits);
	st->active_caches = atomic_load(&vm->cst.active);
}

bool gpci_section_held(struct gpc_vm *vm)
{
	struct gpc_srcu_slot *s = gpc_srcu_slot_of(vm->srcu);
	struct held_sections *h = &held;
	unsigned int n = atomic_load_explicit(&h->n, memory_order_relaxed);

	if ((atomic_load_explicit(&s->ctr, memory_order_relaxed) &
	     GPC_SRCU_NEST_MASK) ||
	    atomic_load_explicit(&s->user[GPCI_SLOT_RW_SECTIONS],
				 memory_order_relaxed))
		return true;
	/*
	 * The thread's rwlock-scheme sections on its list: their caches
	 * cannot be destroyed while it holds their read lock, so reading
	 * their domain is safe.
	 */
	for (unsigned int i = 0; i < n; i++) {
		uintptr_t e =
			atomic_load_explicit(&h->c[i], memory_order_relaxed);
		struct gpc_cache *c = (struct gpc_cache *)(e & ~(uintptr_t)1);

		if ((e & HELD_RW) && c->srcu == vm->srcu)
			return true;
	}
	return false;
}
