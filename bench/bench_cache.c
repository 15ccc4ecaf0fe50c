/* SPDX-License-Identifier: MIT */
/*
 * bench/bench_cache.c - benchmark suites 1-5 of the gfn-to-pfn cache.
 *
 * Each suite runs its contenders side by side in one run, on the same
 * machine state, prints a table, "ratio <name> <value>" lines and
 * informational "target <name> <value> <=|>= <limit> met|MISSED" lines,
 * and (with --csv-dir) writes CSV files that the gnuplot scripts in
 * bench/plots turn into PNG plots. docs/performance.md has a full run.
 *
 *  1. fast path: check + 8-byte store through a cache, ns/op, one thread,
 *     two threads on one shared cache, two threads on a cache each:
 *     raw pointer store; srcu scheme (SRCU + seqcount); rwlock scheme; the
 *     same check + store protected by liburcu-memb.
 *  2. invalidation latency: blocking range_start with 0, 1 and 2 busy
 *     readers, per scheme, next to urcu_memb_synchronize_rcu() under the
 *     same load; non-blocking range_start: success rate and latency.
 *  3. refresh under invalidation storms: idle, under a storm of unrelated
 *     invalidations, under an overlapping storm that pauses now and then;
 *     gpc_cache_refresh() next to KVM's policy (retry while any
 *     invalidation is in progress anywhere in the vm), modelled here.
 *  4. scale: invalidation cost with 10, 1,000 and 100,000 active caches;
 *     memslot lookup with 1, 1,000 and 32,764 slots; memory per cache and
 *     per memslot.
 *  5. real time: worst-case latency of a SCHED_FIFO reader pinned to the
 *     CPU of a writer it preempts, and of a signal-handler reader that
 *     interrupts a writer, per scheme.
 *
 * Suite 6 (end to end) lives in the reference VMM; bench/bench runs it
 * (a marked hook) once the VMM offers it.
 *
 * Conventions (as bench_read.c): every contender's op is a static inline
 * function inlined into a loop of its own (noinline, aligned(64)), chosen by
 * a switch outside the timed loop; rounds interleave the contenders with a
 * rotating order and the median is reported (15 rounds, 7 with --quick);
 * threads are pinned to the first two CPUs we may use; each suite says how
 * much of the machine other tasks took while it ran (this machine is
 * shared), and suite 1 the share of CPU time its timed loops got. Single
 * measurements use the wall clock (as the ratios do); suite 1 and the
 * memslot lookups also report the threads' CPU time, which other load
 * cannot inflate. Latencies are nearest-rank percentiles.
 *
 * The exit status says whether the suites ran (setup failed, or a fast path
 * missed although no writer exists), never whether a target was met.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#define _LGPL_SOURCE /* inline urcu's read side, as its fast users do */

#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <urcu/urcu-memb.h>

#include <gpc/gpc.h>

#define SPIN_TIMEOUT_NS (120 * 1000000000ULL) /* spin_until gives up */
#define NR_SUITES	5
#define MAX_ROUNDS	15 /* interleaved rounds of the ns/op measurements: */
#define ROUNDS		(opt.quick ? 7 : MAX_ROUNDS) /* 7 in a quick run */
#define GPA_BASE	0x100000ULL

/* ---- options ------------------------------------------------------------ */

static struct {
	bool quick;
	unsigned int suites; /* bit n-1: run suite n */
	const char *csv_dir;
	uint64_t target_ns;  /* one ns/op measurement lasts about this */
	uint64_t pilot_ns;   /* calibration runs at least this long */
	const char *profile; /* --profile: one loop for callgrind */
	uint64_t profile_iters;
} opt;

/* Scale a sample count down for --quick. */
static unsigned int nq(unsigned int full, unsigned int quick)
{
	return opt.quick ? quick : full;
}

/* ---- time, CPUs, machine load ------------------------------------------- */

static uint64_t clock_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static uint64_t now_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

/* Busy-wait @ns: a pause that keeps the CPU, unlike a sleep. */
static void spin_ns(uint64_t ns)
{
	uint64_t end = now_ns() + ns;

	while (now_ns() < end)
		gpc_cpu_relax();
}

static void sleep_ns(uint64_t ns)
{
	struct timespec ts = { (time_t)(ns / 1000000000ULL),
			       (long)(ns % 1000000000ULL) };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static int cpu_of[2] = { -1, -1 };
static cpu_set_t all_cpus; /* the process's CPUs at start */

/* The first two CPUs we may run on: 0 and 1 on an unrestricted machine. */
static void pick_cpus(void)
{
	cpu_set_t set;
	int n = 0;

	if (sched_getaffinity(0, sizeof(set), &set))
		return;
	all_cpus = set;
	for (int cpu = 0; cpu < CPU_SETSIZE && n < 2; cpu++)
		if (CPU_ISSET(cpu, &set))
			cpu_of[n++] = cpu;
	if (n == 1)
		cpu_of[1] = cpu_of[0];
}

/* Failure is ignored: unpinned threads only make the numbers noisier. */
static void pin_to(int cpu)
{
	cpu_set_t set;

	if (cpu < 0)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	(void)pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

/*
 * Create a vm with the calling thread unpinned, so that its SRCU domain's
 * worker thread (which inherits our affinity) may run on every CPU rather
 * than compete with the pinned main thread for the first one.
 */
static int vm_create_unpinned(const struct gpc_vm_config *cfg,
			      struct gpc_vm **out)
{
	cpu_set_t mine;
	bool pinned =
		!pthread_getaffinity_np(pthread_self(), sizeof(mine), &mine);
	int err;

	if (pinned && CPU_COUNT(&all_cpus))
		pthread_setaffinity_np(pthread_self(), sizeof(all_cpus),
				       &all_cpus);
	err = gpc_vm_create(cfg, out);
	if (pinned)
		pthread_setaffinity_np(pthread_self(), sizeof(mine), &mine);
	return err;
}

/*
 * Spin until *w == v, yielding now and then: the thread we wait for may
 * share our CPU.
 */
static void spin_until(_Atomic uint64_t *w, uint64_t v)
{
	uint64_t deadline = now_ns() + SPIN_TIMEOUT_NS;
	unsigned int n = 0;

	while (atomic_load_explicit(w, memory_order_acquire) != v) {
		if (++n % 256 == 0) {
			sched_yield();
			/*
			 * Bounded: a thread that never answers (a lost wakeup,
			 * a stuck job) ends the run with a message instead of
			 * hanging "make bench"; the driver moves on.
			 */
			if (now_ns() > deadline) {
				fprintf(stderr,
					"%s: timeout: a helper thread did not "
					"answer in %llu s\n",
					program_invocation_short_name,
					SPIN_TIMEOUT_NS / 1000000000ULL);
				exit(1);
			}
		} else {
			gpc_cpu_relax();
		}
	}
}

/*
 * What the rest of the machine did while a suite ran: CPU time of all CPUs
 * from /proc/stat (busy and steal), minus this process's own. On a shared
 * machine a suite that ran next to heavy load is flagged in its output.
 */
struct load {
	uint64_t t0;
	unsigned long long busy, steal, self;
};

static void load_sample(unsigned long long *busy, unsigned long long *steal,
			unsigned long long *self)
{
	unsigned long long v[10] = { 0 };
	unsigned long long ut = 0, st = 0;
	FILE *f = fopen("/proc/stat", "r");

	*busy = *steal = *self = 0;
	if (f) {
		if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu",
			   &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6],
			   &v[7]) == 8) {
			*busy = v[0] + v[1] + v[2] + v[5] + v[6];
			*steal = v[7];
		}
		fclose(f);
	}
	f = fopen("/proc/self/stat", "r");
	if (f) {
		/* Fields 14 and 15; the command name (2) has no spaces here. */
		if (fscanf(f,
			   "%*d %*s %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u "
			   "%*u %llu %llu",
			   &ut, &st) == 2)
			*self = ut + st;
		fclose(f);
	}
}

static void load_begin(struct load *l)
{
	l->t0 = now_ns();
	load_sample(&l->busy, &l->steal, &l->self);
}

