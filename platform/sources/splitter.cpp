// Splitter: the three cutting modes.
#include "platform/sources/splitter.hpp"

#include <cstring>

namespace bh {
namespace {
constexpr bool is_ws(char c) noexcept { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

// ics: a VEVENT the cutter completed goes on as an item (or is reported too large).
void take_ics(IcsCutter::Step st, const IcsCutter& ics, Splitter::Sink& out) noexcept {
  if (st.kind == IcsCutter::Kind::event) out.item(ics.event());
  if (st.kind == IcsCutter::Kind::too_large) out.too_large(st.bytes);
}
}  // namespace

void Splitter::reset() noexcept {
  len_ = 0;
  st_ = A::before;
  depth_ = 0;
  in_str_ = esc_ = any_item_ = false;
  ics_.reset();
}

void Splitter::emit(Sink& out) noexcept {
  if (len_ > buf_.size()) {
    out.too_large(len_);
  } else {
    std::size_t n = static_cast<std::size_t>(len_);
    while (n > 0 && is_ws(buf_[n - 1])) --n;
    std::size_t b = 0;
    while (b < n && is_ws(buf_[b])) ++b;
    if (n > b) out.item(std::string_view(buf_.data() + b, n - b));
  }
  len_ = 0;
}

void Splitter::feed(std::string_view bytes, Sink& out) noexcept {
  switch (mode_) {
    case SplitMode::whole: {
      // Copy what fits; count the rest (the item is then too large).
      if (len_ < buf_.size()) {
        std::size_t k = std::min<std::size_t>(bytes.size(), buf_.size() - static_cast<std::size_t>(len_));
        std::memcpy(buf_.data() + len_, bytes.data(), k);
      }
      len_ += bytes.size();
      return;
    }
    case SplitMode::ndjson: {
      while (!bytes.empty()) {
        const void* nl = std::memchr(bytes.data(), '\n', bytes.size());
        std::size_t k = nl ? static_cast<std::size_t>(static_cast<const char*>(nl) - bytes.data()) : bytes.size();
        if (len_ < buf_.size()) {
          std::size_t c = std::min<std::size_t>(k, buf_.size() - static_cast<std::size_t>(len_));
          std::memcpy(buf_.data() + len_, bytes.data(), c);
        }
        len_ += k;
        if (!nl) return;
        emit(out);  // a blank line (or one of whitespace) trims to nothing: no item
        bytes.remove_prefix(k + 1);
      }
      return;
    }
    case SplitMode::json_array: feed_array(bytes, out); return;
    case SplitMode::ics:
      while (!bytes.empty()) {
        const IcsCutter::Step st = ics_.feed(bytes);
        bytes.remove_prefix(st.consumed);
        take_ics(st, ics_, out);
      }
      return;
  }
}

void Splitter::feed_array(std::string_view bytes, Sink& out) noexcept {
  for (char c : bytes) {
    switch (st_) {
      case A::before:
        if (is_ws(c)) continue;
        if (c == '[') {
          st_ = A::expect_item;
          continue;
        }
        st_ = A::bad;
        out.malformed("the body is not a JSON array");
        return;
      case A::expect_item:
        if (is_ws(c)) continue;
        if (c == ']') {
          st_ = A::done;
          continue;
        }
        st_ = A::in_item;
        depth_ = 0;
        in_str_ = esc_ = false;
        [[fallthrough]];
      case A::in_item:
        if (in_str_) {
          if (esc_) {
            esc_ = false;
          } else if (c == '\\') {
            esc_ = true;
          } else if (c == '"') {
            in_str_ = false;
          }
          put(c);
          continue;
        }
        if (depth_ == 0 && (c == ',' || c == ']')) {
          any_item_ = true;
          emit(out);
          st_ = c == ',' ? A::expect_item : A::done;
          continue;
        }
        if (c == '"') {
          in_str_ = true;
        } else if (c == '{' || c == '[') {
          ++depth_;
        } else if ((c == '}' || c == ']') && depth_ > 0) {
          --depth_;
        }
        put(c);
        continue;
      case A::done:
        if (is_ws(c)) continue;
        st_ = A::bad;
        out.malformed("bytes after the end of the JSON array");
        return;
      case A::bad: return;
    }
  }
}

void Splitter::finish(Sink& out) noexcept {
  switch (mode_) {
    case SplitMode::whole:
      if (len_ > buf_.size()) {
        out.too_large(len_);
      } else {
        out.item(std::string_view(buf_.data(), static_cast<std::size_t>(len_)));
      }
      len_ = 0;
      return;
    case SplitMode::ndjson:
      if (len_ > 0) emit(out);
      return;
    case SplitMode::json_array:
      if (st_ != A::done && st_ != A::bad) {
        const bool empty = st_ == A::before;
        st_ = A::bad;
        out.malformed(empty ? "the body is empty, not a JSON array" : "the JSON array is not terminated");
      }
      len_ = 0;
      return;
    case SplitMode::ics:
      take_ics(ics_.finish(), ics_, out);
      if (const char* why = ics_.problem()) out.malformed(why);
      return;
  }
}

}  // namespace bh
