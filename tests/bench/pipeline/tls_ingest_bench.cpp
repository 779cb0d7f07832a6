// TLS ingest against plain TCP ingest, same run: starts `bulkhead run` with plain TCP ingest and
// with TLS (mutual: a client certificate from a throwaway CA made with the openssl CLI), one after
// the other, RUNS times alternating, and measures on each (a) handshake cost: connect (+ TLS
// handshake) + one event answered `ok`, on fresh connections, and (b) throughput: one connection,
// rounds of WINDOW 200-byte events sent then their replies read, for SECONDS. Prints medians and
// the TLS/plain ratios, plus one JSON line. The client is mbedTLS in blocking mode on this thread.
// Measured, never asserted; not in CTest.
//   tls_ingest_bench [--runs 3] [--seconds 5] [--window 256] [--handshakes 50] [--dir /tmp]
#include <arpa/inet.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/ssl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/poll.hpp"

namespace {
using Steady = std::chrono::steady_clock;

std::uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t l = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &l);
  ::close(fd);
  return ntohs(a.sin_port);
}

int tcp_connect(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

int bio_send(void* ctx, const unsigned char* b, std::size_t n) {
  const ssize_t r = ::send(*static_cast<int*>(ctx), b, n, MSG_NOSIGNAL);
  return r < 0 ? MBEDTLS_ERR_SSL_INTERNAL_ERROR : static_cast<int>(r);
}
int bio_recv(void* ctx, unsigned char* b, std::size_t n) {
  const ssize_t r = ::recv(*static_cast<int*>(ctx), b, n, 0);
  return r < 0 ? MBEDTLS_ERR_SSL_INTERNAL_ERROR : static_cast<int>(r);
}

// The client's TLS material (mutual TLS against the bench CA).
struct ClientTls {
  mbedtls_entropy_context entropy;
  mbedtls_ctr_drbg_context drbg;
  mbedtls_ssl_config conf;
  mbedtls_x509_crt ca, crt;
  mbedtls_pk_context key;
  bool init(const std::string& dir) {
    mbedtls_entropy_init(&entropy);
    mbedtls_ctr_drbg_init(&drbg);
    mbedtls_ssl_config_init(&conf);
    mbedtls_x509_crt_init(&ca);
    mbedtls_x509_crt_init(&crt);
    mbedtls_pk_init(&key);
    return mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy, nullptr, 0) == 0 &&
           mbedtls_x509_crt_parse_file(&ca, (dir + "/ca.crt").c_str()) == 0 &&
           mbedtls_x509_crt_parse_file(&crt, (dir + "/client.crt").c_str()) == 0 &&
           mbedtls_pk_parse_keyfile(&key, (dir + "/client.key").c_str(), nullptr) == 0 &&
           mbedtls_ssl_config_defaults(&conf, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM,
                                       MBEDTLS_SSL_PRESET_DEFAULT) == 0 &&
           (mbedtls_ssl_conf_rng(&conf, mbedtls_ctr_drbg_random, &drbg), mbedtls_ssl_conf_ca_chain(&conf, &ca, nullptr),
            mbedtls_ssl_conf_authmode(&conf, MBEDTLS_SSL_VERIFY_REQUIRED), true) &&
           mbedtls_ssl_conf_own_cert(&conf, &crt, &key) == 0;
  }
};

