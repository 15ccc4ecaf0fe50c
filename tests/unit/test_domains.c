// SPDX-License-Identifier: MIT
/*
 * tests/unit/test_domains.c - vms on a shared SRCU domain
 * (gpc_vm_create_on()), the rules that keep a domain alive while vms use
 * it, and more live domains than have the inline fast path.
 *
 * The rules checked:
 *  - a reader of vm A on a shared domain delays a grace period (a memslot
 *    change) of vm B on that domain, and does not when A and B are on
 *    separate domains: the delayed change must still be waiting after
 *    DELAY_MS while the other returned (waits bounded by TEST_PROMPT_MS);
 *  - gpc_srcu_destroy() is -EBUSY while a vm uses the domain (its own
 *    domain too), gpc_srcu_init() of a live domain is -EBUSY, and each
 *    refusal changes nothing;
 *  - the per-(thread, domain) slot words stay right when vms share them:
 *    sections of two vms nest and end in any order, and memslot lookups of
 *    two vms with different tables, interleaved, match a reference;
 *  - one worker thread per domain, none per vm on a shared domain;
 *  - 40 live domains (8 beyond GPC_SRCU_TLS_ENTRIES) all work.
 * Each vm test runs on both schemes (direct stage, caller-owned memory).
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>

#include <cmocka.h>

#include <gpc/gpc.h>

#include "test_common.h"

#define RAM_PAGES 16
#define GPA_A	  0x100000ull
#define DELAY_MS  100

struct fx {
	enum gpc_scheme scheme;
	uint64_t ps;
	uint8_t *ram; /* RAM_PAGES pages, caller-owned */
};

static const enum gpc_scheme schemes[] = { GPC_SCHEME_SRCU, GPC_SCHEME_RWLOCK };

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	f->scheme = *(const enum gpc_scheme *)*state;
	f->ps = (uint64_t)sysconf(_SC_PAGESIZE);
	f->ram = mmap(NULL, RAM_PAGES * f->ps, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (f->ram == MAP_FAILED)
		return -1;
	memset(f->ram, 0, RAM_PAGES * f->ps);
	test_log_capture();
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	munmap(f->ram, RAM_PAGES * f->ps);
	free(f);
	return 0;
}

#define T2(fn)                                                               \
	{ .name = #fn "/srcu",                                               \
	  .test_func = fn,                                                   \
	  .setup_func = setup,                                               \
	  .teardown_func = teardown,                                         \
	  .initial_state = (void *)&schemes[0] },                            \
	{                                                                    \
		.name = #fn "/rwlock", .test_func = fn, .setup_func = setup, \
		.teardown_func = teardown,                                   \
		.initial_state = (void *)&schemes[1],                        \
	}

static struct gpc_srcu *domain_new(void)
{
	struct gpc_srcu *d = aligned_alloc(GPC_CACHELINE, GPC_CACHELINE * 2);

	assert_non_null(d);
	memset(d, 0, sizeof(*d));
	assert_int_equal(gpc_srcu_init(d, NULL), 0);
	return d;
}

static void domain_free(struct gpc_srcu *d)
{
	assert_int_equal(gpc_srcu_destroy(d), 0);
	free(d);
}

/* A vm of the fixture's scheme on @d (NULL: its own), with @pages pages
 * of the fixture's RAM from page @first in slot 0 at GPA_A. */
static struct gpc_vm *vm_new(struct fx *f, struct gpc_srcu *d,
			     unsigned int first, unsigned int pages)
{
	struct gpc_vm_config cfg = { .scheme = f->scheme, .name = "dom" };
	struct gpc_vm *vm;

	if (d)
		assert_int_equal(gpc_vm_create_on(&cfg, d, &vm), 0);
	else
		assert_int_equal(gpc_vm_create(&cfg, &vm), 0);
	if (pages)
		assert_int_equal(
			gpc_memslot_create(vm, 0, GPA_A, pages * f->ps,
					   (uintptr_t)(f->ram + first * f->ps),
					   0),
			0);
	return vm;
}

