// Source: the connection loop (slot, breaker, backoff, pause), the pump, event delivery and I/O.
#include "platform/sources/source.hpp"
#include "platform/core/reactor_thread.hpp"
#include "platform/util/assert.hpp"

#include <asio/error.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "platform/sources/jobs_check.hpp"
#include "platform/transport/connector_http.hpp"
#include "platform/util/log.hpp"
#include "hal/clock.hpp"

namespace bh {
namespace {
using hal::unix_ms;

std::uint64_t fnv1a(std::string_view s) noexcept {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;
  return h ^ s.size();
}

// Length of the valid UTF-8 sequence at s[i], or 0 if the byte there does not start one.
std::size_t utf8_seq(std::string_view s, std::size_t i) noexcept {
  auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = b(i);
  std::size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
  if (n == 0 || i + n > s.size()) return 0;
  for (std::size_t k = 1; k < n; ++k)
    if ((b(i + k) & 0xC0) != 0x80) return 0;
  if (n == 2 && c < 0xC2) return 0;                               // overlong
  if (n == 3 && c == 0xE0 && b(i + 1) < 0xA0) return 0;           // overlong
  if (n == 3 && c == 0xED && b(i + 1) >= 0xA0) return 0;          // surrogate
  if (n == 4 && c == 0xF0 && b(i + 1) < 0x90) return 0;           // overlong
  if (n == 4 && (c > 0xF4 || (c == 0xF4 && b(i + 1) >= 0x90))) return 0;  // above U+10FFFF
  return n;
}
}  // namespace

std::size_t json_escape(std::string_view in, char* out) noexcept {
  static constexpr char kHex[] = "0123456789abcdef";
  std::size_t n = 0;
  auto put = [&](std::string_view s) {
    if (out) std::memcpy(out + n, s.data(), s.size());
    n += s.size();
  };
  for (std::size_t i = 0; i < in.size();) {
    const unsigned char c = static_cast<unsigned char>(in[i]);
    if (c == '"') {
      put("\\\"");
    } else if (c == '\\') {
      put("\\\\");
    } else if (c == '\n') {
      put("\\n");
    } else if (c == '\r') {
      put("\\r");
    } else if (c == '\t') {
      put("\\t");
    } else if (c < 0x20) {
      const char u[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 15]};
      put(std::string_view(u, 6));
    } else if (c < 0x80) {
      put(std::string_view(in.data() + i, 1));
    } else if (std::size_t k = utf8_seq(in, i); k > 0) {
      put(in.substr(i, k));
      i += k;
      continue;
    } else {
      put("\\ufffd");
    }
    ++i;
  }
  return n;
}

std::string_view source_state_name(Source::State s) noexcept {
  switch (s) {
    case Source::State::starting: return "starting";
    case Source::State::connecting: return "connecting";
    case Source::State::running: return "running";
    case Source::State::backoff: return "backoff";
    case Source::State::paused: return "paused";
    case Source::State::breaker_open: return "breaker open";
    case Source::State::stopped: return "stopped";
  }
  return "?";
}

