// SPDX-License-Identifier: MIT
#include "fe.h"
int fe_run_conformance(const struct fe_opts *o)
{
	(void)o;
	return 1;
}
