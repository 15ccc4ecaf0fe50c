// SPDX-License-Identifier: MIT
/*
 * hostmem_stage.c - the direct and alias host memory stages: faulting a
 * range in, page identities, and the alias windows.
 *
 * Page size per stage: the direct stage works on base pages of the hva
 * (khva = hva, so it needs nothing of the backing); the alias stage maps
 * windows of the backing file aligned to the file's page size (a
 * hugetlbfs page for a hugetlbfs file, else the base page).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include "hostmem_priv.h"

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

/* ---- faulting in ---------------------------------------------------------- */

/*
 * Whether MADV_POPULATE_* works here: 1 yes, 0 no, -1 not known yet. It
 * arrived in Linux 5.14; before that madvise() rejects it with EINVAL,
 * which is also what it says for some real errors, so we ask once, on a
 * page of our own. GPC_HOSTMEM_NO_POPULATE=1 forces the fallback (tests).
 */
static _Atomic int populate_ok = -1;

static bool populate_supported(void)
{
	int ok = atomic_load_explicit(&populate_ok, memory_order_relaxed);
	const char *env;
	void *p;

	if (ok >= 0)
		return ok;
	env = getenv("GPC_HOSTMEM_NO_POPULATE");
	ok = 0;
	if (!env || !*env || !strcmp(env, "0")) {
		p = mmap(NULL, gpci_hm_page_size(), PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p != MAP_FAILED) {
			ok = !madvise(p, gpci_hm_page_size(),
				      MADV_POPULATE_READ);
			munmap(p, gpci_hm_page_size());
		}
	}
	atomic_store_explicit(&populate_ok, ok, memory_order_relaxed);
	return ok;
}

/* Every extent of [start, end) known to @hm allows writing (or is not ours). */
static bool hm_writable(struct gpc_hostmem *hm, uint64_t start, uint64_t end)
{
	bool ok = true;
	uint64_t addr = start;

	pthread_mutex_lock(&hm->lock);
	while (ok && addr < end) {
		struct hm_region *r = gpci_hm_region_find(hm, addr);
		const struct hm_extent *e;

		if (!r) {
			addr += gpci_hm_page_size();
			continue;
		}
		e = &r->ext[gpci_hm_ext_index(r, addr)];
		ok = e->file && (e->prot & PROT_WRITE);
		addr = e->hva + e->len;
	}
	pthread_mutex_unlock(&hm->lock);
	return ok;
}

/*
 * Fallback for kernels without MADV_POPULATE_*: read one byte of every
 * page through process_vm_readv() on ourselves, which faults the page in
 * like an access would but returns EFAULT instead of raising SIGSEGV.
 * Writability can only be judged from what @hm recorded (protect()); for
 * memory it does not know, a write fault is not detected here.
 */
static int probe_pages(struct gpc_hostmem *hm, uint64_t start, uint64_t end,
		       bool write)
{
	pid_t self = getpid();
	uint64_t addr;
	char byte;

	for (addr = start; addr < end; addr += gpci_hm_page_size()) {
		struct iovec local = { &byte, 1 };
		struct iovec remote = { (void *)(uintptr_t)addr, 1 };

		if (process_vm_readv(self, &local, 1, &remote, 1, 0) != 1)
			return -EFAULT;
	}
	if (write && hm && !hm_writable(hm, start, end))
		return -EFAULT;
	return 0;
}

/* Fault in the page-aligned [start, end), for writing if @write. */
static int populate(struct gpc_hostmem *hm, uint64_t start, uint64_t end,
		    bool write)
{
	int advice = write ? MADV_POPULATE_WRITE : MADV_POPULATE_READ;

	if (!populate_supported())
		return probe_pages(hm, start, end, write);
	while (madvise((void *)(uintptr_t)start, end - start, advice)) {
		/* ENOMEM: a hole; EFAULT: no access as asked; EINVAL: a
		 * VM_PFNMAP/VM_IO range. All are "cannot fault it in". */
		if (errno != EINTR)
			return -EFAULT;
	}
	return 0;
}

/* ---- page identities ------------------------------------------------------ */

/*
 * /proc/self/pagemap, opened once: -2 not tried, -1 unavailable. A fork
 * child would read its parent's page tables through an inherited
 * descriptor, so the child forgets it (see pagemap_atfork).
 */
static _Atomic int pagemap_fd = -2;
static pthread_once_t pagemap_once = PTHREAD_ONCE_INIT;

