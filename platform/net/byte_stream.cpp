// ByteStream: the plain and the TLS path of a served connection's reads and writes.
#include "platform/net/byte_stream.hpp"

#include <asio/error.hpp>
#include <asio/write.hpp>
#include <mbedtls/ssl.h>

#include <array>

namespace bh {

namespace {
std::error_code aborted_as_asio(std::error_code ec) noexcept {
  return ec == errc::cancelled ? std::error_code(asio::error::operation_aborted) : ec;
}
}  // namespace

Task<std::pair<std::error_code, std::size_t>> ByteStream::read_some(char* buf, std::size_t cap, Clock::duration d) {
  if (tls_) {
    auto r = co_await tls_read_some(*tls_, std::span<char>(buf, cap), d);
    r.first = aborted_as_asio(r.first);
    // A read yields one record (at most 16 KiB): take the records that are already here too, so a
    // connection gets as many lines per read as it would without TLS (never waits; a failure
    // here surfaces on the next read).
    while (!r.first && r.second < cap) {
      const int n = mbedtls_ssl_read(&tls_->ssl(), reinterpret_cast<unsigned char*>(buf + r.second), cap - r.second);
      if (n <= 0) break;
      r.second += static_cast<std::size_t>(n);
    }
    co_return r;
  }
  co_return co_await timed_op(
      d, [&](auto h) { sock_.async_read_some(asio::buffer(buf, cap), std::move(h)); },
      [&] {
        std::error_code ig;
        sock_.cancel(ig);
      });
}

Task<std::error_code> ByteStream::write_all(std::string_view a, std::string_view b, Clock::duration d) {
  // Two buffers in a std::array: Asio's write op for it fits the task's handler arena.
  const std::array<asio::const_buffer, 2> bufs{asio::buffer(a.data(), a.size()), asio::buffer(b.data(), b.size())};
  if (tls_) co_return aborted_as_asio((co_await tls_write_all(*tls_, std::span(bufs).first(b.empty() ? 1 : 2), d)).first);
  co_return (co_await timed_op(
                 d, [&](auto h) { asio::async_write(sock_, bufs, std::move(h)); },
                 [&] {
                   std::error_code ig;
                   sock_.cancel(ig);
                 }))
      .first;
}

void ByteStream::cancel() noexcept {
  std::error_code ig;
  sock_.cancel(ig);
}

void ByteStream::end() noexcept {
  if (tls_) tls_->end();
}

}  // namespace bh
