/* SPDX-License-Identifier: MIT */
/*
 * src/vhost/vring_walk.h - the split-virtqueue descriptor-chain walker of
 * libgpc-vhost (private to the library: no public header yet).
 *
 * A vhost-user back-end gets a request as a head index from the available
 * ring; the walker follows that head's chain through the descriptor table
 * (and at most one indirect table), translates every buffer with libgpc's
 * translation calls (gpc/translate.h) and returns it as iovecs: the
 * device-readable ones first, then the device-writable ones, each buffer
 * split where the memslots split it. Everything it reads comes from the
 * guest, which is hostile: every way a chain can be wrong ends the walk with
 * a negative errno and a reason (enum gpc_vhost_walk_err, a one-line text for
 * the log), never a crash and never an access outside a translated range.
 *
 * The errors, in the order the walker checks them (errno: reason):
 *
 *   -EINVAL    BAD_ARGS          caller bug: NULL vm, table or result, iov
 *                                NULL with cap > 0, num not a power of two
 *                                in [1, 32768], unknown flag
 *   -EPERM     NO_SECTION        the calling thread is not inside a read
 *                                section of gpc_vm_srcu(vm)
 *   -ERANGE    HEAD_RANGE        head >= num
 *   -EFAULT    TABLE_OUTSIDE     the descriptor table [desc_gpa, + 16 * num)
 *                                is not all in memslots (or wraps 2^64)
 *   -EFAULT    TABLE_SPLIT       it is, but not in one host-contiguous piece
 *                                (these two only from gpc_vhost_walk(): with
 *                                gpc_vhost_walk_table() the caller mapped
 *                                the table, and the datapath's descriptor
 *                                cache refuses the same tables when it is
 *                                activated or refreshed, datapath.c)
 *   -ELOOP     LOOP              more than num descriptors in the direct
 *                                chain (a loop, or a chain the driver may not
 *                                make)
 *   -EPROTO    INDIRECT_OFF      INDIRECT without GPC_VHOST_WALK_F_INDIRECT
 *                                (VIRTIO_RING_F_INDIRECT_DESC not negotiated)
 *   -EPROTO    INDIRECT_NESTED   INDIRECT inside an indirect table
 *   -EPROTO    INDIRECT_NEXT     INDIRECT together with NEXT
 *   -EMSGSIZE  INDIRECT_EMPTY    an indirect table of length 0
 *   -EMSGSIZE  INDIRECT_ALIGN    ... whose length is not a multiple of 16
 *   -EMSGSIZE  INDIRECT_BIG      ... of more than GPC_VHOST_INDIRECT_MAX
 *                                entries
 *   -EOVERFLOW INDIRECT_WRAP     indirect table addr + len beyond 2^64
 *   -EFAULT    INDIRECT_OUTSIDE  the indirect table is not all in memslots
 *   -EFAULT    INDIRECT_SPLIT    ... not in one host-contiguous piece
 *   -ELOOP     INDIRECT_LOOP     more descriptors followed in the indirect
 *                                table than it has entries
 *   -EOVERFLOW BUF_WRAP          a buffer's addr + len beyond 2^64
 *   -EILSEQ    ORDER             a device-readable descriptor after a
 *                                device-writable one
 *   -E2BIG     TOO_LONG          the chain's bytes (readable + writable)
 *                                above UINT32_MAX (virtio: at most 2^32 - 1)
 *   -ENOBUFS   IOV_FULL          the buffers need more than cap iovecs
 *   -ENOENT    BUF_OUTSIDE       a buffer byte outside every memslot
 *   -EROFS     BUF_READONLY      a device-writable buffer on a
 *                                GPC_MEMSLOT_READONLY slot
 *   -ERANGE    NEXT_RANGE        NEXT with next >= the entries of the table
 *                                it indexes
 *
 * What the walker accepts (virtio 1.x, split ring; VERSION_1 assumed, so
 * every field is little-endian): a chain of direct descriptors of which the
 * last may refer to an indirect table (the spec's "zero or more normal
 * chained descriptors followed by a single descriptor with INDIRECT"); the
 * WRITE flag of that referring descriptor is ignored, as the spec says;
 * descriptor flags other than NEXT, WRITE and INDIRECT are ignored;
 * zero-length buffers are accepted and give no iovec (they still count
 * towards the chain length and the readable/writable order). The two tables
 * must each lie in one host-contiguous piece (a driver allocates them as one
 * physically contiguous block; a table across two regions the front-end
 * mapped apart is refused rather than read piecewise).
 */
