// SPDX-License-Identifier: MIT
/*
 * vcpu.c - vCPU modes, requests, kicks, and guest-usage caches.
 *
 * The pairing that makes guest usage safe (gpc/vcpu.h):
 *   vCPU:        mode = IN_GUEST (seq_cst); load requests; check caches.
 *   invalidator: clear valid; requests |= CACHE_INVALID (seq_cst); load mode.
 * With sequentially consistent accesses on both sides at least one of them
 * sees the other's store: the vCPU bails out, or the invalidator sees it in
 * guest mode and evicts it.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "cache_priv.h"
#include "internal.h"
#include "vcpu_priv.h"
#include "vm_priv.h"

/* Re-kick a vCPU that has not left guest mode after this long. */
#define REKICK_NS 2000000ull

static bool vcpu_ok(const struct gpc_vcpu *v)
{
	return v && !atomic_load(&v->dead);
}

int gpc_vcpu_create(struct gpc_vm *vm, gpc_kick_fn *kick, void *ctx,
		    struct gpc_vcpu **out)
{
	struct gpc_vcpu *v;

	if (!vm || !out)
		return -EINVAL;
	v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	v->vm = vm;
	v->kick = kick;
	v->kick_ctx = ctx;
	pthread_mutex_init(&v->lock, NULL);
	gpci_vm_add_vcpu(vm, v);
	*out = v;
	return 0;
}

int gpc_vcpu_destroy(struct gpc_vcpu *v)
{
	bool was_dead;
	int err = 0;

	if (!v)
		return -EINVAL;
	pthread_mutex_lock(&v->lock);
	/*
	 * The vm keeps a destroyed vCPU's memory, so a second destroy can be
	 * recognised: a no-op, as for every object whose memory is still
	 * valid (the destroy rule of gpc/vm.h). Decided under the lock so
	 * that two racing destroys unregister the vCPU from its vm once.
	 */
	was_dead = atomic_load(&v->dead);
	if (!was_dead && (v->ncaches || atomic_load(&v->nref) ||
			  atomic_load(&v->mode) != GPC_VCPU_OUTSIDE))
		err = -EBUSY;
	else
		atomic_store(&v->dead, 1);
	pthread_mutex_unlock(&v->lock);
	if (err || was_dead)
		return err;
	gpci_vm_del_vcpu(v->vm);
	return 0;
}

int gpci_vcpu_add_cache(struct gpc_vcpu *v, struct gpc_cache *c)
{
	int err = 0;

	pthread_mutex_lock(&v->lock);
	if (v->ncaches == v->cap) {
		unsigned int cap = v->cap ? v->cap * 2 : 4;
		struct gpc_cache **n = realloc(v->caches, cap * sizeof(*n));

		if (!n)
			err = -ENOMEM;
		else
			v->caches = n, v->cap = cap;
	}
	if (!err)
		v->caches[v->ncaches++] = c;
	pthread_mutex_unlock(&v->lock);
	return err;
}

void gpci_vcpu_del_cache(struct gpc_vcpu *v, struct gpc_cache *c)
{
	pthread_mutex_lock(&v->lock);
	for (unsigned int i = 0; i < v->ncaches; i++) {
		if (v->caches[i] == c) {
			v->caches[i] = v->caches[--v->ncaches];
			break;
		}
	}
	pthread_mutex_unlock(&v->lock);
}

/*
 * Every kick the library sends goes through here, so that
 * gpc_vcpu_stats.kicks (and gpc_vm_stats.kicks) count each call of the kick
 * callback: first kicks and re-kicks alike. Async-signal-safe.
 */
static void send_kick(struct gpc_vcpu *v)
{
	atomic_fetch_add_explicit(&v->st_kicks, 1, memory_order_relaxed);
	gpci_vm_count_kick(v->vm);
	if (v->kick)
		v->kick(v, v->kick_ctx);
}

/* IN_GUEST -> EXITING and kick, once per entry. Async-signal-safe. */
static void kick(struct gpc_vcpu *v)
{
	int in = GPC_VCPU_IN_GUEST;

	if (!atomic_compare_exchange_strong(&v->mode, &in, GPC_VCPU_EXITING))
		return;
	send_kick(v);
}

