// libFuzzer target for the console's input path (platform/console/): the LineEditor turning raw
// terminal bytes into lines, then the tokenizer and the real command table (firmware's
// console_commands(): resolve and `help`, never a handler, which needs a running system). The
// stream is fed twice, in fuzzer-chosen reads of at most a session's 512 bytes and one byte at a
// time, and the target traps if the two disagree (events, lines, echo), if a line breaks the
// editor's contract (over max_line, a byte below 0x20 or 0x7F), if the echo of one read overflows
// the session's Output, if a word is not a non-empty blank-free piece of its line, or if a
// resolved command's argument count is outside its row's bounds.
// Input: byte 0 = options (bit0 echo, bit1 CRLF output), byte 1 = max_line - 1 (1..256),
// byte 2 = read-size seed, then the bytes typed.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "firmware/console_commands.hpp"
#include "platform/console/command.hpp"
#include "platform/console/line_editor.hpp"
#include "platform/console/output.hpp"

namespace {

using namespace bh::console;

void check_line(std::string_view line, std::size_t max_line, std::string& log) {
  if (line.size() > max_line) __builtin_trap();
  for (unsigned char c : line)
    if (c < 0x20 || c == 0x7F) __builtin_trap();

  std::string_view words[CommandTable::kMaxWords];
  bool too_many = false;
  const std::size_t n = tokenize(line, words, too_many);
  const char* at = line.data();
  for (std::size_t i = 0; i < n; ++i) {
    const std::string_view w = words[i];
    if (w.empty() || w.find_first_of(" \t") != std::string_view::npos) __builtin_trap();
    if (w.data() < at || w.data() + w.size() > line.data() + line.size()) __builtin_trap();
    at = w.data() + w.size();  // in order, not overlapping
  }
  if (too_many && n != CommandTable::kMaxWords) __builtin_trap();

  const CommandTable& table = bh::console_commands();
  Output out;
  CommandTable::Resolved r = table.resolve(line, words, out);
  if (r.command) {
    if (r.error || !r.command->handler || !out.empty()) __builtin_trap();
    if (r.args.size() < r.command->min_args || r.args.size() > r.command->max_args) __builtin_trap();
  } else if (r.error) {
    const std::string_view v = out.view();
    if (!v.starts_with("error: unknown command '") && !v.starts_with("usage: ")) __builtin_trap();
  } else if (n != 0 || !out.empty()) {
    __builtin_trap();  // nothing to run and no error: only an empty line
  }
  if (out.truncated()) __builtin_trap();
  log += out.view();
  // `help <words>`: the one command that is pure table walking.
  if (n > 0) {
    Output help;
    table.help(help, std::span<const std::string_view>(words + 1, n - 1));
    if (help.empty() || help.truncated()) __builtin_trap();
    log += help.view();
  }
}

// Feeds `in` in reads of the sizes `next_size` gives; returns a transcript of everything observed.
template <typename NextSize>
std::string run(std::string_view in, std::size_t max_line, bool echo, bool crlf, NextSize next_size) {
  LineEditor ed(max_line, echo);
  Output echo_out;
  echo_out.set_crlf(crlf);
  std::string log;
  std::uint64_t lines = 0, overlong = 0;
  while (!in.empty()) {
    const std::string_view chunk = in.substr(0, next_size());
    in.remove_prefix(chunk.size());
    std::size_t pos = 0;
    while (pos < chunk.size()) {
      const std::size_t before = pos;
      const LineEditor::Event e = ed.feed(chunk, pos, &echo_out);
      if (pos <= before || pos > chunk.size()) __builtin_trap();
      if (e == LineEditor::Event::none && pos != chunk.size()) __builtin_trap();
      // Echo and events are one stream: where a read ends must not show in it.
      log += echo_out.view();
      if (echo_out.truncated()) __builtin_trap();
      echo_out.clear();
      switch (e) {
        case LineEditor::Event::none: break;
        case LineEditor::Event::line:
          ++lines;
          log += "\x01L";
          log += ed.line();
          log += '\x02';
          check_line(ed.line(), ed.max_line(), log);
          break;
        case LineEditor::Event::overlong:
          ++overlong;
          log += "\x01O";
          break;
        case LineEditor::Event::interrupt: log += "\x01I"; break;
      }
    }
  }
  if (ed.stats().lines != lines || ed.stats().overlong != overlong) __builtin_trap();
  if (!echo && echo_out.size() != 0) __builtin_trap();
  return log;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 3) return 0;
  const bool echo = (data[0] & 1) != 0;
  const bool crlf = (data[0] & 2) != 0;
  const std::size_t max_line = static_cast<std::size_t>(data[1]) + 1;
  std::uint32_t rng = 0x9E3779B9u ^ data[2];
  const std::string_view in(reinterpret_cast<const char*>(data + 3), size - 3);

  const std::string a = run(in, max_line, echo, crlf, [&] {
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return std::size_t{1} + rng % 512;  // a session reads at most 512 bytes at once
  });
  const std::string b = run(in, max_line, echo, crlf, [] { return std::size_t{1}; });
  if (a != b) __builtin_trap();
  return 0;
}
