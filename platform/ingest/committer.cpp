// Committer: admission, the posted flush, commit-then-audit-then-ack.
#include "platform/ingest/committer.hpp"

#include <asio/post.hpp>

#include "platform/log.hpp"

namespace bh {

Committer::Committer(asio::io_context& io, Store& store, AuditLog* audit, std::uint32_t max_batch,
                     std::uint64_t max_pending) noexcept
    : io_(io),
      store_(store),
      audit_(audit),
      max_batch_(max_batch == 0 || max_batch > kCapacity ? kCapacity : max_batch),
      max_pending_(max_pending) {}

errc Committer::submit(std::string_view source, std::string_view body, std::int64_t ts_ms, CommitClient* client,
                       std::uint32_t tag) noexcept {
  if (!admitting_) {
    ++stats_.refused_shutting_down;
    return errc::shutting_down;
  }
  if (store_.overflow() == StoreOptions::Overflow::reject && store_.pending() + n_ >= max_pending_) {
    ++stats_.refused_busy;
    return errc::busy;
  }
  if (n_ == max_batch_) flush();
  events_[n_] = EventIn{source, body, ts_ms};
  entries_[n_] = Entry{client, tag};
  ++n_;
  post_flush();
  return errc::ok;
}

void Committer::post_flush() noexcept {
  if (flush_posted_) return;
  flush_posted_ = true;
  struct Handler {
    Committer* c;
    using allocator_type = HandlerAllocator<void>;
    allocator_type get_allocator() const noexcept { return allocator_type(&c->handlers_); }
    void operator()() const {
      c->flush_posted_ = false;
      c->flush();
    }
  };
  asio::post(io_, Handler{this});
}

void Committer::flush() noexcept {
  if (n_ == 0) return;
  const std::uint32_t n = std::exchange(n_, 0);
  auto t0 = std::chrono::steady_clock::now();
  // Persist before acking: nothing below tells a client "ok" until COMMIT has returned.
  std::error_code ec = store_.append({events_, n}, {seqs_, n});
  auto us = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0).count());
  stats_.last_commit_us = us;
  stats_.total_commit_us += us;
  if (us > stats_.max_commit_us) stats_.max_commit_us = us;
  if (ec) {
    ++stats_.commit_errors;
    log::error("commit of {} event(s) failed: {}", n, ec.message());
    for (std::uint32_t i = 0; i < n; ++i) entries_[i].client->on_committed(entries_[i].tag, 0, errc::storage);
    return;
  }
  ++stats_.batches;
  stats_.events += n;
  if (n > stats_.largest_batch) stats_.largest_batch = n;
  if (audit_) {
    for (std::uint32_t i = 0; i < n; ++i)
      audit_records_[i] = AuditRecord{seqs_[i], events_[i].ts_ms, events_[i].source, events_[i].body.size()};
    audit_->append({audit_records_, n});  // best effort: failures are counted by the audit log
  }
  for (std::uint32_t i = 0; i < n; ++i) entries_[i].client->on_committed(entries_[i].tag, seqs_[i], errc::ok);
  // drop_oldest: the outbox may not stay above max_pending; the oldest undelivered events go
  // (counted, logged at most once a second). What was just acked may itself be among them.
  if (store_.overflow() == StoreOptions::Overflow::drop_oldest && store_.pending() > max_pending_) {
    std::uint64_t dropped = 0;
    if (!store_.drop_oldest(store_.pending() - max_pending_, dropped)) {
      stats_.dropped_oldest += dropped;
      auto now = std::chrono::steady_clock::now();
      if (now - last_drop_log_ > std::chrono::seconds(1)) {
        last_drop_log_ = now;
        log::warn("store at max_pending: dropped the {} oldest undelivered event(s) ({} in all)", dropped,
                  stats_.dropped_oldest);
      }
    }
  }
  if (commit_fn_) commit_fn_(commit_ctx_);
}

}  // namespace bh
