// SPDX-License-Identifier: MIT
/*
 * src/vhost/iotlb.c - the device IOTLB as a libgpc vm keyed by IOVA; see
 * iotlb.h for the design and what each call guarantees.
 *
 * The entries are also kept here, sorted by IOVA, to plan each change:
 * which slots go, which parts come back, which ids they take. A plan is
 * one memslot transaction; the table here is replaced only once the
 * commit succeeded, so a refused change leaves both as they were.
 */
#include "iotlb.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <gpc/invalidate.h>
#include <gpc/log.h>
#include <gpc/memslot.h>
#include <gpc/srcu.h>
#include <gpc/translate.h>

#define NEED_ID UINT32_MAX

struct entry {
	uint64_t iova, size, hva;
	uint64_t rhva;	/* in the region's mapping (hva, without an alias) */
	uint64_t alias; /* 0: none (hva == rhva) */
	int cookie;	/* the alias ops' */
	uint32_t id;	/* slot id, or NEED_ID for a part not yet added */
	uint8_t perm;
	uint8_t ro; /* GPC_MEMSLOT_READONLY */
	bool fresh; /* alias made by this change, not yet committed */
};

struct miss {
	uint64_t page;
	uint64_t sent_ns;
	uint8_t perm;
	bool used;
};

struct gpc_vhost_iotlb {
	struct gpc_vm *vm;
	struct gpc_srcu *domain;
	enum gpc_scheme scheme;
	gpc_vhost_iotlb_log_fn *log;
	void *log_ctx;
	uint64_t page_mask;
	unsigned int max;

	pthread_mutex_t lock; /* writers: e, n, free_ids, counters */
	struct entry *e;      /* sorted by iova, n of them */
	unsigned int n;
	uint32_t *free_ids; /* a stack, nfree of them */
	unsigned int nfree;
	uint64_t updates, invalidations, drops, refused_full, remainders_lost;

	/* Aliases (CHECK_STALE): the ops, and entries gone to retire. */
	const struct gpc_vhost_iotlb_alias_ops *aops;
	void *actx;
	struct entry *dead;
	unsigned int ndead, dead_cap;
	uint64_t aliases, aliases_retired, unchecked;
	bool unchecked_said;

	pthread_mutex_t miss_lock; /* the pending misses */
	struct miss misses[GPC_VHOST_IOTLB_MISS_MAX];
	uint64_t misses_sent, misses_coalesced;

	_Atomic uint64_t seq;
};

