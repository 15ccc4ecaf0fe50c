/* SPDX-License-Identifier: MIT */
/*
 * bench/suite_inval.c - bench_cache suite 2, invalidation latency (see bench_cache.c for
 * the conventions all suites follow).
 */
#include "suite.h"

/* ===================================================================== */
/* Busy readers (suites 2 and 3)                                            */
/* ===================================================================== */

enum busy_kind { BUSY_CACHE, BUSY_URCU, BUSY_LONG_SRCU, BUSY_LONG_URCU };

struct busy_arg {
	enum busy_kind kind;
	struct gpc_cache *c;
	struct urcu_cache *uc;
	struct fp_reader rd; /* misses are expected here: no check */
	uint64_t sections, cpu_ns, wall_ns; /* what the reader got done */
};

/* Back-to-back short read sections until told to stop. */
static void busy_reader(struct worker *w, void *arg)
{
	struct busy_arg *b = arg;

	uint64_t c0 = clock_ns(CLOCK_THREAD_CPUTIME_ID), t0 = now_ns();

	b->rd.off = (uint64_t)w->idx * GPC_CACHELINE;
	b->rd.sc = b->rd.rc = b->c;
	b->rd.uc = b->uc;
	while (!worker_stopping(w)) {
		switch (b->kind) {
		case BUSY_URCU:
			fp_loop_urcu(&b->rd, 64);
			b->sections += 64;
			break;
		case BUSY_CACHE:
			fp_loop_srcu(&b->rd, 64);
			b->sections += 64;
			break;
		case BUSY_LONG_SRCU:
			long_srcu_section(b->c->srcu);
			b->sections++;
			break;
		case BUSY_LONG_URCU:
			urcu_memb_read_lock();
			spin_ns(LONG_SECTION_NS);
			urcu_memb_read_unlock();
			b->sections++;
			break;
		}
	}
	b->cpu_ns = clock_ns(CLOCK_THREAD_CPUTIME_ID) - c0;
	b->wall_ns = now_ns() - t0;
}

struct busy_set {
	struct busy_arg arg[3];
	uint64_t gen[3];
	int n;
};

static void busy_start(struct busy_set *bs, int n, enum busy_kind kind,
		       struct gpc_cache *c, struct urcu_cache *uc)
{
	bs->n = n;
	for (int i = 1; i <= n; i++) {
		bs->arg[i] =
			(struct busy_arg){ .kind = kind, .c = c, .uc = uc };
		bs->gen[i] = worker_post(&workers[i], busy_reader, &bs->arg[i]);
	}
}

/* What the busy readers of a case got done, summed over its batches. */
struct busy_tally {
	uint64_t sections, cpu_ns, wall_ns;
};

static void busy_stop(struct busy_set *bs, struct busy_tally *t)
{
	for (int i = 1; i <= bs->n; i++)
		atomic_store_explicit(&workers[i].stop, true,
				      memory_order_relaxed);
	for (int i = 1; i <= bs->n; i++) {
		worker_stop(&workers[i], bs->gen[i]);
		if (t) {
			t->sections += bs->arg[i].sections;
			t->cpu_ns += bs->arg[i].cpu_ns;
			t->wall_ns += bs->arg[i].wall_ns;
		}
	}
	bs->n = 0;
}

/* ===================================================================== */
/* Suite 2: invalidation latency                                            */
/* ===================================================================== */

enum inv_kind { INV_SRCU, INV_RWLOCK, INV_URCU, NR_INV };
#define INV_READERS  3 /* 0, 1, 2 busy readers */
#define INV_BATCH    20
#define NB_GIVEUP_NS 20000000ULL /* a non-blocking retry loop gives up */

static const char *const inv_name[NR_INV] = {
	[INV_SRCU] = "srcu",
	[INV_RWLOCK] = "rwlock",
	[INV_URCU] = "urcu_memb_sync",
};

struct inv_state {
	struct env env[2]; /* srcu, rwlock */
	struct gpc_cache *victim[2];
	struct urcu_cache uc;
	/* blocking */
	struct samples blk[NR_INV][INV_READERS];
	/* non-blocking (srcu, rwlock only) */
	struct samples nb_first[2][INV_READERS]; /* first attempt latency */
	struct samples nb_done[2][INV_READERS];	 /* time until success */
	uint64_t nb_tries[2][INV_READERS], nb_ok1[2][INV_READERS];
	uint64_t nb_attempts[2][INV_READERS], nb_gaveup[2][INV_READERS];
	struct busy_tally busy[NR_INV][INV_READERS];
	/* memslot delete on the srcu vm, and its domain's counters meanwhile */
	struct samples msd[2][INV_READERS]; /* [0] short, [1] long sections */
	uint64_t msd_mb[2][INV_READERS], msd_gp[2][INV_READERS];
	uint64_t msd_sleeps[2][INV_READERS], msd_wakes[2][INV_READERS];
	struct samples ulong[INV_READERS]; /* urcu sync, long sections */
};

