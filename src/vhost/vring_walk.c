// SPDX-License-Identifier: MIT
/*
 * src/vhost/vring_walk.c - the split-virtqueue descriptor-chain walker
 * (vring_walk.h has the contract and the table of errors).
 *
 * The walk is a loop over one table at a time: the descriptor table, then,
 * if the chain's last direct descriptor says INDIRECT, the indirect table
 * it points to. Both tables are translated once, as one host-contiguous
 * range (the descriptor table by the caller in gpc_vhost_walk_table(): the
 * datapath's cache of it), so every descriptor read is an index below the
 * table's entry count into memory a translation returned. Each descriptor is copied once
 * (fetch_desc) and the checks and the translation of its buffer use only
 * the copy: the guest may rewrite the table concurrently, and a second
 * fetch of the same field could return a value that the checks never saw.
 *
 * Termination does not depend on the guest: the number of descriptors
 * followed in a table is bounded by its entry count (a chain visits every
 * entry at most once unless it loops, so one more is a loop), and there are
 * at most two tables.
 */
#include <endian.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>

#include <linux/virtio_ring.h>

#include <gpc/srcu.h>
#include <gpc/translate.h>
#include <gpc/vm.h>

#include "vring_walk.h"

/*
 * The layout we decode by hand (two 8-byte words, little-endian): check it
 * against the kernel's definition.
 */
_Static_assert(sizeof(struct vring_desc) == 16, "vring_desc is 16 bytes");
_Static_assert(offsetof(struct vring_desc, addr) == 0, "addr at 0");
_Static_assert(offsetof(struct vring_desc, len) == 8, "len at 8");
_Static_assert(offsetof(struct vring_desc, flags) == 12, "flags at 12");
_Static_assert(offsetof(struct vring_desc, next) == 14, "next at 14");

#define DESC_SIZE ((uint64_t)sizeof(struct vring_desc))

/* Our local copy of one descriptor, in host byte order. */
struct desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

/* One table being walked: the host copy of its entries, their count. */
struct table {
	const unsigned char *p;
	unsigned int n;
};

/*
 * Copy entry @i of @t once. Aligned (the usual case: a table at a 16-byte
 * aligned guest address in a page-aligned slot), two relaxed 8-byte atomic
 * loads; otherwise one relaxed load per byte. Atomic loads and not plain
 * ones: the guest's stores race with them by design, and an atomic load is
 * the C11 way to read such memory exactly once without a data race (the
 * GCC/clang builtin, because the memory is not an _Atomic object of ours).
 */
static void fetch_desc(const struct table *t, unsigned int i, struct desc *d)
{
	const unsigned char *p = t->p + (size_t)i * DESC_SIZE;
	uint64_t w[2];

	if (((uintptr_t)p & 7) == 0) {
		w[0] = __atomic_load_n((const uint64_t *)p, __ATOMIC_RELAXED);
		w[1] = __atomic_load_n((const uint64_t *)p + 1,
				       __ATOMIC_RELAXED);
	} else {
		unsigned char b[16];

		for (int k = 0; k < 16; k++)
			b[k] = __atomic_load_n(p + k, __ATOMIC_RELAXED);
		memcpy(w, b, sizeof(b));
	}
	w[0] = le64toh(w[0]);
	w[1] = le64toh(w[1]);
	d->addr = w[0];
	d->len = (uint32_t)w[1];
	d->flags = (uint16_t)(w[1] >> 32);
	d->next = (uint16_t)(w[1] >> 48);
}

/* [addr, addr + len) ends above 2^64 (an end of exactly 2^64 is fine). */
static bool wraps(uint64_t addr, uint64_t len)
{
	return len && len - 1 > UINT64_MAX - addr;
}

/*
 * Translate a table of @bytes at @gpa into @t, as one host-contiguous
 * piece. Returns 0, or OUTSIDE / SPLIT (the caller's reason pair).
 */
static int map_table(struct gpc_vm *vm, uint64_t gpa, uint64_t bytes,
		     struct table *t, enum gpc_vhost_walk_err outside,
		     enum gpc_vhost_walk_err split)
{
	struct iovec one;
	int n = gpc_translate_gpa_iov(vm, gpa, bytes, 0, &one, 1, NULL);

