// SPDX-License-Identifier: MIT
/*
 * src/vhost/datapath.c - the queue threads: wait for kicks (and the
 * device's poll fds), pop available-ring heads, walk their chains, hand
 * them to the device, put completed ones on the used ring and signal the
 * call eventfd (EVENT_IDX aware).
 *
 * Every access to guest memory happens inside a read section of the DMA
 * vm's SRCU domain, which the buffers' translations need (the walker
 * checks it). The rings come from host-usage caches (rings.c), activated
 * by guest-physical address (resolved at queue start) when the queue
 * starts: inside the batch's section each ring's cache section is begun
 * with gpc_cache_try_begin() and its pointer used only until the batch
 * ends them; a completion outside a batch (from .queue_poll) opens
 * sections of its own. A miss ends what was begun, leaves the section
 * and refreshes the caches on this thread, then tries again (a bounded
 * number of times). A ring that does not translate any more (the
 * front-end removed its memory under a running queue) is not an error by
 * itself: the batch is retried once the memory table's generation has
 * moved (a SET_MEM_TABLE that re-adds it), and the thread meanwhile
 * sleeps in short polls.
 *
 * The removal protocol (mem.c: commit, grace period, in-flight epochs,
 * munmap) covers the ring pointers on both schemes: the commit invalidates
 * the caches of the removed range (on the rwlock scheme it takes each
 * cache's write lock, so it waits for a batch holding the read side; a
 * batch is bounded), and since every cache section here is nested in the
 * batch's SRCU read section of the same domain, the grace period that
 * comes before the munmap waits for it in either case.
 *
 * Ring accesses follow the virtio split-ring rules: the driver's avail
 * index is read with acquire semantics before the entries it covers; our
 * used element is written before the used index is published with a
 * release store; a full fence separates our index stores from the loads
 * of the driver's event index or flags (the driver does the mirror
 * image), so that no notification is lost.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "gpc/memslot.h"
#include "gpc/srcu.h"
#include "gpc/vm.h"

#include "dev_priv.h"
#include "ext.h"
#include "rings.h"
#include "vring_walk.h"

#define EV_WAKE	    0u
#define EV_KICK	    1u
#define EV_POLL	    2u
#define EV(type, q) ((uint64_t)(q) << 2 | (type))

/* Sleep bound while a ring waits for the memory table to change, ms. */
#define RING_RETRY_MS		    5
/*
 * Refreshes of the ring caches per attempt: a refresh that succeeded and a
 * begin that missed again means the table (or an invalidation of the
 * range) changed in between; a table that keeps changing must not hold
 * the worker, which then comes back after RING_RETRY_MS.
 */
#define RING_REFRESH_TRIES	    8
/*
 * A completion cannot be put off to a later batch: it tries longer
 * (about 20 ms) before it gives the queue up. On the rwlock scheme a
 * writer holds a cache's write lock before it clears the cache, so a
 * refresh in that window finds it still valid and returns at once; the
 * pause between tries lets such a writer finish.
 */
#define RING_REFRESH_TRIES_COMPLETE 200
#define RING_REFRESH_PAUSE_NS	    100000

static struct gpc_srcu *dma_srcu(struct gpc_vhost_queue *q)
{
	return gpc_vm_srcu(q->dev->dma_vm);
}

/*
 * Enter the read section with the avail and used caches' sections begun;
 * 0, or the refresh's error after a miss (-EFAULT, -EINVAL: a ring is not
 * in the table; -ENOMEM), or -EAGAIN when it missed again after
 * RING_REFRESH_TRIES refreshes. Nothing is held on an error. Outside any
 * section. (The descriptor table's is begun at the batch's first walk:
 * with an IOTLB, its miss is asked for with the head that needs it.)
 */
