// SPDX-License-Identifier: MIT
/*
 * tests/vhost/test_vring_walk.c - the split-virtqueue descriptor-chain
 * walker of libgpc-vhost (src/vhost/vring_walk.h).
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
 * Two groups, chosen by the first argument ("unit", "concurrency", or
 * nothing for both); every test runs on a GPC_SCHEME_SRCU and on a
 * GPC_SCHEME_RWLOCK vm (the walker's translations use the vm's SRCU domain
 * on both):
 *  - unit: single, multi, slot-crossing and indirect chains (direct prefix
 *    + indirect, unaligned indirect table, indirect table in a read-only
 *    slot), zero-length buffers, exact iovec capacity, the dirty log of
 *    writable buffers, and every failure with its exact errno and reason;
 *    the reason table itself;
 *  - concurrency: a thread rewrites descriptors (random, valid and not)
 *    while the test thread walks random heads and uses what it gets, and a
 *    third one deletes and re-adds slot 1; every success must satisfy the
 *    invariants (pieces inside the slots' mappings, readable before
 *    writable, counts and lengths consistent), every failure must be one of
 *    the documented reasons with its errno.
 */
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

static void assert_iov(struct fx *f, unsigned int i, uint64_t gpa, size_t len)
{
	assert_ptr_equal(f->iov[i].iov_base, hp(f, gpa));
	assert_int_equal(f->iov[i].iov_len, len);
}

/* ---- unit: good chains ------------------------------------------------- */

static void test_single(void **state)
{
	struct fx *f = *state;

	set_desc(f, G0, 3, BUF + 8, 100, 0, 0);
	assert_int_equal(walk(f, 3, 0, 64), 0);
	assert_int_equal(f->c.nr_read, 1);
	assert_int_equal(f->c.nr_write, 0);
	assert_int_equal(f->c.read_len, 100);
	assert_int_equal(f->c.write_len, 0);
	assert_int_equal(f->c.ndesc, 1);
	assert_int_equal(f->c.err, GPC_VHOST_WALK_OK);
	assert_iov(f, 0, BUF + 8, 100);

	/* Writable alone; in slot 1; num 1 (head 0 is the only entry). */
	set_desc(f, G0, 0, G1 + 16, 7, WRITE, 0);
	assert_int_equal(walk_at(f, G0, 1, 0, 0, 1), 0);
	assert_int_equal(f->c.nr_read, 0);
	assert_int_equal(f->c.nr_write, 1);
	assert_int_equal(f->c.write_len, 7);
	assert_iov(f, 0, G1 + 16, 7);

	/* A readable buffer in the read-only slot is fine. */
	set_desc(f, G0, 1, G2 + 5, 9, 0, 0);
	assert_int_equal(walk(f, 1, 0, 64), 0);
	assert_iov(f, 0, G2 + 5, 9);
}

static void test_multi(void **state)
{
	struct fx *f = *state;

	/* 5 -> 2 -> 9 -> 0 -> 15: three readable, then two writable. */
	set_desc(f, G0, 5, BUF, 16, NEXT, 2);
	set_desc(f, G0, 2, BUF + 100, 200, NEXT, 9);
	set_desc(f, G0, 9, G1, 300, NEXT, 0);
	set_desc(f, G0, 0, BUF + ps, 1, NEXT | WRITE, 15);
	set_desc(f, G0, 15, G1 + ps, 4096, WRITE, 3 /* ignored: no NEXT */);
	assert_int_equal(walk(f, 5, 0, 64), 0);
	assert_int_equal(f->c.nr_read, 3);
	assert_int_equal(f->c.nr_write, 2);
	assert_int_equal(f->c.read_len, 516);
	assert_int_equal(f->c.write_len, 4097);
	assert_int_equal(f->c.ndesc, 5);
	assert_iov(f, 0, BUF, 16);
	assert_iov(f, 1, BUF + 100, 200);
	assert_iov(f, 2, G1, 300);
	assert_iov(f, 3, BUF + ps, 1);
	assert_iov(f, 4, G1 + ps, 4096);

	/* A chain of all 16 entries, the longest the queue allows. */
	for (unsigned int i = 0; i < NUM; i++)
		set_desc(f, G0, i, BUF + i * 10, 10, i < NUM - 1 ? NEXT : 0,
			 (uint16_t)(i + 1));
	assert_int_equal(walk(f, 0, 0, 64), 0);
	assert_int_equal(f->c.nr_read, NUM);
	assert_int_equal(f->c.read_len, NUM * 10);
	assert_int_equal(f->c.ndesc, NUM);
	/* Capacity exactly what is needed: fine; one less: -ENOBUFS. */
	assert_int_equal(walk(f, 0, 0, NUM), 0);
	FAILS(f, walk(f, 0, 0, NUM - 1), -ENOBUFS, GPC_VHOST_WALK_IOV_FULL,
	      NUM - 1, false);
	assert_int_equal(f->c.nr_read, NUM - 1); /* as far as it got */

	/* Zero-length buffers give no iovec but keep the order rules. */
	set_desc(f, G0, 0, BUF, 0, NEXT, 1);
	set_desc(f, G0, 1, BUF, 8, NEXT, 2);
	set_desc(f, G0, 2, 0xdead0000, 0, NEXT | WRITE, 3); /* not in memory */
	set_desc(f, G0, 3, BUF + 8, 8, WRITE, 0);
	assert_int_equal(walk(f, 0, 0, 64), 0);
	assert_int_equal(f->c.nr_read, 1);
	assert_int_equal(f->c.nr_write, 1);
	assert_int_equal(f->c.ndesc, 4);
	assert_iov(f, 0, BUF, 8);
	assert_iov(f, 1, BUF + 8, 8);
}

