/* SPDX-License-Identifier: MIT */
/*
 * tools/vhost-fe/fe.h - gpc-vhost-fe, a synthetic vhost-user front-end that
 * plays QEMU towards a vhost-user-blk back-end (issue 13, part 3).
 *
 * The program is one thread: it owns the guest memory (memfds it maps
 * itself), drives every queue's driver side and talks the protocol. One
 * thread keeps the verification exact: the front-end always knows which
 * requests are in flight, so it knows what each block must contain.
 *
 * Files: fe_conn.c the protocol client (on src/vhost/msg.c), fe_mem.c the
 * guest memory regions and their GPA / user-address layout, fe_ring.c the
 * driver side of a split virtqueue, fe_blk.c virtio-blk requests and the
 * data verification, fe_run.c the I/O loop and the churn, fe_conf.c the
 * conformance cases, fe_main.c the command line.
 */
#ifndef GPC_VHOST_FE_H
#define GPC_VHOST_FE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "msg.h"

#define FE_BLOCK       4096u
#define FE_SECTOR      512u
#define FE_MAX_QUEUES  8
#define FE_MAX_REGIONS 8

/* ---- fe_conn.c: the protocol client ----------------------------------- */

struct fe_conn {
	int sock;
	int backend_sock;   /* our end of SET_BACKEND_REQ_FD, or -1 */
	int timeout_ms;	    /* every wait on the back-end */
	uint64_t features;  /* offered by the back-end */
	uint64_t acked;	    /* what SET_FEATURES sent */
	uint64_t pfeatures; /* offered protocol features */
	uint64_t packed;    /* negotiated protocol features */
	bool reply_ack;	    /* REPLY_ACK negotiated: ask every set */
	bool verbose;
};

/*
 * How a request fared: 0 (done, acked 0 if asked), -EIO (the back-end
 * answered non-zero), -EPIPE (it closed the connection), -ETIMEDOUT (no
 * answer within the timeout), another negative errno (socket error or a
 * malformed reply).
 */
int fe_conn_open(struct fe_conn *c, const char *path, int timeout_ms);
void fe_conn_close(struct fe_conn *c);
bool fe_has_pf(const struct fe_conn *c, unsigned int bit);
/* A request whose reply carries a u64 (GET_FEATURES, GET_QUEUE_NUM, ...). */
int fe_get_u64(struct fe_conn *c, uint32_t req, uint64_t *out);
/* A request with a payload and fds; waits for the ack if REPLY_ACK. */
int fe_set(struct fe_conn *c, uint32_t req, const void *payload, uint32_t size,
	   const int *fds, unsigned int nfds);
int fe_set_u64(struct fe_conn *c, uint32_t req, uint64_t v, const int *fds,
	       unsigned int nfds);
/* A request and its reply body (GET_VRING_BASE, GET_CONFIG, ...). */
int fe_call(struct fe_conn *c, uint32_t req, const void *payload, uint32_t size,
	    struct gpc_vhost_msg *reply, uint32_t reply_size);
/*
 * Raw send for the conformance cases: any flags, any size (the payload
 * buffer must hold `size` bytes), up to 64 fds (more than the 8 the spec
 * allows, on purpose). Returns 0 or a negative errno.
 */
int fe_send_raw(struct fe_conn *c, uint32_t req, uint32_t flags,
		const void *payload, uint32_t size, const int *fds,
		unsigned int nfds);
/*
 * Wait for the ack of `req`: 0 / -EIO / -EPIPE / -ETIMEDOUT as above.
 */
int fe_wait_ack(struct fe_conn *c, uint32_t req);
/* The next message on the main socket, whatever it is (fds closed by the
 * caller). Errors as fe_wait_ack(). */
int fe_recv_msg(struct fe_conn *c, struct gpc_vhost_msg *msg);
/*
 * Serve the back-end channel: answer what arrived (acks, IOTLB misses are
 * counted and answered with failure). Never blocks.
 */
void fe_conn_poll_backend(struct fe_conn *c);

/* ---- fe_mem.c: guest memory ------------------------------------------- */