static void pagemap_child(void)
{
	int fd = atomic_exchange(&pagemap_fd, -2);

	if (fd >= 0)
		close(fd);
}

static void pagemap_atfork(void)
{
	pthread_atfork(NULL, NULL, pagemap_child);
}

static int pagemap_get(void)
{
	int fd = atomic_load(&pagemap_fd), want = -2;

	if (fd != -2)
		return fd;
	pthread_once(&pagemap_once, pagemap_atfork);
	fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		fd = -1;
	if (!atomic_compare_exchange_strong(&pagemap_fd, &want, fd)) {
		if (fd >= 0)
			close(fd);
		fd = want;
	}
	return fd;
}

/* The PFN of the present page at @hva, or 0 when not permitted/present. */
static uint64_t pagemap_pfn(uint64_t hva)
{
	int fd = pagemap_get();
	uint64_t ent;

	if (fd < 0)
		return 0;
	if (pread(fd, &ent, sizeof(ent),
		  (off_t)((hva >> gpci_hm_page_shift()) * sizeof(ent))) !=
	    sizeof(ent))
		return 0;
	if (!(ent & (1ull << 63)))
		return 0;
	return ent & ((1ull << 55) - 1);
}

/* A stable identity for the page at @hva when pagemap shows no PFN. */
static uint64_t token_of(struct gpc_hostmem *hm, uint64_t hva)
{
	uint64_t tok = GPCI_TOKEN_HVA | (hva >> gpci_hm_page_shift());
	struct hm_file *f;
	uint64_t off;

	if (!hm)
		return tok;
	pthread_mutex_lock(&hm->lock);
	if (!gpci_hm_lookup(hm, hva, hva + 1, &f, &off))
		tok = gpci_hm_file_token(f, off);
	pthread_mutex_unlock(&hm->lock);
	return tok;
}

/* ---- the direct stage ------------------------------------------------------ */

static int direct_translate(void *ctx, uint64_t hva, size_t len, bool write,
			    uint64_t *pfn)
{
	uint64_t start, end, p;
	int err;

	if (!pfn)
		return -EINVAL;
	err = gpci_hm_page_range(hva, len, &start, &end);
	if (!err)
		err = populate(ctx, start, end, write);
	if (err)
		return err;
	/* Same virtual range, so always "contiguous": nothing to check. */
	p = pagemap_pfn(start);
	*pfn = p ? p : token_of(ctx, start);
	return 0;
}

static int direct_map(void *ctx, uint64_t hva, size_t len, uint64_t pfn,
		      bool write, void **khva)
{
	(void)ctx, (void)len, (void)pfn, (void)write;
	if (!khva)
		return -EINVAL;
	*khva = (void *)(uintptr_t)hva;
	return 0;
}

static void direct_unmap(void *ctx, void *khva, size_t len)
{
	(void)ctx, (void)khva, (void)len;
}

const struct gpc_hostmem_ops gpc_hostmem_direct_ops = {
	.name = "direct",
	.translate = direct_translate,
	.map = direct_map,
	.unmap = direct_unmap,
};

/* ---- the alias stage -------------------------------------------------------- */

static int alias_translate(void *ctx, uint64_t hva, size_t len, bool write,
			   uint64_t *pfn)
{
	struct gpc_hostmem *hm = ctx;
	uint64_t start, end, off;
	struct hm_file *f;
	int err;

	if (!hm || !pfn)
		return -EINVAL;
	err = gpci_hm_page_range(hva, len, &start, &end);
	if (err)
		return err;
	pthread_mutex_lock(&hm->lock);
	err = gpci_hm_lookup(hm, start, end, &f, &off);
	if (!err)
		*pfn = gpci_hm_file_token(f, off);
	pthread_mutex_unlock(&hm->lock);
	if (err)
		return err;
	/* The accessor uses the alias, but the hva must still be usable
	 * as asked: a PROT_NONE or read-only range fails like a fault. */
	return populate(hm, start, end, write);
}

/*
 * Map what backs the range now. If it changed since translate() saw @pfn,
 * an invalidation has started since, and the caller's retry protocol
 * throws this mapping away; the lock only keeps the memfd open meanwhile.
 */
/*
 * Remember a window over huge pages, whose bounds alias_unmap() cannot
 * compute from (khva, len) alone. Under hm->lock.
 */
