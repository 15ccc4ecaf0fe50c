/* SPDX-License-Identifier: MIT */
/*
 * src/vhost/dev_priv.h - the back-end's state, shared by its files:
 * dev.c (lifecycle, socket), dispatch.c (message -> handler, state checks),
 * mem.c (regions), queue.c (vring messages, queue start/stop),
 * datapath.c (queue threads, rings, completions), inflight_epoch.c (the
 * removal's wait for in-flight requests) and ext.c (the hooks of the
 * IOTLB, dirty-log and inflight modules).
 *
 * Who writes what:
 *  - the control thread (gpc_vhost_dev_run / serve_fd): every connection
 *    field, every region, every queue field while the queue is stopped,
 *    the removal epoch;
 *  - a queue's worker thread: the running queue's ring state, its request
 *    slots and its in-flight counters;
 *  - a stopped queue is handed to its worker (and back) with a command
 *    under the worker's mutex (struct gpc_vhost_worker), which orders every
 *    field the control thread wrote before the worker reads it.
 * Everything here is hidden: none of it is ABI.
 */
#ifndef GPC_VHOST_DEV_PRIV_H
#define GPC_VHOST_DEV_PRIV_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "gpc/cache.h"

/*
 * The library's public entry points are the header's declarations: they
 * get default visibility here (the sources build with hidden visibility),
 * and the version script picks them by name.
 */
#pragma GCC visibility push(default)
#include "gpc/vhost.h"
#pragma GCC visibility pop
#include "msg.h"
#include "proto.h"

#ifndef GPC_VHOST_HIDDEN
#define GPC_VHOST_HIDDEN __attribute__((visibility("hidden")))
#endif

/* How long the control thread waits for a reply to be queued, ms. */
#define GPC_VHOST_SEND_TIMEOUT_MS 5000
/* How long a message may take to arrive once it started, ms. */
#define GPC_VHOST_RECV_TIMEOUT_MS 5000

/* One region the front-end gave: our own mapping, one memslot. */
struct gpc_vhost_mreg {
	uint64_t gpa, size, uaddr, mmap_offset;
	uint32_t slot_id;
	int fd;
	void *map; /* mmap base (page aligned) */
	size_t map_len;
	void *hva;   /* map + the sub-page part of mmap_offset (always 0 now) */
	int fault_h; /* its fault.h registry entry, -1: none (sealed) */
};

/* One request slot of a running queue (queue size of them). */
struct gpc_vhost_req_slot {
	struct gpc_vhost_req req; /* what the device sees; first member */
	bool in_flight;
	uint8_t parity; /* the in-flight epoch's parity at submission */
	uint16_t next_free;
};

enum gpc_vhost_qstate {
	GPC_VHOST_Q_STOPPED = 0, /* control thread owns it */
	GPC_VHOST_Q_RUNNING,	 /* its worker owns the ring state */
	GPC_VHOST_Q_BROKEN,	 /* running, but refuses to touch the rings */
};

struct gpc_vhost_worker;
struct gpc_vhost_inflight_area;
struct gpc_vhost_dirty_log;
struct gpc_vhost_iotlb;

struct gpc_vhost_queue {
	struct gpc_vhost_dev *dev;
	unsigned int index;
	struct gpc_vhost_worker *worker;

	/* ---- set by messages while stopped (control thread) ---- */
	unsigned int num; /* 0: not set */
	bool addr_set, enabled, kick_set;
	struct vhost_vring_addr addr; /* front-end user addresses */
	uint16_t base;		      /* SET_VRING_BASE */
	int kick_fd, call_fd, err_fd; /* -1: none */

	/* ---- resolved at start (control thread, then the worker's) ---- */
	uint64_t desc_gpa, avail_gpa, used_gpa;
	bool event_idx, indirect;

	/* ---- running: the worker's ---- */
	_Atomic int state; /* enum gpc_vhost_qstate */
	uint16_t last_avail, used_idx, signalled_used;
	bool signalled_valid;
	bool need_call;
	/*
	 * The rings through host-usage caches of dma_vm (datapath.c): desc
	 * and avail read-only, used writable; initialised and activated by
	 * the worker at start, destroyed at stop (zero-filled otherwise).
	 * The guards are those of the current sections.
	 */
	struct gpc_cache desc_c, avail_c, used_c;
	struct gpc_guard desc_g, avail_g, used_g;
	bool caches_init; /* the three caches are initialised */
	/* Inside a batch: the rings' pointers of the current sections. */
	bool in_batch;
	const void *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	uint64_t ring_miss_gen; /* a ring missed at this generation; 0: none */
	/* In a batch: the head whose walk missed the descriptor cache; -1. */
	int desc_miss;
	/* The rings kept missing after refreshes: retry at the next poll. */
	bool ring_retry;
	bool ring_refused_logged; /* the one log line of a refused ring */
	void *qctx;
	int poll_fd;
	struct gpc_vhost_req_slot *slots;
	struct iovec *iovs; /* num * seg_max */
	uint8_t *privs;	    /* num * req_priv_size */
	uint16_t free_head; /* a stack of free slots; num: empty */
	unsigned int nr_in_flight;
	/*
	 * Requests in flight, by the removal epoch's parity at their
	 * submission (inflight_epoch.c). Written only by the worker, read by
	 * the control thread.
	 */
	_Atomic unsigned int inflight[2];
	/*
	 * Heads an ext's .resubmit() gave at start, submitted before any new
	 * pop (resub[resub_pos .. nresub)); num entries, from try_start.
	 */
	uint16_t *resub;
	unsigned int nresub, resub_pos;
	bool looked; /* used index read since the start (datapath.c) */
};

