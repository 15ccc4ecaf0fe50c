// SPDX-License-Identifier: MIT
/*
 * fuzz/runtime.c - the library side of fuzz_api: the objects under test and
 * the callbacks the library calls (log, test hooks, vCPU kick, memslot
 * mirror). The callbacks check invariants inside the calls and record what
 * they saw for the model; two of them stand in for the other threads (see
 * fuzz/harness.c).
 */
#include <stdio.h>

#include "hooklog.h"
#include "model.h"
#include "report.h"
#include "runtime.h"

struct fz_runtime rt;
uint8_t buf[BUFSZ], buf2[BUFSZ];

void log_fn(enum gpc_log_level level, const char *msg, void *ctx)
{
	(void)ctx;
	if (level > GPC_LOG_WARN)
		return;
	if (!rt.logs++)
		snprintf(rt.logmsg, sizeof(rt.logmsg), "%s", msg);
}

static int cache_index(struct gpc_cache *c)
{
	return c ? (int)(c - rt.c) : -1;
}

/* End every invalidation in progress, as the thread that began it would. */
int rt_end_all(void)
{
	int n = rt.nopen;

	for (int i = 0; i < n; i++) {
		int err = gpc_invalidate_range_end(rt.vm, rt.open[i].s,
						   rt.open[i].e);

		if (err)
			fail("range_end(%#llx, %#llx) of an open invalidation returned %d",
			     (unsigned long long)rt.open[i].s,
			     (unsigned long long)rt.open[i].e, err);
	}
	rt.nopen = 0;
	return n;
}

void hook_fn(struct gpc_vm *vm, enum gpc_hook_point pt, struct gpc_cache *c,
	     void *ctx)
{
	int ci = cache_index(c);
	struct ev *e = NULL;

	(void)vm, (void)ctx;
	switch (pt) {
	case GPC_HOOK_REFRESH_STAGE1:
	case GPC_HOOK_REFRESH_PUBLISH:
		/* R3b: valid is cleared before the refresh drops its lock. */
		if (gpc_cache_check(c, 0, 0))
			fail("cache %d valid at hook %s", ci, pt_name(pt));
		if (!gpc_cache_is_active(c))
			fail("cache %d inactive at hook %s", ci, pt_name(pt));
		break;
	case GPC_HOOK_ACTIVATE:
		if (!gpc_cache_is_active(c))
			fail("cache %d not active at hook ACTIVATE", ci);
		break;
	case GPC_HOOK_DEACTIVATE:
		if (gpc_cache_is_active(c) || gpc_cache_check(c, 0, 0))
			fail("cache %d still active or valid at hook DEACTIVATE",
			     ci);
		break;
	case GPC_HOOK_INVAL_CLEARED:
		/* Every cache on the pages of the range is invalid before
		 * range_start waits (unless a held reader made it -EAGAIN). */
		if (!rt.inval_ctx)
			return;
		for (int i = 0; i < NC; i++) {
			struct mcache *mc = &m.c[i];

			if (mc->state != CS_LIVE || !mc->active || !mc->idx ||
			    !pages_overlap(mc->idx_hva,
					   mc->idx_hva + mc->idx_len, rt.is,
					   rt.ie))
				continue;
			if (gpc_cache_check(&rt.c[i], 0, 0))
				fail("cache %d still valid at INVAL_CLEARED of [%#llx, %#llx)",
				     i, (unsigned long long)rt.is,
				     (unsigned long long)rt.ie);
		}
		return;
	case GPC_HOOK_VCPU_ENTER:
		if (gpc_vcpu_mode(rt.v) != GPC_VCPU_IN_GUEST)
			fail("vCPU not in guest mode at hook VCPU_ENTER");
		break;
	case GPC_HOOK_REFRESH_RETRY:
		break;
	default:
		return;
	}
	e = ev_record(pt, ci);
	if (pt == GPC_HOOK_REFRESH_RETRY)
		e->nended = rt_end_all();
}

void kick_fn(struct gpc_vcpu *v, void *ctx)
{
	(void)ctx;
	if (v != rt.v)
		fail("kick for a vCPU that is not the current one");
	if (gpc_vcpu_mode(v) != GPC_VCPU_EXITING)
		fail("kick callback: mode %d, expected EXITING",
		     (int)gpc_vcpu_mode(v));
	rt.kicks++;
	/* The vCPU thread's signal handler: KVM_RUN returns, mode OUTSIDE. */
	if (auto_exit)
		gpc_vcpu_exit_guest(v);
}

int mirror_fn(void *ctx, const struct gpc_memslot_info *old,
	      const struct gpc_memslot_info *new_slot)
{
	(void)ctx;
	rt.mirror_calls++;
	rt.mo_set = old != NULL;
	rt.mn_set = new_slot != NULL;
	if (old)
		rt.mo = *old;
	if (new_slot)
		rt.mn = *new_slot;
	return rt.mirror_err;
}

int rt_change(int kind, struct gpc_vm *vm, uint64_t hva, uint64_t len, int prot)
{
	switch (kind) {
	case 0:
		return gpc_hostmem_unmap(vm, rt.hm, hva, len);
	case 1:
		return gpc_hostmem_remap(vm, rt.hm, hva, len);
	case 2:
		return gpc_hostmem_discard(vm, rt.hm, hva, len);
	case 3:
		return gpc_hostmem_migrate(vm, rt.hm, hva, len);
	default:
		return gpc_hostmem_protect(vm, rt.hm, hva, len, prot);
	}
}