static void cache_on(struct gpc_cache *c, struct gpc_vm *vm, uint64_t gpa)
{
	memset(c, 0, sizeof(*c));
	assert_int_equal(gpc_cache_init(c, vm, GPC_USAGE_HOST, NULL, 0), 0);
	assert_int_equal(gpc_cache_activate_gpa(c, gpa, 8), 0);
}

/* ---- bad arguments, destroy and init rules ------------------------------ */

static void create_on_bad_args(void **state)
{
	struct gpc_vm_config cfg = { 0 };
	struct gpc_vm *vm = (struct gpc_vm *)1;
	struct gpc_srcu *d = domain_new();
	static struct gpc_srcu zero, dead;

	(void)state;
	test_log_capture();
	assert_int_equal(gpc_vm_create_on(&cfg, NULL, &vm), -EINVAL);
	assert_int_equal(gpc_vm_create_on(&cfg, d, NULL), -EINVAL);
	/* Never initialised, or destroyed: not a domain. */
	assert_int_equal(gpc_vm_create_on(&cfg, &zero, &vm), -EINVAL);
	assert_int_equal(gpc_srcu_init(&dead, NULL), 0);
	assert_int_equal(gpc_srcu_destroy(&dead), 0);
	assert_int_equal(gpc_vm_create_on(&cfg, &dead, &vm), -EINVAL);
	cfg.scheme = (enum gpc_scheme)2;
	assert_int_equal(gpc_vm_create_on(&cfg, d, &vm), -EINVAL);
	cfg.scheme = GPC_SCHEME_SRCU;
	cfg.max_memslots = GPC_MEMSLOTS_MAX + 1;
	assert_int_equal(gpc_vm_create_on(&cfg, d, &vm), -EINVAL);
	assert_int_equal(gpc_vm_create(&cfg, &vm), -EINVAL);
	assert_ptr_equal(vm, (struct gpc_vm *)1);
	/* No failed create left a user behind. */
	domain_free(d);
	assert_int_equal(test_log_clean(), 0);
}

/* Destroy order: the domain outlives its vms; refusals change nothing. */
static void shared_destroy_order(void **state)
{
	struct fx *f = *state;
	struct gpc_srcu *d = domain_new();
	struct gpc_vm *a = vm_new(f, d, 0, 4), *b = vm_new(f, d, 4, 4);
	struct gpc_memslot_info mi;

	assert_ptr_equal(gpc_vm_srcu(a), d);
	assert_ptr_equal(gpc_vm_srcu(b), d);
	assert_int_equal(gpc_vm_scheme(a), f->scheme);
	assert_int_equal(gpc_srcu_destroy(d), -EBUSY);
	assert_int_equal(gpc_srcu_init(d, NULL), -EBUSY);
	/* Still the same live domain, with both vms working on it. */
	assert_int_equal(gpc_srcu_synchronize(d), 0);
	assert_int_equal(gpc_memslot_lookup(a, GPA_A, &mi), 0);
	assert_int_equal(gpc_memslot_delete(b, 0), 0);
	assert_int_equal(gpc_vm_destroy(a), 0);
	assert_int_equal(gpc_srcu_destroy(d), -EBUSY);
	assert_int_equal(gpc_vm_destroy(b), 0);
	assert_int_equal(gpc_srcu_destroy(d), 0);
	/* Caller-allocated: a second destroy is a no-op, init works again. */
	assert_int_equal(gpc_srcu_destroy(d), 0);
	assert_int_equal(gpc_srcu_init(d, NULL), 0);
	domain_free(d);
	/* Each refused destroy and init said so, nothing else. */
	assert_int_equal(test_log_count(GPC_LOG_WARN), 0);
}

