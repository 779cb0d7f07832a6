// WalCheckpointer: copies the WAL into the database file on a thread of its own, through a second
// connection, so that no COMMIT on the reactor thread carries a checkpoint.
//
// Why a thread: SQLite's auto-checkpoint runs inside the COMMIT that takes the WAL past
// wal_autocheckpoint pages: ~4 MB copied and an fsync of the database file, on the one reactor
// thread, several times a second at full ingest rate. That was the p99 ack latency (every event
// waiting behind such a commit) and ~18 % of the reactor's CPU. The thread touches no Asio object,
// no pool and not the store's connection; it only runs PASSIVE checkpoints, which never block the
// writer (SQLite's WAL design: the writer appends while a checkpointer backfills older frames).
//
// The one thing a background checkpointer cannot do is restart the WAL: SQLite rewinds it only when
// a write finds every frame already backfilled, and under steady load the writer always appends
// while the thread copies. So the WAL hook (on the reactor thread, after each COMMIT) catches up
// itself once the WAL has grown past restart_pages, and only while the thread is idle and has
// copied all but catch_up_frames of it (the thread is woken at any gap past restart_pages to narrow
// it): so this copies a few frames and costs two short fsyncs; the next write starts the WAL from
// its beginning. What the catch-up copies, it also syncs on the reactor thread: the gap the thread
// left at its trigger (100-350 frames at 380 000 ev/s) took 1-4 ms there, every half second (issue
// 16: the p99 at half load); narrowed first, 0.75-1.7 ms. A gap that will not narrow (a reader's
// snapshot, or commits bigger than catch_up_frames) is caught up anyway once the WAL is a sixteenth
// past restart_pages. The WAL stays bounded near restart_pages. SQLite syncs the database only
// after a checkpoint that copied up to the WAL's current end, which under load the thread never
// does (the writer appends during the copy); so the thread syncs the database itself after each
// checkpoint that copied frames, and the catch-up's sync on the reactor thread finds next to
// nothing left to flush (issue 16: it was the whole WAL's worth of copied pages, 35 ms at half
// load).
//
// Start-up allocates (the thread, the connection); after that nothing here allocates. Every wait
// has a deadline (the thread wakes at least every `idle_period` and checkpoints a WAL that had no
// commit for a whole period: not one that commits trickle into, whose pages would be copied again
// and again; that one waits for trigger_pages).
#pragma once
#include <sqlite3.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>

#include "platform/store/sqlite.hpp"

namespace bh {

struct CheckpointerOptions {
  std::string path;             // the database the store has open
  bool sync_full = true;        // the checkpoint's own syncs follow the store's setting
  std::uint32_t trigger_pages = 1000;   // un-copied WAL frames that wake the thread (SQLite's default)
  std::uint32_t restart_pages = 16384;  // WAL frames (64 MiB at 4 KiB) past which the writer catches up
  std::uint32_t catch_up_frames = 64;   // the most un-copied frames the writer's catch-up takes on
  std::chrono::milliseconds idle_period{1000};  // a WAL without commits this long is checkpointed
};

// The store's journal_size_limit (bytes): SQLite truncates a WAL longer than this at the first
// commit after each rewind. That ftruncate runs on the reactor thread (it frees blocks and
// journals: 17 ms measured at half load on a busy disk), and the WAL then grows back with a
// filesystem journal commit in every fdatasync that extends it (issue 16). So the limit covers the
// rewind size (restart_pages frames of page_size + 24 bytes) plus an eighth for the commits made
// while the catch-up waits for the thread (at most a sixteenth, then the biggest commit), and never
// less than 64 MiB (the former fixed limit): the WAL is rewound in place and only a WAL grown past
// that by a stalled checkpoint is cut back.
constexpr std::int64_t wal_size_limit(std::int64_t page_size, std::uint32_t restart_pages) noexcept {
  const std::int64_t frames = std::int64_t{restart_pages} + restart_pages / 8;
  const std::int64_t bytes = 32 + frames * (page_size + 24);
  return bytes > (std::int64_t{64} << 20) ? bytes : std::int64_t{64} << 20;
}

struct CheckpointerStats {
  std::uint64_t checkpoints = 0;     // by the thread
  std::uint64_t frames_copied = 0;   // by the thread
  std::uint64_t catch_ups = 0;       // small checkpoints in the WAL hook that let the WAL restart
  std::uint64_t busy = 0;            // checkpoints that found another one running (harmless)
  std::uint64_t errors = 0;          // checkpoints that failed otherwise (logged)
  std::uint32_t wal_frames = 0;      // frames in the WAL after the last commit
};

class WalCheckpointer {
 public:
  WalCheckpointer() = default;
  ~WalCheckpointer() { stop(); }
  WalCheckpointer(const WalCheckpointer&) = delete;
  WalCheckpointer& operator=(const WalCheckpointer&) = delete;

  // Opens the second connection and starts the thread, then installs the WAL hook on `writer`
  // (which turns SQLite's auto-checkpoint off for that connection). Errors: the SQLite code of the
  // open, or std::errc::resource_unavailable_try_again if the thread could not start; nothing stays
  // open then and the caller keeps SQLite's auto-checkpoint. Start-up only.
  std::error_code start(sqlite3* writer, const CheckpointerOptions& opts);
  // Stops and joins the thread (a checkpoint in progress is interrupted), closes its connection and
  // gives `writer` SQLite's auto-checkpoint back (at trigger_pages). Idempotent.
  void stop() noexcept;
  bool running() const noexcept { return thread_.joinable(); }
  // Asks the thread for a checkpoint now (e.g. after retention freed many pages). Reactor thread.
  void kick() noexcept;
  CheckpointerStats stats() const noexcept;

 private:
  static int on_wal(void* self, sqlite3* db, const char* name, int frames) noexcept;
  void run() noexcept;

  CheckpointerOptions opts_;
  sqlite3* writer_ = nullptr;
  sql::Db db_;  // the thread's connection
  sqlite3_file* db_file_ = nullptr;  // its database file (synced after each checkpoint that copied)
  std::thread thread_;
  std::mutex m_;
  std::condition_variable cv_;
  bool stop_ = false;    // guarded by m_
  bool kicked_ = false;  // guarded by m_
  std::atomic<bool> busy_{false};                // the thread is checkpointing
  std::atomic<std::uint32_t> wal_frames_{0};     // after the last commit (writer side)
  std::atomic<std::uint32_t> copied_upto_{0};    // frames backfilled, as the last checkpoint saw
  std::atomic<std::uint64_t> checkpoints_{0}, frames_copied_{0}, busy_count_{0}, errors_{0};
  std::uint64_t catch_ups_ = 0;  // reactor thread only
};

}  // namespace bh
