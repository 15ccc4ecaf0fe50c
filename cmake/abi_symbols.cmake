# abi_symbols.cmake - fail if libgpc.so exports anything but the map's list.
#
#   cmake -DLIB=libgpc.so -DMAP=src/libgpc.map [-DNM=nm] -P abi_symbols.cmake
#
# Compares "symbol@node" pairs: the defined dynamic symbols of LIB (from
# `nm -D --defined-only`, with their version) against the names listed in
# each node of MAP. A symbol exported but not listed, listed but missing, or
# in the wrong node is an ABI change, and the test fails naming it.
if(NOT LIB OR NOT MAP)
  message(FATAL_ERROR "abi_symbols: LIB and MAP are required")
endif()
if(NOT NM)
  set(NM nm)
endif()

execute_process(COMMAND ${NM} -D --defined-only ${LIB}
                OUTPUT_VARIABLE out RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "abi_symbols: ${NM} failed on ${LIB}")
endif()
string(REPLACE "\n" ";" lines "${out}")
set(exported)
foreach(line IN LISTS lines)
  # "<addr> <type> name@@NODE"; the node names themselves (type A) are not
  # symbols.
  if(line MATCHES "^[0-9a-fA-F]* +[^A ] +([A-Za-z0-9_]+)@@?([A-Za-z0-9_.]+)$")
    list(APPEND exported "${CMAKE_MATCH_1}@${CMAKE_MATCH_2}")
  elseif(line MATCHES "^[0-9a-fA-F]* +[^A ] +([A-Za-z0-9_]+)$")
    list(APPEND exported "${CMAKE_MATCH_1}@(none)")
  endif()
endforeach()

file(READ ${MAP} map)
string(REGEX REPLACE "/\\*([^*]|\\*+[^*/])*\\*+/" "" map "${map}")
# ";" is CMake's list separator: drop the map's before splitting into lines.
string(REPLACE ";" "" map "${map}")
string(REPLACE "\n" ";" lines "${map}")
set(listed)
set(node "")
foreach(line IN LISTS lines)
  if(line MATCHES "^([A-Za-z0-9_.]+) *{")
    set(node ${CMAKE_MATCH_1})
  elseif(line MATCHES "^[ \t]*([A-Za-z0-9_]+)[ \t]*$")
    list(APPEND listed "${CMAKE_MATCH_1}@${node}")
  endif()
endforeach()

list(SORT exported)
list(SORT listed)
set(extra ${exported})
list(REMOVE_ITEM extra ${listed})
set(missing ${listed})
list(REMOVE_ITEM missing ${exported})
list(LENGTH exported n)
if(extra OR missing)
  message(FATAL_ERROR "abi_symbols: ${LIB} differs from ${MAP}\n"
          "  exported, not in the map: ${extra}\n"
          "  in the map, not exported: ${missing}")
endif()
message(STATUS "abi_symbols: ${n} symbols, as listed in ${MAP}")
