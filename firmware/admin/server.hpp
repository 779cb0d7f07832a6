// The admin server's insides, shared by its parts (server.cpp: routes and the service;
// events_api.cpp: POST /v1/events; dlq_api.cpp: /v1/dlq; metrics.cpp: /metrics): the counters of
// the admin surface, one connection (AdminConn: a slot of the admin_conn pool with its fixed work
// area, its route table and the token check before it), and AdminService::Impl. Not a public header: firmware/admin/admin.hpp is. Reactor thread only.
#pragma once
#include <fmt/format.h>

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <utility>

#include "firmware/admin/admin.hpp"
#include "firmware/budget.hpp"
#include "platform/ingest/line_framer.hpp"
#include "platform/ingest/wire_error.hpp"
#include "platform/net/bearer_auth.hpp"
#include "platform/net/http_server.hpp"
#include "platform/net/tls_listener.hpp"

namespace bh {

inline constexpr std::string_view kJson = "application/json";
inline constexpr std::string_view kText = "text/plain; charset=utf-8";
inline constexpr std::string_view kPromText = "text/plain; version=0.0.4; charset=utf-8";

// Appends to out[n, cap) if the whole text fits; false (nothing written) otherwise.
template <typename... A>
bool put_whole(char* out, std::size_t cap, std::size_t& n, fmt::format_string<A...> f, A&&... a) noexcept {
  auto r = fmt::format_to_n(out + n, cap - n, f, std::forward<A>(a)...);
  if (r.size > cap - n) return false;
  n += r.size;
  return true;
}

// Appends s as the body of a JSON string (quotes not included; `"`, `\` and control bytes
// escaped); false if it did not fit (out[n..] may then hold part of it). dlq_api.cpp.
bool put_json_string(char* out, std::size_t cap, std::size_t& n, std::string_view s) noexcept;

// The status page's response headers (CSP with the hashes of its inline script and style,
// Cache-Control: no-cache) into out; false if they did not fit. Start-up only. status_api.cpp.
bool status_page_headers(char* out, std::size_t cap, std::size_t& n) noexcept;

// Counters of the admin surface itself (exported on /metrics as bulkhead_admin_*).
struct AdminStats {
  std::uint64_t healthz = 0;
  std::uint64_t metrics = 0;
  std::uint64_t metrics_overflows = 0;   // /metrics bodies that did not fit the buffer (answered 500)
  std::uint64_t metrics_last_bytes = 0;  // size of the last /metrics body
  std::uint64_t posts = 0;               // POST /v1/events requests
  // Per-line outcomes of POST /v1/events (the docs/wire.md §1 codes).
  std::uint64_t lines = 0;
  std::uint64_t ok = 0;
  WireErrorCounts refused;
  std::uint64_t unprocessed = 0;   // requests cut short (413 mid-body, 408, peer gone)
  std::uint64_t dlq_requests = 0;  // GET /v1/dlq, POST /v1/dlq/replay and /v1/dlq/purge
  std::uint64_t status = 0;        // GET /v1/status
  std::uint64_t page = 0;          // GET / (the status page)
  std::uint64_t source_actions = 0;  // POST /v1/sources/<name>/pause|resume
};

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

  // One row per route (server.cpp): the path, whether it serves POST (else GET and HEAD), the
  // handler. Nothing here says who may call it: authorized() decides on the method before the
  // table is looked at, so a route added here is covered without a mark of its own.
  struct Route {
    std::string_view path;
    bool post;
    Task<void> (AdminConn::*serve)();
  };
  static const Route kRoutes[];

  Task<void> handle() override;
  // [admin] token: true when the request may be served; else it was answered (401, or 429 while
  // its peer is refused) and the connection closes after it, its body unread.
  Task<bool> authorized();
  Task<void> healthz();
  Task<void> metrics();
  Task<void> post_events();
  Task<void> not_allowed(std::string_view allow);
  Task<void> dlq_list();
  Task<void> dlq_replay() { return dlq_action(true); }
  Task<void> dlq_purge() { return dlq_action(false); }
  Task<void> dlq_action(bool replay);
  Task<void> status();                                             // status_api.cpp
  Task<void> page();                                               // status_api.cpp
  Task<void> source_action(std::string_view name, bool pause);     // status_api.cpp

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

// ---- The service ---------------------------------------------------------------------------------

struct AdminService::Impl {
  using Server = HttpServer<AdminConn, Impl, budget::capacity(budget::PoolId::admin_conn)>;

  RuntimeView& view;
  AdminStats stats;
  Server server;
  BearerAuth auth;               // [admin] token (off when empty) and the per-peer failure table
  bool token_for_reads = false;  // token_required_for = "all": GET and HEAD need it too
  TlsListener<budget::capacity(budget::PoolId::admin_conn)> tls;  // set up only with [admin] tls_cert
  bool started = false;
  // The status page's response headers (Content-Security-Policy with the hashes of its inline
  // script and style, Cache-Control), written once at start-up (status_api.cpp).
  char page_headers[512] = {};
  std::size_t page_headers_len = 0;

  static HttpServerOptions options(const RuntimeView& v) {
    HttpServerOptions o;
    if (v.config) {
      o.timeout = v.config->admin.timeout;
      o.header_timeout = v.config->admin.header_timeout;
      o.max_body_bytes = v.config->admin.max_body_bytes;
    }
    return o;
  }
  explicit Impl(RuntimeView& v)
      : view(v), server(*v.tasks, *this, options(v), budget::row(budget::PoolId::admin_conn).name) {}
};

}  // namespace bh
