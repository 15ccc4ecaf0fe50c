/* SPDX-License-Identifier: MIT */
/*
 * bench/suite_storm.c - bench_cache suite 3, refresh under invalidation storms (see bench_cache.c for
 * the conventions all suites follow).
 */
#include "suite.h"

/* ===================================================================== */
/* Suite 3: refresh under invalidation storms                               */
/* ===================================================================== */

enum storm { STORM_IDLE, STORM_UNRELATED, STORM_OVERLAP, NR_STORM };
enum refresher { RF_GPC, RF_KVM, NR_RF };

static const char *const storm_name[NR_STORM] = {
	[STORM_IDLE] = "idle",
	[STORM_UNRELATED] = "unrelated_storm",
	[STORM_OVERLAP] = "overlap_storm",
};

static const char *const rf_name[NR_RF] = {
	[RF_GPC] = "gpc_cache_refresh",
	[RF_KVM] = "kvm_policy",
};

#define STORM_PAGES    64      /* cache on page 0, storm on 8..63 */
#define STORM_DWELL_NS 2000    /* range_start .. range_end: the change */
#define STORM_BURST_NS 1000000 /* overlapping storm: 1 ms of invalidations */
#define STORM_PAUSE_NS 200000  /* ... then 200 us of quiet */
#define RF_BATCH       20

struct storm_state {
	struct env env;
	struct gpc_cache *c;
	/* KVM's vm-wide "invalidation in progress" count (the storm keeps it
	 * around its range_start .. range_end, as KVM's notifier does). */
	_Atomic int in_progress;
	_Atomic uint64_t storm_count;
	enum storm mode;
	uint64_t giveup_ns;
	struct samples lat[NR_STORM][NR_RF];
	uint64_t tries[NR_STORM][NR_RF], gaveup[NR_STORM][NR_RF];
	uint64_t attempts[NR_STORM][NR_RF]; /* kvm: loops; gpc: retries */
	uint64_t storms[NR_STORM], storm_ns[NR_STORM];
};

/*
 * The storm's next range: a page of its own, or one of two ranges that both
 * cover the cache's page (and differ from the one-page range the main thread
 * invalidates: concurrent range_end calls of one identical range are kept
 * out of this benchmark).
 */
static void storm_pick(struct storm_state *s, uint64_t n, uint64_t *start,
		       uint64_t *end)
{
	if (s->mode == STORM_OVERLAP) {
		*start = env_hva(&s->env, 0);
		*end = *start + (n % 2 ? 3 : 2) * page_size;
	} else {
		*start = env_hva(&s->env,
				 (8 + n % (STORM_PAGES - 8)) * page_size);
		*end = *start + page_size;
	}
}

/*
 * The storm keeps one invalidation in progress at every instant of a burst:
 * it starts the next one before it ends the previous, each held for
 * STORM_DWELL_NS (the host changing the mapping). KVM's in-progress count is
 * kept around every range_start .. range_end, as its notifier does.
 */
static void storm_thread(struct worker *w, void *arg)
{
	struct storm_state *s = arg;
	struct gpc_vm *vm = s->env.vm;
	uint64_t burst0 = now_ns(), n = 0, hs = 0, he = 0;
	bool holding = false;

	while (!worker_stopping(w)) {
		uint64_t start, end;
		int err;

		if (s->mode == STORM_OVERLAP &&
		    now_ns() - burst0 > STORM_BURST_NS) {
			if (holding) {
				gpc_invalidate_range_end(vm, hs, he);
				atomic_fetch_sub(&s->in_progress, 1);
				holding = false;
			}
			sleep_ns(STORM_PAUSE_NS);
			burst0 = now_ns();
		}
		storm_pick(s, n, &start, &end);
		atomic_fetch_add(&s->in_progress, 1);
		err = gpc_invalidate_range_start(vm, start, end, 0);
		if (err) {
			atomic_fetch_sub(&s->in_progress, 1);
			fail("storm range_start", err);
			break;
		}
		if (holding) {
			gpc_invalidate_range_end(vm, hs, he);
			atomic_fetch_sub(&s->in_progress, 1);
		}
		hs = start;
		he = end;
		holding = true;
		spin_ns(STORM_DWELL_NS);
		n++;
	}
	if (holding) {
		gpc_invalidate_range_end(vm, hs, he);
		atomic_fetch_sub(&s->in_progress, 1);
	}
	atomic_fetch_add(&s->storm_count, n);
}

