/* SPDX-License-Identifier: MIT */
/*
 * src/vhost/fault.h - the back-end's guard against faults on guest memory.
 *
 * Two kinds of CPU access to a region's mapping fault instead of
 * completing:
 *  - the front-end shrank the region's file (ftruncate) after we mapped
 *    it: a load or store to a page past the new end is a SIGBUS, which by
 *    default kills the whole back-end. A region whose fd carries
 *    F_SEAL_SHRINK cannot shrink (QEMU's memory-backend-memfd seals by
 *    default) and is not guarded; any other region (files, hugetlbfs,
 *    unsealed memfds) is "guarded";
 *  - with GPC_VHOST_F_CHECK_STALE a removed region is kept PROT_NONE
 *    ("retired"): a late access (a device bug) is a SIGSEGV, SEGV_ACCERR.
 *    So is an IOTLB entry's alias (a second mapping of the region pages
 *    it maps, which the IOTLB vm's slot points at) once the entry is
 *    invalidated: a pointer found through the old translation faults
 *    instead of reading the live region.
 *
 * One process-wide SA_SIGINFO handler for SIGBUS and SIGSEGV (installed
 * when the first range is registered, re-installed by a later registration
 * if a program's own handler replaced it) looks the faulting address up in a
 * lock-free registry of ranges, maps an anonymous zero page over the
 * faulting page so that the instruction restarts and completes, counts the
 * fault on the range's device (bus_faults, stale_accesses) and wakes the
 * device's control thread (its fault eventfd), which logs one line per
 * region and, for a shrunk live region, ends the connection. A fault at an
 * address not in the registry goes to the handler installed before ours
 * (or kills the process with the default action, as without us).
 *
 * Who calls what: mem.c registers a range after mmap() and before the
 * memslot that publishes it (so no datapath access can fault on it
 * unguarded), retires it before mprotect(PROT_NONE), and removes it around
 * munmap() (gpc_vhost_fault_unmapping() before, gpc_vhost_fault_del()
 * after); dev.c polls the eventfd and forgets the device at destroy. All
 * of it on the device's control thread; the handler runs on any thread.
 */
#ifndef GPC_VHOST_FAULT_H
#define GPC_VHOST_FAULT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dev_priv.h"

/* Registry capacity, process-wide; retired ranges may use half of it. */
#define GPC_VHOST_FAULT_MAX	   4096u
/* Retired IOTLB aliases kept (process-wide), beyond: the oldest unmapped. */
#define GPC_VHOST_FAULT_ALIAS_KEEP 1024u

enum gpc_vhost_fault_kind {
	GPC_VHOST_FAULT_GUARD = 1, /* live, unsealed: SIGBUS repaired */
	GPC_VHOST_FAULT_RETIRED,   /* removed, PROT_NONE: late accesses */
};

/*
 * Does @fd need a guard: true unless its seals include F_SEAL_SHRINK.
 * Any context.
 */
GPC_VHOST_HIDDEN bool gpc_vhost_fault_needs_guard(int fd);

/*
 * Register [@map, @map + @len) of region @slot (at guest address @gpa)
 * for @d, of @kind; @fd is the region's fd (for its page granule:
 * hugetlbfs pages are repaired whole). Installs the handler on first use,
 * and again if another one replaced it since (chaining to that one).
 * Return: a handle >= 0; -ENOSPC if the registry is full (for retired
 * ranges: half of it); the errno of sigaction(). Control thread.
 */
GPC_VHOST_HIDDEN int gpc_vhost_fault_add(struct gpc_vhost_dev *d, void *map,
					 size_t len, int fd, uint32_t slot,
					 uint64_t gpa,
					 enum gpc_vhost_fault_kind kind);

/*
 * A guarded range is being retired (CHECK_STALE): from now on a fault in
 * it is a late access. Returns when no handler can still act on the range
 * as a live one, so the caller may mprotect(PROT_NONE) it. Return 0, or
 * -ENOSPC if retired ranges fill their half (the range is then forgotten,
 * as gpc_vhost_fault_unmapping() + gpc_vhost_fault_del()). Control thread,
 * may spin (for a handler running on another thread, microseconds).
 */
