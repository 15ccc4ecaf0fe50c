// SPDX-License-Identifier: MIT
/*
 * cache.c - activate, refresh, deactivate: the slow paths of a cache.
 *
 * The fast path is inline in include/gpc/cache.h, its out-of-line helpers
 * and the copy calls are in cache_access.c; the write sections and what an
 * invalidation does to a cache are in cache_write.c, init and destroy in
 * cache_init.c. docs/design.md states the protocol; the comments here say
 * which race each step closes.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cache_priv.h"
#include "dirty_priv.h"
#include "index_priv.h"
#include "invalidate_priv.h"
#include "memslot_priv.h"
#include "vcpu_priv.h"
#include "vm_priv.h"

const _Atomic uint64_t gpc_cache_hva_gen;

static uint64_t page_down(struct gpc_vm *vm, uint64_t a)
{
	return a & ~(vm->page_size - 1);
}

static uint64_t page_up(struct gpc_vm *vm, uint64_t a)
{
	return (a + vm->page_size - 1) & ~(vm->page_size - 1);
}

/*
 * A nonempty range whose page-rounded end does not wrap around the address
 * space (the top page of an HVA range cannot be indexed or mapped).
 */
static bool range_ok(struct gpc_vm *vm, uint64_t addr, uint64_t len)
{
	uint64_t end = addr + len;

	return len && end > addr && end + (vm->page_size - 1) > end;
}

/* A write section that only clears valid; returns whether it was set. */
static bool clear_valid_section(struct gpc_cache *c)
{
	sigset_t old;
	bool was;

	gpci_block_signals(&old);
	gpci_cache_write_lock(c);
	was = gpci_cache_clear_valid(c);
	gpci_cache_write_unlock(c);
	gpci_restore_signals(&old);
	return was;
}

/*
 * Wait until nobody can still use what the cache translated before valid
 * was last cleared: host usage, a grace period since the clear (unless one
 * passed already); guest usage, its vCPU outside guest mode. On the rwlock
 * scheme every clear happened under the write lock, which excluded readers.
 */
static int quiesce(struct gpc_cache *c)
{
	struct gpc_cache_priv *p = c->priv;
	uint64_t cookie;

	if (p->usage == GPC_USAGE_GUEST) {
		/* -EDEADLK: the vCPU is the caller's, still in guest mode. */
		if (gpc_vcpu_mode(p->vcpu) != GPC_VCPU_OUTSIDE &&
		    gpci_vcpu_evict(p->vcpu))
			return gpci_vcpu_wait_outside(p->vcpu);
		return 0;
	}
	if (c->scheme != GPC_SCHEME_SRCU)
		return 0;
	cookie = atomic_load_explicit(&p->clear_cookie, memory_order_relaxed);
	if (cookie && gpc_srcu_poll_state(c->srcu, cookie) != 1)
		gpc_srcu_synchronize(c->srcu);
	return 0;
}

/*
 * After a publish or a deactivation nothing can be undone: if the vCPU we
 * would wait for is the caller's own, in guest mode, it is running this
 * code, not guest code, so no access can be in flight; say so and go on.
 */
static void quiesce_after(struct gpc_cache *c)
{
	if (quiesce(c))
		gpci_log(GPC_LOG_ERR,
			 "cache %p: its vCPU's own thread changed it in guest "
			 "mode; pointers it took before are stale",
			 (void *)c);
}

/* ---- the index of host pages ----------------------------------------- */

static void index_drop(struct gpc_cache *c)
{
	struct gpc_cache_priv *p = c->priv;
	struct gpc_vm *vm = c->vm;

	sigset_t old;

	if (!p->idx)
		return;
	/* Signals blocked: see index_trylock_spin() in invalidate.c. */
	gpci_block_signals(&old);
	gpci_index_lock(&vm->index);
	gpci_index_remove(&vm->index, p->idx, p->idx_n);
	gpci_index_unlock(&vm->index);
	gpci_restore_signals(&old);
	free(p->idx);
	p->idx = NULL;
	p->idx_n = 0;
}

