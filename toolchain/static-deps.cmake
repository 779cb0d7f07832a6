# Fully static links (BH_STATIC=ON, see aarch64-linux-gnu.cmake): runs as CMAKE_PROJECT_INCLUDE,
# right after project() and before the project's find_package calls, and puts static forms of
# the dependencies in their place. Debian ships static archives for glibc, libstdc++, SQLite and
# mbedTLS, but none for {fmt}, toml++ and simdjson:
#   {fmt}, toml++  header-only mode (both support it; the installed headers suffice);
#   simdjson       compiled here from Debian's own source of the installed version
#                  (BH_SIMDJSON_SOURCE, fetched by toolchain/debian-source.sh).
set(CMAKE_FIND_LIBRARY_SUFFIXES .a)

# Size (the image's budget: `make static` fails over 4 MiB, toolchain/check-size.sh): -O2 rather
# than the Release default -O3, every function and object in its own section, and the link drops
# the sections nothing references. Applies to everything compiled here (the project, its tests,
# simdjson, the header-only {fmt} and toml++); Debian's archives come as they are.
string(REPLACE "-O3" "-O2" CMAKE_C_FLAGS_RELEASE "${CMAKE_C_FLAGS_RELEASE}")
string(REPLACE "-O3" "-O2" CMAKE_CXX_FLAGS_RELEASE "${CMAKE_CXX_FLAGS_RELEASE}")
add_compile_options(-ffunction-sections -fdata-sections)
add_link_options(-Wl,--gc-sections)
# Segments aligned to 4 KiB pages, not aarch64's default 64 KiB: Debian's arm64 kernel and the Pi's
# run 4 KiB pages, and the 64 KiB alignment padded the file by up to 64 KiB per segment.
add_link_options(-Wl,-z,max-page-size=4096)
# Compiled for size (-Os): the application layer (firmware/: wiring, config loader, console
# commands, admin, the status page) and every part of platform/ but the per-event path: core/
# (pools, tasks, reactor), ingest/, alloc/, the committer and the WAL syncer keep -O2, and so does
# simdjson. firmware/ and platform/CMakeLists.txt apply it. With TLS ingest, MQTT and the status
# page the image's binary was 4 191 904 B (4 290 976 B with only the operator-facing parts at -Os);
# with SQLite's amalgamation (below) 3 895 200 B.
set(BH_APP_SIZE_FLAGS -Os)

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
# aarch64 always has NEON: simdjson's portable fallback kernel would be dead code in the image.
target_compile_definitions(bh_simdjson_static PUBLIC SIMDJSON_IMPLEMENTATION_FALLBACK=0)
# The project finds simdjson by header and library (find_library leaves a set cache entry alone);
# a project that uses simdjson's CMake package gets the same archive.
set(SIMDJSON_LIB bh_simdjson_static CACHE STRING "simdjson, built from source for the static link" FORCE)
add_library(simdjson::simdjson ALIAS bh_simdjson_static)

# mbedTLS, routed: Debian's mbedTLS has no MBEDTLS_PLATFORM_MEMORY (mbedtls_calloc is plain
# calloc), and a static link has no GOT to patch, so the link uses copies of the three archives
# whose calloc/free references are renamed to the counting, limiting pair of
# platform/alloc/tls_heap.cpp. Only mbedTLS's own objects are renamed: every other calloc/free of
# the program stays glibc's. BH_TLS_HEAP_LINKED tells tls_heap.cpp that this is done.
set(BH_MBEDTLS_ROUTED_DIR "${CMAKE_BINARY_DIR}/mbedtls-routed")
file(MAKE_DIRECTORY "${BH_MBEDTLS_ROUTED_DIR}")
foreach(lib mbedtls mbedx509 mbedcrypto)
  find_library(BH_${lib}_ARCHIVE NAMES lib${lib}.a REQUIRED)
  set(routed "${BH_MBEDTLS_ROUTED_DIR}/lib${lib}.a")
  execute_process(COMMAND "${CMAKE_OBJCOPY}" --redefine-sym calloc=bh_mbedtls_calloc
                          --redefine-sym free=bh_mbedtls_free "${BH_${lib}_ARCHIVE}" "${routed}"
                  RESULT_VARIABLE rc)
  # Proof it took: no member still calls calloc or free.
  execute_process(COMMAND "${CMAKE_NM}" -u "${routed}" OUTPUT_VARIABLE undef RESULT_VARIABLE nm_rc ERROR_QUIET)
  if(rc OR nm_rc OR undef MATCHES "[ \t]U (calloc|free)\n" OR NOT undef MATCHES "U bh_mbedtls_calloc")
    message(FATAL_ERROR "static-deps: cannot route lib${lib}.a's calloc/free to bh_mbedtls_* (${CMAKE_OBJCOPY}: ${rc})")
  endif()
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${BH_${lib}_ARCHIVE}")
  add_library(bh_${lib}_routed STATIC IMPORTED)
  set_target_properties(bh_${lib}_routed PROPERTIES IMPORTED_LOCATION "${routed}"
                                                    INTERFACE_COMPILE_DEFINITIONS BH_TLS_HEAP_LINKED=1)