/*
 * One region: a memfd the front-end maps at `hva` (which is also the user
 * address it announces: its own address space, as QEMU does), placed at
 * guest-physical `gpa`. Pages are handed out by a bitmap allocator.
 */
struct fe_region {
	int fd;
	uint64_t gpa;
	uint64_t size;
	uint8_t *hva;
	uint64_t *bitmap; /* one bit per 4 KiB page, 1 = in use */
	uint64_t npages;
	uint64_t used;
	bool added;	  /* currently known to the back-end */
	bool allocatable; /* new buffers may go here */
};

struct fe_mem {
	struct fe_region r[FE_MAX_REGIONS];
	unsigned int n;
};

int fe_mem_add(struct fe_mem *m, uint64_t gpa, uint64_t size);
void fe_mem_destroy(struct fe_mem *m);
/* The front-end's pointer for a guest-physical range, or NULL. */
void *fe_gpa_to_hva(struct fe_mem *m, uint64_t gpa, uint64_t len);
uint64_t fe_hva_to_gpa(struct fe_mem *m, const void *p);
/* npages contiguous pages from region ri (-1: any allocatable), or 0. */
uint64_t fe_page_alloc(struct fe_mem *m, int ri, uint64_t npages);
void fe_page_free(struct fe_mem *m, uint64_t gpa, uint64_t npages);
int fe_region_of(struct fe_mem *m, uint64_t gpa);
void fe_region_to_wire(const struct fe_region *r, struct gpc_vhost_region *w);

/* ---- fe_ring.c: the driver side of a split virtqueue ------------------- */

struct fe_seg {
	uint64_t gpa;
	uint32_t len;
	bool device_writes;
};

struct fe_vq {
	unsigned int index;
	unsigned int num;
	bool event_idx;
	bool indirect;
	uint64_t ring_gpa; /* desc, avail, used in 2 + n pages */
	uint64_t ring_pages;
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	uint16_t avail_idx; /* next free avail slot (shadow) */
	uint16_t last_used; /* next used entry to consume */
	uint16_t kicked_at; /* avail_idx at the last kick */
	unsigned int nfree;
	uint16_t *stack;     /* free descriptors */
	uint16_t *link;	     /* private copy of each chain's next */
	uint16_t *chain_len; /* descriptors per head */
	void **token;	     /* per head */
	uint64_t ind_gpa;    /* 64 bytes of indirect table per head */
	uint64_t ind_pages;
	uint64_t bad_used; /* used entries naming no posted head */
	int kick_fd;
	int call_fd;
	unsigned int inflight;
	uint64_t kicks, kicks_saved;
};

int fe_vq_init(struct fe_vq *q, struct fe_mem *m, unsigned int index,
	       unsigned int num, bool event_idx, bool indirect);
void fe_vq_destroy(struct fe_vq *q, struct fe_mem *m);
/* Zero the ring for a restart at index 0 (after GET_VRING_BASE). */
void fe_vq_reset(struct fe_vq *q);
/* Move the rings to freshly allocated pages; returns the old ring gpa. */
int fe_vq_move(struct fe_vq *q, struct fe_mem *m, uint64_t *old_gpa);
void fe_vq_addr(const struct fe_vq *q, struct fe_mem *m,
		struct vhost_vring_addr *a);
/* Post a chain; -ENOSPC when the ring lacks descriptors. */
int fe_vq_add(struct fe_vq *q, struct fe_mem *m, const struct fe_seg *segs,
	      unsigned int nsegs, void *token);
/* Kick if the device asked for one (EVENT_IDX / NO_NOTIFY). */
void fe_vq_kick(struct fe_vq *q);
/* One used element: its token, or NULL when none. */
void *fe_vq_get_used(struct fe_vq *q, struct fe_mem *m, uint32_t *len);
/* Ask for a call, then recheck: true if used entries are pending. */
bool fe_vq_enable_cb(struct fe_vq *q);
void fe_vq_disable_cb(struct fe_vq *q);

/* ---- fe_blk.c: virtio-blk requests and verification ------------------- */

