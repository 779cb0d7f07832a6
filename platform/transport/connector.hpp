// Connector: the outbound half of every sink and source. For one endpoint it resolves the host
// (its own DNS cache), connects, runs the TLS handshake when the endpoint is secure, then reads and
// writes, each step with a deadline and counted (ConnectorStats); it also holds the breaker and
// backoff that pace attempts. It is not a protocol (HTTP is layered on top in connector_http.hpp)
// and owns no connection: a Link lives in the caller's pool slot. No heap after start-up.
// Reactor thread only.
#pragma once
#include <asio/buffer.hpp>
#include <asio/ip/tcp.hpp>

#include <array>
#include <cstdint>
#include <span>
#include <string_view>
#include <system_error>
#include <utility>

#include "platform/core/task.hpp"
#include "platform/net/dns.hpp"
#include "platform/net/tls.hpp"
#include "platform/transport/breaker.hpp"
#include "platform/transport/timeouts.hpp"

namespace bh {

// The connection counters every connector keeps. Sink and source stats extend this struct, so the
// console and /metrics read the same fields under their own names (bulkhead_sink_*, source rows).
struct ConnectorStats {
  std::uint64_t connects = 0;          // new connections attempted (after the host resolved)
  std::uint64_t connect_errors = 0;    // socket() or connect() refused, reset, unreachable
  std::uint64_t connect_timeouts = 0;  // no connect within connect_timeout
  // TLS only. The error counters are disjoint: a handshake fails for one reason.
  std::uint64_t tls_handshakes = 0;        // handshakes completed
  std::uint64_t tls_resumed = 0;           // of them, resumed sessions (no certificate exchange)
  std::uint64_t tls_handshake_errors = 0;  // alerts, garbage, protocol errors, TLS memory limit
  std::uint64_t tls_verify_errors = 0;     // certificate or host name rejected
  std::uint64_t handshake_timeouts = 0;    // no handshake within connect_timeout
  // Failed reads and writes, as the owner classifies them (note_io_failure).
  std::uint64_t write_timeouts = 0;
  std::uint64_t read_timeouts = 0;
  std::uint64_t response_timeouts = 0;  // a whole response not in within response_timeout (trickled)
  std::uint64_t io_errors = 0;  // resets, EOF mid-message
  // Host names (DNS; numeric hosts and hosts-file names never fail). Disjoint from connect_errors.
  std::uint64_t resolve_errors = 0;    // lookups answered NXDOMAIN, no address, SERVFAIL, garbage...
  std::uint64_t resolve_timeouts = 0;  // lookups with no answer within connect_timeout
  std::uint64_t dns_stale_used = 0;    // of those, lookups that fell back to the expired cached address
  std::uint64_t breaker_rejections = 0;  // attempts the open breaker refused
  TimeoutStats deadlines;  // per timed operation: started and timed out (the violation rate)
};

// One connection: the socket and, on a TLS endpoint, the TLS context bound to it. Lives in a pool
// slot of the owner; closing (or destroying) it ends the TLS session and closes the socket.
class Link {
 public:
  using Socket = asio::basic_stream_socket<asio::ip::tcp, Executor>;

  explicit Link(Executor ex) noexcept : sock(ex) {}
  ~Link() { close(); }
  Link(const Link&) = delete;
  Link& operator=(const Link&) = delete;

  // Ends the TLS session (best-effort close_notify, never waits) and closes the socket.
  void close() noexcept;
  bool is_open() const noexcept { return sock.is_open(); }
  // Interrupts the operation in progress (it completes with errc::cancelled).
  void cancel() noexcept;
  // For a kept-alive connection about to be reused: true when anything arrived while it was idle
  // (bytes, EOF, a reset, or TLS records already buffered): the peer is done with it. Never blocks;
  // a failing poll() counts as readable too.
  bool readable_while_idle() noexcept;
  // Bytes the kernel already holds for this plain-TCP link, copied into `buf` without waiting: one
  // recv(MSG_DONTWAIT), no timer, no reactor round trip (a pipelined protocol drains every answer
  // already here before its next write). 0 when nothing is buffered, on EOF or an error (the next
  // timed read reports those) and always on a TLS link (mbedTLS owns its records).
  std::size_t read_ready(std::span<char> buf) noexcept;

