// SPDX-License-Identifier: MIT
/*
 * vm.c - creating and destroying a vm and its counters.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hostmem_priv.h" /* gpci_hostmem_ops_ok */
#include "srcu_priv.h"
#include "vcpu_priv.h"
#include "vm_priv.h"

static int vm_config(struct gpc_vm *vm, const struct gpc_vm_config *cfg)
{
	long ps = sysconf(_SC_PAGESIZE);

	if (cfg && cfg->scheme != GPC_SCHEME_SRCU &&
	    cfg->scheme != GPC_SCHEME_RWLOCK)
		return -EINVAL;
	if (cfg && cfg->max_memslots > GPC_MEMSLOTS_MAX)
		return -EINVAL;
	if (cfg && cfg->hostmem && !gpci_hostmem_ops_ok(cfg->hostmem))
		return -EINVAL;
	vm->scheme = cfg ? cfg->scheme : GPC_SCHEME_SRCU;
	vm->hm_ops = cfg && cfg->hostmem ? cfg->hostmem :
					   &gpc_hostmem_direct_ops;
	vm->hm_ctx = cfg ? cfg->hostmem_ctx : NULL;
	vm->max_memslots = cfg && cfg->max_memslots ? cfg->max_memslots :
						      GPC_MEMSLOTS_MAX;
	vm->page_size = ps > 0 ? (uint64_t)ps : 4096;
	vm->page_shift = (unsigned int)__builtin_ctzll(vm->page_size);
	snprintf(vm->name, sizeof(vm->name), "%s",
		 cfg && cfg->name ? cfg->name : "vm");
	return 0;
}

/*
 * The vm's own domain (@shared NULL), or a user's count on @shared: either
 * way the vm is one of the domain's users until gpc_vm_destroy(), so
 * gpc_srcu_destroy() of it returns -EBUSY instead of freeing it from under
 * the vm. No worker thread is started for a shared domain: the domain's
 * own worker runs every vm's deferred frees.
 */
static int vm_domain(struct gpc_vm *vm, const struct gpc_vm_config *cfg,
		     struct gpc_srcu *shared)
{
	struct gpc_srcu_attr attr = { 0 };
	int err;

	if (shared) {
		err = gpci_srcu_get(shared);
		if (!err)
			vm->srcu = shared;
		return err;
	}
	attr.name = vm->name;
	attr.stall_ms = cfg ? cfg->srcu_stall_ms : 0;
	err = gpc_srcu_init(&vm->own_srcu, &attr);
	if (err)
		return err;
	err = gpci_srcu_get(&vm->own_srcu);
	if (err) {
		gpc_srcu_destroy(&vm->own_srcu);
		return err;
	}
	vm->srcu = &vm->own_srcu;
	return 0;
}

/*
 * Undo vm_domain(). The caller checked that no thread is inside a section
 * of an own domain; one that entered since (a section of a vm being
 * destroyed: the caller's bug, but not one to turn into a use after free
 * of the domain, which the library's list of domains still points at) is
 * waited for: it cannot be the caller, whose own section was refused
 * before (-EDEADLK), so it ends.
 */
static void vm_domain_release(struct gpc_vm *vm)
{
	bool logged = false;

	gpci_srcu_put(vm->srcu);
	if (vm->srcu != &vm->own_srcu)
		return;
	while (gpc_srcu_destroy(vm->srcu) == -EBUSY) {
		if (!logged)
			gpci_log(GPC_LOG_ERR,
				 "vm %s: destroy: a thread entered the vm's "
				 "domain meanwhile; waiting for it",
				 vm->name);
		logged = true;
		usleep(1000);
	}
}

static int vm_create(const struct gpc_vm_config *cfg, struct gpc_srcu *shared,
		     struct gpc_vm **out)
{
	struct gpc_vm *vm;
	int err;

	if (!out)
		return -EINVAL;
	vm = aligned_alloc(GPC_CACHELINE, (sizeof(*vm) + GPC_CACHELINE - 1) &
						  ~(size_t)(GPC_CACHELINE - 1));
	if (!vm)
		return -ENOMEM;
	memset(vm, 0, sizeof(*vm));
	err = vm_config(vm, cfg);
	if (err)
		goto free_vm;
	pthread_mutex_init(&vm->objs_lock, NULL);
	err = vm_domain(vm, cfg, shared);
	if (err)
		goto locks;
	err = gpci_index_init(&vm->index);
	if (err)
		goto srcu;
	err = gpci_memslots_init(vm);
	if (err)
		goto index;
	*out = vm;
	return 0;
index:
	gpci_index_fini(&vm->index);
srcu:
	vm_domain_release(vm);
locks:
	pthread_mutex_destroy(&vm->objs_lock);
free_vm:
	free(vm);
	return err;
}

int gpc_vm_create(const struct gpc_vm_config *cfg, struct gpc_vm **out)
{
	return vm_create(cfg, NULL, out);
}

int gpc_vm_create_on(const struct gpc_vm_config *cfg, struct gpc_srcu *domain,
		     struct gpc_vm **out)
{
	if (!domain)
		return -EINVAL;
	return vm_create(cfg, domain, out);
}