bool gpci_vcpu_evict(struct gpc_vcpu *v)
{
	int mode;

	atomic_fetch_or(&v->requests, GPC_REQ_CACHE_INVALID);
	mode = atomic_load(&v->mode);
	if (mode == GPC_VCPU_IN_GUEST)
		kick(v);
	else if (mode == GPC_VCPU_EXITING)
		/* Kicked before and still not out: the kick may have been
		 * lost (a non-blocking caller has no other way to re-send it;
		 * a blocking one re-kicks in gpci_vcpu_wait_outside). */
		send_kick(v);
	return mode != GPC_VCPU_OUTSIDE;
}

/*
 * Sleep on the mode word until the vCPU is outside. A kick can be lost (a
 * signal that arrived just before KVM_RUN without immediate_exit set), so a
 * vCPU that stays in guest mode is kicked again after REKICK_NS.
 */
int gpci_vcpu_wait_outside(struct gpc_vcpu *v)
{
	int mode;

	while ((mode = atomic_load(&v->mode)) != GPC_VCPU_OUTSIDE) {
		/* Kicked already (the callback ran, maybe on this very
		 * thread) and still inside: if it is ours, it never leaves. */
		if (gpci_vcpu_self_inside(v))
			return -EDEADLK;
		atomic_fetch_add(&v->exit_waiters, 1);
		gpci_futex_wait(&v->mode, mode, REKICK_NS);
		atomic_fetch_sub(&v->exit_waiters, 1);
		if (atomic_load(&v->mode) == GPC_VCPU_EXITING)
			send_kick(v);
		else if (atomic_load(&v->mode) == GPC_VCPU_IN_GUEST)
			kick(v);
	}
	return 0;
}

void gpc_vcpu_exit_guest(struct gpc_vcpu *v)
{
	if (!v)
		return;
	atomic_store(&v->mode, GPC_VCPU_OUTSIDE);
	/* Store, then load waiters; a waiter increments, then re-reads mode
	 * inside futex_wait: one of us sees the other. */
	if (atomic_load(&v->exit_waiters))
		gpci_futex_wake(&v->mode, INT_MAX);
}

static bool caches_valid(struct gpc_vcpu *v)
{
	bool ok = true;

	pthread_mutex_lock(&v->lock);
	for (unsigned int i = 0; ok && i < v->ncaches; i++) {
		struct gpc_cache *c = v->caches[i];

		ok = gpc_cache_check(c, 0, atomic_load(&c->len));
	}
	pthread_mutex_unlock(&v->lock);
	return ok;
}

int gpc_vcpu_enter_guest(struct gpc_vcpu *v)
{
	int out = GPC_VCPU_OUTSIDE;

	if (!vcpu_ok(v))
		return -EINVAL;
	/* Before the mode: whoever sees IN_GUEST sees the thread as well. */
	atomic_store_explicit(&v->guest_thread, (uintptr_t)pthread_self(),
			      memory_order_relaxed);
	/* seq_cst RMW: a full barrier before the request and cache loads. */
	if (!atomic_compare_exchange_strong(&v->mode, &out, GPC_VCPU_IN_GUEST))
		return -EINVAL;
	gpci_hook(v->vm, GPC_HOOK_VCPU_ENTER, NULL);
	if (atomic_load(&v->requests) || !caches_valid(v)) {
		gpc_vcpu_exit_guest(v);
		atomic_fetch_add_explicit(&v->st_bailouts, 1,
					  memory_order_relaxed);
		return -EAGAIN;
	}
	atomic_fetch_add_explicit(&v->st_entries, 1, memory_order_relaxed);
	return 0;
}

/* Copy the cache list so refresh runs without v->lock (lock order). */
static struct gpc_cache **snapshot_caches(struct gpc_vcpu *v, unsigned int *n)
{
	struct gpc_cache **list;

	pthread_mutex_lock(&v->lock);
	*n = v->ncaches;
	list = malloc((*n ? *n : 1) * sizeof(*list));
	if (list && *n)
		memcpy(list, v->caches, *n * sizeof(*list));
	pthread_mutex_unlock(&v->lock);
	return list;
}

