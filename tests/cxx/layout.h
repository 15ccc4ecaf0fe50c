/* SPDX-License-Identifier: MIT */
/*
 * tests/cxx/layout.h - the layout of every public struct (and the size of
 * every public enum), as a table that a C translation unit (layout_c.c) and
 * a C++ one (layout_cxx.cpp) each build from this same list: test_cxx
 * compares the two entry by entry. The structs carry GPC_ATOMIC(T) fields,
 * _Atomic(T) in C and std::atomic<T> in C++ (gpc/compiler.h); this is
 * where a difference between the two would show.
 *
 * GPC_LAYOUT(S, F, E): S(s) for struct s (its size and alignment), F(s, f)
 * for each field f (its offset and size), E(e) for enum e (its size).
 * check_headers.sh fails if a struct defined in include/gpc is missing
 * here (a new public struct must be added, with all its fields).
 */
#ifndef GPC_TEST_CXX_LAYOUT_H
#define GPC_TEST_CXX_LAYOUT_H

#include <stddef.h>

#include <gpc/gpc.h>
#include <gpc/vhost.h> /* libgpc-vhost's structs */

/* clang-format off */
#define GPC_LAYOUT(S, F, E)                                                    \
	S(gpc_seqcount)                                                        \
	F(gpc_seqcount, seq)                                                   \
	S(gpc_srcu_slot)                                                       \
	F(gpc_srcu_slot, ctr) F(gpc_srcu_slot, events)                         \
	F(gpc_srcu_slot, user) F(gpc_srcu_slot, key)                           \
	S(gpc_srcu)                                                            \
	F(gpc_srcu, gp_ctr) F(gpc_srcu, gp_futex) F(gpc_srcu, reader_fence)    \
	F(gpc_srcu, id) F(gpc_srcu, tls_index) F(gpc_srcu, serial)             \
	F(gpc_srcu, key) F(gpc_srcu, magic) F(gpc_srcu, state)                 \
	S(gpc_srcu_attr)                                                       \
	F(gpc_srcu_attr, name) F(gpc_srcu_attr, stall_ms)                      \
	S(gpc_srcu_stats)                                                      \
	F(gpc_srcu_stats, gp_completed) F(gpc_srcu_stats, gp_shared)           \
	F(gpc_srcu_stats, membarriers) F(gpc_srcu_stats, sleeps)               \
	F(gpc_srcu_stats, stalls) F(gpc_srcu_stats, callbacks)                 \
	F(gpc_srcu_stats, slots) F(gpc_srcu_stats, reader_wakes)               \
	S(gpc_srcu_head)                                                       \
	F(gpc_srcu_head, next) F(gpc_srcu_head, func)                          \
	F(gpc_srcu_head, cookie)                                               \
	S(gpc_guard)                                                           \
	F(gpc_guard, slot) F(gpc_guard, srcu) F(gpc_guard, fence)              \
	S(gpc_cache_stats)                                                     \
	F(gpc_cache_stats, hits) F(gpc_cache_stats, misses)                    \
	F(gpc_cache_stats, refreshes) F(gpc_cache_stats, refresh_retries)      \
	F(gpc_cache_stats, refresh_waits) F(gpc_cache_stats, invalidations)    \
	F(gpc_cache_stats, maps) F(gpc_cache_stats, unmaps)                    \
	S(gpc_cache)                                                           \
	F(gpc_cache, srcu) F(gpc_cache, fast_key) F(gpc_cache, scheme)         \
	F(gpc_cache, flags) F(gpc_cache, seq) F(gpc_cache, khva)               \
	F(gpc_cache, len) F(gpc_cache, gen) F(gpc_cache, genp)                 \
	F(gpc_cache, magic) F(gpc_cache, rw) F(gpc_cache, hits)                \
	F(gpc_cache, misses) F(gpc_cache, vm) F(gpc_cache, priv)               \
	F(gpc_cache, reserved)                                                 \
	S(gpc_cache__begun)                                                    \
	F(gpc_cache__begun, p) F(gpc_cache__begun, slot)                       \
	F(gpc_cache__begun, fence)                                             \
	S(gpc_hostmem_ops)                                                     \
	F(gpc_hostmem_ops, name) F(gpc_hostmem_ops, translate)                 \
	F(gpc_hostmem_ops, map) F(gpc_hostmem_ops, unmap)                      \
	S(gpc_kvm_config)                                                      \
	F(gpc_kvm_config, device) F(gpc_kvm_config, kick_signal)               \
	S(gpc_kvm_exit)                                                        \
	F(gpc_kvm_exit, kind) F(gpc_kvm_exit, reason)                          \
	F(gpc_kvm_exit, requests) F(gpc_kvm_exit, evicted)                     \
	F(gpc_kvm_exit, kick_latency_ns)                                       \
	S(gpc_kvm_vcpu_stats)                                                  \
	F(gpc_kvm_vcpu_stats, runs) F(gpc_kvm_vcpu_stats, exits)               \
	F(gpc_kvm_vcpu_stats, kicked) F(gpc_kvm_vcpu_stats, evictions)         \
	F(gpc_kvm_vcpu_stats, bailouts) F(gpc_kvm_vcpu_stats, kicks_sent)      \
	F(gpc_kvm_vcpu_stats, request_exits)                                   \
	S(gpc_kvm_vcpu_ops)                                                    \
	F(gpc_kvm_vcpu_ops, pre_entry) F(gpc_kvm_vcpu_ops, post_exit)          \
	S(gpc_memslot_info)                                                    \
	F(gpc_memslot_info, id) F(gpc_memslot_info, flags)                     \
	F(gpc_memslot_info, gpa) F(gpc_memslot_info, size)                     \
	F(gpc_memslot_info, hva) F(gpc_memslot_info, generation)               \
	S(gpc_memslot_desc)                                                    \
	F(gpc_memslot_desc, id) F(gpc_memslot_desc, flags)                     \
	F(gpc_memslot_desc, gpa) F(gpc_memslot_desc, size)                     \
	F(gpc_memslot_desc, hva) F(gpc_memslot_desc, uaddr)                    \
	F(gpc_memslot_desc, generation) F(gpc_memslot_desc, reserved)          \
	S(gpc_memslot_change)                                                  \
	F(gpc_memslot_change, op) F(gpc_memslot_change, reserved)              \
	F(gpc_memslot_change, old_slot) F(gpc_memslot_change, new_slot)        \
	S(gpc_memslot_listener)                                                \
	F(gpc_memslot_listener, prepare) F(gpc_memslot_listener, abort)        \
	F(gpc_memslot_listener, commit) F(gpc_memslot_listener, ctx)           \
	F(gpc_memslot_listener, flags) F(gpc_memslot_listener, reserved0)      \
	F(gpc_memslot_listener, reserved)                                      \
	S(gpc_vcpu_stats)                                                      \
	F(gpc_vcpu_stats, entries) F(gpc_vcpu_stats, entry_bailouts)           \
	F(gpc_vcpu_stats, kicks) F(gpc_vcpu_stats, requests_handled)           \
	S(gpc_vm_config)                                                       \
	F(gpc_vm_config, scheme) F(gpc_vm_config, hostmem)                     \
	F(gpc_vm_config, hostmem_ctx) F(gpc_vm_config, max_memslots)           \
	F(gpc_vm_config, srcu_stall_ms) F(gpc_vm_config, name)                 \
	S(gpc_vm_stats)                                                        \
	F(gpc_vm_stats, hits) F(gpc_vm_stats, misses)                          \
	F(gpc_vm_stats, refreshes) F(gpc_vm_stats, refresh_retries)            \
	F(gpc_vm_stats, refresh_waits) F(gpc_vm_stats, invalidations)          \
	F(gpc_vm_stats, inval_caches) F(gpc_vm_stats, inval_eagain)            \
	F(gpc_vm_stats, inval_pending_lapsed) F(gpc_vm_stats, kicks)           \
	F(gpc_vm_stats, reader_wait_ns) F(gpc_vm_stats, vcpu_wait_ns)          \
	F(gpc_vm_stats, memslot_changes) F(gpc_vm_stats, active_caches)        \
	S(gpc_vhost_req)                                                       \
	F(gpc_vhost_req, queue) F(gpc_vhost_req, queue_index)                  \
	F(gpc_vhost_req, head) F(gpc_vhost_req, nr_read)                       \
	F(gpc_vhost_req, nr_write) F(gpc_vhost_req, read_len)                  \
	F(gpc_vhost_req, write_len) F(gpc_vhost_req, iov)                      \
	F(gpc_vhost_req, priv)                                                 \
	S(gpc_vhost_device)                                                    \
	F(gpc_vhost_device, name) F(gpc_vhost_device, features)                \
	F(gpc_vhost_device, features_mask) F(gpc_vhost_device, num_queues)     \
	F(gpc_vhost_device, queue_size_max) F(gpc_vhost_device, seg_max)       \
	F(gpc_vhost_device, req_priv_size) F(gpc_vhost_device, config_size)    \
	F(gpc_vhost_device, get_config) F(gpc_vhost_device, set_config)        \
	F(gpc_vhost_device, queue_start) F(gpc_vhost_device, queue_stop)       \
	F(gpc_vhost_device, request) F(gpc_vhost_device, bad_request)          \
	F(gpc_vhost_device, queue_poll)                                        \
	S(gpc_vhost_config)                                                    \
	F(gpc_vhost_config, socket_path) F(gpc_vhost_config, flags)            \
	F(gpc_vhost_config, scheme) F(gpc_vhost_config, workers)               \
	F(gpc_vhost_config, log) F(gpc_vhost_config, log_ctx)                  \
	S(gpc_vhost_stats)                                                     \
	F(gpc_vhost_stats, connections) F(gpc_vhost_stats, messages)           \
	F(gpc_vhost_stats, refused_messages) F(gpc_vhost_stats, requests)      \
	F(gpc_vhost_stats, bad_requests) F(gpc_vhost_stats, kicks)             \
	F(gpc_vhost_stats, calls) F(gpc_vhost_stats, mem_adds)                 \
	F(gpc_vhost_stats, mem_removes)                                        \
	F(gpc_vhost_stats, removal_wait_ns_max)                                \
	F(gpc_vhost_stats, iotlb_updates)                                      \
	F(gpc_vhost_stats, iotlb_invalidations)                                \
	F(gpc_vhost_stats, iotlb_misses) F(gpc_vhost_stats, stale_accesses)    \
	E(gpc_usage) E(gpc_scheme) E(gpc_kvm_exit_kind) E(gpc_log_level)
/* clang-format on */

struct gpc_layout_entry {
	const char *what; /* "struct size", "struct.field offset", ... */
	size_t value;
};

#ifdef __cplusplus
extern "C" {
#endif

/*
 * layout_c.c's table (compiled as C), the same compiled with
 * GPC_PLAIN_ATOMICS (what a binding generator sees: layout_plain.c) and
 * layout_cxx.cpp's (as C++).
 */
extern const struct gpc_layout_entry gpc_layout_c[];
extern const size_t gpc_layout_c_count;
extern const struct gpc_layout_entry gpc_layout_plain[];
extern const size_t gpc_layout_plain_count;
extern const struct gpc_layout_entry gpc_layout_cxx[];
extern const size_t gpc_layout_cxx_count;

#ifdef __cplusplus
}
#endif

#endif /* GPC_TEST_CXX_LAYOUT_H */
