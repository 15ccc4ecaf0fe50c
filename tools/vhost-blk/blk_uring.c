// SPDX-License-Identifier: MIT
/*
 * tools/vhost-blk/blk_uring.c - gpc-vhost-blk's I/O engine: one io_uring
 * per queue, used only by that queue's thread.
 *
 * A request is parsed (blk_req.c) into its struct blk_ureq (the library's
 * per-request priv) and either completes at once (a refused request,
 * GET_ID, an empty read) or becomes one SQE (READ, WRITE, FLUSH) or one per
 * range (DISCARD, WRITE_ZEROES), whose user_data is a struct blk_sub inside
 * the request. The ring's eventfd is the queue's poll fd: the library's
 * queue thread sleeps on it next to the kick and calls blk_uring_poll(),
 * which writes the status byte and completes the request.
 *
 * Until it completes, the request's iovecs point into guest memory the
 * library keeps mapped for it (the request lifetime rule of gpc/vhost.h):
 * the kernel may write into them at any time before the CQE. So a request
 * is completed only after its last SQE's CQE, and blk_uring_drain() (the
 * queue stopping) waits for every one, however long the disk takes.
 *
 * What the kernel may answer besides success, and what we do:
 *   short read/write      resubmit the rest (the iovecs are copied to the
 *                         request's heap copy and advanced); 0 bytes = EOF:
 *                         the file shrank under us, IOERR.
 *   -EAGAIN, -EINTR       resubmit, a few times.
 *   -EINVAL on O_DIRECT   the kernel wanted another alignment: resubmit on
 *                         the buffered descriptor.
 *   -EOPNOTSUPP           DISCARD: advisory, OK. WRITE_ZEROES with
 *                         ZERO_RANGE (tmpfs has none): remember it, punch
 *                         a hole instead (reads of a hole give zeroes),
 *                         and allocate the range again after it unless
 *                         the driver allowed unmapping.
 *   anything else         IOERR, with a rate-limited log line.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <liburing.h>

#include "blk.h"

/* Resubmissions of one piece after -EAGAIN / -EINTR before IOERR. */
#define AGAIN_MAX 8

enum blk_sub_what {
	SUB_RW,
	SUB_FSYNC,
	SUB_PUNCH,	/* discard, or write-zeroes that may unmap */
	SUB_ZERO,	/* write-zeroes: FALLOC_FL_ZERO_RANGE */
	SUB_ZERO_PUNCH, /* write-zeroes without ZERO_RANGE: punch... */
	SUB_ZERO_ALLOC, /* ...then allocate again (no unmap allowed) */
};

struct blk_uring {
	struct io_uring ring;
	int efd;
	struct blk_disk *d;
	struct blk_qstats *st;
	blk_complete_fn *complete;
	void *complete_ctx;
	unsigned int inflight;	       /* requests */
	unsigned int unsubmitted;      /* SQEs prepared, not yet submitted */
	struct iovec tmp[BLK_IOV_MAX]; /* the parser's scratch */
};

static void stat_add(_Atomic uint64_t *c, uint64_t v)
{
	atomic_fetch_add_explicit(c, v, memory_order_relaxed);
}

size_t blk_ureq_size(void)
{
	return sizeof(struct blk_ureq);
}

int blk_uring_create(struct blk_disk *d, unsigned int entries,
		     struct blk_qstats *st, blk_complete_fn *complete,
		     void *complete_ctx, struct blk_uring **out)
{
	struct io_uring_params p;
	struct blk_uring *u;
	int ret;

	if (!d || !st || !complete || !out || !entries || entries > 32768)
		return -EINVAL;
	u = calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	u->d = d;
	u->st = st;
	u->complete = complete;
	u->complete_ctx = complete_ctx;
	u->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (u->efd < 0) {
		ret = -errno;
		free(u);
		return ret;
	}
	/*
	 * Room for a request's every range in the CQ, so completions never
	 * overflow it (the kernel would keep them, but at a cost); the SQ
	 * is emptied at every submit, so the queue size is plenty.
	 */
	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_CQSIZE;
	p.cq_entries = entries * 4;
	ret = io_uring_queue_init_params(entries, &u->ring, &p);
	if (ret) {
		close(u->efd);
		free(u);
		return ret;
	}
	ret = io_uring_register_eventfd(&u->ring, u->efd);
	if (ret) {
		io_uring_queue_exit(&u->ring);
		close(u->efd);
		free(u);
		return ret;
	}
	*out = u;
	return 0;
}

