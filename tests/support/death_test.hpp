// The death-test style for this build. Natively, death tests re-execute the test binary
// ("threadsafe"). Under the cross build's user-mode emulator (BH_EXEC_WRAPPER, qemu-aarch64) that
// re-exec of a foreign binary fails ("Exec format error") unless binfmt_misc is set up, so there
// they only fork ("fast"): CTest runs each test in a fresh process that has started no thread.
#pragma once
#include <gtest/gtest.h>

#include <string_view>

namespace bh::test {

inline void set_death_test_style() {
  GTEST_FLAG_SET(death_test_style, std::string_view(BH_EXEC_WRAPPER).empty() ? "threadsafe" : "fast");
}

}  // namespace bh::test
