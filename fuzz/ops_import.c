// SPDX-License-Identifier: MIT
/*
 * fuzz/ops_import.c - memory the caller owns, imported by descriptor
 * (FZ_OP_IMPORT): gpc_hostmem_import() of a window of a memfd, with the
 * argument picked by the input good or bad (each bad one has its errno in
 * hostmem.h), then a vm of its own on that manager, in either stage and
 * either scheme, with a memslot over the imported window. Bytes written
 * through the descriptor must be what a cache and a translation see, and
 * bytes written through a cache must be what the descriptor reads, after
 * the caller closed its own descriptor (the manager keeps a duplicate).
 *
 * Like FZ_OP_DOMAIN, it lives for one operation on objects of its own, so
 * the first vm's model is not disturbed; not run inside a held access
 * (its vm's destroy would be refused there).
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "checks.h"
#include "decoder.h"
#include "model.h"
#include "ops.h"
#include "report.h"
#include "runtime.h"

#define IMP_PAGES 8u
#define IMP_GPA	  (GBASE + 512 * PG)

/*
 * The descriptor, offset and size to import: a: bits 2-4 pick a bad
 * argument (0-3: none); b: offset in pages; c: size in pages. Returns the
 * errno gpc_hostmem_import() must give.
 */
static int import_args(const uint8_t *a, int memfd, int pipefd, int *fd,
		       uint64_t *off, uint64_t *size, uint32_t *flags)
{
	unsigned int pick = (a[0] >> 2) & 7;

	*fd = memfd;
	*off = (a[1] % (IMP_PAGES + 2)) * PG;
	*size = (a[2] % (IMP_PAGES + 2)) * PG;
	*flags = 0;
	if (pick >= 4) {
		/* One bad argument among good ones: its errno is the answer. */
		*off = 0;
		*size = PG;
	}
	switch (pick) {
	case 4:
		*fd = -1;
		return -EBADF;
	case 5:
		*fd = pipefd;
		return -ENODEV;
	case 6:
		*off += 1 + a[3] % (PG - 1);
		return -EINVAL;
	case 7:
		*flags = 1u << (2 + a[3] % 29); /* no such flag */
		return -EINVAL;
	}
	if (!*size)
		return -EINVAL;
	if (*off + *size > IMP_PAGES * PG)
		return -ENXIO;
	return 0;
}

/* Through the descriptor, then through a cache and a translation. */
static void fd_to_guest(struct gpc_vm *vm, int fd, uint64_t foff, uint64_t size,
			const uint8_t *a)
{
	struct gpc_cache c;
	uint64_t pg = a[3] % (size / PG), len = IMP_PAGES * PG;
	void *p;

	for (uint64_t i = 0; i < PG; i++)
		buf[i] = (uint8_t)(a[3] + i * 13);
	if (pwrite(fd, buf, PG, (off_t)(foff + pg * PG)) != (ssize_t)PG)
		fail("import: pwrite to the memfd failed");
	memset(&c, 0, sizeof(c));
	expect_err("import: gpc_cache_init",
		   gpc_cache_init(&c, vm, GPC_USAGE_HOST, NULL, 0), 0);
	expect_err("import: gpc_cache_activate_gpa",
		   gpc_cache_activate_gpa(&c, IMP_GPA + pg * PG, PG), 0);
	memset(buf2, 0, PG);
	expect_err("import: gpc_cache_read", gpc_cache_read(&c, 0, buf2, PG),
		   0);
	if (memcmp(buf, buf2, PG))
		fail("import: a cache does not see what the fd wrote");
	/* More than the slot has left: clipped at its end. */
	gpc_srcu_read_lock(gpc_vm_srcu(vm));
	expect_err("import: gpc_translate_gpa",
		   gpc_translate_gpa(vm, IMP_GPA + pg * PG, &len, 0, &p), 0);
	if (len != size - pg * PG || memcmp(p, buf, PG))
		fail("import: translation: %llu bytes, or other bytes",
		     (unsigned long long)len);
	gpc_srcu_read_unlock(gpc_vm_srcu(vm));
	/* And back: a cache write is what the descriptor reads. */
	for (uint64_t i = 0; i < PG; i++)
		buf[i] = (uint8_t)~buf[i];
	expect_err("import: gpc_cache_write", gpc_cache_write(&c, 0, buf, PG),
		   0);
	if (pread(fd, buf2, PG, (off_t)(foff + pg * PG)) != (ssize_t)PG ||
	    memcmp(buf, buf2, PG))
		fail("import: the fd does not read what a cache wrote");
	expect_err("import: gpc_cache_destroy", gpc_cache_destroy(&c), 0);
}

/* A vm on @hm with one slot over the imported window, used and torn down. */
static void use_import(struct gpc_hostmem *hm, const uint8_t *a, int fd,
		       uint64_t off, uint64_t size, void *hva)
{
	struct gpc_vm_config vc = { 0 };
	struct gpc_vm *vm;

	vc.scheme = a[0] & 2 ? GPC_SCHEME_RWLOCK : GPC_SCHEME_SRCU;
	vc.hostmem = a[0] & 1 ? &gpc_hostmem_alias_ops :
				&gpc_hostmem_direct_ops;
	vc.hostmem_ctx = hm;
	vc.name = "fuzz-import";
	expect_err("import: gpc_vm_create", gpc_vm_create(&vc, &vm), 0);
	expect_err("import: gpc_memslot_create",
		   gpc_memslot_create(vm, 0, IMP_GPA, size,
				      (uint64_t)(uintptr_t)hva, 0),
		   0);
	fd_to_guest(vm, fd, off, size, a);
	/* The documented order: out of the table, then the memory goes. */
	expect_err("import: gpc_memslot_delete", gpc_memslot_delete(vm, 0), 0);
	expect_err("import: gpc_vm_destroy", gpc_vm_destroy(vm), 0);
}

/*
 * a: bit 0 stage (0 direct, 1 alias); bit 1 scheme; bits 2-4 bad
 * argument (4-7); b: offset pages; c: size pages; d: pattern.
 */
void op_import(const uint8_t *a)
{
	struct gpc_hostmem *hm;
	int memfd, keep, pipefd[2], fd, want;
	uint64_t off, size;
	uint32_t flags;
	void *hva = NULL;

	if (m.held >= 0)
		return;
	memfd = memfd_create("fuzz-import", MFD_CLOEXEC);
	if (memfd < 0 || ftruncate(memfd, IMP_PAGES * PG) ||
	    pipe2(pipefd, O_CLOEXEC))
		fail("import: memfd or pipe: %s", strerror(errno));
	expect_err("import: gpc_hostmem_create", gpc_hostmem_create(&hm), 0);
	want = import_args(a, memfd, pipefd[0], &fd, &off, &size, &flags);
	expect_err("import: gpc_hostmem_import",
		   gpc_hostmem_import(hm, fd, off, size, flags, &hva), want);
	close(pipefd[0]);
	close(pipefd[1]);
	/* The caller's descriptor may go: the manager holds its own. */
	keep = dup(memfd);
	close(memfd);
	if (!want) {
		use_import(hm, a, keep, off, size, hva);
		expect_err("import: gpc_hostmem_free",
			   gpc_hostmem_free(hm, hva, size), 0);
		expect_err("import: gpc_hostmem_free (again)",
			   gpc_hostmem_free(hm, hva, size), -EINVAL);
	}
	close(keep);
	expect_err("import: gpc_hostmem_destroy", gpc_hostmem_destroy(hm), 0);
}
