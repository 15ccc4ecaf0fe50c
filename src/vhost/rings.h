/* SPDX-License-Identifier: MIT */
/*
 * src/vhost/rings.h - a running queue's rings through host-usage caches
 * (rings.c); private to libgpc-vhost. Every call is the queue's worker
 * thread's.
 */
#ifndef GPC_VHOST_RINGS_H
#define GPC_VHOST_RINGS_H

#include <stdbool.h>

#include "dev_priv.h"

/**
 * gpc_vhost_rings_start - initialise and activate @q's three ring caches
 * on dev->dma_vm at desc_gpa, avail_gpa and used_gpa.
 *
 * A ring that is not in the memory table (-EFAULT) or not inside one
 * memslot (-EINVAL, logged once) leaves its cache active and invalid:
 * not an error here, the first batch misses on it.
 * Return: 0; -ENOMEM if a cache's state cannot be allocated (nothing is
 * left initialised).
 * Context: the worker thread, outside any section; may sleep.
 */
GPC_VHOST_HIDDEN int gpc_vhost_rings_start(struct gpc_vhost_queue *q);

/**
 * gpc_vhost_rings_stop - deactivate and destroy @q's ring caches (a no-op
 * for caches that were never initialised); the ring pointers are cleared.
 * Context: the worker thread, outside any section; may sleep.
 */
GPC_VHOST_HIDDEN void gpc_vhost_rings_stop(struct gpc_vhost_queue *q);

/**
 * gpc_vhost_rings_begin - begin the sections of the avail and used
 * caches, filling q->avail and q->used; the pointers are valid until
 * gpc_vhost_rings_end().
 *
 * Return: 0; -EAGAIN if one missed (invalid, stale generation, or on the
 * rwlock scheme a writer holds its lock): nothing is held then, the
 * pointers are NULL, and the caller refreshes outside the section.
 * Context: inside the batch's read section of gpc_vm_srcu(dma_vm); never
 * blocks on either scheme.
 */
GPC_VHOST_HIDDEN int gpc_vhost_rings_begin(struct gpc_vhost_queue *q);

/**
 * gpc_vhost_rings_begin_desc - begin the descriptor cache's section too
 * (after gpc_vhost_rings_begin(), at a batch's first walk), filling
 * q->desc; gpc_vhost_rings_end() ends it with the others.
 *
 * Return: 0; -EAGAIN on a miss (q->desc NULL, nothing more held).
 * Context: as gpc_vhost_rings_begin().
 */
GPC_VHOST_HIDDEN int gpc_vhost_rings_begin_desc(struct gpc_vhost_queue *q);

/**
 * gpc_vhost_rings_end - end what gpc_vhost_rings_begin() (after a 0 only)
 * and gpc_vhost_rings_begin_desc() began; the pointers are cleared.
 * Context: any context; never blocks.
 */
GPC_VHOST_HIDDEN void gpc_vhost_rings_end(struct gpc_vhost_queue *q);

/**
 * gpc_vhost_rings_refresh - re-translate the avail and used caches if they
 * are not valid.
 *
 * Return: 0 (each valid now; a later begin may still miss if the table
 * changes meanwhile); -EFAULT if a ring is not (or no longer) in the
 * memory table, or the used ring is on a read-only memslot; -EINVAL if a
 * ring runs past the end of its memslot (logged once per start); -ENOMEM.
 * Context: the worker thread, outside any section; may sleep (waits for
 * an invalidation of the ring's range in progress).
 */
GPC_VHOST_HIDDEN int gpc_vhost_rings_refresh(struct gpc_vhost_queue *q);

/**
 * gpc_vhost_rings_refresh_desc - gpc_vhost_rings_refresh() for the
 * descriptor table's cache.
 *
 * Return: as gpc_vhost_rings_refresh().
 * Context: as gpc_vhost_rings_refresh().
 */
GPC_VHOST_HIDDEN int gpc_vhost_rings_refresh_desc(struct gpc_vhost_queue *q);

#endif /* GPC_VHOST_RINGS_H */
