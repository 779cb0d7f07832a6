// Committer: group commit. Events admitted during one reactor turn (up to max_batch) are gathered
// into one batch; a flush posted behind that turn's I/O commits the whole batch in one SQLite
// transaction. Once the batch is durable it appends the batch's audit lines, then tells each
// submitter its seq — in that order: persist before acking. By default a batch is never held back
// waiting for more events. With a commit window (store.commit_window, issue 16) it is: the batch
// commits when it is full or when its first event has waited the window, whichever comes first,
// so that one commit and one fsync carry every event of the window (fewer pages rewritten on a
// flash card, at the price of up to the window in ack latency; Home Assistant's recorder
// commit_interval, made explicit). A batch that reached kWindowEnoughBytes does not wait. The
// window never acks earlier: the ack still waits for the sync that covers the commit.
// With the store's WAL syncer (Store::async_sync()) a batch is durable when a later fdatasync
// returns: committed batches wait in a fixed in-flight ring while the reactor gathers and commits
// the next ones (pipelining: one sync covers every batch committed before it began), and their
// acks go out, in commit order, when the syncer's eventfd says so. Without it the COMMIT itself was
// the sync and the batch is acked at once. Admission is where the pending cap and shutdown refuse
// work. With the store's ack log, a timer commits the store's held transaction when no append came
// to do it (Store::hold_deadline()). Reactor thread only.
#pragma once
#include <asio/io_context.hpp>
#include <asio/posix/stream_descriptor.hpp>

#include <chrono>
#include <cstdint>
#include <string_view>

#include "platform/util/errors.hpp"
#include "platform/ingest/wire_error.hpp"
#include "platform/store/audit_log.hpp"
#include "platform/store/store.hpp"
#include "platform/core/task.hpp"

namespace bh {

// Whoever submitted events: told the outcome of each, by the tag it chose.
class CommitClient {
 public:
  // result is errc::ok (seq valid) or errc::storage (nothing of the batch was stored).
  virtual void on_committed(std::uint32_t tag, std::uint64_t seq, errc result) noexcept = 0;