static void load_report(const struct load *l, const char *what)
{
	unsigned long long busy, steal, self;
	double hz = (double)sysconf(_SC_CLK_TCK);
	double wall = (double)(now_ns() - l->t0) / 1e9;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	double others, stolen;

	load_sample(&busy, &steal, &self);
	if (wall <= 0 || hz <= 0 || ncpu <= 0)
		return;
	others = ((double)(busy - l->busy) - (double)(self - l->self)) / hz /
		 wall / (double)ncpu * 100.0;
	stolen = (double)(steal - l->steal) / hz / wall / (double)ncpu * 100.0;
	if (others < 0)
		others = 0;
	printf("%s: %.1f s; other tasks used %.0f%% and the hypervisor stole "
	       "%.0f%% of %ld CPUs%s\n",
	       what, wall, others, stolen, ncpu,
	       others + stolen > 10 ? " (other load: numbers disturbed)" : "");
}

/* ---- statistics ----------------------------------------------------------- */

struct samples {
	uint64_t *v;
	size_t n, cap;
};

static int samples_init(struct samples *s, size_t cap)
{
	s->v = calloc(cap ? cap : 1, sizeof(*s->v));
	s->n = 0;
	s->cap = cap;
	return s->v ? 0 : -ENOMEM;
}

static void samples_free(struct samples *s)
{
	free(s->v);
	s->v = NULL;
	s->n = s->cap = 0;
}

static void samples_add(struct samples *s, uint64_t v)
{
	if (s->n < s->cap)
		s->v[s->n++] = v;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

struct pct {
	size_t n;
	double p50, p99, max, mean;
};

/* Nearest-rank percentiles; the samples are left in their order. */
static struct pct pct_of(const struct samples *s)
{
	struct pct r = { 0 };
	uint64_t *t;
	double sum = 0;

	if (!s->n)
		return r;
	t = malloc(s->n * sizeof(*t));
	if (!t)
		return r;
	memcpy(t, s->v, s->n * sizeof(*t));
	qsort(t, s->n, sizeof(*t), cmp_u64);
	for (size_t i = 0; i < s->n; i++)
		sum += (double)t[i];
	r.n = s->n;
	r.p50 = (double)t[(50 * s->n + 99) / 100 - 1];
	r.p99 = (double)t[(99 * s->n + 99) / 100 - 1];
	r.max = (double)t[s->n - 1];
	r.mean = sum / (double)s->n;
	free(t);
	return r;
}

static double median(const double *v, int n)
{
	double t[MAX_ROUNDS];

	memcpy(t, v, sizeof(*v) * (size_t)n);
	qsort(t, (size_t)n, sizeof(*t), cmp_double);
	return n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
}

/* Median, min and max of ROUNDS values. */
struct mmm {
	double med, min, max;
};

static struct mmm mmm_of(const double *v)
{
	struct mmm r = { median(v, ROUNDS), v[0], v[0] };

	for (int i = 1; i < ROUNDS; i++) {
		if (v[i] < r.min)
			r.min = v[i];
		if (v[i] > r.max)
			r.max = v[i];
	}
	return r;
}

/* Small fast PRNG (xorshift64*) for sample phases and lookup addresses. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(void)
{
	uint64_t x = rng_state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	rng_state = x;
	return x * 0x2545f4914f6cdd1dULL;
}

/* ---- output ----------------------------------------------------------------- */

static bool failed; /* some suite could not run: exit status 1 */

static void fail(const char *what, int err)
{
	fprintf(stderr, "bench_cache: %s: %s\n", what,
		strerror(err < 0 ? -err : err));
	failed = true;
}

static FILE *ratios_csv;

static void ratio(const char *name, double v)
{
	printf("ratio %s %.3f\n", name, v);
	if (ratios_csv)
		fprintf(ratios_csv, "%s,%.6f\n", name, v);
}

/* A ratio that could not be measured here (e.g. no SCHED_FIFO). */
static void ratio_skipped(const char *name, const char *why)
{
	printf("ratio %s skipped (%s)\n", name, why);
}

/* Informational: the exit status never depends on a target. */
static void target(const char *name, double v, bool at_most, double limit)
{
	bool met = at_most ? v <= limit : v >= limit;

	printf("target %s %.3f %s %.1f %s\n", name, v,
	       at_most ? "<=" : ">=", limit, met ? "met" : "MISSED");
}

/* csv_dir/name, opened for writing; NULL without --csv-dir. */
static FILE *csv_open(const char *name, const char *header)
{
	char path[4096];
	FILE *f;

	if (!opt.csv_dir)
		return NULL;
	snprintf(path, sizeof(path), "%s/%s", opt.csv_dir, name);
	f = fopen(path, "w");
	if (!f) {
		perror(path);
		failed = true;
		return NULL;
	}
	fprintf(f, "%s\n", header);
	return f;
}

static void csv_close(FILE *f)
{
	if (f && fclose(f)) {
		perror("csv");
		failed = true;
	}
}

/*
 * Write the sorted samples as an empirical CDF (for plots). @total is the
 * number of attempts: more than s->n when some never completed, so that the
 * curve then stops short of 1.
 */
static void csv_cdf_of(FILE *f, const char *name, const struct samples *s,
		       size_t total)
{
	uint64_t *t;
	size_t step;

	if (!f || !s->n)
		return;
	t = malloc(s->n * sizeof(*t));
	if (!t)
		return;
	memcpy(t, s->v, s->n * sizeof(*t));
	qsort(t, s->n, sizeof(*t), cmp_u64);
	/* At most ~2000 points per curve, always with the maximum. */
	step = s->n / 2000 + 1;
	for (size_t i = 0; i < s->n; i += step)
		fprintf(f, "%s,%.6f,%llu\n", name, (double)(i + 1) / total,
			(unsigned long long)t[i]);
	if ((s->n - 1) % step)
		fprintf(f, "%s,%.6f,%llu\n", name, (double)s->n / total,
			(unsigned long long)t[s->n - 1]);
	free(t);
}

static void csv_cdf(FILE *f, const char *name, const struct samples *s)
{
	csv_cdf_of(f, name, s, s->n);
}

/* ---- helper threads -------------------------------------------------------- */

/*
 * Two helper threads: W1 pinned to the second CPU, W2 to the first (which it
 * shares with the main thread: a second busy reader on a two-CPU machine
 * has nowhere else to go). A job is a function the helper runs once; jobs
 * reach it through a condition variable, so it sleeps between them, and
 * "started"/"finished" counters let the main thread wait with a spin.
 */
struct worker {
	int idx, cpu;
	pthread_t th;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	uint64_t gen; /* jobs posted, under @lock */
	void (*fn)(struct worker *w, void *arg);
	void *arg;
	uint64_t cur; /* the job running */
	_Atomic uint64_t started, finished;
	_Atomic uint64_t go; /* main: start the timed part of job @cur */
	_Atomic bool stop;   /* main: end an open-ended job */
	uint64_t elapsed_ns; /* the job's timed part */
	uint64_t cpu_ns;     /* ... and the CPU time it got meanwhile */
};

static struct worker workers[3];

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	uint64_t seen = 0;

	pin_to(w->cpu);
	urcu_memb_register_thread();
	for (;;) {
		void (*fn)(struct worker *, void *);
		void *a;

		pthread_mutex_lock(&w->lock);
		while (w->gen == seen)
			pthread_cond_wait(&w->cond, &w->lock);
		seen = w->gen;
		fn = w->fn;
		a = w->arg;
		pthread_mutex_unlock(&w->lock);
		if (!fn)
			break;
		w->cur = seen;
		atomic_store_explicit(&w->started, seen, memory_order_release);
		fn(w, a);
		atomic_store_explicit(&w->finished, seen, memory_order_release);
	}
	urcu_memb_unregister_thread();
	return NULL;
}

static int workers_start(void)
{
	for (int i = 1; i <= 2; i++) {
		struct worker *w = &workers[i];
		int err;

		w->idx = i;
		w->cpu = i == 1 ? cpu_of[1] : cpu_of[0];
		pthread_mutex_init(&w->lock, NULL);
		pthread_cond_init(&w->cond, NULL);
		err = pthread_create(&w->th, NULL, worker_main, w);
		if (err)
			return -err;
	}
	return 0;
}

static uint64_t worker_post_nowait(struct worker *w,
				   void (*fn)(struct worker *, void *),
				   void *arg)
{
	uint64_t gen;

	pthread_mutex_lock(&w->lock);
	w->fn = fn;
	w->arg = arg;
	gen = ++w->gen;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
	return gen;
}

/* Post a job and wait until it runs; returns its number. */
static uint64_t worker_post(struct worker *w,
			    void (*fn)(struct worker *, void *), void *arg)
{
	uint64_t gen = worker_post_nowait(w, fn, arg);

	spin_until(&w->started, gen);
	return gen;
}

