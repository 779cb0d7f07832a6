// Store implementation (see store.hpp). Invariants kept here:
// - Seqs grow across restarts even when retention purged every event: at open, next_seq is the
//   largest of meta.next_seq, max(events.seq) + 1 and meta.purged_upto + 1. An append does not
//   rewrite meta (issue 16: that was a second 4 KiB WAL frame in every commit); its rows are their
//   own record. Retention, which deletes rows, raises meta.next_seq in the same transaction, so
//   meta alone stays a valid lower bound for older builds too.
// - Sink cursors are kept in memory at once and persisted at most every kCursorPersist (and at
//   close, retention and dead letters): after a crash a sink may get up to that much of its last
//   deliveries again (at-least-once, wire.md section 2), never fewer.
// - Retained events form a contiguous tail [oldest_, last_seq] (retention deletes a seq prefix),
//   plus "islands" below oldest_ kept alive by 'dead'/'replaying' dead letters. Every cursor is
//   >= oldest_ - 1, so pending = last_seq - min cursor exactly, in O(1).
// - Every write path runs in a TxnGuard or a single autocommit statement: after any error the
//   connection is back in autocommit mode and the in-memory state is unchanged.
#include "platform/store/store.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>

#include "platform/core/reactor_thread.hpp"
#include "platform/store/fault_vfs.hpp"
#include "platform/util/assert.hpp"
#include "platform/util/fault.hpp"
#include "platform/util/log.hpp"

namespace bh {

namespace {

// The fault plan's seams in the store (platform/util/fault.hpp), on the write path and the reads
// the delivery loop makes: each answers exactly as the real call would have failed.
int step_or_fault(sql::Stmt& s) noexcept { return fault::hit(fault::Op::sqlite_step) ? SQLITE_IOERR : s.step(); }
std::error_code begin_or_fault(sql::TxnGuard& t) noexcept {
  return fault::hit(fault::Op::sqlite_txn) ? sql::make_error(SQLITE_IOERR) : t.begin();
}
std::error_code commit_or_fault(sql::TxnGuard& t) noexcept {
  return fault::hit(fault::Op::sqlite_txn) ? sql::make_error(SQLITE_IOERR) : t.commit();
}

class StoreCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "bh.store"; }
  std::string message(int e) const override {
    switch (static_cast<StoreErrc>(e)) {
      case StoreErrc::not_open: return "store not open";
      case StoreErrc::invalid_argument: return "invalid argument";
      case StoreErrc::unknown_sink: return "unknown sink";
      case StoreErrc::too_many_sinks: return "too many sinks";
      case StoreErrc::bad_cursor: return "cursor out of range";
      case StoreErrc::health_check: return "database health check failed";
      case StoreErrc::schema: return "database schema is newer than this build";
    }
    return "unknown store error";
  }
};

// Schema versions: 1 (events, sinks, dead letters); 2 (issue #13) adds `dedupe`, the sources'
// dedupe keys; 3 (issue #14) adds the nullable `events.identity`, the authenticated client of a
// TLS ingest connection; 4 (issue #17) adds the nullable `events.clock_unsynced` (1: stamped while
// the wall clock was not synced). The script is idempotent (IF NOT EXISTS): run on an older
// database it is the migration (new tables are created, nothing else changes); the columns of
// kAddedColumns are added before it when the events table lacks them. A newer version is refused.
constexpr int kSchemaVersion = 4;
struct AddedColumn {
  const char* has;  // counts the column (0: missing)
  const char* add;
};
constexpr AddedColumn kAddedColumns[] = {
    {"SELECT count(*) FROM pragma_table_info('events') WHERE name = 'identity'",
     "ALTER TABLE events ADD COLUMN identity TEXT"},
    {"SELECT count(*) FROM pragma_table_info('events') WHERE name = 'clock_unsynced'",
     "ALTER TABLE events ADD COLUMN clock_unsynced INTEGER"},
};

constexpr const char* kSchema =
    "BEGIN IMMEDIATE;"
    "CREATE TABLE IF NOT EXISTS meta(id INTEGER PRIMARY KEY CHECK (id = 1),"
    " next_seq INTEGER NOT NULL, purged_upto INTEGER NOT NULL);"
    "INSERT OR IGNORE INTO meta(id, next_seq, purged_upto) VALUES(1, 1, 0);"
    "CREATE TABLE IF NOT EXISTS events(seq INTEGER PRIMARY KEY, ts_ms INTEGER NOT NULL,"
    " source TEXT NOT NULL, body BLOB NOT NULL, identity TEXT, clock_unsynced INTEGER);"
    "CREATE TABLE IF NOT EXISTS sinks(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,"
    " cursor INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS dead_letters(id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " sink INTEGER NOT NULL, first_seq INTEGER NOT NULL, last_seq INTEGER NOT NULL,"
    " status TEXT NOT NULL CHECK (status IN ('dead', 'replaying', 'replayed')),"
    " reason TEXT NOT NULL, http_status INTEGER NOT NULL, ts_ms INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS dead_letters_by_status ON dead_letters(status, sink, id);"
    "CREATE TABLE IF NOT EXISTS dedupe(source TEXT NOT NULL, seq INTEGER NOT NULL, key BLOB NOT NULL,"
    " PRIMARY KEY(source, seq)) WITHOUT ROWID;"
    "PRAGMA user_version = 4;"
    "COMMIT;";

// Events inside a 'dead'/'replaying' dead letter are kept for replay.
#define BH_UNPROTECTED                                                                     \
  " AND NOT EXISTS (SELECT 1 FROM dead_letters d WHERE d.status IN ('dead', 'replaying')" \
  " AND events.seq BETWEEN d.first_seq AND d.last_seq)"
#define BH_DEAD_COLS "id, sink, first_seq, last_seq, status, reason, http_status, ts_ms"

std::error_code err(StoreErrc e) noexcept { return make_error_code(e); }
std::int64_t i64(std::uint64_t v) noexcept { return static_cast<std::int64_t>(v); }
std::uint64_t u64(std::int64_t v) noexcept { return v < 0 ? 0 : static_cast<std::uint64_t>(v); }

// Runs a one-row query at start-up and copies the first column as text into out.
std::error_code query_text(sqlite3* db, const char* q, char* out, std::size_t n) {
  sql::Stmt s;
  if (auto ec = s.prepare(db, q)) return ec;
  int rc = s.step();
  if (rc != SQLITE_ROW) return rc == SQLITE_DONE ? err(StoreErrc::health_check) : sql::make_error(rc);
  auto t = s.column_text(0);
  std::size_t k = std::min(t.size(), n - 1);
  std::memcpy(out, t.data(), k);
  out[k] = '\0';
  return {};
}

std::error_code query_int(sqlite3* db, const char* q, std::int64_t& out) {
  sql::Stmt s;
  if (auto ec = s.prepare(db, q)) return ec;
  int rc = s.step();
  if (rc != SQLITE_ROW) return rc == SQLITE_DONE ? err(StoreErrc::health_check) : sql::make_error(rc);
  out = s.column_int64(0);
  return {};
}

}  // namespace

const std::error_category& store_category() noexcept {
  static const StoreCategory c;
  return c;
}

std::string_view dead_status_name(DeadStatus s) noexcept {
  switch (s) {
    case DeadStatus::dead: return "dead";
    case DeadStatus::replaying: return "replaying";
    case DeadStatus::replayed: return "replayed";
  }
  return "?";
}

void Store::Stmts::finalize_all() noexcept {
  for (sql::Stmt* s : {&insert, &insert_many, &insert_next, &set_next_seq, &undo, &undo_dedupe, &ins_dedupe, &trim_dedupe, &read_batch, &read_range, &set_cursor, &raise_cursors, &ins_dead,
                       &list_dead, &mark_dead, &mark_dead_seq, &next_replay, &finish_replay, &purge_dead, &first_young,
                       &delete_prefix, &delete_islands, &set_purged, &page_count, &freelist_count}) {
    s->finalize();
  }
}

// ---- open / close ----------------------------------------------------------------------------