/*
 * KVM's policy (virt/kvm/pfncache.c hva_to_pfn_retry() with
 * mmu_notifier_retry_cache()): snapshot the vm-wide invalidation sequence,
 * do the work (translate the page: the hva_to_pfn() of each attempt, here
 * the stage's translate), and start over if any invalidation is in progress
 * anywhere in the vm or the sequence moved. Once that check passes the
 * translation is published with gpc_cache_refresh(). Gives up after
 * s->giveup_ns: that is the livelock.
 */
static int kvm_policy_refresh(struct storm_state *s, uint64_t *loops)
{
	struct gpc_vm *vm = s->env.vm;
	uint64_t t0 = now_ns(), hva = env_hva(&s->env, 0), pfn;
	int err;

	for (*loops = 1;; (*loops)++) {
		uint64_t seq = gpc_invalidate_sequence(vm);

		err = gpc_hostmem_direct_ops.translate(s->env.hm, hva,
						       page_size, true, &pfn);
		if (err)
			return err;
		if (!atomic_load(&s->in_progress) &&
		    gpc_invalidate_sequence(vm) == seq)
			return gpc_cache_refresh(s->c, 0);
		if (now_ns() - t0 > s->giveup_ns)
			return -ETIMEDOUT;
	}
}

/*
 * Make the cache miss, untimed: a refresh of a valid cache returns at once
 * (as KVM's does), and a refresh is what follows a miss.
 */
static int storm_invalidate_cache(struct storm_state *s)
{
	uint64_t hva = env_hva(&s->env, 0);
	int err =
		gpc_invalidate_range_start(s->env.vm, hva, hva + page_size, 0);

	if (!err)
		err = gpc_invalidate_range_end(s->env.vm, hva, hva + page_size);
	return err;
}

static void refresh_batch(struct storm_state *s, enum storm m,
			  enum refresher rf, int count)
{
	struct gpc_vm_stats st0, st1;

	gpc_vm_get_stats(s->env.vm, &st0);
	for (int i = 0; i < count; i++) {
		uint64_t t0, t1, loops = 1;
		int err;

		/* Sample every phase of the overlapping storm's cycle. */
		if (m == STORM_OVERLAP)
			spin_ns(rnd() % (STORM_BURST_NS + STORM_PAUSE_NS));
		err = storm_invalidate_cache(s);
		if (err) {
			fail("range_start", err);
			return;
		}
		t0 = now_ns();
		if (rf == RF_GPC)
			err = gpc_cache_refresh(s->c, 0);
		else
			err = kvm_policy_refresh(s, &loops);
		t1 = now_ns();
		s->tries[m][rf]++;
		if (rf == RF_KVM)
			s->attempts[m][rf] += loops;
		if (err == -ETIMEDOUT) {
			s->gaveup[m][rf]++;
		} else if (err) {
			fail("refresh", err);
			return;
		} else {
			samples_add(&s->lat[m][rf], t1 - t0);
		}
	}
	gpc_vm_get_stats(s->env.vm, &st1);
	if (rf == RF_GPC)
		s->attempts[m][rf] += st1.refresh_retries - st0.refresh_retries;
}

