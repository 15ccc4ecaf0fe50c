// SPDX-License-Identifier: MIT
/*
 * tests/unit/test_srcu_api.c - every function of gpc/srcu.h from one thread.
 *
 * Good and bad input for each call: NULL and destroyed domains, double
 * destroy, misuse reported by debug builds, bogus poll cookies, waiting for
 * oneself, destroy while busy or with callbacks queued, callbacks that call
 * back into the domain, nesting, the polled grace-period API and the
 * statistics. The worker thread that runs callbacks and polled grace periods
 * belongs to the library; everything else happens on the test thread, so
 * this program is labelled "unit" although the library starts threads.
 *
 * Registered twice with ctest: as is, and with GPC_SRCU_NO_MEMBARRIER=1 to
 * exercise the fallback in which readers fence themselves.
 */
#include <linux/membarrier.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/syscall.h>

#include <cmocka.h>

#include <gpc/srcu.h>

#include "test_common.h"

static int setup_domain(void **state)
{
	/* C11 aligned_alloc: the size must be a multiple of the alignment. */
	struct gpc_srcu *d = aligned_alloc(GPC_CACHELINE,
					   (sizeof(*d) + GPC_CACHELINE -
					    1) & ~(size_t)(GPC_CACHELINE - 1));

	if (!d)
		return -1;
	memset(d, 0, sizeof(*d));
	if (gpc_srcu_init(d, NULL)) {
		free(d);
		return -1;
	}
	test_log_capture();
	*state = d;
	return 0;
}

static int teardown_domain(void **state)
{
	struct gpc_srcu *d = *state;
	int ret = gpc_srcu_destroy(d);

	free(d);
	return ret ? -1 : 0;
}

/* Wait up to TEST_PROMPT_MS for @cookie, sleeping; returns the last answer. */
static int poll_until_done(struct gpc_srcu *d, uint64_t cookie)
{
	uint64_t end = test_now_ns() + TEST_PROMPT_MS * 1000000ULL;
	int r;

	while ((r = gpc_srcu_poll_state(d, cookie)) == 0 && test_now_ns() < end)
		test_sleep_ms(1);
	return r;
}

static void noop_cb(struct gpc_srcu_head *h)
{
	(void)h;
}

/* ---- init / destroy --------------------------------------------------- */

static void test_init_destroy(void **state)
{
	struct gpc_srcu d;
	char name[32] = "api-test";
	struct gpc_srcu_attr attr = { .name = name, .stall_ms = 500 };
	struct gpc_srcu_attr zero = { 0 };

	(void)state;
	assert_int_equal(gpc_srcu_init(NULL, NULL), -EINVAL);
	assert_int_equal(gpc_srcu_init(NULL, &attr), -EINVAL);

	assert_int_equal(gpc_srcu_init(&d, NULL), 0);
	assert_int_equal(gpc_srcu_destroy(&d), 0);
	/* Caller-allocated: a second destroy is a no-op (gpc/vm.h). */
	assert_int_equal(gpc_srcu_destroy(&d), 0);

	/* The name is copied: clobbering our buffer must not matter. */
	assert_int_equal(gpc_srcu_init(&d, &attr), 0);
	memset(name, 'x', sizeof(name) - 1);
	assert_int_equal(gpc_srcu_synchronize(&d), 0);
	assert_int_equal(gpc_srcu_destroy(&d), 0);

	/* A zeroed attribute structure means the defaults. */
	assert_int_equal(gpc_srcu_init(&d, &zero), 0);
	assert_int_equal(gpc_srcu_synchronize(&d), 0);
	assert_int_equal(gpc_srcu_destroy(&d), 0);
}

static void test_destroy_bad(void **state)
{
	struct gpc_srcu never;

	(void)state;
	assert_int_equal(gpc_srcu_destroy(NULL), -EINVAL);
	/* Zeroed storage was never initialised: nothing to tear down. */
	memset(&never, 0, sizeof(never));
	assert_int_equal(gpc_srcu_destroy(&never), 0);
	/* Garbage is neither live, destroyed nor zero-filled. */
	memset(&never, 0x5a, sizeof(never));
	assert_int_equal(gpc_srcu_destroy(&never), -EINVAL);
}

