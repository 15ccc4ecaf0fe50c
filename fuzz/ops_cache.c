// SPDX-License-Identifier: MIT
/*
 * fuzz/ops_cache.c - the cache operations: init/destroy, activate,
 * deactivate, refresh, read, write, copy, and the fast paths (check, begin,
 * try_begin, guest_ptr).
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "checks.h"
#include "decoder.h"
#include "hooklog.h"
#include "model.h"
#include "ops.h"
#include "report.h"
#include "runtime.h"

static void fill(uint8_t *p, uint64_t len, uint8_t pat)
{
	for (uint64_t i = 0; i < len; i++)
		p[i] = (uint8_t)(pat + i * 31 + (uint64_t)cur_op.opno * 7);
}

void op_activate(const uint8_t *a, bool hva_mode)
{
	int ci = cache_arg(a[0]), want, got;
	struct mcache *mc = &m.c[ci];
	uint64_t len = lens[a[3] & 15], addr;

	if (hva_mode)
		addr = dec_hva(a[1], a[2], &len);
	else
		addr = dec_gpa(a[1], a[2]);
	got = hva_mode ? gpc_cache_activate_hva(&rt.c[ci], addr, len) :
			 gpc_cache_activate_gpa(&rt.c[ci], addr, len);
	if (mc->state != CS_LIVE || !m_range_ok(addr, len)) {
		want = -EINVAL;
	} else if (held()) {
		want = -EDEADLK;
	} else {
		if (mc->active && mc->usage == GPC_USAGE_GUEST)
			m_list_del(ci);
		mc->hva_mode = hva_mode;
		mc->addr = addr;
		mc->len = len;
		if (mc->usage == GPC_USAGE_GUEST)
			m.v.list[m.v.nlist++] = ci;
		mc->active = true;
		ev_expect(GPC_HOOK_ACTIVATE, ci);
		want = m_refresh_locked(ci);
	}
	expect_err(hva_mode ? "gpc_cache_activate_hva" :
			      "gpc_cache_activate_gpa",
		   got, want);
}

void op_deactivate(const uint8_t *a)
{
	int ci = cache_arg(a[0]), want = 0, got;
	struct mcache *mc = &m.c[ci];

	got = gpc_cache_deactivate(&rt.c[ci]);
	if (mc->state != CS_LIVE)
		want = -EINVAL;
	else if (held())
		want = -EDEADLK;
	else if (mc->active)
		m_deactivate(ci);
	expect_err("gpc_cache_deactivate", got, want);
}

void op_refresh(const uint8_t *a)
{
	int ci = cache_arg(a[0]), want, got;
	struct mcache *mc = &m.c[ci];
	uint64_t len = a[1] < 16 ? 0 : lens[a[1] & 15];

	if (len != UINT64_MAX || (a[1] & 32))
		len = clamp_hva_len(mc->hva_mode, mc->addr, len);
	got = gpc_cache_refresh(&rt.c[ci], len);
	want = m_refresh(ci, len);
	expect_err("gpc_cache_refresh", got, want);
}

void op_read(const uint8_t *a)
{
	int ci = cache_arg(a[0]), want, got;
	struct mcache *mc = &m.c[ci];
	uint64_t off = dec_off(a[1], mc->len),
		 len = dec_alen(a[2], mc->len, off);

	memset(buf, 0xa5, len);
	got = gpc_cache_read(&rt.c[ci], off, buf, len);
	want = m_access(ci, off, len, false);
	expect_err("gpc_cache_read", got, want);
	if (!got && memcmp(buf, shadow_at(mc->pub_hva + off), len))
		fail("gpc_cache_read of cache %d at %llu (+%llu) returned other bytes than were written at hva %#llx",
		     ci, (unsigned long long)off, (unsigned long long)len,
		     (unsigned long long)(mc->pub_hva + off));
}

void op_write(const uint8_t *a)
{
	int ci = cache_arg(a[0]), want, got;
	struct mcache *mc = &m.c[ci];
	uint64_t off = dec_off(a[1], mc->len),
		 len = dec_alen(a[2], mc->len, off);

	fill(buf, len, a[3]);
	got = gpc_cache_write(&rt.c[ci], off, buf, len);
	want = m_access(ci, off, len, true);
	expect_err("gpc_cache_write", got, want);
	if (!got) {
		memcpy(shadow_at(mc->pub_hva + off), buf, len);
		verify_hva(mc->pub_hva + off, len);
	}
}

void op_copy(const uint8_t *a)
{
	int d = cache_arg(a[0]), s = cache_arg(a[0] >> 3), want, got;
	struct mcache *md = &m.c[d], *ms = &m.c[s];
	uint64_t doff = dec_off(a[1], md->len), soff = dec_off(a[2], ms->len);
	uint64_t len = dec_alen(a[3], ms->len, soff);

	got = gpc_cache_copy(&rt.c[d], doff, &rt.c[s], soff, len);
	if (md->state != CS_LIVE || ms->state != CS_LIVE || !len ||
	    soff + len < soff || doff + len < doff)
		want = -EINVAL;
	else if (md->flags & GPC_CACHE_READONLY)
		want = -EPERM;
	else if (held()) /* before the length checks (lock order) */
		want = -EDEADLK;
	else if (soff + len > ms->len || doff + len > md->len)
		want = -EINVAL;
	else
		want = m_access(s, soff, len, false);
	if (!want) {
		/* The whole source is read before anything is written. */
		memcpy(buf2, shadow_at(ms->pub_hva + soff), len);
		want = m_access(d, doff, len, true);
		if (!want) {
			memcpy(shadow_at(md->pub_hva + doff), buf2, len);
			verify_hva(md->pub_hva + doff, len);
		}
	}
	expect_err("gpc_cache_copy", got, want);
}

