/* SPDX-License-Identifier: MIT */
/*
 * tools/vhost-blk/blk_dev.h - gpc-vhost-blk as a struct gpc_vhost_device:
 * the library's callbacks over the disk, the config space and one io_uring
 * engine per queue (blk.h).
 */
#ifndef GPC_VHOST_BLK_DEV_H
#define GPC_VHOST_BLK_DEV_H

#include <gpc/vhost.h>

#include "blk.h"

struct blk_dev {
	struct blk_disk *disk;
	struct gpc_vhost_device vdev; /* given to gpc_vhost_dev_create() */
	unsigned int queue_size;
	/* Per queue index, kept across queue restarts and reconnections. */
	struct blk_qstats qstats[GPC_VHOST_MAX_QUEUES];
	_Atomic uint64_t bad_chains;	  /* .bad_request calls */
	_Atomic uint64_t complete_errors; /* gpc_vhost_req_complete() < 0 */
	_Atomic uint64_t queue_starts;
};

/*
 * Describe @disk as a device with queues of at most @queue_size entries
 * (a power of two, 2 .. 32768). Return: 0; -EINVAL for a bad queue size
 * or queue count.
 */
int blk_dev_init(struct blk_dev *b, struct blk_disk *disk,
		 unsigned int queue_size);

/* The sum of every queue's counters, into @sum (plain values). */
struct blk_totals {
	uint64_t requests, reads, writes, flushes, get_ids, discards;
	uint64_t write_zeroes, bytes_read, bytes_written, ioerr, unsupp;
	uint64_t no_status, retries, inflight, inflight_max;
	uint64_t efaults;
};
void blk_dev_totals(const struct blk_dev *b, int queue, struct blk_totals *t);

#endif /* GPC_VHOST_BLK_DEV_H */