/*
 * Make [hva, hva + len) visible to invalidations before it is translated
 * (system.md section 7): an invalidation that starts after this either
 * finds the cache and bumps its counter, or has already registered itself
 * in progress where the publish check will see it.
 */
static int index_set(struct gpc_cache *c, uint64_t hva, uint64_t len)
{
	struct gpc_cache_priv *p = c->priv;
	struct gpc_vm *vm = c->vm;
	uint64_t first = hva >> vm->page_shift;
	size_t n = (size_t)((page_up(vm, hva + len) >> vm->page_shift) - first);
	struct gpci_index_node *nodes;
	sigset_t old;

	if (p->idx && p->idx_first == first && p->idx_n == n)
		return 0;
	nodes = calloc(n, sizeof(*nodes));
	if (!nodes)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		nodes[i].page = first + i;
		nodes[i].c = c;
	}
	index_drop(c);
	gpci_block_signals(&old);
	gpci_index_lock(&vm->index);
	gpci_index_insert(&vm->index, nodes, n);
	gpci_index_maybe_grow(&vm->index);
	gpci_index_unlock(&vm->index);
	gpci_restore_signals(&old);
	p->idx = nodes;
	p->idx_n = n;
	p->idx_first = first;
	return 0;
}

/* ---- mappings --------------------------------------------------------- */

struct deferred_unmap {
	struct gpc_srcu_head head;
	const struct gpc_hostmem_ops *ops;
	void *ctx;
	void *base;
	uint64_t len;
};

static void release_mapping(struct gpc_cache *c)
{
	struct gpc_cache_priv *p = c->priv;
	struct gpc_vm *vm = c->vm;

	if (!p->mapped)
		return;
	if (vm->hm_ops->unmap)
		vm->hm_ops->unmap(vm->hm_ctx, p->map_base, p->map_len);
	atomic_fetch_add_explicit(&p->st_unmaps, 1, memory_order_relaxed);
	p->mapped = false;
	p->map_base = NULL;
}

/* ---- stage 1 ---------------------------------------------------------- */

/*
 * GPA -> HVA through the memslot table. A range that starts in a slot but
 * runs past its end is -EINVAL (a cache never spans memslots); no slot at
 * all is -EFAULT; a writable cache on a read-only slot is -EFAULT.
 */
static int stage1(struct gpc_cache *c, uint64_t *hva, uint64_t *gen)
{
	struct gpc_cache_priv *p = c->priv;
	struct gpc_vm *vm = c->vm;
	const struct gpci_memslot *s;
	int err = 0;

	if (p->hva_mode) {
		*hva = p->uhva;
		*gen = 0;
		return 0;
	}
	gpc_srcu_read_lock(vm->srcu);
	s = gpci_memslot_find(vm, p->gpa, gen);
	if (!s)
		err = -EFAULT;
	else if (p->len > s->gpa + s->size - p->gpa)
		err = -EINVAL;
	else if ((s->flags & GPC_MEMSLOT_READONLY) &&
		 !(c->flags & GPC_CACHE_READONLY))
		err = -EFAULT;
	else
		*hva = s->hva + (p->gpa - s->gpa);
	gpc_srcu_read_unlock(vm->srcu);
	return err;
}

/* ---- refresh ---------------------------------------------------------- */

struct xlate {
	uint64_t hva, gen, page, npages_len, pfn;
	void *base;
	bool fresh; /* base is a new mapping, not the current one */
	struct gpci_dirty *dirty; /* dirty log: the slot's, if it logs */
	uint64_t doff;		  /* ... and the cache's offset in it */
};

/* Stage 2: the page behind [hva, hva + len) and a pointer to it. */
static int stage2(struct gpc_cache *c, struct xlate *x)
{
	struct gpc_cache_priv *p = c->priv;
	struct gpc_vm *vm = c->vm;
	bool write = !(c->flags & GPC_CACHE_READONLY);
	int err;

	x->page = page_down(vm, x->hva);
	x->npages_len = page_up(vm, x->hva + p->len) - x->page;
	err = vm->hm_ops->translate(vm->hm_ctx, x->page, x->npages_len, write,
				    &x->pfn);
	if (err)
		return err;
	/* An unchanged page reuses its mapping (regression R2). */
	if (p->mapped && p->pfn == x->pfn && p->map_hva == x->page &&
	    p->map_len == x->npages_len) {
		x->base = p->map_base;
		x->fresh = false;
		return 0;
	}
	err = vm->hm_ops->map(vm->hm_ctx, x->page, x->npages_len, x->pfn, write,
			      &x->base);
	if (err)
		return err;
	atomic_fetch_add_explicit(&p->st_maps, 1, memory_order_relaxed);
	x->fresh = true;
	return 0;
}

