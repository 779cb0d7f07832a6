// Console commands: one table of rows (name, one-line help, usage, argument counts, handler,
// subcommands), in the manner of Zephyr's SHELL_CMD_ARG. The dispatcher tokenizes a line, walks
// subcommands, and checks the argument count against the row, so handlers never re-check it: a
// bad count answers `usage: <usage line>`, an unknown name `error: unknown command '<x>' (try
// 'help')`. Handlers are plain functions printing into the session's fixed Output; a long answer
// is paged (CommandContext::more), so no answer needs a buffer of its own size. The engine knows
// nothing of what the commands do: the application passes its state as `user`.
#pragma once
#include <fmt/format.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <utility>

#include "platform/console/output.hpp"
#include "platform/util/function_ref.hpp"

namespace bh::console {

class CommandTable;
struct Command;

// What a handler sees: where to print, its arguments (after the command path), the application
// state, and the paging cursor.
struct CommandContext {
  CommandContext(Output& o, const CommandTable& t, const Command& c, std::span<const std::string_view> a,
                 void* u) noexcept
      : out(o), table(t), command(c), args(a), user(u) {}

  Output& out;
  const CommandTable& table;
  const Command& command;
  std::span<const std::string_view> args;
  void* user = nullptr;
  // 0 on the first call; on a later call, the value the previous call passed to more().
  std::uint64_t cursor = 0;

  std::string_view arg(std::size_t i) const noexcept { return i < args.size() ? args[i] : std::string_view{}; }
  // Asks to be called again, with cursor = next, once what was printed so far is sent. For
  // answers longer than the buffer: print rows while out.room() allows, then more(next row).
  void more(std::uint64_t next) noexcept {
    more_ = true;
    next_ = next;
  }
  // Answers `usage: <usage line>` (arguments the count check could not judge, e.g. a bad number).
  void usage() noexcept;
  // Answers `error: <message>`.
  template <typename... Args>
  void error(fmt::format_string<Args...> f, Args&&... a) noexcept {
    out.write("error: ");
    out.print(f, std::forward<Args>(a)...);
    out.push_back('\n');
  }

  bool wants_more() const noexcept { return more_; }
  // Called by the dispatcher between pages.
  void next_page() noexcept {
    cursor = next_;
    more_ = false;
  }

 private:
  bool more_ = false;
  std::uint64_t next_ = 0;
};

using CommandHandler = void (*)(CommandContext& ctx);

struct Command {
  std::string_view name;
  std::string_view help;   // one line, for `help`
  std::string_view usage;  // the whole line, e.g. "dlq replay <seq|all>"
  std::uint8_t min_args = 0;  // arguments after the command path
  std::uint8_t max_args = 0;
  CommandHandler handler = nullptr;  // nullptr: one of the subcommands must follow
  std::span<const Command> subcommands{};
  bool hidden = false;  // left out of `help` (test hooks)
};

// Splits a line at spaces into at most out.size() words. too_many: more words than that (the
// rest are dropped). Returns the number of words stored.
std::size_t tokenize(std::string_view line, std::span<std::string_view> out, bool& too_many) noexcept;

class CommandTable {
 public:
  static constexpr std::size_t kMaxWords = 16;  // command path + arguments

  constexpr explicit CommandTable(std::span<const Command> commands, std::string_view prompt = "bulkhead> ") noexcept
      : commands_(commands), prompt_(prompt) {}

  struct Resolved {
    const Command* command = nullptr;  // nullptr: nothing to run (empty line, or the error is printed)
    std::span<const std::string_view> args;
    bool error = false;  // unknown command or bad arguments (the answer is in the Output)
  };
  // Tokenizes `line` into `words` and finds the command. Errors are answered into `out`:
  // `error: unknown command '<x>' (try 'help')`, or `usage: <usage>` for a wrong argument count,
  // an unknown subcommand, or too many words.
  Resolved resolve(std::string_view line, std::span<std::string_view, kMaxWords> words, Output& out) const noexcept;

  // Runs `line` to completion: resolve, then the handler page after page, calling `flush` between
  // pages (it must send and clear the Output). Does not print the prompt. Returns the Resolved.
  // Notes: for tests and synchronous backends; a session awaits its writes between pages instead.
  Resolved run(std::string_view line, Output& out, void* user, FunctionRef<void()> flush) const;

  // `help` (every command, one line each) or `help <cmd> [sub]` (usage, help, subcommands).
  // Errors: an unknown topic answers like an unknown command.
  void help(Output& out, std::span<const std::string_view> topic) const noexcept;

  // The top-level row named `name`, or nullptr.
  const Command* find(std::string_view name) const noexcept;
  std::span<const Command> commands() const noexcept { return commands_; }
  std::string_view prompt() const noexcept { return prompt_; }

 private:
  std::span<const Command> commands_;
  std::string_view prompt_;
};

// Writes `error: unknown command '<x>' (try 'help')`.
void unknown_command(Output& out, std::string_view name) noexcept;

}  // namespace bh::console
