// PoolBase: counters, the intrusive registry, the FIFO waiter list and the leak report.
#include "platform/core/pool.hpp"

#include "platform/util/log.hpp"

namespace bh {
namespace {
void default_leak_handler(std::string_view pool, std::uint32_t in_use) {
  log::error("pool '{}' destroyed with {} slot(s) still in use: a lease leaked", pool, in_use);
}
PoolLeakHandler g_leak_handler = &default_leak_handler;
}  // namespace

PoolBase::PoolBase(std::string_view name, std::uint32_t capacity) noexcept
    : name_(name), capacity_(capacity), limit_(capacity) {
  prev_ = tail_;
  if (tail_) tail_->next_ = this; else head_ = this;
  tail_ = this;
}

PoolBase::~PoolBase() {
  if (in_use_ != 0) g_leak_handler(name_, in_use_);
  if (prev_) prev_->next_ = next_; else head_ = next_;
  if (next_) next_->prev_ = prev_; else tail_ = prev_;
}

void PoolBase::set_leak_handler(PoolLeakHandler h) noexcept { g_leak_handler = h ? h : &default_leak_handler; }

PoolBase* PoolBase::find(std::string_view name) noexcept {
  for (PoolBase* p = head_; p; p = p->next_)
    if (p->name_ == name) return p;
  return nullptr;
}

bool PoolBase::set_limit(std::uint32_t l) noexcept {
  BH_ASSERT(on_reactor_thread());
  if (l == 0 || l > capacity_) return false;
  limit_ = l;
  return true;
}

PoolStats PoolBase::stats() const noexcept {
  return PoolStats{name_, capacity_, limit_, in_use_, high_water_, waiting_, acquisitions_,
                   refusals_, waits_, wait_timeouts_, saturations_};
}

void PoolBase::note_acquire() noexcept {
  ++in_use_;
  ++acquisitions_;
  if (in_use_ > high_water_) high_water_ = in_use_;
  if (in_use_ == limit_) ++saturations_;
}

void PoolBase::enqueue_waiter(PoolWaiter& w) noexcept {
  BH_ASSERT(on_reactor_thread());
  BH_ASSERT_MSG(!w.queued_, "pool '{}': a waiter queued twice", name_);
  w.prev_ = wait_tail_;
  w.next_ = nullptr;
  if (wait_tail_) wait_tail_->next_ = &w; else wait_head_ = &w;
  wait_tail_ = &w;
  w.queued_ = true;
  ++waiting_;
  ++waits_;
}

void PoolBase::cancel_wait(PoolWaiter& w) noexcept {
  BH_ASSERT(on_reactor_thread());
  if (!w.queued_) return;
  if (w.prev_) w.prev_->next_ = w.next_; else wait_head_ = w.next_;
  if (w.next_) w.next_->prev_ = w.prev_; else wait_tail_ = w.prev_;
  w.queued_ = false;
  --waiting_;
  ++wait_timeouts_;
}

PoolWaiter* PoolBase::pop_waiter() noexcept {
  PoolWaiter* w = wait_head_;
  if (!w) return nullptr;
  wait_head_ = w->next_;
  if (wait_head_) wait_head_->prev_ = nullptr; else wait_tail_ = nullptr;
  w->queued_ = false;
  --waiting_;
  return w;
}

}  // namespace bh