Source::Source(TaskPoolBase& tasks, Committer& committer, JsonCheck& json, SourceConnPool& conns,
               SourceOptions opts) noexcept
    : tasks_(tasks),
      committer_(committer),
      json_(json),
      conns_(conns),
      opts_(std::move(opts)),
      net_(stats_, make_label(label_, "source", opts_.name), "", opts_.breaker, opts_.backoff_base, opts_.backoff_cap,
           0xA5A5'0000u ^ static_cast<std::uint64_t>(unix_ms()) ^ fnv1a(opts_.name)),
      rng_(0x9E3779B97F4A7C15ull ^ static_cast<std::uint64_t>(unix_ms()) ^ (fnv1a(opts_.name) << 1)),
      ring_(opts_.queue) {
  opts_.max_event_bytes = std::clamp<std::uint32_t>(opts_.max_event_bytes, 1, kSourceMaxEventBytes);
}

std::string source_jobs_problem(const SourceJobKeys& k, std::string& key) {
  JsonPointer jp;
  std::string why;
  key = "select";
  if (!JsonPointer::compile(k.select, jp, why)) return why;
  if (!k.select.empty() && !k.http_poll) return "only http_poll sources split a response";
  if (!k.select.empty() && !k.split.empty() && k.split != "json_array")
    return fmt::format("select splits at a JSON array; split = \"{}\" does not", k.split);
  key = "decode";
  if (k.decode.size() > kMaxDecodePointers) return fmt::format("at most {} pointers", kMaxDecodePointers);
  for (std::size_t j = 0; j < k.decode.size(); ++j) {
    key = fmt::format("decode[{}]", j);
    if (!JsonPointer::compile(k.decode[j], jp, why)) return why;
    if (jp.empty()) return "names the whole event, not a field";
  }
  DedupeKeyer keyer;
  std::size_t at = 0;
  if (why = keyer.compile(k.dedupe_key, at); !why.empty()) {
    key = at < k.dedupe_key.size() ? fmt::format("dedupe_key[{}]", at) : "dedupe_key";
    return why;
  }
  if (!k.filter.empty()) {
    key = "filter";
    Filter f;
    FilterError fe;
    if (!Filter::compile(k.filter, f, fe)) return fe.text();
  }
  key.clear();
  return {};
}

std::uint32_t Source::random32() noexcept {
  rng_ ^= rng_ >> 12;
  rng_ ^= rng_ << 25;
  rng_ ^= rng_ >> 27;
  return static_cast<std::uint32_t>((rng_ * 0x2545F4914F6CDD1Dull) >> 32);
}

std::error_code Source::prepare() {
  BH_ASSERT(on_reactor_thread());
  // Jobs: pointers compiled, parser and buffers sized for the largest item, the window allocated.
  // (The config loader has run the same check, with file and line.)
  std::string key;
  if (std::string why = source_jobs_problem({opts_.kind == SourceKind::http_poll, opts_.split == SplitMode::ndjson ? "ndjson" : "",
                                             opts_.select, opts_.decode, opts_.dedupe_key, opts_.filter},
                                            key);
      !why.empty()) {
    log::error("source {}: {}: {}", opts_.name, key, why);
    return make_error_code(std::errc::invalid_argument);
  }
  std::string ignored;
  (void)JsonPointer::compile(opts_.select, select_, ignored);
  if (!select_.empty()) opts_.split = SplitMode::json_array;
  ndecode_ = 0;
  for (const std::string& d : opts_.decode) (void)JsonPointer::compile(d, decode_[ndecode_++], ignored);
  std::size_t at = 0;
  (void)keyer_.compile(opts_.dedupe_key, at);
  if (!opts_.filter.empty()) {
    FilterError fe;
    (void)Filter::compile(opts_.filter, filter_, fe);
  }
  window_.init(opts_.dedupe_key.empty() ? 0 : std::max<std::uint32_t>(opts_.dedupe_window, 1));
  jobs_ = ndecode_ > 0 || !filter_.empty() || window_.capacity() > 0;
  if (jobs_) {
    const std::size_t max = opts_.max_event_bytes;
    if (parser_.allocate(max, 64) != simdjson::SUCCESS) return make_error_code(std::errc::not_enough_memory);
    // The document tape is allocated by the first parse: parse a max-size object now.
    std::string warm(max + JsonCheck::kPadding, ' ');
    warm[0] = '{';
    warm[max - 1] = '}';
    simdjson::dom::element root;
    if (parser_.parse(warm.data(), max, false).get(root)) return make_error_code(std::errc::not_enough_memory);
    if (ndecode_ > 0) scratch_ = std::make_unique<char[]>(2 * (max + JsonCheck::kPadding));
    ring_.on_drop(&Source::dropped_record, this);
  }
  // As for sinks: a numeric or hosts-file host is final now; a DNS name is looked up by the
  // connection task before each new connection once the cached answer expires (dns.hpp).
  ConnectorTarget t;
  if (!http_target(opts_, url_, t)) return make_error_code(std::errc::invalid_argument);
  return net_.prepare(t);
}

bool Source::start() {
  BH_ASSERT(on_reactor_thread());
  if (!tasks_.spawn("source_pump", [this] { return pump(); })) return false;
  if (!tasks_.spawn("source", [this] { return run(); })) {
    stopping_ = true;
    pump_wake_.notify();
    return false;
  }
  return true;
}

void Source::interrupt() noexcept {
  if (conn_) conn_->link.cancel();
}

void Source::stop() noexcept {
  BH_ASSERT(on_reactor_thread());
  stopping_ = true;
  interrupt();
  wake_.notify();
  pump_wake_.notify();
  room_.notify();
}

bool Source::set_paused(bool paused) noexcept {
  BH_ASSERT(on_reactor_thread());
  if (paused_ == paused && (paused || !told_to_stop_)) return false;
  paused_ = paused;
  if (!paused) told_to_stop_ = false;
  log::info("source {}: {}", opts_.name, paused ? "paused" : "resumed");
  if (paused) interrupt();
  wake_.notify();
  room_.notify();
  return true;
}

void Source::log_error_once() noexcept {
  // One line per distinct reason in a failure episode; repeats are counted, not logged.
  std::string_view reason = last_error();
  std::size_t key = std::min(reason.size(), sizeof logged_reason_);
  if (logged_ && key == logged_len_ && std::memcmp(logged_reason_, reason.data(), key) == 0) {
    log::debug("source {}: {}", opts_.name, reason);
    return;
  }
  logged_ = true;
  std::memcpy(logged_reason_, reason.data(), key);
  logged_len_ = key;
  log::warn("source {}: {} (repeats are counted, not logged)", opts_.name, reason);
}

void Source::log_data_error_once() noexcept {
  // Bad data repeats with every poll: each distinct reason is logged once, then only counted.
  std::string_view reason = last_error();
  std::size_t key = std::min(reason.size(), sizeof data_reason_);
  if (key == data_reason_len_ && std::memcmp(data_reason_, reason.data(), key) == 0) return;
  std::memcpy(data_reason_, reason.data(), key);
  data_reason_len_ = key;
  log::warn("source {}: {}", opts_.name, reason);
}

void Source::established() noexcept {
  ++stats_.connected;
  last_seen_at_ = Clock::now();
  net_.succeeded(last_seen_at_);
  state_ = State::running;
  if (logged_) log::info("source {}: {} is answering again", opts_.name, url_.authority);
  logged_ = false;
}

Task<void> Source::wait(Clock::duration d) {
  if (d > Clock::duration::zero() && !stopping_) co_await wake_.wait(d);
}

Task<void> Source::run() {
  run_live_ = true;
  while (!stopping_ && !cancelled()) {
    if (paused_ || told_to_stop_) {
      state_ = paused_ ? State::paused : State::stopped;
      co_await wake_.wait(std::chrono::seconds(1));
      continue;
    }
    auto now = Clock::now();
    if (!net_.admit(now)) {
      state_ = State::breaker_open;
      co_await wait(net_.breaker().retry_at() - now);
      continue;
    }
    state_ = State::connecting;
    Outcome o = Outcome::failed;
    {
      auto lease = conns_.try_acquire(tasks_.executor(), opts_.max_response_bytes, opts_.max_event_bytes);
      if (!lease) {
        ++stats_.slot_refusals;
        record_error("no source_conn slot free");
      } else {
        conn_ = lease.get();
        o = co_await attempt(*lease);
        conn_ = nullptr;
      }
    }  // the connection closes and its slot goes back here, whatever happened
    if (stopping_ || cancelled()) break;
    now = Clock::now();
    if (paused_ && o != Outcome::ok) {
      // Interrupted by the pause: not the peer's failure. Only a half-open probe must be settled
      // (the breaker admits no other until it is): it reopens, and probes again after recovery.
      if (o == Outcome::failed && net_.breaker().state() == Breaker::State::half_open) net_.breaker().on_failure(now);
      continue;
    }
    if (o == Outcome::ok) {
      established();
      co_await wait(after_ok());
    } else if (o == Outcome::stop) {
      told_to_stop_ = true;  // the session recorded (and logged) why
    } else if (o == Outcome::reconnect) {
      continue;  // at once; the session bounds how often in a row
    } else {
      // A stream that was up and ended is not the peer's failure: backoff only.
      const auto d = o == Outcome::failed ? net_.failed(now) : net_.backoff().next();
      state_ = net_.breaker().state() == Breaker::State::open ? State::breaker_open : State::backoff;
      co_await wait(d);
    }
  }
  state_ = State::stopped;
  run_live_ = false;
  pump_wake_.notify();
}

Task<Source::Outcome> Source::attempt(SourceConn& c) {
  // The slot is held and its socket closed: the lookup's UDP socket stays inside the budget.
  ConnectError e = co_await net_.resolve();
  if (!e && !halted()) e = co_await net_.open(c.link, 0);
  if (halted()) co_return Outcome::failed;  // interrupted by pause or stop: not the peer's failure
  if (e) {
    record_connect_failure(e);
    co_return Outcome::failed;
  }
  co_return co_await session(c);
}

void Source::record_connect_failure(const ConnectError& e) noexcept {
  if (e.ec == errc::cancelled) return;
  if (e.op == TimedOp::handshake && e.ec != errc::timeout) ++stats_.tls_errors;
  std::string_view text = net_.last_error();
  last_error_len_ = std::min(text.size(), sizeof last_error_);
  std::memcpy(last_error_, text.data(), last_error_len_);
  last_error_at_ = Clock::now();
  logged_ = true;  // the connector logged it (once per cause): "answering again" follows recovery
}

void Source::note_io_failure(std::string_view what, std::error_code ec) noexcept {
  if (ec == errc::cancelled) return;
  net_.note_io_failure(what == "write" ? TimedOp::write : what == "response" ? TimedOp::response : TimedOp::read, ec);
  if (ec == errc::timeout) {
    record_error("{} timed out ({})", what, url_.authority);
  } else if (ec == asio::error::eof) {
    record_error("{} closed the connection", url_.authority);
  } else {
    char eb[96];
    record_error("{} failed: {}", what, error_text(ec, eb));
  }
}

Task<void> Source::settle() {
  // Commits are reported within a reactor turn or two; the queue drains as fast as the store
  // admits. Bounded: a store that refuses (busy) makes drop_oldest do its job instead.
  for (int i = 0; i < 100 && !halted(); ++i) {
    if (ring_.in_flight() == 0 && (ring_.queued() <= ring_.max_count() / 2 || busy_)) co_return;
    if (!co_await room_.wait(std::chrono::milliseconds(50)) && ring_.in_flight() == 0) co_return;
  }
}

Task<bool> Source::drained(Clock::duration d, bool after_halt) {
  const auto deadline = Clock::now() + d;
  for (;;) {
    if (ring_.queued() == 0 && ring_.in_flight() == 0) co_return true;
    const auto left = deadline - Clock::now();
    if ((after_halt ? cancelled() : halted()) || left <= Clock::duration::zero()) co_return false;
    pump_wake_.notify();
    co_await room_.wait(std::min<Clock::duration>(left, std::chrono::milliseconds(50)));
  }
}

bool Source::queue_event(std::string_view body, std::int64_t ts, const DedupeKey* key) noexcept {
  std::uint64_t dropped = 0;
  EventRing::Reserve r = ring_.push(body, ts, dropped, key);
  if (dropped) {
    stats_.dropped += dropped;
    log::debug("source {}: queue full: dropped the {} oldest event(s)", opts_.name, dropped);
  }
  if (r == EventRing::Reserve::ok) {
    ++stats_.queued;
    pump_wake_.notify();
    return true;
  }
  ++stats_.dropped;  // blocked by events in flight (settle() makes this rare)
  return false;
}

void Source::dropped_record(void* self, const EventRing::Record& r) noexcept {
  // drop_oldest took an event that was never stored: its key must not keep the item out.
  if (r.key) static_cast<Source*>(self)->window_.erase(*r.key);
}

namespace {
// Unescapes the JSON string whose body starts at `in` (after the opening quote) into `out`.
// Returns the unescaped length and sets `consumed` past the closing quote; -1 if it is not a
// well-formed string. \u escapes become UTF-8 (a lone surrogate becomes U+FFFD).
std::ptrdiff_t json_unescape(std::string_view in, char* out, std::size_t& consumed) noexcept {
  std::size_t w = 0;
  auto hex4 = [&](std::size_t at, std::uint32_t& v) {
    if (at + 4 > in.size()) return false;
    v = 0;
    for (std::size_t k = at; k < at + 4; ++k) {
      const char c = in[k];
      const int h = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
      if (h < 0) return false;
      v = (v << 4) | static_cast<std::uint32_t>(h);
    }
    return true;
  };
  for (std::size_t i = 0; i < in.size();) {
    const char c = in[i];
    if (c == '"') {
      consumed = i + 1;
      return static_cast<std::ptrdiff_t>(w);
    }
    if (static_cast<unsigned char>(c) < 0x20) return -1;
    if (c != '\\') {
      out[w++] = c;
      ++i;
      continue;
    }
    if (i + 1 >= in.size()) return -1;
    const char e = in[i + 1];
    static constexpr std::string_view kFrom = "\"\\/bfnrt", kTo = "\"\\/\b\f\n\r\t";
    if (std::size_t k = kFrom.find(e); k != std::string_view::npos) {
      out[w++] = kTo[k];
      i += 2;
      continue;
    }
    if (e != 'u') return -1;
    std::uint32_t cp = 0;
    if (!hex4(i + 2, cp)) return -1;
    i += 6;
    if (cp >= 0xD800 && cp <= 0xDBFF) {
      std::uint32_t lo = 0;
      if (i + 1 < in.size() && in[i] == '\\' && in[i + 1] == 'u' && hex4(i + 2, lo) && lo >= 0xDC00 && lo <= 0xDFFF) {
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        i += 6;
      } else {
        cp = 0xFFFD;
      }
    } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
      cp = 0xFFFD;
    }
    if (cp < 0x80) {
      out[w++] = static_cast<char>(cp);
    } else if (cp < 0x800) {
      out[w++] = static_cast<char>(0xC0 | (cp >> 6));
      out[w++] = static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out[w++] = static_cast<char>(0xE0 | (cp >> 12));
      out[w++] = static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out[w++] = static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out[w++] = static_cast<char>(0xF0 | (cp >> 18));
      out[w++] = static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out[w++] = static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out[w++] = static_cast<char>(0x80 | (cp & 0x3F));
    }
  }
  return -1;  // no closing quote
}
}  // namespace

