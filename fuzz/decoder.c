// SPDX-License-Identifier: MIT
/*
 * fuzz/decoder.c - input bytes to operations: the records of an input
 * (fuzz_ops.h) and the decoding of their argument bytes into addresses,
 * offsets, lengths and ranges. Every byte value decodes to something; what
 * makes no sense becomes a bad-input call the model predicts.
 */
#include <string.h>

#include "decoder.h"

/* Take the next record from [*p, end), zero-padded if short. */
void take_record(const uint8_t **p, const uint8_t *end, uint8_t rec[FZ_REC])
{
	size_t n = (size_t)(end - *p);

	memset(rec, 0, FZ_REC);
	if (*p >= end)
		return;
	memcpy(rec, *p, n < FZ_REC ? n : FZ_REC);
	*p += n < FZ_REC ? n : FZ_REC;
}

const uint64_t lens[16] = {
	1,	2,  4,	    8,	    16,	    24, 64, 256,
	PG - 8, PG, PG + 8, 2 * PG, 3 * PG, 8,	0,  UINT64_MAX,
};

static uint64_t dec_boff(uint8_t b)
{
	switch (b >> 6) {
	case 0:
		return 0;
	case 1:
		return (b & 63) * 8ull;
	case 2:
		return PG - 8ull * ((b & 7) + 1);
	default:
		return (b & 63) * 64ull;
	}
}

uint64_t dec_gpa(uint8_t b, uint8_t boff)
{
	if ((b >> 6) != 3)
		return GBASE + (b & 31) * PG + dec_boff(boff);
	switch (b & 3) {
	case 0:
		return dec_boff(boff);
	case 1:
		return UINT64_MAX - (boff & 15);
	case 2:
		return GBASE - 8;
	default:
		return 1ull << 52;
	}
}

uint64_t dec_slot_gpa(uint8_t b)
{
	if ((b >> 6) != 3)
		return GBASE + (b & 31) * PG;
	switch (b & 3) {
	case 0:
		return GBASE + 8; /* unaligned */
	case 1:
		return UINT64_MAX & ~(PG - 1); /* overflows with any size */
	case 2:
		return 0;
	default:
		return 1ull << 40;
	}
}

/* An HVA for a cache, and its length clamped so that the range stays in
 * memory this harness owns (the direct stage would use anything mapped). */
uint64_t dec_hva(uint8_t b, uint8_t boff, uint64_t *len)
{
	int r = b >> 6;
	uint64_t hva, lim;

	if (r == 3) {
		if (b & 1) {
			/* The last page of the address space. */
			hva = UINT64_MAX - PG + 1 + (dec_boff(boff) & (PG - 1));
			return hva;
		}
		hva = dec_boff(boff);
		lim = 3 * PG;
	} else {
		hva = reg_base(r) + ((b & 15) % reg_np(r)) * PG +
		      dec_boff(boff);
		lim = reg_end(r);
	}
	if (*len && *len != UINT64_MAX && hva + *len > lim)
		*len = lim - hva;
	return hva;
}

/* A new length for a cache at @addr (if @hva_mode), clamped like dec_hva(). */
uint64_t clamp_hva_len(bool hva_mode, uint64_t addr, uint64_t len)
{
	uint64_t lim;
	int r, pg;

	if (!hva_mode || !len)
		return len;
	r = reg_of(addr, &pg);
	if (r >= 0)
		lim = reg_end(r);
	else if (addr < 3 * PG)
		lim = 3 * PG;
	else
		return len; /* the top page: nothing mapped above */
	return addr + len > lim || addr + len < addr ? lim - addr : len;
}

uint64_t dec_off(uint8_t b, uint64_t L)
{
	switch (b & 7) {
	case 0:
		return 0;
	case 1:
		return 1;
	case 2:
		return L / 2;
	case 3:
		return L ? L - 1 : 0;
	case 4:
		return L;
	case 5:
		return L + 1;
	case 6:
		return (b >> 3) * 8ull;
	default:
		return UINT64_MAX - (b >> 3);
	}
}

uint64_t dec_alen(uint8_t b, uint64_t L, uint64_t off)
{
	uint64_t n;

	switch (b & 7) {
	case 0:
		n = 1;
		break;
	case 1:
		n = 4;
		break;
	case 2:
		n = 8;
		break;
	case 3:
		n = off < L ? L - off : 1;
		break;
	case 4:
		n = off < L ? L - off + 1 : 2;
		break;
	case 5:
		n = 0;
		break;
	case 6:
		n = (b >> 3) + 1u;
		break;
	default:
		n = L;
		break;
	}
	return n > BUFSZ ? BUFSZ : n;
}

/* An invalidation range from three bytes. */
void dec_range(uint8_t a, uint8_t b, uint8_t c, uint64_t *s, uint64_t *e)
{
	int r = a >> 6;
	uint64_t st;

	if (r == 3) {
		*s = 0;
		*e = c == 0xff ? 0 : UINT64_MAX;
		return;
	}
	st = reg_base(r) + ((a & 15) % reg_np(r)) * PG;
	switch (b >> 6) {
	case 1:
		st += (b & 63) * 16ull;
		break;
	case 2:
		st += PG - 1 - (b & 7);
		break;
	case 3:
		st += (b & 63) * 64ull;
		break;
	}
	*s = st;
	if (c == 0xff)
		*e = st;
	else if (c == 0xfe)
		*e = st - 1;
	else if (c < 128)
		*e = st + ((c & 7) + 1) * PG;
	else
		*e = st + (c & 63) * 16ull + 1;
}

int cache_arg(uint8_t a)
{
	return (a & 7) > NC ? NC : (a & 7);
}
