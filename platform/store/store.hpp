// Store: the durable outbox. Events are group-committed to SQLite (WAL) with sequence numbers that
// only ever grow, across restarts and purges; each sink reads them in seq order behind a persisted
// cursor; refused batches become dead letters; retention trims what every sink has seen.
// It is synchronous and single-threaded (the reactor thread calls it), it is not a queue in
// memory, and it knows nothing of HTTP or JSON: bodies are opaque bytes.
#pragma once
#include <array>
#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <system_error>

#include "platform/util/function_ref.hpp"
#include "platform/store/ack_log.hpp"
#include "platform/store/checkpointer.hpp"
#include "platform/store/fault_vfs.hpp"
#include "platform/store/sqlite.hpp"
#include "platform/store/recent_events.hpp"
#include "platform/store/wal_syncer.hpp"

namespace bh {

struct StoreOptions {
  std::string path;                      // database file; -wal and -shm live next to it
  bool sync_full = true;                 // PRAGMA synchronous=FULL (power-loss safe) or NORMAL
  std::uint32_t max_batch = 1024;        // largest append() batch accepted
  std::uint64_t max_pending = 1'000'000; // at_cap() threshold
  enum class Overflow : std::uint8_t { reject, drop_oldest } overflow = Overflow::reject;
  std::int64_t retention_age_ms = 7LL * 24 * 3600 * 1000;
  std::uint64_t retention_bytes = 1ULL << 30;  // bound on live pages (page_count - freelist) * page_size
  std::int64_t heap_limit = 8LL << 20;   // sqlite3_hard_heap_limit64 (process-wide); <= 0: unchanged
  int cache_kib = 1024;                  // PRAGMA cache_size=-<kib>
  int busy_timeout_ms = 1000;            // a locked database fails within this, never hangs
  bool quick_check = true;               // PRAGMA quick_check at open
  // WAL checkpoints on a thread of their own (platform/store/checkpointer.hpp) instead of inside the
  // COMMIT that crosses SQLite's auto-checkpoint size. If that thread cannot start, the store logs a
  // warning and keeps SQLite's auto-checkpoint.
  bool checkpoint_thread = false;
  std::uint32_t wal_restart_pages = 16384;  // the WAL is rewound once it is this long (see checkpointer)
  // WAL pages not yet copied that start a checkpoint: the checkpointer thread's trigger, or SQLite's
  // wal_autocheckpoint (inside the COMMIT that crosses it) without the thread.
  std::uint32_t checkpoint_pages = 1000;
  // With sync_full: the WAL is fdatasync()ed by a thread of its own after commits
  // (platform/store/wal_syncer.hpp), not inside each COMMIT on the caller's thread; events become
  // durable (durable_seq(), collect_sync()) when that sync returns. If the thread cannot start, the
  // store logs a warning and SQLite syncs inside COMMIT (synchronous=FULL).
  bool sync_thread = false;
  // With sync_thread: small batches are made durable in the ack log (platform/store/ack_log.hpp, one
  // 4 KiB block per fsync) and committed to SQLite with their neighbours every kHoldMax at most.
  // Whatever this says, an ack log an earlier process left behind is replayed at open.
  bool ack_log = false;
  // The newest rows kept in memory for the sinks' reads (platform/store/recent_events.hpp): bytes
  // and rows at most (capped at its compiled capacity). 0: every read is a SELECT.
  std::size_t recent_bytes = 1024 * 1024;
  std::uint32_t recent_rows = 4096;
};

// A source's dedupe key for one event (platform/sources/dedupe.hpp makes them): 128 opaque bits.
struct DedupeKey {
  std::array<std::uint8_t, 16> b{};
  bool operator==(const DedupeKey&) const = default;
};

struct EventIn {
  std::string_view source;
  std::string_view body;
  std::int64_t ts_ms;
  const DedupeKey* dedupe = nullptr;  // stored in `dedupe` in the event's transaction (or none)
  std::string_view identity{};        // the authenticated client (TLS client certificate); empty: none (NULL)
  bool clock_unsynced = false;        // ts_ms was read while the wall clock was not synced (stored 1, else NULL)
};

// Views are valid during the visitor call only.
struct EventOut {
  std::uint64_t seq;
  std::int64_t ts_ms;
  std::string_view source;
  std::string_view body;
  std::string_view identity{};  // empty: the event has none
  bool clock_unsynced = false;  // stamped while the wall clock was not synced: its ts is not to be trusted
};

enum class DeadStatus : std::uint8_t { dead, replaying, replayed };
std::string_view dead_status_name(DeadStatus s) noexcept;

struct DeadLetter {
  static constexpr std::size_t kMaxReason = 160;  // longer reasons are truncated when stored
  std::int64_t id = 0;
  int sink = -1;  // sink handle
  std::uint64_t first_seq = 0;
  std::uint64_t last_seq = 0;
  DeadStatus status = DeadStatus::dead;
  int http_status = 0;
  std::int64_t ts_ms = 0;
  std::array<char, kMaxReason> reason_buf{};
  std::uint16_t reason_len = 0;
  std::string_view reason() const noexcept { return {reason_buf.data(), reason_len}; }
};

// Errors of the store's own (SQLite failures come as bh::sql::category() codes).
enum class StoreErrc {
  not_open = 1,
  invalid_argument,  // empty/oversized batch, seqs_out too small, first > last, ...
  unknown_sink,
  too_many_sinks,
  bad_cursor,        // advance below the cursor or beyond the last committed seq
  health_check,      // SELECT 1 / quick_check / journal_mode=wal did not answer as expected
  schema,            // the database was written by a newer schema version
};
const std::error_category& store_category() noexcept;
inline std::error_code make_error_code(StoreErrc e) noexcept { return {static_cast<int>(e), store_category()}; }

struct SinkStats {
  std::string_view name;
  std::uint64_t cursor;   // last seq delivered (or dead-lettered / dropped)
  std::uint64_t pending;  // last_seq - cursor
};

inline constexpr std::uint32_t kStoreMaxSinks = 8;

struct StoreStats {
  std::uint64_t appended = 0;       // events committed since open
  std::uint64_t batches = 0;        // commits since open
  std::uint64_t last_seq = 0;       // highest committed seq (persisted)
  std::uint64_t oldest_seq = 0;     // first retained seq of the contiguous tail
  std::uint64_t pending = 0;
  std::uint64_t dropped = 0;        // by drop_oldest since open
  std::uint64_t purged = 0;         // by retention since open
  std::uint64_t dead_lettered = 0;  // batches since open
  std::uint64_t commit_errors = 0;  // failed write transactions since open
  std::uint64_t read_errors = 0;
  std::uint64_t cached_reads = 0;   // events read_batch served from the recent rows, not a SELECT
  std::int64_t sqlite_mem_used = 0;       // process-wide (sqlite3_status64 MEMORY_USED)
  std::int64_t sqlite_mem_highwater = 0;  // process-wide
  std::int64_t sqlite_heap_limit = 0;     // sqlite3_hard_heap_limit64(-1)
  std::uint64_t db_bytes = 0;             // page_count * page_size
  std::uint64_t live_bytes = 0;           // (page_count - freelist_count) * page_size
  bool in_transaction = false;
  bool checkpoint_thread = false;   // the checkpointer thread runs (else SQLite's auto-checkpoint)
  CheckpointerStats checkpointer{};
  bool sync_thread = false;         // the WAL syncer runs (else SQLite syncs inside COMMIT)
  WalSyncerStats syncer{};
  std::uint64_t durable_seq = 0;    // highest seq known durable (what sinks may read)
  std::uint64_t sync_failures = 0;  // WAL syncs that failed (their commits were undone)
  std::uint64_t undone = 0;         // events removed because their sync failed
  // Flash wear (issue 16): what the store asks of the disk.
  std::uint64_t commits = 0;        // write transactions committed on the store's connection since open
  std::uint64_t fsyncs = 0;         // syncs: the WAL syncer's fdatasyncs + SQLite's own (io.*_syncs)
  bool ack_log = false;             // small batches go through the ack log now
  bool held = false;                // the append transaction is held open (ack log)
  std::uint64_t settles = 0;        // held transactions committed
  AckLogStats log{};
  StoreIoCounters io{};             // bytes/syncs SQLite handed to the VFS per file (process-wide)
  std::uint32_t sink_count = 0;
  std::array<SinkStats, kStoreMaxSinks> sinks{};
};

class Store {
 public:
  static constexpr std::uint32_t kMaxSinks = kStoreMaxSinks;
  static constexpr std::uint32_t kRetentionChunk = 10'000;  // rows deleted per apply_retention call
  static constexpr std::size_t kMaxSinkName = 64;

