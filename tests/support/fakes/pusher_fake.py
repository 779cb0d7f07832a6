#!/usr/bin/python3
"""A Pusher Channels protocol 7 WebSocket server (what Kick speaks) for examples/stream-notify.toml,
on Debian's python3-websockets (10.x legacy server API).

Usage: pusher_fake.py DIR (conventions: tests/support/fakes/fakelib.py).

ws://127.0.0.1:PORT/app/<key>?protocol=7&client=js&version=8.4.0&flash=false
  - a wrong key gets pusher:error 4001 and a close with 4001; no or another protocol version gets
    4008 / 4007 (Pusher's codes; 4000-4099 mean "do not reconnect");
  - on connect the server sends {"event":"pusher:connection_established","data":"{\\"socket_id\\":
    \\"N.M\\",\\"activity_timeout\\":120}"} (data is JSON text in a string, as Pusher sends it);
  - {"event":"pusher:subscribe","data":{"channel":C}} is answered {"event":
    "pusher_internal:subscription_succeeded","channel":C,"data":"{}"}; channel events are only
    sent to a subscribed connection (otherwise logged as "not_subscribed" and skipped);
  - a client's {"event":"pusher:ping"} gets {"event":"pusher:pong","data":"{}"}.

control.json:
  {"key": "app-key", "channel": "channel.4242",
   "connections": [[action, ...], [action, ...], ...]}
connections[i] scripts the (i+1)-th connection since the fake started (the last one repeats; the
count does not start over when the control file changes). Each runs once the connection is
subscribed (or after 2 s without a subscribe) and the connection then stays open. Actions:
  {"live": {"id": 1, "title": "..."}}   App\\Events\\StreamerIsLive with data = JSON text of
                                        {"livestream":{"id","channel_id","session_title","source",
                                        "created_at"}}
  {"event": NAME, "data": {...}}        any other channel event (data sent as JSON text)
  {"ping": SECONDS}                     pusher:ping; without a pusher:pong within SECONDS the server
                                        closes with 4201 "Pong reply not received"
  {"close": CODE, "reason": "..."}      close with that code (4100-4199: reconnect after a backoff,
                                        4200-4299: reconnect at once)
  {"wait": SECONDS}
  {"until": FILE}                       wait until DIR/FILE exists (the test says "go on")

requests.log: {"t", "event": connect|recv|sent|subscribed|pong|pong_timeout|not_subscribed|closed|
error, "conn", ...}; connect has "path", recv/sent "data", closed "code" and "by" (server|client).
"""
import asyncio
import json
import os
import signal
import sys
import urllib.parse

import websockets

import fakelib

FAKE = fakelib.Scratch(sys.argv[1])
CONNS = 0
LIVE_EVENT = "App\\Events\\StreamerIsLive"


def control():
    with FAKE.lock:
        c, _ = FAKE.reload()
        return c