// One ingest connection, plain or TLS, blocking.
struct Conn {
  int fd = -1;
  bool tls = false;
  mbedtls_ssl_context ssl;
  std::string in;
  bool open(std::uint16_t port, ClientTls* t) {
    fd = tcp_connect(port);
    if (fd < 0) return false;
    if (!t) return true;
    tls = true;
    mbedtls_ssl_init(&ssl);
    if (mbedtls_ssl_setup(&ssl, &t->conf) || mbedtls_ssl_set_hostname(&ssl, "localhost")) return false;
    mbedtls_ssl_set_bio(&ssl, &fd, bio_send, bio_recv, nullptr);
    return mbedtls_ssl_handshake(&ssl) == 0;
  }
  bool write(const std::string& s) {
    std::size_t off = 0;
    while (off < s.size()) {
      const int n = tls ? mbedtls_ssl_write(&ssl, reinterpret_cast<const unsigned char*>(s.data() + off), s.size() - off)
                        : static_cast<int>(::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL));
      if (n <= 0) return false;
      off += static_cast<std::size_t>(n);
    }
    return true;
  }
  // Reads until `lines` reply lines arrived; counts the `ok` ones.
  int read_replies(int lines) {
    int got = 0, ok = 0;
    char buf[65536];
    while (got < lines) {
      std::size_t nl;
      while (got < lines && (nl = in.find('\n')) != std::string::npos) {
        ok += in.compare(0, 3, "ok ") == 0;
        in.erase(0, nl + 1);
        ++got;
      }
      if (got == lines) break;
      const int n = tls ? mbedtls_ssl_read(&ssl, reinterpret_cast<unsigned char*>(buf), sizeof buf)
                        : static_cast<int>(::recv(fd, buf, sizeof buf, 0));
      if (n <= 0) return -1;
      in.append(buf, static_cast<std::size_t>(n));
    }
    return ok;
  }
  void close() {
    if (tls) {
      (void)mbedtls_ssl_close_notify(&ssl);
      mbedtls_ssl_free(&ssl);
    }
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
};

