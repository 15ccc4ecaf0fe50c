// SPDX-License-Identifier: MIT
/*
 * tools/vhost-blk/tests/test_blk_uring.c - gpc-vhost-blk's io_uring engine
 * (blk_uring.c) against real files: a file on the file system TMPDIR is on
 * (ext4 here: holes, ZERO_RANGE, O_DIRECT) and a memfd (tmpfs: no
 * ZERO_RANGE, so write-zeroes takes its fallback).
 *
 * Requests are built as a driver builds them, over local buffers, and
 * completed through a recorder in place of gpc_vhost_req_complete(); the
 * test waits on the engine's eventfd as the library's queue thread does.
 * Every wait is bounded (WAIT_MS).
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <gpc/vhost.h>

#include "blk.h"

#define DISK_BYTES (1u << 20)
#define WAIT_MS	   10000
#define NREQ	   64

static unsigned int log_lines;
static char log_last[512];

static void sink(void *ctx, enum blk_log_level level, const char *line)
{
	(void)ctx;
	(void)level;
	log_lines++;
	snprintf(log_last, sizeof(log_last), "%s", line);
}

/* One request as a driver lays it out: [hdr] [data] [status]. */
struct tr {
	struct gpc_vhost_req vreq; /* what the library would hand over */
	struct virtio_blk_outhdr hdr;
	uint8_t status;
	bool done;
	unsigned int completions;
	uint32_t written;
	struct iovec iov[4];
	struct blk_ureq *r;
};

static void complete(void *ctx, struct gpc_vhost_req *req, uint32_t written)
{
	struct tr *t = (struct tr *)((char *)req - offsetof(struct tr, vreq));

	(void)ctx;
	t->done = true;
	t->completions++;
	t->written = written;
}

struct fx {
	struct blk_disk d;
	struct blk_qstats st;
	struct blk_uring *u;
	char path[64];
	struct tr t[NREQ];
	uint8_t *buf; /* NREQ * 8 KiB, page-aligned */
};

static int open_tmp(char *path, size_t size)
{
	const char *dir = getenv("TMPDIR");
	int fd;

	snprintf(path, size, "%s/test_blk_uring.XXXXXX", dir ? dir : "/tmp");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, DISK_BYTES), 0);
	return fd;
}

static void fx_engine(struct fx *f)
{
	memset(&f->st, 0, sizeof(f->st));
	assert_int_equal(
		blk_uring_create(&f->d, 64, &f->st, complete, f, &f->u), 0);
	for (int i = 0; i < NREQ; i++) {
		free(f->t[i].r);
		memset(&f->t[i], 0, sizeof(f->t[i]));
		f->t[i].r = malloc(blk_ureq_size());
		assert_non_null(f->t[i].r);
	}
}

/* A disk on a file of TMPDIR (@fd_flags for the main descriptor). */
static struct fx *fx_file(int fd_flags, bool direct, bool ro)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct blk_disk_opts o = { .readonly = ro,
				   .serial = "serial-42",
				   .num_queues = 1 };
	int fd, fdd = -1;

	assert_non_null(f);
	fd = open_tmp(f->path, sizeof(f->path));
	close(fd);
	fd = open(f->path, fd_flags | O_CLOEXEC);
	assert_true(fd >= 0);
	if (direct) {
		fdd = open(f->path, O_RDWR | O_DIRECT | O_CLOEXEC);
		if (fdd < 0)
			fail_msg("TMPDIR has no O_DIRECT (%s)",
				 strerror(errno));
	}
	assert_int_equal(blk_disk_open_fd(&f->d, fd, fdd, &o), 0);
	f->buf = aligned_alloc(4096, NREQ * 8192);
	assert_non_null(f->buf);
	fx_engine(f);
	return f;
}

