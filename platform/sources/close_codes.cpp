// Close-code rules: the "LO-HI=action" syntax.
#include "platform/sources/close_codes.hpp"

#include <charconv>

namespace bh {
namespace {

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool code(std::string_view s, std::uint16_t& out) noexcept {
  s = trim(s);
  unsigned v = 0;
  auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  if (r.ec != std::errc{} || r.ptr != s.data() + s.size() || v < 1000 || v > 4999) return false;
  out = static_cast<std::uint16_t>(v);
  return true;
}

}  // namespace

const char* parse_close_rule(std::string_view text, CloseRule& out) noexcept {
  const std::size_t eq = text.find('=');
  if (eq == std::string_view::npos) return "expected \"LO-HI=action\" (e.g. \"4000-4099=stop\")";
  const std::string_view codes = text.substr(0, eq);
  const std::string_view action = trim(text.substr(eq + 1));
  CloseRule r;
  const std::size_t dash = codes.find('-');
  if (!code(codes.substr(0, dash), r.lo)) return "the close code is not a number in 1000..4999";
  r.hi = r.lo;
  if (dash != std::string_view::npos && !code(codes.substr(dash + 1), r.hi))
    return "the close code is not a number in 1000..4999";
  if (r.hi < r.lo) return "the range ends below its start";
  bool known = false;
  for (std::size_t i = 0; i < kCloseActionNames.size(); ++i) {
    if (kCloseActionNames[i] == action) {
      r.action = static_cast<CloseAction>(i);
      known = true;
    }
  }
  if (!known) return "the action is not \"stop\", \"backoff\" or \"reconnect\"";
  out = r;
  return nullptr;
}

}  // namespace bh
