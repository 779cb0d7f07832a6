// App wiring: config -> components, start-up order, the shutdown hooks, the exit check.
#include "firmware/app.hpp"

#include <asio/ip/address.hpp>
#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <variant>

#include "firmware/admin/admin.hpp"
#include "firmware/budget.hpp"
#include "firmware/console.hpp"
#include "firmware/console_commands.hpp"
#include "firmware/watchdog_service.hpp"
#include "firmware/runtime_view.hpp"
#include "hal/clock.hpp"
#include "platform/alloc/alloc.hpp"
#include "platform/delivery/sink.hpp"
#include "platform/store/committer.hpp"
#include "platform/ingest/ingest_server.hpp"
#include "platform/ingest/json_check.hpp"
#include "platform/net/tls_listener.hpp"
#include "platform/util/log.hpp"
#include "platform/util/redact.hpp"
#include "platform/net/endpoint.hpp"
#include "platform/core/reactor.hpp"
#include "platform/sources/http_poll_source.hpp"
#include "platform/sources/websocket_source.hpp"
#include "platform/sources/mqtt_source.hpp"
#include "platform/observe/clock_watch.hpp"
#include "platform/store/audit_catchup.hpp"
#include "platform/store/audit_log.hpp"
#include "platform/store/store.hpp"

namespace bh {

using budget::PoolId;

// The budget's bytes-per-slot figures are checked against the real slot types.
static_assert(sizeof(IngestConn) <= budget::row(PoolId::ingest_conn).bytes_per_slot, "budget: ingest_conn bytes");
static_assert(sizeof(Sink) <= budget::row(PoolId::sink).bytes_per_slot, "budget: sink bytes");
static_assert(budget::capacity(PoolId::sink) == budget::kMaxSinks);
static_assert(sizeof(TaskSlot) <= budget::row(PoolId::task).bytes_per_slot, "budget: task bytes");
static_assert(sizeof(AuditLog) <= budget::row(PoolId::file).bytes_per_slot, "budget: file bytes");
static_assert(sizeof(Store) + sizeof(Committer) <= budget::row(PoolId::store_conn).bytes_per_slot,
              "budget: store_conn bytes (the connection and its commit batch)");
static_assert(Sink::kMaxConns == budget::kSinkConnsPerSink, "budget: per-sink connection pool");
static_assert(budget::kTlsHeapLimit == kTlsHeapLimitDefault, "budget: the TLS heap limit");
static_assert(Sink::kMaxInflight == budget::kMqttMaxInflight, "budget: an MQTT sink's in-flight window");
static_assert(budget::kMaxEventBytes <= Sink::kEventBytes, "a sink's filter/template parser takes the largest event");
static_assert(budget::row(PoolId::sink_conn).capacity == budget::kMaxSinks * budget::kSinkConnsPerSink);
static_assert(Store::kMaxSinks >= budget::kMaxSinks, "budget: the store tracks every sink");
static_assert(Committer::kCapacity >= budget::kMaxBatch, "budget: store.max_batch fits the commit batch");

// A source pool slot holds either kind of source.
struct SourceSlot {
  std::variant<std::monostate, HttpPollSource, WebSocketSource, MqttSource> v;
  Source* get() noexcept {
    if (auto* p = std::get_if<HttpPollSource>(&v)) return p;
    if (auto* p = std::get_if<MqttSource>(&v)) return p;
    return std::get_if<WebSocketSource>(&v);
  }
};
static_assert(sizeof(SourceSlot) <= budget::row(PoolId::source).bytes_per_slot, "budget: source bytes");
static_assert(sizeof(SourceConn) <= budget::row(PoolId::source_conn).bytes_per_slot, "budget: source_conn bytes");
static_assert(budget::capacity(PoolId::source) == budget::kMaxSources);
static_assert(budget::capacity(PoolId::source_conn) == kMaxSourceConns, "budget: source connections");
static_assert(kSourceMaxEventBytes == budget::kMaxEventBytes, "budget: a source event fits its cut buffer");

// pause/resume by name, for the console.
class SourceSet final : public SourceControl {
 public:
  std::span<Source* const> list;
  Result set_paused(std::string_view name, bool paused) noexcept override {
    Source* s = find(name);
    if (!s) return Result::no_such_source;
    if (!s->running()) return Result::not_running;
    return s->set_paused(paused) ? Result::ok : Result::unchanged;
  }
  bool paused(std::string_view name) const noexcept override {
    const Source* s = find(name);
    return s && s->paused();
  }

