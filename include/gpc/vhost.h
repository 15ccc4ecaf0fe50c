/* SPDX-License-Identifier: MIT */
/*
 * gpc/vhost.h - libgpc-vhost: a vhost-user back-end on libgpc.
 *
 * A device (block, network, ...) describes itself with a struct
 * gpc_vhost_device: its virtio feature bits, its config space, its queue
 * count and a request handler. The library does the rest: the vhost-user
 * protocol on a UNIX socket (QEMU's docs/interop/vhost-user.rst), the
 * front-end's memory regions (mapped here and entered as libgpc memslots),
 * the split virtqueues (rings read through libgpc caches, descriptor chains
 * translated into iovecs), one datapath thread per queue (or a configured
 * number of workers) woken by the kick eventfds, the used ring with
 * EVENT_IDX, the IOTLB (VIRTIO_F_ACCESS_PLATFORM), dirty logging
 * (LOG_SHMFD) and inflight tracking (INFLIGHT_SHMFD).
 *
 * Everything the front-end sends and everything in guest memory is
 * untrusted: a malformed message gets an error reply or a clean disconnect
 * with one log line, a malformed descriptor chain ends that request with an
 * error (struct gpc_vhost_device.bad_request), and no access ever leaves a
 * mapping.
 *
 * The request's lifetime, and the one rule a device must follow:
 *
 *   1. The queue's thread pops a head from the available ring, walks its
 *      chain inside a read section of the library's SRCU domain, and calls
 *      .request with the iovecs (device-readable first, then
 *      device-writable).
 *   2. The device either completes it at once (gpc_vhost_req_complete()
 *      from inside .request) or hands the iovecs to the kernel (io_uring,
 *      AIO, a thread pool) and returns; it then completes it later, on the
 *      same queue thread, from .queue_poll.
 *   3. Until gpc_vhost_req_complete(), the request's memory stays mapped:
 *      a removal of that memory by the front-end (REM_MEM_REG, a
 *      SET_MEM_TABLE that drops it, an IOTLB invalidation) waits for every
 *      request that was in flight when the removal began, and replies only
 *      after. After gpc_vhost_req_complete() the device must not touch the
 *      iovecs again.
 *
 * Threads: gpc_vhost_dev_run() serves the socket on the calling thread (the
 * control thread: every message, every memory change) and runs the
 * datapath threads it starts. The device's callbacks other than .request,
 * .queue_poll and .bad_request run on the control thread.
 */
#ifndef GPC_VHOST_H
#define GPC_VHOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "gpc/vm.h"

