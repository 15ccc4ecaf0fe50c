/* SPDX-License-Identifier: MIT */
/*
 * gpc_testing.h - test facilities of libgpc: the test host memory stage, the
 * test hook points, the retired copies of remapped pages and the memslot
 * index checker.
 *
 * None of this is in the installed library. It is the static library
 * gpc_testing (testing/CMakeLists.txt): the library's sources compiled a
 * second time with GPC_TESTING defined (which compiles the hook points and
 * the retired-page copies in), plus the sources of testing/. The tests,
 * the fuzzer and gpcvm link it instead of gpc_static; it is built but
 * never installed.
 * Everything that includes this header must be compiled with GPC_TESTING
 * (linking gpc_testing sets it), because struct gpc_vm has extra fields in
 * that build.
 */
#ifndef GPC_TESTING_H
#define GPC_TESTING_H

#ifndef GPC_TESTING
#error "gpc_testing.h needs GPC_TESTING: link the gpc_testing library"
#endif

#include <stdbool.h>
#include <stdint.h>

#include <gpc/gpc.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- test hook points (testing/testhook.c) ------------------------------ */

/*
 * Points at which the library calls the vm's test hook, so that a test can
 * stop one thread at an exact step and let another run.
 */
enum gpc_hook_point {
	GPC_HOOK_REFRESH_STAGE1 = 0, /* refresh: stage 1 done, valid cleared */
	GPC_HOOK_REFRESH_UNLOCKED,   /* refresh: lock dropped, before stage 2 */
	GPC_HOOK_REFRESH_TRANSLATED, /* refresh: stage 2 done, lock not retaken */
	GPC_HOOK_REFRESH_PUBLISH,    /* refresh: about to publish valid */
	GPC_HOOK_REFRESH_RETRY,	     /* refresh: going round again */
	GPC_HOOK_INVAL_START,	     /* range_start: counted in progress */
	GPC_HOOK_INVAL_CLEARED, /* range_start: caches cleared, before wait */
	GPC_HOOK_INVAL_END,	/* range_end: before the sequence bump */
	GPC_HOOK_DEACTIVATE,	/* deactivate: marked inactive, before unmap */
	GPC_HOOK_ACTIVATE,   /* activate: indexed and active, before refresh */
	GPC_HOOK_VCPU_ENTER, /* vcpu_enter: mode set, before checks */
	GPC_HOOK_NR
};

/*
 * A test hook. @cache is the cache concerned (NULL for invalidation points).
 * Called without any library lock held except where a point says otherwise
 * (none do today), so the hook may block and let other threads use the vm.
 */
typedef void gpc_hook_fn(struct gpc_vm *vm, enum gpc_hook_point point,
			 struct gpc_cache *cache, void *ctx);

/**
 * gpc_vm_set_hook - install (or with NULL remove) the vm's test hook.
 *
 * Return: 0; -EINVAL for a NULL vm; -ENOMEM if the hook cannot be
 * allocated.
 * Context: may be called from any thread; takes effect for later steps.
 */
int gpc_vm_set_hook(struct gpc_vm *vm, gpc_hook_fn *fn, void *ctx);

/* ---- the test host memory stage (testing/testmem.c) ----------------------- */

/*
 * A host memory stage for tests: wraps another stage, counts every
 * translate/map/unmap, injects faults, and calls a hook at each step so a
 * test can stop a refresh exactly between two of them.
 */
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

/* ---- retired pages (src/hostmem.c, GPC_TESTING only) -------------------- */

/**
 * gpc_hostmem_retired_page - for tests: after remap/migrate, the old pages
 * stay mapped read-only at a private address so a test can prove that
 * nothing was written to them after range_start returned. Returns that
 * address for the old page that backed @hva, or NULL.
 *
 * Context: may sleep briefly.
 */
void *gpc_hostmem_retired_page(struct gpc_hostmem *hm, uint64_t hva);

/* ---- memslot index checker (src/memslot.c, GPC_TESTING only) ------------- */

struct gpc_vm;

/**
 * gpci_memslots_verify - check the current memslot table's index exactly.
 *
 * Return: 0, or the number of the check that failed.
 * Context: may sleep (takes the vm's memslot lock).
 */
int gpci_memslots_verify(struct gpc_vm *vm);

#ifdef __cplusplus
}
#endif

#endif /* GPC_TESTING_H */