GPC_VHOST_HIDDEN int gpc_vhost_fault_retire(int handle);

/*
 * CHECK_STALE's IOTLB aliases. gpc_vhost_fault_alias_map(): a second
 * mapping of [@hva, + @len) (page aligned, inside one region's MAP_SHARED
 * mapping, whose @fd gives the page granule) for the IOTLB entry at @iova,
 * registered as live (a file shrunk under the region faults through the
 * alias alike: repaired, bus_faults). *@alias, *@handle. Return 0; the
 * errno of mremap() (e.g. -EINVAL for a hugetlbfs range not aligned to its
 * huge pages, -ENOMEM past vm.max_map_count); -ENOSPC if the registry is
 * full (nothing left mapped); the errno of sigaction(). Control thread.
 */
GPC_VHOST_HIDDEN int gpc_vhost_fault_alias_map(struct gpc_vhost_dev *d,
					       void *hva, size_t len, int fd,
					       uint64_t iova, void **alias,
					       int *handle);

/*
 * The alias's translation is gone and no request uses it any more (after
 * the invalidation's grace period and in-flight wait): retired, then
 * PROT_NONE, and kept among the last GPC_VHOST_FAULT_ALIAS_KEEP retired
 * aliases of the process (the oldest is unmapped then; a late access to
 * it crashes). A late access is counted in stale_accesses, logged once
 * per alias and completes on a zero page. Control thread, may spin as
 * gpc_vhost_fault_retire().
 */
GPC_VHOST_HIDDEN void gpc_vhost_fault_alias_retire(void *alias, size_t len,
						   int handle);

/* An alias never published (its IOTLB change failed): unmapped now. */
GPC_VHOST_HIDDEN void gpc_vhost_fault_alias_unmap(void *alias, size_t len,
						  int handle);

/*
 * The region address behind @p if @p is in an alias (live or retired, not
 * yet unmapped): *@hva, and in *@len the bytes of the alias from @p on.
 * False if @p is in no alias. The dirty log's completion hook finds the
 * GPA of a buffer reached through an IOVA this way: the memory vm knows
 * only the regions' own mappings. Lock-free (a scan of the registry, as
 * the handler's); any context, async-signal-safe.
 */
GPC_VHOST_HIDDEN bool
gpc_vhost_fault_alias_origin(const void *p, const void **hva, size_t *len);

/* How many retired aliases are kept now, process-wide (tests). */
GPC_VHOST_HIDDEN unsigned int gpc_vhost_fault_aliases_kept(void);

/*
 * The range is about to be munmap()ed: from now on the handler leaves it
 * alone, and no handler still repairs a page in it when this returns.
 * Control thread, may spin as gpc_vhost_fault_retire().
 */
GPC_VHOST_HIDDEN void gpc_vhost_fault_unmapping(int handle);

/* After munmap(): the entry is free for another range. Control thread. */
GPC_VHOST_HIDDEN void gpc_vhost_fault_del(int handle);

/*
 * The device's fault eventfd was readable: log one line per region that
 * faulted since the last call. Return true if a guarded (live) region's
 * file shrank, so the connection must end. Control thread.
 */
GPC_VHOST_HIDDEN bool gpc_vhost_fault_poll(struct gpc_vhost_dev *d);

/*
 * gpc_vhost_dev_destroy(): the device's retired ranges stay registered
 * (and mapped) but count on no device from now on. Control thread.
 */
GPC_VHOST_HIDDEN void gpc_vhost_fault_forget(struct gpc_vhost_dev *d);

/* How many ranges of @d are registered as @kind (tests). Any context. */
GPC_VHOST_HIDDEN unsigned int
gpc_vhost_fault_count(const struct gpc_vhost_dev *d,
		      enum gpc_vhost_fault_kind kind);

#endif /* GPC_VHOST_FAULT_H */