std::size_t decode_json_strings(std::string_view in, std::span<const JsonPointer> paths, std::span<char> work,
                               simdjson::dom::parser& parser, std::uint32_t& failed) noexcept {
  // The event is rebuilt in the first half of `work`, each field's text unescaped into the second
  // half and checked there before it replaces the string (unescaped text is never longer than its
  // escaped form, so the event only shrinks).
  failed = 0;
  const std::size_t half = work.size() / 2;
  char* ev = work.data();
  char* text = ev + half;
  if (in.size() + JsonCheck::kPadding > half) return 0;
  std::memcpy(ev, in.data(), in.size());
  std::size_t n = in.size();
  for (std::size_t d = 0; d < paths.size(); ++d) {
    PathCursor cur(paths[d]);
    std::size_t at = 0;
    PathCursor::Step st = PathCursor::Step::more;
    for (; at < n && st == PathCursor::Step::more; ++at) st = cur.feed(ev[at]);
    if (st != PathCursor::Step::found || ev[at - 1] != '"') continue;  // absent, or not a string: as is
    const std::size_t start = at - 1;  // the opening quote
    std::size_t used = 0;
    const std::ptrdiff_t m = json_unescape(std::string_view(ev + at, n - at), text, used);
    std::size_t lead = 0;
    while (m > 0 && lead < static_cast<std::size_t>(m) &&
           (text[lead] == ' ' || text[lead] == '\t' || text[lead] == '\r' || text[lead] == '\n'))
      ++lead;
    // Only an object or array is taken (simdjson copies a root scalar to the heap).
    simdjson::dom::element parsed;
    if (m <= 0 || lead == static_cast<std::size_t>(m) || (text[lead] != '{' && text[lead] != '[') ||
        parser.parse(text, static_cast<std::size_t>(m), false).get(parsed)) {
      failed |= 1u << d;
      continue;
    }
    const std::size_t end = at + used;  // past the closing quote
    std::memmove(ev + start + static_cast<std::size_t>(m), ev + end, n - end);
    std::memcpy(ev + start, text, static_cast<std::size_t>(m));
    n = start + static_cast<std::size_t>(m) + (n - end);
  }
  return n;
}

