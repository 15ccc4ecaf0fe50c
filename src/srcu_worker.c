// SPDX-License-Identifier: MIT
/*
 * srcu_worker.c - a domain's worker thread: it drives the grace periods
 * that gpc_srcu_start_poll() asks for and runs the callbacks of
 * gpc_srcu_call() once theirs is over; gpc_srcu_barrier() waits for them.
 * docs/srcu.md, "Callbacks and the worker".
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include <gpc/srcu.h>

#include "internal.h"
#include "srcu_state_priv.h"

/* ---- polling ---------------------------------------------------------- */

static void wake_worker(struct gpc_srcu_state *st)
{
	atomic_fetch_add_explicit(&st->worker_futex, 1, memory_order_seq_cst);
	/* Pairs with the fence between worker_sleeping=1 and its re-check. */
	if (atomic_load_explicit(&st->worker_sleeping, memory_order_seq_cst))
		gpci_futex_wake(&st->worker_futex, 1);
}

uint64_t gpc_srcu_start_poll(struct gpc_srcu *d)
{
	struct gpc_srcu_state *st;
	uint64_t c, r;

	if (!srcu_ok(d))
		return 0;
	st = d->state;
	c = gpc_srcu_get_state(d);
	r = atomic_load_explicit(&st->gp_req, memory_order_relaxed);
	while (c > r)
		if (atomic_compare_exchange_weak(&st->gp_req, &r, c)) {
			wake_worker(st);
			break;
		}
	return c;
}

/* ---- callbacks and the worker ----------------------------------------- */

int gpc_srcu_call(struct gpc_srcu *d, struct gpc_srcu_head *head,
		  void (*func)(struct gpc_srcu_head *head))
{
	struct gpc_srcu_state *st;

	if (!srcu_ok(d) || !head || !func)
		return -EINVAL;
	st = d->state;
	head->func = func;
	head->next = NULL;
	head->cookie = gpc_srcu_get_state(d);
	pthread_mutex_lock(&st->cb_lock);
	*st->cb_tail = head;
	st->cb_tail = &head->next;
	st->cb_queued++;
	pthread_mutex_unlock(&st->cb_lock);
	wake_worker(st);
	return 0;
}

/* Detach the callbacks whose grace period is over (a FIFO prefix). */
static struct gpc_srcu_head *take_ready(struct gpc_srcu *d, bool *more)
{
	struct gpc_srcu_state *st = d->state;
	struct gpc_srcu_head *first = NULL, **pp;

	pthread_mutex_lock(&st->cb_lock);
	pp = &st->cb_head;
	while (*pp && gpc_srcu_poll_state(d, (*pp)->cookie) == 1)
		pp = &(*pp)->next;
	if (pp != &st->cb_head) {
		first = st->cb_head;
		st->cb_head = *pp;
		*pp = NULL; /* ends the detached list */
		if (!st->cb_head)
			st->cb_tail = &st->cb_head;
		for (struct gpc_srcu_head *h = first; h; h = h->next)
			st->cb_inflight++;
	}
	*more = st->cb_head != NULL;
	pthread_mutex_unlock(&st->cb_lock);
	return first;
}

static void run_callbacks(struct gpc_srcu *d, struct gpc_srcu_head *h)
{
	struct gpc_srcu_state *st = d->state;
	uint64_t n = 0;

	while (h) {
		struct gpc_srcu_head *next = h->next;

		h->func(h);
		h = next;
		n++;
	}
	atomic_fetch_add_explicit(&st->st_callbacks, n, memory_order_relaxed);
	pthread_mutex_lock(&st->cb_lock);
	st->cb_done += n;
	st->cb_inflight -= n;
	pthread_cond_broadcast(&st->cb_done_cond);
	pthread_mutex_unlock(&st->cb_lock);
}

static bool gp_wanted(struct gpc_srcu_state *st, bool cbs_pending)
{
	uint64_t req = atomic_load_explicit(&st->gp_req, memory_order_relaxed);
	uint64_t seq = atomic_load_explicit(&st->gp_seq, memory_order_relaxed);

	return cbs_pending || req > seq;
}

static void worker_sleep(struct gpc_srcu_state *st, int seen)
{
	atomic_store_explicit(&st->worker_sleeping, 1, memory_order_seq_cst);
	/* Pairs with wake_worker(): it bumps the word, then reads sleeping. */
	if (atomic_load_explicit(&st->worker_futex, memory_order_seq_cst) ==
	    seen)
		gpci_futex_wait(&st->worker_futex, seen, 0);
	atomic_store_explicit(&st->worker_sleeping, 0, memory_order_relaxed);
}

static void *worker_main(void *arg)
{
	struct gpc_srcu *d = arg;
	struct gpc_srcu_state *st = d->state;

	for (;;) {
		int seen = atomic_load_explicit(&st->worker_futex,
						memory_order_seq_cst);
		bool more;
		struct gpc_srcu_head *ready = take_ready(d, &more);

		if (ready) {
			run_callbacks(d, ready);
			continue;
		}
		if (gp_wanted(st, more)) {
			pthread_mutex_lock(&st->gp_lock);
			if (gp_wanted(st, more))
				gpci_srcu_run_gp(d, false);
			pthread_mutex_unlock(&st->gp_lock);
			continue;
		}
		if (atomic_load_explicit(&st->stop, memory_order_acquire))
			break;
		worker_sleep(st, seen);
	}
	return NULL;
}

int gpci_srcu_start_worker(struct gpc_srcu *d)
{
	struct gpc_srcu_state *st = d->state;
	sigset_t all, old;
	int err;

	/* The worker takes no signals: they belong to the application. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = pthread_create(&st->worker, NULL, worker_main, d);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	st->worker_started = !err;
	return err ? -EAGAIN : 0;
}

void gpci_srcu_stop_worker(struct gpc_srcu_state *st)
{
	if (!st->worker_started)
		return;
	atomic_store_explicit(&st->stop, true, memory_order_release);
	wake_worker(st);
	pthread_join(st->worker, NULL);
	st->worker_started = false;
}

int gpc_srcu_barrier(struct gpc_srcu *d)
{
	struct gpc_srcu_state *st;
	uint64_t target;

	if (!srcu_ok(d))
		return -EINVAL;
	st = d->state;
	if (st->worker_started && pthread_equal(pthread_self(), st->worker))
		return -EDEADLK;
	/* Queued callbacks wait for a grace period, which waits for us. */
	if (gpci_srcu_held_by_self(d))
		return -EDEADLK;
	pthread_mutex_lock(&st->cb_lock);
	target = st->cb_queued;
	while (st->cb_done < target)
		pthread_cond_wait(&st->cb_done_cond, &st->cb_lock);
	pthread_mutex_unlock(&st->cb_lock);
	return 0;
}
