// SPDX-License-Identifier: MIT
/*
 * invalidate.c - range_start / range_end: host memory is about to change.
 *
 * Order of a blocking range_start, and the race each step closes:
 *  1. register the range as in progress (before touching any cache), so a
 *     refresh that translates meanwhile cannot publish (its publish check
 *     sees the range) - the KVM "in-progress count" rule;
 *  2. for every overlapping cache found through the index: bump its
 *     invalidation counter (a refresh that already translated will see the
 *     change and retry) and clear valid in a write section;
 *  3. wait until nobody can use an old page: a grace period of the vm's
 *     domain for host-usage caches (none on the rwlock scheme, whose write
 *     lock excluded readers), and every evicted vCPU outside guest mode.
 * range_end bumps the counters of the caches overlapping then (a refresh
 * that indexed itself after step 2 translated during the change), the vm's
 * sequence (for every invalidation), drops the registration and wakes the
 * refreshes sleeping on it.
 *
 * The non-blocking form only tries locks, never waits, and on failure
 * undoes step 1 only: the caches stay invalid and the vCPUs kicked, so that
 * a retry soon succeeds.
 */
#include <errno.h>
#include <limits.h>

#include "internal.h"

/* ---- in-progress registry -------------------------------------------- */

static int inflight_add(struct gpc_vm *vm, uint64_t start, uint64_t end)
{
	for (int i = 0; i < GPC_INVAL_MAX_INFLIGHT; i++) {
		struct gpci_inflight *f = &vm->inflight[i];
		int zero = 0;

		if (atomic_load_explicit(&f->state, memory_order_relaxed) ||
		    !atomic_compare_exchange_strong(&f->state, &zero, 1))
			continue;
		atomic_store(&f->start, start);
		atomic_store(&f->end, end);
		atomic_fetch_add(&vm->ninflight, 1);
		/* seq_cst: ordered before our index walk (see try_publish). */
		atomic_store(&f->state, 2);
		return i;
	}
	return -EBUSY;
}

static void wake_refreshes(struct gpc_vm *vm)
{
	atomic_fetch_add(&vm->inval_wake, 1);
	if (atomic_load(&vm->inval_sleepers))
		gpci_futex_wake(&vm->inval_wake, INT_MAX);
}

static void inflight_del(struct gpc_vm *vm, int i)
{
	atomic_store(&vm->inflight[i].state, 0);
	atomic_fetch_sub(&vm->ninflight, 1);
	wake_refreshes(vm);
}

static bool overlaps(uint64_t s1, uint64_t e1, uint64_t s2, uint64_t e2)
{
	return s1 < e2 && s2 < e1;
}

/* @end rounded up to a page boundary, saturating in the top page. */
static uint64_t page_end(uint64_t end, uint64_t mask)
{
	uint64_t r = (end + mask) & ~mask;

	return r < end ? UINT64_MAX : r;
}

/*
 * Page granular: host mappings change a page at a time, and the index that
 * range_start walks is by page, so an invalidation of some bytes of a page
 * concerns every cache on that page, whatever bytes each caches.
 */
bool gpci_inflight_overlaps(struct gpc_vm *vm, uint64_t start, uint64_t end)
{
	uint64_t mask = vm->page_size - 1;

	if (!atomic_load(&vm->ninflight))
		return false;
	start &= ~mask;
	end = page_end(end, mask);
	for (int i = 0; i < GPC_INVAL_MAX_INFLIGHT; i++) {
		struct gpci_inflight *f = &vm->inflight[i];

		/*
		 * A half-filled entry (state 1) is ignored: its invalidation
		 * has not walked the index yet and will, after it publishes
		 * state 2, so it finds our (already indexed) cache and clears
		 * what we publish. Counting it would make refreshes retry and
		 * sleep for invalidations that may not overlap them at all.
		 */
		int st = atomic_load(&f->state);

		if ((st == 2 || st == 3) &&
		    overlaps(start, end, atomic_load(&f->start) & ~mask,
			     page_end(atomic_load(&f->end), mask)))
			return true;
	}
	return false;
}

