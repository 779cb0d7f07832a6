#!/usr/bin/python3
"""A scriptable WebSocket server (Debian's python3-websockets 10.4) for the websocket source tests
(tests/integration/source_test.cpp).

Usage: ws_peer.py DIR [CERT KEY]. With CERT and KEY it serves wss://. Listens on 127.0.0.1, a free port written to DIR/port. It pings the client
every 0.3 s (so the client's pong answers are exercised). Each connection reads DIR/mode (one line),
logs what happens as JSON lines to DIR/events.log (connect, recv, dropped, closed with its code),
waits up to 0.3 s for a first (subscribe) message, then per mode:
  messages N   sends N JSON text messages {"n":i,"conn":c}, then a non-JSON text, a binary and a
               fragmented JSON message; then stays open
  drop N       sends N messages, then drops the TCP connection without a close
  nopong N     sends N messages and never answers the client's pings
  violation    first connection only: sends a masked frame (servers must not mask); later ones
               just stay open
  idle         sends nothing
  interim N    as `messages N`, but the handshake answer is preceded by 100 Continue and 103 Early
               Hints (interim answers a client must skip, RFC 9110 15.2)
"""
import asyncio
import json
import os
import ssl
import sys

import websockets
from websockets.legacy.server import WebSocketServerProtocol

DIR = sys.argv[1]
COUNT = 0


def mode():
    try:
        with open(os.path.join(DIR, "mode")) as f:
            return f.read().split()
    except OSError:
        return ["idle"]


def log(**kw):
    with open(os.path.join(DIR, "events.log"), "a") as f:
        f.write(json.dumps(kw) + "\n")


class Proto(WebSocketServerProtocol):
    no_pong = False

    def write_http_response(self, status, headers, body=None):
        if mode()[0] == "interim":
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n")
        super().write_http_response(status, headers, body)

    async def pong(self, data=b""):
        if self.no_pong:
            return
        await super().pong(data)


async def handler(ws, path=None):
    global COUNT
    COUNT += 1
    conn = COUNT
    m = mode()
    log(event="connect", conn=conn, path=ws.path)
    ws.no_pong = m[0] == "nopong"
    try:
        try:
            first = await asyncio.wait_for(ws.recv(), timeout=0.3)
            log(event="recv", conn=conn, data=first if isinstance(first, str) else "<binary>")
        except asyncio.TimeoutError:
            pass
        n = int(m[1]) if len(m) > 1 else 0
        if m[0] in ("messages", "drop", "nopong", "interim"):
            for i in range(n):
                await ws.send(json.dumps({"n": i, "conn": conn}))
        if m[0] == "messages":
            await ws.send("plain text, not JSON")
            await ws.send(b"\x00\x01binary")
            await ws.send(iter(['{"frag', 'mented":', 'true}']))
        if m[0] == "drop":
            await asyncio.sleep(0.1)
            ws.transport.abort()
            log(event="dropped", conn=conn)
            return
        if m[0] == "violation" and conn == 1:
            key = b"\x01\x02\x03\x04"
            payload = bytes(b ^ key[i % 4] for i, b in enumerate(b"hello"))
            ws.transport.write(b"\x81\x85" + key + payload)
        async for msg in ws:
            log(event="recv", conn=conn, data=msg if isinstance(msg, str) else "<binary>")
    except websockets.ConnectionClosed:
        pass
    finally:
        log(event="closed", conn=conn, code=ws.close_code)


async def main():
    ctx = None
    if len(sys.argv) > 3:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(sys.argv[2], sys.argv[3])
    async with websockets.serve(handler, "127.0.0.1", 0, create_protocol=Proto, ping_interval=0.3,
                                ping_timeout=2, close_timeout=1, ssl=ctx) as srv:
        port = srv.sockets[0].getsockname()[1]
        tmp = os.path.join(DIR, "port.tmp")
        with open(tmp, "w") as f:
            f.write(str(port))
        os.rename(tmp, os.path.join(DIR, "port"))
        await asyncio.Future()


if __name__ == "__main__":
    asyncio.run(main())
