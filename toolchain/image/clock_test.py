#!/usr/bin/env python3
"""A board without a battery-backed clock (issue 17), on the emulated board (`make test-clock`).

One boot of the image with its RTC in 1970 (-rtc base=1970-01-02) and a test config on the data
disk (bulkhead.config=): [clock] sync_check = "kernel", a sink that cannot be reached (the guest
network is restricted: retries, backoff and the breaker run), ingest idle_timeout 5 s. Then:
  1. `status` says the clock is not synced; events are acked (and stored flagged).
  2. The wall clock steps forward by decades as an NTP sync does (`clock step +20000d`, then
     `clock synced`: the test hooks clock_settime and adjtimex). Checked across the step: an idle
     ingest connection opened before it is closed after its real idle time, not at the step; the
     sink's retries go on at their pace (neither a burst nor a stall); the watchdog keeps feeding
     with every check ok; `status` shows synced and the jump; new events are acked (not flagged).
  3. The wall clock steps back by three hours (`clock step -3h`): the same checks.
  4. `shutdown`; the store, read on the host from the data disk (debugfs), holds every event
     (none purged), the first ones flagged clock_unsynced = 1 and the later ones not.
Exits 77 (CTest: skipped) when the image has not been built. Under ~1.5 min on TCG.
"""
import argparse
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time

from guest import BOOT_DEADLINE, PROMPT, STOP_DEADLINE, QEMU, Fail, Guest, check, field, free_port, make_data_disk, send_events
from test_image import watchdog

IDLE_S = 5.0
CONFIG = """
[ingest]
listen = "0.0.0.0:7700"
idle_timeout = "5s"
[store]
path = "/var/lib/bulkhead/bulkhead.db"
[console]
socket = "/run/bulkhead/bulkhead.sock"
[watchdog]
device = "/dev/watchdog"
timeout = "10s"
notify = "off"
[clock]
sync_check = "kernel"
[[sink]]
name = "up"
url = "http://10.0.2.2:9/events"
connect_timeout = "1s"
backoff_base = "500ms"
backoff_cap = "1s"
breaker_failures = 3
breaker_recovery = "1s"
"""


def retries(g):
    m = re.search(r"retries (\d+)", "\n".join(g.command("sinks")))
    check(m, "sinks: no retries counter")
    return int(m.group(1))


def retries_pace(g, window_s=5.0):
    """The sink's retries over a window: they go on (not stalled), without a burst."""
    r0, t0 = retries(g), time.monotonic()
    while time.monotonic() - t0 < window_s:
        g._pump()
    r1 = retries(g)
    check(1 <= r1 - r0 <= 15, f"sink retries {r0} -> {r1} in {window_s:.0f} s: stalled or a burst")
    return r1 - r0


def idle_connection(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=20)
    # slirp accepts on the host side at once: a first exchange shows the guest's side is open.
    s.sendall(b'{"idle_probe":1}\n')
    s.settimeout(20)
    check(s.recv(64).startswith(b"ok "), "the idle probe was not acked")
    return s, time.monotonic()


def wait_closed(g, s, opened, step_at):
    """The connection is closed IDLE_S after its last answer (real time), not at the step."""
    s.settimeout(0.2)
    while True:
        try:
            if s.recv(64) == b"":
                break
        except socket.timeout:
            pass
        g._pump()
        check(time.monotonic() - opened < IDLE_S + 10, "the idle connection was never closed (stalled timer)")
    waited = time.monotonic() - opened
    s.close()
    check(waited >= IDLE_S - 0.5, f"the idle connection was closed after {waited:.1f} s, at the step "
                                  f"({step_at - opened:.1f} s in), not after {IDLE_S:.0f} s")
    return waited


def clock_line(g):
    for _ in range(5):
        line = field(g.command("status"), "clock")
        if line:
            return line
    return ""


def step(g, port, arg, jumps, sign):
    s, opened = idle_connection(port)
    answer = g.command(f"clock step {arg}")
    step_at = time.monotonic()
    check(answer and answer[0].startswith("clock stepped"), f"clock step {arg}: {answer}")
    check(g.command("clock synced") == ["clock synced"], "clock synced: the kernel clock is not synced after it")
    waited = wait_closed(g, s, opened, step_at)
    pace = retries_pace(g)
    watchdog(g)
    line = clock_line(g)
    check(re.match(rf"synced, last jump {sign}\d+\.\d+ s .* ago \({jumps} jumps\)", line), f"status clock: {line!r}")
    return waited, pace


