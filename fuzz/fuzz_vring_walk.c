// SPDX-License-Identifier: MIT
/*
 * fuzz/fuzz_vring_walk.c - libFuzzer harness for libgpc-vhost's
 * descriptor-chain walker (src/vhost/vring_walk.h).
 *
 * One input is a guest: a memslot layout, the bytes of guest memory at the
 * descriptor table (the table itself, and whatever follows it, where
 * indirect tables and buffers may point), a queue size, a head, the walk's
 * flags and the iovec capacity. The harness commits the layout in one
 * transaction on a real vm (srcu or rwlock scheme, by a flag), writes the
 * bytes, walks inside a read section (with gpc_vhost_walk(), and when the
 * table translates as one piece also with gpc_vhost_walk_table() on its
 * host copy, the datapath's form, which must find exactly the same) and
 * then checks the result against a
 * reference model written here from the walker's contract (plain C, reading
 * guest memory through the harness's own view of the layout, never through
 * libgpc):
 *  - the same errno, reason and failing descriptor (at, in_indirect);
 *  - on success: the same counts, lengths and descriptors visited, and
 *    every iovec exactly the model's piece; independently of the model,
 *    every piece inside the host range of a slot (a writable one in a slot
 *    that is not read-only), readable pieces before writable ones, no more
 *    than the capacity, the lengths adding up to read_len / write_len.
 * Guest memory is a memfd mapping between two PROT_NONE guard areas, so a
 * walker that reads outside the mapping crashes (ASan does not watch mmap
 * memory; the guards do). On a mismatch the harness prints both sides and
 * aborts, so libFuzzer saves the input.
 *
 * Input layout (little-endian; missing bytes read as 0):
 *   [0]      queue size: 1 << (b % 16)
 *   [1..2]   head (u16): modulo the queue size unless flag bit 3
 *   [3]      bit 0 INDIRECT negotiated, bit 1 rwlock vm, bit 2 walk
 *            outside a read section (must be -EPERM), bit 3 head as is
 *            (so that head >= num is reachable)
 *   [4]      iovec capacity: b % (MAX_IOV + 1)
 *   [5]      slots: 1 + b % MAX_SLOTS
 *   then per slot 4 bytes: gpa page, size - 1 in pages (% 16), host page
 *            (% (HOST_PAGES - size + 1)), flags (bit 0 read-only, bit 1
 *            dirty log); a slot that overlaps an earlier one is left out
 *   then 4 bytes: the table's gpa, % GUEST_SPAN
 *   then the memory image: copied to the table's host address (clipped to
 *            its slot's mapping), after the rest of memory is zeroed.
 *
 * FUZZ_VRING_VERBOSE=1 prints every walk's result.
 * FUZZ_VRING_WRITE_SEEDS=<dir> writes the seed inputs (fuzz/corpus-vring)
 * and exits instead of fuzzing.
 */
#include <endian.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include <linux/virtio_ring.h>

#include <gpc/gpc.h>

#include "vring_walk.h"

#define MAX_SLOTS   4
#define MAX_IOV	    64
#define HOST_PAGES  64
#define GUARD	    4
/* Guest-physical space the layout can use: 256 gpa pages + a slot. */
#define GUEST_PAGES (256 + 16)

static uint64_t ps;
static uint8_t *mem; /* HOST_PAGES pages of the memfd, between guards */
static struct gpc_vm *vms[2];
static bool verbose; /* FUZZ_VRING_VERBOSE=1: print each walk's result */

/* The layout as the harness (and the model) know it, sorted by gpa. */
struct mslot {
	uint64_t gpa, size, off; /* off: bytes into mem */
	uint32_t flags;
};
static struct mslot cur[MAX_SLOTS];
static unsigned int ncur[2]; /* slots now in vms[i] */
static struct mslot now[2][MAX_SLOTS];

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "fuzz_vring_walk: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	abort();
}

/* ---- the input ---------------------------------------------------------- */

struct input {
	const uint8_t *p;
	size_t n, at;
};

static uint8_t in8(struct input *in)
{
	return in->at < in->n ? in->p[in->at++] : 0;
}

static uint32_t in32(struct input *in)
{
	uint32_t v = 0;

	for (int i = 0; i < 4; i++)
		v |= (uint32_t)in8(in) << (8 * i);
	return v;
}

/* ---- the reference model ------------------------------------------------ */

static const struct mslot *m_slots;
static unsigned int m_n;

