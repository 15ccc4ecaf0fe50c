// SPDX-License-Identifier: MIT
/*
 * tests/vhost/test_vhost_iotlb.c - the device IOTLB (src/vhost/iotlb.h) on
 * both read-side schemes.
 *
 * The memory vm has three regions over one anonymous mapping M, as a
 * back-end maps what SET_MEM_TABLE gives (user addresses U0, U1 adjacent,
 * so a range across them lies in two regions):
 *
 *   slot 0  uaddr U0 .. +32 pages  hva M
 *   slot 1  uaddr U1 = U0 + 32p .. +16 pages  hva M + 32p
 *   slot 2  uaddr U2 .. +8 pages   hva M + 48p  read-only
 *
 * The IOTLB vm is on the memory vm's domain: translations by IOVA must give
 * pointers into M, and a descriptor chain in IOVA space walks with the
 * unchanged walker. Then: overlap and split rules, every errno, the table
 * full, region drops, a reader in its section holding up an invalidation,
 * misses over a real socket pair, and the invalidation rate ("figure").
 * With alias ops (CHECK_STALE's, here plain mremap/mprotect/munmap): slots
 * point at aliases of M's pages, and each entry that goes is handed to
 * retire once, after gpc_vhost_iotlb_retire(), never before.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <gpc/gpc.h>

#include "iotlb.h"
#include "msg.h"
#include "vring_walk.h"

#define PG 4096ull
#define U0 0x40000000ull
#define U1 (U0 + 32 * PG)
#define U2 0x60000000ull
#define IO 0x10000000ull /* an IOVA base */

struct fx {
	enum gpc_scheme scheme;
	struct gpc_vm *mem;
	struct gpc_srcu *d;
	uint8_t *m;
	struct gpc_vhost_iotlb *t;
	struct gpc_vm *io;
};

static struct fx fx_srcu = { .scheme = GPC_SCHEME_SRCU };
static struct fx fx_rwlock = { .scheme = GPC_SCHEME_RWLOCK };

static void add_region(struct fx *f, uint32_t id, uint64_t gpa, uint64_t pages,
		       uint64_t off, uint64_t uaddr, uint32_t flags)
{
	struct gpc_memslot_desc d = {
		.id = id,
		.flags = flags,
		.gpa = gpa,
		.size = pages * PG,
		.hva = (uint64_t)(uintptr_t)(f->m + off),
		.uaddr = uaddr,
	};

	assert_int_equal(gpc_memslot_add(f->mem, &d), 0);
}

