// The counting global operator new/delete, linked into every executable (an OBJECT library, so it
// always replaces the default). Relaxed atomics: cheap, and correct if a test uses a thread.
#include <execinfo.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <new>

#include "platform/alloc/alloc.hpp"

namespace {
std::atomic<std::uint64_t> g_count{0};
std::atomic<std::uint64_t> g_at_seal{0};
std::atomic<bool> g_sealed{false};
bool g_trace = false;  // BH_TRACE_ALLOC=1: print a backtrace for every allocation after seal

void trace_if_sealed() noexcept {
  if (!g_trace || !g_sealed.load(std::memory_order_relaxed)) return;
  static thread_local bool busy = false;  // backtrace() may allocate on its first call
  if (busy) return;
  busy = true;
  void* frames[24];
  int n = backtrace(frames, 24);
  static const char kHead[] = "bulkhead: heap allocation after seal:\n";
  ssize_t w = ::write(2, kHead, sizeof kHead - 1);
  (void)w;
  backtrace_symbols_fd(frames, n, 2);
  busy = false;
}

inline void* counted_malloc(std::size_t n) noexcept {
  g_count.fetch_add(1, std::memory_order_relaxed);
  trace_if_sealed();
  return std::malloc(n ? n : 1);
}
inline void* counted_aligned(std::size_t n, std::align_val_t al) noexcept {
  g_count.fetch_add(1, std::memory_order_relaxed);
  std::size_t a = static_cast<std::size_t>(al);
  std::size_t sz = (n + a - 1) / a * a;
  return std::aligned_alloc(a, sz ? sz : a);
}
}  // namespace

namespace bh::alloc {
std::uint64_t count() noexcept { return g_count.load(std::memory_order_relaxed); }
void seal() noexcept {
  const char* t = std::getenv("BH_TRACE_ALLOC");
  g_trace = t && *t == '1';
  if (g_trace) {
    void* f[2];
    backtrace(f, 2);  // loads libgcc's unwinder now, not inside the first traced allocation
  }
  g_at_seal.store(count(), std::memory_order_relaxed);
  g_sealed.store(true, std::memory_order_relaxed);
}
void unseal() noexcept { g_sealed.store(false, std::memory_order_relaxed); }
bool sealed() noexcept { return g_sealed.load(std::memory_order_relaxed); }
std::uint64_t since_seal() noexcept { return sealed() ? count() - g_at_seal.load(std::memory_order_relaxed) : 0; }
}  // namespace bh::alloc

void* operator new(std::size_t n) {
  if (void* p = counted_malloc(n)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) {
  if (void* p = counted_malloc(n)) return p;
  throw std::bad_alloc();
}
void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return counted_malloc(n); }
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return counted_malloc(n); }
void* operator new(std::size_t n, std::align_val_t al) {
  if (void* p = counted_aligned(n, al)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n, std::align_val_t al) {
  if (void* p = counted_aligned(n, al)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
