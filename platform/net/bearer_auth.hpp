// BearerAuth: the gate an HTTP server runs before it serves a request that needs the shared bearer
// token (RFC 6750 `Authorization: Bearer <token>`). Two parts:
// - the token check: the presented token and the configured one are compared as SHA-256 digests
//   with a loop that reads every byte whatever the contents (token_equal): neither the length nor
//   the first differing byte of the secret shows in the time taken;
// - the failure throttle: failures (no token or a wrong one) are counted per peer address in a
//   fixed table of kPeers entries (least recently seen evicted when full, counted). A peer that
//   fails more than ThrottlePolicy::free_failures times is refused (`throttled`, with a retry time)
//   for a backoff that doubles with each further failure, up to max_backoff; while refused its
//   tokens are not even looked at. A success forgets the peer; so does forget_after without a failure.
// It is not a user database, a session, an identity or a TLS client check: one shared token, and
// every holder of it is equal. Reactor thread only; no heap (the table is fixed, SHA-256 is
// mbedTLS's, on the stack).
#pragma once
#include <sys/socket.h>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "platform/core/task_type.hpp"  // Clock

namespace bh {

inline constexpr std::size_t kMaxTokenBytes = 256;

using Sha256 = std::array<std::uint8_t, 32>;
Sha256 sha256_of(std::string_view bytes) noexcept;

// True when a and b are equal; always reads all 32 bytes of both (no early exit).
bool digest_equal(const Sha256& a, const Sha256& b) noexcept;
// True when `presented` hashes to `expected` (sha256_of the configured token). The time taken
// depends on presented.size() only (the caller's own input), never on the secret.
bool token_equal(const Sha256& expected, std::string_view presented) noexcept;

// The token of an `Authorization` header value: what follows the scheme `Bearer` (any case) and
// its spaces. Empty when the value is empty, names another scheme, or carries no token.
std::string_view bearer_token_of(std::string_view authorization) noexcept;

// Why `token` cannot be a configured bearer token, or nullptr when it can: empty (no token), or
// kMinTokenBytes..kMaxTokenBytes token68 characters (RFC 6750: A-Z a-z 0-9 - . _ ~ + /, then only
// '='). The reason never quotes the token.
inline constexpr std::size_t kMinTokenBytes = 16;
const char* bearer_token_problem(std::string_view token) noexcept;

// A peer as the throttle keys it: an IPv4 address whole (as ::ffff:a.b.c.d), an IPv6 address by
// its /64 prefix (a host usually holds a whole /64: rotating addresses inside it buys no fresh
// guesses). Every non-IP peer (a Unix socket) shares the zero key.
struct PeerKey {
  std::array<std::uint8_t, 16> bytes{};
  bool operator==(const PeerKey&) const = default;
};
PeerKey peer_key(const sockaddr* sa, socklen_t len) noexcept;
// The key of a connected socket's peer (getpeername); the zero key if it cannot be read.
PeerKey peer_key_of_fd(int fd) noexcept;
// The key as text for a log line: "192.0.2.7", "2001:db8:1:2::/64", "local" (the zero key).
using PeerText = std::array<char, 48>;
std::string_view peer_text(const PeerKey& k, PeerText& buf) noexcept;

struct ThrottlePolicy {
  std::uint32_t free_failures = 5;  // failures a peer may make before it is refused
  Clock::duration first_backoff = std::chrono::seconds(1);  // after failure free_failures + 1
  Clock::duration max_backoff = std::chrono::minutes(5);    // doubling stops here
  Clock::duration forget_after = std::chrono::minutes(15);  // no failure for this long: start over
};

struct BearerAuthStats {
  std::uint64_t ok = 0;             // requests that presented the right token
  std::uint64_t missing = 0;        // failures: no (Bearer) token
  std::uint64_t wrong = 0;          // failures: a wrong token
  std::uint64_t throttled = 0;      // requests refused because their peer was in backoff
  std::uint64_t backoffs = 0;       // failures that started or lengthened a peer's backoff
  std::uint64_t peers_evicted = 0;  // table entries reused for a new peer while full
};

enum class AuthResult : std::uint8_t { ok, missing, wrong, throttled };

struct AuthVerdict {
  AuthResult result = AuthResult::ok;
  Clock::duration retry_after{};  // throttled: how long the peer stays refused
  Clock::duration backoff{};      // missing/wrong: the backoff this failure started (0: none)
};

class BearerAuth {
 public:
  static constexpr std::size_t kPeers = 64;

  explicit BearerAuth(ThrottlePolicy p = {}) noexcept : policy_(p) {}

  // Start-up: the token every checked request must present; "" turns the check off.
  void set_token(std::string_view token) noexcept;
  bool enabled() const noexcept { return enabled_; }

  // Decides one request from `peer` carrying the `Authorization` value `authorization` ("" when
  // absent; `truncated`: the server cut the value, so it cannot be the token). Counts the outcome.
  AuthVerdict check(const PeerKey& peer, std::string_view authorization, bool truncated,
                    Clock::time_point now) noexcept;

  const BearerAuthStats& stats() const noexcept { return stats_; }
  const ThrottlePolicy& policy() const noexcept { return policy_; }
  std::size_t peers_tracked() const noexcept;
  std::size_t peers_refused(Clock::time_point now) const noexcept;  // peers in backoff now

 private:
  struct Peer {
    PeerKey key;
    bool used = false;
    std::uint32_t failures = 0;
    Clock::time_point last_failure{};
    Clock::time_point refused_until{};
    Clock::time_point last_seen{};
  };
  Peer* find(const PeerKey& k) noexcept;
  Peer& take(const PeerKey& k) noexcept;  // k's entry, a free one, or the least recently seen
  Clock::duration fail(const PeerKey& k, Clock::time_point now) noexcept;  // the backoff started, or 0

  ThrottlePolicy policy_;
  Sha256 digest_{};
  bool enabled_ = false;
  BearerAuthStats stats_;
  std::array<Peer, kPeers> peers_{};
};

}  // namespace bh
