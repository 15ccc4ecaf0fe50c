/* SPDX-License-Identifier: MIT */
/*
 * bench/suite_fastpath.c - bench_cache suite 1, fast path, and the --profile loops (see bench_cache.c for
 * the conventions all suites follow).
 */
#include "suite.h"

/* ===================================================================== */
/* Suite 1: fast path                                                       */
/* ===================================================================== */

enum fp_contender { FP_RAW, FP_SRCU, FP_RWLOCK, FP_URCU, NR_FP };
enum fp_config { FP_1T, FP_2T_SHARED, FP_2T_PRIVATE, NR_FPCFG };

static const char *const fp_name[NR_FP] = {
	[FP_RAW] = "raw",
	[FP_SRCU] = "srcu+seqcount",
	[FP_RWLOCK] = "rwlock",
	[FP_URCU] = "urcu_memb",
};

static const char *const fp_cfg_name[NR_FPCFG] = {
	[FP_1T] = "1t",
	[FP_2T_SHARED] = "2t_shared",
	[FP_2T_PRIVATE] = "2t_private",
};

/* Index 0: the shared cache; 1 and 2: thread 0's and thread 1's own. */
struct fp_state {
	struct env srcu, rw;
	struct gpc_cache *sc[3], *rc[3]; /* in @pool */
	uint8_t *pool;			 /* one page: fixed offsets */
	uint64_t off_base;		 /* thread t stores at + t * 64 */
	struct urcu_cache uc[3];
	struct fp_reader rd[2];
	uint64_t iters[NR_FP][NR_FPCFG];
	double ns[NR_FP][NR_FPCFG][MAX_ROUNDS];	 /* wall clock */
	double cpu[NR_FP][NR_FPCFG][MAX_ROUNDS]; /* thread CPU time */
	struct mmm res[NR_FP][NR_FPCFG], res_cpu[NR_FP][NR_FPCFG];
	uint64_t wall_ns, cpu_ns;
};

static inline void fp_op_raw(struct fp_reader *r, uint64_t i)
{
	store(r->raw + r->off, i);
}

/* The documented fast path; both schemes run this very code. */
static gpc_always_inline void fp_op_cache(struct fp_reader *r,
					  struct gpc_cache *c, uint64_t i)
{
	struct gpc_guard g;
	uint8_t *p = gpc_cache_begin(c, r->off, sizeof(uint64_t), &g);

	if (gpc_likely(p != NULL)) {
		store(p, i);
		gpc_cache_end(c, &g);
	} else {
		r->misses++;
	}
}

static inline void fp_op_urcu(struct fp_reader *r, uint64_t i)
{
	struct urcu_cache *uc = r->uc;
	uint8_t *k;

	urcu_memb_read_lock();
	k = rcu_dereference(uc->khva);
	if (gpc_likely(k && r->off + sizeof(uint64_t) <= uc->len))
		store(k + r->off, i);
	else
		r->misses++;
	urcu_memb_read_unlock();
}

#define FP_LOOP(name, op)                                           \
	__attribute__((noinline, aligned(64))) void fp_loop_##name( \
		struct fp_reader *r, uint64_t n)                    \
	{                                                           \
		for (uint64_t i = 0; i < n; i++)                    \
			op;                                         \
	}

FP_LOOP(raw, fp_op_raw(r, i))
FP_LOOP(srcu, fp_op_cache(r, r->sc, i))
FP_LOOP(rwlock, fp_op_cache(r, r->rc, i))
FP_LOOP(urcu, fp_op_urcu(r, i))

static void fp_run(enum fp_contender c, struct fp_reader *r, uint64_t n)
{
	switch (c) {
	case FP_RAW:
		fp_loop_raw(r, n);
		break;
	case FP_SRCU:
		fp_loop_srcu(r, n);
		break;
	case FP_RWLOCK:
		fp_loop_rwlock(r, n);
		break;
	case FP_URCU:
		fp_loop_urcu(r, n);
		break;
	default:
		abort();
	}
}