static long m_find(uint64_t gpa)
{
	for (unsigned int i = 0; i < m_n; i++)
		if (gpa >= m_slots[i].gpa &&
		    gpa - m_slots[i].gpa < m_slots[i].size)
			return i;
	return -1;
}

/*
 * gpc_translate_gpa_iov() as its contract says: pieces in gpa order, a new
 * piece unless the host memory continues, -ENOENT at a hole, -EROFS at a
 * read-only slot for a write, -ENOBUFS when out of entries.
 */
static int m_xlate(uint64_t a, uint64_t len, bool write, struct iovec *out,
		   unsigned int niov)
{
	unsigned int k = 0;
	uint64_t done = 0;
	long s;

	if (len && len - 1 > UINT64_MAX - a)
		return -EOVERFLOW;
	s = m_find(a);
	while (done < len) {
		uint64_t at = a + done, off, n;
		const struct mslot *m;
		uint8_t *host;

		if (s < 0 || s >= (long)m_n ||
		    at - m_slots[s].gpa >= m_slots[s].size)
			return -ENOENT;
		m = &m_slots[s];
		off = at - m->gpa;
		n = m->size - off < len - done ? m->size - off : len - done;
		if (write && (m->flags & GPC_MEMSLOT_READONLY))
			return -EROFS;
		host = mem + m->off + off;
		if (k && (uint8_t *)out[k - 1].iov_base + out[k - 1].iov_len ==
				 host) {
			out[k - 1].iov_len += n;
		} else {
			if (k == niov)
				return -ENOBUFS;
			out[k].iov_base = host;
			out[k].iov_len = n;
			k++;
		}
		done += n;
		s++;
	}
	return (int)k;
}

struct m_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags, next;
};

static void m_read(const uint8_t *p, struct m_desc *d)
{
	uint64_t a;
	uint32_t l;
	uint16_t f, x;

	memcpy(&a, p, 8);
	memcpy(&l, p + 8, 4);
	memcpy(&f, p + 12, 2);
	memcpy(&x, p + 14, 2);
	d->addr = le64toh(a);
	d->len = le32toh(l);
	d->flags = le16toh(f);
	d->next = le16toh(x);
}

struct m_res {
	int ret;
	struct gpc_vhost_chain c;
	struct iovec iov[MAX_IOV];
};

static int m_fail(struct m_res *r, enum gpc_vhost_walk_err e, unsigned int at,
		  bool ind)
{
	r->c.err = e;
	r->c.at = at;
	r->c.in_indirect = ind;
	r->ret = gpc_vhost_walk_errno(e);
	return r->ret;
}

/* A table at @gpa of @bytes: 0 and its host address, or the reason. */
static enum gpc_vhost_walk_err m_table(uint64_t gpa, uint64_t bytes,
				       const uint8_t **p,
				       enum gpc_vhost_walk_err outside,
				       enum gpc_vhost_walk_err split)
{
	struct iovec one;
	int n = m_xlate(gpa, bytes, false, &one, 1);

	if (n == -ENOBUFS)
		return split;
	if (n != 1)
		return outside;
	*p = one.iov_base;
	return GPC_VHOST_WALK_OK;
}

