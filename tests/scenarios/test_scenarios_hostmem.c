// SPDX-License-Identifier: MIT
/*
 * tests/scenarios/test_scenarios_hostmem.c - caches over host memory that
 * changes under them (R4, R16, R18 of docs/regressions.md), on both
 * read-side schemes and both host memory stages. What must hold:
 *
 * - R4: when the page behind a valid cache changes (migrate, discard,
 *   remap, protect read-only) the change helpers invalidate the cache, the
 *   next refresh maps the new page, and nothing is written to the old page
 *   after range_start returned.
 * - R16: at every offset around a page boundary either one cache covers
 *   both pages, or activation fails with -EINVAL when the host pages are
 *   not contiguous; writes land at exactly the right bytes.
 * - R18: writers each keep storing their cache's GPA into its page under
 *   host-memory and memslot churn (a short run of churn.h's engine,
 *   tests/support/churn.c): every page only ever holds 0 or its owner's
 *   GPA, and no access faults.
 *
 * R4 is named <scenario>_<scheme> and runs again with
 * GPC_SRCU_NO_MEMBARRIER=1 (test_scenarios_hostmem_nomembarrier); R16 and
 * R18 are named <scenario>/<scheme> and run once, as before the split.
 */
#include "scenario.h"
#include "churn.h"

/* ==== R4: the page behind a valid cache changes ========================== */

enum r4_op { R4_MIGRATE, R4_DISCARD, R4_REMAP, R4_PROTECT_RO, R4_NR };

static const char *const r4_names[] = { "migrate", "discard", "remap",
					"mprotect-ro" };

static int r4_change(struct tvm *t, struct gpc_vm *vm, enum r4_op op,
		     uint64_t page)
{
	switch (op) {
	case R4_MIGRATE:
		return gpc_hostmem_migrate(vm, t->hm, page, pg);
	case R4_DISCARD:
		return gpc_hostmem_discard(vm, t->hm, page, pg);
	case R4_REMAP:
		return gpc_hostmem_remap(vm, t->hm, page, pg);
	default:
		return gpc_hostmem_protect(vm, t->hm, page, pg, PROT_READ);
	}
}

/*
 * The reader: inside the cache (phase 1) it is told to write A and leave
 * (wrote is set before it leaves, so range_start must not return before);
 * then (phase 2) it comes back, must miss, refreshes, and writes B.
 */
struct r4_reader {
	struct gpc_cache *c;
	uint64_t a, b;
	atomic_int inside, go_write, wrote, go2, refreshed, refresh_ret, hit2;
};

static int r4_reader_fn(void *arg)
{
	struct r4_reader *r = arg;
	struct gpc_guard g;
	uint8_t *p = gpc_cache_begin(r->c, 0, 8, &g);

	if (!p)
		return -1;
	atomic_store(&r->inside, 1);
	test_wait_flag(&r->go_write, 60000);
	gm_store(p, r->a);
	atomic_store(&r->wrote, 1); /* still inside until end */
	gpc_cache_end(r->c, &g);
	test_wait_flag(&r->go2, 60000);
	p = gpc_cache_begin(r->c, 0, 8, &g);
	if (p) {
		atomic_store(&r->hit2, 1); /* must not happen: do not write */
		gpc_cache_end(r->c, &g);
		return -2;
	}
	atomic_store(&r->refresh_ret, gpc_cache_refresh(r->c, 0));
	atomic_store(&r->refreshed, 1);
	if (atomic_load(&r->refresh_ret))
		return 0;
	p = gpc_cache_begin(r->c, 0, 8, &g);
	if (!p)
		return -3;
	gm_store(p, r->b);
	gpc_cache_end(r->c, &g);
	return 0;
}

/* What the cached word and a far word of the page hold after the change,
 * as long as nobody wrote since range_start returned. */
static void r4_check_page(enum r4_op op, uint8_t *cur, uint8_t *old, uint64_t a,
			  uint64_t far)
{
	bool gone = op == R4_DISCARD || op == R4_REMAP;

	assert_int_equal(gm_load(cur), gone ? 0 : a);
	assert_int_equal(gm_load(cur + 256), gone ? 0 : far);
	if (old)
		assert_int_equal(gm_load(old), a);
}

/* The helper brackets the change itself (range_start .. range_end). */
static void r4_helper_notifies(struct tvm *t, struct gpc_cache *c,
			       enum r4_op op, uint64_t page, uint8_t *cur)
{
	uint64_t v = 0x4444000000000001ull, w = 0x4444000000000002ull, x = 0;

