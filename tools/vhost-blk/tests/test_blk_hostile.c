// SPDX-License-Identifier: MIT
/*
 * tools/vhost-blk/tests/test_blk_hostile.c - gpc-vhost-blk's request parser
 * (blk_req.c) given random iovecs and headers (the fixture: blk_test.h):
 * its output (status byte, data iovecs, ranges) must stay inside the
 * iovecs it was given and inside the disk.
 */
#include "blk_test.h"

/* @p .. +@n inside one of the @k iovecs at @v. */
static bool inside(const struct iovec *v, unsigned int k, const void *p,
		   size_t n)
{
	for (unsigned int i = 0; i < k; i++) {
		const char *b = v[i].iov_base;

		if ((const char *)p >= b &&
		    (const char *)p + n <= b + v[i].iov_len)
			return true;
	}
	return false;
}

static void hostile_random(void **state)
{
	static uint8_t buf[4096];
	struct blk_disk *d = *state;
	struct iovec iov[12], scratch[12];
	struct blk_op op;
	unsigned int seed = 12345;

	blk_log_set_sink(NULL, NULL);
	blk_log_set_sink(sink, NULL);
	for (int it = 0; it < 200000; it++) {
		unsigned int n = (unsigned int)rand_r(&seed) % 12;
		unsigned int nr = n ? (unsigned int)rand_r(&seed) % (n + 1) : 0;

		for (unsigned int i = 0; i < n; i++) {
			size_t off = (size_t)rand_r(&seed) % sizeof(buf);
			size_t len = (size_t)rand_r(&seed) % 4 == 0 ?
					     0 :
					     (size_t)rand_r(&seed) %
						     (sizeof(buf) - off + 1);
			iov[i].iov_base = buf + off;
			iov[i].iov_len = len % 3 == 0 ? len % 40 : len;
		}
		/* Plausible headers half of the time. */
		for (unsigned int i = 0; i < 64; i++)
			buf[i] = (uint8_t)rand_r(&seed);
		if (rand_r(&seed) & 1) {
			struct virtio_blk_outhdr h = {
				.type = htole32((uint32_t)rand_r(&seed) % 16),
				.sector = htole64((uint64_t)rand_r(&seed) %
						  (CAP_SECT + 16)),
			};

			if (n && iov[0].iov_len >= sizeof(h))
				memcpy(iov[0].iov_base, &h, sizeof(h));
		}
		blk_req_parse(d, iov, nr, n - nr, scratch, 12, &op);
		if (op.status_ptr)
			assert_true(inside(iov + nr, n - nr, op.status_ptr, 1));
		else
			assert_int_equal(op.written, 0);
		if (op.kind == BLK_K_READ || op.kind == BLK_K_WRITE ||
		    op.kind == BLK_K_GET_ID) {
			uint64_t t = 0;
			const struct iovec *src =
				op.kind == BLK_K_WRITE ? iov : iov + nr;
			unsigned int k = op.kind == BLK_K_WRITE ? nr : n - nr;

			for (unsigned int i = 0; i < op.nr_data; i++) {
				t += op.data[i].iov_len;
				if (op.data[i].iov_len)
					assert_true(inside(src, k,
							   op.data[i].iov_base,
							   op.data[i].iov_len));
			}
			assert_int_equal(t, op.len);
			if (op.kind != BLK_K_GET_ID) {
				assert_true(op.off + op.len <= DISK_BYTES);
				assert_int_equal(op.len % 512, 0);
			}
		}
		if (op.kind == BLK_K_DISCARD || op.kind == BLK_K_WRITE_ZEROES) {
			assert_true(op.nr_ranges >= 1 &&
				    op.nr_ranges <= BLK_MAX_RANGES);
			for (unsigned int i = 0; i < op.nr_ranges; i++)
				assert_true(op.ranges[i].off +
						    op.ranges[i].len <=
					    DISK_BYTES);
		}
		blk_log_reset_limit();
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(hostile_random),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
