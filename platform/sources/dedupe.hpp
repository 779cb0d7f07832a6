// Dedupe: a source's memory of the items it has already stored, so that the same item seen again
// (the next poll returns the same latest transfers; a restart polls them once more) is not an
// event again. An item's key is a 128-bit digest of the values at the source's `dedupe_key`
// pointers (or of the whole event with ["/"]); the window keeps the newest `dedupe_window` keys in
// a fixed open-addressing set with a FIFO ring for eviction, both allocated at start-up. The keys
// are persisted with their events by the store (Store::append, the `dedupe` table) and loaded back
// at start-up, so the window survives restarts. Not a filter on content (platform/shape/filter.hpp),
// not a store of events. Reactor thread only; nothing here allocates after init().
#pragma once
#include <array>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string_view>

#include "platform/shape/json_pointer.hpp"
#include "platform/store/store.hpp"

namespace bh {

// The key of one item. 128 bits of SHA-256: a window of 10^5 keys has a chance of about 10^-29
// of two distinct items sharing one (64 bits would be about 3x10^-10 per window, and a collision
// silently drops an event); SHA-256 also means a crafted field cannot be made to collide with
// another item's key. 16 bytes per key in memory and in the table. (DedupeKey is the store's
// vocabulary: platform/store/store.hpp.)

// What makes an item's key: the pointers of `dedupe_key`, compiled at start-up.
class DedupeKeyer {
 public:
  static constexpr std::size_t kMaxPointers = 8;
  // Compiles the pointers (start-up). ["/"] means the whole event. Returns "" or why not (a bad
  // pointer: names it by its index in `why_index`).
  std::string compile(std::span<const std::string> pointers, std::size_t& why_index);
  bool whole() const noexcept { return whole_; }
  // The key of `event` (its bytes, and its parsed root for pointer keys). Returns false when no
  // pointer names a value in it (such an item is stored without dedupe, counted by the caller).
  bool key(std::string_view bytes, const simdjson::dom::element& root, DedupeKey& out) const noexcept;

 private:
  std::size_t n_ = 0;
  bool whole_ = false;
  std::array<JsonPointer, kMaxPointers> paths_{};
};

// The window: a set of the newest keys, oldest evicted first.
class DedupeWindow {
 public:
  // Start-up: room for `window` keys (0: dedupe off).
  void init(std::uint32_t window);
  std::uint32_t capacity() const noexcept { return cap_; }
  std::uint32_t size() const noexcept { return live_; }
  bool contains(const DedupeKey& k) const noexcept { return find(k) != kNone; }
  // Adds `k` (not present). A full window first evicts its oldest key: returns true then.
  bool insert(const DedupeKey& k) noexcept;
  // Forgets `k` (its event was not stored after all). Returns false if it was not there.
  bool erase(const DedupeKey& k) noexcept;

 private:
  static constexpr std::uint32_t kNone = 0xFFFFFFFFu;
  std::uint32_t home(const DedupeKey& k) const noexcept {
    std::uint64_t h;
    std::memcpy(&h, k.b.data(), sizeof h);
    return static_cast<std::uint32_t>(h) & mask_;
  }
  std::uint32_t find(const DedupeKey& k) const noexcept;  // table slot, or kNone
  void remove_slot(std::uint32_t slot) noexcept;

  std::uint32_t cap_ = 0, mask_ = 0;
  std::uint32_t head_ = 0, count_ = 0;  // ring: oldest position, positions used (live or erased)
  std::uint32_t live_ = 0;
  std::unique_ptr<DedupeKey[]> ring_;
  std::unique_ptr<bool[]> alive_;
  std::unique_ptr<std::uint32_t[]> table_;  // ring position + 1; 0 = empty
};

}  // namespace bh
