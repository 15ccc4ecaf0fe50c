// SPDX-License-Identifier: MIT
/*
 * tests/scenarios/test_realtime.c - readers in contexts that must not block, against
 * writers that cannot run (system.md section 4: "a signal-handler reader on
 * a thread that holds the write lock deadlocks; a real-time reader can wait
 * behind a preempted writer").
 *
 * (a) signal_reader_in_write_paths: the test thread keeps running write
 *     paths (refresh, blocking and non-blocking invalidation, deactivate and
 *     activate) of cache A while a helper bombards it with SIGUSR1 and two
 *     more helpers refresh and invalidate A. The handler reads A and a
 *     stable cache B (srcu: gpc_cache_begin; rwlock: gpc_cache_try_begin).
 *     Every handler call must return - a hit with the right bytes or a miss
 *     - and the library's write sections block signals, so a handler can
 *     never interrupt its own thread while it holds a write lock.
 *
 * (b) fifo_reader_vs_preempted_inval, fifo_reader_vs_preempted_write:
 *     a SCHED_OTHER writer pinned to one CPU spins inside a write phase (it
 *     stays runnable; it is "preempted", not asleep), and a SCHED_FIFO
 *     reader pinned to the same CPU reads 1000 times. The writer cannot run
 *     until the reader is done (real-time throttling aside), so a reader
 *     that waited for it would hang - caught by the watchdog. srcu:
 *     gpc_cache_begin returns at once each time; rwlock: gpc_cache_try_begin
 *     reports a miss instead of waiting (the blocking gpc_cache_begin does
 *     wait, shown from an ordinary thread: the limitation the srcu scheme
 *     removes). The maximum latency of a call is printed, not asserted.
 *     The write phase is
 *       - an invalidation parked at GPC_HOOK_INVAL_CLEARED (a spinning
 *         hook), and
 *       - the cache's write section itself (rwlock: the write lock held;
 *         srcu: the seqcount odd). The library's write sections run no hook
 *         (they are short and block signals), so the test plays that
 *         writer on the cache's own lock/seqcount.
 *     Without permission for SCHED_FIFO (EPERM) these tests are skipped.
 *
 * Every test runs on both schemes; a watchdog turns a hang into a failure.
 */
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <gpc/gpc.h>

#include "harness.h"
#include "test_common.h"

#define G0	   TVM_GPA_BASE
#define MAGIC_A	   0x4141414141414141ull
#define MAGIC_B	   0x4242424242424242ull
#define FIFO_READS 1000

struct fx {
	struct gpc_cache a, b; /* a: the one written; b: never touched */
	struct tvm t;
	uint64_t ps, ha; /* page size, hva of a's page */
};

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
	f->ps = (uint64_t)sysconf(_SC_PAGESIZE);
	f->ha = tvm_hva(&f->t, G0);
	/* The bytes the readers expect; nobody changes them afterwards. */
	memcpy(f->t.ram, &(uint64_t){ MAGIC_A }, 8);
	memcpy(f->t.ram + 2 * f->ps, &(uint64_t){ MAGIC_B }, 8);
	if (gpc_cache_init(&f->a, f->t.vm, GPC_USAGE_HOST, NULL, 0) ||
	    gpc_cache_init(&f->b, f->t.vm, GPC_USAGE_HOST, NULL, 0) ||
	    gpc_cache_activate_gpa(&f->a, G0, 8) ||
	    gpc_cache_activate_gpa(&f->b, G0 + 2 * f->ps, 8))
		return -1;
	test_log_capture();
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	int err = 0;

	gpc_cache_destroy(&f->a);
	gpc_cache_destroy(&f->b);
	/* Nothing here is worth a warning: bad input is an error code. */
	if (test_log_clean())
		err = -1;
	if (tvm_teardown(&f->t))
		err = -1;
	free(f);
	return err ? -1 : 0;
}

/* The non-blocking read each scheme offers an atomic context. */
static void *rt_begin(struct gpc_cache *c, struct gpc_guard *g)
{
	if (c->scheme == GPC_SCHEME_SRCU)
		return gpc_cache_begin(c, 0, 8, g);
	return gpc_cache_try_begin(c, 0, 8, g);
}

