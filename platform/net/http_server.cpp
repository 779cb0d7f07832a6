// HttpConn: one connection's request loop (parse the head, hand it to handle(), answer, repeat),
// its body reads and response writes, each within a deadline.
#include "platform/net/http_server.hpp"

#include <asio/write.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstring>

#include "platform/util/log.hpp"

namespace bh {

HttpConn::HttpConn(Socket&& s, HttpServerShared& shared) noexcept
    : sock_(std::move(s)), sh_(shared),
      parser_(http::ParserOptions{.max_header_bytes = shared.opts.max_header_bytes,
                                  .max_body_bytes = shared.opts.max_body_bytes}) {}

HttpConn::~HttpConn() {
  io_.end();
  std::error_code ec;
  sock_.close(ec);
  ++sh_.stats.closed;
}

void HttpConn::interrupt_idle() noexcept {
  if (phase_ == Phase::idle) io_.cancel();
}

void HttpConn::evict() noexcept { io_.cancel(); }

std::string_view HttpConn::path() const noexcept {
  std::string_view t = parser_.target();
  return t.substr(0, t.find('?'));
}

bool HttpConn::keep_alive_now() const noexcept {
  if (close_after_ || sh_.stopping || !parser_.keep_alive()) return false;
  // The client waits for `100 Continue` that never came: it may or may not send the body now, so
  // the connection cannot be trusted for another request.
  if (parser_.expect_continue() && !continue_sent_ && !parser_.is_done()) return false;
  return true;
}

void HttpConn::count_status(int status) noexcept {
  if (status >= 500) ++sh_.stats.responses_5xx;
  else if (status >= 400) ++sh_.stats.responses_4xx;
  else if (status >= 200) ++sh_.stats.responses_2xx;
}

Task<std::error_code> HttpConn::fill(Clock::time_point until) {
  rpos_ = rlen_ = 0;
  const Clock::duration left = until - Clock::now();
  if (left <= Clock::duration::zero()) co_return make_error_code(errc::timeout);
  auto [ec, n] = co_await io_.read_some(rbuf_, kReadBytes, left);
  if (!ec) rlen_ = n;
  co_return ec;
}

Task<std::error_code> HttpConn::write_all(std::string_view a, std::string_view b) {
  if (write_failed_) co_return make_error_code(errc::closed);
  const std::error_code ec = co_await io_.write_all(a, b, sh_.opts.timeout);
  if (ec) {
    write_failed_ = true;
    if (ec == errc::timeout) ++sh_.stats.write_timeouts;
  }
  co_return ec;
}

Task<BodyRead> HttpConn::read_body(char* dst, std::size_t cap) {
  BodyRead r;
  if (parser_.is_done()) {
    r.end = true;
    co_return r;
  }
  if (parser_.error() != http::Error::none) {
    r.ec = make_error_code(errc::protocol);
    co_return r;
  }
  if (parser_.expect_continue() && !continue_sent_) {
    continue_sent_ = true;
    static constexpr std::string_view k100 = "HTTP/1.1 100 Continue\r\n\r\n";
    if (auto ec = co_await write_all(k100)) {
      r.ec = ec;
      co_return r;
    }
  }
  while (r.n < cap) {
    if (rpos_ < rlen_) {
      // Body bytes are a subset of the input: feeding at most the room left never overflows dst.
      const std::size_t avail = std::min(rlen_ - rpos_, cap - r.n);
      std::size_t used = 0;
      const http::Result res = parser_.feed(std::string_view(rbuf_ + rpos_, avail), used);
      rpos_ += used;
      if (res == http::Result::body) {
        const std::string_view chunk = parser_.body_chunk();
        if (!chunk.empty()) std::memcpy(dst + r.n, chunk.data(), chunk.size());
        r.n += chunk.size();
        continue;
      }
      if (res == http::Result::done) {
        r.end = true;
        break;
      }
      if (res == http::Result::error) {
        r.ec = make_error_code(errc::protocol);
        break;
      }
      continue;  // need_more: all of it was framing
    }
    if (r.n > 0) break;  // hand over what there is before waiting for the peer
    phase_ = Phase::request;
    std::error_code ec = co_await fill(deadline_);
    if (ec == asio::error::eof) {
      (void)parser_.finish_eof();
      r.ec = make_error_code(errc::closed);
      break;
    }
    if (ec) {
      if (ec == errc::timeout) {
        ++sh_.stats.read_timeouts;
        sh_.stats.closes.count(CloseReason::body_timeout);
      }
      r.ec = ec == asio::error::operation_aborted ? make_error_code(errc::cancelled) : ec;
      break;
    }
  }
  co_return r;
}

std::size_t HttpConn::start_response(int status, std::string_view content_type, std::uint64_t body_size,
                                     std::string_view extra_headers) noexcept {
  responded_ = true;
  phase_ = Phase::responding;
  count_status(status);
  const bool keep = keep_alive_now();
  if (!keep) close_after_ = true;
  const std::size_t hn = http::format_response_head(std::span<char>(head_, kHeadBytes), status, {}, content_type,
                                                    body_size, keep, extra_headers);
  if (hn == 0) {
    log::error("http: response head for status {} does not fit or is invalid", status);
    write_failed_ = true;
  }
  return hn;
}

Task<bool> HttpConn::respond(int status, std::string_view content_type, std::string_view body,
                             std::string_view extra_headers) {
  const std::size_t hn = start_response(status, content_type, body.size(), extra_headers);
  if (hn == 0) co_return false;
  if (head_request()) body = {};
  std::error_code ec;
  if (hn + body.size() <= kHeadBytes) {
    if (!body.empty()) std::memcpy(head_ + hn, body.data(), body.size());
    ec = co_await write_all(std::string_view(head_, hn + body.size()));
  } else {
    ec = co_await write_all(std::string_view(head_, hn), body);
  }
  co_return !ec;
}

Task<bool> HttpConn::respond_in_place(int status, std::string_view content_type, std::string_view body,
                                      std::size_t room, std::string_view extra_headers) {
  const std::size_t hn = start_response(status, content_type, body.size(), extra_headers);
  if (hn == 0) co_return false;
  if (head_request()) co_return !(co_await write_all(std::string_view(head_, hn)));
  if (hn > room) co_return !(co_await write_all(std::string_view(head_, hn), body));
  char* start = const_cast<char*>(body.data()) - hn;  // the caller's buffer: `room` bytes are free there
  std::memcpy(start, head_, hn);
  co_return !(co_await write_all(std::string_view(start, hn + body.size())));
}

Task<bool> HttpConn::respond_head(int status, std::string_view content_type, std::uint64_t content_length,
                                  std::string_view extra_headers) {
  const std::size_t hn = start_response(status, content_type, content_length, extra_headers);
  if (hn == 0) co_return false;
  co_return !(co_await write_all(std::string_view(head_, hn)));
}

Task<bool> HttpConn::send_body(std::string_view bytes) {
  if (head_request() || bytes.empty()) co_return !write_failed_;
  co_return !(co_await write_all(bytes));
}

Task<void> HttpConn::answer_error(http::Error e) {
  ++sh_.stats.bad_requests;
  close_after_ = true;
  char body[96];
  auto res = fmt::format_to_n(body, sizeof body, "{{\"error\":\"{}\"}}\n", http::error_name(e));
  const std::size_t n = std::min(res.size, sizeof body);
  co_await respond(http::status_for(e), "application/json", std::string_view(body, n));
}

Task<void> HttpConn::discard_body() {
  for (;;) {
    BodyRead r = co_await read_body(head_, kHeadBytes);
    if (r.ec) {
      close_after_ = true;
      co_return;
    }
    if (r.end) co_return;
  }
}

Task<void> HttpConn::linger_close() {
  io_.end();  // TLS: close_notify; what the peer sends after it is drained as raw bytes
  std::error_code ec;
  sock_.shutdown(asio::socket_base::shutdown_send, ec);
  if (ec) co_return;
  // Answered, only draining: the first to be evicted at a full pool (stalled since forever).
  waiting_since(Clock::time_point{});
  const Clock::time_point until = Clock::now() + sh_.opts.linger;
  for (;;) {
    const Clock::duration left = until - Clock::now();
    if (left <= Clock::duration::zero() || cancelled()) break;
    auto [e, n] = co_await timed_op(
        left, [&](auto h) { sock_.async_read_some(asio::buffer(rbuf_, kReadBytes), std::move(h)); },
        [&] {
          std::error_code ig;
          sock_.cancel(ig);
        });
    (void)n;
    if (e) break;  // EOF (the peer read the answer and closed), timeout, reset, shutdown, eviction
  }
  busy();
}

Task<void> HttpConn::run() {
  std::error_code ig;
  sock_.set_option(asio::ip::tcp::no_delay(true), ig);
  bool linger = false;
  while (!sh_.stopping && !cancelled()) {
    parser_.reset();
    close_after_ = responded_ = continue_sent_ = false;
    // Idle until the head's first byte: then the head has header_timeout, the whole request
    // `timeout`, both from that byte (a pipelined head's first byte is already here).
    const Clock::time_point idle_since = Clock::now();
    deadline_ = idle_since + sh_.opts.timeout;
    phase_ = Phase::idle;
    http::Result res = http::Result::need_more;
    bool quit = false;
    for (;;) {
      if (rpos_ < rlen_) {
        if (phase_ == Phase::idle) {
          const Clock::time_point first = Clock::now();
          deadline_ = first + sh_.opts.timeout;
          head_deadline_ = std::min(deadline_, first + sh_.opts.header_timeout);
          phase_ = Phase::request;
          waiting_since(first);
        }
        std::size_t used = 0;
        res = parser_.feed(std::string_view(rbuf_ + rpos_, rlen_ - rpos_), used);
        rpos_ += used;
        if (res != http::Result::need_more) break;
      } else if (phase_ == Phase::idle) {
        waiting_since(idle_since);
      }
      const bool was_idle = phase_ == Phase::idle;
      std::error_code ec = co_await fill(was_idle ? deadline_ : head_deadline_);
      if (ec == asio::error::eof) {
        res = parser_.finish_eof();
        break;
      }
      if (ec) {
        quit = true;
        if (ec == errc::timeout) {
          if (was_idle) {
            ++sh_.stats.idle_closes;
            sh_.stats.closes.count(CloseReason::idle);
          } else {
            ++sh_.stats.read_timeouts;
            sh_.stats.closes.count(CloseReason::header_timeout);
            busy();
            close_after_ = true;
            co_await respond(408, "application/json", "{\"error\":\"request_timeout\"}\n");
            linger = true;
          }
        }
        break;
      }
    }
    busy();  // the request is handled and answered: not evictable until the next one
    if (quit) break;
    if (res == http::Result::error) {
      const http::Error e = parser_.error();
      if (e == http::Error::eof_before_message || e == http::Error::unexpected_eof) break;  // the peer left
      co_await answer_error(e);
      linger = true;
      break;
    }
    ++sh_.stats.requests;
    phase_ = Phase::request;
    co_await handle();
    if (!responded_) {
      close_after_ = true;
      co_await respond(500, "application/json", "{\"error\":\"no_response\"}\n");
    }
    if (write_failed_) break;
    if (close_after_) {
      linger = true;
      break;
    }
    if (!parser_.is_done()) {
      co_await discard_body();
      if (close_after_ || write_failed_) break;
    }
  }
  phase_ = Phase::done;
  busy();
  if (linger && !write_failed_) co_await linger_close();
  io_.end();
  sock_.shutdown(asio::socket_base::shutdown_both, ig);
}

}  // namespace bh
