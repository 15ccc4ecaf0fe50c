/* SPDX-License-Identifier: MIT */
/*
 * gpc/testmem.h - a host memory stage for tests: wraps another stage, counts
 * every translate/map/unmap, injects faults, and calls a hook at each step so
 * a test can stop a refresh exactly between two of them.
 */
#ifndef GPC_TESTMEM_H
#define GPC_TESTMEM_H

#include <stdbool.h>
#include <stdint.h>

#include <gpc/hostmem.h>

#ifdef __cplusplus
extern "C" {
#endif

enum gpc_testmem_step {
	GPC_TESTMEM_TRANSLATE = 0, /* before the inner translate() */
	GPC_TESTMEM_TRANSLATED,	   /* after it succeeded */
	GPC_TESTMEM_MAP,	   /* before the inner map() */
	GPC_TESTMEM_MAPPED,	   /* after it succeeded */
	GPC_TESTMEM_UNMAP,	   /* before the inner unmap(); the hook's
				      hva argument is the khva */
	GPC_TESTMEM_NR_STEPS
};

/* translates/maps: successful calls; *_fails: failed ones. */
struct gpc_testmem_counts {
	uint64_t translates, translate_fails;
	uint64_t maps, map_fails;
	uint64_t unmaps;
	int64_t live_maps; /* maps - unmaps: the leak check */
};

typedef void gpc_testmem_hook_fn(enum gpc_testmem_step step, uint64_t hva,
				 void *ctx);

struct gpc_testmem {
	const struct gpc_hostmem_ops *inner;
	void *inner_ctx;
	gpc_testmem_hook_fn *hook;
	void *hook_ctx;
	/* Fault injection: the next N translate (map) calls fail with the
	 * given error (default -EFAULT). */
	_Atomic int fail_translate, fail_map;
	int fail_errno;
	_Atomic uint64_t translates, translate_fails, maps, map_fails, unmaps;
};

extern const struct gpc_hostmem_ops gpc_testmem_ops;

/**
 * gpc_testmem_init - set up @t to wrap @inner/@inner_ctx.
 *
 * Pass &gpc_testmem_ops and @t as the vm's hostmem and hostmem_ctx.
 * Return: 0; -EINVAL if @t or @inner is NULL.
 * Context: any context.
 */
int gpc_testmem_init(struct gpc_testmem *t, const struct gpc_hostmem_ops *inner,
		     void *inner_ctx);

/**
 * gpc_testmem_counts - read the counters.
 *
 * Context: any context.
 */
void gpc_testmem_counts(struct gpc_testmem *t, struct gpc_testmem_counts *out);

#ifdef __cplusplus
}
#endif

#endif /* GPC_TESTMEM_H */
