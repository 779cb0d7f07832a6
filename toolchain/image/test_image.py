#!/usr/bin/env python3
"""Boots bulkhead's image under qemu-system-aarch64 and checks it end to end (`make test-image`).

Three boots of the same image; the first two share one ext4 data disk (a fresh file, made here):
  boot 1: the kernel runs bulkhead as /init; it prints the budget table and "running"; the
          i6300esb watchdog driver loads and bulkhead arms /dev/watchdog. The console engine owns
          the serial line: the test waits for the `bulkhead> ` prompt (boot-to-prompt time), and
          checks the answers of `status` (running, healthy, no events yet), `pools` (every pool
          with its in-use count and limit) and `watchdog` (healthy, feeding, every check ok, no
          device error). NDJSON events sent to the ingest port, forwarded from the host's
          127.0.0.1 only, are acked "ok <seq>" in order and a malformed line gets "err ...";
          `status` then counts them, `pools` shows the ingest connection returned, `watchdog`
          shows the device fed since. `shutdown` typed on the console stops the runtime cleanly
          ("0 pool(s) not at zero", exit code 0), init unmounts the disk and powers off, and QEMU
          exits 0.
  boot 2: the store on the data disk survived: `status` shows the first boot's last seq and new
          events are acked with the sequence numbers that follow it.
  boot 3: the hardware watchdog resets a stalled device. The kernel command line carries the
          test hook bulkhead.test_watchdog=stall_ms=... (test builds only): the runtime feeds
          /dev/watchdog once, then blocks its reactor. No clean shutdown follows; the i6300esb
          fires after watchdog.timeout and resets the guest: QEMU reports the WATCHDOG event
          (action reset) and a guest-reset SHUTDOWN on its QMP socket and, with -no-reboot,
          exits 0 without init's power-off lines on the console.
Boot-to-prompt times are printed and written with the serial logs to --image/test-image.log.
Exits 77 (CTest: skipped) when the image has not been built.
The guest is driven through guest.py (serial console, QMP, forwarded ingest port).
"""
import argparse
import os
import re
import shutil
import sys
import tempfile
import time

from guest import BOOT_DEADLINE, PROMPT, STOP_DEADLINE, QEMU, Fail, Guest, check, field, free_port, make_data_disk, send_events

# The image's [watchdog] timeout (toolchain/image/bulkhead.toml); the i6300esb resets the guest
# a few seconds after it (its second stage).
WATCHDOG_TIMEOUT = 10.0
STALL_MS = 120000         # longer than the time to the reset: the runtime never feeds again
POOLS = ("task", "store_conn", "file", "sink", "ingest_conn", "admin_conn", "console_session")
CHECKS = ("loop_lag", "pools", "fds", "memory", "sqlite_memory", "tasks", "audit")


def check_status(g, acked, last_seq):
    for _ in range(10):  # health: see watchdog() on TCG's occasional late tick
        a = g.command("status")
        if field(a, "health") == "ok":
            break
        time.sleep(1)
    check(re.fullmatch(r"\d+\.\d+\.\d+\S*", field(a, "version")), f"status: version: {a}")
    check(field(a, "state") == "running", f"status: state: {a}")
    check(field(a, "health") == "ok", f"status: health: {a}")
    m = re.match(r"in (\d+)\s+acked (\d+)\s+delivered (\d+)\s+pending (\d+)", field(a, "events"))
    check(m and int(m.group(2)) == acked and int(m.group(1)) >= acked, f"status: expected {acked} acked: {a}")
    check(field(a, "last seq") == str(last_seq), f"status: expected last seq {last_seq}: {a}")
    # The serial session is the one console connection.
    check(re.match(r"ingest \d+/64\s+console 1/4\b", field(a, "connections")), f"status: connections: {a}")
    return a


def pools(g):
    """`pools` -> {name: (in_use, limit, cap, high, refusals, waits)}; every pool of the budget."""
    a = g.command("pools")
    check(a and a[0].split()[:3] == ["pool", "in", "use"], f"pools: no header: {a}")
    rows = {}
    for ln in a[1:]:
        m = re.match(r"(\S+)\s+(\d+)/(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+\[[#|.]+\]\s+\d+%$", ln)
        check(m, f"pools: malformed row {ln!r}")
        rows[m.group(1)] = tuple(int(x) for x in m.groups()[1:])
    missing = [p for p in POOLS if p not in rows]
    check(not missing, f"pools: missing {missing}: {a}")
    for name, (use, limit, cap, high, refused, _) in rows.items():
        check(use <= limit <= cap and use <= high <= cap, f"pools: {name} impossible counts: {rows[name]}")
    check(rows["console_session"][0] == 1, f"pools: the serial session holds one console slot: {a}")
    check(rows["store_conn"][0] == 1, f"pools: the store connection is in use: {a}")
    return rows


