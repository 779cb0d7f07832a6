// The WAL syncer and the committer's in-flight ring: with [store] sync_thread the COMMIT only
// writes, a thread fdatasync()s the WAL, and nothing is acked, audited or readable by a sink
// before that sync returned; a failed sync undoes every un-acked commit (its seqs were never seen,
// so they are reused) and answers err storage; a full ring stalls admission on the syncer instead
// of growing; acks keep commit order.
#include "platform/store/committer.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <string>
#include <vector>

#include "platform/util/fault.hpp"
#include "platform/store/audit_log.hpp"
#include "platform/store/store.hpp"
#include "tests/support/census.hpp"
#include "tests/support/fake_clock.hpp"
#include "tests/support/fault_plan.hpp"

namespace bh {
namespace {

using namespace std::chrono_literals;

StoreOptions synced_opts(const test::TempDir& dir) {
  StoreOptions o;
  o.path = dir.file("store.db");
  o.sync_full = true;
  o.sync_thread = true;
  o.max_batch = Committer::kCapacity;
  o.busy_timeout_ms = 200;
  return o;
}

std::uint64_t append(Store& s, std::size_t n) {
  std::vector<EventIn> ev(n, EventIn{"src", "{\"k\":1}", 1000});
  std::vector<std::uint64_t> seqs(n);
  auto ec = s.append(ev, seqs);
  EXPECT_FALSE(ec) << ec.message();
  return ec ? 0 : seqs[0];
}

std::uint32_t readable(Store& s, int sink) {
  std::uint32_t count = 0;
  EXPECT_FALSE(s.read_batch(sink, 1000, 1 << 20, [](const EventOut&) {}, count));
  return count;
}

using test::FaultPlan;

TEST(WalSyncer, NothingIsReadableBeforeItsSyncReturned) {
  test::CensusGuard census;  // the syncer's WAL fd and eventfd are closed with the store
  test::TempDir dir;
  Store s;
  ASSERT_FALSE(s.open(synced_opts(dir)));
  ASSERT_TRUE(s.async_sync());
  int k = -1;
  ASSERT_FALSE(s.register_sink("k", k));
  EXPECT_EQ(append(s, 3), 1u);
  // Committed, not yet durable: counted as pending, not readable, the cursor cannot pass it.
  EXPECT_EQ(s.last_seq(), 3u);
  EXPECT_EQ(s.durable_seq(), 0u);
  EXPECT_EQ(s.pending(), 3u);
  EXPECT_EQ(readable(s, k), 0u);
  EXPECT_EQ(s.advance_cursor(k, 1), make_error_code(StoreErrc::bad_cursor));
  const std::uint64_t t = s.request_sync();
  ASSERT_TRUE(s.wait_sync(10s));
  const Store::SyncProgress p = s.collect_sync();
  EXPECT_EQ(p.durable_ticket, t);
  EXPECT_EQ(p.failed_ticket, 0u);
  EXPECT_EQ(s.durable_seq(), 3u);
  EXPECT_EQ(readable(s, k), 3u);
  // Answered: no sync is outstanding, so the watchdog sees no stall however late it looks.
  EXPECT_EQ(s.sync_stall(Clock::now() + 1h).count(), 0);
  const StoreStats st = s.stats();
  EXPECT_TRUE(st.sync_thread);
  EXPECT_EQ(st.syncer.syncs, 1u);
  EXPECT_EQ(st.syncer.failures, 0u);
  EXPECT_FALSE(s.in_transaction());
}

TEST(WalSyncer, AFailedSyncUndoesEveryUnackedCommit) {
  test::CensusGuard census;
  test::TempDir dir;
  Store s;
  ASSERT_FALSE(s.open(synced_opts(dir)));
  int k = -1;
  ASSERT_FALSE(s.register_sink("k", k));
  EXPECT_EQ(append(s, 2), 1u);
  const std::uint64_t t1 = s.request_sync();
  ASSERT_TRUE(s.wait_sync(10s));
  ASSERT_EQ(s.collect_sync().durable_ticket, t1);
  {
    FaultPlan plan("fsync:1");  // the next fdatasync fails
    EXPECT_EQ(append(s, 2), 3u);
    const std::uint64_t t2 = s.request_sync();
    EXPECT_EQ(append(s, 1), 5u);  // committed while (or after) the failing sync runs
    const std::uint64_t t3 = s.request_sync();
    ASSERT_TRUE(s.wait_sync(10s));
    const Store::SyncProgress p = s.collect_sync();
    // Whatever the thread coalesced, every ticket not known durable has failed.
    EXPECT_EQ(p.durable_ticket, t1);
    EXPECT_GE(p.failed_ticket, t3);
    EXPECT_GT(t3, t2);
    EXPECT_EQ(fault::injected(fault::Op::fsync), 1u);
  }
  // The undone events are gone and their seqs were never seen by anyone: they are given again.
  EXPECT_EQ(s.last_seq(), 2u);
  EXPECT_EQ(s.durable_seq(), 2u);
  EXPECT_FALSE(s.in_transaction());
  const StoreStats st = s.stats();
  EXPECT_EQ(st.sync_failures, 1u);
  EXPECT_EQ(st.undone, 3u);
  EXPECT_EQ(append(s, 1), 3u);
  const std::uint64_t t4 = s.request_sync();
  ASSERT_TRUE(s.wait_sync(10s));
  const Store::SyncProgress p = s.collect_sync();
  EXPECT_EQ(p.durable_ticket, t4);
  EXPECT_EQ(s.durable_seq(), 3u);
  std::vector<std::uint64_t> seen;
  std::uint32_t count = 0;
  ASSERT_FALSE(s.read_batch(k, 100, 1 << 20, [&](const EventOut& e) { seen.push_back(e.seq); }, count));
  EXPECT_EQ(seen, (std::vector<std::uint64_t>{1, 2, 3}));
  s.close();
  // And after a restart: seq 3 is the re-given one, next_seq continues after it.
  Store again;
  ASSERT_FALSE(again.open(synced_opts(dir)));
  EXPECT_EQ(again.last_seq(), 3u);
  EXPECT_EQ(again.durable_seq(), 3u);
}

struct Result {
  std::uint32_t tag;
  std::uint64_t seq;
  errc code;
};

class Recorder final : public CommitClient {
 public:
  void on_committed(std::uint32_t tag, std::uint64_t seq, errc result) noexcept override {
    got.push_back(Result{tag, seq, result});
  }
  std::vector<Result> got;
};

// Runs the reactor until the recorder has n results (or 10 s passed).
template <typename R>
void run_until(asio::io_context& io, const R& r, std::size_t n) {
  const auto until = std::chrono::steady_clock::now() + 10s;
  while (r.got.size() < n && std::chrono::steady_clock::now() < until) {
    io.restart();
    io.run_one_for(50ms);
  }
}

std::size_t lines_of(const std::string& path) {
  std::ifstream f(path);
  std::size_t n = 0;
  for (std::string l; std::getline(f, l);) ++n;
  return n;
}

// A store with the syncer, an audit log, a reactor and a recording client, in a scratch directory.
struct Rig {
  test::CensusGuard census;
  test::TempDir dir;
  Store s;
  AuditLog audit;
  asio::io_context io;
  Recorder r;
  Rig() {
    EXPECT_FALSE(s.open(synced_opts(dir)));
    EXPECT_TRUE(s.async_sync());
    EXPECT_FALSE(audit.open(AuditOptions{dir.file("audit.log"), 1 << 20, 2}));
  }
  ~Rig() { audit.close(); }
  std::size_t audit_lines() const { return lines_of(dir.file("audit.log")); }
};

TEST(Committer, AcksAndAuditsOnlyAfterTheSyncInCommitOrder) {
  Rig g;
  Store& s = g.s;
  Recorder& r = g.r;
  {
    Committer c(g.io, s, &g.audit, 4, 1000);
    for (std::uint32_t i = 0; i < 10; ++i) ASSERT_EQ(c.submit("src", "{\"k\":1}", 1, &r, i), errc::ok);
    c.flush();  // batches of 4: two were committed as the batch filled, this is the third
    EXPECT_EQ(s.last_seq(), 10u);
    EXPECT_TRUE(r.got.empty()) << "acked before the sync";
    EXPECT_EQ(g.audit_lines(), 0u) << "audited before the sync";
    EXPECT_FALSE(c.idle());
    EXPECT_EQ(c.stats().in_flight, 10u);
    run_until(g.io, r, 10);
    ASSERT_EQ(r.got.size(), 10u);
    for (std::uint32_t i = 0; i < 10; ++i) {
      EXPECT_EQ(r.got[i].tag, i);
      EXPECT_EQ(r.got[i].seq, i + 1);
      EXPECT_EQ(r.got[i].code, errc::ok);
    }
    EXPECT_TRUE(c.idle());
    EXPECT_EQ(c.stats().events, 10u);
    EXPECT_EQ(c.stats().in_flight, 0u);
    EXPECT_EQ(s.durable_seq(), 10u);
    EXPECT_EQ(g.audit_lines(), 10u);
  }
}

TEST(Committer, AFullRingWaitsForTheSyncerAndLosesNothing) {
  Rig g;
  Recorder& r = g.r;
  const std::uint32_t n = Committer::kRing + 100;
  {
    Committer c(g.io, g.s, nullptr, Committer::kCapacity, 1'000'000);
    // The reactor never runs meanwhile: only the ring's own wait for the syncer can free slots.
    for (std::uint32_t i = 0; i < n; ++i) ASSERT_EQ(c.submit("src", "{\"k\":1}", 1, &r, i), errc::ok) << i;
    EXPECT_GE(c.stats().ring_waits, 1u);
    EXPECT_GE(r.got.size(), std::size_t{Committer::kCapacity}) << "the wait acked the oldest batches";
    c.flush();
    run_until(g.io, r, n);
    ASSERT_EQ(r.got.size(), n);
    for (std::uint32_t i = 0; i < n; ++i) {
      ASSERT_EQ(r.got[i].tag, i);
      ASSERT_EQ(r.got[i].seq, i + 1);
      ASSERT_EQ(r.got[i].code, errc::ok);
    }
    EXPECT_LE(c.stats().max_in_flight, Committer::kRing);
    EXPECT_TRUE(c.idle());
  }
}

TEST(Committer, ASyncFailureAnswersStorageAndTheNextBatchIsAcked) {
  Rig g;
  Store& s = g.s;
  Recorder& r = g.r;
  {
    Committer c(g.io, s, &g.audit, 100, 1000);
    {
      FaultPlan plan("fsync:1");
      for (std::uint32_t i = 0; i < 3; ++i) ASSERT_EQ(c.submit("src", "{\"k\":1}", 1, &r, i), errc::ok);
      c.flush();
      run_until(g.io, r, 3);
    }
    ASSERT_EQ(r.got.size(), 3u);
    for (const Result& x : r.got) EXPECT_EQ(x.code, errc::storage);
    EXPECT_EQ(c.stats().commit_errors, 1u);
    EXPECT_EQ(s.last_seq(), 0u) << "the un-acked commit was undone";
    ASSERT_EQ(c.submit("src", "{\"k\":2}", 1, &r, 7), errc::ok);
    c.flush();
    run_until(g.io, r, 4);
    ASSERT_EQ(r.got.size(), 4u);
    EXPECT_EQ(r.got[3].tag, 7u);
    EXPECT_EQ(r.got[3].seq, 1u);
    EXPECT_EQ(r.got[3].code, errc::ok);
    EXPECT_TRUE(c.idle());
  }
  EXPECT_EQ(g.audit_lines(), 1u) << "only the acked event has an audit line";
}

TEST(Committer, WithoutTheSyncerACommitIsAckedAtOnce) {
  test::TempDir dir;
  Store s;
  StoreOptions o = synced_opts(dir);
  o.sync_thread = false;
  ASSERT_FALSE(s.open(o));
  EXPECT_FALSE(s.async_sync());
  asio::io_context io;
  Recorder r;
  Committer c(io, s, nullptr, 100, 1000);
  for (std::uint32_t i = 0; i < 3; ++i) ASSERT_EQ(c.submit("src", "{\"k\":1}", 1, &r, i), errc::ok);
  c.flush();
  ASSERT_EQ(r.got.size(), 3u);
  EXPECT_EQ(r.got[2].seq, 3u);
  EXPECT_EQ(s.durable_seq(), 3u);
  EXPECT_TRUE(c.idle());
}

// The power-cut test's self-check hook (toolchain/image/power_cut.py): a deliberately broken
// committer acks at COMMIT and asks for no sync, so the acked events are not durable (the cut must
// lose them). Checked here so that the self-check's premise cannot silently go away.
TEST(Committer, TheTestHookAcksBeforeAnySync) {
  Rig g;
  Committer c(g.io, g.s, &g.audit, 100, 1000);
  c.test_ack_before_sync();
  for (std::uint32_t i = 0; i < 3; ++i) ASSERT_EQ(c.submit("src", "{\"k\":1}", 1, &g.r, i), errc::ok);
  c.flush();
  ASSERT_EQ(g.r.got.size(), 3u) << "not acked at the commit";
  EXPECT_EQ(g.r.got[2].seq, 3u);
  EXPECT_EQ(g.r.got[2].code, errc::ok);
  EXPECT_TRUE(c.idle());
  // Every sync asked for has answered, and none covered the events: none was asked for.
  EXPECT_TRUE(g.s.wait_sync(std::chrono::milliseconds(5000)));
  EXPECT_EQ(g.s.durable_seq(), 0u);
}

// ---- commit window (store.commit_window) ----------------------------------------------------------

// Checks at each ack that the sync covering the event has returned (durable_seq is raised only by
// a sync that began after the commit), and notes the virtual time of the ack.
class DurableChecker final : public CommitClient {
 public:
  explicit DurableChecker(Store& s) : s_(s) {}
  void on_committed(std::uint32_t tag, std::uint64_t seq, errc result) noexcept override {
    got.push_back(Result{tag, seq, result});
    at.push_back(hal::Clock::now());
    if (result == errc::ok && s_.durable_seq() < seq) ++early;
  }
  std::vector<Result> got;
  std::vector<hal::Clock::time_point> at;
  int early = 0;  // acks before their sync
 private:
  Store& s_;
};

void poll(asio::io_context& io) {
  io.restart();
  io.poll();
}

TEST(Committer, TheCommitWindowNeverAcksBeforeTheSyncThatCoversTheEvent) {
  Rig g;
  Store& s = g.s;
  DurableChecker r(s);
  {
    // A long window: the real time this test takes under load must not end it (virtual time does).
    Committer c(g.io, s, &g.audit, 100, 1000, 10s);
    for (std::uint32_t i = 0; i < 3; ++i) ASSERT_EQ(c.submit("src", "{\"k\":1}", 1, &r, i), errc::ok);
    poll(g.io);
    EXPECT_EQ(s.last_seq(), 0u) << "committed before the window ended";
    test::advance(g.io, 9s);
    poll(g.io);
    EXPECT_EQ(s.last_seq(), 0u) << "committed before the window ended";
    EXPECT_TRUE(r.got.empty());
    ASSERT_EQ(c.submit("src", "{\"k\":1}", 1, &r, 3), errc::ok);  // joins the batch: no window of its own
    test::advance(g.io, 1s);
    poll(g.io);
    EXPECT_EQ(s.last_seq(), 4u) << "the window's end commits the whole batch";
    run_until(g.io, r, 4);
    ASSERT_EQ(r.got.size(), 4u);
    for (std::uint32_t i = 0; i < 4; ++i) {
      EXPECT_EQ(r.got[i].tag, i);
      EXPECT_EQ(r.got[i].seq, i + 1);
      EXPECT_EQ(r.got[i].code, errc::ok);
    }
    EXPECT_EQ(r.early, 0) << "acked before the sync that covers the event";
    EXPECT_EQ(c.stats().batches, 1u) << "one commit for the window";
    EXPECT_EQ(g.audit_lines(), 4u);
    // A failed sync under the window: every event of the batch is answered err storage, none ok.
    {
      FaultPlan plan("fsync:1");
      for (std::uint32_t i = 10; i < 12; ++i) ASSERT_EQ(c.submit("src", "{\"k\":1}", 1, &r, i), errc::ok);
      test::advance(g.io, 10s);
      run_until(g.io, r, 6);
    }
    ASSERT_EQ(r.got.size(), 6u);
    EXPECT_EQ(r.got[4].code, errc::storage);
    EXPECT_EQ(r.got[5].code, errc::storage);
    EXPECT_EQ(s.last_seq(), 4u) << "the un-acked batch was undone";
    EXPECT_TRUE(c.idle());
  }
}

TEST(Committer, AnEventWaitsAtMostTheCommitWindowPlusOneSync) {
  Rig g;
  Store& s = g.s;
  DurableChecker r(s);
  {
    Committer c(g.io, s, nullptr, 4, 1000, 200ms);
    const auto t0 = hal::Clock::now();
    const auto t0_real = std::chrono::steady_clock::now();
    ASSERT_EQ(c.submit("src", "{\"k\":1}", 1, &r, 0), errc::ok);
    test::advance(g.io, 120ms);
    poll(g.io);
    ASSERT_EQ(c.submit("src", "{\"k\":1}", 1, &r, 1), errc::ok);  // waits only the 80 ms left
    const std::uint64_t syncs0 = s.stats().syncer.syncs;
    test::advance(g.io, 80ms);  // virtual time only moves here: the sync itself takes real time
    poll(g.io);
    EXPECT_EQ(s.last_seq(), 2u);
    run_until(g.io, r, 2);
    ASSERT_EQ(r.got.size(), 2u);
    EXPECT_EQ(s.stats().syncer.syncs, syncs0 + 1) << "acked after exactly one sync";
    // Virtual time moved by exactly the window; everything else is the real time of the commit and
    // the one sync (and of this test).
    EXPECT_LE(r.at[0] - t0, 200ms + (std::chrono::steady_clock::now() - t0_real)) << "waited longer than the window";
    EXPECT_GE(r.at[0] - t0, 200ms) << "acked before the window ended";
    EXPECT_EQ(r.early, 0);
    // A batch that fills does not wait for its window: it commits behind the turn that filled it.
    for (std::uint32_t i = 2; i < 6; ++i) ASSERT_EQ(c.submit("src", "{\"k\":1}", 1, &r, i), errc::ok);
    poll(g.io);
    EXPECT_EQ(s.last_seq(), 6u) << "a full batch waited for the window";
    run_until(g.io, r, 6);
    ASSERT_EQ(r.got.size(), 6u);
    // Nor does one that reached kWindowEnoughBytes.
    const std::string big(Committer::kWindowEnoughBytes, 'x');
    ASSERT_EQ(c.submit("src", big, 1, &r, 6), errc::ok);
    poll(g.io);
    EXPECT_EQ(s.last_seq(), 7u) << "a big enough batch waited for the window";
    run_until(g.io, r, 7);
    ASSERT_EQ(r.got.size(), 7u);
    EXPECT_EQ(r.early, 0);
    EXPECT_TRUE(c.idle());
  }
}

TEST(Committer, StopAdmittingCommitsABatchWaitingForItsWindow) {
  // Shutdown does not wait out a commit window: no event can join the batch any more, and its
  // submitters must be answered within the grace period.
  Rig g;
  Store& s = g.s;
  DurableChecker r(s);
  {
    Committer c(g.io, s, nullptr, 100, 1000, 10s);
    ASSERT_EQ(c.submit("src", "{\"k\":1}", 1, &r, 0), errc::ok);
    poll(g.io);
    EXPECT_EQ(s.last_seq(), 0u);
    c.stop_admitting();
    poll(g.io);  // no virtual time passes
    EXPECT_EQ(s.last_seq(), 1u) << "the batch waited for its window after stop_admitting()";
    run_until(g.io, r, 1);
    ASSERT_EQ(r.got.size(), 1u);
    EXPECT_EQ(r.got[0].code, errc::ok);
    EXPECT_EQ(r.early, 0);
    EXPECT_EQ(c.submit("src", "{\"k\":1}", 1, &r, 1), errc::shutting_down);
    EXPECT_TRUE(c.idle());
  }
}

// ---- the ack log (store.ack_log) --------------------------------------------------------------------

// A store with the syncer and the ack log, and a reactor, in a scratch directory.
struct LoggedRig {
  test::CensusGuard census;
  test::TempDir dir;
  Store s;
  asio::io_context io;
  LoggedRig() {
    StoreOptions o = synced_opts(dir);
    o.ack_log = true;
    EXPECT_FALSE(s.open(o));
    EXPECT_TRUE(s.stats().ack_log);
  }
};

TEST(Committer, WithTheAckLogAnAckStillWaitsForTheSyncThatCoversIt) {
  LoggedRig g;
  Store& s = g.s;
  asio::io_context& io = g.io;
  DurableChecker r(s);
  {
    Committer c(io, s, nullptr, 100, 1000);
    for (std::uint32_t i = 0; i < 3; ++i) ASSERT_EQ(c.submit("src", "{\"k\":1}", 1, &r, i), errc::ok);
    poll(io);
    EXPECT_EQ(s.last_seq(), 3u);
    EXPECT_TRUE(s.holding()) << "a small batch went to the log";
    run_until(io, r, 3);
    ASSERT_EQ(r.got.size(), 3u);
    for (const Result& x : r.got) EXPECT_EQ(x.code, errc::ok);
    EXPECT_EQ(r.early, 0) << "acked before the sync that covers the event";
    EXPECT_EQ(s.stats().log.records, 1u);
    // The log's sync fails: the batch is answered err storage, never ok.
    {
      FaultPlan plan("fsync:1");
      ASSERT_EQ(c.submit("src", "{\"k\":2}", 1, &r, 3), errc::ok);
      run_until(io, r, 4);
    }
    ASSERT_EQ(r.got.size(), 4u);
    EXPECT_EQ(r.got[3].code, errc::storage);
    EXPECT_EQ(s.last_seq(), 3u);
    // The rest of the run syncs the WAL: the next batch is committed at once.
    ASSERT_EQ(c.submit("src", "{\"k\":3}", 1, &r, 4), errc::ok);
    run_until(io, r, 5);
    EXPECT_FALSE(s.holding()) << "the failed sync turned the log off for this run";
  }
}

TEST(Committer, TheHeldTransactionIsCommittedByItsDeadlineWhenNoAppendComes) {
  LoggedRig g;
  Store& s = g.s;
  asio::io_context& io = g.io;
  Recorder r;
  {
    Committer c(io, s, nullptr, 100, 1000);
    ASSERT_EQ(c.submit("src", "{\"k\":1}", 1, &r, 0), errc::ok);
    run_until(io, r, 1);
    ASSERT_EQ(r.got.size(), 1u);
    EXPECT_TRUE(s.holding());
    // Half the deadline in virtual time (the real time this test takes, ASan included, is far less).
    test::advance(io, Store::kHoldMax / 2);
    poll(io);
    EXPECT_TRUE(s.holding()) << "committed before the deadline";
    test::advance(io, Store::kHoldMax / 2);
    poll(io);
    EXPECT_FALSE(s.holding()) << "still held after the deadline";
    EXPECT_FALSE(s.in_transaction());
    EXPECT_EQ(s.stats().settles, 1u);
    EXPECT_TRUE(s.wait_sync(10s)) << "the settle's WAL sync was asked for";
  }
}

}  // namespace
}  // namespace bh
