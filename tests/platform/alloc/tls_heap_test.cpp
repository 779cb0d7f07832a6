// mbedTLS's heap accounting (platform/alloc/tls_heap.hpp): the counting, limiting calloc/free,
// and that mbedTLS's own allocations reach them once routed, in the shared build (GOT entries) and
// in the static one (renamed archives; this runs under qemu-aarch64 in `make cross-test`). The
// handshake-level proofs (the in-use counter moves during a handshake, a starved handshake fails
// with tls_errc::out_of_memory) are TlsStreamTest's, tests/platform/net/tls_test.cpp.
#include "platform/alloc/tls_heap.hpp"

#include <gtest/gtest.h>
#include <mbedtls/bignum.h>

#include <cstdint>

namespace bh::alloc {
namespace {

// Restores the limit a test changed, so the other tests see the default.
struct LimitGuard {
  std::uint64_t saved = tls_heap_stats().limit;
  ~LimitGuard() { tls_heap_set_limit(saved); }
};

TEST(TlsHeap, CallocAndFreeAreCountedInUsableBytes) {
  const TlsHeapStats s0 = tls_heap_stats();
  void* p = bh_mbedtls_calloc(10, 100);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(static_cast<const unsigned char*>(p)[999], 0) << "calloc zeroes";
  const TlsHeapStats s1 = tls_heap_stats();
  EXPECT_GE(s1.used - s0.used, 1000u);
  EXPECT_LT(s1.used - s0.used, 1000u + 64u);
  EXPECT_EQ(s1.allocations, s0.allocations + 1);
  EXPECT_GE(s1.high_water, s1.used);
  bh_mbedtls_free(p);
  bh_mbedtls_free(nullptr);  // as free(NULL): nothing, not counted
  const TlsHeapStats s2 = tls_heap_stats();
  EXPECT_EQ(s2.used, s0.used);
  EXPECT_EQ(s2.frees, s0.frees + 1);
}

TEST(TlsHeap, OverTheLimitIsRefusedAndCounted) {
  LimitGuard g;
  const TlsHeapStats s0 = tls_heap_stats();
  tls_heap_set_limit(s0.used + 1024);
  EXPECT_EQ(bh_mbedtls_calloc(1, 4096), nullptr);
  const TlsHeapStats s1 = tls_heap_stats();
  EXPECT_EQ(s1.refusals, s0.refusals + 1);
  EXPECT_EQ(tls_heap_refusals(), s1.refusals);
  EXPECT_EQ(s1.used, s0.used) << "a refused allocation holds nothing";
  EXPECT_EQ(s1.allocations, s0.allocations);
  void* small = bh_mbedtls_calloc(1, 256);  // still under the limit: granted
  EXPECT_NE(small, nullptr);
  bh_mbedtls_free(small);
}

TEST(TlsHeap, AnOverflowingCountTimesSizeIsRefused) {
  EXPECT_EQ(bh_mbedtls_calloc(SIZE_MAX / 2, 4), nullptr);
}

TEST(TlsHeap, HighWaterKeepsThePeakUntilReset) {
  tls_heap_reset_high_water();
  const std::uint64_t base = tls_heap_stats().used;
  EXPECT_EQ(tls_heap_stats().high_water, base);
  void* p = bh_mbedtls_calloc(1, 8192);
  ASSERT_NE(p, nullptr);
  bh_mbedtls_free(p);
  EXPECT_GE(tls_heap_stats().high_water, base + 8192);
  tls_heap_reset_high_water();
  EXPECT_EQ(tls_heap_stats().high_water, base);
}

// mbedTLS's own calloc/free land in the wrapper: a bignum's limbs are mbedtls_calloc'ed inside
// libmbedcrypto, and a limit below them makes mbedTLS fail cleanly.
TEST(TlsHeap, MbedTlsAllocationsAreRoutedAndLimited) {
  ASSERT_TRUE(tls_heap_route()) << "mbedTLS's calloc/free are not routed: its heap is neither counted nor limited";
  EXPECT_TRUE(tls_heap_stats().bounded);
  const TlsHeapStats s0 = tls_heap_stats();
  mbedtls_mpi x;
  mbedtls_mpi_init(&x);
  ASSERT_EQ(mbedtls_mpi_grow(&x, 512), 0);  // 512 limbs of 8 bytes
  const TlsHeapStats s1 = tls_heap_stats();
  EXPECT_GE(s1.used - s0.used, 512u * 8u) << "mbedTLS allocated outside the wrapper";
  EXPECT_EQ(s1.allocations, s0.allocations + 1);
  mbedtls_mpi_free(&x);
  EXPECT_EQ(tls_heap_stats().used, s0.used);

  LimitGuard g;
  tls_heap_set_limit(s0.used + 1024);
  mbedtls_mpi y;
  mbedtls_mpi_init(&y);
  EXPECT_EQ(mbedtls_mpi_grow(&y, 512), MBEDTLS_ERR_MPI_ALLOC_FAILED);
  EXPECT_EQ(tls_heap_stats().refusals, s1.refusals + 1);
  mbedtls_mpi_free(&y);
}

}  // namespace
}  // namespace bh::alloc