static void worker_wait(struct worker *w, uint64_t gen)
{
	spin_until(&w->finished, gen);
}

/* End an open-ended job (one that loops until @stop). */
static void worker_stop(struct worker *w, uint64_t gen)
{
	atomic_store_explicit(&w->stop, true, memory_order_relaxed);
	worker_wait(w, gen);
	atomic_store_explicit(&w->stop, false, memory_order_relaxed);
}

static bool worker_stopping(struct worker *w)
{
	return atomic_load_explicit(&w->stop, memory_order_relaxed);
}

static void workers_exit(void)
{
	for (int i = 1; i <= 2; i++) {
		worker_post_nowait(&workers[i], NULL, NULL);
		pthread_join(workers[i].th, NULL);
	}
}

/* ---- a vm with guest RAM ------------------------------------------------------ */

static uint64_t page_size;

/*
 * A vm on the direct stage with @pages pages of guest RAM in memslot 0 at
 * GPA_BASE, faulted in.
 */
struct env {
	struct gpc_vm *vm;
	struct gpc_hostmem *hm;
	uint8_t *ram;
	size_t len;
};

static int env_create(struct env *e, enum gpc_scheme scheme, size_t pages,
		      const char *name)
{
	struct gpc_vm_config cfg = { .scheme = scheme, .name = name };
	void *ram;
	int err;

	memset(e, 0, sizeof(*e));
	e->len = pages * page_size;
	err = gpc_hostmem_create(&e->hm);
	if (err)
		return err;
	cfg.hostmem = &gpc_hostmem_direct_ops;
	cfg.hostmem_ctx = e->hm;
	err = vm_create_unpinned(&cfg, &e->vm);
	if (err)
		return err;
	err = gpc_hostmem_alloc(e->hm, e->len, &ram);
	if (err)
		return err;
	e->ram = ram;
	memset(e->ram, 0, e->len);
	return gpc_memslot_create(e->vm, 0, GPA_BASE, e->len,
				  (uint64_t)(uintptr_t)e->ram, 0);
}

static void env_destroy(struct env *e)
{
	int err = 0;

	if (e->vm) {
		gpc_memslot_delete(e->vm, 0);
		err = gpc_vm_destroy(e->vm);
		if (err)
			fail("gpc_vm_destroy", err);
	}
	if (e->hm) {
		if (e->ram)
			gpc_hostmem_free(e->hm, e->ram, e->len);
		gpc_hostmem_destroy(e->hm);
	}
	memset(e, 0, sizeof(*e));
}

static uint64_t env_hva(const struct env *e, uint64_t off)
{
	return (uint64_t)(uintptr_t)e->ram + off;
}

/* Initialise and activate @c on [GPA_BASE + off, + len). */
static int cache_init_at(struct gpc_cache *c, struct env *e, uint64_t off,
			 uint64_t len)
{
	int err = gpc_cache_init(c, e->vm, GPC_USAGE_HOST, NULL, 0);

	if (!err)
		err = gpc_cache_activate_gpa(c, GPA_BASE + off, len);
	if (err) {
		fail("cache activate", err);
		if (c->priv)
			gpc_cache_destroy(c);
	}
	return err;
}

/* A host-usage cache of [GPA_BASE + off, + len), in its own cache lines. */
static struct gpc_cache *cache_new(struct env *e, uint64_t off, uint64_t len)
{
	size_t sz = (sizeof(struct gpc_cache) + GPC_CACHELINE - 1) &
		    ~(size_t)(GPC_CACHELINE - 1);
	struct gpc_cache *c = aligned_alloc(GPC_CACHELINE, sz);

	if (c && cache_init_at(c, e, off, len)) {
		free(c);
		c = NULL;
	}
	return c;
}

static void cache_free(struct gpc_cache *c)
{
	if (!c)
		return;
	gpc_cache_destroy(c);
	free(c);
}

/* The payload of every access: a relaxed 8-byte store that cannot be
 * dropped or merged by the compiler. */
static inline void store(void *p, uint64_t v)
{
	atomic_store_explicit((_Atomic uint64_t *)p, v, memory_order_relaxed);
}

/*
 * The urcu contender's cache: a pointer and a length, published with
 * rcu_assign_pointer and read under urcu_memb_read_lock, which is how an
 * RCU-protected translation cache (QEMU's, say) checks before it stores.
 */
struct urcu_cache {
	uint8_t *khva;
	uint64_t len;
} gpc_cacheline_aligned;

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

/* What one thread's loop uses; set by fp_bind() before each measurement. */
struct fp_reader {
	struct gpc_cache *sc; /* srcu scheme cache */
	struct gpc_cache *rc; /* rwlock scheme cache */
	struct urcu_cache *uc;
	uint8_t *raw;	 /* the same page, through a plain pointer */
	uint64_t off;	 /* this thread's word: its own cache line */
	uint64_t misses; /* must stay 0: no writer runs */
} gpc_cacheline_aligned;

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

#define FP_LOOP(name, op)                                                  \
	static __attribute__((noinline, aligned(64))) void fp_loop_##name( \
		struct fp_reader *r, uint64_t n)                           \
	{                                                                  \
		for (uint64_t i = 0; i < n; i++)                           \
			op;                                                \
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

static void suite_fastpath(void)
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
}

/* ===================================================================== */
/* Busy readers (suites 2 and 3)                                            */
/* ===================================================================== */

enum busy_kind { BUSY_CACHE, BUSY_URCU };

struct busy_arg {
	enum busy_kind kind;
	struct gpc_cache *c;
	struct urcu_cache *uc;
	struct fp_reader rd; /* misses are expected here: no check */
	uint64_t sections, cpu_ns, wall_ns; /* what the reader got done */
};

/* Back-to-back short read sections until told to stop. */
static void busy_reader(struct worker *w, void *arg)
{
	struct busy_arg *b = arg;

	uint64_t c0 = clock_ns(CLOCK_THREAD_CPUTIME_ID), t0 = now_ns();

	b->rd.off = (uint64_t)w->idx * GPC_CACHELINE;
	b->rd.sc = b->rd.rc = b->c;
	b->rd.uc = b->uc;
	while (!worker_stopping(w)) {
		if (b->kind == BUSY_URCU)
			fp_loop_urcu(&b->rd, 64);
		else
			fp_loop_srcu(&b->rd, 64);
		b->sections += 64;
	}
	b->cpu_ns = clock_ns(CLOCK_THREAD_CPUTIME_ID) - c0;
	b->wall_ns = now_ns() - t0;
}

struct busy_set {
	struct busy_arg arg[3];
	uint64_t gen[3];
	int n;
};

static void busy_start(struct busy_set *bs, int n, enum busy_kind kind,
		       struct gpc_cache *c, struct urcu_cache *uc)
{
	bs->n = n;
	for (int i = 1; i <= n; i++) {
		bs->arg[i] =
			(struct busy_arg){ .kind = kind, .c = c, .uc = uc };
		bs->gen[i] = worker_post(&workers[i], busy_reader, &bs->arg[i]);
	}
}

/* What the busy readers of a case got done, summed over its batches. */
struct busy_tally {
	uint64_t sections, cpu_ns, wall_ns;
};

static void busy_stop(struct busy_set *bs, struct busy_tally *t)
{
	for (int i = 1; i <= bs->n; i++)
		atomic_store_explicit(&workers[i].stop, true,
				      memory_order_relaxed);
	for (int i = 1; i <= bs->n; i++) {
		worker_stop(&workers[i], bs->gen[i]);
		if (t) {
			t->sections += bs->arg[i].sections;
			t->cpu_ns += bs->arg[i].cpu_ns;
			t->wall_ns += bs->arg[i].wall_ns;
		}
	}
	bs->n = 0;
}

/* ===================================================================== */
/* Suite 2: invalidation latency                                            */
/* ===================================================================== */

enum inv_kind { INV_SRCU, INV_RWLOCK, INV_URCU, NR_INV };
#define INV_READERS  3 /* 0, 1, 2 busy readers */
#define INV_BATCH    20
#define NB_GIVEUP_NS 20000000ULL /* a non-blocking retry loop gives up */

static const char *const inv_name[NR_INV] = {
	[INV_SRCU] = "srcu",
	[INV_RWLOCK] = "rwlock",
	[INV_URCU] = "urcu_memb_sync",
};

