// A Splitter::Sink for the splitter tests (source_test.cpp, ics_test.cpp): records every item,
// every too-large report and every malformed verdict, in order of arrival per kind.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "platform/sources/splitter.hpp"

namespace bh::test {

struct Collect final : Splitter::Sink {
  std::vector<std::string> items;
  std::vector<std::uint64_t> big;
  std::vector<std::string> bad;
  void item(std::string_view b) noexcept override { items.emplace_back(b); }
  void too_large(std::uint64_t n) noexcept override { big.push_back(n); }
  void malformed(const char* why) noexcept override { bad.emplace_back(why); }
};

}  // namespace bh::test
