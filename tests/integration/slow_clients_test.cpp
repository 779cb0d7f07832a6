// Slow and stalled clients against the real binary, on every listener: ingest (TCP and Unix),
// admin HTTP, the console's control socket. A line or request head trickled byte by byte loses
// its slot at its deadline however steady the trickle, a stalled TLS handshake at its listener's
// handshake_timeout; a pool full of stalled clients still
// serves a well-behaved client within seconds (the longest-stalled connection is evicted,
// platform/transport/acceptor.hpp); every such close is counted on /metrics
// (bulkhead_listener_closes_total{listener,reason}) and shown by the console's `status`; FDs come
// back to the baseline and the process exits clean. Time passes on the child's fake clock
// (`clock advance`), never by sleeping.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "tests/support/census.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/fake_clock.hpp"
#include "tests/support/harness.hpp"
#include "tests/support/tls_peer.hpp"

namespace bh::test {
namespace {
using namespace std::chrono_literals;
using Steady = std::chrono::steady_clock;

// The value of one /metrics series (name and labels as written), -1 if absent or no answer.
double metric(const Bulkhead& b, const std::string& series) {
  LineClient c;
  if (!c.connect(b.admin_port()) || !c.send("GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")) return -1;
  while (auto l = c.read_line(3s))
    if (l->rfind(series + " ", 0) == 0) return std::stod(l->substr(series.size() + 1));
  return -1;
}
double closes(const Bulkhead& b, const std::string& listener, const std::string& reason) {
  return metric(b, "bulkhead_listener_closes_total{listener=\"" + listener + "\",reason=\"" + reason + "\"}");
}

int child_fds(int pid) {
  int n = 0;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); ++it)
    ++n;
  return n;
}
// The child's FD count once two readings in a row agree (the watchdog's /proc reads hold one for
// a moment).
int settled_fds(Bulkhead& b) {
  int last = -1, now = -1;
  EXPECT_TRUE(eventually([&] {
    now = child_fds(b.child()->pid());
    const bool same = now == last;
    last = now;
    return same;
  }, 3000ms, 20ms));
  return now;
}
void expect_fds_back(Bulkhead& b, int base) {
  int now = -1;
  EXPECT_TRUE(eventually([&] { return (now = child_fds(b.child()->pid())) == base; }, 3000ms))
      << now << " FDs, baseline " << base;
}

std::string console_sock(const Bulkhead& b) { return b.dir() + "/var/console.sock"; }
// `bulkhead console <cmd>` output (exit 0), or "" if the console did not answer.
std::string console(const Bulkhead& b, const std::string& cmd) {
  auto [rc, out] = run_bulkhead({"console", "--socket", console_sock(b), cmd});
  return rc == 0 ? out : std::string();
}
// The `pools` row of pool `name` shows `in_use/limit`.
bool pool_shows(const Bulkhead& b, const std::string& name, const std::string& use) {
  const std::string out = console(b, "pools");
  for (std::size_t at = 0; (at = out.find(name + " ", at)) != std::string::npos; at += name.size())
    if ((at == 0 || out[at - 1] == '\n') && out.find(" " + use + " ", at) < out.find('\n', at)) return true;
  return false;
}

// ---- ingest --------------------------------------------------------------------------------------

TEST(SlowClients, IngestLineTrickledByteByByteIsCutAtLineTimeout) {
  // Times on the test's clock, long enough that the real time the test takes (a slow sanitizer
  // build, a loaded machine) never adds up to a deadline.
  Bulkhead b("[ingest]\nline_timeout = \"1h\"\nidle_timeout = \"1d\"\n");
  ASSERT_TRUE(log_shows(b, kRunning)) << b.log();
  LineClient c;
  ASSERT_TRUE(c.connect(b.ingest_port()));
  ASSERT_TRUE(c.send("{\"a\":"));
  for (int i = 0; i < 3; ++i) {  // a byte every 15 minutes: 45 minutes into the line, still open
    ASSERT_TRUE(advance_clock(b, std::chrono::minutes(15)));
    ASSERT_TRUE(c.send("1"));
  }
  EXPECT_FALSE(c.wait_closed(200ms)) << "closed before its line deadline";
  ASSERT_TRUE(advance_clock(b, std::chrono::minutes(20)));  // 65 minutes since the line's first byte
  (void)c.send("2");
  EXPECT_TRUE(c.wait_closed(3s)) << "a trickled line kept its slot past line_timeout";
  EXPECT_EQ(closes(b, "ingest", "line_timeout"), 1.0);
  EXPECT_EQ(closes(b, "ingest", "idle"), 0.0);
  // A producer is unaffected: its lines are whole.
  EXPECT_EQ(send_events(b.ingest_port(), 3, "p").size(), 3u);
  expect_clean_stop(b);
}

