// SPDX-License-Identifier: MIT
/*
 * tests/unit/test_vcpu_api.c - gpc/vcpu.h and guest-usage caches, from one thread.
 *
 * What must hold: bad arguments and misuse (entering twice, destroying a
 * vCPU in guest mode or one a guest-usage cache still names, using a
 * destroyed vCPU) are refused and change nothing; enter_guest bails out
 * (-EAGAIN) while requests are pending or a guest cache is invalid, and
 * handle_requests consumes the requests (returning the caller's bits) and
 * refreshes the caches so that the next entry succeeds; a request kicks a
 * vCPU in guest mode exactly once per entry; a non-blocking invalidation
 * never waits for a vCPU in guest mode (-EAGAIN, vCPU kicked, cache
 * invalid, nothing to end) and succeeds once it is outside.
 *
 * The blocking eviction of a vCPU thread (R6) and the races of R8 are in
 * the scenario tests; here "the vCPU" is the test thread itself.
 * Every test runs on both schemes, on the direct and the alias stage.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <gpc/gpc.h>

#include "harness.h"
#include "test_common.h"

#define NC 3
#define G0 TVM_GPA_BASE

struct fx {
	struct gpc_cache c[NC];
	struct tvm t;
	struct gpc_vm *vm;
	struct gpc_vcpu *v;
	_Atomic int kicks;     /* calls of the kick callback */
	_Atomic int bad_kicks; /* ...with another vCPU than ours */
	uint64_t ps;
};

static void count_kick(struct gpc_vcpu *v, void *ctx)
{
	struct fx *f = ctx;

	/* No cmocka assertions here: it may run on another thread. */
	if (v != f->v)
		atomic_fetch_add(&f->bad_kicks, 1);
	atomic_fetch_add(&f->kicks, 1);
}

static int setup(void **state)
{
	const struct tvm_param *p = *state;
	struct fx *f =
		aligned_alloc(64, (sizeof(struct fx) + 63) & ~(size_t)63);

	if (!f)
		return -1;
	memset(f, 0, sizeof(*f));
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
		gpc_cache_destroy(&f->c[i]);
	gpc_vcpu_exit_guest(f->v);
	gpc_vcpu_destroy(f->v);
	/* Nothing here is worth a warning: bad input is an error code. */
	if (test_log_clean())
		err = -1;
	if (tvm_teardown(&f->t))
		err = -1;
	if (atomic_load(&f->bad_kicks))
		err = -1;
	free(f);
	return err ? -1 : 0;
}

/* A guest-usage cache of the fixture's vCPU on [G0 + off, + len). */
static struct gpc_cache *guest_cache(struct fx *f, int i, uint64_t off,
				     uint64_t len)
{
	struct gpc_cache *c = &f->c[i];

	assert_int_equal(gpc_cache_init(c, f->vm, GPC_USAGE_GUEST, f->v, 0), 0);
	assert_int_equal(gpc_cache_activate_gpa(c, G0 + off, len), 0);
	return c;
}

static struct gpc_vcpu_stats vstats(struct gpc_vcpu *v)
{
	struct gpc_vcpu_stats st;

	assert_int_equal(gpc_vcpu_get_stats(v, &st), 0);
	return st;
}

static void invalidate(struct fx *f, uint64_t off, uint64_t len)
{
	uint64_t h = tvm_hva(&f->t, G0 + off);

	assert_int_equal(gpc_invalidate_range_start(f->vm, h, h + len, 0), 0);
	assert_int_equal(gpc_invalidate_range_end(f->vm, h, h + len), 0);
}

/* ---- create / destroy ------------------------------------------------------- */

