// Connector: resolve, connect, TLS handshake, timed I/O, failure accounting, breaker and backoff.
#include "platform/transport/connector.hpp"
#include "platform/core/reactor_thread.hpp"
#include "platform/util/assert.hpp"

#include <asio/error.hpp>
#include <asio/write.hpp>
#include <fmt/format.h>
#include <mbedtls/ssl.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>

#include <algorithm>
#include <string>

#include "platform/util/fault.hpp"
#include "platform/util/log.hpp"
#include "platform/util/redact.hpp"

namespace bh {
namespace {
// Failure keys (logged once per connect-failure episode). TLS keys come from TlsStream::failure_key
// (a non-zero mbedTLS code in the high half); these live in the top byte, apart from them.
constexpr std::uint64_t kKeyHandshakeTimeout = 1;
constexpr std::uint64_t kKeyConnectTimeout = 2;
constexpr std::uint64_t kKeySocket = 0xA1ull << 56;
constexpr std::uint64_t kKeyConnect = 0xA2ull << 56;

std::uint64_t key_of(std::uint64_t kind, const std::error_code& ec) noexcept {
  return kind | static_cast<std::uint32_t>(ec.value());
}

bool aborted(const std::error_code& ec) noexcept {
  return ec == asio::error::operation_aborted || ec == errc::cancelled;
}
}  // namespace

std::string_view error_text(const std::error_code& ec, std::span<char> buf) noexcept {
  if (ec.category() == asio::system_category() || ec.category() == std::system_category() ||
      ec.category() == std::generic_category())
    return strerror_r(ec.value(), buf.data(), buf.size());  // GNU strerror_r: returns the text
  auto r = fmt::format_to_n(buf.data(), buf.size(), "{} error {}", ec.category().name(), ec.value());
  return {buf.data(), std::min(r.size, buf.size())};
}

std::string_view make_label(std::span<char> buf, std::string_view kind, std::string_view name) noexcept {
  auto r = fmt::format_to_n(buf.data(), buf.size(), "{} {}", kind, name);
  return {buf.data(), std::min(r.size, buf.size())};
}

// ---- Link

void Link::close() noexcept {
  if (tls) tls->end();
  tls = nullptr;
  std::error_code ec;
  sock.close(ec);
}

void Link::cancel() noexcept {
  std::error_code ig;
  sock.cancel(ig);
}

bool Link::readable_while_idle() noexcept {
  // Whatever arrived would be read as the answer to the next request: bytes (say a 408 the peer
  // sent before closing), EOF, a reset, or TLS records or plaintext already buffered by mbedTLS.
  if (tls && tls->active() &&
      (mbedtls_ssl_get_bytes_avail(&tls->ssl()) > 0 || mbedtls_ssl_check_pending(&tls->ssl()) != 0))
    return true;
  pollfd p{sock.native_handle(), POLLIN, 0};
  return ::poll(&p, 1, 0) != 0;
}

std::size_t Link::read_ready(std::span<char> buf) noexcept {
  if (tls || buf.empty() || !sock.is_open()) return 0;
  const ssize_t n = ::recv(sock.native_handle(), buf.data(), buf.size(), MSG_DONTWAIT);
  return n > 0 ? static_cast<std::size_t>(n) : 0;
}

// ---- ConnectorBase

ConnectorBase::ConnectorBase(ConnectorStats& stats, std::string_view log_label, std::string_view breaker_name,
                             const BreakerOptions& breaker, std::chrono::milliseconds backoff_base,
                             std::chrono::milliseconds backoff_cap, std::uint64_t seed) noexcept
    : stats_(stats),
      label_(log_label),
      breaker_(breaker, breaker_name.empty() ? log_label : breaker_name),
      backoff_(backoff_base, backoff_cap, seed) {}

std::error_code ConnectorBase::prepare(const ConnectorTarget& t) {
  BH_ASSERT(on_reactor_thread());
  authority_ = t.authority;
  port_ = t.port;
  secure_ = t.secure;
  connect_timeout_ = t.connect_timeout;
  if (secure_) {
    std::string err;
    if (auto e = tls_conf_.init(t.tls, t.host, err)) {
      log::error("{}: TLS: {}", label_, err);
      return e;
    }
    if (!t.tls.verify)
      log::warn("{}: tls_verify = false: the certificate and host name of {} are NOT checked; anyone on the path "
                "can read and alter the traffic",
                label_, authority_);
    // The contexts now, while allocating is allowed (~37 KB of mbedTLS heap each); reset per connection.
    const std::uint32_t n = std::min<std::uint32_t>(t.tls_contexts, static_cast<std::uint32_t>(tls_.size()));
    for (std::uint32_t i = 0; i < n; ++i) {
      if (auto e = tls_[i].setup(tls_conf_)) {
        log::error("{}: TLS context {}: {}", label_, i, e.message());
        return e;
      }
    }
    log::info("{}: TLS to {}: {}, {} connection context(s)", label_, authority_,
              !t.tls.verify           ? std::string("verification off")
              : t.tls.ca_file.empty() ? fmt::format("verified against the system CA bundle ({} certificates)",
                                                    tls_conf_.ca_certs())
                                      : fmt::format("verified against {}", t.tls.ca_file),
              n);
  } else if (!t.tls.ca_file.empty() || !t.tls.client_cert.empty()) {
    log::warn("{}: ca_file / client_cert are ignored for {} (not TLS)", label_, redact::url(t.url));
  }
  // A numeric host or a hosts-file name is final now; a DNS name is looked up by resolve(),
  // asynchronously and without the heap (dns.hpp), once the cached answer expires.
  DnsOptions dopts = t.dns;
  dopts.timeout = t.connect_timeout;
  if (auto e = dns_.init(t.host, dopts)) return e;
  if (dns_.is_static()) {
    endpoint_ = asio::ip::tcp::endpoint(dns_.cached().addrs[0], port_);
  } else {
    char ns[64];
    log::info("{}: host {} is looked up via DNS ({} name server(s), first {}; answers kept up to {} s)", label_,
              dns_.host(), dns_.resolv_conf().count, dns::format_ip(dns_.resolv_conf().servers[0], ns),
              std::chrono::duration_cast<std::chrono::seconds>(dopts.ttl).count());
  }
  return {};
}

void ConnectorBase::report(std::uint64_t key) noexcept {
  const auto logged = std::span(logged_).first(std::min<std::size_t>(logged_n_, logged_.size()));
  if (std::find(logged.begin(), logged.end(), key) != logged.end()) {
    log::debug("{}: {}", label_, last_error());
    return;
  }
  logged_[logged_n_++ % logged_.size()] = key;
  log::warn("{}: {}; retrying with backoff (repeats are counted, not logged)", label_, last_error());
}

namespace {
template <std::size_t N, typename... Args>
std::size_t format_into(char (&buf)[N], fmt::format_string<Args...> f, Args&&... args) noexcept {
  auto r = fmt::format_to_n(buf, N, f, std::forward<Args>(args)...);
  return std::min(r.size, N);
}
}  // namespace

Task<ConnectError> ConnectorBase::resolve() {
  DnsCache::Result r = co_await dns_.resolve();
  const DnsStats& d = dns_.stats();
  stats_.resolve_errors = d.failures;
  stats_.resolve_timeouts = d.timeouts;
  stats_.dns_stale_used = d.stale_used;
  stats_.deadlines.set(TimedOp::resolve, d.lookups, d.timeouts);
  co_return resolved(r);
}

ConnectError ConnectorBase::resolved(const DnsCache::Result& r) noexcept {
  if (r.ec == errc::cancelled) return ConnectError{r.ec, TimedOp::resolve, "cancelled"};
  char ip[64];
  if (r.ec) {
    last_error_len_ = format_into(last_error_, "cannot resolve {}: {}", dns_.host(), dns_reason(r.ec));
    if (!dns_failing_) log::warn("{}: {}; retrying with backoff (repeats are counted, not logged)", label_, last_error());
    dns_failing_ = true;
    return ConnectError{r.ec, TimedOp::resolve, "host not resolved"};
  }
  if (r.stale) {
    if (!dns_failing_)
      log::warn("{}: looking up {} failed: {}; using its last address {} until a lookup succeeds (repeats are "
                "counted, not logged)",
                label_, dns_.host(), dns_reason(r.lookup_error), dns::format_ip(r.addr, ip));
    dns_failing_ = true;
  } else if (dns_failing_) {
    dns_failing_ = false;
    log::info("{}: {} resolves again ({})", label_, dns_.host(), dns::format_ip(r.addr, ip));
  }
  endpoint_ = asio::ip::tcp::endpoint(r.addr, port_);
  return {};
}

TlsStream* ConnectorBase::context(std::uint32_t i) noexcept {
  if (i >= tls_.size()) return nullptr;
  if (!tls_[i].is_setup() && tls_[i].setup(tls_conf_)) {  // after seal: no message() string, just the fact
    log::error("{}: TLS context {} could not be set up (mbedTLS heap limit?)", label_, i);
    return nullptr;
  }
  return &tls_[i];
}

Task<ConnectError> ConnectorBase::open(Link& link, std::uint32_t slot) {
  link.close();
  TlsStream* t = nullptr;
  if (secure_ && !(t = context(slot)))
    co_return ConnectError{make_error_code(tls_errc::out_of_memory), TimedOp::handshake, "no TLS context"};
  ++stats_.connects;
  std::error_code ec;
  link.sock.open(endpoint_.protocol(), ec);
  if (!ec) link.sock.set_option(asio::ip::tcp::no_delay(true), ec);
  if (ec) co_return connect_failed(link, ec, true);
  stats_.deadlines.started(TimedOp::connect);
  if (fault::hit(fault::Op::connect)) {
    ec = make_error_code(asio::error::connection_refused);  // the fault plan (test builds)
  } else {
    ec = (co_await timed_op(
              connect_timeout_, [&](auto h) { link.sock.async_connect(endpoint_, std::move(h)); },
              [&] { link.cancel(); }))
             .first;
  }
  if (ec) co_return connect_failed(link, ec, false);
  if (t) {
    // The handshake gets its own connect_timeout.
    link.tls = t;
    ec = t->begin(link.sock);
    stats_.deadlines.started(TimedOp::handshake);
    if (!ec) ec = co_await tls_handshake(*t, connect_timeout_);
    if (ec) co_return handshake_failed(link, ec);
    ++stats_.tls_handshakes;
    if (t->resumed()) ++stats_.tls_resumed;
  }
  logged_n_ = 0;  // the failure episode is over: the next failure is logged again
  co_return ConnectError{};
}

ConnectError ConnectorBase::connect_failed(Link& link, std::error_code ec, bool socket) noexcept {
  link.close();
  if (aborted(ec)) return ConnectError{make_error_code(errc::cancelled), TimedOp::connect, "cancelled"};
  char eb[96];
  if (socket) {
    ++stats_.connect_errors;
    last_error_len_ = format_into(last_error_, "socket: {}", error_text(ec, eb));
    report(key_of(kKeySocket, ec));
    return ConnectError{ec, TimedOp::connect, "socket"};
  }
  dns_.rotate();  // the next connection tries the host's next address, if it has several
  if (ec == errc::timeout) {
    stats_.deadlines.timed_out(TimedOp::connect);
    ++stats_.connect_timeouts;
    last_error_len_ = format_into(last_error_, "connect to {} timed out", authority_);
    report(kKeyConnectTimeout);
    return ConnectError{ec, TimedOp::connect, "connect timeout"};
  }
  ++stats_.connect_errors;
  last_error_len_ = format_into(last_error_, "connect to {} failed: {}", authority_, error_text(ec, eb));
  report(key_of(kKeyConnect, ec));
  return ConnectError{ec, TimedOp::connect, "connect failed"};
}

ConnectError ConnectorBase::handshake_failed(Link& link, std::error_code ec) noexcept {
  const TlsStream& t = *link.tls;
  std::string_view why;
  std::uint64_t key = t.failure_key();
  if (aborted(ec)) {
    link.close();
    return ConnectError{make_error_code(errc::cancelled), TimedOp::handshake, "cancelled"};
  }
  char detail[256];
  std::string_view d;
  if (ec == errc::timeout) {
    stats_.deadlines.timed_out(TimedOp::handshake);
    ++stats_.handshake_timeouts;
    why = "TLS handshake timeout";
    key = kKeyHandshakeTimeout;
    d = "no handshake within connect_timeout";
  } else {
    if (ec == tls_errc::verify_failed) {
      ++stats_.tls_verify_errors;
      why = "TLS certificate rejected";
    } else {
      ++stats_.tls_handshake_errors;
      why = ec == tls_errc::out_of_memory ? "TLS memory limit" : "TLS handshake failed";
    }
    d = t.describe(detail);
  }
  last_error_len_ = format_into(last_error_, "TLS handshake with {} failed: {}", authority_, d);
  link.close();
  report(key);
  return ConnectError{ec, TimedOp::handshake, why};
}

Task<std::pair<std::error_code, std::size_t>> ConnectorBase::read_some(Link& link, std::span<char> buf,
                                                                       Clock::duration d, TimedOp timeout_as) {
  std::pair<std::error_code, std::size_t> r;
  stats_.deadlines.started(TimedOp::read);
  if (link.tls) {
    r = co_await tls_read_some(*link.tls, buf, d);
  } else {
    r = co_await timed_op(
        d, [&](auto h) { link.sock.async_read_some(asio::buffer(buf.data(), buf.size()), std::move(h)); },
        [&] { link.cancel(); });
  }
  if (r.first == asio::error::operation_aborted) r.first = make_error_code(errc::cancelled);
  if (r.first == errc::timeout) stats_.deadlines.timed_out(timeout_as);
  co_return r;
}

Task<std::error_code> ConnectorBase::write_all(Link& link, std::string_view head, std::string_view body,
                                               Clock::duration d) {
  // Two buffers in a std::array: Asio's write op for it is small enough for the task's handler
  // arena (a generic buffer sequence carries 64 buffers' worth of state and would spill to the heap).
  const std::array<asio::const_buffer, 2> bufs{asio::buffer(head.data(), head.size()),
                                               asio::buffer(body.data(), body.size())};
  std::error_code ec;
  stats_.deadlines.started(TimedOp::write);
  if (link.tls) {
    ec = (co_await tls_write_all(*link.tls, std::span(bufs).first(body.empty() ? 1 : 2), d)).first;
  } else {
    ec = (co_await timed_op(
              d, [&](auto h) { asio::async_write(link.sock, bufs, std::move(h)); }, [&] { link.cancel(); }))
             .first;
  }
  if (ec == asio::error::operation_aborted) ec = make_error_code(errc::cancelled);
  if (ec == errc::timeout) stats_.deadlines.timed_out(TimedOp::write);
  co_return ec;
}

void ConnectorBase::note_io_failure(TimedOp op, std::error_code ec) noexcept {
  if (aborted(ec)) return;
  if (ec == errc::timeout) {
    ++(op == TimedOp::write      ? stats_.write_timeouts
       : op == TimedOp::response ? stats_.response_timeouts
                                 : stats_.read_timeouts);
  } else {
    ++stats_.io_errors;
  }
}

bool ConnectorBase::admit(Clock::time_point now) noexcept {
  if (breaker_.allow(now)) return true;
  ++stats_.breaker_rejections;
  return false;
}

void ConnectorBase::succeeded(Clock::time_point now) noexcept {
  breaker_.on_success(now);
  backoff_.reset();
}

Backoff::Duration ConnectorBase::failed(Clock::time_point now) noexcept {
  breaker_.on_failure(now);
  return backoff_.next();
}

}  // namespace bh