std::error_code Store::open(const StoreOptions& opts) {
  BH_ASSERT(on_reactor_thread());
  close();
  opts_ = opts;
  if (opts_.max_batch == 0) return err(StoreErrc::invalid_argument);
  recent_.init(opts_.recent_bytes, opts_.recent_rows);
  auto ec = open_steps();
  if (ec) {
    bh::log::error("store: open {} failed: {} ({})", opts_.path, ec.message(), db_.errmsg());
    close();  // a failed open leaves nothing open: statements finalized, handle closed
    return ec;
  }
  if (opts_.checkpoint_thread) {
    CheckpointerOptions co;
    co.path = opts_.path;
    co.sync_full = opts_.sync_full;
    co.restart_pages = opts_.wal_restart_pages;
    co.trigger_pages = opts_.checkpoint_pages;
    if (auto e = checkpointer_.start(db_.get(), co))
      bh::log::warn("store: checkpointer thread not started ({}); SQLite checkpoints inside commits", e.message());
  }
  if (!checkpointer_.running()) sqlite3_wal_autocheckpoint(db_.get(), static_cast<int>(opts_.checkpoint_pages));
  if (auto e = open_ack_log()) {
    bh::log::error("store: ack log {}-acklog: {}", opts_.path, e.message());
    close();
    return e;
  }
  if (opts_.sync_full && opts_.sync_thread) {
    // The syncer makes commits durable; SQLite's COMMIT then only writes (synchronous=NORMAL keeps
    // the WAL synced before checkpoints and the database after them).
    if (auto e = syncer_.start(opts_.path + "-wal", log_.is_open() ? log_.path() : std::string{})) {
      bh::log::warn("store: WAL syncer not started ({}); SQLite syncs inside each commit", e.message());
    } else if (auto e2 = db_.exec("PRAGMA synchronous=NORMAL")) {
      syncer_.stop();
      bh::log::warn("store: WAL syncer not used ({}); SQLite syncs inside each commit", e2.message());
    }
  }
  log_on_ = log_.is_open() && syncer_.running();
  if (opts_.ack_log && !log_on_) {
    bh::log::warn("store: ack log not used: it needs synchronous = \"full\" and the sync thread");
    log_.close();
  }
  return ec;
}

std::error_code Store::open_steps() {
  if (opts_.heap_limit > 0) sqlite3_hard_heap_limit64(opts_.heap_limit);
  const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE;
  // Every file goes through the store VFS (its writes and syncs are counted per file; a fault plan,
  // in tests, reaches SQLite's writes and syncs there); the checkpointer's connection is counted
  // but not faulted.
  const char* vfs = store_vfs();
  if (auto ec = db_.open(opts_.path.c_str(), flags, vfs, opts_.busy_timeout_ms)) return ec;
  sqlite3* h = db_.get();

  std::int64_t one = 0;
  if (auto ec = query_int(h, "SELECT 1", one)) return ec;
  if (one != 1) return err(StoreErrc::health_check);

  char text[64];
  if (auto ec = query_text(h, "PRAGMA journal_mode=WAL", text, sizeof text)) return ec;
  if (std::strcmp(text, "wal") != 0) return err(StoreErrc::health_check);

  char pragmas[256];
  auto r = fmt::format_to_n(pragmas, sizeof pragmas - 1,
                            "PRAGMA synchronous={}; PRAGMA cache_size=-{}; PRAGMA temp_store=MEMORY;",
                            opts_.sync_full ? "FULL" : "NORMAL", std::max(opts_.cache_kib, 64));
  *r.out = '\0';
  if (auto ec = db_.exec(pragmas)) return ec;

  if (opts_.quick_check) {
    if (auto ec = query_text(h, "PRAGMA quick_check", text, sizeof text)) return ec;
    if (std::strcmp(text, "ok") != 0) {
      bh::log::error("store: quick_check: {}", text);
      return err(StoreErrc::health_check);
    }
  }

  std::int64_t version = 0;
  if (auto ec = query_int(h, "PRAGMA user_version", version)) return ec;
  if (version > kSchemaVersion) return err(StoreErrc::schema);
  if (version > 0) {  // an existing database: the events table may predate a column
    for (const AddedColumn& c : kAddedColumns) {
      std::int64_t has = 0;
      if (auto ec = query_int(h, c.has, has)) return ec;
      if (has != 0) continue;
      if (auto ec = db_.exec(c.add)) return ec;
      bh::log::info("store: schema migrated to version {} ({})", kSchemaVersion, c.add);
    }
  }
  if (auto ec = db_.exec(kSchema)) {
    db_.rollback();
    return ec;
  }
  if (auto ec = query_int(h, "PRAGMA page_size", page_size_)) return ec;
  {
    // The WAL is rewound in place, never cut back while the store runs (issue 16; see
    // wal_size_limit() in checkpointer.hpp).
    char q[64];
    auto w = fmt::format_to_n(q, sizeof q - 1, "PRAGMA journal_size_limit={}",
                              wal_size_limit(page_size_, opts_.wal_restart_pages));
    *w.out = '\0';
    std::int64_t applied = 0;
    if (auto ec = query_int(h, q, applied)) return ec;
  }
  sqlite3_commit_hook(h, &Store::on_commit_hook, this);
  if (auto ec = prepare_all()) return ec;
  return load_state();
}

std::error_code Store::prepare_all() {
  sqlite3* h = db_.get();
  struct Entry {
    sql::Stmt* s;
    const char* q;
  };
  const Entry entries[] = {
      {&st_.insert, "INSERT INTO events(seq, ts_ms, source, body, identity, clock_unsynced) VALUES(?1, ?2, ?3, ?4, ?5, ?6)"},
      {&st_.set_next_seq, "UPDATE meta SET next_seq = ?1 WHERE id = 1"},
      {&st_.undo, "DELETE FROM events WHERE seq > ?1"},
      {&st_.undo_dedupe, "DELETE FROM dedupe WHERE seq > ?1"},
      {&st_.ins_dedupe, "INSERT INTO dedupe(source, seq, key) VALUES(?1, ?2, ?3)"},
      // Keeps the newest ?2 keys of source ?1 (the subquery is NULL with fewer: nothing goes).
      {&st_.trim_dedupe,
       "DELETE FROM dedupe WHERE source = ?1 AND seq <= "
       "(SELECT seq FROM dedupe WHERE source = ?1 ORDER BY seq DESC LIMIT 1 OFFSET ?2)"},
      {&st_.read_batch,
       "SELECT seq, ts_ms, source, body, identity, clock_unsynced FROM events WHERE seq > ?1 AND seq <= ?3 ORDER BY seq LIMIT ?2"},
      {&st_.read_range, "SELECT seq, ts_ms, source, body, identity, clock_unsynced FROM events WHERE seq BETWEEN ?1 AND ?2 ORDER BY seq LIMIT ?3"},
      {&st_.set_cursor, "UPDATE sinks SET cursor = ?2 WHERE id = ?1"},
      {&st_.raise_cursors, "UPDATE sinks SET cursor = ?1 WHERE cursor < ?1"},
      {&st_.ins_dead,
       "INSERT INTO dead_letters(sink, first_seq, last_seq, status, reason, http_status, ts_ms)"
       " VALUES(?1, ?2, ?3, 'dead', ?4, ?5, ?6)"},
      {&st_.list_dead, "SELECT " BH_DEAD_COLS " FROM dead_letters ORDER BY id"},
      {&st_.mark_dead, "UPDATE dead_letters SET status = 'replaying' WHERE status = 'dead' AND (?1 = 0 OR id = ?1)"},
      {&st_.mark_dead_seq,
       "UPDATE dead_letters SET status = 'replaying' WHERE status = 'dead' AND ?1 BETWEEN first_seq AND last_seq"},
      {&st_.next_replay,
       "SELECT " BH_DEAD_COLS " FROM dead_letters WHERE status = 'replaying' AND sink = ?1 ORDER BY id LIMIT 1"},
      {&st_.finish_replay, "UPDATE dead_letters SET status = ?2 WHERE id = ?1 AND status = 'replaying'"},
      {&st_.purge_dead, "DELETE FROM dead_letters WHERE ?1 = 0 OR id = ?1"},
      // Earlier runs' events: the first too young by its wall ts, or flagged (its ts is not to be trusted).
      {&st_.first_young,
       "SELECT seq FROM events WHERE seq BETWEEN ?1 AND ?2 AND (ts_ms >= ?3 OR clock_unsynced IS NOT NULL)"
       " ORDER BY seq LIMIT 1"},
      {&st_.delete_prefix, "DELETE FROM events WHERE seq BETWEEN ?1 AND ?2" BH_UNPROTECTED},
      {&st_.delete_islands, "DELETE FROM events WHERE seq < ?1" BH_UNPROTECTED},
      {&st_.set_purged, "UPDATE meta SET purged_upto = ?1, next_seq = max(next_seq, ?2) WHERE id = 1"},
      {&st_.page_count, "PRAGMA page_count"},
      {&st_.freelist_count, "PRAGMA freelist_count"},
  };
  for (const auto& e : entries) {
    if (auto ec = e.s->prepare(h, e.q)) return ec;
  }
  // The rows after a call's first name no seq: SQLite gives each the table's highest + 1 (see
  // insert_rows()). Columns as in `insert`, less the seq: ?1..?5 per row.
  std::string many = "INSERT INTO events(ts_ms, source, body, identity, clock_unsynced) VALUES";
  for (std::size_t r = 0; r < kInsertRows; ++r) {
    const std::size_t b = r * kAppendCols;
    many += fmt::format("{}(?{},?{},?{},?{},?{})", r ? "," : "", b + 1, b + 2, b + 3, b + 4, b + 5);
  }
  if (auto ec = st_.insert_many.prepare(h, many)) return ec;
  return st_.insert_next.prepare(h, "INSERT INTO events(ts_ms, source, body, identity, clock_unsynced) VALUES(?1, ?2, ?3, ?4, ?5)");
}

