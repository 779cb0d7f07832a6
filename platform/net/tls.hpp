// TLS client connections with mbedTLS 2.28, over the runtime's own Asio TCP sockets, on the reactor
// thread. A TlsClientConfig per connector (sink or source) holds the verification policy, the CA
// chain, the optional client certificate and the last session for resumption; a TlsStream per
// connection slot holds one mbedtls_ssl_context, set up once at start-up and reset (not rebuilt)
// for every new connection. Handshake, write and read are awaitables with one deadline each that
// drive mbedTLS non-blocking and await socket readiness when it wants I/O.
// The server side (a listener's TLS) is a TlsServerConfig per listener (certificate chain, key,
// optional client CA: mutual TLS) and the same TlsStream per connection slot, bound to it with
// setup(TlsServerConfig&); on the server side the stream keeps the verified client's identity.
// Not TLS 1.3 (2.28 has none), no renegotiation, no server-side session resumption.
// Reactor thread only.
#pragma once
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

#include <asio/basic_stream_socket.hpp>
#include <asio/buffer.hpp>
#include <asio/generic/stream_protocol.hpp>
#include <asio/ip/tcp.hpp>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include "platform/alloc/tls_heap.hpp"
#include "platform/core/task.hpp"

namespace bh {

// The system CA bundle (Debian's ca-certificates), used when a connector sets no `ca_file`.
inline constexpr const char* kSystemCaBundle = "/etc/ssl/certs/ca-certificates.crt";

// How TLS failed. Timeouts and cancellation come back as errc::timeout / errc::cancelled.
enum class tls_errc {
  ok = 0,
  config,            // a CA, certificate or key file could not be loaded (start-up)
  handshake_failed,  // protocol error, alert, garbage from the peer, or no common cipher
  verify_failed,     // the server certificate or its host name did not verify
  out_of_memory,     // mbedTLS's heap limit refused an allocation (see tls_memory_stats)
  closed,            // the peer closed the connection (EOF or close_notify)
  io,                // the socket failed (reset, send/recv error)
};
const std::error_category& tls_category() noexcept;
inline std::error_code make_error_code(tls_errc e) noexcept { return {static_cast<int>(e), tls_category()}; }

struct TlsOptions {
  std::string ca_file;      // PEM bundle; empty = kSystemCaBundle
  std::string client_cert;  // PEM; with client_key: mutual TLS
  std::string client_key;   // PEM, unencrypted
  bool verify = true;       // false: no certificate or host name check (log a warning at start-up)
};

// mbedTLS's heap: counted, with a hard limit (platform/alloc/tls_heap.hpp routes mbedTLS's
// calloc/free there, in the shared and in the static build). Over the limit an allocation is
// refused: mbedTLS fails the operation cleanly (the handshake fails with tls_errc::out_of_memory)
// and the refusal is counted. `bounded` is false where the calls could not be routed (non-ELF,
// another arch): then nothing is counted or limited.
using TlsMemoryStats = alloc::TlsHeapStats;
inline constexpr std::uint64_t kTlsHeapLimitDefault = alloc::kTlsHeapLimitDefault;
inline TlsMemoryStats tls_memory_stats() noexcept { return alloc::tls_heap_stats(); }
// Sets the hard limit on mbedTLS's heap (bytes). Takes effect for the next allocation.
inline void tls_set_memory_limit(std::uint64_t bytes) noexcept { alloc::tls_heap_set_limit(bytes); }
inline void tls_reset_high_water() noexcept { alloc::tls_heap_reset_high_water(); }
// TLS connections begun and not yet ended, over every context (the leak census checks it is back
// to zero when no connection is open). Reactor thread.
std::uint32_t tls_streams_active() noexcept;

// One connector's TLS policy (an mbedtls_ssl_config) and material. Lives inside its connector
// (a pool slot); neither copyable nor movable, because mbedTLS keeps pointers into it.
class TlsClientConfig {
 public:
  TlsClientConfig() noexcept;
  ~TlsClientConfig();
  TlsClientConfig(const TlsClientConfig&) = delete;
  TlsClientConfig& operator=(const TlsClientConfig&) = delete;

