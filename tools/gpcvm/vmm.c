// SPDX-License-Identifier: MIT
/*
 * vmm.c - the guest's memory, its hypercalls, the runstate areas and the
 * pause gate.
 *
 * Memory (proto.h has the map): every region is memfd-backed RAM from a
 * struct gpc_hostmem, and the vm uses the alias stage, so a cache's pointer
 * is a separate mapping of the page it translated: after a remap, a write
 * through a stale pointer lands on the old page, where the canaries see it.
 *
 * Shared info is in shinfo.c.
 *
 * The pause gate: while memslots of the guest's own layout change, no vCPU
 * may be inside KVM_RUN (KVM cannot change several slots atomically). A vCPU
 * counts itself in the gate from before it enters until after it exits; the
 * pauser raises pause_req, posts VMM_REQ_PAUSE to every vCPU (which kicks
 * those in guest mode) and waits for the count to reach zero.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmm.h"

#define LOG_MAX 40

static const char *const vnames[V_NR] = {
	"stale write",	   "lost events", "guest check",
	"unbacked access", "vmm",	  "hang",
};

void vmm_violation(struct vmm *m, enum vmm_violation kind, const char *fmt, ...)
{
	va_list ap;

	atomic_fetch_add(&m->st.violations[kind], 1);
	pthread_mutex_lock(&m->log_lock);
	if (m->logged++ < LOG_MAX) {
		fprintf(stderr, "\ngpcvm: VIOLATION (%s): ", vnames[kind]);
		va_start(ap, fmt);
		vfprintf(stderr, fmt, ap);
		va_end(ap);
		fputc('\n', stderr);
	}
	pthread_mutex_unlock(&m->log_lock);
}

void vmm_log(struct vmm *m, const char *fmt, ...)
{
	va_list ap;

	if (!m->opt.verbose)
		return;
	pthread_mutex_lock(&m->log_lock);
	fprintf(stderr, "gpcvm: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	pthread_mutex_unlock(&m->log_lock);
}

/* ---- memslots --------------------------------------------------------------- */

int vmm_slot_create(struct vmm *m, uint32_t id, uint64_t gpa, uint64_t size,
		    void *hva)
{
	uint64_t t0 = vmm_now_ns();
	int err = gpc_memslot_create(m->vm, id, gpa, size, (uint64_t)hva, 0);

	hist_add(&m->memslot_lat, vmm_now_ns() - t0);
	atomic_fetch_add(&m->st.memslot_ops, 1);
	if (err)
		vmm_violation(m, V_VMM, "memslot %u create at %#" PRIx64 ": %s",
			      id, gpa, strerror(-err));
	return err;
}

int vmm_slot_delete(struct vmm *m, uint32_t id)
{
	uint64_t t0 = vmm_now_ns();
	int err = gpc_memslot_delete(m->vm, id);

	hist_add(&m->memslot_lat, vmm_now_ns() - t0);
	atomic_fetch_add(&m->st.memslot_ops, 1);
	if (err)
		vmm_violation(m, V_VMM, "memslot %u delete: %s", id,
			      strerror(-err));
	return err;
}

int vmm_slots_begin(struct vmm *m, struct gpc_memslot_txn **tx)
{
	int err = gpc_memslot_txn_begin(m->vm, tx);

	if (err)
		vmm_violation(m, V_VMM, "memslot transaction: %s",
			      strerror(-err));
	return err;
}

int vmm_slots_add(struct gpc_memslot_txn *tx, uint32_t id, uint64_t gpa,
		  uint64_t size, void *hva)
{
	struct gpc_memslot_desc d = {
		.id = id, .gpa = gpa, .size = size, .hva = (uint64_t)hva
	};

	return gpc_memslot_txn_add(tx, &d);
}

int vmm_slots_commit(struct vmm *m, struct gpc_memslot_txn *tx, int err)
{
	uint64_t t0 = vmm_now_ns();

	if (err)
		gpc_memslot_txn_abort(tx);
	else
		err = gpc_memslot_txn_commit(tx);
	hist_add(&m->memslot_lat, vmm_now_ns() - t0);
	atomic_fetch_add(&m->st.memslot_ops, 1);
	if (err)
		vmm_violation(m, V_VMM, "memslot transaction: %s",
			      strerror(-err));
	return err;
}

/* ---- setup ------------------------------------------------------------------- */

static int alloc(struct vmm *m, size_t size, uint8_t **out)
{
	int err = gpc_hostmem_alloc(m->hm, size, (void **)out);

	if (err)
		fprintf(stderr, "gpcvm: cannot allocate %zu bytes: %s\n", size,
			strerror(-err));
	return err;
}

