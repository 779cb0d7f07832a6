// LineFramer: cuts NDJSON lines out of a byte buffer as they arrive (docs/wire.md §1). A line ends at
// '\n' (a preceding '\r' is dropped). A line longer than the limit is reported once as too_large
// and the rest of it is skipped up to its '\n', so the connection stays usable. It owns no
// buffer and never allocates; it is not a JSON parser.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace bh {

class LineFramer {
 public:
  enum class Kind : std::uint8_t { need_more, event, blank, too_large };
  struct Line {
    Kind kind = Kind::need_more;
    std::string_view text;  // the line without its terminator (event only)
  };

  explicit LineFramer(std::size_t max_line = 16384) noexcept : max_(max_line) {}
  bool skipping() const noexcept { return skipping_; }

  // Takes the next line from data, advancing `consumed` past what it used (the caller passes the
  // unconsumed tail each time). need_more: no complete line; everything before the partial line
  // is consumed (and while skipping, the partial line too). At end of stream pass eof = true to
  // take a final line that has no '\n'.
  Line next(std::string_view data, std::size_t& consumed, bool eof = false) noexcept {
    for (;;) {
      std::string_view rest = data.substr(consumed);
      if (rest.empty()) return {};
      std::size_t nl = rest.find('\n');
      if (skipping_) {
        if (nl == std::string_view::npos) {
          consumed = data.size();
          return {};
        }
        consumed += nl + 1;
        skipping_ = false;
        continue;
      }
      if (nl == std::string_view::npos) {
        // A partial line: too long already (allowing for a '\r' still to come)?
        if (rest.size() > max_ + 1) {
          consumed = data.size();
          skipping_ = !eof;
          return {Kind::too_large, {}};
        }
        if (!eof) return {};
        consumed = data.size();
        return classify(rest);
      }
      consumed += nl + 1;
      return classify(rest.substr(0, nl));
    }
  }

 private:
  Line classify(std::string_view line) const noexcept {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) return {Kind::blank, {}};
    if (line.size() > max_) return {Kind::too_large, {}};
    return {Kind::event, line};
  }

  std::size_t max_;
  bool skipping_ = false;
};

}  // namespace bh
