// Leak census suite (issue 7): for each public operation of a running `bulkhead` — ingest batches,
// HTTP ingest, deliveries, retries, dead-lettering and replay, TLS deliveries, console sessions,
// admin requests, refused connections — a census is taken before and after, from outside the
// process: its open FDs by kind (/proc/<pid>/fd: sockets, files, pipes, other), and from /metrics
// every pool's slots in use, live tasks, the store's open transaction, TLS connections and
// mbedTLS heap in use, SQLite heap in use. After each batch of the operation the census must be
// back to the baseline exactly (FDs, pools, tasks, transactions, TLS connections) or, for SQLite's
// and mbedTLS's heaps, not above the baseline taken after the same operation warmed them up (a
// page cache holds pages by design, and the TLS session kept for resumption changes size by a few
// bytes between a full and a resumed handshake; what must not happen is growth per operation).
// The last check of each test: SIGTERM, exit 0 with every pool at zero (App::run's own census).
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <map>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/eventually.hpp"
#include "tests/support/harness.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/mosquitto.hpp"
#include "tests/support/source_peers.hpp"
#include "tests/support/test_sink.hpp"
#include "tests/support/tls_peer.hpp"

namespace bh::test {
namespace {
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// ---- the census ------------------------------------------------------------------------------

struct Census {
  std::map<std::string, int> fds;       // kind -> count
  std::map<std::string, double> gauges;  // pool in use, tasks, transaction, TLS (exact)
  double sqlite_mem = 0;                 // bounded, see the file comment
  double tls_mem = 0;                    // bounded too: the saved session (for resumption) varies by a few bytes

  std::string diff(const Census& base) const {
    std::ostringstream o;
    for (const auto& [k, v] : fds)
      if (base.fds.count(k) == 0 || base.fds.at(k) != v) o << "fds." << k << ": " << (base.fds.count(k) ? base.fds.at(k) : 0) << " -> " << v << "\n";
    for (const auto& [k, v] : base.fds)
      if (fds.count(k) == 0) o << "fds." << k << ": " << v << " -> 0\n";
    for (const auto& [k, v] : gauges)
      if (base.gauges.count(k) == 0 || base.gauges.at(k) != v)
        o << k << ": " << (base.gauges.count(k) ? base.gauges.at(k) : -1) << " -> " << v << "\n";
    if (sqlite_mem > base.sqlite_mem) o << "sqlite heap grew: " << base.sqlite_mem << " -> " << sqlite_mem << "\n";
    if (tls_mem > base.tls_mem) o << "mbedTLS heap grew: " << base.tls_mem << " -> " << tls_mem << "\n";
    return o.str();
  }
};

std::map<std::string, int> fds_by_kind(int pid) {
  std::map<std::string, int> m;
  const std::string dir = "/proc/" + std::to_string(pid) + "/fd";
  DIR* d = ::opendir(dir.c_str());
  if (!d) return m;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;
    char target[512];
    const ssize_t n = ::readlink((dir + "/" + e->d_name).c_str(), target, sizeof target - 1);
    if (n <= 0) continue;
    const std::string t(target, static_cast<std::size_t>(n));
    const char* kind = t.rfind("socket:", 0) == 0 ? "sockets"
                       : t.rfind("pipe:", 0) == 0 ? "pipes"
                       : t.rfind("/", 0) == 0     ? "files"
                                                  : "other";  // anon_inode: epoll, eventfd, timerfd
    ++m[kind];
  }
  ::closedir(d);
  return m;
}

// GET /metrics over a fresh connection (Connection: close), read to EOF.
std::optional<std::string> scrape(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return std::nullopt;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string out;
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  const std::string req = "GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
  ok = ok && ::send(fd, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size());
  for (auto until = Clock::now() + slow(5000ms); ok && Clock::now() < until;) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    char b[16384];
    const ssize_t n = ::recv(fd, b, sizeof b, 0);
    if (n <= 0) break;
    out.append(b, static_cast<std::size_t>(n));
  }
  ::close(fd);
  if (!ok || out.rfind("HTTP/1.1 200", 0) != 0) return std::nullopt;
  return out;
}

