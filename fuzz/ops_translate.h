/* SPDX-License-Identifier: MIT */
/*
 * fuzz/ops_translate.h - checks of the translation calls (ops_translate.c).
 */
#ifndef GPC_FUZZ_OPS_TRANSLATE_H
#define GPC_FUZZ_OPS_TRANSLATE_H

#include <stdint.h>

/* Translate @gpa every way and compare with the model; @d selects the
 * length (bits 3-7), write (bit 0) and the scatter entries (bits 1-2). */
void translate_checks(uint64_t gpa, uint8_t d);

#endif /* GPC_FUZZ_OPS_TRANSLATE_H */