static void drop_fresh(struct gpc_cache *c, struct xlate *x)
{
	struct gpc_vm *vm = c->vm;

	/* Never published: no reader can hold it. */
	if (x->fresh && vm->hm_ops->unmap)
		vm->hm_ops->unmap(vm->hm_ctx, x->base, x->npages_len);
	if (x->fresh)
		atomic_fetch_add_explicit(&c->priv->st_unmaps, 1,
					  memory_order_relaxed);
	x->fresh = false;
}

/*
 * Publish unless an overlapping invalidation ran since @snap or is in
 * progress. Checked under the write lock: an invalidation that registers
 * after our check takes this lock after us and clears what we published.
 */
static bool try_publish(struct gpc_cache *c, struct xlate *x, uint64_t snap)
{
	struct gpc_cache_priv *p = c->priv;
	uint64_t end = x->hva + p->len;
	bool ok;
	sigset_t old;

	gpci_block_signals(&old);
	gpci_cache_write_lock(c);
	/*
	 * Registry first, then the counter: range_end bumps the counter and
	 * then unregisters, so reading them in the opposite order guarantees
	 * we see at least one of the two (the Spin model's
	 * MUTANT_CODE_PUBLISH_ORDER shows the other order publishing a page
	 * retired by an invalidation that completed in between).
	 */
	ok = !gpci_inflight_overlaps(c->vm, x->hva, end) &&
	     atomic_load(&p->inval_count) == snap;
	if (ok) {
		atomic_store_explicit(&c->len, p->len, memory_order_relaxed);
		atomic_store_explicit(&c->gen, x->gen, memory_order_relaxed);
		atomic_store_explicit(&c->genp,
				      p->hva_mode ?
					      &gpc_cache_hva_gen :
					      gpci_memslot_gen_word(c->vm),
				      memory_order_relaxed);
		/* dirty log: what gpc_cache_write() marks (dirty.c). */
		gpci_dirty_cache_publish(c, x->dirty, x->doff);
		/* Valid last (order within the write section is cosmetic:
		 * readers discard the snapshot unless the count is unchanged). */
		atomic_store_explicit(&c->khva,
				      (uint8_t *)x->base + (x->hva - x->page),
				      memory_order_relaxed);
	}
	gpci_cache_write_unlock(c);
	gpci_restore_signals(&old);
	return ok;
}

/* Adopt the published translation as the cache's current mapping. */
static void adopt(struct gpc_cache *c, struct xlate *x)
{
	struct gpc_cache_priv *p = c->priv;

	if (x->fresh) {
		/*
		 * Readers that saw the old pointer before refresh_prepare
		 * cleared valid may still use it; new readers use the new one.
		 */
		if (p->mapped)
			quiesce_after(c);
		release_mapping(c);
		p->mapped = true;
		p->map_base = x->base;
		p->map_hva = x->page;
		p->map_len = x->npages_len;
		p->pfn = x->pfn;
	}
}

/*
 * Stage 1, then clear valid before anything else can happen (R3b), then
 * make sure nobody still uses the previous translation if we are about to
 * move away from it, then index the new range.
 */
