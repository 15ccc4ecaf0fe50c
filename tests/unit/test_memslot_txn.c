// SPDX-License-Identifier: MIT
/*
 * tests/unit/test_memslot_txn.c - memslot transactions and listeners.
 *
 * Every test runs twice, on a vm of each read-side scheme.
 *  - unit: a split in one commit (one publish, one generation step, one
 *    grace period), steps validated against the table as changed so far,
 *    the errnos of each step and their one cause, poisoning, abort, empty
 *    and no-op transactions, -EDEADLK (a writer on the thread that holds
 *    a transaction, inside a read section, from a listener), listeners
 *    called in registration order with the net changes in the promised
 *    order, a refusal that aborts the earlier listeners and changes
 *    nothing, the mirror wrapper (-EBUSY instead of replacing), pinning;
 *  - concurrency: a randomized differential test: one writer commits
 *    random transactions (adds, deletes, moves, flag changes, splits, bad
 *    steps, aborts, refusals) against a model, tagging each table version
 *    it publishes; readers check that every lookup of one read section
 *    agrees with one version, the one of the table they entered with; a
 *    validating listener checks every commit's change list against the
 *    model; another thread adds and removes a listener all along, which
 *    must never be called while it is not registered.
 */
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <gpc/gpc.h>

#include "vm_priv.h"
#include "test_common.h"

static enum gpc_scheme scheme;
static uint64_t ps;

static int setup_vm(void **state)
{
	struct gpc_vm_config cfg = { .scheme = scheme };
	struct gpc_vm *vm;

	if (gpc_vm_create(&cfg, &vm))
		return -1;
	ps = vm->page_size;
	test_log_capture();
	*state = vm;
	return 0;
}

static int teardown_vm(void **state)
{
	return gpc_vm_destroy(*state) ? -1 : 0;
}

static void counts(struct gpc_vm *vm, uint64_t *pub, uint64_t *gps)
{
	gpci_memslot_test_counts(vm, pub, gps);
}

static struct gpc_memslot_desc desc(uint32_t id, uint64_t gpa, uint64_t size,
				    uint64_t hva, uint32_t flags)
{
	struct gpc_memslot_desc d = {
		.id = id, .flags = flags, .gpa = gpa, .size = size, .hva = hva
	};

	return d;
}

static void assert_slot(struct gpc_vm *vm, uint64_t gpa, uint32_t id,
			uint64_t base, uint64_t size, uint64_t hva)
{
	struct gpc_memslot_info in;

	assert_int_equal(gpc_memslot_lookup(vm, gpa, &in), 0);
	assert_int_equal(in.id, id);
	assert_int_equal(in.gpa, base);
	assert_int_equal(in.size, size);
	assert_int_equal(in.hva, hva);
}

/* ---- unit --------------------------------------------------------------- */

/* Split slot 1 around an overlay: one commit, one of everything. */
static void test_split_one_commit(void **state)
{
	struct gpc_vm *vm = *state;
	const uint64_t a = 256 * ps, h = 1ull << 32;
	struct gpc_memslot_txn *tx;
	struct gpc_memslot_desc d;
	uint64_t g, p0, q0, p1, q1;

	assert_int_equal(gpc_memslot_create(vm, 1, a, 16 * ps, h, 0), 0);
	g = gpc_memslot_generation(vm);
	counts(vm, &p0, &q0);
	assert_int_equal(gpc_memslot_txn_begin(vm, &tx), 0);
	assert_int_equal(gpc_memslot_txn_delete(tx, 1), 0);
	/* the id and the range of the deleted slot are free in the txn */
	d = desc(1, a, 4 * ps, h, 0);
	assert_int_equal(gpc_memslot_txn_add(tx, &d), 0);
	d = desc(2, a + 4 * ps, 2 * ps, 1ull << 40, GPC_MEMSLOT_READONLY);
	assert_int_equal(gpc_memslot_txn_add(tx, &d), 0);
	d = desc(3, a + 6 * ps, 10 * ps, h + 6 * ps, 0);
	assert_int_equal(gpc_memslot_txn_add(tx, &d), 0);
	/* not visible before the commit */
	assert_slot(vm, a + 5 * ps, 1, a, 16 * ps, h);
	assert_int_equal(gpc_memslot_generation(vm), g);
	assert_int_equal(gpc_memslot_txn_commit(tx), 0);
	assert_int_equal(gpc_memslot_generation(vm), g + 1);
	counts(vm, &p1, &q1);
	assert_int_equal(p1 - p0, 1);
	assert_int_equal(q1 - q0, 1);
	assert_int_equal(gpc_memslot_count(vm), 3);
	assert_slot(vm, a, 1, a, 4 * ps, h);
	assert_slot(vm, a + 5 * ps, 2, a + 4 * ps, 2 * ps, 1ull << 40);
	assert_slot(vm, a + 15 * ps, 3, a + 6 * ps, 10 * ps, h + 6 * ps);
	/* and the single calls: one of everything each */
	assert_int_equal(gpc_memslot_delete(vm, 2), 0);
	counts(vm, &p0, &q0);
	assert_int_equal(p0 - p1, 1);
	assert_int_equal(q0 - q1, 1);
}