static void vcpu_create_bad_args(void **state)
{
	struct fx *f = *state;
	struct gpc_vcpu *v = (struct gpc_vcpu *)1;

	assert_int_equal(gpc_vcpu_create(NULL, NULL, NULL, &v), -EINVAL);
	assert_int_equal(gpc_vcpu_create(f->vm, NULL, NULL, NULL), -EINVAL);
	assert_ptr_equal(v, (struct gpc_vcpu *)1);
	/* Without a kick callback is fine. */
	assert_int_equal(gpc_vcpu_create(f->vm, NULL, NULL, &v), 0);
	assert_int_equal(gpc_vcpu_mode(v), GPC_VCPU_OUTSIDE);
	/* A request while in guest mode must not call a missing callback. */
	assert_int_equal(gpc_vcpu_enter_guest(v), 0);
	assert_int_equal(gpc_vcpu_request(v, GPC_REQ_USER), 0);
	assert_int_equal(gpc_vcpu_mode(v), GPC_VCPU_EXITING);
	gpc_vcpu_exit_guest(v);
	assert_int_equal(gpc_vcpu_destroy(v), 0);
}

static void vcpu_destroy_paths(void **state)
{
	struct fx *f = *state;
	struct gpc_vcpu *v;
	struct gpc_vcpu_stats st;

	assert_int_equal(gpc_vcpu_destroy(NULL), -EINVAL);
	assert_int_equal(gpc_vcpu_create(f->vm, NULL, NULL, &v), 0);

	/* In guest mode: -EBUSY, and it stays in guest mode. */
	assert_int_equal(gpc_vcpu_enter_guest(v), 0);
	assert_int_equal(gpc_vcpu_destroy(v), -EBUSY);
	assert_int_equal(gpc_vcpu_mode(v), GPC_VCPU_IN_GUEST);
	gpc_vcpu_exit_guest(v);
	assert_int_equal(gpc_vcpu_destroy(v), 0);
	/* Twice, and everything else on a destroyed vCPU. */
	assert_int_equal(gpc_vcpu_destroy(v), 0); /* a no-op (gpc/vm.h) */
	assert_int_equal(gpc_vcpu_enter_guest(v), -EINVAL);
	assert_int_equal(gpc_vcpu_mode(v), GPC_VCPU_OUTSIDE);
	assert_int_equal(gpc_vcpu_handle_requests(v), -EINVAL);
	assert_int_equal(gpc_vcpu_request(v, GPC_REQ_USER), -EINVAL);
	assert_int_equal(gpc_cache_init(&f->c[0], f->vm, GPC_USAGE_GUEST, v, 0),
			 -EINVAL);
	assert_int_equal(gpc_vcpu_get_stats(v, &st), 0);
	assert_int_equal(st.entries, 1);
}

/* -EBUSY while an active guest-usage cache names the vCPU. */
static void vcpu_destroy_with_active_cache(void **state)
{
	struct fx *f = *state;
	struct gpc_cache *g = guest_cache(f, 0, 0, 8);

	assert_int_equal(gpc_vcpu_destroy(f->v), -EBUSY);
	/* Nothing changed: the cache is valid and the vCPU enters with it. */
	assert_true(gpc_cache_check(g, 0, 8));
	assert_int_equal(gpc_vcpu_enter_guest(f->v), 0);
	assert_non_null(gpc_cache_guest_ptr(g, 0, 8));
	gpc_vcpu_exit_guest(f->v);
	assert_int_equal(gpc_cache_destroy(g), 0);
	assert_int_equal(gpc_vcpu_destroy(f->v), 0);
}

/*
 * "-EBUSY if a guest-usage cache still names it": a cache initialised for
 * the vCPU names it whether or not it is active at the moment; destroying
 * the vCPU under it would leave a cache that can be activated (and made
 * valid) for a vCPU that no longer exists.
 */
static void vcpu_destroy_with_inactive_cache(void **state)
{
	struct fx *f = *state;
	struct gpc_cache *g = &f->c[0];
	int err;

	assert_int_equal(gpc_cache_init(g, f->vm, GPC_USAGE_GUEST, f->v, 0), 0);
	err = gpc_vcpu_destroy(f->v);
	if (err == 0) {
		err = gpc_cache_activate_gpa(g, G0, 8);
		fail_msg("gpc_vcpu_destroy succeeded while an (inactive) "
			 "guest-usage cache names the vCPU; activating that "
			 "cache afterwards returned %d",
			 err);
	}
	assert_int_equal(err, -EBUSY);
	/* Same after it was active once and deactivated. */
	assert_int_equal(gpc_cache_activate_gpa(g, G0, 8), 0);
	assert_int_equal(gpc_cache_deactivate(g), 0);
	assert_int_equal(gpc_vcpu_destroy(f->v), -EBUSY);
	assert_int_equal(gpc_cache_destroy(g), 0);
	assert_int_equal(gpc_vcpu_destroy(f->v), 0);
}

