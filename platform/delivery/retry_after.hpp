// Retry-After: how long a server asked a client to wait before it sends again, read from the three
// places servers put it: the HTTP `Retry-After` field (RFC 9110 §10.2.3: delay-seconds or an
// HTTP-date), a JSON body's top-level `retry_after` (Discord: seconds as a float) and a JSON body's
// `parameters.retry_after` (Telegram Bot API: whole seconds). Parsers only: no clock of their own
// (a date is turned into a delay against the `now` given), no heap, no exceptions; what to do with
// the delay (cap, wait, count) is the sink's. Not a JSON parser: the body scanner reads just enough
// JSON to find those two keys and gives up on anything malformed.
#pragma once
#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

namespace bh::retry_after {

using Millis = std::chrono::milliseconds;

// Values beyond this are held at it (about 31 years): arithmetic on them never overflows, and the
// sink's max_retry_after caps what is actually waited.
inline constexpr Millis kMaxDelay{1'000'000'000'000};

// An HTTP-date in any of the three forms a recipient must accept (RFC 9110 §5.6.7):
// IMF-fixdate "Sun, 06 Nov 1994 08:49:37 GMT", RFC 850 "Sunday, 06-Nov-94 08:49:37 GMT" (a
// two-digit year within 50 years of 1970..2069) and asctime "Sun Nov  6 08:49:37 1994". Returns
// Unix seconds, or nullopt when the text is none of them (or names an impossible date: Feb 30,
// hour 24). The weekday is checked for form only, as RFC 9110 allows.
std::optional<std::int64_t> parse_http_date(std::string_view text) noexcept;

// The `Retry-After` field value as a delay from now: delay-seconds (1*DIGIT, held at kMaxDelay) or
// an HTTP-date minus `now_unix_ms` (a date in the past is a delay of zero). Leading and trailing
// blanks are ignored. nullopt: empty, negative, fractional or any other text.
std::optional<Millis> parse_header(std::string_view value, std::int64_t now_unix_ms) noexcept;

// The delay in a JSON response body: a number at `/retry_after` (Discord) or at
// `/parameters/retry_after` (Telegram), in seconds, fractions rounded UP to the next millisecond
// (so waiting it is waiting at least what was asked). A negative number counts as zero. Only the
// bytes given are read: a body cut short still yields a value that appeared before the cut.
// nullopt: no such key with a number value before the end or before malformed JSON, or a body
// nested deeper than 32 levels. Notes: the first occurrence wins; key escapes are not decoded
// (a key written "retry\u005fafter" is not found).
std::optional<Millis> parse_json_body(std::string_view body) noexcept;

}  // namespace bh::retry_after
