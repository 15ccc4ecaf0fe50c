/* SPDX-License-Identifier: MIT */
/*
 * testhook.h - the library's test hook points; not installed.
 *
 * Tests stop a thread at an exact step (see enum gpc_hook_point in
 * testing/gpc_testing.h) by installing a hook on the vm. The points exist
 * only in the test build of the library (gpc_testing, compiled with
 * GPC_TESTING): in libgpc.so and libgpc.a gpci_hook() expands to nothing
 * and struct gpc_vm has no hook fields, so they cost nothing there.
 */
#ifndef GPC_TESTHOOK_H
#define GPC_TESTHOOK_H

#ifdef GPC_TESTING

#include "../testing/gpc_testing.h"

struct gpci_hook {
	gpc_hook_fn *fn;
	void *ctx;
	struct gpci_hook *older; /* replaced hooks, freed with the vm */
};

/* The hook fields of struct gpc_vm (testing/testhook.c uses them). */
#define GPCI_TESTHOOK_VM_FIELDS           \
	_Atomic(struct gpci_hook *) hook; \
	struct gpci_hook *old_hooks; /* under objs_lock */

/* Call the vm's hook, if any, at @point. Context: that of the point. */
void gpci_hook_fire(struct gpc_vm *vm, enum gpc_hook_point point,
		    struct gpc_cache *c);
/* Free the vm's hooks; gpc_vm_destroy, once no thread can be in one. */
void gpci_testhook_fini(struct gpc_vm *vm);

#define gpci_hook(vm, point, c) gpci_hook_fire((vm), (point), (c))

#else /* !GPC_TESTING */

#define GPCI_TESTHOOK_VM_FIELDS
#define gpci_hook(vm, point, c) ((void)0)
#define gpci_testhook_fini(vm)	((void)0)

#endif /* GPC_TESTING */

#endif /* GPC_TESTHOOK_H */