  // User-provided, so that a pool's Store() does not zero the recent rows' 1.1 MiB (every other
  // member has its initializer): their pages are touched as rows come.
  Store() noexcept {}
  ~Store() { close(); }
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Opens (or creates) the database: WAL, synchronous, busy timeout, cache and heap limits, then
  // health checks (SELECT 1, quick_check), schema, and loads next-seq and every persisted sink.
  // Errors: SQLite codes (SQLITE_CANTOPEN, SQLITE_NOTADB, SQLITE_CORRUPT, SQLITE_BUSY, ...),
  // StoreErrc::health_check / schema / too_many_sinks. On error nothing stays open (no handle, no fd).
  // Notes: start-up only (allocates); the heap limit is process-wide.
  std::error_code open(const StoreOptions& opts);
  // Finalizes every statement and closes the handle (the syncer finishes its last sync first).
  // Idempotent; the destructor calls it.
  void close() noexcept;
  bool is_open() const noexcept { return db_.is_open(); }

  // Group commit: BEGIN IMMEDIATE; INSERT each event (and its dedupe key, if it has one: the key
  // and the event are stored together or not at all; a source's keys beyond the window it
  // registered with load_dedupe() are trimmed in the same transaction); persist next-seq; COMMIT.
  // On success
  // seqs_out[i] is the seq of events[i] (consecutive, strictly increasing).
  // Errors: StoreErrc::invalid_argument (empty, > max_batch, seqs_out too small), SQLite codes
  // (SQLITE_BUSY, SQLITE_FULL, SQLITE_IOERR_*): then nothing is stored, next-seq is unchanged, no
  // transaction is left open and the next append works once the cause is gone.
  // Notes: no heap allocation; the caller answers `err storage` on error. Does not check at_cap().
  // With the WAL syncer (async_sync()) the batch is committed but not yet durable: the caller acks
  // it only once collect_sync() reports the ticket request_sync() gave it.
  std::error_code append(std::span<const EventIn> events, std::span<std::uint64_t> seqs_out) noexcept;

