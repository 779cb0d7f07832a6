// LineEditor: byte-at-a-time line discipline for console input.
#include "platform/console/line_editor.hpp"

namespace bh::console {

LineEditor::LineEditor(std::size_t max_line, bool echo) noexcept
    : max_(max_line == 0 ? 1 : (max_line > kMaxLine ? kMaxLine : max_line)), echo_(echo) {}

void LineEditor::reset() noexcept {
  len_ = 0;
  finished_ = false;
  after_cr_ = false;
  overflow_ = false;
  esc_ = Esc::none;
}

void LineEditor::erase_one(Output* echo_to) noexcept {
  if (len_ == 0) return;
  // A UTF-8 sequence goes as one character: its continuation bytes, then its lead byte.
  while (len_ > 1 && (static_cast<unsigned char>(buf_[len_ - 1]) & 0xC0) == 0x80) --len_;
  --len_;
  if (echo_to) echo_to->write("\b \b");
}

LineEditor::Event LineEditor::feed(std::string_view data, std::size_t& pos, Output* echo_to) noexcept {
  if (!echo_) echo_to = nullptr;
  if (finished_) {
    finished_ = false;
    len_ = 0;
  }
  while (pos < data.size()) {
    const auto c = static_cast<unsigned char>(data[pos++]);

    // Escape sequences: ESC [ params final, ESC O x, or ESC x. A control byte ends one early and
    // is then handled as itself (so a stray ESC never swallows a line end).
    if (esc_ != Esc::none && c >= 0x20) {
      ++stats_.dropped;
      if (esc_ == Esc::esc) {
        esc_ = c == '[' ? Esc::csi : (c == 'O' ? Esc::ss3 : Esc::none);
      } else if (esc_ == Esc::ss3 || (c >= 0x40 && c <= 0x7E)) {
        esc_ = Esc::none;
      }
      continue;
    }
    esc_ = Esc::none;

    if (c == '\n' && after_cr_) {  // the LF of a CRLF
      after_cr_ = false;
      continue;
    }
    after_cr_ = false;

    switch (c) {
      case '\r':
      case '\n':
        after_cr_ = c == '\r';
        if (echo_to) echo_to->write("\n");
        if (overflow_) {
          overflow_ = false;
          len_ = 0;
          ++stats_.overlong;
          return Event::overlong;
        }
        finished_ = true;
        ++stats_.lines;
        return Event::line;
      case 0x08:  // backspace
      case 0x7F:  // DEL (what most terminals send for the backspace key)
        if (!overflow_) erase_one(echo_to);
        continue;
      case 0x15:  // Ctrl-U: erase the line
        while (len_ > 0 && !overflow_) erase_one(echo_to);
        continue;
      case 0x03:  // Ctrl-C: abandon the line
        len_ = 0;
        overflow_ = false;
        if (echo_to) echo_to->write("^C\n");
        return Event::interrupt;
      case 0x1B:
        esc_ = Esc::esc;
        ++stats_.dropped;
        continue;
      default:
        break;
    }
    unsigned char k = c == '\t' ? ' ' : c;
    if (k < 0x20) {  // NUL and the other control bytes
      ++stats_.dropped;
      continue;
    }
    if (overflow_) continue;
    if (len_ == max_) {
      overflow_ = true;  // reported when the line ends; everything up to it is discarded
      if (echo_to) echo_to->write("\a");
      continue;
    }
    buf_[len_++] = static_cast<char>(k);
    if (echo_to) echo_to->push_back(static_cast<char>(k));
  }
  return Event::none;
}

}  // namespace bh::console
