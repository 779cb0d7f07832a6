#!/usr/bin/env python3
"""Builds bulkhead's boot image: Debian's arm64 kernel plus an initramfs whose /init is the static
bulkhead binary (it runs in init mode as PID 1: firmware/init_mode.hpp).

Outputs, in --out:
  vmlinuz, initramfs.cpio.gz   the pair for `qemu-system-aarch64 -M virt` (toolchain/image/qemu.sh)
  rpi-boot/                    a Raspberry Pi 3/4 boot partition (FAT) minus the firmware blobs:
                               config.txt, cmdline.txt, the same kernel and initramfs, the DTBs
  image.txt                    what went in (kernel version, modules, sizes)

The initramfs is written directly as a newc cpio (no root, no mknod: /dev/console is an entry),
with fixed owners and times, so the same inputs give the same bytes.
"""
import argparse
import gzip
import io
import os
import re
import shutil
import subprocess
import sys

# Driver modules per boot target, by module name; dependencies are added from each module's
# .modinfo and loaded first. Built-in drivers are skipped.
MODULES = {
    # QEMU -M virt: virtio PCI transport, NIC, disk (data disk), the i6300esb watchdog, ext4
    # (whose checksums ask the crypto API for crc32c: no modprobe here to load it on demand).
    "virt": ["virtio_pci", "virtio_net", "virtio_blk", "i6300esb", "ext4", "crc32c_generic"],
    # Raspberry Pi 3/4 with Debian's kernel: watchdog, Pi 4 GENET Ethernet and its PHY/MDIO,
    # Pi 3 USB (dwc2) Ethernet (smsc95xx on 3B, lan78xx on 3B+), SD host, ext4 for the data
    # partition.
    "rpi": ["bcm2835_wdt", "genet", "mdio_bcm_unimac", "broadcom", "dwc2", "smsc95xx", "lan78xx",
            "sdhci_iproc", "ext4", "crc32c_generic"],
}

RPI_DTBS = ["bcm2837-rpi-3-b.dtb", "bcm2837-rpi-3-b-plus.dtb", "bcm2837-rpi-3-a-plus.dtb",
            "bcm2837-rpi-zero-2-w.dtb", "bcm2711-rpi-4-b.dtb", "bcm2711-rpi-400.dtb",
            "bcm2711-rpi-cm4-io.dtb"]

EPOCH = int(os.environ.get("SOURCE_DATE_EPOCH", "1700000000"))


def norm(name):
    return name.replace("-", "_")


def extract_kernel(deb, cache):
    """Unpacks the kernel package once into cache/<deb name>; returns (root, version)."""
    root = os.path.join(cache, os.path.basename(deb)[:-4])
    stamp = os.path.join(root, ".unpacked")
    if not os.path.exists(stamp):
        shutil.rmtree(root, ignore_errors=True)
        os.makedirs(root)
        tar = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", deb], stdout=subprocess.PIPE)
        subprocess.run(["tar", "-x", "-C", root, "./boot", "./lib/modules", "./usr/lib"],
                       stdin=tar.stdout, check=True)
        if tar.wait() != 0:
            sys.exit(f"build_image: dpkg-deb failed on {deb}")
        open(stamp, "w").close()
    versions = os.listdir(os.path.join(root, "lib", "modules"))
    if len(versions) != 1:
        sys.exit(f"build_image: expected one kernel in {deb}, found {versions}")
    return root, versions[0]


def module_index(moddir):
    index = {}
    for dirpath, _, files in os.walk(os.path.join(moddir, "kernel")):
        for f in files:
            if f.endswith(".ko"):
                index[norm(f[:-3])] = os.path.join(dirpath, f)
    builtin = set()
    with open(os.path.join(moddir, "modules.builtin")) as fh:
        for line in fh:
            builtin.add(norm(os.path.basename(line.strip())[:-3]))
    return index, builtin