/* N changes in one commit: one publish, one grace period, one step. */
static void test_many_in_one(void **state)
{
	struct gpc_vm *vm = *state;
	struct gpc_memslot_txn *tx;
	struct gpc_memslot_desc d;
	uint64_t g = gpc_memslot_generation(vm), p0, q0, p1, q1;
	uint32_t i;

	counts(vm, &p0, &q0);
	assert_int_equal(gpc_memslot_txn_begin(vm, &tx), 0);
	for (i = 0; i < 64; i++) {
		d = desc(i, (uint64_t)i * 2 * ps, ps, 0, 0);
		assert_int_equal(gpc_memslot_txn_add(tx, &d), 0);
	}
	for (i = 0; i < 64; i += 2)
		assert_int_equal(gpc_memslot_txn_move(tx, i, i * 2 * ps + ps),
				 0);
	for (i = 1; i < 64; i += 4)
		assert_int_equal(gpc_memslot_txn_delete(tx, i), 0);
	assert_int_equal(gpc_memslot_txn_commit(tx), 0);
	counts(vm, &p1, &q1);
	assert_int_equal(p1 - p0, 1);
	assert_int_equal(q1 - q0, 1);
	assert_int_equal(gpc_memslot_generation(vm), g + 1);
	assert_int_equal(gpc_memslot_count(vm), 64 - 16);
	assert_int_equal(gpci_memslots_verify(vm), 0);
	assert_slot(vm, 5 * ps, 2, 5 * ps, ps, 0); /* moved from 4 pages */
}

struct snap {
	uint64_t gen, pub, gps;
	unsigned int n;
	struct gpc_memslot_info s[8];
	int rc[8];
};

static void take(struct gpc_vm *vm, struct snap *s)
{
	uint32_t i;

	memset(s, 0, sizeof(*s));
	s->gen = gpc_memslot_generation(vm);
	counts(vm, &s->pub, &s->gps);
	s->n = gpc_memslot_count(vm);
	for (i = 0; i < 8; i++)
		s->rc[i] = gpc_memslot_get(vm, i, &s->s[i]);
}

static void assert_same(struct gpc_vm *vm, const struct snap *a)
{
	struct snap b;

	take(vm, &b);
	assert_memory_equal(a, &b, sizeof(b));
}

/* Each step's errno names one cause; a failed step poisons. */
static void test_step_errnos(void **state)
{
	struct gpc_vm *vm = *state;
	const uint64_t a = 64 * ps;
	struct gpc_memslot_txn *tx;
	struct gpc_memslot_desc d;
	struct snap s;

	assert_int_equal(gpc_memslot_create(vm, 1, a, 4 * ps, 0, 0), 0);
	take(vm, &s);
	assert_int_equal(gpc_memslot_txn_begin(vm, &tx), 0);
	d = desc(1, a + 100 * ps, ps, 0, 0);
	assert_int_equal(gpc_memslot_txn_add(tx, &d), -EEXIST);
	assert_int_equal(gpc_memslot_txn_delete(tx, 1), -ECANCELED);
	assert_int_equal(gpc_memslot_txn_commit(tx), -ECANCELED);
	assert_same(vm, &s);

	assert_int_equal(gpc_memslot_txn_begin(vm, &tx), 0);
	d = desc(2, a + ps, ps, 0, 0);
	assert_int_equal(gpc_memslot_txn_add(tx, &d), -EADDRINUSE);
	gpc_memslot_txn_abort(tx);
	assert_same(vm, &s);

	/* valid steps, then a bad one: nothing of the valid ones stays */
	assert_int_equal(gpc_memslot_txn_begin(vm, &tx), 0);
	assert_int_equal(gpc_memslot_txn_move(tx, 1, 0), 0);
	d = desc(2, a, ps, 0, 0); /* slot 1's old range, free now */
	assert_int_equal(gpc_memslot_txn_add(tx, &d), 0);
	assert_int_equal(gpc_memslot_txn_delete(tx, 1), 0);
	assert_int_equal(gpc_memslot_txn_delete(tx, 1), -ENOENT);
	assert_int_equal(gpc_memslot_txn_set_flags(tx, 2, 0), -ECANCELED);
	assert_int_equal(gpc_memslot_txn_commit(tx), -ECANCELED);
	assert_same(vm, &s);

	assert_int_equal(gpc_memslot_txn_begin(vm, &tx), 0);
	assert_int_equal(gpc_memslot_txn_set_flags(tx, 1, 1u << 9), -EINVAL);
	gpc_memslot_txn_abort(tx);
	assert_int_equal(gpc_memslot_txn_begin(vm, &tx), 0);
	assert_int_equal(gpc_memslot_txn_move(tx, 1, a + 1), -EINVAL);
	gpc_memslot_txn_abort(tx);
	assert_int_equal(gpc_memslot_txn_begin(vm, &tx), 0);
	assert_int_equal(gpc_memslot_txn_add(tx, NULL), -EINVAL);
	gpc_memslot_txn_abort(tx);
	assert_int_equal(gpc_memslot_txn_begin(vm, &tx), 0);
	d = desc(3, 0, ps, 0, 0);
	d.reserved[1] = 1;
	assert_int_equal(gpc_memslot_txn_add(tx, &d), -EINVAL);
	gpc_memslot_txn_abort(tx);
	assert_int_equal(gpc_memslot_txn_begin(vm, &tx), 0);
	assert_int_equal(gpc_memslot_txn_delete(tx, 7), -ENOENT);
	assert_int_equal(gpc_memslot_txn_commit(tx), -ECANCELED);
	assert_same(vm, &s);

	/* NULLs */
	assert_int_equal(gpc_memslot_txn_begin(NULL, &tx), -EINVAL);
	assert_int_equal(gpc_memslot_txn_begin(vm, NULL), -EINVAL);
	assert_int_equal(gpc_memslot_txn_commit(NULL), -EINVAL);
	assert_int_equal(gpc_memslot_txn_delete(NULL, 1), -EINVAL);
	gpc_memslot_txn_abort(NULL);
	/* the single calls: id in use vs overlap */
	assert_int_equal(gpc_memslot_create(vm, 1, 900 * ps, ps, 0, 0),
			 -EEXIST);
	assert_int_equal(gpc_memslot_create(vm, 5, a, ps, 0, 0), -EADDRINUSE);
	assert_int_equal(gpc_memslot_create(vm, 5, 900 * ps, ps, 0, 0), 0);
	assert_int_equal(gpc_memslot_move(vm, 5, a + 3 * ps), -EADDRINUSE);
	assert_int_equal(gpc_memslot_move(vm, 5, 900 * ps), 0);
	take(vm, &s);
	assert_int_equal(gpc_memslot_move(vm, 5, 900 * ps), 0);
	assert_int_equal(gpc_memslot_set_flags(vm, 5, 0), 0);
	assert_same(vm, &s);
}

