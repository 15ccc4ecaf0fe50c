/* SPDX-License-Identifier: MIT */
/*
 * tools/vhost-blk/blk.h - gpc-vhost-blk, a vhost-user-blk device on
 * libgpc-vhost (issue 13, part 2): the pieces and how they fit.
 *
 *   blk_disk.c    the backing file or block device (size, block size, fds)
 *   blk_config.c  the virtio-blk config space and feature bits
 *   blk_req.c     one request: header, data, status byte, checks
 *   blk_uring.c   the I/O engine: one io_uring per queue
 *   blk_log.c     rate-limited log lines (the guest can make many)
 *   blk_dev.c     the struct gpc_vhost_device callbacks over the above
 *   blk_main.c    the command line, the status line, the stats at exit
 *
 * Everything but blk_dev.c and blk_main.c runs without libgpc-vhost (the
 * unit tests drive it with plain iovecs over local buffers), so the request
 * struct of the library is used only as an opaque handle here: the engine
 * completes through a function pointer (gpc_vhost_req_complete() in the
 * device, a recorder in the tests).
 *
 * The guest is hostile: nothing in a request is trusted. A malformed shape
 * ends the request with IOERR (or, without a status byte, with a used
 * length of 0) and a log line; it never crashes the device and never makes
 * it touch memory outside the iovecs it was given.
 */
#ifndef GPC_VHOST_BLK_H
#define GPC_VHOST_BLK_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include <linux/virtio_blk.h>

struct gpc_vhost_req;

#define BLK_SECTOR_SHIFT 9
#define BLK_SECTOR_SIZE	 512u

/* The most ranges one DISCARD / WRITE_ZEROES request may carry. */
#define BLK_MAX_RANGES 16u

/* The most iovecs one request may have (readv/writev take IOV_MAX). */
#define BLK_IOV_MAX 1024u

/* ---- blk_log.c ---------------------------------------------------------- */

enum blk_log_level { BLK_LOG_ERR, BLK_LOG_WARN, BLK_LOG_INFO };

/* Where log lines go (NULL: stderr); for the tests, which check them. */
typedef void blk_log_sink(void *ctx, enum blk_log_level level,
			  const char *line);
void blk_log_set_sink(blk_log_sink *sink, void *ctx);

/*
 * A log line (no trailing newline needed). Lines caused by the guest go
 * through blk_log_guest(), which drops them beyond a few per second (a
 * guest must not be able to flood the log) and counts what it dropped.
 * Context: any thread.
 */
