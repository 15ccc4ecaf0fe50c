// SPDX-License-Identifier: MIT
/*
 * tests/scenarios/test_nonblock_busy.c - a non-blocking invalidation that is retried on
 * -EAGAIN completes while writer threads keep refreshing the caches it
 * clears (gpc/invalidate.h, "pending mark").
 *
 * Writers do what every fast-path user does: begin, write one word, end;
 * on a miss, refresh at once. Without the pending mark each -EAGAIN left
 * the caches invalid, the writers validated them again right away, and the
 * retry found freshly valid caches that needed a new grace period: on the
 * srcu scheme a retried invalidation practically never succeeded. With it,
 * the writers wait on the mark, and the retry succeeds once the readers of
 * before have left.
 *
 * What is asserted is a count, not a time: every one of ROUNDS invalidations
 * succeeds within MAX_TRIES attempts (1 ms apart), on both schemes, with 1,
 * 2 and 4 writers. The bound is loose on purpose (a loaded or sanitized
 * machine runs grace periods slowly); the median and maximum are printed.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>
#include <gpc/gpc.h>

#include "test_common.h"

#define GPA_BASE  0x100000ull
#define RAM_SIZE  (64u << 10)
#define ROUNDS	  20
#define MAX_TRIES 1000
#define MAX_WR	  4

struct busy {
	struct gpc_vm *vm;
	uint8_t *ram;
	struct gpc_cache c[MAX_WR];
	_Atomic int stop;
	_Atomic uint64_t hits, refreshes;
	int errors;
};

struct writer {
	struct busy *b;
	int i;
};

static void *writer_fn(void *arg)
{
	struct writer *w = arg;
	struct busy *b = w->b;
	struct gpc_cache *c = &b->c[w->i];

	while (!atomic_load_explicit(&b->stop, memory_order_relaxed)) {
		struct gpc_guard g;
		uint64_t *p = gpc_cache_begin(c, 0, 8, &g);

		if (p) {
			*p += 1;
			gpc_cache_end(c, &g);
			atomic_fetch_add_explicit(&b->hits, 1,
						  memory_order_relaxed);
			continue;
		}
		if (gpc_cache_refresh(c, 0))
			b->errors++;
		atomic_fetch_add_explicit(&b->refreshes, 1,
					  memory_order_relaxed);
	}
	return NULL;
}

static int cmp_int(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

/* One invalidation of the writers' page, retried 1 ms apart: attempts. */
static int retried_inval(struct busy *b, uint64_t hva, long ps)
{
	int tries = 1, err;

	while ((err = gpc_invalidate_range_start(
			b->vm, hva, hva + ps, GPC_INVAL_NONBLOCK)) == -EAGAIN &&
	       tries < MAX_TRIES) {
		tries++;
		test_sleep_ms(1);
	}
	if (err) {
		gpc_invalidate_range_cancel(b->vm, hva, hva + ps);
		return MAX_TRIES + 1;
	}
	assert_int_equal(gpc_invalidate_range_end(b->vm, hva, hva + ps), 0);
	return tries;
}

static void busy_run(enum gpc_scheme scheme, int nwr)
{
	struct gpc_vm_config cfg = { .scheme = scheme, .name = "busy" };
	struct writer w[MAX_WR];
	pthread_t th[MAX_WR];
	int tries[ROUNDS], i;
	long ps = sysconf(_SC_PAGESIZE);
	struct busy b = { 0 };

	b.ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(b.ram != MAP_FAILED);
	assert_int_equal(gpc_vm_create(&cfg, &b.vm), 0);
	assert_int_equal(gpc_memslot_create(b.vm, 0, GPA_BASE, RAM_SIZE,
					    (uintptr_t)b.ram, 0),
			 0);
	for (i = 0; i < nwr; i++) {
		assert_int_equal(gpc_cache_init(&b.c[i], b.vm, GPC_USAGE_HOST,
						NULL, 0),
				 0);
		assert_int_equal(gpc_cache_activate_gpa(&b.c[i],
							GPA_BASE + 8 * i, 8),
				 0);
		w[i] = (struct writer){ &b, i };
		assert_int_equal(pthread_create(&th[i], NULL, writer_fn, &w[i]),
				 0);
	}
	test_sleep_ms(5);
	for (i = 0; i < ROUNDS; i++) {
		tries[i] = retried_inval(&b, (uintptr_t)b.ram, ps);
		test_sleep_ms(1);
	}
	atomic_store(&b.stop, 1);
	for (i = 0; i < nwr; i++)
		pthread_join(th[i], NULL);
	qsort(tries, ROUNDS, sizeof(tries[0]), cmp_int);
	printf("# %s, %d writer(s): attempts per invalidation p50 %d max %d "
	       "(hits %llu, refreshes %llu)\n",
	       scheme == GPC_SCHEME_SRCU ? "srcu" : "rwlock", nwr,
	       tries[ROUNDS / 2], tries[ROUNDS - 1], (unsigned long long)b.hits,
	       (unsigned long long)b.refreshes);
	for (i = 0; i < nwr; i++)
		assert_int_equal(gpc_cache_destroy(&b.c[i]), 0);
	assert_int_equal(gpc_vm_destroy(b.vm), 0);
	munmap(b.ram, RAM_SIZE);
	assert_int_equal(b.errors, 0);
	assert_true(tries[ROUNDS - 1] <= MAX_TRIES);
}

static void srcu_1(void **s)
{
	(void)s;
	busy_run(GPC_SCHEME_SRCU, 1);
}
static void srcu_2(void **s)
{
	(void)s;
	busy_run(GPC_SCHEME_SRCU, 2);
}
static void srcu_4(void **s)
{
	(void)s;
	busy_run(GPC_SCHEME_SRCU, 4);
}
static void rwlock_1(void **s)
{
	(void)s;
	busy_run(GPC_SCHEME_RWLOCK, 1);
}
static void rwlock_2(void **s)
{
	(void)s;
	busy_run(GPC_SCHEME_RWLOCK, 2);
}
static void rwlock_4(void **s)
{
	(void)s;
	busy_run(GPC_SCHEME_RWLOCK, 4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(srcu_1),   cmocka_unit_test(srcu_2),
		cmocka_unit_test(srcu_4),   cmocka_unit_test(rwlock_1),
		cmocka_unit_test(rwlock_2), cmocka_unit_test(rwlock_4),
	};

	return cmocka_run_group_tests_name("nonblock_busy", tests, NULL, NULL);
}