void gpci_inflight_wait(struct gpc_vm *vm, uint64_t start, uint64_t end)
{
	for (;;) {
		int seen = atomic_load(&vm->inval_wake);

		if (!gpci_inflight_overlaps(vm, start, end))
			return;
		atomic_fetch_add(&vm->inval_sleepers, 1);
		/* A range_end after our check changed inval_wake: no sleep. */
		gpci_futex_wait(&vm->inval_wake, seen, 0);
		atomic_fetch_sub(&vm->inval_sleepers, 1);
	}
}

/* ---- clearing caches -------------------------------------------------- */

struct inval_walk {
	struct gpc_vm *vm;
	bool nonblock;
	bool busy;  /* a try-lock failed */
	bool vcpus; /* some vCPU was in guest mode */
	/* The vCPUs to wait for; if more, wait for every vCPU of the vm. */
	struct gpc_vcpu *ev[16];
	unsigned int nev;
	bool ev_all;
	bool layout; /* memslot change: GPA-mode caches only */
	uint64_t stamp;
	uint64_t need_cookie; /* grace period the readers need */
	uint64_t cleared;
};

static void need_grace(struct inval_walk *w, struct gpc_cache *c)
{
	uint64_t ck = atomic_load_explicit(&c->priv->clear_cookie,
					   memory_order_relaxed);

	if (ck > w->need_cookie)
		w->need_cookie = ck;
}

static void note_vcpu(struct inval_walk *w, struct gpc_vcpu *v)
{
	w->vcpus = true;
	for (unsigned int i = 0; i < w->nev; i++)
		if (w->ev[i] == v)
			return;
	if (w->nev < sizeof(w->ev) / sizeof(w->ev[0]))
		w->ev[w->nev++] = v;
	else
		w->ev_all = true;
}

/*
 * Non-blocking and the cache's write lock is busy (a reader holds the rwlock,
 * or a writer is in its short write section): we must not wait, but the
 * -EAGAIN contract wants the cache invalid and its vCPU kicked, so new
 * readers stop using the old page and a retry can succeed. Clearing the
 * pointer without the seqcount is safe for readers: the other fields do not
 * change, so any snapshot is either the old consistent one or a miss. A
 * refresh that checked inval_count before our bump and publishes while we
 * do this may validate the cache again; what it publishes is the mapping as
 * it still is (the caller changes nothing after -EAGAIN), and the retry will
 * clear it.
 */
static bool clear_unlocked(struct gpc_cache *c)
{
	if (!atomic_exchange(&c->khva, NULL))
		return false;
	atomic_store(&c->priv->clear_cookie, gpc_srcu_get_state(c->srcu));
	return true;
}

static int clear_one(struct gpc_cache *c, void *arg)
{
	struct inval_walk *w = arg;
	struct gpc_cache_priv *p = c->priv;
	bool was;

	if (w->layout && p->hva_mode)
		return 0; /* HVA-mode caches ignore the memslot layout */
	atomic_fetch_add(&p->inval_count, 1);
	if (w->nonblock && !gpci_cache_write_trylock(c)) {
		w->busy = true;
		was = clear_unlocked(c);
	} else {
		if (!w->nonblock)
			gpci_cache_write_lock(c);
		was = gpci_cache_clear_valid(c);
		gpci_cache_write_unlock(c);
	}
	if (was) {
		w->cleared++;
		atomic_fetch_add_explicit(&p->st_invals, 1,
					  memory_order_relaxed);
	}
	if (p->usage == GPC_USAGE_GUEST) {
		if (gpci_vcpu_evict(p->vcpu))
			note_vcpu(w, p->vcpu);
	} else if (c->scheme == GPC_SCHEME_SRCU) {
		/* Also for a cache already invalid: its last clear may not
		 * have been followed by a grace period yet. */
		need_grace(w, c);
	}
	return 0;
}

