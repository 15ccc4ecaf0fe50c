// SPDX-License-Identifier: MIT
/*
 * tests/unit/test_misuse.c - a misbehaving caller of gpc/cache.h,
 * gpc/invalidate.h and gpc/vcpu.h, against what the headers promise.
 *
 * Each case is a promise of a doc comment (issue #11, "A misbehaving
 * caller"): a zero-filled cache misses everywhere and destroys as a no-op;
 * init of an initialised cache is -EBUSY and leaks nothing; gpc_cache_end()
 * after a miss (or twice, on a checked cache) is reported and changes
 * nothing; a thread that exits inside a section does not block later
 * invalidations; every self-wait is -EDEADLK with no change of state
 * (inside a section, a vCPU thread in guest mode, a refresh called back
 * from its own refresh); zero lengths and read-only memslots give their
 * documented errno; sections of different caches nest in either order
 * while writers wait; the kick and request counters count what their
 * definitions say (differentially, against the callback and the bits
 * posted). Every test runs on both schemes and both host memory stages;
 * every wait is bounded by the watchdog.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include <gpc/gpc.h>

#include "harness.h"
#include "test_common.h"

#define NC 4
#define G0 TVM_GPA_BASE

struct fx {
	struct gpc_cache c[NC];
	struct tvm t;
	struct gpc_vm *vm;
	struct gpc_vcpu *v;
	_Atomic int kicks; /* calls of the kick callback */
	uint64_t ps;
	/* refresh hook re-entry */
	struct gpc_cache *reenter;
	_Atomic int reenter_done;
	int re_refresh, re_read, re_deactivate, re_activate;
};

static void count_kick(struct gpc_vcpu *v, void *ctx)
{
	struct fx *f = ctx;

	(void)v;
	atomic_fetch_add(&f->kicks, 1);
}

static int setup(void **state)
{
	const struct tvm_param *p = *state;
	struct fx *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	if (tvm_setup(&f->t, p->scheme, p->stage))
		return -1;
	f->vm = f->t.vm;
	f->ps = (uint64_t)sysconf(_SC_PAGESIZE);
	if (gpc_vcpu_create(f->vm, count_kick, f, &f->v))
		return -1;
	test_log_capture();
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	int err = 0;

	for (int i = 0; i < NC; i++)
		if (gpc_cache_destroy(&f->c[i]))
			err = -1;
	gpc_vcpu_exit_guest(f->v);
	if (gpc_vcpu_destroy(f->v))
		err = -1;
	if (tvm_teardown(&f->t))
		err = -1;
	free(f);
	return err;
}

static struct gpc_cache *host_cache(struct fx *f, int i, uint64_t off,
				    uint64_t len, unsigned int flags)
{
	struct gpc_cache *c = &f->c[i];

	assert_int_equal(gpc_cache_init(c, f->vm, GPC_USAGE_HOST, NULL, flags),
			 0);
	assert_int_equal(gpc_cache_activate_gpa(c, G0 + off, len), 0);
	return c;
}

static struct gpc_cache *guest_cache(struct fx *f, int i, uint64_t off,
				     uint64_t len)
{
	struct gpc_cache *c = &f->c[i];

	assert_int_equal(gpc_cache_init(c, f->vm, GPC_USAGE_GUEST, f->v, 0), 0);
	assert_int_equal(gpc_cache_activate_gpa(c, G0 + off, len), 0);
	return c;
}

static void invalidate(struct fx *f, uint64_t off, uint64_t len)
{
	uint64_t h = tvm_hva(&f->t, G0 + off);

	assert_int_equal(gpc_invalidate_range_start(f->vm, h, h + len, 0), 0);
	assert_int_equal(gpc_invalidate_range_end(f->vm, h, h + len), 0);
}

/* A grace period of the vm's domain ends promptly (no stuck section). */
static void assert_no_section_left(struct fx *f)
{
	test_watchdog_arm(10, "grace period after misuse");
	assert_int_equal(gpc_srcu_synchronize(gpc_vm_srcu(f->vm)), 0);
	invalidate(f, 0, f->ps);
	test_watchdog_disarm();
}

static unsigned int errors_logged(void)
{
	return test_log_count(GPC_LOG_ERR);
}

/* ---- a zero-filled cache ------------------------------------------------- */

