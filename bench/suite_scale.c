/* SPDX-License-Identifier: MIT */
/*
 * bench/suite_scale.c - bench_cache suite 4, scale (see bench_cache.c for
 * the conventions all suites follow).
 */
#include "suite.h"

/* ===================================================================== */
/* Suite 4: scale                                                           */
/* ===================================================================== */

#define SC_CONFIGS    3
#define SC_PER_PAGE   64 /* 64-byte caches, 64 to a page */
#define SC_CACHE_LEN  64
#define LK_CONFIGS    3
#define LK_RANDOM     65536 /* random addresses per pattern (power of 2) */
#define SLOT_GPA_STEP 0x100000ULL /* 1 MiB apart: gaps between slots */

static const unsigned int sc_count[SC_CONFIGS] = { 10, 1000, 100000 };
static const unsigned int lk_count[LK_CONFIGS] = { 1, 1000, GPC_MEMSLOTS_MAX };

enum lk_pattern { LK_HOT, LK_RAND, NR_LK };

static const char *const lk_name[NR_LK] = {
	[LK_HOT] = "same_gpa",
	[LK_RAND] = "random_gpa",
};

struct scale_vm {
	struct env env;
	struct gpc_cache *caches; /* caller storage, [0] the victim */
	unsigned int n, active;
	uint64_t empty_off;		 /* a page no cache covers */
	uint64_t heap_init, heap_active; /* library heap, bytes */
	double setup_s;
};

struct lookup_vm {
	struct gpc_vm *vm;
	unsigned int n;
	uint64_t *gpa[NR_LK];
	uint64_t heap; /* bytes of library heap for the table */
	double setup_s;
	uint64_t iters[NR_LK];
	double ns[NR_LK][MAX_ROUNDS], cpu[NR_LK][MAX_ROUNDS];
	struct mmm res[NR_LK], res_cpu[NR_LK]; /* wall clock, CPU time */
};

struct scale_state {
	struct scale_vm sv[SC_CONFIGS];
	struct lookup_vm lv[LK_CONFIGS];
	struct samples hit[SC_CONFIGS], miss[SC_CONFIGS];
	uint64_t sink;
};

/* Bytes malloc has handed out (main arena plus mmapped chunks). */
static uint64_t heap_bytes(void)
{
	struct mallinfo2 mi = mallinfo2();

	return (uint64_t)mi.uordblks + (uint64_t)mi.hblkhd;
}

/*
 * @n active 64-byte caches: cache 0 (the victim) alone on page 0, the
 * others 64 to a page after it, then one page no cache covers.
 */
static int scale_vm_setup(struct scale_vm *v, unsigned int n)
{
	size_t pages = 1 + (n - 1 + SC_PER_PAGE - 1) / SC_PER_PAGE + 1;
	uint64_t t0 = now_ns(), h0, h1;
	char name[32];
	int err;

	snprintf(name, sizeof(name), "scale-%u", n);
	err = env_create(&v->env, GPC_SCHEME_SRCU, pages, name);
	if (err)
		return err;
	v->caches = aligned_alloc(GPC_CACHELINE,
				  (n * sizeof(*v->caches) + GPC_CACHELINE - 1) &
					  ~(size_t)(GPC_CACHELINE - 1));
	if (!v->caches)
		return -ENOMEM;
	v->empty_off = (pages - 1) * page_size;
	h0 = heap_bytes();
	for (v->n = 0; v->n < n; v->n++) {
		err = gpc_cache_init(&v->caches[v->n], v->env.vm,
				     GPC_USAGE_HOST, NULL, 0);
		if (err)
			return err;
	}
	h1 = heap_bytes();
	for (v->active = 0; v->active < n; v->active++) {
		unsigned int i = v->active;
		uint64_t off =
			i == 0 ? 0 :
				 page_size + (uint64_t)(i - 1) * SC_CACHE_LEN;

		err = gpc_cache_activate_gpa(&v->caches[i], GPA_BASE + off,
					     SC_CACHE_LEN);
		if (err)
			return err;
	}
	v->heap_init = h1 - h0;
	v->heap_active = heap_bytes() - h1;
	v->setup_s = (double)(now_ns() - t0) / 1e9;
	return 0;
}