enum fe_req_kind { FE_READ, FE_WRITE, FE_FLUSH, FE_GET_ID };

struct fe_req {
	enum fe_req_kind kind;
	unsigned int q;
	uint64_t lba;
	uint32_t gen;
	uint64_t meta_gpa; /* header (16 bytes) at +0, status at +16 */
	uint64_t data_gpa; /* one 4 KiB block */
	int data_region;
	uint64_t t0_ns;
	struct fe_req *next_free;
	bool posted; /* on the ring, not yet reaped */
	/*
	 * --churn-inflight: the request was in flight with its buffer in the
	 * region when REM_MEM_REG went out, so VIRTIO_BLK_S_IOERR is an
	 * accepted outcome; `snap` is its buffer as it was at the reply
	 * (the region is poisoned then), checked instead of the region.
	 */
	bool rem_victim;
	bool done_by_reply; /* its used entry was there at the reply */
	bool use_snap;
	uint8_t *snap; /* FE_BLOCK bytes, or NULL outside that mode */
};

struct fe_stats {
	uint64_t requests, reads, writes, flushes, get_ids;
	uint64_t verified, mismatches, io_errors;
	uint64_t stale_writes, stale_checks;
	uint64_t mem_adds, mem_rems, ring_moves, reconnects;
	uint64_t iotlb_updates, iotlb_invals;
	uint64_t *lat_ns;
	uint64_t nlat, cap_lat;
	uint64_t *rem_ns;
	uint64_t nrem, cap_rem;
	/* --churn-inflight: requests in the region at REM time and after. */
	uint64_t rem_inflight, rem_inflight_max, rem_live;
	uint64_t rem_victim_ok, rem_victim_ioerr, rem_victim_nostatus;
	uint64_t rem_write_failed;
	uint64_t rem_victim_ok_by_reply; /* completed while the REM waited */
	uint64_t ambiguous_resolved;
	uint64_t *rem_live_ns; /* reply latency of REMs with requests there */
	uint64_t nrem_live, cap_rem_live;
};

struct fe_blk {
	uint64_t blocks; /* LBAs used (of 4 KiB) */
	uint32_t *gen;	 /* last generation written per block; 0 = unknown */
	/*
	 * A write that failed because its buffer's region went away may or
	 * may not have reached the disk: the block then holds gen or
	 * gen_alt (0: no alternative) until a read tells or a write ends it.
	 */
	uint32_t *gen_alt;
	uint8_t *busy; /* a request on the block is in flight */
	uint32_t next_gen;
	bool expect_zero; /* never-written blocks read as zeroes */
	uint64_t capacity_sectors;
	unsigned int mismatch_prints;
};

void fe_blk_fill(void *buf, uint64_t lba, uint32_t gen);
/* 0 when buf holds (lba, gen); else the count of wrong 8-byte words. */
uint64_t fe_blk_check(const void *buf, uint64_t lba, uint32_t gen);
/* Build the request's segments; returns their count. */
unsigned int fe_blk_build(struct fe_req *r, struct fe_mem *m,
			  struct fe_seg *segs);
/* Check a completed request; updates the tables and stats. */
void fe_blk_complete(struct fe_blk *b, struct fe_req *r, struct fe_mem *m,
		     uint32_t used_len, struct fe_stats *st);

/* ---- fe_sess.c / fe_run.c: sessions, I/O and churn --------------------- */

