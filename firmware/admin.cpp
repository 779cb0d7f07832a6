// AdminService: the routes (/healthz, /metrics, POST /v1/events), the Prometheus rendering, and
// the streamed NDJSON admission of POST /v1/events.
//
// POST /v1/events, in rounds (as a TCP ingest connection does): body bytes are read into the
// slot's line buffer, complete lines are framed, validated and admitted to the Committer (source
// `ingest`), then the round waits until every admitted line is committed (persist before
// answering), folds the outcomes into a compact table of runs, compacts the buffer and reads on.
// The answer is written after the last line, streamed from the same buffer. The line buffer must
// not move while a round is being committed: the Committer holds views into it.
#include "firmware/admin.hpp"

#include <asio/ip/address.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cassert>
#include <chrono>
#include <cstring>
#include <optional>
#include <span>

#include "firmware/budget.hpp"
#include "platform/net/endpoint.hpp"
#include "hal/proc.hpp"
#include "platform/alloc/alloc.hpp"
#include "platform/ingest/line_framer.hpp"
#include "platform/util/log.hpp"
#include "platform/net/http_server.hpp"
#include "platform/net/tls.hpp"
#include "platform/observe/prom_writer.hpp"
#include "hal/clock.hpp"

namespace bh {

using budget::PoolId;

namespace {

using hal::unix_ms;

// Server-side refusals: the client should retry later (503), as opposed to bad lines (400).
bool retryable(errc c) noexcept { return c == errc::busy || c == errc::shutting_down || c == errc::storage; }

constexpr std::string_view kJson = "application/json";
constexpr std::string_view kText = "text/plain; charset=utf-8";
constexpr std::string_view kPromText = "text/plain; version=0.0.4; charset=utf-8";

// Appends to out[n, cap) if the whole text fits; false (nothing written) otherwise.
template <typename... A>
bool put_whole(char* out, std::size_t cap, std::size_t& n, fmt::format_string<A...> f, A&&... a) noexcept {
  auto r = fmt::format_to_n(out + n, cap - n, f, std::forward<A>(a)...);
  if (r.size > cap - n) return false;
  n += r.size;
  return true;
}

}  // namespace

// The Prometheus exposition of `v` (and of the admin service `a`, if not null) into buf: bytes
// written, 0 if it did not fit.
std::size_t render_prom(const RuntimeView& v, const AdminService::Impl* a, char* buf, std::size_t cap) noexcept;

// ---- One admin connection ----------------------------------------------------------------------

class AdminConn final : public HttpConn, public CommitClient {
 public:
  // A line of the largest allowed size (ingest.max_event_bytes <= budget::kMaxEventBytes) plus
  // its CRLF, with slack: the framer must see max + 2 bytes to call a line too long.
  static constexpr std::size_t kLineBytes = budget::kMaxEventBytes + 8;
  static constexpr std::uint32_t kRoundLines = 256;     // lines taken per commit round
  static constexpr std::uint32_t kMaxExceptions = 1024;  // ranges of lines that did not get ok
  static constexpr std::uint32_t kMaxOkRuns = 256;      // ranges of consecutive seqs
  static constexpr std::size_t kHeadRoom = 256;         // room for the response head before /metrics
  static constexpr std::uint8_t kBlank = 0xFF;          // Exception::code of blank lines (no result)

  // A request's per-line outcomes in two compact tables, both in line order. Exceptions: ranges
  // of consecutive lines with the same refusal code (or blank). Ok runs: the seqs of the other
  // lines, as ranges of consecutive seqs. The N-th line that is in no exception range got the
  // N-th seq. A body of good lines takes a few ok runs whatever its length; bad lines take one
  // exception each unless they are adjacent.
  struct Exception {
    std::uint32_t first_line;
    std::uint32_t count : 24;
    std::uint32_t code : 8;  // errc, or kBlank
  };
  struct OkRun {
    std::uint64_t seq;
    std::uint64_t count;
  };
  struct Pending {  // one line of the round being committed
    std::uint64_t seq;
    std::uint32_t line;
    std::uint8_t code;  // errc, or kBlank
  };
  static_assert(sizeof(Exception) == 8);

  // The slot's work area: the POST line buffer and result tables, or the /metrics body.
  struct PostArea {
    char lines[kLineBytes + JsonCheck::kPadding];
    Exception exceptions[kMaxExceptions];
    OkRun ok_runs[kMaxOkRuns];
    Pending round[kRoundLines];
  };
  // /metrics with the largest configuration (4 sinks, 8 sources, 64-character names, every
  // deadline family) takes about 100 KiB: the area is the larger of that and the POST tables.
  static constexpr std::size_t kMetricsArea = 128 * 1024;
  union Work {
    PostArea post;
    char bytes[sizeof(PostArea) > kMetricsArea ? sizeof(PostArea) : kMetricsArea];
    Work() noexcept {}
  };
  static constexpr std::size_t kMetricsBytes = sizeof(Work::bytes);

  AdminConn(Socket&& s, HttpServerShared& shared, AdminService::Impl& svc) noexcept
      : HttpConn(std::move(s), shared), svc_(svc) {}

  void on_committed(std::uint32_t tag, std::uint64_t seq, errc result) noexcept override {
    Pending& p = work_.post.round[tag];
    p.seq = seq;
    p.code = static_cast<std::uint8_t>(result);
    if (--outstanding_ == 0) committed_.notify();
  }

 private:
  enum class Take : std::uint8_t { need_more, round_full, capped };
  // Where the answer's JSON generation stands (see emit()).
  struct Cursor {
    std::uint32_t line = 1;
    std::uint32_t exc = 0;
    std::uint32_t ok = 0;
    std::uint64_t ok_off = 0;
    bool any = false;        // a result was written (the next needs a comma)
    std::uint8_t stage = 0;  // 0 prefix, 1 results, 2 suffix, 3 done
  };

  Task<void> handle() override;
  Task<void> healthz();
  Task<void> metrics();
  Task<void> post_events();
  Task<void> not_allowed(std::string_view allow);
  Task<void> dlq_list();
  Task<void> dlq_action(bool replay);

  Take take_lines(bool end) noexcept;
  void fold_round() noexcept;
  void add_result(std::uint32_t line, std::uint8_t code, std::uint64_t seq) noexcept;
  std::size_t emit(Cursor& c, char* out, std::size_t cap) const noexcept;

