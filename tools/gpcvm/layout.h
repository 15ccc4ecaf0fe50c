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
	uint64_t shinfo_gpa;		      /* 0: not placed */
	uint64_t rs_gpa[GPCVM_MAX_VCPUS];     /* 0: not registered */
	uint64_t report_gpa[GPCVM_MAX_VCPUS]; /* last report read; 0: none */
};

struct gpcvm_range {
	uint64_t gpa, size;
};

/*
 * The RAM regions the shared-info page may cover, and the memslots that
 * back each: slot[0] holds the whole region, or the part below the page
 * when it is inside; slot[1] the part above it (see gpcvm_split_around()).
 * Hot-pluggable RAM is not among them: the VMM unplugs and discards it on
 * its own schedule, which an overlay would have to follow.
 */
enum gpcvm_region {
	GPCVM_REGION_LOW,
	GPCVM_REGION_RSWIN,
	GPCVM_REGION_ZONE,
	GPCVM_NR_RAM_REGIONS,
	/* Not RAM regions: only for gpcvm_region_of(). */
	GPCVM_REGION_HOLE = GPCVM_NR_RAM_REGIONS,
	GPCVM_REGION_HOT,
	GPCVM_REGION_NONE,
	GPCVM_NR_REGION_KINDS,
};

struct gpcvm_ram_region {
	uint64_t gpa, size;
	uint32_t slot[2];
};

extern const struct gpcvm_ram_region gpcvm_ram_regions[GPCVM_NR_RAM_REGIONS];

/* Which region the page at @gpa is in (GPCVM_REGION_NONE: no region). */
enum gpcvm_region gpcvm_region_of(uint64_t gpa);

/*
 * May the shared-info page go to @gpa? Return: 0; -EINVAL (size not one
 * page, unaligned); -EFAULT (wraps, beyond the identity map, in
 * hot-pluggable RAM, or neither in a RAM region of gpcvm_ram_regions nor in
 * the hole window); -EPERM (a page the VMM itself wrote or writes: GDT and
 * page tables, boot page, guest image); -EBUSY (would cover a runstate area
 * or the last report of a vCPU).
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
 * May the VMM read a report of @size bytes at @gpa? It must lie in low RAM
 * (the VMM reads it there directly) and not under the shared-info page
 * (where the VMM would read the RAM hidden under it, not what the guest
 * wrote). Return: 0; -EINVAL (wrong size); -EFAULT; -EBUSY.
 */
int gpcvm_check_report(const struct gpcvm_layout_view *lv, uint64_t gpa,
		       uint64_t size);

/*
 * The memslot pieces of the RAM region [@base, @base + @size) with an
 * overlay page at @page: the part below the page and the part above it, in
 * that order, leaving out empty ones. A page not inside the region (in
 * another region, in the hole) leaves the region whole. Pure geometry: 0
 * is a page like any other here (the VMM never puts the overlay there).
 * Return: how many of @out are used (0-2; 0 when the page covers a
 * one-page region).
 */
int gpcvm_split_around(uint64_t base, uint64_t size, uint64_t page,
		       struct gpcvm_range out[2]);

/*
 * Pages that must be remapped together: the page ranges under the
 * registered runstate areas, with ranges that share a page merged (so each
 * area stays contiguous in the host after a remap). Return: the count.
 */
int gpcvm_runstate_clusters(const struct gpcvm_layout_view *lv,
			    struct gpcvm_range out[GPCVM_MAX_VCPUS]);

#endif /* GPCVM_LAYOUT_H */
