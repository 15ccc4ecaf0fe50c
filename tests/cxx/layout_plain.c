// SPDX-License-Identifier: MIT
/*
 * tests/cxx/layout_plain.c - the layout table of layout.h with
 * GPC_PLAIN_ATOMICS, the declarations-only form for binding generators
 * (gpc/compiler.h): its layout must be C's too.
 */
#define GPC_PLAIN_ATOMICS 1
#define GPC_LAYOUT_TABLE  gpc_layout_plain
#define GPC_LAYOUT_COUNT  gpc_layout_plain_count

#include "layout_c.c"