static void storm_report(struct storm_state *s)
{
	FILE *f, *fc;

	printf("\nrefresh latency after a miss, under invalidation storms, us\n"
	       "(storm: one invalidation always in progress, each held %u us; "
	       "unrelated: other pages;\n overlapping: the cache's page, "
	       "%u ms bursts with %u us pauses; kvm_policy gives up after "
	       "%.0f ms)\n",
	       STORM_DWELL_NS / 1000, STORM_BURST_NS / 1000000,
	       STORM_PAUSE_NS / 1000, (double)s->giveup_ns / 1e6);
	printf("%-16s %-18s %6s %8s %9s %9s %9s %11s %12s\n", "case",
	       "refresher", "n", "done%", "p50", "p99", "max", "retries/op",
	       "storm inv/s");
	f = csv_open("refresh_summary.csv",
		     "case,refresher,n,done_pct,p50_ns,p99_ns,max_ns,"
		     "retries_per_op,storm_per_s");
	fc = csv_open("refresh_cdf.csv", "case,fraction,ns");
	for (int m = 0; m < NR_STORM; m++)
		for (int rf = 0; rf < NR_RF; rf++) {
			struct pct p = pct_of(&s->lat[m][rf]);
			uint64_t tries = s->tries[m][rf];
			double done =
				tries ? 100.0 *
						(double)(tries -
							 s->gaveup[m][rf]) /
						(double)tries :
					0;
			double rpo = tries ? (double)s->attempts[m][rf] /
						     (double)tries :
					     0;
			double rate = s->storm_ns[m] ?
					      (double)s->storms[m] * 1e9 /
						      (double)s->storm_ns[m] :
					      0;
			char name[64];

			if (rf == RF_KVM)
				rpo = rpo > 0 ? rpo - 1 : 0;
			printf("%-16s %-18s %6llu %7.1f%% %9.1f %9.1f %9.1f "
			       "%11.2f %12.0f\n",
			       storm_name[m], rf_name[rf],
			       (unsigned long long)tries, done, p.p50 / 1e3,
			       p.p99 / 1e3, p.max / 1e3, rpo, rate);
			if (f)
				fprintf(f,
					"%s,%s,%llu,%.2f,%.0f,%.0f,%.0f,"
					"%.3f,%.0f\n",
					storm_name[m], rf_name[rf],
					(unsigned long long)tries, done, p.p50,
					p.p99, p.max, rpo, rate);
			snprintf(name, sizeof(name), "%s/%s", rf_name[rf],
				 storm_name[m]);
			csv_cdf_of(fc, name, &s->lat[m][rf], tries);
		}
	csv_close(f);
	csv_close(fc);

	{
		double idle = pct_of(&s->lat[STORM_IDLE][RF_GPC]).p99;
		double un = pct_of(&s->lat[STORM_UNRELATED][RF_GPC]).p99;
		double v = idle > 0 ? un / idle : 0;
		uint64_t kt = s->tries[STORM_UNRELATED][RF_KVM];
		double kdone =
			kt ? (double)(kt - s->gaveup[STORM_UNRELATED][RF_KVM]) /
					(double)kt :
			     0;

		printf("\n");
		ratio("refresh_unrelated_storm_p99_vs_idle_p99", v);
		ratio("refresh_kvm_policy_unrelated_storm_done_fraction",
		      kdone);
		target("refresh_unrelated_storm_p99_vs_idle_p99", v, true, 5);
	}
}

void suite_storm(void)
{
	static struct storm_state s;
	int n[NR_RF] = { (int)nq(1000, 60), (int)nq(100, 10) };
	int err;

	memset(&s, 0, sizeof(s));
	s.giveup_ns = opt.quick ? 5000000 : 20000000;
	err = env_create(&s.env, GPC_SCHEME_SRCU, STORM_PAGES, "storm");
	if (!err) {
		s.c = cache_new(&s.env, 0, page_size);
		if (!s.c)
			err = -ENOMEM;
	}
	for (int m = 0; !err && m < NR_STORM; m++)
		for (int rf = 0; rf < NR_RF; rf++)
			if (samples_init(&s.lat[m][rf], (size_t)n[rf]))
				err = -ENOMEM;
	if (err) {
		fail("suite 3 setup", err);
		goto out;
	}
	/*
	 * Rounds: each (storm, refresher) case gets a batch in turn, the
	 * storm (on the second CPU) running only during its own batches.
	 */
	for (int round = 0; !failed; round++) {
		bool more = false;

		for (int i = 0; i < NR_STORM * NR_RF; i++) {
			int j = (i + round) % (NR_STORM * NR_RF);
			enum storm m = j / NR_RF;
			enum refresher rf = j % NR_RF;
			int per = rf == RF_GPC ? RF_BATCH : 2;
			int left = n[rf] - (int)s.tries[m][rf];
			uint64_t gen = 0, t0, c0;

			if (left <= 0)
				continue;
			more = true;
			s.mode = m;
			c0 = atomic_load(&s.storm_count);
			t0 = now_ns();
			if (m != STORM_IDLE)
				gen = worker_post(&workers[1], storm_thread,
						  &s);
			refresh_batch(&s, m, rf, left < per ? left : per);
			if (gen)
				worker_stop(&workers[1], gen);
			s.storm_ns[m] += now_ns() - t0;
			s.storms[m] += atomic_load(&s.storm_count) - c0;
		}
		if (!more)
			break;
	}
	storm_report(&s);
out:
	cache_free(s.c);
	env_destroy(&s.env);
	for (int m = 0; m < NR_STORM; m++)
		for (int rf = 0; rf < NR_RF; rf++)
			samples_free(&s.lat[m][rf]);
}
