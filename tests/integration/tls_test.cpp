// https:// sinks against a real TLS server on loopback (Python's ssl module, i.e. OpenSSL), with a
// CA and certificates the test makes with the openssl CLI: a good certificate delivers; a wrong
// CA, an expired certificate, a wrong host name, garbage and silence are refused, retried, counted
// and logged once; tls_verify = false delivers anyway; mutual TLS delivers with the client
// certificate and is refused without. After each: SIGTERM exits 0 (every pool back at zero).
#include <gtest/gtest.h>

#include <regex>
#include <string>
#include <thread>

#include "tests/support/eventually.hpp"
#include "tests/support/harness.hpp"
#include "tests/support/tls_peer.hpp"

namespace bh::test {
namespace {
using namespace std::chrono_literals;

class Tls : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { certs_ = new TlsCerts(); }
  static void TearDownTestSuite() {
    delete certs_;
    certs_ = nullptr;
  }
  void SetUp() override { ASSERT_TRUE(certs_->ok()) << certs_->error(); }
  static const TlsCerts& certs() { return *certs_; }
  static inline TlsCerts* certs_ = nullptr;
};

// A sink on `url` that retries fast and keeps retrying (the breaker half-opens after 200 ms).
std::string sink_toml(const std::string& url, const std::string& extra = "") {
  return "[[sink]]\nname = \"s\"\nurl = \"" + url +
         "\"\nbackoff_base = \"20ms\"\nbackoff_cap = \"100ms\"\nbreaker_recovery = \"200ms\"\n" + extra;
}
std::string key(const std::string& k, const std::string& v) { return k + " = \"" + v + "\"\n"; }

std::vector<std::uint64_t> seqs_of(const std::vector<std::string>& lines) {
  std::vector<std::uint64_t> out;
  for (const auto& l : lines) {
    auto at = l.find("\"seq\":");
    out.push_back(at == std::string::npos ? 0 : std::stoull(l.substr(at + 6)));
  }
  return out;
}

std::size_t count(const std::string& hay, const std::string& needle) {
  std::size_t n = 0;
  for (auto at = hay.find(needle); at != std::string::npos; at = hay.find(needle, at + 1)) ++n;
  return n;
}

// The shutdown summary: "sink s: TLS: H handshake(s) (R resumed), E handshake error(s),
// V certificate rejection(s), T handshake timeout(s)".
struct Summary {
  int handshakes = -1, resumed = -1, errors = -1, rejected = -1, timeouts = -1;
};
Summary summary(const std::string& log) {
  static const std::regex re(
      R"(TLS: (\d+) handshake\(s\) \((\d+) resumed\), (\d+) handshake error\(s\), (\d+) certificate rejection\(s\), (\d+) handshake timeout\(s\))");
  std::smatch m;
  Summary s;
  if (std::regex_search(log, m, re)) {
    s.handshakes = std::stoi(m[1]);
    s.resumed = std::stoi(m[2]);
    s.errors = std::stoi(m[3]);
    s.rejected = std::stoi(m[4]);
    s.timeouts = std::stoi(m[5]);
  }
  return s;
}

// A refused peer: events are acked and kept, the sink retries (the server sees >= 3 failed
// handshakes), nothing arrives, the reason is logged once, and the process stops cleanly.
void expect_refused(const TlsPeer& peer, Bulkhead& b, const std::string& reason, bool server_sees_failure = true) {
  auto seqs = send_events(b.ingest_port(), 5, "n");
  ASSERT_EQ(seqs.size(), 5u);
  if (server_sees_failure) {
    EXPECT_TRUE(peer.wait_failed(3, 20s)) << b.log() << peer.log();
  } else {
    // Garbage/silent peers do not count: wait for the client's retries in the breaker log instead.
    EXPECT_TRUE(log_shows(b, "breaker s: closed -> open", 20000ms)) << b.log();
  }
  EXPECT_EQ(peer.counts().requests, 0);
  EXPECT_TRUE(peer.lines().empty());
  expect_clean_stop(b);
  const std::string log = b.log();
  EXPECT_EQ(count(log, "TLS handshake with"), 1u) << "one log line per distinct reason, not one per retry\n" << log;
  EXPECT_NE(log.find(reason), std::string::npos) << log;
}

TEST_F(Tls, GoodCertificateDeliversAndResumesSessions) {
  // The peer closes after each answer: every batch needs a new connection, which resumes.
  TlsPeer peer(certs(), "server", TlsPeerMode::http_close);
  ASSERT_TRUE(peer.ok()) << peer.log();
  Bulkhead b(sink_toml(peer.url(), key("ca_file", certs().crt("ca")) + "batch_events = 10\n"));
  auto seqs = send_events(b.ingest_port(), 10, "n");
  ASSERT_TRUE(peer.wait_lines(10, 20s)) << b.log() << peer.log();
  auto more = send_events(b.ingest_port(), 25, "n");  // three more batches: three more connections
  seqs.insert(seqs.end(), more.begin(), more.end());
  ASSERT_TRUE(peer.wait_lines(35, 20s)) << b.log() << peer.log();
  EXPECT_EQ(seqs_of(peer.lines()), seqs) << "each event once, in order";
  EXPECT_NE(peer.lines()[0].find("\"data\":{\"n\":0}"), std::string::npos) << peer.lines()[0];
  expect_clean_stop(b);
  Summary s = summary(b.log());
  EXPECT_GE(s.handshakes, 2) << b.log();
  EXPECT_GE(s.resumed, 1) << "later connections resume the saved session\n" << b.log();
  EXPECT_EQ(s.errors, 0);
  EXPECT_EQ(s.rejected, 0);
  EXPECT_EQ(s.timeouts, 0);
  EXPECT_GE(peer.counts().resumed, 1);
  EXPECT_EQ(peer.counts().failed, 0) << peer.log();
}

TEST_F(Tls, KeepAliveCarriesManyBatchesOverOneHandshake) {
  TlsPeer peer(certs());
  ASSERT_TRUE(peer.ok()) << peer.log();
  Bulkhead b(sink_toml(peer.url(), key("ca_file", certs().crt("ca")) + "batch_events = 10\n"));
  auto seqs = send_events(b.ingest_port(), 10, "n");
  ASSERT_TRUE(peer.wait_lines(10, 20s)) << b.log() << peer.log();
  auto more = send_events(b.ingest_port(), 25, "n");  // three more batches on the same connection
  seqs.insert(seqs.end(), more.begin(), more.end());
  ASSERT_TRUE(peer.wait_lines(35, 20s)) << b.log() << peer.log();
  EXPECT_EQ(seqs_of(peer.lines()), seqs);
  expect_clean_stop(b);
  EXPECT_EQ(summary(b.log()).handshakes, 1) << b.log();
  EXPECT_EQ(peer.counts().handshakes, 1);
}

TEST_F(Tls, IpLiteralHostIsCheckedAgainstTheIpAddressSan) {
  TlsPeer peer(certs());
  ASSERT_TRUE(peer.ok()) << peer.log();
  Bulkhead b(sink_toml(peer.url("127.0.0.1"), key("ca_file", certs().crt("ca"))));
  auto seqs = send_events(b.ingest_port(), 3, "n");
  ASSERT_TRUE(peer.wait_lines(3, 20s)) << b.log() << peer.log();
  EXPECT_EQ(seqs_of(peer.lines()), seqs);
  expect_clean_stop(b);
}

TEST_F(Tls, WrongCaIsRefusedRetriedCountedAndNothingIsDelivered) {
  TlsPeer peer(certs());
  ASSERT_TRUE(peer.ok()) << peer.log();
  Bulkhead b(sink_toml(peer.url(), key("ca_file", certs().crt("ca2"))));
  expect_refused(peer, b, "server certificate not signed by a trusted CA");
  Summary s = summary(b.log());
  EXPECT_GE(s.rejected, 3) << b.log();
  EXPECT_EQ(s.handshakes, 0);
  EXPECT_EQ(s.errors, 0);
}

TEST_F(Tls, ExpiredCertificateIsRefused) {
  TlsPeer peer(certs(), "expired");
  ASSERT_TRUE(peer.ok()) << peer.log();
  Bulkhead b(sink_toml(peer.url(), key("ca_file", certs().crt("ca"))));
  expect_refused(peer, b, "server certificate expired");
  EXPECT_GE(summary(b.log()).rejected, 3) << b.log();
}

TEST_F(Tls, WrongHostNameIsRefused) {
  TlsPeer peer(certs(), "wronghost");
  ASSERT_TRUE(peer.ok()) << peer.log();
  Bulkhead b(sink_toml(peer.url(), key("ca_file", certs().crt("ca"))));
  expect_refused(peer, b, "server certificate not issued for this host (localhost)");
  EXPECT_GE(summary(b.log()).rejected, 3) << b.log();
}

TEST_F(Tls, WrongIpAddressIsRefused) {
  TlsPeer peer(certs(), "wronghost");  // no iPAddress SAN at all
  ASSERT_TRUE(peer.ok()) << peer.log();
  Bulkhead b(sink_toml(peer.url("127.0.0.1"), key("ca_file", certs().crt("ca"))));
  expect_refused(peer, b, "server certificate not issued for this host (127.0.0.1)");
}

TEST_F(Tls, VerifyOffDeliversToAnyCertificateWithAWarning) {
  TlsPeer peer(certs(), "wronghost");
  ASSERT_TRUE(peer.ok()) << peer.log();
  Bulkhead b(sink_toml(peer.url(), "tls_verify = false\n"));
  auto seqs = send_events(b.ingest_port(), 4, "n");
  ASSERT_TRUE(peer.wait_lines(4, 20s)) << b.log() << peer.log();
  EXPECT_EQ(seqs_of(peer.lines()), seqs);
  expect_clean_stop(b);
  EXPECT_NE(b.log().find("tls_verify = false: the certificate and host name"), std::string::npos) << b.log();
}

TEST_F(Tls, MutualTlsDeliversWithTheClientCertificate) {
  TlsPeer peer(certs(), "server", TlsPeerMode::http, certs().crt("ca"));
  ASSERT_TRUE(peer.ok()) << peer.log();
  Bulkhead b(sink_toml(peer.url(), key("ca_file", certs().crt("ca")) + key("client_cert", certs().crt("client")) +
                                       key("client_key", certs().key("client"))));
  auto seqs = send_events(b.ingest_port(), 6, "n");
  ASSERT_TRUE(peer.wait_lines(6, 20s)) << b.log() << peer.log();
  EXPECT_EQ(seqs_of(peer.lines()), seqs);
  expect_clean_stop(b);
  EXPECT_EQ(peer.counts().failed, 0) << peer.log();
}

TEST_F(Tls, MutualTlsIsRefusedWithoutTheClientCertificate) {
  TlsPeer peer(certs(), "server", TlsPeerMode::http, certs().crt("ca"));
  ASSERT_TRUE(peer.ok()) << peer.log();
  Bulkhead b(sink_toml(peer.url(), key("ca_file", certs().crt("ca"))));
  expect_refused(peer, b, "the server sent fatal alert");
  Summary s = summary(b.log());
  EXPECT_GE(s.errors, 3) << b.log();
  EXPECT_EQ(s.rejected, 0);
}

TEST_F(Tls, GarbageFromTheServerIsAHandshakeError) {
  TlsPeer peer(certs(), "server", TlsPeerMode::garbage);
  ASSERT_TRUE(peer.ok()) << peer.log();
  Bulkhead b(sink_toml(peer.url(), key("ca_file", certs().crt("ca"))));
  expect_refused(peer, b, "not a TLS 1.2 server answer", false);
  EXPECT_GE(summary(b.log()).errors, 3) << b.log();
}

TEST_F(Tls, SilentServerHitsTheHandshakeTimeout) {
  TlsPeer peer(certs(), "server", TlsPeerMode::silent);
  ASSERT_TRUE(peer.ok()) << peer.log();
  Bulkhead b(sink_toml(peer.url(), key("ca_file", certs().crt("ca")) + "connect_timeout = \"300ms\"\n"));
  expect_refused(peer, b, "no handshake within connect_timeout", false);
  EXPECT_GE(summary(b.log()).timeouts, 3) << b.log();
}

TEST_F(Tls, UnreadableCaFileFailsStartUpWithTheReason) {
  Bulkhead b(sink_toml("https://localhost:1/x", key("ca_file", certs().dir() + "/missing.pem")), false);
  EXPECT_FALSE(b.start());
  auto code = b.child()->wait(10s);
  ASSERT_TRUE(code.has_value());
  EXPECT_NE(*code, 0);
  EXPECT_NE(b.log().find("missing.pem"), std::string::npos) << b.log();
}

}  // namespace
}  // namespace bh::test