/* Page tables (1 GiB identity map, 2 MiB pages) and a flat GDT. */
static void build_tables(struct vmm *m)
{
	uint64_t *pml4 = (uint64_t *)(m->low + GPCVM_PML4_GPA);
	uint64_t *pdpt = pml4 + 512, *pd = pml4 + 1024;
	uint64_t *gdt = (uint64_t *)(m->low + GPCVM_GDT_GPA);

	pml4[0] = (GPCVM_PML4_GPA + 0x1000) | 3;
	pdpt[0] = (GPCVM_PML4_GPA + 0x2000) | 3;
	for (uint64_t i = 0; i < 512; i++)
		pd[i] = (i << 21) | 0x83; /* present, writable, 2 MiB */
	gdt[0] = 0;
	gdt[1] = 0x00af9b000000ffffull; /* 64-bit code */
	gdt[2] = 0x00cf93000000ffffull; /* data */
	gdt[3] = 0x00008b0000000067ull; /* TSS (busy), unused */
}

void vmm_load_guest(struct vmm *m)
{
	memcpy(m->low + GPCVM_IMAGE_GPA, gpcvm_guest_image,
	       gpcvm_guest_image_size);
}

static void init_boot(struct vmm *m)
{
	struct gpcvm_boot *b = m->boot;

	b->magic = GPCVM_BOOT_MAGIC;
	b->nvcpus = m->opt.vcpus;
	b->scenarios = m->opt.scenarios;
	b->seed = m->opt.seed;
	b->shinfo_period_us = m->opt.shinfo_period_us;
	for (int i = 0; i < GPCVM_NR_HOT; i++)
		b->hot_state[i] = GPCVM_HOT_FREE;
}

/*
 * The vm, bound to the backend (m->be), and every memslot except the
 * shared-info overlay (the guest places that). vCPUs come next (backends),
 * then vmm_setup_caches().
 */
int vmm_setup(struct vmm *m)
{
	struct gpc_vm_config cfg = { 0 };
	int err;

	pthread_mutex_init(&m->shinfo_lock, NULL);
	pthread_mutex_init(&m->rs_lock, NULL);
	pthread_mutex_init(&m->pause_lock, NULL);
	pthread_mutex_init(&m->log_lock, NULL);
	err = gpc_hostmem_create(&m->hm);
	if (err)
		return err;
	cfg.scheme = m->opt.scheme;
	cfg.hostmem = &gpc_hostmem_alias_ops;
	cfg.hostmem_ctx = m->hm;
	cfg.name = "gpcvm";
	err = gpc_vm_create(&cfg, &m->vm);
	if (err)
		return err;
	err = m->be->create(m);
	if (err)
		return err;
	if ((err = alloc(m, GPCVM_LOW_SIZE, &m->low)) ||
	    (err = alloc(m, GPCVM_RSWIN_SIZE, &m->rswin)) ||
	    (err = alloc(m, GPCVM_ZONE_SIZE, &m->zone)) ||
	    (err = alloc(m, VMM_POOL_PAGES * GPCVM_PAGE, &m->pool)))
		return err;
	for (int i = 0; i < GPCVM_NR_HOT; i++)
		if ((err = alloc(m, GPCVM_HOT_SIZE, &m->hot[i])))
			return err;
	m->ram[GPCVM_REGION_LOW] = m->low;
	m->ram[GPCVM_REGION_RSWIN] = m->rswin;
	m->ram[GPCVM_REGION_ZONE] = m->zone;
	m->boot = (struct gpcvm_boot *)(m->low + GPCVM_BOOT_GPA);
	build_tables(m);
	init_boot(m);
	vmm_load_guest(m);
	if ((err = vmm_shinfo_setup(m)))
		return err;
	for (int i = 0; i < GPCVM_NR_HOT; i++)
		if ((err = vmm_slot_create(m, GPCVM_SLOT_HOT0 + i,
					   GPCVM_HOT_GPA + i * GPCVM_HOT_SIZE,
					   GPCVM_HOT_SIZE, m->hot[i])))
			return err;
	return 0;
}

