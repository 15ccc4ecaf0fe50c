// SPDX-License-Identifier: MIT
/*
 * hostmem_retired.c - the retired copies of replaced pages, kept by the
 * test build only.
 */
#include <stdlib.h>
#include <sys/mman.h>

#include "hostmem_priv.h"

/*
 * ---- retired pages (under hm->lock; test build only) --------------------
 *
 * The test build (GPC_TESTING, the gpc_testing library) keeps the pages a
 * remap or migrate retires mapped read-only, so that a test can prove
 * nothing was written to them after range_start returned. The installed
 * library keeps nothing: these helpers are empty there.
 */
#ifdef GPC_TESTING

static int retired_reserve(struct gpc_hostmem *hm, size_t extra)
{
	return gpci_hm_array_reserve((void **)&hm->retired, &hm->tcap,
				     hm->nretired + extra,
				     sizeof(*hm->retired));
}

static void retired_remove(struct gpc_hostmem *hm, size_t i)
{
	munmap(hm->retired[i].addr, hm->retired[i].len);
	hm->retired[i] = hm->retired[--hm->nretired];
}

/*
 * Cut [start, end) out of record @i, which overlaps it. Returns whether the
 * record is gone. A record that would split in two and cannot get a slot
 * for its second half is dropped whole: retired copies are a test aid and
 * losing one only makes gpc_hostmem_retired_page() return NULL.
 */
static bool retired_cut_one(struct gpc_hostmem *hm, size_t i, uint64_t start,
			    uint64_t end)
{
	struct hm_retired *t = &hm->retired[i];
	uint64_t t_end = t->hva + t->len;
	char *base = t->addr;

	if (start <= t->hva && end >= t_end) {
		retired_remove(hm, i);
		return true;
	}
	if (start > t->hva && end < t_end) {
		if (retired_reserve(hm, 1)) {
			retired_remove(hm, i);
			return true;
		}
		t = &hm->retired[i];
		hm->retired[hm->nretired++] =
			(struct hm_retired){ end, t_end - end,
					     base + (end - t->hva) };
		munmap(base + (start - t->hva), end - start);
		t->len = start - t->hva;
		return false;
	}
	if (start <= t->hva) {
		munmap(base, end - t->hva);
		t->addr = base + (end - t->hva);
		t->len = t_end - end;
		t->hva = end;
	} else {
		munmap(base + (start - t->hva), t_end - start);
		t->len = start - t->hva;
	}
	return false;
}

/* Forget (and unmap) every retired page of [start, end). */
void gpci_hm_retired_cut(struct gpc_hostmem *hm, uint64_t start, uint64_t end)
{
	size_t i = 0;

	while (i < hm->nretired) {
		struct hm_retired *t = &hm->retired[i];

		if (t->hva < end && start < t->hva + t->len &&
		    retired_cut_one(hm, i, start, end))
			continue; /* slot i now holds another record */
		i++;
	}
}

/*
 * Keep the pages of extent @e reachable, read-only, at a private address:
 * they are about to stop backing e->hva. Best effort (see retired_cut_one).
 */
void gpci_hm_retired_add(struct gpc_hostmem *hm, const struct hm_extent *e)
{
	void *p;

	gpci_hm_retired_cut(hm, e->hva, e->hva + e->len);
	if (!e->file || retired_reserve(hm, 1))
		return;
	p = mmap(NULL, e->len, PROT_READ, MAP_SHARED, e->file->fd,
		 (off_t)e->off);
	if (p == MAP_FAILED)
		return;
	hm->retired[hm->nretired++] = (struct hm_retired){ e->hva, e->len, p };
}

/* Unmap and free every retired copy (destroy). */
void gpci_hm_retired_fini(struct gpc_hostmem *hm)
{
	while (hm->nretired)
		retired_remove(hm, hm->nretired - 1);
	free(hm->retired);
}

#else /* !GPC_TESTING */

void gpci_hm_retired_cut(struct gpc_hostmem *hm, uint64_t start, uint64_t end)
{
	(void)hm;
	(void)start;
	(void)end;
}

void gpci_hm_retired_add(struct gpc_hostmem *hm, const struct hm_extent *e)
{
	(void)hm;
	(void)e;
}

void gpci_hm_retired_fini(struct gpc_hostmem *hm)
{
	(void)hm;
}

#endif /* GPC_TESTING */
