// Committer: admission, the posted flush, commit, then (once durable) audit and ack.
#include "platform/store/committer.hpp"
#include "platform/observe/clock_watch.hpp"

#include <asio/post.hpp>

#include "platform/core/reactor_thread.hpp"
#include "platform/util/assert.hpp"
#include "platform/util/log.hpp"

namespace bh {

namespace {
// The committer's completion handlers (the posted flush, the wait on the syncer) live in static
// storage, not in the Committer: a handler still queued when the reactor is stopped by force is
// destroyed with the io_context, after the Committer is gone. Four at most per committer (the
// flush, the sync wait, the commit window's timer, the hold timer).
HandlerArena& handler_arena() noexcept {
  static HandlerArena arena;
  return arena;
}
}  // namespace

// The handler of a wait (the syncer's eventfd, the window's timer), in the static arena: calls
// `Member` unless the wait was aborted (then the committer may be gone and is not touched).
template <void (Committer::*Member)() noexcept>
struct Committer::WaitHandler {
  Committer* c;
  using allocator_type = HandlerAllocator<void>;
  allocator_type get_allocator() const noexcept { return allocator_type(&handler_arena()); }
  void operator()(std::error_code ec) const {
    if (ec != asio::error::operation_aborted) (c->*Member)();
  }
};

Committer::Committer(asio::io_context& io, Store& store, AuditLog* audit, std::uint32_t max_batch,
                     std::uint64_t max_pending, hal::Clock::duration commit_window) noexcept
    : io_(io),
      store_(store),
      audit_(audit),
      max_batch_(max_batch == 0 || max_batch > kCapacity ? kCapacity : max_batch),
      max_pending_(max_pending),
      window_(commit_window < hal::Clock::duration::zero() ? hal::Clock::duration::zero() : commit_window),
      window_timer_(io.get_executor()),
      hold_timer_(io.get_executor()),
      sync_ev_(io) {
  if (store_.async_sync()) {
    std::error_code ec;
    sync_ev_.assign(store_.sync_event_fd(), ec);  // start-up: registers the fd with the reactor
    if (ec) log::error("committer: cannot watch the WAL syncer: {}", ec.message());
  }
}

Committer::~Committer() {
  if (sync_ev_.is_open()) (void)sync_ev_.release();  // the store owns and closes the eventfd
}

errc Committer::submit(std::string_view source, std::string_view body, std::int64_t ts_ms, CommitClient* client,
                       std::uint32_t tag, const DedupeKey* dedupe, std::string_view identity) noexcept {
  BH_ASSERT(on_reactor_thread());
  BH_ASSERT(client != nullptr);
  if (!admitting_) {
    stats_.refused.count(errc::shutting_down);
    return errc::shutting_down;
  }
  if (store_.overflow() == StoreOptions::Overflow::reject && store_.pending() + n_ >= max_pending_) {
    stats_.refused.count(errc::busy);
    return errc::busy;
  }
  if (n_ == max_batch_) flush();
  if (tail_ - head_ == kRing) {
    // Every slot holds an event waiting for its sync: wait for the syncer (the reactor stalls as it
    // would with SQLite syncing inside COMMIT), bounded; still full after that: refused, counted.
    ++stats_.ring_waits;
    flush();
    drain();
    if (tail_ - head_ == kRing) {
      stats_.refused.count(errc::busy);
      return errc::busy;
    }
  }
  BH_ASSERT_MSG(n_ < max_batch_ && tail_ - head_ < kRing, "batch {} of {}, ring {} of {}", n_, max_batch_,
                tail_ - head_, kRing);
  // Stamped while the wall clock is not synced (platform/observe/clock_watch.hpp): stored flagged.
  events_[n_] = EventIn{source, body, ts_ms, dedupe, identity, ClockWatch::stamp_unsynced()};
  at(tail_) = Entry{client, tag};
  audit_at(tail_) = AuditRecord{0, ts_ms, source, body.size()};
  ++tail_;
  ++n_;
  n_bytes_ += body.size() + source.size();
  if (window_ == hal::Clock::duration::zero() || n_ == max_batch_ || n_bytes_ >= kWindowEnoughBytes) {
    post_flush();  // a full (or big enough) batch commits behind this turn
  } else if (n_ == 1) {
    window_due_ = hal::Clock::now() + window_;  // the batch's first event starts its window
    arm_window();
  }
  return errc::ok;
}

// One wait at most: a timer still pending for an earlier batch's deadline (which is never later
// than this one's) re-arms itself for the gathering batch when it fires.
void Committer::arm_window() noexcept {
  if (window_armed_) return;
  window_armed_ = true;
  window_timer_.expires_at(window_due_);
  window_timer_.async_wait(WaitHandler<&Committer::on_window>{this});
}

void Committer::on_window() noexcept {
  window_armed_ = false;
  if (n_ == 0) return;  // that batch went when it filled (or by an explicit flush)
  if (hal::Clock::now() >= window_due_) {
    flush();
  } else {
    arm_window();
  }
}

// The store holds its append transaction open (ack log): it is committed by its deadline even when
// no append comes to do it. One wait at most.
void Committer::arm_hold() noexcept {
  if (hold_armed_ || !store_.holding()) return;
  hold_armed_ = true;
  hold_timer_.expires_at(store_.hold_deadline());
  hold_timer_.async_wait(WaitHandler<&Committer::on_hold>{this});
}

void Committer::on_hold() noexcept {
  hold_armed_ = false;
  if (!store_.holding()) return;
  const auto now = hal::Clock::now();
  if (now >= store_.hold_deadline()) {
    if (store_.settle()) {
      hold_armed_ = true;  // it failed (counted and logged by the store): again in a second
      hold_timer_.expires_at(now + std::chrono::seconds(1));
      hold_timer_.async_wait(WaitHandler<&Committer::on_hold>{this});
      return;
    }
    (void)store_.request_sync();  // the WAL sync that frees the ack log's half; no batch waits on it
  }
  arm_hold();
}

void Committer::post_flush() noexcept {
  if (flush_posted_) return;
  flush_posted_ = true;
  struct Handler {
    Committer* c;
    using allocator_type = HandlerAllocator<void>;
    allocator_type get_allocator() const noexcept { return allocator_type(&handler_arena()); }
    void operator()() const {
      c->flush_posted_ = false;
      c->flush();
    }
  };
  asio::post(io_, Handler{this});
}

void Committer::flush() noexcept {
  BH_ASSERT(on_reactor_thread());
  if (n_ == 0) return;
  if (btail_ - bhead_ == kMaxBatches) drain();
  const std::uint32_t n = std::exchange(n_, 0);
  n_bytes_ = 0;
  ++flushed_;
  const std::uint64_t begin = tail_ - n;
  if (btail_ - bhead_ == kMaxBatches) {
    // No batch slot even after waiting (the syncer is stuck): refused now, out of ring order.
    log::error("commit of {} event(s) refused: {} batches still wait for the WAL syncer", n, kMaxBatches);
    for (std::uint64_t p = begin; p < tail_; ++p) at(p).client->on_committed(at(p).tag, 0, errc::storage);
    ++stats_.commit_errors;
    tail_ = begin;
    return;
  }
  auto t0 = std::chrono::steady_clock::now();
  std::error_code ec = store_.append({events_, n}, {seqs_, n});
  auto us = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0).count());
  stats_.last_commit_us = us;
  stats_.total_commit_us += us;
  if (us > stats_.max_commit_us) stats_.max_commit_us = us;
  std::uint64_t ticket = 0;
  if (ec) {
    log::error("commit of {} event(s) failed: {}", n, ec.message());
  } else {
    for (std::uint32_t i = 0; i < n; ++i) audit_at(begin + i).seq = seqs_[i];
    ticket = ack_before_sync_ ? 1 : store_.request_sync();  // the test hook asks for no sync
  }
  batches_[btail_++ % kMaxBatches] = Batch{tail_, ticket};
  const auto in_flight = static_cast<std::uint32_t>(tail_ - head_);
  stats_.in_flight = in_flight;
  if (in_flight > stats_.max_in_flight) stats_.max_in_flight = in_flight;
  // A failed commit is answered as soon as the batches before it are; without the syncer the
  // COMMIT was the sync: answered now.
  if (ec || !store_.async_sync() || ack_before_sync_) complete();
  arm_sync_wait();
  arm_hold();
}