static int rings_enter_tries(struct gpc_vhost_queue *q, unsigned int tries)
{
	for (unsigned int i = 0;; i++) {
		struct timespec pause = { 0, RING_REFRESH_PAUSE_NS };
		int err;

		gpc_srcu_read_lock(dma_srcu(q));
		if (!gpc_vhost_rings_begin(q))
			return 0;
		gpc_srcu_read_unlock(dma_srcu(q));
		if (i == tries)
			return -EAGAIN;
		if (i >= 2)
			nanosleep(&pause, NULL);
		err = gpc_vhost_rings_refresh(q);
		if (err)
			return err;
	}
}

static int rings_enter(struct gpc_vhost_queue *q)
{
	return rings_enter_tries(q, RING_REFRESH_TRIES);
}

static void rings_leave(struct gpc_vhost_queue *q)
{
	gpc_vhost_rings_end(q);
	gpc_srcu_read_unlock(dma_srcu(q));
}

static uint16_t load16(const void *p, memory_order mo)
{
	return atomic_load_explicit((_Atomic uint16_t *)p, mo);
}

static void store16(void *p, uint16_t v, memory_order mo)
{
	atomic_store_explicit((_Atomic uint16_t *)p, v, mo);
}

static void broken(struct gpc_vhost_queue *q, const char *why)
{
	if (atomic_load(&q->state) == GPC_VHOST_Q_BROKEN)
		return;
	atomic_store(&q->state, GPC_VHOST_Q_BROKEN);
	gpc_vhost_log(q->dev, GPC_VHOST_LOG_ERR,
		      "queue %u broken: %s; it processes nothing until reset",
		      q->index, why);
}

/* Signal the driver if it wants it (inside a section, rings mapped). */
static void flush_call(struct gpc_vhost_queue *q)
{
	bool notify;
	uint64_t one = 1;

	if (!q->need_call)
		return;
	q->need_call = false;
	/* Our used index store before the driver's event index / flags. */
	atomic_thread_fence(memory_order_seq_cst);
	if (q->event_idx) {
		uint16_t ev =
			load16(&q->avail->ring[q->num], memory_order_relaxed);
		uint16_t old = q->signalled_used, new_idx = q->used_idx;

		notify = !q->signalled_valid ||
			 vring_need_event(ev, new_idx, old);
		q->signalled_used = new_idx;
		q->signalled_valid = true;
	} else {
		notify = !(load16(&q->avail->flags, memory_order_relaxed) &
			   VRING_AVAIL_F_NO_INTERRUPT);
	}
	if (notify && q->call_fd >= 0) {
		if (write(q->call_fd, &one, sizeof(one)) == sizeof(one))
			gpc_vhost_inc(q->dev, calls);
	}
}

/* The modules' look at what we wrote to the used ring (ext.h). */
static void used_written(struct gpc_vhost_queue *q, uint64_t off, uint64_t len)
{
	for (unsigned int i = 0; gpc_vhost_exts[i]; i++)
		if (gpc_vhost_exts[i]->used_written)
			gpc_vhost_exts[i]->used_written(q, off, len);
}

static void free_slot(struct gpc_vhost_queue *q, struct gpc_vhost_req_slot *s)
{
	s->in_flight = false;
	s->next_free = q->free_head;
	q->free_head = (uint16_t)(s - q->slots);
	q->nr_in_flight--;
	gpc_vhost_epoch_exit(q, s);
}

