/* SPDX-License-Identifier: MIT */
/*
 * bench/suite_rt.c - bench_cache suite 5, real time (see bench_cache.c for
 * the conventions all suites follow).
 */
#include "suite.h"

/* ===================================================================== */
/* Suite 5: real time                                                       */
/* ===================================================================== */

/*
 * A writer (SCHED_OTHER) on the second CPU refreshes and invalidates one
 * cache in a loop. Then either
 *  - fifo: a SCHED_FIFO reader pinned to the same CPU wakes every period,
 *    preempting the writer wherever it is (sometimes inside a write
 *    section), and times begin + store + end; or
 *  - signal: a sender on the other CPU signals the writer thread every
 *    period and the handler times try_begin + store + end (and the delay
 *    since the signal was sent: the library blocks signals inside its
 *    write sections).
 * Only the srcu scheme's reader never waits for the writer; the rwlock
 * scheme's begin sleeps on the lock the preempted writer holds.
 */
enum rt_case {
	RT_FIFO_SRCU,
	RT_FIFO_RWLOCK,
	RT_FIFO_RWLOCK_TRY,
	RT_SIG_SRCU,
	RT_SIG_RWLOCK,
	NR_RT
};

static const char *const rt_name[NR_RT] = {
	[RT_FIFO_SRCU] = "fifo/srcu",
	[RT_FIFO_RWLOCK] = "fifo/rwlock",
	[RT_FIFO_RWLOCK_TRY] = "fifo/rwlock_try",
	[RT_SIG_SRCU] = "signal/srcu",
	[RT_SIG_RWLOCK] = "signal/rwlock_try",
};

#define RT_PERIOD_NS 200000 /* a read every 200 us: short FIFO bursts */
#define RT_BATCH     500

struct rt_state {
	struct env env[2]; /* srcu, rwlock */
	struct gpc_cache *c[2];
	bool fifo_ok;
	const char *fifo_why;
	struct samples lat[NR_RT], total[NR_RT];
	uint64_t hits[NR_RT], reads[NR_RT];
	uint64_t writer_loops[NR_RT];
	/* The batch running. */
	enum rt_case cur;
	_Atomic bool writer_stop;
	pthread_t writer_th;
	_Atomic uint64_t sent_ns, handled;
};

static struct rt_state *rt_sig; /* for the handler */

static int rt_scheme(enum rt_case k)
{
	return k == RT_FIFO_SRCU || k == RT_SIG_SRCU ? 0 : 1;
}

static void *rt_writer(void *arg)
{
	struct rt_state *s = arg;
	int k = rt_scheme(s->cur);
	struct env *e = &s->env[k];
	uint64_t hva = env_hva(e, 0), n = 0;

	pin_to(cpu_of[1]);
	/* Claim the thread's slot now: a handler's first read must not. */
	gpc_srcu_register_thread(gpc_vm_srcu(e->vm));
	while (!atomic_load_explicit(&s->writer_stop, memory_order_relaxed)) {
		if (gpc_cache_refresh(s->c[k], 0))
			break;
		if (gpc_invalidate_range_start(e->vm, hva, hva + page_size, 0))
			break;
		gpc_invalidate_range_end(e->vm, hva, hva + page_size);
		n++;
	}
	s->writer_loops[s->cur] += n;
	return NULL;
}

static void rt_read(struct rt_state *s, enum rt_case k, bool try_only,
		    uint64_t *lat, bool *hit)
{
	struct gpc_cache *c = s->c[rt_scheme(k)];
	struct gpc_guard g;
	uint64_t t0 = now_ns();
	uint8_t *p = try_only ? gpc_cache_try_begin(c, 0, 8, &g) :
				gpc_cache_begin(c, 0, 8, &g);

	if (p) {
		store(p, t0);
		gpc_cache_end(c, &g);
	}
	*lat = now_ns() - t0;
	*hit = p != NULL;
}

