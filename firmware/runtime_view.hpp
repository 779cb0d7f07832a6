// RuntimeView: what the operator surface (console commands, /metrics, /healthz, /v1/status, the
// status page, POST /v1/events) may see and touch of the running application. App fills it in at
// start-up; the pointers stay valid until the reactor stops. Below it, the few facts more than one
// surface derives from it (event totals, a sink's pending count, a check's detail text): one
// definition each, so the console, /metrics and /v1/status cannot disagree. Reactor thread only.
#pragma once
#include <chrono>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>

#include "firmware/config.hpp"
#include "platform/delivery/sink.hpp"
#include "platform/store/committer.hpp"
#include "platform/ingest/ingest_server.hpp"
#include "platform/ingest/json_check.hpp"
#include "platform/net/tls_listener.hpp"
#include "platform/core/reactor.hpp"
#include "platform/sources/source.hpp"
#include "platform/store/audit_log.hpp"
#include "platform/store/store.hpp"
#include "platform/core/task.hpp"
#include "platform/observe/clock_watch.hpp"
#include "platform/observe/watchdog.hpp"

namespace bh {

class SourceControl;  // firmware/console_commands.hpp

struct RuntimeView {
  const Config* config = nullptr;
  Reactor* reactor = nullptr;           // reactor->shutdown("console") starts the shutdown
  TaskPoolBase* tasks = nullptr;
  Store* store = nullptr;
  AuditLog* audit = nullptr;            // nullptr when the audit log is disabled
  Committer* committer = nullptr;       // admission for POST /v1/events (same as TCP ingest)
  JsonCheck* json = nullptr;            // the shared validator (sized to ingest.max_event_bytes)
  const IngestStats* ingest = nullptr;
  PoolBase* ingest_pool = nullptr;
  std::span<Sink* const> sinks;         // configured sinks, in config order
  std::span<Source* const> sources;     // configured [[source]]s (HTTP poll, WebSocket), in config order
  SourceControl* source_control = nullptr;  // pause/resume by name (nullptr: no sources built)
  Watchdog* watchdog = nullptr;         // nullptr until the watchdog is wired
  hal::Clock::time_point started{};
  std::chrono::system_clock::time_point started_wall{};
  // Listener closes by reason (CloseReason), for /metrics and the console: set by the admin and
  // console services when they start (nullptr: that listener is not running).
  const ListenerCloses* admin_closes = nullptr;
  const ListenerCloses* console_closes = nullptr;
  const TlsListenerStats* ingest_tls = nullptr;  // nullptr: ingest TCP is plain
  const TlsListenerStats* admin_tls = nullptr;   // nullptr: admin HTTP is plain
  ClockWatch* clock = nullptr;  // the wall clock's sync state and jumps (the watchdog ticks it)
};

// Events through the pipeline: lines read by TCP/HTTP ingest, events acked durable by the
// committer (every path), events delivered (sum over the sinks), and committed events some sink
// has not had yet.
struct EventTotals {
  std::uint64_t in = 0;
  std::uint64_t acked = 0;
  std::uint64_t delivered = 0;
  std::uint64_t pending = 0;
};
inline EventTotals event_totals(const RuntimeView& v) noexcept {
  EventTotals t;
  t.in = v.ingest ? v.ingest->lines : 0;
  t.acked = v.committer ? v.committer->stats().events : 0;
  for (const Sink* s : v.sinks) t.delivered += s->stats().delivered;
  t.pending = v.store ? v.store->pending() : 0;
  return t;
}

// Committed events `s` has not had yet (0 without a store).
inline std::uint64_t sink_pending(const RuntimeView& v, const Sink& s) noexcept {
  if (!v.store) return 0;
  const std::uint64_t last = v.store->last_seq(), cur = v.store->cursor(s.id());
  return last > cur ? last - cur : 0;
}

// A watchdog check's detail text (a NUL-terminated fixed field).
inline std::string_view check_detail(const WatchdogCheckResult& r) noexcept {
  return {r.detail, ::strnlen(r.detail, sizeof r.detail)};
}

}  // namespace bh
