// docs/wire.md §2 against the real binary and a real loopback HTTP sink: envelopes and headers, retry
// with order kept, dead letters, timeouts, connection limits, restart from the cursor, and
// kill -9 under load with every acked event delivered.
#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>

#include <set>
#include <string>
#include <thread>

#include "tests/support/eventually.hpp"
#include "tests/support/fake_clock.hpp"
#include "tests/support/harness.hpp"
#include "tests/support/test_sink.hpp"

namespace bh::test {
namespace {
using namespace std::chrono_literals;

std::string sink_toml(const TestSink& s, const std::string& extra = "") {
  return "[[sink]]\nname = \"t\"\nurl = \"" + s.url() + "\"\nbackoff_base = \"20ms\"\nbackoff_cap = \"100ms\"\n" + extra;
}

int64_t query_int(const std::string& db_path, const std::string& sql) {
  sqlite3* db = nullptr;
  sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
  sqlite3_stmt* st = nullptr;
  int64_t v = -1;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
    v = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(db);
  return v;
}

TEST(Delivery, EnvelopesAndHeadersFollowTheContract) {
  TestSink sink;
  Bulkhead b(sink_toml(sink));
  LineClient c;
  ASSERT_TRUE(c.connect(b.ingest_port()));
  ASSERT_TRUE(c.send("{\"msg\":\"hello\",\"n\":[1,2]}\n"));
  auto ack = c.read_line();
  ASSERT_TRUE(ack.has_value());
  std::uint64_t seq = std::stoull(ack->substr(3));
  ASSERT_TRUE(sink.wait_delivered(1, 10s)) << b.log();
  auto reqs = sink.requests();
  ASSERT_GE(reqs.size(), 1u);
  const SinkRequest& r = reqs[0];
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.target, "/ingest");
  EXPECT_EQ(r.content_type, "application/x-ndjson");
  EXPECT_EQ(r.first_seq, seq);
  EXPECT_EQ(r.last_seq, seq);
  ASSERT_EQ(r.lines.size(), 1u);
  const std::string& env = r.lines[0];
  std::string prefix = "{\"seq\":" + std::to_string(seq) + ",\"ts\":";
  EXPECT_EQ(env.rfind(prefix, 0), 0u) << env;
  std::string suffix = ",\"source\":\"ingest\",\"data\":{\"msg\":\"hello\",\"n\":[1,2]}}";
  ASSERT_GT(env.size(), suffix.size());
  EXPECT_EQ(env.substr(env.size() - suffix.size()), suffix) << env;
  long long ts = std::stoll(env.substr(prefix.size()));
  long long now = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  EXPECT_LE(std::llabs(now - ts), 60000) << "ts is unix-ms at ingest";
  c.close();
  expect_clean_stop(b);
}

TEST(Delivery, RetriesKeepOrderAndLoseNothing) {
  // 503 for the first 5 requests, then a dropped connection, then 200.
  TestSink sink([](std::size_t n, const SinkRequest&) {
    if (n < 5) return SinkAnswer{503};
    if (n == 5) return SinkAnswer{200, 0ms, true};
    return SinkAnswer{200};
  });
  // Five 503s open the breaker (threshold 5); it half-opens after its hour's recovery (virtual
  // time) and the probe succeeds (if the probe's connection was the one dropped, after two).
  Bulkhead b(sink_toml(sink, "batch_events = 100\nbreaker_recovery = \"1h\"\n"));
  auto seqs = send_events(b.ingest_port(), 1000);
  ASSERT_EQ(seqs.size(), 1000u);
  ASSERT_TRUE(log_shows(b, "breaker t: closed -> open", 10s)) << b.log();
  EXPECT_EQ(sink.wait_delivered(1, 300ms), false) << "nothing delivered while open";
  ASSERT_TRUE(advance_clock(b, 1h));
  auto probed = [&] {
    const std::string log = b.log();
    return log.find("breaker t: half_open -> closed") != std::string::npos ||
           log.find("breaker t: half_open -> open") != std::string::npos;
  };
  ASSERT_TRUE(eventually(probed, 10s)) << b.log();
  if (b.log().find("breaker t: half_open -> closed") == std::string::npos) {
    ASSERT_TRUE(advance_clock(b, 1h));
  }
  ASSERT_TRUE(sink.wait_delivered(1000, 30s)) << b.log();
  auto got = sink.delivered_seqs();
  EXPECT_EQ(got, seqs) << "delivered exactly once each, in seq order";
  for (auto& r : sink.requests()) EXPECT_LE(r.lines.size(), 100u);
  expect_clean_stop(b);
  EXPECT_NE(b.log().find("breaker t: closed -> open"), std::string::npos) << b.log();
  EXPECT_NE(b.log().find("breaker t: half_open -> closed"), std::string::npos) << b.log();
  EXPECT_EQ(query_int(b.db_path(), "SELECT count(*) FROM dead_letters"), 0);
}

TEST(Delivery, ClientErrorsGoToTheDeadLetterTableAndDeliveryGoesOn) {
  TestSink sink([](std::size_t n, const SinkRequest&) { return n == 0 ? SinkAnswer{400} : SinkAnswer{200}; });
  Bulkhead b(sink_toml(sink, "batch_events = 10\n"));
  auto first = send_events(b.ingest_port(), 10, "a");
  ASSERT_TRUE(sink.wait_delivered(0, 1s));
  // Wait until the first batch was refused, then send more.
  EXPECT_TRUE(eventually([&] { return sink.request_count() >= 1; }, 2000ms));
  auto second = send_events(b.ingest_port(), 10, "b");
  ASSERT_TRUE(sink.wait_delivered(10, 10s)) << b.log();
  EXPECT_EQ(sink.delivered_seqs(), second) << b.log();
  expect_clean_stop(b);
  EXPECT_EQ(query_int(b.db_path(), "SELECT count(*) FROM dead_letters"), 1);
  EXPECT_EQ(query_int(b.db_path(), "SELECT first_seq FROM dead_letters"), static_cast<int64_t>(first.front()));
  EXPECT_EQ(query_int(b.db_path(), "SELECT last_seq FROM dead_letters"), static_cast<int64_t>(first.back()));
  EXPECT_EQ(query_int(b.db_path(), "SELECT http_status FROM dead_letters"), 400);
}

TEST(Delivery, SlowSinkHitsTheReadTimeoutAndIsRetried) {
  // The first answer would come after a minute; the read timeout is ten minutes of virtual time.
  TestSink sink([](std::size_t n, const SinkRequest&) { return n == 0 ? SinkAnswer{200, 60s} : SinkAnswer{200}; });
  Bulkhead b(sink_toml(sink, "read_timeout = \"10m\"\n"));
  auto seqs = send_events(b.ingest_port(), 5);
  ASSERT_TRUE(eventually([&] { return sink.request_count() >= 1; })) << b.log();
  EXPECT_FALSE(sink.wait_delivered(5, 200ms)) << "answered before the read timed out";
  ASSERT_TRUE(advance_clock(b, 10min));
  ASSERT_TRUE(sink.wait_delivered(5, 15s)) << b.log();
  EXPECT_GE(sink.request_count(), 2u) << "the slow answer timed out and the batch was sent again";
  auto got = sink.delivered_seqs();
  // The slow first answer was a 200 too, so the sink may have the batch twice: at-least-once.
  std::set<std::uint64_t> uniq(got.begin(), got.end());
  EXPECT_EQ(uniq, std::set<std::uint64_t>(seqs.begin(), seqs.end()));
  expect_clean_stop(b);
}

TEST(Delivery, ConnectionLimitIsNeverExceeded) {
  TestSink sink([](std::size_t n, const SinkRequest&) {
    return n % 3 == 0 ? SinkAnswer{200, 0ms, false, false} : SinkAnswer{200, 20ms};
  });
  Bulkhead b(sink_toml(sink, "max_connections = 1\nbatch_events = 50\n"));
  auto seqs = send_events(b.ingest_port(), 1000);
  ASSERT_TRUE(sink.wait_delivered(1000, 30s)) << b.log();
  EXPECT_EQ(sink.max_concurrent(), 1);
  EXPECT_GT(sink.connections(), 1u) << "closed connections were replaced";
  // Keep-alive: only the connections the sink closed (every third answer) were replaced.
  EXPECT_LE(sink.connections(), sink.request_count() / 3 + 2) << sink.connections() << " connections for "
                                                                << sink.request_count() << " requests";
  expect_clean_stop(b);
}

TEST(Delivery, SinkOutageThenRestartDeliversFromTheCursor) {
  std::uint16_t port = free_port();
  std::string url = "http://127.0.0.1:" + std::to_string(port) + "/x";
  Bulkhead b("[[sink]]\nname = \"t\"\nurl = \"" + url + "\"\nbackoff_base = \"20ms\"\nbackoff_cap = \"50ms\"\n");
  auto seqs = send_events(b.ingest_port(), 300);  // the sink is down: kept in the store
  expect_clean_stop(b);
  EXPECT_EQ(query_int(b.db_path(), "SELECT count(*) FROM events"), 300);
  // The sink comes up on that port; bulkhead restarts and resumes from the cursor.
  TestSink sink({}, port);
  ASSERT_EQ(sink.port(), port);
  ASSERT_TRUE(b.start()) << b.log();
  ASSERT_TRUE(sink.wait_delivered(300, 20s)) << b.log();
  EXPECT_EQ(sink.delivered_seqs(), seqs);
  expect_clean_stop(b);
  EXPECT_EQ(query_int(b.db_path(), "SELECT cursor FROM sinks WHERE name = 't'"), static_cast<int64_t>(seqs.back()));
}

TEST(Delivery, PendingCapRejectsWithBusyWhileTheSinkIsDown) {
  std::string url = "http://127.0.0.1:" + std::to_string(free_port()) + "/down";
  Bulkhead b("[store]\nmax_pending = 5\n[[sink]]\nname = \"t\"\nurl = \"" + url + "\"\n");
  LineClient c;
  ASSERT_TRUE(c.connect(b.ingest_port()));
  std::string all;
  for (int i = 0; i < 8; ++i) all += "{\"i\":" + std::to_string(i) + "}\n";
  ASSERT_TRUE(c.send(all));
  auto lines = c.read_lines(8);
  ASSERT_EQ(lines.size(), 8u);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(lines[i].rfind("ok ", 0), 0u) << lines[i];
  for (int i = 5; i < 8; ++i) EXPECT_EQ(lines[i].rfind("err busy ", 0), 0u) << lines[i];
  c.close();
  expect_clean_stop(b);
  EXPECT_EQ(query_int(b.db_path(), "SELECT count(*) FROM events"), 5) << "a refused event changes nothing";
}

TEST(Delivery, PendingCapWithDropOldestKeepsTheNewest) {
  std::string url = "http://127.0.0.1:" + std::to_string(free_port()) + "/down";
  Bulkhead b("[store]\nmax_pending = 5\noverflow = \"drop_oldest\"\n[[sink]]\nname = \"t\"\nurl = \"" + url +
             "\"\n");
  auto seqs = send_events(b.ingest_port(), 8);  // all acked: the oldest undelivered are dropped
  ASSERT_EQ(seqs.size(), 8u);
  expect_clean_stop(b);
  EXPECT_NE(b.log().find("dropped the"), std::string::npos) << b.log();
  // The sink's cursor skipped the dropped ones: what is left to deliver is the newest 5.
  EXPECT_EQ(query_int(b.db_path(), "SELECT cursor FROM sinks WHERE name = 't'"), static_cast<int64_t>(seqs[2]));
}

TEST(Delivery, KillNineUnderLoadThenRestartDeliversEveryAckedEvent) {
  TestSink sink([](std::size_t, const SinkRequest&) { return SinkAnswer{200, 2ms}; });
  Bulkhead b(sink_toml(sink, "batch_events = 200\n"));
  std::vector<std::uint64_t> acked;
  {
    LineClient c;
    ASSERT_TRUE(c.connect(b.ingest_port()));
    bool killed = false;  // under load: once 2000 events are acked, with a batch in flight
    for (int round = 0; round < 100000; ++round) {
      std::string all;
      for (int i = 0; i < 100; ++i) all += "{\"r\":" + std::to_string(round) + ",\"i\":" + std::to_string(i) + "}\n";
      if (!c.send(all)) break;
      if (!killed && acked.size() >= 2000) {
        b.child()->signal(SIGKILL);
        killed = true;
      }
      auto lines = c.read_lines(100, 2s);
      for (auto& l : lines)
        if (l.rfind("ok ", 0) == 0) acked.push_back(std::stoull(l.substr(3)));
      if (lines.size() < 100) break;
    }
    EXPECT_TRUE(killed) << acked.size() << " acked";
  }
  ASSERT_GT(acked.size(), 100u);
  b.child()->wait(5s);
  ASSERT_TRUE(b.start()) << b.log();
  std::set<std::uint64_t> want(acked.begin(), acked.end());
  auto deadline = std::chrono::steady_clock::now() + 30s;
  std::set<std::uint64_t> got;
  while (std::chrono::steady_clock::now() < deadline) {
    auto d = sink.delivered_seqs();
    got = std::set<std::uint64_t>(d.begin(), d.end());
    if (std::includes(got.begin(), got.end(), want.begin(), want.end())) break;
    std::this_thread::sleep_for(50ms);
  }
  std::vector<std::uint64_t> missing;
  std::set_difference(want.begin(), want.end(), got.begin(), got.end(), std::back_inserter(missing));
  EXPECT_TRUE(missing.empty()) << missing.size() << " acked events never delivered, first " << missing.front();
  expect_clean_stop(b);
}

}  // namespace
}  // namespace bh::test
