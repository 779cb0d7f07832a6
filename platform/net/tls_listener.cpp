// TlsListener: start-up (config, every slot's stream), the per-connection handshake, and the
// failure reasons.
#include "platform/net/tls_listener.hpp"

#include <mbedtls/ssl.h>
#include <mbedtls/x509.h>

#include <chrono>

#include "platform/util/log.hpp"

namespace bh {

std::error_code TlsListenerBase::init(const char* name, const TlsServerOptions& o, std::string& error) {
  name_ = name;
  if (auto ec = cfg_.init(o, error)) return ec;
  for (TlsStream& t : streams_) {
    if (auto ec = t.setup(cfg_)) {
      error = ec == tls_errc::out_of_memory
                  ? "the TLS heap limit cannot hold a TLS context for every connection slot"
                  : "cannot set up a TLS context";
      return ec;
    }
  }
  return {};
}

TlsStream* TlsListenerBase::tls(std::uint32_t slot) noexcept {
  return slot < streams_.size() ? &streams_[slot] : nullptr;
}

Task<std::error_code> TlsListenerBase::handshake(StreamSocket& s, std::uint32_t slot, Clock::duration timeout) {
  TlsStream* t = tls(slot);
  if (!t) co_return make_error_code(tls_errc::config);
  // Every write is a whole record (a handshake flight, a reply): Nagle would only hold it back
  // behind the peer's delayed ACK.
  std::error_code ig;
  s.set_option(asio::ip::tcp::no_delay(true), ig);
  std::error_code ec = t->begin(s);
  if (!ec) ec = co_await tls_handshake(*t, timeout);
  if (!ec) {
    ++stats_.handshakes;
    co_return ec;
  }
  count_failure(*t, ec);
  t->end();
  co_return ec;
}

void TlsListenerBase::count_failure(const TlsStream& t, std::error_code ec) noexcept {
  const char* reason = "protocol";
  if (ec == errc::timeout) {
    ++stats_.timeouts, reason = "timeout";
  } else if (ec == errc::cancelled) {
    return;  // shutdown
  } else if (ec == tls_errc::out_of_memory) {
    ++stats_.out_of_memory, reason = "out_of_memory";
  } else if (ec == tls_errc::verify_failed) {
    const std::uint32_t f = t.verify_flags();
    if (f & MBEDTLS_X509_BADCERT_MISSING) ++stats_.no_cert, reason = "no_cert";
    else if (f & (MBEDTLS_X509_BADCERT_EXPIRED | MBEDTLS_X509_BADCERT_FUTURE)) ++stats_.expired, reason = "expired";
    else ++stats_.bad_cert, reason = "bad_cert";
  } else if (ec == tls_errc::closed || ec == tls_errc::io) {
    ++stats_.closed, reason = "closed";
  } else {
    ++stats_.protocol;
  }
  // At most one line a second: a flood of bad clients cannot flood the log.
  const auto now = Clock::now();
  if (last_log_ != Clock::time_point{} && now - last_log_ < std::chrono::seconds(1)) {
    ++unlogged_;
    return;
  }
  char buf[192];
  log::warn("{}: TLS handshake refused ({}): {}{}", name_, reason, t.describe(buf),
            unlogged_ ? " (and earlier refusals not logged)" : "");
  last_log_ = now;
  unlogged_ = 0;
}

}  // namespace bh
