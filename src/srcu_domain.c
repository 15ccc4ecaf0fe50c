// SPDX-License-Identifier: MIT
/*
 * srcu_domain.c - the life of SRCU domains: the list of live domains,
 * init and destroy (and what destroy refuses), the count of the vms using
 * a domain (srcu_priv.h), statistics, and the library's setup.
 * docs/srcu.md, "Threads, fork, destroy" and "Shared domains".
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gpc/srcu.h>

#include "internal.h"
#include "srcu_priv.h"
#include "srcu_state_priv.h"

/* Live domains: for thread exit, fork and id allocation. */
pthread_mutex_t gpci_srcu_domains_lock = PTHREAD_MUTEX_INITIALIZER;
struct gpc_srcu_state *gpci_srcu_domains;
static _Atomic uint64_t next_serial = 1;

/* ---- setup and teardown ----------------------------------------------- */

/* Lowest id not used by a live domain, so that the first 32 live domains
 * get distinct entries in every thread's lookaside cache. */
static unsigned int alloc_id(void)
{
	for (unsigned int id = 0;; id++) {
		struct gpc_srcu_state *st = gpci_srcu_domains;

		while (st && st->d->id != id)
			st = st->next;
		if (!st)
			return id;
	}
}

static void state_free(struct gpc_srcu_state *st)
{
	unsigned int n = atomic_load(&st->nchunks);

	for (unsigned int i = 0; i < n; i++)
		gpci_srcu_chunk_put(atomic_load(&st->chunks[i]));
	pthread_mutex_destroy(&st->gp_lock);
	pthread_mutex_destroy(&st->scan_lock);
	pthread_mutex_destroy(&st->cb_lock);
	pthread_cond_destroy(&st->cb_done_cond);
	free(st);
}

/*
 * Whether @d is a live domain: its magic says so and the list of live
 * domains holds its state, pointing back at @d. The list is the proof: a
 * never-zeroed struct may hold any magic, and a copy of a live domain holds
 * the magic and the state of the original. Caller holds domains_lock.
 */
static bool domain_live(const struct gpc_srcu *d)
{
	if (d->magic != SRCU_MAGIC)
		return false;
	for (struct gpc_srcu_state *st = gpci_srcu_domains; st; st = st->next)
		if (st == d->state && st->d == d)
			return true;
	return false;
}

static void state_setup(struct gpc_srcu_state *st,
			const struct gpc_srcu_attr *attr)
{
	uint64_t stall_ms;

	pthread_mutex_init(&st->gp_lock, NULL);
	pthread_mutex_init(&st->scan_lock, NULL);
	pthread_mutex_init(&st->cb_lock, NULL);
	pthread_cond_init(&st->cb_done_cond, NULL);
	st->cb_tail = &st->cb_head;
	snprintf(st->name, sizeof(st->name), "%s",
		 attr && attr->name ? attr->name : "srcu");
	stall_ms = attr && attr->stall_ms ? attr->stall_ms :
					    GPC_SRCU_DEFAULT_STALL_MS;
	st->stall_ns = stall_ms * 1000000ull;
}

/*
 * Everything under domains_lock, from the check that @d is not live to its
 * link into the list: the check and the registration it protects are one
 * step, and alloc_id() needs the list stable anyway.
 */
int gpc_srcu_init(struct gpc_srcu *d, const struct gpc_srcu_attr *attr)
{
	struct gpc_srcu_state *st;
	int err;

	if (!d)
		return -EINVAL;
	st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	state_setup(st, attr);
	pthread_mutex_lock(&gpci_srcu_domains_lock);
	/* Re-initialising would leak the registration and strand readers. */
	if (domain_live(d)) {
		pthread_mutex_unlock(&gpci_srcu_domains_lock);
		state_free(st);
		return -EBUSY;
	}
	memset(d, 0, sizeof(*d));
	st->d = d;
	atomic_init(&d->gp_ctr, GPC_SRCU_NEST_ONE);
	atomic_init(&d->gp_futex, 0);
	d->reader_fence = gpc_srcu_reader_fence;
	d->serial = atomic_fetch_add(&next_serial, 1);
	d->state = st;
	d->magic = SRCU_MAGIC;
	d->id = alloc_id();
	d->tls_index = d->id < GPC_SRCU_TLS_ENTRIES ? d->id + 1 :
						      GPC_SRCU_TLS_NONE;
	d->key = d->serial << GPC_SRCU_KEY_SHIFT | d->tls_index;
	err = gpci_srcu_start_worker(d);
	if (!err) {
		st->next = gpci_srcu_domains;
		gpci_srcu_domains = st;
	}
	pthread_mutex_unlock(&gpci_srcu_domains_lock);
	if (err) {
		d->magic = 0;
		d->state = NULL;
		state_free(st);
	}
	return err;
}

int gpci_srcu_get(struct gpc_srcu *d)
{
	int err = -EINVAL;

	if (!d)
		return -EINVAL;
	pthread_mutex_lock(&gpci_srcu_domains_lock);
	if (domain_live(d)) {
		d->state->users++;
		err = 0;
	}
	pthread_mutex_unlock(&gpci_srcu_domains_lock);
	return err;
}

unsigned int gpci_srcu_users(struct gpc_srcu *d)
{
	unsigned int n = 0;

	pthread_mutex_lock(&gpci_srcu_domains_lock);
	if (d && domain_live(d))
		n = d->state->users;
	pthread_mutex_unlock(&gpci_srcu_domains_lock);
	return n;
}

