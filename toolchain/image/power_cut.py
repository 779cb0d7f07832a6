#!/usr/bin/env python3
"""Power cuts on the emulated board (`make test-power-cut [CUTS=N SEED=S]`, CTest device.power_cut).

An `ok <seq>` promises that the event survives power loss. This test pulls the plug on
qemu-system-aarch64 (SIGKILL) at seeded random points while a host-side load generator sends
NDJSON through the forwarded ingest port and records every `ok <seq>` with its payload, then
checks that every acked event is still there.

The cut is harsher than QEMU's default. With a file-backed disk (cache=writeback) every write the
guest made sits in the host's page cache and outlives the SIGKILL: a broken fsync would never
show. cache=none/directsync would only hand the question to the host's own disk. Instead the data
disk is served by flaky_disk.py, an NBD server on a Unix socket that holds every write in memory
until the guest flushes (the virtio-blk device advertises a volatile write cache, so the guest's
fdatasync() ends in NBD_CMD_FLUSH): at a cut the held writes are dropped, or on "harsh" cuts a
seeded random subset of them is applied in random order, as a disk's volatile cache might have
written some back. (QEMU's blklogwrites driver plus a replayer up to the last flush would do too,
with more moving parts.)

The cuts run in LANES (2) parallel lanes (QEMU's TCG keeps one host core busy per guest, the
host's checks run while the other lane's guest works): each lane has its own ext4 data disk (made
here, as on a Pi's card), NBD server, guests (ports, serial and QMP sockets), acks and a seed
derived from the run's seed; its cuts run one after another, each boot on the lane's previous
cut's disk. The disk has the test's config at its root (pc.toml: audit.rotate_bytes 64 KiB,
store.retention_bytes 1 MiB, store.checkpoint_pages 16, so that rotations, retention and
checkpoints happen within seconds). Every boot takes the image's initramfs uncompressed (the same
cpio: the guest's gunzip would cost ~0.5 s of each boot under TCG). Each cut:
  1. boots on the previous cut's disk without help (ext4 journal replay, SQLite WAL recovery),
     waits for "running" and the console prompt and checks `status`: running, and last seq >=
     every seq acked so far;
  2. sends events (one connection, pipelined) and records each ack;
  3. SIGKILLs QEMU at the cut's kill point; the NBD server drops what was not flushed;
  4. checks a copy of the disk: e2fsck -fy (the journal replay; anything more it repaired is
     reported), then e2fsck -fn must find it clean; debugfs dumps the database, its -wal and the
     audit logs; Python's sqlite3: PRAGMA integrity_check is ok, every acked seq is present with
     its payload or was purged by retention (seq <= meta.purged_upto, the store's own record),
     every audit log parses up to its last complete line.
Kill points by kind (seeded order, offsets and drop/harsh, dealt to the lanes by make_plan; the
same seed gives the same plan per lane, the exact instants still follow the guest's timing):
  boot        0-1.5 s after init's first line: mount (journal replay), store open (WAL recovery)
  early       0-1.5 s after "running", under load (the first seconds after boot)
  load        0.5-3 s into a full-speed load (the other kinds' load is paced at RATE events/s)
  ack         the instant the host has read the k-th ack (k in 200-5000) of a full-speed load: the
              SIGKILL comes from the thread that reads the acks, the event's ack is hardly older
  checkpoint  1.0-1.4 s after the load stops: the checkpointer thread's idle checkpoint (1 s
              without commits); under load one runs every 16 WAL pages anyway
  rotation    when the audit log reaches rotate_bytes, predicted on the host from the acked
              lines (the audit line of an event is written just before its ack)
  retention   10.0-13.0 s after "running", under load: the housekeeping task's first retention
              pass (every 10 s), which deletes rows over the 1 MiB bound
Even lanes (lane2, ...) run with store.ack_log = true (pc-acklog.toml): there an acked event may
be only in the store's ack log (bulkhead.db-acklog, platform/store/ack_log.hpp) at the cut, its
row held in an uncommitted transaction; the check reads that log as the store's recovery would
(records that check, per half, older generation first) and counts such an event as kept only if
the log holds it with its payload; the next boot must replay it (its check then finds the row).
The audit log is written without fsync (but before a rotation), so a cut loses its last lines;
each boot's start-up writes them back from the store (platform/store/audit_catchup.hpp; the serial
log's "audit: N line(s) recovered from the store" lines are summed). After its cuts, each lane
boots once more without a cut, stops cleanly (`shutdown`: init syncs) and checks its disk: the
audit logs hold one line per stored seq in order from their first line on (older ones rotated
away), and every acked, unpurged seq has its line.
Self-check (a test that cannot fail is worse than none): at the end of the lane planned to finish
first, one more boot with the kernel option
bulkhead.test_ack_before_sync=1 (BH_TEST_HOOKS builds: the committer acks before the fsync) is cut
as an "ack" cut, up to three times, and must lose acked events; if none is lost the test fails ("the
cut is not harsh enough"). That boot reads pc-selfcheck.toml (checkpoint_pages 1000: the WAL is
synced by a checkpoint only every 4 MiB, so what it acked stays unsynced long enough to be lost).
An ack merely ahead of a sync that follows at once was tried first and is not caught: under QEMU
the ack reaches the host later than the guest's flush reaches the disk.
A cut's log line starts with its lane (`lane2-cut07`). The last line reads
`power-cut: N cuts, M events acked, 0 lost` (N and M over all lanes; or it says what was lost).
Exits 77 (CTest: skipped) when the image has not been built.
"""
import argparse
import os
import random
import re
import select
import shutil
import socket
import sqlite3
import struct
import subprocess
import sys
import tempfile
import threading
import time