std::error_code Store::load_state() {
  sqlite3* h = db_.get();
  sql::Stmt s;
  if (auto ec = s.prepare(h, "SELECT next_seq, purged_upto, (SELECT max(seq) FROM events) FROM meta WHERE id = 1")) {
    return ec;
  }
  int rc = s.step();
  if (rc != SQLITE_ROW) return rc == SQLITE_DONE ? err(StoreErrc::health_check) : sql::make_error(rc);
  const std::uint64_t purged_upto = u64(s.column_int64(1));
  const std::uint64_t max_seq = u64(s.column_int64(2));  // NULL (no rows) reads as 0
  next_seq_ = std::max({std::uint64_t{1}, u64(s.column_int64(0)), max_seq + 1, purged_upto + 1});
  oldest_ = std::min(purged_upto + 1, next_seq_);

  sinks_ = {};
  sink_count_ = 0;
  if (auto ec = s.prepare(h, "SELECT id, name, cursor FROM sinks ORDER BY id")) return ec;
  while ((rc = s.step()) == SQLITE_ROW) {
    if (sink_count_ == kMaxSinks) return err(StoreErrc::too_many_sinks);
    Sink& k = sinks_[sink_count_++];
    auto name = s.column_text(1);
    k.used = true;
    k.db_id = s.column_int64(0);
    k.name_len = static_cast<std::uint8_t>(std::min(name.size(), kMaxSinkName));
    std::memcpy(k.name.data(), name.data(), k.name_len);
    k.cursor = std::clamp(u64(s.column_int64(2)), oldest_ - 1, last_seq());
  }
  if (rc != SQLITE_DONE) return sql::make_error(rc);
  recompute_min();
  counters_ = {};
  islands_dirty_ = true;
  durable_seq_ = last_seq();  // what an earlier process committed (the syncer's start syncs it first)
  run_first_ = next_seq_;
  age_head_ = age_n_ = 0;
  return {};
}

void Store::close() noexcept {
  BH_ASSERT(on_reactor_thread());
  if (is_open() && persist_cursors()) bh::log::warn("store: sink cursors not persisted at close; the last deliveries may repeat");
  if (is_open() && held_) {
    if (settle()) bh::log::warn("store: held events not committed at close; the ack log replays them at the next start");
  }
  if (syncer_.running() && settled_) request_sync();  // the syncer's stop finishes this last sync
  syncer_.stop();
  log_.close();
  recent_.clear();
  log_on_ = held_ = settled_ = replay_pending_ = want_wal_sync_ = want_log_sync_ = false;
  checkpointer_.stop();
  st_.finalize_all();
  db_.close();
  sinks_ = {};
  sink_count_ = 0;
  dedupe_ = {};
  dedupe_count_ = 0;
  min_cursor_ = 0;
  ticket_ = durable_ticket_ = failed_ticket_ = 0;
  undo_pending_ = false;
}

// Start-up, before the syncer: replays what an ack log (store.ack_log) holds beyond the database,
// in one transaction synced before the log is written again; then keeps the log open if this run
// uses it, or deletes it.
std::error_code Store::open_ack_log() {
  const std::string path = opts_.path + "-acklog";
  const bool want = opts_.ack_log && opts_.sync_full && opts_.sync_thread;
  if (auto ec = log_.open(path, false)) {
    // A log that is there but cannot be opened may hold acked events: the store does not start.
    if (ec != std::errc::no_such_file_or_directory) return ec;
    if (want) {
      if (auto e2 = log_.open(path, true))
        bh::log::warn("store: ack log {} not created ({}); every batch waits for a WAL sync", path, e2.message());
    }
    return {};
  }
  std::uint64_t n = 0, next = next_seq_;
  std::error_code failed;
  sql::TxnGuard txn(db_);
  if (auto ec = txn.begin()) return ec;
  if (auto ec = log_.recover([&](const EventIn& e, std::uint64_t seq) {
        if (failed || seq < next_seq_) return;
        failed = insert_rows({&e, 1}, seq);
        next = std::max(next, seq + 1);
        ++n;
      }))
    return ec;
  if (failed) return failed;
  if (auto ec = txn.commit()) return ec;
  if (n > 0) {
    // Durable before the log is written again (without sync_full that COMMIT did not sync).
    const std::string wal = opts_.path + "-wal";
    const int fd = ::open(wal.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 || sync_fd(fd) != 0) {
      const std::error_code ec{errno, std::generic_category()};
      if (fd >= 0) ::close(fd);
      return ec;
    }
    ::close(fd);
    bh::log::warn("store: {} acked event(s) the database did not hold replayed from the ack log", n);
    log_.count_replayed(n);
    next_seq_ = next;
    durable_seq_ = last_seq();
    run_first_ = next_seq_;
  }
  if (!want) {
    log_.close();
    if (::unlink(path.c_str()) != 0) bh::log::warn("store: ack log {} replayed but not removed: {}", path, std::strerror(errno));
  }
  return {};
}

// ---- helpers ---------------------------------------------------------------------------------

void Store::recompute_min() noexcept {
  std::uint64_t m = last_seq();
  for (const Sink& k : sinks_) {
    if (k.used) m = std::min(m, k.cursor);
  }
  min_cursor_ = m;
}

Store::Sink* Store::sink_at(int sink) noexcept {
  if (sink < 0 || sink >= static_cast<int>(kMaxSinks) || !sinks_[static_cast<std::size_t>(sink)].used) return nullptr;
  return &sinks_[static_cast<std::size_t>(sink)];
}
const Store::Sink* Store::sink_at(int sink) const noexcept { return const_cast<Store*>(this)->sink_at(sink); }

std::error_code Store::write_error(std::error_code ec, const char* what) noexcept {
  const std::uint64_t n = ++counters_.commit_errors;
  if ((n & (n - 1)) == 0) {  // 1st, 2nd, 4th, 8th, ...: a full disk must not flood the log
    bh::log::warn("store: {} failed: {} ({}); {} write errors so far", what, sqlite3_errstr(ec.value()),
                  db_.errmsg(), n);
  }
  return ec;
}

// ---- append ----------------------------------------------------------------------------------

