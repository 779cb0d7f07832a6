// BoundedQueue<T, N>: a FIFO ring of at most N items stored inline (no heap). When full, the
// overflow policy decides: `reject` refuses the new item (the default), `drop_oldest` discards the
// oldest to make room. Both outcomes are counted. QueueBase is the size-free view the metrics and
// console list through the registry. Not thread-safe: reactor thread only.
#pragma once
#include <cassert>
#include <cstdint>
#include <optional>
#include <string_view>
#include <utility>

namespace bh {

enum class QueueOverflow : std::uint8_t { reject, drop_oldest };
enum class PushResult : std::uint8_t { ok, rejected, dropped_oldest };

struct QueueStats {
  std::string_view name;
  std::uint32_t capacity = 0;
  std::uint32_t depth = 0;
  std::uint32_t high_water = 0;
  std::uint64_t pushed = 0;
  std::uint64_t popped = 0;
  std::uint64_t rejected = 0;
  std::uint64_t dropped = 0;
  QueueOverflow policy = QueueOverflow::reject;
};

class QueueBase {
 public:
  QueueBase(const QueueBase&) = delete;
  QueueBase& operator=(const QueueBase&) = delete;
  const QueueStats& stats() const noexcept { return stats_; }
  std::uint32_t size() const noexcept { return stats_.depth; }
  bool empty() const noexcept { return stats_.depth == 0; }
  static QueueBase* first() noexcept { return head_; }
  QueueBase* next() const noexcept { return next_; }

 protected:
  QueueBase(std::string_view name, std::uint32_t capacity, QueueOverflow policy) noexcept;
  ~QueueBase();
  QueueStats stats_;

 private:
  QueueBase* prev_ = nullptr;
  QueueBase* next_ = nullptr;
  static inline QueueBase* head_ = nullptr;
  static inline QueueBase* tail_ = nullptr;
};

template <typename T, std::uint32_t N>
class BoundedQueue final : public QueueBase {
  static_assert(N > 0);

 public:
  explicit BoundedQueue(std::string_view name, QueueOverflow policy = QueueOverflow::reject) noexcept
      : QueueBase(name, N, policy) {}

  // Appends v. Errors: `rejected` (v not stored) when full under `reject`; under `drop_oldest`
  // the oldest item is discarded and `dropped_oldest` returned (v is stored).
  PushResult push(T v) {
    PushResult r = PushResult::ok;
    if (stats_.depth == N) {
      if (stats_.policy == QueueOverflow::reject) {
        ++stats_.rejected;
        return PushResult::rejected;
      }
      items_[head_] = T{};
      head_ = (head_ + 1) % N;
      --stats_.depth;
      ++stats_.dropped;
      r = PushResult::dropped_oldest;
    }
    items_[(head_ + stats_.depth) % N] = std::move(v);
    ++stats_.depth;
    ++stats_.pushed;
    if (stats_.depth > stats_.high_water) stats_.high_water = stats_.depth;
    return r;
  }

  std::optional<T> pop() {
    if (stats_.depth == 0) return std::nullopt;
    T v = std::move(items_[head_]);
    items_[head_] = T{};
    head_ = (head_ + 1) % N;
    --stats_.depth;
    ++stats_.popped;
    return v;
  }

  T* front() noexcept { return stats_.depth ? &items_[head_] : nullptr; }
  void clear() noexcept {
    while (pop()) {
    }
  }

 private:
  T items_[N] = {};
  std::uint32_t head_ = 0;
};

}  // namespace bh