int blk_uring_fd(const struct blk_uring *u)
{
	return u->efd;
}

unsigned int blk_uring_inflight(const struct blk_uring *u)
{
	return u->inflight;
}

static void flush_sq(struct blk_uring *u)
{
	int ret;

	if (!u->unsubmitted)
		return;
	ret = io_uring_submit(&u->ring);
	if (ret >= 0)
		u->unsubmitted -= (unsigned int)ret > u->unsubmitted ?
					  u->unsubmitted :
					  (unsigned int)ret;
}

/* An SQE; NULL only if the kernel takes none (then the piece fails). */
static struct io_uring_sqe *get_sqe(struct blk_uring *u)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);

	if (!sqe) {
		flush_sq(u);
		sqe = io_uring_get_sqe(&u->ring);
	}
	return sqe;
}

/* Write the status, complete, count. The request is dead after. */
static void finish(struct blk_ureq *r, uint8_t status)
{
	struct blk_uring *u = r->u;
	struct blk_qstats *st = u->st;
	uint32_t written = 0;

	if (r->op.status_ptr) {
		*r->op.status_ptr = status;
		written = r->op.written;
		if (status == VIRTIO_BLK_S_IOERR)
			stat_add(&st->ioerr, 1);
		else if (status == VIRTIO_BLK_S_UNSUPP)
			stat_add(&st->unsupp, 1);
	} else {
		stat_add(&st->no_status, 1);
	}
	free(r->heap);
	r->heap = NULL;
	u->complete(u->complete_ctx, r->req, written);
}

static void prep_rw(struct blk_uring *u, struct blk_ureq *r,
		    struct io_uring_sqe *sqe, bool allow_direct)
{
	struct blk_disk *d = u->d;
	const struct blk_op *op = &r->op;
	uint64_t off = op->off + r->done;
	bool direct = false;
	int fd = d->fd;

	if (allow_direct && d->fd_direct >= 0) {
		uint64_t a = d->dio_align - 1;

		direct = !(off & a) && !((op->len - r->done) & a);
		for (unsigned int i = 0; direct && i < op->nr_data; i++)
			direct = !((uintptr_t)op->data[i].iov_base & a) &&
				 !(op->data[i].iov_len & a);
		if (direct)
			fd = d->fd_direct;
	}
	if (op->kind == BLK_K_READ) {
		io_uring_prep_readv(sqe, fd, op->data, op->nr_data, off);
	} else {
		io_uring_prep_writev(sqe, fd, op->data, op->nr_data, off);
		if (!atomic_load_explicit(&d->wce, memory_order_relaxed))
			sqe->rw_flags = RWF_DSYNC;
	}
	r->subs[0].direct = direct;
}

/* Queue one piece of @r (sub @i); false if no SQE could be had. */
static bool queue_sub(struct blk_uring *u, struct blk_ureq *r, unsigned int i,
		      enum blk_sub_what what, bool allow_direct)
{
	struct io_uring_sqe *sqe = get_sqe(u);
	struct blk_sub *s = &r->subs[i];
	const struct blk_range *rg = &r->op.ranges[i];
	int mode = FALLOC_FL_KEEP_SIZE;