/* Every call on NULL and on a destroyed domain fails cleanly. */
static void test_invalid_domains(void **state)
{
	struct gpc_srcu d, *bad[2] = { NULL, &d };
	struct gpc_srcu_head head;
	struct gpc_srcu_stats st;
	uint64_t cookie;
	int i;

	(void)state;
	assert_int_equal(gpc_srcu_init(&d, NULL), 0);
	cookie = gpc_srcu_get_state(&d);
	assert_int_equal(gpc_srcu_destroy(&d), 0);

	for (i = 0; i < 2; i++) {
		struct gpc_srcu *x = bad[i];

		assert_int_equal(gpc_srcu_synchronize(x), -EINVAL);
		assert_int_equal(gpc_srcu_synchronize_expedited(x), -EINVAL);
		assert_int_equal(gpc_srcu_get_state(x), 0);
		assert_int_equal(gpc_srcu_start_poll(x), 0);
		assert_int_equal(gpc_srcu_poll_state(x, cookie), -EINVAL);
		assert_int_equal(gpc_srcu_try_synchronize(x), -EINVAL);
		assert_int_equal(gpc_srcu_call(x, &head, noop_cb), -EINVAL);
		assert_int_equal(gpc_srcu_barrier(x), -EINVAL);
		assert_int_equal(gpc_srcu_get_stats(x, &st), -EINVAL);
		assert_int_equal(gpc_srcu_register_thread(x), -EINVAL);
		/* NULL is an error, a destroyed domain a no-op. */
		assert_int_equal(gpc_srcu_destroy(x), x ? 0 : -EINVAL);
	}
}

/*
 * A domain destroyed and initialised again at the same address must not
 * reuse the slot this thread cached for the old one (the per-thread cache
 * is indexed by id and checked against the domain's serial).
 */
static void test_reinit_same_address(void **state)
{
	struct gpc_srcu d;
	uint64_t serial;
	int i;

	(void)state;
	assert_int_equal(gpc_srcu_init(&d, NULL), 0);
	serial = d.serial;
	gpc_srcu_read_lock(&d);
	gpc_srcu_read_unlock(&d);
	assert_int_equal(gpc_srcu_destroy(&d), 0);

	for (i = 0; i < 20; i++) {
		assert_int_equal(gpc_srcu_init(&d, NULL), 0);
		assert_true(d.serial != serial);
		serial = d.serial;
		assert_false(gpc_srcu_read_held(&d));
		gpc_srcu_read_lock(&d);
		assert_true(gpc_srcu_read_held(&d));
		gpc_srcu_read_unlock(&d);
		assert_false(gpc_srcu_read_held(&d));
		assert_int_equal(gpc_srcu_synchronize(&d), 0);
		assert_int_equal(gpc_srcu_destroy(&d), 0);
	}
}

/* ---- readers ---------------------------------------------------------- */

static void test_read_nesting(void **state)
{
	struct gpc_srcu *d = *state;
	int i;

	assert_false(gpc_srcu_read_held(d));
	for (i = 0; i < 5; i++) {
		gpc_srcu_read_lock(d);
		assert_true(gpc_srcu_read_held(d));
	}
	for (i = 0; i < 5; i++) {
		assert_true(gpc_srcu_read_held(d));
		assert_int_equal(gpc_srcu_synchronize(d), -EDEADLK);
		gpc_srcu_read_unlock(d);
	}
	assert_false(gpc_srcu_read_held(d));
	assert_int_equal(gpc_srcu_synchronize(d), 0);
	/* No message for correct use. */
	assert_int_equal(test_log_count(GPC_LOG_ERR), 0);
}

static void test_register_thread(void **state)
{
	struct gpc_srcu *d = *state;

	assert_int_equal(gpc_srcu_register_thread(d), 0);
	/* Registering again is harmless. */
	assert_int_equal(gpc_srcu_register_thread(d), 0);
	gpc_srcu_read_lock(d);
	assert_true(gpc_srcu_read_held(d));
	gpc_srcu_read_unlock(d);
	assert_int_equal(gpc_srcu_synchronize(d), 0);
}

static void test_unlock_without_lock(void **state)
{
#ifdef GPC_DEBUG
	struct gpc_srcu *d = *state;
	unsigned int before = test_log_count(GPC_LOG_ERR);

	gpc_srcu_read_unlock(d);
	/* Reported once, and the slot is left alone. */
	assert_int_equal(test_log_count(GPC_LOG_ERR), before + 1);
	assert_false(gpc_srcu_read_held(d));

	/* Still a working domain: nesting and grace periods as usual. */
	gpc_srcu_read_lock(d);
	gpc_srcu_read_unlock(d);
	gpc_srcu_read_unlock(d);
	assert_int_equal(test_log_count(GPC_LOG_ERR), before + 2);
	assert_false(gpc_srcu_read_held(d));
	assert_int_equal(gpc_srcu_synchronize(d), 0);
	assert_int_equal(gpc_srcu_synchronize_expedited(d), 0);
#else
	(void)state;
	/* Plain builds do not check: the misuse corrupts the slot. */
	skip();
#endif
}

