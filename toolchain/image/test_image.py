#!/usr/bin/env python3
"""Boots bulkhead's image under qemu-system-aarch64 and checks it end to end (`make test-image`).

Two boots of the same image with one ext4 data disk (a fresh file, made here):
  boot 1: the kernel runs bulkhead as /init; it prints the budget table and "running"; the
          i6300esb watchdog driver loads (/dev/watchdog appears); NDJSON events sent to the
          ingest port, forwarded from the host's 127.0.0.1 only, are acked "ok <seq>" in order and
          a malformed line gets "err ..."; `shutdown` typed on the serial line stops the runtime
          cleanly ("0 pool(s) not at zero", exit code 0), init unmounts the disk and powers off,
          and QEMU exits 0.
  boot 2: the store on the data disk survived: new events are acked with the sequence numbers
          that follow the first boot's.
Boot-to-"running" times are printed and written with the serial logs to --image/test-image.log.
Exits 77 (CTest: skipped) when the image has not been built.

The serial line is a Unix socket (QEMU waits for us before starting the guest); echo is off
(bulkhead.echo=0) so that what we read is only what the guest wrote. The console engine does not
exist yet: its prompt and `status`/`pools`/`watchdog` commands join this test when it does.
"""
import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

QEMU = "qemu-system-aarch64"
BOOT_DEADLINE = 60.0      # QEMU start -> "running" (TCG on a busy 2-core machine)
STOP_DEADLINE = 30.0      # `shutdown` -> QEMU exited


class Fail(Exception):
    pass


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Guest:
    def __init__(self, image, workdir, data_disk, port, name):
        self.log_path = os.path.join(workdir, f"{name}.serial.log")
        sock_path = os.path.join(workdir, f"{name}.serial.sock")
        cmdline = ("console=ttyAMA0 panic=-1 quiet bulkhead.echo=0 "
                   "bulkhead.net=eth0,10.0.2.15/24,10.0.2.2 bulkhead.data=/dev/vda,ext4")
        self.cmd = [
            QEMU, "-M", "virt", "-cpu", "cortex-a53", "-m", "256", "-smp", "1",
            "-no-reboot", "-display", "none", "-monitor", "none",
            "-kernel", os.path.join(image, "vmlinuz"),
            "-initrd", os.path.join(image, "initramfs.cpio.gz"),
            "-append", cmdline,
            "-serial", f"unix:{sock_path},server=on,wait=on",
            # restrict=on: the guest reaches nothing; only the forwarded port reaches it.
            "-netdev", f"user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:{port}-:7700",
            "-device", "virtio-net-pci,netdev=n0,romfile=",
            "-drive", f"file={data_disk},if=none,id=d0,format=raw",
            "-device", "virtio-blk-pci,drive=d0",
            "-device", "i6300esb",
        ]
        self.port = port
        self.started = time.monotonic()
        self.proc = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT)
        self.sock = None
        deadline = self.started + 10
        while self.sock is None:
            try:
                s = socket.socket(socket.AF_UNIX)
                s.connect(sock_path)
                self.sock = s
            except OSError:
                s.close()
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise Fail(f"QEMU did not open its serial socket: {self.proc.stdout.read().decode(errors='replace')}")
                time.sleep(0.02)
        self.sock.settimeout(0.2)
        self.out = ""
        self.log = open(self.log_path, "w")

    def _pump(self):
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return True
        except OSError:
            return False
        if not data:
            return False
        text = data.decode(errors="replace").replace("\r\n", "\n")
        self.out += text
        self.log.write(text)
        self.log.flush()
        return True

    def wait_for(self, pattern, deadline_s, what):
        rx = re.compile(pattern, re.M)
        end = time.monotonic() + deadline_s
        while not rx.search(self.out):
            if time.monotonic() > end:
                raise Fail(f"no {what} within {deadline_s:.0f} s")
            if not self._pump() and self.proc.poll() is not None:
                raise Fail(f"QEMU exited ({self.proc.returncode}) before {what}")
        return time.monotonic() - self.started

    def type(self, line):
        self.sock.sendall(line.encode() + b"\r")

    def wait_exit(self, deadline_s):
        end = time.monotonic() + deadline_s
        while self.proc.poll() is None:
            if time.monotonic() > end:
                raise Fail(f"QEMU still running {deadline_s:.0f} s after shutdown")
            self._pump()
        while self._pump():
            pass
        return self.proc.returncode

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.sock:
            self.sock.close()
        self.log.close()


def send_events(port, events, bad_line=False):
    """Sends NDJSON lines on one connection; returns the replies in order."""
    lines = [f'{{"boot_test":{i},"msg":"hello from the host"}}' for i in range(events)]
    if bad_line:
        lines.append('{"not json"')
    with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
        s.sendall(("\n".join(lines) + "\n").encode())
        buf = b""
        while buf.count(b"\n") < len(lines):
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
    return buf.decode().splitlines()


