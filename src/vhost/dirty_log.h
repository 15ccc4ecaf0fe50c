/* SPDX-License-Identifier: MIT */
/*
 * src/vhost/dirty_log.h - the vhost-user dirty log (LOG_SHMFD, VHOST_F_LOG_ALL)
 * on libgpc's dirty log, private to libgpc-vhost.
 *
 * During migration the front-end gives a shared log (SET_LOG_BASE: an fd,
 * struct gpc_vhost_log's mmap_size and mmap_offset; the reply is a u64
 * status, which the spec makes a reply body whatever the flags say) with
 * one bit per 4 KiB page of guest-physical space, and acks VHOST_F_LOG_ALL.
 * Every page the back-end writes must then reach that log, and the used
 * ring of a queue with VHOST_VRING_F_LOG at its log_guest_addr (a GPA,
 * which need not be in any region).
 *
 * Two paths set bits:
 *  - libgpc's own log: with LOG_ALL the memory vm's slots get
 *    GPC_MEMSLOT_LOG_DIRTY (gpc_vhost_dirty_log_start()), so every
 *    translation for writing (the walker's writable buffers) marks its
 *    pages; gpc_vhost_dirty_log_harvest() moves those bits into the shared
 *    log (gpc_dirty_log_harvest(), which waits for the writers of a
 *    section). Call it periodically and once more before GET_VRING_BASE's
 *    reply and before logging stops.
 *  - gpc_vhost_dirty_log_write(): bits ORed straight into the shared log.
 *
 * Why the second path is needed: libgpc marks a page when the translation
 * is made, and its harvest waits for read sections, so a write done inside
 * the section is always covered. A request handed to io_uring is written
 * by the kernel *after* its section ended. A harvest between the
 * translation and that write reports the page early (QEMU may copy it
 * before the data is there) and clears libgpc's bit, so nothing would
 * report the page again: the destination keeps stale data. So at
 * completion (the CQE seen: the data is in memory) the back-end calls
 * gpc_vhost_dirty_log_write() for every writable range of the request,
 * and for its used element and used->idx at log_guest_addr + offset. With
 * an IOTLB the iovecs point into memory found by IOVA: the IOTLB vm's
 * slots do not log (their bits would be by IOVA); use
 * gpc_vhost_dirty_log_write_hva(), which finds the GPA in the memory vm.
 *
 * Replacing the log (a new SET_LOG_BASE, e.g. QEMU resizing it) while
 * datapath threads write bits: every write is inside a read section of the
 * memory vm's SRCU domain (nested in the caller's if it has one; a read
 * lock costs two stores, where a shared refcount would bounce a cache line
 * between queue threads on every completion). set_base publishes the new
 * mapping, waits a grace period of that domain, and only then unmaps the
 * old one: a writer still holding the old pointer is inside a section that
 * began before the publish. Bits written to the old log in that window are
 * lost to the front-end, which the spec allows: it copies the old log
 * before it sends the new base (QEMU's vhost_dev_log_resize() syncs first).
 */
#ifndef GPC_VHOST_DIRTY_LOG_H
#define GPC_VHOST_DIRTY_LOG_H

#include <stdbool.h>
#include <stdint.h>

#include "proto.h"

#ifndef GPC_VHOST_HIDDEN
#define GPC_VHOST_HIDDEN __attribute__((visibility("hidden")))
#endif

struct gpc_srcu;
struct gpc_vm;

/* The largest log accepted: 1 GiB covers 32 TiB of guest-physical space. */
#define GPC_VHOST_LOG_MAX	 (1ull << 30)
#define GPC_VHOST_LOG_PAGE_SHIFT 12

struct gpc_vhost_dirty_log;

/* Log lines: the signature of include/gpc/vhost.h's gpc_vhost_log_fn. */
typedef void gpc_vhost_dirty_log_fn(void *ctx, int level, const char *msg);

