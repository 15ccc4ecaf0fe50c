# Run "bench --quick" (the driver, path in DRIVER; results into RESULTS) and
# check that it exits 0, prints every ratio line and every target line of
# bench_read and of bench_cache's suites 1-5, says what it did about suite 6,
# and drew the plots when gnuplot is installed. Values are not checked: they
# depend on the machine (docs/performance.md has a full run's).

cmake_minimum_required(VERSION 3.25) # IN_LIST

if(NOT DRIVER OR NOT RESULTS)
  message(FATAL_ERROR
    "usage: cmake -DDRIVER=build/bench/bench -DRESULTS=dir -P check_all_quick.cmake")
endif()

execute_process(COMMAND ${DRIVER} --quick --results ${RESULTS}
  OUTPUT_VARIABLE out
  ERROR_VARIABLE err
  RESULT_VARIABLE rc)
message("${out}")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "bench --quick failed (${rc}):\n${err}")
endif()

# bench_read (the same lists as check_quick.cmake)
set(ratios
  srcu_read_vs_urcu_memb
  srcu_read_vs_urcu_memb_2t
  srcu_seq_store_vs_raw
  rwlock_vs_srcu_seq_1t
  rwlock_vs_srcu_seq_2t
  ck_vs_srcu_1t
  spin_rwlock_vs_srcu_seq_2t
  srcu_sync_idle_vs_urcu_sync_idle
  srcu_sync_busy_vs_urcu_sync_busy)
set(targets
  srcu_read_vs_urcu_memb
  srcu_seq_store_vs_raw
  srcu_sync_busy_vs_urcu_sync_busy)

# bench_cache: suite 1 fast path, 2 invalidation, 3 storms, 4 scale, 5 rt
list(APPEND ratios
  fast_srcu_vs_raw
  fast_srcu_vs_urcu
  fast_rwlock_vs_srcu_1t
  fast_rwlock_vs_srcu_2t_shared
  fast_rwlock_vs_srcu_2t_private
  ool_vs_inline
  ool_vs_inline_rwlock
  ool_vs_inline_srcu_read
  ool_vs_inline_cpu
  inval_busy_vs_urcu_sync_busy
  inval_idle_vs_urcu_sync_idle
  refresh_unrelated_storm_p99_vs_idle_p99
  refresh_kvm_policy_unrelated_storm_done_fraction
  inval_100k_vs_10_caches
  inval_miss_100k_vs_10_caches
  lookup_32k_vs_1_slots
  lookup_32k_vs_1_slots_same_gpa
  translate_own_vs_lookup_1
  translate_own_vs_lookup_512
  translate_open_vs_lookup_1
  translate_open_vs_lookup_512
  translate_open_vs_raw_1
  translate_open_vs_raw_512
  translate_uaddr_vs_gpa_512
  translate_hva_vs_gpa_512
  translate_iov_vs_gpa_512
  rt_fifo_rwlock_max_vs_srcu_max
  rt_fifo_rwlock_p99_vs_srcu_p99
  rt_signal_rwlock_max_vs_srcu_max
  domain_slow_vs_fast_section
  domain_slow_vs_fast_srcu_cache
  domain_slow_vs_fast_rwlock_cache
  domain_shared_vs_separate_gp_busy_mean
  # bench_cache suite 9 (memslot transactions)
  txn_commit_1_vs_1_single
  txn_commit_8_vs_8_single
  txn_commit_64_vs_64_single)
list(APPEND targets
  fast_srcu_vs_raw
  fast_srcu_vs_urcu
  fast_rwlock_vs_srcu_1t
  fast_rwlock_vs_srcu_2t_shared
  ool_vs_inline
  inval_busy_vs_urcu_sync_busy
  refresh_unrelated_storm_p99_vs_idle_p99
  inval_100k_vs_10_caches
  lookup_32k_vs_1_slots
  translate_own_vs_lookup_512
  rt_signal_srcu_max_us
  txn_commit_1_vs_1_single
  txn_commit_64_vs_64_single)
# Suite 5's SCHED_FIFO part may be refused (not root, no RT budget): then
# its ratios say "skipped (...)" and its target line is absent.
set(may_skip
  rt_fifo_rwlock_max_vs_srcu_max
  rt_fifo_rwlock_p99_vs_srcu_p99)

# Suite 6 (end to end, the reference VMM: gpcvm --bench). Its ratios are
# required when the driver says it ran it, not when it skipped it (gpcvm not
# built, or exit status 77).
set(E2E_RATIOS
  e2e_srcu_vs_rwlock_events_per_s
  e2e_rwlock_vs_srcu_delivery_p99)
if(out MATCHES "(^|\n)suite 6 \\(end to end\\): running" AND
   NOT out MATCHES "(^|\n)suite 6 \\(end to end\\): skipped")
  list(APPEND ratios ${E2E_RATIOS})
endif()

# Suite 7 (bench_vhost): its ratios are required when it ran (both programs
# built: it did not print "suite 7: skipped"); the qsd ones when
# qemu-storage-daemon was there.
if(out MATCHES "==== suite 7 vhost-user-blk" AND
   NOT out MATCHES "(^|\n)suite 7: skipped")
  list(APPEND ratios vhost_churn_p99_vs_idle_p99 vhost_rem_reply_p99_us)
  # The end-to-end row skips with its reason when QEMU or the cached guest
  # kernel is missing (bench_vhost_e2e.c).
  list(APPEND ratios e2e_vhost_vs_qsd)
  list(APPEND may_skip e2e_vhost_vs_qsd)
  if(NOT out MATCHES "qsd rows n/a")
    list(APPEND ratios vhost_iops_vs_qsd_1q vhost_iops_vs_qsd_2q
         qsd_churn_p99_vs_idle_p99)
  endif()
endif()

set(num "-?[0-9]+\\.[0-9][0-9][0-9]")
set(missing "")
foreach(r IN LISTS ratios)
  if(r IN_LIST may_skip)
    set(val "(${num}|skipped [^\n]*)")
  else()
    set(val "${num}")
  endif()
  if(NOT out MATCHES "(^|\n)ratio ${r} ${val}\n")
    list(APPEND missing "ratio ${r}")
  endif()
endforeach()
foreach(t IN LISTS targets)
  if(NOT out MATCHES "(^|\n)target ${t} ${num} (<=|>=) [0-9.]+ (met|MISSED)\n")
    list(APPEND missing "target ${t}")
  endif()
endforeach()
if(out MATCHES "(^|\n)ratio rt_fifo_rwlock_max_vs_srcu_max ${num}\n" AND
   NOT out MATCHES "(^|\n)target rt_fifo_srcu_max_us ${num} <= [0-9.]+ (met|MISSED)\n")
  list(APPEND missing "target rt_fifo_srcu_max_us")
endif()
if(NOT out MATCHES "(^|\n)suite 6 \\(end to end\\): (running|skipped)")
  list(APPEND missing "the suite 6 line")
endif()

# Plots: one PNG per script, unless gnuplot is not installed.
find_program(GNUPLOT gnuplot)
if(GNUPLOT)
  foreach(png fastpath inval refresh scale rt)
    if(NOT EXISTS ${RESULTS}/${png}.png)
      list(APPEND missing "plot ${png}.png")
    endif()
  endforeach()
endif()

if(missing)
  list(JOIN missing ", " missing)
  message(FATAL_ERROR "bench --quick did not produce: ${missing}")
endif()
