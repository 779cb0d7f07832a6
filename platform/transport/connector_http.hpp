// HTTP/1.1 client exchanges over a Connector: what sinks (POST) and the http_poll source (GET)
// share. http_write_request formats a request head into the slot's buffer and writes it and the
// body under one write deadline; HttpResponseReader reads one response as a stream of events
// (final headers, body chunks, done) with one deadline per read and one for the whole response
// (a server trickling its answer a byte at a time is cut off), skipping interim 1xx answers
// (RFC 9110 §15.2, http::skip_interim). Not a client: no connection handling, no retries, no view
// on what a status means; the caller decides all that. No heap. Reactor thread only.
#pragma once
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <system_error>

#include "platform/net/http.hpp"
#include "platform/transport/connector.hpp"

namespace bh {

struct HttpRequest {
  std::string_view method;
  std::string_view authority;  // the Host field
  std::string_view target;
  std::string_view content_type;                // "" = none
  std::optional<std::uint64_t> content_length;  // nullopt = none (no body)
  std::string_view extra_headers;               // complete "Name: value\r\n" lines
  std::string_view body;
};

// Parses the URL of a sink's or source's options into `url` and fills the connector target from
// it (host, port, authority, TLS by scheme) and from the options' ca_file, client_cert,
// client_key, tls_verify, connect_timeout and dns_ttl; the caller adds the rest. The views in
// `url` and `t` point into `o.url`. Errors: false when the URL does not parse (http::parse_url).
template <typename Options>
bool http_target(const Options& o, http::Url& url, ConnectorTarget& t) {
  if (!http::parse_url(o.url, url)) return false;
  t.host = url.host;
  t.port = url.port;
  t.authority = url.authority;
  t.url = o.url;
  t.secure = url.secure();
  t.tls = TlsOptions{o.ca_file, o.client_cert, o.client_key, o.tls_verify};
  t.connect_timeout = o.connect_timeout;
  t.dns.ttl = o.dns_ttl;
  return true;
}

// Formats `r`'s head into `head` and writes head and body within `timeout`.
// Errors: errc::too_large (the head does not fit `head`: nothing written), and the write's
// (ConnectorBase::write_all: errc::timeout, errc::cancelled, socket and TLS errors).
Task<std::error_code> http_write_request(ConnectorBase& net, Link& link, std::span<char> head, const HttpRequest& r,
                                         Clock::duration timeout);

// Reads one response on `link` into `parser` (reset here), through `buf`.
// Example:
//   HttpResponseReader rd(net, c.link, c.parser, c.rbuf, read_timeout, response_timeout);
//   for (;;) { auto ev = co_await rd.next();
//     if (ev.kind == Kind::body) use(c.parser.body_chunk()); else if (ev.kind == Kind::done) break; ... }
// Notes: a body chunk lies in `buf` and stays valid until the next call to next().
class HttpResponseReader {
 public:
  enum class Kind : std::uint8_t {
    headers,       // the final response's head is parsed (status >= 200)
    body,          // parser.body_chunk() holds the next piece of the body
    done,          // the response is complete (leftover(): bytes after it in the last read)
    read_error,    // ec: eof before the response was complete, errc::timeout (a read, or the
                   // whole response: response_timed_out()), errc::cancelled, I/O
    bad_response,  // the parser failed (parser.error()), or interim is too_many / switching
  };
  struct Event {
    Kind kind;
    std::error_code ec{};
    http::Interim interim = http::Interim::final;
  };

  // The whole response is due within `response_timeout` from now (counted as TimedOp::response);
  // each read within `read_timeout`.
  HttpResponseReader(ConnectorBase& net, Link& link, http::ResponseParser& parser, std::span<char> buf,
                     Clock::duration read_timeout, Clock::duration response_timeout) noexcept
      : net_(net), link_(link), parser_(parser), buf_(buf), timeout_(read_timeout),
        deadline_(Clock::now() + response_timeout) {
    parser_.reset();
    net_.deadlines().started(TimedOp::response);
  }
  // The next event; after done, read_error or bad_response, do not call again.
  Task<Event> next();
  // Any byte of the response was read (a kept-alive connection that fails before is stale).
  bool got_any() const noexcept { return got_any_; }
  std::size_t leftover() const noexcept { return len_ - off_; }
  // The read_error was the whole response's deadline passing (not one read's).
  bool response_timed_out() const noexcept { return response_timed_out_; }

 private:
  // Feeds what is buffered until an event or the need for more bytes (then returns false).
  bool step(Event& ev) noexcept;

  ConnectorBase& net_;
  Link& link_;
  http::ResponseParser& parser_;
  std::span<char> buf_;
  Clock::duration timeout_;
  Clock::time_point deadline_;  // the whole response's
  std::size_t off_ = 0;
  std::size_t len_ = 0;
  unsigned interim_ = 0;  // 1xx responses skipped for this request
  bool got_any_ = false;
  bool need_read_ = true;
  bool response_timed_out_ = false;
};

}  // namespace bh
