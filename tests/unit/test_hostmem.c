// SPDX-License-Identifier: MIT
/*
 * tests/unit/test_hostmem.c - guest RAM, the direct and alias stages, the change
 * helpers and the test stage (gpc/hostmem.h, gpc/testmem.h).
 *
 * What must hold: translate faults a range in or says -EFAULT for holes and
 * inaccessible memory (never a SIGSEGV); the alias stage refuses ranges that
 * are not contiguous in the host and its mapping shares pages with the hva;
 * page identities stay put while the page does and change when remap or
 * migrate put a new page there; each change helper does what it says and
 * keeps the old pages reachable as retired copies; nothing leaks (memfds,
 * mappings); every entry point rejects bad arguments.
 *
 * Run with no argument: the single-threaded checks. With --threads: stages
 * used from several threads while another one changes the memory (for the
 * TSan build). GPC_HOSTMEM_NO_POPULATE=1 makes the library fault pages in
 * without MADV_POPULATE_*, as on kernels before 5.14.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/uio.h>

#include <cmocka.h>

#include <gpc/hostmem.h>
#include <gpc/invalidate.h>
#include "gpc_testing.h"
#include <gpc/vm.h>

#include "test_common.h"

#define NPAGES 8

static size_t ps;

struct fx {
	struct gpc_hostmem *hm;
	char *mem; /* NPAGES pages */
};

static uint64_t A(const void *p)
{
	return (uintptr_t)p;
}

/* Probes that report a fault instead of taking it. */
static bool readable(const void *p)
{
	char b;
	struct iovec l = { &b, 1 }, r = { (void *)p, 1 };

	return process_vm_readv(getpid(), &l, 1, &r, 1, 0) == 1;
}

static bool writable(void *p)
{
	char b;
	struct iovec l = { &b, 1 }, r = { p, 1 };

	if (process_vm_readv(getpid(), &l, 1, &r, 1, 0) != 1)
		return false;
	return process_vm_writev(getpid(), &l, 1, &r, 1, 0) == 1;
}

static bool no_populate(void)
{
	const char *e = getenv("GPC_HOSTMEM_NO_POPULATE");

	return e && *e && strcmp(e, "0");
}

/* Mappings of our memfds in this process: the leak check. */
static int memfd_maps(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	int n = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strstr(line, "memfd:gpc-guest-ram"))
			n++;
	fclose(f);
	return n;
}

static int open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	if (!d)
		return -1;
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

static void fill(char *p, size_t len, char c)
{
	memset(p, c, len);
}

static bool all_equal(const char *p, size_t len, char c)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i] != c)
			return false;
	return true;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	void *p;

	if (!f || gpc_hostmem_create(&f->hm))
		return -1;
	if (gpc_hostmem_alloc(f->hm, NPAGES * ps, &p))
		return -1;
	f->mem = p;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	assert_int_equal(gpc_hostmem_destroy(f->hm), 0);
	free(f);
	return 0;
}

/* ---- manager ------------------------------------------------------------ */

static void test_create_destroy_args(void **state)
{
	(void)state;
	assert_int_equal(gpc_hostmem_create(NULL), -EINVAL);
	assert_int_equal(gpc_hostmem_destroy(NULL), -EINVAL);
}

static void test_alloc_args(void **state)
{
	struct fx *f = *state;
	void *p = NULL;

	assert_int_equal(gpc_hostmem_alloc(NULL, ps, &p), -EINVAL);
	assert_int_equal(gpc_hostmem_alloc(f->hm, ps, NULL), -EINVAL);
	assert_int_equal(gpc_hostmem_alloc(f->hm, 0, &p), -EINVAL);
	assert_int_equal(gpc_hostmem_alloc(f->hm, ps + 1, &p), -EINVAL);
	assert_int_equal(gpc_hostmem_alloc(f->hm, ps / 2, &p), -EINVAL);
	assert_null(p);
}

static void test_alloc_zeroed_shared(void **state)
{
	struct fx *f = *state;
	uint64_t off;
	char buf[4];
	int fd, i;

	assert_true(all_equal(f->mem, NPAGES * ps, 0));
	assert_int_equal(A(f->mem) % ps, 0);
	for (i = 0; i < NPAGES; i++) {
		assert_int_equal(gpc_hostmem_backing(f->hm, A(f->mem + i * ps),
						     &fd, &off),
				 0);
		assert_true(fd >= 0);
		assert_int_equal(off, (uint64_t)i * ps);
	}
	/* The memfd is what the hva maps: writes show through it. */
	memcpy(f->mem + 3 * ps + 5, "abc", 4);
	assert_int_equal(gpc_hostmem_backing(f->hm, A(f->mem + 3 * ps + 5), &fd,
					     &off),
			 0);
	assert_int_equal(off, 3 * ps + 5);
	assert_int_equal(pread(fd, buf, 4, (off_t)off), 4);
	assert_string_equal(buf, "abc");
}

static void test_backing_args(void **state)
{
	struct fx *f = *state;
	uint64_t off;
	int fd, local = 0;

	assert_int_equal(gpc_hostmem_backing(NULL, A(f->mem), &fd, &off),
			 -EINVAL);
	assert_int_equal(gpc_hostmem_backing(f->hm, A(f->mem), NULL, &off),
			 -EINVAL);
	assert_int_equal(gpc_hostmem_backing(f->hm, A(f->mem), &fd, NULL),
			 -EINVAL);
	assert_int_equal(gpc_hostmem_backing(f->hm, A(f->mem) - 1, &fd, &off),
			 -EFAULT);
	assert_int_equal(gpc_hostmem_backing(f->hm, A(f->mem + NPAGES * ps),
					     &fd, &off),
			 -EFAULT);
	assert_int_equal(gpc_hostmem_backing(f->hm, A(&local), &fd, &off),
			 -EFAULT);
	assert_int_equal(gpc_hostmem_backing(f->hm, 0, &fd, &off), -EFAULT);
}

static void test_free_region(void **state)
{
	struct fx *f = *state;
	uint64_t off;
	void *p, *q;
	int fd;

	assert_int_equal(gpc_hostmem_alloc(f->hm, 2 * ps, &p), 0);
	assert_int_equal(gpc_hostmem_alloc(f->hm, 3 * ps, &q), 0);
	assert_int_equal(gpc_hostmem_free(NULL, p, 2 * ps), -EINVAL);
	assert_int_equal(gpc_hostmem_free(f->hm, NULL, 2 * ps), -EINVAL);
	assert_int_equal(gpc_hostmem_free(f->hm, p, ps), -EINVAL);
	assert_int_equal(gpc_hostmem_free(f->hm, p, 3 * ps), -EINVAL);
	assert_int_equal(gpc_hostmem_free(f->hm, (char *)p + ps, ps), -EINVAL);
	assert_int_equal(gpc_hostmem_free(f->hm, &fd, ps), -EINVAL);
	assert_int_equal(gpc_hostmem_free(f->hm, p, 2 * ps), 0);
	assert_int_equal(gpc_hostmem_backing(f->hm, A(p), &fd, &off), -EFAULT);
	assert_int_equal(gpc_hostmem_free(f->hm, p, 2 * ps), -EINVAL);
	/* The other regions are untouched. */
	assert_int_equal(gpc_hostmem_backing(f->hm, A(q), &fd, &off), 0);
	assert_int_equal(gpc_hostmem_backing(f->hm, A(f->mem), &fd, &off), 0);
	assert_int_equal(gpc_hostmem_free(f->hm, q, 3 * ps), 0);
}

