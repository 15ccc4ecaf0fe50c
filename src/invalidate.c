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
 * The non-blocking form only tries locks and never waits. When it cannot
 * complete, the caches stay invalid, the vCPUs kicked, and the registration
 * of step 1 stays too, as a *pending* mark: overlapping refreshes keep
 * waiting instead of validating their caches again, so the readers that
 * held the old pages drain and nothing new takes their place, and a retry
 * of the same range (which takes the mark over) succeeds within a grace
 * period. Without the mark, refreshing writers re-validate the caches after
 * every -EAGAIN and each retry needs a new grace period: under steady
 * refresh traffic it never succeeds (models/inval_pending.pml, mutant
 * NO_PENDING). A mark nobody retries or cancels lapses after
 * GPC_INVAL_PENDING_MS; the first refresh that waits past that frees it.
 */
#include <errno.h>
#include <limits.h>

#include "cache_priv.h"
#include "index_priv.h"
#include "invalidate_priv.h"
#include "vcpu_priv.h"
#include "vm_priv.h"

/* ---- in-progress registry -------------------------------------------- */

/*
 * Entry states (invalidate_priv.h): FREE -> FILLING -> STARTING
 * (range_start) -> ACTIVE (it returned 0) -> ENDING (range_end) -> FREE; a
 * non-blocking range_start that fails goes STARTING -> PENDING, and a
 * PENDING entry goes back to STARTING when a range_start of the same range
 * takes it over, or to FREE when it is cancelled or has lapsed. Every move
 * out of PENDING is a CAS from PENDING, so exactly one of retry, cancel and
 * lapse wins; range_end claims only ACTIVE entries, so it never ends an
 * invalidation whose range_start is still running.
 */

static void wake_refreshes(struct gpc_vm *vm)
{
	atomic_fetch_add(&vm->inv.wake, 1);
	if (atomic_load(&vm->inv.sleepers))
		gpci_futex_wake(&vm->inv.wake, INT_MAX);
}

static void inflight_del(struct gpc_vm *vm, int i)
{
	atomic_store(&vm->inv.inflight[i].state, GPCI_INFL_FREE);
	atomic_fetch_sub(&vm->inv.ninflight, 1);
	wake_refreshes(vm);
}

/* Free a PENDING entry that lapsed before @now; whether we did. */
static bool pending_lapse(struct gpc_vm *vm, int i, uint64_t now)
{
	struct gpci_inflight *f = &vm->inv.inflight[i];
	int pending = GPCI_INFL_PENDING;

	if (atomic_load(&f->state) != GPCI_INFL_PENDING ||
	    now < atomic_load(&f->expires_ns) ||
	    !atomic_compare_exchange_strong(&f->state, &pending,
					    GPCI_INFL_STARTING))
		return false;
	atomic_fetch_add(&vm->inv.st_pending_lapsed, 1);
	inflight_del(vm, i);
	return true;
}

static int inflight_add(struct gpc_vm *vm, uint64_t start, uint64_t end)
{
	uint64_t now = 0;

	for (int i = 0; i < GPC_INVAL_MAX_INFLIGHT; i++) {
		struct gpci_inflight *f = &vm->inv.inflight[i];
		int st = atomic_load_explicit(&f->state, memory_order_relaxed);
		int zero = GPCI_INFL_FREE;

		/* A full table is no reason to keep marks nobody wants. */
		if (st == GPCI_INFL_PENDING) {
			if (!now)
				now = gpci_now_ns();
			if (!pending_lapse(vm, i, now))
				continue;
		} else if (st) {
			continue;
		}
		if (!atomic_compare_exchange_strong(&f->state, &zero,
						    GPCI_INFL_FILLING))
			continue;
		atomic_store(&f->start, start);
		atomic_store(&f->end, end);
		atomic_fetch_add(&vm->inv.ninflight, 1);
		/* seq_cst: ordered before our index walk (see try_publish). */
		atomic_store(&f->state, GPCI_INFL_STARTING);
		return i;
	}
	return -EBUSY;
}

/*
 * Find the entry of exactly [start, end) in state @from and move it to @to
 * by CAS, so that two callers never claim one entry. The range is checked
 * again after the CAS: the entry may have been freed and reused for another
 * range between our loads and the CAS; then it is put back.
 */