std::string_view Source::decode(std::string_view bytes) noexcept {
  std::uint32_t failed = 0;
  const std::size_t n = decode_json_strings(bytes, std::span<const JsonPointer>(decode_.data(), ndecode_),
                                            std::span<char>(scratch_.get(), 2 * (opts_.max_event_bytes + JsonCheck::kPadding)),
                                            parser_, failed);
  for (std::size_t d = 0; d < ndecode_; ++d) {
    if (!(failed & (1u << d))) continue;
    ++stats_.decode_errors;
    record_data_error("decode {}: the string is not JSON text: kept as is (counted)", opts_.decode[d]);
  }
  return {scratch_.get(), n};
}

bool Source::shape(std::string_view bytes, std::int64_t ts) noexcept {
  const std::string_view ev = ndecode_ > 0 ? decode(bytes) : bytes;
  simdjson::dom::element root;
  if (parser_.parse(ev.data(), ev.size(), false).get(root) || !root.is_object()) return false;
  if (!filter_.matches(root)) {
    ++stats_.filtered;
    return true;
  }
  if (window_.capacity() == 0) {
    queue_event(ev, ts);
    return true;
  }
  DedupeKey key;
  if (!keyer_.key(ev, root, key)) {
    ++stats_.dedupe_no_key;
    record_data_error("an item has no value at any dedupe_key pointer: stored without dedupe (counted)");
    queue_event(ev, ts);
    return true;
  }
  if (window_.contains(key)) {
    ++stats_.deduped;
    return true;
  }
  // The key enters the window as its event enters the queue, so a duplicate later in the same
  // response (or batch) is caught; it leaves again if the event is dropped or its commit fails.
  if (queue_event(ev, ts, &key) && window_.insert(key)) ++stats_.dedupe_evictions;
  return true;
}

