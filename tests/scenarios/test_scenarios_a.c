// SPDX-License-Identifier: MIT
/*
 * tests/scenarios/test_scenarios_a.c - deterministic regression scenarios R1-R9 of
 * docs/regressions.md, each on both read-side schemes (docs/design.md
 * maps the invariants to them). Tests are named <scenario>_<scheme>.
 *
 * Every race is forced with a stop point (tests/support/harness.h) or a test-stage
 * hook, never by timing: a thread is parked at the exact step, the other
 * side runs, the thread is let go. Sleeps appear only as "give a thread the
 * chance to do something wrong" (tbg_done_within(&bg, 50) == false).
 *
 * Guest memory is accessed with relaxed atomics (gm_load/gm_store): with
 * the direct stage the cache pointer is the RAM address itself, and the
 * test thread reads it while helper threads write it.
 *
 * cmocka assertions only run on the test thread; helper threads report
 * through atomics and return values.
 */
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>

#include <cmocka.h>

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

static uint64_t gm_load(const void *p)
{
	return __atomic_load_n((const uint64_t *)p, __ATOMIC_RELAXED);
}

static void gm_store(void *p, uint64_t v)
{
	__atomic_store_n((uint64_t *)p, v, __ATOMIC_RELAXED);
}

static uint64_t page_of(uint64_t hva)
{
	return hva & ~(pg - 1);
}

/* GPA of byte CACHE_OFF of guest page @n of slot 0. */
static uint64_t gpa_page(unsigned int n)
{
	return TVM_GPA_BASE + n * pg + CACHE_OFF;
}

static void *hva_ptr(struct tvm *t, uint64_t gpa)
{
	return (void *)(uintptr_t)tvm_hva(t, gpa);
}

static enum gpc_scheme scheme_of(void **state)
{
	return *(enum gpc_scheme *)*state;
}

static void setup(struct tvm *t, enum gpc_scheme scheme, enum tvm_stage stage)
{
	test_log_capture();
	assert_int_equal(tvm_setup(t, scheme, stage), 0);
}

/* The library reported no error while the scenario ran. */
static void teardown(struct tvm *t)
{
	assert_int_equal(tvm_teardown(t), 0);
	if (test_log_count(GPC_LOG_ERR))
		test_log_dump();
	assert_int_equal(test_log_count(GPC_LOG_ERR), 0);
}

static void host_cache(struct tvm *t, struct gpc_cache *c, uint64_t gpa,
		       uint64_t len)
{
	assert_int_equal(gpc_cache_init(c, t->vm, GPC_USAGE_HOST, NULL, 0), 0);
	assert_int_equal(gpc_cache_activate_gpa(c, gpa, len), 0);
}

static struct gpc_cache_stats cstats(struct gpc_cache *c)
{
	struct gpc_cache_stats st;

	assert_int_equal(gpc_cache_get_stats(c, &st), 0);
	return st;
}

static struct gpc_vm_stats vstats(struct tvm *t)
{
	struct gpc_vm_stats st;

	assert_int_equal(gpc_vm_get_stats(t->vm, &st), 0);
	return st;
}

/*
 * The fast path a scenario's "other thread" uses: srcu's begin never
 * blocks; on rwlock only try_begin is safe next to a parked writer.
 */
static uint8_t *fast_begin(struct gpc_cache *c, uint64_t off, uint64_t len,
			   struct gpc_guard *g)
{
	if (c->scheme == GPC_SCHEME_SRCU)
		return gpc_cache_begin(c, off, len, g);
	return gpc_cache_try_begin(c, off, len, g);
}

/* Whether a begin from this thread misses now (ends a hit at once). */
static bool misses_now(struct gpc_cache *c)
{
	struct gpc_guard g;
	uint8_t *p = fast_begin(c, 0, 8, &g);

	if (p)
		gpc_cache_end(c, &g);
	return p == NULL;
}

/* Wait until *@a >= @v, for up to @ms milliseconds. */
static bool wait_ge(atomic_int *a, int v, unsigned int ms)
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
static bool stop_reached_within(struct tstop *s, unsigned int ms)
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
 * the generation without changing the layout (slot 0 keeps its flags)
 * keeps the cache's page, so the refresh re-translates the same page.
 */
static void bump_generation(struct tvm *t)
{
	uint64_t gen = gpc_memslot_generation(t->vm);

	assert_int_equal(gpc_memslot_set_flags(t->vm, 0, 0), 0);
	assert_true(gpc_memslot_generation(t->vm) > gen);
}

/* ---- background operations ---------------------------------------------- */

static int refresh_fn(void *arg)
{
	return gpc_cache_refresh(arg, 0);
}

static int deactivate_fn(void *arg)
{
	return gpc_cache_deactivate(arg);
}

struct inval_arg {
	struct gpc_vm *vm;
	uint64_t start, end;
	unsigned int flags;
	atomic_int *watch; /* sampled right after range_start returns */
	int watch_seen;
};

static int inval_start_fn(void *arg)
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

static int holder_fn(void *arg)
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

static void holder_start(struct tbg *bg, struct holder *h)
{
	tbg_start(bg, holder_fn, h);
	assert_true(test_wait_flag(&h->inside, TEST_PROMPT_MS));
}

