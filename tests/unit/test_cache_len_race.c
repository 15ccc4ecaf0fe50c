// SPDX-License-Identifier: MIT
/*
 * tests/unit/test_cache_len_race.c - gpc_cache_read/_write/_copy racing with activate,
 * deactivate, refresh with a new length and invalidations, on shared caches.
 *
 * The copy calls check the requested length of the cache on a miss; that
 * length is written by activate and by a refresh that changes it. Checked
 * without the cache's refresh lock it was a data race (ThreadSanitizer
 * reported it on both schemes); this test is the reproducer, for the TSan
 * stage of `make check`. In a plain build it checks that every call returns
 * one of its documented results and that what is read is what was written.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>
#include <gpc/gpc.h>

#include "test_common.h"

#define GPA_BASE 0x100000ull
#define RAM_SIZE (64u << 10)
#define RUN_MS	 300

struct race {
	struct gpc_vm *vm;
	uint8_t *ram;
	struct gpc_cache a, b;
	_Atomic int stop;
	_Atomic int bad; /* an undocumented result */
};

static bool ok_result(int r)
{
	return r == 0 || r == -EINVAL || r == -EAGAIN;
}

/* Activate, change the length, deactivate, over and over. */
static void *control_fn(void *arg)
{
	struct race *r = arg;

	for (unsigned int i = 0; !atomic_load(&r->stop); i++) {
		struct gpc_cache *c = i & 1 ? &r->a : &r->b;
		uint64_t len = 8 << (i % 3);

		switch (i % 4) {
		case 0:
			gpc_cache_activate_gpa(c, GPA_BASE, len);
			break;
		case 1:
		case 2:
			gpc_cache_refresh(c, len);
			break;
		default:
			gpc_cache_deactivate(c);
			break;
		}
	}
	return NULL;
}

/* Reads, writes and copies through both caches. */
static void *copier_fn(void *arg)
{
	struct race *r = arg;
	uint64_t v;

	for (uint64_t i = 0; !atomic_load(&r->stop); i++) {
		int e1 = gpc_cache_write(&r->a, 0, &i, 8);
		int e2 = gpc_cache_read(&r->b, 0, &v, 8);
		int e3 = gpc_cache_copy(&r->b, 8, &r->a, 0, 8);

		if (!ok_result(e1) || !ok_result(e2) || !ok_result(e3))
			atomic_store(&r->bad, 1);
	}
	return NULL;
}

/* Invalidations of the caches' page, so that the copies miss. */
static void *inval_fn(void *arg)
{
	struct race *r = arg;
	uint64_t h = (uintptr_t)r->ram;

	while (!atomic_load(&r->stop)) {
		if (!gpc_invalidate_range_start(r->vm, h, h + 64, 0))
			gpc_invalidate_range_end(r->vm, h, h + 64);
		test_sleep_ms(1);
	}
	return NULL;
}

static void race_run(enum gpc_scheme scheme)
{
	struct gpc_vm_config cfg = { .scheme = scheme, .name = "lenrace" };
	void *(*fns[])(void *) = { control_fn, copier_fn, copier_fn, inval_fn };
	pthread_t th[4];
	struct race r = { 0 };
	uint64_t v = 0x1122334455667788ull, got = 0;

	r.ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(r.ram != MAP_FAILED);
	assert_int_equal(gpc_vm_create(&cfg, &r.vm), 0);
	assert_int_equal(gpc_memslot_create(r.vm, 0, GPA_BASE, RAM_SIZE,
					    (uintptr_t)r.ram, 0),
			 0);
	assert_int_equal(gpc_cache_init(&r.a, r.vm, GPC_USAGE_HOST, NULL, 0),
			 0);
	assert_int_equal(gpc_cache_init(&r.b, r.vm, GPC_USAGE_HOST, NULL, 0),
			 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&th[i], NULL, fns[i], &r), 0);
	test_sleep_ms(RUN_MS);
	atomic_store(&r.stop, 1);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(atomic_load(&r.bad), 0);
	/* Quiet again: a write is read back through the other cache. */
	assert_int_equal(gpc_cache_activate_gpa(&r.a, GPA_BASE, 16), 0);
	assert_int_equal(gpc_cache_activate_gpa(&r.b, GPA_BASE, 16), 0);
	assert_int_equal(gpc_cache_write(&r.a, 0, &v, 8), 0);
	assert_int_equal(gpc_cache_read(&r.b, 0, &got, 8), 0);
	assert_int_equal(got, v);
	assert_int_equal(gpc_cache_read(&r.b, 12, &got, 8), -EINVAL);
	assert_int_equal(gpc_cache_destroy(&r.a), 0);
	assert_int_equal(gpc_cache_destroy(&r.b), 0);
	assert_int_equal(gpc_vm_destroy(r.vm), 0);
	munmap(r.ram, RAM_SIZE);
}

static void srcu(void **s)
{
	(void)s;
	race_run(GPC_SCHEME_SRCU);
}

static void rwlock(void **s)
{
	(void)s;
	race_run(GPC_SCHEME_RWLOCK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(srcu),
		cmocka_unit_test(rwlock),
	};

	return cmocka_run_group_tests_name("cache_len_race", tests, NULL, NULL);
}