static int setup_max(struct fx *f, unsigned int max)
{
	struct gpc_vm_config cfg = { .scheme = f->scheme, .name = "mem" };

	assert_int_equal(gpc_vm_create(&cfg, &f->mem), 0);
	f->d = gpc_vm_srcu(f->mem);
	f->m = mmap(NULL, 64 * PG, PROT_READ | PROT_WRITE,
		    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(f->m != MAP_FAILED);
	add_region(f, 0, 0, 32, 0, U0, 0);
	add_region(f, 1, 0x1000000, 16, 32 * PG, U1, 0);
	add_region(f, 2, 0x2000000, 8, 48 * PG, U2, GPC_MEMSLOT_READONLY);
	assert_int_equal(gpc_vhost_iotlb_create(f->d, f->scheme, max, NULL,
						NULL, &f->t),
			 0);
	f->io = gpc_vhost_iotlb_vm(f->t);
	return 0;
}

static int setup(void **state)
{
	return setup_max(*state, 0);
}

static int teardown(void **state)
{
	struct fx *f = *state;

	assert_int_equal(gpc_vhost_iotlb_destroy(f->t), 0);
	assert_int_equal(gpc_vm_destroy(f->mem), 0);
	munmap(f->m, 64 * PG);
	return 0;
}

/* Translate @iova through the IOTLB in a section: the pointer or NULL. */
static uint8_t *tr(struct fx *f, uint64_t iova, unsigned int flags, int *err)
{
	uint64_t len = 1;
	void *p = NULL;
	int e;

	gpc_srcu_read_lock(f->d);
	e = gpc_translate_gpa(f->io, iova, &len, flags, &p);
	gpc_srcu_read_unlock(f->d);
	if (err)
		*err = e;
	return e ? NULL : p;
}

static void test_update_translate(void **state)
{
	struct fx *f = *state;
	struct gpc_vhost_iotlb_stats st;
	int err;

	assert_int_equal(gpc_vhost_iotlb_update(f->t, f->mem, IO, 4 * PG,
						U0 + 2 * PG, VHOST_ACCESS_RW),
			 0);
	assert_ptr_equal(tr(f, IO + 100, GPC_TRANSLATE_WRITE, NULL),
			 f->m + 2 * PG + 100);
	assert_ptr_equal(tr(f, IO + 4 * PG - 1, 0, NULL), f->m + 6 * PG - 1);
	assert_null(tr(f, IO + 4 * PG, 0, &err));
	assert_int_equal(err, -ENOENT);
	/* Data written through the IOVA is in the region. */
	*tr(f, IO + 8, GPC_TRANSLATE_WRITE, NULL) = 0x77;
	assert_int_equal(f->m[2 * PG + 8], 0x77);
	/* Read-only: no write translation; write-only: writable. */
	assert_int_equal(gpc_vhost_iotlb_update(f->t, f->mem, 2 * IO, PG, U1,
						VHOST_ACCESS_RO),
			 0);
	assert_null(tr(f, 2 * IO, GPC_TRANSLATE_WRITE, &err));
	assert_int_equal(err, -EROFS);
	assert_ptr_equal(tr(f, 2 * IO, 0, NULL), f->m + 32 * PG);
	assert_int_equal(gpc_vhost_iotlb_update(f->t, f->mem, 3 * IO, PG,
						U1 + PG, VHOST_ACCESS_WO),
			 0);
	assert_non_null(tr(f, 3 * IO, GPC_TRANSLATE_WRITE, NULL));
	assert_int_equal(gpc_vhost_iotlb_perm(f->t, 3 * IO + 5),
			 VHOST_ACCESS_WO);
	assert_int_equal(gpc_vhost_iotlb_perm(f->t, 2 * IO), VHOST_ACCESS_RO);
	assert_int_equal(gpc_vhost_iotlb_perm(f->t, IO + PG), VHOST_ACCESS_RW);
	assert_int_equal(gpc_vhost_iotlb_perm(f->t, 4 * IO), 0);
	/* RW over a read-only region: the entry is read-only. */
	assert_int_equal(gpc_vhost_iotlb_update(f->t, f->mem, 4 * IO, PG, U2,
						VHOST_ACCESS_RW),
			 0);
	assert_null(tr(f, 4 * IO, GPC_TRANSLATE_WRITE, &err));
	assert_int_equal(err, -EROFS);
	gpc_vhost_iotlb_get_stats(f->t, &st);
	assert_int_equal(st.updates, 4);
	assert_int_equal(st.entries, 4);
}

static void test_update_errors(void **state)
{
	struct fx *f = *state;
	struct gpc_vm *other;
	struct gpc_vhost_iotlb_stats st;

#define UP(err, iova, size, ua, perm)                                         \
	assert_int_equal(gpc_vhost_iotlb_update(f->t, f->mem, iova, size, ua, \
						perm),                        \
			 err)
	UP(-EINVAL, IO, PG, U0, 0);
	UP(-EINVAL, IO, PG, U0, 4);
	UP(-EINVAL, IO, 0, U0, VHOST_ACCESS_RW);
	UP(-EINVAL, IO + 1, PG, U0, VHOST_ACCESS_RW);
	UP(-EINVAL, IO, PG + 1, U0, VHOST_ACCESS_RW);
	UP(-EINVAL, IO, PG, U0 + 8, VHOST_ACCESS_RW);
	UP(-EINVAL, UINT64_MAX - PG + 1, PG, U0, VHOST_ACCESS_RW);
	UP(-EINVAL, IO, PG, UINT64_MAX - PG + 1, VHOST_ACCESS_RW);
	/* not in a region, across two regions, beyond a region's end */
	UP(-EFAULT, IO, PG, 0x70000000, VHOST_ACCESS_RW);
	UP(-EFAULT, IO, 2 * PG, U1 - PG, VHOST_ACCESS_RW);
	UP(-EFAULT, IO, 2 * PG, U2 + 7 * PG, VHOST_ACCESS_RO);
#undef UP
	assert_int_equal(gpc_vhost_iotlb_update(NULL, f->mem, IO, PG, U0,
						VHOST_ACCESS_RW),
			 -EINVAL);
	/* a memory vm on another domain */
	assert_int_equal(gpc_vm_create(NULL, &other), 0);
	assert_int_equal(gpc_vhost_iotlb_update(f->t, other, IO, PG, U0,
						VHOST_ACCESS_RW),
			 -EINVAL);
	assert_int_equal(gpc_vm_destroy(other), 0);
	/* inside a section */
	gpc_srcu_read_lock(f->d);
	assert_int_equal(gpc_vhost_iotlb_update(f->t, f->mem, IO, PG, U0,
						VHOST_ACCESS_RW),
			 -EDEADLK);
	assert_int_equal(gpc_vhost_iotlb_invalidate(f->t, IO, PG), -EDEADLK);
	gpc_srcu_read_unlock(f->d);
	gpc_vhost_iotlb_get_stats(f->t, &st);
	assert_int_equal(st.entries, 0);
	assert_int_equal(gpc_memslot_count(f->io), 0);
}

/* An overlapping update replaces the overlap and keeps the rest. */
static void test_overlap_replace(void **state)
{
	struct fx *f = *state;

	assert_int_equal(gpc_vhost_iotlb_update(f->t, f->mem, IO, 8 * PG, U0,
						VHOST_ACCESS_RW),
			 0);
	assert_int_equal(gpc_vhost_iotlb_update(f->t, f->mem, IO + 2 * PG,
						2 * PG, U1, VHOST_ACCESS_RO),
			 0);
	assert_ptr_equal(tr(f, IO + PG, 0, NULL), f->m + PG);
	assert_ptr_equal(tr(f, IO + 2 * PG, 0, NULL), f->m + 32 * PG);
	assert_ptr_equal(tr(f, IO + 3 * PG + 9, 0, NULL), f->m + 33 * PG + 9);
	assert_ptr_equal(tr(f, IO + 4 * PG, 0, NULL), f->m + 4 * PG);
	assert_ptr_equal(tr(f, IO + 8 * PG - 1, 0, NULL), f->m + 8 * PG - 1);
	assert_int_equal(gpc_memslot_count(f->io), 3);
	/* The same IOVA mapped again, exactly: still one entry there. */
	assert_int_equal(gpc_vhost_iotlb_update(f->t, f->mem, IO + 2 * PG,
						2 * PG, U0 + 20 * PG,
						VHOST_ACCESS_RW),
			 0);
	assert_int_equal(gpc_memslot_count(f->io), 3);
	assert_ptr_equal(tr(f, IO + 2 * PG, 0, NULL), f->m + 20 * PG);
	/* One update over all three and beyond. */
	assert_int_equal(gpc_vhost_iotlb_update(f->t, f->mem, IO - PG, 10 * PG,
						U0 + 10 * PG, VHOST_ACCESS_RW),
			 0);
	assert_int_equal(gpc_memslot_count(f->io), 1);
	assert_ptr_equal(tr(f, IO + 5 * PG, 0, NULL), f->m + 16 * PG);
}

static void test_invalidate_split(void **state)
{
	struct fx *f = *state;
	int err;

	assert_int_equal(gpc_vhost_iotlb_update(f->t, f->mem, IO, 8 * PG, U0,
						VHOST_ACCESS_RW),
			 0);
	assert_int_equal(gpc_vhost_iotlb_update(f->t, f->mem, IO + 8 * PG,
						4 * PG, U1, VHOST_ACCESS_RW),
			 0);
	/* The middle of the first: both sides stay. */
	assert_int_equal(gpc_vhost_iotlb_invalidate(f->t, IO + 3 * PG, 2 * PG),
			 0);
	assert_ptr_equal(tr(f, IO + 3 * PG - 1, 0, NULL), f->m + 3 * PG - 1);
	assert_null(tr(f, IO + 3 * PG, 0, &err));
	assert_int_equal(err, -ENOENT);
	assert_null(tr(f, IO + 5 * PG - 1, 0, NULL));
	assert_ptr_equal(tr(f, IO + 5 * PG, 0, NULL), f->m + 5 * PG);
	assert_int_equal(gpc_memslot_count(f->io), 3);
	/* Unaligned: widened to pages. Across two entries. */
	assert_int_equal(gpc_vhost_iotlb_invalidate(f->t, IO + 7 * PG + 5, 10),
			 0);
	assert_null(tr(f, IO + 7 * PG, 0, NULL));
	assert_ptr_equal(tr(f, IO + 6 * PG, 0, NULL), f->m + 6 * PG);
	assert_int_equal(gpc_vhost_iotlb_invalidate(f->t, IO + 6 * PG, 3 * PG),
			 0);
	assert_null(tr(f, IO + 6 * PG, 0, NULL));
	assert_null(tr(f, IO + 8 * PG, 0, NULL));
	assert_ptr_equal(tr(f, IO + 9 * PG, 0, NULL), f->m + 33 * PG);
	/* Nothing there: nothing changes (no generation bump). */
	{
		uint64_t gen = gpc_memslot_generation(f->io);

		assert_int_equal(gpc_vhost_iotlb_invalidate(f->t, 9 * IO, PG),
				 0);
		assert_int_equal(gpc_memslot_generation(f->io), gen);
	}
	/* "Everything": QEMU's size 2^64 - 1. */
	assert_int_equal(gpc_vhost_iotlb_invalidate(f->t, 0, UINT64_MAX), 0);
	assert_int_equal(gpc_memslot_count(f->io), 0);
	/* batch: two ranges, one grace period */
	assert_int_equal(gpc_vhost_iotlb_update(f->t, f->mem, IO, 8 * PG, U0,
						VHOST_ACCESS_RW),
			 0);
	{
		uint64_t iova[2] = { IO, IO + 4 * PG }, size[2] = { PG, PG };

		assert_int_equal(gpc_vhost_iotlb_invalidate_batch(f->t, iova,
								  size, 2),
				 0);
	}
	assert_null(tr(f, IO, 0, NULL));
	assert_null(tr(f, IO + 4 * PG, 0, NULL));
	assert_ptr_equal(tr(f, IO + 2 * PG, 0, NULL), f->m + 2 * PG);
	assert_ptr_equal(tr(f, IO + 5 * PG, 0, NULL), f->m + 5 * PG);
	assert_int_equal(gpc_memslot_count(f->io), 2);
}

static void test_drop_region(void **state)
{
	struct fx *f = *state;

	assert_int_equal(gpc_vhost_iotlb_update(f->t, f->mem, IO, 2 * PG, U0,
						VHOST_ACCESS_RW),
			 0);
	assert_int_equal(gpc_vhost_iotlb_update(f->t, f->mem, 2 * IO, 2 * PG,
						U1, VHOST_ACCESS_RW),
			 0);
	assert_int_equal(gpc_vhost_iotlb_update(f->t, f->mem, 3 * IO, PG,
						U1 + 8 * PG, VHOST_ACCESS_RW),
			 0);
	assert_int_equal(gpc_vhost_iotlb_drop_region(
				 f->t, (uint64_t)(uintptr_t)(f->m + 32 * PG),
				 16 * PG),
			 0);
	assert_null(tr(f, 2 * IO, 0, NULL));
	assert_null(tr(f, 3 * IO, 0, NULL));
	assert_ptr_equal(tr(f, IO, 0, NULL), f->m);
	assert_int_equal(gpc_memslot_count(f->io), 1);
}

static void test_full(void **state)
{
	struct fx *f = *state;
	struct gpc_vhost_iotlb_stats st;

	teardown(state);
	setup_max(f, 4);
	for (uint64_t i = 0; i < 4; i++)
		assert_int_equal(gpc_vhost_iotlb_update(
					 f->t, f->mem, IO + 4 * i * PG, 3 * PG,
					 U0 + 4 * i * PG, VHOST_ACCESS_RW),
				 0);
	assert_int_equal(gpc_vhost_iotlb_update(f->t, f->mem, 9 * IO, PG, U1,
						VHOST_ACCESS_RW),
			 -ENOSPC);
	/* replacing an entry needs no new id */
	assert_int_equal(gpc_vhost_iotlb_update(f->t, f->mem, IO, 3 * PG, U1,
						VHOST_ACCESS_RW),
			 0);
	/* an invalidation of a middle page needs one more: a part is lost,
	 * the range asked for is gone all the same */
	assert_int_equal(gpc_vhost_iotlb_invalidate(f->t, IO + 4 * PG + PG, PG),
			 0);
	assert_null(tr(f, IO + 5 * PG, 0, NULL));
	gpc_vhost_iotlb_get_stats(f->t, &st);
	assert_int_equal(st.refused_full, 1);
	assert_int_equal(st.remainders_lost, 1);
	assert_int_equal(st.entries, 4);
	assert_int_equal(gpc_memslot_count(f->io), 4);
	/* ids come back */
	assert_int_equal(gpc_vhost_iotlb_invalidate(f->t, 0, UINT64_MAX), 0);
	for (uint64_t i = 0; i < 4; i++)
		assert_int_equal(gpc_vhost_iotlb_update(
					 f->t, f->mem, 2 * IO + i * PG, PG,
					 U0 + i * PG, VHOST_ACCESS_RW),
				 0);
}

/* A chain whose table and buffers are in IOVA space walks unchanged. */
static void test_walk_iova(void **state)
{
	struct fx *f = *state;
	struct vring_desc *desc = (struct vring_desc *)(f->m + 4 * PG);
	struct gpc_vhost_chain c;
	struct iovec iov[4];

	assert_int_equal(gpc_vhost_iotlb_update(f->t, f->mem, IO, 4 * PG,
						U0 + 4 * PG, VHOST_ACCESS_RW),
			 0);
	desc[0].addr = IO + PG;
	desc[0].len = 100;
	desc[0].flags = VRING_DESC_F_NEXT;
	desc[0].next = 1;
	desc[1].addr = IO + 2 * PG;
	desc[1].len = 200;
	desc[1].flags = VRING_DESC_F_WRITE;
	gpc_srcu_read_lock(f->d);
	assert_int_equal(gpc_vhost_walk(f->io, IO, 16, 0, 0, iov, 4, &c), 0);
	gpc_srcu_read_unlock(f->d);
	assert_int_equal(c.nr_read, 1);
	assert_int_equal(c.nr_write, 1);
	assert_ptr_equal(iov[0].iov_base, f->m + 5 * PG);
	assert_ptr_equal(iov[1].iov_base, f->m + 6 * PG);
	/* Invalidated: the buffer's IOVA misses. */
	assert_int_equal(gpc_vhost_iotlb_invalidate(f->t, IO + 2 * PG, PG), 0);
	gpc_srcu_read_lock(f->d);
	assert_int_equal(gpc_vhost_walk(f->io, IO, 16, 0, 0, iov, 4, &c),
			 -ENOENT);
	gpc_srcu_read_unlock(f->d);
}

/* A reader inside its section holds the invalidation up. */
static atomic_int reader_state;

static void *reader(void *arg)
{
	struct fx *f = arg;
	uint64_t len = 1;
	void *p;

	gpc_srcu_read_lock(f->d);
	if (gpc_translate_gpa(f->io, IO, &len, 0, &p) == 0)
		atomic_store(&reader_state, 1);
	usleep(100 * 1000);
	(void)*(volatile uint8_t *)p;
	atomic_store(&reader_state, 2);
	gpc_srcu_read_unlock(f->d);
	return NULL;
}

static void test_invalidate_waits(void **state)
{
	struct fx *f = *state;
	pthread_t th;

	assert_int_equal(gpc_vhost_iotlb_update(f->t, f->mem, IO, PG, U0,
						VHOST_ACCESS_RW),
			 0);
	atomic_store(&reader_state, 0);
	assert_int_equal(pthread_create(&th, NULL, reader, f), 0);
	while (atomic_load(&reader_state) == 0)
		usleep(1000);
	assert_int_equal(gpc_vhost_iotlb_invalidate(f->t, IO, PG), 0);
	assert_int_equal(atomic_load(&reader_state), 2);
	assert_null(tr(f, IO, 0, NULL));
	pthread_join(th, NULL);
}

/*
 * A cache on the IOTLB vm (a ring by IOVA): a reader inside its cache
 * section holds the invalidation up on both schemes (on the rwlock one
 * that section is no SRCU section: the commit's grace period alone would
 * not wait for it).
 */
static struct gpc_cache cache;

static void *cache_reader(void *arg)
{
	struct gpc_guard g;
	volatile uint8_t *p;

	(void)arg;
	p = gpc_cache_begin(&cache, 0, 64, &g);
	if (!p)
		return NULL;
	atomic_store(&reader_state, 1);
	usleep(100 * 1000);
	(void)p[0];
	atomic_store(&reader_state, 2);
	gpc_cache_end(&cache, &g);
	return NULL;
}

static void test_invalidate_waits_cache(void **state)
{
	struct fx *f = *state;
	pthread_t th;
	struct gpc_guard g;

	assert_int_equal(gpc_vhost_iotlb_update(f->t, f->mem, IO, PG, U0,
						VHOST_ACCESS_RW),
			 0);
	memset(&cache, 0, sizeof(cache));
	assert_int_equal(gpc_cache_init(&cache, f->io, GPC_USAGE_HOST, NULL, 0),
			 0);
	assert_int_equal(gpc_cache_activate_gpa(&cache, IO, 64), 0);
	atomic_store(&reader_state, 0);
	assert_int_equal(pthread_create(&th, NULL, cache_reader, NULL), 0);
	for (int i = 0; i < 5000 && atomic_load(&reader_state) == 0; i++)
		usleep(1000);
	assert_int_equal(atomic_load(&reader_state), 1);
	assert_int_equal(gpc_vhost_iotlb_invalidate(f->t, IO, PG), 0);
	assert_int_equal(atomic_load(&reader_state), 2);
	pthread_join(th, NULL);
	assert_null(gpc_cache_begin(&cache, 0, 64, &g));
	assert_int_not_equal(gpc_cache_refresh(&cache, 64), 0);
	assert_int_equal(gpc_cache_destroy(&cache), 0);
}

static void test_miss(void **state)
{
	struct fx *f = *state;
	struct vhost_iotlb_msg msg;
	struct gpc_vhost_msg in;
	struct gpc_vhost_iotlb_stats st;
	uint64_t seq;
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(gpc_vhost_iotlb_miss(f->t, IO + 0x123, 7, &msg),
			 -EINVAL);
	assert_int_equal(gpc_vhost_iotlb_miss(f->t, IO + 0x123, VHOST_ACCESS_RO,
					      &msg),
			 0);
	assert_int_equal(msg.type, VHOST_IOTLB_MISS);
	assert_int_equal(msg.iova, IO + 0x123);
	assert_int_equal(msg.perm, VHOST_ACCESS_RO);
	assert_int_equal(gpc_vhost_msg_backend_send(
				 sv[0], GPC_VHOST_BACKEND_IOTLB_MSG, false,
				 &msg, sizeof(msg), NULL, 0, 1000),
			 0);
	assert_int_equal(gpc_vhost_msg_recv(sv[1], &in, 1000), 0);
	assert_int_equal(in.hdr.request, GPC_VHOST_BACKEND_IOTLB_MSG);
	assert_int_equal(in.payload.iotlb.type, VHOST_IOTLB_MISS);
	assert_int_equal(in.payload.iotlb.iova, IO + 0x123);
	assert_true(gpc_vhost_iotlb_miss_pending(f->t, IO));
	/* The same page again, or for less: outstanding. For more: sent. */
	assert_int_equal(gpc_vhost_iotlb_miss(f->t, IO + 0x800, VHOST_ACCESS_RO,
					      &msg),
			 -EALREADY);
	assert_int_equal(gpc_vhost_iotlb_miss(f->t, IO, VHOST_ACCESS_RW, &msg),
			 0);
	assert_int_equal(gpc_vhost_iotlb_miss(f->t, IO, VHOST_ACCESS_WO, &msg),
			 -EALREADY);
	/* A read-only update does not answer a write miss. */
	seq = gpc_vhost_iotlb_seq(f->t);
	assert_int_equal(gpc_vhost_iotlb_update(f->t, f->mem, IO, PG, U0,
						VHOST_ACCESS_RO),
			 0);
	assert_int_equal(gpc_vhost_iotlb_seq(f->t), seq + 1);
	assert_true(gpc_vhost_iotlb_miss_pending(f->t, IO));
	assert_int_equal(gpc_vhost_iotlb_update(f->t, f->mem, IO, PG, U0,
						VHOST_ACCESS_RW),
			 0);
	assert_false(gpc_vhost_iotlb_miss_pending(f->t, IO));
	/* a failed send is forgotten */
	assert_int_equal(
		gpc_vhost_iotlb_miss(f->t, 5 * IO, VHOST_ACCESS_RO, &msg), 0);
	gpc_vhost_iotlb_miss_cancel(f->t, 5 * IO);
	assert_int_equal(
		gpc_vhost_iotlb_miss(f->t, 5 * IO, VHOST_ACCESS_RO, &msg), 0);
	/* more pages than the table holds: the oldest go, nothing breaks */
	for (uint64_t i = 0; i < 3 * GPC_VHOST_IOTLB_MISS_MAX; i++)
		assert_int_equal(gpc_vhost_iotlb_miss(f->t, 7 * IO + i * PG,
						      VHOST_ACCESS_RO, &msg),
				 0);
	gpc_vhost_iotlb_get_stats(f->t, &st);
	assert_int_equal(st.misses_coalesced, 2);
	assert_int_equal(st.misses_sent, 4 + 3 * GPC_VHOST_IOTLB_MISS_MAX);
	close(sv[0]);
	close(sv[1]);
}

/* ---- the figure: invalidations per second ----------------------------- */

static atomic_bool bg_stop;

static void *bg_reader(void *arg)
{
	struct fx *f = arg;

	while (!atomic_load(&bg_stop)) {
		uint64_t len = 1;
		void *p;

		gpc_srcu_read_lock(f->d);
		(void)gpc_translate_gpa(f->io, 8 * IO, &len, 0, &p);
		gpc_srcu_read_unlock(f->d);
	}
	return NULL;
}

static double secs(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) +
	       (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

/* Invalidations per second (only the invalidate calls are timed). */
static double rate(struct fx *f, unsigned int n, unsigned int batch)
{
	uint64_t iova[8], size[8];
	double t = 0;

	for (unsigned int i = 0; i < n; i += batch) {
		struct timespec a, b;

		for (unsigned int k = 0; k < batch; k++) {
			iova[k] = IO + k * PG;
			size[k] = PG;
			assert_int_equal(gpc_vhost_iotlb_update(
						 f->t, f->mem, iova[k], PG,
						 U0 + k * PG, VHOST_ACCESS_RW),
					 0);
		}
		clock_gettime(CLOCK_MONOTONIC, &a);
		assert_int_equal(gpc_vhost_iotlb_invalidate_batch(f->t, iova,
								  size, batch),
				 0);
		clock_gettime(CLOCK_MONOTONIC, &b);
		t += secs(&a, &b);
	}
	return n / t;
}

static double gp_rate(struct fx *f, bool expedited)
{
	struct timespec a, b;

	clock_gettime(CLOCK_MONOTONIC, &a);
	for (int i = 0; i < 400; i++)
		assert_int_equal(expedited ?
					 gpc_srcu_synchronize_expedited(f->d) :
					 gpc_srcu_synchronize(f->d),
				 0);
	clock_gettime(CLOCK_MONOTONIC, &b);
	return 400 / secs(&a, &b);
}

/*
 * Invalidations (each a transaction and a grace period), with no reader
 * and with a thread in and out of short sections; then 8 invalidations
 * per batch (one transaction). Printed, not asserted beyond "it ran": the
 * figures depend on the machine.
 */
static void test_invalidation_rate(void **state)
{
	struct fx *f = *state;
	pthread_t th;
	double idle, busy, batched, gp, gp_exp;

	assert_int_equal(gpc_vhost_iotlb_update(f->t, f->mem, 8 * IO, PG, U1,
						VHOST_ACCESS_RW),
			 0);
	idle = rate(f, 400, 1);
	atomic_store(&bg_stop, false);
	assert_int_equal(pthread_create(&th, NULL, bg_reader, f), 0);
	busy = rate(f, 400, 1);
	batched = rate(f, 400, 8);
	/* What an expedited grace period would buy (the commit's is not). */
	gp = gp_rate(f, false);
	gp_exp = gp_rate(f, true);
	atomic_store(&bg_stop, true);
	pthread_join(th, NULL);
	printf("# iotlb %s: %.0f invalidations/s idle, %.0f with a reader, "
	       "%.0f in batches of 8 with a reader\n",
	       f->scheme == GPC_SCHEME_SRCU ? "srcu" : "rwlock", idle, busy,
	       batched);
	printf("# domain with that reader: %.0f grace periods/s, %.0f "
	       "expedited\n",
	       gp, gp_exp);
	assert_true(idle > 0 && busy > 0 && batched > 0);
}

/* ---- aliases ---------------------------------------------------------- */

static struct {
	unsigned int maps, retires, unmaps;
	bool fail; /* the next map fails */
	uint64_t last_alias, last_size;
} ao;

static int a_map(void *ctx, uint64_t hva, uint64_t size, uint64_t iova,
		 uint64_t *alias, int *cookie)
{
	void *p;

	(void)ctx;
	(void)iova;
	if (ao.fail) {
		ao.fail = false;
		return -ENOMEM;
	}
	p = mremap((void *)(uintptr_t)hva, 0, size, MREMAP_MAYMOVE);
	if (p == MAP_FAILED)
		return -errno;
	ao.maps++;
	*alias = (uint64_t)(uintptr_t)p;
	*cookie = 7;
	return 0;
}

static void a_retire(void *ctx, uint64_t alias, uint64_t size, int cookie)
{
	(void)ctx;
	assert_int_equal(cookie, 7);
	ao.retires++;
	ao.last_alias = alias;
	ao.last_size = size;
	assert_int_equal(munmap((void *)(uintptr_t)alias, size), 0);
}

static void a_unmap(void *ctx, uint64_t alias, uint64_t size, int cookie)
{
	(void)ctx;
	(void)cookie;
	ao.unmaps++;
	munmap((void *)(uintptr_t)alias, size);
}

static const struct gpc_vhost_iotlb_alias_ops a_ops = { a_map, a_retire,
							a_unmap };

static void test_aliases(void **state)
{
	struct fx *f = *state;
	struct gpc_vhost_iotlb_stats st;
	uint8_t *p, *q;

	memset(&ao, 0, sizeof(ao));
	assert_int_equal(gpc_vhost_iotlb_set_aliases(f->t, NULL, NULL),
			 -EINVAL);
	assert_int_equal(gpc_vhost_iotlb_set_aliases(f->t, &a_ops, NULL), 0);
	assert_int_equal(gpc_vhost_iotlb_update(f->t, f->mem, IO, 4 * PG, U0,
						VHOST_ACCESS_RW),
			 0);
	/* Too late once there are entries. */
	assert_int_equal(gpc_vhost_iotlb_set_aliases(f->t, &a_ops, NULL),
			 -EBUSY);
	/* Not M itself, but M's pages. */
	p = tr(f, IO + PG, 0, NULL);
	assert_non_null(p);
	assert_true(p < f->m || p >= f->m + 64 * PG);
	p[0] = 0x5a;
	assert_int_equal(f->m[PG], 0x5a);
	assert_int_equal(ao.maps, 1);
	assert_false(gpc_vhost_iotlb_retire_pending(f->t));

	/* The middle page invalidated: two new aliases, the old one waits. */
	assert_int_equal(gpc_vhost_iotlb_invalidate(f->t, IO + 2 * PG, PG), 0);
	assert_int_equal(ao.maps, 3);
	assert_int_equal(ao.retires, 0);
	assert_true(gpc_vhost_iotlb_retire_pending(f->t));
	assert_int_equal(p[0], 0x5a); /* still mapped until retired */
	q = tr(f, IO + PG, 0, NULL);
	assert_true(q != p);
	assert_int_equal(q[0], 0x5a);
	f->m[3 * PG] = 0x33; /* the other part: its own alias of M */
	assert_int_equal(tr(f, IO + 3 * PG, 0, NULL)[0], 0x33);
	assert_int_equal(gpc_vhost_iotlb_retire(f->t), 1);
	assert_int_equal(ao.retires, 1);
	assert_int_equal(ao.last_alias, (uint64_t)(uintptr_t)(p - PG));
	assert_int_equal(ao.last_size, 4 * PG);
	assert_false(gpc_vhost_iotlb_retire_pending(f->t));
	assert_int_equal(gpc_vhost_iotlb_retire(f->t), 0);

	/* An update over an entry replaces it: its alias waits too. */
	assert_int_equal(gpc_vhost_iotlb_update(f->t, f->mem, IO, PG, U0 + PG,
						VHOST_ACCESS_RO),
			 0);
	assert_true(gpc_vhost_iotlb_retire_pending(f->t));
	assert_int_equal(gpc_vhost_iotlb_retire(f->t), 1);
	assert_int_equal(tr(f, IO, 0, NULL)[0], 0x5a);

	/* An entry without an alias uses M (unchecked, counted). */
	ao.fail = true;
	assert_int_equal(gpc_vhost_iotlb_update(f->t, f->mem, 2 * IO, PG,
						U1 + PG, VHOST_ACCESS_RW),
			 0);
	assert_ptr_equal(tr(f, 2 * IO, 0, NULL), f->m + 33 * PG);
	/* Dropped by the region's address in M, alias or not. */
	assert_int_equal(gpc_vhost_iotlb_update(f->t, f->mem, 3 * IO, PG,
						U1 + 2 * PG, VHOST_ACCESS_RW),
			 0);
	assert_int_equal(gpc_vhost_iotlb_drop_region(
				 f->t, (uint64_t)(uintptr_t)(f->m + 32 * PG),
				 16 * PG),
			 0);
	assert_null(tr(f, 2 * IO, 0, NULL));
	assert_null(tr(f, 3 * IO, 0, NULL));
	assert_int_equal(gpc_vhost_iotlb_retire(f->t), 1); /* 3 * IO's */
	gpc_vhost_iotlb_get_stats(f->t, &st);
	assert_int_equal(st.aliases, ao.maps);
	assert_int_equal(st.unchecked, 1);
	assert_int_equal(st.aliases_retired, 3);
	assert_int_equal(st.entries, 3); /* IO, IO + PG, IO + 3 * PG */

	/* Destroy retires the live entries' aliases. */
	assert_int_equal(gpc_vhost_iotlb_destroy(f->t), 0);
	f->t = NULL;
	assert_int_equal(ao.retires, ao.maps);
	assert_int_equal(ao.unmaps, 0);
}

#define T2(fn)                                                                \
	cmocka_unit_test_prestate_setup_teardown(fn, setup, teardown,         \
						 &fx_srcu),                   \
		cmocka_unit_test_prestate_setup_teardown(fn, setup, teardown, \
							 &fx_rwlock)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T2(test_update_translate),
		T2(test_update_errors),
		T2(test_overlap_replace),
		T2(test_invalidate_split),
		T2(test_drop_region),
		T2(test_full),
		T2(test_walk_iova),
		T2(test_invalidate_waits),
		T2(test_invalidate_waits_cache),
		T2(test_miss),
		T2(test_invalidation_rate),
		T2(test_aliases),
	};

	return cmocka_run_group_tests_name("vhost_iotlb", tests, NULL, NULL);
}
