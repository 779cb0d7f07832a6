// HttpPollSource (`[[source]] type = "http_poll"`): GETs its URL every `interval` on a fresh
// connection (closed after each poll, so the slot goes back between polls), with conditional
// requests (If-None-Match from the last ETag, If-Modified-Since from the last Last-Modified): a
// 304, the same ETag again, or (without split) the same body again makes no event. A 2xx body is
// cut into events as it arrives (platform/sources/splitter.hpp) and never held whole; the body is
// capped at max_response_bytes (over it: counted, logged, the poll fails). Other statuses,
// timeouts and connection errors fail the poll: breaker and backoff. Reactor thread only.
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

  std::string_view content_type_;  // of the response being cut (a view into the parser)
  // Validators of the last response whose body was taken (cut to the parser's field capacity).
  char etag_[http::kFieldCapacity[static_cast<std::size_t>(http::Field::etag)]] = {};
  std::size_t etag_len_ = 0;
  char last_modified_[http::kFieldCapacity[static_cast<std::size_t>(http::Field::last_modified)]] = {};
  std::size_t last_modified_len_ = 0;
};

}  // namespace bh
