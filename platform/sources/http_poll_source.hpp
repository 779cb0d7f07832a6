// HttpPollSource (`[[source]] type = "http_poll"`): GETs its URL every `interval` on a fresh
// connection (closed after each poll, so the slot goes back between polls), with conditional
// requests (If-None-Match from the last ETag, If-Modified-Since from the last Last-Modified): a
// 304, the same ETag again, or (without split) the same body again makes no event. A 2xx body is
// cut into events as it arrives (platform/sources/splitter.hpp) and never held whole; the body is
// capped at max_response_bytes (over it: counted, logged, the poll fails). Other statuses,
// timeouts and connection errors fail the poll: breaker and backoff. With `select` the items are
// the elements of the array at that JSON Pointer; a response where the pointer holds no array or
// object, or nothing (an API's error answer with status 200), fails the poll too: counted
// (select_failures), logged once per episode, breaker and backoff, and no event from it. The
// target's type is known at its first byte, before any of its items is cut, so a failed poll has
// queued nothing (events of a response are committed as they stream: a failure found only after
// items were cut could not take them back, which is why select decides first).
// Reactor thread only.
#pragma once
#include "platform/sources/source.hpp"

namespace bh {

class HttpPollSource final : public Source, private Splitter::Sink {
 public:
  using Source::Source;

 private:
  Task<Outcome> session(SourceConn& c) override;
  void item(std::string_view bytes) noexcept override;
  void too_large(std::uint64_t bytes) noexcept override;
  void malformed(const char* why) noexcept override;
  void select_failed(const char* why) noexcept override;

  std::string_view content_type_;  // of the response being cut (a view into the parser)
  bool select_failed_ = false;     // this response: select found no array or object
  // Validators of the last response whose body was taken (cut to the parser's field capacity).
  char etag_[http::kFieldCapacity[static_cast<std::size_t>(http::Field::etag)]] = {};
  std::size_t etag_len_ = 0;
  char last_modified_[http::kFieldCapacity[static_cast<std::size_t>(http::Field::last_modified)]] = {};
  std::size_t last_modified_len_ = 0;
};

}  // namespace bh