	if (!sqe)
		return false;
	s->r = r;
	s->idx = (uint16_t)i;
	s->what = (uint8_t)what;
	s->direct = false;
	switch (what) {
	case SUB_RW:
		prep_rw(u, r, sqe, allow_direct);
		break;
	case SUB_FSYNC:
		io_uring_prep_fsync(sqe, u->d->fd, IORING_FSYNC_DATASYNC);
		break;
	case SUB_PUNCH:
	case SUB_ZERO_PUNCH:
		mode |= FALLOC_FL_PUNCH_HOLE;
		io_uring_prep_fallocate(sqe, u->d->fd, mode, rg->off, rg->len);
		break;
	case SUB_ZERO:
		mode |= FALLOC_FL_ZERO_RANGE;
		io_uring_prep_fallocate(sqe, u->d->fd, mode, rg->off, rg->len);
		break;
	case SUB_ZERO_ALLOC:
		io_uring_prep_fallocate(sqe, u->d->fd, mode, rg->off, rg->len);
		break;
	}
	io_uring_sqe_set_data(sqe, s);
	u->unsubmitted++;
	r->pending++;
	return true;
}

static enum blk_sub_what zero_what(struct blk_uring *u,
				   const struct blk_range *rg)
{
	if (rg->unmap)
		return SUB_PUNCH;
	if (atomic_load_explicit(&u->d->no_zero_range, memory_order_relaxed))
		return SUB_ZERO_PUNCH;
	return SUB_ZERO;
}

/* Move the parser's trimmed copy of the data iovecs to the heap. */
static bool keep_data(struct blk_ureq *r)
{
	struct blk_op *op = &r->op;

	r->heap = malloc(op->nr_data * sizeof(*r->heap));
	if (!r->heap)
		return false;
	memcpy(r->heap, op->data, op->nr_data * sizeof(*r->heap));
	op->data = r->heap;
	return true;
}

void blk_uring_request(struct blk_uring *u, struct gpc_vhost_req *req,
		       const struct iovec *iov, unsigned int nr_read,
		       unsigned int nr_write, struct blk_ureq *r)
{
	struct blk_qstats *st = u->st;
	struct blk_op *op = &r->op;
	uint64_t inflight;

	r->req = req;
	r->u = u;
	r->pending = 0;
	r->status = VIRTIO_BLK_S_OK;
	r->again = 0;
	r->done = 0;
	r->heap = NULL;
	stat_add(&st->requests, 1);
	if (nr_read > BLK_IOV_MAX || nr_write > BLK_IOV_MAX - nr_read)
		nr_read = nr_write = 0; /* no status byte: length 0 */
	blk_req_parse(u->d, iov, nr_read, nr_write, u->tmp, BLK_IOV_MAX, op);
	if (op->data_copied &&
	    (op->kind == BLK_K_READ || op->kind == BLK_K_WRITE) &&
	    !keep_data(r)) {
		blk_log(BLK_LOG_ERR, "no memory for a request's iovecs");
		return finish(r, VIRTIO_BLK_S_IOERR);
	}

	switch (op->kind) {
	case BLK_K_DONE:
		return finish(r, op->status);
	case BLK_K_GET_ID:
		stat_add(&st->get_ids, 1);
		blk_buf_to_iov(op->data, op->nr_data, u->d->serial, op->len);
		return finish(r, VIRTIO_BLK_S_OK);
	case BLK_K_READ:
		stat_add(&st->reads, 1);
		queue_sub(u, r, 0, SUB_RW, true);
		break;
	case BLK_K_WRITE:
		stat_add(&st->writes, 1);
		queue_sub(u, r, 0, SUB_RW, true);
		break;
	case BLK_K_FLUSH:
		stat_add(&st->flushes, 1);
		queue_sub(u, r, 0, SUB_FSYNC, false);
		break;
	case BLK_K_DISCARD:
		stat_add(&st->discards, 1);
		for (unsigned int i = 0; i < op->nr_ranges; i++)
			if (!queue_sub(u, r, i, SUB_PUNCH, false))
				r->status = VIRTIO_BLK_S_IOERR;
		break;
	case BLK_K_WRITE_ZEROES:
		stat_add(&st->write_zeroes, 1);
		for (unsigned int i = 0; i < op->nr_ranges; i++)
			if (!queue_sub(u, r, i, zero_what(u, &op->ranges[i]),
				       false))
				r->status = VIRTIO_BLK_S_IOERR;
		break;
	}
	if (!r->pending) {
		blk_log(BLK_LOG_ERR, "io_uring: no submission queue entry");
		return finish(r, VIRTIO_BLK_S_IOERR);
	}
	u->inflight++;
	inflight = atomic_fetch_add_explicit(&st->inflight, 1,
					     memory_order_relaxed) +
		   1;
	if (inflight >
	    atomic_load_explicit(&st->inflight_max, memory_order_relaxed))
		atomic_store_explicit(&st->inflight_max, inflight,
				      memory_order_relaxed);
	/*
	 * One io_uring_enter per batch, not per request: the library calls
	 * .queue_poll (blk_uring_poll) before its queue thread sleeps, so a
	 * queued SQE waits at most for the rest of the batch being popped.
	 */
	if (u->unsubmitted >= BLK_URING_BATCH)
		flush_sq(u);
}

