// SPDX-License-Identifier: MIT
/*
 * fuzz/ops_inval.c - the invalidation operations: blocking and
 * non-blocking range_start, a host memory change inside it, range_end now
 * or later, and the host memory change helpers.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "decoder.h"
#include "model.h"
#include "ops.h"
#include "report.h"
#include "runtime.h"

/* An invalidation: range_start, maybe a host memory change, range_end
 * now or later. */
static void do_inval(uint64_t s, uint64_t e, unsigned int flags, int helper,
		     bool leave_open)
{
	bool nb = flags & GPC_INVAL_NONBLOCK, maybe;
	int got, want;

	if (nb && m.nopen >= GPC_INVAL_MAX_INFLIGHT - 1)
		leave_open = false;
	rt.inval_ctx = true;
	rt.is = s;
	rt.ie = e;
	auto_exit = !nb;
	got = gpc_invalidate_range_start(rt.vm, s, e, flags);
	rt.inval_ctx = false;
	want = m_inval_start(s, e, flags, &maybe);
	if (maybe && got == -EAGAIN) {
		want = -EAGAIN;
		m.st_eagain++;
	}
	expect_err(nb ? "gpc_invalidate_range_start(NONBLOCK)" :
			"gpc_invalidate_range_start",
		   got, want);
	if (got == -EAGAIN) {
		/*
		 * The range is left pending (gpc/invalidate.h); this caller
		 * gives up, so it withdraws the mark: only the exact range
		 * matches, and only once. The model has no pending state.
		 */
		expect_err("gpc_invalidate_range_cancel(other range)",
			   gpc_invalidate_range_cancel(rt.vm, s, e + 1),
			   e + 1 > e ? -ENOENT : -EINVAL);
		expect_err("gpc_invalidate_range_cancel",
			   gpc_invalidate_range_cancel(rt.vm, s, e), 0);
		expect_err("gpc_invalidate_range_cancel(again)",
			   gpc_invalidate_range_cancel(rt.vm, s, e), -ENOENT);
	}
	if (got)
		return;
	if (nb)
		m.st_inval++;
	if (helper) {
		uint64_t hs = page_down(s + PG - 1), he = page_down(e);
		static const int prots[3] = { PROT_NONE, PROT_READ,
					      PROT_READ | PROT_WRITE };
		int kind = helper - 1, prot = kind >= 4 ? prots[kind - 4] : 0;

		if (kind > 4)
			kind = 4;
		if (hs < he && hs >= s) {
			got = rt_change(kind, NULL, hs, he - hs, prot);
			want = m_change_check(kind, hs, he - hs, prot);
			if (!want)
				want = m_change(kind, hs, he - hs, prot);
			expect_err("host memory change inside an invalidation",
				   got, want);
		}
	}
	if (leave_open && m.nopen < MAX_OPEN) {
		rt.open[rt.nopen++] = (struct range){ s, e };
		m.open[m.nopen++] = (struct range){ s, e };
		return;
	}
	got = gpc_invalidate_range_end(rt.vm, s, e);
	expect_err("gpc_invalidate_range_end", got, 0);
	m.seq++;
}

void op_inval(const uint8_t *a)
{
	uint64_t s, e;

	dec_range(a[0], a[1], a[2], &s, &e);
	do_inval(s, e, (a[3] & 16) ? 2u : 0u, a[3] & 7, a[3] & 8);
}

void op_inval_nb(const uint8_t *a)
{
	uint64_t s, e;

	dec_range(a[0], a[1], a[2], &s, &e);
	do_inval(s, e, GPC_INVAL_NONBLOCK, 0, a[3] & 1);
}

void op_inval_end(const uint8_t *a)
{
	uint64_t s, e;
	int got, want;

	switch (a[1] & 3) {
	case 0:
		if (!m.nopen) {
			s = (uintptr_t)guard + 1;
			e = s + 3;
			break;
		}
		s = m.open[a[0] % m.nopen].s;
		e = m.open[a[0] % m.nopen].e;
		break;
	case 1:
		if (!m.nopen)
			return;
		s = m.open[a[0] % m.nopen].s;
		e = m.open[a[0] % m.nopen].e + 1;
		break;
	case 2:
		s = (uintptr_t)guard + a[0];
		e = s;
		break;
	default:
		m.seq += (uint64_t)m.nopen;
		m.nopen = 0;
		rt_end_all();
		return;
	}
	got = gpc_invalidate_range_end(rt.vm, s, e);
	if (e <= s) {
		want = -EINVAL;
	} else if (!is_open(s, e)) {
		want = -ENOENT;
	} else {
		want = 0;
		remove_open(m.open, &m.nopen, s, e);
		remove_open(rt.open, &rt.nopen, s, e);
		m.seq++;
	}
	expect_err("gpc_invalidate_range_end", got, want);
}

void op_helper(const uint8_t *a)
{
	static const int prots[4] = { PROT_NONE, PROT_READ,
				      PROT_READ | PROT_WRITE, PROT_WRITE };
	int kind = a[0] & 7, prot = kind >= 4 ? prots[kind - 4] : 0,
	    r = a[1] >> 6;
	uint64_t hva, len;
	bool maybe;
	int got, want;

	if (kind > 4)
		kind = 4;
	if (r == 3) {
		hva = (uintptr_t)rbase[0];
		len = reg_npages[0] * PG;
	} else {
		hva = reg_base(r) + ((a[1] & 15) % reg_np(r)) * PG;
		len = ((a[2] & 7) + 1) * PG;
	}
	if ((a[3] & 3) == 1)
		hva += 8;
	else if ((a[3] & 3) == 2)
		len = 0;
	want = m_change_check(kind, hva, len, prot);
	rt.inval_ctx = true;
	rt.is = hva;
	rt.ie = hva + len;
	auto_exit = true;
	got = rt_change(kind, rt.vm, hva, len, prot);
	rt.inval_ctx = false;
	if (!want) {
		want = m_inval_start(hva, hva + len, 0, &maybe);
		if (!want) {
			want = m_change(kind, hva, len, prot);
			m.seq++;
		}
	}
	expect_err("host memory change helper", got, want);
}
