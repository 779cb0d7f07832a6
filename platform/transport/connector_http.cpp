// HTTP request write and response feed loop over a Connector.
#include "platform/transport/connector_http.hpp"

#include <asio/error.hpp>


namespace bh {

Task<std::error_code> http_write_request(ConnectorBase& net, Link& link, std::span<char> head, const HttpRequest& r,
                                         Clock::duration timeout) {
  const std::size_t hn = http::format_request_head(head, r.method, r.authority, r.target, r.content_type,
                                                   r.content_length, r.extra_headers);
  if (hn == 0) co_return make_error_code(errc::too_large);
  co_return co_await net.write_all(link, std::string_view(head.data(), hn), r.body, timeout);
}

bool HttpResponseReader::step(Event& ev) noexcept {
  // Feed until the parser needs more bytes: after headers_done or a body chunk it is called again
  // even with nothing left, so a message ending exactly here is reported done.
  for (;;) {
    std::size_t used = 0;
    const http::Result r = parser_.feed(std::string_view(buf_.data() + off_, len_ - off_), used);
    off_ += used;
    switch (r) {
      case http::Result::need_more: need_read_ = true; return false;
      case http::Result::headers_done:
        if (parser_.status() < 200) continue;  // interim: skipped at done (101: refused there)
        ev = Event{Kind::headers};
        return true;
      case http::Result::body: ev = Event{Kind::body}; return true;
      case http::Result::done: {
        const http::Interim k = http::skip_interim(parser_, interim_);
        if (k == http::Interim::skipped) continue;  // the final response follows, here or in a later read
        ev = Event{k == http::Interim::final ? Kind::done : Kind::bad_response, {}, k};
        return true;
      }
      case http::Result::error: ev = Event{Kind::bad_response}; return true;
    }
  }
}

Task<HttpResponseReader::Event> HttpResponseReader::next() {
  Event ev{Kind::done};
  for (;;) {
    if (!need_read_ && step(ev)) co_return ev;
    // Each read within read_timeout, and never past the whole response's deadline.
    const Clock::duration left = deadline_ - Clock::now();
    if (left <= Clock::duration::zero()) {
      response_timed_out_ = true;
      net_.deadlines().timed_out(TimedOp::response);
      co_return Event{Kind::read_error, make_error_code(errc::timeout)};
    }
    const bool clipped = left < timeout_;
    auto [ec, n] = co_await net_.read_some(link_, buf_, clipped ? left : timeout_,
                                           clipped ? TimedOp::response : TimedOp::read);
    if (ec == errc::timeout && clipped) response_timed_out_ = true;
    if (ec == asio::error::eof && parser_.finish_eof() == http::Result::done) {  // the body ran until EOF
      off_ = len_ = 0;
      co_return Event{Kind::done};
    }
    if (ec) co_return Event{Kind::read_error, ec};
    got_any_ = true;
    need_read_ = false;
    off_ = 0;
    len_ = n;
  }
}

}  // namespace bh
