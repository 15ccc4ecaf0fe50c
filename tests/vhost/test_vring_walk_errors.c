// SPDX-License-Identifier: MIT
/*
 * tests/vhost/test_vring_walk_errors.c - every failure of the
 * descriptor-chain walker (src/vhost/vring_walk.h) with its exact errno,
 * reason and position, on both read-side schemes (the fixture, guest
 * memory and its layout: vring_walk_fixture.h); the reason table itself
 * (texts, errnos, gpc_vhost_walk_describe()).
 */
#include "vring_walk_fixture.h"

/* ---- unit: every failure ----------------------------------------------- */

static void test_bad_args(void **state)
{
	struct fx *f = *state;

	set_desc(f, G0, 0, BUF, 1, 0, 0);
	assert_int_equal(gpc_vhost_walk(f->vm, G0, NUM, 0, 0, f->iov, 4, NULL),
			 -EINVAL);
	gpc_srcu_read_lock(f->d);
	assert_int_equal(gpc_vhost_walk(NULL, G0, NUM, 0, 0, f->iov, 4, &f->c),
			 -EINVAL);
	assert_int_equal(f->c.err, GPC_VHOST_WALK_BAD_ARGS);
	gpc_srcu_read_unlock(f->d);
	FAILS(f, walk_at(f, G0, 0, 0, 0, 4), -EINVAL, GPC_VHOST_WALK_BAD_ARGS,
	      0, false);
	FAILS(f, walk_at(f, G0, 12, 0, 0, 4), -EINVAL, GPC_VHOST_WALK_BAD_ARGS,
	      0, false);
	FAILS(f, walk_at(f, G0, 65536, 0, 0, 4), -EINVAL,
	      GPC_VHOST_WALK_BAD_ARGS, 0, false);
	FAILS(f, walk(f, 0, 1u << 5, 4), -EINVAL, GPC_VHOST_WALK_BAD_ARGS, 0,
	      false);
	gpc_srcu_read_lock(f->d);
	assert_int_equal(gpc_vhost_walk(f->vm, G0, NUM, 0, 0, NULL, 4, &f->c),
			 -EINVAL);
	/* NULL with no capacity is fine until an iovec is needed. */
	assert_int_equal(gpc_vhost_walk(f->vm, G0, NUM, 0, 0, NULL, 0, &f->c),
			 -ENOBUFS);
	gpc_srcu_read_unlock(f->d);
	/* 32768, the largest queue, is a valid size (its table is 512 KiB). */
	FAILS(f, walk_at(f, G0, 32768, 0, 0, 4), -EFAULT,
	      GPC_VHOST_WALK_TABLE_SPLIT, 0, false);
	/* The table form: a NULL table or result; its other checks. */
	gpc_srcu_read_lock(f->d);
	{
		const void *tp = table_ptr(f, G0, NUM);

		assert_non_null(tp);
		FAILS(f,
		      gpc_vhost_walk_table(f->vm, NULL, NUM, 0, 0, f->iov, 4,
					   &f->c),
		      -EINVAL, GPC_VHOST_WALK_BAD_ARGS, 0, false);
		assert_int_equal(gpc_vhost_walk_table(f->vm, tp, NUM, 0, 0,
						      f->iov, 4, NULL),
				 -EINVAL);
		FAILS(f,
		      gpc_vhost_walk_table(NULL, tp, NUM, 0, 0, f->iov, 4,
					   &f->c),
		      -EINVAL, GPC_VHOST_WALK_BAD_ARGS, 0, false);
		FAILS(f,
		      gpc_vhost_walk_table(f->vm, tp, 12, 0, 0, f->iov, 4,
					   &f->c),
		      -EINVAL, GPC_VHOST_WALK_BAD_ARGS, 0, false);
		FAILS(f,
		      gpc_vhost_walk_table(f->vm, tp, NUM, NUM, 0, f->iov, 4,
					   &f->c),
		      -ERANGE, GPC_VHOST_WALK_HEAD_RANGE, NUM, false);
		assert_int_equal(gpc_vhost_walk_table(f->vm, tp, NUM, 0, 0,
						      f->iov, 4, &f->c),
				 0);
		gpc_srcu_read_unlock(f->d);
		/* Outside the section: the buffers cannot be translated. */
		FAILS(f,
		      gpc_vhost_walk_table(f->vm, tp, NUM, 0, 0, f->iov, 4,
					   &f->c),
		      -EPERM, GPC_VHOST_WALK_NO_SECTION, 0, false);
	}
}