/*
 * Sections of two domains whose ids share an entry of the per-thread slot
 * cache, nested in each other, must each find their own slot.
 */
static void test_aliased_domains(void **state)
{
	size_t size = (GPC_SRCU_TLS_ENTRIES + 1) * sizeof(struct gpc_srcu);
	struct gpc_srcu *d = aligned_alloc(
		GPC_CACHELINE,
		(size + GPC_CACHELINE - 1) & ~(size_t)(GPC_CACHELINE - 1));
	int i, j, a = -1, b = -1;

	(void)state;
	assert_non_null(d);
	memset(d, 0, size);
	for (i = 0; i <= GPC_SRCU_TLS_ENTRIES; i++)
		assert_int_equal(gpc_srcu_init(&d[i], NULL), 0);
	/* Pigeonhole: two of the 17 share an entry. */
	for (i = 0; i <= GPC_SRCU_TLS_ENTRIES && a < 0; i++)
		for (j = i + 1; j <= GPC_SRCU_TLS_ENTRIES; j++)
			if (!((d[i].id ^ d[j].id) &
			      (GPC_SRCU_TLS_ENTRIES - 1))) {
				a = i;
				b = j;
				break;
			}
	assert_true(a >= 0);

	gpc_srcu_read_lock(&d[a]);
	gpc_srcu_read_lock(&d[b]);
	gpc_srcu_read_lock(&d[a]);
	assert_true(gpc_srcu_read_held(&d[a]));
	assert_true(gpc_srcu_read_held(&d[b]));
	gpc_srcu_read_unlock(&d[b]);
	assert_true(gpc_srcu_read_held(&d[a]));
	assert_false(gpc_srcu_read_held(&d[b]));
	/* Inside a: b's grace period does not wait for us, a's would. */
	assert_int_equal(gpc_srcu_synchronize(&d[b]), 0);
	assert_int_equal(gpc_srcu_synchronize(&d[a]), -EDEADLK);
	gpc_srcu_read_unlock(&d[a]);
	assert_true(gpc_srcu_read_held(&d[a]));
	gpc_srcu_read_unlock(&d[a]);
	assert_false(gpc_srcu_read_held(&d[a]));
	assert_int_equal(gpc_srcu_synchronize(&d[a]), 0);

	for (i = 0; i <= GPC_SRCU_TLS_ENTRIES; i++)
		assert_int_equal(gpc_srcu_destroy(&d[i]), 0);
	free(d);
}

/* ---- grace periods ---------------------------------------------------- */

static void test_synchronize_in_section(void **state)
{
	struct gpc_srcu *d = *state;

	assert_int_equal(gpc_srcu_synchronize(d), 0);
	assert_int_equal(gpc_srcu_synchronize_expedited(d), 0);
	gpc_srcu_read_lock(d);
	assert_int_equal(gpc_srcu_synchronize(d), -EDEADLK);
	assert_int_equal(gpc_srcu_synchronize_expedited(d), -EDEADLK);
	gpc_srcu_read_unlock(d);
	assert_int_equal(gpc_srcu_synchronize(d), 0);
	assert_int_equal(gpc_srcu_synchronize_expedited(d), 0);
}

