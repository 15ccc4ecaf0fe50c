// SPDX-License-Identifier: MIT
/*
 * tests/test_memslot.c - the memslot table (gpc/memslot.h).
 *
 * Two groups, chosen by the first argument ("unit", "concurrency", or
 * nothing for both), so that ctest can label them separately:
 *  - unit: every function and error path from one thread; a failed call
 *    changes nothing (generation, slots, counters); overlap at both edges,
 *    adjacent slots, moves onto themselves, the read-only flag, lookups at
 *    the first and last byte of a slot and just outside, the mirror hook,
 *    and a table of GPC_MEMSLOTS_MAX slots;
 *  - concurrency: readers (threads and signal handlers) look slots up while
 *    writers create, move, delete and re-flag them; every result must be
 *    self-consistent, generations never go backwards, a change is visible
 *    to every lookup that starts after it returned, and a slot found inside
 *    a read section stays intact until the section ends.
 */
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <gpc/gpc.h>

#include "internal.h"
#include "test_common.h"

/* AddressSanitizer's allocator, like TSan's, maps every large table anew. */
#if defined(__SANITIZE_ADDRESS__)
#define TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_ASAN 1
#endif
#endif
#ifndef TEST_ASAN
#define TEST_ASAN 0
#endif

static uint64_t ps; /* the vm's page size */

static int setup_vm(void **state)
{
	struct gpc_vm *vm;

	if (gpc_vm_create(NULL, &vm))
		return -1;
	test_log_capture();
	*state = vm;
	return 0;
}

static int teardown_vm(void **state)
{
	return gpc_vm_destroy(*state) ? -1 : 0;
}

static uint64_t changes(struct gpc_vm *vm)
{
	struct gpc_vm_stats st;

	assert_int_equal(gpc_vm_get_stats(vm, &st), 0);
	return st.memslot_changes;
}

/* ---- "a failed call changes no state" --------------------------------- */

#define SNAP_IDS 16

struct snap {
	uint64_t gen, changes;
	unsigned int count;
	int rc[SNAP_IDS];
	struct gpc_memslot_info s[SNAP_IDS];
};

static void take_snap(struct gpc_vm *vm, struct snap *sn)
{
	uint32_t id;

	memset(sn, 0, sizeof(*sn));
	sn->gen = gpc_memslot_generation(vm);
	sn->changes = changes(vm);
	sn->count = gpc_memslot_count(vm);
	for (id = 0; id < SNAP_IDS; id++)
		sn->rc[id] = gpc_memslot_get(vm, id, &sn->s[id]);
}

static void assert_unchanged(struct gpc_vm *vm, const struct snap *before)
{
	struct snap now;

	take_snap(vm, &now);
	assert_int_equal(now.gen, before->gen);
	assert_int_equal(now.changes, before->changes);
	assert_int_equal(now.count, before->count);
	assert_memory_equal(now.rc, before->rc, sizeof(now.rc));
	assert_memory_equal(now.s, before->s, sizeof(now.s));
}

/* Run @call, expect @err, and check that nothing changed. */
#define expect_fail(vm, err, call)               \
	do {                                     \
		struct snap sn_;                 \
		take_snap(vm, &sn_);             \
		assert_int_equal((call), (err)); \
		assert_unchanged(vm, &sn_);      \
	} while (0)

/* Run @call, expect success and exactly one generation step. */
#define expect_change(vm, call)                                       \
	do {                                                          \
		uint64_t g_ = gpc_memslot_generation(vm);             \
		uint64_t c_ = changes(vm);                            \
		assert_int_equal((call), 0);                          \
		assert_int_equal(gpc_memslot_generation(vm), g_ + 1); \
		assert_int_equal(changes(vm), c_ + 1);                \
	} while (0)

static void assert_slot(struct gpc_vm *vm, uint64_t gpa, uint32_t id,
			uint64_t base, uint64_t size, uint64_t hva,
			uint32_t flags)
{
	struct gpc_memslot_info in;

	assert_int_equal(gpc_memslot_lookup(vm, gpa, &in), 0);
	assert_int_equal(in.id, id);
	assert_int_equal(in.gpa, base);
	assert_int_equal(in.size, size);
	assert_int_equal(in.hva, hva);
	assert_int_equal(in.flags, flags);
	assert_int_equal(in.generation, gpc_memslot_generation(vm));
}

static void assert_no_slot(struct gpc_vm *vm, uint64_t gpa)
{
	struct gpc_memslot_info in;

	assert_int_equal(gpc_memslot_lookup(vm, gpa, &in), -ENOENT);
}

/* ---- unit: empty table and NULL arguments ----------------------------- */

static void test_empty(void **state)
{
	struct gpc_vm *vm = *state;
	struct gpc_memslot_info in;

	assert_int_equal(gpc_memslot_generation(vm), 1);
	assert_int_equal(gpc_memslot_count(vm), 0);
	assert_int_equal(changes(vm), 0);
	assert_no_slot(vm, 0);
	assert_no_slot(vm, UINT64_MAX);
	assert_int_equal(gpc_memslot_get(vm, 0, &in), -ENOENT);
	assert_int_equal(gpc_memslot_get(vm, UINT32_MAX, &in), -ENOENT);
	expect_fail(vm, -ENOENT, gpc_memslot_delete(vm, 0));
	expect_fail(vm, -ENOENT, gpc_memslot_move(vm, 0, 0));
	expect_fail(vm, -ENOENT, gpc_memslot_set_flags(vm, 0, 0));
}

static void test_null_args(void **state)
{
	struct gpc_vm *vm = *state;
	struct gpc_memslot_info in;

	assert_int_equal(gpc_memslot_create(NULL, 0, 0, ps, 0, 0), -EINVAL);
	assert_int_equal(gpc_memslot_delete(NULL, 0), -EINVAL);
	assert_int_equal(gpc_memslot_move(NULL, 0, 0), -EINVAL);
	assert_int_equal(gpc_memslot_set_flags(NULL, 0, 0), -EINVAL);
	assert_int_equal(gpc_memslot_lookup(NULL, 0, &in), -EINVAL);
	assert_int_equal(gpc_memslot_get(NULL, 0, &in), -EINVAL);
	assert_int_equal(gpc_memslot_generation(NULL), 0);
	assert_int_equal(gpc_memslot_count(NULL), 0);
	assert_int_equal(gpc_memslot_set_mirror(NULL, NULL, NULL), -EINVAL);

	expect_change(vm, gpc_memslot_create(vm, 0, 0, ps, 0, 0));
	expect_fail(vm, -EINVAL, gpc_memslot_lookup(vm, 0, NULL));
	expect_fail(vm, -EINVAL, gpc_memslot_get(vm, 0, NULL));
}

