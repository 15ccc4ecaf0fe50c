// SPDX-License-Identifier: MIT
/*
 * vm.c - creating and destroying a vm and its counters.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

static void vm_locks_init(struct gpc_vm *vm)
{
	pthread_mutex_init(&vm->slots_lock, NULL);
	pthread_mutex_init(&vm->index_lock, NULL);
	pthread_mutex_init(&vm->objs_lock, NULL);
}

static void vm_locks_fini(struct gpc_vm *vm)
{
	pthread_mutex_destroy(&vm->slots_lock);
	pthread_mutex_destroy(&vm->index_lock);
	pthread_mutex_destroy(&vm->objs_lock);
}

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
	vm_locks_init(vm);
	attr.name = vm->name;
	attr.stall_ms = cfg ? cfg->srcu_stall_ms : 0;
	err = gpc_srcu_init(&vm->srcu, &attr);
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
	gpc_srcu_destroy(&vm->srcu);
locks:
	vm_locks_fini(vm);
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
	return busy || gpci_inflight_in_progress(vm);
}

static void free_vcpus(struct gpc_vm *vm)
{
	struct gpc_vcpu *v = atomic_load(&vm->vcpus), *next;

	for (; v; v = next) {
		next = v->next;
		pthread_mutex_destroy(&v->lock);
		free(v->caches);
		free(v);
	}
}

int gpc_vm_destroy(struct gpc_vm *vm)
{
	int err;

	if (!vm)
		return -EINVAL;
	if (vm_busy(vm))
		return -EBUSY;
	/* Deferred frees (old memslot tables, mappings) run before we go. */
	err = gpc_srcu_barrier(&vm->srcu);
	if (err)
		return err;
	gpci_memslots_fini(vm);
	err = gpc_srcu_destroy(&vm->srcu);
	if (err) {
		gpci_log(GPC_LOG_ERR, "vm %s: destroy: srcu domain busy (%d)",
			 vm->name, err);
		return err;
	}
	gpci_index_fini(&vm->index);
	free_vcpus(vm);
	gpci_testhook_fini(vm);
	vm_locks_fini(vm);
	free(vm);
	return 0;
}

int gpc_vm_get_stats(struct gpc_vm *vm, struct gpc_vm_stats *st)
{
	if (!vm || !st)
		return -EINVAL;
	memset(st, 0, sizeof(*st));
	st->hits = gpc_srcu_events(&vm->srcu);
	st->misses = atomic_load_explicit(&vm->st_misses_retired,
					  memory_order_relaxed);
	pthread_mutex_lock(&vm->objs_lock);
	for (struct gpc_cache_priv *p = vm->caches; p; p = p->vm_next)
		st->misses += atomic_load_explicit(&p->c->misses,
						   memory_order_relaxed);
	pthread_mutex_unlock(&vm->objs_lock);
	st->refreshes = atomic_load(&vm->st_refreshes);
	st->refresh_retries = atomic_load(&vm->st_retries);
	st->refresh_waits = atomic_load(&vm->st_refresh_waits);
	st->invalidations = atomic_load(&vm->st_invalidations);
	st->inval_caches = atomic_load(&vm->st_inval_caches);
	st->inval_eagain = atomic_load(&vm->st_eagain);
	st->inval_pending_lapsed = atomic_load(&vm->st_pending_lapsed);
	st->kicks = atomic_load(&vm->st_kicks);
	st->reader_wait_ns = atomic_load(&vm->st_reader_wait_ns);
	st->vcpu_wait_ns = atomic_load(&vm->st_vcpu_wait_ns);
	st->memslot_changes = atomic_load(&vm->st_memslot_changes);
	st->active_caches = atomic_load(&vm->st_active);
	return 0;
}

enum gpc_scheme gpc_vm_scheme(const struct gpc_vm *vm)
{
	return vm->scheme;
}

struct gpc_srcu *gpc_vm_srcu(struct gpc_vm *vm)
{
	return vm ? &vm->srcu : NULL;
}
