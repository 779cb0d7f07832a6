#!/usr/bin/python3
"""Soak: the real bulkhead under mixed load and periodic faults, sampled every second (`make soak`).

Load: TCP NDJSON producers at a fixed total rate, each reading its `ok <seq>` acks, plus one HTTP
producer POSTing small NDJSON bodies to /v1/events. Everything goes to one loopback HTTP sink run
by this script, which records every seq it receives.

Faults, in cycles that start again with each bulkhead process (so each process meets every fault
during its warm-up and again later): the sink goes down (listener closed, connections reset) or
answers 503 for a while, a connection flood opens more connections than the ingest pool (each
extra one must read `err busy connection limit`), and halfway through bulkhead is stopped with
SIGTERM (it must exit 0) and started again on the same store. A process living 150 s or more
(runs of 5 min and longer) gets 40 s cycles from 10 s on: a flood, 5 s later the sink down for 8 s,
18 s later 503 for 8 s. A shorter life scales the cycle's times by k = life / 150 (outages last at
least 3 s), so that in a 1-minute run (30 s per process) each process still meets every fault
during its warm-up and again after it.

Every second: VmRSS (/proc/PID/status), open FDs (/proc/PID/fd), and from the admin /metrics each
pool's in-use and high-water, loop lag, the FD budget, SQLite's heap, pending and delivered events; plus events
acked (counted by the producers) and delivered (distinct seqs the sink received). Written to
soak.csv and drawn into soak.png (gnuplot); the faults go to faults.csv, the verdict to summary.txt.

The run fails (exit 1) if:
  * RSS grows after warm-up: for each bulkhead process, warm-up is its first W seconds
    (W = 20 % of the run, at least 50 s: the first fault cycle, from 10 s to 41 s, and the delivery
    of its backlog, so that every buffer has met its largest use once; a process living under
    150 s warms up for 70 % of its life: two scaled fault cycles and the start of a third, as in
    the first 120 s of a 10-minute run); the baseline is the highest RSS seen during warm-up;
    the highest RSS over the last quarter of the process's life (after warm-up, at least 5 samples)
    must not exceed the baseline by more than 2 %;
  * the open FD count ever passes the FD ceiling (256, `bulkhead_fd_ceiling`);
  * any acked seq is missing at the sink at the end (after the sink has had up to --drain seconds,
    fault-free, to catch up), or one seq was acked twice;
  * a SIGTERM'd bulkhead exits non-zero, or a flood connection beyond the pool did not get
    `err busy connection limit`.

Usage: tests/soak/soak.py --bulkhead build/release/firmware/bulkhead --minutes 10 --out build/soak
"""
import argparse
import collections
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

RSS_GROWTH_LIMIT = 0.02
FD_CEILING_DEFAULT = 256
POOLS = ["ingest_conn", "task", "admin_conn", "sink_conn", "sink", "store_conn", "file", "console_session"]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def log(msg):
    print(f"soak: {msg}", flush=True)


# ---- the sink -------------------------------------------------------------------------------------

