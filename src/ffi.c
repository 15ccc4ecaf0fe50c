// SPDX-License-Identifier: MIT
/*
 * ffi.c - the inline fast paths of gpc/cache.h and gpc/srcu.h as exported
 * functions, for callers through a foreign-function interface (bindgen,
 * cgo), which cannot call static inline functions.
 *
 * Each is the inline form compiled here: the same code, the same memory
 * orders, one call more. Nothing of the inline contract (the key encoding,
 * the private helpers) is visible to their callers, so these names can stay
 * stable across releases that change the inline code (docs/abi.md).
 */
#include <gpc/cache.h>
#include <gpc/srcu.h>

void *gpc_cache_begin_ool(struct gpc_cache *c, uint64_t off, uint64_t len,
			  struct gpc_guard *g)
{
	return gpc_cache_begin(c, off, len, g);
}

void *gpc_cache_try_begin_ool(struct gpc_cache *c, uint64_t off, uint64_t len,
			      struct gpc_guard *g)
{
	return gpc_cache_try_begin(c, off, len, g);
}

void gpc_cache_end_ool(struct gpc_cache *c, struct gpc_guard *g)
{
	gpc_cache_end(c, g);
}

void *gpc_cache_guest_ptr_ool(struct gpc_cache *c, uint64_t off, uint64_t len)
{
	return gpc_cache_guest_ptr(c, off, len);
}

struct gpc_srcu_slot *gpc_srcu_read_lock_ool(struct gpc_srcu *d)
{
	return gpc_srcu_read_lock(d);
}

void gpc_srcu_read_unlock_ool(struct gpc_srcu *d)
{
	gpc_srcu_read_unlock(d);
}

bool gpc_srcu_read_held_ool(struct gpc_srcu *d)
{
	return gpc_srcu_read_held(d);
}