/* A worker command (control -> worker, synchronous). */
enum gpc_vhost_wcmd {
	GPC_VHOST_WCMD_NONE = 0,
	GPC_VHOST_WCMD_START,	 /* take the queue; 0 or an errno back */
	GPC_VHOST_WCMD_STOP,	 /* give it back (last_avail in the queue) */
	GPC_VHOST_WCMD_SET_CALL, /* swap call_fd for cmd_fd */
	GPC_VHOST_WCMD_EXIT,
};

struct gpc_vhost_worker {
	struct gpc_vhost_dev *dev;
	unsigned int index;
	pthread_t tid;
	bool started;
	int epfd, wake_fd;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	enum gpc_vhost_wcmd cmd; /* NONE: done */
	struct gpc_vhost_queue *cmd_q;
	int cmd_fd, cmd_ret;
	/* The queues this worker runs (only it reads this list). */
	struct gpc_vhost_queue *run[GPC_VHOST_MAX_QUEUES];
	unsigned int nrun;
};

struct gpc_vhost_counters {
	_Atomic uint64_t connections, messages, refused_messages;
	_Atomic uint64_t requests, bad_requests, kicks, calls;
	_Atomic uint64_t mem_adds, mem_removes, removal_wait_ns_max;
	_Atomic uint64_t iotlb_updates, iotlb_invalidations, iotlb_misses;
	_Atomic uint64_t stale_accesses, bus_faults;
};

struct gpc_vhost_dev {
	const struct gpc_vhost_device *dev;
	void *ctx;
	struct gpc_vhost_config cfg;
	char path[108];
	int listen_fd; /* -1 in client mode, until connected */
	int stop_fd;   /* eventfd: gpc_vhost_dev_stop() */
	_Atomic bool serving, stopping;
	unsigned int queue_size_max, seg_max;

	struct gpc_vm *vm; /* the front-end's memory, one slot per region */
	/*
	 * The vm the datapath translates ring and buffer addresses in: vm,
	 * or the IOTLB's vm once the IOTLB module sets it (ext.h).
	 */
	struct gpc_vm *dma_vm;

	/* ---- the connection (control thread) ---- */
	int sock;
	int backend_fd; /* SET_BACKEND_REQ_FD, -1: none */
	pthread_mutex_t backend_lock;
	bool owner;
	uint64_t features_offered;
	_Atomic uint64_t features; /* SET_FEATURES */
	bool features_set;
	uint64_t proto_offered, proto;
	bool proto_set;
	uint8_t status;
	const char *why; /* the current request's refusal, for the log */

	struct gpc_vhost_mreg *regions; /* GPC_VHOST_MAX_MEM_SLOTS */
	unsigned int nregions;
	uint8_t *slot_used; /* by slot id */
	unsigned int nslot_ids;

	struct gpc_vhost_queue *queues; /* dev->num_queues */
	struct gpc_vhost_worker *workers;
	unsigned int nworkers;

	/*
	 * INFLIGHT_SHMFD's area (ext_inflight.c): set by GET/SET_INFLIGHT_FD
	 * while every queue is stopped, used by the queue threads.
	 */
	struct gpc_vhost_inflight_area *inflight;
	unsigned int inflight_nq, inflight_qsize; /* the area's shape */
	/*
	 * The dirty log (ext_log.c): created by the first SET_LOG_BASE or
	 * LOG_ALL (published with release: queue threads may be running),
	 * destroyed at reset, after the queues stopped.
	 */
	struct gpc_vhost_dirty_log *_Atomic dlog;
	/*
	 * The IOTLB (ext_iotlb.c) while ACCESS_PLATFORM is acked; dma_vm is
	 * its vm then. Created and destroyed with every queue stopped.
	 */
	struct gpc_vhost_iotlb *iotlb;

	/* The removal epoch (inflight_epoch.c); only the control thread
	 * writes it. */
	_Atomic unsigned int epoch;

	struct gpc_vhost_counters st;

