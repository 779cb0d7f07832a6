// Dead letters over admin HTTP: GET /v1/dlq (list, paged), POST /v1/dlq/replay and
// POST /v1/dlq/purge, as the console's `dlq list|replay|purge`. Answers are JSON written into the
// connection's work area; the store does the work (nothing here holds dead letters).
#include <charconv>
#include <cstdint>
#include <optional>

#include "firmware/admin/server.hpp"
#include "platform/util/log.hpp"

namespace bh {

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

}  // namespace

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

}  // namespace bh
