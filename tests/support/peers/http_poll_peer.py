#!/usr/bin/python3
"""A scriptable HTTP server for the http_poll source tests (tests/integration/source_test.cpp).

Usage: http_poll_peer.py DIR [CERT KEY]. With CERT and KEY it serves HTTPS. Binds 127.0.0.1 on a free port and writes it to DIR/port. Before
each answer it reads DIR/mode (one line) and logs the request as one line of JSON to
DIR/requests.log. Modes:
  body CONTENT_TYPE TEXT   200 with TEXT (\\n escapes allowed), ETag from its hash; a request with
                           the same If-None-Match gets 304
  noetag CONTENT_TYPE TEXT 200 with TEXT, no validators (the client must notice it is unchanged)
  status N                 answers N with a short body
  sleep SECONDS            answers 200 after SECONDS
  big N                    200 with Content-Length N and N bytes of JSON-ish filler
  ndjson N [bad]            200, N lines {"i":k} streamed in chunks (no Content-Length: until close);
                           with `bad`, line 100 is not JSON and line 200 is 1000 bytes long
"""
import hashlib
import json
import os
import socketserver
import ssl
import sys
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

DIR = sys.argv[1]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def mode(self):
        try:
            with open(os.path.join(DIR, "mode")) as f:
                return f.read().rstrip("\n").split(" ", 2)
        except OSError:
            return ["status", "503"]

    def record(self):
        line = json.dumps({"path": self.path, "inm": self.headers.get("If-None-Match"),
                           "ims": self.headers.get("If-Modified-Since")})
        with open(os.path.join(DIR, "requests.log"), "a") as f:
            f.write(line + "\n")

    def send(self, status, body, ctype="application/json", extra=()):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self.record()
        m = self.mode()
        try:
            if m[0] in ("body", "noetag"):
                body = m[2].encode().decode("unicode_escape").encode("latin-1")
                if m[0] == "noetag":
                    self.send(200, body, m[1])
                    return
                etag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
                if self.headers.get("If-None-Match") == etag:
                    self.send_response(304)
                    self.send_header("ETag", etag)
                    self.send_header("Content-Length", "0")
                    self.send_header("Connection", "close")
                    self.end_headers()
                    return
                self.send(200, body, m[1], [("ETag", etag)])
            elif m[0] == "status":
                self.send(int(m[1]), b'{"error":"scripted"}')
            elif m[0] == "sleep":
                time.sleep(float(m[1]))
                self.send(200, b'{"late":true}')
            elif m[0] == "big":
                n = int(m[1])
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(n))
                self.send_header("Connection", "close")
                self.end_headers()
                chunk = b" " * 65536
                left = n
                while left > 0:
                    k = min(left, len(chunk))
                    self.wfile.write(chunk[:k])
                    left -= k
            elif m[0] == "ndjson":
                n = int(m[1])
                self.send_response(200)
                self.send_header("Content-Type", "application/x-ndjson")
                self.send_header("Connection", "close")
                self.end_headers()
                bad = len(m) > 2 and m[2] == "bad"

                def line(k):
                    if bad and k == 100:
                        return b"not json\n"
                    return b'{"i":%d,"pad":"%s"}\n' % (k, b"x" * (1000 if bad and k == 200 else 40))
                lines = b"".join(line(k) for k in range(n))
                for i in range(0, len(lines), 1000):
                    self.wfile.write(lines[i:i + 1000])
                    self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.close_connection = True


class Server(socketserver.ThreadingMixIn, HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    srv = Server(("127.0.0.1", 0), Handler)
    if len(sys.argv) > 3:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(sys.argv[2], sys.argv[3])
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    tmp = os.path.join(DIR, "port.tmp")
    with open(tmp, "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(tmp, os.path.join(DIR, "port"))
    srv.serve_forever()


if __name__ == "__main__":
    main()