/* A vm's own domain is protected the same way. */
static void own_domain_protected(void **state)
{
	struct fx *f = *state;
	struct gpc_vm *vm = vm_new(f, NULL, 0, 4);
	struct gpc_srcu *d = gpc_vm_srcu(vm);
	struct gpc_memslot_info mi;
	struct gpc_cache c;

	assert_int_equal(gpc_srcu_destroy(d), -EBUSY);
	assert_int_equal(gpc_srcu_init(d, NULL), -EBUSY);
	/* The vm still works end to end, grace periods included. */
	cache_on(&c, vm, GPA_A);
	assert_int_equal(gpc_cache_write(&c, 0, "own", 4), 0);
	assert_memory_equal(f->ram, "own", 4);
	assert_int_equal(gpc_cache_destroy(&c), 0);
	assert_int_equal(gpc_memslot_delete(vm, 0), 0);
	assert_int_equal(gpc_memslot_lookup(vm, GPA_A, &mi), -ENOENT);
	/* Inside its domain's section: -EDEADLK, and nothing changes. */
	gpc_srcu_read_lock(d);
	assert_int_equal(gpc_vm_destroy(vm), -EDEADLK);
	gpc_srcu_read_unlock(d);
	assert_int_equal(gpc_vm_destroy(vm), 0);
}

/*
 * A vm's own domain may carry other vms (gpc_vm_create_on of
 * gpc_vm_srcu()): the owner then goes last (-EBUSY before that, changing
 * nothing).
 */
static void own_domain_shared(void **state)
{
	struct fx *f = *state;
	struct gpc_vm *owner = vm_new(f, NULL, 0, 4);
	struct gpc_vm *guest = vm_new(f, gpc_vm_srcu(owner), 4, 4);
	struct gpc_memslot_info mi;

	assert_ptr_equal(gpc_vm_srcu(guest), gpc_vm_srcu(owner));
	assert_int_equal(gpc_vm_destroy(owner), -EBUSY);
	assert_int_equal(gpc_memslot_lookup(owner, GPA_A, &mi), 0);
	assert_int_equal(gpc_memslot_delete(guest, 0), 0);
	assert_int_equal(gpc_vm_destroy(guest), 0);
	assert_int_equal(gpc_vm_destroy(owner), 0);
}

/* A destroy refused because of a reader on another thread changes nothing. */
struct parked {
	struct gpc_srcu *d;
	pthread_t t;
	atomic_int inside, release;
};

static void *parked_main(void *arg)
{
	struct parked *p = arg;

	gpc_srcu_read_lock(p->d);
	atomic_store(&p->inside, 1);
	while (!atomic_load(&p->release))
		test_sleep_ms(1);
	gpc_srcu_read_unlock(p->d);
	return NULL;
}

static void park(struct parked *p, struct gpc_srcu *d)
{
	memset(p, 0, sizeof(*p));
	p->d = d;
	assert_int_equal(pthread_create(&p->t, NULL, parked_main, p), 0);
	assert_true(test_wait_flag(&p->inside, TEST_PROMPT_MS));
}

static void unpark(struct parked *p)
{
	atomic_store(&p->release, 1);
	assert_int_equal(pthread_join(p->t, NULL), 0);
}

static void own_domain_reader_busy(void **state)
{
	struct fx *f = *state;
	struct gpc_vm *vm = vm_new(f, NULL, 0, 4);
	struct gpc_memslot_info mi;
	struct parked p;

	park(&p, gpc_vm_srcu(vm));
	assert_int_equal(gpc_vm_destroy(vm), -EBUSY);
	unpark(&p);
	/* The refusal tore nothing down. */
	assert_int_equal(gpc_memslot_lookup(vm, GPA_A, &mi), 0);
	assert_int_equal(gpc_vm_destroy(vm), 0);
}