static void test_no_section(void **state)
{
	struct fx *f = *state;

	set_desc(f, G0, 0, BUF, 1, 0, 0);
	assert_int_equal(gpc_vhost_walk(f->vm, G0, NUM, 0, 0, f->iov, 4, &f->c),
			 -EPERM);
	assert_int_equal(f->c.err, GPC_VHOST_WALK_NO_SECTION);
	/* A section of another domain is not the vm's. */
	{
		struct gpc_srcu other;

		assert_int_equal(gpc_srcu_init(&other, NULL), 0);
		gpc_srcu_read_lock(&other);
		assert_int_equal(gpc_vhost_walk(f->vm, G0, NUM, 0, 0, f->iov, 4,
						&f->c),
				 -EPERM);
		gpc_srcu_read_unlock(&other);
		assert_int_equal(gpc_srcu_destroy(&other), 0);
	}
}

static void test_head_range(void **state)
{
	struct fx *f = *state;

	FAILS(f, walk(f, NUM, 0, 4), -ERANGE, GPC_VHOST_WALK_HEAD_RANGE, NUM,
	      false);
	FAILS(f, walk(f, 65535, 0, 4), -ERANGE, GPC_VHOST_WALK_HEAD_RANGE,
	      65535, false);
}

static void test_table(void **state)
{
	struct fx *f = *state;

	/* In the hole; wrapping 2^64; half in slot 1, half in the hole. */
	FAILS(f, walk_at(f, GHOLE, NUM, 0, 0, 4), -EFAULT,
	      GPC_VHOST_WALK_TABLE_OUTSIDE, 0, false);
	FAILS(f, walk_at(f, UINT64_MAX - 15, NUM, 0, 0, 4), -EFAULT,
	      GPC_VHOST_WALK_TABLE_OUTSIDE, 0, false);
	FAILS(f, walk_at(f, GHOLE - 128, NUM, 0, 0, 4), -EFAULT,
	      GPC_VHOST_WALK_TABLE_OUTSIDE, 0, false);
	/* Across G1: in memory, but in two host pieces. */
	FAILS(f, walk_at(f, G1 - 128, NUM, 0, 0, 4), -EFAULT,
	      GPC_VHOST_WALK_TABLE_SPLIT, 0, false);
	/* The same table fits when it stops at G1. */
	set_desc(f, G1 - 128, 0, BUF, 1, 0, 0);
	assert_int_equal(walk_at(f, G1 - 128, 8, 0, 0, 4), 0);
}

static void test_loop(void **state)
{
	struct fx *f = *state;

	/* Self loop, a two-cycle, and a cycle entered after a prefix. */
	set_desc(f, G0, 0, BUF, 1, NEXT, 0);
	FAILS(f, walk(f, 0, 0, 64), -ELOOP, GPC_VHOST_WALK_LOOP, 0, false);
	assert_int_equal(f->c.ndesc, NUM);
	set_desc(f, G0, 1, BUF, 1, NEXT, 2);
	set_desc(f, G0, 2, BUF, 1, NEXT, 1);
	FAILS(f, walk(f, 1, 0, 64), -ELOOP, GPC_VHOST_WALK_LOOP, 1, false);
	set_desc(f, G0, 3, BUF, 1, NEXT, 4);
	set_desc(f, G0, 4, BUF, 1, NEXT, 5);
	set_desc(f, G0, 5, BUF, 1, NEXT, 4);
	FAILS(f, walk(f, 3, 0, 64), -ELOOP, GPC_VHOST_WALK_LOOP, 5, false);
	/* Zero-length descriptors loop as well (no iovec to run out of). */
	set_desc(f, G0, 6, BUF, 0, NEXT, 6);
	FAILS(f, walk(f, 6, 0, 1), -ELOOP, GPC_VHOST_WALK_LOOP, 6, false);

	/* Indirect: a loop inside a table of 3. */
	set_desc(f, IT, 0, BUF, 0, NEXT, 1);
	set_desc(f, IT, 1, BUF, 0, NEXT, 2);
	set_desc(f, IT, 2, BUF, 0, NEXT, 0);
	set_desc(f, G0, 7, IT, 3 * 16, INDIR, 0);
	FAILS(f, walk(f, 7, IND, 64), -ELOOP, GPC_VHOST_WALK_INDIRECT_LOOP, 0,
	      true);
	assert_int_equal(f->c.ndesc, 1 + 3);
}