/* ---- unit: create ------------------------------------------------------ */

static void test_create_einval(void **state)
{
	struct gpc_vm *vm = *state;
	const uint64_t top = UINT64_MAX & ~(ps - 1); /* last page */

	expect_change(vm, gpc_memslot_create(vm, 1, 16 * ps, ps, ps, 0));

	/* ids */
	expect_fail(vm, -EINVAL,
		    gpc_memslot_create(vm, GPC_MEMSLOTS_MAX, 0, ps, 0, 0));
	expect_fail(vm, -EINVAL,
		    gpc_memslot_create(vm, UINT32_MAX, 0, ps, 0, 0));
	/* alignment and size */
	expect_fail(vm, -EINVAL, gpc_memslot_create(vm, 2, 1, ps, 0, 0));
	expect_fail(vm, -EINVAL, gpc_memslot_create(vm, 2, ps / 2, ps, 0, 0));
	expect_fail(vm, -EINVAL, gpc_memslot_create(vm, 2, 0, ps + 1, 0, 0));
	expect_fail(vm, -EINVAL, gpc_memslot_create(vm, 2, 0, ps - 1, 0, 0));
	expect_fail(vm, -EINVAL, gpc_memslot_create(vm, 2, 0, ps, 8, 0));
	expect_fail(vm, -EINVAL, gpc_memslot_create(vm, 2, 0, 0, 0, 0));
	/* overflow of gpa + size and hva + size, including exactly 2^64 */
	expect_fail(vm, -EINVAL, gpc_memslot_create(vm, 2, top, 2 * ps, 0, 0));
	expect_fail(vm, -EINVAL, gpc_memslot_create(vm, 2, top, ps, 0, 0));
	expect_fail(vm, -EINVAL, gpc_memslot_create(vm, 2, 0, ps, top, 0));
	expect_fail(vm, -EINVAL, gpc_memslot_create(vm, 2, 0, top, 2 * ps, 0));
	/* flags */
	expect_fail(vm, -EINVAL, gpc_memslot_create(vm, 2, 0, ps, 0, 1u << 1));
	expect_fail(vm, -EINVAL,
		    gpc_memslot_create(vm, 2, 0, ps, 0, 0x80000000u));
	/* EINVAL wins over EEXIST: the id and range are both in use here */
	expect_fail(vm, -EINVAL,
		    gpc_memslot_create(vm, 1, 16 * ps, ps, ps, 1u << 5));

	/* the highest addresses that do not wrap are fine */
	expect_change(vm, gpc_memslot_create(vm, 2, top - ps, ps, top - ps, 0));
	assert_slot(vm, top - 1, 2, top - ps, ps, top - ps, 0);
	assert_no_slot(vm, top);
	assert_no_slot(vm, UINT64_MAX);
	expect_change(vm, gpc_memslot_create(vm, GPC_MEMSLOTS_MAX - 1, 0, ps, 0,
					     0));
	assert_int_equal(gpc_memslot_count(vm), 3);
}

/* A vm with fewer ids refuses the ones above its own limit. */
static void test_create_max_memslots(void **state)
{
	struct gpc_vm_config cfg = { .max_memslots = 8 };
	struct gpc_vm *vm;

	(void)state;
	assert_int_equal(gpc_vm_create(&cfg, &vm), 0);
	expect_fail(vm, -EINVAL, gpc_memslot_create(vm, 8, 0, ps, 0, 0));
	expect_change(vm, gpc_memslot_create(vm, 7, 0, ps, 0, 0));
	expect_fail(vm, -ENOENT, gpc_memslot_delete(vm, 8));
	assert_int_equal(gpc_vm_destroy(vm), 0);
}

static void test_create_eexist(void **state)
{
	struct gpc_vm *vm = *state;
	const uint64_t a = 64 * ps; /* slot 1: [a, a + 4 pages) */

	expect_change(vm, gpc_memslot_create(vm, 1, a, 4 * ps, 0, 0));
	/* id in use, even for a disjoint range */
	expect_fail(vm, -EEXIST,
		    gpc_memslot_create(vm, 1, 1024 * ps, ps, 0, 0));
	/* identical, containing, contained */
	expect_fail(vm, -EEXIST, gpc_memslot_create(vm, 2, a, 4 * ps, 0, 0));
	expect_fail(vm, -EEXIST,
		    gpc_memslot_create(vm, 2, a - ps, 6 * ps, 0, 0));
	expect_fail(vm, -EEXIST, gpc_memslot_create(vm, 2, a + ps, ps, 0, 0));
	/* one page over the low edge, one page over the high edge */
	expect_fail(vm, -EEXIST,
		    gpc_memslot_create(vm, 2, a - ps, 2 * ps, 0, 0));
	expect_fail(vm, -EEXIST,
		    gpc_memslot_create(vm, 2, a + 3 * ps, 2 * ps, 0, 0));
	/* adjacent on both sides is fine */
	expect_change(vm, gpc_memslot_create(vm, 2, a - ps, ps, 0, 0));
	expect_change(vm, gpc_memslot_create(vm, 3, a + 4 * ps, ps, 0, 0));
	/* a gap of exactly the slot's size between two slots */
	expect_change(vm, gpc_memslot_create(vm, 4, a + 6 * ps, ps, 0, 0));
	expect_fail(vm, -EEXIST,
		    gpc_memslot_create(vm, 5, a + 5 * ps, 2 * ps, 0, 0));
	expect_change(vm, gpc_memslot_create(vm, 5, a + 5 * ps, ps, 0, 0));
	assert_int_equal(gpc_memslot_count(vm), 5);
}

/* ---- unit: lookup and get ---------------------------------------------- */