/* gpc_srcu_init() refuses a live domain only; zeroed or dead are fine. */
static void init_live_domain(void **state)
{
	static struct gpc_srcu d, copy;
	struct gpc_srcu_stats st;

	(void)state;
	test_log_capture();
	assert_int_equal(gpc_srcu_init(&d, NULL), 0);
	assert_int_equal(gpc_srcu_init(&d, NULL), -EBUSY);
	assert_int_equal(gpc_srcu_get_stats(&d, &st), 0);
	assert_int_equal(gpc_srcu_synchronize(&d), 0);
	/* A byte copy of a live domain is not that domain. */
	memcpy(&copy, &d, sizeof(d));
	assert_int_equal(gpc_srcu_init(&copy, NULL), 0);
	assert_int_not_equal(copy.serial, d.serial);
	assert_int_equal(gpc_srcu_destroy(&copy), 0);
	assert_int_equal(gpc_srcu_destroy(&d), 0);
	assert_int_equal(gpc_srcu_init(&d, NULL), 0);
	assert_int_equal(gpc_srcu_destroy(&d), 0);
	assert_int_equal(test_log_clean(), 0);
}

/*
 * gpc_vm_create_on() racing gpc_srcu_destroy() of the same domain: the
 * destroy succeeds only while no vm is on the domain, and once it has, no
 * create succeeds any more. A thread creates and destroys vms on the
 * domain in a loop and checks, while it holds one, that the domain is live
 * (a grace period of it works); the main thread tries to destroy the
 * domain until it succeeds.
 */
struct churn {
	struct fx *f;
	struct gpc_srcu *d;
	pthread_t t;
	atomic_int stop, created, refused, bad;
};

static void *churn_main(void *arg)
{
	struct churn *c = arg;
	struct gpc_vm_config cfg = { .scheme = c->f->scheme };

	while (!atomic_load(&c->stop)) {
		struct gpc_vm *vm;
		int err = gpc_vm_create_on(&cfg, c->d, &vm);

		if (err == -EINVAL) {
			atomic_fetch_add(&c->refused, 1);
			continue;
		}
		if (err) {
			atomic_fetch_add(&c->bad, 1);
			break;
		}
		atomic_fetch_add(&c->created, 1);
		if (gpc_srcu_synchronize(gpc_vm_srcu(vm)) != 0)
			atomic_fetch_add(&c->bad, 1);
		if (gpc_vm_destroy(vm) != 0)
			atomic_fetch_add(&c->bad, 1);
	}
	return NULL;
}

static void create_on_races_destroy(void **state)
{
	struct fx *f = *state;
	long rounds = test_iters(20);

	test_watchdog_arm(60, "create_on vs srcu_destroy");
	for (long i = 0; i < rounds; i++) {
		static struct gpc_srcu d;
		struct churn c = { .f = f, .d = &d };
		int err, created;

		assert_int_equal(gpc_srcu_init(&d, NULL), 0);
		assert_int_equal(pthread_create(&c.t, NULL, churn_main, &c), 0);
		while (!atomic_load(&c.created))
			sched_yield();
		while ((err = gpc_srcu_destroy(&d)) == -EBUSY)
			sched_yield();
		assert_int_equal(err, 0);
		/* No vm was on it; from now on every create is refused. */
		created = atomic_load(&c.created);

		atomic_store(&c.stop, 1);
		assert_int_equal(pthread_join(c.t, NULL), 0);
		assert_int_equal(atomic_load(&c.bad), 0);
		assert_int_equal(atomic_load(&c.created), created);
	}
	test_watchdog_disarm();
}

/* ---- a reader of vm A and a grace period of vm B ------------------------ */

/* Sits in a reader section of vm A: a cache section on the srcu scheme,
 * a section of A's domain (a memslot/translation reader) on both. */
struct reader {
	struct gpc_vm *vm;
	struct gpc_cache *c; /* NULL: gpc_srcu_read_lock of the domain */
	pthread_t t;
	atomic_int inside, release, err;
};