  AdminService::Impl& svc_;
  Notify committed_;
  LineFramer framer_;
  std::size_t lfill_ = 0;      // bytes in work_.post.lines
  std::size_t lcons_ = 0;      // of them framed already
  std::uint32_t line_no_ = 0;  // physical lines taken (blank ones included): 1-based numbering
  std::uint32_t round_n_ = 0;
  std::uint32_t round_cap_ = 0;  // lines the tables can take this round
  std::uint32_t outstanding_ = 0;
  std::uint32_t exc_n_ = 0;
  std::uint32_t ok_n_ = 0;
  std::uint64_t ok_ = 0;
  std::uint64_t errors_ = 0;
  errc first_error_ = errc::ok;      // first refused line's code
  errc first_retryable_ = errc::ok;  // first busy/shutting_down/storage
  std::string_view cut_reason_;      // why lines from unprocessed_from_ on were not processed
  std::uint32_t unprocessed_from_ = 0;
  Work work_;
};
// The budget's admin_conn row must cover a connection slot.
static_assert(sizeof(AdminConn) <= budget::row(budget::PoolId::admin_conn).bytes_per_slot, "admin_conn slot grew past its budget");

struct AdminService::Impl {
  using Server = HttpServer<AdminConn, Impl, budget::capacity(PoolId::admin_conn)>;

  RuntimeView& view;
  AdminStats stats;
  Server server;
  bool started = false;

