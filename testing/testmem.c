// SPDX-License-Identifier: MIT
/*
 * testmem.c - a host memory stage for tests. It wraps another stage, counts
 * what the cache asks of it, fails on demand, and calls the test's hook at
 * every step so that a test can park a refresh between two of them (for
 * instance after translate, while another thread invalidates the range).
 *
 * Counters: translates and maps count calls that succeeded, *_fails the
 * ones that failed (injected or from the inner stage), so maps - unmaps is
 * the number of mappings still alive: the leak check.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "gpc_testing.h"

static void tm_hook(struct gpc_testmem *t, enum gpc_testmem_step step,
		    uint64_t hva)
{
	if (t->hook)
		t->hook(step, hva, t->hook_ctx);
}

static void tm_inc(_Atomic uint64_t *c)
{
	atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

/* The injected error: fail_errno with either sign, -EFAULT if 0. */
static int tm_error(const struct gpc_testmem *t)
{
	if (!t->fail_errno)
		return -EFAULT;
	return t->fail_errno > 0 ? -t->fail_errno : t->fail_errno;
}

/*
 * Take one injected failure if any are pending: decrement only while
 * positive, so that concurrent callers never take more than were asked.
 * Returns the error to fail with, or 0.
 */
static int tm_inject(struct gpc_testmem *t, _Atomic int *pending)
{
	int n = atomic_load(pending);

	while (n > 0)
		if (atomic_compare_exchange_weak(pending, &n, n - 1))
			return tm_error(t);
	return 0;
}

static int tm_translate(void *ctx, uint64_t hva, size_t len, bool write,
			uint64_t *pfn)
{
	struct gpc_testmem *t = ctx;
	int err;

	if (!t)
		return -EINVAL;
	tm_hook(t, GPC_TESTMEM_TRANSLATE, hva);
	err = tm_inject(t, &t->fail_translate);
	if (!err)
		err = t->inner->translate(t->inner_ctx, hva, len, write, pfn);
	if (err) {
		tm_inc(&t->translate_fails);
		return err;
	}
	tm_inc(&t->translates);
	tm_hook(t, GPC_TESTMEM_TRANSLATED, hva);
	return 0;
}

static int tm_map(void *ctx, uint64_t hva, size_t len, uint64_t pfn, bool write,
		  void **khva)
{
	struct gpc_testmem *t = ctx;
	int err;

	if (!t)
		return -EINVAL;
	tm_hook(t, GPC_TESTMEM_MAP, hva);
	err = tm_inject(t, &t->fail_map);
	if (!err)
		err = t->inner->map(t->inner_ctx, hva, len, pfn, write, khva);
	if (err) {
		tm_inc(&t->map_fails);
		return err;
	}
	tm_inc(&t->maps);
	tm_hook(t, GPC_TESTMEM_MAPPED, hva);
	return 0;
}

/*
 * unmap() is not told the hva, so the hook receives khva as its address.
 * Counted even when the inner unmap does nothing (the direct stage), so
 * the leak check works the same whatever the inner stage.
 */
static void tm_unmap(void *ctx, void *khva, size_t len)
{
	struct gpc_testmem *t = ctx;

	if (!t)
		return;
	tm_hook(t, GPC_TESTMEM_UNMAP, (uintptr_t)khva);
	tm_inc(&t->unmaps);
	t->inner->unmap(t->inner_ctx, khva, len);
}

const struct gpc_hostmem_ops gpc_testmem_ops = {
	.name = "test",
	.translate = tm_translate,
	.map = tm_map,
	.unmap = tm_unmap,
};

int gpc_testmem_init(struct gpc_testmem *t, const struct gpc_hostmem_ops *inner,
		     void *inner_ctx)
{
	if (!t || !inner)
		return -EINVAL;
	t->inner = inner;
	t->inner_ctx = inner_ctx;
	t->hook = NULL;
	t->hook_ctx = NULL;
	t->fail_errno = 0;
	atomic_init(&t->fail_translate, 0);
	atomic_init(&t->fail_map, 0);
	atomic_init(&t->translates, 0);
	atomic_init(&t->translate_fails, 0);
	atomic_init(&t->maps, 0);
	atomic_init(&t->map_fails, 0);
	atomic_init(&t->unmaps, 0);
	return 0;
}

void gpc_testmem_counts(struct gpc_testmem *t, struct gpc_testmem_counts *out)
{
	if (!t || !out)
		return;
	out->translates =
		atomic_load_explicit(&t->translates, memory_order_relaxed);
	out->translate_fails =
		atomic_load_explicit(&t->translate_fails, memory_order_relaxed);
	out->maps = atomic_load_explicit(&t->maps, memory_order_relaxed);
	out->map_fails =
		atomic_load_explicit(&t->map_fails, memory_order_relaxed);
	out->unmaps = atomic_load_explicit(&t->unmaps, memory_order_relaxed);
	out->live_maps = (int64_t)(out->maps - out->unmaps);
}
