// SPDX-License-Identifier: MIT
/*
 * tests/unit/test_hostmem_owned.c - memory the application owns (issue #11
 * item 1): the direct stage over mappings the caller made, the alias stage
 * over descriptors the caller imports, huge pages, and a host-memory ops
 * table that gpc_vm_create() must refuse.
 *
 * What must hold:
 *  - the direct stage activates a multi-page cache on any mapped range:
 *    pages of two memfds, one memfd at reversed offsets, anonymous memory;
 *    reads see the caller's bytes and writes land in the caller's backing;
 *  - gpc_hostmem_import() maps a descriptor that another process created
 *    and keeps writing; caches on it through both stages see that
 *    process's writes and it sees theirs; the caller may close its
 *    descriptor at once; bad input gets one errno per cause and no region;
 *  - the alias window over a hugetlbfs file is aligned to its page size
 *    (unit test of the computation, and with real huge pages where the
 *    machine has any: otherwise the test is skipped and says why);
 *  - a table without translate/map is refused by gpc_vm_create().
 * Each case runs on both read-side schemes.
 */
#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <linux/magic.h>

#include <cmocka.h>

#include <gpc/gpc.h>

#include "hostmem_priv.h"
#include "test_common.h"

#ifndef MFD_HUGETLB
#define MFD_HUGETLB 0x0004U
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

static size_t ps;

static const enum gpc_scheme schemes[] = { GPC_SCHEME_SRCU, GPC_SCHEME_RWLOCK };

#define GPA 0x100000ull

static uint64_t A(const void *p)
{
	return (uintptr_t)p;
}

static struct gpc_vm *vm_new(enum gpc_scheme scheme,
			     const struct gpc_hostmem_ops *ops, void *ctx)
{
	struct gpc_vm_config cfg = { .scheme = scheme,
				     .hostmem = ops,
				     .hostmem_ctx = ctx };
	struct gpc_vm *vm = NULL;

	assert_int_equal(gpc_vm_create(&cfg, &vm), 0);
	return vm;
}

static int memfd_pages(const char *name, size_t npages)
{
	int fd = memfd_create(name, MFD_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)(npages * ps)), 0);
	return fd;
}

