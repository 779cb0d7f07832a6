// Logging sink: level filter, optional redirect, registered secrets scrubbed, one write(2) per line.
#include "platform/util/log.hpp"

#include <unistd.h>

#include <array>
#include <cstring>
#include <ctime>

#include "platform/util/redact.hpp"

namespace bh::log {
namespace {
Level g_level = Level::info;
int g_fd = 2;
std::array<std::uint64_t, 5> g_emitted{};
constexpr std::array<std::string_view, 5> kNames{"debug", "info", "warn", "error", "off"};
}  // namespace

Level level() noexcept { return g_level; }
void set_level(Level l) noexcept { g_level = l; }
void set_fd(int fd) noexcept { g_fd = fd < 0 ? 2 : fd; }
std::uint64_t emitted(Level l) noexcept { return g_emitted[static_cast<std::size_t>(l)]; }
std::string_view level_name(Level l) noexcept { return kNames[static_cast<std::size_t>(l)]; }

bool parse_level(std::string_view s, Level& out) noexcept {
  for (std::size_t i = 0; i < kNames.size(); ++i) {
    if (s == kNames[i]) { out = static_cast<Level>(i); return true; }
  }
  return false;
}

void write_line(Level l, std::string_view text) noexcept {
  ++g_emitted[static_cast<std::size_t>(l)];
  char line[1200];
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  tm t{};
  gmtime_r(&ts.tv_sec, &t);
  auto r = fmt::format_to_n(line, sizeof line - 1, "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z {:<5} {}",
                            t.tm_year + 1900, t.tm_mon + 1, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec,
                            ts.tv_nsec / 1000000, level_name(l), text);
  std::size_t n = r.size < sizeof line - 1 ? r.size : sizeof line - 1;
  n = redact::scrub(line, n);  // defence in depth: a secret that reached a log line leaves as "***"
  line[n++] = '\n';
  ssize_t w = ::write(g_fd, line, n);
  (void)w;  // a failed log write has nowhere to be reported
}

}  // namespace bh::log