int gpc_vcpu_handle_requests(struct gpc_vcpu *v)
{
	struct gpc_cache **list;
	unsigned int reqs, n;
	int err = 0;

	if (!vcpu_ok(v))
		return -EINVAL;
	/*
	 * Its refreshes would wait for the caller's own section: refuse
	 * before consuming anything, not only when a cache turns out to need
	 * a refresh. (From the vCPU's own thread in guest mode, a refresh
	 * that must wait for it returns -EDEADLK by itself.)
	 */
	if (gpci_section_held(v->vm))
		return -EDEADLK;
	list = snapshot_caches(v, &n);
	if (!list)
		return -ENOMEM;
	reqs = atomic_exchange(&v->requests, 0);
	for (unsigned int i = 0; i < n; i++) {
		struct gpc_cache *c = list[i];
		int e = 0;

		if (!gpc_cache_check(c, 0, atomic_load(&c->len)))
			e = gpc_cache_refresh(c, 0);
		if (e && !err)
			err = e;
	}
	free(list);
	if (err) {
		/* Keep the caller's bits for the next call: only ours went. */
		atomic_fetch_or(&v->requests, reqs & ~(GPC_REQ_USER - 1));
		reqs &= GPC_REQ_USER - 1;
	}
	/* One per request bit consumed (gpc_vcpu_stats.requests_handled). */
	atomic_fetch_add_explicit(&v->st_handled,
				  (uint64_t)__builtin_popcount(reqs),
				  memory_order_relaxed);
	if (err)
		return err;
	return (int)(reqs & ~(GPC_REQ_USER - 1));
}

int gpc_vcpu_request(struct gpc_vcpu *v, unsigned int req)
{
	if (!vcpu_ok(v))
		return -EINVAL;
	atomic_fetch_or(&v->requests, req);
	if (atomic_load(&v->mode) == GPC_VCPU_IN_GUEST)
		kick(v);
	return 0;
}

enum gpc_vcpu_mode gpc_vcpu_mode(struct gpc_vcpu *v)
{
	return v ? (enum gpc_vcpu_mode)atomic_load(&v->mode) : GPC_VCPU_OUTSIDE;
}

int gpc_vcpu_get_stats(struct gpc_vcpu *v, struct gpc_vcpu_stats *st)
{
	if (!v || !st)
		return -EINVAL;
	st->entries = atomic_load(&v->st_entries);
	st->entry_bailouts = atomic_load(&v->st_bailouts);
	st->kicks = atomic_load(&v->st_kicks);
	st->requests_handled = atomic_load(&v->st_handled);
	return 0;
}

/* ---- for the other modules ---------------------------------------------- */

bool gpci_vcpu_usable(struct gpc_vcpu *v, struct gpc_vm *vm)
{
	return v->vm == vm && !atomic_load(&v->dead);
}

void gpci_vcpu_get(struct gpc_vcpu *v)
{
	atomic_fetch_add(&v->nref, 1);
}

void gpci_vcpu_put(struct gpc_vcpu *v)
{
	atomic_fetch_sub(&v->nref, 1);
}

bool gpci_vcpu_inside(struct gpc_vcpu *v)
{
	return atomic_load(&v->mode) != GPC_VCPU_OUTSIDE;
}

bool gpci_vcpu_self_inside(struct gpc_vcpu *v)
{
	return gpci_vcpu_inside(v) &&
	       atomic_load_explicit(&v->guest_thread, memory_order_relaxed) ==
		       (uintptr_t)pthread_self();
}

int gpci_vcpus_wait_outside(struct gpc_vm *vm)
{
	int err = 0;

	for (struct gpc_vcpu *v = gpci_vm_vcpus(vm); v; v = v->next)
		if (gpci_vcpu_wait_outside(v))
			err = -EDEADLK;
	return err;
}

bool gpci_vcpus_inside(struct gpc_vm *vm)
{
	for (struct gpc_vcpu *v = gpci_vm_vcpus(vm); v; v = v->next)
		if (gpci_vcpu_inside(v))
			return true;
	return false;
}

void gpci_vcpus_free(struct gpc_vcpu *v)
{
	struct gpc_vcpu *next;

	for (; v; v = next) {
		next = v->next;
		pthread_mutex_destroy(&v->lock);
		free(v->caches);
		free(v);
	}
}
