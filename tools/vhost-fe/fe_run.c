// SPDX-License-Identifier: MIT
/*
 * tools/vhost-fe/fe_run.c - the I/O loop and the churn: random 4 KiB
 * reads and writes (and an occasional FLUSH / GET_ID) on every queue at
 * the chosen depth, while the memory, the rings and the connection change
 * underneath at the chosen intervals.
 *
 * Waiting for completions is the driver's usual dance: consume the used
 * rings, ask for a call (EVENT_IDX's used_event or the flags), look once
 * more, then sleep on the call eventfds - never longer than the timeout,
 * so a back-end that stops completing requests fails the run.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "fe.h"

static struct fe_req *req_get(struct fe_sess *s, unsigned int q)
{
	struct fe_req *r = s->free_req[q];

	if (r)
		s->free_req[q] = r->next_free;
	return r;
}

static void req_put(struct fe_sess *s, struct fe_req *r)
{
	r->next_free = s->free_req[r->q];
	s->free_req[r->q] = r;
}

/* Submit one request on queue q; false when the queue is full. */
static bool submit(struct fe_sess *s, unsigned int q)
{
	const struct fe_opts *o = s->o;
	struct fe_seg segs[4];
	struct fe_req *r;
	uint64_t x = fe_rand(&s->rng), lba = 0;
	unsigned int n;
	int tries;

	if (s->vq[q].inflight >= o->qdepth)
		return false;
	r = req_get(s, q);
	if (!r)
		return false;
	if (s->has_flush && x % 500 == 0) {
		r->kind = FE_FLUSH;
	} else if (x % 997 == 1) {
		r->kind = FE_GET_ID;
	} else {
		r->kind = (int)(x % 100) < o->read_pct ? FE_READ : FE_WRITE;
		for (tries = 0; tries < 16; tries++) {
			lba = fe_rand(&s->rng) % s->blk.blocks;
			if (!s->blk.busy[lba])
				break;
		}
		if (tries == 16) {
			req_put(s, r);
			return false;
		}
	}
	r->lba = lba;
	r->gen = r->kind == FE_WRITE ? s->blk.next_gen++ : 0;
	if (s->blk.next_gen == UINT32_MAX)
		s->blk.next_gen = 1;
	/* Half the buffers in the churned region while it may hold them. */
	r->data_gpa = 0;
	r->rem_victim = r->done_by_reply = r->use_snap = false;
	if (s->mem.r[s->extra].allocatable && (s->burst_extra || (x >> 32) % 2))
		r->data_gpa = fe_page_alloc(&s->mem, s->extra, 1);
	if (!r->data_gpa)
		r->data_gpa = fe_page_alloc(&s->mem, 0, 1);
	if (!r->data_gpa) {
		req_put(s, r);
		return false;
	}
	n = fe_blk_build(r, &s->mem, segs);
	r->t0_ns = fe_now_ns();
	if (fe_vq_add(&s->vq[q], &s->mem, segs, n, r)) {
		fe_page_free(&s->mem, r->data_gpa, 1);
		req_put(s, r);
		return false;
	}
	if (r->kind == FE_READ || r->kind == FE_WRITE)
		s->blk.busy[lba] = 1;
	r->posted = true;
	return true;
}

/* Consume every used entry of every queue; returns how many. */
static unsigned int reap(struct fe_sess *s)
{
	unsigned int got = 0;

	for (unsigned int q = 0; q < s->nq; q++) {
		struct fe_req *r;
		uint32_t len;

		while ((r = fe_vq_get_used(&s->vq[q], &s->mem, &len))) {
			uint64_t t = fe_now_ns();

			fe_lat_add(&s->st->lat_ns, &s->st->nlat,
				   &s->st->cap_lat, t - r->t0_ns);
			fe_blk_complete(&s->blk, r, &s->mem, len, s->st);
			if (r->kind == FE_READ || r->kind == FE_WRITE)
				s->blk.busy[r->lba] = 0;
			fe_page_free(&s->mem, r->data_gpa, 1);
			r->posted = false;
			req_put(s, r);
			got++;
		}
	}
	return got;
}

static unsigned int inflight(const struct fe_sess *s)
{
	unsigned int n = 0;

	for (unsigned int q = 0; q < s->nq; q++)
		n += s->vq[q].inflight;
	return n;
}

/*
 * Wait up to max_ms for a call on any queue (or the back-end channel).
 * Returns 0, or -ETIMEDOUT when requests are in flight and nothing at all
 * completed within the connection's timeout.
 */