def check(cond, msg):
    if not cond:
        raise Fail(msg)


def boot(image, workdir, disk, name, first_seq, events, bad_line):
    port = free_port()
    g = Guest(image, workdir, disk, port, name)
    try:
        t_pid1 = g.wait_for(r"init: bulkhead \S+ is PID 1", BOOT_DEADLINE, "init's first line")
        t_run = g.wait_for(r"bulkhead \S+ running", BOOT_DEADLINE, '"running"')
        check(re.search(r"^pool\s+capacity\s+limit", g.out, re.M), "no budget table header")
        check(re.search(r"^total\s.*fd ceiling 256", g.out, re.M), "no budget table total line")
        check("init: /dev/watchdog present" in g.out, "the i6300esb driver did not give /dev/watchdog")
        check(re.search(r"init: store on /dev/vda \(ext4\)", g.out), "the store is not on the data disk")
        check(re.search(r"init: \d+ module\(s\) from \S+ loaded, 0 failed", g.out), "module loading failed")

        replies = send_events(port, events, bad_line)
        seqs = [int(r.split()[1]) for r in replies if re.fullmatch(r"ok \d+", r)]
        check(len(seqs) == events, f"expected {events} acks, got {replies[:5]}...")
        check(seqs == list(range(first_seq, first_seq + events)),
              f"acks not in order from {first_seq}: {seqs[:5]}...{seqs[-3:]}")
        if bad_line:
            check(replies[-1].startswith("err "), f"malformed line not refused: {replies[-1]!r}")

        t_stop = time.monotonic()
        g.type("shutdown")
        code = g.wait_exit(STOP_DEADLINE)
        t_down = time.monotonic() - t_stop
        check("0 pool(s) not at zero" in g.out, "no clean stop line (every pool at zero)")
        check("init: bulkhead exited: exit code 0" in g.out, "bulkhead did not exit 0")
        check("init: powering off" in g.out, "init did not power off")
        check("reboot: Power down" in g.out, "the kernel did not power down")
        check(code == 0, f"QEMU exit code {code}")
        check("Kernel panic" not in g.out, "kernel panic")
        return {"pid1": t_pid1, "running": t_run, "poweroff": t_down, "last_seq": seqs[-1]}
    except Fail as e:
        raise Fail(f"{name}: {e}\n--- serial log ({g.log_path}) ---\n{g.out[-6000:]}")
    finally:
        g.kill()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--image", required=True, help="directory with vmlinuz and initramfs.cpio.gz")
    ap.add_argument("--events", type=int, default=200)
    args = ap.parse_args()
    image = os.path.abspath(args.image)
    if not all(os.path.exists(os.path.join(image, f)) for f in ("vmlinuz", "initramfs.cpio.gz")):
        print(f"test_image: no image in {image} (make image): skipped")
        return 77
    for tool in (QEMU, "mkfs.ext4"):
        if not shutil.which(tool) and not os.path.exists(f"/sbin/{tool}"):
            print(f"test_image: {tool} not installed (make deps-cross)")
            return 1
    t0 = time.monotonic()
    workdir = tempfile.mkdtemp(prefix="bulkhead-image-")
    disk = os.path.join(workdir, "data.img")
    with open(disk, "wb") as f:
        f.truncate(32 * 1024 * 1024)
    mkfs = shutil.which("mkfs.ext4") or "/sbin/mkfs.ext4"
    subprocess.run([mkfs, "-q", "-F", "-L", "bulkhead", disk], check=True)
    try:
        b1 = boot(image, workdir, disk, "boot1", 1, args.events, True)
        b2 = boot(image, workdir, disk, "boot2", b1["last_seq"] + 1, 20, False)
    except Fail as e:
        print(f"test_image: FAILED: {e}")
        return 1
    finally:
        logs = [os.path.join(workdir, f"boot{i}.serial.log") for i in (1, 2)]
        with open(os.path.join(image, "test-image.log"), "w") as out:
            for p in logs:
                if os.path.exists(p):
                    out.write(f"===== {os.path.basename(p)}\n" + open(p).read())
        shutil.rmtree(workdir, ignore_errors=True)
    total = time.monotonic() - t0
    for name, b in (("boot 1", b1), ("boot 2", b2)):
        print(f"test_image: {name}: PID 1 at {b['pid1']:.1f} s, running at {b['running']:.1f} s after QEMU "
              f"started; power-off {b['poweroff']:.1f} s after `shutdown`")
    print(f"test_image: {args.events} events acked in order, +20 after a power cycle (seq {b2['last_seq']}); "
          f"clean power-off with every pool at zero, twice; {total:.1f} s in all")
    print("test_image: passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