TEST(SlowClients, IngestFullPoolOfStalledClientsStillServesProducers) {
  TempDir sockets;
  const std::string unix_path = sockets.file("ingest.sock");
  Bulkhead b("[pools]\ningest_conn = 3\n[ingest]\nunix_socket = \"" + unix_path + "\"\n");
  ASSERT_TRUE(log_shows(b, kRunning)) << b.log();
  const int base = settled_fds(b);

  // The pool fills with clients that sent part of a line and stopped: two on TCP, one on Unix.
  std::vector<LineClient> stalled(3);
  ASSERT_TRUE(stalled[0].connect(b.ingest_port()));
  ASSERT_TRUE(stalled[0].send("{\"stalled\":"));
  ASSERT_TRUE(stalled[1].connect_unix(unix_path));
  ASSERT_TRUE(stalled[1].send("{\"stalled\":"));
  ASSERT_TRUE(stalled[2].connect(b.ingest_port()));
  ASSERT_TRUE(stalled[2].send("{\"st"));
  ASSERT_TRUE(eventually([&] { return pool_shows(b, "ingest_conn", "3/3"); })) << console(b, "pools");
  ASSERT_TRUE(advance_clock(b, 1s));  // all three stalled past the eviction's minimum

  // Each producer is served at once, taking the longest-stalled client's slot; the producers
  // keep their connections, so every stalled client goes.
  std::vector<LineClient> producers(3);
  for (std::size_t i = 0; i < producers.size(); ++i) {
    const auto t0 = Steady::now();
    ASSERT_TRUE(i == 1 ? producers[i].connect_unix(unix_path) : producers[i].connect(b.ingest_port()));
    ASSERT_TRUE(producers[i].send("{\"producer\":" + std::to_string(i) + "}\n"));
    auto reply = producers[i].read_line(3s);
    ASSERT_TRUE(reply.has_value()) << "producer " << i << " not served\n" << b.log();
    EXPECT_EQ(reply->rfind("ok ", 0), 0u) << *reply;
    EXPECT_LT(Steady::now() - t0, slow(3000ms));
    // One more stalled client gone (which one depends on the order their bytes were read).
    std::vector<bool> closed(stalled.size());
    EXPECT_TRUE(eventually([&] {
      std::size_t n = 0;
      for (std::size_t k = 0; k < stalled.size(); ++k) n += (closed[k] = closed[k] || stalled[k].wait_closed(10ms));
      return n == i + 1;
    }, 3000ms)) << "producer " << i << " did not take exactly one stalled client's slot";
  }
  EXPECT_EQ(closes(b, "ingest", "evicted"), 3.0);
  EXPECT_EQ(metric(b, "bulkhead_ingest_connections_refused_total"), 0.0);
  // The producers' connections still work.
  for (auto& p : producers) {
    ASSERT_TRUE(p.send("{\"again\":1}\n"));
    auto r = p.read_line();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->rfind("ok ", 0), 0u);
  }
  for (auto& c : stalled) c.close();
  for (auto& p : producers) p.close();
  expect_fds_back(b, base);
  expect_clean_stop(b);
}

// ---- admin HTTP ----------------------------------------------------------------------------------

TEST(SlowClients, AdminFullPoolOfStalledHeadsStillServesAScrape) {
  // Deadlines on the test's clock, far beyond the real time the test takes (see the ingest test).
  Bulkhead b("[watchdog]\nmemory_budget = \"1GiB\"\n[pools]\nadmin_conn = 2\n[admin]\ntimeout = \"10m\"\nheader_timeout = \"5m\"\n");
  ASSERT_TRUE(log_shows(b, kRunning)) << b.log();
  ASSERT_TRUE(eventually([&] { return metric(b, "bulkhead_healthy") >= 0; }));  // the admin port answers
  const int base = settled_fds(b);

  std::vector<LineClient> stalled(2);
  for (auto& s : stalled) {
    ASSERT_TRUE(s.connect(b.admin_port()));
    ASSERT_TRUE(s.send("GET /healthz HTTP/1.1\r\nHost: t\r\n"));  // the head never ends
  }
  ASSERT_TRUE(eventually([&] { return pool_shows(b, "admin_conn", "2/2"); })) << console(b, "pools");
  ASSERT_TRUE(advance_clock(b, 500ms));  // stalled past the eviction's minimum, not their head deadline

  const auto t0 = Steady::now();
  LineClient good;
  ASSERT_TRUE(good.connect(b.admin_port()));
  ASSERT_TRUE(good.send("GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"));
  auto status = good.read_line(3s);
  ASSERT_TRUE(status.has_value()) << b.log();
  EXPECT_EQ(status->rfind("HTTP/1.1 200", 0), 0u) << *status;
  EXPECT_LT(Steady::now() - t0, slow(3000ms));
  EXPECT_TRUE(stalled[0].wait_closed(3s)) << "the longest-stalled head was not evicted";
  good.close();

  // The other one reaches its head deadline: 408, closed.
  ASSERT_TRUE(advance_clock(b, std::chrono::minutes(6)));
  auto timeout = stalled[1].read_line(3s);
  ASSERT_TRUE(timeout.has_value());
  EXPECT_EQ(timeout->rfind("HTTP/1.1 408", 0), 0u) << *timeout;
  EXPECT_TRUE(eventually([&] { return stalled[1].wait_closed(100ms); }, 3000ms));

  EXPECT_EQ(closes(b, "admin", "evicted"), 1.0);
  EXPECT_EQ(closes(b, "admin", "header_timeout"), 1.0);
  EXPECT_EQ(metric(b, "bulkhead_admin_connections_refused_total"), 0.0);
  for (auto& s : stalled) s.close();
  expect_fds_back(b, base);
  expect_clean_stop(b);
}

