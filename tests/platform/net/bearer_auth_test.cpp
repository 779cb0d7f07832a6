// BearerAuth as a unit: the constant-time digest compare and the token check give the right
// answers (correctness, not timing), the Authorization value is parsed as RFC 6750 says, the
// config rule for tokens, peer keys (IPv4 whole, IPv6 by /64), and the failure throttle on virtual
// time: free failures, a doubling backoff with a cap, a refused peer's right token refused too,
// success and quiet time forgetting a peer, other peers untouched, and LRU eviction counted.
#include "platform/net/bearer_auth.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>

namespace bh {
namespace {
using namespace std::chrono_literals;

const std::string kToken = "s3cr3t-Token_0123456789";

PeerKey v4(const char* a) {
  sockaddr_in in{};
  in.sin_family = AF_INET;
  EXPECT_EQ(::inet_pton(AF_INET, a, &in.sin_addr), 1);
  return peer_key(reinterpret_cast<const sockaddr*>(&in), sizeof in);
}

PeerKey v6(const char* a) {
  sockaddr_in6 in{};
  in.sin6_family = AF_INET6;
  EXPECT_EQ(::inet_pton(AF_INET6, a, &in.sin6_addr), 1);
  return peer_key(reinterpret_cast<const sockaddr*>(&in), sizeof in);
}

std::string text(const PeerKey& k) {
  PeerText t;
  return std::string(peer_text(k, t));
}

TEST(BearerAuth, DigestEqualComparesEveryByte) {
  const Sha256 a = sha256_of("alpha");
  EXPECT_TRUE(digest_equal(a, a));
  EXPECT_TRUE(digest_equal(a, sha256_of("alpha")));
  EXPECT_FALSE(digest_equal(a, sha256_of("alphb")));
  // A difference in any single byte, first or last or between, is seen.
  for (std::size_t i = 0; i < a.size(); ++i) {
    Sha256 b = a;
    b[i] ^= 0x01;
    EXPECT_FALSE(digest_equal(a, b)) << "byte " << i;
    b[i] = a[i];
    b[i] ^= 0x80;
    EXPECT_FALSE(digest_equal(a, b)) << "byte " << i;
  }
  EXPECT_TRUE(digest_equal(Sha256{}, Sha256{}));
}

TEST(BearerAuth, TokenEqualOnlyForTheSameBytes) {
  const Sha256 d = sha256_of(kToken);
  EXPECT_TRUE(token_equal(d, kToken));
  EXPECT_FALSE(token_equal(d, ""));
  EXPECT_FALSE(token_equal(d, kToken.substr(0, kToken.size() - 1)));  // a prefix
  EXPECT_FALSE(token_equal(d, kToken + "x"));                         // longer
  std::string flipped = kToken;
  flipped[0] ^= 0x20;
  EXPECT_FALSE(token_equal(d, flipped));  // differs in case only
  EXPECT_FALSE(token_equal(d, std::string(1000, 'a')));
}

TEST(BearerAuth, BearerTokenOfAnAuthorizationValue) {
  EXPECT_EQ(bearer_token_of("Bearer abc"), "abc");
  EXPECT_EQ(bearer_token_of("bearer abc"), "abc");
  EXPECT_EQ(bearer_token_of("BEARER   abc=  "), "abc=");
  EXPECT_EQ(bearer_token_of("Bearer"), "");
  EXPECT_EQ(bearer_token_of("Bearer "), "");
  EXPECT_EQ(bearer_token_of("Bearerabc"), "");
  EXPECT_EQ(bearer_token_of("Basic dXNlcjpwYXNz"), "");
  EXPECT_EQ(bearer_token_of(""), "");
}

TEST(BearerAuth, TokenConfigRule) {
  EXPECT_EQ(bearer_token_problem(""), nullptr);  // no token
  EXPECT_EQ(bearer_token_problem(kToken), nullptr);
  EXPECT_EQ(bearer_token_problem("AbCd0123456789+/.~-_=="), nullptr);
  EXPECT_EQ(bearer_token_problem(std::string(kMaxTokenBytes, 'a')), nullptr);
  EXPECT_NE(bearer_token_problem("short-token"), nullptr);
  EXPECT_NE(bearer_token_problem(std::string(kMaxTokenBytes + 1, 'a')), nullptr);
  EXPECT_NE(bearer_token_problem("has a space in it ok"), nullptr);
  EXPECT_NE(bearer_token_problem("0123456789abcdef=x"), nullptr);  // '=' only at the end
  EXPECT_NE(bearer_token_problem("================"), nullptr);
  EXPECT_NE(bearer_token_problem("0123456789abcdef\n"), nullptr);
  const char* why = bearer_token_problem("0123456789-secret!");
  ASSERT_NE(why, nullptr);
  EXPECT_EQ(std::string(why).find("secret"), std::string::npos) << why;  // never quotes the token
}

TEST(BearerAuth, PeerKeys) {
  EXPECT_EQ(v4("192.0.2.7"), v4("192.0.2.7"));
  EXPECT_NE(v4("192.0.2.7"), v4("192.0.2.8"));
  EXPECT_EQ(v6("::ffff:192.0.2.7"), v4("192.0.2.7"));  // a mapped address is its IPv4 peer
  EXPECT_EQ(v6("2001:db8:1:2::1"), v6("2001:db8:1:2:ffff:1:2:3"));  // one /64
  EXPECT_NE(v6("2001:db8:1:2::1"), v6("2001:db8:1:3::1"));
  EXPECT_EQ(text(v4("192.0.2.7")), "192.0.2.7");
  EXPECT_EQ(text(v6("2001:db8:1:2::9")), "2001:db8:1:2::/64");
  EXPECT_EQ(text(PeerKey{}), "local");
  // A real socket's peer.
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  EXPECT_EQ(peer_key_of_fd(fds[0]), PeerKey{});
  ::close(fds[0]);
  ::close(fds[1]);
  EXPECT_EQ(peer_key_of_fd(-1), PeerKey{});
}

class Throttle : public ::testing::Test {
 protected:
  Throttle() { auth.set_token(kToken); }
  AuthVerdict wrong(const PeerKey& p) { return auth.check(p, "Bearer not-the-token-000000", false, now); }
  AuthVerdict right(const PeerKey& p) { return auth.check(p, "Bearer " + kToken, false, now); }

