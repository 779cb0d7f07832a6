// Splitter: cuts a response body into events as its bytes arrive, so a long feed never needs a
// buffer the size of the body. Modes: `whole` (the body is one event), `ndjson` (one event per
// line; `\n` or `\r\n`, blank lines skipped, a last line without newline taken), `json_array`
// (one event per element of a top-level JSON array, found by a byte scanner that tracks strings,
// escapes and nesting; the element bytes are passed on verbatim, whitespace around them trimmed),
// `ics` (one JSON object per VEVENT of an iCalendar body, platform/sources/ics.hpp).
// With a `select` path (json_array only) the array is not the body itself but the value found at
// a JSON Pointer inside it (`/result`): the scanner follows the pointer's keys and indices while
// the bytes stream, skipping every other value, and cuts the elements of the array there (or takes
// the object there as one item). The target's type is known at its first byte, so a pointer that
// holds anything else, or is absent, is reported (select_failed) before any item of the body.
// Items are assembled in a caller buffer of fixed size: a longer item is skipped to its end and
// reported as too large. It does not validate JSON (the source does, per item). No allocation.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "platform/shape/json_pointer.hpp"
#include "platform/sources/ics.hpp"

namespace bh {

enum class SplitMode : std::uint8_t { whole, ndjson, json_array, ics };

// The most `decode` pointers a source takes (the decoder finds each string with a PathCursor over
// the item's bytes).
inline constexpr std::size_t kMaxDecodePointers = 4;

// Streaming navigation to the value a JsonPointer (platform/shape/json_pointer.hpp) names: fed a JSON text byte by byte, it answers
// `found` at the first byte of the target value, `absent` when the text shows it is not there (a
// key missing from an object on the path, an index past an array's end, a scalar on the path), and
// `bad` on bytes that are not JSON where it looks. Values off the path are skipped unparsed (only
// strings and nesting are tracked). Keys are compared unescaped (\uXXXX included).
class PathCursor {
 public:
  enum class Step : std::uint8_t { more, found, absent, bad };
  explicit PathCursor(const JsonPointer& path) noexcept;
  static constexpr std::size_t kMaxKey = JsonPointer::kMaxBytes;  // longer keys match no token
  void reset() noexcept;
  Step feed(char c) noexcept;

 private:
  enum class S : std::uint8_t { value, obj_first, obj_key_start, key, key_esc, key_u, colon, obj_next, arr_first, arr_next, skip, done };
  Step enter_element(char c) noexcept;
  Step start_skip(char c, S after) noexcept;
  Step after_skip(char c) noexcept;
  void key_put(char c) noexcept {
    if (key_len_ < kMaxKey) key_[key_len_] = c;
    ++key_len_;
  }
  void key_put_code(std::uint32_t cp) noexcept;
  void flush_hi() noexcept {
    if (hi_ != 0) {
      hi_ = 0;
      key_put_code(0xFFFD);  // a lone high surrogate
    }
  }

  const JsonPointer* path_;
  std::int64_t index_[JsonPointer::kMaxTokens];  // each token as an array index, or -1
  S st_ = S::value;
  S skip_then_ = S::value;
  std::size_t level_ = 0;      // tokens matched so far
  std::int64_t idx_ = 0;       // element index in the array on the path
  std::uint32_t depth_ = 0;    // skip: nesting
  bool str_ = false, esc_ = false, scalar_ = false, pending_ = false;
  std::uint32_t u_ = 0, hi_ = 0;  // \uXXXX being read, a pending high surrogate
  std::uint8_t u_n_ = 0;
  std::size_t key_len_ = 0;
  char key_[kMaxKey];
};

class Splitter {
 public:
  class Sink {
   public:
    virtual void item(std::string_view bytes) noexcept = 0;
    virtual void too_large(std::uint64_t bytes) noexcept = 0;
    // json_array: the body is not a JSON array (or has bytes after it). Reported once; the rest
    // of the body is ignored. ics: at the end, the body is no calendar or ends inside a VEVENT.
    virtual void malformed(const char* why) noexcept = 0;
    // json_array with a select path: the value there is not an array or object, or is absent.
    // Reported once, before any item; the rest of the body is ignored.
    virtual void select_failed(const char* why) noexcept { malformed(why); }

   protected:
    ~Sink() = default;
  };

  // `select` (json_array only, may be null) must outlive the splitter.
  Splitter(SplitMode mode, std::span<char> buf, const JsonPointer* select = nullptr) noexcept
      : mode_(mode), buf_(buf), cursor_(select && select->size() > 0 ? *select : kRoot), select_(select && select->size() > 0),
        ics_(buf) {
    if (select_) st_ = A::seek;
  }
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
  // Select: returns false when the rest of `bytes` is not for the array scanner.
  bool feed_select(std::string_view& bytes, Sink& out) noexcept;
  static const JsonPointer kRoot;

  SplitMode mode_;
  std::span<char> buf_;
  std::uint64_t len_ = 0;  // bytes of the current item (may exceed the buffer: then it is too large)
  // json_array scanner.
  enum class A : std::uint8_t { before, expect_item, in_item, done, bad, object, seek };
  A st_ = A::before;
  std::uint32_t depth_ = 0;  // nesting inside the current item
  bool in_str_ = false;
  bool esc_ = false;
  bool any_item_ = false;
  PathCursor cursor_;  // select: finds the target while A::seek
  bool select_;
  IcsCutter ics_;
};

}  // namespace bh