static void say(struct gpc_vhost_iotlb *t, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void say(struct gpc_vhost_iotlb *t, int level, const char *fmt, ...)
{
	char buf[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (t->log)
		t->log(t->log_ctx, level, buf);
	else
		fprintf(stderr, "gpc-vhost: iotlb: %s\n", buf);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int gpc_vhost_iotlb_create(struct gpc_srcu *domain, enum gpc_scheme scheme,
			   unsigned int max_entries,
			   gpc_vhost_iotlb_log_fn *log, void *log_ctx,
			   struct gpc_vhost_iotlb **out)
{
	struct gpc_vm_config cfg = { .scheme = scheme, .name = "vhost-iotlb" };
	struct gpc_vhost_iotlb *t;
	int err;

	if (!domain || !out || max_entries > GPC_MEMSLOTS_MAX)
		return -EINVAL;
	if (!max_entries)
		max_entries = GPC_MEMSLOTS_MAX;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->e = calloc(max_entries, sizeof(*t->e));
	t->free_ids = calloc(max_entries, sizeof(*t->free_ids));
	if (!t->e || !t->free_ids) {
		err = -ENOMEM;
		goto fail;
	}
	cfg.max_memslots = max_entries;
	err = gpc_vm_create_on(&cfg, domain, &t->vm);
	if (err)
		goto fail;
	t->domain = domain;
	t->scheme = scheme;
	t->log = log;
	t->log_ctx = log_ctx;
	t->max = max_entries;
	t->page_mask = (uint64_t)sysconf(_SC_PAGESIZE) - 1;
	for (unsigned int i = 0; i < max_entries; i++)
		t->free_ids[i] = max_entries - 1 - i; /* pops 0 first */
	t->nfree = max_entries;
	pthread_mutex_init(&t->lock, NULL);
	pthread_mutex_init(&t->miss_lock, NULL);
	*out = t;
	return 0;
fail:
	free(t->e);
	free(t->free_ids);
	free(t);
	return err;
}

int gpc_vhost_iotlb_destroy(struct gpc_vhost_iotlb *t)
{
	int err;

	if (!t)
		return 0;
	err = gpc_vm_destroy(t->vm);
	if (err)
		return err;
	/* No slot, no request (the caller's queues are stopped) uses them. */
	gpc_vhost_iotlb_retire(t);
	for (unsigned int i = 0; i < t->n; i++)
		if (t->e[i].alias)
			t->aops->retire(t->actx, t->e[i].alias, t->e[i].size,
					t->e[i].cookie);
	free(t->dead);
	pthread_mutex_destroy(&t->lock);
	pthread_mutex_destroy(&t->miss_lock);
	free(t->e);
	free(t->free_ids);
	free(t);
	return 0;
}

struct gpc_vm *gpc_vhost_iotlb_vm(struct gpc_vhost_iotlb *t)
{
	return t ? t->vm : NULL;
}

int gpc_vhost_iotlb_set_aliases(struct gpc_vhost_iotlb *t,
				const struct gpc_vhost_iotlb_alias_ops *ops,
				void *ctx)
{
	int err = 0;

	if (!t || !ops || !ops->map || !ops->retire || !ops->unmap)
		return -EINVAL;
	pthread_mutex_lock(&t->lock);
	if (t->n) {
		err = -EBUSY;
	} else {
		t->aops = ops;
		t->actx = ctx;
	}
	pthread_mutex_unlock(&t->lock);
	return err;
}

unsigned int gpc_vhost_iotlb_retire(struct gpc_vhost_iotlb *t)
{
	unsigned int n;

	if (!t)
		return 0;
	pthread_mutex_lock(&t->lock);
	n = t->ndead;
	for (unsigned int i = 0; i < n; i++)
		t->aops->retire(t->actx, t->dead[i].alias, t->dead[i].size,
				t->dead[i].cookie);
	t->ndead = 0;
	t->aliases_retired += n;
	pthread_mutex_unlock(&t->lock);
	return n;
}

bool gpc_vhost_iotlb_retire_pending(struct gpc_vhost_iotlb *t)
{
	bool p;

	if (!t)
		return false;
	pthread_mutex_lock(&t->lock);
	p = t->ndead != 0;
	pthread_mutex_unlock(&t->lock);
	return p;
}

/* Room for @more entries on the dead list (before a commit: no failure after). */
static int dead_room(struct gpc_vhost_iotlb *t, unsigned int more)
{
	struct entry *d;
	unsigned int cap;

	if (t->ndead + more <= t->dead_cap)
		return 0;
	cap = t->ndead + more + 16;
	d = realloc(t->dead, cap * sizeof(*d));
	if (!d)
		return -ENOMEM;
	t->dead = d;
	t->dead_cap = cap;
	return 0;
}

/* The alias of a new entry or part (@e->rhva set), or the region's pages. */
static void make_alias(struct gpc_vhost_iotlb *t, struct entry *e)
{
	e->hva = e->rhva;
	e->alias = 0;
	e->cookie = -1;
	if (!t->aops)
		return;
	if (!t->aops->map(t->actx, e->rhva, e->size, e->iova, &e->alias,
			  &e->cookie)) {
		e->hva = e->alias;
		e->fresh = true;
		t->aliases++;
		return;
	}
	e->alias = 0;
	t->unchecked++;
	if (!t->unchecked_said) {
		t->unchecked_said = true;
		say(t, GPC_LOG_WARN,
		    "no alias for the entry at IOVA 0x%llx: entries without "
		    "one are not checked for late accesses",
		    (unsigned long long)e->iova);
	}
}

/* ---- planning ---------------------------------------------------------- */

/* What to remove: IOVA ranges (parts of entries stay) or a host range. */
struct cut {
	uint64_t start, end; /* [start, end), end 0 meaning 2^64 */
};

static bool overlaps(uint64_t s, uint64_t e, const struct cut *c)
{
	uint64_t ce = c->end ? c->end : UINT64_MAX;

	/* [s, e) and [c->start, ce) with e > s; ce == UINT64_MAX is 2^64 */
	return s < ce && c->start < e;
}

static int entry_cmp(const void *x, const void *y)
{
	const struct entry *a = x, *b = y;

	return a->iova < b->iova ? -1 : a->iova > b->iova;
}

/*
 * Apply @cuts (by IOVA, or by host address if @by_hva) to the table, then
 * add @add (an update) if not NULL. Builds the plan, commits it as one
 * transaction and installs the new table. @strict: refuse (-ENOSPC) when
 * the parts need more ids than there are; else drop the parts that get
 * none. Called with t->lock held.
 */
static int apply(struct gpc_vhost_iotlb *t, const struct cut *cuts,
		 unsigned int ncut, bool by_hva, const struct entry *add,
		 bool strict)
{
	unsigned int cap = t->n + 2 * ncut + 1, nw = 0, ngone = 0, need = 0;
	struct entry *w = calloc(cap, sizeof(*w));
	struct entry *gone = calloc(t->n + 1, sizeof(*gone));
	struct gpc_memslot_txn *tx = NULL;
	uint32_t *ids = NULL;
	unsigned int nids = 0, used_ids = 0;
	int err = -ENOMEM;

	if (!w || !gone)
		goto out;
	/* Every entry, cut by every cut. */
	for (unsigned int i = 0; i < t->n; i++) {
		const struct entry *e = &t->e[i];
		bool touched = false;
		unsigned int first = nw;

		w[nw++] = *e;
		for (unsigned int c = 0; c < ncut; c++) {
			for (unsigned int k = first; k < nw;) {
				struct entry p = w[k];
				uint64_t s = by_hva ? p.rhva : p.iova;
				uint64_t ce = cuts[c].end ? cuts[c].end :
							    UINT64_MAX;

				if (!overlaps(s, s + p.size, &cuts[c])) {
					k++;
					continue;
				}
				touched = true;
				w[k] = w[--nw]; /* remove p, keep its parts */
				if (by_hva)
					continue;
				if (p.iova < cuts[c].start) {
					struct entry l = p;

					l.size = cuts[c].start - p.iova;
					l.id = NEED_ID;
					l.alias = 0;
					w[nw++] = l;
				}
				if (cuts[c].end && p.iova + p.size > ce) {
					struct entry r = p;

					r.iova = ce;
					r.size = p.iova + p.size - ce;
					r.rhva = p.rhva + (ce - p.iova);
					r.id = NEED_ID;
					r.alias = 0;
					w[nw++] = r;
				}
			}
		}
		if (touched) {
			gone[ngone++] = *e;
			for (unsigned int k = first; k < nw; k++)
				w[k].id = NEED_ID;
		}
	}
	if (add)
		w[nw++] = *add; /* id NEED_ID */
	for (unsigned int k = 0; k < nw; k++)
		need += w[k].id == NEED_ID;
	if (!ngone && !add) {
		err = 0; /* nothing overlapped */
		goto out;
	}
	/* Ids: those of the deleted slots first, then the free ones. */
	ids = calloc(ngone + t->nfree + 1, sizeof(*ids));
	if (!ids)
		goto out;
	for (unsigned int i = 0; i < ngone; i++)
		ids[nids++] = gone[i].id;
	for (unsigned int i = t->nfree; i-- > 0;)
		ids[nids++] = t->free_ids[i];
	if (need > nids) {
		if (strict) {
			t->refused_full++;
			say(t, GPC_LOG_WARN,
			    "IOTLB full (%u entries): update refused", t->max);
			err = -ENOSPC;
			goto out;
		}
		/* Drop parts (never @add, which strict callers pass). */
		for (unsigned int k = nw; k-- > 0 && need > nids;)
			if (w[k].id == NEED_ID) {
				w[k] = w[--nw];
				need--;
				t->remainders_lost++;
			}
		say(t, GPC_LOG_WARN,
		    "IOTLB full: parts of invalidated entries dropped");
	}
	if (t->aops) {
		err = dead_room(t, ngone);
		if (err)
			goto out;
	}
	err = gpc_memslot_txn_begin(t->vm, &tx);
	if (err)
		goto out;
	for (unsigned int i = 0; i < ngone && !err; i++)
		err = gpc_memslot_txn_delete(tx, gone[i].id);
	for (unsigned int k = 0; k < nw && !err; k++) {
		struct gpc_memslot_desc d = { 0 };

		if (w[k].id != NEED_ID)
			continue;
		make_alias(t, &w[k]);
		w[k].id = ids[used_ids++];
		d.id = w[k].id;
		d.flags = w[k].ro ? GPC_MEMSLOT_READONLY : 0;
		d.gpa = w[k].iova;
		d.size = w[k].size;
		d.hva = w[k].hva;
		err = gpc_memslot_txn_add(tx, &d);
	}
	if (err)
		gpc_memslot_txn_abort(tx);
	else
		err = gpc_memslot_txn_commit(tx);
	if (err) {
		/* Not published: the new parts' aliases go at once. */
		for (unsigned int k = 0; k < nw; k++)
			if (w[k].fresh) {
				t->aops->unmap(t->actx, w[k].alias, w[k].size,
					       w[k].cookie);
				t->aliases--;
			}
		goto out;
	}
	for (unsigned int k = 0; k < nw; k++)
		w[k].fresh = false;
	/* Gone entries' aliases wait for gpc_vhost_iotlb_retire(). */
	for (unsigned int i = 0; i < ngone; i++)
		if (gone[i].alias)
			t->dead[t->ndead++] = gone[i];

	/* Committed: install the table and the ids left free. */
	memcpy(t->e, w, nw * sizeof(*w));
	t->n = nw;
	t->nfree = 0;
	for (unsigned int i = nids; i-- > used_ids;)
		t->free_ids[t->nfree++] = ids[i];
	/*
	 * rwlock-scheme cache sections are not SRCU sections: the commit's
	 * grace period did not wait for them. An invalidation of the old
	 * entries' host ranges does (and clears caches that map them).
	 */
	if (t->scheme == GPC_SCHEME_RWLOCK)
		for (unsigned int i = 0; i < ngone; i++) {
			uint64_t s = gone[i].hva, e = s + gone[i].size;

			if (!gpc_invalidate_range_start(t->vm, s, e, 0))
				gpc_invalidate_range_end(t->vm, s, e);
		}
out:
	free(ids);
	free(gone);
	free(w);
	if (!err) /* sorted again for the lookups (removals swapped) */
		qsort(t->e, t->n, sizeof(*t->e), entry_cmp);
	return err;
}

/* ---- writers ----------------------------------------------------------- */

static bool perm_ok(uint8_t perm)
{
	return perm == VHOST_ACCESS_RO || perm == VHOST_ACCESS_WO ||
	       perm == VHOST_ACCESS_RW;
}

/* Misses the new entry @e answers go: their queues retry. */
static void resolve_misses(struct gpc_vhost_iotlb *t, const struct entry *e)
{
	pthread_mutex_lock(&t->miss_lock);
	for (unsigned int i = 0; i < GPC_VHOST_IOTLB_MISS_MAX; i++) {
		struct miss *m = &t->misses[i];

		if (m->used && m->page >= e->iova &&
		    m->page - e->iova < e->size && !(m->perm & ~e->perm))
			m->used = false;
	}
	pthread_mutex_unlock(&t->miss_lock);
}

int gpc_vhost_iotlb_update(struct gpc_vhost_iotlb *t, struct gpc_vm *mem_vm,
			   uint64_t iova, uint64_t size, uint64_t uaddr,
			   uint8_t perm)
{
	struct gpc_memslot_desc slot;
	struct entry e = { 0 };
	struct cut c;
	uint64_t gpa;
	int err;

	if (!t || !mem_vm || !size || !perm_ok(perm) ||
	    gpc_vm_srcu(mem_vm) != t->domain)
		return -EINVAL;
	if ((iova | size | uaddr) & t->page_mask || iova > UINT64_MAX - size ||
	    uaddr > UINT64_MAX - size)
		return -EINVAL;
	if (gpc_srcu_read_held(t->domain))
		return -EDEADLK;
	gpc_srcu_read_lock(t->domain);
	err = gpc_translate_uaddr_gpa(mem_vm, uaddr, &gpa, &slot);
	gpc_srcu_read_unlock(t->domain);
	/* The whole range in that one region, whose mapping we use. */
	if (err || uaddr + size - 1 > slot.uaddr + slot.size - 1)
		return -EFAULT;
	e.iova = iova;
	e.size = size;
	e.rhva = slot.hva + (uaddr - slot.uaddr);
	e.hva = e.rhva;
	e.perm = perm;
	e.ro = perm == VHOST_ACCESS_RO || (slot.flags & GPC_MEMSLOT_READONLY);
	e.id = NEED_ID;
	c.start = iova;
	c.end = iova + size;

	pthread_mutex_lock(&t->lock);
	err = apply(t, &c, 1, false, &e, true);
	if (!err)
		t->updates++;
	pthread_mutex_unlock(&t->lock);
	if (!err) {
		resolve_misses(t, &e);
		atomic_fetch_add(&t->seq, 1);
	}
	return err;
}

static int invalidate(struct gpc_vhost_iotlb *t, const uint64_t *iova,
		      const uint64_t *size, unsigned int n, bool by_hva)
{
	struct cut *c;
	int err;

	if (!t || (n && (!iova || !size)))
		return -EINVAL;
	if (gpc_srcu_read_held(t->domain))
		return -EDEADLK;
	c = calloc(n + 1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	for (unsigned int i = 0; i < n; i++) {
		uint64_t end = iova[i] + size[i];

		/* Outward to pages (removing more is safe), clipped at 2^64. */
		c[i].start = iova[i] & ~t->page_mask;
		if (!size[i] || end < iova[i] ||
		    end > UINT64_MAX - t->page_mask)
			c[i].end = 0;
		else
			c[i].end = (end + t->page_mask) & ~t->page_mask;
	}
	pthread_mutex_lock(&t->lock);
	err = apply(t, c, n, by_hva, NULL, false);
	if (!err) {
		if (by_hva)
			t->drops++;
		else
			t->invalidations += n;
	}
	pthread_mutex_unlock(&t->lock);
	free(c);
	return err;
}

int gpc_vhost_iotlb_invalidate(struct gpc_vhost_iotlb *t, uint64_t iova,
			       uint64_t size)
{
	return invalidate(t, &iova, &size, 1, false);
}

int gpc_vhost_iotlb_invalidate_batch(struct gpc_vhost_iotlb *t,
				     const uint64_t *iova, const uint64_t *size,
				     unsigned int n)
{
	return invalidate(t, iova, size, n, false);
}

int gpc_vhost_iotlb_drop_region(struct gpc_vhost_iotlb *t, uint64_t hva,
				uint64_t size)
{
	if (!size)
		return 0;
	return invalidate(t, &hva, &size, 1, true);
}

/* ---- misses ------------------------------------------------------------ */

int gpc_vhost_iotlb_miss(struct gpc_vhost_iotlb *t, uint64_t iova, uint8_t perm,
			 struct vhost_iotlb_msg *msg)
{
	uint64_t page, now = now_ns();
	struct miss *slot = NULL, *oldest = NULL;

	if (!t || !msg || !perm_ok(perm))
		return -EINVAL;
	page = iova & ~t->page_mask;
	pthread_mutex_lock(&t->miss_lock);
	for (unsigned int i = 0; i < GPC_VHOST_IOTLB_MISS_MAX; i++) {
		struct miss *m = &t->misses[i];

		if (!m->used) {
			if (!slot)
				slot = m;
			continue;
		}
		if (m->page == page && !(perm & ~m->perm) &&
		    now - m->sent_ns <
			    GPC_VHOST_IOTLB_MISS_RESEND_MS * 1000000ull) {
			t->misses_coalesced++;
			pthread_mutex_unlock(&t->miss_lock);
			return -EALREADY;
		}
		if (m->page == page)
			slot = m; /* asks for more, or is stale: replace */
		if (!oldest || m->sent_ns < oldest->sent_ns)
			oldest = m;
	}
	if (!slot)
		slot = oldest;
	slot->used = true;
	slot->page = page;
	slot->perm = perm;
	slot->sent_ns = now;
	t->misses_sent++;
	pthread_mutex_unlock(&t->miss_lock);
	memset(msg, 0, sizeof(*msg));
	msg->iova = iova;
	msg->perm = perm;
	msg->type = VHOST_IOTLB_MISS;
	return 0;
}

void gpc_vhost_iotlb_miss_cancel(struct gpc_vhost_iotlb *t, uint64_t iova)
{
	if (!t)
		return;
	pthread_mutex_lock(&t->miss_lock);
	for (unsigned int i = 0; i < GPC_VHOST_IOTLB_MISS_MAX; i++)
		if (t->misses[i].page == (iova & ~t->page_mask))
			t->misses[i].used = false;
	pthread_mutex_unlock(&t->miss_lock);
}

bool gpc_vhost_iotlb_miss_pending(struct gpc_vhost_iotlb *t, uint64_t iova)
{
	bool found = false;

	if (!t)
		return false;
	pthread_mutex_lock(&t->miss_lock);
	for (unsigned int i = 0; i < GPC_VHOST_IOTLB_MISS_MAX; i++)
		if (t->misses[i].used &&
		    t->misses[i].page == (iova & ~t->page_mask))
			found = true;
	pthread_mutex_unlock(&t->miss_lock);
	return found;
}

uint64_t gpc_vhost_iotlb_seq(const struct gpc_vhost_iotlb *t)
{
	return t ? atomic_load(&((struct gpc_vhost_iotlb *)t)->seq) : 0;
}

uint8_t gpc_vhost_iotlb_perm(struct gpc_vhost_iotlb *t, uint64_t iova)
{
	uint8_t perm = 0;
	unsigned int lo = 0, hi;

	if (!t)
		return 0;
	pthread_mutex_lock(&t->lock);
	hi = t->n;
	while (lo < hi) { /* the last entry with iova <= @iova */
		unsigned int mid = lo + (hi - lo) / 2;

		if (t->e[mid].iova <= iova)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo && iova - t->e[lo - 1].iova < t->e[lo - 1].size)
		perm = t->e[lo - 1].perm;
	pthread_mutex_unlock(&t->lock);
	return perm;
}

void gpc_vhost_iotlb_get_stats(struct gpc_vhost_iotlb *t,
			       struct gpc_vhost_iotlb_stats *st)
{
	memset(st, 0, sizeof(*st));
	if (!t)
		return;
	pthread_mutex_lock(&t->lock);
	st->updates = t->updates;
	st->invalidations = t->invalidations;
	st->drops = t->drops;
	st->entries = t->n;
	st->refused_full = t->refused_full;
	st->remainders_lost = t->remainders_lost;
	st->aliases = t->aliases;
	st->aliases_retired = t->aliases_retired;
	st->unchecked = t->unchecked;
	pthread_mutex_unlock(&t->lock);
	pthread_mutex_lock(&t->miss_lock);
	st->misses_sent = t->misses_sent;
	st->misses_coalesced = t->misses_coalesced;
	pthread_mutex_unlock(&t->miss_lock);
}
