// The console's command table (docs/wire.md §4): every command bulkhead answers, in ONE table
// (name, one-line help, usage, argument counts, handler, subcommands); the engine in
// platform/console/ dispatches it and checks argument counts. Handlers read and touch the running
// system only through the RuntimeView, print into the session's fixed buffer and never allocate;
// long answers are paged. Reactor thread only.
#pragma once
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "firmware/runtime_view.hpp"
#include "platform/console/command.hpp"
#include "platform/console/session.hpp"

namespace bh {

// The seam for `pause <source>` / `resume <source>`. The HTTP-poll and WebSocket sources are not
// built yet; when they are, App implements this over them and sets ConsoleState::sources, and the
// two commands reach them with nothing else changing. Until then every name answers
// `error: no source named '<x>'` (configured [[source]] blocks: "is not running").
class SourceControl {
 public:
  enum class Result : std::uint8_t { ok, unchanged, no_such_source, not_running };
  virtual Result set_paused(std::string_view name, bool paused) noexcept = 0;
  virtual bool paused(std::string_view name) const noexcept = 0;

 protected:
  ~SourceControl() = default;
};

// What the handlers share: handed to the engine as the opaque `user` pointer.
struct ConsoleState {
  RuntimeView* view = nullptr;
  std::string config_text;                             // render_config at start-up (`config` pages it)
  const console::ConsoleStats* console_stats = nullptr;  // the console's own counters
  const PoolBase* session_pool = nullptr;
  SourceControl* sources = nullptr;                    // nullptr until sources exist
  std::uint64_t hwm_resets = 0;                        // `watchdog reset-hwm` runs
  std::uint64_t log_level_changes = 0;
};

// The table. Handlers expect CommandContext::user to be a ConsoleState*.
const console::CommandTable& console_commands() noexcept;

}  // namespace bh
