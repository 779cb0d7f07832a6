// QueueBase: the intrusive registry of queues (out of line, as PoolBase's).
#include "platform/queue.hpp"

namespace bh {

QueueBase::QueueBase(std::string_view name, std::uint32_t capacity, QueueOverflow policy) noexcept {
  stats_.name = name;
  stats_.capacity = capacity;
  stats_.policy = policy;
  prev_ = tail_;
  if (tail_) tail_->next_ = this; else head_ = this;
  tail_ = this;
}

QueueBase::~QueueBase() {
  if (prev_) prev_->next_ = next_; else head_ = next_;
  if (next_) next_->prev_ = prev_; else tail_ = prev_;
}

}  // namespace bh