  // ---- dedupe keys (platform/sources/dedupe.hpp) ----
  static constexpr std::uint32_t kMaxDedupeSources = 8;
  // Start-up: registers `source`'s window, deletes its keys beyond the newest `window`, and visits
  // the rest oldest first (to fill the source's in-memory window). window 0: every key of the
  // source is deleted (dedupe turned off).
  // Errors: StoreErrc::invalid_argument (empty or long name, more than kMaxDedupeSources), SQLite codes.
  std::error_code load_dedupe(std::string_view source, std::uint32_t window, FunctionRef<void(const DedupeKey&)> visit);
  // Keys stored for `source` now (a COUNT: tests and start-up only).
  std::uint64_t dedupe_rows(std::string_view source);

  // ---- durability: the WAL syncer (StoreOptions::sync_thread) ----
  // Commits are made durable by the syncer thread (else each COMMIT was durable when it returned).
  bool async_sync() const noexcept { return syncer_.running(); }
  // Highest seq known durable: sinks read no further. == last_seq() unless async_sync().
  std::uint64_t durable_seq() const noexcept { return durable_seq_; }
  // Asks for every commit so far to be made durable; returns that request's ticket (tickets only
  // grow). Without the syncer the ticket is durable at once.
  std::uint64_t request_sync() noexcept;
  struct SyncProgress {
    std::uint64_t durable_ticket = 0;  // every ticket <= this is durable...
    std::uint64_t failed_ticket = 0;   // ...unless <= this: its commit was undone (answer err storage)
  };
  // Takes the syncer's outcomes (never blocks). A failed sync undoes every commit not known durable
  // (their rows are deleted; next_seq goes back, so no seq anyone saw is ever reused) and fails
  // every ticket issued so far. If the undo itself fails, append() retries it first and fails
  // until it succeeds: nothing un-acked ever becomes readable.
  SyncProgress collect_sync() noexcept;
  // Readable when the syncer has outcomes (-1 without it). Owned by the store. The waiter clears
  // it with clear_sync_event() when woken, before collect_sync().
  int sync_event_fd() const noexcept { return syncer_.event_fd(); }
  void clear_sync_event() noexcept {
    if (syncer_.running()) syncer_.clear_event();
  }
  // Waits until every requested sync has an outcome, at most `limit` (true at once without the
  // syncer). Blocks the caller: for a full in-flight ring and tests only.
  bool wait_sync(std::chrono::milliseconds limit) noexcept;
  // How long the oldest unanswered sync request has waited (zero without the syncer or when idle).
  // The watchdog counts it as loop lag: a hung fsync stalls acks as it stalled the reactor when
  // SQLite synced inside COMMIT.
  hal::Clock::duration sync_stall(hal::Clock::time_point now) const noexcept {
    return syncer_.running() ? syncer_.stall(now) : hal::Clock::duration{};
  }

