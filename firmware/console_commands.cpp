// The console command table and its handlers. Each handler prints into the session's fixed
// Output (fmt, no heap) and reads the system through the RuntimeView; answers longer than a page
// (tasks, dlq list, config) continue through CommandContext::more.
#include "firmware/console_commands.hpp"

#include <asio/bind_allocator.hpp>
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <charconv>
#include <cstring>

#include "firmware/budget.hpp"
#include "hal/proc.hpp"
#include "platform/alloc/alloc.hpp"
#include "platform/transport/breaker.hpp"
#include "platform/util/log.hpp"
#include "platform/util/redact.hpp"
#include "platform/store/sqlite.hpp"
#include "hal/clock.hpp"

namespace bh {
namespace {
using console::CommandContext;
using console::Command;
using console::Output;

constexpr std::size_t kRowRoom = 320;  // a row of any listing fits in this much Output

ConsoleState& state(CommandContext& c) noexcept { return *static_cast<ConsoleState*>(c.user); }
RuntimeView& view(CommandContext& c) noexcept { return *state(c).view; }

// Small fixed-size text for values formatted before they are aligned in a row.
struct Text {
  char buf[48];
  std::size_t n = 0;
  std::string_view sv() const noexcept { return {buf, n}; }
};
template <typename... Args>
Text text(fmt::format_string<Args...> f, Args&&... a) noexcept {
  Text t;
  auto r = fmt::format_to_n(t.buf, sizeof t.buf, f, std::forward<Args>(a)...);
  t.n = r.size < sizeof t.buf ? r.size : sizeof t.buf;
  return t;
}

Text bytes(std::uint64_t b) noexcept {
  if (b < 1024) return text("{} B", b);
  static constexpr const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(b) / 1024.0;
  std::size_t u = 0;
  while (v >= 1024.0 && u + 1 < std::size(kUnits)) {
    v /= 1024.0;
    ++u;
  }
  return text("{:.1f} {}", v, kUnits[u]);
}

Text duration(std::int64_t secs) noexcept {
  if (secs < 0) secs = 0;
  std::int64_t d = secs / 86400, h = secs / 3600 % 24, m = secs / 60 % 60, s = secs % 60;
  if (d > 0) return text("{}d {:02}:{:02}:{:02}", d, h, m, s);
  return text("{:02}:{:02}:{:02}", h, m, s);
}

std::int64_t seconds_since(Clock::time_point t) noexcept {
  return std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - t).count();
}

using hal::unix_ms;

// An error_code's text without std::string (message() allocates).
void print_error(CommandContext& c, std::string_view what, const std::error_code& ec) noexcept {
  if (&ec.category() == &sql::category()) {
    c.error("{}: {}", what, sqlite3_errstr(ec.value()));
  } else {
    const char* name = ec.category().name();
    if (ec.category() == std::system_category() || ec.category() == std::generic_category()) {
      char buf[128];
      const char* msg = ::strerror_r(ec.value(), buf, sizeof buf);
      c.error("{}: {}", what, msg);
    } else {
      c.error("{}: {} error {}", what, name, ec.value());
    }
  }
}

bool parse_u64(std::string_view s, std::uint64_t& out) noexcept {
  if (s.empty()) return false;
  auto r = std::from_chars(s.data(), s.data() + s.size(), out);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

// A bar gauge: `width` cells, '#' for in use, '|' marking the high-water mark beyond it.
Text gauge(std::uint32_t in_use, std::uint32_t high, std::uint32_t limit) noexcept {
  constexpr std::uint32_t kWidth = 20;
  Text t;
  auto cells = [&](std::uint32_t v) -> std::uint32_t {
    if (limit == 0 || v == 0) return 0;
    std::uint64_t c = (std::uint64_t{v} * kWidth + limit - 1) / limit;  // any use shows
    return c > kWidth ? kWidth : static_cast<std::uint32_t>(c);
  };
  std::uint32_t used = cells(in_use), hw = cells(high);
  t.buf[t.n++] = '[';
  for (std::uint32_t i = 0; i < kWidth; ++i) {
    char ch = '.';
    if (i < used) ch = '#';
    else if (hw > used && i == hw - 1) ch = '|';
    t.buf[t.n++] = ch;
  }
  t.buf[t.n++] = ']';
  return t;
}

// ---- help, version, status --------------------------------------------------------------------

void cmd_help(CommandContext& c) { c.table.help(c.out, c.args); }

void cmd_version(CommandContext& c) { c.out.print("bulkhead {}\n", BH_VERSION); }

void cmd_status(CommandContext& c) {
  RuntimeView& v = view(c);
  ConsoleState& s = state(c);
  Output& o = c.out;
  o.print("{:<12} {}\n", "version", BH_VERSION);
  o.print("{:<12} {}\n", "uptime", duration(seconds_since(v.started)).sv());
  o.print("{:<12} {}\n", "state", v.reactor ? run_state_name(v.reactor->state()) : "?");
  if (!v.watchdog) {
    o.print("{:<12} unknown (watchdog: not running)\n", "health");
  } else if (v.watchdog->healthy()) {
    o.print("{:<12} ok\n", "health");
  } else {
    const WatchdogCheckResult* f = v.watchdog->failing();
    o.print("{:<12} FAILING: {}: {}\n", "health", f ? f->name : "?", f ? check_detail(*f) : "");
  }
  const EventTotals t = event_totals(v);
  o.print("{:<12} in {}  acked {}  delivered {}  pending {}\n", "events", t.in, t.acked, t.delivered, t.pending);
  if (v.store) o.print("{:<12} {}\n", "last seq", v.store->last_seq());
  if (v.clock) {  // the wall clock: sync state, and its last step (size, how long ago on the monotonic clock)
    const ClockStatus& k = v.clock->status();
    o.print("{:<12} {}", "clock", clock_sync_name(k.sync));
    if (k.jumps == 0) o.write(", no jump\n");
    else
      o.print(", last jump {:+.3f} s {} ago ({} jumps)\n", static_cast<double>(k.last_jump_ns) / 1e9,
              duration(seconds_since(k.last_jump_at)).sv(), k.jumps);
  }
  if (v.watchdog) {
    o.print("{:<12} {:.1f} ms\n", "loop lag", v.watchdog->loop_lag_ms());
  } else {
    o.print("{:<12} n/a (watchdog: not running)\n", "loop lag");
  }
  if (v.ingest_pool)
    o.print("{:<12} ingest {}/{}", "connections", v.ingest_pool->in_use(), v.ingest_pool->limit());
  if (s.session_pool) o.print("  console {}/{}", s.session_pool->in_use(), s.session_pool->limit());
  o.push_back('\n');
  // Closes on the listeners' own deadlines and evictions (slow and stalled clients), non-zero only.
  o.print("{:<12}", "closes");
  const auto closes = [&o](std::string_view listener, const ListenerCloses* c) {
    if (!c) return;
    o.print(" {}:", listener);
    bool any = false;
    for (std::size_t r = 0; r < kCloseReasons; ++r) {
      if (c->n[r] == 0) continue;
      o.print("{} {} {}", any ? "," : "", kCloseReasonNames[r], c->n[r]);
      any = true;
    }
    if (!any) o.write(" none");
  };
  closes("ingest", v.ingest ? &v.ingest->closes : nullptr);
  closes("admin", v.admin_closes);
  closes("console", v.console_closes);
  o.push_back('\n');
}

// ---- pools, tasks ------------------------------------------------------------------------------

void cmd_pools(CommandContext& c) {
  Output& o = c.out;
  if (c.cursor == 0)
    o.print("{:<22} {:>9} {:>5} {:>5} {:>9} {:>7}  {:<22} {:>4}\n", "pool", "in use", "cap", "high", "refusals",
            "waits", "gauge (#: used |: high)", "use");
  std::uint64_t i = 0;
  for (PoolBase* p = PoolBase::first(); p; p = p->next(), ++i) {
    if (i < c.cursor) continue;
    if (o.room() < kRowRoom) {
      c.more(i);
      return;
    }
    PoolStats s = p->stats();
    unsigned pct = s.limit ? static_cast<unsigned>(std::uint64_t{s.in_use} * 100 / s.limit) : 0;
    o.print("{:<22} {:>9} {:>5} {:>5} {:>9} {:>7}  {:<22} {:>3}%\n", s.name, text("{}/{}", s.in_use, s.limit).sv(),
            s.capacity, s.high_water, s.refusals, s.waits, gauge(s.in_use, s.high_water, s.limit).sv(), pct);
  }
}

void cmd_tasks(CommandContext& c) {
  RuntimeView& v = view(c);
  Output& o = c.out;
  if (!v.tasks) {
    c.error("no task pool");
    return;
  }
  if (c.cursor == 0) {
    const TaskStats& ts = v.tasks->stats();
    PoolBase* tp = PoolBase::find("task");
    o.print("tasks: {} live of {}; spawned {}, completed {}, refused {}, frame refused {}, escaped {}, cancelled {}, "
            "largest arena use {} of {} B\n",
            v.tasks->live(), tp ? tp->limit() : 0, ts.spawned, ts.completed, ts.refused, ts.frame_refused, ts.escaped,
            ts.cancelled, ts.arena_high, TaskSlot::kArenaBytes);
    o.print("{:<22} {:>12} {:>7} {:>10} {:>9}  {}\n", "name", "age", "arena", "arena high", "overflows", "state");
  }
  struct Walk {
    CommandContext* c;
    std::uint64_t index = 0;
    bool stopped = false;
  } w{&c};
  v.tasks->for_each_task(
      [](const TaskSlot& t, void* p) {
        auto& w = *static_cast<Walk*>(p);
        std::uint64_t i = w.index++;
        if (w.stopped || i < w.c->cursor) return;
        if (w.c->out.room() < kRowRoom) {
          w.stopped = true;
          w.c->more(i);
          return;
        }
        w.c->out.print("{:<22} {:>12} {:>7} {:>10} {:>9}  {}\n", t.name, duration(seconds_since(t.started)).sv(), t.top,
                       t.arena_high, t.handlers.overflows(), t.cancel_requested ? "cancelling" : "running");
      },
      &w);
}

// ---- sources, sinks, store ---------------------------------------------------------------------

// `pause`/`resume` reach the sources through ConsoleState::sources or, when the console was set up
// without it, the RuntimeView's control.
SourceControl* source_control(CommandContext& c) noexcept {
  return state(c).sources ? state(c).sources : view(c).source_control;
}

// One source: a row, then its counters and last error (three lines, each under kRowRoom).
void print_source(Output& o, const Source& s) noexcept {
  const SourceStats& st = s.stats();
  const Breaker& b = s.breaker();
  o.print("{:<16} {:<10} {:<12} {}\n", s.options().name, s.type_name(),
          s.paused() ? std::string_view("paused") : source_state_name(s.state()), redact::url(s.options().url));
  o.print("  events {} (queued {}/{}), drops {} (queue full {}, at shutdown {}), too_large {}, bad_json {}, "
          "wrapped {}, {} {}, breaker {} ({} failure(s))\n",
          st.events, s.ring().count(), s.ring().max_count(), st.dropped + st.dropped_shutdown, st.dropped,
          st.dropped_shutdown, st.too_large, st.bad_json, st.wrapped,
          s.options().kind == SourceKind::http_poll ? "polls" : "messages",
          s.options().kind == SourceKind::http_poll ? st.polls : st.messages, breaker_state_name(b.state()),
          b.consecutive_failures());
  if (s.options().kind == SourceKind::http_poll) {
    o.print("  errors: connect {}, connect_timeout {}, tls {}, handshake_timeout {}, write_timeout {}, "
            "read_timeout {}, io {}, protocol {}, http {} (last {}), too_large_response {}; not_modified {}\n",
            st.connect_errors, st.connect_timeouts, st.tls_errors, st.handshake_timeouts, st.write_timeouts,
            st.read_timeouts, st.io_errors, st.protocol_errors, st.http_errors, st.last_status,
            st.responses_too_large, st.not_modified);
  } else {
    o.print("  errors: connect {}, connect_timeout {}, tls {}, handshake_timeout {}, write_timeout {}, "
            "read_timeout {}, io {}, protocol {}, violations {}, pong_timeout {}; closes {}, binary_dropped {}\n",
            st.connect_errors, st.connect_timeouts, st.tls_errors, st.handshake_timeouts, st.write_timeouts,
            st.read_timeouts, st.io_errors, st.protocol_errors, st.protocol_violations, st.pong_timeouts,
            st.peer_closes, st.binary_dropped);
    o.print("  close codes: stop {}, reconnect {} (throttled {}), backoff {}; replies sent {}, protocol messages {}, "
            "reply errors {}\n",
            st.closes_stop, st.closes_reconnect, st.reconnects_throttled, st.closes_backoff, st.replies_sent,
            st.protocol_messages, st.reply_errors);
  }
  o.write("  timeouts");
  for (std::size_t k = 0; k < kTimedOps; ++k)
    o.print(" {} {}/{} ({:.1f}%){}", kTimedOpNames[k], st.deadlines.timeouts[k], st.deadlines.ops[k],
            100.0 * st.deadlines.rate(k), k + 1 < kTimedOps ? "," : "\n");
  if (st.resolve_errors + st.resolve_timeouts + st.dns_stale_used > 0)
    o.print("  dns: resolve errors {}  timeouts {}  stale address used {}\n", st.resolve_errors, st.resolve_timeouts,
            st.dns_stale_used);
  if (s.last_error().empty()) {
    o.write("  last error: none\n");
  } else {
    o.print("  last error: {} ({} ago)\n", s.last_error(), duration(seconds_since(s.last_error_at())).sv());
  }
}

void cmd_sources(CommandContext& c) {
  RuntimeView& v = view(c);
  Output& o = c.out;
  if (c.cursor == 0) {
    o.print("{:<16} {:<10} {:<12} {}\n", "source", "type", "state", "detail");
    if (v.config && v.ingest) {
      o.print("{:<16} {:<10} {:<12} listen {}{}{}; {} connection(s), {} line(s), {} acked\n", kIngestSourceName,
              "built-in", "running", v.config->ingest.listen, v.config->ingest.unix_socket.empty() ? "" : " and ",
              v.config->ingest.unix_socket, v.ingest_pool ? v.ingest_pool->in_use() : 0, v.ingest->lines,
              v.ingest->ok);
    }
  }
  if (!v.sources.empty()) {
    for (std::size_t i = c.cursor; i < v.sources.size(); ++i) {
      if (o.room() < 7 * kRowRoom) {
        c.more(i);
        return;
      }
      print_source(o, *v.sources[i]);
    }
    return;
  }
  if (!v.config) return;
  for (const SourceConfig& src : v.config->sources) {
    if (o.room() < kRowRoom) break;
    o.print("{:<16} {:<10} {:<12} {}\n", src.name, src.type, "not running", redact::url(src.url));
  }
}

void set_paused(CommandContext& c, bool pause) {
  RuntimeView& v = view(c);
  std::string_view name = c.arg(0);
  if (name == kIngestSourceName) {
    c.error("source '{}' (the built-in TCP/HTTP ingest) cannot be paused", name);
    return;
  }
  if (SourceControl* ctl = source_control(c)) {
    switch (ctl->set_paused(name, pause)) {
      case SourceControl::Result::ok: c.out.print("source '{}' {}\n", name, pause ? "paused" : "resumed"); return;
      case SourceControl::Result::unchanged:
        c.out.print("source '{}' was already {}\n", name, pause ? "paused" : "running");
        return;
      case SourceControl::Result::not_running: c.error("source '{}' is not running", name); return;
      case SourceControl::Result::no_such_source: break;
    }
  }
  if (v.config) {
    for (const SourceConfig& src : v.config->sources) {
      if (src.name == name) {
        c.error("source '{}' is not running", name);
        return;
      }
    }
  }
  c.error("no source named '{}'", name);
}
void cmd_pause(CommandContext& c) { set_paused(c, true); }
void cmd_resume(CommandContext& c) { set_paused(c, false); }

void cmd_sinks(CommandContext& c) {
  RuntimeView& v = view(c);
  Output& o = c.out;
  if (v.sinks.empty()) {
    o.write("no sinks configured\n");
    return;
  }
  for (std::uint64_t i = c.cursor; i < v.sinks.size(); ++i) {
    if (o.room() < kRowRoom + 2500) {  // a URL may be 2048 bytes, a host name 253
      c.more(i);
      return;
    }
    Sink& sk = *v.sinks[i];
    const DeliveryStats& d = sk.stats();
    const std::uint64_t pending = sink_pending(v, sk);
    o.print("sink {}  {}\n", sk.options().name, redact::url(sk.options().url));
    o.print("  pending {}  delivered {} ({} batches)  retries {}  dead letters {} ({} events)  replayed {}\n", pending,
            d.delivered, d.batches, d.retries, d.dead_lettered, d.dead_events, d.replayed);
    o.print("  breaker {} (consecutive failures {})  connections {}/{}  last status {}\n",
            breaker_state_name(sk.breaker().state()), sk.breaker().consecutive_failures(), sk.pool().in_use(),
            sk.pool().limit(), d.last_status);
    if (!sk.dns().is_static())
      o.print("  dns {}: resolve errors {}  timeouts {}  stale address used {}\n", sk.dns().host(), d.resolve_errors,
              d.resolve_timeouts, d.dns_stale_used);
    // Deadlines: timed out / run, and the violation rate, per kind of operation.
    o.write("  timeouts");
    for (std::size_t k = 0; k < kTimedOps; ++k)
      o.print(" {} {}/{} ({:.1f}%){}", kTimedOpNames[k], d.deadlines.timeouts[k], d.deadlines.ops[k],
              100.0 * d.deadlines.rate(k), k + 1 < kTimedOps ? "," : "\n");
  }
}

void cmd_store(CommandContext& c) {
  RuntimeView& v = view(c);
  Output& o = c.out;
  if (!v.store) {
    c.error("store not open");
    return;
  }
  StoreStats s = v.store->stats();
  const Config* cfg = v.config;
  o.print("{:<12} {} ({} on disk, {} live)\n", "database", cfg ? std::string_view(cfg->store.path) : "?",
          bytes(s.db_bytes).sv(), bytes(s.live_bytes).sv());
  o.print("{:<12} last {}, durable {}, oldest retained {}\n", "seq", s.last_seq, s.durable_seq, s.oldest_seq);
  if (s.sync_thread) {
    const double avg = s.syncer.syncs ? static_cast<double>(s.syncer.total_us) / static_cast<double>(s.syncer.syncs) / 1000.0 : 0.0;
    o.print("{:<12} {} WAL sync(s) by the syncer thread, avg {:.2f} ms, max {:.2f} ms; {} failed, {} event(s) undone\n",
            "syncs", s.syncer.syncs, avg, static_cast<double>(s.syncer.max_us) / 1000.0, s.syncer.failures, s.undone);
  }
  if (s.ack_log || s.log.replayed) {
    o.print("{:<12} {}: {} batch(es) in {} block(s); {} held commit(s){}; {} event(s) replayed at start\n", "ack log",
            s.ack_log ? "on" : "off", s.log.records, s.log.blocks, s.settles, s.held ? ", one open now" : "", s.log.replayed);
  }
  o.print("{:<12} {} (cap {}, overflow {})\n", "pending", s.pending, cfg ? cfg->store.max_pending : 0,
          cfg ? kOverflowNames[static_cast<std::size_t>(cfg->store.overflow)] : "?");
  o.print("{:<12} {} event(s) in {} commit(s) since start\n", "appended", s.appended, s.batches);
  o.print("{:<12} process wrote {}; SQLite wrote WAL {}, database {}, other {}; {} commit(s), {} fsync(s)\n", "disk",
          bytes(hal::io_write_bytes()).sv(), bytes(s.io.wal_bytes).sv(), bytes(s.io.db_bytes).sv(),
          bytes(s.io.other_bytes).sv(), s.commits, s.fsyncs);
  if (v.committer) {
    const CommitterStats& cs = v.committer->stats();
    double avg = cs.batches ? static_cast<double>(cs.total_commit_us) / static_cast<double>(cs.batches) / 1000.0 : 0.0;
    o.print("{:<12} largest batch {}, commit avg {:.2f} ms, max {:.2f} ms; refused busy {}, shutting down {}\n",
            "commits", cs.largest_batch, avg, static_cast<double>(cs.max_commit_us) / 1000.0, cs.refused[WireError::busy],
            cs.refused[WireError::shutting_down]);
    o.print("{:<12} {} event(s) waiting for their sync (most {}), ring full {} time(s)\n", "in flight", cs.in_flight,
            cs.max_in_flight, cs.ring_waits);
  }
  o.print("{:<12} dropped {}, purged {}, dead-lettered {} batch(es), commit errors {}, read errors {}\n", "counters",
          s.dropped, s.purged, s.dead_lettered, s.commit_errors, s.read_errors);
  for (std::uint32_t i = 0; i < s.sink_count && i < s.sinks.size(); ++i)
    o.print("{:<12} {} cursor {} ({} pending)\n", i == 0 ? "cursors" : "", s.sinks[i].name, s.sinks[i].cursor,
            s.sinks[i].pending);
  if (v.audit) {
    AuditStats a = v.audit->stats();
    o.print("{:<12} {} {} ({}), {} line(s) written, {} lost, {} rotation(s), {} recovered at start ({} gap)\n", "audit",
            v.audit->path(), a.open ? "open" : "CLOSED", bytes(a.file_bytes).sv(), a.lines, a.lost_lines, a.rotations,
            a.recovered_lines, a.unrecoverable_seqs);
  } else {
    o.print("{:<12} disabled\n", "audit");
  }
}

// ---- fds, mem ----------------------------------------------------------------------------------

struct FdCounts {
  int total = 0, sockets = 0, files = 0, devices = 0, pipes = 0, other = 0;
};

// Walks /proc/self/fd with getdents64 on a fixed buffer (opendir would malloc) and classifies each
// entry by its link target.
bool count_fds(FdCounts& n) noexcept {
  int dir = ::open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) return false;
  alignas(8) char buf[4096];
  for (;;) {
    long got = ::syscall(SYS_getdents64, dir, buf, sizeof buf);
    if (got <= 0) break;
    for (long off = 0; off < got;) {
      auto reclen = *reinterpret_cast<unsigned short*>(buf + off + 16);
      const char* name = buf + off + 19;
      off += reclen;
      if (name[0] == '.') continue;
      int fd = 0;
      std::from_chars(name, name + std::strlen(name), fd);
      if (fd == dir) continue;
      char target[256];
      ssize_t len = ::readlinkat(dir, name, target, sizeof target - 1);
      ++n.total;
      if (len <= 0) {
        ++n.other;
        continue;
      }
      std::string_view t(target, static_cast<std::size_t>(len));
      if (t.starts_with("socket:")) ++n.sockets;
      else if (t.starts_with("pipe:")) ++n.pipes;
      else if (t.starts_with("/dev/")) ++n.devices;
      else if (t.starts_with("/")) ++n.files;
      else ++n.other;
    }
  }
  ::close(dir);
  return true;
}

void cmd_fds(CommandContext& c) {
  Output& o = c.out;
  FdCounts n;
  if (!count_fds(n)) {
    c.error("cannot read /proc/self/fd");
    return;
  }
  hal::FdLimit lim = hal::fd_limit();
  o.print("{:<12} {} open of budget {} (ceiling {}, RLIMIT_NOFILE {})\n", "fds", n.total, budget::total_fds(),
          budget::kFdCeiling, lim.soft);
  o.print("  {:<10} {:>5}\n", "sockets", n.sockets);
  o.print("  {:<10} {:>5}\n", "files", n.files);
  o.print("  {:<10} {:>5}\n", "devices", n.devices);
  o.print("  {:<10} {:>5}\n", "pipes", n.pipes);
  o.print("  {:<10} {:>5}  (epoll, eventfd, timerfd, ...)\n", "other", n.other);
}

void cmd_mem(CommandContext& c) {
  RuntimeView& v = view(c);
  Output& o = c.out;
  std::uint64_t budget_bytes = v.config ? v.config->watchdog.memory_budget : 0;
  o.print("{:<12} {} (peak {}) of budget {}\n", "rss", bytes(hal::rss_bytes()).sv(), bytes(hal::peak_rss_bytes()).sv(),
          bytes(budget_bytes).sv());
  if (v.store) {
    StoreStats s = v.store->stats();
    o.print("{:<12} {} (high-water {}) of limit {}\n", "sqlite", bytes(static_cast<std::uint64_t>(s.sqlite_mem_used)).sv(),
            bytes(static_cast<std::uint64_t>(s.sqlite_mem_highwater)).sv(),
            bytes(static_cast<std::uint64_t>(s.sqlite_heap_limit)).sv());
  }
  o.print("{:<12} {} allocation(s) after seal{}, {} in all\n", "heap", alloc::since_seal(),
          alloc::sealed() ? "" : " (not sealed)", alloc::count());
}

// ---- watchdog ----------------------------------------------------------------------------------

// A measured figure: whole numbers as integers, others with one decimal.
Text figure(double v) noexcept {
  if (v >= -9.0e15 && v <= 9.0e15 && v == static_cast<double>(static_cast<std::int64_t>(v)))
    return text("{}", static_cast<std::int64_t>(v));
  return text("{:.1f}", v);
}

std::string_view detail_of(const char* d, std::size_t cap) noexcept { return {d, ::strnlen(d, cap)}; }

// Page 0: state, counters and every check; page k >= 1: history from entry k - 1.
void cmd_watchdog(CommandContext& c) {
  RuntimeView& v = view(c);
  ConsoleState& s = state(c);
  Output& o = c.out;
  if (!v.watchdog) {
    o.write("watchdog: not running\n");
    if (s.hwm_resets) o.print("{:<12} {}\n", "hwm resets", s.hwm_resets);
    return;
  }
  Watchdog& w = *v.watchdog;
  std::size_t from = 0;
  if (c.cursor == 0) {
    WatchdogCounters k = w.counters();
    o.print("{:<12} {}, {}\n", "health", w.healthy() ? "ok" : "FAILING",
            w.feeding() ? "feeding" : "NOT feeding (a check failed longer than grace)");
    o.print("{:<12} {:.1f} ms (max {:.1f} ms)\n", "loop lag", w.loop_lag_ms(), k.max_loop_lag_ms);
    o.print("{:<12} ticks {}, feeds {}, missed feeds {}, failures {}, saturations {}, hwm resets {}, "
            "device errors {}, notify errors {}\n",
            "counters", k.ticks, k.feeds, k.missed_feeds, k.failures, k.saturations, k.hwm_resets, k.device_errors,
            k.notify_errors);
    o.print("{:<14} {:<7} {:>12} {:>12}  {}\n", "check", "result", "value", "limit", "detail");
    for (std::size_t i = 0; i < w.check_count(); ++i) {
      const WatchdogCheckResult& r = w.check(i);
      const char* res = !r.ok ? "FAIL" : (r.warn ? "warn" : "ok");
      o.print("{:<14} {:<7} {:>12} {:>12}  {}\n", r.name, res, figure(r.value).sv(), figure(r.limit).sv(),
              check_detail(r));
    }
    std::size_t n = w.history_size();
    o.print("history ({} event(s), oldest first):\n", n);
    if (n == 0) o.write("  (none)\n");
  } else {
    from = static_cast<std::size_t>(c.cursor - 1);
  }
  std::int64_t now = unix_ms();
  for (std::size_t i = from; i < w.history_size(); ++i) {
    if (o.room() < kRowRoom) {
      c.more(i + 1);
      return;
    }
    const WatchdogEvent& e = w.history(i);
    o.print("  {:>12} ago  {:<16} {:<14} {}\n", duration((now - e.wall_ms) / 1000).sv(),
            watchdog_event_name(e.kind), e.check, detail_of(e.detail, sizeof e.detail));
  }
}

void cmd_watchdog_reset_hwm(CommandContext& c) {
  RuntimeView& v = view(c);
  ConsoleState& s = state(c);
  std::uint32_t n = 0;
  if (v.watchdog) {
    n = v.watchdog->reset_high_water_marks();  // counts, logs and records it itself
  } else {
    for (PoolBase* p = PoolBase::first(); p; p = p->next(), ++n) p->reset_high_water();
    log::info("console: watchdog reset-hwm: high-water marks of {} pool(s) reset", n);
  }
  ++s.hwm_resets;
  c.out.print("reset the high-water marks of {} pool(s)\n", n);
}

// ---- dlq ---------------------------------------------------------------------------------------

void cmd_dlq_list(CommandContext& c) {
  RuntimeView& v = view(c);
  if (!v.store) {
    c.error("store not open");
    return;
  }
  struct Walk {
    CommandContext* c;
    Store* store;
    std::int64_t now;
    std::uint64_t shown = 0;
    bool stopped = false;
  } w{&c, v.store, unix_ms()};
  if (c.cursor == 0)
    c.out.print("{:>6} {:<16} {:>23} {:>7} {:<10} {:>4} {:>12}  {}\n", "id", "sink", "seqs", "events", "status", "http",
                "age", "reason");
  std::error_code ec = v.store->list_dead([&w](const DeadLetter& d) {
    if (w.stopped || static_cast<std::uint64_t>(d.id) <= w.c->cursor) return;
    if (w.c->out.room() < kRowRoom) {
      w.stopped = true;
      w.c->more(static_cast<std::uint64_t>(d.id) - 1);
      return;
    }
    ++w.shown;
    w.c->out.print("{:>6} {:<16} {:>23} {:>7} {:<10} {:>4} {:>12}  {}\n", d.id, w.store->sink_name(d.sink),
                   text("{}-{}", d.first_seq, d.last_seq).sv(), d.last_seq - d.first_seq + 1,
                   dead_status_name(d.status), d.http_status, duration((w.now - d.ts_ms) / 1000).sv(), d.reason());
  });
  if (ec) {
    print_error(c, "store", ec);
    return;
  }
  if (c.cursor == 0 && w.shown == 0 && !w.stopped) c.out.write("no dead letters\n");
}

void wake_sinks(RuntimeView& v) noexcept {
  for (Sink* s : v.sinks) s->wake();
}

void cmd_dlq_replay(CommandContext& c) {
  RuntimeView& v = view(c);
  std::string_view a = c.arg(0);
  std::uint64_t seq = 0;
  bool all = a == "all";
  if (!all && (!parse_u64(a, seq) || seq == 0)) {
    c.usage();
    return;
  }
  if (!v.store) {
    c.error("store not open");
    return;
  }
  std::uint64_t count = 0;
  std::error_code ec = all ? v.store->mark_replay(0, count) : v.store->mark_replay_seq(seq, count);
  if (ec) {
    print_error(c, "store", ec);
    return;
  }
  if (count > 0) {
    wake_sinks(v);
    log::info("console: dlq replay {}: {} dead letter(s) marked for replay", a, count);
  }
  if (!all && count == 0) {
    c.error("no dead letter holds seq {}", seq);
    return;
  }
  c.out.print("{} dead letter(s) marked for replay\n", count);
}

void cmd_dlq_purge(CommandContext& c) {
  RuntimeView& v = view(c);
  std::string_view a = c.arg(0);
  std::uint64_t id = 0;
  bool all = a == "all";
  if (!all && (!parse_u64(a, id) || id == 0 || id > static_cast<std::uint64_t>(INT64_MAX))) {
    c.usage();
    return;
  }
  if (!v.store) {
    c.error("store not open");
    return;
  }
  std::uint64_t count = 0;
  if (std::error_code ec = v.store->purge_dead(static_cast<std::int64_t>(id), count)) {
    print_error(c, "store", ec);
    return;
  }
  if (count > 0) log::info("console: dlq purge {}: {} dead letter(s) deleted", a, count);
  if (!all && count == 0) {
    c.error("no dead letter with id {}", id);
    return;
  }
  c.out.print("{} dead letter(s) purged\n", count);
}

// ---- log, config, shutdown ---------------------------------------------------------------------

void cmd_log_level(CommandContext& c) {
  log::Level before = log::level();
  if (c.args.empty()) {
    c.out.print("log level {}\n", log::level_name(before));
    return;
  }
  log::Level lvl{};
  if (!log::parse_level(c.arg(0), lvl)) {
    c.usage();
    return;
  }
  log::set_level(lvl);
  ++state(c).log_level_changes;
  log::info("console: log level {} -> {}", log::level_name(before), log::level_name(lvl));
  c.out.print("log level {} (was {})\n", log::level_name(lvl), log::level_name(before));
}

void cmd_config(CommandContext& c) {
  const std::string& t = state(c).config_text;
  std::size_t at = static_cast<std::size_t>(c.cursor);
  // A '\n' takes two bytes on a terminal: fill to half the room per page, whatever the backend.
  std::size_t n = c.out.room() / 2;
  if (at + n < t.size()) {
    std::size_t nl = t.rfind('\n', at + n);  // end the page at a line end when one is in it
    if (nl != std::string::npos && nl >= at) n = nl + 1 - at;
    c.out.write(std::string_view(t).substr(at, n));
    c.more(at + n);
    return;
  }
  c.out.write(std::string_view(t).substr(at));
}

void cmd_shutdown(CommandContext& c) {
  RuntimeView& v = view(c);
  c.out.write("shutting down\n");
  if (v.reactor) v.reactor->shutdown("console");
}

#ifdef BH_TEST_HOOKS
// `clock advance <duration>` (test hook, hidden from help): moves hal::Clock on, so that an idle
// timeout, a breaker's recovery or a backoff elapses at once. Asio re-arms its timerfd only for a
// timer that becomes the earliest: one set to the clock's epoch (earlier than all) makes the
// reactor look at its timers and fire every one now due. Its one handler uses a static arena.
void cmd_clock_advance(CommandContext& c) {
  Millis d{};
  if (!parse_duration(c.arg(0), d) || d.count() <= 0) {
    c.usage();
    return;
  }
  hal::Clock::advance(d);
  if (RuntimeView& v = view(c); v.reactor) {
    static HandlerArena arena;
    Timer wake(v.reactor->io().get_executor());
    wake.expires_at(Clock::time_point{});
    wake.async_wait(asio::bind_allocator(HandlerAllocator<void>(&arena), [](const std::error_code&) {}));
  }  // the wait is cancelled here; the timerfd stays armed
  c.out.print("clock advanced {} ms (offset {} ms)\n", d.count(),
              std::chrono::duration_cast<Millis>(hal::Clock::offset()).count());
}

// `clock step <+|-duration>` (test hook, hidden; for the emulated board only, never in a native
// test: it moves the machine's clock): clock_settime(CLOCK_REALTIME) by that much, as an NTP step.
// The clock watch looks at once, so `status` shows the jump when this answers.
void cmd_clock_step(CommandContext& c) {
  std::string_view a = c.arg(0);
  const bool back = !a.empty() && a.front() == '-';
  if (!a.empty() && (a.front() == '-' || a.front() == '+')) a.remove_prefix(1);
  Millis d{};
  if (!parse_duration(a, d) || d.count() <= 0) {
    c.usage();
    return;
  }
  if (auto ec = hal::step_wall(back ? -d : d)) {
    print_error(c, "clock step", ec);
    return;
  }
  if (RuntimeView& v = view(c); v.clock) v.clock->tick(Clock::now());
  c.out.print("clock stepped {}{} ms\n", back ? '-' : '+', d.count());
}

// `clock synced` (test hook, hidden; emulated board only): clears STA_UNSYNC and the max error
// with adjtimex, as systemd-timesyncd does after setting the time; the clock watch looks at once.
void cmd_clock_synced(CommandContext& c) {
  if (auto ec = hal::mark_kernel_synced()) {
    print_error(c, "clock synced", ec);
    return;
  }
  RuntimeView& v = view(c);
  if (v.clock) v.clock->tick(Clock::now());
  c.out.print("clock {}\n", v.clock ? clock_sync_name(v.clock->status().sync) : "unwatched");
}
#endif

// ---- the table ---------------------------------------------------------------------------------

constexpr Command kWatchdogSub[] = {
    {"reset-hwm", "reset every pool's high-water mark (counted and logged)", "watchdog reset-hwm", 0, 0,
     cmd_watchdog_reset_hwm},
};

constexpr Command kDlqSub[] = {
    {"list", "list dead letters: id, sink, seq range, status, HTTP status, age, reason", "dlq list", 0, 0,
     cmd_dlq_list},
    {"replay", "deliver again the dead letter holding <seq>, or all of them", "dlq replay <seq|all>", 1, 1,
     cmd_dlq_replay},
    {"purge", "delete the dead letter <id>, or all of them", "dlq purge <id|all>", 1, 1, cmd_dlq_purge},
};

constexpr Command kLogSub[] = {
    {"level", "show or set the log level", "log level [debug|info|warn|error|off]", 0, 1, cmd_log_level},
};

#ifdef BH_TEST_HOOKS
constexpr Command kClockSub[] = {
    {"advance", "move the monotonic clock on (timers due by then fire)", "clock advance <duration>", 1, 1,
     cmd_clock_advance},
    {"step", "step the wall clock (clock_settime) by a signed duration", "clock step <+|-duration>", 1, 1,
     cmd_clock_step},
    {"synced", "mark the kernel clock synchronised (adjtimex)", "clock synced", 0, 0, cmd_clock_synced},
};
#endif

constexpr Command kCommands[] = {
    {"help", "list commands, or show one", "help [command [subcommand]]", 0, 2, cmd_help},
    {"status", "uptime, version, health, events in/acked/delivered, loop lag", "status", 0, 0, cmd_status},
    {"pools", "every pool: in use / limit, capacity, high-water, refusals, gauge", "pools", 0, 0, cmd_pools},
    {"tasks", "live tasks: name, age, arena use", "tasks", 0, 0, cmd_tasks},
    {"sources", "event sources and their state", "sources", 0, 0, cmd_sources},
    {"sinks", "per sink: url, pending, delivered, retries, dead letters, breaker", "sinks", 0, 0, cmd_sinks},
    {"store", "the outbox: seqs, pending, commits, size, cursors, audit log", "store", 0, 0, cmd_store},
    {"fds", "open file descriptors by kind, against the budget", "fds", 0, 0, cmd_fds},
    {"mem", "RSS, SQLite memory, heap allocations after seal", "mem", 0, 0, cmd_mem},
    {"watchdog", "health checks and their results; reset-hwm", "watchdog [reset-hwm]", 0, 0, cmd_watchdog,
     kWatchdogSub},
    {"dlq", "dead letters: list, replay, purge", "dlq list|replay <seq|all>|purge <id|all>", 0, 0, nullptr, kDlqSub},
    {"pause", "stop polling a source", "pause <source>", 1, 1, cmd_pause},
    {"resume", "resume a paused source", "resume <source>", 1, 1, cmd_resume},
    {"log", "the log level", "log level [debug|info|warn|error|off]", 0, 0, nullptr, kLogSub},
    {"config", "the effective configuration (TOML)", "config", 0, 0, cmd_config},
    {"version", "the version", "version", 0, 0, cmd_version},
    {"shutdown", "drain and stop bulkhead (exits 0 when every pool is back at zero)", "shutdown", 0, 0, cmd_shutdown},
#ifdef BH_TEST_HOOKS
    {"clock", "test hook: the monotonic and wall clocks", "clock advance <duration>|step <+|-duration>|synced", 0, 0, nullptr, kClockSub, true},
#endif
};

constexpr console::CommandTable kTable{kCommands};

}  // namespace

const console::CommandTable& console_commands() noexcept { return kTable; }

}  // namespace bh