static void fp_bind(struct fp_state *s, int t, enum fp_config cfg)
{
	struct fp_reader *r = &s->rd[t];
	int k = cfg == FP_2T_PRIVATE ? 1 + t : 0;

	r->sc = s->sc[k];
	r->rc = s->rc[k];
	r->uc = &s->uc[k];
	r->raw = s->srcu.ram + (uint64_t)k * page_size;
	r->off = s->off_base + (uint64_t)t * GPC_CACHELINE;
}

struct fp_job {
	struct fp_state *s;
	enum fp_contender c;
	uint64_t n;
};

static void fp_helper(struct worker *w, void *arg)
{
	struct fp_job *j = arg;
	uint64_t t0;

	uint64_t c0;

	spin_until(&w->go, w->cur);
	c0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
	t0 = now_ns();
	fp_run(j->c, &j->s->rd[1], j->n);
	w->elapsed_ns = now_ns() - t0;
	w->cpu_ns = clock_ns(CLOCK_THREAD_CPUTIME_ID) - c0;
}

/*
 * One run of @n iterations per thread; ns per op per thread, by the wall
 * clock (the result) and, in *@cpu_op, by the threads' CPU time: the cost
 * while they actually ran, which other load on the machine cannot inflate.
 */
static double fp_measure(struct fp_state *s, enum fp_contender c,
			 enum fp_config cfg, uint64_t n, double *cpu_op)
{
	struct worker *w = &workers[1];
	struct fp_job job = { s, c, n };
	uint64_t gen = 0, t0, cpu0, total, cpu;
	int nt = cfg == FP_1T ? 1 : 2;

	fp_bind(s, 0, cfg);
	fp_bind(s, 1, cfg);
	if (nt > 1) {
		gen = worker_post(w, fp_helper, &job);
		atomic_store_explicit(&w->go, gen, memory_order_release);
	}
	cpu0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
	t0 = now_ns();
	fp_run(c, &s->rd[0], n);
	total = now_ns() - t0;
	cpu = clock_ns(CLOCK_THREAD_CPUTIME_ID) - cpu0;
	s->cpu_ns += cpu;
	s->wall_ns += total;
	if (nt > 1) {
		worker_wait(w, gen);
		total += w->elapsed_ns;
		cpu += w->cpu_ns;
	}
	if (cpu_op)
		*cpu_op = (double)cpu / nt / (double)n;
	return (double)total / nt / (double)n;
}

/* Iterations for one measurement of about opt.target_ns. */
static uint64_t fp_calibrate(struct fp_state *s, enum fp_contender c,
			     enum fp_config cfg)
{
	uint64_t n = 1000;
	double ns;

	for (;;) {
		ns = fp_measure(s, c, cfg, n, NULL);
		if (ns * (double)n >= (double)opt.pilot_ns || n >= (1ULL << 36))
			break;
		n *= 4;
	}
	if (ns <= 0)
		ns = 0.01;
	n = (uint64_t)((double)opt.target_ns / ns);
	return n < 1000 ? 1000 : n;
}

/*
 * 4K aliasing: on x86 a load whose address matches an earlier store's in the
 * low 12 bits may be held back as if the two overlapped. Had the payload
 * store landed at the same offset in its page as a line the fast path loads
 * (the cache, its domain, the thread's slot and TLS entry, the loop's stack
 * frame, whose offsets follow the heap and the stack's random placement), a
 * contender would pay a stall that changes from run to run (we saw 3.6 ns
 * become 12). So the caches sit at fixed offsets of a page of their own, and
 * the payload goes to an offset in the page that no such line has.
 */
#define HOT_MAX 128

struct hot {
	uint16_t line[HOT_MAX];
	int n;
};

static void hot_add(struct hot *h, const void *p, size_t len)
{
	uintptr_t a = (uintptr_t)p & ~(uintptr_t)(GPC_CACHELINE - 1);

	for (; a < (uintptr_t)p + len && h->n < HOT_MAX; a += GPC_CACHELINE)
		h->line[h->n++] = (uint16_t)(a & 0xfc0);
}