void blk_log(enum blk_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void blk_log_guest(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
uint64_t blk_log_dropped(void);
/* Forget the rate limit's state (tests: every line of a case is seen). */
void blk_log_reset_limit(void);

/* ---- blk_disk.c --------------------------------------------------------- */

/* The limits the config space announces and the requests are checked by. */
struct blk_limits {
	uint32_t seg_max; /* data segments per request (config seg_max) */
	uint32_t max_discard_sectors, max_discard_seg;
	uint32_t discard_sector_alignment;
	uint32_t max_write_zeroes_sectors, max_write_zeroes_seg;
	bool write_zeroes_may_unmap;
};

struct blk_disk_opts {
	bool readonly;	    /* open O_RDONLY, offer VIRTIO_BLK_F_RO */
	bool direct;	    /* also open with O_DIRECT for aligned requests */
	const char *serial; /* GET_ID; NULL: none (20 zero bytes) */
	unsigned int num_queues;
};

struct blk_disk {
	int fd;	       /* buffered; always open */
	int fd_direct; /* O_DIRECT, or -1 */
	bool readonly, is_blkdev;
	uint64_t size;	    /* bytes the guest sees (a multiple of blk_size) */
	uint64_t capacity;  /* size in 512-byte sectors */
	uint32_t blk_size;  /* logical block: 512 .. 65536, a power of two */
	uint32_t dio_align; /* memory/offset alignment O_DIRECT needs */
	unsigned int num_queues;
	char serial[VIRTIO_BLK_ID_BYTES]; /* NUL-padded, not terminated */
	struct blk_limits lim;
	/* Writeback cache on (config wce); off: every write is RWF_DSYNC. */
	atomic_bool wce;
	/* FALLOC_FL_ZERO_RANGE failed with EOPNOTSUPP once (tmpfs). */
	atomic_bool no_zero_range;
};

/**
 * blk_disk_open - open @path (a regular file or a block device).
 *
 * Return: 0; -EINVAL for a bad option (serial longer than 20 bytes, no
 * queues), a file that is neither regular nor a block device, or one
 * smaller than one block; the errno of open()/fstat()/ioctl().
 */
int blk_disk_open(struct blk_disk *d, const char *path,
		  const struct blk_disk_opts *o);
/* A disk over an already-open fd (the tests; @fd is owned after). */
int blk_disk_open_fd(struct blk_disk *d, int fd, int fd_direct,
		     const struct blk_disk_opts *o);
void blk_disk_close(struct blk_disk *d);
/* The default limits for a disk (blk_disk_open() sets them). */
void blk_limits_default(struct blk_limits *lim, const struct blk_disk *d);

/* ---- blk_config.c ------------------------------------------------------- */

/* The device-specific feature bits offered for @d. */
uint64_t blk_config_features(const struct blk_disk *d);
/* The config space of @d, little-endian as virtio 1.x has it. */
void blk_config_fill(const struct blk_disk *d, struct virtio_blk_config *c);
/*
 * GET_CONFIG / SET_CONFIG: -EINVAL outside the struct; a write may only set
 * the wce byte to 0 or 1 (-EPERM for any other byte, -EINVAL for another
 * value).
 */
int blk_config_read(struct blk_disk *d, uint32_t off, void *buf, uint32_t len);
int blk_config_write(struct blk_disk *d, uint32_t off, const void *buf,
		     uint32_t len);

/* ---- blk_req.c ---------------------------------------------------------- */

enum blk_kind {
	BLK_K_DONE,  /* nothing to do: complete with op.status */
	BLK_K_READ,  /* readv into op.data */
	BLK_K_WRITE, /* writev from op.data */
	BLK_K_FLUSH,
	BLK_K_GET_ID, /* copy the serial into op.data */
	BLK_K_DISCARD,
	BLK_K_WRITE_ZEROES,
};

struct blk_range {
	uint64_t off, len; /* bytes */
	bool unmap;	   /* WRITE_ZEROES may deallocate */
};

/* A parsed request. */
struct blk_op {
	enum blk_kind kind;
	uint32_t type;		  /* the header's type, for stats and logs */
	uint8_t status;		  /* BLK_K_DONE: the status to write */
	uint8_t *status_ptr;	  /* the status byte; NULL: none (malformed) */
	uint32_t written;	  /* used length once the status is written */
	uint64_t off, len;	  /* READ / WRITE: bytes */
	const struct iovec *data; /* READ / WRITE / GET_ID */
	unsigned int nr_data;
	bool data_copied; /* data is the caller's scratch, not its iovecs */
	unsigned int nr_ranges;
	struct blk_range ranges[BLK_MAX_RANGES];
};

/**
 * blk_req_parse - what the request in @iov asks.
 * @iov: iov[0, nr_read) device-readable, then nr_write device-writable.
 * @scratch: room for the data iovecs where they cannot be a slice of @iov
 *           (header or status byte sharing an iovec with data);
 *           nr_read + nr_write entries are always enough.
 *
 * Never fails: a request that cannot be served gives BLK_K_DONE with the
 * status (UNSUPP, IOERR) and a log line; without a status byte
 * status_ptr is NULL (the request completes with length 0). Touches only
 * the bytes @iov describes: reads the header and ranges, nothing else.
 */
void blk_req_parse(const struct blk_disk *d, const struct iovec *iov,
		   unsigned int nr_read, unsigned int nr_write,
		   struct iovec *scratch, unsigned int scratch_cap,
		   struct blk_op *op);

/* Copy @len bytes at byte @skip of the iovecs into @dst; bytes copied. */
size_t blk_iov_to_buf(const struct iovec *iov, unsigned int n, uint64_t skip,
		      void *dst, size_t len);
/* Copy @len bytes of @src into the iovecs; bytes copied. */
size_t blk_buf_to_iov(const struct iovec *iov, unsigned int n, const void *src,
		      size_t len);
/* Drop @bytes from the front of @iov (in place); entries left. */
unsigned int blk_iov_advance(struct iovec *iov, unsigned int n, uint64_t bytes,
			     unsigned int *first);

/* ---- blk_uring.c -------------------------------------------------------- */

/* Per-queue counters: written by the queue's thread, read by anyone. */
struct blk_qstats {
	_Atomic uint64_t requests, reads, writes, flushes, get_ids;
	_Atomic uint64_t discards, write_zeroes;
	_Atomic uint64_t bytes_read, bytes_written;
	_Atomic uint64_t ioerr, unsupp, no_status, retries;
	_Atomic uint64_t inflight, inflight_max;
	/*
	 * Completions with -EFAULT: the kernel touched guest memory that was
	 * no longer mapped (a region removed under the I/O, or its file
	 * shrunk). The library's CPU-side counterparts are bus_faults and
	 * stale_accesses; with --check-stale these count as stale accesses.
	 */
	_Atomic uint64_t efaults;
};

typedef void blk_complete_fn(void *ctx, struct gpc_vhost_req *req,
			     uint32_t written);

struct blk_uring;

/* One piece of I/O of a request (its io_uring user_data). */
struct blk_sub {
	struct blk_ureq *r;
	uint16_t idx; /* the range */
	uint8_t what; /* enum blk_sub_what (blk_uring.c) */
	bool direct;  /* submitted on fd_direct */
};

/* A request as the engine keeps it (the library's req->priv). */
struct blk_ureq {
	struct gpc_vhost_req *req;
	struct blk_uring *u;
	struct blk_op op;
	unsigned int pending; /* subs in the kernel */
	uint8_t status;	      /* the first failure wins */
	uint8_t again;	      /* -EAGAIN/-EINTR resubmissions */
	uint64_t done;	      /* READ / WRITE bytes transferred */
	/*
	 * The data iovecs when they are not a slice of the library's (a
	 * header or status byte sharing an iovec with data, a short transfer
	 * to resume): allocated then, freed at completion. Linux never needs
	 * it, so the per-request priv the library zeroes stays small.
	 */
	struct iovec *heap;
	struct blk_sub subs[BLK_MAX_RANGES];
};

/* Bytes of a struct blk_ureq (struct gpc_vhost_device.req_priv_size). */
size_t blk_ureq_size(void);

/**
 * blk_uring_create - an engine for one queue.
 * @entries: the most requests in flight (the queue size).
 *
 * Return: 0; -ENOMEM; the errno of io_uring_queue_init()/eventfd().
 * Context: the queue's thread (the ring is used from there only).
 */
int blk_uring_create(struct blk_disk *d, unsigned int entries,
		     struct blk_qstats *st, blk_complete_fn *complete,
		     void *complete_ctx, struct blk_uring **out);
/* The eventfd the ring signals on every completion. */
int blk_uring_fd(const struct blk_uring *u);
/*
 * Start @req: parse it into @r (its priv, blk_ureq_size() bytes, zeroed or
 * not) and complete it at once or queue its I/O. nr_read + nr_write must
 * be at most BLK_IOV_MAX. The SQEs go to the kernel when BLK_URING_BATCH
 * are queued, and at the next blk_uring_poll() (the library calls
 * .queue_poll before its queue thread sleeps).
 */
void blk_uring_request(struct blk_uring *u, struct gpc_vhost_req *req,
		       const struct iovec *iov, unsigned int nr_read,
		       unsigned int nr_write, struct blk_ureq *r);
#define BLK_URING_BATCH 32u
/* Submit what is queued, reap what completed (never blocks). Return:
 * requests completed. */
unsigned int blk_uring_poll(struct blk_uring *u);
/* Wait until nothing is in flight (logs every few seconds while it waits). */
void blk_uring_drain(struct blk_uring *u);
/* Requests in flight. */
unsigned int blk_uring_inflight(const struct blk_uring *u);
/* Drain, then free. */
void blk_uring_destroy(struct blk_uring *u);

#endif /* GPC_VHOST_BLK_H */
