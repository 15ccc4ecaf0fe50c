/* SPDX-License-Identifier: MIT */
/*
 * bench/suite_domains.c - bench_cache suite 2, domains (see bench_cache.c
 * for the conventions all suites follow):
 *
 *  - what a read section costs on a domain beyond the GPC_SRCU_TLS_ENTRIES
 *    that have the inline lookaside entry (each lock and unlock finds the
 *    thread's slot by an out-of-line scan of the domain's registry), next
 *    to a domain that has one: a bare gpc_srcu_read_lock/unlock pair, and a
 *    cache's begin + 8-byte store + end on each scheme, ns/op, medians of
 *    interleaved rounds;
 *  - a grace period of vm B (a memslot change: publish + synchronize)
 *    while a reader of vm A runs back-to-back long sections, with A and B
 *    on one shared domain (gpc_vm_create_on) and on separate domains: the
 *    shared domain's reader delays B, the separate one does not.
 */
#include <pthread.h>
#include <sys/mman.h>

#include "suite.h"

/* The contenders of the ns/op part. */
enum dom_op {
	DOP_SECT_FAST,
	DOP_SECT_SLOW,
	DOP_SRCU_FAST,
	DOP_SRCU_SLOW,
	DOP_RW_FAST,
	DOP_RW_SLOW,
	NR_DOP
};

static const char *const dop_names[NR_DOP] = {
	"section, fast-path domain",	  "section, domain beyond TLS",
	"srcu cache, fast-path domain",	  "srcu cache, domain beyond TLS",
	"rwlock cache, fast-path domain", "rwlock cache, domain beyond TLS",
};

/* Enough domains that the last one has no lookaside entry. */
#define PAD_MAX (GPC_SRCU_TLS_ENTRIES + 8)

struct dom_state {
	struct gpc_srcu *pad[PAD_MAX]; /* every domain we made */
	unsigned int npad;
	struct gpc_srcu *fast, *slow;
	uint8_t *ram; /* one page per vm, caller-owned */
	struct gpc_vm *vm[NR_DOP];
	struct gpc_cache *c[NR_DOP];
	uint64_t iters[NR_DOP];
	double ns[NR_DOP][MAX_ROUNDS];
	struct mmm res[NR_DOP];
	uint64_t misses;
	uint64_t sink;
};

/* Domains are made unpinned: their workers inherit our affinity. */
static struct gpc_srcu *domain_new_unpinned(void)
{
	size_t sz = (sizeof(struct gpc_srcu) + GPC_CACHELINE - 1) &
		    ~(size_t)(GPC_CACHELINE - 1);
	struct gpc_srcu *d = aligned_alloc(GPC_CACHELINE, sz);
	cpu_set_t mine;
	bool pinned =
		!pthread_getaffinity_np(pthread_self(), sizeof(mine), &mine);
	int err;

	if (!d)
		return NULL;
	memset(d, 0, sizeof(*d));
	if (pinned && CPU_COUNT(&all_cpus))
		pthread_setaffinity_np(pthread_self(), sizeof(all_cpus),
				       &all_cpus);
	err = gpc_srcu_init(d, NULL);
	if (pinned)
		pthread_setaffinity_np(pthread_self(), sizeof(mine), &mine);
	if (err) {
		free(d);
		return NULL;
	}
	return d;
}

static void domain_free(struct gpc_srcu *d)
{
	int err = gpc_srcu_destroy(d);

	if (err)
		fail("gpc_srcu_destroy", err);
	free(d);
}

static bool dop_slow(int op)
{
	return op & 1;
}

static bool dop_cache(int op)
{
	return op >= DOP_SRCU_FAST;
}

static enum gpc_scheme dop_scheme(int op)
{
	return op >= DOP_RW_FAST ? GPC_SCHEME_RWLOCK : GPC_SCHEME_SRCU;
}

