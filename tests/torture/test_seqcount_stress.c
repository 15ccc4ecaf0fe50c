// SPDX-License-Identifier: MIT
/*
 * tests/torture/test_seqcount_stress.c - the seqcount across threads.
 *
 * A writer keeps rewriting a group of fields that must always be seen as a
 * consistent set ((x, -x) pairs); readers must never accept an inconsistent
 * snapshot, and a bounded reader must never wait for a writer, even one that
 * sleeps inside its write section.
 */
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <gpc/seqcount.h>

#include "test_common.h"

#define NFIELDS 4

/* Fields live on separate cache lines to widen the window for tearing. */
struct snap {
	struct gpc_seqcount seq;
	struct {
		_Atomic long x;
		_Atomic long y;
	} gpc_cacheline_aligned f[NFIELDS];
};

struct stress {
	struct snap s;
	atomic_int stop;
	atomic_long writes;
	atomic_long accepted;
	atomic_long retried;
	atomic_long torn;
	atomic_long misses;
};

/* The fields' cache-line alignment must hold on the heap too (UBSan). */
static void *zalloc_aligned(size_t size)
{
	size_t rounded = (size + GPC_CACHELINE - 1) &
			 ~(size_t)(GPC_CACHELINE - 1);
	void *p = aligned_alloc(GPC_CACHELINE, rounded);

	if (p)
		memset(p, 0, rounded);
	return p;
}

static void write_all(struct snap *s, long v)
{
	int i;

	for (i = 0; i < NFIELDS; i++) {
		atomic_store_explicit(&s->f[i].x, v + i, memory_order_relaxed);
		atomic_store_explicit(&s->f[i].y, -(v + i),
				      memory_order_relaxed);
	}
}

/* Consistent iff every pair is (v + i, -(v + i)) for one v. */
static bool consistent(const long *x, const long *y)
{
	int i;

	for (i = 0; i < NFIELDS; i++)
		if (x[i] != -y[i] || x[i] != x[0] + i)
			return false;
	return true;
}

static void read_fields(struct snap *s, long *x, long *y)
{
	int i;

	for (i = 0; i < NFIELDS; i++) {
		x[i] = atomic_load_explicit(&s->f[i].x, memory_order_relaxed);
		y[i] = atomic_load_explicit(&s->f[i].y, memory_order_relaxed);
	}
}

static void *writer(void *arg)
{
	struct stress *st = arg;
	long v = 0;

	while (!atomic_load_explicit(&st->stop, memory_order_relaxed)) {
		gpc_seqcount_write_begin(&st->s.seq);
		v++;
		write_all(&st->s, v);
		gpc_seqcount_write_end(&st->s.seq);
		atomic_fetch_add_explicit(&st->writes, 1, memory_order_relaxed);
		/* Let readers in now and then: one writer, two cores. */
		if (!(v & 255))
			sched_yield();
	}
	return NULL;
}

static void *spinning_reader(void *arg)
{
	struct stress *st = arg;
	long x[NFIELDS], y[NFIELDS];
	unsigned int seq;

	while (!atomic_load_explicit(&st->stop, memory_order_relaxed)) {
		seq = gpc_seqcount_read_begin(&st->s.seq);
		read_fields(&st->s, x, y);
		if (gpc_seqcount_read_retry(&st->s.seq, seq)) {
			atomic_fetch_add_explicit(&st->retried, 1,
						  memory_order_relaxed);
			continue;
		}
		atomic_fetch_add_explicit(&st->accepted, 1,
					  memory_order_relaxed);
		if (!consistent(x, y))
			atomic_fetch_add(&st->torn, 1);
	}
	return NULL;
}

static void *bounded_reader(void *arg)
{
	struct stress *st = arg;
	long x[NFIELDS], y[NFIELDS];

	while (!atomic_load_explicit(&st->stop, memory_order_relaxed)) {
		int tries = GPC_SEQCOUNT_TRIES;
		unsigned int seq;
		bool ok = false;

		while (gpc_seqcount_read_bounded_begin(&st->s.seq, &seq,
						       &tries)) {
			read_fields(&st->s, x, y);
			if (!gpc_seqcount_read_retry(&st->s.seq, seq)) {
				ok = true;
				break;
			}
		}
		if (!ok) {
			atomic_fetch_add_explicit(&st->misses, 1,
						  memory_order_relaxed);
			continue;
		}
		atomic_fetch_add_explicit(&st->accepted, 1,
					  memory_order_relaxed);
		if (!consistent(x, y))
			atomic_fetch_add(&st->torn, 1);
	}
	return NULL;
}

