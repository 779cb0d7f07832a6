#!/bin/sh
# Slow-disk pipeline benchmark (issue 16): the store on a block device of its own with SD-card-like
# flush latency. Needs root (losetup, mkfs.ext4, mount). It
#  1. makes an image file (IMAGE_MIB, default 1024) under $BUILD_DIR, attaches it to a loop device,
#     formats it ext4 (itable and journal initialised now, so no lazy-init writes pollute the
#     device counters) and mounts it;
#  2. runs pipeline_bench with --dir on that mount and --device loopN (bytes written at the device,
#     the ext4 journal included), with tests/bench/fsync_delay.c preloaded: every fsync/fdatasync
#     takes FSYNC_DELAY_US longer (default 3000; dm-delay is not in this kernel; see the shim);
#  3. unmounts and detaches the device whatever happened.
#
#   sudo tests/bench/run_slow_disk_bench.sh [pipeline_bench options...]   e.g. --seconds 5 --runs 1
#
# Environment: BUILD_DIR (default build/release), RUNS (3), SECONDS_PER_PHASE (20), FSYNC_DELAY_US
# (3000), IMAGE_MIB (1024). Extra arguments go to pipeline_bench (e.g. --commit-window 50ms).
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
cleanup() {
  if mountpoint -q "$MNT" 2>/dev/null; then umount "$MNT" || true; fi
  if [ -n "$DEV" ]; then losetup -d "$DEV" || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM
truncate -s "${IMAGE_MIB}M" "$IMG"
DEV=$(losetup -f --show "$IMG")
mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$DEV"
mkdir -p "$MNT"
mount "$DEV" "$MNT"
echo "slow disk: $DEV (ext4 on $IMG, ${IMAGE_MIB} MiB) at $MNT; fsync/fdatasync +${FSYNC_DELAY_US} us" >&2
echo "machine: $(nproc) cores; uptime:$(uptime | sed 's/.*up[^,]*,//')" >&2
BH_FSYNC_DELAY_US=$FSYNC_DELAY_US LD_PRELOAD="$SHIM" "$BUILD_DIR/tests/bench/pipeline/pipeline_bench" \
  --bulkhead "$BUILD_DIR/firmware/bulkhead" --runs "$RUNS" --seconds "$SECONDS_PER_PHASE" --dir "$MNT" \
  --device "$(basename "$DEV")" "$@"
