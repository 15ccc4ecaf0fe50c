// SPDX-License-Identifier: MIT
/*
 * fuzz/gen_vhost_seeds.c - write the seed corpus of fuzz_vhost_msg.
 *
 *	fuzz_gen_vhost_seeds <dir>
 *
 * The build runs it into the build folder (the seeds are not checked in):
 * one seed per request the library handles, well-formed and with the fds it
 * needs, a QEMU-like start-up sequence, and a few malformed streams (too
 * many fds, a truncated payload, an oversized header), each in the
 * encoding of fuzz_vhost_msg.h, so the fuzzer starts past the easy errors.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gpc/version.h>

#include "fuzz_vhost_msg.h"
#include "proto.h"

struct seed {
	uint8_t b[4096];
	size_t n;
};

static void start(struct seed *s, unsigned int fds1, unsigned int fds2,
		  unsigned int split)
{
	s->b[0] = FZV_FDS(fds1, fds2);
	s->b[1] = (uint8_t)split;
	s->n = FZV_HDR_BYTES;
}

/* Where the next message would start in the stream (for the split). */
static unsigned int here(const struct seed *s)
{
	return (unsigned int)(s->n - FZV_HDR_BYTES);
}

static void add(struct seed *s, uint32_t req, uint32_t flags,
		const void *payload, uint32_t size)
{
	struct gpc_vhost_hdr h = { .request = req,
				   .flags = flags,
				   .size = size };

	if (s->n + sizeof(h) + size > sizeof(s->b)) {
		fprintf(stderr, "gen_vhost_seeds: seed too long\n");
		exit(1);
	}
	memcpy(s->b + s->n, &h, sizeof(h));
	s->n += sizeof(h);
	if (size)
		memcpy(s->b + s->n, payload, size);
	s->n += size;
}

static const char *dir;

static void put(const char *name, const struct seed *s)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(s->b, 1, s->n, f) != s->n || fclose(f)) {
		fprintf(stderr, "gen_vhost_seeds: %s: %s\n", path,
			strerror(errno));
		exit(1);
	}
}

#define V  GPC_VHOST_VERSION
#define NR GPC_VHOST_FLAG_NEED_REPLY

/* One message alone, with its fds on the single piece. */
static void one(const char *name, uint32_t req, const void *p, uint32_t size,
		unsigned int fds)
{
	struct seed s;

	start(&s, fds, 0, 255);
	add(&s, req, V | NR, p, size);
	put(name, &s);
}

