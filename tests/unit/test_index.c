// SPDX-License-Identifier: MIT
/*
 * tests/unit/test_index.c - the invalidation index at scale (system.md section 7:
 * "invalidation finds the overlapping caches through an index by host
 * range, so its cost does not grow with the number of active caches").
 *
 * 10,000 active caches, one per host page of a 10,001-page memslot (the
 * last page has none). The index is by host page, so a range touches
 * exactly the caches whose pages it touches:
 *  - one byte in cache i's page (first, last and scattered i): only cache
 *    i's invalidation counter moves, the vm's inval_caches grows by one,
 *    and every other cache stays valid;
 *  - a range across the boundary of pages i and i+1: exactly those two;
 *  - the page without a cache: nobody;
 *  - the whole slot (the index's full-table walk): all 10,000.
 * Cost is not timed (on a shared machine timings prove little); what is
 * checked, for all 10,000 caches after every step, is that no cache outside
 * the range was cleared or counted.
 *
 * Both schemes; the direct and the alias stage (10,000 alias mappings).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <gpc/gpc.h>

#include "harness.h"
#include "test_common.h"

#define NCACHES	  10000
#define SLOT1_GPA 0x100000000ull

struct fx {
	struct tvm t;
	struct gpc_cache *c; /* NCACHES */
	uint64_t *invals;    /* last seen invalidation counts */
	uint8_t *ram;	     /* NCACHES + 1 pages, slot 1 */
	uint64_t ps;
	int ninit;
};

static int setup(void **state)
{
	const struct tvm_param *p = *state;
	struct fx *f = calloc(1, sizeof(*f));
	void *ram;

	if (!f || tvm_setup(&f->t, p->scheme, p->stage))
		return -1;
	f->ps = (uint64_t)sysconf(_SC_PAGESIZE);
	f->c = aligned_alloc(64, NCACHES * sizeof(*f->c));
	f->invals = calloc(NCACHES, sizeof(*f->invals));
	if (!f->c || !f->invals ||
	    gpc_hostmem_alloc(f->t.hm, (NCACHES + 1) * f->ps, &ram))
		return -1;
	memset(f->c, 0, NCACHES * sizeof(*f->c));
	f->ram = ram;
	if (gpc_memslot_create(f->t.vm, 1, SLOT1_GPA, (NCACHES + 1) * f->ps,
			       (uintptr_t)ram, 0))
		return -1;
	test_log_capture();
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	uint64_t h = (uintptr_t)f->ram;
	int err = 0;

	/*
	 * One invalidation of everything first: each deactivate then finds
	 * its cache invalid with the grace period already over, instead of
	 * waiting 10,000 grace periods.
	 */
	if (!gpc_invalidate_range_start(f->t.vm, h, h + NCACHES * f->ps, 0))
		gpc_invalidate_range_end(f->t.vm, h, h + NCACHES * f->ps);
	for (int i = 0; i < f->ninit; i++)
		gpc_cache_destroy(&f->c[i]);
	gpc_memslot_delete(f->t.vm, 1);
	/* Nothing here is worth a warning: bad input is an error code. */
	if (test_log_clean())
		err = -1;
	if (tvm_teardown(&f->t))
		err = -1;
	free(f->c);
	free(f->invals);
	free(f);
	return err ? -1 : 0;
}

static uint64_t hva_page(struct fx *f, int i)
{
	return (uintptr_t)f->ram + (uint64_t)i * f->ps;
}

/* Cache i covers 16 bytes in the middle of page i. */
static void activate_all(struct fx *f)
{
	for (int i = 0; i < NCACHES; i++) {
		struct gpc_cache *c = &f->c[i];

		assert_int_equal(
			gpc_cache_init(c, f->t.vm, GPC_USAGE_HOST, NULL, 0), 0);
		f->ninit = i + 1;
		assert_int_equal(gpc_cache_activate_gpa(
					 c, SLOT1_GPA + i * f->ps + 2048, 16),
				 0);
	}
}