static void *reader_main(void *arg)
{
	struct reader *r = arg;
	struct gpc_guard g;

	memset(&g, 0, sizeof(g));
	if (r->c) {
		if (!gpc_cache_begin(r->c, 0, 8, &g)) {
			atomic_store(&r->err, 1);
			atomic_store(&r->inside, 1);
			return NULL;
		}
	} else {
		gpc_srcu_read_lock(gpc_vm_srcu(r->vm));
	}
	atomic_store(&r->inside, 1);
	while (!atomic_load(&r->release))
		test_sleep_ms(1);
	if (r->c)
		gpc_cache_end(r->c, &g);
	else
		gpc_srcu_read_unlock(gpc_vm_srcu(r->vm));
	return NULL;
}

/* Deletes slot 0 of its vm: publish, then a grace period of the domain. */
struct changer {
	struct gpc_vm *vm;
	pthread_t t;
	atomic_int done, ret;
};

static void *changer_main(void *arg)
{
	struct changer *c = arg;

	atomic_store(&c->ret, gpc_memslot_delete(c->vm, 0));
	atomic_store(&c->done, 1);
	return NULL;
}

/*
 * @shared: A and B on one domain, else each on its own. @cache_reader: the
 * reader is a cache section of A (srcu scheme only), else a section of A's
 * domain. Returns whether B's change was still waiting after DELAY_MS.
 */
static bool b_delayed_by_a(struct fx *f, bool shared, bool cache_reader)
{
	struct gpc_srcu *d = shared ? domain_new() : NULL;
	struct gpc_vm *a = vm_new(f, d, 0, 4), *b = vm_new(f, d, 4, 4);
	struct gpc_cache c;
	struct reader r = { .vm = a };
	struct changer ch = { .vm = b };
	bool delayed;

	if (cache_reader) {
		cache_on(&c, a, GPA_A);
		r.c = &c;
	}
	assert_int_equal(pthread_create(&r.t, NULL, reader_main, &r), 0);
	assert_true(test_wait_flag(&r.inside, TEST_PROMPT_MS));
	assert_int_equal(atomic_load(&r.err), 0);
	assert_int_equal(pthread_create(&ch.t, NULL, changer_main, &ch), 0);
	if (shared) {
		test_sleep_ms(DELAY_MS);
		delayed = !atomic_load(&ch.done);
	} else {
		/* It must return while A's reader is still inside. */
		delayed = !test_wait_flag(&ch.done, TEST_PROMPT_MS);
	}
	atomic_store(&r.release, 1);
	assert_int_equal(pthread_join(r.t, NULL), 0);
	/* Once A's reader left, B's change completes either way. */
	assert_true(test_wait_flag(&ch.done, TEST_PROMPT_MS));
	assert_int_equal(pthread_join(ch.t, NULL), 0);
	assert_int_equal(atomic_load(&ch.ret), 0);
	if (cache_reader)
		assert_int_equal(gpc_cache_destroy(&c), 0);
	assert_int_equal(gpc_vm_destroy(a), 0);
	assert_int_equal(gpc_vm_destroy(b), 0);
	if (d)
		domain_free(d);
	return delayed;
}

static void reader_delays_shared_only(void **state)
{
	struct fx *f = *state;

	test_watchdog_arm(60, "shared-domain grace periods");
	assert_true(b_delayed_by_a(f, true, false));
	assert_false(b_delayed_by_a(f, false, false));
	if (f->scheme == GPC_SCHEME_SRCU) {
		assert_true(b_delayed_by_a(f, true, true));
		assert_false(b_delayed_by_a(f, false, true));
	}
	test_watchdog_disarm();
}

/* ---- the per-(thread, domain) slot words -------------------------------- */

/*
 * Cache sections of two vms on one domain nest and end in either order:
 * inside either, the slow paths of both vms refuse (-EDEADLK: a section of
 * the domain counts for every vm on it); after both ended, they work
 * again, so the thread's section count came back to zero.
 */
