// Test census implementation. Heap counting comes from platform/alloc (linked into every binary).
#include "tests/support/census.hpp"

#include <dirent.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>

#include "platform/alloc/alloc.hpp"

#if __has_include("platform/core/pool.hpp")
#include "platform/core/pool.hpp"
#include "tests/support/poll.hpp"
#define BH_HAVE_POOL 1
#endif

namespace bh::test {

int open_fds() {
  int n = 0;
  DIR* d = opendir("/proc/self/fd");
  if (!d) return -1;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] != '.') ++n;
  }
  closedir(d);
  return n - 1;  // the DIR's own fd
}

std::string describe_fds() {
  std::string out;
  for (auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
    std::error_code ec;
    auto target = std::filesystem::read_symlink(e.path(), ec);
    out += e.path().filename().string() + " -> " + (ec ? "?" : target.string()) + "\n";
  }
  return out;
}

std::uint64_t heap_allocations() { return bh::alloc::count(); }

std::string pools_in_use() {
  std::string out;
#ifdef BH_HAVE_POOL
  for (const bh::PoolBase* p = bh::PoolBase::first(); p; p = p->next()) {
    auto s = p->stats();
    if (s.in_use) out += std::string(s.name) + "=" + std::to_string(s.in_use) + " ";
  }
#endif
  return out;
}

CensusGuard::CensusGuard() : baseline_(open_fds()) {}

CensusGuard::~CensusGuard() {
  int now = -1;
  poll_until([&] { return (now = open_fds()) == baseline_; }, std::chrono::seconds(2), std::chrono::milliseconds(10));
  EXPECT_EQ(now, baseline_) << "file descriptors not back to baseline:\n" << describe_fds();
  EXPECT_EQ(pools_in_use(), "") << "pools still in use at the end of the test";
}

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base && *base ? base : "/tmp") + "/bulkhead-test-XXXXXX";
  if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

}  // namespace bh::test