static void test_get_state_poll(void **state)
{
	struct gpc_srcu *d = *state;
	uint64_t c1, c2, c3;

	c1 = gpc_srcu_get_state(d);
	assert_true(c1 != 0);
	assert_int_equal(c1 & 1, 0);
	/* A fresh cookie names a grace period that has not run yet. */
	assert_int_equal(gpc_srcu_poll_state(d, c1), 0);
	c2 = gpc_srcu_get_state(d);
	assert_true(c2 >= c1);
	assert_int_equal(gpc_srcu_synchronize(d), 0);
	assert_int_equal(gpc_srcu_poll_state(d, c1), 1);
	assert_int_equal(gpc_srcu_poll_state(d, c2), 1);
	/* Completed stays completed. */
	assert_int_equal(gpc_srcu_poll_state(d, c1), 1);

	c3 = gpc_srcu_get_state(d);
	assert_true(c3 > c1);
	assert_int_equal(c3 & 1, 0);
	assert_int_equal(gpc_srcu_poll_state(d, c3), 0);
	assert_int_equal(gpc_srcu_synchronize_expedited(d), 0);
	assert_int_equal(gpc_srcu_poll_state(d, c3), 1);

	/* get_state and poll_state are fine inside a section. */
	gpc_srcu_read_lock(d);
	c1 = gpc_srcu_get_state(d);
	assert_int_equal(gpc_srcu_poll_state(d, c1), 0);
	assert_int_equal(gpc_srcu_poll_state(d, c3), 1);
	gpc_srcu_read_unlock(d);
	assert_int_equal(gpc_srcu_synchronize(d), 0);
	assert_int_equal(gpc_srcu_poll_state(d, c1), 1);
}

static void test_poll_bogus_cookie(void **state)
{
	struct gpc_srcu *d = *state;
	uint64_t c = gpc_srcu_get_state(d);

	assert_int_equal(gpc_srcu_poll_state(d, c | 1), -EINVAL);
	assert_int_equal(gpc_srcu_poll_state(d, 1), -EINVAL);
	assert_int_equal(gpc_srcu_poll_state(d, c + (1ULL << 32)), -EINVAL);
	assert_int_equal(gpc_srcu_poll_state(d, c + (1ULL << 20)), -EINVAL);
	assert_int_equal(gpc_srcu_poll_state(d, UINT64_MAX), -EINVAL);
	assert_int_equal(gpc_srcu_poll_state(d, 0), -EINVAL);
	/* Rejecting them did not break the domain. */
	assert_int_equal(gpc_srcu_poll_state(d, c), 0);
	assert_int_equal(gpc_srcu_synchronize(d), 0);
	assert_int_equal(gpc_srcu_poll_state(d, c), 1);
}

/*
 * The largest even cookie is beyond anything a domain can issue in the
 * life of the universe; it must not pass for an old, completed one by
 * wrapping around.
 */
static void test_poll_cookie_max(void **state)
{
	struct gpc_srcu *d = *state;

	assert_int_equal(gpc_srcu_synchronize(d), 0);
	assert_int_equal(gpc_srcu_poll_state(d, UINT64_MAX - 1), -EINVAL);
	assert_int_equal(gpc_srcu_poll_state(d, 1ULL << 63), -EINVAL);
}

/* start_poll's grace period runs by itself, on the worker. */
static void test_start_poll_completes(void **state)
{
	struct gpc_srcu *d = *state;
	uint64_t c1, c2;

	c1 = gpc_srcu_start_poll(d);
	assert_true(c1 != 0);
	assert_int_equal(c1 & 1, 0);
	c2 = gpc_srcu_start_poll(d);
	assert_true(c2 >= c1);
	assert_int_equal(poll_until_done(d, c1), 1);
	assert_int_equal(poll_until_done(d, c2), 1);

	/* Again, after the worker went idle. */
	test_sleep_ms(20);
	c1 = gpc_srcu_start_poll(d);
	assert_int_equal(poll_until_done(d, c1), 1);
}

/* A polled grace period waits for a reader, even the caller itself. */
static void test_start_poll_waits_for_reader(void **state)
{
	struct gpc_srcu *d = *state;
	uint64_t c;

	gpc_srcu_read_lock(d);
	c = gpc_srcu_start_poll(d);
	test_sleep_ms(100);
	assert_int_equal(gpc_srcu_poll_state(d, c), 0);
	gpc_srcu_read_unlock(d);
	assert_int_equal(poll_until_done(d, c), 1);
}

/* ---- the non-blocking attempt ------------------------------------------ */

struct held_reader {
	struct gpc_srcu *d;
	int depth;
	atomic_int inside, leave;
};

static void *held_reader_main(void *arg)
{
	struct held_reader *h = arg;

	for (int i = 0; i < h->depth; i++)
		gpc_srcu_read_lock(h->d);
	atomic_store(&h->inside, 1);
	while (!atomic_load(&h->leave))
		test_sleep_ms(1);
	for (int i = 0; i < h->depth; i++)
		gpc_srcu_read_unlock(h->d);
	atomic_store(&h->inside, 0);
	return NULL;
}

/*
 * Yes exactly when nobody is inside: not while another thread is (at any
 * depth), not for a caller inside its own section; and it is no grace
 * period: a cookie taken before stays unsatisfied and none is counted.
 */
