/* SPDX-License-Identifier: MIT */
/*
 * tests/support/harness.h - a vm on guest RAM, and stop points that park a thread at
 * an exact step of the library (a refresh between translate and publish, an
 * invalidation between clearing caches and waiting...) until the test lets
 * it go. Used by the scenario tests (R1-R18) and the cache unit tests.
 *
 * Typical use:
 *
 *	struct tvm t;
 *	tvm_setup(&t, scheme, TVM_DIRECT);          // vm + 1 MiB RAM, slot 0
 *	struct tstop *s = tstop_arm(&t, GPC_HOOK_REFRESH_TRANSLATED, &cache);
 *	tbg_start(&bg, refresh_thread, &cache);     // runs until it parks
 *	tstop_wait(s);                              // it is parked now
 *	... do the other side of the race ...
 *	tstop_release(s);
 *	tbg_join(&bg);
 *	tvm_teardown(&t);
 *
 * Everything is static: each test program is one translation unit.
 */
#ifndef GPC_TEST_HARNESS_H
#define GPC_TEST_HARNESS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <gpc/gpc.h>

#include "gpc_testing.h"

#define TVM_RAM_SIZE  (1u << 20)
#define TVM_GPA_BASE  0x100000ull
#define TVM_MAX_STOPS 4

enum tvm_stage { TVM_DIRECT = 0, TVM_ALIAS = 1 };

struct tstop {
	pthread_mutex_t m;
	pthread_cond_t cv;
	_Atomic int armed;
	enum gpc_hook_point point;
	struct gpc_cache *cache; /* NULL: any cache (or none) */
	int reached;		 /* a thread is parked here */
	int released;
	int hits; /* times the point passed after release */
};

struct tvm {
	enum gpc_scheme scheme;
	enum tvm_stage stage;
	struct gpc_hostmem *hm;
	struct gpc_testmem tm;
	struct gpc_vm *vm;
	uint8_t *ram; /* TVM_RAM_SIZE bytes, slot 0 at TVM_GPA_BASE */
	struct tstop stops[TVM_MAX_STOPS];
	_Atomic int hook_calls[GPC_HOOK_NR];
};

static const char *const tvm_scheme_names[] = { "srcu", "rwlock" };

/* Parks the calling thread if an armed stop matches; one-shot per stop. */
static inline void tvm_hook(struct gpc_vm *vm, enum gpc_hook_point point,
			    struct gpc_cache *c, void *ctx)
{
	struct tvm *t = ctx;

	(void)vm;
	atomic_fetch_add(&t->hook_calls[point], 1);
	for (int i = 0; i < TVM_MAX_STOPS; i++) {
		struct tstop *s = &t->stops[i];
		int one = 1;

		if (atomic_load(&s->armed) != 1 || s->point != point ||
		    (s->cache && s->cache != c))
			continue;
		if (!atomic_compare_exchange_strong(&s->armed, &one, 2))
			continue;
		pthread_mutex_lock(&s->m);
		s->reached = 1;
		pthread_cond_broadcast(&s->cv);
		while (!s->released)
			pthread_cond_wait(&s->cv, &s->m);
		pthread_mutex_unlock(&s->m);
	}
}

/*
 * Build a vm of @scheme on @stage with TVM_RAM_SIZE bytes of RAM in memslot
 * 0 at TVM_GPA_BASE, the test stage wrapped around it, and the stop hook
 * installed. Returns 0 or a negative errno.
 */
static inline int tvm_setup(struct tvm *t, enum gpc_scheme scheme,
			    enum tvm_stage stage)
{
	struct gpc_vm_config cfg = { 0 };
	void *ram;
	int err;

	memset(t, 0, sizeof(*t));
	t->scheme = scheme;
	t->stage = stage;
	for (int i = 0; i < TVM_MAX_STOPS; i++) {
		pthread_mutex_init(&t->stops[i].m, NULL);
		pthread_cond_init(&t->stops[i].cv, NULL);
	}
	err = gpc_hostmem_create(&t->hm);
	if (err)
		return err;
	err = gpc_testmem_init(&t->tm,
			       stage == TVM_ALIAS ? &gpc_hostmem_alias_ops :
						    &gpc_hostmem_direct_ops,
			       t->hm);
	if (err)
		return err;
	cfg.scheme = scheme;
	cfg.hostmem = &gpc_testmem_ops;
	cfg.hostmem_ctx = &t->tm;
	cfg.name = tvm_scheme_names[scheme];
	err = gpc_vm_create(&cfg, &t->vm);
	if (err)
		return err;
	err = gpc_hostmem_alloc(t->hm, TVM_RAM_SIZE, &ram);
	if (err)
		return err;
	t->ram = ram;
	err = gpc_memslot_create(t->vm, 0, TVM_GPA_BASE, TVM_RAM_SIZE,
				 (uint64_t)(uintptr_t)ram, 0);
	if (err)
		return err;
	return gpc_vm_set_hook(t->vm, tvm_hook, t);
}

/* Host address of guest-physical @gpa inside slot 0. */
static inline uint64_t tvm_hva(struct tvm *t, uint64_t gpa)
{
	return (uint64_t)(uintptr_t)t->ram + (gpa - TVM_GPA_BASE);
}

