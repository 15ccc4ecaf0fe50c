// SPDX-License-Identifier: MIT
/*
 * churn.c - the VMM-side churn scenarios, one thread each.
 *
 * remap: migrate the pages under the runstate areas to new host pages
 *   (same content) inside a blocking invalidation: range_start evicts every
 *   vCPU whose runstate cache covers them (kicking it out of KVM_RUN). Right
 *   after range_start returns, a copy of each page is kept; the page the
 *   migration retires must still equal that copy when it is next looked at
 *   (the next remap of the page, or the end): anything else is a write that
 *   landed after the invalidation returned. Pages of the runstate window
 *   hold nothing but runstate areas; a runstate area in low RAM shares its
 *   pages with whatever the guest keeps there, which it may write at any
 *   time, so those are migrated with every vCPU paused (the copy then
 *   cannot miss a guest write, and no guest write can reach the retired
 *   page). The boot page, which the VMM itself writes at any time, is never
 *   migrated.
 *
 * hotplug: pick a hot slot the guest is not using (cmpxchg FREE -> OFFLINE
 *   on its state word in the boot page), delete its memslot (KVM too), fill
 *   its host memory with a canary, wait, check the canary, re-create the
 *   memslot, mark it FREE. The VMM's heartbeat cache on the slot must not
 *   write after the delete returned; the guest must not touch it at all.
 *
 * reclaim: pick an idle hot slot (FREE -> RECLAIM), invalidate it with
 *   GPC_INVAL_NONBLOCK (as a reclaimer that cannot sleep would), retrying on
 *   -EAGAIN, discard its pages, check they read as zero, end the
 *   invalidation, mark it FREE.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gpc_testing.h" /* gpc_hostmem_retired_page: the remap canary */
#include "vmm.h"

#define HOT_CANARY	  0xc4c4c4c400000000ull
#define EAGAIN_GIVE_UP_NS 10000000000ull

struct churn_arg {
	struct vmm *m;
	void (*once)(struct vmm *m, uint64_t *rng);
	unsigned int period_us;
	uint64_t rng;
};

/* The churn state (m->churn): only this file touches it. */
struct vmm_churn {
	pthread_t threads[3];
	struct churn_arg args[3];
	unsigned int n;
	_Atomic int stop;
	/* Remap canaries: page copies at retire, indexed by GPA page over
	 * the RAM where runstate areas may be (low RAM, runstate window). */
	uint8_t *rs_snap;
	bool rs_snap_valid[VMM_RS_RAM_END / GPCVM_PAGE];
};

/* ---- remap ------------------------------------------------------------------------ */

static void remap_check_page(struct vmm *m, unsigned int pg)
{
	struct vmm_churn *c = m->churn;
	const uint8_t *old, *snap = c->rs_snap + (size_t)pg * GPCVM_PAGE;
	uint64_t gpa = (uint64_t)pg * GPCVM_PAGE;

	if (!c->rs_snap_valid[pg])
		return;
	atomic_fetch_add(&m->st.canary_checks, 1);
	old = gpc_hostmem_retired_page(m->hm, vmm_rs_ram_hva(m, gpa));
	if (!old) {
		vmm_violation(m, V_VMM,
			      "no retired copy of runstate page %#" PRIx64,
			      gpa);
		return;
	}
	for (unsigned int off = 0; off < GPCVM_PAGE; off += 8) {
		uint64_t was, now;

		if (!memcmp(old + off, snap + off, 8))
			continue;
		memcpy(&was, snap + off, 8);
		memcpy(&now, old + off, 8);
		vmm_violation(m, V_STALE,
			      "runstate page %#" PRIx64
			      " written at +%#x after its invalidation "
			      "returned (%#" PRIx64 " became %#" PRIx64 ")",
			      gpa, off, was, now);
		return;
	}
}

