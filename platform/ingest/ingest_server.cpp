// IngestConn: one connection's rounds (read, frame, validate, admit, await commit, reply).
#include "platform/ingest/ingest_server.hpp"

#include <fmt/format.h>

#include <charconv>
#include <cstring>

#include "platform/util/fault.hpp"
#include "platform/util/log.hpp"
#include "hal/clock.hpp"

namespace bh {
namespace {
using hal::unix_ms;

// The reply text after "err <code> " for each refusal.
std::string_view err_text(errc c) noexcept {
  switch (c) {
    case errc::bad_json: return "not a single JSON object";
    case errc::too_large: return "event exceeds max_event_bytes";
    case errc::busy: return "store at max_pending, retry later";
    case errc::shutting_down: return "server is shutting down";
    case errc::storage: return "commit failed, retry later";
    default: return "refused";
  }
}
}  // namespace

IngestConn::IngestConn(Socket&& s, IngestShared& shared) noexcept
    : sock_(std::move(s)), sh_(shared), framer_(shared.opts.max_event_bytes), idle_since_(Clock::now()),
      line_since_(idle_since_) {}

IngestConn::~IngestConn() {
  io_.end();
  std::error_code ec;
  sock_.close(ec);
  ++sh_.stats.closed;
}

void IngestConn::interrupt_read() noexcept {
  if (phase_ == Phase::reading) io_.cancel();
}

void IngestConn::on_committed(std::uint32_t tag, std::uint64_t seq, errc result) noexcept {
  replies_[tag] = Reply{result, seq};
  if (--outstanding_ == 0) {
    committed_.notify();
    if (phase_ == Phase::reading_ahead) io_.cancel();  // the round is answered now
  }
}

// A round may read on while it waits only under a commit window, while its batch still gathers
// (lines read later would wait for a later batch, and the round's replies with them), with room
// for lines and replies, and with nothing ending the connection.
bool IngestConn::may_read_ahead(bool eof) const noexcept {
  return sh_.committer->windowed() && sh_.committer->gathering() == round_batch_ && !ahead_off_ && !eof &&
         !sh_.stopping && !cancelled() && filled_ < kReadBytes && replies_n_ < kMaxLinesPerRound &&
         !framer_.skipping();
}

void IngestConn::take_lines(bool eof) noexcept {
  const std::string_view data(rbuf_, filled_);
  while (replies_n_ < kMaxLinesPerRound) {
    LineFramer::Line line = framer_.next(data, consumed_, eof);
    if (line.kind == LineFramer::Kind::need_more) break;
    if (line.kind == LineFramer::Kind::blank) continue;
    ++sh_.stats.lines;
    errc code = errc::ok;
    if (line.kind == LineFramer::Kind::too_large) {
      code = errc::too_large;
    } else if (!sh_.json->is_object(line.text)) {  // rbuf_ keeps JsonCheck::kPadding bytes past any line
      code = errc::bad_json;
    } else {
      code = sh_.committer->submit(sh_.opts.source, line.text, round_ts_ms_, this, replies_n_, nullptr,
                                   io_.identity());
      if (code == errc::ok) {
        ++outstanding_;
        round_batch_ = sh_.committer->gathering();
      }
    }
    replies_[replies_n_++] = Reply{code, 0};
  }
}

// A reply per event: written by hand (std::to_chars), as fmt's runtime format cost as much as
// the rest of the event's ack. Every reply fits kMaxReply.
std::size_t IngestConn::format_replies() noexcept {
  auto put = [](char* p, std::string_view s) { return static_cast<char*>(std::memcpy(p, s.data(), s.size())) + s.size(); };
  char* const start = wbuf_;
  char* p = start;
  for (std::uint32_t i = 0; i < replies_n_; ++i) {
    const Reply& r = replies_[i];
    if (r.code == errc::ok) {
      ++sh_.stats.ok;
      p = std::to_chars(put(p, "ok "), p + kMaxReply, r.seq).ptr;
    } else {
      sh_.stats.refused.count(r.code);
      // Cut to 4 + 16 + 1 + 42 + 1 = kMaxReply bytes at most (the longest today is 52).
      p = put(put(put(put(p, "err "), wire_name(r.code).substr(0, 16)), " "), err_text(r.code).substr(0, kMaxReply - 22));
    }
    *p++ = '\n';
  }
  replies_n_ = 0;
  return static_cast<std::size_t>(p - start);
}

void IngestConn::compact() noexcept {
  if (consumed_ == 0) return;
  std::memmove(rbuf_, rbuf_ + consumed_, filled_ - consumed_);
  filled_ -= consumed_;
  consumed_ = 0;
}

Task<void> IngestConn::run() {
  bool eof = false;
  for (;;) {
    round_ts_ms_ = unix_ms();
    busy();  // not evictable while a round is admitted, committed or answered
    ahead_off_ = false;
    take_lines(eof);
    // Wait until every event of this round is answered. A batch that filled mid-round may have
    // answered (and notified) part of it already: a wake-up is only a hint to look again.
    // The commit runs on this thread, so the deadline can pass only if an invariant broke; the
    // wait goes on even then, as the batch still points into this connection's buffer.
    // Under a commit window the round reads on meanwhile (issue 16): lines a producer pipelines
    // during the window join the same batch instead of waiting for this round's answer and then
    // a window of their own (2x the window at 1000 ev/s on one connection). The read only appends
    // to the buffer, and the last answer cancels it.
    while (outstanding_ > 0) {
      if (may_read_ahead(eof)) {
        const bool partial = filled_ > consumed_;
        phase_ = Phase::reading_ahead;
        auto [ec, n] = co_await io_.read_some(rbuf_ + filled_, kReadBytes - filled_, sh_.opts.commit_timeout);
        phase_ = Phase::committing;
        if (n > 0) {
          if (!partial) line_since_ = Clock::now();
          filled_ += n;
          sh_.stats.bytes_in += n;
          if (sh_.committer->gathering() == round_batch_) {  // else they wait for the next round
            round_ts_ms_ = unix_ms();  // their own receive time, not the round's start
            take_lines(false);
          }
        } else if (ec == asio::error::eof) {
          eof = true;
        } else {
          // Answered (the loop ends), cancelled, failed or timed out: the round only waits now (a
          // cancelled task's TLS read returns at once, and would spin; a reset shows again on the
          // write or the next read).
          ahead_off_ = true;
        }
        continue;
      }
      phase_ = Phase::committing;
      if (!co_await committed_.wait(sh_.opts.commit_timeout) && outstanding_ > 0)
        log::error("ingest: {} event(s) still uncommitted after the commit deadline", outstanding_);
    }
    if (replies_n_ > 0) {
      phase_ = Phase::writing;
      std::size_t len = format_replies();
      if (fault::hit(fault::Op::write)) break;  // as a failed write: the connection closes
      const std::error_code ec = co_await io_.write_all(std::string_view(wbuf_, len), {}, sh_.opts.write_timeout);
      if (ec) {
        if (ec == errc::timeout) ++sh_.stats.write_timeouts;
        break;
      }
      // Answered: the idle deadline, and that of a partial line behind these (the time spent on
      // the round was ours, not the peer's), start again.
      idle_since_ = line_since_ = Clock::now();
    }
    compact();
    // More complete lines already buffered (or, after EOF, a last one without its '\n': a read
    // ahead may have met the EOF): another round without reading.
    if (filled_ > 0 && (eof || std::memchr(rbuf_, '\n', filled_) != nullptr)) continue;
    if (eof || sh_.stopping || cancelled()) break;
    if (filled_ == kReadBytes) {  // only possible while skipping an oversized line
      consumed_ = filled_;
      compact();
    }
    phase_ = Phase::reading;
    if (fault::hit(fault::Op::read)) break;  // as a reset connection
    // The deadline: the partial line's (from its first byte), else the idle one (from the last
    // answer): trickling bytes moves neither.
    const bool partial = filled_ > 0 || framer_.skipping();
    const Clock::time_point deadline =
        partial ? line_since_ + sh_.opts.line_timeout : idle_since_ + sh_.opts.idle_timeout;
    waiting_since(partial ? line_since_ : idle_since_);
    const Clock::duration left = deadline - Clock::now();
    auto [ec, n] = left <= Clock::duration::zero()
                       ? std::pair<std::error_code, std::size_t>{make_error_code(errc::timeout), 0}
                       : co_await io_.read_some(rbuf_ + filled_, kReadBytes - filled_, left);
    if (ec == asio::error::eof) {
      eof = true;  // answer a final line without '\n', then close
      continue;
    }
    if (ec == errc::timeout) {
      sh_.stats.closes.count(partial ? CloseReason::line_timeout : CloseReason::idle);
      break;
    }
    if (ec == asio::error::operation_aborted && sh_.stopping) {
      continue;  // shutdown: complete lines still buffered are answered `err shutting_down`
    }
    if (ec) break;  // a reset, or an eviction (counted by the acceptor)
    if (!partial) line_since_ = Clock::now();  // the first byte of a new line
    filled_ += n;
    sh_.stats.bytes_in += n;
  }
  phase_ = Phase::done;
  busy();
  io_.end();
  std::error_code ec;
  sock_.shutdown(asio::socket_base::shutdown_both, ec);
}

}  // namespace bh
