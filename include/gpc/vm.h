/* SPDX-License-Identifier: MIT */
/*
 * gpc/vm.h - the virtual machine a set of caches belongs to.
 *
 * A vm owns the memslot table (gpc/memslot.h), the invalidation state
 * (gpc/invalidate.h), the index of active caches by host range, the read-side
 * domain of its caches, its registered vCPUs (gpc/vcpu.h) and the host memory
 * stage that turns host virtual addresses into pages (gpc/hostmem.h).
 *
 * Lock order inside the library, outermost first (all are leaves with
 * respect to the caller's locks: no library function calls back into the
 * application while holding one, except the kick callbacks documented as
 * such and, in the test build only, the hooks of testing/gpc_testing.h):
 *   cache refresh lock -> vm memslot lock -> vm index lock ->
 *   cache write lock.
 * The registry of invalidations in progress is lock free.
 */
#ifndef GPC_VM_H
#define GPC_VM_H

#include <stdint.h>

#include <gpc/srcu.h>

#ifdef __cplusplus
extern "C" {
#endif

struct gpc_vm;
struct gpc_cache;
struct gpc_hostmem_ops;

/* How readers of the caches are protected from invalidation. */
enum gpc_scheme {
	/* Readers: SRCU read section + seqcount snapshot; never block. */
	GPC_SCHEME_SRCU = 0,
	/* Readers: a per-cache reader-writer lock, as in KVM today. */
	GPC_SCHEME_RWLOCK = 1,
};

struct gpc_vm_config {
	enum gpc_scheme scheme;
	/* Host memory stage; NULL means the direct stage (khva = hva). */
	const struct gpc_hostmem_ops *hostmem;
	void *hostmem_ctx;
	/* Memslot ids are 0 .. max_memslots-1; 0 means 32764. */
	unsigned int max_memslots;
	/* Passed to the vm's SRCU domain; 0 means its default. */
	unsigned int srcu_stall_ms;
	const char *name;
};

/*
 * Per-vm counters since gpc_vm_create() (sums over its caches, destroyed
 * ones included, plus vm-wide events); one definition each.
 */
struct gpc_vm_stats {
	/* begins that hit, of caches with GPC_CACHE_COUNT_HITS (the
	 * event counts of the vm's SRCU domain) */
	uint64_t hits;
	/* begins and try_begins that missed: gpc_cache_stats.misses summed */
	uint64_t misses;
	/* refreshes that published a translation (activates included) */
	uint64_t refreshes;
	/* refresh rounds repeated after an overlapping invalidation */
	uint64_t refresh_retries;
	/* refresh sleeps while an overlapping invalidation was in progress */
	uint64_t refresh_waits;
	/* range_start calls that returned 0 */
	uint64_t invalidations;
	/* caches found valid and cleared by range_start (a cache cleared by
	 * two invalidations counts twice) */
	uint64_t inval_caches;
	/* non-blocking range_start calls that returned -EAGAIN */
	uint64_t inval_eagain;
	/* pending marks that lapsed (neither retried nor cancelled) */
	uint64_t inval_pending_lapsed;
	/* calls of the vCPUs' kick callbacks: gpc_vcpu_stats.kicks summed */
	uint64_t kicks;
	/* ns range_start spent waiting for grace periods (readers) */
	uint64_t reader_wait_ns;
	/* ns range_start spent waiting for vCPUs to leave guest mode */
	uint64_t vcpu_wait_ns;
	/* memslot tables published (each successful memslot change) */
	uint64_t memslot_changes;
	/* caches active now (not a running count) */
	uint64_t active_caches;
};

/**
 * gpc_vm_create - create a vm.
 * @cfg: configuration, or NULL for all defaults (srcu scheme, direct stage).
 * @out: receives the vm.
 *
 * Return: 0; -EINVAL for a NULL @out or an unknown scheme; -ENOMEM; -EAGAIN
 * if the SRCU domain's worker cannot be started.
 * Context: may sleep.
 */
int gpc_vm_create(const struct gpc_vm_config *cfg, struct gpc_vm **out);

/**
 * gpc_vm_destroy - destroy a vm that has no caches and no vCPUs left.
 *
 * Caches and vCPUs refer to their vm, so the vm refuses to go while any
 * exist: destroy them first (gpc_cache_destroy deactivates an active cache).
 *
 * Return: 0; -EINVAL for NULL; -EBUSY if caches or vCPUs still exist or an
 * invalidation is in progress (nothing is changed).
 * Context: may sleep.
 */
int gpc_vm_destroy(struct gpc_vm *vm);

/**
 * gpc_vm_get_stats - read the vm's counters.
 *
 * Return: 0; -EINVAL if an argument is NULL.
 * Context: may sleep briefly (sums the caches under a mutex).
 */
int gpc_vm_get_stats(struct gpc_vm *vm, struct gpc_vm_stats *st);

/**
 * gpc_vm_scheme - the vm's read-side scheme.
 *
 * Context: any context.
 */
enum gpc_scheme gpc_vm_scheme(const struct gpc_vm *vm);

/**
 * gpc_vm_srcu - the vm's SRCU domain (memslot table readers use it too).
 *
 * Context: any context.
 */
struct gpc_srcu *gpc_vm_srcu(struct gpc_vm *vm);

#ifdef __cplusplus
}
#endif

#endif /* GPC_VM_H */
