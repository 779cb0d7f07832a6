// The resource budget: every pool of the application in one table (name, capacity, FDs per slot,
// bytes per slot), in the manner of lwIP's memp_std.h. The FD total is checked at compile time
// against kFdCeiling and at start-up against RLIMIT_NOFILE. Config may lower a pool's limit, never
// raise it above the capacity compiled here.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace bh::budget {

// BH_POOL(id, name, capacity, fds_per_slot, bytes_per_slot, description)
#define BH_BUDGET_POOLS(BH_POOL)                                                                  \
  BH_POOL(ingest_conn, "ingest_conn", 64, 1, 105 * 1024, "TCP/unix ingest connections")           \
  BH_POOL(sink, "sink", 4, 0, 1079 * 1024, "sinks: 1 MiB batch buffer + their connection slots + an MQTT window")   \
  BH_POOL(sink_conn, "sink_conn", 16, 1, 0, "sink connections: 4 per sink (sink_conn.<name>), bytes in sink")\
  BH_POOL(source, "source", 8, 0, 148 * 1024, "sources: 128 KiB event ring, TLS policy, state, compiled jobs")    \
  BH_POOL(source_conn, "source_conn", 8, 1, 88 * 1024, "HTTP poll / WebSocket source connections")\
  BH_POOL(admin_conn, "admin_conn", 8, 1, 144 * 1024, "admin HTTP connections")                   \
  BH_POOL(console_session, "console_session", 4, 1, 8 * 1024, "console sessions")                \
  BH_POOL(task, "task", 192, 0, 8 * 1024, "tasks (coroutine frames + handler memory)")           \
  BH_POOL(file, "file", 4, 1, 65 * 1024, "open files (audit log)")                               \
  BH_POOL(store_conn, "store_conn", 1, 9, 1920 * 1024, "SQLite connection (db, wal, shm) + commit ring + the newest rows (1.1 MiB); checkpointer (db, wal); WAL syncer (wal, eventfd, ack log); ack log")

enum class PoolId : std::uint8_t {
#define BH_POOL_ENUM(id, name, cap, fds, bytes, desc) id,
  BH_BUDGET_POOLS(BH_POOL_ENUM)
#undef BH_POOL_ENUM
};

struct PoolRow {
  std::string_view name;
  std::uint32_t capacity;
  std::uint32_t fds_per_slot;
  std::uint32_t bytes_per_slot;
  std::string_view description;
};

inline constexpr std::array kPools{
#define BH_POOL_ROW(id, name, cap, fds, bytes, desc) PoolRow{name, cap, fds, bytes, desc},
    BH_BUDGET_POOLS(BH_POOL_ROW)
#undef BH_POOL_ROW
};

constexpr const PoolRow& row(PoolId id) { return kPools[static_cast<std::size_t>(id)]; }
constexpr std::uint32_t capacity(PoolId id) { return row(id).capacity; }

// Descriptors outside the pools: stdin/out/err, epoll, eventfd (reactor interrupter), timerfd,
// signalfd-equivalent pipe for asio::signal_set, the TCP and unix ingest listeners, the admin
// listener, the console socket listener, a serial device or PTY master, the watchdog device,
// the notify socket, the accepted socket being refused, and slack for /proc reads and the log.
inline constexpr std::uint32_t kBaselineFds = 3 + 4 + 2 + 1 + 1 + 1 + 1 + 1 + 1 + 4;

constexpr std::uint32_t total_fds() {
  std::uint32_t n = kBaselineFds;
  for (const auto& p : kPools) n += p.capacity * p.fds_per_slot;
  return n;
}

// The ceiling the whole process must stay under; the systemd unit's LimitNOFILE matches it.
inline constexpr std::uint32_t kFdCeiling = 256;
static_assert(total_fds() <= kFdCeiling, "resource budget: pools need more FDs than the ceiling");

// Other compiled limits the config is checked against.
inline constexpr std::uint32_t kMaxSinks = 4;
inline constexpr std::uint32_t kSinkConnsPerSink = 4;
inline constexpr std::uint32_t kMaxSources = 8;
inline constexpr std::uint32_t kMaxEventBytes = 64 * 1024;  // ingest.max_event_bytes upper bound
inline constexpr std::uint32_t kMaxBatch = 4096;            // store.max_batch upper bound
// source.dedupe_window upper bound. A window of W keys is allocated at start-up: a ring of W
// 16-byte keys, W live flags and a hash table of bit_ceil(2W) 4-byte slots, at most 33 bytes a
// key: 65536 keys = 1.56 MiB per source at most; the default 10000 = 290 KiB.
inline constexpr std::uint32_t kMaxDedupeWindow = 65536;
inline constexpr std::uint32_t kDedupeBytesPerKey = 16 + 1 + 16;
// sink.max_inflight upper bound: an MQTT sink's window of PUBLISHes awaiting their PUBACK (a
// fixed table in the Sink; the PUBLISH bytes share the sink's 1 MiB body buffer).
inline constexpr std::uint32_t kMqttMaxInflight = 64;
static_assert(kMaxSinks * kSinkConnsPerSink <= 16, "sink_conn pool must cover every sink's max");

// mbedTLS's heap (platform/alloc/tls_heap.hpp, limit kTlsHeapLimitDefault = 8 MiB) holds one TLS
// context per slot that can speak TLS: its two record buffers (~2 x 16.7 KiB, allocated at
// start-up) plus, per live connection, the handshake state or the session and the peer's
// certificate. kTlsContextBytes bounds one (tests/platform/net/tls_server_test.cpp measures it);
// every ingest, admin, sink and source connection at once must fit under the limit, so a full
// pool of TLS connections never meets a refusal. Past the limit a handshake fails cleanly,
// counted (reason out_of_memory).
inline constexpr std::uint32_t kTlsContextBytes = 48 * 1024;
inline constexpr std::uint64_t kTlsHeapLimit = 8ull << 20;  // == alloc::kTlsHeapLimitDefault (checked in app.cpp)
constexpr std::uint64_t tls_contexts() {
  return std::uint64_t{kPools[0].capacity} + kPools[5].capacity + kPools[2].capacity + kPools[4].capacity;
}
static_assert(kPools[0].name == "ingest_conn" && kPools[5].name == "admin_conn" && kPools[2].name == "sink_conn" &&
              kPools[4].name == "source_conn");
static_assert(tls_contexts() * kTlsContextBytes <= kTlsHeapLimit,
              "resource budget: TLS contexts of every connection pool exceed the TLS heap limit");

// The budget as an aligned table (printed by `bulkhead run` at start-up and by `pools`).
std::string table(const std::array<std::uint32_t, kPools.size()>& limits);
// The same rows at their compiled capacities as a markdown table, after a generated-by comment
// (printed by `bulkhead budget-reference`; docs/budget.md carries it, a test checks it).
std::string reference_markdown();
// Raises the soft RLIMIT_NOFILE to kFdCeiling if needed. Returns "" when the limit holds, else a
// message naming both numbers (the caller refuses to start).
std::string check_fd_limit();

}  // namespace bh::budget
