/* SPDX-License-Identifier: MIT */
/*
 * gpc/seqcount.h - sequence counter for consistent snapshots without locks.
 *
 * A writer makes the count odd, updates the protected fields, and makes it
 * even again; a reader reads the count, the fields, and the count again, and
 * keeps its snapshot only if both counts are equal and even. Writers must be
 * serialized by a lock of their own (the seqcount is not a lock).
 *
 * Protected fields must be accessed with relaxed atomics on both sides (for
 * example atomic_load_explicit(..., memory_order_relaxed), or
 * gpc_atomic_load(..., GPC_MO_RELAXED) in code that C++ compiles too): a
 * reader may read them while a writer changes them, and only the retry check decides whether
 * what it read is used. The fences below follow Boehm, "Can seqlocks get
 * along with programming language memory models?" (MSPC 2012).
 *
 * Two reader forms:
 *  - gpc_seqcount_read_begin() waits while a writer is inside (it spins), then
 *    gpc_seqcount_read_retry() says whether to go again: simple, but a reader
 *    that preempted the writer on its CPU (a real-time thread, a signal
 *    handler on the writer's own thread) would spin forever;
 *  - gpc_seqcount_read_try() never waits: it fails at once if a writer is
 *    inside, and gpc_seqcount_read_bounded_*() wraps it in a fixed number of
 *    attempts that ends in "writer in progress". Use it wherever the reader
 *    must not wait for a writer; the caller turns the failure into a miss
 *    and takes its slow path. This is what the gfn-to-pfn cache's fast path
 *    uses.
 *
 * Signal handlers: gpc_seqcount_write_begin_sigsafe() blocks all signals
 * for the duration of the write section, so a handler can never observe the
 * odd count of its own thread and the spinning form stays safe inside it.
 */
#ifndef GPC_SEQCOUNT_H
#define GPC_SEQCOUNT_H

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>

#include <gpc/compiler.h>

