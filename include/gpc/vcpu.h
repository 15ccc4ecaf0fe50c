/* SPDX-License-Identifier: MIT */
/*
 * gpc/vcpu.h - vCPUs and guest usage of caches.
 *
 * A guest-usage cache names one vCPU, which uses the translation outside any
 * read-side section for as long as it is "in guest mode" (for a KVM vCPU:
 * from before KVM_RUN until after it returned and the exit was recorded).
 * The protocol:
 *
 *  vCPU:        mode = IN_GUEST; full barrier; check requests and the
 *               validity of its guest-usage caches; use them; ...; mode =
 *               OUTSIDE.
 *  invalidator: clear valid; post GPC_REQ_CACHE_INVALID; full barrier; if
 *               the vCPU is in guest mode, kick it and (blocking) wait until
 *               it is outside.
 *
 * Either the vCPU sees the cache invalid before it uses it, or the
 * invalidator sees it in guest mode and evicts it. Requests are consumed by
 * gpc_vcpu_handle_requests(), so an entry never bails out forever.
 */
#ifndef GPC_VCPU_H
#define GPC_VCPU_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct gpc_vm;
struct gpc_vcpu;

enum gpc_vcpu_mode {
	GPC_VCPU_OUTSIDE = 0,
	GPC_VCPU_IN_GUEST = 1,
	GPC_VCPU_EXITING = 2, /* kicked, not yet outside */
};

/* Library-owned request bits; bits from GPC_REQ_USER up are the caller's. */
#define GPC_REQ_CACHE_INVALID (1u << 0)
#define GPC_REQ_USER	      (1u << 8)

/*
 * Makes the vCPU leave guest mode soon (for KVM: a signal to its thread, so
 * that KVM_RUN returns). Called from the invalidating thread, possibly from a
 * signal handler (non-blocking invalidation): it must be async-signal-safe
 * and must not block. It may be called more than once per guest entry: a
 * vCPU still in guest mode 2 ms after its kick, or found still leaving by
 * another invalidation, is kicked again (a kick may be lost, e.g. a signal
 * that arrives just before KVM_RUN); every call counts in
 * gpc_vcpu_stats.kicks.
 */
typedef void gpc_kick_fn(struct gpc_vcpu *vcpu, void *ctx);

/* The counters of one vCPU since gpc_vcpu_create(). */
struct gpc_vcpu_stats {
	/* gpc_vcpu_enter_guest() calls that returned 0 */
	uint64_t entries;
	/* gpc_vcpu_enter_guest() calls that returned -EAGAIN */
	uint64_t entry_bailouts;
	/* calls of the kick callback (first kicks and re-kicks; counted
	 * also when the vCPU has no callback) */
	uint64_t kicks;
	/* request bits consumed by gpc_vcpu_handle_requests(): one per bit
	 * that was pending (a bit posted twice before being handled counts
	 * once); caller bits kept pending after an error are not counted */
	uint64_t requests_handled;
};

/**
 * gpc_vcpu_create - register a vCPU with @vm.
 * @kick: how to kick it (may be NULL for a vCPU that never runs guest code).
 *
 * Return: 0; -EINVAL (NULL @vm or @out); -ENOMEM.
 * Context: may sleep.
 */
int gpc_vcpu_create(struct gpc_vm *vm, gpc_kick_fn *kick, void *ctx,
		    struct gpc_vcpu **out);

/**
 * gpc_vcpu_destroy - unregister a vCPU. Its memory is kept until the vm is
 * destroyed (an invalidation may still be looking at it).
 *
 * So until then a second destroy is recognised: a no-op returning 0 (the
 * destroy rule of gpc/vm.h); enter_guest, handle_requests and request on
 * the destroyed vCPU fail with -EINVAL, while gpc_vcpu_mode() (outside)
 * and gpc_vcpu_get_stats() (its final counters) still answer.
 * Return: 0, also for a vCPU destroyed already; -EINVAL for NULL; -EBUSY
 * if a guest-usage cache (active or not) still names it, or it is in guest
 * mode (gpc_vcpu_mode() tells the two apart); nothing is changed on an
 * error.
 * Context: may sleep.
 */
int gpc_vcpu_destroy(struct gpc_vcpu *vcpu);

/**
 * gpc_vcpu_enter_guest - switch to guest mode if nothing stands in the way.
 *
 * Return: 0 if the vCPU is now in guest mode and every guest-usage cache of
 * it is valid (the caller may use them until gpc_vcpu_exit_guest());
 * -EAGAIN if requests are pending or a cache is invalid (the vCPU stays
 * outside; gpc_vcpu_handle_requests() deals with both, then try again);
 * -EINVAL for a NULL or destroyed vCPU, or if it is already in (or
 * leaving) guest mode (gpc_vcpu_mode() tells).
 * The calling thread is recorded as the vCPU's: while the vCPU is in guest
 * mode, a call from that thread that would wait for the vCPU to leave
 * guest mode (a blocking invalidation of its cache, the deactivation of
 * one, ...) kicks it and, if the kick did not get it out (a kick callback
 * that exits guest mode at once does), returns -EDEADLK instead of waiting
 * for ever.
 * Context: may spin briefly; call it from the vCPU's own thread.
 */
int gpc_vcpu_enter_guest(struct gpc_vcpu *vcpu);

/**
 * gpc_vcpu_exit_guest - leave guest mode; wakes waiting invalidations.
 *
 * Context: any context, async-signal-safe.
 */
void gpc_vcpu_exit_guest(struct gpc_vcpu *vcpu);

/**
 * gpc_vcpu_handle_requests - consume the pending requests: refresh every
 * invalid guest-usage cache of the vCPU.
 *
 * Return: the caller's request bits (>= GPC_REQ_USER) that were pending, now
 * consumed, or a negative errno: -EINVAL for a NULL or destroyed vCPU;
 * -ENOMEM (nothing consumed); -EDEADLK (nothing consumed) inside a cache
 * section or SRCU read section of the vCPU's vm (its refreshes would wait
 * for the caller); or the first refresh error - -EDEADLK included, from a
 * thread in guest mode whose refresh must wait for this vCPU - (the cache
 * stays invalid, the library's request is consumed and the caller's bits
 * stay pending for the next call; the caller decides).
 * Context: may sleep; call it outside guest mode from the vCPU's thread.
 */
int gpc_vcpu_handle_requests(struct gpc_vcpu *vcpu);

/**
 * gpc_vcpu_request - post request bits and kick the vCPU if in guest mode.
 *
 * Return: 0; -EINVAL for a NULL or destroyed vCPU.
 * Context: any context, async-signal-safe (calls the kick callback).
 */
int gpc_vcpu_request(struct gpc_vcpu *vcpu, unsigned int req);

/**
 * gpc_vcpu_mode - the vCPU's current mode.
 *
 * Return: the mode; GPC_VCPU_OUTSIDE for NULL.
 * Context: any context.
 */
enum gpc_vcpu_mode gpc_vcpu_mode(struct gpc_vcpu *vcpu);

/**
 * gpc_vcpu_get_stats - read the vCPU's counters.
 *
 * Return: 0; -EINVAL if an argument is NULL.
 * Context: any context.
 */
int gpc_vcpu_get_stats(struct gpc_vcpu *vcpu, struct gpc_vcpu_stats *st);

#ifdef __cplusplus
}
#endif

#endif /* GPC_VCPU_H */
