# Layering the build enforces: hal <- platform <- firmware.
# Each layer's library gets an include root of its own in the build tree that holds one symlink,
# named after the layer, to its source folder (<build>/layers/<layer>/<layer> -> <src>/<layer>).
# A target sees its own root and, through its links, the roots below it: bh_hal sees hal/ only,
# bh_platform hal/ and platform/, bh_firmware all three. Includes stay written from the project
# root ("platform/core/pool.hpp"), and an include upward ("firmware/..." from platform/) is not
# found: it fails to compile. tests/CMakeLists.txt proves it (layers.* tests).
include_guard(GLOBAL)

# bh_layer_root(<layer> <out-var>): creates the layer's include root (once, at configure time)
# and returns its path.
function(bh_layer_root layer out)
  set(root "${PROJECT_BINARY_DIR}/layers/${layer}")
  file(MAKE_DIRECTORY "${root}")
  if(NOT IS_SYMLINK "${root}/${layer}")
    file(CREATE_LINK "${PROJECT_SOURCE_DIR}/${layer}" "${root}/${layer}" SYMBOLIC)
  endif()
  set(${out} "${root}" PARENT_SCOPE)
endfunction()