/* npages of address space, inaccessible until mapped over. */
static char *reserve(size_t npages)
{
	void *p = mmap(NULL, npages * ps, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	assert_true(p != MAP_FAILED);
	return p;
}

static void map_at(char *at, int fd, off_t off)
{
	void *p = mmap(at, ps, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
		       fd, off);

	assert_ptr_equal(p, at);
}

/*
 * A cache on [GPA + ps - 8, +16), across the page boundary of a two-page
 * slot at @hva: read the 16 bytes, write 16 others, and check through the
 * fast path that the pointer is the hva itself (direct) or not (alias).
 */
static void cache_across(struct gpc_vm *vm, char *hva, bool alias, char *got,
			 const char *put)
{
	struct gpc_cache c;
	struct gpc_guard g;
	char *p;

	assert_int_equal(gpc_memslot_create(vm, 1, GPA, 2 * ps, A(hva), 0), 0);
	assert_int_equal(gpc_cache_init(&c, vm, GPC_USAGE_HOST, NULL, 0), 0);
	assert_int_equal(gpc_cache_activate_gpa(&c, GPA + ps - 8, 16), 0);
	assert_int_equal(gpc_cache_read(&c, 0, got, 16), 0);
	assert_int_equal(gpc_cache_write(&c, 0, put, 16), 0);
	p = gpc_cache_begin(&c, 0, 16, &g);
	assert_non_null(p);
	if (alias)
		assert_true(p != hva + ps - 8);
	else
		assert_ptr_equal(p, hva + ps - 8);
	assert_memory_equal(p, put, 16);
	gpc_cache_end(&c, &g);
	assert_int_equal(gpc_cache_deactivate(&c), 0);
	assert_int_equal(gpc_cache_destroy(&c), 0);
	assert_int_equal(gpc_memslot_delete(vm, 1), 0);
}

static const char want[16] = "aaaaaaaabbbbbbbb";
static const char put[16] = "0123456789abcdef";

/* ---- the direct stage: what it needs of a range ------------------------- */

static void direct_two_memfds(enum gpc_scheme scheme)
{
	struct gpc_vm *vm = vm_new(scheme, NULL, NULL);
	int a = memfd_pages("owned-a", 1), b = memfd_pages("owned-b", 1);
	char *hva = reserve(2), got[16], back[8];

	map_at(hva, a, 0);
	map_at(hva + ps, b, 0);
	memset(hva, 'a', ps);
	memset(hva + ps, 'b', ps);
	cache_across(vm, hva, false, got, put);
	assert_memory_equal(got, want, 16);
	/* The writes are in the two files, at the ends that meet. */
	assert_int_equal(pread(a, back, 8, (off_t)ps - 8), 8);
	assert_memory_equal(back, put, 8);
	assert_int_equal(pread(b, back, 8, 0), 8);
	assert_memory_equal(back, put + 8, 8);
	assert_int_equal(gpc_vm_destroy(vm), 0);
	munmap(hva, 2 * ps);
	close(a);
	close(b);
}

static void direct_reversed_offsets(enum gpc_scheme scheme)
{
	struct gpc_vm *vm = vm_new(scheme, NULL, NULL);
	int fd = memfd_pages("owned-rev", 2);
	char *hva = reserve(2), got[16], back[8];

	map_at(hva, fd, (off_t)ps); /* file page 1 first */
	map_at(hva + ps, fd, 0);
	memset(hva, 'a', ps);
	memset(hva + ps, 'b', ps);
	cache_across(vm, hva, false, got, put);
	assert_memory_equal(got, want, 16);
	assert_int_equal(pread(fd, back, 8, 2 * (off_t)ps - 8), 8);
	assert_memory_equal(back, put, 8);
	assert_int_equal(pread(fd, back, 8, 0), 8);
	assert_memory_equal(back, put + 8, 8);
	assert_int_equal(gpc_vm_destroy(vm), 0);
	munmap(hva, 2 * ps);
	close(fd);
}

static void direct_anonymous(enum gpc_scheme scheme)
{
	struct gpc_vm *vm = vm_new(scheme, NULL, NULL);
	char *hva = mmap(NULL, 2 * ps, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
	     got[16];

	assert_true(hva != MAP_FAILED);
	memset(hva, 'a', ps);
	memset(hva + ps, 'b', ps);
	cache_across(vm, hva, false, got, put);
	assert_memory_equal(got, want, 16);
	assert_memory_equal(hva + ps - 8, put, 16);
	assert_int_equal(gpc_vm_destroy(vm), 0);
	munmap(hva, 2 * ps);
}

/* Only a hole or missing access fails: -EFAULT, never -EINVAL. */
static void direct_needs_mapped(enum gpc_scheme scheme)
{
	struct gpc_vm *vm = vm_new(scheme, NULL, NULL);
	int fd = memfd_pages("owned-hole", 1);
	char *hva = reserve(2);
	struct gpc_cache c;

	map_at(hva, fd, 0); /* page 1 stays PROT_NONE */
	assert_int_equal(gpc_memslot_create(vm, 1, GPA, 2 * ps, A(hva), 0), 0);
	assert_int_equal(gpc_cache_init(&c, vm, GPC_USAGE_HOST, NULL, 0), 0);
	assert_int_equal(gpc_cache_activate_gpa(&c, GPA + ps - 8, 16), -EFAULT);
	assert_int_equal(gpc_cache_deactivate(&c), 0);
	assert_int_equal(gpc_cache_activate_gpa(&c, GPA, 16), 0);
	assert_int_equal(gpc_cache_deactivate(&c), 0);
	assert_int_equal(gpc_cache_destroy(&c), 0);
	assert_int_equal(gpc_vm_destroy(vm), 0);
	munmap(hva, 2 * ps);
	close(fd);
}

#define EACH_SCHEME(fn)                                                    \
	static void test_##fn(void **state)                                \
	{                                                                  \
		size_t i;                                                  \
		(void)state;                                               \
		for (i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) \
			fn(schemes[i]);                                    \
	}

EACH_SCHEME(direct_two_memfds)
EACH_SCHEME(direct_reversed_offsets)
EACH_SCHEME(direct_anonymous)
EACH_SCHEME(direct_needs_mapped)

/*
 * The documented unmap order on caller-owned memory: delete, blocking
 * range_start, munmap, range_end. A GPA cache and an HVA cache on the
 * range: the delete alone leaves the HVA cache valid (it ignores
 * memslots), which is why step 2 is part of the order; after range_start
 * both miss, and after the munmap a refresh fails cleanly (-EFAULT).
 */
static void unmap_order(enum gpc_scheme scheme)
{
	struct gpc_vm *vm = vm_new(scheme, NULL, NULL);
	int fd = memfd_pages("owned-order", 2);
	struct gpc_cache cg, ch;
	char *hva = reserve(2);
	uint64_t s, e;

	map_at(hva, fd, 0);
	map_at(hva + ps, fd, (off_t)ps);
	s = A(hva);
	e = s + 2 * ps;
	assert_int_equal(gpc_memslot_create(vm, 1, GPA, 2 * ps, s, 0), 0);
	assert_int_equal(gpc_cache_init(&cg, vm, GPC_USAGE_HOST, NULL, 0), 0);
	assert_int_equal(gpc_cache_init(&ch, vm, GPC_USAGE_HOST, NULL, 0), 0);
	assert_int_equal(gpc_cache_activate_gpa(&cg, GPA, 8), 0);
	assert_int_equal(gpc_cache_activate_hva(&ch, s + ps, 8), 0);
	assert_int_equal(gpc_memslot_delete(vm, 1), 0);
	assert_false(gpc_cache_check(&cg, 0, 8));
	assert_true(gpc_cache_check(&ch, 0, 8)); /* still hands out hva */
	assert_int_equal(gpc_invalidate_range_start(vm, s, e, 0), 0);
	assert_false(gpc_cache_check(&cg, 0, 8));
	assert_false(gpc_cache_check(&ch, 0, 8));
	assert_int_equal(munmap(hva, 2 * ps), 0);
	assert_int_equal(gpc_invalidate_range_end(vm, s, e), 0);
	assert_int_equal(gpc_cache_refresh(&cg, 8), -EFAULT);
	assert_int_equal(gpc_cache_refresh(&ch, 8), -EFAULT);
	assert_false(gpc_cache_check(&ch, 0, 8));
	assert_int_equal(gpc_cache_deactivate(&cg), 0);
	assert_int_equal(gpc_cache_deactivate(&ch), 0);
	assert_int_equal(gpc_cache_destroy(&cg), 0);
	assert_int_equal(gpc_cache_destroy(&ch), 0);
	assert_int_equal(gpc_vm_destroy(vm), 0);
	close(fd);
}

EACH_SCHEME(unmap_order)

/* ---- ops table ---------------------------------------------------------- */

static void test_ops_table_checked(void **state)
{
	struct gpc_hostmem_ops nulls = { 0 }, half = { 0 }, nounmap;
	struct gpc_vm_config cfg = { .scheme = GPC_SCHEME_SRCU };
	struct gpc_vm *vm = (struct gpc_vm *)&cfg;

	(void)state;
	cfg.hostmem = &nulls;
	assert_int_equal(gpc_vm_create(&cfg, &vm), -EINVAL);
	assert_ptr_equal(vm, (struct gpc_vm *)&cfg); /* untouched */
	half.translate = gpc_hostmem_direct_ops.translate;
	cfg.hostmem = &half;
	assert_int_equal(gpc_vm_create(&cfg, &vm), -EINVAL);
	half.translate = NULL;
	half.map = gpc_hostmem_direct_ops.map;
	assert_int_equal(gpc_vm_create(&cfg, &vm), -EINVAL);
	/* unmap is optional: the direct stage has nothing to undo. */
	nounmap = gpc_hostmem_direct_ops;
	nounmap.unmap = NULL;
	cfg.hostmem = &nounmap;
	assert_int_equal(gpc_vm_create(&cfg, &vm), 0);
	assert_int_equal(gpc_vm_destroy(vm), 0);
}

/* ---- import ------------------------------------------------------------- */

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	assert_non_null(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

static void test_import_args(void **state)
{
	struct gpc_hostmem *hm;
	int fd = memfd_pages("owned-args", 2), pfd[2], ro, before;
	char path[64];
	void *p = NULL;

	(void)state;
	assert_int_equal(gpc_hostmem_create(&hm), 0);
	assert_int_equal(pipe(pfd), 0);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	ro = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(ro >= 0);
	before = count_fds();
	assert_int_equal(gpc_hostmem_import(NULL, fd, 0, ps, 0, &p), -EINVAL);
	assert_int_equal(gpc_hostmem_import(hm, fd, 0, ps, 0, NULL), -EINVAL);
	assert_int_equal(gpc_hostmem_import(hm, fd, 0, 0, 0, &p), -EINVAL);
	assert_int_equal(gpc_hostmem_import(hm, fd, 0, ps, 0x80, &p), -EINVAL);
	assert_int_equal(gpc_hostmem_import(hm, fd, 100, ps, 0, &p), -EINVAL);
	assert_int_equal(gpc_hostmem_import(hm, fd, 0, ps + 1, 0, &p), -EINVAL);
	assert_int_equal(gpc_hostmem_import(hm, -1, 0, ps, 0, &p), -EBADF);
	assert_int_equal(gpc_hostmem_import(hm, 1 << 20, 0, ps, 0, &p), -EBADF);
	assert_int_equal(gpc_hostmem_import(hm, pfd[0], 0, ps, 0, &p), -ENODEV);
	assert_int_equal(gpc_hostmem_import(hm, ro, 0, ps, 0, &p), -ENODEV);
	assert_int_equal(gpc_hostmem_import(hm, fd, ps, 2 * ps, 0, &p), -ENXIO);
	assert_int_equal(gpc_hostmem_import(hm, fd, UINT64_MAX - ps + 1, ps, 0,
					    &p),
			 -ENXIO);
	assert_null(p);
	/* No state change: no region, no descriptor kept. */
	assert_int_equal(count_fds(), before);
	{
		int bfd;
		uint64_t off;

		assert_int_equal(gpc_hostmem_backing(hm, 0x10000, &bfd, &off),
				 -EFAULT);
	}
	assert_int_equal(gpc_hostmem_destroy(hm), 0);
	close(ro);
	close(pfd[0]);
	close(pfd[1]);
	close(fd);
}

/*
 * The manager keeps its own descriptor: the caller closes its fd at once,
 * the memory stays; gpc_hostmem_free() releases the duplicate; the change
 * helpers work on the region (migrate keeps the bytes, remap detaches the
 * range from the caller's file).
 */
static void test_import_lifecycle(void **state)
{
	struct gpc_hostmem *hm;
	int fd = memfd_pages("owned-life", 4), base_fds, bfd, keep;
	char *mine, *p;
	uint64_t off;
	void *v;

	(void)state;
	assert_int_equal(gpc_hostmem_create(&hm), 0);
	mine = mmap(NULL, 4 * ps, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	assert_true(mine != MAP_FAILED);
	memset(mine, 'm', 4 * ps);
	keep = dup(fd);
	base_fds = count_fds();
	assert_int_equal(gpc_hostmem_import(hm, fd, ps, 2 * ps, 0, &v), 0);
	p = v;
	assert_int_equal(count_fds(), base_fds + 1);
	close(fd);
	assert_true(p[0] == 'm' && p[2 * ps - 1] == 'm');
	p[0] = 'x';
	assert_true(mine[ps] == 'x');
	mine[ps + 1] = 'y';
	assert_true(p[1] == 'y');
	assert_int_equal(gpc_hostmem_backing(hm, A(p + ps + 3), &bfd, &off), 0);
	assert_true(bfd != fd && bfd != keep);
	assert_int_equal(off, 2 * ps + 3);
	/* Changes. */
	assert_int_equal(gpc_hostmem_migrate(NULL, hm, A(p), ps), 0);
	assert_true(p[0] == 'x' && p[1] == 'y');
	p[2] = 'z';
	assert_true(mine[ps + 2] == 'm'); /* new pages, not the caller's */
	assert_int_equal(gpc_hostmem_remap(NULL, hm, A(p + ps), ps), 0);
	assert_true(p[ps] == 0);
	assert_int_equal(gpc_hostmem_free(hm, p, ps), -EINVAL);
	assert_int_equal(gpc_hostmem_free(hm, p, 2 * ps), 0);
	assert_int_equal(count_fds(), base_fds - 1); /* dup gone, fd closed */
	/* The caller's memory is untouched by the release. */
	assert_true(mine[ps] == 'x' && mine[3 * ps] == 'm');
	assert_int_equal(gpc_hostmem_destroy(hm), 0);
	munmap(mine, 4 * ps);
	close(keep);
}

/* ---- import: another process owns the memory ----------------------------- */

#define CHILD_PAGES 4

static int send_fd(int sock, int fd)
{
	char byte = 'f', ctl[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { &byte, 1 };
	struct msghdr m = { .msg_iov = &iov,
			    .msg_iovlen = 1,
			    .msg_control = ctl,
			    .msg_controllen = sizeof(ctl) };
	struct cmsghdr *c;

	memset(ctl, 0, sizeof(ctl));
	c = CMSG_FIRSTHDR(&m);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	return sendmsg(sock, &m, 0) == 1 ? 0 : -1;
}

static int recv_fd(int sock)
{
	char byte, ctl[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { &byte, 1 };
	struct msghdr m = { .msg_iov = &iov,
			    .msg_iovlen = 1,
			    .msg_control = ctl,
			    .msg_controllen = sizeof(ctl) };
	struct cmsghdr *c;
	int fd;

	if (recvmsg(sock, &m, MSG_CMSG_CLOEXEC) != 1)
		return -1;
	c = CMSG_FIRSTHDR(&m);
	if (!c || c->cmsg_type != SCM_RIGHTS)
		return -1;
	memcpy(&fd, CMSG_DATA(c), sizeof(int));
	return fd;
}

static char ask(int sock, char what)
{
	char r = 0;

	if (write(sock, &what, 1) != 1 || read(sock, &r, 1) != 1)
		return 0;
	return r;
}

/*
 * The child: makes the memory, writes 'A' at the start of pages 1 and 2,
 * hands the fd over; on 'w' writes 'B' there; on 'c' checks that the
 * parent's writes (direct at page 1 + 8, alias at page 2 + 8) reached it.
 */
static void child(int sock)
{
	int fd = memfd_create("vhost-user-front-end", MFD_CLOEXEC);
	char *m, cmd, ok;

	if (fd < 0 || ftruncate(fd, CHILD_PAGES * (off_t)ps))
		_exit(2);
	m = mmap(NULL, CHILD_PAGES * ps, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		 0);
	if (m == MAP_FAILED)
		_exit(2);
	memset(m + ps, 'A', 8);
	memset(m + 2 * ps, 'A', 8);
	if (send_fd(sock, fd))
		_exit(2);
	close(fd);
	while (read(sock, &cmd, 1) == 1) {
		if (cmd == 'w') {
			memset(m + ps, 'B', 8);
			memset(m + 2 * ps, 'B', 8);
			ok = 'd';
		} else if (cmd == 'c') {
			ok = !memcmp(m + ps + 8, "direct!!", 8) &&
					     !memcmp(m + 2 * ps + 8, "alias!!!",
						     8) ?
				     'k' :
				     'f';
		} else {
			break;
		}
		if (write(sock, &ok, 1) != 1)
			_exit(2);
	}
	_exit(0);
}

/* One cache per stage on the imported pages 1 and 2 of the child's file. */
static void read_both(struct gpc_cache *d, struct gpc_cache *a, char c)
{
	char buf[8], exp[8];

	memset(exp, c, 8);
	assert_int_equal(gpc_cache_read(d, 0, buf, 8), 0);
	assert_memory_equal(buf, exp, 8);
	assert_int_equal(gpc_cache_read(a, 0, buf, 8), 0);
	assert_memory_equal(buf, exp, 8);
}

static void import_from_child(enum gpc_scheme scheme)
{
	struct gpc_vm *vd, *va;
	struct gpc_cache cd, ca;
	struct gpc_hostmem *hm;
	int sv[2], fd, status;
	struct gpc_guard g;
	char *hva, *k;
	pid_t pid;
	void *v;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
			 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(sv[0]);
		child(sv[1]);
	}
	close(sv[1]);
	fd = recv_fd(sv[0]);
	assert_true(fd >= 0);
	assert_int_equal(gpc_hostmem_create(&hm), 0);
	/* Pages 1..2 of the child's file, as ADD_MEM_REG's mmap_offset. */
	assert_int_equal(gpc_hostmem_import(hm, fd, ps, 2 * ps, 0, &v), 0);
	close(fd);
	hva = v;
	vd = vm_new(scheme, &gpc_hostmem_direct_ops, hm);
	va = vm_new(scheme, &gpc_hostmem_alias_ops, hm);
	assert_int_equal(gpc_memslot_create(vd, 0, GPA, 2 * ps, A(hva), 0), 0);
	assert_int_equal(gpc_memslot_create(va, 0, GPA, 2 * ps, A(hva), 0), 0);
	assert_int_equal(gpc_cache_init(&cd, vd, GPC_USAGE_HOST, NULL, 0), 0);
	assert_int_equal(gpc_cache_init(&ca, va, GPC_USAGE_HOST, NULL, 0), 0);
	assert_int_equal(gpc_cache_activate_gpa(&cd, GPA, 16), 0);
	assert_int_equal(gpc_cache_activate_gpa(&ca, GPA + ps, 16), 0);
	k = gpc_cache_begin(&ca, 0, 16, &g);
	assert_non_null(k);
	assert_true(k != hva + ps); /* an alias, not the hva */
	gpc_cache_end(&ca, &g);
	read_both(&cd, &ca, 'A');
	/* The child writes while the caches stay valid: same pages. */
	assert_int_equal(ask(sv[0], 'w'), 'd');
	read_both(&cd, &ca, 'B');
	assert_int_equal(gpc_cache_write(&cd, 8, "direct!!", 8), 0);
	assert_int_equal(gpc_cache_write(&ca, 8, "alias!!!", 8), 0);
	assert_int_equal(ask(sv[0], 'c'), 'k');
	close(sv[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(gpc_cache_deactivate(&cd), 0);
	assert_int_equal(gpc_cache_deactivate(&ca), 0);
	assert_int_equal(gpc_cache_destroy(&cd), 0);
	assert_int_equal(gpc_cache_destroy(&ca), 0);
	assert_int_equal(gpc_vm_destroy(vd), 0);
	assert_int_equal(gpc_vm_destroy(va), 0);
	assert_int_equal(gpc_hostmem_free(hm, hva, 2 * ps), 0);
	assert_int_equal(gpc_hostmem_destroy(hm), 0);
}

EACH_SCHEME(import_from_child)

/*
 * A writer in another process that does not stop: the child bumps a
 * counter in its memfd as fast as it can; the parent reads it through an
 * alias-stage and a direct-stage cache on the imported region. Each sees it
 * never go back and sees it move (a copy instead of a shared mapping would
 * show a frozen value). Bounded: at most 2 s of reading.
 */
static void counter_child(int sock)
{
	int fd = memfd_create("vhost-user-counter", MFD_CLOEXEC);
	_Atomic uint64_t *ctr;
	uint64_t i = 0;
	char c;

	if (fd < 0 || ftruncate(fd, (off_t)ps))
		_exit(2);
	ctr = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (ctr == MAP_FAILED || send_fd(sock, fd))
		_exit(2);
	if (fcntl(sock, F_SETFL, O_NONBLOCK))
		_exit(2);
	for (;;) {
		atomic_store_explicit(ctr, ++i, memory_order_release);
		if (!(i & 1023) && read(sock, &c, 1) != -1)
			_exit(0); /* told to stop (or the parent is gone) */
		if (i >= (1ull << 40))
			_exit(3);
	}
}

static uint64_t read_ctr(struct gpc_cache *c)
{
	struct gpc_guard g;
	_Atomic uint64_t *p;
	uint64_t v;

	while (!(p = gpc_cache_begin(c, 0, 8, &g)))
		assert_int_equal(gpc_cache_refresh(c, 8), 0);
	v = atomic_load_explicit(p, memory_order_acquire);
	gpc_cache_end(c, &g);
	return v;
}

static void import_concurrent_writer(enum gpc_scheme scheme)
{
	const struct gpc_hostmem_ops *ops[2] = { &gpc_hostmem_direct_ops,
						 &gpc_hostmem_alias_ops };
	struct gpc_hostmem *hm;
	struct gpc_vm *vm[2];
	struct gpc_cache c[2];
	uint64_t last[2] = { 0, 0 }, moved[2] = { 0, 0 }, t0;
	int sv[2], fd, status, i;
	pid_t pid;
	void *v;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
			 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(sv[0]);
		counter_child(sv[1]);
	}
	close(sv[1]);
	fd = recv_fd(sv[0]);
	assert_true(fd >= 0);
	assert_int_equal(gpc_hostmem_create(&hm), 0);
	assert_int_equal(gpc_hostmem_import(hm, fd, 0, ps, 0, &v), 0);
	close(fd);
	for (i = 0; i < 2; i++) {
		vm[i] = vm_new(scheme, ops[i], hm);
		assert_int_equal(gpc_memslot_create(vm[i], 0, GPA, ps, A(v), 0),
				 0);
		assert_int_equal(gpc_cache_init(&c[i], vm[i], GPC_USAGE_HOST,
						NULL, GPC_CACHE_READONLY),
				 0);
		assert_int_equal(gpc_cache_activate_gpa(&c[i], GPA, 8), 0);
	}
	t0 = test_now_ns();
	while ((moved[0] < 100 || moved[1] < 100) &&
	       test_now_ns() - t0 < 2000000000ull) {
		for (i = 0; i < 2; i++) {
			uint64_t x = read_ctr(&c[i]);

			assert_true(x >= last[i]);
			moved[i] += x > last[i];
			last[i] = x;
		}
	}
	assert_int_equal(write(sv[0], "q", 1), 1);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	close(sv[0]);
	assert_true(moved[0] >= 2 && moved[1] >= 2);
	for (i = 0; i < 2; i++) {
		assert_int_equal(gpc_cache_deactivate(&c[i]), 0);
		assert_int_equal(gpc_cache_destroy(&c[i]), 0);
		assert_int_equal(gpc_vm_destroy(vm[i]), 0);
	}
	assert_int_equal(gpc_hostmem_destroy(hm), 0);
}

EACH_SCHEME(import_concurrent_writer)

/* ---- huge pages ----------------------------------------------------------- */

static void test_window_math(void **state)
{
	const uint64_t M2 = 2ull << 20, G1 = 1ull << 30;
	uint64_t wo, wl;

	(void)state;
	/* Inside one 2 MiB page. */
	assert_int_equal(
		gpci_hostmem_window(3 * M2 / 2 + 4096, 8192, M2, &wo, &wl), 0);
	assert_int_equal(wo, M2);
	assert_int_equal(wl, M2);
	/* Across a 2 MiB boundary: two huge pages. */
	assert_int_equal(gpci_hostmem_window(M2 - 4096, 8192, M2, &wo, &wl), 0);
	assert_int_equal(wo, 0);
	assert_int_equal(wl, 2 * M2);
	/* Already aligned: exactly the range. */
	assert_int_equal(gpci_hostmem_window(4 * M2, 2 * M2, M2, &wo, &wl), 0);
	assert_int_equal(wo, 4 * M2);
	assert_int_equal(wl, 2 * M2);
	/* 1 GiB pages; base pages give the page range. */
	assert_int_equal(gpci_hostmem_window(G1 + 5, 1, G1, &wo, &wl), 0);
	assert_true(wo == G1 && wl == G1);
	assert_int_equal(gpci_hostmem_window(ps + 5, ps, ps, &wo, &wl), 0);
	assert_true(wo == ps && wl == 2 * ps);
	/* Bad input. */
	assert_int_equal(gpci_hostmem_window(0, 1, 3 * 4096, &wo, &wl),
			 -EINVAL);
	assert_int_equal(gpci_hostmem_window(0, 1, 0, &wo, &wl), -EINVAL);
	assert_int_equal(gpci_hostmem_window(0, 0, M2, &wo, &wl), -EINVAL);
	assert_int_equal(gpci_hostmem_window(UINT64_MAX - 10, 5, M2, &wo, &wl),
			 -EFAULT);
}

static void test_page_size_of(void **state)
{
	const long hmagic = (long)(int32_t)HUGETLBFS_MAGIC;

	(void)state;
	assert_int_equal(gpci_hostmem_page_size_of(HUGETLBFS_MAGIC, 2l << 20,
						   4096),
			 2ull << 20);
	/* f_type sign-extended (as a 32-bit long would carry it). */
	assert_int_equal(gpci_hostmem_page_size_of(hmagic, 1l << 30, 4096),
			 1ull << 30);
	/* tmpfs (memfd, THP or not) pages are base pages. */
	assert_int_equal(gpci_hostmem_page_size_of(TMPFS_MAGIC, 4096, 4096),
			 4096);
	assert_int_equal(gpci_hostmem_page_size_of(TMPFS_MAGIC, 2l << 20, 4096),
			 4096);
	/* Nonsense from hugetlbfs falls back to the base page. */
	assert_int_equal(gpci_hostmem_page_size_of(HUGETLBFS_MAGIC, 3000, 4096),
			 4096);
	assert_int_equal(gpci_hostmem_page_size_of(HUGETLBFS_MAGIC, 0, 4096),
			 4096);
	assert_int_equal(gpci_hostmem_page_size_of(HUGETLBFS_MAGIC, 3l << 20,
						   4096),
			 4096);
}

/*
 * A hugetlbfs memfd with one huge page, or skip saying why. mmap() of a
 * shared hugetlb mapping reserves the pages, so no huge pages means ENOMEM
 * there and never a SIGBUS later; MADV_POPULATE_WRITE touches it.
 */
static int hugetlb_memfd(uint64_t *hps, char **map)
{
	struct statfs sfs;
	int fd = memfd_create("owned-huge", MFD_CLOEXEC | MFD_HUGETLB);
	void *p;

	if (fd < 0) {
		print_message("skip: memfd_create(MFD_HUGETLB): %s\n",
			      strerror(errno));
		return -1;
	}
	assert_int_equal(fstatfs(fd, &sfs), 0);
	*hps = (uint64_t)sfs.f_bsize;
	if (ftruncate(fd, (off_t)*hps)) {
		print_message("skip: ftruncate(hugetlb): %s\n",
			      strerror(errno));
		close(fd);
		return -1;
	}
	p = mmap(NULL, *hps, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED ||
	    madvise(p, *hps, MADV_POPULATE_WRITE) /* older kernels: touch */) {
		print_message("skip: no huge page could be allocated (%s; "
			      "see /proc/sys/vm/nr_hugepages)\n",
			      strerror(errno));
		if (p != MAP_FAILED)
			munmap(p, *hps);
		close(fd);
		return -1;
	}
	*map = p;
	return fd;
}

static void hugetlb_both_stages(enum gpc_scheme scheme)
{
	struct gpc_hostmem *hm;
	struct gpc_vm *vd, *va;
	uint64_t hps = 0;
	char *mine = NULL, *hva, buf[8];
	struct gpc_cache c;
	struct gpc_guard g;
	char *k;
	void *v;
	int fd = hugetlb_memfd(&hps, &mine);

	if (fd < 0)
		skip();
	memset(mine, 'h', hps);
	assert_int_equal(gpc_hostmem_create(&hm), 0);
	/* Offsets and sizes in whole huge pages only. */
	assert_int_equal(gpc_hostmem_import(hm, fd, ps, ps, 0, &v), -EINVAL);
	assert_int_equal(gpc_hostmem_import(hm, fd, 0, hps, 0, &v), 0);
	hva = v;
	/* The direct stage on the caller's own hugetlb mapping. */
	vd = vm_new(scheme, NULL, NULL);
	assert_int_equal(gpc_memslot_create(vd, 0, GPA, hps, A(mine), 0), 0);
	assert_int_equal(gpc_cache_init(&c, vd, GPC_USAGE_HOST, NULL, 0), 0);
	assert_int_equal(gpc_cache_activate_gpa(&c, GPA + hps / 2 - 8, 16), 0);
	assert_int_equal(gpc_cache_write(&c, 0, "direct!!", 8), 0);
	assert_int_equal(gpc_cache_deactivate(&c), 0);
	assert_int_equal(gpc_cache_destroy(&c), 0);
	assert_memory_equal(hva + hps / 2 - 8, "direct!!", 8);
	/* The alias stage maps a whole huge page and unmaps it again. */
	va = vm_new(scheme, &gpc_hostmem_alias_ops, hm);
	assert_int_equal(gpc_memslot_create(va, 0, GPA, hps, A(hva), 0), 0);
	assert_int_equal(gpc_cache_init(&c, va, GPC_USAGE_HOST, NULL, 0), 0);
	assert_int_equal(gpc_cache_activate_gpa(&c, GPA + hps / 2 - 8, 16), 0);
	k = gpc_cache_begin(&c, 0, 16, &g);
	assert_non_null(k);
	assert_true(k != hva + hps / 2 - 8);
	assert_int_equal(((uintptr_t)k + 8) % hps, hps / 2);
	assert_memory_equal(k, "direct!!", 8);
	memcpy(k + 8, "alias!!!", 8);
	gpc_cache_end(&c, &g);
	assert_int_equal(atomic_load(&hm->nwin), 1);
	assert_memory_equal(mine + hps / 2, "alias!!!", 8);
	/* A change must cover whole huge pages. */
	assert_int_equal(gpc_hostmem_discard(va, hm, A(hva), ps), -EINVAL);
	assert_int_equal(gpc_hostmem_discard(va, hm, A(hva), hps), 0);
	assert_int_equal(gpc_cache_read(&c, 0, buf, 8), 0);
	assert_memory_equal(buf, "\0\0\0\0\0\0\0\0", 8);
	assert_int_equal(gpc_cache_deactivate(&c), 0);
	assert_int_equal(gpc_cache_destroy(&c), 0);
	assert_int_equal(gpc_vm_destroy(va), 0);
	assert_int_equal(atomic_load(&hm->nwin), 0);
	assert_int_equal(gpc_vm_destroy(vd), 0);
	assert_int_equal(gpc_hostmem_destroy(hm), 0);
	munmap(mine, hps);
	close(fd);
}

EACH_SCHEME(hugetlb_both_stages)

/*
 * The huge-window path without huge pages: a tmpfs file whose recorded page
 * size is made 4 base pages (as fstatfs() reports a hugetlbfs page). The
 * alias window must cover whole "pages", be remembered for unmap, and be
 * gone after the cache is; changes must be whole "pages".
 */
static void big_page_windows(enum gpc_scheme scheme)
{
	const uint64_t big = 4 * ps;
	int fd = memfd_pages("owned-big", 8);
	struct gpc_hostmem *hm;
	struct gpc_hostmem_ops ops;
	struct gpc_vm *va;
	struct gpc_cache c;
	struct gpc_guard g;
	char *hva, *k;
	void *v;

	assert_int_equal(gpc_hostmem_create(&hm), 0);
	assert_int_equal(gpc_hostmem_import(hm, fd, 0, 8 * ps, 0, &v), 0);
	hva = v;
	memset(hva, 'w', 8 * ps);
	pthread_mutex_lock(&hm->lock);
	hm->regions[0].pgsize = big;
	hm->regions[0].ext[0].file->pgsize = big;
	pthread_mutex_unlock(&hm->lock);
	ops = gpc_hostmem_alias_ops;
	va = vm_new(scheme, &ops, hm);
	assert_int_equal(gpc_memslot_create(va, 0, GPA, 8 * ps, A(hva), 0), 0);
	assert_int_equal(gpc_cache_init(&c, va, GPC_USAGE_HOST, NULL, 0), 0);
	/* Base pages 3 and 4: "big pages" 0 and 1, a window of 8 pages. */
	assert_int_equal(gpc_cache_activate_gpa(&c, GPA + 4 * ps - 8, 16), 0);
	k = gpc_cache_begin(&c, 0, 16, &g);
	assert_non_null(k);
	memcpy(k, "windows!", 8);
	gpc_cache_end(&c, &g);
	assert_memory_equal(hva + 4 * ps - 8, "windows!", 8);
	pthread_mutex_lock(&hm->lock);
	assert_int_equal(atomic_load(&hm->nwin), 1);
	assert_int_equal(hm->win[0].len, 8 * ps);
	assert_int_equal(A(k) - hm->win[0].base, 4 * ps - 8);
	pthread_mutex_unlock(&hm->lock);
	/* Changes in whole "pages" only. */
	assert_int_equal(gpc_hostmem_protect(va, hm, A(hva), ps, PROT_READ),
			 -EINVAL);
	assert_int_equal(gpc_hostmem_protect(va, hm, A(hva), big, PROT_READ),
			 0);
	assert_int_equal(gpc_hostmem_protect(va, hm, A(hva), big,
					     PROT_READ | PROT_WRITE),
			 0);
	assert_int_equal(gpc_cache_deactivate(&c), 0);
	assert_int_equal(gpc_cache_destroy(&c), 0);
	assert_int_equal(gpc_vm_destroy(va), 0); /* waits for the unmap */
	assert_int_equal(atomic_load(&hm->nwin), 0);
	assert_int_equal(gpc_hostmem_destroy(hm), 0);
	close(fd);
}

EACH_SCHEME(big_page_windows)

/* Whether shmem may use transparent huge pages here, or why not. */
static bool shmem_thp_possible(void)
{
	FILE *f =
		fopen("/sys/kernel/mm/transparent_hugepage/shmem_enabled", "r");
	char line[256] = "";

	if (!f) {
		print_message(
			"skip: no shmem_enabled (no THP in this kernel)\n");
		return false;
	}
	if (!fgets(line, sizeof(line), f))
		line[0] = 0;
	fclose(f);
	if (strstr(line, "[never]") || strstr(line, "[deny]") || !line[0]) {
		print_message(
			"skip: shmem THP is off here (shmem_enabled: %s)\n",
			line);
		return false;
	}
	return true;
}

/*
 * A THP-backed memfd: the caller's mapping advised MADV_HUGEPAGE, the
 * import with GPC_HOSTMEM_HUGEPAGE; both stages work in base pages on it.
 */
static void thp_both_stages(enum gpc_scheme scheme)
{
	const size_t len = 4ull << 20;
	struct gpc_hostmem *hm;
	struct gpc_vm *vd, *va;
	struct gpc_cache c;
	char *mine, *hva, buf[8];
	void *v;
	int fd;

	if (!shmem_thp_possible())
		skip();
	fd = memfd_create("owned-thp", MFD_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)len), 0);
	mine = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	assert_true(mine != MAP_FAILED);
	assert_int_equal(madvise(mine, len, MADV_HUGEPAGE), 0);
	memset(mine, 't', len);
	assert_int_equal(gpc_hostmem_create(&hm), 0);
	assert_int_equal(gpc_hostmem_import(hm, fd, 0, len,
					    GPC_HOSTMEM_HUGEPAGE, &v),
			 0);
	hva = v;
	vd = vm_new(scheme, NULL, NULL);
	va = vm_new(scheme, &gpc_hostmem_alias_ops, hm);
	assert_int_equal(gpc_memslot_create(vd, 0, GPA, len, A(mine), 0), 0);
	assert_int_equal(gpc_memslot_create(va, 0, GPA, len, A(hva), 0), 0);
	assert_int_equal(gpc_cache_init(&c, vd, GPC_USAGE_HOST, NULL, 0), 0);
	assert_int_equal(gpc_cache_activate_gpa(&c, GPA + (2 << 20) - 4, 8), 0);
	assert_int_equal(gpc_cache_write(&c, 0, "thp-dir!", 8), 0);
	assert_int_equal(gpc_cache_deactivate(&c), 0);
	assert_int_equal(gpc_cache_destroy(&c), 0);
	assert_int_equal(gpc_cache_init(&c, va, GPC_USAGE_HOST, NULL, 0), 0);
	assert_int_equal(gpc_cache_activate_gpa(&c, GPA + (2 << 20) - 4, 8), 0);
	assert_int_equal(gpc_cache_read(&c, 0, buf, 8), 0);
	assert_memory_equal(buf, "thp-dir!", 8);
	assert_int_equal(gpc_cache_deactivate(&c), 0);
	assert_int_equal(gpc_cache_destroy(&c), 0);
	assert_int_equal(gpc_vm_destroy(vd), 0);
	assert_int_equal(gpc_vm_destroy(va), 0);
	assert_int_equal(gpc_hostmem_destroy(hm), 0);
	munmap(mine, len);
	close(fd);
}

EACH_SCHEME(thp_both_stages)

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_direct_two_memfds),
		cmocka_unit_test(test_direct_reversed_offsets),
		cmocka_unit_test(test_direct_anonymous),
		cmocka_unit_test(test_direct_needs_mapped),
		cmocka_unit_test(test_unmap_order),
		cmocka_unit_test(test_ops_table_checked),
		cmocka_unit_test(test_import_args),
		cmocka_unit_test(test_import_lifecycle),
		cmocka_unit_test(test_import_from_child),
		cmocka_unit_test(test_import_concurrent_writer),
		cmocka_unit_test(test_window_math),
		cmocka_unit_test(test_page_size_of),
		cmocka_unit_test(test_big_page_windows),
		cmocka_unit_test(test_hugetlb_both_stages),
		cmocka_unit_test(test_thp_both_stages),
	};

	ps = (size_t)sysconf(_SC_PAGESIZE);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
