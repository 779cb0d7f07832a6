#include "platform/util/fault.hpp"

#include <charconv>

namespace bh::fault {

std::atomic<bool> g_armed{false};

namespace {
struct Rule {
  std::uint64_t first = 0, last = 0;  // 0 = never
};
std::array<Rule, kOps> g_rules{};
std::array<std::atomic<std::uint64_t>, kOps> g_calls{}, g_injected{};
constexpr std::array<std::string_view, kOps> kNames{"connect", "read", "write", "fsync", "open", "audit_write", "sqlite_step",
                                                     "sqlite_txn", "sqlite_write"};

bool parse_u64(std::string_view s, std::uint64_t& out) {
  auto r = std::from_chars(s.data(), s.data() + s.size(), out);
  return r.ec == std::errc{} && r.ptr == s.data() + s.size() && out > 0;
}
}  // namespace

std::string_view name(Op op) noexcept { return kNames[static_cast<std::size_t>(op)]; }

bool hit_slow(Op op) noexcept {
  const auto i = static_cast<std::size_t>(op);
  const std::uint64_t n = g_calls[i].fetch_add(1, std::memory_order_relaxed) + 1;
  if (n < g_rules[i].first || n > g_rules[i].last) return false;
  g_injected[i].fetch_add(1, std::memory_order_relaxed);
  return true;
}

std::string arm(std::string_view spec) {
  disarm();
  std::array<Rule, kOps> rules{};
  while (!spec.empty()) {
    const std::size_t comma = spec.find(',');
    const std::string_view item = spec.substr(0, comma);
    spec = comma == std::string_view::npos ? std::string_view{} : spec.substr(comma + 1);
    const std::size_t colon = item.find(':');
    if (colon == std::string_view::npos) return "fault plan: '" + std::string(item) + "' is not op:N or op:N-M";
    const std::string_view op = item.substr(0, colon), range = item.substr(colon + 1);
    std::size_t k = 0;
    while (k < kOps && kNames[k] != op) ++k;
    if (k == kOps) return "fault plan: unknown operation '" + std::string(op) + "'";
    const std::size_t dash = range.find('-');
    Rule r;
    if (!parse_u64(range.substr(0, dash), r.first)) return "fault plan: bad call number in '" + std::string(item) + "'";
    r.last = r.first;
    if (dash != std::string_view::npos && (!parse_u64(range.substr(dash + 1), r.last) || r.last < r.first))
      return "fault plan: bad range in '" + std::string(item) + "'";
    rules[k] = r;
  }
  g_rules = rules;
  g_armed.store(true, std::memory_order_release);
  return "";
}

void disarm() noexcept {
  g_armed.store(false, std::memory_order_release);
  g_rules = {};
  for (auto& c : g_calls) c.store(0, std::memory_order_relaxed);
  for (auto& c : g_injected) c.store(0, std::memory_order_relaxed);
}

bool armed() noexcept { return g_armed.load(std::memory_order_acquire); }
namespace {
bool g_planned = false;
}
void set_planned(bool planned) noexcept { g_planned = planned; }
bool planned() noexcept { return g_planned || armed(); }
std::uint64_t calls(Op op) noexcept { return g_calls[static_cast<std::size_t>(op)].load(std::memory_order_relaxed); }
std::uint64_t injected(Op op) noexcept {
  return g_injected[static_cast<std::size_t>(op)].load(std::memory_order_relaxed);
}

}  // namespace bh::fault
