// HttpPollSource: one GET per session, conditional headers, the body cut as it arrives.
#include "platform/sources/http_poll_source.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "platform/transport/connector_http.hpp"
#include "platform/util/log.hpp"

namespace bh {

Task<Source::Outcome> HttpPollSource::session(SourceConn& c) {
  ++stats_.polls;
  char extra[300];
  std::size_t xn = 0;
  if (etag_len_ > 0)
    xn += fmt::format_to_n(extra + xn, sizeof extra - xn, "If-None-Match: {}\r\n", std::string_view(etag_, etag_len_)).size;
  if (last_modified_len_ > 0 && xn < sizeof extra)
    xn += fmt::format_to_n(extra + xn, sizeof extra - xn, "If-Modified-Since: {}\r\n",
                           std::string_view(last_modified_, last_modified_len_))
              .size;
  if (xn < sizeof extra) xn += fmt::format_to_n(extra + xn, sizeof extra - xn, "Accept: */*\r\n").size;
  const HttpRequest req{"GET", url_.authority, url_.target, "", std::nullopt,
                        std::string_view(extra, std::min(xn, sizeof extra)), {}};
  std::error_code wec = xn <= sizeof extra ? co_await http_write_request(net_, c.link, c.head, req, opts_.read_timeout)
                                           : make_error_code(errc::too_large);
  if (wec == errc::too_large) {
    ++stats_.protocol_errors;
    record_error("request head does not fit");
    co_return Outcome::failed;
  }
  if (wec) {
    note_io_failure("write", wec);
    co_return Outcome::failed;
  }

  Splitter split(opts_.split, std::span<char>(c.event, opts_.max_event_bytes), &select_);
  select_failed_ = false;
  bool take = false;  // the body is cut into events (2xx, not unchanged)
  HttpResponseReader rd(net_, c.link, c.parser, c.rbuf, opts_.read_timeout,
                        opts_.response_timeout);  // 1xx answers skipped
  for (bool finished = false; !finished;) {
    const HttpResponseReader::Event ev = co_await rd.next();
    if (halted()) co_return Outcome::failed;
    switch (ev.kind) {
      case HttpResponseReader::Kind::headers: {
        const int st = c.parser.status();
        stats_.last_status = st;
        if (st >= 200 && st < 300) {
          std::string_view et = c.parser.etag();
          if (!et.empty() && !c.parser.truncated(http::Field::etag) && et == std::string_view(etag_, etag_len_)) {
            take = false;  // the same entity again: the server ignored If-None-Match
          } else {
            take = true;
            content_type_ = c.parser.content_type();
            split.reset();
          }
        }
        break;
      }
      case HttpResponseReader::Kind::body:
        if (take) {
          co_await settle();  // the chunk stays in rbuf meanwhile
          split.feed(c.parser.body_chunk(), *this);
        }
        break;
      case HttpResponseReader::Kind::done: finished = true; break;
      case HttpResponseReader::Kind::read_error:
        if (ev.ec == asio::error::eof) {
          net_.note_io_failure(TimedOp::read, ev.ec);
          record_error("{} closed the connection mid-response", url_.authority);
        } else {
          note_io_failure(rd.response_timed_out() ? "response" : "read", ev.ec);
        }
        co_return Outcome::failed;
      case HttpResponseReader::Kind::bad_response:
        if (ev.interim == http::Interim::switching) {
          ++stats_.protocol_errors;
          record_error("bad HTTP response from {}: 101 Switching Protocols", url_.authority);
        } else if (ev.interim == http::Interim::too_many) {
          ++stats_.protocol_errors;
          record_error("bad HTTP response from {}: more than {} interim (1xx) responses", url_.authority,
                       http::kMaxInterimResponses);
        } else if (c.parser.error() == http::Error::body_too_large) {
          ++stats_.responses_too_large;
          record_error("response body over max_response_bytes {} ({}): {}", opts_.max_response_bytes,
                       c.parser.content_length() ? "declared" : "received",
                       opts_.split == SplitMode::whole ? "no event" : "events cut before the cap are kept");
        } else {
          ++stats_.protocol_errors;
          record_error("bad HTTP response from {}: {}", url_.authority, c.parser.error_name());
        }
        co_return Outcome::failed;
    }
  }

  const int st = c.parser.status();
  if (st == 304 || (st >= 200 && st < 300 && !take)) {
    ++stats_.not_modified;
    co_return Outcome::ok;
  }
  if (st < 200 || st >= 300) {
    ++stats_.http_errors;
    record_error("HTTP {} from {}", st, url_.authority);
    co_return Outcome::failed;
  }
  split.finish(*this);
  if (select_failed_) co_return Outcome::failed;  // breaker and backoff; the validators are not kept
  // The validators of the entity just taken go with the next request.
  std::string_view et = c.parser.etag();
  etag_len_ = c.parser.truncated(http::Field::etag) ? 0 : et.size();
  std::memcpy(etag_, et.data(), etag_len_);
  std::string_view lm = c.parser.last_modified();
  last_modified_len_ = c.parser.truncated(http::Field::last_modified) ? 0 : lm.size();
  std::memcpy(last_modified_, lm.data(), last_modified_len_);
  co_return Outcome::ok;
}

void HttpPollSource::item(std::string_view bytes) noexcept {
  deliver(bytes, content_type_, opts_.split != SplitMode::whole);
}

void HttpPollSource::too_large(std::uint64_t bytes) noexcept {
  ++stats_.too_large;
  (void)bytes;
  record_data_error("an event exceeds max_event_bytes {}: not stored (counted)", opts_.max_event_bytes);
}

void HttpPollSource::select_failed(const char* why) noexcept {
  ++stats_.select_failures;
  select_failed_ = true;
  // Once per distinct reason until the next good poll (repeats are counted, not logged).
  record_error("{} (select \"{}\", HTTP {} from {})", why, opts_.select, stats_.last_status, url_.authority);
}

void HttpPollSource::malformed(const char* why) noexcept {
  ++stats_.malformed;
  record_data_error("split = {}: {}", opts_.split == SplitMode::ics ? "ics" : "json_array", why);
}

}  // namespace bh
