// SPDX-License-Identifier: MIT
/*
 * tests/vhost/test_vhost_inflight.c - inflight I/O tracking
 * (src/vhost/inflight.h).
 *
 * The crash tests run a queue's life (heads taken in one order, completed
 * in another, singly and in batches) against a model of what a restarted
 * back-end must resubmit: the heads whose begin got as far as the
 * inflight byte and whose used element is not yet covered by used->idx,
 * in the order they were taken. The module's step hook stops after every
 * store it makes (and the test after its own store of used->idx) and
 * copies the area, as a crash there would leave it; each copy is then
 * written to a fresh memfd, given back through gpc_vhost_inflight_map()
 * as SET_INFLIGHT_FD would, and resubmit must give the model's list.
 *
 * The other tests give the map call what a hostile front-end might:
 * every field out of range, headers that are not ours, garbage entries.
 * No libgpc vm is involved, so there is no read-side scheme to vary.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "inflight.h"

#define QS	 16
#define NQ	 2
#define MAX_SNAP 512

struct snap {
	uint8_t *area;
	uint16_t used_idx;
	unsigned int n;
	uint16_t expect[QS];
	char step[40];
};

/* The model and the snapshots of one run. */
static struct {
	struct gpc_vhost_inflight_area *a;
	unsigned int q;
	uint16_t used_idx;    /* the "ring's" used->idx */
	uint16_t pending[QS]; /* taken, not published, in order */
	unsigned int npending;
	int begun; /* head whose begin is running, or -1 */
	struct snap snaps[MAX_SNAP];
	unsigned int nsnap;
} m;

static void snapshot(const char *where)
{
	struct snap *s;
	uint64_t size = gpc_vhost_inflight_size(m.a);

	assert_true(m.nsnap < MAX_SNAP);
	s = &m.snaps[m.nsnap++];
	s->area = malloc(size);
	assert_non_null(s->area);
	memcpy(s->area, gpc_vhost_inflight_base(m.a), size);
	s->used_idx = m.used_idx;
	s->n = m.npending;
	memcpy(s->expect, m.pending, sizeof(m.pending));
	snprintf(s->step, sizeof(s->step), "%s", where);
}

static void hook(void *ctx, const char *where)
{
	(void)ctx;
	/* The inflight byte is the commit point of a begin. */
	if (m.begun >= 0 && !strcmp(where, "begin: inflight")) {
		m.pending[m.npending++] = (uint16_t)m.begun;
		m.begun = -1;
	}
	snapshot(where);
}

static void take(uint16_t head)
{
	m.begun = head;
	assert_int_equal(gpc_vhost_inflight_begin(m.a, m.q, head), 0);
	assert_int_equal(m.begun, -1);
}

/* Complete @n heads as one batch: put each, publish, commit. */
static void complete(const uint16_t *heads, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		assert_int_equal(gpc_vhost_inflight_put(m.a, m.q, heads[i]), 0);
	/* The used elements, then used->idx: the publish point. */
	m.used_idx = (uint16_t)(m.used_idx + n);
	for (unsigned int i = 0; i < n; i++) {
		unsigned int k;

		for (k = 0; k < m.npending && m.pending[k] != heads[i]; k++)
			;
		assert_true(k < m.npending);
		memmove(&m.pending[k], &m.pending[k + 1],
			(m.npending - k - 1) * sizeof(m.pending[0]));
		m.npending--;
	}
	snapshot("ring: used->idx");
	assert_int_equal(gpc_vhost_inflight_commit(m.a, m.q, m.used_idx), 0);
}

/* Give the bytes of @area back as SET_INFLIGHT_FD would. */
static struct gpc_vhost_inflight_area *remap(const uint8_t *area, uint64_t size,
					     uint64_t off)
{
	struct gpc_vhost_inflight msg = {
		.mmap_size = size,
		.mmap_offset = off,
		.num_queues = NQ,
		.queue_size = QS,
	};
	struct gpc_vhost_inflight_area *b = NULL;
	int fd = memfd_create("test-inflight", MFD_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)(off + size)), 0);
	assert_int_equal(pwrite(fd, area, size, (off_t)off), (ssize_t)size);
	assert_int_equal(gpc_vhost_inflight_map(fd, &msg, &b), 0);
	close(fd);
	return b;
}