static uint64_t load8(const void *p)
{
	return __atomic_load_n((const uint64_t *)p, __ATOMIC_RELAXED);
}

/* ==== (a) a signal-handler reader on a thread inside write paths ========= */

static struct gpc_cache *sig_a, *sig_b;
static atomic_long h_runs, h_during, h_hits_a, h_hits_b, h_miss_a, h_miss_b,
	h_bad, h_returned;
static atomic_int in_write; /* the test thread is inside a write path */

static void read_one(struct gpc_cache *c, uint64_t magic, atomic_long *hits,
		     atomic_long *misses)
{
	struct gpc_guard g;
	uint8_t *p = rt_begin(c, &g);

	if (p) {
		if (load8(p) != magic)
			atomic_fetch_add(&h_bad, 1);
		gpc_cache_end(c, &g);
		atomic_fetch_add(hits, 1);
	} else {
		atomic_fetch_add(misses, 1);
	}
}

static void handler(int sig)
{
	int saved = errno;

	(void)sig;
	atomic_fetch_add(&h_runs, 1);
	if (atomic_load(&in_write))
		atomic_fetch_add(&h_during, 1);
	read_one(sig_a, MAGIC_A, &h_hits_a, &h_miss_a);
	read_one(sig_b, MAGIC_B, &h_hits_b, &h_miss_b);
	atomic_fetch_add(&h_returned, 1);
	errno = saved;
}

struct helpers {
	struct fx *f;
	pthread_t target;
	atomic_int stop;
	atomic_long sent, refreshes, invals;
};

static int bombard_fn(void *arg)
{
	struct helpers *h = arg;
	uint64_t rnd = 0x12345678;

	while (!atomic_load(&h->stop)) {
		pthread_kill(h->target, SIGUSR1);
		atomic_fetch_add(&h->sent, 1);
		if (test_rand(&rnd) & 1)
			sched_yield();
		else
			usleep(20);
	}
	return 0;
}

static int refresh_fn(void *arg)
{
	struct helpers *h = arg;

	while (!atomic_load(&h->stop)) {
		/* -EINVAL while the test thread has A deactivated. */
		int err = gpc_cache_refresh(&h->f->a, 0);

		if (err && err != -EINVAL)
			return err;
		atomic_fetch_add(&h->refreshes, 1);
		usleep(30);
	}
	return 0;
}

static int inval_fn(void *arg)
{
	struct helpers *h = arg;
	uint64_t s = h->f->ha, e = s + 8;

	while (!atomic_load(&h->stop)) {
		int err = gpc_invalidate_range_start(h->f->t.vm, s, e, 0);

		if (err)
			return err;
		usleep(10);
		if (gpc_invalidate_range_end(h->f->t.vm, s, e))
			return -1;
		atomic_fetch_add(&h->invals, 1);
		usleep(50);
	}
	return 0;
}

/* One write path of the test thread, chosen by @i. */
static int write_path(struct fx *f, long i)
{
	uint64_t s = f->ha, e = s + 8;
	int err = 0;

	atomic_store(&in_write, 1);
	switch (i % 4) {
	case 0:
		err = gpc_cache_refresh(&f->a, 0);
		break;
	case 1:
		err = gpc_invalidate_range_start(f->t.vm, s, e, 0);
		if (!err)
			err = gpc_invalidate_range_end(f->t.vm, s, e);
		break;
	case 2:
		err = gpc_invalidate_range_start(f->t.vm, s, e,
						 GPC_INVAL_NONBLOCK);
		if (!err)
			err = gpc_invalidate_range_end(f->t.vm, s, e);
		else if (err == -EAGAIN)
			err = 0;
		break;
	case 3:
		err = gpc_cache_deactivate(&f->a);
		if (!err)
			err = gpc_cache_activate_gpa(&f->a, G0, 8);
		break;
	}
	atomic_store(&in_write, 0);
	return err;
}