#ifdef __cplusplus
extern "C" {
#endif

struct gpc_seqcount {
	GPC_ATOMIC(unsigned int) seq;
};

#define GPC_SEQCOUNT_INIT \
	{                 \
		0         \
	}

/* Default number of attempts of the bounded reader. */
#define GPC_SEQCOUNT_TRIES 4

/**
 * gpc_seqcount_init - set @s to its initial (even) state.
 *
 * Context: any context.
 */
static inline void gpc_seqcount_init(struct gpc_seqcount *s)
{
	gpc_atomic_init(&s->seq, 0);
}

/**
 * gpc_seqcount_read_try - start a read attempt unless a writer is inside.
 * @s: the counter.
 * @start: receives the count to pass to gpc_seqcount_read_retry().
 *
 * Return: true if no writer was inside (go ahead and read), false if one was
 * (the caller should treat it as a miss rather than wait).
 * Context: any context, async-signal-safe; never spins.
 */
static gpc_always_inline bool
gpc_seqcount_read_try(const struct gpc_seqcount *s, unsigned int *start)
{
	/* Acquire: our field loads happen after this count load. */
	unsigned int v = gpc_atomic_load(&s->seq, GPC_MO_ACQUIRE);

	*start = v;
	return !(v & 1);
}

/**
 * gpc_seqcount_read_begin - start a read, waiting while a writer is inside.
 *
 * Return: the count to pass to gpc_seqcount_read_retry().
 * Context: may spin while a writer is inside. Never call it where the writer
 * may be unable to run (a real-time thread sharing the writer's CPU, a
 * signal handler of a thread that writes without
 * gpc_seqcount_write_begin_sigsafe()).
 */
static inline unsigned int gpc_seqcount_read_begin(const struct gpc_seqcount *s)
{
	unsigned int v;

	while (!gpc_seqcount_read_try(s, &v))
		gpc_cpu_relax();
	return v;
}

/**
 * gpc_seqcount_read_retry - did a writer run since @start?
 *
 * Return: true if the values read since the matching begin/try may be
 * inconsistent and must be discarded.
 * Context: any context, async-signal-safe.
 */
static gpc_always_inline bool
gpc_seqcount_read_retry(const struct gpc_seqcount *s, unsigned int start)
{
	/*
	 * Acquire fence: the field loads above are ordered before the count
	 * load below. Pairs with the release fence in write_begin: if we read
	 * any value a writer stored after making the count odd, we also see
	 * the odd (or a later) count here.
	 */
	gpc_atomic_thread_fence(GPC_MO_ACQUIRE);
	return gpc_atomic_load(&s->seq, GPC_MO_RELAXED) != start;
}

/**
 * gpc_seqcount_read_bounded_begin - first step of a bounded read loop.
 * @s: the counter.
 * @start: receives the count.
 * @tries: attempts left; the caller initialises it (e.g. GPC_SEQCOUNT_TRIES).
 *
 * Use as:
 *
 *	int tries = GPC_SEQCOUNT_TRIES;
 *	unsigned int seq;
 *	while (gpc_seqcount_read_bounded_begin(s, &seq, &tries)) {
 *		... relaxed loads of the fields ...
 *		if (!gpc_seqcount_read_retry(s, seq))
 *			return snapshot;
 *	}
 *	return miss;    // a writer was in progress
 *
 * Return: true to attempt a read; false when a writer is inside or the
 * attempts are used up.
 * Context: any context, async-signal-safe; never spins on a writer.
 */
static gpc_always_inline bool
gpc_seqcount_read_bounded_begin(const struct gpc_seqcount *s,
				unsigned int *start, int *tries)
{
	if (*tries <= 0)
		return false;
	(*tries)--;
	return gpc_seqcount_read_try(s, start);
}

/**
 * gpc_seqcount_write_begin - enter a write section.
 *
 * The caller holds the lock that serializes writers of @s.
 *
 * Context: any context in which the caller may hold its writer lock.
 */
static inline void gpc_seqcount_write_begin(struct gpc_seqcount *s)
{
	unsigned int v = gpc_atomic_load(&s->seq, GPC_MO_RELAXED);

	gpc_atomic_store(&s->seq, v + 1, GPC_MO_RELAXED);
	/*
	 * Release fence: the odd count is ordered before the field stores
	 * that follow. Pairs with the acquire fence in read_retry.
	 */
	gpc_atomic_thread_fence(GPC_MO_RELEASE);
}

/**
 * gpc_seqcount_write_end - leave a write section.
 *
 * Context: as gpc_seqcount_write_begin().
 */
static inline void gpc_seqcount_write_end(struct gpc_seqcount *s)
{
	unsigned int v = gpc_atomic_load(&s->seq, GPC_MO_RELAXED);

	/* Release: the field stores are visible before the even count. */
	gpc_atomic_store(&s->seq, v + 1, GPC_MO_RELEASE);
}

/**
 * gpc_seqcount_write_begin_sigsafe - write_begin with all signals blocked.
 * @saved: receives the caller's signal mask, for write_end_sigsafe().
 *
 * A signal handler of this thread cannot run while the count is odd, so a
 * handler that reads @s, even with the spinning form, cannot wait for a
 * writer it interrupted. Costs two system calls.
 *
 * Context: may be called from any thread, including a signal handler.
 */
static inline void gpc_seqcount_write_begin_sigsafe(struct gpc_seqcount *s,
						    sigset_t *saved)
{
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, saved);
	gpc_seqcount_write_begin(s);
}

/**
 * gpc_seqcount_write_end_sigsafe - write_end, then restore the signal mask.
 *
 * Context: as gpc_seqcount_write_begin_sigsafe().
 */
static inline void gpc_seqcount_write_end_sigsafe(struct gpc_seqcount *s,
						  const sigset_t *saved)
{
	gpc_seqcount_write_end(s);
	pthread_sigmask(SIG_SETMASK, saved, NULL);
}

/**
 * gpc_seqcount_raw - current count, for diagnostics and tests.
 *
 * Return: the count (odd while a writer is inside), a relaxed load: no
 * ordering against the data it protects. @s is not checked (inline).
 * Context: any context.
 */
static inline unsigned int gpc_seqcount_raw(const struct gpc_seqcount *s)
{
	return gpc_atomic_load(&s->seq, GPC_MO_RELAXED);
}

#ifdef __cplusplus
}
#endif

#endif /* GPC_SEQCOUNT_H */
