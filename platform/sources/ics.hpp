// IcsCutter: cuts an iCalendar body (RFC 5545, `text/calendar`) into one JSON object per VEVENT
// as its bytes arrive (the `split = "ics"` mode of platform/sources/splitter.hpp). It unfolds
// folded lines (CRLF or a bare LF followed by one space or tab, also inside a UTF-8 character),
// reads property names, parameters (TZID=..., VALUE=DATE, "quoted" values) and values, undoes
// TEXT escapes (\n \N \, \; \\), and writes the event's JSON straight into a fixed output buffer:
//   {"uid":..,"summary":..,"description":..,"location":..,"start":"2026-12-04T10:00:00Z",
//    "all_day":false,"tzid":"Europe/Berlin","end":..,"duration":..,"last_modified":..,
//    "recurrence_id":..,"sequence":3,"status":..,"rrule":..}
// Keys appear in the order of the properties in the VEVENT; a property that is absent (or a date
// that is not DATE / DATE-TIME) is left out; a repeated property keeps its first value. Dates are
// ISO 8601 text: "2026-12-04T10:00:00" (+ "Z" when UTC; the TZID goes separately in `tzid`, from
// DTSTART), all-day "2026-12-04" with `all_day` true. Properties of components nested in a VEVENT
// (VALARM, ...) and of every other component (VTIMEZONE, VTODO, ...) are ignored. Bytes that are
// not valid UTF-8 become U+FFFD.
// It is not a validator nor a recurrence expander: an RRULE is passed on as text. Lines of any
// length stream through (nothing holds a whole line); the state is a few dozen bytes. An event
// whose JSON outgrows the buffer is reported too large (with the length it needed). No allocation.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace bh {

class IcsCutter {
 public:
  enum class Kind : std::uint8_t { none, event, too_large };
  struct Step {
    std::size_t consumed = 0;  // bytes of the input taken
    Kind kind = Kind::none;
    std::uint64_t bytes = 0;   // event: its length; too_large: the length it needed
  };

  explicit IcsCutter(std::span<char> out) noexcept : out_(out) {}
  void reset() noexcept;
  // Takes `in` up to the end of the next complete VEVENT (kind event or too_large; the event is
  // event() until the next call) or all of it (kind none). Call again with the rest.
  Step feed(std::string_view in) noexcept;
  // End of the body: the last line (without a line break) is taken, which may complete an event.
  // problem() then says whether the body was malformed.
  Step finish() noexcept;
  // After finish(): nullptr, or why the body is not a usable calendar (no BEGIN:VCALENDAR nor
  // VEVENT; it ends inside a VEVENT, whose event is then lost).
  const char* problem() const noexcept { return problem_; }
  std::string_view event() const noexcept {
    return len_ <= out_.size() ? std::string_view(out_.data(), static_cast<std::size_t>(len_)) : std::string_view{};
  }

 private:
  enum class Line : std::uint8_t { name, param_name, param_value, value, skip };
  static constexpr std::uint8_t kNoProp = 0xFF;
  static constexpr std::size_t kNameBytes = 16;   // the longest name we act on is 13 bytes
  static constexpr std::size_t kShortBytes = 24;  // BEGIN/END names, dates, SEQUENCE

  void on_char(char c) noexcept;
  void name_char(char c) noexcept;  // a property or parameter name's byte (upper-cased, bounded)
  void begin_param() noexcept;
  Kind end_line() noexcept;
  Kind end_value() noexcept;
  void start_value() noexcept;
  void end_param() noexcept;
  bool acting() const noexcept;
  void put(char c) noexcept {
    if (len_ < out_.size()) out_[static_cast<std::size_t>(len_)] = c;
    ++len_;
  }
  void put(std::string_view s) noexcept {
    for (char c : s) put(c);
  }
  void key(std::string_view k) noexcept;  // ,"k":
  void text_byte(unsigned char b) noexcept;  // into a JSON string: escaped, UTF-8 checked
  void text_char(char c) noexcept;           // a TEXT value's character: \-escapes undone first
  void close_text() noexcept;                // ends the JSON string
  void write_date(std::string_view k, bool with_all_day) noexcept;
  void rollback() noexcept;

  std::span<char> out_;
  std::uint64_t len_ = 0;  // JSON bytes of the current event (may exceed out_: too large)
  // Unfolding.
  bool cr_ = false;  // a CR was seen
  bool nl_ = false;  // a line break was seen; the next byte decides: fold or new line
  // The current line.
  Line line_ = Line::name;
  char name_[kNameBytes] = {};
  std::uint8_t name_len_ = 0;
  bool name_long_ = false;
  std::uint8_t prop_ = kNoProp;  // row of the property table, or kNoProp
  bool quoted_ = false;
  bool tzid_open_ = false;  // DTSTART's TZID is being written into the event
  bool text_ = false;       // the value streams into a JSON string
  bool backslash_ = false;
  char short_[kShortBytes] = {};
  std::uint8_t short_len_ = 0;
  bool short_long_ = false;
  unsigned char u8_[4] = {};
  std::uint8_t u8_have_ = 0, u8_need_ = 0;
  // The current event.
  bool in_event_ = false;
  bool any_calendar_ = false;  // BEGIN:VCALENDAR or BEGIN:VEVENT seen
  bool first_ = true;          // no key written yet
  std::uint32_t nest_ = 0;     // components open inside the VEVENT
  std::uint32_t seen_ = 0;     // properties written (bit per row; bit 31: tzid)
  // At the start of the line: what an abandoned line rolls back to.
  std::uint64_t mark_len_ = 0;
  std::uint32_t mark_seen_ = 0;
  bool mark_first_ = true;
  const char* problem_ = nullptr;
};

}  // namespace bh