#ifdef __cplusplus
extern "C" {
#endif

struct gpc_vhost_dev;
struct gpc_vhost_queue;

/* The most queues a device may have (the inflight and log layouts bound it). */
#define GPC_VHOST_MAX_QUEUES 64u

/* The most memory regions a front-end may give (GET_MAX_MEM_SLOTS). */
#define GPC_VHOST_MAX_MEM_SLOTS 509u

/*
 * One request, as the library hands it to the device. The library owns it
 * and keeps it alive until gpc_vhost_req_complete(); @priv is the device's
 * (struct gpc_vhost_device.req_priv_size bytes, zeroed before .request).
 */
struct gpc_vhost_req {
	struct gpc_vhost_queue *queue;
	unsigned int queue_index;
	uint16_t head;		      /* the chain's head descriptor */
	unsigned int nr_read;	      /* iov[0, nr_read): device-readable */
	unsigned int nr_write;	      /* then nr_write device-writable */
	uint32_t read_len, write_len; /* their bytes */
	struct iovec *iov;
	void *priv;
};

/*
 * What a device is. Only .request is required; a NULL callback means the
 * default described with it. The struct is read by gpc_vhost_dev_create()
 * and must stay valid (and unchanged) until gpc_vhost_dev_destroy().
 */
struct gpc_vhost_device {
	const char *name; /* for log lines */
	/*
	 * Device-specific virtio feature bits offered (e.g.
	 * VIRTIO_BLK_F_SEG_MAX). The library adds VIRTIO_F_VERSION_1,
	 * VIRTIO_RING_F_EVENT_IDX, VIRTIO_RING_F_INDIRECT_DESC and
	 * VHOST_USER_F_PROTOCOL_FEATURES, VIRTIO_F_ACCESS_PLATFORM (the
	 * IOTLB) and VHOST_F_LOG_ALL (dirty logging) unless masked out in
	 * .features_mask.
	 */
	uint64_t features;
	uint64_t features_mask;	     /* library bits NOT to offer */
	unsigned int num_queues;     /* 1 .. GPC_VHOST_MAX_QUEUES */
	unsigned int queue_size_max; /* power of two, <= 32768; 0: 1024 */
	unsigned int seg_max;	     /* iovecs per request; 0: 1024 */
	size_t req_priv_size;
	uint32_t config_size; /* bytes of the device's config space */

	/*
	 * GET_CONFIG: copy @len bytes of the config space at @off into @buf.
	 * The library has checked @off + @len <= config_size. NULL: zeros.
	 * Control thread.
	 */
	int (*get_config)(void *ctx, uint32_t off, void *buf, uint32_t len);
	/* SET_CONFIG: the driver wrote config space. NULL: refused (-EPERM). */
	int (*set_config)(void *ctx, uint32_t off, const void *buf,
			  uint32_t len);

	/*
	 * A queue starts (the front-end gave its rings, kick and enabled it):
	 * the device sets up per-queue state (*@qctx, passed to .request and
	 * .queue_poll) and may return in *@poll_fd an fd that the queue's
	 * thread polls next to the kick (e.g. an io_uring's eventfd), or -1.
	 * Runs on the queue's thread before its first request. NULL: no state.
	 */
	int (*queue_start)(void *ctx, struct gpc_vhost_queue *q, void **qctx,
			   int *poll_fd);
	/*
	 * The queue stops (GET_VRING_BASE, disconnect, reset). The device
	 * must complete every request it still holds (wait for its I/O)
	 * before it returns. Queue thread.
	 */
	void (*queue_stop)(void *ctx, struct gpc_vhost_queue *q, void *qctx);

	/* A request (see the file comment). Queue thread, in a read section. */
	void (*request)(void *qctx, struct gpc_vhost_req *req);
	/*
	 * The chain of @req could not be translated (@err, the walker's
	 * errno; the library has logged the reason). @req holds what was
	 * translated before the failure. The device may write an error status
	 * into a writable iovec it recognises; the library then completes the
	 * request with the length .bad_request returns (0 if NULL). Queue
	 * thread, in a read section.
	 */
	uint32_t (*bad_request)(void *qctx, struct gpc_vhost_req *req, int err);
	/*
	 * The fd from .queue_start became readable, or the queue thread is
	 * about to sleep while the queue has requests in flight: reap
	 * completions (gpc_vhost_req_complete()). Queue thread, outside any
	 * read section.
	 */
	void (*queue_poll)(void *qctx);
};

/* Log lines of the library (one per event: a refused message, a bad chain). */
typedef void gpc_vhost_log_fn(void *ctx, int level, const char *msg);

/* gpc_vhost_dev_create() flags. */
/* Connect to the socket (QEMU's chardev server=on) instead of listening. */
#define GPC_VHOST_F_CLIENT	   (1u << 0)
/* Datapath threads busy-poll the available rings instead of sleeping. */
#define GPC_VHOST_F_BUSY_POLL	   (1u << 1)
/*
 * Checking mode (tests): a removed region is kept mapped PROT_NONE (its
 * address range leaked) instead of unmapped. With an IOTLB
 * (VIRTIO_F_ACCESS_PLATFORM) each entry's translations point into an alias
 * of the region pages it maps (a second mapping of them, one mremap() per
 * entry), which goes PROT_NONE once the entry is invalidated (or replaced,
 * or its region removed) and the requests in flight through it completed;
 * the last 1024 retired aliases of the process are kept, older ones
 * unmapped. A late access to either (a device that touches a request's
 * buffers after gpc_vhost_req_complete(), or through a translation since
 * invalidated) is caught by the fault guard (see
 * GPC_VHOST_F_NO_FAULT_GUARD; without it no aliases are made): counted in
 * stale_accesses, one log line per region or IOVA, and completed on a zero
 * page instead of crashing the process or reading the live region. An I/O
 * the kernel does through such a pointer (io_uring) fails with -EFAULT
 * instead: the device counts that itself.
 */
#define GPC_VHOST_F_CHECK_STALE	   (1u << 2)
/*
 * The fault guard: a front-end may shrink (ftruncate) a region's file
 * after the back-end mapped it, and a CPU access to the missing pages is
 * a SIGBUS. A region whose fd is sealed with F_SEAL_SHRINK cannot shrink
 * (QEMU's memory-backend-memfd seals by default) and needs nothing; for
 * any other region (files, hugetlbfs, unsealed memfds) the library
 * installs, once per process when the first such region is mapped (or a
 * region is removed under CHECK_STALE), an SA_SIGINFO handler for SIGBUS
 * and SIGSEGV. A fault inside one of the
 * library's mappings is repaired with an anonymous zero page (the access
 * completes), counted (bus_faults, or stale_accesses for a removed region
 * under CHECK_STALE) and the front-end is disconnected with one log line;
 * a fault anywhere else goes to the handler installed before (or, with
 * none, kills the process as it would have). A handler the application
 * installs over the library's is found at the next region mapped and put
 * behind the library's (which then chains to it); until then, faults go
 * to it alone.
 *
 * This flag turns the guard off, for applications that own those signals:
 * unsealed regions are then accepted with a warning (one log line per
 * region) - a front-end that shrinks one faults the process - and under
 * CHECK_STALE a late access crashes instead of being counted.
 */
#define GPC_VHOST_F_NO_FAULT_GUARD (1u << 3)
/*
 * Do not offer VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS: the front-end
 * then sends the whole memory table (SET_MEM_TABLE) on every change
 * instead of ADD_MEM_REG/REM_MEM_REG - the older form, for tests and for
 * front-ends that must be driven through it.
 */
#define GPC_VHOST_F_NO_MEM_SLOTS   (1u << 4)

struct gpc_vhost_config {
	const char *socket_path;
	unsigned int flags;	/* GPC_VHOST_F_* */
	enum gpc_scheme scheme; /* libgpc read side of the memory table */
	/*
	 * Datapath threads: queue i runs on thread i % workers; 0 (or more
	 * than num_queues): one thread per queue.
	 */
	unsigned int workers;
	gpc_vhost_log_fn *log; /* NULL: stderr */
	void *log_ctx;
};

struct gpc_vhost_stats {
	uint64_t connections, messages, refused_messages;
	uint64_t requests, bad_requests, kicks, calls;
	uint64_t mem_adds, mem_removes;
	uint64_t removal_wait_ns_max; /* table out -> munmap, slowest */
	uint64_t iotlb_updates, iotlb_invalidations, iotlb_misses;
	/*
	 * GPC_VHOST_F_CHECK_STALE: accesses to removed regions and through
	 * invalidated IOTLB entries (one per page first touched), caught by
	 * the fault guard.
	 */
	uint64_t stale_accesses;
	/*
	 * Faults on pages of a live region whose file the front-end shrank
	 * (each repaired; the connection then ends). 0 with
	 * GPC_VHOST_F_NO_FAULT_GUARD.
	 */
	uint64_t bus_faults;
};

/**
 * gpc_vhost_dev_create - a back-end for @dev.
 * @dev: the device (kept by pointer until destroy).
 * @ctx: passed to the device's callbacks.
 * @cfg: socket and threads.
 * @out: receives the back-end.
 *
 * Binds (or, with GPC_VHOST_F_CLIENT, only records) the socket; no thread
 * runs before gpc_vhost_dev_run().
 *
 * Return: 0; -EINVAL for a NULL argument, no .request, num_queues out of
 * range, queue_size_max not a power of two, or an unknown flag;
 * -ENAMETOOLONG if socket_path does not fit a sockaddr_un; -ENOMEM; the
 * errno of socket()/bind()/listen().
 * Context: may sleep.
 */
int gpc_vhost_dev_create(const struct gpc_vhost_device *dev, void *ctx,
			 const struct gpc_vhost_config *cfg,
			 struct gpc_vhost_dev **out);

/**
 * gpc_vhost_dev_run - serve front-ends until gpc_vhost_dev_stop().
 *
 * Accepts a connection (or connects, retrying, in client mode), serves it
 * until the front-end disconnects (queues stopped, memory unmapped), then
 * waits for the next one. A protocol error ends the connection, not the
 * back-end.
 *
 * Return: 0 after gpc_vhost_dev_stop(); -EINVAL if @d is NULL or was
 * created without a socket_path; -EBUSY if it runs already; the errno of accept()/connect() for a socket that failed
 * for good.
 * Context: may sleep (the calling thread becomes the control thread).
 */
int gpc_vhost_dev_run(struct gpc_vhost_dev *d);

/**
 * gpc_vhost_dev_serve_fd - serve one already-connected socket, then return.
 * @fd: a connected SOCK_STREAM UNIX socket (e.g. one end of a socketpair);
 *      closed by the call.
 *
 * For tests and fuzzers: one connection, as gpc_vhost_dev_run() serves it.
 * Return: 0 when the peer disconnected or gpc_vhost_dev_stop() was called;
 * -EINVAL if @d is NULL or @fd negative; -EBUSY if the back-end is serving.
 * Context: may sleep.
 */
int gpc_vhost_dev_serve_fd(struct gpc_vhost_dev *d, int fd);

/**
 * gpc_vhost_dev_stop - make gpc_vhost_dev_run() return.
 *
 * Return: 0; -EINVAL if @d is NULL.
 * Context: any context, async-signal-safe (writes an eventfd).
 */
int gpc_vhost_dev_stop(struct gpc_vhost_dev *d);

/**
 * gpc_vhost_dev_destroy - free a back-end that is not running.
 *
 * Return: 0; -EINVAL if @d is NULL; -EBUSY if gpc_vhost_dev_run() or
 * gpc_vhost_dev_serve_fd() is still running on it.
 * Context: may sleep.
 */
int gpc_vhost_dev_destroy(struct gpc_vhost_dev *d);

/**
 * gpc_vhost_dev_get_stats - a snapshot of the back-end's counters.
 *
 * Return: 0; -EINVAL if @d or @st is NULL.
 * Context: any context, never blocks (relaxed loads).
 */
int gpc_vhost_dev_get_stats(struct gpc_vhost_dev *d,
			    struct gpc_vhost_stats *st);

/**
 * gpc_vhost_dev_config_changed - tell the front-end the config space
 * changed (VHOST_USER_BACKEND_CONFIG_CHANGE_MSG on the back-end channel).
 *
 * Return: 0; -EINVAL if @d is NULL; -ENOTCONN if no front-end gave a
 * back-end channel (SET_BACKEND_REQ_FD); the errno of the send.
 * Context: may sleep.
 */
int gpc_vhost_dev_config_changed(struct gpc_vhost_dev *d);

/**
 * gpc_vhost_dev_features - the virtio features the front-end acked.
 *
 * Return: the SET_FEATURES value of the current connection, 0 before it.
 * Context: any context.
 */
uint64_t gpc_vhost_dev_features(struct gpc_vhost_dev *d);

/**
 * gpc_vhost_req_complete - the device is done with @req.
 * @req: a request handed to .request on this thread.
 * @written: bytes the device wrote into the writable iovecs (the used
 *           element's len).
 *
 * Puts the head on the used ring (dirty-logging what was written when the
 * front-end asked for a log), signals the call eventfd unless EVENT_IDX
 * says the driver does not need it, and releases the request's hold on
 * its memory (a removal waiting for it may go on). @req is dead after.
 *
 * Return: 0; -EINVAL if @req is NULL or not in flight; -EPERM if called
 * from a thread other than the request's queue thread.
 * Context: the request's queue thread only. Never blocks inside .request;
 * outside it (.queue_poll, .queue_stop) a miss of the rings' caches is
 * refreshed here, which may sleep while an invalidation of a ring's range
 * is in progress (the memory table's commit, not any I/O).
 */
int gpc_vhost_req_complete(struct gpc_vhost_req *req, uint32_t written);

/**
 * gpc_vhost_queue_index - the index of @q.
 * Context: any context.
 */
unsigned int gpc_vhost_queue_index(const struct gpc_vhost_queue *q);

#ifdef __cplusplus
}
#endif

#endif /* GPC_VHOST_H */
