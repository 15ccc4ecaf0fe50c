/* SPDX-License-Identifier: MIT */
/*
 * bench/suite_ffi.c - bench_cache suite 1, last part: the fast path through
 * the exported out-of-line forms (gpc_cache_begin_ool/end_ool,
 * gpc_srcu_read_lock_ool/unlock_ool), which FFI callers use, next to the
 * inline forms a C or C++ caller compiles in (see bench_cache.c for the
 * conventions all suites follow).
 *
 * One thread, no writer: each access is begin + 8-byte store + end (cache)
 * or read lock + store + unlock (domain). Inline and out-of-line loops run
 * interleaved, ROUNDS rounds, and the ratios are out-of-line over inline
 * medians of the same run. The bench links libgpc statically, so an
 * out-of-line call here is a direct call; through libgpc.so an FFI caller
 * pays a PLT jump more per call.
 */
#include "suite.h"

enum ffi_contender {
	FFI_CACHE_INLINE,
	FFI_CACHE_OOL,
	FFI_RW_INLINE,
	FFI_RW_OOL,
	FFI_SRCU_INLINE,
	FFI_SRCU_OOL,
	NR_FFI
};

static const char *const ffi_name[NR_FFI] = {
	[FFI_CACHE_INLINE] = "cache srcu inline",
	[FFI_CACHE_OOL] = "cache srcu ool",
	[FFI_RW_INLINE] = "cache rwlock inline",
	[FFI_RW_OOL] = "cache rwlock ool",
	[FFI_SRCU_INLINE] = "srcu read inline",
	[FFI_SRCU_OOL] = "srcu read ool",
};

struct ffi_state {
	struct env srcu, rw;
	struct gpc_cache *sc, *rc; /* in @pool */
	uint8_t *pool;		   /* one page: fixed offsets */
	uint64_t off;		   /* payload offset in the cached page */
	uint64_t misses;	   /* must stay 0: no writer runs */
	uint64_t iters[NR_FFI];
	double ns[NR_FFI][MAX_ROUNDS];	/* wall clock */
	double cpu[NR_FFI][MAX_ROUNDS]; /* thread CPU time */
	struct mmm res[NR_FFI], res_cpu[NR_FFI];
};

static gpc_always_inline void ffi_op_inline(struct ffi_state *s,
					    struct gpc_cache *c, uint64_t i)
{
	struct gpc_guard g;
	uint8_t *p = gpc_cache_begin(c, s->off, sizeof(uint64_t), &g);

	if (gpc_likely(p != NULL)) {
		store(p, i);
		gpc_cache_end(c, &g);
	} else {
		s->misses++;
	}
}

static inline void ffi_op_ool(struct ffi_state *s, struct gpc_cache *c,
			      uint64_t i)
{
	struct gpc_guard g;
	uint8_t *p = gpc_cache_begin_ool(c, s->off, sizeof(uint64_t), &g);

	if (gpc_likely(p != NULL)) {
		store(p, i);
		gpc_cache_end_ool(c, &g);
	} else {
		s->misses++;
	}
}

static inline void ffi_op_srcu_inline(struct ffi_state *s, uint64_t i)
{
	struct gpc_srcu *d = s->sc->srcu;

	gpc_srcu_read_lock(d);
	store(s->srcu.ram + s->off, i);
	gpc_srcu_read_unlock(d);
}

static inline void ffi_op_srcu_ool(struct ffi_state *s, uint64_t i)
{
	struct gpc_srcu *d = s->sc->srcu;

	gpc_srcu_read_lock_ool(d);
	store(s->srcu.ram + s->off, i);
	gpc_srcu_read_unlock_ool(d);
}

#define FFI_LOOP(name, op)                                                  \
	__attribute__((noinline, aligned(64))) static void ffi_loop_##name( \
		struct ffi_state *s, uint64_t n)                            \
	{                                                                   \
		for (uint64_t i = 0; i < n; i++)                            \
			op;                                                 \
	}

FFI_LOOP(cache_inline, ffi_op_inline(s, s->sc, i))
FFI_LOOP(cache_ool, ffi_op_ool(s, s->sc, i))
FFI_LOOP(rw_inline, ffi_op_inline(s, s->rc, i))
FFI_LOOP(rw_ool, ffi_op_ool(s, s->rc, i))
FFI_LOOP(srcu_inline, ffi_op_srcu_inline(s, i))
FFI_LOOP(srcu_ool, ffi_op_srcu_ool(s, i))

