#!/usr/bin/env bash
# Makes SQLite's amalgamation (sqlite3.c + sqlite3.h) from Debian's source of the installed
# version (toolchain/debian-source.sh), for the static device builds: compiled there with only
# the features the store uses (toolchain/static-deps.cmake), it is about 300 KB smaller than
# Debian's libsqlite3.a, which carries FTS3/4/5, R*Tree, sessions and more. Needs tclsh (the
# `tcl` package, installed by toolchain/deps-cross.sh) and the host's cc. Idempotent: prints the
# directory that holds sqlite3.c, made once per version under build/cross-cache.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
src=$("$root/toolchain/debian-source.sh" sqlite3 libsqlite3-dev)
out="$root/build/cross-cache/sqlite-amalgamation-$(basename "$src")"
if [ -f "$out/sqlite3.c" ]; then echo "$out"; exit 0; fi
rm -rf "$out.tmp" && mkdir -p "$out.tmp"
(cd "$out.tmp" && "$src/configure" --disable-tcl >configure.log 2>&1 && make sqlite3.c >make.log 2>&1) || {
  echo "sqlite-amalgamation: building sqlite3.c failed: see $out.tmp/*.log" >&2; exit 1; }
mkdir -p "$out" && mv "$out.tmp/sqlite3.c" "$out.tmp/sqlite3.h" "$out/" && rm -rf "$out.tmp"
echo "$out"
