/* SPDX-License-Identifier: MIT */
/*
 * gpc/kvm.h - binding a vm to a Linux KVM virtual machine.
 *
 * Two things a VMM built on libgpc needs from KVM:
 *
 *  - the memslot table and KVM's view of guest-physical memory must never
 *    disagree once a change returns: gpc_kvm_create() registers a memslot
 *    listener (gpc/memslot.h) that makes every commit in KVM as well
 *    (KVM_SET_USER_MEMORY_REGION), inside the commit and before the library
 *    publishes it; if KVM refuses a step, what was done is undone and the
 *    commit fails, the table stays as it was. Other listeners (devices,
 *    gpc_memslot_set_mirror()) may follow the table next to it.
 *
 *    KVM has no atomic multi-slot update, so a commit becomes single-slot
 *    calls in an order KVM accepts: first deletes (deleted and replaced
 *    slots, and all moved slots when a commit moves more than one), then
 *    in-place changes (the one move of a commit that moves one slot; a
 *    READONLY toggle, as a delete and a create of the same range), then
 *    creates. What vCPUs running meanwhile can observe: a range that the
 *    commit deletes, replaces, moves or re-flags may be absent (accesses
 *    exit to the VMM as MMIO) from the first call to the last; a range the
 *    commit adds appears at the end; a range is never mapped to a host
 *    address or with flags that neither the old nor the new table gives
 *    it. To keep vCPUs out of that window, install a pause hook
 *    (gpc_kvm_set_pause_hook()): it is called before the first KVM call of
 *    a commit and again once the commit is published (or undone), which is
 *    where a VMM stops and restarts its vCPUs (gpcvm's pause gate does);
 *
 *    the binding pins the vm: gpc_vm_destroy() returns -EBUSY until
 *    gpc_kvm_destroy();
 *
 *  - a vCPU that uses guest-usage caches (gpc/vcpu.h) around KVM_RUN:
 *    gpc_kvm_vcpu_run() sets the vCPU's mode to "in guest" before KVM_RUN
 *    (checking its requests and caches first, refreshing them when needed),
 *    runs the caller's pre-entry and post-exit hooks in guest mode, and sets
 *    it "outside" after. Invalidations kick the vCPU with a signal sent to
 *    the thread that runs it; the kick also sets kvm_run->immediate_exit, so
 *    a signal that arrives just before KVM_RUN cannot be lost. The helper
 *    records whether an exit was such an eviction and how long the kick took
 *    to get the vCPU out.
 *
 * The binding exists where <linux/kvm.h> does. Elsewhere every function
 * fails with -ENOSYS (gpc_kvm_probe() says so), so programs can be written
 * once and fall back at run time.
 *
 * Object lifetime (the rule of every library-allocated object that is
 * freed by its destroy; gpc/vm.h has the rule for all objects): destroy
 * once; a pointer passed to a destroy call that returned 0 is freed, and
 * using it again, destroy included, is undefined (no -EINVAL can be
 * promised for freed memory).
 *
 * Thread model: a struct gpc_kvm_vcpu is run by one thread at a time (the
 * thread that calls gpc_kvm_vcpu_run(); it may change between calls while the
 * vCPU is outside guest mode). The kick signal (SIGUSR1 unless configured)
 * gets a process-wide no-op handler with SA_RESTART: KVM_RUN still returns
 * EINTR, other system calls restart.
 */
#ifndef GPC_KVM_H
#define GPC_KVM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct gpc_vm;
struct gpc_vcpu;
struct gpc_kvm;
struct gpc_kvm_vcpu;
struct kvm_run;

struct gpc_kvm_config {
	/* The KVM device; NULL means "/dev/kvm". */
	const char *device;
	/* Signal that kicks vCPU threads; 0 means SIGUSR1. */
	int kick_signal;
};