/* A vm on @d with page @i of the RAM in slot 0, and a cache on it. */
static int dom_vm(struct dom_state *s, int op, struct gpc_srcu *d)
{
	struct gpc_vm_config cfg = { .scheme = dop_scheme(op), .name = "dom" };
	size_t sz = (sizeof(struct gpc_cache) + GPC_CACHELINE - 1) &
		    ~(size_t)(GPC_CACHELINE - 1);
	int err = gpc_vm_create_on(&cfg, d, &s->vm[op]);

	if (!err)
		err = gpc_memslot_create(
			s->vm[op], 0, GPA_BASE, page_size,
			(uint64_t)(uintptr_t)(s->ram + op * page_size), 0);
	if (err)
		return err;
	s->c[op] = aligned_alloc(GPC_CACHELINE, sz);
	if (!s->c[op])
		return -ENOMEM;
	memset(s->c[op], 0, sizeof(*s->c[op]));
	err = gpc_cache_init(s->c[op], s->vm[op], GPC_USAGE_HOST, NULL, 0);
	if (!err)
		err = gpc_cache_activate_gpa(s->c[op], GPA_BASE, 8);
	return err;
}

static int dom_setup(struct dom_state *s)
{
	int err = 0;

	memset(s, 0, sizeof(*s));
	while (!s->slow && s->npad < PAD_MAX) {
		struct gpc_srcu *d = domain_new_unpinned();

		if (!d)
			return -ENOMEM;
		s->pad[s->npad++] = d;
		if (!s->fast && d->tls_index != GPC_SRCU_TLS_NONE)
			s->fast = d;
		if (d->tls_index == GPC_SRCU_TLS_NONE)
			s->slow = d;
	}
	if (!s->fast || !s->slow)
		return -ENOSPC;
	s->ram = mmap(NULL, NR_DOP * page_size, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (s->ram == MAP_FAILED) {
		s->ram = NULL;
		return -ENOMEM;
	}
	memset(s->ram, 0, NR_DOP * page_size);
	for (int op = DOP_SRCU_FAST; op < NR_DOP && !err; op++)
		err = dom_vm(s, op, dop_slow(op) ? s->slow : s->fast);
	return err;
}

static void dom_teardown(struct dom_state *s)
{
	for (int op = 0; op < NR_DOP; op++) {
		if (s->c[op]) {
			if (s->c[op]->priv)
				gpc_cache_destroy(s->c[op]);
			free(s->c[op]);
		}
		if (s->vm[op]) {
			int err = gpc_vm_destroy(s->vm[op]);

			if (err)
				fail("gpc_vm_destroy", err);
		}
	}
	for (unsigned int i = 0; i < s->npad; i++)
		domain_free(s->pad[i]);
	if (s->ram)
		munmap(s->ram, NR_DOP * page_size);
	memset(s, 0, sizeof(*s));
}

/* The loops: one per shape, chosen outside the timed part. */
static __attribute__((noinline, aligned(64))) void
section_loop(struct gpc_srcu *d, uint64_t n)
{
	for (uint64_t i = 0; i < n; i++) {
		gpc_srcu_read_lock(d);
		gpc_srcu_read_unlock(d);
	}
}

static __attribute__((noinline, aligned(64))) uint64_t
cache_loop(struct gpc_cache *c, uint64_t n)
{
	struct gpc_guard g;
	uint64_t misses = 0;

	for (uint64_t i = 0; i < n; i++) {
		void *p = gpc_cache_begin(c, 0, 8, &g);

		if (gpc_unlikely(!p)) {
			misses++;
			continue;
		}
		store(p, i);
		gpc_cache_end(c, &g);
	}
	return misses;
}

static double dom_measure(struct dom_state *s, int op, uint64_t n)
{
	uint64_t t0 = now_ns();

	if (dop_cache(op))
		s->misses += cache_loop(s->c[op], n);
	else
		section_loop(dop_slow(op) ? s->slow : s->fast, n);
	return (double)(now_ns() - t0) / (double)n;
}

static uint64_t dom_calibrate(struct dom_state *s, int op)
{
	uint64_t n = 1000;
	double ns;

	for (;;) {
		ns = dom_measure(s, op, n);
		if (ns * (double)n >= (double)opt.pilot_ns || n >= (1ULL << 32))
			break;
		n *= 4;
	}
	n = (uint64_t)((double)opt.target_ns / (ns > 0 ? ns : 0.01));
	return n < 1000 ? 1000 : n;
}

static double rt(const struct dom_state *s, int slow, int fast)
{
	return s->res[fast].med > 0 ? s->res[slow].med / s->res[fast].med : 0;
}

static void dom_cost(void)
{
	static struct dom_state s;
	int err = dom_setup(&s);

	if (err) {
		fail("suite 2 domains setup", err);
		dom_teardown(&s);
		return;
	}
	for (int op = 0; op < NR_DOP; op++)
		s.iters[op] = dom_calibrate(&s, op);
	for (int r = 0; r < ROUNDS; r++)
		for (int i = 0; i < NR_DOP; i++) {
			int op = (i + r) % NR_DOP;

			s.ns[op][r] = dom_measure(&s, op, s.iters[op]);
		}
	for (int op = 0; op < NR_DOP; op++)
		s.res[op] = mmm_of(s.ns[op]);
	if (s.misses) {
		fprintf(stderr,
			"suite 2 domains: fast path missed %llu times with no "
			"writer\n",
			(unsigned long long)s.misses);
		failed = true;
	}
	printf("\nread side on a domain with the inline lookaside entry vs one "
	       "beyond the first %d live domains (%u made), ns/op, median "
	       "(min..max) of %d rounds\n",
	       GPC_SRCU_TLS_ENTRIES, s.npad, ROUNDS);
	for (int op = 0; op < NR_DOP; op++)
		printf("%-34s %8.2f (%.2f..%.2f)\n", dop_names[op],
		       s.res[op].med, s.res[op].min, s.res[op].max);
	ratio("domain_slow_vs_fast_section",
	      rt(&s, DOP_SECT_SLOW, DOP_SECT_FAST));
	ratio("domain_slow_vs_fast_srcu_cache",
	      rt(&s, DOP_SRCU_SLOW, DOP_SRCU_FAST));
	ratio("domain_slow_vs_fast_rwlock_cache",
	      rt(&s, DOP_RW_SLOW, DOP_RW_FAST));
	dom_teardown(&s);
}

/* ---- a reader of vm A, a grace period of vm B ----------------------------- */

struct ab_reader {
	struct gpc_srcu *d;
	_Atomic uint64_t sections;
	_Atomic int stop;
};

static void *ab_reader_main(void *arg)
{
	struct ab_reader *r = arg;

	/*
	 * On the other CPU: sharing ours, the reader would be preempted by
	 * the updater it wakes at the end of each section, i.e. outside one,
	 * and the next grace period would find it idle.
	 */
	pin_to(cpu_of[1]);
	while (!atomic_load_explicit(&r->stop, memory_order_relaxed)) {
		long_srcu_section(r->d);
		atomic_fetch_add_explicit(&r->sections, 1,
					  memory_order_relaxed);
	}
	return NULL;
}

/*
 * @n memslot changes of @b (create, delete: one grace period each), at
 * random distances up to one long section, so that they fall at random
 * points of the reader's sections rather than in step with them.
 */
static void ab_batch(struct gpc_vm *b, uint8_t *page, struct samples *s, int n)
{
	for (int i = 0; i < n && !failed; i++) {
		uint64_t t0;
		int err;

		spin_ns(rnd() % LONG_SECTION_NS);
		t0 = now_ns();
		err = (i & 1) ?
			      gpc_memslot_delete(b, 1) :
			      gpc_memslot_create(b, 1, GPA_BASE, page_size,
						 (uint64_t)(uintptr_t)page, 0);
		samples_add(s, now_ns() - t0);
		if (err)
			fail("memslot change of vm B", err);
	}
	if (gpc_memslot_count(b))
		gpc_memslot_delete(b, 1);
}

/*
 * B's changes with A's reader busy: @shared one domain, else two. Returns
 * the share of the batch's time the reader spent inside its sections (on
 * a loaded machine it may get far less than all of its CPU).
 */
static double ab_measure(bool shared, bool busy, uint8_t *page,
			 struct samples *s, int n)
{
	struct gpc_srcu *da = domain_new_unpinned();
	struct gpc_srcu *db = shared ? da : domain_new_unpinned();
	struct gpc_vm *a = NULL, *b = NULL;
	struct ab_reader r = { 0 };
	pthread_t t;
	uint64_t t0, s0;
	double duty = 0;
	int err = da && db ? 0 : -ENOMEM;

	if (!err)
		err = gpc_vm_create_on(NULL, da, &a);
	if (!err)
		err = gpc_vm_create_on(NULL, db, &b);
	if (err) {
		fail("suite 2 domains: vms", err);
		goto out;
	}
	r.d = gpc_vm_srcu(a);
	if (busy && pthread_create(&t, NULL, ab_reader_main, &r)) {
		fail("reader of vm A", -EAGAIN);
		goto out;
	}
	if (busy) {
		/* Bounded: the reader may share our CPU. */
		uint64_t end = now_ns() + 1000000000ULL;

		while (!atomic_load(&r.sections) && now_ns() < end)
			sched_yield();
	}
	s0 = atomic_load(&r.sections);
	t0 = now_ns();
	ab_batch(b, page, s, n);
	duty = (double)(atomic_load(&r.sections) - s0) * LONG_SECTION_NS /
	       (double)(now_ns() - t0);
	if (busy) {
		atomic_store(&r.stop, 1);
		pthread_join(t, NULL);
	}
out:
	if (a)
		gpc_vm_destroy(a);
	if (b)
		gpc_vm_destroy(b);
	if (db && db != da)
		domain_free(db);
	if (da)
		domain_free(da);
	return duty;
}

static void dom_gp(void)
{
	int n = (int)nq(400, 40);
	struct samples sep, sh, idle;
	struct pct ps, ph, pi;
	double duty_sep, duty_sh;
	uint8_t *page = mmap(NULL, page_size, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (page == MAP_FAILED) {
		fail("mmap", -ENOMEM);
		return;
	}
	memset(page, 0, page_size);
	if (samples_init(&sep, (size_t)n) || samples_init(&sh, (size_t)n) ||
	    samples_init(&idle, (size_t)n)) {
		fail("samples", -ENOMEM);
		munmap(page, page_size);
		return;
	}
	ab_measure(true, false, page, &idle, n);
	duty_sep = ab_measure(false, true, page, &sep, n);
	duty_sh = ab_measure(true, true, page, &sh, n);
	pi = pct_of(&idle);
	ps = pct_of(&sep);
	ph = pct_of(&sh);
	printf("memslot change of vm B (one grace period), us (n, p50, p99, "
	       "max, mean), with a reader of vm A in back-to-back %d us "
	       "sections on the other CPU (inside them: the share of the "
	       "time)\n",
	       LONG_SECTION_NS / 1000);
	printf("%-34s %6zu %9.1f %9.1f %9.1f %9.1f\n",
	       "B, shared domain, A idle", pi.n, pi.p50 / 1e3, pi.p99 / 1e3,
	       pi.max / 1e3, pi.mean / 1e3);
	printf("%-34s %6zu %9.1f %9.1f %9.1f %9.1f  inside %.0f%%\n",
	       "B, separate domains, A busy", ps.n, ps.p50 / 1e3, ps.p99 / 1e3,
	       ps.max / 1e3, ps.mean / 1e3, duty_sep * 100);
	printf("%-34s %6zu %9.1f %9.1f %9.1f %9.1f  inside %.0f%%\n",
	       "B, shared domain, A busy", ph.n, ph.p50 / 1e3, ph.p99 / 1e3,
	       ph.max / 1e3, ph.mean / 1e3, duty_sh * 100);
	/*
	 * Means: a reader that gets its CPU only part of the time (a loaded
	 * machine) delays only that part of the grace periods, which a
	 * median may not show; the mean does.
	 */
	ratio("domain_shared_vs_separate_gp_busy_mean",
	      ps.mean > 0 ? ph.mean / ps.mean : 0);
	samples_free(&sep);
	samples_free(&sh);
	samples_free(&idle);
	munmap(page, page_size);
}

void suite_domains(void)
{
	dom_cost();
	if (!failed)
		dom_gp();
	printf("\n");
}
