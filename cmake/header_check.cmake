# Every header compiles on its own: for each header of a layer, a generated .cpp that includes it
# twice and nothing else (a missing include or a missing include guard fails the build), compiled
# into an OBJECT library with that layer's own include directories and definitions (those of the
# layer's library: a header that includes from a layer above fails too). Part of the normal
# build when tests are (tests/CMakeLists.txt): `make test` compiles them.
include_guard(GLOBAL)

# bh_header_check(<layer> <library>): target bh_header_check_<layer>.
function(bh_header_check layer library)
  file(GLOB_RECURSE headers CONFIGURE_DEPENDS RELATIVE "${PROJECT_SOURCE_DIR}" "${PROJECT_SOURCE_DIR}/${layer}/*.hpp")
  set(sources "")
  foreach(h ${headers})
    set(src "${PROJECT_BINARY_DIR}/header_check/${h}.cpp")
    file(CONFIGURE OUTPUT "${src}" CONTENT "#include \"${h}\"\n#include \"${h}\"\n")
    list(APPEND sources "${src}")
  endforeach()
  add_library(bh_header_check_${layer} OBJECT ${sources})
  target_link_libraries(bh_header_check_${layer} PRIVATE ${library})
  target_compile_options(bh_header_check_${layer} PRIVATE -O0)  # compiling is the check, not the code
endfunction()
