"""The emulated board, driven from the host: qemu-system-aarch64 booting bulkhead's image, its
serial console, its QMP socket and its forwarded ingest port. Shared by test_image.py (boots,
power-off, the hardware watchdog), power_cut.py and clock_test.py.

The serial line is a Unix socket (QEMU waits for us before starting the guest). The console
session echoes what we type; answers are read up to the next prompt, with the runtime's log lines
(which share the line) and kernel messages left out.
"""
import gzip
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time

QEMU = "qemu-system-aarch64"
BOOT_DEADLINE = 60.0      # QEMU start -> "running" (TCG on a busy 2-core machine)
ANSWER_DEADLINE = 20.0    # a console command -> its answer and the next prompt
STOP_DEADLINE = 30.0      # `shutdown` -> QEMU exited
PROMPT = "bulkhead> "
# The runtime's log lines and the kernel's messages share the serial line with the console, and
# may land anywhere in it, even inside the echo of what we typed (it comes back in pieces).
NOISE = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z (debug|info|warn|error) |\[\s*\d+\.\d+\] )[^\n]*\n")


class Fail(Exception):
    pass


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_data_disk(path, size_mb=32, files=None):
    """A fresh ext4 data disk (a raw image file) for bulkhead.data=: the store's filesystem, made
    as on a Pi's card, with `files` ({name: text}) at its root, e.g. a config for
    bulkhead.config=/var/lib/bulkhead/<name> (init mounts the disk there before reading it)."""
    mkfs = shutil.which("mkfs.ext4") or "/sbin/mkfs.ext4"
    with open(path, "wb") as f:
        f.truncate(size_mb * 1024 * 1024)
    with tempfile.TemporaryDirectory(prefix="bulkhead-disk-") as root:
        for name, text in (files or {}).items():
            with open(os.path.join(root, name), "w") as f:
                f.write(text)
        subprocess.run([mkfs, "-q", "-F", "-L", "bulkhead", "-d", root, path], check=True)
    return path


def uncompressed_initrd(image, workdir):
    """The image's initramfs as a plain cpio in workdir (the same files; the kernel takes it
    without unpacking): spares the guest's gunzip, ~0.5 s of each boot under TCG, for tests whose
    subject is not the boot itself (power_cut.py boots ~20 times)."""
    path = os.path.join(workdir, "initramfs.cpio")
    with gzip.open(os.path.join(image, "initramfs.cpio.gz")) as src, open(path, "wb") as dst:
        shutil.copyfileobj(src, dst)
    return path


def check(cond, msg):
    if not cond:
        raise Fail(msg)


class Qmp:
    """QEMU's machine protocol: only to collect the events (WATCHDOG, SHUTDOWN)."""

    def __init__(self, path, deadline_s=10):
        end = time.monotonic() + deadline_s
        while True:
            s = socket.socket(socket.AF_UNIX)
            try:
                s.connect(path)
                break
            except OSError:
                s.close()
                if time.monotonic() > end:
                    raise Fail("QEMU did not open its QMP socket")
                time.sleep(0.02)
        self.sock = s
        self.buf = b""
        self.events = []
        self.sock.settimeout(10)
        self._message()  # the greeting
        self.sock.sendall(b'{"execute": "qmp_capabilities"}\n')
        while "return" not in self._message():
            pass
        self.sock.settimeout(0)

    def _message(self):
        while b"\n" not in self.buf:
            data = self.sock.recv(65536)
            if not data:
                raise Fail("QMP socket closed")
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        msg = json.loads(line)
        if "event" in msg:
            self.events.append(msg)
        return msg

    def poll(self):
        """Collects the events that have arrived (also after QEMU exited)."""
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    break
                self.buf += data
        except (BlockingIOError, OSError):
            pass
        while b"\n" in self.buf:
            self._message()
        return self.events

    def close(self):
        self.sock.close()


