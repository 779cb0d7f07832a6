#!/usr/bin/env bash
# Installs what the device work needs (aarch64 cross toolchain, arm64 -dev libraries, qemu user
# and system emulators, packaging tools), if anything is missing. Idempotent and quiet when
# everything is present. Never needed by the native `make test`.
# Usage: toolchain/deps-cross.sh [extra-package...]
set -euo pipefail
pkgs=(cmake make g++ pkg-config python3 libasio-dev
      g++-aarch64-linux-gnu
      # libsimdjson-dev is not Multi-Arch: same: the native one supplies the (arch-independent)
      # header, libsimdjson14:arm64 the library.
      libsqlite3-dev:arm64 libmbedtls-dev:arm64 libfmt-dev:arm64 libsimdjson-dev libsimdjson14:arm64
      libtomlplusplus-dev:arm64 libgtest-dev:arm64 libgmock-dev:arm64
      tcl  # tclsh: makes SQLite's amalgamation (toolchain/sqlite-amalgamation.sh)
      qemu-user-static qemu-system-arm xz-utils e2fsprogs file lintian "$@")
sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
  echo "deps-cross: adding the arm64 architecture"
  $sudo dpkg --add-architecture arm64
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "deps-cross: installing ${missing[*]}"
# Other repositories configured on the machine may be unreachable: only Debian's lists matter.
$sudo apt-get update -qq || echo "deps-cross: apt-get update reported errors; going on with Debian's lists" >&2
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
