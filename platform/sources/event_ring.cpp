// EventRing: placement of records in the ring, drop_oldest, the in-flight boundary.
#include "platform/sources/event_ring.hpp"
#include "platform/core/reactor_thread.hpp"
#include "platform/util/assert.hpp"


namespace bh {

bool EventRing::fits(std::uint32_t need, std::uint32_t& at) const noexcept {
  if (count_ == 0) {
    at = 0;
    return need <= kBytes;
  }
  if (!wrapped_) {
    if (kBytes - tail_ >= need) {
      at = tail_;
      return true;
    }
    if (head_ >= need) {  // wrap: the top part [tail_, kBytes) stays unused until head_ passes it
      at = 0;
      return true;
    }
    return false;
  }
  if (head_ - tail_ >= need) {
    at = tail_;
    return true;
  }
  return false;
}

EventRing::Reserve EventRing::reserve(std::uint32_t len, std::uint64_t& dropped) noexcept {
  BH_ASSERT(on_reactor_thread());
  const std::uint32_t need = record_bytes(len);
  if (len > kBytes || need > kBytes) return Reserve::too_big;
  std::uint32_t at = 0;
  while (count_ >= max_count_ || !fits(need, at)) {
    if (queued() == 0 || in_flight_ > 0) {
      // Nothing droppable sits at the head: in-flight records are freed only by their commit.
      if (count_ == 0) return Reserve::too_big;
      return Reserve::blocked;
    }
    if (drop_fn_) {
      Record r;
      read(head_, r);
      drop_fn_(drop_ctx_, r);
    }
    pop_head();
    ++dropped;
  }
  at_ = at;
  return Reserve::ok;
}

void EventRing::commit(std::uint32_t len, std::int64_t ts_ms, const DedupeKey* key) noexcept {
  BH_ASSERT(on_reactor_thread());
  if (count_ == 0) {
    head_ = tail_ = 0;
    wrapped_ = false;
    end_ = kBytes;
  }
  if (at_ == 0 && count_ > 0 && !wrapped_) {
    end_ = tail_;
    wrapped_ = true;
  }
  std::memcpy(buf_ + at_, &len, sizeof len);
  const std::uint32_t has_key = key ? 1 : 0;
  std::memcpy(buf_ + at_ + 4, &has_key, sizeof has_key);
  std::memcpy(buf_ + at_ + 8, &ts_ms, sizeof ts_ms);
  if (key) std::memcpy(buf_ + at_ + 16, key, sizeof *key);
  if (queued() == 0) sub_ = at_;
  tail_ = at_ + record_bytes(len);
  ++count_;
  if (count_ > high_) high_ = count_;
}

void EventRing::read(std::uint32_t off, Record& out) const noexcept {
  std::uint32_t n = len_at(off), has_key = 0;
  std::memcpy(&has_key, buf_ + off + 4, sizeof has_key);
  std::memcpy(&out.ts_ms, buf_ + off + 8, sizeof out.ts_ms);
  out.key = has_key ? reinterpret_cast<const DedupeKey*>(buf_ + off + 16) : nullptr;
  out.body = std::string_view(buf_ + off + kHeader, n);
}

bool EventRing::next_queued(Record& out) const noexcept {
  if (queued() == 0) return false;
  read(sub_, out);
  return true;
}

bool EventRing::oldest_in_flight(Record& out) const noexcept {
  if (in_flight_ == 0) return false;
  read(head_, out);
  return true;
}

void EventRing::mark_in_flight() noexcept {
  BH_ASSERT(on_reactor_thread());
  BH_ASSERT(queued() > 0);
  ++in_flight_;
  if (queued() > 0) sub_ = after(sub_);
}

void EventRing::pop_head() noexcept {
  BH_ASSERT(on_reactor_thread());
  BH_ASSERT(count_ > 0);
  const bool was_sub = head_ == sub_;
  std::uint32_t next = head_ + record_bytes(len_at(head_));
  if (wrapped_ && next == end_) {
    next = 0;
    wrapped_ = false;
    end_ = kBytes;
  }
  head_ = next;
  if (--count_ == 0) {
    head_ = tail_ = sub_ = 0;
    wrapped_ = false;
    end_ = kBytes;
  } else if (was_sub) {
    sub_ = head_;
  }
}

void EventRing::pop_in_flight() noexcept {
  BH_ASSERT(on_reactor_thread());
  BH_ASSERT(in_flight_ > 0);
  --in_flight_;
  pop_head();
}

std::uint32_t EventRing::drop_queued() noexcept {
  std::uint32_t n = queued();
  if (in_flight_ == 0) {
    while (count_ > 0) pop_head();
    return n;
  }
  // Queued records follow the in-flight ones: cut the ring back to the end of the last in flight.
  std::uint32_t off = head_;
  for (std::uint32_t i = 0; i < in_flight_; ++i) off = after(off);
  if (off == 0 && wrapped_ && tail_ <= head_) {
    // The first queued record is at 0: everything from 0 goes, the top part is all in flight.
    tail_ = end_;
    wrapped_ = false;
    end_ = kBytes;
  } else {
    tail_ = off;
    if (wrapped_ && off >= head_) {  // the cut is in the top part: nothing below remains
      wrapped_ = false;
      end_ = kBytes;
    }
  }
  count_ = in_flight_;
  sub_ = tail_;
  return n;
}

}  // namespace bh
