// WebSocketSource (`[[source]] type = "websocket"`): a ws:// or wss:// client (RFC 6455 through
// platform/net/websocket.hpp). On every connect: the opening handshake within connect_timeout,
// then the `subscribe` message if set. Each text message is one event (a JSON object as is,
// other text wrapped like a non-JSON poll body); binary messages are counted and dropped. A ping
// goes out every ping_interval and a pong must come back within pong_timeout, else the connection
// is dropped and made again. A close from the server is answered; a protocol violation (masked
// frame, bad opcode, bad UTF-8, message over max_event_bytes, ...) closes with the RFC's code
// (1002, 1007, 1009) and is counted. Pause and shutdown close with a close handshake (1000 /
// 1001). A close frame from the server is answered and then acted on by `close_codes`
// (platform/sources/close_codes.hpp): stop (no reconnect until resumed), reconnect at once
// (bounded), or the backoff; other drops reconnect after the backoff (backoff_base..backoff_cap).
// Replies (`[[source.reply]]`): a text message that is a JSON object matching a reply's `when`
// (platform/shape/filter.hpp) gets that reply's `send` (a text template, platform/shape/
// template.hpp) sent back, every matching reply in order, all rendered into one fixed buffer and
// written with one deadline (read_timeout) before the next frame is read; the message is then a
// protocol message (Pusher's connection_established, ping, subscription_succeeded): counted, not
// stored. A reply that cannot be rendered (missing field, over kReplyBytes) is counted and logged;
// the message still counts as protocol. Reactor thread only.
#pragma once
#include <array>
#include <vector>

#include "platform/sources/close_codes.hpp"
#include "platform/sources/source.hpp"

namespace bh {

// What only a WebSocket source has, compiled at start-up (allocated then, read-only after).
struct WebSocketOptions {
  std::array<CloseRule, kMaxCloseRules> close_rules{};
  std::size_t close_rule_count = 0;  // 0: the defaults (kDefaultCloseRules)
};

class WebSocketSource final : public Source {
 public:
  WebSocketSource(TaskPoolBase& tasks, Committer& committer, JsonCheck& json, SourceConnPool& conns,
                  SourceOptions opts, WebSocketOptions ws = {}) noexcept
      : Source(tasks, committer, json, conns, std::move(opts)), ws_(std::move(ws)) {}

  static constexpr std::size_t kMaxReplies = 8;
  static constexpr std::size_t kReplyBytes = 2048;  // all frames sent for one message

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

  WebSocketOptions ws_;
  std::uint32_t quick_streak_ = 0;  // immediate reconnects in a row after short sessions
};

}  // namespace bh
