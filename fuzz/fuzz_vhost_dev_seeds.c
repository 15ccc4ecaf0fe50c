// SPDX-License-Identifier: MIT
/*
 * fuzz/fuzz_vhost_dev_seeds.c - the seeds of fuzz_vhost_dev
 * (FUZZ_VHOST_DEV_WRITE_SEEDS=<dir> fuzz_vhost_dev writes them; they are
 * checked in as fuzz/corpus-vhost-dev), encoded for the decoder of
 * fuzz_vhost_dev_fe.c: full valid sessions first (negotiation, memory,
 * queues, kicks, GET_VRING_BASE) on both schemes, then table churn, the
 * config space, and refusals before SET_OWNER.
 */
#include <string.h>

#include "fuzz_vhost_dev.h"

struct seed {
	uint8_t b[2048];
	size_t n;
};

static void put(struct seed *s, const void *p, size_t len)
{
	CHECK(s->n + len <= sizeof(s->b), "seed too long");
	if (len)
		memcpy(s->b + s->n, p, len);
	s->n += len;
}

static void put8(struct seed *s, uint8_t v)
{
	put(s, &v, 1);
}

static unsigned int sup_index(uint32_t req)
{
	for (unsigned int i = 0; i < nsupported; i++)
		if (supported[i] == req)
			return i;
	CHECK(0, "request %u not in the list", req);
	return 0;
}

/* A message op: request, f (need_reply, fix-ups on), payload bytes. */
static void smsg(struct seed *s, uint32_t req, bool need_reply, const void *p,
		 size_t len)
{
	put8(s, 0);
	put8(s, (uint8_t)sup_index(req));
	put8(s, need_reply ? 1 : 0);
	put(s, p, len);
}

static void su64(struct seed *s, uint32_t req, uint64_t v)
{
	smsg(s, req, true, &v, 8);
}

static void sstate(struct seed *s, uint32_t req, uint32_t i, uint32_t n)
{
	struct vhost_vring_state st = { i, n };

	smsg(s, req, true, &st, sizeof(st));
}

/*
 * The raw bytes that fix_region() turns into "all of memfd m at guest
 * base g, user base u" (the size's bit 0 clear: the whole file).
 */
static struct gpc_vhost_region sregion(unsigned int m, unsigned int g,
				       unsigned int u)
{
	return (struct gpc_vhost_region){
		.guest_addr = ((uint64_t)m << 63) | g,
		.size = 0,
		.user_addr = u,
		.mmap_offset = 0,
	};
}

/*
 * A queue on region 0 (memfd A at GPA 1 MiB, UBASE): model_addr() picks
 * page sel >> 4 of region sel % nreg.
 */
static void squeue(struct seed *s, unsigned int q, uint8_t page)
{
	struct vhost_vring_addr a = {
		.index = q,
		.desc_user_addr = (uint64_t)page << 4,
		.avail_user_addr = (uint64_t)(page + 1) << 4,
		.used_user_addr = (uint64_t)(page + 2) << 4,
	};
	uint64_t v = q;

	sstate(s, GPC_VHOST_SET_VRING_NUM, q, 4); /* 1 << 4 = 16 */
	smsg(s, GPC_VHOST_SET_VRING_ADDR, true, &a, sizeof(a));
	sstate(s, GPC_VHOST_SET_VRING_BASE, q, 0);
	su64(s, GPC_VHOST_SET_VRING_CALL, v);
	su64(s, GPC_VHOST_SET_VRING_KICK, v);
	sstate(s, GPC_VHOST_SET_VRING_ENABLE, q, 1);
}

/* A kick of two descriptors (readable page 8, writable page 9). */
static void skick(struct seed *s, unsigned int q, bool hold)
{
	put8(s, 12);
	put8(s, (uint8_t)q);
	put8(s, 1 | (1 << 2)); /* 2 descriptors, 1 readable, head 0 */
	put8(s, hold ? 0x10 : 0);
	put8(s, 4); /* 65 bytes */
	put8(s, 8 << 4);
	put8(s, 0);
	put8(s, 4);
	put8(s, 9 << 4);
}

static void negotiate(struct seed *s, uint64_t features)
{
	uint64_t proto = (1ull << GPC_VHOST_PROTOCOL_F_MQ) |
			 (1ull << GPC_VHOST_PROTOCOL_F_REPLY_ACK) |
			 (1ull << GPC_VHOST_PROTOCOL_F_CONFIG) |
			 (1ull << GPC_VHOST_PROTOCOL_F_CONFIGURE_MEM_SLOTS) |
			 (1ull << GPC_VHOST_PROTOCOL_F_STATUS);

	smsg(s, GPC_VHOST_GET_FEATURES, false, NULL, 0);
	smsg(s, GPC_VHOST_GET_PROTOCOL_FEATURES, false, NULL, 0);
	su64(s, GPC_VHOST_SET_PROTOCOL_FEATURES, proto);
	smsg(s, GPC_VHOST_SET_OWNER, true, NULL, 0);
	su64(s, GPC_VHOST_SET_FEATURES, features);
}

