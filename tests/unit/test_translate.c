// SPDX-License-Identifier: MIT
/*
 * tests/unit/test_translate.c - the translation calls (gpc/translate.h).
 *
 * Two groups, chosen by the first argument ("unit", "concurrency", or
 * nothing for both); every test runs on a GPC_SCHEME_SRCU and on a
 * GPC_SCHEME_RWLOCK vm (translation uses the vm's SRCU domain on both):
 *  - unit: each call outside a section (-EPERM) and with bad arguments;
 *    slot edges (first and last byte, one past, before), zero lengths,
 *    ranges past 2^64, lengths clamped at a slot's end; read-only slots;
 *    scatter lists across slots (pieces merged when the host memory
 *    continues), too small arrays, holes at the start, in the middle and
 *    at the end, with the bytes translated reported; user addresses
 *    (lookups, scatter across slots adjacent in user space but not in gpa,
 *    user -> gpa, slots without one); overlapping user ranges refused by
 *    gpc_memslot_add with -ENOTUNIQ and no state change; reverse lookups,
 *    aliasing slots (lowest gpa wins) and a randomized differential test of
 *    them against a linear scan, a table too big for host segments;
 *    gpc_translate_gpa_slot; a signal handler translating with its own
 *    section and inside the section it interrupted;
 *  - concurrency: readers translate (single, scatter, user address) while a
 *    writer adds and deletes slots over real mappings that it unmaps only
 *    after the delete returned; every result must equal the translation
 *    under one of the table layouts current during the reader's section
 *    (recorded by the writer before each change, indexed by generation),
 *    and the memory behind it must be there and be that slot's (each page
 *    carries a tag of its mapping's instance); readers also translate from
 *    signal handlers the writer sends them, often inside their own section.
 */
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/uio.h>

#include <cmocka.h>

#include <gpc/gpc.h>

#include "test_common.h"

static uint64_t ps; /* the page size */

struct fx {
	enum gpc_scheme scheme;
	struct gpc_vm *vm;
	struct gpc_srcu *d;
	uint8_t *mem; /* MEM_PAGES pages, mapped */
};

#define MEM_PAGES 64
#define G0	  0x100000ull	    /* a gpa base */
#define U0	  0x7f0000000000ull /* a user-address base */

static struct fx fx_srcu = { .scheme = GPC_SCHEME_SRCU };
static struct fx fx_rwlock = { .scheme = GPC_SCHEME_RWLOCK };

