#!/bin/sh
# End-to-end pipeline benchmark (issues 3 and 16): builds the Release `bulkhead` and `pipeline_bench`,
# then runs the full cycle (raw SQLite baseline, phase 1 at max rate, phase 2 at half the end-to-end
# rate, then paced phases at 100 and 1 ev/s; --floor-rate 50000 adds issue 3's phase 3) RUNS times
# on a fresh process and database each, and prints a table of medians, a per-phase table (p50/p99/
# p999, bytes written per event and GB/day) and one JSON line (`{"bench":"pipeline",...}`) for
# docs/figures.md. The same on a slow disk of its own: run_slow_disk_bench.sh.
#
#   tests/bench/run_pipeline_bench.sh [pipeline_bench options...]     e.g. --seconds 20 --runs 3
#
# Environment: BUILD_DIR (default build/release), JOBS (default nproc), BH_BENCH_DIR (scratch base,
# default $BUILD_DIR/bench-scratch: the same disk as the build; never a tmpfs, where fsync is free),
# RUNS (default 3), SECONDS_PER_PHASE (default 20). Extra arguments go to pipeline_bench.
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build/release}
JOBS=${JOBS:-$(nproc)}
RUNS=${RUNS:-3}
SECONDS_PER_PHASE=${SECONDS_PER_PHASE:-20}
BH_BENCH_DIR=${BH_BENCH_DIR:-$BUILD_DIR/bench-scratch}
export BH_BENCH_DIR

if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
  cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
cmake --build "$BUILD_DIR" -j"$JOBS" --target bulkhead pipeline_bench
mkdir -p "$BH_BENCH_DIR"
echo "machine: $(nproc) cores; uptime:$(uptime | sed 's/.*up[^,]*,//')" >&2
exec "$BUILD_DIR/tests/bench/pipeline/pipeline_bench" --bulkhead "$BUILD_DIR/firmware/bulkhead" \
  --runs "$RUNS" --seconds "$SECONDS_PER_PHASE" --dir "$BH_BENCH_DIR" "$@"