def watchdog(g):
    """`watchdog`: healthy, feeding, no check failing, no device error; returns the feed count.
    TCG on a loaded host can delay one tick past loop_lag's limit: look again for a few seconds
    before calling it unhealthy (feeding goes on through watchdog.grace anyway)."""
    for attempt in range(10):
        a = g.command("watchdog")
        rows = {name: next((ln.split() for ln in a if ln.split()[:1] == [name]), None) for name in CHECKS}
        healthy = field(a, "health") == "ok, feeding" and all(r and r[1] in ("ok", "warn") for r in rows.values())
        if healthy or attempt == 9:
            break
        time.sleep(1)
    check(field(a, "health") == "ok, feeding", f"watchdog: not healthy and feeding: {a}")
    for name, row in rows.items():
        check(row and row[1] in ("ok", "warn"), f"watchdog: check {name} failing or missing: {row}")
    c = {k.strip(): int(v) for k, v in re.findall(r"([a-z ]+?) (\d+)(?:,|$)", field(a, "counters"))}
    check(c.get("feeds", 0) >= 1 and c.get("device errors") == 0, f"watchdog: counters: {c}")
    return c["feeds"]


def boot_and_serve(image, workdir, disk, name, first_seq, events, bad_line):
    port = free_port()
    g = Guest(image, workdir, name, port, data_disk=disk)
    try:
        t_pid1, _ = g.wait_for(r"init: bulkhead \S+ is PID 1", BOOT_DEADLINE, "init's first line")
        # The serial session greets as soon as the reactor runs, sometimes before "running".
        t_prompt, _ = g.wait_for(re.escape(PROMPT), BOOT_DEADLINE, "the console prompt")
        t_run, _ = g.wait_for(r"bulkhead \S+ running", BOOT_DEADLINE, '"running"')
        check(re.search(r"^pool\s+capacity\s+limit", g.out, re.M), "no budget table header")
        check(re.search(r"^total\s.*fd ceiling 256", g.out, re.M), "no budget table total line")
        check("init: /dev/watchdog present" in g.out, "the i6300esb driver did not give /dev/watchdog")
        check(re.search(r"init: store on /dev/vda \(ext4\)", g.out), "the store is not on the data disk")
        check(re.search(r"init: \d+ module\(s\) from \S+ loaded, 0 failed", g.out), "module loading failed")
        check("init: console on /dev/ttyAMA0" in g.out, "init did not give the console the serial line")
        check("console: serial line /dev/ttyAMA0 at 115200 baud" in g.out, "no serial console")
        check(f"watchdog: hardware device /dev/watchdog armed, timeout {WATCHDOG_TIMEOUT:.0f}s" in g.out,
              "the hardware watchdog is not armed with the configured timeout")
        check("TEST HOOK" not in g.out, "a test hook is active without being asked for")

        check_status(g, 0, first_seq - 1)
        rows = pools(g)
        check(rows["ingest_conn"][0] == 0, f"pools: an ingest connection before any was made: {rows}")
        feeds = watchdog(g)

        replies = send_events(port, events, bad_line)
        seqs = [int(r.split()[1]) for r in replies if re.fullmatch(r"ok \d+", r)]
        check(len(seqs) == events, f"expected {events} acks, got {replies[:5]}...")
        check(seqs == list(range(first_seq, first_seq + events)),
              f"acks not in order from {first_seq}: {seqs[:5]}...{seqs[-3:]}")
        if bad_line:
            check(replies[-1].startswith("err "), f"malformed line not refused: {replies[-1]!r}")

        check_status(g, events, seqs[-1])
        # The connection we closed goes back to its pool once the guest has read our FIN.
        for _ in range(50):
            rows = pools(g)
            if rows["ingest_conn"][0] == 0:
                break
            time.sleep(0.1)
        check(rows["ingest_conn"][0] == 0 and rows["ingest_conn"][3] >= 1,
              f"pools: the ingest connection was not used and returned: {rows['ingest_conn']}")
        # The device is fed on every tick (watchdog.period, 1 s) while the checks hold.
        for _ in range(5):
            later = watchdog(g)
            if later > feeds:
                break
            time.sleep(1)
        check(later > feeds, f"watchdog: no feed since the first look ({feeds} -> {later})")

        t_stop = time.monotonic()
        check(g.command("shutdown") == ["shutting down"], "shutdown: unexpected answer")
        code = g.wait_exit(STOP_DEADLINE)
        t_down = time.monotonic() - t_stop
        check("0 pool(s) not at zero" in g.out, "no clean stop line (every pool at zero)")
        check("init: bulkhead exited: exit code 0" in g.out, "bulkhead did not exit 0")
        check("init: powering off" in g.out, "init did not power off")
        check("reboot: Power down" in g.out, "the kernel did not power down")
        check(code == 0, f"QEMU exit code {code}")
        check("Kernel panic" not in g.out, "kernel panic")
        return {"pid1": t_pid1, "running": t_run, "prompt": t_prompt, "poweroff": t_down,
                "last_seq": seqs[-1], "feeds": later}
    except Fail as e:
        raise Fail(f"{name}: {e}\n--- serial log ({g.log_path}) ---\n{g.out[-6000:]}")
    finally:
        g.kill()


