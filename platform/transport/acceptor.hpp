// Acceptor: one listening socket (TCP or Unix) and the one accept loop every server uses:
// accept -> the owner takes a connection slot and starts the connection's task -> if it cannot,
// the connection is refused (the owner's one-line answer, then close) and counted. The slot's
// lease owns the socket: when the connection task ends, slot and FD go back together.
// It is not a protocol and holds no connection: what a connection says is its owner's. A TLS
// listener plugs in a Handshake, run in the connection's own task before it is served (never in
// the accept loop). Every acceptor runs as one task. Reactor thread only.
//
// Slow and stalled clients. Each connection type bounds its own waits (a whole line, a whole
// request head, an idle deadline; CloseReason names them) and tells the acceptor, through its
// Evictable base, since when it has been waiting on its peer without completing anything: the
// first byte of the partial line or head it is reading, or the end of its last answer when it is
// idle; never while it works for the peer (committing events, handling a request, writing).
// Eviction policy, the same for every listener: a connection that arrives at a full pool evicts
// the connection that has been stalled longest, if it has been stalled at least
// EvictionPolicy::min_stall; the victim's wait is interrupted (its task ends, counted `evicted`),
// the accept loop waits for the slot to come back (at most EvictionPolicy::wait, normally one
// reactor turn) and admits the newcomer. One eviction at a time per pool: while a victim is
// leaving, a second arrival waits for it rather than evicting another. With no victim (every
// connection busy or freshly active) the newcomer is refused as before. So a pool full of
// tricklers serves a well-behaved client at once, a trickler's slot lasts at most its line/head
// deadline, and a connection with events in flight is never cut.
#pragma once
#include <asio/generic/stream_protocol.hpp>
#include <asio/ip/tcp.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>

#include "platform/core/pool.hpp"
#include "platform/core/task.hpp"
#include "platform/util/errors.hpp"

namespace bh {

// An accepted connection, TCP or Unix alike.
using StreamSocket = asio::basic_stream_socket<asio::generic::stream_protocol, Executor>;

// What the owner did with an accepted connection.
enum class Admission : std::uint8_t {
  started,  // the socket is in a slot and its task runs
  refused,  // no connection slot, or no task slot: the acceptor refuses it (counted)
  dropped,  // set-up failed and the connection is already closed: nothing to answer
  evicting,  // no slot, but a stalled connection is leaving to make room: admit again once it has
};

class Acceptor;
class TlsStream;

// Why a listener closed a connection on its own deadline or policy (a peer's EOF, a reset or a
// protocol error is not here). One counter family per listener (`bulkhead_listener_closes_total`).
enum class CloseReason : std::uint8_t {
  idle,               // nothing complete arrived within the idle deadline
  line_timeout,       // a line (ingest event, console command) not complete within its deadline
  header_timeout,     // an HTTP request head not complete within its deadline
  body_timeout,       // an HTTP request body not complete within the request deadline
  handshake_timeout,  // the Handshake hook (TLS) ran past its deadline
  evicted,            // the longest-stalled connection, closed to admit a new one at a full pool
};
inline constexpr std::size_t kCloseReasons = 6;
inline constexpr std::array<std::string_view, kCloseReasons> kCloseReasonNames{
    "idle", "line_timeout", "header_timeout", "body_timeout", "handshake_timeout", "evicted"};

struct ListenerCloses {
  std::array<std::uint64_t, kCloseReasons> n{};
  void count(CloseReason r) noexcept { ++n[static_cast<std::size_t>(r)]; }
  std::uint64_t operator[](CloseReason r) const noexcept { return n[static_cast<std::size_t>(r)]; }
};

// The eviction policy's two figures (see the header comment).
struct EvictionPolicy {
  // A connection stalled for less than this is not evicted (a fresh client gets time to speak).
  Clock::duration min_stall = std::chrono::milliseconds(250);
  // How long the accept loop waits for an evicted connection's slot before refusing the newcomer.
  Clock::duration wait = std::chrono::seconds(1);
};

// What a pooled connection tells the acceptor for the eviction policy: a base class of every
// listener's connection type. The connection calls waiting_since() when it starts waiting on its
// peer (with the time the wait counts from) and busy() while it works for the peer; it
// implements `void evict() noexcept` (interrupt its wait; its run() then ends without counting
// a close reason of its own: the acceptor counted `evicted`).
class Evictable {
 public:
  static constexpr Clock::time_point kBusy = Clock::time_point::max();
  // Since when the connection has waited on its peer without progress that counts; kBusy while it
  // works for the peer or is already being evicted.
  Clock::time_point stalled_since() const noexcept { return evictor_ ? kBusy : since_; }
  bool evicting() const noexcept { return evictor_ != nullptr; }

 protected:
  Evictable() noexcept : since_(Clock::now()) {}
  ~Evictable() = default;
  void waiting_since(Clock::time_point t) noexcept { since_ = t; }
  void busy() noexcept { since_ = kBusy; }

