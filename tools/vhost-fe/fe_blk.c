// SPDX-License-Identifier: MIT
/*
 * tools/vhost-fe/fe_blk.c - virtio-blk requests (virtio 1.x, 5.2) and the
 * data verification.
 *
 * Every 4 KiB block written carries its LBA and a generation number (and a
 * pattern derived from both in every word), and the front-end remembers
 * the generation it last wrote to each block. A read must return exactly
 * that: a lost write, a write to the wrong block, a read from the wrong
 * guest address or a partial copy all show up as a mismatch. The run
 * loop never has two requests on one block in flight, so the expected
 * content is always known - except after a write that failed because its
 * buffer's region was removed under it (--churn-inflight): the block then
 * holds the old or the new generation, both are accepted, and the first
 * read tells which it is from then on. Before a read the buffer is filled with a
 * pattern no block carries, so a device that reports success without
 * writing the buffer is caught too.
 */
#include <stdio.h>
#include <string.h>

#include <linux/virtio_blk.h>

#include "fe.h"

#define FE_MAGIC    0x3130454656435047ull /* "GPCVFE01" */
#define READ_FILL   0xa5
#define GEN_UNKNOWN UINT32_MAX
#define STATUS_FILL 0xff /* no status a device may write */

static uint64_t word_of(uint64_t lba, uint32_t gen, unsigned int i)
{
	uint64_t x = (lba << 20) ^ ((uint64_t)gen << 40) ^ i;

	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	return x;
}

void fe_blk_fill(void *buf, uint64_t lba, uint32_t gen)
{
	uint64_t *w = buf;

	w[0] = FE_MAGIC;
	w[1] = lba;
	w[2] = gen;
	for (unsigned int i = 3; i < FE_BLOCK / 8; i++)
		w[i] = word_of(lba, gen, i);
}

uint64_t fe_blk_check(const void *buf, uint64_t lba, uint32_t gen)
{
	const uint64_t *w = buf;
	uint64_t bad = 0;

	bad += w[0] != FE_MAGIC;
	bad += w[1] != lba;
	bad += w[2] != gen;
	for (unsigned int i = 3; i < FE_BLOCK / 8; i++)
		bad += w[i] != word_of(lba, gen, i);
	return bad;
}

unsigned int fe_blk_build(struct fe_req *r, struct fe_mem *m,
			  struct fe_seg *segs)
{
	struct virtio_blk_outhdr *h = fe_gpa_to_hva(m, r->meta_gpa, 17);
	uint8_t *status = (uint8_t *)h + 16;
	void *data = fe_gpa_to_hva(m, r->data_gpa, FE_BLOCK);
	unsigned int n = 0;

	h->ioprio = 0;
	h->sector = r->lba * (FE_BLOCK / FE_SECTOR);
	*status = STATUS_FILL;
	segs[n++] = (struct fe_seg){ r->meta_gpa, 16, false };
	switch (r->kind) {
	case FE_READ:
		h->type = VIRTIO_BLK_T_IN;
		memset(data, READ_FILL, FE_BLOCK);
		segs[n++] = (struct fe_seg){ r->data_gpa, FE_BLOCK, true };
		break;
	case FE_WRITE:
		h->type = VIRTIO_BLK_T_OUT;
		fe_blk_fill(data, r->lba, r->gen);
		segs[n++] = (struct fe_seg){ r->data_gpa, FE_BLOCK, false };
		break;
	case FE_FLUSH:
		h->type = VIRTIO_BLK_T_FLUSH;
		h->sector = 0;
		break;
	case FE_GET_ID:
		h->type = VIRTIO_BLK_T_GET_ID;
		h->sector = 0;
		memset(data, 0, VIRTIO_BLK_ID_BYTES);
		segs[n++] = (struct fe_seg){ r->data_gpa, VIRTIO_BLK_ID_BYTES,
					     true };
		break;
	}
	segs[n++] = (struct fe_seg){ r->meta_gpa + 16, 1, true };
	return n;
}

static void report(struct fe_blk *b, const struct fe_req *r, const char *what,
		   const uint64_t *w, uint32_t expect)
{
	if (b->mismatch_prints++ >= 10)
		return;
	fprintf(stderr,
		"fe: MISMATCH q%u lba %llu: %s (expected gen %u; read magic "
		"%016llx lba %llu gen %llu; buffer gpa 0x%llx)\n",
		r->q, (unsigned long long)r->lba, what, expect,
		(unsigned long long)w[0], (unsigned long long)w[1],
		(unsigned long long)w[2], (unsigned long long)r->data_gpa);
}