static bool hot_has(const struct hot *h, uint64_t off)
{
	for (int i = 0; i < h->n; i++)
		if (h->line[i] == (off & 0xfc0))
			return true;
	return false;
}

struct fp_probe {
	struct fp_state *s;
	struct hot *h;
};

/* The lines the calling thread's fast paths touch, and its stack. */
static void fp_probe_here(struct fp_state *s, struct hot *h)
{
	char here;

	for (int k = 0; k < 3; k++) {
		struct gpc_cache *cs[2] = { s->sc[k], s->rc[k] };

		for (int i = 0; i < 2; i++) {
			struct gpc_cache *c = cs[i];
			struct gpc_guard g;

			if (gpc_cache_begin(c, 0, 8, &g)) {
				gpc_cache_end(c, &g);
				if (g.slot) /* srcu scheme only */
					hot_add(h, g.slot, GPC_CACHELINE);
			}
			hot_add(h, &gpc_srcu_tls[c->srcu->tls_index],
				sizeof(gpc_srcu_tls[0]));
		}
	}
	hot_add(h, &URCU_TLS(urcu_memb_reader), sizeof(struct urcu_reader));
	/* The timed loops run a few frames below or beside this one. */
	hot_add(h, (const void *)((uintptr_t)&here - 1024), 1536);
}

static void fp_probe_helper(struct worker *w, void *arg)
{
	struct fp_probe *p = arg;

	(void)w;
	fp_probe_here(p->s, p->h);
}

static uint64_t fp_pick_offset(struct fp_state *s)
{
	struct hot h = { .n = 0 };
	struct fp_probe probe = { s, &h };
	uint64_t off;

	for (int k = 0; k < 3; k++) {
		struct gpc_cache *cs[2] = { s->sc[k], s->rc[k] };

		for (int i = 0; i < 2; i++) {
			hot_add(&h, cs[i], sizeof(*cs[i]));
			hot_add(&h, cs[i]->srcu, sizeof(*cs[i]->srcu));
			hot_add(&h, (const void *)cs[i]->genp,
				sizeof(uint64_t));
		}
		hot_add(&h, &s->uc[k], sizeof(s->uc[k]));
	}
	hot_add(&h, &urcu_memb_gp, sizeof(urcu_memb_gp));
	fp_probe_here(s, &h);
	worker_wait(&workers[1],
		    worker_post(&workers[1], fp_probe_helper, &probe));
	for (off = 0x400; off < page_size; off += 2 * GPC_CACHELINE)
		if (!hot_has(&h, off) && !hot_has(&h, off + GPC_CACHELINE))
			return off;
	return 0x400; /* everything is hot: keep going, noisier */
}

static int fp_setup(struct fp_state *s)
{
	int err;

	err = env_create(&s->srcu, GPC_SCHEME_SRCU, 3, "fast-srcu");
	if (!err)
		err = env_create(&s->rw, GPC_SCHEME_RWLOCK, 3, "fast-rwlock");
	if (err)
		return err;
	s->pool = aligned_alloc(page_size, page_size);
	if (!s->pool)
		return -ENOMEM;
	for (int k = 0; k < 3; k++) {
		uint64_t off = (uint64_t)k * page_size;
		struct gpc_cache *sc = (void *)(s->pool + 0x100 + k * 0x200);
		struct gpc_cache *rc = (void *)(s->pool + 0x200 + k * 0x200);

		err = cache_init_at(sc, &s->srcu, off, page_size);
		if (err)
			return err;
		s->sc[k] = sc;
		err = cache_init_at(rc, &s->rw, off, page_size);
		if (err)
			return err;
		s->rc[k] = rc;
		s->uc[k].len = page_size;
		rcu_assign_pointer(s->uc[k].khva, s->srcu.ram + off);
	}
	s->off_base = fp_pick_offset(s);
	return 0;
}

static void fp_teardown(struct fp_state *s)
{
	for (int k = 0; k < 3; k++) {
		if (s->sc[k])
			gpc_cache_destroy(s->sc[k]);
		if (s->rc[k])
			gpc_cache_destroy(s->rc[k]);
	}
	free(s->pool);
	env_destroy(&s->srcu);
	env_destroy(&s->rw);
}

