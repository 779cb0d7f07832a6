// The status surface: GET /v1/status (one JSON document of the board's health, events, sinks,
// sources, pools, FDs, memory, store and loop-lag history, for the page and for scripts), GET /
// (the self-contained status page, firmware/admin/status_page.html, embedded at build time and
// served from static memory) and POST /v1/sources/<name>/pause|resume (the console's
// `pause`/`resume`). The JSON is written with fmt::format_to_n into the connection's fixed work
// area: no heap. The facts come from the RuntimeView and its shared helpers (event_totals,
// sink_pending, check_detail), the same the console and /metrics read.
#include <mbedtls/base64.h>
#include <mbedtls/sha256.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <string_view>

#include "firmware/admin/server.hpp"
#include "firmware/admin/status_page_html.hpp"  // generated: kStatusPageHtml (cmake/embed_text.cmake)
#include "firmware/budget.hpp"
#include "firmware/console_commands.hpp"
#include "hal/clock.hpp"
#include "hal/proc.hpp"
#include "platform/alloc/alloc.hpp"
#include "platform/core/pool.hpp"
#include "platform/transport/breaker.hpp"
#include "platform/util/log.hpp"

namespace bh {
namespace {

// What a mutation (POST) needs, as /v1/status reports it to the page: "none" (anyone who reaches
// the admin port may act) or "bearer" (`Authorization: Bearer <[admin] token>`).
std::string_view mutation_auth(const Config* c) noexcept { return c && !c->admin.token.empty() ? "bearer" : "none"; }

// A JSON document appended piece by piece into a fixed buffer; ok() turns false on the first piece
// that does not fit (the rest is skipped).
class JsonOut {
 public:
  JsonOut(char* out, std::size_t cap) noexcept : out_(out), cap_(cap) {}
  template <typename... A>
  JsonOut& put(fmt::format_string<A...> f, A&&... a) noexcept {
    ok_ = ok_ && put_whole(out_, cap_, n_, f, std::forward<A>(a)...);
    return *this;
  }
  // "key":"escaped value"
  JsonOut& str(std::string_view key, std::string_view v) noexcept {
    put("\"{}\":\"", key);
    ok_ = ok_ && put_json_string(out_, cap_, n_, v);
    return put("\"");
  }
  // A comma before every element but the first of a list or object.
  JsonOut& sep(bool& first) noexcept {
    if (!first) put(",");
    first = false;
    return *this;
  }
  bool ok() const noexcept { return ok_; }
  std::string_view text() const noexcept { return {out_, n_}; }

