#!/usr/bin/env python3
"""MQTT sink throughput (issue #15), in one run against the same local Mosquitto broker:

  ref   `mosquitto_pub -l -q 1` fed N lines (the reference publisher): the PUBLISHes the broker acked
        (it sends only ~1/3 of the lines, see main) over the wall time of the whole feed;
  mqtt  bulkhead's MQTT sink (QoS 1, max_inflight 20) draining a backlog of N events from its store;
  http  bulkhead's HTTP sink (envelope batches of 1000) draining the same backlog to a loopback
        HTTP sink that answers 200 at once (a Python asyncio server: its own cost is in the figure).

Events are 250-byte JSON objects. For the sinks, the N events are ingested first with the sink's
peer down, then the peer starts and the drain is timed from the first delivered event to the last
(bulkhead_sink_delivered_total on /metrics, read every 20 ms): the sink alone, not ingest.
Prints one table and one JSON line. Usage: tests/bench/mqtt_bench.py [--events N] [--bulkhead PATH]
The machine may be shared (CI, other builds): the ratios are the figure to read, not the rates.
"""
import argparse, asyncio, json, os, signal, socket, subprocess, sys, tempfile, threading, time, urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_port(port, timeout=10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return True
        except OSError:
            time.sleep(0.02)
    return False


def start_broker(d, port):
    conf = os.path.join(d, "mosquitto.conf")
    with open(conf, "w") as f:
        f.write(("user root\n" if os.geteuid() == 0 else "") +
                f"listener {port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\nset_tcp_nodelay true\n"
                f"log_dest none\n")
    p = subprocess.Popen(["mosquitto", "-c", conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert wait_port(port), "broker did not start"
    return p


def event(i):
    base = {"i": i, "sensor": "bench", "text": ""}
    pad = 250 - len(json.dumps(base, separators=(",", ":")))
    base["text"] = "x" * pad
    s = json.dumps(base, separators=(",", ":"))
    assert len(s) == 250, len(s)
    return s


def metric(admin, name):
    try:
        body = urllib.request.urlopen(f"http://127.0.0.1:{admin}/metrics", timeout=2).read().decode()
    except OSError:
        return -1
    for line in body.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return -1


def ingest(port, lines):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(("\n".join(lines) + "\n").encode())
    got, buf = 0, b""
    while got < len(lines):
        chunk = s.recv(1 << 20)
        if not chunk:
            break
        buf += chunk
        got = buf.count(b"\n")
    s.close()
    return got


def run_bulkhead(exe, d, sink_toml, n, lines, start_peer):
    ingest_port, admin_port = free_port(), free_port()
    os.makedirs(os.path.join(d, "var"), exist_ok=True)
    cfg = os.path.join(d, "bulkhead.toml")
    with open(cfg, "w") as f:
        f.write(f'[ingest]\nlisten = "127.0.0.1:{ingest_port}"\n[admin]\nlisten = "127.0.0.1:{admin_port}"\n'
                f'[store]\npath = "{d}/var/bulkhead.db"\n[audit]\nenabled = false\n'
                f'[console]\nsocket = "{d}/var/console.sock"\n{sink_toml}')
    log = open(os.path.join(d, "bulkhead.log"), "w")
    p = subprocess.Popen([exe, "run", "--config", cfg], stdout=log, stderr=log, cwd=d)
    try:
        assert wait_port(ingest_port, 20), "bulkhead did not start"
        assert ingest(ingest_port, lines) == n, "not every event acked"
        name = 'bulkhead_sink_delivered_total{sink="s"}'
        peer = start_peer()
        t0 = None
        end = time.monotonic() + 600
        while time.monotonic() < end:
            if p.poll() is not None:
                raise RuntimeError("bulkhead exited; see " + log.name)
            v = metric(admin_port, name)
            if t0 is None and v > 0:
                t0, v0 = time.monotonic(), v
            if v >= n:
                return (n - v0) / (time.monotonic() - t0), peer
            time.sleep(0.02)
        raise RuntimeError("drain did not finish; see " + log.name)
    finally:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            p.wait(20)


class HttpPeer:
    """HTTP/1.1 keep-alive server answering 200 to every request, on its own thread."""

    def __init__(self, port):
        self.port = port
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self._run, daemon=True).start()
        assert wait_port(port)

    def _run(self):
        asyncio.set_event_loop(self.loop)

        async def handle(r, w):
            try:
                while True:
                    head = await r.readuntil(b"\r\n\r\n")
                    n = 0
                    for l in head.split(b"\r\n"):
                        if l.lower().startswith(b"content-length:"):
                            n = int(l.split(b":")[1])
                    await r.readexactly(n)
                    w.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                    await w.drain()
            except Exception:
                w.close()

        self.loop.run_until_complete(asyncio.start_server(handle, "127.0.0.1", self.port))
        self.loop.run_forever()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=100000)
    ap.add_argument("--inflight", type=int, default=20, help="the MQTT sink's max_inflight (mosquitto_pub's is 20)")
    ap.add_argument("--bulkhead", default=os.path.join(ROOT, "build/release/firmware/bulkhead"))
    a = ap.parse_args()
    n = a.events
    lines = [event(i) for i in range(n)]
    with tempfile.TemporaryDirectory() as d:
        os.chmod(d, 0o755)
        bport = free_port()
        broker = start_broker(d, bport)
        try:
            # Reference publisher: the same lines, QoS 1.
            # mosquitto_pub -l -q 1 (2.0.11) does not publish every line it reads: fed 100 000 lines it
            # sends ~34 500 PUBLISHes and disconnects. So the rate counts the PUBACKs it received
            # (its -d log), not the lines fed: n / time flattered it ~3x.
            t = time.monotonic()
            out = subprocess.run(["mosquitto_pub", "-d", "-h", "127.0.0.1", "-p", str(bport), "-q", "1", "-l", "-t",
                                  "bench/ref", "-i", "bench-ref"], input=("\n".join(lines) + "\n").encode(),
                                 stdout=subprocess.PIPE, check=True).stdout
            ref_time = time.monotonic() - t
            ref_acked = out.count(b"received PUBACK")
            ref = ref_acked / ref_time
            ref_fed = n / ref_time
        finally:
            broker.terminate()
            broker.wait()
        os.makedirs(os.path.join(d, "m"))
        mqtt_toml = (f'[[sink]]\nname = "s"\ntype = "mqtt"\nurl = "mqtt://127.0.0.1:{bport}"\ntopic = "bench/sink"\n'
                     f'max_inflight = {a.inflight}\nbackoff_base = "10ms"\nbackoff_cap = "50ms"\nbreaker_recovery = "100ms"\n')
        brokers = []
        try:
            mqtt, _ = run_bulkhead(a.bulkhead, os.path.join(d, "m"), mqtt_toml, n, lines,
                                   lambda: brokers.append(start_broker(d, bport)))
        finally:
            for b in brokers:
                b.terminate()
                b.wait()
        os.makedirs(os.path.join(d, "h"))
        hport = free_port()
        http_toml = (f'[[sink]]\nname = "s"\nurl = "http://127.0.0.1:{hport}/ingest"\n'
                     f'backoff_base = "10ms"\nbackoff_cap = "50ms"\nbreaker_recovery = "100ms"\n')
        http, _ = run_bulkhead(a.bulkhead, os.path.join(d, "h"), http_toml, n, lines, lambda: HttpPeer(hport))
    print(f"events {n} x 250 B, QoS 1; machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")
    print(f"{'reference mosquitto_pub -l -q 1':34} {ref:10.0f} ev/s   ({ref_acked} of {n} lines PUBACKed; "
          f"{ref_fed:.0f} lines/s fed)")
    print(f"{'bulkhead MQTT sink (QoS 1, window ' + str(a.inflight) + ')':34} {mqtt:10.0f} ev/s   {mqtt / ref:5.2f} x reference")
    print(f"{'bulkhead HTTP sink (batches of 1000)':34} {http:10.0f} ev/s   MQTT/HTTP {mqtt / http:5.2f}")
    print(json.dumps({"bench": "mqtt_sink", "events": n, "inflight": a.inflight, "ref_eps": round(ref), "ref_acked": ref_acked, "ref_fed_lps": round(ref_fed), "mqtt_eps": round(mqtt),
                      "http_eps": round(http), "mqtt_vs_ref": round(mqtt / ref, 2), "mqtt_vs_http": round(mqtt / http, 2),
                      "load1": os.getloadavg()[0]}))


if __name__ == "__main__":
    sys.exit(main())
