// SPDX-License-Identifier: MIT
/*
 * tests/unit/test_srcu_domains.c - grace periods against readers on other threads.
 *
 * A reader of one domain must hold up that domain's grace periods and no
 * other's. The checks use polling and generous timeouts (seconds), never
 * tight wall-clock thresholds: "does not complete" is checked by seeing a
 * cookie still pending or a waiting thread still waiting after a while, and
 * "completes" by seeing it done well within TEST_PROMPT_MS.
 */
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <gpc/srcu.h>

#include "test_common.h"

/* ---- helper threads ---------------------------------------------------- */

/* Sits in a read section of @d until told to leave. */
struct holder {
	struct gpc_srcu *d;
	pthread_t thread;
	atomic_int inside;
	atomic_int release;
	atomic_int left;
};

static void *holder_main(void *arg)
{
	struct holder *h = arg;

	gpc_srcu_read_lock(h->d);
	atomic_store(&h->inside, 1);
	while (!atomic_load(&h->release))
		test_sleep_ms(1);
	gpc_srcu_read_unlock(h->d);
	atomic_store(&h->left, 1);
	return NULL;
}

static void holder_start(struct holder *h, struct gpc_srcu *d)
{
	memset(h, 0, sizeof(*h));
	h->d = d;
	assert_int_equal(pthread_create(&h->thread, NULL, holder_main, h), 0);
	assert_true(test_wait_flag(&h->inside, TEST_PROMPT_MS));
}

static void holder_stop(struct holder *h)
{
	atomic_store(&h->release, 1);
	assert_int_equal(pthread_join(h->thread, NULL), 0);
	assert_int_equal(atomic_load(&h->left), 1);
}

/* Runs one synchronize (or expedited) of @d and says when it returned. */
struct syncer {
	struct gpc_srcu *d;
	bool expedited;
	pthread_t thread;
	atomic_int done;
	atomic_int ret;
};

static void *syncer_main(void *arg)
{
	struct syncer *s = arg;

	atomic_store(&s->ret, s->expedited ?
				      gpc_srcu_synchronize_expedited(s->d) :
				      gpc_srcu_synchronize(s->d));
	atomic_store(&s->done, 1);
	return NULL;
}

static void syncer_start(struct syncer *s, struct gpc_srcu *d, bool exp)
{
	memset(s, 0, sizeof(*s));
	s->d = d;
	s->expedited = exp;
	assert_int_equal(pthread_create(&s->thread, NULL, syncer_main, s), 0);
}

/* Wait for the syncer to finish (it must, within seconds), and reap it. */
static void syncer_finish(struct syncer *s)
{
	assert_true(test_wait_flag(&s->done, TEST_PROMPT_MS));
	assert_int_equal(pthread_join(s->thread, NULL), 0);
	assert_int_equal(atomic_load(&s->ret), 0);
}

static int poll_until_done(struct gpc_srcu *d, uint64_t cookie)
{
	uint64_t end = test_now_ns() + TEST_PROMPT_MS * 1000000ULL;
	int r;

	while ((r = gpc_srcu_poll_state(d, cookie)) == 0 && test_now_ns() < end)
		test_sleep_ms(1);
	return r;
}

/* ---- tests ------------------------------------------------------------- */

/*
 * A thread sleeps inside a section of A. B's grace periods (all three ways
 * of waiting) complete promptly; A's do not until the reader leaves.
 */
static void test_reader_delays_only_its_domain(void **state)
{
	struct gpc_srcu a, b;
	struct holder h;
	struct syncer sa, sb, sbx;
	uint64_t ca, cb;

	(void)state;
	assert_int_equal(gpc_srcu_init(&a, NULL), 0);
	assert_int_equal(gpc_srcu_init(&b, NULL), 0);
	test_watchdog_arm(60, "reader of A vs grace periods of A and B");
	holder_start(&h, &a);

	ca = gpc_srcu_start_poll(&a);
	syncer_start(&sa, &a, false);
	syncer_start(&sb, &b, false);
	syncer_start(&sbx, &b, true);
	syncer_finish(&sb);
	syncer_finish(&sbx);
	cb = gpc_srcu_start_poll(&b);
	assert_int_equal(poll_until_done(&b, cb), 1);

	/* Meanwhile A is still waiting, however long we give it. */
	test_sleep_ms(300);
	assert_int_equal(atomic_load(&sa.done), 0);
	assert_int_equal(gpc_srcu_poll_state(&a, ca), 0);

	holder_stop(&h);
	syncer_finish(&sa);
	assert_int_equal(poll_until_done(&a, ca), 1);
	test_watchdog_disarm();

	assert_int_equal(gpc_srcu_destroy(&a), 0);
	assert_int_equal(gpc_srcu_destroy(&b), 0);
}

/*
 * More domains than entries in the per-thread slot cache: a reader parked
 * in one of them blocks that one alone, whichever entry it shares.
 */
