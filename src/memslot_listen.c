// SPDX-License-Identifier: MIT
/*
 * memslot_listen.c - memslot listeners, and gpc_memslot_set_mirror() as
 * one of them.
 *
 * The list is an array of the callers' listener pointers, in registration
 * order, changed and read only under the writers' lock. That one lock is
 * what makes removal safe while changes run: a commit holds it from its
 * listeners' prepare to their commit, so remove waits for the commit in
 * progress, and once remove returns no callback can start. Callbacks run
 * with the lock held by their thread; gpci_memslots_lock() recognises that
 * thread and a writer called from a callback gets -EDEADLK, not a hang.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <gpc/memslot.h>

#include "memslot_priv.h"
#include "vm_priv.h"

/* Listeners prepared so far by the commit in progress (under the lock). */
static void listeners_abort_upto(struct gpc_vm *vm, unsigned int k,
				 const struct gpc_memslot_change *c,
				 unsigned int n)
{
	while (k-- > 0) {
		struct gpc_memslot_listener *l = vm->ms.ls[k];

		if (l->abort)
			l->abort(l->ctx, vm, c, n);
	}
}

int gpci_listeners_prepare(struct gpc_vm *vm,
			   const struct gpc_memslot_change *c, unsigned int n)
{
	unsigned int k;

	for (k = 0; k < vm->ms.nls; k++) {
		struct gpc_memslot_listener *l = vm->ms.ls[k];
		int ret = l->prepare ? l->prepare(l->ctx, vm, c, n) : 0;

		if (ret) {
			/* A positive return is still a refusal. */
			listeners_abort_upto(vm, k, c, n);
			return ret < 0 ? ret : -EPERM;
		}
	}
	return 0;
}

void gpci_listeners_commit(struct gpc_vm *vm,
			   const struct gpc_memslot_change *c, unsigned int n,
			   uint64_t gen)
{
	unsigned int k;

	for (k = 0; k < vm->ms.nls; k++) {
		struct gpc_memslot_listener *l = vm->ms.ls[k];

		if (l->commit)
			l->commit(l->ctx, vm, c, n, gen);
	}
}

static int listener_index(struct gpc_vm *vm,
			  const struct gpc_memslot_listener *l)
{
	unsigned int k;

	for (k = 0; k < vm->ms.nls; k++)
		if (vm->ms.ls[k] == l)
			return (int)k;
	return -1;
}

/* Append @l; under the lock. */
static int listener_append(struct gpc_vm *vm, struct gpc_memslot_listener *l)
{
	if (listener_index(vm, l) >= 0)
		return -EEXIST;
	if (vm->ms.nls == vm->ms.ls_room) {
		unsigned int room = vm->ms.ls_room ? 2 * vm->ms.ls_room : 4;
		struct gpc_memslot_listener **n =
			realloc(vm->ms.ls, room * sizeof(*n));

		if (!n)
			return -ENOMEM;
		vm->ms.ls = n;
		vm->ms.ls_room = room;
	}
	vm->ms.ls[vm->ms.nls++] = l;
	if (l->flags & GPC_MEMSLOT_LISTENER_PIN)
		atomic_fetch_add(&vm->ms.pins, 1);
	return 0;
}

/* Remove @l; under the lock. */
static int listener_drop(struct gpc_vm *vm, struct gpc_memslot_listener *l)
{
	int k = listener_index(vm, l);

	if (k < 0)
		return -ENOENT;
	memmove(vm->ms.ls + k, vm->ms.ls + k + 1,
		(vm->ms.nls - (unsigned int)k - 1) * sizeof(*vm->ms.ls));
	vm->ms.nls--;
	if (l->flags & GPC_MEMSLOT_LISTENER_PIN)
		atomic_fetch_sub(&vm->ms.pins, 1);
	return 0;
}

static bool listener_ok(const struct gpc_memslot_listener *l)
{
	return !(l->flags & ~GPC_MEMSLOT_LISTENER_PIN) && !l->reserved0 &&
	       !l->reserved[0] && !l->reserved[1];
}

int gpc_memslot_listener_add(struct gpc_vm *vm, struct gpc_memslot_listener *l)
{
	int ret;

	if (!vm || !l || !listener_ok(l))
		return -EINVAL;
	/* No grace period is waited for: fine inside a read section. */
	ret = gpci_memslots_lock(vm, true);
	if (ret)
		return ret;
	ret = listener_append(vm, l);
	gpci_memslots_unlock(vm);
	return ret;
}

int gpci_memslot_listener_bind(struct gpc_vm *vm,
			       struct gpc_memslot_listener *l, bool need_empty)
{
	unsigned int k;
	int ret;

	if (!vm || !l || !listener_ok(l))
		return -EINVAL;
	ret = gpci_memslots_lock(vm, true);
	if (ret)
		return ret;
	for (k = 0; k < vm->ms.nls; k++)
		if (l->prepare && vm->ms.ls[k]->prepare == l->prepare)
			ret = -EBUSY;
	/* Relaxed: the lock orders us after every writer. */
	if (!ret && need_empty &&
	    atomic_load_explicit(&vm->ms.table, memory_order_relaxed)->n)
		ret = -EBUSY;
	if (!ret)
		ret = listener_append(vm, l);
	gpci_memslots_unlock(vm);
	return ret;
}

