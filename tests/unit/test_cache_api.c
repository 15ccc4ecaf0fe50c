// SPDX-License-Identifier: MIT
/*
 * tests/unit/test_cache_api.c - every function of gpc/cache.h and its error paths.
 *
 * Each test runs four times: {srcu, rwlock} x {direct, alias} stage, on the
 * harness vm (tests/support/harness.h: memslot 0 at TVM_GPA_BASE, 1 MiB of memfd
 * RAM, the test stage wrapped around the real one so that translates, maps
 * and unmaps are counted).
 *
 * The rule checked after every failing call: a failed call changes no
 * state. "State" is what a user can observe: gpc_cache_is_active(),
 * gpc_cache_check(), the cache's pointer, the cache and vm counters, the
 * memslot generation, the invalidation sequence and the test stage's
 * translate/map/unmap counts (struct obs below). The only documented
 * exception is an activate that fails in translation (-EFAULT, or -EINVAL
 * for a range that is not in one memslot or not contiguous in the host):
 * the cache then stays active and invalid so that a later refresh may
 * succeed; those tests check exactly that, and that nothing leaked.
 *
 * Multi-threaded behaviour (the R1-R18 scenarios) lives in
 * tests/test_scenarios_*.c; this file is single-threaded except for the
 * per-thread hit counting check and two refreshes queued on one cache.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>

#include <cmocka.h>

#include <gpc/gpc.h>

#include "harness.h"
#include "test_common.h"

/* ---- fixture ------------------------------------------------------------ */

#define NC	6 /* caches per test */
#define G0	TVM_GPA_BASE
#define G1	(TVM_GPA_BASE + TVM_RAM_SIZE) /* slot 1, adjacent to slot 0 */
#define BAD_PTR ((void *)1)

struct fx {
	struct gpc_cache c[NC]; /* first: keeps their alignment */
	struct tvm t;
	struct gpc_vm *vm;   /* == t.vm */
	uint8_t *ram2;	     /* backing of slot 1, once created */
	struct gpc_guard rg; /* of read_section_enter() */
	uint64_t ps;
};

static int setup(void **state)
{
	const struct tvm_param *p = *state;
	size_t sz = (sizeof(struct fx) + 63) & ~(size_t)63;
	struct fx *f = aligned_alloc(64, sz);

	if (!f)
		return -1;
	memset(f, 0, sizeof(*f));
	if (tvm_setup(&f->t, p->scheme, p->stage))
		return -1;
	f->vm = f->t.vm;
	f->ps = (uint64_t)sysconf(_SC_PAGESIZE);
	test_log_capture();
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	int err = 0;

	/* Zeroed or destroyed caches answer -EINVAL: harmless. */
	for (int i = 0; i < NC; i++)
		gpc_cache_destroy(&f->c[i]);
	gpc_memslot_delete(f->vm, 1);
	/* Nothing here is worth a warning: bad input is an error code. */
	if (test_log_clean())
		err = -1;
	if (tvm_teardown(&f->t))
		err = -1;
	free(f);
	return err ? -1 : 0;
}

static bool is_srcu(struct fx *f)
{
	return f->t.scheme == GPC_SCHEME_SRCU;
}

static bool is_alias(struct fx *f)
{
	return f->t.stage == TVM_ALIAS;
}

static uint64_t hva_of(struct fx *f, uint64_t gpa)
{
	return tvm_hva(&f->t, gpa);
}

/* Slot 1: another 1 MiB region right after slot 0 in guest-physical space. */
static void add_slot1(struct fx *f)
{
	void *p;

	assert_int_equal(gpc_hostmem_alloc(f->t.hm, TVM_RAM_SIZE, &p), 0);
	f->ram2 = p;
	assert_int_equal(gpc_memslot_create(f->vm, 1, G1, TVM_RAM_SIZE,
					    (uintptr_t)p, 0),
			 0);
}

static struct gpc_cache *init_cache(struct fx *f, int i, unsigned int flags)
{
	assert_int_equal(gpc_cache_init(&f->c[i], f->vm, GPC_USAGE_HOST, NULL,
					flags),
			 0);
	return &f->c[i];
}

/* An initialised host cache, active on [G0 + off, + len) and valid. */
static struct gpc_cache *active_cache(struct fx *f, int i, uint64_t off,
				      uint64_t len, unsigned int flags)
{
	struct gpc_cache *c = init_cache(f, i, flags);

	assert_int_equal(gpc_cache_activate_gpa(c, G0 + off, len), 0);
	assert_true(gpc_cache_check(c, 0, len));
	return c;
}

/* The cache's current pointer, without counting a hit (NULL if invalid). */
static uint8_t *ptr_of(struct gpc_cache *c)
{
	return gpc_cache_check(c, 0, 1) ? gpc_cache_guest_ptr(c, 0, 1) : NULL;
}

/* Enter "a read section of the vm" the way each scheme's readers do. */
static void read_section_enter(struct fx *f, struct gpc_cache *reader)
{
	if (is_srcu(f) && reader) {
		assert_non_null(gpc_cache_begin(reader, 0, 1, &f->rg));
	} else {
		gpc_srcu_read_lock(gpc_vm_srcu(f->vm));
	}
	assert_true(gpc_srcu_read_held(gpc_vm_srcu(f->vm)));
}

static void read_section_exit(struct fx *f, struct gpc_cache *reader)
{
	if (is_srcu(f) && reader)
		gpc_cache_end(reader, &f->rg);
	else
		gpc_srcu_read_unlock(gpc_vm_srcu(f->vm));
	assert_false(gpc_srcu_read_held(gpc_vm_srcu(f->vm)));
}

/* ---- observable state --------------------------------------------------- */

struct obs {
	bool active[NC], valid[NC];
	uint8_t *ptr[NC];
	struct gpc_cache_stats cs[NC];
	struct gpc_vm_stats vs;
	uint64_t gen, seq;
	struct gpc_testmem_counts tm;
	int hook_calls[GPC_HOOK_NR];
};

#define OBS_MISSES 1u /* a failed read/write may count a fast-path miss */

static void obs_take(struct fx *f, struct obs *o)
{
	memset(o, 0, sizeof(*o));
	for (int i = 0; i < NC; i++) {
		o->active[i] = gpc_cache_is_active(&f->c[i]);
		o->valid[i] = gpc_cache_check(&f->c[i], 0, 1);
		o->ptr[i] = ptr_of(&f->c[i]);
		gpc_cache_get_stats(&f->c[i], &o->cs[i]);
	}
	assert_int_equal(gpc_vm_get_stats(f->vm, &o->vs), 0);
	o->gen = gpc_memslot_generation(f->vm);
	o->seq = gpc_invalidate_sequence(f->vm);
	/* No srcu barrier from inside a read section: it would wait for us. */
	if (gpc_srcu_read_held(gpc_vm_srcu(f->vm)))
		gpc_testmem_counts(&f->t.tm, &o->tm);
	else
		o->tm = tvm_counts(&f->t);
	for (int i = 0; i < GPC_HOOK_NR; i++)
		o->hook_calls[i] = atomic_load(&f->t.hook_calls[i]);
}

#define SAME(a, b, fld)                                                      \
	do {                                                                 \
		if ((a)->fld != (b)->fld)                                    \
			fail_msg("after %s: %s changed: %llu -> %llu", what, \
				 #fld, (unsigned long long)(a)->fld,         \
				 (unsigned long long)(b)->fld);              \
	} while (0)

