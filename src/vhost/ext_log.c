// SPDX-License-Identifier: MIT
/*
 * src/vhost/ext_log.c - LOG_SHMFD and VHOST_F_LOG_ALL wired into the
 * back-end through the ext.h hooks, on the dirty-log module (dirty_log.h):
 *
 *  - SET_LOG_BASE (LOG_SHMFD acked): the log mapped (or replaced),
 *    then the reply the spec gives it, a u64 0;
 *  - SET_FEATURES turning LOG_ALL on: the memory vm's slots get
 *    GPC_MEMSLOT_LOG_DIRTY (and every region added while logging);
 *    turning it off: a last harvest, the flag off;
 *  - at each completion while LOG_ALL is acked: every writable iovec of
 *    the request ORed into the shared log (by its host address, so the
 *    same code serves buffers found by IOVA), and the used element, the
 *    used index and avail_event at the ring's log_guest_addr when the
 *    ring has VHOST_VRING_F_LOG. Logging at completion, not only through
 *    libgpc's marks at translation, is what covers writes the kernel
 *    makes after the request's read section (dirty_log.h: io_uring);
 *  - a queue's stop (GET_VRING_BASE before its reply): libgpc's bits
 *    harvested into the shared log;
 *  - SET_LOG_FD: an eventfd (the spec: "may be used to inform the
 *    front-end that the log has been modified"; not gated by LOG_SHMFD
 *    in the spec's list of messages with fds, so neither here), kept
 *    until replaced or the reset, signalled as Linux vhost signals its
 *    log context: after the log writes of a completion (once its used
 *    index is published and logged) and after a harvest that moved
 *    bits. Signals coalesce: one per completion or harvest at most, none
 *    without bits set. QEMU does not send it; the kernel vhost protocol
 *    has it, and a front-end that polls the eventfd instead of rescanning
 *    the log is what it is for.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "gpc/vm.h"

#include "dev_priv.h"
#include "dirty_log.h"
#include "ext.h"
#include "fault.h"

static struct gpc_vhost_dirty_log *get_log(struct gpc_vhost_dev *d)
{
	return atomic_load_explicit(&d->dlog, memory_order_acquire);
}

static void log_line(void *ctx, int level, const char *m)
{
	gpc_vhost_log(ctx, level, "%s", m);
}

/* The log, created on first use (control thread). */
static int ensure_log(struct gpc_vhost_dev *d, struct gpc_vhost_dirty_log **out)
{
	struct gpc_vhost_dirty_log *l = get_log(d);
	int err;

	if (!l) {
		err = gpc_vhost_dirty_log_create(gpc_vm_srcu(d->vm), log_line,
						 d, &l);
		if (err)
			return err;
		atomic_store_explicit(&d->dlog, l, memory_order_release);
	}
	*out = l;
	return 0;
}

static unsigned int slot_ids(const struct gpc_vhost_dev *d, uint32_t *ids)
{
	for (unsigned int i = 0; i < d->nregions; i++)
		ids[i] = d->regions[i].slot_id;
	return d->nregions;
}

static bool logging(const struct gpc_vhost_dev *d)
{
	return gpc_vhost_feature_acked(d, VHOST_F_LOG_ALL);
}

static bool log_handles(uint32_t req)
{
	return req == GPC_VHOST_SET_LOG_BASE || req == GPC_VHOST_SET_LOG_FD;
}

/*
 * An eventfd? Its /proc link names the anon inode's class; nothing in
 * fstat() tells it from other anon inodes. A signal written to a pipe or
 * a socket would be data the front-end did not ask for (or a block).
 */
static bool is_eventfd(int fd)
{
	static const char want[] = "anon_inode:[eventfd]";
	char path[64], target[sizeof(want) + 1];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, target, sizeof(target));
	return n == (ssize_t)(sizeof(want) - 1) && !memcmp(target, want, n);
}