	assert_int_equal(gpc_cache_write(c, 0, &v, sizeof(v)), 0);
	assert_false(misses_now(c));
	assert_int_equal(r4_change(t, t->vm, op, page), 0);
	assert_true(misses_now(c));
	if (op == R4_PROTECT_RO) {
		assert_int_equal(gpc_cache_refresh(c, 0), -EFAULT);
		assert_int_equal(gpc_hostmem_protect(t->vm, t->hm, page, pg,
						     PROT_READ | PROT_WRITE),
				 0);
	}
	assert_int_equal(gpc_cache_read(c, 0, &x, sizeof(x)), 0);
	assert_int_equal(x, op == R4_MIGRATE || op == R4_PROTECT_RO ? v : 0);
	assert_int_equal(gpc_cache_write(c, 0, &w, sizeof(w)), 0);
	assert_int_equal(gm_load(cur), w);
}

static void r4_one(enum gpc_scheme scheme, enum tvm_stage stage, enum r4_op op)
{
	struct r4_reader r = { .a = 0xaaaa000000000004ull,
			       .b = 0xbbbb000000000004ull };
	uint64_t hva, page, far = 0xfafafafafafafafaull;
	struct gpc_testmem_counts k0, k;
	struct inval_arg ia;
	struct gpc_cache c;
	struct tbg rb, ib;
	uint8_t *cur, *old = NULL;
	struct tvm t;

	setup(&t, scheme, stage);
	host_cache(&t, &c, gpa_page(4), CACHE_LEN);
	r.c = &c;
	hva = tvm_hva(&t, gpa_page(4));
	page = page_of(hva);
	cur = (uint8_t *)(uintptr_t)hva;
	gm_store(cur + 256, far);
	k0 = tvm_counts(&t);
	/* A reader is inside the cache when the invalidation starts. */
	tbg_start(&rb, r4_reader_fn, &r);
	assert_true(test_wait_flag(&r.inside, TEST_PROMPT_MS));
	ia = (struct inval_arg){ t.vm, page, page + pg, 0, &r.wrote, 0 };
	tbg_start(&ib, inval_start_fn, &ia);
	/* range_start waits for it (grace period / write lock)... */
	assert_false(tbg_done_within(&ib, SHORT_MS));
	atomic_store(&r.go_write, 1);
	assert_int_equal(tbg_join(&ib), 0);
	/* ...and returns only after the reader left. */
	assert_int_equal(ia.watch_seen, 1);
	assert_int_equal(gm_load(cur), r.a);
	/* From now on nothing may be written to the old page. */
	assert_int_equal(r4_change(&t, NULL, op, page), 0);
	if (op == R4_MIGRATE || op == R4_REMAP) {
		old = gpc_hostmem_retired_page(t.hm, page);
		assert_non_null(old);
		old += hva - page;
	}
	r4_check_page(op, cur, old, r.a, far);
	/* The reader misses; its refresh waits for range_end (an mprotect'ed
	 * page fails it at once). */
	atomic_store(&r.go2, 1);
	if (op == R4_PROTECT_RO) {
		assert_true(test_wait_flag(&r.refreshed, TEST_PROMPT_MS));
		assert_int_equal(atomic_load(&r.refresh_ret), -EFAULT);
	} else {
		assert_false(test_wait_flag(&r.refreshed, SHORT_MS));
	}
	r4_check_page(op, cur, old, r.a, far);
	assert_int_equal(gpc_invalidate_range_end(t.vm, page, page + pg), 0);
	assert_int_equal(tbg_join(&rb), 0);
	assert_int_equal(atomic_load(&r.hit2), 0);
	if (op == R4_PROTECT_RO) {
		r4_check_page(op, cur, old, r.a, far);
		assert_int_equal(gpc_hostmem_protect(t.vm, t.hm, page, pg,
						     PROT_READ | PROT_WRITE),
				 0);
	} else {
		/* The next refresh found the new page. */
		assert_int_equal(atomic_load(&r.refresh_ret), 0);
		assert_int_equal(gm_load(cur), r.b);
		if (old)
			assert_int_equal(gm_load(old), r.a);
	}
	assert_true(cstats(&c).invalidations >= 1);
	k = tvm_counts(&t);
	if (op == R4_MIGRATE || op == R4_REMAP)
		assert_true(k.maps > k0.maps);
	r4_helper_notifies(&t, &c, op, page, cur);
	assert_int_equal(gpc_cache_destroy(&c), 0);
	assert_int_equal(tvm_counts(&t).live_maps, 0);
	teardown(&t);
}

static void r4_page_changes_invalidate(void **state)
{
	for (int stage = TVM_DIRECT; stage <= TVM_ALIAS; stage++) {
		for (int op = 0; op < R4_NR; op++) {
			test_watchdog_arm(60, "r4 %s %s", stage_names[stage],
					  r4_names[op]);
			r4_one(scheme_of(state), stage, op);
			test_watchdog_disarm();
		}
	}
}

/* ---- R16: an area across a page boundary, at every offset ---------------- */

#define RS_LEN	 32 /* a Xen-runstate-like area */
#define RS_GUARD 0xAA

/*
 * One offset: the area starts at @gpa. @expect is 0 (works) or the error
 * activate must return; then nothing may be written.
 */
