// SPDX-License-Identifier: MIT
/*
 * tests/torture/torture_srcu.c - rcutorture-style stress test of an SRCU domain.
 *
 *	torture_srcu [--duration SECONDS] [--readers N] [--writers N]
 *		     [--seed N]
 *
 * One global pointer names the current object. Writers replace it (release
 * store), wait for a grace period in one of several ways (synchronize,
 * synchronize_expedited, gpc_srcu_call with the rest done in the callback,
 * or start_poll + poll_state), then poison the old object and put it on a
 * delayed free list, from which it is freed much later (so that a reader
 * that wrongly still holds it sees the poison, not freed memory; ASan and
 * TSan see the free too).
 *
 * The age check: a global count of completed grace periods is advanced by
 * writers after each wait (to at least their snapshot + 1, see gp_advance),
 * and every object records the count at its removal. A reader that loaded
 * an object inside its section reads, still inside, the removal count and
 * the current count: their difference is the number of grace periods that
 * completed since the removal while it held the object. A grace period that
 * was already running when the object was removed may complete, so 1 is
 * allowed; 2 or more means a grace period that began after the removal
 * ended while a reader was still inside: a bug. Readers also check that the
 * object they hold is never poisoned and that its contents are intact.
 *
 * Readers nest, sleep inside sections and pause randomly between them. The
 * program prints a summary and exits 1 on any violation.
 */
#include <getopt.h>
#include <inttypes.h>
#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include <gpc/srcu.h>

#include "test_common.h"

#define POISON	   0x706f69736f6eULL /* "poison" */
#define FREE_DELAY 512		     /* retired objects kept before free() */
#define CALL_BATCH 64		     /* callbacks a writer queues per barrier */

struct tobj {
	struct gpc_srcu_head head;
	uint64_t a, b;		     /* plain; b == ~a, fixed before publish */
	_Atomic uint64_t removed_at; /* 0 while current, else gp count + 1 */
	_Atomic uint64_t poison;
	uint64_t snap; /* gp count snapshot, for the callback */
};

static struct gpc_srcu dom;
static _Atomic(struct tobj *) current;
static _Atomic uint64_t gp_count;
static atomic_int stop;

/* Violations. */
static atomic_long err_age, err_poison, err_corrupt, err_held, err_poll,
	err_api;

/* Statistics. */
static atomic_long n_reads, n_nested, n_sleeps, n_updates, n_waits[4];
static _Atomic uint64_t max_age;

static const char *const wait_names[4] = { "synchronize", "expedited", "call",
					   "poll" };

/* ---- the grace-period count --------------------------------------------- */

/*
 * After a grace period that started after the writer read @snap from the
 * count, the count may become snap + 1. Raising it to a maximum (rather
 * than adding one) keeps the check sound with several writers: if the count
 * reaches r + 2 for an object removed at r, some writer read r + 1, which
 * the count only reached after the removal, so that writer's grace period
 * began after the removal and has completed.
 */
static void gp_advance(uint64_t snap)
{
	uint64_t c = atomic_load(&gp_count);

	while (c < snap + 1 &&
	       !atomic_compare_exchange_weak(&gp_count, &c, snap + 1))
		;
}

static void age_seen(uint64_t age)
{
	uint64_t m = atomic_load_explicit(&max_age, memory_order_relaxed);

	while (age > m && !atomic_compare_exchange_weak(&max_age, &m, age))
		;
}

/* ---- delayed free -------------------------------------------------------- */

static pthread_mutex_t free_lock = PTHREAD_MUTEX_INITIALIZER;
static struct tobj *free_ring[FREE_DELAY];
static unsigned int free_pos;

/* Poison @o and queue it; free whatever was queued FREE_DELAY ago. */
static void retire(struct tobj *o)
{
	struct tobj *old;

	atomic_store_explicit(&o->poison, POISON, memory_order_relaxed);
	pthread_mutex_lock(&free_lock);
	old = free_ring[free_pos];
	free_ring[free_pos] = o;
	free_pos = (free_pos + 1) % FREE_DELAY;
	pthread_mutex_unlock(&free_lock);
	free(old);
}

static void free_all(void)
{
	unsigned int i;

	for (i = 0; i < FREE_DELAY; i++) {
		free(free_ring[i]);
		free_ring[i] = NULL;
	}
}

static struct tobj *tobj_new(uint64_t *rnd)
{
	struct tobj *o = calloc(1, sizeof(*o));

	if (!o) {
		perror("calloc");
		exit(2);
	}
	o->a = test_rand(rnd);
	o->b = ~o->a;
	return o;
}

/* ---- readers ------------------------------------------------------------- */

