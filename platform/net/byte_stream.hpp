// ByteStream: how a served connection (ingest, admin HTTP) moves its bytes: straight on its
// socket, or through the TLS stream its listener's handshake established (use_tls). One branch
// per call, no virtual call, no allocation: the connection owns it by value and the TLS stream
// is the listener's slot (platform/net/tls_listener.hpp). Reads and writes have one deadline
// each. Not a buffer, not a protocol. Reactor thread only.
#pragma once
#include <asio/buffer.hpp>

#include <cstddef>
#include <span>
#include <string_view>
#include <system_error>
#include <utility>

#include "platform/core/task.hpp"
#include "platform/net/tls.hpp"
#include "platform/transport/acceptor.hpp"

namespace bh {

class ByteStream {
 public:
  explicit ByteStream(StreamSocket& s) noexcept : sock_(s) {}
  ByteStream(const ByteStream&) = delete;
  ByteStream& operator=(const ByteStream&) = delete;

  // From now on bytes go through `t` (a server-side stream whose handshake completed).
  void use_tls(TlsStream* t) noexcept { tls_ = t; }
  bool is_tls() const noexcept { return tls_ != nullptr && tls_->active(); }
  // The client certificate's identity (empty: plain, or TLS without a client certificate).
  std::string_view identity() const noexcept { return is_tls() ? tls_->identity() : std::string_view{}; }

  // Reads at least one byte within `d`. Result {error, bytes}. Errors: asio::error::eof when the
  // peer closed (a TLS close_notify too), errc::timeout, asio::error::operation_aborted when
  // cancel() interrupted it (or the task was cancelled), socket and TLS errors.
  Task<std::pair<std::error_code, std::size_t>> read_some(char* buf, std::size_t cap, Clock::duration d);
  // Writes a then b, every byte, within `d`. Errors as read_some (never eof).
  Task<std::error_code> write_all(std::string_view a, std::string_view b, Clock::duration d);
  // Interrupts a pending read or write.
  void cancel() noexcept;
  // Ends TLS (a best-effort close_notify that never waits); call before shutting the socket.
  void end() noexcept;

 private:
  StreamSocket& sock_;
  TlsStream* tls_ = nullptr;
};

}  // namespace bh