struct inv_state {
	struct env env[2]; /* srcu, rwlock */
	struct gpc_cache *victim[2];
	struct urcu_cache uc;
	/* blocking */
	struct samples blk[NR_INV][INV_READERS];
	/* non-blocking (srcu, rwlock only) */
	struct samples nb_first[2][INV_READERS]; /* first attempt latency */
	struct samples nb_done[2][INV_READERS];	 /* time until success */
	uint64_t nb_tries[2][INV_READERS], nb_ok1[2][INV_READERS];
	uint64_t nb_attempts[2][INV_READERS], nb_gaveup[2][INV_READERS];
	struct busy_tally busy[NR_INV][INV_READERS];
};

static int inv_refresh(struct gpc_cache *c)
{
	int err = gpc_cache_refresh(c, 0);

	if (err)
		fail("gpc_cache_refresh", err);
	return err;
}

/* @count blocking invalidations of the victim's page (or grace periods). */
static void inv_blocking_batch(struct inv_state *s, enum inv_kind k, int nr,
			       int count)
{
	for (int i = 0; i < count; i++) {
		uint64_t t0, t1;

		if (k == INV_URCU) {
			t0 = now_ns();
			urcu_memb_synchronize_rcu();
			t1 = now_ns();
		} else {
			struct env *e = &s->env[k];
			uint64_t hva = env_hva(e, 0);
			int err;

			if (inv_refresh(s->victim[k]))
				return;
			t0 = now_ns();
			err = gpc_invalidate_range_start(e->vm, hva,
							 hva + page_size, 0);
			t1 = now_ns();
			if (err) {
				fail("gpc_invalidate_range_start", err);
				return;
			}
			gpc_invalidate_range_end(e->vm, hva, hva + page_size);
		}
		samples_add(&s->blk[k][nr], t1 - t0);
	}
}

/*
 * Non-blocking: refresh the victim (so that the invalidation has a valid
 * cache to clear), try once and time it; then keep trying, 1 us apart,
 * until it succeeds, and time that too.
 */
static void inv_nonblock_batch(struct inv_state *s, enum inv_kind k, int nr,
			       int count)
{
	struct env *e = &s->env[k];
	uint64_t hva = env_hva(e, 0);

	for (int i = 0; i < count; i++) {
		uint64_t t0, ta, tb;
		int err, n = 0;

		if (inv_refresh(s->victim[k]))
			return;
		t0 = now_ns();
		for (;;) {
			ta = now_ns();
			err = gpc_invalidate_range_start(e->vm, hva,
							 hva + page_size,
							 GPC_INVAL_NONBLOCK);
			tb = now_ns();
			if (++n == 1) {
				samples_add(&s->nb_first[k][nr], tb - ta);
				s->nb_tries[k][nr]++;
				s->nb_ok1[k][nr] += !err;
			}
			if (err != -EAGAIN)
				break;
			if (tb - t0 > NB_GIVEUP_NS)
				break;
			spin_ns(1000);
		}
		s->nb_attempts[k][nr] += (uint64_t)n;
		if (!err) {
			gpc_invalidate_range_end(e->vm, hva, hva + page_size);
			samples_add(&s->nb_done[k][nr], tb - t0);
		} else if (err == -EAGAIN) {
			s->nb_gaveup[k][nr]++;
		} else {
			fail("non-blocking range_start", err);
			return;
		}
	}
}

static int inv_setup(struct inv_state *s, int n)
{
	const char *names[2] = { "inval-srcu", "inval-rwlock" };
	int err;

	for (int k = 0; k < 2; k++) {
		err = env_create(&s->env[k],
				 k == INV_SRCU ? GPC_SCHEME_SRCU :
						 GPC_SCHEME_RWLOCK,
				 2, names[k]);
		if (err)
			return err;
		s->victim[k] = cache_new(&s->env[k], 0, page_size);
		if (!s->victim[k])
			return -ENOMEM;
	}
	s->uc.len = page_size;
	rcu_assign_pointer(s->uc.khva, s->env[0].ram + page_size);
	for (int k = 0; k < NR_INV; k++)
		for (int r = 0; r < INV_READERS; r++)
			if (samples_init(&s->blk[k][r], (size_t)n))
				return -ENOMEM;
	for (int k = 0; k < 2; k++)
		for (int r = 0; r < INV_READERS; r++)
			if (samples_init(&s->nb_first[k][r], (size_t)n) ||
			    samples_init(&s->nb_done[k][r], (size_t)n))
				return -ENOMEM;
	return 0;
}

static void inv_teardown(struct inv_state *s)
{
	for (int k = 0; k < 2; k++) {
		cache_free(s->victim[k]);
		env_destroy(&s->env[k]);
	}
	for (int k = 0; k < NR_INV; k++)
		for (int r = 0; r < INV_READERS; r++)
			samples_free(&s->blk[k][r]);
	for (int k = 0; k < 2; k++)
		for (int r = 0; r < INV_READERS; r++) {
			samples_free(&s->nb_first[k][r]);
			samples_free(&s->nb_done[k][r]);
		}
}

static void inv_report(struct inv_state *s)
{
	struct pct p;
	FILE *f, *fc;

	printf("\nblocking invalidation of one cached page (range_start), "
	       "us; urcu_memb_sync = urcu_memb_synchronize_rcu()\n"
	       "busy readers: back-to-back begin/store/end on the cache "
	       "being invalidated (urcu: read sections); reader 2 shares "
	       "the invalidator's CPU;\n"
	       "reader Msec/s and CPU: read sections per us and share of "
	       "time on a CPU, per reader, while the case ran\n");
	printf("%-15s %7s %9s %9s %9s %9s %14s %10s\n", "scheme", "readers",
	       "n", "p50", "p99", "max", "reader Msec/s", "reader CPU");
	f = csv_open("inval_summary.csv",
		     "scheme,readers,n,p50_ns,p99_ns,max_ns");
	fc = csv_open("inval_cdf.csv", "case,fraction,ns");
	for (int k = 0; k < NR_INV; k++)
		for (int r = 0; r < INV_READERS; r++) {
			char name[64];

			const struct busy_tally *bt = &s->busy[k][r];
			double rate = bt->wall_ns ?
					      (double)bt->sections * 1e3 /
						      (double)bt->wall_ns :
					      0;
			double on = bt->wall_ns ? 100.0 * (double)bt->cpu_ns /
							  (double)bt->wall_ns :
						  0;

			p = pct_of(&s->blk[k][r]);
			printf("%-15s %7d %9zu %9.1f %9.1f %9.1f", inv_name[k],
			       r, p.n, p.p50 / 1e3, p.p99 / 1e3, p.max / 1e3);
			if (r)
				printf(" %14.1f %9.0f%%\n", rate / r, on / r);
			else
				printf(" %14s %10s\n", "-", "-");
			if (f)
				fprintf(f, "%s,%d,%zu,%.0f,%.0f,%.0f\n",
					inv_name[k], r, p.n, p.p50, p.p99,
					p.max);
			snprintf(name, sizeof(name), "%s_%dr", inv_name[k], r);
			csv_cdf(fc, name, &s->blk[k][r]);
		}
	csv_close(f);
	csv_close(fc);

	printf("\nnon-blocking invalidation (GPC_INVAL_NONBLOCK) of a valid "
	       "cached page: first attempt, then retries 1 us apart\n");
	printf("%-8s %7s %9s %9s %9s %10s %9s %9s %9s %8s\n", "scheme",
	       "readers", "1st ok%", "1st p50", "1st p99", "tries/inv",
	       "done p50", "done p99", "done max", "gave up");
	f = csv_open("inval_nonblock.csv",
		     "scheme,readers,first_ok_pct,first_p50_ns,first_p99_ns,"
		     "attempts_per_inval,done_p50_ns,done_p99_ns,done_max_ns,"
		     "gave_up");
	for (int k = 0; k < 2; k++)
		for (int r = 0; r < INV_READERS; r++) {
			struct pct a = pct_of(&s->nb_first[k][r]);
			struct pct d = pct_of(&s->nb_done[k][r]);
			uint64_t tries = s->nb_tries[k][r];
			double ok = tries ? 100.0 * (double)s->nb_ok1[k][r] /
						    (double)tries :
					    0;
			double per = tries ? (double)s->nb_attempts[k][r] /
						     (double)tries :
					     0;

			printf("%-8s %7d %8.1f%% %9.2f %9.2f %10.1f %9.1f "
			       "%9.1f %9.1f %8llu\n",
			       inv_name[k], r, ok, a.p50 / 1e3, a.p99 / 1e3,
			       per, d.p50 / 1e3, d.p99 / 1e3, d.max / 1e3,
			       (unsigned long long)s->nb_gaveup[k][r]);
			if (f)
				fprintf(f,
					"%s,%d,%.2f,%.0f,%.0f,%.2f,%.0f,%.0f,"
					"%.0f,%llu\n",
					inv_name[k], r, ok, a.p50, a.p99, per,
					d.p50, d.p99, d.max,
					(unsigned long long)s->nb_gaveup[k][r]);
		}
	csv_close(f);

	{
		double ours = pct_of(&s->blk[INV_SRCU][1]).p50;
		double urcu = pct_of(&s->blk[INV_URCU][1]).p50;
		double v = urcu > 0 ? ours / urcu : 0;

		printf("\n");
		ratio("inval_busy_vs_urcu_sync_busy", v);
		ratio("inval_idle_vs_urcu_sync_idle",
		      pct_of(&s->blk[INV_SRCU][0]).p50 /
			      pct_of(&s->blk[INV_URCU][0]).p50);
		target("inval_busy_vs_urcu_sync_busy", v, true, 1.0);
	}
}