from flaky_disk import FlakyDisk
from guest import (BOOT_DEADLINE, PROMPT, QEMU, STOP_DEADLINE, Fail, Guest, check, field, free_port, make_data_disk,
                   uncompressed_initrd)

HERE = os.path.dirname(os.path.abspath(__file__))
ROTATE_BYTES = 64 * 1024
RETENTION_PERIOD = 10.0     # firmware/app.cpp housekeeping()
# The kill point kinds; make_plan says how a run of N cuts chooses them.
KINDS = ("boot", "early", "load", "ack", "checkpoint", "rotation", "retention")
WINDOW = 256                # events sent and not yet acked
# The self-check's boot checkpoints (and so syncs the WAL) only every 4 MiB of WAL: what the
# broken build acked stays unsynced long enough for any cut to find it (with 16 pages the WAL is
# synced every ~50 ms at full speed and a cut may fall just after such a sync).
SELF_CHECK_PAGES = 1000
AUDIT_RECOVERED = re.compile(r"audit: (\d+) line\(s\) recovered from the store")
RATE = 1500                 # events/s the load generator offers (the guest takes ~5000/s)
AUDIT_LINE = re.compile(rb"\d+ \d+ \S+ \d+")
E2FSCK = shutil.which("e2fsck") or "/sbin/e2fsck"
DEBUGFS = shutil.which("debugfs") or "/sbin/debugfs"
# What e2fsck -fy prints on a filesystem whose only trouble was the cut (its journal to replay).
# The superblock's free block and inode counts are not kept up to date by the kernel (the group
# descriptors are the truth): e2fsck -f corrects them after any unclean stop, and it releases the
# orphan inodes (files unlinked while open, e.g. a rotated audit log) as the kernel's mount would.
E2FSCK_ROUTINE = re.compile(r"^(e2fsck \d|bulkhead: recovering journal|Pass \d|bulkhead: \d+/\d+ files|"
                            r"bulkhead: clean|Free (blocks|inodes) count wrong|Fix\? yes|"
                            r"bulkhead: \*+ FILE SYSTEM WAS MODIFIED|Clearing orphaned inode \d+ |\s*$)")


def test_config(checkpoint_pages=16):
    with open(os.path.join(HERE, "bulkhead.toml")) as f:
        text = f.read()
    text = text.replace('rotate_bytes = "4MiB"', f"rotate_bytes = {ROTATE_BYTES}")
    check(f"rotate_bytes = {ROTATE_BYTES}" in text, "bulkhead.toml: no audit rotate_bytes to shrink")
    return text.replace("[store]\n", f'[store]\nretention_bytes = "1MiB"\ncheckpoint_pages = {checkpoint_pages}\n')


