// AdminService: Admin HTTP (docs/wire.md §3) on [admin] listen: `GET /healthz` (the watchdog's
// verdict), `GET /metrics` (Prometheus text format 0.0.4, every family `bulkhead_`-prefixed, with
// HELP and TYPE), `POST /v1/events` (NDJSON through the same validation and Committer admission as
// TCP ingest, answered as JSON once every line is committed or refused). Connections are slots of
// the `admin_conn` pool, served by platform/net/http_server; the body of a POST is streamed line by
// line through a fixed buffer, never held whole. Built from the RuntimeView at start-up; start()
// binds and spawns, stop() is called when shutdown begins (stop accepting; requests in progress
// finish). Reactor thread only.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "firmware/runtime_view.hpp"

namespace bh {

// Counters of the admin surface itself (also exported on /metrics as bulkhead_admin_*).
struct AdminStats {
  std::uint64_t healthz = 0;
  std::uint64_t metrics = 0;
  std::uint64_t metrics_overflows = 0;  // /metrics bodies that did not fit the buffer (answered 500)
  std::uint64_t metrics_last_bytes = 0;  // size of the last /metrics body
  std::uint64_t posts = 0;               // POST /v1/events requests
  // Per-line outcomes of POST /v1/events (the docs/wire.md §1 codes).
  std::uint64_t lines = 0;
  std::uint64_t ok = 0;
  std::uint64_t bad_json = 0;
  std::uint64_t too_large = 0;
  std::uint64_t busy = 0;
  std::uint64_t shutting_down = 0;
  std::uint64_t storage = 0;
  std::uint64_t unprocessed = 0;  // requests cut short (413 mid-body, 408, peer gone)
  std::uint64_t dlq_requests = 0;  // GET /v1/dlq, POST /v1/dlq/replay and /v1/dlq/purge
};

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
  // The bound port (0 before start() or when disabled).
  std::uint16_t port() const;
  const AdminStats& stats() const noexcept;

  // Renders the Prometheus exposition of `view` into buf. Returns the bytes written, or 0 if it
  // did not fit (nothing usable is in buf then). No heap. `admin` may be nullptr.
  static std::size_t render_metrics(const RuntimeView& view, const AdminService* admin, char* buf,
                                    std::size_t cap) noexcept;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace bh
