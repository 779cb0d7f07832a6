#include "platform/store/ack_log.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

#include "platform/store/store.hpp"
#include "platform/store/wal_syncer.hpp"

namespace bh {

namespace {

constexpr std::uint32_t kMagic = 0x4C414842;  // "BHAL"
constexpr std::uint8_t kUnsynced = 1, kHasKey = 2;

// The first block boundary at or after `off`; the blocks `bytes` at `at` touch.
constexpr std::size_t block_up(std::size_t off) noexcept {
  return (off + AckLog::kBlock - 1) / AckLog::kBlock * AckLog::kBlock;
}
constexpr std::size_t blocks_spanned(std::size_t at, std::size_t bytes) noexcept {
  return (at + bytes - 1) / AckLog::kBlock - at / AckLog::kBlock + 1;
}

constexpr std::size_t kEventFixed = 8 + 4 + 2 + 2 + 1;

// CRC-32C (Castagnoli), table-driven. Written here rather than taken from zlib: zlib's crc32 is the
// other polynomial, and the project links no library that exports this one; it is 10 lines.
constexpr std::array<std::uint32_t, 256> make_table() {
  std::array<std::uint32_t, 256> t{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    t[i] = c;
  }
  return t;
}
constexpr auto kCrcTable = make_table();

std::uint32_t crc32c(const unsigned char* p, std::size_t n) noexcept {
  std::uint32_t c = ~0u;
  while (n--) c = kCrcTable[(c ^ *p++) & 0xFF] ^ (c >> 8);
  return ~c;
}

template <class T>
void put(unsigned char*& p, T v) noexcept {
  std::memcpy(p, &v, sizeof v);
  p += sizeof v;
}
template <class T>
T get(const unsigned char* p) noexcept {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

std::error_code last_errno() noexcept { return {errno, std::generic_category()}; }

bool write_all(int fd, const unsigned char* p, std::size_t n, off_t off) noexcept {
  while (n > 0) {
    const ssize_t w = ::pwrite(fd, p, n, off);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w, n -= static_cast<std::size_t>(w), off += w;
  }
  return true;
}

bool read_all(int fd, unsigned char* p, std::size_t n, off_t off) noexcept {
  while (n > 0) {
    const ssize_t r = ::pread(fd, p, n, off);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return false;
    if (r == 0) {  // past the end (a file cut short): reads as zeros, which no record matches
      std::memset(p, 0, n);
      return true;
    }
    p += r, n -= static_cast<std::size_t>(r), off += r;
  }
  return true;
}

}  // namespace

std::error_code AckLog::open(const std::string& path, bool create) {
  close();
  path_ = path;
  fd_ = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd_ < 0 && errno == ENOENT && create) {
    // Created under a temporary name, filled and synced, then renamed: a crash never leaves a
    // short log behind (a short one would read as zeros anyway).
    const std::string tmp = path + ".tmp";
    int fd = ::open(tmp.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0) return last_errno();
    std::memset(wbuf_, 0, sizeof wbuf_);
    bool ok = true;
    for (std::size_t off = 0; ok && off < 2 * kHalfBytes; off += sizeof wbuf_)
      ok = write_all(fd, wbuf_, sizeof wbuf_, static_cast<off_t>(off));
    if (!ok || sync_fd(fd) != 0 || ::rename(tmp.c_str(), path.c_str()) != 0) {
      auto ec = last_errno();
      ::close(fd);
      ::unlink(tmp.c_str());
      return ec;
    }
    ::close(fd);
    const auto slash = path.rfind('/');
    const std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
    int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
      (void)sync_fd(dfd);
      ::close(dfd);
    }
    fd_ = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  }
  if (fd_ < 0) return last_errno();
  cur_ = 0, pos_ = 0, gen_ = 1;
  free_after_[0] = free_after_[1] = 0;
  unsettled_ = false;
  stats_ = {};
  return {};
}