static void test_cross_slot(void **state)
{
	struct fx *f = *state;

	/* 128 bytes across G1: slots adjacent in gpa, apart in host memory. */
	set_desc(f, G0, 0, G1 - 64, 128, NEXT, 1);
	set_desc(f, G0, 1, G1 - 8, 16, WRITE, 0);
	assert_int_equal(walk(f, 0, 0, 64), 0);
	assert_int_equal(f->c.nr_read, 2);
	assert_int_equal(f->c.nr_write, 2);
	assert_int_equal(f->c.read_len, 128);
	assert_int_equal(f->c.write_len, 16);
	assert_iov(f, 0, G1 - 64, 64);
	assert_iov(f, 1, G1, 64);
	assert_iov(f, 2, G1 - 8, 8);
	assert_iov(f, 3, G1, 8);
	/* Three entries do not hold the four pieces. */
	FAILS(f, walk(f, 0, 0, 3), -ENOBUFS, GPC_VHOST_WALK_IOV_FULL, 1, false);
	FAILS(f, walk(f, 0, 0, 1), -ENOBUFS, GPC_VHOST_WALK_IOV_FULL, 0, false);
	FAILS(f, walk(f, 0, 0, 0), -ENOBUFS, GPC_VHOST_WALK_IOV_FULL, 0, false);
}

static void test_indirect(void **state)
{
	struct fx *f = *state;

	/* The head refers to a table of 4: 2 readable, 2 writable. */
	set_desc(f, IT, 0, BUF, 10, NEXT, 2);
	set_desc(f, IT, 2, BUF + 10, 20, NEXT, 1);
	set_desc(f, IT, 1, G1 - 4, 8, NEXT | WRITE, 3);
	set_desc(f, IT, 3, BUF + 40, 30, WRITE, 0);
	/* WRITE on the referring descriptor is ignored (virtio 1.x). */
	set_desc(f, G0, 7, IT, 4 * 16, INDIR | WRITE, 0);
	assert_int_equal(walk(f, 7, IND, 64), 0);
	assert_int_equal(f->c.nr_read, 2);
	assert_int_equal(f->c.nr_write, 3);
	assert_int_equal(f->c.read_len, 30);
	assert_int_equal(f->c.write_len, 38);
	assert_int_equal(f->c.ndesc, 5);
	assert_iov(f, 0, BUF, 10);
	assert_iov(f, 1, BUF + 10, 20);
	assert_iov(f, 2, G1 - 4, 4);
	assert_iov(f, 3, G1, 4);
	assert_iov(f, 4, BUF + 40, 30);

	/* Direct descriptors first, then the indirect one. */
	set_desc(f, G0, 4, BUF + 500, 5, NEXT, 6);
	set_desc(f, G0, 6, IT, 4 * 16, INDIR, 0);
	assert_int_equal(walk(f, 4, IND, 64), 0);
	assert_int_equal(f->c.nr_read, 3);
	assert_int_equal(f->c.read_len, 35);
	assert_int_equal(f->c.ndesc, 6);
	assert_iov(f, 0, BUF + 500, 5);
	/* ... but a writable direct one before a readable indirect entry. */
	set_desc(f, G0, 4, BUF + 500, 5, NEXT | WRITE, 6);
	FAILS(f, walk(f, 4, IND, 64), -EILSEQ, GPC_VHOST_WALK_ORDER, 0, true);

	/* A table larger than the chain; the walk starts at entry 0. */
	set_desc(f, G0, 8, IT, 64 * 16, INDIR, 0);
	assert_int_equal(walk(f, 8, IND, 64), 0);
	assert_int_equal(f->c.nr_read + f->c.nr_write, 5);

	/* An unaligned table (4 bytes past an 8-byte boundary). */
	set_desc(f, IT2 + 4, 0, BUF + 1, 3, NEXT, 1);
	set_desc(f, IT2 + 4, 1, BUF + 9, 5, WRITE, 0);
	set_desc(f, G0, 9, IT2 + 4, 2 * 16, INDIR, 0);
	assert_int_equal(walk(f, 9, IND, 64), 0);
	assert_int_equal(f->c.nr_read, 1);
	assert_int_equal(f->c.nr_write, 1);
	assert_iov(f, 0, BUF + 1, 3);
	assert_iov(f, 1, BUF + 9, 5);

	/* A table in the read-only slot: reading it is fine. */
	set_desc(f, G2 + 64, 0, BUF, 12, WRITE, 0);
	set_desc(f, G0, 10, G2 + 64, 16, INDIR, 0);
	assert_int_equal(walk(f, 10, IND, 64), 0);
	assert_int_equal(f->c.nr_write, 1);
	assert_iov(f, 0, BUF, 12);

	/*
	 * The largest table allowed passes the length checks (it is 512 KiB,
	 * more than slot 1 has after G1 + ps: so it fails the translation).
	 */
	set_desc(f, G0, 11, G1 + ps, GPC_VHOST_INDIRECT_MAX * 16, INDIR, 0);
	FAILS(f, walk(f, 11, IND, 64), -EFAULT, GPC_VHOST_WALK_INDIRECT_OUTSIDE,
	      11, false);
}

