// SPDX-License-Identifier: MIT
/*
 * fuzz/ops.c - one record to one operation: the dispatch (with the vCPU
 * stand-in's part between operations and the checks after each), the held
 * access that runs the next record inside it, fault injection and the
 * bad-input calls.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "checks.h"
#include "decoder.h"
#include "model.h"
#include "ops.h"
#include "ops_translate.h"
#include "report.h"
#include "runtime.h"

static void op_fault(const uint8_t *a)
{
	static const int errs[4] = { 0, ENOMEM, -EIO, EINVAL };
	static const int merr[4] = { -EFAULT, -ENOMEM, -EIO, -EINVAL };

	rt.tm.fail_errno = errs[a[2] & 3];
	m.fail_err = merr[a[2] & 3];
	m.fail_translate = a[0] & 3;
	atomic_store(&rt.tm.fail_translate, m.fail_translate);
	/* Whether map is called is predictable on the alias stage only. */
	m.fail_map = m.stage ? (a[1] & 3) : 0;
	atomic_store(&rt.tm.fail_map, m.fail_map);
}

static bool vm_busy(void)
{
	if (m.v.alive || m.nopen)
		return true;
	for (int i = 0; i < NC; i++)
		if (m.c[i].state == CS_LIVE)
			return true;
	return false;
}

static void op_bad(const uint8_t *a)
{
	uint64_t g = (uintptr_t)guard + a[1] * 8ull;
	struct gpc_memslot_info info;
	int got, want;

	switch (a[0] % 12) {
	case 0:
		expect_err("range_start(end == start)",
			   gpc_invalidate_range_start(rt.vm, g, g, 0), -EINVAL);
		break;
	case 1:
		expect_err("range_start(unknown flags)",
			   gpc_invalidate_range_start(rt.vm, g, g + 1, 0x80),
			   -EINVAL);
		break;
	case 2:
		got = gpc_invalidate_range_end(rt.vm, g, g + PG);
		want = is_open(g, g + PG) ? 0 : -ENOENT;
		if (!want) {
			remove_open(m.open, &m.nopen, g, g + PG);
			remove_open(rt.open, &rt.nopen, g, g + PG);
			m.seq++;
		}
		expect_err("range_end(never started)", got, want);
		break;
	case 3:
		expect_err("range_end(end < start)",
			   gpc_invalidate_range_end(rt.vm, g + 1, g), -EINVAL);
		break;
	case 4: {
		uint32_t id = a[1] & 7;

		got = gpc_memslot_get(rt.vm, id, &info);
		want = id < MAX_SLOTS && m.slots[id].used ? 0 : -ENOENT;
		expect_err("gpc_memslot_get", got, want);
		if (!got && (info.id != id || info.gpa != m.slots[id].gpa ||
			     info.size != m.slots[id].size ||
			     info.hva != m.slots[id].hva ||
			     info.flags != m.slots[id].flags ||
			     info.generation != m.gen))
			fail("gpc_memslot_get(%u): wrong info", id);
		break;
	}
	case 5: {
		uint64_t gpa = dec_gpa(a[1], a[2]);
		struct mslot *s = m_slot_at(gpa);

		got = gpc_memslot_lookup(rt.vm, gpa, &info);
		expect_err("gpc_memslot_lookup", got, s ? 0 : -ENOENT);
		if (s && (info.gpa != s->gpa || info.hva != s->hva ||
			  info.size != s->size || info.generation != m.gen))
			fail("gpc_memslot_lookup(%#llx): wrong slot",
			     (unsigned long long)gpa);
		translate_checks(gpa, a[3]);
		break;
	}
	case 6:
		if (vm_busy())
			expect_err("gpc_vm_destroy (busy)",
				   gpc_vm_destroy(rt.vm), -EBUSY);
		break;
	case 7: {
		int ci = BOGUS_C;
		struct gpc_cache_stats cs;

		for (int i = 0; i < NC; i++)
			if (m.c[i].state == CS_DEAD && (a[1] & 1))
				ci = i;
		expect_err("refresh (not initialised)",
			   gpc_cache_refresh(&rt.c[ci], 0), -EINVAL);
		expect_err("deactivate (not initialised)",
			   gpc_cache_deactivate(&rt.c[ci]), -EINVAL);
		/* Zero-filled (never initialised, or destroyed): a no-op. */
		expect_err("destroy (not initialised)",
			   gpc_cache_destroy(&rt.c[ci]), 0);
		expect_err("get_stats (not initialised)",
			   gpc_cache_get_stats(&rt.c[ci], &cs), -EINVAL);
		expect_err("read (not initialised)",
			   gpc_cache_read(&rt.c[ci], 0, buf, 1), -EINVAL);
		expect_err("write (not initialised)",
			   gpc_cache_write(&rt.c[ci], 0, buf, 1), -EINVAL);
		if (gpc_cache_check(&rt.c[ci], 0, 0) ||
		    gpc_cache_is_active(&rt.c[ci]))
			fail("cache %d not initialised but checks or is active",
			     ci);
		{
			struct gpc_guard g;
			uint64_t off = a[2] & 15, len = 1 + (a[3] & 63);

			/* Zero-filled: every fast path misses, nothing held. */
			if (gpc_cache_begin(&rt.c[ci], off, len, &g) ||
			    gpc_cache_try_begin(&rt.c[ci], off, len, &g) ||
			    gpc_cache_guest_ptr(&rt.c[ci], off, len) ||
			    gpc_cache_begin_ool(&rt.c[ci], off, len, &g) ||
			    gpc_cache_guest_ptr_ool(&rt.c[ci], off, len) ||
			    gpc_cache_check(&rt.c[ci], off, len))
				fail("cache %d not initialised but hits", ci);
			/* A second destroy of zero-filled storage: a no-op. */
			expect_err("destroy (not initialised, again)",
				   gpc_cache_destroy(&rt.c[ci]), 0);
		}
		break;
	}
	case 8:
		expect_err("gpc_vcpu_get_stats",
			   gpc_vcpu_get_stats(rt.v,
					      &(struct gpc_vcpu_stats){ 0 }),
			   0);
		break;
	case 9:
		expect_err("gpc_memslot_create(id out of range)",
			   gpc_memslot_create(rt.vm, 1000 + a[1], GBASE, PG,
					      (uintptr_t)guard, 0),
			   -EINVAL);
		break;
	case 10: {
		struct gpc_vcpu_stats vs;

		expect_err("gpc_vcpu_get_stats", gpc_vcpu_get_stats(rt.v, &vs),
			   0);
		break;
	}
	default:
		check_stats();
		break;
	}
}

