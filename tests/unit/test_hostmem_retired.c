// SPDX-License-Identifier: MIT
/*
 * tests/unit/test_hostmem_retired.c - what gpc_hostmem_migrate() leaves
 * behind (issue #11: "migrating 64 MiB left +127 MiB of shmem").
 *
 * Built twice: test_hostmem_retired links the installed library
 * (gpc_static), which must keep nothing of the replaced pages; and
 * test_hostmem_retired_testing links gpc_testing, which keeps one retired
 * copy (for gpc_hostmem_retired_page()) - the differential half that shows
 * the measurement sees a retired copy when there is one.
 *
 * Measured after migrating a touched region: the bytes of this process's
 * mappings of the manager's memfds (/proc/self/maps), and the memory held
 * by its open memfds (st_blocks through /proc/self/fd).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <gpc/gpc.h>
#ifdef GPC_TESTING
#include "gpc_testing.h"
#endif

#define SIZE (16ull << 20)
#define NAME "memfd:gpc-guest-ram"

/* Bytes of address space mapping the manager's memfds. */
static uint64_t mapped_bytes(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	uint64_t sum = 0;

	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;

		if (strstr(line, NAME) &&
		    sscanf(line, "%lx-%lx", &lo, &hi) == 2)
			sum += hi - lo;
	}
	fclose(f);
	return sum;
}

/* Bytes of memory allocated to the manager's open memfds. */
static uint64_t memfd_bytes(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	uint64_t sum = 0;

	assert_non_null(d);
	while ((e = readdir(d))) {
		char path[300], link[256];
		struct stat st;
		ssize_t n;

		snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
		n = readlink(path, link, sizeof(link) - 1);
		if (n <= 0)
			continue;
		link[n] = 0;
		if (!strstr(link, NAME) || stat(path, &st))
			continue;
		sum += (uint64_t)st.st_blocks * 512;
	}
	closedir(d);
	return sum;
}

static void test_migrate_keeps_nothing(void **state)
{
	struct gpc_hostmem *hm;
	uint64_t map0, fd0, map1, fd1;
	char *p;
	void *v;

	(void)state;
	assert_int_equal(gpc_hostmem_create(&hm), 0);
	assert_int_equal(gpc_hostmem_alloc(hm, SIZE, &v), 0);
	p = v;
	memset(p, 'm', SIZE);
	map0 = mapped_bytes();
	fd0 = memfd_bytes();
	assert_int_equal(map0, SIZE);
	assert_true(fd0 >= SIZE && fd0 <= SIZE + (1 << 20));
	assert_int_equal(gpc_hostmem_migrate(NULL, hm, (uintptr_t)p, SIZE), 0);
	assert_true(p[0] == 'm' && p[SIZE - 1] == 'm');
	map1 = mapped_bytes();
	fd1 = memfd_bytes();
	print_message("before migrate: %" PRIu64 " KiB mapped, %" PRIu64
		      " KiB in memfds; after: %" PRIu64 " KiB, %" PRIu64
		      " KiB\n",
		      map0 >> 10, fd0 >> 10, map1 >> 10, fd1 >> 10);
	/* The new pages are all the open memfds hold: the old file is gone. */
	assert_true(fd1 >= SIZE && fd1 <= SIZE + (1 << 20));
#ifdef GPC_TESTING
	/* The test build maps the old pages read-only: one retired copy. */
	assert_int_equal(map1, 2 * SIZE);
	assert_non_null(gpc_hostmem_retired_page(hm, (uintptr_t)p));
#else
	assert_int_equal(map1, SIZE);
#endif
	assert_int_equal(gpc_hostmem_destroy(hm), 0);
	assert_int_equal(mapped_bytes(), 0);
	assert_int_equal(memfd_bytes(), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_migrate_keeps_nothing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