  // Loads the CA chain (unless !verify), the client certificate and key, and sets the policy:
  // TLS 1.2, verification required (or none), SNI and host name check for `host` (an IP literal
  // gets no SNI, RFC 6066, and is checked against the certificate's iPAddress names, which
  // mbedTLS 2.28 does not do itself). Start-up only: it allocates (mbedTLS heap).
  // Errors: tls_errc::config with `error` saying which file and why.
  std::error_code init(const TlsOptions& o, std::string_view host, std::string& error);
  bool ready() const noexcept { return ready_; }
  bool verify() const noexcept { return verify_; }
  std::string_view host() const noexcept { return {host_, host_len_}; }
  // Certificates in the loaded CA chain (0 when !verify).
  std::uint32_t ca_certs() const noexcept { return ca_count_; }

 private:
  friend class TlsStream;
  static int verify_cb(void* self, mbedtls_x509_crt* crt, int depth, std::uint32_t* flags);

  mbedtls_ssl_config conf_;
  mbedtls_x509_crt ca_;
  mbedtls_x509_crt own_cert_;
  mbedtls_pk_context own_key_;
  // The last session a full or resumed handshake produced; offered on the next connect.
  mbedtls_ssl_session session_;
  bool have_session_ = false;
  bool ready_ = false;
  bool verify_ = true;
  bool host_is_ip_ = false;
  std::uint8_t host_ip_len_ = 0;  // 4 or 16
  unsigned char host_ip_[16] = {};
  std::uint32_t ca_count_ = 0;
  std::size_t host_len_ = 0;
  char host_[256] = {};
};

// What a TLS listener serves with (start-up only; paths as configured, already expanded).
struct TlsServerOptions {
  std::string cert_file;  // PEM: the server certificate, then its chain
  std::string key_file;   // PEM, unencrypted; must not be readable by group or others
  std::string client_ca;  // PEM CA bundle; non-empty: every client must present a certificate it signed
};

// The longest client identity kept (a CN is at most 64 bytes; a DNS name at most 253).
inline constexpr std::size_t kTlsMaxIdentity = 255;

// One listener's TLS policy: TLS 1.2 only, ECDHE key exchange with AEAD ciphers only (AES-GCM,
// ChaCha20-Poly1305), no renegotiation; with a client CA, a verified client certificate is
// required. Neither copyable nor movable (mbedTLS keeps pointers into it).
class TlsServerConfig {
 public:
  TlsServerConfig() noexcept;
  ~TlsServerConfig();
  TlsServerConfig(const TlsServerConfig&) = delete;
  TlsServerConfig& operator=(const TlsServerConfig&) = delete;

  // Loads the files and sets the policy. Start-up only: it allocates (mbedTLS heap).
  // Errors: tls_errc::config with `error` naming the file and why: missing or unreadable, a key
  // file readable by group or others (mode & 077), not PEM, key and certificate do not match.
  std::error_code init(const TlsServerOptions& o, std::string& error);
  bool ready() const noexcept { return ready_; }
  bool verifies_clients() const noexcept { return verify_clients_; }

 private:
  friend class TlsStream;
  mbedtls_ssl_config conf_;
  mbedtls_x509_crt ca_;
  mbedtls_x509_crt own_cert_;
  mbedtls_pk_context own_key_;
  bool ready_ = false;
  bool verify_clients_ = false;
};

// The problem with a TLS key file's permissions, or "" (start-up: config validation uses it).
std::string tls_key_file_problem(const std::string& path);

// One TLS connection slot: an mbedtls_ssl_context bound in turn to each socket the slot opens.
// setup() allocates its record buffers once (mbedTLS heap, ~2 x 17 KiB); begin() resets it for a
// new connection without allocating a context. Reactor thread only.
class TlsStream {
 public:
  using Socket = asio::basic_stream_socket<asio::ip::tcp, Executor>;
  // An accepted connection (TCP or Unix alike; platform/transport/acceptor.hpp's StreamSocket).
  using ServerSocket = asio::basic_stream_socket<asio::generic::stream_protocol, Executor>;

  TlsStream() noexcept;
  ~TlsStream();
  TlsStream(const TlsStream&) = delete;
  TlsStream& operator=(const TlsStream&) = delete;

  // Start-up: binds the context to `cfg` (which must outlive it) and allocates its buffers.
  // Errors: tls_errc::out_of_memory, tls_errc::config.
  std::error_code setup(TlsClientConfig& cfg);
  // The same for the server side of a listener's connection slot.
  std::error_code setup(TlsServerConfig& cfg);
  bool is_setup() const noexcept { return cfg_ != nullptr || srv_ != nullptr; }
  bool is_server() const noexcept { return srv_ != nullptr; }

