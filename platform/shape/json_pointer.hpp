// JsonPointer: an RFC 6901 JSON Pointer ("/result/0/to", "~0" for '~', "~1" for '/') compiled at
// start-up into fixed storage inside the object, then looked up in parsed simdjson DOM documents
// with no allocation. It is not a JSON Patch or a relative pointer, and it never changes a document.
//
// RFC text and its meaning: "" is the whole document; "/a" the member "a"; "/a/0" element 0 of
// the array "a" (decimal index, no leading zeros; "-" names no element, so it is never found);
// a bare "/" is the member whose key is "" (per RFC). Our config uses ["/"] in `dedupe_key` to
// mean "the whole event": the dedupe code special-cases that list before compiling, not this class.
#pragma once
#include <simdjson.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace bh {

class JsonPointer {
 public:
  static constexpr std::size_t kMaxBytes = 256;  // unescaped token bytes, all tokens together
  static constexpr std::size_t kMaxTokens = 16;  // reference tokens ("/a/b/0" has 3)

  // An empty pointer (""), which finds the whole document.
  JsonPointer() noexcept = default;

  // Compiles RFC 6901 text into `out` (start-up only). Returns false and sets `error` to a message
  // naming the problem ("a JSON Pointer must start with '/'", "'~' must be followed by 0 or 1",
  // "more than 16 tokens", "more than 256 bytes of tokens") when the text is not a pointer we can
  // hold; `out` is then left empty.
  // Example: JsonPointer p; std::string e; if (!JsonPointer::compile("/result/0", p, e)) fail(e);
  static bool compile(std::string_view text, JsonPointer& out, std::string& error);

  // Finds the value the pointer names in `root`: walks objects by key (exact, unescaped bytes) and
  // arrays by decimal index. Returns false when a step is missing or the value there is neither an
  // object nor an array. Allocates nothing.
  bool find(simdjson::dom::element root, simdjson::dom::element& out) const noexcept;

  // The reference tokens, unescaped ("/a~1b/0" -> "a/b", "0").
  std::size_t size() const noexcept { return count_; }
  bool empty() const noexcept { return count_ == 0; }
  std::string_view token(std::size_t i) const noexcept {
    return {bytes_ + (i == 0 ? 0 : ends_[i - 1]), static_cast<std::size_t>(ends_[i] - (i == 0 ? 0 : ends_[i - 1]))};
  }
  // Same tokens (unused storage is always zero, so the whole object compares).
  friend bool operator==(const JsonPointer&, const JsonPointer&) = default;
  // The pointer written back as RFC 6901 text (start-up and error messages only).
  std::string text() const;

 private:
  static constexpr std::uint32_t kNoIndex = 0xffffffffu;

  char bytes_[kMaxBytes] = {};
  std::uint16_t ends_[kMaxTokens] = {};      // token i is bytes_[ends_[i-1], ends_[i])
  std::uint32_t index_[kMaxTokens] = {};     // the token as an array index, or kNoIndex
  std::uint8_t count_ = 0;
};

}  // namespace bh
