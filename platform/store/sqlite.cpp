// sqlite: RAII wrappers over the SQLite C API (see sqlite.hpp). The only non-trivial parts are the
// close path (never leak a handle, even with statements outstanding) and the transaction guard
// (after any error the connection is back in autocommit mode).
#include "platform/store/sqlite.hpp"

#include <string>

#include "platform/util/log.hpp"

namespace bh::sql {

namespace {

class SqliteCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "sqlite"; }
  std::string message(int rc) const override { return sqlite3_errstr(rc); }
};

}  // namespace

const std::error_category& category() noexcept {
  static const SqliteCategory c;
  return c;
}

std::error_code Stmt::prepare(sqlite3* db, std::string_view sql) noexcept {
  finalize();
  int rc = sqlite3_prepare_v3(db, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT, &s_, nullptr);
  if (rc != SQLITE_OK) {
    sqlite3_finalize(s_);
    s_ = nullptr;
    return make_error(rc);
  }
  if (!s_) return make_error(SQLITE_MISUSE);  // empty SQL
  return {};
}

void Stmt::finalize() noexcept {
  if (s_) {
    sqlite3_finalize(s_);
    s_ = nullptr;
  }
}

std::error_code Db::open(const char* path, int flags, const char* vfs, int busy_timeout_ms) noexcept {
  close();
  sqlite3* h = nullptr;
  int rc = sqlite3_open_v2(path, &h, flags, vfs);
  if (rc != SQLITE_OK) {
    // sqlite3_open_v2 allocates a handle even when it fails: close it, or it leaks (and maybe an fd).
    if (h) {
      int ext = sqlite3_extended_errcode(h);
      if (ext != SQLITE_OK) rc = ext;
      sqlite3_close(h);
    }
    return make_error(rc);
  }
  db_ = h;
  sqlite3_extended_result_codes(db_, 1);
  sqlite3_busy_timeout(db_, busy_timeout_ms);
  return {};
}

void Db::close() noexcept {
  if (!db_) return;
  begin_.finalize();
  commit_.finalize();
  rollback_.finalize();
  savepoint_.finalize();
  release_.finalize();
  rollback_to_.finalize();
  if (sqlite3_get_autocommit(db_) == 0) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  int rc = sqlite3_close(db_);
  if (rc != SQLITE_OK) {
    // Statements still outstanding: a bug in the owner. Defer the close so nothing leaks for good.
    bh::log::error("sqlite: close failed ({}): statements outstanding; deferring close", sqlite3_errstr(rc));
    sqlite3_close_v2(db_);
  }
  db_ = nullptr;
}

std::error_code Db::exec(const char* sql) noexcept {
  if (!db_) return make_error(SQLITE_MISUSE);
  char* msg = nullptr;
  int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &msg);
  if (rc != SQLITE_OK) {
    bh::log::warn("sqlite: exec failed: {}", msg ? msg : sqlite3_errstr(rc));
    sqlite3_free(msg);
    return make_error(sqlite3_extended_errcode(db_) != SQLITE_OK ? sqlite3_extended_errcode(db_) : rc);
  }
  return {};
}

std::error_code Db::run(Stmt& s, const char* sql) noexcept {
  if (!db_) return make_error(SQLITE_MISUSE);
  if (!s) {
    if (auto ec = s.prepare(db_, sql)) return ec;
  }
  int rc = s.step();
  s.reset();
  return rc == SQLITE_DONE ? std::error_code{} : make_error(rc);
}

std::error_code Db::begin_immediate() noexcept { return run(begin_, "BEGIN IMMEDIATE"); }
std::error_code Db::commit() noexcept { return run(commit_, "COMMIT"); }
std::error_code Db::rollback() noexcept {
  if (!in_transaction()) return {};
  return run(rollback_, "ROLLBACK");
}

std::error_code Db::savepoint() noexcept { return run(savepoint_, "SAVEPOINT batch"); }
std::error_code Db::release() noexcept { return run(release_, "RELEASE batch"); }
std::error_code Db::rollback_to() noexcept {
  auto ec = run(rollback_to_, "ROLLBACK TO batch");
  auto ec2 = release();
  return ec ? ec : ec2;
}

std::error_code TxnGuard::begin() noexcept {
  if (active_) return make_error(SQLITE_MISUSE);
  auto ec = db_.begin_immediate();
  active_ = !ec;
  return ec;
}

std::error_code TxnGuard::commit() noexcept {
  if (!active_) return make_error(SQLITE_MISUSE);
  auto ec = db_.commit();
  if (ec) {
    rollback();
    return ec;
  }
  active_ = false;
  return {};
}

void TxnGuard::rollback() noexcept {
  if (!active_) return;
  active_ = false;
  if (auto ec = db_.rollback()) {
    bh::log::error("sqlite: rollback failed: {}", db_.errmsg());
    // Last resort: the connection must not stay inside a transaction.
    if (db_.in_transaction()) sqlite3_exec(db_.get(), "ROLLBACK", nullptr, nullptr, nullptr);
  }
}

}  // namespace bh::sql
