// The docs document the code: docs/configuration.md is exactly what the key table generates
// (`bulkhead config-reference`), docs/budget.md carries exactly the table the budget generates
// (`bulkhead budget-reference`), docs/wire.md is the shared wire contract, every relative link
// resolves, and README.md stays a front door that opens with the two set-up commands.
// Regenerate the generated parts with toolchain/update-docs.sh.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "firmware/budget.hpp"
#include "firmware/config.hpp"

namespace bh {
namespace {

namespace fs = std::filesystem;

const fs::path kRoot = BH_SOURCE_DIR;

std::string read(const fs::path& p) {
  std::ifstream f(p);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Every markdown file that is documentation: README.md and docs/*.md.
std::vector<fs::path> doc_files() {
  std::vector<fs::path> out{kRoot / "README.md"};
  for (const auto& e : fs::directory_iterator(kRoot / "docs"))
    if (e.path().extension() == ".md") out.push_back(e.path());
  return out;
}

// The lines of a markdown text outside fenced code blocks.
std::vector<std::string> prose_lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  bool fenced = false;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("```", 0) == 0) fenced = !fenced;
    else if (!fenced) out.push_back(line);
  }
  return out;
}

// GitHub's heading anchors: lower case, spaces to '-', ASCII punctuation other than '-' and '_'
// dropped (other bytes kept), '-1', '-2', ... for repeats.
std::set<std::string> anchors(const std::string& text) {
  std::set<std::string> out;
  std::map<std::string, int> seen;
  for (const std::string& line : prose_lines(text)) {
    std::size_t hashes = line.find_first_not_of('#');
    if (hashes == 0 || hashes == std::string::npos || line[hashes] != ' ') continue;
    std::string slug;
    for (char c : line.substr(hashes + 1)) {
      auto u = static_cast<unsigned char>(c);
      if (c == ' ') slug += '-';
      else if (std::isalnum(u) || c == '-' || c == '_' || u >= 0x80) slug += static_cast<char>(std::tolower(u));
    }
    int n = seen[slug]++;
    out.insert(n == 0 ? slug : slug + "-" + std::to_string(n));
  }
  return out;
}

TEST(Docs, ConfigurationReferenceIsWhatTheKeyTableGenerates) {
  EXPECT_EQ(read(kRoot / "docs/configuration.md"), config_reference_markdown())
      << "docs/configuration.md is out of date: run toolchain/update-docs.sh "
         "(it writes the output of `bulkhead config-reference`)";
}

TEST(Docs, BudgetTableIsWhatTheBudgetGenerates) {
  std::string ref = budget::reference_markdown();
  EXPECT_NE(read(kRoot / "docs/budget.md").find(ref), std::string::npos)
      << "docs/budget.md's budget table is out of date: run toolchain/update-docs.sh "
         "(it pastes the output of `bulkhead budget-reference` between the budget-reference markers)";
  // The generated table has one row per pool with its FD total, and the totals the code checks.
  for (const budget::PoolRow& p : budget::kPools)
    EXPECT_NE(ref.find("| `" + std::string(p.name) + "` | " + std::to_string(p.capacity) + " | " +
                       std::to_string(p.capacity * p.fds_per_slot) + " | "),
              std::string::npos)
        << p.name;
  EXPECT_NE(ref.find("| baseline | - | " + std::to_string(budget::kBaselineFds) + " | "), std::string::npos);
  EXPECT_NE(ref.find("| total | - | " + std::to_string(budget::total_fds()) + " | "), std::string::npos);
  EXPECT_NE(ref.find("fd ceiling " + std::to_string(budget::kFdCeiling)), std::string::npos);
}

TEST(Docs, WireContractIsTheSharedSpec) {
  fs::path shared = kRoot / "../shared/spec/wire.md";
  if (!fs::exists(shared)) GTEST_SKIP() << shared << " is not beside this checkout";
  EXPECT_EQ(read(kRoot / "docs/wire.md"), read(shared))
      << "docs/wire.md differs from " << shared << ": the contract changes only on purpose, in both";
}

TEST(Docs, RelativeLinksResolve) {
  const std::regex link(R"(\]\(([^)\s]+)\))");
  int checked = 0;
  for (const fs::path& doc : doc_files()) {
    std::string text = read(doc);
    for (const std::string& line : prose_lines(text)) {
      for (auto it = std::sregex_iterator(line.begin(), line.end(), link); it != std::sregex_iterator(); ++it) {
        std::string target = (*it)[1];
        if (target.find("://") != std::string::npos || target.rfind("mailto:", 0) == 0) continue;
        std::string file = target.substr(0, target.find('#'));
        std::string anchor = target.find('#') == std::string::npos ? "" : target.substr(target.find('#') + 1);
        fs::path to = file.empty() ? doc : doc.parent_path() / file;
        ++checked;
        ASSERT_TRUE(fs::exists(to)) << doc.filename() << " links to " << target << ", which does not exist";
        if (!anchor.empty()) {
          EXPECT_TRUE(anchors(read(to)).count(anchor))
              << doc.filename() << " links to " << target << ": no such heading in " << to.filename();
        }
      }
    }
  }
  EXPECT_GT(checked, 10) << "the link pattern found (almost) no links";
}

TEST(Docs, EveryDocIsLinkedFromTheReadme) {
  std::string readme = read(kRoot / "README.md");
  for (const fs::path& doc : doc_files()) {
    if (doc.filename() == "README.md") continue;
    EXPECT_NE(readme.find("](docs/" + doc.filename().string()), std::string::npos)
        << "README.md does not link to docs/" << doc.filename().string();
  }
}

TEST(Readme, OpensWithTheTwoSetupCommands) {
  std::string head = read(kRoot / "README.md").substr(0, 400);
  EXPECT_NE(head.find("make run"), std::string::npos);
  EXPECT_NE(head.find("make test"), std::string::npos);
}

TEST(Readme, StaysAFrontDoor) {
  std::string readme = read(kRoot / "README.md");
  auto lines = std::count(readme.begin(), readme.end(), '\n');
  EXPECT_LE(lines, 300) << "README.md is the front door (what it is, the two commands, a tour, links): "
                           "put the rest in docs/ by topic";
}

}  // namespace
}  // namespace bh
