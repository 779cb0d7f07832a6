# Fully static links (BH_STATIC=ON, see aarch64-linux-gnu.cmake): runs as CMAKE_PROJECT_INCLUDE,
# right after project() and before the project's find_package calls, and puts static forms of
# the dependencies in their place. Debian ships static archives for glibc, libstdc++, SQLite and
# mbedTLS, but none for {fmt}, toml++ and simdjson:
#   {fmt}, toml++  header-only mode (both support it; the installed headers suffice);
#   simdjson       compiled here from Debian's own source of the installed version
#                  (BH_SIMDJSON_SOURCE, fetched by toolchain/debian-source.sh).
set(CMAKE_FIND_LIBRARY_SUFFIXES .a)

# An export file skips its targets when all of them already exist.
add_library(fmt::fmt INTERFACE IMPORTED)
set_target_properties(fmt::fmt PROPERTIES INTERFACE_COMPILE_DEFINITIONS FMT_HEADER_ONLY=1)
add_library(fmt::fmt-header-only INTERFACE IMPORTED)
set_target_properties(fmt::fmt-header-only PROPERTIES INTERFACE_COMPILE_DEFINITIONS FMT_HEADER_ONLY=1)

add_library(tomlplusplus::tomlplusplus INTERFACE IMPORTED)
set_target_properties(tomlplusplus::tomlplusplus PROPERTIES INTERFACE_COMPILE_DEFINITIONS TOML_HEADER_ONLY=1)

if(NOT BH_SIMDJSON_SOURCE OR NOT EXISTS "${BH_SIMDJSON_SOURCE}/singleheader/simdjson.cpp")
  message(FATAL_ERROR "BH_STATIC needs -DBH_SIMDJSON_SOURCE=<simdjson source tree> "
                      "(toolchain/debian-source.sh simdjson prints it)")
endif()
# Built before the project's add_compile_options: third-party code, not held to -Werror.
add_library(bh_simdjson_static STATIC "${BH_SIMDJSON_SOURCE}/singleheader/simdjson.cpp")
target_include_directories(bh_simdjson_static SYSTEM PUBLIC "${BH_SIMDJSON_SOURCE}/singleheader")
target_compile_definitions(bh_simdjson_static PRIVATE SIMDJSON_THREADS_ENABLED=0)
# The project finds simdjson by header and library (find_library leaves a set cache entry alone);
# a project that uses simdjson's CMake package gets the same archive.
set(SIMDJSON_LIB bh_simdjson_static CACHE STRING "simdjson, built from source for the static link" FORCE)
add_library(simdjson::simdjson ALIAS bh_simdjson_static)
