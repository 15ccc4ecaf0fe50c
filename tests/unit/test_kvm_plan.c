// SPDX-License-Identifier: MIT
/*
 * tests/unit/test_kvm_plan.c - the order in which the KVM binding mirrors a
 * memslot commit (gpci_kvm_plan(), kvm_plan.c), without /dev/kvm.
 *
 * A fake listener plays the binding: its prepare runs the commit's plan
 * against a fake KVM that refuses what KVM refuses (a region overlapping
 * another slot, an in-place change of size, hva or READONLY, a delete of a
 * slot it does not have), undoing on failure as kvm.c does; abort undoes
 * the whole plan. After every commit the fake must hold exactly the table;
 * after every failed one, exactly the old table. Random transactions
 * (splits, swaps, rotations of several slots, flag toggles, adds, deletes)
 * and injected KVM failures, on both schemes; plus fixed cases whose plan
 * is checked step by step.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <gpc/gpc.h>

#include "kvm_priv.h"
#include "vm_priv.h"
#include "test_common.h"

#define IDS 10

static enum gpc_scheme scheme;
static uint64_t ps;

struct fake_kvm {
	struct gpci_kvm_region r[IDS];
	bool present[IDS];
	unsigned int calls, fail_at; /* fail the fail_at-th call (0: never) */
	unsigned int refused, undo_errors;
	struct gpci_kvm_op *plan;
	unsigned int nplan;
};

static bool overlaps(const struct fake_kvm *k, const struct gpci_kvm_region *g)
{
	unsigned int i;

	for (i = 0; i < IDS; i++)
		if (i != g->id && k->present[i] &&
		    g->gpa < k->r[i].gpa + k->r[i].size &&
		    k->r[i].gpa < g->gpa + g->size)
			return true;
	return false;
}

/* KVM_SET_USER_MEMORY_REGION, as far as its checks go. */
static int fake_set(struct fake_kvm *k, const struct gpci_kvm_region *g)
{
	struct gpci_kvm_region *o;

	if (g->id >= IDS)
		return -EINVAL;
	k->calls++;
	if (k->fail_at && k->calls == k->fail_at)
		return -ENOMEM;
	o = &k->r[g->id];
	if (!g->size) {
		if (!k->present[g->id])
			return -EINVAL;
		k->present[g->id] = false;
		return 0;
	}
	if (k->present[g->id] &&
	    (o->size != g->size || o->hva != g->hva ||
	     ((o->flags ^ g->flags) & GPC_MEMSLOT_READONLY)))
		return -EINVAL;
	if (overlaps(k, g))
		return -EEXIST;
	*o = *g;
	k->present[g->id] = true;
	return 0;
}

static void fake_undo(struct fake_kvm *k, unsigned int upto)
{
	unsigned int fail_at = k->fail_at;

	k->fail_at = 0; /* undo does not fail here */
	while (upto-- > 0)
		k->undo_errors += fake_set(k, &k->plan[upto].undo) != 0;
	k->fail_at = fail_at;
}

static int fake_prepare(void *ctx, struct gpc_vm *vm,
			const struct gpc_memslot_change *c, unsigned int n)
{
	struct fake_kvm *k = ctx;
	unsigned int i;
	int err = 0;

	(void)vm;
	k->plan = malloc(2 * n * sizeof(*k->plan));
	assert_non_null(k->plan);
	k->nplan = gpci_kvm_plan(c, n, k->plan);
	assert_true(k->nplan <= 2 * n);
	for (i = 0; i < k->nplan && !err; i++)
		err = fake_set(k, &k->plan[i].set);
	if (!err)
		return 0;
	k->refused++;
	fake_undo(k, i - 1);
	free(k->plan);
	k->plan = NULL;
	return err;
}

static void fake_abort(void *ctx, struct gpc_vm *vm,
		       const struct gpc_memslot_change *c, unsigned int n)
{
	struct fake_kvm *k = ctx;

	(void)vm, (void)c, (void)n;
	fake_undo(k, k->nplan);
	free(k->plan);
	k->plan = NULL;
}

static void fake_commit(void *ctx, struct gpc_vm *vm,
			const struct gpc_memslot_change *c, unsigned int n,
			uint64_t gen)
{
	struct fake_kvm *k = ctx;

	(void)vm, (void)c, (void)n, (void)gen;
	free(k->plan);
	k->plan = NULL;
}

/* A second listener that refuses on request, after the fake prepared. */
static int refuse;

static int refuse_prepare(void *ctx, struct gpc_vm *vm,
			  const struct gpc_memslot_change *c, unsigned int n)
{
	(void)ctx, (void)vm, (void)c, (void)n;
	return refuse ? -EPERM : 0;
}

