#include "platform/store/wal_syncer.hpp"

#include <fcntl.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>

#include "platform/core/reactor_thread.hpp"
#include "platform/util/assert.hpp"
#include "platform/util/fault.hpp"

namespace bh {

namespace {
std::error_code last_errno() noexcept { return {errno, std::generic_category()}; }
}  // namespace

int sync_fd(int fd) noexcept {
  int rc;
  do {
    rc = ::fdatasync(fd);
  } while (rc != 0 && errno == EINTR);
  return rc;
}

std::error_code WalSyncer::start(const std::string& wal_path, const std::string& log_path) {
  stop();
  wal_fd_ = ::open(wal_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (wal_fd_ < 0) return last_errno();
  if (!log_path.empty() && (log_fd_ = ::open(log_path.c_str(), O_RDONLY | O_CLOEXEC)) < 0) {
    auto ec = last_errno();
    close_fds();
    return ec;
  }
  event_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (event_fd_ < 0 || sync_fd(wal_fd_) != 0) {
    auto ec = last_errno();
    close_fds();
    return ec;
  }
  {
    std::lock_guard lk(m_);
    stop_ = false;
    want_ticket_ = want_seq_ = done_ticket_ = 0;
    want_wal_ = want_log_ = false;
    out_ = {};
    stats_ = {};
  }
  try {
    thread_ = std::thread([this] { run(); });
  } catch (const std::system_error&) {
    close_fds();
    return std::make_error_code(std::errc::resource_unavailable_try_again);
  }
  return {};
}

void WalSyncer::close_fds() noexcept {
  if (wal_fd_ >= 0) ::close(wal_fd_);
  if (log_fd_ >= 0) ::close(log_fd_);
  if (event_fd_ >= 0) ::close(event_fd_);
  wal_fd_ = log_fd_ = event_fd_ = -1;
}

void WalSyncer::stop() noexcept {
  if (thread_.joinable()) {
    {
      std::lock_guard lk(m_);
      stop_ = true;
    }
    cv_.notify_one();
    thread_.join();
  }
  close_fds();
}

void WalSyncer::request(std::uint64_t ticket, std::uint64_t seq, bool wal, bool log) noexcept {
  BH_ASSERT(on_reactor_thread());
  {
    std::lock_guard lk(m_);
    if (want_ticket_ == done_ticket_) waiting_since_ = hal::Clock::now();
    want_ticket_ = ticket;
    want_seq_ = seq;
    want_wal_ = want_wal_ || wal || log_fd_ < 0;
    want_log_ = want_log_ || (log && log_fd_ >= 0);
  }
  cv_.notify_one();
}

void WalSyncer::clear_event() noexcept {
  BH_ASSERT(on_reactor_thread());
  std::uint64_t v;
  while (::read(event_fd_, &v, sizeof v) > 0) {
  }
}

WalSyncer::Outcome WalSyncer::take() noexcept {
  BH_ASSERT(on_reactor_thread());
  std::lock_guard lk(m_);
  Outcome o = out_;
  out_ = {};
  return o;
}

bool WalSyncer::wait(std::chrono::milliseconds limit) noexcept {
  BH_ASSERT(on_reactor_thread());
  std::unique_lock lk(m_);
  return done_cv_.wait_for(lk, limit, [this] { return done_ticket_ == want_ticket_; });
}

hal::Clock::duration WalSyncer::stall(hal::Clock::time_point now) const noexcept {
  std::lock_guard lk(m_);
  if (want_ticket_ == done_ticket_ || now < waiting_since_) return {};
  return now - waiting_since_;
}

WalSyncerStats WalSyncer::stats() const noexcept {
  std::lock_guard lk(m_);
  return stats_;
}

void WalSyncer::run() noexcept {
  BH_ASSERT(!on_reactor_thread());  // a worker: it never touches what the reactor owns
  std::unique_lock lk(m_);
  for (;;) {
    // An idle thread re-checks every second; it has nothing to do until a request comes.
    cv_.wait_for(lk, std::chrono::seconds(1), [this] { return stop_ || want_ticket_ != done_ticket_; });
    if (want_ticket_ == done_ticket_) {
      if (stop_) return;
      continue;
    }
    const std::uint64_t ticket = want_ticket_, seq = want_seq_;
    const bool wal = want_wal_, log = want_log_;
    want_wal_ = want_log_ = false;
    lk.unlock();
    const auto t0 = std::chrono::steady_clock::now();
    bool ok = true;
    if (wal) ok = !fault::hit(fault::Op::fsync) && sync_fd(wal_fd_) == 0;
    if (log && ok) ok = !fault::hit(fault::Op::fsync) && sync_fd(log_fd_) == 0;
    const auto us = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0).count());
    lk.lock();
    stats_.syncs += (wal ? 1 : 0) + (log ? 1 : 0);
    stats_.last_us = us;
    stats_.total_us += us;
    if (us > stats_.max_us) stats_.max_us = us;
    if (!ok) {
      ++stats_.failures;
      out_.failed_ticket = ticket;
    } else if (out_.failed_ticket == 0) {
      // (After a failure not yet taken, a later success proves nothing of the failed sync's pages,
      // which Linux may have dropped: the reactor undoes every commit not known durable anyway.)
      out_.synced_ticket = ticket;
      out_.synced_seq = seq;
    }
    done_ticket_ = ticket;
    // Requests made during this sync: the next one starts now (their own times are not kept).
    if (want_ticket_ != done_ticket_) waiting_since_ = hal::Clock::now();
    const std::uint64_t one = 1;
    [[maybe_unused]] auto w = ::write(event_fd_, &one, sizeof one);  // cannot fail: the counter never nears 2^64
    done_cv_.notify_all();
  }
}

}  // namespace bh