#define MSD_ID	1
#define MSD_GPA (GPA_BASE + (1ULL << 30)) /* far from the readers' slot */

static int inv_refresh(struct gpc_cache *c)
{
	int err = gpc_cache_refresh(c, 0);

	if (err)
		fail("gpc_cache_refresh", err);
	return err;
}

/* @count blocking invalidations of the victim's page (or grace periods). */
static void inv_blocking_batch(struct inv_state *s, enum inv_kind k, int nr,
			       int count)
{
	for (int i = 0; i < count; i++) {
		uint64_t t0, t1;

		if (k == INV_URCU) {
			t0 = now_ns();
			urcu_memb_synchronize_rcu();
			t1 = now_ns();
		} else {
			struct env *e = &s->env[k];
			uint64_t hva = env_hva(e, 0);
			int err;

			if (inv_refresh(s->victim[k]))
				return;
			t0 = now_ns();
			err = gpc_invalidate_range_start(e->vm, hva,
							 hva + page_size, 0);
			t1 = now_ns();
			if (err) {
				fail("gpc_invalidate_range_start", err);
				return;
			}
			gpc_invalidate_range_end(e->vm, hva, hva + page_size);
		}
		samples_add(&s->blk[k][nr], t1 - t0);
	}
}

/*
 * A memslot change under the same readers: create a one-page slot far from
 * the readers' (untimed), then time its delete, which publishes a new table
 * and waits one grace period of the vm's domain; the domain's counters over
 * the deletes say what each grace period cost in system calls.
 */
static void inv_memslot_batch(struct inv_state *s, int l, int nr, int count)
{
	struct env *e = &s->env[INV_SRCU];
	struct gpc_srcu *d = gpc_vm_srcu(e->vm);

	for (int i = 0; i < count; i++) {
		struct gpc_srcu_stats a, b;
		uint64_t t0, t1;
		int err = gpc_memslot_create(e->vm, MSD_ID, MSD_GPA, page_size,
					     env_hva(e, page_size), 0);

		if (err) {
			fail("gpc_memslot_create", err);
			return;
		}
		gpc_srcu_get_stats(d, &a);
		t0 = now_ns();
		err = gpc_memslot_delete(e->vm, MSD_ID);
		t1 = now_ns();
		gpc_srcu_get_stats(d, &b);
		if (err) {
			fail("gpc_memslot_delete", err);
			return;
		}
		samples_add(&s->msd[l][nr], t1 - t0);
		s->msd_mb[l][nr] += b.membarriers - a.membarriers;
		s->msd_gp[l][nr] += b.gp_completed - a.gp_completed;
		s->msd_sleeps[l][nr] += b.sleeps - a.sleeps;
		s->msd_wakes[l][nr] += b.reader_wakes - a.reader_wakes;
	}
}

/* The memslot delete and urcu's grace period under long read sections. */
static void inv_long_batch(struct inv_state *s, enum inv_kind k, int nr,
			   int count)
{
	struct busy_set bs = { 0 };

	if (k == INV_URCU) {
		busy_start(&bs, nr, BUSY_LONG_URCU, NULL, &s->uc);
		for (int i = 0; i < count; i++) {
			uint64_t t0 = now_ns();

			urcu_memb_synchronize_rcu();
			samples_add(&s->ulong[nr], now_ns() - t0);
		}
	} else {
		busy_start(&bs, nr, BUSY_LONG_SRCU, s->victim[INV_SRCU], NULL);
		inv_memslot_batch(s, 1, nr, count);
	}
	busy_stop(&bs, NULL);
}

/*
 * Non-blocking: refresh the victim (so that the invalidation has a valid
 * cache to clear), try once and time it; then keep trying, 1 us apart,
 * until it succeeds, and time that too.
 */
