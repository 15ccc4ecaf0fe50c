/* SPDX-License-Identifier: MIT */
/*
 * invalidate_priv.h - the registry of invalidations in progress
 * (invalidate.c); not installed.
 *
 * A lock-free array, so that a non-blocking range_start can register and
 * roll back from any context. Refreshes (cache.c) ask whether their range
 * is being invalidated and sleep until it is not; vm.c asks whether any
 * invalidation is in progress before it destroys the vm. Nothing outside
 * invalidate.c reads these fields.
 */
#ifndef GPC_INVALIDATE_PRIV_H
#define GPC_INVALIDATE_PRIV_H

#include <stdbool.h>
#include <stdint.h>

#include <gpc/gpc.h>

/*
 * States of an entry. FREE -> FILLING (claimed by CAS) -> STARTING (range
 * published, range_start walking or waiting) -> ACTIVE (range_start
 * returned 0) -> ENDING (claimed by range_end by CAS) -> FREE; or
 * STARTING -> PENDING (a non-blocking range_start returned -EAGAIN), which
 * a retry takes back to STARTING, and a cancel or a lapse to FREE.
 * invalidate.c has the transitions and why each is a CAS.
 */
enum {
	GPCI_INFL_FREE,
	GPCI_INFL_FILLING,
	GPCI_INFL_STARTING,
	GPCI_INFL_ACTIVE,
	GPCI_INFL_ENDING,
	GPCI_INFL_PENDING,
};

struct gpci_inflight {
	_Atomic int state;
	_Atomic uint64_t start, end;
	_Atomic uint64_t expires_ns; /* PENDING only: when the mark lapses */
};

struct gpci_inval_state {
	struct gpci_inflight inflight[GPC_INVAL_MAX_INFLIGHT];
	_Atomic unsigned int ninflight;
	_Atomic int wake;	/* futex: bumped when an entry is freed */
	_Atomic int sleepers;	/* refreshes waiting on it */
	_Atomic uint64_t seq;	/* bumped by every range_end */
	_Atomic uint64_t stamp; /* unique id per index walk */
	_Atomic uint64_t st_invalidations, st_caches, st_eagain;
	_Atomic uint64_t st_pending_lapsed, st_reader_wait_ns, st_vcpu_wait_ns;
};

/* Whether an invalidation in progress overlaps [start, end). Any context. */
bool gpci_inflight_overlaps(struct gpc_vm *vm, uint64_t start, uint64_t end);
/* Sleep until no invalidation in progress overlaps [start, end). May sleep. */
void gpci_inflight_wait(struct gpc_vm *vm, uint64_t start, uint64_t end);
/*
 * Whether an invalidation is in progress (registered and not ended);
 * pending marks of failed non-blocking attempts do not count. Any context.
 */
bool gpci_inflight_in_progress(struct gpc_vm *vm);
/* Add the invalidation counters to @st (gpc_vm_get_stats). Any context. */
void gpci_inval_stats(struct gpc_vm *vm, struct gpc_vm_stats *st);

#endif /* GPC_INVALIDATE_PRIV_H */
