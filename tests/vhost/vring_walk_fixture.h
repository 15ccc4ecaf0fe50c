// SPDX-License-Identifier: MIT
/*
 * tests/vhost/vring_walk_fixture.h - the fixture of the tests of the
 * split-virtqueue descriptor-chain walker of libgpc-vhost
 * (src/vhost/vring_walk.h): test_vring_walk_chains.c,
 * test_vring_walk_errors.c and test_vring_walk_race.c, each a program of
 * its own (including this header once) whose main() sets ps.
 *
 * A real vm whose guest memory is a memfd mapped by the test, as a
 * vhost-user back-end maps the regions it is given:
 *
 *   gpa G0 .. +16 pages  slot 0  memfd pages  0..15 at R + 0   (dirty log)
 *   gpa G1 .. +16 pages  slot 1  memfd pages 16..31 at R + 24p
 *   gpa G1+16p .. +16p   no slot (a hole)
 *   gpa G2 .. +16 pages  slot 2  memfd pages 32..47 at R + 48p (read-only)
 *
 * R is a PROT_NONE reservation, so slots 0 and 1 are adjacent in
 * guest-physical space but not in host memory (a buffer across G1 needs two
 * iovecs), and any access between the mappings faults. The descriptor table
 * is at G0 (page 0), indirect tables on pages 1-3, buffers from page 4 on.
 *
 * Every test runs on a GPC_SCHEME_SRCU and on a GPC_SCHEME_RWLOCK vm
 * (T2(); the walker's translations use the vm's SRCU domain on both).
 * Not every program uses every helper, hence the pragma (for this header
 * only: a program's own unused helpers still warn).
 */
#ifndef GPC_TESTS_VRING_WALK_FIXTURE_H
#define GPC_TESTS_VRING_WALK_FIXTURE_H

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"

#include <endian.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/uio.h>

#include <linux/virtio_ring.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <gpc/gpc.h>

#include "test_common.h"
#include "vring_walk.h"

static uint64_t ps; /* the page size */

#define SLOT_PAGES 16
#define RES_PAGES  64
#define G0	   0x100000ull
#define G1	   (G0 + SLOT_PAGES * ps)
#define GHOLE	   (G1 + SLOT_PAGES * ps)
#define G2	   (GHOLE + SLOT_PAGES * ps)
#define NUM	   16 /* the queue size of most tests */

/* Where each slot lives in the reservation, in pages. */
#define OFF0 0
#define OFF1 24
#define OFF2 48

struct fx {
	enum gpc_scheme scheme;
	struct gpc_vm *vm;
	struct gpc_srcu *d;
	int fd;
	uint8_t *res;		  /* the reservation */
	uint8_t *m0, *m1, *m2;	  /* the slots' mappings */
	struct gpc_vhost_chain c; /* the last walk's result */
	struct iovec iov[64];
};

static struct fx fx_srcu = { .scheme = GPC_SCHEME_SRCU };
static struct fx fx_rwlock = { .scheme = GPC_SCHEME_RWLOCK };

static uint8_t *map_at(struct fx *f, uint64_t page, uint64_t file_page)
{
	void *p = mmap(f->res + page * ps, SLOT_PAGES * ps,
		       PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, f->fd,
		       (off_t)(file_page * ps));

	return p == MAP_FAILED ? NULL : p;
}

static int add_slot(struct fx *f, uint32_t id, uint64_t gpa, uint8_t *hva,
		    uint32_t flags)
{
	struct gpc_memslot_desc d = { .id = id,
				      .flags = flags,
				      .gpa = gpa,
				      .size = SLOT_PAGES * ps,
				      .hva = (uint64_t)(uintptr_t)hva };

	return gpc_memslot_add(f->vm, &d);
}

