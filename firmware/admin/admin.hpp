// AdminService: Admin HTTP (docs/wire.md §3) on [admin] listen: `GET /healthz` (the watchdog's
// verdict), `GET /metrics` (Prometheus text format 0.0.4, every family `bulkhead_`-prefixed, with
// HELP and TYPE), `POST /v1/events` (NDJSON through the same validation and Committer admission as
// TCP ingest, answered as JSON once every line is committed or refused). Connections are slots of
// the `admin_conn` pool, served by platform/net/http_server; the body of a POST is streamed line by
// line through a fixed buffer, never held whole. Built from the RuntimeView at start-up; start()
// binds and spawns, stop() is called when shutdown begins (stop accepting; requests in progress
// finish). Reactor thread only.
// The parts, one file each in firmware/admin/: server (routes, the connection, the service),
// events_api (POST /v1/events), dlq_api (/v1/dlq...), metrics (the /metrics tables).
#pragma once
#include <memory>
#include <string>

#include "firmware/runtime_view.hpp"

namespace bh {

class AdminService {
 public:
  explicit AdminService(RuntimeView& view);
  ~AdminService();
  AdminService(const AdminService&) = delete;
  AdminService& operator=(const AdminService&) = delete;
  // Binds and spawns. Returns "" on success, else why it cannot start (bulkhead exits 1).
  // With [admin] enabled = false it binds nothing and returns "".
  std::string start();
  // Shutdown began: stop accepting new work.
  void stop() noexcept;
  struct Impl;  // firmware/admin/server.hpp

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace bh
