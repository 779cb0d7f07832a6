// /metrics as tables: one MetricRow per family, one table per thing that keeps stats (process,
// watchdog, tasks, TLS, store, committer, ingest, sinks, sources, the admin surface), written by
// write_rows (platform/observe/prom_writer.hpp). A new counter is one row in its table. The few
// families that are not "one value per object" (build info, log lines by level, the per-code wire
// results, breakdowns by reason or kind, deadlines per operation) are written below the tables.
// Everything goes into the caller's fixed buffer: no heap.
#include "firmware/admin/metrics.hpp"

#include <chrono>
#include <span>
#include <string_view>

#include "firmware/budget.hpp"
#include "hal/proc.hpp"
#include "platform/alloc/alloc.hpp"
#include "hal/clock.hpp"
#include "platform/net/tls.hpp"
#include "platform/observe/prom_writer.hpp"
#include "platform/store/audit_log.hpp"
#include "platform/util/log.hpp"

namespace bh {
namespace {

using Kind = PromWriter::Kind;
using V = PromValue;

double since_epoch(std::chrono::system_clock::time_point t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}
double seconds_since(hal::Clock::time_point t) {
  return std::chrono::duration<double>(hal::Clock::now() - t).count();
}
double us_to_s(std::uint64_t us) { return static_cast<double>(us) / 1e6; }

// ---- Process --------------------------------------------------------------------------------------

using RV = RuntimeView;
constexpr MetricRow<RV> kProcessRows[] = {
    {"bulkhead_start_time_seconds", Kind::gauge, "Start time, seconds since the Unix epoch.", [](const RV& v) -> V { return since_epoch(v.started_wall); }},
    {"bulkhead_uptime_seconds", Kind::gauge, "Seconds since start.", [](const RV& v) -> V { return seconds_since(v.started); }},
    {"bulkhead_healthy", Kind::gauge, "1 while every watchdog check holds (what /healthz reports), else 0.", [](const RV& v) -> V { return (!v.watchdog || v.watchdog->healthy()) ? 1 : 0; }},
    {"bulkhead_open_fds", Kind::gauge, "Open file descriptors (from /proc/self/fd).", [](const RV&) -> V { return hal::open_fd_count(); }},
    {"bulkhead_fd_budget", Kind::gauge, "File descriptors the resource budget accounts for.", [](const RV&) -> V { return budget::total_fds(); }},
    {"bulkhead_fd_ceiling", Kind::gauge, "File descriptor ceiling of the process (the budget must fit).", [](const RV&) -> V { return budget::kFdCeiling; }},
    {"bulkhead_fd_limit", Kind::gauge, "Soft RLIMIT_NOFILE in force.", [](const RV&) -> V { return hal::fd_limit().soft; }},
    {"bulkhead_resident_memory_bytes", Kind::gauge, "Resident set size.", [](const RV&) -> V { return hal::rss_bytes(); }},
    {"bulkhead_resident_memory_peak_bytes", Kind::gauge, "Peak resident set size.", [](const RV&) -> V { return hal::peak_rss_bytes(); }},
    {"bulkhead_memory_budget_bytes", Kind::gauge, "RSS above which the watchdog's memory check fails.", [](const RV& v) -> V { return v.config ? v.config->watchdog.memory_budget : 0; }},
    {"bulkhead_heap_allocations_after_seal_total", Kind::counter, "Heap allocations since start-up ended (should stay 0).", [](const RV&) -> V { return alloc::since_seal(); }},
};

// ---- Watchdog -------------------------------------------------------------------------------------

struct WatchdogNow {
  const Watchdog& wd;
  WatchdogCounters c;
};
using WN = WatchdogNow;
constexpr MetricRow<WN> kWatchdogRows[] = {
    {"bulkhead_loop_lag_max_seconds", Kind::gauge, "Largest loop lag since start or the last high-water reset.", [](const WN& w) -> V { return w.c.max_loop_lag_ms / 1000.0; }},
    {"bulkhead_watchdog_feeding", Kind::gauge, "1 while the hardware watchdog and systemd are fed, else 0.", [](const WN& w) -> V { return w.wd.feeding() ? 1 : 0; }},
    {"bulkhead_watchdog_ticks_total", Kind::counter, "Watchdog check rounds.", [](const WN& w) -> V { return w.c.ticks; }},
    {"bulkhead_watchdog_feeds_total", Kind::counter, "Ticks that fed the watchdogs.", [](const WN& w) -> V { return w.c.feeds; }},
    {"bulkhead_watchdog_missed_feeds_total", Kind::counter, "Ticks that withheld feeding.", [](const WN& w) -> V { return w.c.missed_feeds; }},
    {"bulkhead_watchdog_failures_total", Kind::counter, "Checks going from ok to failing.", [](const WN& w) -> V { return w.c.failures; }},
    {"bulkhead_watchdog_saturations_total", Kind::counter, "Pool saturations seen by the watchdog.", [](const WN& w) -> V { return w.c.saturations; }},
    {"bulkhead_watchdog_hwm_resets_total", Kind::counter, "High-water mark resets.", [](const WN& w) -> V { return w.c.hwm_resets; }},
    {"bulkhead_watchdog_device_errors_total", Kind::counter, "Failed hardware watchdog keepalives.", [](const WN& w) -> V { return w.c.device_errors; }},
    {"bulkhead_watchdog_notify_errors_total", Kind::counter, "Failed sd_notify datagrams.", [](const WN& w) -> V { return w.c.notify_errors; }},
};

// ---- The wall clock (platform/observe/clock_watch.hpp) ---------------------------------------------

constexpr MetricRow<ClockStatus> kClockRows[] = {
    {"bulkhead_clock_synced", Kind::gauge, "1 while the kernel says the wall clock is synchronised, 0 while not (events are flagged), -1 unchecked ([clock] sync_check = \"off\").", [](const ClockStatus& c) -> V { return c.sync == ClockSync::unchecked ? -1 : c.sync == ClockSync::synced ? 1 : 0; }},
    {"bulkhead_clock_jumps_total", Kind::counter, "Steps of the wall clock (more than 1 s against the monotonic clock) since start.", [](const ClockStatus& c) -> V { return c.jumps; }},
    {"bulkhead_clock_last_jump_seconds", Kind::gauge, "Signed size of the last step (positive: forward; 0: none).", [](const ClockStatus& c) -> V { return static_cast<double>(c.last_jump_ns) / 1e9; }},
    {"bulkhead_clock_last_jump_timestamp_seconds", Kind::gauge, "Wall time just after the last step, seconds since the Unix epoch (0: none).", [](const ClockStatus& c) -> V { return static_cast<double>(c.last_jump_wall_ms) / 1e3; }},
};

// ---- TLS (over every connector) and tasks ---------------------------------------------------------

struct TlsNow {
  std::uint32_t active;
  TlsMemoryStats mem;
};
constexpr MetricRow<TlsNow> kTlsRows[] = {
    {"bulkhead_tls_connections_active", Kind::gauge, "TLS connections begun and not yet ended.", [](const TlsNow& t) -> V { return t.active; }},
    {"bulkhead_tls_memory_bytes", Kind::gauge, "mbedTLS heap in use (0 when not bounded).", [](const TlsNow& t) -> V { return t.mem.used; }},
    {"bulkhead_tls_memory_high_water_bytes", Kind::gauge, "mbedTLS heap high-water mark.", [](const TlsNow& t) -> V { return t.mem.high_water; }},
    {"bulkhead_tls_memory_refusals_total", Kind::counter, "mbedTLS allocations refused by the limit.", [](const TlsNow& t) -> V { return t.mem.refusals; }},
};

using TP = TaskPoolBase;
constexpr MetricRow<TP> kTaskRows[] = {
    {"bulkhead_tasks_live", Kind::gauge, "Tasks running now.", [](const TP& t) -> V { return t.live(); }},
    {"bulkhead_tasks_spawned_total", Kind::counter, "Tasks started.", [](const TP& t) -> V { return t.stats().spawned; }},
    {"bulkhead_tasks_completed_total", Kind::counter, "Tasks finished.", [](const TP& t) -> V { return t.stats().completed; }},
    {"bulkhead_tasks_refused_total", Kind::counter, "Spawns refused: no free task slot.", [](const TP& t) -> V { return t.stats().refused; }},
    {"bulkhead_tasks_frame_refused_total", Kind::counter, "Spawns refused: the frame did not fit the arena.", [](const TP& t) -> V { return t.stats().frame_refused; }},
    {"bulkhead_tasks_escaped_total", Kind::counter, "Exceptions that escaped a task.", [](const TP& t) -> V { return t.stats().escaped; }},
    {"bulkhead_tasks_cancelled_total", Kind::counter, "Tasks asked to stop at shutdown.", [](const TP& t) -> V { return t.stats().cancelled; }},
    {"bulkhead_task_arena_high_water_bytes", Kind::gauge, "Largest task arena use seen.", [](const TP& t) -> V { return t.stats().arena_high; }},
    {"bulkhead_task_arena_bytes", Kind::gauge, "Arena size of one task slot.", [](const TP&) -> V { return TaskSlot::kArenaBytes; }},
};

// ---- Store ----------------------------------------------------------------------------------------

struct StoreNow {
  StoreStats s;
  std::uint64_t max_pending;  // store.max_pending (0 without a config)
};
using SN = StoreNow;
constexpr MetricRow<SN> kStoreRows[] = {
    {"bulkhead_store_last_seq", Kind::gauge, "Highest committed sequence number.", [](const SN& n) -> V { return n.s.last_seq; }},
    {"bulkhead_store_oldest_seq", Kind::gauge, "First retained sequence number.", [](const SN& n) -> V { return n.s.oldest_seq; }},
    {"bulkhead_store_pending_events", Kind::gauge, "Committed events not yet delivered to every sink.", [](const SN& n) -> V { return n.s.pending; }},
    {"bulkhead_store_delivered_seq", Kind::gauge, "Every event up to this sequence number is delivered to every sink.", [](const SN& n) -> V { return n.s.last_seq - n.s.pending; }},
    {"bulkhead_store_max_pending_events", Kind::gauge, "Outbox cap (store.max_pending).", [](const SN& n) -> V { return n.max_pending; }},
    {"bulkhead_store_appended_total", Kind::counter, "Events committed since open.", [](const SN& n) -> V { return n.s.appended; }},
    {"bulkhead_store_batches_total", Kind::counter, "Commits since open.", [](const SN& n) -> V { return n.s.batches; }},
    {"bulkhead_store_commit_errors_total", Kind::counter, "Write transactions that failed.", [](const SN& n) -> V { return n.s.commit_errors; }},
    {"bulkhead_store_read_errors_total", Kind::counter, "Reads that failed.", [](const SN& n) -> V { return n.s.read_errors; }},
    {"bulkhead_store_cached_reads_total", Kind::counter, "Events the sinks read from the newest rows kept in memory, not the database.", [](const SN& n) -> V { return n.s.cached_reads; }},
    {"bulkhead_store_dropped_total", Kind::counter, "Undelivered events dropped by the drop_oldest policy.", [](const SN& n) -> V { return n.s.dropped; }},
    {"bulkhead_store_purged_total", Kind::counter, "Delivered events deleted by retention.", [](const SN& n) -> V { return n.s.purged; }},
    {"bulkhead_store_dead_lettered_total", Kind::counter, "Batches moved to the dead-letter table.", [](const SN& n) -> V { return n.s.dead_lettered; }},
    {"bulkhead_store_database_bytes", Kind::gauge, "Database file size (pages times page size).", [](const SN& n) -> V { return n.s.db_bytes; }},
    {"bulkhead_store_live_bytes", Kind::gauge, "Database bytes in use (free pages excluded).", [](const SN& n) -> V { return n.s.live_bytes; }},
    {"bulkhead_sqlite_memory_used_bytes", Kind::gauge, "SQLite heap in use (process-wide).", [](const SN& n) -> V { return n.s.sqlite_mem_used; }},
    {"bulkhead_sqlite_memory_high_water_bytes", Kind::gauge, "SQLite heap high-water mark (process-wide).", [](const SN& n) -> V { return n.s.sqlite_mem_highwater; }},
    {"bulkhead_sqlite_heap_limit_bytes", Kind::gauge, "SQLite hard heap limit.", [](const SN& n) -> V { return n.s.sqlite_heap_limit; }},
    {"bulkhead_store_in_transaction", Kind::gauge, "1 while the store connection has a transaction open.", [](const SN& n) -> V { return n.s.in_transaction ? 1 : 0; }},
    {"bulkhead_store_checkpoints_total", Kind::counter, "WAL checkpoints by the checkpointer thread.", [](const SN& n) -> V { return n.s.checkpointer.checkpoints; }},
    {"bulkhead_store_wal_frames", Kind::gauge, "Frames in the WAL after the last commit.", [](const SN& n) -> V { return n.s.checkpointer.wal_frames; }},
    {"bulkhead_store_durable_seq", Kind::gauge, "Highest sequence number known durable (sinks read up to it).", [](const SN& n) -> V { return n.s.durable_seq; }},
    {"bulkhead_store_wal_syncs_total", Kind::counter, "fdatasync calls by the syncer thread (the WAL, and the ack log with store.ack_log).", [](const SN& n) -> V { return n.s.syncer.syncs; }},
    {"bulkhead_store_wal_sync_failures_total", Kind::counter, "WAL syncs that failed (the un-acked commits were undone, err storage).", [](const SN& n) -> V { return n.s.syncer.failures; }},
    {"bulkhead_store_wal_sync_duration_seconds", Kind::summary, "Time spent in WAL syncs by the syncer thread.", [](const SN& n) -> V { return us_to_s(n.s.syncer.total_us); }, nullptr, [](const SN& n) -> V { return n.s.syncer.syncs; }},
    {"bulkhead_store_wal_sync_duration_max_seconds", Kind::gauge, "Longest WAL sync.", [](const SN& n) -> V { return us_to_s(n.s.syncer.max_us); }},
    {"bulkhead_store_undone_total", Kind::counter, "Committed events removed because their sync failed.", [](const SN& n) -> V { return n.s.undone; }},
    {"bulkhead_store_write_bytes_total", Kind::counter, "Bytes the process caused to be written to storage (/proc/self/io write_bytes; the filesystem journal excluded).", [](const SN&) -> V { return hal::io_write_bytes(); }},
    {"bulkhead_store_commits_total", Kind::counter, "Write transactions committed by the store (appends, cursors, retention, dead letters).", [](const SN& n) -> V { return n.s.commits; }},
    {"bulkhead_store_fsyncs_total", Kind::counter, "fsync/fdatasync calls for the store: the WAL syncer's and SQLite's own (checkpoints).", [](const SN& n) -> V { return n.s.fsyncs; }},
    {"bulkhead_store_wal_write_bytes_total", Kind::counter, "Bytes SQLite wrote to the WAL file.", [](const SN& n) -> V { return n.s.io.wal_bytes; }},
    {"bulkhead_store_db_write_bytes_total", Kind::counter, "Bytes SQLite wrote to the database file (checkpoints).", [](const SN& n) -> V { return n.s.io.db_bytes; }},
    {"bulkhead_store_ack_log_write_bytes_total", Kind::counter, "Bytes written to the ack log (store.ack_log: whole 4 KiB blocks, one record each).", [](const SN& n) -> V { return n.s.log.blocks * AckLog::kBlock; }},
    {"bulkhead_store_ack_log_settles_total", Kind::counter, "Held append transactions committed (store.ack_log).", [](const SN& n) -> V { return n.s.settles; }},
};

// ---- Audit log -------------------------------------------------------------------------------------

using AS = AuditStats;
constexpr MetricRow<AS> kAuditRows[] = {
    {"bulkhead_audit_lines_total", Kind::counter, "Audit lines written since start (recovered ones included).", [](const AS& a) -> V { return a.lines; }},
    {"bulkhead_audit_lost_lines_total", Kind::counter, "Audit lines not written because of open/write/rotate failures.", [](const AS& a) -> V { return a.lost_lines; }},
    {"bulkhead_audit_write_errors_total", Kind::counter, "Failed audit log open/write/rotate steps.", [](const AS& a) -> V { return a.write_errors; }},
    {"bulkhead_audit_rotations_total", Kind::counter, "Audit log rotations.", [](const AS& a) -> V { return a.rotations; }},
    {"bulkhead_audit_file_bytes", Kind::gauge, "Size of the current audit log file.", [](const AS& a) -> V { return a.file_bytes; }},
    {"bulkhead_audit_recovered_lines_total", Kind::counter, "Audit lines written at start-up from the store for events the log had lost (crash, power cut).", [](const AS& a) -> V { return a.recovered_lines; }},
    {"bulkhead_audit_unrecoverable_seqs_total", Kind::counter, "Seqs missing from the audit log at start-up that the store no longer held (purged): a gap in the trail.", [](const AS& a) -> V { return a.unrecoverable_seqs; }},
};

// ---- Committer and TCP ingest ---------------------------------------------------------------------

using CS = CommitterStats;
constexpr MetricRow<CS> kCommitterRows[] = {
    {"bulkhead_committer_batches_total", Kind::counter, "Group commits acked (durable).", [](const CS& c) -> V { return c.batches; }},
    {"bulkhead_committer_events_total", Kind::counter, "Events acked (durable).", [](const CS& c) -> V { return c.events; }},
    {"bulkhead_committer_commit_errors_total", Kind::counter, "Group commits that failed (err storage).", [](const CS& c) -> V { return c.commit_errors; }},
    {"bulkhead_committer_dropped_oldest_total", Kind::counter, "Events dropped by the drop_oldest policy.", [](const CS& c) -> V { return c.dropped_oldest; }},
    {"bulkhead_committer_largest_batch", Kind::gauge, "Largest group commit, events.", [](const CS& c) -> V { return c.largest_batch; }},
    {"bulkhead_committer_in_flight_events", Kind::gauge, "Events committed and waiting for their WAL sync.", [](const CS& c) -> V { return c.in_flight; }},
    {"bulkhead_committer_ring_waits_total", Kind::counter, "Times the in-flight ring was full and admission waited for the WAL syncer.", [](const CS& c) -> V { return c.ring_waits; }},
    {"bulkhead_committer_commit_duration_seconds", Kind::summary, "Time spent in group commits.", [](const CS& c) -> V { return us_to_s(c.total_commit_us); }, nullptr, [](const CS& c) -> V { return c.batches + c.commit_errors; }},
    {"bulkhead_committer_commit_duration_last_seconds", Kind::gauge, "Duration of the last group commit.", [](const CS& c) -> V { return us_to_s(c.last_commit_us); }},
    {"bulkhead_committer_commit_duration_max_seconds", Kind::gauge, "Longest group commit.", [](const CS& c) -> V { return us_to_s(c.max_commit_us); }},
};

struct IngestNow {
  const IngestStats& s;
  std::uint64_t open;  // connections open now
};
using IN = IngestNow;
constexpr MetricRow<IN> kIngestRows[] = {
    {"bulkhead_ingest_connections_open", Kind::gauge, "Ingest connections open now.", [](const IN& i) -> V { return i.open; }},
    {"bulkhead_ingest_connections_accepted_total", Kind::counter, "Ingest connections accepted.", [](const IN& i) -> V { return i.s.accepted; }},
    {"bulkhead_ingest_connections_refused_total", Kind::counter, "Ingest connections refused at the connection limit.", [](const IN& i) -> V { return i.s.refused_connections; }},
    {"bulkhead_ingest_connections_closed_total", Kind::counter, "Ingest connections closed.", [](const IN& i) -> V { return i.s.closed; }},
    {"bulkhead_ingest_idle_timeouts_total", Kind::counter, "Ingest connections closed for idleness.", [](const IN& i) -> V { return i.s.closes[CloseReason::idle]; }},
    {"bulkhead_ingest_write_timeouts_total", Kind::counter, "Reply writes that timed out.", [](const IN& i) -> V { return i.s.write_timeouts; }},
    {"bulkhead_ingest_received_bytes_total", Kind::counter, "Bytes read from ingest connections.", [](const IN& i) -> V { return i.s.bytes_in; }},
    {"bulkhead_ingest_lines_total", Kind::counter, "Non-blank lines received.", [](const IN& i) -> V { return i.s.lines; }},
};

// A `*_events_total` family of per-line outcomes: `ok`, then every wire error code, label `result`.
void put_results(PromWriter& w, std::string_view name, std::string_view help, std::uint64_t ok,
                 const WireErrorCounts& refused) noexcept {
  w.family(name, Kind::counter, help);
  w.value("result", "ok", ok);
  for (const WireErrorRow& e : kWireErrors) w.value("result", e.name, refused[e.id]);
}

// ---- Sinks ----------------------------------------------------------------------------------------

constexpr MetricRow<Sink> kSinkRows[] = {
    {"bulkhead_sink_delivered_total", Kind::counter, "Events delivered (answered 2xx).", [](const Sink& s) -> V { return s.stats().delivered; }},
    {"bulkhead_sink_batches_total", Kind::counter, "Batches delivered (POSTs answered 2xx).", [](const Sink& s) -> V { return s.stats().batches; }},
    {"bulkhead_sink_retries_total", Kind::counter, "Delivery attempts that will be repeated.", [](const Sink& s) -> V { return s.stats().retries; }},
    {"bulkhead_sink_dead_lettered_total", Kind::counter, "Batches moved to the dead-letter table.", [](const Sink& s) -> V { return s.stats().dead_lettered; }},
    {"bulkhead_sink_dead_lettered_events_total", Kind::counter, "Events moved to the dead-letter table.", [](const Sink& s) -> V { return s.stats().dead_events; }},
    {"bulkhead_sink_replayed_total", Kind::counter, "Dead letters delivered on replay.", [](const Sink& s) -> V { return s.stats().replayed; }},
    {"bulkhead_sink_connects_total", Kind::counter, "Connections opened to the sink.", [](const Sink& s) -> V { return s.stats().connects; }},
    {"bulkhead_sink_connect_errors_total", Kind::counter, "Connection attempts that failed.", [](const Sink& s) -> V { return s.stats().connect_errors; }},
    {"bulkhead_sink_connect_timeouts_total", Kind::counter, "Connection attempts that timed out.", [](const Sink& s) -> V { return s.stats().connect_timeouts; }},
    {"bulkhead_sink_resolve_errors_total", Kind::counter, "Host name lookups that failed (NXDOMAIN, no address, SERVFAIL, bad answers).", [](const Sink& s) -> V { return s.stats().resolve_errors; }},
    {"bulkhead_sink_resolve_timeouts_total", Kind::counter, "Host name lookups with no answer within connect_timeout.", [](const Sink& s) -> V { return s.stats().resolve_timeouts; }},
    {"bulkhead_sink_dns_stale_used_total", Kind::counter, "Failed host name lookups that fell back to the expired cached address.", [](const Sink& s) -> V { return s.stats().dns_stale_used; }},
    {"bulkhead_sink_write_timeouts_total", Kind::counter, "Request writes that timed out.", [](const Sink& s) -> V { return s.stats().write_timeouts; }},
    {"bulkhead_sink_read_timeouts_total", Kind::counter, "Response reads that timed out.", [](const Sink& s) -> V { return s.stats().read_timeouts; }},
    {"bulkhead_sink_response_timeouts_total", Kind::counter, "Responses not complete within response_timeout (a server trickling its answer).", [](const Sink& s) -> V { return s.stats().response_timeouts; }},
    {"bulkhead_sink_pool_timeouts_total", Kind::counter, "Waits for a free connection slot that timed out.", [](const Sink& s) -> V { return s.stats().pool_timeouts; }},
    {"bulkhead_sink_io_errors_total", Kind::counter, "Resets and EOFs in the middle of an exchange.", [](const Sink& s) -> V { return s.stats().io_errors; }},
    {"bulkhead_sink_protocol_errors_total", Kind::counter, "Unparseable or oversized responses.", [](const Sink& s) -> V { return s.stats().protocol_errors; }},
    {"bulkhead_sink_http_retryable_total", Kind::counter, "Responses 408, 429 or 5xx.", [](const Sink& s) -> V { return s.stats().http_retryable; }},
    {"bulkhead_sink_stale_connections_total", Kind::counter, "Idle kept-alive connections found closed or sent to when reused: replaced by a new one.", [](const Sink& s) -> V { return s.stats().stale_closes; }},
    {"bulkhead_sink_breaker_rejections_total", Kind::counter, "Attempts not made because the breaker was open.", [](const Sink& s) -> V { return s.stats().breaker_rejections; }},
    {"bulkhead_sink_store_errors_total", Kind::counter, "Store reads or cursor updates that failed.", [](const Sink& s) -> V { return s.stats().store_errors; }},
    {"bulkhead_sink_rate_limited_total", Kind::counter, "Responses 429 Too Many Requests (resent after the wait; not breaker failures).", [](const Sink& s) -> V { return s.stats().rate_limited; }},
    {"bulkhead_sink_retry_after_waits_total", Kind::counter, "Waits for a retry time the server named (Retry-After, JSON retry_after) on 429 or 503.", [](const Sink& s) -> V { return s.stats().retry_after_waits; }},
    {"bulkhead_sink_retry_after_wait_seconds_total", Kind::counter, "Time spent in those waits (capped by max_retry_after).", [](const Sink& s) -> V { return static_cast<double>(s.stats().retry_after_wait_ms) / 1000.0; }},
    {"bulkhead_sink_rate_limit_waits_total", Kind::counter, "Waits for a token of the sink's own rate_limit before a request.", [](const Sink& s) -> V { return s.stats().rate_limit_waits; }},
    {"bulkhead_sink_rate_limit_wait_seconds_total", Kind::counter, "Time spent in those waits.", [](const Sink& s) -> V { return static_cast<double>(s.stats().rate_limit_wait_ms) / 1000.0; }},
    {"bulkhead_sink_filtered_total", Kind::counter, "Events the sink's filter refused: skipped, never sent.", [](const Sink& s) -> V { return s.stats().filtered; }},
    {"bulkhead_sink_unrenderable_total", Kind::counter, "Events the sink's template could not render (missing field, too large): dead-lettered.", [](const Sink& s) -> V { return s.stats().unrenderable; }},
    {"bulkhead_sink_last_http_status", Kind::gauge, "Status of the last response (0 = none yet).", [](const Sink& s) -> V { return s.stats().last_status < 0 ? 0 : s.stats().last_status; }},
    {"bulkhead_sink_breaker_state", Kind::gauge, "Circuit breaker state: 0 closed, 1 open, 2 half_open.", [](const Sink& s) -> V { return static_cast<int>(s.breaker().state()); }},
    {"bulkhead_sink_breaker_consecutive_failures", Kind::gauge, "Consecutive failed attempts.", [](const Sink& s) -> V { return s.breaker().consecutive_failures(); }},
    {"bulkhead_sink_breaker_transitions_total", Kind::counter, "Circuit breaker state changes.", [](const Sink& s) -> V { return s.breaker().transitions(); }},
    {"bulkhead_sink_mqtt_refusals_total", Kind::counter, "MQTT: CONNACK refusals (bad credentials, not authorised, ...); each backs off like a failed connect.", [](const Sink& s) -> V { return s.stats().mqtt_refusals; }},
    {"bulkhead_sink_mqtt_resent_total", Kind::counter, "MQTT: PUBLISHes resent with DUP after a reconnect.", [](const Sink& s) -> V { return s.stats().mqtt_resent; }},
    {"bulkhead_sink_mqtt_inflight", Kind::gauge, "MQTT: PUBLISHes awaiting their PUBACK.", [](const Sink& s) -> V { return s.stats().mqtt_inflight; }},
    {"bulkhead_sink_mqtt_pings_total", Kind::counter, "MQTT: PINGREQs sent (keep-alive).", [](const Sink& s) -> V { return s.stats().mqtt_pings; }},
    {"bulkhead_sink_mqtt_ack_timeouts_total", Kind::counter, "MQTT: no CONNACK, PUBACK or PINGRESP within its deadline (the connection is dropped, the window resent).", [](const Sink& s) -> V { return s.stats().mqtt_ack_timeouts; }},
    {"bulkhead_sink_mqtt_stray_acks_total", Kind::counter, "MQTT: PUBACKs for no PUBLISH in flight (ignored).", [](const Sink& s) -> V { return s.stats().mqtt_stray_acks; }},
    {"bulkhead_sink_tls_rejections_total", Kind::counter, "TLS handshakes refused because the server's certificate or host name was rejected (https:// and mqtts://).", [](const Sink& s) -> V { return s.stats().tls_verify_errors; }},
};
static_assert(static_cast<int>(Breaker::State::closed) == 0 && static_cast<int>(Breaker::State::open) == 1 &&
              static_cast<int>(Breaker::State::half_open) == 2, "bulkhead_*_breaker_state documents 0/1/2");

// ---- Sources --------------------------------------------------------------------------------------

bool is_poll(const Source& s) { return s.options().kind == SourceKind::http_poll; }
bool is_ws(const Source& s) { return s.options().kind != SourceKind::http_poll; }  // websocket and mqtt: messages, pings
// The job rows are listed only for the sources that use the job (8 sources share the buffer).
bool filters(const Source& s) { return s.filters(); }
bool decodes(const Source& s) { return s.decodes(); }
bool dedupes(const Source& s) { return s.dedupes(); }
constexpr MetricRow<Source> kSourceRows[] = {
    {"bulkhead_source_events_total", Kind::counter, "Events from the source committed to the store.", [](const Source& s) -> V { return s.stats().events; }},
    {"bulkhead_source_wrapped_total", Kind::counter, "Non-JSON bodies or messages wrapped as a JSON string.", [](const Source& s) -> V { return s.stats().wrapped; }},
    {"bulkhead_source_queue_depth", Kind::gauge, "Events in the queue now (in flight to the store included).", [](const Source& s) -> V { return s.ring().count(); }},
    {"bulkhead_source_store_busy_total", Kind::counter, "Admissions refused busy (retried).", [](const Source& s) -> V { return s.stats().store_busy; }},
    {"bulkhead_source_connects_total", Kind::counter, "Connection attempts.", [](const Source& s) -> V { return s.stats().connects; }},
    {"bulkhead_source_connected_total", Kind::counter, "Polls answered / WebSocket handshakes completed.", [](const Source& s) -> V { return s.stats().connected; }},
    {"bulkhead_source_paused", Kind::gauge, "1 while paused from the console.", [](const Source& s) -> V { return s.paused() ? 1 : 0; }},
    {"bulkhead_source_breaker_state", Kind::gauge, "Circuit breaker state: 0 closed, 1 open, 2 half_open.", [](const Source& s) -> V { return static_cast<int>(s.breaker().state()); }},
    {"bulkhead_source_breaker_consecutive_failures", Kind::gauge, "Consecutive failed attempts.", [](const Source& s) -> V { return s.breaker().consecutive_failures(); }},
    {"bulkhead_source_breaker_transitions_total", Kind::counter, "Circuit breaker state changes.", [](const Source& s) -> V { return s.breaker().transitions(); }},
    {"bulkhead_source_breaker_rejections_total", Kind::counter, "Attempts not made because the breaker was open.", [](const Source& s) -> V { return s.stats().breaker_rejections; }},
    {"bulkhead_source_polls_total", Kind::counter, "http_poll: requests sent.", [](const Source& s) -> V { return s.stats().polls; }, is_poll},
    {"bulkhead_source_not_modified_total", Kind::counter, "http_poll: 304, same ETag or same body: no event.", [](const Source& s) -> V { return s.stats().not_modified; }, is_poll},
    {"bulkhead_source_last_http_status", Kind::gauge, "http_poll: status of the last response (0 = none yet).", [](const Source& s) -> V { return s.stats().last_status < 0 ? 0 : s.stats().last_status; }, is_poll},
    {"bulkhead_source_messages_total", Kind::counter, "websocket: text messages received.", [](const Source& s) -> V { return s.stats().messages; }, is_ws},
    {"bulkhead_source_pings_total", Kind::counter, "websocket: pings sent.", [](const Source& s) -> V { return s.stats().pings; }, is_ws},
    {"bulkhead_source_peer_closes_total", Kind::counter, "websocket: closes and drops by the server.", [](const Source& s) -> V { return s.stats().peer_closes; }, is_ws},
    {"bulkhead_source_filtered_total", Kind::counter, "Items the source's filter did not match: not stored.", [](const Source& s) -> V { return s.stats().filtered; }, filters},
    {"bulkhead_source_decode_errors_total", Kind::counter, "decode fields holding a string that is not JSON text: kept as is.", [](const Source& s) -> V { return s.stats().decode_errors; }, decodes},
    {"bulkhead_source_deduped_total", Kind::counter, "Items whose dedupe key was in the window: not stored.", [](const Source& s) -> V { return s.stats().deduped; }, dedupes},
    {"bulkhead_source_dedupe_evictions_total", Kind::counter, "Keys that left the full dedupe window, oldest first.", [](const Source& s) -> V { return s.stats().dedupe_evictions; }, dedupes},
    {"bulkhead_source_dedupe_no_key_total", Kind::counter, "Items with no value at any dedupe_key pointer: stored without dedupe.", [](const Source& s) -> V { return s.stats().dedupe_no_key; }, dedupes},
    {"bulkhead_source_dedupe_keys", Kind::gauge, "Keys in the dedupe window now.", [](const Source& s) -> V { return s.dedupe_window().size(); }, dedupes},
    {"bulkhead_source_replies_sent_total", Kind::counter, "websocket: [[source.reply]] messages sent.", [](const Source& s) -> V { return s.stats().replies_sent; }, is_ws},
    {"bulkhead_source_protocol_messages_total", Kind::counter, "websocket: messages that matched a reply's `when`: not stored.", [](const Source& s) -> V { return s.stats().protocol_messages; }, is_ws},
};

// One count of a breakdown family: the second label's value and how to read it.
struct Part {
  std::string_view value;
  std::uint64_t (*get)(const SourceStats&);
};
constexpr Part kDropped[] = {
    {"queue_full", [](const SourceStats& s) { return s.dropped; }},
    {"shutdown", [](const SourceStats& s) { return s.dropped_shutdown; }},
    {"storage", [](const SourceStats& s) { return s.store_errors; }},
};
constexpr Part kRejected[] = {
    {"too_large", [](const SourceStats& s) { return s.too_large; }},
    {"bad_json", [](const SourceStats& s) { return s.bad_json; }},
};
constexpr Part kSourceErrors[] = {
    {"connect", [](const SourceStats& s) { return s.connect_errors; }},
    {"connect_timeout", [](const SourceStats& s) { return s.connect_timeouts; }},
    {"tls", [](const SourceStats& s) { return s.tls_errors; }},
    {"handshake_timeout", [](const SourceStats& s) { return s.handshake_timeouts; }},
    {"write_timeout", [](const SourceStats& s) { return s.write_timeouts; }},
    {"read_timeout", [](const SourceStats& s) { return s.read_timeouts; }},
    {"response_timeout", [](const SourceStats& s) { return s.response_timeouts; }},
    {"io", [](const SourceStats& s) { return s.io_errors; }},
    {"protocol", [](const SourceStats& s) { return s.protocol_errors; }},
    {"http", [](const SourceStats& s) { return s.http_errors; }},
    {"response_too_large", [](const SourceStats& s) { return s.responses_too_large; }},
    {"malformed", [](const SourceStats& s) { return s.malformed; }},
    {"select", [](const SourceStats& s) { return s.select_failures; }},
    {"pong_timeout", [](const SourceStats& s) { return s.pong_timeouts; }},
    {"protocol_violation", [](const SourceStats& s) { return s.protocol_violations; }},
    {"binary_dropped", [](const SourceStats& s) { return s.binary_dropped; }},
    {"slot", [](const SourceStats& s) { return s.slot_refusals; }},
    {"reply", [](const SourceStats& s) { return s.reply_errors; }},
};
// websocket: closes by the server with a close frame, by what close_codes made of them.
constexpr Part kCloses[] = {
    {"stop", [](const SourceStats& s) { return s.closes_stop; }},
    {"reconnect", [](const SourceStats& s) { return s.closes_reconnect; }},
    {"reconnect_throttled", [](const SourceStats& s) { return s.reconnects_throttled; }},
    {"backoff", [](const SourceStats& s) { return s.closes_backoff; }},
};

// A family with one sample per source and part: {source="<name>",<label>="<part>"}.
// only_nonzero: list a part only once it happened.
void put_parts(PromWriter& w, std::span<Source* const> sources, std::string_view name, std::string_view help,
               std::string_view label, std::span<const Part> parts, bool only_nonzero = false) noexcept {
  w.family(name, Kind::counter, help);
  for (const Source* s : sources)
    for (const Part& p : parts)
      if (const std::uint64_t n = p.get(s->stats()); n > 0 || !only_nonzero)
        w.value("source", s->options().name, label, p.value, n);
}

// ---- Deadlines per kind of operation (sinks and sources) ------------------------------------------

// The three deadline families of one kind of connector: operations run with a deadline, those
// that ran past it, and the ratio. only_used: skip the kinds a connector never ran.
struct DeadlineFamilies {
  std::string_view ops, timeouts, ratio, label;
};
template <typename C>
void put_deadlines(PromWriter& w, const DeadlineFamilies& f, std::span<C* const> cs, bool only_used) noexcept {
  auto each = [&](auto get) {
    for (const C* c : cs)
      for (std::size_t k = 0; k < kTimedOps; ++k)
        if (!only_used || c->stats().deadlines.ops[k] > 0)
          w.value(f.label, c->options().name, "op", kTimedOpNames[k], get(c->stats().deadlines, k));
  };
  w.family(f.ops, Kind::counter, "Operations run with a deadline, by kind.");
  each([](const TimeoutStats& d, std::size_t k) { return d.ops[k]; });
  w.family(f.timeouts, Kind::counter, "Operations that ran past their deadline, by kind.");
  each([](const TimeoutStats& d, std::size_t k) { return d.timeouts[k]; });
  w.family(f.ratio, Kind::gauge, "Timeouts over operations, by kind (0 when none ran).");
  each([](const TimeoutStats& d, std::size_t k) { return d.rate(k); });
}

// ---- The admin surface itself ---------------------------------------------------------------------

using AM = AdminMetrics;
constexpr MetricRow<AM> kAdminRows[] = {
    {"bulkhead_admin_connections_open", Kind::gauge, "Admin connections open now.", [](const AM& a) -> V { return a.connections_open; }},
    {"bulkhead_admin_connections_accepted_total", Kind::counter, "Admin connections accepted.", [](const AM& a) -> V { return a.http.accepted; }},
    {"bulkhead_admin_connections_refused_total", Kind::counter, "Admin connections refused (503) at the connection limit.", [](const AM& a) -> V { return a.http.refused; }},
    {"bulkhead_admin_connections_closed_total", Kind::counter, "Admin connections closed.", [](const AM& a) -> V { return a.http.closed; }},
    {"bulkhead_admin_requests_total", Kind::counter, "Admin requests parsed.", [](const AM& a) -> V { return a.http.requests; }},
    {"bulkhead_admin_bad_requests_total", Kind::counter, "Malformed admin requests (answered 4xx/5xx, closed).", [](const AM& a) -> V { return a.http.bad_requests; }},
    {"bulkhead_admin_read_timeouts_total", Kind::counter, "Admin requests not received within [admin] timeout.", [](const AM& a) -> V { return a.http.read_timeouts; }},
    {"bulkhead_admin_idle_closes_total", Kind::counter, "Keep-alive admin connections closed idle.", [](const AM& a) -> V { return a.http.idle_closes; }},
    {"bulkhead_admin_write_timeouts_total", Kind::counter, "Admin response writes that timed out.", [](const AM& a) -> V { return a.http.write_timeouts; }},
    {"bulkhead_admin_event_posts_total", Kind::counter, "POST /v1/events requests.", [](const AM& a) -> V { return a.stats.posts; }},
    {"bulkhead_admin_event_posts_cut_total", Kind::counter, "POST /v1/events requests whose later lines were not processed (413, 408, peer gone).", [](const AM& a) -> V { return a.stats.unprocessed; }},
    {"bulkhead_admin_metrics_overflows_total", Kind::counter, "/metrics bodies too big for the buffer (500).", [](const AM& a) -> V { return a.stats.metrics_overflows; }},
    {"bulkhead_admin_metrics_buffer_bytes", Kind::gauge, "Buffer /metrics is rendered into.", [](const AM& a) -> V { return a.buffer_bytes; }},
    {"bulkhead_admin_metrics_last_bytes", Kind::gauge, "Size of the previous /metrics body.", [](const AM& a) -> V { return a.stats.metrics_last_bytes; }},
    {"bulkhead_admin_auth_token_configured", Kind::gauge, "1 when [admin] token is set (requests are checked), else 0.", [](const AM& a) -> V { return std::uint64_t{a.auth.enabled()}; }},
    {"bulkhead_admin_auth_ok_total", Kind::counter, "Admin requests that presented the right token.", [](const AM& a) -> V { return a.auth.stats().ok; }},
    {"bulkhead_admin_auth_throttled_total", Kind::counter, "Admin requests refused (429) while their peer was in backoff after repeated token failures.", [](const AM& a) -> V { return a.auth.stats().throttled; }},
    {"bulkhead_admin_auth_backoffs_total", Kind::counter, "Token failures that put their peer in backoff or lengthened it.", [](const AM& a) -> V { return a.auth.stats().backoffs; }},
    {"bulkhead_admin_auth_peers_tracked", Kind::gauge, "Peers (IPv4 addresses, IPv6 /64s) in the token-failure table now.", [](const AM& a) -> V { return a.auth.peers_tracked(); }},
    {"bulkhead_admin_auth_peers_refused", Kind::gauge, "Peers in backoff now.", [](const AM& a) -> V { return a.auth.peers_refused(a.now); }},
    {"bulkhead_admin_auth_peers_evicted_total", Kind::counter, "Token-failure table entries taken over by a new peer while the table was full (least recently seen first).", [](const AM& a) -> V { return a.auth.stats().peers_evicted; }},
    {"bulkhead_admin_status_requests_total", Kind::counter, "GET /v1/status requests.", [](const AM& a) -> V { return a.stats.status; }},
    {"bulkhead_admin_page_requests_total", Kind::counter, "GET / (the status page) requests.", [](const AM& a) -> V { return a.stats.page; }},
    {"bulkhead_admin_source_actions_total", Kind::counter, "POST /v1/sources/<name>/pause|resume requests.", [](const AM& a) -> V { return a.stats.source_actions; }},
};

std::string_view sink_name(const Sink& s) { return s.options().name; }
std::string_view source_name(const Source& s) { return s.options().name; }

}  // namespace

std::size_t write_metrics(const RuntimeView& v, const AdminMetrics& admin, char* buf, std::size_t cap) noexcept {
  PromWriter w(buf, cap);

  // Process and watchdog.
  w.family("bulkhead_build_info", Kind::gauge, "Build information; the value is always 1.");
  w.value("version", BH_VERSION, 1);
  write_rows(w, kProcessRows, v);
  w.family("bulkhead_log_lines_total", Kind::counter, "Log lines written, by level.");
  for (log::Level l : {log::Level::debug, log::Level::info, log::Level::warn, log::Level::error})
    w.value("level", log::level_name(l), log::emitted(l));
  const Watchdog* wd = v.watchdog;
  w.family("bulkhead_loop_lag_seconds", Kind::gauge, "Event-loop lag last measured by the watchdog.");
  if (wd) {
    w.value(wd->loop_lag_ms() / 1000.0);
    write_rows(w, kWatchdogRows, WatchdogNow{*wd, wd->counters()});
    w.family("bulkhead_watchdog_check_ok", Kind::gauge, "1 while the watchdog check holds, else 0.");
    for (std::size_t i = 0; i < wd->check_count(); ++i) w.value("check", wd->check(i).name, wd->check(i).ok ? 1 : 0);
    w.family("bulkhead_watchdog_check_failed_ticks", Kind::gauge, "Consecutive ticks the check has failed.");
    for (std::size_t i = 0; i < wd->check_count(); ++i) w.value("check", wd->check(i).name, wd->check(i).failed_ticks);
  }

  if (v.clock) write_rows(w, kClockRows, v.clock->status());
  write_pool_metrics(w);
  write_rows(w, kTlsRows, TlsNow{tls_streams_active(), tls_memory_stats()});
  if (v.tasks) write_rows(w, kTaskRows, *v.tasks);
  if (v.store) write_rows(w, kStoreRows, StoreNow{v.store->stats(), v.config ? v.config->store.max_pending : 0});
  if (v.audit) write_rows(w, kAuditRows, v.audit->stats());

  if (v.committer) {
    const CommitterStats& c = v.committer->stats();
    write_rows(w, kCommitterRows, c);
    w.family("bulkhead_committer_refusals_total", Kind::counter, "Events refused at admission, by reason.");
    for (const WireErrorRow& e : kWireErrors)
      if (e.admission) w.value("reason", e.name, c.refused[e.id]);
  }
  if (v.ingest) {
    write_rows(w, kIngestRows, IngestNow{*v.ingest, v.ingest_pool ? v.ingest_pool->in_use() : 0});
    put_results(w, "bulkhead_ingest_events_total", "Replies to ingest lines, by result (wire codes).", v.ingest->ok,
                v.ingest->refused);
  }

  // TLS listeners: handshakes completed and refused, by reason.
  if (v.ingest_tls || v.admin_tls) {
    struct Listener {
      std::string_view name;
      const TlsListenerStats* s;
    };
    const Listener ls[] = {{"ingest", v.ingest_tls}, {"admin", v.admin_tls}};
    w.family("bulkhead_tls_server_handshakes_total", Kind::counter, "TLS handshakes completed on a listener.");
    for (const Listener& l : ls)
      if (l.s) w.value("listener", l.name, l.s->handshakes);
    w.family("bulkhead_tls_server_handshake_failures_total", Kind::counter,
             "TLS handshakes a listener refused (connection closed), by reason.");
    for (const Listener& l : ls) {
      if (!l.s) continue;
      const std::pair<std::string_view, std::uint64_t> reasons[] = {
          {"no_cert", l.s->no_cert},   {"bad_cert", l.s->bad_cert}, {"expired", l.s->expired},
          {"protocol", l.s->protocol}, {"timeout", l.s->timeouts},  {"closed", l.s->closed},
          {"out_of_memory", l.s->out_of_memory}};
      for (const auto& [reason, n] : reasons) w.value("listener", l.name, "reason", reason, n);
    }
  }

  // Sinks (config order). Cursor and pending come from the store's view of each sink.
  write_rows(w, kSinkRows, "sink", v.sinks, sink_name);
  put_deadlines(w, {"bulkhead_sink_timed_operations_total", "bulkhead_sink_timeouts_total", "bulkhead_sink_timeout_ratio", "sink"},
                v.sinks, /*only_used=*/false);
  w.family("bulkhead_sink_breaker_status", Kind::gauge, "1 for the breaker's current state, 0 for the others.");
  for (const Sink* s : v.sinks) {
    for (Breaker::State st : {Breaker::State::closed, Breaker::State::open, Breaker::State::half_open})
      w.value("sink", s->options().name, "state", breaker_state_name(st), s->breaker().state() == st ? 1 : 0);
  }
  if (v.store) {
    w.family("bulkhead_sink_cursor", Kind::gauge, "Last sequence number delivered (or dead-lettered) to the sink.");
    for (const Sink* s : v.sinks) w.value("sink", s->options().name, v.store->cursor(s->id()));
    w.family("bulkhead_sink_pending_events", Kind::gauge, "Committed events the sink has not had yet.");
    for (const Sink* s : v.sinks) w.value("sink", s->options().name, sink_pending(v, *s));
  }
  w.family("bulkhead_sink_wait_seconds", Kind::gauge,
           "Time left in the sink's current wait (a server's Retry-After, its rate limit, backoff, an open breaker); 0 while not waiting.");
  for (const Sink* s : v.sinks)
    w.value("sink", s->options().name, std::chrono::duration<double>(s->waiting(hal::Clock::now())).count());

  // Sources ([[source]]: HTTP poll, WebSocket), config order.
  if (!v.sources.empty()) {
    write_rows(w, kSourceRows, "source", v.sources, source_name);
    put_parts(w, v.sources, "bulkhead_source_dropped_total", "Events lost after they were cut, by reason.", "reason", kDropped);
    put_parts(w, v.sources, "bulkhead_source_rejected_total", "Events not queued, by reason.", "reason", kRejected);
    // As for sinks; only the kinds a source uses, to keep 8 sources inside the metrics buffer.
    put_deadlines(w, {"bulkhead_source_timed_operations_total", "bulkhead_source_timeouts_total", "bulkhead_source_timeout_ratio", "source"},
                  v.sources, /*only_used=*/true);
    // Only the kinds that happened: 15 kinds x 8 sources would crowd the fixed metrics buffer.
    put_parts(w, v.sources, "bulkhead_source_errors_total", "Failures by kind, listed once non-zero.", "kind",
              kSourceErrors, /*only_nonzero=*/true);
    put_parts(w, v.sources, "bulkhead_source_closes_total",
              "websocket: server closes by the action close_codes chose (reconnect_throttled: of the reconnects, those "
              "that waited the backoff), listed once non-zero.",
              "action", kCloses, /*only_nonzero=*/true);
  }

  // Every listener's closes by reason: slow and stalled clients, evictions (acceptor.hpp).
  w.family("bulkhead_listener_closes_total", Kind::counter,
           "Connections a listener closed on its own deadline or policy, by listener and reason (idle, line_timeout, "
           "header_timeout, body_timeout, handshake_timeout, evicted).");
  const auto closes = [&w](std::string_view listener, const ListenerCloses& c) {
    for (std::size_t r = 0; r < kCloseReasons; ++r) w.value("listener", listener, "reason", kCloseReasonNames[r], c.n[r]);
  };
  if (v.ingest) closes("ingest", v.ingest->closes);
  closes("admin", admin.http.closes);
  if (v.console_closes) closes("console", *v.console_closes);

  // The admin surface itself.
  write_rows(w, kAdminRows, admin);
  w.family("bulkhead_admin_responses_total", Kind::counter, "Admin responses, by status class.");
  w.value("class", "2xx", admin.http.responses_2xx);
  w.value("class", "4xx", admin.http.responses_4xx);
  w.value("class", "5xx", admin.http.responses_5xx);
  put_results(w, "bulkhead_admin_events_total", "POST /v1/events lines, by result (wire codes).", admin.stats.ok,
              admin.stats.refused);
  w.family("bulkhead_admin_auth_failures_total", Kind::counter, "Admin requests answered 401, by reason: no bearer token, or a wrong one.");
  w.value("reason", "missing", admin.auth.stats().missing);
  w.value("reason", "wrong", admin.auth.stats().wrong);
  return w.ok() ? w.size() : 0;
}

}  // namespace bh
