/* SPDX-License-Identifier: MIT */
/*
 * bench/suite_nonblock.c - bench_cache suite 2, second part: a non-blocking
 * invalidation retried on -EAGAIN while writers refresh after every miss
 * (see bench_cache.c for the conventions all suites follow).
 *
 * Writers do what every fast-path user does: begin, write one word, end;
 * on a miss, refresh at once. The invalidation of their page is retried
 * 1 ms apart (a sleep, as a caller that cannot block but can come back
 * later would) until it succeeds, giving up after NBB_MAX_TRIES attempts
 * and then cancelling its pending mark. What counts is the number of
 * attempts each invalidation needed, with 1, 2 and 4 writers on both
 * schemes (tests/scenarios/test_nonblock_busy.c asserts a loose bound on
 * the same loop). The writers are not pinned: with 4 of them the machine
 * is oversubscribed.
 */
#include <pthread.h>
#include <stdlib.h>

#include "suite.h"

#define NBB_MAX_WR    4
#define NBB_MAX_TRIES 1000
#define NBB_CASES     3 /* 1, 2, 4 writers */

static const int nbb_writers[NBB_CASES] = { 1, 2, 4 };

struct nbb {
	struct env env;
	struct gpc_cache *c[NBB_MAX_WR];
	_Atomic int stop;
	_Atomic int errors;
};

struct nbb_writer {
	struct nbb *b;
	int i;
};

static void *nbb_writer_main(void *arg)
{
	struct nbb_writer *w = arg;
	struct gpc_cache *c = w->b->c[w->i];

	while (!atomic_load_explicit(&w->b->stop, memory_order_relaxed)) {
		struct gpc_guard g;
		_Atomic uint64_t *p = gpc_cache_begin(c, 0, 8, &g);

		if (p) {
			atomic_fetch_add_explicit(p, 1, memory_order_relaxed);
			gpc_cache_end(c, &g);
		} else if (gpc_cache_refresh(c, 0)) {
			atomic_fetch_add(&w->b->errors, 1);
		}
	}
	return NULL;
}

/* One invalidation, retried 1 ms apart: its attempts (0: gave up). */
static uint64_t nbb_one(struct nbb *b)
{
	uint64_t hva = env_hva(&b->env, 0), n = 0;
	int err;

	do {
		n++;
		err = gpc_invalidate_range_start(
			b->env.vm, hva, hva + page_size, GPC_INVAL_NONBLOCK);
		if (err == -EAGAIN)
			sleep_ns(1000000);
	} while (err == -EAGAIN && n < NBB_MAX_TRIES);
	if (err == -EAGAIN) {
		gpc_invalidate_range_cancel(b->env.vm, hva, hva + page_size);
		return 0;
	}
	if (err) {
		fail("non-blocking range_start", err);
		return 0;
	}
	gpc_invalidate_range_end(b->env.vm, hva, hva + page_size);
	return n;
}

/* One case: @nwr writers, @rounds invalidations into @s; gave-ups. */
static uint64_t nbb_case(enum gpc_scheme scheme, int nwr, int rounds,
			 struct samples *s)
{
	struct nbb b = { 0 };
	struct nbb_writer w[NBB_MAX_WR];
	pthread_t th[NBB_MAX_WR];
	uint64_t gaveup = 0;
	int i, err = env_create(&b.env, scheme, 1, "nonblock-busy");

	if (err) {
		fail("env_create", err);
		return 0;
	}
	for (i = 0; i < nwr; i++) {
		b.c[i] = cache_new(&b.env, (uint64_t)i * GPC_CACHELINE, 8);
		w[i] = (struct nbb_writer){ &b, i };
		if (!b.c[i] ||
		    pthread_create(&th[i], NULL, nbb_writer_main, &w[i])) {
			fail("nonblock-busy writer", -ENOMEM);
			nwr = i;
			break;
		}
	}
	spin_ns(2000000);
	for (int r = 0; r < rounds && !failed; r++) {
		uint64_t n = nbb_one(&b);

		if (n)
			samples_add(s, n);
		else
			gaveup++;
		sleep_ns(1000000);
	}
	atomic_store(&b.stop, 1);
	for (i = 0; i < nwr; i++) {
		pthread_join(th[i], NULL);
		cache_free(b.c[i]);
	}
	if (atomic_load(&b.errors))
		fail("nonblock-busy refresh", -EIO);
	env_destroy(&b.env);
	return gaveup;
}

void suite_nonblock(void)
{
	static const char *const name[2] = { "srcu", "rwlock" };
	int rounds = (int)nq(50, 10);
	double worst4 = 0, maxima[2][NBB_CASES] = { { 0 } };

	printf("\nnon-blocking invalidation retried 1 ms apart while writers "
	       "refresh after every miss: attempts per invalidation\n");
	printf("%-8s %8s %6s %6s %6s %6s %8s\n", "scheme", "writers", "n",
	       "p50", "p99", "max", "gave up");
	for (int k = 0; k < 2 && !failed; k++)
		for (int j = 0; j < NBB_CASES && !failed; j++) {
			struct samples s;
			uint64_t gaveup;
			struct pct p;

			if (samples_init(&s, (size_t)rounds)) {
				fail("samples", -ENOMEM);
				return;
			}
			gaveup = nbb_case(k ? GPC_SCHEME_RWLOCK :
					      GPC_SCHEME_SRCU,
					  nbb_writers[j], rounds, &s);
			p = pct_of(&s);
			printf("%-8s %8d %6zu %6.0f %6.0f %6.0f %8llu\n",
			       name[k], nbb_writers[j], p.n, p.p50, p.p99,
			       p.max, (unsigned long long)gaveup);
			maxima[k][j] = gaveup ? 1e9 : p.max;
			if (nbb_writers[j] == 4 && maxima[k][j] > worst4)
				worst4 = maxima[k][j];
			samples_free(&s);
		}
	printf("\n");
	for (int k = 0; k < 2; k++)
		for (int j = 0; j < NBB_CASES; j++) {
			char rn[80];

			snprintf(rn, sizeof(rn),
				 "nonblock_retries_to_success_busy_max_%s_%dw",
				 name[k], nbb_writers[j]);
			ratio(rn, maxima[k][j]);
		}
	ratio("nonblock_retries_to_success_busy_max", worst4);
	target("nonblock_retries_to_success_busy_max", worst4, true, 10);
}