/* Everything a reader checks about an object it holds. */
static void check_obj(struct tobj *p)
{
	uint64_t r, now;
	int64_t age;

	if (!gpc_srcu_read_held(&dom))
		atomic_fetch_add(&err_held, 1);
	if (atomic_load_explicit(&p->poison, memory_order_relaxed) == POISON)
		atomic_fetch_add(&err_poison, 1);
	if (p->b != ~p->a)
		atomic_fetch_add(&err_corrupt, 1);
	/* Acquire: pairs with the writer's release, so now >= r - 1. */
	r = atomic_load_explicit(&p->removed_at, memory_order_acquire);
	if (!r)
		return;
	now = atomic_load(&gp_count);
	age = (int64_t)(now - (r - 1));
	if (age < 0 || age > 1)
		atomic_fetch_add(&err_age, 1);
	if (age > 0)
		age_seen((uint64_t)age);
}

static void reader_delay(uint64_t r)
{
	switch (r % 8) {
	case 0:
		usleep((r >> 8) % 200);
		atomic_fetch_add_explicit(&n_sleeps, 1, memory_order_relaxed);
		break;
	case 1:
	case 2:
		sched_yield();
		break;
	default:
		for (unsigned int i = 0; i < ((r >> 8) & 255); i++)
			gpc_cpu_relax();
	}
}

static void *reader_main(void *arg)
{
	uint64_t rnd = (uintptr_t)arg * 0x9e3779b97f4a7c15ULL + 1;
	long reads = 0;

	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		uint64_t r = test_rand(&rnd);
		struct tobj *p, *q;

		gpc_srcu_read_lock(&dom);
		p = atomic_load_explicit(&current, memory_order_acquire);
		check_obj(p);
		if ((r & 3) == 0) {
			/* A nested section may see a newer object. */
			gpc_srcu_read_lock(&dom);
			q = atomic_load_explicit(&current,
						 memory_order_acquire);
			check_obj(q);
			if (r & 4)
				reader_delay(r >> 16);
			check_obj(q);
			gpc_srcu_read_unlock(&dom);
			atomic_fetch_add_explicit(&n_nested, 1,
						  memory_order_relaxed);
		}
		if ((r & 0x30) == 0)
			reader_delay(r >> 24);
		/* Still ours, however long we took. */
		check_obj(p);
		gpc_srcu_read_unlock(&dom);
		reads++;
		if ((r & 0xc0) == 0)
			reader_delay(r >> 32);
	}
	atomic_fetch_add(&n_reads, reads);
	return NULL;
}

/* ---- writers ------------------------------------------------------------- */

static void retire_cb(struct gpc_srcu_head *h)
{
	struct tobj *o =
		(struct tobj *)((char *)h - offsetof(struct tobj, head));

	gp_advance(o->snap);
	retire(o);
}

/* Wait by polling, sleeping a little between polls. */
static void poll_wait(uint64_t c)
{
	int r;

	while ((r = gpc_srcu_poll_state(&dom, c)) == 0)
		usleep(20);
	if (r != 1)
		atomic_fetch_add(&err_poll, 1);
}

static void *writer_main(void *arg)
{
	uint64_t rnd = (uintptr_t)arg * 0xda942042e4dd58b5ULL + 7;
	unsigned int queued = 0;
	long updates = 0;

	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		uint64_t r = test_rand(&rnd);
		struct tobj *n = tobj_new(&rnd), *old;
		unsigned int how = r % 4;
		uint64_t snap, c;

		old = atomic_exchange_explicit(&current, n,
					       memory_order_acq_rel);
		snap = atomic_load(&gp_count);
		atomic_store_explicit(&old->removed_at, snap + 1,
				      memory_order_release);
		atomic_fetch_add_explicit(&n_waits[how], 1,
					  memory_order_relaxed);
		switch (how) {
		case 0:
			/* Also check get_state against synchronize. */
			c = gpc_srcu_get_state(&dom);
			if (gpc_srcu_synchronize(&dom))
				atomic_fetch_add(&err_api, 1);
			if (gpc_srcu_poll_state(&dom, c) != 1)
				atomic_fetch_add(&err_poll, 1);
			break;
		case 1:
			if (gpc_srcu_synchronize_expedited(&dom))
				atomic_fetch_add(&err_api, 1);
			break;
		case 2:
			old->snap = snap;
			if (gpc_srcu_call(&dom, &old->head, retire_cb))
				atomic_fetch_add(&err_api, 1);
			/* Bound the objects waiting in the queue. */
			if (++queued % CALL_BATCH == 0 &&
			    gpc_srcu_barrier(&dom))
				atomic_fetch_add(&err_api, 1);
			break;
		default:
			poll_wait(gpc_srcu_start_poll(&dom));
			break;
		}
		if (how != 2) {
			gp_advance(snap);
			retire(old);
		}
		updates++;
		if (!(r & 0x700))
			usleep((r >> 16) % 100);
	}
	atomic_fetch_add(&n_updates, updates);
	return NULL;
}

/* ---- main ---------------------------------------------------------------- */

static void usage(const char *prog)
{
	fprintf(stderr,
		"usage: %s [--duration SECONDS] [--readers N] [--writers N] "
		"[--seed N]\n"
		"  defaults: 2 s (1 s under TSan), 4 readers, 2 writers\n",
		prog);
	exit(2);
}

struct options {
	double duration;
	int readers, writers;
	uint64_t seed;
};

