// Task memory: the per-slot frame arena (LIFO) and the end of a root task.
#include "platform/core/task_type.hpp"

#include <cstdlib>
#include <new>

#include "platform/core/task_pool.hpp"
#include "platform/util/log.hpp"

namespace bh {
namespace {
// Every frame carries its owner so frame_free needs no lookup.
struct alignas(std::max_align_t) FrameHeader {
  TaskSlot* owner;
  std::size_t size;
};
constexpr std::size_t kAlign = alignof(std::max_align_t);
constexpr std::size_t round_up(std::size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }
}  // namespace

void* TaskSlot::alloc_frame(std::size_t n) noexcept {
  std::size_t need = round_up(sizeof(FrameHeader) + n);
  if (top + need > kArenaBytes) return nullptr;
  auto* hdr = ::new (static_cast<void*>(arena + top)) FrameHeader{this, need};
  top += need;
  if (top > arena_high) arena_high = top;
  return reinterpret_cast<std::byte*>(hdr) + sizeof(FrameHeader);
}

void TaskSlot::free_frame(void* p) noexcept {
  auto* hdr = reinterpret_cast<FrameHeader*>(static_cast<std::byte*>(p) - sizeof(FrameHeader));
  // Frames nest strictly (a task awaits one child at a time), so frees are LIFO.
  if (reinterpret_cast<std::byte*>(hdr) + hdr->size == arena + top) top -= hdr->size;
}

namespace detail {
void* frame_alloc(std::size_t n) noexcept {
  TaskSlot* s = g_current;
  if (!s) {
    log::error("coroutine created outside a task: spawn it through a TaskPool");
    return nullptr;
  }
  void* p = s->alloc_frame(n);
  if (!p) log::error("task '{}': frame of {} bytes does not fit its arena ({} of {} used)", s->name, n, s->top, TaskSlot::kArenaBytes);
  return p;
}

void frame_free(void* p) noexcept {
  auto* hdr = reinterpret_cast<FrameHeader*>(static_cast<std::byte*>(p) - sizeof(FrameHeader));
  hdr->owner->free_frame(p);
}

void PromiseBase::finish_root(TaskSlot* slot, std::exception_ptr& error) noexcept {
  if (error) {
    slot->pool->note_escape();
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      log::error("task '{}' ended by an exception: {}", slot->name, e.what());
    } catch (...) {
      log::error("task '{}' ended by an unknown exception", slot->name);
    }
    error = nullptr;
  }
  slot->pool->finish(*slot);
}
}  // namespace detail

}  // namespace bh
