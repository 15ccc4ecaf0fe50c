// SPDX-License-Identifier: MIT
/*
 * tests/cxx/layout_c.c - the layout table of layout.h as C sees it.
 */
#include <stdalign.h>

#include "layout.h"

#define L_S(s)                                      \
	{ "struct " #s " size", sizeof(struct s) }, \
		{ "struct " #s " align", alignof(struct s) },
#define L_F(s, f)                                       \
	{ #s "." #f " offset", offsetof(struct s, f) }, \
		{ #s "." #f " size", sizeof(((struct s *)0)->f) },
#define L_E(e) { "enum " #e " size", sizeof(enum e) },

/* layout_plain.c: this file again, with GPC_PLAIN_ATOMICS. */
#ifndef GPC_LAYOUT_TABLE
#define GPC_LAYOUT_TABLE gpc_layout_c
#define GPC_LAYOUT_COUNT gpc_layout_c_count
#endif

const struct gpc_layout_entry GPC_LAYOUT_TABLE[] = { GPC_LAYOUT(L_S, L_F,
								L_E) };
const size_t GPC_LAYOUT_COUNT =
	sizeof(GPC_LAYOUT_TABLE) / sizeof(GPC_LAYOUT_TABLE[0]);