struct gpc_vhost_dirty_log_stats {
	uint64_t bases;	       /* logs mapped */
	uint64_t writes;       /* gpc_vhost_dirty_log_write() calls */
	uint64_t out_of_range; /* pages beyond the log (ignored) */
	uint64_t no_log;       /* writes while no log was mapped */
	uint64_t harvested;    /* pages moved from libgpc's log */
	uint64_t unsealed;     /* logs whose fd was not sealed (shrinkable) */
	uint64_t notifies;     /* signals on the SET_LOG_FD eventfd */
};

/**
 * gpc_vhost_dirty_log_create - a dirty log with no base mapped yet.
 * @domain: the memory vm's SRCU domain (gpc_vm_srcu()): writers hold a
 *          section of it, set_base waits its grace periods.
 * @log, @log_ctx: where log lines go (NULL: stderr).
 *
 * Return: 0; -EINVAL for a NULL @domain or @out; -ENOMEM.
 * Context: may sleep.
 */
GPC_VHOST_HIDDEN int
gpc_vhost_dirty_log_create(struct gpc_srcu *domain, gpc_vhost_dirty_log_fn *log,
			   void *log_ctx, struct gpc_vhost_dirty_log **out);

/**
 * gpc_vhost_dirty_log_destroy - unmap the log and free @l (NULL: nothing).
 * Waits a grace period of the domain first (writers may still be in).
 * Context: may sleep; not inside a read section of the domain.
 */
GPC_VHOST_HIDDEN void
gpc_vhost_dirty_log_destroy(struct gpc_vhost_dirty_log *l);

/**
 * gpc_vhost_dirty_log_set_base - map the log SET_LOG_BASE gives.
 * @fd: the message's fd (the caller keeps it and closes it after).
 * @msg: the message's payload, untrusted.
 *
 * mmap_size in 1 .. GPC_VHOST_LOG_MAX, mmap_offset + mmap_size without
 * overflow and inside the file (fstat: a write beyond the end of a file is
 * SIGBUS); an unaligned offset is fine. A file not sealed against
 * shrinking is accepted and counted. A log already mapped is replaced as
 * the file comment says. On any error the current log stays.
 *
 * Return: 0; -EINVAL for a NULL argument, a negative fd or a field out of
 * range; -EDEADLK inside a read section of the domain (the replacement
 * waits a grace period); -ENOMEM; the errno of fstat() or mmap().
 * Context: may sleep (the control thread).
 */
GPC_VHOST_HIDDEN int
gpc_vhost_dirty_log_set_base(struct gpc_vhost_dirty_log *l, int fd,
			     const struct gpc_vhost_log *msg);

/**
 * gpc_vhost_dirty_log_write - mark [@gpa, @gpa + @len) dirty in the shared
 * log, with an atomic OR per byte (the front-end clears bits concurrently),
 * release-ordered after the caller's writes of that memory.
 *
 * Pages beyond the log, and every page when no log is mapped, are ignored
 * and counted; a range that wraps 2^64 stops at the top. @len 0 marks
 * nothing.
 * Context: any context, async-signal-safe, never blocks (a read section
 * of the domain, nested in the caller's if any).
 */
GPC_VHOST_HIDDEN void gpc_vhost_dirty_log_write(struct gpc_vhost_dirty_log *l,
						uint64_t gpa, uint64_t len);

/**
 * gpc_vhost_dirty_log_write_hva - mark the guest pages behind
 * [@hva, @hva + @len) of this process's mappings of @mem_vm's slots.
 *
 * Return: 0; -EINVAL for NULL; -EPERM outside a read section of
 * gpc_vm_srcu(@mem_vm); -ENOENT if part of the range is in no slot (the
 * parts found before are marked).
 * Context: any context, never blocks; inside a read section of the domain.
 */
GPC_VHOST_HIDDEN int
gpc_vhost_dirty_log_write_hva(struct gpc_vhost_dirty_log *l,
			      struct gpc_vm *mem_vm, const void *hva,
			      uint64_t len);

/**
 * gpc_vhost_dirty_log_start - LOG_ALL was acked: slots @ids[0..n) of
 * @mem_vm get GPC_MEMSLOT_LOG_DIRTY (one transaction, their other flags
 * kept). Slots added later must be added with
 * gpc_vhost_dirty_log_slot_flags() in their flags.
 *
 * Return: 0; -EINVAL for NULL; a memslot errno (nothing changed).
 * Context: may sleep; not inside a read section of the domain.
 */