static void test_lookup_edges(void **state)
{
	struct gpc_vm *vm = *state;
	const uint64_t a = 256 * ps, h1 = 1ull << 40, h2 = 1ull << 41;

	expect_change(vm, gpc_memslot_create(vm, 1, a, 2 * ps, h1, 0));
	expect_change(vm, gpc_memslot_create(vm, 2, a + 2 * ps, ps, h2,
					     GPC_MEMSLOT_READONLY));
	assert_no_slot(vm, a - 1);
	assert_slot(vm, a, 1, a, 2 * ps, h1, 0);
	assert_slot(vm, a + ps + 17, 1, a, 2 * ps, h1, 0);
	assert_slot(vm, a + 2 * ps - 1, 1, a, 2 * ps, h1, 0);
	assert_slot(vm, a + 2 * ps, 2, a + 2 * ps, ps, h2,
		    GPC_MEMSLOT_READONLY);
	assert_slot(vm, a + 3 * ps - 1, 2, a + 2 * ps, ps, h2,
		    GPC_MEMSLOT_READONLY);
	assert_no_slot(vm, a + 3 * ps);
	assert_no_slot(vm, 0);
	assert_no_slot(vm, UINT64_MAX);
	/* alternate, so that the last-hit shortcut misses every time */
	assert_slot(vm, a, 1, a, 2 * ps, h1, 0);
	assert_slot(vm, a + 2 * ps, 2, a + 2 * ps, ps, h2,
		    GPC_MEMSLOT_READONLY);
	assert_no_slot(vm, a + 3 * ps);
	assert_slot(vm, a + 2 * ps, 2, a + 2 * ps, ps, h2,
		    GPC_MEMSLOT_READONLY);
}

static void test_get(void **state)
{
	struct gpc_vm *vm = *state;
	struct gpc_memslot_info in;

	expect_change(vm, gpc_memslot_create(vm, 9, 8 * ps, 3 * ps, 5 * ps,
					     GPC_MEMSLOT_READONLY));
	assert_int_equal(gpc_memslot_get(vm, 9, &in), 0);
	assert_int_equal(in.id, 9);
	assert_int_equal(in.gpa, 8 * ps);
	assert_int_equal(in.size, 3 * ps);
	assert_int_equal(in.hva, 5 * ps);
	assert_int_equal(in.flags, GPC_MEMSLOT_READONLY);
	assert_int_equal(in.generation, 2);
	assert_int_equal(gpc_memslot_get(vm, 8, &in), -ENOENT);
	assert_int_equal(gpc_memslot_get(vm, GPC_MEMSLOTS_MAX, &in), -ENOENT);
}

/*
 * The internal lookup: generation, and the last-hit hint, which is the
 * calling thread's (a word of its slot in the vm's SRCU domain).
 */
static void test_find_hint(void **state)
{
	struct gpc_vm *vm = *state;
	const struct gpci_memslot *s;
	struct gpc_srcu_slot *rs;
	uint64_t gen = 0;
	uint32_t id;

	for (id = 0; id < 8; id++)
		expect_change(vm, gpc_memslot_create(vm, id, id * 2 * ps, ps, 0,
						     0));
	rs = gpc_srcu_read_lock(gpc_vm_srcu(vm));
	s = gpci_memslot_find(vm, 6 * ps + 5, &gen);
	assert_non_null(s);
	assert_int_equal(s->id, 3);
	assert_int_equal(gen, 9);
	assert_int_equal(atomic_load(&rs->hint), 3);
	assert_ptr_equal(gpci_memslot_find(vm, 6 * ps, &gen), s);
	assert_null(gpci_memslot_find(vm, 7 * ps, &gen));
	assert_int_equal(atomic_load(&rs->hint), 3);
	s = gpci_memslot_find(vm, 14 * ps + ps - 1, &gen);
	assert_int_equal(s->id, 7);
	assert_int_equal(atomic_load(&rs->hint), 7);
	s = gpci_memslot_find(vm, 0, &gen);
	assert_int_equal(s->id, 0);
	assert_int_equal(atomic_load(&rs->hint), 0);
	/* A stale or foreign hint is only a hint. */
	atomic_store(&rs->hint, 5);
	s = gpci_memslot_find(vm, 4 * ps, &gen);
	assert_int_equal(s->id, 2);
	assert_int_equal(atomic_load(&rs->hint), 2);
	atomic_store(&rs->hint, ~0ul);
	s = gpci_memslot_find(vm, 12 * ps + 1, &gen);
	assert_int_equal(s->id, 6);
	assert_int_equal(atomic_load(&rs->hint), 6);
	gpc_srcu_read_unlock(gpc_vm_srcu(vm));
}

/* ---- unit: delete, move, set_flags ------------------------------------ */

static void test_delete(void **state)
{
	struct gpc_vm *vm = *state;

	expect_change(vm, gpc_memslot_create(vm, 1, 0, ps, 0, 0));
	expect_change(vm, gpc_memslot_create(vm, 2, ps, ps, ps, 0));
	expect_fail(vm, -ENOENT, gpc_memslot_delete(vm, 3));
	expect_fail(vm, -ENOENT, gpc_memslot_delete(vm, GPC_MEMSLOTS_MAX));
	expect_fail(vm, -ENOENT, gpc_memslot_delete(vm, UINT32_MAX));
	expect_change(vm, gpc_memslot_delete(vm, 1));
	assert_no_slot(vm, 0);
	assert_slot(vm, ps, 2, ps, ps, ps, 0);
	assert_int_equal(gpc_memslot_count(vm), 1);
	expect_fail(vm, -ENOENT, gpc_memslot_delete(vm, 1));
	/* the id and the range are free again */
	expect_change(vm, gpc_memslot_create(vm, 1, 0, ps, 4 * ps, 0));
	assert_slot(vm, 0, 1, 0, ps, 4 * ps, 0);
	expect_change(vm, gpc_memslot_delete(vm, 2));
	expect_change(vm, gpc_memslot_delete(vm, 1));
	assert_int_equal(gpc_memslot_count(vm), 0);
	assert_int_equal(gpc_memslot_generation(vm), 7);
}