static int wait_calls(struct fe_sess *s, int max_ms)
{
	struct pollfd p[FE_MAX_QUEUES + 2];
	unsigned int n = 0;
	bool pending = false;
	uint64_t v;

	for (unsigned int q = 0; q < s->nq; q++)
		pending |= fe_vq_enable_cb(&s->vq[q]);
	if (pending)
		return 0;
	for (unsigned int q = 0; q < s->nq; q++)
		p[n++] = (struct pollfd){ .fd = s->vq[q].call_fd,
					  .events = POLLIN };
	/*
	 * The main socket too, for its hang-up only (the back-end sends
	 * nothing there unasked): a back-end that dies fails the run at
	 * once instead of after the timeout.
	 */
	p[n++] = (struct pollfd){ .fd = s->c.sock, .events = 0 };
	if (s->c.backend_sock >= 0)
		p[n++] = (struct pollfd){ .fd = s->c.backend_sock,
					  .events = POLLIN };
	if (poll(p, n, max_ms) < 0 && errno != EINTR)
		return -errno;
	if (p[s->nq].revents & (POLLHUP | POLLERR)) {
		fprintf(stderr, "fe: the back-end closed the connection\n");
		return -EPIPE;
	}
	for (unsigned int q = 0; q < s->nq; q++)
		if (read(s->vq[q].call_fd, &v, sizeof(v)) < 0) {
			/* EAGAIN: that queue was not called. */
		}
	if (s->c.backend_sock >= 0)
		fe_conn_poll_backend(&s->c);
	return 0;
}

/* Reap until cond() holds, bounded by the timeout. */
static int drain_until(struct fe_sess *s, bool (*cond)(struct fe_sess *, int),
		       int arg)
{
	uint64_t last = fe_now_ns();

	while (!cond(s, arg)) {
		if (reap(s)) {
			last = fe_now_ns();
			continue;
		}
		if (fe_now_ns() - last > (uint64_t)s->o->timeout_ms * 1000000) {
			fprintf(stderr,
				"fe: back-end completed nothing in %d "
				"ms (%u in flight)\n",
				s->o->timeout_ms, inflight(s));
			return -ETIMEDOUT;
		}
		int err = wait_calls(s, 50);

		if (err)
			return err;
	}
	return 0;
}

static bool extra_empty(struct fe_sess *s, int ri)
{
	return s->mem.r[ri].used == 0;
}

static bool queue_empty(struct fe_sess *s, int q)
{
	return s->vq[q].inflight == 0;
}

static bool all_empty(struct fe_sess *s, int unused)
{
	(void)unused;
	return inflight(s) == 0;
}

static int check_extra_poison(struct fe_sess *s)
{
	struct fe_region *r = &s->mem.r[s->extra];
	uint64_t bad;

	if (!s->extra_poisoned)
		return 0;
	bad = fe_poison_check(&s->mem, r->gpa, r->size);
	s->st->stale_checks++;
	if (bad)
		fprintf(stderr,
			"fe: STALE WRITES: %llu words of the removed "
			"region changed after the removal's reply\n",
			(unsigned long long)bad);
	s->st->stale_writes += bad;
	s->extra_poisoned = false;
	return 0;
}

/*
 * --churn-iotlb: the region stays in the table; its IOVA range is
 * invalidated (after its buffers drained) and mapped again. After the
 * invalidate's reply nothing may reach the memory through that IOVA: the
 * same poison check as after a removal.
 */
static int churn_iotlb(struct fe_sess *s)
{
	struct fe_region *r = &s->mem.r[s->extra];
	uint64_t t0;
	int err;

	if (!r->allocatable && s->extra_poisoned) {
		check_extra_poison(s);
		err = fe_sess_iotlb(s, s->extra, VHOST_IOTLB_UPDATE);
		if (!err)
			r->allocatable = s->o->churn_live;
		return err;
	}
	r->allocatable = false;
	err = drain_until(s, extra_empty, s->extra);
	t0 = fe_now_ns();
	if (!err)
		err = fe_sess_iotlb(s, s->extra, VHOST_IOTLB_INVALIDATE);
	if (err)
		return err;
	fe_lat_add(&s->st->rem_ns, &s->st->nrem, &s->st->cap_rem,
		   fe_now_ns() - t0);
	fe_poison(&s->mem, r->gpa, r->size);
	s->extra_poisoned = true;
	return 0;
}