int gpc_vhost_req_complete(struct gpc_vhost_req *req, uint32_t written)
{
	struct gpc_vhost_req_slot *s = (struct gpc_vhost_req_slot *)req;
	struct gpc_vhost_queue *q;
	int err = 0;
	bool own;

	if (!req || !req->queue)
		return -EINVAL;
	q = req->queue;
	if (!q->slots || s < q->slots || s >= q->slots + q->num ||
	    !s->in_flight)
		return -EINVAL;
	if (!q->worker || !pthread_equal(pthread_self(), q->worker->tid))
		return -EPERM;
	own = !q->in_batch;
	if (atomic_load(&q->state) == GPC_VHOST_Q_BROKEN) {
		/* Nothing is written to a ring we no longer trust. */
		own = false;
	} else if (!own ||
		   !(err = rings_enter_tries(q, RING_REFRESH_TRIES_COMPLETE))) {
		unsigned int slot = q->used_idx & (q->num - 1);
		struct vring_used_elem *e = &q->used->ring[slot];

		e->id = req->head;
		e->len = written;
		for (unsigned int i = 0; gpc_vhost_exts[i]; i++)
			if (gpc_vhost_exts[i]->complete)
				gpc_vhost_exts[i]->complete(q, req);
		used_written(q, GPC_VHOST_USED_ELEM_OFF(slot), 8);
		q->used_idx++;
		store16(&q->used->idx, q->used_idx, memory_order_release);
		used_written(q, GPC_VHOST_USED_IDX_OFF, 2);
		q->need_call = true;
		if (own)
			flush_call(q);
	} else {
		own = false; /* nothing held */
		broken(q, err == -EAGAIN ?
				  "the rings kept missing in their caches "
				  "with requests in flight" :
				  "the used ring left the memory table with "
				  "requests in flight");
	}
	/*
	 * Before the sections end: the request's epoch exit says its buffers
	 * are done, and the ring writes above are part of it.
	 */
	free_slot(q, s);
	if (own)
		rings_leave(q);
	return 0;
}

/* A translation in dma_vm missed: does a module ask for it (ext.h)? */
static bool dma_miss(struct gpc_vhost_queue *q, int head)
{
	for (unsigned int i = 0; gpc_vhost_exts[i]; i++)
		if (gpc_vhost_exts[i]->dma_miss &&
		    gpc_vhost_exts[i]->dma_miss(q, head))
			return true;
	return false;
}

static bool is_miss(const struct gpc_vhost_chain *c)
{
	return c->err == GPC_VHOST_WALK_TABLE_OUTSIDE ||
	       c->err == GPC_VHOST_WALK_INDIRECT_OUTSIDE ||
	       c->err == GPC_VHOST_WALK_BUF_OUTSIDE;
}

/*
 * false: the head was not consumed (parked on a miss, ring_miss_gen set;
 * or the descriptor cache missed, desc_miss set).
 */
static bool submit(struct gpc_vhost_queue *q, uint16_t head, bool resubmitted,
		   uint64_t gen)
{
	struct gpc_vhost_dev *d = q->dev;
	struct gpc_vhost_req_slot *s = &q->slots[q->free_head];
	struct gpc_vhost_req *r = &s->req;
	struct gpc_vhost_chain c;
	int err;

	if (!q->desc && gpc_vhost_rings_begin_desc(q)) {
		q->desc_miss = head; /* refreshed after the batch */
		return false;
	}
	q->free_head = s->next_free;
	q->nr_in_flight++;
	s->in_flight = true;
	/* In the section that walks: see inflight_epoch.c. */
	gpc_vhost_epoch_enter(q, s);
	/* The table from its cache: translated at refreshes, not here. */
	err = gpc_vhost_walk_table(d->dma_vm, q->desc, q->num, head,
				   q->indirect ? GPC_VHOST_WALK_F_INDIRECT : 0,
				   r->iov, d->seg_max, &c);
	if (err && is_miss(&c) && dma_miss(q, head)) {
		/* Asked for: undo the pop, retry once dma_vm changes. */
		free_slot(q, s);
		q->ring_miss_gen = gen ? gen : 1;
		return false;
	}
	r->head = head;
	r->nr_read = c.nr_read;
	r->nr_write = c.nr_write;
	r->read_len = c.read_len;
	r->write_len = c.write_len;
	if (d->dev->req_priv_size)
		memset(r->priv, 0, d->dev->req_priv_size);
	gpc_vhost_inc(d, requests);
	for (unsigned int i = 0; gpc_vhost_exts[i]; i++)
		if (gpc_vhost_exts[i]->submit)
			gpc_vhost_exts[i]->submit(q, head, resubmitted);
	if (err) {
		char line[160];
		uint32_t len = 0;

		gpc_vhost_walk_describe(&c, head, line, sizeof(line));
		gpc_vhost_log(d, GPC_VHOST_LOG_ERR, "queue %u: %s", q->index,
			      line);
		gpc_vhost_inc(d, bad_requests);
		if (d->dev->bad_request)
			len = d->dev->bad_request(q->qctx, r, err);
		gpc_vhost_req_complete(r, len);
		return true;
	}
	d->dev->request(q->qctx, r);
	return true;
}

