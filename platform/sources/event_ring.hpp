// EventRing: the bounded queue between a source's connection and the store. Events are records in
// one fixed byte ring (header + body, contiguous), so memory is bounded by the ring's bytes, not by
// `queue × max_event_bytes`; the count is bounded by `queue` too. Full (by count or bytes) means
// drop_oldest: the oldest queued event goes, counted. Records handed to the committer stay in the
// ring ("in flight") until their commit is reported, because the committer keeps views of them;
// they are never dropped, so a new event that only fits once they are gone waits for room.
// A record may carry its dedupe key (platform/sources/dedupe.hpp) to the store with it.
// Not a general allocator: records leave strictly in FIFO order. Reactor thread only.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "platform/store/store.hpp"

namespace bh {

class EventRing {
 public:
  static constexpr std::uint32_t kBytes = 128 * 1024;
  static constexpr std::uint32_t kHeader = 32;  // length, has-key flag, ts, dedupe key

  struct Record {
    std::string_view body;
    std::int64_t ts_ms = 0;
    const DedupeKey* key = nullptr;  // in the ring: valid while the record is
  };
  enum class Reserve : std::uint8_t { ok, blocked, too_big };

  explicit EventRing(std::uint32_t max_count) noexcept : max_count_(max_count ? max_count : 1) {}
  EventRing(const EventRing&) = delete;
  EventRing& operator=(const EventRing&) = delete;

  // Room for a body of `len` bytes: drops the oldest queued events (adding to `dropped`) while the
  // count or the bytes are short. Errors: too_big (over the ring itself), blocked (only events in
  // flight are in the way: wait for their commit). On ok, write the body at data() and commit().
  Reserve reserve(std::uint32_t len, std::uint64_t& dropped) noexcept;
  char* data() noexcept { return buf_ + at_ + kHeader; }
  // Appends the reserved record with its final length (<= the reserved one) and its key (or none).
  void commit(std::uint32_t len, std::int64_t ts_ms, const DedupeKey* key = nullptr) noexcept;
  // Convenience: reserve + copy + commit. Same errors as reserve().
  Reserve push(std::string_view body, std::int64_t ts_ms, std::uint64_t& dropped, const DedupeKey* key = nullptr) noexcept {
    // Checked here too (reserve() does): it also bounds the memcpy for GCC's -Wstringop-overflow.
    if (body.size() > kBytes - kHeader) return Reserve::too_big;
    Reserve r = reserve(static_cast<std::uint32_t>(body.size()), dropped);
    if (r != Reserve::ok) return r;
    std::memcpy(data(), body.data(), body.size());
    commit(static_cast<std::uint32_t>(body.size()), ts_ms, key);
    return r;
  }
  // Called with each queued record reserve() drops (drop_oldest), before its bytes go.
  void on_drop(void (*fn)(void*, const Record&), void* ctx) noexcept { drop_fn_ = fn, drop_ctx_ = ctx; }

  // The oldest event not yet handed to the committer (false if none).
  bool next_queued(Record& out) const noexcept;
  // The oldest in-flight event (false if none): the one the next commit report is about.
  bool oldest_in_flight(Record& out) const noexcept;
  // The event next_queued() returned is now in flight.
  void mark_in_flight() noexcept;
  // The oldest in-flight event's commit was reported: its bytes are free.
  void pop_in_flight() noexcept;
  // Drops every queued (not in-flight) event. Returns how many.
  std::uint32_t drop_queued() noexcept;

  std::uint32_t count() const noexcept { return count_; }
  std::uint32_t in_flight() const noexcept { return in_flight_; }
  std::uint32_t queued() const noexcept { return count_ - in_flight_; }
  std::uint32_t max_count() const noexcept { return max_count_; }
  std::uint32_t high_water() const noexcept { return high_; }
  static constexpr std::uint32_t record_bytes(std::uint32_t len) noexcept { return (kHeader + len + 7u) & ~7u; }

 private:
  std::uint32_t len_at(std::uint32_t off) const noexcept {
    std::uint32_t n;
    std::memcpy(&n, buf_ + off, sizeof n);
    return n;
  }
  std::uint32_t after(std::uint32_t off) const noexcept {
    std::uint32_t n = off + record_bytes(len_at(off));
    return (wrapped_ && n == end_) ? 0 : n;
  }
  bool fits(std::uint32_t need, std::uint32_t& at) const noexcept;
  void read(std::uint32_t off, Record& out) const noexcept;
  void pop_head() noexcept;

  std::uint32_t max_count_;
  std::uint32_t head_ = 0;    // oldest record
  std::uint32_t tail_ = 0;    // where the next record goes
  std::uint32_t end_ = kBytes;  // when wrapped_: where the records at the top end
  std::uint32_t sub_ = 0;     // oldest queued record (valid when queued() > 0)
  std::uint32_t at_ = 0;      // reserved record
  std::uint32_t count_ = 0;
  std::uint32_t in_flight_ = 0;
  std::uint32_t high_ = 0;
  bool wrapped_ = false;  // the records run from head_ to end_, then from 0 to tail_
  void (*drop_fn_)(void*, const Record&) = nullptr;
  void* drop_ctx_ = nullptr;
  alignas(8) char buf_[kBytes];
};

}  // namespace bh