/* A descriptor table in slot 1 and a queue of 256; the caller's gpa. */
static void test_table_placement(void **state)
{
	struct fx *f = *state;

	set_desc(f, G1 + ps, 255, BUF, 1, 0, 0);
	assert_int_equal(walk_at(f, G1 + ps, 256, 255, 0, 4), 0);
	assert_iov(f, 0, BUF, 1);
	/* Ending exactly at the slot's end. */
	set_desc(f, G1 + (SLOT_PAGES - 1) * ps, 0, BUF, 2, 0, 0);
	assert_int_equal(walk_at(f, G1 + (SLOT_PAGES - 1) * ps, 256, 0, 0, 4),
			 0);
	assert_iov(f, 0, BUF, 2);
}

/* Writable buffers are marked dirty, readable ones not. */
static void test_dirty(void **state)
{
	struct fx *f = *state;
	uint64_t bm[GPC_DIRTY_LOG_WORDS(SLOT_PAGES * 65536)] = { 0 };
	uint64_t p5 = 5 * ps / GPC_DIRTY_PAGE_SIZE;
	uint64_t p6 = 6 * ps / GPC_DIRTY_PAGE_SIZE;
	uint64_t p7 = 7 * ps / GPC_DIRTY_PAGE_SIZE;
	size_t words = GPC_DIRTY_LOG_WORDS(SLOT_PAGES * ps);

	assert_true(gpc_dirty_log_get_and_clear(f->vm, 0, bm, words) >= 0);
	set_desc(f, G0, 0, G0 + 6 * ps, 64, NEXT, 1); /* read */
	set_desc(f, G0, 1, G0 + 5 * ps + 8, 16, WRITE | NEXT, 2);
	set_desc(f, G0, 2, G0 + 7 * ps, 1, WRITE, 0);
	gpc_srcu_read_lock(f->d);
	assert_int_equal(
		gpc_vhost_walk(f->vm, G0, NUM, 0, 0, f->iov, 64, &f->c), 0);
	/* The device writes inside the section the walk was made in. */
	memset(f->iov[1].iov_base, 1, f->iov[1].iov_len);
	memset(f->iov[2].iov_base, 2, f->iov[2].iov_len);
	gpc_srcu_read_unlock(f->d);
	memset(bm, 0, sizeof(bm));
	assert_int_equal(gpc_dirty_log_get_and_clear(f->vm, 0, bm, words), 2);
	assert_true(bm[p5 / 64] >> (p5 % 64) & 1);
	assert_true(bm[p7 / 64] >> (p7 % 64) & 1);
	assert_false(bm[p6 / 64] >> (p6 % 64) & 1);
	assert_int_equal(f->m0[5 * ps + 8], 1);
	assert_int_equal(f->m0[7 * ps], 2);
}

/* ---- unit: every failure ----------------------------------------------- */

static void test_bad_args(void **state)
{
	struct fx *f = *state;

	set_desc(f, G0, 0, BUF, 1, 0, 0);
	assert_int_equal(gpc_vhost_walk(f->vm, G0, NUM, 0, 0, f->iov, 4, NULL),
			 -EINVAL);
	gpc_srcu_read_lock(f->d);
	assert_int_equal(gpc_vhost_walk(NULL, G0, NUM, 0, 0, f->iov, 4, &f->c),
			 -EINVAL);
	assert_int_equal(f->c.err, GPC_VHOST_WALK_BAD_ARGS);
	gpc_srcu_read_unlock(f->d);
	FAILS(f, walk_at(f, G0, 0, 0, 0, 4), -EINVAL, GPC_VHOST_WALK_BAD_ARGS,
	      0, false);
	FAILS(f, walk_at(f, G0, 12, 0, 0, 4), -EINVAL, GPC_VHOST_WALK_BAD_ARGS,
	      0, false);
	FAILS(f, walk_at(f, G0, 65536, 0, 0, 4), -EINVAL,
	      GPC_VHOST_WALK_BAD_ARGS, 0, false);
	FAILS(f, walk(f, 0, 1u << 5, 4), -EINVAL, GPC_VHOST_WALK_BAD_ARGS, 0,
	      false);
	gpc_srcu_read_lock(f->d);
	assert_int_equal(gpc_vhost_walk(f->vm, G0, NUM, 0, 0, NULL, 4, &f->c),
			 -EINVAL);
	/* NULL with no capacity is fine until an iovec is needed. */
	assert_int_equal(gpc_vhost_walk(f->vm, G0, NUM, 0, 0, NULL, 0, &f->c),
			 -ENOBUFS);
	gpc_srcu_read_unlock(f->d);
	/* 32768, the largest queue, is a valid size (its table is 512 KiB). */
	FAILS(f, walk_at(f, G0, 32768, 0, 0, 4), -EFAULT,
	      GPC_VHOST_WALK_TABLE_SPLIT, 0, false);
	/* The table form: a NULL table or result; its other checks. */
	gpc_srcu_read_lock(f->d);
	{
		const void *tp = table_ptr(f, G0, NUM);

		assert_non_null(tp);
		FAILS(f,
		      gpc_vhost_walk_table(f->vm, NULL, NUM, 0, 0, f->iov, 4,
					   &f->c),
		      -EINVAL, GPC_VHOST_WALK_BAD_ARGS, 0, false);
		assert_int_equal(gpc_vhost_walk_table(f->vm, tp, NUM, 0, 0,
						      f->iov, 4, NULL),
				 -EINVAL);
		FAILS(f,
		      gpc_vhost_walk_table(NULL, tp, NUM, 0, 0, f->iov, 4,
					   &f->c),
		      -EINVAL, GPC_VHOST_WALK_BAD_ARGS, 0, false);
		FAILS(f,
		      gpc_vhost_walk_table(f->vm, tp, 12, 0, 0, f->iov, 4,
					   &f->c),
		      -EINVAL, GPC_VHOST_WALK_BAD_ARGS, 0, false);
		FAILS(f,
		      gpc_vhost_walk_table(f->vm, tp, NUM, NUM, 0, f->iov, 4,
					   &f->c),
		      -ERANGE, GPC_VHOST_WALK_HEAD_RANGE, NUM, false);
		assert_int_equal(gpc_vhost_walk_table(f->vm, tp, NUM, 0, 0,
						      f->iov, 4, &f->c),
				 0);
		gpc_srcu_read_unlock(f->d);
		/* Outside the section: the buffers cannot be translated. */
		FAILS(f,
		      gpc_vhost_walk_table(f->vm, tp, NUM, 0, 0, f->iov, 4,
					   &f->c),
		      -EPERM, GPC_VHOST_WALK_NO_SECTION, 0, false);
	}
}

