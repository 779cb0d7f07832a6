// The heap of mbedTLS, counted and limited: every calloc/free mbedTLS makes goes to
// bh_mbedtls_calloc / bh_mbedtls_free below, which keep the bytes in use, the high-water mark and
// the counts, and refuse (return NULL, counted) a calloc that would go over the limit. mbedTLS
// then fails the operation cleanly (MBEDTLS_ERR_*_ALLOC_FAILED; a handshake fails with
// tls_errc::out_of_memory, see platform/net/tls.hpp, whose tls_memory_stats() reads this).
//
// Debian builds mbedTLS without MBEDTLS_PLATFORM_MEMORY (mbedtls_platform_set_calloc_free does not
// exist; mbedtls_calloc is plain calloc), so the calls are routed at the link, one way per build:
//   shared mbedTLS (the native build)  route() rewrites the calloc/free imports (the GOT entries)
//                                      of libmbedtls, libmbedx509 and libmbedcrypto to the two
//                                      functions; it must run before mbedTLS first allocates.
//   static mbedTLS (BH_STATIC)         toolchain/static-deps.cmake links copies of the three
//                                      archives made with `objcopy --redefine-sym calloc=
//                                      bh_mbedtls_calloc --redefine-sym free=bh_mbedtls_free`
//                                      and defines BH_TLS_HEAP_LINKED: routed from the first call.
// Only mbedTLS's own objects are routed; nothing else in the process is counted here.
// `bounded` is false where neither applies (non-ELF, another arch, a library not found): then
// nothing is counted or limited, and route() logs it once.
#pragma once
#include <cstddef>
#include <cstdint>

extern "C" {
void* bh_mbedtls_calloc(std::size_t n, std::size_t size) noexcept;
void bh_mbedtls_free(void* p) noexcept;
}

namespace bh::alloc {

struct TlsHeapStats {
  bool bounded = false;
  std::uint64_t used = 0;        // bytes held by mbedTLS now (malloc_usable_size of each block)
  std::uint64_t high_water = 0;  // most bytes held at once since start (or tls_heap_reset_high_water)
  std::uint64_t limit = 0;
  std::uint64_t allocations = 0;  // calloc calls granted
  std::uint64_t frees = 0;
  std::uint64_t refusals = 0;  // calloc calls refused by the limit
};
inline constexpr std::uint64_t kTlsHeapLimitDefault = 8ull << 20;

// Routes mbedTLS's calloc/free to the wrapper, once (later calls return at once). Returns
// `bounded`. Start-up, before mbedTLS first allocates.
bool tls_heap_route() noexcept;
TlsHeapStats tls_heap_stats() noexcept;
// Calloc calls refused so far (cheaper than tls_heap_stats(), for "did this step hit the limit").
std::uint64_t tls_heap_refusals() noexcept;
// The hard limit in bytes; takes effect for the next allocation.
void tls_heap_set_limit(std::uint64_t bytes) noexcept;
void tls_heap_reset_high_water() noexcept;

}  // namespace bh::alloc