class Guest:
    def __init__(self, image, workdir, name, port, data_disk=None, extra_append="", qmp=False, drive=None,
                 extra_args=(), initrd=None):
        """data_disk: a raw ext4 image file for the store, or drive: QEMU's -drive value for it
        (e.g. an NBD export), given without id (added here); extra_args: more QEMU arguments;
        initrd: the initramfs to boot instead of the image's initramfs.cpio.gz (e.g. the same
        cpio uncompressed, see uncompressed_initrd())."""
        self.name = name
        self.log_path = os.path.join(workdir, f"{name}.serial.log")
        sock_path = os.path.join(workdir, f"{name}.serial.sock")
        qmp_path = os.path.join(workdir, f"{name}.qmp.sock")
        cmdline = ("console=ttyAMA0 panic=-1 quiet bulkhead.echo=0 "
                   "bulkhead.net=eth0,10.0.2.15/24,10.0.2.2")
        if data_disk and not drive:
            drive = f"file={data_disk},format=raw"
        if drive:
            cmdline += " bulkhead.data=/dev/vda,ext4"
        if extra_append:
            cmdline += " " + extra_append
        self.cmd = [
            QEMU, "-M", "virt", "-cpu", "cortex-a53", "-m", "256", "-smp", "1",
            "-no-reboot", "-display", "none", "-monitor", "none",
            "-kernel", os.path.join(image, "vmlinuz"),
            "-initrd", initrd or os.path.join(image, "initramfs.cpio.gz"),
            "-append", cmdline,
            "-serial", f"unix:{sock_path},server=on,wait=on",
            # restrict=on: the guest reaches nothing; only the forwarded port reaches it.
            "-netdev", f"user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:{port}-:7700",
            "-device", "virtio-net-pci,netdev=n0,romfile=",
            "-device", "i6300esb",
            # A watchdog expiry resets the guest (QEMU's default, said here); -no-reboot turns
            # the reset into QEMU's exit.
            "-action", "watchdog=reset",
        ]
        if drive:
            self.cmd += ["-drive", f"{drive},if=none,id=d0", "-device", "virtio-blk-pci,drive=d0"]
        self.cmd += list(extra_args)
        if qmp:
            self.cmd += ["-qmp", f"unix:{qmp_path},server=on,wait=off"]
        self.port = port
        self.started = time.monotonic()
        self.proc = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT)
        self.sock = None
        self.qmp = None
        self.out = ""
        self.log = open(self.log_path, "w")
        deadline = self.started + 10
        while self.sock is None:
            s = socket.socket(socket.AF_UNIX)
            try:
                s.connect(sock_path)
                self.sock = s
            except OSError:
                s.close()
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise Fail(f"QEMU did not open its serial socket: {self.proc.stdout.read().decode(errors='replace')}")
                time.sleep(0.02)
        self.sock.settimeout(0.2)
        if qmp:  # the guest is running now (the serial socket was QEMU's last wait)
            self.qmp = Qmp(qmp_path)

    def _pump(self):
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return True
        except OSError:
            return False
        if not data:
            return False
        # The console ends lines with CRLF, and init turns LF -> CRLF back on for the log lines
        # that share the raw line: CRs carry nothing here.
        text = data.decode(errors="replace").replace("\r", "")
        self.out += text
        self.log.write(text)
        self.log.flush()
        return True

    def wait_for(self, pattern, deadline_s, what, start=0):
        rx = re.compile(pattern, re.M)
        end = time.monotonic() + deadline_s
        while not (m := rx.search(self.out, start)):
            if time.monotonic() > end:
                raise Fail(f"no {what} within {deadline_s:.0f} s")
            if not self._pump() and self.proc.poll() is not None:
                raise Fail(f"QEMU exited ({self.proc.returncode}) before {what}")
        return time.monotonic() - self.started, m

    def type(self, line):
        self.sock.sendall(line.encode() + b"\r")

    def command(self, line):
        """Types a console command; returns its answer lines (echo, prompt, log lines left out)."""
        start = len(self.out)
        self.type(line)
        # The echo of what we typed, then the answer, then the next prompt.
        answer = re.compile(re.escape(line) + r"\n(.*?)" + re.escape(PROMPT), re.S)
        end = time.monotonic() + ANSWER_DEADLINE
        while not (m := answer.search(NOISE.sub("", self.out[start:]))):
            if time.monotonic() > end:
                raise Fail(f"no echo of `{line}`, its answer and the prompt within {ANSWER_DEADLINE:.0f} s")
            if not self._pump() and self.proc.poll() is not None:
                raise Fail(f"QEMU exited ({self.proc.returncode}) before answering `{line}`")
        return [ln for ln in m.group(1).split("\n") if ln]

    def wait_exit(self, deadline_s, what="shutdown"):
        end = time.monotonic() + deadline_s
        while self.proc.poll() is None:
            if time.monotonic() > end:
                raise Fail(f"QEMU still running {deadline_s:.0f} s after {what}")
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
        if self.qmp:
            self.qmp.close()
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


def field(answer, name):
    """The value of a `name   value` line of a console answer."""
    for ln in answer:
        m = re.fullmatch(re.escape(name) + r"\s{2,}(.*)", ln)
        if m:
            return m.group(1)
    raise Fail(f"no '{name}' line in {answer}")