/* The fake holds exactly the table. */
static void assert_fake_is_table(struct gpc_vm *vm, const struct fake_kvm *k)
{
	uint32_t id;

	for (id = 0; id < IDS; id++) {
		struct gpc_memslot_info in;
		int ret = gpc_memslot_get(vm, id, &in);

		assert_int_equal(ret == 0, k->present[id]);
		if (ret)
			continue;
		assert_int_equal(in.gpa, k->r[id].gpa);
		assert_int_equal(in.size, k->r[id].size);
		assert_int_equal(in.hva, k->r[id].hva);
		assert_int_equal(in.flags & GPC_MEMSLOT_READONLY,
				 k->r[id].flags);
	}
	assert_int_equal(k->undo_errors, 0);
}

struct env {
	struct gpc_vm *vm;
	struct fake_kvm k;
	struct gpc_memslot_listener l, rl;
};

static int setup(void **state)
{
	struct gpc_vm_config cfg = { .scheme = scheme };
	struct env *e = calloc(1, sizeof(*e));

	if (!e || gpc_vm_create(&cfg, &e->vm))
		return -1;
	ps = e->vm->page_size;
	e->l = (struct gpc_memslot_listener){ .prepare = fake_prepare,
					      .abort = fake_abort,
					      .commit = fake_commit,
					      .ctx = &e->k };
	e->rl = (struct gpc_memslot_listener){ .prepare = refuse_prepare };
	if (gpc_memslot_listener_add(e->vm, &e->l) ||
	    gpc_memslot_listener_add(e->vm, &e->rl))
		return -1;
	refuse = 0;
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;

	gpc_memslot_listener_remove(e->vm, &e->l);
	gpc_memslot_listener_remove(e->vm, &e->rl);
	if (gpc_vm_destroy(e->vm))
		return -1;
	free(e);
	return 0;
}

static void add(struct gpc_memslot_txn *tx, uint32_t id, uint64_t gpa,
		uint64_t size, uint64_t hva, uint32_t flags, int want)
{
	struct gpc_memslot_desc d = {
		.id = id, .flags = flags, .gpa = gpa, .size = size, .hva = hva
	};

	assert_int_equal(gpc_memslot_txn_add(tx, &d), want);
}

/* Two slots swap places: two moves, so deletes first, creates last. */
static void test_swap(void **state)
{
	struct env *e = *state;
	struct gpc_memslot_txn *tx;
	unsigned int i;

	assert_int_equal(gpc_memslot_txn_begin(e->vm, &tx), 0);
	add(tx, 1, 0, 4 * ps, 1ull << 30, 0, 0);
	add(tx, 2, 4 * ps, 4 * ps, 1ull << 31, 0, 0);
	assert_int_equal(gpc_memslot_txn_commit(tx), 0);
	assert_fake_is_table(e->vm, &e->k);
	assert_int_equal(gpc_memslot_txn_begin(e->vm, &tx), 0);
	assert_int_equal(gpc_memslot_txn_move(tx, 2, 100 * ps), 0);
	assert_int_equal(gpc_memslot_txn_move(tx, 1, 4 * ps), 0);
	assert_int_equal(gpc_memslot_txn_move(tx, 2, 0), 0);
	e->k.calls = 0;
	assert_int_equal(gpc_memslot_txn_commit(tx), 0);
	assert_int_equal(e->k.calls, 4);
	assert_fake_is_table(e->vm, &e->k);
	/* a single move is one call, in place, over its own old range */
	e->k.calls = 0;
	assert_int_equal(gpc_memslot_move(e->vm, 1, 6 * ps), 0);
	assert_int_equal(e->k.calls, 1);
	/* a flag change KVM does not see is no call; READONLY is two */
	e->k.calls = 0;
	assert_int_equal(gpc_memslot_set_flags(e->vm, 1, GPC_MEMSLOT_READONLY),
			 0);
	assert_int_equal(e->k.calls, 2);
	assert_fake_is_table(e->vm, &e->k);
	(void)i;
}

