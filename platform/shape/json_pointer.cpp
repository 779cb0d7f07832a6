#include "platform/shape/json_pointer.hpp"

namespace bh {

namespace {

// RFC 6901 array index: "0" or a decimal without leading zeros. Larger than 9 digits is no index
// we could hold (and no array the budget allows), so it only ever names an object member.
std::uint32_t array_index(std::string_view t, std::uint32_t none) noexcept {
  if (t.empty() || t.size() > 9 || (t.size() > 1 && t[0] == '0')) return none;
  std::uint32_t v = 0;
  for (char c : t) {
    if (c < '0' || c > '9') return none;
    v = v * 10 + static_cast<std::uint32_t>(c - '0');
  }
  return v;
}

}  // namespace

bool JsonPointer::compile(std::string_view text, JsonPointer& out, std::string& error) {
  out = JsonPointer{};
  if (text.empty()) return true;
  if (text.front() != '/') {
    error = "a JSON Pointer must be empty or start with '/'";
    return false;
  }
  JsonPointer p;
  std::size_t used = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '/') {
      if (p.count_ == kMaxTokens) {
        error = "a JSON Pointer may hold at most " + std::to_string(kMaxTokens) + " tokens";
        return false;
      }
      if (p.count_ > 0) p.ends_[p.count_ - 1] = static_cast<std::uint16_t>(used);
      ++p.count_;
      continue;
    }
    char b = c;
    if (c == '~') {
      const char n = i + 1 < text.size() ? text[i + 1] : '\0';
      if (n != '0' && n != '1') {
        error = "'~' in a JSON Pointer must be followed by 0 or 1 (\"~0\" is '~', \"~1\" is '/')";
        return false;
      }
      b = n == '0' ? '~' : '/';
      ++i;
    }
    if (used == kMaxBytes) {
      error = "a JSON Pointer may hold at most " + std::to_string(kMaxBytes) + " bytes of tokens";
      return false;
    }
    p.bytes_[used++] = b;
  }
  p.ends_[p.count_ - 1] = static_cast<std::uint16_t>(used);
  for (std::size_t t = 0; t < p.count_; ++t) p.index_[t] = array_index(p.token(t), kNoIndex);
  out = p;
  return true;
}

bool JsonPointer::find(simdjson::dom::element root, simdjson::dom::element& out) const noexcept {
  simdjson::dom::element at = root;
  for (std::size_t t = 0; t < count_; ++t) {
    switch (at.type()) {
      case simdjson::dom::element_type::OBJECT: {
        simdjson::dom::object o;
        if (at.get_object().get(o) != simdjson::SUCCESS) return false;
        if (o.at_key(token(t)).get(at) != simdjson::SUCCESS) return false;
        break;
      }
      case simdjson::dom::element_type::ARRAY: {
        if (index_[t] == kNoIndex) return false;
        simdjson::dom::array a;
        if (at.get_array().get(a) != simdjson::SUCCESS) return false;
        if (a.at(index_[t]).get(at) != simdjson::SUCCESS) return false;
        break;
      }
      default:
        return false;
    }
  }
  out = at;
  return true;
}

std::string JsonPointer::text() const {
  std::string s;
  for (std::size_t t = 0; t < count_; ++t) {
    s += '/';
    for (char c : token(t)) {
      if (c == '~') s += "~0";
      else if (c == '/') s += "~1";
      else s += c;
    }
  }
  return s;
}

}  // namespace bh
