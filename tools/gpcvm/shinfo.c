// SPDX-License-Identifier: MIT
/*
 * shinfo.c - the shared-info page: its pool of host pages, its overlay
 * memslot and the RAM slots split around it, its moves (HC_SHINFO) and the
 * canaries of the pages and the RAM it left.
 *
 * The VMM owns VMM_POOL_PAGES host pages. The current one is mapped at the
 * guest's GPA as an overlay memslot. On RAM (low RAM, the runstate window,
 * the overlay zone) the region's slot is split around it, as QEMU's flat
 * view does for a Xen shared-info page, since KVM refuses overlapping
 * slots; the RAM under it is hidden, not lost, and the region is rebuilt
 * whole when the page leaves. A move takes the next page of the pool: the
 * cache is deactivated (no sender can use the old page once that returns),
 * the content copied, the memslots rearranged in one transaction (readers
 * see the old layout or the new one; KVM, which has no atomic multi-slot
 * update, gets it as single-slot calls) with every vCPU paused, the cache activated at the new GPA,
 * and the old page filled with a canary that must still be intact when the
 * page is reused or at the end. The covered RAM is copied when it is
 * covered and must be unchanged when it is uncovered.
 *
 * Writes the shared-info fields of struct vmm (shinfo_*) and its own state
 * (struct vmm_shinfo) under shinfo_lock, with every vCPU paused for a move;
 * others read shinfo_gpa/shinfo_epoch and use the cache.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmm.h"

#define POOL_CANARY 0x5a5a5a5a00000000ull

/* The shared-info state (m->sh): only this file touches it. */
struct vmm_shinfo {
	int pool_cur; /* -1: none */
	bool pool_retired[VMM_POOL_PAGES];
	/* The memslots of each RAM region now (gpcvm_split_around() of the
	 * region around the shared-info page; size 0: absent). */
	struct gpcvm_range ram_slots[GPCVM_NR_RAM_REGIONS][2];
	/* The RAM the shared-info page covers (NULL: none, it is in the
	 * hole) and a copy of it taken when it was covered: it must be
	 * unchanged when the page moves away (hidden, not lost). */
	uint8_t *hidden;
	uint64_t hidden_gpa;
	uint8_t hidden_snap[GPCVM_PAGE];
};

int vmm_shinfo_setup(struct vmm *m)
{
	int err;

	m->sh = calloc(1, sizeof(*m->sh));
	if (!m->sh)
		return -ENOMEM;
	m->sh->pool_cur = -1;
	for (int r = 0; r < GPCVM_NR_RAM_REGIONS; r++) {
		const struct gpcvm_ram_region *rg = &gpcvm_ram_regions[r];

		if ((err = vmm_slot_create(m, rg->slot[0], rg->gpa, rg->size,
					   m->ram[r])))
			return err;
		m->sh->ram_slots[r][0].gpa = rg->gpa;
		m->sh->ram_slots[r][0].size = rg->size;
	}
	return 0;
}

void vmm_shinfo_destroy(struct vmm *m)
{
	free(m->sh);
	m->sh = NULL;
}

/* ---- shared info ------------------------------------------------------------------ */

static uint8_t *pool_page(struct vmm *m, int i)
{
	return m->pool + (size_t)i * GPCVM_PAGE;
}

static void pool_check(struct vmm *m, int i)
{
	int64_t off;

	if (!m->sh->pool_retired[i])
		return;
	atomic_fetch_add(&m->st.canary_checks, 1);
	off = vmm_canary_check(pool_page(m, i), GPCVM_PAGE, POOL_CANARY + i);
	if (off >= 0)
		vmm_violation(m, V_STALE,
			      "old shared-info page %d written at +%#" PRIx64
			      " after its move",
			      i, (uint64_t)off);
	m->sh->pool_retired[i] = false;
}

/*
 * The RAM the shared-info page covered must be as it was when it was
 * covered: nothing may write it while hidden (the guest cannot reach it,
 * the VMM's own writers keep off it by the registration rules), and its
 * content must be there again once the page leaves.
 */
static void hidden_check(struct vmm *m)
{
	uint64_t a, b;

	if (!m->sh->hidden)
		return;
	atomic_fetch_add(&m->st.canary_checks, 1);
	atomic_fetch_add(&m->st.hidden_checks, 1);
	for (uint64_t off = 0; off < GPCVM_PAGE; off += 8) {
		memcpy(&a, m->sh->hidden + off, 8);
		memcpy(&b, m->sh->hidden_snap + off, 8);
		if (a == b)
			continue;
		vmm_violation(
			m, V_STALE,
			"RAM at gpa %#" PRIx64
			" under the shared-info page changed at +%#" PRIx64
			" while hidden (%#" PRIx64 " became %#" PRIx64 ")",
			m->sh->hidden_gpa, off, b, a);
		break;
	}
	m->sh->hidden = NULL;
}

void vmm_pool_final_check(struct vmm *m)
{
	for (int i = 0; i < VMM_POOL_PAGES; i++)
		pool_check(m, i);
	hidden_check(m);
}

/*
 * Every RAM region's memslots for the shared-info page at @gpa, as steps of
 * @tx: the region it is in split around it, every other one whole (the one
 * it left is rebuilt). The overlay slot must be absent by then (an earlier
 * step). KVM cannot replace slots atomically (its mirror of the commit is a
 * delete, then a create), so every vCPU is paused: one that ran in between
 * would find no memory under the code, the page tables or the stack it is
 * using. The caller records the new layout once the commit succeeded.
 */