static void suite_inval(void)
{
	static struct inv_state s;
	int n = (int)nq(1000, 60), err;
	struct busy_set bs = { 0 };

	memset(&s, 0, sizeof(s));
	err = inv_setup(&s, n);
	if (err) {
		fail("suite 2 setup", err);
		inv_teardown(&s);
		return;
	}
	/*
	 * Batches of INV_BATCH per case, all cases in turn (rotating), so that
	 * the machine's mood is shared by all of them.
	 */
	for (int done = 0, b = 0; done < n && !failed; done += INV_BATCH, b++) {
		int count = n - done < INV_BATCH ? n - done : INV_BATCH;

		for (int i = 0; i < NR_INV * INV_READERS; i++) {
			int j = (i + b) % (NR_INV * INV_READERS);
			enum inv_kind k = j / INV_READERS;
			int nr = j % INV_READERS;

			if (k == INV_URCU)
				busy_start(&bs, nr, BUSY_URCU, NULL, &s.uc);
			else
				busy_start(&bs, nr, BUSY_CACHE, s.victim[k],
					   NULL);
			inv_blocking_batch(&s, k, nr, count);
			if (k != INV_URCU)
				inv_nonblock_batch(&s, k, nr, count);
			busy_stop(&bs, &s.busy[k][nr]);
		}
	}
	inv_report(&s);
	inv_teardown(&s);
}

/* ===================================================================== */
/* Suite 3: refresh under invalidation storms                               */
/* ===================================================================== */

enum storm { STORM_IDLE, STORM_UNRELATED, STORM_OVERLAP, NR_STORM };
enum refresher { RF_GPC, RF_KVM, NR_RF };

static const char *const storm_name[NR_STORM] = {
	[STORM_IDLE] = "idle",
	[STORM_UNRELATED] = "unrelated_storm",
	[STORM_OVERLAP] = "overlap_storm",
};

static const char *const rf_name[NR_RF] = {
	[RF_GPC] = "gpc_cache_refresh",
	[RF_KVM] = "kvm_policy",
};

#define STORM_PAGES    64      /* cache on page 0, storm on 8..63 */
#define STORM_DWELL_NS 2000    /* range_start .. range_end: the change */
#define STORM_BURST_NS 1000000 /* overlapping storm: 1 ms of invalidations */
#define STORM_PAUSE_NS 200000  /* ... then 200 us of quiet */
#define RF_BATCH       20

struct storm_state {
	struct env env;
	struct gpc_cache *c;
	/* KVM's vm-wide "invalidation in progress" count (the storm keeps it
	 * around its range_start .. range_end, as KVM's notifier does). */
	_Atomic int in_progress;
	_Atomic uint64_t storm_count;
	enum storm mode;
	uint64_t giveup_ns;
	struct samples lat[NR_STORM][NR_RF];
	uint64_t tries[NR_STORM][NR_RF], gaveup[NR_STORM][NR_RF];
	uint64_t attempts[NR_STORM][NR_RF]; /* kvm: loops; gpc: retries */
	uint64_t storms[NR_STORM], storm_ns[NR_STORM];
};

/*
 * The storm's next range: a page of its own, or one of two ranges that both
 * cover the cache's page (and differ from the one-page range the main thread
 * invalidates: concurrent range_end calls of one identical range are kept
 * out of this benchmark).
 */
static void storm_pick(struct storm_state *s, uint64_t n, uint64_t *start,
		       uint64_t *end)
{
	if (s->mode == STORM_OVERLAP) {
		*start = env_hva(&s->env, 0);
		*end = *start + (n % 2 ? 3 : 2) * page_size;
	} else {
		*start = env_hva(&s->env,
				 (8 + n % (STORM_PAGES - 8)) * page_size);
		*end = *start + page_size;
	}
}

/*
 * The storm keeps one invalidation in progress at every instant of a burst:
 * it starts the next one before it ends the previous, each held for
 * STORM_DWELL_NS (the host changing the mapping). KVM's in-progress count is
 * kept around every range_start .. range_end, as its notifier does.
 */
static void storm_thread(struct worker *w, void *arg)
{
	struct storm_state *s = arg;
	struct gpc_vm *vm = s->env.vm;
	uint64_t burst0 = now_ns(), n = 0, hs = 0, he = 0;
	bool holding = false;

	while (!worker_stopping(w)) {
		uint64_t start, end;
		int err;

		if (s->mode == STORM_OVERLAP &&
		    now_ns() - burst0 > STORM_BURST_NS) {
			if (holding) {
				gpc_invalidate_range_end(vm, hs, he);
				atomic_fetch_sub(&s->in_progress, 1);
				holding = false;
			}
			sleep_ns(STORM_PAUSE_NS);
			burst0 = now_ns();
		}
		storm_pick(s, n, &start, &end);
		atomic_fetch_add(&s->in_progress, 1);
		err = gpc_invalidate_range_start(vm, start, end, 0);
		if (err) {
			atomic_fetch_sub(&s->in_progress, 1);
			fail("storm range_start", err);
			break;
		}
		if (holding) {
			gpc_invalidate_range_end(vm, hs, he);
			atomic_fetch_sub(&s->in_progress, 1);
		}
		hs = start;
		he = end;
		holding = true;
		spin_ns(STORM_DWELL_NS);
		n++;
	}
	if (holding) {
		gpc_invalidate_range_end(vm, hs, he);
		atomic_fetch_sub(&s->in_progress, 1);
	}
	atomic_fetch_add(&s->storm_count, n);
}

/*
 * KVM's policy (virt/kvm/pfncache.c hva_to_pfn_retry() with
 * mmu_notifier_retry_cache()): snapshot the vm-wide invalidation sequence,
 * do the work (translate the page: the hva_to_pfn() of each attempt, here
 * the stage's translate), and start over if any invalidation is in progress
 * anywhere in the vm or the sequence moved. Once that check passes the
 * translation is published with gpc_cache_refresh(). Gives up after
 * s->giveup_ns: that is the livelock.
 */
static int kvm_policy_refresh(struct storm_state *s, uint64_t *loops)
{
	struct gpc_vm *vm = s->env.vm;
	uint64_t t0 = now_ns(), hva = env_hva(&s->env, 0), pfn;
	int err;

	for (*loops = 1;; (*loops)++) {
		uint64_t seq = gpc_invalidate_sequence(vm);

		err = gpc_hostmem_direct_ops.translate(s->env.hm, hva,
						       page_size, true, &pfn);
		if (err)
			return err;
		if (!atomic_load(&s->in_progress) &&
		    gpc_invalidate_sequence(vm) == seq)
			return gpc_cache_refresh(s->c, 0);
		if (now_ns() - t0 > s->giveup_ns)
			return -ETIMEDOUT;
	}
}

/*
 * Make the cache miss, untimed: a refresh of a valid cache returns at once
 * (as KVM's does), and a refresh is what follows a miss.
 */
static int storm_invalidate_cache(struct storm_state *s)
{
	uint64_t hva = env_hva(&s->env, 0);
	int err =
		gpc_invalidate_range_start(s->env.vm, hva, hva + page_size, 0);

	if (!err)
		err = gpc_invalidate_range_end(s->env.vm, hva, hva + page_size);
	return err;
}

