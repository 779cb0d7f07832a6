// TLS test peers: the openssl CLI for certificates, a Python ssl server as the peer.
#include "tests/support/tls_peer.hpp"

#include <signal.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "tests/support/eventually.hpp"

namespace bh::test {
namespace {

constexpr const char* kGenScript = R"SH(set -e
k() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"; }
k ca.key
openssl req -x509 -new -key ca.key -subj /CN=bh-test-ca -days 30 -out ca.crt
k ca2.key
openssl req -x509 -new -key ca2.key -subj /CN=bh-other-ca -days 30 -out ca2.crt
sign() { # name cn san days eku
  k "$1.key"
  openssl req -new -key "$1.key" -subj "/CN=$2" -out "$1.csr"
  printf 'subjectAltName=%s\nextendedKeyUsage=%s\n' "$3" "$5" > "$1.ext"
  openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days "$4" -extfile "$1.ext" -out "$1.crt"
}
sign server localhost 'DNS:localhost,IP:127.0.0.1' 30 serverAuth
sign expired localhost 'DNS:localhost,IP:127.0.0.1' -1 serverAuth
sign wronghost wrong.example 'DNS:wrong.example' 30 serverAuth
sign client bh-client 'DNS:bh-client' 30 clientAuth
sign client_expired bh-old 'DNS:bh-old' -1 clientAuth
k client_ca2.key
openssl req -new -key client_ca2.key -subj /CN=bh-stranger -out client_ca2.csr
printf 'extendedKeyUsage=clientAuth\n' > client_ca2.ext
openssl x509 -req -in client_ca2.csr -CA ca2.crt -CAkey ca2.key -CAcreateserial -days 30 -extfile client_ca2.ext -out client_ca2.crt
chmod 600 ./*.key
)SH";

// argv: PORTFILE CERT KEY MODE [CLIENT_CA]. Writes the port to PORTFILE once listening, counts to
// PORTFILE.stats, request bodies to PORTFILE.bodies. Dual-stack when IPv6 exists, so `localhost`
// works whichever address it resolves to.
constexpr const char* kServerScript = R"PY(
import os, socket, ssl, sys, threading
portfile, cert, key, mode = sys.argv[1:5]
client_ca = sys.argv[5] if len(sys.argv) > 5 else ""
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
if client_ca:
    ctx.load_verify_locations(client_ca)
    ctx.verify_mode = ssl.CERT_REQUIRED
lock = threading.Lock()
stats = {"handshakes": 0, "resumed": 0, "failed": 0, "requests": 0}
def dump():
    with open(portfile + ".stats.tmp", "w") as f:
        f.write(" ".join("%s=%d" % kv for kv in sorted(stats.items())) + "\n")
    os.replace(portfile + ".stats.tmp", portfile + ".stats")
def bump(k):
    with lock:
        stats[k] += 1
        dump()
def serve_http(s):
    buf = b""
    while True:
        while b"\r\n\r\n" not in buf:
            d = s.recv(65536)
            if not d: return
            buf += d
        head, buf = buf.split(b"\r\n\r\n", 1)
        n = 0
        for line in head.split(b"\r\n")[1:]:
            k, _, v = line.partition(b":")
            if k.strip().lower() == b"content-length": n = int(v.strip())
        while len(buf) < n:
            d = s.recv(65536)
            if not d: return
            buf += d
        body, buf = buf[:n], buf[n:]
        with lock:
            with open(portfile + ".bodies", "ab") as f: f.write(body)
        bump("requests")
        if mode == "http_close":
            s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
            return
        s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok")
def serve_echo(s):
    while True:
        d = s.recv(65536)
        if not d: return
        s.sendall(d)
def handle(raw):
    try:
        raw.settimeout(60)
        if mode == "garbage":
            raw.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\nthis is not TLS\r\n" * 8)
            raw.recv(4096)
            return
        if mode == "silent":
            raw.recv(65536)
            threading.Event().wait(60)
            return
        try:
            s = ctx.wrap_socket(raw, server_side=True)
        except (ssl.SSLError, OSError) as e:
            sys.stderr.write("handshake failed: %s\n" % e)
            bump("failed")
            return
        bump("handshakes")
        if s.session_reused: bump("resumed")
        (serve_http if mode in ("http", "http_close") else serve_echo)(s)
    except (ssl.SSLError, OSError) as e:
        sys.stderr.write("connection: %s\n" % e)
    finally:
        try: raw.close()
        except OSError: pass
try:
    ls = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    ls.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    ls.bind(("::", 0))
except OSError:
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.bind(("127.0.0.1", 0))
ls.listen(64)
dump()
with open(portfile + ".tmp", "w") as f: f.write("%d\n" % ls.getsockname()[1])
os.replace(portfile + ".tmp", portfile)
while True:
    c, _ = ls.accept()
    threading.Thread(target=handle, args=(c,), daemon=True).start()
)PY";

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

const char* mode_name(TlsPeerMode m) {
  switch (m) {
    case TlsPeerMode::http: return "http";
    case TlsPeerMode::http_close: return "http_close";
    case TlsPeerMode::echo: return "echo";
    case TlsPeerMode::garbage: return "garbage";
    case TlsPeerMode::silent: return "silent";
  }
  return "http";
}
}  // namespace

TlsCerts::TlsCerts() {
  {
    std::ofstream f(dir_.file("gen.sh"));
    f << kGenScript;
  }
  std::string cmd = "cd '" + dir_.path() + "' && sh gen.sh > gen.log 2>&1";
  int rc = std::system(cmd.c_str());
  ok_ = rc == 0;
  if (!ok_) error_ = "openssl failed (exit " + std::to_string(rc) + "):\n" + slurp(dir_.file("gen.log"));
}

TlsPeer::TlsPeer(const TlsCerts& certs, const std::string& name, TlsPeerMode mode, const std::string& client_ca) {
  {
    std::ofstream f(dir_.file("server.py"));
    f << kServerScript;
  }
  std::vector<std::string> argv{"/usr/bin/env",       "python3",        "-u", dir_.file("server.py"), dir_.file("port"),
                                certs.crt(name), certs.key(name), mode_name(mode)};
  if (!client_ca.empty()) argv.push_back(client_ca);
  child_ = std::make_unique<Child>(argv, dir_.file("server.log"), dir_.path());
  // Python starts slowly on a loaded machine: up to 30 s for the port file.
  port_ = wait_port_file(dir_.file("port"), *child_, std::chrono::seconds(30));
}

TlsPeer::~TlsPeer() {
  if (child_ && child_->running()) {
    child_->signal(SIGKILL);
    child_->wait(std::chrono::milliseconds(5000));
  }
}

TlsPeer::Counts TlsPeer::counts() const {
  Counts c;
  std::istringstream in(slurp(dir_.file("port.stats")));
  std::string kv;
  while (in >> kv) {
    auto eq = kv.find('=');
    if (eq == std::string::npos) continue;
    int v = std::atoi(kv.c_str() + eq + 1);
    std::string k = kv.substr(0, eq);
    if (k == "handshakes") c.handshakes = v;
    if (k == "resumed") c.resumed = v;
    if (k == "failed") c.failed = v;
    if (k == "requests") c.requests = v;
  }
  return c;
}

std::vector<std::string> TlsPeer::lines() const {
  std::vector<std::string> out;
  std::istringstream in(slurp(dir_.file("port.bodies")));
  std::string l;
  while (std::getline(in, l))
    if (!l.empty()) out.push_back(l);
  return out;
}

bool TlsPeer::wait_lines(std::size_t n, std::chrono::milliseconds timeout) const {
  return eventually([&] { return lines().size() >= n; }, timeout, std::chrono::milliseconds(20));
}

bool TlsPeer::wait_failed(int n, std::chrono::milliseconds timeout) const {
  return eventually([&] { return counts().failed >= n; }, timeout, std::chrono::milliseconds(20));
}

std::string TlsPeer::log() const { return slurp(dir_.file("server.log")); }

}  // namespace bh::test