/* Changes that cancel out publish nothing. */
static void test_empty_and_noop(void **state)
{
	struct gpc_vm *vm = *state;
	struct gpc_memslot_txn *tx;
	struct gpc_memslot_desc d = desc(3, 8 * ps, ps, 0, 0);
	struct snap s;

	take(vm, &s);
	assert_int_equal(gpc_memslot_txn_begin(vm, &tx), 0);
	assert_int_equal(gpc_memslot_txn_commit(tx), 0);
	assert_same(vm, &s);
	assert_int_equal(gpc_memslot_txn_begin(vm, &tx), 0);
	assert_int_equal(gpc_memslot_txn_add(tx, &d), 0);
	assert_int_equal(gpc_memslot_txn_move(tx, 3, 9 * ps), 0);
	assert_int_equal(gpc_memslot_txn_delete(tx, 3), 0);
	assert_int_equal(gpc_memslot_txn_commit(tx), 0);
	assert_same(vm, &s);
	assert_int_equal(gpc_memslot_add(vm, &d), 0);
	take(vm, &s);
	assert_int_equal(gpc_memslot_txn_begin(vm, &tx), 0);
	assert_int_equal(gpc_memslot_txn_move(tx, 3, 20 * ps), 0);
	assert_int_equal(gpc_memslot_txn_set_flags(tx, 3, GPC_MEMSLOT_READONLY),
			 0);
	assert_int_equal(gpc_memslot_txn_set_flags(tx, 3, 0), 0);
	assert_int_equal(gpc_memslot_txn_move(tx, 3, 8 * ps), 0);
	assert_int_equal(gpc_memslot_txn_commit(tx), 0);
	assert_same(vm, &s);
}

static void test_deadlock(void **state)
{
	struct gpc_vm *vm = *state;
	struct gpc_memslot_txn *tx, *tx2;
	struct gpc_memslot_listener l = { 0 };

	assert_int_equal(gpc_memslot_txn_begin(vm, &tx), 0);
	assert_int_equal(gpc_memslot_txn_begin(vm, &tx2), -EDEADLK);
	assert_int_equal(gpc_memslot_create(vm, 1, 0, ps, 0, 0), -EDEADLK);
	assert_int_equal(gpc_memslot_delete(vm, 1), -EDEADLK);
	assert_int_equal(gpc_memslot_listener_add(vm, &l), -EDEADLK);
	assert_int_equal(gpc_memslot_set_mirror(vm, NULL, NULL), -EDEADLK);
	gpc_memslot_txn_abort(tx);
	gpc_srcu_read_lock(gpc_vm_srcu(vm));
	assert_int_equal(gpc_memslot_txn_begin(vm, &tx), -EDEADLK);
	/* listeners wait no grace period: fine inside a section */
	assert_int_equal(gpc_memslot_listener_add(vm, &l), 0);
	assert_int_equal(gpc_memslot_listener_remove(vm, &l), 0);
	gpc_srcu_read_unlock(gpc_vm_srcu(vm));
}

/* ---- listeners ---------------------------------------------------------- */

#define LOG_MAX 64

struct rec {
	struct gpc_vm *vm;
	char log[LOG_MAX];
	unsigned int nlog;
	int refuse; /* prepare returns this */
	int writer_ret;
	bool call_writer;
	unsigned int n;
	struct gpc_memslot_change c[8];
	uint64_t gen;
};

static struct rec *rec_log_all; /* shared log of several listeners */

static void rlog(struct rec *r, char ev)
{
	struct rec *to = rec_log_all ? rec_log_all : r;

	if (to->nlog < LOG_MAX - 1)
		to->log[to->nlog++] = ev;
}

static int r_prepare(void *ctx, struct gpc_vm *vm,
		     const struct gpc_memslot_change *c, unsigned int n)
{
	struct rec *r = ctx;
	struct gpc_memslot_info in;

	rlog(r, r->refuse ? 'R' : 'P');
	if (r->call_writer)
		r->writer_ret = gpc_memslot_create(vm, 7, 0, ps, 0, 0);
	/* readers are fine: the old table */
	(void)gpc_memslot_lookup(vm, 0, &in);
	r->n = n < 8 ? n : 8;
	memcpy(r->c, c, r->n * sizeof(*c));
	return r->refuse;
}

static void r_abort(void *ctx, struct gpc_vm *vm,
		    const struct gpc_memslot_change *c, unsigned int n)
{
	(void)vm, (void)c, (void)n;
	rlog(ctx, 'A');
}