static void parse(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{ "duration", required_argument, NULL, 'd' },
		{ "readers", required_argument, NULL, 'r' },
		{ "writers", required_argument, NULL, 'w' },
		{ "seed", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	o->duration = TEST_TSAN ? 1 : 2;
	o->readers = 4;
	o->writers = 2;
	o->seed = 1;
	while ((c = getopt_long(argc, argv, "d:r:w:s:h", longopts, NULL)) !=
	       -1) {
		switch (c) {
		case 'd':
			o->duration = atof(optarg);
			break;
		case 'r':
			o->readers = atoi(optarg);
			break;
		case 'w':
			o->writers = atoi(optarg);
			break;
		case 's':
			o->seed = strtoull(optarg, NULL, 0);
			break;
		default:
			usage(argv[0]);
		}
	}
	if (optind != argc || o->duration <= 0 || o->readers < 1 ||
	    o->writers < 1 || o->readers > 256 || o->writers > 256)
		usage(argv[0]);
}

static long errors(void)
{
	return atomic_load(&err_age) + atomic_load(&err_poison) +
	       atomic_load(&err_corrupt) + atomic_load(&err_held) +
	       atomic_load(&err_poll) + atomic_load(&err_api);
}

int main(int argc, char **argv)
{
	struct options opt;
	struct gpc_srcu_stats st;
	pthread_t *rt, *wt;
	uint64_t rnd;
	int i, ret;

	parse(argc, argv, &opt);
	rnd = opt.seed * 0x9e3779b97f4a7c15ULL + 1;
	if (gpc_srcu_init(&dom, &(struct gpc_srcu_attr){ .name = "torture" })) {
		fprintf(stderr, "gpc_srcu_init failed\n");
		return 2;
	}
	atomic_store(&current, tobj_new(&rnd));
	rt = calloc((size_t)opt.readers, sizeof(*rt));
	wt = calloc((size_t)opt.writers, sizeof(*wt));
	if (!rt || !wt)
		return 2;

	for (i = 0; i < opt.readers; i++)
		pthread_create(&rt[i], NULL, reader_main,
			       (void *)(uintptr_t)(opt.seed * 1000 + i + 1));
	for (i = 0; i < opt.writers; i++)
		pthread_create(&wt[i], NULL, writer_main,
			       (void *)(uintptr_t)(opt.seed * 1000 + i + 1));
	test_sleep_ms((unsigned int)(opt.duration * 1000));
	atomic_store(&stop, 1);

	/* A thread stuck in a grace period is a failure, not a hang. */
	test_watchdog_arm(60, "torture: stopping readers and writers");
	for (i = 0; i < opt.writers; i++)
		pthread_join(wt[i], NULL);
	for (i = 0; i < opt.readers; i++)
		pthread_join(rt[i], NULL);
	if (gpc_srcu_barrier(&dom) || gpc_srcu_synchronize(&dom))
		atomic_fetch_add(&err_api, 1);
	test_watchdog_disarm();

	gpc_srcu_get_stats(&dom, &st);
	printf("torture_srcu: %.1f s, %d readers, %d writers, membarrier %s\n",
	       opt.duration, opt.readers, opt.writers,
	       gpc_srcu_membarrier_available() ? "yes" : "no");
	printf("  reads %ld (nested %ld, sleeps %ld), updates %ld\n",
	       atomic_load(&n_reads), atomic_load(&n_nested),
	       atomic_load(&n_sleeps), atomic_load(&n_updates));
	printf("  waits:");
	for (i = 0; i < 4; i++)
		printf(" %s %ld", wait_names[i], atomic_load(&n_waits[i]));
	printf("\n  grace periods: count %" PRIu64 ", domain %" PRIu64
	       " (shared %" PRIu64 ", futex sleeps %" PRIu64
	       ", membarriers %" PRIu64 "), callbacks %" PRIu64 "\n",
	       atomic_load(&gp_count), st.gp_completed, st.gp_shared, st.sleeps,
	       st.membarriers, st.callbacks);
	printf("  max age seen %" PRIu64 " (limit 1)\n", atomic_load(&max_age));
	printf("  violations: age %ld, poison %ld, corrupt %ld, held %ld, "
	       "poll %ld, api %ld\n",
	       atomic_load(&err_age), atomic_load(&err_poison),
	       atomic_load(&err_corrupt), atomic_load(&err_held),
	       atomic_load(&err_poll), atomic_load(&err_api));

	/* No progress at all is a failure too. */
	if (!atomic_load(&n_reads) || !atomic_load(&n_updates) ||
	    !st.gp_completed) {
		printf("  no progress\n");
		atomic_fetch_add(&err_api, 1);
	}
	ret = errors() ? 1 : 0;

	free(atomic_load(&current));
	free_all();
	if (gpc_srcu_destroy(&dom)) {
		printf("  gpc_srcu_destroy failed\n");
		ret = 1;
	}
	free(rt);
	free(wt);
	printf("torture_srcu: %s\n", ret ? "FAILED" : "PASSED");
	return ret;
}