/*
 * --churn-inflight: REM_MEM_REG while requests whose buffers lie in the
 * region are in flight. A burst fills every queue with such requests right
 * before it, so some are not yet popped when the REM arrives and some sit
 * in the back-end's io_uring. The back-end's promise: the reply comes only
 * when nothing it does can touch the region any more; requests it pops
 * after that find their buffers outside memory (VIRTIO_BLK_S_IOERR,
 * accepted for these requests only). Then:
 * - each one's buffer is copied aside as it was at the reply and the
 *   region poisoned: a read completing OK later is checked against the
 *   copy, a write into the region after the reply is a stale write;
 * - every one of them must come back on its used ring within the timeout.
 * The copy is taken after the reply, so a write into a victim's buffer in
 * the microseconds between the reply and the poison goes unseen; any later
 * one is caught.
 */
static int rem_inflight(struct fe_sess *s)
{
	struct fe_region *r = &s->mem.r[s->extra];
	size_t nreq = (size_t)s->nq * s->o->qdepth;
	unsigned int q, n = 0;
	uint64_t ns;
	int err;

	/* Room first: what already completed leaves the queues. */
	reap(s);
	s->burst_extra = true;
	for (q = 0; q < s->nq; q++) {
		while (submit(s, q))
			;
		fe_vq_kick(&s->vq[q]);
	}
	s->burst_extra = false;
	r->allocatable = false;
	/* Those done by now are not in flight: leave them out of the count. */
	reap(s);
	for (size_t i = 0; i < nreq; i++) {
		struct fe_req *x = &s->reqs[i];

		if (x->posted && x->kind != FE_FLUSH &&
		    fe_region_of(&s->mem, x->data_gpa) == s->extra) {
			x->rem_victim = true;
			n++;
		}
	}
	err = fe_sess_region_rem(s, s->extra, &ns);
	if (err)
		return err;
	fe_lat_add(&s->st->rem_ns, &s->st->nrem, &s->st->cap_rem, ns);
	if (n) {
		fe_lat_add(&s->st->rem_live_ns, &s->st->nrem_live,
			   &s->st->cap_rem_live, ns);
		s->st->rem_live++;
	}
	s->st->rem_inflight += n;
	if (n > s->st->rem_inflight_max)
		s->st->rem_inflight_max = n;
	/*
	 * Which of them completed while the REM was pending: the used
	 * entries there now, not yet consumed (the back-end waited for them).
	 */
	for (q = 0; q < s->nq; q++) {
		struct fe_vq *v = &s->vq[q];
		uint16_t idx = __atomic_load_n(&v->used->idx, __ATOMIC_ACQUIRE);

		for (uint16_t u = v->last_used; u != idx; u++) {
			uint32_t id = v->used->ring[u % v->num].id;
			struct fe_req *x = id < v->num ? v->token[id] : NULL;

			if (x)
				x->done_by_reply = true;
		}
	}
	for (size_t i = 0; i < nreq; i++) {
		struct fe_req *x = &s->reqs[i];

		if (x->posted && x->rem_victim) {
			memcpy(x->snap,
			       fe_gpa_to_hva(&s->mem, x->data_gpa, FE_BLOCK),
			       FE_BLOCK);
			x->use_snap = true;
		}
	}
	fe_poison(&s->mem, r->gpa, r->size);
	s->extra_poisoned = true;
	err = drain_until(s, extra_empty, s->extra);
	if (err)
		fprintf(stderr,
			"fe: LOST: %llu pages of requests in the removed "
			"region never came back (%u were in flight at the "
			"REM)\n",
			(unsigned long long)r->used, n);
	return err;
}

