/* SPDX-License-Identifier: MIT */
/*
 * vm_priv.h - struct gpc_vm (vm.c); not installed.
 *
 * A vm is the container of every module's per-vm state: each part is a
 * struct defined in its module's private header and touched only by that
 * module (docs/design.md, "Module map"). What vm.c itself owns is the
 * configuration, read by everyone, and the registry of live caches and
 * vCPUs, changed only through the gpci_vm_* calls below.
 */
#ifndef GPC_VM_PRIV_H
#define GPC_VM_PRIV_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <gpc/gpc.h>

#include "cache_priv.h"
#include "index_priv.h"
#include "internal.h"
#include "invalidate_priv.h"
#include "memslot_priv.h"
#include "testhook.h"

struct gpc_vm {
	/* Configuration: set by gpc_vm_create, read by every module. */
	/*
	 * The domain of its readers: &own_srcu, or a domain shared with other
	 * vms (gpc_vm_create_on). The vm is counted as a user of it either
	 * way (srcu_priv.h). The per-thread slot user words (the memslot hit
	 * hint, the rwlock-scheme section count) are per (thread, domain), so
	 * vms on one domain share them: the hint is checked like any
	 * candidate, and a section of any vm on the domain counts as held.
	 */
	struct gpc_srcu *srcu;
	enum gpc_scheme scheme;
	const struct gpc_hostmem_ops *hm_ops;
	void *hm_ctx;
	unsigned int max_memslots;
	unsigned int page_shift;
	uint64_t page_size;
	char name[32];

	struct gpci_memslot_state ms;  /* memslot.c */
	struct gpci_inval_state inv;   /* invalidate.c */
	struct gpci_index index;       /* index.c: active caches by host page */
	struct gpci_cache_vmstats cst; /* cache.c */

	/* The registry (vm.c): live caches and vCPUs, under objs_lock. */
	pthread_mutex_t objs_lock;
	unsigned int ncaches;
	struct gpc_cache_priv *caches;	    /* live caches, for counters */
	_Atomic uint64_t st_misses_retired; /* of caches gone */
	_Atomic uint64_t st_hits_retired;   /* of caches gone */
	/* All vCPUs ever created, freed with the vm; pushed with release so
	 * an invalidation may walk the list without a lock. */
	_Atomic(struct gpc_vcpu *) vcpus;
	unsigned int nvcpus_live;
	_Atomic uint64_t st_kicks;

	/* The domain the vm created for itself (vm.c), unless shared. */
	struct gpc_srcu own_srcu;

	GPCI_TESTHOOK_VM_FIELDS
};

/* Register a cache / vCPU with @vm, and take it out again. May sleep. */
void gpci_vm_add_cache(struct gpc_vm *vm, struct gpc_cache_priv *p);
void gpci_vm_del_cache(struct gpc_vm *vm, struct gpc_cache_priv *p);
void gpci_vm_add_vcpu(struct gpc_vm *vm, struct gpc_vcpu *v);
void gpci_vm_del_vcpu(struct gpc_vm *vm);

/* The head of the list of every vCPU ever created. Any context. */
static inline struct gpc_vcpu *gpci_vm_vcpus(struct gpc_vm *vm)
{
	return atomic_load_explicit(&vm->vcpus, memory_order_acquire);
}

/* Count a kick (gpc_vm_stats.kicks). Any context. */
static inline void gpci_vm_count_kick(struct gpc_vm *vm)
{
	atomic_fetch_add_explicit(&vm->st_kicks, 1, memory_order_relaxed);
}

#endif /* GPC_VM_PRIV_H */
