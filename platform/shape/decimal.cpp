#include "platform/shape/decimal.hpp"

#include <charconv>
#include <system_error>

namespace bh {

bool Decimal::parse(std::string_view text, Decimal& out) noexcept {
  std::size_t i = 0;
  const std::size_t n = text.size();
  Decimal d;
  if (i < n && (text[i] == '-' || text[i] == '+')) d.negative_ = text[i++] == '-';

  // Mantissa: digits with at most one '.', leading zeros skipped, trailing zeros counted so that
  // they can go into the exponent instead of the digit array.
  bool any_digit = false;
  bool seen_point = false;
  std::int64_t frac_digits = 0;     // significant-or-zero digits kept after the point
  std::int64_t pending_zeros = 0;   // zeros seen after the last nonzero digit, not yet stored
  for (; i < n; ++i) {
    const char c = text[i];
    if (c == '.') {
      if (seen_point) return false;
      seen_point = true;
      continue;
    }
    if (c < '0' || c > '9') break;
    any_digit = true;
    if (seen_point) ++frac_digits;
    if (c == '0') {
      if (d.count_ > 0) ++pending_zeros;
      continue;
    }
    // A nonzero digit: the zeros before it (after an earlier nonzero) are significant.
    if (d.count_ + pending_zeros + 1 > static_cast<std::int64_t>(kMaxDigits)) return false;
    for (; pending_zeros > 0; --pending_zeros) d.digits_[d.count_++] = 0;
    d.digits_[d.count_++] = static_cast<std::uint8_t>(c - '0');
  }
  if (!any_digit) return false;

  std::int64_t exp = 0;
  if (i < n && (text[i] == 'e' || text[i] == 'E')) {
    ++i;
    bool exp_negative = false;
    if (i < n && (text[i] == '-' || text[i] == '+')) exp_negative = text[i++] == '-';
    if (i == n) return false;
    for (; i < n; ++i) {
      const char c = text[i];
      if (c < '0' || c > '9') return false;
      exp = exp * 10 + (c - '0');
      if (exp > kMaxExponent) return false;
    }
    if (exp_negative) exp = -exp;
  }
  if (i != n) return false;

  if (d.count_ == 0) {
    out = Decimal{};
    return true;
  }
  // The stored digits end pending_zeros digits before the mantissa's last digit, which sits at
  // 10^-frac_digits.
  d.exponent_ = exp - frac_digits + pending_zeros;
  out = d;
  return true;
}

bool Decimal::from_json(simdjson::dom::element e, Decimal& out) noexcept {
  char buf[64];
  std::to_chars_result r{};
  switch (e.type()) {
    case simdjson::dom::element_type::INT64:
      r = std::to_chars(buf, buf + sizeof buf, e.get_int64().value_unsafe());
      break;
    case simdjson::dom::element_type::UINT64:
      r = std::to_chars(buf, buf + sizeof buf, e.get_uint64().value_unsafe());
      break;
    case simdjson::dom::element_type::DOUBLE:
      // Shortest text that reads back as the same double: the text written, up to 15 digits.
      r = std::to_chars(buf, buf + sizeof buf, e.get_double().value_unsafe());
      break;
    case simdjson::dom::element_type::STRING:
      return parse(e.get_string().value_unsafe(), out);
    default:
      return false;
  }
  if (r.ec != std::errc{}) return false;
  return parse(std::string_view(buf, static_cast<std::size_t>(r.ptr - buf)), out);
}

int Decimal::compare(const Decimal& a, const Decimal& b) noexcept {
  const int sa = a.count_ == 0 ? 0 : (a.negative_ ? -1 : 1);
  const int sb = b.count_ == 0 ? 0 : (b.negative_ ? -1 : 1);
  if (sa != sb) return sa < sb ? -1 : 1;
  if (sa == 0) return 0;
  // Same sign: compare magnitudes, then flip for negatives. The most significant digit sits at
  // 10^(count + exponent - 1).
  int mag = 0;
  const std::int64_t ta = a.count_ + a.exponent_;
  const std::int64_t tb = b.count_ + b.exponent_;
  if (ta != tb) {
    mag = ta < tb ? -1 : 1;
  } else {
    const std::size_t common = a.count_ < b.count_ ? a.count_ : b.count_;
    for (std::size_t i = 0; i < common && mag == 0; ++i)
      if (a.digits_[i] != b.digits_[i]) mag = a.digits_[i] < b.digits_[i] ? -1 : 1;
    // Equal so far: no trailing zeros, so the one with more digits is larger.
    if (mag == 0 && a.count_ != b.count_) mag = a.count_ < b.count_ ? -1 : 1;
  }
  return sa < 0 ? -mag : mag;
}

Decimal Decimal::scaled(std::int64_t n) const noexcept {
  Decimal d = *this;
  if (d.count_ == 0) return d;
  if (n > kMaxExponent) n = kMaxExponent;
  if (n < -kMaxExponent) n = -kMaxExponent;
  d.exponent_ -= n;
  return d;
}

bool Decimal::to_int64(std::int64_t& out) const noexcept {
  if (count_ == 0) {
    out = 0;
    return true;
  }
  if (exponent_ < 0 || count_ + exponent_ > 19) return false;
  // Accumulate as a negative number so that INT64_MIN fits.
  std::int64_t v = 0;
  constexpr std::int64_t kMin = INT64_MIN;
  for (std::int64_t i = 0; i < count_ + exponent_; ++i) {
    const int digit = i < count_ ? digits_[i] : 0;
    if (v < kMin / 10) return false;
    v *= 10;
    if (v < kMin + digit) return false;
    v -= digit;
  }
  if (!negative_) {
    if (v == kMin) return false;
    v = -v;
  }
  out = v;
  return true;
}

std::size_t Decimal::format(std::span<char> out, int places) const noexcept {
  // Work on a copy of the digits that rounding may lengthen by one (a carry out of the top).
  std::uint8_t r[kMaxDigits + 1];
  std::int64_t k = count_;
  std::int64_t exp = exponent_;
  for (std::int64_t i = 0; i < k; ++i) r[i] = digits_[i];

  if (places >= 0 && k > 0 && exp < -places) {
    // Drop the digits below 10^-places, rounding half to even.
    const std::int64_t drop = -places - exp;
    const std::int64_t keep = k - drop;  // may be <= 0
    bool up = false;
    if (keep >= 0) {
      const int first = r[keep];                  // the first dropped digit, at 10^(-places-1)
      const bool sticky = k > keep + 1;           // normalized: any later digit is nonzero
      const bool odd = keep > 0 && (r[keep - 1] & 1);
      up = first > 5 || (first == 5 && (sticky || odd));
    }
    // keep < 0: the first dropped digit is a zero above the value, so it rounds to zero.
    k = keep > 0 ? keep : 0;
    exp = -places;
    if (up) {
      std::int64_t i = k - 1;
      for (; i >= 0 && r[i] == 9; --i) r[i] = 0;
      if (i >= 0) {
        ++r[i];
      } else {
        for (std::int64_t j = k; j > 0; --j) r[j] = r[j - 1];
        r[0] = 1;
        ++k;
      }
    }
  }

  bool all_zero = true;
  for (std::int64_t i = 0; i < k && all_zero; ++i) all_zero = r[i] == 0;
  // Digit at 10^q: index (top - q) of r, zero outside.
  const std::int64_t top = exp + k - 1;
  auto digit_at = [&](std::int64_t q) -> char {
    const std::int64_t i = top - q;
    return static_cast<char>('0' + (i >= 0 && i < k ? r[i] : 0));
  };
  const std::int64_t frac = places >= 0 ? places : (all_zero || exp >= 0 ? 0 : -exp);
  const std::int64_t int_digits = (all_zero || top < 0) ? 1 : top + 1;
  const bool minus = negative_ && !all_zero;
  const std::int64_t total = (minus ? 1 : 0) + int_digits + (frac > 0 ? 1 + frac : 0);
  if (total > static_cast<std::int64_t>(out.size())) return 0;

  std::size_t w = 0;
  if (minus) out[w++] = '-';
  for (std::int64_t q = int_digits - 1; q >= 0; --q) out[w++] = digit_at(q);
  if (frac > 0) {
    out[w++] = '.';
    for (std::int64_t q = -1; q >= -frac; --q) out[w++] = digit_at(q);
  }
  return w;
}

std::string Decimal::to_string(int places) const {
  // Large exponents make long text: size by the digits and the exponent.
  const std::int64_t span = count_ + (exponent_ < 0 ? -exponent_ : exponent_) + (places > 0 ? places : 0) + 4;
  if (span > (1 << 20)) return {};
  std::string s(static_cast<std::size_t>(span), '\0');
  s.resize(format(std::span<char>(s.data(), s.size()), places));
  return s;
}

}  // namespace bh
