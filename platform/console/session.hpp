// ConsoleSession: one console conversation over a byte stream (control socket connection, PTY
// master, serial line, or stdin/stdout), run as one task: read what is there, cut lines with the
// LineEditor, run each through the CommandTable, write the answer and the prompt, repeat. It is
// a pool slot: its read, line and output buffers are fixed and inside it. Every read and write
// has a deadline (a control-socket session: a command line within line_timeout of its first
// byte, an idle deadline from the last answer; the longest-stalled one may be evicted for a new
// connection at a full pool, platform/transport/acceptor.hpp); input is untrusted (garbage, NUL bytes, huge lines, a peer vanishing
// mid-command end at most this session, never block the reactor). Reactor thread only.
#pragma once
#include <asio/posix/stream_descriptor.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <system_error>

#include "platform/console/command.hpp"
#include "platform/console/line_editor.hpp"
#include "platform/console/output.hpp"
#include "platform/core/task.hpp"
#include "platform/transport/acceptor.hpp"

namespace bh::console {

enum class Backend : std::uint8_t { socket, pty, serial, stdio };
std::string_view backend_name(Backend b) noexcept;
// PTY and serial line: we are the device end; echo input and end output lines with CRLF.
constexpr bool is_terminal(Backend b) noexcept { return b == Backend::pty || b == Backend::serial; }

struct SessionOptions {
  std::uint32_t max_line = 512;  // `[console] max_line`, clamped to LineEditor::kMaxLine
  // A control-socket session idle this long is closed (generous: an operator reading output).
  Clock::duration idle_timeout = std::chrono::minutes(10);
  // A control-socket command line from its first byte to its end (`bulkhead console` sends whole
  // lines); a session trickling one is closed.
  Clock::duration line_timeout = std::chrono::seconds(30);
  // Terminal and stdio sessions never time out; their reads are re-armed after this.
  Clock::duration terminal_poll = std::chrono::seconds(60);
  // A write not done by then: a socket session ends, a terminal drops the output.
  Clock::duration write_timeout = std::chrono::seconds(10);
  // PTY with nobody on its slave end (EIO) / serial line error: look again after this.
  Clock::duration hangup_retry = std::chrono::milliseconds(250);
  // A PTY session that answered within this long before ending waits out the rest before closing.
  Clock::duration pty_linger = std::chrono::milliseconds(300);
};

struct ConsoleStats {
  std::uint64_t accepted = 0;        // control-socket connections taken
  std::uint64_t refused = 0;         // beyond the session pool: told so and closed
  std::uint64_t closed = 0;          // sessions ended
  std::uint64_t commands = 0;        // handlers run
  std::uint64_t errors = 0;          // unknown commands and bad argument counts
  std::uint64_t overlong = 0;        // lines over max_line, rejected
  std::uint64_t truncated = 0;       // answers cut at the output buffer
  std::uint64_t idle_timeouts = 0;
  std::uint64_t write_timeouts = 0;
  std::uint64_t bytes_in = 0;
  ListenerCloses closes;             // control socket: idle, line_timeout, evicted
};

// What every session of a server shares.
struct ConsoleShared {
  const CommandTable* table = nullptr;
  void* user = nullptr;  // handed to every handler as CommandContext::user
  SessionOptions opts;
  ConsoleStats stats;
  bool stopping = false;
};

class ConsoleSession : public Evictable {
 public:
  using Descriptor = asio::posix::basic_stream_descriptor<Executor>;
  static constexpr std::size_t kReadBytes = 512;

  ConsoleSession(Executor ex, ConsoleShared& shared, Backend backend) noexcept;
  ConsoleSession(const ConsoleSession&) = delete;
  ConsoleSession& operator=(const ConsoleSession&) = delete;
  // Closes an owned descriptor; releases borrowed stdin/stdout (restoring their file flags).
  ~ConsoleSession();

  // Takes ownership of `fd` (a connected socket, a PTY master, a serial device).
  // Errors: from registering the descriptor with the reactor (the fd is closed then).
  std::error_code attach(int fd) noexcept;
  // Borrows stdin/stdout: never closed by the session.
  std::error_code attach_stdio(int in_fd, int out_fd) noexcept;

  // Serves the session until EOF, error, idle timeout (socket) or shutdown.
  Task<void> run();
  // Shutdown: interrupts a pending read or hang-up wait (a command being answered finishes first).
  void interrupt() noexcept;
  // The acceptor's eviction (control-socket sessions only: the others are never stalled).
  void evict() noexcept { interrupt(); }

  Backend backend() const noexcept { return backend_; }
  std::uint64_t commands() const noexcept { return commands_; }
  Clock::time_point opened() const noexcept { return opened_; }

 private:
  enum class Phase : std::uint8_t { idle, reading, writing, executing, waiting, done };
  Descriptor& writer() noexcept { return split_ ? wr_ : rd_; }
  // Writes the Output and clears it. false: the session must end.
  Task<bool> send();
  // Answers one line (output, then the prompt). false: the session must end.
  Task<bool> execute(std::string_view line);

  ConsoleShared& sh_;
  Descriptor rd_;
  Descriptor wr_;
  Backend backend_;
  bool split_ = false;     // separate write descriptor (stdio)
  bool borrowed_ = false;  // stdio: release, do not close
  bool greet_ = false;     // a terminal (PTY, serial, stdio on a tty): show a prompt before the first line
  int saved_flags_[2] = {-1, -1};
  Phase phase_ = Phase::idle;
  Notify wake_;
  Clock::time_point opened_;
  Clock::time_point last_write_{};
  Clock::time_point idle_since_;  // opened, or the last answer written
  Clock::time_point line_since_;  // the first byte of the partial command line
  std::uint64_t commands_ = 0;
  std::size_t rpos_ = 0;
  std::size_t rlen_ = 0;
  LineEditor editor_;
  Output out_;
  std::string_view words_[CommandTable::kMaxWords];
  char rbuf_[kReadBytes];
};

}  // namespace bh::console