def boot_and_stall(image, workdir, name):
    """The reactor stalls on purpose: the hardware watchdog must reset the guest."""
    g = Guest(image, workdir, name, free_port(), extra_append=f"bulkhead.test_watchdog=stall_ms={STALL_MS}",
              qmp=True)
    try:
        _, hook = g.wait_for(r"init: (TEST HOOK: BH_TEST_WATCHDOG=stall_ms=|bulkhead.test_watchdog ignored)",
                             BOOT_DEADLINE, "init's word on the test hook")
        check(hook.group(1).startswith("TEST HOOK"),
              "the image's bulkhead has no test hooks: build it with BH_TEST_HOOKS (make static does)")
        _, armed = g.wait_for(r"watchdog: hardware device /dev/watchdog armed", BOOT_DEADLINE, "the armed watchdog")
        t_armed = time.monotonic()
        g.wait_for(rf"watchdog: TEST HOOKS active: stall {STALL_MS} ms", BOOT_DEADLINE, "the stall hook")
        # The reactor runs (the console greets) and stalls after the watchdog's first tick, which
        # feeds: often before main logs "running", which then never comes.
        g.wait_for(re.escape(PROMPT), BOOT_DEADLINE, "the console prompt")
        code = g.wait_exit(WATCHDOG_TIMEOUT + 30, "the stall (no watchdog reset)")
        t_reset = time.monotonic() - t_armed
        events = g.qmp.poll()
        kinds = [(e["event"], e.get("data", {})) for e in events]
        check(("WATCHDOG", {"action": "reset"}) in [(k, {"action": d.get("action")}) for k, d in kinds],
              f"no WATCHDOG reset event from QEMU: {kinds}")
        check(any(k == "SHUTDOWN" and d.get("reason") == "guest-reset" for k, d in kinds),
              f"QEMU did not end on a guest reset: {kinds}")
        check(code == 0, f"QEMU exit code {code}")
        check(t_reset >= WATCHDOG_TIMEOUT - 1, f"reset {t_reset:.1f} s after arming: before the watchdog timeout")
        # Nothing after the stall began: no clean stop, no power-off, no panic.
        tail = g.out[armed.end():]
        for line in ("shutting down", "stopped:", "init: bulkhead exited", "init: powering off", "init: rebooting",
                     "reboot: Power down", "Kernel panic"):
            check(line not in tail, f"'{line}' on the console: not a watchdog reset")
        return {"reset": t_reset}
    except Fail as e:
        raise Fail(f"{name}: {e}\n--- serial log ({g.log_path}) ---\n{g.out[-6000:]}")
    finally:
        g.kill()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--image", required=True, help="directory with vmlinuz and initramfs.cpio.gz")
    ap.add_argument("--events", type=int, default=200)
    ap.add_argument("--no-watchdog-reset", action="store_true", help="skip boot 3 (the stalled reactor)")
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
    disk = make_data_disk(os.path.join(workdir, "data.img"))
    names = ["boot1", "boot2"] + ([] if args.no_watchdog_reset else ["boot3"])
    try:
        b1 = boot_and_serve(image, workdir, disk, "boot1", 1, args.events, True)
        b2 = boot_and_serve(image, workdir, disk, "boot2", b1["last_seq"] + 1, 20, False)
        b3 = None if args.no_watchdog_reset else boot_and_stall(image, workdir, "boot3")
    except Fail as e:
        print(f"test_image: FAILED: {e}")
        return 1
    finally:
        with open(os.path.join(image, "test-image.log"), "w") as out:
            for n in names:
                p = os.path.join(workdir, f"{n}.serial.log")
                if os.path.exists(p):
                    out.write(f"===== {n}.serial.log\n" + open(p).read())
        shutil.rmtree(workdir, ignore_errors=True)
    total = time.monotonic() - t0
    for name, b in (("boot 1", b1), ("boot 2", b2)):
        print(f"test_image: {name}: PID 1 at {b['pid1']:.1f} s, running at {b['running']:.1f} s, "
              f"console prompt at {b['prompt']:.1f} s after QEMU started; power-off {b['poweroff']:.1f} s "
              f"after `shutdown`")
    print(f"test_image: status, pools and watchdog answered on the serial console; {args.events} events acked "
          f"in order, +20 after a power cycle (seq {b2['last_seq']}); clean power-off with every pool at zero, "
          f"twice")
    if b3:
        print(f"test_image: boot 3: reactor stalled on purpose; the i6300esb reset the guest "
              f"{b3['reset']:.1f} s after bulkhead armed it (timeout {WATCHDOG_TIMEOUT:.0f} s)")
    print(f"test_image: passed, {total:.1f} s in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