static void test_move(void **state)
{
	struct gpc_vm *vm = *state;
	const uint64_t a = 64 * ps, h = 1ull << 30, top = -ps;

	expect_change(vm, gpc_memslot_create(vm, 1, a, 4 * ps, h, 0));
	expect_change(vm, gpc_memslot_create(vm, 2, a + 8 * ps, 2 * ps, 0,
					     GPC_MEMSLOT_READONLY));
	expect_fail(vm, -ENOENT, gpc_memslot_move(vm, 3, 0));
	expect_fail(vm, -ENOENT, gpc_memslot_move(vm, UINT32_MAX, 0));
	expect_fail(vm, -EINVAL, gpc_memslot_move(vm, 1, a + 1));
	expect_fail(vm, -EINVAL, gpc_memslot_move(vm, 1, top - 2 * ps));
	expect_fail(vm, -EINVAL, gpc_memslot_move(vm, 1, top));
	/* onto slot 2 at its low edge and at its high edge */
	expect_fail(vm, -EEXIST, gpc_memslot_move(vm, 1, a + 5 * ps));
	expect_fail(vm, -EEXIST, gpc_memslot_move(vm, 1, a + 9 * ps));
	/* onto itself, and overlapping its own old range: allowed */
	expect_change(vm, gpc_memslot_move(vm, 1, a));
	assert_slot(vm, a, 1, a, 4 * ps, h, 0);
	expect_change(vm, gpc_memslot_move(vm, 1, a + ps));
	assert_no_slot(vm, a + ps - 1);
	assert_slot(vm, a + ps, 1, a + ps, 4 * ps, h, 0);
	assert_slot(vm, a + 5 * ps - 1, 1, a + ps, 4 * ps, h, 0);
	/* adjacent to slot 2 on both sides */
	expect_change(vm, gpc_memslot_move(vm, 1, a + 4 * ps));
	assert_slot(vm, a + 8 * ps - 1, 1, a + 4 * ps, 4 * ps, h, 0);
	assert_slot(vm, a + 8 * ps, 2, a + 8 * ps, 2 * ps, 0,
		    GPC_MEMSLOT_READONLY);
	expect_change(vm, gpc_memslot_move(vm, 1, a + 10 * ps));
	assert_slot(vm, a + 10 * ps, 1, a + 10 * ps, 4 * ps, h, 0);
	assert_slot(vm, a + 10 * ps - 1, 2, a + 8 * ps, 2 * ps, 0,
		    GPC_MEMSLOT_READONLY);
	/* past slot 2 and to the top of the address space */
	expect_change(vm, gpc_memslot_move(vm, 1, top - 4 * ps));
	assert_slot(vm, top - 1, 1, top - 4 * ps, 4 * ps, h, 0);
	expect_change(vm, gpc_memslot_move(vm, 1, 0));
	assert_slot(vm, 0, 1, 0, 4 * ps, h, 0);
	assert_no_slot(vm, a + 10 * ps);
	assert_int_equal(gpc_memslot_count(vm), 2);
}

static void test_set_flags(void **state)
{
	struct gpc_vm *vm = *state;

	expect_change(vm, gpc_memslot_create(vm, 4, 0, ps, 0, 0));
	expect_fail(vm, -EINVAL, gpc_memslot_set_flags(vm, 4, 1u << 1));
	expect_fail(vm, -EINVAL, gpc_memslot_set_flags(vm, 5, 1u << 1));
	expect_fail(vm, -ENOENT, gpc_memslot_set_flags(vm, 5, 0));
	expect_fail(vm, -ENOENT,
		    gpc_memslot_set_flags(vm, GPC_MEMSLOTS_MAX, 0));
	expect_change(vm, gpc_memslot_set_flags(vm, 4, GPC_MEMSLOT_READONLY));
	assert_slot(vm, 0, 4, 0, ps, 0, GPC_MEMSLOT_READONLY);
	/* the same flags again is still a change the caches must notice */
	expect_change(vm, gpc_memslot_set_flags(vm, 4, GPC_MEMSLOT_READONLY));
	expect_change(vm, gpc_memslot_set_flags(vm, 4, 0));
	assert_slot(vm, ps - 1, 4, 0, ps, 0, 0);
}

/* A writer inside a read section of the vm would wait for itself. */
static void test_writer_in_read_section(void **state)
{
	struct gpc_vm *vm = *state;

	expect_change(vm, gpc_memslot_create(vm, 1, 0, ps, 0, 0));
	gpc_srcu_read_lock(gpc_vm_srcu(vm));
	expect_fail(vm, -EDEADLK, gpc_memslot_create(vm, 2, ps, ps, 0, 0));
	expect_fail(vm, -EDEADLK, gpc_memslot_delete(vm, 1));
	expect_fail(vm, -EDEADLK, gpc_memslot_move(vm, 1, ps));
	expect_fail(vm, -EDEADLK, gpc_memslot_set_flags(vm, 1, 0));
	/* readers nest fine */
	assert_slot(vm, 0, 1, 0, ps, 0, 0);
	gpc_srcu_read_unlock(gpc_vm_srcu(vm));
	expect_change(vm, gpc_memslot_delete(vm, 1));
}

/* ---- unit: mirror hook ------------------------------------------------- */

struct mirror_rec {
	struct gpc_vm *vm;
	int calls, ret;
	bool has_old, has_new;
	struct gpc_memslot_info old, new_slot;
	uint64_t gen_seen; /* generation when the hook ran */
	unsigned int count_seen;
};

static int mirror_fn(void *ctx, const struct gpc_memslot_info *old,
		     const struct gpc_memslot_info *new_slot)
{
	struct mirror_rec *r = ctx;

	r->calls++;
	r->has_old = old != NULL;
	r->has_new = new_slot != NULL;
	if (old)
		r->old = *old;
	if (new_slot)
		r->new_slot = *new_slot;
	/* readers still see the table being replaced */
	r->gen_seen = gpc_memslot_generation(r->vm);
	r->count_seen = gpc_memslot_count(r->vm);
	return r->ret;
}

static void assert_info(const struct gpc_memslot_info *in, uint32_t id,
			uint64_t gpa, uint64_t size, uint64_t hva,
			uint32_t flags, uint64_t gen)
{
	assert_int_equal(in->id, id);
	assert_int_equal(in->gpa, gpa);
	assert_int_equal(in->size, size);
	assert_int_equal(in->hva, hva);
	assert_int_equal(in->flags, flags);
	assert_int_equal(in->generation, gen);
}