std::error_code Store::append(std::span<const EventIn> events, std::span<std::uint64_t> seqs_out) noexcept {
  BH_ASSERT(on_reactor_thread());
  if (!is_open()) return err(StoreErrc::not_open);
  const std::size_t n = events.size();
  if (n == 0 || n > opts_.max_batch || seqs_out.size() < n) return err(StoreErrc::invalid_argument);
  if (undo_pending_) {
    if (auto ec = undo_unsynced()) return ec;
  }

  if (replay_pending_) {
    if (auto ec = replay_held()) return ec;
  }
  if (log_on_) {
    // Small batches go to the ack log (and the held transaction); a big one, or one the log has no
    // room for, is committed as before, after the held transaction.
    if (held_ && hal::Clock::now() - held_since_ >= kHoldMax) (void)settle();
    const std::size_t rec = AckLog::record_bytes(events);
    if (rec != 0 && (log_.room(rec) || (!held_ && log_.try_switch(durable_ticket_)))) {
      if (auto ec = append_logged(events)) return ec;
    } else {
      if (auto ec = settle()) return ec;
      if (auto ec = append_committed(events)) return ec;
    }
  } else if (auto ec = append_committed(events)) {
    return ec;
  }
  for (std::size_t i = 0; i < n; ++i) seqs_out[i] = next_seq_ + i;
  next_seq_ += n;
  if (!syncer_.running()) durable_seq_ = last_seq();
  counters_.appended += n;
  ++counters_.batches;
  return {};
}

// Rows go kInsertRows to a statement: one execution per row spent about as much CPU on running the
// statement (its cursor opened and freed, halt, reset) as on the row itself (callgrind: 6 200 of
// 15 200 instructions per event went to inserts; 4 800 in 32-row statements). The rest go one at
// a time. A fault plan's sqlite_step counts rows either way.
//
// Only the first row names its seq. A row that names its rowid costs SQLite a search of the table's
// b-tree for it (is it taken?) before the insert; one that names none is given the highest + 1 and
// appended at the cursor's place, no search (OP_NewRowid + OPFLAG_APPEND): 0.58 -> 0.42 us per row
// measured alone. The first row makes the highest first_seq (seqs only grow: every row above the
// durable ones is undone before its seq is given again), so the others get first_seq + 1, + 2...;
// the rowid SQLite gave the last row of each statement is checked all the same, and a batch whose
// rows would not carry the seqs it acks fails whole.
std::error_code Store::insert_rows(std::span<const EventIn> events, std::uint64_t first_seq) noexcept {
  auto bind_row = [](sql::Stmt& s, int at, const EventIn& e) {
    s.bind(at + 1, e.ts_ms);
    s.bind_text(at + 2, e.source);
    s.bind_blob(at + 3, e.body);
    if (!e.identity.empty()) s.bind_text(at + 4, e.identity);  // else NULL (reset clears bindings)
    if (e.clock_unsynced) s.bind(at + 5, std::int64_t{1});      // else NULL
  };
  auto appended_as = [&](std::uint64_t last) -> std::error_code {
    if (u64(sqlite3_last_insert_rowid(db_.get())) == last) return {};
    return write_error(sql::make_error(SQLITE_INTERNAL), "append insert (a row was not given its seq)");
  };
  if (events.empty()) return {};
  {
    sql::Stmt& ins = st_.insert;
    ins.bind(1, i64(first_seq));
    bind_row(ins, 1, events[0]);
    const int rc = step_or_fault(ins);
    ins.reset();
    if (rc != SQLITE_DONE) return write_error(sql::make_error(rc), "append insert");
    recent_.add(first_seq, events[0]);
  }
  std::uint64_t seq = first_seq + 1;
  std::size_t i = 1;
  for (; events.size() - i >= kInsertRows; i += kInsertRows) {
    sql::Stmt& ins = st_.insert_many;
    int rc = SQLITE_DONE;
    for (std::size_t r = 0; r < kInsertRows && rc == SQLITE_DONE; ++r) {
      if (fault::hit(fault::Op::sqlite_step)) rc = SQLITE_IOERR;
      bind_row(ins, static_cast<int>(r * kAppendCols), events[i + r]);
    }
    if (rc == SQLITE_DONE) rc = ins.step();
    ins.reset();
    if (rc != SQLITE_DONE) return write_error(sql::make_error(rc), "append insert");
    if (auto ec = appended_as(seq + kInsertRows - 1)) return ec;
    for (std::size_t r = 0; r < kInsertRows; ++r) recent_.add(seq + r, events[i + r]);
    seq += kInsertRows;
  }
  for (; i < events.size(); ++i, ++seq) {
    sql::Stmt& ins = st_.insert_next;
    bind_row(ins, 0, events[i]);
    int rc = step_or_fault(ins);
    ins.reset();
    if (rc != SQLITE_DONE) return write_error(sql::make_error(rc), "append insert");
    if (auto ec = appended_as(seq)) return ec;
    recent_.add(seq, events[i]);
  }
  return store_keys(events, first_seq);
}

// One transaction per batch: the COMMIT (and, with the syncer, the WAL sync after it) is what makes
// the batch durable.
std::error_code Store::append_committed(std::span<const EventIn> events) noexcept {
  sql::TxnGuard txn(db_);
  if (auto ec = begin_or_fault(txn)) return write_error(ec, "append begin");
  if (auto ec = insert_rows(events, next_seq_)) {
    recent_.drop_after(next_seq_ - 1);  // rolled back with the transaction
    return ec;
  }
  // next_seq is not written: the rows are the record of it (see the invariants at the top).
  // Durability rule: the batch is acked ("ok <seq>") only after this COMMIT returned OK.
  if (auto ec = commit_or_fault(txn)) {
    recent_.drop_after(next_seq_ - 1);
    return write_error(ec, "append commit");
  }
  want_wal_sync_ = true;
  return {};
}

// The batch's rows join the held transaction (a savepoint undoes just them on error) and its record
// goes to the ack log, whose sync (request_sync()) makes it durable.
std::error_code Store::append_logged(std::span<const EventIn> events) noexcept {
  const bool begin = !held_;
  std::error_code ec;
  if (begin) {
    ec = fault::hit(fault::Op::sqlite_txn) ? sql::make_error(SQLITE_IOERR) : db_.begin_immediate();
  } else {
    ec = db_.savepoint();
  }
  if (ec) return write_error(ec, "append begin");
  const auto undo = [&] {
    recent_.drop_after(next_seq_ - 1);
    if (begin) {
      (void)db_.rollback();
    } else if (db_.rollback_to()) {
      bh::log::error("store: rollback of a batch in the held transaction failed: {}", db_.errmsg());
    }
  };
  if ((ec = insert_rows(events, next_seq_))) {
    undo();
    return ec;
  }
  if ((ec = log_.append(events, next_seq_))) {
    undo();
    ++counters_.commit_errors;
    bh::log::warn("store: ack log write failed: {}", ec.message());
    return ec;
  }
  if (begin) {
    held_ = true;
    held_since_ = hal::Clock::now();
    held_first_ = next_seq_;
  } else if ((ec = db_.release())) {
    bh::log::error("store: release of a batch in the held transaction failed: {}", db_.errmsg());
  }
  want_log_sync_ = true;
  return {};
}

std::error_code Store::settle() noexcept {
  BH_ASSERT(on_reactor_thread());
  if (!held_) return {};
  const std::error_code ec = fault::hit(fault::Op::sqlite_txn) ? sql::make_error(SQLITE_IOERR) : db_.commit();
  if (!ec) {
    held_ = false;
    want_wal_sync_ = true;
    settled_ = true;
    ++counters_.settles;
    return {};
  }
  write_error(ec, "held commit");
  if (db_.in_transaction()) return ec;  // still held: the next settle tries again
  // SQLite rolled the transaction back. Its events were acked from the log: they come back from it;
  // the cursors persisted inside it are written again.
  held_ = false;
  recent_.drop_after(held_first_ - 1);
  for (Sink& k : sinks_) k.dirty = k.used;
  replay_pending_ = true;
  replay_from_ = held_first_;
  if (auto e2 = replay_held()) return e2;
  return ec;
}

// Inserts [replay_from_, next_seq_) again from the ack log into a new held transaction. Reads the
// log (cold path: after a failed commit only).
std::error_code Store::replay_held() noexcept {
  if (!replay_pending_) return {};
  if (auto ec = db_.begin_immediate()) return write_error(ec, "replay begin");
  std::error_code failed;
  std::uint64_t n = 0;
  const std::error_code rd = log_.scan([&](const EventIn& e, std::uint64_t seq) {
    if (failed || seq < replay_from_ || seq >= next_seq_) return;
    failed = insert_rows({&e, 1}, seq);
    ++n;
  });
  if (failed || rd) {
    (void)db_.rollback();
    recent_.drop_after(replay_from_ - 1);
    return failed ? failed : rd;
  }
  if (n != next_seq_ - replay_from_)
    bh::log::error("store: ack log holds {} of the {} event(s) to redo", n, next_seq_ - replay_from_);
  else
    bh::log::warn("store: {} acked event(s) inserted again from the ack log", n);
  log_.count_replayed(n);
  held_ = true;
  held_since_ = hal::Clock::now();
  held_first_ = replay_from_;
  replay_pending_ = false;
  return {};
}