static int model(uint64_t desc_gpa, unsigned int num, unsigned int head,
		 unsigned int flags, unsigned int cap, struct m_res *r)
{
	const uint8_t *tbl;
	unsigned int n = num, at = head, steps = 0, used = 0;
	bool ind = false, seen_w = false;
	uint64_t total = 0;
	enum gpc_vhost_walk_err e;

	memset(r, 0, sizeof(*r));
	if (head >= num)
		return m_fail(r, GPC_VHOST_WALK_HEAD_RANGE, head, false);
	e = m_table(desc_gpa, (uint64_t)num * 16, &tbl,
		    GPC_VHOST_WALK_TABLE_OUTSIDE, GPC_VHOST_WALK_TABLE_SPLIT);
	if (e)
		return m_fail(r, e, head, false);
	for (;;) {
		struct m_desc d;
		bool w;
		int k;

		if (++steps > n)
			return m_fail(r,
				      ind ? GPC_VHOST_WALK_INDIRECT_LOOP :
					    GPC_VHOST_WALK_LOOP,
				      at, ind);
		m_read(tbl + (size_t)at * 16, &d);
		r->c.ndesc++;
		if (d.flags & VRING_DESC_F_INDIRECT) {
			if (!(flags & GPC_VHOST_WALK_F_INDIRECT))
				e = GPC_VHOST_WALK_INDIRECT_OFF;
			else if (ind)
				e = GPC_VHOST_WALK_INDIRECT_NESTED;
			else if (d.flags & VRING_DESC_F_NEXT)
				e = GPC_VHOST_WALK_INDIRECT_NEXT;
			else if (!d.len)
				e = GPC_VHOST_WALK_INDIRECT_EMPTY;
			else if (d.len % 16)
				e = GPC_VHOST_WALK_INDIRECT_ALIGN;
			else if (d.len / 16 > GPC_VHOST_INDIRECT_MAX)
				e = GPC_VHOST_WALK_INDIRECT_BIG;
			else if (d.addr > UINT64_MAX - (d.len - 1))
				e = GPC_VHOST_WALK_INDIRECT_WRAP;
			else
				e = m_table(d.addr, d.len, &tbl,
					    GPC_VHOST_WALK_INDIRECT_OUTSIDE,
					    GPC_VHOST_WALK_INDIRECT_SPLIT);
			if (e)
				return m_fail(r, e, at, ind);
			ind = true;
			n = d.len / 16;
			at = 0;
			steps = 0;
			continue;
		}
		w = d.flags & VRING_DESC_F_WRITE;
		if (d.len && d.addr > UINT64_MAX - (d.len - 1))
			return m_fail(r, GPC_VHOST_WALK_BUF_WRAP, at, ind);
		if (!w && seen_w)
			return m_fail(r, GPC_VHOST_WALK_ORDER, at, ind);
		seen_w |= w;
		total += d.len;
		if (total > UINT32_MAX)
			return m_fail(r, GPC_VHOST_WALK_TOO_LONG, at, ind);
		if (d.len) {
			if (used == cap)
				return m_fail(r, GPC_VHOST_WALK_IOV_FULL, at,
					      ind);
			k = m_xlate(d.addr, d.len, w, r->iov + used,
				    cap - used);
			if (k == -ENOBUFS)
				return m_fail(r, GPC_VHOST_WALK_IOV_FULL, at,
					      ind);
			if (k == -EROFS)
				return m_fail(r, GPC_VHOST_WALK_BUF_READONLY,
					      at, ind);
			if (k < 0)
				return m_fail(r, GPC_VHOST_WALK_BUF_OUTSIDE, at,
					      ind);
			used += (unsigned int)k;
			if (w) {
				r->c.nr_write += (unsigned int)k;
				r->c.write_len += d.len;
			} else {
				r->c.nr_read += (unsigned int)k;
				r->c.read_len += d.len;
			}
		}
		if (!(d.flags & VRING_DESC_F_NEXT))
			return 0;
		if (d.next >= n)
			return m_fail(r, GPC_VHOST_WALK_NEXT_RANGE, at, ind);
		at = d.next;
	}
}

/* ---- the library side --------------------------------------------------- */

/* Make @want (n slots, sorted) the layout of vms[v], in one transaction. */
static void set_layout(int v, const struct mslot *want, unsigned int n)
{
	struct gpc_memslot_txn *tx;
	int err;

	if (n == ncur[v] && !memcmp(want, now[v], n * sizeof(*want)))
		return;
	if (gpc_memslot_txn_begin(vms[v], &tx))
		die("txn_begin");
	/*
	 * Only the slots that change are deleted and added, as a back-end's
	 * SET_MEM_TABLE that keeps a region does not touch it. (The other
	 * form, deleting and re-adding an unchanged logging slot, is
	 * test_dirty's txn_readd_keeps_log: it once lost the slot's log.)
	 */
	for (unsigned int i = 0; i < ncur[v]; i++)
		if (i >= n || memcmp(&want[i], &now[v][i], sizeof(*want)))
			gpc_memslot_txn_delete(tx, i);
	for (unsigned int i = 0; i < n; i++) {
		if (i < ncur[v] && !memcmp(&want[i], &now[v][i], sizeof(*want)))
			continue;
		struct gpc_memslot_desc d = {
			.id = i,
			.flags = want[i].flags,
			.gpa = want[i].gpa,
			.size = want[i].size,
			.hva = (uint64_t)(uintptr_t)(mem + want[i].off),
		};

		gpc_memslot_txn_add(tx, &d);
	}
	err = gpc_memslot_txn_commit(tx);
	if (err)
		die("layout commit: %d", err);
	memcpy(now[v], want, n * sizeof(*want));
	ncur[v] = n;
}