  // Committed events not yet delivered to every sink (0 when no sink is registered). O(1).
  std::uint64_t pending() const noexcept { return sink_count_ ? last_seq() - min_cursor_ : 0; }
  bool at_cap() const noexcept { return pending() >= opts_.max_pending; }
  StoreOptions::Overflow overflow() const noexcept { return opts_.overflow; }
  std::uint64_t last_seq() const noexcept { return next_seq_ - 1; }
  std::uint64_t next_seq() const noexcept { return next_seq_; }
  // True while a transaction is open (must be false between calls, whatever failed, but while the
  // ack log holds the append transaction: holding()).
  bool in_transaction() const noexcept { return db_.in_transaction(); }

  // ---- the ack log (StoreOptions::ack_log, platform/store/ack_log.hpp) ----
  // A held append transaction is committed at the first append or write after this long, or by
  // the committer's timer when no append comes (hold_deadline()).
  static constexpr std::chrono::seconds kHoldMax{30};
  bool holding() const noexcept { return held_; }
  hal::Clock::time_point hold_deadline() const noexcept { return held_since_ + kHoldMax; }
  // Commits the held append transaction, if any; the next request_sync() syncs the WAL. Every other
  // write path calls it first (but persist_cursors(), whose cursors join it), so that the held
  // transaction only holds what the log can redo, or a repeated delivery makes good. Errors: SQLite
  // codes: the hold goes on (or, if SQLite rolled it back, its events are inserted again from the
  // log; appends fail until that works).
  std::error_code settle() noexcept;

  // Overflow policy drop_oldest: advances every sink cursor past the oldest n undelivered events.
  // `dropped` = how many events were skipped by at least one sink (counted in stats).
  // Errors: SQLite codes (nothing changed). Notes: one UPDATE, no heap.
  std::error_code drop_oldest(std::uint64_t n, std::uint64_t& dropped) noexcept;