/* Access held across another operation (srcu: a read section; rwlock: the
 * cache's reader lock). */
static void op_hold(const uint8_t *a, const uint8_t **next, const uint8_t *end)
{
	int ci = cache_arg(a[0]), h;
	struct mcache *mc = &m.c[ci];
	uint64_t off = dec_off(a[1], mc->pub_len);
	uint64_t len = dec_alen(a[2], mc->pub_len, off);
	uint8_t rec[FZ_REC];
	struct gpc_guard g;
	uint8_t *p = NULL;

	take_record(next, end, rec);
	if (mc->state != CS_LIVE || cur_op.in_hold)
		return;
	h = m_hit(ci, off, len);
	p = (a[0] & 8) ? gpc_cache_try_begin(&rt.c[ci], off, len, &g) :
			 gpc_cache_begin(&rt.c[ci], off, len, &g);
	if (h != T_MAYBE && (p != NULL) != (h == T_YES))
		fail("cache %d: begin %s, the model says %s", ci,
		     p ? "hit" : "missed", h == T_YES ? "hit" : "miss");
	if (!p)
		return;
	mc->valid = T_YES;
	verify_hit(ci, p, off, len);
	m.held = ci;
	cur_op.in_hold = true;
	if ((rec[0] % FZ_OP_NR) != FZ_OP_HOLD)
		dispatch(rec, NULL, NULL);
	cur_op.in_hold = false;
	/* Still mapped and unchanged while held? (R4/R10 on one thread.) */
	verify_hit(ci, p, off, len);
	gpc_cache_end(&rt.c[ci], &g);
	m.held = -1;
	check_state();
}

static const char *op_names[FZ_OP_NR] = {
	"slot_create",
	"slot_delete",
	"slot_move",
	"slot_flags",
	"activate_gpa",
	"activate_hva",
	"deactivate",
	"refresh",
	"check",
	"read",
	"write",
	"copy",
	"inval",
	"inval_end",
	"inval_nonblock",
	"hostmem_helper",
	"vcpu_enter",
	"vcpu_exit",
	"handle_requests",
	"vcpu_request",
	"guest_ptr",
	"hold",
	"init",
	"fault",
	"bad",
	"stats",
	"vcpu_life",
	"slot_txn",
	"domain",
	"listen",
	"dirty",
};

