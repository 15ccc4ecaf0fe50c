// SPDX-License-Identifier: MIT
/*
 * fuzz/ops_domain.c - shared SRCU domains (FZ_OP_DOMAIN): a second vm,
 * created with gpc_vm_create_on() on the first vm's domain or on a domain
 * initialised here, lives for one operation: a memslot over a page of
 * region 0, a host cache on it that writes and reads guest RAM (the
 * model's shadow), then the teardown in the documented order. The destroy
 * rule is checked on the way: a domain in use refuses gpc_srcu_destroy()
 * with -EBUSY and changes nothing, a destroyed domain and a destroyed
 * cache destroy again as a no-op returning 0.
 *
 * The second vm has a test stage of its own (no fault injection, its own
 * mapping count), so the first vm's faults and counters are not disturbed
 * and the second one's leaks are seen on their own.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "checks.h"
#include "decoder.h"
#include "model.h"
#include "ops.h"
#include "report.h"
#include "runtime.h"

/* Zero-filled storage: gpc_srcu_init() takes it, and a destroyed domain. */
static _Alignas(64) struct gpc_srcu dom2;

/*
 * gpc_srcu_destroy() of a domain a vm uses: -EBUSY, and the refusal is
 * logged once (srcu.c says why); that log is expected, no other.
 */
static void destroy_busy(const char *what, struct gpc_srcu *d)
{
	int before = rt.logs;

	expect_err(what, gpc_srcu_destroy(d), -EBUSY);
	if (rt.logs != before + 1)
		fail("%s: %d log messages, expected one", what,
		     rt.logs - before);
	if (!before && !strstr(rt.logmsg, "refused"))
		fail("%s: logged \"%s\"", what, rt.logmsg);
	rt.logs = before;
	if (!before)
		rt.logmsg[0] = 0;
}

/* Page @pg of the model is plain RAM that a cache can map and write. */
static bool page_rw(int pg)
{
	return !m.pages[pg].hole &&
	       m.pages[pg].prot == (PROT_READ | PROT_WRITE);
}

/* The cache part: init, activate, refresh, write, read back, begin. */
static void second_cache(struct gpc_vm *vm2, uint64_t gpa, uint64_t hva,
			 const uint8_t *a)
{
	struct gpc_cache c2;
	struct gpc_guard g;
	uint64_t off = a[2] % PG, len = 1 + (a[3] * 16ull) % (PG - off);
	uint8_t *p;
	int pg;

	memset(&c2, 0, sizeof(c2));
	expect_err("vm2: gpc_cache_init",
		   gpc_cache_init(&c2, vm2, GPC_USAGE_HOST, NULL, 0), 0);
	expect_err("vm2: gpc_cache_init (live)",
		   gpc_cache_init(&c2, vm2, GPC_USAGE_HOST, NULL, 0), -EBUSY);
	reg_of(hva, &pg);
	if (page_rw(pg)) {
		/* Activation refreshes: active and valid on success. */
		expect_err("vm2: gpc_cache_activate_gpa",
			   gpc_cache_activate_gpa(&c2, gpa, PG), 0);
		expect_err("vm2: gpc_cache_refresh", gpc_cache_refresh(&c2, 0),
			   0);
		if (!gpc_cache_check(&c2, off, len))
			fail("vm2: refreshed cache misses [%llu, +%llu)",
			     (unsigned long long)off, (unsigned long long)len);
		for (uint64_t i = 0; i < len; i++)
			buf[i] = (uint8_t)(a[1] + i * 7);
		expect_err("vm2: gpc_cache_write",
			   gpc_cache_write(&c2, off, buf, len), 0);
		memcpy(shadow_at(hva + off), buf, len);
		/* Seen at the HVA, hence by the first vm's caches too. */
		verify_hva(hva + off, len);
		memset(buf2, 0, len);
		expect_err("vm2: gpc_cache_read",
			   gpc_cache_read(&c2, 0, buf2, PG), 0);
		if (memcmp(buf2, shadow_at(hva), PG))
			fail("vm2: gpc_cache_read does not return guest RAM");
		p = gpc_cache_begin(&c2, off, len, &g);
		if (!p)
			fail("vm2: gpc_cache_begin misses a valid cache");
		if (memcmp(p, shadow_at(hva + off), len))
			fail("vm2: gpc_cache_begin points at other bytes");
		gpc_cache_end(&c2, &g);
		/* The slot's generation moves: the cache must miss. */
		expect_err("vm2: gpc_memslot_set_flags",
			   gpc_memslot_set_flags(vm2, 0, GPC_MEMSLOT_READONLY),
			   0);
		if (gpc_cache_check(&c2, off, len))
			fail("vm2: cache hits across a memslot change");
	}
	expect_err("vm2: gpc_cache_destroy", gpc_cache_destroy(&c2), 0);
	/* The destroy rule: destroyed storage destroys again as a no-op. */
	expect_err("vm2: gpc_cache_destroy (again)", gpc_cache_destroy(&c2), 0);
	if (gpc_cache_check(&c2, 0, 1) || gpc_cache_is_active(&c2))
		fail("vm2: destroyed cache checks or is active");
}