  Socket sock;
  TlsStream* tls = nullptr;  // set by Connector::open on a TLS endpoint, else null
};

// Where a connector connects to, and how. Start-up only (prepare copies what it keeps).
struct ConnectorTarget {
  std::string_view host;       // a DNS name, a hosts-file name or an IP literal
  std::uint16_t port = 0;
  std::string_view authority;  // host[:port] as written, for log lines; must outlive the connector
  std::string_view url;        // for log lines at start-up
  bool secure = false;         // TLS
  TlsOptions tls;              // secure only
  Clock::duration connect_timeout = std::chrono::seconds(5);  // the lookup, the connect, the handshake each
  DnsOptions dns;              // .timeout is set to connect_timeout
  std::uint32_t tls_contexts = 1;  // set up now (one per connection slot); more on first use
};

// Why a connect-phase step failed. `op` names the step (resolve, connect, handshake); `reason` is a
// short static text ("connect timeout", "TLS certificate rejected", ...); ec == errc::cancelled
// means the owner interrupted it (nothing counted, nothing logged).
struct ConnectError {
  std::error_code ec;
  TimedOp op = TimedOp::connect;
  std::string_view reason;
  explicit operator bool() const noexcept { return static_cast<bool>(ec); }
};

// An error's text without allocating (error_code::message() builds a std::string).
std::string_view error_text(const std::error_code& ec, std::span<char> buf) noexcept;
// "<kind> <name>" into `buf` (cut to fit): a connector's log label, e.g. "source feed".
std::string_view make_label(std::span<char> buf, std::string_view kind, std::string_view name) noexcept;

// The connector without its TLS contexts (Connector<N> below holds them): everything but storage.
class ConnectorBase {
 public:
  // `stats` is the owner's (it outlives the connector); `log_label` prefixes log lines ("sink a",
  // "source b"); `breaker_name` names the breaker in its transition lines ("" = the log label).
  // Both must outlive it.
  ConnectorBase(ConnectorStats& stats, std::string_view log_label, std::string_view breaker_name,
                const BreakerOptions& breaker, std::chrono::milliseconds backoff_base,
                std::chrono::milliseconds backoff_cap, std::uint64_t seed) noexcept;
  ConnectorBase(const ConnectorBase&) = delete;
  ConnectorBase& operator=(const ConnectorBase&) = delete;

  // Start-up (allocates, logs): loads the TLS material and sets up `tls_contexts` contexts, reads
  // the host's hosts-file entry or resolv.conf (a DNS name is looked up by resolve(), not here).
  // Errors: tls_errc::config (a CA/certificate/key file; logged), tls_errc::out_of_memory,
  // dns_errc::bad_name.
  std::error_code prepare(const ConnectorTarget& t);

  // The host's current address, from the cache unless it expired (then a lookup, with the
  // connect_timeout deadline). Counts lookups in the resolve deadline counters; logs the first
  // failure of a DNS failure episode and its end. Call holding the slot whose link will connect,
  // with that link closed: the lookup's UDP socket is counted in the slot's FD.
  // Errors: op = resolve, ec = the lookup's (errc::timeout, dns_errc::nxdomain, ...), errc::cancelled.
  Task<ConnectError> resolve();
  // Opens `link` (closed) to the address resolve() found: socket, connect within connect_timeout,
  // then on a TLS endpoint the handshake on TLS context `context` (the owner's slot index) within
  // connect_timeout again. Counts each step (connects, errors, timeouts, handshakes); logs each
  // distinct failure once until a connect succeeds. On failure the link is closed.
  // Errors: op = connect (socket and connect errors, errc::timeout), op = handshake
  // (tls_errc::*, errc::timeout), errc::cancelled. Notes: consults fault::Op::connect (test plans).
  Task<ConnectError> open(Link& link, std::uint32_t context);

