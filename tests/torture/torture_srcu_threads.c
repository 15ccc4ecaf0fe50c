// SPDX-License-Identifier: MIT
/*
 * tests/torture/torture_srcu_threads.c - SRCU under thread churn: slots that come
 * and go with their threads.
 *
 *	torture_srcu_threads [--duration SECONDS] [--seed N] [--no-fork]
 *
 * A thread's slot in a domain is its lookaside entry in TLS, which goes away
 * with the thread; grace periods read it through the domain's registry. This
 * program attacks exactly that:
 *  - spawners keep starting short-lived reader threads, so entries are
 *    installed and torn down all the time;
 *  - NDOM domains, more than the lookaside table has entries, so some
 *    readers use registry slots (the sentinel path);
 *  - readers nest sections of two random domains and end them out of order;
 *  - a signaller sends SIGUSR1 to random reader threads, also while they are
 *    starting or exiting (in the exit hook, or after it), and the handler
 *    reads in a random domain;
 *  - updaters replace each domain's object, wait for a grace period
 *    (synchronize or synchronize_expedited), poison the old object and free
 *    it: a reader that a grace period missed sees the poison (or ASan sees
 *    the use after free);
 *  - a forker forks now and then; the child reads and synchronizes every
 *    domain (its copies of the other threads' records must be released).
 *
 * Exits 1 on any poisoned read, failed call or child failure.
 */
#include <getopt.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <gpc/srcu.h>

#include "test_common.h"

#define NDOM	    (GPC_SRCU_TLS_ENTRIES + 4)
#define NTID	    64
#define LIVE	    0x1234567887654321ULL
#define POISON	    0xdeaddeaddeaddeadULL
#define SPAWNERS    3
#define UPDATERS    2
#define READS_EACH  200
#define INNER_LOADS 20

struct obj {
	_Atomic uint64_t magic;
};

static struct gpc_srcu dom[NDOM];
static _Atomic(struct obj *) cur[NDOM];
static _Atomic int tids[NTID]; /* recent reader threads, for the signaller */
static atomic_int stop, bad;
static atomic_long reads, handler_reads, gps, forks;

static unsigned int next_rand(unsigned int *s)
{
	*s = *s * 1103515245u + 12345u;
	return *s >> 8;
}

static void check(struct obj *o)
{
	if (atomic_load_explicit(&o->magic, memory_order_relaxed) != LIVE)
		atomic_fetch_add(&bad, 1);
}

static struct obj *obj_new(void)
{
	struct obj *o = malloc(sizeof(*o));

	if (!o)
		abort();
	atomic_store(&o->magic, LIVE);
	return o;
}

static void on_sig(int sig)
{
	static __thread unsigned int seed;
	int d;

	(void)sig;
	seed += (unsigned int)(uintptr_t)&seed;
	d = (int)(next_rand(&seed) % NDOM);
	gpc_srcu_read_lock(&dom[d]);
	check(atomic_load_explicit(&cur[d], memory_order_acquire));
	gpc_srcu_read_unlock(&dom[d]);
	atomic_fetch_add_explicit(&handler_reads, 1, memory_order_relaxed);
}

static void *reader_main(void *arg)
{
	unsigned int s = (unsigned int)(uintptr_t)arg;

	atomic_store(&tids[s % NTID], (int)gettid());
	for (int k = 0; k < READS_EACH; k++) {
		int a = (int)(next_rand(&s) % NDOM);
		int b = (int)(next_rand(&s) % NDOM);
		struct obj *oa, *ob;

		gpc_srcu_read_lock(&dom[a]);
		gpc_srcu_read_lock(&dom[b]);
		oa = atomic_load_explicit(&cur[a], memory_order_acquire);
		ob = atomic_load_explicit(&cur[b], memory_order_acquire);
		for (int i = 0; i < INNER_LOADS; i++) {
			check(oa);
			check(ob);
		}
		/* Out of order on purpose: a's section ends first. */
		gpc_srcu_read_unlock(&dom[a]);
		check(ob);
		gpc_srcu_read_unlock(&dom[b]);
		atomic_fetch_add_explicit(&reads, 1, memory_order_relaxed);
	}
	return NULL;
}

static void *spawner_main(void *arg)
{
	unsigned int s = (unsigned int)(uintptr_t)arg;

	while (!atomic_load(&stop)) {
		pthread_t t[4];

		for (int i = 0; i < 4; i++)
			if (pthread_create(&t[i], NULL, reader_main,
					   (void *)(uintptr_t)next_rand(&s)))
				abort();
		for (int i = 0; i < 4; i++)
			pthread_join(t[i], NULL);
	}
	return NULL;
}