static void test_no_section(void **state)
{
	struct fx *f = *state;

	set_desc(f, G0, 0, BUF, 1, 0, 0);
	assert_int_equal(gpc_vhost_walk(f->vm, G0, NUM, 0, 0, f->iov, 4, &f->c),
			 -EPERM);
	assert_int_equal(f->c.err, GPC_VHOST_WALK_NO_SECTION);
	/* A section of another domain is not the vm's. */
	{
		struct gpc_srcu other;

		assert_int_equal(gpc_srcu_init(&other, NULL), 0);
		gpc_srcu_read_lock(&other);
		assert_int_equal(gpc_vhost_walk(f->vm, G0, NUM, 0, 0, f->iov, 4,
						&f->c),
				 -EPERM);
		gpc_srcu_read_unlock(&other);
		assert_int_equal(gpc_srcu_destroy(&other), 0);
	}
}

static void test_head_range(void **state)
{
	struct fx *f = *state;

	FAILS(f, walk(f, NUM, 0, 4), -ERANGE, GPC_VHOST_WALK_HEAD_RANGE, NUM,
	      false);
	FAILS(f, walk(f, 65535, 0, 4), -ERANGE, GPC_VHOST_WALK_HEAD_RANGE,
	      65535, false);
}

static void test_table(void **state)
{
	struct fx *f = *state;

	/* In the hole; wrapping 2^64; half in slot 1, half in the hole. */
	FAILS(f, walk_at(f, GHOLE, NUM, 0, 0, 4), -EFAULT,
	      GPC_VHOST_WALK_TABLE_OUTSIDE, 0, false);
	FAILS(f, walk_at(f, UINT64_MAX - 15, NUM, 0, 0, 4), -EFAULT,
	      GPC_VHOST_WALK_TABLE_OUTSIDE, 0, false);
	FAILS(f, walk_at(f, GHOLE - 128, NUM, 0, 0, 4), -EFAULT,
	      GPC_VHOST_WALK_TABLE_OUTSIDE, 0, false);
	/* Across G1: in memory, but in two host pieces. */
	FAILS(f, walk_at(f, G1 - 128, NUM, 0, 0, 4), -EFAULT,
	      GPC_VHOST_WALK_TABLE_SPLIT, 0, false);
	/* The same table fits when it stops at G1. */
	set_desc(f, G1 - 128, 0, BUF, 1, 0, 0);
	assert_int_equal(walk_at(f, G1 - 128, 8, 0, 0, 4), 0);
}

static void test_loop(void **state)
{
	struct fx *f = *state;

	/* Self loop, a two-cycle, and a cycle entered after a prefix. */
	set_desc(f, G0, 0, BUF, 1, NEXT, 0);
	FAILS(f, walk(f, 0, 0, 64), -ELOOP, GPC_VHOST_WALK_LOOP, 0, false);
	assert_int_equal(f->c.ndesc, NUM);
	set_desc(f, G0, 1, BUF, 1, NEXT, 2);
	set_desc(f, G0, 2, BUF, 1, NEXT, 1);
	FAILS(f, walk(f, 1, 0, 64), -ELOOP, GPC_VHOST_WALK_LOOP, 1, false);
	set_desc(f, G0, 3, BUF, 1, NEXT, 4);
	set_desc(f, G0, 4, BUF, 1, NEXT, 5);
	set_desc(f, G0, 5, BUF, 1, NEXT, 4);
	FAILS(f, walk(f, 3, 0, 64), -ELOOP, GPC_VHOST_WALK_LOOP, 5, false);
	/* Zero-length descriptors loop as well (no iovec to run out of). */
	set_desc(f, G0, 6, BUF, 0, NEXT, 6);
	FAILS(f, walk(f, 6, 0, 1), -ELOOP, GPC_VHOST_WALK_LOOP, 6, false);

	/* Indirect: a loop inside a table of 3. */
	set_desc(f, IT, 0, BUF, 0, NEXT, 1);
	set_desc(f, IT, 1, BUF, 0, NEXT, 2);
	set_desc(f, IT, 2, BUF, 0, NEXT, 0);
	set_desc(f, G0, 7, IT, 3 * 16, INDIR, 0);
	FAILS(f, walk(f, 7, IND, 64), -ELOOP, GPC_VHOST_WALK_INDIRECT_LOOP, 0,
	      true);
	assert_int_equal(f->c.ndesc, 1 + 3);
}