static int window_add(struct gpc_hostmem *hm, uint64_t base, uint64_t len)
{
	size_t n = atomic_load_explicit(&hm->nwin, memory_order_relaxed);
	int err = gpci_hm_array_reserve((void **)&hm->win, &hm->wcap, n + 1,
					sizeof(*hm->win));

	if (err)
		return err;
	hm->win[n] = (struct hm_window){ base, len };
	atomic_store_explicit(&hm->nwin, n + 1, memory_order_relaxed);
	return 0;
}

/* Forget the window holding @addr; its bounds in *base, *len. */
static bool window_take(struct gpc_hostmem *hm, uint64_t addr, uint64_t *base,
			uint64_t *len)
{
	bool found = false;
	size_t i, n;

	pthread_mutex_lock(&hm->lock);
	n = atomic_load_explicit(&hm->nwin, memory_order_relaxed);
	for (i = 0; i < n; i++) {
		if (addr - hm->win[i].base < hm->win[i].len) {
			*base = hm->win[i].base;
			*len = hm->win[i].len;
			hm->win[i] = hm->win[n - 1];
			atomic_store_explicit(&hm->nwin, n - 1,
					      memory_order_relaxed);
			found = true;
			break;
		}
	}
	pthread_mutex_unlock(&hm->lock);
	return found;
}

void gpci_hm_windows_fini(struct gpc_hostmem *hm)
{
	free(hm->win);
	hm->win = NULL;
	atomic_store_explicit(&hm->nwin, 0, memory_order_relaxed);
}

/*
 * Map the window of @f that holds file bytes [off, off + len), aligned to
 * the file's page size (mmap() of hugetlbfs wants offset and length in
 * whole huge pages). *p receives the start of the bytes at @off. Under
 * hm->lock.
 */
static int window_map(struct gpc_hostmem *hm, const struct hm_file *f,
		      uint64_t off, uint64_t len, int prot, char **p)
{
	uint64_t woff, wlen;
	void *w;
	int err = gpci_hostmem_window(off, len, f->pgsize, &woff, &wlen);

	if (err)
		return -EFAULT;
	w = mmap(NULL, wlen, prot, MAP_SHARED, f->fd, (off_t)woff);
	if (w == MAP_FAILED)
		return errno == ENOMEM ? -ENOMEM : -EFAULT;
	if (f->pgsize > gpci_hm_page_size()) {
		err = window_add(hm, (uintptr_t)w, wlen);
		if (err) {
			munmap(w, wlen);
			return err;
		}
	}
	*p = (char *)w + (off - woff);
	return 0;
}

/*
 * Map what backs the range now. If it changed since translate() saw @pfn,
 * an invalidation has started since, and the caller's retry protocol
 * throws this mapping away; the lock only keeps the memfd open meanwhile.
 */
static int alias_map(void *ctx, uint64_t hva, size_t len, uint64_t pfn,
		     bool write, void **khva)
{
	int prot = PROT_READ | (write ? PROT_WRITE : 0);
	struct gpc_hostmem *hm = ctx;
	uint64_t start, end, off;
	struct hm_file *f;
	char *p = NULL;
	int err;

	(void)pfn;
	if (!hm || !khva)
		return -EINVAL;
	err = gpci_hm_page_range(hva, len, &start, &end);
	if (err)
		return err;
	pthread_mutex_lock(&hm->lock);
	err = gpci_hm_lookup(hm, start, end, &f, &off);
	if (!err)
		err = window_map(hm, f, off, end - start, prot, &p);
	pthread_mutex_unlock(&hm->lock);
	if (err)
		return err == -ENOMEM ? err : -EFAULT;
	*khva = p + (hva - start);
	return 0;
}

/* Base-page windows are the page range of khva; huge ones are recorded. */
static void alias_unmap(void *ctx, void *khva, size_t len)
{
	struct gpc_hostmem *hm = ctx;
	uint64_t start, end, base, wlen;

	if (!khva)
		return;
	if (hm && atomic_load_explicit(&hm->nwin, memory_order_relaxed) &&
	    window_take(hm, (uintptr_t)khva, &base, &wlen)) {
		munmap((void *)(uintptr_t)base, wlen);
		return;
	}
	if (!gpci_hm_page_range((uintptr_t)khva, len, &start, &end))
		munmap((void *)(uintptr_t)start, end - start);
}

bool gpci_hostmem_ops_ok(const struct gpc_hostmem_ops *ops)
{
	return ops && ops->translate && ops->map;
}

const struct gpc_hostmem_ops gpc_hostmem_alias_ops = {
	.name = "alias",
	.translate = alias_translate,
	.map = alias_map,
	.unmap = alias_unmap,
};
