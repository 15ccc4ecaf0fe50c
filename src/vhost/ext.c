// SPDX-License-Identifier: MIT
/*
 * src/vhost/ext.c - the list of optional modules (ext.h). Wiring one in
 * is adding its struct here, e.g.:
 *
 *	extern const struct gpc_vhost_ext gpc_vhost_ext_iotlb;
 *	... { &gpc_vhost_ext_iotlb, &gpc_vhost_ext_log, NULL };
 *
 * Without a module its features are not offered and its requests are
 * refused (-EOPNOTSUPP: REPLY_ACK error or disconnect).
 */
#include "ext.h"

GPC_VHOST_HIDDEN extern const struct gpc_vhost_ext gpc_vhost_ext_inflight;
GPC_VHOST_HIDDEN extern const struct gpc_vhost_ext gpc_vhost_ext_log;
GPC_VHOST_HIDDEN extern const struct gpc_vhost_ext gpc_vhost_ext_iotlb;

const struct gpc_vhost_ext *const gpc_vhost_exts[] = {
	&gpc_vhost_ext_inflight, /* ext_inflight.c */
	&gpc_vhost_ext_log,	 /* ext_log.c */
	&gpc_vhost_ext_iotlb,	 /* ext_iotlb.c */
	NULL,
};