 private:
  Source* find(std::string_view name) const noexcept {
    for (Source* s : list)
      if (s->options().name == name) return s;
    return nullptr;
  }
};

struct App::Impl {
  Config cfg;
  Reactor reactor;
  TaskPool<budget::capacity(PoolId::task)> tasks{"task", reactor.io()};
  // The store connection and the audit file are pool slots like every other resource: held for
  // the process lifetime, returned at shutdown, and checked at exit with the rest.
  Pool<Store, budget::capacity(PoolId::store_conn)> store_pool{"store_conn"};
  Pool<AuditLog, budget::capacity(PoolId::file)> file_pool{"file"};
  Pool<Store, budget::capacity(PoolId::store_conn)>::Lease store_lease = store_pool.try_acquire();
  Pool<AuditLog, budget::capacity(PoolId::file)>::Lease audit_lease = file_pool.try_acquire();
  Store& store = *store_lease;
  AuditLog& audit = *audit_lease;
  JsonCheck json;
  std::unique_ptr<ClockWatch> clock;  // before the committer: it stamps events with the sync state
  std::unique_ptr<Committer> committer;
  std::unique_ptr<IngestServer<budget::capacity(PoolId::ingest_conn)>> ingest;
  std::unique_ptr<TlsListener<budget::capacity(PoolId::ingest_conn)>> ingest_tls;  // with [ingest] tls_cert
  std::array<std::string, budget::kMaxSinks> sink_pool_names;
  Pool<Sink, budget::capacity(PoolId::sink)> sink_pool{"sink"};
  std::array<Pool<Sink, budget::capacity(PoolId::sink)>::Lease, budget::kMaxSinks> sinks;
  std::array<Sink*, budget::kMaxSinks> sink_ptrs{};
  // Sources: their own slots (ring, TLS policy, state) and the connection slots they take per
  // attempt. The connection pool is declared first so it outlives the sources.
  JsonCheck source_json;  // sized to the largest source max_event_bytes
  Pool<SourceConn, budget::capacity(PoolId::source_conn)> source_conns{"source_conn"};
  Pool<SourceSlot, budget::capacity(PoolId::source)> source_pool{"source"};
  std::array<Pool<SourceSlot, budget::capacity(PoolId::source)>::Lease, budget::kMaxSources> sources;
  std::array<Source*, budget::kMaxSources> source_ptrs{};
  std::size_t nsources = 0;
  SourceSet source_set;
  RuntimeView view;
  std::unique_ptr<WatchdogService> watchdog;
  std::unique_ptr<AdminService> admin;
  std::unique_ptr<ConsoleService> console;
  Notify housekeeping_stop;
  bool stopping = false;

  explicit Impl(Config c) : cfg(std::move(c)) {}