static int inflight_claim(struct gpc_vm *vm, uint64_t start, uint64_t end,
			  int from, int to)
{
	for (int i = 0; i < GPC_INVAL_MAX_INFLIGHT; i++) {
		struct gpci_inflight *f = &vm->inv.inflight[i];
		int st = from;

		if (atomic_load(&f->state) != from ||
		    atomic_load(&f->start) != start ||
		    atomic_load(&f->end) != end ||
		    !atomic_compare_exchange_strong(&f->state, &st, to))
			continue;
		if (atomic_load(&f->start) == start &&
		    atomic_load(&f->end) == end)
			return i;
		atomic_store(&f->state, from);
	}
	return -ENOENT;
}

/*
 * Leave the entry as a pending mark after -EAGAIN. Its lapse time is set
 * when the mark is first made and kept by retries that fail again, so a
 * caller that retries forever without success cannot hold refreshes back
 * for longer than GPC_INVAL_PENDING_MS at a time.
 */
static void inflight_park(struct gpc_vm *vm, int i, bool was_pending)
{
	struct gpci_inflight *f = &vm->inv.inflight[i];

	if (!was_pending)
		atomic_store(&f->expires_ns,
			     gpci_now_ns() + GPC_INVAL_PENDING_MS * 1000000ull);
	atomic_store(&f->state, GPCI_INFL_PENDING);
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

	if (!atomic_load(&vm->inv.ninflight))
		return false;
	start &= ~mask;
	end = page_end(end, mask);
	for (int i = 0; i < GPC_INVAL_MAX_INFLIGHT; i++) {
		struct gpci_inflight *f = &vm->inv.inflight[i];

		/*
		 * A half-filled entry (FILLING) is ignored: its invalidation
		 * has not walked the index yet and will, after it publishes
		 * STARTING, so it finds our (already indexed) cache and clears
		 * what we publish. Counting it would make refreshes retry and
		 * sleep for invalidations that may not overlap them at all.
		 */
		int st = atomic_load(&f->state);

		if (st >= GPCI_INFL_STARTING &&
		    overlaps(start, end, atomic_load(&f->start) & ~mask,
			     page_end(atomic_load(&f->end), mask)))
			return true;
	}
	return false;
}

/*
 * How long a waiting refresh may sleep: until the earliest lapse of a
 * pending mark (freeing those that have lapsed), or without limit (0) when
 * no mark is pending. Every other entry ends with a wake-up.
 */
static uint64_t pending_timeout(struct gpc_vm *vm)
{
	uint64_t now = gpci_now_ns(), first = UINT64_MAX;

	for (int i = 0; i < GPC_INVAL_MAX_INFLIGHT; i++) {
		struct gpci_inflight *f = &vm->inv.inflight[i];
		uint64_t exp;

		if (atomic_load(&f->state) != GPCI_INFL_PENDING ||
		    pending_lapse(vm, i, now))
			continue;
		exp = atomic_load(&f->expires_ns);
		if (exp < first)
			first = exp;
	}
	if (first == UINT64_MAX)
		return 0;
	return first > now ? first - now : 1;
}

void gpci_inflight_wait(struct gpc_vm *vm, uint64_t start, uint64_t end)
{
	for (;;) {
		int seen = atomic_load(&vm->inv.wake);
		uint64_t timeout;

		if (!gpci_inflight_overlaps(vm, start, end))
			return;
		timeout = pending_timeout(vm);
		/* A lapse freed an entry (and bumped inval_wake): look again. */
		if (atomic_load(&vm->inv.wake) != seen)
			continue;
		atomic_fetch_add(&vm->inv.sleepers, 1);
		/* A range_end after our check changed inval_wake: no sleep. */
		gpci_futex_wait(&vm->inv.wake, seen, timeout);
		atomic_fetch_sub(&vm->inv.sleepers, 1);
	}
}

bool gpci_inflight_in_progress(struct gpc_vm *vm)
{
	for (int i = 0; i < GPC_INVAL_MAX_INFLIGHT; i++) {
		int st = atomic_load(&vm->inv.inflight[i].state);

		if (st != GPCI_INFL_FREE && st != GPCI_INFL_PENDING)
			return true;
	}
	return false;
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
	uint64_t stamp;
	uint64_t need_cookie; /* grace period the readers need */
	uint64_t cleared;
};

