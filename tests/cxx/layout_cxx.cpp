// SPDX-License-Identifier: MIT
/*
 * tests/cxx/layout_cxx.cpp - the layout table of layout.h as C++ sees it.
 */
#include <type_traits>

#include "layout.h"

/*
 * offsetof is only defined for standard-layout classes; the structs with
 * std::atomic members must stay that (and C++ would warn otherwise).
 */
#define L_S(s)                                      \
	{ "struct " #s " size", sizeof(struct s) }, \
		{ "struct " #s " align", alignof(struct s) },
#define L_F(s, f)                                       \
	{ #s "." #f " offset", offsetof(struct s, f) }, \
		{ #s "." #f " size", sizeof(((struct s *)0)->f) },
#define L_E(e) { "enum " #e " size", sizeof(enum e) },

#define SL_S(s)                                                 \
	static_assert(std::is_standard_layout<struct s>::value, \
		      "struct " #s " is standard-layout in C++");
#define SL_F(s, f)
#define SL_E(e)
GPC_LAYOUT(SL_S, SL_F, SL_E)

extern "C" {
const struct gpc_layout_entry gpc_layout_cxx[] = { GPC_LAYOUT(L_S, L_F, L_E) };
const size_t gpc_layout_cxx_count =
	sizeof(gpc_layout_cxx) / sizeof(gpc_layout_cxx[0]);
}
