/* SPDX-License-Identifier: MIT */
/*
 * gpc/version.h - which release of libgpc a program is built against.
 *
 * This header is the one place the version is written: the top-level
 * CMakeLists.txt reads GPC_VERSION_MAJOR/MINOR/PATCH from it for the
 * project version, the shared library's file name (libgpc.so.X.Y.Z), the
 * pkg-config and CMake package versions and the man pages.
 *
 * The macros say what the program was compiled against; gpc_version() and
 * gpc_version_number() say what it runs against. A program that needs a
 * call added in a later release compares both:
 *
 *	#if GPC_VERSION >= GPC_VERSION_NUM(0, 2, 0)
 *	if (gpc_version_number() < GPC_VERSION_NUM(0, 2, 0))
 *		return -ENOSYS;    // an older libgpc.so.0 is loaded
 *	#endif
 *
 * (The dynamic linker already refuses to start a program that references a
 * symbol of a version node the loaded library lacks, e.g. LIBGPC_0.2 on a
 * 0.1 library; the runtime query is for programs that dlopen() libgpc or
 * want to report the version.)
 */
#ifndef GPC_VERSION_H
#define GPC_VERSION_H

#ifdef __cplusplus
extern "C" {
#endif

#define GPC_VERSION_MAJOR 0
#define GPC_VERSION_MINOR 2
#define GPC_VERSION_PATCH 0

/* One comparable number: 0xMMmmpp (major, minor, patch: 0..255 each). */
#define GPC_VERSION_NUM(major, minor, patch) \
	(((major) << 16) | ((minor) << 8) | (patch))
#define GPC_VERSION \
	GPC_VERSION_NUM(GPC_VERSION_MAJOR, GPC_VERSION_MINOR, GPC_VERSION_PATCH)

/* "MAJOR.MINOR.PATCH", e.g. "0.2.0" (expanded, then stringified). */
#define GPC__VERSION_DOTS(a, b, c)  #a "." #b "." #c
#define GPC__VERSION_XDOTS(a, b, c) GPC__VERSION_DOTS(a, b, c)
#define GPC_VERSION_STRING                                       \
	GPC__VERSION_XDOTS(GPC_VERSION_MAJOR, GPC_VERSION_MINOR, \
			   GPC_VERSION_PATCH)

/**
 * gpc_version - the version of the libgpc that is running, as a string.
 *
 * The library's GPC_VERSION_STRING, which may differ from the header's a
 * program was compiled with (a newer libgpc.so.0 loaded by an older
 * program).
 * Return: a static NUL-terminated string "MAJOR.MINOR.PATCH"; never NULL.
 * Context: any context, async-signal-safe.
 */
const char *gpc_version(void);

/**
 * gpc_version_number - the version of the libgpc that is running, as a
 * number.
 *
 * Compare it with GPC_VERSION_NUM(major, minor, patch), or with the
 * header's GPC_VERSION to see whether the loaded library is at least the
 * one the program was built against.
 * Return: the library's GPC_VERSION (0xMMmmpp).
 * Context: any context, async-signal-safe.
 */
unsigned int gpc_version_number(void);

#ifdef __cplusplus
}
#endif

#endif /* GPC_VERSION_H */