/* The iovecs of a READ/WRITE, on the heap, advanced by @bytes more. */
static bool advance(struct blk_ureq *r, uint64_t bytes)
{
	struct blk_op *op = &r->op;
	unsigned int first, left;

	if (!r->heap) {
		if (!keep_data(r))
			return false;
		op->data_copied = true;
	}
	left = blk_iov_advance((struct iovec *)op->data, op->nr_data, bytes,
			       &first);
	op->data += first;
	op->nr_data = left;
	return left > 0;
}

/* One CQE of @s: resubmit, or settle the piece. */
static void piece_done(struct blk_uring *u, struct blk_sub *s, int res)
{
	struct blk_ureq *r = s->r;
	struct blk_op *op = &r->op;
	const struct blk_range *rg = &op->ranges[s->idx];
	enum blk_sub_what again = (enum blk_sub_what)s->what;
	bool allow_direct = true;
	uint8_t status = VIRTIO_BLK_S_OK;

	if (s->what == SUB_RW && res > 0) {
		uint64_t left = op->len - r->done;

		if ((uint64_t)res > left)
			res = (int)left; /* cannot happen; be safe */
		r->done += (uint64_t)res;
		if (op->kind == BLK_K_READ)
			stat_add(&u->st->bytes_read, (uint64_t)res);
		else
			stat_add(&u->st->bytes_written, (uint64_t)res);
		if (r->done == op->len)
			goto settled;
		stat_add(&u->st->retries, 1);
		if (!advance(r, (uint64_t)res)) {
			status = VIRTIO_BLK_S_IOERR;
			goto settled;
		}
		goto resubmit;
	}
	if (res >= 0 && s->what != SUB_RW) {
		if (s->what == SUB_ZERO_PUNCH && !rg->unmap) {
			again = SUB_ZERO_ALLOC;
			goto resubmit;
		}
		goto settled;
	}
	if (res == -EFAULT)
		stat_add(&u->st->efaults, 1); /* then an I/O error, below */
	if (s->what == SUB_RW && res == 0) {
		blk_log_guest("%s at byte %" PRIu64
			      ": end of file after %" PRIu64 " of %" PRIu64
			      " bytes (the file shrank?)",
			      op->kind == BLK_K_READ ? "read" : "write",
			      op->off, r->done, op->len);
		status = VIRTIO_BLK_S_IOERR;
		goto settled;
	}
	if ((res == -EAGAIN || res == -EINTR) && r->again < AGAIN_MAX) {
		r->again++;
		stat_add(&u->st->retries, 1);
		goto resubmit;
	}
	if (res == -EINVAL && s->what == SUB_RW && s->direct) {
		allow_direct = false;
		stat_add(&u->st->retries, 1);
		goto resubmit;
	}
	if (res == -EOPNOTSUPP && s->what == SUB_PUNCH &&
	    op->kind == BLK_K_DISCARD)
		goto settled; /* discard is a hint */
	if (res == -EOPNOTSUPP && s->what == SUB_ZERO) {
		if (!atomic_exchange_explicit(&u->d->no_zero_range, true,
					      memory_order_relaxed))
			blk_log(BLK_LOG_INFO, "no FALLOC_FL_ZERO_RANGE here: "
					      "write-zeroes punches holes");
		again = SUB_ZERO_PUNCH;
		stat_add(&u->st->retries, 1);
		goto resubmit;
	}
	blk_log_guest(
		"request type %" PRIu32 " at byte %" PRIu64 ": %s", op->type,
		s->what == SUB_RW || s->what == SUB_FSYNC ? op->off : rg->off,
		strerror(-res));
	status = VIRTIO_BLK_S_IOERR;
	goto settled;

resubmit:
	r->pending--;
	if (queue_sub(u, r, s->idx, again, allow_direct))
		return;
	status = VIRTIO_BLK_S_IOERR;
	r->pending++; /* settled below takes it */
settled:
	if (status != VIRTIO_BLK_S_OK && r->status == VIRTIO_BLK_S_OK)
		r->status = status;
	if (--r->pending)
		return;
	u->inflight--;
	atomic_fetch_sub_explicit(&u->st->inflight, 1, memory_order_relaxed);
	finish(r, r->status);
}

