// SPDX-License-Identifier: MIT
/*
 * testhook.c - the vm's test hook (gpc_testing only; see src/testhook.h).
 *
 * Hooks are published as one immutable (fn, ctx) pair; replaced pairs are
 * kept on a list and freed only with the vm, because a thread may still be
 * inside the old hook.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "gpc_testing.h"
#include "vm_priv.h"

void gpci_hook_fire(struct gpc_vm *vm, enum gpc_hook_point point,
		    struct gpc_cache *c)
{
	struct gpci_hook *h =
		atomic_load_explicit(&vm->hook, memory_order_acquire);

	if (gpc_unlikely(h != NULL))
		h->fn(vm, point, c, h->ctx);
}

void gpci_testhook_fini(struct gpc_vm *vm)
{
	struct gpci_hook *h = atomic_load(&vm->hook);

	free(h);
	for (h = vm->old_hooks; h;) {
		struct gpci_hook *next = h->older;

		free(h);
		h = next;
	}
}

int gpc_vm_set_hook(struct gpc_vm *vm, gpc_hook_fn *fn, void *ctx)
{
	struct gpci_hook *h = NULL, *old;

	if (!vm)
		return -EINVAL;
	if (fn) {
		h = calloc(1, sizeof(*h));
		if (!h)
			return -ENOMEM;
		h->fn = fn;
		h->ctx = ctx;
	}
	pthread_mutex_lock(&vm->objs_lock);
	old = atomic_exchange(&vm->hook, h);
	if (old) {
		old->older = vm->old_hooks;
		vm->old_hooks = old;
	}
	pthread_mutex_unlock(&vm->objs_lock);
	return 0;
}
