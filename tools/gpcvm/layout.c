// SPDX-License-Identifier: MIT
/*
 * layout.c - the registration rules of gpcvm (see layout.h).
 */
#include <errno.h>

#include "layout.h"

_Static_assert(GPCVM_EPERM == EPERM && GPCVM_ENOENT == ENOENT &&
		       GPCVM_EFAULT == EFAULT && GPCVM_EBUSY == EBUSY &&
		       GPCVM_EINVAL == EINVAL && GPCVM_ENOSYS == ENOSYS,
	       "the guest's errno values are Linux's");

const struct gpcvm_ram_region gpcvm_ram_regions[GPCVM_NR_RAM_REGIONS] = {
	[GPCVM_REGION_LOW] = { GPCVM_LOW_GPA,
			       GPCVM_LOW_SIZE,
			       { GPCVM_SLOT_LOW, GPCVM_SLOT_LOW_HI } },
	[GPCVM_REGION_RSWIN] = { GPCVM_RSWIN_GPA,
				 GPCVM_RSWIN_SIZE,
				 { GPCVM_SLOT_RSWIN, GPCVM_SLOT_RSWIN_HI } },
	[GPCVM_REGION_ZONE] = { GPCVM_ZONE_GPA,
				GPCVM_ZONE_SIZE,
				{ GPCVM_SLOT_ZONE_LO, GPCVM_SLOT_ZONE_HI } },
};

/*
 * What the VMM wrote into guest RAM to build the machine, or keeps writing
 * on its own: an overlay there would hide the GDT and page tables from the
 * vCPUs' MMU, the boot page from the guest (and the guest's view of it
 * from the VMM, which writes it directly), the code from the vCPUs.
 */
static const struct gpcvm_range vmm_pages[] = {
	{ 0, GPCVM_TABLES_END },
	{ GPCVM_BOOT_GPA, GPCVM_PAGE },
	{ GPCVM_IMAGE_GPA, GPCVM_IMAGE_MAX },
};

static int overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

static int inside(uint64_t gpa, uint64_t size, uint64_t base, uint64_t len)
{
	return gpa >= base && size <= len && gpa - base <= len - size;
}

enum gpcvm_region gpcvm_region_of(uint64_t gpa)
{
	for (int r = 0; r < GPCVM_NR_RAM_REGIONS; r++)
		if (inside(gpa, 1, gpcvm_ram_regions[r].gpa,
			   gpcvm_ram_regions[r].size))
			return (enum gpcvm_region)r;
	if (inside(gpa, 1, GPCVM_HOLE_GPA, GPCVM_HOLE_SIZE))
		return GPCVM_REGION_HOLE;
	if (inside(gpa, 1, GPCVM_HOT_GPA, GPCVM_NR_HOT * GPCVM_HOT_SIZE))
		return GPCVM_REGION_HOT;
	return GPCVM_REGION_NONE;
}

int gpcvm_check_shinfo(const struct gpcvm_layout_view *lv, uint64_t gpa,
		       uint64_t size)
{
	enum gpcvm_region r;

	if (size != GPCVM_PAGE || (gpa & (GPCVM_PAGE - 1)))
		return -EINVAL;
	if (gpa + size < gpa || gpa + size > GPCVM_PHYS_LIMIT)
		return -EFAULT;
	/* Page aligned and one page: the page is inside whatever region its
	 * first byte is in (every region is page aligned). Hot-pluggable RAM
	 * and addresses with nothing there but outside the hole window stay
	 * refused. */
	r = gpcvm_region_of(gpa);
	if (r == GPCVM_REGION_HOT || r == GPCVM_REGION_NONE)
		return -EFAULT;
	for (unsigned int i = 0; i < sizeof(vmm_pages) / sizeof(vmm_pages[0]);
	     i++)
		if (overlaps(gpa, size, vmm_pages[i].gpa, vmm_pages[i].size))
			return -EPERM;
	for (unsigned int i = 0; i < lv->nvcpus && i < GPCVM_MAX_VCPUS; i++) {
		if (lv->rs_gpa[i] && overlaps(gpa, size, lv->rs_gpa[i],
					      sizeof(struct gpcvm_runstate)))
			return -EBUSY;
		if (lv->report_gpa[i] && overlaps(gpa, size, lv->report_gpa[i],
						  sizeof(struct gpcvm_report)))
			return -EBUSY;
	}
	return 0;
}