static int refresh_prepare(struct gpc_cache *c, struct xlate *x)
{
	struct gpc_cache_priv *p = c->priv;
	struct gpc_vm *vm = c->vm;
	int err = stage1(c, &x->hva, &x->gen);
	uint64_t first;

	clear_valid_section(c);
	gpci_hook(vm, GPC_HOOK_REFRESH_STAGE1, c);
	if (err)
		return err;
	/*
	 * Leaving the indexed range, or replacing the mapping, while a reader
	 * may still use the old page would let an invalidation of the old
	 * range miss the cache and return too early: quiesce first.
	 */
	first = x->hva >> vm->page_shift;
	if (p->idx && (p->idx_first != first ||
		       p->idx_n != (page_up(vm, x->hva + p->len) -
				    page_down(vm, x->hva)) >>
					   vm->page_shift)) {
		err = quiesce(c);
		if (err)
			return err;
	}
	return index_set(c, x->hva, p->len);
}

/*
 * Valid for the address, length and generation it would be refreshed to?
 * Then leave it: clearing it would make every reader that shares it miss
 * (threads that missed together would take turns invalidating each other).
 */
static bool still_valid(struct gpc_cache *c)
{
	struct gpc_cache_priv *p = c->priv;
	uint64_t hva, gen;

	if (!atomic_load_explicit(&c->khva, memory_order_relaxed) ||
	    atomic_load_explicit(&c->len, memory_order_relaxed) != p->len ||
	    stage1(c, &hva, &gen))
		return false;
	return hva == p->pub_hva &&
	       gen == atomic_load_explicit(&c->gen, memory_order_relaxed) &&
	       gpc_cache_check(c, 0, p->len);
}

static int refresh_locked(struct gpc_cache *c)
{
	struct gpc_cache_priv *p = c->priv;
	struct gpc_vm *vm = c->vm;
	struct xlate x;
	uint64_t snap;
	int err;

	if (still_valid(c))
		return 0;
	for (;;) {
		memset(&x, 0, sizeof(x));
		err = refresh_prepare(c, &x);
		if (err)
			return err;
		/*
		 * dirty log: a writable cache's range counts as written while
		 * mapped. Marked now that its pages are in the index and before
		 * the publish: the order dirty.c's no-lost-write argument needs.
		 */
		if (!p->hva_mode)
			x.dirty = gpci_dirty_cache_refreshed(c, p->gpa, p->len,
							     &x.doff);
		snap = atomic_load(&p->inval_count);
		gpci_hook(vm, GPC_HOOK_REFRESH_UNLOCKED, c);
		err = stage2(c, &x);
		gpci_hook(vm, GPC_HOOK_REFRESH_TRANSLATED, c);
		if (err)
			return err;
		gpci_hook(vm, GPC_HOOK_REFRESH_PUBLISH, c);
		if (try_publish(c, &x, snap)) {
			p->pub_hva = x.hva;
			adopt(c, &x);
			atomic_fetch_add(&p->st_refreshes, 1);
			atomic_fetch_add(&vm->cst.refreshes, 1);
			return 0;
		}
		drop_fresh(c, &x);
		atomic_fetch_add(&p->st_retries, 1);
		atomic_fetch_add(&vm->cst.retries, 1);
		gpci_hook(vm, GPC_HOOK_REFRESH_RETRY, c);
		/* Sleep, not spin, while an overlapping one is in progress. */
		if (gpci_inflight_overlaps(vm, x.hva, x.hva + p->len)) {
			atomic_fetch_add(&p->st_waits, 1);
			atomic_fetch_add(&vm->cst.refresh_waits, 1);
			gpci_inflight_wait(vm, x.hva, x.hva + p->len);
		}
	}
}

/*
 * Slow paths that may wait for readers or for the cache's vCPU: refuse what
 * would wait for the caller itself (nothing changed).
 */
static int self_wait(struct gpc_cache *c)
{
	return gpci_section_held(c->vm) ? -EDEADLK : 0;
}

/*
 * Deactivating a guest-usage cache waits for its vCPU to leave guest mode:
 * kick it first (as the wait would), and refuse if it is the caller's own
 * and still inside, before anything changes.
 */
static int guest_self_wait(struct gpc_cache *c)
{
	struct gpc_vcpu *v = c->priv->vcpu;

	if (c->priv->usage != GPC_USAGE_GUEST || !gpci_vcpu_self_inside(v))
		return 0;
	gpci_vcpu_evict(v);
	return gpci_vcpu_self_inside(v) ? -EDEADLK : 0;
}

