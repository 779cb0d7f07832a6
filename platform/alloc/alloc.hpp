// Heap accounting: every binary of the project replaces the global operator new with a counting
// one (platform/alloc/alloc_counter.cpp). After `seal()` the runtime must not allocate; the count of
// allocations since sealing is exposed to tests, metrics and the bench. Counting is not limiting:
// an allocation after seal still succeeds, it is counted and reported.
#pragma once
#include <cstdint>

namespace bh::alloc {

// Allocations through global operator new since process start.
std::uint64_t count() noexcept;
// Declares start-up over: from now on allocations are "after seal".
void seal() noexcept;
void unseal() noexcept;  // tests only
bool sealed() noexcept;
// Allocations since the last seal() (0 while unsealed).
std::uint64_t since_seal() noexcept;

}  // namespace bh::alloc
