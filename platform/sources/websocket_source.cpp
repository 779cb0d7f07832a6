// WebSocketSource: handshake, subscribe, the read loop with pings, closes.
#include "platform/sources/websocket_source.hpp"

#include <algorithm>

#include "platform/util/log.hpp"

namespace bh {
namespace {
constexpr auto kCloseWait = std::chrono::seconds(2);
}  // namespace

Task<std::error_code> WebSocketSource::send_frame(SourceConn& c, ws::Opcode op, std::string_view payload) {
  std::size_t n = ws::write_frame(std::span<char>(c.ctrl), op, std::span<const char>(payload.data(), payload.size()),
                                  random32());
  if (n == 0) co_return make_error_code(errc::protocol);
  co_return co_await write_all(c, std::string_view(c.ctrl, n), opts_.read_timeout);
}

Task<std::error_code> WebSocketSource::send_close(SourceConn& c, std::uint16_t code, std::string_view reason) {
  std::size_t n = ws::write_close(std::span<char>(c.ctrl), code, reason, random32());
  if (n == 0) co_return make_error_code(errc::protocol);
  co_return co_await write_all(c, std::string_view(c.ctrl, n), std::chrono::seconds(1));
}

Task<void> WebSocketSource::close_handshake(SourceConn& c, std::uint16_t code, std::string_view reason) {
  if (co_await send_close(c, code, reason)) co_return;
  const auto deadline = Clock::now() + std::min<Clock::duration>(opts_.read_timeout, kCloseWait);
  for (;;) {
    auto left = deadline - Clock::now();
    if (left <= Clock::duration::zero()) co_return;
    auto [ec, n] = co_await read_some(c, std::span<char>(c.rbuf), left);
    if (ec) co_return;  // EOF (the server closed after its close frame), timeout, cancel
    std::span<const char> in(c.rbuf, n);
    while (!in.empty()) {
      auto ev = c.reader.feed(in);
      in = in.subspan(ev.consumed);
      if (ev.kind == ws::Reader::Kind::close || ev.kind == ws::Reader::Kind::error) co_return;
      if (ev.kind == ws::Reader::Kind::none) break;
    }
  }
}

Source::Outcome WebSocketSource::on_close_code(std::uint16_t code, Clock::duration up, std::uint32_t streak) noexcept {
  const CloseAction act = close_action(std::span(ws_.close_rules.data(), ws_.close_rule_count), code);
  switch (act) {
    case CloseAction::stop:
      ++stats_.closes_stop;
      record_error("{} closed the WebSocket with {} (close_codes: stop): not reconnecting until resumed", url_.authority,
                   code);
      return Outcome::stop;
    case CloseAction::reconnect: {
      ++stats_.closes_reconnect;
      const bool quick = up < std::chrono::milliseconds(kQuickSessionMs);
      quick_streak_ = quick ? streak + 1 : 0;
      if (quick_streak_ > kMaxQuickReconnects) {
        ++stats_.reconnects_throttled;
        record_error("{} closed the WebSocket with {} (close_codes: reconnect) {} times in a row within {} ms: backing off",
                     url_.authority, code, quick_streak_, kQuickSessionMs);
        return Outcome::ended;
      }
      record_error("{} closed the WebSocket with {} (close_codes: reconnect): reconnecting at once", url_.authority, code);
      return Outcome::reconnect;
    }
    case CloseAction::backoff: break;
  }
  ++stats_.closes_backoff;
  record_error("{} closed the WebSocket (code {})", url_.authority, code);
  return Outcome::ended;
}

std::size_t WebSocketSource::render_replies(SourceConn& c, std::string_view message, bool& matched) noexcept {
  matched = false;
  simdjson::dom::element msg;
  if (!json_.parse_object(message, msg)) return 0;  // not a JSON object: no reply can match
  std::size_t n = 0;
  for (const SourceReply& r : ws_.replies) {
    if (!r.when.matches(msg)) continue;
    matched = true;
    if (!r.sends) continue;
    const RenderResult rr = r.send.render(msg, std::span<char>(reply_text_));
    std::size_t f = 0;
    if (rr.ok())
      f = ws::write_frame(std::span<char>(c.head + n, sizeof c.head - n), ws::Opcode::text,
                          std::span<const char>(reply_text_, rr.size()), random32());
    if (f == 0) {
      ++stats_.reply_errors;
      record_data_error("a reply could not be sent: {}",
                        rr.ok() ? std::string_view("the replies to one message are over 2 KiB") : rr.reason());
      continue;
    }
    n += f;
    ++stats_.replies_sent;
  }
  return n;
}

Task<Source::Outcome> WebSocketSource::session(SourceConn& c) {
  // Quick reconnects in a row: carried only by a session that ends with a quick reconnect.
  const std::uint32_t streak = quick_streak_;
  quick_streak_ = 0;
  // Opening handshake.
  std::uint8_t key[16];
  for (int i = 0; i < 16; i += 4) {
    std::uint32_t r = random32();
    std::memcpy(key + i, &r, 4);
  }
  const bool default_port = url_.port == (url_.secure() ? 443 : 80);
  std::size_t hn = ws::write_handshake(std::span<char>(c.head), url_.host, url_.port, url_.target,
                                       std::span<const std::uint8_t, 16>(key), default_port);
  if (hn == 0) {
    ++stats_.protocol_errors;
    record_error("WebSocket handshake request does not fit");
    co_return Outcome::failed;
  }
  if (auto ec = co_await write_all(c, std::string_view(c.head, hn), opts_.connect_timeout)) {
    note_io_failure("write", ec);
    co_return Outcome::failed;
  }
  const auto hs_deadline = Clock::now() + opts_.connect_timeout;
  std::size_t have = 0;
  ws::HandshakeHead hh;  // the answer's head, past any interim (1xx) answers before it
  while ((hh = ws::find_handshake_head(std::string_view(c.rbuf, have))).length == 0) {
    if (have == sizeof c.rbuf) {
      ++stats_.protocol_errors;
      record_error("WebSocket handshake answer from {} is over {} bytes", url_.authority, sizeof c.rbuf);
      co_return Outcome::failed;
    }
    auto left = hs_deadline - Clock::now();
    if (left <= Clock::duration::zero()) {
      ++stats_.handshake_timeouts;
      record_error("no WebSocket handshake answer from {} within connect_timeout", url_.authority);
      co_return Outcome::failed;
    }
    auto [ec, n] = co_await read_some(c, std::span<char>(c.rbuf + have, sizeof c.rbuf - have), left);
    if (halted()) co_return Outcome::failed;
    if (ec == errc::timeout) continue;  // the loop reports it against the handshake deadline
    if (ec) {
      note_io_failure("read", ec);
      co_return Outcome::failed;
    }
    have += n;
  }
  const char* why = *hh.error ? hh.error
                              : ws::check_handshake_response(std::string_view(c.rbuf + hh.offset, hh.length),
                                                             std::span<const std::uint8_t, 16>(key));
  if (*why) {
    ++stats_.protocol_errors;
    record_error("WebSocket handshake with {} refused: {}", url_.authority, why);
    co_return Outcome::failed;
  }
  established();
  const Clock::time_point up_since = Clock::now();
  c.reader.reset();
  if (!opts_.subscribe.empty()) {
    // The message buffer is free until the first frame is fed: the subscribe frame is built there.
    std::size_t n = ws::write_frame(std::span<char>(c.event, sizeof c.event), ws::Opcode::text,
                                    std::span<const char>(opts_.subscribe.data(), opts_.subscribe.size()), random32());
    std::error_code ec = n ? co_await write_all(c, std::string_view(c.event, n), opts_.read_timeout)
                           : make_error_code(errc::protocol);
    if (ec) {
      note_io_failure("write", ec);
      co_return Outcome::ended;
    }
  }

  std::size_t off = hh.offset + hh.length;
  std::size_t len = have - off;
  auto next_ping = Clock::now() + opts_.ping_interval;
  bool awaiting_pong = false;
  Clock::time_point pong_deadline{};
  for (;;) {
    if (len > 0) {
      co_await settle();
      std::span<const char> in(c.rbuf + off, len);
      len = 0;
      while (!in.empty()) {
        auto ev = c.reader.feed(in);
        in = in.subspan(ev.consumed);
        switch (ev.kind) {
          case ws::Reader::Kind::none: break;
          case ws::Reader::Kind::message:
            if (ev.opcode == ws::Opcode::text) {
              ++stats_.messages;
              seen();
              bool protocol = false;
              const std::size_t rn = ws_.replies.empty() ? 0 : render_replies(c, ev.payload, protocol);
              if (rn > 0) {
                // Before the next frame is read: a pong must beat the server's deadline.
                if (auto ec = co_await write_all(c, std::string_view(c.head, rn), opts_.read_timeout)) {
                  note_io_failure("write", ec);
                  co_return Outcome::ended;
                }
              }
              if (protocol) {
                ++stats_.protocol_messages;
              } else {
                deliver(ev.payload, "text/plain; charset=utf-8", false);
              }
            } else {
              ++stats_.binary_dropped;
            }
            break;
          case ws::Reader::Kind::ping:
            if (auto ec = co_await send_frame(c, ws::Opcode::pong, ev.payload)) {
              note_io_failure("write", ec);
              co_return Outcome::ended;
            }
            break;
          case ws::Reader::Kind::pong: awaiting_pong = false; break;
          case ws::Reader::Kind::close: {
            ++stats_.peer_closes;
            const Outcome o = on_close_code(ev.close_code, Clock::now() - up_since, streak);
            co_await send_close(c, ev.close_code == ws::kCloseNoStatus ? ws::kCloseNormal : ev.close_code, "");
            co_return o;
          }
          case ws::Reader::Kind::error:
            if (ev.error == ws::Error::too_big) {
              ++stats_.too_large;
            } else {
              ++stats_.protocol_violations;
            }
            record_error("WebSocket protocol violation from {}: {} ({}); closing with {}", url_.authority,
                         ws::to_string(ev.error), ev.detail, ws::close_code(ev.error));
            co_await send_close(c, ws::close_code(ev.error), "");
            co_return Outcome::ended;
        }
        if (ev.kind == ws::Reader::Kind::none) break;
      }
    }
    if (halted()) {
      if (!cancelled()) co_await close_handshake(c, stopping() ? 1001 : ws::kCloseNormal, stopping() ? "going away" : "paused");
      co_return Outcome::ended;
    }
    auto now = Clock::now();
    if (awaiting_pong && now >= pong_deadline) {
      ++stats_.pong_timeouts;
      record_error("no pong from {} within pong_timeout: reconnecting", url_.authority);
      co_await send_close(c, 1001, "");
      co_return Outcome::ended;
    }
    if (!awaiting_pong && now >= next_ping) {
      if (auto ec = co_await send_frame(c, ws::Opcode::ping, "bh")) {
        note_io_failure("write", ec);
        co_return Outcome::ended;
      }
      ++stats_.pings;
      awaiting_pong = true;
      pong_deadline = now + opts_.pong_timeout;
      next_ping = now + opts_.ping_interval;
    }
    auto until = awaiting_pong ? std::min(pong_deadline, next_ping) : next_ping;
    auto [ec, n] = co_await read_some(c, std::span<char>(c.rbuf), std::max<Clock::duration>(until - Clock::now(), std::chrono::milliseconds(1)));
    if (ec == errc::timeout || ec == errc::cancelled) continue;  // ping / pong deadline, or pause / stop
    if (ec == asio::error::eof) {
      ++stats_.peer_closes;
      ++stats_.io_errors;
      record_error("{} dropped the WebSocket connection", url_.authority);
      co_return Outcome::ended;
    }
    if (ec) {
      note_io_failure("read", ec);
      co_return Outcome::ended;
    }
    off = 0;
    len = n;
  }
}

}  // namespace bh
