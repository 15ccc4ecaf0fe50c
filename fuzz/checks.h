/* SPDX-License-Identifier: MIT */
/*
 * fuzz/checks.h - the library against the model (see checks.c).
 */
#ifndef GPC_FUZZ_CHECKS_H
#define GPC_FUZZ_CHECKS_H

#include <stdint.h>

/* Learn what the model left open ("maybe") from side-effect-free calls. */
void resolve(void);
/* After every operation: hooks, logs, caches, counters, vCPU, mappings. */
void check_state(void);
/* The statistics of the vm and of every cache. */
void check_stats(void);
void verify_hit(int ci, const uint8_t *p, uint64_t off, uint64_t len);
void verify_hva(uint64_t hva, uint64_t len);
/* At teardown: all of guest RAM and the retired pages. */
void verify_ram(void);

#endif /* GPC_FUZZ_CHECKS_H */