/* After the vCPUs exist. */
int vmm_setup_caches(struct vmm *m)
{
	int err;

	err = gpc_cache_init(&m->shinfo, m->vm, GPC_USAGE_HOST, NULL, 0);
	if (err)
		return err;
	for (int i = 0; i < GPCVM_NR_HOT; i++) {
		err = gpc_cache_init(&m->hb[i], m->vm, GPC_USAGE_HOST, NULL, 0);
		if (!err)
			err = gpc_cache_activate_gpa(
				&m->hb[i],
				GPCVM_HOT_GPA + (i + 1) * GPCVM_HOT_SIZE -
					GPCVM_HOT_VMM_BYTES,
				sizeof(uint64_t));
		if (err)
			return err;
	}
	for (unsigned int i = 0; i < m->opt.vcpus; i++) {
		struct vmm_vcpu *v = &m->vcpus[i];

		err = gpc_cache_init(&v->rs_cache, m->vm, GPC_USAGE_GUEST,
				     v->gv, 0);
		if (err)
			return err;
		v->rs_cache_init = true;
		/* Times add up from here: sum(time) + now == entry time. */
		v->rs.state = GPCVM_RS_OFFLINE;
		v->rs.state_entry_time = vmm_now_ns();
	}
	return 0;
}

void vmm_teardown(struct vmm *m)
{
	if (!m->vm)
		return;
	for (unsigned int i = 0; i < m->opt.vcpus; i++)
		if (m->vcpus[i].rs_cache_init)
			gpc_cache_destroy(&m->vcpus[i].rs_cache);
	if (m->shinfo.priv)
		gpc_cache_destroy(&m->shinfo);
	for (int i = 0; i < GPCVM_NR_HOT; i++)
		if (m->hb[i].priv)
			gpc_cache_destroy(&m->hb[i]);
	m->be->destroy_vcpus(m);
	m->be->destroy(m);
	for (uint32_t id = 0; id < GPCVM_SLOT_HOT0 + GPCVM_NR_HOT; id++) {
		struct gpc_memslot_info si;

		if (!gpc_memslot_get(m->vm, id, &si))
			gpc_memslot_delete(m->vm, id);
	}
	gpc_vm_destroy(m->vm);
	m->vm = NULL;
	gpc_hostmem_destroy(m->hm);
	vmm_shinfo_destroy(m);
	vmm_churn_destroy(m);
	vmm_events_destroy(m);
}

/* ---- the pause gate ------------------------------------------------------------ */

void vmm_gate_enter(struct vmm_vcpu *v)
{
	struct vmm *m = v->m;

	for (;;) {
		/* seq_cst increment, then load: pairs with pause_all(). */
		atomic_fetch_add(&m->nrunning, 1);
		if (!atomic_load(&m->pause_req))
			break;
		if (atomic_fetch_sub(&m->nrunning, 1) == 1)
			vmm_futex_wake(&m->nrunning);
		while (atomic_load(&m->pause_req) && !atomic_load(&m->abort))
			vmm_futex_wait(&m->pause_req, 1, 10000000);
	}
	atomic_store(&v->in_gate, 1);
}

void vmm_gate_leave(struct vmm_vcpu *v)
{
	struct vmm *m = v->m;

	atomic_store(&v->in_gate, 0);
	if (atomic_fetch_sub(&m->nrunning, 1) == 1 &&
	    atomic_load(&m->pause_req))
		vmm_futex_wake(&m->nrunning);
}

/* Every vCPU but the caller (which is outside the gate) out of the guest. */
void vmm_pause_all(struct vmm *m)
{
	int n;

	pthread_mutex_lock(&m->pause_lock);
	atomic_store(&m->pause_req, 1);
	for (;;) {
		for (unsigned int i = 0; i < m->opt.vcpus; i++)
			if (atomic_load(&m->vcpus[i].in_gate))
				gpc_vcpu_request(m->vcpus[i].gv, VMM_REQ_PAUSE);
		n = atomic_load(&m->nrunning);
		if (!n)
			break;
		vmm_futex_wait(&m->nrunning, n, 1000000);
	}
}

void vmm_resume_all(struct vmm *m)
{
	atomic_store(&m->pause_req, 0);
	vmm_futex_wake(&m->pause_req);
	pthread_mutex_unlock(&m->pause_lock);
}

/* ---- runstate ------------------------------------------------------------------ */

uint64_t vmm_rs_ram_hva(struct vmm *m, uint64_t gpa)
{
	if (gpa - GPCVM_LOW_GPA < GPCVM_LOW_SIZE)
		return (uint64_t)(uintptr_t)(m->low + (gpa - GPCVM_LOW_GPA));
	if (gpa - GPCVM_RSWIN_GPA < GPCVM_RSWIN_SIZE)
		return (uint64_t)(uintptr_t)(m->rswin +
					     (gpa - GPCVM_RSWIN_GPA));
	return 0;
}

static void rs_change(struct vmm_vcpu *v, int state)
{
	uint64_t now = vmm_now_ns();

	/* Strictly increasing: a reader tells updates apart by this time. */
	if (now <= v->rs.state_entry_time)
		now = v->rs.state_entry_time + 1;
	v->rs.time[v->rs.state] += now - v->rs.state_entry_time;
	v->rs.state = state;
	v->rs.state_entry_time = now;
}

