// SPDX-License-Identifier: MIT
/*
 * src/vhost/inflight_epoch.c - the removal protocol's wait for requests in
 * flight (step 3 of a removal, mem.c).
 *
 * The problem: a request's buffers are translated inside a read section,
 * but the device may hand them to the kernel (io_uring) and end the
 * section; the memory must stay mapped until the device completes the
 * request. The commit's grace period does not cover that (the section is
 * over), and holding the section across the I/O would let a queue with
 * I/O always in flight hold off every grace period for ever.
 *
 * The scheme: a back-end-wide epoch (struct gpc_vhost_dev.epoch) that only
 * the control thread changes, and per queue two counters of requests in
 * flight, indexed by the parity of the epoch a request was submitted in,
 * that only the queue's thread writes.
 *
 *  - enter (queue thread, inside the read section that walked the chain,
 *    before the device sees it): p = epoch & 1; inflight[p]++; full
 *    fence; if epoch changed meanwhile, undo and retry with the new one.
 *    The slot remembers p.
 *  - exit (queue thread, after the device's gpc_vhost_req_complete()):
 *    inflight[p]-- with a release store, so that the device's last use of
 *    the buffers happens before the control thread can see the count drop.
 *  - wait (control thread, after the commit that deleted the memory has
 *    returned, i.e. after its grace period): old = epoch; epoch = old + 1;
 *    full fence; wait until inflight[old & 1] is 0 on every queue.
 *
 * The races each step closes:
 *  - A request that holds a pointer into the removed memory found it in a
 *    section that began before the delete was published; the grace period
 *    waited for that section to end, and enter ran inside it, so enter
 *    finished before the flip.
 *  - enter's increment and the flip are a Dekker pair (store; full fence;
 *    load of the other's variable on both sides): either the wait's load
 *    sees the increment (and waits for that request), or enter's re-read
 *    sees the new epoch and moves the count to the new parity. Without
 *    the re-read, a thread that read the epoch just before an earlier
 *    removal's flip could count a request under the parity that removal
 *    had already found at 0, the parity the next removal flips to and does
 *    not wait for: a request on memory that next removal unmaps.
 *  - Requests submitted after the flip count under the new parity: new
 *    traffic never extends the wait, which is bounded by the requests
 *    already in flight (the slowest I/O).
 *  - The parity this removal flips to holds no request it must wait for:
 *    removals run one at a time on the control thread and each waited
 *    its old parity (this one's new parity) down to 0; by the Dekker
 *    argument every request counted there since then was confirmed under
 *    the epoch this removal flips away from, so it is counted under the
 *    old parity, or it was submitted after this flip.
 *  - The counters are read with acquire loads that pair with the exit's
 *    release store: once a count is seen at 0, the device's accesses to
 *    the buffers of those requests happened before, and munmap is safe.
 *
 * A queue whose buffers are elsewhere is never stalled: the queue thread
 * never waits for the control thread here; the removal waits at most for
 * the requests already submitted.
 */
#include <stdatomic.h>
#include <time.h>

#include "dev_priv.h"

/* Log once if a removal waits this long (a device that holds requests). */
#define EPOCH_WAIT_WARN_NS 5000000000ull

void gpc_vhost_epoch_enter(struct gpc_vhost_queue *q,
			   struct gpc_vhost_req_slot *s)
{
	unsigned int e =
		atomic_load_explicit(&q->dev->epoch, memory_order_relaxed);

	for (;;) {
		unsigned int p = e & 1, n, again;

		/* Only this thread writes the counters: load, then store. */
		n = atomic_load_explicit(&q->inflight[p], memory_order_relaxed);
		atomic_store_explicit(&q->inflight[p], n + 1,
				      memory_order_relaxed);
		atomic_thread_fence(memory_order_seq_cst);
		again = atomic_load_explicit(&q->dev->epoch,
					     memory_order_relaxed);
		if (again == e) {
			s->parity = (uint8_t)p;
			return;
		}
		/* A removal flipped meanwhile: count under the new epoch. */
		atomic_store_explicit(&q->inflight[p], n, memory_order_release);
		e = again;
	}
}

void gpc_vhost_epoch_exit(struct gpc_vhost_queue *q,
			  struct gpc_vhost_req_slot *s)
{
	unsigned int p = s->parity;
	unsigned int n =
		atomic_load_explicit(&q->inflight[p], memory_order_relaxed);

	atomic_store_explicit(&q->inflight[p], n - 1, memory_order_release);
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void gpc_vhost_epoch_wait(struct gpc_vhost_dev *d)
{
	unsigned int old =
		atomic_load_explicit(&d->epoch, memory_order_relaxed);
	uint64_t t0 = mono_ns();
	bool warned = false;
	long sleep_ns = 10000;

	atomic_store_explicit(&d->epoch, old + 1, memory_order_seq_cst);
	atomic_thread_fence(memory_order_seq_cst); /* the Dekker pair */
	for (unsigned int i = 0; i < d->dev->num_queues; i++) {
		struct gpc_vhost_queue *q = &d->queues[i];

		while (atomic_load_explicit(&q->inflight[old & 1],
					    memory_order_acquire)) {
			struct timespec ts = { 0, sleep_ns };

			if (!warned && mono_ns() - t0 > EPOCH_WAIT_WARN_NS) {
				gpc_vhost_log(d, GPC_VHOST_LOG_WARN,
					      "memory removal waits for queue "
					      "%u's requests in flight",
					      i);
				warned = true;
			}
			nanosleep(&ts, NULL);
			/* Back off to 1 ms: I/O takes what it takes. */
			if (sleep_ns < 1000000)
				sleep_ns *= 2;
		}
	}
}
