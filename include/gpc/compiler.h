/* SPDX-License-Identifier: MIT */
/*
 * gpc/compiler.h - small compiler and CPU helpers shared by libgpc headers.
 *
 * Nothing here is specific to one concept; it exists so that the inline fast
 * paths in the other headers can say "likely", "relax the CPU" or "keep the
 * compiler from moving this" in one portable way.
 */
#ifndef GPC_COMPILER_H
#define GPC_COMPILER_H

#include <stdatomic.h>

/*
 * Fast-path helpers must be inlined into their caller for the read side to
 * cost what it should; at -O2 gcc otherwise keeps gpc_cache_begin() out of
 * line once a loop has a few call sites (about 20% more instructions).
 */
#define gpc_always_inline inline __attribute__((always_inline))

#define gpc_likely(x)	__builtin_expect(!!(x), 1)
#define gpc_unlikely(x) __builtin_expect(!!(x), 0)

/* Size used to keep independently written words on separate cache lines. */
#define GPC_CACHELINE	      64
#define gpc_cacheline_aligned __attribute__((aligned(GPC_CACHELINE)))

/*
 * gpc_cpu_relax - tell the CPU we are in a spin-wait loop.
 *
 * Context: any context. This is the one thing C11 atomics cannot express, so
 * it is the only architecture-specific code in the headers.
 */
static inline void gpc_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#else
	atomic_signal_fence(memory_order_seq_cst);
#endif
}

/*
 * gpc_barrier - compiler barrier.
 *
 * An atomic_signal_fence orders memory accesses against a signal handler
 * running on the same thread, which is exactly "the compiler may not move
 * accesses across this point" and emits no instruction.
 */
#define gpc_barrier() atomic_signal_fence(memory_order_seq_cst)

#endif /* GPC_COMPILER_H */
