// AuditLog: line format, batches larger than the buffer, rotation keeping `keep` files, open and
// write failures (missing directory, /dev/full, directory removed before a rotation) counted and
// healed on the next append, FDs back to baseline, and zero heap on a warmed-up append.
#include "platform/store/audit_log.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "tests/support/census.hpp"
#include "tests/support/files.hpp"

namespace bh {
namespace {

using test::read_file;

std::size_t count_lines(const std::string& s) { return static_cast<std::size_t>(std::count(s.begin(), s.end(), '\n')); }

TEST(AuditLog, FormatsOneLinePerRecord) {
  test::CensusGuard census;
  test::TempDir dir;
  AuditLog log;
  ASSERT_FALSE(log.open({.path = dir.file("audit.log")}));
  EXPECT_TRUE(log.healthy());
  std::vector<AuditRecord> recs{{1, 1700000000123, "tcp", 42},
                                {2, -5, "with space\tand\ncontrol", 0},
                                {18446744073709551615ull, 0, "", 16384}};
  ASSERT_FALSE(log.append(recs));
  EXPECT_EQ(read_file(dir.file("audit.log")),
            "1 1700000000123 tcp 42\n"
            "2 -5 with_space_and_control 0\n"
            "18446744073709551615 0 - 16384\n");
  auto st = log.stats();
  EXPECT_EQ(st.lines, 3u);
  EXPECT_EQ(st.bytes, st.file_bytes);
  EXPECT_TRUE(st.open);
  EXPECT_EQ(st.write_errors, 0u);

  // Opening again appends (the file is kept, never truncated).
  log.close();
  EXPECT_FALSE(log.stats().open);
  ASSERT_FALSE(log.open({.path = dir.file("audit.log")}));
  ASSERT_FALSE(log.append(std::span(recs).first(1)));
  EXPECT_EQ(count_lines(read_file(dir.file("audit.log"))), 4u);
  struct stat sb {};
  ASSERT_EQ(::stat(dir.file("audit.log").c_str(), &sb), 0);
  const mode_t mask = ::umask(0);
  ::umask(mask);
  EXPECT_EQ(sb.st_mode & 0777, 0640u & ~mask);
}

TEST(AuditLog, RecordsSharingTsAndSourceAndRecordsNotAreEachWrittenRight) {
  // format() keeps the last " <ts> <source> " for the next record: a change of either is written.
  test::TempDir dir;
  AuditLog log;
  ASSERT_FALSE(log.open({.path = dir.file("a.log")}));
  const std::string a = "src", b = "src";  // equal text at other addresses
  std::vector<AuditRecord> recs{{1, 7, a, 1}, {2, 7, b, 2}, {3, 7, "sr", 3}, {4, 7, "src x", 4},
                                {5, 8, "src x", 5}, {6, 8, "", 6}, {7, 9, std::string_view{}, 7}, {8, 7, "src", 8}};
  ASSERT_FALSE(log.append(std::span(recs).first(4)));
  ASSERT_FALSE(log.append(std::span(recs).subspan(4)));
  EXPECT_EQ(read_file(dir.file("a.log")),
            "1 7 src 1\n2 7 src 2\n3 7 sr 3\n4 7 src_x 4\n5 8 src_x 5\n6 8 - 6\n7 9 - 7\n8 7 src 8\n");
}

TEST(AuditLog, LongSourcesAreCutAndBigBatchesSpanSeveralWrites) {
  test::TempDir dir;
  AuditLog log;
  ASSERT_FALSE(log.open({.path = dir.file("a.log")}));
  const std::string long_src(1000, 's');
  std::vector<AuditRecord> recs;
  for (std::uint64_t i = 1; i <= 3000; ++i) recs.push_back({i, 1, long_src, i});  // ~450 KB > 64 KiB buffer
  ASSERT_FALSE(log.append(recs));
  const auto text = read_file(dir.file("a.log"));
  EXPECT_EQ(count_lines(text), 3000u);
  EXPECT_EQ(text.substr(0, text.find('\n')), "1 1 " + std::string(AuditLog::kMaxSource, 's') + " 1");
  EXPECT_EQ(log.stats().lines, 3000u);
}

TEST(AuditLog, RotatesKeepingKeepFiles) {
  test::CensusGuard census;
  test::TempDir dir;
  const auto path = dir.file("r.log");
  AuditLog log;
  ASSERT_FALSE(log.open({.path = path, .rotate_bytes = 100, .keep = 2}));
  // Each line "<seq> 0 src 1\n" is ~12 bytes: 8 per file.
  for (std::uint64_t seq = 1; seq <= 100; ++seq) {
    AuditRecord r{seq, 0, "src", 1};
    ASSERT_FALSE(log.append(std::span(&r, 1)));
  }
  namespace fs = std::filesystem;
  EXPECT_TRUE(fs::exists(path));
  EXPECT_TRUE(fs::exists(path + ".1"));
  EXPECT_TRUE(fs::exists(path + ".2"));
  EXPECT_FALSE(fs::exists(path + ".3"));
  for (const auto& p : {path, path + ".1", path + ".2"}) EXPECT_LE(fs::file_size(p), 100u) << p;
  const auto cur = read_file(path), one = read_file(path + ".1"), two = read_file(path + ".2");
  // Newest in path, then .1, then .2; the lines continue seamlessly across files.
  EXPECT_EQ(cur.substr(cur.rfind('\n', cur.size() - 2) + 1), "100 0 src 1\n");
  const auto first_seq = [](const std::string& s) { return std::stoull(s.substr(0, s.find(' '))); };
  const auto last_seq = [](const std::string& s) {
    auto b = s.rfind('\n', s.size() - 2);
    return std::stoull(s.substr(b == std::string::npos ? 0 : b + 1));
  };
  EXPECT_EQ(last_seq(two) + 1, first_seq(one));
  EXPECT_EQ(last_seq(one) + 1, first_seq(cur));
  EXPECT_GE(log.stats().rotations, 10u);
  EXPECT_EQ(log.stats().lines, 100u);
  EXPECT_EQ(log.stats().write_errors, 0u);

  // keep = 0: the file is simply started over.
  AuditLog zero;
  ASSERT_FALSE(zero.open({.path = dir.file("z.log"), .rotate_bytes = 30, .keep = 0}));
  for (std::uint64_t seq = 1; seq <= 10; ++seq) {
    AuditRecord r{seq, 0, "src", 1};
    ASSERT_FALSE(zero.append(std::span(&r, 1)));
  }
  EXPECT_FALSE(fs::exists(dir.file("z.log.1")));
  EXPECT_LE(fs::file_size(dir.file("z.log")), 30u);
}

TEST(AuditLog, OpenFailureIsCountedAndHealsOnTheNextAppend) {
  test::CensusGuard census;
  test::TempDir dir;
  AuditLog log;
  const auto sub = dir.file("later");
  auto ec = log.open({.path = sub + "/audit.log"});
  EXPECT_EQ(ec, std::errc::no_such_file_or_directory);
  EXPECT_FALSE(log.healthy());
  AuditRecord r{1, 2, "s", 3};
  EXPECT_TRUE(log.append(std::span(&r, 1)));
  EXPECT_EQ(log.stats().write_errors, 2u);
  EXPECT_EQ(log.stats().lost_lines, 1u);
  std::filesystem::create_directory(sub);
  ASSERT_FALSE(log.append(std::span(&r, 1)));
  EXPECT_TRUE(log.healthy());
  EXPECT_EQ(read_file(sub + "/audit.log"), "1 2 s 3\n");
}

TEST(AuditLog, WriteErrorOnFullDevice) {
  test::CensusGuard census;
  AuditLog log;
  ASSERT_FALSE(log.open({.path = "/dev/full"}));
  std::vector<AuditRecord> recs(10, AuditRecord{1, 2, "s", 3});
  auto ec = log.append(recs);
  EXPECT_EQ(ec, std::errc::no_space_on_device);
  EXPECT_FALSE(log.healthy());
  auto st = log.stats();
  EXPECT_EQ(st.write_errors, 1u);
  EXPECT_EQ(st.lost_lines, 10u);
  EXPECT_EQ(st.lines, 0u);
  EXPECT_FALSE(st.open);  // the fd was closed; the next append reopens
  EXPECT_TRUE(log.append(recs));
  EXPECT_EQ(log.stats().write_errors, 2u);
}

TEST(AuditLog, DirectoryRemovedBeforeRotation) {
  test::CensusGuard census;
  auto dir = std::make_unique<test::TempDir>();
  const auto path = dir->file("gone.log");
  AuditLog log;
  ASSERT_FALSE(log.open({.path = path, .rotate_bytes = 64, .keep = 3}));
  AuditRecord r{1, 0, "src", 1};
  ASSERT_FALSE(log.append(std::span(&r, 1)));
  dir.reset();  // removes the directory under the open file
  std::error_code ec;
  for (int i = 0; i < 20 && !ec; ++i) ec = log.append(std::span(&r, 1));
  EXPECT_TRUE(ec);  // the rotation's reopen fails: counted, fd closed, no crash
  EXPECT_GE(log.stats().write_errors, 1u);
  EXPECT_FALSE(log.healthy());
  EXPECT_FALSE(log.stats().open);
}

TEST(AuditLog, AppendAllocatesNothingAfterWarmUp) {
  test::TempDir dir;
  AuditLog log;
  ASSERT_FALSE(log.open({.path = dir.file("h.log"), .rotate_bytes = 4096, .keep = 2}));
  std::vector<AuditRecord> recs;
  for (std::uint64_t i = 0; i < 64; ++i) recs.push_back({i, 1700000000000, "producer-1", 200});
  ASSERT_FALSE(log.append(recs));
  {  // positive control: the counter does see operator new in this binary
    const auto c0 = test::heap_allocations();
    int* volatile probe = new int(1);
    delete probe;
    ASSERT_GT(test::heap_allocations(), c0);
  }
  const auto before = test::heap_allocations();
  bool ok = true;
  for (int i = 0; i < 50; ++i) ok = ok && !log.append(recs);  // includes rotations
  const auto after = test::heap_allocations();
  EXPECT_TRUE(ok);
  EXPECT_EQ(after - before, 0u);
  EXPECT_GT(log.stats().rotations, 0u);
}

}  // namespace
}  // namespace bh