static struct fx *fx_memfd(void)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct blk_disk_opts o = { .num_queues = 1 };
	int fd = memfd_create("blk", MFD_CLOEXEC);

	assert_non_null(f);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, DISK_BYTES), 0);
	assert_int_equal(blk_disk_open_fd(&f->d, fd, -1, &o), 0);
	f->buf = aligned_alloc(4096, NREQ * 8192);
	fx_engine(f);
	return f;
}

static void fx_free(struct fx *f)
{
	blk_uring_destroy(f->u);
	blk_disk_close(&f->d);
	if (f->path[0])
		unlink(f->path);
	for (int i = 0; i < NREQ; i++)
		free(f->t[i].r);
	free(f->buf);
	free(f);
}

static void iov_set(struct iovec *v, void *base, size_t len)
{
	v->iov_base = base;
	v->iov_len = len;
}

/* Start request @i: @type at @sector, @len bytes of data at @data. */
static void submit(struct fx *f, int i, uint32_t type, uint64_t sector,
		   void *data, size_t len)
{
	struct tr *t = &f->t[i];
	bool out = type != VIRTIO_BLK_T_IN && type != VIRTIO_BLK_T_GET_ID;
	unsigned int n = 0;

	t->done = false;
	t->completions = 0;
	t->status = 0xee;
	t->hdr.type = htole32(type);
	t->hdr.sector = htole64(sector);
	t->hdr.ioprio = 0;
	iov_set(&t->iov[n++], &t->hdr, sizeof(t->hdr));
	if (len)
		iov_set(&t->iov[n++], data, len);
	iov_set(&t->iov[n++], &t->status, 1);
	/* The library hands the priv over zeroed; garbage must not matter. */
	memset(t->r, 0xa5, blk_ureq_size());
	blk_uring_request(f->u, &t->vreq, t->iov, out ? n - 1 : 1,
			  out ? 1 : n - 1, t->r);
}

/* Poll the eventfd and reap until requests [0, n) are done. */
static void wait_done(struct fx *f, int n)
{
	struct timespec t0, now;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct pollfd p = { .fd = blk_uring_fd(f->u),
				    .events = POLLIN };
		bool all = true;

		for (int i = 0; i < n; i++)
			all = all && f->t[i].done;
		if (all)
			break;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if ((now.tv_sec - t0.tv_sec) * 1000 > WAIT_MS)
			fail_msg("requests not complete after %d ms", WAIT_MS);
		poll(&p, 1, 100);
		blk_uring_poll(f->u);
	}
	for (int i = 0; i < n; i++)
		assert_int_equal(f->t[i].completions, 1);
}

static void pattern(uint8_t *p, size_t len, uint64_t seed)
{
	for (size_t i = 0; i < len; i += 8) {
		uint64_t v = seed * 0x9e3779b97f4a7c15ull + i;

		memcpy(p + i, &v, 8);
	}
}

static bool all_zero(const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i])
			return false;
	return true;
}

static void check_status(struct fx *f, int n, uint8_t status)
{
	for (int i = 0; i < n; i++)
		assert_int_equal(f->t[i].status, status);
}

/* ---- reads and writes ----------------------------------------------------- */