/* Every entry point on all-zero storage: a miss or -EINVAL, no crash. */
static void zero_cache_calls(struct gpc_cache *z)
{
	struct gpc_cache_stats st;
	struct gpc_guard g;
	uint8_t buf[8] = { 0 };

	assert_null(gpc_cache_begin(z, 0, 8, &g));
	assert_null(gpc_cache_try_begin(z, 0, 8, &g));
	assert_null(gpc_cache_guest_ptr(z, 0, 8));
	assert_false(gpc_cache_check(z, 0, 8));
	assert_false(gpc_cache_is_active(z));
	assert_int_equal(gpc_cache_refresh(z, 0), -EINVAL);
	assert_int_equal(gpc_cache_read(z, 0, buf, 8), -EINVAL);
	assert_int_equal(gpc_cache_write(z, 0, buf, 8), -EINVAL);
	assert_int_equal(gpc_cache_copy(z, 0, z, 0, 8), -EINVAL);
	assert_int_equal(gpc_cache_deactivate(z), -EINVAL);
	assert_int_equal(gpc_cache_activate_gpa(z, G0, 8), -EINVAL);
	assert_int_equal(gpc_cache_activate_hva(z, 4096, 8), -EINVAL);
	assert_int_equal(gpc_cache_get_stats(z, &st), -EINVAL);
	/* A no-op, as often as asked. */
	assert_int_equal(gpc_cache_destroy(z), 0);
	assert_int_equal(gpc_cache_destroy(z), 0);
}

static void *zero_cache_thread(void *arg)
{
	/* A thread with no SRCU entry at all: entry 0 is free here. */
	zero_cache_calls(arg);
	return NULL;
}

