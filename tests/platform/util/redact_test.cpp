// Redaction (platform/util/redact.hpp): the secret registry's limits (N-1, N, N+1 values, the byte
// budget, short values, duplicates, sealing), the in-place scrubber (every occurrence, longest
// value first, no heap), the log writer scrubbing its lines, and the redacted URL form.
#include "platform/util/redact.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "platform/util/log.hpp"
#include "tests/support/census.hpp"

namespace bh {
namespace {

class Redact : public ::testing::Test {
 protected:
  void SetUp() override { redact::clear_for_tests(); }
  void TearDown() override { redact::clear_for_tests(); }

  static std::string scrubbed(std::string s) {
    s.resize(redact::scrub(s.data(), s.size()));
    return s;
  }
};

TEST_F(Redact, ScrubsEveryOccurrenceOfEveryValue) {
  ASSERT_TRUE(redact::add("bot-token-1"));
  ASSERT_TRUE(redact::add("hook-key-22"));
  EXPECT_EQ(redact::count(), 2u);
  EXPECT_EQ(scrubbed("POST /botbot-token-1/send to hook-key-22 and bot-token-1"), "POST /bot***/send to *** and ***");
  EXPECT_EQ(scrubbed("bot-token-1bot-token-1"), "******");
  EXPECT_EQ(scrubbed("nothing here"), "nothing here");
  EXPECT_EQ(scrubbed(""), "");
  EXPECT_EQ(scrubbed("bot-token-"), "bot-token-");  // a prefix is not the value
}

TEST_F(Redact, LongestValueFirst) {
  ASSERT_TRUE(redact::add("secret"));
  ASSERT_TRUE(redact::add("secret-and-more"));
  EXPECT_EQ(scrubbed("x secret-and-more y secret z"), "x *** y *** z");
}

TEST_F(Redact, ShortValuesAndDuplicatesAreNotStored) {
  EXPECT_TRUE(redact::add("12345"));  // below kMinSecretLen: accepted, not stored
  EXPECT_TRUE(redact::add(""));
  EXPECT_EQ(redact::count(), 0u);
  EXPECT_EQ(scrubbed("12345"), "12345");
  EXPECT_TRUE(redact::add("123456"));
  EXPECT_TRUE(redact::add("123456"));
  EXPECT_EQ(redact::count(), 1u);
  EXPECT_EQ(redact::refused(), 0u);
}

TEST_F(Redact, CapacityInValues) {
  for (std::size_t i = 0; i + 1 < redact::kMaxSecrets; ++i) ASSERT_TRUE(redact::add("value-" + std::to_string(1000 + i)));
  EXPECT_EQ(redact::count(), redact::kMaxSecrets - 1);
  EXPECT_TRUE(redact::add("the-last-one"));
  EXPECT_EQ(redact::count(), redact::kMaxSecrets);
  EXPECT_EQ(redact::refused(), 0u);
  EXPECT_FALSE(redact::add("one-too-many"));
  EXPECT_EQ(redact::count(), redact::kMaxSecrets);
  EXPECT_EQ(redact::refused(), 1u);
  EXPECT_EQ(scrubbed("value-1000 the-last-one one-too-many"), "*** *** one-too-many");
}

TEST_F(Redact, CapacityInBytes) {
  std::string big(redact::kMaxSecretBytes - 10, 'a');
  ASSERT_TRUE(redact::add(big));
  EXPECT_TRUE(redact::add("0123456789"));  // exactly the rest
  EXPECT_FALSE(redact::add("abcdefgh"));
  EXPECT_EQ(redact::count(), 2u);
  EXPECT_EQ(redact::refused(), 1u);
}

TEST_F(Redact, SealedRegistryRefusesAndStillScrubs) {
  ASSERT_TRUE(redact::add("before-seal"));
  redact::seal();
  EXPECT_TRUE(redact::sealed());
  EXPECT_FALSE(redact::add("after-seal"));
  EXPECT_EQ(redact::refused(), 1u);
  EXPECT_EQ(scrubbed("before-seal after-seal"), "*** after-seal");
}

TEST_F(Redact, ScrubAllocatesNothing) {
  ASSERT_TRUE(redact::add("bot-token-1"));
  char line[] = "a bot-token-1 b bot-token-1 c";
  std::uint64_t before = test::heap_allocations();
  std::size_t n = redact::scrub(line, sizeof line - 1);
  EXPECT_EQ(test::heap_allocations(), before);
  EXPECT_EQ(std::string(line, n), "a *** b *** c");
}

TEST_F(Redact, LogLinesAreScrubbed) {
  ASSERT_TRUE(redact::add("bot-token-1"));
  std::FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  log::set_fd(::fileno(f));
  log::warn("sink t: POST https://api.telegram.org/botbot-token-1/sendMessage failed");
  log::set_fd(-1);
  std::string text(256, '\0');
  std::rewind(f);
  text.resize(std::fread(text.data(), 1, text.size(), f));
  std::fclose(f);
  EXPECT_EQ(text.find("bot-token-1"), std::string::npos) << text;
  EXPECT_NE(text.find("/bot***/sendMessage failed\n"), std::string::npos) << text;
}

TEST_F(Redact, UrlShowsSchemeAndHostOnly) {
  auto shown = [](std::string_view u) { return fmt::format("{}", redact::url(u)); };
  EXPECT_EQ(shown("https://api.telegram.org/bot123:abc/sendMessage"), "https://api.telegram.org/***");
  EXPECT_EQ(shown("http://127.0.0.1:8080/ingest?key=x"), "http://127.0.0.1:8080/***");
  EXPECT_EQ(shown("http://[::1]:9?q"), "http://[::1]:9/***");
  EXPECT_EQ(shown("wss://ws.example.com"), "wss://ws.example.com");
  EXPECT_EQ(shown("https://user:pass@host.example/x"), "https://***@host.example/***");
  EXPECT_EQ(shown("not a url with a token"), "***");
  EXPECT_EQ(shown(""), "***");
}

}  // namespace
}  // namespace bh