static void roundtrip(struct fx *f)
{
	uint8_t expect[4096], *file = malloc(DISK_BYTES);

	/* NREQ writes in flight at once, each its own 4 KiB. */
	for (int i = 0; i < NREQ; i++) {
		pattern(f->buf + i * 4096, 4096, (uint64_t)i + 1);
		submit(f, i, VIRTIO_BLK_T_OUT, (uint64_t)i * 16,
		       f->buf + i * 4096, 4096);
	}
	wait_done(f, NREQ);
	check_status(f, NREQ, VIRTIO_BLK_S_OK);
	for (int i = 0; i < NREQ; i++)
		assert_int_equal(f->t[i].written, 1);
	assert_int_equal(pread(f->d.fd, file, DISK_BYTES, 0), DISK_BYTES);
	for (int i = 0; i < NREQ; i++) {
		pattern(expect, 4096, (uint64_t)i + 1);
		assert_memory_equal(file + (size_t)i * 16 * 512, expect, 4096);
		assert_true(all_zero(file + (size_t)i * 16 * 512 + 4096, 4096));
	}
	/* And back through reads. */
	memset(f->buf, 0, NREQ * 8192);
	for (int i = 0; i < NREQ; i++)
		submit(f, i, VIRTIO_BLK_T_IN, (uint64_t)i * 16,
		       f->buf + i * 4096, 4096);
	wait_done(f, NREQ);
	check_status(f, NREQ, VIRTIO_BLK_S_OK);
	for (int i = 0; i < NREQ; i++) {
		pattern(expect, 4096, (uint64_t)i + 1);
		assert_memory_equal(f->buf + i * 4096, expect, 4096);
		assert_int_equal(f->t[i].written, 4097);
	}
	assert_int_equal(f->st.writes, NREQ);
	assert_int_equal(f->st.reads, NREQ);
	assert_int_equal(f->st.bytes_written, NREQ * 4096);
	assert_int_equal(f->st.bytes_read, NREQ * 4096);
	assert_true(f->st.inflight_max >= 2);
	assert_int_equal(f->st.inflight, 0);
	assert_int_equal(f->st.ioerr, 0);
	assert_int_equal(blk_uring_inflight(f->u), 0);
	free(file);
}

static void rw_file(void **state)
{
	struct fx *f = fx_file(O_RDWR, false, false);

	(void)state;
	roundtrip(f);
	fx_free(f);
}

static void rw_memfd(void **state)
{
	struct fx *f = fx_memfd();

	(void)state;
	roundtrip(f);
	fx_free(f);
}

static void rw_writethrough(void **state)
{
	struct fx *f = fx_file(O_RDWR, false, false);

	(void)state;
	atomic_store(&f->d.wce, false); /* every write RWF_DSYNC */
	roundtrip(f);
	fx_free(f);
}

static void rw_direct(void **state)
{
	struct fx *f = fx_file(O_RDWR, true, false);
	uint8_t expect[8192];

	(void)state;
	/* Aligned: on the O_DIRECT descriptor. */
	pattern(f->buf, 8192, 7);
	submit(f, 0, VIRTIO_BLK_T_OUT, 8, f->buf, 8192);
	wait_done(f, 1);
	check_status(f, 1, VIRTIO_BLK_S_OK);
	assert_true(f->t[0].r->subs[0].direct);
	/* Buffer misaligned for it: buffered, and still right. */
	pattern(f->buf + 8192 + 512, 4096, 8);
	submit(f, 0, VIRTIO_BLK_T_OUT, 64, f->buf + 8192 + 512, 4096);
	wait_done(f, 1);
	check_status(f, 1, VIRTIO_BLK_S_OK);
	assert_false(f->t[0].r->subs[0].direct);
	/* An offset misaligned for it (sector 1). */
	submit(f, 0, VIRTIO_BLK_T_OUT, 1, f->buf, 4096);
	wait_done(f, 1);
	assert_false(f->t[0].r->subs[0].direct);
	/* Read both back, direct and not. */
	memset(f->buf, 0, 16384);
	submit(f, 0, VIRTIO_BLK_T_IN, 8 + 8, f->buf, 4096);
	submit(f, 1, VIRTIO_BLK_T_IN, 64, f->buf + 4096 + 512, 4096);
	wait_done(f, 2);
	check_status(f, 2, VIRTIO_BLK_S_OK);
	assert_true(f->t[0].r->subs[0].direct);
	pattern(expect, 8192, 7);
	assert_memory_equal(f->buf, expect + 4096, 4096);
	pattern(expect, 4096, 8);
	assert_memory_equal(f->buf + 4096 + 512, expect, 4096);
	fx_free(f);
}

/* ---- the other types ---------------------------------------------------------- */

