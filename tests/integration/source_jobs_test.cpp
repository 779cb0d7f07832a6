// The source jobs of issue #13 against the real binary and tests/support/peers/http_poll_peer.py:
// an Etherscan-style API whose answer is split at `select = "/result"`, filtered at the source and
// deduplicated by `/hash`, polled again and again with overlapping pages and across a `kill -9`
// and restart: each qualifying transfer is stored exactly once; the rate-limit answer (HTTP 200,
// "result" a string) is a failed poll that makes no event; an empty result is an empty poll. A
// second source decodes string-encoded JSON (Pusher's `data`) before filtering on it. Every run
// ends with exit 0, every pool at zero and no heap allocation after seal (the select, decode,
// filter and dedupe path included).
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/eventually.hpp"
#include "tests/support/harness.hpp"

namespace bh::test {
namespace {
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// (The helpers below mirror tests/integration/source_test.cpp's; kept local so the two files can
// change apart.)
std::string slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// http_poll_peer.py in a scratch directory; the answer is whatever set_mode() wrote last.
class PollPeer {
 public:
  explicit PollPeer(const std::string& mode) {
    set_mode(mode);
    child_ = std::make_unique<Child>(std::vector<std::string>{"/usr/bin/python3",
                                                              std::string(BH_SOURCE_DIR) + "/tests/support/peers/http_poll_peer.py",
                                                              dir_.path()},
                                     dir_.file("peer.log"));
    for (auto until = Clock::now() + slow(10s); Clock::now() < until && port_ == 0; std::this_thread::sleep_for(20ms)) {
      if (std::string p = slurp(dir_.file("port")); !p.empty()) port_ = static_cast<std::uint16_t>(std::stoi(p));
      if (!child_->running()) break;
    }
  }
  ~PollPeer() {
    if (child_ && child_->running()) {
      child_->signal(SIGKILL);
      child_->wait(5000ms);
    }
  }
  void set_mode(const std::string& m) {
    std::ofstream(dir_.file("mode.tmp")) << m << "\n";
    std::rename(dir_.file("mode.tmp").c_str(), dir_.file("mode").c_str());
  }
  std::size_t requests() const {
    std::string all = slurp(dir_.file("requests.log"));
    return static_cast<std::size_t>(std::count(all.begin(), all.end(), '\n'));
  }
  std::uint16_t port() const { return port_; }
  std::string log() const { return slurp(dir_.file("peer.log")); }

