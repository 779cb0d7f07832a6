#!/usr/bin/env bash
# Runs the integration tests with every `bulkhead` child under valgrind memcheck (`make test-valgrind`).
# Usage: tests/valgrind.sh BUILD_DIR [GTEST_FILTER]   (BUILD_DIR: a Debug build without sanitizers)
# (The harness exec()s without a PATH search: the wrapper's first word must be a full path.)
# The harness puts $BH_TEST_WRAPPER before each bulkhead it starts and stretches its own waits by
# BH_TEST_SLOW. A memcheck error or a definitely-lost block makes the child exit 99, which fails
# its test; the logs are scanned too, since a test may not look at every child's exit code.
# Suppressions: tests/valgrind.supp (each says why it is not a bug).
set -uo pipefail
build=${1:?usage: valgrind.sh BUILD_DIR [GTEST_FILTER]}
# Left out by default, as they measure what valgrind itself changes (not memory errors):
#   Watchdog.NotifiesReady...AtSigterm, Watchdog.StalledLoop...: the memory check (RSS over the 32 MiB
#     budget: valgrind's own RSS is ~75 MiB) and loop-lag timing under a 20-50x slowdown;
#   Ingest.FdsReturnToBaselineAfterConnectionChurn: counts the child's /proc/PID/fd, where valgrind
#     holds descriptors of its own;
#   Delivery.KillNineUnderLoadThenRestartDeliversEveryAckedEvent: SIGTERMs the restarted child as
#     soon as its ingest port accepts; under valgrind that lands before App::start installs the
#     signal handler (it opens the listener first), and the child dies of the signal (exit 143).
default_filter='*-Watchdog.NotifiesReadyThenWatchdogEveryTickAndStoppingAtSigterm:Watchdog.StalledLoopFailsLoopLagAndStopsFeeding:Ingest.FdsReturnToBaselineAfterConnectionChurn:Delivery.KillNineUnderLoadThenRestartDeliversEveryAckedEvent'
filter=${2:-$default_filter}
root=$(cd "$(dirname "$0")/.." && pwd)
logs="$(cd "$build" && pwd)/valgrind-logs"
rm -rf "$logs"
mkdir -p "$logs"

export BH_TEST_WRAPPER="$(command -v valgrind) --tool=memcheck --error-exitcode=99 --leak-check=full
  --errors-for-leak-kinds=definite --show-leak-kinds=definite --num-callers=40
  --suppressions=$root/tests/valgrind.supp --log-file=$logs/vg.%p.log"
export BH_TEST_SLOW=${BH_TEST_SLOW:-10}

start=$(date +%s)
"$build/tests/integration_tests" --gtest_filter="$filter" --gtest_color=no | tee "$logs/gtest.out"
rc=${PIPESTATUS[0]}
if [ $rc -ne 0 ]; then
  # As CI's ctest does, a failed test gets one more try: under a 20-50x slowdown a few timing
  # tests can lose a race. Memcheck findings are not retried: every log is scanned below.
  failed=$(sed -n 's/^\[  FAILED  \] \([A-Za-z0-9_]*\.[A-Za-z0-9_]*\) (.*/\1/p' "$logs/gtest.out" | paste -sd: -)
  if [ -n "$failed" ]; then
    echo "valgrind: retrying once: $failed"
    "$build/tests/integration_tests" --gtest_filter="$failed" --gtest_color=no
    rc=$?
  fi
fi
echo "valgrind: integration tests took $(( $(date +%s) - start )) s, exit $rc"

bad=0
n=0
for f in "$logs"/vg.*.log; do
  [ -f "$f" ] || continue
  n=$((n + 1))
  # Errors, definite leaks, or a crash (a signal other than the tests' own SIGKILL / SIGTERM).
  if grep -qE "ERROR SUMMARY: [1-9]|definitely lost: [1-9]" "$f" ||
     grep -E "Process terminating with default action of signal" "$f" | grep -qvE "signal (9|15) "; then
    bad=$((bad + 1))
    echo "---- $f"
    cat "$f"
  fi
done
echo "valgrind: $n bulkhead process(es) checked, $bad with errors or definite leaks"
[ $rc -eq 0 ] && [ $bad -eq 0 ] && [ $n -gt 0 ]
