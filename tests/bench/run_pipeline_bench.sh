#!/bin/sh
# End-to-end pipeline benchmark (issue 3): builds the Release `bulkhead` and `pipeline_bench`, then
# runs the full cycle (raw SQLite baseline, phase 1 at max rate, phase 2 at half the end-to-end
# rate, phase 3 at 50 000 ev/s) RUNS times on a fresh process and database each, and prints a table of medians plus one
# JSON line (`{"bench":"pipeline",...}`) for docs/figures.md.
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