static void zero_cache_misses(void **state)
{
	struct fx *f = *state;
	struct gpc_cache z;
	struct gpc_cache *c = host_cache(f, 0, 0, 8, 0);
	struct gpc_guard g;
	pthread_t t;

	memset(&z, 0, sizeof(z));
	/* This thread has claimed its slot of the vm's domain already. */
	assert_non_null(gpc_cache_begin(c, 0, 8, &g));
	gpc_cache_end(c, &g);
	zero_cache_calls(&z);
	assert_int_equal(pthread_create(&t, NULL, zero_cache_thread, &z), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	/* It is still zero: nothing wrote it. */
	for (size_t i = 0; i < sizeof(z); i++)
		assert_int_equal(((uint8_t *)&z)[i], 0);
	/* And usable after all. */
	assert_int_equal(gpc_cache_init(&z, f->vm, GPC_USAGE_HOST, NULL, 0), 0);
	assert_int_equal(gpc_cache_activate_gpa(&z, G0, 8), 0);
	assert_non_null(gpc_cache_begin(&z, 0, 8, &g));
	gpc_cache_end(&z, &g);
	assert_int_equal(gpc_cache_destroy(&z), 0);
	/* A destroyed cache is a zero cache again. */
	zero_cache_calls(&z);
	assert_int_equal(errors_logged(), 0);
}

/* ---- init on an initialised cache ---------------------------------------- */

static void init_twice_is_ebusy(void **state)
{
	struct fx *f = *state;
	struct gpc_cache *c = &f->c[0];
	struct gpc_vm_stats vs;
	struct gpc_guard g;

	assert_int_equal(gpc_cache_init(c, f->vm, GPC_USAGE_HOST, NULL, 0), 0);
	/* Initialised, inactive. */
	assert_int_equal(gpc_cache_init(c, f->vm, GPC_USAGE_HOST, NULL, 0),
			 -EBUSY);
	assert_int_equal(gpc_cache_activate_gpa(c, G0, 8), 0);
	/* Active and valid: refused, and it stays so. */
	assert_int_equal(gpc_cache_init(c, f->vm, GPC_USAGE_HOST, NULL, 0),
			 -EBUSY);
	assert_int_equal(gpc_cache_init(c, f->vm, GPC_USAGE_GUEST, f->v, 0),
			 -EBUSY);
	assert_true(gpc_cache_is_active(c));
	assert_non_null(gpc_cache_begin(c, 0, 8, &g));
	gpc_cache_end(c, &g);
	assert_int_equal(gpc_vm_get_stats(f->vm, &vs), 0);
	assert_int_equal(vs.active_caches, 1);
	/* Invalidation still finds it (its registration was not lost). */
	invalidate(f, 0, 8);
	assert_false(gpc_cache_check(c, 0, 8));
	/* Destroyed: init works again. */
	assert_int_equal(gpc_cache_destroy(c), 0);
	assert_int_equal(gpc_cache_init(c, f->vm, GPC_USAGE_HOST, NULL, 0), 0);
	assert_int_equal(gpc_cache_destroy(c), 0);
	/* The vm has nothing left over: teardown destroys it. */
}

/* ---- gpc_cache_end() with nothing to end ---------------------------------- */

static void end_after_miss(void **state)
{
	struct fx *f = *state;
	struct gpc_cache *c = host_cache(f, 0, 0, 8, 0);
	struct gpc_cache *other = host_cache(f, 1, f->ps, 8, 0);
	struct gpc_guard g, go;
	unsigned int e0 = errors_logged();

	/* A hit first, so that the next begin takes the inline path. */
	assert_non_null(gpc_cache_begin(c, 0, 8, &g));
	gpc_cache_end(c, &g);

	/* A miss (invalid cache), then an end anyway: reported, ignored. */
	invalidate(f, 0, 8);
	assert_null(gpc_cache_begin(c, 0, 8, &g));
	gpc_cache_end(c, &g);
	assert_int_equal(errors_logged(), e0 + 1);
	assert_int_equal(test_log_matching(GPC_LOG_ERR, "gpc_cache_end"), 1);
	/* try_begin, and a miss for a range that does not fit. */
	assert_int_equal(gpc_cache_refresh(c, 0), 0);
	assert_null(gpc_cache_try_begin(c, 4, 8, &g));
	gpc_cache_end(c, &g);
	assert_int_equal(errors_logged(), e0 + 2);

	/* Inside another cache's section, the end of a miss must not end it. */
	assert_non_null(gpc_cache_begin(other, 0, 8, &go));
	assert_null(gpc_cache_begin(c, 8, 8, &g));
	gpc_cache_end(c, &g);
	assert_int_equal(errors_logged(), e0 + 3);
	if (f->t.scheme == GPC_SCHEME_SRCU)
		assert_true(gpc_srcu_read_held(gpc_vm_srcu(f->vm)));
	/* Still inside: slow paths still refuse. */
	assert_int_equal(gpc_cache_refresh(c, 0), -EDEADLK);
	gpc_cache_end(other, &go);

	/* Nothing is left held: no -EDEADLK, grace periods end, the vm
	 * goes (teardown). */
	assert_int_equal(gpc_cache_refresh(c, 0), 0);
	assert_no_section_left(f);
	test_log_capture();
}

/*
 * Checked caches (GPC_DEBUG=1 in the environment at init, or a library
 * built with GPC_DEBUG): a second end of a hit is caught too, on both
 * schemes, and sections still end in any order.
 */
static void checked_double_end(void **state)
{
	struct fx *f = *state;
	struct gpc_cache *a, *b;
	struct gpc_guard ga, gb;
	unsigned int e0;

	setenv("GPC_DEBUG", "1", 1);
	a = host_cache(f, 0, 0, 8, 0);
	b = host_cache(f, 1, f->ps, 8, 0);
	unsetenv("GPC_DEBUG");
	e0 = errors_logged();

	assert_non_null(gpc_cache_begin(a, 0, 8, &ga));
	assert_non_null(gpc_cache_begin(b, 0, 8, &gb));
	gpc_cache_end(a, &ga); /* not LIFO */
	gpc_cache_end(a, &ga); /* second end: caught */
	assert_int_equal(errors_logged(), e0 + 1);
	if (f->t.scheme == GPC_SCHEME_SRCU)
		assert_true(gpc_srcu_read_held(gpc_vm_srcu(f->vm)));
	gpc_cache_end(b, &gb);
	gpc_cache_end(b, &gb);
	assert_int_equal(errors_logged(), e0 + 2);
	assert_false(gpc_srcu_read_held(gpc_vm_srcu(f->vm)));
	assert_no_section_left(f);
	test_log_capture();
}

/* ---- a thread that exits inside a section --------------------------------- */

struct exiter {
	struct gpc_cache *c;
	int got;
};

static void *exit_inside(void *arg)
{
	struct exiter *x = arg;
	struct gpc_guard g;

	x->got = gpc_cache_begin(x->c, 0, 8, &g) != NULL;
	pthread_exit(NULL); /* no gpc_cache_end() */
}

static void thread_exit_inside_section(void **state)
{
	struct fx *f = *state;
	struct exiter x = { .c = host_cache(f, 0, 0, 8, 0) };
	pthread_t t;

	assert_int_equal(pthread_create(&t, NULL, exit_inside, &x), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_true(x.got);
	assert_true(test_log_matching(GPC_LOG_ERR, "exited inside") >= 1);
	/* The invalidation does not wait for the dead thread forever. */
	assert_no_section_left(f);
	assert_false(gpc_cache_check(&f->c[0], 0, 8));
	test_watchdog_arm(10, "destroy after a thread exited in a section");
	assert_int_equal(gpc_cache_destroy(&f->c[0]), 0);
	test_watchdog_disarm();
	test_log_capture();
}

/* ---- -EDEADLK ------------------------------------------------------------- */

/*
 * More nested sections than the thread's list of open sections holds (8):
 * the ones beyond it are counted elsewhere (rwlock scheme: in the thread's
 * slot), and a slow path must refuse to wait for itself while any is open,
 * then work again once all are ended, whatever the order of the ends.
 */
static void edeadlk_beyond_held_list(void **state)
{
	struct fx *f = *state;
	struct gpc_cache *a = host_cache(f, 0, 0, 8, 0);
	struct gpc_cache *b = host_cache(f, 1, f->ps, 8, 0);
	struct gpc_guard g[12];
	uint8_t buf[8] = { 0 };
	int i;

	for (i = 0; i < 12; i++)
		assert_non_null(gpc_cache_begin(a, 0, 8, &g[i]));
	assert_int_equal(gpc_cache_read(b, 0, buf, 8), -EDEADLK);
	for (i = 0; i < 11; i++) {
		gpc_cache_end(a, &g[i]);
		assert_int_equal(gpc_cache_read(b, 0, buf, 8), -EDEADLK);
	}
	gpc_cache_end(a, &g[11]);
	assert_int_equal(gpc_cache_read(b, 0, buf, 8), 0);
}

static void edeadlk_inside_sections(void **state)
{
	struct fx *f = *state;
	struct gpc_cache *a = host_cache(f, 0, 0, 8, 0);
	struct gpc_cache *b = host_cache(f, 1, f->ps, 8, 0);
	struct gpc_cache *n = &f->c[2];
	uint64_t h = tvm_hva(&f->t, G0), seq;
	struct gpc_srcu *d = gpc_vm_srcu(f->vm);
	struct gpc_guard g;
	uint8_t buf[8];

	assert_int_equal(gpc_cache_init(n, f->vm, GPC_USAGE_HOST, NULL, 0), 0);
	seq = gpc_invalidate_sequence(f->vm);

	assert_int_equal(gpc_vcpu_request(f->v, GPC_REQ_USER), 0);
	/* Inside another cache's section (either scheme). */
	assert_non_null(gpc_cache_begin(a, 0, 8, &g));
	assert_int_equal(gpc_vcpu_handle_requests(f->v), -EDEADLK);
	assert_int_equal(gpc_cache_read(b, 0, buf, 8), -EDEADLK);
	assert_int_equal(gpc_cache_write(b, 0, buf, 8), -EDEADLK);
	assert_int_equal(gpc_cache_copy(b, 0, a, 0, 8), -EDEADLK);
	assert_int_equal(gpc_cache_activate_gpa(n, G0, 8), -EDEADLK);
	assert_int_equal(gpc_invalidate_range_start(f->vm, h, h + 8, 0),
			 -EDEADLK);
	gpc_cache_end(a, &g);

	/* Inside a plain SRCU read section of the vm's domain. */
	gpc_srcu_read_lock(d);
	assert_int_equal(gpc_cache_activate_gpa(n, G0, 8), -EDEADLK);
	assert_int_equal(gpc_cache_activate_hva(n, h, 8), -EDEADLK);
	assert_int_equal(gpc_cache_read(a, 0, buf, 8), -EDEADLK);
	assert_int_equal(gpc_invalidate_range_start(f->vm, h, h + 8, 0),
			 -EDEADLK);
	gpc_srcu_read_unlock(d);

	/* Nothing changed (the request is still pending). */
	assert_int_equal(gpc_vcpu_handle_requests(f->v), (int)GPC_REQ_USER);
	assert_int_equal(gpc_invalidate_sequence(f->vm), seq);
	assert_false(gpc_cache_is_active(n));
	assert_true(gpc_cache_check(a, 0, 8));
	assert_int_equal(gpc_cache_read(b, 0, buf, 8), 0);
}

/*
 * A vCPU thread in guest mode, with a kick callback that does not make it
 * leave (as a signal to itself would not): whatever would wait for it
 * returns -EDEADLK instead of hanging; what needs no wait goes through.
 */
static void edeadlk_vcpu_in_guest(void **state)
{
	struct fx *f = *state;
	struct gpc_cache *gc = guest_cache(f, 0, 0, 8);
	struct gpc_cache *hc = host_cache(f, 1, f->ps, 8, 0);
	uint64_t h = tvm_hva(&f->t, G0), seq = gpc_invalidate_sequence(f->vm);
	uint64_t h2 = h + 2 * f->ps;

	assert_int_equal(gpc_vcpu_enter_guest(f->v), 0);
	test_watchdog_arm(10, "self-waits from a vCPU in guest mode");
	/* A range of no cache of this vCPU: nothing to wait for. */
	assert_int_equal(gpc_invalidate_range_start(f->vm, h2, h2 + 8, 0), 0);
	assert_int_equal(gpc_invalidate_range_end(f->vm, h2, h2 + 8), 0);
	seq++;
	/* A valid guest cache's refresh needs no wait either. */
	assert_int_equal(gpc_cache_refresh(gc, 0), 0);
	/* Its deactivation and destruction would wait: refused. */
	assert_int_equal(gpc_cache_deactivate(gc), -EDEADLK);
	assert_int_equal(gpc_cache_destroy(gc), -EDEADLK);
	assert_true(gpc_cache_is_active(gc));
	/* Blocking invalidation of its cache: the vCPU is kicked, and since
	 * it is this thread and still inside, -EDEADLK; nothing to end. */
	assert_int_equal(gpc_invalidate_range_start(f->vm, h, h + 8, 0),
			 -EDEADLK);
	assert_int_equal(gpc_invalidate_range_end(f->vm, h, h + 8), -ENOENT);
	assert_false(gpc_cache_check(gc, 0, 8));
	/* Non-blocking: -EAGAIN while it is inside (documented), cancel. */
	assert_int_equal(gpc_invalidate_range_start(f->vm, h, h + 8,
						    GPC_INVAL_NONBLOCK),
			 -EAGAIN);
	assert_int_equal(gpc_invalidate_range_cancel(f->vm, h, h + 8), 0);
	test_watchdog_disarm();
	/* A host cache is no vCPU's: its refresh is fine. */
	assert_int_equal(gpc_cache_refresh(hc, 0), 0);
	gpc_vcpu_exit_guest(f->v);

	assert_int_equal(gpc_invalidate_sequence(f->vm), seq);
	assert_true(gpc_vcpu_handle_requests(f->v) >= 0);
	assert_true(gpc_cache_check(gc, 0, 8));
	invalidate(f, 0, 8);
	assert_true(gpc_vcpu_handle_requests(f->v) >= 0);
	assert_int_equal(gpc_vcpu_enter_guest(f->v), 0);
	gpc_vcpu_exit_guest(f->v);
}

/* The hook runs inside the cache's refresh, holding its refresh lock. */
static void reenter_hook(struct gpc_vm *vm, enum gpc_hook_point point,
			 struct gpc_cache *c, void *ctx)
{
	struct fx *f = ctx;
	uint8_t buf[8];

	(void)vm;
	if (point != GPC_HOOK_REFRESH_STAGE1 || c != f->reenter ||
	    atomic_exchange(&f->reenter_done, 1))
		return;
	f->re_refresh = gpc_cache_refresh(c, 0);
	f->re_read = gpc_cache_read(c, 0, buf, 8);
	f->re_deactivate = gpc_cache_deactivate(c);
	f->re_activate = gpc_cache_activate_gpa(c, G0, 8);
}

static void refresh_from_own_hook(void **state)
{
	struct fx *f = *state;
	struct gpc_cache *c = host_cache(f, 0, 0, 8, 0);

	invalidate(f, 0, 8);
	f->reenter = c;
	assert_int_equal(gpc_vm_set_hook(f->vm, reenter_hook, f), 0);
	test_watchdog_arm(10, "refresh called back from its own refresh");
	assert_int_equal(gpc_cache_refresh(c, 0), 0);
	test_watchdog_disarm();
	assert_int_equal(gpc_vm_set_hook(f->vm, tvm_hook, &f->t), 0);
	assert_int_equal(atomic_load(&f->reenter_done), 1);
	assert_int_equal(f->re_refresh, -EDEADLK);
	assert_int_equal(f->re_read, -EDEADLK);
	assert_int_equal(f->re_deactivate, -EDEADLK);
	assert_int_equal(f->re_activate, -EDEADLK);
	assert_true(gpc_cache_check(c, 0, 8));
}

/* ---- lengths, read-only slots --------------------------------------------- */

static void zero_length_is_einval(void **state)
{
	struct fx *f = *state;
	struct gpc_cache *a = host_cache(f, 0, 0, 64, 0);
	struct gpc_cache *b = host_cache(f, 1, f->ps, 64, 0);
	uint8_t buf[8];

	assert_int_equal(gpc_cache_read(a, 0, buf, 0), -EINVAL);
	assert_int_equal(gpc_cache_write(a, 0, buf, 0), -EINVAL);
	assert_int_equal(gpc_cache_copy(b, 0, a, 0, 0), -EINVAL);
	assert_int_equal(gpc_cache_activate_gpa(&f->c[2], G0, 0), -EINVAL);
}

static void writable_cache_on_readonly_slot(void **state)
{
	struct fx *f = *state;
	const uint64_t gpa = 0x40000000ull;
	struct gpc_cache *w = &f->c[0], *r = &f->c[1];

	assert_int_equal(gpc_memslot_create(f->vm, 1, gpa, f->ps,
					    tvm_hva(&f->t, G0 + 4 * f->ps),
					    GPC_MEMSLOT_READONLY),
			 0);
	assert_int_equal(gpc_cache_init(w, f->vm, GPC_USAGE_HOST, NULL, 0), 0);
	assert_int_equal(gpc_cache_activate_gpa(w, gpa, 8), -EFAULT);
	assert_false(gpc_cache_check(w, 0, 8));
	assert_int_equal(gpc_cache_init(r, f->vm, GPC_USAGE_HOST, NULL,
					GPC_CACHE_READONLY),
			 0);
	assert_int_equal(gpc_cache_activate_gpa(r, gpa, 8), 0);
	assert_int_equal(gpc_cache_destroy(w), 0);
	assert_int_equal(gpc_cache_destroy(r), 0);
	assert_int_equal(gpc_memslot_delete(f->vm, 1), 0);
}

/* ---- nesting sections of different caches --------------------------------- */

struct nester {
	struct fx *f;
	struct gpc_cache *first, *second;
	_Atomic int *go;
	_Atomic int holding;
	int ok;
};

static int nest_thread(void *arg)
{
	struct nester *n = arg;
	struct gpc_guard g1, g2;

	if (!gpc_cache_begin(n->first, 0, 8, &g1))
		return -1;
	atomic_store(&n->holding, 1);
	if (!test_wait_flag(n->go, 10000)) {
		gpc_cache_end(n->first, &g1);
		return -1;
	}
	/* While writers wait for both caches: the other cache too. */
	n->ok = gpc_cache_begin(n->second, 0, 8, &g2) != NULL;
	if (n->ok)
		gpc_cache_end(n->second, &g2);
	gpc_cache_end(n->first, &g1);
	return 0;
}

struct inval_arg {
	struct fx *f;
	uint64_t off;
};

static int inval_thread(void *arg)
{
	struct inval_arg *a = arg;
	uint64_t h = tvm_hva(&a->f->t, G0 + a->off);
	int err = gpc_invalidate_range_start(a->f->vm, h, h + 8, 0);

	if (!err)
		err = gpc_invalidate_range_end(a->f->vm, h, h + 8);
	return err;
}

static int refresh_thread(void *arg)
{
	return gpc_cache_refresh(arg, 0);
}

/*
 * Two threads each inside one cache's section (T1 in a, T2 in b) begin the
 * other cache while a writer waits for each: a refresh of b waits for b's
 * write lock (T2 holds b), a blocking invalidation of a waits for a's
 * (T1 holds a) while it holds the vm's index lock. With readers that queue
 * behind waiting writers this is a cycle (T1 -> refresh -> T2 ->
 * invalidation -> T1); the documented claim is that it is none: the
 * library's writers hold one cache's write lock at a time, and the locks
 * let a reader in while the lock is read-held (glibc's default). A
 * deadlock ends in the watchdog.
 */
static void sections_nest_any_order(void **state)
{
	struct fx *f = *state;
	struct gpc_cache *a = host_cache(f, 0, 0, 8, 0);
	struct gpc_cache *b = host_cache(f, 1, f->ps, 8, 0);
	uint64_t hb = tvm_hva(&f->t, G0 + f->ps);
	_Atomic int go = 0;
	struct nester n1 = { f, a, b, &go, 0, 0 }, n2 = { f, b, a, &go, 0, 0 };
	struct inval_arg ia = { f, 0 };
	struct tbg t1, t2, ra, rb;

	/*
	 * ThreadSanitizer reports two read locks taken in opposite orders as
	 * a lock-order inversion: it does not model reader preference, which
	 * is the very point here. The plain, ASan and UBSan builds run it.
	 */
	if (TEST_TSAN && f->t.scheme == GPC_SCHEME_RWLOCK)
		skip();
	test_watchdog_arm(20, "nested sections of two caches, writers waiting");
	tbg_start(&t1, nest_thread, &n1);
	tbg_start(&t2, nest_thread, &n2);
	assert_true(test_wait_flag(&n1.holding, 10000));
	assert_true(test_wait_flag(&n2.holding, 10000));
	/* Make b invalid without waiting for T2 (a failed try), so that a
	 * refresh of b has to take its write lock. */
	assert_int_equal(gpc_invalidate_range_start(f->vm, hb, hb + 8,
						    GPC_INVAL_NONBLOCK),
			 -EAGAIN);
	assert_int_equal(gpc_invalidate_range_cancel(f->vm, hb, hb + 8), 0);
	tbg_start(&rb, refresh_thread, b);
	tbg_start(&ra, inval_thread, &ia);
	/* Let both writers reach their waits. */
	test_sleep_ms(50);
	atomic_store(&go, 1);
	assert_int_equal(tbg_join(&t1), 0);
	assert_int_equal(tbg_join(&t2), 0);
	assert_int_equal(tbg_join(&rb), 0);
	assert_int_equal(tbg_join(&ra), 0);
	test_watchdog_disarm();
	/* T1's begin of b may miss (b was invalid), T2's of a may hit. */
	assert_true(gpc_cache_check(b, 0, 8));
}

/* ---- counters ------------------------------------------------------------- */

struct guest_stay {
	struct fx *f;
	_Atomic int inside;
	unsigned int stay_ms;
	int err;
};

/* Enter guest mode and ignore kicks for a while (a slow KVM_RUN exit). */
static int stay_in_guest(void *arg)
{
	struct guest_stay *s = arg;

	s->err = gpc_vcpu_enter_guest(s->f->v);
	if (s->err)
		return s->err;
	atomic_store(&s->inside, 1);
	test_sleep_ms(s->stay_ms);
	gpc_vcpu_exit_guest(s->f->v);
	return 0;
}

/* Every call of the kick callback is a kick in both counters. */
static void kicks_count_callback_calls(void **state)
{
	struct fx *f = *state;
	struct guest_stay s = { .f = f, .stay_ms = 30 };
	struct gpc_vcpu_stats v0, v1;
	struct gpc_vm_stats m0, m1;
	struct tbg t;

	guest_cache(f, 0, 0, 8);
	assert_int_equal(gpc_vcpu_get_stats(f->v, &v0), 0);
	assert_int_equal(gpc_vm_get_stats(f->vm, &m0), 0);
	atomic_store(&f->kicks, 0);
	tbg_start(&t, stay_in_guest, &s);
	assert_true(test_wait_flag(&s.inside, 10000));
	/* Waits ~30 ms for the vCPU, re-kicking it every 2 ms. */
	test_watchdog_arm(10, "invalidation waiting for a slow vCPU");
	invalidate(f, 0, 8);
	test_watchdog_disarm();
	assert_int_equal(tbg_join(&t), 0);
	assert_int_equal(gpc_vcpu_get_stats(f->v, &v1), 0);
	assert_int_equal(gpc_vm_get_stats(f->vm, &m1), 0);
	assert_true(atomic_load(&f->kicks) > 1); /* re-kicks happened */
	assert_int_equal(v1.kicks - v0.kicks, (uint64_t)atomic_load(&f->kicks));
	assert_int_equal(m1.kicks - m0.kicks, (uint64_t)atomic_load(&f->kicks));
	assert_true(gpc_vcpu_handle_requests(f->v) >= 0);
}

/* requests_handled counts request bits consumed, not calls. */
static void requests_handled_counts_bits(void **state)
{
	struct fx *f = *state;
	struct gpc_vcpu_stats st;
	unsigned int user = GPC_REQ_USER | GPC_REQ_USER << 1;

	assert_int_equal(gpc_vcpu_handle_requests(f->v), 0);
	assert_int_equal(gpc_vcpu_get_stats(f->v, &st), 0);
	assert_int_equal(st.requests_handled, 0);
	assert_int_equal(gpc_vcpu_request(f->v, user), 0);
	/* Posted twice before handled: still one request per bit. */
	assert_int_equal(gpc_vcpu_request(f->v, GPC_REQ_USER), 0);
	assert_int_equal(gpc_vcpu_handle_requests(f->v), (int)user);
	assert_int_equal(gpc_vcpu_get_stats(f->v, &st), 0);
	assert_int_equal(st.requests_handled, 2);
	guest_cache(f, 0, 0, 8);
	invalidate(f, 0, 8); /* posts GPC_REQ_CACHE_INVALID */
	assert_int_equal(gpc_vcpu_handle_requests(f->v), 0);
	assert_int_equal(gpc_vcpu_handle_requests(f->v), 0);
	assert_int_equal(gpc_vcpu_get_stats(f->v, &st), 0);
	assert_int_equal(st.requests_handled, 3);
}

/* ---- the destroy rule (gpc/vm.h) ----------------------------------------- */

/*
 * One rule for every object whose memory outlives its destroy: a second
 * destroy is a no-op returning 0, the object stays dead (no double
 * unregistration: the vm's counts stay right, so the vm destroys in the
 * end), and caller-allocated storage can be initialised again. Checked for
 * the three such objects: a cache, an SRCU domain and a vCPU.
 */
static void double_destroy_is_noop(void **state)
{
	struct fx *f = *state;
	struct gpc_cache *c = host_cache(f, 0, 0, 8, 0);
	struct gpc_vcpu *v;
	struct gpc_srcu d;
	struct gpc_guard g;

	/* A cache: active, then destroyed twice; init works again. */
	assert_int_equal(gpc_cache_destroy(c), 0);
	assert_int_equal(gpc_cache_destroy(c), 0);
	assert_false(gpc_cache_is_active(c));
	assert_null(gpc_cache_begin(c, 0, 8, &g));
	host_cache(f, 0, 0, 8, 0);
	assert_non_null(gpc_cache_begin(c, 0, 8, &g));
	gpc_cache_end(c, &g);
	assert_int_equal(gpc_cache_destroy(c), 0);

	/* A domain: destroyed twice, zero-filled too; init works again. */
	memset(&d, 0, sizeof(d));
	assert_int_equal(gpc_srcu_destroy(&d), 0);
	assert_int_equal(gpc_srcu_init(&d, NULL), 0);
	assert_int_equal(gpc_srcu_destroy(&d), 0);
	assert_int_equal(gpc_srcu_destroy(&d), 0);
	assert_int_equal(gpc_srcu_synchronize(&d), -EINVAL);
	assert_int_equal(gpc_srcu_init(&d, NULL), 0);
	assert_int_equal(gpc_srcu_synchronize(&d), 0);
	assert_int_equal(gpc_srcu_destroy(&d), 0);

	/*
	 * A vCPU: a second destroy must not unregister it from the vm again
	 * (the vm would count one vCPU fewer than it has and let itself be
	 * destroyed under f->v), nor revive it.
	 */
	assert_int_equal(gpc_vcpu_create(f->vm, NULL, NULL, &v), 0);
	assert_int_equal(gpc_vcpu_destroy(v), 0);
	assert_int_equal(gpc_vcpu_destroy(v), 0);
	assert_int_equal(gpc_vcpu_destroy(v), 0);
	assert_int_equal(gpc_vcpu_enter_guest(v), -EINVAL);
	assert_int_equal(gpc_vcpu_destroy(NULL), -EINVAL);
	assert_int_equal(gpc_srcu_destroy(NULL), -EINVAL);
	assert_int_equal(gpc_cache_destroy(NULL), -EINVAL);
	assert_int_equal(errors_logged(), 0);
	assert_int_equal(gpc_vm_destroy(f->vm), -EBUSY); /* f->v is alive */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		T4(zero_cache_misses),
		T4(init_twice_is_ebusy),
		T4(end_after_miss),
		T4(checked_double_end),
		T4(thread_exit_inside_section),
		T4(edeadlk_inside_sections),
		T4(edeadlk_beyond_held_list),
		T4(edeadlk_vcpu_in_guest),
		T4(refresh_from_own_hook),
		T4(zero_length_is_einval),
		T4(writable_cache_on_readonly_slot),
		T4(sections_nest_any_order),
		T4(kicks_count_callback_calls),
		T4(requests_handled_counts_bits),
		T4(double_destroy_is_noop),
	};

	return cmocka_run_group_tests_name("misuse", tests, NULL, NULL);
}
