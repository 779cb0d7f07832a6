// IngestServer: the TCP (and optional Unix socket) NDJSON ingest of docs/wire.md §1. Each connection is
// a pool slot with fixed read and write buffers and runs as one task: read what is there, frame
// lines, validate, admit to the committer, wait for the commit, write one reply per line in
// order, repeat. It reads nothing while a round is in flight, so a saturated runtime pushes back
// through TCP instead of buffering. A line must be complete within line_timeout of its first byte,
// and a connection with no line answered for idle_timeout is closed; at a full pool the
// longest-stalled connection (idle, or mid-line) is evicted for a newcomer, never one with events
// in flight (the policy: platform/transport/acceptor.hpp). Connections beyond the pool with no
// connection to evict get `err busy connection limit`. With TLS on the TCP listener (a TlsListener
// as its Handshake hook) the connection reads and writes through the slot's TLS stream, and the
// client certificate's identity is stored with every event it sends. Reactor thread only.
#pragma once
#include <asio/ip/tcp.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "platform/net/byte_stream.hpp"
#include "platform/store/committer.hpp"
#include "platform/ingest/json_check.hpp"
#include "platform/ingest/line_framer.hpp"
#include "platform/ingest/wire_error.hpp"
#include "platform/core/pool.hpp"
#include "platform/core/task.hpp"
#include "platform/transport/acceptor.hpp"

namespace bh {

struct IngestOptions {
  std::string_view source = "ingest";  // source name recorded with every event
  std::uint32_t max_event_bytes = 16384;
  Clock::duration idle_timeout = std::chrono::seconds(60);  // no line answered for this long: closed
  Clock::duration line_timeout = std::chrono::seconds(10);  // first byte of a line to its '\n'
  Clock::duration write_timeout = std::chrono::seconds(10);
  Clock::duration commit_timeout = std::chrono::seconds(30);  // a commit never takes this long
};

struct IngestStats {
  std::uint64_t accepted = 0;
  std::uint64_t refused_connections = 0;  // beyond the pool: `err busy connection limit`
  std::uint64_t closed = 0;
  ListenerCloses closes;  // idle, line_timeout, handshake_timeout, evicted
  std::uint64_t write_timeouts = 0;
  std::uint64_t bytes_in = 0;
  std::uint64_t lines = 0;
  std::uint64_t ok = 0;
  WireErrorCounts refused;  // lines answered `err <code>`, by code
};

// What every connection shares: options, the committer, the validator, counters, the stop flag.
struct IngestShared {
  IngestOptions opts;
  Committer* committer = nullptr;
  JsonCheck* json = nullptr;
  IngestStats stats;
  bool stopping = false;
};

class IngestConn final : public CommitClient, public Evictable {
 public:
  using Socket = StreamSocket;
  static constexpr std::size_t kReadBytes = 64 * 1024 + 8;  // a max-size line plus its terminator
  static constexpr std::size_t kWriteBytes = 32 * 1024;
  static constexpr std::size_t kMaxReply = 64;  // longest reply line
  static constexpr std::uint32_t kMaxLinesPerRound = kWriteBytes / kMaxReply;

  IngestConn(Socket&& s, IngestShared& shared) noexcept;
  IngestConn(const IngestConn&) = delete;
  IngestConn& operator=(const IngestConn&) = delete;
  ~IngestConn();

  // Serves the connection until EOF, error, idle timeout or shutdown.
  Task<void> run();
  // Shutdown: interrupts a pending read (a round being committed is finished first).
  void interrupt_read() noexcept;
  // The acceptor's eviction: interrupts the pending read (only ever asked while reading).
  void evict() noexcept { interrupt_read(); }
  Socket& socket() noexcept { return sock_; }
  // After a TLS handshake: bytes go through `t`, events carry its identity.
  void use_tls(TlsStream* t) noexcept { io_.use_tls(t); }
  void on_committed(std::uint32_t tag, std::uint64_t seq, errc result) noexcept override;