int gpc_memslot_listener_remove(struct gpc_vm *vm,
				struct gpc_memslot_listener *l)
{
	int ret;

	if (!vm || !l)
		return -EINVAL;
	ret = gpci_memslots_lock(vm, true);
	if (ret)
		return ret;
	ret = listener_drop(vm, l);
	gpci_memslots_unlock(vm);
	return ret;
}

bool gpci_memslots_pinned(struct gpc_vm *vm)
{
	return atomic_load(&vm->ms.pins) != 0;
}

void gpci_listeners_fini(struct gpc_vm *vm)
{
	free(vm->ms.ls);
	vm->ms.ls = NULL;
	vm->ms.nls = vm->ms.ls_room = 0;
}

/* ---- gpc_memslot_set_mirror(): a listener per slot change -------------- */

static void desc_info(struct gpc_memslot_info *i,
		      const struct gpc_memslot_desc *d)
{
	i->id = d->id;
	i->flags = d->flags;
	i->gpa = d->gpa;
	i->size = d->size;
	i->hva = d->hva;
	i->generation = d->generation;
}

/*
 * The mirror calls of change @c, forward or (@undo) inverted and in
 * reverse: old and new as the hook takes them, a replace as a delete
 * then a create (the hook of release 0.1 never saw an hva change).
 * *@done counts the calls made; an undo makes only the first *@done.
 */
static int mirror_change(struct gpc_vm *vm, const struct gpc_memslot_change *c,
			 bool undo, unsigned int *done)
{
	struct gpc_memslot_info o, n;
	const struct gpc_memslot_info *a[2][2];
	unsigned int calls = 1, k;
	int ret;

	desc_info(&o, &c->old_slot);
	desc_info(&n, &c->new_slot);
	switch (c->op) {
	case GPC_MEMSLOT_CHANGE_ADD:
		a[0][0] = NULL, a[0][1] = &n;
		break;
	case GPC_MEMSLOT_CHANGE_DELETE:
		a[0][0] = &o, a[0][1] = NULL;
		break;
	case GPC_MEMSLOT_CHANGE_REPLACE:
		a[0][0] = &o, a[0][1] = NULL;
		a[1][0] = NULL, a[1][1] = &n;
		calls = 2;
		break;
	default:
		a[0][0] = &o, a[0][1] = &n;
	}
	if (undo) {
		for (k = *done < calls ? *done : calls; k-- > 0;)
			vm->ms.mirror(vm->ms.mirror_ctx, a[k][1], a[k][0]);
		return 0;
	}
	for (*done = 0; *done < calls; (*done)++) {
		ret = vm->ms.mirror(vm->ms.mirror_ctx, a[*done][0],
				    a[*done][1]);
		if (ret)
			return ret;
	}
	return 0;
}

static void mirror_undo(struct gpc_vm *vm, const struct gpc_memslot_change *c,
			unsigned int upto, unsigned int last_done)
{
	unsigned int all = 2;

	if (last_done)
		mirror_change(vm, &c[upto], true, &last_done);
	while (upto-- > 0)
		mirror_change(vm, &c[upto], true, &all);
}

static int mirror_prepare(void *ctx, struct gpc_vm *vm,
			  const struct gpc_memslot_change *c, unsigned int n)
{
	unsigned int i, done = 0;
	int ret;

	(void)ctx;
	for (i = 0; i < n; i++) {
		ret = mirror_change(vm, &c[i], false, &done);
		if (ret) {
			mirror_undo(vm, c, i, done);
			return ret;
		}
	}
	return 0;
}

static void mirror_abort(void *ctx, struct gpc_vm *vm,
			 const struct gpc_memslot_change *c, unsigned int n)
{
	(void)ctx;
	mirror_undo(vm, c, n, 0);
}

int gpc_memslot_set_mirror(struct gpc_vm *vm, gpc_memslot_mirror_fn *fn,
			   void *ctx)
{
	int ret;

	if (!vm)
		return -EINVAL;
	ret = gpci_memslots_lock(vm, true);
	if (ret)
		return ret;
	if (fn && vm->ms.mirror) {
		ret = -EBUSY; /* never replace a hook silently */
	} else if (fn) {
		vm->ms.mirror_l = (struct gpc_memslot_listener){
			.prepare = mirror_prepare, .abort = mirror_abort
		};
		ret = listener_append(vm, &vm->ms.mirror_l);
		if (!ret) {
			vm->ms.mirror = fn;
			vm->ms.mirror_ctx = ctx;
		}
	} else if (vm->ms.mirror) {
		listener_drop(vm, &vm->ms.mirror_l);
		vm->ms.mirror = NULL;
		vm->ms.mirror_ctx = NULL;
	}
	gpci_memslots_unlock(vm);
	return ret;
}