	/*
	 * fault.c's signal handler: an eventfd it writes after a repaired
	 * fault (the control thread polls it), and whether a live region's
	 * file shrank (the connection must end).
	 */
	int fault_fd;
	_Atomic bool fault_shrunk;
};

#define gpc_vhost_inc(d, field) \
	atomic_fetch_add_explicit(&(d)->st.field, 1, memory_order_relaxed)

/* ---- dev.c ---- */
/* One log line (printf-like), through cfg.log or stderr. */
GPC_VHOST_HIDDEN void gpc_vhost_log(struct gpc_vhost_dev *d, int level,
				    const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
#define GPC_VHOST_LOG_ERR  3
#define GPC_VHOST_LOG_WARN 4
#define GPC_VHOST_LOG_INFO 6

/* ---- dispatch.c ---- */
/*
 * Handle one validated message; 0 to go on, a negative errno to drop the
 * connection (the reason is logged). Control thread.
 */
GPC_VHOST_HIDDEN int gpc_vhost_dispatch(struct gpc_vhost_dev *d,
					struct gpc_vhost_msg *msg);
/* The message could not be validated (err): reply or drop. */
GPC_VHOST_HIDDEN int gpc_vhost_dispatch_refused(struct gpc_vhost_dev *d,
						struct gpc_vhost_msg *msg,
						int err, const char *why);
/* Record why the current request fails (one log line) and return err. */
GPC_VHOST_HIDDEN int gpc_vhost_fail(struct gpc_vhost_dev *d, int err,
				    const char *why);
GPC_VHOST_HIDDEN bool gpc_vhost_proto_acked(const struct gpc_vhost_dev *d,
					    unsigned int bit);
GPC_VHOST_HIDDEN bool gpc_vhost_feature_acked(const struct gpc_vhost_dev *d,
					      unsigned int bit);

/* ---- mem.c ---- */
GPC_VHOST_HIDDEN int gpc_vhost_mem_init(struct gpc_vhost_dev *d);
GPC_VHOST_HIDDEN void gpc_vhost_mem_fini(struct gpc_vhost_dev *d);
GPC_VHOST_HIDDEN int gpc_vhost_mem_set_table(struct gpc_vhost_dev *d,
					     struct gpc_vhost_msg *msg);
GPC_VHOST_HIDDEN int gpc_vhost_mem_add(struct gpc_vhost_dev *d,
				       struct gpc_vhost_msg *msg);
GPC_VHOST_HIDDEN int gpc_vhost_mem_rem(struct gpc_vhost_dev *d,
				       struct gpc_vhost_msg *msg);
/* Drop every region (disconnect, RESET_OWNER); queues already stopped. */
GPC_VHOST_HIDDEN void gpc_vhost_mem_drop_all(struct gpc_vhost_dev *d);

/* ---- queue.c ---- */
GPC_VHOST_HIDDEN void gpc_vhost_queue_init(struct gpc_vhost_dev *d,
					   struct gpc_vhost_queue *q,
					   unsigned int index);
/* Reset a stopped queue to its just-connected state, closing its fds. */
GPC_VHOST_HIDDEN void gpc_vhost_queue_reset(struct gpc_vhost_queue *q);
GPC_VHOST_HIDDEN int gpc_vhost_queue_msg(struct gpc_vhost_dev *d,
					 struct gpc_vhost_msg *msg);
GPC_VHOST_HIDDEN void gpc_vhost_queue_stop(struct gpc_vhost_queue *q);
GPC_VHOST_HIDDEN void gpc_vhost_queues_stop_all(struct gpc_vhost_dev *d);

/* ---- datapath.c ---- */
GPC_VHOST_HIDDEN int gpc_vhost_workers_start(struct gpc_vhost_dev *d);
GPC_VHOST_HIDDEN void gpc_vhost_workers_stop(struct gpc_vhost_dev *d);
/* Run a command on q's worker and wait for it; its cmd_ret. */
GPC_VHOST_HIDDEN int gpc_vhost_worker_cmd(struct gpc_vhost_queue *q,
					  enum gpc_vhost_wcmd cmd, int fd);

/* ---- inflight_epoch.c ---- */
/* Queue thread, inside the read section the request was walked in. */
GPC_VHOST_HIDDEN void gpc_vhost_epoch_enter(struct gpc_vhost_queue *q,
					    struct gpc_vhost_req_slot *s);
/* Queue thread, after the device is done with the request's buffers. */
GPC_VHOST_HIDDEN void gpc_vhost_epoch_exit(struct gpc_vhost_queue *q,
					   struct gpc_vhost_req_slot *s);
/*
 * Control thread, after a commit that removed memory returned (its grace
 * period is over): flip the epoch and wait until no request submitted
 * before the flip is in flight.
 */
GPC_VHOST_HIDDEN void gpc_vhost_epoch_wait(struct gpc_vhost_dev *d);

#endif /* GPC_VHOST_DEV_PRIV_H */