static void flush_and_id(void **state)
{
	struct fx *f = fx_file(O_RDWR, false, false);
	uint8_t id[24];

	(void)state;
	submit(f, 0, VIRTIO_BLK_T_FLUSH, 0, NULL, 0);
	wait_done(f, 1);
	check_status(f, 1, VIRTIO_BLK_S_OK);
	assert_int_equal(f->st.flushes, 1);
	/* GET_ID completes inside the call. */
	memset(id, 0xff, sizeof(id));
	submit(f, 0, VIRTIO_BLK_T_GET_ID, 0, id, 20);
	assert_true(f->t[0].done);
	check_status(f, 1, VIRTIO_BLK_S_OK);
	assert_memory_equal(id, "serial-42\0\0\0\0\0\0\0\0\0\0\0", 20);
	assert_int_equal(id[20], 0xff);
	assert_int_equal(f->t[0].written, 21);
	assert_int_equal(f->st.get_ids, 1);
	fx_free(f);
}

static void submit_ranges(struct fx *f, int i, uint32_t type,
			  struct virtio_blk_discard_write_zeroes *s, int n)
{
	submit(f, i, type, 0, s, (size_t)n * sizeof(*s));
}

static void seg(struct virtio_blk_discard_write_zeroes *s, uint64_t sector,
		uint32_t num, uint32_t flags)
{
	s->sector = htole64(sector);
	s->num_sectors = htole32(num);
	s->flags = htole32(flags);
}

static void fill(struct fx *f)
{
	uint8_t *p = malloc(DISK_BYTES);

	memset(p, 0x5a, DISK_BYTES);
	assert_int_equal(pwrite(f->d.fd, p, DISK_BYTES, 0), DISK_BYTES);
	free(p);
}

static void check_range(struct fx *f, uint64_t off, uint64_t len, bool zero)
{
	uint8_t *p = malloc(len);

	assert_int_equal(pread(f->d.fd, p, len, (off_t)off), (ssize_t)len);
	for (uint64_t i = 0; i < len; i++)
		if (p[i] != (zero ? 0 : 0x5a))
			fail_msg("byte %llu: 0x%x",
				 (unsigned long long)(off + i), p[i]);
	free(p);
}

static uint64_t blocks(struct fx *f)
{
	struct stat st;

	assert_int_equal(fstat(f->d.fd, &st), 0);
	return (uint64_t)st.st_blocks;
}

static void discard_and_zeroes(struct fx *f)
{
	struct virtio_blk_discard_write_zeroes s[3];
	uint64_t b0;

	fill(f);
	b0 = blocks(f);
	/* Discard two ranges: holes (reads give zeroes), fewer blocks. */
	seg(&s[0], 0, 64, 0);
	seg(&s[1], 256, 128, 0);
	submit_ranges(f, 0, VIRTIO_BLK_T_DISCARD, s, 2);
	wait_done(f, 1);
	check_status(f, 1, VIRTIO_BLK_S_OK);
	check_range(f, 0, 64 * 512, true);
	check_range(f, 64 * 512, 192 * 512, false);
	check_range(f, 256 * 512, 128 * 512, true);
	check_range(f, 384 * 512, DISK_BYTES - 384 * 512, false);
	assert_true(blocks(f) < b0);
	/* Write zeroes, no unmap: zeroes, blocks kept. */
	b0 = blocks(f);
	seg(&s[0], 512, 64, 0);
	submit_ranges(f, 0, VIRTIO_BLK_T_WRITE_ZEROES, s, 1);
	wait_done(f, 1);
	check_status(f, 1, VIRTIO_BLK_S_OK);
	check_range(f, 512 * 512, 64 * 512, true);
	check_range(f, 576 * 512, 64 * 512, false);
	assert_true(blocks(f) >= b0);
	/* Write zeroes that may unmap, twice in one request. */
	seg(&s[0], 1024, 64, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP);
	seg(&s[1], 1200, 8, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP);
	seg(&s[2], 1300, 8, 0);
	submit_ranges(f, 0, VIRTIO_BLK_T_WRITE_ZEROES, s, 3);
	wait_done(f, 1);
	check_status(f, 1, VIRTIO_BLK_S_OK);
	check_range(f, 1024 * 512, 64 * 512, true);
	check_range(f, 1088 * 512, 112 * 512, false);
	check_range(f, 1200 * 512, 8 * 512, true);
	check_range(f, 1300 * 512, 8 * 512, true);
	check_range(f, 1308 * 512, DISK_BYTES - 1308 * 512, false);
	assert_int_equal(f->st.discards, 1);
	assert_int_equal(f->st.write_zeroes, 2);
}

