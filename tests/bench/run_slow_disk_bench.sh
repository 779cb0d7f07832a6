#!/bin/sh
# Slow-disk pipeline benchmark (issue 16): the store on a block device of its own with SD-card-like
# flush latency. Needs root (losetup, mkfs.ext4, mount). It
#  1. makes an image file (IMAGE_MIB, default 1024) under $BUILD_DIR, attaches it to a loop device,
#     formats it ext4 (itable and journal initialised now, so no lazy-init writes pollute the
#     device counters) and mounts it;
#  2. runs pipeline_bench with --dir on that mount and --device loopN (bytes written at the device,
#     the ext4 journal included), with tests/bench/fsync_delay.c preloaded: every fsync/fdatasync
#     takes FSYNC_DELAY_US longer (default 3000; dm-delay is not in this kernel; see the shim);
#  3. with BLKTRACE=1, also traces the device's writes (ftrace) and snapshots every file's extents
#     (filefrag), then prints each rate-limited phase's bytes by file (tests/bench/blk_breakdown.py);
#  4. unmounts and detaches the device whatever happened.
#
#   sudo tests/bench/run_slow_disk_bench.sh [pipeline_bench options...]   e.g. --seconds 5 --runs 1
#
# Environment: BUILD_DIR (default build/release), RUNS (3), SECONDS_PER_PHASE (20), FSYNC_DELAY_US
# (3000), IMAGE_MIB (1024), MOUNT_OPTS (ext4's, e.g. lazytime,commit=60), BLKTRACE (unset; 1 = the
# breakdown by file). Extra arguments go to pipeline_bench (e.g. --commit-window 50ms).
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build/release}
RUNS=${RUNS:-3}
SECONDS_PER_PHASE=${SECONDS_PER_PHASE:-20}
FSYNC_DELAY_US=${FSYNC_DELAY_US:-3000}
IMAGE_MIB=${IMAGE_MIB:-1024}
if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
  cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
cmake --build "$BUILD_DIR" -j"${JOBS:-2}" --target bulkhead pipeline_bench bh_fsync_delay >&2
SHIM="$BUILD_DIR/tests/bench/libbh_fsync_delay.so"
WORK=$(mktemp -d "$BUILD_DIR/slow-disk-XXXXXX")
IMG="$WORK/disk.img"
MNT="$WORK/mnt"
DEV=""
BG=""
cleanup() {
  for p in $BG; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if mountpoint -q "$MNT" 2>/dev/null; then umount "$MNT" || true; fi
  if [ -n "$DEV" ]; then losetup -d "$DEV" || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM
truncate -s "${IMAGE_MIB}M" "$IMG"
DEV=$(losetup -f --show "$IMG")
mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$DEV"
mkdir -p "$MNT"
mount ${MOUNT_OPTS:+-o "$MOUNT_OPTS"} "$DEV" "$MNT"
echo "slow disk: $DEV (ext4 on $IMG, ${IMAGE_MIB} MiB) at $MNT${MOUNT_OPTS:+ ($MOUNT_OPTS)}; fsync/fdatasync +${FSYNC_DELAY_US} us" >&2
echo "machine: $(nproc) cores; uptime:$(uptime | sed 's/.*up[^,]*,//')" >&2
bench() {
  BH_FSYNC_DELAY_US=$FSYNC_DELAY_US LD_PRELOAD="$SHIM" "$BUILD_DIR/tests/bench/pipeline/pipeline_bench" \
    --bulkhead "$BUILD_DIR/firmware/bulkhead" --runs "$RUNS" --seconds "$SECONDS_PER_PHASE" --dir "$MNT" \
    --device "$(basename "$DEV")" "$@"
}
if [ -z "${BLKTRACE:-}" ]; then
  bench "$@"
  exit
fi
# The breakdown: the kernel's block_bio_queue tracepoint (ftrace; blktrace's relay files are not
# permitted in this VM) records what ext4 asks the device to write, on the boot clock; the bench's
# stderr lines are stamped with the same clock (/proc/uptime) to cut the trace into phases.
TR=/sys/kernel/debug/tracing
mountpoint -q /sys/kernel/debug || mount -t debugfs none /sys/kernel/debug
echo boot >"$TR/trace_clock"
echo 16384 >"$TR/buffer_size_kb"
echo "dev == $(( $(stat -c '0x%t' "$DEV") << 20 | $(stat -c '0x%T' "$DEV") ))" >"$TR/events/block/block_bio_queue/filter"
echo >"$TR/trace"
echo 1 >"$TR/events/block/block_bio_queue/enable"
cat "$TR/trace_pipe" >"$WORK/trace.txt" &
BG="$!"
(while :; do find "$MNT" -type f -exec filefrag -v -b4096 {} + 2>/dev/null; sleep 1; done) >"$WORK/extents.txt" &
BG="$BG $!"
bench "$@" 2>&1 >"$WORK/out.txt" | while IFS= read -r line; do
  printf '%s %s\n' "$(cut -d' ' -f1 /proc/uptime)" "$line" | tee -a "$WORK/stamped.txt" | cut -d' ' -f2- >&2
done
cat "$WORK/out.txt"
echo 0 >"$TR/events/block/block_bio_queue/enable"
echo 0 >"$TR/events/block/block_bio_queue/filter"
sleep 1  # trace_pipe hands over what it still holds
settle=$(echo " $* " | sed -n 's/.* --settle \([0-9.]*\) .*/\1/p')
warm=$(echo " $* " | sed -n 's/.* --warmup \([0-9.]*\) .*/\1/p')
# "[run R] phase P: T ev/s, S s" starts a phase (after --settle quiet seconds); "... acked/s" ends it.
awk -v settle="${settle:-2.5}" -v warm="${warm:-1}" '
  / phase [0-9]+: [0-9.]+ ev\/s, / { start[$3 $5] = $1 + settle; secs[$3 $5] = $(NF - 1) }
  / phase [0-9]+: [0-9.]+ acked\/s/ { k = $3 $5; if (k in start) print k, start[k], $1, $6 * (secs[k] + warm) }
' "$WORK/stamped.txt" | while read -r key from to events; do
  echo
  echo "$key $(printf '%.0f' "$events") events, device writes by file:"
  /usr/bin/python3 "$ROOT/tests/bench/blk_breakdown.py" "$DEV" "$WORK/trace.txt" "$WORK/extents.txt" \
    --from "$from" --to "$to" --events "$events"
done