/* A split: delete + two adds over the same range, and a refusal. */
static void test_split_and_refusal(void **state)
{
	struct env *e = *state;
	struct gpc_memslot_txn *tx;

	assert_int_equal(gpc_memslot_create(e->vm, 1, 0, 16 * ps, 0, 0), 0);
	assert_int_equal(gpc_memslot_txn_begin(e->vm, &tx), 0);
	assert_int_equal(gpc_memslot_txn_delete(tx, 1), 0);
	add(tx, 1, 0, 4 * ps, 0, 0, 0);
	add(tx, 2, 4 * ps, 4 * ps, 1ull << 40, GPC_MEMSLOT_READONLY, 0);
	add(tx, 3, 8 * ps, 8 * ps, 8 * ps, 0, 0);
	assert_int_equal(gpc_memslot_txn_commit(tx), 0);
	assert_fake_is_table(e->vm, &e->k);
	/* KVM refuses the second call: the first is undone */
	assert_int_equal(gpc_memslot_txn_begin(e->vm, &tx), 0);
	assert_int_equal(gpc_memslot_txn_delete(tx, 2), 0);
	assert_int_equal(gpc_memslot_txn_delete(tx, 3), 0);
	add(tx, 2, 4 * ps, 12 * ps, 0, 0, 0);
	e->k.calls = 0;
	e->k.fail_at = 2;
	assert_int_equal(gpc_memslot_txn_commit(tx), -ENOMEM);
	e->k.fail_at = 0;
	assert_fake_is_table(e->vm, &e->k);
	/* a later listener refuses: the fake's abort undoes everything */
	refuse = 1;
	assert_int_equal(gpc_memslot_delete(e->vm, 3), -EPERM);
	refuse = 0;
	assert_fake_is_table(e->vm, &e->k);
	assert_int_equal(gpc_memslot_count(e->vm), 3);
}

struct step {
	unsigned int op;
	struct gpc_memslot_desc d;
};

static int run_step(struct gpc_memslot_txn *tx, const struct step *st)
{
	switch (st->op) {
	case 0:
		return gpc_memslot_txn_add(tx, &st->d);
	case 1:
		return gpc_memslot_txn_delete(tx, st->d.id);
	case 2:
		return gpc_memslot_txn_move(tx, st->d.id, st->d.gpa);
	default:
		return gpc_memslot_txn_set_flags(tx, st->d.id, st->d.flags);
	}
}

static struct step random_step(uint64_t *seed)
{
	struct step st = { .op = (unsigned int)(test_rand(seed) % 4) };

	st.d.id = (uint32_t)(test_rand(seed) % IDS);
	st.d.gpa = test_rand(seed) % 40 * ps;
	st.d.size = (1 + test_rand(seed) % 4) * ps;
	st.d.hva = (test_rand(seed) % 3) << 30;
	st.d.flags = test_rand(seed) & 1 ? GPC_MEMSLOT_READONLY : 0;
	return st;
}

/*
 * A random transaction of up to 8 valid steps: a step that fails (and
 * poisons) is dropped by beginning again and replaying the others.
 */
static struct gpc_memslot_txn *random_txn(struct gpc_vm *vm, uint64_t *seed)
{
	struct step st[8];
	struct gpc_memslot_txn *tx;
	unsigned int k, j, n = 0,
			   want = 1 + (unsigned int)(test_rand(seed) % 8);

	assert_int_equal(gpc_memslot_txn_begin(vm, &tx), 0);
	for (k = 0; k < 32 && n < want; k++) {
		st[n] = random_step(seed);
		if (!run_step(tx, &st[n])) {
			n++;
			continue;
		}
		gpc_memslot_txn_abort(tx);
		assert_int_equal(gpc_memslot_txn_begin(vm, &tx), 0);
		for (j = 0; j < n; j++)
			assert_int_equal(run_step(tx, &st[j]), 0);
	}
	return tx;
}

/* Random commits: KVM accepts every plan, the fake follows the table. */
static void test_random(void **state)
{
	struct env *e = *state;
	uint64_t seed = 99;
	long i, n = test_iters(3000), ok = 0, failed = 0, moves = 0;

	for (i = 0; i < n; i++) {
		struct gpc_memslot_txn *tx = random_txn(e->vm, &seed);
		int ret;

		e->k.fail_at =
			test_rand(&seed) % 16 == 0 ?
				1 + (unsigned int)(test_rand(&seed) % 4) :
				0;
		refuse = test_rand(&seed) % 16 == 0;
		e->k.calls = 0;
		ret = gpc_memslot_txn_commit(tx);
		e->k.fail_at = 0;
		refuse = 0;
		if (ret == 0)
			ok++;
		else
			failed++;
		moves += e->k.calls > 2;
		assert_fake_is_table(e->vm, &e->k);
	}
	print_message("%ld commits, %ld failed (KVM refused %u), %ld with "
		      "more than 2 KVM calls\n",
		      ok, failed, e->k.refused, moves);
	assert_true(ok > n / 2);
	assert_true(e->k.refused > 0);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_swap),
		T(test_split_and_refusal),
		T(test_random),
	};
	int fails;

	scheme = GPC_SCHEME_SRCU;
	fails = cmocka_run_group_tests_name("kvm plan srcu", tests, NULL, NULL);
	scheme = GPC_SCHEME_RWLOCK;
	fails += cmocka_run_group_tests_name("kvm plan rwlock", tests, NULL,
					     NULL);
	return fails;
}