static void need_grace(struct inval_walk *w, struct gpc_cache *c)
{
	uint64_t ck = gpci_cache_clear_cookie(c);

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

static int clear_one(struct gpc_cache *c, void *arg)
{
	struct inval_walk *w = arg;
	struct gpc_vcpu *v = gpci_cache_guest_vcpu(c);

	if (gpci_cache_invalidate(c, w->nonblock, &w->busy))
		w->cleared++;
	if (v) {
		if (gpci_vcpu_evict(v))
			note_vcpu(w, v);
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
		if (gpci_index_trylock(&vm->index))
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
		gpci_index_lock(&vm->index);
	}
	w->stamp = atomic_fetch_add(&vm->inv.stamp, 1) + 1;
	r = gpci_index_walk(&vm->index, start >> vm->page_shift,
			    (end - 1) >> vm->page_shift, w->stamp, clear_one,
			    w);
	gpci_index_unlock(&vm->index);
	gpci_restore_signals(&old);
	return r;
}

/* ---- waiting ---------------------------------------------------------- */

/*
 * Each vCPU we evicted (or, past the array, every vCPU of the vm). Other
 * invalidations may evict the same vCPUs concurrently; each waits for its own.
 */
static int wait_vcpus(struct inval_walk *w)
{
	int err = 0;

	for (unsigned int i = 0; i < w->nev; i++)
		if (gpci_vcpu_wait_outside(w->ev[i]))
			err = -EDEADLK;
	if (w->ev_all && gpci_vcpus_wait_outside(w->vm))
		err = -EDEADLK;
	return err;
}

/* Non-blocking: is any vCPU we evicted still in guest mode? */
static bool vcpus_inside(struct inval_walk *w)
{
	for (unsigned int i = 0; i < w->nev; i++)
		if (gpci_vcpu_inside(w->ev[i]))
			return true;
	return w->ev_all && gpci_vcpus_inside(w->vm);
}

/* -EDEADLK if an evicted vCPU is the caller's, still in guest mode. */
static int wait_blocking(struct inval_walk *w)
{
	struct gpc_vm *vm = w->vm;
	uint64_t t0 = gpci_now_ns(), t1;
	int err = 0;

	if (w->need_cookie &&
	    gpc_srcu_poll_state(vm->srcu, w->need_cookie) != 1)
		gpc_srcu_synchronize(vm->srcu);
	t1 = gpci_now_ns();
	atomic_fetch_add(&vm->inv.st_reader_wait_ns, t1 - t0);
	if (w->vcpus) {
		err = wait_vcpus(w);
		atomic_fetch_add(&vm->inv.st_vcpu_wait_ns, gpci_now_ns() - t1);
	}
	return err;
}

/* Non-blocking: whether everything is already quiet; else kick things on. */
static bool quiet_now(struct inval_walk *w)
{
	struct gpc_vm *vm = w->vm;

	if (w->busy)
		return false;
	/*
	 * A grace period may have passed since the caches we cleared were
	 * last used; if not, no reader may be inside right now, which is as
	 * good (the try's barrier follows our clears). Only when a reader is
	 * inside does the caller have to come back.
	 */
	if (w->need_cookie &&
	    gpc_srcu_poll_state(vm->srcu, w->need_cookie) != 1 &&
	    gpc_srcu_try_synchronize(vm->srcu) != 1) {
		/* Make sure the grace period a retry needs gets going. */
		gpc_srcu_start_poll(vm->srcu);
		return false;
	}
	return !(w->vcpus && vcpus_inside(w));
}

/* ---- the API ---------------------------------------------------------- */

int gpc_invalidate_range_start(struct gpc_vm *vm, uint64_t start, uint64_t end,
			       unsigned int flags)
{
	struct inval_walk w = { .vm = vm };
	bool was_pending;
	int slot, err;

	if (!vm || end <= start || (flags & ~GPC_INVAL_NONBLOCK))
		return -EINVAL;
	w.nonblock = flags & GPC_INVAL_NONBLOCK;
	/*
	 * Blocking: it waits for readers, so a caller inside a section would
	 * wait for itself. Nothing is registered yet. (A vCPU thread in guest
	 * mode is found when its vCPU must be waited for: wait_blocking.)
	 */
	if (!w.nonblock && gpci_section_held(vm))
		return -EDEADLK;
	slot = inflight_claim(vm, start, end, GPCI_INFL_PENDING,
			      GPCI_INFL_STARTING);
	was_pending = slot >= 0;
	if (!was_pending)
		slot = inflight_add(vm, start, end);
	if (slot < 0)
		return slot;
	gpci_hook(vm, GPC_HOOK_INVAL_START, NULL);
	err = walk_range(&w, start, end);
	atomic_fetch_add(&vm->inv.st_caches, w.cleared);
	gpci_hook(vm, GPC_HOOK_INVAL_CLEARED, NULL);
	if (!w.nonblock) {
		/*
		 * A vCPU of the caller's own thread in guest mode that the
		 * kick did not get out: waiting would never end. As after a
		 * non-blocking -EAGAIN, the caches stay invalid and the vCPU
		 * kicked; unlike it, nothing stays registered.
		 */
		if (wait_blocking(&w)) {
			inflight_del(vm, slot);
			return -EDEADLK;
		}
	} else if (err || !quiet_now(&w)) {
		inflight_park(vm, slot, was_pending);
		atomic_fetch_add(&vm->inv.st_eagain, 1);
		return -EAGAIN;
	}
	/*
	 * Only now may a range_end claim the entry. Were it claimable while we
	 * walk, a range_end of another invalidation of the same range could
	 * end ours; our -EAGAIN would then park an entry already freed, and
	 * the other one would stay in progress for good.
	 */
	atomic_store(&vm->inv.inflight[slot].state, GPCI_INFL_ACTIVE);
	atomic_fetch_add(&vm->inv.st_invalidations, 1);
	return 0;
}

static int bump_one(struct gpc_cache *c, void *arg)
{
	(void)arg;
	gpci_cache_bump_inval(c);
	return 0;
}

int gpc_invalidate_range_end(struct gpc_vm *vm, uint64_t start, uint64_t end)
{
	uint64_t stamp;
	sigset_t old;
	int slot;

	if (!vm || end <= start)
		return -EINVAL;
	/*
	 * ACTIVE -> ENDING by CAS: two range_end calls for the same range (two
	 * invalidations of it in progress) each claim a different entry. An
	 * ending entry still counts as in progress until it is freed.
	 */
	slot = inflight_claim(vm, start, end, GPCI_INFL_ACTIVE,
			      GPCI_INFL_ENDING);
	if (slot < 0)
		return slot;
	gpci_hook(vm, GPC_HOOK_INVAL_END, NULL);
	/* Bump before unregistering: a refresh must see one or the other. */
	gpci_block_signals(&old);
	gpci_index_lock(&vm->index);
	stamp = atomic_fetch_add(&vm->inv.stamp, 1) + 1;
	gpci_index_walk(&vm->index, start >> vm->page_shift,
			(end - 1) >> vm->page_shift, stamp, bump_one, NULL);
	gpci_index_unlock(&vm->index);
	gpci_restore_signals(&old);
	atomic_fetch_add(&vm->inv.seq, 1);
	inflight_del(vm, slot);
	return 0;
}

int gpc_invalidate_range_cancel(struct gpc_vm *vm, uint64_t start, uint64_t end)
{
	int slot;

	if (!vm || end <= start)
		return -EINVAL;
	slot = inflight_claim(vm, start, end, GPCI_INFL_PENDING,
			      GPCI_INFL_STARTING);
	if (slot < 0)
		return slot;
	inflight_del(vm, slot);
	return 0;
}

uint64_t gpc_invalidate_sequence(struct gpc_vm *vm)
{
	return vm ? atomic_load(&vm->inv.seq) : 0;
}

void gpci_inval_stats(struct gpc_vm *vm, struct gpc_vm_stats *st)
{
	st->invalidations = atomic_load(&vm->inv.st_invalidations);
	st->inval_caches = atomic_load(&vm->inv.st_caches);
	st->inval_eagain = atomic_load(&vm->inv.st_eagain);
	st->inval_pending_lapsed = atomic_load(&vm->inv.st_pending_lapsed);
	st->reader_wait_ns = atomic_load(&vm->inv.st_reader_wait_ns);
	st->vcpu_wait_ns = atomic_load(&vm->inv.st_vcpu_wait_ns);
}
