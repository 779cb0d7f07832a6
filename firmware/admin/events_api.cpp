// POST /v1/events: the body's NDJSON lines through the same validation and Committer admission as
// TCP ingest (source `ingest`), answered as JSON once every line is committed or refused. Over
// mutual TLS ([admin] tls_client_ca) each event carries the client certificate's identity, as TCP
// ingest's do.
//
// In rounds (as a TCP ingest connection does): body bytes are read into the slot's line buffer,
// complete lines are framed, validated and admitted to the Committer, then the round waits until
// every admitted line is committed (persist before answering), folds the outcomes into a compact
// table of runs, compacts the buffer and reads on. The answer is written after the last line,
// streamed from the same buffer. The line buffer must not move while a round is being committed:
// the Committer holds views into it.
#include <algorithm>
#include <chrono>
#include <cstring>

#include "firmware/admin/server.hpp"
#include "platform/util/log.hpp"
#include "platform/util/assert.hpp"
#include "hal/clock.hpp"

namespace bh {

namespace {

using hal::unix_ms;

// Server-side refusals: the client should retry later (503), as opposed to bad lines (400).
bool retryable(errc c) noexcept { return c == errc::busy || c == errc::shutting_down || c == errc::storage; }

}  // namespace

AdminConn::Take AdminConn::take_lines(bool end) noexcept {
  const std::string_view data(work_.post.lines, lfill_);
  const RuntimeView& v = svc_.view;
  const std::int64_t ts = unix_ms();
  for (;;) {
    if (round_cap_ != 0 && round_n_ == round_cap_) return Take::round_full;
    const LineFramer::Line line = framer_.next(data, lcons_, end);
    if (line.kind == LineFramer::Kind::need_more) return Take::need_more;
    ++line_no_;
    if (round_cap_ == 0) {  // the result tables are full: this line and the rest are not processed
      unprocessed_from_ = line_no_;
      cut_reason_ = "too_many_results";
      return Take::capped;
    }
    std::uint8_t code = kBlank;
    if (line.kind == LineFramer::Kind::too_large) {
      code = static_cast<std::uint8_t>(errc::too_large);
    } else if (line.kind == LineFramer::Kind::event) {
      errc c = errc::bad_json;
      if (v.json->is_object(line.text)) {  // the buffer keeps kPadding bytes past any line
        // Over mutual TLS the client certificate's identity goes with the event, as on TCP ingest.
        c = v.committer->submit(kIngestSourceName, line.text, ts, this, round_n_, nullptr, peer_identity());
        if (c == errc::ok) ++outstanding_;
      }
      code = static_cast<std::uint8_t>(c);
    }
    work_.post.round[round_n_++] = Pending{0, line_no_, code};
  }
}

void AdminConn::add_result(std::uint32_t line, std::uint8_t code, std::uint64_t seq) noexcept {
  AdminStats& st = svc_.stats;
  if (code == static_cast<std::uint8_t>(errc::ok)) {
    ++st.lines, ++st.ok, ++ok_;
    if (ok_n_ > 0) {
      OkRun& last = work_.post.ok_runs[ok_n_ - 1];
      if (last.seq + last.count == seq) {
        ++last.count;
        return;
      }
    }
    BH_ASSERT(ok_n_ < kMaxOkRuns);  // take_lines never takes more lines than the tables have room for
    work_.post.ok_runs[ok_n_++] = OkRun{seq, 1};
    return;
  }
  if (code != kBlank) {
    ++st.lines, ++errors_;
    const errc c = wire_row(st.refused.count(static_cast<errc>(code))).code;
    code = static_cast<std::uint8_t>(c);
    if (first_error_ == errc::ok) first_error_ = c;
    if (retryable(c) && first_retryable_ == errc::ok) first_retryable_ = c;
  }
  if (exc_n_ > 0) {
    Exception& last = work_.post.exceptions[exc_n_ - 1];
    if (last.code == code && last.first_line + last.count == line && last.count < (1u << 24) - 1) {
      ++last.count;
      return;
    }
  }
  BH_ASSERT(exc_n_ < kMaxExceptions);
  Exception& e = work_.post.exceptions[exc_n_++];
  e.first_line = line;
  e.count = 1;
  e.code = code;
}

void AdminConn::fold_round() noexcept {
  for (std::uint32_t i = 0; i < round_n_; ++i) {
    const Pending& p = work_.post.round[i];
    add_result(p.line, p.code, p.seq);
  }
  round_n_ = 0;
  // Each line takes at most one new entry in one of the tables.
  round_cap_ = std::min({kRoundLines, kMaxExceptions - exc_n_, kMaxOkRuns - ok_n_});
}

// Writes the next whole pieces of the answer that fit in cap (cap >= 128), advancing c:
//   {"ok":N,"errors":M[,"error":"<code>"][,"unprocessed_from_line":L],"results":[
//   {"line":1,"seq":5},{"line":2,"error":"bad_json"},...]}
std::size_t AdminConn::emit(Cursor& c, char* out, std::size_t cap) const noexcept {
  std::size_t n = 0;
  if (c.stage == 0) {
    std::string_view error = cut_reason_;
    if (error.empty() && ok_ == 0 && errors_ > 0)
      error = wire_name(first_retryable_ != errc::ok ? first_retryable_ : first_error_);
    // Fits any cap >= 128: two numbers, a short code, one more number.
    put_whole(out, cap, n, "{{\"ok\":{},\"errors\":{}", ok_, errors_);
    if (!error.empty()) put_whole(out, cap, n, ",\"error\":\"{}\"", error);
    if (unprocessed_from_) put_whole(out, cap, n, ",\"unprocessed_from_line\":{}", unprocessed_from_);
    put_whole(out, cap, n, ",\"results\":[");
    c.stage = 1;
  }
  const std::uint32_t last = unprocessed_from_ ? unprocessed_from_ - 1 : line_no_;
  while (c.stage == 1) {
    if (c.line > last) {
      c.stage = 2;
      break;
    }
    const std::string_view sep = c.any ? "," : "";
    if (c.exc < exc_n_ && work_.post.exceptions[c.exc].first_line <= c.line) {
      const Exception& e = work_.post.exceptions[c.exc];
      if (e.code != kBlank &&
          !put_whole(out, cap, n, "{}{{\"line\":{},\"error\":\"{}\"}}", sep, c.line,
                     wire_name(static_cast<errc>(e.code))))
        return n;
      if (e.code != kBlank) c.any = true;
      if (++c.line == e.first_line + e.count) ++c.exc;
      continue;
    }
    if (c.ok >= ok_n_) {  // cannot happen: every processed line is in one table or the other
      BH_ASSERT_MSG(false, "admin: a line without an outcome");
      c.stage = 2;
      break;
    }
    const OkRun& r = work_.post.ok_runs[c.ok];
    if (!put_whole(out, cap, n, "{}{{\"line\":{},\"seq\":{}}}", sep, c.line, r.seq + c.ok_off)) return n;
    c.any = true;
    ++c.line;
    if (++c.ok_off == r.count) {
      c.ok_off = 0;
      ++c.ok;
    }
  }
  if (c.stage == 2 && put_whole(out, cap, n, "]}}\n")) c.stage = 3;
  return n;
}

Task<void> AdminConn::post_events() {
  ++svc_.stats.posts;
  const RuntimeView& v = svc_.view;
  if (stopping() || !v.committer->admitting()) {
    close_after();
    co_await respond(503, kJson, "{\"error\":\"shutting_down\"}\n", "Retry-After: 1\r\n");
    co_return;
  }
  framer_ = LineFramer(v.config ? v.config->ingest.max_event_bytes : 16384);
  lfill_ = lcons_ = 0;
  line_no_ = round_n_ = outstanding_ = exc_n_ = ok_n_ = 0;
  round_cap_ = kRoundLines;
  ok_ = errors_ = 0;
  first_error_ = first_retryable_ = errc::ok;
  cut_reason_ = {};
  unprocessed_from_ = 0;

  bool end = false;
  std::error_code body_error;
  Take t = Take::need_more;
  for (;;) {
    // Fill the buffer (the peer sends the whole body before it reads anything, so waiting for
    // more is safe) and take the lines in as few commit rounds as the tables allow.
    while (t == Take::need_more && !end && lfill_ < kLineBytes) {
      BodyRead r = co_await read_body(work_.post.lines + lfill_, kLineBytes - lfill_);
      if (r.ec) {
        body_error = r.ec;
        break;
      }
      lfill_ += r.n;
      end = r.end;
    }
    if (body_error) break;
    t = take_lines(end);
    // Persist before answering: wait until every line of this round is committed. A batch that
    // filled mid-round may have answered part of it already, so a wake-up is only a hint. The
    // commit runs on this thread; the deadline passes only if an invariant broke, and the wait
    // goes on even then, as the batch still points into this buffer.
    const Clock::time_point t0 = Clock::now();
    while (outstanding_ > 0) {
      if (!co_await committed_.wait(std::chrono::seconds(30)) && outstanding_ > 0)
        log::error("admin: {} event(s) still uncommitted after the commit deadline", outstanding_);
    }
    extend_deadline(Clock::now() - t0);
    fold_round();
    if (t == Take::capped) break;
    // Drop what was framed; a partial line moves to the front.
    std::memmove(work_.post.lines, work_.post.lines + lcons_, lfill_ - lcons_);
    lfill_ -= lcons_;
    lcons_ = 0;
    if (t == Take::need_more && end) break;
  }

  // The status: see docs/operations.md#post-v1events for the contract.
  int status = 200;
  std::string_view extra;
  if (body_error) {
    if (!unprocessed_from_) unprocessed_from_ = line_no_ + 1;
    ++svc_.stats.unprocessed;
    if (body_error == errc::closed || body_error == errc::cancelled || body_error == asio::error::operation_aborted) {
      abandon();  // nobody to answer
      co_return;
    }
    close_after();
    if (body_error == errc::timeout) {
      status = 408;
      cut_reason_ = "request_timeout";
    } else if (body_error == errc::protocol) {
      status = http::status_for(request().error());
      cut_reason_ = http::error_name(request().error());
    } else {
      abandon();  // a socket error: the connection is gone
      co_return;
    }
  } else if (unprocessed_from_) {
    ++svc_.stats.unprocessed;
    close_after();  // the rest of the body is not read
    status = 413;
  } else if (ok_ == 0 && errors_ > 0) {
    if (first_retryable_ != errc::ok) {
      status = 503;
      extra = "Retry-After: 1\r\n";
    } else {
      status = 400;
    }
  }

  // Two passes over the runs: the exact length first, then the body, streamed from the buffer.
  char* buf = work_.bytes;
  constexpr std::size_t cap = sizeof(PostArea::lines);
  std::uint64_t len = 0;
  for (Cursor c; c.stage != 3;) len += emit(c, buf, cap);
  if (!co_await respond_head(status, kJson, len, extra)) co_return;
  for (Cursor c; c.stage != 3;) {
    const std::size_t n = emit(c, buf, cap);
    if (!co_await send_body(std::string_view(buf, n))) co_return;
  }
}

}  // namespace bh
