# A layering check run by CTest (tests/CMakeLists.txt, layers.*): compiles two one-line files with
# a layer's own include directories, the ones its sources are compiled with:
#   - one including a header the layer may use (ALLOWED): must compile (the probe itself works);
#   - one including a header of a layer above (FORBIDDEN): must fail, because that header is not
#     found (any other failure fails the check too).
# Usage: cmake -DCXX=<compiler> -DINCLUDES=<dir|dir|...> -DALLOWED=<header> -DFORBIDDEN=<header>
#              -DWORK=<scratch dir> [-DIMPLICIT=<dir|...>] -P layer_probe.cmake
foreach(v CXX INCLUDES ALLOWED FORBIDDEN WORK)
  if(NOT DEFINED ${v})
    message(FATAL_ERROR "layer_probe: -D${v}= missing")
  endif()
endforeach()
string(REPLACE "|" ";" dirs "${INCLUDES}")
# The compiler's own directories (/usr/include, ...) are left out, as CMake leaves them out of
# every compile line (an explicit -I/usr/include breaks libstdc++'s #include_next).
string(REPLACE "|" ";" implicit "${IMPLICIT}")
if(implicit)
  list(REMOVE_ITEM dirs ${implicit})
endif()
set(flags -std=c++20 -fsyntax-only)
foreach(d ${dirs})
  list(APPEND flags "-I${d}")
endforeach()
file(MAKE_DIRECTORY "${WORK}")

file(WRITE "${WORK}/allowed.cpp" "#include \"${ALLOWED}\"\n")
execute_process(COMMAND ${CXX} ${flags} "${WORK}/allowed.cpp" RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "the allowed include \"${ALLOWED}\" did not compile (the probe is broken):\n${out}")
endif()

file(WRITE "${WORK}/forbidden.cpp" "#include \"${FORBIDDEN}\"\n")
execute_process(COMMAND ${CXX} ${flags} "${WORK}/forbidden.cpp" RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(rc EQUAL 0)
  message(FATAL_ERROR "the upward include \"${FORBIDDEN}\" compiled: the layer can see a layer above it")
endif()
string(REPLACE "." "\\." pattern "${FORBIDDEN}")
if(NOT out MATCHES "${pattern}'?: No such file or directory|'${pattern}' file not found")
  message(FATAL_ERROR "the upward include \"${FORBIDDEN}\" failed, but not as \"not found\":\n${out}")
endif()
message(STATUS "\"${ALLOWED}\" compiles, \"${FORBIDDEN}\" is not found: layering holds")