static void test_many_domains(void **state)
{
	enum { N = GPC_SRCU_TLS_ENTRIES + 4 };
	/* aligned_alloc wants a multiple of the alignment. */
	struct gpc_srcu *d = aligned_alloc(GPC_CACHELINE,
					   (N * sizeof(*d) + GPC_CACHELINE -
					    1) & ~(size_t)(GPC_CACHELINE - 1));
	struct holder h;
	uint64_t held_cookie;
	int i, k = 3;

	(void)state;
	assert_non_null(d);
	for (i = 0; i < N; i++)
		assert_int_equal(gpc_srcu_init(&d[i], NULL), 0);
	/* This thread touches them all, filling its cache with collisions. */
	for (i = 0; i < N; i++) {
		gpc_srcu_read_lock(&d[i]);
		gpc_srcu_read_unlock(&d[i]);
	}
	test_watchdog_arm(60, "grace periods of %d domains, one held", N);
	holder_start(&h, &d[k]);
	held_cookie = gpc_srcu_start_poll(&d[k]);
	for (i = 0; i < N; i++) {
		if (i == k)
			continue;
		assert_int_equal(gpc_srcu_synchronize(&d[i]), 0);
	}
	assert_int_equal(gpc_srcu_poll_state(&d[k], held_cookie), 0);
	holder_stop(&h);
	assert_int_equal(poll_until_done(&d[k], held_cookie), 1);
	test_watchdog_disarm();
	for (i = 0; i < N; i++)
		assert_int_equal(gpc_srcu_destroy(&d[i]), 0);
	free(d);
}

/*
 * A plain synchronize that has to wait long sleeps on the futex (and is
 * woken by the reader's unlock); an expedited one never sleeps there.
 */
static void test_sleeping_and_expedited_waits(void **state)
{
	struct gpc_srcu d;
	struct gpc_srcu_stats st0, st1, st2;
	struct holder h;
	struct syncer s;
	uint64_t t0;

	(void)state;
	assert_int_equal(gpc_srcu_init(&d, NULL), 0);
	test_watchdog_arm(60, "sleeping and expedited waits");

	holder_start(&h, &d);
	assert_int_equal(gpc_srcu_get_stats(&d, &st0), 0);
	syncer_start(&s, &d, false);
	test_sleep_ms(200);
	assert_int_equal(atomic_load(&s.done), 0);
	t0 = test_now_ns();
	holder_stop(&h);
	syncer_finish(&s);
	print_message("plain wait ended %.1f ms after the unlock\n",
		      (test_now_ns() - t0) / 1e6);
	assert_int_equal(gpc_srcu_get_stats(&d, &st1), 0);
	assert_true(st1.sleeps > st0.sleeps);

	holder_start(&h, &d);
	syncer_start(&s, &d, true);
	test_sleep_ms(200);
	assert_int_equal(atomic_load(&s.done), 0);
	holder_stop(&h);
	syncer_finish(&s);
	assert_int_equal(gpc_srcu_get_stats(&d, &st2), 0);
	assert_int_equal(st2.sleeps, st1.sleeps);
	test_watchdog_disarm();

	assert_int_equal(gpc_srcu_destroy(&d), 0);
}

struct churner {
	struct gpc_srcu *d;
	pthread_t thread;
	atomic_int stop;
	atomic_long sections;
};

/* Back-to-back short sections (with a yield inside) until told to stop. */
static void *churner_main(void *arg)
{
	struct churner *c = arg;

	while (!atomic_load(&c->stop)) {
		gpc_srcu_read_lock(c->d);
		sched_yield();
		gpc_srcu_read_unlock(c->d);
		atomic_fetch_add(&c->sections, 1);
	}
	return NULL;
}

/*
 * A grace period held up by one long reader while another thread runs
 * thousands of sections it does not wait for (they began after it): those
 * sections must not wake it, and however often it sleeps it issues at
 * most two membarriers (one per phase). The protocol before this one woke
 * the updater at every unlock and issued a membarrier per re-sleep.
 */
static void test_wait_ignores_sections_it_does_not_wait_for(void **state)
{
	struct gpc_srcu d;
	struct gpc_srcu_stats st0, st1;
	struct churner c = { .d = &d };
	struct holder h;
	struct syncer s;

	(void)state;
	assert_int_equal(gpc_srcu_init(&d, NULL), 0);
	test_watchdog_arm(60, "a long reader and unrelated sections");
	holder_start(&h, &d);
	assert_int_equal(pthread_create(&c.thread, NULL, churner_main, &c), 0);
	assert_int_equal(gpc_srcu_get_stats(&d, &st0), 0);
	syncer_start(&s, &d, false);
	test_sleep_ms(300);
	assert_int_equal(atomic_load(&s.done), 0);
	holder_stop(&h);
	syncer_finish(&s);
	assert_int_equal(gpc_srcu_get_stats(&d, &st1), 0);
	atomic_store(&c.stop, 1);
	assert_int_equal(pthread_join(c.thread, NULL), 0);
	print_message(
		"%ld unrelated sections; %llu membarriers, %llu sleeps, %llu wakes\n",
		atomic_load(&c.sections),
		(unsigned long long)(st1.membarriers - st0.membarriers),
		(unsigned long long)(st1.sleeps - st0.sleeps),
		(unsigned long long)(st1.reader_wakes - st0.reader_wakes));
	assert_true(atomic_load(&c.sections) > 100);
	assert_true(st1.membarriers - st0.membarriers <= 2);
	/*
	 * Woken by the holder and by at most the one section the churner had
	 * open when the phase it drains began (both are waited for), not by
	 * the later ones; at most a timeout or two on top.
	 */
	assert_true(st1.sleeps - st0.sleeps <= 3);
	assert_true(st1.reader_wakes - st0.reader_wakes <= 2);
	test_watchdog_disarm();
	assert_int_equal(gpc_srcu_destroy(&d), 0);
}