  // Registers (or finds) the sink `name` and returns its handle in `sink`. Sinks persist: every
  // sink registered once is loaded at open and counts for pending/retention until remove_sink.
  // Notes: a new sink starts at the oldest retained event of the contiguous tail (cursor =
  // oldest_seq - 1): it gets everything still retained, except dead-lettered islands below it.
  // Errors: StoreErrc::too_many_sinks / invalid_argument (empty or > kMaxSinkName), SQLite codes.
  std::error_code register_sink(std::string_view name, int& sink);
  // Forgets a sink: its cursor and its dead letters are deleted. Its handle becomes invalid.
  // Errors: StoreErrc::unknown_sink, SQLite codes.
  std::error_code remove_sink(std::string_view name);
  // Handle of a registered sink, or -1.
  int find_sink(std::string_view name) const noexcept;
  std::string_view sink_name(int sink) const noexcept;
  // Last seq delivered to `sink` (0 for an unknown handle).
  std::uint64_t cursor(int sink) const noexcept;

  // Reads up to max_events events with cursor(sink) < seq <= durable_seq() in seq order, stopping before the
  // body bytes would exceed max_bytes (at least one event is read if any is pending), and calls
  // visit for each; count = events visited. Does not move the cursor.
  // Errors: StoreErrc::unknown_sink, SQLite codes (count = events visited before the error).
  // Notes: no heap; visit must not call back into the Store.
  std::error_code read_batch(int sink, std::uint32_t max_events, std::uint64_t max_bytes,
                             FunctionRef<void(const EventOut&)> visit, std::uint32_t& count) noexcept;
  // Moves the cursor of `sink` to `seq` (everything <= seq delivered): at once in memory (pending,
  // retention, the next read_batch), on disk at most every kCursorPersist (one UPDATE of every
  // moved cursor in one transaction; also at close, in apply_retention and with dead letters).
  // Why not each time: every persisted cursor is a 4 KiB page in the WAL, as much as the events'
  // own commit at low rates (issue 16, flash wear); the price is that after a crash a sink may get
  // its last deliveries (at most kCursorPersist, or housekeeping's period when delivery stopped)
  // again: at-least-once, as promised.
  // Errors: StoreErrc::unknown_sink, StoreErrc::bad_cursor (seq < cursor or > durable_seq), SQLite
  // codes of the persisting transaction (cursor unchanged: the caller retries the move).
  // Notes: seq == cursor is a no-op success; no heap.
  std::error_code advance_cursor(int sink, std::uint64_t seq) noexcept;
  static constexpr std::chrono::seconds kCursorPersist{5};
  // Writes every cursor moved since the last persist (one transaction; nothing when none moved).
  // Errors: SQLite codes (they stay to be written).
  std::error_code persist_cursors() noexcept;

  // Moves [first, last] of `sink` to the dead-letter table and advances its cursor to last (if
  // beyond it), in one transaction. `reason` is truncated to DeadLetter::kMaxReason bytes.
  // Errors: StoreErrc::unknown_sink / invalid_argument (first > last, last > last_seq), SQLite codes.
  std::error_code dead_letter(int sink, std::uint64_t first, std::uint64_t last, int http_status,
                              std::string_view reason, std::int64_t now_ms) noexcept;
  // Visits every dead letter, oldest first. Errors: SQLite codes.
  std::error_code list_dead(FunctionRef<void(const DeadLetter&)> visit) noexcept;
  // Marks dead letters 'dead' -> 'replaying': one by id, or all with id == 0; count = rows changed.
  std::error_code mark_replay(std::int64_t id, std::uint64_t& count) noexcept;
  // Same, for the dead letters whose range holds `seq` (the console's `dlq replay <seq>`).
  std::error_code mark_replay_seq(std::uint64_t seq, std::uint64_t& count) noexcept;
  // The oldest 'replaying' dead letter of `sink`; found = false if none.
  std::error_code next_replay(int sink, DeadLetter& out, bool& found) noexcept;
  // Visits the events [first, last] (for a replay), the first max_events of them at most (the audit
  // log's start-up catch-up reads in bounded chunks); count = events visited. Errors: SQLite codes.
  // Notes: an event purged by retention is simply absent (dead/replaying ranges are never purged).
  std::error_code read_range(std::uint64_t first, std::uint64_t last, FunctionRef<void(const EventOut&)> visit,
                             std::uint32_t& count, std::uint32_t max_events = UINT32_MAX) noexcept;
  // Ends a replay: 'replaying' -> 'replayed' if delivered, else back to 'dead'.
  // Errors: StoreErrc::invalid_argument if no such 'replaying' row, SQLite codes.
  std::error_code finish_replay(std::int64_t id, bool delivered) noexcept;
  // Deletes dead letters (one by id, all with 0); count = rows deleted. Their events become purgeable.
  std::error_code purge_dead(std::int64_t id, std::uint64_t& count) noexcept;

