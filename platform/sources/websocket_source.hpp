// WebSocketSource (`[[source]] type = "websocket"`): a ws:// or wss:// client (RFC 6455 through
// platform/net/websocket.hpp). On every connect: the opening handshake within connect_timeout,
// then the `subscribe` message if set. Each text message is one event (a JSON object as is,
// other text wrapped like a non-JSON poll body); binary messages are counted and dropped. A ping
// goes out every ping_interval and a pong must come back within pong_timeout, else the connection
// is dropped and made again. A protocol violation (masked frame, bad opcode, bad UTF-8, message
// over max_event_bytes, ...) closes with the RFC's code (1002, 1007, 1009) and is counted. Pause and shutdown close with a close handshake (1000 /
// 1001). A close frame from the server is answered and then acted on by `close_codes`
// (platform/sources/close_codes.hpp): stop (no reconnect until resumed), reconnect at once
// (bounded), or the backoff; other drops reconnect after the backoff (backoff_base..backoff_cap).
// Replies (`[[source.reply]]`): a text message that is a JSON object matching a reply's `when`
// (platform/shape/filter.hpp) gets that reply's `send` (a text template, platform/shape/
// template.hpp) sent back, every matching reply in order, framed into the connection's idle
// handshake buffer and written with one deadline (read_timeout) before the next frame is read; the
// message is then a protocol message (Pusher's connection_established, ping, subscription_
// succeeded): counted, not stored. A reply that cannot be rendered (missing field, text over
// 1 KiB, frames over 2 KiB) is counted and logged; the message still counts as protocol.
// Reactor thread only.
#pragma once
#include <array>
#include <vector>

#include "platform/shape/filter.hpp"
#include "platform/shape/template.hpp"
#include "platform/sources/close_codes.hpp"
#include "platform/sources/source.hpp"

namespace bh {

// One `[[source.reply]]`: compiled at start-up.
struct SourceReply {
  Filter when;
  Template send;  // TemplateKind::text; empty: nothing is sent, the message is only kept out
  bool sends = false;
};

// What only a WebSocket source has, compiled at start-up (allocated then, read-only after).
struct WebSocketOptions {
  std::array<CloseRule, kMaxCloseRules> close_rules{};
  std::size_t close_rule_count = 0;  // 0: the defaults (kDefaultCloseRules)
  std::vector<SourceReply> replies;  // checked in order (the config allows 8)
};

class WebSocketSource final : public Source {
 public:
  WebSocketSource(TaskPoolBase& tasks, Committer& committer, JsonCheck& json, SourceConnPool& conns,
                  SourceOptions opts, WebSocketOptions ws = {}) noexcept
      : Source(tasks, committer, json, conns, std::move(opts)), ws_(std::move(ws)) {}

  // One rendered reply; the frames of every reply to one message go in SourceConn::head (free
  // once the handshake is done), at most SourceConn::kHeadBytes in all.
  static constexpr std::size_t kReplyBytes = 1024;

  const WebSocketOptions& ws_options() const noexcept { return ws_; }

 private:
  Task<Outcome> session(SourceConn& c) override;
  // The stream ended after it was up: reconnect after the backoff, not after an interval.
  Clock::duration after_ok() const noexcept override { return Clock::duration::zero(); }
  Task<std::error_code> send_frame(SourceConn& c, ws::Opcode op, std::string_view payload);
  Task<std::error_code> send_close(SourceConn& c, std::uint16_t code, std::string_view reason);
  // Sends our close and waits (bounded) for the server's, discarding anything before it.
  Task<void> close_handshake(SourceConn& c, std::uint16_t code, std::string_view reason);
  // The server closed with `code` after a session of `up` that began with `streak` quick
  // reconnects behind it: counts it and says what the connection loop does next.
  Outcome on_close_code(std::uint16_t code, Clock::duration up, std::uint32_t streak) noexcept;

  // Replies for one text message: renders the frames of every reply whose `when` matches into
  // c.head (no await: the parsed message lives in the shared validator). Returns the bytes to
  // send; `matched` says whether the message is a protocol message (not stored).
  std::size_t render_replies(SourceConn& c, std::string_view message, bool& matched) noexcept;

  WebSocketOptions ws_;
  std::uint32_t quick_streak_ = 0;  // immediate reconnects in a row after short sessions
  char reply_text_[kReplyBytes];    // one rendered reply
};

}  // namespace bh