static void test_indirect_bad(void **state)
{
	struct fx *f = *state;

	set_desc(f, IT, 0, BUF, 4, 0, 0);
	/* Not negotiated. */
	set_desc(f, G0, 0, IT, 16, INDIR, 0);
	FAILS(f, walk(f, 0, 0, 64), -EPROTO, GPC_VHOST_WALK_INDIRECT_OFF, 0,
	      false);
	assert_int_equal(walk(f, 0, IND, 64), 0);
	/* Nested. */
	set_desc(f, G0, 0, IT, 32, INDIR, 0);
	set_desc(f, IT, 0, BUF, 4, NEXT, 1);
	set_desc(f, IT, 1, IT2, 16, INDIR, 0);
	FAILS(f, walk(f, 0, IND, 64), -EPROTO, GPC_VHOST_WALK_INDIRECT_NESTED,
	      1, true);
	/* Nested, even without the feature: that one is said first. */
	FAILS(f, walk(f, 0, 0, 64), -EPROTO, GPC_VHOST_WALK_INDIRECT_OFF, 0,
	      false);
	/* INDIRECT with NEXT. */
	set_desc(f, IT, 0, BUF, 4, 0, 0);
	set_desc(f, G0, 1, IT, 16, INDIR | NEXT, 2);
	FAILS(f, walk(f, 1, IND, 64), -EPROTO, GPC_VHOST_WALK_INDIRECT_NEXT, 1,
	      false);
	/* Lengths: 0, not a multiple of 16, above the bound. */
	set_desc(f, G0, 2, IT, 0, INDIR, 0);
	FAILS(f, walk(f, 2, IND, 64), -EMSGSIZE, GPC_VHOST_WALK_INDIRECT_EMPTY,
	      2, false);
	set_desc(f, G0, 2, IT, 24, INDIR, 0);
	FAILS(f, walk(f, 2, IND, 64), -EMSGSIZE, GPC_VHOST_WALK_INDIRECT_ALIGN,
	      2, false);
	set_desc(f, G0, 2, IT, 15, INDIR, 0);
	FAILS(f, walk(f, 2, IND, 64), -EMSGSIZE, GPC_VHOST_WALK_INDIRECT_ALIGN,
	      2, false);
	set_desc(f, G0, 2, IT, (GPC_VHOST_INDIRECT_MAX + 1) * 16, INDIR, 0);
	FAILS(f, walk(f, 2, IND, 64), -EMSGSIZE, GPC_VHOST_WALK_INDIRECT_BIG, 2,
	      false);
	set_desc(f, G0, 2, IT, 0xfffffff0u, INDIR, 0);
	FAILS(f, walk(f, 2, IND, 64), -EMSGSIZE, GPC_VHOST_WALK_INDIRECT_BIG, 2,
	      false);
	/* Address + length past 2^64; in the hole; across G1. */
	set_desc(f, G0, 3, UINT64_MAX - 15, 32, INDIR, 0);
	FAILS(f, walk(f, 3, IND, 64), -EOVERFLOW, GPC_VHOST_WALK_INDIRECT_WRAP,
	      3, false);
	set_desc(f, G0, 3, GHOLE + 64, 32, INDIR, 0);
	FAILS(f, walk(f, 3, IND, 64), -EFAULT, GPC_VHOST_WALK_INDIRECT_OUTSIDE,
	      3, false);
	set_desc(f, G0, 3, GHOLE - 16, 32, INDIR, 0);
	FAILS(f, walk(f, 3, IND, 64), -EFAULT, GPC_VHOST_WALK_INDIRECT_OUTSIDE,
	      3, false);
	set_desc(f, G0, 3, G1 - 16, 32, INDIR, 0);
	FAILS(f, walk(f, 3, IND, 64), -EFAULT, GPC_VHOST_WALK_INDIRECT_SPLIT, 3,
	      false);
	/* Next out of the indirect table's range (2 entries). */
	set_desc(f, IT, 0, BUF, 4, NEXT, 2);
	set_desc(f, G0, 4, IT, 32, INDIR, 0);
	FAILS(f, walk(f, 4, IND, 64), -ERANGE, GPC_VHOST_WALK_NEXT_RANGE, 0,
	      true);
}

