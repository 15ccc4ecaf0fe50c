// SPDX-License-Identifier: MIT
/*
 * src/vhost/dirty_log.c - the vhost-user dirty log on libgpc's; see
 * dirty_log.h for the protocol, the io_uring problem and the replacement
 * argument.
 */
#include "dirty_log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gpc/dirty.h>
#include <gpc/log.h>
#include <gpc/memslot.h>
#include <gpc/srcu.h>
#include <gpc/translate.h>
#include <gpc/vm.h>

/* One mapped log; replaced as a whole, freed after a grace period. */
struct log_map {
	void *map;
	size_t map_len;
	uint8_t *base;
	uint64_t size;
};

struct gpc_vhost_dirty_log {
	struct gpc_srcu *domain;
	gpc_vhost_dirty_log_fn *log;
	void *log_ctx;
	/* Serialises set_base, harvest, start, stop (control thread(s)). */
	pthread_mutex_t lock;
	_Atomic(struct log_map *) cur; /* read by writers in a section */
	_Atomic uint32_t slot_flags;
	/*
	 * SET_LOG_FD's eventfd (-1: none), read by writers in a section
	 * and closed only after a grace period, like a replaced log; and
	 * whether bits were set since it was last signalled.
	 */
	_Atomic int notify_fd;
	_Atomic bool pending;
	_Atomic uint64_t bases, writes, out_of_range, no_log, harvested,
		unsealed, notifies;
};

