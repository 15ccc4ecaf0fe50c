// SPDX-License-Identifier: MIT
/*
 * fuzz/ops_slot.c - the memslot operations (create, delete, move, set
 * flags) and the check of what the memslot mirror hook was told.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "decoder.h"
#include "model.h"
#include "ops.h"
#include "report.h"
#include "runtime.h"

static void prep_mirror(bool fails)
{
	rt.mirror_err = fails ? -EPERM : 0;
	rt.mirror_calls = 0;
}

/* After a memslot change the model predicted would pass validation. */
static int m_mirror(const struct mslot *o, uint32_t id, const struct mslot *n,
		    bool fails)
{
	if (!m.mirror)
		return 0;
	if (rt.mirror_calls != 1)
		fail("memslot mirror called %d times, expected once",
		     rt.mirror_calls);
	if (rt.mo_set != (o != NULL) || rt.mn_set != (n != NULL))
		fail("memslot mirror old/new presence wrong");
	if (o && (rt.mo.id != id || rt.mo.gpa != o->gpa ||
		  rt.mo.size != o->size || rt.mo.hva != o->hva ||
		  rt.mo.flags != o->flags || rt.mo.generation != m.gen))
		fail("memslot mirror: old slot info wrong");
	if (n && (rt.mn.id != id || rt.mn.gpa != n->gpa ||
		  rt.mn.size != n->size || rt.mn.hva != n->hva ||
		  rt.mn.flags != n->flags || rt.mn.generation != m.gen + 1))
		fail("memslot mirror: new slot info wrong");
	return fails ? -EPERM : 0;
}

static void mirror_not_called(void)
{
	if (rt.mirror_calls)
		fail("memslot mirror called for a change that fails validation");
}

void op_slot_create(const uint8_t *a)
{
	uint32_t id = a[0] & 7, flags;
	bool mf = a[0] & 32;
	int r = a[2] >> 6, want, got;
	uint64_t gpa = dec_slot_gpa(a[1]), hva, size;
	unsigned int p, np;
	static const uint32_t fsel[4] = { 0, GPC_MEMSLOT_READONLY, 4,
					  GPC_MEMSLOT_READONLY };

	flags = fsel[(a[0] >> 3) & 3];
	if (r == 3)
		r = 2;
	p = (a[2] & 15) % reg_np(r);
	hva = reg_base(r) + p * PG;
	np = a[3] & 15;
	if (np >= 12)
		np = reg_np(r) - p;
	if (np <= 8 && np > reg_np(r) - p)
		np = reg_np(r) - p;
	size = np * PG;
	if (np == 9)
		size = PG + 8;
	else if (np == 10)
		hva += 8, size = PG;
	else if (np == 11)
		hva = UINT64_MAX & ~(PG - 1), size = PG;
	prep_mirror(mf);
	got = gpc_memslot_create(rt.vm, id, gpa, size, hva, flags);
	if (id >= MAX_SLOTS || (flags & ~GPC_MEMSLOT_FLAGS_ALL) ||
	    !m_slot_range_ok(gpa, size) || !m_slot_range_ok(hva, size))
		want = -EINVAL;
	else if (srcu_held())
		want = -EDEADLK;
	else if (m.slots[id].used)
		want = -EEXIST; /* the id in use */
	else if (m_slot_overlaps(-1, gpa, size))
		want = -EADDRINUSE; /* the range */
	else
		want = 1;
	if (want != 1) {
		mirror_not_called();
	} else {
		struct mslot n = { true, gpa, size, hva, flags };

		want = m_mirror(NULL, id, &n, mf);
		if (!want) {
			m.slots[id] = n;
			m_slot_changed();
		}
	}
	expect_err("gpc_memslot_create", got, want);
}

void op_slot_delete(const uint8_t *a)
{
	uint32_t id = a[0] & 7;
	bool mf = a[0] & 32;
	int want, got;

	prep_mirror(mf);
	got = gpc_memslot_delete(rt.vm, id);
	if (srcu_held())
		want = -EDEADLK;
	else if (id >= MAX_SLOTS || !m.slots[id].used)
		want = -ENOENT;
	else
		want = 1;
	if (want != 1) {
		mirror_not_called();
	} else {
		want = m_mirror(&m.slots[id], id, NULL, mf);
		if (!want) {
			m.slots[id].used = false;
			m_slot_changed();
		}
	}
	expect_err("gpc_memslot_delete", got, want);
}

