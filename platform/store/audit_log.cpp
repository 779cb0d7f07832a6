// AuditLog implementation (see audit_log.hpp): fixed buffer, one fd kept open, size rotation.
// Every failure path closes the fd and counts; nothing here allocates after open().
#include "platform/store/audit_log.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <optional>
#include <string_view>

#include "platform/util/fault.hpp"
#include "platform/util/log.hpp"

namespace bh {

namespace {
constexpr std::size_t kMaxLine = 20 + 1 + 20 + 1 + AuditLog::kMaxSource + 1 + 20 + 1;
constexpr std::size_t kMaxName = PATH_MAX;  // path + ".<n>" must fit
constexpr std::uint64_t kPageBytes = 4096;  // the page cache's (and ext4's) unit of writeback

// "<path>.<n>" (n > 0) or "<path>" into out.
void numbered(const std::string& path, std::uint32_t n, char (&out)[kMaxName]) noexcept {
  auto r = n ? fmt::format_to_n(out, kMaxName - 1, "{}.{}", path, n) : fmt::format_to_n(out, kMaxName - 1, "{}", path);
  *r.out = '\0';
}

// The seq of one line as format() writes it (`<seq> <ts_ms> <source> <size>`, no '\n'), or
// nothing when it is not such a line (cut short, garbled, zeros).
std::optional<std::uint64_t> parse_line(std::string_view l) noexcept {
  const char* p = l.data();
  const char* end = p + l.size();
  std::uint64_t seq = 0;
  std::int64_t ts = 0;
  std::uint64_t size = 0;
  auto r = std::from_chars(p, end, seq);
  if (r.ec != std::errc() || r.ptr == end || *r.ptr != ' ') return std::nullopt;
  r = std::from_chars(r.ptr + 1, end, ts);
  if (r.ec != std::errc() || r.ptr == end || *r.ptr != ' ') return std::nullopt;
  const char* src = r.ptr + 1;
  const char* q = src;
  while (q < end && *q != ' ') {
    const auto c = static_cast<unsigned char>(*q);
    if (c < ' ' || c == 0x7f) return std::nullopt;
    ++q;
  }
  if (q == src || q == end || static_cast<std::size_t>(q - src) > AuditLog::kMaxSource) return std::nullopt;
  r = std::from_chars(q + 1, end, size);
  if (r.ec != std::errc() || r.ptr != end || q + 1 == end) return std::nullopt;
  return seq;
}

struct FileTail {
  bool found = false;
  std::uint64_t last_seq = 0;
  std::uint64_t size = 0;  // file size
  std::uint64_t cut = 0;   // end of the last complete line (size when the tail is intact)
};

// Scans `fd` backwards from its end, a block at a time, for the last complete line that parses.
std::error_code scan_tail(int fd, FileTail& out) noexcept {
  constexpr std::size_t kBlock = 4096;
  static_assert(kBlock > kMaxLine);
  struct stat st {};
  if (::fstat(fd, &st) != 0) return {errno, std::system_category()};
  out.size = out.cut = static_cast<std::uint64_t>(st.st_size);
  char buf[kBlock];
  while (out.cut > 0) {
    const std::uint64_t lo = out.cut > kBlock ? out.cut - kBlock : 0;
    const auto want = static_cast<std::size_t>(out.cut - lo);
    std::size_t got = 0;
    while (got < want) {
      ssize_t n = ::pread(fd, buf + got, want - got, static_cast<off_t>(lo + got));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return {errno, std::system_category()};
      if (n == 0) return {EIO, std::system_category()};  // shrank under us
      got += static_cast<std::size_t>(n);
    }
    std::string_view data(buf, want);
    if (data.back() != '\n') {  // an incomplete last line: cut it off
      const auto nl = data.rfind('\n');
      out.cut = nl == std::string_view::npos ? lo : lo + nl + 1;
      continue;
    }
    data.remove_suffix(1);
    const auto nl = data.rfind('\n');
    if (nl == std::string_view::npos && lo > 0) {  // longer than any line we write: garbage
      out.cut = lo;
      continue;
    }
    const std::size_t start = nl == std::string_view::npos ? 0 : nl + 1;
    if (auto seq = parse_line(data.substr(start))) {
      out.found = true;
      out.last_seq = *seq;
      return {};
    }
    out.cut = lo + start;  // a garbled line: drop it too, look at the one before
  }
  return {};
}
}  // namespace

std::error_code AuditLog::find_tail(AuditTail& out) {
  out = {};
  if (opts_.path.empty()) return {EINVAL, std::system_category()};
  char name[kMaxName];
  for (std::uint32_t i = 0; i <= opts_.keep; ++i) {
    numbered(opts_.path, i, name);
    const int fd = ::open(name, (i == 0 ? O_RDWR : O_RDONLY) | O_CLOEXEC);
    if (fd < 0) {
      if (errno == ENOENT) continue;
      return {errno, std::system_category()};
    }
    FileTail t;
    std::error_code ec = scan_tail(fd, t);
    if (!ec && i == 0 && t.cut < t.size) {  // appends must start on a line boundary
      if (::ftruncate(fd, static_cast<off_t>(t.cut)) != 0) {
        ec = {errno, std::system_category()};
      } else {
        out.dropped_bytes = t.size - t.cut;
        if (fd_ >= 0) {  // O_APPEND: the next write goes to the new end
          file_bytes_ = t.cut;
          writeback_from_ = std::min(writeback_from_, t.cut & ~(kPageBytes - 1));
        }
      }
    }
    ::close(fd);
    if (ec) return ec;
    if (t.found) {
      out.found = true;
      out.last_seq = t.last_seq;
      out.file = i;
      return {};
    }
  }
  return {};
}

std::error_code AuditLog::open(const AuditOptions& opts) {
  close();
  opts_ = opts;
  stats_ = {};
  used_ = used_lines_ = 0;
  if (opts_.path.empty() || opts_.path.size() + 12 >= kMaxName) return fail(EINVAL, "open");
  return reopen();
}

void AuditLog::close() noexcept {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  last_ok_ = false;
}

std::error_code AuditLog::fail(int e, const char* what) noexcept {
  if (last_ok_ || stats_.write_errors == 0) {
    bh::log::warn("audit: {} {} failed: {}", what, opts_.path, std::strerror(e));  // once per outage
  }
  ++stats_.write_errors;
  stats_.lost_lines += used_lines_;
  used_ = used_lines_ = 0;
  close();
  return {e, std::system_category()};
}

std::error_code AuditLog::reopen() noexcept {
  close();
  int fd = fault::hit(fault::Op::open) ? (errno = EACCES, -1)
                                        : ::open(opts_.path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (fd < 0) return fail(errno, "open");
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int e = errno;
    ::close(fd);
    return fail(e, "fstat");
  }
  fd_ = fd;
  file_bytes_ = static_cast<std::uint64_t>(st.st_size);
  writeback_from_ = file_bytes_ & ~(kPageBytes - 1);
  last_ok_ = true;
  return {};
}

std::error_code AuditLog::rotate() noexcept {
  // The one sync the trail gets: a file is made durable before it is rotated away, so that a power
  // cut can only lose the newest file's tail, which the start-up catch-up rewrites from the store
  // (a lost tail of path.1 behind a surviving newer file would be a hole nothing repairs). Once
  // per rotate_bytes; best effort like every audit write (a failure is not the store's).
  if (fd_ >= 0 && opts_.keep > 0) (void)::fdatasync(fd_);
  close();
  char from[kMaxName];
  char to[kMaxName];
  if (opts_.keep == 0) {
    numbered(opts_.path, 0, from);
    if (::unlink(from) != 0 && errno != ENOENT) return fail(errno, "rotate unlink");
  } else {
    numbered(opts_.path, opts_.keep, to);
    if (::unlink(to) != 0 && errno != ENOENT) return fail(errno, "rotate unlink");
    for (std::uint32_t i = opts_.keep; i >= 1; --i) {
      numbered(opts_.path, i - 1, from);
      numbered(opts_.path, i, to);
      if (::rename(from, to) != 0 && errno != ENOENT) return fail(errno, "rotate rename");
    }
  }
  ++stats_.rotations;
  return reopen();
}

std::error_code AuditLog::flush() noexcept {
  std::size_t off = 0;
  while (off < used_) {
    ssize_t w = fault::hit(fault::Op::audit_write) ? (errno = ENOSPC, -1) : ::write(fd_, buf_.data() + off, used_ - off);
    if (w < 0) {
      if (errno == EINTR) continue;
      return fail(errno, "write");
    }
    off += static_cast<std::size_t>(w);
  }
  file_bytes_ += used_;
  stats_.bytes += used_;
  stats_.lines += used_lines_;
  used_ = used_lines_ = 0;
  last_ok_ = true;
  start_writeback();
  return {};
}

// The fdatasync before a rotation had up to rotate_bytes of dirty pages to write and stalled the
// reactor thread for it (about 100 ms per 64 MiB at 180 000 ev/s: the half-load p999 ack latency).
// So each full chunk of written pages is handed to the kernel's writeback at once
// (SYNC_FILE_RANGE_WRITE starts the I/O and does not wait for it) and the fdatasync finds little
// left. The same bytes reach the disk, only sooner; never a partial page (it would be written
// twice), and at a low rate a chunk takes minutes to gather, longer than the kernel waits anyway.
void AuditLog::start_writeback() noexcept {
  const std::uint64_t end = file_bytes_ & ~(kPageBytes - 1);
  if (end < writeback_from_ + kWritebackChunk) return;
  (void)::sync_file_range(fd_, static_cast<off64_t>(writeback_from_), static_cast<off64_t>(end - writeback_from_),
                          SYNC_FILE_RANGE_WRITE);
  writeback_from_ = end;
}

std::size_t AuditLog::format(const AuditRecord& r, char* out) noexcept {
  char* p = out;
  char* end = out + kMaxLine;
  p = std::to_chars(p, end, r.seq).ptr;
  const std::string_view source = r.source.substr(0, kMaxSource);
  if (mid_len_ == 0 || r.ts_ms != mid_ts_ || source != std::string_view(mid_source_.data(), mid_source_len_)) {
    char* m = mid_.data();
    *m++ = ' ';
    m = std::to_chars(m, mid_.data() + mid_.size(), r.ts_ms).ptr;
    *m++ = ' ';
    if (source.empty()) *m++ = '-';
    for (const char ch : source) {
      const auto c = static_cast<unsigned char>(ch);
      *m++ = (c <= ' ' || c == 0x7f) ? '_' : ch;
    }
    *m++ = ' ';
    mid_len_ = static_cast<std::size_t>(m - mid_.data());
    mid_ts_ = r.ts_ms;
    if (!source.empty()) std::memcpy(mid_source_.data(), source.data(), source.size());
    mid_source_len_ = source.size();
  }
  std::memcpy(p, mid_.data(), mid_len_);
  p += mid_len_;
  p = std::to_chars(p, end, r.size).ptr;
  *p++ = '\n';
  return static_cast<std::size_t>(p - out);
}

std::error_code AuditLog::append(std::span<const AuditRecord> records) noexcept {
  if (opts_.path.empty()) return {EINVAL, std::system_category()};
  if (records.empty()) return {};
  std::error_code ec;
  if (fd_ < 0 && (ec = reopen())) {  // the previous failure closed the fd: try again now
    stats_.lost_lines += records.size();
    return ec;
  }
  std::size_t i = 0;
  for (; i < records.size(); ++i) {
    char line[kMaxLine];
    const std::size_t n = format(records[i], line);
    if (opts_.rotate_bytes && file_bytes_ + used_ + n > opts_.rotate_bytes && file_bytes_ + used_ > 0) {
      if ((ec = flush()) || (ec = rotate())) break;
    }
    if (used_ + n > buf_.size() && (ec = flush())) break;
    std::memcpy(buf_.data() + used_, line, n);
    used_ += n;
    ++used_lines_;
  }
  if (ec) {  // the fd is closed; what was buffered is counted lost by fail(), the rest here
    stats_.lost_lines += records.size() - i;
    return ec;
  }
  return flush();
}

AuditStats AuditLog::stats() const noexcept {
  AuditStats s = stats_;
  s.file_bytes = file_bytes_;
  s.open = fd_ >= 0;
  return s;
}

}  // namespace bh
