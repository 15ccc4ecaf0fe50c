/* SPDX-License-Identifier: MIT */
/*
 * tests/support/vhost_echo.h - the echo of the test back-ends' devices
 * (tests/vhost/test_vhost_dev.c and its includers, fuzz/fuzz_vhost_dev.c):
 * a request's device-readable bytes copied into its device-writable ones,
 * in order, as far as both go.
 *
 * memmove, not memcpy: the buffers are guest memory the driver chose, and
 * a readable and a writable descriptor may overlap (the fuzzer makes them
 * do so; a test may too), which memcpy leaves undefined.
 */
#ifndef GPC_TEST_VHOST_ECHO_H
#define GPC_TEST_VHOST_ECHO_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/uio.h>

#include <gpc/vhost.h>

/* Copy readable into writable bytes of @r; the bytes copied. Any context. */
static inline uint32_t vhost_test_echo(const struct gpc_vhost_req *r)
{
	unsigned int ri = 0, wi = r->nr_read;
	size_t roff = 0, woff = 0;
	uint32_t n = 0;

	while (ri < r->nr_read && wi < r->nr_read + r->nr_write) {
		size_t k = r->iov[ri].iov_len - roff;

		if (r->iov[wi].iov_len - woff < k)
			k = r->iov[wi].iov_len - woff;
		memmove((char *)r->iov[wi].iov_base + woff,
			(const char *)r->iov[ri].iov_base + roff, k);
		n += (uint32_t)k;
		roff += k;
		woff += k;
		if (roff == r->iov[ri].iov_len) {
			ri++;
			roff = 0;
		}
		if (woff == r->iov[wi].iov_len) {
			wi++;
			woff = 0;
		}
	}
	return n;
}

#endif /* GPC_TEST_VHOST_ECHO_H */
