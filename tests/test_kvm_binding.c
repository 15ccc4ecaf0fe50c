// SPDX-License-Identifier: MIT
/*
 * tests/test_kvm_binding.c - gpc/kvm.h against the real KVM of this machine.
 *
 * What must hold:
 *  - memslot mirroring: after a gpc_memslot_* call returns, the guest sees
 *    exactly the new layout (a tiny real-mode guest reads a byte at a GPA
 *    and reports it through port I/O, or exits with KVM_EXIT_MMIO where no
 *    slot is); a change KVM refuses fails and leaves the table unchanged;
 *    a vm that already has slots cannot be bound;
 *  - kick: a request posted while the vCPU spins inside KVM_RUN gets it out
 *    (EINTR, counted as an eviction) and is then handed back to the caller;
 *  - immediate_exit: a kick that lands after the vCPU entered guest mode
 *    but before KVM_RUN (forced through the VCPU_ENTER hook) still makes
 *    KVM_RUN return at once, instead of letting the guest spin forever;
 *  - eviction while inside KVM_RUN: a blocking invalidation of a page that a
 *    guest-usage cache of the spinning vCPU translates returns, the vCPU
 *    was kicked out and acknowledged it, it never wrote to the old page after
 *    the invalidation returned, and it re-entered with the cache refreshed
 *    onto the new page; a non-blocking one returns -EAGAIN while the vCPU is
 *    inside and succeeds on a retry.
 *
 * Without KVM (no device, or VM creation fails) the program prints why and
 * exits 77, which ctest reports as skipped. Every test runs on both schemes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <gpc/gpc.h>
#include <gpc/kvm.h>

#include "support/test_common.h"

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
#include <sys/ioctl.h>

#define CODE_GPA  0x1000ull
#define LOW_SIZE  0x8000ull
#define DATA_GPA  0x8000ull
#define DATA_GPA2 0xa000ull
#define PORT_OUT  0x10
#define PAGE	  4096ull

/*
 * Real-mode guests (CS base 0, so GPA = offset).
 * read_loop:  mov al,[bx]; out 0x10,al; jmp read_loop
 * spin:       jmp spin
 */
static const uint8_t read_loop[] = { 0x8a, 0x07, 0xe6, PORT_OUT, 0xeb, 0xfa };
static const uint8_t spin[] = { 0xeb, 0xfe };

struct fx {
	enum gpc_scheme scheme;
	struct gpc_hostmem *hm;
	struct gpc_vm *vm;
	struct gpc_kvm *kvm;
	struct gpc_kvm_vcpu *v;
	uint8_t *low, *data;
	/* guest-usage cache test */
	struct gpc_cache c;
	bool cache_on;
	_Atomic uint64_t writes;   /* pre_entry writes through the cache */
	_Atomic int null_ptrs;	   /* guest_ptr said invalid in guest mode */
	_Atomic int kick_at_enter; /* VCPU_ENTER hook: kick once */
	/* vCPU thread */
	pthread_t thr;
	_Atomic int stop;
	_Atomic uint64_t kicked, evicted, exits, requests, req_bits;
	_Atomic int run_err;
	_Atomic int rescued;
};

static const enum gpc_scheme schemes[] = { GPC_SCHEME_SRCU, GPC_SCHEME_RWLOCK };

static void pre_entry(struct gpc_kvm_vcpu *v, void *ctx)
{
	struct fx *f = ctx;
	uint64_t *p;

	(void)v;
	if (!f->cache_on)
		return;
	p = gpc_cache_guest_ptr(&f->c, 0, sizeof(*p));
	if (!p) {
		atomic_fetch_add(&f->null_ptrs, 1);
		return;
	}
	*p = atomic_fetch_add(&f->writes, 1) + 1;
}

static const struct gpc_kvm_vcpu_ops ops = { .pre_entry = pre_entry };