 private:
  friend class Acceptor;
  Clock::time_point since_;
  Acceptor* evictor_ = nullptr;  // the acceptor waiting for this slot
};

// The server behind an acceptor.
class AcceptOwner {
 public:
  // Takes a slot for `s` and starts its task; Acceptor::admit_to() is the usual body. On
  // `refused`, s must still hold the connection so the refusal reaches the peer.
  virtual Admission admit(Acceptor& from, StreamSocket& s) noexcept = 0;
  // The line a refused connection is told before it is closed (one short line: it is written
  // without waiting, and a fresh socket's send buffer always takes it).
  virtual std::string_view refusal() noexcept = 0;

 protected:
  ~AcceptOwner() = default;
};

// The step a TLS listener adds between accept and serve. It runs in the connection's task, after
// the slot is taken and before the connection is served, within `timeout`. Per-connection state
// (an SSL context) lives in the hook's own fixed table indexed by `slot` (the connection's pool
// index, unique among live connections). An error closes the connection, counted in
// AcceptorStats::handshake_failures. After a handshake, a connection class with
// `void use_tls(TlsStream*)` is handed the slot's stream (tls(slot)) to read and write through.
class Handshake {
 public:
  virtual Task<std::error_code> handshake(StreamSocket& s, std::uint32_t slot, Clock::duration timeout) = 0;
  // The slot's TLS stream once its handshake succeeded (nullptr: the hook is not TLS).
  virtual TlsStream* tls(std::uint32_t /*slot*/) noexcept { return nullptr; }

 protected:
  ~Handshake() = default;
};

// The owner's counters (so its stats keep their names and metrics).
struct AcceptCounters {
  std::uint64_t& accepted;  // connections accepted (refused ones included)
  std::uint64_t& refused;   // refused: no connection slot or no task slot
  ListenerCloses& closes;   // the acceptor counts handshake_timeout and evicted here
};

struct AcceptorStats {
  std::uint64_t accept_errors = 0;       // accept() failed (EMFILE...): backed off 100 ms
  std::uint64_t handshake_failures = 0;  // the Handshake hook failed or timed out
  std::uint64_t eviction_waits_timed_out = 0;  // an evicted slot did not come back within EvictionPolicy::wait
};

// How a Unix socket file is taken over.
struct UnixListenOptions {
  // false: whatever is at the path is replaced. true (a control socket): mode 0600 from the
  // start, missing parent directories created, a stale socket replaced, but a socket someone
  // accepts on is errc::address_in_use and anything else at the path errc::file_exists.
  bool owner_only = false;
};

class Acceptor {
 public:
  using Listener = asio::basic_socket_acceptor<asio::generic::stream_protocol, Executor>;
  static constexpr auto kAcceptBackoff = std::chrono::milliseconds(100);

  Acceptor(TaskPoolBase& tasks, AcceptOwner& owner, AcceptCounters counters) noexcept;
  Acceptor(const Acceptor&) = delete;
  Acceptor& operator=(const Acceptor&) = delete;
  // Closes the listener. The accept task must have ended (stop(), then run the loop).
  ~Acceptor();

  // Binds a TCP listener (SO_REUSEADDR). Errors: from open/bind/listen (address in use...).
  std::error_code listen_tcp(const asio::ip::tcp::endpoint& ep);
  // As listen_tcp, from a listen address ("127.0.0.1:7700", "[::1]:7700"; platform/net/endpoint.hpp).
  // Errors: std::errc::invalid_argument for a malformed address, else as listen_tcp.
  std::error_code listen(std::string_view address);
  // Binds a Unix socket listener at `path`. Errors: errors of mkdir/bind/listen, and see
  // UnixListenOptions. Notes: start-up only (may allocate).
  std::error_code listen_unix(const std::string& path, UnixListenOptions o = {});

  bool is_open() const noexcept { return acc_.is_open(); }
  // The bound TCP port (0 if not listening on TCP).
  std::uint16_t port() const noexcept;
  // The bound Unix socket path (empty if none).
  const std::string& unix_path() const noexcept { return unix_path_; }
  const AcceptorStats& stats() const noexcept { return stats_; }

  // Adds a handshake step to every connection accepted from now on (nullptr: none).
  void set_handshake(Handshake* h, Clock::duration timeout) noexcept {
    handshake_ = h;
    handshake_timeout_ = timeout;
  }

  void set_eviction(EvictionPolicy p) noexcept { eviction_ = p; }
  const EvictionPolicy& eviction() const noexcept { return eviction_; }

  // Spawns the accept loop as a task named `task_name` (a string literal). Does nothing if not
  // listening. Errors: false if no task slot.
  bool start(const char* task_name);
  // Stops accepting: closes the listener (the accept task ends), removes the Unix socket file if
  // it is still ours. Idempotent.
  void stop() noexcept;