// ---- dedupe keys --------------------------------------------------------------------------------

// Inside append()'s transaction: the keys of the events that have one, then a trim of each source
// that went past its window by more than an eighth (so trims are rare, each one a range delete).
std::error_code Store::store_keys(std::span<const EventIn> events, std::uint64_t first_seq) noexcept {
  std::uint64_t seq = first_seq;
  DedupeSource* last = nullptr;
  for (const EventIn& e : events) {
    if (e.dedupe) {
      sql::Stmt& k = st_.ins_dedupe;
      sql::StmtScope scope(k);
      k.bind_text(1, e.source);
      k.bind(2, i64(seq));
      k.bind_blob(3, std::string_view(reinterpret_cast<const char*>(e.dedupe->b.data()), e.dedupe->b.size()));
      int rc = step_or_fault(k);
      if (rc != SQLITE_DONE) return write_error(sql::make_error(rc), "append dedupe key");
      if (!last || last->view() != e.source) {
        last = nullptr;
        for (std::uint32_t i = 0; i < dedupe_count_; ++i)
          if (dedupe_[i].view() == e.source) last = &dedupe_[i];
      }
      if (last) ++last->rows;
    }
    ++seq;
  }
  for (std::uint32_t i = 0; i < dedupe_count_; ++i) {
    DedupeSource& d = dedupe_[i];
    if (d.rows <= std::uint64_t{d.window} + d.window / 8) continue;
    sql::Stmt& t = st_.trim_dedupe;
    sql::StmtScope scope(t);
    t.bind_text(1, d.view());
    t.bind(2, static_cast<std::int64_t>(d.window));
    int rc = step_or_fault(t);
    if (rc != SQLITE_DONE) return write_error(sql::make_error(rc), "append dedupe trim");
    d.rows = d.window;
  }
  return {};
}

std::error_code Store::load_dedupe(std::string_view source, std::uint32_t window,
                                   FunctionRef<void(const DedupeKey&)> visit) {
  BH_ASSERT(on_reactor_thread());
  if (!is_open()) return err(StoreErrc::not_open);
  if (auto ec = settle()) return ec;
  if (source.empty() || source.size() > kMaxSinkName) return err(StoreErrc::invalid_argument);
  DedupeSource* d = nullptr;
  for (std::uint32_t i = 0; i < dedupe_count_; ++i)
    if (dedupe_[i].view() == source) d = &dedupe_[i];
  if (!d) {
    if (dedupe_count_ == kMaxDedupeSources) return err(StoreErrc::invalid_argument);
    d = &dedupe_[dedupe_count_++];
    d->name_len = static_cast<std::uint8_t>(source.size());
    std::memcpy(d->name.data(), source.data(), source.size());
  }
  d->window = window;
  {
    sql::Stmt& t = st_.trim_dedupe;
    sql::StmtScope scope(t);
    t.bind_text(1, source);
    t.bind(2, static_cast<std::int64_t>(window));
    int rc = t.step();
    if (rc != SQLITE_DONE) return write_error(sql::make_error(rc), "dedupe trim");
  }
  sql::Stmt s;
  if (auto ec = s.prepare(db_.get(), "SELECT key FROM dedupe WHERE source = ?1 ORDER BY seq")) return ec;
  s.bind_text(1, source);
  int rc;
  d->rows = 0;
  while ((rc = s.step()) == SQLITE_ROW) {
    std::string_view b = s.column_blob(0);
    DedupeKey k;
    if (b.size() != k.b.size()) continue;  // not a key this build wrote: ignored
    std::memcpy(k.b.data(), b.data(), k.b.size());
    ++d->rows;
    visit(k);
  }
  return rc == SQLITE_DONE ? std::error_code{} : sql::make_error(rc);
}

std::uint64_t Store::dedupe_rows(std::string_view source) {
  sql::Stmt s;
  if (s.prepare(db_.get(), "SELECT count(*) FROM dedupe WHERE source = ?1")) return 0;
  s.bind_text(1, source);
  return s.step() == SQLITE_ROW ? u64(s.column_int64(0)) : 0;
}

// ---- durability --------------------------------------------------------------------------------

std::uint64_t Store::request_sync() noexcept {
  BH_ASSERT(on_reactor_thread());
  ++ticket_;
  if (syncer_.running()) {
    syncer_.request(ticket_, last_seq(), want_wal_sync_ || !log_on_, want_log_sync_);
    want_wal_sync_ = want_log_sync_ = false;
    if (settled_) {
      settled_ = false;
      log_.settled(ticket_, durable_ticket_);  // its records are SQLite's once this ticket is durable
    }
  } else {
    durable_ticket_ = ticket_;
  }
  return ticket_;
}

Store::SyncProgress Store::collect_sync() noexcept {
  BH_ASSERT(on_reactor_thread());
  if (syncer_.running()) {
    const WalSyncer::Outcome o = syncer_.take();
    // A success after the last failure's undo: its seq is durable (the undo rewound next_seq, so
    // a stale success could name seqs that now belong to newer, unsynced commits: ignored).
    if (o.synced_ticket > failed_ticket_ && o.synced_ticket > durable_ticket_) {
      durable_ticket_ = o.synced_ticket;
      durable_seq_ = std::max(durable_seq_, o.synced_seq);
    }
    if (o.failed_ticket > failed_ticket_) {
      failed_ticket_ = ticket_;  // every commit not known durable is refused
      ++counters_.sync_failures;
      undo_pending_ = true;
      if (log_on_) {
        // The log's records after durable_seq_ may be lost or half there: they are zeroed (they were
        // never acked and must not come back at the next start) and this run syncs the WAL again.
        log_on_ = false;
        log_.forget_after(durable_seq_);
        bh::log::error("store: ack log sync failed; every batch is committed and the WAL synced from now on");
      }
      const std::uint64_t n = last_seq() - durable_seq_;
      if (auto ec = undo_unsynced()) {
        bh::log::error("store: WAL sync failed; undoing {} un-acked event(s) failed too ({}): appends fail until it works",
                       n, ec.message());
      } else {
        bh::log::error("store: WAL sync failed: {} un-acked event(s) answered err storage and removed", n);
      }
    }
  }
  return {durable_ticket_, failed_ticket_};
}

// Deletes the events above durable_seq_ and rewinds next_seq to just after it, in one transaction.
std::error_code Store::undo_unsynced() noexcept {
  if (auto ec = settle()) return ec;  // the held rows are undone like committed ones
  recent_.drop_after(durable_seq_);
  sql::TxnGuard txn(db_);
  if (auto ec = begin_or_fault(txn)) return write_error(ec, "undo begin");
  {
    sql::Stmt& d = st_.undo;
    sql::StmtScope scope(d);
    d.bind(1, i64(durable_seq_));
    int rc = step_or_fault(d);
    if (rc != SQLITE_DONE) return write_error(sql::make_error(rc), "undo delete");
  }
  {
    sql::Stmt& d = st_.undo_dedupe;  // their keys go with them
    sql::StmtScope scope(d);
    d.bind(1, i64(durable_seq_));
    int rc = step_or_fault(d);
    if (rc != SQLITE_DONE) return write_error(sql::make_error(rc), "undo dedupe");
  }
  {
    sql::Stmt& m = st_.set_next_seq;
    sql::StmtScope scope(m);
    m.bind(1, i64(durable_seq_ + 1));
    int rc = step_or_fault(m);
    if (rc != SQLITE_DONE) return write_error(sql::make_error(rc), "undo next_seq");
  }
  if (auto ec = commit_or_fault(txn)) return write_error(ec, "undo commit");
  counters_.undone += last_seq() - durable_seq_;
  next_seq_ = durable_seq_ + 1;
  undo_pending_ = false;
  recompute_min();
  return {};
}

