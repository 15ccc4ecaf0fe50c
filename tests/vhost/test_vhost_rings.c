// SPDX-License-Identifier: MIT
/*
 * tests/vhost/test_vhost_rings.c - the datapath's rings through libgpc
 * host-usage caches (src/vhost/rings.c), driven like test_vhost_dev (whose
 * fixture this file includes: the socketpair front-end, the echo device),
 * on both read-side schemes, looking at the queue's caches through their
 * counters (gpc_cache_get_stats):
 *
 *  - cached: many batches without a table change translate the rings
 *    once (the activation's refresh), not once per batch; an unrelated
 *    ADD_MEM_REG moves the generation, so each ring refreshes once more
 *    and the queue goes on; a REM_MEM_REG of an unrelated region the same;
 *  - removed: the region that holds queue 0's rings is removed while the
 *    queue runs (the removal protocol invalidates the caches and its reply
 *    comes); a request posted meanwhile waits, queue 1 goes on, and once
 *    the region is back the waiting request completes. Repeated, so that
 *    the removal also meets the worker inside a batch.
 */
#pragma GCC diagnostic ignored "-Wunused-function"
#define VHOST_DEV_FIXTURE_ONLY
#include "test_vhost_dev.c"

#include <gpc/cache.h>

#include "dev_priv.h"

enum { DESC, AVAIL, USED };

/* The counters of queue @i's ring cache @which. */
static struct gpc_cache_stats ring_stats(struct fx *f, unsigned int i,
					 int which)
{
	struct gpc_vhost_queue *q = &f->d->queues[i];
	struct gpc_cache *c = which == DESC  ? &q->desc_c :
			      which == AVAIL ? &q->avail_c :
					       &q->used_c;
	struct gpc_cache_stats st;
	int err;

	/*
	 * Under the worker's command lock: the worker initialises and
	 * destroys the caches only while it runs a command (start, stop),
	 * which it does holding this lock.
	 */
	assert_non_null(q->worker);
	pthread_mutex_lock(&q->worker->lock);
	err = gpc_cache_get_stats(c, &st);
	pthread_mutex_unlock(&q->worker->lock);
	assert_int_equal(err, 0);
	return st;
}

static void echo_n(struct fx *f, unsigned int i, unsigned int n)
{
	struct vring_used_elem e;

	for (unsigned int k = 0; k < n; k++) {
		strcpy((char *)PTR(f, 0), "ring");
		post(f, i, BUF(0), 5, BUF(1), 5);
		assert_true(wait_used(f, i, TMO, &e));
		assert_int_equal(e.len, 5);
	}
}

static void assert_refreshes(struct fx *f, unsigned int i, uint64_t want)
{
	for (int r = DESC; r <= USED; r++)
		assert_int_equal(ring_stats(f, i, r).refreshes, want);
}

static void t_rings_cached(void **state)
{
	struct fx *f = *state;
	struct gpc_vhost_mem_reg r = { 0, region(GB, B_PAGES, UB) };

	connect_all(f, false);
	echo_n(f, 0, 40);
	/* 40 batches (at least: one per kick), one translation each. */
	assert_refreshes(f, 0, 1);
	for (int k = DESC; k <= USED; k++)
		assert_int_equal(ring_stats(f, 0, k).invalidations, 0);
	/* The table changes elsewhere: the rings are stale, not gone. */
	add_region_b(f, 0);
	echo_n(f, 0, 10);
	assert_refreshes(f, 0, 2);
	assert_int_equal(
		req_ack(f, GPC_VHOST_REM_MEM_REG, &r, sizeof(r), NULL, 0), 0);
	echo_n(f, 0, 10);
	assert_refreshes(f, 0, 3);
	/* Queue 1 was idle: it refreshes at its first batch only. */
	assert_refreshes(f, 1, 1);
	echo_n(f, 1, 3);
	assert_refreshes(f, 1, 2);
}

