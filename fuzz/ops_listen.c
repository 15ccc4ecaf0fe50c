// SPDX-License-Identifier: MIT
/*
 * fuzz/ops_listen.c - memslot listeners (FZ_OP_LISTEN) on a vm of their
 * own, made and destroyed within the operation, so that the change lists
 * can be predicted from a small local table without disturbing the first
 * vm's model.
 *
 * The vm starts with slots 0-3. One to three listeners register (and are
 * refused a second registration and bad flags); one transaction then runs
 * up to six steps in an order the input picks: delete a slot, replace one
 * (delete + add of its id at another HVA), move one, change one's flags,
 * add two new ids. The model folds them the way memslot.h says: deletes,
 * replaces, moves, flag changes, adds, each group in the order of the
 * steps' first touch. Each listener's prepare may refuse with an errno the
 * input picks; the first refusal ends the commit with that errno (-EPERM
 * for a positive one), the listeners prepared before it get abort, latest
 * first, later ones nothing, and the table and generation stay as they
 * were. Otherwise every listener gets prepare, then commit with the new
 * generation, in registration order. One callback tries memslot writers,
 * which must return -EDEADLK there.
 */
#include <errno.h>
#include <string.h>

#include "decoder.h"
#include "model.h"
#include "ops.h"
#include "report.h"
#include "runtime.h"

#define NL	 3
#define NLSLOTS	 8
#define MAX_CALL 16
#define LG	 (GBASE + 256 * PG) /* guest base of this vm's slots */

enum { K_PREPARE = 1, K_ABORT, K_COMMIT };

struct lcall {
	int who, kind;
	unsigned int n;
	uint64_t gen;
	struct gpc_memslot_change c[NLSLOTS];
};

static struct {
	struct gpc_vm *vm;
	int veto[NL];	   /* prepare's return per listener */
	int nested_in;	   /* listener whose callback tries writers, or -1 */
	int nested_kind;   /* in that callback kind */
	int nested_res[3]; /* create, listener_add, listener_remove */
	bool nested_done;
	struct lcall calls[MAX_CALL];
	int ncalls;
} ls;

static struct gpc_memslot_listener lst[NL], spare;

static void record(int who, int kind, const struct gpc_memslot_change *c,
		   unsigned int n, uint64_t gen)
{
	struct lcall *lc;

	if (ls.ncalls >= MAX_CALL)
		fail("listener: more than %d callbacks in one commit",
		     MAX_CALL);
	lc = &ls.calls[ls.ncalls++];
	lc->who = who;
	lc->kind = kind;
	lc->n = n;
	lc->gen = gen;
	if (n > NLSLOTS)
		fail("listener %d: %u changes, at most %d possible", who, n,
		     NLSLOTS);
	memcpy(lc->c, c, n * sizeof(*c));
	if (ls.nested_in == who && ls.nested_kind == kind && !ls.nested_done) {
		ls.nested_done = true;
		ls.nested_res[0] = gpc_memslot_create(ls.vm, 7, LG + 60 * PG,
						      PG, reg_base(0), 0);
		ls.nested_res[1] = gpc_memslot_listener_add(ls.vm, &spare);
		ls.nested_res[2] =
			gpc_memslot_listener_remove(ls.vm, &lst[who]);
	}
}

static int prep(void *ctx, struct gpc_vm *vm,
		const struct gpc_memslot_change *c, unsigned int n)
{
	int who = (int)(intptr_t)ctx;

	if (vm != ls.vm)
		fail("listener %d: prepare for another vm", who);
	record(who, K_PREPARE, c, n, 0);
	return ls.veto[who];
}

static void undo(void *ctx, struct gpc_vm *vm,
		 const struct gpc_memslot_change *c, unsigned int n)
{
	int who = (int)(intptr_t)ctx;

	if (vm != ls.vm)
		fail("listener %d: abort for another vm", who);
	record(who, K_ABORT, c, n, 0);
}

static void done(void *ctx, struct gpc_vm *vm,
		 const struct gpc_memslot_change *c, unsigned int n,
		 uint64_t gen)
{
	int who = (int)(intptr_t)ctx;

	if (vm != ls.vm)
		fail("listener %d: commit for another vm", who);
	record(who, K_COMMIT, c, n, gen);
}

