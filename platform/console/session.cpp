// ConsoleSession: read, edit, dispatch, answer — one session's loop.
#include "platform/console/session.hpp"

#include <asio/error.hpp>
#include <asio/write.hpp>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "platform/core/reactor_thread.hpp"
#include "platform/util/assert.hpp"
#include "platform/util/log.hpp"

namespace bh::console {

std::string_view backend_name(Backend b) noexcept {
  switch (b) {
    case Backend::socket: return "socket";
    case Backend::pty: return "pty";
    case Backend::serial: return "serial";
    case Backend::stdio: return "stdio";
  }
  return "?";
}

ConsoleSession::ConsoleSession(Executor ex, ConsoleShared& shared, Backend backend) noexcept
    : sh_(shared), rd_(ex), wr_(ex), backend_(backend), opened_(Clock::now()),
      idle_since_(opened_), line_since_(opened_), editor_(shared.opts.max_line, is_terminal(backend)) {
  out_.set_crlf(is_terminal(backend));
  if (backend != Backend::socket) busy();  // an operator's line: never evicted
}

ConsoleSession::~ConsoleSession() {
  std::error_code ec;
  if (borrowed_) {
    int in = rd_.is_open() ? rd_.release() : -1;
    int out = wr_.is_open() ? wr_.release() : -1;
    if (in >= 0 && saved_flags_[0] >= 0) ::fcntl(in, F_SETFL, saved_flags_[0]);
    if (out >= 0 && saved_flags_[1] >= 0) ::fcntl(out, F_SETFL, saved_flags_[1]);
  } else {
    rd_.close(ec);
  }
  ++sh_.stats.closed;
}

std::error_code ConsoleSession::attach(int fd) noexcept {
  BH_ASSERT(on_reactor_thread());
  // A terminal (PTY, serial line) shows the prompt at once, as a shell does: whoever is on the
  // line (an operator, or a test booting an image) waits for `bulkhead> ` before typing.
  greet_ = is_terminal(backend_);
  std::error_code ec;
  rd_.assign(fd, ec);
  if (ec) ::close(fd);
  return ec;
}

std::error_code ConsoleSession::attach_stdio(int in_fd, int out_fd) noexcept {
  BH_ASSERT(on_reactor_thread());
  borrowed_ = true;
  split_ = true;
  greet_ = ::isatty(in_fd) == 1;
  saved_flags_[0] = ::fcntl(in_fd, F_GETFL);
  saved_flags_[1] = ::fcntl(out_fd, F_GETFL);
  std::error_code ec;
  rd_.assign(in_fd, ec);
  if (!ec) wr_.assign(out_fd, ec);
  return ec;
}

void ConsoleSession::interrupt() noexcept {
  BH_ASSERT(on_reactor_thread());
  if (phase_ == Phase::reading) {
    std::error_code ec;
    rd_.cancel(ec);
  }
  wake_.notify();
}

Task<bool> ConsoleSession::send() {
  if (out_.empty()) co_return true;
  phase_ = Phase::writing;
  const std::string_view v = out_.view();
  auto [ec, n] = co_await timed_op(
      sh_.opts.write_timeout,
      [&](auto h) { asio::async_write(writer(), asio::buffer(v.data(), v.size()), std::move(h)); },
      [&] {
        std::error_code ig;
        writer().cancel(ig);
      });
  (void)n;
  out_.clear();
  phase_ = Phase::idle;
  last_write_ = Clock::now();
  if (!ec) co_return true;
  if (ec == errc::timeout) ++sh_.stats.write_timeouts;
  // A terminal with nobody at the other end drops the output; a socket or stdio session ends.
  co_return is_terminal(backend_);
}

Task<bool> ConsoleSession::execute(std::string_view line) {
  BH_ASSERT(on_reactor_thread());
  const CommandTable& table = *sh_.table;
  phase_ = Phase::executing;
  out_.set_line_start();  // after the prompt (or the echoed line end)
  CommandTable::Resolved r = table.resolve(line, words_, out_);
  if (r.error) ++sh_.stats.errors;
  if (r.command) {
    ++sh_.stats.commands;
    ++commands_;
    CommandContext ctx{out_, table, *r.command, r.args, sh_.user};
    for (;;) {
      r.command->handler(ctx);
      if (out_.truncated()) {
        ++sh_.stats.truncated;
        if (!out_.at_line_start()) out_.write_tail("\n");
        out_.write_tail("... (output truncated)\n");
      }
      if (!ctx.wants_more()) break;
      if (!co_await send()) co_return false;
      phase_ = Phase::executing;
      ctx.next_page();
    }
  }
  if (!out_.at_line_start()) out_.write_tail("\n");
  out_.write_tail(table.prompt());
  co_return co_await send();
}

Task<void> ConsoleSession::run() {
  const bool terminal = is_terminal(backend_);
  log::info("console: {} session opened", backend_name(backend_));
  bool alive = true;
  if (greet_) {
    out_.write_tail(sh_.table->prompt());
    alive = co_await send();
  }
  while (alive && !sh_.stopping && !cancelled()) {
    // Every complete line already read, in order; after a shutdown command, nothing more.
    while (alive && rpos_ < rlen_ && !sh_.stopping) {
      LineEditor::Event ev = editor_.feed(std::string_view(rbuf_, rlen_), rpos_, &out_);
      if (ev == LineEditor::Event::none) break;
      if (ev == LineEditor::Event::line) {
        // The echo goes out before the command runs: the log shares a serial line, and a line it
        // writes while the command runs must not land inside the echo of what was typed.
        if (!out_.empty()) alive = co_await send();
        if (alive) alive = co_await execute(editor_.line());
      } else {
        if (ev == LineEditor::Event::overlong) {
          ++sh_.stats.overlong;
          out_.print("error: line too long (max {} bytes), discarded\n", editor_.max_line());
        }
        out_.write_tail(sh_.table->prompt());
        alive = co_await send();
      }
    }
    if (alive && !out_.empty()) alive = co_await send();  // echo of a partial line
    if (!alive || sh_.stopping || cancelled()) break;
    rpos_ = rlen_ = 0;

    phase_ = Phase::reading;
    // A socket session: the partial line's deadline (from its first byte), else the idle one
    // (from the last answer); trickling bytes moves neither. Terminals: a poll period.
    const bool socket = backend_ == Backend::socket;
    const bool partial = editor_.mid_line();
    Clock::duration wait = sh_.opts.terminal_poll;
    if (socket) {
      idle_since_ = std::max(idle_since_, last_write_);  // an answer (or a prompt) went out
      waiting_since(partial ? line_since_ : idle_since_);
      wait = (partial ? line_since_ + sh_.opts.line_timeout : idle_since_ + sh_.opts.idle_timeout) - Clock::now();
    }
    auto [ec, n] = wait <= Clock::duration::zero()
                       ? std::pair<std::error_code, std::size_t>{make_error_code(errc::timeout), 0}
                       : co_await timed_op(
                             wait, [&](auto h) { rd_.async_read_some(asio::buffer(rbuf_, kReadBytes), std::move(h)); },
                             [&] {
                               std::error_code ig;
                               rd_.cancel(ig);
                             });
    phase_ = Phase::idle;
    if (socket) busy();
    if (!ec) {
      if (!partial) line_since_ = Clock::now();
      rlen_ = n;
      sh_.stats.bytes_in += n;
      continue;
    }
    if (sh_.stopping || cancelled()) break;
    if (evicting()) {
      log::info("console: socket session evicted (stalled longest, the session pool is full)");
      break;
    }
    if (ec == errc::timeout) {
      if (!socket) continue;  // terminals wait for their operator forever
      if (partial) {
        sh_.stats.closes.count(CloseReason::line_timeout);
        log::info("console: socket session sent no complete line within {} ms, closed",
                  std::chrono::duration_cast<std::chrono::milliseconds>(sh_.opts.line_timeout).count());
      } else {
        ++sh_.stats.idle_timeouts;
        sh_.stats.closes.count(CloseReason::idle);
        log::info("console: socket session idle for {} s, closed",
                  std::chrono::duration_cast<std::chrono::seconds>(sh_.opts.idle_timeout).count());
      }
      break;
    }
    if (terminal && (ec == asio::error::eof || (ec.category() == asio::system_category() && ec.value() == EIO))) {
      // PTY: nobody has the slave open (EIO until someone does). Serial: the line dropped.
      // Forget the half-typed line and look again shortly.
      editor_.reset();
      phase_ = Phase::waiting;
      co_await wake_.wait(sh_.opts.hangup_retry);
      phase_ = Phase::idle;
      continue;
    }
    if (ec != asio::error::eof) log::info("console: {} session read failed (error {})", backend_name(backend_), ec.value());
    break;  // EOF (a partial line is dropped, never run), reset, device error
  }
  // Closing a PTY master hangs up its slave, and the kernel then discards what the terminal has
  // not read yet: give a fresh answer (the `shutdown` typed there) a moment to be read.
  if (backend_ == Backend::pty && !cancelled()) {
    auto since = Clock::now() - last_write_;
    if (since < sh_.opts.pty_linger) co_await sleep_for(sh_.opts.pty_linger - since);
  }
  phase_ = Phase::done;
  if (backend_ == Backend::socket) ::shutdown(rd_.native_handle(), SHUT_RDWR);
  log::info("console: {} session closed after {} command(s)", backend_name(backend_), commands_);
}

}  // namespace bh::console