/* ---- enter / exit ----------------------------------------------------------------- */

static void enter_guest_paths(void **state)
{
	struct fx *f = *state;
	struct gpc_vcpu_stats s0, s1;

	assert_int_equal(gpc_vcpu_enter_guest(NULL), -EINVAL);
	gpc_vcpu_exit_guest(NULL); /* no crash */
	assert_int_equal(gpc_vcpu_mode(NULL), GPC_VCPU_OUTSIDE);

	/* Exit while outside: stays outside. */
	gpc_vcpu_exit_guest(f->v);
	assert_int_equal(gpc_vcpu_mode(f->v), GPC_VCPU_OUTSIDE);

	assert_int_equal(gpc_vcpu_enter_guest(f->v), 0);
	assert_int_equal(gpc_vcpu_mode(f->v), GPC_VCPU_IN_GUEST);
	s0 = vstats(f->v);
	/* Twice: -EINVAL, still in guest mode, nothing counted. */
	assert_int_equal(gpc_vcpu_enter_guest(f->v), -EINVAL);
	assert_int_equal(gpc_vcpu_mode(f->v), GPC_VCPU_IN_GUEST);
	s1 = vstats(f->v);
	assert_memory_equal(&s0, &s1, sizeof(s0));
	assert_int_equal(atomic_load(&f->kicks), 0);
	gpc_vcpu_exit_guest(f->v);
	assert_int_equal(gpc_vcpu_mode(f->v), GPC_VCPU_OUTSIDE);
	/* Kicked (EXITING): entering again is refused as well. */
	assert_int_equal(gpc_vcpu_enter_guest(f->v), 0);
	assert_int_equal(gpc_vcpu_request(f->v, GPC_REQ_USER), 0);
	assert_int_equal(gpc_vcpu_mode(f->v), GPC_VCPU_EXITING);
	assert_int_equal(gpc_vcpu_enter_guest(f->v), -EINVAL);
	assert_int_equal(gpc_vcpu_mode(f->v), GPC_VCPU_EXITING);
	gpc_vcpu_exit_guest(f->v);
	assert_int_equal(gpc_vcpu_handle_requests(f->v), GPC_REQ_USER);
	s1 = vstats(f->v);
	assert_int_equal(s1.entries, 2);
	assert_int_equal(s1.entry_bailouts, 0);
	assert_int_equal(s1.kicks, 1);
}

/* Pending requests: bail out, consume, enter. The caller's bits come back. */
static void requests_bail_out_and_consume(void **state)
{
	struct fx *f = *state;
	unsigned int user = GPC_REQ_USER | (GPC_REQ_USER << 3);
	struct gpc_vcpu_stats st;

	assert_int_equal(gpc_vcpu_request(NULL, GPC_REQ_USER), -EINVAL);
	assert_int_equal(gpc_vcpu_handle_requests(NULL), -EINVAL);

	/* Outside guest mode a request kicks nobody. */
	assert_int_equal(gpc_vcpu_request(f->v, user | GPC_REQ_CACHE_INVALID),
			 0);
	assert_int_equal(atomic_load(&f->kicks), 0);
	assert_int_equal(gpc_vcpu_enter_guest(f->v), -EAGAIN);
	assert_int_equal(gpc_vcpu_mode(f->v), GPC_VCPU_OUTSIDE);
	/* Still pending: bails out again. */
	assert_int_equal(gpc_vcpu_enter_guest(f->v), -EAGAIN);
	/* Only the caller's bits are returned; all are consumed. */
	assert_int_equal(gpc_vcpu_handle_requests(f->v), (int)user);
	assert_int_equal(gpc_vcpu_handle_requests(f->v), 0);
	assert_int_equal(gpc_vcpu_enter_guest(f->v), 0);
	gpc_vcpu_exit_guest(f->v);
	st = vstats(f->v);
	assert_int_equal(st.entries, 1);
	assert_int_equal(st.entry_bailouts, 2);
	/* Request bits consumed: CACHE_INVALID and the two caller bits. */
	assert_int_equal(st.requests_handled, 3);
	assert_int_equal(st.kicks, 0);

	assert_int_equal(gpc_vcpu_get_stats(NULL, &st), -EINVAL);
	assert_int_equal(gpc_vcpu_get_stats(f->v, NULL), -EINVAL);
}