static void inv_nonblock_batch(struct inv_state *s, enum inv_kind k, int nr,
			       int count)
{
	struct env *e = &s->env[k];
	uint64_t hva = env_hva(e, 0);

	for (int i = 0; i < count; i++) {
		uint64_t t0, ta, tb;
		int err, n = 0;

		if (inv_refresh(s->victim[k]))
			return;
		t0 = now_ns();
		for (;;) {
			ta = now_ns();
			err = gpc_invalidate_range_start(e->vm, hva,
							 hva + page_size,
							 GPC_INVAL_NONBLOCK);
			tb = now_ns();
			if (++n == 1) {
				samples_add(&s->nb_first[k][nr], tb - ta);
				s->nb_tries[k][nr]++;
				s->nb_ok1[k][nr] += !err;
			}
			if (err != -EAGAIN)
				break;
			if (tb - t0 > NB_GIVEUP_NS)
				break;
			spin_ns(1000);
		}
		s->nb_attempts[k][nr] += (uint64_t)n;
		if (!err) {
			gpc_invalidate_range_end(e->vm, hva, hva + page_size);
			samples_add(&s->nb_done[k][nr], tb - t0);
		} else if (err == -EAGAIN) {
			/* Giving up: withdraw the pending mark the last
			 * attempt left, or the readers' refreshes wait on it. */
			gpc_invalidate_range_cancel(e->vm, hva,
						    hva + page_size);
			s->nb_gaveup[k][nr]++;
		} else {
			fail("non-blocking range_start", err);
			return;
		}
	}
}

static int inv_setup(struct inv_state *s, int n)
{
	const char *names[2] = { "inval-srcu", "inval-rwlock" };
	int err;

	for (int k = 0; k < 2; k++) {
		err = env_create(&s->env[k],
				 k == INV_SRCU ? GPC_SCHEME_SRCU :
						 GPC_SCHEME_RWLOCK,
				 2, names[k]);
		if (err)
			return err;
		s->victim[k] = cache_new(&s->env[k], 0, page_size);
		if (!s->victim[k])
			return -ENOMEM;
	}
	s->uc.len = page_size;
	rcu_assign_pointer(s->uc.khva, s->env[0].ram + page_size);
	for (int k = 0; k < NR_INV; k++)
		for (int r = 0; r < INV_READERS; r++)
			if (samples_init(&s->blk[k][r], (size_t)n))
				return -ENOMEM;
	for (int r = 0; r < INV_READERS; r++)
		if (samples_init(&s->msd[0][r], (size_t)n) ||
		    samples_init(&s->msd[1][r], (size_t)n) ||
		    samples_init(&s->ulong[r], (size_t)n))
			return -ENOMEM;
	for (int k = 0; k < 2; k++)
		for (int r = 0; r < INV_READERS; r++)
			if (samples_init(&s->nb_first[k][r], (size_t)n) ||
			    samples_init(&s->nb_done[k][r], (size_t)n))
				return -ENOMEM;
	return 0;
}

static void inv_teardown(struct inv_state *s)
{
	for (int k = 0; k < 2; k++) {
		cache_free(s->victim[k]);
		env_destroy(&s->env[k]);
	}
	for (int k = 0; k < NR_INV; k++)
		for (int r = 0; r < INV_READERS; r++)
			samples_free(&s->blk[k][r]);
	for (int r = 0; r < INV_READERS; r++) {
		samples_free(&s->msd[0][r]);
		samples_free(&s->msd[1][r]);
		samples_free(&s->ulong[r]);
	}
	for (int k = 0; k < 2; k++)
		for (int r = 0; r < INV_READERS; r++) {
			samples_free(&s->nb_first[k][r]);
			samples_free(&s->nb_done[k][r]);
		}
}

/* The share of non-blocking invalidations that succeeded at once. */
static double nb_first_ok(const struct inv_state *s, int k, int r)
{
	uint64_t tries = s->nb_tries[k][r];

	return tries ? (double)s->nb_ok1[k][r] / (double)tries : 0;
}

static void inv_nonblock_ratios(const struct inv_state *s)
{
	double idle = nb_first_ok(s, INV_SRCU, 0);

	ratio("nonblock_first_ok_idle", idle);
	ratio("nonblock_first_ok_1reader", nb_first_ok(s, INV_SRCU, 1));
	ratio("nonblock_first_ok_idle_rwlock", nb_first_ok(s, INV_RWLOCK, 0));
	ratio("nonblock_first_ok_1reader_rwlock",
	      nb_first_ok(s, INV_RWLOCK, 1));
	target("nonblock_first_ok_idle", idle, false, 0.99);
}

/*
 * The memslot table and the grace period under oversubscription: 2 busy
 * readers, one on the updater's CPU (3 threads on 2 CPUs).
 */