bool Store::wait_sync(std::chrono::milliseconds limit) noexcept {
  BH_ASSERT(on_reactor_thread());
  return !syncer_.running() || syncer_.wait(limit);
}

// ---- sinks and delivery ----------------------------------------------------------------------

int Store::find_sink(std::string_view name) const noexcept {
  for (std::size_t i = 0; i < kMaxSinks; ++i) {
    if (sinks_[i].used && sinks_[i].view() == name) return static_cast<int>(i);
  }
  return -1;
}

std::string_view Store::sink_name(int sink) const noexcept {
  const Sink* k = sink_at(sink);
  return k ? k->view() : std::string_view{};
}

std::uint64_t Store::cursor(int sink) const noexcept {
  const Sink* k = sink_at(sink);
  return k ? k->cursor : 0;
}

std::error_code Store::register_sink(std::string_view name, int& sink) {
  BH_ASSERT(on_reactor_thread());
  sink = -1;
  if (!is_open()) return err(StoreErrc::not_open);
  if (auto ec = settle()) return ec;
  if (name.empty() || name.size() > kMaxSinkName) return err(StoreErrc::invalid_argument);
  if ((sink = find_sink(name)) >= 0) return {};
  std::size_t slot = 0;
  while (slot < kMaxSinks && sinks_[slot].used) ++slot;
  if (slot == kMaxSinks) return err(StoreErrc::too_many_sinks);

  const std::uint64_t start = oldest_ - 1;  // the oldest retained event of the tail is delivered next
  sql::Stmt s;
  if (auto ec = s.prepare(db_.get(), "INSERT INTO sinks(name, cursor) VALUES(?1, ?2)")) return ec;
  s.bind_text(1, name);
  s.bind(2, i64(start));
  int rc = s.step();
  if (rc != SQLITE_DONE) return write_error(sql::make_error(rc), "register_sink");
  Sink& k = sinks_[slot];
  k.used = true;
  k.db_id = sqlite3_last_insert_rowid(db_.get());
  k.cursor = start;
  k.name_len = static_cast<std::uint8_t>(name.size());
  std::memcpy(k.name.data(), name.data(), name.size());
  ++sink_count_;
  recompute_min();
  sink = static_cast<int>(slot);
  return {};
}

std::error_code Store::remove_sink(std::string_view name) {
  BH_ASSERT(on_reactor_thread());
  if (!is_open()) return err(StoreErrc::not_open);
  if (auto ec = settle()) return ec;
  int h = find_sink(name);
  if (h < 0) return err(StoreErrc::unknown_sink);
  Sink& k = sinks_[static_cast<std::size_t>(h)];
  sql::TxnGuard txn(db_);
  if (auto ec = txn.begin()) return write_error(ec, "remove_sink");
  for (const char* q : {"DELETE FROM dead_letters WHERE sink = ?1", "DELETE FROM sinks WHERE id = ?1"}) {
    sql::Stmt s;
    if (auto ec = s.prepare(db_.get(), q)) return ec;
    s.bind(1, k.db_id);
    int rc = s.step();
    if (rc != SQLITE_DONE) return write_error(sql::make_error(rc), "remove_sink");
  }
  if (auto ec = txn.commit()) return write_error(ec, "remove_sink commit");
  k = Sink{};
  --sink_count_;
  recompute_min();
  islands_dirty_ = true;
  return {};
}

std::error_code Store::read_batch(int sink, std::uint32_t max_events, std::uint64_t max_bytes,
                                  FunctionRef<void(const EventOut&)> visit, std::uint32_t& count) noexcept {
  BH_ASSERT(on_reactor_thread());
  count = 0;
  if (!is_open()) return err(StoreErrc::not_open);
  const Sink* k = sink_at(sink);
  if (!k) return err(StoreErrc::unknown_sink);
  // While a rolled-back held transaction waits to be redone, its events are not there to read.
  const std::uint64_t upto = replay_pending_ ? std::min(durable_seq_, replay_from_ - 1) : durable_seq_;
  if (max_events == 0 || k->cursor >= upto) return {};
  if (recent_.holds(k->cursor + 1)) {  // a sink that keeps up: no SELECT
    std::uint64_t bytes = 0;
    for (std::uint64_t seq = k->cursor + 1; seq <= upto && count < max_events && recent_.holds(seq); ++seq) {
      const EventOut e = recent_.get(seq);
      if (count > 0 && bytes + e.body.size() > max_bytes) break;
      bytes += e.body.size();
      visit(e);
      ++count;
    }
    counters_.cached_reads += count;
    return {};
  }
  sql::Stmt& s = st_.read_batch;
  sql::StmtScope scope(s);
  s.bind(1, i64(k->cursor));
  s.bind(2, static_cast<std::int64_t>(max_events));
  s.bind(3, i64(upto));
  std::uint64_t bytes = 0;
  int rc;
  while ((rc = step_or_fault(s)) == SQLITE_ROW) {
    EventOut e{u64(s.column_int64(0)), s.column_int64(1), s.column_text(2), s.column_blob(3), s.column_text(4),
               s.column_int64(5) != 0};
    if (count > 0 && bytes + e.body.size() > max_bytes) break;
    bytes += e.body.size();
    visit(e);
    ++count;
  }
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
    ++counters_.read_errors;
    bh::log::warn("store: read_batch failed: {}", sqlite3_errstr(rc));
    return sql::make_error(rc);
  }
  return {};
}

std::error_code Store::advance_cursor(int sink, std::uint64_t seq) noexcept {
  BH_ASSERT(on_reactor_thread());
  if (!is_open()) return err(StoreErrc::not_open);
  Sink* k = sink_at(sink);
  if (!k) return err(StoreErrc::unknown_sink);
  if (seq == k->cursor) return {};
  if (seq < k->cursor || seq > durable_seq_) return err(StoreErrc::bad_cursor);
  const std::uint64_t before = k->cursor;
  const bool was_dirty = k->dirty;
  k->cursor = seq;
  k->dirty = true;
  if (hal::Clock::now() - cursors_persisted_ >= kCursorPersist) {
    if (auto ec = persist_cursors()) {
      k->cursor = before;  // as before the call (other sinks' moves stay, to be written next time)
      k->dirty = was_dirty;
      return ec;
    }
  }
  recompute_min();
  return {};
}

std::error_code Store::persist_cursors() noexcept {
  BH_ASSERT(on_reactor_thread());
  if (!is_open()) return err(StoreErrc::not_open);
  bool any = false;
  for (const Sink& k : sinks_) any = any || (k.used && k.dirty);
  cursors_persisted_ = hal::Clock::now();
  if (!any) return {};
  // Inside a held append transaction (ack log) the cursors join it: if SQLite ever rolls it back,
  // settle() marks them to be written again, and a crash before its commit only repeats deliveries.
  const bool nested = held_;
  sql::TxnGuard txn(db_);
  if (auto ec = nested ? db_.savepoint() : begin_or_fault(txn)) return write_error(ec, "cursor begin");
  for (const Sink& k : sinks_) {
    if (!k.used || !k.dirty) continue;
    sql::Stmt& s = st_.set_cursor;
    sql::StmtScope scope(s);
    s.bind(1, k.db_id);
    s.bind(2, i64(k.cursor));
    int rc = step_or_fault(s);
    if (rc != SQLITE_DONE) {
      if (nested) (void)db_.rollback_to();
      return write_error(sql::make_error(rc), "advance_cursor");
    }
  }
  if (auto ec = nested ? db_.release() : commit_or_fault(txn)) return write_error(ec, "cursor commit");
  for (Sink& k : sinks_) k.dirty = false;
  return {};
}

std::error_code Store::drop_oldest(std::uint64_t n, std::uint64_t& dropped) noexcept {
  BH_ASSERT(on_reactor_thread());
  dropped = 0;
  if (!is_open()) return err(StoreErrc::not_open);
  if (auto ec = settle()) return ec;
  if (sink_count_ == 0 || n == 0) return {};
  const std::uint64_t target = std::min(durable_seq_, min_cursor_ + std::min(n, durable_seq_));
  if (target <= min_cursor_) return {};
  sql::Stmt& s = st_.raise_cursors;
  sql::StmtScope scope(s);
  s.bind(1, i64(target));
  int rc = step_or_fault(s);
  if (rc != SQLITE_DONE) return write_error(sql::make_error(rc), "drop_oldest");
  for (Sink& k : sinks_) {
    if (k.used) k.cursor = std::max(k.cursor, target);
  }
  dropped = target - min_cursor_;
  counters_.dropped += dropped;  // the caller logs (rate-limited)
  recompute_min();
  return {};
}

