// SPDX-License-Identifier: MIT
/*
 * tools/vhost-fe/fe_ring.c - the driver side of a split virtqueue (virtio
 * 1.x, 2.7), as a guest driver runs it: descriptor table, avail ring and
 * used ring in guest memory, free descriptors tracked privately, EVENT_IDX
 * or the flags for notification suppression, optional indirect tables.
 *
 * What the device writes (the used ring) is checked before it is believed:
 * an id that names no posted chain is counted (bad_used) and ignored, so a
 * broken back-end shows up in the summary instead of corrupting the
 * front-end's bookkeeping.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fe.h"

#define IND_MAX 4 /* segments per indirect table: 64 bytes per head */

static uint64_t ring_bytes_desc_avail(unsigned int num)
{
	return 16ull * num + 6 + 2ull * num;
}

static uint64_t ring_bytes_used(unsigned int num)
{
	return 6 + 8ull * num;
}

static uint64_t pages_of(uint64_t b)
{
	return (b + FE_BLOCK - 1) / FE_BLOCK;
}

static void layout(struct fe_vq *q, struct fe_mem *m)
{
	uint8_t *base = fe_gpa_to_hva(m, q->ring_gpa, q->ring_pages * FE_BLOCK);

	q->desc = (struct vring_desc *)base;
	q->avail = (struct vring_avail *)(base + 16ull * q->num);
	q->used =
		(struct vring_used *)(base +
				      pages_of(ring_bytes_desc_avail(q->num)) *
					      FE_BLOCK);
}

int fe_vq_init(struct fe_vq *q, struct fe_mem *m, unsigned int index,
	       unsigned int num, bool event_idx, bool indirect)
{
	memset(q, 0, sizeof(*q));
	q->index = index;
	q->num = num;
	q->event_idx = event_idx;
	q->indirect = indirect;
	q->kick_fd = -1;
	q->call_fd = -1;
	q->ring_pages = pages_of(ring_bytes_desc_avail(num)) +
			pages_of(ring_bytes_used(num));
	q->ring_gpa = fe_page_alloc(m, 0, q->ring_pages);
	q->stack = calloc(num, sizeof(*q->stack));
	q->link = calloc(num, sizeof(*q->link));
	q->chain_len = calloc(num, sizeof(*q->chain_len));
	q->token = calloc(num, sizeof(*q->token));
	if (indirect) {
		q->ind_pages = pages_of(64ull * num);
		q->ind_gpa = fe_page_alloc(m, 0, q->ind_pages);
	}
	if (!q->ring_gpa || !q->stack || !q->link || !q->chain_len ||
	    !q->token || (indirect && !q->ind_gpa))
		return -ENOMEM;
	layout(q, m);
	fe_vq_reset(q);
	return 0;
}

void fe_vq_destroy(struct fe_vq *q, struct fe_mem *m)
{
	if (q->ring_gpa)
		fe_page_free(m, q->ring_gpa, q->ring_pages);
	if (q->ind_gpa)
		fe_page_free(m, q->ind_gpa, q->ind_pages);
	free(q->stack);
	free(q->link);
	free(q->chain_len);
	free(q->token);
	if (q->kick_fd >= 0)
		close(q->kick_fd);
	if (q->call_fd >= 0)
		close(q->call_fd);
	q->ring_gpa = 0;
	q->stack = NULL;
	q->link = NULL;
	q->chain_len = NULL;
	q->token = NULL;
}

void fe_vq_reset(struct fe_vq *q)
{
	memset(q->desc, 0, 16ull * q->num);
	memset(q->avail, 0, 6 + 2ull * q->num);
	memset(q->used, 0, ring_bytes_used(q->num));
	q->avail_idx = 0;
	q->last_used = 0;
	q->kicked_at = 0;
	q->inflight = 0;
	q->nfree = q->num;
	for (unsigned int i = 0; i < q->num; i++) {
		q->stack[i] = (uint16_t)(q->num - 1 - i);
		q->token[i] = NULL;
	}
}

int fe_vq_move(struct fe_vq *q, struct fe_mem *m, uint64_t *old_gpa)
{
	uint64_t g = fe_page_alloc(m, 0, q->ring_pages);

	if (!g)
		return -ENOMEM;
	*old_gpa = q->ring_gpa;
	q->ring_gpa = g;
	layout(q, m);
	fe_vq_reset(q);
	return 0;
}

void fe_vq_addr(const struct fe_vq *q, struct fe_mem *m,
		struct vhost_vring_addr *a)
{
	(void)m;
	memset(a, 0, sizeof(*a));
	a->index = q->index;
	a->desc_user_addr = (uint64_t)(uintptr_t)q->desc;
	a->avail_user_addr = (uint64_t)(uintptr_t)q->avail;
	a->used_user_addr = (uint64_t)(uintptr_t)q->used;
}

static uint16_t *used_event(struct fe_vq *q)
{
	return &q->avail->ring[q->num];
}