static void *rt_fifo_reader(void *arg)
{
	struct rt_state *s = arg;
	enum rt_case k = s->cur;
	struct sched_param sp = { .sched_priority = 50 };
	struct timespec next;
	int err;

	pin_to(cpu_of[1]);
	err = pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp);
	if (err) {
		s->fifo_ok = false;
		s->fifo_why = strerror(err);
		return NULL;
	}
	/* Claim the slot outside the timed reads. */
	gpc_srcu_register_thread(gpc_vm_srcu(s->env[rt_scheme(k)].vm));
	clock_gettime(CLOCK_MONOTONIC, &next);
	for (int i = 0; i < RT_BATCH; i++) {
		uint64_t lat;
		bool hit;

		next.tv_nsec += RT_PERIOD_NS;
		if (next.tv_nsec >= 1000000000L) {
			next.tv_nsec -= 1000000000L;
			next.tv_sec++;
		}
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next,
				       NULL) == EINTR)
			;
		rt_read(s, k, k == RT_FIFO_RWLOCK_TRY, &lat, &hit);
		samples_add(&s->lat[k], lat);
		s->hits[k] += hit;
		s->reads[k]++;
	}
	return NULL;
}

/* Async-signal-safe: clock_gettime, the fast path, stores to our arrays. */
static void rt_handler(int sig)
{
	struct rt_state *s = rt_sig;
	enum rt_case k = s->cur;
	uint64_t lat, sent = atomic_load(&s->sent_ns);
	bool hit;
	int saved = errno;

	(void)sig;
	rt_read(s, k, true, &lat, &hit);
	samples_add(&s->lat[k], lat);
	samples_add(&s->total[k], now_ns() - sent);
	s->hits[k] += hit;
	s->reads[k]++;
	atomic_fetch_add(&s->handled, 1);
	errno = saved;
}

/* Signal the writer thread RT_BATCH times, one at a time. */
static void rt_signal_batch(struct rt_state *s)
{
	uint64_t t = now_ns();

	for (int i = 0; i < RT_BATCH; i++) {
		uint64_t h = atomic_load(&s->handled), t0;

		t += RT_PERIOD_NS;
		/*
		 * Sleep until 50 us before @t, then spin. "Now" is read once
		 * per step: two reads could straddle t - 50 us and wrap the
		 * unsigned difference into a sleep of centuries.
		 */
		for (uint64_t now = now_ns(); now < t; now = now_ns()) {
			if (t - now > 50000)
				sleep_ns(t - now - 50000);
			else
				gpc_cpu_relax();
		}
		atomic_store(&s->sent_ns, now_ns());
		pthread_kill(s->writer_th, SIGUSR1);
		t0 = now_ns();
		while (atomic_load(&s->handled) == h) {
			if (now_ns() - t0 > 1000000000ULL) {
				fprintf(stderr, "suite 5: signal lost\n");
				failed = true;
				return;
			}
			sched_yield();
		}
	}
}

static void rt_batch(struct rt_state *s, enum rt_case k)
{
	pthread_t reader;
	int err;

	s->cur = k;
	atomic_store(&s->writer_stop, false);
	err = pthread_create(&s->writer_th, NULL, rt_writer, s);
	if (err) {
		fail("pthread_create", err);
		return;
	}
	if (k <= RT_FIFO_RWLOCK_TRY) {
		err = pthread_create(&reader, NULL, rt_fifo_reader, s);
		if (!err)
			pthread_join(reader, NULL);
		else
			fail("pthread_create", err);
	} else {
		rt_signal_batch(s);
	}
	atomic_store(&s->writer_stop, true);
	pthread_join(s->writer_th, NULL);
}