/* The local model: this vm's slots. */
struct lslot {
	bool used;
	uint64_t gpa, hva;
	uint32_t flags;
};

static void desc_of(struct gpc_memslot_desc *d, uint32_t id,
		    const struct lslot *s)
{
	memset(d, 0, sizeof(*d));
	d->id = id;
	d->gpa = s->gpa;
	d->size = PG;
	d->hva = s->hva;
	d->flags = s->flags;
}

static void check_desc(const char *what, int i,
		       const struct gpc_memslot_desc *got, uint32_t id,
		       const struct lslot *s, uint64_t gen)
{
	if (got->id != id || got->gpa != s->gpa || got->size != PG ||
	    got->hva != s->hva || got->flags != s->flags ||
	    got->generation != gen)
		fail("listener change %d: %s is id %u gpa %#llx size %#llx hva "
		     "%#llx flags %#x gen %llu; expected id %u gpa %#llx hva "
		     "%#llx flags %#x gen %llu",
		     i, what, got->id, (unsigned long long)got->gpa,
		     (unsigned long long)got->size,
		     (unsigned long long)got->hva, got->flags,
		     (unsigned long long)got->generation, id,
		     (unsigned long long)s->gpa, (unsigned long long)s->hva,
		     s->flags, (unsigned long long)gen);
}

/* One predicted change. */
struct pchange {
	uint32_t op, id;
};

static void check_list(const struct lcall *lc, const struct pchange *pc, int np,
		       const struct lslot *before, const struct lslot *after,
		       uint64_t g0)
{
	if (lc->n != (unsigned int)np)
		fail("listener %d (%d): %u changes, expected %d", lc->who,
		     lc->kind, lc->n, np);
	for (int i = 0; i < np; i++) {
		const struct gpc_memslot_change *c = &lc->c[i];

		if (c->op != pc[i].op)
			fail("listener %d change %d: op %u, expected %u (id %u)",
			     lc->who, i, c->op, pc[i].op, pc[i].id);
		if (pc[i].op != GPC_MEMSLOT_CHANGE_ADD)
			check_desc("old", i, &c->old_slot, pc[i].id,
				   &before[pc[i].id], g0);
		if (pc[i].op != GPC_MEMSLOT_CHANGE_DELETE)
			check_desc("new", i, &c->new_slot, pc[i].id,
				   &after[pc[i].id], g0 + 1);
	}
}

static const int vetoes[4] = { 0, -EIO, -ENOSPC, 5 };

/*
 * a: listeners - 1 (bits 0-1, 3 is one) | scheme (bit 2) | nested writer
 * in listener (bits 3-4) during prepare (bit 5: commit); b: veto per
 * listener (2 bits each: none, -EIO, -ENOSPC, +5); c: steps present (bit i:
 * delete, replace, move, flags, add 4, add 5) ; d: rotation of the step
 * order (bits 0-2), target slot (bits 3-4), add order (bit 5).
 */