void AckLog::close() noexcept {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

std::size_t AckLog::read_record(int h, std::size_t off, std::uint64_t want_gen, std::uint64_t& gen) noexcept {
  if (off + kHeader > kHalfBytes) return 0;
  const off_t base = static_cast<off_t>(h * kHalfBytes + off);
  if (!read_all(fd_, rbuf_, kHeader, base)) return 0;
  if (get<std::uint32_t>(rbuf_) != kMagic) return 0;
  const auto payload = get<std::uint32_t>(rbuf_ + 28);
  if (payload > kMaxRecord - kHeader || off + kHeader + payload > kHalfBytes) return 0;
  gen = get<std::uint64_t>(rbuf_ + 8);
  if (want_gen != 0 && gen != want_gen) return 0;
  if (!read_all(fd_, rbuf_ + kHeader, payload, base + static_cast<off_t>(kHeader))) return 0;
  if (crc32c(rbuf_ + 8, kHeader - 8 + payload) != get<std::uint32_t>(rbuf_ + 4)) return 0;
  return kHeader + payload;
}

std::size_t AckLog::next_record(int h, std::size_t& off, std::uint64_t want_gen, std::uint64_t& gen) noexcept {
  if (std::size_t n = read_record(h, off, want_gen, gen)) return n;
  const std::size_t aligned = block_up(off);
  if (aligned == off) return 0;
  const std::size_t n = read_record(h, aligned, want_gen, gen);
  if (n != 0) off = aligned;
  return n;
}

std::size_t AckLog::place(std::size_t bytes) const noexcept {
  const std::size_t aligned = block_up(pos_);
  return bytes > 0 && blocks_spanned(aligned, bytes) < blocks_spanned(pos_, bytes) ? aligned : pos_;
}

std::error_code AckLog::scan(FunctionRef<void(const EventIn&, std::uint64_t seq)> visit) noexcept {
  std::uint64_t gens[2] = {0, 0};
  for (int h = 0; h < 2; ++h) {
    std::uint64_t g = 0;
    if (read_record(h, 0, 0, g) != 0) gens[h] = g;
  }
  const int order[2] = {gens[0] <= gens[1] ? 0 : 1, gens[0] <= gens[1] ? 1 : 0};
  for (int h : order) {
    if (gens[h] == 0) continue;
    std::size_t off = 0;
    std::uint64_t g = 0;
    while (std::size_t n = next_record(h, off, gens[h], g)) {
      const std::uint64_t first = get<std::uint64_t>(rbuf_ + 16);
      const auto count = get<std::uint32_t>(rbuf_ + 24);
      const unsigned char* p = rbuf_ + kHeader;
      const unsigned char* end = rbuf_ + n;
      for (std::uint32_t i = 0; i < count; ++i) {
        if (end - p < static_cast<std::ptrdiff_t>(kEventFixed)) break;
        EventIn e{};
        e.ts_ms = get<std::int64_t>(p);
        const auto body = get<std::uint32_t>(p + 8);
        const auto src = get<std::uint16_t>(p + 12);
        const auto id = get<std::uint16_t>(p + 14);
        const std::uint8_t flags = p[16];
        p += kEventFixed;
        DedupeKey key;
        const std::size_t need = (flags & kHasKey ? key.b.size() : 0) + src + id + body;
        if (static_cast<std::size_t>(end - p) < need) break;  // cannot happen in a record that checks
        if (flags & kHasKey) {
          std::memcpy(key.b.data(), p, key.b.size());
          p += key.b.size();
          e.dedupe = &key;
        }
        e.source = {reinterpret_cast<const char*>(p), src};
        p += src;
        e.identity = {reinterpret_cast<const char*>(p), id};
        p += id;
        e.body = {reinterpret_cast<const char*>(p), body};
        p += body;
        e.clock_unsynced = (flags & kUnsynced) != 0;
        visit(e, first + i);
      }
      off += n;
    }
  }
  max_gen_ = gens[0] > gens[1] ? gens[0] : gens[1];
  return {};
}

std::error_code AckLog::recover(FunctionRef<void(const EventIn&, std::uint64_t seq)> visit) noexcept {
  if (auto ec = scan(visit)) return ec;
  // Writing starts over in half 0, above every generation read: the older records left behind
  // belong to laps whose events the database now holds.
  cur_ = 0, pos_ = 0;
  gen_ = max_gen_ + 1;
  free_after_[0] = free_after_[1] = 0;
  unsettled_ = false;
  return {};
}

std::size_t AckLog::record_bytes(std::span<const EventIn> events) noexcept {
  std::size_t n = kHeader;
  for (const EventIn& e : events) {
    if (e.source.size() > UINT16_MAX || e.identity.size() > UINT16_MAX) return 0;
    n += kEventFixed + (e.dedupe ? sizeof(DedupeKey::b) : 0) + e.source.size() + e.identity.size() + e.body.size();
    if (n > kMaxRecord) return 0;
  }
  return n;
}

std::error_code AckLog::append(std::span<const EventIn> events, std::uint64_t first_seq) noexcept {
  const std::size_t n = record_bytes(events);
  if (n == 0 || !room(n) || fd_ < 0) return std::make_error_code(std::errc::invalid_argument);
  unsigned char* p = wbuf_;
  put(p, kMagic);
  put(p, std::uint32_t{0});  // the CRC, below
  put(p, gen_);
  put(p, first_seq);
  put(p, static_cast<std::uint32_t>(events.size()));
  put(p, static_cast<std::uint32_t>(n - kHeader));
  put(p, std::uint64_t{0});
  for (const EventIn& e : events) {
    put(p, e.ts_ms);
    put(p, static_cast<std::uint32_t>(e.body.size()));
    put(p, static_cast<std::uint16_t>(e.source.size()));
    put(p, static_cast<std::uint16_t>(e.identity.size()));
    put(p, static_cast<std::uint8_t>((e.clock_unsynced ? kUnsynced : 0) | (e.dedupe ? kHasKey : 0)));
    if (e.dedupe) {
      std::memcpy(p, e.dedupe->b.data(), e.dedupe->b.size());
      p += e.dedupe->b.size();
    }
    for (std::string_view s : {e.source, e.identity, e.body}) {
      if (!s.empty()) std::memcpy(p, s.data(), s.size());
      p += s.size();
    }
  }
  const std::uint32_t crc = crc32c(wbuf_ + 8, n - 8);
  std::memcpy(wbuf_ + 4, &crc, sizeof crc);
  const std::size_t at = place(n);
  if (!write_all(fd_, wbuf_, n, static_cast<off_t>(cur_ * kHalfBytes + at))) return last_errno();
  stats_.blocks += blocks_spanned(at, n);
  pos_ = at + n;
  unsettled_ = true;
  ++stats_.records;
  return {};
}

void AckLog::switch_half() noexcept {
  cur_ = 1 - cur_;
  pos_ = 0;
  ++gen_;
  ++stats_.switches;
}

void AckLog::settled(std::uint64_t ticket, std::uint64_t durable_ticket) noexcept {
  free_after_[cur_] = ticket;
  unsettled_ = false;
  if (pos_ > 0) try_switch(durable_ticket);
}

bool AckLog::try_switch(std::uint64_t durable_ticket) noexcept {
  if (unsettled_ || free_after_[1 - cur_] > durable_ticket) return false;
  switch_half();
  return true;
}

void AckLog::forget_after(std::uint64_t seq) noexcept {
  if (fd_ < 0) return;
  std::memset(wbuf_, 0, sizeof wbuf_);
  for (int h = 0; h < 2; ++h) {  // both: the half just left may hold the failed records too
    std::size_t off = 0, cut = kHalfBytes;
    std::uint64_t want = 0, g = 0;
    while (std::size_t n = next_record(h, off, want, g)) {
      want = g;
      if (cut == kHalfBytes && get<std::uint64_t>(rbuf_ + 16) > seq) cut = off;
      off += n;
    }
    for (std::size_t at = cut; at < off; at += kBlock)
      (void)write_all(fd_, wbuf_, std::min(kBlock, off - at), static_cast<off_t>(h * kHalfBytes + at));
    if (h == cur_ && cut < pos_) pos_ = cut;
  }
  (void)sync_fd(fd_);
}

}  // namespace bh