static void r_commit(void *ctx, struct gpc_vm *vm,
		     const struct gpc_memslot_change *c, unsigned int n,
		     uint64_t gen)
{
	struct rec *r = ctx;

	(void)c, (void)n;
	assert_int_equal(gpc_memslot_generation(vm), gen);
	r->gen = gen;
	rlog(r, 'C');
}

static struct gpc_memslot_listener listener_of(struct rec *r)
{
	struct gpc_memslot_listener l = { .prepare = r_prepare,
					  .abort = r_abort,
					  .commit = r_commit,
					  .ctx = r };

	return l;
}

static void test_listener_order_and_refusal(void **state)
{
	struct gpc_vm *vm = *state;
	struct rec shared = { 0 }, r[3] = { { 0 } };
	struct gpc_memslot_listener l[3];
	struct snap s;
	int i;

	for (i = 0; i < 3; i++) {
		l[i] = listener_of(&r[i]);
		assert_int_equal(gpc_memslot_listener_add(vm, &l[i]), 0);
	}
	assert_int_equal(gpc_memslot_listener_add(vm, &l[1]), -EEXIST);
	rec_log_all = &shared;
	assert_int_equal(gpc_memslot_create(vm, 1, 0, ps, 0, 0), 0);
	assert_string_equal(shared.log, "PPPCCC");
	assert_int_equal(r[2].gen, gpc_memslot_generation(vm));
	/* the second refuses: the first undoes, the third never hears */
	memset(&shared, 0, sizeof(shared));
	r[1].refuse = -ENOSPC;
	take(vm, &s);
	assert_int_equal(gpc_memslot_create(vm, 2, ps, ps, 0, 0), -ENOSPC);
	assert_same(vm, &s);
	assert_string_equal(shared.log, "PRA");
	r[1].refuse = 0;
	/* removed in the middle: the others, in order */
	assert_int_equal(gpc_memslot_listener_remove(vm, &l[1]), 0);
	assert_int_equal(gpc_memslot_listener_remove(vm, &l[1]), -ENOENT);
	memset(&shared, 0, sizeof(shared));
	assert_int_equal(gpc_memslot_move(vm, 1, 4 * ps), 0);
	assert_string_equal(shared.log, "PPCC");
	/* no change, no call */
	memset(&shared, 0, sizeof(shared));
	assert_int_equal(gpc_memslot_move(vm, 1, 4 * ps), 0);
	assert_int_equal(shared.nlog, 0);
	rec_log_all = NULL;
	/* a listener calling a writer: -EDEADLK, not a hang */
	r[0].call_writer = true;
	assert_int_equal(gpc_memslot_delete(vm, 1), 0);
	assert_int_equal(r[0].writer_ret, -EDEADLK);
	for (i = 0; i < 3; i += 2)
		assert_int_equal(gpc_memslot_listener_remove(vm, &l[i]), 0);
	/* bad listeners */
	l[0].flags = 1u << 7;
	assert_int_equal(gpc_memslot_listener_add(vm, &l[0]), -EINVAL);
	l[0].flags = 0;
	l[0].reserved[0] = &shared;
	assert_int_equal(gpc_memslot_listener_add(vm, &l[0]), -EINVAL);
	assert_int_equal(gpc_memslot_listener_add(NULL, &l[0]), -EINVAL);
	assert_int_equal(gpc_memslot_listener_add(vm, NULL), -EINVAL);
	assert_int_equal(gpc_memslot_listener_remove(vm, NULL), -EINVAL);
}

/* The net changes of a commit, in the promised order. */
static void test_change_list(void **state)
{
	struct gpc_vm *vm = *state;
	struct rec r = { 0 };
	struct gpc_memslot_listener l = listener_of(&r);
	struct gpc_memslot_txn *tx;
	struct gpc_memslot_desc d;
	uint32_t i;

	for (i = 0; i < 5; i++)
		assert_int_equal(gpc_memslot_create(vm, i, i * 4 * ps, ps,
						    i * ps, 0),
				 0);
	assert_int_equal(gpc_memslot_listener_add(vm, &l), 0);
	assert_int_equal(gpc_memslot_txn_begin(vm, &tx), 0);
	d = desc(7, 100 * ps, ps, 0, 0);
	assert_int_equal(gpc_memslot_txn_add(tx, &d), 0); /* add */
	assert_int_equal(gpc_memslot_txn_set_flags(tx, 0, GPC_MEMSLOT_READONLY),
			 0);					   /* flags */
	assert_int_equal(gpc_memslot_txn_move(tx, 1, 50 * ps), 0); /* move */
	assert_int_equal(gpc_memslot_txn_delete(tx, 2), 0);
	d = desc(2, 8 * ps, 2 * ps, 2 * ps, 0);
	assert_int_equal(gpc_memslot_txn_add(tx, &d), 0);   /* replace */
	assert_int_equal(gpc_memslot_txn_delete(tx, 3), 0); /* delete */
	assert_int_equal(gpc_memslot_txn_move(tx, 4, 60 * ps), 0);
	assert_int_equal(gpc_memslot_txn_move(tx, 4, 16 * ps), 0); /* none */
	assert_int_equal(gpc_memslot_txn_commit(tx), 0);
	assert_int_equal(r.n, 5);
	assert_int_equal(r.c[0].op, GPC_MEMSLOT_CHANGE_DELETE);
	assert_int_equal(r.c[0].old_slot.id, 3);
	assert_int_equal(r.c[1].op, GPC_MEMSLOT_CHANGE_REPLACE);
	assert_int_equal(r.c[1].old_slot.size, ps);
	assert_int_equal(r.c[1].new_slot.size, 2 * ps);
	assert_int_equal(r.c[2].op, GPC_MEMSLOT_CHANGE_MOVE);
	assert_int_equal(r.c[2].old_slot.gpa, 4 * ps);
	assert_int_equal(r.c[2].new_slot.gpa, 50 * ps);
	assert_int_equal(r.c[3].op, GPC_MEMSLOT_CHANGE_FLAGS);
	assert_int_equal(r.c[3].new_slot.flags, GPC_MEMSLOT_READONLY);
	assert_int_equal(r.c[4].op, GPC_MEMSLOT_CHANGE_ADD);
	assert_int_equal(r.c[4].new_slot.id, 7);
	assert_int_equal(r.c[4].new_slot.generation,
			 r.c[0].old_slot.generation + 1);
	assert_int_equal(gpc_memslot_listener_remove(vm, &l), 0);
}

