// IngestServer: the TCP (and optional Unix socket) NDJSON ingest of docs/wire.md §1. Each connection is
// a pool slot with fixed read and write buffers and runs as one task: read what is there, frame
// lines, validate, admit to the committer, wait for the commit, write one reply per line in
// order, repeat. It reads nothing while a round is in flight, so a saturated runtime pushes back
// through TCP instead of buffering. Connections beyond the pool get `err busy connection limit`.
// Reactor thread only.
#pragma once
#include <asio/generic/stream_protocol.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/local/stream_protocol.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "platform/store/committer.hpp"
#include "platform/ingest/json_check.hpp"
#include "platform/ingest/line_framer.hpp"
#include "platform/ingest/wire_error.hpp"
#include "platform/core/pool.hpp"
#include "platform/core/task.hpp"

namespace bh {

struct IngestOptions {
  std::string_view source = "ingest";  // source name recorded with every event
  std::uint32_t max_event_bytes = 16384;
  Clock::duration idle_timeout = std::chrono::seconds(60);
  Clock::duration write_timeout = std::chrono::seconds(10);
  Clock::duration commit_timeout = std::chrono::seconds(30);  // a commit never takes this long
};

struct IngestStats {
  std::uint64_t accepted = 0;
  std::uint64_t refused_connections = 0;  // beyond the pool: `err busy connection limit`
  std::uint64_t closed = 0;
  std::uint64_t idle_timeouts = 0;
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

class IngestConn final : public CommitClient {
 public:
  using Socket = asio::basic_stream_socket<asio::generic::stream_protocol, Executor>;
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
  // Refuses the connection (`err busy connection limit`) before it was ever served.
  void refuse() noexcept;
  void on_committed(std::uint32_t tag, std::uint64_t seq, errc result) noexcept override;

 private:
  enum class Phase : std::uint8_t { reading, committing, writing, done };
  struct Reply {
    errc code;
    std::uint64_t seq;
  };
  // Frames and admits complete lines from the buffer, up to one round's worth.
  void take_lines(bool eof) noexcept;
  std::size_t format_replies() noexcept;
  void compact() noexcept;

  Socket sock_;
  IngestShared& sh_;
  LineFramer framer_;
  Notify committed_;
  Phase phase_ = Phase::reading;
  std::uint32_t replies_n_ = 0;
  std::uint32_t outstanding_ = 0;
  std::size_t filled_ = 0;    // bytes in rbuf_
  std::size_t consumed_ = 0;  // bytes of rbuf_ framed already
  std::int64_t round_ts_ms_ = 0;
  std::array<Reply, kMaxLinesPerRound> replies_;
  char wbuf_[kWriteBytes];
  char rbuf_[kReadBytes + JsonCheck::kPadding];
};

// Writes the refusal line to a connection the pool has no room for and closes it (non-blocking:
// a fresh socket's send buffer always takes one short line).
void refuse_connection(IngestConn::Socket& s) noexcept;

template <std::uint32_t N>
class IngestServer {
 public:
  using ConnPool = Pool<IngestConn, N>;
  using TcpAcceptor = asio::basic_socket_acceptor<asio::ip::tcp, Executor>;
  using UnixAcceptor = asio::basic_socket_acceptor<asio::local::stream_protocol, Executor>;

  IngestServer(TaskPoolBase& tasks, Committer& committer, JsonCheck& json, IngestOptions opts,
               std::string_view pool_name = "ingest_conn") noexcept
      : tasks_(tasks), conns_(pool_name), tcp_(tasks.executor()), unix_(tasks.executor()),
        spare_(tasks.executor()) {
    shared_.opts = opts;
    shared_.committer = &committer;
    shared_.json = &json;
  }

  ConnPool& pool() noexcept { return conns_; }
  const IngestStats& stats() const noexcept { return shared_.stats; }

  // Binds the TCP listener. Errors: from bind/listen (address in use, bad address).
  std::error_code listen_tcp(const asio::ip::tcp::endpoint& ep) {
    std::error_code ec;
    tcp_.open(ep.protocol(), ec);
    if (!ec) tcp_.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) tcp_.bind(ep, ec);
    if (!ec) tcp_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) tcp_.close();
    return ec;
  }
  // Binds the Unix socket listener (a stale socket file is replaced).
  std::error_code listen_unix(const std::string& path) {
    std::error_code ec;
    ::unlink(path.c_str());
    asio::local::stream_protocol::endpoint ep(path);
    unix_.open(ep.protocol(), ec);
    if (!ec) unix_.bind(ep, ec);
    if (!ec) unix_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) unix_.close();
    unix_path_ = ec ? std::string() : path;
    return ec;
  }
  std::uint16_t tcp_port() const {
    std::error_code ec;
    return tcp_.is_open() ? tcp_.local_endpoint(ec).port() : 0;
  }

  // Spawns the accept loops. Errors: false if a task slot could not be had.
  bool start() {
    bool ok = true;
    if (tcp_.is_open()) ok = tasks_.spawn("ingest_accept", [this] { return accept_loop(tcp_); }) && ok;
    if (unix_.is_open()) ok = tasks_.spawn("ingest_accept_unix", [this] { return accept_loop(unix_); }) && ok;
    return ok;
  }

  // Stops accepting and admitting; connections finish their round and close.
  void stop() {
    shared_.stopping = true;
    std::error_code ec;
    tcp_.close(ec);
    unix_.close(ec);
    if (!unix_path_.empty()) ::unlink(unix_path_.c_str());
    conns_.for_each_live([](IngestConn& c) { c.interrupt_read(); });
  }

 private:
  template <typename Acceptor>
  Task<void> accept_loop(Acceptor& acc) {
    while (!shared_.stopping) {
      auto [ec, n] = co_await async_op([&](auto h) { acc.async_accept(spare_, std::move(h)); },
                                       [&] {
                                         std::error_code ig;
                                         acc.cancel(ig);
                                       });
      (void)n;
      if (shared_.stopping || ec == asio::error::operation_aborted || cancelled()) break;
      if (ec) {
        // EMFILE/ENFILE and friends: back off briefly rather than spin.
        co_await sleep_for(std::chrono::milliseconds(100));
        continue;
      }
      ++shared_.stats.accepted;
      auto lease = conns_.try_acquire(std::move(spare_), shared_);
      if (lease && tasks_.spawn("ingest_conn", [&] { return serve(std::move(lease)); })) continue;
      ++shared_.stats.refused_connections;
      if (lease) {
        lease->refuse();  // a connection slot but no task slot: refused all the same
      } else {
        refuse_connection(spare_);
      }
    }
  }

  static Task<void> serve(typename ConnPool::Lease lease) { co_await lease->run(); }

  TaskPoolBase& tasks_;
  IngestShared shared_;
  ConnPool conns_;
  TcpAcceptor tcp_;
  UnixAcceptor unix_;
  IngestConn::Socket spare_;
  std::string unix_path_;
};

}  // namespace bh