/*
 * Wait for deferred unmaps (they run after a grace period on the SRCU
 * worker), so that map/unmap counts can be compared.
 */
static inline void tvm_flush(struct tvm *t)
{
	gpc_srcu_barrier(gpc_vm_srcu(t->vm));
}

static inline struct gpc_testmem_counts tvm_counts(struct tvm *t)
{
	struct gpc_testmem_counts c;

	tvm_flush(t);
	gpc_testmem_counts(&t->tm, &c);
	return c;
}

/* Tear down; the caller destroyed its caches and vCPUs. 0 or -errno. */
static inline int tvm_teardown(struct tvm *t)
{
	int err;

	gpc_vm_set_hook(t->vm, NULL, NULL);
	if (t->vm) {
		gpc_memslot_delete(t->vm, 0);
		err = gpc_vm_destroy(t->vm);
		if (err)
			return err;
	}
	if (t->hm)
		gpc_hostmem_destroy(t->hm);
	return 0;
}

/* Arm a free stop for @point (and @cache, or any if NULL). */
static inline struct tstop *tstop_arm(struct tvm *t, enum gpc_hook_point point,
				      struct gpc_cache *cache)
{
	for (int i = 0; i < TVM_MAX_STOPS; i++) {
		struct tstop *s = &t->stops[i];

		if (atomic_load(&s->armed))
			continue;
		s->point = point;
		s->cache = cache;
		s->reached = 0;
		s->released = 0;
		atomic_store(&s->armed, 1);
		return s;
	}
	abort();
}

/* Block until a thread is parked at @s (give up after ~10 s: false). */
static inline bool tstop_wait(struct tstop *s)
{
	struct timespec ts;
	bool ok = true;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 10;
	pthread_mutex_lock(&s->m);
	while (!s->reached && ok)
		ok = pthread_cond_timedwait(&s->cv, &s->m, &ts) == 0;
	ok = s->reached;
	pthread_mutex_unlock(&s->m);
	return ok;
}

/* Whether a thread is parked at @s right now (non-blocking). */
static inline bool tstop_reached(struct tstop *s)
{
	bool r;

	pthread_mutex_lock(&s->m);
	r = s->reached;
	pthread_mutex_unlock(&s->m);
	return r;
}

/* Let the parked thread go on; the stop becomes free again. */
static inline void tstop_release(struct tstop *s)
{
	pthread_mutex_lock(&s->m);
	s->released = 1;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->m);
	atomic_store(&s->armed, 0);
}

/* ---- test matrix -------------------------------------------------------- */

/*
 * The (scheme, stage) combinations that every API test runs on, and cmocka
 * entries for them. A test program defines setup() and teardown() taking
 * the struct tvm_param * as the initial state.
 */
struct tvm_param {
	enum gpc_scheme scheme;
	enum tvm_stage stage;
};

static const struct tvm_param tvm_params[] = {
	{ GPC_SCHEME_SRCU, TVM_DIRECT },
	{ GPC_SCHEME_SRCU, TVM_ALIAS },
	{ GPC_SCHEME_RWLOCK, TVM_DIRECT },
	{ GPC_SCHEME_RWLOCK, TVM_ALIAS },
};

#define TVM_SRCU_DIRECT	  0
#define TVM_SRCU_ALIAS	  1
#define TVM_RWLOCK_DIRECT 2
#define TVM_RWLOCK_ALIAS  3

#define TP(fn, i, nm)                                                 \
	{                                                             \
		.name = #fn nm, .test_func = fn, .setup_func = setup, \
		.teardown_func = teardown,                            \
		.initial_state = (void *)&tvm_params[i],              \
	}
#define T4(fn)                                               \
	TP(fn, 0, "/srcu/direct"), TP(fn, 1, "/srcu/alias"), \
		TP(fn, 2, "/rwlock/direct"), TP(fn, 3, "/rwlock/alias")

/* ---- background threads ------------------------------------------------ */

struct tbg {
	pthread_t thread;
	int (*fn)(void *arg);
	void *arg;
	_Atomic int done;
	int ret;
};

static inline void *tbg_main(void *p)
{
	struct tbg *b = p;

	b->ret = b->fn(b->arg);
	atomic_store(&b->done, 1);
	return NULL;
}

static inline void tbg_start(struct tbg *b, int (*fn)(void *), void *arg)
{
	b->fn = fn;
	b->arg = arg;
	atomic_store(&b->done, 0);
	if (pthread_create(&b->thread, NULL, tbg_main, b))
		abort();
}

/* Join and return the thread function's result. */
static inline int tbg_join(struct tbg *b)
{
	pthread_join(b->thread, NULL);
	return b->ret;
}

/* Whether the thread finished, waiting up to @ms milliseconds. */
static inline bool tbg_done_within(struct tbg *b, int ms)
{
	for (int i = 0; i < ms && !atomic_load(&b->done); i++) {
		struct timespec ts = { 0, 1000000 };

		nanosleep(&ts, NULL);
	}
	return atomic_load(&b->done);
}

#endif /* GPC_TEST_HARNESS_H */