 private:
  char* out_;
  std::size_t cap_;
  std::size_t n_ = 0;
  bool ok_ = true;
};

double seconds_since(hal::Clock::time_point t) noexcept {
  return std::chrono::duration<double>(hal::Clock::now() - t).count();
}

// The wall-clock age of the oldest event some sink has not had yet, seconds; negative if none (or
// not readable now: the oldest is not durable yet, or the read failed).
double oldest_pending_age(const RuntimeView& v) noexcept {
  if (!v.store || v.store->pending() == 0) return -1;
  const Sink* behind = nullptr;
  for (const Sink* s : v.sinks)
    if (!behind || v.store->cursor(s->id()) < v.store->cursor(behind->id())) behind = s;
  if (!behind) return -1;
  std::int64_t ts = -1;
  std::uint32_t count = 0;
  if (v.store->read_batch(behind->id(), 1, 1, [&ts](const EventOut& e) { ts = e.ts_ms; }, count) || ts < 0) return -1;
  const std::int64_t age_ms = hal::unix_ms() - ts;
  return age_ms > 0 ? static_cast<double>(age_ms) / 1000.0 : 0.0;
}

void put_health(JsonOut& j, const Watchdog* wd) {
  if (!wd) {
    j.put("\"health\":{{\"ok\":true,\"known\":false,\"checks\":[]}}");
    return;
  }
  const WatchdogCheckResult* f = wd->failing();
  j.put("\"health\":{{\"ok\":{},\"known\":true,\"feeding\":{},\"failing\":", wd->healthy(), wd->feeding());
  if (f) {
    j.put("{{").str("check", f->name).put(",").str("detail", check_detail(*f)).put("}}");
  } else {
    j.put("null");
  }
  j.put(",\"checks\":[");
  bool first = true;
  for (std::size_t i = 0; i < wd->check_count(); ++i) {
    const WatchdogCheckResult& r = wd->check(i);
    j.sep(first).put("{{").str("name", r.name);
    j.put(",\"ok\":{},\"warn\":{},\"value\":{:.3f},\"limit\":{:.3f},\"failed_ticks\":{},", r.ok, r.warn, r.value,
          r.limit, r.failed_ticks);
    j.str("detail", check_detail(r)).put("}}");
  }
  j.put("]}}");
}

void put_loop_lag(JsonOut& j, const RuntimeView& v) {
  const Watchdog* wd = v.watchdog;
  const double period_ms = v.config ? static_cast<double>(v.config->watchdog.period.count()) : 1000.0;
  if (!wd) {
    j.put("\"loop_lag\":{{\"ms\":null,\"max_ms\":null,\"period_ms\":{:.0f},\"history_ms\":[]}}", period_ms);
    return;
  }
  j.put("\"loop_lag\":{{\"ms\":{:.3f},\"max_ms\":{:.3f},\"period_ms\":{:.0f},\"history_ms\":[", wd->loop_lag_ms(),
        wd->counters().max_loop_lag_ms, period_ms);
  for (std::size_t i = 0; i < wd->lag_history_size(); ++i) j.put("{}{:.2f}", i ? "," : "", wd->lag_history(i));
  j.put("]}}");
}

// "key":<seconds since t> or null when t is the epoch (never happened).
void put_age(JsonOut& j, std::string_view key, hal::Clock::time_point t) {
  if (t == hal::Clock::time_point{}) j.put("\"{}\":null", key);
  else j.put("\"{}\":{:.1f}", key, seconds_since(t));
}

void put_sinks(JsonOut& j, const RuntimeView& v) {
  j.put("\"sinks\":[");
  bool first = true;
  for (const Sink* s : v.sinks) {
    const DeliveryStats& d = s->stats();
    j.sep(first).put("{{").str("name", s->options().name);
    j.put(",\"breaker\":\"{}\",\"consecutive_failures\":{},\"pending\":{},\"delivered\":{},\"retries\":{},"
          "\"last_status\":{},\"rate_limited\":{},\"rate_limit_waits\":{},\"retry_after_waits\":{},"
          "\"dead_lettered\":{},\"dead_events\":{},\"replayed\":{},",
          breaker_state_name(s->breaker().state()), s->breaker().consecutive_failures(), sink_pending(v, *s),
          d.delivered, d.retries, d.last_status, d.rate_limited, d.rate_limit_waits, d.retry_after_waits,
          d.dead_lettered, d.dead_events, d.replayed);
    j.str("last_error", s->last_error()).put(",");
    put_age(j, "last_error_age_s", s->last_error_at());
    j.put("}}");
  }
  j.put("]");
}

void put_sources(JsonOut& j, const RuntimeView& v) {
  j.put("\"sources\":[");
  bool first = true;
  for (const Source* s : v.sources) {
    const SourceStats& st = s->stats();
    j.sep(first).put("{{").str("name", s->options().name).put(",").str("type", s->type_name());
    j.put(",\"state\":\"{}\",\"paused\":{},\"breaker\":\"{}\",\"events\":{},\"queued\":{},\"dropped\":{},",
          s->paused() ? std::string_view("paused") : source_state_name(s->state()), s->paused(),
          breaker_state_name(s->breaker().state()), st.events, s->ring().count(), st.dropped + st.dropped_shutdown);
    put_age(j, "last_seen_age_s", s->last_seen_at());
    j.put(",").str("last_error", s->last_error()).put(",");
    put_age(j, "last_error_age_s", s->last_error_at());
    j.put("}}");
  }
  j.put("]");
}

void put_pools(JsonOut& j) {
  j.put("\"pools\":[");
  bool first = true;
  for (PoolBase* p = PoolBase::first(); p; p = p->next()) {
    const PoolStats s = p->stats();
    j.sep(first).put("{{").str("name", s.name);
    j.put(",\"in_use\":{},\"limit\":{},\"capacity\":{},\"high_water\":{},\"refusals\":{}}}", s.in_use, s.limit,
          s.capacity, s.high_water, s.refusals);
  }
  j.put("]");
}

void put_store(JsonOut& j, const RuntimeView& v) {
  if (!v.store) {
    j.put("\"store\":null");
    return;
  }
  const StoreStats s = v.store->stats();
  j.put("\"store\":{{\"db_bytes\":{},\"live_bytes\":{},\"wal_frames\":{},\"last_seq\":{},\"durable_seq\":{},"
        "\"pending\":{},\"max_pending\":{},\"dead_lettered\":{},\"dropped\":{}}}",
        s.db_bytes, s.live_bytes, s.checkpointer.wal_frames, s.last_seq, s.durable_seq, s.pending,
        v.config ? v.config->store.max_pending : 0, s.dead_lettered, s.dropped);
}

// Writes the document; returns its size, or 0 if it did not fit `cap`.
std::size_t write_status(const RuntimeView& v, char* out, std::size_t cap) {
  JsonOut j(out, cap);
  const std::int64_t now_ms = hal::unix_ms();
  j.put("{{\"version\":\"{}\",\"time_ms\":{},\"uptime_s\":{:.1f},\"state\":\"{}\",\"auth\":\"{}\",", BH_VERSION, now_ms,
        std::floor(seconds_since(v.started) * 10) / 10,  // truncated: the status never runs ahead of /metrics
        v.reactor ? run_state_name(v.reactor->state()) : std::string_view("unknown"),
        mutation_auth(v.config));
  put_health(j, v.watchdog);
  const EventTotals t = event_totals(v);
  j.put(",\"events\":{{\"in\":{},\"acked\":{},\"delivered\":{},\"pending\":{},\"oldest_pending_age_s\":", t.in, t.acked,
        t.delivered, t.pending);
  if (const double age = oldest_pending_age(v); age >= 0) j.put("{:.1f}}},", age);
  else j.put("null}},");
  put_loop_lag(j, v);
  j.put(",");
  put_sinks(j, v);
  j.put(",");
  put_sources(j, v);
  j.put(",");
  put_pools(j);
  j.put(",\"fds\":{{\"open\":{},\"budget\":{},\"limit\":{}}}", hal::open_fd_count(), budget::total_fds(),
        hal::fd_limit().soft);
  j.put(",\"memory\":{{\"rss_bytes\":{},\"peak_rss_bytes\":{},\"budget_bytes\":{},\"heap_allocations_after_seal\":{}}},",
        hal::rss_bytes(), hal::peak_rss_bytes(), v.config ? v.config->watchdog.memory_budget : 0, alloc::since_seal());
  put_store(j, v);
  // The wall clock (platform/observe/clock_watch.hpp): "state" is what the page shows.
  if (v.clock) {
    const ClockStatus& k = v.clock->status();
    j.put(",\"clock\":{{\"state\":\"{}\",\"jumps\":{},\"last_jump_s\":{:.3f},\"last_jump_age_s\":", clock_sync_name(k.sync),
          k.jumps, static_cast<double>(k.last_jump_ns) / 1e9);
    if (k.jumps) j.put("{:.1f}}}", std::chrono::duration<double>(hal::Clock::now() - k.last_jump_at).count());
    else j.put("null}}");
  }
  // Flash writes today: added here (as "flash_written_today_bytes") once the runtime measures
  // them; absent until then, and the page hides it.
  j.put("}}\n");
  return j.ok() ? j.text().size() : 0;
}

// The base64 SHA-256 of `text` into out (45 bytes with the NUL); false on failure.
bool csp_hash(std::string_view text, char* out, std::size_t cap) noexcept {
  unsigned char digest[32];
  if (mbedtls_sha256_ret(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest, 0) != 0) return false;
  std::size_t olen = 0;
  return mbedtls_base64_encode(reinterpret_cast<unsigned char*>(out), cap, &olen, digest, sizeof digest) == 0;
}

// The text between the first `<tag>` and `</tag>` of the page ("" if absent).
std::string_view inline_block(std::string_view page, std::string_view open, std::string_view close) noexcept {
  const std::size_t a = page.find(open);
  if (a == std::string_view::npos) return {};
  const std::size_t b = page.find(close, a + open.size());
  return b == std::string_view::npos ? std::string_view{} : page.substr(a + open.size(), b - a - open.size());
}

}  // namespace

// The page's headers: a Content-Security-Policy that allows nothing but its own inline script and
// style (by hash) and fetches to its own origin, and Cache-Control: no-cache. Start-up only.
bool status_page_headers(char* out, std::size_t cap, std::size_t& n) noexcept {
  char script[48], style[48];
  if (!csp_hash(inline_block(kStatusPageHtml, "<script>", "</script>"), script, sizeof script) ||
      !csp_hash(inline_block(kStatusPageHtml, "<style>", "</style>"), style, sizeof style))
    return false;
  n = 0;
  return put_whole(out, cap, n,
                   "Content-Security-Policy: default-src 'none'; script-src 'sha256-{}'; style-src 'sha256-{}'; "
                   "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; "
                   "frame-ancestors 'none'\r\nCache-Control: no-cache\r\nX-Content-Type-Options: nosniff\r\n",
                   std::string_view(script), std::string_view(style));
}

Task<void> AdminConn::status() {
  ++svc_.stats.status;
  const std::size_t n = write_status(svc_.view, work_.bytes + kHeadRoom, kMetricsBytes - kHeadRoom);
  if (n == 0) {
    log::error("admin: /v1/status does not fit its {}-byte buffer", kMetricsBytes - kHeadRoom);
    co_await respond(500, kJson, "{\"error\":\"status_overflow\"}\n");
    co_return;
  }
  co_await respond_in_place(200, kJson, std::string_view(work_.bytes + kHeadRoom, n), kHeadRoom,
                            "Cache-Control: no-store\r\n");
}

Task<void> AdminConn::page() {
  ++svc_.stats.page;
  co_await respond(200, "text/html; charset=utf-8", kStatusPageHtml,
                   std::string_view(svc_.page_headers, svc_.page_headers_len));
}

// POST /v1/sources/<name>/pause|resume: 200 {"source","paused","changed"}; 404 no such source;
// 409 configured but not running; 400 for the built-in ingest (it cannot be paused).
Task<void> AdminConn::source_action(std::string_view name, bool pause) {
  ++svc_.stats.source_actions;
  if (name == kIngestSourceName) {
    co_await respond(400, kJson, "{\"error\":\"not_pausable\",\"detail\":\"the built-in ingest cannot be paused\"}\n");
    co_return;
  }
  SourceControl* ctl = svc_.view.source_control;
  const SourceControl::Result r = ctl ? ctl->set_paused(name, pause) : SourceControl::Result::no_such_source;
  if (r == SourceControl::Result::no_such_source) {
    co_await respond(404, kJson, "{\"error\":\"no_such_source\"}\n");
    co_return;
  }
  if (r == SourceControl::Result::not_running) {
    co_await respond(409, kJson, "{\"error\":\"source_not_running\"}\n");
    co_return;
  }
  if (r == SourceControl::Result::ok) log::info("admin: source '{}' {}", name, pause ? "paused" : "resumed");
  JsonOut j(work_.bytes, 512);
  j.put("{{").str("source", name).put(",\"paused\":{},\"changed\":{}}}\n", pause, r == SourceControl::Result::ok);
  co_await respond(200, kJson, j.text());
}

}  // namespace bh
