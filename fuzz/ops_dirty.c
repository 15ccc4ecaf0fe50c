// SPDX-License-Identifier: MIT
/*
 * fuzz/ops_dirty.c - the dirty log (FZ_OP_DIRTY) on a vm of its own, made
 * and destroyed within the operation: slot 0 logs (four pages at a guest
 * address the input picks, mostly not a multiple of 64 pages, so the
 * harvest must shift), slot 1 does not. Writes through gpc_cache_write()
 * and gpc_cache_copy() must be reported; the library may over-report the
 * ranges of writable GPA caches (gpc/dirty.h), so the checks are: the
 * pages written are set, nothing outside the pages written or mapped by a
 * writable cache is set, nothing is set for slot 1 or outside slot 0, bits
 * already in a vhost-user log stay set, get-and-clear clears, and every
 * errno of both calls as dirty.h lists them.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "checks.h"
#include "model.h"
#include "ops.h"
#include "report.h"
#include "runtime.h"

#define DPG 4 /* pages of slot 0 */

static struct gpc_vm *dvm;
static struct gpc_cache dc[2];
static uint8_t vlog[256]; /* vhost-user log: 2048 pages of GPA */

static bool page_rw(int pg)
{
	return !m.pages[pg].hole &&
	       m.pages[pg].prot == (PROT_READ | PROT_WRITE);
}

/* Point cache @i at page @p of slot 0 (the whole page), writable. */
static void dact(int i, uint64_t gpa0, unsigned int p)
{
	expect_err("dirty: gpc_cache_activate_gpa",
		   gpc_cache_activate_gpa(&dc[i], gpa0 + p * PG, PG), 0);
}

/*
 * Check a get-and-clear result: @bm with return @n against @must (pages
 * that must be set) and @may (pages that may be set too).
 */
static void check_bits(const char *what, int n, uint64_t bm, unsigned int must,
		       unsigned int may)
{
	if (n < 0)
		fail("%s: %d", what, n);
	if ((bm & must) != must)
		fail("%s: pages %#x written but not reported (got %#llx)", what,
		     must, (unsigned long long)bm);
	if (bm & ~(uint64_t)(must | may))
		fail("%s: pages %#llx reported but neither written nor "
		     "mapped writable (must %#x, may %#x)",
		     what, (unsigned long long)(bm & ~(uint64_t)(must | may)),
		     must, may);
	if (n != __builtin_popcountll(bm))
		fail("%s returned %d for %d bits", what, n,
		     __builtin_popcountll(bm));
}

static void dwrite(int i, uint64_t hva0, unsigned int p, uint64_t off,
		   uint64_t len, uint8_t pat)
{
	memset(buf, pat, len);
	expect_err("dirty: gpc_cache_write",
		   gpc_cache_write(&dc[i], off, buf, len), 0);
	memcpy(shadow_at(hva0 + p * PG + off), buf, len);
	verify_hva(hva0 + p * PG + off, len);
}

/*
 * a: scheme (bit 0) | write page (bits 1-2) | copy page (bits 3-4) |
 * harvest page (bits 5-6); b: slot 0's gpa (page GBASE + 1 + b); c: write
 * offset; d: pattern.
 */
