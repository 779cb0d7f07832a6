// Shared by the fault tests: what the database holds, and the clean exit every test ends with.
#pragma once
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <chrono>
#include <cstdint>
#include <set>
#include <string>
#include <thread>

#include "tests/support/harness.hpp"

namespace bh::test {

// The seqs the database holds, read directly (read-only connection).
inline std::set<std::uint64_t> stored_seqs(const std::string& db) {
  std::set<std::uint64_t> out;
  sqlite3* h = nullptr;
  if (sqlite3_open_v2(db.c_str(), &h, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(h, "SELECT seq FROM events", -1, &s, nullptr) == SQLITE_OK)
      while (sqlite3_step(s) == SQLITE_ROW) out.insert(static_cast<std::uint64_t>(sqlite3_column_int64(s, 0)));
    sqlite3_finalize(s);
  }
  sqlite3_close(h);
  return out;
}

// SIGTERM, then exit 0 with every pool at zero (App::run's own check, in the log).
inline void expect_clean_exit(Bulkhead& b) {
  auto code = b.stop(slow(std::chrono::milliseconds(20000)));
  ASSERT_TRUE(code.has_value()) << b.log();
  EXPECT_EQ(*code, 0) << b.log();
  EXPECT_NE(b.log().find("0 pool(s) not at zero"), std::string::npos) << b.log();
}

// The plan is armed once start-up is done, and start-up already serves what the listeners
// accepted (Reactor::warm_up polls): a test sends its first line only after the arming is logged.
inline void wait_armed(Bulkhead& b) {
  for (auto until = std::chrono::steady_clock::now() + slow(std::chrono::milliseconds(10000));
       std::chrono::steady_clock::now() < until; std::this_thread::sleep_for(std::chrono::milliseconds(5)))
    if (b.log().find("fault plan armed") != std::string::npos) return;
  ADD_FAILURE() << "the fault plan was never armed\n" << b.log();
}

// One console command over the control socket: its answer up to and including the first line that
// contains `until` (or what came within the deadlines).
inline std::string console_until(Bulkhead& b, const std::string& command, const std::string& until) {
  LineClient con;
  if (!con.connect_unix(b.dir() + "/var/console.sock") || !con.send(command + "\n")) return "no console";
  std::string answer;
  for (int i = 0; i < 40; ++i) {
    auto l = con.read_line(slow(std::chrono::milliseconds(3000)));
    if (!l) break;
    answer += *l + "\n";
    if (l->find(until) != std::string::npos) break;
  }
  return answer;
}

// Sets an environment variable for the children started while it lives.
struct ScopedEnv {
  const char* name;
  ScopedEnv(const char* n, const std::string& v) : name(n) { ::setenv(n, v.c_str(), 1); }
  ~ScopedEnv() { ::unsetenv(name); }
};

}  // namespace bh::test
