// SPDX-License-Identifier: MIT
/*
 * examples/owned_memory.c - libgpc on memory the application owns.
 *
 * The shape of a vhost-user back-end: the front-end (QEMU) hands us guest
 * RAM as file descriptors plus a memory table, rings point into it by
 * guest-physical (or front-end virtual) address, and a datapath thread
 * reads and writes guest buffers while the control thread applies memory
 * table changes and, during migration, reports which pages it dirtied.
 *
 * What the program does, step by step (each step is commented below):
 *  1. creates a memfd and maps it itself: libgpc's default "direct" stage
 *     uses our mapping as it is, nothing is copied or remapped;
 *  2. creates a vm and a memslot listener that prints every change;
 *  3. adds two memslots (with front-end "user addresses") in ONE
 *     transaction, one of them with dirty logging on;
 *  4. starts a datapath thread that translates guest-physical addresses
 *     inside read sections and writes through them, and also uses a
 *     host-usage cache for the one address it uses all the time;
 *  5. meanwhile splits a slot in one transaction (readers see the old
 *     table or the new one, never half of the change);
 *  6. removes a region in the unmap order libgpc documents;
 *  7. harvests the dirty log into a vhost-user-format log buffer;
 *  8. checks every result and exits non-zero on any mismatch.
 *
 * Usage: owned_memory [rwlock] | --version
 *   rwlock  caches use the reader-writer lock scheme instead of SRCU +
 *           seqcount (translations always use the vm's SRCU domain).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memfd_create */
#endif
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <gpc/gpc.h>

#define MIB	  (1ull << 20)
#define KIB	  (1ull << 10)
#define FILE_SIZE (4 * MIB) /* the memfd: our "guest RAM" file */

/*
 * The guest-physical map. Slot 1 is right after slot 0 in guest-physical
 * space but NOT in host memory (it maps the file at offset 2 MiB), so a
 * buffer that crosses 0x100000 needs two host pieces.
 *
 *   gpa 0x000000-0x0fffff  slot 0  file offset 0      uaddr FE_BASE
 *   gpa 0x100000-0x1fffff  slot 1  file offset 2 MiB  uaddr FE_BASE + 1 MiB
 *                                  (dirty logging on)
 */
#define GPA0	0x000000ull
#define GPA1	0x100000ull
#define SLOT_SZ MIB
#define OFF1	(2 * MIB)
/* Where the front-end mapped the same regions (its virtual addresses). */
#define FE_BASE 0x7f0000000000ull

/* The addresses the datapath uses (all in slot 1, except the iov one). */
#define GPA_DESC  (GPA1 + 0x5000) /* a "descriptor buffer": page 5 of slot 1 */
#define GPA_CROSS (GPA1 - 64)	  /* 128 bytes across the slot boundary */
#define GPA_USED  (GPA1 + 0x9010) /* a "used index", via a cache: page 9 */
#define CROSS_LEN 128

static struct gpc_vm *vm;
static uint8_t *ram;	      /* our mapping of the whole file */
static struct gpc_cache used; /* caches GPA_USED; embedded, never copied */
static atomic_int stop, failed;
static atomic_ulong rounds, misses; /* datapath progress, translate misses */

/* The listener's record of what it was told, checked by main(). */
#define MAX_SEEN 16
static unsigned int seen_ops[MAX_SEEN], nseen, ncommits;