/* Why gpc_kvm_vcpu_run() returned. */
enum gpc_kvm_exit_kind {
	/* KVM_RUN returned an exit: see kvm_run->exit_reason (and .reason). */
	GPC_KVM_EXIT = 0,
	/* KVM_RUN was interrupted by a kick (EINTR): nothing to emulate. */
	GPC_KVM_KICKED = 1,
	/* Caller's request bits were pending: consumed, KVM_RUN not entered. */
	GPC_KVM_REQUEST = 2,
};

struct gpc_kvm_exit {
	enum gpc_kvm_exit_kind kind;
	/* GPC_KVM_EXIT: kvm_run->exit_reason. */
	uint32_t reason;
	/* GPC_KVM_REQUEST: the caller's bits (>= GPC_REQ_USER), consumed. */
	unsigned int requests;
	/* The library had kicked the vCPU (an eviction or a request) while it
	 * was in guest mode; the exit acknowledges it. */
	bool evicted;
	/* If a kick ended or overlapped this run: ns from the kick until
	 * KVM_RUN had returned; else 0. */
	uint64_t kick_latency_ns;
};

struct gpc_kvm_vcpu_stats {
	uint64_t runs;		/* KVM_RUN calls */
	uint64_t exits;		/* KVM_RUN returned 0 */
	uint64_t kicked;	/* KVM_RUN returned EINTR */
	uint64_t evictions;	/* exits that acknowledged a library kick */
	uint64_t bailouts;	/* entries refused (requests, invalid caches) */
	uint64_t kicks_sent;	/* signals sent to the vCPU thread */
	uint64_t request_exits; /* returns with GPC_KVM_REQUEST */
};

/*
 * Called in guest mode on the vCPU's thread: pre_entry after the caches
 * were checked and just before KVM_RUN; post_exit right after KVM_RUN
 * returned (@run_err is 0 or the negative errno of KVM_RUN), before the
 * vCPU leaves guest mode. Guest-usage caches of the vCPU may be used here
 * through gpc_cache_guest_ptr() without any read-side section. A NULL
 * from it means an invalidation is evicting the vCPU, or a memslot change
 * made the cache stale (which kicks nobody): post_exit can skip the access;
 * a pre_entry that must not let the guest run without it sets
 * kvm_run->immediate_exit (or calls gpc_kvm_vcpu_kick()), so that KVM_RUN
 * returns at once and the next gpc_kvm_vcpu_run() refreshes the cache.
 * Both must not sleep for long: an invalidation may be waiting.
 */
struct gpc_kvm_vcpu_ops {
	void (*pre_entry)(struct gpc_kvm_vcpu *v, void *ctx);
	void (*post_exit)(struct gpc_kvm_vcpu *v, int run_err, void *ctx);
};

/**
 * gpc_kvm_probe - whether KVM can be used here.
 * @device: the KVM device, NULL for "/dev/kvm".
 * @why: if not NULL, receives a one-line reason when KVM is unusable.
 * @whylen: size of @why.
 *
 * Opens the device, checks the API version and the capabilities the binding
 * needs (user memory, immediate_exit), creates a VM and destroys it.
 * Return: 0 if usable; -ENOSYS if built without <linux/kvm.h>; -ENOENT
 * (no device), -EACCES, -EPROTO (API version or a capability missing), or
 * the errno of KVM_CREATE_VM.
 * Context: may sleep.
 */
int gpc_kvm_probe(const char *device, char *why, size_t whylen);

/**
 * gpc_kvm_create - create a KVM VM and bind @vm to it.
 * @vm: a vm with no memslots yet and no KVM binding (every later commit
 *      is mirrored).
 * @cfg: NULL for the defaults.
 * @out: receives the binding.
 *
 * Return: 0; -EINVAL (NULL @vm or @out, bad signal); -EBUSY if @vm already
 * has memslots or a KVM binding (a mirror hook or other listeners are
 * fine: they are called next to the binding); -ENOMEM; -EDEADLK from a
 * memslot listener callback or with an open memslot transaction; -ENOSYS without <linux/kvm.h>;
 * the negative errno of opening the device or of KVM_CREATE_VM; -EPROTO for
 * a KVM without the API version 12, user memory or immediate_exit.
 * Context: may sleep.
 */