static int setup(void **state)
{
	struct fx *f = *state;
	struct gpc_vm_config cfg = { .scheme = f->scheme, .name = "vring" };

	if (gpc_vm_create(&cfg, &f->vm))
		return -1;
	f->d = gpc_vm_srcu(f->vm);
	f->fd = memfd_create("vring-walk", MFD_CLOEXEC);
	if (f->fd < 0 || ftruncate(f->fd, (off_t)(3 * SLOT_PAGES * ps)))
		return -1;
	f->res = mmap(NULL, RES_PAGES * ps, PROT_NONE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (f->res == MAP_FAILED)
		return -1;
	f->m0 = map_at(f, OFF0, 0);
	f->m1 = map_at(f, OFF1, SLOT_PAGES);
	f->m2 = map_at(f, OFF2, 2 * SLOT_PAGES);
	if (!f->m0 || !f->m1 || !f->m2)
		return -1;
	if (add_slot(f, 0, G0, f->m0, GPC_MEMSLOT_LOG_DIRTY) ||
	    add_slot(f, 1, G1, f->m1, 0) ||
	    add_slot(f, 2, G2, f->m2, GPC_MEMSLOT_READONLY))
		return -1;
	test_log_capture();
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	int ret = gpc_vm_destroy(f->vm);

	munmap(f->res, RES_PAGES * ps);
	close(f->fd);
	return ret ? -1 : test_log_clean();
}

/* The host address of @gpa (in a slot) through the test's own mappings. */
static uint8_t *hp(struct fx *f, uint64_t gpa)
{
	if (gpa >= G0 && gpa < G0 + SLOT_PAGES * ps)
		return f->m0 + (gpa - G0);
	if (gpa >= G1 && gpa < G1 + SLOT_PAGES * ps)
		return f->m1 + (gpa - G1);
	if (gpa >= G2 && gpa < G2 + SLOT_PAGES * ps)
		return f->m2 + (gpa - G2);
	return NULL;
}

/*
 * Store descriptor @i of the table at @table_gpa as the guest does:
 * little-endian, two 8-byte words, atomically (the concurrency test rewrites
 * descriptors while the walker reads them). The unaligned tables of the unit
 * tests are written bytewise.
 */
static void set_desc(struct fx *f, uint64_t table_gpa, unsigned int i,
		     uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	uint8_t *p = hp(f, table_gpa + (uint64_t)i * 16);
	uint64_t w0 = htole64(addr);
	uint64_t w1 = htole64((uint64_t)len | (uint64_t)flags << 32 |
			      (uint64_t)next << 48);

	assert_non_null(p);
	if (((uintptr_t)p & 7) == 0) {
		__atomic_store_n((uint64_t *)p, w0, __ATOMIC_RELAXED);
		__atomic_store_n((uint64_t *)p + 1, w1, __ATOMIC_RELAXED);
	} else {
		memcpy(p, &w0, 8);
		memcpy(p + 8, &w1, 8);
	}
}

#define NEXT  VRING_DESC_F_NEXT
#define WRITE VRING_DESC_F_WRITE
#define INDIR VRING_DESC_F_INDIRECT
#define IND   GPC_VHOST_WALK_F_INDIRECT
#define IT    (G0 + ps)	    /* an indirect table */
#define IT2   (G0 + 2 * ps) /* another one */
#define BUF   (G0 + 4 * ps) /* buffers */

/* Two walk results are the same (field by field: padding is not). */
static bool same_chain(const struct gpc_vhost_chain *a,
		       const struct gpc_vhost_chain *b)
{
	return a->nr_read == b->nr_read && a->nr_write == b->nr_write &&
	       a->read_len == b->read_len && a->write_len == b->write_len &&
	       a->ndesc == b->ndesc && a->err == b->err && a->at == b->at &&
	       a->in_indirect == b->in_indirect;
}

/*
 * The host copy of the table at @table, of @num entries, if it translates
 * as one piece (inside a section); else NULL.
 */
static const void *table_ptr(struct fx *f, uint64_t table, unsigned int num)
{
	uint64_t len = (uint64_t)num * 16;
	void *p;

	if (!num || gpc_translate_gpa(f->vm, table, &len, 0, &p) ||
	    len != (uint64_t)num * 16)
		return NULL;
	return p;
}

/*
 * Walk @head of the table at @table inside a section of the vm's domain,
 * with gpc_vhost_walk(); when the table translates as one piece, also with
 * gpc_vhost_walk_table() on its host copy (the datapath's form), which
 * must find exactly the same (result, reason, position, iovecs).
 */
static int walk_at(struct fx *f, uint64_t table, unsigned int num,
		   unsigned int head, unsigned int flags, unsigned int cap)
{
	struct iovec iov2[sizeof(f->iov) / sizeof(f->iov[0])];
	struct gpc_vhost_chain c2;
	const void *tp;
	int r, r2 = 0;

	memset(f->iov, 0xa5, sizeof(f->iov));
	memset(iov2, 0xa5, sizeof(iov2));
	gpc_srcu_read_lock(f->d);
	r = gpc_vhost_walk(f->vm, table, num, head, flags, f->iov, cap, &f->c);
	tp = table_ptr(f, table, num);
	if (tp)
		r2 = gpc_vhost_walk_table(f->vm, tp, num, head, flags,
					  cap ? iov2 : NULL, cap, &c2);
	gpc_srcu_read_unlock(f->d);
	/* The errno is always the one the reason table gives. */
	assert_int_equal(r, gpc_vhost_walk_errno(f->c.err));
	if (tp) {
		unsigned int n = f->c.nr_read + f->c.nr_write;

		assert_int_equal(r2, r);
		assert_true(same_chain(&c2, &f->c));
		if (n)
			assert_memory_equal(iov2, f->iov, n * sizeof(iov2[0]));
	}
	return r;
}

static int walk(struct fx *f, unsigned int head, unsigned int flags,
		unsigned int cap)
{
	return walk_at(f, G0, NUM, head, flags, cap);
}

/* A walk that must fail with @err / @why at descriptor @at. */
#define FAILS(f, call, want_errno, want_why, want_at, want_indirect)   \
	do {                                                           \
		assert_int_equal((call), (want_errno));                \
		assert_int_equal((f)->c.err, (want_why));              \
		assert_int_equal((f)->c.at, (want_at));                \
		assert_int_equal((f)->c.in_indirect, (want_indirect)); \
	} while (0)

#define T2(fn)                                                                \
	cmocka_unit_test_prestate_setup_teardown(fn, setup, teardown,         \
						 &fx_srcu),                   \
		cmocka_unit_test_prestate_setup_teardown(fn, setup, teardown, \
							 &fx_rwlock)

#pragma GCC diagnostic pop

#endif /* GPC_TESTS_VRING_WALK_FIXTURE_H */
