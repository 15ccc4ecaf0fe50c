/* SPDX-License-Identifier: MIT */
/*
 * tests/support/scenario.h - fixtures shared by the regression scenario
 * programs (tests/scenarios/test_scenarios_*.c, R1-R18 of
 * docs/regressions.md): a vm with caches on it, background operations for
 * tbg_start(), a reader that holds a cache, a reader in a SIGUSR1 handler,
 * and main()'s case table and runner.
 *
 * Everything is static inline, like harness.h: test_common.h keeps static
 * state (the log capture, the watchdog), so each program must stay one
 * translation unit and a linked .c would see a copy of its own.
 *
 * Case names are <scenario>_<scheme> for R1-R9 (BOTH_SCHEMES) and
 * <scenario>/<scheme> for R10-R18 (BOTH). ctest relies on the difference:
 * a GPC_TEST_SKIP pattern that matches any name with a slash (see
 * tests/CMakeLists.txt) leaves out every R10-R18 case, which is how the
 * _nomembarrier runs keep to R1-R9.
 *
 * Guest memory is accessed with relaxed atomics (gm_load/gm_store): with
 * the direct stage the cache pointer is the RAM address itself, and the
 * test thread reads it while helper threads write it. cmocka assertions
 * only run on the test thread; helper threads report through atomics and
 * return values.
 */
#ifndef GPC_TEST_SCENARIO_H
#define GPC_TEST_SCENARIO_H

#include <errno.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include <gpc/gpc.h>

#include "harness.h"
#include "test_common.h"

#define CACHE_OFF 0x40u /* byte offset of a cache inside its page */
#define CACHE_LEN 64u
#define SHORT_MS  50 /* "the chance to do something wrong" */

static uint64_t pg; /* host page size */

static enum gpc_scheme scheme_srcu = GPC_SCHEME_SRCU;
static enum gpc_scheme scheme_rwlock = GPC_SCHEME_RWLOCK;

static const char *const stage_names[] = { "direct", "alias" };

/* ---- small helpers ------------------------------------------------------ */

static inline uint64_t gm_load(const void *p)
{
	return __atomic_load_n((const uint64_t *)p, __ATOMIC_RELAXED);
}

static inline void gm_store(void *p, uint64_t v)
{
	__atomic_store_n((uint64_t *)p, v, __ATOMIC_RELAXED);
}

static inline uint64_t page_of(uint64_t hva)
{
	return hva & ~(pg - 1);
}

/* GPA of byte CACHE_OFF of guest page @n of slot 0. */
static inline uint64_t gpa_page(unsigned int n)
{
	return TVM_GPA_BASE + n * pg + CACHE_OFF;
}

static inline void *hva_ptr(struct tvm *t, uint64_t gpa)
{
	return (void *)(uintptr_t)tvm_hva(t, gpa);
}

static inline enum gpc_scheme scheme_of(void **state)
{
	return *(enum gpc_scheme *)*state;
}

static inline void setup(struct tvm *t, enum gpc_scheme scheme,
			 enum tvm_stage stage)
{
	test_log_capture();
	assert_int_equal(tvm_setup(t, scheme, stage), 0);
}

/* The library reported no error while the scenario ran. */
static inline void teardown(struct tvm *t)
{
	assert_int_equal(tvm_teardown(t), 0);
	if (test_log_count(GPC_LOG_ERR))
		test_log_dump();
	assert_int_equal(test_log_count(GPC_LOG_ERR), 0);
}

static inline void host_cache(struct tvm *t, struct gpc_cache *c, uint64_t gpa,
			      uint64_t len)
{
	assert_int_equal(gpc_cache_init(c, t->vm, GPC_USAGE_HOST, NULL, 0), 0);
	assert_int_equal(gpc_cache_activate_gpa(c, gpa, len), 0);
}

static inline struct gpc_cache_stats cstats(struct gpc_cache *c)
{
	struct gpc_cache_stats st;

	assert_int_equal(gpc_cache_get_stats(c, &st), 0);
	return st;
}

static inline struct gpc_vm_stats vstats(struct tvm *t)
{
	struct gpc_vm_stats st;

	assert_int_equal(gpc_vm_get_stats(t->vm, &st), 0);
	return st;
}

/*
 * The fast path a scenario's "other thread" uses: srcu's begin never
 * blocks; on rwlock only try_begin is safe next to a parked writer.
 */
static inline uint8_t *fast_begin(struct gpc_cache *c, uint64_t off,
				  uint64_t len, struct gpc_guard *g)
{
	if (c->scheme == GPC_SCHEME_SRCU)
		return gpc_cache_begin(c, off, len, g);
	return gpc_cache_try_begin(c, off, len, g);
}

