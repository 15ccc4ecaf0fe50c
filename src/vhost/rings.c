// SPDX-License-Identifier: MIT
/*
 * src/vhost/rings.c - a running queue's three rings (descriptor table,
 * available ring, used ring) through libgpc host-usage caches of the DMA
 * vm (gpc/cache.h), so that the datapath does not translate them at every
 * batch: a cache is translated when it is activated at the queue's start
 * and again only when it missed (the memory table's generation moved, an
 * invalidation of its range ran, or on the rwlock scheme a writer held
 * its lock).
 *
 * In GPA mode on dma_vm, which is the IOTLB's vm (keyed by IOVA) while
 * ACCESS_PLATFORM is acked: the same caches then hold IOVA translations
 * and the IOTLB's invalidations reach them like memslot removals.
 *
 * Lengths are the split ring's (virtio 1.x 2.7): desc 16 * num, avail
 * 6 + 2 * num (flags, idx, ring, used_event), used 6 + 8 * num (flags,
 * idx, ring, avail_event); a ring that crosses pages is one multi-page
 * cache. A ring that does not lie in one memslot (two regions the
 * front-end mapped apart) cannot be one cache: activate and refresh say
 * -EINVAL. The per-batch translation this replaces refused those rings
 * too (the walker's TABLE_SPLIT for the descriptor table, a short
 * translation for avail and used), so they are still refused, the same
 * way: the queue waits for a memory table that holds them (datapath.c's
 * ring_miss_gen), with one log line.
 *
 * All of it runs on the queue's worker thread: init, activate, refresh,
 * deactivate and destroy outside any section (inside one they would wait
 * for the thread itself: -EDEADLK), begin and end inside the batch's SRCU
 * read section.
 */
#include <errno.h>

#include "gpc/cache.h"
#include "gpc/vm.h"

#include "dev_priv.h"
#include "rings.h"

static uint64_t desc_len(const struct gpc_vhost_queue *q)
{
	return 16ull * q->num;
}

static uint64_t avail_len(const struct gpc_vhost_queue *q)
{
	return 6 + 2ull * q->num;
}

static uint64_t used_len(const struct gpc_vhost_queue *q)
{
	return 6 + 8ull * q->num;
}

/* Log once per start why a ring cannot be cached (-EINVAL). */
static void refused(struct gpc_vhost_queue *q, const char *ring)
{
	if (q->ring_refused_logged)
		return;
	q->ring_refused_logged = true;
	gpc_vhost_log(q->dev, GPC_VHOST_LOG_WARN,
		      "queue %u: the %s ring is not inside one memory region "
		      "(split across regions, or past a region's end); the "
		      "queue waits for a memory table that holds it",
		      q->index, ring);
}

/* An activate's or refresh's error: the ring's name for -EINVAL. */
static int note(struct gpc_vhost_queue *q, int err, const char *ring)
{
	if (err == -EINVAL)
		refused(q, ring);
	return err;
}

int gpc_vhost_rings_start(struct gpc_vhost_queue *q)
{
	struct gpc_vm *vm = q->dev->dma_vm;
	int err;

	q->ring_refused_logged = false;
	err = gpc_cache_init(&q->desc_c, vm, GPC_USAGE_HOST, NULL,
			     GPC_CACHE_READONLY);
	if (!err)
		err = gpc_cache_init(&q->avail_c, vm, GPC_USAGE_HOST, NULL,
				     GPC_CACHE_READONLY);
	if (!err)
		err = gpc_cache_init(&q->used_c, vm, GPC_USAGE_HOST, NULL, 0);
	if (err) {
		gpc_vhost_rings_stop(q);
		return err;
	}
	q->caches_init = true;
	/*
	 * A ring not (yet) in the table is not an error at start: the cache
	 * stays active and invalid after -EFAULT and -EINVAL, and the first
	 * batch's miss handles it (with an IOTLB, by asking for it).
	 */
	err = note(q,
		   gpc_cache_activate_gpa(&q->desc_c, q->desc_gpa, desc_len(q)),
		   "descriptor");
	if (err == -EFAULT || err == -EINVAL)
		err = 0;
	if (!err)
		err = note(q,
			   gpc_cache_activate_gpa(&q->avail_c, q->avail_gpa,
						  avail_len(q)),
			   "available");
	if (err == -EFAULT || err == -EINVAL)
		err = 0;
	if (!err)
		err = note(q,
			   gpc_cache_activate_gpa(&q->used_c, q->used_gpa,
						  used_len(q)),
			   "used");
	if (err == -EFAULT || err == -EINVAL)
		err = 0;
	if (err)
		gpc_vhost_rings_stop(q);
	return err;
}

void gpc_vhost_rings_stop(struct gpc_vhost_queue *q)
{
	/* Destroy deactivates; a zero-filled cache is a no-op. */
	gpc_cache_destroy(&q->desc_c);
	gpc_cache_destroy(&q->avail_c);
	gpc_cache_destroy(&q->used_c);
	q->caches_init = false;
	q->desc = NULL;
	q->avail = NULL;
	q->used = NULL;
}

int gpc_vhost_rings_begin(struct gpc_vhost_queue *q)
{
	/*
	 * try_begin: never blocks, on the rwlock scheme either (a writer
	 * holding a cache's lock is a miss: the worker refreshes, which
	 * sleeps until the invalidation is done, outside the section).
	 */
	q->avail =
		gpc_cache_try_begin(&q->avail_c, 0, avail_len(q), &q->avail_g);
	if (!q->avail)
		return -EAGAIN;
	q->used = gpc_cache_try_begin(&q->used_c, 0, used_len(q), &q->used_g);
	if (!q->used) {
		gpc_cache_end(&q->avail_c, &q->avail_g);
		q->avail = NULL;
		return -EAGAIN;
	}
	return 0;
}

int gpc_vhost_rings_begin_desc(struct gpc_vhost_queue *q)
{
	q->desc = gpc_cache_try_begin(&q->desc_c, 0, desc_len(q), &q->desc_g);
	return q->desc ? 0 : -EAGAIN;
}

void gpc_vhost_rings_end(struct gpc_vhost_queue *q)
{
	if (q->desc)
		gpc_cache_end(&q->desc_c, &q->desc_g);
	gpc_cache_end(&q->used_c, &q->used_g);
	gpc_cache_end(&q->avail_c, &q->avail_g);
	q->desc = NULL;
	q->avail = NULL;
	q->used = NULL;
}

int gpc_vhost_rings_refresh(struct gpc_vhost_queue *q)
{
	int err;

	/* A valid cache is left alone by refresh: one call per ring. */
	err = note(q, gpc_cache_refresh(&q->avail_c, 0), "available");
	if (!err)
		err = note(q, gpc_cache_refresh(&q->used_c, 0), "used");
	return err;
}

int gpc_vhost_rings_refresh_desc(struct gpc_vhost_queue *q)
{
	return note(q, gpc_cache_refresh(&q->desc_c, 0), "descriptor");
}
