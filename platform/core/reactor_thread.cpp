// The main-thread test behind on_reactor_thread(), computed once per thread.
#include "platform/core/reactor_thread.hpp"

#include <unistd.h>

namespace bh::detail {

bool is_main_thread() noexcept {
  static thread_local const bool main = ::gettid() == ::getpid();
  return main;
}

}  // namespace bh::detail