struct Bulkhead {
  pid_t pid = -1;
  std::uint16_t port = 0;
  bool start(const std::string& dir, bool tls) {
    port = free_port();
    const std::string cfg = dir + (tls ? "/tls.toml" : "/plain.toml");
    std::ofstream f(cfg, std::ios::trunc);
    f << "[ingest]\nlisten = \"127.0.0.1:" << port << "\"\nmax_event_bytes = 1024\n";
    if (tls) f << "tls_cert = \"" << dir << "/server.crt\"\ntls_key = \"" << dir << "/server.key\"\ntls_client_ca = \"" << dir << "/ca.crt\"\n";
    f << "[admin]\nenabled = false\n[console]\nsocket = \"\"\n[store]\npath = \"" << dir << "/" << (tls ? "tls" : "plain")
      << ".db\"\n[audit]\nenabled = false\n";
    f.close();
    std::remove((dir + (tls ? "/tls.db" : "/plain.db")).c_str());
    pid = ::fork();
    if (pid == 0) {
      const std::string log = dir + "/bulkhead.log";
      std::freopen(log.c_str(), "a", stdout);
      std::freopen(log.c_str(), "a", stderr);
      ::execl(BH_BINARY, BH_BINARY, "run", "--config", cfg.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    return bh::test::poll_until([&] {  // up to 10 s for the listener
      const int fd = tcp_connect(port);
      if (fd >= 0) ::close(fd);
      return fd >= 0;
    }, std::chrono::seconds(10), std::chrono::milliseconds(10));
  }
  void stop() {
    if (pid <= 0) return;
    ::kill(pid, SIGTERM);
    int st = 0;
    ::waitpid(pid, &st, 0);
    pid = -1;
  }
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

struct Figures {
  double handshake_ms = 0;  // connect (+ handshake) + one event acked, median
  double events_per_s = 0;
};

Figures measure(std::uint16_t port, ClientTls* tls, int handshakes, double seconds, int window) {
  Figures f;
  const std::string one = "{\"bench\":\"tls\",\"n\":0}\n";
  std::vector<double> hs;
  for (int i = 0; i < handshakes; ++i) {
    Conn c;
    const auto t0 = Steady::now();
    if (!c.open(port, tls) || !c.write(one) || c.read_replies(1) != 1) {
      std::fprintf(stderr, "handshake %d failed\n", i);
      c.close();
      return f;
    }
    hs.push_back(std::chrono::duration<double, std::milli>(Steady::now() - t0).count());
    c.close();
  }
  f.handshake_ms = median(hs);
  std::string round;
  const std::string ev = "{\"bench\":\"tls\",\"payload\":\"" + std::string(200 - 31, 'x') + "\"}\n";
  for (int i = 0; i < window; ++i) round += ev;
  Conn c;
  if (!c.open(port, tls)) return f;
  std::uint64_t acked = 0;
  const auto warm = Steady::now() + std::chrono::milliseconds(500);
  while (Steady::now() < warm && c.write(round) && c.read_replies(window) == window) {
  }
  const auto t0 = Steady::now();
  const auto end = t0 + std::chrono::duration<double>(seconds);
  while (Steady::now() < end) {
    if (!c.write(round)) break;
    const int ok = c.read_replies(window);
    if (ok < 0) break;
    acked += static_cast<std::uint64_t>(ok);
  }
  f.events_per_s = acked / std::chrono::duration<double>(Steady::now() - t0).count();
  c.close();
  return f;
}

}  // namespace

int main(int argc, char** argv) {
  int runs = 3, window = 256, handshakes = 50;
  double seconds = 5;
  std::string base = "/tmp";
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    if (k == "--runs") runs = std::atoi(argv[i + 1]);
    else if (k == "--seconds") seconds = std::atof(argv[i + 1]);
    else if (k == "--window") window = std::atoi(argv[i + 1]);
    else if (k == "--handshakes") handshakes = std::atoi(argv[i + 1]);
    else if (k == "--dir") base = argv[i + 1];
  }
  std::string dir = base + "/bh-tls-bench-XXXXXX";
  if (!::mkdtemp(dir.data())) return 1;
  const std::string gen =
      "cd '" + dir +
      "' && set -e && k() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out \"$1\" 2>/dev/null; } && "
      "k ca.key && openssl req -x509 -new -key ca.key -subj /CN=bench-ca -days 2 -out ca.crt && "
      "for n in server client; do k $n.key && openssl req -new -key $n.key -subj /CN=bench-$n -out $n.csr && "
      "printf 'subjectAltName=DNS:localhost\\nextendedKeyUsage=%sAuth\\n' $n > $n.ext && "
      "openssl x509 -req -in $n.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -extfile $n.ext -out $n.crt 2>/dev/null; done && "
      "chmod 600 *.key";
  if (std::system(gen.c_str()) != 0) {
    std::fprintf(stderr, "openssl failed\n");
    return 1;
  }
  ClientTls tls;
  if (!tls.init(dir)) {
    std::fprintf(stderr, "client TLS set-up failed\n");
    return 1;
  }
  std::vector<double> hs_plain, hs_tls, eps_plain, eps_tls;
  for (int r = 0; r < runs; ++r) {
    for (bool use_tls : {false, true}) {
      Bulkhead b;
      if (!b.start(dir, use_tls)) {
        std::fprintf(stderr, "bulkhead did not start (see %s/bulkhead.log)\n", dir.c_str());
        b.stop();
        return 1;
      }
      const Figures f = measure(b.port, use_tls ? &tls : nullptr, handshakes, seconds, window);
      b.stop();
      std::fprintf(stderr, "run %d %s: connect+first ok %.2f ms, %.0f events/s\n", r + 1, use_tls ? "tls  " : "plain",
                   f.handshake_ms, f.events_per_s);
      (use_tls ? hs_tls : hs_plain).push_back(f.handshake_ms);
      (use_tls ? eps_tls : eps_plain).push_back(f.events_per_s);
    }
  }
  const double hp = median(hs_plain), ht = median(hs_tls), ep = median(eps_plain), et = median(eps_tls);
  std::printf("| ingest | connect + first ok (median) | events/s, 1 connection, window %d (median) |\n", window);
  std::printf("|---|---|---|\n| plain TCP | %.2f ms | %.0f |\n| TLS 1.2 mutual (ECDHE-ECDSA P-256, AES-128-GCM) | %.2f ms | %.0f |\n",
              hp, ep, ht, et);
  std::printf("| TLS / plain | %.1fx | %.2f |\n", hp > 0 ? ht / hp : 0, ep > 0 ? et / ep : 0);
  std::printf("{\"bench\":\"tls_ingest\",\"runs\":%d,\"window\":%d,\"plain_connect_ms\":%.3f,\"tls_connect_ms\":%.3f,"
              "\"plain_events_per_s\":%.0f,\"tls_events_per_s\":%.0f}\n",
              runs, window, hp, ht, ep, et);
  std::system(("rm -rf '" + dir + "'").c_str());
  return 0;
}