  // Retention: deletes, oldest first and at most kRetentionChunk rows per call, events delivered to
  // every sink (all events when no sink is registered) that are older than retention_age_ms, and
  // more of the oldest delivered ones while live bytes exceed retention_bytes. Never deletes an
  // undelivered event nor one inside a 'dead'/'replaying' dead letter. Then a passive checkpoint
  // (by the checkpointer thread when it runs).
  // How old an event is, with a wall clock that may jump (issue 17):
  // - events of this run (seq >= run_first_seq()): by their age on the monotonic clock only. Each
  //   call samples (last_seq, hal::Clock::now()) into a fixed ring of kAgeSamples (at most one
  //   sample per retention_age / (kAgeSamples / 2), so the ring spans twice the age); every event
  //   with seq <= a sample's seq existed at its time, so events up to the newest sample at least
  //   retention_age old are old enough. They go at most retention_age / 32 (or one housekeeping
  //   period) late, never early, whatever the wall clock did;
  // - events of earlier runs: by their wall ts against now_ms, as before, but only while
  //   wall_trusted (the caller's clock check does not say "not synced"), and never those stored
  //   flagged clock_unsynced: only the byte bound deletes those.
  // Errors: SQLite codes (nothing deleted). deleted = rows deleted.
  std::error_code apply_retention(std::int64_t now_ms, std::uint64_t& deleted, bool wall_trusted = true) noexcept;
  static constexpr std::uint32_t kAgeSamples = 64;
  // First seq this process stored (next_seq at open).
  std::uint64_t run_first_seq() const noexcept { return run_first_; }

  // Counters and gauges. Runs two PRAGMAs (db size); not for the hot path.
  StoreStats stats() noexcept;

 private:
  struct Sink {
    bool used = false;
    std::int64_t db_id = 0;
    std::uint64_t cursor = 0;
    bool dirty = false;  // cursor moved since it was last persisted
    std::array<char, kMaxSinkName> name{};
    std::uint8_t name_len = 0;
    std::string_view view() const noexcept { return {name.data(), name_len}; }
  };
  // Every statement, prepared once at open (SQLITE_PREPARE_PERSISTENT) and finalized at close.
  struct Stmts {
    // insert: one row with its seq; insert_many (kInsertRows rows) and insert_next (one): rows
    // appended with the next seqs (see insert_rows()).
    sql::Stmt insert, insert_many, insert_next, set_next_seq, read_batch, read_range, set_cursor, raise_cursors;
    sql::Stmt undo, undo_dedupe, ins_dedupe, trim_dedupe;
    sql::Stmt ins_dead, list_dead, mark_dead, mark_dead_seq, next_replay, finish_replay, purge_dead;
    sql::Stmt first_young, delete_prefix, delete_islands, set_purged, page_count, freelist_count;
    void finalize_all() noexcept;
  };