bool Source::queue_wrapped(std::string_view body, std::string_view content_type, std::int64_t ts) noexcept {
  static constexpr std::string_view kA = "{\"content_type\":\"";
  static constexpr std::string_view kB = "\",\"body\":\"";
  static constexpr std::string_view kC = "\"}";
  const std::size_t ct_len = json_escape(content_type, nullptr);
  const std::size_t body_len = json_escape(body, nullptr);
  const std::size_t total = kA.size() + ct_len + kB.size() + body_len + kC.size();
  if (total > opts_.max_event_bytes) return false;
  std::uint64_t dropped = 0;
  EventRing::Reserve r = ring_.reserve(static_cast<std::uint32_t>(total), dropped);
  stats_.dropped += dropped;
  if (r != EventRing::Reserve::ok) {
    ++stats_.dropped;
    return true;
  }
  char* o = ring_.data();
  std::memcpy(o, kA.data(), kA.size());
  o += kA.size();
  o += json_escape(content_type, o);
  std::memcpy(o, kB.data(), kB.size());
  o += kB.size();
  o += json_escape(body, o);
  std::memcpy(o, kC.data(), kC.size());
  ring_.commit(static_cast<std::uint32_t>(total), ts);
  ++stats_.wrapped;
  ++stats_.queued;
  pump_wake_.notify();
  return true;
}

