// Real faults against the real binary (issue 7): connection floods, hostile producers (slowloris,
// one that never reads its acks, invalid UTF-8, deep nesting, NUL bytes), the database locked by
// another process, SIGTERM under load. After each: no acked event lost, FDs within the budget,
// the runtime still serves, and it exits 0 with every pool at zero.
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "firmware/budget.hpp"
#include "tests/fault/fault_support.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/harness.hpp"

namespace bh::test {
namespace {
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

int fd_count(int pid) {
  int n = 0;
  const std::string dir = "/proc/" + std::to_string(pid) + "/fd";
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* e = ::readdir(d))
      if (e->d_name[0] != '.') ++n;
    ::closedir(d);
  }
  return n;
}

// A well-behaved producer: n events on one connection, every ack within `each`.
std::vector<std::uint64_t> produce(std::uint16_t port, int n, std::chrono::milliseconds each = 5000ms) {
  LineClient c;
  std::vector<std::uint64_t> seqs;
  EXPECT_TRUE(c.connect(port));
  for (int i = 0; i < n; ++i) {
    EXPECT_TRUE(c.send("{\"good\":" + std::to_string(i) + "}\n"));
    auto l = c.read_line(slow(each));
    EXPECT_TRUE(l && l->rfind("ok ", 0) == 0) << (l ? *l : "no answer in time");
    if (!l || l->rfind("ok ", 0) != 0) break;
    seqs.push_back(std::stoull(l->substr(3)));
  }
  return seqs;
}

TEST(Fault, ConnectionFloodOfTenTimesThePool) {
  Bulkhead b("[pools]\ningest_conn = 8\n");
  const int pid = b.child()->pid();
  // A producer that holds one of the 8 slots throughout.
  LineClient steady;
  ASSERT_TRUE(steady.connect(b.ingest_port()));
  ASSERT_TRUE(steady.send("{\"first\":1}\n"));
  ASSERT_TRUE(steady.read_line().has_value());

  std::atomic<bool> flooding{true};
  std::atomic<int> max_fds{0};
  std::thread sampler([&] {
    while (flooding) {
      max_fds = std::max(max_fds.load(), fd_count(pid));
      std::this_thread::sleep_for(2ms);
    }
  });
  std::vector<LineClient> flood(80);
  for (auto& c : flood) ASSERT_TRUE(c.connect(b.ingest_port()));
  int busy = 0, served = 0;
  for (auto& c : flood) {
    // A refused connection is told at once, before it sends anything.
    auto l = c.read_line(200ms);
    if (!l) {
      if (!c.send("{\"flood\":1}\n")) continue;
      l = c.read_line(slow(5000ms));
    }
    if (!l) continue;
    if (*l == "err busy connection limit") ++busy;
    else if (l->rfind("ok ", 0) == 0) ++served;
  }
  // The steady producer keeps being served during the flood.
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(steady.send("{\"during\":" + std::to_string(i) + "}\n"));
    auto l = steady.read_line(slow(2000ms));
    ASSERT_TRUE(l && l->rfind("ok ", 0) == 0) << (l ? *l : "steady producer starved");
  }
  flooding = false;
  sampler.join();
  EXPECT_EQ(served, 7) << "the slots not held by the steady producer";
  EXPECT_EQ(busy, 73);
  EXPECT_LE(max_fds.load(), static_cast<int>(budget::total_fds())) << "FDs passed the budget";
  flood.clear();
  steady.close();
  // Still serving once the server has seen those connections close (it frees the slots on EOF).
  bool served_after = false;
  for (auto until = Clock::now() + slow(3000ms); Clock::now() < until && !served_after; std::this_thread::sleep_for(50ms)) {
    LineClient c;
    if (!c.connect(b.ingest_port()) || !c.send("{\"after\":1}\n")) continue;
    auto l = c.read_line(slow(2000ms));
    served_after = l && l->rfind("ok ", 0) == 0;
  }
  EXPECT_TRUE(served_after) << "not serving after the flood";
  expect_clean_exit(b);
}

TEST(Fault, HostileProducersDoNotHurtOthers) {
  Bulkhead b("[ingest]\nidle_timeout = \"1500ms\"\n");
  // Malformed content: an answer each, the connection stays usable.
  {
    LineClient c;
    ASSERT_TRUE(c.connect(b.ingest_port()));
    std::string deep(100, '[');
    std::string nested = "{\"a\":" + deep + std::string(100, ']') + "}\n";
    ASSERT_TRUE(c.send(std::string("{\"bad\":\"\xff\xfe\"}\n") + nested + std::string("{\"nul\":\"a\0b\"}\n", 14) +
                       std::string("\0\0\0\n", 4) + "{\"fine\":true}\n"));
    auto lines = c.read_lines(5, slow(5000ms));
    ASSERT_EQ(lines.size(), 5u);
    for (int i = 0; i < 4; ++i) EXPECT_EQ(lines[i].rfind("err bad_json", 0), 0u) << i << ": " << lines[i];
    EXPECT_EQ(lines[4].rfind("ok ", 0), 0u) << lines[4];
  }
  // A slowloris (one byte every 100 ms, never a newline) and a producer that never reads its acks.
  std::atomic<bool> stop{false};
  std::thread slowloris([&] {
    LineClient c;
    if (!c.connect(b.ingest_port())) return;
    for (int i = 0; i < 30 && !stop; ++i) {
      if (!c.send("x")) break;
      std::this_thread::sleep_for(100ms);
    }
  });
  LineClient deaf;
  ASSERT_TRUE(deaf.connect(b.ingest_port()));
  const std::string chunk = [] {
    std::string s;
    for (int i = 0; i < 1000; ++i) s += "{\"deaf\":" + std::to_string(i) + ",\"pad\":\"" + std::string(150, 'p') + "\"}\n";
    return s;
  }();
  std::thread deaf_writer([&] {
    const int fl = ::fcntl(deaf.fd(), F_GETFL);
    ::fcntl(deaf.fd(), F_SETFL, fl | O_NONBLOCK);
    for (int i = 0; i < 200 && !stop; ++i) {
      if (::send(deaf.fd(), chunk.data(), chunk.size(), MSG_NOSIGNAL) < 0 && errno != EAGAIN) break;
      std::this_thread::sleep_for(5ms);
    }
  });
  // Meanwhile a well-behaved producer gets every ack promptly.
  auto seqs = produce(b.ingest_port(), 200, 2000ms);
  EXPECT_EQ(seqs.size(), 200u);
  stop = true;
  slowloris.join();
  deaf_writer.join();
  deaf.close();
  // Everything acked to the good producer is stored.
  auto stored = stored_seqs(b.db_path());
  for (auto s : seqs) EXPECT_TRUE(stored.count(s)) << s;
  expect_clean_exit(b);
}

