/* SPDX-License-Identifier: MIT */
/*
 * fuzz/layout.h - the memory of fuzz_api and its sizes: two guest RAM
 * regions (allocated by gpc_hostmem_alloc at setup), a PROT_NONE guard area
 * that bad inputs point into, and the address arithmetic on them. A leaf:
 * no library or harness code.
 */
#ifndef GPC_FUZZ_LAYOUT_H
#define GPC_FUZZ_LAYOUT_H

#include <stdbool.h>
#include <stdint.h>

#define PG	    4096ull
#define NREG	    2
#define NPG	    12
#define NC	    4 /* caches 0-3; cache 4 stays a zeroed, never-initialised struct */
#define BOGUS_C	    NC
#define MAX_OPEN    72 /* more than GPC_INVAL_MAX_INFLIGHT, to reach -EBUSY */
#define GUARD_PAGES 4
#define BUFSZ	    (4 * PG)
#define GBASE	    0x100000ull
#define MAX_SLOTS   4
#define MAX_EV	    512

/* Region r has reg_npages[r] pages, model pages reg_first[r]... */
extern const unsigned int reg_npages[NREG];
extern const unsigned int reg_first[NREG];
extern uint8_t *rbase[NREG]; /* set by setup() */
extern uint8_t *guard;	     /* GUARD_PAGES, mapped once at start */

uint64_t page_down(uint64_t a);
int reg_of(uint64_t hva, int *pg);
uint64_t reg_end(int r);
uint64_t reg_base(int r);
unsigned int reg_np(int r);
bool pages_overlap(uint64_t a, uint64_t b, uint64_t c, uint64_t d);
bool bytes_overlap(uint64_t a, uint64_t b, uint64_t c, uint64_t d);

#endif /* GPC_FUZZ_LAYOUT_H */