static int mirror_calls;

static int count_mirror(void *ctx, const struct gpc_memslot_info *o,
			const struct gpc_memslot_info *n)
{
	(void)ctx, (void)o, (void)n;
	mirror_calls++;
	return 0;
}

static void test_mirror_wrapper_and_pin(void **state)
{
	struct gpc_vm *vm = *state;
	struct rec r = { 0 };
	struct gpc_memslot_listener l = listener_of(&r);
	struct gpc_memslot_txn *tx;
	struct gpc_memslot_desc d = desc(1, 0, 4 * ps, 0, 0);

	assert_int_equal(gpc_memslot_set_mirror(vm, count_mirror, NULL), 0);
	assert_int_equal(gpc_memslot_set_mirror(vm, count_mirror, &r), -EBUSY);
	assert_int_equal(gpc_memslot_listener_add(vm, &l), 0);
	mirror_calls = 0;
	assert_int_equal(gpc_memslot_add(vm, &d), 0);
	assert_int_equal(mirror_calls, 1);
	assert_string_equal(r.log, "PC");
	/* a replace is a delete and a create to the hook */
	assert_int_equal(gpc_memslot_txn_begin(vm, &tx), 0);
	assert_int_equal(gpc_memslot_txn_delete(tx, 1), 0);
	d.size = 2 * ps;
	assert_int_equal(gpc_memslot_txn_add(tx, &d), 0);
	assert_int_equal(gpc_memslot_txn_commit(tx), 0);
	assert_int_equal(mirror_calls, 3);
	assert_int_equal(gpc_memslot_set_mirror(vm, NULL, NULL), 0);
	assert_int_equal(gpc_memslot_set_mirror(vm, NULL, NULL), 0);
	assert_int_equal(gpc_memslot_delete(vm, 1), 0);
	assert_int_equal(mirror_calls, 3);
	assert_int_equal(gpc_memslot_listener_remove(vm, &l), 0);
	/* a pinning listener keeps the vm alive */
	l.flags = GPC_MEMSLOT_LISTENER_PIN;
	assert_int_equal(gpc_memslot_listener_add(vm, &l), 0);
	assert_int_equal(gpc_vm_destroy(vm), -EBUSY);
	assert_int_equal(gpc_memslot_listener_remove(vm, &l), 0);
}

/* ---- concurrency: the differential test --------------------------------- */

#define D_IDS	   12
#define D_PAGES	   48
#define D_BASE	   (1ull << 24)
#define D_READERS  2
#define D_VERSIONS 20000

struct mslot {
	bool present;
	uint32_t flags;
	uint64_t gpa, size, hva;
};

struct layout {
	struct mslot s[D_IDS];
};

struct diff {
	struct gpc_vm *vm;
	uint64_t gen0;
	struct layout *ver; /* ver[g - gen0]: the table of generation g */
	struct layout model, next;
	atomic_int stop, errors;
	_Atomic long sections, lookups, commits, refusals, poisoned;
	/* the validating listener */
	atomic_int expect_prepare;
	_Atomic long prepares, aborts, commit_calls;
	int refuse_next;
	/* the listener toggled by another thread */
	atomic_int toggled_in;
	_Atomic long toggled_calls, toggles, overlapped;
	char first_err[160];
	atomic_int err_taken;
};

static void diff_fail(struct diff *d, const char *fmt, ...)
{
	va_list ap;

	atomic_fetch_add(&d->errors, 1);
	if (atomic_exchange(&d->err_taken, 1))
		return;
	va_start(ap, fmt);
	vsnprintf(d->first_err, sizeof(d->first_err), fmt, ap);
	va_end(ap);
}

static const struct mslot *layout_find(const struct layout *l, uint64_t gpa,
				       uint32_t *id)
{
	uint32_t i;

	for (i = 0; i < D_IDS; i++) {
		const struct mslot *s = &l->s[i];

		if (s->present && gpa >= s->gpa && gpa - s->gpa < s->size) {
			*id = i;
			return s;
		}
	}
	return NULL;
}

static bool layout_overlaps(const struct layout *l, uint32_t skip, uint64_t gpa,
			    uint64_t size)
{
	uint32_t i;

	for (i = 0; i < D_IDS; i++)
		if (i != skip && l->s[i].present &&
		    gpa < l->s[i].gpa + l->s[i].size &&
		    l->s[i].gpa < gpa + size)
			return true;
	return false;
}

