// WebSocketSource (`[[source]] type = "websocket"`): a ws:// or wss:// client (RFC 6455 through
// platform/net/websocket.hpp). On every connect: the opening handshake within connect_timeout,
// then the `subscribe` message if set. Each text message is one event (a JSON object as is,
// other text wrapped like a non-JSON poll body); binary messages are counted and dropped. A ping
// goes out every ping_interval and a pong must come back within pong_timeout, else the connection
// is dropped and made again. A close from the server is answered; a protocol violation (masked
// frame, bad opcode, bad UTF-8, message over max_event_bytes, ...) closes with the RFC's code
// (1002, 1007, 1009) and is counted. Pause and shutdown close with a close handshake (1000 /
// 1001). Reconnects follow the backoff (backoff_base..backoff_cap). Reactor thread only.
#pragma once
#include "platform/sources/source.hpp"

namespace bh {

class WebSocketSource final : public Source {
 public:
  using Source::Source;

 private:
  Task<Outcome> session(SourceConn& c) override;
  // The stream ended after it was up: reconnect after the backoff, not after an interval.
  Clock::duration after_ok() const noexcept override { return Clock::duration::zero(); }
  Task<std::error_code> send_frame(SourceConn& c, ws::Opcode op, std::string_view payload);
  Task<std::error_code> send_close(SourceConn& c, std::uint16_t code, std::string_view reason);
  // Sends our close and waits (bounded) for the server's, discarding anything before it.
  Task<void> close_handshake(SourceConn& c, std::uint16_t code, std::string_view reason);
};

}  // namespace bh