 protected:
  ~CommitClient() = default;
};

struct CommitterStats {
  std::uint64_t batches = 0;        // acked (durable) batches
  std::uint64_t events = 0;         // acked (durable) events
  std::uint64_t commit_errors = 0;  // batches answered err storage (commit or sync failed)
  std::uint64_t ring_waits = 0;     // the in-flight ring was full: the reactor waited for a sync
  std::uint32_t in_flight = 0;      // events committed, waiting for their sync (now)
  std::uint32_t max_in_flight = 0;
  WireErrorCounts refused;          // admissions refused: busy or shutting_down (the admission rows)
  std::uint64_t dropped_oldest = 0;
  std::uint32_t largest_batch = 0;
  std::uint64_t last_commit_us = 0;
  std::uint64_t max_commit_us = 0;
  std::uint64_t total_commit_us = 0;
};

class Committer {
 public:
  static constexpr std::uint32_t kCapacity = 4096;  // compiled batch capacity (store.max_batch <= this)
  static constexpr std::uint32_t kRing = 2 * kCapacity;  // events admitted and not yet acked
  static constexpr std::uint32_t kMaxBatches = 256;      // batches committed and not yet acked
  // How long a full ring waits for the syncer before admission answers busy.
  static constexpr std::chrono::milliseconds kRingWait{10'000};
  // Under a commit window, a batch this big commits at once: its ~2 pages of per-commit overhead
  // are already under 1/8 of its bytes, and at full load (producers waiting for their acks) no
  // more company would come, so waiting would only cut throughput (to in-flight / window).
  static constexpr std::uint64_t kWindowEnoughBytes = 64 * 1024;

  // audit may be nullptr (audit log disabled). max_pending caps committed-but-undelivered events
  // (store.pending()); what happens at the cap is the store's overflow policy.
  // commit_window: how long a batch's first event waits for company before the commit (zero: the
  // batch commits behind the reactor turn that admitted it).
  Committer(asio::io_context& io, Store& store, AuditLog* audit, std::uint32_t max_batch,
            std::uint64_t max_pending, hal::Clock::duration commit_window = {}) noexcept;
  ~Committer();
  Committer(const Committer&) = delete;
  Committer& operator=(const Committer&) = delete;

  // Admits one event into the current batch. The views must stay valid until the client is told
  // the outcome; so must `dedupe` (the event's dedupe key, stored in the same transaction; or
  // null) and `identity` (the authenticated client, stored with the event; empty: none). Errors: errc::shutting_down after stop_admitting(); errc::busy when the store is
  // at max_pending under the reject policy, or when the in-flight ring stayed full for kRingWait.
  // Nothing is stored then and the client is not called.
  errc submit(std::string_view source, std::string_view body, std::int64_t ts_ms, CommitClient* client,
              std::uint32_t tag, const DedupeKey* dedupe = nullptr, std::string_view identity = {}) noexcept;
  // Commits the current batch now (normally posted once per turn; also called when it fills).
  void flush() noexcept;
  // Shutdown: refuses new events, and a batch waiting for its commit window commits behind this
  // turn (no company can come any more; its submitters must be answered before the grace ends).
  void stop_admitting() noexcept {
    admitting_ = false;
    if (n_ > 0) post_flush();
  }
  bool admitting() const noexcept { return admitting_; }
  // Nothing waiting to be committed or acked, and no wait on the syncer pending.
  bool idle() const noexcept { return tail_ == head_ && !sync_waiting_; }
  // The batch gathering events now, by a number that changes when it goes to commit: under a
  // commit window, an event submitted while it is unchanged joins the same batch and the same sync.
  std::uint64_t gathering() const noexcept { return flushed_; }
  bool windowed() const noexcept { return window_ > hal::Clock::duration::zero(); }
  const CommitterStats& stats() const noexcept { return stats_; }
  // TEST ONLY, a deliberately broken committer: acks each batch as soon as its COMMIT returns and
  // asks the WAL syncer for no fdatasync (the events become durable only when a later checkpoint
  // syncs the WAL: synchronous=NORMAL's promise). Only the power-cut test's self-check sets it
  // (BH_TEST_ACK_BEFORE_SYNC, BH_TEST_HOOKS builds, firmware/app.cpp), to show that its cuts lose
  // what such a build acked. (An ack that merely precedes a sync that still follows at once is
  // not caught under QEMU: the ack reaches the host later than the sync reaches the disk.)
  // Start-up only.
  void test_ack_before_sync() noexcept { ack_before_sync_ = true; }
  // Called whenever batches became durable (the delivery side wakes its sinks). ctx is passed back.
  void on_commit(void (*fn)(void*), void* ctx) noexcept { commit_fn_ = fn, commit_ctx_ = ctx; }

 private:
  // One admitted event until its ack: who to tell (its audit line, seq filled at commit, sits at the
  // same ring position in records_, so that a run of them is one AuditLog::append).
  struct Entry {
    CommitClient* client;
    std::uint32_t tag;
  };
  struct Batch {
    std::uint64_t end;     // ring position after its last entry (it starts where the one before ended)
    std::uint64_t ticket;  // Store::request_sync() ticket; 0: the commit itself failed
  };
  Entry& at(std::uint64_t pos) noexcept { return ring_[pos % kRing]; }
  AuditRecord& audit_at(std::uint64_t pos) noexcept { return records_[pos % kRing]; }
  void post_flush() noexcept;
  void arm_window() noexcept;
  void on_window() noexcept;
  void arm_hold() noexcept;
  void on_hold() noexcept;
  void on_sync_event() noexcept;
  template <void (Committer::*Member)() noexcept>
  struct WaitHandler;
  // Acks (or fails) every batch at the front of the ring whose sync has an outcome.
  void complete() noexcept;
  // Blocks until the syncer answered everything requested (at most kRingWait), then completes.
  void drain() noexcept;
  void arm_sync_wait() noexcept;
  void audit_range(std::uint64_t begin, std::uint64_t end) noexcept;

  asio::io_context& io_;
  Store& store_;
  AuditLog* audit_;
  std::uint32_t max_batch_;
  std::uint64_t max_pending_;
  hal::Clock::duration window_;
  hal::Clock::time_point window_due_{};  // the gathering batch commits by then (with a window)
  bool window_armed_ = false;            // the window timer has a wait pending (one at most)
  Timer window_timer_;
  bool hold_armed_ = false;  // the hold timer has a wait pending (the store's ack log)
  Timer hold_timer_;
  bool admitting_ = true;
  bool flush_posted_ = false;
  bool sync_waiting_ = false;
  bool completing_ = false;
  bool ack_before_sync_ = false;  // test_ack_before_sync(): never set outside that test
  std::uint32_t n_ = 0;  // events gathered for the next commit: ring [tail_ - n_, tail_)
  std::uint64_t flushed_ = 0;  // batches gone to commit (see gathering())
  std::uint64_t n_bytes_ = 0;  // their bodies and source names
  std::uint64_t head_ = 0, tail_ = 0;     // ring positions: oldest un-acked entry, next free one
  std::uint64_t bhead_ = 0, btail_ = 0;   // batches_ positions
  void (*commit_fn_)(void*) = nullptr;
  void* commit_ctx_ = nullptr;
  hal::Clock::time_point last_drop_log_{};
  CommitterStats stats_;
  asio::posix::stream_descriptor sync_ev_;  // the store's syncer eventfd (not ours: released, never closed)
  EventIn events_[kCapacity];
  std::uint64_t seqs_[kCapacity];
  Batch batches_[kMaxBatches];
  Entry ring_[kRing];
  AuditRecord records_[kRing];
};

}  // namespace bh
