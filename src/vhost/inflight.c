// SPDX-License-Identifier: MIT
/*
 * src/vhost/inflight.c - inflight I/O tracking for split virtqueues
 * (INFLIGHT_SHMFD); see inflight.h for the protocol and the calls.
 *
 * Every access to the area is a __atomic load or store: the front-end
 * shares the mapping and may write it at any time (a load must not be a
 * data race the compiler may assume away), and the stores of one tracking
 * step must reach memory in the spec's order, so each is a release store
 * (a crash leaves the stores before a point and none after it; a plain or
 * relaxed store could be reordered by the compiler).
 */
#include "inflight.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* The spec's DescStateSplit. */
struct inflight_desc {
	uint8_t inflight;
	uint8_t padding[5];
	uint16_t next;
	uint64_t counter;
};

/* The spec's QueueRegionSplit, without its flexible array. */
struct inflight_qhdr {
	uint64_t features;
	uint16_t version;
	uint16_t desc_num;
	uint16_t last_batch_head;
	uint16_t used_idx;
};

static_assert(sizeof(struct inflight_desc) == 16, "DescStateSplit: 16 bytes");
static_assert(offsetof(struct inflight_desc, next) == 6, "next at 6");
static_assert(offsetof(struct inflight_desc, counter) == 8, "counter at 8");
static_assert(sizeof(struct inflight_qhdr) == 16, "QueueRegionSplit hdr: 16");
static_assert(offsetof(struct inflight_qhdr, version) == 8, "version at 8");
static_assert(offsetof(struct inflight_qhdr, desc_num) == 10, "desc_num 10");
static_assert(offsetof(struct inflight_qhdr, last_batch_head) == 12,
	      "last_batch_head at 12");
static_assert(offsetof(struct inflight_qhdr, used_idx) == 14, "used_idx 14");
static_assert(GPC_VHOST_INFLIGHT_STRIDE(128) == 2112, "libvhost-user stride");

struct gpc_vhost_inflight_area {
	void *map;	   /* what mmap() returned */
	size_t map_len;	   /* its length */
	uint8_t *base;	   /* the area: map + (offset % page size) */
	uint64_t size;	   /* layout bytes */
	uint64_t stride;   /* bytes per queue */
	unsigned int nq;   /* queues */
	unsigned int qs;   /* entries per queue */
	uint64_t *counter; /* per queue: the last counter given */
	gpc_vhost_inflight_hook_fn *hook;
	void *hook_ctx;
	_Atomic uint64_t begins, commits, resubmitted, corrupt;
};

static struct inflight_qhdr *qhdr(const struct gpc_vhost_inflight_area *a,
				  unsigned int q)
{
	return (struct inflight_qhdr *)(a->base + (uint64_t)q * a->stride);
}

static struct inflight_desc *qdesc(const struct gpc_vhost_inflight_area *a,
				   unsigned int q, unsigned int i)
{
	return (struct inflight_desc *)(a->base + (uint64_t)q * a->stride +
					sizeof(struct inflight_qhdr)) +
	       i;
}

#define LD(p)	 __atomic_load_n((p), __ATOMIC_RELAXED)
#define ST(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)

static void step(struct gpc_vhost_inflight_area *a, const char *where)
{
	if (a->hook)
		a->hook(a->hook_ctx, where);
}