void op_slot_move(const uint8_t *a)
{
	uint32_t id = a[0] & 7;
	bool mf = a[0] & 32;
	uint64_t gpa = dec_slot_gpa(a[1]);
	int want, got;

	prep_mirror(mf);
	got = gpc_memslot_move(rt.vm, id, gpa);
	if (gpa & (PG - 1))
		want = -EINVAL;
	else if (srcu_held())
		want = -EDEADLK;
	else if (id >= MAX_SLOTS || !m.slots[id].used)
		want = -ENOENT;
	else if (gpa == m.slots[id].gpa)
		want = 0; /* its own address: no change, no mirror call */
	else if (!m_slot_range_ok(gpa, m.slots[id].size))
		want = -EINVAL;
	else if (m_slot_overlaps((int)id, gpa, m.slots[id].size))
		want = -EADDRINUSE;
	else
		want = 1;
	if (want != 1) {
		mirror_not_called();
	} else {
		struct mslot n = m.slots[id];

		n.gpa = gpa;
		want = m_mirror(&m.slots[id], id, &n, mf);
		if (!want) {
			m.slots[id] = n;
			m_slot_changed();
		}
	}
	expect_err("gpc_memslot_move", got, want);
}

void op_slot_flags(const uint8_t *a)
{
	uint32_t id = a[0] & 7;
	bool mf = a[0] & 32;
	static const uint32_t fsel[4] = { 0, GPC_MEMSLOT_READONLY, 8,
					  GPC_MEMSLOT_READONLY | 8 };
	uint32_t flags = fsel[a[1] & 3];
	int want, got;

	prep_mirror(mf);
	got = gpc_memslot_set_flags(rt.vm, id, flags);
	if (flags & ~GPC_MEMSLOT_FLAGS_ALL)
		want = -EINVAL;
	else if (srcu_held())
		want = -EDEADLK;
	else if (id >= MAX_SLOTS || !m.slots[id].used)
		want = -ENOENT;
	else if (flags == m.slots[id].flags)
		want = 0; /* unchanged: no change, no mirror call */
	else
		want = 1;
	if (want != 1) {
		mirror_not_called();
	} else {
		struct mslot n = m.slots[id];

		n.flags = flags;
		want = m_mirror(&m.slots[id], id, &n, mf);
		if (!want) {
			m.slots[id] = n;
			m_slot_changed();
		}
	}
	expect_err("gpc_memslot_set_flags", got, want);
}

/*
 * One transaction of two steps: delete slot x, then move slot y to gpa,
 * validated against the table as the first step left it (y may move into
 * x's range). A failed step poisons: the commit is -ECANCELED and nothing
 * changes. One publish and one generation step for whatever changed, and
 * the mirror hook is called once per changed slot (the mirror never
 * refuses here: a refusal's undo calls are the unit tests' business).
 */
void op_slot_txn(const uint8_t *a)
{
	uint32_t x = a[0] & 7, y = (a[0] >> 3) & 7;
	uint64_t gpa = dec_slot_gpa(a[1]);
	struct gpc_memslot_txn *tx;
	struct mslot sx = { 0 }, sy = { 0 };
	int want, got, calls = 0;
	bool bad = false;

	prep_mirror(false);
	got = gpc_memslot_txn_begin(rt.vm, &tx);
	expect_err("gpc_memslot_txn_begin", got, srcu_held() ? -EDEADLK : 0);
	if (got)
		return;
	if (x < MAX_SLOTS)
		sx = m.slots[x];
	if (y < MAX_SLOTS)
		sy = m.slots[y];
	want = sx.used ? 0 : -ENOENT;
	got = gpc_memslot_txn_delete(tx, x);
	expect_err("gpc_memslot_txn_delete", got, want);
	bad = got != 0;
	if (!bad)
		m.slots[x].used = false;
	if (bad)
		want = -ECANCELED;
	else if (gpa & (PG - 1))
		want = -EINVAL;
	else if (y >= MAX_SLOTS || !m.slots[y].used)
		want = -ENOENT; /* also y == x, deleted by the first step */
	else if (gpa == sy.gpa)
		want = 0;
	else if (!m_slot_range_ok(gpa, sy.size))
		want = -EINVAL;
	else if (m_slot_overlaps((int)y, gpa, sy.size))
		want = -EADDRINUSE;
	else
		want = 0;
	got = gpc_memslot_txn_move(tx, y, gpa);
	expect_err("gpc_memslot_txn_move", got, want);
	bad = bad || got != 0;
	calls = !bad + (!bad && gpa != sy.gpa);
	got = gpc_memslot_txn_commit(tx);
	expect_err("gpc_memslot_txn_commit", got, bad ? -ECANCELED : 0);
	if (bad) {
		if (x < MAX_SLOTS)
			m.slots[x] = sx;
		mirror_not_called();
		return;
	}
	m.slots[y].gpa = gpa;
	m_slot_changed(); /* one step, whatever the number of changes */
	if (m.mirror && rt.mirror_calls != calls)
		fail("memslot mirror called %d times for a transaction of %d "
		     "changes",
		     rt.mirror_calls, calls);
}