static void scale_vm_teardown(struct scale_vm *v)
{
	if (v->env.vm && v->active) {
		/*
		 * One invalidation of everything first: each cache is then
		 * invalid with a grace period behind it, so the destroys below
		 * do not wait a grace period each.
		 */
		uint64_t s = env_hva(&v->env, 0), e = s + v->env.len;

		if (!gpc_invalidate_range_start(v->env.vm, s, e, 0))
			gpc_invalidate_range_end(v->env.vm, s, e);
	}
	for (unsigned int i = 0; i < v->n; i++)
		gpc_cache_destroy(&v->caches[i]);
	free(v->caches);
	env_destroy(&v->env);
}

static int lookup_vm_setup(struct lookup_vm *v, unsigned int n)
{
	struct gpc_vm_config cfg = { .scheme = GPC_SCHEME_SRCU };
	uint64_t t0 = now_ns(), h0;
	char name[32];
	int err;

	snprintf(name, sizeof(name), "slots-%u", n);
	cfg.name = name;
	v->n = n;
	err = vm_create_unpinned(&cfg, &v->vm);
	if (err)
		return err;
	h0 = heap_bytes();
	/* Slot i: one page at gpa i MiB. The hva is never touched. */
	for (unsigned int i = 0; i < n; i++) {
		err = gpc_memslot_create(v->vm, i, GPA_BASE + i * SLOT_GPA_STEP,
					 page_size,
					 0x100000000000ULL + i * page_size, 0);
		if (err)
			return err;
	}
	v->heap = heap_bytes() - h0;
	for (int p = 0; p < NR_LK; p++) {
		v->gpa[p] = malloc(LK_RANDOM * sizeof(uint64_t));
		if (!v->gpa[p])
			return -ENOMEM;
	}
	for (unsigned int i = 0; i < LK_RANDOM; i++) {
		uint64_t slot = rnd() % n, off = (rnd() % page_size) & ~7ULL;

		v->gpa[LK_HOT][i] = GPA_BASE + (n / 2) * SLOT_GPA_STEP + 8;
		v->gpa[LK_RAND][i] = GPA_BASE + slot * SLOT_GPA_STEP + off;
	}
	v->setup_s = (double)(now_ns() - t0) / 1e9;
	return 0;
}

static void lookup_vm_teardown(struct lookup_vm *v)
{
	/* The vm frees its table; deleting 32k slots one by one would
	 * copy the table and wait a grace period 32k times. */
	if (v->vm)
		gpc_vm_destroy(v->vm);
	for (int p = 0; p < NR_LK; p++)
		free(v->gpa[p]);
	memset(v, 0, sizeof(*v));
}

/* The lookup loop: the public API, addresses from a table. */
static __attribute__((noinline, aligned(64))) uint64_t
lookup_loop(struct gpc_vm *vm, const uint64_t *gpa, uint64_t n)
{
	struct gpc_memslot_info info;
	uint64_t sum = 0;

	for (uint64_t i = 0; i < n; i++) {
		if (gpc_memslot_lookup(vm, gpa[i & (LK_RANDOM - 1)], &info))
			abort();
		sum += info.hva;
	}
	return sum;
}

/* ns/op by the wall clock; *@cpu_op by the thread's CPU time. */
static double lookup_measure(struct scale_state *s, struct lookup_vm *v,
			     enum lk_pattern p, uint64_t n, double *cpu_op)
{
	uint64_t c0 = clock_ns(CLOCK_THREAD_CPUTIME_ID), t0 = now_ns();

	s->sink += lookup_loop(v->vm, v->gpa[p], n);
	if (cpu_op)
		*cpu_op = (double)(clock_ns(CLOCK_THREAD_CPUTIME_ID) - c0) /
			  (double)n;
	return (double)(now_ns() - t0) / (double)n;
}

static uint64_t lookup_calibrate(struct scale_state *s, struct lookup_vm *v,
				 enum lk_pattern p)
{
	uint64_t n = 1000;
	double ns;

	for (;;) {
		ns = lookup_measure(s, v, p, n, NULL);
		if (ns * (double)n >= (double)opt.pilot_ns || n >= (1ULL << 32))
			break;
		n *= 4;
	}
	n = (uint64_t)((double)opt.target_ns / (ns > 0 ? ns : 0.01));
	return n < 1000 ? 1000 : n;
}

/*
 * One invalidation (range_start + range_end) of the victim's page, which
 * the victim's refresh made valid again (untimed), or of the empty page.
 */