#ifndef GPC_VHOST_VRING_WALK_H
#define GPC_VHOST_VRING_WALK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct gpc_vm;
struct iovec; /* <sys/uio.h> */

/* Internal to libgpc-vhost: never exported from the shared library. */
#ifndef GPC_VHOST_HIDDEN
#define GPC_VHOST_HIDDEN __attribute__((visibility("hidden")))
#endif

/* The largest split queue (virtio 1.x: Queue Size is at most 32768). */
#define GPC_VHOST_QUEUE_MAX 32768u

/*
 * The most entries an indirect table may have: as many as the largest
 * queue. A driver never needs more (its scatter lists are bounded by the
 * device's seg_max, well below), and the bound keeps a hostile length from
 * making us follow a 4 GiB table.
 */
#define GPC_VHOST_INDIRECT_MAX GPC_VHOST_QUEUE_MAX

/* VIRTIO_RING_F_INDIRECT_DESC was negotiated: indirect tables are allowed. */
#define GPC_VHOST_WALK_F_INDIRECT (1u << 0)
#define GPC_VHOST_WALK_F_ALL	  GPC_VHOST_WALK_F_INDIRECT

/* Why a walk failed; gpc_vhost_walk_strerror() gives the text. */
enum gpc_vhost_walk_err {
	GPC_VHOST_WALK_OK = 0,
	GPC_VHOST_WALK_BAD_ARGS,
	GPC_VHOST_WALK_NO_SECTION,
	GPC_VHOST_WALK_HEAD_RANGE,
	GPC_VHOST_WALK_TABLE_OUTSIDE,
	GPC_VHOST_WALK_TABLE_SPLIT,
	GPC_VHOST_WALK_LOOP,
	GPC_VHOST_WALK_INDIRECT_OFF,
	GPC_VHOST_WALK_INDIRECT_NESTED,
	GPC_VHOST_WALK_INDIRECT_NEXT,
	GPC_VHOST_WALK_INDIRECT_EMPTY,
	GPC_VHOST_WALK_INDIRECT_ALIGN,
	GPC_VHOST_WALK_INDIRECT_BIG,
	GPC_VHOST_WALK_INDIRECT_WRAP,
	GPC_VHOST_WALK_INDIRECT_OUTSIDE,
	GPC_VHOST_WALK_INDIRECT_SPLIT,
	GPC_VHOST_WALK_INDIRECT_LOOP,
	GPC_VHOST_WALK_BUF_WRAP,
	GPC_VHOST_WALK_ORDER,
	GPC_VHOST_WALK_TOO_LONG,
	GPC_VHOST_WALK_IOV_FULL,
	GPC_VHOST_WALK_BUF_OUTSIDE,
	GPC_VHOST_WALK_BUF_READONLY,
	GPC_VHOST_WALK_NEXT_RANGE,
	GPC_VHOST_WALK_NR_ERR
};

/*
 * What a walk found. On success: iov[0, nr_read) are the device-readable
 * pieces (read_len bytes), iov[nr_read, nr_read + nr_write) the
 * device-writable ones (write_len bytes). On failure the counts say how far
 * the walk got (the iovecs they cover are filled, nothing else is
 * meaningful), err is the reason and at / in_indirect name the descriptor
 * that was being looked at (at is an index into the descriptor table, or
 * into the indirect table if in_indirect; the head for the failures found
 * before a descriptor is read: BAD_ARGS .. TABLE_SPLIT).
 */
struct gpc_vhost_chain {
	unsigned int nr_read, nr_write;
	uint32_t read_len, write_len;
	unsigned int ndesc; /* descriptors read, indirect entries included */
	enum gpc_vhost_walk_err err;
	unsigned int at;
	bool in_indirect;
};