unsigned int blk_uring_poll(struct blk_uring *u)
{
	struct io_uring_cqe *cqe;
	unsigned int n = 0;
	uint64_t v;
	ssize_t rd;

	flush_sq(u); /* what .request queued */

	/*
	 * The eventfd first, then the CQ: a CQE posted after our last peek
	 * writes the eventfd again, so the queue thread polls again.
	 */
	/* EAGAIN: nothing signalled (a poll before the thread sleeps). */
	rd = read(u->efd, &v, sizeof(v));
	(void)rd;
	while (io_uring_peek_cqe(&u->ring, &cqe) == 0) {
		struct blk_sub *s = io_uring_cqe_get_data(cqe);
		int res = cqe->res;
		unsigned int before = u->inflight;

		io_uring_cqe_seen(&u->ring, cqe);
		if (!s)
			continue;
		piece_done(u, s, res);
		n += before - u->inflight;
	}
	flush_sq(u); /* resubmissions */
	return n;
}

void blk_uring_drain(struct blk_uring *u)
{
	struct timespec t0, now;
	long last_log = 0;
	bool cancelled = false;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (u->inflight) {
		struct __kernel_timespec ts = { .tv_sec = 0,
						.tv_nsec = 100 * 1000 * 1000 };
		struct io_uring_cqe *cqe;
		long waited;

		flush_sq(u);
		io_uring_wait_cqe_timeout(&u->ring, &cqe, &ts);
		blk_uring_poll(u);
		if (!u->inflight)
			break;
		clock_gettime(CLOCK_MONOTONIC, &now);
		waited = (long)(now.tv_sec - t0.tv_sec);
		/*
		 * The guest's memory stays mapped while the kernel may write
		 * into it, so there is no giving up: say so every 5 s, and
		 * after 10 s ask the kernel to cancel what it can.
		 */
		if (waited >= last_log + 5) {
			last_log = waited;
			blk_log(BLK_LOG_WARN,
				"queue stop: %u requests still in flight after "
				"%ld s",
				u->inflight, waited);
		}
		if (waited >= 10 && !cancelled) {
			struct io_uring_sqe *sqe = get_sqe(u);

			if (sqe) {
				io_uring_prep_cancel64(sqe, 0,
						       IORING_ASYNC_CANCEL_ANY);
				io_uring_sqe_set_data(sqe, NULL);
				u->unsubmitted++;
			}
			cancelled = true;
		}
	}
}

void blk_uring_destroy(struct blk_uring *u)
{
	if (!u)
		return;
	blk_uring_drain(u);
	io_uring_unregister_eventfd(&u->ring);
	io_uring_queue_exit(&u->ring);
	close(u->efd);
	free(u);
}