static void test_buffer_bad(void **state)
{
	struct fx *f = *state;

	/* Address + length past 2^64 (and exactly to 2^64: not in memory). */
	set_desc(f, G0, 0, UINT64_MAX, 2, 0, 0);
	FAILS(f, walk(f, 0, 0, 64), -EOVERFLOW, GPC_VHOST_WALK_BUF_WRAP, 0,
	      false);
	set_desc(f, G0, 0, UINT64_MAX, 1, 0, 0);
	FAILS(f, walk(f, 0, 0, 64), -ENOENT, GPC_VHOST_WALK_BUF_OUTSIDE, 0,
	      false);
	/* In the hole; starting in slot 1 and running into the hole. */
	set_desc(f, G0, 1, BUF, 8, NEXT, 2);
	set_desc(f, G0, 2, GHOLE + 100, 8, 0, 0);
	FAILS(f, walk(f, 1, 0, 64), -ENOENT, GPC_VHOST_WALK_BUF_OUTSIDE, 2,
	      false);
	assert_int_equal(f->c.nr_read, 1);
	set_desc(f, G0, 2, GHOLE - 4, 8, 0, 0);
	FAILS(f, walk(f, 1, 0, 64), -ENOENT, GPC_VHOST_WALK_BUF_OUTSIDE, 2,
	      false);
	/* Below every slot. */
	set_desc(f, G0, 2, 0, 8, 0, 0);
	FAILS(f, walk(f, 1, 0, 64), -ENOENT, GPC_VHOST_WALK_BUF_OUTSIDE, 2,
	      false);
	/* Writable in the read-only slot (readable there is fine). */
	set_desc(f, G0, 3, G2 + 8, 8, NEXT, 4);
	set_desc(f, G0, 4, G2 + 16, 8, WRITE, 0);
	FAILS(f, walk(f, 3, 0, 64), -EROFS, GPC_VHOST_WALK_BUF_READONLY, 4,
	      false);
	/* The same chain with its writable buffer in slot 1 is fine. */
	set_desc(f, G0, 4, G1 + 8, 8, WRITE, 0);
	assert_int_equal(walk(f, 3, 0, 64), 0);
}

static void test_order(void **state)
{
	struct fx *f = *state;

	set_desc(f, G0, 0, BUF, 8, NEXT, 1);
	set_desc(f, G0, 1, BUF + 8, 8, NEXT | WRITE, 2);
	set_desc(f, G0, 2, BUF + 16, 8, 0, 0);
	FAILS(f, walk(f, 0, 0, 64), -EILSEQ, GPC_VHOST_WALK_ORDER, 2, false);
	/* A zero-length writable one counts too. */
	set_desc(f, G0, 1, BUF + 8, 0, NEXT | WRITE, 2);
	FAILS(f, walk(f, 0, 0, 64), -EILSEQ, GPC_VHOST_WALK_ORDER, 2, false);
	/* Inside an indirect table. */
	set_desc(f, IT, 0, BUF, 8, WRITE | NEXT, 1);
	set_desc(f, IT, 1, BUF, 8, 0, 0);
	set_desc(f, G0, 3, IT, 32, INDIR, 0);
	FAILS(f, walk(f, 3, IND, 64), -EILSEQ, GPC_VHOST_WALK_ORDER, 1, true);
}

static void test_next_range(void **state)
{
	struct fx *f = *state;

	set_desc(f, G0, 0, BUF, 8, NEXT, NUM);
	FAILS(f, walk(f, 0, 0, 64), -ERANGE, GPC_VHOST_WALK_NEXT_RANGE, 0,
	      false);
	set_desc(f, G0, 0, BUF, 8, NEXT, 0xffff);
	FAILS(f, walk(f, 0, 0, 64), -ERANGE, GPC_VHOST_WALK_NEXT_RANGE, 0,
	      false);
	/* Without NEXT the next field is not looked at. */
	set_desc(f, G0, 0, BUF, 8, 0, 0xffff);
	assert_int_equal(walk(f, 0, 0, 64), 0);
}

/*
 * More than UINT32_MAX bytes need that much guest memory: a slot of 4 GiB
 * over a PROT_NONE reservation (the walker only translates, it never
 * touches a buffer).
 */
