#!/usr/bin/env bash
# CI, device part (issue 6), run by .ci/run after the native suites. On a fresh 2-core machine:
#   deps-cross (apt: cross g++, arm64 libraries, qemu, lintian)           ~1.5-2 min
#   one static aarch64 build of bulkhead and every test                    ~3-4 min
#   image (Debian's arm64 kernel package + initramfs)                      <1 min
#   the arm64 .deb (bulkhead alone again, without the test hooks; ccache)  ~1 min
#   ctest under qemu-aarch64-static: the whole suite, plus device.package
#   (dpkg-deb, systemd-analyze, lintian) and device.image (three QEMU boots:
#   console, ingest, power cycle, hardware-watchdog reset)                 ~2-3 min
#   and device.power_cut (20 SIGKILLs of QEMU under load on a disk that drops
#   unflushed writes, a disk check after each, the broken build's self-check;
#   2 parallel lanes)                                                       ~1.5 min
# The amd64 .deb (another full build) is left to `make package`.
set -euo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
step() { echo "ci-device: $1 done at $(( $(date +%s) - t0 )) s"; }
make --no-print-directory deps-cross;                      step deps-cross
make --no-print-directory cross;                           step "cross build"
make --no-print-directory image;                           step image
make --no-print-directory package PACKAGE_ARCHES=arm64;    step package
make --no-print-directory cross-test;                      step "cross-test (suite under qemu-user, package, image boot)"
