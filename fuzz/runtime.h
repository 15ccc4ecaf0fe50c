/* SPDX-License-Identifier: MIT */
/*
 * fuzz/runtime.h - the library objects fuzz_api drives and the callbacks
 * the library calls (see runtime.c).
 */
#ifndef GPC_FUZZ_RUNTIME_H
#define GPC_FUZZ_RUNTIME_H

#include <stdbool.h>
#include <stdint.h>

/* The library, and its test facilities (the test stage, fault injection,
 * live-mapping counts): the one place fuzz/ includes them. */
#include <gpc/gpc.h>
#include "gpc_testing.h"

#include "layout.h"
#include "model.h"

struct fz_runtime {
	struct gpc_hostmem *hm;
	struct gpc_testmem tm;
	struct gpc_vm *vm;
	struct gpc_vcpu *v;
	struct gpc_cache c[NC + 1];
	struct range open[MAX_OPEN]; /* invalidations left open, as begun */
	int nopen;
	uint64_t kicks;
	/* memslot mirror */
	int mirror_err, mirror_calls;
	bool mo_set, mn_set;
	struct gpc_memslot_info mo, mn;
	/* the range_start in progress, for the INVAL_CLEARED check */
	bool inval_ctx;
	uint64_t is, ie;
	int logs;
	char logmsg[256];
};

extern struct fz_runtime rt;
extern uint8_t buf[BUFSZ], buf2[BUFSZ]; /* scratch of one call */

void log_fn(enum gpc_log_level level, const char *msg, void *ctx);
void hook_fn(struct gpc_vm *vm, enum gpc_hook_point pt, struct gpc_cache *c,
	     void *ctx);
void kick_fn(struct gpc_vcpu *v, void *ctx);
int mirror_fn(void *ctx, const struct gpc_memslot_info *old,
	      const struct gpc_memslot_info *new_slot);
/* End every invalidation in progress; returns how many. */
int rt_end_all(void);
/* Host memory change helper @kind (0 unmap, 1 remap, 2 discard, 3 migrate,
 * 4 protect) on [hva, hva + len). */
int rt_change(int kind, struct gpc_vm *vm, uint64_t hva, uint64_t len,
	      int prot);

#endif /* GPC_FUZZ_RUNTIME_H */
