// WalCheckpointer on its own (the store's use of it is in store_test.cpp): the WAL hook wakes the
// thread once trigger_pages frames are un-copied, kick() asks for a checkpoint, an idle WAL is
// copied once it stayed quiet for an idle_period, the hook itself catches up past restart_pages so the WAL rewinds
// (once the thread has narrowed the gap),
// a checkpoint that copied frames syncs the database itself, the store's WAL size limit
// covers the rewind size, a failed start leaves nothing open, and stop() gives the writer SQLite's auto-checkpoint back.
// Waits on the thread poll its counters with a deadline; nothing sleeps for time to pass.
#include "platform/store/checkpointer.hpp"

#include <gtest/gtest.h>
#include "platform/store/fault_vfs.hpp"
#include <sqlite3.h>

#include <string>

#include "tests/support/census.hpp"
#include "tests/support/eventually.hpp"

namespace bh {
namespace {
using namespace std::chrono_literals;

// A writer connection on a fresh WAL database with one table, auto-checkpoint off as the store
// sets it before the checkpointer takes over.
struct Writer {
  test::TempDir dir;
  std::string path = dir.file("ckpt.db");
  sql::Db db;
  Writer() {
    EXPECT_FALSE(db.open(path.c_str(), SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr, 1000));
    EXPECT_FALSE(db.exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA page_size=4096;"
                         "CREATE TABLE t(x BLOB);"));
  }
  // One transaction inserting n rows of `bytes` bytes (about one WAL frame per 4 KiB).
  void write(int n, int bytes = 4000) {
    ASSERT_FALSE(db.begin_immediate());
    for (int i = 0; i < n; ++i) {
      const std::string sql = "INSERT INTO t VALUES(zeroblob(" + std::to_string(bytes) + "));";
      ASSERT_FALSE(db.exec(sql.c_str()));
    }
    ASSERT_FALSE(db.commit());
  }
  CheckpointerOptions opts() const {
    CheckpointerOptions o;
    o.path = path;
    o.sync_full = false;
    o.trigger_pages = 1000000;  // no wake from the hook unless a test lowers it
    o.restart_pages = 1000000;  // no catch-up unless a test lowers it
    o.idle_period = std::chrono::hours(1);
    return o;
  }
};

TEST(Checkpointer, TheWalHookWakesTheThreadPastTriggerPages) {
  test::CensusGuard census;
  Writer w;
  WalCheckpointer c;
  auto o = w.opts();
  o.trigger_pages = 16;
  ASSERT_FALSE(c.start(w.db.get(), o));
  ASSERT_TRUE(c.running());
  w.write(4);  // below the trigger: the thread stays asleep (idle_period is an hour)
  EXPECT_GT(c.stats().wal_frames, 0u);
  EXPECT_EQ(c.stats().checkpoints, 0u);
  w.write(32);  // past it
  ASSERT_TRUE(test::eventually([&] { return c.stats().checkpoints > 0; })) << "the hook did not wake the thread";
  EXPECT_GE(c.stats().frames_copied, 16u);
  EXPECT_EQ(c.stats().errors, 0u);
  EXPECT_EQ(c.stats().catch_ups, 0u);
  c.stop();
  EXPECT_FALSE(c.running());
}

TEST(Checkpointer, KickCopiesAtOnce) {
  Writer w;
  WalCheckpointer c;
  ASSERT_FALSE(c.start(w.db.get(), w.opts()));
  w.write(8);
  EXPECT_EQ(c.stats().checkpoints, 0u);
  c.kick();
  ASSERT_TRUE(test::eventually([&] { return c.stats().checkpoints == 1; }));
  EXPECT_GT(c.stats().frames_copied, 0u);
  EXPECT_EQ(c.stats().frames_copied, c.stats().wal_frames) << "every frame of the WAL copied";
}

TEST(Checkpointer, AnIdleWalIsCopiedOncePerIdlePeriod) {
  Writer w;
  WalCheckpointer c;
  auto o = w.opts();
  o.idle_period = 10ms;  // the thread's own deadline (a real wait on a condition variable)
  ASSERT_FALSE(c.start(w.db.get(), o));
  w.write(8);
  ASSERT_TRUE(test::eventually([&] { return c.stats().checkpoints >= 1; }));
  // Nothing new: the thread wakes but finds nothing to copy, so the count stays.
  const auto n = c.stats().checkpoints;
  const auto frames = c.stats().frames_copied;
  w.write(0);  // an empty transaction writes no frame
  EXPECT_FALSE(test::eventually([&] { return c.stats().checkpoints > n; }, 100ms))
      << "an idle WAL with every frame copied is not checkpointed again";
  EXPECT_EQ(c.stats().frames_copied, frames);
}

TEST(Checkpointer, TheHookCatchesUpPastRestartPagesSoTheWalRewinds) {
  Writer w;
  WalCheckpointer c;
  auto o = w.opts();
  o.restart_pages = 32;
  ASSERT_FALSE(c.start(w.db.get(), o));
  w.write(40);  // past restart_pages with the thread idle: the hook copies in the commit's wake
  EXPECT_EQ(c.stats().catch_ups, 1u);
  EXPECT_GE(c.stats().wal_frames, 32u);
  w.write(1);  // every frame was backfilled: this write starts the WAL from its beginning
  EXPECT_LT(c.stats().wal_frames, 8u) << "the WAL did not rewind";
  EXPECT_EQ(c.stats().catch_ups, 1u);
}

// Issue 16: what the catch-up copies it syncs, on the reactor thread. Past restart_pages with
// more than catch_up_frames un-copied, the hook wakes the thread to narrow the gap (here it copies
// all, and the WAL rewinds with no catch-up); a gap that is not narrowed in time (here one commit
// bigger than catch_up_frames) is caught up a sixteenth past restart_pages.
TEST(Checkpointer, TheThreadNarrowsAWideGapBeforeTheHookCatchesUp) {
  Writer w;
  WalCheckpointer c;
  auto o = w.opts();
  o.restart_pages = 160;  // caught up anyway from 170
  o.catch_up_frames = 4;
  ASSERT_FALSE(c.start(w.db.get(), o));
  w.write(160);  // past restart_pages, every frame un-copied
  ASSERT_GE(c.stats().wal_frames, 160u);
  ASSERT_LT(c.stats().wal_frames, 170u);
  EXPECT_EQ(c.stats().catch_ups, 0u) << "the hook copied a wide gap itself";
  ASSERT_TRUE(test::eventually([&] { return c.stats().checkpoints == 1; })) << "the thread was not woken";
  EXPECT_EQ(c.stats().frames_copied, c.stats().wal_frames);
  w.write(1);
  EXPECT_LT(c.stats().wal_frames, 8u) << "the WAL did not rewind";
  EXPECT_EQ(c.stats().catch_ups, 0u);

  w.write(150);
  ASSERT_LT(c.stats().wal_frames, 160u);
  w.write(20);  // 170 frames and more, none copied: caught up (once the thread is idle)
  while (c.stats().catch_ups == 0 && c.stats().wal_frames < 1000u) w.write(1);
  EXPECT_EQ(c.stats().catch_ups, 1u);
  w.write(1);
  EXPECT_LT(c.stats().wal_frames, 8u) << "the WAL did not rewind";
}

// Issue 16: SQLite syncs the database only after a checkpoint that copied every frame. A reader's
// snapshot stops the thread's checkpoint short of the WAL's end (as the writer's next commits do
// under load): the thread syncs the pages it copied itself, so the catch-up on the reactor thread
// does not have to flush all of them at once.
TEST(Checkpointer, APartialCheckpointSyncsTheDatabaseItCopiedInto) {
  Writer w;
  WalCheckpointer c;
  ASSERT_FALSE(c.start(w.db.get(), w.opts()));
  w.write(8);
  sql::Db reader;
  ASSERT_FALSE(reader.open(w.path.c_str(), SQLITE_OPEN_READONLY, nullptr, 1000));
  ASSERT_FALSE(reader.exec("BEGIN; SELECT count(*) FROM t;"));  // a snapshot at the first 8 rows' frames
  w.write(8);  // frames the snapshot does not see: the checkpoint may not copy them yet
  const std::uint64_t syncs = store_io_counters().db_syncs;
  c.kick();
  ASSERT_TRUE(test::eventually([&] { return c.stats().checkpoints == 1; }));
  ASSERT_GT(c.stats().frames_copied, 0u);
  ASSERT_LT(c.stats().frames_copied, c.stats().wal_frames) << "the checkpoint was not partial";
  EXPECT_TRUE(test::eventually([&] { return store_io_counters().db_syncs > syncs; }))
      << "the copied pages were left unsynced";
  EXPECT_EQ(c.stats().errors, 0u);
  ASSERT_FALSE(reader.exec("COMMIT;"));
  // Copying the rest: synced too (by SQLite when nothing was appended meanwhile, and by the thread).
  const std::uint64_t before_full = store_io_counters().db_syncs;
  c.kick();
  ASSERT_TRUE(test::eventually([&] { return c.stats().checkpoints == 2; }));
  EXPECT_EQ(c.stats().frames_copied, c.stats().wal_frames);
  EXPECT_TRUE(test::eventually([&] { return store_io_counters().db_syncs > before_full; }));
}

// The store's journal_size_limit covers the rewind size plus an eighth, so a WAL rewound at
// restart_pages is reused in place, never truncated and regrown on the reactor thread; never below
// the former 64 MiB.
TEST(Checkpointer, TheWalSizeLimitCoversTheRewindSize) {
  constexpr std::int64_t kMiB = 1 << 20;
  EXPECT_EQ(wal_size_limit(4096, 256), 64 * kMiB);
  const std::int64_t rewind = 16384 * (4096 + 24);  // the store's default: 67.5 MB, past 64 MiB
  EXPECT_GE(wal_size_limit(4096, 16384), rewind + rewind / 8);
  EXPECT_LT(wal_size_limit(4096, 16384), rewind + rewind / 4);
  EXPECT_GE(wal_size_limit(1024, 100000), std::int64_t{100000} * (1024 + 24));
}

TEST(Checkpointer, AFailedStartLeavesNothingOpen) {
  test::CensusGuard census;
  Writer w;
  WalCheckpointer c;
  auto o = w.opts();
  o.path = w.dir.file("no/such/dir/x.db");
  EXPECT_TRUE(c.start(w.db.get(), o));
  EXPECT_FALSE(c.running());
  c.stop();  // idempotent
  c.stop();
}

TEST(Checkpointer, StopGivesTheWriterItsAutoCheckpointBack) {
  Writer w;
  WalCheckpointer c;
  auto o = w.opts();
  o.trigger_pages = 16;
  ASSERT_FALSE(c.start(w.db.get(), o));
  c.stop();
  EXPECT_FALSE(c.running());
  // SQLite's own auto-checkpoint (at trigger_pages) runs inside the commit that crosses it and
  // copies every frame, so the next write rewinds the WAL; without it the WAL would hold 41+.
  w.write(40);
  w.write(1);
  int log = -1, ckpt = -1;
  ASSERT_EQ(sqlite3_wal_checkpoint_v2(w.db.get(), nullptr, SQLITE_CHECKPOINT_PASSIVE, &log, &ckpt), SQLITE_OK);
  EXPECT_LT(log, 8) << "the writer did not get SQLite's auto-checkpoint back";
  EXPECT_EQ(c.stats().checkpoints, 0u);
}

}  // namespace
}  // namespace bh