/* The checks that need no model. */
static void check_alone(const struct gpc_vhost_chain *c,
			const struct iovec *iov, unsigned int cap,
			const struct mslot *s, unsigned int ns)
{
	uint64_t rl = 0, wl = 0;

	if (c->nr_read + c->nr_write > cap)
		die("%u + %u iovecs, capacity %u", c->nr_read, c->nr_write,
		    cap);
	for (unsigned int i = 0; i < c->nr_read + c->nr_write; i++) {
		uintptr_t b = (uintptr_t)iov[i].iov_base,
			  e = b + iov[i].iov_len;
		bool w = i >= c->nr_read, in = false;

		for (unsigned int j = 0; j < ns && !in; j++) {
			uintptr_t sb = (uintptr_t)(mem + s[j].off),
				  se = sb + s[j].size;

			/* A piece may run on into a host-adjacent slot. */
			in = b >= sb && b < se &&
			     e <= (uintptr_t)(mem + HOST_PAGES * ps) &&
			     !(w && (s[j].flags & GPC_MEMSLOT_READONLY));
		}
		if (!in || !iov[i].iov_len)
			die("iovec %u (%s) %p+%zu outside the slots", i,
			    w ? "writable" : "readable", iov[i].iov_base,
			    iov[i].iov_len);
		if (w)
			wl += iov[i].iov_len;
		else
			rl += iov[i].iov_len;
	}
	if (rl != c->read_len || wl != c->write_len)
		die("lengths %lu/%lu, pieces add up to %lu/%lu",
		    (unsigned long)c->read_len, (unsigned long)c->write_len,
		    (unsigned long)rl, (unsigned long)wl);
}

static void write_seeds(const char *dir);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct gpc_vm_config cfg[2] = {
		{ .scheme = GPC_SCHEME_SRCU, .name = "fz-vring-srcu" },
		{ .scheme = GPC_SCHEME_RWLOCK, .name = "fz-vring-rwlock" },
	};
	const char *seeds = getenv("FUZZ_VRING_WRITE_SEEDS");
	uint8_t *res;
	int fd;

	(void)argc;
	(void)argv;
	if (seeds) {
		write_seeds(seeds);
		exit(0);
	}
	verbose = getenv("FUZZ_VRING_VERBOSE") != NULL;
	ps = (uint64_t)sysconf(_SC_PAGESIZE);
	fd = memfd_create("fuzz-vring", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, (off_t)(HOST_PAGES * ps)))
		die("memfd");
	res = mmap(NULL, (HOST_PAGES + 2 * GUARD) * ps, PROT_NONE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (res == MAP_FAILED)
		die("mmap");
	mem = mmap(res + GUARD * ps, HOST_PAGES * ps, PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_FIXED, fd, 0);
	if (mem == MAP_FAILED)
		die("mmap memfd");
	for (int i = 0; i < 2; i++)
		if (gpc_vm_create(&cfg[i], &vms[i]))
			die("vm");
	return 0;
}

