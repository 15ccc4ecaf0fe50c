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

const struct gpc_layout_entry gpc_layout_c[] = { GPC_LAYOUT(L_S, L_F, L_E) };
const size_t gpc_layout_c_count =
	sizeof(gpc_layout_c) / sizeof(gpc_layout_c[0]);
