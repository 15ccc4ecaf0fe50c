// SPDX-License-Identifier: MIT
/*
 * backend_sim.c - vCPUs played by threads, for machines without KVM.
 *
 * Each vCPU thread runs the very guest program of the KVM backend
 * (guest/guest.c, built hosted) on the same guest-physical layout. What KVM
 * and the CPU do is done here by hand:
 *  - memory: gp(gpa) looks the address up in the memslot table, as the MMU
 *    would; an address no slot covers is what KVM reports as an MMIO exit
 *    (a violation: the guest never touches unbacked memory);
 *  - "KVM_RUN" is the stretch of guest code between two exits; an exit is a
 *    hypercall, a block, or relax() noticing a kick (the kick callback only
 *    sets a flag: async-signal-safe, like the signal KVM gets) or having
 *    spun for a while (a preemption);
 *  - entry and exit go through the same steps as gpc_kvm_vcpu_run():
 *    pause gate, gpc_vcpu_enter_guest() (handling requests and refreshing
 *    the runstate cache when it refuses, still inside the gate), runstate
 *    "running"; runstate "runnable"/"blocked", acknowledge an eviction,
 *    gpc_vcpu_exit_guest().
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GPCVM_GUEST_SIM 1
#include "guest/plat.h"
#include "vmm.h"

#define PREEMPT_RELAX 65536

static __thread struct vmm_vcpu *cur;
static __thread uint8_t scratch[2 * GPCVM_PAGE] __attribute__((aligned(64)));

static void sim_kick(struct gpc_vcpu *gv, void *ctx)
{
	struct vmm_vcpu *v = ctx;
	uint64_t zero = 0;

	(void)gv;
	atomic_compare_exchange_strong(&v->sim_kick_ns, &zero, vmm_now_ns());
	atomic_store(&v->sim_kick, 1);
}

int sim_backend_create_vcpus(struct vmm *m)
{
	for (unsigned int i = 0; i < m->opt.vcpus; i++) {
		struct vmm_vcpu *v = &m->vcpus[i];
		int err;

		v->m = m;
		v->id = i;
		err = gpc_vcpu_create(m->vm, sim_kick, v, &v->gv);
		if (err)
			return err;
	}
	return 0;
}

void sim_backend_destroy_vcpus(struct vmm *m)
{
	for (unsigned int i = 0; i < m->opt.vcpus; i++)
		if (m->vcpus[i].gv) {
			gpc_vcpu_destroy(m->vcpus[i].gv);
			m->vcpus[i].gv = NULL;
		}
}

static void sim_exit(struct vmm_vcpu *v, bool blocked);

/* Like gpc_kvm_vcpu_run() up to KVM_RUN. Returns in guest mode. */
static void sim_enter(struct vmm_vcpu *v)
{
	struct vmm *m = v->m;

	for (;;) {
		int err, r = 0;

		if (atomic_load(&m->abort))
			longjmp(v->sim_abort, 1);
		vmm_gate_enter(v);
		/* Cleared before IN_GUEST, as immediate_exit is. */
		atomic_store(&v->sim_kick, 0);
		atomic_store(&v->sim_kick_ns, 0);
		err = gpc_vcpu_enter_guest(v->gv);
		if (!err) {
			/* A kick already (immediate_exit would end KVM_RUN
			 * at once), or the area could not be written. */
			if (vmm_vcpu_entering(v) && !atomic_load(&v->sim_kick))
				return;
			sim_exit(v, false);
			continue;
		}
		/*
		 * Refresh the runstate cache inside the gate, as
		 * gpc_kvm_vcpu_run() does: a shared-info move replaces the
		 * memslots under it (delete, then create) with every vCPU
		 * paused, and a refresh that looked the area up in between
		 * would find no memory there. (vmm_cache_error() takes
		 * rs_lock, which a move holds while it pauses: outside.)
		 */
		if (err == -EAGAIN)
			r = gpc_vcpu_handle_requests(v->gv);
		vmm_gate_leave(v);
		if (err != -EAGAIN) {
			vmm_violation(m, V_VMM, "vCPU %u: enter_guest: %s",
				      v->id, strerror(-err));
			atomic_store(&m->abort, 1);
			continue;
		}
		if (r < 0)
			vmm_cache_error(v, r);
	}
}

/* Like gpc_kvm_vcpu_run() after KVM_RUN. Returns outside guest mode. */
static void sim_exit(struct vmm_vcpu *v, bool blocked)
{
	struct vmm *m = v->m;
	uint64_t kick, now = vmm_now_ns();

	vmm_vcpu_exited(v, blocked);
	if (gpc_vcpu_mode(v->gv) == GPC_VCPU_EXITING)
		atomic_fetch_add(&v->evictions, 1);
	kick = atomic_exchange(&v->sim_kick_ns, 0);
	if (kick)
		hist_add(&m->kick_lat, now > kick ? now - kick : 1);
	gpc_vcpu_exit_guest(v->gv);
	vmm_gate_leave(v);
	atomic_fetch_add(&v->exits, 1);
}

/* ---- the platform of guest.c ---------------------------------------------------- */

void *gpcvm_sim_gp(uint64_t gpa)
{
	struct vmm_vcpu *v = cur;
	struct gpc_memslot_info si;

	if (!gpc_memslot_lookup(v->m->vm, gpa, &si))
		return (void *)(uintptr_t)(si.hva + (gpa - si.gpa));
	vmm_violation(v->m, V_MMIO, "vCPU %u: access to unbacked gpa %#" PRIx64,
		      v->id, gpa);
	return scratch + (gpa & (GPCVM_PAGE - 1));
}

int64_t gpcvm_sim_hc(uint64_t nr, uint64_t a, uint64_t b, uint64_t c)
{
	struct vmm_vcpu *v = cur;
	int64_t r;

	sim_exit(v, false);
	r = vmm_hypercall(v, nr, a, b, c);
	if (!atomic_load(&v->done))
		sim_enter(v);
	return r;
}

void gpcvm_sim_block(uint64_t us)
{
	struct vmm_vcpu *v = cur;

	sim_exit(v, true);
	vmm_block(v, us);
	sim_enter(v);
}

void gpcvm_sim_relax(void)
{
	struct vmm_vcpu *v = cur;

	__builtin_ia32_pause();
	if (atomic_load_explicit(&v->sim_kick, memory_order_relaxed) ||
	    ++v->sim_relax % PREEMPT_RELAX == 0) {
		if (atomic_load(&v->sim_kick))
			atomic_fetch_add(&v->kicked_exits, 1);
		sim_exit(v, false);
		sim_enter(v);
	}
}

void gpcvm_sim_putc(char c)
{
	vmm_console(cur, c);
}

void *sim_backend_vcpu_thread(void *arg)
{
	struct vmm_vcpu *v = arg;

	cur = v;
	if (setjmp(v->sim_abort))
		return NULL;
	sim_enter(v);
	gpcvm_sim_guest_main(v->id);
	/* HC_DONE left guest mode and did not enter again. */
	return NULL;
}
