// /metrics: the Prometheus exposition (text format 0.0.4) of the running application, written into
// the admin connection's fixed buffer (no heap). Every family is a row of a table beside the stats
// it reads (metrics.cpp); this header is only the entry point the route calls. Reactor thread only.
#pragma once
#include <cstddef>
#include <cstdint>

#include "firmware/admin/server.hpp"
#include "firmware/runtime_view.hpp"

namespace bh {

// What /metrics shows of the admin surface itself (bulkhead_admin_*).
struct AdminMetrics {
  const AdminStats& stats;
  const HttpServerStats& http;
  std::uint64_t connections_open;
  std::uint64_t buffer_bytes;  // the buffer /metrics is written into
  const BearerAuth& auth;      // [admin] token checks (bulkhead_admin_auth_*)
  Clock::time_point now;
};

// Writes the exposition of `v` and `admin` into buf. Returns the bytes written, or 0 if it did not
// fit (nothing usable is in buf then).
std::size_t write_metrics(const RuntimeView& v, const AdminMetrics& admin, char* buf, std::size_t cap) noexcept;

}  // namespace bh