/*
 * The index lock is held briefly and always with signals blocked, so its
 * holder is another thread that is running: a non-blocking invalidation may
 * spin on it for a bounded time (a few tens of microseconds) before it gives
 * up with -EAGAIN.
 */
static bool index_trylock_spin(struct gpc_vm *vm)
{
	for (int i = 0; i < 20000; i++) {
		if (!pthread_mutex_trylock(&vm->index_lock))
			return true;
		gpc_cpu_relax();
	}
	return false;
}

static int walk_range(struct inval_walk *w, uint64_t start, uint64_t end)
{
	struct gpc_vm *vm = w->vm;
	sigset_t old;
	int r;

	gpci_block_signals(&old);
	if (w->nonblock) {
		if (!index_trylock_spin(vm)) {
			gpci_restore_signals(&old);
			return -EAGAIN;
		}
	} else {
		pthread_mutex_lock(&vm->index_lock);
	}
	w->stamp = atomic_fetch_add(&vm->inval_stamp, 1) + 1;
	r = gpci_index_walk(&vm->index, start >> vm->page_shift,
			    (end - 1) >> vm->page_shift, w->stamp, clear_one,
			    w);
	pthread_mutex_unlock(&vm->index_lock);
	gpci_restore_signals(&old);
	return r;
}

/* ---- waiting ---------------------------------------------------------- */

/*
 * Each vCPU we evicted (or, past the array, every vCPU of the vm). Other
 * invalidations may evict the same vCPUs concurrently; each waits for its own.
 */
static void wait_vcpus(struct inval_walk *w)
{
	struct gpc_vcpu *v;

	for (unsigned int i = 0; i < w->nev; i++)
		gpci_vcpu_wait_outside(w->ev[i]);
	if (!w->ev_all)
		return;
	v = atomic_load_explicit(&w->vm->vcpus, memory_order_acquire);
	for (; v; v = v->next)
		gpci_vcpu_wait_outside(v);
}

/* Non-blocking: is any vCPU we evicted still in guest mode? */
static bool vcpus_inside(struct inval_walk *w)
{
	struct gpc_vcpu *v;

	for (unsigned int i = 0; i < w->nev; i++)
		if (atomic_load(&w->ev[i]->mode) != GPC_VCPU_OUTSIDE)
			return true;
	if (!w->ev_all)
		return false;
	v = atomic_load_explicit(&w->vm->vcpus, memory_order_acquire);
	for (; v; v = v->next)
		if (atomic_load(&v->mode) != GPC_VCPU_OUTSIDE)
			return true;
	return false;
}

static void wait_blocking(struct inval_walk *w)
{
	struct gpc_vm *vm = w->vm;
	uint64_t t0 = gpci_now_ns(), t1;

	if (w->need_cookie &&
	    gpc_srcu_poll_state(&vm->srcu, w->need_cookie) != 1)
		gpc_srcu_synchronize(&vm->srcu);
	t1 = gpci_now_ns();
	atomic_fetch_add(&vm->st_reader_wait_ns, t1 - t0);
	if (w->vcpus) {
		wait_vcpus(w);
		atomic_fetch_add(&vm->st_vcpu_wait_ns, gpci_now_ns() - t1);
	}
}

/* Non-blocking: whether everything is already quiet; else kick things on. */
static bool quiet_now(struct inval_walk *w)
{
	struct gpc_vm *vm = w->vm;

	if (w->busy)
		return false;
	if (w->need_cookie &&
	    gpc_srcu_poll_state(&vm->srcu, w->need_cookie) != 1) {
		/* Make sure the grace period a retry needs gets going. */
		gpc_srcu_start_poll(&vm->srcu);
		return false;
	}
	return !(w->vcpus && vcpus_inside(w));
}

/* ---- the API ---------------------------------------------------------- */

