// Retry-After parsing: HTTP-dates by fixed field positions, delay-seconds and JSON numbers by exact
// decimal arithmetic (no floating point: 64.57 s is 64570 ms, 0.0001 s rounds up to 1 ms).
#include "platform/delivery/retry_after.hpp"

#include <array>
#include <cstddef>

namespace bh::retry_after {
namespace {

constexpr std::int64_t kMaxMs = kMaxDelay.count();

constexpr bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }
constexpr char lower(char c) noexcept { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequal(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// n digits at s[at..]; -1 if any is not a digit or the text is too short.
int digits(std::string_view s, std::size_t at, std::size_t n) noexcept {
  if (at + n > s.size()) return -1;
  int v = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (!is_digit(s[at + i])) return -1;
    v = v * 10 + (s[at + i] - '0');
  }
  return v;
}

constexpr std::array<std::string_view, 7> kDays{"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
constexpr std::array<std::string_view, 7> kLongDays{"Monday", "Tuesday", "Wednesday", "Thursday",
                                                    "Friday", "Saturday", "Sunday"};
constexpr std::array<std::string_view, 12> kMonths{"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

template <std::size_t N>
bool one_of(std::string_view s, const std::array<std::string_view, N>& names) noexcept {
  for (auto n : names)
    if (iequal(s, n)) return true;
  return false;
}

// 1..12, or 0.
int month(std::string_view s) noexcept {
  for (std::size_t i = 0; i < kMonths.size(); ++i)
    if (iequal(s, kMonths[i])) return static_cast<int>(i) + 1;
  return 0;
}

// Days since 1970-01-01 of a civil date (H. Hinnant's days_from_civil).
std::int64_t days_from_civil(std::int64_t y, int m, int d) noexcept {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const std::int64_t yoe = y - era * 400;
  const std::int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const std::int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

bool leap(int y) noexcept { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

// "HH:MM:SS" at s[at..] into seconds of the day; -1 if malformed or out of range.
std::int64_t time_of_day(std::string_view s, std::size_t at) noexcept {
  if (at + 8 > s.size() || s[at + 2] != ':' || s[at + 5] != ':') return -1;
  int h = digits(s, at, 2), m = digits(s, at + 3, 2), sec = digits(s, at + 6, 2);
  if (h < 0 || m < 0 || sec < 0 || h > 23 || m > 59 || sec > 60) return -1;  // 60: a leap second
  return h * 3600 + m * 60 + sec;
}

std::optional<std::int64_t> civil(int y, int mon, int d, std::int64_t tod) noexcept {
  static constexpr std::array<int, 12> kLen{31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (mon < 1 || d < 1 || tod < 0) return std::nullopt;
  int len = kLen[static_cast<std::size_t>(mon - 1)] + (mon == 2 && leap(y) ? 1 : 0);
  if (d > len) return std::nullopt;
  return days_from_civil(y, mon, d) * 86400 + tod;
}

// Saturating a * 10 + d.
std::int64_t push_digit(std::int64_t a, int d) noexcept { return a > (kMaxMs - d) / 10 ? kMaxMs : a * 10 + d; }

// An exact JSON number (seconds) at s[i..] into milliseconds, rounded up; i moves past it.
// nullopt: not a JSON number.
std::optional<std::int64_t> json_seconds(std::string_view s, std::size_t& i) noexcept {
  bool neg = false;
  if (i < s.size() && s[i] == '-') neg = true, ++i;
  const std::size_t int_at = i;
  while (i < s.size() && is_digit(s[i])) ++i;
  const std::size_t int_end = i;
  if (int_end == int_at || (s[int_at] == '0' && int_end - int_at > 1)) return std::nullopt;
  std::size_t frac_at = i, frac_end = i;
  if (i < s.size() && s[i] == '.') {
    frac_at = ++i;
    while (i < s.size() && is_digit(s[i])) ++i;
    frac_end = i;
    if (frac_end == frac_at) return std::nullopt;
  }
  std::int64_t exp = 0;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    bool eneg = false;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) eneg = s[i] == '-', ++i;
    const std::size_t e_at = i;
    while (i < s.size() && is_digit(s[i])) exp = exp < 100'000 ? exp * 10 + (s[i] - '0') : exp, ++i;
    if (i == e_at) return std::nullopt;
    if (eneg) exp = -exp;
  }
  // Each digit's power of ten in milliseconds: (position in the number) + exponent + 3.
  std::int64_t ms = 0;
  bool rest = false;  // a nonzero digit below a millisecond
  auto add = [&](char c, std::int64_t power) {
    const int d = c - '0';
    if (power < 0) {
      rest = rest || d != 0;
      return;
    }
    if (d == 0) return;
    std::int64_t v = d;
    for (std::int64_t p = 0; p < power && v < kMaxMs; ++p) v *= 10;
    ms = (v >= kMaxMs || ms >= kMaxMs - v) ? kMaxMs : ms + v;
  };
  const std::int64_t shift = exp + 3;
  const auto int_len = static_cast<std::int64_t>(int_end - int_at);
  for (std::size_t k = int_at; k < int_end; ++k) add(s[k], int_len - 1 - static_cast<std::int64_t>(k - int_at) + shift);
  for (std::size_t k = frac_at; k < frac_end; ++k) add(s[k], -1 - static_cast<std::int64_t>(k - frac_at) + shift);
  if (rest && ms < kMaxMs) ++ms;
  return neg ? 0 : ms;
}

// Just enough JSON to find /retry_after and /parameters/retry_after.
class BodyScanner {
 public:
  explicit BodyScanner(std::string_view s) noexcept : s_(s) {}

  std::optional<std::int64_t> find() noexcept {
    enum class Want : std::uint8_t { key, colon, value, comma };
    Want want = Want::value;  // the document
    Key key = Key::other;
    while (skip_ws()) {
      const char c = s_[i_];
      switch (want) {
        case Want::key:
          if (c == '}' && depth_ > 0 && kind_[depth_ - 1] == '{') {
            ++i_;
            if (!close()) return std::nullopt;
            want = Want::comma;
            continue;
          }
          if (c != '"') return std::nullopt;
          {
            std::string_view k;
            if (!string(k)) return std::nullopt;
            key = k == "retry_after" ? Key::retry_after : k == "parameters" ? Key::parameters : Key::other;
          }
          want = Want::colon;
          continue;
        case Want::colon:
          if (c != ':') return std::nullopt;
          ++i_;
          want = Want::value;
          continue;
        case Want::comma:
          if (depth_ == 0) return std::nullopt;  // the document ended
          if (c == ',') {
            ++i_;
            want = kind_[depth_ - 1] == '{' ? Want::key : Want::value;
            key = Key::other;
            continue;
          }
          if (c != (kind_[depth_ - 1] == '{' ? '}' : ']')) return std::nullopt;
          ++i_;
          if (!close()) return std::nullopt;
          want = Want::comma;
          continue;
        case Want::value: break;
      }
      // A value: in an object (key set), in an array, or the document.
      const bool in_object = depth_ > 0 && kind_[depth_ - 1] == '{';
      const bool wanted_here = in_object && key == Key::retry_after &&
                               (depth_ == 1 || (depth_ == 2 && params_[1]));
      if (c == '{' || c == '[') {
        if (depth_ == kMaxDepth) return std::nullopt;
        kind_[depth_] = c;
        params_[depth_] = c == '{' && in_object && depth_ == 1 && key == Key::parameters;
        ++depth_;
        ++i_;
        want = c == '{' ? Want::key : Want::value;
        key = Key::other;
        if (c == '[') {  // an empty array closes at once
          if (!skip_ws()) return std::nullopt;
          if (s_[i_] == ']') {
            ++i_;
            if (!close()) return std::nullopt;
            want = Want::comma;
          }
        }
        continue;
      }
      if (c == '"') {
        std::string_view ignored;
        if (!string(ignored)) return std::nullopt;
      } else if (c == '-' || is_digit(c)) {
        auto ms = json_seconds(s_, i_);
        if (!ms) return std::nullopt;
        if (wanted_here) return ms;
      } else if (!literal("true") && !literal("false") && !literal("null")) {
        return std::nullopt;
      }
      want = Want::comma;
    }
    return std::nullopt;
  }

 private:
  static constexpr std::size_t kMaxDepth = 32;
  enum class Key : std::uint8_t { other, retry_after, parameters };

  bool skip_ws() noexcept {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\r' || s_[i_] == '\n')) ++i_;
    return i_ < s_.size();
  }
  bool close() noexcept {
    if (depth_ == 0) return false;
    --depth_;
    return true;
  }
  // A string at i_ (the opening quote); `out` = its raw bytes between the quotes.
  bool string(std::string_view& out) noexcept {
    const std::size_t at = ++i_;
    while (i_ < s_.size()) {
      const char c = s_[i_];
      if (c == '"') {
        out = s_.substr(at, i_ - at);
        ++i_;
        return true;
      }
      if (static_cast<unsigned char>(c) < 0x20) return false;
      i_ += c == '\\' ? 2 : 1;
    }
    return false;
  }
  bool literal(std::string_view w) noexcept {
    if (s_.substr(i_, w.size()) != w) return false;
    i_ += w.size();
    return true;
  }

  std::string_view s_;
  std::size_t i_ = 0;
  std::size_t depth_ = 0;
  char kind_[kMaxDepth] = {};
  bool params_[kMaxDepth] = {};  // this object is the top-level "parameters"
};

}  // namespace

std::optional<std::int64_t> parse_http_date(std::string_view s) noexcept {
  // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT"
  if (s.size() == 29 && s[3] == ',' && s[4] == ' ' && s[7] == ' ' && s[11] == ' ' && s[16] == ' ' && s[25] == ' ') {
    if (!one_of(s.substr(0, 3), kDays) || s.substr(26) != "GMT") return std::nullopt;
    int d = digits(s, 5, 2), y = digits(s, 12, 4);
    if (d < 0 || y < 0) return std::nullopt;
    return civil(y, month(s.substr(8, 3)), d, time_of_day(s, 17));
  }
  // RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT"
  if (auto comma = s.find(','); comma != std::string_view::npos && comma >= 6 && s.size() == comma + 24) {
    const std::size_t p = comma + 2;
    if (!one_of(s.substr(0, comma), kLongDays) || s[comma + 1] != ' ' || s[p + 2] != '-' || s[p + 6] != '-' ||
        s[p + 9] != ' ' || s[p + 18] != ' ' || s.substr(p + 19) != "GMT")
      return std::nullopt;
    int d = digits(s, p, 2), yy = digits(s, p + 7, 2);
    if (d < 0 || yy < 0) return std::nullopt;
    // RFC 9110 §5.6.7: a two-digit year more than 50 years in the future is in the past century.
    int y = yy < 70 ? 2000 + yy : 1900 + yy;
    return civil(y, month(s.substr(p + 3, 3)), d, time_of_day(s, p + 10));
  }
  // asctime: "Sun Nov  6 08:49:37 1994"
  if (s.size() == 24 && s[3] == ' ' && s[7] == ' ' && s[10] == ' ' && s[19] == ' ') {
    if (!one_of(s.substr(0, 3), kDays)) return std::nullopt;
    int d = s[8] == ' ' ? digits(s, 9, 1) : digits(s, 8, 2), y = digits(s, 20, 4);
    if (d < 0 || y < 0) return std::nullopt;
    return civil(y, month(s.substr(4, 3)), d, time_of_day(s, 11));
  }
  return std::nullopt;
}

std::optional<Millis> parse_header(std::string_view value, std::int64_t now_unix_ms) noexcept {
  value = trim(value);
  if (value.empty()) return std::nullopt;
  if (is_digit(value.front())) {
    std::int64_t secs = 0;
    for (char c : value) {
      if (!is_digit(c)) goto date;  // "Sun, ..." never starts with a digit; "5.5" is not delay-seconds
      secs = push_digit(secs, c - '0');
    }
    return Millis{secs >= kMaxMs / 1000 ? kMaxMs : secs * 1000};
  }
date:
  auto when = parse_http_date(value);
  if (!when) return std::nullopt;
  // Years have four digits at most (< 2.6e11 s): the product cannot overflow.
  const std::int64_t ms = *when * 1000 - now_unix_ms;
  return Millis{ms <= 0 ? 0 : ms >= kMaxMs ? kMaxMs : ms};
}

std::optional<Millis> parse_json_body(std::string_view body) noexcept {
  auto ms = BodyScanner(body).find();
  if (!ms) return std::nullopt;
  return Millis{*ms};
}

}  // namespace bh::retry_after