static void check_snapshots(void)
{
	uint64_t size = gpc_vhost_inflight_size(m.a);

	for (unsigned int i = 0; i < m.nsnap; i++) {
		struct snap *s = &m.snaps[i];
		struct gpc_vhost_inflight_area *b = remap(s->area, size, 0);
		uint16_t heads[QS];
		unsigned int n = 99;

		assert_int_equal(gpc_vhost_inflight_resubmit(
					 b, m.q, s->used_idx, heads, QS, &n),
				 0);
		if (n != s->n || memcmp(heads, s->expect, n * sizeof(heads[0])))
			fail_msg("crash after step %u (%s): resubmit gave %u "
				 "heads, expected %u",
				 i, s->step, n, s->n);
		/* Idempotent, and the queue goes on from the recovered state. */
		assert_int_equal(gpc_vhost_inflight_resubmit(
					 b, m.q, s->used_idx, heads, QS, &n),
				 0);
		assert_int_equal(n, s->n);
		gpc_vhost_inflight_destroy(b);
		free(s->area);
	}
	m.nsnap = 0;
}

static struct gpc_vhost_inflight_area *fresh(unsigned int q)
{
	struct gpc_vhost_inflight reply;
	struct gpc_vhost_inflight_area *a = NULL;
	int fd = -1;

	assert_int_equal(gpc_vhost_inflight_create(NQ, QS, &a, &fd, &reply), 0);
	assert_true(fd >= 0);
	close(fd);
	memset(&m, 0, sizeof(m));
	m.a = a;
	m.q = q;
	m.begun = -1;
	gpc_vhost_inflight_set_hook(a, hook, NULL);
	return a;
}

/* In order, one at a time. */
static void test_crash_in_order(void **state)
{
	(void)state;
	fresh(0);
	for (uint16_t h = 0; h < 6; h++) {
		take(h);
		complete(&h, 1);
	}
	check_snapshots();
	gpc_vhost_inflight_destroy(m.a);
}

/* Out of order, with batches, across the used index's wrap, on queue 1. */
static void test_crash_out_of_order(void **state)
{
	static const uint16_t b1[] = { 3, 1 };
	static const uint16_t b2[] = { 0 };
	static const uint16_t b3[] = { 5, 2, 4 };
	struct gpc_vhost_inflight_area *a;
	uint16_t heads[QS];
	unsigned int n;

	(void)state;
	a = fresh(1);
	/* A ring whose used->idx is near the wrap: recovery adopts it. */
	m.used_idx = 0xfffe;
	gpc_vhost_inflight_set_hook(a, NULL, NULL);
	assert_int_equal(gpc_vhost_inflight_resubmit(a, 1, m.used_idx, heads,
						     QS, &n),
			 0);
	assert_int_equal(n, 0);
	gpc_vhost_inflight_set_hook(a, hook, NULL);
	for (uint16_t h = 0; h < 4; h++)
		take(h);
	complete(b1, 2);
	take(4);
	complete(b2, 1);
	take(5);
	take(6);
	complete(b3, 3);
	take(1); /* a head used again after its completion */
	check_snapshots();
	gpc_vhost_inflight_destroy(m.a);
}