void Committer::arm_sync_wait() noexcept {
  if (sync_waiting_ || bhead_ == btail_ || !sync_ev_.is_open()) return;
  sync_waiting_ = true;
  sync_ev_.async_wait(asio::posix::stream_descriptor::wait_read, WaitHandler<&Committer::on_sync_event>{this});
}

void Committer::on_sync_event() noexcept {
  sync_waiting_ = false;
  store_.clear_sync_event();
  complete();
  arm_sync_wait();
}

void Committer::drain() noexcept {
  if (!store_.wait_sync(kRingWait)) log::error("committer: the WAL syncer did not answer within {} ms", kRingWait.count());
  complete();
}

void Committer::audit_range(std::uint64_t begin, std::uint64_t end) noexcept {
  // The ring holds the records in order: at most two contiguous pieces (before and after the wrap).
  while (begin < end) {
    const std::uint64_t piece = std::min<std::uint64_t>(end - begin, kRing - begin % kRing);
    audit_->append({&audit_at(begin), static_cast<std::size_t>(piece)});
    begin += piece;
  }
}

void Committer::complete() noexcept {
  if (completing_) return;  // a client's callback that re-enters admission does not nest this
  completing_ = true;
  const Store::SyncProgress sp = store_.collect_sync();
  bool durable = false;
  while (bhead_ != btail_) {
    const Batch& b = batches_[bhead_ % kMaxBatches];
    errc result;
    if (b.ticket == 0 || b.ticket <= sp.failed_ticket) {
      result = errc::storage;
    } else if (b.ticket <= sp.durable_ticket || ack_before_sync_) {
      result = errc::ok;
    } else {
      break;  // not durable yet; neither is anything after it
    }
    const std::uint64_t begin = head_, end = b.end;
    BH_ASSERT_MSG(begin <= end && end <= tail_, "batch [{}, {}) outside the ring [{}, {})", begin, end, head_, tail_);
    ++bhead_;
    const auto n = static_cast<std::uint32_t>(end - begin);
    if (result == errc::ok) {
      durable = true;
      ++stats_.batches;
      stats_.events += n;
      if (n > stats_.largest_batch) stats_.largest_batch = n;
      if (audit_) audit_range(begin, end);  // best effort: failures are counted by the audit log
    } else {
      ++stats_.commit_errors;
    }
    for (std::uint64_t p = begin; p < end; ++p)
      at(p).client->on_committed(at(p).tag, result == errc::ok ? audit_at(p).seq : 0, result);
    head_ = end;
  }
  stats_.in_flight = static_cast<std::uint32_t>(tail_ - head_);
  completing_ = false;
  if (!durable) return;
  // drop_oldest: the outbox may not stay above max_pending; the oldest undelivered (durable) events
  // go (counted, logged at most once a second). What was just acked may itself be among them.
  if (store_.overflow() == StoreOptions::Overflow::drop_oldest && store_.pending() > max_pending_) {
    std::uint64_t dropped = 0;
    if (!store_.drop_oldest(store_.pending() - max_pending_, dropped)) {
      stats_.dropped_oldest += dropped;
      auto now = hal::Clock::now();
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
