// Retry-After parsing: delay-seconds, the three HTTP-date forms against a given wall clock, garbage,
// past dates, huge values, and the JSON bodies of Discord (float seconds) and Telegram (nested).
#include "platform/delivery/retry_after.hpp"

#include <gtest/gtest.h>

#include <string>

namespace bh::retry_after {
namespace {
using namespace std::chrono_literals;

constexpr std::int64_t kSunday = 784111777;  // Sun, 06 Nov 1994 08:49:37 GMT (RFC 9110's example)

TEST(RetryAfter, DelaySeconds) {
  EXPECT_EQ(parse_header("120", 0), Millis{120'000});
  EXPECT_EQ(parse_header("0", 0), Millis{0});
  EXPECT_EQ(parse_header("  7\t", 0), Millis{7'000}) << "surrounding blanks are not part of the value";
  EXPECT_EQ(parse_header("007", 0), Millis{7'000});
}

TEST(RetryAfter, HugeSecondsAreHeldAtTheCeiling) {
  EXPECT_EQ(parse_header("99999999999999999999999999999", 0), kMaxDelay);
  EXPECT_EQ(parse_header("1000000000000", 0), kMaxDelay);
  EXPECT_EQ(parse_header("999999999", 0), Millis{999'999'999'000});
}

TEST(RetryAfter, GarbageIsNoValue) {
  for (const char* bad : {"", " ", "-5", "5.5", "1e3", "soon", "5s", "+5", "0x10", "Sun, 06 Nov 1994 08:49:37",
                          "Sun, 06 Nov 1994 08:49:37 UTC", "Sun, 31 Feb 1994 08:49:37 GMT", "Sun, 06 Nov 1994 24:00:00 GMT",
                          "Xyz, 06 Nov 1994 08:49:37 GMT", "Sun, 06 Foo 1994 08:49:37 GMT", "Sun,  6 Nov 1994 08:49:37 GMT"})
    EXPECT_FALSE(parse_header(bad, 0).has_value()) << '"' << bad << '"';
}

TEST(RetryAfter, TheThreeDateFormsAreTheSameInstant) {
  EXPECT_EQ(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), kSunday);
  EXPECT_EQ(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"), kSunday);
  EXPECT_EQ(parse_http_date("Sun Nov  6 08:49:37 1994"), kSunday);
  EXPECT_EQ(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"), 0);
  EXPECT_EQ(parse_http_date("Tue, 29 Feb 2000 23:59:59 GMT"), 951868799);
  EXPECT_FALSE(parse_http_date("Thu, 29 Feb 2100 00:00:00 GMT").has_value()) << "2100 is not a leap year";
  EXPECT_EQ(parse_http_date("Wednesday, 01-Jan-30 00:00:00 GMT"), 1893456000) << "two-digit years < 70 are 20xx";
}

TEST(RetryAfter, DateIsADelayFromTheGivenNow) {
  const std::int64_t now_ms = kSunday * 1000 - 90'500;  // 90.5 s before the date
  EXPECT_EQ(parse_header("Sun, 06 Nov 1994 08:49:37 GMT", now_ms), Millis{90'500});
  EXPECT_EQ(parse_header("Sun Nov  6 08:49:37 1994", now_ms), Millis{90'500});
}

TEST(RetryAfter, DatesOfThisCentury) {
  // 2026-12-04 22:28:14.250 UTC; the server asks for 2 h from its whole second.
  const std::int64_t now_ms = 1796423294250;
  EXPECT_EQ(parse_http_date("Fri, 04 Dec 2026 22:28:14 GMT"), 1796423294);
  EXPECT_EQ(parse_header("Sat, 05 Dec 2026 00:28:14 GMT", now_ms), Millis{7'199'750});
  EXPECT_EQ(parse_header("Fri, 04 Dec 2026 22:28:14 GMT", now_ms), Millis{0});
}

TEST(RetryAfter, PastDateIsNoWait) {
  EXPECT_EQ(parse_header("Sun, 06 Nov 1994 08:49:37 GMT", kSunday * 1000 + 1), Millis{0});
  EXPECT_EQ(parse_header("Thu, 01 Jan 1970 00:00:00 GMT", 1'700'000'000'000), Millis{0});
}

TEST(RetryAfter, FarFutureDateIsHeldAtTheCeiling) {
  EXPECT_EQ(parse_header("Fri, 31 Dec 9999 23:59:59 GMT", 0), kMaxDelay);
}

TEST(RetryAfter, DiscordFloatSeconds) {
  EXPECT_EQ(parse_json_body(R"({"message": "You are being rate limited.", "retry_after": 64.57, "global": false})"),
            Millis{64'570});
  EXPECT_EQ(parse_json_body(R"({"retry_after":0.0001})"), Millis{1}) << "fractions round up";
  EXPECT_EQ(parse_json_body(R"({"retry_after":1.5e1})"), Millis{15'000});
  EXPECT_EQ(parse_json_body(R"({"retry_after":25E-3})"), Millis{25});
  EXPECT_EQ(parse_json_body(R"({"retry_after":2})"), Millis{2'000});
  EXPECT_EQ(parse_json_body(R"({"retry_after":-3})"), Millis{0});
  EXPECT_EQ(parse_json_body(R"({"retry_after":1e400})"), kMaxDelay);
  EXPECT_EQ(parse_json_body(R"({"retry_after":123456789012345678901234567890})"), kMaxDelay);
}

TEST(RetryAfter, TelegramNestedParameters) {
  EXPECT_EQ(parse_json_body(
                R"({"ok":false,"error_code":429,"description":"Too Many Requests: retry after 5","parameters":{"retry_after":5}})"),
            Millis{5'000});
  EXPECT_EQ(parse_json_body(R"({"parameters":{"migrate_to_chat_id":-100,"retry_after":31}})"), Millis{31'000});
}

TEST(RetryAfter, OnlyThoseTwoPlacesCount) {
  for (const char* body : {R"({"data":{"retry_after":5}})", R"({"parameters":{"x":{"retry_after":5}}})",
                           R"([{"retry_after":5}])", R"({"list":[{"retry_after":5}]})", R"({"retry_after":"5"})",
                           R"({"retry_after":null})", R"({"description":"retry_after: 5"})", R"("retry_after")",
                           R"({"retry_afterx":5})", R"({"parameters":[{"retry_after":5}]})"})
    EXPECT_FALSE(parse_json_body(body).has_value()) << body;
  // ...however much else is around them.
  EXPECT_EQ(parse_json_body(R"({"a":[1,2,{"b":[]}],"s":"x\"}","e":{},"retry_after":3})"), Millis{3'000});
  EXPECT_EQ(parse_json_body(R"({"x":{"parameters":{"retry_after":9}},"parameters":{"retry_after":4}})"), Millis{4'000});
}

TEST(RetryAfter, MalformedOrCutBodies) {
  for (const char* body : {"", "not json", "{", R"({"retry_after")", R"({"retry_after":})", R"({"retry_after":01})",
                           R"({"retry_after":.5})", R"({"retry_after":1.})", R"({"a" 1,"retry_after":1})",
                           "<html>429</html>"})
    EXPECT_FALSE(parse_json_body(body).has_value()) << body;
  // A value that came before the cut counts.
  EXPECT_EQ(parse_json_body(R"({"retry_after":7,"message":"You are be)"), Millis{7'000});
  // Deep nesting gives up instead of recursing.
  std::string deep(1000, '[');
  EXPECT_FALSE(parse_json_body(deep).has_value());
  EXPECT_FALSE(parse_json_body("{\"a\":" + std::string(40, '[') + "]}, \"retry_after\":1}").has_value());
}

}  // namespace
}  // namespace bh::retry_after