/* Every memfd closed and every mapping gone after destroy. */
static void test_no_leaks(void **state)
{
	int fds = open_fds(), maps = memfd_maps(), i;
	struct gpc_hostmem *hm;
	uint64_t pfn;
	void *p, *k;
	char *m;

	(void)state;
	assert_true(fds > 0);
	assert_int_equal(gpc_hostmem_create(&hm), 0);
	assert_int_equal(gpc_hostmem_alloc(hm, 16 * ps, &p), 0);
	assert_int_equal(gpc_hostmem_alloc(hm, 4 * ps, &k), 0);
	assert_int_equal(gpc_hostmem_free(hm, k, 4 * ps), 0);
	m = p;
	for (i = 0; i < 16; i++) {
		uint64_t h = A(m + (size_t)(i * 5 % 15) * ps);

		assert_int_equal(gpc_hostmem_remap(NULL, hm, h, ps), 0);
		assert_int_equal(gpc_hostmem_migrate(NULL, hm, h, 2 * ps), 0);
		assert_int_equal(
			gpc_hostmem_protect(NULL, hm, h, ps, PROT_READ), 0);
		assert_int_equal(gpc_hostmem_discard(NULL, hm, h, ps), 0);
	}
	assert_int_equal(gpc_hostmem_unmap(NULL, hm, A(m + ps), 2 * ps), 0);
	assert_int_equal(
		gpc_hostmem_alias_ops.translate(hm, A(m), ps, false, &pfn), 0);
	assert_int_equal(
		gpc_hostmem_alias_ops.map(hm, A(m), ps, pfn, false, &k), 0);
	gpc_hostmem_alias_ops.unmap(hm, k, ps);
	assert_true(memfd_maps() > maps);
	assert_int_equal(gpc_hostmem_destroy(hm), 0);
	assert_int_equal(open_fds(), fds);
	assert_int_equal(memfd_maps(), maps);
}

/* ---- direct stage ---------------------------------------------------------- */

static void test_direct_translate_map(void **state)
{
	const struct gpc_hostmem_ops *ops = &gpc_hostmem_direct_ops;
	struct fx *f = *state;
	uint64_t pfn = 0, pfn2 = 0, pfn3 = 0;
	void *k = NULL;

	assert_string_equal(ops->name, "direct");
	assert_int_equal(ops->translate(f->hm, A(f->mem), ps, true, &pfn), 0);
	assert_true(pfn != 0);
	assert_int_equal(ops->translate(f->hm, A(f->mem), ps, false, &pfn2), 0);
	assert_true(pfn == pfn2);
	/* Without a manager too; unaligned and multi-page ranges. */
	assert_int_equal(ops->translate(NULL, A(f->mem + 7), 9, false, &pfn3),
			 0);
	assert_true(pfn3 != 0);
	assert_int_equal(
		ops->translate(f->hm, A(f->mem + ps - 1), 2, true, &pfn2), 0);
	assert_int_equal(
		ops->translate(f->hm, A(f->mem), NPAGES * ps, true, &pfn2), 0);
	assert_true(pfn2 == pfn);
	/* Another page, another identity. */
	assert_int_equal(ops->translate(f->hm, A(f->mem + ps), ps, true, &pfn2),
			 0);
	assert_true(pfn2 != pfn);
	/* map is the hva itself, unmap nothing. */
	assert_int_equal(ops->map(f->hm, A(f->mem + 12), 4, pfn, true, &k), 0);
	assert_ptr_equal(k, f->mem + 12);
	ops->unmap(f->hm, k, 4);
	assert_int_equal(ops->map(NULL, A(f->mem), ps, pfn, false, &k), 0);
	assert_ptr_equal(k, f->mem);
	ops->unmap(NULL, k, ps);
	f->mem[0] = 1;
}

static void test_direct_args(void **state)
{
	const struct gpc_hostmem_ops *ops = &gpc_hostmem_direct_ops;
	struct fx *f = *state;
	uint64_t pfn;

	assert_int_equal(ops->translate(f->hm, A(f->mem), 0, false, &pfn),
			 -EINVAL);
	assert_int_equal(ops->translate(f->hm, A(f->mem), ps, false, NULL),
			 -EINVAL);
	assert_int_equal(ops->translate(f->hm, UINT64_MAX - 10, 100, false,
					&pfn),
			 -EFAULT);
	assert_int_equal(ops->map(f->hm, A(f->mem), ps, 0, false, NULL),
			 -EINVAL);
}

