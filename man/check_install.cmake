# check_install.cmake - the installed man pages work with man(1).
#
#   cmake -DBUILD=build -DPREFIX=/tmp/x -P check_install.cmake
#
# Installs only the "man" component into PREFIX, then formats a function
# page, a header page and libgpc(7) with `man -M PREFIX/share/man` (or, where
# man is missing, groff on the installed file). Prints "man_install:
# SKIPPED" when neither is there.
file(REMOVE_RECURSE ${PREFIX})
execute_process(COMMAND ${CMAKE_COMMAND} --install ${BUILD} --prefix ${PREFIX}
                        --component man
                RESULT_VARIABLE rc OUTPUT_QUIET)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "man_install: cmake --install --component man failed")
endif()
include(GNUInstallDirs)
set(mandir ${PREFIX}/${CMAKE_INSTALL_MANDIR})
find_program(MAN man)
find_program(GROFF groff)
if(NOT MAN AND NOT GROFF)
  message(STATUS "man_install: SKIPPED: neither man nor groff is installed")
  return()
endif()
set(ENV{MANWIDTH} 80)
set(ENV{MAN_KEEP_FORMATTING} "")
foreach(entry "3;gpc_cache_begin" "7;gpc_cache.h" "7;libgpc")
  list(GET entry 0 sect)
  list(GET entry 1 name)
  if(NOT EXISTS ${mandir}/man${sect}/${name}.${sect})
    message(FATAL_ERROR "man_install: ${mandir}/man${sect}/${name}.${sect} "
            "was not installed")
  endif()
  if(MAN)
    execute_process(COMMAND ${MAN} -M ${mandir} -P cat ${sect} ${name}
                    OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
  else()
    execute_process(COMMAND ${GROFF} -man -Tutf8 -ww
                            ${mandir}/man${sect}/${name}.${sect}
                    OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
  endif()
  if(NOT rc EQUAL 0 OR NOT out MATCHES "NAME" OR NOT out MATCHES "${name}"
     OR err)
    message(FATAL_ERROR "man_install: ${name}(${sect}) (exit ${rc}):\n"
            "${out}\n${err}")
  endif()
endforeach()
message(STATUS "man_install: man -M ${mandir} shows gpc_cache_begin(3), "
        "gpc_cache.h(7) and libgpc(7)")
