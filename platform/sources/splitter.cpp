// Splitter: the three cutting modes, and the select path's streaming navigation.
#include "platform/sources/splitter.hpp"

#include <cstring>

namespace bh {
namespace {
constexpr bool is_ws(char c) noexcept { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
// One byte inside a JSON string (escapes tracked in `esc`): false when it is the closing quote.
bool string_byte(char c, bool& esc) noexcept {
  if (esc) {
    esc = false;
    return true;
  }
  if (c == '\\') {
    esc = true;
    return true;
  }
  return c != '"';
}
int hex(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// ics: a VEVENT the cutter completed goes on as an item (or is reported too large).
void take_ics(IcsCutter::Step st, const IcsCutter& ics, Splitter::Sink& out) noexcept {
  if (st.kind == IcsCutter::Kind::event) out.item(ics.event());
  if (st.kind == IcsCutter::Kind::too_large) out.too_large(st.bytes);
}
}  // namespace

// ---- PathCursor ------------------------------------------------------------------------------

PathCursor::PathCursor(const JsonPointer& path) noexcept : path_(&path) {
  for (std::size_t i = 0; i < path.size(); ++i) {
    // RFC 6901 array index: "0", or digits without a leading zero.
    const std::string_view t = path.token(i);
    std::int64_t v = -1;
    if (!t.empty() && t.size() <= 18 && (t == "0" || t[0] != '0')) {
      v = 0;
      for (char c : t) v = (c >= '0' && c <= '9' && v >= 0) ? v * 10 + (c - '0') : -1;
    }
    index_[i] = v;
  }
}

void PathCursor::reset() noexcept {
  st_ = S::value;
  level_ = 0;
  idx_ = 0;
  depth_ = 0;
  str_ = esc_ = scalar_ = pending_ = false;
  u_ = hi_ = 0;
  u_n_ = 0;
  key_len_ = 0;
}

void PathCursor::key_put_code(std::uint32_t cp) noexcept {
  if (hi_ != 0) {
    if (cp >= 0xDC00 && cp <= 0xDFFF) {
      cp = 0x10000 + ((hi_ - 0xD800) << 10) + (cp - 0xDC00);
      hi_ = 0;
    } else {
      hi_ = 0;
      key_put_code(0xFFFD);  // a lone high surrogate
    }
  } else if (cp >= 0xD800 && cp <= 0xDBFF) {
    hi_ = cp;
    return;
  } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
    cp = 0xFFFD;  // a lone low surrogate
  }
  if (cp < 0x80) {
    key_put(static_cast<char>(cp));
  } else if (cp < 0x800) {
    key_put(static_cast<char>(0xC0 | (cp >> 6)));
    key_put(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    key_put(static_cast<char>(0xE0 | (cp >> 12)));
    key_put(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    key_put(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    key_put(static_cast<char>(0xF0 | (cp >> 18)));
    key_put(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    key_put(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    key_put(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

PathCursor::Step PathCursor::start_skip(char c, S after) noexcept {
  skip_then_ = after;
  depth_ = 0;
  str_ = esc_ = scalar_ = false;
  st_ = S::skip;
  if (c == '"') {
    str_ = true;
  } else if (c == '{' || c == '[') {
    depth_ = 1;
  } else if (c == ',' || c == '}' || c == ']' || c == ':') {
    return Step::bad;  // a value was expected
  } else {
    scalar_ = true;
  }
  return Step::more;
}

PathCursor::Step PathCursor::enter_element(char c) noexcept {
  if (idx_ == index_[level_]) {
    ++level_;
    st_ = S::value;
    return feed(c);
  }
  return start_skip(c, S::arr_next);
}

PathCursor::Step PathCursor::feed(char c) noexcept {
  switch (st_) {
    case S::value:
      if (is_ws(c)) return Step::more;
      if (level_ == path_->size()) {
        st_ = S::done;
        return Step::found;
      }
      if (c == '{') {
        st_ = S::obj_first;
        return Step::more;
      }
      if (c == '[') {
        st_ = S::arr_first;
        idx_ = 0;
        return Step::more;
      }
      if (c == '"' || c == '-' || (c >= '0' && c <= '9') || c == 't' || c == 'f' || c == 'n') return Step::absent;
      return Step::bad;
    case S::obj_first:
      if (is_ws(c)) return Step::more;
      if (c == '}') return Step::absent;
      [[fallthrough]];
    case S::obj_key_start:
      if (is_ws(c)) return Step::more;
      if (c != '"') return Step::bad;
      key_len_ = 0;
      hi_ = 0;
      st_ = S::key;
      return Step::more;
    case S::key:
      if (c != '\\') flush_hi();
      if (c == '\\') {
        st_ = S::key_esc;
      } else if (c == '"') {
        st_ = S::colon;
      } else {
        key_put(c);
      }
      return Step::more;
    case S::key_esc: {
      st_ = S::key;
      if (c == 'u') {
        st_ = S::key_u;
        u_ = 0;
        u_n_ = 0;
        return Step::more;
      }
      flush_hi();
      static constexpr std::string_view kFrom = "\"\\/bfnrt", kTo = "\"\\/\b\f\n\r\t";
      std::size_t k = kFrom.find(c);
      if (k == std::string_view::npos) return Step::bad;
      key_put(kTo[k]);
      return Step::more;
    }
    case S::key_u: {
      int h = hex(c);
      if (h < 0) return Step::bad;
      u_ = (u_ << 4) | static_cast<std::uint32_t>(h);
      if (++u_n_ == 4) {
        key_put_code(u_);
        st_ = S::key;
      }
      return Step::more;
    }
    case S::colon: {
      if (is_ws(c)) return Step::more;
      if (c != ':') return Step::bad;
      flush_hi();
      const std::string_view t = path_->token(level_);
      if (key_len_ == t.size() && std::memcmp(key_, t.data(), t.size()) == 0) {
        ++level_;
        st_ = S::value;
      } else {
        st_ = S::skip;  // the value to skip starts after any whitespace
        skip_then_ = S::obj_next;
        pending_ = true;
      }
      return Step::more;
    }
    case S::obj_next:
      if (is_ws(c)) return Step::more;
      if (c == ',') {
        st_ = S::obj_key_start;
        return Step::more;
      }
      return c == '}' ? Step::absent : Step::bad;
    case S::arr_first:
      if (is_ws(c)) return Step::more;
      if (c == ']') return Step::absent;
      return enter_element(c);
    case S::arr_next:
      if (is_ws(c)) return Step::more;
      if (c == ',') {
        ++idx_;
        st_ = S::arr_first;
        return Step::more;
      }
      return c == ']' ? Step::absent : Step::bad;
    case S::skip:
      if (pending_) {  // a skip that has not met its value's first byte yet
        if (is_ws(c)) return Step::more;
        pending_ = false;
        return start_skip(c, skip_then_);
      }
      if (str_) {
        str_ = string_byte(c, esc_);
        if (!str_ && depth_ == 0) st_ = skip_then_;
        return Step::more;
      }
      if (scalar_) {
        if (c == ',' || c == '}' || c == ']' || is_ws(c)) {
          scalar_ = false;
          st_ = skip_then_;
          return feed(c);
        }
        return Step::more;
      }
      if (c == '"') {
        str_ = true;
      } else if (c == '{' || c == '[') {
        ++depth_;
      } else if ((c == '}' || c == ']') && --depth_ == 0) {
        st_ = skip_then_;
      }
      return Step::more;
    case S::done: return Step::found;
  }
  return Step::bad;
}

// ---- Splitter --------------------------------------------------------------------------------

const JsonPointer Splitter::kRoot{};

void Splitter::reset() noexcept {
  len_ = 0;
  st_ = select_ ? A::seek : A::before;
  cursor_.reset();
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
      case A::seek:
        switch (cursor_.feed(c)) {
          case PathCursor::Step::more: continue;
          case PathCursor::Step::absent:
            st_ = A::bad;
            out.select_failed("select: the response has no value at the pointer");
            return;
          case PathCursor::Step::bad:
            st_ = A::bad;
            out.select_failed("select: the response is not JSON where the pointer leads");
            return;
          case PathCursor::Step::found: break;
        }
        // The target's first byte: its type decides, before any item is cut.
        if (c == '[') {
          st_ = A::expect_item;
        } else if (c == '{') {
          st_ = A::object;
          depth_ = 1;
          in_str_ = esc_ = false;
          len_ = 0;
          put(c);
        } else {
          st_ = A::bad;
          out.select_failed("select: the value at the pointer is not an array or object");
          return;
        }
        continue;
      case A::object:  // select found an object: it is the one item
        put(c);
        if (in_str_) {
          in_str_ = string_byte(c, esc_);
        } else if (c == '"') {
          in_str_ = true;
        } else if (c == '{' || c == '[') {
          ++depth_;
        } else if ((c == '}' || c == ']') && --depth_ == 0) {
          any_item_ = true;
          emit(out);
          st_ = A::done;
        }
        continue;
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
          in_str_ = string_byte(c, esc_);
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
        if (select_) return;  // the rest of the enclosing document is not looked at
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
      if (st_ == A::seek) {
        st_ = A::bad;
        out.select_failed("select: the response ended before the pointer's value");
      } else if (st_ != A::done && st_ != A::bad) {
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
