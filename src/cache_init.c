// SPDX-License-Identifier: MIT
/*
 * cache_init.c - gpc_cache_init() and gpc_cache_destroy(): a cache's
 * private state, its locks, its fast-path key and its registration with
 * the vm (and its vCPU). Activation and refresh are in cache.c.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cache_priv.h"
#include "memslot_priv.h"
#include "vcpu_priv.h"
#include "vm_priv.h"

/* ---- init / destroy --------------------------------------------------- */

static int init_check(struct gpc_vm *vm, enum gpc_usage usage,
		      struct gpc_vcpu *vcpu, unsigned int flags)
{
	if (!vm || (flags & ~GPC_CACHE_FLAGS_ALL))
		return -EINVAL;
	if (usage == GPC_USAGE_HOST)
		return vcpu ? -EINVAL : 0;
	if (usage != GPC_USAGE_GUEST || !vcpu || !gpci_vcpu_usable(vcpu, vm))
		return -EINVAL;
	return 0;
}

/*
 * Checked caches (every begin and end out of line and matched, see
 * gpc_cache__rw_end): a library built with GPC_DEBUG, or GPC_DEBUG set to
 * anything but "" or "0" in the environment when the cache is initialised.
 */
static bool checks_on(void)
{
#ifdef GPC_DEBUG
	return true;
#else
	const char *e = getenv("GPC_DEBUG");

	return e && *e && strcmp(e, "0");
#endif
}

static void refresh_lock_init(pthread_mutex_t *m)
{
	pthread_mutexattr_t a;

	pthread_mutexattr_init(&a);
	pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ERRORCHECK);
	pthread_mutex_init(m, &a);
	pthread_mutexattr_destroy(&a);
}

int gpc_cache_init(struct gpc_cache *c, struct gpc_vm *vm, enum gpc_usage usage,
		   struct gpc_vcpu *vcpu, unsigned int flags)
{
	struct gpc_cache_priv *p;
	int err;

	if (!c)
		return -EINVAL;
	/* Initialised and not destroyed: a second init would leak it. */
	if (c->magic == CACHE_MAGIC)
		return -EBUSY;
	err = init_check(vm, usage, vcpu, flags);
	if (err)
		return err;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	if (checks_on())
		flags |= GPCI_CACHE_CHECKED;
	memset(c, 0, sizeof(*c));
	p->c = c;
	p->usage = usage;
	atomic_init(&p->log_gpa, UINT64_MAX); /* dirty log: none yet */
	p->vcpu = vcpu;
	refresh_lock_init(&p->refresh_lock);
	pthread_mutex_init(&p->wlock, NULL);
	pthread_rwlock_init(&c->rw, NULL);
	gpc_seqcount_init(&c->seq);
	c->srcu = vm->srcu;
	atomic_init(&c->genp, gpci_memslot_gen_word(vm));
	c->scheme = vm->scheme;
	c->flags = flags;
	/* Key 0 indexes the sentinel entry, which never matches. */
	if (vm->scheme != GPC_SCHEME_SRCU ||
	    (flags & (GPC_CACHE_COUNT_HITS | GPCI_CACHE_CHECKED)) ||
	    vm->srcu->reader_fence)
		c->fast_key = 0;
	else
		c->fast_key = vm->srcu->key;
	c->vm = vm;
	c->priv = p;
	if (vcpu)
		gpci_vcpu_get(vcpu);
	gpci_vm_add_cache(vm, p);
	c->magic = CACHE_MAGIC;
	return 0;
}

/* All zero: never initialised, or destroyed (destroy zeroes it). */
static bool cache_zero(const struct gpc_cache *c)
{
	return !c->magic && !c->priv && !c->vm;
}

int gpc_cache_destroy(struct gpc_cache *c)
{
	struct gpc_cache_priv *p;
	int err;

	if (c && cache_zero(c))
		return 0;
	if (!gpci_cache_ok(c))
		return -EINVAL;
	p = c->priv;
	err = gpc_cache_deactivate(c);
	if (err)
		return err;
	if (p->usage == GPC_USAGE_GUEST)
		gpci_vcpu_put(p->vcpu);
	c->magic = CACHE_DEAD;
	gpci_vm_del_cache(c->vm, p);
	pthread_mutex_destroy(&p->refresh_lock);
	pthread_mutex_destroy(&p->wlock);
	pthread_rwlock_destroy(&c->rw);
	free(p);
	/*
	 * As if never initialised: later calls miss or fail with -EINVAL,
	 * another destroy is a no-op, and gpc_cache_init() may reuse it.
	 */
	memset(c, 0, sizeof(*c));
	return 0;
}