int gpc_kvm_create(struct gpc_vm *vm, const struct gpc_kvm_config *cfg,
		   struct gpc_kvm **out);

/**
 * gpc_kvm_destroy - unbind and close the KVM VM.
 *
 * The vm keeps its memslots (no longer mirrored) and may be destroyed
 * after this. Waits for a memslot commit in progress. Destroy once (see
 * "Object lifetime" above).
 * Return: 0; -EINVAL for NULL; -EBUSY while vCPUs of the binding exist;
 * -EDEADLK from a memslot listener callback or with an open memslot
 * transaction on this thread.
 * Context: may sleep.
 */
int gpc_kvm_destroy(struct gpc_kvm *kvm);

/*
 * A VMM's hook around the window of a memslot commit in which KVM holds an
 * intermediate layout: called with @pause true before the first KVM call
 * of a commit, and false once the commit is published or undone, on the
 * committing thread with the memslot writers' lock held (so it must not
 * call a memslot writer). A pause must make vCPUs leave KVM_RUN and not
 * enter again until the resume (for example a pause gate checked by each
 * vCPU thread before gpc_kvm_vcpu_run(), and gpc_kvm_vcpu_kick()).
 */
typedef void gpc_kvm_pause_fn(void *ctx, bool pause);

/**
 * gpc_kvm_set_pause_hook - install (NULL: remove) the commit pause hook.
 *
 * Replaces the previous hook; never takes effect inside a commit (it waits
 * for a commit in progress).
 * Return: 0; -EINVAL for NULL @kvm; -EDEADLK from a memslot listener
 * callback or with an open memslot transaction; -ENOSYS without
 * <linux/kvm.h>.
 * Context: may sleep.
 */
int gpc_kvm_set_pause_hook(struct gpc_kvm *kvm, gpc_kvm_pause_fn *fn,
			   void *ctx);

/**
 * gpc_kvm_vm_fd - the KVM VM file descriptor (for the caller's own ioctls).
 *
 * Return: the descriptor, or -EINVAL for NULL.
 * Context: any context.
 */
int gpc_kvm_vm_fd(const struct gpc_kvm *kvm);

/**
 * gpc_kvm_sys_fd - the /dev/kvm descriptor (KVM_GET_SUPPORTED_CPUID, ...).
 *
 * Return: the descriptor, or -EINVAL for NULL.
 * Context: any context.
 */
int gpc_kvm_sys_fd(const struct gpc_kvm *kvm);

/**
 * gpc_kvm_mirror_errors - how many commits KVM refused (a step of the
 * commit's plan failed; the commit was undone and failed).
 *
 * Return: the count since gpc_kvm_create(); 0 for NULL.
 * Context: any context.
 */
uint64_t gpc_kvm_mirror_errors(const struct gpc_kvm *kvm);

/**
 * gpc_kvm_vcpu_create - create KVM vCPU @id and its libgpc vCPU.
 * @ops, @ctx: the guest-mode hooks (may be NULL).
 *
 * The libgpc vCPU (gpc_kvm_vcpu_gpc()) is registered with the bound vm
 * and kicks this vCPU's thread; guest-usage caches name it.
 * Return: 0; -EINVAL; -ENOMEM; the negative errno of KVM_CREATE_VCPU or of
 * mapping its kvm_run structure; -ENOSYS without <linux/kvm.h>.
 * Context: may sleep.
 */
int gpc_kvm_vcpu_create(struct gpc_kvm *kvm, unsigned int id,
			const struct gpc_kvm_vcpu_ops *ops, void *ctx,
			struct gpc_kvm_vcpu **out);

