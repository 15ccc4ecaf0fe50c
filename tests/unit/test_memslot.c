// SPDX-License-Identifier: MIT
/*
 * tests/unit/test_memslot.c - the memslot table (gpc/memslot.h).
 *
 * Two groups, chosen by the first argument ("unit", "concurrency", or
 * nothing for both), so that ctest can label them separately:
 *  - unit: every function and error path from one thread; a failed call
 *    changes nothing (generation, slots, counters); overlap at both edges,
 *    adjacent slots, moves onto themselves, the read-only flag, lookups at
 *    the first and last byte of a slot and just outside, the mirror hook,
 *    a table of GPC_MEMSLOTS_MAX slots, a randomized differential test of
 *    lookups against a linear scan over random layouts (one page to 2^62,
 *    GPA 0 to the top), and lookups through a deliberately wrong index;
 *  - concurrency: readers (threads and signal handlers) look slots up while
 *    writers create, move, delete and re-flag them; every result must be
 *    self-consistent, generations never go backwards, a change is visible
 *    to every lookup that starts after it returned, and a slot found inside
 *    a read section stays intact until the section ends; the differential
 *    test again, with readers.
 */
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <gpc/gpc.h>

#include "vm_priv.h"
#include "test_common.h"

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
	expect_fail(vm, -EINVAL, gpc_memslot_create(vm, 2, 0, ps, 0, 1u << 5));
	expect_fail(vm, -EINVAL,
		    gpc_memslot_create(vm, 2, 0, ps, 0, 0x80000000u));
	/* EINVAL wins over EEXIST/EADDRINUSE: id and range both in use */
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
	expect_fail(vm, -EADDRINUSE,
		    gpc_memslot_create(vm, 2, a, 4 * ps, 0, 0));
	expect_fail(vm, -EADDRINUSE,
		    gpc_memslot_create(vm, 2, a - ps, 6 * ps, 0, 0));
	expect_fail(vm, -EADDRINUSE,
		    gpc_memslot_create(vm, 2, a + ps, ps, 0, 0));
	/* one page over the low edge, one page over the high edge */
	expect_fail(vm, -EADDRINUSE,
		    gpc_memslot_create(vm, 2, a - ps, 2 * ps, 0, 0));
	expect_fail(vm, -EADDRINUSE,
		    gpc_memslot_create(vm, 2, a + 3 * ps, 2 * ps, 0, 0));
	/* adjacent on both sides is fine */
	expect_change(vm, gpc_memslot_create(vm, 2, a - ps, ps, 0, 0));
	expect_change(vm, gpc_memslot_create(vm, 3, a + 4 * ps, ps, 0, 0));
	/* a gap of exactly the slot's size between two slots */
	expect_change(vm, gpc_memslot_create(vm, 4, a + 6 * ps, ps, 0, 0));
	expect_fail(vm, -EADDRINUSE,
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
	assert_int_equal(atomic_load(&rs->user[GPCI_SLOT_MEMSLOT_HINT]), 3);
	assert_ptr_equal(gpci_memslot_find(vm, 6 * ps, &gen), s);
	assert_null(gpci_memslot_find(vm, 7 * ps, &gen));
	assert_int_equal(atomic_load(&rs->user[GPCI_SLOT_MEMSLOT_HINT]), 3);
	s = gpci_memslot_find(vm, 14 * ps + ps - 1, &gen);
	assert_int_equal(s->id, 7);
	assert_int_equal(atomic_load(&rs->user[GPCI_SLOT_MEMSLOT_HINT]), 7);
	s = gpci_memslot_find(vm, 0, &gen);
	assert_int_equal(s->id, 0);
	assert_int_equal(atomic_load(&rs->user[GPCI_SLOT_MEMSLOT_HINT]), 0);
	/* A stale or foreign hint is only a hint. */
	atomic_store(&rs->user[GPCI_SLOT_MEMSLOT_HINT], 5);
	s = gpci_memslot_find(vm, 4 * ps, &gen);
	assert_int_equal(s->id, 2);
	assert_int_equal(atomic_load(&rs->user[GPCI_SLOT_MEMSLOT_HINT]), 2);
	atomic_store(&rs->user[GPCI_SLOT_MEMSLOT_HINT], ~0u);
	s = gpci_memslot_find(vm, 12 * ps + 1, &gen);
	assert_int_equal(s->id, 6);
	assert_int_equal(atomic_load(&rs->user[GPCI_SLOT_MEMSLOT_HINT]), 6);
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
	expect_fail(vm, -EADDRINUSE, gpc_memslot_move(vm, 1, a + 5 * ps));
	expect_fail(vm, -EADDRINUSE, gpc_memslot_move(vm, 1, a + 9 * ps));
	/* onto itself: nothing changes, no generation bump (caches keep
	 * hitting); overlapping its own old range: allowed */
	expect_fail(vm, 0, gpc_memslot_move(vm, 1, a));
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
	expect_fail(vm, -EINVAL, gpc_memslot_set_flags(vm, 4, 1u << 5));
	expect_fail(vm, -EINVAL, gpc_memslot_set_flags(vm, 5, 1u << 5));
	expect_fail(vm, -ENOENT, gpc_memslot_set_flags(vm, 5, 0));
	expect_fail(vm, -ENOENT,
		    gpc_memslot_set_flags(vm, GPC_MEMSLOTS_MAX, 0));
	expect_change(vm, gpc_memslot_set_flags(vm, 4, GPC_MEMSLOT_READONLY));
	assert_slot(vm, 0, 4, 0, ps, 0, GPC_MEMSLOT_READONLY);
	/* the same flags again change nothing: no generation bump */
	expect_fail(vm, 0, gpc_memslot_set_flags(vm, 4, GPC_MEMSLOT_READONLY));
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

	/* AddressSanitizer's allocator, like TSan's, maps every large table
	 * anew. */
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

/* ---- randomized differential test against a linear scan --------------- */

/*
 * Random layouts built by random creates, deletes, moves and flag changes,
 * checked after every change against a model whose lookup is a linear scan
 * over all ids. Sizes go from one page to 2^62 and positions from GPA 0 to
 * the top of the address space, at random, in a region, adjacent to other
 * slots or at the edges, so the index sees tiny and huge slots, shared and
 * empty chunks, big slots, rebuilds with a new chunk shift and incremental
 * updates of every kind. Each id keeps one size and hva for the whole run,
 * so that a concurrent reader can check what it finds by the id alone.
 *
 * After every change gpci_memslots_verify() checks the index exactly (a
 * wrong entry would only make lookups slower, since they check what it
 * says). The probes are white-box where it matters: for each checked slot, both
 * ends of each chunk of it that the index has an entry for (from the
 * table's current shift), a few of its inner points and the bytes just
 * outside it; plus vacated ranges, random addresses and the edges of the
 * address space. Every probe is looked up twice: once with the thread's
 * hint pointing elsewhere, so that it goes through the index, and once
 * more, through the hint.
 */
#define DIFF_MAX_IDS 3072
#define DIFF_TOP     (~0ull - ps + 1) /* highest end a slot may have */
#define DIFF_VACATED 16

enum { SZ_TINY, SZ_SMALL, SZ_MEDIUM, SZ_LARGE, SZ_HUGE, SZ_GIANT, NR_SZ };
enum { PL_ANY, PL_REGION, PL_ADJACENT, PL_EDGE, PL_BAD, NR_PL };
enum { OP_CREATE, OP_DELETE, OP_MOVE, OP_FLAGS, NR_OP };

struct diff_scenario {
	const char *name;
	unsigned int nids;
	unsigned int size_w[NR_SZ];
	unsigned int place_w[NR_PL];
	unsigned int op_w[NR_OP];
	uint64_t region_base, region_pages;
	bool spread_large; /* slots of a GiB and more go anywhere */
	long steps;
	unsigned int check_slots; /* slots probed per step */
};

struct diff {
	struct gpc_vm *vm;
	const struct diff_scenario *sc; /* the writer's */
	unsigned int nids;		/* sc->nids, for readers too */
	uint64_t seed;
	uint64_t size[DIFF_MAX_IDS], hva[DIFF_MAX_IDS], gpa[DIFF_MAX_IDS];
	uint32_t flags[DIFF_MAX_IDS];
	bool present[DIFF_MAX_IDS];
	unsigned int npresent;
	uint64_t vacated[DIFF_VACATED][2]; /* ranges slots left */
	unsigned int nvacated;
	long changes, lookups, dense_lookups;
	bool corrupt; /* the test broke the index on purpose */
	/* concurrent runs: told every successful change, and every step;
	 * stop early at the deadline (if not 0) */
	_Atomic uint64_t *done_gen;
	void (*tick)(struct diff *d, long step);
	uint64_t deadline;
	/* for concurrent readers: an address inside each id's slot */
	_Atomic uint64_t inside[DIFF_MAX_IDS];
};

static uint64_t diff_rand(struct diff *d, uint64_t n)
{
	return n ? test_rand(&d->seed) % n : 0;
}

static unsigned int diff_pick(struct diff *d, const unsigned int *w,
			      unsigned int n)
{
	unsigned int i, sum = 0, x;

	for (i = 0; i < n; i++)
		sum += w[i];
	x = (unsigned int)diff_rand(d, sum);
	for (i = 0; x >= w[i]; i++)
		x -= w[i];
	return i;
}

static uint64_t diff_pages(struct diff *d, uint64_t lo, uint64_t hi)
{
	return (lo + diff_rand(d, hi - lo + 1)) * ps;
}

static uint64_t diff_size(struct diff *d)
{
	switch (diff_pick(d, d->sc->size_w, NR_SZ)) {
	case SZ_TINY:
		return ps;
	case SZ_SMALL:
		return diff_pages(d, 2, 8);
	case SZ_MEDIUM:
		return diff_pages(d, 16, 4096);
	case SZ_LARGE:
		return (1ull << 30) * (1 + diff_rand(d, 64)) +
		       diff_pages(d, 0, 1000);
	case SZ_HUGE:
		return (1ull << (40 + diff_rand(d, 11))) +
		       diff_pages(d, 0, 1000);
	default:
		return 1ull << (58 + diff_rand(d, 5));
	}
}

/* A base for a slot of @size; may be invalid (PL_BAD) or overlap. */
static uint64_t diff_place(struct diff *d, uint64_t size)
{
	uint64_t room = DIFF_TOP - size, g;
	unsigned int pl = diff_pick(d, d->sc->place_w, NR_PL);
	uint32_t id;

	if (d->sc->spread_large && size >= 1ull << 30)
		pl = PL_ANY;
	switch (pl) {
	case PL_ANY:
		return (test_rand(&d->seed) % (room + 1)) & ~(ps - 1);
	case PL_REGION:
		g = d->sc->region_base + diff_rand(d, d->sc->region_pages) * ps;
		return g > room ? room : g;
	case PL_ADJACENT:
		id = (uint32_t)diff_rand(d, d->sc->nids);
		if (!d->present[id])
			return d->sc->region_base;
		if (diff_rand(d, 2))
			return d->gpa[id] + d->size[id] > room ?
				       room :
				       d->gpa[id] + d->size[id];
		return d->gpa[id] >= size ? d->gpa[id] - size : 0;
	case PL_EDGE:
		switch (diff_rand(d, 5)) {
		case 0:
			return 0;
		case 1:
			return room; /* ends at the top */
		case 2:
			return 1ull << 63;
		case 3:
			/* ends or starts on a large power of two */
			g = 1ull << (20 + diff_rand(d, 43));
			return g >= size ? g - size : g;
		default:
			return room >= ps ? room - ps : 0;
		}
	default:
		/* past the top: the end would wrap */
		return (~0ull - size / 2) & ~(ps - 1);
	}
}

static bool diff_valid(uint64_t gpa, uint64_t size)
{
	uint64_t end;

	return !__builtin_add_overflow(gpa, size, &end);
}

static bool diff_overlaps(const struct diff *d, uint32_t skip, uint64_t gpa,
			  uint64_t size)
{
	uint32_t id;

	for (id = 0; id < d->sc->nids; id++)
		if (id != skip && d->present[id] &&
		    gpa < d->gpa[id] + d->size[id] && d->gpa[id] < gpa + size)
			return true;
	return false;
}

/* The model's lookup: a linear scan. */
static int diff_ref(const struct diff *d, uint64_t gpa)
{
	uint32_t id;

	for (id = 0; id < d->sc->nids; id++)
		if (d->present[id] && gpa >= d->gpa[id] &&
		    gpa - d->gpa[id] < d->size[id])
			return (int)id;
	return -1;
}

static void diff_vacate(struct diff *d, uint32_t id)
{
	uint64_t *v = d->vacated[d->nvacated++ % DIFF_VACATED];

	v[0] = d->gpa[id];
	v[1] = d->size[id];
}

/* Look @gpa up, through the index and then through the hint. */
static void diff_probe(struct diff *d, uint64_t gpa)
{
	struct gpc_srcu_slot *rs = gpc_srcu_slot_of(gpc_vm_srcu(d->vm));
	int want = diff_ref(d, gpa), pass;

	for (pass = 0; pass < 2; pass++) {
		struct gpc_memslot_info in;
		int ret;

		if (!pass)
			atomic_store(&rs->user[GPCI_SLOT_MEMSLOT_HINT], ~0u);
		ret = gpc_memslot_lookup(d->vm, gpa, &in);
		d->lookups++;
		if (want < 0) {
			if (ret != -ENOENT)
				fail_msg(
					"%s: %#llx: found slot %u [%#llx, +%#llx), "
					"expected none (ret %d)",
					d->sc->name, (unsigned long long)gpa,
					in.id, (unsigned long long)in.gpa,
					(unsigned long long)in.size, ret);
			continue;
		}
		if (ret || in.id != (uint32_t)want)
			fail_msg("%s: %#llx: ret %d id %u, expected slot %d "
				 "[%#llx, +%#llx)",
				 d->sc->name, (unsigned long long)gpa, ret,
				 ret ? 0 : in.id, want,
				 (unsigned long long)d->gpa[want],
				 (unsigned long long)d->size[want]);
		assert_int_equal(in.gpa, d->gpa[want]);
		assert_int_equal(in.size, d->size[want]);
		assert_int_equal(in.hva, d->hva[want]);
		assert_int_equal(in.flags, d->flags[want]);
		assert_int_equal(in.generation, gpc_memslot_generation(d->vm));
	}
}

/* Both ends of a chunk, clamped into [lo, hi]. */
static void diff_probe_chunk(struct diff *d, uint64_t c, unsigned int shift,
			     uint64_t lo, uint64_t hi)
{
	uint64_t base = c << shift, last = base + ((1ull << shift) - 1);

	diff_probe(d, base < lo ? lo : base);
	diff_probe(d, last > hi ? hi : last);
}

/* Probes around slot @id (see the comment at the top). */
static void diff_check_slot(struct diff *d, uint32_t id, unsigned int shift)
{
	uint64_t g = d->gpa[id], last = g + (d->size[id] - 1);
	uint64_t first = g >> shift, lastc = last >> shift, c;

	diff_probe(d, g);
	diff_probe(d, last);
	diff_probe(d, g + (test_rand(&d->seed) % d->size[id]));
	if (g)
		diff_probe(d, g - 1);
	if (last != ~0ull)
		diff_probe(d, last + 1);
	for (c = first; c <= lastc && c - first < 4; c++)
		diff_probe_chunk(d, c, shift, g, last);
	for (c = lastc; c > first && lastc - c < 4; c--)
		diff_probe_chunk(d, c, shift, g, last);
}

static void diff_check(struct diff *d, bool full)
{
	struct gpci_memslots *t = atomic_load(&d->vm->ms.table);
	unsigned int shift = t->shift, k, n = d->sc->check_slots;
	long before = d->lookups;
	uint32_t id;

	assert_int_equal(gpc_memslot_count(d->vm), d->npresent);
	if (!d->corrupt)
		assert_int_equal(gpci_memslots_verify(d->vm), 0);
	if (full || d->npresent <= n) {
		for (id = 0; id < d->sc->nids; id++)
			if (d->present[id])
				diff_check_slot(d, id, shift);
	} else {
		for (k = 0; k < n; k++) {
			id = (uint32_t)diff_rand(d, d->sc->nids);
			if (d->present[id])
				diff_check_slot(d, id, shift);
		}
	}
	for (k = 0; k < DIFF_VACATED && k < d->nvacated; k++) {
		uint64_t *v = d->vacated[k];

		diff_probe(d, v[0]);
		diff_probe(d, v[0] + (v[1] - 1));
		diff_probe(d, v[0] + diff_rand(d, v[1]));
	}
	for (k = 0; k < 8; k++) {
		diff_probe(d, test_rand(&d->seed));
		diff_probe(d, d->sc->region_base +
				      diff_rand(d, (d->sc->region_pages + 8) *
							   ps));
	}
	diff_probe(d, 0);
	diff_probe(d, ~0ull);
	diff_probe(d, 1ull << 63);
	diff_probe(d, (1ull << 63) - 1);
	id = (uint32_t)diff_rand(d, d->sc->nids);
	if (d->present[id]) {
		struct gpc_memslot_info in;

		assert_int_equal(gpc_memslot_get(d->vm, id, &in), 0);
		assert_int_equal(in.gpa, d->gpa[id]);
	} else {
		struct gpc_memslot_info in;

		assert_int_equal(gpc_memslot_get(d->vm, id, &in), -ENOENT);
	}
	if (t->ndense)
		d->dense_lookups += d->lookups - before;
}

static void diff_init(struct diff *d, struct gpc_vm *vm,
		      const struct diff_scenario *sc, uint64_t seed)
{
	uint32_t id;

	memset(d, 0, sizeof(*d));
	d->vm = vm;
	d->sc = sc;
	d->seed = seed | 1;
	d->nids = sc->nids;
	assert_true(sc->nids <= DIFF_MAX_IDS);
	for (id = 0; id < sc->nids; id++) {
		d->size[id] = diff_size(d);
		d->hva[id] = ((uint64_t)id + 1) << 20;
	}
}

/* One random change; the model follows it. Returns whether it succeeded. */
static bool diff_step(struct diff *d)
{
	uint32_t id = (uint32_t)diff_rand(d, d->sc->nids);
	unsigned int op = diff_pick(d, d->sc->op_w, NR_OP);
	uint64_t size = d->size[id], gpa = diff_place(d, size);
	uint32_t flags = diff_rand(d, 2) ? GPC_MEMSLOT_READONLY : 0;
	int want, ret;

	if (!d->present[id] || op == OP_CREATE) {
		if (!diff_valid(gpa, size))
			want = -EINVAL;
		else if (d->present[id])
			want = -EEXIST;
		else
			want = diff_overlaps(d, id, gpa, size) ? -EADDRINUSE :
								 0;
		ret = gpc_memslot_create(d->vm, id, gpa, size, d->hva[id],
					 flags);
		op = OP_CREATE;
	} else if (op == OP_DELETE) {
		want = 0;
		ret = gpc_memslot_delete(d->vm, id);
	} else if (op == OP_MOVE) {
		if (!diff_valid(gpa, size))
			want = -EINVAL;
		else
			want = diff_overlaps(d, id, gpa, size) ? -EADDRINUSE :
								 0;
		ret = gpc_memslot_move(d->vm, id, gpa);
	} else {
		want = 0;
		ret = gpc_memslot_set_flags(d->vm, id, flags);
	}
	if (ret != want)
		fail_msg("%s: op %u id %u [%#llx, +%#llx): %d, expected %d",
			 d->sc->name, op, id, (unsigned long long)gpa,
			 (unsigned long long)size, ret, want);
	if (ret)
		return false;
	d->changes++;
	switch (op) {
	case OP_CREATE:
		d->present[id] = true;
		d->npresent++;
		d->gpa[id] = gpa;
		d->flags[id] = flags;
		break;
	case OP_DELETE:
		diff_vacate(d, id);
		d->present[id] = false;
		d->npresent--;
		break;
	case OP_MOVE:
		diff_vacate(d, id);
		d->gpa[id] = gpa;
		break;
	default:
		d->flags[id] = flags;
	}
	if (d->present[id])
		atomic_store_explicit(&d->inside[id],
				      d->gpa[id] + diff_rand(d, d->size[id]),
				      memory_order_relaxed);
	if (d->done_gen)
		atomic_store(d->done_gen, gpc_memslot_generation(d->vm));
	return true;
}

/*
 * Creates weighted over deletes, so tables grow to their id count and
 * shrink again when the weights are inverted (halfway through).
 */
static void diff_run(struct diff *d)
{
	long steps = test_iters(d->sc->steps), i;
	struct diff_scenario sc = *d->sc;

	for (i = 0; i < steps; i++) {
		if (i == steps / 2) {
			unsigned int w = sc.op_w[OP_CREATE];

			sc.op_w[OP_CREATE] = sc.op_w[OP_DELETE];
			sc.op_w[OP_DELETE] = w;
			d->sc = &sc;
		}
		diff_step(d);
		diff_check(d, i % 512 == 511);
		if (d->tick)
			d->tick(d, i);
		if (d->deadline && test_now_ns() > d->deadline)
			break;
	}
	diff_check(d, true);
	d->sc = NULL;
}

static const struct diff_scenario diff_scenarios[] = {
	{
		/* one-page slots packed in a small region: shift stays at
		 * the page, adjacency everywhere */
		.name = "tiny dense",
		.nids = 256,
		.size_w = { [SZ_TINY] = 1 },
		.place_w = { [PL_REGION] = 3, [PL_ADJACENT] = 2 },
		.op_w = { 6, 3, 3, 1 },
		.region_base = 1ull << 32,
		.region_pages = 512,
		.steps = 3000,
		.check_slots = 24,
	},
	{
		/* every size, every placement */
		.name = "mixed",
		.nids = 64,
		.size_w = { 3, 3, 3, 2, 2, 1 },
		.place_w = { 2, 3, 3, 2, 1 },
		.op_w = { 6, 3, 4, 1 },
		.region_base = 1ull << 40,
		.region_pages = 1 << 22,
		.steps = 3000,
		.check_slots = 64,
	},
	{
		/* large and huge slots near 0, 2^63 and the top */
		.name = "huge edges",
		.nids = 24,
		.size_w = { 2, 1, 1, 2, 3, 1 },
		.place_w = { 1, 1, 3, 4, 1 },
		.op_w = { 6, 3, 4, 1 },
		.region_base = (1ull << 63) - (1ull << 36),
		.region_pages = 1 << 25,
		.steps = 2000,
		.check_slots = 24,
	},
	{
		/* more big slots than the shift can make small, since tiny
		 * ones share chunks: the big list takes many entries */
		.name = "big list",
		.nids = 160,
		.size_w = { 6, 1, 1, 3, 1, 0 },
		.place_w = { 0, 2, 5, 0, 0 },
		.op_w = { 6, 2, 3, 1 },
		.region_base = 1ull << 36,
		.region_pages = 1024,
		.spread_large = true,
		.steps = 2000,
		.check_slots = 32,
	},
	{
		/* thousands of slots: rebuilds at several sizes, long
		 * tables, index copies that move positions */
		.name = "many",
		.nids = DIFF_MAX_IDS,
		.size_w = { 6, 3, 1, 0, 0, 0 },
		.place_w = { 0, 5, 3, 0, 0 },
		.op_w = { 8, 2, 3, 1 },
		.region_base = 1ull << 34,
		.region_pages = 1 << 18,
		.steps = 5000,
		.check_slots = 6,
	},
};

static void test_lookup_differential(void **state)
{
	struct gpc_vm *vm = *state;
	struct diff *d = calloc(1, sizeof(*d));
	size_t k;

	long dense = 0, hashed = 0;

	assert_non_null(d);
	test_watchdog_arm(120, "memslot differential");
	for (k = 0; k < sizeof(diff_scenarios) / sizeof(diff_scenarios[0]);
	     k++) {
		struct gpci_memslots *t;
		uint32_t id;

		diff_init(d, vm, &diff_scenarios[k], 0x5eed0000 + k);
		diff_run(d);
		t = atomic_load(&vm->ms.table);
		print_message("%s: %ld changes, %ld lookups (%ld with a dense "
			      "index), %u slots at the end, shift %u, %s "
			      "index of %u, %u big\n",
			      diff_scenarios[k].name, d->changes, d->lookups,
			      d->dense_lookups, d->npresent, t->shift,
			      t->ndense ? "dense" : "hashed",
			      t->ndense ? t->ndense : t->mask + 1, t->nbig);
		dense += d->dense_lookups;
		hashed += d->lookups - d->dense_lookups;
		for (id = 0; id < diff_scenarios[k].nids; id++)
			if (d->present[id])
				assert_int_equal(gpc_memslot_delete(vm, id), 0);
		assert_int_equal(gpc_memslot_count(vm), 0);
	}
	/* Both forms of the index saw many lookups. */
	assert_true(dense > 1000 && hashed > 1000);
	free(d);
	test_watchdog_disarm();
}

/*
 * Lookups never trust the index's candidates: with every entry of the
 * current table pointing at the wrong slot (all at the first, all at the
 * last, at random), each lookup is still exact, through the checks of the
 * candidate and the binary search behind them; also with positions past
 * the last slot. Only the absence of an entry is trusted, so entries are
 * redirected, not removed. Both forms of the index: one-page slots in a
 * small region make a dense one, sizes up to GiBs spread out a hashed one.
 */
static const struct diff_scenario untrusted_sc[] = {
	{
		.name = "untrusted dense",
		.nids = 200,
		.size_w = { [SZ_TINY] = 1 },
		.place_w = { [PL_REGION] = 1 },
		.op_w = { [OP_CREATE] = 1 },
		.region_base = 1ull << 33,
		.region_pages = 400,
		.steps = 400,
		.check_slots = 200,
	},
	{
		.name = "untrusted hashed",
		.nids = 200,
		.size_w = { 4, 3, 2, 1, 1, 0 },
		.place_w = { 1, 4, 4, 1, 0 },
		.op_w = { [OP_CREATE] = 1 },
		.region_base = 1ull << 33,
		.region_pages = 1 << 14,
		.steps = 400,
		.check_slots = 200,
	},
};

/* Position @p of @t broken as @mode says. */
static uint32_t untrusted_pos(struct diff *d, struct gpci_memslots *t,
			      unsigned int mode)
{
	return mode == 0 ? 0 :
	       mode == 1 ? t->n - 1 :
	       mode == 2 ? (uint32_t)diff_rand(d, t->n) :
			   t->n + (uint32_t)diff_rand(d, 0x7fff - t->n);
}

static void test_index_untrusted(void **state)
{
	struct gpc_vm *vm = *state;
	struct diff *d = calloc(1, sizeof(*d));
	unsigned int form, mode, i, live;
	long k;

	assert_non_null(d);
	for (form = 0; form < 2; form++) {
		const struct diff_scenario *sc = &untrusted_sc[form];
		struct gpci_memslots *t;

		diff_init(d, vm, sc, 77);
		for (k = 0; k < sc->steps; k++)
			diff_step(d);
		assert_int_equal(gpci_memslots_verify(vm), 0);
		t = atomic_load(&vm->ms.table);
		assert_true(t->n > 100);
		assert_int_equal(!!t->ndense, form == 0);
		for (mode = 0; mode < 4; mode++) {
			live = 0;
			for (i = 0; i < t->ndense; i++)
				if (t->dindex[i] != 0xffff) {
					t->dindex[i] = (uint16_t)untrusted_pos(
						d, t, mode);
					live++;
				}
			for (i = 0; !t->ndense && i <= t->mask; i++) {
				uint32_t e = t->index[i];

				if (e & 0x8000) /* empty or removed */
					continue;
				t->index[i] = (e & ~0xffffu) |
					      untrusted_pos(d, t, mode);
				live++;
			}
			assert_true(live > 100);
			d->corrupt = true;
			diff_check(d, true);
		}
		/*
		 * Later changes would update the broken index, not rebuild
		 * it: the next form starts on a fresh vm (destroying one
		 * only frees its table).
		 */
		assert_int_equal(gpc_vm_destroy(vm), 0);
		assert_int_equal(gpc_vm_create(NULL, &vm), 0);
		*state = vm;
	}
	free(d);
}

/*
 * The edges of a dense index: slots that start inside its range and end
 * past it, or start below it, must make the writer build a larger index
 * rather than write past the array; a slot far away makes it hashed.
 */
static void test_dense_edges(void **state)
{
	struct gpc_vm *vm = *state;
	struct gpci_memslots *t;
	uint64_t step = 1ull << 20, g, size;
	unsigned int shift;
	uint32_t id;

	for (id = 0; id < 64; id++)
		expect_change(vm, gpc_memslot_create(vm, id,
						     (1ull << 32) + id * step,
						     ps, id * ps, 0));
	t = atomic_load(&vm->ms.table);
	assert_int_not_equal(t->ndense, 0);
	shift = t->shift;
	assert_int_equal(shift, 20);
	/* the last chunk of the range and the one after it */
	g = (t->base + t->ndense - 1) << shift;
	size = 2ull << shift;
	expect_change(vm, gpc_memslot_create(vm, 100, g, size, 0, 0));
	assert_int_equal(gpci_memslots_verify(vm), 0);
	assert_slot(vm, g, 100, g, size, 0, 0);
	assert_slot(vm, g + size - 1, 100, g, size, 0, 0);
	/* the chunk below the range and the first one of it */
	t = atomic_load(&vm->ms.table);
	assert_int_not_equal(t->ndense, 0);
	assert_true(t->base > 0);
	g = (t->base - 1) << t->shift;
	size = 2ull << t->shift;
	expect_change(vm, gpc_memslot_create(vm, 101, g, size, 0, 0));
	assert_int_equal(gpci_memslots_verify(vm), 0);
	assert_slot(vm, g, 101, g, size, 0, 0);
	assert_slot(vm, g + size - 1, 101, g, size, 0, 0);
	/* far away: the range would be too sparse */
	expect_change(vm, gpc_memslot_create(vm, 102, 1ull << 50, ps, 0, 0));
	assert_int_equal(gpci_memslots_verify(vm), 0);
	t = atomic_load(&vm->ms.table);
	assert_int_equal(t->ndense, 0);
	assert_slot(vm, 1ull << 50, 102, 1ull << 50, ps, 0, 0);
	for (id = 0; id < 64; id++)
		assert_slot(vm, (1ull << 32) + id * step + 5, id,
			    (1ull << 32) + id * step, ps, id * ps, 0);
	/* and back: dense again once the far slot goes (at the periodic
	 * rebuild, within as many changes as there are slots) */
	expect_change(vm, gpc_memslot_delete(vm, 102));
	for (id = 0; id < 200 && !atomic_load(&vm->ms.table)->ndense; id++)
		expect_change(vm,
			      gpc_memslot_set_flags(
				      vm, id % 64,
				      id / 64 % 2 ? 0 : GPC_MEMSLOT_READONLY));
	assert_true(id < 100);
	assert_int_equal(gpci_memslots_verify(vm), 0);
	assert_no_slot(vm, 1ull << 50);
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

	gpc_srcu_read_lock(c->vm->srcu);
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
	gpc_srcu_read_unlock(c->vm->srcu);
}

static __thread uint64_t sig_seed, sig_last_gen;

/* What the handler checks: conc_lookup, or dconc_lookup in the
 * differential run. */
static void (*conc_sig_lookup)(struct conc *c, uint64_t *seed,
			       uint64_t *last_gen);

static void conc_signal(int sig)
{
	int saved = errno;

	(void)sig;
	if (!sig_seed)
		sig_seed = 0x9e3779b97f4a7c15ull ^ (uint64_t)(uintptr_t)&sig;
	conc_sig_lookup(conc_sig, &sig_seed, &sig_last_gen);
	atomic_fetch_add_explicit(&conc_sig->signals, 1, memory_order_relaxed);
	errno = saved;
}

static void *conc_reader(void *arg)
{
	struct conc *c = arg;
	uint64_t seed = test_now_ns() | 1, last_gen = 0;
	unsigned long n = 0;

	/* A slot of our own before a signal handler may need one. */
	gpc_srcu_register_thread(c->vm->srcu);
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

/* One random change to an id of @m; returns whether it changed the table. */
static bool model_step(struct conc *c, struct model *m, uint64_t *seed)
{
	uint32_t id = m->first + (uint32_t)(test_rand(seed) % m->nids);
	uint64_t gpa = m->base + test_rand(seed) % m->pages * ps;
	uint32_t flags = test_rand(seed) & 1 ? GPC_MEMSLOT_READONLY : 0;
	int op = (int)(test_rand(seed) % 3), want, ret;
	bool noop;

	if (!m->present[id]) {
		want = model_overlaps(m, id, gpa, conc_size(id)) ? -EADDRINUSE :
								   0;
		ret = gpc_memslot_create(c->vm, id, gpa, conc_size(id),
					 conc_hva(id), flags);
	} else if (op == 0) {
		want = 0;
		ret = gpc_memslot_delete(c->vm, id);
	} else if (op == 1) {
		want = model_overlaps(m, id, gpa, conc_size(id)) ? -EADDRINUSE :
								   0;
		ret = gpc_memslot_move(c->vm, id, gpa);
		flags = m->flags[id];
	} else {
		want = 0;
		ret = gpc_memslot_set_flags(c->vm, id, flags);
		gpa = m->gpa[id];
	}
	if (ret != want)
		conc_fail(c, E_WRITER, id, (uint64_t)(int64_t)ret);
	/* A move to its own gpa, or the flags it has: no change at all. */
	noop = m->present[id] && op && gpa == m->gpa[id] &&
	       flags == m->flags[id];
	if (!ret) {
		m->present[id] = !(m->present[id] && op == 0);
		m->gpa[id] = gpa;
		m->flags[id] = flags;
	}
	model_check(c, m, id);
	return ret == 0 && !noop;
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
	conc_sig_lookup = conc_lookup;
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

/*
 * The differential run with readers: reader threads, and signal handlers
 * that interrupt them, look up addresses inside the slots the writer placed
 * and anywhere while this thread changes the layout and checks every step
 * as the unit test does. Each id keeps one size and hva, so a reader checks
 * what it finds by the id, and that it contains the address; generations
 * never go back and are at least the one published before the lookup.
 */
static struct diff *dconc_diff; /* for the readers and the handler */

static void dconc_lookup(struct conc *c, uint64_t *seed, uint64_t *last_gen)
{
	struct diff *d = dconc_diff;
	uint64_t r = test_rand(seed), gpa;
	uint64_t done = atomic_load(&c->done_gen), now;
	uint64_t before = gpc_memslot_generation(c->vm);
	struct gpc_memslot_info in;

	if (r & 3)
		gpa = atomic_load_explicit(&d->inside[r % d->nids],
					   memory_order_relaxed) +
		      (test_rand(seed) & 3) - 1;
	else
		gpa = test_rand(seed);
	atomic_fetch_add_explicit(&c->lookups, 1, memory_order_relaxed);
	if (gpc_memslot_lookup(c->vm, gpa, &in))
		return;
	atomic_fetch_add_explicit(&c->hits, 1, memory_order_relaxed);
	if (in.id >= d->nids) {
		conc_fail(c, E_ID, in.id, gpa);
		return;
	}
	if (in.size != d->size[in.id] || in.hva != d->hva[in.id])
		conc_fail(c, E_GEOMETRY, in.id, in.gpa);
	if (gpa < in.gpa || gpa - in.gpa >= in.size)
		conc_fail(c, E_RANGE, in.gpa, gpa);
	if (in.generation < *last_gen)
		conc_fail(c, E_GEN_BACK, in.generation, *last_gen);
	if (in.generation < done || in.generation < before)
		conc_fail(c, E_GEN_STALE, in.generation, done);
	now = gpc_memslot_generation(c->vm);
	if (in.generation > now + 1)
		conc_fail(c, E_GEN_FUTURE, in.generation, now);
	*last_gen = in.generation;
}

static void *dconc_reader(void *arg)
{
	struct conc *c = arg;
	uint64_t seed = test_now_ns() | 1, last_gen = 0;

	gpc_srcu_register_thread(c->vm->srcu);
	while (!atomic_load_explicit(&c->stop, memory_order_relaxed))
		dconc_lookup(c, &seed, &last_gen);
	return NULL;
}

static pthread_t dconc_threads[CONC_READERS];

static void dconc_tick(struct diff *d, long step)
{
	int i;

	(void)d;
	if (step % 8 == 0)
		for (i = 0; i < CONC_READERS; i++)
			pthread_kill(dconc_threads[i], SIGUSR1);
}

static void test_conc_differential(void **state)
{
	struct gpc_vm *vm = *state;
	struct sigaction sa = { .sa_handler = conc_signal };
	struct diff *d = calloc(1, sizeof(*d));
	static const size_t pick[] = { 1, 3, 4 }; /* mixed, big list, many */
	struct conc c;
	size_t k;
	int i;

	assert_non_null(d);
	test_watchdog_arm(120, "memslot differential with readers");
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	assert_int_equal(sigaction(SIGUSR1, &sa, NULL), 0);
	for (k = 0; k < sizeof(pick) / sizeof(pick[0]); k++) {
		struct diff_scenario sc = diff_scenarios[pick[k]];
		uint32_t id;

		sc.steps /= 3;
		conc_init(&c, vm);
		conc_sig_lookup = dconc_lookup;
		diff_init(d, vm, &sc, 0xc0c0 + k);
		d->done_gen = &c.done_gen;
		d->tick = dconc_tick;
		d->deadline = test_now_ns() + conc_duration_ns();
		dconc_diff = d;
		for (i = 0; i < CONC_READERS; i++)
			assert_int_equal(pthread_create(&dconc_threads[i], NULL,
							dconc_reader, &c),
					 0);
		diff_run(d);
		stop_readers(&c, dconc_threads, CONC_READERS);
		print_message("%s: %ld changes, ", sc.name, d->changes);
		conc_report(&c);
		for (id = 0; id < sc.nids; id++)
			if (d->present[id])
				assert_int_equal(gpc_memslot_delete(vm, id), 0);
	}
	signal(SIGUSR1, SIG_DFL);
	free(d);
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
		T(test_lookup_differential),
		T(test_index_untrusted),
		T(test_dense_edges),
	};
	const struct CMUnitTest concurrency[] = {
		T(test_change_waits_for_reader),
		T(test_conc_readers),
		T(test_conc_writers),
		T(test_conc_differential),
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