static void test_indirect_bad(void **state)
{
	struct fx *f = *state;

	set_desc(f, IT, 0, BUF, 4, 0, 0);
	/* Not negotiated. */
	set_desc(f, G0, 0, IT, 16, INDIR, 0);
	FAILS(f, walk(f, 0, 0, 64), -EPROTO, GPC_VHOST_WALK_INDIRECT_OFF, 0,
	      false);
	assert_int_equal(walk(f, 0, IND, 64), 0);
	/* Nested. */
	set_desc(f, G0, 0, IT, 32, INDIR, 0);
	set_desc(f, IT, 0, BUF, 4, NEXT, 1);
	set_desc(f, IT, 1, IT2, 16, INDIR, 0);
	FAILS(f, walk(f, 0, IND, 64), -EPROTO, GPC_VHOST_WALK_INDIRECT_NESTED,
	      1, true);
	/* Nested, even without the feature: that one is said first. */
	FAILS(f, walk(f, 0, 0, 64), -EPROTO, GPC_VHOST_WALK_INDIRECT_OFF, 0,
	      false);
	/* INDIRECT with NEXT. */
	set_desc(f, IT, 0, BUF, 4, 0, 0);
	set_desc(f, G0, 1, IT, 16, INDIR | NEXT, 2);
	FAILS(f, walk(f, 1, IND, 64), -EPROTO, GPC_VHOST_WALK_INDIRECT_NEXT, 1,
	      false);
	/* Lengths: 0, not a multiple of 16, above the bound. */
	set_desc(f, G0, 2, IT, 0, INDIR, 0);
	FAILS(f, walk(f, 2, IND, 64), -EMSGSIZE, GPC_VHOST_WALK_INDIRECT_EMPTY,
	      2, false);
	set_desc(f, G0, 2, IT, 24, INDIR, 0);
	FAILS(f, walk(f, 2, IND, 64), -EMSGSIZE, GPC_VHOST_WALK_INDIRECT_ALIGN,
	      2, false);
	set_desc(f, G0, 2, IT, 15, INDIR, 0);
	FAILS(f, walk(f, 2, IND, 64), -EMSGSIZE, GPC_VHOST_WALK_INDIRECT_ALIGN,
	      2, false);
	set_desc(f, G0, 2, IT, (GPC_VHOST_INDIRECT_MAX + 1) * 16, INDIR, 0);
	FAILS(f, walk(f, 2, IND, 64), -EMSGSIZE, GPC_VHOST_WALK_INDIRECT_BIG, 2,
	      false);
	set_desc(f, G0, 2, IT, 0xfffffff0u, INDIR, 0);
	FAILS(f, walk(f, 2, IND, 64), -EMSGSIZE, GPC_VHOST_WALK_INDIRECT_BIG, 2,
	      false);
	/* Address + length past 2^64; in the hole; across G1. */
	set_desc(f, G0, 3, UINT64_MAX - 15, 32, INDIR, 0);
	FAILS(f, walk(f, 3, IND, 64), -EOVERFLOW, GPC_VHOST_WALK_INDIRECT_WRAP,
	      3, false);
	set_desc(f, G0, 3, GHOLE + 64, 32, INDIR, 0);
	FAILS(f, walk(f, 3, IND, 64), -EFAULT, GPC_VHOST_WALK_INDIRECT_OUTSIDE,
	      3, false);
	set_desc(f, G0, 3, GHOLE - 16, 32, INDIR, 0);
	FAILS(f, walk(f, 3, IND, 64), -EFAULT, GPC_VHOST_WALK_INDIRECT_OUTSIDE,
	      3, false);
	set_desc(f, G0, 3, G1 - 16, 32, INDIR, 0);
	FAILS(f, walk(f, 3, IND, 64), -EFAULT, GPC_VHOST_WALK_INDIRECT_SPLIT, 3,
	      false);
	/* Next out of the indirect table's range (2 entries). */
	set_desc(f, IT, 0, BUF, 4, NEXT, 2);
	set_desc(f, G0, 4, IT, 32, INDIR, 0);
	FAILS(f, walk(f, 4, IND, 64), -ERANGE, GPC_VHOST_WALK_NEXT_RANGE, 0,
	      true);
}