static void scale_inval_batch(struct scale_state *s, int k, int count)
{
	struct scale_vm *v = &s->sv[k];
	uint64_t vs = env_hva(&v->env, 0), es = env_hva(&v->env, v->empty_off);

	for (int i = 0; i < count; i++) {
		uint64_t t0;
		int err = gpc_cache_refresh(&v->caches[0], 0);

		if (err) {
			fail("refresh", err);
			return;
		}
		t0 = now_ns();
		err = gpc_invalidate_range_start(v->env.vm, vs, vs + page_size,
						 0);
		if (!err)
			err = gpc_invalidate_range_end(v->env.vm, vs,
						       vs + page_size);
		samples_add(&s->hit[k], now_ns() - t0);
		t0 = now_ns();
		if (!err)
			err = gpc_invalidate_range_start(v->env.vm, es,
							 es + page_size, 0);
		if (!err)
			err = gpc_invalidate_range_end(v->env.vm, es,
						       es + page_size);
		samples_add(&s->miss[k], now_ns() - t0);
		if (err) {
			fail("range_start", err);
			return;
		}
	}
}

static void scale_report(struct scale_state *s)
{
	struct pct hit[SC_CONFIGS], miss[SC_CONFIGS];
	FILE *f;

	printf("\ninvalidation cost vs active caches (range_start + "
	       "range_end of one page), us\n"
	       "hit: the page of one valid cache (includes its grace "
	       "period); miss: a page no cache covers\n");
	printf("%8s %9s %9s %9s %9s %9s %9s %9s\n", "caches", "hit p50",
	       "hit p99", "hit max", "miss p50", "miss p99", "miss max",
	       "setup s");
	f = csv_open("scale_inval.csv",
		     "caches,hit_p50_ns,hit_p99_ns,hit_max_ns,miss_p50_ns,"
		     "miss_p99_ns,miss_max_ns");
	for (int k = 0; k < SC_CONFIGS; k++) {
		hit[k] = pct_of(&s->hit[k]);
		miss[k] = pct_of(&s->miss[k]);
		printf("%8u %9.2f %9.2f %9.1f %9.2f %9.2f %9.1f %9.2f\n",
		       sc_count[k], hit[k].p50 / 1e3, hit[k].p99 / 1e3,
		       hit[k].max / 1e3, miss[k].p50 / 1e3, miss[k].p99 / 1e3,
		       miss[k].max / 1e3, s->sv[k].setup_s);
		if (f)
			fprintf(f, "%u,%.0f,%.0f,%.0f,%.0f,%.0f,%.0f\n",
				sc_count[k], hit[k].p50, hit[k].p99, hit[k].max,
				miss[k].p50, miss[k].p99, miss[k].max);
	}
	csv_close(f);

	printf("\nmemslot lookup (gpc_memslot_lookup), ns/op, median "
	       "[min..max] of %d rounds\n",
	       ROUNDS);
	printf("%8s %10s %17s %10s %17s %9s %14s\n", "slots", lk_name[LK_HOT],
	       "[min..max]", lk_name[LK_RAND], "[min..max]", "setup s",
	       "by CPU time");
	f = csv_open("scale_lookup.csv",
		     "slots,same_gpa_ns,random_gpa_ns,same_gpa_cpu_ns,"
		     "random_gpa_cpu_ns");
	for (int k = 0; k < LK_CONFIGS; k++) {
		struct lookup_vm *v = &s->lv[k];

		printf("%8u %10.2f [%6.2f..%8.2f] %10.2f [%6.2f..%8.2f] "
		       "%9.2f %6.2f %7.2f\n",
		       v->n, v->res[LK_HOT].med, v->res[LK_HOT].min,
		       v->res[LK_HOT].max, v->res[LK_RAND].med,
		       v->res[LK_RAND].min, v->res[LK_RAND].max, v->setup_s,
		       v->res_cpu[LK_HOT].med, v->res_cpu[LK_RAND].med);
		if (f)
			fprintf(f, "%u,%.3f,%.3f,%.3f,%.3f\n", v->n,
				v->res[LK_HOT].med, v->res[LK_RAND].med,
				v->res_cpu[LK_HOT].med,
				v->res_cpu[LK_RAND].med);
	}
	csv_close(f);

	printf("\nmemory\n");
	printf("  struct gpc_cache (caller storage):     %zu bytes\n",
	       sizeof(struct gpc_cache));
	f = csv_open("scale_memory.csv", "what,count,bytes_each");
	for (int k = 0; k < SC_CONFIGS; k++) {
		struct scale_vm *v = &s->sv[k];
		double init = (double)v->heap_init / v->n;
		double act = (double)v->heap_active / v->n;

		printf("  %6u caches: library heap per cache %.0f (init) + "
		       "%.0f (active: index) = %.0f bytes; with the struct "
		       "%.0f bytes\n",
		       v->n, init, act, init + act,
		       init + act + (double)sizeof(struct gpc_cache));
		if (f)
			fprintf(f, "cache,%u,%.1f\n", v->n,
				init + act + (double)sizeof(struct gpc_cache));
	}
	for (int k = 0; k < LK_CONFIGS; k++) {
		struct lookup_vm *v = &s->lv[k];

		if (!v->heap) {
			/* The table's room is rounded up to a power of two
			 * (8 at least): one slot fits the empty table's. */
			printf("  %6u memslots: no heap growth (fits the empty "
			       "table's room)\n",
			       v->n);
			continue;
		}
		printf("  %6u memslots: table %llu bytes, %.1f bytes per "
		       "memslot\n",
		       v->n, (unsigned long long)v->heap,
		       (double)v->heap / v->n);
		if (f)
			fprintf(f, "memslot,%u,%.1f\n", v->n,
				(double)v->heap / v->n);
	}
	csv_close(f);

	{
		double inv = hit[0].p50 > 0 ? hit[2].p50 / hit[0].p50 : 0;
		double invm = miss[0].p50 > 0 ? miss[2].p50 / miss[0].p50 : 0;
		double lk =
			s->lv[2].res[LK_RAND].med / s->lv[0].res[LK_RAND].med;
		double lkh =
			s->lv[2].res[LK_HOT].med / s->lv[0].res[LK_HOT].med;

		printf("\n");
		ratio("inval_100k_vs_10_caches", inv);
		ratio("inval_miss_100k_vs_10_caches", invm);
		ratio("lookup_32k_vs_1_slots", lk);
		ratio("lookup_32k_vs_1_slots_same_gpa", lkh);
		target("inval_100k_vs_10_caches", inv, true, 2);
		target("lookup_32k_vs_1_slots", lk, true, 2);
	}
}