/*
 * Does the block read hold generation g? 1 yes, 0 no, -1 cannot tell (never
 * written and the disk was not promised to start zeroed).
 */
static int holds(const struct fe_blk *b, const uint64_t *data, uint64_t lba,
		 uint32_t g)
{
	if (g == 0) {
		if (!b->expect_zero)
			return -1;
		for (unsigned int i = 0; i < FE_BLOCK / 8; i++)
			if (data[i])
				return 0;
		return 1;
	}
	return fe_blk_check(data, lba, g) == 0;
}

static void check_read(struct fe_blk *b, const struct fe_req *r,
		       const uint64_t *data, struct fe_stats *st)
{
	uint32_t g = b->gen[r->lba], alt = b->gen_alt[r->lba];
	int now, other;

	if (g == GEN_UNKNOWN)
		return;
	now = holds(b, data, r->lba, g);
	if (!alt) {
		if (now < 0)
			return;
		st->verified++;
		if (!now) {
			st->mismatches++;
			report(b, r, g ? "content" : "never written, not zero",
			       data, g);
		}
		return;
	}
	/*
	 * A failed write left old-or-new: either is right, and the one read
	 * is the content from now on (nothing else writes the block).
	 */
	other = holds(b, data, r->lba, alt);
	if (now < 0 && other != 1)
		return; /* the old content unknowable, the new one not there */
	st->verified++;
	if (now == 1 || other == 1) {
		b->gen[r->lba] = now == 1 ? g : alt;
		b->gen_alt[r->lba] = 0;
		st->ambiguous_resolved++;
		return;
	}
	st->mismatches++;
	report(b, r, "neither the old nor the failed write's generation", data,
	       alt);
}

void fe_blk_complete(struct fe_blk *b, struct fe_req *r, struct fe_mem *m,
		     uint32_t used_len, struct fe_stats *st)
{
	uint8_t *status = (uint8_t *)fe_gpa_to_hva(m, r->meta_gpa, 17) + 16;
	const uint64_t *data = r->use_snap ?
				       (const void *)r->snap :
				       fe_gpa_to_hva(m, r->data_gpa, FE_BLOCK);

	st->requests++;
	/*
	 * Its buffer's region was removed under it and the back-end found
	 * the buffer outside memory: it either reports an I/O error or gives
	 * the chain back untouched (used length 0, the status byte still our
	 * 0xff: it could not parse the request, so it wrote nothing).
	 * Accepted for these requests only.
	 */
	if (r->rem_victim && (*status == VIRTIO_BLK_S_IOERR ||
			      (*status == STATUS_FILL && used_len == 0))) {
		if (*status == VIRTIO_BLK_S_IOERR)
			st->rem_victim_ioerr++;
		else
			st->rem_victim_nostatus++;
		if (r->kind == FE_WRITE) {
			st->rem_write_failed++;
			if (b->gen_alt[r->lba] ||
			    b->gen[r->lba] == GEN_UNKNOWN) {
				/* A third candidate: unknown until written. */
				b->gen[r->lba] = GEN_UNKNOWN;
				b->gen_alt[r->lba] = 0;
			} else {
				b->gen_alt[r->lba] = r->gen;
			}
		}
		return;
	}
	if (*status != VIRTIO_BLK_S_OK) {
		st->io_errors++;
		if (st->io_errors <= 10)
			fprintf(stderr,
				"fe: q%u request kind %d lba %llu: "
				"status %u\n",
				r->q, r->kind, (unsigned long long)r->lba,
				*status);
		/* A failed write leaves the block's content unknown. */
		if (r->kind == FE_WRITE) {
			b->gen[r->lba] = GEN_UNKNOWN;
			b->gen_alt[r->lba] = 0;
		}
		return;
	}
	if (r->rem_victim) {
		st->rem_victim_ok++;
		st->rem_victim_ok_by_reply += r->done_by_reply;
	}
	switch (r->kind) {
	case FE_WRITE:
		st->writes++;
		b->gen[r->lba] = r->gen;
		b->gen_alt[r->lba] = 0;
		break;
	case FE_READ:
		st->reads++;
		check_read(b, r, data, st);
		break;
	case FE_FLUSH:
		st->flushes++;
		break;
	case FE_GET_ID:
		st->get_ids++;
		break;
	}
}