static void holder_finish(struct tbg *bg, struct holder *h)
{
	atomic_store(&h->release, 1);
	assert_int_equal(tbg_join(bg), 0);
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
static void probe_handler(int sig)
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
static bool probe_fire(struct probe *pr, pthread_t thr)
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

/* ---- a thread playing a vCPU --------------------------------------------- */

/*
 * The test decides when the vCPU may enter (enter_allowed) and when it may
 * leave guest mode (exit_allowed); in between it keeps writing a counter
 * through its guest-usage pointer, as a guest touching a shared page would.
 */
struct tvcpu {
	struct gpc_vcpu *v;
	struct gpc_cache *gc;
	atomic_int kicks, enter_allowed, exit_allowed, stop;
	atomic_int entries, exits, bailouts, errors;
	_Atomic uint64_t last; /* last value written in guest mode */
	uint64_t counter;
};

static void tvcpu_kick(struct gpc_vcpu *v, void *ctx)
{
	struct tvcpu *tv = ctx;

	(void)v;
	atomic_fetch_add(&tv->kicks, 1);
}

static int tvcpu_enter(struct tvcpu *tv)
{
	int r, tries = 0;

	while ((r = gpc_vcpu_enter_guest(tv->v)) == -EAGAIN) {
		atomic_fetch_add(&tv->bailouts, 1);
		if (gpc_vcpu_handle_requests(tv->v) < 0)
			atomic_fetch_add(&tv->errors, 1);
		if (++tries > 1000)
			return -EAGAIN; /* endless bail-out */
	}
	return r;
}

static void tvcpu_run_guest(struct tvcpu *tv, int n)
{
	struct timespec ts = { 0, 50000 };
	uint8_t *p = gpc_cache_guest_ptr(tv->gc, 0, 8);

	if (!p)
		atomic_fetch_add(&tv->errors, 1);
	atomic_store(&tv->entries, n);
	while (atomic_load(&tv->exit_allowed) < n) {
		if (p) {
			gm_store(p, ++tv->counter);
			atomic_store(&tv->last, tv->counter);
		}
		nanosleep(&ts, NULL);
	}
	atomic_store(&tv->exits, n);
	gpc_vcpu_exit_guest(tv->v);
}

static int tvcpu_main(void *arg)
{
	struct tvcpu *tv = arg;
	int n = 0, r;

	for (;;) {
		while (atomic_load(&tv->enter_allowed) <= n) {
			if (atomic_load(&tv->stop))
				return 0;
			test_sleep_ms(1);
		}
		r = tvcpu_enter(tv);
		if (r) {
			atomic_fetch_add(&tv->errors, 1);
			return r;
		}
		tvcpu_run_guest(tv, ++n);
	}
}

static void tvcpu_create(struct tvm *t, struct tvcpu *tv, struct gpc_cache *gc,
			 uint64_t gpa)
{
	memset(tv, 0, sizeof(*tv));
	tv->gc = gc;
	assert_int_equal(gpc_vcpu_create(t->vm, tvcpu_kick, tv, &tv->v), 0);
	assert_int_equal(gpc_cache_init(gc, t->vm, GPC_USAGE_GUEST, tv->v, 0),
			 0);
	assert_int_equal(gpc_cache_activate_gpa(gc, gpa, CACHE_LEN), 0);
}

/* Let entry @n happen and wait until the vCPU is in guest mode. */
static void tvcpu_enter_nth(struct tvcpu *tv, int n)
{
	atomic_store(&tv->enter_allowed, n);
	assert_true(wait_ge(&tv->entries, n, TEST_PROMPT_MS));
}

static void tvcpu_exit_nth(struct tvcpu *tv, int n)
{
	atomic_store(&tv->exit_allowed, n);
	assert_true(wait_ge(&tv->exits, n, TEST_PROMPT_MS));
}

static void tvcpu_finish(struct tbg *bg, struct tvcpu *tv)
{
	atomic_store(&tv->stop, 1);
	atomic_store(&tv->exit_allowed, 1 << 30);
	assert_int_equal(tbg_join(bg), 0);
	assert_int_equal(atomic_load(&tv->errors), 0);
	assert_int_equal(gpc_cache_destroy(tv->gc), 0);
	assert_int_equal(gpc_vcpu_destroy(tv->v), 0);
}

/* ==== R1: a failed refresh leaves no mapping behind ====================== */

static void r1_memslot_deleted(struct tvm *t)
{
	struct gpc_testmem_counts k0, k;
	struct gpc_cache c;

	host_cache(t, &c, gpa_page(4), CACHE_LEN);
	k0 = tvm_counts(t);
	assert_int_equal(k0.live_maps, 1);
	/* The memslot goes away under a valid cache: stage 1 fails. */
	assert_int_equal(gpc_memslot_delete(t->vm, 0), 0);
	assert_true(misses_now(&c));
	assert_int_equal(gpc_cache_refresh(&c, 0), -EFAULT);
	assert_true(gpc_cache_is_active(&c));
	assert_true(misses_now(&c));
	k = tvm_counts(t);
	assert_int_equal(k.translates, k0.translates);
	assert_int_equal(k.maps, k0.maps);
	assert_int_equal(k.unmaps, k0.unmaps);
	/* Deactivate releases the one mapping, once. */
	assert_int_equal(gpc_cache_deactivate(&c), 0);
	assert_int_equal(gpc_cache_deactivate(&c), 0);
	assert_int_equal(gpc_cache_destroy(&c), 0);
	k = tvm_counts(t);
	assert_int_equal(k.unmaps, k0.unmaps + 1);
	assert_int_equal(k.live_maps, 0);
	assert_int_equal(gpc_memslot_create(t->vm, 0, TVM_GPA_BASE,
					    TVM_RAM_SIZE,
					    (uint64_t)(uintptr_t)t->ram, 0),
			 0);
}

/* The page changes, then mapping the new one fails: the old one stays owned
 * by the cache (released once by deactivate), nothing else is left. */
static void r1_map_fails_after_change(struct tvm *t)
{
	uint64_t page = page_of(tvm_hva(t, gpa_page(5)));
	struct gpc_testmem_counts k0, k;
	struct gpc_cache_stats st;
	struct gpc_cache c;

	host_cache(t, &c, gpa_page(5), CACHE_LEN);
	k0 = tvm_counts(t);
	assert_int_equal(gpc_hostmem_remap(t->vm, t->hm, page, pg), 0);
	assert_true(misses_now(&c));
	atomic_store(&t->tm.fail_map, 1);
	assert_int_equal(gpc_cache_refresh(&c, 0), -EFAULT);
	assert_true(misses_now(&c));
	k = tvm_counts(t);
	assert_int_equal(k.map_fails, k0.map_fails + 1);
	assert_int_equal(k.maps, k0.maps);
	assert_int_equal(k.live_maps, k0.live_maps);
	assert_int_equal(gpc_cache_deactivate(&c), 0);
	st = cstats(&c);
	assert_int_equal(st.maps, st.unmaps);
	assert_int_equal(gpc_cache_destroy(&c), 0);
	k = tvm_counts(t);
	assert_int_equal(k.live_maps, 0);
	assert_int_equal(k.unmaps, k0.unmaps + 1);
}

/* Translate fails (injected): nothing mapped; the next refresh reuses the
 * mapping the cache already had. */
static void r1_translate_fails(struct tvm *t)
{
	struct gpc_testmem_counts k0, k;
	struct gpc_cache c;

	host_cache(t, &c, gpa_page(6), CACHE_LEN);
	/* Stale with the same page, so that the refresh translates. */
	bump_generation(t);
	k0 = tvm_counts(t);
	atomic_store(&t->tm.fail_translate, 1);
	assert_int_equal(gpc_cache_refresh(&c, 0), -EFAULT);
	assert_true(misses_now(&c));
	/* The failed refresh left it invalid: this one translates again. */
	assert_int_equal(gpc_cache_refresh(&c, 0), 0);
	assert_false(misses_now(&c));
	k = tvm_counts(t);
	assert_int_equal(k.translate_fails, k0.translate_fails + 1);
	assert_int_equal(k.translates, k0.translates + 1);
	assert_int_equal(k.maps, k0.maps);
	assert_int_equal(gpc_cache_destroy(&c), 0);
	k = tvm_counts(t);
	assert_int_equal(k.live_maps, 0);
}

/* The very first map fails: activate is -EFAULT, the cache active and
 * invalid, and deactivate has nothing to release. */
static void r1_first_map_fails(struct tvm *t)
{
	struct gpc_testmem_counts k0, k;
	struct gpc_cache c;

	k0 = tvm_counts(t);
	assert_int_equal(gpc_cache_init(&c, t->vm, GPC_USAGE_HOST, NULL, 0), 0);
	atomic_store(&t->tm.fail_map, 1);
	assert_int_equal(gpc_cache_activate_gpa(&c, gpa_page(7), CACHE_LEN),
			 -EFAULT);
	assert_true(gpc_cache_is_active(&c));
	assert_true(misses_now(&c));
	assert_int_equal(gpc_cache_deactivate(&c), 0);
	k = tvm_counts(t);
	assert_int_equal(k.maps, k0.maps);
	assert_int_equal(k.unmaps, k0.unmaps);
	assert_int_equal(gpc_cache_activate_gpa(&c, gpa_page(7), CACHE_LEN), 0);
	assert_int_equal(gpc_cache_destroy(&c), 0);
	k = tvm_counts(t);
	assert_int_equal(k.maps, k0.maps + 1);
	assert_int_equal(k.live_maps, 0);
}

static void r1_failed_refresh_no_leak(void **state)
{
	for (int stage = TVM_DIRECT; stage <= TVM_ALIAS; stage++) {
		struct tvm t;

		test_watchdog_arm(60, "r1 %s", stage_names[stage]);
		setup(&t, scheme_of(state), stage);
		r1_memslot_deleted(&t);
		r1_map_fails_after_change(&t);
		r1_translate_fails(&t);
		r1_first_map_fails(&t);
		teardown(&t);
		test_watchdog_disarm();
	}
}

/* ==== R2: repeated refreshes of an unchanged page ======================= */

static int refresh_hook_calls(struct tvm *t)
{
	int n = 0;

	for (int i = GPC_HOOK_REFRESH_STAGE1; i <= GPC_HOOK_REFRESH_RETRY; i++)
		n += atomic_load(&t->hook_calls[i]);
	return n;
}

/*
 * A refresh of a cache that is valid for its address, length and
 * generation does nothing: no stage (so no hook), no translate, no map or
 * unmap, not counted as a refresh, and the pointer stays what it was.
 * Also with the length given explicitly when it is the current one.
 */
static void r2_valid_refresh_is_noop(struct tvm *t, struct gpc_cache *c,
				     uint8_t *p0)
{
	struct gpc_testmem_counts k0 = tvm_counts(t), k;
	struct gpc_cache_stats st0 = cstats(c), st;
	int hooks0 = refresh_hook_calls(t);
	struct gpc_guard g;
	uint8_t *p;

	assert_false(misses_now(c));
	for (int i = 0; i < 4; i++) {
		assert_int_equal(gpc_cache_refresh(c, i & 1 ? CACHE_LEN : 0),
				 0);
		p = gpc_cache_begin(c, 0, 8, &g);
		assert_ptr_equal(p, p0);
		gpc_cache_end(c, &g);
	}
	assert_int_equal(refresh_hook_calls(t), hooks0);
	k = tvm_counts(t);
	assert_int_equal(k.translates, k0.translates);
	assert_int_equal(k.maps, k0.maps);
	assert_int_equal(k.unmaps, k0.unmaps);
	st = cstats(c);
	assert_int_equal(st.refreshes, st0.refreshes);
	assert_int_equal(st.refresh_retries, st0.refresh_retries);
	assert_int_equal(st.maps, st0.maps);
}

static void r2_one(enum gpc_scheme scheme, enum tvm_stage stage)
{
	long n = test_iters(400);
	struct gpc_testmem_counts k0, k;
	struct gpc_cache_stats st;
	struct gpc_guard g;
	struct gpc_cache c;
	struct tvm t;
	uint8_t *p0, *p;

	setup(&t, scheme, stage);
	host_cache(&t, &c, gpa_page(3), CACHE_LEN);
	p0 = gpc_cache_begin(&c, 0, 8, &g);
	assert_non_null(p0);
	gpc_cache_end(&c, &g);
	r2_valid_refresh_is_noop(&t, &c, p0);
	/*
	 * Each refresh follows a generation change with the same layout, so
	 * it goes through all its stages and translates the same page again:
	 * it must reuse the mapping it has, not map (and leak) another one.
	 */
	k0 = tvm_counts(&t);
	for (long i = 0; i < n; i++) {
		bump_generation(&t);
		assert_true(misses_now(&c));
		assert_int_equal(gpc_cache_refresh(&c, 0), 0);
		p = gpc_cache_begin(&c, 0, 8, &g);
		assert_ptr_equal(p, p0);
		gpc_cache_end(&c, &g);
	}
	k = tvm_counts(&t);
	assert_int_equal(k.translates, k0.translates + (uint64_t)n);
	assert_int_equal(k.maps, k0.maps);
	assert_int_equal(k.unmaps, k0.unmaps);
	assert_int_equal(k.live_maps, 1);
	st = cstats(&c);
	assert_int_equal(st.refreshes, (uint64_t)n + 1);
	assert_int_equal(st.maps, 1);
	/* Valid again for the new generation: left alone once more. */
	r2_valid_refresh_is_noop(&t, &c, p0);
	/* When the length does change, each new mapping replaces the old. */
	for (int i = 0; i < 16; i++) {
		assert_int_equal(
			gpc_cache_refresh(&c, i & 1 ? CACHE_LEN : 2 * pg), 0);
		k = tvm_counts(&t);
		assert_int_equal(k.live_maps, 1);
	}
	assert_int_equal(k.maps, k0.maps + 16);
	assert_int_equal(gpc_cache_destroy(&c), 0);
	k = tvm_counts(&t);
	assert_int_equal(k.live_maps, 0);
	teardown(&t);
}

static void r2_refresh_reuses_mapping(void **state)
{
	for (int stage = TVM_DIRECT; stage <= TVM_ALIAS; stage++) {
		test_watchdog_arm(60, "r2 %s", stage_names[stage]);
		r2_one(scheme_of(state), stage);
		test_watchdog_disarm();
	}
}

/* ==== R3a: invalidation between translate and publish ==================== */

/* Park a refresh inside the test stage (a second kind of stop point). */
struct tmpark {
	pthread_mutex_t m;
	pthread_cond_t cv;
	atomic_int armed;
	enum gpc_testmem_step step;
	uint64_t page;
	int reached, released;
};

static void tmpark_hook(enum gpc_testmem_step step, uint64_t hva, void *ctx)
{
	struct tmpark *k = ctx;
	int one = 1;

	if (step != k->step || page_of(hva) != k->page ||
	    !atomic_compare_exchange_strong(&k->armed, &one, 2))
		return;
	pthread_mutex_lock(&k->m);
	k->reached = 1;
	pthread_cond_broadcast(&k->cv);
	while (!k->released)
		pthread_cond_wait(&k->cv, &k->m);
	pthread_mutex_unlock(&k->m);
}

static bool tmpark_wait(struct tmpark *k)
{
	uint64_t end = test_now_ns() + 10000000000ull;
	bool r = false;

	while (!r && test_now_ns() < end) {
		pthread_mutex_lock(&k->m);
		r = k->reached;
		pthread_mutex_unlock(&k->m);
		if (!r)
			test_sleep_ms(1);
	}
	return r;
}

static void tmpark_release(struct tmpark *k)
{
	pthread_mutex_lock(&k->m);
	k->released = 1;
	pthread_cond_broadcast(&k->cv);
	pthread_mutex_unlock(&k->m);
}

/* Where R3a parks the refresh; the last one is a test-stage step. */
enum r3a_where { R3A_TRANSLATED, R3A_PUBLISH, R3A_TESTMEM_TRANSLATED };

/*
 * @complete: the invalidation also ends before the refresh goes on, so only
 * the cache's invalidation counter (not the in-progress registry) can tell
 * the refresh that its page is stale.
 */
static void r3a_one(enum gpc_scheme scheme, enum tvm_stage stage,
		    enum r3a_where where, bool complete)
{
	struct tmpark k = { .m = PTHREAD_MUTEX_INITIALIZER,
			    .cv = PTHREAD_COND_INITIALIZER };
	uint64_t hva, page, v = 0x3a3a3a3a01020304ull;
	struct gpc_cache_stats st;
	struct tstop *s = NULL;
	struct gpc_cache c;
	struct tbg bg;
	uint8_t *old;
	struct tvm t;

	setup(&t, scheme, stage);
	host_cache(&t, &c, gpa_page(4), CACHE_LEN);
	hva = tvm_hva(&t, gpa_page(4));
	page = page_of(hva);
	/* Stale (same page), so that the refresh runs its stages. */
	bump_generation(&t);
	if (where == R3A_TESTMEM_TRANSLATED) {
		k.step = GPC_TESTMEM_TRANSLATED;
		k.page = page;
		atomic_store(&k.armed, 1);
		t.tm.hook_ctx = &k;
		t.tm.hook = tmpark_hook;
	} else {
		s = tstop_arm(&t,
			      where == R3A_TRANSLATED ?
				      GPC_HOOK_REFRESH_TRANSLATED :
				      GPC_HOOK_REFRESH_PUBLISH,
			      &c);
	}
	/* The refresh translates the current page and stops before publish. */
	tbg_start(&bg, refresh_fn, &c);
	assert_true(s ? tstop_wait(s) : tmpark_wait(&k));
	/* An invalidation starts, clears the cache, and the page is replaced. */
	assert_int_equal(gpc_invalidate_range_start(t.vm, page, page + pg, 0),
			 0);
	assert_true(misses_now(&c));
	assert_int_equal(gpc_hostmem_remap(NULL, t.hm, page, pg), 0);
	old = gpc_hostmem_retired_page(t.hm, page);
	assert_non_null(old);
	if (complete)
		assert_int_equal(
			gpc_invalidate_range_end(t.vm, page, page + pg), 0);
	if (s)
		tstop_release(s);
	else
		tmpark_release(&k);
	if (!complete) {
		/* It must not publish what it translated: it retries, and
		 * waits while the invalidation is in progress. */
		assert_false(tbg_done_within(&bg, SHORT_MS));
		assert_true(misses_now(&c));
		assert_int_equal(
			gpc_invalidate_range_end(t.vm, page, page + pg), 0);
	}
	assert_int_equal(tbg_join(&bg), 0);
	t.tm.hook = NULL;
	st = cstats(&c);
	assert_true(st.refresh_retries >= 1);
	assert_true(complete || st.refresh_waits >= 1);
	assert_true(atomic_load(&t.hook_calls[GPC_HOOK_REFRESH_RETRY]) >= 1);
	/* What it published is the new page: writes land there only. */
	assert_int_equal(gpc_cache_write(&c, 0, &v, sizeof(v)), 0);
	assert_int_equal(gm_load((void *)(uintptr_t)hva), v);
	assert_int_equal(gm_load(old + (hva - page)), 0);
	assert_int_equal(gpc_cache_destroy(&c), 0);
	assert_int_equal(tvm_counts(&t).live_maps, 0);
	teardown(&t);
}

static void r3a_inval_between_translate_and_publish(void **state)
{
	for (int stage = TVM_DIRECT; stage <= TVM_ALIAS; stage++) {
		for (int w = R3A_TRANSLATED; w <= R3A_TESTMEM_TRANSLATED; w++) {
			for (int done = 0; done < 2; done++) {
				test_watchdog_arm(60, "r3a %s %d %d",
						  stage_names[stage], w, done);
				r3a_one(scheme_of(state), stage, w, done);
				test_watchdog_disarm();
			}
		}
	}
}

/* ==== R3b: the cache is invalid while a refresh has new stage-1 data ===== */

struct act_arg {
	struct gpc_cache *c;
	uint64_t gpa, len;
};

static int activate_fn(void *arg)
{
	struct act_arg *a = arg;

	return gpc_cache_activate_gpa(a->c, a->gpa, a->len);
}

/*
 * Variant 0: re-activation at another GPA in the same memslot - the
 * generation does not change, so only valid can make a check fail.
 * Variant 1: the memslot now points at other host memory (new generation).
 */
static void r3b_one(enum gpc_scheme scheme, enum tvm_stage stage, int variant)
{
	static const enum gpc_hook_point pts[] = {
		GPC_HOOK_REFRESH_STAGE1,
		GPC_HOOK_REFRESH_UNLOCKED,
		GPC_HOOK_REFRESH_TRANSLATED,
		GPC_HOOK_REFRESH_PUBLISH,
	};
	struct tstop *s[4];
	struct gpc_guard g;
	struct gpc_cache c;
	struct act_arg a;
	uint8_t *p, *ram2 = NULL, *want, *was;
	uint64_t gen, v = 0x3b3b3b3b3b3b3b3bull;
	struct tbg bg;
	struct tvm t;

	setup(&t, scheme, stage);
	host_cache(&t, &c, gpa_page(2), CACHE_LEN);
	was = hva_ptr(&t, gpa_page(2));
	a = (struct act_arg){ &c, gpa_page(9), CACHE_LEN };
	want = hva_ptr(&t, gpa_page(9));
	if (variant) {
		assert_int_equal(gpc_hostmem_alloc(t.hm, TVM_RAM_SIZE,
						   (void **)&ram2),
				 0);
		assert_int_equal(gpc_memslot_delete(t.vm, 0), 0);
		assert_int_equal(
			gpc_memslot_create(t.vm, 0, TVM_GPA_BASE, TVM_RAM_SIZE,
					   (uint64_t)(uintptr_t)ram2, 0),
			0);
		want = ram2 + (gpa_page(2) - TVM_GPA_BASE);
	}
	gen = gpc_memslot_generation(t.vm);
	for (int i = 0; i < 4; i++)
		s[i] = tstop_arm(&t, pts[i], &c);
	tbg_start(&bg, variant ? refresh_fn : activate_fn,
		  variant ? (void *)&c : (void *)&a);
	/* At every step between stage 1 and publish, a check fails. */
	for (int i = 0; i < 4; i++) {
		assert_true(tstop_wait(s[i]));
		assert_int_equal(gpc_memslot_generation(t.vm), gen);
		assert_true(misses_now(&c));
		assert_false(gpc_cache_check(&c, 0, CACHE_LEN));
		tstop_release(s[i]);
	}
	assert_int_equal(tbg_join(&bg), 0);
	p = gpc_cache_begin(&c, 0, 8, &g);
	assert_non_null(p);
	gm_store(p, v);
	gpc_cache_end(&c, &g);
	assert_int_equal(gm_load(want), v);
	assert_int_equal(gm_load(was), 0);
	assert_int_equal(gpc_cache_destroy(&c), 0);
	teardown(&t);
}

static void r3b_check_fails_mid_refresh(void **state)
{
	for (int stage = TVM_DIRECT; stage <= TVM_ALIAS; stage++) {
		for (int variant = 0; variant < 2; variant++) {
			test_watchdog_arm(60, "r3b %s %d", stage_names[stage],
					  variant);
			r3b_one(scheme_of(state), stage, variant);
			test_watchdog_disarm();
		}
	}
}

/* ==== R3c: overlapping refreshes, one with a stale generation ============ */

static void r3c_one(enum gpc_scheme scheme, enum tvm_stage stage)
{
	uint64_t off = gpa_page(3) - TVM_GPA_BASE, v = 0x3c3c3c3c3c3c3c3cull;
	struct gpc_testmem_counts k0, k;
	struct tstop *sa, *sb;
	struct gpc_guard g;
	struct gpc_cache c;
	struct tbg a, b;
	uint8_t *ram2, *p;
	struct tvm t;

	setup(&t, scheme, stage);
	assert_int_equal(gpc_hostmem_alloc(t.hm, TVM_RAM_SIZE, (void **)&ram2),
			 0);
	host_cache(&t, &c, gpa_page(3), CACHE_LEN);
	/* Stale (same page): refresh A has work to do. */
	bump_generation(&t);
	k0 = tvm_counts(&t);
	/* Refresh A translates the page of the current generation... */
	sa = tstop_arm(&t, GPC_HOOK_REFRESH_TRANSLATED, &c);
	tbg_start(&a, refresh_fn, &c);
	assert_true(tstop_wait(sa));
	/* ...then the memslot moves to other host memory: A is stale. */
	assert_int_equal(gpc_memslot_delete(t.vm, 0), 0);
	assert_int_equal(gpc_memslot_create(t.vm, 0, TVM_GPA_BASE, TVM_RAM_SIZE,
					    (uint64_t)(uintptr_t)ram2, 0),
			 0);
	/* Refresh B cannot even start stage 1 while A is inside. */
	sb = tstop_arm(&t, GPC_HOOK_REFRESH_STAGE1, &c);
	tbg_start(&b, refresh_fn, &c);
	assert_false(stop_reached_within(sb, SHORT_MS));
	assert_false(atomic_load(&b.done));
	tstop_release(sa);
	assert_int_equal(tbg_join(&a), 0);
	/* A published its translation with the old generation; B is in
	 * stage 1 now. No reader may use A's page. */
	assert_true(tstop_wait(sb));
	assert_true(misses_now(&c));
	tstop_release(sb);
	assert_int_equal(tbg_join(&b), 0);
	/* B translated afresh: its pointer reaches the new memory only. */
	p = gpc_cache_begin(&c, 0, 8, &g);
	assert_non_null(p);
	gm_store(p, v);
	gpc_cache_end(&c, &g);
	assert_int_equal(gm_load(ram2 + off), v);
	assert_int_equal(gm_load(t.ram + off), 0);
	k = tvm_counts(&t);
	assert_int_equal(k.maps, k0.maps + 1);
	assert_int_equal(k.live_maps, 1);
	assert_int_equal(gpc_cache_destroy(&c), 0);
	teardown(&t);
}

static void r3c_overlapping_refreshes_serialized(void **state)
{
	for (int stage = TVM_DIRECT; stage <= TVM_ALIAS; stage++) {
		test_watchdog_arm(60, "r3c %s", stage_names[stage]);
		r3c_one(scheme_of(state), stage);
		test_watchdog_disarm();
	}
}

/* ==== R4: the page behind a valid cache changes ========================== */

enum r4_op { R4_MIGRATE, R4_DISCARD, R4_REMAP, R4_PROTECT_RO, R4_NR };

static const char *const r4_names[] = { "migrate", "discard", "remap",
					"mprotect-ro" };

static int r4_change(struct tvm *t, struct gpc_vm *vm, enum r4_op op,
		     uint64_t page)
{
	switch (op) {
	case R4_MIGRATE:
		return gpc_hostmem_migrate(vm, t->hm, page, pg);
	case R4_DISCARD:
		return gpc_hostmem_discard(vm, t->hm, page, pg);
	case R4_REMAP:
		return gpc_hostmem_remap(vm, t->hm, page, pg);
	default:
		return gpc_hostmem_protect(vm, t->hm, page, pg, PROT_READ);
	}
}

/*
 * The reader: inside the cache (phase 1) it is told to write A and leave
 * (wrote is set before it leaves, so range_start must not return before);
 * then (phase 2) it comes back, must miss, refreshes, and writes B.
 */
struct r4_reader {
	struct gpc_cache *c;
	uint64_t a, b;
	atomic_int inside, go_write, wrote, go2, refreshed, refresh_ret, hit2;
};

static int r4_reader_fn(void *arg)
{
	struct r4_reader *r = arg;
	struct gpc_guard g;
	uint8_t *p = gpc_cache_begin(r->c, 0, 8, &g);

	if (!p)
		return -1;
	atomic_store(&r->inside, 1);
	test_wait_flag(&r->go_write, 60000);
	gm_store(p, r->a);
	atomic_store(&r->wrote, 1); /* still inside until end */
	gpc_cache_end(r->c, &g);
	test_wait_flag(&r->go2, 60000);
	p = gpc_cache_begin(r->c, 0, 8, &g);
	if (p) {
		atomic_store(&r->hit2, 1); /* must not happen: do not write */
		gpc_cache_end(r->c, &g);
		return -2;
	}
	atomic_store(&r->refresh_ret, gpc_cache_refresh(r->c, 0));
	atomic_store(&r->refreshed, 1);
	if (atomic_load(&r->refresh_ret))
		return 0;
	p = gpc_cache_begin(r->c, 0, 8, &g);
	if (!p)
		return -3;
	gm_store(p, r->b);
	gpc_cache_end(r->c, &g);
	return 0;
}

/* What the cached word and a far word of the page hold after the change,
 * as long as nobody wrote since range_start returned. */
static void r4_check_page(enum r4_op op, uint8_t *cur, uint8_t *old, uint64_t a,
			  uint64_t far)
{
	bool gone = op == R4_DISCARD || op == R4_REMAP;

	assert_int_equal(gm_load(cur), gone ? 0 : a);
	assert_int_equal(gm_load(cur + 256), gone ? 0 : far);
	if (old)
		assert_int_equal(gm_load(old), a);
}

/* The helper brackets the change itself (range_start .. range_end). */
static void r4_helper_notifies(struct tvm *t, struct gpc_cache *c,
			       enum r4_op op, uint64_t page, uint8_t *cur)
{
	uint64_t v = 0x4444000000000001ull, w = 0x4444000000000002ull, x = 0;

	assert_int_equal(gpc_cache_write(c, 0, &v, sizeof(v)), 0);
	assert_false(misses_now(c));
	assert_int_equal(r4_change(t, t->vm, op, page), 0);
	assert_true(misses_now(c));
	if (op == R4_PROTECT_RO) {
		assert_int_equal(gpc_cache_refresh(c, 0), -EFAULT);
		assert_int_equal(gpc_hostmem_protect(t->vm, t->hm, page, pg,
						     PROT_READ | PROT_WRITE),
				 0);
	}
	assert_int_equal(gpc_cache_read(c, 0, &x, sizeof(x)), 0);
	assert_int_equal(x, op == R4_MIGRATE || op == R4_PROTECT_RO ? v : 0);
	assert_int_equal(gpc_cache_write(c, 0, &w, sizeof(w)), 0);
	assert_int_equal(gm_load(cur), w);
}

static void r4_one(enum gpc_scheme scheme, enum tvm_stage stage, enum r4_op op)
{
	struct r4_reader r = { .a = 0xaaaa000000000004ull,
			       .b = 0xbbbb000000000004ull };
	uint64_t hva, page, far = 0xfafafafafafafafaull;
	struct gpc_testmem_counts k0, k;
	struct inval_arg ia;
	struct gpc_cache c;
	struct tbg rb, ib;
	uint8_t *cur, *old = NULL;
	struct tvm t;

	setup(&t, scheme, stage);
	host_cache(&t, &c, gpa_page(4), CACHE_LEN);
	r.c = &c;
	hva = tvm_hva(&t, gpa_page(4));
	page = page_of(hva);
	cur = (uint8_t *)(uintptr_t)hva;
	gm_store(cur + 256, far);
	k0 = tvm_counts(&t);
	/* A reader is inside the cache when the invalidation starts. */
	tbg_start(&rb, r4_reader_fn, &r);
	assert_true(test_wait_flag(&r.inside, TEST_PROMPT_MS));
	ia = (struct inval_arg){ t.vm, page, page + pg, 0, &r.wrote, 0 };
	tbg_start(&ib, inval_start_fn, &ia);
	/* range_start waits for it (grace period / write lock)... */
	assert_false(tbg_done_within(&ib, SHORT_MS));
	atomic_store(&r.go_write, 1);
	assert_int_equal(tbg_join(&ib), 0);
	/* ...and returns only after the reader left. */
	assert_int_equal(ia.watch_seen, 1);
	assert_int_equal(gm_load(cur), r.a);
	/* From now on nothing may be written to the old page. */
	assert_int_equal(r4_change(&t, NULL, op, page), 0);
	if (op == R4_MIGRATE || op == R4_REMAP) {
		old = gpc_hostmem_retired_page(t.hm, page);
		assert_non_null(old);
		old += hva - page;
	}
	r4_check_page(op, cur, old, r.a, far);
	/* The reader misses; its refresh waits for range_end (an mprotect'ed
	 * page fails it at once). */
	atomic_store(&r.go2, 1);
	if (op == R4_PROTECT_RO) {
		assert_true(test_wait_flag(&r.refreshed, TEST_PROMPT_MS));
		assert_int_equal(atomic_load(&r.refresh_ret), -EFAULT);
	} else {
		assert_false(test_wait_flag(&r.refreshed, SHORT_MS));
	}
	r4_check_page(op, cur, old, r.a, far);
	assert_int_equal(gpc_invalidate_range_end(t.vm, page, page + pg), 0);
	assert_int_equal(tbg_join(&rb), 0);
	assert_int_equal(atomic_load(&r.hit2), 0);
	if (op == R4_PROTECT_RO) {
		r4_check_page(op, cur, old, r.a, far);
		assert_int_equal(gpc_hostmem_protect(t.vm, t.hm, page, pg,
						     PROT_READ | PROT_WRITE),
				 0);
	} else {
		/* The next refresh found the new page. */
		assert_int_equal(atomic_load(&r.refresh_ret), 0);
		assert_int_equal(gm_load(cur), r.b);
		if (old)
			assert_int_equal(gm_load(old), r.a);
	}
	assert_true(cstats(&c).invalidations >= 1);
	k = tvm_counts(&t);
	if (op == R4_MIGRATE || op == R4_REMAP)
		assert_true(k.maps > k0.maps);
	r4_helper_notifies(&t, &c, op, page, cur);
	assert_int_equal(gpc_cache_destroy(&c), 0);
	assert_int_equal(tvm_counts(&t).live_maps, 0);
	teardown(&t);
}

static void r4_page_changes_invalidate(void **state)
{
	for (int stage = TVM_DIRECT; stage <= TVM_ALIAS; stage++) {
		for (int op = 0; op < R4_NR; op++) {
			test_watchdog_arm(60, "r4 %s %s", stage_names[stage],
					  r4_names[op]);
			r4_one(scheme_of(state), stage, op);
			test_watchdog_disarm();
		}
	}
}

/* ==== R5: refresh after deactivate; a reader during re-activation ======= */

static int miss_then_refresh_fn(void *arg)
{
	struct gpc_cache *c = arg;
	struct gpc_guard g;
	uint8_t *p = gpc_cache_begin(c, 0, 8, &g);

	if (p) {
		gpc_cache_end(c, &g);
		return 1; /* the fast path should have missed */
	}
	return gpc_cache_refresh(c, 0);
}

static void r5_deactivate_one(enum gpc_scheme scheme, enum tvm_stage stage)
{
	struct gpc_testmem_counts k0, k;
	uint64_t refreshes, x = 0;
	struct gpc_cache c;
	struct tbg d, r;
	struct tstop *s;
	struct tvm t;

	setup(&t, scheme, stage);
	host_cache(&t, &c, gpa_page(4), CACHE_LEN);
	k0 = tvm_counts(&t);
	refreshes = cstats(&c).refreshes;
	/* Deactivate stops after marking the cache inactive and invalid. */
	s = tstop_arm(&t, GPC_HOOK_DEACTIVATE, &c);
	tbg_start(&d, deactivate_fn, &c);
	assert_true(tstop_wait(s));
	/* A fast path misses now, and its slow path refreshes. */
	tbg_start(&r, miss_then_refresh_fn, &c);
	assert_false(tbg_done_within(&r, SHORT_MS));
	tstop_release(s);
	assert_int_equal(tbg_join(&d), 0);
	assert_int_equal(tbg_join(&r), -EINVAL);
	/* It stayed inactive and invalid, and nothing was translated. */
	assert_false(gpc_cache_is_active(&c));
	assert_true(misses_now(&c));
	assert_int_equal(gpc_cache_refresh(&c, 0), -EINVAL);
	assert_int_equal(gpc_cache_read(&c, 0, &x, sizeof(x)), -EINVAL);
	assert_int_equal(gpc_cache_write(&c, 0, &x, sizeof(x)), -EINVAL);
	assert_true(misses_now(&c));
	k = tvm_counts(&t);
	assert_int_equal(k.translates, k0.translates);
	assert_int_equal(k.maps, k0.maps);
	assert_int_equal(k.live_maps, 0);
	assert_int_equal(cstats(&c).refreshes, refreshes);
	assert_int_equal(gpc_cache_destroy(&c), 0);
	teardown(&t);
}

static void r5_refresh_after_deactivate(void **state)
{
	for (int stage = TVM_DIRECT; stage <= TVM_ALIAS; stage++) {
		test_watchdog_arm(60, "r5a %s", stage_names[stage]);
		r5_deactivate_one(scheme_of(state), stage);
		test_watchdog_disarm();
	}
}

struct react_arg {
	struct gpc_cache *c;
	uint64_t gpa;
	bool deactivate_first;
};

static int reactivate_fn(void *arg)
{
	struct react_arg *a = arg;
	int err = 0;

	if (a->deactivate_first)
		err = gpc_cache_deactivate(a->c);
	return err ? err : gpc_cache_activate_gpa(a->c, a->gpa, CACHE_LEN);
}

/*
 * Sample the cache from this thread: a miss, or (only while the old
 * translation is still published) exactly the old pointer, still mapped.
 */
static void r5_sample(struct gpc_cache *c, uint8_t *old, bool old_ok)
{
	struct gpc_guard g;
	uint8_t *p = fast_begin(c, 0, 8, &g);

	if (!p)
		return;
	(void)gm_load(p);
	gpc_cache_end(c, &g);
	assert_true(old_ok);
	assert_ptr_equal(p, old);
}

/*
 * Stops, in the order the re-activating thread passes them; @block is the
 * index of the first stop it cannot reach while the reader holds the old
 * page (srcu: the grace period before moving away; rwlock: the write lock).
 */
static void r5_reader_one(enum gpc_scheme scheme, enum tvm_stage stage,
			  bool deact)
{
	static const enum gpc_hook_point pts[2][4] = {
		{ GPC_HOOK_ACTIVATE, GPC_HOOK_REFRESH_STAGE1,
		  GPC_HOOK_REFRESH_UNLOCKED, GPC_HOOK_REFRESH_PUBLISH },
		{ GPC_HOOK_DEACTIVATE, GPC_HOOK_ACTIVATE,
		  GPC_HOOK_REFRESH_STAGE1, GPC_HOOK_REFRESH_PUBLISH },
	};
	int block = deact ? (scheme == GPC_SCHEME_SRCU ? 1 : 0) :
			    (scheme == GPC_SCHEME_SRCU ? 2 : 1);
	struct holder h = { .val = 0x5b5b5b5b5b5b5b5bull };
	struct react_arg a;
	struct tstop *s[4];
	struct gpc_guard g;
	struct gpc_cache c;
	struct tbg hb, x;
	uint8_t *p;
	struct tvm t;

	setup(&t, scheme, stage);
	host_cache(&t, &c, gpa_page(2), CACHE_LEN);
	h.c = &c;
	holder_start(&hb, &h);
	for (int i = 0; i < 4; i++)
		s[i] = tstop_arm(&t, pts[deact][i], &c);
	a = (struct react_arg){ &c, gpa_page(11), deact };
	tbg_start(&x, reactivate_fn, &a);
	for (int i = 0; i < 4; i++) {
		if (i == block) {
			assert_false(stop_reached_within(s[i], SHORT_MS));
			holder_finish(&hb, &h);
		}
		assert_true(tstop_wait(s[i]));
		/* Before anything was cleared the old translation is whole. */
		r5_sample(&c, atomic_load(&h.p), !deact && i == 0);
		tstop_release(s[i]);
	}
	assert_int_equal(tbg_join(&x), 0);
	/* The reader's store reached the old page while it was mapped. */
	assert_int_equal(gm_load(hva_ptr(&t, gpa_page(2))), h.val);
	p = gpc_cache_begin(&c, 0, 8, &g);
	assert_non_null(p);
	gm_store(p, 0x5c);
	gpc_cache_end(&c, &g);
	assert_int_equal(gm_load(hva_ptr(&t, gpa_page(11))), 0x5c);
	assert_int_equal(gpc_cache_destroy(&c), 0);
	assert_int_equal(tvm_counts(&t).live_maps, 0);
	teardown(&t);
}

static void r5_reader_during_reactivate(void **state)
{
	for (int stage = TVM_DIRECT; stage <= TVM_ALIAS; stage++) {
		for (int deact = 0; deact < 2; deact++) {
			test_watchdog_arm(60, "r5b %s %d", stage_names[stage],
					  deact);
			r5_reader_one(scheme_of(state), stage, deact);
			test_watchdog_disarm();
		}
	}
}

/* ==== R6: a guest-usage cache evicts its vCPU ============================ */

static void r6_one(enum gpc_scheme scheme, enum tvm_stage stage)
{
	uint64_t hva, page, last;
	struct gpc_vcpu_stats vs;
	struct inval_arg ia;
	struct tvcpu tv;
	struct gpc_cache gc;
	struct tbg vb, ib;
	uint8_t *cur, *old;
	int bail;
	struct tvm t;

	setup(&t, scheme, stage);
	tvcpu_create(&t, &tv, &gc, gpa_page(6));
	hva = tvm_hva(&t, gpa_page(6));
	page = page_of(hva);
	cur = (uint8_t *)(uintptr_t)hva;
	tbg_start(&vb, tvcpu_main, &tv);
	tvcpu_enter_nth(&tv, 1);
	/* Invalidate while the vCPU runs with the cache. */
	ia = (struct inval_arg){ t.vm, page, page + pg, 0, &tv.exits, 0 };
	tbg_start(&ib, inval_start_fn, &ia);
	assert_true(wait_ge(&tv.kicks, 1, TEST_PROMPT_MS));
	assert_int_equal(gpc_vcpu_mode(tv.v), GPC_VCPU_EXITING);
	assert_false(gpc_cache_check(&gc, 0, 8));
	/* range_start waits until the vCPU has left guest mode. */
	assert_false(tbg_done_within(&ib, SHORT_MS));
	atomic_store(&tv.exit_allowed, 1);
	assert_int_equal(tbg_join(&ib), 0);
	assert_int_equal(ia.watch_seen, 1);
	last = atomic_load(&tv.last);
	assert_int_equal(gm_load(cur), last);
	/* Replace the page: nothing may reach the old one from now on. */
	assert_int_equal(gpc_hostmem_remap(NULL, t.hm, page, pg), 0);
	old = gpc_hostmem_retired_page(t.hm, page);
	assert_non_null(old);
	old += hva - page;
	/* Re-entry bails out once; the refresh in handle_requests waits
	 * for range_end. */
	atomic_store(&tv.enter_allowed, 2);
	assert_false(wait_ge(&tv.entries, 2, SHORT_MS));
	assert_int_equal(gm_load(old), last);
	assert_int_equal(gm_load(cur), 0);
	assert_int_equal(gpc_invalidate_range_end(t.vm, page, page + pg), 0);
	assert_true(wait_ge(&tv.entries, 2, TEST_PROMPT_MS));
	tvcpu_exit_nth(&tv, 2);
	assert_int_equal(atomic_load(&tv.bailouts), 1);
	assert_int_equal(gm_load(cur), atomic_load(&tv.last));
	assert_int_equal(gm_load(old), last);
	/* The request was consumed: the next entry goes straight in. */
	bail = atomic_load(&tv.bailouts);
	tvcpu_enter_nth(&tv, 3);
	tvcpu_exit_nth(&tv, 3);
	assert_int_equal(atomic_load(&tv.bailouts), bail);
	assert_int_equal(gpc_vcpu_get_stats(tv.v, &vs), 0);
	assert_int_equal(vs.entries, 3);
	assert_int_equal(vs.entry_bailouts, 1);
	assert_true(vs.kicks >= 1);
	assert_true(vs.requests_handled >= 1);
	assert_true(vstats(&t).kicks >= 1);
	tvcpu_finish(&vb, &tv);
	teardown(&t);
}

static void r6_guest_cache_evicts_vcpu(void **state)
{
	for (int stage = TVM_DIRECT; stage <= TVM_ALIAS; stage++) {
		test_watchdog_arm(60, "r6 %s", stage_names[stage]);
		r6_one(scheme_of(state), stage);
		test_watchdog_disarm();
	}
}

/* ==== R7: an atomic-context reader never blocks on a writer ============== */

static void r7_expect(struct probe *pr, pthread_t thr, int hit, uint64_t val)
{
	assert_true(probe_fire(pr, thr)); /* the handler returned */
	assert_int_equal(atomic_load(&pr->hit), hit);
	if (hit)
		assert_int_equal(atomic_load(&pr->val), val);
}

static int try_read_fn(void *arg)
{
	struct gpc_cache *c = arg;
	struct gpc_guard g;
	uint8_t *p = gpc_cache_try_begin(c, 0, 8, &g);

	if (p)
		gpc_cache_end(c, &g);
	return p != NULL;
}

/*
 * The writer is the interrupted thread itself, inside its write section
 * (rwlock: holding the write lock; srcu: the seqcount odd). The library's
 * write sections are short, block signals and have no hook, so the test
 * plays that writer on the cache's own lock/seqcount.
 */
static void r7_writer_here(struct gpc_cache *c, bool in)
{
	if (c->scheme == GPC_SCHEME_RWLOCK) {
		if (in)
			assert_int_equal(pthread_rwlock_wrlock(&c->rw), 0);
		else
			assert_int_equal(pthread_rwlock_unlock(&c->rw), 0);
	} else if (in) {
		gpc_seqcount_write_begin(&c->seq);
	} else {
		gpc_seqcount_write_end(&c->seq);
	}
}

static void r7_one(enum gpc_scheme scheme)
{
	uint64_t v = 0x7777777777777777ull, page, misses;
	struct probe pr = { .op = PROBE_READ };
	pthread_t self = pthread_self();
	struct inval_arg ia;
	struct gpc_cache c;
	struct tstop *s;
	struct tbg bg;
	struct tvm t;

	setup(&t, scheme, TVM_DIRECT);
	host_cache(&t, &c, gpa_page(4), CACHE_LEN);
	page = page_of(tvm_hva(&t, gpa_page(4)));
	assert_int_equal(gpc_cache_write(&c, 0, &v, sizeof(v)), 0);
	gpc_srcu_register_thread(gpc_vm_srcu(t.vm));
	pr.c = &c;
	misses = cstats(&c).misses;
	r7_expect(&pr, self, 1, v);
	/* 1. A writer holds the write side; a handler interrupts it. */
	r7_writer_here(&c, true);
	r7_expect(&pr, self, 0, 0);
	/* A (real-time) reader thread meanwhile misses too, promptly. */
	tbg_start(&bg, try_read_fn, &c);
	assert_true(tbg_done_within(&bg, TEST_PROMPT_MS));
	r7_writer_here(&c, false);
	assert_int_equal(tbg_join(&bg), 0);
	r7_expect(&pr, self, 1, v);
	/* 2. An invalidation parked after clearing the cache. */
	s = tstop_arm(&t, GPC_HOOK_INVAL_CLEARED, NULL);
	ia = (struct inval_arg){ t.vm, page, page + pg, 0, NULL, 0 };
	tbg_start(&bg, inval_start_fn, &ia);
	assert_true(tstop_wait(s));
	r7_expect(&pr, self, 0, 0);
	tstop_release(s);
	assert_int_equal(tbg_join(&bg), 0);
	r7_expect(&pr, self, 0, 0);
	assert_int_equal(gpc_invalidate_range_end(t.vm, page, page + pg), 0);
	/* 3. A refresh parked between clearing valid and publishing. */
	s = tstop_arm(&t, GPC_HOOK_REFRESH_TRANSLATED, &c);
	tbg_start(&bg, refresh_fn, &c);
	assert_true(tstop_wait(s));
	r7_expect(&pr, self, 0, 0);
	tstop_release(s);
	assert_int_equal(tbg_join(&bg), 0);
	r7_expect(&pr, self, 1, v);
	/* Every miss above was counted as one. */
	assert_int_equal(cstats(&c).misses, misses + 5);
	assert_int_equal(gpc_cache_destroy(&c), 0);
	teardown(&t);
}

static void r7_signal_reader_never_blocks(void **state)
{
	test_watchdog_arm(60, "r7");
	r7_one(scheme_of(state));
	test_watchdog_disarm();
}

/* ==== R8: non-blocking invalidation: -EAGAIN, then a retry succeeds ====== */

/*
 * After -EAGAIN no range_end is owed, the sequence did not move, and the
 * range is pending (gpc/invalidate.h): (re)activating @other on it waits
 * instead of making a cache of the range valid again, until the caller
 * withdraws the mark.
 */
static void r8_pending(struct tvm *t, struct act_arg *other, uint64_t page,
		       uint64_t seq, uint64_t invals)
{
	struct tbg bg;

	assert_int_equal(gpc_invalidate_range_end(t->vm, page, page + pg),
			 -ENOENT);
	assert_int_equal(gpc_invalidate_sequence(t->vm), seq);
	assert_int_equal(vstats(t).invalidations, invals);
	tbg_start(&bg, activate_fn, other);
	assert_false(tbg_done_within(&bg, GPC_INVAL_PENDING_MS / 4));
	assert_int_equal(gpc_invalidate_range_cancel(t->vm, page, page + pg),
			 0);
	assert_true(tbg_done_within(&bg, TEST_PROMPT_MS));
	assert_int_equal(tbg_join(&bg), 0);
	assert_true(cstats(other->c).refresh_waits >= 1);
}

static int nb_start(struct tvm *t, uint64_t page)
{
	return gpc_invalidate_range_start(t->vm, page, page + pg,
					  GPC_INVAL_NONBLOCK);
}

/* Every attempt for @ms milliseconds fails with -EAGAIN. */
static bool nb_fails_for(struct tvm *t, uint64_t page, unsigned int ms)
{
	uint64_t end = test_now_ns() + ms * 1000000ull;

	do {
		if (nb_start(t, page) != -EAGAIN)
			return false;
		test_sleep_ms(1);
	} while (test_now_ns() < end);
	return true;
}

/* Retry every millisecond until it succeeds (or fails otherwise). */
static int nb_retry(struct tvm *t, uint64_t page)
{
	uint64_t end = test_now_ns() + TEST_PROMPT_MS * 1000000ull;
	int r;

	while ((r = nb_start(t, page)) == -EAGAIN && test_now_ns() < end)
		test_sleep_ms(1);
	return r;
}

/*
 * Only the guest cache is on the range at first, so the vCPU in guest mode
 * is the one reason for -EAGAIN (a cleared host cache would need a grace
 * period on srcu too).
 */
static void r8_vcpu(enum gpc_scheme scheme)
{
	uint64_t page, seq, invals, eagain;
	struct inval_arg ia;
	struct gpc_cache gc, hc;
	struct act_arg other = { &hc, gpa_page(6) + 8, 8 };
	struct tvcpu tv;
	struct tbg vb, ib;
	struct tvm t;

	setup(&t, scheme, TVM_DIRECT);
	tvcpu_create(&t, &tv, &gc, gpa_page(6));
	assert_int_equal(gpc_cache_init(&hc, t.vm, GPC_USAGE_HOST, NULL, 0), 0);
	page = page_of(tvm_hva(&t, gpa_page(6)));
	tbg_start(&vb, tvcpu_main, &tv);
	tvcpu_enter_nth(&tv, 1);
	seq = gpc_invalidate_sequence(t.vm);
	invals = vstats(&t).invalidations;
	eagain = vstats(&t).inval_eagain;
	/* The vCPU stays in guest mode: a waiting range_start would hang. */
	ia = (struct inval_arg){ t.vm, page, page + pg, GPC_INVAL_NONBLOCK,
				 NULL, 0 };
	tbg_start(&ib, inval_start_fn, &ia);
	assert_true(tbg_done_within(&ib, TEST_PROMPT_MS));
	assert_int_equal(tbg_join(&ib), -EAGAIN);
	/* Cache invalid, vCPU kicked, counted. */
	assert_false(gpc_cache_check(&gc, 0, 8));
	assert_true(atomic_load(&tv.kicks) >= 1);
	assert_int_equal(gpc_vcpu_mode(tv.v), GPC_VCPU_EXITING);
	assert_int_equal(vstats(&t).inval_eagain, eagain + 1);
	/* While it is still inside, every retry fails the same way. */
	assert_true(nb_fails_for(&t, page, SHORT_MS));
	r8_pending(&t, &other, page, seq, invals);
	/* Gone: a retry soon succeeds (srcu: once the grace period the
	 * cleared host cache needs has run), and range_end is owed. */
	tvcpu_exit_nth(&tv, 1);
	assert_int_equal(nb_retry(&t, page), 0);
	assert_int_equal(gpc_invalidate_range_end(t.vm, page, page + pg), 0);
	assert_int_equal(gpc_invalidate_sequence(t.vm), seq + 1);
	tvcpu_enter_nth(&tv, 2);
	tvcpu_exit_nth(&tv, 2);
	assert_int_equal(gpc_cache_destroy(&hc), 0);
	tvcpu_finish(&vb, &tv);
	teardown(&t);
}

/*
 * srcu: a reader inside a read section; rwlock: a reader holding the read
 * lock. Also from a signal handler that interrupts that very reader, where
 * a waiting invalidation would deadlock.
 */
static void r8_reader(enum gpc_scheme scheme)
{
	struct holder h = { .val = 0x8888888888888888ull };
	struct probe pr = { .op = PROBE_INVAL_NB };
	uint64_t page, seq, invals;
	struct gpc_cache hc, oc;
	struct act_arg other = { &oc, gpa_page(5) + CACHE_LEN, 8 };
	struct inval_arg ia;
	struct tbg hb, ib;
	struct tvm t;

	setup(&t, scheme, TVM_DIRECT);
	host_cache(&t, &hc, gpa_page(5), CACHE_LEN);
	host_cache(&t, &oc, other.gpa, other.len);
	page = page_of(tvm_hva(&t, gpa_page(5)));
	h.c = &hc;
	holder_start(&hb, &h);
	seq = gpc_invalidate_sequence(t.vm);
	invals = vstats(&t).invalidations;
	ia = (struct inval_arg){ t.vm, page, page + pg, GPC_INVAL_NONBLOCK,
				 NULL, 0 };
	tbg_start(&ib, inval_start_fn, &ia);
	assert_true(tbg_done_within(&ib, TEST_PROMPT_MS));
	assert_int_equal(tbg_join(&ib), -EAGAIN);
	r8_pending(&t, &other, page, seq, invals);
	/* From a handler on the reader's own thread: -EAGAIN, no hang. */
	pr.vm = t.vm;
	pr.start = page;
	pr.end = page + pg;
	assert_true(probe_fire(&pr, h.self));
	assert_int_equal(atomic_load(&pr.ret), -EAGAIN);
	/* While the reader stays, every retry fails (srcu: the grace period
	 * cannot end; rwlock: the write lock cannot be taken). */
	assert_true(nb_fails_for(&t, page, SHORT_MS));
	assert_int_equal(gpc_invalidate_range_end(t.vm, page, page + pg),
			 -ENOENT);
	/* The reader leaves; a retry soon succeeds. */
	holder_finish(&hb, &h);
	assert_int_equal(nb_retry(&t, page), 0);
	assert_true(misses_now(&hc));
	assert_int_equal(gpc_invalidate_range_end(t.vm, page, page + pg), 0);
	assert_int_equal(gpc_invalidate_sequence(t.vm), seq + 1);
	assert_int_equal(gpc_cache_refresh(&hc, 0), 0);
	assert_false(misses_now(&hc));
	assert_int_equal(gpc_cache_destroy(&hc), 0);
	assert_int_equal(gpc_cache_destroy(&oc), 0);
	teardown(&t);
}

static void r8_nonblock_inval_eagain_then_retry(void **state)
{
	test_watchdog_arm(60, "r8 vcpu");
	r8_vcpu(scheme_of(state));
	test_watchdog_arm(60, "r8 reader");
	r8_reader(scheme_of(state));
	test_watchdog_disarm();
}

/*
 * The -EAGAIN contract in full (gpc/invalidate.h): "having left the
 * overlapping caches invalid and their vCPUs kicked". A host cache on the
 * first page of the range is held by a reader; a guest cache on the second
 * page belongs to a vCPU in guest mode. After -EAGAIN a new reader must
 * miss the first, and the vCPU must have been kicked. Failures are
 * collected and asserted after cleaning up, so that a failure leaves no
 * thread behind.
 */
static void r8_eagain_contract_one(enum gpc_scheme scheme)
{
	struct holder h = { .val = 1 };
	bool hc_valid, gc_valid, kicked;
	struct gpc_cache hc, gc;
	struct tvcpu tv;
	struct tbg hb, vb;
	uint64_t page;
	int r;
	struct tvm t;

	setup(&t, scheme, TVM_DIRECT);
	host_cache(&t, &hc, gpa_page(4), CACHE_LEN);
	tvcpu_create(&t, &tv, &gc, gpa_page(5));
	page = page_of(tvm_hva(&t, gpa_page(4)));
	h.c = &hc;
	holder_start(&hb, &h);
	tbg_start(&vb, tvcpu_main, &tv);
	tvcpu_enter_nth(&tv, 1);
	r = gpc_invalidate_range_start(t.vm, page, page + 2 * pg,
				       GPC_INVAL_NONBLOCK);
	hc_valid = !misses_now(&hc);
	gc_valid = gpc_cache_check(&gc, 0, 8);
	kicked = atomic_load(&tv.kicks) >= 1;
	if (!r) /* not the expected result, but then range_end is owed */
		gpc_invalidate_range_end(t.vm, page, page + 2 * pg);
	else /* the caller retries only the first page: withdraw the mark */
		gpc_invalidate_range_cancel(t.vm, page, page + 2 * pg);
	holder_finish(&hb, &h);
	tvcpu_exit_nth(&tv, 1);
	assert_int_equal(nb_retry(&t, page), 0); /* first page only */
	assert_int_equal(gpc_invalidate_range_end(t.vm, page, page + pg), 0);
	assert_int_equal(gpc_cache_destroy(&hc), 0);
	tvcpu_finish(&vb, &tv);
	teardown(&t);
	assert_int_equal(r, -EAGAIN);
	if (hc_valid || gc_valid || !kicked)
		print_error("%s: after -EAGAIN: held host cache %s, guest "
			    "cache %s, vCPU %s\n",
			    tvm_scheme_names[scheme],
			    hc_valid ? "still VALID" : "invalid",
			    gc_valid ? "still VALID" : "invalid",
			    kicked ? "kicked" : "NOT kicked");
	assert_false(hc_valid);
	assert_false(gc_valid);
	assert_true(kicked);
}

static void r8_nonblock_eagain_leaves_caches_invalid(void **state)
{
	test_watchdog_arm(60, "r8 contract");
	r8_eagain_contract_one(scheme_of(state));
	test_watchdog_disarm();
}

/* ==== R9: unrelated invalidations ======================================== */

struct r9_ranges {
	uint64_t s[8], e[8];
	int n;
};

/* Ranges that overlap no cache: neighbours of the cache's page (one ending
 * exactly where it starts, one starting exactly where it ends, unaligned
 * ones), far RAM, and host memory outside every memslot. */
static void r9_ranges_init(struct r9_ranges *r, struct tvm *t, uint64_t page)
{
	uint64_t ram = (uint64_t)(uintptr_t)t->ram;
	uint64_t s[] = { page - pg, page + pg,	   page - 100,
			 page + pg, ram + 64 * pg, 1ull << 40 };
	uint64_t e[] = { page,		page + 2 * pg, page,
			 page + pg + 1, ram + 80 * pg, (1ull << 40) + pg };

	r->n = (int)(sizeof(s) / sizeof(s[0]));
	for (int i = 0; i < r->n; i++) {
		r->s[i] = s[i];
		r->e[i] = e[i];
	}
}

struct r9_storm {
	struct gpc_vm *vm;
	struct r9_ranges *r;
	long rounds;
};

/* Blocking and non-blocking invalidations of every unrelated range. */
static int r9_storm_fn(void *arg)
{
	struct r9_storm *st = arg;

	for (long k = 0; k < st->rounds; k++) {
		for (int i = 0; i < st->r->n; i++) {
			uint64_t s = st->r->s[i], e = st->r->e[i];
			unsigned int fl = (k & 1) ? GPC_INVAL_NONBLOCK : 0;

			if (gpc_invalidate_range_start(st->vm, s, e, fl))
				return -1;
			if (gpc_invalidate_range_end(st->vm, s, e))
				return -2;
		}
	}
	return 0;
}

struct r9_loop {
	struct gpc_cache *c;
	atomic_int stop;
	atomic_long reads, misses;
};

static int r9_reader_fn(void *arg)
{
	struct r9_loop *l = arg;

	while (!atomic_load(&l->stop) || atomic_load(&l->reads) < 100) {
		struct gpc_guard g;
		uint8_t *p = gpc_cache_begin(l->c, 0, 8, &g);

		if (p) {
			(void)gm_load(p);
			gpc_cache_end(l->c, &g);
		} else {
			atomic_fetch_add(&l->misses, 1);
		}
		atomic_fetch_add(&l->reads, 1);
	}
	return 0;
}

static void r9_one(enum gpc_scheme scheme)
{
	struct holder h = { .val = 9 };
	struct gpc_srcu_stats ss0, ss;
	struct gpc_cache_stats cs0, cs;
	struct gpc_vm_stats vs0, vs;
	struct r9_storm storm;
	struct r9_ranges rg;
	struct r9_loop loop = { 0 };
	struct inval_arg ia;
	struct gpc_cache c;
	struct tbg hb, sb, ob, lb;
	unsigned int seq0;
	uint64_t page;
	struct tvm t;

	setup(&t, scheme, TVM_DIRECT);
	host_cache(&t, &c, gpa_page(8), CACHE_LEN);
	page = page_of(tvm_hva(&t, gpa_page(8)));
	r9_ranges_init(&rg, &t, page);
	storm = (struct r9_storm){ t.vm, &rg, test_iters(50) + 1 };
	tvm_flush(&t);
	h.c = &c;
	holder_start(&hb, &h);
	seq0 = gpc_seqcount_raw(&c.seq);
	cs0 = cstats(&c);
	vs0 = vstats(&t);
	assert_int_equal(gpc_srcu_get_stats(gpc_vm_srcu(t.vm), &ss0), 0);
	/* They complete while a reader holds the cache: no writer lock of
	 * it (rwlock) and no grace period (srcu) is involved. */
	tbg_start(&sb, r9_storm_fn, &storm);
	assert_true(tbg_done_within(&sb, TEST_PROMPT_MS));
	assert_int_equal(tbg_join(&sb), 0);
	assert_int_equal(gpc_seqcount_raw(&c.seq), seq0);
	cs = cstats(&c);
	vs = vstats(&t);
	assert_int_equal(gpc_srcu_get_stats(gpc_vm_srcu(t.vm), &ss), 0);
	assert_int_equal(cs.misses, cs0.misses);
	assert_int_equal(cs.invalidations, cs0.invalidations);
	assert_int_equal(vs.inval_caches, vs0.inval_caches);
	assert_int_equal(vs.invalidations,
			 vs0.invalidations + (uint64_t)(storm.rounds * rg.n));
	assert_int_equal(ss.gp_completed, ss0.gp_completed);
	/* Control: an overlapping invalidation does wait for that reader. */
	ia = (struct inval_arg){ t.vm, page, page + pg, 0, NULL, 0 };
	tbg_start(&ob, inval_start_fn, &ia);
	assert_false(tbg_done_within(&ob, SHORT_MS));
	holder_finish(&hb, &h);
	assert_int_equal(tbg_join(&ob), 0);
	assert_int_equal(gpc_invalidate_range_end(t.vm, page, page + pg), 0);
	/* A reader in a loop through a storm of unrelated ones never misses. */
	assert_int_equal(gpc_cache_refresh(&c, 0), 0);
	cs0 = cstats(&c);
	loop.c = &c;
	tbg_start(&lb, r9_reader_fn, &loop);
	assert_int_equal(r9_storm_fn(&storm), 0);
	atomic_store(&loop.stop, 1);
	assert_int_equal(tbg_join(&lb), 0);
	assert_int_equal(atomic_load(&loop.misses), 0);
	assert_int_equal(cstats(&c).misses, cs0.misses);
	assert_int_equal(gpc_cache_destroy(&c), 0);
	teardown(&t);
}

static void r9_unrelated_inval_no_lock_no_miss(void **state)
{
	test_watchdog_arm(60, "r9");
	r9_one(scheme_of(state));
	test_watchdog_disarm();
}

/* ---- main ----------------------------------------------------------------- */

/* One cmocka test per scheme, named <scenario>_<scheme>. */
#define BOTH_SCHEMES(f)                                     \
	{ #f "_srcu", f, NULL, NULL, &scheme_srcu },        \
	{                                                   \
#f "_rwlock", f, NULL, NULL, &scheme_rwlock \
	}

int main(void)
{
	const struct CMUnitTest tests[] = {
		BOTH_SCHEMES(r1_failed_refresh_no_leak),
		BOTH_SCHEMES(r2_refresh_reuses_mapping),
		BOTH_SCHEMES(r3a_inval_between_translate_and_publish),
		BOTH_SCHEMES(r3b_check_fails_mid_refresh),
		BOTH_SCHEMES(r3c_overlapping_refreshes_serialized),
		BOTH_SCHEMES(r4_page_changes_invalidate),
		BOTH_SCHEMES(r5_refresh_after_deactivate),
		BOTH_SCHEMES(r5_reader_during_reactivate),
		BOTH_SCHEMES(r6_guest_cache_evicts_vcpu),
		BOTH_SCHEMES(r7_signal_reader_never_blocks),
		BOTH_SCHEMES(r8_nonblock_inval_eagain_then_retry),
		BOTH_SCHEMES(r8_nonblock_eagain_leaves_caches_invalid),
		BOTH_SCHEMES(r9_unrelated_inval_no_lock_no_miss),
	};
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = probe_handler;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
	pg = (uint64_t)sysconf(_SC_PAGESIZE);
	return cmocka_run_group_tests_name("scenarios_a", tests, NULL, NULL);
}