static void inv_memslot_report(const struct inv_state *s)
{
	static const char *const what[2] = { "short (one access)",
					     "long (20 us)" };
	struct pct u, m;
	double v, mb;

	printf("\nmemslot delete on the srcu vm (one grace period) vs "
	       "urcu_memb_synchronize_rcu(), us; the same busy readers,\n"
	       "in short sections (as above) or long ones; reader 2 shares "
	       "the updater's CPU\n");
	printf("%-19s %7s %9s %9s %9s %11s %10s %9s %9s %9s\n", "sections",
	       "readers", "p50", "p99", "max", "membar/GP", "sleeps/GP",
	       "wakes/GP", "urcu p50", "urcu p99");
	for (int l = 0; l < 2; l++)
		for (int r = 0; r < INV_READERS; r++) {
			m = pct_of(&s->msd[l][r]);
			u = pct_of(l ? &s->ulong[r] : &s->blk[INV_URCU][r]);
			printf("%-19s %7d %9.1f %9.1f %9.1f %11.1f %10.1f "
			       "%9.1f %9.1f %9.1f\n",
			       what[l], r, m.p50 / 1e3, m.p99 / 1e3,
			       m.max / 1e3,
			       per_gp(s->msd_mb[l][r], s->msd_gp[l][r]),
			       per_gp(s->msd_sleeps[l][r], s->msd_gp[l][r]),
			       per_gp(s->msd_wakes[l][r], s->msd_gp[l][r]),
			       u.p50 / 1e3, u.p99 / 1e3);
		}
	/* The oversubscribed case of the issue: long sections, 2 readers. */
	m = pct_of(&s->msd[1][2]);
	u = pct_of(&s->ulong[2]);
	v = u.p50 > 0 ? m.p50 / u.p50 : 0;
	mb = per_gp(s->msd_mb[1][2], s->msd_gp[1][2]);
	printf("\n");
	ratio("memslot_delete_oversub_vs_urcu_sync_oversub", v);
	ratio("memslot_delete_oversub_p99_vs_urcu_sync_oversub_p99",
	      u.p99 > 0 ? m.p99 / u.p99 : 0);
	ratio("gp_membarriers_per_gp_oversub", mb);
	ratio("gp_sleeps_per_gp_oversub",
	      per_gp(s->msd_sleeps[1][2], s->msd_gp[1][2]));
	/* At most one wake per reader inside the drained phase: 2 here. */
	ratio("reader_wakes_per_gp",
	      per_gp(s->msd_wakes[1][2], s->msd_gp[1][2]));
	target("reader_wakes_per_gp",
	       per_gp(s->msd_wakes[1][2], s->msd_gp[1][2]), true, 2);
	ratio("gp_membarriers_per_gp_oversub_short",
	      per_gp(s->msd_mb[0][2], s->msd_gp[0][2]));
	target("memslot_delete_oversub_vs_urcu_sync_oversub", v, true, 1.0);
	target("gp_membarriers_per_gp_oversub", mb, true, 2);
}