static void test_try_synchronize(void **state)
{
	struct gpc_srcu *d = *state;
	struct gpc_srcu_stats st0, st1;
	uint64_t cookie;
	pthread_t t;

	assert_int_equal(gpc_srcu_get_stats(d, &st0), 0);
	cookie = gpc_srcu_get_state(d);
	assert_int_equal(gpc_srcu_try_synchronize(d), 1);
	assert_int_equal(gpc_srcu_poll_state(d, cookie), 0);
	assert_int_equal(gpc_srcu_get_stats(d, &st1), 0);
	assert_int_equal(st1.gp_completed, st0.gp_completed);

	gpc_srcu_read_lock(d);
	assert_int_equal(gpc_srcu_try_synchronize(d), 0);
	gpc_srcu_read_unlock(d);
	assert_int_equal(gpc_srcu_try_synchronize(d), 1);

	for (int depth = 1; depth <= 2; depth++) {
		struct held_reader h = { .d = d, .depth = depth };

		assert_int_equal(pthread_create(&t, NULL, held_reader_main, &h),
				 0);
		while (!atomic_load(&h.inside))
			test_sleep_ms(1);
		assert_int_equal(gpc_srcu_try_synchronize(d), 0);
		assert_int_equal(gpc_srcu_try_synchronize(d), 0);
		atomic_store(&h.leave, 1);
		pthread_join(t, NULL);
		assert_int_equal(gpc_srcu_try_synchronize(d), 1);
	}
}

static struct gpc_srcu *sig_domain;
static volatile sig_atomic_t sig_result;

static void try_sync_handler(int sig)
{
	(void)sig;
	sig_result = gpc_srcu_try_synchronize(sig_domain);
}

/*
 * From a signal handler: yes when the interrupted thread is outside, no
 * when the handler interrupted a section of its own thread.
 */
static void test_try_synchronize_in_signal(void **state)
{
	struct sigaction sa = { .sa_handler = try_sync_handler }, old;

	sig_domain = *state;
	sigemptyset(&sa.sa_mask);
	assert_int_equal(sigaction(SIGUSR2, &sa, &old), 0);
	sig_result = -100;
	raise(SIGUSR2);
	assert_int_equal(sig_result, 1);
	gpc_srcu_read_lock(sig_domain);
	sig_result = -100;
	raise(SIGUSR2);
	gpc_srcu_read_unlock(sig_domain);
	assert_int_equal(sig_result, 0);
	assert_int_equal(sigaction(SIGUSR2, &old, NULL), 0);
}

/* ---- callbacks -------------------------------------------------------- */

struct cb_rec {
	struct gpc_srcu_head head;
	struct gpc_srcu *d;
	int index;
	atomic_int ran;
	atomic_int order;     /* position in which it ran */
	atomic_int ret;	      /* result of a call made from the callback */
	atomic_int on_caller; /* ran on the thread that queued it */
	pthread_t caller;
};

static atomic_int cb_seq;

static struct cb_rec *rec_of(struct gpc_srcu_head *h)
{
	return (struct cb_rec *)((char *)h - offsetof(struct cb_rec, head));
}

static void cb_record(struct gpc_srcu_head *h)
{
	struct cb_rec *r = rec_of(h);

	atomic_store(&r->order, atomic_fetch_add(&cb_seq, 1));
	atomic_store(&r->on_caller, pthread_equal(pthread_self(), r->caller));
	atomic_fetch_add(&r->ran, 1);
}

static void test_call_bad(void **state)
{
	struct gpc_srcu *d = *state;
	struct gpc_srcu_head h;

	assert_int_equal(gpc_srcu_call(NULL, &h, noop_cb), -EINVAL);
	assert_int_equal(gpc_srcu_call(d, NULL, noop_cb), -EINVAL);
	assert_int_equal(gpc_srcu_call(d, &h, NULL), -EINVAL);
	assert_int_equal(gpc_srcu_barrier(d), 0);
}