static void refresh_batch(struct storm_state *s, enum storm m,
			  enum refresher rf, int count)
{
	struct gpc_vm_stats st0, st1;

	gpc_vm_get_stats(s->env.vm, &st0);
	for (int i = 0; i < count; i++) {
		uint64_t t0, t1, loops = 1;
		int err;

		/* Sample every phase of the overlapping storm's cycle. */
		if (m == STORM_OVERLAP)
			spin_ns(rnd() % (STORM_BURST_NS + STORM_PAUSE_NS));
		err = storm_invalidate_cache(s);
		if (err) {
			fail("range_start", err);
			return;
		}
		t0 = now_ns();
		if (rf == RF_GPC)
			err = gpc_cache_refresh(s->c, 0);
		else
			err = kvm_policy_refresh(s, &loops);
		t1 = now_ns();
		s->tries[m][rf]++;
		if (rf == RF_KVM)
			s->attempts[m][rf] += loops;
		if (err == -ETIMEDOUT) {
			s->gaveup[m][rf]++;
		} else if (err) {
			fail("refresh", err);
			return;
		} else {
			samples_add(&s->lat[m][rf], t1 - t0);
		}
	}
	gpc_vm_get_stats(s->env.vm, &st1);
	if (rf == RF_GPC)
		s->attempts[m][rf] += st1.refresh_retries - st0.refresh_retries;
}

static void storm_report(struct storm_state *s)
{
	FILE *f, *fc;

	printf("\nrefresh latency after a miss, under invalidation storms, us\n"
	       "(storm: one invalidation always in progress, each held %u us; "
	       "unrelated: other pages;\n overlapping: the cache's page, "
	       "%u ms bursts with %u us pauses; kvm_policy gives up after "
	       "%.0f ms)\n",
	       STORM_DWELL_NS / 1000, STORM_BURST_NS / 1000000,
	       STORM_PAUSE_NS / 1000, (double)s->giveup_ns / 1e6);
	printf("%-16s %-18s %6s %8s %9s %9s %9s %11s %12s\n", "case",
	       "refresher", "n", "done%", "p50", "p99", "max", "retries/op",
	       "storm inv/s");
	f = csv_open("refresh_summary.csv",
		     "case,refresher,n,done_pct,p50_ns,p99_ns,max_ns,"
		     "retries_per_op,storm_per_s");
	fc = csv_open("refresh_cdf.csv", "case,fraction,ns");
	for (int m = 0; m < NR_STORM; m++)
		for (int rf = 0; rf < NR_RF; rf++) {
			struct pct p = pct_of(&s->lat[m][rf]);
			uint64_t tries = s->tries[m][rf];
			double done =
				tries ? 100.0 *
						(double)(tries -
							 s->gaveup[m][rf]) /
						(double)tries :
					0;
			double rpo = tries ? (double)s->attempts[m][rf] /
						     (double)tries :
					     0;
			double rate = s->storm_ns[m] ?
					      (double)s->storms[m] * 1e9 /
						      (double)s->storm_ns[m] :
					      0;
			char name[64];

			if (rf == RF_KVM)
				rpo = rpo > 0 ? rpo - 1 : 0;
			printf("%-16s %-18s %6llu %7.1f%% %9.1f %9.1f %9.1f "
			       "%11.2f %12.0f\n",
			       storm_name[m], rf_name[rf],
			       (unsigned long long)tries, done, p.p50 / 1e3,
			       p.p99 / 1e3, p.max / 1e3, rpo, rate);
			if (f)
				fprintf(f,
					"%s,%s,%llu,%.2f,%.0f,%.0f,%.0f,"
					"%.3f,%.0f\n",
					storm_name[m], rf_name[rf],
					(unsigned long long)tries, done, p.p50,
					p.p99, p.max, rpo, rate);
			snprintf(name, sizeof(name), "%s/%s", rf_name[rf],
				 storm_name[m]);
			csv_cdf_of(fc, name, &s->lat[m][rf], tries);
		}
	csv_close(f);
	csv_close(fc);

	{
		double idle = pct_of(&s->lat[STORM_IDLE][RF_GPC]).p99;
		double un = pct_of(&s->lat[STORM_UNRELATED][RF_GPC]).p99;
		double v = idle > 0 ? un / idle : 0;
		uint64_t kt = s->tries[STORM_UNRELATED][RF_KVM];
		double kdone =
			kt ? (double)(kt - s->gaveup[STORM_UNRELATED][RF_KVM]) /
					(double)kt :
			     0;

		printf("\n");
		ratio("refresh_unrelated_storm_p99_vs_idle_p99", v);
		ratio("refresh_kvm_policy_unrelated_storm_done_fraction",
		      kdone);
		target("refresh_unrelated_storm_p99_vs_idle_p99", v, true, 5);
	}
}

static void suite_storm(void)
{
	static struct storm_state s;
	int n[NR_RF] = { (int)nq(1000, 60), (int)nq(100, 10) };
	int err;

	memset(&s, 0, sizeof(s));
	s.giveup_ns = opt.quick ? 5000000 : 20000000;
	err = env_create(&s.env, GPC_SCHEME_SRCU, STORM_PAGES, "storm");
	if (!err) {
		s.c = cache_new(&s.env, 0, page_size);
		if (!s.c)
			err = -ENOMEM;
	}
	for (int m = 0; !err && m < NR_STORM; m++)
		for (int rf = 0; rf < NR_RF; rf++)
			if (samples_init(&s.lat[m][rf], (size_t)n[rf]))
				err = -ENOMEM;
	if (err) {
		fail("suite 3 setup", err);
		goto out;
	}
	/*
	 * Rounds: each (storm, refresher) case gets a batch in turn, the
	 * storm (on the second CPU) running only during its own batches.
	 */
	for (int round = 0; !failed; round++) {
		bool more = false;

		for (int i = 0; i < NR_STORM * NR_RF; i++) {
			int j = (i + round) % (NR_STORM * NR_RF);
			enum storm m = j / NR_RF;
			enum refresher rf = j % NR_RF;
			int per = rf == RF_GPC ? RF_BATCH : 2;
			int left = n[rf] - (int)s.tries[m][rf];
			uint64_t gen = 0, t0, c0;

			if (left <= 0)
				continue;
			more = true;
			s.mode = m;
			c0 = atomic_load(&s.storm_count);
			t0 = now_ns();
			if (m != STORM_IDLE)
				gen = worker_post(&workers[1], storm_thread,
						  &s);
			refresh_batch(&s, m, rf, left < per ? left : per);
			if (gen)
				worker_stop(&workers[1], gen);
			s.storm_ns[m] += now_ns() - t0;
			s.storms[m] += atomic_load(&s.storm_count) - c0;
		}
		if (!more)
			break;
	}
	storm_report(&s);
out:
	cache_free(s.c);
	env_destroy(&s.env);
	for (int m = 0; m < NR_STORM; m++)
		for (int rf = 0; rf < NR_RF; rf++)
			samples_free(&s.lat[m][rf]);
}

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

static void suite_scale(void)
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
}

/* ===================================================================== */
/* Suite 5: real time                                                       */
/* ===================================================================== */

/*
 * A writer (SCHED_OTHER) on the second CPU refreshes and invalidates one
 * cache in a loop. Then either
 *  - fifo: a SCHED_FIFO reader pinned to the same CPU wakes every period,
 *    preempting the writer wherever it is (sometimes inside a write
 *    section), and times begin + store + end; or
 *  - signal: a sender on the other CPU signals the writer thread every
 *    period and the handler times try_begin + store + end (and the delay
 *    since the signal was sent: the library blocks signals inside its
 *    write sections).
 * Only the srcu scheme's reader never waits for the writer; the rwlock
 * scheme's begin sleeps on the lock the preempted writer holds.
 */
enum rt_case {
	RT_FIFO_SRCU,
	RT_FIFO_RWLOCK,
	RT_FIFO_RWLOCK_TRY,
	RT_SIG_SRCU,
	RT_SIG_RWLOCK,
	NR_RT
};

static const char *const rt_name[NR_RT] = {
	[RT_FIFO_SRCU] = "fifo/srcu",
	[RT_FIFO_RWLOCK] = "fifo/rwlock",
	[RT_FIFO_RWLOCK_TRY] = "fifo/rwlock_try",
	[RT_SIG_SRCU] = "signal/srcu",
	[RT_SIG_RWLOCK] = "signal/rwlock_try",
};

