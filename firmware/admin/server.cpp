// AdminService: the routes (/healthz, /metrics, POST /v1/events, /v1/dlq...), the /healthz and
// /metrics handlers, and the service's start and stop. The other routes' handlers live in
// events_api.cpp and dlq_api.cpp, the /metrics tables in metrics.cpp.
#include "firmware/admin/admin.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "firmware/admin/metrics.hpp"
#include "firmware/admin/server.hpp"
#include "platform/net/endpoint.hpp"
#include "platform/util/log.hpp"

namespace bh {

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
  const AdminMetrics self{svc_.stats, svc_.server.stats(), svc_.server.pool().in_use(), kMetricsBytes - kHeadRoom};
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
  a.server.pool().set_limit(a.view.config->pool_limit(budget::PoolId::admin_conn));
  asio::ip::tcp::endpoint ep;
  if (!parse_listen(c.listen, ep)) return fmt::format("admin.listen: bad address '{}'", c.listen);
  if (!c.tls_cert.empty()) {
    std::string why;
    if (a.tls.init("admin", TlsServerOptions{c.tls_cert, c.tls_key, c.tls_client_ca}, why)) return "TLS: " + why;
    a.server.acceptor().set_handshake(&a.tls, c.timeout);
    a.view.admin_tls = &a.tls.stats();
  }
  if (auto e = a.server.listen(ep)) return fmt::format("cannot listen on {}: {}", c.listen, e.message());
  if (!a.server.start("admin_accept", "admin_conn")) return "no task slot for the acceptor";
  a.started = true;
  log::info("admin: listening on {}{} (/healthz, /metrics, POST /v1/events)", c.listen, c.tls_cert.empty() ? "" : " (TLS)");
  return {};
}

void AdminService::stop() noexcept {
  if (impl_->started) impl_->server.stop();
}

}  // namespace bh