static int ram_rearrange(struct vmm *m, struct gpc_memslot_txn *tx,
			 uint64_t gpa,
			 struct gpcvm_range want[GPCVM_NR_RAM_REGIONS][2])
{
	for (int r = 0; r < GPCVM_NR_RAM_REGIONS; r++) {
		const struct gpcvm_ram_region *rg = &gpcvm_ram_regions[r];
		int err;

		memset(want[r], 0, sizeof(want[r]));
		gpcvm_split_around(rg->gpa, rg->size, gpa, want[r]);
		if (!memcmp(want[r], m->sh->ram_slots[r], sizeof(want[r])))
			continue;
		for (int i = 0; i < 2; i++)
			if (m->sh->ram_slots[r][i].size &&
			    (err = gpc_memslot_txn_delete(tx, rg->slot[i])))
				return err;
		for (int i = 0; i < 2; i++)
			if (want[r][i].size &&
			    (err = vmm_slots_add(
				     tx, rg->slot[i], want[r][i].gpa,
				     want[r][i].size,
				     m->ram[r] + (want[r][i].gpa - rg->gpa))))
				return err;
	}
	return 0;
}

/*
 * Move the overlay to @gpa and rearrange the RAM around it: one
 * transaction, so that no reader (and no cache) ever sees RAM missing
 * under the page or the page missing.
 */
static int slots_switch(struct vmm *m, uint64_t old, uint64_t gpa,
			struct gpcvm_shared_info *si)
{
	struct gpcvm_range want[GPCVM_NR_RAM_REGIONS][2];
	struct gpc_memslot_txn *tx;
	int err = vmm_slots_begin(m, &tx);

	if (err)
		return err;
	if (old)
		err = gpc_memslot_txn_delete(tx, GPCVM_SLOT_SHINFO);
	if (!err)
		err = ram_rearrange(m, tx, gpa, want);
	if (!err)
		err = vmm_slots_add(tx, GPCVM_SLOT_SHINFO, gpa, GPCVM_PAGE, si);
	err = vmm_slots_commit(m, tx, err);
	if (!err)
		memcpy(m->sh->ram_slots, want, sizeof(want));
	return err;
}

/* With every vCPU paused and m->shinfo_lock held. */
static int shinfo_switch(struct vmm *m, uint64_t gpa)
{
	uint64_t old = atomic_load(&m->shinfo_gpa);
	int from = m->sh->pool_cur, to = (from + 1) % VMM_POOL_PAGES;
	struct gpcvm_shared_info *si = (void *)pool_page(m, to);
	enum gpcvm_region region;
	int err;

	/* From here no sender can use the old page (it waits a grace
	 * period / takes the write lock): the copy below is complete. */
	if (old)
		gpc_cache_deactivate(&m->shinfo);
	pool_check(m, to);
	if (from >= 0) {
		memcpy(si, pool_page(m, from), GPCVM_PAGE);
	} else {
		memset(si, 0, GPCVM_PAGE);
		si->magic = GPCVM_SHINFO_MAGIC;
	}
	si->moves++;
	if ((err = slots_switch(m, old, gpa, si)))
		return err;
	/* The RAM left behind is visible again: is it as we hid it? Then
	 * hide the new one, with every vCPU paused since the guest last
	 * wrote it. */
	hidden_check(m);
	region = gpcvm_region_of(gpa);
	if (region < GPCVM_NR_RAM_REGIONS) {
		m->sh->hidden =
			m->ram[region] + (gpa - gpcvm_ram_regions[region].gpa);
		m->sh->hidden_gpa = gpa;
		memcpy(m->sh->hidden_snap, m->sh->hidden, GPCVM_PAGE);
	}
	if (from >= 0) {
		vmm_canary_fill(pool_page(m, from), GPCVM_PAGE,
				POOL_CANARY + from);
		m->sh->pool_retired[from] = true;
	}
	m->sh->pool_cur = to;
	err = gpc_cache_activate_gpa(&m->shinfo, gpa, GPCVM_PAGE);
	if (err)
		vmm_violation(m, V_VMM, "shared-info cache at %#" PRIx64 ": %s",
			      gpa, strerror(-err));
	atomic_store(&m->shinfo_gpa, gpa);
	atomic_fetch_add(&m->shinfo_epoch, 1);
	vmm_futex_wake(&m->shinfo_epoch);
	if (old) {
		atomic_fetch_add(&m->st.shinfo_moves, 1);
		atomic_fetch_add(&m->st.shinfo_landed[region], 1);
	}
	return err;
}

int64_t vmm_hc_shinfo(struct vmm_vcpu *self, uint64_t gpa, uint64_t size)
{
	struct vmm *m = self->m;
	struct gpcvm_layout_view lv;
	uint64_t t0;
	int err;

	/* rs_lock across the check and the move: a runstate area or a
	 * report checked against the old place could otherwise land under
	 * the new one. (Lock order: shinfo_lock, rs_lock, pause_lock; no
	 * vCPU waits for rs_lock inside the pause gate.) */
	pthread_mutex_lock(&m->shinfo_lock);
	pthread_mutex_lock(&m->rs_lock);
	vmm_layout_view_locked(m, &lv);
	err = gpcvm_check_shinfo(&lv, gpa, size);
	if (err || gpa == lv.shinfo_gpa)
		goto out;
	vmm_pause_all(m);
	t0 = vmm_now_ns();
	err = shinfo_switch(m, gpa);
	hist_add(&m->move_lat, vmm_now_ns() - t0);
	vmm_resume_all(m);
	if (err)
		err = -EIO;
out:
	pthread_mutex_unlock(&m->rs_lock);
	pthread_mutex_unlock(&m->shinfo_lock);
	return err;
}