/* A reader section: every lookup agrees with the version it entered. */
static void diff_section(struct diff *d, uint64_t *seed)
{
	struct gpc_srcu *srcu = gpc_vm_srcu(d->vm);
	const struct gpci_memslots *t;
	const struct layout *v;
	int k;

	gpc_srcu_read_lock(srcu);
	t = gpci_memslot_table(d->vm);
	v = &d->ver[t->generation - d->gen0];
	for (k = 0; k < 24; k++) {
		uint64_t gpa = D_BASE + test_rand(seed) % (D_PAGES * ps);
		const struct gpci_memslot *s =
			gpci_memslots_search(t, gpa, NULL);
		struct gpc_memslot_info in;
		uint32_t id = 0;
		const struct mslot *m = layout_find(v, gpa, &id);
		int ret;

		if (!s != !m || (s && (s->id != id || s->gpa != m->gpa ||
				       s->size != m->size || s->hva != m->hva ||
				       s->flags != m->flags)))
			diff_fail(d,
				  "gen %llu gpa %#llx: found %d, expected %d",
				  (unsigned long long)t->generation,
				  (unsigned long long)gpa, s ? (int)s->id : -1,
				  m ? (int)id : -1);
		/* the public lookup: agrees with the version it names */
		ret = gpc_memslot_lookup(d->vm, gpa, &in);
		if (!ret) {
			const struct layout *w =
				&d->ver[in.generation - d->gen0];

			m = layout_find(w, gpa, &id);
			if (in.generation < t->generation || !m ||
			    in.id != id || in.gpa != m->gpa ||
			    in.hva != m->hva || in.flags != m->flags)
				diff_fail(d, "lookup gen %llu gpa %#llx id %u",
					  (unsigned long long)in.generation,
					  (unsigned long long)gpa, in.id);
		}
		if (k == 12)
			sched_yield(); /* let a commit come in mid-section */
		atomic_fetch_add_explicit(&d->lookups, 1, memory_order_relaxed);
	}
	gpc_srcu_read_unlock(srcu);
	atomic_fetch_add_explicit(&d->sections, 1, memory_order_relaxed);
}

static void *diff_reader(void *arg)
{
	struct diff *d = arg;
	uint64_t seed = (uint64_t)(uintptr_t)&seed;

	while (!atomic_load(&d->stop))
		diff_section(d, &seed);
	return NULL;
}

/* The op the model expects for @id between @a and @b, 0 if none. */
static uint32_t diff_op(const struct mslot *a, const struct mslot *b)
{
	if (!a->present)
		return b->present ? GPC_MEMSLOT_CHANGE_ADD : 0;
	if (!b->present)
		return GPC_MEMSLOT_CHANGE_DELETE;
	if (a->size != b->size || a->hva != b->hva)
		return GPC_MEMSLOT_CHANGE_REPLACE;
	if (a->gpa != b->gpa && a->flags != b->flags)
		return GPC_MEMSLOT_CHANGE_REPLACE;
	if (a->gpa != b->gpa)
		return GPC_MEMSLOT_CHANGE_MOVE;
	return a->flags != b->flags ? GPC_MEMSLOT_CHANGE_FLAGS : 0;
}

static bool desc_is(const struct gpc_memslot_desc *x, const struct mslot *m)
{
	return x->gpa == m->gpa && x->size == m->size && x->hva == m->hva &&
	       x->flags == m->flags;
}

static int v_prepare(void *ctx, struct gpc_vm *vm,
		     const struct gpc_memslot_change *c, unsigned int n)
{
	struct diff *d = ctx;
	unsigned int i, want = 0, rank = 0;
	static const unsigned int rank_of[] = { 0, 4, 0, 2, 3, 1 };
	uint32_t id;

	(void)vm;
	atomic_fetch_add(&d->prepares, 1);
	if (!atomic_load(&d->expect_prepare))
		diff_fail(d, "prepare of a commit that changes nothing");
	for (id = 0; id < D_IDS; id++)
		want += diff_op(&d->model.s[id], &d->next.s[id]) != 0;
	if (n != want)
		diff_fail(d, "%u changes, expected %u", n, want);
	for (i = 0; i < n; i++) {
		uint32_t op = c[i].op;
		uint32_t cid = op == GPC_MEMSLOT_CHANGE_ADD ? c[i].new_slot.id :
							      c[i].old_slot.id;

		if (op > GPC_MEMSLOT_CHANGE_REPLACE || rank_of[op] < rank ||
		    cid >= D_IDS)
			diff_fail(d, "change %u: op %u out of order", i, op);
		if (cid >= D_IDS)
			continue;
		rank = rank_of[op];
		if (diff_op(&d->model.s[cid], &d->next.s[cid]) != op ||
		    (op != GPC_MEMSLOT_CHANGE_ADD &&
		     !desc_is(&c[i].old_slot, &d->model.s[cid])) ||
		    (op != GPC_MEMSLOT_CHANGE_DELETE &&
		     !desc_is(&c[i].new_slot, &d->next.s[cid])))
			diff_fail(d, "change %u (id %u op %u) disagrees", i,
				  cid, op);
	}
	return 0;
}

static void v_abort(void *ctx, struct gpc_vm *vm,
		    const struct gpc_memslot_change *c, unsigned int n)
{
	(void)vm, (void)c, (void)n;
	atomic_fetch_add(&((struct diff *)ctx)->aborts, 1);
}

static void v_commit(void *ctx, struct gpc_vm *vm,
		     const struct gpc_memslot_change *c, unsigned int n,
		     uint64_t gen)
{
	(void)vm, (void)c, (void)n, (void)gen;
	atomic_fetch_add(&((struct diff *)ctx)->commit_calls, 1);
}