static void (*const ffi_loop[NR_FFI])(struct ffi_state *, uint64_t) = {
	[FFI_CACHE_INLINE] = ffi_loop_cache_inline,
	[FFI_CACHE_OOL] = ffi_loop_cache_ool,
	[FFI_RW_INLINE] = ffi_loop_rw_inline,
	[FFI_RW_OOL] = ffi_loop_rw_ool,
	[FFI_SRCU_INLINE] = ffi_loop_srcu_inline,
	[FFI_SRCU_OOL] = ffi_loop_srcu_ool,
};

/*
 * ns per access of one run of @n accesses by the wall clock, and in
 * *@cpu_op (if not NULL) by the thread's CPU time, which other load on the
 * machine cannot inflate.
 */
static double ffi_measure(struct ffi_state *s, int c, uint64_t n,
			  double *cpu_op)
{
	uint64_t c0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
	uint64_t t0 = now_ns();

	ffi_loop[c](s, n);
	t0 = now_ns() - t0;
	if (cpu_op)
		*cpu_op = (double)(clock_ns(CLOCK_THREAD_CPUTIME_ID) - c0) /
			  (double)n;
	return (double)t0 / (double)n;
}

/* Accesses for one measurement of about opt.target_ns. */
static uint64_t ffi_calibrate(struct ffi_state *s, int c)
{
	uint64_t n = 1000;
	double ns;

	for (;;) {
		ns = ffi_measure(s, c, n, NULL);
		if (ns * (double)n >= (double)opt.pilot_ns || n >= (1ULL << 36))
			break;
		n *= 4;
	}
	if (ns <= 0)
		ns = 0.01;
	n = (uint64_t)((double)opt.target_ns / ns);
	return n < 1000 ? 1000 : n;
}

/* Is line @a (an address) at page offset @off's line? (4K aliasing) */
static bool ffi_aliases(const void *a, uint64_t off)
{
	return (((uintptr_t)a ^ off) & 0xfc0) == 0;
}

/*
 * A payload offset whose line shares its page offset with no line the
 * loops load (the caches, the domains, the generation words, the thread's
 * lookaside entries, the stack), as suite_fastpath.c explains: a store
 * that 4K-aliases one of them stalls by an amount that changes per run.
 */
static uint64_t ffi_pick_offset(struct ffi_state *s)
{
	struct gpc_cache *cs[2] = { s->sc, s->rc };
	char here;

	for (uint64_t off = 0x400; off < page_size; off += GPC_CACHELINE) {
		bool hot = false;

		for (int i = 0; i < 2; i++) {
			const struct gpc_cache *c = cs[i];

			for (size_t b = 0; b < sizeof(*c); b += GPC_CACHELINE)
				hot |= ffi_aliases((const uint8_t *)c + b, off);
			hot |= ffi_aliases(c->srcu, off) ||
			       ffi_aliases((const void *)c->genp, off) ||
			       ffi_aliases(&gpc_srcu_tls[c->srcu->tls_index],
					   off);
		}
		for (int k = -1024; k < 512; k += GPC_CACHELINE)
			hot |= ffi_aliases(&here + k, off);
		if (!hot)
			return off;
	}
	return 0x400; /* everything is hot: keep going, noisier */
}

static int ffi_setup(struct ffi_state *s)
{
	int err;

	err = env_create(&s->srcu, GPC_SCHEME_SRCU, 1, "ffi-srcu");
	if (!err)
		err = env_create(&s->rw, GPC_SCHEME_RWLOCK, 1, "ffi-rwlock");
	if (err)
		return err;
	s->pool = aligned_alloc(page_size, page_size);
	if (!s->pool)
		return -ENOMEM;
	err = cache_init_at((void *)(s->pool + 0x100), &s->srcu, 0, page_size);
	if (err)
		return err;
	s->sc = (void *)(s->pool + 0x100);
	err = cache_init_at((void *)(s->pool + 0x200), &s->rw, 0, page_size);
	if (err)
		return err;
	s->rc = (void *)(s->pool + 0x200);
	s->off = ffi_pick_offset(s);
	return 0;
}

static void ffi_teardown(struct ffi_state *s)
{
	if (s->sc)
		gpc_cache_destroy(s->sc);
	if (s->rc)
		gpc_cache_destroy(s->rc);
	free(s->pool);
	env_destroy(&s->srcu);
	env_destroy(&s->rw);
}