/* SET_LOG_FD: validated (one fd: msg_validate.c), taken, kept. */
static int set_log_fd(struct gpc_vhost_dev *d, struct gpc_vhost_msg *msg)
{
	struct gpc_vhost_dirty_log *l;
	int fl, fd, err;

	if (!is_eventfd(msg->fds[0]))
		return gpc_vhost_fail(d, -EINVAL,
				      "the log fd is not an eventfd");
	err = ensure_log(d, &l);
	if (err)
		return gpc_vhost_fail(d, err, "no dirty log");
	/*
	 * Non-blocking: a counter the front-end filled to its maximum would
	 * block a queue thread's signal. The flag is on the file the
	 * front-end shares; eventfd users poll it anyway.
	 */
	fd = msg->fds[0];
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return gpc_vhost_fail(d, -errno, "the log fd's flags");
	fd = gpc_vhost_msg_take_fd(msg, 0);
	err = gpc_vhost_dirty_log_set_notify_fd(l, fd);
	if (err) {
		close(fd);
		return gpc_vhost_fail(d, err, "the log fd was not kept");
	}
	return 0;
}

static int log_handle(struct gpc_vhost_dev *d, struct gpc_vhost_msg *msg)
{
	struct gpc_vhost_dirty_log *l;
	int err;

	if (msg->hdr.request == GPC_VHOST_SET_LOG_FD)
		return set_log_fd(d, msg);
	if (!gpc_vhost_proto_acked(d, GPC_VHOST_PROTOCOL_F_LOG_SHMFD))
		return gpc_vhost_fail(d, -EOPNOTSUPP,
				      "LOG_SHMFD was not negotiated");
	err = ensure_log(d, &l);
	if (!err)
		/* The fd stays the message's: the dispatcher closes it. */
		err = gpc_vhost_dirty_log_set_base(l, msg->fds[0],
						   &msg->payload.log);
	if (err)
		return gpc_vhost_fail(d, err, "the log could not be mapped");
	return gpc_vhost_msg_reply_u64(d->sock, msg, 0,
				       GPC_VHOST_SEND_TIMEOUT_MS);
}

static int log_features_changed(struct gpc_vhost_dev *d, uint64_t old_f,
				uint64_t new_f)
{
	uint64_t bit = 1ull << VHOST_F_LOG_ALL;
	uint32_t ids[GPC_VHOST_MAX_MEM_SLOTS];
	struct gpc_vhost_dirty_log *l;
	unsigned int n = slot_ids(d, ids);
	int err;

	if (!((old_f ^ new_f) & bit))
		return 0;
	if (new_f & bit) {
		err = ensure_log(d, &l);
		if (!err)
			err = gpc_vhost_dirty_log_start(l, d->vm, ids, n);
		return err ? gpc_vhost_fail(d, err,
					    "dirty logging not started") :
			     0;
	}
	l = get_log(d);
	err = l ? gpc_vhost_dirty_log_stop(l, d->vm, ids, n) : 0;
	gpc_vhost_dirty_log_notify(l);
	return err ? gpc_vhost_fail(d, err, "dirty logging not stopped") : 0;
}

static void log_queue_stopped(struct gpc_vhost_queue *q)
{
	struct gpc_vhost_dev *d = q->dev;
	struct gpc_vhost_dirty_log *l = get_log(d);
	uint32_t ids[GPC_VHOST_MAX_MEM_SLOTS];
	unsigned int n;
	int err;

	if (!l || !logging(d))
		return;
	n = slot_ids(d, ids);
	err = gpc_vhost_dirty_log_harvest(l, d->vm, ids, n);
	if (err < 0 && err != -ENXIO)
		gpc_vhost_log(d, GPC_VHOST_LOG_ERR,
			      "queue %u: dirty log harvest failed (%d)",
			      q->index, err);
	gpc_vhost_dirty_log_notify(l);
}