/*
 * Inside a section with the rings mapped, once per start: the used index
 * the ring has, and what a module resubmits from it (ext.h). At start, or
 * with an IOTLB at the first batch whose rings translate.
 */
static void first_look(struct gpc_vhost_queue *q)
{
	q->looked = true;
	q->used_idx = load16(&q->used->idx, memory_order_relaxed);
	for (unsigned int i = 0; gpc_vhost_exts[i]; i++) {
		int n;

		if (!gpc_vhost_exts[i]->resubmit)
			continue;
		n = gpc_vhost_exts[i]->resubmit(q, q->used_idx, q->resub);
		if (n < 0)
			continue;
		/* The spec's recovery: go on after the resubmitted. */
		q->nresub = (unsigned int)n;
		q->last_avail = (uint16_t)(q->used_idx + n);
		break;
	}
}

/*
 * A ring's cache could not be made valid (err from the refresh, or
 * -EAGAIN after RING_REFRESH_TRIES): -EFAULT and -EINVAL mean it is not in
 * the table read before the refresh (gen, so that a table that changed
 * meanwhile is looked at again): wait for the next one and, with an IOTLB,
 * ask for the ring (@head: the walk that needs the descriptor table; -1:
 * avail or used), inside a section since the module translates to find
 * the missing page. Anything else: poll.
 */
static void ring_missed(struct gpc_vhost_queue *q, uint64_t gen, int err,
			int head)
{
	if (err != -EFAULT && err != -EINVAL) {
		q->ring_retry = true; /* -EAGAIN, -ENOMEM */
		return;
	}
	q->ring_miss_gen = gen ? gen : 1;
	gpc_srcu_read_lock(dma_srcu(q));
	dma_miss(q, head);
	gpc_srcu_read_unlock(dma_srcu(q));
}

/*
 * The pops of one batch, inside the section with the rings begun; on a
 * miss of the descriptor cache q->desc_miss is the head not consumed.
 */
static void batch(struct gpc_vhost_queue *q, uint64_t gen)
{
	if (!q->looked)
		first_look(q);
	q->in_batch = true;
	/* What a previous back-end took and never completed goes first. */
	while (q->resub_pos < q->nresub && q->nr_in_flight < q->num &&
	       atomic_load(&q->state) == GPC_VHOST_Q_RUNNING &&
	       submit(q, q->resub[q->resub_pos], true, gen))
		q->resub_pos++;
	for (unsigned int pass = 0; !q->ring_miss_gen && q->desc_miss < 0;
	     pass++) {
		uint16_t avail = load16(&q->avail->idx, memory_order_acquire);

		/*
		 * A driver (or rings that overlap: our used index stores land
		 * on its avail index) can keep the index moving forever; the
		 * worker must get back to its commands (a stop waits for it).
		 * Kick ourselves so that the rest is popped on the next turn.
		 */
		if (pass > q->num) {
			uint64_t one = 1;

			if (q->kick_fd >= 0 &&
			    write(q->kick_fd, &one, sizeof(one)) < 0) {
				/* a full counter is a pending kick already */
			}
			break;
		}

		if ((uint16_t)(avail - q->last_avail) > q->num) {
			broken(q, "the driver's avail index runs more than "
				  "the queue size ahead");
			break;
		}
		while (q->last_avail != avail && q->nr_in_flight < q->num &&
		       atomic_load(&q->state) == GPC_VHOST_Q_RUNNING) {
			uint16_t head = load16(
				&q->avail->ring[q->last_avail & (q->num - 1)],
				memory_order_relaxed);

			if (!submit(q, head, false, gen))
				break; /* parked on an IOTLB miss */
			q->last_avail++;
		}
		if (q->ring_miss_gen || q->desc_miss >= 0)
			break;
		if (q->last_avail != avail ||
		    atomic_load(&q->state) != GPC_VHOST_Q_RUNNING)
			break; /* full: go on once requests complete */
		if (!q->event_idx)
			break;
		/* Tell the driver where we are, then look once more. */
		store16(&q->used->ring[q->num], q->last_avail,
			memory_order_relaxed);
		used_written(q, GPC_VHOST_USED_ELEM_OFF(q->num), 2);
		atomic_thread_fence(memory_order_seq_cst);
		if (load16(&q->avail->idx, memory_order_acquire) == avail)
			break;
	}
	if (atomic_load(&q->state) != GPC_VHOST_Q_BROKEN)
		flush_call(q);
	q->in_batch = false;
}