/* Callbacks run once each, in queueing order, on the worker. */
static void test_call_order(void **state)
{
	struct gpc_srcu *d = *state;
	struct gpc_srcu_stats before, after;
	enum { N = 100 };
	struct cb_rec *r = calloc(N, sizeof(*r));
	int i;

	assert_non_null(r);
	assert_int_equal(gpc_srcu_get_stats(d, &before), 0);
	atomic_store(&cb_seq, 0);
	for (i = 0; i < N; i++) {
		r[i].caller = pthread_self();
		assert_int_equal(gpc_srcu_call(d, &r[i].head, cb_record), 0);
	}
	assert_int_equal(gpc_srcu_barrier(d), 0);
	for (i = 0; i < N; i++) {
		assert_int_equal(atomic_load(&r[i].ran), 1);
		assert_int_equal(atomic_load(&r[i].order), i);
		assert_int_equal(atomic_load(&r[i].on_caller), 0);
	}
	assert_int_equal(gpc_srcu_get_stats(d, &after), 0);
	assert_true(after.callbacks >= before.callbacks + N);
	assert_true(after.gp_completed >= before.gp_completed + 1);
	/* A barrier with nothing queued returns at once. */
	assert_int_equal(gpc_srcu_barrier(d), 0);
	free(r);
}

/* A callback queued inside a section waits for that section. */
static void test_call_waits_for_reader(void **state)
{
	struct gpc_srcu *d = *state;
	struct cb_rec r = { .caller = pthread_self() };

	gpc_srcu_read_lock(d);
	assert_int_equal(gpc_srcu_call(d, &r.head, cb_record), 0);
	test_sleep_ms(100);
	assert_int_equal(atomic_load(&r.ran), 0);
	gpc_srcu_read_unlock(d);
	assert_int_equal(gpc_srcu_barrier(d), 0);
	assert_int_equal(atomic_load(&r.ran), 1);
}

static struct cb_rec chained;

static void cb_chain(struct gpc_srcu_head *h)
{
	struct cb_rec *r = rec_of(h);

	atomic_store(&r->ret, gpc_srcu_call(r->d, &chained.head, cb_record));
	atomic_fetch_add(&r->ran, 1);
}

/* Callbacks may queue callbacks; a later barrier covers those too. */
static void test_call_from_callback(void **state)
{
	struct gpc_srcu *d = *state;
	struct cb_rec r = { .d = d, .ret = 1 };

	memset(&chained, 0, sizeof(chained));
	chained.caller = pthread_self();
	assert_int_equal(gpc_srcu_call(d, &r.head, cb_chain), 0);
	assert_int_equal(gpc_srcu_barrier(d), 0);
	assert_int_equal(atomic_load(&r.ran), 1);
	assert_int_equal(atomic_load(&r.ret), 0);
	assert_int_equal(gpc_srcu_barrier(d), 0);
	assert_int_equal(atomic_load(&chained.ran), 1);
}

static void cb_barrier(struct gpc_srcu_head *h)
{
	struct cb_rec *r = rec_of(h);

	atomic_store(&r->ret, gpc_srcu_barrier(r->d));
	atomic_fetch_add(&r->ran, 1);
}

static void cb_destroy(struct gpc_srcu_head *h)
{
	struct cb_rec *r = rec_of(h);

	atomic_store(&r->ret, gpc_srcu_destroy(r->d));
	atomic_fetch_add(&r->ran, 1);
}

static void cb_synchronize(struct gpc_srcu_head *h)
{
	struct cb_rec *r = rec_of(h);

	atomic_store(&r->ret, gpc_srcu_synchronize(r->d));
	atomic_fetch_add(&r->ran, 1);
}

static void test_callback_deadlock_checks(void **state)
{
	struct gpc_srcu *d = *state;
	struct cb_rec b = { .d = d, .ret = 1 }, x = { .d = d, .ret = 1 };

	test_watchdog_arm(20, "barrier/destroy called from a callback");
	assert_int_equal(gpc_srcu_call(d, &b.head, cb_barrier), 0);
	assert_int_equal(gpc_srcu_call(d, &x.head, cb_destroy), 0);
	assert_int_equal(gpc_srcu_barrier(d), 0);
	test_watchdog_disarm();
	assert_int_equal(atomic_load(&b.ran), 1);
	assert_int_equal(atomic_load(&b.ret), -EDEADLK);
	assert_int_equal(atomic_load(&x.ran), 1);
	assert_int_equal(atomic_load(&x.ret), -EDEADLK);
	/* The domain survived the refused destroy. */
	assert_int_equal(gpc_srcu_synchronize(d), 0);
}

/*
 * Not forbidden by the API (only barrier and destroy are): a callback that
 * waits for a grace period of its own domain must not hang the worker.
 */