void gpci_srcu_put(struct gpc_srcu *d)
{
	pthread_mutex_lock(&gpci_srcu_domains_lock);
	if (domain_live(d) && d->state->users)
		d->state->users--;
	else
		gpci_log(GPC_LOG_ERR, "srcu: put of a domain without users");
	pthread_mutex_unlock(&gpci_srcu_domains_lock);
}

/* Whether any thread is inside a read section of @d. */
static bool any_reader(struct gpc_srcu *d)
{
	struct gpc_srcu_state *st = d->state;
	bool found;

	pthread_mutex_lock(&st->scan_lock);
	found = gpci_srcu_any_slot_open(st);
	pthread_mutex_unlock(&st->scan_lock);
	return found;
}

bool gpci_srcu_readers(struct gpc_srcu *d)
{
	return srcu_ok(d) && any_reader(d);
}

/* Whether vms use @d; the caller holds domains_lock. */
static bool domain_used(struct gpc_srcu_state *st)
{
	return st->users != 0;
}

static void unlink_domain(struct gpc_srcu_state *st)
{
	struct gpc_srcu_state **pp = &gpci_srcu_domains;

	while (*pp != st)
		pp = &(*pp)->next;
	*pp = st->next;
}

/*
 * The users count is checked twice, like the readers: first to refuse
 * before the barrier waits (nothing changes on a refusal), then again
 * under domains_lock, where gpci_srcu_get() also runs, so that a vm
 * created on the domain meanwhile is never left on a dead one.
 */
int gpc_srcu_destroy(struct gpc_srcu *d)
{
	struct gpc_srcu_state *st;
	bool used;
	int err;

	/*
	 * The destroy rule of every caller-allocated object (gpc/vm.h): a
	 * domain that is destroyed already, or zero-filled storage that was
	 * never initialised, has nothing to tear down.
	 */
	if (d && !d->state && (d->magic == SRCU_DEAD || !d->magic))
		return 0;
	if (!srcu_ok(d))
		return -EINVAL;
	st = d->state;
	if (st->worker_started && pthread_equal(pthread_self(), st->worker))
		return -EDEADLK;
	pthread_mutex_lock(&gpci_srcu_domains_lock);
	used = domain_used(st);
	pthread_mutex_unlock(&gpci_srcu_domains_lock);
	if (used)
		goto used;
	/* Before the barrier: a reader inside would make it wait forever. */
	if (any_reader(d))
		goto busy;
	err = gpc_srcu_barrier(d);
	if (err)
		return err;
	pthread_mutex_lock(&gpci_srcu_domains_lock);
	if (domain_used(st)) {
		pthread_mutex_unlock(&gpci_srcu_domains_lock);
		goto used;
	}
	if (any_reader(d)) {
		pthread_mutex_unlock(&gpci_srcu_domains_lock);
		goto busy;
	}
	d->magic = SRCU_DEAD;
	unlink_domain(st);
	pthread_mutex_unlock(&gpci_srcu_domains_lock);
	gpci_srcu_stop_worker(st);
	d->state = NULL;
	state_free(st);
	return 0;
used:
	gpci_log(GPC_LOG_ERR, "srcu %s: destroy while vms use it; refused",
		 st->name);
	return -EBUSY;
busy:
	gpci_log(GPC_LOG_ERR, "srcu %s: destroy with a reader inside; refused",
		 st->name);
	return -EBUSY;
}

int gpc_srcu_get_stats(struct gpc_srcu *d, struct gpc_srcu_stats *out)
{
	struct gpc_srcu_state *st;
	struct srcu_rec *r;
	unsigned int i, n;
	size_t j;

	if (!srcu_ok(d) || !out)
		return -EINVAL;
	st = d->state;
	memset(out, 0, sizeof(*out));
	out->gp_completed =
		atomic_load_explicit(&st->st_gp, memory_order_relaxed);
	out->gp_shared =
		atomic_load_explicit(&st->st_shared, memory_order_relaxed);
	out->membarriers =
		atomic_load_explicit(&st->st_mb, memory_order_relaxed);
	out->sleeps =
		atomic_load_explicit(&st->st_sleeps, memory_order_relaxed);
	out->reader_wakes =
		atomic_load_explicit(&st->st_wakes, memory_order_relaxed);
	out->stalls =
		atomic_load_explicit(&st->st_stalls, memory_order_relaxed);
	out->callbacks =
		atomic_load_explicit(&st->st_callbacks, memory_order_relaxed);
	for_each_rec(st, r, i, j, n)
		if (rec_owner(r))
			out->slots++;
	return 0;
}

uint64_t gpc_srcu_events(struct gpc_srcu *d)
{
	struct gpc_srcu_state *st;
	struct srcu_rec *r;
	unsigned int i, n;
	size_t j;
	uint64_t sum;

	if (!srcu_ok(d))
		return 0;
	st = d->state;
	pthread_mutex_lock(&st->scan_lock);
	sum = atomic_load_explicit(&st->retired_events, memory_order_relaxed);
	for_each_rec(st, r, i, j, n)
		sum += atomic_load_explicit(&rec_slot(r)->events,
					    memory_order_relaxed);
	pthread_mutex_unlock(&st->scan_lock);
	return sum;
}

__attribute__((constructor)) static void srcu_setup(void)
{
	gpci_srcu_membarrier_setup();
	/* Without the key no record may point into a thread's TLS: every
	 * thread then reads on registry slots (slower, still correct). */
	gpci_srcu_exit_key_setup();
	pthread_atfork(gpci_srcu_fork_prepare, gpci_srcu_fork_parent,
		       gpci_srcu_fork_child);
}