  // The usual AcceptOwner::admit(): a slot of `pool` constructed from (std::move(s), args...),
  // served by a task named `task_name` (a string literal) that runs the handshake, if any, then
  // conn.run(). Conn has `StreamSocket& socket()` and `Task<void> run()`.
  // Errors: `refused` with s still holding the connection when the pool or the task pool is full.
  // A full pool: `evicting` if a stalled connection was asked to leave (evict_for), else refused.
  template <typename Conn, std::uint32_t N, typename... Args>
  Admission admit_to(Pool<Conn, N>& pool, const char* task_name, StreamSocket& s, Args&... args) noexcept {
    auto lease = pool.try_acquire(std::move(s), args...);
    if (!lease) return evict_for(pool) ? Admission::evicting : Admission::refused;  // s was not moved from
    if (tasks_.spawn(task_name, [&] { return serve(std::move(lease), this); })) return Admission::started;
    // No task slot: the connection comes back out of its slot to hear the refusal. (A frame that
    // did not fit the task arena took the lease with it: the slot is back, the socket closed.)
    if (lease) {
      s = std::move(lease->socket());
      lease.reset();
    }
    return Admission::refused;
  }

  // The eviction policy on a full pool (Conn derives from Evictable and has evict()): true if a
  // connection is leaving to make room (one asked now, or one asked earlier still on its way
  // out), false if none is stalled long enough. Counts `evicted`.
  template <typename Conn, std::uint32_t N>
  bool evict_for(Pool<Conn, N>& pool) noexcept {
    if constexpr (!std::is_base_of_v<Evictable, Conn>) return false;  // a pool that never evicts
    else {
    const Clock::time_point now = Clock::now();
    Conn* victim = nullptr;
    bool leaving = false;
    pool.for_each_live([&](Conn& c) {
      const Evictable& e = c;
      if (e.evicting()) leaving = true;
      const Clock::time_point since = e.stalled_since();
      if (since == Evictable::kBusy || now - since < eviction_.min_stall) return;
      if (!victim || since < static_cast<const Evictable&>(*victim).stalled_since()) victim = &c;
    });
    if (leaving) return true;
    if (!victim) return false;
    static_cast<Evictable&>(*victim).evictor_ = this;
    counters_.closes.count(CloseReason::evicted);
    victim->evict();
    return true;
    }
  }

  // Returns a connection's slot (the lease ends) and, if an acceptor evicted it, wakes that
  // acceptor: the end of every connection task of an evictable pool.
  template <typename Lease>
  static void release(Lease& lease) noexcept {
    using Conn = std::remove_reference_t<decltype(*lease)>;
    Acceptor* waiting = nullptr;
    if constexpr (std::is_base_of_v<Evictable, Conn>) waiting = lease ? static_cast<Evictable&>(*lease).evictor_ : nullptr;
    lease.reset();
    if (waiting) waiting->freed_.notify();
  }

 private:
  Task<void> accept_loop();
  // The connection task (a static function: run as a member coroutine template, GCC 12 never
  // entered its body).
  template <typename Lease>
  static Task<void> serve(Lease lease, Acceptor* self) {
    if (Handshake* hs = self->handshake_) {
      const std::error_code ec = co_await hs->handshake(lease->socket(), lease.index(), self->handshake_timeout_);
      if (ec) {
        ++self->stats_.handshake_failures;
        if (ec == errc::timeout) self->counters_.closes.count(CloseReason::handshake_timeout);
        release(lease);
        co_return;
      }
      if constexpr (requires { lease->use_tls(static_cast<TlsStream*>(nullptr)); })
        lease->use_tls(hs->tls(lease.index()));
    }
    co_await lease->run();
    release(lease);
  }

  TaskPoolBase& tasks_;
  AcceptOwner& owner_;
  AcceptCounters counters_;
  AcceptorStats stats_;
  Listener acc_;
  StreamSocket spare_;  // the next connection is accepted into it
  Handshake* handshake_ = nullptr;
  Clock::duration handshake_timeout_{};
  EvictionPolicy eviction_;
  Notify freed_;  // an evicted connection's slot came back
  std::string unix_path_;
  unsigned long unix_inode_ = 0;  // the socket file we bound: removed at stop only if still ours
  bool stopping_ = false;
  bool looping_ = false;  // the accept task is live
};

// Creates a listening Unix socket at `path` (see UnixListenOptions); fd is then the caller's.
// Errors: as Acceptor::listen_unix. Notes: start-up only (may allocate).
std::error_code listen_unix_fd(const std::string& path, UnixListenOptions o, int& fd);

// Writes `line` to a connection that is being refused (without waiting), drains what the peer
// already sent so that close() sends FIN rather than RST (the peer then reads the line), closes.
void refuse_connection(StreamSocket& s, std::string_view line) noexcept;

}  // namespace bh