/* The second listener: refuses when told to. */
static int refuse_prepare(void *ctx, struct gpc_vm *vm,
			  const struct gpc_memslot_change *c, unsigned int n)
{
	struct diff *d = ctx;

	(void)vm, (void)c, (void)n;
	return d->refuse_next ? -EPERM : 0;
}

/* The toggled listener: must only be called while registered. */
static int t_prepare(void *ctx, struct gpc_vm *vm,
		     const struct gpc_memslot_change *c, unsigned int n)
{
	struct diff *d = ctx;

	(void)vm, (void)c, (void)n;
	if (!atomic_load(&d->toggled_in))
		diff_fail(d, "a removed listener was called");
	atomic_fetch_add(&d->toggled_calls, 1);
	return 0;
}

static void *diff_toggler(void *arg)
{
	struct diff *d = arg;
	struct gpc_memslot_listener l = { .prepare = t_prepare, .ctx = d };

	while (!atomic_load(&d->stop)) {
		uint64_t g;

		atomic_store(&d->toggled_in, 1);
		if (gpc_memslot_listener_add(d->vm, &l))
			diff_fail(d, "listener_add failed");
		/*
		 * Stay registered until a table is published: that commit took
		 * the writers' lock after the add, so it must have called us
		 * (checked at the end: a listener added during commits that is
		 * skipped fails, not only one called after its removal).
		 */
		g = gpc_memslot_generation(d->vm);
		while (!atomic_load(&d->stop) &&
		       gpc_memslot_generation(d->vm) == g)
			sched_yield();
		if (gpc_memslot_generation(d->vm) != g)
			atomic_fetch_add(&d->overlapped, 1);
		if (gpc_memslot_listener_remove(d->vm, &l))
			diff_fail(d, "listener_remove failed");
		atomic_store(&d->toggled_in, 0);
		atomic_fetch_add(&d->toggles, 1);
		sched_yield();
	}
	return NULL;
}

/* One random step on @d->next; returns the errno the model expects. */
static int diff_step(struct diff *d, struct gpc_memslot_txn *tx, uint64_t *seed,
		     bool careful, bool *bad)
{
	uint32_t id = (uint32_t)(test_rand(seed) % D_IDS);
	struct mslot *m = &d->next.s[id];
	uint64_t size = (1 + test_rand(seed) % 4) * ps;
	uint64_t gpa = D_BASE + test_rand(seed) % (D_PAGES - 4) * ps;
	uint32_t flags = test_rand(seed) & 1 ? GPC_MEMSLOT_READONLY : 0;
	unsigned int op = (unsigned int)(test_rand(seed) % 16);
	struct gpc_memslot_desc x;
	int want, ret;

	if (op == 15 && !careful) { /* a bad step: poisons */
		*bad = true;
		ret = gpc_memslot_txn_set_flags(tx, id, 1u << 12);
		return ret == -EINVAL || ret == -ECANCELED ? 0 : -1;
	}
	if (!m->present || op < 4) {
		uint64_t hva = (1ull << 36) + test_rand(seed) % 64 * ps;

		x = desc(id, gpa, size, hva, flags);
		want = m->present				? -EEXIST :
		       layout_overlaps(&d->next, id, gpa, size) ? -EADDRINUSE :
								  0;
		if (careful && want)
			return 0; /* most transactions commit */
		ret = gpc_memslot_txn_add(tx, &x);
		if (!ret && !want)
			*m = (struct mslot){ true, flags, gpa, size, hva };
	} else if (op < 8) {
		want = 0;
		ret = gpc_memslot_txn_delete(tx, id);
		if (!ret)
			m->present = false;
	} else if (op < 12) {
		want = layout_overlaps(&d->next, id, gpa, m->size) ?
			       -EADDRINUSE :
			       0;
		if (careful && want)
			return 0; /* most transactions commit */
		ret = gpc_memslot_txn_move(tx, id, gpa);
		if (!ret && !want)
			m->gpa = gpa;
	} else {
		want = 0;
		ret = gpc_memslot_txn_set_flags(tx, id, flags);
		if (!ret)
			m->flags = flags;
	}
	if (*bad && ret == -ECANCELED)
		return 0;
	if (ret != want) {
		diff_fail(d, "step op %u id %u: %d, expected %d", op, id, ret,
			  want);
		return -1;
	}
	if (ret)
		*bad = true;
	return 0;
}

static bool layout_differs(const struct layout *a, const struct layout *b)
{
	uint32_t id;

	for (id = 0; id < D_IDS; id++)
		if (diff_op(&a->s[id], &b->s[id]))
			return true;
	return false;
}

static bool diff_commit_one(struct diff *d, uint64_t *seed)
{
	struct gpc_memslot_txn *tx;
	unsigned int k, steps = 1 + (unsigned int)(test_rand(seed) % 6);
	uint64_t g = gpc_memslot_generation(d->vm), p0, q0, p1, q1;
	bool bad = false, abort = test_rand(seed) % 16 == 0, changed;
	bool careful = test_rand(seed) % 4 != 0;
	int ret, want;

	counts(d->vm, &p0, &q0);
	d->next = d->model;
	if (gpc_memslot_txn_begin(d->vm, &tx)) {
		diff_fail(d, "begin failed");
		return false;
	}
	for (k = 0; k < steps; k++)
		if (diff_step(d, tx, seed, careful, &bad))
			break;
	changed = layout_differs(&d->model, &d->next);
	d->refuse_next = test_rand(seed) % 8 == 0;
	if (abort) {
		gpc_memslot_txn_abort(tx);
		changed = false;
		ret = want = 0;
	} else {
		want = bad			 ? -ECANCELED :
		       changed && d->refuse_next ? -EPERM :
						   0;
		/* the version readers will find under the new generation */
		if (changed && !bad)
			d->ver[g + 1 - d->gen0] = d->next;
		atomic_store(&d->expect_prepare, changed && !bad);
		ret = gpc_memslot_txn_commit(tx);
		atomic_fetch_add(want == -ECANCELED ? &d->poisoned :
				 want		    ? &d->refusals :
						      &d->commits,
				 1);
	}
	if (ret != want)
		diff_fail(d, "commit %d, expected %d", ret, want);
	if (ret || bad)
		changed = false;
	counts(d->vm, &p1, &q1);
	if (gpc_memslot_generation(d->vm) != g + changed ||
	    p1 - p0 != changed || q1 - q0 != changed)
		diff_fail(d, "gen %llu -> %llu, %llu publishes, %llu gps",
			  (unsigned long long)g,
			  (unsigned long long)gpc_memslot_generation(d->vm),
			  (unsigned long long)(p1 - p0),
			  (unsigned long long)(q1 - q0));
	if (changed)
		d->model = d->next;
	return changed;
}

