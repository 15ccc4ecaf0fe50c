/* SPDX-License-Identifier: MIT */
/*
 * bench/suite_kick.c - bench_cache suite 2, last part: what an invalidation
 * pays for a guest-usage cache (kick the vCPU out of guest mode and wait
 * for it), and whether a reader of one SRCU domain delays another's grace
 * period (see bench_cache.c for the conventions all suites follow).
 *
 * The vCPU is simulated: a thread that enters guest mode, spins there as a
 * guest would run, and leaves when its kick callback fires (a real vCPU
 * leaves KVM_RUN on a signal; that exit costs more, see suite 6).
 */
#include <pthread.h>

#include "suite.h"

struct kick_state {
	struct env env;
	struct gpc_vcpu *v;
	struct gpc_cache c;
	_Atomic int kicked, stop, errors;
};

static void kick_cb(struct gpc_vcpu *v, void *ctx)
{
	struct kick_state *k = ctx;

	(void)v;
	atomic_store_explicit(&k->kicked, 1, memory_order_release);
}

static void *vcpu_main(void *arg)
{
	struct kick_state *k = arg;

	while (!atomic_load_explicit(&k->stop, memory_order_relaxed)) {
		if (gpc_vcpu_enter_guest(k->v)) {
			if (gpc_vcpu_handle_requests(k->v) < 0)
				atomic_fetch_add(&k->errors, 1);
			continue;
		}
		/* "The guest runs" until the kick (or the end). */
		while (!atomic_load_explicit(&k->kicked,
					     memory_order_acquire) &&
		       !atomic_load_explicit(&k->stop, memory_order_relaxed))
			gpc_cpu_relax();
		atomic_store_explicit(&k->kicked, 0, memory_order_relaxed);
		gpc_vcpu_exit_guest(k->v);
	}
	return NULL;
}

/* Wait (bounded) until the vCPU is in guest mode again. */
static bool kick_wait_in_guest(struct kick_state *k)
{
	uint64_t end = now_ns() + 100000000ULL;

	while (gpc_vcpu_mode(k->v) != GPC_VCPU_IN_GUEST)
		if (now_ns() > end)
			return false;
	return true;
}

static int kick_setup(struct kick_state *k)
{
	int err = env_create(&k->env, GPC_SCHEME_SRCU, 1, "kick");

	if (!err)
		err = gpc_vcpu_create(k->env.vm, kick_cb, k, &k->v);
	if (!err)
		err = gpc_cache_init(&k->c, k->env.vm, GPC_USAGE_GUEST, k->v,
				     0);
	if (!err)
		err = gpc_cache_activate_gpa(&k->c, GPA_BASE, 8);
	return err;
}

/* Blocking invalidations of the vCPU's cache page while it runs. */
static void kick_measure(struct samples *s, int n)
{
	static struct kick_state k;
	uint64_t hva;
	pthread_t t;
	int err;

	memset(&k, 0, sizeof(k));
	err = kick_setup(&k);
	if (err || pthread_create(&t, NULL, vcpu_main, &k)) {
		fail("kick setup", err ? err : -EAGAIN);
		return;
	}
	hva = env_hva(&k.env, 0);
	for (int i = 0; i < n && !failed; i++) {
		uint64_t t0;

		if (!kick_wait_in_guest(&k)) {
			fail("vCPU never entered guest mode", -ETIMEDOUT);
			break;
		}
		t0 = now_ns();
		err = gpc_invalidate_range_start(k.env.vm, hva, hva + page_size,
						 0);
		samples_add(s, now_ns() - t0);
		if (err) {
			fail("gpc_invalidate_range_start", err);
			break;
		}
		gpc_invalidate_range_end(k.env.vm, hva, hva + page_size);
	}
	atomic_store(&k.stop, 1);
	pthread_join(t, NULL);
	if (atomic_load(&k.errors))
		fail("vCPU handle_requests", -EIO);
	gpc_cache_destroy(&k.c);
	gpc_vcpu_destroy(k.v);
	env_destroy(&k.env);
}

/* ---- independent domains ------------------------------------------------ */

struct dom_reader {
	struct gpc_srcu *a;
	_Atomic int stop;
};

/* Back-to-back long sections of domain A. */
static void *dom_reader_main(void *arg)
{
	struct dom_reader *r = arg;

	while (!atomic_load_explicit(&r->stop, memory_order_relaxed)) {
		long_srcu_section(r->a);
	}
	return NULL;
}

static void dom_batch(struct gpc_srcu *b, struct samples *s, int n)
{
	for (int i = 0; i < n; i++) {
		uint64_t t0 = now_ns();

		gpc_srcu_synchronize(b);
		samples_add(s, now_ns() - t0);
	}
}

/* B's grace periods with A idle, then with a busy reader of A. */
static void dom_measure(struct samples *idle, struct samples *busy, int n)
{
	static struct gpc_srcu a, b;
	struct dom_reader r = { .a = &a };
	pthread_t t;

	if (gpc_srcu_init(&a, NULL) || gpc_srcu_init(&b, NULL)) {
		fail("gpc_srcu_init", -ENOMEM);
		return;
	}
	dom_batch(&b, idle, n);
	if (pthread_create(&t, NULL, dom_reader_main, &r)) {
		fail("domain reader", -EAGAIN);
	} else {
		spin_ns(1000000);
		dom_batch(&b, busy, n);
		atomic_store(&r.stop, 1);
		pthread_join(t, NULL);
	}
	gpc_srcu_destroy(&a);
	gpc_srcu_destroy(&b);
}

void suite_kick(void)
{
	int n = (int)nq(1000, 60);
	struct samples k, di, db;
	struct pct p, pi, pb;

	if (samples_init(&k, (size_t)n) || samples_init(&di, (size_t)n) ||
	    samples_init(&db, (size_t)n)) {
		fail("samples", -ENOMEM);
		return;
	}
	kick_measure(&k, n);
	dom_measure(&di, &db, n);
	p = pct_of(&k);
	pi = pct_of(&di);
	pb = pct_of(&db);
	printf("\nguest-usage cache: blocking invalidation with its (simulated) "
	       "vCPU in guest mode = kick + wait until outside, us\n");
	printf("%-28s %6zu %9.1f %9.1f %9.1f\n", "kick and wait", p.n,
	       p.p50 / 1e3, p.p99 / 1e3, p.max / 1e3);
	printf("grace period of domain B, us: A idle / a reader of A in "
	       "back-to-back 20 us sections\n");
	printf("%-28s %6zu %9.1f %9.1f %9.1f\n", "B, A idle", pi.n,
	       pi.p50 / 1e3, pi.p99 / 1e3, pi.max / 1e3);
	printf("%-28s %6zu %9.1f %9.1f %9.1f\n", "B, A busy", pb.n,
	       pb.p50 / 1e3, pb.p99 / 1e3, pb.max / 1e3);
	printf("\n");
	ratio("srcu_other_domain_busy_vs_idle",
	      pi.p50 > 0 ? pb.p50 / pi.p50 : 0);
	samples_free(&k);
	samples_free(&di);
	samples_free(&db);
}