static void inv_report(struct inv_state *s)
{
	struct pct p;
	FILE *f, *fc;

	printf("\nblocking invalidation of one cached page (range_start), "
	       "us; urcu_memb_sync = urcu_memb_synchronize_rcu()\n"
	       "busy readers: back-to-back begin/store/end on the cache "
	       "being invalidated (urcu: read sections); reader 2 shares "
	       "the invalidator's CPU;\n"
	       "reader Msec/s and CPU: read sections per us and share of "
	       "time on a CPU, per reader, while the case ran\n");
	printf("%-15s %7s %9s %9s %9s %9s %14s %10s\n", "scheme", "readers",
	       "n", "p50", "p99", "max", "reader Msec/s", "reader CPU");
	f = csv_open("inval_summary.csv",
		     "scheme,readers,n,p50_ns,p99_ns,max_ns");
	fc = csv_open("inval_cdf.csv", "case,fraction,ns");
	for (int k = 0; k < NR_INV; k++)
		for (int r = 0; r < INV_READERS; r++) {
			char name[64];

			const struct busy_tally *bt = &s->busy[k][r];
			double rate = bt->wall_ns ?
					      (double)bt->sections * 1e3 /
						      (double)bt->wall_ns :
					      0;
			double on = bt->wall_ns ? 100.0 * (double)bt->cpu_ns /
							  (double)bt->wall_ns :
						  0;

			p = pct_of(&s->blk[k][r]);
			printf("%-15s %7d %9zu %9.1f %9.1f %9.1f", inv_name[k],
			       r, p.n, p.p50 / 1e3, p.p99 / 1e3, p.max / 1e3);
			if (r)
				printf(" %14.1f %9.0f%%\n", rate / r, on / r);
			else
				printf(" %14s %10s\n", "-", "-");
			if (f)
				fprintf(f, "%s,%d,%zu,%.0f,%.0f,%.0f\n",
					inv_name[k], r, p.n, p.p50, p.p99,
					p.max);
			snprintf(name, sizeof(name), "%s_%dr", inv_name[k], r);
			csv_cdf(fc, name, &s->blk[k][r]);
		}
	csv_close(f);
	csv_close(fc);

	printf("\nnon-blocking invalidation (GPC_INVAL_NONBLOCK) of a valid "
	       "cached page: first attempt, then retries 1 us apart\n");
	printf("%-8s %7s %9s %9s %9s %10s %9s %9s %9s %8s\n", "scheme",
	       "readers", "1st ok%", "1st p50", "1st p99", "tries/inv",
	       "done p50", "done p99", "done max", "gave up");
	f = csv_open("inval_nonblock.csv",
		     "scheme,readers,first_ok_pct,first_p50_ns,first_p99_ns,"
		     "attempts_per_inval,done_p50_ns,done_p99_ns,done_max_ns,"
		     "gave_up");
	for (int k = 0; k < 2; k++)
		for (int r = 0; r < INV_READERS; r++) {
			struct pct a = pct_of(&s->nb_first[k][r]);
			struct pct d = pct_of(&s->nb_done[k][r]);
			uint64_t tries = s->nb_tries[k][r];
			double ok = tries ? 100.0 * (double)s->nb_ok1[k][r] /
						    (double)tries :
					    0;
			double per = tries ? (double)s->nb_attempts[k][r] /
						     (double)tries :
					     0;

			printf("%-8s %7d %8.1f%% %9.2f %9.2f %10.1f %9.1f "
			       "%9.1f %9.1f %8llu\n",
			       inv_name[k], r, ok, a.p50 / 1e3, a.p99 / 1e3,
			       per, d.p50 / 1e3, d.p99 / 1e3, d.max / 1e3,
			       (unsigned long long)s->nb_gaveup[k][r]);
			if (f)
				fprintf(f,
					"%s,%d,%.2f,%.0f,%.0f,%.2f,%.0f,%.0f,"
					"%.0f,%llu\n",
					inv_name[k], r, ok, a.p50, a.p99, per,
					d.p50, d.p99, d.max,
					(unsigned long long)s->nb_gaveup[k][r]);
		}
	csv_close(f);

	{
		double ours = pct_of(&s->blk[INV_SRCU][1]).p50;
		double urcu = pct_of(&s->blk[INV_URCU][1]).p50;
		double v = urcu > 0 ? ours / urcu : 0;

		printf("\n");
		ratio("inval_busy_vs_urcu_sync_busy", v);
		ratio("inval_idle_vs_urcu_sync_idle",
		      pct_of(&s->blk[INV_SRCU][0]).p50 /
			      pct_of(&s->blk[INV_URCU][0]).p50);
		target("inval_busy_vs_urcu_sync_busy", v, true, 1.0);
	}
	inv_nonblock_ratios(s);
	inv_memslot_report(s);
}

void suite_inval(void)
{
	static struct inv_state s;
	int n = (int)nq(1000, 60), err;
	struct busy_set bs = { 0 };

	memset(&s, 0, sizeof(s));
	err = inv_setup(&s, n);
	if (err) {
		fail("suite 2 setup", err);
		inv_teardown(&s);
		return;
	}
	/*
	 * Batches of INV_BATCH per case, all cases in turn (rotating), so that
	 * the machine's mood is shared by all of them.
	 */
	for (int done = 0, b = 0; done < n && !failed; done += INV_BATCH, b++) {
		int count = n - done < INV_BATCH ? n - done : INV_BATCH;

		for (int i = 0; i < NR_INV * INV_READERS; i++) {
			int j = (i + b) % (NR_INV * INV_READERS);
			enum inv_kind k = j / INV_READERS;
			int nr = j % INV_READERS;

			if (k == INV_URCU)
				busy_start(&bs, nr, BUSY_URCU, NULL, &s.uc);
			else
				busy_start(&bs, nr, BUSY_CACHE, s.victim[k],
					   NULL);
			inv_blocking_batch(&s, k, nr, count);
			if (k != INV_URCU)
				inv_nonblock_batch(&s, k, nr, count);
			if (k == INV_SRCU)
				inv_memslot_batch(&s, 0, nr, count);
			busy_stop(&bs, &s.busy[k][nr]);
			if (k != INV_RWLOCK)
				inv_long_batch(&s, k, nr, count);
		}
	}
	inv_report(&s);
	inv_teardown(&s);
	if (!failed)
		suite_nonblock();
	if (!failed)
		suite_kick();
	if (!failed)
		suite_domains();
}