class Sink:
    """A loopback HTTP/1.1 sink with keep-alive. mode: 'up' (200), '503', 'down' (no listener)."""

    SEQ = re.compile(rb'^\{"seq":(\d+)', re.M)

    def __init__(self, port):
        self.port = port
        self.lock = threading.Lock()
        self.seqs = set()
        self.received = 0  # envelopes, duplicates included
        self.requests = 0
        self.answered_503 = 0
        self.mode = "up"
        self.lsock = None
        self.conns = set()
        self.stopping = False
        self._listen()
        self.thread = threading.Thread(target=self._accept_loop, daemon=True)
        self.thread.start()

    def _listen(self):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", self.port))
        s.listen(64)
        s.settimeout(0.2)
        self.lsock = s

    def set_mode(self, mode):
        with self.lock:
            if mode == self.mode:
                return
            if mode == "down":
                if self.lsock:
                    self.lsock.close()
                    self.lsock = None
                for c in list(self.conns):
                    try:
                        c.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
            elif self.lsock is None:
                self._listen()
            self.mode = mode

    def delivered(self):
        with self.lock:
            return len(self.seqs)

    def _accept_loop(self):
        while not self.stopping:
            with self.lock:
                ls = self.lsock
            if ls is None:
                time.sleep(0.05)
                continue
            try:
                c, _ = ls.accept()
            except (socket.timeout, OSError):
                continue
            with self.lock:
                if self.mode == "down":
                    c.close()
                    continue
                self.conns.add(c)
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        buf = b""
        try:
            c.settimeout(60)
            while True:
                while b"\r\n\r\n" not in buf:
                    d = c.recv(65536)
                    if not d:
                        return
                    buf += d
                head, buf = buf.split(b"\r\n\r\n", 1)
                m = re.search(rb"(?im)^content-length:\s*(\d+)", head)
                n = int(m.group(1)) if m else 0
                while len(buf) < n:
                    d = c.recv(max(65536, n - len(buf)))
                    if not d:
                        return
                    buf += d
                body, buf = buf[:n], buf[n:]
                with self.lock:
                    self.requests += 1
                    mode = self.mode
                    if mode == "up":
                        got = [int(x) for x in self.SEQ.findall(body)]
                        self.received += len(got)
                        self.seqs.update(got)
                    elif mode == "503":
                        self.answered_503 += 1
                if mode == "up":
                    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                elif mode == "503":
                    c.sendall(b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 5\r\n\r\nflap\n")
                else:
                    return
        except OSError:
            return
        finally:
            with self.lock:
                self.conns.discard(c)
            c.close()

    def close(self):
        self.stopping = True
        self.set_mode("down")


# ---- producers ------------------------------------------------------------------------------------

class Acks:
    def __init__(self):
        self.lock = threading.Lock()
        self.seqs = set()
        self.dup = 0
        self.replies = collections.Counter()  # reply kinds: ok, err <code>, eof, ...

    def ok(self, seq):
        with self.lock:
            if seq in self.seqs:
                self.dup += 1
            self.seqs.add(seq)
            self.replies["ok"] += 1

    def count(self, kind, n=1):
        with self.lock:
            self.replies[kind] += n

    def acked(self):
        with self.lock:
            return len(self.seqs)


def tcp_producer(idx, port, per_sec, acks, stop):
    """Sends per_sec lines a second in 50 ms rounds; each round waits for its acks (in order)."""
    tick = 0.05
    per_tick = max(1, round(per_sec * tick))
    n = 0
    pad = "x" * 64
    while not stop.is_set():
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=2)
        except OSError:
            acks.count("connect_failed")
            time.sleep(0.2)
            continue
        s.settimeout(15)
        f = s.makefile("rb")
        try:
            next_t = time.monotonic()
            while not stop.is_set():
                lines = []
                for _ in range(per_tick):
                    n += 1
                    lines.append(f'{{"producer":{idx},"n":{n},"t":{time.time():.3f},"pad":"{pad}"}}\n')
                s.sendall("".join(lines).encode())
                for _ in range(per_tick):
                    r = f.readline()
                    if not r:
                        raise ConnectionError("eof")
                    if r.startswith(b"ok "):
                        acks.ok(int(r[3:]))
                    else:
                        acks.count(" ".join(r.decode(errors="replace").split()[:2]))
                        if r.startswith(b"err busy connection limit"):
                            raise ConnectionError("refused")
                next_t += tick
                d = next_t - time.monotonic()
                if d > 0:
                    time.sleep(d)
                else:
                    next_t = time.monotonic()
        except (OSError, ConnectionError, ValueError):
            acks.count("reconnect")
            time.sleep(0.2)
        finally:
            f.close()
            s.close()


def http_producer(port, per_post, every, acks, stop):
    n = 0
    while not stop.wait(every):
        body = "".join(f'{{"http":1,"n":{n + i}}}\n' for i in range(per_post))
        n += per_post
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
            c.request("POST", "/v1/events", body=body, headers={"Content-Type": "application/x-ndjson"})
            r = c.getresponse()
            data = r.read()
            c.close()
            acks.count(f"http {r.status}")
            if r.status in (200, 400, 413, 408, 503) and data.startswith(b"{"):
                for res in json.loads(data).get("results", []):
                    if "seq" in res:
                        acks.ok(int(res["seq"]))
                    else:
                        acks.count("http err " + res.get("error", "?"))
        except (OSError, http.client.HTTPException, ValueError):
            acks.count("http failed")