static void remap_once(struct vmm *m, uint64_t *rng)
{
	struct gpcvm_range cl[GPCVM_MAX_VCPUS], r;
	struct gpcvm_layout_view lv;
	uint64_t hva, t0;
	bool pause;
	int n, err;

	vmm_layout_view(m, &lv);
	n = gpcvm_runstate_clusters(&lv, cl);
	if (!n)
		return;
	r = cl[vmm_rand(rng) % (uint64_t)n];
	/* The registration rules keep each area, hence each cluster, inside
	 * low RAM or inside the window. */
	if (r.gpa + r.size > VMM_RS_RAM_END ||
	    (r.gpa < GPCVM_LOW_SIZE && r.gpa + r.size > GPCVM_LOW_SIZE)) {
		vmm_violation(m, V_VMM,
			      "remap: cluster %#" PRIx64 "+%#" PRIx64
			      " outside runstate RAM",
			      r.gpa, r.size);
		return;
	}
	if (r.gpa < GPCVM_BOOT_GPA + GPCVM_PAGE &&
	    GPCVM_BOOT_GPA < r.gpa + r.size)
		return;
	pause = r.gpa < GPCVM_RSWIN_GPA;
	hva = vmm_rs_ram_hva(m, r.gpa);
	if (pause)
		vmm_pause_all(m);
	t0 = vmm_now_ns();
	err = gpc_invalidate_range_start(m->vm, hva, hva + r.size, 0);
	hist_add(&m->inval_lat, vmm_now_ns() - t0);
	if (err) {
		vmm_violation(m, V_VMM, "remap: range_start: %s",
			      strerror(-err));
		goto out;
	}
	atomic_fetch_add(&m->st.inval_blocking, 1);
	for (uint64_t off = 0; off < r.size; off += GPCVM_PAGE) {
		unsigned int pg = (unsigned int)((r.gpa + off) / GPCVM_PAGE);

		remap_check_page(m, pg);
		memcpy(m->churn->rs_snap + (size_t)pg * GPCVM_PAGE,
		       (void *)(hva + off), GPCVM_PAGE);
		m->churn->rs_snap_valid[pg] = true;
	}
	/* Already inside our own bracket: no second notification. */
	err = gpc_hostmem_migrate(NULL, m->hm, hva, r.size);
	if (err)
		vmm_violation(m, V_VMM, "remap: migrate: %s", strerror(-err));
	gpc_invalidate_range_end(m->vm, hva, hva + r.size);
	atomic_fetch_add(&m->st.remaps, 1);
out:
	if (pause)
		vmm_resume_all(m);
}

/* ---- hot-unplug and replug ------------------------------------------------------ */

static bool claim(struct vmm *m, unsigned int i, uint32_t to)
{
	uint32_t expected = GPCVM_HOT_FREE;

	return __atomic_compare_exchange_n(&m->boot->hot_state[i], &expected,
					   to, 0, __ATOMIC_SEQ_CST,
					   __ATOMIC_SEQ_CST);
}

static void release(struct vmm *m, unsigned int i)
{
	__atomic_store_n(&m->boot->hot_state[i], GPCVM_HOT_FREE,
			 __ATOMIC_SEQ_CST);
}

/*
 * On the rwlock scheme a memslot change does not wait for readers that
 * checked the generation just before it (see the final report of this
 * work): bracket the unplug with an invalidation of the slot's host range,
 * which takes every overlapping cache's write lock. GPCVM_HOTPLUG_NO_INVAL=1
 * leaves it out.
 */
static bool hotplug_inval(void)
{
	const char *e = getenv("GPCVM_HOTPLUG_NO_INVAL");

	return !(e && *e && strcmp(e, "0"));
}

static void hotplug_once(struct vmm *m, uint64_t *rng)
{
	unsigned int i = (unsigned int)(vmm_rand(rng) % GPCVM_NR_HOT);
	uint64_t gpa = GPCVM_HOT_GPA + i * GPCVM_HOT_SIZE;
	uint64_t hva = (uint64_t)m->hot[i];
	int64_t off;

	if (!claim(m, i, GPCVM_HOT_OFFLINE))
		return;
	if (vmm_slot_delete(m, GPCVM_SLOT_HOT0 + i))
		goto out;
	if (hotplug_inval()) {
		uint64_t t0 = vmm_now_ns();

		if (!gpc_invalidate_range_start(m->vm, hva,
						hva + GPCVM_HOT_SIZE, 0)) {
			hist_add(&m->inval_lat, vmm_now_ns() - t0);
			atomic_fetch_add(&m->st.inval_blocking, 1);
			gpc_invalidate_range_end(m->vm, hva,
						 hva + GPCVM_HOT_SIZE);
		}
	}
	vmm_canary_fill(m->hot[i], GPCVM_HOT_SIZE, HOT_CANARY + i);
	vmm_sleep_us(1000 + vmm_rand(rng) % 2000);
	atomic_fetch_add(&m->st.canary_checks, 1);
	off = vmm_canary_check(m->hot[i], GPCVM_HOT_SIZE, HOT_CANARY + i);
	if (off >= 0)
		vmm_violation(m, V_STALE,
			      "hot slot %u (gpa %#" PRIx64
			      ") written at +%#" PRIx64 " while unplugged",
			      i, gpa, (uint64_t)off);
	memset(m->hot[i], 0, GPCVM_HOT_SIZE);
	if (vmm_slot_create(m, GPCVM_SLOT_HOT0 + i, gpa, GPCVM_HOT_SIZE,
			    m->hot[i]))
		return; /* stays OFFLINE: the guest keeps away */
	atomic_fetch_add(&m->st.hot_cycles, 1);
out:
	release(m, i);
}

/* ---- reclaim -------------------------------------------------------------------- */