	if (n == -ENOBUFS)
		return (int)split;
	if (n != 1 || one.iov_len != bytes)
		return (int)outside; /* -ENOENT, -EOVERFLOW */
	t->p = one.iov_base;
	t->n = (unsigned int)(bytes / DESC_SIZE);
	return 0;
}

static const struct {
	int err;
	const char *text;
} reasons[GPC_VHOST_WALK_NR_ERR] = {
	[GPC_VHOST_WALK_OK] = { 0, "no error" },
	[GPC_VHOST_WALK_BAD_ARGS] = { -EINVAL, "bad arguments to the walker" },
	[GPC_VHOST_WALK_NO_SECTION] = { -EPERM,
					"walker called outside a read section" },
	[GPC_VHOST_WALK_HEAD_RANGE] = { -ERANGE,
					"head index not below the queue size" },
	[GPC_VHOST_WALK_TABLE_OUTSIDE] = { -EFAULT,
					   "descriptor table outside guest "
					   "memory" },
	[GPC_VHOST_WALK_TABLE_SPLIT] = { -EFAULT,
					 "descriptor table not contiguous in "
					 "host memory" },
	[GPC_VHOST_WALK_LOOP] = { -ELOOP, "descriptor chain longer than the "
					  "queue (a loop)" },
	[GPC_VHOST_WALK_INDIRECT_OFF] = { -EPROTO, "indirect descriptor, but "
						   "INDIRECT_DESC not "
						   "negotiated" },
	[GPC_VHOST_WALK_INDIRECT_NESTED] = { -EPROTO,
					     "indirect descriptor inside an "
					     "indirect table" },
	[GPC_VHOST_WALK_INDIRECT_NEXT] = { -EPROTO,
					   "indirect descriptor with NEXT set" },
	[GPC_VHOST_WALK_INDIRECT_EMPTY] = { -EMSGSIZE,
					    "indirect table of length 0" },
	[GPC_VHOST_WALK_INDIRECT_ALIGN] = { -EMSGSIZE,
					    "indirect table length not a "
					    "multiple of 16" },
	[GPC_VHOST_WALK_INDIRECT_BIG] = { -EMSGSIZE,
					  "indirect table above 32768 entries" },
	[GPC_VHOST_WALK_INDIRECT_WRAP] = { -EOVERFLOW,
					   "indirect table address + length "
					   "overflows" },
	[GPC_VHOST_WALK_INDIRECT_OUTSIDE] = { -EFAULT,
					      "indirect table outside guest "
					      "memory" },
	[GPC_VHOST_WALK_INDIRECT_SPLIT] = { -EFAULT,
					    "indirect table not contiguous in "
					    "host memory" },
	[GPC_VHOST_WALK_INDIRECT_LOOP] = { -ELOOP,
					   "indirect chain longer than its "
					   "table (a loop)" },
	[GPC_VHOST_WALK_BUF_WRAP] = { -EOVERFLOW,
				      "buffer address + length overflows" },
	[GPC_VHOST_WALK_ORDER] = { -EILSEQ, "readable descriptor after a "
					    "writable one" },
	[GPC_VHOST_WALK_TOO_LONG] = { -E2BIG,
				      "chain longer than 2^32 - 1 bytes" },
	[GPC_VHOST_WALK_IOV_FULL] = { -ENOBUFS,
				      "chain needs more iovecs than given" },
	[GPC_VHOST_WALK_BUF_OUTSIDE] = { -ENOENT,
					 "buffer outside guest memory" },
	[GPC_VHOST_WALK_BUF_READONLY] = { -EROFS, "writable buffer in "
						  "read-only memory" },
	[GPC_VHOST_WALK_NEXT_RANGE] = { -ERANGE,
					"next index not below the table size" },
};

const char *gpc_vhost_walk_strerror(enum gpc_vhost_walk_err err)
{
	if ((unsigned int)err >= GPC_VHOST_WALK_NR_ERR)
		return "unknown walk error";
	return reasons[err].text;
}

int gpc_vhost_walk_errno(enum gpc_vhost_walk_err err)
{
	if ((unsigned int)err >= GPC_VHOST_WALK_NR_ERR)
		return -EINVAL;
	return reasons[err].err;
}

