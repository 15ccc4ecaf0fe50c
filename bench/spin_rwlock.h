/* SPDX-License-Identifier: MIT */
/*
 * bench/spin_rwlock.h - the spin_rwlock contender of bench_read: a
 * kernel-style spinning reader-writer lock. Readers announce themselves with
 * one locked add on the shared word and only spin while a writer holds it,
 * like the qrwlock fast path. The writer takes the lock when the word is 0.
 *
 * Included by read_side.c only: the read side is static inline so that it is
 * inlined into the timed loop there, as a user would compile it.
 */
#ifndef GPC_BENCH_SPIN_RWLOCK_H
#define GPC_BENCH_SPIN_RWLOCK_H

#include <stdatomic.h>

#include <gpc/compiler.h>

#define SPIN_WRITER 1U
#define SPIN_READER 2U

struct spin_rwlock {
	_Atomic unsigned int v;
} gpc_cacheline_aligned;

static inline void spin_read_lock(struct spin_rwlock *l)
{
	unsigned int v;

	v = atomic_fetch_add_explicit(&l->v, SPIN_READER, memory_order_acquire);
	/* Our count keeps new writers out; wait for the current one. */
	while (gpc_unlikely(v & SPIN_WRITER)) {
		gpc_cpu_relax();
		v = atomic_load_explicit(&l->v, memory_order_acquire);
	}
}

static inline void spin_read_unlock(struct spin_rwlock *l)
{
	atomic_fetch_sub_explicit(&l->v, SPIN_READER, memory_order_release);
}

static void spin_write_lock(struct spin_rwlock *l)
{
	unsigned int expect = 0;

	while (!atomic_compare_exchange_weak_explicit(
		&l->v, &expect, SPIN_WRITER, memory_order_acquire,
		memory_order_relaxed)) {
		expect = 0;
		gpc_cpu_relax();
	}
}

static void spin_write_unlock(struct spin_rwlock *l)
{
	atomic_fetch_sub_explicit(&l->v, SPIN_WRITER, memory_order_release);
}

#endif