static void count(_Atomic uint64_t *c, uint64_t n)
{
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static bool counts_ok(unsigned int nq, unsigned int qs)
{
	return nq >= 1 && nq <= GPC_VHOST_INFLIGHT_MAX_QUEUES && qs >= 1 &&
	       qs <= GPC_VHOST_INFLIGHT_MAX_QSIZE;
}

static int area_alloc(unsigned int nq, unsigned int qs,
		      struct gpc_vhost_inflight_area **out)
{
	struct gpc_vhost_inflight_area *a = calloc(1, sizeof(*a));

	if (!a)
		return -ENOMEM;
	a->counter = calloc(nq, sizeof(*a->counter));
	if (!a->counter) {
		free(a);
		return -ENOMEM;
	}
	a->nq = nq;
	a->qs = qs;
	a->stride = GPC_VHOST_INFLIGHT_STRIDE(qs);
	a->size = a->stride * nq;
	*out = a;
	return 0;
}

static void area_free(struct gpc_vhost_inflight_area *a)
{
	if (a->map)
		munmap(a->map, a->map_len);
	free(a->counter);
	free(a);
}

/* Map [off, off + len) of @fd, whatever the alignment of @off. */
static int area_mmap(struct gpc_vhost_inflight_area *a, int fd, uint64_t off,
		     uint64_t len)
{
	uint64_t ps = (uint64_t)sysconf(_SC_PAGESIZE);
	uint64_t delta = off % ps;
	void *p;

	if (len + delta > SIZE_MAX)
		return -EINVAL;
	p = mmap(NULL, (size_t)(len + delta), PROT_READ | PROT_WRITE,
		 MAP_SHARED, fd, (off_t)(off - delta));
	if (p == MAP_FAILED)
		return -errno;
	a->map = p;
	a->map_len = (size_t)(len + delta);
	a->base = (uint8_t *)p + delta;
	return 0;
}

static void qhdr_init(struct gpc_vhost_inflight_area *a, unsigned int q)
{
	struct inflight_qhdr *h = qhdr(a, q);

	ST(&h->features, 0);
	ST(&h->desc_num, (uint16_t)a->qs);
	ST(&h->last_batch_head, 0);
	ST(&h->used_idx, 0);
	ST(&h->version, (uint16_t)GPC_VHOST_INFLIGHT_VERSION);
}

int gpc_vhost_inflight_create(unsigned int num_queues, unsigned int queue_size,
			      struct gpc_vhost_inflight_area **out, int *fd,
			      struct gpc_vhost_inflight *reply)
{
	struct gpc_vhost_inflight_area *a;
	int mfd, err;

	if (!out || !fd || !reply || !counts_ok(num_queues, queue_size))
		return -EINVAL;
	err = area_alloc(num_queues, queue_size, &a);
	if (err)
		return err;
	mfd = memfd_create("gpc-vhost-inflight",
			   MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (mfd < 0) {
		err = -errno;
		goto fail;
	}
	/*
	 * Sealed so that neither side can change the size under the other's
	 * mapping (an access beyond a shrunk file's end is SIGBUS).
	 */
	if (ftruncate(mfd, (off_t)a->size) ||
	    fcntl(mfd, F_ADD_SEALS,
		  F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)) {
		err = -errno;
		goto fail;
	}
	err = area_mmap(a, mfd, 0, a->size);
	if (err)
		goto fail;
	for (unsigned int q = 0; q < a->nq; q++)
		qhdr_init(a, q);
	memset(reply, 0, sizeof(*reply));
	reply->mmap_size = a->size;
	reply->mmap_offset = 0;
	reply->num_queues = (uint16_t)num_queues;
	reply->queue_size = (uint16_t)queue_size;
	*fd = mfd;
	*out = a;
	return 0;
fail:
	if (mfd >= 0)
		close(mfd);
	area_free(a);
	return err;
}

int gpc_vhost_inflight_map(int fd, const struct gpc_vhost_inflight *msg,
			   struct gpc_vhost_inflight_area **out)
{
	struct gpc_vhost_inflight_area *a;
	struct stat stb;
	uint64_t need;
	int seals, err;

	if (fd < 0 || !msg || !out ||
	    !counts_ok(msg->num_queues, msg->queue_size))
		return -EINVAL;
	need = GPC_VHOST_INFLIGHT_STRIDE(msg->queue_size) * msg->num_queues;
	/* 8-byte fields: a misaligned area would make every access split. */
	if (msg->mmap_offset % 8 || msg->mmap_size < need ||
	    msg->mmap_offset > UINT64_MAX - need ||
	    msg->mmap_offset > (uint64_t)INT64_MAX - need)
		return -EINVAL;
	if (fstat(fd, &stb))
		return -errno;
	if (stb.st_size < 0 || (uint64_t)stb.st_size < msg->mmap_offset + need)
		return -EINVAL;
	err = area_alloc(msg->num_queues, msg->queue_size, &a);
	if (err)
		return err;
	seals = fcntl(fd, F_GET_SEALS);
	if (seals < 0 || !(seals & F_SEAL_SHRINK))
		count(&a->corrupt, 1);
	err = area_mmap(a, fd, msg->mmap_offset, need);
	if (err)
		goto fail;
	for (unsigned int q = 0; q < a->nq; q++) {
		struct inflight_qhdr *h = qhdr(a, q);
		uint16_t version = LD(&h->version);

		if (version == 0) {
			qhdr_init(a, q);
			continue;
		}
		if (version != GPC_VHOST_INFLIGHT_VERSION ||
		    LD(&h->features) != 0 || LD(&h->desc_num) != a->qs) {
			err = -EPROTO;
			goto fail;
		}
	}
	*out = a;
	return 0;
fail:
	area_free(a);
	return err;
}

void gpc_vhost_inflight_destroy(struct gpc_vhost_inflight_area *a)
{
	if (a)
		area_free(a);
}

int gpc_vhost_inflight_begin(struct gpc_vhost_inflight_area *a, unsigned int q,
			     uint16_t head)
{
	struct inflight_desc *d;

	if (!a)
		return -EINVAL;
	if (q >= a->nq || head >= a->qs)
		return -ERANGE;
	d = qdesc(a, q, head);
	if (LD(&d->inflight))
		return -EBUSY;
	ST(&d->counter, ++a->counter[q]);
	step(a, "begin: counter");
	ST(&d->inflight, 1);
	step(a, "begin: inflight");
	count(&a->begins, 1);
	return 0;
}

int gpc_vhost_inflight_put(struct gpc_vhost_inflight_area *a, unsigned int q,
			   uint16_t head)
{
	struct inflight_qhdr *h;

	if (!a)
		return -EINVAL;
	if (q >= a->nq || head >= a->qs)
		return -ERANGE;
	h = qhdr(a, q);
	ST(&qdesc(a, q, head)->next, LD(&h->last_batch_head));
	step(a, "put: next");
	ST(&h->last_batch_head, head);
	step(a, "put: last_batch_head");
	return 0;
}

/*
 * Clear the inflight bytes of the @batch entries of the last batch list.
 * Every index comes from shared memory: one out of range ends the walk
 * (false). A list longer than the queue cannot be one we made: at most
 * qs entries are walked.
 */
static bool clear_batch(struct gpc_vhost_inflight_area *a, unsigned int q,
			unsigned int batch, bool hook)
{
	uint16_t i = LD(&qhdr(a, q)->last_batch_head);

	if (batch > a->qs)
		batch = a->qs;
	for (unsigned int k = 0; k < batch; k++) {
		struct inflight_desc *d;

		if (i >= a->qs)
			return false;
		d = qdesc(a, q, i);
		ST(&d->inflight, 0);
		if (hook)
			step(a, "commit: inflight");
		i = LD(&d->next);
	}
	return true;
}

int gpc_vhost_inflight_commit(struct gpc_vhost_inflight_area *a, unsigned int q,
			      uint16_t used_idx)
{
	struct inflight_qhdr *h;
	uint16_t batch;
	bool ok;

	if (!a)
		return -EINVAL;
	if (q >= a->nq)
		return -ERANGE;
	h = qhdr(a, q);
	batch = (uint16_t)(used_idx - LD(&h->used_idx));
	ok = clear_batch(a, q, batch, true);
	ST(&h->used_idx, used_idx);
	step(a, "commit: used_idx");
	count(&a->commits, 1);
	if (ok)
		return 0;
	count(&a->corrupt, 1);
	return -EPROTO;
}

struct pending {
	uint64_t counter;
	uint16_t head;
};

static int pending_cmp(const void *x, const void *y)
{
	const struct pending *p = x, *r = y;

	if (p->counter != r->counter)
		return p->counter < r->counter ? -1 : 1;
	return (int)p->head - (int)r->head;
}

int gpc_vhost_inflight_resubmit(struct gpc_vhost_inflight_area *a,
				unsigned int q, uint16_t used_idx,
				uint16_t *heads, unsigned int cap,
				unsigned int *n)
{
	struct inflight_qhdr *h;
	struct pending *p;
	unsigned int k = 0;

	if (!a || !n || (!heads && cap))
		return -EINVAL;
	if (q >= a->nq)
		return -ERANGE;
	h = qhdr(a, q);
	/* The spec's recovery of a batch published but not committed. */
	if (LD(&h->used_idx) != used_idx) {
		uint16_t batch = (uint16_t)(used_idx - LD(&h->used_idx));

		if (!clear_batch(a, q, batch, false))
			count(&a->corrupt, 1);
		ST(&h->used_idx, used_idx);
	}
	p = malloc(sizeof(*p) * a->qs);
	if (!p)
		return -ENOMEM;
	for (unsigned int i = 0; i < a->qs; i++) {
		struct inflight_desc *d = qdesc(a, q, i);
		uint8_t v = LD(&d->inflight);

		if (v > 1) { /* not a value we write */
			ST(&d->inflight, 0);
			count(&a->corrupt, 1);
			continue;
		}
		if (v) {
			p[k].counter = LD(&d->counter);
			p[k].head = (uint16_t)i;
			k++;
		}
	}
	if (k > cap) {
		free(p);
		return -ENOBUFS;
	}
	qsort(p, k, sizeof(*p), pending_cmp);
	for (unsigned int i = 0; i < k; i++) {
		heads[i] = p[i].head;
		ST(&qdesc(a, q, p[i].head)->counter, (uint64_t)i + 1);
	}
	free(p);
	a->counter[q] = k;
	*n = k;
	count(&a->resubmitted, k);
	return 0;
}

uint64_t gpc_vhost_inflight_size(const struct gpc_vhost_inflight_area *a)
{
	return a ? a->size : 0;
}

void *gpc_vhost_inflight_base(const struct gpc_vhost_inflight_area *a)
{
	return a ? a->base : NULL;
}

void gpc_vhost_inflight_get_stats(const struct gpc_vhost_inflight_area *a,
				  struct gpc_vhost_inflight_stats *st)
{
	struct gpc_vhost_inflight_area *m = (struct gpc_vhost_inflight_area *)a;

	memset(st, 0, sizeof(*st));
	if (!a)
		return;
	st->begins = atomic_load_explicit(&m->begins, memory_order_relaxed);
	st->commits = atomic_load_explicit(&m->commits, memory_order_relaxed);
	st->resubmitted =
		atomic_load_explicit(&m->resubmitted, memory_order_relaxed);
	st->corrupt = atomic_load_explicit(&m->corrupt, memory_order_relaxed);
}

void gpc_vhost_inflight_set_hook(struct gpc_vhost_inflight_area *a,
				 gpc_vhost_inflight_hook_fn *fn, void *ctx)
{
	if (!a)
		return;
	a->hook = fn;
	a->hook_ctx = ctx;
}
