// Committer: group commit. Events admitted during one reactor turn (up to max_batch) are gathered
// into one batch; a flush posted behind that turn's I/O commits the whole batch in one SQLite
// transaction (one fsync), appends its audit lines, then tells each submitter its seq — in that
// order: persist before acking. A batch is never held back waiting for more events.
// Admission is where the pending cap and shutdown refuse work. Reactor thread only.
#pragma once
#include <asio/io_context.hpp>

#include <chrono>
#include <cstdint>
#include <string_view>

#include "platform/errors.hpp"
#include "platform/store/audit_log.hpp"
#include "platform/store/store.hpp"
#include "platform/task.hpp"

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
  std::uint64_t batches = 0;
  std::uint64_t events = 0;
  std::uint64_t commit_errors = 0;
  std::uint64_t refused_busy = 0;
  std::uint64_t refused_shutting_down = 0;
  std::uint64_t dropped_oldest = 0;
  std::uint32_t largest_batch = 0;
  std::uint64_t last_commit_us = 0;
  std::uint64_t max_commit_us = 0;
  std::uint64_t total_commit_us = 0;
};

class Committer {
 public:
  static constexpr std::uint32_t kCapacity = 4096;  // compiled batch capacity (store.max_batch <= this)

  // audit may be nullptr (audit log disabled). max_pending caps committed-but-undelivered events
  // (store.pending()); what happens at the cap is the store's overflow policy.
  Committer(asio::io_context& io, Store& store, AuditLog* audit, std::uint32_t max_batch,
            std::uint64_t max_pending) noexcept;
  Committer(const Committer&) = delete;
  Committer& operator=(const Committer&) = delete;

  // Admits one event into the current batch. The views must stay valid until the client is told
  // the outcome. Errors: errc::shutting_down after stop_admitting(); errc::busy when the store is
  // at max_pending under the reject policy. Nothing is stored then and the client is not called.
  errc submit(std::string_view source, std::string_view body, std::int64_t ts_ms, CommitClient* client,
              std::uint32_t tag) noexcept;
  // Commits the current batch now (normally posted once per turn; also called when it fills).
  void flush() noexcept;
  void stop_admitting() noexcept { admitting_ = false; }
  bool admitting() const noexcept { return admitting_; }
  // Nothing waiting to be committed.
  bool idle() const noexcept { return n_ == 0; }
  std::uint32_t batch_size() const noexcept { return n_; }
  const CommitterStats& stats() const noexcept { return stats_; }
  // Called after every successful commit (the delivery side wakes its sinks). ctx is passed back.
  void on_commit(void (*fn)(void*), void* ctx) noexcept { commit_fn_ = fn, commit_ctx_ = ctx; }

 private:
  struct Entry {
    CommitClient* client;
    std::uint32_t tag;
  };
  void post_flush() noexcept;

  asio::io_context& io_;
  Store& store_;
  AuditLog* audit_;
  std::uint32_t max_batch_;
  std::uint64_t max_pending_;
  bool admitting_ = true;
  bool flush_posted_ = false;
  std::uint32_t n_ = 0;
  void (*commit_fn_)(void*) = nullptr;
  void* commit_ctx_ = nullptr;
  std::chrono::steady_clock::time_point last_drop_log_{};
  CommitterStats stats_;
  HandlerArena handlers_;
  EventIn events_[kCapacity];
  std::uint64_t seqs_[kCapacity];
  Entry entries_[kCapacity];
  AuditRecord audit_records_[kCapacity];
};

}  // namespace bh
