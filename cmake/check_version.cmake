# check_version.cmake - a tool's --version: exit 0 and "NAME libgpc VERSION".
#
#   cmake -DEXE=path -DNAME=gpcvm -DVERSION=0.2.0 -P check_version.cmake
if(NOT EXE OR NOT NAME OR NOT VERSION)
  message(FATAL_ERROR "check_version: EXE, NAME and VERSION are required")
endif()
execute_process(COMMAND ${EXE} --version OUTPUT_VARIABLE out
                ERROR_VARIABLE err RESULT_VARIABLE rc TIMEOUT 20)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "check_version: ${EXE} --version exited ${rc}\n${out}${err}")
endif()
if(NOT out STREQUAL "${NAME} libgpc ${VERSION}\n")
  message(FATAL_ERROR "check_version: ${EXE} --version printed\n'${out}'\n"
          "expected '${NAME} libgpc ${VERSION}'")
endif()
message(STATUS "check_version: ${out}")