/*
 * destroy() while another thread is inside: refused, domain intact, and
 * accepted once the reader has left.
 */
static void test_destroy_busy_other_thread(void **state)
{
	struct gpc_srcu d;
	struct holder h;
	struct syncer s;
	uint64_t c;

	(void)state;
	test_log_capture();
	assert_int_equal(gpc_srcu_init(&d, NULL), 0);
	test_watchdog_arm(60, "destroy with a reader on another thread");
	holder_start(&h, &d);
	c = gpc_srcu_get_state(&d);
	assert_int_equal(gpc_srcu_destroy(&d), -EBUSY);
	assert_true(test_log_count(GPC_LOG_ERR) + test_log_count(GPC_LOG_WARN) >
		    0);

	/* Still a live domain that waits for its reader. */
	syncer_start(&s, &d, false);
	test_sleep_ms(100);
	assert_int_equal(atomic_load(&s.done), 0);
	assert_int_equal(gpc_srcu_poll_state(&d, c), 0);
	holder_stop(&h);
	syncer_finish(&s);
	assert_int_equal(gpc_srcu_poll_state(&d, c), 1);
	test_watchdog_disarm();
	assert_int_equal(gpc_srcu_destroy(&d), 0);
}

/* ---- concurrent updaters ------------------------------------------------ */

struct hammer {
	struct gpc_srcu *d;
	int calls;
	atomic_int errors;
	atomic_int *stop;
};

static void *sync_hammer(void *arg)
{
	struct hammer *h = arg;
	int i;

	for (i = 0; i < h->calls; i++) {
		int r = (i & 1) ? gpc_srcu_synchronize(h->d) :
				  gpc_srcu_synchronize_expedited(h->d);
		if (r)
			atomic_fetch_add(&h->errors, 1);
	}
	return NULL;
}

static void *read_hammer(void *arg)
{
	struct hammer *h = arg;

	while (!atomic_load_explicit(h->stop, memory_order_relaxed)) {
		gpc_srcu_read_lock(h->d);
		gpc_srcu_read_lock(h->d);
		gpc_srcu_read_unlock(h->d);
		gpc_srcu_read_unlock(h->d);
	}
	return NULL;
}

/*
 * Concurrent synchronize calls on one domain, with readers running: all
 * return 0, and every call either ran a grace period or shared another's.
 */
static void test_concurrent_synchronize(void **state)
{
	enum { W = 3 };
	struct gpc_srcu d;
	struct gpc_srcu_stats st;
	struct hammer h[W], rh;
	pthread_t wt[W], rt;
	atomic_int stop = 0;
	int i, calls = (int)test_iters(300);

	(void)state;
	assert_int_equal(gpc_srcu_init(&d, NULL), 0);
	rh = (struct hammer){ .d = &d, .stop = &stop };
	assert_int_equal(pthread_create(&rt, NULL, read_hammer, &rh), 0);
	test_watchdog_arm(60, "concurrent synchronize");
	for (i = 0; i < W; i++) {
		h[i] = (struct hammer){ .d = &d, .calls = calls };
		assert_int_equal(
			pthread_create(&wt[i], NULL, sync_hammer, &h[i]), 0);
	}
	for (i = 0; i < W; i++)
		assert_int_equal(pthread_join(wt[i], NULL), 0);
	atomic_store(&stop, 1);
	assert_int_equal(pthread_join(rt, NULL), 0);
	test_watchdog_disarm();

	for (i = 0; i < W; i++)
		assert_int_equal(atomic_load(&h[i].errors), 0);
	assert_int_equal(gpc_srcu_get_stats(&d, &st), 0);
	print_message("%d calls: %llu grace periods, %llu shared\n", W * calls,
		      (unsigned long long)st.gp_completed,
		      (unsigned long long)st.gp_shared);
	assert_true(st.gp_completed >= 1);
	assert_true(st.gp_completed <= (uint64_t)W * calls);
	assert_true(st.gp_completed + st.gp_shared >= (uint64_t)W * calls);
	assert_int_equal(gpc_srcu_destroy(&d), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reader_delays_only_its_domain),
		cmocka_unit_test(test_many_domains),
		cmocka_unit_test(test_sleeping_and_expedited_waits),
		cmocka_unit_test(test_destroy_busy_other_thread),
		cmocka_unit_test(test_concurrent_synchronize),
		cmocka_unit_test(
			test_wait_ignores_sections_it_does_not_wait_for),
	};

	return cmocka_run_group_tests_name("srcu_domains", tests, NULL, NULL);
}
