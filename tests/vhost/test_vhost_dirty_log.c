// SPDX-License-Identifier: MIT
/*
 * tests/vhost/test_vhost_dirty_log.c - the vhost-user dirty log
 * (src/vhost/dirty_log.h) on a real vm, both read-side schemes.
 *
 * Guest memory is a memfd mapped by the test (as a back-end maps a
 * region): slot 0 at gpa 0x100000, slot 1 at 0x203000 (not a multiple of
 * 64 pages, so the harvest shifts words), 16 pages each. The shared log is
 * another memfd, sealed as QEMU seals it, mapped a second time by the test
 * as the front-end's view.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <gpc/gpc.h>

#include "dirty_log.h"

#define PG	  4096ull
#define SLOT_PG	  16
#define GPA0	  0x100000ull
#define GPA1	  0x203000ull
#define LOG_BYTES 4096ull

struct fx {
	enum gpc_scheme scheme;
	struct gpc_vm *vm;
	struct gpc_srcu *d;
	uint8_t *mem; /* 2 * SLOT_PG pages */
	int logfd;
	uint8_t *fe; /* the front-end's view of the log */
	struct gpc_vhost_dirty_log *l;
	uint32_t ids[2];
};

static struct fx fx_srcu = { .scheme = GPC_SCHEME_SRCU };
static struct fx fx_rwlock = { .scheme = GPC_SCHEME_RWLOCK };

static int make_log(uint64_t size, uint8_t **view)
{
	int fd = memfd_create("test-log", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	assert_int_equal(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW),
			 0);
	if (view) {
		*view = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
			     0);
		assert_true(*view != MAP_FAILED);
	}
	return fd;
}

