// HttpPollSource: one GET per session, conditional headers, the body cut as it arrives.
#include "platform/sources/http_poll_source.hpp"

#include <fmt/format.h>

#include <cstring>

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
  std::size_t hn = xn <= sizeof extra ? http::format_request_head(c.head, "GET", url_.authority, url_.target, "",
                                                                  std::nullopt, std::string_view(extra, xn))
                                      : 0;
  if (hn == 0) {
    ++stats_.protocol_errors;
    record_error("request head does not fit");
    co_return Outcome::failed;
  }
  if (auto ec = co_await write_all(c, std::string_view(c.head, hn), opts_.read_timeout)) {
    note_io_failure("write", ec);
    co_return Outcome::failed;
  }

  c.parser.reset();
  Splitter split(opts_.split, std::span<char>(c.event, opts_.max_event_bytes));
  bool take = false;  // the body is cut into events (2xx, not unchanged)
  bool finished = false;
  unsigned interim = 0;  // 1xx responses skipped (RFC 9110 §15.2)
  while (!finished) {
    auto [rec, rn] = co_await read_some(c, std::span<char>(c.rbuf), opts_.read_timeout);
    if (halted()) co_return Outcome::failed;
    if (rec == asio::error::eof) {
      if (c.parser.finish_eof() == http::Result::done) break;
      ++stats_.io_errors;
      record_error("{} closed the connection mid-response", url_.authority);
      co_return Outcome::failed;
    }
    if (rec) {
      note_io_failure("read", rec);
      co_return Outcome::failed;
    }
    std::size_t off = 0;
    for (;;) {
      std::size_t used = 0;
      http::Result r = c.parser.feed(std::string_view(c.rbuf + off, rn - off), used);
      off += used;
      if (r == http::Result::need_more) break;
      if (r == http::Result::headers_done) {
        const int st = c.parser.status();
        if (st < 200) continue;  // interim (skipped at done) or 101 (refused at done)
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
        continue;
      }
      if (r == http::Result::body) {
        if (take) {
          co_await settle();  // the chunk stays in rbuf meanwhile
          split.feed(c.parser.body_chunk(), *this);
        }
        continue;
      }
      if (r == http::Result::done) {
        const http::Interim k = http::skip_interim(c.parser, interim);
        if (k == http::Interim::skipped) continue;  // the final response follows on this connection
        if (k != http::Interim::final) {
          ++stats_.protocol_errors;
          if (k == http::Interim::switching)
            record_error("bad HTTP response from {}: 101 Switching Protocols", url_.authority);
          else
            record_error("bad HTTP response from {}: more than {} interim (1xx) responses", url_.authority,
                         http::kMaxInterimResponses);
          co_return Outcome::failed;
        }
        finished = true;
        break;
      }
      // error
      if (c.parser.error() == http::Error::body_too_large) {
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

void HttpPollSource::malformed(const char* why) noexcept {
  ++stats_.malformed;
  record_data_error("split = json_array: {}", why);
}

}  // namespace bh