/* One batch: pop what is available (and what arrives meanwhile). */
static void process(struct gpc_vhost_queue *q)
{
	uint64_t gen;
	int err;

	if (atomic_load(&q->state) != GPC_VHOST_Q_RUNNING)
		return;
	gen = gpc_memslot_generation(q->dev->dma_vm);
	if (q->ring_miss_gen && gen == q->ring_miss_gen)
		return; /* still the table the rings missed in */
	q->ring_retry = false;
	for (unsigned int i = 0;; i++) {
		err = rings_enter(q);
		if (err) {
			ring_missed(q, gen, err, -1);
			return;
		}
		q->ring_miss_gen = 0;
		q->desc_miss = -1;
		batch(q, gen);
		rings_leave(q);
		if (q->desc_miss < 0)
			return;
		/* Outside the section: refresh would say -EDEADLK inside. */
		err = i == RING_REFRESH_TRIES ? -EAGAIN :
						gpc_vhost_rings_refresh_desc(q);
		if (err) {
			ring_missed(q, gen, err, q->desc_miss);
			return;
		}
	}
}

static int epoll_add(int epfd, int fd, uint64_t data)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = data };

	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) ? -errno : 0;
}

static int do_start(struct gpc_vhost_worker *w, struct gpc_vhost_queue *q)
{
	struct gpc_vhost_dev *d = w->dev;
	int err = 0;

	q->qctx = NULL;
	q->poll_fd = -1;
	/* Here, outside any section: activate would say -EDEADLK inside. */
	err = gpc_vhost_rings_start(q);
	if (err)
		return err;
	if (d->dev->queue_start) {
		err = d->dev->queue_start(d->ctx, q, &q->qctx, &q->poll_fd);
		if (err) {
			gpc_vhost_rings_stop(q);
			return err;
		}
	}
	/*
	 * The device's first look at the rings: our used index. Just
	 * activated: a miss here is left to the first batch.
	 */
	q->nresub = q->resub_pos = 0;
	q->looked = false;
	gpc_srcu_read_lock(dma_srcu(q));
	if (!gpc_vhost_rings_begin(q)) {
		first_look(q);
		gpc_vhost_rings_end(q);
	}
	gpc_srcu_read_unlock(dma_srcu(q));
	q->signalled_valid = false;
	q->need_call = false;
	q->ring_miss_gen = 0;
	q->ring_retry = false;
	if (q->kick_fd >= 0)
		err = epoll_add(w->epfd, q->kick_fd, EV(EV_KICK, q->index));
	if (!err && q->poll_fd >= 0)
		err = epoll_add(w->epfd, q->poll_fd, EV(EV_POLL, q->index));
	if (err) {
		if (q->kick_fd >= 0)
			epoll_ctl(w->epfd, EPOLL_CTL_DEL, q->kick_fd, NULL);
		if (d->dev->queue_stop)
			d->dev->queue_stop(d->ctx, q, q->qctx);
		gpc_vhost_rings_stop(q);
		return err;
	}
	atomic_store(&q->state, GPC_VHOST_Q_RUNNING);
	w->run[w->nrun++] = q;
	/* Buffers made available before the kick fd existed. */
	process(q);
	return 0;
}

