// Console command dispatch: tokenizer, table walk, argument-count check, help.
#include "platform/console/command.hpp"

#include "platform/core/reactor_thread.hpp"
#include "platform/util/assert.hpp"

namespace bh::console {
namespace {
const Command* find_in(std::span<const Command> rows, std::string_view name) noexcept {
  for (const Command& c : rows)
    if (c.name == name) return &c;
  return nullptr;
}
}  // namespace

void CommandContext::usage() noexcept { out.print("usage: {}\n", command.usage); }

void unknown_command(Output& out, std::string_view name) noexcept {
  out.print("error: unknown command '{}' (try 'help')\n", name);
}

std::size_t tokenize(std::string_view line, std::span<std::string_view> out, bool& too_many) noexcept {
  too_many = false;
  std::size_t n = 0;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    if (i == line.size()) break;
    std::size_t start = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
    if (n == out.size()) {
      too_many = true;
      break;
    }
    out[n++] = line.substr(start, i - start);
  }
  return n;
}

const Command* CommandTable::find(std::string_view name) const noexcept { return find_in(commands_, name); }

CommandTable::Resolved CommandTable::resolve(std::string_view line, std::span<std::string_view, kMaxWords> words,
                                             Output& out) const noexcept {
  bool too_many = false;
  std::size_t n = tokenize(line, words, too_many);
  if (n == 0) return {};
  const Command* cmd = find(words[0]);
  if (!cmd) {
    unknown_command(out, words[0]);
    return {nullptr, {}, true};
  }
  std::size_t i = 1;
  while (!cmd->subcommands.empty() && i < n) {
    const Command* sub = find_in(cmd->subcommands, words[i]);
    if (!sub) break;
    cmd = sub;
    ++i;
  }
  std::size_t nargs = n - i;
  if (too_many || !cmd->handler || nargs < cmd->min_args || nargs > cmd->max_args) {
    out.print("usage: {}\n", cmd->usage);
    return {nullptr, {}, true};
  }
  return {cmd, std::span<const std::string_view>(words.data() + i, nargs), false};
}

CommandTable::Resolved CommandTable::run(std::string_view line, Output& out, void* user,
                                         FunctionRef<void()> flush) const {
  BH_ASSERT(on_reactor_thread());
  std::string_view words[kMaxWords];
  Resolved r = resolve(line, words, out);
  if (!r.command) return r;
  CommandContext ctx{out, *this, *r.command, r.args, user};
  for (;;) {
    r.command->handler(ctx);
    if (!ctx.wants_more()) break;
    flush();
    ctx.next_page();
  }
  return r;
}

void CommandTable::help(Output& out, std::span<const std::string_view> topic) const noexcept {
  if (topic.empty()) {
    std::size_t width = 0;
    for (const Command& c : commands_)
      if (!c.hidden && c.usage.size() > width) width = c.usage.size();
    if (width > 40) width = 40;
    out.write("commands:\n");
    for (const Command& c : commands_) {
      if (c.hidden) continue;
      out.print("  {:<{}}  {}\n", c.usage, width, c.help);
    }
    out.write("'help <command>' shows one command; every answer ends with the prompt.\n");
    return;
  }
  const Command* cmd = find(topic[0]);
  if (!cmd) {
    unknown_command(out, topic[0]);
    return;
  }
  for (std::size_t i = 1; i < topic.size(); ++i) {
    const Command* sub = find_in(cmd->subcommands, topic[i]);
    if (!sub) {
      out.print("usage: {}\n", cmd->usage);
      return;
    }
    cmd = sub;
  }
  out.print("{}\n  {}\n", cmd->usage, cmd->help);
  if (!cmd->subcommands.empty()) {
    out.write("subcommands:\n");
    for (const Command& s : cmd->subcommands)
      if (!s.hidden) out.print("  {:<28}  {}\n", s.usage, s.help);
  }
}

}  // namespace bh::console