static void signal_reader_in_write_paths(void **state)
{
	struct fx *f = *state;
	struct helpers h = { .f = f, .target = pthread_self() };
	struct tbg bomb, refr, inval;
	struct sigaction sa;
	uint64_t end;
	long i, min = test_iters(4000);
	int err = 0;

	sig_a = &f->a;
	sig_b = &f->b;
	atomic_store(&h_runs, 0);
	atomic_store(&h_during, 0);
	atomic_store(&h_hits_a, 0);
	atomic_store(&h_hits_b, 0);
	atomic_store(&h_miss_a, 0);
	atomic_store(&h_miss_b, 0);
	atomic_store(&h_bad, 0);
	atomic_store(&h_returned, 0);
	/* Claim our reader slot outside the handler. */
	assert_int_equal(gpc_srcu_register_thread(gpc_vm_srcu(f->t.vm)), 0);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = handler;
	sigemptyset(&sa.sa_mask);
	assert_int_equal(sigaction(SIGUSR1, &sa, NULL), 0);

	test_watchdog_arm(60, "signal-handler readers during write paths (%s)",
			  tvm_scheme_names[f->t.scheme]);
	tbg_start(&bomb, bombard_fn, &h);
	tbg_start(&refr, refresh_fn, &h);
	tbg_start(&inval, inval_fn, &h);
	/* At least @min write paths, until 500 handlers hit one (<= 3 s). */
	end = test_now_ns() + 3000000000ull;
	for (i = 0; !err; i++) {
		if (i >= min &&
		    (atomic_load(&h_during) >= 500 || test_now_ns() > end))
			break;
		err = write_path(f, i);
	}
	atomic_store(&h.stop, 1);
	assert_int_equal(tbg_join(&bomb), 0);
	assert_int_equal(tbg_join(&refr), 0);
	assert_int_equal(tbg_join(&inval), 0);
	/* Handlers of signals still pending run now; then no more. */
	signal(SIGUSR1, SIG_IGN);
	test_watchdog_disarm();

	print_message("%s/%s: %ld write paths, %ld signals, %ld handlers "
		      "(%ld inside a write path); A %ld hits %ld misses, "
		      "B %ld hits %ld misses; helpers: %ld refreshes, %ld "
		      "invalidations\n",
		      tvm_scheme_names[f->t.scheme],
		      f->t.stage == TVM_ALIAS ? "alias" : "direct", i,
		      atomic_load(&h.sent), atomic_load(&h_runs),
		      atomic_load(&h_during), atomic_load(&h_hits_a),
		      atomic_load(&h_miss_a), atomic_load(&h_hits_b),
		      atomic_load(&h_miss_b), atomic_load(&h.refreshes),
		      atomic_load(&h.invals));
	assert_int_equal(err, 0);
	assert_true(atomic_load(&h_runs) > 0);
	/* Every handler returned, each read was a hit or a miss. */
	assert_int_equal(atomic_load(&h_returned), atomic_load(&h_runs));
	assert_int_equal(atomic_load(&h_hits_a) + atomic_load(&h_miss_a),
			 atomic_load(&h_runs));
	assert_int_equal(atomic_load(&h_hits_b) + atomic_load(&h_miss_b),
			 atomic_load(&h_runs));
	assert_int_equal(atomic_load(&h_bad), 0);
	/* B is never written: its readers only miss on a busy seqcount. */
	assert_true(atomic_load(&h_hits_b) > 0);
	assert_false(gpc_srcu_read_held(gpc_vm_srcu(f->t.vm)));
	/* Both caches still work. */
	assert_int_equal(gpc_cache_refresh(&f->a, 0), 0);
	assert_true(gpc_cache_check(&f->a, 0, 8));
	assert_true(gpc_cache_check(&f->b, 0, 8));
}

/* ==== (b) a SCHED_FIFO reader and a preempted writer on one CPU ========== */

/* The first CPU we may run on (CPU 0 unless the affinity mask says no). */
static int first_cpu(void)
{
	cpu_set_t set;

	if (sched_getaffinity(0, sizeof(set), &set))
		return 0;
	for (int i = 0; i < CPU_SETSIZE; i++)
		if (CPU_ISSET(i, &set))
			return i;
	return 0;
}

static int pin_self(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

static int probe_fifo_fn(void *arg)
{
	struct sched_param sp = { .sched_priority = 1 };

	(void)arg;
	return pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp);
}

