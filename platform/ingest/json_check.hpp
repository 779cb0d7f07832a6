// JsonCheck: full validation that a line is exactly one JSON object (UTF-8, depth-limited), with
// simdjson's DOM parser allocated once at start-up and reused: checking allocates nothing after.
// `parse_object` lends the parsed document until the next call (filters and pointers read it); it
// is not a document store.
#pragma once
#include <simdjson.h>

#include <cstddef>
#include <string>
#include <string_view>

namespace bh {

class JsonCheck {
 public:
  // simdjson reads up to this many bytes past the end of a line: callers keep them readable.
  static constexpr std::size_t kPadding = simdjson::SIMDJSON_PADDING;

  // Sizes the parser for documents up to max_bytes and nesting up to max_depth (start-up only).
  bool init(std::size_t max_bytes, std::size_t max_depth = 64) {
    if (parser_.allocate(max_bytes, max_depth) != simdjson::SUCCESS) return false;
    // The document tape is allocated lazily, sized by the first parse: parse one max-size object
    // now so that no later parse allocates.
    std::string warm(max_bytes + kPadding, ' ');
    warm[0] = '{';
    warm[max_bytes - 1] = '}';
    auto doc = parser_.parse(warm.data(), max_bytes, false);
    return !doc.error() && doc.value_unsafe().is_object();
  }
  // True if `line` is one valid JSON object. `line` must have kPadding readable bytes after it.
  bool is_object(std::string_view line) noexcept {
    simdjson::dom::element root;
    return parse_object(line, root);
  }
  // The same check, and `root` set to the parsed object: valid until the next call on this
  // JsonCheck (the parser's tape is reused). `line` must have kPadding readable bytes after it.
  bool parse_object(std::string_view line, simdjson::dom::element& root) noexcept {
    // Anything but an object is refused before simdjson sees it: simdjson copies a document that
    // is a bare scalar (`3`, `-1.5e3`) into a freshly allocated buffer, which the sealed runtime
    // must never do. JSON whitespace is space, tab, CR and LF.
    const std::size_t first = line.find_first_not_of(" \t\r\n");
    if (first == std::string_view::npos || line[first] != '{') return false;
    if (parser_.parse(line.data(), line.size(), false).get(root) != simdjson::SUCCESS) return false;
    return root.is_object();
  }

 private:
  simdjson::dom::parser parser_;
};

}  // namespace bh