  std::error_code open_steps();
  std::error_code prepare_all();
  std::error_code load_state();
  void recompute_min() noexcept;
  Sink* sink_at(int sink) noexcept;
  const Sink* sink_at(int sink) const noexcept;
  std::error_code live_bytes(std::uint64_t& db_bytes, std::uint64_t& live) noexcept;
  std::error_code write_error(std::error_code ec, const char* what) noexcept;
  void fill_dead(sql::Stmt& s, DeadLetter& d) const noexcept;
  std::error_code undo_unsynced() noexcept;
  std::error_code store_keys(std::span<const EventIn> events, std::uint64_t first_seq) noexcept;
  std::error_code insert_rows(std::span<const EventIn> events, std::uint64_t first_seq) noexcept;
  static constexpr std::size_t kInsertRows = 32;  // rows per multi-row INSERT
  static constexpr std::size_t kAppendCols = 5;   // its parameters per row
  std::error_code append_logged(std::span<const EventIn> events) noexcept;
  std::error_code append_committed(std::span<const EventIn> events) noexcept;
  std::error_code replay_held() noexcept;
  std::error_code open_ack_log();
  struct DedupeSource {
    std::array<char, kMaxSinkName> name{};
    std::uint8_t name_len = 0;
    std::uint32_t window = 0;
    std::uint64_t rows = 0;  // an upper bound of its rows (exact after a trim)
    std::string_view view() const noexcept { return {name.data(), name_len}; }
  };

  StoreOptions opts_;
  sql::Db db_;
  WalCheckpointer checkpointer_;  // stopped before db_ closes
  WalSyncer syncer_;              // stopped before db_ closes
  std::uint64_t durable_seq_ = 0;
  std::uint64_t ticket_ = 0, durable_ticket_ = 0, failed_ticket_ = 0;
  bool undo_pending_ = false;     // a failed sync's undo has not succeeded yet
  AckLog log_;
  RecentEvents recent_;           // the newest rows, for read_batch
  bool log_on_ = false;           // small batches go through log_ (ack_log and the syncer runs)
  bool held_ = false;             // the append transaction is open, holding log_'s batches
  hal::Clock::time_point held_since_{};
  std::uint64_t held_first_ = 0;  // first seq of the held transaction
  bool want_wal_sync_ = false, want_log_sync_ = false;  // what the next request_sync() syncs
  bool settled_ = false;          // a held transaction was committed since the last request_sync()
  bool replay_pending_ = false;   // SQLite rolled a held transaction back: [replay_from_, next_seq_) to redo
  std::uint64_t replay_from_ = 0;
  Stmts st_;
  std::uint64_t next_seq_ = 1;
  std::uint64_t oldest_ = 1;  // first seq of the contiguous retained tail (purged_upto + 1)
  std::uint64_t min_cursor_ = 0;
  std::uint32_t sink_count_ = 0;
  std::array<Sink, kMaxSinks> sinks_{};
  std::array<DedupeSource, kMaxDedupeSources> dedupe_{};
  std::uint32_t dedupe_count_ = 0;
  bool islands_dirty_ = true;  // dead letters changed: re-check purgeable islands below oldest_
  std::int64_t page_size_ = 4096;
  StoreStats counters_{};
  hal::Clock::time_point cursors_persisted_{};
  // Retention's age samples of this run (see apply_retention): a ring, oldest at age_head_.
  struct AgeSample {
    std::uint64_t seq = 0;  // last_seq when taken: every seq <= it existed at `at`
    hal::Clock::time_point at{};
  };
  std::array<AgeSample, kAgeSamples> age_ring_{};
  std::uint32_t age_head_ = 0, age_n_ = 0;
  std::uint64_t run_first_ = 1;
  void sample_age(hal::Clock::time_point now) noexcept;
  std::uint64_t mono_old_upto(hal::Clock::time_point now) const noexcept;
  static int on_commit_hook(void* self) noexcept;
};

}  // namespace bh

template <> struct std::is_error_code_enum<bh::StoreErrc> : std::true_type {};