/* Operations that never block on the vCPU (everything else runs with the
 * vCPU "thread" leaving guest mode when kicked, and not left EXITING). */
static bool nonblocking_op(int op)
{
	return op == FZ_OP_INVAL_NB || op == FZ_OP_CHECK || op == FZ_OP_GUEST ||
	       op == FZ_OP_ENTER || op == FZ_OP_EXIT || op == FZ_OP_REQUEST ||
	       op == FZ_OP_STATS || op == FZ_OP_FAULT || op == FZ_OP_HOLD;
}

void dispatch(const uint8_t *rec, const uint8_t **next, const uint8_t *end)
{
	int op = rec[0] % FZ_OP_NR;
	const uint8_t *a = rec + 1;
	const char *outer = cur_op.opname;

	if (!cur_op.in_hold)
		memcpy(cur_op.rec, rec, FZ_REC);
	cur_op.opname = op_names[op];
	if (verbose)
		fprintf(stderr, "op %d%s: %s %02x %02x %02x %02x\n",
			cur_op.opno, cur_op.in_hold ? " (held)" : "",
			cur_op.opname, a[0], a[1], a[2], a[3]);
	resolve();
	if (!nonblocking_op(op) && m.v.alive && m.v.mode == M_EXITING) {
		/* The vCPU thread saw its kick and left guest mode. */
		gpc_vcpu_exit_guest(rt.v);
		m.v.mode = M_OUT;
	}
	auto_exit = true;
	switch (op) {
	case FZ_OP_SLOT_CREATE:
		op_slot_create(a);
		break;
	case FZ_OP_SLOT_DELETE:
		op_slot_delete(a);
		break;
	case FZ_OP_SLOT_MOVE:
		op_slot_move(a);
		break;
	case FZ_OP_SLOT_FLAGS:
		op_slot_flags(a);
		break;
	case FZ_OP_SLOT_TXN:
		op_slot_txn(a);
		break;
	case FZ_OP_ACT_GPA:
		op_activate(a, false);
		break;
	case FZ_OP_ACT_HVA:
		op_activate(a, true);
		break;
	case FZ_OP_DEACT:
		op_deactivate(a);
		break;
	case FZ_OP_REFRESH:
		op_refresh(a);
		break;
	case FZ_OP_CHECK:
		op_check(a);
		break;
	case FZ_OP_READ:
		op_read(a);
		break;
	case FZ_OP_WRITE:
		op_write(a);
		break;
	case FZ_OP_COPY:
		op_copy(a);
		break;
	case FZ_OP_INVAL:
		op_inval(a);
		break;
	case FZ_OP_INVAL_END:
		op_inval_end(a);
		break;
	case FZ_OP_INVAL_NB:
		op_inval_nb(a);
		break;
	case FZ_OP_HELPER:
		op_helper(a);
		break;
	case FZ_OP_ENTER:
		op_enter();
		break;
	case FZ_OP_EXIT:
		op_exit();
		break;
	case FZ_OP_HANDLE:
		op_handle();
		break;
	case FZ_OP_REQUEST:
		op_request(a);
		break;
	case FZ_OP_GUEST:
		op_guest(a);
		break;
	case FZ_OP_HOLD:
		if (next)
			op_hold(a, next, end);
		break;
	case FZ_OP_INIT:
		op_init(a);
		break;
	case FZ_OP_FAULT:
		op_fault(a);
		break;
	case FZ_OP_BAD:
		op_bad(a);
		break;
	case FZ_OP_STATS:
		check_stats();
		break;
	case FZ_OP_VCPU_LIFE:
		op_vcpu_life(a);
		break;
	case FZ_OP_DOMAIN:
		op_domain(a);
		break;
	case FZ_OP_LISTEN:
		op_listen(a);
		break;
	case FZ_OP_DIRTY:
		op_dirty(a);
		break;
	case FZ_OP_IMPORT:
		op_import(a);
		break;
	}
	auto_exit = true;
	/* Faults of the map step are predictable on the alias stage only. */
	if (!m.stage && atomic_load(&rt.tm.fail_map))
		atomic_store(&rt.tm.fail_map, 0);
	check_state();
	cur_op.opname = outer;
}
