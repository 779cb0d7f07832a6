// WalSyncer: makes committed transactions durable off the reactor thread.
//
// Why: with synchronous=FULL SQLite fdatasync()s the WAL inside every COMMIT, on the one reactor
// thread, which then gathers nothing for the whole sync: a third of its time at full ingest rate.
// Instead, when the syncer runs, the store's connection uses synchronous=NORMAL (a COMMIT writes
// its WAL frames and returns; SQLite still syncs the WAL before every checkpoint and the database
// after it, so the files are always consistent) and this thread fdatasync()s the WAL after
// commits. An event is acked, and offered to sinks, only after a sync that *began after its COMMIT
// returned* succeeded: the promise of synchronous=FULL (fdatasync on any descriptor of a file
// flushes every dirty page of that file), while the reactor gathers and commits the next batch.
// Syncs coalesce: one fdatasync covers every commit made before it began. With the store's ack log
// (platform/store/ack_log.hpp) a request may name the log instead: the same promise, for the
// log's records written before the sync began.
//
// Requests carry a ticket (a commit number, never reused) and the last seq that commit wrote; the
// thread reports the latest ticket it synced, or the one whose sync failed, through an eventfd the
// reactor waits on, so no Asio object is touched from the thread. Start-up allocates (the thread);
// nothing after. Every wait of the reactor's on the thread has a deadline.
#pragma once
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>

#include "hal/clock.hpp"

namespace bh {

// fdatasync(fd), again on EINTR: 0, or -1 with errno.
int sync_fd(int fd) noexcept;

struct WalSyncerStats {
  std::uint64_t syncs = 0;     // fdatasync calls made
  std::uint64_t failures = 0;  // of them failed
  std::uint64_t last_us = 0, max_us = 0, total_us = 0;
};

class WalSyncer {
 public:
  struct Outcome {
    std::uint64_t synced_ticket = 0;  // latest ticket made durable (0: none since the last take)
    std::uint64_t synced_seq = 0;     // the seq sent with it
    std::uint64_t failed_ticket = 0;  // latest ticket whose sync failed (0: none since the last take)
  };

  WalSyncer() = default;
  ~WalSyncer() { stop(); }
  WalSyncer(const WalSyncer&) = delete;
  WalSyncer& operator=(const WalSyncer&) = delete;

  // Opens the WAL file `wal_path` (which must exist), the store's ack log `log_path` if not empty
  // (platform/store/ack_log.hpp) and an eventfd, syncs the WAL once (whatever an earlier process
  // left unsynced becomes durable before anything is offered to sinks) and starts the thread.
  // Errors: errno of open/eventfd/fdatasync, resource_unavailable_try_again if the thread could not
  // start; nothing stays open then. Start-up only.
  std::error_code start(const std::string& wal_path, const std::string& log_path = {});
  // Finishes the sync requested last (if any), joins the thread, closes its descriptors. Idempotent.
  void stop() noexcept;
  bool running() const noexcept { return thread_.joinable(); }
  // Readable when an outcome is ready (reactor side; owned here, never closed by the waiter).
  int event_fd() const noexcept { return event_fd_; }

  // Everything written to the WAL (`wal`) and/or the ack log (`log`) so far is to be made durable;
  // `ticket` grows with each call. One pass syncs each file some request since the last pass named.
  void request(std::uint64_t ticket, std::uint64_t seq, bool wal = true, bool log = false) noexcept;
  // The outcomes since the last take (clears them; not the eventfd). Never blocks.
  Outcome take() noexcept;
  // Clears the eventfd: the waiter calls it when woken, before take(), so that an outcome
  // reported meanwhile wakes it again. An outcome taken by someone else (a blocking wait) still
  // leaves the eventfd readable: a pending wait always ends.
  void clear_event() noexcept;
  // Waits until every request so far has an outcome, at most `limit`. False on timeout.
  bool wait(std::chrono::milliseconds limit) noexcept;
  // How long the oldest request without an outcome has waited (zero when there is none).
  hal::Clock::duration stall(hal::Clock::time_point now) const noexcept;
  WalSyncerStats stats() const noexcept;

 private:
  void run() noexcept;
  void close_fds() noexcept;

  int wal_fd_ = -1;
  int log_fd_ = -1;
  int event_fd_ = -1;
  std::thread thread_;
  mutable std::mutex m_;
  std::condition_variable cv_;       // the thread waits for requests
  std::condition_variable done_cv_;  // wait() waits for outcomes
  bool stop_ = false;
  std::uint64_t want_ticket_ = 0, want_seq_ = 0;  // latest request
  bool want_wal_ = false, want_log_ = false;      // files named since the last pass began
  std::uint64_t done_ticket_ = 0;                 // latest request with an outcome
  hal::Clock::time_point waiting_since_{};  // of the oldest request without one
  Outcome out_{};                                 // not yet taken
  WalSyncerStats stats_{};
};

}  // namespace bh
