// AdminService: the routes (/, /healthz, /metrics, /v1/status, POST /v1/events, /v1/dlq...,
// POST /v1/sources/<name>/pause|resume) and the token check in front of them, the /healthz and
// /metrics handlers, and the service's start and stop. The other routes' handlers live in
// events_api.cpp, dlq_api.cpp and status_api.cpp, the /metrics tables in metrics.cpp.
#include "firmware/admin/admin.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "firmware/admin/metrics.hpp"
#include "firmware/admin/server.hpp"
#include "platform/net/endpoint.hpp"
#include "platform/util/log.hpp"

namespace bh {

// ---- Routes ------------------------------------------------------------------------------------

const AdminConn::Route AdminConn::kRoutes[] = {
    {"/", false, &AdminConn::page},
    {"/v1/status", false, &AdminConn::status},
    {"/healthz", false, &AdminConn::healthz},
    {"/metrics", false, &AdminConn::metrics},
    {"/v1/events", true, &AdminConn::post_events},
    {"/v1/dlq", false, &AdminConn::dlq_list},
    {"/v1/dlq/replay", true, &AdminConn::dlq_replay},
    {"/v1/dlq/purge", true, &AdminConn::dlq_purge},
};

namespace {
// "/v1/sources/<name>/pause" or ".../resume": the name and which; false for any other path.
bool source_action_path(std::string_view p, std::string_view& name, bool& pause) noexcept {
  constexpr std::string_view kPrefix = "/v1/sources/";
  if (!p.starts_with(kPrefix)) return false;
  p.remove_prefix(kPrefix.size());
  const std::size_t slash = p.find('/');
  if (slash == 0 || slash == std::string_view::npos) return false;
  const std::string_view verb = p.substr(slash + 1);
  if (verb != "pause" && verb != "resume") return false;
  name = p.substr(0, slash);
  pause = verb == "pause";
  return true;
}
}  // namespace

Task<void> AdminConn::handle() {
  if (!co_await authorized()) co_return;
  const std::string_view p = path();
  const http::Method m = request().method();
  const bool get = m == http::Method::get || m == http::Method::head;
  std::string_view source;
  bool pause = false;
  if (source_action_path(p, source, pause)) {  // POST /v1/sources/<name>/pause|resume
    if (m == http::Method::post) co_await source_action(source, pause);
    else co_await not_allowed("Allow: POST\r\n");
    co_return;
  }
  for (const Route& r : kRoutes) {
    if (r.path != p) continue;
    if (r.post ? m == http::Method::post : get) co_await (this->*r.serve)();
    else co_await not_allowed(r.post ? "Allow: POST\r\n" : "Allow: GET, HEAD\r\n");
    co_return;
  }
  co_await respond(404, kJson, "{\"error\":\"not_found\"}\n");
}

// Every method but GET and HEAD changes something (or is refused by the route): all of them need
// the token, whatever the path, so a route added later is covered by construction.
Task<bool> AdminConn::authorized() {
  AdminService::Impl& s = svc_;
  const http::Method m = request().method();
  const bool read = m == http::Method::get || m == http::Method::head;
  if (!s.auth.enabled() || (read && !s.token_for_reads)) co_return true;
  const PeerKey peer = peer_key_of_fd(socket().native_handle());
  const AuthVerdict v = s.auth.check(peer, request().field(http::Field::authorization),
                                     request().truncated(http::Field::authorization), Clock::now());
  if (v.result == AuthResult::ok) co_return true;
  close_after();  // the body, if any, is never read
  if (v.backoff > Clock::duration::zero()) {
    PeerText t;
    log::warn("admin: {} refused for {} ms after repeated requests without the right token", peer_text(peer, t),
              std::chrono::duration_cast<std::chrono::milliseconds>(v.backoff).count());
  }
  if (v.result == AuthResult::throttled) {
    char hdr[48];
    const auto secs = std::chrono::ceil<std::chrono::seconds>(v.retry_after).count();
    auto r = fmt::format_to_n(hdr, sizeof hdr, "Retry-After: {}\r\n", secs);
    co_await respond(429, kJson, "{\"error\":\"too_many_auth_failures\"}\n", std::string_view(hdr, r.size));
  } else if (v.result == AuthResult::missing) {
    co_await respond(401, kJson, "{\"error\":\"unauthorized\",\"detail\":\"no bearer token\"}\n",
                     "WWW-Authenticate: Bearer realm=\"bulkhead\"\r\n");
  } else {
    co_await respond(401, kJson, "{\"error\":\"unauthorized\",\"detail\":\"wrong token\"}\n",
                     "WWW-Authenticate: Bearer realm=\"bulkhead\", error=\"invalid_token\"\r\n");
  }
  co_return false;
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
  auto r = f ? fmt::format_to_n(out, 512, "unhealthy: {}: {}\n", f->name, check_detail(*f))
             : fmt::format_to_n(out, 512, "unhealthy\n");
  co_await respond(503, kText, std::string_view(out, std::min<std::size_t>(r.size, 512)));
}

Task<void> AdminConn::metrics() {
  ++svc_.stats.metrics;
  char* body = work_.bytes + kHeadRoom;
  const AdminMetrics self{svc_.stats, svc_.server.stats(), svc_.server.pool().in_use(), kMetricsBytes - kHeadRoom,
                          svc_.auth, Clock::now()};
  const std::size_t n = write_metrics(svc_.view, self, body, kMetricsBytes - kHeadRoom);
  if (n == 0) {
    ++svc_.stats.metrics_overflows;
    log::error("admin: /metrics does not fit its {}-byte buffer", kMetricsBytes - kHeadRoom);
    co_await respond(500, kJson, "{\"error\":\"metrics_overflow\"}\n");
    co_return;
  }
  svc_.stats.metrics_last_bytes = n;
  co_await respond_in_place(200, kPromText, std::string_view(body, n), kHeadRoom);
}

// ---- The service -------------------------------------------------------------------------------

AdminService::AdminService(RuntimeView& view) : impl_(std::make_unique<Impl>(view)) {}
AdminService::~AdminService() = default;

std::string AdminService::start() {
  Impl& a = *impl_;
  if (!a.view.config || !a.view.config->admin.enabled) {
    log::info("admin: disabled");
    return {};
  }
  const AdminConfig& c = a.view.config->admin;
  a.auth.set_token(c.token);
  a.token_for_reads = c.token_required_for == "all";
  if (!status_page_headers(a.page_headers, sizeof a.page_headers, a.page_headers_len))
    return "the status page's headers do not fit";
  a.server.pool().set_limit(a.view.config->pool_limit(budget::PoolId::admin_conn));
  asio::ip::tcp::endpoint ep;
  if (!parse_listen(c.listen, ep)) return fmt::format("admin.listen: bad address '{}'", c.listen);
  if (!c.tls_cert.empty()) {
    std::string why;
    if (a.tls.init("admin", TlsServerOptions{c.tls_cert, c.tls_key, c.tls_client_ca}, why)) return "TLS: " + why;
    a.server.acceptor().set_handshake(&a.tls, c.handshake_timeout);
    a.view.admin_tls = &a.tls.stats();
  }
  if (auto e = a.server.listen(ep)) return fmt::format("cannot listen on {}: {}", c.listen, e.message());
  if (!a.server.start("admin_accept", "admin_conn")) return "no task slot for the acceptor";
  a.started = true;
  a.view.admin_closes = &a.server.stats().closes;
  log::info("admin: listening on {}{} (/, /healthz, /metrics, /v1/status, POST /v1/events); token {}", c.listen,
            c.tls_cert.empty() ? "" : " (TLS)",
            c.token.empty() ? "none" : a.token_for_reads ? "required for every request" : "required for changes");
  return {};
}

void AdminService::stop() noexcept {
  if (impl_->started) impl_->server.stop();
}

}  // namespace bh
