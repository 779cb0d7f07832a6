#!/usr/bin/env bash
# Runs every libFuzzer target of a fuzz build for a fixed time each (`make test-fuzz`).
# Usage: tests/fuzz/run.sh BUILD_DIR [SECONDS_PER_TARGET]   (default 20; env FUZZ_TARGETS="a b" to pick)
# Targets run JOBS (nproc) at a time; the table and any failure's report come out in target order.
# Each target <name>_fuzz starts from tests/fuzz/corpus/<name>/ copied to a scratch directory (the
# repository's seeds never grow here) and uses tests/fuzz/<name>.dict if there is one. Any crash,
# trap, sanitizer report, leak, timeout (10 s per input) or out-of-memory fails the run; the
# reproducer is kept under BUILD_DIR/artifacts/ and the command to replay it is printed.
set -uo pipefail
build=${1:?usage: run.sh BUILD_DIR [SECONDS]}
seconds=${2:-20}
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "$build" && pwd)
scratch=$(mktemp -d "${TMPDIR:-/tmp}/bh-fuzz.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$build/artifacts"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

targets=()
if [ -n "${FUZZ_TARGETS:-}" ]; then
  for t in $FUZZ_TARGETS; do targets+=("$build/${t%_fuzz}_fuzz"); done
else
  for t in "$build"/*_fuzz; do [ -x "$t" ] && targets+=("$t"); done
fi
[ ${#targets[@]} -gt 0 ] || { echo "fuzz: no *_fuzz targets in $build" >&2; exit 1; }

# One target: its table row in $scratch/<name>.row, then its report if it failed.
run_one() {
  local exe=$1 base name corpus log rc runs rate files result
  base=$(basename "$exe")
  name=${base%_fuzz}
  corpus="$scratch/corpus/$name"
  mkdir -p "$corpus"
  if [ -d "$here/corpus/$name" ]; then
    cp -r "$here/corpus/$name/." "$corpus/"
  else
    echo "fuzz: warning: no seed corpus tests/fuzz/corpus/$name/" >&2
  fi
  local args=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
              -artifact_prefix="$build/artifacts/$name-")
  [ -f "$here/$name.dict" ] && args+=(-dict="$here/$name.dict")
  log="$build/artifacts/$name.log"
  rm -f "$build/artifacts/$name-"*  # reproducers of an earlier run
  "$exe" "${args[@]}" "$corpus" >"$log" 2>&1
  rc=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  files=$(find "$corpus" -type f | wc -l)
  result=ok
  [ $rc -eq 0 ] || result="FAILED (exit $rc)"
  {
    printf '%-22s %8s %10s %8s %7s  %s\n' "$base" "$seconds" "${runs:-?}" "${rate:-?}" "$files" "$result"
    if [ $rc -ne 0 ]; then
      echo "---- $log (last 60 lines)"
      tail -60 "$log"
      for a in "$build/artifacts/$name-"*; do
        case "$a" in *.log) continue ;; esac
        [ -f "$a" ] && echo "reproduce: $exe $a"
      done
      echo "----"
    fi
  } >"$scratch/$name.row"
}

parallel=${JOBS:-$(nproc)}
for exe in "${targets[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$parallel" ]; do wait -n || true; done
  run_one "$exe" &
done
wait
failed=()
printf '%-22s %8s %10s %8s %7s  %s\n' target seconds runs exec/s corpus result
for exe in "${targets[@]}"; do
  name=$(basename "$exe")
  name=${name%_fuzz}
  row="$scratch/$name.row"
  [ -f "$row" ] && cat "$row" || echo "$name: no result"
  [ -f "$row" ] && head -1 "$row" | grep -q ' ok$' || failed+=("$name")
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz: ${#targets[@]} target(s), ${seconds}s each, no crash"