static void do_stop(struct gpc_vhost_worker *w, struct gpc_vhost_queue *q)
{
	struct gpc_vhost_dev *d = w->dev;

	if (q->kick_fd >= 0)
		epoll_ctl(w->epfd, EPOLL_CTL_DEL, q->kick_fd, NULL);
	if (q->poll_fd >= 0)
		epoll_ctl(w->epfd, EPOLL_CTL_DEL, q->poll_fd, NULL);
	/* The device completes what it holds (its contract). */
	if (d->dev->queue_stop)
		d->dev->queue_stop(d->ctx, q, q->qctx);
	if (q->nr_in_flight) {
		/*
		 * A device that broke its contract: drop the requests
		 * (unanswered, the driver will reset) so that no removal
		 * waits for them forever.
		 */
		gpc_vhost_log(d, GPC_VHOST_LOG_ERR,
			      "queue %u stopped with %u requests in flight",
			      q->index, q->nr_in_flight);
		for (unsigned int i = 0; i < q->num; i++)
			if (q->slots[i].in_flight)
				free_slot(q, &q->slots[i]);
	}
	for (unsigned int i = 0; i < w->nrun; i++)
		if (w->run[i] == q) {
			w->run[i] = w->run[--w->nrun];
			break;
		}
	/* After the device's completions, which use the used cache. */
	gpc_vhost_rings_stop(q);
	atomic_store(&q->state, GPC_VHOST_Q_STOPPED);
}

/* Run the command the control thread posted; false to exit. */
static bool do_cmd(struct gpc_vhost_worker *w)
{
	uint64_t v;
	bool go_on = true;

	if (read(w->wake_fd, &v, sizeof(v)) < 0) {
		/* EAGAIN: a spurious wake-up */
	}
	pthread_mutex_lock(&w->lock);
	switch (w->cmd) {
	case GPC_VHOST_WCMD_START:
		w->cmd_ret = do_start(w, w->cmd_q);
		break;
	case GPC_VHOST_WCMD_STOP:
		do_stop(w, w->cmd_q);
		w->cmd_ret = 0;
		break;
	case GPC_VHOST_WCMD_SET_CALL:
		w->cmd_ret = w->cmd_q->call_fd;
		w->cmd_q->call_fd = w->cmd_fd;
		break;
	case GPC_VHOST_WCMD_EXIT:
		go_on = false;
		w->cmd_ret = 0;
		break;
	default:
		pthread_mutex_unlock(&w->lock);
		return true;
	}
	w->cmd = GPC_VHOST_WCMD_NONE;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
	return go_on;
}

static void *worker_main(void *arg)
{
	struct gpc_vhost_worker *w = arg;
	struct gpc_vhost_dev *d = w->dev;
	bool busy = d->cfg.flags & GPC_VHOST_F_BUSY_POLL;

	/*
	 * The memory vm's domain, which dma_vm shares (the IOTLB vm is
	 * created on it); dma_vm itself may change under a starting thread
	 * (ACCESS_PLATFORM acked) and is read only with a queue running.
	 */
	gpc_srcu_register_thread(gpc_vm_srcu(d->vm));
	for (;;) {
		struct epoll_event ev[16];
		int timeout = busy ? 0 : -1, n;

		for (unsigned int i = 0; i < w->nrun; i++) {
			struct gpc_vhost_queue *q = w->run[i];

			/* About to sleep: let the device reap. */
			if (q->nr_in_flight && d->dev->queue_poll) {
				bool full = q->nr_in_flight == q->num;

				d->dev->queue_poll(q->qctx);
				/*
				 * A full queue stopped popping; the driver
				 * kicked already and will not again.
				 */
				if (full && q->nr_in_flight < q->num)
					process(q);
			}
			if (q->ring_miss_gen || q->ring_retry || q->kick_fd < 0)
				timeout = busy ? 0 : RING_RETRY_MS;
			/* Held requests and no fd to wake us: poll. */
			if (q->nr_in_flight && q->poll_fd < 0 &&
			    d->dev->queue_poll && timeout < 0)
				timeout = 1;
		}
		n = epoll_wait(w->epfd, ev, 16, timeout);
		for (int i = 0; i < n; i++) {
			uint64_t data = ev[i].data.u64, v;
			struct gpc_vhost_queue *q = &d->queues[data >> 2];

			switch (data & 3) {
			case EV_WAKE:
				if (!do_cmd(w))
					return NULL;
				break;
			case EV_KICK:
				if (atomic_load(&q->state) ==
				    GPC_VHOST_Q_STOPPED)
					break;
				if (read(q->kick_fd, &v, sizeof(v)) > 0)
					gpc_vhost_inc(d, kicks);
				process(q);
				break;
			case EV_POLL:
				if (atomic_load(&q->state) ==
				    GPC_VHOST_Q_STOPPED)
					break;
				if (d->dev->queue_poll)
					d->dev->queue_poll(q->qctx);
				process(q);
				break;
			}
		}
		if (n <= 0 || busy)
			for (unsigned int i = 0; i < w->nrun; i++)
				process(w->run[i]);
	}
}

