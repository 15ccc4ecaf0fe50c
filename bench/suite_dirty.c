/* SPDX-License-Identifier: MIT */
/*
 * bench/suite_dirty.c - bench_cache suite 8 (6 and 7 are other programs'), the cost of dirty logging
 * (gpc/dirty.h) on the paths that write: gpc_cache_write() of 8 bytes
 * (out of line: it marks the pages it wrote) and the inline
 * begin/store/end of a writable cache (not touched: the cache's refresh
 * marked its range), each on the same vm, cache and page with the slot's
 * GPC_MEMSLOT_LOG_DIRTY off and on, in interleaved rounds (ratio: the
 * median of the rounds' on/off, CPU time). Off is the
 * baseline: with no logging slot in the process the out-of-line path pays
 * one relaxed load. Also: the cost of one get-and-clear of the slot
 * (informational: it ends with a grace period).
 */
#include "suite.h"

#define DIRTY_PAGES 256 /* 1 MiB with 4 KiB pages */

enum dl_op { DL_WRITE, DL_INLINE, NR_DL };

static const char *const dl_name[NR_DL] = {
	[DL_WRITE] = "cache_write8",
	[DL_INLINE] = "inline_begin_end",
};

static __attribute__((noinline)) uint64_t dl_loop_write(struct gpc_cache *c,
							uint64_t n)
{
	uint64_t bad = 0;

	for (uint64_t i = 0; i < n; i++)
		bad += gpc_cache_write(c, 64, &i, sizeof(i)) != 0;
	return bad;
}

static __attribute__((noinline)) uint64_t dl_loop_inline(struct gpc_cache *c,
							 uint64_t n)
{
	uint64_t bad = 0;

	for (uint64_t i = 0; i < n; i++) {
		struct gpc_guard g;
		uint8_t *p = gpc_cache_begin(c, 64, sizeof(uint64_t), &g);

		if (gpc_likely(p != NULL)) {
			store(p, i);
			gpc_cache_end(c, &g);
		} else {
			bad++;
		}
	}
	return bad;
}

/*
 * ns per op of @n iterations, by the thread's CPU time: the cost while it
 * ran, which other load on a shared machine cannot inflate (suite 1 does
 * the same). *bad counts failed accesses (must stay 0).
 */
static double dl_measure(enum dl_op op, struct gpc_cache *c, uint64_t n,
			 uint64_t *bad)
{
	uint64_t t0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);

	*bad += op == DL_WRITE ? dl_loop_write(c, n) : dl_loop_inline(c, n);
	return (double)(clock_ns(CLOCK_THREAD_CPUTIME_ID) - t0) / (double)n;
}

static uint64_t dl_calibrate(enum dl_op op, struct gpc_cache *c)
{
	uint64_t n = 1000, bad = 0;
	double ns;

	for (;;) {
		ns = dl_measure(op, c, n, &bad);
		if (ns * (double)n >= (double)opt.pilot_ns || n >= (1ULL << 34))
			break;
		n *= 4;
	}
	if (ns <= 0)
		ns = 0.01;
	n = (uint64_t)((double)opt.target_ns / ns);
	return n < 1000 ? 1000 : n;
}

static int dl_log(struct env *e, bool on)
{
	return gpc_memslot_set_flags(e->vm, 0, on ? GPC_MEMSLOT_LOG_DIRTY : 0);
}

/* One scheme: rows off / on for each op, then the ratios. */
static void dl_scheme(enum gpc_scheme scheme, const char *sname)
{
	static double ns[NR_DL][2][MAX_ROUNDS];
	struct env e;
	struct gpc_cache *c;
	uint64_t n[NR_DL], bad = 0;
	struct mmm res[NR_DL][2];
	uint64_t bm[DIRTY_PAGES / 64 + 1];
	double harvest_us[MAX_ROUNDS];
	int err;

	err = env_create(&e, scheme, DIRTY_PAGES * 4096 / page_size, "dirty");
	if (err) {
		fail("env_create", err);
		env_destroy(&e);
		return;
	}
	c = cache_new(&e, 0, page_size);
	if (!c) {
		fail("cache_new", -ENOMEM);
		env_destroy(&e);
		return;
	}
	/* Warm both states once (and make the cache valid again after). */
	for (int on = 1; on >= 0; on--) {
		err = dl_log(&e, on);
		if (!err)
			err = gpc_cache_refresh(c, 0);
		if (err) {
			fail("set_flags/refresh", err);
			goto out;
		}
	}
	for (int k = 0; k < NR_DL; k++)
		n[k] = dl_calibrate(k, c);
	for (int r = 0; r < ROUNDS; r++) {
		for (int j = 0; j < 2; j++) {
			/* Odd rounds on first: neither state always leads. */
			int on = r & 1 ? 1 - j : j;

			/* A flag change bumps the generation: refresh first. */
			err = dl_log(&e, on);
			if (!err)
				err = gpc_cache_refresh(c, 0);
			if (err) {
				fail("set_flags/refresh", err);
				goto out;
			}
			for (int k = 0; k < NR_DL; k++)
				ns[k][on][r] = dl_measure(k, c, n[k], &bad);
			if (on) {
				uint64_t t0 = now_ns();

				err = gpc_dirty_log_get_and_clear(
					e.vm, 0, bm,
					sizeof(bm) / sizeof(bm[0]));
				harvest_us[r] = (double)(now_ns() - t0) / 1e3;
				if (err < 0) {
					fail("gpc_dirty_log_get_and_clear",
					     err);
					goto out;
				}
			}
		}
	}
	if (bad)
		fail("dirty: accesses missed", -EAGAIN);
	printf("%-8s %-18s %10s %10s %10s %10s\n", sname, "op (ns/op)",
	       "off med", "on med", "off min", "on min");
	for (int k = 0; k < NR_DL; k++) {
		double rr[MAX_ROUNDS], q;
		char name[96];

		for (int on = 0; on < 2; on++)
			res[k][on] = mmm_of(ns[k][on]);
		/* Per round: off and on ran next to each other. */
		for (int r = 0; r < ROUNDS; r++)
			rr[r] = ns[k][1][r] / ns[k][0][r];
		q = median(rr, ROUNDS);
		printf("%-8s %-18s %10.2f %10.2f %10.2f %10.2f\n", sname,
		       dl_name[k], res[k][0].med, res[k][1].med, res[k][0].min,
		       res[k][1].min);
		snprintf(name, sizeof(name), "dirty_%s_%s_on_vs_off", sname,
			 dl_name[k]);
		ratio(name, q);
		/* The inline path is not touched: ~1.0 is the point. */
		if (k == DL_INLINE)
			target(name, q, true, 1.10);
	}
	printf("%-8s get_and_clear of %d pages: %.1f us (median)\n", sname,
	       DIRTY_PAGES, median(harvest_us, ROUNDS));
out:
	cache_free(c);
	dl_log(&e, false);
	env_destroy(&e);
}

void suite_dirty(void)
{
	dl_scheme(GPC_SCHEME_SRCU, "srcu");
	dl_scheme(GPC_SCHEME_RWLOCK, "rwlock");
}
