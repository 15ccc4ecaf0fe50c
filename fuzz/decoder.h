/* SPDX-License-Identifier: MIT */
/*
 * fuzz/decoder.h - input bytes to operations (the encoding: fuzz_ops.h).
 * Depends on the layout only: no library, model or runtime state.
 */
#ifndef GPC_FUZZ_DECODER_H
#define GPC_FUZZ_DECODER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fuzz_ops.h"
#include "layout.h"

/* The lengths a 4-bit selector picks. */
extern const uint64_t lens[16];

void take_record(const uint8_t **p, const uint8_t *end, uint8_t rec[FZ_REC]);
uint64_t dec_gpa(uint8_t b, uint8_t boff);
uint64_t dec_slot_gpa(uint8_t b);
uint64_t dec_hva(uint8_t b, uint8_t boff, uint64_t *len);
uint64_t clamp_hva_len(bool hva_mode, uint64_t addr, uint64_t len);
uint64_t dec_off(uint8_t b, uint64_t L);
uint64_t dec_alen(uint8_t b, uint64_t L, uint64_t off);
void dec_range(uint8_t a, uint8_t b, uint8_t c, uint64_t *s, uint64_t *e);
int cache_arg(uint8_t a);

#endif /* GPC_FUZZ_DECODER_H */
