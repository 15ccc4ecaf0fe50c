// SPDX-License-Identifier: MIT
/*
 * tests/unit/test_srcu_stall.c - the stall report of a long grace period.
 *
 * With stall_ms = 200, a reader that holds its section for about a second
 * while synchronize() waits must produce exactly one report (a warning or
 * an error that mentions the stall) and stats.stalls == 1: one report per
 * stalled grace period, not one per check.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <gpc/srcu.h>

#include "test_common.h"

#define HOLD_MS 1000

struct holder {
	struct gpc_srcu *d;
	unsigned int hold_ms;
	atomic_int inside;
};

static void *holder_main(void *arg)
{
	struct holder *h = arg;

	gpc_srcu_read_lock(h->d);
	atomic_store(&h->inside, 1);
	test_sleep_ms(h->hold_ms);
	gpc_srcu_read_unlock(h->d);
	return NULL;
}

static unsigned int stall_reports(void)
{
	/* Level WARN or more severe (ERR), text mentioning the stall. */
	return test_log_matching(GPC_LOG_WARN, "stall");
}

static void test_stall_reported_once(void **state)
{
	struct gpc_srcu_attr attr = { .name = "stalltest", .stall_ms = 200 };
	struct gpc_srcu d;
	struct gpc_srcu_stats st;
	struct holder h = { .d = &d, .hold_ms = HOLD_MS };
	pthread_t t;

	(void)state;
	test_log_capture();
	assert_int_equal(gpc_srcu_init(&d, &attr), 0);
	assert_int_equal(pthread_create(&t, NULL, holder_main, &h), 0);
	assert_true(test_wait_flag(&h.inside, TEST_PROMPT_MS));

	test_watchdog_arm(30, "synchronize against a 1 s reader");
	assert_int_equal(gpc_srcu_synchronize(&d), 0);
	test_watchdog_disarm();
	assert_int_equal(pthread_join(t, NULL), 0);
	/* Give a report from another thread time to land. */
	test_sleep_ms(100);

	assert_int_equal(gpc_srcu_get_stats(&d, &st), 0);
	if (stall_reports() != 1 || st.stalls != 1)
		test_log_dump();
	assert_int_equal(stall_reports(), 1);
	assert_int_equal(
		test_log_count(GPC_LOG_ERR) + test_log_count(GPC_LOG_WARN), 1);
	assert_int_equal(st.stalls, 1);
	if (!test_log_matching(GPC_LOG_WARN, "stalltest"))
		print_message("note: the stall report does not name the "
			      "domain\n");

	/* A quick grace period afterwards reports nothing more. */
	assert_int_equal(gpc_srcu_synchronize(&d), 0);
	assert_int_equal(gpc_srcu_get_stats(&d, &st), 0);
	assert_int_equal(st.stalls, 1);
	assert_int_equal(stall_reports(), 1);
	assert_int_equal(gpc_srcu_destroy(&d), 0);
}

/* Below the threshold: no report at all. */
static void test_no_stall_below_threshold(void **state)
{
	struct gpc_srcu_attr attr = { .name = "nostall", .stall_ms = 5000 };
	struct gpc_srcu d;
	struct gpc_srcu_stats st;
	struct holder h = { .d = &d, .hold_ms = 200 };
	pthread_t t;

	(void)state;
	test_log_capture();
	assert_int_equal(gpc_srcu_init(&d, &attr), 0);
	assert_int_equal(pthread_create(&t, NULL, holder_main, &h), 0);
	assert_true(test_wait_flag(&h.inside, TEST_PROMPT_MS));
	test_watchdog_arm(30, "synchronize against a 200 ms reader");
	assert_int_equal(gpc_srcu_synchronize(&d), 0);
	test_watchdog_disarm();
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(gpc_srcu_get_stats(&d, &st), 0);
	assert_int_equal(st.stalls, 0);
	assert_int_equal(stall_reports(), 0);
	assert_int_equal(gpc_srcu_destroy(&d), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stall_reported_once),
		cmocka_unit_test(test_no_stall_below_threshold),
	};

	return cmocka_run_group_tests_name("srcu_stall", tests, NULL, NULL);
}