// ---- TLS handshakes ------------------------------------------------------------------------------

// A client that starts a TLS handshake and stalls (a record header, then nothing) holds its slot
// until its listener's handshake_timeout and no longer: ingest and admin, each on its own key.
TEST(SlowClients, StalledTlsHandshakeIsCutAtEachListenersHandshakeTimeout) {
  TlsCerts certs;
  ASSERT_TRUE(certs.ok()) << certs.error();
  const std::string tls = "tls_cert = \"" + certs.crt("server") + "\"\ntls_key = \"" + certs.key("server") + "\"\n";
  // Deadlines on the test's clock, far beyond the real time the test takes (see the ingest test).
  Bulkhead b("[pools]\ningest_conn = 4\nadmin_conn = 4\n[ingest]\nidle_timeout = \"1d\"\nhandshake_timeout = \"5m\"\n" + tls +
             "[admin]\ntimeout = \"10m\"\nheader_timeout = \"10m\"\nhandshake_timeout = \"8m\"\n" + tls);
  ASSERT_TRUE(log_shows(b, kRunning)) << b.log();
  const int base = settled_fds(b);
  LineClient ingest, admin;
  const std::string record_header("\x16\x03\x01", 3);  // a handshake record's first bytes
  ASSERT_TRUE(ingest.connect(b.ingest_port()));
  ASSERT_TRUE(ingest.send(record_header));
  ASSERT_TRUE(admin.connect(b.admin_port()));
  ASSERT_TRUE(admin.send(record_header));
  ASSERT_TRUE(eventually([&] { return pool_shows(b, "ingest_conn", "1/4") && pool_shows(b, "admin_conn", "1/4"); }))
      << console(b, "pools");

  ASSERT_TRUE(advance_clock(b, std::chrono::minutes(4)));
  EXPECT_FALSE(ingest.wait_closed(200ms)) << "cut before [ingest] handshake_timeout";
  ASSERT_TRUE(advance_clock(b, std::chrono::minutes(2)));  // 6 minutes into both handshakes
  EXPECT_TRUE(ingest.wait_closed(3s)) << "a stalled handshake kept its ingest slot past handshake_timeout";
  EXPECT_FALSE(admin.wait_closed(200ms)) << "cut before [admin] handshake_timeout";
  ASSERT_TRUE(advance_clock(b, std::chrono::minutes(3)));  // 9 minutes
  EXPECT_TRUE(admin.wait_closed(3s)) << "a stalled handshake kept its admin slot past handshake_timeout";

  EXPECT_NE(b.log().find("ingest: TLS handshake refused (timeout)"), std::string::npos) << b.log();
  EXPECT_NE(b.log().find("admin: TLS handshake refused (timeout)"), std::string::npos) << b.log();
  ingest.close();
  admin.close();
  expect_fds_back(b, base);
  expect_clean_stop(b);
}

// ---- console control socket ----------------------------------------------------------------------

TEST(SlowClients, ConsoleFullPoolOfStalledSessionsStillServesAnOperator) {
  Bulkhead b("[pools]\nconsole_session = 2\n[console]\nline_timeout = \"1h\"\n");
  ASSERT_TRUE(log_shows(b, kRunning)) << b.log();
  ASSERT_FALSE(console(b, "version").empty()) << b.log();
  const int base = settled_fds(b);

  std::vector<LineClient> stalled(2);
  for (auto& s : stalled) {
    ASSERT_TRUE(s.connect_unix(console_sock(b)));
    ASSERT_TRUE(s.send("stat"));  // a command line that never ends
  }
  // Both slots taken: the operator's `clock advance` gets in by evicting the longest-stalled
  // session (once it has been stalled a moment); the clock then passes the other's line deadline.
  ASSERT_TRUE(advance_clock(b, std::chrono::minutes(61)));
  EXPECT_TRUE(stalled[0].wait_closed(3s)) << "the longest-stalled session was not evicted";
  EXPECT_TRUE(stalled[1].wait_closed(3s)) << "a trickled command line kept its session past line_timeout";

  // An operator is served, and `status` shows the closes.
  const auto t0 = Steady::now();
  std::string status;
  ASSERT_TRUE(eventually([&] { return !(status = console(b, "status")).empty(); }, 3000ms)) << b.log();
  EXPECT_LT(Steady::now() - t0, slow(3000ms));
  EXPECT_NE(status.find("console: line_timeout 1, evicted 1"), std::string::npos) << status;
  EXPECT_EQ(closes(b, "console", "evicted"), 1.0);
  EXPECT_EQ(closes(b, "console", "line_timeout"), 1.0);
  for (auto& s : stalled) s.close();
  expect_fds_back(b, base);
  expect_clean_stop(b);
}

}  // namespace
}  // namespace bh::test