/*
 * a: bit 0 domain (0: the first vm's, 1: dom2, initialised here); bit 1
 * scheme of the second vm (0 srcu, 1 rwlock); bit 2 skip the cache part;
 * bits 3-5: page of region 0 for the slot. b: pattern; c: cache byte
 * offset; d: length selector.
 */
void op_domain(const uint8_t *a)
{
	struct gpc_srcu *dom = gpc_vm_srcu(rt.vm);
	struct gpc_vm_config vc = { 0 };
	struct gpc_testmem tm2;
	struct gpc_testmem_counts tc;
	struct gpc_memslot_info info;
	struct gpc_vm *vm2 = NULL;
	bool own = a[0] & 1;
	uint64_t gpa = GBASE + 64 * PG, hva;
	unsigned int pidx = (a[0] >> 3) % reg_npages[0];
	uint64_t gen;

	/*
	 * Inside a held access the second vm's destroy on a shared domain is
	 * -EDEADLK (vm.h), which would strand it: not run there.
	 */
	if (m.held >= 0)
		return;
	if (own) {
		dom = &dom2;
		expect_err("gpc_srcu_init", gpc_srcu_init(dom, NULL), 0);
		expect_err("gpc_srcu_init (live)", gpc_srcu_init(dom, NULL),
			   -EBUSY);
	}
	/* The first vm's own domain: that vm uses it. */
	destroy_busy("gpc_srcu_destroy (first vm's domain)",
		     gpc_vm_srcu(rt.vm));
	gpc_testmem_init(&tm2,
			 m.stage ? &gpc_hostmem_alias_ops :
				   &gpc_hostmem_direct_ops,
			 rt.hm);
	vc.scheme = a[0] & 2 ? GPC_SCHEME_RWLOCK : GPC_SCHEME_SRCU;
	vc.hostmem = &gpc_testmem_ops;
	vc.hostmem_ctx = &tm2;
	vc.max_memslots = MAX_SLOTS;
	vc.name = "fuzz-2";
	expect_err("gpc_vm_create_on", gpc_vm_create_on(&vc, dom, &vm2), 0);
	if (gpc_vm_srcu(vm2) != dom)
		fail("gpc_vm_srcu(vm2) is not the domain it was created on");
	if (gpc_vm_scheme(vm2) != vc.scheme)
		fail("vm2: wrong scheme");
	destroy_busy("gpc_srcu_destroy (domain in use)", dom);
	/* The second vm's memslots are its own. */
	gen = gpc_memslot_generation(vm2);
	hva = reg_base(0) + pidx * PG;
	expect_err("vm2: gpc_memslot_get (none)",
		   gpc_memslot_get(vm2, 0, &info), -ENOENT);
	expect_err("vm2: gpc_memslot_create",
		   gpc_memslot_create(vm2, 0, gpa, PG, hva, 0), 0);
	expect_err("vm2: gpc_memslot_create (id in use)",
		   gpc_memslot_create(vm2, 0, gpa + PG, PG, hva, 0), -EEXIST);
	expect_err("vm2: gpc_memslot_create (overlap)",
		   gpc_memslot_create(vm2, 1, gpa, PG, hva, 0), -EADDRINUSE);
	if (gpc_memslot_generation(vm2) != gen + 1)
		fail("vm2: generation did not move by one");
	if (gpc_memslot_generation(rt.vm) != m.gen)
		fail("vm2's memslot change moved the first vm's generation");
	expect_err("vm2: gpc_memslot_lookup",
		   gpc_memslot_lookup(vm2, gpa + PG - 1, &info), 0);
	if (info.hva != hva || info.gpa != gpa || info.size != PG)
		fail("vm2: gpc_memslot_lookup: wrong slot");
	/* The first vm does not see it (unless it has a slot there). */
	expect_err("first vm: lookup of vm2's gpa",
		   gpc_memslot_lookup(rt.vm, gpa, &info),
		   m_slot_at(gpa) ? 0 : -ENOENT);
	if (!(a[0] & 4))
		second_cache(vm2, gpa, hva, a);
	expect_err("vm2: gpc_memslot_delete", gpc_memslot_delete(vm2, 0), 0);
	gpc_testmem_counts(&tm2, &tc);
	if (tc.live_maps)
		fail("vm2: %lld mappings leaked", (long long)tc.live_maps);
	expect_err("gpc_vm_destroy(vm2)", gpc_vm_destroy(vm2), 0);
	if (own) {
		expect_err("gpc_srcu_destroy (unused)", gpc_srcu_destroy(dom),
			   0);
		expect_err("gpc_srcu_destroy (again)", gpc_srcu_destroy(dom),
			   0);
	} else {
		destroy_busy("gpc_srcu_destroy (first vm alive)", dom);
	}
}
