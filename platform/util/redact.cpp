// Redaction: the secret registry (static storage, filled at start-up, read-only once sealed) and
// the in-place scrubber the log writer calls on every line.
#include "platform/util/redact.hpp"

#include <array>
#include <atomic>
#include <cstring>

namespace bh::redact {
namespace {

struct Entry {
  std::size_t offset = 0, len = 0;
};

// Entries are kept longest first, so that a value holding another one is scrubbed whole.
std::array<char, kMaxSecretBytes> g_bytes{};
std::array<Entry, kMaxSecrets> g_entries{};
std::size_t g_used_bytes = 0;
std::atomic<std::size_t> g_count{0};  // release on add: a reader that sees n sees n entries
std::atomic<bool> g_sealed{false};
std::atomic<std::size_t> g_refused{0};

constexpr std::string_view kMask = "***";

std::string_view entry_text(const Entry& e) noexcept { return {g_bytes.data() + e.offset, e.len}; }

}  // namespace

bool add(std::string_view secret) noexcept {
  if (g_sealed.load(std::memory_order_relaxed)) {
    g_refused.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  if (secret.size() < kMinSecretLen) return true;
  const std::size_t n = g_count.load(std::memory_order_relaxed);
  for (std::size_t i = 0; i < n; ++i)
    if (entry_text(g_entries[i]) == secret) return true;
  if (n == kMaxSecrets || secret.size() > kMaxSecretBytes - g_used_bytes) {
    g_refused.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  std::memcpy(g_bytes.data() + g_used_bytes, secret.data(), secret.size());
  Entry e{g_used_bytes, secret.size()};
  g_used_bytes += secret.size();
  std::size_t at = n;
  while (at > 0 && g_entries[at - 1].len < e.len) {
    g_entries[at] = g_entries[at - 1];
    --at;
  }
  g_entries[at] = e;
  g_count.store(n + 1, std::memory_order_release);
  return true;
}

void seal() noexcept { g_sealed.store(true, std::memory_order_release); }
bool sealed() noexcept { return g_sealed.load(std::memory_order_acquire); }
std::size_t count() noexcept { return g_count.load(std::memory_order_acquire); }
std::size_t refused() noexcept { return g_refused.load(std::memory_order_relaxed); }

void clear_for_tests() noexcept {
  g_count.store(0, std::memory_order_release);
  g_used_bytes = 0;
  g_refused.store(0, std::memory_order_relaxed);
  g_sealed.store(false, std::memory_order_release);
}

std::size_t scrub(char* buf, std::size_t len) noexcept {
  const std::size_t n = g_count.load(std::memory_order_acquire);
  for (std::size_t k = 0; k < n; ++k) {
    const std::string_view s = entry_text(g_entries[k]);
    std::size_t pos = 0;
    for (;;) {
      const std::size_t at = std::string_view(buf, len).find(s, pos);
      if (at == std::string_view::npos) break;
      std::memcpy(buf + at, kMask.data(), kMask.size());
      std::memmove(buf + at + kMask.size(), buf + at + s.size(), len - at - s.size());
      len -= s.size() - kMask.size();
      pos = at + kMask.size();
    }
  }
  return len;
}

UrlParts url_parts(std::string_view u) noexcept {
  const std::size_t sep = u.find("://");
  if (sep == std::string_view::npos) return {{}, {}, {}, kMask};
  const std::size_t end = u.find_first_of("/?#", sep + 3);
  std::string_view authority = u.substr(sep + 3, end == std::string_view::npos ? std::string_view::npos : end - sep - 3);
  std::string_view userinfo;
  if (const std::size_t at = authority.rfind('@'); at != std::string_view::npos) {
    authority.remove_prefix(at + 1);
    userinfo = "***@";
  }
  return {u.substr(0, sep + 3), userinfo, authority, end == std::string_view::npos ? std::string_view{} : "/***"};
}

}  // namespace bh::redact