static void fp_report(struct fp_state *s)
{
	FILE *f;
	double share;

	printf("\nfast path: begin + check + 8-byte store + end, ns/op per "
	       "thread, median [min..max] of %d rounds (stores at page "
	       "offset %#llx)\n",
	       ROUNDS, (unsigned long long)s->off_base);
	printf("%-14s", "contender");
	for (int k = 0; k < NR_FPCFG; k++)
		printf(" %10s %17s", fp_cfg_name[k], "[min..max]");
	printf("\n");
	for (int c = 0; c < NR_FP; c++) {
		printf("%-14s", fp_name[c]);
		for (int k = 0; k < NR_FPCFG; k++)
			printf(" %10.2f [%6.2f..%8.2f]", s->res[c][k].med,
			       s->res[c][k].min, s->res[c][k].max);
		printf("\n");
	}
	share = s->wall_ns ? 100.0 * (double)s->cpu_ns / (double)s->wall_ns : 0;
	printf("main thread was on CPU %.1f%% of its timed loops%s\n", share,
	       share < 95 ? " (other load: numbers disturbed)" : "");
	printf("\nthe same by the threads' CPU time (informational: "
	       "excludes time other tasks took; ratios use the table above)\n");
	for (int c = 0; c < NR_FP; c++) {
		printf("%-14s", fp_name[c]);
		for (int k = 0; k < NR_FPCFG; k++)
			printf(" %10.2f [%6.2f..%8.2f]", s->res_cpu[c][k].med,
			       s->res_cpu[c][k].min, s->res_cpu[c][k].max);
		printf("\n");
	}

	f = csv_open("fastpath.csv",
		     "contender,config,round,ns_per_op,cpu_ns_per_op");
	for (int c = 0; f && c < NR_FP; c++)
		for (int k = 0; k < NR_FPCFG; k++)
			for (int r = 0; r < ROUNDS; r++)
				fprintf(f, "%s,%s,%d,%.4f,%.4f\n", fp_name[c],
					fp_cfg_name[k], r, s->ns[c][k][r],
					s->cpu[c][k][r]);
	csv_close(f);
	f = csv_open("fastpath_summary.csv",
		     "contender,1t,2t_shared,2t_private,cpu_1t,cpu_2t_shared,"
		     "cpu_2t_private");
	for (int c = 0; f && c < NR_FP; c++)
		fprintf(f, "%s,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f\n", fp_name[c],
			s->res[c][FP_1T].med, s->res[c][FP_2T_SHARED].med,
			s->res[c][FP_2T_PRIVATE].med, s->res_cpu[c][FP_1T].med,
			s->res_cpu[c][FP_2T_SHARED].med,
			s->res_cpu[c][FP_2T_PRIVATE].med);
	csv_close(f);

	{
		double srcu = s->res[FP_SRCU][FP_1T].med;
		double r_raw = srcu / s->res[FP_RAW][FP_1T].med;
		double r_urcu = srcu / s->res[FP_URCU][FP_1T].med;
		double r_rw1 = s->res[FP_RWLOCK][FP_1T].med / srcu;
		double r_rw2 = s->res[FP_RWLOCK][FP_2T_SHARED].med /
			       s->res[FP_SRCU][FP_2T_SHARED].med;
		double r_rwp = s->res[FP_RWLOCK][FP_2T_PRIVATE].med /
			       s->res[FP_SRCU][FP_2T_PRIVATE].med;

		printf("\n");
		ratio("fast_srcu_vs_raw", r_raw);
		ratio("fast_srcu_vs_urcu", r_urcu);
		ratio("fast_rwlock_vs_srcu_1t", r_rw1);
		ratio("fast_rwlock_vs_srcu_2t_shared", r_rw2);
		ratio("fast_rwlock_vs_srcu_2t_private", r_rwp);
		target("fast_srcu_vs_raw", r_raw, true, 4);
		target("fast_srcu_vs_urcu", r_urcu, true, 1.5);
		target("fast_rwlock_vs_srcu_1t", r_rw1, false, 3);
		target("fast_rwlock_vs_srcu_2t_shared", r_rw2, false, 15);
	}
}