static void test_too_long(void **state)
{
	struct fx *f = *state;
	const uint64_t big = 1ull << 32, gbig = 1ull << 40;
	void *r = mmap(NULL, big, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	struct gpc_memslot_desc d = {
		.id = 3, .gpa = gbig, .size = big, .hva = (uint64_t)(uintptr_t)r
	};

	if (r == MAP_FAILED)
		skip();
	assert_int_equal(gpc_memslot_add(f->vm, &d), 0);
	set_desc(f, G0, 0, gbig, 0xfffffffeu, NEXT, 1);
	set_desc(f, G0, 1, gbig, 1, NEXT | WRITE, 2);
	set_desc(f, G0, 2, gbig, 0, WRITE, 0);
	assert_int_equal(walk(f, 0, 0, 64), 0);
	assert_int_equal(f->c.read_len, 0xfffffffeu);
	assert_int_equal(f->c.write_len, 1);
	set_desc(f, G0, 2, gbig, 1, WRITE, 0);
	FAILS(f, walk(f, 0, 0, 64), -E2BIG, GPC_VHOST_WALK_TOO_LONG, 2, false);
	set_desc(f, G0, 3, gbig, 0xffffffffu, NEXT, 4);
	set_desc(f, G0, 4, gbig, 0xffffffffu, 0, 0);
	FAILS(f, walk(f, 3, 0, 64), -E2BIG, GPC_VHOST_WALK_TOO_LONG, 4, false);
	assert_int_equal(gpc_memslot_delete(f->vm, 3), 0);
	munmap(r, big);
}

static void test_reasons(void **state)
{
	struct fx *f = *state;
	char line[160];

	for (int i = 0; i < GPC_VHOST_WALK_NR_ERR; i++) {
		const char *t = gpc_vhost_walk_strerror(i);

		assert_non_null(t);
		assert_string_not_equal(t, "unknown walk error");
		assert_true(gpc_vhost_walk_errno(i) < 0 || i == 0);
		for (int j = 0; j < i; j++)
			assert_string_not_equal(t, gpc_vhost_walk_strerror(j));
	}
	assert_string_equal(gpc_vhost_walk_strerror(GPC_VHOST_WALK_NR_ERR),
			    "unknown walk error");
	assert_int_equal(gpc_vhost_walk_errno(GPC_VHOST_WALK_NR_ERR), -EINVAL);

	set_desc(f, IT, 0, BUF, 8, WRITE | NEXT, 1);
	set_desc(f, IT, 1, BUF, 8, 0, 0);
	set_desc(f, G0, 3, IT, 32, INDIR, 0);
	assert_int_equal(walk(f, 3, IND, 64), -EILSEQ);
	gpc_vhost_walk_describe(&f->c, 3, line, sizeof(line));
	assert_string_equal(line, "head 3: descriptor 1 of indirect table: "
				  "readable descriptor after a writable one "
				  "(-EILSEQ)");
	set_desc(f, G0, 3, BUF, 8, 0, 0);
	assert_int_equal(walk(f, 3, IND, 64), 0);
	gpc_vhost_walk_describe(&f->c, 3, line, sizeof(line));
	assert_string_equal(line, "head 3: no error");
}

/* ---- concurrency: the guest rewrites the tables under the walker ----- */

struct race {
	struct fx *f;
	atomic_int stop;
	atomic_long rewrites, toggles;
};

/* A random descriptor: mostly plausible, sometimes anything. */
static void random_desc(struct fx *f, uint64_t *rng, uint64_t table,
			unsigned int i, unsigned int n)
{
	uint64_t r = test_rand(rng), addr;
	uint32_t len = (uint32_t)(r >> 8) % (2 * ps);
	uint16_t flags = (uint16_t)(r & 7), next = (uint16_t)((r >> 40) % n);

	switch ((r >> 3) & 7) {
	case 0: /* anything at all */
		addr = test_rand(rng);
		len = (uint32_t)test_rand(rng);
		next = (uint16_t)test_rand(rng);
		break;
	case 1: /* an indirect table */
		addr = test_rand(rng) & 1 ? IT : IT2;
		len = (uint32_t)((r >> 20) % 8) * 16;
		flags = INDIR | (r >> 30 & 1 ? NEXT : 0);
		break;
	case 2: /* across G1 */
		addr = G1 - (r >> 24) % 256;
		break;
	case 3: /* the read-only slot, or the hole */
		addr = (r >> 20 & 1 ? G2 : GHOLE - ps) + (r >> 24) % ps;
		break;
	default: /* buffers in slots 0 and 1 (never the table pages) */
		addr = (r >> 20 & 1 ? BUF : G1 + ps) +
		       (r >> 24) % ((SLOT_PAGES - 6) * ps);
		break;
	}
	set_desc(f, table, i, addr, len, flags, next);
}

static void *rewriter(void *arg)
{
	struct race *rc = arg;
	uint64_t rng = 0x9e3779b97f4a7c15ull;

	while (!atomic_load(&rc->stop)) {
		uint64_t which = test_rand(&rng) % 3;
		uint64_t table = which == 0 ? G0 : which == 1 ? IT : IT2;
		unsigned int n = which == 0 ? NUM : 8;

		random_desc(rc->f, &rng, table,
			    (unsigned int)(test_rand(&rng) % n), n);
		atomic_fetch_add(&rc->rewrites, 1);
	}
	return NULL;
}

/* Slot 1 goes and comes back (the mapping stays: only the slot changes). */
static void *toggler(void *arg)
{
	struct race *rc = arg;

	while (!atomic_load(&rc->stop)) {
		if (gpc_memslot_delete(rc->f->vm, 1) ||
		    add_slot(rc->f, 1, G1, rc->f->m1, 0))
			break;
		atomic_fetch_add(&rc->toggles, 1);
		test_sleep_ms(1);
	}
	return NULL;
}

/* Is [p, p + n) inside one of the slots' mappings, and writable if @w? */
static bool inside(struct fx *f, const struct iovec *v, bool w)
{
	uintptr_t p = (uintptr_t)v->iov_base, e = p + v->iov_len;
	uint8_t *maps[3] = { f->m0, f->m1, f->m2 };

	for (int i = 0; i < (w ? 2 : 3); i++) {
		uintptr_t b = (uintptr_t)maps[i], end = b + SLOT_PAGES * ps;

		if (p >= b && e <= end && e > p)
			return true;
	}
	return false;
}

static void test_race(void **state)
{
	struct fx *f = *state;
	struct race rc = { .f = f };
	pthread_t th[2];
	long iters = 0, ok = 0, bad = 0, fails = 0;
	/* 1 s (scaled; less under TSan), and both helpers seen at work. */
	uint64_t end = test_now_ns() + (uint64_t)test_iters(1000) * 1000000;
	uint64_t rng = 12345;
	long per_reason[GPC_VHOST_WALK_NR_ERR] = { 0 };
	const char *why = "";

	test_watchdog_arm(60, "vring walk race");
	assert_int_equal(pthread_create(&th[0], NULL, rewriter, &rc), 0);
	assert_int_equal(pthread_create(&th[1], NULL, toggler, &rc), 0);
	while (test_now_ns() < end || atomic_load(&rc.toggles) < 2 ||
	       atomic_load(&rc.rewrites) < 1000) {
		struct gpc_vhost_chain c;
		struct iovec iov[8];
		unsigned int head = (unsigned int)(test_rand(&rng) % NUM);
		unsigned int cap = 1 + (unsigned int)(test_rand(&rng) % 8);
		uint64_t rl = 0, wl = 0;
		int r;

		const void *tp;

		gpc_srcu_read_lock(f->d);
		/* Half the walks in the datapath's form, when the table maps. */
		tp = head & 1 ? table_ptr(f, G0, NUM) : NULL;
		if (tp)
			r = gpc_vhost_walk_table(f->vm, tp, NUM, head, IND, iov,
						 cap, &c);
		else
			r = gpc_vhost_walk(f->vm, G0, NUM, head, IND, iov, cap,
					   &c);
		if (r == 0) {
			ok++;
			if (c.nr_read + c.nr_write > cap) {
				fails++;
				why = "more iovecs than the capacity";
			}
			for (unsigned int i = 0;
			     i < c.nr_read + c.nr_write && i < cap; i++) {
				bool w = i >= c.nr_read;

				if (!inside(f, &iov[i], w)) {
					fails++;
					why = "iovec outside the mappings";
					continue;
				}
				/* Use it as a device would. */
				if (w) {
					/*
					 * A buffer may lie on the descriptor
					 * table the rewriter stores to: guest
					 * memory is shared, so access it with
					 * relaxed atomics as the walker does.
					 */
					uint8_t *b = iov[i].iov_base;

					for (size_t k = 0; k < iov[i].iov_len;
					     k++)
						__atomic_store_n(
							&b[k], 0x5a,
							__ATOMIC_RELAXED);
					wl += iov[i].iov_len;
				} else {
					uint8_t *b = iov[i].iov_base;

					(void)__atomic_load_n(&b[0],
							      __ATOMIC_RELAXED);
					(void)__atomic_load_n(
						&b[iov[i].iov_len - 1],
						__ATOMIC_RELAXED);
					rl += iov[i].iov_len;
				}
			}
			if (rl != c.read_len || wl != c.write_len) {
				fails++;
				why = "lengths do not add up";
			}
		} else {
			bad++;
			if ((unsigned int)c.err >= GPC_VHOST_WALK_NR_ERR ||
			    c.err == GPC_VHOST_WALK_OK ||
			    r != gpc_vhost_walk_errno(c.err) ||
			    c.err == GPC_VHOST_WALK_BAD_ARGS ||
			    c.err == GPC_VHOST_WALK_NO_SECTION) {
				fails++;
				why = "an error that is not a guest's";
			} else {
				per_reason[c.err]++;
			}
		}
		gpc_srcu_read_unlock(f->d);
		iters++;
	}
	atomic_store(&rc.stop, 1);
	assert_int_equal(pthread_join(th[0], NULL), 0);
	assert_int_equal(pthread_join(th[1], NULL), 0);
	test_watchdog_disarm();
	print_message("%ld walks: %ld ok, %ld refused; %ld rewrites, %ld slot "
		      "toggles\n",
		      iters, ok, bad, atomic_load(&rc.rewrites),
		      atomic_load(&rc.toggles));
	if (fails)
		print_error("%ld failures; last: %s\n", fails, why);
	assert_int_equal(fails, 0);
	assert_true(ok > 0);
	assert_true(bad > 0);
	assert_true(per_reason[GPC_VHOST_WALK_ORDER] +
			    per_reason[GPC_VHOST_WALK_BUF_OUTSIDE] +
			    per_reason[GPC_VHOST_WALK_IOV_FULL] >
		    0);
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
		T2(test_single),
		T2(test_multi),
		T2(test_cross_slot),
		T2(test_indirect),
		T2(test_table_placement),
		T2(test_dirty),
		T2(test_bad_args),
		T2(test_no_section),
		T2(test_head_range),
		T2(test_table),
		T2(test_loop),
		T2(test_indirect_bad),
		T2(test_buffer_bad),
		T2(test_order),
		T2(test_next_range),
		T2(test_too_long),
		T2(test_reasons),
	};
	const struct CMUnitTest concurrency[] = {
		T2(test_race),
	};
	const char *group = argc > 1 ? argv[1] : "";
	int ret = 0;

	ps = (uint64_t)sysconf(_SC_PAGESIZE);
	if (strcmp(group, "concurrency"))
		ret |= cmocka_run_group_tests_name("vring_walk", unit, NULL,
						   NULL);
	if (strcmp(group, "unit"))
		ret |= cmocka_run_group_tests_name("vring_walk concurrency",
						   concurrency, NULL, NULL);
	return ret;
}