void op_dirty(const uint8_t *a)
{
	struct gpc_vm_config vc = { 0 };
	struct gpc_testmem tm4;
	struct gpc_testmem_counts tc;
	uint64_t gpa0 = GBASE + (1 + (uint64_t)a[1] * 3) * PG;
	uint64_t gpa1 = gpa0 + (DPG + 2) * PG, hva0 = reg_base(0), bm[2];
	unsigned int pw = (a[0] >> 1) & 3, pc = (a[0] >> 3) & 3,
		     ph = (a[0] >> 5) & 3;
	uint64_t off = a[2] % PG, len = 1 + (PG - off - 1) * a[3] / 255;
	struct gpc_guard g;
	int n;

	if (m.held >= 0)
		return;
	for (int i = 0; i < DPG + 2; i++)
		if (!page_rw(i))
			return; /* the main model made region 0 unwritable */
	gpc_testmem_init(&tm4, &gpc_hostmem_direct_ops, rt.hm);
	vc.scheme = a[0] & 1 ? GPC_SCHEME_RWLOCK : GPC_SCHEME_SRCU;
	vc.hostmem = &gpc_testmem_ops;
	vc.hostmem_ctx = &tm4;
	vc.max_memslots = 4;
	vc.name = "fuzz-dirty";
	expect_err("dirty: gpc_vm_create", gpc_vm_create(&vc, &dvm), 0);
	expect_err("dirty: gpc_memslot_create (logging)",
		   gpc_memslot_create(dvm, 0, gpa0, DPG * PG, hva0,
				      GPC_MEMSLOT_LOG_DIRTY),
		   0);
	expect_err("dirty: gpc_memslot_create",
		   gpc_memslot_create(dvm, 1, gpa1, 2 * PG, hva0 + DPG * PG, 0),
		   0);
	/* The errnos, each with the log untouched. */
	expect_err("get_and_clear(NULL bitmap)",
		   gpc_dirty_log_get_and_clear(dvm, 0, NULL, 1), -EINVAL);
	expect_err("get_and_clear(NULL vm)",
		   gpc_dirty_log_get_and_clear(NULL, 0, bm, 1), -EINVAL);
	expect_err("get_and_clear(no slot)",
		   gpc_dirty_log_get_and_clear(dvm, 3, bm, 1), -ENOENT);
	expect_err("get_and_clear(not logging)",
		   gpc_dirty_log_get_and_clear(dvm, 1, bm, 1), -ENODATA);
	expect_err("get_and_clear(0 words)",
		   gpc_dirty_log_get_and_clear(dvm, 0, bm, 0), -ENOSPC);
	expect_err("harvest(NULL log)",
		   gpc_dirty_log_harvest(dvm, 0, NULL, sizeof(vlog)), -EINVAL);
	expect_err("harvest(no slot)",
		   gpc_dirty_log_harvest(dvm, 2, vlog, sizeof(vlog)), -ENOENT);
	expect_err("harvest(not logging)",
		   gpc_dirty_log_harvest(dvm, 1, vlog, sizeof(vlog)), -ENODATA);
	/* One byte short of the bit of the slot's last page. */
	expect_err("harvest(log too small)",
		   gpc_dirty_log_harvest(dvm, 0, vlog,
					 (gpa0 / PG + DPG - 1) / 8),
		   -ENOSPC);
	/* Start from an empty log (whatever a new slot starts with). */
	n = gpc_dirty_log_get_and_clear(dvm, 0, bm, 1);
	if (n < 0)
		fail("dirty: first get_and_clear: %d", n);
	bm[0] = 0;
	expect_err("dirty: get_and_clear (cleared)",
		   gpc_dirty_log_get_and_clear(dvm, 0, bm, 1), 0);
	if (bm[0])
		fail("dirty: get_and_clear did not clear (%#llx)",
		     (unsigned long long)bm[0]);

	for (int i = 0; i < 2; i++)
		expect_err("dirty: gpc_cache_init",
			   gpc_cache_init(&dc[i], dvm, GPC_USAGE_HOST, NULL, 0),
			   0);
	/* A write, and a copy into another page. */
	dact(0, gpa0, pw);
	dwrite(0, hva0, pw, off, len, a[3]);
	dact(1, gpa0, pc);
	expect_err("dirty: gpc_cache_copy",
		   gpc_cache_copy(&dc[1], 0, &dc[0], off, len), 0);
	memcpy(buf2, shadow_at(hva0 + pw * PG + off), len);
	memcpy(shadow_at(hva0 + pc * PG), buf2, len);
	verify_hva(hva0 + pc * PG, len);
	/* Inside a section: both calls refuse, the log untouched. */
	if (!gpc_cache_begin(&dc[0], 0, 1, &g))
		fail("dirty: a valid cache misses");
	expect_err("get_and_clear inside a section",
		   gpc_dirty_log_get_and_clear(dvm, 0, bm, 1), -EDEADLK);
	expect_err("harvest inside a section",
		   gpc_dirty_log_harvest(dvm, 0, vlog, sizeof(vlog)), -EDEADLK);
	gpc_cache_end(&dc[0], &g);
	bm[0] = bm[1] = ~0ull;
	n = gpc_dirty_log_get_and_clear(dvm, 0, bm, 2);
	if (bm[1] != ~0ull)
		fail("dirty: get_and_clear wrote past the slot's words");
	check_bits("get_and_clear (write, copy)", n, bm[0], 1u << pw | 1u << pc,
		   0);
	/* Both caches still map their pages: re-marked, at most those. */
	n = gpc_dirty_log_get_and_clear(dvm, 0, bm, 1);
	check_bits("get_and_clear (caches mapped)", n, bm[0], 0,
		   1u << pw | 1u << pc);
	for (int i = 0; i < 2; i++)
		expect_err("dirty: gpc_cache_deactivate",
			   gpc_cache_deactivate(&dc[i]), 0);
	/* Once more to take what the last harvest re-marked; then empty. */
	n = gpc_dirty_log_get_and_clear(dvm, 0, bm, 1);
	check_bits("get_and_clear (after deactivate)", n, bm[0], 0,
		   1u << pw | 1u << pc);
	n = gpc_dirty_log_get_and_clear(dvm, 0, bm, 1);
	check_bits("get_and_clear (nothing written)", n, bm[0], 0, 0);

	/* A write to slot 1 (no log) and one to page ph, then a harvest. */
	expect_err("dirty: gpc_cache_activate_gpa (slot 1)",
		   gpc_cache_activate_gpa(&dc[1], gpa1, PG), 0);
	memset(buf, a[3] ^ 0x5a, 8);
	expect_err("dirty: gpc_cache_write (slot 1)",
		   gpc_cache_write(&dc[1], 0, buf, 8), 0);
	memcpy(shadow_at(hva0 + DPG * PG), buf, 8);
	dact(0, gpa0, ph);
	dwrite(0, hva0, ph, 0, 8, a[3]);
	expect_err("dirty: gpc_cache_deactivate", gpc_cache_deactivate(&dc[0]),
		   0);
	memset(vlog, 0, sizeof(vlog));
	vlog[0] = 1; /* page 0 of GPA: not ours, must stay set */
	n = gpc_dirty_log_harvest(dvm, 0, vlog, sizeof(vlog));
	if (n < 1)
		fail("dirty: harvest returned %d after a write", n);
	for (uint64_t pg = 0; pg < sizeof(vlog) * 8; pg++) {
		bool set = vlog[pg / 8] >> (pg % 8) & 1;
		uint64_t i = pg - gpa0 / PG;

		if (pg == 0) {
			if (!set)
				fail("dirty: harvest cleared a bit");
			continue;
		}
		if (pg >= gpa0 / PG && i < DPG) {
			if (i == ph && !set)
				fail("dirty: harvest lost page %u", ph);
			if (set && i != ph)
				fail("dirty: harvest reports unwritten page "
				     "%llu of slot 0",
				     (unsigned long long)i);
		} else if (set) {
			fail("dirty: harvest set bit %llu outside slot 0",
			     (unsigned long long)pg);
		}
	}
	n = gpc_dirty_log_get_and_clear(dvm, 0, bm, 1);
	check_bits("get_and_clear (after harvest)", n, bm[0], 0, 0);
	for (int i = 0; i < 2; i++) {
		expect_err("dirty: gpc_cache_destroy",
			   gpc_cache_destroy(&dc[i]), 0);
		expect_err("dirty: gpc_cache_destroy (again)",
			   gpc_cache_destroy(&dc[i]), 0);
	}
	gpc_testmem_counts(&tm4, &tc);
	if (tc.live_maps)
		fail("dirty: %lld mappings leaked", (long long)tc.live_maps);
	expect_err("dirty: gpc_vm_destroy", gpc_vm_destroy(dvm), 0);
	dvm = NULL;
}