/**
 * gpc_vhost_walk - translate the descriptor chain of @head into iovecs.
 * @vm: the vm whose memslots are the guest's memory.
 * @desc_gpa: guest-physical address of the descriptor table (16 * @num
 *            bytes; the caller resolved it from SET_VRING_ADDR).
 * @num: the queue size: a power of two, 1 .. GPC_VHOST_QUEUE_MAX.
 * @head: the chain's first descriptor (an available-ring entry).
 * @flags: 0 or GPC_VHOST_WALK_F_INDIRECT.
 * @iov: receives the pieces (readable first, then writable).
 * @cap: entries at @iov.
 * @res: receives the counts, or the reason of a failure.
 *
 * Precondition: the calling thread is inside a read section of
 * gpc_vm_srcu(@vm) (gpc_srcu_read_lock(), on either read-side scheme), and
 * stays in it for as long as it uses the iovecs: they point into the
 * memslots' mappings, which a memslot change may remove (and the caller then
 * unmap) as soon as the section ends. Checked: -EPERM otherwise.
 *
 * The guest may rewrite the tables while we walk (it owns them): every
 * descriptor is read exactly once, into a local copy, with one relaxed
 * atomic load per 8 bytes, and only the copy is used afterwards, so a
 * concurrent rewrite gives a chain that some interleaving of the guest's
 * stores describes, or an error, and never a check made on one value and a
 * use of another. Every pointer comes from a translation of the range it
 * covers. Device-writable buffers are translated with GPC_TRANSLATE_WRITE:
 * a read-only slot is refused and, on a slot logging dirty pages, their
 * pages are marked dirty, so the device's writes must happen inside the
 * same read section (gpc/dirty.h).
 *
 * Return: 0, with @res filled; a negative errno, with @res->err the reason
 * (the table in this header's comment lists every one; each errno is one of
 * those causes).
 * Context: any context, never blocks, never allocates; inside a read
 * section of gpc_vm_srcu(@vm).
 */
GPC_VHOST_HIDDEN int gpc_vhost_walk(struct gpc_vm *vm, uint64_t desc_gpa,
				    unsigned int num, unsigned int head,
				    unsigned int flags, struct iovec *iov,
				    unsigned int cap,
				    struct gpc_vhost_chain *res);

/**
 * gpc_vhost_walk_table - gpc_vhost_walk() on a descriptor table the caller
 * mapped.
 * @vm: the vm the buffers and indirect tables are translated in.
 * @table: the host copy of the descriptor table, 16 * @num bytes the
 *         caller may read for as long as the walk runs (the datapath's
 *         descriptor cache, between gpc_cache_begin() and _end()).
 * @num, @head, @flags, @iov, @cap, @res: as gpc_vhost_walk().
 *
 * The datapath's form: the table is translated once per cache refresh
 * instead of once per walk. Indirect tables and buffers are translated
 * here per walk, as gpc_vhost_walk() does, so the same read-section
 * precondition holds (checked: -EPERM).
 *
 * Return: as gpc_vhost_walk(), except that TABLE_OUTSIDE and TABLE_SPLIT
 * never occur, and a NULL @table is BAD_ARGS (-EINVAL).
 * Context: any context, never blocks, never allocates; inside a read
 * section of gpc_vm_srcu(@vm).
 */
GPC_VHOST_HIDDEN int gpc_vhost_walk_table(struct gpc_vm *vm, const void *table,
					  unsigned int num, unsigned int head,
					  unsigned int flags, struct iovec *iov,
					  unsigned int cap,
					  struct gpc_vhost_chain *res);

/**
 * gpc_vhost_walk_strerror - the one-line text of a walk failure.
 * @err: a reason from struct gpc_vhost_chain.err.
 *
 * Return: a static string without a trailing newline ("unknown walk error"
 * for a value outside the enum).
 * Context: any context.
 */
GPC_VHOST_HIDDEN const char *
gpc_vhost_walk_strerror(enum gpc_vhost_walk_err err);

/**
 * gpc_vhost_walk_errno - the errno gpc_vhost_walk() returns for @err.
 *
 * Return: 0 for GPC_VHOST_WALK_OK, a negative errno for a reason, -EINVAL
 * for a value outside the enum.
 * Context: any context.
 */
GPC_VHOST_HIDDEN int gpc_vhost_walk_errno(enum gpc_vhost_walk_err err);

/**
 * gpc_vhost_walk_describe - a log line for a failed walk of @head.
 * @res: the walk's result.
 * @head: the head that was walked.
 * @buf: receives the line, NUL-terminated (truncated to @size).
 * @size: bytes at @buf.
 *
 * E.g. "head 3: descriptor 7 of indirect table: readable descriptor after a
 * writable one (-EILSEQ)".
 *
 * Return: what snprintf() returns.
 * Context: any context but a signal handler (snprintf).
 */
GPC_VHOST_HIDDEN int gpc_vhost_walk_describe(const struct gpc_vhost_chain *res,
					     unsigned int head, char *buf,
					     size_t size);

#endif /* GPC_VHOST_VRING_WALK_H */