int gpcvm_check_runstate(const struct gpcvm_layout_view *lv, unsigned int vcpu,
			 uint64_t gpa, uint64_t size)
{
	if (vcpu >= lv->nvcpus || vcpu >= GPCVM_MAX_VCPUS)
		return -ENOENT;
	if (size != sizeof(struct gpcvm_runstate))
		return -EINVAL;
	/* GPA 0 names "no area" in the view (and gpa = size = 0 unregisters):
	 * an area there would be invisible to the overlap checks. */
	if (!gpa)
		return -EINVAL;
	/* Any byte address of low RAM or the runstate window, but not across
	 * the boundary between them (two memslots). */
	if (gpa + size < gpa ||
	    (!inside(gpa, size, GPCVM_LOW_GPA, GPCVM_LOW_SIZE) &&
	     !inside(gpa, size, GPCVM_RSWIN_GPA, GPCVM_RSWIN_SIZE)))
		return -EFAULT;
	if (lv->shinfo_gpa && overlaps(gpa, size, lv->shinfo_gpa, GPCVM_PAGE))
		return -EBUSY;
	for (unsigned int i = 0; i < lv->nvcpus && i < GPCVM_MAX_VCPUS; i++)
		if (i != vcpu && lv->rs_gpa[i] &&
		    overlaps(gpa, size, lv->rs_gpa[i], size))
			return -EBUSY;
	return 0;
}

int gpcvm_check_report(const struct gpcvm_layout_view *lv, uint64_t gpa,
		       uint64_t size)
{
	if (size != sizeof(struct gpcvm_report) || !gpa) /* 0: "none" */
		return -EINVAL;
	if (gpa + size < gpa ||
	    !inside(gpa, size, GPCVM_LOW_GPA, GPCVM_LOW_SIZE))
		return -EFAULT;
	if (lv->shinfo_gpa && overlaps(gpa, size, lv->shinfo_gpa, GPCVM_PAGE))
		return -EBUSY;
	return 0;
}

int gpcvm_split_around(uint64_t base, uint64_t size, uint64_t page,
		       struct gpcvm_range out[2])
{
	uint64_t end = base + size;
	int n = 0;

	if (!inside(page, GPCVM_PAGE, base, size)) {
		out[0].gpa = base;
		out[0].size = size;
		return 1;
	}
	if (page > base) {
		out[n].gpa = base;
		out[n++].size = page - base;
	}
	if (page + GPCVM_PAGE < end) {
		out[n].gpa = page + GPCVM_PAGE;
		out[n].size = end - out[n].gpa;
		n++;
	}
	return n;
}

int gpcvm_runstate_clusters(const struct gpcvm_layout_view *lv,
			    struct gpcvm_range out[GPCVM_MAX_VCPUS])
{
	struct gpcvm_range r[GPCVM_MAX_VCPUS];
	int n = 0, m = 0;

	for (unsigned int i = 0; i < lv->nvcpus && i < GPCVM_MAX_VCPUS; i++) {
		uint64_t first, last;

		if (!lv->rs_gpa[i])
			continue;
		first = lv->rs_gpa[i] & ~(GPCVM_PAGE - 1);
		last = (lv->rs_gpa[i] + sizeof(struct gpcvm_runstate) - 1) &
		       ~(GPCVM_PAGE - 1);
		r[n].gpa = first;
		r[n++].size = last + GPCVM_PAGE - first;
	}
	/* Insertion sort by gpa, then merge ranges that share a page. */
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && r[j].gpa < r[j - 1].gpa; j--) {
			struct gpcvm_range t = r[j];

			r[j] = r[j - 1];
			r[j - 1] = t;
		}
	for (int i = 0; i < n; i++) {
		if (m && r[i].gpa < out[m - 1].gpa + out[m - 1].size) {
			uint64_t end = r[i].gpa + r[i].size;

			if (end > out[m - 1].gpa + out[m - 1].size)
				out[m - 1].size = end - out[m - 1].gpa;
			continue;
		}
		out[m++] = r[i];
	}
	return m;
}