/* Skip the test (cmocka skip()) if we may not use SCHED_FIFO. */
static void need_fifo(void)
{
	struct tbg bg;
	int err;

	tbg_start(&bg, probe_fifo_fn, NULL);
	err = tbg_join(&bg);
	if (err == EPERM) {
		print_message("SCHED_FIFO not permitted (EPERM): skipping the "
			      "real-time reader test\n");
		skip();
	}
	assert_int_equal(err, 0);
}

/* The spinning writer: parked at a point, runnable, until released. */
struct spinner {
	struct fx *f;
	int cpu;
	enum gpc_hook_point point; /* invalidation variant */
	atomic_int armed, parked, release;
};

static void spin_until_released(struct spinner *s)
{
	atomic_store(&s->parked, 1);
	while (!atomic_load(&s->release))
		gpc_cpu_relax();
}

static void spin_hook(struct gpc_vm *vm, enum gpc_hook_point point,
		      struct gpc_cache *c, void *ctx)
{
	struct spinner *s = ctx;
	int one = 1;

	(void)vm, (void)c;
	if (point == s->point &&
	    atomic_compare_exchange_strong(&s->armed, &one, 0))
		spin_until_released(s);
}

/* Writer of the invalidation variant: range_start, parked at the hook. */
static int inval_writer_fn(void *arg)
{
	struct spinner *s = arg;

	if (pin_self(s->cpu))
		return -1;
	return gpc_invalidate_range_start(s->f->t.vm, s->f->ha, s->f->ha + 8,
					  0);
}

/* Writer of the write-section variant: inside A's write section. */
static int section_writer_fn(void *arg)
{
	struct spinner *s = arg;
	struct gpc_cache *c = &s->f->a;

	if (pin_self(s->cpu))
		return -1;
	if (c->scheme == GPC_SCHEME_RWLOCK) {
		if (pthread_rwlock_wrlock(&c->rw))
			return -1;
		gpc_seqcount_write_begin(&c->seq);
	} else {
		gpc_seqcount_write_begin(&c->seq);
	}
	spin_until_released(s);
	gpc_seqcount_write_end(&c->seq);
	if (c->scheme == GPC_SCHEME_RWLOCK)
		pthread_rwlock_unlock(&c->rw);
	return 0;
}

/* The real-time reader: FIFO_READS reads of A and of B, timed. */
struct rt_reader {
	struct fx *f;
	int cpu;
	long hits_a, hits_b;
	uint64_t max_ns;
	int err;
};

static int rt_reader_fn(void *arg)
{
	struct rt_reader *r = arg;
	struct sched_param sp = { .sched_priority = 10 };
	struct gpc_guard g;

	r->err = pin_self(r->cpu);
	if (!r->err)
		r->err = pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp);
	if (r->err)
		return r->err;
	for (int i = 0; i < FIFO_READS; i++) {
		uint64_t t0 = test_now_ns(), dt;
		uint8_t *p = rt_begin(&r->f->a, &g);

		dt = test_now_ns() - t0;
		if (dt > r->max_ns)
			r->max_ns = dt;
		if (p) {
			r->hits_a++;
			gpc_cache_end(&r->f->a, &g);
		}
		p = rt_begin(&r->f->b, &g);
		if (p) {
			r->hits_b += load8(p) == MAGIC_B;
			gpc_cache_end(&r->f->b, &g);
		}
	}
	return 0;
}

static void run_rt_reader(struct fx *f, int cpu, struct rt_reader *r,
			  const char *what)
{
	struct tbg bg;

	memset(r, 0, sizeof(*r));
	r->f = f;
	r->cpu = cpu;
	tbg_start(&bg, rt_reader_fn, r);
	assert_int_equal(tbg_join(&bg), 0);
	print_message("%s/%s: SCHED_FIFO reader on CPU %d: A %ld/%d hits, "
		      "B %ld/%d hits, slowest A read %llu ns\n",
		      tvm_scheme_names[f->t.scheme], what, cpu, r->hits_a,
		      FIFO_READS, r->hits_b, FIFO_READS,
		      (unsigned long long)r->max_ns);
}

/*
 * An invalidation of A's page parked after clearing the caches (before its
 * grace period): A misses, B (another page) hits; nobody waits.
 */