static void obs_same(const struct obs *a, const struct obs *b,
		     unsigned int ignore, const char *what)
{
	for (int i = 0; i < NC; i++) {
		SAME(a, b, active[i]);
		SAME(a, b, valid[i]);
		SAME(a, b, ptr[i]);
		if (!(ignore & OBS_MISSES))
			SAME(a, b, cs[i].misses);
		SAME(a, b, cs[i].hits);
		SAME(a, b, cs[i].refreshes);
		SAME(a, b, cs[i].refresh_retries);
		SAME(a, b, cs[i].refresh_waits);
		SAME(a, b, cs[i].invalidations);
		SAME(a, b, cs[i].maps);
		SAME(a, b, cs[i].unmaps);
	}
	if (!(ignore & OBS_MISSES))
		SAME(a, b, vs.misses);
	SAME(a, b, vs.refreshes);
	SAME(a, b, vs.refresh_retries);
	SAME(a, b, vs.refresh_waits);
	SAME(a, b, vs.invalidations);
	SAME(a, b, vs.inval_caches);
	SAME(a, b, vs.inval_eagain);
	SAME(a, b, vs.kicks);
	SAME(a, b, vs.reader_wait_ns);
	SAME(a, b, vs.vcpu_wait_ns);
	SAME(a, b, vs.memslot_changes);
	SAME(a, b, vs.active_caches);
	SAME(a, b, gen);
	SAME(a, b, seq);
	SAME(a, b, tm.translates);
	SAME(a, b, tm.translate_fails);
	SAME(a, b, tm.maps);
	SAME(a, b, tm.unmaps);
	for (int i = GPC_HOOK_REFRESH_STAGE1; i < GPC_HOOK_NR; i++)
		SAME(a, b, hook_calls[i]);
}

