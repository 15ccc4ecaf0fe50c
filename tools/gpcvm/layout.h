/* SPDX-License-Identifier: MIT */
/*
 * tools/gpcvm/layout.h - what the guest may register where.
 *
 * Pure functions over a snapshot of the current registrations, so that the
 * rules the VMM enforces on guest input (docs/gpcvm.md, "Registrations")
 * are unit-tested on their own (tests/test_gpcvm_proto.c).
 */
#ifndef GPCVM_LAYOUT_H
#define GPCVM_LAYOUT_H

#include <stdint.h>

#include "proto.h"

struct gpcvm_layout_view {
	unsigned int nvcpus;
	uint64_t shinfo_gpa;		  /* 0: not placed */
	uint64_t rs_gpa[GPCVM_MAX_VCPUS]; /* 0: not registered */
};

struct gpcvm_range {
	uint64_t gpa, size;
};

/*
 * May the shared-info page go to @gpa? Return: 0; -EINVAL (size not one
 * page, unaligned); -EFAULT (wraps, beyond the identity map, outside the
 * overlay zone and the hole window); -EBUSY (would cover a runstate area).
 */
int gpcvm_check_shinfo(const struct gpcvm_layout_view *lv, uint64_t gpa,
		       uint64_t size);

/*
 * May @vcpu's runstate area go to [@gpa, @gpa + @size)? (gpa 0 and size 0,
 * "unregister", is the caller's case.) Return: 0; -ENOENT (no such vCPU);
 * -EINVAL (size is not sizeof(struct gpcvm_runstate)); -EFAULT (wraps, or
 * not entirely inside one of the always-present RAM regions: low RAM or the
 * runstate window, never across the boundary between them); -EBUSY (overlaps the shared-info
 * page or another vCPU's area). Any byte address, page-crossing or not.
 */
int gpcvm_check_runstate(const struct gpcvm_layout_view *lv, unsigned int vcpu,
			 uint64_t gpa, uint64_t size);

/*
 * May the VMM read a report of @size bytes at @gpa? It must lie in low RAM.
 * Return: 0; -EINVAL (wrong size); -EFAULT.
 */
int gpcvm_check_report(uint64_t gpa, uint64_t size);

/*
 * The RAM slots of the overlay zone when the shared-info page is at @gpa
 * (0 or outside the zone: the whole zone). Return: how many of @out (0-2).
 */
int gpcvm_zone_split(uint64_t shinfo_gpa, struct gpcvm_range out[2]);

/*
 * Pages that must be remapped together: the page ranges under the
 * registered runstate areas, with ranges that share a page merged (so each
 * area stays contiguous in the host after a remap). Return: the count.
 */
int gpcvm_runstate_clusters(const struct gpcvm_layout_view *lv,
			    struct gpcvm_range out[GPCVM_MAX_VCPUS]);

#endif /* GPCVM_LAYOUT_H */