  // Starts a connection on a freshly connected `sock`: session reset, non-blocking mode, BIO
  // callbacks on its native handle, and the saved session offered for resumption.
  // Errors: tls_errc::out_of_memory (the reset allocates the handshake state), tls_errc::io.
  std::error_code begin(Socket& sock);
  // Server side: starts a connection on a freshly accepted socket (session reset, non-blocking).
  std::error_code begin(ServerSocket& sock);
  // Ends the connection: a best-effort close_notify (never waits), then detaches from the socket.
  // Call before closing the socket; harmless when nothing was begun.
  void end() noexcept;
  bool active() const noexcept { return sock_ != nullptr || ssock_ != nullptr; }
  bool established() const noexcept { return established_; }
  Socket& socket() const noexcept { return *sock_; }
  // Server side, after the handshake: the client certificate's subject CN, else its first SAN
  // DNS name; empty without a client certificate (or one with neither). Valid until begin().
  std::string_view identity() const noexcept { return {identity_, identity_len_}; }

  // The last handshake resumed a saved session (no certificate exchange).
  bool resumed() const noexcept { return resumed_; }
  // Diagnostics of the last failure: the mbedTLS return code, the verification flags
  // (MBEDTLS_X509_BADCERT_*), the alert the peer sent, errno of a socket failure.
  int last_error() const noexcept { return last_ret_; }
  std::uint32_t verify_flags() const noexcept { return verify_flags_; }
  // A key that is equal for failures with the same cause (for logging each cause once).
  std::uint64_t failure_key() const noexcept;
  // A one-line reason for the last failure, e.g. "certificate has expired", into buf.
  std::string_view describe(std::span<char> buf) const noexcept;

  // Internal to the awaitables below.
  int step_handshake() noexcept;
  std::error_code fail(int ret) noexcept;
  void on_established() noexcept;
  mbedtls_ssl_context& ssl() noexcept { return ssl_; }
  // Starts an asynchronous wait for readiness `w` on the bound socket (either kind).
  template <typename Init>
  void async_wait(asio::socket_base::wait_type w, Init&& h) {
    if (sock_) sock_->async_wait(w, std::forward<Init>(h));
    else ssock_->async_wait(w, std::forward<Init>(h));
  }
  void cancel_wait() noexcept;

 private:
  static int bio_send(void* self, const unsigned char* buf, std::size_t len);
  static int bio_recv(void* self, unsigned char* buf, std::size_t len);
  std::error_code setup_context(const mbedtls_ssl_config& conf, const char* hostname) noexcept;
  template <typename S>
  std::error_code attach(S& sock, S*& at) noexcept;
  std::error_code reset() noexcept;
  void take_identity() noexcept;

  mbedtls_ssl_context ssl_;
  TlsClientConfig* cfg_ = nullptr;
  TlsServerConfig* srv_ = nullptr;
  Socket* sock_ = nullptr;
  ServerSocket* ssock_ = nullptr;
  int fd_ = -1;
  int last_ret_ = 0;
  int sys_errno_ = 0;
  std::uint32_t verify_flags_ = 0;
  std::uint64_t refusals_at_begin_ = 0;
  std::uint8_t alert_ = 0;
  bool resumed_ = false;
  bool established_ = false;
  bool oom_ = false;
  std::uint8_t identity_len_ = 0;
  char identity_[kTlsMaxIdentity] = {};
};

// Runs the handshake to completion within `timeout` (the connector's connect_timeout).
// Errors: tls_errc::{verify_failed, handshake_failed, out_of_memory, closed, io},
// errc::timeout, errc::cancelled. On error the caller closes the socket (after t.end()).
// Notes: on success the session is saved in the config for the next connection's resumption.
Task<std::error_code> tls_handshake(TlsStream& t, Clock::duration timeout);

// Writes every byte of `bufs` within `timeout`. Result: {error, bytes written}.
// Errors: tls_errc::{io, closed, handshake_failed}, errc::timeout, errc::cancelled.
Task<std::pair<std::error_code, std::size_t>> tls_write_all(TlsStream& t, std::span<const asio::const_buffer> bufs,
                                                            Clock::duration timeout);

// Reads at least one byte of application data within `timeout`. Result: {error, bytes}.
// Errors: asio::error::eof when the peer closed (close_notify or plain EOF), tls_errc::io,
// tls_errc::handshake_failed (a bad record), errc::timeout, errc::cancelled.
Task<std::pair<std::error_code, std::size_t>> tls_read_some(TlsStream& t, std::span<char> buf,
                                                            Clock::duration timeout);

}  // namespace bh

template <>
struct std::is_error_code_enum<bh::tls_errc> : std::true_type {};
