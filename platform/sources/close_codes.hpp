// Close-code policy of a WebSocket source (`close_codes`): what a close frame from the server makes
// the source do, as an ordered list of rules "LO-HI=action" (or "CODE=action"), first match wins.
//   stop       the server means "do not come back" (e.g. Pusher 4000-4099): the source stops
//              reconnecting until the console resumes it (pause, resume)
//   reconnect  connect again at once (Pusher 4200-4299), bounded: after kMaxQuickReconnects short
//              sessions in a row the normal backoff applies
//   backoff    connect again after the reconnect backoff (what every other drop does)
// With no rules the Pusher protocol's defaults apply: 4000-4099=stop, 4100-4199=backoff,
// 4200-4299=reconnect, anything else backoff. A list that matches no rule: backoff.
// Not about drops without a close frame (EOF, pong timeout, violations): those always back off.
#pragma once
#include <array>
#include <cstdint>
#include <span>
#include <string_view>

namespace bh {

enum class CloseAction : std::uint8_t { backoff, reconnect, stop };
inline constexpr std::array<std::string_view, 3> kCloseActionNames{"backoff", "reconnect", "stop"};

struct CloseRule {
  std::uint16_t lo = 0, hi = 0;
  CloseAction action = CloseAction::backoff;
};

inline constexpr std::size_t kMaxCloseRules = 16;
// Immediate reconnects in a row (each after a session shorter than kQuickSession) before the
// backoff applies again.
inline constexpr std::uint32_t kMaxQuickReconnects = 3;
inline constexpr std::uint32_t kQuickSessionMs = 1000;

inline constexpr std::array<CloseRule, 3> kDefaultCloseRules{
    CloseRule{4000, 4099, CloseAction::stop},
    CloseRule{4100, 4199, CloseAction::backoff},
    CloseRule{4200, 4299, CloseAction::reconnect},
};

// Parses one rule: "4000-4099=stop", "4201=reconnect" (codes 1000..4999, LO <= HI, spaces around
// the parts allowed). Returns nullptr, or why the text is not a rule.
const char* parse_close_rule(std::string_view text, CloseRule& out) noexcept;

// The action for `code`: the first rule of `rules` that holds it; with no rules, the defaults.
constexpr CloseAction close_action(std::span<const CloseRule> rules, std::uint16_t code) noexcept {
  if (rules.empty()) rules = kDefaultCloseRules;
  for (const CloseRule& r : rules)
    if (code >= r.lo && code <= r.hi) return r.action;
  return CloseAction::backoff;
}

}  // namespace bh