class Load:
    """One ingest connection: a sender keeps WINDOW events in flight, a reader pairs each reply
    with its line (replies come in order) and records acks. Ends at stop() (after the replies
    of what was sent) or when the guest dies."""

    def __init__(self, port, cut, rng, on_ack=None, rate=RATE, kill_at=None):
        self.rate = rate               # events/s offered; None: as fast as the guest acks
        self.kill_at = kill_at         # (n, fn): fn() as soon as the n-th ack has been read
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=20)
        self.cut, self.rng, self.on_ack = cut, rng, on_ack
        self.sent = []                 # payloads in send order
        self.acked = {}                # seq -> payload
        self.errors = []
        self.last_ack_at = None
        self.credit = threading.Semaphore(WINDOW)
        self.stopping = threading.Event()
        self.done = threading.Event()
        self.sender = threading.Thread(target=self._send, daemon=True)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.sender.start()
        self.reader.start()

    def _send(self):
        n = 0
        t0 = time.monotonic()
        try:
            while not self.stopping.is_set():
                # Paced: the store grows by what 20 cuts send, and retention runs only every 10 s.
                ahead = n / self.rate - (time.monotonic() - t0) if self.rate else 0
                if ahead > 0:
                    self.stopping.wait(ahead)
                batch = []
                for _ in range(16):
                    if not self.credit.acquire(timeout=0.5):
                        break
                    pad = "x" * self.rng.randrange(20, 300)
                    batch.append(f'{{"cut":"{self.cut}","n":{n},"pad":"{pad}"}}')
                    n += 1
                if batch:
                    self.sent.extend(batch)
                    self.sock.sendall(("\n".join(batch) + "\n").encode())
        except OSError:
            pass

    def _read(self):
        buf, i = b"", 0
        try:
            while True:
                if self.stopping.is_set() and not self.sender.is_alive() and i >= len(self.sent):
                    break
                if not select.select([self.sock], [], [], 0.2)[0]:
                    continue
                chunk = self.sock.recv(65536)
                if not chunk:
                    break
                buf += chunk
                *lines, buf = buf.split(b"\n")
                for ln in lines:
                    text = ln.decode(errors="replace")
                    m = re.fullmatch(r"ok (\d+)", text)
                    if m:
                        self.acked[int(m.group(1))] = self.sent[i]
                        self.last_ack_at = time.monotonic()
                        if self.on_ack:
                            self.on_ack(int(m.group(1)), self.sent[i])
                        if self.kill_at and len(self.acked) == self.kill_at[0]:
                            self.kill_at[1]()
                    else:
                        self.errors.append(text)
                    i += 1
                    self.credit.release()
        except OSError:
            pass
        self.done.set()

    def stop(self, deadline_s=30):
        """Stops sending; waits for the replies of what was sent."""
        self.stopping.set()
        self.sender.join(deadline_s)
        check(self.done.wait(deadline_s), "the load's replies did not arrive")

    def close(self):
        """After the cut: the acks already on their way (in the host's socket buffer) still count,
        so the reader drains the connection to its end first."""
        self.stopping.set()
        self.done.wait(10)
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        self.sender.join(5)
        self.reader.join(5)


ACKLOG_HALF, ACKLOG_MAX, ACKLOG_MAGIC, ACKLOG_BLOCK = 2 << 20, 8192, 0x4C414842, 4096


def _crc32c_table():
    t = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        t.append(c)
    return t


CRC32C = _crc32c_table()


