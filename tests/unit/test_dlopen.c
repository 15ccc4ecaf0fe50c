// SPDX-License-Identifier: MIT
/*
 * test_dlopen.c - libgpc loads with dlopen() and its read side works there.
 *
 * The SRCU lookaside table is initial-exec TLS (a signal handler must not
 * reach __tls_get_addr, which may allocate). A library loaded with dlopen()
 * gets such TLS from the small surplus glibc reserves at startup, so the
 * table must stay small enough to fit it; this test fails when it does not
 * ("cannot allocate memory in static TLS block"). The program does not link
 * libgpc: it loads the shared library named by GPC_SHARED_LIB.
 */
#include <dlfcn.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include <gpc/srcu.h>

typedef int (*dom_fn)(struct gpc_srcu *);
typedef int (*init_fn)(struct gpc_srcu *, const struct gpc_srcu_attr *);

static void *sym(void *h, const char *name)
{
	void *p = dlsym(h, name);

	if (!p)
		fail_msg("dlsym %s: %s", name, dlerror());
	return p;
}

static void loads_and_runs(void **state)
{
	void *h = dlopen(GPC_SHARED_LIB, RTLD_NOW | RTLD_LOCAL);
	struct gpc_srcu d;

	(void)state;
	if (!h)
		fail_msg("dlopen %s: %s", GPC_SHARED_LIB, dlerror());
	assert_int_equal(((init_fn)sym(h, "gpc_srcu_init"))(&d, NULL), 0);
	/* Claims this thread's slot: the library's TLS is touched. */
	assert_int_equal(((dom_fn)sym(h, "gpc_srcu_register_thread"))(&d), 0);
	assert_int_equal(((dom_fn)sym(h, "gpc_srcu_synchronize"))(&d), 0);
	assert_int_equal(((dom_fn)sym(h, "gpc_srcu_destroy"))(&d), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(loads_and_runs),
	};

	return cmocka_run_group_tests_name("dlopen", tests, NULL, NULL);
}
