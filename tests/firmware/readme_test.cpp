// The README documents the code: its configuration reference must be exactly what the key
// table generates (regenerate with `bulkhead config-reference`), and it opens with the two
// set-up commands.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "firmware/config.hpp"

namespace bh {
namespace {

std::string readme() {
  std::ifstream f(std::string(BH_SOURCE_DIR) + "/README.md");
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

TEST(Readme, ConfigReferenceMatchesTheKeyTable) {
  std::string ref = config_reference_markdown();
  // The README carries it under its own heading: drop the generated title line.
  ref = ref.substr(ref.find('\n') + 1);
  EXPECT_NE(readme().find(ref), std::string::npos)
      << "README.md's configuration reference is out of date: paste the output of "
         "`bulkhead config-reference` (without its title) under '## Configuration reference'";
}

TEST(Readme, OpensWithTheTwoSetupCommands) {
  std::string head = readme().substr(0, 400);
  EXPECT_NE(head.find("make run"), std::string::npos);
  EXPECT_NE(head.find("make test"), std::string::npos);
}

}  // namespace
}  // namespace bh