// ---- dead letters ----------------------------------------------------------------------------

std::error_code Store::dead_letter(int sink, std::uint64_t first, std::uint64_t last, int http_status,
                                   std::string_view reason, std::int64_t now_ms) noexcept {
  BH_ASSERT(on_reactor_thread());
  if (!is_open()) return err(StoreErrc::not_open);
  if (auto ec = settle()) return ec;
  Sink* k = sink_at(sink);
  if (!k) return err(StoreErrc::unknown_sink);
  if (first == 0 || first > last || last > durable_seq_) return err(StoreErrc::invalid_argument);
  sql::TxnGuard txn(db_);
  if (auto ec = begin_or_fault(txn)) return write_error(ec, "dead_letter begin");
  {
    sql::Stmt& s = st_.ins_dead;
    sql::StmtScope scope(s);
    s.bind(1, k->db_id);
    s.bind(2, i64(first));
    s.bind(3, i64(last));
    s.bind_text(4, reason.substr(0, DeadLetter::kMaxReason));
    s.bind(5, http_status);
    s.bind(6, now_ms);
    int rc = step_or_fault(s);
    if (rc != SQLITE_DONE) return write_error(sql::make_error(rc), "dead_letter insert");
  }
  const std::uint64_t new_cursor = std::max(k->cursor, last);
  if (new_cursor != k->cursor) {
    sql::Stmt& s = st_.set_cursor;
    sql::StmtScope scope(s);
    s.bind(1, k->db_id);
    s.bind(2, i64(new_cursor));
    int rc = step_or_fault(s);
    if (rc != SQLITE_DONE) return write_error(sql::make_error(rc), "dead_letter cursor");
  }
  if (auto ec = commit_or_fault(txn)) {
    return write_error(ec, "dead_letter commit");
  }
  k->cursor = new_cursor;
  recompute_min();
  ++counters_.dead_lettered;
  return {};
}

void Store::fill_dead(sql::Stmt& s, DeadLetter& d) const noexcept {
  d.id = s.column_int64(0);
  const std::int64_t db_sink = s.column_int64(1);
  d.sink = -1;
  for (std::size_t i = 0; i < kMaxSinks; ++i) {
    if (sinks_[i].used && sinks_[i].db_id == db_sink) d.sink = static_cast<int>(i);
  }
  d.first_seq = u64(s.column_int64(2));
  d.last_seq = u64(s.column_int64(3));
  auto st = s.column_text(4);
  d.status = st == "replaying" ? DeadStatus::replaying : st == "replayed" ? DeadStatus::replayed : DeadStatus::dead;
  auto r = s.column_text(5);
  d.reason_len = static_cast<std::uint16_t>(std::min(r.size(), DeadLetter::kMaxReason));
  std::memcpy(d.reason_buf.data(), r.data(), d.reason_len);
  d.http_status = static_cast<int>(s.column_int64(6));
  d.ts_ms = s.column_int64(7);
}

std::error_code Store::list_dead(FunctionRef<void(const DeadLetter&)> visit) noexcept {
  BH_ASSERT(on_reactor_thread());
  if (!is_open()) return err(StoreErrc::not_open);
  sql::Stmt& s = st_.list_dead;
  sql::StmtScope scope(s);
  DeadLetter d;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) {
    fill_dead(s, d);
    visit(d);
  }
  return rc == SQLITE_DONE ? std::error_code{} : sql::make_error(rc);
}

std::error_code Store::mark_replay(std::int64_t id, std::uint64_t& count) noexcept {
  BH_ASSERT(on_reactor_thread());
  count = 0;
  if (!is_open()) return err(StoreErrc::not_open);
  if (auto ec = settle()) return ec;
  sql::Stmt& s = st_.mark_dead;
  sql::StmtScope scope(s);
  s.bind(1, id);
  int rc = s.step();
  if (rc != SQLITE_DONE) return write_error(sql::make_error(rc), "mark_replay");
  count = static_cast<std::uint64_t>(sqlite3_changes(db_.get()));
  return {};
}

std::error_code Store::mark_replay_seq(std::uint64_t seq, std::uint64_t& count) noexcept {
  BH_ASSERT(on_reactor_thread());
  count = 0;
  if (!is_open()) return err(StoreErrc::not_open);
  if (auto ec = settle()) return ec;
  sql::Stmt& s = st_.mark_dead_seq;
  sql::StmtScope scope(s);
  s.bind(1, i64(seq));
  int rc = s.step();
  if (rc != SQLITE_DONE) return write_error(sql::make_error(rc), "mark_replay_seq");
  count = static_cast<std::uint64_t>(sqlite3_changes(db_.get()));
  return {};
}

std::error_code Store::next_replay(int sink, DeadLetter& out, bool& found) noexcept {
  BH_ASSERT(on_reactor_thread());
  found = false;
  if (!is_open()) return err(StoreErrc::not_open);
  const Sink* k = sink_at(sink);
  if (!k) return err(StoreErrc::unknown_sink);
  sql::Stmt& s = st_.next_replay;
  sql::StmtScope scope(s);
  s.bind(1, k->db_id);
  int rc = s.step();
  if (rc == SQLITE_ROW) {
    fill_dead(s, out);
    found = true;
    return {};
  }
  return rc == SQLITE_DONE ? std::error_code{} : sql::make_error(rc);
}

std::error_code Store::read_range(std::uint64_t first, std::uint64_t last, FunctionRef<void(const EventOut&)> visit,
                                  std::uint32_t& count, std::uint32_t max_events) noexcept {
  BH_ASSERT(on_reactor_thread());
  count = 0;
  if (!is_open()) return err(StoreErrc::not_open);
  if (first > last) return err(StoreErrc::invalid_argument);
  sql::Stmt& s = st_.read_range;
  sql::StmtScope scope(s);
  s.bind(1, i64(first));
  s.bind(2, i64(last));
  s.bind(3, static_cast<std::int64_t>(max_events));
  int rc;
  while ((rc = step_or_fault(s)) == SQLITE_ROW) {
    EventOut e{u64(s.column_int64(0)), s.column_int64(1), s.column_text(2), s.column_blob(3), s.column_text(4),
               s.column_int64(5) != 0};
    visit(e);
    ++count;
  }
  if (rc != SQLITE_DONE) {
    ++counters_.read_errors;
    return sql::make_error(rc);
  }
  return {};
}

std::error_code Store::finish_replay(std::int64_t id, bool delivered) noexcept {
  BH_ASSERT(on_reactor_thread());
  if (!is_open()) return err(StoreErrc::not_open);
  if (auto ec = settle()) return ec;
  sql::Stmt& s = st_.finish_replay;
  sql::StmtScope scope(s);
  s.bind(1, id);
  s.bind_text(2, delivered ? "replayed" : "dead");
  int rc = s.step();
  if (rc != SQLITE_DONE) return write_error(sql::make_error(rc), "finish_replay");
  if (sqlite3_changes(db_.get()) == 0) return err(StoreErrc::invalid_argument);
  if (delivered) islands_dirty_ = true;
  return {};
}

std::error_code Store::purge_dead(std::int64_t id, std::uint64_t& count) noexcept {
  BH_ASSERT(on_reactor_thread());
  count = 0;
  if (!is_open()) return err(StoreErrc::not_open);
  if (auto ec = settle()) return ec;
  sql::Stmt& s = st_.purge_dead;
  sql::StmtScope scope(s);
  s.bind(1, id);
  int rc = s.step();
  if (rc != SQLITE_DONE) return write_error(sql::make_error(rc), "purge_dead");
  count = static_cast<std::uint64_t>(sqlite3_changes(db_.get()));
  islands_dirty_ = true;
  return {};
}

// ---- retention -------------------------------------------------------------------------------

