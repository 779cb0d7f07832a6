// Sink host names against the real binary: a name from /etc/hosts (`localhost`) delivers without
// any DNS traffic; a name that cannot be resolved does not stop start-up, is logged once, counted
// in /metrics, retried with backoff, and the runtime still drains and exits 0.
#include <gtest/gtest.h>

#include <string>
#include <thread>

#include "tests/support/eventually.hpp"
#include "tests/support/harness.hpp"
#include "tests/support/test_sink.hpp"

namespace bh::test {
namespace {
using namespace std::chrono_literals;

// The value of the first sample of `family` (any labels), or -1.
double metric(std::uint16_t admin_port, const std::string& family) {
  LineClient c;
  if (!c.connect(admin_port) || !c.send("GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")) return -1;
  while (auto line = c.read_line(5s)) {
    if (line->rfind(family + "{", 0) == 0 || line->rfind(family + " ", 0) == 0)
      return std::stod(line->substr(line->rfind(' ') + 1));
  }
  return -1;
}

TEST(Dns, HostsFileNameDelivers) {
  CensusGuard census;
  TestSink sink;
  Bulkhead b("[[sink]]\nname = \"t\"\nurl = \"http://localhost:" + std::to_string(sink.port()) +
             "/ingest\"\nbackoff_base = \"20ms\"\nbackoff_cap = \"100ms\"\n");
  auto seqs = send_events(b.ingest_port(), 5, "n");
  ASSERT_EQ(seqs.size(), 5u);
  ASSERT_TRUE(sink.wait_delivered(5, 10s)) << b.log();
  EXPECT_EQ(sink.delivered_seqs(), seqs);
  EXPECT_EQ(metric(b.admin_port(), "bulkhead_sink_resolve_errors_total"), 0);
  EXPECT_EQ(metric(b.admin_port(), "bulkhead_sink_resolve_timeouts_total"), 0);
  // localhost comes from /etc/hosts: no lookup, nothing logged about DNS.
  EXPECT_EQ(b.log().find("looked up via DNS"), std::string::npos) << b.log();
  auto code = b.stop();
  ASSERT_TRUE(code.has_value()) << b.log();
  EXPECT_EQ(*code, 0) << b.log();
}

TEST(Dns, UnresolvableHostIsLoggedCountedAndRetried) {
  CensusGuard census;
  // `.invalid` never resolves (RFC 6761): NXDOMAIN from a reachable name server, a timeout without
  // one. Either way the sink cannot connect, and the runtime must run on regardless.
  Bulkhead b(
      "[[sink]]\nname = \"t\"\nurl = \"http://no-such-host.invalid:8080/ingest\"\nconnect_timeout = \"300ms\"\n"
      "backoff_base = \"20ms\"\nbackoff_cap = \"100ms\"\nbreaker_failures = 1000\n");
  auto seqs = send_events(b.ingest_port(), 3, "n");  // ingest works while the sink cannot
  ASSERT_EQ(seqs.size(), 3u);
  double failed = 0;
  EXPECT_TRUE(eventually([&] {
    failed = metric(b.admin_port(), "bulkhead_sink_resolve_errors_total") +
             metric(b.admin_port(), "bulkhead_sink_resolve_timeouts_total");
    return failed >= 3;  // the start-up lookup, then retries with backoff
  }, 10s, 50ms)) << failed << "\n" << b.log();
  EXPECT_EQ(metric(b.admin_port(), "bulkhead_sink_dns_stale_used_total"), 0);  // never resolved: nothing cached
  EXPECT_EQ(metric(b.admin_port(), "bulkhead_sink_delivered_total"), 0);
  const std::string log = b.log();
  const std::string warn = "sink t: cannot resolve no-such-host.invalid";
  ASSERT_NE(log.find(warn), std::string::npos) << log;
  EXPECT_EQ(log.find(warn, log.find(warn) + 1), std::string::npos) << "repeats are counted, not logged:\n" << log;
  auto code = b.stop();
  ASSERT_TRUE(code.has_value()) << b.log();
  EXPECT_EQ(*code, 0) << b.log();  // every pool back at zero, the lookup sockets included
}

}  // namespace
}  // namespace bh::test