static uint32_t log_slot_flags(struct gpc_vhost_dev *d)
{
	struct gpc_vhost_dirty_log *l = get_log(d);

	return l ? gpc_vhost_dirty_log_slot_flags(l) : 0;
}

/*
 * CHECK_STALE: [@p, + @len) failed in the memory vm, so it may be (partly)
 * in IOTLB aliases, which map region pages at addresses the memory vm does
 * not know: each alias piece is logged by its region address. The alias
 * is still registered while a request that used it completes, even if its
 * entry already left the IOTLB table (retired only after the in-flight
 * wait). Other pieces are retried a page at a time in the memory vm: what
 * is in no slot (a region removed under the request) stays unlogged, as
 * without CHECK_STALE.
 */
static void log_aliased(struct gpc_vhost_dirty_log *l, struct gpc_vhost_dev *d,
			const uint8_t *p, size_t len)
{
	const size_t pg = (size_t)1 << GPC_VHOST_LOG_PAGE_SHIFT;

	while (len) {
		const void *hva;
		size_t n;

		if (gpc_vhost_fault_alias_origin(p, &hva, &n)) {
			if (n > len)
				n = len;
			gpc_vhost_dirty_log_write_hva(l, d->vm, hva, n);
		} else {
			n = pg - ((uintptr_t)p & (pg - 1));
			if (n > len)
				n = len;
			gpc_vhost_dirty_log_write_hva(l, d->vm, p, n);
		}
		p += n;
		len -= n;
	}
}

/* Queue thread, inside the completion's read section. */
static void log_complete(struct gpc_vhost_queue *q,
			 const struct gpc_vhost_req *req)
{
	struct gpc_vhost_dev *d = q->dev;
	struct gpc_vhost_dirty_log *l = get_log(d);

	if (!l || !logging(d))
		return;
	for (unsigned int i = req->nr_read; i < req->nr_read + req->nr_write;
	     i++) {
		const struct iovec *v = &req->iov[i];

		/* The normal path: one lookup; aliases only after a miss. */
		if (gpc_vhost_dirty_log_write_hva(l, d->vm, v->iov_base,
						  v->iov_len) &&
		    (d->cfg.flags & GPC_VHOST_F_CHECK_STALE))
			log_aliased(l, d, v->iov_base, v->iov_len);
	}
}

static void log_used_written(struct gpc_vhost_queue *q, uint64_t off,
			     uint64_t len)
{
	struct gpc_vhost_dev *d = q->dev;
	struct gpc_vhost_dirty_log *l = get_log(d);

	if (!l || !logging(d))
		return;
	if (q->addr.flags & 1u << VHOST_VRING_F_LOG)
		gpc_vhost_dirty_log_write(l, q->addr.log_guest_addr + off, len);
	/*
	 * The used index is the completion's last write (its buffers were
	 * logged by log_complete(), its element before): signal now.
	 */
	if (off == GPC_VHOST_USED_IDX_OFF)
		gpc_vhost_dirty_log_notify(l);
}

static void log_reset(struct gpc_vhost_dev *d)
{
	struct gpc_vhost_dirty_log *l = get_log(d);

	/* Every queue is stopped: no thread holds the pointer. */
	atomic_store_explicit(&d->dlog, NULL, memory_order_relaxed);
	gpc_vhost_dirty_log_destroy(l);
}

GPC_VHOST_HIDDEN extern const struct gpc_vhost_ext gpc_vhost_ext_log;
const struct gpc_vhost_ext gpc_vhost_ext_log = {
	.name = "dirty-log",
	.features = 1ull << VHOST_F_LOG_ALL,
	.protocol_features = 1ull << GPC_VHOST_PROTOCOL_F_LOG_SHMFD,
	.handles = log_handles,
	.handle = log_handle,
	.reset = log_reset,
	.complete = log_complete,
	.used_written = log_used_written,
	.features_changed = log_features_changed,
	.queue_stopped = log_queue_stopped,
	.slot_flags = log_slot_flags,
};