/* Run @call, expect @err, and expect no observable change. */
#define EXPECT_NOCHANGE(f, ignore, err, call)                 \
	do {                                                  \
		struct obs before_, after_;                   \
		obs_take((f), &before_);                      \
		assert_int_equal((call), (err));              \
		obs_take((f), &after_);                       \
		obs_same(&before_, &after_, (ignore), #call); \
	} while (0)

/* ---- gpc_cache_init ------------------------------------------------------ */

static void cache_init_bad_args(void **state)
{
	struct fx *f = *state;
	struct gpc_cache *c = &f->c[0];
	struct gpc_vm *vm2;
	struct gpc_vcpu *v, *v2, *vdead;

	assert_int_equal(gpc_vcpu_create(f->vm, NULL, NULL, &v), 0);
	assert_int_equal(gpc_vcpu_create(f->vm, NULL, NULL, &vdead), 0);
	assert_int_equal(gpc_vcpu_destroy(vdead), 0);
	assert_int_equal(gpc_vm_create(NULL, &vm2), 0);
	assert_int_equal(gpc_vcpu_create(vm2, NULL, NULL, &v2), 0);

	EXPECT_NOCHANGE(f, 0, -EINVAL,
			gpc_cache_init(NULL, f->vm, GPC_USAGE_HOST, NULL, 0));
	EXPECT_NOCHANGE(f, 0, -EINVAL,
			gpc_cache_init(c, NULL, GPC_USAGE_HOST, NULL, 0));
	EXPECT_NOCHANGE(f, 0, -EINVAL,
			gpc_cache_init(c, f->vm, (enum gpc_usage)2, NULL, 0));
	EXPECT_NOCHANGE(f, 0, -EINVAL,
			gpc_cache_init(c, f->vm, (enum gpc_usage) - 1, NULL,
				       0));
	EXPECT_NOCHANGE(f, 0, -EINVAL,
			gpc_cache_init(c, f->vm, GPC_USAGE_HOST, NULL,
				       GPC_CACHE_FLAGS_ALL + 1));
	EXPECT_NOCHANGE(f, 0, -EINVAL,
			gpc_cache_init(c, f->vm, GPC_USAGE_HOST, NULL, ~0u));
	/* Guest usage needs a vCPU; host usage must not name one. */
	EXPECT_NOCHANGE(f, 0, -EINVAL,
			gpc_cache_init(c, f->vm, GPC_USAGE_GUEST, NULL, 0));
	EXPECT_NOCHANGE(f, 0, -EINVAL,
			gpc_cache_init(c, f->vm, GPC_USAGE_HOST, v, 0));
	/* A vCPU of another vm, and a destroyed vCPU. */
	EXPECT_NOCHANGE(f, 0, -EINVAL,
			gpc_cache_init(c, f->vm, GPC_USAGE_GUEST, v2, 0));
	EXPECT_NOCHANGE(f, 0, -EINVAL,
			gpc_cache_init(c, f->vm, GPC_USAGE_GUEST, vdead, 0));

	/* None of them produced a usable cache... */
	assert_int_equal(gpc_cache_activate_gpa(c, G0, 8), -EINVAL);
	/* (destroy of a zero-filled cache is a no-op: 0) */
	assert_int_equal(gpc_cache_destroy(c), 0);
	/* ...nor registered one with either vm (they would be -EBUSY). */
	assert_int_equal(gpc_vcpu_destroy(v2), 0);
	assert_int_equal(gpc_vm_destroy(vm2), 0);
	assert_int_equal(gpc_vcpu_destroy(v), 0);

	/* Every valid flag combination is accepted. */
	for (unsigned int fl = 0; fl <= GPC_CACHE_FLAGS_ALL; fl++) {
		assert_int_equal(
			gpc_cache_init(c, f->vm, GPC_USAGE_HOST, NULL, fl), 0);
		assert_false(gpc_cache_is_active(c));
		assert_false(gpc_cache_check(c, 0, 1));
		assert_int_equal(gpc_cache_destroy(c), 0);
	}
}

/* ---- gpc_cache_destroy --------------------------------------------------- */

static void cache_destroy_bad_args(void **state)
{
	struct fx *f = *state;
	struct gpc_cache *c;
	struct gpc_cache_stats st;
	struct gpc_testmem_counts base = tvm_counts(&f->t);
	struct gpc_vm_stats vs;
	uint8_t buf[8] = { 0 };

	EXPECT_NOCHANGE(f, 0, -EINVAL, gpc_cache_destroy(NULL));
	/* Never initialised (zeroed storage): a no-op. */
	EXPECT_NOCHANGE(f, 0, 0, gpc_cache_destroy(&f->c[1]));

	/* Destroying an active, valid cache deactivates it first. */
	c = active_cache(f, 0, 0, 64, 0);
	assert_int_equal(gpc_cache_destroy(c), 0);
	assert_int_equal(gpc_vm_get_stats(f->vm, &vs), 0);
	assert_int_equal(vs.active_caches, 0);
	assert_int_equal(tvm_counts(&f->t).live_maps, base.live_maps);

	/* Twice (destroy leaves it zero-filled: a no-op), and every other
	 * entry point after destroy. */
	EXPECT_NOCHANGE(f, 0, 0, gpc_cache_destroy(c));
	EXPECT_NOCHANGE(f, 0, -EINVAL, gpc_cache_refresh(c, 0));
	EXPECT_NOCHANGE(f, 0, -EINVAL, gpc_cache_deactivate(c));
	EXPECT_NOCHANGE(f, 0, -EINVAL, gpc_cache_activate_gpa(c, G0, 8));
	EXPECT_NOCHANGE(f, 0, -EINVAL,
			gpc_cache_activate_hva(c, hva_of(f, G0), 8));
	EXPECT_NOCHANGE(f, 0, -EINVAL, gpc_cache_get_stats(c, &st));
	EXPECT_NOCHANGE(f, 0, -EINVAL, gpc_cache_read(c, 0, buf, 1));
	EXPECT_NOCHANGE(f, 0, -EINVAL, gpc_cache_write(c, 0, buf, 1));
	assert_false(gpc_cache_is_active(c));
	assert_false(gpc_cache_check(c, 0, 1));
}

/*
 * gpc_cache_destroy() deactivates the cache, and deactivate refuses to run
 * inside a read section of the vm (-EDEADLK: it may have to wait a grace
 * period). Destroy must then either refuse as well, changing nothing, or
 * really take the cache out of the vm; what it must not do is free the
 * cache's state while it is still active and in the invalidation index
 * (a later invalidation of its range would walk freed memory).
 */
static void cache_destroy_in_read_section(void **state)
{
	struct fx *f = *state;
	struct gpc_cache *reader = active_cache(f, 0, 0, 8, 0);
	struct gpc_cache *c = active_cache(f, 1, f->ps, 8, 0);
	struct gpc_vm_stats vs;
	int err;

	read_section_enter(f, reader);
	err = gpc_cache_destroy(c);
	read_section_exit(f, reader);
	assert_int_equal(gpc_vm_get_stats(f->vm, &vs), 0);
	if (err == 0) {
		/* It claims to be gone: it must no longer count as active. */
		if (vs.active_caches != 1)
			fail_msg("gpc_cache_destroy inside a read section "
				 "returned 0 but the cache is still active "
				 "(active_caches %llu, expected 1): its "
				 "deactivate failed with -EDEADLK and was "
				 "ignored, leaving freed state in the index",
				 (unsigned long long)vs.active_caches);
	} else {
		assert_int_equal(err, -EDEADLK);
		assert_int_equal(vs.active_caches, 2);
		assert_true(gpc_cache_is_active(c));
		assert_true(gpc_cache_check(c, 0, 8));
		assert_int_equal(gpc_cache_destroy(c), 0);
	}
}

/* ---- gpc_cache_activate_gpa / _hva --------------------------------------- */

static void activate_bad_args_one(struct fx *f, struct gpc_cache *c)
{
	uint64_t h = hva_of(f, G0);

	EXPECT_NOCHANGE(f, 0, -EINVAL, gpc_cache_activate_gpa(NULL, G0, 8));
	EXPECT_NOCHANGE(f, 0, -EINVAL, gpc_cache_activate_hva(NULL, h, 8));
	EXPECT_NOCHANGE(f, 0, -EINVAL, gpc_cache_activate_gpa(c, G0, 0));
	EXPECT_NOCHANGE(f, 0, -EINVAL, gpc_cache_activate_hva(c, h, 0));
	/* addr + len wraps around. */
	EXPECT_NOCHANGE(f, 0, -EINVAL,
			gpc_cache_activate_gpa(c, UINT64_MAX - 10, 100));
	EXPECT_NOCHANGE(f, 0, -EINVAL,
			gpc_cache_activate_hva(c, UINT64_MAX - 10, 100));
	EXPECT_NOCHANGE(f, 0, -EINVAL,
			gpc_cache_activate_gpa(c, G0, UINT64_MAX));
}

static void activate_bad_args(void **state)
{
	struct fx *f = *state;
	struct gpc_cache *c = init_cache(f, 0, 0);

	/* On an inactive cache... */
	activate_bad_args_one(f, c);
	assert_false(gpc_cache_is_active(c));
	/* ...and on an active, valid one: it keeps its translation. */
	assert_int_equal(gpc_cache_activate_gpa(c, G0 + 64, 32), 0);
	activate_bad_args_one(f, c);
	assert_true(gpc_cache_check(c, 0, 32));
	/* Zeroed storage that was never initialised. */
	EXPECT_NOCHANGE(f, 0, -EINVAL, gpc_cache_activate_gpa(&f->c[1], G0, 8));
}

/*
 * A cache never spans memslots: a range starting in slot 0 and running into
 * the adjacent slot 1 is -EINVAL, as is one running past the last slot.
 * The cache stays active and invalid (a refresh fails the same way) and no
 * mapping is left behind.
 */
static void activate_across_memslots(void **state)
{
	struct fx *f = *state;
	struct gpc_guard g;
	struct gpc_cache *c = init_cache(f, 0, 0);
	struct gpc_testmem_counts base;
	struct gpc_vm_stats vs;

	add_slot1(f);
	base = tvm_counts(&f->t);
	/* Right up to the end of slot 0 is fine. */
	assert_int_equal(gpc_cache_activate_gpa(c, G1 - 16, 16), 0);
	assert_int_equal(gpc_cache_deactivate(c), 0);

	assert_int_equal(gpc_cache_activate_gpa(c, G1 - 8, 16), -EINVAL);
	assert_true(gpc_cache_is_active(c));
	assert_false(gpc_cache_check(c, 0, 1));
	assert_null(gpc_cache_begin(c, 0, 1, &g));
	assert_int_equal(gpc_cache_refresh(c, 0), -EINVAL);
	assert_false(gpc_cache_check(c, 0, 1));

	/* Past the last slot, with nothing after it. */
	assert_int_equal(gpc_cache_activate_gpa(c, G1 + TVM_RAM_SIZE - 8, 16),
			 -EINVAL);
	assert_false(gpc_cache_check(c, 0, 1));

	/* Starting in no slot at all (just below slot 0): -EFAULT. */
	assert_int_equal(gpc_cache_activate_gpa(c, G0 - 8, 16), -EFAULT);
	assert_false(gpc_cache_check(c, 0, 1));

	assert_int_equal(gpc_cache_deactivate(c), 0);
	assert_false(gpc_cache_is_active(c));
	assert_int_equal(gpc_vm_get_stats(f->vm, &vs), 0);
	assert_int_equal(vs.active_caches, 0);
	assert_int_equal(tvm_counts(&f->t).live_maps, base.live_maps);
}

/* Unaligned GPAs: the pointer is at the right byte, also across a page. */
static void activate_unaligned(void **state)
{
	struct fx *f = *state;
	struct gpc_guard g;
	struct gpc_cache *c = active_cache(f, 0, 0x123, 8, 0);
	struct gpc_cache *d = active_cache(f, 1, f->ps - 4, 8, 0);
	uint8_t *p;

	p = gpc_cache_begin(c, 0, 8, &g);
	assert_non_null(p);
	if (!is_alias(f))
		assert_ptr_equal(p, f->t.ram + 0x123);
	memcpy(p, "ABCDEFGH", 8);
	gpc_cache_end(c, &g);
	assert_memory_equal(f->t.ram + 0x123, "ABCDEFGH", 8);

	/* 4 bytes on each side of the first page boundary. */
	p = gpc_cache_begin(d, 0, 8, &g);
	assert_non_null(p);
	memcpy(p, "ijklmnop", 8);
	gpc_cache_end(d, &g);
	assert_memory_equal(f->t.ram + f->ps - 4, "ijklmnop", 8);
	assert_null(gpc_cache_begin(d, 1, 8, &g));
}

/* A GPA in no memslot: -EFAULT, active and invalid, nothing leaked. */
static void activate_unbacked_gpa(void **state)
{
	struct fx *f = *state;
	struct gpc_guard g;
	struct gpc_testmem_counts base = tvm_counts(&f->t);
	struct gpc_cache *c = init_cache(f, 0, 0);
	uint8_t buf[4] = { 1, 2, 3, 4 };

	assert_int_equal(gpc_cache_activate_gpa(c, 0x10000, 8), -EFAULT);
	assert_true(gpc_cache_is_active(c));
	assert_false(gpc_cache_check(c, 0, 1));
	assert_null(gpc_cache_begin(c, 0, 1, &g));
	assert_int_equal(gpc_cache_refresh(c, 0), -EFAULT);
	assert_int_equal(gpc_cache_read(c, 0, buf, 4), -EFAULT);
	assert_int_equal(gpc_cache_write(c, 0, buf, 4), -EFAULT);
	assert_int_equal(gpc_cache_deactivate(c), 0);
	assert_int_equal(tvm_counts(&f->t).live_maps, base.live_maps);

	/* A slot appearing there makes a later activate work. */
	add_slot1(f);
	assert_int_equal(gpc_cache_activate_gpa(c, G1 + 8, 8), 0);
	assert_int_equal(gpc_cache_write(c, 0, buf, 4), 0);
	assert_memory_equal(f->ram2 + 8, buf, 4);
}

/* HVA mode: works on RAM, -EFAULT on unbacked memory, ignores memslots. */
static void activate_hva(void **state)
{
	struct fx *f = *state;
	struct gpc_cache *h = init_cache(f, 0, 0);
	struct gpc_cache *g = active_cache(f, 1, 0x200, 8, 0);
	void *hole = mmap(NULL, f->ps, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
			  -1, 0);
	struct gpc_guard gd;
	uint8_t *p;

	assert_true(hole != MAP_FAILED);
	assert_int_equal(gpc_cache_activate_hva(h, hva_of(f, G0 + 0x200), 8),
			 0);
	p = gpc_cache_begin(h, 0, 8, &gd);
	assert_non_null(p);
	if (!is_alias(f))
		assert_ptr_equal(p, f->t.ram + 0x200);
	memcpy(p, "hva-mode", 8);
	gpc_cache_end(h, &gd);
	assert_memory_equal(f->t.ram + 0x200, "hva-mode", 8);

	/* A memslot change: the GPA cache goes stale, the HVA one does not. */
	add_slot1(f);
	assert_true(gpc_cache_check(h, 0, 8));
	assert_false(gpc_cache_check(g, 0, 8));
	assert_int_equal(gpc_cache_refresh(g, 0), 0);
	assert_true(gpc_cache_check(g, 0, 8));
	/* Even the slot it lies in going away leaves it alone. */
	assert_int_equal(gpc_memslot_delete(f->vm, 0), 0);
	assert_true(gpc_cache_check(h, 0, 8));
	assert_false(gpc_cache_check(g, 0, 8));
	assert_int_equal(gpc_cache_refresh(g, 0), -EFAULT);
	assert_int_equal(gpc_cache_refresh(h, 0), 0);

	/* Inaccessible host memory. */
	assert_int_equal(gpc_cache_activate_hva(h, (uintptr_t)hole, 8),
			 -EFAULT);
	assert_true(gpc_cache_is_active(h));
	assert_false(gpc_cache_check(h, 0, 1));
	assert_int_equal(gpc_cache_deactivate(h), 0);
	munmap(hole, f->ps);
}

/* Activating an active cache moves it; the old range no longer affects it. */
static void activate_moves_cache(void **state)
{
	struct fx *f = *state;
	struct gpc_cache *c = active_cache(f, 0, 0, 8, 0);
	uint64_t old = hva_of(f, G0), new = hva_of(f, G0 + 5 * f->ps);
	struct gpc_cache_stats st;
	struct gpc_vm_stats vs;

	assert_int_equal(gpc_cache_activate_gpa(c, G0 + 5 * f->ps + 16, 8), 0);
	assert_int_equal(gpc_cache_write(c, 0, "moved!!", 8), 0);
	assert_memory_equal(f->t.ram + 5 * f->ps + 16, "moved!!", 8);
	assert_int_equal(gpc_vm_get_stats(f->vm, &vs), 0);
	assert_int_equal(vs.active_caches, 1);

	assert_int_equal(gpc_invalidate_range_start(f->vm, old, old + 1, 0), 0);
	assert_int_equal(gpc_invalidate_range_end(f->vm, old, old + 1), 0);
	assert_true(gpc_cache_check(c, 0, 8));
	assert_int_equal(gpc_cache_get_stats(c, &st), 0);
	assert_int_equal(st.invalidations, 0);

	assert_int_equal(gpc_invalidate_range_start(f->vm, new, new + 1, 0), 0);
	assert_int_equal(gpc_invalidate_range_end(f->vm, new, new + 1), 0);
	assert_false(gpc_cache_check(c, 0, 8));
	assert_int_equal(gpc_cache_get_stats(c, &st), 0);
	assert_int_equal(st.invalidations, 1);
}

/* ---- gpc_cache_deactivate ------------------------------------------------ */

static void deactivate_paths(void **state)
{
	struct fx *f = *state;
	struct gpc_guard g;
	struct gpc_testmem_counts base = tvm_counts(&f->t);
	struct gpc_cache *c = init_cache(f, 0, 0);
	struct gpc_vm_stats vs;
	uint8_t buf[8] = { 0 };

	EXPECT_NOCHANGE(f, 0, -EINVAL, gpc_cache_deactivate(NULL));
	EXPECT_NOCHANGE(f, 0, -EINVAL, gpc_cache_deactivate(&f->c[1]));
	/* Inactive: a no-op. */
	EXPECT_NOCHANGE(f, 0, 0, gpc_cache_deactivate(c));

	assert_int_equal(gpc_cache_activate_gpa(c, G0, 2 * f->ps), 0);
	assert_int_equal(gpc_cache_deactivate(c), 0);
	assert_false(gpc_cache_is_active(c));
	assert_false(gpc_cache_check(c, 0, 1));
	assert_null(gpc_cache_begin(c, 0, 1, &g));
	assert_null(gpc_cache_try_begin(c, 0, 1, &g));
	assert_int_equal(gpc_vm_get_stats(f->vm, &vs), 0);
	assert_int_equal(vs.active_caches, 0);
	assert_int_equal(tvm_counts(&f->t).live_maps, base.live_maps);
	/* Twice; the helpers refuse an inactive cache. */
	EXPECT_NOCHANGE(f, 0, 0, gpc_cache_deactivate(c));
	EXPECT_NOCHANGE(f, 0, -EINVAL, gpc_cache_refresh(c, 0));
	EXPECT_NOCHANGE(f, 0, -EINVAL, gpc_cache_read(c, 0, buf, 8));
	EXPECT_NOCHANGE(f, 0, -EINVAL, gpc_cache_write(c, 0, buf, 8));
	/* An invalidation of its old range no longer counts for it. */
	assert_int_equal(gpc_invalidate_range_start(f->vm, hva_of(f, G0),
						    hva_of(f, G0) + 8, 0),
			 0);
	assert_int_equal(gpc_invalidate_range_end(f->vm, hva_of(f, G0),
						  hva_of(f, G0) + 8),
			 0);
	assert_int_equal(gpc_vm_get_stats(f->vm, &vs), 0);
	assert_int_equal(vs.inval_caches, 0);
	/* It can be activated again. */
	assert_int_equal(gpc_cache_activate_gpa(c, G0, 8), 0);
	assert_true(gpc_cache_check(c, 0, 8));
}

/* ---- gpc_cache_refresh --------------------------------------------------- */

static void refresh_bad_args(void **state)
{
	struct fx *f = *state;
	struct gpc_cache *c = init_cache(f, 0, 0);
	struct gpc_cache *v = active_cache(f, 1, 0, 64, 0);

	EXPECT_NOCHANGE(f, 0, -EINVAL, gpc_cache_refresh(NULL, 0));
	EXPECT_NOCHANGE(f, 0, -EINVAL, gpc_cache_refresh(&f->c[2], 0));
	/* Never activated: no translation attempted, nothing changes. */
	EXPECT_NOCHANGE(f, 0, -EINVAL, gpc_cache_refresh(c, 0));
	EXPECT_NOCHANGE(f, 0, -EINVAL, gpc_cache_refresh(c, 8));
	/* Deactivated. */
	assert_int_equal(gpc_cache_activate_gpa(c, G0, 8), 0);
	assert_int_equal(gpc_cache_deactivate(c), 0);
	EXPECT_NOCHANGE(f, 0, -EINVAL, gpc_cache_refresh(c, 0));
	assert_false(gpc_cache_is_active(c));
	/* A length that wraps around: the valid cache stays as it was. */
	EXPECT_NOCHANGE(f, 0, -EINVAL, gpc_cache_refresh(v, UINT64_MAX));
	EXPECT_NOCHANGE(f, 0, -EINVAL,
			gpc_cache_refresh(v, UINT64_MAX - G0 + 1));
	assert_true(gpc_cache_check(v, 0, 64));
	/* Destroyed. */
	assert_int_equal(gpc_cache_destroy(c), 0);
	EXPECT_NOCHANGE(f, 0, -EINVAL, gpc_cache_refresh(c, 0));
}

/* refresh(len): 0 keeps the length; another length replaces it. */
static void refresh_len(void **state)
{
	struct fx *f = *state;
	struct gpc_cache *c = active_cache(f, 0, 0x40, 16, 0);
	struct gpc_cache_stats st;

	assert_int_equal(gpc_cache_refresh(c, 0), 0);
	assert_true(gpc_cache_check(c, 0, 16));
	assert_false(gpc_cache_check(c, 0, 17));
	/* Grow over three pages. */
	assert_int_equal(gpc_cache_refresh(c, 2 * f->ps + 8), 0);
	assert_true(gpc_cache_check(c, 0, 2 * f->ps + 8));
	assert_int_equal(gpc_cache_write(c, 2 * f->ps, "tail", 4), 0);
	assert_memory_equal(f->t.ram + 0x40 + 2 * f->ps, "tail", 4);
	/* Shrink. */
	assert_int_equal(gpc_cache_refresh(c, 8), 0);
	assert_true(gpc_cache_check(c, 0, 8));
	assert_false(gpc_cache_check(c, 0, 9));
	assert_int_equal(gpc_cache_get_stats(c, &st), 0);
	/* activate + the two length changes (+ maybe the no-op one) */
	assert_true(st.refreshes >= 3);
}

/*
 * refresh(c, len) with a length that runs past the memslot is a bad
 * argument: -EINVAL. By the "a failed call changes no state" rule the
 * cache keeps its valid translation and length, and refresh(c, 0) keeps
 * working.
 */
static void refresh_len_past_memslot(void **state)
{
	struct fx *f = *state;
	struct gpc_cache *c = active_cache(f, 0, TVM_RAM_SIZE - 64, 16, 0);
	bool valid_after;
	int err, err0;

	err = gpc_cache_refresh(c, 128);
	valid_after = gpc_cache_check(c, 0, 16);
	err0 = gpc_cache_refresh(c, 0);
	assert_int_equal(err, -EINVAL);
	assert_true(gpc_cache_is_active(c));
	if (!valid_after || err0 != 0)
		fail_msg("refresh(c, len past the memslot) returned -EINVAL "
			 "but %s; refresh(c, 0) afterwards returned %d (the "
			 "bad length was kept)",
			 valid_after ? "kept valid" : "cleared valid", err0);
	assert_true(gpc_cache_check(c, 0, 16));
}

static int refresh_fn(void *arg)
{
	return gpc_cache_refresh(arg, 0);
}

/*
 * Several threads miss at once (say, after an invalidation) and each calls
 * refresh; they run one after the other on the cache's refresh lock. The
 * first makes the cache valid; a later one then finds it valid and
 * unchanged. If it clears valid and translates again anyway, every other
 * reader misses meanwhile and calls refresh in turn - a chain of
 * refreshes in which the cache keeps going invalid (examples/remap_demo
 * shows hundreds of misses for 5 invalidations with 3 writers). KVM's
 * refresh leaves a valid cache with an unchanged address alone.
 *
 * Forced: T1's refresh parks after translating (holding the refresh lock),
 * T2's refresh queues behind it; T1 publishes; does T2 clear valid again
 * (parked at GPC_HOOK_REFRESH_STAGE1, where valid is already cleared)?
 */
static void refresh_valid_cache_stays_valid(void **state)
{
	struct fx *f = *state;
	struct gpc_cache *c = active_cache(f, 0, 0x80, 8, 0);
	uint64_t h = hva_of(f, G0);
	struct tstop *s1, *s2;
	struct tbg t1, t2;
	bool cleared = false;
	uint64_t deadline;

	assert_int_equal(gpc_invalidate_range_start(f->vm, h, h + 1, 0), 0);
	assert_int_equal(gpc_invalidate_range_end(f->vm, h, h + 1), 0);
	assert_false(gpc_cache_check(c, 0, 8));

	test_watchdog_arm(30, "two refreshes of one cache");
	s1 = tstop_arm(&f->t, GPC_HOOK_REFRESH_TRANSLATED, c);
	tbg_start(&t1, refresh_fn, c);
	assert_true(tstop_wait(s1));
	tbg_start(&t2, refresh_fn, c);
	/* T2 cannot get past the refresh lock while T1 holds it. */
	assert_false(tbg_done_within(&t2, 50));
	s2 = tstop_arm(&f->t, GPC_HOOK_REFRESH_STAGE1, c);
	tstop_release(s1);
	assert_int_equal(tbg_join(&t1), 0);

	/* T2 either returns, or parks at s2 with valid cleared again. */
	deadline = test_now_ns() + 10000000000ull;
	while (!atomic_load(&t2.done) && !tstop_reached(s2) &&
	       test_now_ns() < deadline)
		test_sleep_ms(1);
	if (tstop_reached(s2))
		cleared = !gpc_cache_check(c, 0, 8);
	tstop_release(s2);
	assert_int_equal(tbg_join(&t2), 0);
	test_watchdog_disarm();
	assert_true(gpc_cache_check(c, 0, 8));
	if (cleared)
		fail_msg("a refresh that found the cache valid (refreshed by "
			 "the thread before it) cleared valid and translated "
			 "again: readers miss in the meantime");
}

/* ---- gpc_cache_check / is_active / get_stats ------------------------------ */

static void check_bounds(void **state)
{
	struct fx *f = *state;
	struct gpc_guard g;
	struct gpc_cache *c = active_cache(f, 0, 0, 64, 0);
	struct gpc_cache *i = init_cache(f, 1, 0);
	struct gpc_cache_stats st;

	assert_true(gpc_cache_check(c, 0, 64));
	assert_true(gpc_cache_check(c, 63, 1));
	assert_true(gpc_cache_check(c, 64, 0));
	assert_false(gpc_cache_check(c, 0, 65));
	assert_false(gpc_cache_check(c, 1, 64));
	assert_false(gpc_cache_check(c, 65, 0));
	assert_false(gpc_cache_check(c, UINT64_MAX, 2));
	assert_false(gpc_cache_check(c, 8, UINT64_MAX));
	assert_false(gpc_cache_check(c, UINT64_MAX, UINT64_MAX));
	assert_null(gpc_cache_begin(c, 8, UINT64_MAX, &g));
	assert_null(gpc_cache_try_begin(c, UINT64_MAX, 2, &g));
	assert_null(gpc_cache_guest_ptr(c, 1, 64));

	assert_false(gpc_cache_check(NULL, 0, 1));
	assert_false(gpc_cache_check(&f->c[2], 0, 1));
	assert_false(gpc_cache_check(i, 0, 1));
	assert_false(gpc_cache_is_active(NULL));
	assert_false(gpc_cache_is_active(&f->c[2]));
	assert_false(gpc_cache_is_active(i));
	assert_true(gpc_cache_is_active(c));

	EXPECT_NOCHANGE(f, 0, -EINVAL, gpc_cache_get_stats(NULL, &st));
	EXPECT_NOCHANGE(f, 0, -EINVAL, gpc_cache_get_stats(c, NULL));
	EXPECT_NOCHANGE(f, 0, -EINVAL, gpc_cache_get_stats(&f->c[2], &st));
	assert_int_equal(gpc_cache_get_stats(i, &st), 0);
	assert_int_equal(st.refreshes + st.maps + st.misses + st.hits, 0);
}

/* ---- read / write / copy --------------------------------------------------- */

/* RAM snapshot helpers: a failed accessor must not write anything. */
static uint8_t *ram_copy(struct fx *f)
{
	uint8_t *s = malloc(4 * f->ps);

	assert_non_null(s);
	memcpy(s, f->t.ram, 4 * f->ps);
	return s;
}

static void rw_bad_args(void **state)
{
	struct fx *f = *state;
	struct gpc_cache *c = active_cache(f, 0, 0x100, 64, 0);
	struct gpc_cache *ro =
		active_cache(f, 1, f->ps, 64, GPC_CACHE_READONLY);
	struct gpc_cache *in = init_cache(f, 2, 0);
	uint8_t buf[128], *snap;

	memset(buf, 0xab, sizeof(buf));
	snap = ram_copy(f);
	EXPECT_NOCHANGE(f, 0, -EINVAL, gpc_cache_read(NULL, 0, buf, 1));
	EXPECT_NOCHANGE(f, 0, -EINVAL, gpc_cache_write(NULL, 0, buf, 1));
	EXPECT_NOCHANGE(f, 0, -EINVAL, gpc_cache_read(c, 0, NULL, 1));
	EXPECT_NOCHANGE(f, 0, -EINVAL, gpc_cache_write(c, 0, NULL, 1));
	EXPECT_NOCHANGE(f, 0, -EINVAL, gpc_cache_read(c, 0, buf, 0));
	EXPECT_NOCHANGE(f, 0, -EINVAL, gpc_cache_write(c, 0, buf, 0));
	/* Beyond the cached length, and wrapping around. */
	EXPECT_NOCHANGE(f, OBS_MISSES, -EINVAL, gpc_cache_read(c, 0, buf, 65));
	EXPECT_NOCHANGE(f, OBS_MISSES, -EINVAL, gpc_cache_write(c, 60, buf, 8));
	EXPECT_NOCHANGE(f, OBS_MISSES, -EINVAL, gpc_cache_read(c, 64, buf, 1));
	EXPECT_NOCHANGE(f, 0, -EINVAL,
			gpc_cache_write(c, UINT64_MAX - 2, buf, 8));
	/* Inactive and never initialised caches. */
	EXPECT_NOCHANGE(f, 0, -EINVAL, gpc_cache_read(in, 0, buf, 1));
	EXPECT_NOCHANGE(f, 0, -EINVAL, gpc_cache_write(in, 0, buf, 1));
	EXPECT_NOCHANGE(f, 0, -EINVAL, gpc_cache_read(&f->c[3], 0, buf, 1));
	EXPECT_NOCHANGE(f, 0, -EINVAL, gpc_cache_write(&f->c[3], 0, buf, 1));
	/* Read-only cache: writes refused, reads fine. */
	EXPECT_NOCHANGE(f, 0, -EPERM, gpc_cache_write(ro, 0, buf, 8));
	assert_memory_equal(snap, f->t.ram, 4 * f->ps);
	free(snap);
	assert_int_equal(gpc_cache_read(ro, 0, buf, 8), 0);
}

static void copy_bad_args(void **state)
{
	struct fx *f = *state;
	struct gpc_cache *a = active_cache(f, 0, 0, 1024, 0);
	struct gpc_cache *b = active_cache(f, 1, 2 * f->ps, 1024, 0);
	struct gpc_cache *ro =
		active_cache(f, 2, f->ps, 64, GPC_CACHE_READONLY);
	struct gpc_cache *in = init_cache(f, 3, 0);
	struct gpc_vm *vm2;
	struct gpc_cache *o = &f->c[4];
	uint8_t *snap;

	memset(f->t.ram, 0x11, 4 * f->ps);
	snap = ram_copy(f);
	EXPECT_NOCHANGE(f, 0, -EINVAL, gpc_cache_copy(NULL, 0, a, 0, 8));
	EXPECT_NOCHANGE(f, 0, -EINVAL, gpc_cache_copy(b, 0, NULL, 0, 8));
	EXPECT_NOCHANGE(f, 0, -EINVAL, gpc_cache_copy(b, 0, &f->c[5], 0, 8));
	EXPECT_NOCHANGE(f, 0, -EINVAL, gpc_cache_copy(b, 0, in, 0, 8));
	EXPECT_NOCHANGE(f, 0, -EINVAL, gpc_cache_copy(in, 0, a, 0, 8));
	EXPECT_NOCHANGE(f, 0, -EPERM, gpc_cache_copy(ro, 0, a, 0, 8));
	EXPECT_NOCHANGE(f, OBS_MISSES, -EINVAL,
			gpc_cache_copy(b, 1000, a, 0, 100));
	EXPECT_NOCHANGE(f, OBS_MISSES, -EINVAL,
			gpc_cache_copy(b, 0, a, 1000, 100));

	/* Caches of different vms. */
	assert_int_equal(gpc_vm_create(NULL, &vm2), 0);
	assert_int_equal(gpc_cache_init(o, vm2, GPC_USAGE_HOST, NULL, 0), 0);
	assert_int_equal(gpc_cache_activate_hva(o, (uintptr_t)f->t.ram, 64), 0);
	EXPECT_NOCHANGE(f, 0, -EINVAL, gpc_cache_copy(b, 0, o, 0, 8));
	EXPECT_NOCHANGE(f, 0, -EINVAL, gpc_cache_copy(o, 0, a, 0, 8));
	assert_int_equal(gpc_cache_destroy(o), 0);
	assert_int_equal(gpc_vm_destroy(vm2), 0);
	assert_memory_equal(snap, f->t.ram, 4 * f->ps);
	free(snap);
}

/*
 * gpc_cache_copy() is documented to return "as gpc_cache_write()", which
 * refuses a zero length with -EINVAL.
 */
static void copy_zero_len(void **state)
{
	struct fx *f = *state;
	struct gpc_cache *a = active_cache(f, 0, 0, 64, 0);
	struct gpc_cache *b = active_cache(f, 1, 64, 64, 0);

	EXPECT_NOCHANGE(f, 0, -EINVAL, gpc_cache_copy(b, 0, a, 0, 0));
}

/*
 * A copy that fails must not have written part of the destination: copying
 * 1024 bytes out of a 600-byte source is -EINVAL, and the destination
 * still holds what it held before.
 */
static void copy_failure_writes_nothing(void **state)
{
	struct fx *f = *state;
	struct gpc_cache *src = active_cache(f, 0, 0, 600, 0);
	struct gpc_cache *dst = active_cache(f, 1, 2 * f->ps, 2048, 0);
	uint8_t *snap;

	memset(f->t.ram, 0x5a, 1024);
	memset(f->t.ram + 2 * f->ps, 0, 2048);
	snap = ram_copy(f);
	assert_int_equal(gpc_cache_copy(dst, 0, src, 0, 1024), -EINVAL);
	if (memcmp(snap, f->t.ram, 4 * f->ps)) {
		free(snap);
		fail_msg("gpc_cache_copy() returned -EINVAL after writing "
			 "part of the destination (its first 512-byte chunk)");
	}
	free(snap);
}

static void rw_copy_ok(void **state)
{
	struct fx *f = *state;
	uint64_t span = 2 * f->ps + 100;
	struct gpc_cache *a = active_cache(f, 0, 0x10, span, 0);
	struct gpc_cache *b = active_cache(f, 1, 4 * f->ps + 3, span, 0);
	struct gpc_cache *ro = active_cache(f, 2, 0x10, 64, GPC_CACHE_READONLY);
	uint8_t *src = malloc(span), *out = malloc(span);
	uint64_t h = hva_of(f, G0);
	struct gpc_cache_stats st;

	assert_non_null(src);
	assert_non_null(out);
	for (uint64_t i = 0; i < span; i++)
		src[i] = (uint8_t)(i * 7 + 1);
	/* Write across two page boundaries, read back, see it in RAM. */
	assert_int_equal(gpc_cache_write(a, 0, src, span), 0);
	assert_memory_equal(f->t.ram + 0x10, src, span);
	assert_int_equal(gpc_cache_read(a, 0, out, span), 0);
	assert_memory_equal(out, src, span);
	assert_int_equal(gpc_cache_read(ro, 3, out, 8), 0);
	assert_memory_equal(out, src + 3, 8);
	/* Copy in several chunks, at an offset. */
	assert_int_equal(gpc_cache_copy(b, 5, a, 1, span - 10), 0);
	assert_memory_equal(f->t.ram + 4 * f->ps + 3 + 5, src + 1, span - 10);

	/* A miss in the helper refreshes transparently. */
	assert_int_equal(gpc_invalidate_range_start(f->vm, h, h + 1, 0), 0);
	assert_int_equal(gpc_invalidate_range_end(f->vm, h, h + 1), 0);
	assert_false(gpc_cache_check(a, 0, 1));
	assert_int_equal(gpc_cache_read(a, 8, out, 8), 0);
	assert_memory_equal(out, src + 8, 8);
	assert_true(gpc_cache_check(a, 0, span));
	assert_int_equal(gpc_cache_get_stats(a, &st), 0);
	assert_int_equal(st.refreshes, 2);
	assert_true(st.misses >= 1);

	/*
	 * After a remap the helpers see the new (zeroed) page. (Through the
	 * one-page cache: the alias stage cannot map the three-page one any
	 * more, its first page now has other backing than the next two.)
	 */
	assert_int_equal(gpc_hostmem_remap(f->vm, f->t.hm, h, f->ps), 0);
	assert_int_equal(gpc_cache_read(ro, 0, out, 8), 0);
	assert_memory_equal(out, "\0\0\0\0\0\0\0\0", 8);
	free(src);
	free(out);
}

/* -EFAULT once the memory behind a valid cache is gone. */
static void rw_unbacked(void **state)
{
	struct fx *f = *state;
	struct gpc_cache *g = active_cache(f, 0, 0x80, 8, 0);
	struct gpc_cache *h = init_cache(f, 1, 0);
	uint64_t hva = hva_of(f, G0 + 3 * f->ps);
	uint8_t buf[8] = "12345678";

	assert_int_equal(gpc_cache_activate_hva(h, hva, 8), 0);
	/* The memslot goes away: the GPA cache cannot be made valid. */
	assert_int_equal(gpc_memslot_delete(f->vm, 0), 0);
	assert_int_equal(gpc_cache_read(g, 0, buf, 8), -EFAULT);
	assert_int_equal(gpc_cache_write(g, 0, buf, 8), -EFAULT);
	assert_true(gpc_cache_is_active(g));
	assert_false(gpc_cache_check(g, 0, 1));
	/* Host memory unmapped under an HVA cache. */
	assert_int_equal(gpc_hostmem_unmap(f->vm, f->t.hm, hva, f->ps), 0);
	assert_int_equal(gpc_cache_write(h, 0, buf, 8), -EFAULT);
	assert_int_equal(gpc_cache_read(h, 0, buf, 8), -EFAULT);
	/* The slot is back: the GPA cache recovers. */
	assert_int_equal(gpc_memslot_create(f->vm, 0, G0, TVM_RAM_SIZE,
					    (uintptr_t)f->t.ram, 0),
			 0);
	assert_int_equal(gpc_cache_write(g, 0, buf, 8), 0);
	assert_memory_equal(f->t.ram + 0x80, buf, 8);
}

/* Read-only caches and read-only memslots. */
static void readonly(void **state)
{
	struct fx *f = *state;
	struct gpc_cache *rw = init_cache(f, 0, 0);
	struct gpc_cache *ro = init_cache(f, 1, GPC_CACHE_READONLY);
	struct gpc_cache *a = active_cache(f, 2, 0, 8, 0);
	uint8_t buf[8];

	add_slot1(f);
	memcpy(f->ram2, "readonly", 8);
	assert_int_equal(gpc_memslot_set_flags(f->vm, 1, GPC_MEMSLOT_READONLY),
			 0);
	/* A writable cache cannot be made valid on a read-only slot. */
	assert_int_equal(gpc_cache_activate_gpa(rw, G1, 8), -EFAULT);
	assert_false(gpc_cache_check(rw, 0, 1));
	assert_int_equal(gpc_cache_activate_gpa(ro, G1, 8), 0);
	assert_int_equal(gpc_cache_read(ro, 0, buf, 8), 0);
	assert_memory_equal(buf, "readonly", 8);
	EXPECT_NOCHANGE(f, 0, -EPERM, gpc_cache_write(ro, 0, buf, 8));
	EXPECT_NOCHANGE(f, 0, -EPERM, gpc_cache_copy(ro, 0, a, 0, 8));
	/* Copying *from* it is fine. */
	assert_int_equal(gpc_cache_copy(a, 0, ro, 0, 8), 0);
	assert_memory_equal(f->t.ram, "readonly", 8);
	assert_memory_equal(f->ram2, "readonly", 8);
	/* Back to writable: the writable cache works after a refresh. */
	assert_int_equal(gpc_memslot_set_flags(f->vm, 1, 0), 0);
	assert_int_equal(gpc_cache_refresh(rw, 0), 0);
	assert_int_equal(gpc_cache_write(rw, 0, "writable", 8), 0);
	assert_memory_equal(f->ram2, "writable", 8);
}

/* ---- multi-page caches ---------------------------------------------------- */

static void multipage(void **state)
{
	struct fx *f = *state;
	struct gpc_guard g;
	uint64_t span = 3 * f->ps;
	struct gpc_cache *c = active_cache(f, 0, 8 * f->ps + 100, span, 0);
	struct gpc_cache *m = init_cache(f, 1, 0);
	uint64_t mid = hva_of(f, G0 + 17 * f->ps);
	uint8_t *p;
	int err;

	/* Any span of one slot, at an unaligned start, written byte by byte. */
	p = gpc_cache_begin(c, 0, span, &g);
	assert_non_null(p);
	for (uint64_t i = 0; i < span; i++)
		p[i] = (uint8_t)(i ^ (i >> 8));
	gpc_cache_end(c, &g);
	for (uint64_t i = 0; i < span; i++)
		if (f->t.ram[8 * f->ps + 100 + i] != (uint8_t)(i ^ (i >> 8)))
			fail_msg("byte %llu of the multi-page cache is wrong",
				 (unsigned long long)i);

	/*
	 * Pages 16..18, with 17 replaced by new backing: not contiguous in
	 * the host any more. The direct stage does not care (the accessor
	 * uses the hva); the alias stage cannot map it as one range.
	 */
	assert_int_equal(gpc_hostmem_remap(f->vm, f->t.hm, mid, f->ps), 0);
	err = gpc_cache_activate_gpa(m, G0 + 16 * f->ps + 8, 2 * f->ps);
	if (is_alias(f)) {
		assert_int_equal(err, -EINVAL);
		assert_true(gpc_cache_is_active(m));
		assert_false(gpc_cache_check(m, 0, 1));
	} else {
		assert_int_equal(err, 0);
		assert_int_equal(gpc_cache_write(m, f->ps, "mid!", 4), 0);
		assert_memory_equal(f->t.ram + 17 * f->ps + 8, "mid!", 4);
	}
	/* Within one page of the split range it works on both. */
	assert_int_equal(gpc_cache_activate_gpa(m, G0 + 17 * f->ps, f->ps), 0);

	/* An active multi-page cache whose middle page is replaced. */
	if (is_alias(f)) {
		uint64_t cmid = hva_of(f, G0 + 9 * f->ps);

		assert_int_equal(gpc_hostmem_remap(f->vm, f->t.hm, cmid, f->ps),
				 0);
		assert_false(gpc_cache_check(c, 0, 1));
		assert_int_equal(gpc_cache_refresh(c, 0), -EINVAL);
		assert_false(gpc_cache_check(c, 0, 1));
		/* A single page of it is fine. */
		assert_int_equal(gpc_cache_refresh(c, f->ps - 100), 0);
	}
}

/* ---- counters --------------------------------------------------------------- */

struct hit_thread {
	struct gpc_cache *c;
	int n, hits;
};

static int hit_thread_fn(void *arg)
{
	struct gpc_guard g;
	struct hit_thread *h = arg;

	for (int i = 0; i < h->n; i++) {
		if (gpc_cache_begin(h->c, 0, 1, &g)) {
			h->hits++;
			gpc_cache_end(h->c, &g);
		}
	}
	return 0;
}

static void cache_counters(void **state)
{
	struct fx *f = *state;
	struct gpc_guard g;
	struct gpc_cache *plain = active_cache(f, 0, 0, 8, 0);
	struct gpc_cache *cnt = active_cache(f, 1, 64, 8, GPC_CACHE_COUNT_HITS);
	struct gpc_cache_stats sp, sc;
	struct gpc_vm_stats v0, v1;
	struct hit_thread ht = { .c = cnt, .n = 50 };
	struct tbg bg;
	uint64_t h = hva_of(f, G0);

	assert_int_equal(gpc_vm_get_stats(f->vm, &v0), 0);
	for (int i = 0; i < 10; i++) {
		assert_non_null(gpc_cache_begin(plain, 0, 8, &g));
		gpc_cache_end(plain, &g);
		assert_non_null(gpc_cache_try_begin(cnt, 0, 8, &g));
		gpc_cache_end(cnt, &g);
	}
	/* Hits of a thread that has exited are still counted. */
	tbg_start(&bg, hit_thread_fn, &ht);
	tbg_join(&bg);
	assert_int_equal(ht.hits, 50);
	/* Misses: too long, then invalid. */
	assert_null(gpc_cache_begin(plain, 0, 9, &g));
	assert_null(gpc_cache_try_begin(cnt, 4, 8, &g));

	assert_int_equal(gpc_cache_get_stats(plain, &sp), 0);
	assert_int_equal(gpc_cache_get_stats(cnt, &sc), 0);
	assert_int_equal(gpc_vm_get_stats(f->vm, &v1), 0);
	assert_int_equal(sp.hits, 0); /* not asked for */
	assert_int_equal(sc.hits, 60);
	/* the vm counts the hits of counting caches only */
	assert_int_equal(v1.hits - v0.hits, 60);
	assert_int_equal(sp.misses, 1);
	assert_int_equal(sc.misses, 1);
	assert_int_equal(v1.misses - v0.misses, 2);
	assert_int_equal(sp.refreshes, 1);
	assert_int_equal(sp.maps, 1);
	assert_int_equal(sp.unmaps, 0);

	/* One invalidation covering both: each counts one. */
	assert_int_equal(gpc_invalidate_range_start(f->vm, h, h + 128, 0), 0);
	assert_int_equal(gpc_invalidate_range_end(f->vm, h, h + 128), 0);
	/* Invalidating an invalid cache again clears nothing. */
	assert_int_equal(gpc_invalidate_range_start(f->vm, h, h + 128, 0), 0);
	assert_int_equal(gpc_invalidate_range_end(f->vm, h, h + 128), 0);
	assert_int_equal(gpc_cache_get_stats(plain, &sp), 0);
	assert_int_equal(sp.invalidations, 1);
	/* The unchanged page reuses its mapping (R2). */
	assert_int_equal(gpc_cache_refresh(plain, 0), 0);
	assert_int_equal(gpc_cache_get_stats(plain, &sp), 0);
	assert_int_equal(sp.refreshes, 2);
	assert_int_equal(sp.maps, 1);
	/* A new page: a new mapping, the old one released. */
	assert_int_equal(gpc_hostmem_remap(f->vm, f->t.hm, h, f->ps), 0);
	assert_int_equal(gpc_cache_refresh(plain, 0), 0);
	tvm_flush(&f->t);
	assert_int_equal(gpc_cache_get_stats(plain, &sp), 0);
	assert_int_equal(sp.maps, 2);
	assert_int_equal(sp.unmaps, 1);
	assert_int_equal(sp.refresh_retries, 0);
	assert_int_equal(sp.refresh_waits, 0);

	/* A destroyed cache's misses stay in the vm's total. */
	assert_int_equal(gpc_cache_destroy(plain), 0);
	assert_int_equal(gpc_vm_get_stats(f->vm, &v0), 0);
	assert_int_equal(v0.misses, v1.misses);
}

/* ---- -EDEADLK inside a read section -------------------------------------- */

static void edeadlk_once(struct fx *f, struct gpc_cache *reader)
{
	struct gpc_cache *a = &f->c[1], *b = &f->c[2], *n = &f->c[3];
	uint64_t h = hva_of(f, G0 + f->ps);
	uint8_t buf[8];

	read_section_enter(f, reader);
	EXPECT_NOCHANGE(f, 0, -EDEADLK, gpc_cache_refresh(a, 0));
	EXPECT_NOCHANGE(f, 0, -EDEADLK, gpc_cache_refresh(b, 0));
	EXPECT_NOCHANGE(f, 0, -EDEADLK, gpc_cache_deactivate(a));
	EXPECT_NOCHANGE(f, 0, -EDEADLK, gpc_cache_activate_gpa(n, G0, 8));
	EXPECT_NOCHANGE(f, 0, -EDEADLK, gpc_cache_activate_hva(n, h, 8));
	EXPECT_NOCHANGE(f, 0, -EDEADLK, gpc_cache_activate_gpa(a, G0, 8));
	EXPECT_NOCHANGE(f, 0, -EDEADLK,
			gpc_invalidate_range_start(f->vm, h, h + 8, 0));
	/*
	 * The copy helpers may refresh, so they refuse inside a section
	 * whether or not this call would miss (the answer must not depend on
	 * the cache's state).
	 */
	EXPECT_NOCHANGE(f, 0, -EDEADLK, gpc_cache_read(b, 0, buf, 8));
	EXPECT_NOCHANGE(f, 0, -EDEADLK, gpc_cache_read(a, 0, buf, 8));
	read_section_exit(f, reader);
}

static void edeadlk_in_read_section(void **state)
{
	struct fx *f = *state;
	struct gpc_cache *reader = active_cache(f, 0, 0, 8, 0);
	struct gpc_cache *a = active_cache(f, 1, f->ps, 8, 0);
	struct gpc_cache *b = active_cache(f, 2, 2 * f->ps, 8, 0);
	uint64_t hb = hva_of(f, G0 + 2 * f->ps);

	init_cache(f, 3, 0);
	/* b is invalid, so reading it needs a refresh. */
	assert_int_equal(gpc_invalidate_range_start(f->vm, hb, hb + 1, 0), 0);
	assert_int_equal(gpc_invalidate_range_end(f->vm, hb, hb + 1), 0);
	assert_false(gpc_cache_check(b, 0, 1));

	/* srcu: inside gpc_cache_begin(); both: inside the vm's domain. */
	if (is_srcu(f))
		edeadlk_once(f, reader);
	edeadlk_once(f, NULL);

	/* Outside, everything works. */
	assert_int_equal(gpc_cache_refresh(b, 0), 0);
	assert_int_equal(gpc_cache_deactivate(a), 0);
	assert_int_equal(gpc_cache_activate_gpa(&f->c[3], G0, 8), 0);
}

/* ---- sections ending out of order ------------------------------------------ */

struct inval_job {
	struct gpc_vm *vm;
	uint64_t hva;
	atomic_int done;
};

static int inval_job_fn(void *arg)
{
	struct inval_job *j = arg;

	assert_int_equal(
		gpc_invalidate_range_start(j->vm, j->hva, j->hva + 1, 0), 0);
	atomic_store(&j->done, 1);
	assert_int_equal(gpc_invalidate_range_end(j->vm, j->hva, j->hva + 1),
			 0);
	return 0;
}

/*
 * Sections of two caches need not end in LIFO order: after a's section
 * ends, b's (begun later) still holds b's page, so an invalidation of it
 * waits until b's section ends too (a grace period on the srcu scheme, b's
 * lock on the rwlock scheme).
 */
static void sections_end_in_any_order(void **state)
{
	struct fx *f = *state;
	struct gpc_cache *a = active_cache(f, 0, 0, 8, 0);
	struct gpc_cache *b = active_cache(f, 1, f->ps, 8, 0);
	struct inval_job j = { .vm = f->vm, .hva = hva_of(f, G0 + f->ps) };
	struct gpc_guard ga, gb;
	struct tbg bg;
	uint64_t *pb;

	assert_non_null(gpc_cache_begin(a, 0, 8, &ga));
	pb = gpc_cache_begin(b, 0, 8, &gb);
	assert_non_null(pb);
	gpc_cache_end(a, &ga);
	if (is_srcu(f))
		assert_true(gpc_srcu_read_held(b->srcu));
	tbg_start(&bg, inval_job_fn, &j);
	usleep(50000);
	/* Still ours: the invalidation has not returned. */
	assert_int_equal(atomic_load(&j.done), 0);
	*pb = 1;
	gpc_cache_end(b, &gb);
	tbg_join(&bg);
	assert_int_equal(atomic_load(&j.done), 1);
	if (is_srcu(f))
		assert_false(gpc_srcu_read_held(b->srcu));
	assert_false(gpc_cache_check(b, 0, 8));
}

/* ---- main ----------------------------------------------------------------- */

int main(void)
{
	const struct CMUnitTest tests[] = {
		T4(cache_init_bad_args),
		T4(cache_destroy_bad_args),
		T4(cache_destroy_in_read_section),
		T4(activate_bad_args),
		T4(activate_across_memslots),
		T4(activate_unaligned),
		T4(activate_unbacked_gpa),
		T4(activate_hva),
		T4(activate_moves_cache),
		T4(deactivate_paths),
		T4(refresh_bad_args),
		T4(refresh_len),
		T4(refresh_len_past_memslot),
		T4(refresh_valid_cache_stays_valid),
		T4(check_bounds),
		T4(rw_bad_args),
		T4(copy_bad_args),
		T4(copy_zero_len),
		T4(copy_failure_writes_nothing),
		T4(rw_copy_ok),
		T4(rw_unbacked),
		T4(readonly),
		T4(multipage),
		T4(cache_counters),
		T4(edeadlk_in_read_section),
		T4(sections_end_in_any_order),
	};

	return cmocka_run_group_tests_name("cache_api", tests, NULL, NULL);
}