/* check / begin / try_begin / guest_ptr on one cache. */
void op_check(const uint8_t *a)
{
	int ci = cache_arg(a[0]), how = (a[0] >> 3) & 3, h;
	struct mcache *mc = &m.c[ci];
	uint64_t off = dec_off(a[1], mc->pub_len);
	uint64_t len = dec_alen(a[2], mc->pub_len, off);
	struct gpc_guard g;
	uint8_t *p = NULL;
	bool got;

	if ((how == 1 || how == 2) && mc->state != CS_LIVE)
		how = 0;
	h = m_hit(ci, off, len);
	switch (how) {
	case 0:
		got = gpc_cache_check(&rt.c[ci], off, len);
		break;
	case 1:
		got = (p = gpc_cache_begin(&rt.c[ci], off, len, &g)) != NULL;
		break;
	case 2:
		got = (p = gpc_cache_try_begin(&rt.c[ci], off, len, &g)) !=
		      NULL;
		break;
	default:
		got = (p = gpc_cache_guest_ptr(&rt.c[ci], off, len)) != NULL;
		break;
	}
	if (h != T_MAYBE && got != (h == T_YES))
		fail("cache %d: %s(off %llu, len %llu) %s, the model says %s",
		     ci,
		     how == 0 ? "check" :
		     how == 3 ? "guest_ptr" :
				"begin",
		     (unsigned long long)off, (unsigned long long)len,
		     got ? "hit" : "missed", h == T_YES ? "hit" : "miss");
	if (got) {
		mc->valid = T_YES;
		if (p) {
			verify_hit(ci, p, off, len);
			if ((a[3] & 1) && !(mc->flags & GPC_CACHE_READONLY) &&
			    len) {
				fill(p, len, a[3]);
				memcpy(shadow_at(mc->pub_hva + off), p, len);
			}
		}
		if (how == 1 || how == 2)
			gpc_cache_end(&rt.c[ci], &g);
		if (p && (a[3] & 1) && !(mc->flags & GPC_CACHE_READONLY) && len)
			verify_hva(mc->pub_hva + off, len);
	}
}

void op_guest(const uint8_t *a)
{
	uint8_t b[4] = { (uint8_t)(a[0] | 0x18), a[1], a[2], a[3] };

	op_check(b);
}

void op_init(const uint8_t *a)
{
	int ci = cache_arg(a[0]), sel = a[1] % 6, got, want = 0;
	static const unsigned int fsel[5] = {
		0,
		GPC_CACHE_READONLY,
		GPC_CACHE_COUNT_HITS,
		GPC_CACHE_READONLY | GPC_CACHE_COUNT_HITS,
		1u << 5,
	};
	unsigned int flags = fsel[a[2] % 5];
	struct mcache *mc = &m.c[ci];
	enum gpc_usage usage = GPC_USAGE_HOST;
	struct gpc_vcpu *v = NULL;

	if (ci == BOGUS_C)
		sel = sel == 5 ? 5 : 2;
	if (mc->state == CS_LIVE) {
		auto_exit = true;
		got = gpc_cache_destroy(&rt.c[ci]);
		if (held()) {
			expect_err("gpc_cache_destroy inside a cache section",
				   got, -EDEADLK);
			return;
		}
		if (mc->active)
			m_deactivate(ci);
		mc->state = CS_DEAD;
		expect_err("gpc_cache_destroy", got, 0);
		check_state();
	} else if (sel == 5) {
		got = gpc_cache_destroy(&rt.c[ci]);
		/* Zero-filled (never initialised, or destroyed): a no-op. */
		expect_err("gpc_cache_destroy (not initialised)", got, 0);
		return;
	}
	if (sel == 5)
		return;
	switch (sel) {
	case 1:
		usage = GPC_USAGE_GUEST, v = rt.v;
		break;
	case 2:
		usage = (enum gpc_usage)7;
		break;
	case 3:
		v = rt.v;
		break;
	case 4:
		usage = GPC_USAGE_GUEST;
		break;
	}
	if (ci == BOGUS_C)
		usage = GPC_USAGE_GUEST, v = NULL;
	got = gpc_cache_init(&rt.c[ci], rt.vm, usage, v, flags);
	if ((flags & ~GPC_CACHE_FLAGS_ALL) || (usage == GPC_USAGE_HOST && v) ||
	    (usage != GPC_USAGE_HOST &&
	     (usage != GPC_USAGE_GUEST || !v || !m.v.alive)))
		want = -EINVAL;
	expect_err("gpc_cache_init", got, want);
	if (!got) {
		memset(mc, 0, sizeof(*mc));
		mc->state = CS_LIVE;
		mc->usage = usage;
		mc->flags = flags;
	}
}