static void smem_table(struct seed *s, unsigned int n)
{
	put8(s, 0);
	put8(s, (uint8_t)sup_index(GPC_VHOST_SET_MEM_TABLE));
	put8(s, 1);
	put8(s, (uint8_t)n);
	for (unsigned int i = 0; i < n; i++) {
		struct gpc_vhost_region r = sregion(i & 1, i, i);

		put(s, &r, sizeof(r));
	}
}

static void write_seed(const char *dir, const char *name, const struct seed *s)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	CHECK(f && fwrite(s->b, 1, s->n, f) == s->n && !fclose(f),
	      "cannot write %s", path);
}

void fzd_write_seeds(const char *dir)
{
	const uint64_t feat = (1ull << VIRTIO_F_VERSION_1) |
			      (1ull << GPC_VHOST_F_PROTOCOL_FEATURES) |
			      (1ull << VIRTIO_RING_F_INDIRECT_DESC);
	struct seed s;

	for (uint8_t scheme = 0; scheme < 2; scheme++) {
		char name[64];

		/* The full valid session: negotiate, memory, queue, I/O. */
		s.n = 0;
		put8(&s, scheme);
		negotiate(&s, feat);
		smem_table(&s, 1);
		squeue(&s, 0, 0);
		skick(&s, 0, false);
		skick(&s, 0, true);
		sstate(&s, GPC_VHOST_GET_VRING_BASE, 0, 0);
		snprintf(name, sizeof(name), "session-%s",
			 scheme ? "rwlock" : "srcu");
		write_seed(dir, name, &s);

		/* EVENT_IDX, two queues, ADD/REM_MEM_REG under a held request. */
		s.n = 0;
		put8(&s, scheme);
		negotiate(&s, feat | 1ull << VIRTIO_RING_F_EVENT_IDX);
		smem_table(&s, 1);
		{
			struct gpc_vhost_mem_reg r = { 0, sregion(1, 1, 1) };

			smsg(&s, GPC_VHOST_ADD_MEM_REG, true, &r.region,
			     sizeof(r.region));
		}
		squeue(&s, 0, 0);
		squeue(&s, 1, 4);
		skick(&s, 0, true);
		skick(&s, 1, false);
		{
			/* REM_MEM_REG of model region 1 (guest_addr % nreg). */
			struct gpc_vhost_region r = { .guest_addr = 1 };

			smsg(&s, GPC_VHOST_REM_MEM_REG, true, &r, sizeof(r));
		}
		sstate(&s, GPC_VHOST_GET_VRING_BASE, 1, 0);
		smsg(&s, GPC_VHOST_RESET_OWNER, true, NULL, 0);
		snprintf(name, sizeof(name), "two-queues-%s",
			 scheme ? "rwlock" : "srcu");
		write_seed(dir, name, &s);
	}

	/* A driver whose avail index jumps past the queue size. */
	s.n = 0;
	put8(&s, 0);
	negotiate(&s, feat);
	smem_table(&s, 1);
	squeue(&s, 0, 0);
	skick(&s, 0, false);
	skick(&s, 0x80, false);
	sstate(&s, GPC_VHOST_GET_VRING_BASE, 0, 0);
	write_seed(dir, "broken-avail", &s);

	/* Memory table churn: two regions, then a table that keeps one. */
	s.n = 0;
	put8(&s, 0);
	negotiate(&s, feat);
	smem_table(&s, 2);
	squeue(&s, 0, 0);
	smem_table(&s, 1);
	skick(&s, 0, false);
	smem_table(&s, 0);
	write_seed(dir, "table-churn", &s);

	/* Config space, status, queue count, slots, back-end channel. */
	s.n = 0;
	put8(&s, 1);
	negotiate(&s, feat);
	smsg(&s, GPC_VHOST_GET_QUEUE_NUM, false, NULL, 0);
	smsg(&s, GPC_VHOST_GET_MAX_MEM_SLOTS, false, NULL, 0);
	{
		uint8_t c[12 + 4] = { 2, 0, 0, 0, 4, 0, 0, 0,
				      0, 0, 0, 0, 1, 2, 3, 4 };

		smsg(&s, GPC_VHOST_SET_CONFIG, true, c, sizeof(c));
		smsg(&s, GPC_VHOST_GET_CONFIG, false, c, sizeof(c));
	}
	su64(&s, GPC_VHOST_SET_STATUS, 0xf);
	smsg(&s, GPC_VHOST_GET_STATUS, false, NULL, 0);
	smsg(&s, GPC_VHOST_RESET_DEVICE, true, NULL, 0);
	write_seed(dir, "config-status", &s);

	/* Before SET_OWNER, and a wrong size: the refusals. */
	s.n = 0;
	put8(&s, 0);
	smsg(&s, GPC_VHOST_GET_FEATURES, false, NULL, 0);
	sstate(&s, GPC_VHOST_SET_VRING_NUM, 0, 4);
	write_seed(dir, "before-owner", &s);
}
