// RequestHeaders: a sink's configured request header lines ("Authorization: Bot abc",
// "X-Api-Key: ..."), checked and packed at start-up into one fixed buffer of "Name: value\r\n"
// lines that every request carries as is. Not a header parser or a map: no lookups besides
// "is there a Content-Type", no folding, no duplicates merged. Values may be secrets: nothing here
// (errors included) ever repeats a value, only the header's position and name.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace bh {

class RequestHeaders {
 public:
  static constexpr std::size_t kMaxHeaders = 16;
  static constexpr std::size_t kMaxLineBytes = 512;  // one "Name: value" as configured
  static constexpr std::size_t kMaxBytes = 1024;     // every line with its CRLF
  static constexpr std::size_t kMaxNameBytes = 64;

  // Why one configured line is not a header, or "" when it is one: a field name of token
  // characters (RFC 9110 §5.6.2, at most kMaxNameBytes), a colon, a value without CR, LF, NUL or
  // other control bytes (HTAB allowed), at most kMaxLineBytes in all. Names that the sink writes
  // itself (Host, Content-Length, Connection, Transfer-Encoding) are refused. Never echoes the value.
  static std::string_view line_problem(std::string_view line) noexcept;

  // Checks and packs `lines` (start-up). Errors: false with `error` naming the 0-based index of the
  // first bad line and why, too many lines, or more than kMaxBytes in all.
  bool assign(std::span<const std::string> lines, std::string& error);

  // The packed "Name: value\r\n" lines ("" when none).
  std::string_view lines() const noexcept { return {buf_, len_}; }
  std::size_t count() const noexcept { return count_; }
  // A Content-Type line is among them (the sink then sends no default one).
  bool has_content_type() const noexcept { return content_type_; }

 private:
  char buf_[kMaxBytes] = {};
  std::size_t len_ = 0;
  std::uint32_t count_ = 0;
  bool content_type_ = false;
};

}  // namespace bh
