// TlsListener: the TLS server side of one listener (ingest TCP, admin HTTP): its TlsServerConfig
// and one TlsStream per connection slot, set up at start-up (the record buffers are allocated
// then, on mbedTLS's counted heap) and reset per connection. It is the acceptor's Handshake hook:
// the handshake runs in the connection's own task within the deadline its owner gives the acceptor
// ([ingest] / [admin] handshake_timeout); a failure costs only that connection's slot, is counted
// by reason and logged at most once a second.
// After it, the connection reads and writes through ByteStream (platform/net/byte_stream.hpp)
// with the slot's stream, and the client certificate's identity is the stream's identity().
// Not a connection pool, not a protocol. Reactor thread only.
#pragma once
#include <array>
#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <system_error>

#include "platform/net/tls.hpp"
#include "platform/transport/acceptor.hpp"

namespace bh {

// Handshakes a listener refused, by reason (every one closed its connection).
struct TlsListenerStats {
  std::uint64_t handshakes = 0;     // completed
  std::uint64_t no_cert = 0;        // client CA set, the client presented no certificate
  std::uint64_t bad_cert = 0;       // the certificate did not verify (unknown CA, bad signature...)
  std::uint64_t expired = 0;        // the certificate is expired or not valid yet
  std::uint64_t protocol = 0;       // not TLS 1.2 (a plain-TCP client, garbage), no common suite, alerts
  std::uint64_t timeouts = 0;       // no complete handshake within the deadline
  std::uint64_t closed = 0;         // the client closed or reset the connection during the handshake
  std::uint64_t out_of_memory = 0;  // the TLS heap limit refused the handshake state
  std::uint64_t failed() const noexcept {
    return no_cert + bad_cert + expired + protocol + timeouts + closed + out_of_memory;
  }
};

class TlsListenerBase : public Handshake {
 public:
  TlsListenerBase(const TlsListenerBase&) = delete;
  TlsListenerBase& operator=(const TlsListenerBase&) = delete;

  // Loads the certificate, key and client CA and sets up every slot's stream. `name` ("ingest",
  // "admin") prefixes log lines; a string literal. Start-up only.
  // Errors: tls_errc::config (error says which file and why), tls_errc::out_of_memory (the TLS
  // heap limit cannot hold every slot's buffers).
  std::error_code init(const char* name, const TlsServerOptions& o, std::string& error);
  bool verifies_clients() const noexcept { return cfg_.verifies_clients(); }
  const TlsListenerStats& stats() const noexcept { return stats_; }

  Task<std::error_code> handshake(StreamSocket& s, std::uint32_t slot, Clock::duration timeout) override;
  TlsStream* tls(std::uint32_t slot) noexcept override;

 protected:
  explicit TlsListenerBase(std::span<TlsStream> streams) noexcept : streams_(streams) {}
  ~TlsListenerBase() = default;

 private:
  void count_failure(const TlsStream& t, std::error_code ec) noexcept;

  std::span<TlsStream> streams_;
  TlsServerConfig cfg_;
  TlsListenerStats stats_;
  const char* name_ = "tls";
  Clock::time_point last_log_{};
  std::uint64_t unlogged_ = 0;
};

template <std::uint32_t N>
class TlsListener final : public TlsListenerBase {
 public:
  TlsListener() noexcept : TlsListenerBase(streams_) {}

 private:
  std::array<TlsStream, N> streams_;
};

}  // namespace bh