static int setup(void **state)
{
	struct fx *f = *state;
	struct gpc_vm_config cfg = { .scheme = f->scheme, .name = "dlog" };
	struct gpc_vhost_log msg = { .mmap_size = LOG_BYTES };

	assert_int_equal(gpc_vm_create(&cfg, &f->vm), 0);
	f->d = gpc_vm_srcu(f->vm);
	f->mem = mmap(NULL, 2 * SLOT_PG * PG, PROT_READ | PROT_WRITE,
		      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(f->mem != MAP_FAILED);
	assert_int_equal(gpc_memslot_create(f->vm, 0, GPA0, SLOT_PG * PG,
					    (uint64_t)(uintptr_t)f->mem, 0),
			 0);
	assert_int_equal(
		gpc_memslot_create(f->vm, 1, GPA1, SLOT_PG * PG,
				   (uint64_t)(uintptr_t)(f->mem + SLOT_PG * PG),
				   0),
		0);
	f->ids[0] = 0;
	f->ids[1] = 1;
	assert_int_equal(gpc_vhost_dirty_log_create(f->d, NULL, NULL, &f->l),
			 0);
	f->logfd = make_log(LOG_BYTES, &f->fe);
	assert_int_equal(gpc_vhost_dirty_log_set_base(f->l, f->logfd, &msg), 0);
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	gpc_vhost_dirty_log_destroy(f->l);
	munmap(f->fe, LOG_BYTES);
	close(f->logfd);
	assert_int_equal(gpc_vm_destroy(f->vm), 0);
	munmap(f->mem, 2 * SLOT_PG * PG);
	return 0;
}

static bool bit(const uint8_t *log, uint64_t page)
{
	return __atomic_load_n(&log[page / 8], __ATOMIC_RELAXED) &
	       (1u << (page % 8));
}

static unsigned int nbits(const uint8_t *log, uint64_t bytes)
{
	unsigned int n = 0;

	for (uint64_t i = 0; i < bytes; i++)
		n += (unsigned int)__builtin_popcount(log[i]);
	return n;
}

static void test_set_base_args(void **state)
{
	struct fx *f = *state;
	struct gpc_vhost_log msg;
	struct gpc_vhost_dirty_log_stats st;
	int fd;

#define TRY(err, ...)                                                         \
	do {                                                                  \
		msg = (struct gpc_vhost_log){ .mmap_size = LOG_BYTES };       \
		__VA_ARGS__;                                                  \
		assert_int_equal(gpc_vhost_dirty_log_set_base(f->l, f->logfd, \
							      &msg),          \
				 err);                                        \
	} while (0)
	TRY(-EINVAL, msg.mmap_size = 0);
	TRY(-EINVAL, msg.mmap_size = GPC_VHOST_LOG_MAX + 1);
	TRY(-EINVAL, msg.mmap_offset = 1);		/* beyond the file */
	TRY(-EINVAL, msg.mmap_offset = UINT64_MAX - 1); /* wraps */
	TRY(-EINVAL, msg.mmap_size = LOG_BYTES + 1);
#undef TRY
	assert_int_equal(gpc_vhost_dirty_log_set_base(f->l, -1, &msg), -EINVAL);
	assert_int_equal(gpc_vhost_dirty_log_set_base(NULL, f->logfd, &msg),
			 -EINVAL);
	/* Inside a section: the replacement would wait for us. */
	gpc_srcu_read_lock(f->d);
	assert_int_equal(gpc_vhost_dirty_log_set_base(f->l, f->logfd, &msg),
			 -EDEADLK);
	gpc_srcu_read_unlock(f->d);
	/* The log in place was kept through every refusal. */
	gpc_vhost_dirty_log_write(f->l, 9 * PG, 1);
	assert_true(bit(f->fe, 9));

	/* An unaligned offset, in an unsealed file (counted). */
	fd = memfd_create("plain", MFD_CLOEXEC);
	assert_int_equal(ftruncate(fd, 8192), 0);
	msg = (struct gpc_vhost_log){ .mmap_size = 1000, .mmap_offset = 4196 };
	assert_int_equal(gpc_vhost_dirty_log_set_base(f->l, fd, &msg), 0);
	gpc_vhost_dirty_log_write(f->l, 8 * PG, 1); /* byte 1, bit 0 */
	{
		uint8_t b = 0;

		assert_int_equal(pread(fd, &b, 1, 4196 + 1), 1);
		assert_int_equal(b, 1);
	}
	gpc_vhost_dirty_log_write(f->l, 8000 * PG, 1); /* beyond 1000 bytes */
	gpc_vhost_dirty_log_get_stats(f->l, &st);
	assert_int_equal(st.unsealed, 1);
	assert_int_equal(st.out_of_range, 1);
	assert_int_equal(st.bases, 2);
	close(fd);
}

static void test_write(void **state)
{
	struct fx *f = *state;
	struct gpc_vhost_dirty_log_stats st;
	struct gpc_vhost_dirty_log *none;

	gpc_vhost_dirty_log_write(f->l, 0x1000, 1);
	assert_true(bit(f->fe, 1));
	assert_int_equal(nbits(f->fe, LOG_BYTES), 1);
	gpc_vhost_dirty_log_write(f->l, 0x2fff, 2); /* pages 2 and 3 */
	assert_true(bit(f->fe, 2) && bit(f->fe, 3));
	assert_int_equal(nbits(f->fe, LOG_BYTES), 3);
	/* Across bytes: pages 6 .. 20. */
	gpc_vhost_dirty_log_write(f->l, 6 * PG, 15 * PG);
	for (uint64_t p = 6; p <= 20; p++)
		assert_true(bit(f->fe, p));
	assert_false(bit(f->fe, 21));
	assert_false(bit(f->fe, 5));
	assert_int_equal(nbits(f->fe, LOG_BYTES), 18);
	gpc_vhost_dirty_log_write(f->l, 100 * PG, 0); /* nothing */
	assert_false(bit(f->fe, 100));
	/* The last page of the log, and the ones after. */
	gpc_vhost_dirty_log_write(f->l, (LOG_BYTES * 8 - 1) * PG, 3 * PG);
	assert_true(bit(f->fe, LOG_BYTES * 8 - 1));
	gpc_vhost_dirty_log_write(f->l, UINT64_MAX - 10, 100); /* wraps */
	gpc_vhost_dirty_log_get_stats(f->l, &st);
	assert_int_equal(st.out_of_range, 2 + 1);
	assert_int_equal(nbits(f->fe, LOG_BYTES), 19);
	/* Bits are only ever set: one the front-end cleared comes back. */
	f->fe[0] = 0;
	gpc_vhost_dirty_log_write(f->l, 0x1000, 1);
	assert_int_equal(f->fe[0], 1u << 1);

	assert_int_equal(gpc_vhost_dirty_log_create(f->d, NULL, NULL, &none),
			 0);
	gpc_vhost_dirty_log_write(none, 0, 1);
	gpc_vhost_dirty_log_get_stats(none, &st);
	assert_int_equal(st.no_log, 1);
	assert_int_equal(gpc_vhost_dirty_log_harvest(none, f->vm, f->ids, 2),
			 -ENXIO);
	gpc_vhost_dirty_log_destroy(none);
}

/* Translate [gpa, + len) for writing and write it, inside one section. */
static void *guest_write(struct fx *f, uint64_t gpa, uint64_t len, bool end)
{
	uint64_t l = len;
	void *p = NULL;

	gpc_srcu_read_lock(f->d);
	assert_int_equal(
		gpc_translate_gpa(f->vm, gpa, &l, GPC_TRANSLATE_WRITE, &p), 0);
	assert_int_equal(l, len);
	if (end) {
		memset(p, 0xab, len);
		gpc_srcu_read_unlock(f->d);
	}
	return p;
}

static void test_harvest(void **state)
{
	struct fx *f = *state;

	assert_int_equal(gpc_vhost_dirty_log_slot_flags(f->l), 0);
	assert_int_equal(gpc_vhost_dirty_log_start(f->l, f->vm, f->ids, 2), 0);
	assert_int_equal(gpc_vhost_dirty_log_slot_flags(f->l),
			 GPC_MEMSLOT_LOG_DIRTY);
	guest_write(f, GPA0 + 3 * PG, 100, true);
	guest_write(f, GPA1 + 5 * PG, 2 * PG, true);
	assert_int_equal(nbits(f->fe, LOG_BYTES), 0);
	assert_int_equal(gpc_vhost_dirty_log_harvest(f->l, f->vm, f->ids, 2),
			 3);
	assert_true(bit(f->fe, GPA0 / PG + 3));
	assert_true(bit(f->fe, GPA1 / PG + 5));
	assert_true(bit(f->fe, GPA1 / PG + 6));
	assert_int_equal(nbits(f->fe, LOG_BYTES), 3);
	assert_int_equal(gpc_vhost_dirty_log_harvest(f->l, f->vm, f->ids, 2),
			 0);
	/* Inside a section: the harvest waits a grace period. */
	gpc_srcu_read_lock(f->d);
	assert_int_equal(gpc_vhost_dirty_log_harvest(f->l, f->vm, f->ids, 2),
			 -EDEADLK);
	gpc_srcu_read_unlock(f->d);
	/* stop: a last harvest, then the slots stop logging. */
	guest_write(f, GPA0 + 9 * PG, 1, true);
	assert_int_equal(gpc_vhost_dirty_log_stop(f->l, f->vm, f->ids, 2), 0);
	assert_true(bit(f->fe, GPA0 / PG + 9));
	assert_int_equal(gpc_vhost_dirty_log_slot_flags(f->l), 0);
	{
		struct gpc_memslot_info info;

		assert_int_equal(gpc_memslot_get(f->vm, 1, &info), 0);
		assert_int_equal(info.flags & GPC_MEMSLOT_LOG_DIRTY, 0);
	}
}

/*
 * The io_uring case: the translation marks the page, the section ends, a
 * harvest reports the page and the front-end copies and clears it, and
 * only then does the "kernel" write the data. Without the completion's
 * gpc_vhost_dirty_log_write() the page would never be reported again.
 */
static void test_async_completion(void **state)
{
	struct fx *f = *state;
	uint64_t gpa = GPA1 + 2 * PG;
	uint8_t *p;

	assert_int_equal(gpc_vhost_dirty_log_start(f->l, f->vm, f->ids, 2), 0);
	p = guest_write(f, gpa, PG, false); /* submitted to the "kernel" */
	gpc_srcu_read_unlock(f->d);
	assert_int_equal(gpc_vhost_dirty_log_harvest(f->l, f->vm, f->ids, 2),
			 1);
	assert_true(bit(f->fe, gpa / PG));
	memset(f->fe, 0, LOG_BYTES); /* the front-end synced the log */
	memset(p, 0x5a, PG);	     /* the kernel's write, later */
	/* libgpc has nothing more to say about that page: */
	assert_int_equal(gpc_vhost_dirty_log_harvest(f->l, f->vm, f->ids, 2),
			 0);
	assert_false(bit(f->fe, gpa / PG));
	/* the completion (the CQE) marks it again */
	gpc_vhost_dirty_log_write(f->l, gpa, PG);
	assert_true(bit(f->fe, gpa / PG));
	assert_int_equal(nbits(f->fe, LOG_BYTES), 1);
	assert_int_equal(gpc_vhost_dirty_log_stop(f->l, f->vm, f->ids, 2), 0);
}

/* A log too small for slot 1: slot 0's pages reported, slot 1's counted. */
static void test_harvest_small_log(void **state)
{
	struct fx *f = *state;
	struct gpc_vhost_log msg = { .mmap_size = 40 }; /* 320 pages */
	struct gpc_vhost_dirty_log_stats st;
	uint8_t *view;
	int fd = make_log(40, &view);

	assert_int_equal(gpc_vhost_dirty_log_set_base(f->l, fd, &msg), 0);
	assert_int_equal(gpc_vhost_dirty_log_start(f->l, f->vm, f->ids, 2), 0);
	guest_write(f, GPA0 + 1 * PG, 1, true);
	guest_write(f, GPA1 + 4 * PG, 1, true);
	assert_int_equal(gpc_vhost_dirty_log_harvest(f->l, f->vm, f->ids, 2),
			 2);
	assert_true(bit(view, GPA0 / PG + 1));
	assert_int_equal(nbits(view, 40), 1);
	gpc_vhost_dirty_log_get_stats(f->l, &st);
	assert_int_equal(st.out_of_range, 1);
	/* slot 1's bits were taken all the same (not reported twice) */
	assert_int_equal(gpc_vhost_dirty_log_harvest(f->l, f->vm, f->ids, 2),
			 0);
	munmap(view, 40);
	close(fd);
}

static void test_write_hva(void **state)
{
	struct fx *f = *state;
	uint8_t *p = f->mem + SLOT_PG * PG + 7 * PG + 10; /* slot 1, page 7 */

	assert_int_equal(gpc_vhost_dirty_log_write_hva(f->l, f->vm, p, PG),
			 -EPERM);
	gpc_srcu_read_lock(f->d);
	assert_int_equal(gpc_vhost_dirty_log_write_hva(f->l, f->vm, p, PG), 0);
	/* slot 0's last page and slot 1's first: adjacent in host memory */
	assert_int_equal(gpc_vhost_dirty_log_write_hva(
				 f->l, f->vm, f->mem + SLOT_PG * PG - 1, 2),
			 0);
	assert_int_equal(gpc_vhost_dirty_log_write_hva(
				 f->l, f->vm, f->mem + 2 * SLOT_PG * PG - 1, 2),
			 -ENOENT);
	gpc_srcu_read_unlock(f->d);
	assert_true(bit(f->fe, GPA1 / PG + 7));
	assert_true(bit(f->fe, GPA1 / PG + 8));
	assert_true(bit(f->fe, GPA0 / PG + SLOT_PG - 1));
	assert_true(bit(f->fe, GPA1 / PG));
	assert_true(bit(f->fe, GPA1 / PG + SLOT_PG - 1));
	assert_int_equal(nbits(f->fe, LOG_BYTES), 5);
}

/* Writers on two threads while the log is replaced again and again. */
static atomic_bool stop;
static atomic_ulong written;

static void *writer(void *arg)
{
	struct fx *f = arg;
	uint64_t x = 88172645463325252ull;

	while (!atomic_load(&stop)) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		gpc_vhost_dirty_log_write(f->l, (x % (LOG_BYTES * 8)) * PG,
					  (x >> 40) % (LOG_BYTES * 8 * PG) + 1);
		atomic_fetch_add(&written, 1);
	}
	return NULL;
}