static void nested_sections_two_vms(void **state)
{
	struct fx *f = *state;
	struct gpc_srcu *d = domain_new();
	struct gpc_vm *a = vm_new(f, d, 0, 4), *b = vm_new(f, d, 4, 4);
	struct gpc_cache ca, cb, cb2;
	struct gpc_guard ga, gb;

	cache_on(&ca, a, GPA_A);
	cache_on(&cb, b, GPA_A);
	cache_on(&cb2, b, GPA_A + f->ps);
	for (int order = 0; order < 2; order++) {
		assert_non_null(gpc_cache_begin(&ca, 0, 8, &ga));
		assert_int_equal(gpc_cache_refresh(&cb2, 8), -EDEADLK);
		assert_non_null(gpc_cache_begin(&cb, 0, 8, &gb));
		assert_int_equal(gpc_cache_refresh(&cb2, 8), -EDEADLK);
		if (order) {
			gpc_cache_end(&cb, &gb);
			assert_int_equal(gpc_cache_refresh(&cb2, 8), -EDEADLK);
			gpc_cache_end(&ca, &ga);
		} else {
			gpc_cache_end(&ca, &ga);
			assert_int_equal(gpc_cache_refresh(&cb2, 8), -EDEADLK);
			gpc_cache_end(&cb, &gb);
		}
		assert_false(gpc_srcu_read_held(d));
		assert_int_equal(gpc_cache_refresh(&cb2, 8), 0);
		assert_int_equal(gpc_cache_refresh(&ca, 8), 0);
	}
	/* The same from a domain section entered by the application. */
	gpc_srcu_read_lock(d);
	assert_int_equal(gpc_memslot_delete(b, 0), -EDEADLK);
	assert_int_equal(gpc_vm_destroy(b), -EBUSY); /* caches first */
	gpc_srcu_read_unlock(d);
	assert_int_equal(gpc_cache_destroy(&ca), 0);
	assert_int_equal(gpc_cache_destroy(&cb), 0);
	assert_int_equal(gpc_cache_destroy(&cb2), 0);
	gpc_srcu_read_lock(d);
	assert_int_equal(gpc_vm_destroy(b), -EDEADLK);
	gpc_srcu_read_unlock(d);
	assert_int_equal(gpc_vm_destroy(a), 0);
	assert_int_equal(gpc_vm_destroy(b), 0);
	domain_free(d);
}

/*
 * The memslot hint is one word per (thread, domain), so lookups in two vms
 * on one domain overwrite each other's hint. Differential: A has NA slots
 * of one page from GPA_A, B has NB slots of two pages from GPA_A + one
 * page (each B slot straddles two A slots); random lookups,
 * alternating between the vms, must give what a reference computes.
 */
static void hint_shared_differential(void **state)
{
	enum { NA = 8, NB = 4 };
	struct fx *f = *state;
	struct gpc_srcu *d = domain_new();
	struct gpc_vm *a = vm_new(f, d, 0, 0), *b = vm_new(f, d, 0, 0);
	uint64_t seed = 0x9e3779b97f4a7c15ull;
	long iters = test_iters(200000);

	for (uint32_t i = 0; i < NA; i++)
		assert_int_equal(
			gpc_memslot_create(a, i, GPA_A + i * f->ps, f->ps,
					   (uintptr_t)f->ram + i * f->ps, 0),
			0);
	for (uint32_t i = 0; i < NB; i++)
		assert_int_equal(gpc_memslot_create(
					 b, 10 + i,
					 GPA_A + f->ps + 2 * i * f->ps,
					 2 * f->ps,
					 (uintptr_t)f->ram + 2 * i * f->ps, 0),
				 0);
	for (long n = 0; n < iters; n++) {
		uint64_t off = test_rand(&seed) % (10 * f->ps);
		uint64_t gpa = GPA_A + off;
		bool in_b = (n & 1) != 0;
		struct gpc_memslot_info mi;
		int ret = gpc_memslot_lookup(in_b ? b : a, gpa, &mi);
		long want;

		if (in_b)
			want = off >= f->ps && off < f->ps + NB * 2 * f->ps ?
				       10 + (long)((off - f->ps) /
						   (2 * f->ps)) :
				       -1;
		else
			want = off < NA * f->ps ? (long)(off / f->ps) : -1;
		if (want < 0) {
			assert_int_equal(ret, -ENOENT);
		} else {
			assert_int_equal(ret, 0);
			assert_int_equal(mi.id, want);
		}
	}
	assert_int_equal(gpc_vm_destroy(a), 0);
	assert_int_equal(gpc_vm_destroy(b), 0);
	domain_free(d);
}