  static HttpServerOptions options(const RuntimeView& v) {
    HttpServerOptions o;
    if (v.config) {
      o.timeout = v.config->admin.timeout;
      o.max_body_bytes = v.config->admin.max_body_bytes;
    }
    return o;
  }
  explicit Impl(RuntimeView& v)
      : view(v), server(*v.tasks, *this, options(v), budget::row(PoolId::admin_conn).name) {}
};

// ---- Routes ------------------------------------------------------------------------------------

Task<void> AdminConn::handle() {
  const std::string_view p = path();
  const http::Method m = request().method();
  const bool get = m == http::Method::get || m == http::Method::head;
  if (p == "/healthz") {
    if (get) co_await healthz();
    else co_await not_allowed("Allow: GET, HEAD\r\n");
  } else if (p == "/metrics") {
    if (get) co_await metrics();
    else co_await not_allowed("Allow: GET, HEAD\r\n");
  } else if (p == "/v1/events") {
    if (m == http::Method::post) co_await post_events();
    else co_await not_allowed("Allow: POST\r\n");
  } else if (p == "/v1/dlq") {
    if (get) co_await dlq_list();
    else co_await not_allowed("Allow: GET, HEAD\r\n");
  } else if (p == "/v1/dlq/replay" || p == "/v1/dlq/purge") {
    if (m == http::Method::post) co_await dlq_action(p == "/v1/dlq/replay");
    else co_await not_allowed("Allow: POST\r\n");
  } else {
    co_await respond(404, kJson, "{\"error\":\"not_found\"}\n");
  }
}

Task<void> AdminConn::not_allowed(std::string_view allow) {
  co_await respond(405, kJson, "{\"error\":\"method_not_allowed\"}\n", allow);
}

Task<void> AdminConn::healthz() {
  ++svc_.stats.healthz;
  const Watchdog* wd = svc_.view.watchdog;
  if (!wd || wd->healthy()) {
    co_await respond(200, kText, "ok\n");
    co_return;
  }
  const WatchdogCheckResult* f = wd->failing();
  char* out = work_.bytes;
  auto r = f ? fmt::format_to_n(out, 512, "unhealthy: {}: {}\n", f->name, std::string_view(f->detail))
             : fmt::format_to_n(out, 512, "unhealthy\n");
  co_await respond(503, kText, std::string_view(out, std::min<std::size_t>(r.size, 512)));
}

Task<void> AdminConn::metrics() {
  ++svc_.stats.metrics;
  char* body = work_.bytes + kHeadRoom;
  const std::size_t n = render_prom(svc_.view, &svc_, body, kMetricsBytes - kHeadRoom);
  if (n == 0) {
    ++svc_.stats.metrics_overflows;
    log::error("admin: /metrics does not fit its {}-byte buffer", kMetricsBytes - kHeadRoom);
    co_await respond(500, kJson, "{\"error\":\"metrics_overflow\"}\n");
    co_return;
  }
  svc_.stats.metrics_last_bytes = n;
  co_await respond_in_place(200, kPromText, std::string_view(body, n), kHeadRoom);
}

// ---- Dead letters: GET /v1/dlq, POST /v1/dlq/replay, POST /v1/dlq/purge --------------------------

namespace {

// The value of `key` in the request target's query string: "" for `?key` or `?key=`, nullopt if absent.
std::optional<std::string_view> query_param(std::string_view target, std::string_view key) noexcept {
  const std::size_t q = target.find('?');
  if (q == std::string_view::npos) return std::nullopt;
  std::string_view rest = target.substr(q + 1);
  while (!rest.empty()) {
    const std::size_t amp = rest.find('&');
    const std::string_view pair = rest.substr(0, amp);
    const std::size_t eq = pair.find('=');
    if (pair.substr(0, eq) == key) return eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
    if (amp == std::string_view::npos) break;
    rest = rest.substr(amp + 1);
  }
  return std::nullopt;
}

bool parse_id(std::string_view s, std::uint64_t& out) noexcept {
  auto r = std::from_chars(s.data(), s.data() + s.size(), out);
  return r.ec == std::errc{} && r.ptr == s.data() + s.size() && out > 0 && out <= static_cast<std::uint64_t>(INT64_MAX);
}

// Appends s as the body of a JSON string (quotes not included); false if it did not fit.
bool put_json_string(char* out, std::size_t cap, std::size_t& n, std::string_view s) noexcept {
  for (char ch : s) {
    const auto u = static_cast<unsigned char>(ch);
    if (ch == '"' || ch == '\\') {
      if (!put_whole(out, cap, n, "\\{}", ch)) return false;
    } else if (u < 0x20) {
      if (!put_whole(out, cap, n, "\\u{:04x}", static_cast<unsigned>(u))) return false;
    } else {
      if (n + 1 > cap) return false;
      out[n++] = ch;
    }
  }
  return true;
}

}  // namespace

// Lists dead letters oldest first, as many as fit the slot's buffer; `?after=<id>` pages on
// ("next_after" is set when rows were left out). The reason is stored truncated at 160 bytes.
Task<void> AdminConn::dlq_list() {
  ++svc_.stats.dlq_requests;
  Store* store = svc_.view.store;
  if (!store) {
    co_await respond(503, kJson, "{\"error\":\"store_not_open\"}\n");
    co_return;
  }
  std::uint64_t after = 0;
  if (auto a = query_param(request().target(), "after"); a && !(a->empty() || parse_id(*a, after))) {
    co_await respond(400, kJson, "{\"error\":\"bad_query\",\"detail\":\"after=<id>\"}\n");
    co_return;
  }
  struct Walk {
    char* out;
    std::size_t cap;
    std::size_t n = 0;
    std::uint64_t after;
    std::int64_t last_id = 0;
    bool full = false;
    bool any = false;
    const Store* store;
  };
  constexpr std::size_t kTail = 64;  // room kept for the closing part
  Walk w{work_.bytes, sizeof(work_.bytes) - kTail, 0, after, 0, false, false, store};
  put_whole(w.out, w.cap, w.n, "{{\"dead_letters\":[");
  const std::error_code ec = store->list_dead([&w](const DeadLetter& d) {
    if (w.full || static_cast<std::uint64_t>(d.id) <= w.after) return;
    const std::size_t mark = w.n;
    const bool ok = put_whole(w.out, w.cap, w.n,
                              "{}{{\"id\":{},\"sink\":\"{}\",\"first_seq\":{},\"last_seq\":{},\"events\":{},"
                              "\"status\":\"{}\",\"http_status\":{},\"ts\":{},\"reason\":\"",
                              w.any ? "," : "", d.id, w.store->sink_name(d.sink), d.first_seq, d.last_seq,
                              d.last_seq - d.first_seq + 1, dead_status_name(d.status), d.http_status, d.ts_ms) &&
                    put_json_string(w.out, w.cap, w.n, d.reason()) && put_whole(w.out, w.cap, w.n, "\"}}");
    if (!ok) {
      w.n = mark;
      w.full = true;
      return;
    }
    w.any = true;
    w.last_id = d.id;
  });
  if (ec) {
    co_await respond(500, kJson, "{\"error\":\"storage\"}\n");
    co_return;
  }
  const std::size_t cap = sizeof(work_.bytes);
  if (w.full) put_whole(w.out, cap, w.n, "],\"next_after\":{}}}\n", w.last_id);
  else put_whole(w.out, cap, w.n, "],\"next_after\":null}}\n");
  co_await respond(200, kJson, std::string_view(w.out, w.n));
}

// POST /v1/dlq/replay?seq=<seq>|all and POST /v1/dlq/purge?id=<id>|all, as the console's
// `dlq replay` / `dlq purge`: 200 {"replayed"|"purged": n}, 404 when the one named does not exist.
Task<void> AdminConn::dlq_action(bool replay) {
  ++svc_.stats.dlq_requests;
  Store* store = svc_.view.store;
  if (!store) {
    co_await respond(503, kJson, "{\"error\":\"store_not_open\"}\n");
    co_return;
  }
  const auto arg = query_param(request().target(), replay ? "seq" : "id");
  const bool all = query_param(request().target(), "all").has_value() || (arg && *arg == "all");
  std::uint64_t n = 0;
  if (!all && !(arg && parse_id(*arg, n))) {
    co_await respond(400, kJson, replay ? "{\"error\":\"bad_query\",\"detail\":\"seq=<seq> or all\"}\n"
                                        : "{\"error\":\"bad_query\",\"detail\":\"id=<id> or all\"}\n");
    co_return;
  }
  std::uint64_t count = 0;
  std::error_code ec;
  if (replay) ec = all ? store->mark_replay(0, count) : store->mark_replay_seq(n, count);
  else ec = store->purge_dead(all ? 0 : static_cast<std::int64_t>(n), count);
  if (ec) {
    co_await respond(500, kJson, "{\"error\":\"storage\"}\n");
    co_return;
  }
  if (count > 0) {
    if (replay)
      for (Sink* s : svc_.view.sinks) s->wake();
    log::info("admin: dlq {} {}: {} dead letter(s)", replay ? "replay" : "purge", all ? std::string_view("all") : *arg,
              count);
  }
  if (!all && count == 0) {
    co_await respond(404, kJson, replay ? "{\"error\":\"no_dead_letter_holds_seq\"}\n"
                                        : "{\"error\":\"no_such_dead_letter\"}\n");
    co_return;
  }
  char* out = work_.bytes;
  std::size_t len = 0;
  put_whole(out, 128, len, "{{\"{}\":{}}}\n", replay ? "replayed" : "purged", count);
  co_await respond(200, kJson, std::string_view(out, len));
}

// ---- POST /v1/events ---------------------------------------------------------------------------

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
        c = v.committer->submit(kIngestSourceName, line.text, ts, this, round_n_);
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
    assert(ok_n_ < kMaxOkRuns);  // take_lines never takes more lines than the tables have room for
    work_.post.ok_runs[ok_n_++] = OkRun{seq, 1};
    return;
  }
  if (code != kBlank) {
    ++st.lines, ++errors_;
    auto c = static_cast<errc>(code);
    switch (c) {
      case errc::bad_json: ++st.bad_json; break;
      case errc::too_large: ++st.too_large; break;
      case errc::busy: ++st.busy; break;
      case errc::shutting_down: ++st.shutting_down; break;
      default: c = errc::storage, ++st.storage; break;
    }
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
  assert(exc_n_ < kMaxExceptions);
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
      assert(false && "admin: a line without an outcome");
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

  // The status: see the README fragment (build/admin_readme.md) for the contract.
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

// ---- Prometheus exposition ---------------------------------------------------------------------

namespace {

using Kind = PromWriter::Kind;

struct SinkMetric {
  std::string_view name;
  Kind kind;
  std::string_view help;
  std::uint64_t (*get)(const Sink&);
};
constexpr SinkMetric kSinkMetrics[] = {
    {"bulkhead_sink_delivered_total", Kind::counter, "Events delivered (answered 2xx).", [](const Sink& s) -> std::uint64_t { return s.stats().delivered; }},
    {"bulkhead_sink_batches_total", Kind::counter, "Batches delivered (POSTs answered 2xx).", [](const Sink& s) -> std::uint64_t { return s.stats().batches; }},
    {"bulkhead_sink_retries_total", Kind::counter, "Delivery attempts that will be repeated.", [](const Sink& s) -> std::uint64_t { return s.stats().retries; }},
    {"bulkhead_sink_dead_lettered_total", Kind::counter, "Batches moved to the dead-letter table.", [](const Sink& s) -> std::uint64_t { return s.stats().dead_lettered; }},
    {"bulkhead_sink_dead_lettered_events_total", Kind::counter, "Events moved to the dead-letter table.", [](const Sink& s) -> std::uint64_t { return s.stats().dead_events; }},
    {"bulkhead_sink_replayed_total", Kind::counter, "Dead letters delivered on replay.", [](const Sink& s) -> std::uint64_t { return s.stats().replayed; }},
    {"bulkhead_sink_connects_total", Kind::counter, "Connections opened to the sink.", [](const Sink& s) -> std::uint64_t { return s.stats().connects; }},
    {"bulkhead_sink_connect_errors_total", Kind::counter, "Connection attempts that failed.", [](const Sink& s) -> std::uint64_t { return s.stats().connect_errors; }},
    {"bulkhead_sink_connect_timeouts_total", Kind::counter, "Connection attempts that timed out.", [](const Sink& s) -> std::uint64_t { return s.stats().connect_timeouts; }},
    {"bulkhead_sink_resolve_errors_total", Kind::counter, "Host name lookups that failed (NXDOMAIN, no address, SERVFAIL, bad answers).", [](const Sink& s) -> std::uint64_t { return s.stats().resolve_errors; }},
    {"bulkhead_sink_resolve_timeouts_total", Kind::counter, "Host name lookups with no answer within connect_timeout.", [](const Sink& s) -> std::uint64_t { return s.stats().resolve_timeouts; }},
    {"bulkhead_sink_dns_stale_used_total", Kind::counter, "Failed host name lookups that fell back to the expired cached address.", [](const Sink& s) -> std::uint64_t { return s.stats().dns_stale_used; }},
    {"bulkhead_sink_write_timeouts_total", Kind::counter, "Request writes that timed out.", [](const Sink& s) -> std::uint64_t { return s.stats().write_timeouts; }},
    {"bulkhead_sink_read_timeouts_total", Kind::counter, "Response reads that timed out.", [](const Sink& s) -> std::uint64_t { return s.stats().read_timeouts; }},
    {"bulkhead_sink_pool_timeouts_total", Kind::counter, "Waits for a free connection slot that timed out.", [](const Sink& s) -> std::uint64_t { return s.stats().pool_timeouts; }},
    {"bulkhead_sink_io_errors_total", Kind::counter, "Resets and EOFs in the middle of an exchange.", [](const Sink& s) -> std::uint64_t { return s.stats().io_errors; }},
    {"bulkhead_sink_protocol_errors_total", Kind::counter, "Unparseable or oversized responses.", [](const Sink& s) -> std::uint64_t { return s.stats().protocol_errors; }},
    {"bulkhead_sink_http_retryable_total", Kind::counter, "Responses 408, 429 or 5xx.", [](const Sink& s) -> std::uint64_t { return s.stats().http_retryable; }},
    {"bulkhead_sink_stale_connections_total", Kind::counter, "Idle kept-alive connections found closed or sent to when reused: replaced by a new one.", [](const Sink& s) -> std::uint64_t { return s.stats().stale_closes; }},
    {"bulkhead_sink_breaker_rejections_total", Kind::counter, "Attempts not made because the breaker was open.", [](const Sink& s) -> std::uint64_t { return s.stats().breaker_rejections; }},
    {"bulkhead_sink_store_errors_total", Kind::counter, "Store reads or cursor updates that failed.", [](const Sink& s) -> std::uint64_t { return s.stats().store_errors; }},
    {"bulkhead_sink_last_http_status", Kind::gauge, "Status of the last response (0 = none yet).", [](const Sink& s) -> std::uint64_t { return static_cast<std::uint64_t>(s.stats().last_status < 0 ? 0 : s.stats().last_status); }},
    {"bulkhead_sink_breaker_state", Kind::gauge, "Circuit breaker state: 0 closed, 1 open, 2 half_open.", [](const Sink& s) -> std::uint64_t { return static_cast<std::uint64_t>(s.breaker().state()); }},
    {"bulkhead_sink_breaker_consecutive_failures", Kind::gauge, "Consecutive failed attempts.", [](const Sink& s) -> std::uint64_t { return s.breaker().consecutive_failures(); }},
    {"bulkhead_sink_breaker_transitions_total", Kind::counter, "Circuit breaker state changes.", [](const Sink& s) -> std::uint64_t { return s.breaker().transitions(); }},
};
static_assert(static_cast<int>(Breaker::State::closed) == 0 && static_cast<int>(Breaker::State::open) == 1 &&
              static_cast<int>(Breaker::State::half_open) == 2, "bulkhead_sink_breaker_state documents 0/1/2");

// The three deadline families of one kind of connector (sinks, sources): operations run with a
// deadline, those that ran past it, and the ratio. only_used: skip the kinds a connector never ran.
struct DeadlineFamilies {
  std::string_view ops, timeouts, ratio, label;
};
template <typename C>
void put_deadlines(PromWriter& w, const DeadlineFamilies& f, std::span<C* const> cs, bool only_used) noexcept {
  auto each = [&](auto get) {
    for (const C* c : cs)
      for (std::size_t k = 0; k < kTimedOps; ++k)
        if (!only_used || c->stats().deadlines.ops[k] > 0)
          w.value(f.label, c->options().name, "op", kTimedOpNames[k], get(c->stats().deadlines, k));
  };
  w.family(f.ops, Kind::counter, "Operations run with a deadline, by kind.");
  each([](const TimeoutStats& d, std::size_t k) { return d.ops[k]; });
  w.family(f.timeouts, Kind::counter, "Operations that ran past their deadline, by kind.");
  each([](const TimeoutStats& d, std::size_t k) { return d.timeouts[k]; });
  w.family(f.ratio, Kind::gauge, "Timeouts over operations, by kind (0 when none ran).");
  each([](const TimeoutStats& d, std::size_t k) { return d.rate(k); });
}

double seconds_between(hal::Clock::time_point a, hal::Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

}  // namespace

std::size_t render_prom(const RuntimeView& v, const AdminService::Impl* admin, char* buf, std::size_t cap) noexcept {
  PromWriter w(buf, cap);
  const auto now = hal::Clock::now();

  // Process.
  w.family("bulkhead_build_info", Kind::gauge, "Build information; the value is always 1.");
  w.value("version", BH_VERSION, 1);
  w.one("bulkhead_start_time_seconds", Kind::gauge, "Start time, seconds since the Unix epoch.",
        std::chrono::duration<double>(v.started_wall.time_since_epoch()).count());
  w.one("bulkhead_uptime_seconds", Kind::gauge, "Seconds since start.", seconds_between(v.started, now));
  const Watchdog* wd = v.watchdog;
  w.one("bulkhead_healthy", Kind::gauge, "1 while every watchdog check holds (what /healthz reports), else 0.",
        (!wd || wd->healthy()) ? 1 : 0);
  w.family("bulkhead_loop_lag_seconds", Kind::gauge, "Event-loop lag last measured by the watchdog.");
  if (wd) w.value(wd->loop_lag_ms() / 1000.0);
  if (wd) {
    const WatchdogCounters wc = wd->counters();
    w.one("bulkhead_loop_lag_max_seconds", Kind::gauge, "Largest loop lag since start or the last high-water reset.",
          wc.max_loop_lag_ms / 1000.0);
    w.family("bulkhead_watchdog_check_ok", Kind::gauge, "1 while the watchdog check holds, else 0.");
    for (std::size_t i = 0; i < wd->check_count(); ++i) w.value("check", wd->check(i).name, wd->check(i).ok ? 1 : 0);
    w.family("bulkhead_watchdog_check_failed_ticks", Kind::gauge, "Consecutive ticks the check has failed.");
    for (std::size_t i = 0; i < wd->check_count(); ++i) w.value("check", wd->check(i).name, wd->check(i).failed_ticks);
    w.one("bulkhead_watchdog_feeding", Kind::gauge, "1 while the hardware watchdog and systemd are fed, else 0.",
          wd->feeding() ? 1 : 0);
    w.one("bulkhead_watchdog_ticks_total", Kind::counter, "Watchdog check rounds.", wc.ticks);
    w.one("bulkhead_watchdog_feeds_total", Kind::counter, "Ticks that fed the watchdogs.", wc.feeds);
    w.one("bulkhead_watchdog_missed_feeds_total", Kind::counter, "Ticks that withheld feeding.", wc.missed_feeds);
    w.one("bulkhead_watchdog_failures_total", Kind::counter, "Checks going from ok to failing.", wc.failures);
    w.one("bulkhead_watchdog_saturations_total", Kind::counter, "Pool saturations seen by the watchdog.",
          wc.saturations);
    w.one("bulkhead_watchdog_hwm_resets_total", Kind::counter, "High-water mark resets.", wc.hwm_resets);
    w.one("bulkhead_watchdog_device_errors_total", Kind::counter, "Failed hardware watchdog keepalives.",
          wc.device_errors);
    w.one("bulkhead_watchdog_notify_errors_total", Kind::counter, "Failed sd_notify datagrams.", wc.notify_errors);
  }
  w.one("bulkhead_open_fds", Kind::gauge, "Open file descriptors (from /proc/self/fd).", hal::open_fd_count());
  w.one("bulkhead_fd_budget", Kind::gauge, "File descriptors the resource budget accounts for.", budget::total_fds());
  w.one("bulkhead_fd_ceiling", Kind::gauge, "File descriptor ceiling of the process (the budget must fit).",
        budget::kFdCeiling);
  w.one("bulkhead_fd_limit", Kind::gauge, "Soft RLIMIT_NOFILE in force.", hal::fd_limit().soft);
  w.one("bulkhead_resident_memory_bytes", Kind::gauge, "Resident set size.", hal::rss_bytes());
  w.one("bulkhead_resident_memory_peak_bytes", Kind::gauge, "Peak resident set size.", hal::peak_rss_bytes());
  w.one("bulkhead_memory_budget_bytes", Kind::gauge, "RSS above which the watchdog's memory check fails.",
        v.config ? v.config->watchdog.memory_budget : 0);
  w.one("bulkhead_heap_allocations_after_seal_total", Kind::counter,
        "Heap allocations since start-up ended (should stay 0).", alloc::since_seal());
  w.family("bulkhead_log_lines_total", Kind::counter, "Log lines written, by level.");
  for (log::Level l : {log::Level::debug, log::Level::info, log::Level::warn, log::Level::error})
    w.value("level", log::level_name(l), log::emitted(l));

  // Pools, from their registry.
  write_pool_metrics(w);

  // TLS, over every connector.
  {
    const TlsMemoryStats m = tls_memory_stats();
    w.one("bulkhead_tls_connections_active", Kind::gauge, "TLS connections begun and not yet ended.", tls_streams_active());
    w.one("bulkhead_tls_memory_bytes", Kind::gauge, "mbedTLS heap in use (0 when not bounded).", m.used);
    w.one("bulkhead_tls_memory_high_water_bytes", Kind::gauge, "mbedTLS heap high-water mark.", m.high_water);
    w.one("bulkhead_tls_memory_refusals_total", Kind::counter, "mbedTLS allocations refused by the limit.", m.refusals);
  }
  // Tasks.
  if (v.tasks) {
    const TaskStats& t = v.tasks->stats();
    w.one("bulkhead_tasks_live", Kind::gauge, "Tasks running now.", v.tasks->live());
    w.one("bulkhead_tasks_spawned_total", Kind::counter, "Tasks started.", t.spawned);
    w.one("bulkhead_tasks_completed_total", Kind::counter, "Tasks finished.", t.completed);
    w.one("bulkhead_tasks_refused_total", Kind::counter, "Spawns refused: no free task slot.", t.refused);
    w.one("bulkhead_tasks_frame_refused_total", Kind::counter, "Spawns refused: the frame did not fit the arena.",
          t.frame_refused);
    w.one("bulkhead_tasks_escaped_total", Kind::counter, "Exceptions that escaped a task.", t.escaped);
    w.one("bulkhead_tasks_cancelled_total", Kind::counter, "Tasks asked to stop at shutdown.", t.cancelled);
    w.one("bulkhead_task_arena_high_water_bytes", Kind::gauge, "Largest task arena use seen.", t.arena_high);
    w.one("bulkhead_task_arena_bytes", Kind::gauge, "Arena size of one task slot.", TaskSlot::kArenaBytes);
  }

  // Store.
  if (v.store) {
    const StoreStats s = v.store->stats();
    w.one("bulkhead_store_last_seq", Kind::gauge, "Highest committed sequence number.", s.last_seq);
    w.one("bulkhead_store_oldest_seq", Kind::gauge, "First retained sequence number.", s.oldest_seq);
    w.one("bulkhead_store_pending_events", Kind::gauge, "Committed events not yet delivered to every sink.",
          s.pending);
    w.one("bulkhead_store_delivered_seq", Kind::gauge,
          "Every event up to this sequence number is delivered to every sink.", s.last_seq - s.pending);
    w.one("bulkhead_store_max_pending_events", Kind::gauge, "Outbox cap (store.max_pending).",
          v.config ? v.config->store.max_pending : 0);
    w.one("bulkhead_store_appended_total", Kind::counter, "Events committed since open.", s.appended);
    w.one("bulkhead_store_batches_total", Kind::counter, "Commits since open.", s.batches);
    w.one("bulkhead_store_commit_errors_total", Kind::counter, "Write transactions that failed.", s.commit_errors);
    w.one("bulkhead_store_read_errors_total", Kind::counter, "Reads that failed.", s.read_errors);
    w.one("bulkhead_store_dropped_total", Kind::counter, "Undelivered events dropped by the drop_oldest policy.",
          s.dropped);
    w.one("bulkhead_store_purged_total", Kind::counter, "Delivered events deleted by retention.", s.purged);
    w.one("bulkhead_store_dead_lettered_total", Kind::counter, "Batches moved to the dead-letter table.",
          s.dead_lettered);
    w.one("bulkhead_store_database_bytes", Kind::gauge, "Database file size (pages times page size).", s.db_bytes);
    w.one("bulkhead_store_live_bytes", Kind::gauge, "Database bytes in use (free pages excluded).", s.live_bytes);
    w.one("bulkhead_sqlite_memory_used_bytes", Kind::gauge, "SQLite heap in use (process-wide).", s.sqlite_mem_used);
    w.one("bulkhead_sqlite_memory_high_water_bytes", Kind::gauge, "SQLite heap high-water mark (process-wide).",
          s.sqlite_mem_highwater);
    w.one("bulkhead_sqlite_heap_limit_bytes", Kind::gauge, "SQLite hard heap limit.", s.sqlite_heap_limit);
    w.one("bulkhead_store_in_transaction", Kind::gauge, "1 while the store connection has a transaction open.",
          s.in_transaction ? 1 : 0);
    w.one("bulkhead_store_checkpoints_total", Kind::counter, "WAL checkpoints by the checkpointer thread.",
          s.checkpointer.checkpoints);
    w.one("bulkhead_store_wal_frames", Kind::gauge, "Frames in the WAL after the last commit.", s.checkpointer.wal_frames);
    w.one("bulkhead_store_durable_seq", Kind::gauge, "Highest sequence number known durable (sinks read up to it).",
          s.durable_seq);
    w.one("bulkhead_store_wal_syncs_total", Kind::counter, "WAL fdatasync calls by the syncer thread.", s.syncer.syncs);
    w.one("bulkhead_store_wal_sync_failures_total", Kind::counter,
          "WAL syncs that failed (the un-acked commits were undone, err storage).", s.syncer.failures);
    w.family("bulkhead_store_wal_sync_duration_seconds", Kind::summary, "Time spent in WAL syncs by the syncer thread.");
    w.suffixed("_sum", static_cast<double>(s.syncer.total_us) / 1e6);
    w.suffixed("_count", s.syncer.syncs);
    w.one("bulkhead_store_wal_sync_duration_max_seconds", Kind::gauge, "Longest WAL sync.",
          static_cast<double>(s.syncer.max_us) / 1e6);
    w.one("bulkhead_store_undone_total", Kind::counter, "Committed events removed because their sync failed.",
          s.undone);
  }

  // Committer.
  if (v.committer) {
    const CommitterStats& c = v.committer->stats();
    w.one("bulkhead_committer_batches_total", Kind::counter, "Group commits acked (durable).", c.batches);
    w.one("bulkhead_committer_events_total", Kind::counter, "Events acked (durable).", c.events);
    w.one("bulkhead_committer_commit_errors_total", Kind::counter, "Group commits that failed (err storage).",
          c.commit_errors);
    w.family("bulkhead_committer_refusals_total", Kind::counter, "Events refused at admission, by reason.");
    w.value("reason", "busy", c.refused_busy);
    w.value("reason", "shutting_down", c.refused_shutting_down);
    w.one("bulkhead_committer_dropped_oldest_total", Kind::counter, "Events dropped by the drop_oldest policy.",
          c.dropped_oldest);
    w.one("bulkhead_committer_largest_batch", Kind::gauge, "Largest group commit, events.", c.largest_batch);
    w.one("bulkhead_committer_in_flight_events", Kind::gauge, "Events committed and waiting for their WAL sync.",
          c.in_flight);
    w.one("bulkhead_committer_ring_waits_total", Kind::counter,
          "Times the in-flight ring was full and admission waited for the WAL syncer.", c.ring_waits);
    w.family("bulkhead_committer_commit_duration_seconds", Kind::summary, "Time spent in group commits.");
    w.suffixed("_sum", static_cast<double>(c.total_commit_us) / 1e6);
    w.suffixed("_count", c.batches + c.commit_errors);
    w.one("bulkhead_committer_commit_duration_last_seconds", Kind::gauge, "Duration of the last group commit.",
          static_cast<double>(c.last_commit_us) / 1e6);
    w.one("bulkhead_committer_commit_duration_max_seconds", Kind::gauge, "Longest group commit.",
          static_cast<double>(c.max_commit_us) / 1e6);
  }

  // TCP ingest.
  if (v.ingest) {
    const IngestStats& s = *v.ingest;
    w.one("bulkhead_ingest_connections_open", Kind::gauge, "Ingest connections open now.",
          v.ingest_pool ? v.ingest_pool->in_use() : 0);
    w.one("bulkhead_ingest_connections_accepted_total", Kind::counter, "Ingest connections accepted.", s.accepted);
    w.one("bulkhead_ingest_connections_refused_total", Kind::counter,
          "Ingest connections refused at the connection limit.", s.refused_connections);
    w.one("bulkhead_ingest_connections_closed_total", Kind::counter, "Ingest connections closed.", s.closed);
    w.one("bulkhead_ingest_idle_timeouts_total", Kind::counter, "Ingest connections closed for idleness.",
          s.idle_timeouts);
    w.one("bulkhead_ingest_write_timeouts_total", Kind::counter, "Reply writes that timed out.", s.write_timeouts);
    w.one("bulkhead_ingest_received_bytes_total", Kind::counter, "Bytes read from ingest connections.", s.bytes_in);
    w.one("bulkhead_ingest_lines_total", Kind::counter, "Non-blank lines received.", s.lines);
    w.family("bulkhead_ingest_events_total", Kind::counter, "Replies to ingest lines, by result (wire codes).");
    w.value("result", "ok", s.ok);
    w.value("result", "bad_json", s.bad_json);
    w.value("result", "too_large", s.too_large);
    w.value("result", "busy", s.busy);
    w.value("result", "shutting_down", s.shutting_down);
    w.value("result", "storage", s.storage);
  }

  // Sinks (config order). Pending and cursor come from the store's view of each sink.
  for (const SinkMetric& m : kSinkMetrics) {
    w.family(m.name, m.kind, m.help);
    for (const Sink* s : v.sinks) w.value("sink", s->options().name, m.get(*s));
  }
  // Deadlines per kind of operation: counts and the violation rate.
  put_deadlines(w, {"bulkhead_sink_timed_operations_total", "bulkhead_sink_timeouts_total", "bulkhead_sink_timeout_ratio", "sink"},
                v.sinks, /*only_used=*/false);
  w.family("bulkhead_sink_breaker_status", Kind::gauge, "1 for the breaker's current state, 0 for the others.");
  for (const Sink* s : v.sinks) {
    for (Breaker::State st : {Breaker::State::closed, Breaker::State::open, Breaker::State::half_open})
      w.value("sink", s->options().name, "state", breaker_state_name(st), s->breaker().state() == st ? 1 : 0);
  }
  if (v.store) {
    const std::uint64_t last = v.store->last_seq();
    w.family("bulkhead_sink_cursor", Kind::gauge, "Last sequence number delivered (or dead-lettered) to the sink.");
    for (const Sink* s : v.sinks) w.value("sink", s->options().name, v.store->cursor(s->id()));
    w.family("bulkhead_sink_pending_events", Kind::gauge, "Committed events the sink has not had yet.");
    for (const Sink* s : v.sinks) {
      const std::uint64_t cur = v.store->cursor(s->id());
      w.value("sink", s->options().name, last > cur ? last - cur : 0);
    }
  }

  // Sources ([[source]]: HTTP poll, WebSocket), config order.
  if (!v.sources.empty()) {
    struct SourceMetric {
      std::string_view name;
      Kind kind;
      std::string_view help;
      std::uint64_t (*get)(const Source&);
      int only = -1;  // a SourceKind: the family lists only sources of that type
    };
    constexpr int kPoll = static_cast<int>(SourceKind::http_poll);
    constexpr int kWs = static_cast<int>(SourceKind::websocket);
    static constexpr SourceMetric kSourceMetrics[] = {
        {"bulkhead_source_events_total", Kind::counter, "Events from the source committed to the store.", [](const Source& s) -> std::uint64_t { return s.stats().events; }},
        {"bulkhead_source_wrapped_total", Kind::counter, "Non-JSON bodies or messages wrapped as a JSON string.", [](const Source& s) -> std::uint64_t { return s.stats().wrapped; }},
        {"bulkhead_source_queue_depth", Kind::gauge, "Events in the queue now (in flight to the store included).", [](const Source& s) -> std::uint64_t { return s.ring().count(); }},
        {"bulkhead_source_store_busy_total", Kind::counter, "Admissions refused busy (retried).", [](const Source& s) -> std::uint64_t { return s.stats().store_busy; }},
        {"bulkhead_source_connects_total", Kind::counter, "Connection attempts.", [](const Source& s) -> std::uint64_t { return s.stats().connects; }},
        {"bulkhead_source_connected_total", Kind::counter, "Polls answered / WebSocket handshakes completed.", [](const Source& s) -> std::uint64_t { return s.stats().connected; }},
        {"bulkhead_source_paused", Kind::gauge, "1 while paused from the console.", [](const Source& s) -> std::uint64_t { return s.paused() ? 1 : 0; }},
        {"bulkhead_source_breaker_state", Kind::gauge, "Circuit breaker state: 0 closed, 1 open, 2 half_open.", [](const Source& s) -> std::uint64_t { return static_cast<std::uint64_t>(s.breaker().state()); }},
        {"bulkhead_source_breaker_consecutive_failures", Kind::gauge, "Consecutive failed attempts.", [](const Source& s) -> std::uint64_t { return s.breaker().consecutive_failures(); }},
        {"bulkhead_source_breaker_transitions_total", Kind::counter, "Circuit breaker state changes.", [](const Source& s) -> std::uint64_t { return s.breaker().transitions(); }},
        {"bulkhead_source_breaker_rejections_total", Kind::counter, "Attempts not made because the breaker was open.", [](const Source& s) -> std::uint64_t { return s.stats().breaker_rejections; }},
        {"bulkhead_source_polls_total", Kind::counter, "http_poll: requests sent.", [](const Source& s) -> std::uint64_t { return s.stats().polls; }, kPoll},
        {"bulkhead_source_not_modified_total", Kind::counter, "http_poll: 304, same ETag or same body: no event.", [](const Source& s) -> std::uint64_t { return s.stats().not_modified; }, kPoll},
        {"bulkhead_source_last_http_status", Kind::gauge, "http_poll: status of the last response (0 = none yet).", [](const Source& s) -> std::uint64_t { return static_cast<std::uint64_t>(s.stats().last_status < 0 ? 0 : s.stats().last_status); }, kPoll},
        {"bulkhead_source_messages_total", Kind::counter, "websocket: text messages received.", [](const Source& s) -> std::uint64_t { return s.stats().messages; }, kWs},
        {"bulkhead_source_pings_total", Kind::counter, "websocket: pings sent.", [](const Source& s) -> std::uint64_t { return s.stats().pings; }, kWs},
        {"bulkhead_source_peer_closes_total", Kind::counter, "websocket: closes and drops by the server.", [](const Source& s) -> std::uint64_t { return s.stats().peer_closes; }, kWs},
    };
    for (const SourceMetric& m : kSourceMetrics) {
      bool any = m.only < 0;
      for (const Source* s : v.sources) any = any || static_cast<int>(s->options().kind) == m.only;
      if (!any) continue;
      w.family(m.name, m.kind, m.help);
      for (const Source* s : v.sources)
        if (m.only < 0 || static_cast<int>(s->options().kind) == m.only) w.value("source", s->options().name, m.get(*s));
    }
    w.family("bulkhead_source_dropped_total", Kind::counter, "Events lost after they were cut, by reason.");
    for (const Source* s : v.sources) {
      w.value("source", s->options().name, "reason", "queue_full", s->stats().dropped);
      w.value("source", s->options().name, "reason", "shutdown", s->stats().dropped_shutdown);
      w.value("source", s->options().name, "reason", "storage", s->stats().store_errors);
    }
    w.family("bulkhead_source_rejected_total", Kind::counter, "Events not queued, by reason.");
    for (const Source* s : v.sources) {
      w.value("source", s->options().name, "reason", "too_large", s->stats().too_large);
      w.value("source", s->options().name, "reason", "bad_json", s->stats().bad_json);
    }
    // As for sinks; only the kinds a source uses, to keep 8 sources inside the metrics buffer.
    put_deadlines(w,
                  {"bulkhead_source_timed_operations_total", "bulkhead_source_timeouts_total",
                   "bulkhead_source_timeout_ratio", "source"},
                  v.sources, /*only_used=*/true);
    // Only the kinds that happened: 15 kinds x 8 sources would crowd the fixed metrics buffer.
    w.family("bulkhead_source_errors_total", Kind::counter, "Failures by kind, listed once non-zero.");
    for (const Source* s : v.sources) {
      const SourceStats& st = s->stats();
      const std::pair<std::string_view, std::uint64_t> kinds[] = {
          {"connect", st.connect_errors},       {"connect_timeout", st.connect_timeouts},
          {"tls", st.tls_errors},               {"handshake_timeout", st.handshake_timeouts},
          {"write_timeout", st.write_timeouts}, {"read_timeout", st.read_timeouts},
          {"io", st.io_errors},                 {"protocol", st.protocol_errors},
          {"http", st.http_errors},             {"response_too_large", st.responses_too_large},
          {"malformed", st.malformed},          {"pong_timeout", st.pong_timeouts},
          {"protocol_violation", st.protocol_violations}, {"binary_dropped", st.binary_dropped},
          {"slot", st.slot_refusals},
      };
      for (const auto& [k, n] : kinds)
        if (n > 0) w.value("source", s->options().name, "kind", k, n);
    }
  }

  // The admin surface itself.
  if (admin) {
    const AdminStats& a = admin->stats;
    const HttpServerStats& h = admin->server.stats();
    w.one("bulkhead_admin_connections_open", Kind::gauge, "Admin connections open now.",
          const_cast<AdminService::Impl*>(admin)->server.pool().in_use());
    w.one("bulkhead_admin_connections_accepted_total", Kind::counter, "Admin connections accepted.", h.accepted);
    w.one("bulkhead_admin_connections_refused_total", Kind::counter,
          "Admin connections refused (503) at the connection limit.", h.refused);
    w.one("bulkhead_admin_connections_closed_total", Kind::counter, "Admin connections closed.", h.closed);
    w.one("bulkhead_admin_requests_total", Kind::counter, "Admin requests parsed.", h.requests);
    w.one("bulkhead_admin_bad_requests_total", Kind::counter, "Malformed admin requests (answered 4xx/5xx, closed).",
          h.bad_requests);
    w.one("bulkhead_admin_read_timeouts_total", Kind::counter, "Admin requests not received within [admin] timeout.",
          h.read_timeouts);
    w.one("bulkhead_admin_idle_closes_total", Kind::counter, "Keep-alive admin connections closed idle.",
          h.idle_closes);
    w.one("bulkhead_admin_write_timeouts_total", Kind::counter, "Admin response writes that timed out.",
          h.write_timeouts);
    w.family("bulkhead_admin_responses_total", Kind::counter, "Admin responses, by status class.");
    w.value("class", "2xx", h.responses_2xx);
    w.value("class", "4xx", h.responses_4xx);
    w.value("class", "5xx", h.responses_5xx);
    w.one("bulkhead_admin_event_posts_total", Kind::counter, "POST /v1/events requests.", a.posts);
    w.family("bulkhead_admin_events_total", Kind::counter, "POST /v1/events lines, by result (wire codes).");
    w.value("result", "ok", a.ok);
    w.value("result", "bad_json", a.bad_json);
    w.value("result", "too_large", a.too_large);
    w.value("result", "busy", a.busy);
    w.value("result", "shutting_down", a.shutting_down);
    w.value("result", "storage", a.storage);
    w.one("bulkhead_admin_event_posts_cut_total", Kind::counter,
          "POST /v1/events requests whose later lines were not processed (413, 408, peer gone).", a.unprocessed);
    w.one("bulkhead_admin_metrics_overflows_total", Kind::counter, "/metrics bodies too big for the buffer (500).",
          a.metrics_overflows);
    w.one("bulkhead_admin_metrics_buffer_bytes", Kind::gauge, "Buffer /metrics is rendered into.",
          AdminConn::kMetricsBytes - AdminConn::kHeadRoom);
    w.one("bulkhead_admin_metrics_last_bytes", Kind::gauge, "Size of the previous /metrics body.",
          a.metrics_last_bytes);
  }
  return w.ok() ? w.size() : 0;
}

// ---- The service -------------------------------------------------------------------------------


std::size_t AdminService::render_metrics(const RuntimeView& view, const AdminService* admin, char* buf,
                                         std::size_t cap) noexcept {
  return render_prom(view, admin ? admin->impl_.get() : nullptr, buf, cap);
}

AdminService::AdminService(RuntimeView& view) : impl_(std::make_unique<Impl>(view)) {}
AdminService::~AdminService() = default;

std::string AdminService::start() {
  Impl& a = *impl_;
  if (!a.view.config || !a.view.config->admin.enabled) {
    log::info("admin: disabled");
    return {};
  }
  const AdminConfig& c = a.view.config->admin;
  a.server.pool().set_limit(a.view.config->pool_limit(PoolId::admin_conn));
  asio::ip::tcp::endpoint ep;
  if (!parse_listen(c.listen, ep)) return fmt::format("admin.listen: bad address '{}'", c.listen);
  if (auto e = a.server.listen(ep)) return fmt::format("cannot listen on {}: {}", c.listen, e.message());
  if (!a.server.start("admin_accept", "admin_conn")) return "no task slot for the acceptor";
  a.started = true;
  log::info("admin: listening on {} (/healthz, /metrics, POST /v1/events)", c.listen);
  return {};
}

void AdminService::stop() noexcept {
  if (impl_->started) impl_->server.stop();
}

std::uint16_t AdminService::port() const { return impl_->server.port(); }
const AdminStats& AdminService::stats() const noexcept { return impl_->stats; }

}  // namespace bh
