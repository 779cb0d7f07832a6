# Build step: turns a text file into a C++ header holding it as one std::string_view constant (a
# raw string literal), so a file such as the status page ships inside the binary, in static memory.
# Usage: cmake -DIN=<file> -DOUT=<header> -DNAME=<constant> [-DMAX_BYTES=<n>] -P embed_text.cmake
# Fails the build if the file is larger than MAX_BYTES or holds the literal's closing delimiter.
file(READ "${IN}" content)
string(LENGTH "${content}" size)
if(DEFINED MAX_BYTES AND size GREATER_EQUAL MAX_BYTES)
  message(FATAL_ERROR "${IN}: ${size} bytes, the limit is below ${MAX_BYTES}")
endif()
string(FIND "${content}" ")bh_embed\"" clash)
if(NOT clash EQUAL -1)
  message(FATAL_ERROR "${IN} contains the raw string delimiter )bh_embed\"")
endif()
set(text "// Generated from ${IN} by cmake/embed_text.cmake: do not edit.\n#pragma once\n#include <string_view>\n\nnamespace bh {\ninline constexpr std::string_view ${NAME} = R\"bh_embed(${content})bh_embed\";\ninline constexpr std::size_t ${NAME}Bytes = ${size};\n}  // namespace bh\n")
# Rewritten only when it changes: no rebuild of its users otherwise.
if(EXISTS "${OUT}")
  file(READ "${OUT}" old)
  if(old STREQUAL text)
    return()
  endif()
endif()
file(WRITE "${OUT}" "${text}")
