// BearerAuth: the constant-time token check and the per-peer failure table.
#include "platform/net/bearer_auth.hpp"

#include <mbedtls/sha256.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstring>

namespace bh {
namespace {

// ::ffff:a.b.c.d
bool v4_mapped(const std::array<std::uint8_t, 16>& a) noexcept {
  return std::all_of(a.begin(), a.begin() + 10, [](std::uint8_t b) { return b == 0; }) && a[10] == 0xFF && a[11] == 0xFF;
}

}  // namespace

Sha256 sha256_of(std::string_view bytes) noexcept {
  Sha256 out{};
  (void)mbedtls_sha256_ret(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), out.data(), 0);
  return out;
}

bool digest_equal(const Sha256& a, const Sha256& b) noexcept {
  // Every byte goes into the accumulator; volatile keeps the compiler from stopping at the first
  // difference it could prove.
  volatile std::uint8_t diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i) diff = static_cast<std::uint8_t>(diff | (a[i] ^ b[i]));
  return diff == 0;
}

bool token_equal(const Sha256& expected, std::string_view presented) noexcept {
  return digest_equal(expected, sha256_of(presented));
}

std::string_view bearer_token_of(std::string_view v) noexcept {
  constexpr std::string_view kScheme = "bearer";
  if (v.size() <= kScheme.size()) return {};
  for (std::size_t i = 0; i < kScheme.size(); ++i)
    if ((v[i] | 0x20) != kScheme[i]) return {};
  if (v[kScheme.size()] != ' ') return {};
  v.remove_prefix(kScheme.size());
  while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  return v;
}

const char* bearer_token_problem(std::string_view t) noexcept {
  if (t.empty()) return nullptr;
  if (t.size() < kMinTokenBytes) return "is shorter than 16 characters";
  if (t.size() > kMaxTokenBytes) return "is longer than 256 characters";
  std::size_t i = 0;
  auto token_char = [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
           c == '_' || c == '~' || c == '+' || c == '/';
  };
  while (i < t.size() && token_char(t[i])) ++i;
  if (i == 0) return "does not start with a token character";
  while (i < t.size() && t[i] == '=') ++i;
  if (i != t.size()) return "holds a character outside A-Z a-z 0-9 - . _ ~ + / (and '=' at the end)";
  return nullptr;
}

PeerKey peer_key(const sockaddr* sa, socklen_t len) noexcept {
  PeerKey k;
  if (sa && sa->sa_family == AF_INET && len >= static_cast<socklen_t>(sizeof(sockaddr_in))) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(sa);
    k.bytes[10] = k.bytes[11] = 0xFF;
    std::memcpy(k.bytes.data() + 12, &in->sin_addr, 4);
  } else if (sa && sa->sa_family == AF_INET6 && len >= static_cast<socklen_t>(sizeof(sockaddr_in6))) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
    std::memcpy(k.bytes.data(), &in6->sin6_addr, 16);
    if (!v4_mapped(k.bytes)) std::fill(k.bytes.begin() + 8, k.bytes.end(), std::uint8_t{0});  // the /64
  }
  return k;
}

PeerKey peer_key_of_fd(int fd) noexcept {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return {};
  return peer_key(reinterpret_cast<const sockaddr*>(&ss), len);
}

std::string_view peer_text(const PeerKey& k, PeerText& buf) noexcept {
  if (k == PeerKey{}) return "local";
  const bool v4 = v4_mapped(k.bytes);
  if (!::inet_ntop(v4 ? AF_INET : AF_INET6, k.bytes.data() + (v4 ? 12 : 0), buf.data(), buf.size() - 4)) return "?";
  std::size_t n = std::strlen(buf.data());
  if (!v4) {
    std::memcpy(buf.data() + n, "/64", 3);
    n += 3;
  }
  return {buf.data(), n};
}

void BearerAuth::set_token(std::string_view token) noexcept {
  enabled_ = !token.empty();
  digest_ = enabled_ ? sha256_of(token) : Sha256{};
}

BearerAuth::Peer* BearerAuth::find(const PeerKey& k) noexcept {
  for (Peer& p : peers_)
    if (p.used && p.key == k) return &p;
  return nullptr;
}

BearerAuth::Peer& BearerAuth::take(const PeerKey& k) noexcept {
  if (Peer* p = find(k)) return *p;
  Peer* victim = &peers_[0];
  for (Peer& p : peers_) {
    if (!p.used) {
      victim = &p;
      break;
    }
    if (p.last_seen < victim->last_seen) victim = &p;
  }
  if (victim->used) ++stats_.peers_evicted;
  *victim = Peer{};
  victim->key = k;
  victim->used = true;
  return *victim;
}

Clock::duration BearerAuth::fail(const PeerKey& k, Clock::time_point now) noexcept {
  Peer& p = take(k);
  if (p.failures > 0 && now - p.last_failure >= policy_.forget_after) p.failures = 0;
  ++p.failures;
  p.last_failure = p.last_seen = now;
  if (p.failures <= policy_.free_failures) return {};
  // Failure free_failures + n is refused for first_backoff * 2^(n-1), at most max_backoff.
  const std::uint32_t n = p.failures - policy_.free_failures;
  Clock::duration backoff = policy_.max_backoff;
  if (n <= 32) backoff = std::min(policy_.max_backoff, policy_.first_backoff * (std::int64_t{1} << (n - 1)));
  p.refused_until = now + backoff;
  ++stats_.backoffs;
  return backoff;
}

AuthVerdict BearerAuth::check(const PeerKey& peer, std::string_view authorization, bool truncated,
                              Clock::time_point now) noexcept {
  if (!enabled_) return {};
  if (Peer* p = find(peer)) {
    p->last_seen = now;
    if (now < p->refused_until) {
      ++stats_.throttled;
      return {AuthResult::throttled, p->refused_until - now};
    }
  }
  const std::string_view token = bearer_token_of(authorization);
  if (token.empty()) {
    ++stats_.missing;
    return {AuthResult::missing, {}, fail(peer, now)};
  }
  if (truncated || token.size() > kMaxTokenBytes || !token_equal(digest_, token)) {
    ++stats_.wrong;
    return {AuthResult::wrong, {}, fail(peer, now)};
  }
  ++stats_.ok;
  if (Peer* p = find(peer)) *p = Peer{};  // a holder of the token starts over
  return {};
}

std::size_t BearerAuth::peers_tracked() const noexcept {
  return static_cast<std::size_t>(std::count_if(peers_.begin(), peers_.end(), [](const Peer& p) { return p.used; }));
}

std::size_t BearerAuth::peers_refused(Clock::time_point now) const noexcept {
  return static_cast<std::size_t>(
      std::count_if(peers_.begin(), peers_.end(), [&](const Peer& p) { return p.used && now < p.refused_until; }));
}

}  // namespace bh
