// Decimal: exact parsing (78 significant digits, signs, exponents, leading zeros, invalid text),
// JSON numbers and numeric strings alike, exact comparison, scaling by 10^-n and fixed-point text.
#include "platform/shape/decimal.hpp"

#include <gtest/gtest.h>

#include <string>

#include "platform/alloc/alloc.hpp"

namespace bh {
namespace {

Decimal dec(std::string_view text) {
  Decimal d;
  EXPECT_TRUE(Decimal::parse(text, d)) << text;
  return d;
}

bool parses(std::string_view text) {
  Decimal d;
  return Decimal::parse(text, d);
}

// A JSON document's member "v" read as a decimal; "<none>" when it is not a number.
std::string json_value(std::string_view json) {
  simdjson::dom::parser parser;
  simdjson::padded_string text(json);
  simdjson::dom::element root;
  EXPECT_EQ(parser.parse(text).get(root), simdjson::SUCCESS) << json;
  Decimal d;
  if (!Decimal::from_json(root["v"].value_unsafe(), d)) return "<none>";
  return d.to_string();
}

TEST(Decimal, ParsesAndWritesFixedPoint) {
  EXPECT_EQ(dec("0").to_string(), "0");
  EXPECT_EQ(dec("42").to_string(), "42");
  EXPECT_EQ(dec("-42").to_string(), "-42");
  EXPECT_EQ(dec("+42").to_string(), "42");
  EXPECT_EQ(dec("1500.250").to_string(), "1500.25");
  EXPECT_EQ(dec("1000").to_string(), "1000");
  EXPECT_EQ(dec("1000.5").to_string(), "1000.5");
  EXPECT_EQ(dec("0.001").to_string(), "0.001");
  EXPECT_EQ(dec("-0.001").to_string(), "-0.001");
  EXPECT_EQ(dec(".5").to_string(), "0.5");
  EXPECT_EQ(dec("5.").to_string(), "5");
  EXPECT_EQ(dec("10.01").to_string(), "10.01");
}

TEST(Decimal, LeadingAndTrailingZerosAreNotSignificant) {
  EXPECT_EQ(dec("007").to_string(), "7");
  EXPECT_EQ(dec("000.000").to_string(), "0");
  EXPECT_EQ(dec("-0").to_string(), "0");
  EXPECT_FALSE(dec("-0").negative());
  EXPECT_EQ(dec("00120.0300").digits(), 5u) << "1, 2, 0, 0, 3";
  EXPECT_EQ(dec("00120.0300").to_string(), "120.03");
  EXPECT_EQ(dec("1e100").digits(), 1u);
  EXPECT_EQ(dec("0.000001").digits(), 1u);
}

TEST(Decimal, Exponents) {
  EXPECT_EQ(dec("1e3").to_string(), "1000");
  EXPECT_EQ(dec("1E+3").to_string(), "1000");
  EXPECT_EQ(dec("15e-1").to_string(), "1.5");
  EXPECT_EQ(dec("-2.5e-3").to_string(), "-0.0025");
  EXPECT_EQ(dec("0e999").to_string(), "0");
  EXPECT_EQ(dec("1.23e2").to_string(), "123");
  EXPECT_EQ(dec("1e-999999999").digits(), 1u);
  EXPECT_FALSE(parses("1e1000000000")) << "an exponent past kMaxExponent";
  EXPECT_EQ(dec("1e20").to_string(), "100000000000000000000");
}

TEST(Decimal, SeventyEightDigitsAtNAndNPlusOne) {
  const std::string d78 = "1" + std::string(76, '2') + "3";
  ASSERT_EQ(d78.size(), 78u);
  EXPECT_EQ(dec(d78).to_string(), d78);
  EXPECT_EQ(dec("-" + d78).to_string(), "-" + d78);
  EXPECT_EQ(dec(d78.substr(0, 40) + "." + d78.substr(40)).to_string(), d78.substr(0, 40) + "." + d78.substr(40));
  EXPECT_FALSE(parses(d78 + "4")) << "79 significant digits";
  EXPECT_FALSE(parses("1" + std::string(77, '0') + "1")) << "inner zeros are significant";
  // Zeros around the significant digits do not count.
  EXPECT_TRUE(parses("000" + d78 + "000"));
  EXPECT_TRUE(parses("0.000" + d78));
  // The largest 256-bit unsigned integer, and one more.
  const std::string u256max = "115792089237316195423570985008687907853269984665640564039457584007913129639935";
  const std::string u256 = "115792089237316195423570985008687907853269984665640564039457584007913129639936";
  EXPECT_LT(dec(u256max), dec(u256));
  EXPECT_EQ(dec(u256max).to_string(), u256max);
}

TEST(Decimal, InvalidTextIsRefused) {
  for (std::string_view bad : {"", "-", "+", ".", "e5", "1e", "1e+", "1.2.3", "1,5", " 1", "1 ", "0x1a",
                               "inf", "nan", "--1", "1e5.5", "1..", "abc", "1e-", "٣"}) {
    EXPECT_FALSE(parses(bad)) << "\"" << bad << "\"";
  }
  Decimal d = dec("7");
  EXPECT_FALSE(Decimal::parse("x", d));
  EXPECT_EQ(d.to_string(), "7") << "a refused parse leaves the output unchanged";
}

TEST(Decimal, ComparesExactly) {
  EXPECT_EQ(dec("1.50"), dec("1.5"));
  EXPECT_EQ(dec("15e-1"), dec("1.5"));
  EXPECT_EQ(dec("-0"), dec("0"));
  EXPECT_LT(dec("-1"), dec("0"));
  EXPECT_LT(dec("0"), dec("0.0000001"));
  EXPECT_LT(dec("-2"), dec("-1"));
  EXPECT_LT(dec("-10"), dec("-9.99"));
  EXPECT_GT(dec("1500250000"), dec("1000"));
  EXPECT_LT(dec("999"), dec("1000"));
  EXPECT_LT(dec("1.2"), dec("1.23"));
  EXPECT_GT(dec("1.3"), dec("1.23"));
  EXPECT_LT(dec("1e-5"), dec("1e-4"));
  EXPECT_EQ(Decimal::compare(dec("5"), dec("5")), 0);
  EXPECT_EQ(Decimal::compare(dec("5"), dec("6")), -1);
  EXPECT_EQ(Decimal::compare(dec("-5"), dec("-6")), 1);
  // Differ only in the 78th digit, and past what a double can tell apart.
  const std::string a = std::string(77, '9') + "8";
  const std::string b = std::string(77, '9') + "9";
  EXPECT_LT(dec(a), dec(b));
  EXPECT_LT(dec("-" + b), dec("-" + a));
  EXPECT_NE(dec("9007199254740993"), dec("9007199254740992"));
}

TEST(Decimal, ScalesByPowersOfTen) {
  EXPECT_EQ(dec("1500250000").scaled(6).to_string(), "1500.25");
  EXPECT_EQ(dec("1500250000").scaled(18).to_string(), "0.00000000150025");
  EXPECT_EQ(dec("1").scaled(-3).to_string(), "1000");
  EXPECT_EQ(dec("0").scaled(6).to_string(), "0");
  EXPECT_EQ(dec("-123").scaled(2).to_string(), "-1.23");
  const std::string wei = "123456789012345678901234567890123456789012345678901234567891";
  EXPECT_EQ(dec(wei).scaled(18).to_string(), wei.substr(0, wei.size() - 18) + "." + wei.substr(wei.size() - 18));
  EXPECT_EQ(dec(wei).scaled(18), dec(wei.substr(0, wei.size() - 18) + "." + wei.substr(wei.size() - 18)));
}

TEST(Decimal, FixedPlacesRoundHalfToEven) {
  EXPECT_EQ(dec("1500250000").scaled(6).to_string(2), "1500.25");
  EXPECT_EQ(dec("1500250000").scaled(6).to_string(4), "1500.2500");
  EXPECT_EQ(dec("1500250000").scaled(6).to_string(0), "1500");
  EXPECT_EQ(dec("2.345").to_string(2), "2.34");
  EXPECT_EQ(dec("2.355").to_string(2), "2.36");
  EXPECT_EQ(dec("2.3451").to_string(2), "2.35") << "above half rounds up";
  EXPECT_EQ(dec("0.5").to_string(0), "0");
  EXPECT_EQ(dec("1.5").to_string(0), "2");
  EXPECT_EQ(dec("2.5").to_string(0), "2");
  EXPECT_EQ(dec("9.999").to_string(2), "10.00") << "a carry out of the top";
  EXPECT_EQ(dec("-9.999").to_string(2), "-10.00");
  EXPECT_EQ(dec("0.004").to_string(2), "0.00");
  EXPECT_EQ(dec("0.006").to_string(2), "0.01");
  EXPECT_EQ(dec("0.005").to_string(2), "0.00") << "half, and the kept 0 is even";
  EXPECT_EQ(dec("0.0051").to_string(2), "0.01");
  EXPECT_EQ(dec("0.00001").to_string(2), "0.00");
  EXPECT_EQ(dec("-0.001").to_string(2), "0.00") << "no negative zero";
  EXPECT_EQ(dec("12").to_string(3), "12.000");
  EXPECT_EQ(dec("1e3").to_string(1), "1000.0");
  EXPECT_EQ(dec("0").to_string(2), "0.00");
}

TEST(Decimal, FormatReportsABufferTooSmall) {
  char buf[7];
  EXPECT_EQ(dec("1500.25").format(buf), 7u);
  EXPECT_EQ(std::string_view(buf, 7), "1500.25");
  EXPECT_EQ(dec("-1500.25").format(buf), 0u);
  EXPECT_EQ(dec("1500.25").format(buf, 3), 0u);
  EXPECT_EQ(dec("1e999999").format(buf), 0u);
  EXPECT_EQ(dec("1e-999999").format(buf), 0u);
}

TEST(Decimal, ToInt64) {
  std::int64_t v = 0;
  EXPECT_TRUE(dec("18").to_int64(v));
  EXPECT_EQ(v, 18);
  EXPECT_TRUE(dec("18.000").to_int64(v));
  EXPECT_EQ(v, 18);
  EXPECT_TRUE(dec("0").to_int64(v));
  EXPECT_EQ(v, 0);
  EXPECT_TRUE(dec("-9223372036854775808").to_int64(v));
  EXPECT_EQ(v, INT64_MIN);
  EXPECT_TRUE(dec("9223372036854775807").to_int64(v));
  EXPECT_EQ(v, INT64_MAX);
  EXPECT_FALSE(dec("9223372036854775808").to_int64(v));
  EXPECT_FALSE(dec("1.5").to_int64(v));
  EXPECT_FALSE(dec("1e30").to_int64(v));
}

TEST(Decimal, FromJsonNumbersAndNumericStrings) {
  EXPECT_EQ(json_value(R"({"v":1500250000})"), "1500250000");
  EXPECT_EQ(json_value(R"({"v":"1500250000"})"), "1500250000");
  EXPECT_EQ(json_value(R"({"v":-12})"), "-12");
  EXPECT_EQ(json_value(R"({"v":18446744073709551615})"), "18446744073709551615") << "uint64";
  EXPECT_EQ(json_value(R"({"v":-9223372036854775808})"), "-9223372036854775808");
  EXPECT_EQ(json_value(R"({"v":0.1})"), "0.1") << "a double's shortest text, not its binary value";
  EXPECT_EQ(json_value(R"({"v":1.5e-7})"), "0.00000015");
  EXPECT_EQ(json_value(R"({"v":1e21})"), "1000000000000000000000");
  EXPECT_EQ(json_value(R"({"v":"1e21"})"), "1000000000000000000000");
  EXPECT_EQ(json_value(R"({"v":"115792089237316195423570985008687907853269984665640564039457584007913129639935"})"),
            "115792089237316195423570985008687907853269984665640564039457584007913129639935");
  EXPECT_EQ(json_value(R"({"v":"12abc"})"), "<none>");
  EXPECT_EQ(json_value(R"({"v":""})"), "<none>");
  EXPECT_EQ(json_value(R"({"v":true})"), "<none>");
  EXPECT_EQ(json_value(R"({"v":null})"), "<none>");
  EXPECT_EQ(json_value(R"({"v":[1]})"), "<none>");
  EXPECT_EQ(json_value(R"({"v":{"a":1}})"), "<none>");
}

TEST(Decimal, NothingAllocates) {
  simdjson::dom::parser parser;
  simdjson::padded_string text(std::string_view(R"({"v":0.1,"s":"123456789012345678901234567890.5"})"));
  simdjson::dom::element root;
  ASSERT_EQ(parser.parse(text).get(root), simdjson::SUCCESS);
  char buf[128];
  std::size_t written = 0;
  const std::uint64_t before = alloc::count();
  for (int i = 0; i < 100; ++i) {
    Decimal a, b;
    written += Decimal::from_json(root["v"].value_unsafe(), a) ? 1 : 0;
    written += Decimal::from_json(root["s"].value_unsafe(), b) ? 1 : 0;
    written += a < b ? 1 : 0;
    written += b.scaled(18).format(buf, 4);  // "123456789012.3457"
  }
  EXPECT_EQ(alloc::count(), before) << "Decimal allocated";
  EXPECT_EQ(written, 100u * (3 + 17));
}

}  // namespace
}  // namespace bh