/*
 * Counters stay per vm on a shared domain: hits are the vm's caches', not
 * the domain's per-thread event counts (every vm's), also after the cache
 * that counted them is gone.
 */
static void stats_per_vm(void **state)
{
	struct fx *f = *state;
	struct gpc_srcu *d = domain_new();
	struct gpc_vm *a = vm_new(f, d, 0, 4), *b = vm_new(f, d, 4, 4);
	struct gpc_cache ca, cb;
	struct gpc_guard g;
	struct gpc_vm_stats sa, sb;

	memset(&ca, 0, sizeof(ca));
	memset(&cb, 0, sizeof(cb));
	assert_int_equal(gpc_cache_init(&ca, a, GPC_USAGE_HOST, NULL,
					GPC_CACHE_COUNT_HITS),
			 0);
	assert_int_equal(gpc_cache_init(&cb, b, GPC_USAGE_HOST, NULL,
					GPC_CACHE_COUNT_HITS),
			 0);
	assert_int_equal(gpc_cache_activate_gpa(&ca, GPA_A, 8), 0);
	assert_int_equal(gpc_cache_activate_gpa(&cb, GPA_A, 8), 0);
	for (int i = 0; i < 3; i++) {
		assert_non_null(gpc_cache_begin(&ca, 0, 8, &g));
		gpc_cache_end(&ca, &g);
	}
	for (int i = 0; i < 5; i++) {
		assert_non_null(gpc_cache_begin(&cb, 0, 8, &g));
		gpc_cache_end(&cb, &g);
	}
	assert_int_equal(gpc_vm_get_stats(a, &sa), 0);
	assert_int_equal(gpc_vm_get_stats(b, &sb), 0);
	assert_int_equal(sa.hits, 3);
	assert_int_equal(sb.hits, 5);
	assert_int_equal(gpc_cache_destroy(&ca), 0);
	assert_int_equal(gpc_vm_get_stats(a, &sa), 0);
	assert_int_equal(sa.hits, 3);
	assert_int_equal(gpc_cache_destroy(&cb), 0);
	assert_int_equal(gpc_vm_destroy(a), 0);
	assert_int_equal(gpc_vm_destroy(b), 0);
	domain_free(d);
}

/* ---- worker threads ------------------------------------------------------ */

static int count_tasks(void)
{
	DIR *dir = opendir("/proc/self/task");
	struct dirent *e;
	int n = 0;

	assert_non_null(dir);
	while ((e = readdir(dir)))
		if (e->d_name[0] != '.')
			n++;
	closedir(dir);
	return n;
}

static void one_worker_per_domain(void **state)
{
	enum { NVM = 8 };
	struct fx *f = *state;
	struct gpc_vm *vm[NVM];
	struct gpc_srcu *d;
	int t0 = count_tasks(), t1;

	d = domain_new();
	t1 = count_tasks();
	assert_int_equal(t1, t0 + 1); /* the domain's worker */
	for (int i = 0; i < NVM; i++)
		vm[i] = vm_new(f, d, 0, 1);
	assert_int_equal(count_tasks(), t1);
	for (int i = 0; i < NVM; i++)
		assert_int_equal(gpc_vm_destroy(vm[i]), 0);
	domain_free(d);
	assert_int_equal(count_tasks(), t0);
	/* The reference: vms with their own domains start one worker each. */
	for (int i = 0; i < NVM; i++)
		vm[i] = vm_new(f, NULL, 0, 1);
	assert_int_equal(count_tasks(), t0 + NVM);
	for (int i = 0; i < NVM; i++)
		assert_int_equal(gpc_vm_destroy(vm[i]), 0);
	assert_int_equal(count_tasks(), t0);
}

