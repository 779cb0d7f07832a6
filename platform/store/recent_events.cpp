#include "platform/store/recent_events.hpp"

#include <algorithm>
#include <cstring>

#include "platform/store/store.hpp"

namespace bh {

void RecentEvents::init(std::size_t bytes, std::uint32_t rows) noexcept {
  count_ = 0;
  cap_ = bytes > 0 && rows > 0 ? std::min(bytes, kBytes) : 0;
  nslots_ = cap_ > 0 ? std::min(rows, kRows) : 0;
}

void RecentEvents::add(std::uint64_t seq, const EventIn& e) noexcept {
  if (cap_ == 0) return;
  if (count_ > 0 && seq != first_ + count_) {
    if (seq > first_ && seq < first_ + count_) {
      drop_after(seq - 1);  // inserted again (after a rollback): it and what followed it go
    } else {
      clear();  // not the next one: a new run starts at seq
    }
  }
  const std::size_t len = e.source.size() + e.identity.size() + e.body.size();
  if (len > cap_ / 4 || e.source.size() > UINT16_MAX || e.identity.size() > UINT16_MAX) {
    // not kept: the run starts again after it
    clear();
    return;
  }
  // The rows lie in the ring in seq order from the write position on: the oldest first. Writing
  // at `at` evicts the oldest rows while their bytes are in the way (or every slot is taken).
  std::size_t at = count_ > 0 ? slot(first_ + count_ - 1).end() : 0;
  if (at + len > cap_) {
    while (count_ > 0 && slot(first_).at >= at) ++first_, --count_;  // the ring's tail is skipped
    at = 0;
  }
  while (count_ > 0 && (count_ == nslots_ || (slot(first_).at < at + len && at < slot(first_).end())))
    ++first_, --count_;
  if (count_ == 0) {
    first_ = seq;
    at = 0;
  }
  Slot& s = slots_[seq % nslots_];
  s = Slot{e.ts_ms, static_cast<std::uint32_t>(at), static_cast<std::uint32_t>(e.body.size()),
           static_cast<std::uint16_t>(e.source.size()), static_cast<std::uint16_t>(e.identity.size()),
           e.clock_unsynced};
  char* p = ring_.data() + at;
  if (!e.source.empty()) std::memcpy(p, e.source.data(), e.source.size());
  if (!e.identity.empty()) std::memcpy(p + s.source_len, e.identity.data(), e.identity.size());
  if (!e.body.empty()) std::memcpy(p + s.source_len + s.identity_len, e.body.data(), e.body.size());
  ++count_;
}

void RecentEvents::drop_through(std::uint64_t seq) noexcept {
  if (count_ == 0 || seq < first_) return;
  const std::uint64_t n = seq - first_ + 1;
  if (n >= count_) {
    clear();
    return;
  }
  first_ += n;
  count_ -= n;
}

void RecentEvents::drop_after(std::uint64_t seq) noexcept {
  if (count_ == 0) return;
  if (seq < first_) {
    clear();
    return;
  }
  if (seq - first_ + 1 < count_) count_ = seq - first_ + 1;
}

EventOut RecentEvents::get(std::uint64_t seq) const noexcept {
  const Slot& s = slot(seq);
  const char* p = ring_.data() + s.at;
  return EventOut{seq,
                  s.ts_ms,
                  {p, s.source_len},
                  {p + s.source_len + s.identity_len, s.body_len},
                  {p + s.source_len, s.identity_len},
                  s.clock_unsynced};
}

}  // namespace bh