std::error_code Store::live_bytes(std::uint64_t& db_bytes, std::uint64_t& live) noexcept {
  std::int64_t pages = 0, free_pages = 0;
  for (auto [s, out] : {std::pair{&st_.page_count, &pages}, std::pair{&st_.freelist_count, &free_pages}}) {
    sql::StmtScope scope(*s);
    int rc = s->step();
    if (rc != SQLITE_ROW) return sql::make_error(rc == SQLITE_DONE ? SQLITE_ERROR : rc);
    *out = s->column_int64(0);
  }
  db_bytes = u64(pages * page_size_);
  live = u64((pages - free_pages) * page_size_);
  return {};
}

// One sample per retention_age / (kAgeSamples / 2) at most, so that the ring spans twice the
// retention age: the sample that makes an event old enough is still there when it is.
void Store::sample_age(hal::Clock::time_point now) noexcept {
  const auto spacing = std::chrono::milliseconds(std::max<std::int64_t>(opts_.retention_age_ms / (kAgeSamples / 2), 0));
  if (age_n_ > 0) {
    const AgeSample& newest = age_ring_[(age_head_ + age_n_ - 1) % kAgeSamples];
    if (newest.seq == last_seq() || now - newest.at < spacing) return;
  }
  if (age_n_ == kAgeSamples) {
    age_ring_[age_head_] = AgeSample{last_seq(), now};
    age_head_ = (age_head_ + 1) % kAgeSamples;
  } else {
    age_ring_[(age_head_ + age_n_++) % kAgeSamples] = AgeSample{last_seq(), now};
  }
}

// The highest seq of this run known to be at least retention_age old on the monotonic clock (the
// seq of the newest sample taken that long ago), or run_first_ - 1 when none is.
std::uint64_t Store::mono_old_upto(hal::Clock::time_point now) const noexcept {
  const auto age = std::chrono::milliseconds(opts_.retention_age_ms);
  std::uint64_t upto = run_first_ - 1;
  for (std::uint32_t i = 0; i < age_n_; ++i) {
    const AgeSample& a = age_ring_[(age_head_ + i) % kAgeSamples];
    if (now - a.at < age) break;  // samples are in time order
    upto = std::max(upto, a.seq);
  }
  return upto;
}

std::error_code Store::apply_retention(std::int64_t now_ms, std::uint64_t& deleted, bool wall_trusted) noexcept {
  BH_ASSERT(on_reactor_thread());
  deleted = 0;
  if (!is_open()) return err(StoreErrc::not_open);
  // Housekeeping's period bounds how stale a persisted cursor gets once delivery has stopped.
  (void)persist_cursors();  // a failure is counted and logged; the cursors stay to be written
  const hal::Clock::time_point mono_now = hal::Clock::now();
  sample_age(mono_now);
  // Only what every sink has seen may go; with no sink, everything may.
  std::uint64_t bound = sink_count_ ? min_cursor_ : durable_seq_;
  bound = std::min(bound, oldest_ + kRetentionChunk - 1);

  std::uint64_t upto = oldest_ - 1;  // delete [oldest_, upto]
  if (bound >= oldest_) {
    // Age, earlier runs: the prefix of events older than the cutoff by their wall ts (seq order ~
    // ingest time order), up to the first flagged one; nothing while the wall clock is not trusted.
    const std::uint64_t earlier = std::min(bound, run_first_ - 1);
    if (earlier >= oldest_ && wall_trusted) {
      sql::Stmt& y = st_.first_young;
      sql::StmtScope scope(y);
      y.bind(1, i64(oldest_));
      y.bind(2, i64(earlier));
      y.bind(3, now_ms - opts_.retention_age_ms);
      int rc = y.step();
      if (rc == SQLITE_ROW) upto = u64(y.column_int64(0)) - 1;
      else if (rc == SQLITE_DONE) upto = earlier;
      else return sql::make_error(rc);
    }
    // Age, this run: by the monotonic clock, once every earlier event is gone or going.
    if (upto + 1 >= run_first_) upto = std::max(upto, std::min(bound, mono_old_upto(mono_now)));
    // Size: more of the oldest delivered ones, estimated from the mean row size of the tail.
    std::uint64_t db_bytes = 0, live = 0;
    if (auto ec = live_bytes(db_bytes, live)) return ec;
    if (live > opts_.retention_bytes) {
      const std::uint64_t rows = std::max<std::uint64_t>(1, next_seq_ - oldest_);
      const std::uint64_t per_row = std::max<std::uint64_t>(1, live / rows);
      const std::uint64_t need = (live - opts_.retention_bytes + per_row - 1) / per_row;
      upto = std::max(upto, std::min(bound, oldest_ + need - 1));
    }
  }
  const bool prefix = upto >= oldest_;
  const bool islands = islands_dirty_ && oldest_ > 1;
  if (!prefix && !islands) return {};

  if (auto ec = settle()) return ec;
  sql::TxnGuard txn(db_);
  if (auto ec = txn.begin()) return write_error(ec, "retention begin");
  recent_.drop_through(prefix ? upto : oldest_ - 1);  // islands lie below oldest_
  if (prefix) {
    sql::Stmt& d = st_.delete_prefix;
    {
      sql::StmtScope scope(d);
      d.bind(1, i64(oldest_));
      d.bind(2, i64(upto));
      int rc = d.step();
      if (rc != SQLITE_DONE) return write_error(sql::make_error(rc), "retention delete");
      deleted += static_cast<std::uint64_t>(sqlite3_changes(db_.get()));
    }
    sql::Stmt& p = st_.set_purged;
    sql::StmtScope scope(p);
    p.bind(1, i64(upto));
    p.bind(2, i64(next_seq_));
    int rc = p.step();
    if (rc != SQLITE_DONE) return write_error(sql::make_error(rc), "retention purged_upto");
  }
  if (islands) {
    sql::Stmt& d = st_.delete_islands;
    sql::StmtScope scope(d);
    d.bind(1, i64(oldest_));
    int rc = d.step();
    if (rc != SQLITE_DONE) return write_error(sql::make_error(rc), "retention islands");
    deleted += static_cast<std::uint64_t>(sqlite3_changes(db_.get()));
  }
  if (auto ec = txn.commit()) {
    deleted = 0;
    return write_error(ec, "retention commit");
  }
  if (prefix) oldest_ = upto + 1;
  if (islands) islands_dirty_ = false;
  counters_.purged += deleted;
  if (deleted && checkpointer_.running()) {
    checkpointer_.kick();
  } else if (deleted) {
    int rc = sqlite3_wal_checkpoint_v2(db_.get(), nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
    if (rc != SQLITE_OK && rc != SQLITE_BUSY) bh::log::warn("store: checkpoint: {}", sqlite3_errstr(rc));
  }
  return {};
}

// ---- stats -----------------------------------------------------------------------------------

// Every write transaction of the store's connection (appends, cursors, retention, dead letters).
int Store::on_commit_hook(void* self) noexcept {
  ++static_cast<Store*>(self)->counters_.commits;
  return 0;  // never turns a COMMIT into a ROLLBACK
}

StoreStats Store::stats() noexcept {
  BH_ASSERT(on_reactor_thread());
  StoreStats s = counters_;
  s.last_seq = last_seq();
  s.oldest_seq = oldest_;
  s.pending = pending();
  sqlite3_int64 cur = 0, high = 0;
  sqlite3_status64(SQLITE_STATUS_MEMORY_USED, &cur, &high, 0);
  s.sqlite_mem_used = cur;
  s.sqlite_mem_highwater = high;
  s.sqlite_heap_limit = sqlite3_hard_heap_limit64(-1);
  s.in_transaction = in_transaction();
  s.checkpoint_thread = checkpointer_.running();
  s.checkpointer = checkpointer_.stats();
  s.sync_thread = syncer_.running();
  s.syncer = syncer_.stats();
  s.durable_seq = durable_seq_;
  s.ack_log = log_on_;
  s.held = held_;
  s.settles = counters_.settles;
  s.log = log_.stats();
  s.io = store_io_counters();
  s.fsyncs = s.syncer.syncs + s.io.db_syncs + s.io.wal_syncs + s.io.other_syncs;
  if (is_open()) (void)live_bytes(s.db_bytes, s.live_bytes);
  s.sink_count = 0;
  for (const Sink& k : sinks_) {
    if (k.used) s.sinks[s.sink_count++] = SinkStats{k.view(), k.cursor, last_seq() - k.cursor};
  }
  return s;
}

}  // namespace bh