void Source::deliver(std::string_view bytes, std::string_view content_type, bool split_item) noexcept {
  if (bytes.empty()) return;
  if (bytes.size() > opts_.max_event_bytes) {
    ++stats_.too_large;
    record_data_error("an event exceeds max_event_bytes {}: not stored (counted)", opts_.max_event_bytes);
    return;
  }
  const std::int64_t ts = unix_ms();
  if (!split_item && opts_.kind == SourceKind::http_poll) {
    // A whole body that is the same as the last one queued is unchanged: no event.
    std::uint64_t h = fnv1a(bytes);
    if (h == last_hash_) {
      ++stats_.not_modified;
      return;
    }
    last_hash_ = h;
  }
  // Only what starts with '{' goes to the validator: simdjson allocates for some root scalars
  // (numbers are copied to a padded buffer), and anything else is not an object anyway.
  std::size_t lead = 0;
  while (lead < bytes.size() && (bytes[lead] == ' ' || bytes[lead] == '\t' || bytes[lead] == '\r' || bytes[lead] == '\n'))
    ++lead;
  if (lead < bytes.size() && bytes[lead] == '{' && (jobs_ ? shape(bytes, ts) : json_.is_object(bytes))) {
    if (!jobs_) queue_event(bytes, ts);
  } else if (split_item) {
    ++stats_.bad_json;
    record_data_error("an item of the response is not a JSON object: not stored (counted)");
  } else if (!queue_wrapped(bytes, content_type.empty() ? "application/octet-stream" : content_type, ts)) {
    ++stats_.too_large;
    record_data_error("a wrapped body exceeds max_event_bytes {}: not stored (counted)", opts_.max_event_bytes);
  }
}