GPC_VHOST_HIDDEN int gpc_vhost_dirty_log_start(struct gpc_vhost_dirty_log *l,
					       struct gpc_vm *mem_vm,
					       const uint32_t *ids,
					       unsigned int n);

/**
 * gpc_vhost_dirty_log_harvest - move libgpc's log of slots @ids[0..n) of
 * @mem_vm into the shared log.
 *
 * A slot that does not log or is gone is skipped. A slot whose pages go
 * beyond the shared log (the front-end's log is too small) is harvested
 * through a local bitmap: the pages that fit are reported, the others
 * counted as out of range.
 *
 * Return: the pages reported (at most INT_MAX); -EINVAL for NULL; -ENXIO
 * if no log is mapped; -EDEADLK inside a read section of the domain;
 * -ENOMEM.
 * Context: may sleep (a grace period per slot).
 */
GPC_VHOST_HIDDEN int gpc_vhost_dirty_log_harvest(struct gpc_vhost_dirty_log *l,
						 struct gpc_vm *mem_vm,
						 const uint32_t *ids,
						 unsigned int n);

/**
 * gpc_vhost_dirty_log_stop - LOG_ALL went away: a last harvest (if a log
 * is mapped), then GPC_MEMSLOT_LOG_DIRTY off on the slots (one
 * transaction).
 *
 * Return: 0; -EINVAL for NULL; -EDEADLK; a memslot errno.
 * Context: may sleep.
 */
GPC_VHOST_HIDDEN int gpc_vhost_dirty_log_stop(struct gpc_vhost_dirty_log *l,
					      struct gpc_vm *mem_vm,
					      const uint32_t *ids,
					      unsigned int n);

/**
 * gpc_vhost_dirty_log_set_notify_fd - the eventfd SET_LOG_FD gives, which
 * gpc_vhost_dirty_log_notify() signals after bits were set (Linux vhost's
 * VHOST_SET_LOG_FD: the log context, signalled after the log writes).
 * @fd: an eventfd the log owns from now on (closed at replacement or
 *      destroy), opened O_NONBLOCK so that a signal never blocks a queue
 *      thread (the front-end could fill the counter); -1: none.
 *
 * The old fd, if any, is closed after a grace period of the domain (a
 * notifier may still hold it, as with a replaced log).
 *
 * Return: 0; -EINVAL for a NULL @l or @fd below -1 (@fd stays the
 * caller's); -EDEADLK inside a read section of the domain.
 * Context: may sleep (the control thread).
 */
GPC_VHOST_HIDDEN int
gpc_vhost_dirty_log_set_notify_fd(struct gpc_vhost_dirty_log *l, int fd);

/**
 * gpc_vhost_dirty_log_notify - if bits of the shared log were set (by a
 * write or a harvest) since the last call, signal the SET_LOG_FD eventfd
 * once: the front-end learns that the log changed after the bits are
 * there. Concurrent callers coalesce: a signal always follows the bits
 * that asked for it.
 *
 * Return: true if the eventfd was signalled (false: nothing new, no fd,
 * or a full counter, which is a pending signal already).
 * Context: any context, never blocks (a read section of the domain).
 */
GPC_VHOST_HIDDEN bool gpc_vhost_dirty_log_notify(struct gpc_vhost_dirty_log *l);

/*
 * The flags a slot added while logging must have in addition to its own:
 * GPC_MEMSLOT_LOG_DIRTY between start and stop, else 0. Context: any.
 */
GPC_VHOST_HIDDEN uint32_t
gpc_vhost_dirty_log_slot_flags(const struct gpc_vhost_dirty_log *l);

/* A snapshot of the counters. Context: any context. */
GPC_VHOST_HIDDEN void
gpc_vhost_dirty_log_get_stats(const struct gpc_vhost_dirty_log *l,
			      struct gpc_vhost_dirty_log_stats *st);

#endif /* GPC_VHOST_DIRTY_LOG_H */