/* Whether a begin from this thread misses now (ends a hit at once). */
static inline bool misses_now(struct gpc_cache *c)
{
	struct gpc_guard g;
	uint8_t *p = fast_begin(c, 0, 8, &g);

	if (p)
		gpc_cache_end(c, &g);
	return p == NULL;
}

/* Wait until *@a >= @v, for up to @ms milliseconds. */
static inline bool wait_ge(atomic_int *a, int v, unsigned int ms)
{
	uint64_t end = test_now_ns() + (uint64_t)ms * 1000000ull;

	while (atomic_load(a) < v) {
		if (test_now_ns() > end)
			return false;
		test_sleep_ms(1);
	}
	return true;
}

/* Whether a thread parks at @s within @ms milliseconds. */
static inline bool stop_reached_within(struct tstop *s, unsigned int ms)
{
	for (unsigned int i = 0; i < ms; i++) {
		if (tstop_reached(s))
			return true;
		test_sleep_ms(1);
	}
	return tstop_reached(s);
}

/*
 * A refresh of a cache that is valid for its address, length and memslot
 * generation leaves it alone (no stage runs). A scenario that needs the
 * refresh to go through its stages first makes the cache stale: bumping
 * the generation without changing the layout keeps the cache's page, so
 * the refresh re-translates the same page. No public call bumps it for
 * nothing (an unchanged set_flags is a no-op), hence the test hook of the
 * testing library (memslot_priv.h).
 */
int gpci_memslot_test_bump(struct gpc_vm *vm);

static inline void bump_generation(struct tvm *t)
{
	uint64_t gen = gpc_memslot_generation(t->vm);

	assert_int_equal(gpci_memslot_test_bump(t->vm), 0);
	assert_true(gpc_memslot_generation(t->vm) > gen);
}

/* ---- helpers of the R10-R18 scenarios ------------------------------------ */

static inline const char *stage_name(enum tvm_stage st)
{
	return st == TVM_ALIAS ? "alias" : "direct";
}

static inline void vm_up(struct tvm *t, void **state, enum tvm_stage st)
{
	assert_int_equal(tvm_setup(t, scheme_of(state), st), 0);
}

static inline void vm_down(struct tvm *t)
{
	assert_int_equal(tvm_teardown(t), 0);
}

static inline void cache_up(struct tvm *t, struct gpc_cache *c)
{
	assert_int_equal(gpc_cache_init(c, t->vm, GPC_USAGE_HOST, NULL, 0), 0);
}

static inline uint64_t page_gpa(unsigned int n)
{
	return TVM_GPA_BASE + n * pg;
}

static inline int64_t live_maps(struct tvm *t)
{
	return tvm_counts(t).live_maps;
}

static inline void *alloc_region(struct tvm *t, size_t size)
{
	void *p;

	assert_int_equal(gpc_hostmem_alloc(t->hm, size, &p), 0);
	return p;
}

/* ---- background operations ---------------------------------------------- */

static inline int refresh_fn(void *arg)
{
	return gpc_cache_refresh(arg, 0);
}

static inline int deactivate_fn(void *arg)
{
	return gpc_cache_deactivate(arg);
}

/*
 * One invalidation for a background thread: inval_start_fn runs only
 * range_start with @flags (the test ends it), bg_invalidate runs both
 * halves, blocking. R10-R18 fill in vm, start and end only.
 */
struct inval_arg {
	struct gpc_vm *vm;
	uint64_t start, end;
	unsigned int flags;
	atomic_int *watch; /* sampled right after range_start returns */
	int watch_seen;
};

static inline int inval_start_fn(void *arg)
{
	struct inval_arg *a = arg;
	int r = gpc_invalidate_range_start(a->vm, a->start, a->end, a->flags);

	if (a->watch)
		a->watch_seen = atomic_load(a->watch);
	return r;
}

/*
 * A reader that enters the cache, reports it is inside and stays there
 * (srcu: read section; rwlock: read lock) until released; then stores
 * @val through its pointer and leaves.
 */
struct holder {
	struct gpc_cache *c;
	uint64_t off, val;
	_Atomic(uint8_t *) p;
	atomic_int inside, release;
	pthread_t self;
	struct gpc_guard g;
};

static inline int holder_fn(void *arg)
{
	struct holder *h = arg;
	uint8_t *p;

	h->self = pthread_self();
	gpc_srcu_register_thread(h->c->srcu);
	p = gpc_cache_begin(h->c, h->off, 8, &h->g);
	if (!p)
		return -1;
	atomic_store(&h->p, p);
	atomic_store(&h->inside, 1);
	test_wait_flag(&h->release, 60000);
	gm_store(p, h->val);
	gpc_cache_end(h->c, &h->g);
	return 0;
}