static void test_mirror_calls(void **state)
{
	struct gpc_vm *vm = *state;
	struct mirror_rec r = { .vm = vm };

	assert_int_equal(gpc_memslot_set_mirror(vm, mirror_fn, &r), 0);
	/* failed validation never reaches the hook */
	expect_fail(vm, -EINVAL, gpc_memslot_create(vm, 1, 1, ps, 0, 0));
	expect_fail(vm, -ENOENT, gpc_memslot_delete(vm, 1));
	assert_int_equal(r.calls, 0);

	expect_change(vm, gpc_memslot_create(vm, 1, ps, 2 * ps, 8 * ps, 0));
	assert_int_equal(r.calls, 1);
	assert_false(r.has_old);
	assert_true(r.has_new);
	assert_info(&r.new_slot, 1, ps, 2 * ps, 8 * ps, 0, 2);
	assert_int_equal(r.gen_seen, 1);
	assert_int_equal(r.count_seen, 0);

	expect_change(vm, gpc_memslot_move(vm, 1, 4 * ps));
	assert_true(r.has_old && r.has_new);
	assert_info(&r.old, 1, ps, 2 * ps, 8 * ps, 0, 2);
	assert_info(&r.new_slot, 1, 4 * ps, 2 * ps, 8 * ps, 0, 3);

	expect_change(vm, gpc_memslot_set_flags(vm, 1, GPC_MEMSLOT_READONLY));
	assert_true(r.has_old && r.has_new);
	assert_info(&r.old, 1, 4 * ps, 2 * ps, 8 * ps, 0, 3);
	assert_info(&r.new_slot, 1, 4 * ps, 2 * ps, 8 * ps,
		    GPC_MEMSLOT_READONLY, 4);

	expect_change(vm, gpc_memslot_delete(vm, 1));
	assert_true(r.has_old);
	assert_false(r.has_new);
	assert_info(&r.old, 1, 4 * ps, 2 * ps, 8 * ps, GPC_MEMSLOT_READONLY, 4);
	assert_int_equal(r.count_seen, 1);
	assert_int_equal(r.calls, 4);

	/* removed: no more calls */
	assert_int_equal(gpc_memslot_set_mirror(vm, NULL, NULL), 0);
	expect_change(vm, gpc_memslot_create(vm, 1, ps, ps, 0, 0));
	assert_int_equal(r.calls, 4);
}

/* An error from the hook aborts the change, whatever the change. */
static void test_mirror_error(void **state)
{
	struct gpc_vm *vm = *state;
	struct mirror_rec r = { .vm = vm, .ret = -EIO };

	expect_change(vm, gpc_memslot_create(vm, 1, ps, ps, 0, 0));
	assert_int_equal(gpc_memslot_set_mirror(vm, mirror_fn, &r), 0);
	expect_fail(vm, -EIO, gpc_memslot_create(vm, 2, 4 * ps, ps, 0, 0));
	expect_fail(vm, -EIO, gpc_memslot_move(vm, 1, 8 * ps));
	expect_fail(vm, -EIO,
		    gpc_memslot_set_flags(vm, 1, GPC_MEMSLOT_READONLY));
	expect_fail(vm, -EIO, gpc_memslot_delete(vm, 1));
	assert_int_equal(r.calls, 4);
	assert_no_slot(vm, 4 * ps);
	assert_slot(vm, ps, 1, ps, ps, 0, 0);
	r.ret = 0;
	expect_change(vm, gpc_memslot_create(vm, 2, 4 * ps, ps, 0, 0));
	assert_int_equal(gpc_memslot_set_mirror(vm, NULL, NULL), 0);
}

/* ---- unit: a full table ------------------------------------------------ */

/* Slot @id sits at position perm(id) in gpa order, one page with a gap. */
static uint64_t many_gpa(uint32_t id)
{
	return ((uint64_t)id * 7919 % GPC_MEMSLOTS_MAX) * 2 * ps + ps;
}

static uint64_t many_hva(uint32_t id)
{
	return ((uint64_t)id + 1) << 32;
}

/*
 * A full table. Filling it is quadratic (each create copies the table);
 * under TSan and ASan, whose allocators map and unmap every large table,
 * that takes minutes, so they fill a part of it.
 */
static void test_many(void **state)
{
	struct gpc_vm *vm = *state;
	long n = test_iters(GPC_MEMSLOTS_MAX), i;
	uint64_t t0 = test_now_ns(), t1, t2;

	if (TEST_ASAN)
		n /= 8;
	if (n > GPC_MEMSLOTS_MAX)
		n = GPC_MEMSLOTS_MAX;
	test_watchdog_arm(60, "test_many");
	for (i = 0; i < n; i++)
		assert_int_equal(gpc_memslot_create(vm, (uint32_t)i,
						    many_gpa((uint32_t)i), ps,
						    many_hva((uint32_t)i), 0),
				 0);
	t1 = test_now_ns();
	assert_int_equal(gpc_memslot_count(vm), n);
	assert_int_equal(gpc_memslot_generation(vm), 1 + n);
	expect_fail(vm, -EINVAL,
		    gpc_memslot_create(vm, GPC_MEMSLOTS_MAX, 0, ps, 0, 0));
	expect_fail(vm, -EEXIST, gpc_memslot_create(vm, 5, 0, ps, 0, 0));
	for (i = 0; i < n; i++) {
		uint32_t id = (uint32_t)i;
		uint64_t g = many_gpa(id);

		assert_slot(vm, g, id, g, ps, many_hva(id), 0);
		assert_slot(vm, g + ps - 1, id, g, ps, many_hva(id), 0);
		assert_no_slot(vm, g - 1);
		assert_no_slot(vm, g + ps);
	}
	t2 = test_now_ns();
	/* the gap below the first slot is free, and one move fills it */
	expect_change(vm, gpc_memslot_move(vm, 0, 0));
	assert_slot(vm, 0, 0, 0, ps, many_hva(0), 0);
	expect_change(vm, gpc_memslot_delete(vm, (uint32_t)n - 1));
	assert_no_slot(vm, many_gpa((uint32_t)n - 1));
	print_message("%ld creates: %.1f ms; %ld lookups: %.1f ms\n", n,
		      (double)(t1 - t0) / 1e6, 4 * n, (double)(t2 - t1) / 1e6);
	test_watchdog_disarm();
}

