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
 *
 * Destroying objects, one rule for all of them: a destroy that returns 0
 * ends the object, and destroying an object that is ended already is a
 * no-op returning 0 wherever its memory is still valid - which decides
 * what a second destroy does:
 *  - objects the caller allocates and the library initialises in place
 *    (struct gpc_cache, struct gpc_srcu): the memory is the caller's, so a
 *    second destroy returns 0, and so does a destroy of zero-filled storage
 *    that was never initialised; the storage may be initialised again
 *    (an init of a live one is -EBUSY);
 *  - a struct gpc_vcpu: the vm keeps every vCPU's memory until the vm
 *    goes, so until then a second gpc_vcpu_destroy() returns 0;
 *  - the other objects the library allocates and hands out by pointer (a
 *    vm, a KVM binding and its KVM vCPUs, a gpc_hostmem) are freed by
 *    their destroy call: any later use of the pointer, a second destroy
 *    included, is undefined (a use after free; no error can be promised
 *    for freed memory).
 * Every other call on an ended object fails as documented (-EINVAL; a
 * destroyed cache misses like a zero-filled one).
 * A destroy that refuses (-EBUSY, -EDEADLK) changes nothing.
 *
 * Domains: every vm has one SRCU domain (gpc/srcu.h) for its readers, its
 * own (gpc_vm_create()) or one shared with other vms (gpc_vm_create_on()).
 * docs/srcu.md, "Shared domains", has what sharing costs and buys.
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
	/*
	 * Memslot ids are 0 .. max_memslots-1; 0 means GPC_MEMSLOTS_MAX
	 * (32764), the most a vm can have: more is refused (-EINVAL).
	 */
	unsigned int max_memslots;
	/*
	 * Passed to the vm's own SRCU domain; 0 means its default. Ignored by
	 * gpc_vm_create_on() (the domain has its own).
	 */
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
 * gpc_vm_create - create a vm with an SRCU domain of its own.
 * @cfg: configuration, or NULL for all defaults (srcu scheme, direct stage).
 * @out: receives the vm; left alone on failure.
 *
 * The vm's domain (gpc_vm_srcu()) is created with it, with its own worker
 * thread, and destroyed with it.
 *
 * Return: 0; -EINVAL if @cfg is not one the library takes (checked before
 * anything is allocated, each a property of the arguments the caller can
 * test itself): a NULL @out, an unknown scheme, max_memslots above
 * GPC_MEMSLOTS_MAX (32764), or a host memory ops table (@cfg->hostmem)
 * without translate or map (unmap may be NULL: nothing to undo);
 * -ENOMEM; -EAGAIN if the SRCU domain's worker cannot be started.
 * Context: may sleep.
 */
int gpc_vm_create(const struct gpc_vm_config *cfg, struct gpc_vm **out);

/**
 * gpc_vm_create_on - create a vm whose readers use an existing SRCU domain.
 * @cfg: as for gpc_vm_create(); srcu_stall_ms is ignored.
 * @domain: an initialised domain (gpc_srcu_init()), which any number of
 *          vms (of either scheme) and the application itself may share;
 *          also another vm's own (gpc_vm_srcu()), whose vm must then be
 *          destroyed last.
 * @out: receives the vm; left alone on failure.
 *
 * No thread is started: the domain's one worker serves every vm on it. The
 * vm counts as a user of @domain until gpc_vm_destroy(), and
 * gpc_srcu_destroy(@domain) returns -EBUSY meanwhile: destroy the vms
 * first, then the domain.
 *
 * What sharing means: a read section is a section of the domain, whichever
 * vm it was entered through, so a reader of one vm delays the grace periods
 * (memslot changes, blocking invalidations, deactivations) of every vm on
 * the domain, and the calls that return -EDEADLK inside a section of their
 * vm (memslot changes, blocking gpc_invalidate_range_start(), refresh,
 * activate, gpc_vm_destroy(), ...) return it inside a section of any vm on
 * the domain, cache sections of the rwlock scheme included (on that scheme
 * the check is conservative: it does not know which vm's cache the section
 * is on). In exchange a thread has one slot for all of them, and a
 * back-end serving many devices keeps within the GPC_SRCU_TLS_ENTRIES
 * domains that have the inline fast path (docs/srcu.md, "Shared domains").
 *
 * Return: 0; -EINVAL for a NULL or not initialised (or destroyed) @domain,
 * or a @cfg that gpc_vm_create() refuses (-EINVAL there: NULL @out,
 * unknown scheme, max_memslots above GPC_MEMSLOTS_MAX, an ops table
 * without translate or map); -ENOMEM.
 * Context: may sleep.
 */
int gpc_vm_create_on(const struct gpc_vm_config *cfg, struct gpc_srcu *domain,
		     struct gpc_vm **out);

/**
 * gpc_vm_destroy - destroy a vm that has no caches and no vCPUs left.
 * @vm: a vm from gpc_vm_create() or gpc_vm_create_on(); freed on success,
 *      after which any use of it (a second destroy too) is undefined.
 *
 * Caches and vCPUs refer to their vm, so the vm refuses to go while any
 * exist: destroy them first (gpc_cache_destroy deactivates an active cache).
 * The vm's deferred frees run first (gpc_srcu_barrier() of its domain). A
 * vm's own domain is destroyed with it; a shared domain stays, with one
 * user fewer.
 *
 * Return: 0; -EINVAL for NULL; -EBUSY if something else still uses the
 * vm (one cause; each of these the caller can see): caches or vCPUs still
 * exist, an invalidation is in progress, a listener registered with
 * GPC_MEMSLOT_LISTENER_PIN is still registered (a KVM binding:
 * gpc_kvm_destroy() first), or (own domain only) other vms were created on
 * the vm's domain (gpc_vm_create_on() of gpc_vm_srcu(): destroy them
 * first) or another thread is inside a read section of it; -EDEADLK if
 * the caller is inside a read section of the vm's domain
 * (gpc_srcu_read_lock() of gpc_vm_srcu(), or an srcu-scheme cache section
 * of any vm on the domain: the barrier would wait for the caller) or is
 * one of the domain's callbacks (gpc_srcu_call()). Every refusal changes nothing.
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
 * @vm: a live vm. Not checked: there is no error value in the enum, and
 *      NULL or a destroyed vm is undefined (NULL crashes).
 *
 * Return: the scheme given at creation (GPC_SCHEME_SRCU if the vm was
 * created with a NULL configuration).
 * Context: any context.
 */
enum gpc_scheme gpc_vm_scheme(const struct gpc_vm *vm);

/**
 * gpc_vm_srcu - the vm's SRCU domain (memslot table readers use it too).
 *
 * The vm's own, or the one it was created on. The vm keeps it alive: while
 * the vm exists gpc_srcu_destroy() of it returns -EBUSY, and
 * gpc_srcu_init() of it (a live domain) returns -EBUSY.
 *
 * Return: the domain; NULL for a NULL @vm.
 * Context: any context.
 */
struct gpc_srcu *gpc_vm_srcu(struct gpc_vm *vm);

#ifdef __cplusplus
}
#endif

#endif /* GPC_VM_H */