void Source::submit_queued() noexcept {
  busy_ = false;
  EventRing::Record rec;
  while (ring_.next_queued(rec)) {
    errc r = committer_.submit(opts_.name, rec.body, rec.ts_ms, this, tag_++, rec.key);
    if (r == errc::ok) {
      ring_.mark_in_flight();
      continue;
    }
    if (r == errc::busy) {
      ++stats_.store_busy;
      busy_ = true;
    }
    break;  // busy: retried shortly; shutting_down: the pump ends
  }
}

void Source::on_committed(std::uint32_t, std::uint64_t, errc result) noexcept {
  BH_ASSERT(on_reactor_thread());
  // The committer reports in submission order, so this is the oldest event in flight.
  EventRing::Record rec;
  if (result != errc::ok && ring_.oldest_in_flight(rec) && rec.key) window_.erase(*rec.key);  // not stored: not seen
  ring_.pop_in_flight();
  if (result == errc::ok) {
    ++stats_.events;
  } else {
    ++stats_.store_errors;
  }
  room_.notify();
  if (stopping_) pump_wake_.notify();
}

Task<void> Source::pump() {
  pump_live_ = true;
  for (;;) {
    submit_queued();
    const bool admitting = committer_.admitting();
    if (ring_.in_flight() == 0 && (!admitting || (stopping_ && ring_.queued() == 0)) && !run_live_ && stopping_)
      break;
    if (cancelled() && ring_.in_flight() == 0) break;
    co_await pump_wake_.wait(busy_ ? std::chrono::milliseconds(50) : std::chrono::milliseconds(1000));
  }
  if (std::uint32_t n = ring_.drop_queued()) {
    stats_.dropped_shutdown += n;
    log::warn("source {}: {} queued event(s) not stored: the store stopped admitting", opts_.name, n);
  }
  pump_live_ = false;
}

}  // namespace bh
