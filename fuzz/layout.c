// SPDX-License-Identifier: MIT
/*
 * fuzz/layout.c - where the harness's memory is: the guest RAM regions, the
 * guard area, and the address arithmetic on them (see layout.h).
 */
#include "layout.h"

const unsigned int reg_npages[NREG] = { 8, 4 };
const unsigned int reg_first[NREG] = { 0, 8 };
uint8_t *rbase[NREG];
uint8_t *guard;

uint64_t page_down(uint64_t a)
{
	return a & ~(PG - 1);
}

/* Region of @hva (0, 1), 2 for the guard, -1 elsewhere; *pg: model page. */
int reg_of(uint64_t hva, int *pg)
{
	for (int r = 0; r < NREG; r++) {
		uint64_t b = (uintptr_t)rbase[r];

		if (hva >= b && hva - b < reg_npages[r] * PG) {
			*pg = (int)(reg_first[r] + (hva - b) / PG);
			return r;
		}
	}
	if (hva >= (uintptr_t)guard &&
	    hva - (uintptr_t)guard < GUARD_PAGES * PG)
		return 2;
	return -1;
}

uint64_t reg_end(int r)
{
	if (r == 2)
		return (uintptr_t)guard + GUARD_PAGES * PG;
	return (uintptr_t)rbase[r] + reg_npages[r] * PG;
}

uint64_t reg_base(int r)
{
	return r == 2 ? (uintptr_t)guard : (uintptr_t)rbase[r];
}

unsigned int reg_np(int r)
{
	return r == 2 ? GUARD_PAGES : reg_npages[r];
}

/* Pages [a, b) and [c, d) share a page (byte ranges, nonempty). */
bool pages_overlap(uint64_t a, uint64_t b, uint64_t c, uint64_t d)
{
	return a / PG <= (d - 1) / PG && c / PG <= (b - 1) / PG;
}

bool bytes_overlap(uint64_t a, uint64_t b, uint64_t c, uint64_t d)
{
	return a < d && c < b;
}