def read_store(disk, workdir):
    db = os.path.join(workdir, "bulkhead.db")
    debugfs = shutil.which("debugfs") or "/sbin/debugfs"
    for name in ("bulkhead.db", "bulkhead.db-wal"):  # a clean close leaves no WAL; if one is there, it counts
        subprocess.run([debugfs, "-R", f"dump /{name} {os.path.join(workdir, name)}", disk], capture_output=True)
    check(os.path.exists(db), "no bulkhead.db on the data disk")
    with sqlite3.connect(db) as c:
        return c.execute("SELECT seq, clock_unsynced FROM events ORDER BY seq").fetchall()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--image", required=True, help="directory with vmlinuz and initramfs.cpio.gz")
    args = ap.parse_args()
    image = os.path.abspath(args.image)
    if not all(os.path.exists(os.path.join(image, f)) for f in ("vmlinuz", "initramfs.cpio.gz")):
        print(f"clock_test: no image in {image} (make image): skipped")
        return 77
    for tool in (QEMU, "mkfs.ext4", "debugfs"):
        if not shutil.which(tool) and not os.path.exists(f"/sbin/{tool}"):
            print(f"clock_test: {tool} not installed (make deps-cross)")
            return 1
    t0 = time.monotonic()
    workdir = tempfile.mkdtemp(prefix="bulkhead-clock-")
    disk = make_data_disk(os.path.join(workdir, "data.img"), files={"clock.toml": CONFIG})
    port = free_port()
    g = Guest(image, workdir, "clock", port, data_disk=disk,
              extra_append="bulkhead.config=/var/lib/bulkhead/clock.toml",
              extra_args=("-rtc", "base=1970-01-02T00:00:00,clock=host"))
    try:
        g.wait_for(re.escape(PROMPT), BOOT_DEADLINE, "the console prompt")
        g.wait_for(r"bulkhead \S+ running", BOOT_DEADLINE, '"running"')
        line = clock_line(g)
        check(line.startswith("not synced"), f"status clock at boot (RTC in 1970): {line!r}")
        replies = send_events(port, 10)
        check(all(r.startswith("ok ") for r in replies) and len(replies) == 10, f"events before the sync: {replies}")
        retries_pace(g)

        fwd = step(g, port, "+20000d", 1, r"\+")
        replies = send_events(port, 5)
        check(all(r.startswith("ok ") for r in replies) and len(replies) == 5, f"events after the sync: {replies}")
        back = step(g, port, "-3h", 2, "-")
        replies = send_events(port, 3)
        check(all(r.startswith("ok ") for r in replies) and len(replies) == 3, f"events after the step back: {replies}")

        check(g.command("shutdown") == ["shutting down"], "shutdown: unexpected answer")
        check(g.wait_exit(STOP_DEADLINE) == 0, "QEMU did not exit 0")
        check("0 pool(s) not at zero" in g.out, "no clean stop line (every pool at zero)")
        check("Kernel panic" not in g.out, "kernel panic")
        rows = read_store(disk, workdir)
        # 10 events, the first idle probe (both before the sync: flagged), 5 events, the second
        # probe, 3 events: 20, none purged.
        check([r[0] for r in rows] == list(range(1, 21)), f"events purged or lost: {rows}")
        flagged = [seq for seq, f in rows if f == 1]
        check(flagged == list(range(1, 12)), f"flagged events: {flagged} (expected the 11 before the sync)")
    except Fail as e:
        print(f"clock_test: FAILED: {e}\n--- serial log ({g.log_path}) ---\n{g.out[-6000:]}")
        return 1
    finally:
        g.kill()
        with open(os.path.join(image, "test-clock.log"), "w") as out:
            p = os.path.join(workdir, "clock.serial.log")
            if os.path.exists(p):
                out.write(open(p).read())
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"clock_test: RTC at 1970-01-02; stepped +20000 d (NTP sync) and -3 h: idle close after "
          f"{fwd[0]:.1f} s and {back[0]:.1f} s (idle_timeout {IDLE_S:.0f} s), sink retries {fwd[1]} and {back[1]} "
          f"per 5 s, watchdog fed with every check ok, 20 events kept, 11 flagged clock_unsynced")
    print(f"clock_test: passed, {time.monotonic() - t0:.1f} s in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