static int churn_mem(struct fe_sess *s)
{
	struct fe_region *r = &s->mem.r[s->extra];
	uint64_t ns;
	int err;

	/*
	 * A whole-table change remaps every region in libvhost-user (qsd),
	 * under requests in flight: their I/O then fails (EFAULT). --quiesce
	 * drains every queue first, which a real front-end does not.
	 */
	if (s->o->quiesce) {
		err = drain_until(s, all_empty, 0);
		if (err)
			return err;
	}
	if (s->o->churn_iotlb && s->iotlb && s->ctl_mapped)
		return churn_iotlb(s);
	if (s->o->control_no_rem && s->ctl_mapped) {
		/*
		 * The control of the stale-write check: "remove" the region
		 * without telling the back-end, with requests in flight in
		 * it. Their completions land in the poison and must be
		 * counted; the run must fail.
		 */
		if (r->allocatable) {
			r->allocatable = false;
			fe_poison(&s->mem, r->gpa, r->size);
			s->extra_poisoned = true;
		} else {
			check_extra_poison(s);
			r->allocatable = true;
		}
		return 0;
	}
	if (!r->added) {
		check_extra_poison(s);
		err = fe_sess_region_add(s, s->extra);
		s->ctl_mapped = !err;
		if (!err)
			r->allocatable = s->o->churn_live;
		return err;
	}
	if (s->o->churn_inflight)
		return rem_inflight(s);
	/* No new buffers there, and the posted ones complete first. */
	r->allocatable = false;
	err = drain_until(s, extra_empty, s->extra);
	if (!err)
		err = fe_sess_region_rem(s, s->extra, &ns);
	if (err)
		return err;
	fe_lat_add(&s->st->rem_ns, &s->st->nrem, &s->st->cap_rem, ns);
	fe_poison(&s->mem, r->gpa, r->size);
	s->extra_poisoned = true;
	return 0;
}

static void check_old_ring(struct fe_sess *s, unsigned int q)
{
	uint64_t bad;

	if (!s->old_ring[q])
		return;
	bad = fe_poison_check(&s->mem, s->old_ring[q],
			      s->old_ring_pages[q] * FE_BLOCK);
	s->st->stale_checks++;
	if (bad)
		fprintf(stderr,
			"fe: STALE WRITES: %llu words of q%u's old "
			"ring changed after the move\n",
			(unsigned long long)bad, q);
	s->st->stale_writes += bad;
	fe_page_free(&s->mem, s->old_ring[q], s->old_ring_pages[q]);
	s->old_ring[q] = 0;
}

static int churn_ring(struct fe_sess *s, unsigned int q)
{
	uint64_t old;
	int err = drain_until(s, queue_empty, (int)q);

	if (!err)
		err = fe_sess_stop_ring(s, q);
	if (err)
		return err;
	check_old_ring(s, q);
	err = fe_vq_move(&s->vq[q], &s->mem, &old);
	if (err)
		return err;
	s->old_ring[q] = old;
	s->old_ring_pages[q] = s->vq[q].ring_pages;
	fe_poison(&s->mem, old, s->vq[q].ring_pages * FE_BLOCK);
	err = fe_sess_start_ring(s, q);
	if (!err)
		s->st->ring_moves++;
	return err;
}

static int reconnect(struct fe_sess *s)
{
	uint64_t ns;
	int err = drain_until(s, all_empty, 0);

	/* A region the back-end drops with the connection cannot be
	 * watched: remove it first, with a reply. */
	if (!err && s->mem.r[s->extra].added) {
		s->mem.r[s->extra].allocatable = false;
		err = fe_sess_region_rem(s, s->extra, &ns);
		if (!err) {
			fe_poison(&s->mem, s->mem.r[s->extra].gpa,
				  s->mem.r[s->extra].size);
			s->extra_poisoned = true;
		}
	}
	if (!err)
		err = fe_sess_disconnect(s);
	if (!err)
		err = fe_sess_connect(s);
	if (!err)
		s->st->reconnects++;
	return err;
}