/* A request in guest mode kicks once per entry (IN_GUEST -> EXITING). */
static void request_kicks_once(void **state)
{
	struct fx *f = *state;
	struct gpc_vm_stats vs;

	assert_int_equal(gpc_vcpu_enter_guest(f->v), 0);
	assert_int_equal(gpc_vcpu_request(f->v, GPC_REQ_USER), 0);
	assert_int_equal(atomic_load(&f->kicks), 1);
	assert_int_equal(gpc_vcpu_mode(f->v), GPC_VCPU_EXITING);
	assert_int_equal(gpc_vcpu_request(f->v, GPC_REQ_USER << 1), 0);
	assert_int_equal(atomic_load(&f->kicks), 1);
	gpc_vcpu_exit_guest(f->v);
	assert_int_equal(gpc_vcpu_mode(f->v), GPC_VCPU_OUTSIDE);
	assert_int_equal(gpc_vcpu_handle_requests(f->v),
			 (int)(GPC_REQ_USER | (GPC_REQ_USER << 1)));
	/* The next entry can be kicked again. */
	assert_int_equal(gpc_vcpu_enter_guest(f->v), 0);
	assert_int_equal(gpc_vcpu_request(f->v, GPC_REQ_USER), 0);
	assert_int_equal(atomic_load(&f->kicks), 2);
	gpc_vcpu_exit_guest(f->v);
	assert_int_equal(vstats(f->v).kicks, 2);
	assert_int_equal(gpc_vm_get_stats(f->vm, &vs), 0);
	assert_int_equal(vs.kicks, 2);
}

/* ---- guest-usage caches ----------------------------------------------------------- */

static void guest_cache_invalid_bails_out(void **state)
{
	struct fx *f = *state;
	struct gpc_cache *g = guest_cache(f, 0, 0x40, 16);
	struct gpc_cache *h = guest_cache(f, 1, 4 * f->ps, 8);
	uint8_t *p;

	assert_int_equal(gpc_vcpu_enter_guest(f->v), 0);
	p = gpc_cache_guest_ptr(g, 0, 16);
	assert_non_null(p);
	memcpy(p, "guest usage ok!", 16);
	assert_null(gpc_cache_guest_ptr(g, 1, 16));
	assert_non_null(gpc_cache_guest_ptr(h, 0, 8));
	gpc_vcpu_exit_guest(f->v);
	assert_memory_equal(f->t.ram + 0x40, "guest usage ok!", 16);

	/* An invalidation (vCPU outside): request posted, no kick. */
	invalidate(f, 0x40, 1);
	assert_false(gpc_cache_check(g, 0, 16));
	assert_true(gpc_cache_check(h, 0, 8));
	assert_int_equal(atomic_load(&f->kicks), 0);
	assert_int_equal(gpc_vcpu_enter_guest(f->v), -EAGAIN);
	assert_int_equal(gpc_vcpu_handle_requests(f->v), 0);
	assert_true(gpc_cache_check(g, 0, 16));
	assert_int_equal(gpc_vcpu_enter_guest(f->v), 0);
	assert_non_null(gpc_cache_guest_ptr(g, 0, 16));
	gpc_vcpu_exit_guest(f->v);

	/*
	 * A memslot change posts no request, but the cache is stale: the
	 * entry's own check catches it, and handle_requests refreshes it.
	 */
	assert_int_equal(gpc_memslot_create(f->vm, 1, 0x40000000, f->ps,
					    tvm_hva(&f->t, G0), 0),
			 0);
	assert_false(gpc_cache_check(g, 0, 16));
	assert_int_equal(gpc_vcpu_enter_guest(f->v), -EAGAIN);
	assert_int_equal(gpc_vcpu_handle_requests(f->v), 0);
	assert_int_equal(gpc_vcpu_enter_guest(f->v), 0);
	assert_non_null(gpc_cache_guest_ptr(h, 0, 8));
	gpc_vcpu_exit_guest(f->v);

	/* A deactivated guest cache no longer stands in the way. */
	invalidate(f, 4 * f->ps, 1);
	assert_int_equal(gpc_cache_deactivate(h), 0);
	assert_int_equal(gpc_vcpu_handle_requests(f->v), 0);
	assert_int_equal(gpc_vcpu_enter_guest(f->v), 0);
	assert_null(gpc_cache_guest_ptr(h, 0, 8));
	gpc_vcpu_exit_guest(f->v);
}