static void set_real_mode(struct fx *f, uint64_t rip, uint64_t rbx)
{
	int fd = gpc_kvm_vcpu_fd(f->v);
	struct kvm_sregs s;
	struct kvm_regs r;

	assert_int_equal(ioctl(fd, KVM_GET_SREGS, &s), 0);
	s.cs.base = 0;
	s.cs.selector = 0;
	s.ds.base = 0;
	s.ds.selector = 0;
	assert_int_equal(ioctl(fd, KVM_SET_SREGS, &s), 0);
	memset(&r, 0, sizeof(r));
	r.rip = rip;
	r.rbx = rbx;
	r.rflags = 2;
	assert_int_equal(ioctl(fd, KVM_SET_REGS, &r), 0);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct gpc_vm_config cfg = { 0 };

	assert_non_null(f);
	f->scheme = *(const enum gpc_scheme *)*state;
	assert_int_equal(gpc_hostmem_create(&f->hm), 0);
	cfg.scheme = f->scheme;
	cfg.hostmem = &gpc_hostmem_alias_ops;
	cfg.hostmem_ctx = f->hm;
	assert_int_equal(gpc_vm_create(&cfg, &f->vm), 0);
	assert_int_equal(gpc_kvm_create(f->vm, NULL, &f->kvm), 0);
	assert_int_equal(gpc_hostmem_alloc(f->hm, LOW_SIZE, (void **)&f->low),
			 0);
	assert_int_equal(gpc_hostmem_alloc(f->hm, PAGE, (void **)&f->data), 0);
	assert_int_equal(gpc_memslot_create(f->vm, 0, 0, LOW_SIZE,
					    (uint64_t)f->low, 0),
			 0);
	assert_int_equal(gpc_kvm_vcpu_create(f->kvm, 0, &ops, f, &f->v), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	if (f->cache_on)
		gpc_cache_destroy(&f->c);
	assert_int_equal(gpc_kvm_vcpu_destroy(f->v), 0);
	assert_int_equal(gpc_kvm_destroy(f->kvm), 0);
	gpc_vm_set_hook(f->vm, NULL, NULL);
	while (gpc_memslot_count(f->vm)) {
		struct gpc_memslot_info si;

		for (uint32_t id = 0; id < 8; id++)
			if (!gpc_memslot_get(f->vm, id, &si))
				gpc_memslot_delete(f->vm, id);
	}
	assert_int_equal(gpc_vm_destroy(f->vm), 0);
	gpc_hostmem_destroy(f->hm);
	free(f);
	return 0;
}

/* Run the read loop once at @gpa: the byte read, or -1 for an MMIO exit. */
static int guest_read(struct fx *f, uint64_t gpa)
{
	struct kvm_run *run = gpc_kvm_vcpu_run_struct(f->v);
	struct gpc_kvm_exit ex;

	set_real_mode(f, CODE_GPA, gpa);
	for (int i = 0; i < 100; i++) {
		assert_int_equal(gpc_kvm_vcpu_run(f->v, &ex), 0);
		if (ex.kind != GPC_KVM_EXIT)
			continue;
		if (ex.reason == KVM_EXIT_MMIO) {
			assert_int_equal(run->mmio.phys_addr, gpa);
			assert_false(run->mmio.is_write);
			/* KVM completes the read on the next entry: finish it
			 * (the guest then outputs our byte) before leaving. */
			memset(run->mmio.data, 0xee, sizeof(run->mmio.data));
			assert_int_equal(gpc_kvm_vcpu_run(f->v, &ex), 0);
			assert_int_equal(ex.reason, KVM_EXIT_IO);
			assert_int_equal(
				*((uint8_t *)run + run->io.data_offset), 0xee);
			return -1;
		}
		assert_int_equal(ex.reason, KVM_EXIT_IO);
		assert_int_equal(run->io.port, PORT_OUT);
		return *((uint8_t *)run + run->io.data_offset);
	}
	fail_msg("no exit from the read loop");
	return -2;
}

static int pauses;

static void count_pause(void *ctx, bool pause)
{
	(void)ctx;
	/* pause and resume alternate */
	assert_int_equal(pauses % 2 == 0, pause);
	pauses++;
}

static void mirror_follows_every_change(void **state)
{
	struct fx *f = *state;
	uint64_t bad_hva = 0xffff800000000000ull;

	memcpy(f->low + CODE_GPA, read_loop, sizeof(read_loop));
	f->data[0] = 0x42;
	/* No slot at DATA_GPA yet: the guest's read is MMIO. */
	assert_int_equal(guest_read(f, DATA_GPA), -1);
	assert_int_equal(gpc_memslot_create(f->vm, 1, DATA_GPA, PAGE,
					    (uint64_t)f->data, 0),
			 0);
	assert_int_equal(guest_read(f, DATA_GPA), 0x42);
	/* Move: visible at the new place only. */
	assert_int_equal(gpc_memslot_move(f->vm, 1, DATA_GPA2), 0);
	assert_int_equal(guest_read(f, DATA_GPA2), 0x42);
	assert_int_equal(guest_read(f, DATA_GPA), -1);
	/* Read-only toggles (a delete + create in KVM) keep it readable. */
	assert_int_equal(gpc_memslot_set_flags(f->vm, 1, GPC_MEMSLOT_READONLY),
			 0);
	assert_int_equal(guest_read(f, DATA_GPA2), 0x42);
	assert_int_equal(gpc_memslot_set_flags(f->vm, 1, 0), 0);
	assert_int_equal(guest_read(f, DATA_GPA2), 0x42);
	/* Delete: gone for the guest. */
	assert_int_equal(gpc_memslot_delete(f->vm, 1), 0);
	assert_int_equal(guest_read(f, DATA_GPA2), -1);
	/* One transaction: a create and a move-with-new-flags (a replace:
	 * delete + create in KVM), with a pause hook around the KVM calls. */
	assert_int_equal(gpc_kvm_set_pause_hook(f->kvm, count_pause, f), 0);
	{
		struct gpc_memslot_txn *tx;
		struct gpc_memslot_desc d = { .id = 1,
					      .gpa = DATA_GPA,
					      .size = PAGE,
					      .hva = (uint64_t)f->data };

		assert_int_equal(gpc_memslot_txn_begin(f->vm, &tx), 0);
		assert_int_equal(gpc_memslot_txn_add(tx, &d), 0);
		assert_int_equal(gpc_memslot_txn_commit(tx), 0);
		assert_int_equal(pauses, 2);
		assert_int_equal(guest_read(f, DATA_GPA), 0x42);
		assert_int_equal(gpc_memslot_txn_begin(f->vm, &tx), 0);
		assert_int_equal(gpc_memslot_txn_move(tx, 1, DATA_GPA2), 0);
		assert_int_equal(
			gpc_memslot_txn_set_flags(tx, 1, GPC_MEMSLOT_READONLY),
			0);
		assert_int_equal(gpc_memslot_txn_commit(tx), 0);
		assert_int_equal(pauses, 4);
		assert_int_equal(guest_read(f, DATA_GPA2), 0x42);
		assert_int_equal(guest_read(f, DATA_GPA), -1);
		assert_int_equal(gpc_memslot_delete(f->vm, 1), 0);
	}
	assert_int_equal(gpc_kvm_set_pause_hook(f->kvm, NULL, NULL), 0);
	/* KVM refuses a kernel address: the change fails, nothing changes,
	 * and the library says why. */
	test_log_capture();
	assert_int_equal(gpc_kvm_mirror_errors(f->kvm), 0);
	assert_int_not_equal(
		gpc_memslot_create(f->vm, 2, DATA_GPA, PAGE, bad_hva, 0), 0);
	assert_int_equal(gpc_memslot_count(f->vm), 1);
	assert_int_equal(gpc_kvm_mirror_errors(f->kvm), 1);
	assert_int_equal(test_log_matching(GPC_LOG_WARN, "refused"), 1);
	assert_int_equal(guest_read(f, DATA_GPA), -1);
}

static void bind_refuses_vm_with_slots(void **state)
{
	struct fx *f = *state;
	struct gpc_kvm *k2;

	assert_int_equal(gpc_kvm_create(f->vm, NULL, &k2), -EBUSY);
	assert_int_equal(gpc_kvm_create(NULL, NULL, &k2), -EINVAL);
	assert_int_equal(gpc_kvm_destroy(f->kvm), -EBUSY); /* vCPU exists */
}

static int nop_mirror(void *ctx, const struct gpc_memslot_info *o,
		      const struct gpc_memslot_info *n)
{
	(void)ctx, (void)o, (void)n;
	return 0;
}

/* One binding per vm, next to a mirror; the binding pins the vm. */
static void bind_rules(void **state)
{
	struct gpc_vm *vm;
	struct gpc_kvm *k, *k2;

	(void)state;
	assert_int_equal(gpc_vm_create(NULL, &vm), 0);
	assert_int_equal(gpc_memslot_set_mirror(vm, nop_mirror, NULL), 0);
	assert_int_equal(gpc_kvm_create(vm, NULL, &k), 0);
	assert_int_equal(gpc_kvm_create(vm, NULL, &k2), -EBUSY);
	assert_int_equal(gpc_vm_destroy(vm), -EBUSY);
	assert_int_equal(gpc_kvm_destroy(k), 0);
	assert_int_equal(gpc_memslot_set_mirror(vm, NULL, NULL), 0);
	assert_int_equal(gpc_vm_destroy(vm), 0);
}

/* ---- a vCPU thread that spins in the guest ------------------------------ */

static void *vcpu_thread(void *arg)
{
	struct fx *f = arg;
	struct gpc_kvm_exit ex;

	while (!atomic_load(&f->stop)) {
		int err = gpc_kvm_vcpu_run(f->v, &ex);

		if (err) {
			atomic_store(&f->run_err, err);
			break;
		}
		if (ex.evicted)
			atomic_fetch_add(&f->evicted, 1);
		if (ex.kind == GPC_KVM_KICKED)
			atomic_fetch_add(&f->kicked, 1);
		else if (ex.kind == GPC_KVM_EXIT)
			atomic_fetch_add(&f->exits, 1);
		else {
			atomic_fetch_add(&f->requests, 1);
			atomic_fetch_or(&f->req_bits, ex.requests);
		}
	}
	return NULL;
}

static void start_spinning(struct fx *f)
{
	memcpy(f->low + CODE_GPA, spin, sizeof(spin));
	set_real_mode(f, CODE_GPA, 0);
	atomic_store(&f->stop, 0);
	assert_int_equal(pthread_create(&f->thr, NULL, vcpu_thread, f), 0);
}

/* Wait until the vCPU is in guest mode (inside or about to be in KVM_RUN). */
static void wait_in_guest(struct fx *f)
{
	uint64_t end = test_now_ns() + 5000000000ull;

	while (gpc_vcpu_mode(gpc_kvm_vcpu_gpc(f->v)) != GPC_VCPU_IN_GUEST) {
		assert_true(test_now_ns() < end);
		test_sleep_ms(1);
	}
	test_sleep_ms(5); /* give it the chance to be inside KVM_RUN */
}

static void stop_spinning(struct fx *f)
{
	atomic_store(&f->stop, 1);
	/* Get it out with a request so that it sees stop. */
	while (pthread_tryjoin_np(f->thr, NULL)) {
		gpc_vcpu_request(gpc_kvm_vcpu_gpc(f->v), GPC_REQ_USER << 1);
		test_sleep_ms(1);
	}
	assert_int_equal(atomic_load(&f->run_err), 0);
}

static void request_kicks_vcpu_out_of_kvm_run(void **state)
{
	struct fx *f = *state;
	struct gpc_kvm_vcpu_stats st;
	uint64_t end;

	test_watchdog_arm(20, "request kicks vcpu");
	start_spinning(f);
	wait_in_guest(f);
	assert_int_equal(gpc_vcpu_request(gpc_kvm_vcpu_gpc(f->v), GPC_REQ_USER),
			 0);
	end = test_now_ns() + 5000000000ull;
	while (!(atomic_load(&f->req_bits) & GPC_REQ_USER)) {
		assert_true(test_now_ns() < end);
		test_sleep_ms(1);
	}
	stop_spinning(f);
	assert_true(atomic_load(&f->kicked) >= 1);
	assert_true(atomic_load(&f->evicted) >= 1);
	assert_int_equal(gpc_kvm_vcpu_get_stats(f->v, &st), 0);
	assert_true(st.kicks_sent >= 1);
	assert_true(st.evictions >= 1);
	assert_true(st.request_exits >= 1);
	test_watchdog_disarm();
}

/* ---- immediate_exit ------------------------------------------------------ */

static void kick_at_enter(struct gpc_vm *vm, enum gpc_hook_point point,
			  struct gpc_cache *c, void *ctx)
{
	struct fx *f = ctx;

	(void)vm, (void)c;
	/* In guest mode, before KVM_RUN: the signal is delivered right now,
	 * to this very thread, so only immediate_exit can stop the run. */
	if (point == GPC_HOOK_VCPU_ENTER &&
	    atomic_exchange(&f->kick_at_enter, 0))
		gpc_kvm_vcpu_kick(f->v);
}

static void *rescuer(void *arg)
{
	struct fx *f = arg;

	for (int i = 0; i < 3000 && !atomic_load(&f->stop); i++)
		test_sleep_ms(1);
	if (!atomic_load(&f->stop)) {
		atomic_store(&f->rescued, 1);
		gpc_kvm_vcpu_kick(f->v);
	}
	return NULL;
}

static void kick_just_before_kvm_run_is_not_lost(void **state)
{
	struct fx *f = *state;
	struct gpc_kvm_exit ex;
	pthread_t r;

	memcpy(f->low + CODE_GPA, spin, sizeof(spin));
	set_real_mode(f, CODE_GPA, 0);
	/* One run first, so that the kick knows the thread. */
	atomic_store(&f->kick_at_enter, 1);
	assert_int_equal(gpc_vm_set_hook(f->vm, kick_at_enter, f), 0);
	assert_int_equal(pthread_create(&r, NULL, rescuer, f), 0);
	for (int i = 0; i < 3; i++) {
		atomic_store(&f->kick_at_enter, 1);
		assert_int_equal(gpc_kvm_vcpu_run(f->v, &ex), 0);
		assert_int_equal(ex.kind, GPC_KVM_KICKED);
		assert_false(ex.evicted); /* our own kick, not the library's */
		assert_true(ex.kick_latency_ns > 0);
	}
	atomic_store(&f->stop, 1);
	pthread_join(r, NULL);
	gpc_vm_set_hook(f->vm, NULL, NULL);
	assert_int_equal(atomic_load(&f->rescued), 0);
}

/* ---- eviction by invalidation while inside KVM_RUN ----------------------- */

static void guest_cache_on(struct fx *f)
{
	assert_int_equal(gpc_memslot_create(f->vm, 1, DATA_GPA, PAGE,
					    (uint64_t)f->data, 0),
			 0);
	assert_int_equal(gpc_cache_init(&f->c, f->vm, GPC_USAGE_GUEST,
					gpc_kvm_vcpu_gpc(f->v), 0),
			 0);
	/* 8 bytes at the end of the page. */
	assert_int_equal(gpc_cache_activate_gpa(&f->c, DATA_GPA + PAGE - 8, 8),
			 0);
	f->cache_on = true;
}

static void blocking_invalidation_evicts_vcpu(void **state)
{
	struct fx *f = *state;
	uint64_t *oldp, before, snap;
	uint64_t hva = (uint64_t)f->data;
	struct gpc_kvm_vcpu_stats st;
	uint64_t ev0;

	test_watchdog_arm(30, "blocking eviction");
	guest_cache_on(f);
	start_spinning(f);
	for (int round = 0; round < 5; round++) {
		wait_in_guest(f);
		assert_int_equal(gpc_kvm_vcpu_get_stats(f->v, &st), 0);
		ev0 = st.evictions;
		before = atomic_load(&f->writes);
		/* Migrate: same content, new page; the old one is retired and
		 * stays readable, so a late write through the old alias shows. */
		assert_int_equal(gpc_hostmem_migrate(f->vm, f->hm, hva, PAGE),
				 0);
		/* Returned: the vCPU left guest mode and acknowledged it. */
		assert_int_equal(gpc_kvm_vcpu_get_stats(f->v, &st), 0);
		assert_true(st.evictions > ev0);
		oldp = gpc_hostmem_retired_page(f->hm, hva + PAGE - 8);
		assert_non_null(oldp);
		snap = *oldp;
		assert_true(snap >= before);
		/* It re-enters with the cache on the new page. */
		wait_in_guest(f);
		test_sleep_ms(5);
		assert_int_equal(*oldp,
				 snap); /* nothing landed on the old page */
		assert_true(*(uint64_t *)(f->data + PAGE - 8) > snap);
	}
	stop_spinning(f);
	assert_int_equal(atomic_load(&f->null_ptrs), 0);
	test_watchdog_disarm();
}

static void nonblocking_invalidation_gets_eagain_then_succeeds(void **state)
{
	struct fx *f = *state;
	uint64_t hva = (uint64_t)f->data;
	int err, tries = 0, eagain = 0;

	test_watchdog_arm(30, "non-blocking eviction");
	guest_cache_on(f);
	start_spinning(f);
	for (int round = 0; round < 5; round++) {
		wait_in_guest(f);
		do {
			err = gpc_invalidate_range_start(f->vm, hva, hva + PAGE,
							 GPC_INVAL_NONBLOCK);
			tries++;
			if (err == -EAGAIN) {
				eagain++;
				sched_yield();
			}
		} while (err == -EAGAIN && tries < 1000000);
		assert_int_equal(err, 0);
		assert_int_not_equal(gpc_vcpu_mode(gpc_kvm_vcpu_gpc(f->v)),
				     GPC_VCPU_IN_GUEST);
		assert_int_equal(
			gpc_invalidate_range_end(f->vm, hva, hva + PAGE), 0);
	}
	stop_spinning(f);
	/* The vCPU was inside every time, so the first try always failed. */
	assert_true(eagain >= 5);
	assert_true(atomic_load(&f->evicted) >= 5);
	test_watchdog_disarm();
}

int main(void)
{
	char why[256];
	int err = gpc_kvm_probe(NULL, why, sizeof(why));

	if (err) {
		printf("SKIP: KVM is not available here: %s\n", why);
		return 77;
	}
#define T(fn)                                                                 \
	cmocka_unit_test_prestate_setup_teardown(fn, setup, teardown,         \
						 (void *)&schemes[0]),        \
		cmocka_unit_test_prestate_setup_teardown(fn, setup, teardown, \
							 (void *)&schemes[1])
	const struct CMUnitTest tests[] = {
		T(mirror_follows_every_change),
		T(bind_rules),
		T(bind_refuses_vm_with_slots),
		T(request_kicks_vcpu_out_of_kvm_run),
		T(kick_just_before_kvm_run_is_not_lost),
		T(blocking_invalidation_evicts_vcpu),
		T(nonblocking_invalidation_gets_eagain_then_succeeds),
	};
#undef T
	return cmocka_run_group_tests_name("kvm_binding", tests, NULL, NULL);
}

#else /* no <linux/kvm.h> */

int main(void)
{
	printf("SKIP: built without <linux/kvm.h>\n");
	return 77;
}

#endif