static void fifo_reader_vs_preempted_inval(void **state)
{
	struct fx *f = *state;
	struct spinner s = { .f = f, .point = GPC_HOOK_INVAL_CLEARED };
	struct rt_reader r;
	struct tbg w;

	need_fifo();
	s.cpu = first_cpu();
	atomic_store(&s.armed, 1);
	assert_int_equal(gpc_vm_set_hook(f->t.vm, spin_hook, &s), 0);
	test_watchdog_arm(30, "SCHED_FIFO reader vs a preempted invalidation");
	tbg_start(&w, inval_writer_fn, &s);
	assert_true(test_wait_flag(&s.parked, 10000));

	run_rt_reader(f, s.cpu, &r, "invalidation parked at INVAL_CLEARED");
	assert_int_equal(r.hits_a, 0);
	assert_int_equal(r.hits_b, FIFO_READS);

	atomic_store(&s.release, 1);
	assert_int_equal(tbg_join(&w), 0);
	test_watchdog_disarm();
	assert_int_equal(gpc_invalidate_range_end(f->t.vm, f->ha, f->ha + 8),
			 0);
	assert_int_equal(gpc_vm_set_hook(f->t.vm, tvm_hook, &f->t), 0);
	assert_int_equal(gpc_cache_refresh(&f->a, 0), 0);
}

static int blocking_read_fn(void *arg)
{
	struct fx *f = arg;
	struct gpc_guard g;
	uint8_t *p = gpc_cache_begin(&f->a, 0, 8, &g);

	if (!p)
		return 0;
	gpc_cache_end(&f->a, &g);
	return 1;
}

/*
 * A writer preempted inside A's write section, A valid all along: srcu
 * readers see the odd seqcount and miss at once; rwlock try-readers see the
 * lock taken and miss. The rwlock's blocking begin waits for the writer
 * (an ordinary thread shows it); once the writer is out, everyone hits.
 */
static void fifo_reader_vs_preempted_write(void **state)
{
	struct fx *f = *state;
	struct spinner s = { .f = f };
	struct rt_reader r;
	struct tbg w, blk;

	need_fifo();
	s.cpu = first_cpu();
	assert_true(gpc_cache_check(&f->a, 0, 8));
	test_watchdog_arm(30, "SCHED_FIFO reader vs a preempted write section");
	tbg_start(&w, section_writer_fn, &s);
	assert_true(test_wait_flag(&s.parked, 10000));

	run_rt_reader(f, s.cpu, &r, "writer inside the write section");
	assert_int_equal(r.hits_a, 0);
	assert_int_equal(r.hits_b, FIFO_READS);
	if (f->t.scheme == GPC_SCHEME_RWLOCK) {
		/* The limitation itself: a blocking reader waits. */
		tbg_start(&blk, blocking_read_fn, f);
		assert_false(tbg_done_within(&blk, 50));
	}

	atomic_store(&s.release, 1);
	assert_int_equal(tbg_join(&w), 0);
	if (f->t.scheme == GPC_SCHEME_RWLOCK)
		assert_int_equal(tbg_join(&blk), 1);
	run_rt_reader(f, s.cpu, &r, "writer gone");
	test_watchdog_disarm();
	assert_int_equal(r.hits_a, FIFO_READS);
	assert_int_equal(r.hits_b, FIFO_READS);
}

/* ---- main ----------------------------------------------------------------- */

int main(void)
{
	const struct CMUnitTest tests[] = {
		TP(signal_reader_in_write_paths, 0, "/srcu/direct"),
		TP(signal_reader_in_write_paths, 1, "/srcu/alias"),
		TP(signal_reader_in_write_paths, 2, "/rwlock/direct"),
		TP(signal_reader_in_write_paths, 3, "/rwlock/alias"),
		TP(fifo_reader_vs_preempted_inval, 0, "/srcu"),
		TP(fifo_reader_vs_preempted_inval, 2, "/rwlock"),
		TP(fifo_reader_vs_preempted_write, 0, "/srcu"),
		TP(fifo_reader_vs_preempted_write, 2, "/rwlock"),
	};

	return cmocka_run_group_tests_name("realtime", tests, NULL, NULL);
}
