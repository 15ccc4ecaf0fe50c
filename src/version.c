// SPDX-License-Identifier: MIT
/*
 * version.c - the runtime version query (gpc/version.h).
 *
 * Compiled from the same header the program includes, so the library
 * answers with the version it was built as, whatever the caller's header
 * says.
 */
#include <gpc/version.h>

const char *gpc_version(void)
{
	return GPC_VERSION_STRING;
}

unsigned int gpc_version_number(void)
{
	return GPC_VERSION;
}