  BearerAuth auth;  // the default policy: 5 free failures, 1 s doubling to 5 min, forget after 15 min
  Clock::time_point now = Clock::time_point{} + 1h;
  const PeerKey a = v4("192.0.2.1");
  const PeerKey b = v4("192.0.2.2");
};

TEST_F(Throttle, WithoutATokenEverythingPasses) {
  BearerAuth off;
  EXPECT_FALSE(off.enabled());
  EXPECT_EQ(off.check(a, "", false, now).result, AuthResult::ok);
  EXPECT_EQ(off.check(a, "Bearer whatever", false, now).result, AuthResult::ok);
  EXPECT_EQ(off.peers_tracked(), 0u);
}

TEST_F(Throttle, OutcomesAreCounted) {
  EXPECT_TRUE(auth.enabled());
  EXPECT_EQ(auth.check(a, "", false, now).result, AuthResult::missing);
  EXPECT_EQ(auth.check(a, "Basic abc", false, now).result, AuthResult::missing);
  EXPECT_EQ(wrong(a).result, AuthResult::wrong);
  EXPECT_EQ(right(a).result, AuthResult::ok);
  // A value the server cut short is never the token, even when the kept part matches.
  EXPECT_EQ(auth.check(a, "Bearer " + kToken, true, now).result, AuthResult::wrong);
  EXPECT_EQ(auth.check(a, "Bearer " + std::string(kMaxTokenBytes + 1, 'a'), false, now).result, AuthResult::wrong);
  EXPECT_EQ(auth.stats().missing, 2u);
  EXPECT_EQ(auth.stats().wrong, 3u);
  EXPECT_EQ(auth.stats().ok, 1u);
  EXPECT_EQ(auth.stats().throttled, 0u);
}

TEST_F(Throttle, RepeatedFailuresAreRefusedForADoublingBackoff) {
  for (int i = 0; i < 5; ++i) {
    const AuthVerdict v = wrong(a);
    EXPECT_EQ(v.result, AuthResult::wrong);
    EXPECT_EQ(v.backoff, Clock::duration::zero()) << i;
  }
  EXPECT_EQ(auth.peers_refused(now), 0u);
  AuthVerdict v = wrong(a);  // the 6th: answered, and the peer refused for 1 s
  EXPECT_EQ(v.result, AuthResult::wrong);
  EXPECT_EQ(v.backoff, 1s);
  EXPECT_EQ(auth.stats().backoffs, 1u);
  EXPECT_EQ(auth.peers_refused(now), 1u);

  now += 400ms;
  v = right(a);  // refused: even the right token is not looked at
  EXPECT_EQ(v.result, AuthResult::throttled);
  EXPECT_EQ(v.retry_after, 600ms);
  EXPECT_EQ(wrong(a).result, AuthResult::throttled);  // and a refused request is no new failure
  EXPECT_EQ(auth.stats().throttled, 2u);
  EXPECT_EQ(auth.stats().wrong, 6u);
  EXPECT_EQ(auth.stats().ok, 0u);
  // Another peer is untouched.
  EXPECT_EQ(right(b).result, AuthResult::ok);

  // Each failure after a backoff doubles it: 2 s, 4 s, 8 s ... up to 5 min.
  Clock::duration expect = 1s;
  for (int i = 0; i < 12; ++i) {
    now += expect;
    expect = std::min<Clock::duration>(expect * 2, 5min);
    v = wrong(a);
    EXPECT_EQ(v.result, AuthResult::wrong) << i;
    EXPECT_EQ(v.backoff, expect) << i;
    EXPECT_EQ(wrong(a).result, AuthResult::throttled) << i;
  }
  EXPECT_EQ(expect, 5min);
  // Once the backoff is over the right token works, and the peer starts over.
  now += 5min;
  EXPECT_EQ(right(a).result, AuthResult::ok);
  EXPECT_EQ(auth.peers_refused(now), 0u);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(wrong(a).backoff, Clock::duration::zero()) << i;
  EXPECT_EQ(wrong(a).backoff, 1s);
}

TEST_F(Throttle, QuietTimeForgetsOldFailures) {
  for (int i = 0; i < 5; ++i) wrong(a);
  now += 15min;  // forget_after without a failure
  for (int i = 0; i < 5; ++i) EXPECT_EQ(wrong(a).backoff, Clock::duration::zero()) << i;
  now += 14min;  // not quite: the sixth failure in a row counts
  EXPECT_EQ(wrong(a).backoff, 1s);
}

TEST_F(Throttle, AFullTableEvictsTheLeastRecentlySeenPeer) {
  // 64 peers fail once each, a.b.c.1 first.
  std::vector<PeerKey> peers;
  for (int i = 0; i < static_cast<int>(BearerAuth::kPeers); ++i) {
    peers.push_back(v4(("198.51.100." + std::to_string(i + 1)).c_str()));
    now += 1ms;
    wrong(peers.back());
  }
  EXPECT_EQ(auth.peers_tracked(), BearerAuth::kPeers);
  EXPECT_EQ(auth.stats().peers_evicted, 0u);
  // Peer 0 fails again: peer 1 is now the least recently seen.
  now += 1ms;
  for (int i = 0; i < 4; ++i) wrong(peers[0]);
  now += 1ms;
  wrong(v4("203.0.113.9"));  // a 65th peer
  EXPECT_EQ(auth.stats().peers_evicted, 1u);
  EXPECT_EQ(auth.peers_tracked(), BearerAuth::kPeers);
  // Peer 0 kept its five failures: the next one starts a backoff. Peer 1 was forgotten.
  EXPECT_EQ(wrong(peers[0]).backoff, 1s);
  EXPECT_EQ(auth.stats().peers_evicted, 1u);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(wrong(peers[1]).backoff, Clock::duration::zero());
  EXPECT_EQ(auth.stats().peers_evicted, 2u);  // peer 1 came back in place of the next oldest
}

}  // namespace
}  // namespace bh
