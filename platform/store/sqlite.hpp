// sqlite: thin RAII over the SQLite C API: a connection (Db), a prepared statement (Stmt), a
// statement-reset scope (StmtScope), a transaction (TxnGuard), and an error category so SQLite
// result codes travel as std::error_code values. It is not an ORM and hides nothing: callers write
// SQL and bind by 1-based index. Nothing here throws or allocates from our side; SQLite's own
// memory goes through sqlite3_malloc and is bounded by sqlite3_hard_heap_limit64.
#pragma once
#include <sqlite3.h>

#include <cstdint>
#include <string_view>
#include <system_error>

namespace bh::sql {

// The error category of SQLite (extended) result codes; message() is sqlite3_errstr(code).
const std::error_category& category() noexcept;

// An error_code for a SQLite result code (SQLITE_OK gives an empty error_code).
inline std::error_code make_error(int rc) noexcept {
  return rc == SQLITE_OK ? std::error_code{} : std::error_code{rc, category()};
}

// The primary result code (SQLITE_IOERR for SQLITE_IOERR_WRITE, ...) of an error from category().
inline int primary(const std::error_code& ec) noexcept {
  return &ec.category() == &category() ? (ec.value() & 0xff) : -1;
}

// A prepared statement: finalized by the destructor. Move-only.
class Stmt {
 public:
  Stmt() = default;
  ~Stmt() { finalize(); }
  Stmt(Stmt&& o) noexcept : s_(o.s_) { o.s_ = nullptr; }
  Stmt& operator=(Stmt&& o) noexcept {
    if (this != &o) {
      finalize();
      s_ = o.s_;
      o.s_ = nullptr;
    }
    return *this;
  }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  // Compiles `sql` once for repeated use (SQLITE_PREPARE_PERSISTENT).
  // Errors: the SQLite code (syntax, SQLITE_NOTADB, SQLITE_NOMEM, ...); the statement stays empty.
  std::error_code prepare(sqlite3* db, std::string_view sql) noexcept;
  void finalize() noexcept;
  sqlite3_stmt* get() const noexcept { return s_; }
  explicit operator bool() const noexcept { return s_ != nullptr; }

  // Binds by 1-based index. Text and blobs are bound SQLITE_STATIC: the caller's bytes must stay
  // valid until the statement is reset. Returns the SQLite code.
  int bind(int i, std::int64_t v) noexcept { return sqlite3_bind_int64(s_, i, v); }
  int bind_text(int i, std::string_view v) noexcept {
    return sqlite3_bind_text(s_, i, v.data() ? v.data() : "", static_cast<int>(v.size()), SQLITE_STATIC);
  }
  int bind_blob(int i, std::string_view v) noexcept {
    return sqlite3_bind_blob(s_, i, v.data() ? v.data() : "", static_cast<int>(v.size()), SQLITE_STATIC);
  }

  // One step: SQLITE_ROW, SQLITE_DONE or an error code.
  int step() noexcept { return sqlite3_step(s_); }
  // Resets the statement and clears its bindings (releases read locks held by a pending SELECT).
  void reset() noexcept {
    if (s_) {
      sqlite3_reset(s_);
      sqlite3_clear_bindings(s_);
    }
  }

  std::int64_t column_int64(int i) const noexcept { return sqlite3_column_int64(s_, i); }
  // Views into SQLite's row buffer: valid until the next step/reset of this statement.
  std::string_view column_text(int i) const noexcept {
    auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s_, i));
    return p ? std::string_view(p, static_cast<std::size_t>(sqlite3_column_bytes(s_, i))) : std::string_view{};
  }
  std::string_view column_blob(int i) const noexcept {
    auto* p = static_cast<const char*>(sqlite3_column_blob(s_, i));
    return p ? std::string_view(p, static_cast<std::size_t>(sqlite3_column_bytes(s_, i))) : std::string_view{};
  }

 private:
  sqlite3_stmt* s_ = nullptr;
};

// Resets a statement when the scope ends, whatever path leaves it.
class StmtScope {
 public:
  explicit StmtScope(Stmt& s) noexcept : s_(s) {}
  ~StmtScope() { s_.reset(); }
  StmtScope(const StmtScope&) = delete;
  StmtScope& operator=(const StmtScope&) = delete;

 private:
  Stmt& s_;
};

// A connection. Owns the sqlite3* and the three cached transaction statements. Not movable (it
// lives inside its owner); close() is idempotent and the destructor calls it.
class Db {
 public:
  Db() = default;
  ~Db() { close(); }
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  // Opens `path` with `flags` (SQLITE_OPEN_*) through `vfs` (nullptr: the default VFS), turns on
  // extended result codes and sets the busy timeout.
  // Errors: the SQLite code; the handle is closed before returning (a failed open leaks nothing).
  std::error_code open(const char* path, int flags, const char* vfs, int busy_timeout_ms) noexcept;
  // Finalizes the cached statements and closes the handle. Notes: the owner must have finalized
  // its own statements first; if it has not, the close is deferred (sqlite3_close_v2) and logged.
  void close() noexcept;
  sqlite3* get() const noexcept { return db_; }
  bool is_open() const noexcept { return db_ != nullptr; }
  // True while a transaction is open on this connection (sqlite3_get_autocommit == 0).
  bool in_transaction() const noexcept { return db_ && sqlite3_get_autocommit(db_) == 0; }
  const char* errmsg() const noexcept { return db_ ? sqlite3_errmsg(db_) : "not open"; }

  // Runs one or more statements with sqlite3_exec. Start-up/maintenance only (compiles each time).
  std::error_code exec(const char* sql) noexcept;

  // BEGIN IMMEDIATE / COMMIT / ROLLBACK from cached statements (prepared on first use).
  // Errors: the SQLite code; SQLITE_BUSY after the busy timeout if another connection writes.
  std::error_code begin_immediate() noexcept;
  std::error_code commit() noexcept;
  // Notes: a no-op if no transaction is open (SQLite may already have rolled back on IOERR/FULL).
  std::error_code rollback() noexcept;
  // One batch inside a transaction held open (the store's ack log): SAVEPOINT, RELEASE, and
  // ROLLBACK TO + RELEASE (undoes the batch only; the transaction stays open).
  std::error_code savepoint() noexcept;
  std::error_code release() noexcept;
  std::error_code rollback_to() noexcept;

 private:
  std::error_code run(Stmt& s, const char* sql) noexcept;

  sqlite3* db_ = nullptr;
  Stmt begin_, commit_, rollback_, savepoint_, release_, rollback_to_;
};

// A write transaction that rolls back in its destructor unless commit() succeeded.
// Example: TxnGuard t(db); if (auto ec = t.begin()) return ec; ...; return t.commit();
class TxnGuard {
 public:
  explicit TxnGuard(Db& db) noexcept : db_(db) {}
  ~TxnGuard() { rollback(); }
  TxnGuard(const TxnGuard&) = delete;
  TxnGuard& operator=(const TxnGuard&) = delete;

  // BEGIN IMMEDIATE: takes the write lock now (so a busy database fails here, not mid-batch).
  // Errors: SQLITE_BUSY after the busy timeout, I/O errors.
  std::error_code begin() noexcept;
  // COMMIT. Errors: I/O errors, SQLITE_FULL; the transaction is then rolled back here, so
  // after any error the connection is back in autocommit mode.
  std::error_code commit() noexcept;
  // Rolls back if still active. Idempotent.
  void rollback() noexcept;
  bool active() const noexcept { return active_; }

 private:
  Db& db_;
  bool active_ = false;
};

}  // namespace bh::sql