int gpc_vhost_worker_cmd(struct gpc_vhost_queue *q, enum gpc_vhost_wcmd cmd,
			 int fd)
{
	struct gpc_vhost_worker *w = q->worker;
	uint64_t one = 1;
	int ret;

	if (!w || !w->started)
		return -ESRCH;
	pthread_mutex_lock(&w->lock);
	w->cmd = cmd;
	w->cmd_q = q;
	w->cmd_fd = fd;
	if (write(w->wake_fd, &one, sizeof(one)) < 0) {
		/* cannot overflow */
	}
	while (w->cmd != GPC_VHOST_WCMD_NONE)
		pthread_cond_wait(&w->cond, &w->lock);
	ret = w->cmd_ret;
	pthread_mutex_unlock(&w->lock);
	return ret;
}

int gpc_vhost_workers_start(struct gpc_vhost_dev *d)
{
	unsigned int nq = d->dev->num_queues;
	unsigned int n =
		d->cfg.workers && d->cfg.workers < nq ? d->cfg.workers : nq;
	int err;

	d->workers = calloc(n, sizeof(*d->workers));
	if (!d->workers)
		return -ENOMEM;
	d->nworkers = n;
	for (unsigned int i = 0; i < n; i++)
		d->workers[i].epfd = d->workers[i].wake_fd = -1;
	for (unsigned int i = 0; i < n; i++) {
		struct gpc_vhost_worker *w = &d->workers[i];

		w->dev = d;
		w->index = i;
		w->epfd = epoll_create1(EPOLL_CLOEXEC);
		w->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		pthread_mutex_init(&w->lock, NULL);
		pthread_cond_init(&w->cond, NULL);
		if (w->epfd < 0 || w->wake_fd < 0)
			return -errno;
		err = epoll_add(w->epfd, w->wake_fd, EV(EV_WAKE, 0));
		if (err)
			return err;
		err = -pthread_create(&w->tid, NULL, worker_main, w);
		if (err)
			return err;
		w->started = true;
	}
	for (unsigned int i = 0; i < nq; i++)
		d->queues[i].worker = &d->workers[i % n];
	return 0;
}

void gpc_vhost_workers_stop(struct gpc_vhost_dev *d)
{
	for (unsigned int i = 0; i < d->nworkers; i++) {
		struct gpc_vhost_worker *w = &d->workers[i];
		struct gpc_vhost_queue dummy = { .worker = w };

		if (w->started) {
			gpc_vhost_worker_cmd(&dummy, GPC_VHOST_WCMD_EXIT, -1);
			pthread_join(w->tid, NULL);
		}
		if (w->epfd >= 0)
			close(w->epfd);
		if (w->wake_fd >= 0)
			close(w->wake_fd);
		pthread_mutex_destroy(&w->lock);
		pthread_cond_destroy(&w->cond);
	}
	for (unsigned int i = 0; i < d->dev->num_queues; i++)
		d->queues[i].worker = NULL;
	free(d->workers);
	d->workers = NULL;
	d->nworkers = 0;
}
