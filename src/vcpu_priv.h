/* SPDX-License-Identifier: MIT */
/*
 * vcpu_priv.h - a vCPU's private state (vcpu.c); not installed.
 *
 * Caches of guest usage register with their vCPU (cache.c), invalidations
 * evict vCPUs and wait for them to leave guest mode (invalidate.c), and
 * the vm frees them (vm.c), all through the functions below. The vm keeps
 * the list of every vCPU ever created (vm_priv.h, gpci_vm_vcpus).
 */
#ifndef GPC_VCPU_PRIV_H
#define GPC_VCPU_PRIV_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <gpc/gpc.h>

struct gpc_vcpu {
	struct gpc_vm *vm;
	_Atomic int mode;
	_Atomic unsigned int requests;
	gpc_kick_fn *kick;
	void *kick_ctx;
	_Atomic int exit_waiters;
	/* The thread that last entered guest mode (pthread_self()). */
	_Atomic uintptr_t guest_thread;
	_Atomic int dead;
	_Atomic unsigned int nref; /* guest-usage caches that name it */
	pthread_mutex_t lock;	   /* the guest-usage cache list */
	struct gpc_cache **caches;
	unsigned int ncaches, cap;
	struct gpc_vcpu
		*next; /* the vm's list (vm.c sets it, before publishing) */
	_Atomic uint64_t st_entries, st_bailouts, st_kicks, st_handled;
};

int gpci_vcpu_add_cache(struct gpc_vcpu *v, struct gpc_cache *c);
void gpci_vcpu_del_cache(struct gpc_vcpu *v, struct gpc_cache *c);
/* Post GPC_REQ_CACHE_INVALID; kick if in guest mode. Returns whether the
 * vCPU was in (or leaving) guest mode, so the caller must wait for it.
 * Context: any context, async-signal-safe. */
bool gpci_vcpu_evict(struct gpc_vcpu *v);
/* Wait until the vCPU is outside guest mode, re-kicking it now and then;
 * -EDEADLK instead if the caller is the thread that has it in guest mode
 * (after the kick it is still inside: it can never leave). 0 otherwise.
 * Context: may sleep. */
int gpci_vcpu_wait_outside(struct gpc_vcpu *v);
/* Whether a cache of @vm may name @v (same vm, not destroyed). */
bool gpci_vcpu_usable(struct gpc_vcpu *v, struct gpc_vm *vm);
/* A guest-usage cache names @v / no longer does (gpc_vcpu_destroy refuses
 * while one does). Any context. */
void gpci_vcpu_get(struct gpc_vcpu *v);
void gpci_vcpu_put(struct gpc_vcpu *v);
/* Whether the vCPU is in or leaving guest mode. Any context. */
bool gpci_vcpu_inside(struct gpc_vcpu *v);
/*
 * Whether the calling thread is the one that put @v into guest mode, and
 * it is still there: waiting for it to leave would wait for ourselves.
 * Any context.
 */
bool gpci_vcpu_self_inside(struct gpc_vcpu *v);
/* The same two for every vCPU of @vm. */
int gpci_vcpus_wait_outside(struct gpc_vm *vm);
bool gpci_vcpus_inside(struct gpc_vm *vm);
/* Free a list of vCPUs (gpc_vm_destroy, once none is live). */
void gpci_vcpus_free(struct gpc_vcpu *head);

#endif /* GPC_VCPU_PRIV_H */
