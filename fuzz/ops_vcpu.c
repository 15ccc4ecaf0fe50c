// SPDX-License-Identifier: MIT
/*
 * fuzz/ops_vcpu.c - the vCPU operations: enter and leave guest mode,
 * handle requests, post a request, create and destroy the vCPU.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "hooklog.h"
#include "model.h"
#include "ops.h"
#include "report.h"
#include "runtime.h"

void op_enter(void)
{
	int got, want, any = T_NO, caches = T_YES;

	got = gpc_vcpu_enter_guest(rt.v);
	if (!m.v.alive || m.v.mode != M_OUT) {
		expect_err("gpc_vcpu_enter_guest", got, -EINVAL);
		return;
	}
	ev_expect(GPC_HOOK_VCPU_ENTER, -1);
	any = m.v.reqbits ? T_YES : m.v.req_inval;
	for (int i = 0; i < m.v.nlist; i++) {
		int ci = m.v.list[i], h = m_hit(ci, 0, m.c[ci].pub_len);

		if (h == T_NO)
			caches = T_NO;
		else if (h == T_MAYBE && caches == T_YES)
			caches = T_MAYBE;
	}
	if (any == T_YES || caches == T_NO)
		want = -EAGAIN;
	else if (any == T_NO && caches == T_YES)
		want = 0;
	else
		want = got == 0 || got == -EAGAIN ? got : 0;
	expect_err("gpc_vcpu_enter_guest", got, want);
	if (got == 0) {
		m.v.req_inval = T_NO;
		for (int i = 0; i < m.v.nlist; i++)
			m.c[m.v.list[i]].valid = T_YES;
		m.v.mode = M_IN;
	} else if (caches == T_YES) {
		m.v.req_inval = m.v.reqbits ? m.v.req_inval : T_YES;
	}
}

void op_exit(void)
{
	gpc_vcpu_exit_guest(rt.v);
	if (m.v.alive || m.v.mode != M_OUT)
		m.v.mode = M_OUT;
}

void op_handle(void)
{
	int got, want = 0;

	auto_exit = true;
	got = gpc_vcpu_handle_requests(rt.v);
	if (!m.v.alive) {
		expect_err("gpc_vcpu_handle_requests", got, -EINVAL);
		return;
	}
	/* Inside a held access: refused before anything is consumed. */
	if (m.held >= 0) {
		expect_err("gpc_vcpu_handle_requests", got, -EDEADLK);
		return;
	}
	{
		int list[NC], n = m.v.nlist;
		unsigned int bits = m.v.reqbits;

		memcpy(list, m.v.list, sizeof(list));
		m.v.req_inval = T_NO;
		m.v.reqbits = 0;
		for (int i = 0; i < n; i++) {
			int ci = list[i], e = 0;

			if (m_hit(ci, 0, m.c[ci].pub_len) != T_YES)
				e = m_refresh(ci, 0);
			if (e && !want)
				want = e;
		}
		if (!want)
			want = (int)(bits & ~(GPC_REQ_USER - 1));
		else /* on error the caller's bits stay pending */
			m.v.reqbits = bits & ~(GPC_REQ_USER - 1);
	}
	expect_err("gpc_vcpu_handle_requests", got, want);
}

void op_request(const uint8_t *a)
{
	static const unsigned int reqs[8] = {
		GPC_REQ_USER,
		GPC_REQ_USER << 3,
		GPC_REQ_CACHE_INVALID,
		0,
		2,
		GPC_REQ_USER | GPC_REQ_CACHE_INVALID,
		GPC_REQ_USER << 7,
		4,
	};
	unsigned int req = reqs[a[0] & 7];
	int got;

	auto_exit = a[1] & 1;
	got = gpc_vcpu_request(rt.v, req);
	if (!m.v.alive) {
		expect_err("gpc_vcpu_request", got, -EINVAL);
		return;
	}
	expect_err("gpc_vcpu_request", got, 0);
	m.v.reqbits |= req & ~GPC_REQ_CACHE_INVALID;
	if (req & GPC_REQ_CACHE_INVALID)
		m.v.req_inval = T_YES;
	if (m.v.mode == M_IN)
		m_kick_to(&m.v.mode);
}

void op_vcpu_life(const uint8_t *a)
{
	int got, want;

	if (a[0] & 1) {
		if (m.v.alive)
			return;
		got = gpc_vcpu_create(rt.vm, kick_fn, NULL, &rt.v);
		expect_err("gpc_vcpu_create", got, 0);
		memset(&m.v, 0, sizeof(m.v));
		m.v.alive = true;
		return;
	}
	got = gpc_vcpu_destroy(rt.v);
	if (!m.v.alive) {
		want = 0; /* destroyed already: a no-op (gpc/vm.h) */
	} else if (m.v.mode != M_OUT || m.v.nlist) {
		want = -EBUSY;
	} else {
		want = 0;
		for (int i = 0; i < NC; i++)
			if (m.c[i].state == CS_LIVE &&
			    m.c[i].usage == GPC_USAGE_GUEST)
				want = -EBUSY;
	}
	expect_err("gpc_vcpu_destroy", got, want);
	if (!got)
		m.v.alive = false;
}