  static void stop_admitting(void* p) {
    auto* self = static_cast<Impl*>(p);
    self->stopping = true;
    if (self->ingest) self->ingest->stop();
    if (self->committer) self->committer->stop_admitting();
    for (auto& s : self->sinks)
      if (s) s->stop();
    for (std::size_t i = 0; i < self->nsources; ++i) self->source_ptrs[i]->stop();
    if (self->admin) self->admin->stop();
    if (self->console) self->console->stop();
    if (self->watchdog) self->watchdog->stop();
    self->housekeeping_stop.notify();
  }
  static void wake_sinks(void* p) {
    for (auto& s : static_cast<Impl*>(p)->sinks)
      if (s) s->wake();
  }
  // Retention: purge what every sink has (bounded chunks, so one call never stalls the loop).
  Task<void> housekeeping() {
    while (!stopping && !cancelled()) {
      co_await housekeeping_stop.wait(std::chrono::seconds(10));
      if (stopping || cancelled()) break;
      auto now = hal::unix_ms();
      std::uint64_t purged = 0;
      // Earlier runs' events are aged by their wall ts only while the clock is not known to be wrong.
      const bool wall_trusted = !clock || clock->status().sync != ClockSync::not_synced;
      if (auto e = store.apply_retention(now, purged, wall_trusted)) {
        log::warn("retention failed: {}", e.message());
      } else if (purged) {
        log::debug("retention: purged {} event(s)", purged);
      }
    }
  }
  static bool idle(void* p) {
    auto* self = static_cast<Impl*>(p);
    return !self->committer || self->committer->idle();
  }
  // Frees the services, the sinks, the sources, the audit file and the store: after every task
  // has ended (a task suspended on a service would resume, or be cancelled, into freed memory).
  void release() {
    console.reset();
    admin.reset();
    watchdog.reset();
    ingest.reset();
    committer.reset();
    for (auto& s : sinks) s.reset();
    for (auto& s : sources) s.reset();
    audit_lease.reset();  // closes the audit file
    store_lease.reset();  // closes the database
  }
  // A start that failed part-way: what was started stops (as at shutdown), every task is
  // cancelled and the loop runs until all have ended (within kAbandonGrace), then the services
  // are released and every pool is checked.
  void abandon_start() {
    static constexpr auto kAbandonGrace = std::chrono::seconds(2);
    stop_admitting(this);
    tasks.cancel_all();
    const auto deadline = Clock::now() + kAbandonGrace;
    while (tasks.live() > 0 && Clock::now() < deadline) {
      reactor.io().run_for(std::chrono::milliseconds(10));
      if (reactor.io().stopped()) reactor.io().restart();
    }
    if (tasks.live() > 0) {
      // Freeing the services now would hand the live tasks freed memory: leave them allocated.
      log::error("start abandoned: {} task(s) did not end; services left in place", tasks.live());
      return;
    }
    release();
    log::info("start abandoned: every task ended, {} pool(s) not at zero", report_pools_in_use());
  }
};

namespace {
std::string ensure_parent_dir(const std::string& path) {
  std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (parent.empty()) return {};
  std::error_code ec;
  std::filesystem::create_directories(parent, ec);
  return ec ? fmt::format("cannot create directory {}: {}", parent.string(), ec.message()) : std::string();
}

SplitMode split_mode(const std::string& s) {
  return s == "ndjson"       ? SplitMode::ndjson
         : s == "json_array" ? SplitMode::json_array
         : s == "ics"        ? SplitMode::ics
                             : SplitMode::whole;
}

// Builds, prepares (URL, host, TLS) and starts every [[source]]; after the committer exists.
std::string start_sources(App::Impl& a) {
  const Config& c = a.cfg;
  if (c.sources.empty()) return {};
  std::uint32_t max_event = 0;
  for (const SourceConfig& s : c.sources) max_event = std::max(max_event, s.max_event_bytes);
  if (!a.source_json.init(max_event)) return "cannot size the JSON validator for sources";
  for (const SourceConfig& s : c.sources) {
    SourceOptions o;
    o.name = s.name;
    o.kind = s.type == "websocket" ? SourceKind::websocket : s.type == "mqtt" ? SourceKind::mqtt : SourceKind::http_poll;
    o.url = s.url;
    o.interval = s.interval;
    o.connect_timeout = s.connect_timeout;
    o.read_timeout = s.read_timeout;
    o.response_timeout = s.response_timeout;
    o.max_response_bytes = s.max_response_bytes;
    o.max_event_bytes = s.max_event_bytes;
    o.split = split_mode(s.split);
    o.subscribe = s.subscribe;
    o.ping_interval = s.ping_interval;
    o.pong_timeout = s.pong_timeout;
    o.backoff_base = s.backoff_base;
    o.backoff_cap = s.backoff_cap;
    o.queue = s.queue;
    o.breaker = BreakerOptions{s.breaker_failures, s.breaker_recovery, 1};
    o.ca_file = s.ca_file;
    o.client_cert = s.client_cert;
    o.client_key = s.client_key;
    o.tls_verify = s.tls_verify;
    o.dns_ttl = s.dns_ttl;
    o.select = s.select;
    o.filter = s.filter;
    o.decode = s.decode;
    o.dedupe_key = s.dedupe_key;
    o.dedupe_window = std::min(s.dedupe_window, budget::kMaxDedupeWindow);
    auto lease = a.source_pool.try_acquire();
    if (!lease) return fmt::format("source '{}': no slot in the source pool", s.name);
    Source* src = nullptr;
    if (o.kind == SourceKind::websocket) {
      WebSocketOptions ws;
      for (const std::string& rule : s.close_codes)  // checked by the config loader
        if (ws.close_rule_count < ws.close_rules.size() && !parse_close_rule(rule, ws.close_rules[ws.close_rule_count]))
          ++ws.close_rule_count;
      for (const SourceReplyConfig& r : s.reply) {  // checked by the config loader as well
        SourceReply& out = ws.replies.emplace_back();
        FilterError fe;
        TemplateError te;
        if (!Filter::compile(r.when, out.when, fe)) return fmt::format("source '{}': reply when: {}", s.name, fe.text());
        out.sends = !r.send.empty();
        if (out.sends && !Template::compile(r.send, TemplateKind::text, out.send, te))
          return fmt::format("source '{}': reply send: {}", s.name, te.what());
      }
      src = &lease->v.emplace<WebSocketSource>(a.tasks, *a.committer, a.source_json, a.source_conns, std::move(o), ws);
    } else if (o.kind == SourceKind::mqtt) {
      MqttSourceOptions m{s.topics, static_cast<std::uint8_t>(s.qos == "0" ? 0 : 1), s.client_id, s.username, s.password};
      src = &lease->v.emplace<MqttSource>(a.tasks, *a.committer, a.source_json, a.source_conns, std::move(o), std::move(m));
    } else {
      src = &lease->v.emplace<HttpPollSource>(a.tasks, *a.committer, a.source_json, a.source_conns, std::move(o));
    }
    if (auto e = src->prepare()) return fmt::format("source '{}': {}: {}", s.name, redact::url(s.url), e.message());
    if (auto* m = std::get_if<MqttSource>(&lease->v))
      if (auto e = m->prepare_mqtt()) return fmt::format("source '{}': {}: {}", s.name, redact::url(s.url), e.message());
    // The dedupe window as the store kept it (newest dedupe_window keys, oldest first); a source
    // without dedupe_key has its stored keys deleted (window 0).
    if (auto e = a.store.load_dedupe(s.name, src->dedupes() ? src->dedupe_window().capacity() : 0,
                                     [src](const DedupeKey& k) { src->preload_key(k); }))
      return fmt::format("source '{}': store: dedupe keys: {}", s.name, e.message());
    if (src->dedupes())
      log::info("source {}: dedupe window {} key(s), {} loaded from the store", s.name, src->dedupe_window().capacity(),
                src->dedupe_window().size());
    a.source_ptrs[a.nsources] = src;
    a.sources[a.nsources++] = std::move(lease);
  }
  a.source_set.list = std::span<Source* const>(a.source_ptrs.data(), a.nsources);
  for (std::size_t i = 0; i < a.nsources; ++i)
    if (!a.source_ptrs[i]->start()) return "source: no task slot";
  log::info("sources: {} started", a.nsources);
  return {};
}

}  // namespace

RuntimeView& App::view() { return impl_->view; }

App::App(Config cfg) : impl_(std::make_unique<Impl>(std::move(cfg))) {}
App::~App() = default;

namespace {
// Everything start() does; on an error it returns at once and start() abandons the start.
std::string start_all(App::Impl& a, const RunOptions& opts) {
  const Config& c = a.cfg;

  log::Level lvl{};
  if (log::parse_level(c.runtime.log_level, lvl)) log::set_level(lvl);

  // The values of ${env:…}/${file:…} references: scrubbed from every log line from here on
  // (the registry is sealed in run(), with the heap).
  for (const std::string& v : c.secret_values) (void)redact::add(v);
  for (const std::string& v : literal_secret_values(c)) (void)redact::add(v);  // the admin token, credential headers
  if (redact::refused() > 0)
    log::warn("secrets: {} value(s) not registered for log scrubbing (registry full: {} values, {} bytes)", redact::refused(),
              redact::kMaxSecrets, redact::kMaxSecretBytes);

  // Pools: the config may lower a limit, never raise it (the loader has checked).
  for (std::size_t i = 0; i < budget::kPools.size(); ++i) {
    if (PoolBase* p = PoolBase::find(budget::kPools[i].name)) p->set_limit(c.pool_limits[i]);
  }

  if (opts.print_budget) {
    std::string t = budget::table(c.pool_limits);
    std::fwrite(t.data(), 1, t.size(), stdout);
    std::fflush(stdout);
  }
  if (std::string err = budget::check_fd_limit(); !err.empty()) return err;

  // Store: open with health checks; a failed attempt leaves nothing open, so retrying is safe.
  if (std::string err = ensure_parent_dir(c.store.path); !err.empty()) return err;
  StoreOptions so;
  so.path = c.store.path;
  so.sync_full = c.store.synchronous == SyncLevel::full;
  so.max_batch = c.store.max_batch;
  so.max_pending = c.store.max_pending;
  so.overflow = c.store.overflow == Overflow::drop_oldest ? StoreOptions::Overflow::drop_oldest
                                                          : StoreOptions::Overflow::reject;
  so.retention_age_ms = c.store.retention_age.count();
  so.retention_bytes = c.store.retention_bytes;
  so.heap_limit = static_cast<std::int64_t>(c.store.sqlite_heap_limit);
  so.cache_kib = static_cast<int>(c.store.cache_kib);
  so.checkpoint_thread = c.store.checkpoint_thread;
  so.checkpoint_pages = c.store.checkpoint_pages;
  so.sync_thread = c.store.sync_thread;
  so.ack_log = c.store.ack_log;
  std::error_code ec;
  for (int attempt = 1; attempt <= 3; ++attempt) {
    ec = a.store.open(so);
    if (!ec) break;
    log::warn("store: open {} failed (attempt {}/3): {}", so.path, attempt, ec.message());
  }
  if (ec) return fmt::format("cannot open the store {}: {}", so.path, ec.message());
  for (std::size_t i = 0; i < c.sinks.size(); ++i) {
    const SinkConfig& s = c.sinks[i];
    int id = -1;
    if (auto e = a.store.register_sink(s.name, id)) return fmt::format("store: sink '{}': {}", s.name, e.message());
    SinkOptions so2;
    so2.name = s.name;
    so2.url = s.url;
    so2.sources = s.sources;
    so2.batch_events = s.batch_events;
    so2.batch_bytes = s.batch_bytes;
    so2.max_connections = s.max_connections;
    so2.connect_timeout = s.connect_timeout;
    so2.write_timeout = s.write_timeout;
    so2.read_timeout = s.read_timeout;
    so2.response_timeout = s.response_timeout;
    so2.pool_timeout = s.pool_timeout;
    so2.backoff_base = s.backoff_base;
    so2.backoff_cap = s.backoff_cap;
    so2.max_response_bytes = s.max_response_bytes;
    so2.breaker = BreakerOptions{s.breaker_failures, s.breaker_recovery, s.breaker_probes};
    so2.ca_file = s.ca_file;
    so2.client_cert = s.client_cert;
    so2.client_key = s.client_key;
    so2.tls_verify = s.tls_verify;
    so2.dns_ttl = s.dns_ttl;
    so2.method = s.method;
    so2.headers = s.headers;
    so2.format = s.format == "template" ? SinkFormat::templated : SinkFormat::envelope;
    so2.body = s.body;
    so2.filter = s.filter;
    so2.rate_limit = s.rate_limit;
    so2.rate_interval = s.rate_interval;
    so2.max_retry_after = s.max_retry_after;
    so2.type = s.type == "mqtt" ? SinkType::mqtt : SinkType::http;
    so2.topic = s.topic;
    so2.qos = s.qos == "0" ? 0 : 1;
    so2.client_id = s.client_id;
    so2.username = s.username;
    so2.password = s.password;
    so2.max_inflight = s.max_inflight;
    so2.keep_alive = s.keep_alive;
    a.sink_pool_names[i] = "sink_conn." + s.name;
    a.sinks[i] = a.sink_pool.try_acquire(a.tasks, a.store, id, std::move(so2), a.sink_pool_names[i]);
    if (!a.sinks[i]) return "sink: no slot in the sink pool";
    if (auto e = a.sinks[i]->prepare()) return fmt::format("sink '{}': {}: {}", s.name, redact::url(s.url), e.message());
  }
  log::info("store: {} open, last seq {}, {} pending", so.path, a.store.last_seq(), a.store.pending());

  if (c.audit.enabled) {
    if (std::string err = ensure_parent_dir(c.audit.path); !err.empty()) return err;
    AuditOptions ao{c.audit.path, c.audit.rotate_bytes, c.audit.keep};
    if (auto e = a.audit.open(ao)) {
      log::warn("audit: cannot open {}: {} (will retry on append)", ao.path, e.message());
    } else {
      AuditCatchUp caught;  // lines a crash kept from the disk, written again from the store
      (void)catch_up_audit(a.audit, a.store, caught);  // logged and counted; best effort like every audit write
    }
  }

  if (!a.json.init(c.ingest.max_event_bytes)) return "cannot size the JSON validator";
  a.clock = std::make_unique<ClockWatch>(c.clock.sync_check == "kernel" ? ClockSyncCheck::kernel : ClockSyncCheck::off);
  a.committer = std::make_unique<Committer>(a.reactor.io(), a.store, c.audit.enabled ? &a.audit : nullptr,
                                            c.store.max_batch, c.store.max_pending, c.store.commit_window);
#ifdef BH_TEST_HOOKS
  // Test hook: the power-cut test's self-check (toolchain/image/power_cut.py) runs a build that
  // acks before the fsync, and must see its cuts lose acked events.
  if (const char* v = std::getenv("BH_TEST_ACK_BEFORE_SYNC"); v && std::string_view(v) == "1") {
    a.committer->test_ack_before_sync();
    log::warn("TEST HOOK: BH_TEST_ACK_BEFORE_SYNC=1: events are acked before their fsync (a deliberately broken build)");
  }
#endif

  IngestOptions io;
  io.source = kIngestSourceName;
  io.max_event_bytes = c.ingest.max_event_bytes;
  io.idle_timeout = c.ingest.idle_timeout;
  io.line_timeout = c.ingest.line_timeout;
  io.write_timeout = c.ingest.idle_timeout;
  a.ingest = std::make_unique<IngestServer<budget::capacity(PoolId::ingest_conn)>>(a.tasks, *a.committer, a.json, io);
  a.ingest->pool().set_limit(c.ingest.max_connections);
  if (!c.ingest.tls_cert.empty()) {
    a.ingest_tls = std::make_unique<TlsListener<budget::capacity(PoolId::ingest_conn)>>();
    std::string why;
    if (a.ingest_tls->init("ingest", TlsServerOptions{c.ingest.tls_cert, c.ingest.tls_key, c.ingest.tls_client_ca}, why))
      return "ingest: TLS: " + why;
    a.ingest->tcp_acceptor().set_handshake(a.ingest_tls.get(), c.ingest.handshake_timeout);
  }
  a.committer->on_commit(&App::Impl::wake_sinks, &a);
  for (auto& s : a.sinks)
    if (s && !s->start()) return "sink: no task slot";
  if (std::string err = start_sources(a); !err.empty()) return err;
  if (!a.tasks.spawn("housekeeping", [&a] { return a.housekeeping(); })) return "no task slot for housekeeping";

  std::size_t nsinks = 0;
  for (auto& s : a.sinks)
    if (s) a.sink_ptrs[nsinks++] = s.get();
  a.view = RuntimeView{&a.cfg,      &a.reactor, &a.tasks, &a.store,           c.audit.enabled ? &a.audit : nullptr,
                       a.committer.get(), &a.json, &a.ingest->stats(), &a.ingest->pool(),
                       std::span<Sink* const>(a.sink_ptrs.data(), nsinks),
                       std::span<Source* const>(a.source_ptrs.data(), a.nsources), &a.source_set, nullptr,
                       hal::Clock::now(), std::chrono::system_clock::now()};
  a.view.clock = a.clock.get();

  // SIGTERM/SIGINT are ours before any listener accepts: a supervisor that signals as soon as a
  // port answers gets the graceful drain, not the default action (killed, exit 143).
  a.reactor.attach(a.tasks, Reactor::Hooks{&App::Impl::stop_admitting, &App::Impl::idle, &a});
  a.reactor.set_grace(c.runtime.shutdown_grace, std::chrono::seconds(1));
  a.reactor.handle_signals();

  // The operator surface: watchdog first (health feeds the others), then admin HTTP, console.
  a.watchdog = std::make_unique<WatchdogService>(a.view);
  if (std::string err = a.watchdog->start(); !err.empty()) return "watchdog: " + err;
  a.view.watchdog = a.watchdog->watchdog();
  if (a.ingest_tls) a.view.ingest_tls = &a.ingest_tls->stats();
  a.admin = std::make_unique<AdminService>(a.view);
  if (std::string err = a.admin->start(); !err.empty()) return "admin: " + err;
  a.console = std::make_unique<ConsoleService>(a.view);
  if (std::string err = a.console->start(); !err.empty()) return "console: " + err;

  // Ingest listens last: once it accepts, everything else (admin, console) is up too.
  asio::ip::tcp::endpoint ep;
  if (!parse_listen(c.ingest.listen, ep)) return fmt::format("ingest.listen: bad address '{}'", c.ingest.listen);
  if (auto e = a.ingest->listen_tcp(ep)) return fmt::format("ingest: cannot listen on {}: {}", c.ingest.listen, e.message());
  if (!c.ingest.unix_socket.empty()) {
    if (std::string err = ensure_parent_dir(c.ingest.unix_socket); !err.empty()) return err;
    if (auto e = a.ingest->listen_unix(c.ingest.unix_socket))
      return fmt::format("ingest: cannot listen on {}: {}", c.ingest.unix_socket, e.message());
  }
  if (!a.ingest->start()) return "ingest: no task slot for the acceptor";
  log::info("ingest: listening on {}{}{}{}", c.ingest.listen,
            !a.ingest_tls ? "" : a.ingest_tls->verifies_clients() ? " (TLS, client certificates required)" : " (TLS)",
            c.ingest.unix_socket.empty() ? "" : " and ", c.ingest.unix_socket);

  // Asio creates a socket type's service with the first socket of that type (a heap allocation).
  // Ingest and admin accept generic stream sockets now, so the sinks' and sources' TCP sockets
  // (made after sealing) would be the first TCP ones: make one here.
  { asio::basic_stream_socket<asio::ip::tcp, Executor> tcp_service(a.reactor.executor()); }
  // Every socket and timer the budget allows, once, before sealing (see Reactor::warm_up).
  a.reactor.warm_up(budget::total_fds(), 2 * budget::capacity(PoolId::task) + 16);
  return {};
}
}  // namespace

// A failed start stops and drains what it started before anything is freed (main() then
// destroys the App): see Impl::abandon_start.
std::string App::start(const RunOptions& opts) {
  std::string err = start_all(*impl_, opts);
  if (!err.empty()) impl_->abandon_start();
  return err;
}

int App::run() {
  Impl& a = *impl_;
  alloc::seal();
  redact::seal();
  log::info("bulkhead {} running (sealed: heap allocations from here on are counted)", BH_VERSION);
  bool graceful = a.reactor.run();
  if (!graceful) {
    log::error("forced exit: {} task(s) still live", a.tasks.live());
    return 130;
  }
  a.release();
  std::uint64_t after_seal = alloc::since_seal();
  int leaked = report_pools_in_use();
  log::info("stopped: {} heap allocation(s) after seal, {} pool(s) not at zero", after_seal, leaked);
  return leaked ? 1 : 0;
}

}  // namespace bh
