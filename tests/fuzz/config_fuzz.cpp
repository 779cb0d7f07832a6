// libFuzzer target for the config loader (firmware/config.cpp, load_config_string): any text must
// give a Config or a ConfigError, never a crash, a hang or an escaped exception. Traps if the
// loader reports an internal error (an exception its own checks did not turn into an error), if
// an error has no message or a position outside the text, or if a loaded config does not survive
// its own rendering: render_config's text must load again and render to the same text (what the
// `config` console command and `print-config` promise), unless it holds a literal secret, which
// is rendered "***".
// Input: the TOML text.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "firmware/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto r = bh::load_config_string(text, "fuzz.toml");
  if (const auto* e = std::get_if<bh::ConfigError>(&r)) {
    if (e->message.empty() || e->message.starts_with("internal error")) __builtin_trap();
    if (e->file != "fuzz.toml") __builtin_trap();
    std::size_t lines = 1;
    for (char c : text) lines += c == '\n';
    if (e->line > lines) __builtin_trap();
    if (e->line == 0 && e->column != 0) __builtin_trap();
    return 0;
  }
  const bh::Config& c = std::get<bh::Config>(r);
  const std::string once = bh::render_config(c);
  // A literal value in a secret key is rendered "***", which need not load again (a URL check):
  // then the rendering must show it hidden, and the round trip is not asked for.
  if (!bh::literal_secret_keys(c).empty()) {
    if (once.find("\"***\"") == std::string::npos) __builtin_trap();
    return 0;
  }
  auto again = bh::load_config_string(once, "fuzz.toml");
  if (!std::holds_alternative<bh::Config>(again)) __builtin_trap();
  if (bh::render_config(std::get<bh::Config>(again)) != once) __builtin_trap();
  return 0;
}