static inline void holder_start(struct tbg *bg, struct holder *h)
{
	tbg_start(bg, holder_fn, h);
	assert_true(test_wait_flag(&h->inside, TEST_PROMPT_MS));
}

static inline void holder_finish(struct tbg *bg, struct holder *h)
{
	atomic_store(&h->release, 1);
	assert_int_equal(tbg_join(bg), 0);
}

/* A blocking invalidation of [start, end), both halves (@flags unused). */
static inline int bg_invalidate(void *arg)
{
	struct inval_arg *a = arg;
	int err = gpc_invalidate_range_start(a->vm, a->start, a->end, 0);

	if (err)
		return err;
	return gpc_invalidate_range_end(a->vm, a->start, a->end);
}

/* A GPA activation for a background thread (R15's HVA one is its own). */
struct act_arg {
	struct gpc_cache *c;
	uint64_t gpa, len;
};

static inline int activate_fn(void *arg)
{
	struct act_arg *a = arg;

	return gpc_cache_activate_gpa(a->c, a->gpa, a->len);
}

/* ---- a reader in a signal handler ---------------------------------------- */

enum probe_op { PROBE_READ, PROBE_INVAL_NB };

struct probe {
	enum probe_op op;
	struct gpc_cache *c;
	struct gpc_vm *vm;
	uint64_t start, end;
	atomic_int done, hit, ret;
	_Atomic uint64_t val;
};

static struct probe *_Atomic cur_probe;

/*
 * SIGUSR1: the atomic-context user of the library. Reads the cache with
 * the fast path that never blocks, or runs a non-blocking invalidation.
 */
static inline void probe_handler(int sig)
{
	struct probe *pr = atomic_load(&cur_probe);
	int saved = errno;
	struct gpc_guard g;
	uint8_t *p;

	(void)sig;
	if (!pr)
		return;
	if (pr->op == PROBE_READ) {
		p = fast_begin(pr->c, 0, 8, &g);
		if (p) {
			atomic_store(&pr->val, gm_load(p));
			gpc_cache_end(pr->c, &g);
		}
		atomic_store(&pr->hit, p != NULL);
	} else {
		atomic_store(&pr->ret, gpc_invalidate_range_start(
					       pr->vm, pr->start, pr->end,
					       GPC_INVAL_NONBLOCK));
	}
	atomic_store(&pr->done, 1);
	errno = saved;
}

/* Signal @thr and wait until its handler has run the probe. */
static inline bool probe_fire(struct probe *pr, pthread_t thr)
{
	bool ok;

	atomic_store(&pr->done, 0);
	atomic_store(&pr->hit, -1);
	atomic_store(&cur_probe, pr);
	pthread_kill(thr, SIGUSR1);
	ok = test_wait_flag(&pr->done, TEST_PROMPT_MS);
	if (ok)
		atomic_store(&cur_probe, NULL);
	return ok;
}

/* SIGUSR1 runs the probe; every program holding R7 or R8 installs it. */
static inline void scenario_install_probe_handler(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = probe_handler;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
}

/* ---- main ----------------------------------------------------------------- */

/* One cmocka test per scheme, named <scenario>_<scheme> (R1-R9). */
#define BOTH_SCHEMES(f)                                     \
	{ #f "_srcu", f, NULL, NULL, &scheme_srcu },        \
	{                                                   \
#f "_rwlock", f, NULL, NULL, &scheme_rwlock \
	}

/* Each scenario once per scheme, named "scenario/scheme" (R10-R18). */
#define BOTH(f)                                             \
	{ #f "/srcu", f, NULL, NULL, &scheme_srcu },        \
	{                                                   \
#f "/rwlock", f, NULL, NULL, &scheme_rwlock \
	}

/*
 * Run @tests as group @name. GPC_TEST_FILTER and GPC_TEST_SKIP (cmocka
 * patterns, e.g. GPC_TEST_FILTER='r12*') select cases: ctest uses them to
 * run one slow case on its own and to keep the _nomembarrier runs to R1-R9.
 */
static inline int scenario_run_n(const char *name,
				 const struct CMUnitTest *tests, size_t n)
{
	const char *filter = getenv("GPC_TEST_FILTER");
	const char *skip = getenv("GPC_TEST_SKIP");

	pg = (uint64_t)sysconf(_SC_PAGESIZE);
	if (filter && *filter)
		cmocka_set_test_filter(filter);
	if (skip && *skip)
		cmocka_set_skip_filter(skip);
	return _cmocka_run_group_tests(name, tests, n, NULL, NULL);
}

#define scenario_run(name, tests) \
	scenario_run_n(name, tests, sizeof(tests) / sizeof((tests)[0]))

#endif /* GPC_TEST_SCENARIO_H */
