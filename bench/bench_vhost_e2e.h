/* SPDX-License-Identifier: MIT */
/*
 * bench/bench_vhost_e2e.h - suite 7's end-to-end row (bench_vhost_e2e.c):
 * a Linux guest under QEMU on each back-end, run by bench_vhost.c.
 */
#ifndef GPC_BENCH_VHOST_E2E_H
#define GPC_BENCH_VHOST_E2E_H

#include <stdbool.h>
#include <stdio.h>

struct e2e_conf {
	const char *python;    /* Python 3 */
	const char *script;    /* tests/qemu/e2e.py */
	const char *guest_bin; /* the static gpc-guest-blkio */
	const char *cache;     /* the guest kernel cache (read only) */
	const char *work;      /* e2e.py's scratch folders (logs kept) */
	const char *disk_dir;  /* where the backing files go (tmpfs) */
	const char *blk;       /* gpc-vhost-blk */
	const char *qsd;       /* qemu-storage-daemon, NULL when missing */
	const char *csv_dir;   /* vhost_e2e.csv goes here, or NULL */
	bool quick;
};

/*
 * Run the rows (one boot per back-end, three alternating rounds without
 * quick) and print them with the ratio line e2e_vhost_vs_qsd (or "skipped
 * (why)"). Returns 0 when the rows ran or were skipped (QEMU, the kernel
 * cache, the guest program or Python missing), -1 when our row failed (a failed
 * qemu-storage-daemon row is reported, and skips the ratio: it is the
 * peer's finding, not a failure of this benchmark).
 * Context: may sleep (minutes at most: every run is bounded).
 */
int e2e_rows(const struct e2e_conf *c);

#endif
