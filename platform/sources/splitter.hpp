// Splitter: cuts a response body into events as its bytes arrive, so a long feed never needs a
// buffer the size of the body. Modes: `whole` (the body is one event), `ndjson` (one event per
// line; `\n` or `\r\n`, blank lines skipped, a last line without newline taken), `json_array`
// (one event per element of a top-level JSON array, found by a byte scanner that tracks strings,
// escapes and nesting; the element bytes are passed on verbatim, whitespace around them trimmed),
// `ics` (one JSON object per VEVENT of an iCalendar body, platform/sources/ics.hpp).
// Items are assembled in a caller buffer of fixed size: a longer item is skipped to its end and
// reported as too large. It does not validate JSON (the source does, per item). No allocation.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "platform/sources/ics.hpp"

namespace bh {

enum class SplitMode : std::uint8_t { whole, ndjson, json_array, ics };

class Splitter {
 public:
  class Sink {
   public:
    virtual void item(std::string_view bytes) noexcept = 0;
    virtual void too_large(std::uint64_t bytes) noexcept = 0;
    // json_array: the body is not a JSON array (or has bytes after it). Reported once; the rest
    // of the body is ignored. ics: at the end, the body is no calendar or ends inside a VEVENT.
    virtual void malformed(const char* why) noexcept = 0;

   protected:
    ~Sink() = default;
  };

  Splitter(SplitMode mode, std::span<char> buf) noexcept : mode_(mode), buf_(buf), ics_(buf) {}
  void reset() noexcept;
  void feed(std::string_view bytes, Sink& out) noexcept;
  // End of the body: the last item (whole, ndjson without a final newline) is delivered;
  // json_array: an unterminated array is malformed.
  void finish(Sink& out) noexcept;
  SplitMode mode() const noexcept { return mode_; }

 private:
  void put(char c) noexcept {
    if (len_ < buf_.size()) buf_[len_] = c;
    ++len_;
  }
  void emit(Sink& out) noexcept;
  void feed_array(std::string_view bytes, Sink& out) noexcept;

  SplitMode mode_;
  std::span<char> buf_;
  std::uint64_t len_ = 0;  // bytes of the current item (may exceed the buffer: then it is too large)
  // json_array scanner.
  enum class A : std::uint8_t { before, expect_item, in_item, done, bad };
  A st_ = A::before;
  std::uint32_t depth_ = 0;  // nesting inside the current item
  bool in_str_ = false;
  bool esc_ = false;
  bool any_item_ = false;
  IcsCutter ics_;
};

}  // namespace bh
