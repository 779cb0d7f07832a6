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
  pusher MS [CODE...]
               speaks the Pusher protocol (protocol 7, as Kick uses it): sends
               pusher:connection_established (data as a JSON string), waits for pusher:subscribe
               and answers pusher_internal:subscription_succeeded, sends one live event
               {"event":"App\\Events\\StreamerIsLive","channel":..,"data":"<JSON as a string>"},
               then sends pusher:ping and closes with 4201 unless pusher:pong comes back within
               MS milliseconds. Connection i then closes with the i-th CODE (e.g. 4100, 4200,
               4001) or, past the list, stays open (pinging every MS * 2). Log lines carry `t`
               (seconds, monotonic); pongs are logged as event "pong" with their delay.
"""
import asyncio
import json
import os
import ssl
import sys
import time

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


async def pusher_pong(ws, conn, deadline):
    """Sends pusher:ping; True if pusher:pong came back within `deadline` s (else closes 4201)."""
    sent = time.monotonic()
    await ws.send(json.dumps({"event": "pusher:ping", "data": {}}))
    while True:
        left = sent + deadline - time.monotonic()
        try:
            msg = await asyncio.wait_for(ws.recv(), timeout=max(left, 0))
        except asyncio.TimeoutError:
            log(event="pong_late", conn=conn, t=time.monotonic())
            await ws.close(4201, "Pong reply not received in time")
            return False
        log(event="recv", conn=conn, data=msg if isinstance(msg, str) else "<binary>", t=time.monotonic())
        if isinstance(msg, str) and json.loads(msg).get("event") == "pusher:pong":
            log(event="pong", conn=conn, delay=time.monotonic() - sent, t=time.monotonic())
            return True


async def pusher(ws, conn, m):
    deadline = int(m[1]) / 1000.0
    codes = [int(c) for c in m[2:]]
    await ws.send(json.dumps({"event": "pusher:connection_established",
                              "data": json.dumps({"socket_id": "%d.%d" % (conn, conn), "activity_timeout": 120})}))
    channel = None
    try:
        while channel is None:
            msg = await asyncio.wait_for(ws.recv(), timeout=2)
            log(event="recv", conn=conn, data=msg if isinstance(msg, str) else "<binary>", t=time.monotonic())
            obj = json.loads(msg) if isinstance(msg, str) else {}
            if obj.get("event") == "pusher:subscribe":
                channel = obj["data"]["channel"]
    except (asyncio.TimeoutError, ValueError, KeyError, TypeError):
        await ws.close(4009, "Connection is unauthorized")  # no subscribe: Pusher's 4000-range close
        return
    await ws.send(json.dumps({"event": "pusher_internal:subscription_succeeded", "channel": channel, "data": "{}"}))
    await ws.send(json.dumps({"event": "App\\Events\\StreamerIsLive", "channel": channel,
                              "data": json.dumps({"livestream": {"id": conn, "session_title": "live #%d" % conn}})}))
    if not await pusher_pong(ws, conn, deadline):
        return
    if conn <= len(codes):
        log(event="closing", conn=conn, code=codes[conn - 1], t=time.monotonic())
        await ws.close(codes[conn - 1], "scripted close")
        return
    while await pusher_pong(ws, conn, deadline):
        await asyncio.sleep(deadline * 2)


async def handler(ws, path=None):
    global COUNT
    COUNT += 1
    conn = COUNT
    m = mode()
    log(event="connect", conn=conn, path=ws.path, t=time.monotonic())
    if m[0] == "pusher":
        try:
            await pusher(ws, conn, m)
        except websockets.ConnectionClosed:
            pass
        finally:
            log(event="closed", conn=conn, code=ws.close_code, t=time.monotonic())
        return
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