int gpc_invalidate_range_start(struct gpc_vm *vm, uint64_t start, uint64_t end,
			       unsigned int flags)
{
	struct inval_walk w = { .vm = vm };
	int slot, err;

	if (!vm || end <= start || (flags & ~GPC_INVAL_NONBLOCK))
		return -EINVAL;
	w.nonblock = flags & GPC_INVAL_NONBLOCK;
	if (!w.nonblock && gpci_section_held(vm))
		return -EDEADLK;
	slot = inflight_add(vm, start, end);
	if (slot < 0)
		return slot;
	gpci_hook(vm, GPC_HOOK_INVAL_START, NULL);
	err = walk_range(&w, start, end);
	atomic_fetch_add(&vm->st_inval_caches, w.cleared);
	gpci_hook(vm, GPC_HOOK_INVAL_CLEARED, NULL);
	if (!w.nonblock) {
		wait_blocking(&w);
	} else if (err || !quiet_now(&w)) {
		inflight_del(vm, slot);
		atomic_fetch_add(&vm->st_eagain, 1);
		return -EAGAIN;
	}
	atomic_fetch_add(&vm->st_invalidations, 1);
	return 0;
}

static int bump_one(struct gpc_cache *c, void *arg)
{
	(void)arg;
	atomic_fetch_add(&c->priv->inval_count, 1);
	return 0;
}

/*
 * Find and claim the entry of [start, end): state 2 -> 3 ("ending") by CAS,
 * so that two range_end calls for the same range (two invalidations of it
 * in progress) each claim a different entry, never one entry twice. An
 * ending entry still counts as in progress until it is freed.
 */
static int inflight_claim(struct gpc_vm *vm, uint64_t start, uint64_t end)
{
	for (int i = 0; i < GPC_INVAL_MAX_INFLIGHT; i++) {
		struct gpci_inflight *f = &vm->inflight[i];
		int two = 2;

		if (atomic_load(&f->state) == 2 &&
		    atomic_load(&f->start) == start &&
		    atomic_load(&f->end) == end &&
		    atomic_compare_exchange_strong(&f->state, &two, 3))
			return i;
	}
	return -ENOENT;
}

int gpc_invalidate_range_end(struct gpc_vm *vm, uint64_t start, uint64_t end)
{
	uint64_t stamp;
	sigset_t old;
	int slot;

	if (!vm || end <= start)
		return -EINVAL;
	slot = inflight_claim(vm, start, end);
	if (slot < 0)
		return slot;
	gpci_hook(vm, GPC_HOOK_INVAL_END, NULL);
	/* Bump before unregistering: a refresh must see one or the other. */
	gpci_block_signals(&old);
	pthread_mutex_lock(&vm->index_lock);
	stamp = atomic_fetch_add(&vm->inval_stamp, 1) + 1;
	gpci_index_walk(&vm->index, start >> vm->page_shift,
			(end - 1) >> vm->page_shift, stamp, bump_one, NULL);
	pthread_mutex_unlock(&vm->index_lock);
	gpci_restore_signals(&old);
	atomic_fetch_add(&vm->inval_seq, 1);
	inflight_del(vm, slot);
	return 0;
}

/*
 * After a memslot change: the grace period of the memslot code covered SRCU
 * readers; here the GPA-mode caches on the old slot's host range are
 * cleared under their write lock (which waits for rwlock-scheme readers)
 * and their vCPUs evicted and waited for. Nothing is registered in progress:
 * the host mapping does not change.
 */
void gpci_invalidate_layout(struct gpc_vm *vm, uint64_t start, uint64_t end)
{
	struct inval_walk w = { .vm = vm, .layout = true };

	walk_range(&w, start, end);
	if (w.vcpus)
		wait_vcpus(&w);
}

uint64_t gpc_invalidate_sequence(struct gpc_vm *vm)
{
	return vm ? atomic_load(&vm->inval_seq) : 0;
}