/* ---- concurrency ------------------------------------------------------- */

/*
 * Slot ids 0..CONC_IDS-1. Each id has a fixed size and hva, so whatever a
 * reader finds can be checked against the id alone; only the gpa (inside
 * the region) and the flags change.
 */
#define CONC_IDS     48
#define CONC_PAGES   256
#define CONC_BASE    (1ull << 40)
#define CONC_READERS 3

static uint64_t conc_size(uint32_t id)
{
	return (id % 4 + 1) * ps;
}

static uint64_t conc_hva(uint32_t id)
{
	return ((uint64_t)id + 1) << 36;
}

enum conc_err {
	E_NONE,
	E_ID,
	E_GEOMETRY,
	E_RANGE,
	E_GEN_BACK,
	E_GEN_STALE,
	E_GEN_FUTURE,
	E_TORN,
	E_WRITER,
	E_GET,
};

struct conc {
	struct gpc_vm *vm;
	atomic_int stop;
	/* generation after the writer's last change returned */
	_Atomic uint64_t done_gen;
	atomic_long lookups, hits, signals, holds, changes;
	/* first error, and how many */
	atomic_long nerr;
	atomic_int err;
	_Atomic uint64_t err_a, err_b;
};

static struct conc *conc_sig; /* for the signal handler */

/* Async-signal-safe: atomics only. */
static void conc_fail(struct conc *c, enum conc_err e, uint64_t a, uint64_t b)
{
	int none = E_NONE;

	if (atomic_compare_exchange_strong(&c->err, &none, (int)e)) {
		atomic_store(&c->err_a, a);
		atomic_store(&c->err_b, b);
	}
	atomic_fetch_add(&c->nerr, 1);
}

/* Everything in @in follows from its id, and it contains @gpa. */
static bool conc_consistent(struct conc *c, const struct gpc_memslot_info *in,
			    uint64_t gpa)
{
	if (in->id >= CONC_IDS) {
		conc_fail(c, E_ID, in->id, gpa);
		return false;
	}
	if (in->size != conc_size(in->id) || in->hva != conc_hva(in->id) ||
	    (in->gpa & (ps - 1)) || (in->flags & ~GPC_MEMSLOT_FLAGS_ALL)) {
		conc_fail(c, E_GEOMETRY, in->id, in->gpa);
		return false;
	}
	if (gpa < in->gpa || gpa - in->gpa >= in->size) {
		conc_fail(c, E_RANGE, in->gpa, gpa);
		return false;
	}
	return true;
}

static uint64_t conc_rand_gpa(uint64_t *seed)
{
	return CONC_BASE + test_rand(seed) % ((CONC_PAGES + 8) * ps);
}

/*
 * One lookup: a hit must be consistent; its generation must be at least
 * that of every change that had returned before the lookup started, at
 * least the vm's generation read before it, at least that of this reader's
 * previous hit, and not beyond the current one (give or take the one being
 * published).
 */
static void conc_lookup(struct conc *c, uint64_t *seed, uint64_t *last_gen)
{
	uint64_t gpa = conc_rand_gpa(seed);
	uint64_t done = atomic_load(&c->done_gen), now;
	uint64_t before = gpc_memslot_generation(c->vm);
	struct gpc_memslot_info in;

	atomic_fetch_add_explicit(&c->lookups, 1, memory_order_relaxed);
	if (gpc_memslot_lookup(c->vm, gpa, &in))
		return;
	atomic_fetch_add_explicit(&c->hits, 1, memory_order_relaxed);
	if (!conc_consistent(c, &in, gpa))
		return;
	if (in.generation < *last_gen)
		conc_fail(c, E_GEN_BACK, in.generation, *last_gen);
	if (in.generation < done)
		conc_fail(c, E_GEN_STALE, in.generation, done);
	/* what caches rely on: seeing a generation means seeing its table */
	if (in.generation < before)
		conc_fail(c, E_GEN_STALE, in.generation, before);
	/*
	 * The table is published just before the vm's generation, so a
	 * lookup may run one step ahead of gpc_memslot_generation(), never
	 * more: writers publish both under one lock.
	 */
	now = gpc_memslot_generation(c->vm);
	if (in.generation > now + 1)
		conc_fail(c, E_GEN_FUTURE, in.generation, now);
	*last_gen = in.generation;
}

/*
 * Find a slot inside a read section and keep using it for a while: the
 * table it lives in must not be freed or reused meanwhile, however many
 * changes complete.
 */
static void conc_hold(struct conc *c, uint64_t *seed)
{
	const struct gpci_memslot *s;
	struct gpci_memslot copy;
	uint64_t gen;
	int i;

	gpc_srcu_read_lock(&c->vm->srcu);
	s = gpci_memslot_find(c->vm, conc_rand_gpa(seed), &gen);
	if (s) {
		copy = *s;
		for (i = 0; i < 2000; i++)
			gpc_cpu_relax();
		sched_yield();
		if (memcmp(&copy, s, sizeof(copy)))
			conc_fail(c, E_TORN, copy.id, s->id);
		atomic_fetch_add_explicit(&c->holds, 1, memory_order_relaxed);
	}
	gpc_srcu_read_unlock(&c->vm->srcu);
}

static __thread uint64_t sig_seed, sig_last_gen;

static void conc_signal(int sig)
{
	int saved = errno;

	(void)sig;
	if (!sig_seed)
		sig_seed = 0x9e3779b97f4a7c15ull ^ (uint64_t)(uintptr_t)&sig;
	conc_lookup(conc_sig, &sig_seed, &sig_last_gen);
	atomic_fetch_add_explicit(&conc_sig->signals, 1, memory_order_relaxed);
	errno = saved;
}

static void *conc_reader(void *arg)
{
	struct conc *c = arg;
	uint64_t seed = test_now_ns() | 1, last_gen = 0;
	unsigned long n = 0;

	/* A slot of our own before a signal handler may need one. */
	gpc_srcu_register_thread(&c->vm->srcu);
	while (!atomic_load_explicit(&c->stop, memory_order_relaxed)) {
		if (++n % 64 == 0)
			conc_hold(c, &seed);
		else
			conc_lookup(c, &seed, &last_gen);
	}
	return NULL;
}

