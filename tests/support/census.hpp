// Test census: what a test must give back. FD count from /proc/self/fd, every registered pool's
// in-use count, and heap allocations counted by the test-only global operator new.
// Use CensusGuard at the top of a test (or in a fixture) to fail the test on any leak.
#pragma once
#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace bh::test {

// Open file descriptors of this process, counted from /proc/self/fd (the directory's own fd excluded).
int open_fds();
// A human-readable list of the fds (for failure messages): "3 -> socket:[123]" lines.
std::string describe_fds();

// Heap allocations made through the global operator new since process start.
std::uint64_t heap_allocations();

// Pools (from the registry) with a non-zero in-use count, as "name=n" joined by spaces; empty if none.
std::string pools_in_use();

// Asserts at destruction that FDs are back to the baseline taken at construction and every pool is
// at zero in use. Waits up to 2 s for the FD count to settle (a peer process may still be closing).
class CensusGuard {
 public:
  CensusGuard();
  ~CensusGuard();
  CensusGuard(const CensusGuard&) = delete;
  CensusGuard& operator=(const CensusGuard&) = delete;
  int baseline() const { return baseline_; }

 private:
  int baseline_;
};

// A unique scratch directory under $TMPDIR, removed (recursively) on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

}  // namespace bh::test