static double cpu_seconds(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

/* The loop of one measured run; fills st, returns 0 or an error. */
static int io_loop(struct fe_sess *s, double duration)
{
	const struct fe_opts *o = s->o;
	uint64_t t0 = fe_now_ns(), end = t0 + (uint64_t)(duration * 1e9);
	uint64_t next_mem = o->churn_mem_ms ?
				    t0 + o->churn_mem_ms * 1000000ull :
				    UINT64_MAX;
	uint64_t next_ring = o->churn_ring_ms ?
				     t0 + o->churn_ring_ms * 1000000ull :
				     UINT64_MAX;
	uint64_t next_rc = o->churn_reconnect_ms ?
				   t0 + o->churn_reconnect_ms * 1000000ull :
				   UINT64_MAX;
	uint64_t last_progress = t0;
	unsigned int ring_q = 0;
	int err = 0;

	while (!err) {
		uint64_t now = fe_now_ns();

		if (now >= end)
			break;
		if (now >= next_mem) {
			err = churn_mem(s);
			next_mem = fe_now_ns() + o->churn_mem_ms * 1000000ull;
			continue;
		}
		if (now >= next_ring) {
			err = churn_ring(s, ring_q++ % s->nq);
			next_ring = fe_now_ns() + o->churn_ring_ms * 1000000ull;
			continue;
		}
		if (now >= next_rc) {
			err = reconnect(s);
			next_rc = fe_now_ns() +
				  o->churn_reconnect_ms * 1000000ull;
			continue;
		}
		for (unsigned int q = 0; q < s->nq; q++) {
			while (submit(s, q))
				;
			fe_vq_kick(&s->vq[q]);
		}
		if (reap(s)) {
			last_progress = fe_now_ns();
			continue;
		}
		if (inflight(s) && fe_now_ns() - last_progress >
					   (uint64_t)o->timeout_ms * 1000000) {
			fprintf(stderr,
				"fe: back-end completed nothing in %d "
				"ms (%u in flight)\n",
				o->timeout_ms, inflight(s));
			return -ETIMEDOUT;
		}
		err = wait_calls(s, 20);
	}
	if (!err)
		err = drain_until(s, all_empty, 0);
	return err;
}

static bool failed(struct fe_sess *s)
{
	uint64_t bad_used = 0;

	for (unsigned int q = 0; q < s->nq; q++)
		bad_used += s->vq[q].bad_used;
	return !s->st->requests || s->st->mismatches || s->st->stale_writes ||
	       s->st->io_errors || bad_used ||
	       s->st->rem_inflight < s->o->expect_inflight_rem;
}

/*
 * CPU seconds (user + system) of another process, from /proc/PID/stat
 * (fields 14 and 15, in clock ticks), or -1 when it cannot be read.
 */
static double proc_cpu_seconds(int pid)
{
	char path[64], buf[1024], *p;
	unsigned long long ut, st;
	FILE *f;
	size_t n;

	if (pid <= 0)
		return -1;
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	/* The command name may hold spaces: count from its closing ')'. */
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 2,
			 "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
			 "%llu %llu",
			 &ut, &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static double be_cpu0;

static void summary(struct fe_sess *s, double secs, double cpu, int err,
		    const char *tag)
{
	struct fe_stats *st = s->st;
	double be = proc_cpu_seconds(s->o->backend_pid);

	if (s->o->backend_pid > 0 && be >= 0 && s->st->requests)
		printf("fe:%s%s backend_cpu_us_per_req=%.2f\n", tag ? " " : "",
		       tag ? tag : "",
		       (be - be_cpu0) * 1e6 / (double)s->st->requests);
	uint64_t bad_used = 0;

	for (unsigned int q = 0; q < s->nq; q++)
		bad_used += s->vq[q].bad_used;
	printf("fe:%s%s requests=%llu reads=%llu writes=%llu flushes=%llu "
	       "get_ids=%llu verified=%llu mismatches=%llu io_errors=%llu "
	       "bad_used=%llu stale_writes=%llu stale_checks=%llu "
	       "mem_adds=%llu mem_rems=%llu ring_moves=%llu reconnects=%llu "
	       "iotlb_updates=%llu iotlb_invals=%llu queues=%u qd=%u "
	       "iops=%.0f p50_us=%.1f p99_us=%.1f rem_reply_p50_us=%.1f "
	       "rem_reply_p99_us=%.1f rem_inflight=%llu rem_inflight_max=%llu "
	       "rem_live=%llu rem_victim_ok=%llu rem_victim_ok_by_reply=%llu "
	       "rem_victim_ioerr=%llu "
	       "rem_victim_nostatus=%llu rem_victim_failed=%llu "
	       "rem_write_failed=%llu ambiguous_resolved=%llu "
	       "rem_live_reply_p50_us=%.1f rem_live_reply_p99_us=%.1f "
	       "cpu_us_per_req=%.2f result=%s\n",
	       tag ? " " : "", tag ? tag : "", (unsigned long long)st->requests,
	       (unsigned long long)st->reads, (unsigned long long)st->writes,
	       (unsigned long long)st->flushes, (unsigned long long)st->get_ids,
	       (unsigned long long)st->verified,
	       (unsigned long long)st->mismatches,
	       (unsigned long long)st->io_errors, (unsigned long long)bad_used,
	       (unsigned long long)st->stale_writes,
	       (unsigned long long)st->stale_checks,
	       (unsigned long long)st->mem_adds,
	       (unsigned long long)st->mem_rems,
	       (unsigned long long)st->ring_moves,
	       (unsigned long long)st->reconnects,
	       (unsigned long long)st->iotlb_updates,
	       (unsigned long long)st->iotlb_invals, s->nq, s->o->qdepth,
	       secs > 0 ? (double)st->requests / secs : 0.0,
	       fe_pct(st->lat_ns, st->nlat, 50) / 1e3,
	       fe_pct(st->lat_ns, st->nlat, 99) / 1e3,
	       fe_pct(st->rem_ns, st->nrem, 50) / 1e3,
	       fe_pct(st->rem_ns, st->nrem, 99) / 1e3,
	       (unsigned long long)st->rem_inflight,
	       (unsigned long long)st->rem_inflight_max,
	       (unsigned long long)st->rem_live,
	       (unsigned long long)st->rem_victim_ok,
	       (unsigned long long)st->rem_victim_ok_by_reply,
	       (unsigned long long)st->rem_victim_ioerr,
	       (unsigned long long)st->rem_victim_nostatus,
	       (unsigned long long)(st->rem_victim_ioerr +
				    st->rem_victim_nostatus),
	       (unsigned long long)st->rem_write_failed,
	       (unsigned long long)st->ambiguous_resolved,
	       fe_pct(st->rem_live_ns, st->nrem_live, 50) / 1e3,
	       fe_pct(st->rem_live_ns, st->nrem_live, 99) / 1e3,
	       st->requests ? cpu * 1e6 / (double)st->requests : 0.0,
	       err	 ? "error" :
	       failed(s) ? "fail" :
			   "ok");
	fflush(stdout);
}

static int iotlb_gate(struct fe_sess *s)
{
	if (s->o->iotlb && !s->iotlb) {
		printf("fe: iotlb NOT-SUPPORTED (the back-end does not offer "
		       "VIRTIO_F_ACCESS_PLATFORM)\n");
		return 77;
	}
	return 0;
}

int fe_run_io(const struct fe_opts *o, struct fe_stats *st)
{
	struct fe_sess s;
	double c0, t0;
	int err, rc;

	err = fe_sess_init(&s, o, st);
	if (!err)
		err = fe_sess_connect(&s);
	if (!err && (rc = iotlb_gate(&s))) {
		fe_sess_destroy(&s);
		return rc;
	}
	c0 = cpu_seconds();
	be_cpu0 = proc_cpu_seconds(o->backend_pid);
	t0 = (double)fe_now_ns();
	if (!err)
		err = io_loop(&s, o->duration);
	if (!err && s.mem.r[s.extra].added) {
		uint64_t ns;

		err = fe_sess_region_rem(&s, s.extra, &ns);
		if (!err) {
			fe_poison(&s.mem, s.mem.r[s.extra].gpa,
				  s.mem.r[s.extra].size);
			s.extra_poisoned = true;
		}
	}
	if (!err)
		err = fe_sess_disconnect(&s);
	/* The last look at everything poisoned, after the final stop. */
	check_extra_poison(&s);
	for (unsigned int q = 0; q < s.nq; q++)
		check_old_ring(&s, q);
	if (err)
		fprintf(stderr, "fe: run failed: %s\n", strerror(-err));
	summary(&s, ((double)fe_now_ns() - t0) / 1e9, cpu_seconds() - c0, err,
		NULL);
	rc = err || failed(&s) ? 1 : 0;
	fe_sess_destroy(&s);
	return rc;
}

int fe_run_bench(const struct fe_opts *o)
{
	static const unsigned int qds[] = { 1, 32, 128 };
	int rc = 0;

	for (unsigned int i = 0; i < sizeof(qds) / sizeof(qds[0]); i++) {
		struct fe_opts b = *o;
		struct fe_stats st = { 0 };
		struct fe_sess s;
		char tag[32];
		double c0, t0;
		int err;

		b.qdepth = qds[i];
		if (b.ring_num < b.qdepth * 4)
			b.ring_num = b.qdepth * 4 > 256 ? 512 : 256;
		err = fe_sess_init(&s, &b, &st);
		if (!err)
			err = fe_sess_connect(&s);
		c0 = cpu_seconds();
		be_cpu0 = proc_cpu_seconds(b.backend_pid);
		t0 = (double)fe_now_ns();
		if (!err)
			err = io_loop(&s, b.duration);
		if (!err)
			err = fe_sess_disconnect(&s);
		snprintf(tag, sizeof(tag), "bench qd=%u", b.qdepth);
		summary(&s, ((double)fe_now_ns() - t0) / 1e9,
			cpu_seconds() - c0, err, tag);
		if (err || failed(&s))
			rc = 1;
		fe_sess_destroy(&s);
		free(st.lat_ns);
		free(st.rem_ns);
		free(st.rem_live_ns);
	}
	return rc;
}
