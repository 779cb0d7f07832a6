#!/usr/bin/env bash
# Downloads Debian's current arm64 kernel package (the one linux-image-arm64 depends on) into
# CACHE once, with apt's ordinary client, and prints its path. Idempotent; needs the arm64
# architecture in dpkg (make deps-cross). Usage: toolchain/image/kernel.sh CACHE
set -euo pipefail
cache=${1:?usage: kernel.sh CACHE}
mkdir -p "$cache"
pkg=$(apt-cache depends linux-image-arm64:arm64 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[^ ]*-arm64\)\(:arm64\)\?$/\1/p' | head -n1)
if [ -z "$pkg" ]; then
  # No package lists for arm64 (apt-get update not run since dpkg --add-architecture)?
  deb=$(ls -t "$cache"/linux-image-*-arm64_*_arm64.deb 2>/dev/null | head -n1 || true)
  [ -n "$deb" ] || { echo "kernel.sh: cannot resolve linux-image-arm64:arm64 (make deps-cross)" >&2; exit 1; }
  echo "$deb"; exit 0
fi
deb=$(ls "$cache/${pkg}"_*_arm64.deb 2>/dev/null | head -n1 || true)
if [ -z "$deb" ]; then
  echo "kernel.sh: downloading $pkg:arm64" >&2
  (cd "$cache" && apt-get download -qq -o APT::Sandbox::User=root "$pkg:arm64" >&2)
  deb=$(ls "$cache/${pkg}"_*_arm64.deb | head -n1)
fi
echo "$deb"