static void count(_Atomic uint64_t *c, uint64_t n)
{
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static void say(struct gpc_vhost_dirty_log *l, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void say(struct gpc_vhost_dirty_log *l, int level, const char *fmt, ...)
{
	char buf[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (l->log)
		l->log(l->log_ctx, level, buf);
	else
		fprintf(stderr, "gpc-vhost: dirty log: %s\n", buf);
}

static void map_free(struct log_map *m)
{
	if (!m)
		return;
	munmap(m->map, m->map_len);
	free(m);
}

int gpc_vhost_dirty_log_create(struct gpc_srcu *domain,
			       gpc_vhost_dirty_log_fn *log, void *log_ctx,
			       struct gpc_vhost_dirty_log **out)
{
	struct gpc_vhost_dirty_log *l;

	if (!domain || !out)
		return -EINVAL;
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->domain = domain;
	l->log = log;
	l->log_ctx = log_ctx;
	atomic_init(&l->notify_fd, -1);
	pthread_mutex_init(&l->lock, NULL);
	*out = l;
	return 0;
}

void gpc_vhost_dirty_log_destroy(struct gpc_vhost_dirty_log *l)
{
	struct log_map *m;
	int fd;

	if (!l)
		return;
	m = atomic_exchange(&l->cur, NULL);
	fd = atomic_exchange(&l->notify_fd, -1);
	if (m || fd >= 0)
		gpc_srcu_synchronize(l->domain);
	map_free(m);
	if (fd >= 0)
		close(fd);
	pthread_mutex_destroy(&l->lock);
	free(l);
}

int gpc_vhost_dirty_log_set_base(struct gpc_vhost_dirty_log *l, int fd,
				 const struct gpc_vhost_log *msg)
{
	uint64_t ps = (uint64_t)sysconf(_SC_PAGESIZE), delta;
	struct log_map *m, *old;
	struct stat stb;
	int seals, err;
	void *p;

	if (!l || fd < 0 || !msg)
		return -EINVAL;
	if (msg->mmap_size == 0 || msg->mmap_size > GPC_VHOST_LOG_MAX ||
	    msg->mmap_offset > (uint64_t)INT64_MAX - msg->mmap_size)
		return -EINVAL;
	if (gpc_srcu_read_held(l->domain))
		return -EDEADLK;
	if (fstat(fd, &stb))
		return -errno;
	if (stb.st_size < 0 ||
	    (uint64_t)stb.st_size < msg->mmap_offset + msg->mmap_size)
		return -EINVAL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	delta = msg->mmap_offset % ps;
	p = mmap(NULL, (size_t)(msg->mmap_size + delta), PROT_READ | PROT_WRITE,
		 MAP_SHARED, fd, (off_t)(msg->mmap_offset - delta));
	if (p == MAP_FAILED) {
		err = -errno;
		free(m);
		say(l, GPC_LOG_ERR, "mmap of a %llu-byte log failed (%d)",
		    (unsigned long long)msg->mmap_size, err);
		return err;
	}
	m->map = p;
	m->map_len = (size_t)(msg->mmap_size + delta);
	m->base = (uint8_t *)p + delta;
	m->size = msg->mmap_size;
	seals = fcntl(fd, F_GET_SEALS);
	if (seals < 0 || !(seals & F_SEAL_SHRINK)) {
		count(&l->unsealed, 1);
		say(l, GPC_LOG_WARN,
		    "log fd is not sealed against shrinking: the front-end "
		    "could make our writes fault");
	}

	pthread_mutex_lock(&l->lock);
	old = atomic_exchange_explicit(&l->cur, m, memory_order_acq_rel);
	if (old) {
		/* Writers that loaded @old are in sections begun before. */
		gpc_srcu_synchronize(l->domain);
		map_free(old);
	}
	pthread_mutex_unlock(&l->lock);
	count(&l->bases, 1);
	return 0;
}

/*
 * Bits were set: the next notify signals. Released after the bits, and
 * stored even when already true: a notifier's exchange that read an
 * older true may have run before our bits, and only our store (read by
 * the next exchange, ours at the latest) orders a signal after them.
 */
static void set_pending(struct gpc_vhost_dirty_log *l)
{
	atomic_store_explicit(&l->pending, true, memory_order_release);
}

/*
 * OR the bits of pages [first, last] into @m. Pages beyond the log are
 * counted. One atomic OR per byte (8 pages), release: the writes the bits
 * report come first.
 */
static void mark_pages(struct gpc_vhost_dirty_log *l, struct log_map *m,
		       uint64_t first, uint64_t last)
{
	uint64_t limit = m->size * 8; /* pages the log covers */

	if (last >= limit) {
		count(&l->out_of_range,
		      last - (first > limit ? first : limit) + 1);
		if (first >= limit)
			return;
		last = limit - 1;
	}
	while (first <= last) {
		uint64_t byte = first / 8, end = byte * 8 + 7;
		unsigned int lo = first % 8, hi;
		uint8_t mask;

		if (end > last)
			end = last;
		hi = (unsigned int)(end % 8);
		mask = (uint8_t)((0xffu >> (7 - hi)) & (0xffu << lo));
		__atomic_fetch_or(&m->base[byte], mask, __ATOMIC_RELEASE);
		first = end + 1;
	}
	set_pending(l);
}

void gpc_vhost_dirty_log_write(struct gpc_vhost_dirty_log *l, uint64_t gpa,
			       uint64_t len)
{
	struct log_map *m;
	uint64_t last;

	if (!l || !len)
		return;
	count(&l->writes, 1);
	last = gpa + len - 1 < gpa ? UINT64_MAX : gpa + len - 1;
	gpc_srcu_read_lock(l->domain);
	m = atomic_load_explicit(&l->cur, memory_order_acquire);
	if (m)
		mark_pages(l, m, gpa >> GPC_VHOST_LOG_PAGE_SHIFT,
			   last >> GPC_VHOST_LOG_PAGE_SHIFT);
	else
		count(&l->no_log, 1);
	gpc_srcu_read_unlock(l->domain);
}

int gpc_vhost_dirty_log_write_hva(struct gpc_vhost_dirty_log *l,
				  struct gpc_vm *mem_vm, const void *hva,
				  uint64_t len)
{
	const uint8_t *p = hva;

	if (!l || !mem_vm || !hva)
		return -EINVAL;
	while (len) {
		struct gpc_memslot_desc slot;
		uint64_t gpa, chunk;
		int err = gpc_translate_hva_gpa(mem_vm, p, &gpa, &slot);

		if (err)
			return err;
		chunk = slot.hva + slot.size - (uint64_t)(uintptr_t)p;
		if (chunk > len)
			chunk = len;
		gpc_vhost_dirty_log_write(l, gpa, chunk);
		p += chunk;
		len -= chunk;
	}
	return 0;
}

/* One transaction setting (@on) or clearing LOG_DIRTY on @ids. */
static int set_logging(struct gpc_vm *vm, const uint32_t *ids, unsigned int n,
		       bool on)
{
	struct gpc_memslot_txn *tx;
	int err = gpc_memslot_txn_begin(vm, &tx);

	if (err)
		return err;
	for (unsigned int i = 0; i < n && !err; i++) {
		struct gpc_memslot_info info;
		uint32_t f;

		if (gpc_memslot_get(vm, ids[i], &info))
			continue; /* gone: nothing to log */
		f = on ? info.flags | GPC_MEMSLOT_LOG_DIRTY :
			 info.flags & ~GPC_MEMSLOT_LOG_DIRTY;
		err = gpc_memslot_txn_set_flags(tx, ids[i], f);
	}
	if (err) {
		gpc_memslot_txn_abort(tx);
		return err;
	}
	return gpc_memslot_txn_commit(tx);
}

int gpc_vhost_dirty_log_start(struct gpc_vhost_dirty_log *l,
			      struct gpc_vm *mem_vm, const uint32_t *ids,
			      unsigned int n)
{
	int err;

	if (!l || !mem_vm || (!ids && n))
		return -EINVAL;
	pthread_mutex_lock(&l->lock);
	err = set_logging(mem_vm, ids, n, true);
	if (!err)
		atomic_store(&l->slot_flags, GPC_MEMSLOT_LOG_DIRTY);
	pthread_mutex_unlock(&l->lock);
	return err;
}

/*
 * A slot reaching beyond the shared log: take its bits through a local
 * bitmap and report those that fit (gpc_dirty_log_harvest() refuses the
 * whole slot with -ENOSPC, leaving its bits).
 */
static int harvest_clipped(struct gpc_vhost_dirty_log *l, struct log_map *m,
			   struct gpc_vm *vm, uint32_t id)
{
	struct gpc_memslot_info info;
	uint64_t *bm, words, first;
	int got, pages = 0;

	if (gpc_memslot_get(vm, id, &info))
		return 0;
	words = GPC_DIRTY_LOG_WORDS(info.size);
	bm = calloc(words, sizeof(*bm));
	if (!bm)
		return -ENOMEM;
	got = gpc_dirty_log_get_and_clear(vm, id, bm, words);
	if (got < 0) {
		free(bm);
		return got == -ENOENT || got == -ENODATA ? 0 : got;
	}
	first = info.gpa >> GPC_VHOST_LOG_PAGE_SHIFT;
	for (uint64_t w = 0; w < words; w++)
		for (uint64_t b = bm[w]; b; b &= b - 1) {
			uint64_t pg =
				first + w * 64 + (uint64_t)__builtin_ctzll(b);

			mark_pages(l, m, pg, pg);
			pages++;
		}
	free(bm);
	return pages;
}

int gpc_vhost_dirty_log_harvest(struct gpc_vhost_dirty_log *l,
				struct gpc_vm *mem_vm, const uint32_t *ids,
				unsigned int n)
{
	struct log_map *m;
	int64_t total = 0;
	int err = 0;

	if (!l || !mem_vm || (!ids && n))
		return -EINVAL;
	if (gpc_srcu_read_held(l->domain))
		return -EDEADLK;
	pthread_mutex_lock(&l->lock);
	m = atomic_load(&l->cur);
	if (!m) {
		pthread_mutex_unlock(&l->lock);
		return -ENXIO;
	}
	for (unsigned int i = 0; i < n; i++) {
		int got = gpc_dirty_log_harvest(mem_vm, ids[i], m->base,
						(size_t)m->size);

		if (got == -ENOSPC) {
			say(l, GPC_LOG_WARN,
			    "slot %u reaches beyond the %llu-byte log", ids[i],
			    (unsigned long long)m->size);
			got = harvest_clipped(l, m, mem_vm, ids[i]);
		}
		if (got == -ENOENT || got == -ENODATA)
			continue;
		if (got < 0) {
			err = got;
			break;
		}
		total += got;
	}
	pthread_mutex_unlock(&l->lock);
	count(&l->harvested, (uint64_t)total);
	if (total)
		set_pending(l);
	if (err)
		return err;
	return total > INT_MAX ? INT_MAX : (int)total;
}

int gpc_vhost_dirty_log_stop(struct gpc_vhost_dirty_log *l,
			     struct gpc_vm *mem_vm, const uint32_t *ids,
			     unsigned int n)
{
	int err;

	if (!l || !mem_vm || (!ids && n))
		return -EINVAL;
	err = gpc_vhost_dirty_log_harvest(l, mem_vm, ids, n);
	if (err < 0 && err != -ENXIO)
		return err;
	pthread_mutex_lock(&l->lock);
	atomic_store(&l->slot_flags, 0);
	err = set_logging(mem_vm, ids, n, false);
	pthread_mutex_unlock(&l->lock);
	return err;
}

int gpc_vhost_dirty_log_set_notify_fd(struct gpc_vhost_dirty_log *l, int fd)
{
	int old;

	if (!l || fd < -1)
		return -EINVAL;
	if (gpc_srcu_read_held(l->domain))
		return -EDEADLK;
	pthread_mutex_lock(&l->lock);
	old = atomic_exchange(&l->notify_fd, fd);
	if (old >= 0) {
		/* A notifier that loaded @old is in a section begun before. */
		gpc_srcu_synchronize(l->domain);
		close(old);
	}
	pthread_mutex_unlock(&l->lock);
	return 0;
}

bool gpc_vhost_dirty_log_notify(struct gpc_vhost_dirty_log *l)
{
	uint64_t one = 1;
	bool sent = false;
	int fd;

	if (!l || !atomic_load_explicit(&l->pending, memory_order_relaxed))
		return false;
	/*
	 * Acquire: the bits set_pending() released come before our write(),
	 * which the front-end's read of the eventfd, then of the log, sees.
	 */
	if (!atomic_exchange_explicit(&l->pending, false, memory_order_acq_rel))
		return false;
	gpc_srcu_read_lock(l->domain);
	fd = atomic_load_explicit(&l->notify_fd, memory_order_acquire);
	/* O_NONBLOCK (set_notify_fd's caller): a full counter is a signal. */
	if (fd >= 0 && write(fd, &one, sizeof(one)) == sizeof(one)) {
		count(&l->notifies, 1);
		sent = true;
	}
	gpc_srcu_read_unlock(l->domain);
	return sent;
}

uint32_t gpc_vhost_dirty_log_slot_flags(const struct gpc_vhost_dirty_log *l)
{
	struct gpc_vhost_dirty_log *m = (struct gpc_vhost_dirty_log *)l;

	return m ? atomic_load(&m->slot_flags) : 0;
}

void gpc_vhost_dirty_log_get_stats(const struct gpc_vhost_dirty_log *l,
				   struct gpc_vhost_dirty_log_stats *st)
{
	struct gpc_vhost_dirty_log *m = (struct gpc_vhost_dirty_log *)l;

	memset(st, 0, sizeof(*st));
	if (!m)
		return;
	st->bases = atomic_load(&m->bases);
	st->writes = atomic_load(&m->writes);
	st->out_of_range = atomic_load(&m->out_of_range);
	st->no_log = atomic_load(&m->no_log);
	st->harvested = atomic_load(&m->harvested);
	st->unsealed = atomic_load(&m->unsealed);
	st->notifies = atomic_load(&m->notifies);
}
