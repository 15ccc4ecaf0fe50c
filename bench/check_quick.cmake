# Run "bench_read --quick" (path in BENCH) and check that it exits 0 and
# prints every ratio line and every target line, whatever their values.
# A plain PASS_REGULAR_EXPRESSION cannot do this: it passes when any one of
# its expressions matches.

if(NOT BENCH)
  message(FATAL_ERROR "usage: cmake -DBENCH=/path/to/bench_read -P check_quick.cmake")
endif()

execute_process(COMMAND ${BENCH} --quick
  OUTPUT_VARIABLE out
  ERROR_VARIABLE err
  RESULT_VARIABLE rc)
message("${out}")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "bench_read --quick failed (${rc}):\n${err}")
endif()

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

set(num "-?[0-9]+\\.[0-9][0-9][0-9]")
set(missing "")
foreach(r IN LISTS ratios)
  if(NOT out MATCHES "(^|\n)ratio ${r} ${num}\n")
    list(APPEND missing "ratio ${r}")
  endif()
endforeach()
foreach(t IN LISTS targets)
  if(NOT out MATCHES "(^|\n)target ${t} ${num} <= [0-9.]+ (met|MISSED)\n")
    list(APPEND missing "target ${t}")
  endif()
endforeach()
if(missing)
  list(JOIN missing ", " missing)
  message(FATAL_ERROR "bench_read --quick did not print: ${missing}")
endif()
