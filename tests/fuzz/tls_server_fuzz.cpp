// libFuzzer target for the TLS server side (TlsServerConfig + a server TlsStream, the path every
// ingest/admin TLS connection takes before it is served): the input is what a client sends, fed
// through a socketpair standing in for the accepted socket (the peer end writes the input, then
// EOF), and the server's handshake is stepped until it ends. It must end (no WANT_* forever), never
// establish from garbage without a client certificate (the config requires one, from a CA no
// input can hold a key for), and crash nowhere (ASan + UBSan).
// The certificate, key and client CA are a throwaway self-signed pair written to a temp dir once.
// Built and run by `make test-fuzz` (tests/fuzz/CMakeLists.txt).
#include <mbedtls/ssl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "platform/net/tls.hpp"

namespace {

constexpr const char* kCert = R"PEM(-----BEGIN CERTIFICATE-----
MIIBdTCCARugAwIBAgIUCN0tPoJ/N32yKQk9vsGy1u0ypM0wCgYIKoZIzj0EAwIw
DzENMAsGA1UEAwwEZnV6ejAgFw0yNjEyMDUwMDQ5MzhaGA8yMTI2MTExMTAwNDkz
OFowDzENMAsGA1UEAwwEZnV6ejBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABC/h
wuV/EjZWEISv1O2RuCWnAb8MNlc6eo5GqYrdpskq3dLOSHElxvy5/xXp+IWiS/TT
BHBDis5hWrzwAP7BbC6jUzBRMB0GA1UdDgQWBBQzwIskWQGHhjwpC/3nIsBUrR7s
8jAfBgNVHSMEGDAWgBQzwIskWQGHhjwpC/3nIsBUrR7s8jAPBgNVHRMBAf8EBTAD
AQH/MAoGCCqGSM49BAMCA0gAMEUCIQCLUGsaRy6YkORrnPPN5qAix19KaE71COHU
Owfv03gFtAIgG+/DWelbDIBVKTLUyr7csSD+cXxg7iX3hNJFOxuaoio=
-----END CERTIFICATE-----
)PEM";
constexpr const char* kKey = R"PEM(-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg4Lyyo+p3BIt11g9S
5xUT7T+bcXzghg8ZT0bjoDKRRL+hRANCAAQv4cLlfxI2VhCEr9TtkbglpwG/DDZX
OnqORqmK3abJKt3SzkhxJcb8uf8V6fiFokv00wRwQ4rOYVq88AD+wWwu
-----END PRIVATE KEY-----
)PEM";

struct Server {
  asio::io_context io;
  bh::TlsServerConfig cfg;
  bh::TlsStream stream;
  bool ok = false;

  Server() {
    char dir[] = "/tmp/bh-tls-fuzz-XXXXXX";
    if (!::mkdtemp(dir)) return;
    const std::string crt = std::string(dir) + "/s.crt", key = std::string(dir) + "/s.key";
    auto put = [](const std::string& path, const char* text) {
      FILE* f = std::fopen(path.c_str(), "w");
      if (!f) return;
      std::fputs(text, f);
      std::fclose(f);
      ::chmod(path.c_str(), 0600);
    };
    put(crt, kCert);
    put(key, kKey);
    std::string err;
    // The client CA is the server's own self-signed certificate: verification is required.
    ok = !cfg.init(bh::TlsServerOptions{crt, key, crt}, err) && !stream.setup(cfg);
    if (!ok) std::fprintf(stderr, "tls_server_fuzz: set-up failed: %s\n", err.c_str());
    ::unlink(crt.c_str());
    ::unlink(key.c_str());
    ::rmdir(dir);
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static Server* s = new Server();
  if (!s->ok) __builtin_trap();
  if (size > 60000) return 0;  // stays inside the socketpair's buffer
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return 0;
  const int bufsize = 1 << 18;
  ::setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &bufsize, sizeof bufsize);
  ::setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &bufsize, sizeof bufsize);
  if (size > 0 && ::write(sv[0], data, size) != static_cast<ssize_t>(size)) {
    ::close(sv[0]);
    ::close(sv[1]);
    return 0;
  }
  ::shutdown(sv[0], SHUT_WR);  // then EOF
  {
    bh::TlsStream::ServerSocket sock(s->io);
    std::error_code ec;
    sock.assign(asio::generic::stream_protocol(AF_UNIX, SOCK_STREAM), sv[1], ec);
    if (ec || s->stream.begin(sock)) __builtin_trap();
    int ret = 0;
    int steps = 0;
    for (; steps < 1000; ++steps) {
      ret = s->stream.step_handshake();
      if (ret == MBEDTLS_ERR_SSL_WANT_WRITE) continue;  // the peer's receive buffer is large: a retry goes through
      break;  // done, failed, or WANT_READ with the input used up (EOF follows on the next read)
    }
    if (ret == MBEDTLS_ERR_SSL_WANT_READ) ret = s->stream.step_handshake();  // reads the EOF
    if (ret == 0) __builtin_trap();  // established without a verified client certificate
    if (ret == MBEDTLS_ERR_SSL_WANT_READ || ret == MBEDTLS_ERR_SSL_WANT_WRITE) __builtin_trap();  // never ends
    (void)s->stream.fail(ret);
    char buf[192];
    (void)s->stream.describe(buf);
    s->stream.end();
  }  // closes sv[1]
  ::close(sv[0]);
  return 0;
}
