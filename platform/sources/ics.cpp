// IcsCutter: unfolding, the line state machine, and the JSON written per VEVENT property.
#include "platform/sources/ics.hpp"

#include <array>

namespace bh {
namespace {

enum class Form : std::uint8_t { text, date, integer, begin, end };

// The properties acted on, one row each: iCalendar name, JSON key, how the value is read.
struct PropRow {
  std::string_view ics;
  std::string_view json;
  Form form;
};
constexpr std::array kProps{
    PropRow{"BEGIN", "", Form::begin},
    PropRow{"END", "", Form::end},
    PropRow{"UID", "uid", Form::text},
    PropRow{"SUMMARY", "summary", Form::text},
    PropRow{"DESCRIPTION", "description", Form::text},
    PropRow{"LOCATION", "location", Form::text},
    PropRow{"DTSTART", "start", Form::date},
    PropRow{"DTEND", "end", Form::date},
    PropRow{"DURATION", "duration", Form::text},
    PropRow{"LAST-MODIFIED", "last_modified", Form::date},
    PropRow{"RECURRENCE-ID", "recurrence_id", Form::date},
    PropRow{"SEQUENCE", "sequence", Form::integer},
    PropRow{"STATUS", "status", Form::text},
    PropRow{"RRULE", "rrule", Form::text},
};
constexpr std::uint8_t kDtstart = 6;
static_assert(kProps[kDtstart].ics == "DTSTART");
static_assert(kProps.size() < 31);
constexpr std::uint32_t kTzidBit = 1u << 31;

constexpr char upper(char c) noexcept { return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c; }
constexpr bool digit(char c) noexcept { return c >= '0' && c <= '9'; }

}  // namespace

void IcsCutter::reset() noexcept {
  const std::span<char> out = out_;
  *this = IcsCutter(out);
}

bool IcsCutter::acting() const noexcept {
  return in_event_ && nest_ == 0 && prop_ != kNoProp && kProps[prop_].form != Form::begin &&
         kProps[prop_].form != Form::end && (seen_ & (1u << prop_)) == 0;
}

IcsCutter::Step IcsCutter::feed(std::string_view in) noexcept {
  for (std::size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    if (cr_) {
      cr_ = false;
      if (c == '\n') {
        nl_ = true;
        continue;
      }
      nl_ = true;  // a bare CR ends the line as well
    }
    if (nl_) {
      nl_ = false;
      if (c == ' ' || c == '\t') continue;  // folded: the break and this one blank go
      if (Kind k = end_line(); k != Kind::none) {
        // The event is complete; `c` begins the next line and is taken by the next call.
        cr_ = false;
        nl_ = false;
        return Step{i, k, len_};
      }
    }
    if (c == '\r') {
      cr_ = true;
    } else if (c == '\n') {
      nl_ = true;
    } else {
      on_char(c);
    }
  }
  return Step{in.size(), Kind::none, 0};
}

IcsCutter::Step IcsCutter::finish() noexcept {
  cr_ = nl_ = false;
  Kind k = end_line();
  if (in_event_) {
    problem_ = "the calendar ends inside a VEVENT (truncated): that event is not stored";
    in_event_ = false;
  } else if (!any_calendar_) {
    problem_ = "the body is not an iCalendar (no BEGIN:VCALENDAR nor BEGIN:VEVENT)";
  }
  return Step{0, k, len_};
}

void IcsCutter::name_char(char c) noexcept {
  if (name_len_ < kNameBytes) {
    name_[name_len_++] = upper(c);
  } else {
    name_long_ = true;
  }
}

void IcsCutter::begin_param() noexcept {
  line_ = Line::param_name;
  name_len_ = 0;
  name_long_ = false;
}

void IcsCutter::on_char(char c) noexcept {
  switch (line_) {
    case Line::name:
      if (c == ';' || c == ':') {
        prop_ = kNoProp;
        if (!name_long_) {
          const std::string_view n(name_, name_len_);
          for (std::size_t r = 0; r < kProps.size(); ++r)
            if (kProps[r].ics == n) prop_ = static_cast<std::uint8_t>(r);
        }
        if (c == ':') {
          start_value();
        } else {
          begin_param();
        }
      } else {
        name_char(c);
      }
      return;
    case Line::param_name:
      if (c == '=') {
        const std::string_view n(name_, name_len_);
        line_ = Line::param_value;
        quoted_ = false;
        if (!name_long_ && n == "TZID" && prop_ == kDtstart && acting() && (seen_ & kTzidBit) == 0) {
          key("tzid");
          put('"');
          tzid_open_ = true;
        }
      } else if (c == ':') {
        start_value();  // a parameter without a value: ignored
      } else if (c == ';') {
        begin_param();
      } else {
        name_char(c);
      }
      return;
    case Line::param_value:
      if (c == '"') {
        quoted_ = !quoted_;
        return;
      }
      if (!quoted_ && (c == ';' || c == ':')) {
        end_param();
        if (c == ':') {
          start_value();
        } else {
          begin_param();
        }
        return;
      }
      if (tzid_open_) text_byte(static_cast<unsigned char>(c));
      return;
    case Line::value:
      if (text_) {
        text_char(c);
      } else if (short_len_ < kShortBytes) {
        short_[short_len_++] = upper(c);
      } else {
        short_long_ = true;
      }
      return;
    case Line::skip: return;
  }
}

void IcsCutter::end_param() noexcept {
  if (tzid_open_) {
    close_text();
    tzid_open_ = false;
    seen_ |= kTzidBit;
  }
}

void IcsCutter::start_value() noexcept {
  line_ = Line::value;
  short_len_ = 0;
  short_long_ = false;
  text_ = false;
  backslash_ = false;
  if (prop_ == kNoProp) {
    line_ = Line::skip;
    return;
  }
  const Form f = kProps[prop_].form;
  if (f == Form::begin || f == Form::end) return;  // always read: they track nesting
  if (!acting()) {
    line_ = Line::skip;
    return;
  }
  if (f == Form::text) {
    key(kProps[prop_].json);
    put('"');
    text_ = true;
  }
}

void IcsCutter::key(std::string_view k) noexcept {
  if (!first_) put(',');
  first_ = false;
  put('"');
  put(k);
  put("\":");
}

void IcsCutter::text_byte(unsigned char b) noexcept {
  if (u8_need_ > 0) {
    bool ok = (b & 0xC0) == 0x80;
    if (ok && u8_have_ == 1) {
      const unsigned char l = u8_[0];
      ok = !(l == 0xE0 && b < 0xA0) && !(l == 0xED && b >= 0xA0) && !(l == 0xF0 && b < 0x90) && !(l == 0xF4 && b >= 0x90);
    }
    if (ok) {
      u8_[u8_have_++] = b;
      if (u8_have_ == u8_need_) {
        for (std::uint8_t i = 0; i < u8_have_; ++i) put(static_cast<char>(u8_[i]));
        u8_have_ = u8_need_ = 0;
      }
      return;
    }
    put("\\ufffd");  // a broken sequence; `b` starts afresh
    u8_have_ = u8_need_ = 0;
  }
  if (b < 0x80) {
    static constexpr char kHex[] = "0123456789abcdef";
    switch (b) {
      case '"': put("\\\""); return;
      case '\\': put("\\\\"); return;
      case '\n': put("\\n"); return;
      case '\r': put("\\r"); return;
      case '\t': put("\\t"); return;
      default:
        if (b < 0x20) {
          put("\\u00");
          put(kHex[b >> 4]);
          put(kHex[b & 15]);
        } else {
          put(static_cast<char>(b));
        }
        return;
    }
  }
  const std::uint8_t need = b >= 0xC2 && b <= 0xDF ? 2 : b >= 0xE0 && b <= 0xEF ? 3 : b >= 0xF0 && b <= 0xF4 ? 4 : 0;
  if (need == 0) {
    put("\\ufffd");
    return;
  }
  u8_[0] = b;
  u8_have_ = 1;
  u8_need_ = need;
}

void IcsCutter::text_char(char c) noexcept {
  if (backslash_) {
    backslash_ = false;
    switch (c) {
      case 'n':
      case 'N': text_byte('\n'); return;
      case ',':
      case ';':
      case '\\': text_byte(static_cast<unsigned char>(c)); return;
      default:  // not an escape RFC 5545 knows: kept as written
        text_byte('\\');
        text_byte(static_cast<unsigned char>(c));
        return;
    }
  }
  if (c == '\\') {
    backslash_ = true;
    return;
  }
  text_byte(static_cast<unsigned char>(c));
}

void IcsCutter::close_text() noexcept {
  if (backslash_) text_byte('\\');
  backslash_ = false;
  if (u8_need_ > 0) put("\\ufffd");
  u8_have_ = u8_need_ = 0;
  put('"');
}

void IcsCutter::write_date(std::string_view k, bool with_all_day) noexcept {
  // DATE "YYYYMMDD", DATE-TIME "YYYYMMDDTHHMMSS" with an optional "Z" (UTC). The value's own form
  // decides all_day (VALUE=DATE goes with a DATE value).
  const std::string_view v(short_, short_len_);
  const bool date = v.size() == 8;
  const bool utc = v.size() == 16 && v[15] == 'Z';
  bool ok = !short_long_ && (date || ((v.size() == 15 || utc) && v[8] == 'T'));
  for (std::size_t i = 0; ok && i < v.size() && i < 15; ++i) ok = i == 8 || digit(v[i]);
  auto num = [&](std::size_t at) { return (v[at] - '0') * 10 + (v[at + 1] - '0'); };
  if (ok) ok = num(4) >= 1 && num(4) <= 12 && num(6) >= 1 && num(6) <= 31;
  if (ok && !date) ok = num(9) <= 23 && num(11) <= 59 && num(13) <= 60;
  if (!ok) {
    rollback();  // a date we cannot read (PERIOD, garbage): the property is left out
    return;
  }
  key(k);
  put('"');
  put(v.substr(0, 4));
  put('-');
  put(v.substr(4, 2));
  put('-');
  put(v.substr(6, 2));
  if (!date) {
    put('T');
    put(v.substr(9, 2));
    put(':');
    put(v.substr(11, 2));
    put(':');
    put(v.substr(13, 2));
    if (utc) put('Z');
  }
  put('"');
  if (with_all_day) {
    key("all_day");
    put(date ? "true" : "false");
  }
}

void IcsCutter::rollback() noexcept {
  len_ = mark_len_;
  seen_ = mark_seen_;
  first_ = mark_first_;
}

IcsCutter::Kind IcsCutter::end_value() noexcept {
  if (text_) {
    close_text();
    seen_ |= 1u << prop_;
    return Kind::none;
  }
  const std::string_view v(short_, short_long_ ? 0 : short_len_);
  switch (kProps[prop_].form) {
    case Form::begin:
      if (in_event_) {
        ++nest_;  // VALARM and the like: their properties are not the event's
      } else if (v == "VCALENDAR") {
        any_calendar_ = true;
      } else if (v == "VEVENT") {
        any_calendar_ = true;
        in_event_ = true;
        nest_ = 0;
        seen_ = 0;
        first_ = true;
        len_ = 0;
        put('{');
      }
      return Kind::none;
    case Form::end:
      if (!in_event_) return Kind::none;
      if (nest_ > 0) {
        --nest_;
        return Kind::none;
      }
      if (v != "VEVENT") return Kind::none;  // END of something never begun: ignored
      put('}');
      in_event_ = false;
      return len_ <= out_.size() ? Kind::event : Kind::too_large;
    case Form::date:
      write_date(kProps[prop_].json, prop_ == kDtstart);
      seen_ |= 1u << prop_;
      return Kind::none;
    case Form::integer: {
      std::size_t i = 0;
      while (i + 1 < v.size() && v[i] == '0') ++i;  // JSON numbers have no leading zeros
      const std::string_view n = v.substr(i);
      bool ok = !n.empty() && n.size() <= 10;
      for (char c : n) ok = ok && digit(c);
      if (ok) {
        key(kProps[prop_].json);
        put(n);
        seen_ |= 1u << prop_;
      }
      return Kind::none;
    }
    case Form::text: break;
  }
  return Kind::none;
}

IcsCutter::Kind IcsCutter::end_line() noexcept {
  Kind k = Kind::none;
  switch (line_) {
    case Line::name:
      if (name_len_ == 0 && !name_long_) break;  // an empty line
      [[fallthrough]];
    case Line::param_name:
    case Line::param_value:
      if (in_event_) rollback();  // no ':': not a property; a TZID already written goes again
      break;
    case Line::value: k = end_value(); break;
    case Line::skip: break;
  }
  line_ = Line::name;
  name_len_ = 0;
  name_long_ = false;
  prop_ = kNoProp;
  quoted_ = tzid_open_ = text_ = backslash_ = false;
  u8_have_ = u8_need_ = 0;
  mark_len_ = len_;
  mark_seen_ = seen_;
  mark_first_ = first_;
  return k;
}

}  // namespace bh
