// SPDX-License-Identifier: MIT
/*
 * vm.c - creating and destroying a vm and its counters.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

int gpc_vm_create(const struct gpc_vm_config *cfg, struct gpc_vm **out)
{
	struct gpc_srcu_attr attr = { 0 };
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
	attr.name = vm->name;
	attr.stall_ms = cfg ? cfg->srcu_stall_ms : 0;
	vm->srcu = &vm->own_srcu;
	err = gpc_srcu_init(vm->srcu, &attr);
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
	gpc_srcu_destroy(vm->srcu);
locks:
	pthread_mutex_destroy(&vm->objs_lock);
free_vm:
	free(vm);
	return err;
}

static bool vm_busy(struct gpc_vm *vm)
{
	bool busy;

	pthread_mutex_lock(&vm->objs_lock);
	busy = vm->ncaches || vm->nvcpus_live;
	pthread_mutex_unlock(&vm->objs_lock);
	return busy || gpci_inflight_in_progress(vm) || gpci_memslots_pinned(vm);
}

int gpc_vm_destroy(struct gpc_vm *vm)
{
	int err;

	if (!vm)
		return -EINVAL;
	if (vm_busy(vm))
		return -EBUSY;
	/* Deferred frees (old memslot tables, mappings) run before we go. */
	err = gpc_srcu_barrier(vm->srcu);
	if (err)
		return err;
	gpci_memslots_fini(vm);
	err = gpc_srcu_destroy(vm->srcu);
	if (err) {
		gpci_log(GPC_LOG_ERR, "vm %s: destroy: srcu domain busy (%d)",
			 vm->name, err);
		return err;
	}
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
	st->hits = gpc_srcu_events(vm->srcu);
	st->misses = atomic_load_explicit(&vm->st_misses_retired,
					  memory_order_relaxed);
	pthread_mutex_lock(&vm->objs_lock);
	for (struct gpc_cache_priv *p = vm->caches; p; p = p->vm_next)
		st->misses += atomic_load_explicit(&p->c->misses,
						   memory_order_relaxed);
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

/* The cache's misses move to the vm's total in the same step. */
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