std::optional<Census> take_census(Bulkhead& b) {
  Census c;
  c.fds = fds_by_kind(b.child()->pid());  // before the scrape's own connection exists
  auto text = scrape(b.admin_port());
  if (!text) return std::nullopt;
  static const std::regex line(R"(^(bulkhead_[a-z_]+)(\{[^}]*\})? ([0-9.e+-]+)$)");
  std::istringstream in(*text);
  for (std::string l; std::getline(in, l);) {
    std::smatch m;
    if (!std::regex_match(l, m, line)) continue;
    const std::string name = m[1], labels = m[2];
    const double v = std::stod(m[3]);
    if (name == "bulkhead_pool_in_use" || name == "bulkhead_pool_waiting" || name == "bulkhead_tasks_live" ||
        name == "bulkhead_store_in_transaction" || name == "bulkhead_tls_connections_active" ||
        name == "bulkhead_ingest_connections_open")
      c.gauges[name + labels] = v;
    else if (name == "bulkhead_sqlite_memory_used_bytes")
      c.sqlite_mem = v;
    else if (name == "bulkhead_tls_memory_bytes")
      c.tls_mem = v;
  }
  if (c.gauges.count("bulkhead_tasks_live") == 0) return std::nullopt;
  return c;
}

// Waits (bounded) for the census to come back to `base`; "" when it did, else the difference.
std::string settle_to(Bulkhead& b, const Census& base, std::chrono::milliseconds timeout = 5000ms) {
  std::string last = "no census";
  const bool back = eventually([&] {
    auto c = take_census(b);
    if (c) last = c->diff(base);
    return c && last.empty();
  }, timeout, 50ms);
  return back ? "" : last;
}

// Runs `op` once to warm caches, takes the baseline, then runs it `rounds` times checking the
// census after each. Ends with a clean SIGTERM exit.
// Twice: the first TLS connection does a full handshake and the second resumes, after which the
// saved session has its steady size; SQLite's cache is kept small (kSmallCache) so the warm-up fills it.
template <typename Op>
void census_rounds(Bulkhead& b, Op op, int rounds = 4) {
  ASSERT_NO_FATAL_FAILURE(op(0));
  ASSERT_NO_FATAL_FAILURE(op(0));
  // The baseline: once the warm-up's connections have finished closing (no ingest or TLS
  // connection open, no transaction) and the census no longer changes from one look to the next.
  Census base;
  std::optional<Census> prev;
  std::string last = "no census";
  const bool quiet = eventually([&] {
    auto c = take_census(b);
    if (!c) return false;
    auto zero = [&](const char* g) { return c->gauges.count(g) == 0 || c->gauges.at(g) == 0; };
    const bool idle = zero("bulkhead_store_in_transaction") && zero("bulkhead_tls_connections_active") &&
                      zero("bulkhead_ingest_connections_open");
    const bool stable = prev && c->diff(*prev).empty();
    last = prev ? c->diff(*prev) : "first look";
    prev = c;
    if (!idle || !stable) return false;
    base = *c;
    return true;
  }, 5000ms, 50ms);
  ASSERT_TRUE(quiet) << "the warm-up never settled: " << last << b.log();
  for (int i = 1; i <= rounds; ++i) {
    ASSERT_NO_FATAL_FAILURE(op(i));
    const std::string d = settle_to(b, base);
    EXPECT_EQ(d, "") << "round " << i << ": the census did not return to its baseline\n" << b.log();
  }
  auto code = b.stop(slow(20000ms));
  ASSERT_TRUE(code.has_value()) << b.log();
  EXPECT_EQ(*code, 0) << b.log();
  EXPECT_NE(b.log().find("0 pool(s) not at zero"), std::string::npos) << b.log();
}

// SQLite's page cache at its minimum, so that the warm-up rounds fill it (a cache that is still
// filling is growth by design, not a leak).
const std::string kSmallCache = "[store]\ncache_kib = 64\n";