/* start_queue() with queue @i's rings on pages 0-2 of region B. */
static void start_queue_in_b(struct fx *f, unsigned int i)
{
	struct drv *q = &f->q[i];
	struct vhost_vring_addr addr = {
		.index = i,
		.desc_user_addr = UB,
		.avail_user_addr = UB + PS,
		.used_user_addr = UB + 2 * PS,
	};
	uint64_t v = i;

	q->desc = (void *)f->b;
	q->avail = (void *)(f->b + PS);
	q->used = (void *)(f->b + 2 * PS);
	q->avail_idx = q->last_used = 0;
	q->avail->idx = 0;
	q->kick = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	q->call = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	state_ack(f, GPC_VHOST_SET_VRING_NUM, i, NUM, 0);
	assert_int_equal(req_ack(f, GPC_VHOST_SET_VRING_ADDR, &addr,
				 sizeof(addr), NULL, 0),
			 0);
	state_ack(f, GPC_VHOST_SET_VRING_BASE, i, 0, 0);
	assert_int_equal(
		req_ack(f, GPC_VHOST_SET_VRING_CALL, &v, 8, &q->call, 1), 0);
	assert_int_equal(
		req_ack(f, GPC_VHOST_SET_VRING_KICK, &v, 8, &q->kick, 1), 0);
	state_ack(f, GPC_VHOST_SET_VRING_ENABLE, i, 1, 0);
}

static void t_ring_region_removed(void **state)
{
	struct fx *f = *state;
	struct gpc_vhost_mem_reg r = { 0, region(GB, B_PAGES, UB) };
	struct vring_used_elem e;

	negotiate(f, false);
	set_mem_a(f);
	add_region_b(f, 0);
	start_queue_in_b(f, 0);
	start_queue(f, 1, 0);
	echo_n(f, 0, 5);
	assert_refreshes(f, 0, 1);
	for (int round = 0; round < 5; round++) {
		/*
		 * Requests in flight through the removal: the worker may be
		 * inside a batch when the commit invalidates the caches.
		 */
		for (int k = 0; k < 3; k++)
			post(f, 0, BUF(0), 5, BUF(1), 5);
		assert_int_equal(req_ack(f, GPC_VHOST_REM_MEM_REG, &r,
					 sizeof(r), NULL, 0),
				 0);
		while (wait_used(f, 0, 50, &e))
			; /* those that were popped before the removal */
		/* The rings are gone: this one waits for them. */
		post(f, 0, BUF(0), 5, BUF(1), 5);
		assert_false(wait_used(f, 0, 100, &e));
		/* Rings elsewhere are not held up. */
		echo_n(f, 1, 3);
		add_region_b(f, 0);
		/* Back: everything posted completes, in order. */
		while (f->q[0].last_used != f->q[0].avail_idx) {
			assert_true(wait_used(f, 0, TMO, &e));
			assert_int_equal(e.len, 5);
		}
		/*
		 * The caches missed (the commit made them stale) and were
		 * translated once more each, at the new table only.
		 */
		assert_true(ring_stats(f, 0, AVAIL).misses >=
			    (uint64_t)round + 1);
		assert_int_equal(ring_stats(f, 0, AVAIL).refreshes, round + 2);
		assert_int_equal(ring_stats(f, 0, USED).refreshes, round + 2);
	}
	echo_n(f, 0, 5);
	assert_memory_equal(PTR(f, 1), "ring", 5);
}

#define T(fn)                                                      \
	cmocka_unit_test_setup_teardown(fn, setup_srcu, teardown), \
		cmocka_unit_test_setup_teardown(fn, setup_rwlock, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(t_rings_cached),
		T(t_ring_region_removed),
		cmocka_unit_test_setup_teardown(t_ring_region_removed,
						setup_one_worker, teardown),
	};

	return cmocka_run_group_tests_name("vhost_rings", tests, NULL, NULL);
}