static void run_stress(void *(*reader)(void *), unsigned int ms)
{
	struct stress *st = zalloc_aligned(sizeof(*st));
	pthread_t w, r[2];
	int i;

	assert_non_null(st);
	gpc_seqcount_init(&st->s.seq);
	write_all(&st->s, 0);

	assert_int_equal(pthread_create(&w, NULL, writer, st), 0);
	for (i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&r[i], NULL, reader, st), 0);
	test_sleep_ms(ms);
	atomic_store(&st->stop, 1);
	test_watchdog_arm(30, "joining seqcount stress threads");
	pthread_join(w, NULL);
	for (i = 0; i < 2; i++)
		pthread_join(r[i], NULL);
	test_watchdog_disarm();

	print_message("writes %ld accepted %ld retried %ld misses %ld\n",
		      atomic_load(&st->writes), atomic_load(&st->accepted),
		      atomic_load(&st->retried), atomic_load(&st->misses));
	assert_int_equal(atomic_load(&st->torn), 0);
	assert_true(atomic_load(&st->writes) > 0);
	assert_true(atomic_load(&st->accepted) > 0);
	free(st);
}

static void test_spinning_consistency(void **state)
{
	(void)state;
	run_stress(spinning_reader, (unsigned int)test_iters(1000));
}

static void test_bounded_consistency(void **state)
{
	(void)state;
	run_stress(bounded_reader, (unsigned int)test_iters(1000));
}

/* ---- the bounded reader never waits ----------------------------------- */

/*
 * Handshake: the writer enters its section and waits there until the reader
 * has made a full bounded read. If the bounded reader waited for the
 * writer, the two would deadlock and the watchdog would fail the test.
 */
struct handshake {
	struct snap s;
	atomic_int round;    /* writer: "I am inside, round n" */
	atomic_int answered; /* reader: "round n answered" */
	atomic_int misses;
	atomic_int hits;
	atomic_int torn;
};

static void *handshake_writer(void *arg)
{
	struct handshake *h = arg;
	int n, rounds = (int)test_iters(200);

	for (n = 1; n <= rounds; n++) {
		gpc_seqcount_write_begin(&h->s.seq);
		write_all(&h->s, n);
		atomic_store(&h->round, n);
		while (atomic_load(&h->answered) != n)
			sched_yield();
		gpc_seqcount_write_end(&h->s.seq);
	}
	atomic_store(&h->round, -1);
	return NULL;
}

static void *handshake_reader(void *arg)
{
	struct handshake *h = arg;
	long x[NFIELDS], y[NFIELDS];
	int n, seen = 0;

	while ((n = atomic_load(&h->round)) != -1) {
		int tries = GPC_SEQCOUNT_TRIES;
		unsigned int seq;
		bool ok = false;

		if (n == seen) {
			sched_yield();
			continue;
		}
		while (gpc_seqcount_read_bounded_begin(&h->s.seq, &seq,
						       &tries)) {
			read_fields(&h->s, x, y);
			if (!gpc_seqcount_read_retry(&h->s.seq, seq)) {
				ok = true;
				break;
			}
		}
		if (ok) {
			atomic_fetch_add(&h->hits, 1);
			if (!consistent(x, y))
				atomic_fetch_add(&h->torn, 1);
		} else {
			atomic_fetch_add(&h->misses, 1);
		}
		seen = n;
		atomic_store(&h->answered, n);
	}
	return NULL;
}

static void test_bounded_never_waits(void **state)
{
	struct handshake *h = zalloc_aligned(sizeof(*h));
	pthread_t w, r;

	(void)state;
	assert_non_null(h);
	gpc_seqcount_init(&h->s.seq);
	write_all(&h->s, 0);
	test_watchdog_arm(30, "bounded reader against a parked writer");
	assert_int_equal(pthread_create(&w, NULL, handshake_writer, h), 0);
	assert_int_equal(pthread_create(&r, NULL, handshake_reader, h), 0);
	pthread_join(w, NULL);
	pthread_join(r, NULL);
	test_watchdog_disarm();

	/* Every answer was given while the writer was inside: all misses. */
	assert_int_equal(atomic_load(&h->hits), 0);
	assert_int_equal(atomic_load(&h->misses), (int)test_iters(200));
	assert_int_equal(atomic_load(&h->torn), 0);
	free(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spinning_consistency),
		cmocka_unit_test(test_bounded_consistency),
		cmocka_unit_test(test_bounded_never_waits),
	};

	return cmocka_run_group_tests_name("seqcount_stress", tests, NULL,
					   NULL);
}
