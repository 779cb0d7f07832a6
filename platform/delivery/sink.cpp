// Sink delivery loop: batch building, the POST exchange (plain or TLS), outcome classification.
#include "platform/delivery/sink.hpp"

#include <asio/connect.hpp>
#include <asio/write.hpp>
#include <fmt/format.h>
#include <mbedtls/ssl.h>
#include <poll.h>

#include <algorithm>
#include <cstring>
#include <span>
#include <string>
#include <tuple>

#include "platform/util/fault.hpp"
#include "platform/util/log.hpp"
#include "hal/clock.hpp"

namespace bh {
namespace {
// Envelope bytes besides the body: {"seq":,"ts":,"source":"","data":}\n plus two 20-digit numbers
// and a source name of up to 64 bytes, escaped (x6 worst case is not reserved: names are plain).
constexpr std::size_t kEnvelopeOverhead = 40 + 20 + 20 + 96;

// An idle kept-alive connection is reusable only while nothing has arrived on it: bytes (say a
// 408 the sink sent before closing), EOF, a reset, or TLS records or plaintext already buffered
// by mbedTLS all mean the sink is done with it, and whatever it sent would be read as the answer
// to the next request. Never blocks; a failing poll() counts as stale too (a new connection is
// cheap, a misread answer is not).
bool idle_conn_stale(SinkConn& c) noexcept {
  if (c.tls && c.tls->active() &&
      (mbedtls_ssl_get_bytes_avail(&c.tls->ssl()) > 0 || mbedtls_ssl_check_pending(&c.tls->ssl()) != 0))
    return true;
  pollfd p{c.sock.native_handle(), POLLIN, 0};
  return ::poll(&p, 1, 0) != 0;
}

using hal::unix_ms;
}  // namespace

Sink::Sink(TaskPoolBase& tasks, Store& store, int id, SinkOptions opts, std::string_view pool_name) noexcept
    : tasks_(tasks),
      store_(store),
      id_(id),
      opts_(std::move(opts)),
      conns_(pool_name),
      breaker_(opts_.breaker, opts_.name),
      backoff_(opts_.backoff_base, opts_.backoff_cap, 0x5EED0000u + static_cast<std::uint64_t>(id) * 7919u +
                                                          static_cast<std::uint64_t>(unix_ms())),
      body_cap_(std::min<std::uint64_t>(opts_.batch_bytes, kBodyBytes)) {
  conns_.set_limit(std::clamp<std::uint32_t>(opts_.max_connections, 1, kMaxConns));
  if (opts_.batch_bytes > kBodyBytes)
    log::warn("sink {}: batch_bytes {} is above the compiled batch buffer; using {}", opts_.name, opts_.batch_bytes,
              kBodyBytes);
}

std::error_code Sink::prepare() {
  if (!http::parse_url(opts_.url, url_)) return make_error_code(std::errc::invalid_argument);
  if (url_.secure()) {
    TlsOptions to{opts_.ca_file, opts_.client_cert, opts_.client_key, opts_.tls_verify};
    std::string err;
    if (auto e = tls_conf_.init(to, url_.host, err)) {
      log::error("sink {}: TLS: {}", opts_.name, err);
      return e;
    }
    if (!opts_.tls_verify)
      log::warn("sink {}: tls_verify = false: the certificate and host name of {} are NOT checked; anyone on the "
                "path can read and alter deliveries",
                opts_.name, url_.authority);
    // One context per usable slot now, while allocating is allowed (~37 KB of mbedTLS heap each).
    for (std::uint32_t i = 0; i < conns_.limit(); ++i) {
      if (auto e = tls_[i].setup(tls_conf_)) {
        log::error("sink {}: TLS context {}: {}", opts_.name, i, e.message());
        return e;
      }
    }
    log::info("sink {}: TLS to {}: {}, {} connection context(s)", opts_.name, url_.authority,
              !opts_.tls_verify        ? std::string("verification off")
              : opts_.ca_file.empty() ? fmt::format("verified against the system CA bundle ({} certificates)",
                                                    tls_conf_.ca_certs())
                                      : fmt::format("verified against {}", opts_.ca_file),
              conns_.limit());
  } else if (!opts_.ca_file.empty() || !opts_.client_cert.empty()) {
    log::warn("sink {}: ca_file / client_cert are ignored for {} (not https)", opts_.name, opts_.url);
  }
  // Host names are looked up by the task, asynchronously and without the heap (dns.hpp), before
  // each new connection once the cached answer expires. Here only the local part: a numeric host
  // or a hosts-file name is final now; a DNS name's first lookup is the task's first act.
  DnsOptions dopts{.ttl = opts_.dns_ttl,
                   .timeout = opts_.connect_timeout,
                   .resolv_conf = opts_.resolv_conf,
                   .hosts_file = opts_.hosts_file,
                   .port = opts_.dns_port};
  if (auto e = dns_.init(url_.host, dopts)) return e;
  if (dns_.is_static()) {
    endpoint_ = asio::ip::tcp::endpoint(dns_.cached().addrs[0], url_.port);
  } else {
    char ns[64];
    log::info("sink {}: host {} is looked up via DNS ({} name server(s), first {}; answers kept up to {} s)",
              opts_.name, dns_.host(), dns_.resolv_conf().count, dns::format_ip(dns_.resolv_conf().servers[0], ns),
              std::chrono::duration_cast<std::chrono::seconds>(opts_.dns_ttl).count());
  }
  return {};
}

Task<bool> Sink::resolve_endpoint() {
  DnsCache::Result r = co_await dns_.resolve();
  const DnsStats& d = dns_.stats();
  stats_.resolve_errors = d.failures;
  stats_.resolve_timeouts = d.timeouts;
  stats_.dns_stale_used = d.stale_used;
  stats_.deadlines.set(TimedOp::resolve, d.lookups, d.timeouts);
  if (r.ec == errc::cancelled) co_return false;
  char ip[64];
  if (r.ec) {
    if (!dns_failing_)
      log::warn("sink {}: cannot resolve {}: {}; retrying with backoff (repeats are counted, not logged)",
                opts_.name, dns_.host(), dns_reason(r.ec));
    dns_failing_ = true;
    co_return false;
  }
  if (r.stale) {
    if (!dns_failing_)
      log::warn("sink {}: looking up {} failed: {}; using its last address {} until a lookup succeeds (repeats are "
                "counted, not logged)",
                opts_.name, dns_.host(), dns_reason(r.lookup_error), dns::format_ip(r.addr, ip));
    dns_failing_ = true;
  } else if (dns_failing_) {
    dns_failing_ = false;
    log::info("sink {}: {} resolves again ({})", opts_.name, dns_.host(), dns::format_ip(r.addr, ip));
  }
  endpoint_ = asio::ip::tcp::endpoint(r.addr, url_.port);
  co_return true;
}

bool Sink::start() {
  return tasks_.spawn("sink", [this] { return run(); });
}

void Sink::stop() noexcept {
  stopping_ = true;
  for (std::uint32_t i = 0; i < idle_n_; ++i) idle_[i].reset();  // idle keep-alive connections close
  idle_n_ = 0;
  wake_.notify();
}

bool Sink::routed(std::string_view source) const noexcept {
  if (opts_.sources.empty()) return true;
  for (const auto& s : opts_.sources)
    if (s == source) return true;
  return false;
}

void Sink::append_envelope(const EventOut& e) noexcept {
  char* out = body_.data() + body_len_;
  std::size_t room = body_cap_ - body_len_;
  auto r = fmt::format_to_n(out, room, "{{\"seq\":{},\"ts\":{},\"source\":\"", e.seq, e.ts_ms);
  std::size_t n = r.size;
  for (char ch : e.source) {  // names are plain; escape defensively anyway
    if (n + 6 >= room) break;
    auto u = static_cast<unsigned char>(ch);
    if (ch == '"' || ch == '\\') {
      out[n++] = '\\';
      out[n++] = ch;
    } else if (u < 0x20) {
      n += fmt::format_to_n(out + n, room - n, "\\u{:04x}", u).size;
    } else {
      out[n++] = ch;
    }
  }
  static constexpr std::string_view kData = "\",\"data\":";
  if (n + kData.size() + e.body.size() + 2 > room) return;  // cannot happen: build_batch reserves room
  std::memcpy(out + n, kData.data(), kData.size());
  n += kData.size();
  std::memcpy(out + n, e.body.data(), e.body.size());
  n += e.body.size();
  out[n++] = '}';
  out[n++] = '\n';
  body_len_ += n;
}

std::error_code Sink::build_batch(std::uint32_t& count, std::uint64_t& first, std::uint64_t& last,
                                  std::uint32_t& routed_n) {
  body_len_ = 0;
  routed_n = 0;
  first = last = 0;
  const std::uint32_t max_events = opts_.batch_events;
  std::uint64_t reserve = std::min<std::uint64_t>(body_cap_ / 2, std::uint64_t{max_events} * kEnvelopeOverhead);
  std::uint64_t max_bytes = body_cap_ - reserve;
  bool full = false;
  std::error_code ec = store_.read_batch(
      id_, max_events, max_bytes,
      [&](const EventOut& e) {
        if (full) return;
        if (body_len_ + e.body.size() + kEnvelopeOverhead > body_cap_ && routed_n > 0) {
          full = true;  // the rest is read again next time: the cursor only moves to `last`
          return;
        }
        if (first == 0) first = e.seq;
        last = e.seq;
        if (routed(e.source)) {
          append_envelope(e);
          ++routed_n;
        }
      },
      count);
  return ec;
}

std::error_code Sink::build_range(std::uint64_t first, std::uint64_t last, std::uint32_t& routed_n) {
  body_len_ = 0;
  routed_n = 0;
  std::uint32_t count = 0;
  return store_.read_range(
      first, last,
      [&](const EventOut& e) {
        if (routed(e.source) && body_len_ + e.body.size() + kEnvelopeOverhead <= body_cap_) {
          append_envelope(e);
          ++routed_n;
        }
      },
      count);
}

Task<void> Sink::pause(Clock::duration d) {
  if (d > Clock::duration::zero() && !stopping_) co_await sleep_for(d);
}

Task<void> Sink::run() {
  running_ = true;
  if (!dns_.is_static()) {
    // The first lookup now, so that a typo'd or unresolvable host is in the log at start-up
    // rather than at the first event; it does not stop anything: deliveries retry it with backoff.
    // The lookup's UDP socket is counted in a connection slot's FD.
    auto [ec, slot] = co_await acquire(conns_, opts_.pool_timeout, tasks_.executor(), opts_.max_response_bytes);
    if (!ec && co_await resolve_endpoint()) {
      char ip[64];
      log::info("sink {}: {} is {}", opts_.name, dns_.host(), dns::format_ip(endpoint_.address(), ip));
    }
  }
  while (!stopping_ && !cancelled()) {
    DeadLetter dl;
    bool replay = false;
    std::uint32_t count = 0, routed_n = 0;
    std::uint64_t first = 0, last = 0;
    std::error_code ec = store_.next_replay(id_, dl, replay);
    if (!ec && replay) {
      first = dl.first_seq;
      last = dl.last_seq;
      ec = build_range(first, last, routed_n);
      count = routed_n;
    } else if (!ec) {
      ec = build_batch(count, first, last, routed_n);
    }
    if (ec) {
      ++stats_.store_errors;
      log::error("sink {}: reading the store failed: {}", opts_.name, ec.message());
      co_await pause(std::chrono::seconds(1));
      continue;
    }
    if (count == 0 && !replay) {
      co_await wake_.wait(opts_.idle_poll);
      continue;
    }
    if (routed_n == 0) {  // nothing of this range is for this sink
      if (replay) {
        store_.finish_replay(dl.id, true);
      } else if (store_.advance_cursor(id_, last)) {
        ++stats_.store_errors;
      }
      continue;
    }
    // Deliver this batch until it is delivered or dead-lettered: nothing newer goes first.
    batch_first_ = first;
    batch_last_ = last;
    while (!stopping_ && !cancelled()) {
      auto now = Clock::now();
      if (!breaker_.allow(now)) {
        ++stats_.breaker_rejections;
        co_await pause(breaker_.retry_at() - now);
        continue;
      }
      Attempt a = co_await post(routed_n);
      now = Clock::now();
      stats_.last_status = a.status;
      if (a.outcome == Outcome::retry) {
        breaker_.on_failure(now);
        ++stats_.retries;
        auto d = backoff_.next();
        log::debug("sink {}: seq {}..{} not delivered ({}), retry in {} ms", opts_.name, first, last, a.reason, d.count());
        co_await pause(d);
        continue;
      }
      breaker_.on_success(now);  // the endpoint answered: it is up, whatever it thought of the batch
      backoff_.reset();
      if (a.outcome == Outcome::delivered) {
        ++stats_.batches;
        stats_.delivered += routed_n;
        if (replay) {
          ++stats_.replayed;
          store_.finish_replay(dl.id, true);
        } else if (auto e = store_.advance_cursor(id_, last)) {
          // The batch is resent after a restart: at-least-once, sinks dedupe by seq.
          ++stats_.store_errors;
          log::error("sink {}: cursor update failed: {}", opts_.name, e.message());
        }
      } else {
        ++stats_.dead_lettered;
        stats_.dead_events += routed_n;
        log::warn("sink {}: seq {}..{} refused with HTTP {}: moved to the dead-letter table", opts_.name, first, last,
                  a.status);
        if (replay) {
          store_.finish_replay(dl.id, false);
        } else if (auto e = store_.dead_letter(id_, first, last, a.status, a.reason, unix_ms())) {
          ++stats_.store_errors;
          log::error("sink {}: dead-lettering failed: {}", opts_.name, e.message());
        }
      }
      break;
    }
  }
  if (url_.secure())
    log::info("sink {}: TLS: {} handshake(s) ({} resumed), {} handshake error(s), {} certificate rejection(s), "
              "{} handshake timeout(s)",
              opts_.name, stats_.tls_handshakes, stats_.tls_resumed, stats_.tls_handshake_errors,
              stats_.tls_verify_errors, stats_.handshake_timeouts);
  running_ = false;
}

TlsStream* Sink::tls_stream(std::uint32_t i) noexcept {
  if (i >= tls_.size()) return nullptr;
  if (!tls_[i].is_setup()) {
    if (tls_[i].setup(tls_conf_)) {  // after seal: no message() string, just the fact
      log::error("sink {}: TLS context {} could not be set up (mbedTLS heap limit?)", opts_.name, i);
      return nullptr;
    }
  }
  return &tls_[i];
}

std::string_view Sink::note_tls_failure(const TlsStream& t, std::error_code ec) noexcept {
  std::string_view why;
  std::uint64_t key = 0;
  if (ec == errc::cancelled) return "cancelled";
  if (ec == errc::timeout) {
    ++stats_.handshake_timeouts;
    why = "TLS handshake timeout";
    key = 1;  // failure keys of real errors carry a non-zero mbedTLS code in the high half
  } else if (ec == tls_errc::verify_failed) {
    ++stats_.tls_verify_errors;
    why = "TLS certificate rejected";
    key = t.failure_key();
  } else {
    ++stats_.tls_handshake_errors;
    why = ec == tls_errc::out_of_memory ? "TLS memory limit" : "TLS handshake failed";
    key = t.failure_key();
  }
  const auto logged = std::span(tls_logged_).first(std::min<std::size_t>(tls_logged_n_, tls_logged_.size()));
  if (std::find(logged.begin(), logged.end(), key) != logged.end()) {
    log::debug("sink {}: {} ({})", opts_.name, why, url_.authority);
    return why;
  }
  tls_logged_[tls_logged_n_++ % tls_logged_.size()] = key;
  char detail[256];
  std::string_view d = ec == errc::timeout ? std::string_view("no handshake within connect_timeout")
                                           : t.describe(detail);
  log::warn("sink {}: TLS handshake with {} failed: {}; retrying with backoff (repeats are counted, not logged)",
            opts_.name, url_.authority, d);
  return why;
}

Task<Sink::Attempt> Sink::post(std::uint32_t events) {
  ConnPool::Lease lease;
  if (idle_n_ > 0) {
    lease = std::move(idle_[--idle_n_]);
    if (idle_conn_stale(*lease)) {  // closed here; the slot's new connection is opened below
      lease->close();
      ++stats_.stale_closes;
    }
  } else {
    stats_.deadlines.started(TimedOp::pool_acquire);
    auto [ec, fresh] = co_await acquire(conns_, opts_.pool_timeout, tasks_.executor(), opts_.max_response_bytes);
    if (ec) {
      if (ec == errc::timeout) {
        ++stats_.pool_timeouts;
        stats_.deadlines.timed_out(TimedOp::pool_acquire);
      }
      co_return Attempt{Outcome::retry, 0, "no connection slot"};
    }
    lease = std::move(fresh);
  }
  // A new connection goes to the host's current address (from the cache unless it expired).
  if (!lease->sock.is_open() && !co_await resolve_endpoint()) co_return Attempt{Outcome::retry, 0, "host not resolved"};
  if (url_.secure()) {  // the TLS context of this slot index
    lease->tls = tls_stream(lease.index());
    if (!lease->tls) co_return Attempt{Outcome::retry, 0, "no TLS context"};
  }
  // A kept-alive connection the server closed meanwhile fails before any answer: once, retry on
  // a fresh connection without counting it against the sink.
  bool stale = false;
  Attempt a = co_await exchange(*lease, events, stale);
  if (stale) a = co_await exchange(*lease, events, stale);
  if (lease->sock.is_open() && !stopping_) idle_[idle_n_++] = std::move(lease);  // kept alive
  co_return a;
}

Task<Sink::Attempt> Sink::exchange(SinkConn& c, std::uint32_t events, bool& stale) {
  (void)events;
  const bool reused = c.sock.is_open();
  stale = false;
  if (!reused) {
    ++stats_.connects;
    std::error_code ec;
    c.sock.open(endpoint_.protocol(), ec);
    if (!ec) c.sock.set_option(asio::ip::tcp::no_delay(true), ec);
    if (ec) {
      c.close();
      ++stats_.connect_errors;
      co_return Attempt{Outcome::retry, 0, "socket"};
    }
    stats_.deadlines.started(TimedOp::connect);
    std::error_code cec;
    if (fault::hit(fault::Op::connect)) {
      cec = make_error_code(asio::error::connection_refused);  // the fault plan (test builds)
    } else {
      cec = (co_await timed_op(
                 opts_.connect_timeout, [&](auto h) { c.sock.async_connect(endpoint_, std::move(h)); },
                 [&] {
                   std::error_code ig;
                   c.sock.cancel(ig);
                 }))
                .first;
    }
    if (cec) {
      c.close();
      dns_.rotate();  // the next connection tries the host's next address, if it has several
      (cec == errc::timeout ? stats_.connect_timeouts : stats_.connect_errors)++;
      if (cec == errc::timeout) stats_.deadlines.timed_out(TimedOp::connect);
      co_return Attempt{Outcome::retry, 0, cec == errc::timeout ? "connect timeout" : "connect failed"};
    }
    if (c.tls) {
      // The handshake gets its own connect_timeout. Any failure closes the socket; the slot goes
      // back with the lease, the breaker and backoff see a failed attempt.
      std::error_code hec = c.tls->begin(c.sock);
      stats_.deadlines.started(TimedOp::handshake);
      if (!hec) hec = co_await tls_handshake(*c.tls, opts_.connect_timeout);
      if (hec == errc::timeout) stats_.deadlines.timed_out(TimedOp::handshake);
      if (hec) {
        std::string_view why = note_tls_failure(*c.tls, hec);
        c.close();
        co_return Attempt{Outcome::retry, 0, why};
      }
      ++stats_.tls_handshakes;
      if (c.tls->resumed()) ++stats_.tls_resumed;
      tls_logged_n_ = 0;  // the failure episode is over: the next failure is logged again
    }
    c.requests = 0;
  }

  char extra[128];
  auto xr = fmt::format_to_n(extra, sizeof extra, "Bulkhead-First-Seq: {}\r\nBulkhead-Last-Seq: {}\r\n",
                             batch_first_, batch_last_);
  std::size_t hn = http::format_request_head(c.head, "POST", url_.authority, url_.target, "application/x-ndjson",
                                             body_len_, std::string_view(extra, xr.size));
  if (hn == 0) {
    c.close();
    ++stats_.protocol_errors;
    co_return Attempt{Outcome::retry, 0, "request head does not fit"};
  }
  std::array<asio::const_buffer, 2> bufs{asio::buffer(c.head, hn), asio::buffer(body_.data(), body_len_)};
  std::error_code wec;
  stats_.deadlines.started(TimedOp::write);
  if (c.tls) {
    wec = (co_await tls_write_all(*c.tls, bufs, opts_.write_timeout)).first;
  } else {
    wec = (co_await timed_op(
               opts_.write_timeout, [&](auto h) { asio::async_write(c.sock, bufs, std::move(h)); },
               [&] {
                 std::error_code ig;
                 c.sock.cancel(ig);
               }))
              .first;
  }
  if (wec) {
    c.close();
    stale = reused && wec != errc::timeout;
    if (!stale) (wec == errc::timeout ? stats_.write_timeouts : stats_.io_errors)++;
    if (wec == errc::timeout) stats_.deadlines.timed_out(TimedOp::write);
    co_return Attempt{Outcome::retry, 0, wec == errc::timeout ? "write timeout" : "write failed"};
  }

  c.parser.reset();
  stats_.deadlines.started(TimedOp::read);  // one per response awaited (each read has the deadline)
  bool got_any = false;
  bool complete = false;
  std::size_t reason_len = 0;
  std::size_t leftover = 0;
  unsigned interim = 0;  // 1xx responses skipped (RFC 9110 §15.2), each read keeps read_timeout
  while (!complete) {
    std::error_code rec;
    std::size_t rn = 0;
    if (c.tls) {
      std::tie(rec, rn) = co_await tls_read_some(*c.tls, std::span<char>(c.rbuf), opts_.read_timeout);
    } else {
      std::tie(rec, rn) = co_await timed_op(
          opts_.read_timeout, [&](auto h) { c.sock.async_read_some(asio::buffer(c.rbuf), std::move(h)); },
          [&] {
            std::error_code ig;
            c.sock.cancel(ig);
          });
    }
    if (rec == asio::error::eof && c.parser.finish_eof() == http::Result::done) break;
    if (rec) {
      c.close();
      stale = reused && !got_any && rec != errc::timeout;
      if (!stale) (rec == errc::timeout ? stats_.read_timeouts : stats_.io_errors)++;
      if (rec == errc::timeout) stats_.deadlines.timed_out(TimedOp::read);
      co_return Attempt{Outcome::retry, 0, rec == errc::timeout ? "read timeout" : "connection lost"};
    }
    got_any = true;
    // Feed until the parser needs more bytes: after headers_done or a body chunk it is called
    // again even with nothing left, so a message ending exactly here is reported done.
    std::size_t off = 0;
    for (;;) {
      std::size_t used = 0;
      http::Result r = c.parser.feed(std::string_view(c.rbuf + off, rn - off), used);
      off += used;
      if (r == http::Result::need_more) break;
      if (r == http::Result::body && reason_len < 96) {
        auto chunk = c.parser.body_chunk();
        std::size_t k = std::min(chunk.size(), 96 - reason_len);
        for (std::size_t i = 0; i < k; ++i) {
          char ch = chunk[i];
          reason_[16 + reason_len + i] = (ch >= 0x20 && ch < 0x7f) ? ch : ' ';
        }
        reason_len += k;
      } else if (r == http::Result::done) {
        const http::Interim k = http::skip_interim(c.parser, interim);
        if (k == http::Interim::skipped) {  // 100, 103...: the final answer follows, here or in a later read
          reason_len = 0;
          continue;
        }
        if (k != http::Interim::final) {
          c.close();
          ++stats_.protocol_errors;
          co_return Attempt{Outcome::retry, 0,
                            k == http::Interim::switching ? "101 Switching Protocols" : "too many 1xx responses"};
        }
        complete = true;
        leftover = rn - off;
        break;
      } else if (r == http::Result::error) {
        c.close();
        ++stats_.protocol_errors;
        if (!c.parser.headers_complete()) co_return Attempt{Outcome::retry, 0, "bad response"};
        complete = true;  // e.g. an oversized body: the status stands, the connection does not
        break;
      }
    }
  }
  ++c.requests;
  if (!c.parser.keep_alive() || leftover > 0) c.close();

  const int st = c.parser.status();
  auto head = fmt::format_to_n(reason_, 16, "HTTP {}: ", st);
  std::memmove(reason_ + head.size, reason_ + 16, reason_len);
  std::string_view reason(reason_, head.size + reason_len);
  if (st >= 200 && st < 300) co_return Attempt{Outcome::delivered, st, reason};
  if (st == 408 || st == 429 || st >= 500) {
    ++stats_.http_retryable;
    co_return Attempt{Outcome::retry, st, reason};
  }
  if (st >= 400) co_return Attempt{Outcome::dead, st, reason};
  // 3xx (1xx cannot get here): not followed, not lost: retried (and visible in last_status).
  co_return Attempt{Outcome::retry, st, reason};
}

}  // namespace bh
