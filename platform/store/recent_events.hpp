// RecentEvents: the store's newest rows, kept in memory so that a sink that keeps up reads its next
// batch from here instead of from SQLite. At full load the SELECT and its column reads cost a sixth
// of the reactor's CPU per event, for rows the reactor had inserted a few milliseconds before. A
// sink at full load is a POST behind (up to 4096 events, ~1 MiB): sized for that, it serves ~3/4 of
// the reads there (+11 % events/s), and SQLite's page cache could shrink by as much (cache_kib).
//
// It holds a run of consecutive seqs [first, last] whose bytes (source, identity, body) sit in one
// fixed ring, their fields in a fixed table of slots, both inside the object (so in the store's
// pool slot: the budget's store_conn row counts them). Adding a row evicts the oldest ones whose
// bytes or slot it needs. The store keeps it equal to the table: every row it inserts is added (a
// seq at or below `last` first drops the rows from it on, so a batch inserted again after a
// rollback replaces itself), rows it deletes are dropped (drop_through, drop_after). It is a
// cache: whatever it does not hold is read from the table. Reactor thread only.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace bh {

struct EventIn;
struct EventOut;

class RecentEvents {
 public:
  static constexpr std::size_t kBytes = 1024 * 1024;  // compiled capacity: event bytes
  static constexpr std::uint32_t kRows = 4096;         // and rows (a sink's largest batch)

  // Uses `bytes` of the ring and `rows` slots at most (capped at the capacity), and empties it.
  // Zero: disabled.
  void init(std::size_t bytes, std::uint32_t rows) noexcept;

  void clear() noexcept { count_ = 0; }
  // The row the store just inserted as `seq`.
  void add(std::uint64_t seq, const EventIn& e) noexcept;
  // Rows <= seq were deleted (retention).
  void drop_through(std::uint64_t seq) noexcept;
  // Rows > seq were deleted or rolled back.
  void drop_after(std::uint64_t seq) noexcept;

  bool holds(std::uint64_t seq) const noexcept { return count_ > 0 && seq >= first_ && seq - first_ < count_; }
  // The row `seq` (holds(seq) must be true); its views stay valid until the next add().
  EventOut get(std::uint64_t seq) const noexcept;

 private:
  struct Slot {  // 24 bytes: the row's seq is its index (first_ + i), its bytes are in the ring
    std::int64_t ts_ms;
    std::uint32_t at;  // offset in the ring: source, identity, body
    std::uint32_t body_len;
    std::uint16_t source_len, identity_len;
    bool clock_unsynced;
    std::size_t end() const noexcept { return std::size_t{at} + source_len + identity_len + body_len; }
  };
  const Slot& slot(std::uint64_t seq) const noexcept { return slots_[seq % nslots_]; }

  std::array<char, kBytes> ring_;
  std::array<Slot, kRows> slots_;
  std::size_t cap_ = 0;
  std::uint32_t nslots_ = 0;
  std::uint64_t first_ = 0;
  std::uint64_t count_ = 0;
};

}  // namespace bh