static void ranges_file(void **state)
{
	struct fx *f = fx_file(O_RDWR, false, false);

	(void)state;
	discard_and_zeroes(f);
	assert_false(atomic_load(&f->d.no_zero_range)); /* ext4 has it */
	fx_free(f);
}

static void ranges_memfd(void **state)
{
	struct fx *f = fx_memfd();

	(void)state;
	/* tmpfs has no ZERO_RANGE: the engine learns it and punches. */
	log_lines = 0;
	discard_and_zeroes(f);
	assert_true(atomic_load(&f->d.no_zero_range));
	assert_true(f->st.retries >= 1);
	assert_true(strstr(log_last, "ZERO_RANGE") != NULL);
	fx_free(f);
}

/* ---- what fails ---------------------------------------------------------------- */

static void refused_at_once(void **state)
{
	struct fx *f = fx_file(O_RDWR, false, false);
	struct tr *t = &f->t[0];

	(void)state;
	/* Beyond the capacity: IOERR, inside the call, nothing in flight. */
	submit(f, 0, VIRTIO_BLK_T_IN, DISK_BYTES / 512, f->buf, 4096);
	assert_true(t->done);
	check_status(f, 1, VIRTIO_BLK_S_IOERR);
	assert_int_equal(t->written, 4097);
	assert_int_equal(blk_uring_inflight(f->u), 0);
	assert_int_equal(f->st.ioerr, 1);
	/* Unknown type: UNSUPP. */
	submit(f, 0, 77, 0, f->buf, 512);
	check_status(f, 1, VIRTIO_BLK_S_UNSUPP);
	assert_int_equal(f->st.unsupp, 1);
	/* No status byte: completed with length 0, nothing written. */
	t->hdr.type = htole32(VIRTIO_BLK_T_IN);
	iov_set(&t->iov[0], &t->hdr, sizeof(t->hdr));
	t->done = false;
	t->status = 0xee;
	blk_uring_request(f->u, &t->vreq, t->iov, 1, 0, t->r);
	assert_true(t->done);
	assert_int_equal(t->written, 0);
	assert_int_equal(t->status, 0xee);
	assert_int_equal(f->st.no_status, 1);
	assert_int_equal(f->st.requests, 3);
	fx_free(f);
}

static void kernel_error(void **state)
{
	/* A descriptor the kernel will not write: its error is IOERR. */
	struct fx *f = fx_file(O_RDONLY, false, false);

	(void)state;
	blk_log_set_sink(sink, NULL);
	blk_log_reset_limit();
	log_lines = 0;
	submit(f, 0, VIRTIO_BLK_T_OUT, 0, f->buf, 4096);
	wait_done(f, 1);
	check_status(f, 1, VIRTIO_BLK_S_IOERR);
	assert_int_equal(f->t[0].written, 1);
	assert_true(log_lines >= 1);
	assert_non_null(strstr(log_last, "Bad file descriptor"));
	/* Discard and write-zeroes fail the same way. */
	{
		struct virtio_blk_discard_write_zeroes s;

		seg(&s, 0, 8, 0);
		submit_ranges(f, 0, VIRTIO_BLK_T_WRITE_ZEROES, &s, 1);
		wait_done(f, 1);
		check_status(f, 1, VIRTIO_BLK_S_IOERR);
	}
	/* Reads still work. */
	submit(f, 0, VIRTIO_BLK_T_IN, 0, f->buf, 4096);
	wait_done(f, 1);
	check_status(f, 1, VIRTIO_BLK_S_OK);
	blk_log_set_sink(NULL, NULL);
	fx_free(f);
}