/*
 * Through the guest-usage cache, with no read-side section: the vCPU is in
 * guest mode, so an invalidation of the area waits for it to leave. NULL
 * means such an invalidation has begun (or the area moved): skip; the whole
 * area is written again at the next entry.
 */
static bool rs_publish(struct vmm_vcpu *v)
{
	void *p = gpc_cache_guest_ptr(&v->rs_cache, 0,
				      sizeof(struct gpcvm_runstate));

	if (!p) {
		v->rs_skipped++;
		/* Inactive (no area registered) is fine. */
		return !gpc_cache_is_active(&v->rs_cache);
	}
	gpcvm_runstate_write(p, &v->rs);
	v->rs_writes++;
	return true;
}

/*
 * False if the area could not be written: an invalidation began after the
 * entry checks (it kicks us), or a memslot change made the cache stale (it
 * does not kick). Either way the guest must not run with an area that says
 * it is not running: the caller exits at once and the next entry refreshes.
 */
bool vmm_vcpu_entering(struct vmm_vcpu *v)
{
	rs_change(v, GPCVM_RS_RUNNING);
	return rs_publish(v);
}

void vmm_vcpu_exited(struct vmm_vcpu *v, bool blocked)
{
	rs_change(v, blocked ? GPCVM_RS_BLOCKED : GPCVM_RS_RUNNABLE);
	rs_publish(v);
}

/* With m->rs_lock held. */
void vmm_layout_view_locked(struct vmm *m, struct gpcvm_layout_view *lv)
{
	memset(lv, 0, sizeof(*lv));
	lv->nvcpus = m->opt.vcpus;
	lv->shinfo_gpa = atomic_load(&m->shinfo_gpa);
	for (unsigned int i = 0; i < m->opt.vcpus; i++) {
		lv->rs_gpa[i] = m->vcpus[i].rs_gpa;
		lv->report_gpa[i] = m->vcpus[i].report_gpa;
	}
}

void vmm_layout_view(struct vmm *m, struct gpcvm_layout_view *lv)
{
	pthread_mutex_lock(&m->rs_lock);
	vmm_layout_view_locked(m, lv);
	pthread_mutex_unlock(&m->rs_lock);
}

static int64_t hc_runstate(struct vmm_vcpu *self, uint64_t vcpu, uint64_t gpa,
			   uint64_t size)
{
	struct vmm *m = self->m;
	struct gpcvm_layout_view lv;
	struct vmm_vcpu *v;
	int err;

	if (vcpu >= m->opt.vcpus)
		return -ENOENT;
	v = &m->vcpus[vcpu];
	pthread_mutex_lock(&m->rs_lock);
	if (!gpa && !size) {
		err = gpc_cache_deactivate(&v->rs_cache);
		v->rs_gpa = 0;
		goto out;
	}
	vmm_layout_view_locked(m, &lv);
	err = gpcvm_check_runstate(&lv, (unsigned int)vcpu, gpa, size);
	if (err)
		goto out;
	/* The area is written at the vCPU's next entry. */
	err = gpc_cache_activate_gpa(&v->rs_cache, gpa, size);
	if (err) {
		vmm_violation(m, V_VMM, "runstate cache at %#" PRIx64 ": %s",
			      gpa, strerror(-err));
		gpc_cache_deactivate(&v->rs_cache);
		v->rs_gpa = 0;
		goto out;
	}
	v->rs_gpa = gpa;
out:
	pthread_mutex_unlock(&m->rs_lock);
	return err;
}

void vmm_cache_error(struct vmm_vcpu *v, int err)
{
	struct vmm *m = v->m;

	vmm_violation(m, V_VMM, "vCPU %u: guest cache refresh failed: %s",
		      v->id, strerror(-err));
	pthread_mutex_lock(&m->rs_lock);
	gpc_cache_deactivate(&v->rs_cache);
	v->rs_gpa = 0;
	pthread_mutex_unlock(&m->rs_lock);
}

/* ---- other hypercalls ---------------------------------------------------------- */