struct fe_opts {
	const char *socket;
	const char *backend_cmd; /* for messages only */
	double duration;
	unsigned int queues;
	unsigned int qdepth;
	unsigned int ring_num;
	uint64_t blocks;
	uint64_t mem_mb;
	bool table_form; /* SET_MEM_TABLE instead of ADD_MEM_REG */
	bool no_event_idx;
	bool indirect;
	unsigned int churn_mem_ms;
	bool churn_live;     /* buffers in the churned region */
	bool churn_inflight; /* REM with requests in flight in the region */
	uint64_t expect_inflight_rem; /* fail below this many over the run */
	bool quiesce;	     /* no request in flight at a memory change */
	bool control_no_rem; /* poison without REM: must find stale writes */
	unsigned int churn_ring_ms;
	unsigned int churn_reconnect_ms;
	bool iotlb;
	bool churn_iotlb; /* --churn-mem invalidates IOVAs instead */
	bool expect_zero;
	bool conformance;
	const char *known_accepts; /* conformance cases acked 0, known */
	const char *skip_cases;	   /* conformance cases not sent at all */
	bool bench;
	bool verbose;
	int read_pct;
	int backend_pid; /* for its CPU time per request, or 0 */
	int timeout_ms;
	uint64_t seed;
};

/*
 * One front-end "VM": memory, queues and the connection to the back-end.
 * Region 0 holds the rings, request headers and most buffers; region 1 is
 * the one the churn adds and removes.
 */
struct fe_sess {
	const struct fe_opts *o;
	struct fe_conn c;
	struct fe_mem mem;
	struct fe_vq vq[FE_MAX_QUEUES];
	unsigned int nq;
	struct fe_blk blk;
	struct fe_stats *st;
	struct fe_req *reqs; /* nq * qdepth */
	uint8_t *snaps;	     /* --churn-inflight: a block per request */
	struct fe_req *free_req[FE_MAX_QUEUES];
	uint64_t meta_gpa;
	uint64_t meta_pages;
	int extra;  /* region index of the churned region */
	bool slots; /* CONFIGURE_MEM_SLOTS used for memory */
	bool iotlb; /* ACCESS_PLATFORM negotiated */
	bool has_flush;
	uint64_t max_slots;
	uint64_t old_ring[FE_MAX_QUEUES]; /* poisoned, awaiting a check */
	uint64_t old_ring_pages[FE_MAX_QUEUES];
	bool extra_poisoned;
	bool ctl_mapped;  /* --control-no-rem: the region was added once */
	bool burst_extra; /* --churn-inflight: every buffer in the region */
	uint64_t rng;
};

#define FE_POISON 0xdeadbeefcafef00dull

int fe_sess_init(struct fe_sess *s, const struct fe_opts *o,
		 struct fe_stats *st);
void fe_sess_destroy(struct fe_sess *s);
/* Connect and negotiate everything up to running queues. */
int fe_sess_connect(struct fe_sess *s);
/* Stop every ring (GET_VRING_BASE) and close the connection. */
int fe_sess_disconnect(struct fe_sess *s);
int fe_sess_negotiate(struct fe_sess *s);
int fe_sess_set_memory(struct fe_sess *s);
int fe_sess_start_ring(struct fe_sess *s, unsigned int qi);
int fe_sess_stop_ring(struct fe_sess *s, unsigned int qi);
int fe_sess_region_add(struct fe_sess *s, int ri);
/* One IOTLB_MSG (VHOST_IOTLB_UPDATE / _INVALIDATE) for region ri. */
int fe_sess_iotlb(struct fe_sess *s, int ri, uint8_t type);
int fe_sess_region_rem(struct fe_sess *s, int ri, uint64_t *ns);
void fe_poison(struct fe_mem *m, uint64_t gpa, uint64_t bytes);
uint64_t fe_poison_check(struct fe_mem *m, uint64_t gpa, uint64_t bytes);

int fe_run_io(const struct fe_opts *o, struct fe_stats *st);
int fe_run_bench(const struct fe_opts *o);
int fe_run_conformance(const struct fe_opts *o);

/* ---- fe_util.c -------------------------------------------------------- */

uint64_t fe_now_ns(void);
uint64_t fe_rand(uint64_t *state);
void fe_lat_add(uint64_t **v, uint64_t *n, uint64_t *cap, uint64_t x);
uint64_t fe_pct(uint64_t *v, uint64_t n, double p);
extern bool fe_verbose;
#define fe_log(...)                                          \
	do {                                                 \
		if (fe_verbose)                              \
			fprintf(stderr, "fe: " __VA_ARGS__); \
	} while (0)

#endif /* GPC_VHOST_FE_H */