/*
 * Invalidate [s, e) and check that exactly the caches in [lo, hi] (none if
 * lo > hi) had their counter moved by one and are now invalid, and that
 * the vm counted that many; then refresh those.
 */
static void inval_expect(struct fx *f, uint64_t s, uint64_t e, int lo, int hi,
			 const char *what)
{
	struct gpc_vm_stats v0, v1;
	int n = hi >= lo ? hi - lo + 1 : 0;

	assert_int_equal(gpc_vm_get_stats(f->t.vm, &v0), 0);
	assert_int_equal(gpc_invalidate_range_start(f->t.vm, s, e, 0), 0);
	assert_int_equal(gpc_invalidate_range_end(f->t.vm, s, e), 0);
	assert_int_equal(gpc_vm_get_stats(f->t.vm, &v1), 0);
	if (v1.inval_caches - v0.inval_caches != (uint64_t)n)
		fail_msg(
			"%s: %llu caches cleared, expected %d", what,
			(unsigned long long)(v1.inval_caches - v0.inval_caches),
			n);
	for (int i = 0; i < NCACHES; i++) {
		struct gpc_cache_stats st;
		bool in = i >= lo && i <= hi;

		assert_int_equal(gpc_cache_get_stats(&f->c[i], &st), 0);
		if (st.invalidations != f->invals[i] + in)
			fail_msg("%s: cache %d: invalidations %llu, expected "
				 "%llu",
				 what, i, (unsigned long long)st.invalidations,
				 (unsigned long long)(f->invals[i] + in));
		if (gpc_cache_check(&f->c[i], 0, 16) == in)
			fail_msg("%s: cache %d is %svalid", what, i,
				 in ? "" : "in");
		f->invals[i] = st.invalidations;
	}
	for (int i = lo; i <= hi; i++)
		assert_int_equal(gpc_cache_refresh(&f->c[i], 0), 0);
}

static void index_10000_caches(void **state)
{
	struct fx *f = *state;
	int picks[] = { 0, 1, 4999, 7777, NCACHES - 2, NCACHES - 1 };
	struct gpc_vm_stats vs;
	char what[64];

	test_watchdog_arm(120, "10,000 caches");
	activate_all(f);
	assert_int_equal(gpc_vm_get_stats(f->t.vm, &vs), 0);
	assert_int_equal(vs.active_caches, NCACHES);

	/* One byte in one cache's page (not even in its 16 bytes). */
	for (size_t k = 0; k < sizeof(picks) / sizeof(picks[0]); k++) {
		int i = picks[k];

		snprintf(what, sizeof(what), "one byte of page %d", i);
		inval_expect(f, hva_page(f, i) + 1, hva_page(f, i) + 2, i, i,
			     what);
	}
	/* Across the boundary of pages 123 and 124: both, no more. */
	inval_expect(f, hva_page(f, 124) - 1, hva_page(f, 124) + 1, 123, 124,
		     "page boundary");
	/* Exactly page 500: end is exclusive. */
	inval_expect(f, hva_page(f, 500), hva_page(f, 501), 500, 500,
		     "one whole page");
	/* The page after the last cache. */
	inval_expect(f, hva_page(f, NCACHES), hva_page(f, NCACHES + 1), 1, 0,
		     "the page without a cache");
	/* Outside the slot altogether. */
	inval_expect(f, 0x1000, 0x2000, 1, 0, "an unrelated range");
	/* A run of 100 pages. */
	inval_expect(f, hva_page(f, 2000) + 5, hva_page(f, 2099) + 5, 2000,
		     2099, "100 pages");
	/* Everything (larger than the index: its full-table walk). */
	inval_expect(f, hva_page(f, 0), hva_page(f, NCACHES + 1), 0,
		     NCACHES - 1, "the whole slot");
	test_watchdog_disarm();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		TP(index_10000_caches, 0, "/srcu/direct"),
		TP(index_10000_caches, 1, "/srcu/alias"),
		TP(index_10000_caches, 2, "/rwlock/direct"),
		TP(index_10000_caches, 3, "/rwlock/alias"),
	};

	return cmocka_run_group_tests_name("index", tests, NULL, NULL);
}