static void test_replace_race(void **state)
{
	struct fx *f = *state;
	struct gpc_vhost_log msg = { .mmap_size = LOG_BYTES };
	static void *guard[300];
	pthread_t t[2];
	uint8_t *view = NULL;
	int fd = -1;

	atomic_store(&stop, false);
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&t[i], NULL, writer, f), 0);
	for (int round = 0; round < 300; round++) {
		int nfd = make_log(LOG_BYTES, NULL);

		assert_int_equal(gpc_vhost_dirty_log_set_base(f->l, nfd, &msg),
				 0);
		close(nfd);
		/*
		 * Fill the hole the old log left (mmap tends to reuse it) with
		 * an inaccessible page: a writer still using the old mapping
		 * faults instead of writing into whatever came next.
		 */
		guard[round] = mmap(NULL, LOG_BYTES, PROT_NONE,
				    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		assert_true(guard[round] != MAP_FAILED);
	}
	fd = make_log(LOG_BYTES, &view);
	assert_int_equal(gpc_vhost_dirty_log_set_base(f->l, fd, &msg), 0);
	while (nbits(view, LOG_BYTES) == 0)
		usleep(100);
	atomic_store(&stop, true);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	assert_true(atomic_load(&written) > 0);
	for (int round = 0; round < 300; round++)
		munmap(guard[round], LOG_BYTES);
	munmap(view, LOG_BYTES);
	close(fd);
}

#define T2(fn)                                                                \
	cmocka_unit_test_prestate_setup_teardown(fn, setup, teardown,         \
						 &fx_srcu),                   \
		cmocka_unit_test_prestate_setup_teardown(fn, setup, teardown, \
							 &fx_rwlock)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T2(test_set_base_args),	    T2(test_write),
		T2(test_harvest),	    T2(test_async_completion),
		T2(test_harvest_small_log), T2(test_write_hva),
		T2(test_replace_race),
	};

	return cmocka_run_group_tests_name("vhost_dirty_log", tests, NULL,
					   NULL);
}
