// The audit log catches up from the store at start-up, against the real binary: a kill -9, then
// the audit file's tail cut the way a power cut leaves it (the last lines never reached the disk,
// one line half-written), then a restart: the log says what it recovered, and after more events
// and a clean stop the audit log has exactly one line per stored seq, in order, the recovered
// lines identical to the ones lost.
#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include "tests/support/files.hpp"
#include "tests/support/harness.hpp"

namespace bh::test {
namespace {
using namespace std::chrono_literals;


std::vector<std::string> split_lines(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

TEST(AuditCatchUp, RestartAfterACrashWritesTheLostLinesFromTheStore) {
  Bulkhead b;
  const std::string audit_path = b.dir() + "/var/audit.log";
  std::vector<std::uint64_t> acked = send_events(b.ingest_port(), 40, "a");
  ASSERT_EQ(acked.size(), 40u) << b.log();
  b.kill9();

  const std::string before = read_file(audit_path);
  const std::vector<std::string> lines = split_lines(before);
  ASSERT_EQ(lines.size(), 40u) << before;
  // What a pulled plug leaves: 25 lines and the first bytes of the 26th.
  std::string cut;
  for (std::size_t i = 0; i < 25; ++i) cut += lines[i] + "\n";
  cut += lines[25].substr(0, 4);
  write_file(audit_path, cut);

  ASSERT_TRUE(b.start()) << b.log();
  const std::string first = std::to_string(acked[25]);
  const std::string last = std::to_string(acked[39]);
  EXPECT_NE(b.log().find("audit: 15 line(s) recovered from the store (seq " + first + ".." + last + ")"),
            std::string::npos)
      << b.log();
  EXPECT_NE(b.log().find("audit: cut an incomplete or garbled last line (4 byte(s))"), std::string::npos) << b.log();
  std::vector<std::uint64_t> more = send_events(b.ingest_port(), 5, "b");
  ASSERT_EQ(more.size(), 5u) << b.log();
  expect_clean_stop(b);

  const std::string after = read_file(audit_path);
  ASSERT_EQ(after.substr(0, before.size()), before) << "the recovered lines are the lost ones, byte for byte";
  const std::vector<std::string> all = split_lines(after);
  ASSERT_EQ(all.size(), 45u) << after;
  std::vector<std::uint64_t> want = acked;
  want.insert(want.end(), more.begin(), more.end());
  for (std::size_t i = 0; i < all.size(); ++i)
    EXPECT_EQ(all[i].substr(0, all[i].find(' ')), std::to_string(want[i])) << "line " << i << ": " << all[i];
}

TEST(AuditCatchUp, CleanRestartRecoversNothing) {
  Bulkhead b;
  ASSERT_EQ(send_events(b.ingest_port(), 10, "a").size(), 10u) << b.log();
  expect_clean_stop(b);
  const std::string before = read_file(b.dir() + "/var/audit.log");
  ASSERT_TRUE(b.start()) << b.log();
  EXPECT_EQ(b.log().find("recovered from the store"), std::string::npos) << b.log();
  expect_clean_stop(b);
  EXPECT_EQ(read_file(b.dir() + "/var/audit.log"), before);
}

}  // namespace
}  // namespace bh::test