TEST(Fault, DatabaseLockedByAnotherProcess) {
  Bulkhead b;
  auto before = produce(b.ingest_port(), 10);
  ASSERT_EQ(before.size(), 10u);
  // Another process takes the write lock for 2.5 s.
  TempDir dir;
  const std::string flag = dir.file("locked");
  Child locker({"/usr/bin/python3", "-c",
                "import sqlite3, sys, time\n"
                "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
                "c.execute('BEGIN EXCLUSIVE')\n"
                "open(sys.argv[2], 'w').close()\n"
                "time.sleep(2.5)\n"
                "c.execute('ROLLBACK')\n",
                b.db_path(), flag},
               dir.file("locker.log"));
  for (auto until = Clock::now() + slow(5000ms); Clock::now() < until && ::access(flag.c_str(), F_OK) != 0;)
    std::this_thread::sleep_for(10ms);
  ASSERT_EQ(::access(flag.c_str(), F_OK), 0) << "the locker did not start";
  // While locked: each event waits out the busy timeout and is refused with err storage, not lost
  // and not acked; the connection stays usable.
  LineClient c;
  ASSERT_TRUE(c.connect(b.ingest_port()));
  ASSERT_TRUE(c.send("{\"while_locked\":1}\n"));
  auto l = c.read_line(slow(5000ms));
  ASSERT_TRUE(l.has_value());
  EXPECT_EQ(l->rfind("err storage", 0), 0u) << *l;
  ASSERT_TRUE(locker.wait(slow(10000ms)).has_value());
  // Unlocked: it recovers by itself.
  std::vector<std::uint64_t> after;
  for (auto until = Clock::now() + slow(5000ms); Clock::now() < until && after.empty();) {
    ASSERT_TRUE(c.send("{\"after\":1}\n"));
    auto r = c.read_line(slow(5000ms));
    ASSERT_TRUE(r.has_value());
    if (r->rfind("ok ", 0) == 0) after.push_back(std::stoull(r->substr(3)));
  }
  ASSERT_FALSE(after.empty()) << "never recovered\n" << b.log();
  c.close();
  expect_clean_exit(b);
  auto stored = stored_seqs(b.db_path());
  for (auto s : before) EXPECT_TRUE(stored.count(s));
  EXPECT_TRUE(stored.count(after.front()));
  EXPECT_NE(b.log().find("commit of 1 event(s) failed"), std::string::npos) << "the failed commit is logged\n" << b.log();
}

TEST(Fault, SigtermUnderLoadExitsCleanAndKeepsEveryAck) {
  Bulkhead b;
  std::atomic<bool> go{true};
  std::atomic<std::size_t> total_acked{0};
  std::vector<std::vector<std::uint64_t>> acked(6);
  std::vector<std::thread> producers;
  for (std::size_t p = 0; p < acked.size(); ++p) {
    producers.emplace_back([&, p] {
      LineClient c;
      if (!c.connect(b.ingest_port())) return;
      std::string batch;
      for (int i = 0; i < 64; ++i) batch += "{\"p\":" + std::to_string(p) + ",\"i\":" + std::to_string(i) + "}\n";
      while (go) {
        if (!c.send(batch)) return;
        for (int i = 0; i < 64; ++i) {
          auto l = c.read_line(slow(10000ms));
          if (!l) return;  // closed by the shutdown
          if (l->rfind("ok ", 0) == 0) acked[p].push_back(std::stoull(l->substr(3))), ++total_acked;
          else if (l->rfind("err shutting_down", 0) != 0) ADD_FAILURE() << *l;
        }
      }
    });
  }
  // Under load: every producer pipelining, thousands acked.
  EXPECT_TRUE(eventually([&] { return total_acked >= 2000; }, 10000ms)) << total_acked << " acked\n" << b.log();
  b.child()->signal(SIGTERM);
  auto code = b.child()->wait(slow(20000ms));
  go = false;
  for (auto& t : producers) t.join();
  ASSERT_TRUE(code.has_value()) << b.log();
  EXPECT_EQ(*code, 0) << b.log();
  EXPECT_NE(b.log().find("0 pool(s) not at zero"), std::string::npos) << b.log();
  auto stored = stored_seqs(b.db_path());
  std::size_t total = 0;
  for (auto& v : acked) {
    total += v.size();
    for (auto s : v) EXPECT_TRUE(stored.count(s)) << "acked seq " << s << " is not in the database";
  }
  EXPECT_GT(total, 0u);
}

}  // namespace
}  // namespace bh::test
