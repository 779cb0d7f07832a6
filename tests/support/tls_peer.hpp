// TLS test peers: TlsCerts makes a throwaway PKI with the `openssl` CLI in a TempDir, and TlsPeer
// runs a real TLS server on loopback (Python's ssl module, i.e. OpenSSL, from a script written
// into that dir): an HTTP/1.1 sink that answers every POST 200 and records the bodies, or an echo
// server, or a plain-TCP server that answers garbage, or one that never answers. Every wait is
// bounded; the destructor kills the server.
#pragma once
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tests/support/census.hpp"
#include "tests/support/harness.hpp"

namespace bh::test {

// Certificates (EC P-256, PEM) under one directory:
//   ca.crt/key       the test CA;  ca2.crt  an unrelated CA
//   server.*         CN=localhost, SAN DNS:localhost + IP:127.0.0.1, signed by ca, valid 30 days
//   expired.*        as server, but notAfter is in the past
//   wronghost.*      SAN DNS:wrong.example only, signed by ca
//   client.*         CN=bh-client, extendedKeyUsage clientAuth, signed by ca (mutual TLS)
//   client_expired.* CN=bh-old, as client but notAfter is in the past
//   client_ca2.*     CN=bh-stranger, clientAuth, signed by ca2 (the wrong CA)
// Every key file is mode 0600 (a TLS listener refuses a key readable by others).
class TlsCerts {
 public:
  TlsCerts();
  bool ok() const { return ok_; }
  const std::string& error() const { return error_; }
  std::string crt(const std::string& name) const { return dir_.file(name + ".crt"); }
  std::string key(const std::string& name) const { return dir_.file(name + ".key"); }
  const std::string& dir() const { return dir_.path(); }

 private:
  TempDir dir_;
  bool ok_ = false;
  std::string error_;
};

// http: keep-alive POST server; http_close: answers one request with `Connection: close`.
enum class TlsPeerMode { http, http_close, echo, garbage, silent };

class TlsPeer {
 public:
  // Serves with certificate `name` (server, expired, wronghost). A non-empty client_ca makes the
  // server require a client certificate signed by it.
  explicit TlsPeer(const TlsCerts& certs, const std::string& name = "server", TlsPeerMode mode = TlsPeerMode::http,
                   const std::string& client_ca = "");
  ~TlsPeer();
  TlsPeer(const TlsPeer&) = delete;
  TlsPeer& operator=(const TlsPeer&) = delete;

  bool ok() const { return port_ != 0; }
  std::uint16_t port() const { return port_; }
  std::string url(const std::string& host = "localhost") const {
    return "https://" + host + ":" + std::to_string(port_) + "/ingest";
  }

  struct Counts {
    int handshakes = 0;  // completed
    int resumed = 0;     // of them, resumed sessions
    int failed = 0;      // handshakes the server saw fail
    int requests = 0;    // POSTs answered 200
  };
  Counts counts() const;
  // Body lines received (NDJSON envelopes), in arrival order.
  std::vector<std::string> lines() const;
  bool wait_lines(std::size_t n, std::chrono::milliseconds timeout) const;
  // Waits until at least n handshakes failed on the server side.
  bool wait_failed(int n, std::chrono::milliseconds timeout) const;
  std::string log() const;

 private:
  TempDir dir_;
  std::unique_ptr<Child> child_;
  std::uint16_t port_ = 0;
};

}  // namespace bh::test