/* ---- the writers' model ----------------------------------------------- */

struct model {
	bool present[CONC_IDS];
	uint64_t gpa[CONC_IDS];
	uint32_t flags[CONC_IDS];
	uint32_t first, nids; /* ids first .. first+nids-1 */
	uint64_t base, pages; /* gpa region */
};

static bool model_overlaps(const struct model *m, uint32_t skip, uint64_t gpa,
			   uint64_t size)
{
	uint32_t id;

	for (id = m->first; id < m->first + m->nids; id++)
		if (id != skip && m->present[id] &&
		    gpa < m->gpa[id] + conc_size(id) && m->gpa[id] < gpa + size)
			return true;
	return false;
}

/* get() of @id agrees with the model; called by its only writer. */
static void model_check(struct conc *c, const struct model *m, uint32_t id)
{
	struct gpc_memslot_info in;
	int ret = gpc_memslot_get(c->vm, id, &in);

	if (ret != (m->present[id] ? 0 : -ENOENT))
		conc_fail(c, E_GET, id, (uint64_t)-ret);
	else if (!ret && (in.gpa != m->gpa[id] || in.flags != m->flags[id] ||
			  in.hva != conc_hva(id) || in.size != conc_size(id)))
		conc_fail(c, E_GET, id, in.gpa);
}

/* One random change to an id of @m; returns whether it succeeded. */
static bool model_step(struct conc *c, struct model *m, uint64_t *seed)
{
	uint32_t id = m->first + (uint32_t)(test_rand(seed) % m->nids);
	uint64_t gpa = m->base + test_rand(seed) % m->pages * ps;
	uint32_t flags = test_rand(seed) & 1 ? GPC_MEMSLOT_READONLY : 0;
	int op = (int)(test_rand(seed) % 3), want, ret;

	if (!m->present[id]) {
		want = model_overlaps(m, id, gpa, conc_size(id)) ? -EEXIST : 0;
		ret = gpc_memslot_create(c->vm, id, gpa, conc_size(id),
					 conc_hva(id), flags);
	} else if (op == 0) {
		want = 0;
		ret = gpc_memslot_delete(c->vm, id);
	} else if (op == 1) {
		want = model_overlaps(m, id, gpa, conc_size(id)) ? -EEXIST : 0;
		ret = gpc_memslot_move(c->vm, id, gpa);
		flags = m->flags[id];
	} else {
		want = 0;
		ret = gpc_memslot_set_flags(c->vm, id, flags);
		gpa = m->gpa[id];
	}
	if (ret != want)
		conc_fail(c, E_WRITER, id, (uint64_t)(int64_t)ret);
	if (!ret) {
		m->present[id] = !(m->present[id] && op == 0);
		m->gpa[id] = gpa;
		m->flags[id] = flags;
	}
	model_check(c, m, id);
	return ret == 0;
}

struct writer_arg {
	struct conc *c;
	struct model m;
	long successes;
	uint64_t end_ns;
};

/* Several writers, each on its own ids and region, until the deadline. */
static void *conc_writer(void *arg)
{
	struct writer_arg *w = arg;
	struct conc *c = w->c;
	uint64_t seed = (test_now_ns() ^ (uintptr_t)w) | 1;

	while (test_now_ns() < w->end_ns) {
		if (model_step(c, &w->m, &seed)) {
			w->successes++;
			atomic_fetch_add(&c->changes, 1);
		}
	}
	return NULL;
}

static void conc_init(struct conc *c, struct gpc_vm *vm)
{
	memset(c, 0, sizeof(*c));
	c->vm = vm;
	atomic_store(&c->done_gen, gpc_memslot_generation(vm));
	conc_sig = c;
}

static void conc_report(struct conc *c)
{
	print_message("lookups %ld hits %ld holds %ld signals %ld changes "
		      "%ld\n",
		      atomic_load(&c->lookups), atomic_load(&c->hits),
		      atomic_load(&c->holds), atomic_load(&c->signals),
		      atomic_load(&c->changes));
	if (atomic_load(&c->nerr))
		print_error("%ld errors, first %d (%#llx, %#llx)\n",
			    atomic_load(&c->nerr), atomic_load(&c->err),
			    (unsigned long long)atomic_load(&c->err_a),
			    (unsigned long long)atomic_load(&c->err_b));
	assert_int_equal(atomic_load(&c->nerr), 0);
}

static uint64_t conc_duration_ns(void)
{
	uint64_t ms = (uint64_t)(1000 * test_scale());

	return (ms < 200 ? 200 : ms) * 1000000ull;
}

static void start_readers(struct conc *c, pthread_t *t, int n)
{
	int i;

	for (i = 0; i < n; i++)
		assert_int_equal(pthread_create(&t[i], NULL, conc_reader, c),
				 0);
}