 private:
  TempDir dir_;
  std::unique_ptr<Child> child_;
  std::uint16_t port_ = 0;
};

double metric(const Bulkhead& b, const std::string& sample) {
  LineClient c;
  if (!c.connect(b.admin_port())) return -1;
  c.send("GET /metrics HTTP/1.0\r\nHost: t\r\n\r\n");
  std::string m;
  while (auto l = c.read_line(2000ms)) m += *l + "\n";
  auto at = m.find("\n" + sample + " ");
  return at == std::string::npos ? -1 : std::stod(m.substr(at + sample.size() + 2));
}

std::vector<std::string> rows(const std::string& db_path, const std::string& sql) {
  sqlite3* db = nullptr;
  std::vector<std::string> out;
  if (sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) return out;
  sqlite3_busy_timeout(db, 2000);
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) == SQLITE_OK) {
    while (sqlite3_step(st) == SQLITE_ROW) {
      const unsigned char* t = sqlite3_column_text(st, 0);
      out.emplace_back(t ? reinterpret_cast<const char*>(t) : "");
    }
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return out;
}

const std::string kRoomy = "[watchdog]\nmemory_budget = \"1GiB\"\n";

// One Etherscan-style transfer: `value` in units of 10^-6 (tokenDecimal 6).
std::string tx(const std::string& hash, const std::string& value) {
  return R"({"hash":")" + hash + R"(","from":"0xf","to":"0xme","value":")" + value + R"(","tokenDecimal":"6"})";
}
std::string page(const std::vector<std::string>& txs) {
  std::string r = R"({"status":"1","message":"OK","result":[)";
  for (std::size_t i = 0; i < txs.size(); ++i) r += (i ? ", " : "") + txs[i];
  return r + "]}";
}
// The peer's mode line: the peer reads it with Python's unicode_escape, so backslashes double.
std::string answer(const std::string& body) {
  std::string m = "noetag application/json ";
  for (char c : body) {
    if (c == '\\') m += '\\';
    m += c;
  }
  return m;
}

const std::string kEvents = "bulkhead_source_events_total{source=\"tokens\"}";
std::vector<std::string> stored_hashes(const Bulkhead& b) {
  return rows(b.db_path(), "SELECT json_extract(body, '$.hash') FROM events WHERE source = 'tokens' ORDER BY seq");
}

TEST(SourceJobs, OverlappingPagesAreStoredOnceAcrossKillAndRestart) {
  CensusGuard census;
  // The same latest transfers on every poll; 0xb2 is below the 1000-token threshold.
  const std::string p1 = page({tx("0xa1", "1500250000"), tx("0xb2", "999999999"), tx("0xc3", "2000000000")});
  PollPeer peer(answer(p1));
  ASSERT_NE(peer.port(), 0) << peer.log();
  Bulkhead b(kRoomy + "[[source]]\nname = \"tokens\"\ntype = \"http_poll\"\nurl = \"http://127.0.0.1:" +
                 std::to_string(peer.port()) +
                 "/api?module=account&action=tokentx\"\ninterval = \"100ms\"\nbackoff_base = \"20ms\"\n"
                 "backoff_cap = \"50ms\"\nbreaker_failures = 1000\nselect = \"/result\"\n"
                 "filter = \"decimal(/value, /tokenDecimal) >= 1000\"\ndedupe_key = [\"/hash\"]\ndedupe_window = 4\n");
  ASSERT_TRUE(eventually([&] { return metric(b, kEvents) == 2; })) << b.log();
  std::size_t seen = peer.requests();
  ASSERT_TRUE(eventually([&] { return peer.requests() >= seen + 5; })) << b.log();
  EXPECT_EQ(metric(b, kEvents), 2);  // the same page again and again: nothing new
  EXPECT_GE(metric(b, "bulkhead_source_deduped_total{source=\"tokens\"}"), 8);
  EXPECT_GE(metric(b, "bulkhead_source_filtered_total{source=\"tokens\"}"), 5);

  // A newer transfer on top; one duplicated inside the same answer.
  peer.set_mode(answer(page({tx("0xd4", "1000000000"), tx("0xd4", "1000000000"), tx("0xa1", "1500250000"),
                             tx("0xc3", "2000000000")})));
  ASSERT_TRUE(eventually([&] { return metric(b, kEvents) == 3; })) << b.log();

  // The rate-limit answer: HTTP 200, but no array at /result: failed polls, no event.
  peer.set_mode(answer(R"({"status":"0","message":"NOTOK","result":"Max rate limit reached"})"));
  ASSERT_TRUE(eventually([&] { return metric(b, "bulkhead_source_errors_total{source=\"tokens\",kind=\"select\"}") >= 3; }))
      << b.log();
  EXPECT_EQ(metric(b, kEvents), 3);
  EXPECT_GE(metric(b, "bulkhead_source_errors_total{source=\"tokens\",kind=\"select\"}"), 3);
  EXPECT_NE(b.log().find("select: the value at the pointer is not an array or object"), std::string::npos) << b.log();

  // An empty result is an empty poll: no failure.
  peer.set_mode(answer(R"({"status":"0","message":"No transactions found","result":[]})"));
  ASSERT_TRUE(eventually([&] { return metric(b, "bulkhead_source_breaker_consecutive_failures{source=\"tokens\"}") == 0; }))
      << b.log();
  const double failures = metric(b, "bulkhead_source_errors_total{source=\"tokens\",kind=\"select\"}");
  seen = peer.requests();
  ASSERT_TRUE(eventually([&] { return peer.requests() >= seen + 3; })) << b.log();
  EXPECT_EQ(metric(b, "bulkhead_source_errors_total{source=\"tokens\",kind=\"select\"}"), failures);

  // Overlapping pages while the process is killed at an arbitrary point, then restarted.
  peer.set_mode(answer(page({tx("0xe5", "5000000000"), tx("0xd4", "1000000000"), tx("0xa1", "1500250000")})));
  ASSERT_TRUE(eventually([&] { return metric(b, kEvents) == 4; })) << b.log();
  b.kill9();
  peer.set_mode(answer(page({tx("0xf6", "7000000000"), tx("0xe5", "5000000000"), tx("0xd4", "1000000000")})));
  ASSERT_TRUE(b.start()) << b.log();
  EXPECT_NE(b.log().find("source tokens: dedupe window 4 key(s), 4 loaded from the store"), std::string::npos) << b.log();
  ASSERT_TRUE(eventually([&] { return metric(b, kEvents) == 1; })) << b.log();  // only 0xf6 is new
  seen = peer.requests();
  ASSERT_TRUE(eventually([&] { return peer.requests() >= seen + 5; })) << b.log();
  EXPECT_EQ(stored_hashes(b), (std::vector<std::string>{"0xa1", "0xc3", "0xd4", "0xe5", "0xf6"}));
  // The window keeps the newest 4 keys (0xa1 evicted) and the table holds no more than that.
  EXPECT_GE(metric(b, "bulkhead_source_dedupe_evictions_total{source=\"tokens\"}"), 1);
  EXPECT_LE(std::stoi(rows(b.db_path(), "SELECT count(*) FROM dedupe WHERE source = 'tokens'")[0]), 4 + 4 / 8 + 1);
  expect_clean_stop(b);
}

TEST(SourceJobs, DecodedDataIsStoredAndFilteredOn) {
  CensusGuard census;
  // Pusher-like messages whose `data` is JSON text; one is not JSON text (kept as is, counted).
  const std::string body =
      R"({"messages":[{"event":"App\\Events\\StreamerIsLive","data":"{\"livestream\":{\"id\":7,\"title\":\"on \\\"air\\\"\"}}"},)"
      R"({"event":"pusher:pong","data":"{}"},)"
      R"({"event":"App\\Events\\StreamerIsLive","data":"not json"}]})";
  PollPeer peer(answer(body));
  ASSERT_NE(peer.port(), 0) << peer.log();
  Bulkhead b(kRoomy + "[[source]]\nname = \"live\"\ntype = \"http_poll\"\nurl = \"http://127.0.0.1:" +
             std::to_string(peer.port()) + "/feed\"\ninterval = \"1h\"\nselect = \"/messages\"\ndecode = [\"/data\"]\n"
             "filter = \"!starts_with(/event, \\\"pusher:\\\")\"\n");
  ASSERT_TRUE(eventually([&] { return metric(b, "bulkhead_source_events_total{source=\"live\"}") == 2; })) << b.log();
  EXPECT_EQ(rows(b.db_path(), "SELECT body FROM events WHERE source = 'live' ORDER BY seq"),
            (std::vector<std::string>{
                R"({"event":"App\\Events\\StreamerIsLive","data":{"livestream":{"id":7,"title":"on \"air\""}}})",
                R"({"event":"App\\Events\\StreamerIsLive","data":"not json"})"}));
  EXPECT_EQ(metric(b, "bulkhead_source_decode_errors_total{source=\"live\"}"), 1);
  EXPECT_EQ(metric(b, "bulkhead_source_filtered_total{source=\"live\"}"), 1);
  expect_clean_stop(b);
}

TEST(SourceJobs, BadJobKeysAreConfigErrorsWithTheirKey) {
  for (const std::string& keys : {std::string("select = \"result\"\n"), std::string("decode = [\"/a~2\"]\n"),
                                  std::string("filter = \"/a == \"\n"), std::string("dedupe_key = [\"/\", \"/a\"]\n")}) {
    TempDir dir;
    std::ofstream(dir.file("c.toml")) << "[[source]]\nname = \"x\"\ntype = \"http_poll\"\nurl = \"http://127.0.0.1:1/\"\n" << keys;
    auto [code, out] = run_bulkhead({"check-config", dir.file("c.toml")});
    EXPECT_EQ(code, 2) << keys << out;
    EXPECT_NE(out.find("source[0]." + keys.substr(0, keys.find(' '))), std::string::npos) << keys << out;
  }
}

}  // namespace
}  // namespace bh::test