static void ffi_report(struct ffi_state *s)
{
	double r_cache, r_rw, r_srcu, r_cpu;
	FILE *f;

	printf("\nout-of-line (FFI) forms vs inline: one access, ns/op, "
	       "median [min..max] of %d rounds (stores at page offset "
	       "%#llx)\n",
	       ROUNDS, (unsigned long long)s->off);
	printf("%-20s %8s %17s %8s %17s\n", "contender", "wall", "[min..max]",
	       "cpu", "[min..max]");
	for (int c = 0; c < NR_FFI; c++)
		printf("%-20s %8.2f [%6.2f..%8.2f] %8.2f [%6.2f..%8.2f]\n",
		       ffi_name[c], s->res[c].med, s->res[c].min, s->res[c].max,
		       s->res_cpu[c].med, s->res_cpu[c].min, s->res_cpu[c].max);
	f = csv_open("ffi.csv", "contender,round,ns_per_op,cpu_ns_per_op");
	for (int c = 0; f && c < NR_FFI; c++)
		for (int r = 0; r < ROUNDS; r++)
			fprintf(f, "%s,%d,%.4f,%.4f\n", ffi_name[c], r,
				s->ns[c][r], s->cpu[c][r]);
	csv_close(f);

	r_cache = s->res[FFI_CACHE_OOL].med / s->res[FFI_CACHE_INLINE].med;
	r_rw = s->res[FFI_RW_OOL].med / s->res[FFI_RW_INLINE].med;
	r_srcu = s->res[FFI_SRCU_OOL].med / s->res[FFI_SRCU_INLINE].med;
	/* Informational: the same by CPU time, for a loaded machine. */
	r_cpu = s->res_cpu[FFI_CACHE_OOL].med /
		s->res_cpu[FFI_CACHE_INLINE].med;
	printf("\n");
	ratio("ool_vs_inline", r_cache);
	ratio("ool_vs_inline_rwlock", r_rw);
	ratio("ool_vs_inline_srcu_read", r_srcu);
	ratio("ool_vs_inline_cpu", r_cpu);
	/*
	 * Loose: two calls and returns, and the guard through memory, on a
	 * path of about 1.5 ns; more than 3x would mean the out-of-line form
	 * does more than the inline one.
	 */
	target("ool_vs_inline", r_cache, true, 3);
}

void suite_ffi(void)
{
	static struct ffi_state s;
	int err;

	memset(&s, 0, sizeof(s));
	err = ffi_setup(&s);
	if (err) {
		fail("suite 1 (ffi) setup", err);
		ffi_teardown(&s);
		return;
	}
	for (int c = 0; c < NR_FFI; c++)
		s.iters[c] = ffi_calibrate(&s, c);
	for (int r = 0; r < ROUNDS; r++)
		for (int i = 0; i < NR_FFI; i++) {
			int c = (i + r) % NR_FFI;

			s.ns[c][r] =
				ffi_measure(&s, c, s.iters[c], &s.cpu[c][r]);
		}
	for (int c = 0; c < NR_FFI; c++) {
		s.res[c] = mmm_of(s.ns[c]);
		s.res_cpu[c] = mmm_of(s.cpu[c]);
	}
	if (s.misses) {
		fprintf(stderr,
			"suite 1 (ffi): fast path missed %llu times with "
			"no writer\n",
			(unsigned long long)s.misses);
		failed = true;
	}
	ffi_report(&s);
	ffi_teardown(&s);
}

/*
 * --profile cache_inline, cache_ool, rw_inline, rw_ool, srcu_inline or
 * srcu_ool: one loop of opt.profile_iters accesses, for
 *   valgrind --tool=callgrind --toggle-collect=ffi_loop_<name> ...
 * (instructions per access = Ir / iterations). Return: 1 if @name is not
 * one of these, else 0 (failures set "failed").
 */
int ffi_profile(const char *name)
{
	static const char *const names[NR_FFI] = {
		[FFI_CACHE_INLINE] = "cache_inline",
		[FFI_CACHE_OOL] = "cache_ool",
		[FFI_RW_INLINE] = "rw_inline",
		[FFI_RW_OOL] = "rw_ool",
		[FFI_SRCU_INLINE] = "srcu_inline",
		[FFI_SRCU_OOL] = "srcu_ool",
	};
	static struct ffi_state s;
	int c, err;

	for (c = 0; c < NR_FFI && strcmp(name, names[c]); c++)
		;
	if (c == NR_FFI)
		return 1;
	memset(&s, 0, sizeof(s));
	err = ffi_setup(&s);
	if (err) {
		fail("profile setup", err);
	} else {
		ffi_loop[c](&s, opt.profile_iters);
		if (s.misses) {
			fprintf(stderr, "profile %s: %llu misses\n", name,
				(unsigned long long)s.misses);
			failed = true;
		}
	}
	ffi_teardown(&s);
	return 0;
}
