// LineEditor: turns the untrusted byte stream of a console into command lines. A line ends at CR,
// LF or CRLF (the LF of a CRLF is swallowed, so each ends exactly one line). Backspace and DEL
// erase the last character (a whole UTF-8 sequence), Ctrl-U the line, Ctrl-C abandons it. NUL
// and every other control byte are dropped, ANSI escape sequences (arrow keys) are skipped, TAB
// counts as a space: a finished line holds no byte below 0x20 nor 0x7F. A line longer than
// max_line is not cut: it is rejected whole once its end arrives (Event::overlong) and the bytes
// in between are discarded. On terminal backends the editor echoes what it keeps. It owns a
// fixed buffer, never allocates, and knows nothing of commands.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "platform/console/output.hpp"

namespace bh::console {

class LineEditor {
 public:
  static constexpr std::size_t kMaxLine = 4096;  // compiled ceiling of `[console] max_line`

  enum class Event : std::uint8_t {
    none,       // consumed everything given, no line finished
    line,       // line() holds a finished line (possibly empty)
    overlong,   // a line longer than max_line ended; it was discarded
    interrupt,  // Ctrl-C: the line being typed was abandoned
  };

  struct Stats {
    std::uint64_t lines = 0;
    std::uint64_t overlong = 0;
    std::uint64_t dropped = 0;  // control bytes and escape sequences ignored
  };

  // max_line is clamped to 1..kMaxLine. echo: write back what is kept (terminal backends).
  explicit LineEditor(std::size_t max_line = 512, bool echo = false) noexcept;

  // Consumes bytes of `data` from `pos` until an event or the end of data, advancing `pos`.
  // Echo (if enabled and `echo_to` is not nullptr) is appended to `echo_to`.
  // Notes: after Event::line the line stays readable until the next feed() or reset().
  Event feed(std::string_view data, std::size_t& pos, Output* echo_to) noexcept;
  // The finished line (after Event::line).
  std::string_view line() const noexcept { return {buf_, len_}; }
  // Forgets the partial line and any escape or CR state (a new peer on the same line).
  void reset() noexcept;

  std::size_t max_line() const noexcept { return max_; }
  bool echo() const noexcept { return echo_; }
  // A line has begun and not ended (kept bytes, or an overlong line being skipped).
  bool mid_line() const noexcept { return !finished_ && (len_ > 0 || overflow_); }
  const Stats& stats() const noexcept { return stats_; }

 private:
  enum class Esc : std::uint8_t { none, esc, csi, ss3 };
  void erase_one(Output* echo_to) noexcept;

  std::size_t max_;
  std::size_t len_ = 0;
  bool echo_;
  bool finished_ = false;  // line() was handed out: clear before the next byte
  bool after_cr_ = false;
  bool overflow_ = false;
  Esc esc_ = Esc::none;
  Stats stats_;
  char buf_[kMaxLine];
};

}  // namespace bh::console
