#!/usr/bin/env bash
# The static device binary must fit the image's budget (issue 12): fails when BINARY (the stripped
# static bulkhead `make static` writes) is larger than MAX bytes (default 4 MiB). Run by
# `make static` right after stripping, so `make image`, `make test-image` and ci-device.sh stop
# there; CTest: device.size. Exits 77 (skipped) when BINARY has not been built.
# Usage: check-size.sh BINARY [MAX]
set -euo pipefail
bin=${1:?usage: check-size.sh BINARY [MAX]}
max=${2:-4194304}
[ -f "$bin" ] || { echo "check-size: $bin not built (make static): skipped"; exit 77; }
size=$(stat -c %s "$bin")
if [ "$size" -gt "$max" ]; then
  echo "check-size: FAIL: $bin is $size bytes, over the $max-byte budget by $((size - max))" >&2
  exit 1
fi
echo "check-size: $bin is $size bytes, $((max - size)) under the $max-byte budget"