static void test_buffer_bad(void **state)
{
	struct fx *f = *state;

	/* Address + length past 2^64 (and exactly to 2^64: not in memory). */
	set_desc(f, G0, 0, UINT64_MAX, 2, 0, 0);
	FAILS(f, walk(f, 0, 0, 64), -EOVERFLOW, GPC_VHOST_WALK_BUF_WRAP, 0,
	      false);
	set_desc(f, G0, 0, UINT64_MAX, 1, 0, 0);
	FAILS(f, walk(f, 0, 0, 64), -ENOENT, GPC_VHOST_WALK_BUF_OUTSIDE, 0,
	      false);
	/* In the hole; starting in slot 1 and running into the hole. */
	set_desc(f, G0, 1, BUF, 8, NEXT, 2);
	set_desc(f, G0, 2, GHOLE + 100, 8, 0, 0);
	FAILS(f, walk(f, 1, 0, 64), -ENOENT, GPC_VHOST_WALK_BUF_OUTSIDE, 2,
	      false);
	assert_int_equal(f->c.nr_read, 1);
	set_desc(f, G0, 2, GHOLE - 4, 8, 0, 0);
	FAILS(f, walk(f, 1, 0, 64), -ENOENT, GPC_VHOST_WALK_BUF_OUTSIDE, 2,
	      false);
	/* Below every slot. */
	set_desc(f, G0, 2, 0, 8, 0, 0);
	FAILS(f, walk(f, 1, 0, 64), -ENOENT, GPC_VHOST_WALK_BUF_OUTSIDE, 2,
	      false);
	/* Writable in the read-only slot (readable there is fine). */
	set_desc(f, G0, 3, G2 + 8, 8, NEXT, 4);
	set_desc(f, G0, 4, G2 + 16, 8, WRITE, 0);
	FAILS(f, walk(f, 3, 0, 64), -EROFS, GPC_VHOST_WALK_BUF_READONLY, 4,
	      false);
	/* The same chain with its writable buffer in slot 1 is fine. */
	set_desc(f, G0, 4, G1 + 8, 8, WRITE, 0);
	assert_int_equal(walk(f, 3, 0, 64), 0);
}

static void test_order(void **state)
{
	struct fx *f = *state;

	set_desc(f, G0, 0, BUF, 8, NEXT, 1);
	set_desc(f, G0, 1, BUF + 8, 8, NEXT | WRITE, 2);
	set_desc(f, G0, 2, BUF + 16, 8, 0, 0);
	FAILS(f, walk(f, 0, 0, 64), -EILSEQ, GPC_VHOST_WALK_ORDER, 2, false);
	/* A zero-length writable one counts too. */
	set_desc(f, G0, 1, BUF + 8, 0, NEXT | WRITE, 2);
	FAILS(f, walk(f, 0, 0, 64), -EILSEQ, GPC_VHOST_WALK_ORDER, 2, false);
	/* Inside an indirect table. */
	set_desc(f, IT, 0, BUF, 8, WRITE | NEXT, 1);
	set_desc(f, IT, 1, BUF, 8, 0, 0);
	set_desc(f, G0, 3, IT, 32, INDIR, 0);
	FAILS(f, walk(f, 3, IND, 64), -EILSEQ, GPC_VHOST_WALK_ORDER, 1, true);
}

static void test_next_range(void **state)
{
	struct fx *f = *state;

	set_desc(f, G0, 0, BUF, 8, NEXT, NUM);
	FAILS(f, walk(f, 0, 0, 64), -ERANGE, GPC_VHOST_WALK_NEXT_RANGE, 0,
	      false);
	set_desc(f, G0, 0, BUF, 8, NEXT, 0xffff);
	FAILS(f, walk(f, 0, 0, 64), -ERANGE, GPC_VHOST_WALK_NEXT_RANGE, 0,
	      false);
	/* Without NEXT the next field is not looked at. */
	set_desc(f, G0, 0, BUF, 8, 0, 0xffff);
	assert_int_equal(walk(f, 0, 0, 64), 0);
}