int gpc_vhost_walk_describe(const struct gpc_vhost_chain *res,
			    unsigned int head, char *buf, size_t size)
{
	int e = gpc_vhost_walk_errno(res->err);
	const char *name = e ? strerrorname_np(-e) : NULL;

	if (!e)
		return snprintf(buf, size, "head %u: no error", head);
	return snprintf(buf, size, "head %u: descriptor %u%s: %s (-%s)", head,
			res->at, res->in_indirect ? " of indirect table" : "",
			gpc_vhost_walk_strerror(res->err), name ? name : "?");
}

/* The state of one walk. */
struct walk {
	struct gpc_vm *vm;
	unsigned int flags;
	struct iovec *iov;
	unsigned int cap;
	struct gpc_vhost_chain *res;
	bool seen_write; /* a device-writable descriptor came already */
	bool in_indirect;
	unsigned int at; /* the entry being looked at */
};

static int fail(struct walk *w, enum gpc_vhost_walk_err why)
{
	w->res->err = why;
	w->res->at = w->at;
	w->res->in_indirect = w->in_indirect;
	return reasons[why].err;
}

/* A failed buffer translation's errno -> its reason. */
static enum gpc_vhost_walk_err buf_reason(int err)
{
	switch (err) {
	case -ENOBUFS:
		return GPC_VHOST_WALK_IOV_FULL;
	case -EROFS:
		return GPC_VHOST_WALK_BUF_READONLY;
	case -EOVERFLOW:
		return GPC_VHOST_WALK_BUF_WRAP;
	case -EPERM:
		return GPC_VHOST_WALK_NO_SECTION;
	case -ENOENT:
		return GPC_VHOST_WALK_BUF_OUTSIDE;
	}
	return GPC_VHOST_WALK_BAD_ARGS; /* -EINVAL: our arguments are valid */
}

/*
 * @d refers to an indirect table: check it and make it the table @t we
 * walk from now on.
 */
static int enter_indirect(struct walk *w, const struct desc *d, struct table *t)
{
	enum gpc_vhost_walk_err why = GPC_VHOST_WALK_OK;

	if (!(w->flags & GPC_VHOST_WALK_F_INDIRECT))
		why = GPC_VHOST_WALK_INDIRECT_OFF;
	else if (w->in_indirect)
		why = GPC_VHOST_WALK_INDIRECT_NESTED;
	else if (d->flags & VRING_DESC_F_NEXT)
		why = GPC_VHOST_WALK_INDIRECT_NEXT;
	else if (d->len == 0)
		why = GPC_VHOST_WALK_INDIRECT_EMPTY;
	else if (d->len % DESC_SIZE)
		why = GPC_VHOST_WALK_INDIRECT_ALIGN;
	else if (d->len / DESC_SIZE > GPC_VHOST_INDIRECT_MAX)
		why = GPC_VHOST_WALK_INDIRECT_BIG;
	else if (wraps(d->addr, d->len))
		why = GPC_VHOST_WALK_INDIRECT_WRAP;
	else
		why = map_table(w->vm, d->addr, d->len, t,
				GPC_VHOST_WALK_INDIRECT_OUTSIDE,
				GPC_VHOST_WALK_INDIRECT_SPLIT);
	if (why)
		return fail(w, why);
	w->in_indirect = true;
	return 0;
}

/*
 * The buffer of the direct descriptor @d: order and length checks, then
 * its translation into the free part of the iovec array.
 */
static int add_buffer(struct walk *w, const struct desc *d)
{
	struct gpc_vhost_chain *res = w->res;
	bool write = d->flags & VRING_DESC_F_WRITE;
	unsigned int used = res->nr_read + res->nr_write;
	uint64_t total = (uint64_t)res->read_len + res->write_len + d->len;
	int n;

	if (wraps(d->addr, d->len))
		return fail(w, GPC_VHOST_WALK_BUF_WRAP);
	if (!write && w->seen_write)
		return fail(w, GPC_VHOST_WALK_ORDER);
	w->seen_write |= write;
	if (total > UINT32_MAX)
		return fail(w, GPC_VHOST_WALK_TOO_LONG);
	if (d->len == 0)
		return 0;
	if (used == w->cap)
		return fail(w, GPC_VHOST_WALK_IOV_FULL);
	n = gpc_translate_gpa_iov(w->vm, d->addr, d->len,
				  write ? GPC_TRANSLATE_WRITE : 0,
				  w->iov + used, w->cap - used, NULL);
	if (n < 0)
		return fail(w, buf_reason(n));
	if (write) {
		res->nr_write += (unsigned int)n;
		res->write_len += d->len;
	} else {
		res->nr_read += (unsigned int)n;
		res->read_len += d->len;
	}
	return 0;
}