def depends(path):
    with open(path, "rb") as fh:
        data = fh.read()
    m = re.search(rb"(?:^|\x00)depends=([^\x00]*)\x00", data)
    if not m or not m.group(1):
        return []
    return [norm(d) for d in m.group(1).decode().split(",") if d]


def resolve(names, index, builtin):
    """Module files in load order (dependencies first), and the names that are built in."""
    order, seen, skipped = [], set(), []

    def visit(name, chain):
        name = norm(name)
        if name in seen:
            return
        if name in chain:
            sys.exit(f"build_image: module dependency cycle: {' -> '.join(chain + [name])}")
        if name not in index:
            if name in builtin:
                skipped.append(name)
                seen.add(name)
                return
            sys.exit(f"build_image: no module '{name}' in the kernel package")
        for dep in depends(index[name]):
            visit(dep, chain + [name])
        seen.add(name)
        order.append(index[name])

    for n in names:
        visit(n, [])
    return order, skipped


class Cpio:
    """newc ("070701") archive writer."""

    def __init__(self):
        self.buf = io.BytesIO()
        self.ino = 1
        self.dirs = set()

    def _entry(self, name, mode, data=b"", nlink=1, rdev=(0, 0)):
        name_b = name.encode() + b"\x00"
        fields = [self.ino, mode, 0, 0, nlink, EPOCH, len(data), 0, 0, rdev[0], rdev[1], len(name_b), 0]
        self.ino += 1
        hdr = b"070701" + b"".join(b"%08X" % f for f in fields)
        self.buf.write(hdr + name_b)
        self.buf.write(b"\x00" * ((4 - (len(hdr) + len(name_b)) % 4) % 4))
        self.buf.write(data)
        self.buf.write(b"\x00" * ((4 - len(data) % 4) % 4))

    def dir(self, path, perm=0o755):
        parts = path.strip("/").split("/")
        for i in range(1, len(parts) + 1):
            p = "/".join(parts[:i])
            if p not in self.dirs:
                self.dirs.add(p)
                self._entry(p, 0o040000 | (perm if i == len(parts) else 0o755), nlink=2)

    def file(self, path, data, perm=0o644):
        parent = os.path.dirname(path.strip("/"))
        if parent:
            self.dir(parent)
        self._entry(path.strip("/"), 0o100000 | perm, data)

    def symlink(self, path, target):
        self._entry(path.strip("/"), 0o120000 | 0o777, target.encode())

    def chardev(self, path, perm, major, minor):
        self._entry(path.strip("/"), 0o020000 | perm, rdev=(major, minor))

    def finish(self):
        self._entry("TRAILER!!!", 0)
        return self.buf.getvalue()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kernel-deb", required=True, help="Debian linux-image-*-arm64 package")
    ap.add_argument("--binary", required=True, help="static aarch64 bulkhead (becomes /init)")
    ap.add_argument("--config", required=True, help="installed as /etc/bulkhead/bulkhead.toml")
    ap.add_argument("--cache", required=True, help="where the kernel package is unpacked (reused)")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    with open(args.binary, "rb") as fh:
        binary = fh.read()
    if binary[:4] != b"\x7fELF" or int.from_bytes(binary[18:20], "little") != 183:
        sys.exit(f"build_image: {args.binary} is not an aarch64 ELF")

    kroot, kver = extract_kernel(args.kernel_deb, args.cache)
    moddir = os.path.join(kroot, "lib", "modules", kver)
    index, builtin = module_index(moddir)

    cpio = Cpio()
    for d in ["dev", "proc", "sys", "run", "tmp", "root", "usr/bin", "etc/bulkhead", "var/lib/bulkhead"]:
        cpio.dir(d)
    cpio.chardev("dev/console", 0o600, 5, 1)
    cpio.chardev("dev/null", 0o666, 1, 3)
    cpio.file("init", binary, 0o755)
    cpio.symlink("usr/bin/bulkhead", "/init")
    with open(args.config, "rb") as fh:
        cpio.file("etc/bulkhead/bulkhead.toml", fh.read())

    report = [f"kernel {kver} ({os.path.basename(args.kernel_deb)})", f"/init: {args.binary} ({len(binary)} bytes)"]
    included = {}
    for target, names in MODULES.items():
        order, skipped = resolve(names, index, builtin)
        lines = [f"# {target}: {' '.join(names)} (built in: {' '.join(skipped) or 'none'}); dependencies first"]
        for path in order:
            rel = os.path.relpath(path, kroot)
            if rel not in included:
                with open(path, "rb") as fh:
                    data = fh.read()
                cpio.dir(os.path.dirname(rel))
                cpio.file(rel, data)
                included[rel] = len(data)
            lines.append("/" + rel)
        listname = "modules.load" if target == "virt" else f"modules-{target}.load"
        cpio.file(f"etc/bulkhead/{listname}", ("\n".join(lines) + "\n").encode())
        report.append(f"/etc/bulkhead/{listname}: {len(order)} module(s): "
                      + " ".join(os.path.basename(p)[:-3] for p in order))
    report.append(f"modules: {len(included)} files, {sum(included.values())} bytes")

    raw = cpio.finish()
    os.makedirs(args.out, exist_ok=True)
    initrd = os.path.join(args.out, "initramfs.cpio.gz")
    with open(initrd + ".tmp", "wb") as fh:
        with gzip.GzipFile(fileobj=fh, mode="wb", compresslevel=9, mtime=EPOCH) as gz:
            gz.write(raw)
    os.replace(initrd + ".tmp", initrd)
    vmlinuz = os.path.join(args.out, "vmlinuz")
    shutil.copyfile(os.path.join(kroot, "boot", f"vmlinuz-{kver}"), vmlinuz)
    report.append(f"initramfs.cpio.gz: {os.path.getsize(initrd)} bytes ({len(raw)} uncompressed)")
    report.append(f"vmlinuz: {os.path.getsize(vmlinuz)} bytes")

    # Raspberry Pi boot partition: the firmware (bootcode.bin for the Pi 3, start*.elf and
    # fixup*.dat) comes from the raspi-firmware package, which is in Debian's non-free-firmware
    # component: copied in by hand (docs/device.md), not shipped here.
    rpi = os.path.join(args.out, "rpi-boot")
    shutil.rmtree(rpi, ignore_errors=True)
    os.makedirs(rpi)
    for f in (vmlinuz, initrd):
        os.link(f, os.path.join(rpi, os.path.basename(f)))
    dtbdir = os.path.join(kroot, "usr", "lib", f"linux-image-{kver}", "broadcom")
    for dtb in RPI_DTBS:
        src = os.path.join(dtbdir, dtb)
        if os.path.exists(src):
            shutil.copyfile(src, os.path.join(rpi, dtb))
    with open(os.path.join(rpi, "config.txt"), "w") as fh:
        fh.write(
            "# bulkhead on a Raspberry Pi 3/4 (64-bit), Debian's kernel and bulkhead as init.\n"
            "arm_64bit=1\n"
            "kernel=vmlinuz\n"
            "initramfs initramfs.cpio.gz followkernel\n"
            "# the serial console on GPIO 14/15: the mini UART, ttyS1 with Debian's (upstream) kernel\n"
            "enable_uart=1\n"
            "# the firmware picks the board's DTB from this directory (bcm2837-* or bcm2711-*)\n"
            "upstream_kernel=1\n"
            "disable_overscan=1\n")
    with open(os.path.join(rpi, "cmdline.txt"), "w") as fh:
        fh.write("console=tty1 console=ttyS1,115200 panic=10 "
                 "bulkhead.modules=/etc/bulkhead/modules-rpi.load bulkhead.data=/dev/mmcblk0p2,ext4 "
                 "bulkhead.on_failure=reboot\n")
    report.append("rpi-boot/: " + " ".join(sorted(os.listdir(rpi))))

    with open(os.path.join(args.out, "image.txt"), "w") as fh:
        fh.write("\n".join(report) + "\n")
    print("\n".join(report))


if __name__ == "__main__":
    main()