int main(int argc, char **argv)
{
	struct gpc_vhost_mem_table t = { .nregions = 2 };
	struct gpc_vhost_mem_reg r = { .region = { 0x100000000ull, 1 << 27,
						   0x7f0000000000ull, 0 } };
	struct gpc_vhost_log log = { 1 << 16, 0 };
	struct vhost_vring_state st = { 0, 256 };
	struct vhost_vring_addr a = {
		0, 0, 0x7f0000001000ull, 0x7f0000003000ull, 0x7f0000002000ull, 0
	};
	struct vhost_iotlb_msg io = { 0x1000, 0x1000, 0x7f0000000000ull,
				      VHOST_ACCESS_RW, VHOST_IOTLB_UPDATE };
	struct gpc_vhost_config_msg c = { 0, 16, 0, { 1, 2, 3, 4 } };
	struct gpc_vhost_inflight in = { 4096, 0, 1, 256 };
	uint64_t u = (1ull << VIRTIO_F_VERSION_1) |
		     (1ull << GPC_VHOST_F_PROTOCOL_FEATURES);
	uint64_t kick = 0;
	struct seed s;

	if (argc == 2 && !strcmp(argv[1], "--version")) {
		printf("fuzz_gen_vhost_seeds libgpc %s\n", GPC_VERSION_STRING);
		return 0;
	}
	if (argc != 2) {
		fprintf(stderr, "usage: %s <dir>\n", argv[0]);
		return 2;
	}
	dir = argv[1];
	t.regions[0] =
		(struct gpc_vhost_region){ 0, 1 << 30, 0x7f0000000000ull, 0 };
	t.regions[1] = (struct gpc_vhost_region){ 0x100000000ull, 1 << 30,
						  0x7f0040000000ull, 1 << 30 };

	one("get-features", GPC_VHOST_GET_FEATURES, NULL, 0, 0);
	one("set-features", GPC_VHOST_SET_FEATURES, &u, 8, 0);
	one("set-owner", GPC_VHOST_SET_OWNER, NULL, 0, 0);
	one("mem-table", GPC_VHOST_SET_MEM_TABLE, &t, 8 + 2 * 32, 2);
	one("log-base", GPC_VHOST_SET_LOG_BASE, &log, sizeof(log), 1);
	one("log-fd", GPC_VHOST_SET_LOG_FD, NULL, 0, 1);
	one("vring-num", GPC_VHOST_SET_VRING_NUM, &st, sizeof(st), 0);
	one("vring-addr", GPC_VHOST_SET_VRING_ADDR, &a, sizeof(a), 0);
	one("vring-kick", GPC_VHOST_SET_VRING_KICK, &kick, 8, 1);
	kick = GPC_VHOST_VRING_NOFD | 1;
	one("vring-call-nofd", GPC_VHOST_SET_VRING_CALL, &kick, 8, 0);
	one("backend-req-fd", GPC_VHOST_SET_BACKEND_REQ_FD, NULL, 0, 1);
	one("iotlb", GPC_VHOST_IOTLB_MSG, &io, sizeof(io), 0);
	one("get-config", GPC_VHOST_GET_CONFIG, &c, 12 + 16, 0);
	one("get-inflight", GPC_VHOST_GET_INFLIGHT_FD, &in, sizeof(in), 0);
	one("set-inflight", GPC_VHOST_SET_INFLIGHT_FD, &in, sizeof(in), 1);
	one("add-mem-reg", GPC_VHOST_ADD_MEM_REG, &r, sizeof(r), 1);
	one("rem-mem-reg", GPC_VHOST_REM_MEM_REG, &r, sizeof(r), 0);
	u = 0x0f;
	one("set-status", GPC_VHOST_SET_STATUS, &u, 8, 0);

	/* A start-up like QEMU's; the table's fds ride on the second piece. */
	start(&s, 0, 2, 0);
	u = (1ull << VIRTIO_F_VERSION_1) |
	    (1ull << GPC_VHOST_F_PROTOCOL_FEATURES);
	add(&s, GPC_VHOST_GET_FEATURES, V, NULL, 0);
	add(&s, GPC_VHOST_GET_PROTOCOL_FEATURES, V, NULL, 0);
	add(&s, GPC_VHOST_SET_PROTOCOL_FEATURES, V, &u, 8);
	add(&s, GPC_VHOST_GET_QUEUE_NUM, V, NULL, 0);
	add(&s, GPC_VHOST_SET_OWNER, V, NULL, 0);
	add(&s, GPC_VHOST_SET_FEATURES, V, &u, 8);
	s.b[1] = (uint8_t)here(&s);
	add(&s, GPC_VHOST_SET_MEM_TABLE, V | NR, &t, 8 + 2 * 32);
	add(&s, GPC_VHOST_SET_VRING_NUM, V, &st, sizeof(st));
	add(&s, GPC_VHOST_SET_VRING_BASE, V, &st, sizeof(st));
	add(&s, GPC_VHOST_SET_VRING_ADDR, V, &a, sizeof(a));
	add(&s, GPC_VHOST_SET_VRING_ENABLE, V, &st, sizeof(st));
	add(&s, GPC_VHOST_GET_VRING_BASE, V, &st, sizeof(st));
	put("startup", &s);

	/* Ten fds on one SET_MEM_TABLE of eight regions. */
	t.nregions = 8;
	for (int i = 2; i < 8; i++)
		t.regions[i] =
			(struct gpc_vhost_region){ (uint64_t)i << 32, 1 << 20,
						   0x7e0000000000ull, 0 };
	start(&s, 10, 0, 255);
	add(&s, GPC_VHOST_SET_MEM_TABLE, V, &t, sizeof(t));
	put("too-many-fds", &s);

	/* A payload cut short, and a header claiming 4 KiB. */
	start(&s, 1, 0, 255);
	add(&s, GPC_VHOST_ADD_MEM_REG, V, &r, sizeof(r));
	s.n -= 10;
	put("truncated", &s);
	start(&s, 0, 0, 255);
	add(&s, GPC_VHOST_SET_CONFIG, V, NULL, 0);
	memcpy(s.b + FZV_HDR_BYTES + 8, &(uint32_t){ 4096 }, 4);
	put("oversized", &s);
	return 0;
}