def crc32c(b):
    c = 0xFFFFFFFF
    for x in b:
        c = CRC32C[(c ^ x) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def acklog_events(path):
    """{seq: body} of the store's ack log as its recovery reads it (platform/store/ack_log.cpp): per
    half, the records from its start while they check and carry the half's first generation (one
    that does not check right after the last is looked for at the next block boundary)."""
    out = {}
    if not os.path.exists(path):
        return out
    with open(path, "rb") as f:
        data = f.read()
    halves = []
    for h in (0, 1):
        base, off, gen0, recs = h * ACKLOG_HALF, 0, None, []

        def record_at(off):
            if off + 40 > ACKLOG_HALF or base + off + 40 > len(data):
                return None
            magic, crc, gen, first, count, payload, _ = struct.unpack_from("<IIQQIIQ", data, base + off)
            if magic != ACKLOG_MAGIC or payload > ACKLOG_MAX - 40 or off + 40 + payload > ACKLOG_HALF:
                return None
            rec = data[base + off:base + off + 40 + payload]
            if (gen0 is not None and gen != gen0) or crc32c(rec[8:]) != crc:
                return None
            return gen, first, count, rec

        while True:
            r = record_at(off)
            if r is None and off % ACKLOG_BLOCK:  # a record that would cross a block starts the next
                off = (off // ACKLOG_BLOCK + 1) * ACKLOG_BLOCK
                r = record_at(off)
            if r is None:
                break
            gen0, first, count, rec = r
            recs.append((first, count, rec))
            off += len(rec)
        halves.append((gen0 or 0, recs))
    for _, recs in sorted(halves, key=lambda x: x[0]):
        for first, count, rec in recs:
            p = 40
            for i in range(count):
                _, blen, slen, ilen, flags = struct.unpack_from("<qIHHB", rec, p)
                p += 17 + (16 if flags & 2 else 0) + slen + ilen
                out[first + i] = rec[p:p + blen]
                p += blen
    return out


def debugfs(img, request):
    r = subprocess.run([DEBUGFS, "-R", request, img], capture_output=True, text=True)
    return r.stdout


def examine(disk, workdir, acked, rotation_size):
    """Checks a copy of the disk after a cut. Returns a dict of findings."""
    img = os.path.join(workdir, "check.img")
    subprocess.run(["cp", "--sparse=always", disk, img], check=True)
    fsck = subprocess.run([E2FSCK, "-fy", img], capture_output=True, text=True)
    extra = [ln for ln in fsck.stdout.splitlines() if not E2FSCK_ROUTINE.match(ln)]
    check(fsck.returncode in (0, 1), f"e2fsck -fy could not repair the disk ({fsck.returncode}): {fsck.stdout}")
    again = subprocess.run([E2FSCK, "-fn", img], capture_output=True, text=True)
    check(again.returncode == 0, f"e2fsck -fn after the repair: not clean ({again.returncode}): {again.stdout}")
    names = re.findall(r"/\d+/\d+/\d+/\d+/([^/]+)/", debugfs(img, "ls -p /"))
    out = os.path.join(workdir, "dump")
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    wanted = [n for n in names if n.startswith("bulkhead.db") and not n.endswith("-shm") or n.startswith("audit.log")]
    for n in wanted:
        debugfs(img, f"dump /{n} {os.path.join(out, n)}")
    found = {"fsck_extra": extra, "files": sorted(wanted)}
    purged_upto, next_seq, rows = 0, 1, {}
    if "bulkhead.db" in wanted:
        db = sqlite3.connect(os.path.join(out, "bulkhead.db"))
        try:
            ic = [r[0] for r in db.execute("PRAGMA integrity_check")]
            check(ic == ["ok"], f"PRAGMA integrity_check: {ic[:10]}")
            purged_upto, next_seq = db.execute("SELECT purged_upto, next_seq FROM meta WHERE id = 1").fetchone()
            rows = dict(db.execute("SELECT seq, body FROM events"))
            found["row_seqs"] = sorted(rows)
        finally:
            db.close()
    else:  # cut before the store was ever created
        check(not acked, f"no bulkhead.db on the disk after {len(acked)} acks: {names}")
    lost, wrong, purged, in_log = [], [], 0, 0
    logged = acklog_events(os.path.join(out, "bulkhead.db-acklog"))
    for seq, payload in acked.items():
        if seq <= purged_upto:
            purged += 1
            continue
        body = rows.get(seq)
        if body is None and seq in logged:
            body = logged[seq]
            in_log += 1
        if body is None:
            lost.append(seq)
        elif (body.encode() if isinstance(body, str) else bytes(body)) != payload.encode():
            wrong.append(seq)
    last_seq = max(max(rows, default=0), next_seq - 1, purged_upto)
    found.update(lost=sorted(lost), wrong=sorted(wrong), purged=purged, purged_upto=purged_upto, in_log=in_log,
                 rows=len(rows), last_seq=last_seq)

    audit_bad = []
    audit_seqs = []  # every complete line's seq, oldest file (audit.log.<keep>) first
    audit_files = sorted((n for n in wanted if n.startswith("audit.log")),
                         key=lambda n: -int(n.rsplit(".", 1)[1]) if n != "audit.log" else 0)
    for n in audit_files:
        with open(os.path.join(out, n), "rb") as f:
            data = f.read()
        complete = data[:data.rfind(b"\n") + 1]
        for k, ln in enumerate(complete.split(b"\n")[:-1]):
            if not AUDIT_LINE.fullmatch(ln):
                audit_bad.append(f"{n}:{k + 1}: {ln[:60]!r}")
                break
            audit_seqs.append(int(ln.split(b" ", 1)[0]))
        if n == "audit.log":
            rotation_size[0] = len(data)
        found["audit_lines"] = found.get("audit_lines", 0) + complete.count(b"\n")
    found["audit_bad"] = audit_bad
    found["audit_seqs"] = audit_seqs
    check(not audit_bad, f"audit log unreadable before its last complete line: {audit_bad}")
    return found


def check_audit_trail(f, acked):
    """After a clean boot (its catch-up) and a clean stop: the audit logs hold one line per stored
    seq, in order. Returns (lines checked, first seq of the trail on disk)."""
    seqs = f["audit_seqs"]
    disorder = [(a, b) for a, b in zip(seqs, seqs[1:]) if b <= a]
    check(not disorder, f"audit trail out of order or repeated: {disorder[:5]}")
    if not seqs:
        check(not f.get("row_seqs"), f"no audit line on the disk, {len(f.get('row_seqs', []))} stored events")
        return 0, 0
    # Rotation keeps `keep` files: older lines are gone on purpose; what is left must be complete.
    have = set(seqs)
    first = seqs[0]
    missing = [s for s in f.get("row_seqs", []) if s >= first and s not in have]
    check(not missing, f"{len(missing)} stored seq(s) without an audit line (first {missing[:5]})")
    unlined = [s for s in acked if s >= first and s > f["purged_upto"] and s not in have]
    check(not unlined, f"{len(unlined)} acked, unpurged seq(s) without an audit line (first {sorted(unlined)[:5]})")
    check(seqs[-1] <= f["last_seq"], f"audit line for seq {seqs[-1]} beyond the store's last seq {f['last_seq']}")
    return len(seqs), first


LANES = 2                   # cuts run in this many parallel lanes (QEMU's TCG takes one core each)
# Rough seconds per cut kind (boot, load, kill, checks) on a 2-core host: the plan deals each cut
# to the lane with the least estimated time so far, so the lanes end together.
ESTIMATE = dict(boot=5, early=6, load=9, ack=7, checkpoint=8, rotation=8, retention=16, selfcheck=8)


def make_plan(seed, cuts, lanes):
    """The kill points of a run: [(kind, offset fraction, harsh)] per lane, and the lane that runs
    the self-check. In this order a run of N cuts takes the first N of the repeated KINDS (20:
    retention twice, each other kind three times), then shuffles them; the longest cuts are dealt
    first, each to the lane with the least estimated time so far (the lanes end together, the
    retention cuts' waits land in different lanes); a lane keeps the shuffled order, retention not
    among its first two cuts (the store must be able to be over its bound). The same seed gives
    the same plan."""
    rng = random.Random(seed)
    kinds = [KINDS[i % len(KINDS)] for i in range(cuts)]
    rng.shuffle(kinds)
    order = sorted(range(cuts), key=lambda i: -ESTIMATE[kinds[i]])
    dealt = [[] for _ in range(lanes)]
    load = [0] * lanes
    for i in order:
        n = load.index(min(load))
        dealt[n].append(i)
        load[n] += ESTIMATE[kinds[i]]
    plan = []
    for idx in dealt:
        lane = [kinds[i] for i in sorted(idx)]
        late = [k for k in range(2, len(lane)) if lane[k] != "retention"]
        for k in range(min(2, len(lane))):
            if lane[k] == "retention" and late:
                j = late.pop(rng.randrange(len(late)))
                lane[k], lane[j] = lane[j], lane[k]
        plan.append([(k, rng.random(), rng.random() < 0.5) for k in lane])  # kind, offset fraction, harsh
    return plan, load.index(min(load))


class Lane:
    """One lane of a run: its own data disk, NBD server, guests (ports, serial and QMP sockets),
    seed and acks; its cuts run one after another, each boot on the previous cut's disk."""

    def __init__(self, n, args, seed, workdir, initrd, configs, plan, self_check, say, stop):
        self.n, self.args, self.plan, self.self_check, self.say, self.stop = n, args, plan, self_check, say, stop
        self.initrd = initrd
        self.seed = f"{seed}-lane{n}"
        self.rng = random.Random(self.seed)
        self.workdir = os.path.join(workdir, f"lane{n}")
        os.makedirs(self.workdir)
        self.config = "pc-acklog.toml" if n % 2 == 0 else "pc.toml"
        self.disk = make_data_disk(os.path.join(self.workdir, "data.img"), size_mb=128, files=configs)
        self.server = FlakyDisk(self.disk, os.path.join(self.workdir, "nbd.sock"), seed=self.seed)
        self.acked = {}
        self.audit_size = [0]
        self.purged_total = 0
        self.totals = dict(held_cuts=0, dropped=0, applied=0, fsck_extra=0, audit_lines=0, retention_done=0,
                           audit_recovered=0, audit_recovering_boots=0)
        self.audit_trail = None
        self.by_kind = {}
        self.failed = None
        self.n_acked = 0
        self.lost_by_hook = None
        self.seconds = 0.0

    def fail(self, text, name=None):
        self.failed = text
        self.stop.set()
        if name:
            log = os.path.join(self.workdir, f"{name}.serial.log")
            if os.path.exists(log):
                shutil.copy(log, self.args.image)

    def cut(self, name, kind, frac, harsh, hook=False):
        """One boot, its load and its cut; returns (this boot's acks {seq: payload}, a Fail or None)."""
        server = self.server
        server.wait_idle()
        server.harsh = harsh
        port = free_port()
        g = Guest(self.args.image, self.workdir, name, port, drive=server.drive(), initrd=self.initrd,
                  extra_append=("bulkhead.config=/var/lib/bulkhead/pc-selfcheck.toml bulkhead.test_ack_before_sync=1"
                                if hook else f"bulkhead.config=/var/lib/bulkhead/{self.config}"))
        try:
            return self._boot_load_cut(g, name, port, kind, frac, hook)
        finally:  # what this boot's start-up wrote back to the audit log from the store
            got = sum(int(n) for n in AUDIT_RECOVERED.findall(g.out))
            self.totals["audit_recovered"] += got
            self.totals["audit_recovering_boots"] += bool(got)

    def _boot_load_cut(self, g, name, port, kind, frac, hook):
        acked, audit_size, say = self.acked, self.audit_size, self.say
        load = None
        mine = {}
        try:
            if kind == "boot":
                # init mounts the disk (journal replay), loads modules, then the store opens (WAL
                # recovery); "running" follows about a second after init's first line.
                t_init, _ = g.wait_for(r"init: bulkhead \S+ is PID 1", BOOT_DEADLINE, "init's first line")
                target = g.started + t_init + 1.5 * frac
                while time.monotonic() < target and g.proc.poll() is None:
                    g._pump()
                g.kill()
                return mine, None
            t_run, _ = g.wait_for(r"bulkhead \S+ running", BOOT_DEADLINE, '"running"')
            t_run += g.started
            g.wait_for(re.escape(PROMPT), BOOT_DEADLINE, "the console prompt")
            check(("TEST HOOK: BH_TEST_ACK_BEFORE_SYNC" in g.out) == hook,
                  "the ack-before-sync hook is " + ("missing" if hook else "active without being asked for"))
            crossed = threading.Event()

            def on_ack(seq, payload):
                # The audit line of this event, "<seq> <ts_ms> ingest <size>\n" (ts: 13 digits), was
                # appended just before its ack; the log rotates before a line would take it past
                # rotate_bytes.
                line = len(f"{seq} 1234567890123 ingest {len(payload)}\n")
                if audit_size[0] + line > ROTATE_BYTES:
                    audit_size[0] = 0
                    if kind == "rotation":
                        crossed.set()
                audit_size[0] += line

            # Full speed for the plain load cuts and the self-check; paced otherwise, so that the
            # store does not outgrow the disk between retention passes.
            kill_at = (200 + int(4800 * frac), g.proc.kill) if kind == "ack" else None
            load = Load(port, name, random.Random(f"{self.seed}-{name}"), on_ack,
                        rate=None if kind in ("load", "ack") else RATE, kill_at=kill_at)
            if kind == "early":
                deadline = t_run + 1.5 * frac
            else:
                a = g.command("status")
                check(field(a, "state") == "running", f"status: state: {a}")
                last = int(field(a, "last seq"))
                if acked:
                    check(last >= max(acked), f"status: last seq {last} < {max(acked)}, acked before this boot")
                if kind == "load":
                    deadline = time.monotonic() + 0.5 + 2.5 * frac
                elif kind == "ack":
                    deadline = time.monotonic() + 30  # the reader kills QEMU at its ack
                elif kind == "checkpoint":
                    time.sleep(0.5 + frac)  # load for a while (the time passing is the test's subject)
                    load.stop()
                    deadline = (load.last_ack_at or time.monotonic()) + 1.0 + 0.4 * frac
                elif kind == "rotation":
                    crossed.wait(20)
                    deadline = time.monotonic()
                else:  # retention
                    deadline = t_run + RETENTION_PERIOD + 3.0 * frac
            while time.monotonic() < deadline and g.proc.poll() is None:
                g._pump()
            g.kill()
            load.close()
            mine = dict(load.acked)
            if load.errors:
                say(f"  {name}: {len(load.errors)} refusal(s), e.g. {load.errors[0]!r}")
            return mine, None
        except Fail as e:
            g.kill()
            if load:
                load.close()
                mine = dict(load.acked)
            return mine, e

    def run(self):
        t_start = time.monotonic()
        try:
            self._cuts()
            if self.failed is None and not self.stop.is_set():
                name = f"lane{self.n}-final"
                try:
                    self.audit_trail = self._final_boot()
                    self.say(f"  {name} clean boot: {self.audit_trail[2]} audit line(s) recovered; after `shutdown` the "
                             f"audit logs hold {self.audit_trail[0]} lines from seq {self.audit_trail[1]}, one per stored "
                             f"seq, in order (console: {self.audit_trail[3]})")
                except Fail as e:
                    self.fail(f"{name}: {e}", name)
                    self.say(f"  {name} FAILED: {e} (serial log: {self.args.image}/{name}.serial.log)")
            if self.failed is None and self.self_check and not self.stop.is_set():
                self._self_check()
        except Exception as e:  # noqa: BLE001 (a lane's crash must end the run, not hang it)
            self.fail(f"lane{self.n}: {type(e).__name__}: {e}")
        finally:
            self.seconds = time.monotonic() - t_start
            self.server.close()

    def _cuts(self):
        server, say = self.server, self.say
        purged_before = 0
        for i, (kind, frac, harsh) in enumerate(self.plan):
            if self.stop.is_set():
                return
            name = f"lane{self.n}-cut{i + 1:02d}"
            t0 = time.monotonic()
            io_before = dict(server.stats)
            mine, err = self.cut(name, kind, frac, harsh)
            self.acked.update(mine)
            self.n_acked = len(self.acked)
            server.wait_idle()
            lc = server.last_cut or (0, 0, 0)
            io = dict(server.stats)
            try:
                if err:
                    raise err
                f = examine(self.disk, self.workdir, self.acked, self.audit_size)
            except Fail as e:
                self.fail(f"{name} ({kind}): {e}", name)
                say(f"  {name} {kind:10s} FAILED: {e} (serial log: {self.args.image}/{name}.serial.log)")
                return
            self.by_kind[kind] = self.by_kind.get(kind, 0) + 1
            self.purged_total = f["purged"]
            t = self.totals
            t["held_cuts"] += lc[0] > 0
            t["dropped"] += lc[1]
            t["applied"] += lc[2]
            t["fsck_extra"] += bool(f["fsck_extra"])
            t["audit_lines"] += f.get("audit_lines", 0)
            retained = f["purged_upto"] > purged_before
            if kind == "retention":
                t["retention_done"] += retained
            purged_before = f["purged_upto"]
            say(f"  {name} {kind:10s} {'harsh' if harsh else 'drop '} {time.monotonic() - t0:5.1f} s  "
                f"acked {len(mine):5d} (total {len(self.acked):6d})  nbd {io['writes'] - io_before['writes']:4d} writes "
                f"{io['flushes'] - io_before['flushes']:4d} flushes, held at the cut {lc[0]} (dropped {lc[1]}, "
                f"applied {lc[2]})  rows {f['rows']}, purged_upto {f['purged_upto']}{' (advanced)' if retained else ''}, "
                f"audit lines on disk {f.get('audit_lines', 0)}"
                + (f", acked only in the ack log {f['in_log']}" if f["in_log"] else "")
                + (f"  e2fsck repaired more than the journal: {f['fsck_extra']}" if f["fsck_extra"] else ""))
            if f["lost"] or f["wrong"]:
                self.fail(f"{name}: {len(f['lost'])} acked event(s) lost (first seqs {f['lost'][:5]}), "
                          f"{len(f['wrong'])} with a wrong payload", name)
                say(f"  {self.failed}")
                return

    def _final_boot(self):
        """One more boot, no cut: its start-up catches the audit log up from the store; then a clean
        `shutdown` (init syncs) and the disk: every acked, unpurged seq has its audit line."""
        server, acked = self.server, self.acked
        server.wait_idle()
        server.harsh = False
        g = Guest(self.args.image, self.workdir, f"lane{self.n}-final", free_port(), drive=server.drive(), initrd=self.initrd,
                  extra_append=f"bulkhead.config=/var/lib/bulkhead/{self.config}")
        try:
            g.wait_for(r"bulkhead \S+ running", BOOT_DEADLINE, '"running"')
            g.wait_for(re.escape(PROMPT), BOOT_DEADLINE, "the console prompt")
            a = g.command("status")
            check(field(a, "state") == "running", f"status: state: {a}")
            if acked:
                last = int(field(a, "last seq"))
                check(last >= max(acked), f"status: last seq {last} < {max(acked)}, acked before this boot")
            console = next((ln.strip() for ln in g.command("store") if ln.startswith("audit")), "")
            check(g.command("shutdown") == ["shutting down"], "shutdown: unexpected answer")
            g.wait_exit(STOP_DEADLINE)
            check("init: bulkhead exited: exit code 0" in g.out, "bulkhead did not exit 0 after `shutdown`")
            recovered = sum(int(n) for n in AUDIT_RECOVERED.findall(g.out))
        finally:
            g.kill()
        server.wait_idle()
        f = examine(self.disk, self.workdir, acked, self.audit_size)
        check(not f["lost"] and not f["wrong"], f"{len(f['lost'])} acked event(s) lost after a clean stop")
        lines, first = check_audit_trail(f, acked)
        return lines, first, recovered, console

    def _self_check(self):
        """The ack-before-sync build, cut as an "ack" cut up to three times, must lose acked events.
        Its acks are not the real build's promises (n_acked leaves them out)."""
        acked = self.acked
        for attempt in range(3):
            name = f"lane{self.n}-selfcheck{attempt + 1}"
            mine, err = self.cut(name, "ack", self.rng.random(), False, hook=True)
            self.server.wait_idle()
            if err:
                self.fail(f"{name}: {err}", name)
                return
            acked_hook = dict(acked)
            acked_hook.update(mine)
            try:
                f = examine(self.disk, self.workdir, acked_hook, self.audit_size)
            except Fail as e:
                self.fail(f"{name}: {e}", name)
                return
            self.lost_by_hook = (len(f["lost"]), len(mine))
            self.say(f"  {name} ack-before-sync build: acked {len(mine)}, lost {len(f['lost'])}"
                     f" (seqs {f['lost'][:3]}..{f['lost'][-1:]})")
            if f["lost"]:
                return
            acked = self.acked = acked_hook  # nothing lost: still a promise kept, checked by the next attempt
        self.fail("self-check: the ack-before-sync build lost no acked event: the cut is not harsh enough")


def run(args):
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1, 1 << 31)
    lanes_n = max(1, min(args.lanes, args.cuts))
    print(f"power-cut: seed {seed} ({args.cuts} cuts in {lanes_n} lanes; replay with SEED={seed})", flush=True)
    plan, self_check_lane = make_plan(seed, args.cuts, lanes_n)

    workdir = tempfile.mkdtemp(prefix="bulkhead-power-cut-")
    log = open(os.path.join(args.image, "power-cut.log"), "w")
    lock = threading.Lock()

    def say(text):
        with lock:
            print(text, flush=True)
            log.write(text + "\n")
            log.flush()

    configs = {"pc.toml": test_config(), "pc-selfcheck.toml": test_config(SELF_CHECK_PAGES),
               "pc-acklog.toml": test_config().replace("[store]\n", "[store]\nack_log = true\n")}
    stop = threading.Event()  # a lane failed: the others stop after their current cut
    t_start = time.monotonic()
    initrd = uncompressed_initrd(args.image, workdir)
    lanes = [Lane(n + 1, args, seed, workdir, initrd, configs, plan[n], args.self_check and n == self_check_lane, say, stop)
             for n in range(lanes_n)]
    for lane in lanes:
        say(f"  lane{lane.n}: {len(lane.plan)} cuts: {' '.join(k for k, _, _ in lane.plan)}"
            + (" + self-check" if lane.self_check else ""))
    threads = [threading.Thread(target=lane.run, daemon=True) for lane in lanes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    by_kind = {k: sum(lane.by_kind.get(k, 0) for lane in lanes) for k in KINDS}
    totals = {k: sum(lane.totals[k] for lane in lanes) for k in lanes[0].totals}
    n_acked = sum(lane.n_acked for lane in lanes)
    purged_total = sum(lane.purged_total for lane in lanes)
    failed = next((lane.failed for lane in lanes if lane.failed), None)
    lost_by_hook = next((lane.lost_by_hook for lane in lanes if lane.lost_by_hook), None)
    kinds_text = ", ".join(f"{k} {by_kind[k]}" for k in KINDS)
    lanes_text = ", ".join(f"lane{lane.n} {lane.seconds:.0f} s" for lane in lanes)
    say(f"power-cut: kill points: {kinds_text}; {n_acked} acked events checked after every cut "
        f"({purged_total} purged by retention); {time.monotonic() - t_start:.0f} s with the self-check "
        f"({lanes_text})")
    say(f"power-cut: the disk: {totals['held_cuts']} cut(s) found unflushed writes held, {totals['dropped']} "
        f"dropped, {totals['applied']} applied out of order (harsh); e2fsck repaired more than the journal after "
        f"{totals['fsck_extra']} cut(s); retention committed before {totals['retention_done']} of "
        f"{by_kind['retention']} retention cut(s); {totals['audit_lines']} audit lines found on disk in all")
    trail = sum(lane.audit_trail[0] for lane in lanes if lane.audit_trail)
    say(f"power-cut: audit catch-up: {totals['audit_recovered']} line(s) written back from the store at "
        f"{totals['audit_recovering_boots']} boot(s); after each lane's final clean boot the trail is complete "
        f"({trail} lines)")
    if lost_by_hook:
        say(f"power-cut: self-check: the ack-before-sync build lost {lost_by_hook[0]} of {lost_by_hook[1]} "
            f"acked events in one cut")
    if failed:
        say(f"power-cut: FAILED: {failed} (seed {seed})")
        say(f"power-cut: {sum(by_kind.values())} cuts, {n_acked} events acked, {failed}")
        return 1
    shutil.rmtree(workdir, ignore_errors=True)
    say(f"power-cut: {sum(by_kind.values())} cuts, {n_acked} events acked, 0 lost")
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--image", required=True, help="make image's output (vmlinuz, initramfs.cpio.gz)")
    ap.add_argument("--cuts", type=int, default=int(os.environ.get("CUTS") or 20))
    ap.add_argument("--seed", type=int, default=int(os.environ["SEED"]) if os.environ.get("SEED") else None)
    ap.add_argument("--lanes", type=int, default=int(os.environ.get("LANES") or LANES),
                    help="cuts run in this many parallel lanes, each on its own disk (default %(default)s)")
    ap.add_argument("--no-self-check", dest="self_check", action="store_false",
                    help="skip the ack-before-sync build's cut")
    args = ap.parse_args()
    if not all(os.path.exists(os.path.join(args.image, f)) for f in ("vmlinuz", "initramfs.cpio.gz")):
        print(f"power-cut: no image in {args.image} (make image): skipped")
        return 77
    if not shutil.which(QEMU):
        print(f"power-cut: {QEMU} not installed: skipped")
        return 77
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