/*
 * handle_requests cannot refresh a cache whose memory is gone: it returns
 * the error, the request is consumed, the cache stays invalid (so entry
 * keeps bailing out until the caller fixes things).
 */
/*
 * A guest-usage cache is for its vCPU only: an invalidation waits for the
 * vCPU, not for readers, so read/write/copy refuse it (and change nothing),
 * while the vCPU's own pointer keeps working.
 */
static void guest_cache_refuses_host_access(void **state)
{
	struct fx *f = *state;
	struct gpc_cache *g = guest_cache(f, 0, 0, 8);
	uint8_t buf[8] = { 0 };

	assert_true(gpc_cache_check(g, 0, 8));
	assert_int_equal(gpc_cache_read(g, 0, buf, 8), -EINVAL);
	assert_int_equal(gpc_cache_write(g, 0, buf, 8), -EINVAL);
	assert_int_equal(gpc_cache_copy(g, 0, g, 0, 8), -EINVAL);
	assert_true(gpc_cache_check(g, 0, 8));
	assert_int_equal(gpc_vcpu_enter_guest(f->v), 0);
	assert_non_null(gpc_cache_guest_ptr(g, 0, 8));
	gpc_vcpu_exit_guest(f->v);
}

static void handle_requests_refresh_error(void **state)
{
	struct fx *f = *state;
	struct gpc_cache *g = guest_cache(f, 0, 0, 8);

	assert_int_equal(gpc_memslot_delete(f->vm, 0), 0);
	assert_int_equal(gpc_vcpu_request(f->v, GPC_REQ_USER), 0);
	assert_int_equal(gpc_vcpu_handle_requests(f->v), -EFAULT);
	assert_false(gpc_cache_check(g, 0, 8));
	assert_true(gpc_cache_is_active(g));
	assert_int_equal(gpc_vcpu_enter_guest(f->v), -EAGAIN);
	assert_int_equal(gpc_memslot_create(f->vm, 0, G0, TVM_RAM_SIZE,
					    (uintptr_t)f->t.ram, 0),
			 0);
	/* The failed call kept the caller's bit pending for this one. */
	assert_int_equal(gpc_vcpu_handle_requests(f->v), GPC_REQ_USER);
	assert_int_equal(gpc_vcpu_enter_guest(f->v), 0);
	gpc_vcpu_exit_guest(f->v);
}

/*
 * Non-blocking invalidation while the vCPU is in guest mode: -EAGAIN, never
 * a wait; the vCPU is kicked and its cache invalid; the in-progress count
 * is rolled back (range_end has nothing to end, the sequence did not
 * move). Once the vCPU is outside a retry succeeds.
 */
