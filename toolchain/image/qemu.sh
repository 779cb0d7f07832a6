#!/usr/bin/env bash
# Boots the image interactively (`make qemu`): the console (`bulkhead> `) on this terminal
# (Ctrl-A X quits QEMU; the `shutdown` command powers the guest off cleanly), the ingest port
# forwarded from the host's 127.0.0.1 only. Usage: toolchain/image/qemu.sh IMAGE_DIR [HOST_PORT] [DATA_DISK]
# With DATA_DISK (a file; created as a 64 MiB ext4 disk if missing) the store persists across boots.
set -euo pipefail
image=${1:?usage: qemu.sh IMAGE_DIR [HOST_PORT] [DATA_DISK]}
port=${2:-7700}
data=${3:-}
append="console=ttyAMA0 panic=-1 quiet bulkhead.net=eth0,10.0.2.15/24,10.0.2.2"
disk=()
if [ -n "$data" ]; then
  if [ ! -e "$data" ]; then
    truncate -s 64M "$data"
    mkfs.ext4 -q -F -L bulkhead "$data"
  fi
  disk=(-drive "file=$data,if=none,id=d0,format=raw" -device virtio-blk-pci,drive=d0)
  append="$append bulkhead.data=/dev/vda,ext4"
fi
echo "qemu: ingest on 127.0.0.1:$port; type 'shutdown' to power off, Ctrl-A X to kill QEMU" >&2
exec qemu-system-aarch64 -M virt -cpu cortex-a53 -m 256 -smp 1 -no-reboot -nographic \
  -kernel "$image/vmlinuz" -initrd "$image/initramfs.cpio.gz" -append "$append" \
  -netdev "user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:$port-:7700" \
  -device virtio-net-pci,netdev=n0,romfile= \
  -device i6300esb "${disk[@]}"