static uint16_t *avail_event(struct fe_vq *q)
{
	return (uint16_t *)&q->used->ring[q->num];
}

int fe_vq_add(struct fe_vq *q, struct fe_mem *m, const struct fe_seg *segs,
	      unsigned int nsegs, void *token)
{
	bool ind = q->indirect && nsegs > 1 && nsegs <= IND_MAX;
	unsigned int need = ind ? 1 : nsegs;
	uint16_t head, prev = 0;

	if (q->nfree < need || !nsegs)
		return -ENOSPC;
	head = q->stack[q->nfree - 1];
	if (ind) {
		uint64_t tg = q->ind_gpa + 64ull * head;
		struct vring_desc *t = fe_gpa_to_hva(m, tg, 64);

		for (unsigned int i = 0; i < nsegs; i++) {
			t[i].addr = segs[i].gpa;
			t[i].len = segs[i].len;
			t[i].flags = (segs[i].device_writes ?
					      VRING_DESC_F_WRITE :
					      0) |
				     (i + 1 < nsegs ? VRING_DESC_F_NEXT : 0);
			t[i].next = (uint16_t)(i + 1 < nsegs ? i + 1 : 0);
		}
		q->nfree--;
		q->desc[head].addr = tg;
		q->desc[head].len = 16 * nsegs;
		q->desc[head].flags = VRING_DESC_F_INDIRECT;
		q->desc[head].next = 0;
	} else {
		for (unsigned int i = 0; i < nsegs; i++) {
			uint16_t d = q->stack[--q->nfree];

			q->desc[d].addr = segs[i].gpa;
			q->desc[d].len = segs[i].len;
			q->desc[d].flags =
				segs[i].device_writes ? VRING_DESC_F_WRITE : 0;
			q->desc[d].next = 0;
			if (i) {
				q->desc[prev].flags |= VRING_DESC_F_NEXT;
				q->desc[prev].next = d;
				q->link[prev] = d;
			}
			prev = d;
		}
	}
	q->chain_len[head] = (uint16_t)need;
	q->token[head] = token;
	q->avail->ring[q->avail_idx % q->num] = head;
	q->avail_idx++;
	/* The entry before the index: the device reads them in that order. */
	__atomic_store_n(&q->avail->idx, q->avail_idx, __ATOMIC_RELEASE);
	q->inflight++;
	return 0;
}

void fe_vq_kick(struct fe_vq *q)
{
	uint16_t old = q->kicked_at, new = q->avail_idx;
	bool need;
	uint64_t one = 1;

	if (old == new)
		return;
	/* The avail index store before reading the device's suppression. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (q->event_idx) {
		uint16_t ev = __atomic_load_n(avail_event(q), __ATOMIC_RELAXED);

		need = (uint16_t)(new - ev - 1) < (uint16_t)(new - old);
	} else {
		need = !(__atomic_load_n(&q->used->flags, __ATOMIC_RELAXED) &
			 VRING_USED_F_NO_NOTIFY);
	}
	q->kicked_at = new;
	if (!need) {
		q->kicks_saved++;
		return;
	}
	q->kicks++;
	if (write(q->kick_fd, &one, sizeof(one)) < 0) {
		/* An eventfd write fails only on overflow; nothing to do. */
	}
}

void *fe_vq_get_used(struct fe_vq *q, struct fe_mem *m, uint32_t *len)
{
	(void)m;
	for (;;) {
		uint16_t idx = __atomic_load_n(&q->used->idx, __ATOMIC_ACQUIRE);
		struct vring_used_elem e;
		void *tok;

		if (idx == q->last_used)
			return NULL;
		e = q->used->ring[q->last_used % q->num];
		q->last_used++;
		if (e.id >= q->num || !q->token[e.id]) {
			q->bad_used++;
			continue;
		}
		tok = q->token[e.id];
		q->token[e.id] = NULL;
		uint16_t d = (uint16_t)e.id;

		for (unsigned int i = 0; i < q->chain_len[e.id]; i++) {
			q->stack[q->nfree++] = d;
			d = q->link[d];
		}
		q->inflight--;
		*len = e.len;
		return tok;
	}
}

bool fe_vq_enable_cb(struct fe_vq *q)
{
	if (q->event_idx)
		__atomic_store_n(used_event(q), q->last_used, __ATOMIC_RELAXED);
	else
		__atomic_store_n(&q->avail->flags, 0, __ATOMIC_RELAXED);
	/* Publish the request for a call before looking at used->idx. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return __atomic_load_n(&q->used->idx, __ATOMIC_ACQUIRE) != q->last_used;
}

void fe_vq_disable_cb(struct fe_vq *q)
{
	if (!q->event_idx)
		__atomic_store_n(&q->avail->flags, VRING_AVAIL_F_NO_INTERRUPT,
				 __ATOMIC_RELAXED);
}