static void *updater_main(void *arg)
{
	unsigned int s = (unsigned int)(uintptr_t)arg;

	while (!atomic_load(&stop)) {
		int d = (int)(next_rand(&s) % NDOM);
		struct obj *old = atomic_exchange(&cur[d], obj_new());
		int err = (next_rand(&s) & 1) ?
				  gpc_srcu_synchronize(&dom[d]) :
				  gpc_srcu_synchronize_expedited(&dom[d]);

		if (err)
			atomic_fetch_add(&bad, 1);
		atomic_store(&old->magic, POISON);
		free(old);
		atomic_fetch_add(&gps, 1);
		(void)gpc_srcu_events(&dom[d]); /* reads the slots too */
	}
	return NULL;
}

static void *signaller_main(void *arg)
{
	unsigned int s = (unsigned int)(uintptr_t)arg;

	while (!atomic_load(&stop)) {
		int t = atomic_load(&tids[next_rand(&s) % NTID]);

		/* The thread may have exited (ESRCH) or be exiting: both fine. */
		if (t)
			syscall(SYS_tgkill, getpid(), t, SIGUSR1);
		if (!(next_rand(&s) % 64))
			test_sleep_ms(0);
	}
	return NULL;
}

/* The child: only this thread exists; every domain must work fully. */
static void child_main(void)
{
	for (int d = 0; d < NDOM; d++) {
		gpc_srcu_read_lock(&dom[d]);
		check(atomic_load(&cur[d]));
		gpc_srcu_read_unlock(&dom[d]);
		if (gpc_srcu_synchronize(&dom[d]))
			_exit(3);
	}
	_exit(atomic_load(&bad) ? 2 : 0);
}

static void *forker_main(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop)) {
		pid_t p;
		int st;

		test_sleep_ms(50);
		p = fork();
		if (p < 0)
			continue;
		if (!p)
			child_main();
		if (waitpid(p, &st, 0) != p || !WIFEXITED(st) ||
		    WEXITSTATUS(st)) {
			fprintf(stderr, "torture_srcu_threads: child %#x\n",
				st);
			atomic_fetch_add(&bad, 1);
		}
		atomic_fetch_add(&forks, 1);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "duration", required_argument, NULL, 'd' },
		{ "seed", required_argument, NULL, 's' },
		{ "no-fork", no_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 },
	};
	double duration = 2.0 * test_scale();
	unsigned int seed = 1;
	/*
	 * The sanitizers' runtimes do not survive fork() while other threads
	 * create threads: the child restarts the SRCU workers and can block
	 * on a runtime lock held at the fork by a thread that no longer
	 * exists there (seen with ASan's thread registry). glibc resets its
	 * own locks in the child; test_srcu_fork covers fork under them.
	 */
	bool do_fork = !TEST_TSAN && !TEST_ASAN;
	pthread_t sp[SPAWNERS], up[UPDATERS], sg, fk;
	struct sigaction sa = { .sa_handler = on_sig, .sa_flags = SA_RESTART };
	int c;

	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		if (c == 'd')
			duration = atof(optarg);
		else if (c == 's')
			seed = (unsigned int)strtoul(optarg, NULL, 0);
		else if (c == 'f')
			do_fork = false;
		else
			return 2;
	}
	for (int d = 0; d < NDOM; d++) {
		if (gpc_srcu_init(&dom[d], NULL))
			return 2;
		atomic_store(&cur[d], obj_new());
	}
	sigaction(SIGUSR1, &sa, NULL);
	for (int i = 0; i < SPAWNERS; i++)
		pthread_create(&sp[i], NULL, spawner_main,
			       (void *)(uintptr_t)(seed * 100 + i + 1));
	for (int i = 0; i < UPDATERS; i++)
		pthread_create(&up[i], NULL, updater_main,
			       (void *)(uintptr_t)(seed * 100 + 50 + i));
	pthread_create(&sg, NULL, signaller_main,
		       (void *)(uintptr_t)(seed * 100 + 99));
	if (do_fork)
		pthread_create(&fk, NULL, forker_main, NULL);
	test_sleep_ms((unsigned int)(duration * 1000));
	atomic_store(&stop, 1);

	test_watchdog_arm(60, "torture_srcu_threads: stopping");
	for (int i = 0; i < SPAWNERS; i++)
		pthread_join(sp[i], NULL);
	for (int i = 0; i < UPDATERS; i++)
		pthread_join(up[i], NULL);
	pthread_join(sg, NULL);
	if (do_fork)
		pthread_join(fk, NULL);
	test_watchdog_disarm();
	signal(SIGUSR1, SIG_IGN);
	for (int d = 0; d < NDOM; d++) {
		if (gpc_srcu_destroy(&dom[d]))
			atomic_fetch_add(&bad, 1);
		free(atomic_load(&cur[d]));
	}
	printf("torture_srcu_threads: %.1f s, %d domains, %ld reads, %ld in "
	       "handlers, %ld grace periods, %ld forks, violations %d\n",
	       duration, NDOM, atomic_load(&reads), atomic_load(&handler_reads),
	       atomic_load(&gps), atomic_load(&forks), atomic_load(&bad));
	return atomic_load(&bad) ? 1 : 0;
}