#define RT_PERIOD_NS 200000 /* a read every 200 us: short FIFO bursts */
#define RT_BATCH     500

struct rt_state {
	struct env env[2]; /* srcu, rwlock */
	struct gpc_cache *c[2];
	bool fifo_ok;
	const char *fifo_why;
	struct samples lat[NR_RT], total[NR_RT];
	uint64_t hits[NR_RT], reads[NR_RT];
	uint64_t writer_loops[NR_RT];
	/* The batch running. */
	enum rt_case cur;
	_Atomic bool writer_stop;
	pthread_t writer_th;
	_Atomic uint64_t sent_ns, handled;
};

static struct rt_state *rt_sig; /* for the handler */

static int rt_scheme(enum rt_case k)
{
	return k == RT_FIFO_SRCU || k == RT_SIG_SRCU ? 0 : 1;
}

static void *rt_writer(void *arg)
{
	struct rt_state *s = arg;
	int k = rt_scheme(s->cur);
	struct env *e = &s->env[k];
	uint64_t hva = env_hva(e, 0), n = 0;

	pin_to(cpu_of[1]);
	/* Claim the thread's slot now: a handler's first read must not. */
	gpc_srcu_register_thread(gpc_vm_srcu(e->vm));
	while (!atomic_load_explicit(&s->writer_stop, memory_order_relaxed)) {
		if (gpc_cache_refresh(s->c[k], 0))
			break;
		if (gpc_invalidate_range_start(e->vm, hva, hva + page_size, 0))
			break;
		gpc_invalidate_range_end(e->vm, hva, hva + page_size);
		n++;
	}
	s->writer_loops[s->cur] += n;
	return NULL;
}

static void rt_read(struct rt_state *s, enum rt_case k, bool try_only,
		    uint64_t *lat, bool *hit)
{
	struct gpc_cache *c = s->c[rt_scheme(k)];
	struct gpc_guard g;
	uint64_t t0 = now_ns();
	uint8_t *p = try_only ? gpc_cache_try_begin(c, 0, 8, &g) :
				gpc_cache_begin(c, 0, 8, &g);

	if (p) {
		store(p, t0);
		gpc_cache_end(c, &g);
	}
	*lat = now_ns() - t0;
	*hit = p != NULL;
}

static void *rt_fifo_reader(void *arg)
{
	struct rt_state *s = arg;
	enum rt_case k = s->cur;
	struct sched_param sp = { .sched_priority = 50 };
	struct timespec next;
	int err;

	pin_to(cpu_of[1]);
	err = pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp);
	if (err) {
		s->fifo_ok = false;
		s->fifo_why = strerror(err);
		return NULL;
	}
	/* Claim the slot outside the timed reads. */
	gpc_srcu_register_thread(gpc_vm_srcu(s->env[rt_scheme(k)].vm));
	clock_gettime(CLOCK_MONOTONIC, &next);
	for (int i = 0; i < RT_BATCH; i++) {
		uint64_t lat;
		bool hit;

		next.tv_nsec += RT_PERIOD_NS;
		if (next.tv_nsec >= 1000000000L) {
			next.tv_nsec -= 1000000000L;
			next.tv_sec++;
		}
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next,
				       NULL) == EINTR)
			;
		rt_read(s, k, k == RT_FIFO_RWLOCK_TRY, &lat, &hit);
		samples_add(&s->lat[k], lat);
		s->hits[k] += hit;
		s->reads[k]++;
	}
	return NULL;
}

/* Async-signal-safe: clock_gettime, the fast path, stores to our arrays. */
static void rt_handler(int sig)
{
	struct rt_state *s = rt_sig;
	enum rt_case k = s->cur;
	uint64_t lat, sent = atomic_load(&s->sent_ns);
	bool hit;
	int saved = errno;

	(void)sig;
	rt_read(s, k, true, &lat, &hit);
	samples_add(&s->lat[k], lat);
	samples_add(&s->total[k], now_ns() - sent);
	s->hits[k] += hit;
	s->reads[k]++;
	atomic_fetch_add(&s->handled, 1);
	errno = saved;
}

/* Signal the writer thread RT_BATCH times, one at a time. */
static void rt_signal_batch(struct rt_state *s)
{
	uint64_t t = now_ns();

	for (int i = 0; i < RT_BATCH; i++) {
		uint64_t h = atomic_load(&s->handled), t0;

		t += RT_PERIOD_NS;
		/*
		 * Sleep until 50 us before @t, then spin. "Now" is read once
		 * per step: two reads could straddle t - 50 us and wrap the
		 * unsigned difference into a sleep of centuries.
		 */
		for (uint64_t now = now_ns(); now < t; now = now_ns()) {
			if (t - now > 50000)
				sleep_ns(t - now - 50000);
			else
				gpc_cpu_relax();
		}
		atomic_store(&s->sent_ns, now_ns());
		pthread_kill(s->writer_th, SIGUSR1);
		t0 = now_ns();
		while (atomic_load(&s->handled) == h) {
			if (now_ns() - t0 > 1000000000ULL) {
				fprintf(stderr, "suite 5: signal lost\n");
				failed = true;
				return;
			}
			sched_yield();
		}
	}
}

static void rt_batch(struct rt_state *s, enum rt_case k)
{
	pthread_t reader;
	int err;

	s->cur = k;
	atomic_store(&s->writer_stop, false);
	err = pthread_create(&s->writer_th, NULL, rt_writer, s);
	if (err) {
		fail("pthread_create", err);
		return;
	}
	if (k <= RT_FIFO_RWLOCK_TRY) {
		err = pthread_create(&reader, NULL, rt_fifo_reader, s);
		if (!err)
			pthread_join(reader, NULL);
		else
			fail("pthread_create", err);
	} else {
		rt_signal_batch(s);
	}
	atomic_store(&s->writer_stop, true);
	pthread_join(s->writer_th, NULL);
}

static void rt_report(struct rt_state *s)
{
	struct pct p[NR_RT];
	FILE *f, *fc;

	printf("\nreal-time readers, us: begin (signal: try_begin) + store "
	       "+ end, while a writer refreshes and invalidates the cache\n"
	       "fifo: SCHED_FIFO reader on the writer's CPU every %u us; "
	       "signal: handler on the writer's thread, 'sent' = since "
	       "pthread_kill\n",
	       RT_PERIOD_NS / 1000);
	printf("%-18s %7s %7s %9s %9s %9s %11s %11s\n", "case", "n", "hit%",
	       "p50", "p99", "max", "sent p99", "sent max");
	f = csv_open("rt_summary.csv",
		     "case,n,hit_pct,p50_ns,p99_ns,max_ns,sent_p99_ns,"
		     "sent_max_ns");
	fc = csv_open("rt_cdf.csv", "case,fraction,ns");
	for (int k = 0; k < NR_RT; k++) {
		struct pct t = pct_of(&s->total[k]);
		char sent[32];
		double hit = s->reads[k] ? 100.0 * (double)s->hits[k] /
						   (double)s->reads[k] :
					   0;

		p[k] = pct_of(&s->lat[k]);
		if (k <= RT_FIFO_RWLOCK_TRY && !s->fifo_ok) {
			printf("%-18s skipped: SCHED_FIFO not permitted (%s)\n",
			       rt_name[k], s->fifo_why);
			continue;
		}
		if (t.n)
			snprintf(sent, sizeof(sent), "%11.1f %11.1f",
				 t.p99 / 1e3, t.max / 1e3);
		else
			snprintf(sent, sizeof(sent), "%11s %11s", "-", "-");
		printf("%-18s %7zu %6.1f%% %9.2f %9.2f %9.1f %s", rt_name[k],
		       p[k].n, hit, p[k].p50 / 1e3, p[k].p99 / 1e3,
		       p[k].max / 1e3, sent);
		printf("\n");
		if (f)
			fprintf(f, "%s,%zu,%.2f,%.0f,%.0f,%.0f,%.0f,%.0f\n",
				rt_name[k], p[k].n, hit, p[k].p50, p[k].p99,
				p[k].max, t.p99, t.max);
		csv_cdf(fc, rt_name[k], &s->lat[k]);
	}
	csv_close(f);
	csv_close(fc);

	printf("\n");
	if (s->fifo_ok) {
		ratio("rt_fifo_rwlock_max_vs_srcu_max",
		      p[RT_FIFO_RWLOCK].max / p[RT_FIFO_SRCU].max);
		ratio("rt_fifo_rwlock_p99_vs_srcu_p99",
		      p[RT_FIFO_RWLOCK].p99 / p[RT_FIFO_SRCU].p99);
	} else {
		ratio_skipped("rt_fifo_rwlock_max_vs_srcu_max",
			      "no SCHED_FIFO");
		ratio_skipped("rt_fifo_rwlock_p99_vs_srcu_p99",
			      "no SCHED_FIFO");
	}
	ratio("rt_signal_rwlock_max_vs_srcu_max",
	      p[RT_SIG_RWLOCK].max / p[RT_SIG_SRCU].max);
	/*
	 * "Bounded": the srcu reader runs a fixed, short instruction path and
	 * never waits for the writer, so its worst case is the machine's
	 * (interrupts, the hypervisor), not the writer's. 50 us is far above
	 * the path and below a scheduler round trip through a writer.
	 */
	if (s->fifo_ok)
		target("rt_fifo_srcu_max_us", p[RT_FIFO_SRCU].max / 1e3, true,
		       50);
	target("rt_signal_srcu_max_us", p[RT_SIG_SRCU].max / 1e3, true, 50);
}

