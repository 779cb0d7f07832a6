# Cross-compiling bulkhead for 64-bit Arm Linux (Raspberry Pi 3/4/5 with a 64-bit OS, QEMU virt)
# with Debian's cross toolchain (g++-aarch64-linux-gnu) and Debian's arm64 -dev packages
# (multiarch: /usr/lib/aarch64-linux-gnu). `make deps-cross` installs both.
#   cmake -S . -B build/cross-aarch64 -DCMAKE_TOOLCHAIN_FILE=toolchain/aarch64-linux-gnu.cmake
# Tests run under qemu-aarch64-static (CMAKE_CROSSCOMPILING_EMULATOR), from CTest.
# BH_STATIC=ON (as a -D) links everything statically (see toolchain/static-deps.cmake).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)

# Both roots: the cross toolchain's own sysroot and / (where the multiarch arm64 packages live).
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu /)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# qemu-user with no -L: the program's interpreter (/lib/ld-linux-aarch64.so.1) and every library
# then come from Debian's libc6:arm64 and the arm64 packages, one consistent glibc. (Mixing the
# cross toolchain's glibc, via -L /usr/aarch64-linux-gnu, with Debian's makes fork() hang.)
set(CMAKE_CROSSCOMPILING_EMULATOR /usr/bin/qemu-aarch64-static)

if(BH_STATIC)
  set(CMAKE_EXE_LINKER_FLAGS_INIT "-static")
  # Runs right after project(): before the project's find_package calls.
  set(CMAKE_PROJECT_INCLUDE ${CMAKE_CURRENT_LIST_DIR}/static-deps.cmake)
endif()