/*
 * The kernel finds the guest's buffer gone (a removed region kept
 * PROT_NONE, as under --check-stale): -EFAULT, an I/O error, counted in
 * efaults (gpc-vhost-blk --check-stale exits 3 on it).
 */
static void guest_memory_gone(void **state)
{
	struct fx *f = fx_file(O_RDWR, false, false);
	uint8_t *gone =
		mmap(NULL, 8192, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	(void)state;
	assert_true(gone != MAP_FAILED);
	blk_log_set_sink(sink, NULL);
	blk_log_reset_limit();
	log_lines = 0;
	submit(f, 0, VIRTIO_BLK_T_IN, 0, gone, 4096);
	wait_done(f, 1);
	check_status(f, 1, VIRTIO_BLK_S_IOERR);
	assert_int_equal(f->st.efaults, 1);
	assert_non_null(strstr(log_last, "Bad address"));
	submit(f, 0, VIRTIO_BLK_T_OUT, 0, gone + 4096, 4096);
	wait_done(f, 1);
	check_status(f, 1, VIRTIO_BLK_S_IOERR);
	assert_int_equal(f->st.efaults, 2);
	/* Memory that is there: no EFAULT. */
	submit(f, 0, VIRTIO_BLK_T_IN, 0, f->buf, 4096);
	wait_done(f, 1);
	check_status(f, 1, VIRTIO_BLK_S_OK);
	assert_int_equal(f->st.efaults, 2);
	blk_log_set_sink(NULL, NULL);
	munmap(gone, 8192);
	fx_free(f);
}

static void file_shrank(void **state)
{
	struct fx *f = fx_file(O_RDWR, false, false);
	uint8_t expect[2048];

	(void)state;
	fill(f);
	/* The file loses its second half under the device. */
	assert_int_equal(ftruncate(f->d.fd, DISK_BYTES / 2), 0);
	/* Across the new end: a short read, the rest gives EOF: IOERR. */
	memset(f->buf, 0, 8192);
	submit(f, 0, VIRTIO_BLK_T_IN, DISK_BYTES / 1024 - 4, f->buf, 4096);
	wait_done(f, 1);
	check_status(f, 1, VIRTIO_BLK_S_IOERR);
	memset(expect, 0x5a, sizeof(expect));
	assert_memory_equal(f->buf, expect, 2048);
	assert_true(f->st.retries >= 1);
	assert_int_equal(f->st.bytes_read, 2048);
	/* Wholly beyond it. */
	submit(f, 0, VIRTIO_BLK_T_IN, DISK_BYTES / 512 - 8, f->buf, 4096);
	wait_done(f, 1);
	check_status(f, 1, VIRTIO_BLK_S_IOERR);
	/* A write there just grows the file again. */
	submit(f, 0, VIRTIO_BLK_T_OUT, DISK_BYTES / 512 - 8, f->buf, 4096);
	wait_done(f, 1);
	check_status(f, 1, VIRTIO_BLK_S_OK);
	fx_free(f);
}

static void split_data(void **state)
{
	/* Data in several iovecs, header sharing the first: the engine
	 * reads into the trimmed copy, and a partial read advances it. */
	struct fx *f = fx_file(O_RDWR, false, false);
	struct tr *t = &f->t[0];
	static uint8_t rd[16 + 1024];
	uint8_t expect[3072];

	(void)state;
	pattern(expect, sizeof(expect), 3);
	assert_int_equal(pwrite(f->d.fd, expect, sizeof(expect), 4096), 3072);
	/* Read 3 KiB into [1 KiB][1 KiB + 1 KiB + status]. */
	t->hdr.type = htole32(VIRTIO_BLK_T_IN);
	t->hdr.sector = htole64(8);
	iov_set(&t->iov[0], &t->hdr, sizeof(t->hdr));
	iov_set(&t->iov[1], f->buf, 1024);
	iov_set(&t->iov[2], f->buf + 4096, 2048 + 1);
	t->done = false;
	blk_uring_request(f->u, &t->vreq, t->iov, 1, 2, t->r);
	wait_done(f, 1);
	assert_int_equal(f->buf[4096 + 2048], VIRTIO_BLK_S_OK);
	assert_memory_equal(f->buf, expect, 1024);
	assert_memory_equal(f->buf + 4096, expect + 1024, 2048);
	assert_int_equal(t->written, 3073);
	/* Write with the header sharing the data's first iovec. */
	memcpy(rd, &t->hdr, 16);
	((struct virtio_blk_outhdr *)rd)->type = htole32(VIRTIO_BLK_T_OUT);
	((struct virtio_blk_outhdr *)rd)->sector = htole64(100);
	pattern(rd + 16, 1024, 9);
	iov_set(&t->iov[0], rd, sizeof(rd));
	iov_set(&t->iov[1], &t->status, 1);
	t->done = false;
	t->completions = 0;
	blk_uring_request(f->u, &t->vreq, t->iov, 1, 1, t->r);
	wait_done(f, 1);
	check_status(f, 1, VIRTIO_BLK_S_OK);
	assert_int_equal(pread(f->d.fd, expect, 1024, 100 * 512), 1024);
	assert_memory_equal(expect, rd + 16, 1024);
	fx_free(f);
}

static void drain_waits(void **state)
{
	struct fx *f = fx_file(O_RDWR, false, false);

	(void)state;
	for (int i = 0; i < 32; i++)
		submit(f, i, VIRTIO_BLK_T_IN, (uint64_t)i * 8,
		       f->buf + i * 4096, 4096);
	submit(f, 32, VIRTIO_BLK_T_FLUSH, 0, NULL, 0);
	/* No poll: the drain alone completes every one. */
	blk_uring_drain(f->u);
	for (int i = 0; i <= 32; i++) {
		assert_true(f->t[i].done);
		assert_int_equal(f->t[i].completions, 1);
	}
	check_status(f, 33, VIRTIO_BLK_S_OK);
	assert_int_equal(blk_uring_inflight(f->u), 0);
	/* A poll with nothing to do completes nothing. */
	assert_int_equal(blk_uring_poll(f->u), 0);
	fx_free(f);
}

static void create_bad_args(void **state)
{
	struct fx *f = fx_memfd();
	struct blk_uring *u;

	(void)state;
	assert_int_equal(blk_uring_create(NULL, 8, &f->st, complete, NULL, &u),
			 -EINVAL);
	assert_int_equal(blk_uring_create(&f->d, 0, &f->st, complete, NULL, &u),
			 -EINVAL);
	assert_int_equal(blk_uring_create(&f->d, 65536, &f->st, complete, NULL,
					  &u),
			 -EINVAL);
	assert_int_equal(blk_uring_create(&f->d, 8, NULL, complete, NULL, &u),
			 -EINVAL);
	assert_int_equal(blk_uring_create(&f->d, 8, &f->st, NULL, NULL, &u),
			 -EINVAL);
	assert_int_equal(blk_uring_create(&f->d, 8, &f->st, complete, NULL,
					  NULL),
			 -EINVAL);
	blk_uring_destroy(NULL);
	fx_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(rw_file),
		cmocka_unit_test(rw_memfd),
		cmocka_unit_test(rw_writethrough),
		cmocka_unit_test(rw_direct),
		cmocka_unit_test(flush_and_id),
		cmocka_unit_test(ranges_file),
		cmocka_unit_test(ranges_memfd),
		cmocka_unit_test(refused_at_once),
		cmocka_unit_test(kernel_error),
		cmocka_unit_test(guest_memory_gone),
		cmocka_unit_test(file_shrank),
		cmocka_unit_test(split_data),
		cmocka_unit_test(drain_waits),
		cmocka_unit_test(create_bad_args),
	};

	blk_log_set_sink(sink, NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
