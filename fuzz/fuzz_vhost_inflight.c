// SPDX-License-Identifier: MIT
/*
 * fuzz/fuzz_vhost_inflight.c - libFuzzer harness for SET_INFLIGHT_FD as a
 * hostile front-end sends it (src/vhost/inflight.c).
 *
 * Input: a struct gpc_vhost_inflight (24 bytes, every field from the
 * input), a u32 file size (bounded to 1 MiB), a u16 used->idx per queue
 * (2 * 64 bytes), then the file's bytes (zero-padded). The area is given to
 * gpc_vhost_inflight_map(); if accepted, every queue is resubmitted and
 * must give distinct heads below the queue size, then a few heads of the
 * queue are begun and the resubmit after that must give them back, last,
 * in the order begun. Any crash, sanitizer report or broken property is a
 * finding.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "inflight.h"

#define HDR	 24
#define FILE_MAX (1u << 20)

static void check(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_vhost_inflight: %s\n", what);
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gpc_vhost_inflight msg;
	struct gpc_vhost_inflight_area *a = NULL;
	uint16_t used[GPC_VHOST_INFLIGHT_MAX_QUEUES];
	static uint16_t heads[GPC_VHOST_INFLIGHT_MAX_QSIZE];
	static bool seen[GPC_VHOST_INFLIGHT_MAX_QSIZE];
	uint32_t fsize;
	size_t pre = HDR + 4 + sizeof(used);
	int fd;

	if (size < pre)
		return 0;
	memcpy(&msg, data, HDR);
	memcpy(&fsize, data + HDR, 4);
	memcpy(used, data + HDR + 4, sizeof(used));
	fsize %= FILE_MAX + 1;
	fd = memfd_create("fuzz-inflight", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, fsize)) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	if (size > pre) {
		size_t n = size - pre < fsize ? size - pre : fsize;

		if (n && pwrite(fd, data + pre, n, 0) != (ssize_t)n) {
			close(fd);
			return 0;
		}
	}
	if (gpc_vhost_inflight_map(fd, &msg, &a)) {
		close(fd);
		return 0;
	}
	close(fd);
	for (unsigned int q = 0; q < msg.num_queues; q++) {
		unsigned int n = 0, m = 0, nb = 0;
		uint16_t begun[4];
		int err = gpc_vhost_inflight_resubmit(a, q, used[q], heads,
						      msg.queue_size, &n);

		check(!err, "resubmit failed with room for every head");
		check(n <= msg.queue_size, "more heads than the queue");
		memset(seen, 0, msg.queue_size * sizeof(seen[0]));
		for (unsigned int i = 0; i < n; i++) {
			check(heads[i] < msg.queue_size, "head out of range");
			check(!seen[heads[i]], "head twice");
			seen[heads[i]] = true;
		}
		/* Begin up to 4 heads not inflight: they come back last. */
		for (unsigned int h = 0; h < msg.queue_size && nb < 4; h++)
			if (!seen[h]) {
				check(!gpc_vhost_inflight_begin(a, q,
								(uint16_t)h),
				      "begin of a free head");
				begun[nb++] = (uint16_t)h;
			}
		check(!gpc_vhost_inflight_resubmit(a, q, used[q], heads,
						   msg.queue_size, &m),
		      "second resubmit");
		check(m == n + nb, "begun heads not all inflight");
		for (unsigned int i = 0; i < nb; i++)
			check(heads[n + i] == begun[i], "begin order lost");
	}
	gpc_vhost_inflight_destroy(a);
	return 0;
}