/* ---- beyond the fast-path limit ----------------------------------------- */

/*
 * 40 live domains, each with a vm: domains 32..39 have no lookaside entry
 * (their tls_index is the sentinel) and must work all the same: cache
 * sections, domain sections, memslot changes (grace periods), a parked
 * reader that delays its own domain only, destroy.
 */
static void forty_domains(void **state)
{
	enum { N = 40, K = 36 };
	struct fx *f = *state;
	struct gpc_srcu *d[N];
	struct gpc_vm *vm[N];
	struct gpc_cache c;
	struct gpc_guard g;
	struct parked p;
	struct changer ch;
	unsigned int beyond = 0;

	test_watchdog_arm(60, "forty domains");
	for (int i = 0; i < N; i++) {
		d[i] = domain_new();
		vm[i] = vm_new(f, d[i], (unsigned int)i % RAM_PAGES, 1);
		beyond += d[i]->tls_index == GPC_SRCU_TLS_NONE;
	}
	/* Other live domains of the process can only add to this. */
	assert_true(beyond >= N - GPC_SRCU_TLS_ENTRIES);
	assert_int_equal(d[N - 1]->tls_index, GPC_SRCU_TLS_NONE);
	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < N; i++) {
			uint64_t v = ((uint64_t)round << 32) | (unsigned)i;
			uint64_t *q;

			cache_on(&c, vm[i], GPA_A + 8);
			q = gpc_cache_begin(&c, 0, 8, &g);
			assert_non_null(q);
			*q = v;
			gpc_cache_end(&c, &g);
			assert_memory_equal(
				f->ram + (i % RAM_PAGES) * f->ps + 8, &v, 8);
			assert_int_equal(gpc_cache_destroy(&c), 0);
			gpc_srcu_read_lock(d[i]);
			assert_true(gpc_srcu_read_held(d[i]));
			gpc_srcu_read_unlock(d[i]);
			assert_false(gpc_srcu_read_held(d[i]));
			assert_int_equal(gpc_srcu_synchronize(d[i]), 0);
		}
	}
	/* A reader parked in domain K (beyond the entries) delays K only. */
	park(&p, d[K]);
	for (int i = 0; i < N; i++)
		if (i != K)
			assert_int_equal(gpc_memslot_delete(vm[i], 0), 0);
	memset(&ch, 0, sizeof(ch));
	ch.vm = vm[K];
	assert_int_equal(pthread_create(&ch.t, NULL, changer_main, &ch), 0);
	test_sleep_ms(DELAY_MS);
	assert_false(atomic_load(&ch.done));
	unpark(&p);
	assert_true(test_wait_flag(&ch.done, TEST_PROMPT_MS));
	assert_int_equal(pthread_join(ch.t, NULL), 0);
	assert_int_equal(atomic_load(&ch.ret), 0);
	for (int i = 0; i < N; i++) {
		assert_int_equal(gpc_srcu_destroy(d[i]), -EBUSY);
		assert_int_equal(gpc_vm_destroy(vm[i]), 0);
		domain_free(d[i]);
	}
	test_watchdog_disarm();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(create_on_bad_args),
		cmocka_unit_test(init_live_domain),
		T2(shared_destroy_order),
		T2(create_on_races_destroy),
		T2(own_domain_protected),
		T2(own_domain_reader_busy),
		T2(own_domain_shared),
		T2(reader_delays_shared_only),
		T2(nested_sections_two_vms),
		T2(hint_shared_differential),
		T2(stats_per_vm),
		T2(one_worker_per_domain),
		T2(forty_domains),
	};

	return cmocka_run_group_tests_name("domains", tests, NULL, NULL);
}
