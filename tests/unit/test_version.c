// SPDX-License-Identifier: MIT
/*
 * test_version.c - gpc/version.h and the runtime version query agree with
 * each other and with the project version CMake read from the header.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <gpc/gpc.h>

/* The library answers with the version of the header it was built from. */
static void test_runtime_matches_header(void **state)
{
	(void)state;
	assert_string_equal(gpc_version(), GPC_VERSION_STRING);
	assert_int_equal(gpc_version_number(), GPC_VERSION);
}

/* The string and the number are the same three parts. */
static void test_string_and_number(void **state)
{
	unsigned int major, minor, patch;
	char end;

	(void)state;
	assert_int_equal(sscanf(gpc_version(), "%u.%u.%u%c", &major, &minor,
				&patch, &end),
			 3);
	assert_int_equal(major, GPC_VERSION_MAJOR);
	assert_int_equal(minor, GPC_VERSION_MINOR);
	assert_int_equal(patch, GPC_VERSION_PATCH);
	assert_int_equal(gpc_version_number(),
			 GPC_VERSION_NUM(major, minor, patch));
}

/* Comparable: a later release is a larger number, in every part. */
static void test_ordering(void **state)
{
	(void)state;
	assert_true(GPC_VERSION_NUM(0, 2, 0) > GPC_VERSION_NUM(0, 1, 9));
	assert_true(GPC_VERSION_NUM(1, 0, 0) > GPC_VERSION_NUM(0, 255, 255));
	assert_true(GPC_VERSION_NUM(0, 2, 1) > GPC_VERSION_NUM(0, 2, 0));
	/* This API is release 0.2. */
	assert_true(GPC_VERSION >= GPC_VERSION_NUM(0, 2, 0));
}

/* CMake's project version (GPC_PROJECT_VERSION) was read from the header. */
static void test_project_version(void **state)
{
	(void)state;
	assert_string_equal(GPC_PROJECT_VERSION, GPC_VERSION_STRING);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_runtime_matches_header),
		cmocka_unit_test(test_string_and_number),
		cmocka_unit_test(test_ordering),
		cmocka_unit_test(test_project_version),
	};

	return cmocka_run_group_tests_name("version", tests, NULL, NULL);
}
