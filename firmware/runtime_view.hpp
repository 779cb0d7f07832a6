// RuntimeView: what the operator surface (console commands, /metrics, /healthz, POST /v1/events)
// may see and touch of the running application. App fills it in at start-up; the pointers stay
// valid until the reactor stops. Everything here is used on the reactor thread only.
#pragma once
#include <chrono>
#include <span>

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
  const TlsListenerStats* ingest_tls = nullptr;  // nullptr: ingest TCP is plain
  const TlsListenerStats* admin_tls = nullptr;   // nullptr: admin HTTP is plain
};

}  // namespace bh
