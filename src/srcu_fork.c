// SPDX-License-Identifier: MIT
/*
 * srcu_fork.c - SRCU domains across fork(): the pthread_atfork() handlers
 * (registered by srcu_setup() in srcu_domain.c) that leave the child a
 * consistent list of domains, its own slots and a new worker for each.
 * docs/srcu.md, "Threads, fork, destroy".
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <unistd.h>

#include <gpc/srcu.h>

#include "internal.h"
#include "srcu_state_priv.h"

/*
 * fork(). Around it we hold the domain list lock and every callback lock,
 * which are only ever held briefly, so the child inherits a consistent list
 * and queue. We do not take gp_lock: a grace period may wait for a reader
 * for a long time (even for the forking thread's own section, or for a
 * thread that is exiting and needs the domain list lock), and fork() must
 * not wait for it.
 *
 * In the child only the forking thread exists: its slots are re-owned under
 * its new thread id, every other thread's slot is released (those threads,
 * and their sections, are gone), and each worker is started again. A grace
 * period that was in progress in the parent had no observable effect yet
 * (gp_seq was odd, no cookie of it had completed), so the child rolls it
 * back to "not started"; the phase may have flipped already, which the
 * two-flip grace period tolerates from any starting phase. Callbacks the
 * parent's worker was running at the fork are not run in the child; they
 * count as done there so gpc_srcu_barrier() does not wait for them.
 */
void gpci_srcu_fork_prepare(void)
{
	pthread_mutex_lock(&gpci_srcu_domains_lock);
	for (struct gpc_srcu_state *st = gpci_srcu_domains; st; st = st->next)
		pthread_mutex_lock(&st->cb_lock);
}

void gpci_srcu_fork_parent(void)
{
	for (struct gpc_srcu_state *st = gpci_srcu_domains; st; st = st->next)
		pthread_mutex_unlock(&st->cb_lock);
	pthread_mutex_unlock(&gpci_srcu_domains_lock);
}

/*
 * The other threads' TLS is still mapped in the child (a copy of theirs),
 * so their records may be read and released without scan_lock, whose state
 * the fork may have caught mid-operation: it is initialised afresh after.
 */
static void child_fix_slots(struct gpc_srcu_state *st, int old_tid, int tid)
{
	struct srcu_rec *r;
	unsigned int i, n;
	size_t j;

	for_each_rec(st, r, i, j, n) {
		int owner = rec_owner(r);

		if (owner && owner == old_tid)
			atomic_store(&r->owner, tid);
		else if (owner)
			gpci_srcu_rec_release(st, r, false);
	}
}

static void child_fix_domain(struct gpc_srcu_state *st, int old_tid, int tid)
{
	uint64_t seq = atomic_load(&st->gp_seq);

	child_fix_slots(st, old_tid, tid);
	pthread_mutex_init(&st->gp_lock, NULL);
	pthread_mutex_init(&st->scan_lock, NULL);
	if (seq & 1)
		atomic_store(&st->gp_seq, seq - 1);
	atomic_store(&st->d->gp_futex, 0);
	atomic_store(&st->worker_sleeping, 0);
	st->cb_done += st->cb_inflight;
	st->cb_inflight = 0;
	pthread_cond_init(&st->cb_done_cond, NULL);
	pthread_mutex_unlock(&st->cb_lock);
	st->worker_started = false;
	if (gpci_srcu_start_worker(st->d))
		gpci_log(GPC_LOG_ERR,
			 "srcu %s: cannot restart the worker after fork",
			 st->name);
}

void gpci_srcu_fork_child(void)
{
	int old_tid = gpci_srcu_tls_tid;
	int tid = (int)gettid();

	gpci_srcu_tls_tid = tid;
	for (struct gpc_srcu_state *st = gpci_srcu_domains; st; st = st->next)
		child_fix_domain(st, old_tid, tid);
	pthread_mutex_unlock(&gpci_srcu_domains_lock);
}