void op_listen(const uint8_t *a)
{
	struct gpc_vm_config vc = { 0 };
	struct gpc_testmem tm3;
	struct lslot before[NLSLOTS] = { 0 }, after[NLSLOTS];
	struct gpc_memslot_txn *tx;
	struct pchange pc[NLSLOTS];
	struct gpc_memslot_desc d;
	struct gpc_memslot_info info;
	int nl = (a[0] & 3) % 3 + 1, np = 0, steps[6], nsteps = 0, got, want;
	unsigned int t = (a[3] >> 3) & 3, rot = a[3] & 7;
	int vetoer = -1;
	uint64_t g0;

	/* Memslot writers wait for the first vm's readers: not in a hold. */
	if (m.held >= 0)
		return;
	memset(&ls, 0, sizeof(ls));
	ls.nested_in = (a[0] >> 3) & 3;
	if (ls.nested_in >= nl)
		ls.nested_in = -1;
	ls.nested_kind = a[0] & 32 ? K_COMMIT : K_PREPARE;
	gpc_testmem_init(&tm3, &gpc_hostmem_direct_ops, rt.hm);
	vc.scheme = a[0] & 4 ? GPC_SCHEME_RWLOCK : GPC_SCHEME_SRCU;
	vc.hostmem = &gpc_testmem_ops;
	vc.hostmem_ctx = &tm3;
	vc.max_memslots = NLSLOTS;
	vc.name = "fuzz-listen";
	expect_err("listen: gpc_vm_create", gpc_vm_create(&vc, &ls.vm), 0);
	for (uint32_t i = 0; i < 4; i++) {
		before[i] = (struct lslot){ true, LG + i * 4 * PG,
					    reg_base(0) + i * PG, 0 };
		expect_err("listen: gpc_memslot_create",
			   gpc_memslot_create(ls.vm, i, before[i].gpa, PG,
					      before[i].hva, 0),
			   0);
	}
	for (int i = 0; i < NL; i++) {
		memset(&lst[i], 0, sizeof(lst[i]));
		lst[i].prepare = prep;
		lst[i].abort = undo;
		lst[i].commit = done;
		lst[i].ctx = (void *)(intptr_t)i;
		ls.veto[i] = vetoes[(a[1] >> (2 * i)) & 3];
	}
	memset(&spare, 0, sizeof(spare));
	spare.flags = 0x80;
	expect_err("gpc_memslot_listener_add (unknown flags)",
		   gpc_memslot_listener_add(ls.vm, &spare), -EINVAL);
	spare.flags = 0;
	spare.reserved0 = 1;
	expect_err("gpc_memslot_listener_add (reserved)",
		   gpc_memslot_listener_add(ls.vm, &spare), -EINVAL);
	spare.reserved0 = 0;
	expect_err("gpc_memslot_listener_remove (never added)",
		   gpc_memslot_listener_remove(ls.vm, &spare), -ENOENT);
	for (int i = 0; i < nl; i++)
		expect_err("gpc_memslot_listener_add",
			   gpc_memslot_listener_add(ls.vm, &lst[i]), 0);
	expect_err("gpc_memslot_listener_add (again)",
		   gpc_memslot_listener_add(ls.vm, &lst[0]), -EEXIST);

	/* The steps, on distinct slots: t deleted, t+1 replaced, t+2 moved,
	 * t+3 flags; ids 4 and 5 added. */
	for (int i = 0; i < 6; i++)
		if (a[2] & (1 << i))
			steps[nsteps++] = i;
	memcpy(after, before, sizeof(after));
	g0 = gpc_memslot_generation(ls.vm);
	expect_err("listen: gpc_memslot_txn_begin",
		   gpc_memslot_txn_begin(ls.vm, &tx), 0);
	for (int k = 0; k < nsteps; k++) {
		int st = steps[(k + (int)rot) % nsteps];
		uint32_t id = (t + (uint32_t)st) % 4;

		switch (st) {
		case 0:
			expect_err("txn_delete", gpc_memslot_txn_delete(tx, id),
				   0);
			after[id].used = false;
			break;
		case 1:
			expect_err("txn_delete (replace)",
				   gpc_memslot_txn_delete(tx, id), 0);
			after[id].hva = reg_base(0) + (4 + id) * PG;
			desc_of(&d, id, &after[id]);
			expect_err("txn_add (replace)",
				   gpc_memslot_txn_add(tx, &d), 0);
			break;
		case 2:
			after[id].gpa = LG + (32 + id) * PG;
			expect_err("txn_move",
				   gpc_memslot_txn_move(tx, id, after[id].gpa),
				   0);
			break;
		case 3:
			after[id].flags = GPC_MEMSLOT_READONLY;
			expect_err("txn_set_flags",
				   gpc_memslot_txn_set_flags(
					   tx, id, GPC_MEMSLOT_READONLY),
				   0);
			break;
		default: {
			/* Ids 4 and 5, in the input's order. */
			uint32_t nid = (uint32_t)st ^ ((a[3] >> 5) & 1);

			after[nid] =
				(struct lslot){ true, LG + (48 + nid) * PG,
						reg_base(1) + (nid - 4) * PG,
						0 };
			desc_of(&d, nid, &after[nid]);
			expect_err("txn_add", gpc_memslot_txn_add(tx, &d), 0);
			break;
		}
		}
	}
	/* The predicted list: by group, then first touch (step order). */
	for (int grp = 0; grp < 5; grp++) {
		static const uint32_t ops[5] = { GPC_MEMSLOT_CHANGE_DELETE,
						 GPC_MEMSLOT_CHANGE_REPLACE,
						 GPC_MEMSLOT_CHANGE_MOVE,
						 GPC_MEMSLOT_CHANGE_FLAGS,
						 GPC_MEMSLOT_CHANGE_ADD };

		for (int k = 0; k < nsteps; k++) {
			int st = steps[(k + (int)rot) % nsteps];
			int g = st > 4 ? 4 : st;
			uint32_t id = st >= 4 ?
					      (uint32_t)st ^ ((a[3] >> 5) & 1) :
					      (t + (uint32_t)st) % 4;

			if (g == grp)
				pc[np++] = (struct pchange){ ops[grp], id };
		}
	}
	for (int i = 0; np && i < nl; i++)
		if (ls.veto[i]) {
			vetoer = i;
			break;
		}
	got = gpc_memslot_txn_commit(tx);
	want = vetoer < 0 ? 0 : ls.veto[vetoer] > 0 ? -EPERM : ls.veto[vetoer];
	expect_err("gpc_memslot_txn_commit (listeners)", got, want);
	/* The callbacks, in order. */
	{
		int k = 0, last = vetoer < 0 ? nl - 1 : vetoer;

		if (!np)
			last = -1; /* nothing changed: nothing published */
		for (int i = 0; i <= last; i++, k++) {
			if (k >= ls.ncalls || ls.calls[k].who != i ||
			    ls.calls[k].kind != K_PREPARE)
				fail("callback %d: expected prepare of "
				     "listener %d",
				     k, i);
			check_list(&ls.calls[k], pc, np, before, after, g0);
		}
		if (vetoer >= 0 && np) {
			for (int i = vetoer - 1; i >= 0; i--, k++) {
				if (k >= ls.ncalls || ls.calls[k].who != i ||
				    ls.calls[k].kind != K_ABORT)
					fail("callback %d: expected abort of "
					     "listener %d",
					     k, i);
				check_list(&ls.calls[k], pc, np, before, after,
					   g0);
			}
		} else if (np) {
			for (int i = 0; i < nl; i++, k++) {
				if (k >= ls.ncalls || ls.calls[k].who != i ||
				    ls.calls[k].kind != K_COMMIT ||
				    ls.calls[k].gen != g0 + 1)
					fail("callback %d: expected commit of "
					     "listener %d, gen %llu",
					     k, i, (unsigned long long)g0 + 1);
				check_list(&ls.calls[k], pc, np, before, after,
					   g0);
			}
		}
		if (k != ls.ncalls)
			fail("%d listener callbacks, expected %d", ls.ncalls,
			     k);
	}
	if (ls.nested_done)
		for (int i = 0; i < 3; i++)
			expect_err("memslot writer inside a listener callback",
				   ls.nested_res[i], -EDEADLK);
	if (vetoer >= 0 || !np)
		memcpy(after, before, sizeof(after));
	if (gpc_memslot_generation(ls.vm) != g0 + (vetoer < 0 && np))
		fail("listen: generation %llu, expected %llu",
		     (unsigned long long)gpc_memslot_generation(ls.vm),
		     (unsigned long long)(g0 + (vetoer < 0 && np)));
	for (uint32_t i = 0; i < NLSLOTS; i++) {
		got = gpc_memslot_get(ls.vm, i, &info);
		expect_err("listen: gpc_memslot_get", got,
			   after[i].used ? 0 : -ENOENT);
		if (!got &&
		    (info.gpa != after[i].gpa || info.hva != after[i].hva ||
		     info.flags != after[i].flags || info.size != PG))
			fail("listen: slot %u is not as committed", i);
	}
	for (int i = 0; i < nl; i++)
		expect_err("gpc_memslot_listener_remove",
			   gpc_memslot_listener_remove(ls.vm, &lst[i]), 0);
	expect_err("gpc_memslot_listener_remove (again)",
		   gpc_memslot_listener_remove(ls.vm, &lst[0]), -ENOENT);
	/* Removed: a later change calls nobody. */
	ls.ncalls = 0;
	expect_err("listen: gpc_memslot_delete", gpc_memslot_delete(ls.vm, 4),
		   after[4].used ? 0 : -ENOENT);
	if (ls.ncalls)
		fail("a removed listener was called");
	expect_err("listen: gpc_vm_destroy", gpc_vm_destroy(ls.vm), 0);
	ls.vm = NULL;
}