endforeach()
set(MBEDTLS_LIB bh_mbedtls_routed CACHE STRING "mbedTLS, calloc/free routed (static link)" FORCE)
set(MBEDX509_LIB bh_mbedx509_routed CACHE STRING "mbedX509, calloc/free routed (static link)" FORCE)
set(MBEDCRYPTO_LIB bh_mbedcrypto_routed CACHE STRING "mbedcrypto, calloc/free routed (static link)" FORCE)

# SQLite from its amalgamation (BH_SQLITE_AMALGAMATION, made by toolchain/sqlite-amalgamation.sh
# from Debian's source of the installed version), when given: Debian's libsqlite3.a is one object
# with FTS3/4/5, R*Tree, Geopoly, sessions and the dbstat/stmt virtual tables, which the linker
# cannot drop (about 300 KB of the image). Built here with Debian's own compile options (see
# `PRAGMA compile_options` on Debian's build) that change behaviour or limits (secure_delete,
# no lookaside, the default page and cache sizes, temp store, the limits), so the store behaves
# the same on the board as in the native build, and none of the extensions the store does not use.
if(BH_SQLITE_AMALGAMATION)
  if(NOT EXISTS "${BH_SQLITE_AMALGAMATION}/sqlite3.c")
    message(FATAL_ERROR "BH_SQLITE_AMALGAMATION=${BH_SQLITE_AMALGAMATION} has no sqlite3.c (toolchain/sqlite-amalgamation.sh)")
  endif()
  add_library(bh_sqlite_static STATIC "${BH_SQLITE_AMALGAMATION}/sqlite3.c")
  target_include_directories(bh_sqlite_static SYSTEM PUBLIC "${BH_SQLITE_AMALGAMATION}")
  target_compile_definitions(bh_sqlite_static PRIVATE
    SQLITE_THREADSAFE=1 SQLITE_SYSTEM_MALLOC SQLITE_OMIT_LOOKASIDE SQLITE_SECURE_DELETE
    SQLITE_DEFAULT_PAGE_SIZE=4096 SQLITE_MAX_DEFAULT_PAGE_SIZE=32768 SQLITE_DEFAULT_CACHE_SIZE=-2000
    SQLITE_DEFAULT_SECTOR_SIZE=4096 SQLITE_DEFAULT_FILE_FORMAT=4 SQLITE_DEFAULT_JOURNAL_SIZE_LIMIT=-1
    SQLITE_DEFAULT_MMAP_SIZE=0 SQLITE_MAX_MMAP_SIZE=0x7fff0000 SQLITE_DEFAULT_RECURSIVE_TRIGGERS
    SQLITE_TEMP_STORE=1 SQLITE_LIKE_DOESNT_MATCH_BLOBS SQLITE_MALLOC_SOFT_LIMIT=1024 SQLITE_USE_URI=1
    SQLITE_MAX_ATTACHED=10 SQLITE_MAX_COLUMN=2000 SQLITE_MAX_COMPOUND_SELECT=500 SQLITE_MAX_EXPR_DEPTH=1000
    SQLITE_MAX_FUNCTION_ARG=127 SQLITE_MAX_LENGTH=1000000000 SQLITE_MAX_LIKE_PATTERN_LENGTH=50000
    SQLITE_MAX_PAGE_COUNT=1073741823 SQLITE_MAX_SCHEMA_RETRY=25 SQLITE_MAX_SQL_LENGTH=1000000000
    SQLITE_MAX_TRIGGER_DEPTH=1000 SQLITE_MAX_VARIABLE_NUMBER=250000 SQLITE_MAX_VDBE_OP=250000000
    SQLITE_ENABLE_UPDATE_DELETE_LIMIT SQLITE_ENABLE_MATH_FUNCTIONS HAVE_ISNAN
    # What Debian's configure finds in glibc (sqlite_cfg.h). Without HAVE_USLEEP the busy handler
    # sleeps in whole seconds, so a busy_timeout under 1 s gives up at once.
    HAVE_USLEEP=1 HAVE_FDATASYNC=1 HAVE_GMTIME_R=1 HAVE_LOCALTIME_R=1 HAVE_MALLOC_H=1
    HAVE_MALLOC_USABLE_SIZE=1 HAVE_STRCHRNUL=1 HAVE_UTIME=1
    # Left out: FTS3/4/5, R*Tree, sessions, the pre-update hook, dbstat, stmt vtab, column
    # metadata, unlock-notify, soundex, loadable extensions and the deprecated APIs.
    SQLITE_OMIT_LOAD_EXTENSION SQLITE_OMIT_DEPRECATED)
  target_link_libraries(bh_sqlite_static PUBLIC pthread m)
  add_library(SQLite::SQLite3 ALIAS bh_sqlite_static)
endif()