static void suite_rt(void)
{
	static struct rt_state s;
	int n = (int)nq(10000, 1000), err = 0;
	struct sigaction sa = { 0 }, old;

	memset(&s, 0, sizeof(s));
	s.fifo_ok = true;
	for (int k = 0; !err && k < 2; k++) {
		err = env_create(&s.env[k],
				 k ? GPC_SCHEME_RWLOCK : GPC_SCHEME_SRCU, 1,
				 k ? "rt-rwlock" : "rt-srcu");
		if (!err && !(s.c[k] = cache_new(&s.env[k], 0, page_size)))
			err = -ENOMEM;
	}
	for (int k = 0; !err && k < NR_RT; k++)
		if (samples_init(&s.lat[k], (size_t)n + RT_BATCH) ||
		    samples_init(&s.total[k], (size_t)n + RT_BATCH))
			err = -ENOMEM;
	if (err) {
		fail("suite 5 setup", err);
		goto out;
	}
	rt_sig = &s;
	sa.sa_handler = rt_handler;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, &old);
	for (int done = 0, b = 0; done < n && !failed; done += RT_BATCH, b++)
		for (int i = 0; i < NR_RT; i++) {
			enum rt_case k = (i + b) % NR_RT;

			if (k <= RT_FIFO_RWLOCK_TRY && !s.fifo_ok)
				continue;
			rt_batch(&s, k);
		}
	sigaction(SIGUSR1, &old, NULL);
	rt_report(&s);
out:
	for (int k = 0; k < 2; k++) {
		cache_free(s.c[k]);
		env_destroy(&s.env[k]);
	}
	for (int k = 0; k < NR_RT; k++) {
		samples_free(&s.lat[k]);
		samples_free(&s.total[k]);
	}
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
static int run_profile(void)
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
	} else {
		fprintf(stderr, "unknown --profile %s\n", opt.profile);
		failed = true;
	}
	printf("profile %s: %llu iterations, misses %llu\n", opt.profile,
	       (unsigned long long)n, (unsigned long long)s.rd[0].misses);
	fp_teardown(&s);
	return failed ? 1 : 0;
}

/* ===================================================================== */
/* main                                                                     */
/* ===================================================================== */

static void usage(FILE *f, const char *prog)
{
	fprintf(f,
		"usage: %s [--quick] [--suite N[,N...]] [--csv-dir DIR]\n"
		"       %s --profile raw|srcu|rwlock|urcu|refresh|inval "
		"[--iters N]\n"
		"  --quick        short run of every selected suite (~30 s "
		"for all)\n"
		"  --suite LIST   suites to run (default: all of 1-5):\n"
		"                 1 fast path, 2 invalidation latency, 3 "
		"refresh under\n"
		"                 storms, 4 scale, 5 real time\n"
		"  --csv-dir DIR  write each suite's CSV files into DIR\n"
		"  --profile X    run one loop once (for callgrind), see "
		"docs/performance.md\n"
		"Prints tables, 'ratio <name> <value>' lines and "
		"informational 'target'\nlines (not in the exit status).\n",
		prog, prog);
}

static int parse_suites(const char *arg)
{
	char *end;

	while (*arg) {
		long v = strtol(arg, &end, 10);

		if (end == arg || v < 1 || v > NR_SUITES)
			return -1;
		opt.suites |= 1u << (v - 1);
		arg = *end == ',' ? end + 1 : end;
		if (*end && *end != ',')
			return -1;
	}
	return 0;
}

static int parse_opts(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "quick", no_argument, NULL, 'q' },
		{ "suite", required_argument, NULL, 's' },
		{ "csv-dir", required_argument, NULL, 'c' },
		{ "profile", required_argument, NULL, 'p' },
		{ "iters", required_argument, NULL, 'i' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	opt.target_ns = 30000000;
	opt.pilot_ns = 2000000;
	opt.profile_iters = 1000000;
	while ((ch = getopt_long(argc, argv, "qs:c:p:i:h", longopts, NULL)) !=
	       -1) {
		switch (ch) {
		case 'q':
			opt.quick = true;
			opt.target_ns = 5000000;
			opt.pilot_ns = 500000;
			break;
		case 's':
			if (parse_suites(optarg)) {
				usage(stderr, argv[0]);
				return -1;
			}
			break;
		case 'c':
			opt.csv_dir = optarg;
			break;
		case 'p':
			opt.profile = optarg;
			break;
		case 'i':
			opt.profile_iters = strtoull(optarg, NULL, 0);
			break;
		case 'h':
			usage(stdout, argv[0]);
			exit(0);
		default:
			usage(stderr, argv[0]);
			return -1;
		}
	}
	if (optind < argc) {
		usage(stderr, argv[0]);
		return -1;
	}
	if (!opt.suites)
		opt.suites = (1u << NR_SUITES) - 1;
	return 0;
}

static void print_header(void)
{
	printf("bench_cache: %s run, CPUs %d and %d, page %llu, "
	       "srcu readers %s\n",
	       opt.quick ? "quick" : "full", cpu_of[0], cpu_of[1],
	       (unsigned long long)page_size,
	       gpc_srcu_membarrier_available() ? "fence-free (membarrier)" :
						 "fenced (no membarrier)");
#if !defined(__OPTIMIZE__)
	printf("WARNING: built without optimisation: meaningless numbers\n");
#endif
#ifdef GPC_DEBUG
	printf("WARNING: GPC_DEBUG build: extra checks on the fast path\n");
#endif
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		void (*fn)(void);
	} suites[NR_SUITES] = {
		{ "1 fast path", suite_fastpath },
		{ "2 invalidation latency", suite_inval },
		{ "3 refresh under invalidation storms", suite_storm },
		{ "4 scale", suite_scale },
		{ "5 real time", suite_rt },
	};
	uint64_t t0 = now_ns();
	int err;

	if (parse_opts(argc, argv))
		return 2;
	page_size = (uint64_t)sysconf(_SC_PAGESIZE);
	pick_cpus();
	pin_to(cpu_of[0]);
	urcu_memb_register_thread();
	err = workers_start();
	if (err) {
		fail("pthread_create", err);
		return 1;
	}
	if (opt.profile) {
		err = run_profile();
		workers_exit();
		urcu_memb_unregister_thread();
		return err;
	}
	if (opt.csv_dir) {
		mkdir(opt.csv_dir, 0777);
		ratios_csv = csv_open("cache_ratios.csv", "name,value");
	}
	print_header();
	for (int i = 0; i < NR_SUITES; i++) {
		struct load l;
		char what[64];

		if (!(opt.suites & (1u << i)))
			continue;
		printf("\n==== suite %s ====\n", suites[i].name);
		load_begin(&l);
		suites[i].fn();
		snprintf(what, sizeof(what), "suite %d", i + 1);
		load_report(&l, what);
		fflush(stdout);
	}
	csv_close(ratios_csv);
	workers_exit();
	urcu_memb_unregister_thread();
	printf("\nbench_cache: done in %.1f s%s\n",
	       (double)(now_ns() - t0) / 1e9, failed ? " (with errors)" : "");
	return failed ? 1 : 0;
}