static void stop_readers(struct conc *c, pthread_t *t, int n)
{
	int i;

	atomic_store(&c->stop, 1);
	for (i = 0; i < n; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
}

/*
 * One writer (this thread) against reader threads that are also hit by
 * signals whose handlers look slots up. After each change the writer
 * publishes the generation it returned with; lookups that start later must
 * see at least that one.
 */
static void test_conc_readers(void **state)
{
	struct gpc_vm *vm = *state;
	struct sigaction sa = { .sa_handler = conc_signal };
	struct model m = { .first = 0,
			   .nids = CONC_IDS,
			   .base = CONC_BASE,
			   .pages = CONC_PAGES };
	pthread_t t[CONC_READERS];
	uint64_t seed = 42, end = test_now_ns() + conc_duration_ns();
	uint64_t gen = gpc_memslot_generation(vm);
	struct conc c;
	long steps = 0;
	int i;

	test_watchdog_arm(60, "memslot readers vs writer");
	conc_init(&c, vm);
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	assert_int_equal(sigaction(SIGUSR1, &sa, NULL), 0);
	start_readers(&c, t, CONC_READERS);
	while (test_now_ns() < end) {
		if (model_step(&c, &m, &seed)) {
			if (gpc_memslot_generation(vm) != ++gen)
				conc_fail(&c, E_WRITER, gen,
					  gpc_memslot_generation(vm));
			atomic_store(&c.done_gen, gen);
			atomic_fetch_add(&c.changes, 1);
		}
		if (++steps % 16 == 0)
			for (i = 0; i < CONC_READERS; i++)
				pthread_kill(t[i], SIGUSR1);
	}
	stop_readers(&c, t, CONC_READERS);
	signal(SIGUSR1, SIG_DFL);
	conc_report(&c);
	assert_true(atomic_load(&c.changes) > 10);
	assert_true(atomic_load(&c.hits) > 0);
	test_watchdog_disarm();
}

/*
 * Writers on disjoint ids and regions change the table at the same time,
 * with readers watching. Every success is one generation step, and the
 * final table is what the writers' models say.
 */
static void test_conc_writers(void **state)
{
	struct gpc_vm *vm = *state;
	enum { NW = 4 };
	struct writer_arg w[NW];
	pthread_t wt[NW], rt[2];
	uint64_t gen0 = gpc_memslot_generation(vm);
	uint64_t end = test_now_ns() + conc_duration_ns();
	long total = 0;
	unsigned int present = 0;
	struct conc c;
	uint32_t id;
	int i;

	test_watchdog_arm(60, "memslot concurrent writers");
	conc_init(&c, vm);
	start_readers(&c, rt, 2);
	for (i = 0; i < NW; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].c = &c;
		w[i].end_ns = end;
		w[i].m.first = (uint32_t)i * (CONC_IDS / NW);
		w[i].m.nids = CONC_IDS / NW;
		w[i].m.pages = CONC_PAGES / NW - 4; /* room for the last slot */
		w[i].m.base = CONC_BASE + (uint64_t)i * (CONC_PAGES / NW) * ps;
		assert_int_equal(
			pthread_create(&wt[i], NULL, conc_writer, &w[i]), 0);
	}
	for (i = 0; i < NW; i++) {
		assert_int_equal(pthread_join(wt[i], NULL), 0);
		total += w[i].successes;
		for (id = w[i].m.first; id < w[i].m.first + w[i].m.nids; id++) {
			present += w[i].m.present[id];
			model_check(&c, &w[i].m, id);
		}
	}
	stop_readers(&c, rt, 2);
	conc_report(&c);
	assert_int_equal(gpc_memslot_generation(vm), gen0 + (uint64_t)total);
	assert_int_equal(changes(vm), (uint64_t)total);
	assert_int_equal(gpc_memslot_count(vm), present);
	assert_true(total > NW);
	test_watchdog_disarm();
}

/* ---- a change waits for the readers of the old table ----------------- */

struct hold {
	struct gpc_vm *vm;
	atomic_int holding, release, done, intact;
	int ret;
};

static void *hold_reader(void *arg)
{
	struct hold *h = arg;
	const struct gpci_memslot *s;
	struct gpci_memslot copy;
	uint64_t gen;

	gpc_srcu_read_lock(gpc_vm_srcu(h->vm));
	s = gpci_memslot_find(h->vm, 0, &gen);
	if (s)
		copy = *s;
	atomic_store(&h->holding, 1);
	test_wait_flag(&h->release, TEST_PROMPT_MS);
	atomic_store(&h->intact, s && gen == 2 && copy.id == 1 &&
					 !memcmp(&copy, s, sizeof(copy)));
	gpc_srcu_read_unlock(gpc_vm_srcu(h->vm));
	return NULL;
}

static void *hold_writer(void *arg)
{
	struct hold *h = arg;

	h->ret = gpc_memslot_delete(h->vm, 1);
	atomic_store(&h->done, 1);
	return NULL;
}

/*
 * A reader keeps slot 1 inside its section while another thread deletes it:
 * the new table is visible at once, but the delete returns only after the
 * reader has left, and the slot it holds stays intact until then.
 */
static void test_change_waits_for_reader(void **state)
{
	struct gpc_vm *vm = *state;
	struct hold h = { .vm = vm };
	pthread_t r, w;

	test_watchdog_arm(30, "change waits for reader");
	expect_change(vm, gpc_memslot_create(vm, 1, 0, ps, ps, 0));
	assert_int_equal(pthread_create(&r, NULL, hold_reader, &h), 0);
	assert_true(test_wait_flag(&h.holding, TEST_PROMPT_MS));
	assert_int_equal(pthread_create(&w, NULL, hold_writer, &h), 0);
	test_sleep_ms(100);
	assert_false(atomic_load(&h.done));
	assert_int_equal(gpc_memslot_generation(vm), 3);
	assert_no_slot(vm, 0);
	atomic_store(&h.release, 1);
	assert_true(test_wait_flag(&h.done, TEST_PROMPT_MS));
	assert_int_equal(pthread_join(r, NULL), 0);
	assert_int_equal(pthread_join(w, NULL), 0);
	assert_int_equal(h.ret, 0);
	assert_true(atomic_load(&h.intact));
	test_watchdog_disarm();
}

/* A test that gets a fresh vm with default settings in *state. */
#define T(f) cmocka_unit_test_setup_teardown(f, setup_vm, teardown_vm)

int main(int argc, char **argv)
{
	const struct CMUnitTest unit[] = {
		T(test_empty),
		T(test_null_args),
		T(test_create_einval),
		cmocka_unit_test(test_create_max_memslots),
		T(test_create_eexist),
		T(test_lookup_edges),
		T(test_get),
		T(test_find_hint),
		T(test_delete),
		T(test_move),
		T(test_set_flags),
		T(test_writer_in_read_section),
		T(test_mirror_calls),
		T(test_mirror_error),
		T(test_many),
	};
	const struct CMUnitTest concurrency[] = {
		T(test_change_waits_for_reader),
		T(test_conc_readers),
		T(test_conc_writers),
	};
	const char *group = argc > 1 ? argv[1] : "";
	int ret = 0;

	ps = (uint64_t)sysconf(_SC_PAGESIZE);
	if (strcmp(group, "concurrency"))
		ret |= cmocka_run_group_tests_name("memslot", unit, NULL, NULL);
	if (strcmp(group, "unit"))
		ret |= cmocka_run_group_tests_name("memslot concurrency",
						   concurrency, NULL, NULL);
	return ret;
}
