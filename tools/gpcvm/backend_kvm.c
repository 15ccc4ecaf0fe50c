// SPDX-License-Identifier: MIT
/*
 * backend_kvm.c - the guest's vCPUs on KVM, through gpc/kvm.h.
 *
 * Each vCPU enters 64-bit mode directly (no firmware): CR0.PG|PE, CR4.PAE,
 * EFER.LME|LMA, CR3 = the boot page tables, a flat 64-bit code segment,
 * rip = the image's entry, rsp = its stack, rdi = its index.
 *
 * The loop: pause gate, gpc_kvm_vcpu_run() (which enters guest mode,
 * handles requests and refreshes the runstate cache when needed, and calls
 * our hooks: runstate "running" just before KVM_RUN, "runnable" or
 * "blocked" just after), then the exit: hypercalls (in from GPCVM_HC_PORT,
 * arguments in registers, result through the I/O data), block, console.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "vmm.h"

/* CMake's check_include_file() says; without CMake, the compiler does. */
#ifndef GPC_HAVE_LINUX_KVM_H
#if defined(__has_include)
#if __has_include(<linux/kvm.h>)
#define GPC_HAVE_LINUX_KVM_H 1
#endif
#endif
#endif

#if defined(GPC_HAVE_LINUX_KVM_H) && GPC_HAVE_LINUX_KVM_H

#include <linux/kvm.h>

/* The backend's state (m->be_priv): the binding and its vCPUs. */
struct kvm_backend {
	struct gpc_kvm *kvm;
	struct gpc_kvm_vcpu *kv[GPCVM_MAX_VCPUS];
};

static struct kvm_backend *kb(struct vmm *m)
{
	return m->be_priv;
}

static struct gpc_kvm_vcpu *kv_of(struct vmm_vcpu *v)
{
	return kb(v->m)->kv[v->id];
}

/* If the runstate area could not be written, KVM_RUN returns at once. */
static void pre_entry(struct gpc_kvm_vcpu *kv, void *ctx)
{
	if (!vmm_vcpu_entering(ctx))
		__atomic_store_n(&gpc_kvm_vcpu_run_struct(kv)->immediate_exit,
				 1, __ATOMIC_SEQ_CST);
}

/* "blocked" if the guest is entering HC_BLOCK, else "runnable". */
static void post_exit(struct gpc_kvm_vcpu *kv, int run_err, void *ctx)
{
	struct kvm_run *run = gpc_kvm_vcpu_run_struct(kv);

	vmm_vcpu_exited(ctx, !run_err && run->exit_reason == KVM_EXIT_IO &&
				     run->io.port == GPCVM_BLOCK_PORT);
}

static const struct gpc_kvm_vcpu_ops ops = {
	.pre_entry = pre_entry,
	.post_exit = post_exit,
};

static void set_cpuid(struct vmm *m, int fd)
{
	struct kvm_cpuid2 *c;
	size_t n = 256;

	c = calloc(1, sizeof(*c) + n * sizeof(c->entries[0]));
	if (!c)
		return;
	c->nent = (uint32_t)n;
	if (!ioctl(gpc_kvm_sys_fd(kb(m)->kvm), KVM_GET_SUPPORTED_CPUID, c))
		ioctl(fd, KVM_SET_CPUID2, c);
	free(c);
}