static void test_begin_errors(void **state)
{
	struct gpc_vhost_inflight_area *a;
	uint16_t heads[QS];
	unsigned int n;

	(void)state;
	a = fresh(0);
	gpc_vhost_inflight_set_hook(a, NULL, NULL);
	assert_int_equal(gpc_vhost_inflight_begin(NULL, 0, 0), -EINVAL);
	assert_int_equal(gpc_vhost_inflight_begin(a, NQ, 0), -ERANGE);
	assert_int_equal(gpc_vhost_inflight_begin(a, 0, QS), -ERANGE);
	assert_int_equal(gpc_vhost_inflight_put(a, 0, QS), -ERANGE);
	assert_int_equal(gpc_vhost_inflight_commit(a, NQ, 0), -ERANGE);
	assert_int_equal(gpc_vhost_inflight_begin(a, 0, 7), 0);
	assert_int_equal(gpc_vhost_inflight_begin(a, 0, 7), -EBUSY);
	assert_int_equal(gpc_vhost_inflight_begin(a, 0, 8), 0);
	assert_int_equal(gpc_vhost_inflight_resubmit(a, 0, 0, heads, 1, &n),
			 -ENOBUFS);
	assert_int_equal(gpc_vhost_inflight_resubmit(a, 0, 0, heads, QS, &n),
			 0);
	assert_int_equal(n, 2);
	assert_int_equal(heads[0], 7);
	assert_int_equal(heads[1], 8);
	assert_int_equal(gpc_vhost_inflight_resubmit(a, NQ, 0, heads, QS, &n),
			 -ERANGE);
	gpc_vhost_inflight_destroy(a);
}

static void test_create_args(void **state)
{
	struct gpc_vhost_inflight reply;
	struct gpc_vhost_inflight_area *a = NULL;
	int fd = -1, seals;

	(void)state;
	assert_int_equal(gpc_vhost_inflight_create(0, QS, &a, &fd, &reply),
			 -EINVAL);
	assert_int_equal(gpc_vhost_inflight_create(65, QS, &a, &fd, &reply),
			 -EINVAL);
	assert_int_equal(gpc_vhost_inflight_create(1, 0, &a, &fd, &reply),
			 -EINVAL);
	assert_int_equal(gpc_vhost_inflight_create(1, 32769, &a, &fd, &reply),
			 -EINVAL);
	assert_int_equal(gpc_vhost_inflight_create(1, QS, NULL, &fd, &reply),
			 -EINVAL);
	assert_int_equal(gpc_vhost_inflight_create(4, 128, &a, &fd, &reply), 0);
	/* libvhost-user's layout: 64-byte aligned regions of 16 * qs + hdr */
	assert_int_equal(reply.mmap_size, 4 * 2112);
	assert_int_equal(reply.mmap_offset, 0);
	assert_int_equal(reply.num_queues, 4);
	assert_int_equal(reply.queue_size, 128);
	seals = fcntl(fd, F_GET_SEALS);
	assert_true(seals & F_SEAL_SHRINK);
	assert_true(seals & F_SEAL_GROW);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	assert_int_not_equal(ftruncate(fd, 0), 0);
	/* Every queue header: version 1, desc_num the queue size. */
	for (unsigned int q = 0; q < 4; q++) {
		const uint8_t *h =
			(const uint8_t *)gpc_vhost_inflight_base(a) + q * 2112;
		uint16_t v, dn;

		memcpy(&v, h + 8, 2);
		memcpy(&dn, h + 10, 2);
		assert_int_equal(v, 1);
		assert_int_equal(dn, 128);
	}
	close(fd);
	gpc_vhost_inflight_destroy(a);
	gpc_vhost_inflight_destroy(NULL);
}

