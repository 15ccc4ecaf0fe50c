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
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GPCVM_GUEST_SIM 1
#include "guest/plat.h"
#include "vmm.h"

#define PREEMPT_RELAX 65536

/* A simulated vCPU: what KVM_RUN's state would be (m->be_priv has one
 * per vCPU). */
struct sim_vcpu {
	struct vmm_vcpu *v;
	_Atomic int kick;	  /* the "signal": leave guest mode */
	_Atomic uint64_t kick_ns; /* when the first kick since entry came */
	uint64_t relax;		  /* relax() calls, for preemptions */
	jmp_buf abort;		  /* out of the guest code on m->abort */
};

static __thread struct sim_vcpu *cur;
static __thread uint8_t scratch[2 * GPCVM_PAGE] __attribute__((aligned(64)));

static struct sim_vcpu *sv_of(struct vmm_vcpu *v)
{
	return (struct sim_vcpu *)v->m->be_priv + v->id;
}

static void sim_kick(struct gpc_vcpu *gv, void *ctx)
{
	struct sim_vcpu *s = ctx;
	uint64_t zero = 0;

	(void)gv;
	atomic_compare_exchange_strong(&s->kick_ns, &zero, vmm_now_ns());
	atomic_store(&s->kick, 1);
}

/* No binding: memslot changes only go to the vm's own table. */
static int sim_create(struct vmm *m)
{
	m->be_priv = calloc(GPCVM_MAX_VCPUS, sizeof(struct sim_vcpu));
	return m->be_priv ? 0 : -ENOMEM;
}

static int sim_create_vcpus(struct vmm *m)
{
	for (unsigned int i = 0; i < m->opt.vcpus; i++) {
		struct vmm_vcpu *v = &m->vcpus[i];
		int err;

		v->m = m;
		v->id = i;
		sv_of(v)->v = v;
		err = gpc_vcpu_create(m->vm, sim_kick, sv_of(v), &v->gv);
		if (err)
			return err;
	}
	return 0;
}

static void sim_destroy_vcpus(struct vmm *m)
{
	for (unsigned int i = 0; i < m->opt.vcpus; i++)
		if (m->vcpus[i].gv) {
			gpc_vcpu_destroy(m->vcpus[i].gv);
			m->vcpus[i].gv = NULL;
		}
}

static void sim_destroy(struct vmm *m)
{
	free(m->be_priv);
	m->be_priv = NULL;
}

/* No signals: a kick is a flag. */
static uint64_t sim_kicks_sent(struct vmm_vcpu *v)
{
	(void)v;
	return 0;
}

static void sim_exit(struct sim_vcpu *s, bool blocked);

/* Like gpc_kvm_vcpu_run() up to KVM_RUN. Returns in guest mode. */
static void sim_enter(struct sim_vcpu *s)
{
	struct vmm_vcpu *v = s->v;
	struct vmm *m = v->m;

	for (;;) {
		int err, r = 0;

		if (atomic_load(&m->abort))
			longjmp(s->abort, 1);
		vmm_gate_enter(v);
		/* Cleared before IN_GUEST, as immediate_exit is. */
		atomic_store(&s->kick, 0);
		atomic_store(&s->kick_ns, 0);
		err = gpc_vcpu_enter_guest(v->gv);
		if (!err) {
			/* A kick already (immediate_exit would end KVM_RUN
			 * at once), or the area could not be written. */
			if (vmm_vcpu_entering(v) && !atomic_load(&s->kick))
				return;
			sim_exit(s, false);
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
static void sim_exit(struct sim_vcpu *s, bool blocked)
{
	struct vmm_vcpu *v = s->v;
	struct vmm *m = v->m;
	uint64_t kick, now = vmm_now_ns();

	vmm_vcpu_exited(v, blocked);
	if (gpc_vcpu_mode(v->gv) == GPC_VCPU_EXITING)
		atomic_fetch_add(&v->evictions, 1);
	kick = atomic_exchange(&s->kick_ns, 0);
	if (kick)
		hist_add(&m->kick_lat, now > kick ? now - kick : 1);
	gpc_vcpu_exit_guest(v->gv);
	vmm_gate_leave(v);
	atomic_fetch_add(&v->exits, 1);
}

/* ---- the platform of guest.c ---------------------------------------------------- */

void *gpcvm_sim_gp(uint64_t gpa)
{
	struct vmm_vcpu *v = cur->v;
	struct gpc_memslot_info si;

	if (!gpc_memslot_lookup(v->m->vm, gpa, &si))
		return (void *)(uintptr_t)(si.hva + (gpa - si.gpa));
	vmm_violation(v->m, V_MMIO, "vCPU %u: access to unbacked gpa %#" PRIx64,
		      v->id, gpa);
	return scratch + (gpa & (GPCVM_PAGE - 1));
}

int64_t gpcvm_sim_hc(uint64_t nr, uint64_t a, uint64_t b, uint64_t c)
{
	struct sim_vcpu *s = cur;
	int64_t r;

	sim_exit(s, false);
	r = vmm_hypercall(s->v, nr, a, b, c);
	if (!atomic_load(&s->v->done))
		sim_enter(s);
	return r;
}

void gpcvm_sim_block(uint64_t us)
{
	struct sim_vcpu *s = cur;

	sim_exit(s, true);
	vmm_block(s->v, us);
	sim_enter(s);
}

void gpcvm_sim_relax(void)
{
	struct sim_vcpu *s = cur;

	__builtin_ia32_pause();
	if (atomic_load_explicit(&s->kick, memory_order_relaxed) ||
	    ++s->relax % PREEMPT_RELAX == 0) {
		if (atomic_load(&s->kick))
			atomic_fetch_add(&s->v->kicked_exits, 1);
		sim_exit(s, false);
		sim_enter(s);
	}
}

void gpcvm_sim_putc(char c)
{
	vmm_console(cur->v, c);
}

static void *sim_vcpu_thread(void *arg)
{
	struct vmm_vcpu *v = arg;

	cur = sv_of(v);
	if (setjmp(cur->abort))
		return NULL;
	sim_enter(cur);
	gpcvm_sim_guest_main(v->id);
	/* HC_DONE left guest mode and did not enter again. */
	return NULL;
}

const struct vmm_backend_ops vmm_backend_sim = {
	.name = "sim",
	.create = sim_create,
	.create_vcpus = sim_create_vcpus,
	.vcpu_thread = sim_vcpu_thread,
	.kicks_sent = sim_kicks_sent,
	.destroy_vcpus = sim_destroy_vcpus,
	.destroy = sim_destroy,
};