 private:
  // reading_ahead: a round waits for its commit window and reads the lines sent meanwhile, which
  // join its batch (see run()).
  enum class Phase : std::uint8_t { reading, committing, reading_ahead, writing, done };
  struct Reply {
    errc code;
    std::uint64_t seq;
  };
  // Frames and admits complete lines from the buffer, up to one round's worth.
  void take_lines(bool eof) noexcept;
  std::size_t format_replies() noexcept;
  void compact() noexcept;
  bool may_read_ahead(bool eof) const noexcept;

  Socket sock_;
  ByteStream io_{sock_};
  IngestShared& sh_;
  LineFramer framer_;
  Notify committed_;
  Phase phase_ = Phase::reading;
  std::uint32_t replies_n_ = 0;
  std::uint32_t outstanding_ = 0;
  std::size_t filled_ = 0;    // bytes in rbuf_
  std::size_t consumed_ = 0;  // bytes of rbuf_ framed already
  std::int64_t round_ts_ms_ = 0;
  std::uint64_t round_batch_ = 0;  // the committer's batch the round's last event joined
  bool ahead_off_ = false;         // no more reading ahead in this round (a read ended in error)
  Clock::time_point idle_since_;  // opened, or the last replies written
  Clock::time_point line_since_;  // the first byte of the partial line (while one is buffered)
  std::array<Reply, kMaxLinesPerRound> replies_;
  char wbuf_[kWriteBytes];
  char rbuf_[kReadBytes + JsonCheck::kPadding];
};

// What a connection beyond the pool is told (wire.md §1) before it is closed.
inline constexpr std::string_view kIngestRefusal = "err busy connection limit\n";

// The connection pool behind a TCP and an optional Unix socket acceptor.
template <std::uint32_t N>
class IngestServer final : public AcceptOwner {
 public:
  using ConnPool = Pool<IngestConn, N>;

  IngestServer(TaskPoolBase& tasks, Committer& committer, JsonCheck& json, IngestOptions opts,
               std::string_view pool_name = "ingest_conn") noexcept
      : conns_(pool_name),
        tcp_(tasks, *this, AcceptCounters{shared_.stats.accepted, shared_.stats.refused_connections, shared_.stats.closes}),
        unix_(tasks, *this, AcceptCounters{shared_.stats.accepted, shared_.stats.refused_connections, shared_.stats.closes}) {
    shared_.opts = opts;
    shared_.committer = &committer;
    shared_.json = &json;
  }

  ConnPool& pool() noexcept { return conns_; }
  const IngestStats& stats() const noexcept { return shared_.stats; }
  // The TCP listener (its Handshake hook makes it a TLS listener; the Unix socket stays plain).
  Acceptor& tcp_acceptor() noexcept { return tcp_; }
  Acceptor& unix_acceptor() noexcept { return unix_; }

  // Binds the TCP listener. Errors: from bind/listen (address in use, bad address).
  std::error_code listen_tcp(const asio::ip::tcp::endpoint& ep) { return tcp_.listen_tcp(ep); }
  // Binds the Unix socket listener (a stale socket file is replaced).
  std::error_code listen_unix(const std::string& path) { return unix_.listen_unix(path); }

  // Spawns the accept loops. Errors: false if a task slot could not be had.
  bool start() {
    bool ok = tcp_.start("ingest_accept");
    return unix_.start("ingest_accept_unix") && ok;
  }

  // Stops accepting and admitting; connections finish their round and close.
  void stop() {
    shared_.stopping = true;
    tcp_.stop();
    unix_.stop();
    conns_.for_each_live([](IngestConn& c) { c.interrupt_read(); });
  }

  Admission admit(Acceptor& from, StreamSocket& s) noexcept override {
    return from.admit_to(conns_, "ingest_conn", s, shared_);
  }
  std::string_view refusal() noexcept override { return kIngestRefusal; }

 private:
  IngestShared shared_;
  ConnPool conns_;
  Acceptor tcp_;
  Acceptor unix_;
};

}  // namespace bh
