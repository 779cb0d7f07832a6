"""What every fake service under tests/support/fakes/ shares: a scratch directory, a control file,
a request log, and an HTTP server on a free loopback port.

A fake is NOT a mock of bulkhead's expectations: it behaves like the real service (the same paths,
checks, answers and error bodies), scripted through its control file so a test decides when it
rate-limits, changes its data or closes. Conventions (tests/integration/jobs_test.cpp relies on
them):
  DIR/port          the port, written once the socket listens (atomically: port.tmp, rename)
  DIR/control.json  the script, written by the test (atomically) and read on every request; when
                    its text changes, the fake's script state (step counters) starts over
  DIR/requests.log  one JSON object per request or protocol event, with "t" = the fake's clock
                    (seconds, comparable within one fake: the test checks retry waits with it)
  DIR/clock         optional: seconds added to time.monotonic() for the fake's clock (its rate
                    windows, "t"), written by a test that moves time on instead of waiting
SIGTERM ends the process (exit 0).
"""
import json
import os
import signal
import socketserver
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer


class Scratch:
    """The fake's directory: the control file (with change detection) and the request log."""

    def __init__(self, path):
        self.path = path
        self.lock = threading.Lock()
        self._text = None
        self.control = {}
        self.state = {}  # script state; cleared when the control file changes

    def file(self, name):
        return os.path.join(self.path, name)

    def reload(self):
        """Reads control.json; returns (control, state). Call under self.lock."""
        try:
            with open(self.file("control.json")) as f:
                text = f.read()
        except OSError:
            text = "{}"
        if text != self._text:
            self._text = text
            self.control = json.loads(text) if text.strip() else {}
            self.state = {}
        return self.control, self.state

    def now(self):
        """The fake's clock: the monotonic clock plus the offset a test wrote to DIR/clock."""
        try:
            with open(self.file("clock")) as f:
                return time.monotonic() + float(f.read() or 0)
        except (OSError, ValueError):
            return time.monotonic()

    def log(self, **kw):
        kw.setdefault("t", round(self.now(), 6))
        with open(self.file("requests.log"), "a") as f:
            f.write(json.dumps(kw, ensure_ascii=False) + "\n")

    def publish_port(self, port):
        tmp = self.file("port.tmp")
        with open(tmp, "w") as f:
            f.write(str(port))
        os.rename(tmp, self.file("port"))


class Handler(BaseHTTPRequestHandler):
    """Base request handler: HTTP/1.1 with keep-alive (as the real services), quiet, with helpers
    that answer JSON. Subclasses implement do_GET / do_POST with self.fake (the Scratch)."""

    protocol_version = "HTTP/1.1"
    fake = None  # set by serve_http

    def log_message(self, *args):
        pass

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def answer(self, status, body=b"", ctype="application/json", headers=()):
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        elif isinstance(body, str):
            body = body.encode()
        self.send_response(status)
        if body or status not in (204, 304):
            self.send_header("Content-Type", ctype)
        for k, v in headers:
            self.send_header(k, v)
        if status not in (204, 304):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and status not in (204, 304):
            self.wfile.write(body)


class ScriptedApi(Handler):
    """A JSON API: every request is logged as {"method", "path", "content_type", "status", ...} and
    answered by the subclass's decide(method, control, state, now, entry) -> (status, body,
    headers), which may add fields to `entry`; one request at a time (the script state is shared)."""

    def do_GET(self):
        self.scripted("GET")

    def do_POST(self):
        self.scripted("POST")

    def do_PUT(self):
        self.scripted("PUT")

    def scripted(self, method):
        with self.fake.lock:
            control, state = self.fake.reload()
            entry = {"method": method, "path": self.path, "content_type": self.headers.get("Content-Type")}
            status, body, headers = self.decide(method, control, state, self.fake.now(), entry)
            entry["status"] = status
            self.fake.log(**entry)
            self.answer(status, body, headers=headers)


class _Server(socketserver.ThreadingMixIn, HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def exit_on_sigterm():
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))


def serve_http(handler_class):
    """Runs handler_class on 127.0.0.1:<free port> for DIR = sys.argv[1] until SIGTERM."""
    fake = Scratch(sys.argv[1])
    handler_class.fake = fake
    srv = _Server(("127.0.0.1", 0), handler_class)
    exit_on_sigterm()
    fake.publish_port(srv.server_address[1])
    try:
        srv.serve_forever(poll_interval=0.05)
    except SystemExit:
        srv.server_close()


def json_body(handler):
    """The request's JSON object, or (None, reason) when it is not application/json or not JSON."""
    ctype = (handler.headers.get("Content-Type") or "").split(";")[0].strip().lower()
    raw = handler.body()
    if ctype != "application/json":
        return None, "content-type " + repr(ctype), raw
    try:
        obj = json.loads(raw)
    except ValueError:
        return None, "body is not JSON", raw
    if not isinstance(obj, dict):
        return None, "body is not a JSON object", raw
    return obj, None, raw


class RateLimit:
    """A server-side 429 window: after `trip(now, seconds)` every request until now + seconds is
    refused again (as Telegram and Discord do), so a client that comes back early is seen."""

    def __init__(self):
        self.until = 0.0

    def trip(self, now, seconds):
        self.until = now + seconds

    def remaining(self, now):
        return max(0.0, self.until - now)