/* Two walk results are the same (field by field: padding is not). */
static bool same_chain(const struct gpc_vhost_chain *a,
		       const struct gpc_vhost_chain *b)
{
	return a->nr_read == b->nr_read && a->nr_write == b->nr_write &&
	       a->read_len == b->read_len && a->write_len == b->write_len &&
	       a->ndesc == b->ndesc && a->err == b->err && a->at == b->at &&
	       a->in_indirect == b->in_indirect;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = { .p = data, .n = size };
	unsigned int num = 1u << (in8(&in) % 16);
	unsigned int head = in8(&in);
	uint8_t fl, nreq;
	unsigned int cap, ns = 0, flags, v;
	uint64_t desc_gpa;
	struct gpc_vhost_chain c;
	struct iovec iov[MAX_IOV];
	static struct m_res want;
	long ts;
	int r;

	head |= (unsigned int)in8(&in) << 8;
	fl = in8(&in);
	cap = in8(&in) % (MAX_IOV + 1);
	nreq = 1 + in8(&in) % MAX_SLOTS;
	if (!(fl & 8))
		head %= num;
	flags = fl & 1 ? GPC_VHOST_WALK_F_INDIRECT : 0;
	v = fl >> 1 & 1;
	for (unsigned int i = 0; i < nreq; i++) {
		uint64_t gp = in8(&in), pages = 1 + in8(&in) % 16;
		uint64_t hp = in8(&in) % (HOST_PAGES - pages + 1);
		uint8_t f = in8(&in);
		struct mslot m = {
			.gpa = gp * ps,
			.size = pages * ps,
			.off = hp * ps,
			.flags = (f & 1 ? GPC_MEMSLOT_READONLY : 0) |
				 (f & 2 ? GPC_MEMSLOT_LOG_DIRTY : 0),
		};
		unsigned int j;
		bool overlap = false;

		for (j = 0; j < ns; j++)
			overlap |= m.gpa < cur[j].gpa + cur[j].size &&
				   cur[j].gpa < m.gpa + m.size;
		if (overlap)
			continue;
		/* Insert sorted by gpa. */
		for (j = ns; j > 0 && cur[j - 1].gpa > m.gpa; j--)
			cur[j] = cur[j - 1];
		cur[j] = m;
		ns++;
	}
	desc_gpa = in32(&in) % (GUEST_PAGES * ps);

	set_layout((int)v, cur, ns);
	m_slots = cur;
	m_n = ns;

	/* Memory: zeroes, and the image at the table's host address. */
	memset(mem, 0, HOST_PAGES * ps);
	ts = m_find(desc_gpa);
	if (ts >= 0) {
		uint64_t off = desc_gpa - cur[ts].gpa;
		size_t room = (size_t)(cur[ts].size - off);
		size_t len = size - in.at < room ? size - in.at : room;

		memcpy(mem + cur[ts].off + off, data + in.at, len);
	}

	if (fl & 4) {
		r = gpc_vhost_walk(vms[v], desc_gpa, num, head, flags, iov, cap,
				   &c);
		if (r != -EPERM || c.err != GPC_VHOST_WALK_NO_SECTION)
			die("outside a section: %d (%d)", r, (int)c.err);
		return 0;
	}
	gpc_srcu_read_lock(gpc_vm_srcu(vms[v]));
	r = gpc_vhost_walk(vms[v], desc_gpa, num, head, flags, iov, cap, &c);
	{
		static struct iovec iov2[MAX_IOV];
		struct gpc_vhost_chain c2;
		uint64_t tl = (uint64_t)num * 16;
		void *tp;
		int r2;

		if (!gpc_translate_gpa(vms[v], desc_gpa, &tl, 0, &tp) &&
		    tl == (uint64_t)num * 16) {
			r2 = gpc_vhost_walk_table(vms[v], tp, num, head, flags,
						  cap ? iov2 : NULL, cap, &c2);
			if (r2 != r || !same_chain(&c2, &c) ||
			    memcmp(iov2, iov,
				   (c.nr_read + c.nr_write) * sizeof(*iov)))
				die("table form: %d (%s), translating form: "
				    "%d (%s)",
				    r2, gpc_vhost_walk_strerror(c2.err), r,
				    gpc_vhost_walk_strerror(c.err));
		}
	}
	gpc_srcu_read_unlock(gpc_vm_srcu(vms[v]));

	model(desc_gpa, num, head, flags, cap, &want);
	if (verbose) {
		char line[160];

		gpc_vhost_walk_describe(&c, head, line, sizeof(line));
		fprintf(stderr,
			"walk num %u head %u flags %u cap %u slots %u: %s; "
			"%u/%u iovecs, %u/%u bytes\n",
			num, head, flags, cap, ns, line, c.nr_read, c.nr_write,
			c.read_len, c.write_len);
	}
	if (r != gpc_vhost_walk_errno(c.err))
		die("returned %d for reason %d", r, (int)c.err);
	if (r != want.ret || c.err != want.c.err)
		die("walk: %d (%s), model: %d (%s)", r,
		    gpc_vhost_walk_strerror(c.err), want.ret,
		    gpc_vhost_walk_strerror(want.c.err));
	if (r) {
		if (c.at != want.c.at || c.in_indirect != want.c.in_indirect)
			die("%s at %u%s, model at %u%s",
			    gpc_vhost_walk_strerror(c.err), c.at,
			    c.in_indirect ? " (indirect)" : "", want.c.at,
			    want.c.in_indirect ? " (indirect)" : "");
		return 0;
	}
	check_alone(&c, iov, cap, cur, ns);
	if (c.nr_read != want.c.nr_read || c.nr_write != want.c.nr_write ||
	    c.read_len != want.c.read_len || c.write_len != want.c.write_len ||
	    c.ndesc != want.c.ndesc)
		die("counts %u/%u lengths %u/%u ndesc %u; model %u/%u %u/%u %u",
		    c.nr_read, c.nr_write, c.read_len, c.write_len, c.ndesc,
		    want.c.nr_read, want.c.nr_write, want.c.read_len,
		    want.c.write_len, want.c.ndesc);
	for (unsigned int i = 0; i < c.nr_read + c.nr_write; i++)
		if (iov[i].iov_base != want.iov[i].iov_base ||
		    iov[i].iov_len != want.iov[i].iov_len)
			die("iovec %u: %p+%zu, model %p+%zu", i,
			    iov[i].iov_base, iov[i].iov_len,
			    want.iov[i].iov_base, want.iov[i].iov_len);
	return 0;
}