static bool vm_busy(struct gpc_vm *vm)
{
	bool busy;

	pthread_mutex_lock(&vm->objs_lock);
	busy = vm->ncaches || vm->nvcpus_live;
	pthread_mutex_unlock(&vm->objs_lock);
	return busy || gpci_inflight_in_progress(vm) ||
	       gpci_memslots_pinned(vm);
}

/*
 * Every refusal comes before anything is torn down, so a refused destroy
 * leaves a vm that works and can be destroyed later. The order of the
 * checks: objects first (-EBUSY), then the caller's own section (-EDEADLK:
 * the barrier below would wait for a grace period that waits for the
 * caller), then, for the vm's own domain, other vms created on it and
 * other threads' sections of it (-EBUSY: gpc_srcu_destroy() would refuse
 * after the memslot table is gone).
 */
int gpc_vm_destroy(struct gpc_vm *vm)
{
	int err;

	if (!vm)
		return -EINVAL;
	if (vm_busy(vm))
		return -EBUSY;
	/*
	 * Deferred frees (old memslot tables, mappings) run before we go.
	 * -EDEADLK inside a section of the domain (of any vm on it).
	 */
	err = gpc_srcu_barrier(vm->srcu);
	if (err)
		return err;
	if (vm->srcu == &vm->own_srcu &&
	    (gpci_srcu_users(vm->srcu) > 1 || gpci_srcu_readers(vm->srcu)))
		return -EBUSY;
	gpci_memslots_fini(vm);
	vm_domain_release(vm);
	gpci_index_fini(&vm->index);
	gpci_vcpus_free(atomic_load(&vm->vcpus));
	gpci_testhook_fini(vm);
	pthread_mutex_destroy(&vm->objs_lock);
	free(vm);
	return 0;
}

int gpc_vm_get_stats(struct gpc_vm *vm, struct gpc_vm_stats *st)
{
	if (!vm || !st)
		return -EINVAL;
	memset(st, 0, sizeof(*st));
	/*
	 * Hits per cache, not the domain's per-thread event sums: on a shared
	 * domain those are every vm's. Both are counted by the same call.
	 */
	st->hits = atomic_load_explicit(&vm->st_hits_retired,
					memory_order_relaxed);
	st->misses = atomic_load_explicit(&vm->st_misses_retired,
					  memory_order_relaxed);
	pthread_mutex_lock(&vm->objs_lock);
	for (struct gpc_cache_priv *p = vm->caches; p; p = p->vm_next) {
		st->hits +=
			atomic_load_explicit(&p->c->hits, memory_order_relaxed);
		st->misses += atomic_load_explicit(&p->c->misses,
						   memory_order_relaxed);
	}
	pthread_mutex_unlock(&vm->objs_lock);
	gpci_cache_vm_stats(vm, st);
	gpci_inval_stats(vm, st);
	gpci_memslot_stats(vm, st);
	st->kicks = atomic_load(&vm->st_kicks);
	return 0;
}

/* ---- the registry of live caches and vCPUs ------------------------------ */

void gpci_vm_add_cache(struct gpc_vm *vm, struct gpc_cache_priv *p)
{
	pthread_mutex_lock(&vm->objs_lock);
	p->vm_next = vm->caches;
	if (vm->caches)
		vm->caches->vm_prev = p;
	vm->caches = p;
	vm->ncaches++;
	pthread_mutex_unlock(&vm->objs_lock);
}

/* The cache's counts move to the vm's totals in the same step. */
void gpci_vm_del_cache(struct gpc_vm *vm, struct gpc_cache_priv *p)
{
	pthread_mutex_lock(&vm->objs_lock);
	if (p->vm_prev)
		p->vm_prev->vm_next = p->vm_next;
	else
		vm->caches = p->vm_next;
	if (p->vm_next)
		p->vm_next->vm_prev = p->vm_prev;
	vm->ncaches--;
	atomic_fetch_add(&vm->st_misses_retired, atomic_load(&p->c->misses));
	atomic_fetch_add(&vm->st_hits_retired, atomic_load(&p->c->hits));
	pthread_mutex_unlock(&vm->objs_lock);
}

void gpci_vm_add_vcpu(struct gpc_vm *vm, struct gpc_vcpu *v)
{
	pthread_mutex_lock(&vm->objs_lock);
	v->next = atomic_load(&vm->vcpus);
	/* Release: a lock-free walker sees a fully built vCPU. */
	atomic_store_explicit(&vm->vcpus, v, memory_order_release);
	vm->nvcpus_live++;
	pthread_mutex_unlock(&vm->objs_lock);
}

void gpci_vm_del_vcpu(struct gpc_vm *vm)
{
	pthread_mutex_lock(&vm->objs_lock);
	vm->nvcpus_live--;
	pthread_mutex_unlock(&vm->objs_lock);
}

enum gpc_scheme gpc_vm_scheme(const struct gpc_vm *vm)
{
	return vm->scheme;
}

struct gpc_srcu *gpc_vm_srcu(struct gpc_vm *vm)
{
	return vm ? vm->srcu : NULL;
}