static void test_direct_faults(void **state)
{
	const struct gpc_hostmem_ops *ops = &gpc_hostmem_direct_ops;
	struct fx *f = *state;
	uint64_t pfn;
	char *p;

	/* Memory nobody maps. */
	p = mmap(NULL, ps, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(p != MAP_FAILED);
	assert_int_equal(ops->translate(NULL, A(p), ps, false, &pfn), 0);
	if (!no_populate())
		assert_int_equal(ops->translate(NULL, A(p), ps, true, &pfn),
				 -EFAULT);
	munmap(p, ps);
	assert_int_equal(ops->translate(NULL, A(p), ps, false, &pfn), -EFAULT);
	assert_int_equal(ops->translate(f->hm, 0, ps, false, &pfn), -EFAULT);

	/* A hole in guest RAM, and a range that runs into it. */
	assert_int_equal(gpc_hostmem_unmap(NULL, f->hm, A(f->mem + ps), ps), 0);
	assert_int_equal(ops->translate(f->hm, A(f->mem + ps), ps, false, &pfn),
			 -EFAULT);
	assert_int_equal(ops->translate(NULL, A(f->mem + ps), 1, true, &pfn),
			 -EFAULT);
	assert_int_equal(ops->translate(f->hm, A(f->mem), 2 * ps, false, &pfn),
			 -EFAULT);
	assert_int_equal(ops->translate(f->hm, A(f->mem), ps, true, &pfn), 0);

	/* PROT_NONE, then read-only. */
	assert_int_equal(gpc_hostmem_protect(NULL, f->hm, A(f->mem + 2 * ps),
					     ps, PROT_NONE),
			 0);
	assert_int_equal(ops->translate(f->hm, A(f->mem + 2 * ps), ps, false,
					&pfn),
			 -EFAULT);
	assert_int_equal(ops->translate(NULL, A(f->mem + 2 * ps), ps, true,
					&pfn),
			 -EFAULT);
	assert_int_equal(gpc_hostmem_protect(NULL, f->hm, A(f->mem + 2 * ps),
					     ps, PROT_READ),
			 0);
	assert_int_equal(
		ops->translate(f->hm, A(f->mem + 2 * ps), ps, false, &pfn), 0);
	assert_int_equal(ops->translate(f->hm, A(f->mem + 2 * ps), ps, true,
					&pfn),
			 -EFAULT);
}

/* ---- alias stage ------------------------------------------------------------ */

static void test_alias_map_shares_pages(void **state)
{
	const struct gpc_hostmem_ops *ops = &gpc_hostmem_alias_ops;
	struct fx *f = *state;
	uint64_t pfn;
	char *k;

	assert_string_equal(ops->name, "alias");
	assert_int_equal(ops->translate(f->hm, A(f->mem + ps), ps, true, &pfn),
			 0);
	assert_int_equal(
		ops->map(f->hm, A(f->mem + ps), ps, pfn, true, (void **)&k), 0);
	assert_true(k != f->mem + ps);
	strcpy(k + 10, "through the alias");
	assert_string_equal(f->mem + ps + 10, "through the alias");
	strcpy(f->mem + ps + 100, "through the hva");
	assert_string_equal(k + 100, "through the hva");
	ops->unmap(f->hm, k, ps);
	assert_false(readable(k));

	/* Read-only alias. */
	assert_int_equal(ops->map(f->hm, A(f->mem + ps), ps, pfn, false,
				  (void **)&k),
			 0);
	assert_string_equal(k + 10, "through the alias");
	assert_false(writable(k));
	ops->unmap(f->hm, k, ps);
}

/* An unaligned multi-page range: khva points at hva's byte, pages follow. */
static void test_alias_multipage_unaligned(void **state)
{
	const struct gpc_hostmem_ops *ops = &gpc_hostmem_alias_ops;
	struct fx *f = *state;
	uint64_t pfn, pfn0;
	char *k;
	size_t i;

	for (i = 0; i < 3 * ps; i++)
		f->mem[2 * ps + i] = (char)(i * 7);
	assert_int_equal(
		ops->translate(f->hm, A(f->mem + 2 * ps), ps, false, &pfn0), 0);
	assert_int_equal(ops->translate(f->hm, A(f->mem + 2 * ps + 100), 2 * ps,
					true, &pfn),
			 0);
	assert_true(pfn == pfn0);
	assert_int_equal(ops->map(f->hm, A(f->mem + 2 * ps + 100), 2 * ps, pfn,
				  true, (void **)&k),
			 0);
	assert_int_equal(A(k) % ps, 100);
	assert_memory_equal(k, f->mem + 2 * ps + 100, 2 * ps);
	k[2 * ps - 1] = 'z';
	assert_int_equal(f->mem[4 * ps + 99], 'z');
	ops->unmap(f->hm, k, 2 * ps);
	assert_false(readable(k - 100));
	assert_false(readable(k + 2 * ps - 1));
}

static void test_alias_args(void **state)
{
	const struct gpc_hostmem_ops *ops = &gpc_hostmem_alias_ops;
	struct fx *f = *state;
	uint64_t pfn;
	void *k;

	assert_int_equal(ops->translate(NULL, A(f->mem), ps, false, &pfn),
			 -EINVAL);
	assert_int_equal(ops->translate(f->hm, A(f->mem), ps, false, NULL),
			 -EINVAL);
	assert_int_equal(ops->translate(f->hm, A(f->mem), 0, false, &pfn),
			 -EINVAL);
	assert_int_equal(ops->translate(f->hm, UINT64_MAX - 10, 100, false,
					&pfn),
			 -EFAULT);
	assert_int_equal(ops->map(NULL, A(f->mem), ps, 0, false, &k), -EINVAL);
	assert_int_equal(ops->map(f->hm, A(f->mem), ps, 0, false, NULL),
			 -EINVAL);
	assert_int_equal(ops->map(f->hm, A(f->mem), 0, 0, false, &k), -EINVAL);
	ops->unmap(f->hm, NULL, ps); /* harmless */
}

static void test_alias_faults(void **state)
{
	const struct gpc_hostmem_ops *ops = &gpc_hostmem_alias_ops;
	struct fx *f = *state;
	uint64_t pfn;
	int local = 0;
	void *k;

	/* Not guest RAM at all, or past the end of the region. */
	assert_int_equal(ops->translate(f->hm, A(&local), 4, false, &pfn),
			 -EFAULT);
	assert_int_equal(ops->map(f->hm, A(&local), 4, 0, false, &k), -EFAULT);
	assert_int_equal(ops->translate(f->hm, A(f->mem + (NPAGES - 1) * ps),
					2 * ps, false, &pfn),
			 -EFAULT);
	/* A hole. */
	assert_int_equal(gpc_hostmem_unmap(NULL, f->hm, A(f->mem), ps), 0);
	assert_int_equal(ops->translate(f->hm, A(f->mem), ps, false, &pfn),
			 -EFAULT);
	assert_int_equal(ops->translate(f->hm, A(f->mem), 2 * ps, false, &pfn),
			 -EFAULT);
	assert_int_equal(ops->map(f->hm, A(f->mem), ps, 0, false, &k), -EFAULT);
	/* PROT_NONE and read-only. */
	assert_int_equal(gpc_hostmem_protect(NULL, f->hm, A(f->mem + ps), ps,
					     PROT_NONE),
			 0);
	assert_int_equal(ops->translate(f->hm, A(f->mem + ps), ps, false, &pfn),
			 -EFAULT);
	assert_int_equal(gpc_hostmem_protect(NULL, f->hm, A(f->mem + ps), ps,
					     PROT_READ),
			 0);
	assert_int_equal(ops->translate(f->hm, A(f->mem + ps), ps, true, &pfn),
			 -EFAULT);
	assert_int_equal(ops->translate(f->hm, A(f->mem + ps), ps, false, &pfn),
			 0);
}

/* Only pages consecutive in one memfd can share one alias. */
static void test_alias_not_contiguous(void **state)
{
	const struct gpc_hostmem_ops *ops = &gpc_hostmem_alias_ops;
	struct fx *f = *state;
	uint64_t pfn;
	void *k, *p;

	assert_int_equal(ops->translate(f->hm, A(f->mem), 2 * ps, true, &pfn),
			 0);
	assert_int_equal(gpc_hostmem_remap(NULL, f->hm, A(f->mem + ps), ps), 0);
	assert_int_equal(ops->translate(f->hm, A(f->mem), 2 * ps, true, &pfn),
			 -EINVAL);
	assert_int_equal(ops->translate(f->hm, A(f->mem + ps - 1), 2, false,
					&pfn),
			 -EINVAL);
	assert_int_equal(ops->map(f->hm, A(f->mem), 2 * ps, pfn, true, &k),
			 -EFAULT);
	/* Each page alone is fine. */
	assert_int_equal(ops->translate(f->hm, A(f->mem), ps, true, &pfn), 0);
	assert_int_equal(ops->translate(f->hm, A(f->mem + ps), ps, true, &pfn),
			 0);
	/* Two regions that happen to be adjacent are not contiguous. */
	assert_int_equal(gpc_hostmem_alloc(f->hm, ps, &p), 0);
	assert_int_equal(gpc_hostmem_alloc(f->hm, ps, &k), 0);
	if ((char *)k == (char *)p + ps || (char *)p == (char *)k + ps) {
		uint64_t lo = A(p) < A(k) ? A(p) : A(k);

		assert_int_equal(ops->translate(f->hm, lo, 2 * ps, false, &pfn),
				 -EINVAL);
	}
}

/* Changing protection splits the bookkeeping but not the backing. */
static void test_alias_contiguous_across_protect(void **state)
{
	const struct gpc_hostmem_ops *ops = &gpc_hostmem_alias_ops;
	struct fx *f = *state;
	uint64_t pfn, pfn2;

	assert_int_equal(ops->translate(f->hm, A(f->mem), 3 * ps, true, &pfn),
			 0);
	assert_int_equal(gpc_hostmem_protect(NULL, f->hm, A(f->mem + ps), ps,
					     PROT_READ),
			 0);
	assert_int_equal(ops->translate(f->hm, A(f->mem), 3 * ps, false, &pfn2),
			 0);
	assert_true(pfn == pfn2);
	assert_int_equal(ops->translate(f->hm, A(f->mem), 3 * ps, true, &pfn2),
			 -EFAULT);
	assert_int_equal(gpc_hostmem_protect(NULL, f->hm, A(f->mem + ps), ps,
					     PROT_READ | PROT_WRITE),
			 0);
	assert_int_equal(ops->translate(f->hm, A(f->mem), 3 * ps, true, &pfn2),
			 0);
	assert_true(pfn == pfn2);
}

/* ---- page identities ---------------------------------------------------------- */

static uint64_t pfn_of(const struct gpc_hostmem_ops *ops, void *ctx,
		       const char *p)
{
	uint64_t pfn = 0;

	assert_int_equal(ops->translate(ctx, A(p), ps, false, &pfn), 0);
	return pfn;
}

static void check_pfns(struct fx *f, const struct gpc_hostmem_ops *ops,
		       void *ctx)
{
	char *p0 = f->mem, *p1 = f->mem + ps;
	uint64_t a0 = pfn_of(ops, ctx, p0), a1 = pfn_of(ops, ctx, p1), b1;

	p1[0] = 'x';
	assert_true(a0 != a1);
	assert_true(pfn_of(ops, ctx, p1) == a1);
	assert_int_equal(gpc_hostmem_remap(NULL, f->hm, A(p1), ps), 0);
	b1 = pfn_of(ops, ctx, p1);
	assert_true(b1 != a1);
	assert_true(pfn_of(ops, ctx, p0) == a0);
	p1[0] = 'y';
	assert_int_equal(gpc_hostmem_migrate(NULL, f->hm, A(p1), ps), 0);
	assert_true(pfn_of(ops, ctx, p1) != b1);
	assert_true(pfn_of(ops, ctx, p1) != a1);
	assert_int_equal(p1[0], 'y');
	assert_true(pfn_of(ops, ctx, p0) == a0);
	/* protect and discard keep the backing object. */
	b1 = pfn_of(ops, ctx, p1);
	assert_int_equal(gpc_hostmem_protect(NULL, f->hm, A(p1), ps, PROT_READ),
			 0);
	assert_true(pfn_of(ops, ctx, p1) == b1);
}

static void test_pfn_direct(void **state)
{
	struct fx *f = *state;

	check_pfns(f, &gpc_hostmem_direct_ops, f->hm);
}

/* Whether /proc/self/pagemap shows PFNs to us (it needs CAP_SYS_ADMIN). */
static bool pagemap_shows_pfns(const char *p)
{
	FILE *f = fopen("/proc/self/pagemap", "r");
	uint64_t ent = 0;

	if (!f)
		return false;
	if (fseek(f, (long)(A(p) / ps * sizeof(ent)), SEEK_SET) ||
	    fread(&ent, sizeof(ent), 1, f) != 1)
		ent = 0;
	fclose(f);
	return (ent & (1ull << 63)) && (ent & ((1ull << 55) - 1));
}

/* Without a manager, only a real PFN can tell a new page from the old. */
static void test_pfn_direct_noctx(void **state)
{
	struct fx *f = *state;

	f->mem[0] = 1;
	if (!pagemap_shows_pfns(f->mem))
		skip();
	check_pfns(f, &gpc_hostmem_direct_ops, NULL);
}

static void test_pfn_alias(void **state)
{
	struct fx *f = *state;
	uint64_t a;

	check_pfns(f, &gpc_hostmem_alias_ops, f->hm);
	/* An alias identity names (memfd, offset): a discard keeps it. */
	a = pfn_of(&gpc_hostmem_alias_ops, f->hm, f->mem + 3 * ps);
	assert_int_equal(
		gpc_hostmem_discard(NULL, f->hm, A(f->mem + 3 * ps), ps), 0);
	assert_true(pfn_of(&gpc_hostmem_alias_ops, f->hm, f->mem + 3 * ps) ==
		    a);
}

/* ---- change helpers ----------------------------------------------------------- */

static void test_remap(void **state)
{
	struct fx *f = *state;
	uint64_t off0, off1;
	int fd0, fd1;
	char *old;

	fill(f->mem, 3 * ps, 'a');
	assert_int_equal(gpc_hostmem_backing(f->hm, A(f->mem), &fd0, &off0), 0);
	assert_null(gpc_hostmem_retired_page(f->hm, A(f->mem + ps)));
	assert_int_equal(gpc_hostmem_remap(NULL, f->hm, A(f->mem + ps), ps), 0);
	assert_true(all_equal(f->mem, ps, 'a'));
	assert_true(all_equal(f->mem + ps, ps, 0));
	assert_true(all_equal(f->mem + 2 * ps, ps, 'a'));
	assert_int_equal(
		gpc_hostmem_backing(f->hm, A(f->mem + ps), &fd1, &off1), 0);
	assert_true(fd1 != fd0);
	assert_int_equal(off1, 0);
	assert_int_equal(
		gpc_hostmem_backing(f->hm, A(f->mem + 2 * ps), &fd1, &off1), 0);
	assert_int_equal(fd1, fd0);
	assert_int_equal(off1, 2 * ps);
	/* The old page is kept, read-only, with its old content. */
	old = gpc_hostmem_retired_page(f->hm, A(f->mem + ps));
	assert_non_null(old);
	assert_true(all_equal(old, ps, 'a'));
	assert_ptr_equal(gpc_hostmem_retired_page(f->hm, A(f->mem + ps + 9)),
			 old + 9);
	assert_false(writable(old));
	assert_null(gpc_hostmem_retired_page(f->hm, A(f->mem)));
	assert_null(gpc_hostmem_retired_page(f->hm, A(f->mem + 2 * ps)));
	/* The fresh memory is writable and shared with its memfd. */
	f->mem[ps] = 'n';
	assert_int_equal(
		gpc_hostmem_backing(f->hm, A(f->mem + ps), &fd1, &off1), 0);
	assert_int_equal(pread(fd1, &f->mem[2 * ps], 1, 0), 1);
	assert_int_equal(f->mem[2 * ps], 'n');
}

/* The retired copy is the page before the most recent change. */
static void test_retired_latest(void **state)
{
	struct fx *f = *state;
	char *p = f->mem + 4 * ps, *old;

	fill(p, 2 * ps, '1');
	assert_int_equal(gpc_hostmem_remap(NULL, f->hm, A(p), 2 * ps), 0);
	fill(p, 2 * ps, '2');
	assert_int_equal(gpc_hostmem_migrate(NULL, f->hm, A(p + ps), ps), 0);
	old = gpc_hostmem_retired_page(f->hm, A(p));
	assert_non_null(old);
	assert_true(all_equal(old, ps, '1'));
	old = gpc_hostmem_retired_page(f->hm, A(p + ps));
	assert_non_null(old);
	assert_true(all_equal(old, ps, '2'));
	fill(p, 2 * ps, '3');
	/* One change over pages that had different backings. */
	assert_int_equal(
		gpc_hostmem_remap(NULL, f->hm, A(f->mem + 3 * ps), 3 * ps), 0);
	assert_true(
		all_equal(gpc_hostmem_retired_page(f->hm, A(p - ps)), ps, 0));
	assert_true(all_equal(gpc_hostmem_retired_page(f->hm, A(p)), ps, '3'));
	assert_true(
		all_equal(gpc_hostmem_retired_page(f->hm, A(p + ps)), ps, '3'));
	/* A change in the middle of an older retired range. */
	fill(f->mem + 3 * ps, 3 * ps, '4');
	assert_int_equal(
		gpc_hostmem_remap(NULL, f->hm, A(f->mem + 3 * ps), 3 * ps), 0);
	assert_int_equal(gpc_hostmem_remap(NULL, f->hm, A(p), ps), 0);
	assert_true(all_equal(gpc_hostmem_retired_page(f->hm, A(p)), ps, 0));
	assert_true(
		all_equal(gpc_hostmem_retired_page(f->hm, A(p - ps)), ps, '4'));
	assert_true(
		all_equal(gpc_hostmem_retired_page(f->hm, A(p + ps)), ps, '4'));
	assert_null(gpc_hostmem_retired_page(NULL, A(p)));
	/* Freeing the region forgets its retired pages. */
	assert_int_equal(gpc_hostmem_free(f->hm, f->mem, NPAGES * ps), 0);
	assert_null(gpc_hostmem_retired_page(f->hm, A(p)));
	assert_int_equal(
		gpc_hostmem_alloc(f->hm, NPAGES * ps, (void **)&f->mem), 0);
}

/* A write through an alias made before a remap lands in the old page. */
static void test_stale_alias_write(void **state)
{
	const struct gpc_hostmem_ops *ops = &gpc_hostmem_alias_ops;
	struct fx *f = *state;
	char *p = f->mem + 2 * ps, *k, *old;
	uint64_t pfn;

	assert_int_equal(ops->translate(f->hm, A(p), ps, true, &pfn), 0);
	assert_int_equal(ops->map(f->hm, A(p), ps, pfn, true, (void **)&k), 0);
	assert_int_equal(gpc_hostmem_migrate(NULL, f->hm, A(p), ps), 0);
	old = gpc_hostmem_retired_page(f->hm, A(p));
	assert_non_null(old);
	assert_int_equal(old[5], 0);
	k[5] = 's';
	assert_int_equal(old[5], 's');
	assert_int_equal(p[5], 0);
	ops->unmap(f->hm, k, ps);
}

static void test_migrate(void **state)
{
	struct fx *f = *state;
	uint64_t off;
	int fd0, fd;
	size_t i;

	for (i = 0; i < NPAGES * ps; i++)
		f->mem[i] = (char)(i % 251);
	assert_int_equal(gpc_hostmem_backing(f->hm, A(f->mem), &fd0, &off), 0);
	/* The middle page is PROT_NONE: copied all the same, stays so. */
	assert_int_equal(gpc_hostmem_protect(NULL, f->hm, A(f->mem + 3 * ps),
					     ps, PROT_NONE),
			 0);
	assert_int_equal(gpc_hostmem_migrate(NULL, f->hm, A(f->mem + 2 * ps),
					     3 * ps),
			 0);
	assert_false(readable(f->mem + 3 * ps));
	assert_true(writable(f->mem + 4 * ps));
	assert_int_equal(gpc_hostmem_protect(NULL, f->hm, A(f->mem + 3 * ps),
					     ps, PROT_READ | PROT_WRITE),
			 0);
	for (i = 0; i < NPAGES * ps; i++)
		if (f->mem[i] != (char)(i % 251))
			fail_msg("byte %zu differs after migrate", i);
	assert_int_equal(
		gpc_hostmem_backing(f->hm, A(f->mem + 2 * ps), &fd, &off), 0);
	assert_true(fd != fd0);
	assert_int_equal(off, 0);
	assert_int_equal(
		gpc_hostmem_backing(f->hm, A(f->mem + 4 * ps), &fd, &off), 0);
	assert_int_equal(off, 2 * ps);
	assert_memory_equal(gpc_hostmem_retired_page(f->hm, A(f->mem + 4 * ps)),
			    f->mem + 4 * ps, ps);
	/* Nothing to migrate in a hole. */
	assert_int_equal(gpc_hostmem_unmap(NULL, f->hm, A(f->mem + 6 * ps), ps),
			 0);
	assert_int_equal(gpc_hostmem_migrate(NULL, f->hm, A(f->mem + 5 * ps),
					     2 * ps),
			 -EFAULT);
	assert_int_equal(f->mem[5 * ps], (char)((5 * ps) % 251));
}

static void test_discard(void **state)
{
	struct fx *f = *state;
	uint64_t off, off2;
	int fd, fd2;

	fill(f->mem, 4 * ps, 'd');
	assert_int_equal(gpc_hostmem_backing(f->hm, A(f->mem + ps), &fd, &off),
			 0);
	assert_int_equal(
		gpc_hostmem_discard(NULL, f->hm, A(f->mem + ps), 2 * ps), 0);
	assert_true(all_equal(f->mem, ps, 'd'));
	assert_true(all_equal(f->mem + ps, 2 * ps, 0));
	assert_true(all_equal(f->mem + 3 * ps, ps, 'd'));
	assert_int_equal(
		gpc_hostmem_backing(f->hm, A(f->mem + ps), &fd2, &off2), 0);
	assert_int_equal(fd2, fd);
	assert_int_equal(off2, off);
	assert_null(gpc_hostmem_retired_page(f->hm, A(f->mem + ps)));
	/* Holes are skipped; PROT_NONE pages are discarded too. */
	fill(f->mem + 4 * ps, 3 * ps, 'e');
	assert_int_equal(gpc_hostmem_unmap(NULL, f->hm, A(f->mem + 4 * ps), ps),
			 0);
	assert_int_equal(gpc_hostmem_protect(NULL, f->hm, A(f->mem + 6 * ps),
					     ps, PROT_NONE),
			 0);
	assert_int_equal(gpc_hostmem_discard(NULL, f->hm, A(f->mem + 4 * ps),
					     3 * ps),
			 0);
	assert_true(all_equal(f->mem + 5 * ps, ps, 0));
	assert_int_equal(gpc_hostmem_protect(NULL, f->hm, A(f->mem + 6 * ps),
					     ps, PROT_READ),
			 0);
	assert_true(all_equal(f->mem + 6 * ps, ps, 0));
}

static void test_unmap_then_remap(void **state)
{
	struct fx *f = *state;
	uint64_t off;
	int fd;

	fill(f->mem, NPAGES * ps, 'u');
	assert_int_equal(
		gpc_hostmem_unmap(NULL, f->hm, A(f->mem + 2 * ps), 3 * ps), 0);
	assert_false(readable(f->mem + 2 * ps));
	assert_false(readable(f->mem + 4 * ps + ps - 1));
	assert_true(readable(f->mem + ps + ps - 1));
	assert_true(readable(f->mem + 5 * ps));
	assert_int_equal(gpc_hostmem_backing(f->hm, A(f->mem + 3 * ps), &fd,
					     &off),
			 -EFAULT);
	/* Unmapping a hole again is fine. */
	assert_int_equal(gpc_hostmem_unmap(NULL, f->hm, A(f->mem + ps), 2 * ps),
			 0);
	assert_false(readable(f->mem + ps));
	/* protect refuses holes with -EFAULT (not mprotect()'s ENOMEM). */
	assert_int_equal(gpc_hostmem_protect(NULL, f->hm, A(f->mem + ps), ps,
					     PROT_READ),
			 -EFAULT);
	assert_false(readable(f->mem + ps));
	/* Remap over a hole and its neighbour brings fresh memory. */
	assert_int_equal(
		gpc_hostmem_remap(NULL, f->hm, A(f->mem + 4 * ps), 2 * ps), 0);
	assert_true(all_equal(f->mem + 4 * ps, 2 * ps, 0));
	assert_null(gpc_hostmem_retired_page(f->hm, A(f->mem + 4 * ps)));
	assert_true(all_equal(
		gpc_hostmem_retired_page(f->hm, A(f->mem + 5 * ps)), ps, 'u'));
	assert_false(readable(f->mem + 3 * ps));
	assert_true(all_equal(f->mem + 6 * ps, 2 * ps, 'u'));
	/* Free still works with holes in the region. */
	assert_int_equal(gpc_hostmem_free(f->hm, f->mem, NPAGES * ps), 0);
	assert_int_equal(
		gpc_hostmem_alloc(f->hm, NPAGES * ps, (void **)&f->mem), 0);
}

static void test_protect(void **state)
{
	struct fx *f = *state;

	assert_int_equal(
		gpc_hostmem_protect(NULL, f->hm, A(f->mem), ps, PROT_NONE), 0);
	assert_false(readable(f->mem));
	assert_true(writable(f->mem + ps));
	assert_int_equal(gpc_hostmem_protect(NULL, f->hm, A(f->mem), 2 * ps,
					     PROT_READ),
			 0);
	assert_true(readable(f->mem));
	assert_false(writable(f->mem + ps));
	assert_int_equal(gpc_hostmem_protect(NULL, f->hm, A(f->mem), 2 * ps,
					     PROT_READ | PROT_WRITE),
			 0);
	assert_true(writable(f->mem));
	assert_true(writable(f->mem + ps));
	assert_int_equal(gpc_hostmem_protect(NULL, f->hm, A(f->mem), ps,
					     PROT_WRITE),
			 -EINVAL);
	assert_int_equal(gpc_hostmem_protect(NULL, f->hm, A(f->mem), ps,
					     PROT_READ | PROT_EXEC),
			 -EINVAL);
	assert_int_equal(gpc_hostmem_protect(NULL, f->hm, A(f->mem), ps, -1),
			 -EINVAL);
	/* A remap brings read-write memory whatever was there. */
	assert_int_equal(
		gpc_hostmem_protect(NULL, f->hm, A(f->mem), ps, PROT_NONE), 0);
	assert_int_equal(gpc_hostmem_remap(NULL, f->hm, A(f->mem), ps), 0);
	assert_true(writable(f->mem));
}

typedef int change_fn(struct gpc_vm *vm, struct gpc_hostmem *hm, uint64_t hva,
		      size_t len);

static int protect_ro(struct gpc_vm *vm, struct gpc_hostmem *hm, uint64_t hva,
		      size_t len)
{
	return gpc_hostmem_protect(vm, hm, hva, len, PROT_READ);
}

static change_fn *const changes[] = {
	gpc_hostmem_unmap,   gpc_hostmem_remap, gpc_hostmem_discard,
	gpc_hostmem_migrate, protect_ro,
};

static void test_change_args(void **state)
{
	struct fx *f = *state;
	uint64_t m = A(f->mem);
	int local = 0;
	size_t i;

	for (i = 0; i < sizeof(changes) / sizeof(changes[0]); i++) {
		change_fn *c = changes[i];

		assert_int_equal(c(NULL, NULL, m, ps), -EINVAL);
		assert_int_equal(c(NULL, f->hm, m + 1, ps), -EINVAL);
		assert_int_equal(c(NULL, f->hm, m, ps - 1), -EINVAL);
		assert_int_equal(c(NULL, f->hm, m, ps + 1), -EINVAL);
		assert_int_equal(c(NULL, f->hm, m, 0), -EINVAL);
		assert_int_equal(c(NULL, f->hm, m - ps, 2 * ps), -EINVAL);
		assert_int_equal(c(NULL, f->hm, m + (NPAGES - 1) * ps, 2 * ps),
				 -EINVAL);
		assert_int_equal(c(NULL, f->hm, m + NPAGES * ps, ps), -EINVAL);
		assert_int_equal(c(NULL, f->hm, A(&local) & ~(ps - 1), ps),
				 -EINVAL);
		assert_int_equal(c(NULL, f->hm, UINT64_MAX & ~(ps - 1), 2 * ps),
				 -EINVAL);
		assert_int_equal(c(NULL, f->hm, m, NPAGES * ps), 0);
	}
}

/* With a vm, every change is one invalidation: range_start/range_end. */
static void test_change_notifies_vm(void **state)
{
	struct fx *f = *state;
	struct gpc_vm *vm;
	uint64_t seq;
	size_t i;

	assert_int_equal(gpc_vm_create(NULL, &vm), 0);
	for (i = 0; i < sizeof(changes) / sizeof(changes[0]); i++) {
		seq = gpc_invalidate_sequence(vm);
		assert_int_equal(changes[i](vm, f->hm, A(f->mem + ps), ps), 0);
		assert_true(gpc_invalidate_sequence(vm) == seq + 1);
		/* A rejected range notifies nobody. */
		assert_int_equal(changes[i](vm, f->hm, A(f->mem) + 1, ps),
				 -EINVAL);
		assert_true(gpc_invalidate_sequence(vm) == seq + 1);
	}
	/* A failing change still ends its invalidation. */
	assert_int_equal(gpc_hostmem_unmap(NULL, f->hm, A(f->mem), ps), 0);
	seq = gpc_invalidate_sequence(vm);
	assert_int_equal(gpc_hostmem_migrate(vm, f->hm, A(f->mem), 2 * ps),
			 -EFAULT);
	assert_true(gpc_invalidate_sequence(vm) == seq + 1);
	assert_int_equal(gpc_vm_destroy(vm), 0);
}

/* ---- test stage ---------------------------------------------------------------- */

#define MAX_STEPS 32

static struct {
	enum gpc_testmem_step step[MAX_STEPS];
	uint64_t hva[MAX_STEPS];
	int n;
} rec;

static void record_hook(enum gpc_testmem_step step, uint64_t hva, void *ctx)
{
	assert_ptr_equal(ctx, &rec);
	if (rec.n < MAX_STEPS) {
		rec.step[rec.n] = step;
		rec.hva[rec.n++] = hva;
	}
}

static void test_testmem_init_args(void **state)
{
	struct gpc_testmem t;
	struct gpc_testmem_counts c = { .maps = 99 };

	(void)state;
	assert_string_equal(gpc_testmem_ops.name, "test");
	assert_int_equal(gpc_testmem_init(NULL, &gpc_hostmem_direct_ops, NULL),
			 -EINVAL);
	assert_int_equal(gpc_testmem_init(&t, NULL, NULL), -EINVAL);
	assert_int_equal(gpc_testmem_init(&t, &gpc_hostmem_direct_ops, NULL),
			 0);
	gpc_testmem_counts(&t, &c);
	assert_int_equal(c.maps, 0);
	assert_int_equal(
		c.translates + c.translate_fails + c.map_fails + c.unmaps, 0);
	assert_int_equal(c.live_maps, 0);
	gpc_testmem_counts(NULL, &c); /* harmless */
	gpc_testmem_counts(&t, NULL);
}

/* One translate, map, unmap; returns khva. */
static void *cycle(struct gpc_testmem *t, uint64_t hva, size_t len)
{
	uint64_t pfn;
	void *k;

	assert_int_equal(gpc_testmem_ops.translate(t, hva, len, true, &pfn), 0);
	assert_int_equal(gpc_testmem_ops.map(t, hva, len, pfn, true, &k), 0);
	gpc_testmem_ops.unmap(t, k, len);
	return k;
}

static void check_counts(struct gpc_testmem *t, uint64_t tr, uint64_t trf,
			 uint64_t maps, uint64_t mapf, uint64_t unmaps)
{
	struct gpc_testmem_counts c;

	gpc_testmem_counts(t, &c);
	assert_int_equal(c.translates, tr);
	assert_int_equal(c.translate_fails, trf);
	assert_int_equal(c.maps, maps);
	assert_int_equal(c.map_fails, mapf);
	assert_int_equal(c.unmaps, unmaps);
	assert_int_equal(c.live_maps, (int64_t)maps - (int64_t)unmaps);
}

static void test_testmem_hooks(void **state)
{
	static const enum gpc_testmem_step want[] = {
		GPC_TESTMEM_TRANSLATE, GPC_TESTMEM_TRANSLATED, GPC_TESTMEM_MAP,
		GPC_TESTMEM_MAPPED,    GPC_TESTMEM_UNMAP,
	};
	struct fx *f = *state;
	struct gpc_testmem t;
	uint64_t h = A(f->mem + ps);
	void *k;
	int i;

	assert_int_equal(gpc_testmem_init(&t, &gpc_hostmem_alias_ops, f->hm),
			 0);
	t.hook = record_hook;
	t.hook_ctx = &rec;
	rec.n = 0;
	k = cycle(&t, h, ps);
	assert_int_equal(rec.n, 5);
	for (i = 0; i < 5; i++)
		assert_int_equal(rec.step[i], want[i]);
	for (i = 0; i < 4; i++)
		assert_true(rec.hva[i] == h);
	assert_true(rec.hva[4] == A(k)); /* unmap knows only khva */
	assert_true(k != f->mem + ps);
	check_counts(&t, 1, 0, 1, 0, 1);

	/* A failing step stops the sequence where it failed. */
	rec.n = 0;
	assert_int_equal(gpc_testmem_ops.translate(&t, A(f->mem) - ps, ps,
						   false, &(uint64_t){ 0 }),
			 -EFAULT);
	assert_int_equal(rec.n, 1);
	assert_int_equal(rec.step[0], GPC_TESTMEM_TRANSLATE);
	rec.n = 0;
	assert_int_equal(gpc_testmem_ops.map(&t, A(f->mem) - ps, ps, 0, false,
					     &k),
			 -EFAULT);
	assert_int_equal(rec.n, 1);
	assert_int_equal(rec.step[0], GPC_TESTMEM_MAP);
	check_counts(&t, 1, 1, 1, 1, 1);
}

static void test_testmem_inject(void **state)
{
	struct fx *f = *state;
	struct gpc_testmem t;
	uint64_t pfn, h = A(f->mem);
	void *k;

	assert_int_equal(gpc_testmem_init(&t, &gpc_hostmem_direct_ops, f->hm),
			 0);
	t.fail_translate = 2;
	assert_int_equal(gpc_testmem_ops.translate(&t, h, ps, true, &pfn),
			 -EFAULT);
	assert_int_equal(gpc_testmem_ops.translate(&t, h, ps, true, &pfn),
			 -EFAULT);
	assert_int_equal(t.fail_translate, 0);
	assert_int_equal(gpc_testmem_ops.translate(&t, h, ps, true, &pfn), 0);
	check_counts(&t, 1, 2, 0, 0, 0);

	t.fail_errno = -ENOMEM;
	t.fail_map = 1;
	assert_int_equal(gpc_testmem_ops.map(&t, h, ps, pfn, true, &k),
			 -ENOMEM);
	t.fail_errno = EAGAIN; /* either sign */
	t.fail_map = 1;
	t.fail_translate = 1;
	assert_int_equal(gpc_testmem_ops.map(&t, h, ps, pfn, true, &k),
			 -EAGAIN);
	assert_int_equal(gpc_testmem_ops.translate(&t, h, ps, true, &pfn),
			 -EAGAIN);
	assert_int_equal(gpc_testmem_ops.map(&t, h, ps, pfn, true, &k), 0);
	assert_ptr_equal(k, f->mem);
	check_counts(&t, 1, 3, 1, 2, 0);
	/* The direct stage's unmap does nothing, but it is counted. */
	gpc_testmem_ops.unmap(&t, k, ps);
	check_counts(&t, 1, 3, 1, 2, 1);
	/* Errors of the inner stage count as failures too. */
	assert_int_equal(gpc_testmem_ops.translate(&t, 0, ps, true, &pfn),
			 -EFAULT);
	check_counts(&t, 1, 4, 1, 2, 1);
	assert_int_equal(gpc_testmem_ops.translate(NULL, h, ps, true, &pfn),
			 -EINVAL);
	assert_int_equal(gpc_testmem_ops.map(NULL, h, ps, pfn, true, &k),
			 -EINVAL);
	gpc_testmem_ops.unmap(NULL, k, ps);
}

static void test_testmem_live_maps(void **state)
{
	struct fx *f = *state;
	struct gpc_testmem t;
	struct gpc_testmem_counts c;
	void *k[3];
	uint64_t pfn;
	int i;

	assert_int_equal(gpc_testmem_init(&t, &gpc_hostmem_alias_ops, f->hm),
			 0);
	for (i = 0; i < 3; i++) {
		assert_int_equal(gpc_testmem_ops.translate(&t, A(f->mem), ps,
							   false, &pfn),
				 0);
		assert_int_equal(gpc_testmem_ops.map(&t, A(f->mem), ps, pfn,
						     false, &k[i]),
				 0);
	}
	gpc_testmem_counts(&t, &c);
	assert_int_equal(c.live_maps, 3);
	for (i = 0; i < 3; i++)
		gpc_testmem_ops.unmap(&t, k[i], ps);
	gpc_testmem_counts(&t, &c);
	assert_int_equal(c.live_maps, 0);
}

/* ---- threads ------------------------------------------------------------- */

struct stress {
	struct gpc_hostmem *hm;
	char *mem;
	long iters;
	atomic_int stop;
	atomic_int bad; /* an unexpected return value */
	atomic_long ok, faults;
	uint64_t seed;
};

static void *stage_user(void *arg)
{
	struct stress *s = arg;
	const struct gpc_hostmem_ops *ops = &gpc_hostmem_alias_ops;
	uint64_t r = s->seed ^ (uintptr_t)&r, pfn;
	char *k;

	while (!atomic_load(&s->stop)) {
		uint64_t h = A(s->mem + (test_rand(&r) % NPAGES) * ps);
		size_t len = ps * (1 + test_rand(&r) % 2);
		int err;

		if (h + len > A(s->mem + NPAGES * ps))
			len = ps;
		if (test_rand(&r) & 1)
			ops = ops == &gpc_hostmem_alias_ops ?
				      &gpc_hostmem_direct_ops :
				      &gpc_hostmem_alias_ops;
		err = ops->translate(s->hm, h, len, true, &pfn);
		if (!err)
			err = ops->map(s->hm, h, len, pfn, true, (void **)&k);
		if (!err && ops == &gpc_hostmem_alias_ops) {
			k[len - 1]++; /* the alias is ours: always safe */
			ops->unmap(s->hm, k, len);
		}
		if (!err)
			atomic_fetch_add(&s->ok, 1);
		else if (err == -EFAULT || err == -EINVAL)
			atomic_fetch_add(&s->faults, 1);
		else
			atomic_store(&s->bad, err);
	}
	return NULL;
}

static void *changer(void *arg)
{
	struct stress *s = arg;
	uint64_t r = s->seed;
	long i;

	for (i = 0; i < s->iters; i++) {
		uint64_t h = A(s->mem + (test_rand(&r) % NPAGES) * ps);
		int err;

		switch (test_rand(&r) % 6) {
		case 0:
			err = gpc_hostmem_unmap(NULL, s->hm, h, ps);
			break;
		case 1:
			err = gpc_hostmem_remap(NULL, s->hm, h, ps);
			break;
		case 2:
			err = gpc_hostmem_discard(NULL, s->hm, h, ps);
			break;
		case 3:
			err = gpc_hostmem_migrate(NULL, s->hm, h, ps);
			if (err == -EFAULT) /* a hole */
				err = 0;
			break;
		case 4:
			err = gpc_hostmem_protect(NULL, s->hm, h, ps,
						  PROT_READ);
			if (err == -EFAULT) /* a hole */
				err = 0;
			break;
		default:
			err = gpc_hostmem_remap(NULL, s->hm, A(s->mem),
						NPAGES * ps);
			break;
		}
		if (err)
			atomic_store(&s->bad, err);
	}
	atomic_store(&s->stop, 1);
	return NULL;
}

static void test_threads_change_while_used(void **state)
{
	struct stress s = { .iters = test_iters(3000),
			    .seed = 88172645463325252ull };
	pthread_t users[3], ch;
	int i, maps = memfd_maps();

	(void)state;
	assert_int_equal(gpc_hostmem_create(&s.hm), 0);
	assert_int_equal(gpc_hostmem_alloc(s.hm, NPAGES * ps, (void **)&s.mem),
			 0);
	test_watchdog_arm(60, "hostmem stages vs changes");
	for (i = 0; i < 3; i++)
		assert_int_equal(
			pthread_create(&users[i], NULL, stage_user, &s), 0);
	assert_int_equal(pthread_create(&ch, NULL, changer, &s), 0);
	pthread_join(ch, NULL);
	for (i = 0; i < 3; i++)
		pthread_join(users[i], NULL);
	test_watchdog_disarm();
	assert_int_equal(atomic_load(&s.bad), 0);
	assert_true(atomic_load(&s.ok) > 0);
	assert_int_equal(gpc_hostmem_destroy(s.hm), 0);
	assert_int_equal(memfd_maps(), maps);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(int argc, char **argv)
{
	const struct CMUnitTest unit[] = {
		cmocka_unit_test(test_create_destroy_args),
		T(test_alloc_args),
		T(test_alloc_zeroed_shared),
		T(test_backing_args),
		T(test_free_region),
		cmocka_unit_test(test_no_leaks),
		T(test_direct_translate_map),
		T(test_direct_args),
		T(test_direct_faults),
		T(test_alias_map_shares_pages),
		T(test_alias_multipage_unaligned),
		T(test_alias_args),
		T(test_alias_faults),
		T(test_alias_not_contiguous),
		T(test_alias_contiguous_across_protect),
		T(test_pfn_direct),
		T(test_pfn_direct_noctx),
		T(test_pfn_alias),
		T(test_remap),
		T(test_retired_latest),
		T(test_stale_alias_write),
		T(test_migrate),
		T(test_discard),
		T(test_unmap_then_remap),
		T(test_protect),
		T(test_change_args),
		T(test_change_notifies_vm),
		cmocka_unit_test(test_testmem_init_args),
		T(test_testmem_hooks),
		T(test_testmem_inject),
		T(test_testmem_live_maps),
	};
	const struct CMUnitTest threads[] = {
		cmocka_unit_test(test_threads_change_while_used),
	};

	ps = (size_t)sysconf(_SC_PAGESIZE);
	test_log_capture();
	if (argc > 1 && !strcmp(argv[1], "--threads"))
		return cmocka_run_group_tests_name("hostmem threads", threads,
						   NULL, NULL);
	return cmocka_run_group_tests_name("hostmem", unit, NULL, NULL);
}