#define CHECK(cond)                                                   \
	do {                                                          \
		if (!(cond)) {                                        \
			fprintf(stderr,                               \
				"owned_memory: %s:%d: check failed: " \
				"%s\n",                               \
				__FILE__, __LINE__, #cond);           \
			atomic_store(&failed, 1);                     \
		}                                                     \
	} while (0)

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* ---- 2. a listener: told about every committed change ----------------- */

static const char *op_name(uint32_t op)
{
	switch (op) {
	case GPC_MEMSLOT_CHANGE_ADD:
		return "add";
	case GPC_MEMSLOT_CHANGE_DELETE:
		return "delete";
	case GPC_MEMSLOT_CHANGE_MOVE:
		return "move";
	case GPC_MEMSLOT_CHANGE_FLAGS:
		return "flags";
	case GPC_MEMSLOT_CHANGE_REPLACE:
		return "replace";
	}
	return "?";
}

/*
 * Called once per commit, after the new table is published, with all of
 * the commit's changes at once: a device model (or the KVM binding, which is
 * a listener too) applies them as one update. It runs with the writers'
 * lock held, so it must not change memslots itself (that returns -EDEADLK).
 */
static void on_commit(void *ctx, struct gpc_vm *v,
		      const struct gpc_memslot_change *c, unsigned int n,
		      uint64_t gen)
{
	(void)ctx;
	(void)v;
	ncommits++;
	printf("listener: commit, generation %" PRIu64 ", %u change(s)\n", gen,
	       n);
	for (unsigned int i = 0; i < n; i++) {
		const struct gpc_memslot_desc *d =
			c[i].op == GPC_MEMSLOT_CHANGE_DELETE ? &c[i].old_slot :
							       &c[i].new_slot;

		printf("  %-7s slot %u: gpa %#" PRIx64 " size %#" PRIx64
		       " uaddr %#" PRIx64 "%s\n",
		       op_name(c[i].op), d->id, d->gpa, d->size, d->uaddr,
		       d->flags & GPC_MEMSLOT_LOG_DIRTY ? " (logging)" : "");
		if (nseen < MAX_SEEN)
			seen_ops[nseen++] = c[i].op;
	}
}

/* Registered by address: it must stay alive until listener_remove(). */
static struct gpc_memslot_listener listener = { .commit = on_commit };

/* ---- 4. the datapath thread ------------------------------------------- */

/*
 * One "request": everything between gpc_srcu_read_lock() and _unlock() on
 * the vm's domain may use the pointers the translations return; a memslot
 * change or an invalidation waits for the section before it returns, so
 * the memory cannot be unmapped under us. Outside the section the pointers
 * are dead: translate again next time.
 */
static void one_request(unsigned long n)
{
	struct gpc_srcu *d = gpc_vm_srcu(vm);
	struct iovec iov[4];
	uint64_t len = 8, done = 0, *p, *q;
	int cnt;

	gpc_srcu_read_lock(d);

	/*
	 * GPA -> pointer. GPC_TRANSLATE_WRITE: we write, so a read-only slot
	 * would be refused, and on a logging slot the pages are marked dirty.
	 * The write must stay inside this section (a harvest waits for it).
	 */
	if (gpc_translate_gpa(vm, GPA_DESC, &len, GPC_TRANSLATE_WRITE,
			      (void **)&p) == 0 &&
	    len == 8) {
		*p = n;
		/*
		 * The same byte by its front-end virtual address (how
		 * vhost-user gives ring addresses): a read-only translation
		 * of another address space, same memory.
		 */
		len = 8;
		if (gpc_translate_uaddr(vm, FE_BASE + (GPA_DESC - GPA0), &len,
					0, (void **)&q) ||
		    q != p || *q != n)
			atomic_store(&failed, 1);
	} else {
		atomic_fetch_add(&misses, 1);
	}

	/*
	 * A buffer that crosses from slot 0 (or, after the split, slot 3)
	 * into slot 1: the scatter form returns one iovec per host-contiguous
	 * piece. -ENOENT once the main thread has removed the region under
	 * its first half: a miss, which a back-end would report to the
	 * guest as a bad descriptor.
	 */
	cnt = gpc_translate_gpa_iov(vm, GPA_CROSS, CROSS_LEN,
				    GPC_TRANSLATE_WRITE, iov, 4, &done);
	if (cnt > 0) {
		if (cnt != 2 || iov[0].iov_len != 64 || iov[1].iov_len != 64)
			atomic_store(&failed, 1);
		for (int i = 0; i < cnt; i++)
			memset(iov[i].iov_base, (int)(0xa0 + i),
			       iov[i].iov_len);
	} else {
		atomic_fetch_add(&misses, 1);
	}

	gpc_srcu_read_unlock(d); /* p, q and iov[] are dead from here on */
}

/*
 * An address used on every request (a ring's used index) is better kept in
 * a cache: no lookup at all on a hit. A miss means the translation changed;
 * refresh (it may sleep, so never inside a section) and try again.
 */
static void bump_used(void)
{
	for (int tries = 0; tries < 100; tries++) {
		struct gpc_guard g;
		uint64_t *p = gpc_cache_begin(&used, 0, 8, &g);

		if (p) {
			(*p)++;
			gpc_cache_end(&used, &g);
			return;
		}
		if (gpc_cache_refresh(&used, 0))
			break;
	}
	atomic_store(&failed, 1);
}

static void *datapath(void *arg)
{
	(void)arg;
	for (unsigned long n = 1; !atomic_load(&stop); n++) {
		one_request(n);
		bump_used();
		atomic_store(&rounds, n);
	}
	return NULL;
}

/* Waits for @more requests, at most ~0.5 s (the program ends within 2 s). */
static void let_datapath_run(unsigned long more)
{
	unsigned long until = atomic_load(&rounds) + more;

	for (int i = 0; i < 500 && atomic_load(&rounds) < until; i++)
		sleep_ms(1);
	CHECK(atomic_load(&rounds) >= until);
}

/* ---- 3. / 5. transactions --------------------------------------------- */

static struct gpc_memslot_desc slot(uint32_t id, uint64_t gpa, uint64_t size,
				    uint64_t file_off, uint32_t flags)
{
	struct gpc_memslot_desc d = {
		.id = id,
		.flags = flags,
		.gpa = gpa,
		.size = size,
		.hva = (uint64_t)(uintptr_t)(ram + file_off),
		.uaddr = FE_BASE + gpa, /* the front-end maps RAM linearly */
	};
	return d;
}

/*
 * All steps or none: a failed step poisons the transaction and the commit
 * returns its error with nothing changed, so the caller never has to undo
 * half a memory table.
 */
static int add_two_slots(void)
{
	struct gpc_memslot_txn *tx;
	struct gpc_memslot_desc s0 = slot(0, GPA0, SLOT_SZ, 0, 0);
	struct gpc_memslot_desc s1 =
		slot(1, GPA1, SLOT_SZ, OFF1, GPC_MEMSLOT_LOG_DIRTY);
	int err = gpc_memslot_txn_begin(vm, &tx);

	if (err)
		return err;
	gpc_memslot_txn_add(tx, &s0);
	gpc_memslot_txn_add(tx, &s1);
	return gpc_memslot_txn_commit(tx); /* one publish, one grace period */
}

/*
 * Split slot 0 into two halves (as a VMM does around an overlay, or a
 * vhost-user SET_MEM_TABLE that changes the layout). Done as single calls
 * it would publish a table without slot 0 at all, and the datapath would
 * see guest RAM vanish for a moment; as a transaction it never does.
 */
static int split_slot0(void)
{
	struct gpc_memslot_txn *tx;
	struct gpc_memslot_desc lo = slot(2, GPA0, SLOT_SZ / 2, 0, 0);
	struct gpc_memslot_desc hi =
		slot(3, GPA0 + SLOT_SZ / 2, SLOT_SZ / 2, SLOT_SZ / 2, 0);
	int err = gpc_memslot_txn_begin(vm, &tx);

	if (err)
		return err;
	gpc_memslot_txn_delete(tx, 0);
	gpc_memslot_txn_add(tx, &lo);
	gpc_memslot_txn_add(tx, &hi);
	return gpc_memslot_txn_commit(tx);
}

/* ---- 6. taking memory away -------------------------------------------- */

/*
 * The unmap order (README "Memory you own", gpc/hostmem.h):
 *   delete the slot      -> no new translation finds it, and readers in
 *                           SRCU sections that did are waited for;
 *   range_start(..., 0)  -> returns when no cache hands out, and no reader
 *                           uses, a pointer into the range;
 *   munmap               -> only now;
 *   range_end            -> caches over the range may refresh again.
 * Unmapping earlier lets a reader touch a page that is gone (SIGSEGV).
 */
static int remove_slot3(void)
{
	uint8_t *hva = ram + SLOT_SZ / 2;
	uint64_t start = (uint64_t)(uintptr_t)hva, end = start + SLOT_SZ / 2;
	int err = gpc_memslot_delete(vm, 3);

	if (err)
		return err;
	err = gpc_invalidate_range_start(vm, start, end, 0);
	if (err)
		return err;
	munmap(hva, SLOT_SZ / 2);
	return gpc_invalidate_range_end(vm, start, end);
}

/* ---- 7. the dirty log ------------------------------------------------- */

/*
 * vhost-user's log (VHOST_USER_SET_LOG_BASE): one bit per 4 KiB page of
 * guest-physical space, shared with the front-end. Our guest space ends at
 * 2 MiB: 512 pages, 64 bytes.
 */
#define LOG_PAGES ((GPA1 + SLOT_SZ) / GPC_DIRTY_PAGE_SIZE)
static uint8_t vhost_log[LOG_PAGES / 8];

static int log_bit(uint64_t page)
{
	return vhost_log[page / 8] >> (page % 8) & 1;
}

static void check_dirty_log(void)
{
	/* The pages the datapath wrote in slot 1, the logging slot. */
	const uint64_t want[] = {
		GPA1 / GPC_DIRTY_PAGE_SIZE,	/* 2nd half of the iov buffer */
		GPA_DESC / GPC_DIRTY_PAGE_SIZE, /* translate for writing */
		GPA_USED / GPC_DIRTY_PAGE_SIZE, /* the writable cache */
	};
	unsigned int nset = 0;

	printf("dirty pages (vhost-user log):");
	for (uint64_t pg = 0; pg < LOG_PAGES; pg++) {
		if (log_bit(pg)) {
			printf(" %#" PRIx64,
			       (uint64_t)(pg * GPC_DIRTY_PAGE_SIZE));
			nset++;
		}
	}
	printf("\n");
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		CHECK(log_bit(want[i]));
	/* Nothing else: slot 0's pages are not logged, slot 1's untouched. */
	CHECK(nset == sizeof(want) / sizeof(want[0]));
}

/* ---- main ------------------------------------------------------------- */

int main(int argc, char **argv)
{
	struct gpc_vm_config cfg = { .name = "owned" };
	uint64_t gen0, gen1;
	pthread_t dp;
	int fd, err, n1, n2;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--version")) {
			printf("owned_memory libgpc %s\n", gpc_version());
			return 0;
		}
		if (!strcmp(argv[i], "rwlock"))
			cfg.scheme = GPC_SCHEME_RWLOCK;
	}

	/*
	 * 1. Guest RAM is ours: a memfd (a vhost-user back-end would get the
	 * fd from ADD_MEM_REG / SET_MEM_TABLE instead), mapped by us. The
	 * direct stage needs nothing else: every page of a cached range
	 * mapped and accessible.
	 */
	fd = memfd_create("guest-ram", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, FILE_SIZE)) {
		perror("memfd");
		return 1;
	}
	ram = mmap(NULL, FILE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (ram == MAP_FAILED) {
		perror("mmap");
		return 1;
	}

	/* 2. The vm (default: direct stage) and our listener. */
	err = gpc_vm_create(&cfg, &vm);
	if (!err)
		err = gpc_memslot_listener_add(vm, &listener);
	if (err) {
		fprintf(stderr, "vm: %s\n", strerror(-err));
		return 1;
	}
	printf("libgpc %s, scheme %s\n", gpc_version(),
	       cfg.scheme == GPC_SCHEME_RWLOCK ? "rwlock" : "srcu");

	/* 3. Two slots, one commit: the listener hears of both at once. */
	gen0 = gpc_memslot_generation(vm);
	err = add_two_slots();
	CHECK(err == 0);
	CHECK(gpc_memslot_generation(vm) == gen0 + 1); /* one bump, not two */
	CHECK(ncommits == 1 && nseen == 2 &&
	      seen_ops[0] == GPC_MEMSLOT_CHANGE_ADD &&
	      seen_ops[1] == GPC_MEMSLOT_CHANGE_ADD);
	if (err)
		return 1;

	/* 4. The cache for the used index, then the datapath. */
	err = gpc_cache_init(&used, vm, GPC_USAGE_HOST, NULL, 0);
	if (!err)
		err = gpc_cache_activate_gpa(&used, GPA_USED, 8);
	CHECK(err == 0);
	if (err)
		return 1;
	pthread_create(&dp, NULL, datapath, NULL);
	let_datapath_run(100);

	/*
	 * A harvest while the datapath writes: safe, no write is lost
	 * between the get and the clear (a page written again is reported
	 * by the next harvest).
	 */
	n1 = gpc_dirty_log_harvest(vm, 1, vhost_log, sizeof(vhost_log));
	CHECK(n1 >= 0);

	/* 5. The split, while the datapath translates. */
	gen1 = gpc_memslot_generation(vm);
	err = split_slot0();
	CHECK(err == 0);
	CHECK(gpc_memslot_generation(vm) == gen1 + 1);
	CHECK(ncommits == 2 && nseen == 5 &&
	      seen_ops[2] == GPC_MEMSLOT_CHANGE_DELETE &&
	      seen_ops[3] == GPC_MEMSLOT_CHANGE_ADD &&
	      seen_ops[4] == GPC_MEMSLOT_CHANGE_ADD);
	let_datapath_run(100);
	/* No miss so far: the split never showed a table without slot 0. */
	CHECK(atomic_load(&misses) == 0);

	/* 6. Take the upper half of old slot 0 away, in the unmap order. */
	err = remove_slot3();
	CHECK(err == 0);
	CHECK(ncommits == 3 && nseen == 6 &&
	      seen_ops[5] == GPC_MEMSLOT_CHANGE_DELETE);
	let_datapath_run(100);
	/* The crossing buffer now misses (its first half has no slot). */
	CHECK(atomic_load(&misses) > 0);

	atomic_store(&stop, 1);
	pthread_join(dp, NULL);

	/* 7. The last harvest: the log now holds every page written. */
	n2 = gpc_dirty_log_harvest(vm, 1, vhost_log, sizeof(vhost_log));
	CHECK(n2 >= 0);
	printf("harvests: %d + %d pages reported\n", n1, n2);
	check_dirty_log();

	/* 8. The data, read back through our own mapping. */
	{
		uint64_t v, d;

		CHECK(gpc_cache_read(&used, 0, &v, 8) == 0);
		memcpy(&d, ram + OFF1 + (GPA_DESC - GPA1), 8);
		printf("datapath: %lu requests, %lu misses; used index %" PRIu64
		       ", last descriptor %" PRIu64 "\n",
		       atomic_load(&rounds), atomic_load(&misses), v, d);
		CHECK(v == atomic_load(&rounds));
		CHECK(d == atomic_load(&rounds));
		for (int i = 0; i < 64; i++)
			CHECK(ram[OFF1 + i] == 0xa1);
	}

	/* Tear down: cache, listener, vm; then our memory, last. */
	CHECK(gpc_cache_destroy(&used) == 0);
	CHECK(gpc_memslot_listener_remove(vm, &listener) == 0);
	CHECK(gpc_vm_destroy(vm) == 0);
	munmap(ram, SLOT_SZ / 2); /* [0.5 MiB, 1 MiB) went already */
	munmap(ram + SLOT_SZ, FILE_SIZE - SLOT_SZ);
	close(fd);

	if (atomic_load(&failed)) {
		fprintf(stderr, "owned_memory: FAILED\n");
		return 1;
	}
	printf("owned_memory: all checks passed\n");
	return 0;
}