void suite_scale(void)
{
	static struct scale_state s;
	int n = (int)nq(2000, 200), err = 0;

	memset(&s, 0, sizeof(s));
	for (int k = 0; !err && k < SC_CONFIGS; k++) {
		err = scale_vm_setup(&s.sv[k], sc_count[k]);
		if (!err && (samples_init(&s.hit[k], (size_t)n) ||
			     samples_init(&s.miss[k], (size_t)n)))
			err = -ENOMEM;
	}
	for (int k = 0; !err && k < LK_CONFIGS; k++)
		err = lookup_vm_setup(&s.lv[k], lk_count[k]);
	if (err) {
		fail("suite 4 setup", err);
		goto out;
	}
	/* Invalidations: batches of 20 per configuration in turn. */
	for (int done = 0, b = 0; done < n && !failed; done += 20, b++)
		for (int i = 0; i < SC_CONFIGS; i++)
			scale_inval_batch(&s, (i + b) % SC_CONFIGS,
					  n - done < 20 ? n - done : 20);
	/* Lookups: interleaved rounds, as suite 1. */
	for (int k = 0; k < LK_CONFIGS; k++)
		for (int p = 0; p < NR_LK; p++)
			s.lv[k].iters[p] = lookup_calibrate(&s, &s.lv[k], p);
	for (int r = 0; r < ROUNDS; r++)
		for (int i = 0; i < LK_CONFIGS * NR_LK; i++) {
			int j = (i + r) % (LK_CONFIGS * NR_LK);
			struct lookup_vm *v = &s.lv[j / NR_LK];
			int p = j % NR_LK;

			v->ns[p][r] = lookup_measure(&s, v, p, v->iters[p],
						     &v->cpu[p][r]);
		}
	for (int k = 0; k < LK_CONFIGS; k++)
		for (int p = 0; p < NR_LK; p++) {
			s.lv[k].res[p] = mmm_of(s.lv[k].ns[p]);
			s.lv[k].res_cpu[p] = mmm_of(s.lv[k].cpu[p]);
		}
	scale_report(&s);
out:
	for (int k = 0; k < SC_CONFIGS; k++) {
		scale_vm_teardown(&s.sv[k]);
		samples_free(&s.hit[k]);
		samples_free(&s.miss[k]);
	}
	for (int k = 0; k < LK_CONFIGS; k++)
		lookup_vm_teardown(&s.lv[k]);
	if (!failed)
		suite_translate();
}