static int long_mode(struct vmm *m, struct vmm_vcpu *v)
{
	int fd = gpc_kvm_vcpu_fd(kv_of(v));
	struct kvm_segment cs = {
		.base = 0,
		.limit = 0xffffffff,
		.selector = 8,
		.type = 11,
		.present = 1,
		.dpl = 0,
		.db = 0,
		.s = 1,
		.l = 1,
		.g = 1,
	};
	struct kvm_segment ds = {
		.base = 0,
		.limit = 0xffffffff,
		.selector = 16,
		.type = 3,
		.present = 1,
		.dpl = 0,
		.db = 1,
		.s = 1,
		.l = 0,
		.g = 1,
	};
	struct kvm_sregs s;
	struct kvm_regs r;

	set_cpuid(m, fd);
	if (ioctl(fd, KVM_GET_SREGS, &s))
		return -errno;
	s.cs = cs;
	s.ds = s.es = s.fs = s.gs = s.ss = ds;
	s.gdt.base = GPCVM_GDT_GPA;
	s.gdt.limit = 4 * 8 - 1;
	s.cr0 = 0x80050033; /* PG, AM, WP, NE, ET, MP, PE */
	s.cr3 = GPCVM_PML4_GPA;
	s.cr4 = 0x20;	/* PAE */
	s.efer = 0x500; /* LME, LMA */
	if (ioctl(fd, KVM_SET_SREGS, &s))
		return -errno;
	memset(&r, 0, sizeof(r));
	r.rip = GPCVM_IMAGE_GPA;
	r.rsp = GPCVM_STACK_GPA + (v->id + 1) * GPCVM_STACK_SIZE - 8;
	r.rdi = v->id;
	r.rflags = 2;
	if (ioctl(fd, KVM_SET_REGS, &r))
		return -errno;
	return 0;
}

/*
 * Bind the vm to KVM: from here on every memslot change is mirrored into
 * KVM within the call that makes it (gpc/kvm.h).
 */
static int kvm_create(struct vmm *m)
{
	struct kvm_backend *b = calloc(1, sizeof(*b));
	int err;

	if (!b)
		return -ENOMEM;
	m->be_priv = b;
	err = gpc_kvm_create(m->vm, NULL, &b->kvm);
	if (err)
		snprintf(m->backend_why, sizeof(m->backend_why),
			 "binding to KVM failed: %s", strerror(-err));
	return err;
}

static int kvm_create_vcpus(struct vmm *m)
{
	struct kvm_backend *b = kb(m);

	for (unsigned int i = 0; i < m->opt.vcpus; i++) {
		struct vmm_vcpu *v = &m->vcpus[i];
		int err;

		v->m = m;
		v->id = i;
		err = gpc_kvm_vcpu_create(b->kvm, i, &ops, v, &b->kv[i]);
		if (!err)
			err = long_mode(m, v);
		if (err) {
			snprintf(m->backend_why, sizeof(m->backend_why),
				 "creating KVM vCPU %u failed: %s", i,
				 strerror(-err));
			return err;
		}
		v->gv = gpc_kvm_vcpu_gpc(kv_of(v));
	}
	return 0;
}

static void kvm_destroy_vcpus(struct vmm *m)
{
	struct kvm_backend *b = kb(m);

	for (unsigned int i = 0; b && i < m->opt.vcpus; i++)
		if (b->kv[i]) {
			gpc_kvm_vcpu_destroy(b->kv[i]);
			b->kv[i] = NULL;
		}
}

/* After the vCPUs: unbind and free the state. */
static void kvm_destroy(struct vmm *m)
{
	struct kvm_backend *b = kb(m);

	if (!b)
		return;
	if (b->kvm)
		gpc_kvm_destroy(b->kvm);
	free(b);
	m->be_priv = NULL;
}

static uint64_t kvm_kicks_sent(struct vmm_vcpu *v)
{
	struct gpc_kvm_vcpu_stats ks;

	if (kv_of(v) && !gpc_kvm_vcpu_get_stats(kv_of(v), &ks))
		return ks.kicks_sent;
	return 0;
}

static void dump(struct vmm_vcpu *v, const char *what)
{
	struct kvm_regs r;

	memset(&r, 0, sizeof(r));
	ioctl(gpc_kvm_vcpu_fd(kv_of(v)), KVM_GET_REGS, &r);
	vmm_violation(v->m, V_VMM,
		      "vCPU %u: %s (rip %#llx rsp %#llx rax %#llx)", v->id,
		      what, r.rip, r.rsp, r.rax);
}