class Conn:
    def __init__(self, ws, n, channel):
        self.ws, self.n, self.channel = ws, n, channel
        self.subscribed = asyncio.Event()
        self.pong = asyncio.Event()
        self.closed_by_server = False

    async def send(self, msg):
        text = json.dumps(msg)
        FAKE.log(event="sent", conn=self.n, data=text)
        await self.ws.send(text)

    async def close(self, code, reason):
        self.closed_by_server = True
        FAKE.log(event="closing", conn=self.n, code=code, reason=reason)
        await self.ws.close(code, reason)

    async def channel_event(self, name, data):
        if not self.subscribed.is_set():
            FAKE.log(event="not_subscribed", conn=self.n, name=name)
            return
        await self.send({"event": name, "channel": self.channel, "data": json.dumps(data)})

    async def reader(self):
        async for raw in self.ws:
            FAKE.log(event="recv", conn=self.n, data=raw if isinstance(raw, str) else "<binary>")
            try:
                msg = json.loads(raw)
            except (ValueError, TypeError):
                FAKE.log(event="error", conn=self.n, error="not JSON")
                continue
            name = msg.get("event") if isinstance(msg, dict) else None
            data = msg.get("data") if isinstance(msg, dict) else None
            if name == "pusher:subscribe":
                chan = data.get("channel") if isinstance(data, dict) else None
                if chan != self.channel:
                    FAKE.log(event="error", conn=self.n, error="subscribe to %r" % chan)
                    continue
                await self.send({"event": "pusher_internal:subscription_succeeded", "channel": chan, "data": "{}"})
                FAKE.log(event="subscribed", conn=self.n, channel=chan)
                self.subscribed.set()
            elif name == "pusher:ping":
                await self.send({"event": "pusher:pong", "data": "{}"})
            elif name == "pusher:pong":
                FAKE.log(event="pong", conn=self.n)
                self.pong.set()
            else:
                FAKE.log(event="error", conn=self.n, error="unexpected client event %r" % name)

    async def script(self, actions):
        try:
            await asyncio.wait_for(self.subscribed.wait(), timeout=2)
        except asyncio.TimeoutError:
            FAKE.log(event="error", conn=self.n, error="no subscribe within 2 s")
        for act in actions:
            if "live" in act:
                ls = act["live"]
                await self.channel_event(LIVE_EVENT, {"livestream": {
                    "id": ls["id"], "channel_id": 4242, "session_title": ls.get("title", "Live"),
                    "source": None, "created_at": ls.get("created_at", "2026-12-04T20:00:00.000000Z")}})
            elif "event" in act:
                await self.channel_event(act["event"], act.get("data", {}))
            elif "ping" in act:
                self.pong.clear()
                await self.send({"event": "pusher:ping", "data": {}})
                try:
                    await asyncio.wait_for(self.pong.wait(), timeout=float(act["ping"]))
                except asyncio.TimeoutError:
                    FAKE.log(event="pong_timeout", conn=self.n)
                    await self.close(4201, "Pong reply not received")
                    return
            elif "close" in act:
                await self.close(int(act["close"]), act.get("reason", "scripted close"))
                return
            elif "wait" in act:
                await asyncio.sleep(float(act["wait"]))
            elif "until" in act:
                while not os.path.exists(FAKE.file(act["until"])):
                    await asyncio.sleep(0.02)


async def handler(ws, path=None):
    global CONNS
    CONNS += 1
    n = CONNS
    path = path or ws.path
    FAKE.log(event="connect", conn=n, path=path)
    c = control()
    conn = Conn(ws, n, c.get("channel", ""))
    url = urllib.parse.urlsplit(path)
    query = urllib.parse.parse_qs(url.query)
    try:
        refuse = None
        if url.path != "/app/" + c.get("key", ""):
            refuse = (4001, "Could not find app by key " + url.path.rsplit("/", 1)[-1])
        elif "protocol" not in query:
            refuse = (4008, "No protocol version supplied")
        elif query["protocol"][0] not in ("5", "6", "7"):
            refuse = (4007, "Unsupported protocol version")
        if refuse:
            await conn.send({"event": "pusher:error", "data": {"message": refuse[1], "code": refuse[0]}})
            await conn.close(*refuse)
            return
        await conn.send({"event": "pusher:connection_established",
                         "data": json.dumps({"socket_id": "%d.%d" % (131000 + n, 7000 + n), "activity_timeout": 120})})
        scripts = c.get("connections") or [[]]
        actions = scripts[min(n, len(scripts)) - 1]
        script = asyncio.ensure_future(conn.script(actions))
        try:
            await conn.reader()  # until the connection closes, from either side
        finally:
            script.cancel()
            await asyncio.gather(script, return_exceptions=True)
    except websockets.ConnectionClosed:
        pass
    finally:
        FAKE.log(event="closed", conn=n, code=ws.close_code, by="server" if conn.closed_by_server else "client")


async def main():
    stop = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set_result, None)
    # No library-level keepalive: Pusher's keepalive is the pusher:ping / pusher:pong exchange
    # (the library still answers the client's WebSocket pings).
    async with websockets.serve(handler, "127.0.0.1", 0, ping_interval=None, close_timeout=1) as srv:
        FAKE.publish_port(srv.sockets[0].getsockname()[1])
        await stop


if __name__ == "__main__":
    asyncio.run(main())