std::string sink_toml(const std::string& url, const std::string& extra = "") {
  return kSmallCache + "[[sink]]\nname = \"t\"\nurl = \"" + url + "\"\nbackoff_base = \"20ms\"\nbackoff_cap = \"100ms\"\n" + extra;
}

// One HTTP exchange on a fresh connection; the status code (0 on failure).
int http(std::uint16_t port, const std::string& raw) {
  LineClient c;
  if (!c.connect(port)) return 0;
  if (!c.send(raw)) return 0;
  auto l = c.read_line(slow(10000ms));
  if (!l || l->size() < 12) return 0;
  return std::stoi(l->substr(9, 3));
}

// ---- the operations ----------------------------------------------------------------------------

TEST(Leak, IngestBatchesAndBadLines) {
  Bulkhead b(kSmallCache);
  census_rounds(b, [&](int) {
    send_events(b.ingest_port(), 500);
    // Bad, oversized and blank lines on a second connection, then an abrupt close mid-line.
    LineClient c;
    ASSERT_TRUE(c.connect(b.ingest_port()));
    ASSERT_TRUE(c.send("nope\n\n{\"a\":" + std::string(70000, '1') + "}\n{\"ok\":1}\n"));
    auto lines = c.read_lines(3, slow(10000ms));
    ASSERT_EQ(lines.size(), 3u);
    EXPECT_EQ(lines[0].rfind("err bad_json", 0), 0u) << lines[0];
    EXPECT_EQ(lines[1].rfind("err too_large", 0), 0u);
    EXPECT_EQ(lines[2].rfind("ok ", 0), 0u);
    ASSERT_TRUE(c.send("{\"half\":"));
    c.close();
  });
}

TEST(Leak, RefusedConnectionsBeyondThePool) {
  Bulkhead b(kSmallCache + "[pools]\ningest_conn = 2\n");
  census_rounds(b, [&](int) {
    std::vector<LineClient> cs(5);
    for (auto& c : cs) ASSERT_TRUE(c.connect(b.ingest_port()));
    int refused = 0;
    for (auto& c : cs) {
      ASSERT_TRUE(c.send("{\"x\":1}\n"));
      auto l = c.read_line(slow(5000ms));
      if (l && *l == "err busy connection limit") ++refused;
    }
    EXPECT_EQ(refused, 3);
  });
}

TEST(Leak, HttpIngestAndMetrics) {
  Bulkhead b(kSmallCache);
  census_rounds(b, [&](int) {
    const std::string body = "{\"a\":1}\n{\"a\":2}\nbad\n";
    EXPECT_EQ(http(b.admin_port(), "POST /v1/events HTTP/1.1\r\nHost: t\r\nContent-Length: " + std::to_string(body.size()) +
                                       "\r\nConnection: close\r\n\r\n" + body),
              200);
    EXPECT_EQ(http(b.admin_port(), "GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"), 200);
    EXPECT_EQ(http(b.admin_port(), "GARBAGE\r\n\r\n"), 400);
    EXPECT_EQ(http(b.admin_port(), "GET /v1/dlq HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"), 200);
  });
}

TEST(Leak, DeliveriesAndRetries) {
  // Every other POST is answered 503: each round has deliveries and retries.
  TestSink sink([](std::size_t n, const SinkRequest&) { return n % 2 == 0 ? SinkAnswer{503} : SinkAnswer{200}; });
  Bulkhead b(sink_toml(sink.url(), "batch_events = 50\n"));
  std::size_t total = 0;
  census_rounds(b, [&](int) {
    total += send_events(b.ingest_port(), 200).size();
    ASSERT_TRUE(sink.wait_delivered(total, slow(20000ms))) << b.log();
  });
}

