# fuzz/run_bounded.cmake - a bounded libFuzzer run (the ctest tests
# fuzz_*_bounded).
#
#   cmake -DFUZZER=... -DCORPUS=fuzz/corpus -DWORK=<dir> -DSECONDS=45 -P run_bounded.cmake
#
# Copies the seed corpus to WORK/corpus (the repository is never written),
# runs the fuzzer for SECONDS with a 10 s per-input timeout, and fails if it
# found a crash, a model mismatch or a timeout; the reproducer is then in
# WORK (crash-*, timeout-*, leak-*).

foreach(v FUZZER CORPUS WORK SECONDS)
  if(NOT DEFINED ${v})
    message(FATAL_ERROR "run_bounded.cmake: -D${v}=... is required")
  endif()
endforeach()

file(REMOVE_RECURSE ${WORK}/corpus)
file(MAKE_DIRECTORY ${WORK}/corpus)
file(GLOB seeds ${CORPUS}/*)
if(NOT seeds)
  message(FATAL_ERROR "run_bounded.cmake: no seeds in ${CORPUS}")
endif()
file(COPY ${seeds} DESTINATION ${WORK}/corpus)

execute_process(
  COMMAND ${FUZZER} -max_total_time=${SECONDS} -timeout=10
          -print_final_stats=1 -artifact_prefix=${WORK}/ ${WORK}/corpus
  RESULT_VARIABLE rc)
get_filename_component(name ${FUZZER} NAME)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${name} failed (${rc}); reproducer in ${WORK}/ "
                      "(run: ${FUZZER} <file>)")
endif()
