// SPDX-License-Identifier: MIT
/*
 * cache_write.c - the write side of a cache's fields: the write section
 * (the lock that excludes readers or other writers, and the seqcount),
 * clearing valid, and what an invalidation does to each cache it reaches
 * (invalidate.c, index.c). Refresh, activate and deactivate (cache.c)
 * publish and clear through the same write sections.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "cache_priv.h"

/* ---- write side ------------------------------------------------------- */

void gpci_cache_write_lock(struct gpc_cache *c)
{
	if (c->scheme == GPC_SCHEME_RWLOCK)
		pthread_rwlock_wrlock(&c->rw);
	else
		pthread_mutex_lock(&c->priv->wlock);
	gpc_seqcount_write_begin(&c->seq);
}

bool gpci_cache_write_trylock(struct gpc_cache *c)
{
	int err = c->scheme == GPC_SCHEME_RWLOCK ?
			  pthread_rwlock_trywrlock(&c->rw) :
			  pthread_mutex_trylock(&c->priv->wlock);

	if (err)
		return false;
	gpc_seqcount_write_begin(&c->seq);
	return true;
}

void gpci_cache_write_unlock(struct gpc_cache *c)
{
	gpc_seqcount_write_end(&c->seq);
	if (c->scheme == GPC_SCHEME_RWLOCK)
		pthread_rwlock_unlock(&c->rw);
	else
		pthread_mutex_unlock(&c->priv->wlock);
}

/*
 * The cookie is taken after the store (get_state begins with a full fence),
 * so the grace period it names waits for every reader that could have seen
 * valid set.
 */
bool gpci_cache_clear_valid(struct gpc_cache *c)
{
	if (!atomic_load_explicit(&c->khva, memory_order_relaxed))
		return false;
	atomic_store_explicit(&c->khva, NULL, memory_order_relaxed);
	atomic_store_explicit(&c->priv->clear_cookie,
			      gpc_srcu_get_state(c->srcu),
			      memory_order_relaxed);
	return true;
}

/*
 * Non-blocking and the cache's write lock is busy (a reader holds the rwlock,
 * or a writer is in its short write section): we must not wait, but the
 * -EAGAIN contract wants the cache invalid and its vCPU kicked, so new
 * readers stop using the old page and a retry can succeed. Clearing the
 * pointer without the seqcount is safe for readers: the other fields do not
 * change, so any snapshot is either the old consistent one or a miss. A
 * refresh that checked inval_count before our bump and publishes while we
 * do this may validate the cache again; what it publishes is the mapping as
 * it still is (the caller changes nothing after -EAGAIN), and the retry will
 * clear it.
 */
static bool clear_unlocked(struct gpc_cache *c)
{
	if (!atomic_exchange(&c->khva, NULL))
		return false;
	atomic_store(&c->priv->clear_cookie, gpc_srcu_get_state(c->srcu));
	return true;
}

bool gpci_cache_invalidate(struct gpc_cache *c, bool nonblock, bool *busy)
{
	struct gpc_cache_priv *p = c->priv;
	bool was;

	/* Before clearing: a refresh that translated already must retry. */
	atomic_fetch_add(&p->inval_count, 1);
	if (nonblock && !gpci_cache_write_trylock(c)) {
		*busy = true;
		was = clear_unlocked(c);
	} else {
		if (!nonblock)
			gpci_cache_write_lock(c);
		was = gpci_cache_clear_valid(c);
		gpci_cache_write_unlock(c);
	}
	if (was)
		atomic_fetch_add_explicit(&p->st_invals, 1,
					  memory_order_relaxed);
	return was;
}

void gpci_cache_bump_inval(struct gpc_cache *c)
{
	atomic_fetch_add(&c->priv->inval_count, 1);
}

struct gpc_vcpu *gpci_cache_guest_vcpu(struct gpc_cache *c)
{
	return c->priv->usage == GPC_USAGE_GUEST ? c->priv->vcpu : NULL;
}

uint64_t gpci_cache_clear_cookie(struct gpc_cache *c)
{
	return atomic_load_explicit(&c->priv->clear_cookie,
				    memory_order_relaxed);
}

bool gpci_cache_visit(struct gpc_cache *c, uint64_t stamp)
{
	if (c->priv->visit == stamp)
		return false;
	c->priv->visit = stamp;
	return true;
}