static void test_synchronize_from_callback(void **state)
{
	struct gpc_srcu *d = *state;
	struct cb_rec s = { .d = d, .ret = 1 };

	test_watchdog_arm(20, "synchronize called from a callback");
	assert_int_equal(gpc_srcu_call(d, &s.head, cb_synchronize), 0);
	assert_int_equal(gpc_srcu_barrier(d), 0);
	test_watchdog_disarm();
	assert_int_equal(atomic_load(&s.ran), 1);
	assert_int_equal(atomic_load(&s.ret), 0);
}

/* destroy() runs every queued callback before it returns. */
static void test_destroy_runs_callbacks(void **state)
{
	enum { N = 50 };
	struct gpc_srcu d;
	struct cb_rec *r = calloc(N, sizeof(*r));
	int i;

	(void)state;
	assert_non_null(r);
	assert_int_equal(gpc_srcu_init(&d, NULL), 0);
	for (i = 0; i < N; i++)
		assert_int_equal(gpc_srcu_call(&d, &r[i].head, cb_record), 0);
	assert_int_equal(gpc_srcu_destroy(&d), 0);
	for (i = 0; i < N; i++)
		assert_int_equal(atomic_load(&r[i].ran), 1);
	free(r);
}

/* destroy() refuses while this thread is inside, and changes nothing. */
static void test_destroy_busy(void **state)
{
	struct gpc_srcu d;
	struct cb_rec r = { .caller = pthread_self() };
	unsigned int before;
	uint64_t c;

	(void)state;
	test_log_capture();
	before = test_log_count(GPC_LOG_ERR) + test_log_count(GPC_LOG_WARN);
	assert_int_equal(gpc_srcu_init(&d, NULL), 0);
	c = gpc_srcu_get_state(&d);
	gpc_srcu_read_lock(&d);
	/*
	 * With a callback queued, a destroy that waited for callbacks before
	 * checking for readers would wait for its own caller.
	 */
	assert_int_equal(gpc_srcu_call(&d, &r.head, cb_record), 0);
	test_watchdog_arm(20, "destroy from inside a read section");
	assert_int_equal(gpc_srcu_destroy(&d), -EBUSY);
	test_watchdog_disarm();
	assert_true(test_log_count(GPC_LOG_ERR) + test_log_count(GPC_LOG_WARN) >
		    before);
	/* Still inside, still usable. */
	assert_true(gpc_srcu_read_held(&d));
	assert_int_equal(gpc_srcu_poll_state(&d, c), 0);
	gpc_srcu_read_unlock(&d);
	assert_int_equal(gpc_srcu_synchronize(&d), 0);
	assert_int_equal(gpc_srcu_poll_state(&d, c), 1);
	assert_int_equal(gpc_srcu_barrier(&d), 0);
	assert_int_equal(atomic_load(&r.ran), 1);
	assert_int_equal(gpc_srcu_destroy(&d), 0);
}

/* ---- statistics and membarrier ---------------------------------------- */

/* Per-thread event counters and the lock variant that takes a slot. */
static void test_events(void **state)
{
	struct gpc_srcu *d = *state;
	struct gpc_srcu_slot *s;
	uint64_t base;
	int i;

	assert_int_equal(gpc_srcu_events(NULL), 0);
	base = gpc_srcu_events(d);
	s = gpc_srcu_slot_of(d);
	assert_non_null(s);
	/* The same slot every time, for this thread and domain. */
	assert_ptr_equal(gpc_srcu_slot_of(d), s);
	for (i = 0; i < 10; i++)
		gpc_srcu_count_event(s);
	assert_int_equal(gpc_srcu_events(d), base + 10);

	gpc_srcu_read_lock_slot(d, s);
	assert_true(gpc_srcu_read_held(d));
	gpc_srcu_count_event(s);
	assert_int_equal(gpc_srcu_synchronize(d), -EDEADLK);
	gpc_srcu_read_unlock(d);
	assert_false(gpc_srcu_read_held(d));
	assert_int_equal(gpc_srcu_events(d), base + 11);
	assert_int_equal(gpc_srcu_synchronize(d), 0);
}