static int setup(void **state)
{
	struct fx *f = *state;
	struct gpc_vm_config cfg = { .scheme = f->scheme, .name = "xlate" };

	if (gpc_vm_create(&cfg, &f->vm))
		return -1;
	f->d = gpc_vm_srcu(f->vm);
	f->mem = mmap(NULL, MEM_PAGES * ps, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (f->mem == MAP_FAILED)
		return -1;
	memset(f->mem, 0, MEM_PAGES * ps);
	test_log_capture();
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	int ret = gpc_vm_destroy(f->vm);

	munmap(f->mem, MEM_PAGES * ps);
	return ret ? -1 : test_log_clean();
}

static uint64_t hva_of(struct fx *f, uint64_t page)
{
	return (uint64_t)(uintptr_t)f->mem + page * ps;
}

static void add(struct fx *f, uint32_t id, uint64_t gpa, uint64_t pages,
		uint64_t hva, uint64_t uaddr, uint32_t flags)
{
	struct gpc_memslot_desc d = { .id = id,
				      .flags = flags,
				      .gpa = gpa,
				      .size = pages * ps,
				      .hva = hva,
				      .uaddr = uaddr };

	assert_int_equal(gpc_memslot_add(f->vm, &d), 0);
}

/* ---- unit: outside a section, bad arguments ---------------------------- */

static void test_outside_section(void **state)
{
	struct fx *f = *state;
	struct gpc_memslot_desc sd;
	struct iovec iov[2];
	uint64_t len = 8, gpa, done = 7;
	void *p = NULL;

	add(f, 0, G0, 4, hva_of(f, 0), U0, 0);
	assert_int_equal(gpc_translate_gpa(f->vm, G0, &len, 0, &p), -EPERM);
	assert_int_equal(len, 8);
	assert_null(p);
	assert_int_equal(gpc_translate_uaddr(f->vm, U0, &len, 0, &p), -EPERM);
	assert_int_equal(gpc_translate_gpa_iov(f->vm, G0, 8, 0, iov, 2, &done),
			 -EPERM);
	assert_int_equal(done, 0);
	assert_int_equal(gpc_translate_uaddr_iov(f->vm, U0, 8, 0, iov, 2, NULL),
			 -EPERM);
	assert_int_equal(gpc_translate_uaddr_gpa(f->vm, U0, &gpa, NULL),
			 -EPERM);
	assert_int_equal(gpc_translate_hva_gpa(f->vm, f->mem, &gpa, &sd),
			 -EPERM);
	assert_int_equal(gpc_translate_gpa_slot(f->vm, G0, &sd), -EPERM);

	/* Inside: fine; after the section ends: refused again. */
	gpc_srcu_read_lock(f->d);
	assert_int_equal(gpc_translate_gpa(f->vm, G0, &len, 0, &p), 0);
	gpc_srcu_read_lock(f->d); /* nested */
	assert_int_equal(gpc_translate_gpa(f->vm, G0, &len, 0, &p), 0);
	gpc_srcu_read_unlock(f->d);
	assert_int_equal(gpc_translate_gpa(f->vm, G0, &len, 0, &p), 0);
	gpc_srcu_read_unlock(f->d);
	assert_int_equal(gpc_translate_gpa(f->vm, G0, &len, 0, &p), -EPERM);
}

/* A section of another domain is not a section of the vm's. */
static void test_other_domain(void **state)
{
	struct fx *f = *state;
	struct gpc_srcu other;
	uint64_t len = 8;
	void *p;

	add(f, 0, G0, 4, hva_of(f, 0), 0, 0);
	assert_int_equal(gpc_srcu_init(&other, NULL), 0);
	gpc_srcu_read_lock(&other);
	assert_int_equal(gpc_translate_gpa(f->vm, G0, &len, 0, &p), -EPERM);
	gpc_srcu_read_unlock(&other);
	assert_int_equal(gpc_srcu_destroy(&other), 0);
}

static void test_bad_args(void **state)
{
	struct fx *f = *state;
	struct gpc_memslot_desc sd;
	struct iovec iov[2];
	uint64_t len = 8, gpa, done = 5;
	void *p;

	add(f, 0, G0, 4, hva_of(f, 0), U0, 0);
	/* NULL vm: refused before the section is looked at. */
	assert_int_equal(gpc_translate_gpa(NULL, G0, &len, 0, &p), -EINVAL);
	assert_int_equal(gpc_translate_gpa_iov(NULL, G0, 8, 0, iov, 2, &done),
			 -EINVAL);
	assert_int_equal(done, 0);
	gpc_srcu_read_lock(f->d);
	assert_int_equal(gpc_translate_gpa(f->vm, G0, NULL, 0, &p), -EINVAL);
	assert_int_equal(gpc_translate_gpa(f->vm, G0, &len, 0, NULL), -EINVAL);
	assert_int_equal(gpc_translate_gpa(f->vm, G0, &len, 2, &p), -EINVAL);
	assert_int_equal(gpc_translate_uaddr(f->vm, U0, NULL, 0, &p), -EINVAL);
	assert_int_equal(gpc_translate_uaddr(f->vm, U0, &len, 0x80, &p),
			 -EINVAL);
	assert_int_equal(gpc_translate_gpa_iov(f->vm, G0, 8, 0, NULL, 1, NULL),
			 -EINVAL);
	assert_int_equal(gpc_translate_gpa_iov(f->vm, G0, 8, 4, iov, 2, NULL),
			 -EINVAL);
	assert_int_equal(gpc_translate_uaddr_iov(f->vm, U0, 8, 0, NULL, 1,
						 NULL),
			 -EINVAL);
	assert_int_equal(gpc_translate_uaddr_gpa(f->vm, U0, NULL, &sd),
			 -EINVAL);
	assert_int_equal(gpc_translate_hva_gpa(f->vm, f->mem, NULL, &sd),
			 -EINVAL);
	assert_int_equal(gpc_translate_gpa_slot(f->vm, G0, NULL), -EINVAL);
	/* NULL iov with niov 0: fine (nothing can be filled). */
	assert_int_equal(gpc_translate_gpa_iov(f->vm, G0, 0, 0, NULL, 0, NULL),
			 0);
	assert_int_equal(gpc_translate_gpa_iov(f->vm, G0, 8, 0, NULL, 0, &done),
			 -ENOBUFS);
	assert_int_equal(done, 0);
	assert_int_equal(len, 8);
	(void)gpa;
	gpc_srcu_read_unlock(f->d);
}

/* ---- unit: gpa -> pointer ------------------------------------------------ */

static void expect_gpa(struct fx *f, uint64_t gpa, uint64_t want,
		       unsigned int flags, int err, uint64_t hva, uint64_t n)
{
	uint64_t len = want;
	void *p = (void *)1;

	assert_int_equal(gpc_translate_gpa(f->vm, gpa, &len, flags, &p), err);
	if (err) {
		assert_int_equal(len, want); /* unchanged */
		assert_ptr_equal(p, (void *)1);
		return;
	}
	assert_int_equal((uint64_t)(uintptr_t)p, hva);
	assert_int_equal(len, n);
}

static void test_gpa_edges(void **state)
{
	struct fx *f = *state;
	uint64_t end = G0 + 4 * ps;

	add(f, 0, G0, 4, hva_of(f, 8), 0, 0);
	gpc_srcu_read_lock(f->d);
	expect_gpa(f, G0, 8, 0, 0, hva_of(f, 8), 8);
	expect_gpa(f, G0 + 100, 4 * ps, 0, 0, hva_of(f, 8) + 100, 4 * ps - 100);
	expect_gpa(f, end - 1, 1, 0, 0, hva_of(f, 12) - 1, 1);
	expect_gpa(f, end - 1, 1000, 0, 0, hva_of(f, 12) - 1, 1);
	expect_gpa(f, end, 1, 0, -ENOENT, 0, 0);
	expect_gpa(f, G0 - 1, 2, 0, -ENOENT, 0, 0);
	expect_gpa(f, 0, 1, 0, -ENOENT, 0, 0);
	/* Zero length: the address is translated, nothing more. */
	expect_gpa(f, G0 + 8, 0, 0, 0, hva_of(f, 8) + 8, 0);
	expect_gpa(f, end, 0, 0, -ENOENT, 0, 0);
	/* The whole rest of the slot, whatever is asked for. */
	expect_gpa(f, G0, UINT64_MAX - G0 + 1, 0, 0, hva_of(f, 8), 4 * ps);
	/* Past 2^64: refused; ending at exactly 2^64 is not past it. */
	expect_gpa(f, G0, UINT64_MAX - G0 + 2, 0, -EOVERFLOW, 0, 0);
	expect_gpa(f, UINT64_MAX - 1, 4, 0, -EOVERFLOW, 0, 0);
	expect_gpa(f, UINT64_MAX, 1, 0, -ENOENT, 0, 0);
	expect_gpa(f, UINT64_MAX, 0, 0, -ENOENT, 0, 0);
	/* Writable: allowed. */
	expect_gpa(f, G0, 8, GPC_TRANSLATE_WRITE, 0, hva_of(f, 8), 8);
	gpc_srcu_read_unlock(f->d);
}

static void test_gpa_readonly(void **state)
{
	struct fx *f = *state;

	add(f, 0, G0, 2, hva_of(f, 0), 0, GPC_MEMSLOT_READONLY);
	add(f, 1, G0 + 2 * ps, 2, hva_of(f, 2), 0, 0);
	gpc_srcu_read_lock(f->d);
	expect_gpa(f, G0, 8, 0, 0, hva_of(f, 0), 8);
	expect_gpa(f, G0, 8, GPC_TRANSLATE_WRITE, -EROFS, 0, 0);
	expect_gpa(f, G0 + 2 * ps, 8, GPC_TRANSLATE_WRITE, 0, hva_of(f, 2), 8);
	gpc_srcu_read_unlock(f->d);
	/* Made writable: the next section sees it. */
	assert_int_equal(gpc_memslot_set_flags(f->vm, 0, 0), 0);
	gpc_srcu_read_lock(f->d);
	expect_gpa(f, G0, 8, GPC_TRANSLATE_WRITE, 0, hva_of(f, 0), 8);
	gpc_srcu_read_unlock(f->d);
}

/* The pointer is the caller's own mapping: a write through it is there. */
static void test_gpa_access(void **state)
{
	struct fx *f = *state;
	uint64_t len = 8;
	void *p;

	add(f, 0, G0, 4, hva_of(f, 4), 0, 0);
	gpc_srcu_read_lock(f->d);
	assert_int_equal(gpc_translate_gpa(f->vm, G0 + ps + 16, &len,
					   GPC_TRANSLATE_WRITE, &p),
			 0);
	memcpy(p, "libgpc!", 8);
	gpc_srcu_read_unlock(f->d);
	assert_memory_equal(f->mem + 5 * ps + 16, "libgpc!", 8);
}

/* ---- unit: scatter ------------------------------------------------------ */

static void expect_iov(const struct iovec *v, uint64_t hva, uint64_t len)
{
	assert_int_equal((uint64_t)(uintptr_t)v->iov_base, hva);
	assert_int_equal(v->iov_len, len);
}

/*
 * Slots A, B, C adjacent in gpa; B and C adjacent in host memory too, A
 * elsewhere; a hole after C, then D.
 *   A: [G0, +2p)     hva page 0
 *   B: [G0+2p, +2p)  hva page 10
 *   C: [G0+4p, +2p)  hva page 12
 *   D: [G0+8p, +2p)  hva page 20
 */
static void scatter_layout(struct fx *f, uint32_t c_flags)
{
	add(f, 0, G0, 2, hva_of(f, 0), 0, 0);
	add(f, 1, G0 + 2 * ps, 2, hva_of(f, 10), 0, 0);
	add(f, 2, G0 + 4 * ps, 2, hva_of(f, 12), 0, c_flags);
	add(f, 3, G0 + 8 * ps, 2, hva_of(f, 20), 0, 0);
}

static void test_iov(void **state)
{
	struct fx *f = *state;
	struct iovec iov[4];
	uint64_t done;

	scatter_layout(f, 0);
	gpc_srcu_read_lock(f->d);
	/* Within one slot. */
	assert_int_equal(
		gpc_translate_gpa_iov(f->vm, G0 + 8, 16, 0, iov, 4, &done), 1);
	expect_iov(&iov[0], hva_of(f, 0) + 8, 16);
	assert_int_equal(done, 16);
	/* A -> B -> C: B and C make one piece. */
	assert_int_equal(gpc_translate_gpa_iov(f->vm, G0 + ps, 4 * ps, 0, iov,
					       4, &done),
			 2);
	expect_iov(&iov[0], hva_of(f, 1), ps);
	expect_iov(&iov[1], hva_of(f, 10), 3 * ps);
	assert_int_equal(done, 4 * ps);
	/* Exactly to C's end; then one byte more runs into the hole. */
	assert_int_equal(
		gpc_translate_gpa_iov(f->vm, G0, 6 * ps, 0, iov, 4, &done), 2);
	assert_int_equal(done, 6 * ps);
	assert_int_equal(gpc_translate_gpa_iov(f->vm, G0, 6 * ps + 1, 0, iov, 4,
					       &done),
			 -ENOENT);
	assert_int_equal(done, 6 * ps);
	expect_iov(&iov[0], hva_of(f, 0), 2 * ps);
	expect_iov(&iov[1], hva_of(f, 10), 4 * ps);
	/* A hole at the start. */
	assert_int_equal(gpc_translate_gpa_iov(f->vm, G0 - 1, 2, 0, iov, 4,
					       &done),
			 -ENOENT);
	assert_int_equal(done, 0);
	assert_int_equal(gpc_translate_gpa_iov(f->vm, G0 + 6 * ps, 1, 0, iov, 4,
					       &done),
			 -ENOENT);
	assert_int_equal(done, 0);
	/* Too small: one entry reaches A's end. */
	assert_int_equal(gpc_translate_gpa_iov(f->vm, G0, 3 * ps, 0, iov, 1,
					       &done),
			 -ENOBUFS);
	assert_int_equal(done, 2 * ps);
	expect_iov(&iov[0], hva_of(f, 0), 2 * ps);
	/* ... but enough when the pieces merge. */
	assert_int_equal(gpc_translate_gpa_iov(f->vm, G0 + 2 * ps, 4 * ps, 0,
					       iov, 1, &done),
			 1);
	expect_iov(&iov[0], hva_of(f, 10), 4 * ps);
	/* Zero length: nothing, whatever the address. */
	done = 9;
	assert_int_equal(gpc_translate_gpa_iov(f->vm, 0, 0, 0, iov, 4, &done),
			 0);
	assert_int_equal(done, 0);
	/* Past 2^64. */
	assert_int_equal(gpc_translate_gpa_iov(f->vm, G0, UINT64_MAX, 0, iov, 4,
					       &done),
			 -EOVERFLOW);
	assert_int_equal(done, 0);
	/* The last slot of the table, and past it. */
	assert_int_equal(gpc_translate_gpa_iov(f->vm, G0 + 8 * ps, 2 * ps, 0,
					       iov, 4, &done),
			 1);
	assert_int_equal(gpc_translate_gpa_iov(f->vm, G0 + 9 * ps, 2 * ps, 0,
					       iov, 4, &done),
			 -ENOENT);
	assert_int_equal(done, ps);
	gpc_srcu_read_unlock(f->d);
}

static void test_iov_readonly(void **state)
{
	struct fx *f = *state;
	struct iovec iov[4];
	uint64_t done;

	scatter_layout(f, GPC_MEMSLOT_READONLY);
	gpc_srcu_read_lock(f->d);
	assert_int_equal(gpc_translate_gpa_iov(f->vm, G0 + ps, 4 * ps,
					       GPC_TRANSLATE_WRITE, iov, 4,
					       &done),
			 -EROFS);
	assert_int_equal(done, 3 * ps);
	expect_iov(&iov[0], hva_of(f, 1), ps);
	expect_iov(&iov[1], hva_of(f, 10), 2 * ps);
	/* Reading is fine. */
	assert_int_equal(gpc_translate_gpa_iov(f->vm, G0 + ps, 4 * ps, 0, iov,
					       4, &done),
			 2);
	gpc_srcu_read_unlock(f->d);
}

/* ---- unit: user addresses ---------------------------------------------- */

/*
 * Three slots whose user ranges are adjacent in the opposite order of
 * their gpas, one slot without a user address:
 *   0: gpa G0,      uaddr U0+4p  hva page 0
 *   1: gpa G0+2p,   uaddr U0+2p  hva page 10
 *   2: gpa G0+6p,   uaddr U0     hva page 20
 *   3: gpa G0+10p,  none         hva page 30
 */
static void user_layout(struct fx *f)
{
	add(f, 0, G0, 2, hva_of(f, 0), U0 + 4 * ps, 0);
	add(f, 1, G0 + 2 * ps, 2, hva_of(f, 10), U0 + 2 * ps, 0);
	add(f, 2, G0 + 6 * ps, 2, hva_of(f, 20), U0, GPC_MEMSLOT_READONLY);
	add(f, 3, G0 + 10 * ps, 2, hva_of(f, 30), 0, 0);
}

static void test_uaddr(void **state)
{
	struct fx *f = *state;
	struct gpc_memslot_desc sd;
	struct iovec iov[4];
	uint64_t len, gpa, done;
	void *p;

	user_layout(f);
	gpc_srcu_read_lock(f->d);
	len = 3 * ps;
	assert_int_equal(
		gpc_translate_uaddr(f->vm, U0 + 2 * ps + 8, &len, 0, &p), 0);
	assert_ptr_equal(p, f->mem + 10 * ps + 8);
	assert_int_equal(len, 2 * ps - 8);
	len = 1;
	assert_int_equal(
		gpc_translate_uaddr(f->vm, U0 + 6 * ps - 1, &len, 0, &p), 0);
	assert_ptr_equal(p, f->mem + 2 * ps - 1);
	len = 1;
	assert_int_equal(gpc_translate_uaddr(f->vm, U0 + 6 * ps, &len, 0, &p),
			 -ENOENT);
	assert_int_equal(gpc_translate_uaddr(f->vm, U0 - 1, &len, 0, &p),
			 -ENOENT);
	/* 0 is "no user address", never found. */
	assert_int_equal(gpc_translate_uaddr(f->vm, 0, &len, 0, &p), -ENOENT);
	len = 8;
	assert_int_equal(gpc_translate_uaddr(f->vm, U0, &len,
					     GPC_TRANSLATE_WRITE, &p),
			 -EROFS);
	len = 4;
	assert_int_equal(gpc_translate_uaddr(f->vm, UINT64_MAX - 2, &len, 0,
					     &p),
			 -EOVERFLOW);

	/* Scatter over the three, in user order: slots 2, 1, 0. */
	assert_int_equal(gpc_translate_uaddr_iov(f->vm, U0 + ps, 4 * ps, 0, iov,
						 4, &done),
			 3);
	assert_int_equal(done, 4 * ps);
	expect_iov(&iov[0], hva_of(f, 21), ps);
	expect_iov(&iov[1], hva_of(f, 10), 2 * ps);
	expect_iov(&iov[2], hva_of(f, 0), ps);
	assert_int_equal(gpc_translate_uaddr_iov(f->vm, U0 + ps, 6 * ps, 0, iov,
						 4, &done),
			 -ENOENT);
	assert_int_equal(done, 5 * ps);
	assert_int_equal(gpc_translate_uaddr_iov(f->vm, U0, 4 * ps, 0, iov, 1,
						 &done),
			 -ENOBUFS);
	assert_int_equal(done, 2 * ps);
	assert_int_equal(gpc_translate_uaddr_iov(f->vm, U0, 4 * ps,
						 GPC_TRANSLATE_WRITE, iov, 4,
						 &done),
			 -EROFS);
	assert_int_equal(done, 0);
	assert_int_equal(gpc_translate_uaddr_iov(f->vm, U0 + 2 * ps, 4 * ps,
						 GPC_TRANSLATE_WRITE, iov, 4,
						 &done),
			 2);
	assert_int_equal(gpc_translate_uaddr_iov(f->vm, U0 - ps, ps, 0, iov, 4,
						 &done),
			 -ENOENT);
	assert_int_equal(done, 0);

	/* User address -> gpa, with the slot. */
	assert_int_equal(
		gpc_translate_uaddr_gpa(f->vm, U0 + 5 * ps + 3, &gpa, &sd), 0);
	assert_int_equal(gpa, G0 + ps + 3);
	assert_int_equal(sd.id, 0);
	assert_int_equal(sd.uaddr, U0 + 4 * ps);
	assert_int_equal(sd.hva, hva_of(f, 0));
	assert_int_equal(sd.generation, gpc_memslot_generation(f->vm));
	assert_int_equal(gpc_translate_uaddr_gpa(f->vm, U0, &gpa, NULL), 0);
	assert_int_equal(gpa, G0 + 6 * ps);
	assert_int_equal(gpc_translate_uaddr_gpa(f->vm, U0 + 6 * ps, &gpa,
						 NULL),
			 -ENOENT);
	assert_int_equal(gpc_translate_uaddr_gpa(f->vm, 0, &gpa, NULL),
			 -ENOENT);
	gpc_srcu_read_unlock(f->d);

	/* A deleted slot's user range is gone with it. */
	assert_int_equal(gpc_memslot_delete(f->vm, 1), 0);
	gpc_srcu_read_lock(f->d);
	len = 8;
	assert_int_equal(gpc_translate_uaddr(f->vm, U0 + 2 * ps, &len, 0, &p),
			 -ENOENT);
	assert_int_equal(gpc_translate_uaddr_iov(f->vm, U0 + ps, 2 * ps, 0, iov,
						 4, &done),
			 -ENOENT);
	assert_int_equal(done, ps);
	gpc_srcu_read_unlock(f->d);
}

/* Overlapping user ranges abort the change: nothing happens. */
static void test_uaddr_overlap(void **state)
{
	struct fx *f = *state;
	struct gpc_memslot_desc d = { .id = 5,
				      .gpa = G0 + 20 * ps,
				      .size = 2 * ps,
				      .hva = hva_of(f, 40) };
	uint64_t gen;
	uint64_t bases[] = { U0 + 3 * ps, U0 + ps, U0 + 4 * ps - ps,
			     U0,	  U0 - ps, U0 + 2 * ps };

	add(f, 0, G0, 4, hva_of(f, 0), U0, 0); /* user [U0, U0 + 4p) */
	gen = gpc_memslot_generation(f->vm);
	for (unsigned int i = 0; i < sizeof(bases) / sizeof(bases[0]); i++) {
		d.uaddr = bases[i];
		assert_int_equal(gpc_memslot_add(f->vm, &d), -ENOTUNIQ);
		assert_int_equal(gpc_memslot_generation(f->vm), gen);
		assert_int_equal(gpc_memslot_count(f->vm), 1);
	}
	/* A bigger range over the whole of it. */
	d.uaddr = U0 - ps;
	d.size = 8 * ps;
	assert_int_equal(gpc_memslot_add(f->vm, &d), -ENOTUNIQ);
	/* Adjacent on either side is fine, and the id was never taken. */
	d.size = 2 * ps;
	d.uaddr = U0 + 4 * ps;
	assert_int_equal(gpc_memslot_add(f->vm, &d), 0);
	d.id = 6;
	d.gpa = G0 + 30 * ps;
	d.uaddr = U0 - 2 * ps;
	assert_int_equal(gpc_memslot_add(f->vm, &d), 0);
	/* Overlap with a slot that has no user address does not count. */
	add(f, 7, G0 + 40 * ps, 2, hva_of(f, 0), 0, 0);
	assert_int_equal(gpc_memslot_count(f->vm), 4);
}

/* ---- unit: reverse lookups --------------------------------------------- */

static void expect_rev(struct fx *f, uint64_t hva, int err, uint64_t gpa,
		       uint32_t id)
{
	struct gpc_memslot_desc sd;
	uint64_t g = 1;

	assert_int_equal(gpc_translate_hva_gpa(f->vm, (void *)(uintptr_t)hva,
					       &g, &sd),
			 err);
	if (err) {
		assert_int_equal(g, 1);
		return;
	}
	assert_int_equal(g, gpa);
	assert_int_equal(sd.id, id);
}

static void test_hva_gpa(void **state)
{
	struct fx *f = *state;

	/* Host ranges in gpa order: the sorted case. */
	add(f, 0, G0, 2, hva_of(f, 0), 0, 0);
	add(f, 1, G0 + 4 * ps, 2, hva_of(f, 4), U0, 0);
	gpc_srcu_read_lock(f->d);
	expect_rev(f, hva_of(f, 0), 0, G0, 0);
	expect_rev(f, hva_of(f, 2) - 1, 0, G0 + 2 * ps - 1, 0);
	expect_rev(f, hva_of(f, 2), -ENOENT, 0, 0);
	expect_rev(f, hva_of(f, 4) + 5, 0, G0 + 4 * ps + 5, 1);
	expect_rev(f, hva_of(f, 6), -ENOENT, 0, 0);
	expect_rev(f, hva_of(f, 0) - 1, -ENOENT, 0, 0);
	gpc_srcu_read_unlock(f->d);
}

/*
 * Aliases: X = gpa G0+16p over pages 0-3, Y = gpa G0 over pages 2-5 (lower
 * gpa), Z = gpa G0+32p over pages 0-7 (covers both, highest gpa), W = gpa
 * G0+8p over page 6 only.
 */
static void test_hva_alias(void **state)
{
	struct fx *f = *state;

	add(f, 0, G0 + 16 * ps, 4, hva_of(f, 0), 0, 0); /* X */
	add(f, 1, G0, 4, hva_of(f, 2), 0, 0);		/* Y */
	add(f, 2, G0 + 32 * ps, 8, hva_of(f, 0), 0, 0); /* Z */
	add(f, 3, G0 + 8 * ps, 1, hva_of(f, 6), 0, 0);	/* W */
	gpc_srcu_read_lock(f->d);
	expect_rev(f, hva_of(f, 0), 0, G0 + 16 * ps, 0);
	expect_rev(f, hva_of(f, 2) - 1, 0, G0 + 18 * ps - 1, 0);
	expect_rev(f, hva_of(f, 2), 0, G0, 1);
	expect_rev(f, hva_of(f, 5) + 9, 0, G0 + 3 * ps + 9, 1);
	expect_rev(f, hva_of(f, 6), 0, G0 + 8 * ps, 3);
	expect_rev(f, hva_of(f, 7), 0, G0 + 39 * ps, 2);
	expect_rev(f, hva_of(f, 8) - 1, 0, G0 + 40 * ps - 1, 2);
	expect_rev(f, hva_of(f, 8), -ENOENT, 0, 0);
	gpc_srcu_read_unlock(f->d);
	/* Y goes: its part falls back to X, then Z. */
	assert_int_equal(gpc_memslot_delete(f->vm, 1), 0);
	gpc_srcu_read_lock(f->d);
	expect_rev(f, hva_of(f, 3), 0, G0 + 19 * ps, 0);
	expect_rev(f, hva_of(f, 4), 0, G0 + 36 * ps, 2);
	gpc_srcu_read_unlock(f->d);
}

/* The answer a linear scan gives: the lowest gpa whose host range has it. */
static int rev_scan(const struct gpc_memslot_desc *s, unsigned int n,
		    const bool *live, uint64_t hva, uint64_t *gpa)
{
	int best = -1;

	for (unsigned int i = 0; i < n; i++)
		if (live[i] && hva - s[i].hva < s[i].size &&
		    (best < 0 || s[i].gpa < s[best].gpa))
			best = (int)i;
	if (best >= 0)
		*gpa = s[best].gpa + (hva - s[best].hva);
	return best;
}

#define RD_SLOTS 12
#define RD_SPAN	 64 /* pages of fake host space the slots fall in */

/*
 * Random layouts of aliasing slots (host addresses are never accessed, so
 * they need no mapping), slots deleted and added one by one; after each
 * change, every page edge and some inner addresses of the host span are
 * looked up and compared with the scan.
 */
static void test_hva_differential(void **state)
{
	struct fx *f = *state;
	struct gpc_memslot_desc s[RD_SLOTS];
	bool live[RD_SLOTS] = { false };
	uint64_t seed = 0x5eed, base = 0x200000000000ull;
	long rounds = test_iters(120);

	for (long r = 0; r < rounds; r++) {
		unsigned int i = (unsigned int)(test_rand(&seed) % RD_SLOTS);

		if (live[i]) {
			assert_int_equal(gpc_memslot_delete(f->vm, i), 0);
			live[i] = false;
		} else {
			uint64_t pages = 1 + test_rand(&seed) % 16;

			s[i] = (struct gpc_memslot_desc){
				.id = i,
				.gpa = (uint64_t)i * 64 * ps,
				.size = pages * ps,
				.hva = base + (test_rand(&seed) % RD_SPAN) * ps,
			};
			assert_int_equal(gpc_memslot_add(f->vm, &s[i]), 0);
			live[i] = true;
		}
		gpc_srcu_read_lock(f->d);
		for (uint64_t pg = 0; pg <= RD_SPAN + 16; pg++) {
			uint64_t offs[] = { 0, 1, ps - 1 };

			for (unsigned int k = 0; k < 3; k++) {
				uint64_t h = base + pg * ps + offs[k], eg = 0,
					 g = 0;
				struct gpc_memslot_desc sd;
				int best = rev_scan(s, RD_SLOTS, live, h, &eg);
				int ret = gpc_translate_hva_gpa(
					f->vm, (void *)(uintptr_t)h, &g, &sd);

				if (best < 0) {
					assert_int_equal(ret, -ENOENT);
					continue;
				}
				assert_int_equal(ret, 0);
				assert_int_equal(g, eg);
				assert_int_equal(sd.id, (uint32_t)best);
			}
		}
		gpc_srcu_read_unlock(f->d);
	}
}

/*
 * A table too big for host segments, out of hva order (memslot_aux.c's
 * hva_scan): the reverse lookups scan, with the same answers. Slot i: one
 * page at gpa i * 2p and hva base + i pages, so the table stays in hva
 * order (and cheap to build) until the last two: slot N-2 at a fresh page
 * below all others, slot N-1 aliasing slot 0's page at a higher gpa.
 */
#define BIG_N 4200

static uint64_t big_hva(uint32_t i)
{
	return 0x300000000000ull + (uint64_t)i * ps;
}

static void test_hva_scan_large(void **state)
{
	struct fx *f = *state;
	struct gpc_memslot_desc sd;
	uint64_t g;

	test_watchdog_arm(120, "test_hva_scan_large");
	for (uint32_t i = 0; i < BIG_N - 2; i++)
		add(f, i, (uint64_t)i * 2 * ps, 1, big_hva(i), 0, 0);
	add(f, BIG_N - 2, (uint64_t)BIG_N * 2 * ps, 1, big_hva(0) - ps, 0, 0);
	add(f, BIG_N - 1, (uint64_t)(BIG_N + 1) * 2 * ps, 1, big_hva(0), 0, 0);
	gpc_srcu_read_lock(f->d);
	for (uint32_t i = 0; i < BIG_N - 2; i += 97) {
		uint64_t h = big_hva(i) + 5;

		assert_int_equal(gpc_translate_hva_gpa(
					 f->vm, (void *)(uintptr_t)h, &g, &sd),
				 0);
		assert_int_equal(g, (uint64_t)i * 2 * ps + 5);
		assert_int_equal(sd.id, i);
	}
	/* The alias of slot 0's page: slot 0 has the lower gpa. */
	assert_int_equal(gpc_translate_hva_gpa(
				 f->vm, (void *)(uintptr_t)big_hva(0), &g, &sd),
			 0);
	assert_int_equal(sd.id, 0);
	/* The page below them all, out of order. */
	assert_int_equal(gpc_translate_hva_gpa(
				 f->vm, (void *)(uintptr_t)(big_hva(0) - 1), &g,
				 &sd),
			 0);
	assert_int_equal(sd.id, BIG_N - 2);
	assert_int_equal(g, (uint64_t)BIG_N * 2 * ps + ps - 1);
	assert_int_equal(gpc_translate_hva_gpa(
				 f->vm, (void *)(uintptr_t)big_hva(BIG_N - 2),
				 &g, &sd),
			 -ENOENT);
	assert_int_equal(
		gpc_translate_hva_gpa(f->vm,
				      (void *)(uintptr_t)(big_hva(0) - ps - 1),
				      &g, &sd),
		-ENOENT);
	gpc_srcu_read_unlock(f->d);
	test_watchdog_disarm();
}

static void test_gpa_slot(void **state)
{
	struct fx *f = *state;
	struct gpc_memslot_desc sd;

	add(f, 3, G0, 2, hva_of(f, 0), U0, GPC_MEMSLOT_READONLY);
	gpc_srcu_read_lock(f->d);
	assert_int_equal(gpc_translate_gpa_slot(f->vm, G0 + ps, &sd), 0);
	assert_int_equal(sd.id, 3);
	assert_int_equal(sd.flags, GPC_MEMSLOT_READONLY);
	assert_int_equal(sd.gpa, G0);
	assert_int_equal(sd.size, 2 * ps);
	assert_int_equal(sd.hva, hva_of(f, 0));
	assert_int_equal(sd.uaddr, U0);
	assert_int_equal(sd.generation, gpc_memslot_generation(f->vm));
	assert_int_equal(sd.reserved[0] | sd.reserved[1], 0);
	assert_int_equal(gpc_translate_gpa_slot(f->vm, G0 + 2 * ps, &sd),
			 -ENOENT);
	gpc_srcu_read_unlock(f->d);
}

/* ---- unit: from a signal handler --------------------------------------- */

static struct fx *sig_fx;
static volatile sig_atomic_t sig_own, sig_bare;
static void *volatile sig_ptr;

/* Translates with a section of its own, and without one. */
static void sig_handler(int sig)
{
	uint64_t len = 8;
	void *p = NULL;

	(void)sig;
	sig_bare = gpc_translate_gpa(sig_fx->vm, G0 + 8, &len, 0, &p);
	gpc_srcu_read_lock(sig_fx->d);
	len = 8;
	sig_own = gpc_translate_gpa(sig_fx->vm, G0 + 8, &len, 0, &p);
	sig_ptr = p;
	gpc_srcu_read_unlock(sig_fx->d);
}

static void test_signal_handler(void **state)
{
	struct fx *f = *state;
	struct sigaction sa = { .sa_handler = sig_handler }, old;

	add(f, 0, G0, 2, hva_of(f, 0), 0, 0);
	sig_fx = f;
	assert_int_equal(sigaction(SIGUSR1, &sa, &old), 0);
	/* Outside any section: the handler's own section is what counts. */
	raise(SIGUSR1);
	assert_int_equal(sig_own, 0);
	assert_int_equal(sig_bare, -EPERM);
	assert_ptr_equal(sig_ptr, f->mem + 8);
	/* Interrupting a section: the handler is inside it too. */
	gpc_srcu_read_lock(f->d);
	raise(SIGUSR1);
	assert_int_equal(sig_bare, 0);
	assert_int_equal(sig_own, 0);
	gpc_srcu_read_unlock(f->d);
	assert_int_equal(sigaction(SIGUSR1, &old, NULL), 0);
}

/* ---- concurrency: readers against a writer, checked against versions ----- */

#define CK	   8 /* candidate slots */
#define CK_PAGES   2
#define CK_MAXV	   4096 /* layouts recorded (generations) */
#define CK_READERS 2
#define CK_IOV	   3

/* The table layout of one generation, as the writer made it. */
struct layout {
	uint32_t mask;	   /* slots present */
	uint64_t hva[CK];  /* their mappings */
	uint32_t inst[CK]; /* and the instance tag of each mapping */
};

struct conc {
	struct fx *f;
	struct layout v[CK_MAXV];
	_Atomic uint64_t recorded; /* layouts v[0..recorded] are final */
	atomic_int stop;
	_Atomic long checks, fails, ok_hits;
	char why[256];
	atomic_int why_set;
};

static uint64_t ck_gpa(unsigned int i)
{
	return G0 + (uint64_t)i * CK_PAGES * ps;
}

static uint64_t ck_uaddr(unsigned int i)
{
	return U0 + (uint64_t)i * CK_PAGES * ps;
}

static uint64_t tag_of(uint32_t inst, uint64_t page)
{
	return (uint64_t)inst << 16 | page;
}

static void conc_fail(struct conc *c, const char *fmt, ...)
{
	va_list ap;
	int zero = 0;

	atomic_fetch_add(&c->fails, 1);
	if (!atomic_compare_exchange_strong(&c->why_set, &zero, 1))
		return;
	va_start(ap, fmt);
	vsnprintf(c->why, sizeof(c->why), fmt, ap);
	va_end(ap);
}

/*
 * The reference: [a, a + len) of the candidates' space (gpa or user: both
 * put candidate i at base + i * CK_PAGES pages) under layout @l, as
 * gpc_translate_*_iov() must give it with @niov entries; *@filled gets the
 * entries filled, on error too. @single: as gpc_translate_gpa() gives it
 * (one slot, cut at its end), as a one-entry list.
 */
static int ref_iov(const struct layout *l, uint64_t base, uint64_t a,
		   uint64_t len, bool single, struct iovec *iov,
		   unsigned int niov, uint64_t *done, unsigned int *filled)
{
	uint64_t sz = CK_PAGES * ps;
	unsigned int k = 0;
	int ret = 0;

	*done = 0;
	while (*done < len) {
		uint64_t at = a + *done, off, n, h;
		unsigned int i;

		if (at < base || at - base >= CK * sz ||
		    !(l->mask & (1u << ((at - base) / sz)))) {
			ret = -ENOENT;
			break;
		}
		i = (unsigned int)((at - base) / sz);
		off = at - base - i * sz;
		n = sz - off < len - *done ? sz - off : len - *done;
		h = l->hva[i] + off;
		if (k &&
		    (uintptr_t)iov[k - 1].iov_base + iov[k - 1].iov_len == h) {
			iov[k - 1].iov_len += n;
		} else if (k == niov) {
			ret = -ENOBUFS;
			break;
		} else {
			iov[k++] = (struct iovec){ (void *)(uintptr_t)h, n };
		}
		*done += n;
		if (single)
			break;
	}
	*filled = k;
	return ret ? ret : (int)k;
}

/* The page of [h, h + n) at @h is mapping @inst's page: its tag says so. */
static bool tag_ok(const struct layout *l, uint64_t h)
{
	uint64_t sz = CK_PAGES * ps;

	for (unsigned int i = 0; i < CK; i++) {
		if (!(l->mask & (1u << i)) || h - l->hva[i] >= sz)
			continue;
		uint64_t pg = (h - l->hva[i]) / ps;
		const _Atomic uint64_t *t =
			(const _Atomic uint64_t *)(uintptr_t)(l->hva[i] +
							      pg * ps);

		return atomic_load_explicit(t, memory_order_relaxed) ==
		       tag_of(l->inst[i], pg);
	}
	return false;
}

/* One translation a reader made, to be checked. */
struct result {
	bool single;
	uint64_t base, a, len;
	unsigned int niov;
	int ret;
	uint64_t done;
	struct iovec iov[CK_IOV];
};

/* @r equals what layout @v gives, and its memory is there and is that. */
static bool matches(struct conc *c, uint64_t v, const struct result *r)
{
	const struct layout *l = &c->v[v];
	struct iovec e[CK_IOV];
	uint64_t edone;
	unsigned int n;
	int eret = ref_iov(l, r->base, r->a, r->len, r->single, e, r->niov,
			   &edone, &n);

	if (eret != r->ret || edone != r->done)
		return false;
	for (unsigned int k = 0; k < n; k++) {
		uint64_t h = (uint64_t)(uintptr_t)r->iov[k].iov_base;

		if (e[k].iov_base != r->iov[k].iov_base ||
		    e[k].iov_len != r->iov[k].iov_len)
			return false;
		if (!tag_ok(l, h) || !tag_ok(l, h + r->iov[k].iov_len - 1))
			return false;
	}
	return true;
}

/* Busy for a while inside the section, now and then: changes wait. */
static void maybe_linger(uint64_t *seed)
{
	if (test_rand(seed) % 8 == 0)
		sched_yield();
}

static void reader_once(struct conc *c, uint64_t *seed)
{
	struct fx *f = c->f;
	uint64_t sz = CK_PAGES * ps, ga, gb, top;
	unsigned int kind = (unsigned int)(test_rand(seed) % 3);
	struct result r = { .single = kind == 0 };
	bool ok = false;

	r.base = kind == 2 ? U0 : G0;
	/* From one page before the candidates to one after. */
	r.a = r.base - ps + test_rand(seed) % (CK * sz + 2 * ps);
	r.len = 1 + test_rand(seed) % (3 * sz);
	r.niov = kind == 0 ? 1 : 1 + (unsigned int)(test_rand(seed) % CK_IOV);
	gpc_srcu_read_lock(f->d);
	ga = gpc_memslot_generation(f->vm);
	if (kind == 0) {
		void *p = NULL;
		uint64_t n = r.len;

		r.ret = gpc_translate_gpa(f->vm, r.a, &n, 0, &p);
		if (!r.ret) {
			r.iov[0] = (struct iovec){ p, n };
			r.done = n;
			r.ret = 1;
		}
	} else if (kind == 2) {
		r.ret = gpc_translate_uaddr_iov(f->vm, r.a, r.len, 0, r.iov,
						r.niov, &r.done);
	} else {
		r.ret = gpc_translate_gpa_iov(f->vm, r.a, r.len, 0, r.iov,
					      r.niov, &r.done);
	}
	maybe_linger(seed);
	gb = gpc_memslot_generation(f->vm);
	top = atomic_load_explicit(&c->recorded, memory_order_acquire);
	atomic_fetch_add(&c->checks, 1);
	if (r.ret > 0)
		atomic_fetch_add(&c->ok_hits, 1);
	/* The table used was current at some point of the section. */
	for (uint64_t v = ga; v <= gb + 1 && v <= top && !ok; v++)
		ok = matches(c, v, &r);
	if (!ok)
		conc_fail(c,
			  "kind %u addr %#llx len %llu niov %u: ret %d done "
			  "%llu, no layout of generations %llu..%llu gives it",
			  kind, (unsigned long long)r.a,
			  (unsigned long long)r.len, r.niov, r.ret,
			  (unsigned long long)r.done, (unsigned long long)ga,
			  (unsigned long long)gb + 1);
	gpc_srcu_read_unlock(f->d);
}

static struct conc *conc_now; /* for the signal handler */
static _Atomic long conc_in_handler;

/* A reader's translation from a signal handler that may interrupt one. */
static void conc_sig(int sig)
{
	static _Thread_local uint64_t seed;

	(void)sig;
	if (!seed)
		seed = (uint64_t)(uintptr_t)&seed | 1;
	reader_once(conc_now, &seed);
	atomic_fetch_add(&conc_in_handler, 1);
}

static void *conc_reader(void *arg)
{
	struct conc *c = arg;
	uint64_t seed = (uint64_t)(uintptr_t)&seed | 1;

	while (!atomic_load(&c->stop))
		reader_once(c, &seed);
	return NULL;
}

/* Record the layout of generation @gen before the change that makes it. */
static void record(struct conc *c, uint64_t gen, const struct layout *l)
{
	assert_true(gen < CK_MAXV);
	c->v[gen] = *l;
	atomic_store_explicit(&c->recorded, gen, memory_order_release);
}

static void *map_instance(uint32_t inst)
{
	uint64_t sz = CK_PAGES * ps;
	uint8_t *m = mmap(NULL, sz, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	assert_true(m != MAP_FAILED);
	for (uint64_t pg = 0; pg < CK_PAGES; pg++)
		*(uint64_t *)(m + pg * ps) = tag_of(inst, pg);
	return m;
}

static void test_conc_translate(void **state)
{
	struct fx *f = *state;
	struct conc *c = calloc(1, sizeof(*c));
	struct layout cur = { 0 };
	pthread_t th[CK_READERS];
	struct sigaction sa = { .sa_handler = conc_sig }, old_sa;
	uint64_t seed = 42, gen;
	uint32_t inst = 1;
	long changes = test_iters(600);

	assert_non_null(c);
	c->f = f;
	if (changes > CK_MAXV - 64)
		changes = CK_MAXV - 64;
	test_watchdog_arm(120, "translate: readers against a writer");
	gen = gpc_memslot_generation(f->vm);
	record(c, gen, &cur);
	conc_now = c;
	atomic_store(&conc_in_handler, 0);
	assert_int_equal(sigaction(SIGUSR2, &sa, &old_sa), 0);
	for (int i = 0; i < CK_READERS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, conc_reader, c),
				 0);
	for (long k = 0; k < changes; k++) {
		/* Now and then a reader translates from a signal handler,
		 * often inside its own section. */
		if (k % 4 == 0)
			pthread_kill(th[k / 4 % CK_READERS], SIGUSR2);
		unsigned int i = (unsigned int)(test_rand(&seed) % CK);
		struct layout next = cur;

		if (cur.mask & (1u << i)) {
			next.mask &= ~(1u << i);
			record(c, gen + 1, &next);
			assert_int_equal(gpc_memslot_delete(f->vm, i), 0);
			/* Only now: no section can still use the mapping. */
			munmap((void *)(uintptr_t)cur.hva[i], CK_PAGES * ps);
		} else {
			struct gpc_memslot_desc d = { .id = i,
						      .gpa = ck_gpa(i),
						      .size = CK_PAGES * ps,
						      .uaddr = ck_uaddr(i) };

			next.inst[i] = inst;
			next.hva[i] = (uint64_t)(uintptr_t)map_instance(inst++);
			next.mask |= 1u << i;
			d.hva = next.hva[i];
			record(c, gen + 1, &next);
			assert_int_equal(gpc_memslot_add(f->vm, &d), 0);
		}
		gen++;
		assert_int_equal(gpc_memslot_generation(f->vm), gen);
		cur = next;
	}
	atomic_store(&c->stop, 1);
	for (int i = 0; i < CK_READERS; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
	assert_int_equal(sigaction(SIGUSR2, &old_sa, NULL), 0);
	test_watchdog_disarm();
	for (unsigned int i = 0; i < CK; i++)
		if (cur.mask & (1u << i)) {
			assert_int_equal(gpc_memslot_delete(f->vm, i), 0);
			munmap((void *)(uintptr_t)cur.hva[i], CK_PAGES * ps);
		}
	print_message("%ld checks (%ld translated, %ld from signal "
		      "handlers), %ld changes\n",
		      atomic_load(&c->checks), atomic_load(&c->ok_hits),
		      atomic_load(&conc_in_handler), changes);
	if (atomic_load(&c->fails))
		print_error("%ld failures; first: %s\n", atomic_load(&c->fails),
			    c->why);
	assert_int_equal(atomic_load(&c->fails), 0);
	assert_true(atomic_load(&c->ok_hits) > 0);
	free(c);
}

/* ---- main ------------------------------------------------------------- */

#define T2(fn)                                                                \
	cmocka_unit_test_prestate_setup_teardown(fn, setup, teardown,         \
						 &fx_srcu),                   \
		cmocka_unit_test_prestate_setup_teardown(fn, setup, teardown, \
							 &fx_rwlock)

int main(int argc, char **argv)
{
	const struct CMUnitTest unit[] = {
		T2(test_outside_section),
		T2(test_other_domain),
		T2(test_bad_args),
		T2(test_gpa_edges),
		T2(test_gpa_readonly),
		T2(test_gpa_access),
		T2(test_iov),
		T2(test_iov_readonly),
		T2(test_uaddr),
		T2(test_uaddr_overlap),
		T2(test_hva_gpa),
		T2(test_hva_alias),
		T2(test_hva_differential),
		T2(test_hva_scan_large),
		T2(test_gpa_slot),
		T2(test_signal_handler),
	};
	const struct CMUnitTest concurrency[] = {
		T2(test_conc_translate),
	};
	const char *group = argc > 1 ? argv[1] : "";
	int ret = 0;

	ps = (uint64_t)sysconf(_SC_PAGESIZE);
	if (strcmp(group, "concurrency"))
		ret |= cmocka_run_group_tests_name("translate", unit, NULL,
						   NULL);
	if (strcmp(group, "unit"))
		ret |= cmocka_run_group_tests_name("translate concurrency",
						   concurrency, NULL, NULL);
	return ret;
}