static void rt_report(struct rt_state *s)
{
	struct pct p[NR_RT];
	FILE *f, *fc;

	printf("\nreal-time readers, us: begin (signal: try_begin) + store "
	       "+ end, while a writer refreshes and invalidates the cache\n"
	       "fifo: SCHED_FIFO reader on the writer's CPU every %u us; "
	       "signal: handler on the writer's thread, 'sent' = since "
	       "pthread_kill\n",
	       RT_PERIOD_NS / 1000);
	printf("%-18s %7s %7s %9s %9s %9s %11s %11s\n", "case", "n", "hit%",
	       "p50", "p99", "max", "sent p99", "sent max");
	f = csv_open("rt_summary.csv",
		     "case,n,hit_pct,p50_ns,p99_ns,max_ns,sent_p99_ns,"
		     "sent_max_ns");
	fc = csv_open("rt_cdf.csv", "case,fraction,ns");
	for (int k = 0; k < NR_RT; k++) {
		struct pct t = pct_of(&s->total[k]);
		char sent[32];
		double hit = s->reads[k] ? 100.0 * (double)s->hits[k] /
						   (double)s->reads[k] :
					   0;

		p[k] = pct_of(&s->lat[k]);
		if (k <= RT_FIFO_RWLOCK_TRY && !s->fifo_ok) {
			printf("%-18s skipped: SCHED_FIFO not permitted (%s)\n",
			       rt_name[k], s->fifo_why);
			continue;
		}
		if (t.n)
			snprintf(sent, sizeof(sent), "%11.1f %11.1f",
				 t.p99 / 1e3, t.max / 1e3);
		else
			snprintf(sent, sizeof(sent), "%11s %11s", "-", "-");
		printf("%-18s %7zu %6.1f%% %9.2f %9.2f %9.1f %s", rt_name[k],
		       p[k].n, hit, p[k].p50 / 1e3, p[k].p99 / 1e3,
		       p[k].max / 1e3, sent);
		printf("\n");
		if (f)
			fprintf(f, "%s,%zu,%.2f,%.0f,%.0f,%.0f,%.0f,%.0f\n",
				rt_name[k], p[k].n, hit, p[k].p50, p[k].p99,
				p[k].max, t.p99, t.max);
		csv_cdf(fc, rt_name[k], &s->lat[k]);
	}
	csv_close(f);
	csv_close(fc);

	printf("\n");
	if (s->fifo_ok) {
		ratio("rt_fifo_rwlock_max_vs_srcu_max",
		      p[RT_FIFO_RWLOCK].max / p[RT_FIFO_SRCU].max);
		ratio("rt_fifo_rwlock_p99_vs_srcu_p99",
		      p[RT_FIFO_RWLOCK].p99 / p[RT_FIFO_SRCU].p99);
	} else {
		ratio_skipped("rt_fifo_rwlock_max_vs_srcu_max",
			      "no SCHED_FIFO");
		ratio_skipped("rt_fifo_rwlock_p99_vs_srcu_p99",
			      "no SCHED_FIFO");
	}
	ratio("rt_signal_rwlock_max_vs_srcu_max",
	      p[RT_SIG_RWLOCK].max / p[RT_SIG_SRCU].max);
	/*
	 * "Bounded": the srcu reader runs a fixed, short instruction path and
	 * never waits for the writer, so its worst case is the machine's
	 * (interrupts, the hypervisor), not the writer's. 50 us is far above
	 * the path and below a scheduler round trip through a writer.
	 */
	if (s->fifo_ok)
		target("rt_fifo_srcu_max_us", p[RT_FIFO_SRCU].max / 1e3, true,
		       50);
	target("rt_signal_srcu_max_us", p[RT_SIG_SRCU].max / 1e3, true, 50);
}

void suite_rt(void)
{
	static struct rt_state s;
	int n = (int)nq(10000, 1000), err = 0;
	struct sigaction sa = { 0 }, old;

	memset(&s, 0, sizeof(s));
	s.fifo_ok = true;
	for (int k = 0; !err && k < 2; k++) {
		err = env_create(&s.env[k],
				 k ? GPC_SCHEME_RWLOCK : GPC_SCHEME_SRCU, 1,
				 k ? "rt-rwlock" : "rt-srcu");
		if (!err && !(s.c[k] = cache_new(&s.env[k], 0, page_size)))
			err = -ENOMEM;
	}
	for (int k = 0; !err && k < NR_RT; k++)
		if (samples_init(&s.lat[k], (size_t)n + RT_BATCH) ||
		    samples_init(&s.total[k], (size_t)n + RT_BATCH))
			err = -ENOMEM;
	if (err) {
		fail("suite 5 setup", err);
		goto out;
	}
	rt_sig = &s;
	sa.sa_handler = rt_handler;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, &old);
	for (int done = 0, b = 0; done < n && !failed; done += RT_BATCH, b++)
		for (int i = 0; i < NR_RT; i++) {
			enum rt_case k = (i + b) % NR_RT;

			if (k <= RT_FIFO_RWLOCK_TRY && !s.fifo_ok)
				continue;
			rt_batch(&s, k);
		}
	sigaction(SIGUSR1, &old, NULL);
	rt_report(&s);
out:
	for (int k = 0; k < 2; k++) {
		cache_free(s.c[k]);
		env_destroy(&s.env[k]);
	}
	for (int k = 0; k < NR_RT; k++) {
		samples_free(&s.lat[k]);
		samples_free(&s.total[k]);
	}
}