static void r16_offset(struct tvm *t, struct gpc_cache *c, uint64_t gpa,
		       int expect)
{
	uint8_t *host = (uint8_t *)(uintptr_t)tvm_hva(t, gpa);
	uint8_t buf[RS_LEN], back[RS_LEN], tail[8], *p;
	struct gpc_guard g;
	int64_t maps0 = tvm_counts(t).maps;

	for (int i = 0; i < RS_LEN; i++)
		buf[i] = (uint8_t)(gpa * 7 + (uint64_t)i + 1) | 1;
	for (int i = 0; i < 8; i++)
		tail[i] = (uint8_t)(0x40 + i);
	assert_int_equal(gpc_cache_activate_gpa(c, gpa, RS_LEN), expect);
	if (expect) {
		assert_null(gpc_cache_begin(c, 0, 8, &g));
		assert_int_equal(gpc_cache_write(c, 0, buf, RS_LEN), expect);
		for (int i = -1; i <= RS_LEN; i++)
			assert_int_equal(host[i], RS_GUARD);
		assert_int_equal(gpc_cache_deactivate(c), 0);
		return;
	}
	/* one cache, one mapping, even across the boundary */
	assert_int_equal(tvm_counts(t).maps - maps0, 1);
	assert_int_equal(gpc_cache_write(c, 0, buf, RS_LEN), 0);
	p = gpc_cache_begin(c, RS_LEN - 8, 8, &g);
	assert_non_null(p);
	memcpy(p, tail, 8);
	gpc_cache_end(c, &g);
	memcpy(buf + RS_LEN - 8, tail, 8);
	assert_int_equal(gpc_cache_read(c, 0, back, RS_LEN), 0);
	assert_memory_equal(back, buf, RS_LEN);
	/* the bytes landed exactly there, and nowhere around */
	assert_memory_equal(host, buf, RS_LEN);
	assert_int_equal(host[-1], RS_GUARD);
	assert_int_equal(host[RS_LEN], RS_GUARD);
	assert_int_equal(gpc_cache_deactivate(c), 0);
}

/*
 * Every start from fully before the boundary (page 4 | page 5), through
 * each byte of crossing, to fully after it. @noncontig: the two pages are
 * not contiguous in the host (alias: -EINVAL when crossing).
 */
static void r16_sweep(struct tvm *t, struct gpc_cache *c, bool noncontig)
{
	uint64_t boundary = page_gpa(5);
	uint8_t *host = (uint8_t *)(uintptr_t)tvm_hva(t, page_gpa(4));

	for (int off = -RS_LEN - 3; off <= 3; off++) {
		uint64_t gpa = boundary + off;
		bool crosses = off < 0 && off + RS_LEN > 0;
		int expect = noncontig && crosses && t->stage == TVM_ALIAS ?
				     -EINVAL :
				     0;

		memset(host, RS_GUARD, 2 * pg);
		r16_offset(t, c, gpa, expect);
	}
}

static void r16_cross_page_every_offset(void **state)
{
	for (int st = TVM_DIRECT; st <= TVM_ALIAS; st++) {
		struct gpc_cache c;
		struct tvm t;

		vm_up(&t, state, st);
		cache_up(&t, &c);
		r16_sweep(&t, &c, false);
		/* page 5 gets new backing: no longer next to page 4 in the
		 * memfd (the direct stage does not care: same hva range) */
		assert_int_equal(gpc_hostmem_remap(t.vm, t.hm,
						   tvm_hva(&t, page_gpa(5)),
						   pg),
				 0);
		r16_sweep(&t, &c, true);
		assert_int_equal(gpc_cache_destroy(&c), 0);
		assert_int_equal(live_maps(&t), 0);
		vm_down(&t);
	}
}

/* ---- R18: writers under churn --------------------------------------------- */

static void r18_churn_stress(void **state)
{
	double secs = 0.4 * test_scale();

	test_watchdog_arm(60, "r18_churn_stress");
	for (int st = TVM_DIRECT; st <= TVM_ALIAS; st++) {
		struct churn_opts o = {
			.duration = secs < 0.15 ? 0.15 : secs,
			.threads = 3,
			.scheme = scheme_of(state),
			.stage = st,
			.seed = 0x5eed0 + (uint64_t)st,
		};
		struct churn_result r;
		long ops = 0;

		assert_int_equal(churn_run(&o, &r), 0);
		churn_print(stdout, &o, &r);
		for (int i = 0; i < CHURN_NR_OPS; i++)
			ops += r.ops[i];
		assert_int_equal(r.violations, 0);
		assert_true(r.writes > 0);
		assert_true(ops > 0);
	}
	test_watchdog_disarm();
}

/* ---- main ----------------------------------------------------------------- */

int main(void)
{
	const struct CMUnitTest tests[] = {
		BOTH_SCHEMES(r4_page_changes_invalidate),
		BOTH(r16_cross_page_every_offset),
		BOTH(r18_churn_stress),
	};

	return scenario_run("scenarios_hostmem", tests);
}