static void nonblock_inval_vcpu_in_guest(void **state)
{
	struct fx *f = *state;
	struct gpc_cache *g = guest_cache(f, 0, 0, 8);
	uint64_t h = tvm_hva(&f->t, G0);
	uint64_t seq = gpc_invalidate_sequence(f->vm);
	struct gpc_vm_stats vs;

	assert_int_equal(gpc_vcpu_enter_guest(f->v), 0);
	test_watchdog_arm(10, "non-blocking invalidation, vCPU in guest mode");
	assert_int_equal(gpc_invalidate_range_start(f->vm, h, h + 8,
						    GPC_INVAL_NONBLOCK),
			 -EAGAIN);
	test_watchdog_disarm();
	assert_int_equal(gpc_vcpu_mode(f->v), GPC_VCPU_EXITING);
	assert_int_equal(atomic_load(&f->kicks), 1);
	assert_false(gpc_cache_check(g, 0, 8));
	assert_null(gpc_cache_guest_ptr(g, 0, 8));
	assert_int_equal(gpc_invalidate_range_end(f->vm, h, h + 8), -ENOENT);
	assert_int_equal(gpc_invalidate_sequence(f->vm), seq);
	assert_int_equal(gpc_vm_get_stats(f->vm, &vs), 0);
	assert_int_equal(vs.inval_eagain, 1);
	assert_int_equal(vs.kicks, 1);

	/*
	 * Still inside (kicked, not yet out): still -EAGAIN. The kick callback
	 * runs again (a lost kick would otherwise keep the vCPU inside for
	 * good: a non-blocking caller has no other way to re-send it), and
	 * the counters count every call of the callback.
	 */
	assert_int_equal(gpc_invalidate_range_start(f->vm, h, h + 8,
						    GPC_INVAL_NONBLOCK),
			 -EAGAIN);
	assert_int_equal(atomic_load(&f->kicks), 2);
	assert_int_equal(gpc_vm_get_stats(f->vm, &vs), 0);
	assert_int_equal(vs.kicks, 2);

	gpc_vcpu_exit_guest(f->v);
	assert_int_equal(gpc_invalidate_range_start(f->vm, h, h + 8,
						    GPC_INVAL_NONBLOCK),
			 0);
	assert_int_equal(gpc_invalidate_range_end(f->vm, h, h + 8), 0);
	assert_int_equal(gpc_invalidate_sequence(f->vm), seq + 1);
	assert_int_equal(gpc_vcpu_enter_guest(f->v), -EAGAIN);
	assert_int_equal(gpc_vcpu_handle_requests(f->v), 0);
	assert_int_equal(gpc_vcpu_enter_guest(f->v), 0);
	assert_non_null(gpc_cache_guest_ptr(g, 0, 8));
	gpc_vcpu_exit_guest(f->v);
}

/* A guest cache is checked against its full length at entry. */
static void guest_cache_multipage(void **state)
{
	struct fx *f = *state;
	uint64_t len = 2 * f->ps + 1;
	struct gpc_cache *g = guest_cache(f, 0, f->ps - 1, len);
	uint8_t *p;

	assert_int_equal(gpc_vcpu_enter_guest(f->v), 0);
	p = gpc_cache_guest_ptr(g, 0, len);
	assert_non_null(p);
	p[0] = 0xa1;
	p[len - 1] = 0xa2;
	gpc_vcpu_exit_guest(f->v);
	assert_int_equal(f->t.ram[f->ps - 1], 0xa1);
	assert_int_equal(f->t.ram[f->ps - 1 + len - 1], 0xa2);
	/* Invalidating its last page alone evicts it. */
	invalidate(f, 3 * f->ps - 1, 1);
	assert_int_equal(gpc_vcpu_enter_guest(f->v), -EAGAIN);
	assert_int_equal(gpc_vcpu_handle_requests(f->v), 0);
	assert_int_equal(gpc_vcpu_enter_guest(f->v), 0);
	gpc_vcpu_exit_guest(f->v);
}

/* ---- main -------------------------------------------------------------------------- */

int main(void)
{
	const struct CMUnitTest tests[] = {
		T4(vcpu_create_bad_args),
		T4(vcpu_destroy_paths),
		T4(vcpu_destroy_with_active_cache),
		T4(vcpu_destroy_with_inactive_cache),
		T4(enter_guest_paths),
		T4(requests_bail_out_and_consume),
		T4(request_kicks_once),
		T4(guest_cache_invalid_bails_out),
		T4(guest_cache_refuses_host_access),
		T4(handle_requests_refresh_error),
		T4(nonblock_inval_vcpu_in_guest),
		T4(guest_cache_multipage),
	};

	return cmocka_run_group_tests_name("vcpu_api", tests, NULL, NULL);
}