int gpc_cache_refresh(struct gpc_cache *c, uint64_t len)
{
	struct gpc_cache_priv *p;
	int err;

	if (!gpci_cache_ok(c))
		return -EINVAL;
	err = self_wait(c);
	if (err)
		return err;
	p = c->priv;
	err = gpci_refresh_lock(p);
	if (err)
		return err;
	err = -EINVAL;
	/* Never make an inactive cache valid (R5, R14). */
	if (!atomic_load(&p->active))
		goto out;
	if (len && len != p->len) {
		uint64_t base = p->hva_mode ? p->uhva : p->gpa;
		uint64_t old = p->len, hva, gen;

		if (!range_ok(c->vm, base, len))
			goto out;
		/* A length past the memslot is refused before anything moves. */
		p->len = len;
		if (stage1(c, &hva, &gen) == -EINVAL) {
			p->len = old;
			goto out;
		}
	}
	err = refresh_locked(c);
out:
	pthread_mutex_unlock(&p->refresh_lock);
	return err;
}

/* ---- activate / deactivate ------------------------------------------- */

static int activate(struct gpc_cache *c, uint64_t addr, uint64_t len,
		    bool hva_mode)
{
	struct gpc_cache_priv *p;
	int err;

	if (!gpci_cache_ok(c) || !range_ok(c->vm, addr, len))
		return -EINVAL;
	err = self_wait(c);
	if (err)
		return err;
	p = c->priv;
	err = gpci_refresh_lock(p);
	if (err)
		return err;
	if (atomic_load(&p->active) && p->usage == GPC_USAGE_GUEST)
		gpci_vcpu_del_cache(p->vcpu, c);
	p->hva_mode = hva_mode;
	p->gpa = hva_mode ? 0 : addr;
	p->uhva = hva_mode ? addr : 0;
	p->len = len;
	if (p->usage == GPC_USAGE_GUEST) {
		err = gpci_vcpu_add_cache(p->vcpu, c);
		if (err)
			goto out;
	}
	if (!atomic_exchange(&p->active, 1))
		atomic_fetch_add(&c->vm->cst.active, 1);
	gpci_hook(c->vm, GPC_HOOK_ACTIVATE, c);
	err = refresh_locked(c);
out:
	pthread_mutex_unlock(&p->refresh_lock);
	return err;
}

int gpc_cache_activate_gpa(struct gpc_cache *c, uint64_t gpa, uint64_t len)
{
	return activate(c, gpa, len, false);
}

int gpc_cache_activate_hva(struct gpc_cache *c, uint64_t hva, uint64_t len)
{
	return activate(c, hva, len, true);
}

/*
 * Inactive and invalid in one write section (valid => active holds at every
 * instant), then wait until nobody uses the page, then leave the index and
 * release the mapping (R10: serialized with refresh by refresh_lock).
 */
static void deactivate_locked(struct gpc_cache *c)
{
	struct gpc_cache_priv *p = c->priv;
	sigset_t old;

	gpci_block_signals(&old);
	gpci_cache_write_lock(c);
	atomic_store(&p->active, 0);
	gpci_cache_clear_valid(c);
	gpci_cache_write_unlock(c);
	gpci_restore_signals(&old);
	gpci_hook(c->vm, GPC_HOOK_DEACTIVATE, c);
	quiesce_after(c);
	index_drop(c);
	release_mapping(c);
	if (p->usage == GPC_USAGE_GUEST)
		gpci_vcpu_del_cache(p->vcpu, c);
	atomic_fetch_sub(&c->vm->cst.active, 1);
}

int gpc_cache_deactivate(struct gpc_cache *c)
{
	struct gpc_cache_priv *p;
	int err;

	if (!gpci_cache_ok(c))
		return -EINVAL;
	err = self_wait(c);
	if (err)
		return err;
	p = c->priv;
	err = gpci_refresh_lock(p);
	if (err)
		return err;
	if (atomic_load(&p->active)) {
		err = guest_self_wait(c);
		if (!err)
			deactivate_locked(c);
	}
	pthread_mutex_unlock(&p->refresh_lock);
	return err;
}