static void test_stats(void **state)
{
	struct gpc_srcu *d = *state;
	struct gpc_srcu_stats a, b;
	struct gpc_srcu_head h;
	int i;

	assert_int_equal(gpc_srcu_get_stats(d, NULL), -EINVAL);
	assert_int_equal(gpc_srcu_get_stats(NULL, &a), -EINVAL);

	gpc_srcu_read_lock(d);
	gpc_srcu_read_unlock(d);
	assert_int_equal(gpc_srcu_get_stats(d, &a), 0);
	assert_true(a.slots >= 1);
	for (i = 0; i < 3; i++)
		assert_int_equal(gpc_srcu_synchronize(d), 0);
	assert_int_equal(gpc_srcu_synchronize_expedited(d), 0);
	assert_int_equal(gpc_srcu_call(d, &h, noop_cb), 0);
	assert_int_equal(gpc_srcu_barrier(d), 0);
	assert_int_equal(gpc_srcu_get_stats(d, &b), 0);

	/* One thread: nobody to share with, so at least one each. */
	assert_true(b.gp_completed >= a.gp_completed + 5);
	assert_true(b.callbacks >= a.callbacks + 1);
	assert_int_equal(b.stalls, 0);
	assert_true(b.slots >= 1);
	if (gpc_srcu_membarrier_available())
		assert_true(b.membarriers > a.membarriers);
	else
		assert_int_equal(b.membarriers, 0);
}

static bool kernel_has_private_expedited(void)
{
	long q = syscall(__NR_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);

	return q > 0 && (q & MEMBARRIER_CMD_PRIVATE_EXPEDITED);
}

static void test_membarrier_available(void **state)
{
	const char *env = getenv("GPC_SRCU_NO_MEMBARRIER");
	bool avail = gpc_srcu_membarrier_available();

	(void)state;
	/* Stable, and consistent with what readers do. */
	assert_int_equal(avail, gpc_srcu_membarrier_available());
	assert_int_equal(avail, !gpc_srcu_reader_fence);
	if (env && !strcmp(env, "1"))
		assert_false(avail);
	else if (kernel_has_private_expedited())
		assert_true(avail);
	print_message("membarrier %savailable\n", avail ? "" : "not ");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_destroy),
		cmocka_unit_test(test_destroy_bad),
		cmocka_unit_test(test_invalid_domains),
		cmocka_unit_test(test_reinit_same_address),
		cmocka_unit_test_setup_teardown(test_read_nesting, setup_domain,
						teardown_domain),
		cmocka_unit_test_setup_teardown(test_register_thread,
						setup_domain, teardown_domain),
		cmocka_unit_test_setup_teardown(test_unlock_without_lock,
						setup_domain, teardown_domain),
		cmocka_unit_test(test_aliased_domains),
		cmocka_unit_test_setup_teardown(test_synchronize_in_section,
						setup_domain, teardown_domain),
		cmocka_unit_test_setup_teardown(test_get_state_poll,
						setup_domain, teardown_domain),
		cmocka_unit_test_setup_teardown(test_poll_bogus_cookie,
						setup_domain, teardown_domain),
		cmocka_unit_test_setup_teardown(test_poll_cookie_max,
						setup_domain, teardown_domain),
		cmocka_unit_test_setup_teardown(test_start_poll_completes,
						setup_domain, teardown_domain),
		cmocka_unit_test_setup_teardown(test_start_poll_waits_for_reader,
						setup_domain, teardown_domain),
		cmocka_unit_test_setup_teardown(test_try_synchronize,
						setup_domain, teardown_domain),
		cmocka_unit_test_setup_teardown(test_try_synchronize_in_signal,
						setup_domain, teardown_domain),
		cmocka_unit_test_setup_teardown(test_call_bad, setup_domain,
						teardown_domain),
		cmocka_unit_test_setup_teardown(test_call_order, setup_domain,
						teardown_domain),
		cmocka_unit_test_setup_teardown(test_call_waits_for_reader,
						setup_domain, teardown_domain),
		cmocka_unit_test_setup_teardown(test_call_from_callback,
						setup_domain, teardown_domain),
		cmocka_unit_test_setup_teardown(test_callback_deadlock_checks,
						setup_domain, teardown_domain),
		cmocka_unit_test_setup_teardown(test_synchronize_from_callback,
						setup_domain, teardown_domain),
		cmocka_unit_test(test_destroy_runs_callbacks),
		cmocka_unit_test(test_destroy_busy),
		cmocka_unit_test_setup_teardown(test_events, setup_domain,
						teardown_domain),
		cmocka_unit_test_setup_teardown(test_stats, setup_domain,
						teardown_domain),
		cmocka_unit_test(test_membarrier_available),
	};

	return cmocka_run_group_tests_name("srcu_api", tests, NULL, NULL);
}
