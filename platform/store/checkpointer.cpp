#include "platform/store/checkpointer.hpp"

#include "platform/core/reactor_thread.hpp"
#include "platform/store/fault_vfs.hpp"
#include "platform/util/assert.hpp"
#include "platform/util/log.hpp"

namespace bh {

std::error_code WalCheckpointer::start(sqlite3* writer, const CheckpointerOptions& opts) {
  stop();
  if (!sqlite3_threadsafe()) return std::make_error_code(std::errc::not_supported);
  opts_ = opts;
  const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE;
  if (auto ec = db_.open(opts_.path.c_str(), flags, store_vfs_without_faults(), 0)) return ec;
  // The checkpoint fsyncs the WAL before copying and the database after, as the store's own would.
  if (auto ec = db_.exec(opts_.sync_full ? "PRAGMA synchronous=FULL; PRAGMA cache_size=-64;"
                                         : "PRAGMA synchronous=NORMAL; PRAGMA cache_size=-64;")) {
    db_.close();
    return ec;
  }
  {
    std::lock_guard lk(m_);
    stop_ = false;
    kicked_ = false;
  }
  db_file_ = nullptr;
  if (sqlite3_file_control(db_.get(), "main", SQLITE_FCNTL_FILE_POINTER, &db_file_) != SQLITE_OK ||
      db_file_ == nullptr || db_file_->pMethods == nullptr) {
    db_.close();
    return std::make_error_code(std::errc::bad_file_descriptor);
  }
  wal_frames_ = 0;
  copied_upto_ = 0;
  try {
    thread_ = std::thread([this] { run(); });
  } catch (const std::system_error&) {
    db_.close();
    return std::make_error_code(std::errc::resource_unavailable_try_again);
  }
  writer_ = writer;
  sqlite3_wal_hook(writer_, &WalCheckpointer::on_wal, this);
  return {};
}

void WalCheckpointer::stop() noexcept {
  if (writer_) {
    sqlite3_wal_autocheckpoint(writer_, static_cast<int>(opts_.trigger_pages));  // SQLite's hook back
    writer_ = nullptr;
  }
  if (thread_.joinable()) {
    {
      std::lock_guard lk(m_);
      stop_ = true;
    }
    cv_.notify_one();
    sqlite3_interrupt(db_.get());  // a long checkpoint stops at its next page
    thread_.join();
  }
  db_.close();
}

void WalCheckpointer::kick() noexcept {
  BH_ASSERT(on_reactor_thread());
  if (!thread_.joinable()) return;
  {
    std::lock_guard lk(m_);
    kicked_ = true;
  }
  cv_.notify_one();
}

CheckpointerStats WalCheckpointer::stats() const noexcept {
  CheckpointerStats s;
  s.checkpoints = checkpoints_.load(std::memory_order_relaxed);
  s.frames_copied = frames_copied_.load(std::memory_order_relaxed);
  s.busy = busy_count_.load(std::memory_order_relaxed);
  s.errors = errors_.load(std::memory_order_relaxed);
  s.catch_ups = catch_ups_;
  s.wal_frames = wal_frames_.load(std::memory_order_relaxed);
  return s;
}

// After every commit on the writer's connection (reactor thread). `frames`: the WAL's length.
int WalCheckpointer::on_wal(void* p, sqlite3* db, const char*, int frames) noexcept {
  BH_ASSERT(on_reactor_thread());
  auto* self = static_cast<WalCheckpointer*>(p);
  const auto n = static_cast<std::uint32_t>(frames < 0 ? 0 : frames);
  self->wal_frames_.store(n, std::memory_order_relaxed);
  std::uint32_t copied = self->copied_upto_.load(std::memory_order_relaxed);
  if (copied > n) copied = 0;  // the WAL restarted since the thread's last checkpoint
  if (self->busy_.load(std::memory_order_acquire)) return SQLITE_OK;
  if (n >= self->opts_.restart_pages) {
    // Catch up so that the next write rewinds the WAL (see the header), once the thread has
    // narrowed the gap. PASSIVE never waits: if the thread has just started one, this answers
    // SQLITE_BUSY and the next commit tries again.
    const std::uint32_t restart = self->opts_.restart_pages;
    if (n - copied > self->opts_.catch_up_frames && n - restart < restart / 16) {
      self->kick();
      return SQLITE_OK;
    }
    int log = 0, ckpt = 0;
    const int rc = sqlite3_wal_checkpoint_v2(db, nullptr, SQLITE_CHECKPOINT_PASSIVE, &log, &ckpt);
    if (rc == SQLITE_OK) {
      ++self->catch_ups_;
      self->copied_upto_.store(static_cast<std::uint32_t>(ckpt), std::memory_order_relaxed);
    } else if (rc != SQLITE_BUSY) {
      log::warn("store: WAL catch-up checkpoint: {}", sqlite3_errstr(rc));
    }
  } else if (n - copied >= self->opts_.trigger_pages) {
    self->kick();
  }
  return SQLITE_OK;
}

void WalCheckpointer::run() noexcept {
  BH_ASSERT(!on_reactor_thread());  // a worker: it never touches what the reactor owns
  std::unique_lock lk(m_);
  std::uint32_t frames_seen = 0;  // the WAL's length at the last wake-up
  while (!stop_) {
    const bool woken = cv_.wait_for(lk, opts_.idle_period, [this] { return stop_ || kicked_; });
    if (stop_) break;
    kicked_ = false;
    // Quiet WAL (no commit for a whole period): copy what the last commits left, so an idle
    // store's WAL rewinds too. Not while commits trickle in (issue 16): a checkpoint every period
    // at a low rate copies the same half-filled leaf again and again (1.3 KB per event at 100
    // ev/s); those wait for trigger_pages like any other.
    const std::uint32_t frames = wal_frames_.load(std::memory_order_relaxed);
    const bool quiet = frames == frames_seen;
    frames_seen = frames;
    if (!woken && (!quiet || frames <= copied_upto_.load(std::memory_order_relaxed))) continue;
    busy_.store(true, std::memory_order_release);
    lk.unlock();
    int log = 0, ckpt = 0;
    const int rc = sqlite3_wal_checkpoint_v2(db_.get(), nullptr, SQLITE_CHECKPOINT_PASSIVE, &log, &ckpt);
    if (rc == SQLITE_OK) {
      checkpoints_.fetch_add(1, std::memory_order_relaxed);
      const auto before = copied_upto_.load(std::memory_order_relaxed);
      const auto now = static_cast<std::uint32_t>(ckpt < 0 ? 0 : ckpt);
      frames_copied_.fetch_add(now > before ? now - before : now, std::memory_order_relaxed);
      copied_upto_.store(now, std::memory_order_relaxed);
      // SQLite syncs the database only when the checkpoint copied up to the WAL's end as it is
      // when the copy ends; under load the writer has always appended meanwhile, so the copied
      // pages stayed unsynced (even when ckpt == log, the frames this connection saw) until the
      // catch-up's sync on the reactor thread flushed them all: 35 ms and more at half load
      // (issue 16). Synced here, a checkpoint's worth at a time. When SQLite did sync, this one
      // finds nothing dirty. An extra sync is always safe.
      if (now != before && db_file_->pMethods->xSync(db_file_, SQLITE_SYNC_NORMAL) != SQLITE_OK)
        errors_.fetch_add(1, std::memory_order_relaxed);
    } else if (rc == SQLITE_BUSY) {
      busy_count_.fetch_add(1, std::memory_order_relaxed);
    } else if (rc != SQLITE_INTERRUPT) {
      // Not logged from here (the log is the reactor's): counted, and Store::stats() shows it.
      errors_.fetch_add(1, std::memory_order_relaxed);
    }
    lk.lock();
    busy_.store(false, std::memory_order_release);
  }
}

}  // namespace bh
