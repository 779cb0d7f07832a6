// Wall-clock jumps (issue 7): the process runs under libfaketime (Debian's faketime package) with
// the monotonic clock left alone, as on a board whose RTC or NTP steps the time. The test moves the
// wall clock a day forward, then back: idle timeouts still fire after their real duration (never at
// the jump, never "in a day"), events are still acked, /healthz stays ok, and it exits 0.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/fault/fault_support.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/fake_clock.hpp"
#include "tests/support/harness.hpp"
#include "tests/support/source_peers.hpp"

namespace bh::test {
namespace {
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr const char* kFaketime = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";

void set_offset(const std::string& file, const std::string& offset) {
  std::ofstream(file + ".tmp") << offset << "\n";
  ::rename((file + ".tmp").c_str(), file.c_str());
}

// The environment of a bulkhead child under libfaketime, its wall clock moved by writing `file`
// (set_offset), the monotonic clock left alone.
struct Faketime {
  TempDir dir;
  std::string file = dir.file("faketime");
  bool at_zero = (set_offset(file, "+0"), true);
  ScopedEnv preload{"LD_PRELOAD", kFaketime};
  ScopedEnv timestamp_file{"FAKETIME_TIMESTAMP_FILE", file};
  ScopedEnv no_cache{"FAKETIME_NO_CACHE", "1"};
  ScopedEnv real_monotonic{"FAKETIME_DONT_FAKE_MONOTONIC", "1"};
  ScopedEnv asan{"ASAN_OPTIONS", "verify_asan_link_order=0:detect_leaks=1:abort_on_error=1"};
};

// An idle connection opened now is closed by the 1.5 s idle timeout after that real time, whatever
// the wall clock does meanwhile (the jump comes 300 ms in).
void idle_close_survives_jump(Bulkhead& b, const std::string& ts_file, const std::string& offset) {
  LineClient c;
  ASSERT_TRUE(c.connect(b.ingest_port()));
  const auto t0 = Clock::now();
  std::this_thread::sleep_for(300ms);
  set_offset(ts_file, offset);
  EXPECT_FALSE(c.wait_closed(600ms)) << "closed at the " << offset << " jump, not after its idle time";
  EXPECT_TRUE(c.wait_closed(slow(4000ms))) << "never closed after the " << offset << " jump";
  const auto waited = Clock::now() - t0;
  EXPECT_GE(waited, 1400ms);
  EXPECT_LT(waited, slow(5000ms));
  // Still serving.
  LineClient d;
  ASSERT_TRUE(d.connect(b.ingest_port()));
  ASSERT_TRUE(d.send("{\"after\":\"" + offset + "\"}\n"));
  auto l = d.read_line(slow(5000ms));
  ASSERT_TRUE(l.has_value());
  EXPECT_EQ(l->rfind("ok ", 0), 0u) << *l;
}

TEST(Clock, WallClockJumpsDoNotBreakTimeouts) {
  if (sizeof(BH_EXEC_WRAPPER) > 1) GTEST_SKIP() << "libfaketime is preloaded into native binaries only";
  ASSERT_EQ(::access(kFaketime, R_OK), 0) << "install Debian's faketime package (toolchain/deps.sh does)";
  Faketime fake;
  const std::string& ts = fake.file;
  Bulkhead b("[ingest]\nidle_timeout = \"1500ms\"\n[watchdog]\nperiod = \"100ms\"\n");
  ASSERT_TRUE(b.child()->running()) << b.log();
  idle_close_survives_jump(b, ts, "+1d");
  idle_close_survives_jump(b, ts, "-1d");
  auto code = b.stop(slow(15000ms));
  ASSERT_TRUE(code.has_value()) << b.log();
  EXPECT_EQ(*code, 0) << b.log();
  EXPECT_EQ(b.log().find("unhealthy"), std::string::npos) << "a wall-clock jump must not fail the loop-lag check\n"
                                                             << b.log();
  // The jumps did happen inside the process: the two events carry ingest times a day ahead and a
  // day behind the real time.
  const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch()).count();
  sqlite3* h = nullptr;
  ASSERT_EQ(sqlite3_open_v2(b.db_path().c_str(), &h, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(h, "SELECT ts_ms FROM events ORDER BY seq", -1, &st, nullptr), SQLITE_OK);
  std::vector<std::int64_t> ts_ms;
  while (sqlite3_step(st) == SQLITE_ROW) ts_ms.push_back(sqlite3_column_int64(st, 0));
  sqlite3_finalize(st);
  sqlite3_close(h);
  constexpr std::int64_t kDay = 86'400'000, kSlack = 120'000;
  ASSERT_EQ(ts_ms.size(), 2u);
  EXPECT_NEAR(static_cast<double>(ts_ms[0] - now_ms), static_cast<double>(kDay), kSlack);
  EXPECT_NEAR(static_cast<double>(ts_ms[1] - now_ms), static_cast<double>(-kDay), kSlack);
}

// The store's events, as (ts_ms) in seq order, read with sqlite3 (the process may run: WAL readers).
std::vector<std::int64_t> stored_ts(const std::string& db) {
  std::vector<std::int64_t> out;
  sqlite3* h = nullptr;
  if (sqlite3_open_v2(db.c_str(), &h, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_busy_timeout(h, 2000);
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(h, "SELECT ts_ms FROM events ORDER BY seq", -1, &st, nullptr) == SQLITE_OK)
      while (sqlite3_step(st) == SQLITE_ROW) out.push_back(sqlite3_column_int64(st, 0));
    sqlite3_finalize(st);
  }
  sqlite3_close(h);
  return out;
}

bool send_ok(const Bulkhead& b, const std::string& line) {
  LineClient c;
  if (!c.connect(b.ingest_port()) || !c.send(line + "\n")) return false;
  auto l = c.read_line(slow(5000ms));
  return l && l->rfind("ok ", 0) == 0;
}

// Two housekeeping passes (every 10 s of the monotonic clock) run after `clock advance 11s` each:
// the watchdog (period 100 ms, real time) ticking twice more shows the reactor has run the timers
// that advance made due.
void housekeeping_passes(const Bulkhead& b) {
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(advance_clock(b, 11000ms));
    const double t0 = metric(b, "bulkhead_watchdog_ticks_total");
    ASSERT_TRUE(eventually([&] { return metric(b, "bulkhead_watchdog_ticks_total") >= t0 + 2; }, slow(5000ms)))
        << t0 << "\n" << b.log();
  }
}

// Issue 17: retention across a large forward jump. Retention age 1 h; three events; the wall clock
// steps ten years ahead (an NTP sync on a board that booted in the past); housekeeping runs: the
// events are ten years old by their ts but seconds old on the monotonic clock, and stay. After a
// clean stop all four (one stamped after the jump) are in the store. (The monotonic side that does
// delete them, and earlier runs' events by ts, are tests/platform/store/clock_retention_test.cpp.)
TEST(Clock, RetentionKeepsFreshEventsAcrossALargeForwardJump) {
  if (sizeof(BH_EXEC_WRAPPER) > 1) GTEST_SKIP() << "libfaketime is preloaded into native binaries only";
  ASSERT_EQ(::access(kFaketime, R_OK), 0) << "install Debian's faketime package (toolchain/deps.sh does)";
  Faketime fake;
  const std::string& ts = fake.file;
  Bulkhead b("[store]\nretention_age = \"1h\"\n[watchdog]\nperiod = \"100ms\"\n");
  ASSERT_TRUE(b.child()->running()) << b.log();
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(send_ok(b, "{\"before\":" + std::to_string(i) + "}"));
  set_offset(ts, "+3650d");
  housekeeping_passes(b);
  EXPECT_EQ(stored_ts(b.db_path()).size(), 3u) << "purged at the jump";
  ASSERT_TRUE(send_ok(b, "{\"after\":1}"));
  EXPECT_NE(b.log().find("clock: the wall clock jumped +315360"), std::string::npos) << b.log();
  EXPECT_EQ(metric(b, "bulkhead_clock_jumps_total"), 1);
  auto code = b.stop(slow(15000ms));
  ASSERT_TRUE(code.has_value()) << b.log();
  EXPECT_EQ(*code, 0) << b.log();
  auto rows = stored_ts(b.db_path());
  ASSERT_EQ(rows.size(), 4u) << b.log();
  constexpr std::int64_t kYears = 3650LL * 86'400'000;
  EXPECT_GT(rows[3] - rows[0], kYears - 120'000) << "the last one was stamped after the jump";

}

}  // namespace
}  // namespace bh::test