/**
 * gpc_kvm_vcpu_destroy - destroy the vCPU (and its libgpc vCPU).
 *
 * Destroy once (see "Object lifetime" above).
 * Return: 0; -EINVAL for NULL; -EBUSY if a guest-usage cache still names it
 * (destroy or deactivate those first) or it is in guest mode.
 * Context: may sleep.
 */
int gpc_kvm_vcpu_destroy(struct gpc_kvm_vcpu *v);

/**
 * gpc_kvm_vcpu_run - enter the guest once.
 * @ex: receives why it returned.
 *
 * Steps: clear immediate_exit; gpc_vcpu_enter_guest(); if it refuses,
 * gpc_vcpu_handle_requests() (which refreshes invalid guest-usage caches)
 * and try again, returning GPC_KVM_REQUEST if the caller's request bits
 * were among the pending ones; in guest mode run pre_entry, KVM_RUN,
 * post_exit; note an eviction; gpc_vcpu_exit_guest().
 * Do not call it inside a section at all: a cache section or SRCU read
 * section of the vm's domain (of any vm on a shared domain).
 * Return: 0 with @ex filled in; -EINVAL for NULL; -EDEADLK if the entry
 * needs gpc_vcpu_handle_requests() (requests pending or a guest-usage
 * cache invalid) while the caller is inside a cache section or SRCU read
 * section of the vm: nothing is consumed and the vCPU stays outside (an
 * entry that needs nothing is not checked, so the rule above is the
 * caller's to keep); any other error of gpc_vcpu_handle_requests() (for
 * example -EFAULT when a guest-usage cache can no longer be translated:
 * the cache stays invalid, so deactivate it or fix the memory before
 * calling again); the negative errno of KVM_RUN other than EINTR (the
 * vCPU is outside guest mode).
 * Context: may sleep; call it from the thread that runs the vCPU.
 */
int gpc_kvm_vcpu_run(struct gpc_kvm_vcpu *v, struct gpc_kvm_exit *ex);

/**
 * gpc_kvm_vcpu_kick - make KVM_RUN return soon on this vCPU.
 *
 * Sets immediate_exit and signals the vCPU's thread (if it has run yet).
 * For the caller's own reasons; the library kicks through the same path.
 * Context: any context, async-signal-safe.
 */
void gpc_kvm_vcpu_kick(struct gpc_kvm_vcpu *v);

/**
 * gpc_kvm_vcpu_fd - the KVM vCPU file descriptor.
 *
 * Return: the descriptor, or -EINVAL for NULL.
 * Context: any context.
 */
int gpc_kvm_vcpu_fd(const struct gpc_kvm_vcpu *v);

/**
 * gpc_kvm_vcpu_run_struct - the vCPU's mapped struct kvm_run.
 *
 * Return: the structure, or NULL for NULL.
 * Context: any context.
 */
struct kvm_run *gpc_kvm_vcpu_run_struct(struct gpc_kvm_vcpu *v);

/**
 * gpc_kvm_vcpu_gpc - the libgpc vCPU (to name in guest-usage caches and to
 * post requests to).
 *
 * Return: the vCPU, or NULL for NULL.
 * Context: any context.
 */
struct gpc_vcpu *gpc_kvm_vcpu_gpc(struct gpc_kvm_vcpu *v);

/**
 * gpc_kvm_vcpu_id - the KVM vCPU id given at creation.
 *
 * Return: the id; 0 for NULL (also a valid id: pass a live vCPU).
 * Context: any context.
 */
unsigned int gpc_kvm_vcpu_id(const struct gpc_kvm_vcpu *v);

/**
 * gpc_kvm_vcpu_get_stats - read the vCPU's counters.
 *
 * Return: 0; -EINVAL.
 * Context: any context.
 */
int gpc_kvm_vcpu_get_stats(struct gpc_kvm_vcpu *v,
			   struct gpc_kvm_vcpu_stats *st);

#ifdef __cplusplus
}
#endif

#endif /* GPC_KVM_H */
