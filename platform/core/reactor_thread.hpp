// The reactor thread: the one thread on which the reactor-only APIs (pools, tasks, the reactor,
// the store, the committer, the watchdog checks, console sessions, metrics) may be called. It is
// the process's main thread, or the thread a Reactor is running on, or the thread a
// ReactorThreadScope has claimed (tests that run an io_context elsewhere). The WAL syncer and the
// checkpointer threads never are. Those APIs check it at entry: BH_ASSERT(on_reactor_thread()).
// It is not a lock: it catches a call from the wrong thread, it does not make one safe.
// Cost: one relaxed atomic load and pthread_self().
#pragma once
#include <pthread.h>

#include <atomic>

namespace bh {
namespace detail {
// The claimed reactor thread; 0 (never a valid pthread_t on Linux): the main thread.
inline std::atomic<pthread_t> g_reactor_thread{0};
// True on the process's first thread (its thread id is the process id).
bool is_main_thread() noexcept;
}  // namespace detail

inline bool on_reactor_thread() noexcept {
  const pthread_t r = detail::g_reactor_thread.load(std::memory_order_relaxed);
  return r == 0 ? detail::is_main_thread() : pthread_equal(r, pthread_self()) != 0;
}

// Makes the calling thread the reactor thread until the scope ends (then the previous one is
// again). Reactor::run() holds one; tests that run an io_context on another thread take one there.
class ReactorThreadScope {
 public:
  ReactorThreadScope() noexcept : prev_(detail::g_reactor_thread.exchange(pthread_self())) {}
  ~ReactorThreadScope() { detail::g_reactor_thread.store(prev_); }
  ReactorThreadScope(const ReactorThreadScope&) = delete;
  ReactorThreadScope& operator=(const ReactorThreadScope&) = delete;

 private:
  pthread_t prev_;
};

}  // namespace bh