def flood(port, n, hold):
    """Opens n connections at once; returns (busy, other): busy read `err busy connection limit`."""
    socks = []
    for _ in range(n):
        try:
            socks.append(socket.create_connection(("127.0.0.1", port), timeout=2))
        except OSError:
            pass
    busy = 0
    deadline = time.monotonic() + 3
    pending = list(socks)
    while pending and time.monotonic() < deadline:
        still = []
        for s in pending:
            s.settimeout(0.01)
            try:
                d = s.recv(256)
                if d.startswith(b"err busy connection limit"):
                    busy += 1
                # anything else, or EOF: not a busy answer
            except socket.timeout:
                still.append(s)
            except OSError:
                pass
        pending = still
    time.sleep(hold)
    for s in socks:
        s.close()
    return busy, len(socks) - busy


# ---- bulkhead and its metrics ---------------------------------------------------------------------

class Bulkhead:
    def __init__(self, binary, workdir, config):
        self.binary = binary
        self.workdir = workdir
        self.config = config
        self.proc = None
        self.logf = open(os.path.join(workdir, "bulkhead.log"), "ab")

    def start(self, ingest_port):
        self.proc = subprocess.Popen([self.binary, "run", "--config", self.config], cwd=self.workdir,
                                     stdout=self.logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"bulkhead exited at start-up with {self.proc.returncode}")
            try:
                socket.create_connection(("127.0.0.1", ingest_port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("bulkhead did not open its ingest port within 20 s")

    def stop(self, timeout=30):
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None

    @property
    def pid(self):
        return self.proc.pid if self.proc and self.proc.poll() is None else None


METRIC = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)')


def scrape(port):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    c.request("GET", "/metrics")
    r = c.getresponse()
    text = r.read().decode()
    c.close()
    out = {}
    for line in text.splitlines():
        m = METRIC.match(line)
        if m:
            out[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    return out


def pool_value(metrics, family, pool):
    """bulkhead_pool_<family>{pool="<pool>"}; for sink_conn the sum over per-sink pools."""
    total = None
    for k, v in metrics.items():
        if not k.startswith(f"bulkhead_pool_{family}{{"):
            continue
        m = re.search(r'pool="([^"]*)"', k)
        name = m.group(1) if m else ""
        if name == pool or (pool == "sink_conn" and name.startswith("sink_conn.")):
            total = (total or 0) + v
    return total


def proc_sample(pid):
    rss = fds = None
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
        fds = len(os.listdir(f"/proc/{pid}/fd"))
    except (OSError, TypeError):
        pass
    return rss, fds


# ---- the run --------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bulkhead", required=True)
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--rate", type=int, default=3000, help="TCP events per second, all producers together")
    ap.add_argument("--producers", type=int, default=4)
    ap.add_argument("--flood", type=int, default=100, help="connections per flood (the ingest pool is 64)")
    ap.add_argument("--drain", type=float, default=120, help="seconds allowed at the end for delivery")
    ap.add_argument("--out", default="build/soak")
    args = ap.parse_args()

    binary = os.path.abspath(args.bulkhead)
    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    work = tempfile.mkdtemp(prefix="bh-soak.")
    total = args.minutes * 60.0
    # Each process lives half the run. Fault cycles are 40 s for a life of 150 s and more; a shorter
    # life scales them by k (see the docstring), and the warm-up with them.
    proc_life = total / 2
    k = min(1.0, proc_life / 150.0)
    flap = max(3.0, 8.0 * k)  # seconds the sink stays down, or answering 503
    first_cycle_end = 10 * k + 23 * k + flap
    recovery = max(5.0, 9 * k)  # the breaker's recovery (5 s) and the backlog's delivery
    warmup = max(first_cycle_end + recovery, 0.2 * total)
    if k < 1.0:
        # A short life: it warms up for 70 % of it (two fault cycles and the start of a third, as
        # the 120 s of a 10-minute run do), which still leaves its last quarter after the warm-up.
        warmup = 0.7 * proc_life

    ingest_port, admin_port, sink_port = free_port(), free_port(), free_port()
    config = os.path.join(work, "soak.toml")
    with open(config, "w") as f:
        f.write(f"""# written by tests/soak/soak.py
[ingest]
listen = "127.0.0.1:{ingest_port}"
[admin]
listen = "127.0.0.1:{admin_port}"
[store]
path = "{work}/var/bulkhead.db"
[audit]
path = "{work}/var/audit.log"
[console]
socket = "{work}/var/console.sock"
[[sink]]
name = "soak"
url = "http://127.0.0.1:{sink_port}/events"
backoff_cap = "2s"
breaker_recovery = "5s"
""")
    sink = Sink(sink_port)
    bh = Bulkhead(binary, work, config)
    acks = Acks()
    stop_load = threading.Event()
    stop_sampler = threading.Event()
    faults = []  # (t, what, detail)
    t0 = time.monotonic()
    now = lambda: time.monotonic() - t0
    state = {"sink": "up", "flood": 0, "restart": 0, "segment": 0}
    failures = []

    bh.start(ingest_port)
    log(f"bulkhead pid {bh.pid}, ingest {ingest_port}, admin {admin_port}, sink {sink_port}, work dir {work}")
    segments = [{"start": 0.0, "end": None, "pid": bh.pid}]

    # ---- sampler
    cols = (["t", "segment", "pid", "rss_kib", "fds", "fd_budget", "fd_ceiling", "loop_lag_ms", "loop_lag_max_ms"]
            + [f"{p}_{k}" for p in POOLS for k in ("in_use", "high_water")]
            + ["acked", "delivered_sink", "delivered_metric", "pending", "ingest_refused", "heap_after_seal",
               "sqlite_mem_kib", "sink_mode", "flood", "restart"])
    rows = []
    csv_path = os.path.join(out, "soak.csv")
    csvf = open(csv_path, "w")
    csvf.write(",".join(cols) + "\n")

    def sample():
        pid = bh.pid
        rss, fds = proc_sample(pid) if pid else (None, None)
        try:
            m = scrape(admin_port) if pid else {}
        except (OSError, http.client.HTTPException):
            m = {}
        g = lambda k, scale=1.0: (m[k] * scale if k in m else None)
        delivered_metric = sum(v for k, v in m.items() if k.startswith("bulkhead_sink_delivered_total")) if m else None
        row = {"t": round(now(), 2), "segment": state["segment"], "pid": pid, "rss_kib": rss, "fds": fds,
               "fd_budget": g("bulkhead_fd_budget"), "fd_ceiling": g("bulkhead_fd_ceiling"),
               "loop_lag_ms": g("bulkhead_loop_lag_seconds", 1000), "loop_lag_max_ms": g("bulkhead_loop_lag_max_seconds", 1000),
               "acked": acks.acked(), "delivered_sink": sink.delivered(), "delivered_metric": delivered_metric,
               "pending": g("bulkhead_store_pending_events"),
               "ingest_refused": g("bulkhead_ingest_connections_refused_total"),
               "heap_after_seal": g("bulkhead_heap_allocations_after_seal_total"),
               "sqlite_mem_kib": g("bulkhead_sqlite_memory_used_bytes", 1 / 1024),
               "sink_mode": {"up": 0, "503": 1, "down": 2}[state["sink"]], "flood": state["flood"],
               "restart": state["restart"]}
        for p in POOLS:
            row[f"{p}_in_use"] = pool_value(m, "in_use", p)
            row[f"{p}_high_water"] = pool_value(m, "high_water", p)
        rows.append(row)
        csvf.write(",".join("NaN" if row[c] is None else str(row[c]) for c in cols) + "\n")
        csvf.flush()

    def sampler():
        next_t = time.monotonic()
        while not stop_sampler.is_set():
            sample()
            next_t += 1.0
            stop_sampler.wait(max(0.0, next_t - time.monotonic()))

    # ---- faults: offsets within each process's life; one restart halfway
    half = total / 2
    def schedule(seg_start, seg_len):
        # Cycles of 40k s from 10k s on: a flood, the sink down for `flap` s, then answering 503.
        ev = []
        t = 10.0 * k
        while t + 5 * k < seg_len - 5 * k:
            ev.append((seg_start + t, "flood"))
            if t + 5 * k + flap < seg_len - 5 * k:
                ev.append((seg_start + t + 5 * k, "sink_down"))
            if t + 23 * k + flap < seg_len - 5 * k:
                ev.append((seg_start + t + 23 * k, "sink_503"))
            t += 40 * k
        return ev
    plan = sorted(schedule(0, half) + [(half, "restart")] + schedule(half, total - half))

    threading.Thread(target=sampler, daemon=True).start()
    load = [threading.Thread(target=tcp_producer, args=(i, ingest_port, args.rate / args.producers, acks, stop_load), daemon=True)
            for i in range(args.producers)]
    load.append(threading.Thread(target=http_producer, args=(admin_port, 20, 0.5, acks, stop_load), daemon=True))
    for th in load:
        th.start()

    def sink_flap(mode, secs):
        state["sink"] = mode
        sink.set_mode(mode)
        faults.append((round(now(), 1), f"sink_{mode}", f"{secs}s"))
        time.sleep(secs)
        sink.set_mode("up")
        state["sink"] = "up"
        faults.append((round(now(), 1), "sink_up", ""))

    floods = []
    def do_flood():
        state["flood"] = 1
        began = round(now(), 1)
        busy, other = flood(ingest_port, args.flood, 2.0)
        state["flood"] = 0
        floods.append((began, busy, other))
        faults.append((began, "flood", f"{args.flood} connections: {busy} busy, {other} served"))
        # Every connection beyond the pool's 64 must be refused in words (the producers hold a few).
        if busy < args.flood - 64:
            failures.append(f"flood at {now():.0f}s: only {busy} of {args.flood} got 'err busy connection limit'")

    workers = []
    for at, what in plan:
        while now() < at:
            time.sleep(0.05)
        if what == "flood":
            th = threading.Thread(target=do_flood, daemon=True)
        elif what in ("sink_down", "sink_503"):
            th = threading.Thread(target=sink_flap, args=(what[5:], flap), daemon=True)
        else:
            for w in workers:
                w.join()
            faults.append((round(now(), 1), "sigterm", f"pid {bh.pid}"))
            state["restart"] = 1
            code = bh.stop()
            faults.append((round(now(), 1), "exited", f"code {code}"))
            if code != 0:
                failures.append(f"SIGTERM under load: exit code {code} (want 0)")
            segments[-1]["end"] = now()
            bh.start(ingest_port)
            state["restart"] = 0
            state["segment"] += 1
            segments.append({"start": now(), "end": None, "pid": bh.pid})
            faults.append((round(now(), 1), "started", f"pid {bh.pid}"))
            log(f"restarted: pid {bh.pid}")
            continue
        th.start()
        workers.append(th)
    while now() < total:
        time.sleep(0.1)
    for w in workers:
        w.join()
    stop_load.set()
    for th in load:
        th.join(20)
    load_end = now()
    log(f"load stopped at {load_end:.0f}s: {acks.acked()} acked, {sink.delivered()} delivered; draining")

    # ---- drain: every acked seq must reach the sink
    deadline = time.monotonic() + args.drain
    while time.monotonic() < deadline:
        with acks.lock:
            acked = set(acks.seqs)
        with sink.lock:
            missing = acked - sink.seqs
        if not missing:
            break
        time.sleep(1)
    segments[-1]["end"] = now()
    code = bh.stop()
    faults.append((round(now(), 1), "sigterm", f"final, exit code {code}"))
    if code != 0:
        failures.append(f"final SIGTERM: exit code {code} (want 0)")
    time.sleep(1.5)
    stop_sampler.set()
    time.sleep(0.2)
    csvf.close()
    sink.close()

    # ---- verdict
    with acks.lock:
        acked = set(acks.seqs)
        dup_acks = acks.dup
        replies = dict(acks.replies)
    with sink.lock:
        got = set(sink.seqs)
        received = sink.received
        requests, answered_503 = sink.requests, sink.answered_503
    missing = sorted(acked - got)
    if missing:
        failures.append(f"{len(missing)} acked event(s) never reached the sink, e.g. seqs {missing[:10]}")
    if dup_acks:
        failures.append(f"{dup_acks} seq(s) acked twice")

    rss_lines = []
    for i, seg in enumerate(segments):
        s, e = seg["start"], seg["end"]
        life = [r for r in rows if r["segment"] == i and r["rss_kib"] is not None and s <= r["t"] <= e]
        warm = [r["rss_kib"] for r in life if r["t"] <= s + warmup]
        last = [r["rss_kib"] for r in life if r["t"] >= e - 0.25 * (e - s) and r["t"] > s + warmup]
        if not warm or len(last) < 5:
            failures.append(f"process {i + 1}: too few RSS samples (warm-up {len(warm)}, last quarter {len(last)})")
            continue
        base, top = max(warm), max(last)
        growth = (top - base) / base
        rss_lines.append(f"process {i + 1} (pid {seg['pid']}, {s:.0f}-{e:.0f}s): warm-up max {base / 1024:.1f} MiB, "
                         f"last-quarter max {top / 1024:.1f} MiB, growth {growth * 100:+.2f} % (limit +2 %)")
        if growth > RSS_GROWTH_LIMIT:
            failures.append(f"process {i + 1}: RSS grew {growth * 100:.2f} % after warm-up")
    fd_rows = [r for r in rows if r["fds"] is not None]
    max_fds = max((r["fds"] for r in fd_rows), default=0)
    ceiling = next((r["fd_ceiling"] for r in rows if r["fd_ceiling"]), FD_CEILING_DEFAULT)
    if max_fds > ceiling:
        failures.append(f"open FDs reached {max_fds}, over the ceiling {ceiling:.0f}")
    budget = next((r["fd_budget"] for r in rows if r["fd_budget"]), None)
    lags = [r["loop_lag_max_ms"] for r in rows if r["loop_lag_max_ms"] is not None]
    heap = [r["heap_after_seal"] for r in rows if r["heap_after_seal"] is not None]
    hw = {p: max((r[f"{p}_high_water"] for r in rows if r[f"{p}_high_water"] is not None), default=None) for p in POOLS}

    load_secs = load_end
    summary = [
        f"soak: {args.minutes:g} min, {args.producers} TCP producers at {args.rate} events/s total + HTTP POSTs of 20 lines every 0.5 s",
        f"faults: {sum(1 for f in faults if f[1] == 'sink_down')} sink outages, {sum(1 for f in faults if f[1] == 'sink_503')} 503 periods ({flap:g} s each), "
        f"{len(floods)} floods of {args.flood} connections, 1 restart (SIGTERM)",
        f"events: {len(acked)} acked ({len(acked) / load_secs:.0f}/s), {len(got)} distinct delivered, {len(missing)} acked missing, "
        f"{received - len(got)} redelivered duplicates; sink requests {requests} ({answered_503} answered 503)",
        f"replies: " + ", ".join(f"{k} {v}" for k, v in sorted(replies.items())),
        f"floods: " + "; ".join(f"t={t:.0f}s {b} busy/{o} served" for t, b, o in floods),
        f"open FDs: max {max_fds} (budget {budget if budget is None else int(budget)}, ceiling {ceiling:.0f})",
        f"loop lag max: {max(lags) if lags else float('nan'):.1f} ms",
        f"heap allocations after seal (last sample): {int(heap[-1]) if heap else 'n/a'}",
        "pool high-water: " + ", ".join(f"{p} {int(v)}" for p, v in hw.items() if v is not None),
        *rss_lines,
        ("RESULT: PASS" if not failures else "RESULT: FAIL\n  " + "\n  ".join(failures)),
    ]
    with open(os.path.join(out, "summary.txt"), "w") as f:
        f.write("\n".join(summary) + "\n")
    with open(os.path.join(out, "faults.csv"), "w") as f:
        f.write("t,fault,detail\n")
        for t, w, d in faults:
            f.write(f'{t},{w},"{d}"\n')
    shutil.copy(os.path.join(work, "bulkhead.log"), os.path.join(out, "bulkhead.log"))
    plot(out, rows, faults, segments, warmup, args)
    print("\n".join(summary), flush=True)
    log(f"csv {csv_path}, picture {os.path.join(out, 'soak.png')}")
    if not failures:
        shutil.rmtree(work, ignore_errors=True)
    else:
        log(f"work dir kept: {work}")
    return 0 if not failures else 1


def plot(out, rows, faults, segments, warmup, args):
    """Five panels sharing the time axis; sink outages shaded, the restart a vertical line."""
    if not shutil.which("gnuplot"):
        log("gnuplot not found: no picture")
        return
    tmax = rows[-1]["t"] if rows else 1
    shade = []
    down_at = None
    for t, what, _ in faults:
        if what in ("sink_down", "sink_503"):
            down_at = (t, what)
        elif what == "sink_up" and down_at:
            color = "#f4cccc" if down_at[1] == "sink_down" else "#fce5cd"
            shade.append(f'set object rect from {down_at[0]}, graph 0 to {t}, graph 1 back fc rgb "{color}" fs solid 1.0 noborder')
            down_at = None
    marks = []
    for t, what, _ in faults:
        if what == "flood":
            marks.append(f'set arrow from {t}, graph 0 to {t}, graph 1 nohead lc rgb "#9fc5e8" dt 2')
        if what == "sigterm":
            marks.append(f'set arrow from {t}, graph 0 to {t}, graph 1 nohead lc rgb "#cc0000" lw 2')
    for seg in segments:
        marks.append(f'set arrow from {seg["start"] + warmup}, graph 0 to {seg["start"] + warmup}, graph 1 nohead lc rgb "#555555" lw 1.5 dt 3')
    deco = "\n".join(shade + marks)
    pool_plots = ", ".join(
        f"csv using 1:(column('{p}_in_use')) with lines lw 1.5 title '{p}'"
        for p in ["ingest_conn", "task", "admin_conn", "sink_conn"])
    script = f"""
set terminal pngcairo size 1400,1500 font ",10" noenhanced
set output '{out}/soak.png'
set datafile separator ','
set datafile missing 'NaN'
csv = '{out}/soak.csv'
set key autotitle columnhead
set multiplot layout 5,1 title "bulkhead soak: {args.minutes:g} min, {args.rate} ev/s TCP + HTTP; red shade sink down, orange 503, blue dashes floods, red line SIGTERM+restart, grey dots end of warm-up"
set xrange [0:{tmax}]
set grid
set key top left
{deco}
set ylabel 'RSS (MiB)'
plot csv using 1:(column('rss_kib')/1024.0) with lines lw 2 lc rgb '#1155cc' title 'VmRSS'
set ylabel 'open FDs'
set yrange [0:270]
plot csv using 1:(column('fds')) with lines lw 2 title 'open FDs (/proc)', \\
     csv using 1:(column('fd_budget')) with lines dt 2 title 'FD budget', \\
     csv using 1:(column('fd_ceiling')) with lines lw 2 lc rgb '#cc0000' title 'ceiling'
set autoscale y
set ylabel 'slots in use'
plot {pool_plots}
set ylabel 'loop lag (ms)'
plot csv using 1:(column('loop_lag_ms')) with lines title 'loop lag', \\
     csv using 1:(column('loop_lag_max_ms')) with lines dt 2 title 'loop lag max (since start)'
set ylabel 'events'
set xlabel 'seconds'
plot csv using 1:(column('acked')) with lines lw 2 title 'acked (producers)', \\
     csv using 1:(column('delivered_sink')) with lines lw 2 title 'delivered (distinct at sink)', \\
     csv using 1:(column('pending')) with lines title 'pending (store)'
unset multiplot
"""
    gp = os.path.join(out, "soak.gp")
    with open(gp, "w") as f:
        f.write(script)
    r = subprocess.run(["gnuplot", gp], capture_output=True, text=True)
    if r.returncode != 0:
        log(f"gnuplot failed: {r.stderr.strip()}")


if __name__ == "__main__":
    sys.exit(main())