/* ---- seeds ------------------------------------------------------------ */

struct seed {
	uint8_t b[512];
	size_t n;
};

static void put8(struct seed *s, uint8_t v)
{
	s->b[s->n++] = v;
}

static void put_le(struct seed *s, uint64_t v, int bytes)
{
	for (int i = 0; i < bytes; i++)
		put8(s, (uint8_t)(v >> (8 * i)));
}

/*
 * Header: queue 2^lg, head, flags, capacity; two slots: gpa pages 0..3 at
 * host page 0, gpa pages 4..7 at host page 8 (adjacent in gpa, apart in
 * host memory); the table at gpa 0.
 */
static void seed_head(struct seed *s, unsigned int lg, unsigned int head,
		      uint8_t fl, uint8_t cap)
{
	s->n = 0;
	put8(s, (uint8_t)lg);
	put_le(s, head, 2);
	put8(s, fl);
	put8(s, cap);
	put8(s, 1); /* 2 slots */
	put8(s, 0), put8(s, 3), put8(s, 0), put8(s, 0);
	put8(s, 4), put8(s, 3), put8(s, 8), put8(s, 0);
	put_le(s, 0, 4);
}

static void seed_desc(struct seed *s, uint64_t addr, uint32_t len,
		      uint16_t flags, uint16_t next)
{
	put_le(s, addr, 8);
	put_le(s, len, 4);
	put_le(s, flags, 2);
	put_le(s, next, 2);
}

static void write_seed(const char *dir, const char *name, const struct seed *s)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(s->b, 1, s->n, f) != s->n || fclose(f))
		die("cannot write %s", path);
}

static void write_seeds(const char *dir)
{
	const uint64_t p = 4096; /* seeds assume 4 KiB pages */
	struct seed s;

	/* A queue of 4: 0 -> 1 -> 2 (readable, readable across, writable). */
	seed_head(&s, 2, 0, 0, 8);
	seed_desc(&s, 0x100, 64, VRING_DESC_F_NEXT, 1);
	seed_desc(&s, 4 * p - 32, 64, VRING_DESC_F_NEXT, 2);
	seed_desc(&s, 0x200, 16, VRING_DESC_F_WRITE, 0);
	seed_desc(&s, 0, 0, 0, 0);
	write_seed(dir, "chain", &s);

	/* Indirect: head 0 -> a table of 3 right after the queue's table. */
	seed_head(&s, 2, 0, 1, 8);
	seed_desc(&s, 64, 48, VRING_DESC_F_INDIRECT, 0);
	seed_desc(&s, 0, 0, 0, 0);
	seed_desc(&s, 0, 0, 0, 0);
	seed_desc(&s, 0, 0, 0, 0);
	seed_desc(&s, 0x300, 10, VRING_DESC_F_NEXT, 1);
	seed_desc(&s, 0x400, 20, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 2);
	seed_desc(&s, 0x500, 30, VRING_DESC_F_WRITE, 0);
	write_seed(dir, "indirect", &s);

	/* The same on the rwlock vm, and a loop. */
	s.b[3] = 3;
	write_seed(dir, "indirect-rwlock", &s);
	seed_head(&s, 1, 1, 2, 4);
	seed_desc(&s, 0x100, 1, VRING_DESC_F_NEXT, 1);
	seed_desc(&s, 0x200, 1, VRING_DESC_F_NEXT, 0);
	write_seed(dir, "loop", &s);

	/* A writable buffer in a read-only slot (slot 2: gpa 16.., RO). */
	seed_head(&s, 1, 0, 0, 4);
	s.b[5] = 2; /* 3 slots: append the third after the second */
	s.n = 14;
	put8(&s, 16), put8(&s, 0), put8(&s, 20), put8(&s, 1);
	put_le(&s, 0, 4);
	seed_desc(&s, 16 * p, 8, VRING_DESC_F_WRITE, 0);
	write_seed(dir, "readonly", &s);
}
