/* SPDX-License-Identifier: MIT */
/* bench/suite.c - the infrastructure of the suites; see suite.h. */
#include "suite.h"

struct bench_opt opt;
bool failed;
FILE *ratios_csv;
struct worker workers[3];
uint64_t page_size;
static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

/* Scale a sample count down for --quick. */
unsigned int nq(unsigned int full, unsigned int quick)
{
	return opt.quick ? quick : full;
}

/*
 * Create a vm with the calling thread unpinned, so that its SRCU domain's
 * worker thread (which inherits our affinity) may run on every CPU rather
 * than compete with the pinned main thread for the first one.
 */
int vm_create_unpinned(const struct gpc_vm_config *cfg, struct gpc_vm **out)
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

void load_sample(unsigned long long *busy, unsigned long long *steal,
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

void load_begin(struct load *l)
{
	l->t0 = now_ns();
	load_sample(&l->busy, &l->steal, &l->self);
}

void load_report(const struct load *l, const char *what)
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

int samples_init(struct samples *s, size_t cap)
{
	s->v = calloc(cap ? cap : 1, sizeof(*s->v));
	s->n = 0;
	s->cap = cap;
	return s->v ? 0 : -ENOMEM;
}

void samples_free(struct samples *s)
{
	free(s->v);
	s->v = NULL;
	s->n = s->cap = 0;
}

void samples_add(struct samples *s, uint64_t v)
{
	if (s->n < s->cap)
		s->v[s->n++] = v;
}

/* Nearest-rank percentiles; the samples are left in their order. */
struct pct pct_of(const struct samples *s)
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

struct mmm mmm_of(const double *v)
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

uint64_t rnd(void)
{
	uint64_t x = rng_state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	rng_state = x;
	return x * 0x2545f4914f6cdd1dULL;
}

void fail(const char *what, int err)
{
	fprintf(stderr, "bench_cache: %s: %s\n", what,
		strerror(err < 0 ? -err : err));
	failed = true;
}

void ratio(const char *name, double v)
{
	printf("ratio %s %.3f\n", name, v);
	if (ratios_csv)
		fprintf(ratios_csv, "%s,%.6f\n", name, v);
}

/* A ratio that could not be measured here (e.g. no SCHED_FIFO). */
void ratio_skipped(const char *name, const char *why)
{
	printf("ratio %s skipped (%s)\n", name, why);
}

/* Informational: the exit status never depends on a target. */
void target(const char *name, double v, bool at_most, double limit)
{
	bool met = at_most ? v <= limit : v >= limit;

	printf("target %s %.3f %s %g %s\n", name, v,
	       at_most ? "<=" : ">=", limit, met ? "met" : "MISSED");
}

/* csv_dir/name, opened for writing; NULL without --csv-dir. */
FILE *csv_open(const char *name, const char *header)
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

void csv_close(FILE *f)
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
void csv_cdf_of(FILE *f, const char *name, const struct samples *s,
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

void long_srcu_section(struct gpc_srcu *d)
{
	gpc_srcu_read_lock(d);
	spin_ns(LONG_SECTION_NS);
	gpc_srcu_read_unlock(d);
}

void csv_cdf(FILE *f, const char *name, const struct samples *s)
{
	csv_cdf_of(f, name, s, s->n);
}

void *worker_main(void *arg)
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

int workers_start(void)
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

uint64_t worker_post_nowait(struct worker *w,
			    void (*fn)(struct worker *, void *), void *arg)
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
uint64_t worker_post(struct worker *w, void (*fn)(struct worker *, void *),
		     void *arg)
{
	uint64_t gen = worker_post_nowait(w, fn, arg);

	spin_until(&w->started, gen);
	return gen;
}

void worker_wait(struct worker *w, uint64_t gen)
{
	spin_until(&w->finished, gen);
}

/* End an open-ended job (one that loops until @stop). */
void worker_stop(struct worker *w, uint64_t gen)
{
	atomic_store_explicit(&w->stop, true, memory_order_relaxed);
	worker_wait(w, gen);
	atomic_store_explicit(&w->stop, false, memory_order_relaxed);
}

bool worker_stopping(struct worker *w)
{
	return atomic_load_explicit(&w->stop, memory_order_relaxed);
}

void workers_exit(void)
{
	for (int i = 1; i <= 2; i++) {
		worker_post_nowait(&workers[i], NULL, NULL);
		pthread_join(workers[i].th, NULL);
	}
}

int env_create(struct env *e, enum gpc_scheme scheme, size_t pages,
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

void env_destroy(struct env *e)
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

uint64_t env_hva(const struct env *e, uint64_t off)
{
	return (uint64_t)(uintptr_t)e->ram + off;
}

/* Initialise and activate @c on [GPA_BASE + off, + len). */
int cache_init_at(struct gpc_cache *c, struct env *e, uint64_t off,
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
struct gpc_cache *cache_new(struct env *e, uint64_t off, uint64_t len)
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

void cache_free(struct gpc_cache *c)
{
	if (!c)
		return;
	gpc_cache_destroy(c);
	free(c);
}
