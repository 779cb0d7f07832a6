// Logging: one line per call to stderr, formatted into a stack buffer with {fmt} (no heap),
// written with a single write(2). Levels filter at runtime (`log level <level>` on the console).
// Secret values registered with platform/util/redact.hpp are replaced by "***" in every line.
// Not a structured logger, not buffered: a line is on the fd when the call returns.
#pragma once
#include <fmt/format.h>

#include <cstdint>
#include <string_view>

namespace bh::log {

enum class Level : std::uint8_t { debug = 0, info = 1, warn = 2, error = 3, off = 4 };

Level level() noexcept;
void set_level(Level l) noexcept;
// Parses "debug", "info", "warn", "error", "off". Returns false (level unchanged) otherwise.
bool parse_level(std::string_view s, Level& out) noexcept;
std::string_view level_name(Level l) noexcept;
// Redirect output (tests); -1 restores stderr.
void set_fd(int fd) noexcept;
// Counts of lines emitted per level since start (for metrics).
std::uint64_t emitted(Level l) noexcept;

void write_line(Level l, std::string_view text) noexcept;

template <typename... Args>
void emit(Level l, fmt::format_string<Args...> f, Args&&... args) noexcept {
  if (l < level()) return;
  char buf[1024];
  auto r = fmt::format_to_n(buf, sizeof buf, f, std::forward<Args>(args)...);
  std::size_t n = r.size < sizeof buf ? r.size : sizeof buf;
  write_line(l, std::string_view(buf, n));
}

template <typename... Args> void debug(fmt::format_string<Args...> f, Args&&... a) noexcept { emit(Level::debug, f, std::forward<Args>(a)...); }
template <typename... Args> void info(fmt::format_string<Args...> f, Args&&... a) noexcept { emit(Level::info, f, std::forward<Args>(a)...); }
template <typename... Args> void warn(fmt::format_string<Args...> f, Args&&... a) noexcept { emit(Level::warn, f, std::forward<Args>(a)...); }
template <typename... Args> void error(fmt::format_string<Args...> f, Args&&... a) noexcept { emit(Level::error, f, std::forward<Args>(a)...); }

}  // namespace bh::log