/* Every malformed SET_INFLIGHT_FD field, each with its errno. */
static void test_map_hostile(void **state)
{
	uint64_t size = GPC_VHOST_INFLIGHT_STRIDE(QS) * NQ;
	uint8_t *img = calloc(1, size);
	struct gpc_vhost_inflight msg;
	struct gpc_vhost_inflight_area *b = NULL;
	int fd = memfd_create("t", MFD_CLOEXEC);

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
#define TRY(err, ...)                                                        \
	do {                                                                 \
		msg = (struct gpc_vhost_inflight){ .mmap_size = size,        \
						   .num_queues = NQ,         \
						   .queue_size = QS };       \
		__VA_ARGS__;                                                 \
		assert_int_equal(gpc_vhost_inflight_map(fd, &msg, &b), err); \
		if (!(err))                                                  \
			gpc_vhost_inflight_destroy(b);                       \
	} while (0)
	TRY(0);
	TRY(-EINVAL, msg.num_queues = 0);
	TRY(-EINVAL, msg.num_queues = 65);
	TRY(-EINVAL, msg.queue_size = 0);
	TRY(-EINVAL, msg.queue_size = 32769);
	TRY(-EINVAL, msg.mmap_size = size - 1);
	TRY(-EINVAL, msg.mmap_offset = 8);		/* beyond the file */
	TRY(-EINVAL, msg.mmap_offset = UINT64_MAX - 8); /* wraps */
	TRY(-EINVAL, msg.mmap_offset = (uint64_t)INT64_MAX);
	TRY(-EINVAL, msg.queue_size = QS * 4); /* the file is too small */
	assert_int_equal(gpc_vhost_inflight_map(-1, &msg, &b), -EINVAL);
	assert_int_equal(gpc_vhost_inflight_map(fd, NULL, &b), -EINVAL);
	/* A larger area than needed is fine (only the layout is mapped). */
	TRY(0, msg.mmap_size = size * 100);
	/* Headers: version 0 is initialised; another version, features, or
	 * another desc_num are not ours. */
	{
		uint16_t v = 2, dn = QS + 1;
		uint64_t feat = 1;

		assert_int_equal(pwrite(fd, &v, 2, 8), 2);
		TRY(-EPROTO);
		v = 1;
		assert_int_equal(pwrite(fd, &v, 2, 8), 2);
		assert_int_equal(pwrite(fd, &dn, 2, 10), 2);
		TRY(-EPROTO);
		dn = QS;
		assert_int_equal(pwrite(fd, &dn, 2, 10), 2);
		assert_int_equal(pwrite(fd, &feat, 8, 0), 8);
		TRY(-EPROTO);
		feat = 0;
		assert_int_equal(pwrite(fd, &feat, 8, 0), 8);
		TRY(0);
	}
#undef TRY
	close(fd);
	free(img);
}

/* An area at an offset inside its file that is not a page multiple. */
static void test_map_offset(void **state)
{
	struct gpc_vhost_inflight_area *a, *b;
	uint16_t heads[QS];
	unsigned int n;

	(void)state;
	a = fresh(0);
	gpc_vhost_inflight_set_hook(a, NULL, NULL);
	assert_int_equal(gpc_vhost_inflight_begin(a, 0, 9), 0);
	assert_int_equal(gpc_vhost_inflight_begin(a, 0, 3), 0);
	b = remap(gpc_vhost_inflight_base(a), gpc_vhost_inflight_size(a),
		  4096 + 72);
	assert_int_equal(gpc_vhost_inflight_resubmit(b, 0, 0, heads, QS, &n),
			 0);
	assert_int_equal(n, 2);
	assert_int_equal(heads[0], 9);
	assert_int_equal(heads[1], 3);
	gpc_vhost_inflight_destroy(b);
	/* The same area 4 bytes further: its u64 fields would be misaligned. */
	{
		struct gpc_vhost_inflight msg = {
			.mmap_size = gpc_vhost_inflight_size(a),
			.mmap_offset = 4096 + 76,
			.num_queues = NQ,
			.queue_size = QS,
		};
		int fd = memfd_create("t", MFD_CLOEXEC);

		assert_int_equal(ftruncate(fd, 3 * 4096 + 8192), 0);
		assert_int_equal(gpc_vhost_inflight_map(fd, &msg, &b), -EINVAL);
		msg.mmap_offset = 4096 + 80;
		assert_int_equal(gpc_vhost_inflight_map(fd, &msg, &b), 0);
		gpc_vhost_inflight_destroy(b);
		close(fd);
	}
	gpc_vhost_inflight_destroy(a);
}