/*
 * More than UINT32_MAX bytes need that much guest memory: a slot of 4 GiB
 * over a PROT_NONE reservation (the walker only translates, it never
 * touches a buffer).
 */
static void test_too_long(void **state)
{
	struct fx *f = *state;
	const uint64_t big = 1ull << 32, gbig = 1ull << 40;
	void *r = mmap(NULL, big, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	struct gpc_memslot_desc d = {
		.id = 3, .gpa = gbig, .size = big, .hva = (uint64_t)(uintptr_t)r
	};

	if (r == MAP_FAILED)
		skip();
	assert_int_equal(gpc_memslot_add(f->vm, &d), 0);
	set_desc(f, G0, 0, gbig, 0xfffffffeu, NEXT, 1);
	set_desc(f, G0, 1, gbig, 1, NEXT | WRITE, 2);
	set_desc(f, G0, 2, gbig, 0, WRITE, 0);
	assert_int_equal(walk(f, 0, 0, 64), 0);
	assert_int_equal(f->c.read_len, 0xfffffffeu);
	assert_int_equal(f->c.write_len, 1);
	set_desc(f, G0, 2, gbig, 1, WRITE, 0);
	FAILS(f, walk(f, 0, 0, 64), -E2BIG, GPC_VHOST_WALK_TOO_LONG, 2, false);
	set_desc(f, G0, 3, gbig, 0xffffffffu, NEXT, 4);
	set_desc(f, G0, 4, gbig, 0xffffffffu, 0, 0);
	FAILS(f, walk(f, 3, 0, 64), -E2BIG, GPC_VHOST_WALK_TOO_LONG, 4, false);
	assert_int_equal(gpc_memslot_delete(f->vm, 3), 0);
	munmap(r, big);
}

static void test_reasons(void **state)
{
	struct fx *f = *state;
	char line[160];

	for (int i = 0; i < GPC_VHOST_WALK_NR_ERR; i++) {
		const char *t = gpc_vhost_walk_strerror(i);

		assert_non_null(t);
		assert_string_not_equal(t, "unknown walk error");
		assert_true(gpc_vhost_walk_errno(i) < 0 || i == 0);
		for (int j = 0; j < i; j++)
			assert_string_not_equal(t, gpc_vhost_walk_strerror(j));
	}
	assert_string_equal(gpc_vhost_walk_strerror(GPC_VHOST_WALK_NR_ERR),
			    "unknown walk error");
	assert_int_equal(gpc_vhost_walk_errno(GPC_VHOST_WALK_NR_ERR), -EINVAL);

	set_desc(f, IT, 0, BUF, 8, WRITE | NEXT, 1);
	set_desc(f, IT, 1, BUF, 8, 0, 0);
	set_desc(f, G0, 3, IT, 32, INDIR, 0);
	assert_int_equal(walk(f, 3, IND, 64), -EILSEQ);
	gpc_vhost_walk_describe(&f->c, 3, line, sizeof(line));
	assert_string_equal(line, "head 3: descriptor 1 of indirect table: "
				  "readable descriptor after a writable one "
				  "(-EILSEQ)");
	set_desc(f, G0, 3, BUF, 8, 0, 0);
	assert_int_equal(walk(f, 3, IND, 64), 0);
	gpc_vhost_walk_describe(&f->c, 3, line, sizeof(line));
	assert_string_equal(line, "head 3: no error");
}

int main(void)
{
	const struct CMUnitTest unit[] = {
		T2(test_bad_args),   T2(test_no_section), T2(test_head_range),
		T2(test_table),	     T2(test_loop),	  T2(test_indirect_bad),
		T2(test_buffer_bad), T2(test_order),	  T2(test_next_range),
		T2(test_too_long),   T2(test_reasons),
	};

	ps = (uint64_t)sysconf(_SC_PAGESIZE);
	return cmocka_run_group_tests_name("vring_walk errors", unit, NULL,
					   NULL);
}