void suite_fastpath(void)
{
	static struct fp_state s;
	int err;

	memset(&s, 0, sizeof(s));
	err = fp_setup(&s);
	if (err) {
		fail("suite 1 setup", err);
		fp_teardown(&s);
		return;
	}
	for (int c = 0; c < NR_FP; c++)
		for (int k = 0; k < NR_FPCFG; k++)
			s.iters[c][k] = fp_calibrate(&s, c, k);
	s.wall_ns = s.cpu_ns = 0; /* judge the rounds only */
	for (int r = 0; r < ROUNDS; r++)
		for (int i = 0; i < NR_FP; i++) {
			int c = (i + r) % NR_FP;

			for (int k = 0; k < NR_FPCFG; k++)
				s.ns[c][k][r] = fp_measure(&s, c, k,
							   s.iters[c][k],
							   &s.cpu[c][k][r]);
		}
	for (int c = 0; c < NR_FP; c++)
		for (int k = 0; k < NR_FPCFG; k++) {
			s.res[c][k] = mmm_of(s.ns[c][k]);
			s.res_cpu[c][k] = mmm_of(s.cpu[c][k]);
		}
	if (s.rd[0].misses || s.rd[1].misses) {
		fprintf(stderr,
			"suite 1: fast path missed %llu times with "
			"no writer\n",
			(unsigned long long)(s.rd[0].misses + s.rd[1].misses));
		failed = true;
	}
	fp_report(&s);
	fp_teardown(&s);
	suite_ffi();
}

/* ===================================================================== */
/* Profiling mode (callgrind)                                               */
/* ===================================================================== */

/*
 * --profile NAME runs one loop once, for
 *   valgrind --tool=callgrind --toggle-collect=<loop function> ...
 * raw/srcu/rwlock/urcu: fp_loop_<name> (instructions per fast-path op =
 * Ir / iterations); refresh and inval (the same loop): invalidate a valid
 * cache's page, then refresh it; toggle gpc_cache_refresh or
 * gpc_invalidate_range_start / gpc_invalidate_range_end.
 */
int run_profile(void)
{
	static struct fp_state s;
	uint64_t n = opt.profile_iters;
	int err;

	memset(&s, 0, sizeof(s));
	err = fp_setup(&s);
	if (err) {
		fail("profile setup", err);
		fp_teardown(&s);
		return 1;
	}
	fp_bind(&s, 0, FP_1T);
	if (!strcmp(opt.profile, "raw"))
		fp_loop_raw(&s.rd[0], n);
	else if (!strcmp(opt.profile, "srcu"))
		fp_loop_srcu(&s.rd[0], n);
	else if (!strcmp(opt.profile, "rwlock"))
		fp_loop_rwlock(&s.rd[0], n);
	else if (!strcmp(opt.profile, "urcu"))
		fp_loop_urcu(&s.rd[0], n);
	else if (!strcmp(opt.profile, "refresh") ||
		 !strcmp(opt.profile, "inval")) {
		uint64_t hva = env_hva(&s.srcu, 0);

		/* Each refresh follows an invalidation, as after a miss. */
		for (uint64_t i = 0; i < n; i++) {
			gpc_invalidate_range_start(s.srcu.vm, hva,
						   hva + page_size, 0);
			gpc_invalidate_range_end(s.srcu.vm, hva,
						 hva + page_size);
			gpc_cache_refresh(s.sc[0], 0);
		}
	} else if (ffi_profile(opt.profile)) {
		fprintf(stderr, "unknown --profile %s\n", opt.profile);
		failed = true;
	}
	printf("profile %s: %llu iterations, misses %llu\n", opt.profile,
	       (unsigned long long)n, (unsigned long long)s.rd[0].misses);
	fp_teardown(&s);
	return failed ? 1 : 0;
}
