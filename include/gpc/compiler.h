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

/*
 * Atomics for headers that C and C++ both compile.
 *
 * The inline fast paths and the structs they read (struct gpc_srcu_slot,
 * struct gpc_cache, ...) use atomic objects. C11 spells them _Atomic(T) and
 * <stdatomic.h>, which C++ before C++23 does not know, so the headers say
 * GPC_ATOMIC(T) and gpc_atomic_load()/gpc_atomic_store()/..., which are:
 *  - in C: exactly _Atomic(T) and atomic_load_explicit() and friends, so
 *    the C types (and their DWARF) and the code C callers get are what
 *    they were before this shim (LIBGPC_0.1 is frozen);
 *  - in C++: std::atomic<T> and its member functions, with the same
 *    memory orders.
 *
 * Why std::atomic<T> and not something else:
 *  - C++23's <stdatomic.h> (P0943) defines _Atomic(T) as std::atomic<T>,
 *    i.e. this very mapping, but only from C++23 on (not C++20), only for
 *    the _Atomic(T) spelling, and not in every standard library yet;
 *  - clang accepts _Atomic in C++ as an extension, g++ does not;
 *  - hiding the atomics behind opaque types, or giving C++ only the
 *    out-of-line forms, would cost C++ callers the inline fast path.
 * The C++ standard does not promise that std::atomic<T> has T's size and
 * alignment, but it recommends layout compatibility with C, and both
 * libstdc++ and libc++ implement a lock-free std::atomic<T> as one T with
 * its alignment raised to its size, which is what gcc and clang do for a
 * C _Atomic(T). The static_asserts below check size, alignment and lock
 * freedom for every T the headers use (a lock-based atomic would also
 * break async-signal safety), and tests/cxx compares sizeof/offsetof of
 * every public struct as C and C++ compile them.
 *
 * C++ callers must not mix these objects with C++'s own notion of a C
 * _Atomic (there is none before C++23); they treat the structs as opaque
 * anyway. std::atomic members make the structs non-copyable in C++, which
 * is right: none of them may be copied.
 */
#ifdef __cplusplus
#include <atomic>
#include <cstdint>

namespace gpc_detail {
/*
 * GPC_ATOMIC(T) names std::atomic<T> through this class, so that using
 * the macro instantiates the checks for that T.
 */
template <typename T> struct atomic_of {
	static_assert(sizeof(std::atomic<T>) == sizeof(T),
		      "GPC_ATOMIC(T) must have the size of C's _Atomic(T)");
	static_assert(alignof(std::atomic<T>) == sizeof(T),
		      "GPC_ATOMIC(T) must have the alignment of C's _Atomic(T)");
	static_assert(std::atomic<T>::is_always_lock_free,
		      "GPC_ATOMIC(T) must be lock free, as the C side is");
	typedef std::atomic<T> type;
};
} // namespace gpc_detail

#define GPC_ATOMIC(T) gpc_detail::atomic_of<T>::type

#define GPC_MO_RELAXED std::memory_order_relaxed
#define GPC_MO_ACQUIRE std::memory_order_acquire
#define GPC_MO_RELEASE std::memory_order_release
#define GPC_MO_SEQ_CST std::memory_order_seq_cst

#define gpc_atomic_load(p, mo)	    ((p)->load(mo))
#define gpc_atomic_store(p, v, mo)  ((p)->store((v), (mo)))
/* The object exists already (C++ constructed it, or C code memset it). */
#define gpc_atomic_init(p, v)	    ((p)->store((v), std::memory_order_relaxed))
#define gpc_atomic_thread_fence(mo) std::atomic_thread_fence(mo)
#define gpc_atomic_signal_fence(mo) std::atomic_signal_fence(mo)
#define gpc_static_assert(e, msg)   static_assert(e, msg)
#elif defined(GPC_PLAIN_ATOMICS)
/*
 * For binding generators only (bindgen -- -DGPC_PLAIN_ATOMICS): bindgen 0.70
 * and older panic on C atomic types in arrays and variables, so here an
 * atomic field is its plain type, and the inline code uses the compiler's
 * __atomic builtins on it. The layout is the same as with _Atomic(T)
 * wherever every type the headers make atomic is naturally aligned (the
 * assert; test_cxx compares the layouts). Not for code that is compiled
 * into a program: C callers use the default (_Atomic) form.
 */
#define GPC_ATOMIC(T) __typeof__(T)
_Static_assert(_Alignof(unsigned long long) == sizeof(unsigned long long),
	       "GPC_PLAIN_ATOMICS: _Atomic(uint64_t) would be aligned more");

#define GPC_MO_RELAXED __ATOMIC_RELAXED
#define GPC_MO_ACQUIRE __ATOMIC_ACQUIRE
#define GPC_MO_RELEASE __ATOMIC_RELEASE
#define GPC_MO_SEQ_CST __ATOMIC_SEQ_CST

#define gpc_atomic_load(p, mo)	    __atomic_load_n((p), (mo))
#define gpc_atomic_store(p, v, mo)  __atomic_store_n((p), (v), (mo))
#define gpc_atomic_init(p, v)	    __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define gpc_atomic_thread_fence(mo) __atomic_thread_fence(mo)
#define gpc_atomic_signal_fence(mo) __atomic_signal_fence(mo)
#define gpc_static_assert(e, msg)   _Static_assert(e, msg)
#else
#include <stdatomic.h>

#define GPC_ATOMIC(T) _Atomic(T)

#define GPC_MO_RELAXED memory_order_relaxed
#define GPC_MO_ACQUIRE memory_order_acquire
#define GPC_MO_RELEASE memory_order_release
#define GPC_MO_SEQ_CST memory_order_seq_cst

#define gpc_atomic_load(p, mo)	    atomic_load_explicit((p), (mo))
#define gpc_atomic_store(p, v, mo)  atomic_store_explicit((p), (v), (mo))
#define gpc_atomic_init(p, v)	    atomic_init((p), (v))
#define gpc_atomic_thread_fence(mo) atomic_thread_fence(mo)
#define gpc_atomic_signal_fence(mo) atomic_signal_fence(mo)
#define gpc_static_assert(e, msg)   _Static_assert(e, msg)
#endif

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
 * Context: any context. This is the one thing C11 (and C++) atomics cannot express, so
 * it is the only architecture-specific code in the headers.
 */
static inline void gpc_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#else
	gpc_atomic_signal_fence(GPC_MO_SEQ_CST);
#endif
}

/*
 * gpc_barrier - compiler barrier.
 *
 * An atomic_signal_fence orders memory accesses against a signal handler
 * running on the same thread, which is exactly "the compiler may not move
 * accesses across this point" and emits no instruction.
 */
#define gpc_barrier() gpc_atomic_signal_fence(GPC_MO_SEQ_CST)

#endif /* GPC_COMPILER_H */