  // Reads at least one byte within `d`. Counts the read's deadline (a timeout under `timeout_as`:
  // a read cut short by a longer deadline, e.g. TimedOp::response, is counted there). Errors:
  // asio::error::eof (the peer closed), errc::timeout, errc::cancelled, socket or TLS errors.
  // Nothing else is counted: the owner knows whether a timeout is a failure (note_io_failure) or
  // its own timer.
  Task<std::pair<std::error_code, std::size_t>> read_some(Link& link, std::span<char> buf, Clock::duration d,
                                                          TimedOp timeout_as = TimedOp::read);
  // The deadline counters (for a deadline spanning several operations, e.g. a whole response).
  TimeoutStats& deadlines() noexcept { return stats_.deadlines; }
  // Writes every byte of `head`, then of `body`, within `d` (two buffers, one gathered write:
  // a request head and its body). Counts the write's deadline. Errors: as read_some.
  Task<std::error_code> write_all(Link& link, std::string_view head, std::string_view body, Clock::duration d);
  Task<std::error_code> write_all(Link& link, std::string_view bytes, Clock::duration d) {
    return write_all(link, bytes, std::string_view(), d);
  }
  // Counts a failed read or write (op = read, response or write) as its kind: a timeout, or an I/O error.
  // Cancellation is not counted.
  void note_io_failure(TimedOp op, std::error_code ec) noexcept;

  // Breaker and backoff hooks around each attempt. admit: may an attempt start now (a refusal is
  // counted in breaker_rejections; wait until breaker().retry_at()). succeeded: the peer answered
  // (breaker closes, backoff restarts). failed: a failed attempt; returns the delay before the next.
  bool admit(Clock::time_point now) noexcept;
  void succeeded(Clock::time_point now) noexcept;
  Backoff::Duration failed(Clock::time_point now) noexcept;
  Breaker& breaker() noexcept { return breaker_; }
  const Breaker& breaker() const noexcept { return breaker_; }
  Backoff& backoff() noexcept { return backoff_; }

  const DnsCache& dns() const noexcept { return dns_; }
  const TlsClientConfig* tls() const noexcept { return secure_ ? &tls_conf_ : nullptr; }
  bool secure() const noexcept { return secure_; }
  std::string_view authority() const noexcept { return authority_; }
  const asio::ip::tcp::endpoint& endpoint() const noexcept { return endpoint_; }
  // The text of the last connect-phase failure ("connect to host:1 failed: Connection refused"),
  // as logged; for an owner that shows its last error.
  std::string_view last_error() const noexcept { return {last_error_, last_error_len_}; }

 protected:
  void set_contexts(std::span<TlsStream> c) noexcept { tls_ = c; }

 private:
  // The TLS context of slot i, set up on first use if start-up did not (a raised limit).
  TlsStream* context(std::uint32_t i) noexcept;
  // Each counts and describes a failed step (last_error, logged once per cause), closes the link.
  ConnectError resolved(const DnsCache::Result& r) noexcept;
  ConnectError connect_failed(Link& link, std::error_code ec, bool socket) noexcept;
  ConnectError handshake_failed(Link& link, std::error_code ec) noexcept;
  // Logs last_error() unless `key` was logged in this failure episode (it ends at a connect).
  void report(std::uint64_t key) noexcept;

  ConnectorStats& stats_;
  std::string_view label_;
  std::string_view authority_;
  std::span<TlsStream> tls_;
  Breaker breaker_;
  Backoff backoff_;
  DnsCache dns_;
  TlsClientConfig tls_conf_;
  asio::ip::tcp::endpoint endpoint_;  // of the address the next new connection goes to
  std::uint16_t port_ = 0;
  bool secure_ = false;
  bool dns_failing_ = false;  // in a DNS failure episode (logged once)
  Clock::duration connect_timeout_{};
  std::array<std::uint64_t, 8> logged_{};  // failure keys logged in this failure episode
  std::uint32_t logged_n_ = 0;
  char last_error_[192] = {};
  std::size_t last_error_len_ = 0;
};

// A connector with N TLS contexts (one per connection slot the owner can hold at once).
template <std::uint32_t N>
class Connector final : public ConnectorBase {
 public:
  Connector(ConnectorStats& stats, std::string_view log_label, std::string_view breaker_name,
            const BreakerOptions& breaker, std::chrono::milliseconds backoff_base,
            std::chrono::milliseconds backoff_cap, std::uint64_t seed) noexcept
      : ConnectorBase(stats, log_label, breaker_name, breaker, backoff_base, backoff_cap, seed) {
    set_contexts(contexts_);
  }

 private:
  // Destroyed before the base's TLS config they are bound to (derived members go first). Links
  // using them (the owner's pool slots) must go before the connector: declare it before the pool.
  std::array<TlsStream, N> contexts_;
};

}  // namespace bh