/* The arguments both forms share; OK or BAD_ARGS / NO_SECTION / HEAD_RANGE. */
static enum gpc_vhost_walk_err check_args(struct gpc_vm *vm, unsigned int num,
					  unsigned int head, unsigned int flags,
					  const struct iovec *iov,
					  unsigned int cap)
{
	if (!vm || (!iov && cap) || num == 0 || num > GPC_VHOST_QUEUE_MAX ||
	    (num & (num - 1)) || (flags & ~GPC_VHOST_WALK_F_ALL))
		return GPC_VHOST_WALK_BAD_ARGS;
	/*
	 * The translations below would say -EPERM too, but only once we are
	 * past the table; saying it first names the real cause.
	 */
	if (!gpc_srcu_read_held(gpc_vm_srcu(vm)))
		return GPC_VHOST_WALK_NO_SECTION;
	if (head >= num)
		return GPC_VHOST_WALK_HEAD_RANGE;
	return GPC_VHOST_WALK_OK;
}

/* Follow the chain from entry w->at of the descriptor table @t. */
static int walk_chain(struct walk *w, struct table t)
{
	struct gpc_vhost_chain *res = w->res;
	unsigned int steps = 0; /* descriptors followed in table t */

	for (;;) {
		struct desc d;
		int err;

		/*
		 * A chain that does not loop visits each entry at most once;
		 * the (n + 1)th step is proof of a loop.
		 */
		if (++steps > t.n)
			return fail(w, w->in_indirect ?
					       GPC_VHOST_WALK_INDIRECT_LOOP :
					       GPC_VHOST_WALK_LOOP);
		fetch_desc(&t, w->at, &d);
		res->ndesc++;
		if (d.flags & VRING_DESC_F_INDIRECT) {
			err = enter_indirect(w, &d, &t);
			if (err)
				return err;
			steps = 0;
			w->at = 0;
			continue;
		}
		err = add_buffer(w, &d);
		if (err)
			return err;
		if (!(d.flags & VRING_DESC_F_NEXT))
			return 0;
		if (d.next >= t.n)
			return fail(w, GPC_VHOST_WALK_NEXT_RANGE);
		w->at = d.next;
	}
}

int gpc_vhost_walk(struct gpc_vm *vm, uint64_t desc_gpa, unsigned int num,
		   unsigned int head, unsigned int flags, struct iovec *iov,
		   unsigned int cap, struct gpc_vhost_chain *res)
{
	struct walk w = { .vm = vm,
			  .flags = flags,
			  .iov = iov,
			  .cap = cap,
			  .res = res,
			  .at = head };
	struct table t;
	enum gpc_vhost_walk_err why;

	if (!res)
		return -EINVAL;
	*res = (struct gpc_vhost_chain){ 0 };
	why = check_args(vm, num, head, flags, iov, cap);
	if (!why)
		why = map_table(vm, desc_gpa, (uint64_t)num * DESC_SIZE, &t,
				GPC_VHOST_WALK_TABLE_OUTSIDE,
				GPC_VHOST_WALK_TABLE_SPLIT);
	if (why)
		return fail(&w, why);
	return walk_chain(&w, t);
}

int gpc_vhost_walk_table(struct gpc_vm *vm, const void *table, unsigned int num,
			 unsigned int head, unsigned int flags,
			 struct iovec *iov, unsigned int cap,
			 struct gpc_vhost_chain *res)
{
	struct walk w = { .vm = vm,
			  .flags = flags,
			  .iov = iov,
			  .cap = cap,
			  .res = res,
			  .at = head };
	enum gpc_vhost_walk_err why;

	if (!res)
		return -EINVAL;
	*res = (struct gpc_vhost_chain){ 0 };
	why = table ? check_args(vm, num, head, flags, iov, cap) :
		      GPC_VHOST_WALK_BAD_ARGS;
	if (why)
		return fail(&w, why);
	return walk_chain(&w, (struct table){ table, num });
}