TEST(Leak, DeadLetteringAndReplay) {
  // The first POST of each round is refused with 400 (a dead letter), then it is replayed.
  std::atomic<int> refuse{1};
  TestSink sink([&](std::size_t, const SinkRequest&) { return refuse.exchange(0) ? SinkAnswer{400} : SinkAnswer{200}; });
  Bulkhead b(sink_toml(sink.url(), "batch_events = 1000\n"));
  std::size_t total = 0;
  census_rounds(b, [&](int) {
    refuse = 1;
    auto seqs = send_events(b.ingest_port(), 20);
    // The sink answered 400; the dead letter exists once bulkhead has read that answer: the replay
    // answers 404 until then.
    const std::string replay = "POST /v1/dlq/replay?seq=" + std::to_string(seqs.front()) +
                               " HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    int status = 0;
    for (auto until = Clock::now() + slow(10000ms); Clock::now() < until; std::this_thread::sleep_for(10ms))
      if ((status = http(b.admin_port(), replay)) == 200) break;
    EXPECT_EQ(status, 200);
    total += seqs.size();
    ASSERT_TRUE(sink.wait_delivered(total, slow(20000ms))) << b.log();
  });
}

TEST(Leak, TlsDeliveries) {
  // The peer closes after each answer: every round opens TLS connections and must end them all.
  TlsCerts certs;
  ASSERT_TRUE(certs.ok()) << certs.error();
  TlsPeer peer(certs, "server", TlsPeerMode::http_close);
  ASSERT_TRUE(peer.ok()) << peer.log();
  Bulkhead b(sink_toml(peer.url(), "ca_file = \"" + certs.crt("ca") + "\"\nbatch_events = 100\n"));
  std::size_t total = 0;
  census_rounds(b, [&](int) {
    total += send_events(b.ingest_port(), 100).size();
    ASSERT_TRUE(peer.wait_lines(total, slow(20000ms))) << b.log() << peer.log();
  });
}

TEST(Leak, MqttDeliveries) {
  // An MQTT sink keeps one connection (its session); every round the broker restarts, so the
  // round loses that connection mid-session and makes a new one: the census must be back to the
  // one socket, the window empty.
  if (!have_mosquitto()) GTEST_SKIP() << "mosquitto not installed (toolchain/deps.sh)";
  Mosquitto broker;
  ASSERT_TRUE(broker.start()) << broker.log();
  Subscriber sub(broker, "leak/#");
  ASSERT_TRUE(sub.ready()) << broker.log();
  ASSERT_TRUE(sub.persisted()) << broker.log();
  Bulkhead b(std::string(kSmallCache) + "[[sink]]\nname = \"m\"\ntype = \"mqtt\"\nurl = \"" + broker.url() +
             "\"\ntopic = \"leak/events\"\nbackoff_base = \"20ms\"\nbackoff_cap = \"200ms\"\nbreaker_recovery = \"200ms\"\n");
  std::size_t total = 0;
  census_rounds(b, [&](int round) {
    if (round > 0) {
      broker.stop();
      ASSERT_TRUE(broker.start()) << broker.log();
    }
    total += send_events(b.ingest_port(), 200).size();
    ASSERT_TRUE(sub.wait_distinct(total, slow(20000ms))) << sub.seqs().size() << " of " << total << "\n" << b.log();
    ASSERT_TRUE(eventually([&] { return metric(b, "bulkhead_sink_mqtt_inflight{sink=\"m\"}") == 0; }, slow(5000ms)));
  });
}

TEST(Leak, ConsoleSessions) {
  Bulkhead b(kSmallCache);
  const std::string path = b.dir() + "/var/console.sock";
  census_rounds(b, [&](int) {
    for (const char* cmd : {"status\n", "pools\n", "tasks\n", "store\n", "fds\n", "dlq list\n", "frobnicate\n"}) {
      LineClient c;
      ASSERT_TRUE(c.connect_unix(path));
      ASSERT_TRUE(c.send(cmd));
      ASSERT_TRUE(c.read_line(slow(5000ms)).has_value()) << cmd;
      c.close();  // mid-answer for the long ones
    }
  });
}

}  // namespace
}  // namespace bh::test