static void reclaim_once(struct vmm *m, uint64_t *rng)
{
	unsigned int i = (unsigned int)(vmm_rand(rng) % GPCVM_NR_HOT);
	uint64_t hva = (uint64_t)m->hot[i], t0 = vmm_now_ns();
	int err;

	if (!claim(m, i, GPCVM_HOT_RECLAIM))
		return;
	for (;;) {
		err = gpc_invalidate_range_start(
			m->vm, hva, hva + GPCVM_HOT_SIZE, GPC_INVAL_NONBLOCK);
		if (err != -EAGAIN)
			break;
		atomic_fetch_add(&m->st.inval_eagain, 1);
		if (vmm_now_ns() - t0 > EAGAIN_GIVE_UP_NS) {
			vmm_violation(m, V_VMM,
				      "reclaim: -EAGAIN for 10 s on slot %u",
				      i);
			/* Giving up: withdraw the pending mark, so that the
			 * vCPUs' refreshes of this range go on at once. */
			gpc_invalidate_range_cancel(m->vm, hva,
						    hva + GPCVM_HOT_SIZE);
			goto out;
		}
		vmm_sleep_us(20);
	}
	hist_add(&m->inval_lat, vmm_now_ns() - t0);
	if (err) {
		vmm_violation(m, V_VMM, "reclaim: range_start: %s",
			      strerror(-err));
		goto out;
	}
	atomic_fetch_add(&m->st.inval_nonblock, 1);
	err = gpc_hostmem_discard(NULL, m->hm, hva, GPCVM_HOT_SIZE);
	if (err)
		vmm_violation(m, V_VMM, "reclaim: discard: %s", strerror(-err));
	atomic_fetch_add(&m->st.canary_checks, 1);
	for (uint64_t off = 0; off < GPCVM_HOT_SIZE; off += 8) {
		uint64_t v;

		memcpy(&v, m->hot[i] + off, 8);
		if (v) {
			vmm_violation(m, V_STALE,
				      "hot slot %u written at +%#" PRIx64
				      " after its non-blocking invalidation",
				      i, off);
			break;
		}
	}
	gpc_invalidate_range_end(m->vm, hva, hva + GPCVM_HOT_SIZE);
	atomic_fetch_add(&m->st.reclaims, 1);
out:
	release(m, i);
}

/* ---- threads --------------------------------------------------------------------- */

static void *churn_thread(void *arg)
{
	struct churn_arg *a = arg;

	while (!atomic_load(&a->m->churn->stop)) {
		a->once(a->m, &a->rng);
		vmm_sleep_us(a->period_us / 2 +
			     vmm_rand(&a->rng) % a->period_us);
	}
	return NULL;
}

int vmm_churn_start(struct vmm *m)
{
	static const struct {
		unsigned int bit;
		void (*once)(struct vmm *m, uint64_t *rng);
		unsigned int period_us;
	} kinds[] = {
		{ GPCVM_SC_REMAP, remap_once, 2000 },
		{ GPCVM_SC_HOTPLUG, hotplug_once, 4000 },
		{ GPCVM_SC_RECLAIM, reclaim_once, 3000 },
	};

	struct vmm_churn *c = calloc(1, sizeof(*c));

	if (!c || !(c->rs_snap = calloc(1, VMM_RS_RAM_END))) {
		free(c);
		return -ENOMEM;
	}
	m->churn = c;
	for (unsigned int k = 0; k < 3; k++) {
		struct churn_arg *a = &c->args[c->n];
		int err;

		if (!(m->opt.scenarios & kinds[k].bit))
			continue;
		a->m = m;
		a->once = kinds[k].once;
		a->period_us = kinds[k].period_us;
		a->rng = (m->opt.seed + 1) * (k + 11) * 0x9e3779b97f4a7c15ull;
		err = pthread_create(&c->threads[c->n], NULL, churn_thread, a);
		if (err)
			return -err;
		c->n++;
	}
	return 0;
}

void vmm_churn_stop(struct vmm *m)
{
	struct vmm_churn *c = m->churn;

	if (!c)
		return;
	atomic_store(&c->stop, 1);
	for (unsigned int i = 0; i < c->n; i++)
		pthread_join(c->threads[i], NULL);
	c->n = 0;
}

/* After the vCPUs stopped: every old location must still hold its canary. */
void vmm_churn_final_check(struct vmm *m)
{
	for (unsigned int pg = 0; m->churn && pg < VMM_RS_RAM_END / GPCVM_PAGE;
	     pg++)
		remap_check_page(m, pg);
	vmm_pool_final_check(m);
}

void vmm_churn_destroy(struct vmm *m)
{
	if (!m->churn)
		return;
	free(m->churn->rs_snap);
	free(m->churn);
	m->churn = NULL;
}