static void exit_io(struct vmm_vcpu *v, struct kvm_run *run)
{
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	struct kvm_regs r;
	int64_t res = 0;

	switch (run->io.port) {
	case GPCVM_HC_PORT:
		if (ioctl(gpc_kvm_vcpu_fd(kv_of(v)), KVM_GET_REGS, &r)) {
			res = -EIO;
		} else {
			res = vmm_hypercall(v, r.rax, r.rdi, r.rsi, r.rcx);
		}
		break;
	case GPCVM_BLOCK_PORT:
		if (!ioctl(gpc_kvm_vcpu_fd(kv_of(v)), KVM_GET_REGS, &r))
			vmm_block(v, r.rdi);
		break;
	case GPCVM_CONSOLE_PORT:
		if (run->io.direction == KVM_EXIT_IO_OUT)
			vmm_console(v, (char)data[0]);
		return;
	default:
		dump(v, "unknown port");
		return;
	}
	if (run->io.direction == KVM_EXIT_IO_IN && run->io.size == 4) {
		uint32_t val = (uint32_t)(int32_t)res;

		memcpy(data, &val, 4);
	}
}

static void handle_exit(struct vmm_vcpu *v, uint32_t reason)
{
	struct kvm_run *run = gpc_kvm_vcpu_run_struct(kv_of(v));

	atomic_fetch_add(&v->exits, 1);
	switch (reason) {
	case KVM_EXIT_IO:
		exit_io(v, run);
		break;
	case KVM_EXIT_MMIO:
		vmm_violation(v->m, V_MMIO,
			      "vCPU %u: %s of %u bytes at unbacked gpa %#llx",
			      v->id, run->mmio.is_write ? "write" : "read",
			      run->mmio.len, run->mmio.phys_addr);
		memset(run->mmio.data, 0, sizeof(run->mmio.data));
		break;
	case KVM_EXIT_HLT:
		if (!atomic_load(&v->done)) {
			dump(v, "halted before finishing");
			atomic_store(&v->done, 1);
		}
		break;
	case KVM_EXIT_INTR:
		break;
	default:
		dump(v, "unexpected exit");
		fprintf(stderr, "gpcvm: exit reason %u\n", reason);
		atomic_store(&v->done, 1);
		atomic_store(&v->m->abort, 1);
		break;
	}
}

static void *kvm_vcpu_thread(void *arg)
{
	struct vmm_vcpu *v = arg;
	struct vmm *m = v->m;
	struct gpc_kvm_exit ex;

	while (!atomic_load(&v->done) && !atomic_load(&m->abort)) {
		int err;

		vmm_gate_enter(v);
		err = gpc_kvm_vcpu_run(kv_of(v), &ex);
		vmm_gate_leave(v);
		if (err == -EFAULT || err == -EINVAL || err == -ENOMEM) {
			vmm_cache_error(v, err);
			continue;
		}
		if (err) {
			vmm_violation(m, V_VMM, "vCPU %u: KVM_RUN: %s", v->id,
				      strerror(-err));
			atomic_store(&m->abort, 1);
			break;
		}
		if (ex.kick_latency_ns)
			hist_add(&m->kick_lat, ex.kick_latency_ns);
		if (ex.evicted)
			atomic_fetch_add(&v->evictions, 1);
		if (ex.kind == GPC_KVM_KICKED)
			atomic_fetch_add(&v->kicked_exits, 1);
		else if (ex.kind == GPC_KVM_EXIT)
			handle_exit(v, ex.reason);
		/* GPC_KVM_REQUEST: VMM_REQ_PAUSE; the gate does the rest. */
	}
	return NULL;
}

const struct vmm_backend_ops vmm_backend_kvm = {
	.name = "kvm",
	.create = kvm_create,
	.create_vcpus = kvm_create_vcpus,
	.vcpu_thread = kvm_vcpu_thread,
	.kicks_sent = kvm_kicks_sent,
	.destroy_vcpus = kvm_destroy_vcpus,
	.destroy = kvm_destroy,
};

#else /* no <linux/kvm.h> */

static int kvm_create(struct vmm *m)
{
	snprintf(m->backend_why, sizeof(m->backend_why),
		 "built without <linux/kvm.h>");
	return -ENOSYS;
}

static void kvm_nothing(struct vmm *m)
{
	(void)m;
}

/* Never run: creation fails first. */
const struct vmm_backend_ops vmm_backend_kvm = {
	.name = "kvm",
	.create = kvm_create,
	.destroy_vcpus = kvm_nothing,
	.destroy = kvm_nothing,
};

#endif
