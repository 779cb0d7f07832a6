// Decimal: an exact decimal number, sign × digits × 10^exponent with up to 78 significant digits
// (a 256-bit integer's worth), in fixed storage inside the object: parsed from a JSON number or a
// string holding a number, compared, scaled by 10^-n and written as fixed-point text, with no
// double in between and no allocation. It is not an arithmetic type (no sums or products).
//
// Why: token amounts arrive as integer strings with a separate decimals field
// ("value":"1500250000","tokenDecimal":"6" is 1500.25) and exceed a double's 15-17 digits.
// Notes: a JSON *number* reaches us through simdjson's DOM, which holds it as int64, uint64 or
// double (an integer beyond 64 bits fails the whole parse). Integers are exact; a double is read
// back as its shortest round-trip text (std::to_chars), which is the text written whenever it had
// at most 15 significant digits. Exact values beyond that must arrive as strings.
#pragma once
#include <simdjson.h>

#include <compare>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace bh {

class Decimal {
 public:
  static constexpr std::size_t kMaxDigits = 78;          // significant digits held exactly
  static constexpr std::int64_t kMaxExponent = 999999999;  // |exponent| written in the text

  // Zero.
  Decimal() noexcept = default;

  // Parses decimal text: optional sign ('-' or '+'), digits with an optional '.' (at least one
  // digit in all; leading zeros allowed, "007" is 7, ".5" and "5." are accepted), an optional
  // exponent ('e' or 'E', optional sign, digits). Nothing else: no spaces, no hex, no inf/nan.
  // Errors: false (and `out` unchanged) when the text is not such a number, has more than 78
  // significant digits (leading and trailing zeros do not count: 1e100 and 0.000001 are 1 digit)
  // or an exponent whose magnitude exceeds kMaxExponent.
  static bool parse(std::string_view text, Decimal& out) noexcept;
  // A JSON number element, or a string element whose text parse() accepts. False for any other
  // type (bool, null, object, array) and for strings that are not numbers.
  static bool from_json(simdjson::dom::element e, Decimal& out) noexcept;

  // Exact comparison: -1, 0 or 1 like a <=> b. "1.50" == "1.5" == "15e-1"; "-0" == "0".
  static int compare(const Decimal& a, const Decimal& b) noexcept;
  friend std::strong_ordering operator<=>(const Decimal& a, const Decimal& b) noexcept { return compare(a, b) <=> 0; }
  friend bool operator==(const Decimal& a, const Decimal& b) noexcept { return compare(a, b) == 0; }

  // This value divided by 10^n (n may be negative to multiply), exact.
  // Example: 1500250000 scaled by 6 is 1500.25. Notes: `n` beyond ±kMaxExponent is clamped.
  Decimal scaled(std::int64_t n) const noexcept;

  // The value as an integer when it is one and fits (for decimals fields: "18" -> 18).
  bool to_int64(std::int64_t& out) const noexcept;

  bool is_zero() const noexcept { return count_ == 0; }
  bool negative() const noexcept { return negative_; }
  std::size_t digits() const noexcept { return count_; }  // significant digits (0 for zero)

  // Writes the value as fixed-point text, never with an exponent: "1500.25", "-0.001", "1000000".
  // places < 0: as many fractional digits as the value has, trailing zeros trimmed (none and no
  // '.' for an integer). places >= 0: exactly that many, rounded half to even (2.345 -> "2.34",
  // 2.355 -> "2.36", like Python's Decimal), "-0.00" written "0.00".
  // Returns the length written, or 0 when `out` is too small (nothing meaningful is written then).
  std::size_t format(std::span<char> out, int places = -1) const noexcept;
  // The same into a std::string (start-up, tests and error messages only); empty past 1 MiB.
  std::string to_string(int places = -1) const;

 private:
  // value = (negative_ ? -1 : 1) × digits_[0..count_) × 10^exponent_, digits most significant
  // first; normalized: no leading or trailing zero digits, zero is count_ = 0, exponent_ = 0,
  // positive.
  std::uint8_t digits_[kMaxDigits] = {};
  std::uint8_t count_ = 0;
  bool negative_ = false;
  std::int64_t exponent_ = 0;
};

}  // namespace bh
