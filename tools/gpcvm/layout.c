// SPDX-License-Identifier: MIT
/*
 * layout.c - the registration rules of gpcvm (see layout.h).
 */
#include <errno.h>

#include "layout.h"

_Static_assert(GPCVM_ENOENT == ENOENT && GPCVM_EFAULT == EFAULT &&
		       GPCVM_EBUSY == EBUSY && GPCVM_EINVAL == EINVAL &&
		       GPCVM_ENOSYS == ENOSYS,
	       "the guest's errno values are Linux's");

static int overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

static int inside(uint64_t gpa, uint64_t size, uint64_t base, uint64_t len)
{
	return gpa >= base && size <= len && gpa - base <= len - size;
}

int gpcvm_check_shinfo(const struct gpcvm_layout_view *lv, uint64_t gpa,
		       uint64_t size)
{
	if (size != GPCVM_PAGE || (gpa & (GPCVM_PAGE - 1)))
		return -EINVAL;
	if (gpa + size < gpa || gpa + size > GPCVM_PHYS_LIMIT)
		return -EFAULT;
	if (!inside(gpa, size, GPCVM_ZONE_GPA, GPCVM_ZONE_SIZE) &&
	    !inside(gpa, size, GPCVM_HOLE_GPA, GPCVM_HOLE_SIZE))
		return -EFAULT;
	for (unsigned int i = 0; i < lv->nvcpus && i < GPCVM_MAX_VCPUS; i++)
		if (lv->rs_gpa[i] && overlaps(gpa, size, lv->rs_gpa[i],
					      sizeof(struct gpcvm_runstate)))
			return -EBUSY;
	return 0;
}

int gpcvm_check_runstate(const struct gpcvm_layout_view *lv, unsigned int vcpu,
			 uint64_t gpa, uint64_t size)
{
	if (vcpu >= lv->nvcpus || vcpu >= GPCVM_MAX_VCPUS)
		return -ENOENT;
	if (size != sizeof(struct gpcvm_runstate))
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

int gpcvm_check_report(uint64_t gpa, uint64_t size)
{
	if (size != sizeof(struct gpcvm_report))
		return -EINVAL;
	if (gpa + size < gpa ||
	    !inside(gpa, size, GPCVM_LOW_GPA, GPCVM_LOW_SIZE))
		return -EFAULT;
	return 0;
}

int gpcvm_zone_split(uint64_t shinfo_gpa, struct gpcvm_range out[2])
{
	uint64_t end = GPCVM_ZONE_GPA + GPCVM_ZONE_SIZE;
	int n = 0;

	if (!shinfo_gpa ||
	    !inside(shinfo_gpa, GPCVM_PAGE, GPCVM_ZONE_GPA, GPCVM_ZONE_SIZE)) {
		out[0].gpa = GPCVM_ZONE_GPA;
		out[0].size = GPCVM_ZONE_SIZE;
		return 1;
	}
	if (shinfo_gpa > GPCVM_ZONE_GPA) {
		out[n].gpa = GPCVM_ZONE_GPA;
		out[n++].size = shinfo_gpa - GPCVM_ZONE_GPA;
	}
	if (shinfo_gpa + GPCVM_PAGE < end) {
		out[n].gpa = shinfo_gpa + GPCVM_PAGE;
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