static int64_t hc_report(struct vmm_vcpu *v, uint64_t gpa, uint64_t size,
			 uint64_t final)
{
	struct vmm *m = v->m;
	struct gpcvm_layout_view lv;
	struct gpcvm_report r;
	int err;

	/* Held while reading, so the shared-info page cannot come over the
	 * report meanwhile (the VMM reads low RAM directly, not through the
	 * memslots, and would read the RAM under the page). */
	pthread_mutex_lock(&m->rs_lock);
	vmm_layout_view_locked(m, &lv);
	err = gpcvm_check_report(&lv, gpa, size);
	if (err)
		goto out;
	memcpy(&r, m->low + (gpa - GPCVM_LOW_GPA), sizeof(r));
	if (r.magic != GPCVM_REPORT_MAGIC || r.vcpu != v->id) {
		err = -EINVAL;
		goto out;
	}
	v->report = r;
	/* Remembered: the shared-info page may not cover it from now on. */
	v->report_gpa = gpa;
	if (final)
		v->final_report = true;
out:
	pthread_mutex_unlock(&m->rs_lock);
	return err;
}

static const char *const fail_names[] = {
	"?",
	"sequence went backwards",
	"events lost",
	"runstate check",
	"hot-plug memory changed",
	"bad-input test",
	"foreign port selected",
	"shared-info overlay",
};

static const char *const rs_errs[] = {
	"?",
	"state invalid",
	"times do not add up",
	"went backwards",
	"own area not running",
	"own area seen mid-update",
};

static int64_t hc_fail(struct vmm_vcpu *v, uint64_t code, uint64_t a,
		       uint64_t b)
{
	const char *name = code < sizeof(fail_names) / sizeof(fail_names[0]) ?
				   fail_names[code] :
				   "?";

	if (code == GPCVM_FAIL_RUNSTATE && b < 6)
		vmm_violation(v->m, V_GUEST,
			      "guest vCPU %u: runstate of vCPU %" PRIu64 ": %s",
			      v->id, a, rs_errs[b]);
	else if (code == GPCVM_FAIL_OVERLAY && b == GPCVM_PAGE)
		vmm_violation(v->m, V_GUEST,
			      "guest vCPU %u: gpa %#" PRIx64
			      " is not the shared-info page after the move",
			      v->id, a);
	else if (code == GPCVM_FAIL_OVERLAY)
		vmm_violation(v->m, V_GUEST,
			      "guest vCPU %u: RAM at gpa %#" PRIx64
			      " changed at +%#" PRIx64
			      " while the shared-info page covered it",
			      v->id, a, b);
	else
		vmm_violation(v->m, V_GUEST,
			      "guest vCPU %u: %s (%" PRIu64 ", %" PRId64 ")",
			      v->id, name, a, (int64_t)b);
	return 0;
}

int64_t vmm_hypercall(struct vmm_vcpu *v, uint64_t nr, uint64_t a, uint64_t b,
		      uint64_t c)
{
	atomic_fetch_add(&v->hypercalls, 1);
	switch (nr) {
	case GPCVM_HC_SHINFO:
		return vmm_hc_shinfo(v, a, b);
	case GPCVM_HC_RUNSTATE:
		return hc_runstate(v, a, b, c);
	case GPCVM_HC_REPORT:
		return hc_report(v, a, b, c);
	case GPCVM_HC_FAIL:
		return hc_fail(v, a, b, c);
	case GPCVM_HC_DONE:
		atomic_store(&v->done, 1);
		return 0;
	default:
		return -ENOSYS;
	}
}

/*
 * SCHEDOP_block: sleep until an event is raised for this vCPU (a sender
 * wakes us, see vmm_notify_vcpu) or @us pass.
 */
void vmm_block(struct vmm_vcpu *v, uint64_t us)
{
	struct vmm *m = v->m;
	struct gpcvm_shared_info *si;
	struct gpc_guard g;
	int pending = 1;

	if (us > 2000)
		us = 2000;
	atomic_fetch_add(&v->blocks, 1);
	atomic_store(&v->wake, 0);
	atomic_store(&v->blocked, 1);
	si = gpc_cache_begin(&m->shinfo, 0, GPCVM_PAGE, &g);
	if (si) {
		pending = __atomic_load_n(&si->vcpu_info[v->id].upcall_pending,
					  __ATOMIC_SEQ_CST);
		gpc_cache_end(&m->shinfo, &g);
	}
	if (!pending && !__atomic_load_n(&m->boot->stop, __ATOMIC_SEQ_CST) &&
	    !atomic_load(&m->abort))
		vmm_futex_wait(&v->wake, 0, us * 1000);
	atomic_store(&v->blocked, 0);
}

void vmm_console(struct vmm_vcpu *v, char c)
{
	if (c != '\n' && v->line_len < sizeof(v->line) - 1) {
		v->line[v->line_len++] = c;
		return;
	}
	v->line[v->line_len] = 0;
	vmm_log(v->m, "guest vCPU %u: %s", v->id, v->line);
	v->line_len = 0;
}