static void test_txn_differential(void **state)
{
	struct gpc_vm *vm = *state;
	static struct diff d;
	struct gpc_memslot_listener v = { .prepare = v_prepare,
					  .abort = v_abort,
					  .commit = v_commit,
					  .ctx = &d };
	struct gpc_memslot_listener rf = { .prepare = refuse_prepare,
					   .ctx = &d };
	pthread_t rt[D_READERS], tt;
	uint64_t seed = 7,
		 end = test_now_ns() + (uint64_t)(1.5e9 * test_scale());
	long versions = 1;
	int i;

	test_watchdog_arm(120, "memslot transactions vs readers");
	memset(&d, 0, sizeof(d));
	d.vm = vm;
	d.gen0 = gpc_memslot_generation(vm);
	d.ver = calloc(D_VERSIONS + 2, sizeof(*d.ver));
	assert_non_null(d.ver);
	assert_int_equal(gpc_memslot_count(vm), 0);
	assert_int_equal(gpc_memslot_listener_add(vm, &v), 0);
	assert_int_equal(gpc_memslot_listener_add(vm, &rf), 0);
	for (i = 0; i < D_READERS; i++)
		assert_int_equal(pthread_create(&rt[i], NULL, diff_reader, &d),
				 0);
	assert_int_equal(pthread_create(&tt, NULL, diff_toggler, &d), 0);
	while (test_now_ns() < end && versions < D_VERSIONS &&
	       !atomic_load(&d.errors))
		versions += diff_commit_one(&d, &seed);
	atomic_store(&d.stop, 1);
	for (i = 0; i < D_READERS; i++)
		assert_int_equal(pthread_join(rt[i], NULL), 0);
	assert_int_equal(pthread_join(tt, NULL), 0);
	print_message(
		"%ld versions, %ld commits, %ld refused, %ld poisoned, "
		"%ld sections, %ld lookups, %ld toggles (%ld overlapped a "
		"commit, %ld calls)\n",
		versions, atomic_load(&d.commits), atomic_load(&d.refusals),
		atomic_load(&d.poisoned), atomic_load(&d.sections),
		atomic_load(&d.lookups), atomic_load(&d.toggles),
		atomic_load(&d.overlapped), atomic_load(&d.toggled_calls));
	if (atomic_load(&d.errors))
		fail_msg("%d errors, first: %s", atomic_load(&d.errors),
			 d.first_err);
	/* every prepare was followed by a commit or an abort */
	assert_int_equal(atomic_load(&d.prepares),
			 atomic_load(&d.commit_calls) + atomic_load(&d.aborts));
	assert_int_equal(atomic_load(&d.aborts), atomic_load(&d.refusals));
	/* every registration that saw a publish was called at least once */
	assert_true(atomic_load(&d.toggled_calls) >=
		    atomic_load(&d.overlapped));
	assert_true(versions > 10);
	assert_true(atomic_load(&d.sections) > 0);
	assert_int_equal(gpc_memslot_listener_remove(vm, &v), 0);
	assert_int_equal(gpc_memslot_listener_remove(vm, &rf), 0);
	assert_int_equal(gpci_memslots_verify(vm), 0);
	free(d.ver);
	test_watchdog_disarm();
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup_vm, teardown_vm)

int main(int argc, char **argv)
{
	const struct CMUnitTest unit[] = {
		T(test_split_one_commit), T(test_many_in_one),
		T(test_step_errnos),	  T(test_empty_and_noop),
		T(test_deadlock),	  T(test_listener_order_and_refusal),
		T(test_change_list),	  T(test_mirror_wrapper_and_pin),
	};
	const struct CMUnitTest conc[] = {
		T(test_txn_differential),
	};
	const char *which = argc > 1 ? argv[1] : "";
	static const enum gpc_scheme schemes[] = { GPC_SCHEME_SRCU,
						   GPC_SCHEME_RWLOCK };
	int fails = 0;
	unsigned int k;

	for (k = 0; k < 2; k++) {
		scheme = schemes[k];
		print_message("scheme %s\n", k ? "rwlock" : "srcu");
		if (strcmp(which, "concurrency"))
			fails += cmocka_run_group_tests_name(
				k ? "txn unit rwlock" : "txn unit srcu", unit,
				NULL, NULL);
		if (strcmp(which, "unit"))
			fails += cmocka_run_group_tests_name(
				k ? "txn concurrency rwlock" :
				    "txn concurrency srcu",
				conc, NULL, NULL);
	}
	return fails;
}