/* Garbage entries: resubmit never crashes, never gives a bad head. */
static void test_garbage_entries(void **state)
{
	uint64_t size = GPC_VHOST_INFLIGHT_STRIDE(QS) * NQ;
	uint8_t *img = malloc(size);
	struct gpc_vhost_inflight_stats st;

	(void)state;
	srand(7);
	for (int round = 0; round < 200; round++) {
		struct gpc_vhost_inflight_area *b;
		uint16_t heads[QS];
		unsigned int n;
		bool seen[QS] = { false };

		for (uint64_t i = 0; i < size; i++)
			img[i] = (uint8_t)rand();
		for (unsigned int q = 0; q < NQ; q++) {
			uint8_t *h = img + q * GPC_VHOST_INFLIGHT_STRIDE(QS);
			uint16_t v = 1, dn = QS;

			memset(h, 0, 8);
			memcpy(h + 8, &v, 2);
			memcpy(h + 10, &dn, 2);
			/* inflight bytes mostly 0/1, some garbage */
			for (unsigned int i = 0; i < QS; i++)
				if (rand() % 4)
					h[16 + 16 * i] &= 1;
		}
		b = remap(img, size, 0);
		for (unsigned int q = 0; q < NQ; q++) {
			assert_int_equal(gpc_vhost_inflight_resubmit(
						 b, q, (uint16_t)rand(), heads,
						 QS, &n),
					 0);
			assert_true(n <= QS);
			memset(seen, 0, sizeof(seen));
			for (unsigned int i = 0; i < n; i++) {
				assert_true(heads[i] < QS);
				assert_false(seen[heads[i]]);
				seen[heads[i]] = true;
			}
			/* The queue goes on: counters renumbered after n. */
			for (uint16_t h = 0; h < QS; h++)
				if (!seen[h]) {
					assert_int_equal(
						gpc_vhost_inflight_begin(b, q,
									 h),
						0);
					break;
				}
			assert_int_equal(gpc_vhost_inflight_put(b, q, 0), 0);
			/* a commit over a garbage list may be cut short */
			int err = gpc_vhost_inflight_commit(b, q, 0);
			assert_true(err == 0 || err == -EPROTO);
		}
		gpc_vhost_inflight_get_stats(b, &st);
		if (round == 0)
			assert_true(st.corrupt > 0);
		gpc_vhost_inflight_destroy(b);
	}
	free(img);
}

/* A last batch list that leaves the queue (next, last_batch_head). */
static void test_bad_batch_list(void **state)
{
	struct gpc_vhost_inflight_area *a, *b;
	uint8_t *base;
	uint16_t heads[QS], bad = 0xffff;
	unsigned int n;
	struct gpc_vhost_inflight_stats st;

	(void)state;
	a = fresh(0);
	gpc_vhost_inflight_set_hook(a, NULL, NULL);
	assert_int_equal(gpc_vhost_inflight_begin(a, 0, 2), 0);
	assert_int_equal(gpc_vhost_inflight_begin(a, 0, 4), 0);
	base = gpc_vhost_inflight_base(a);
	memcpy(base + 12, &bad, 2); /* last_batch_head out of range */
	b = remap(base, gpc_vhost_inflight_size(a), 0);
	/* used->idx 2 ahead: the recovery walks a list that is not there */
	assert_int_equal(gpc_vhost_inflight_resubmit(b, 0, 2, heads, QS, &n),
			 0);
	assert_int_equal(n, 2);
	gpc_vhost_inflight_get_stats(b, &st);
	assert_true(st.corrupt >= 1);
	memcpy((uint8_t *)gpc_vhost_inflight_base(b) + 12, &bad, 2);
	assert_int_equal(gpc_vhost_inflight_commit(b, 0, 3), -EPROTO);
	gpc_vhost_inflight_destroy(b);
	gpc_vhost_inflight_destroy(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crash_in_order),
		cmocka_unit_test(test_crash_out_of_order),
		cmocka_unit_test(test_begin_errors),
		cmocka_unit_test(test_create_args),
		cmocka_unit_test(test_map_hostile),
		cmocka_unit_test(test_map_offset),
		cmocka_unit_test(test_garbage_entries),
		cmocka_unit_test(test_bad_batch_list),
	};

	return cmocka_run_group_tests_name("vhost_inflight", tests, NULL, NULL);
}
