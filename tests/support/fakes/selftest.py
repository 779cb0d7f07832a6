#!/usr/bin/python3
"""Self-test of the fakes in this folder: each one started as its own process and driven with
urllib / websockets clients the way bulkhead drives it (registered in tests/CMakeLists.txt as
fakes.selftest). It checks that the fakes behave like the services they stand for, so that a
failing jobs test points at bulkhead, not at a fake.

Usage: selftest.py [NAME...] (etherscan telegram discord ics pusher; default all). Exit 0 = pass.
"""
import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))


RUNNING = []  # fakes to kill if a check fails


class Fake:
    def __init__(self, name, control):
        self.dir = tempfile.mkdtemp(prefix="fake-" + name + "-")
        self.set(control)
        self.proc = subprocess.Popen([sys.executable, os.path.join(HERE, name + "_fake.py"), self.dir])
        RUNNING.append(self)
        deadline = time.monotonic() + 10
        while not os.path.exists(os.path.join(self.dir, "port")):
            assert self.proc.poll() is None, name + " exited"
            assert time.monotonic() < deadline, name + " did not publish its port"
            time.sleep(0.02)
        self.port = int(open(os.path.join(self.dir, "port")).read())

    def set(self, control):
        tmp = os.path.join(self.dir, "control.tmp")
        with open(tmp, "w") as f:
            json.dump(control, f)
        os.rename(tmp, os.path.join(self.dir, "control.json"))

    def advance(self, seconds):
        """Moves the fake's clock on (its rate windows) instead of waiting."""
        self.offset = getattr(self, "offset", 0.0) + seconds
        tmp = os.path.join(self.dir, "clock.tmp")
        with open(tmp, "w") as f:
            f.write(repr(self.offset))
        os.rename(tmp, os.path.join(self.dir, "clock"))

    def log(self):
        try:
            with open(os.path.join(self.dir, "requests.log")) as f:
                return [json.loads(line) for line in f]
        except OSError:
            return []

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        assert self.proc.wait(5) == 0, "exit code %s after SIGTERM" % self.proc.returncode
        shutil.rmtree(self.dir)

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)


def http(method, url, body=None, headers=None):
    """(status, headers, body bytes) without raising on 4xx/5xx."""
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def post_json(url, obj, ctype="application/json"):
    status, headers, body = http("POST", url, json.dumps(obj).encode(), {"Content-Type": ctype})
    return status, headers, (json.loads(body) if body else None)


W = "0x5A0b54D5dc17e0AadC383d2db43B0a0D3E029c4c"
C = "0xdAC17F958D2ee523a2206206994597C13D831ec7"


def etherscan():
    ctl = {"expect": {"apikey": "KEY", "contractaddress": C, "address": W},
           "transfers": [{"hash": "0x%064x" % i, "from": "0x" + "a" * 40, "to": W, "value": str(i * 10**9)}
                         for i in range(1, 6)],
           "steps": [2, "ratelimit", 4, "empty", 5]}
    f = Fake("etherscan", ctl)
    q = "/api?module=account&action=tokentx&contractaddress=%s&address=%s&page=1&offset=100&sort=desc&apikey=KEY"
    get = lambda path: json.loads(http("GET", f.url(path))[2])
    r = get(q % (C, W.lower()))
    assert r["status"] == "1" and [t["hash"] for t in r["result"]] == ["0x%064x" % 2, "0x%064x" % 1], r
    t = r["result"][0]
    assert t["to"] == W.lower() and t["value"] == "2000000000" and t["tokenDecimal"] == "6", t
    assert all(isinstance(v, str) for v in t.values()), t
    assert get(q % (C, W)) == {"status": "0", "message": "NOTOK", "result": "Max rate limit reached"}
    assert len(get(q % (C, W))["result"]) == 4
    assert get(q % (C, W)) == {"status": "0", "message": "No transactions found", "result": []}
    assert len(get(q % (C, W))["result"]) == 5
    assert len(get(q % (C, W))["result"]) == 5, "the last step repeats"
    assert len(get((q % (C, W)).replace("offset=100", "offset=3"))["result"]) == 3, "offset caps the page"
    bad = get((q % (C, W)).replace("apikey=KEY", "apikey=NOPE"))
    assert bad["status"] == "0" and bad["result"].startswith("Invalid API Key"), bad
    assert get((q % (C, W)).replace("action=tokentx", "action=txlist"))["message"] == "NOTOK"
    assert get((q % (C, W)).replace("sort=desc", "sort=asc"))["message"] == "NOTOK"
    assert get("/v2/api?chainid=1&" + (q % (C, W)).split("?", 1)[1])["status"] == "1"
    f.set(dict(ctl, steps=[1]))  # a new script starts over
    assert len(get(q % (C, W))["result"]) == 1
    log = f.log()
    assert [e.get("step") for e in log[:5]] == [2, "ratelimit", 4, "empty", 5], log
    assert sum(1 for e in log if "error" in e) == 3, log
    f.stop()


def telegram():
    f = Fake("telegram", {"token": "123456:ABC-def", "chat_id": "-1001234567890", "rate_limit_at": [1],
                          "retry_after": 1})
    url = f.url("/bot123456:ABC-def/sendMessage")
    s, _, r = post_json(url, {"chat_id": "-1001234567890", "text": "first"})
    assert s == 200 and r["ok"] is True and r["result"]["text"] == "first", r
    s, h, r = post_json(url, {"chat_id": -1001234567890, "text": "second"})
    assert s == 429 and r == {"ok": False, "error_code": 429, "description": "Too Many Requests: retry after 1",
                              "parameters": {"retry_after": 1}}, r
    assert h.get("Retry-After") is None
    s, _, r = post_json(url, {"chat_id": "-1001234567890", "text": "second"})
    assert s == 429 and r["parameters"]["retry_after"] == 1, "early retry refused again"
    f.advance(1.05)
    s, _, r = post_json(url, {"chat_id": "-1001234567890", "text": "second"})
    assert s == 200, r
    s, _, r = post_json(url, {"chat_id": "-1001234567890", "text": "x" * 4097})
    assert s == 400 and r["description"] == "Bad Request: message is too long", r
    s, _, r = post_json(url, {"chat_id": "-1001234567890", "text": "é" * 4096})
    assert s == 200, "4096 characters (not bytes) are fine"
    s, _, r = post_json(url, {"chat_id": "42", "text": "t"})
    assert s == 400 and r["description"] == "Bad Request: chat not found", r
    s, _, r = post_json(url, {"chat_id": "-1001234567890"})
    assert s == 400 and r["description"] == "Bad Request: message text is empty", r
    s, _, r = post_json(f.url("/bot123456:WRONG/sendMessage"), {"chat_id": "-1001234567890", "text": "t"})
    assert s == 401 and r["description"] == "Unauthorized", r
    s, _, r = post_json(f.url("/bot123456:ABC-def/sendPhoto"), {"chat_id": "-1001234567890", "text": "t"})
    assert s == 404, r
    s, _, r = post_json(url, {"chat_id": "-1001234567890", "text": "t"}, "application/x-www-form-urlencoded")
    assert s == 400, r
    log = f.log()
    assert [e["status"] for e in log] == [200, 429, 429, 200, 400, 200, 400, 400, 401, 404, 400], log
    assert log[2].get("early") is True and log[3]["t"] - log[1]["t"] >= 1.0, log
    f.stop()


def discord():
    f = Fake("discord", {"id": "1234567890", "token": "tok-EN_1", "rate_limit_at": [1], "retry_after": 0.5})
    url = f.url("/api/webhooks/1234567890/tok-EN_1")
    s, h, r = post_json(url, {"content": "one"})
    assert s == 204 and r is None and h["X-RateLimit-Limit"] == "5", (s, r)
    s, h, r = post_json(url, {"content": "two"})
    assert s == 429 and r == {"message": "You are being rate limited.", "retry_after": 0.5, "global": False}, r
    assert h["Retry-After"] == "1", dict(h)
    s, h, r = post_json(url, {"content": "two"})
    assert s == 429 and 0 < r["retry_after"] <= 0.5, r
    f.advance(0.55)
    s, _, _ = post_json(url, {"content": "two"})
    assert s == 204
    s, _, r = post_json(url + "?wait=true", {"content": "three"})
    assert s == 200 and r["content"] == "three", r
    s, _, r = post_json(url, {"content": "y" * 2001})
    assert s == 400 and r["code"] == 50035, r
    s, _, r = post_json(url, {"content": "ü" * 2000})
    assert s == 204, "2000 characters are fine"
    s, _, r = post_json(url, {"content": ""})
    assert s == 400 and r["code"] == 50006, r
    s, _, r = post_json(f.url("/api/webhooks/1234567890/bad"), {"content": "x"})
    assert s == 401 and r["code"] == 50027, r
    s, _, r = post_json(f.url("/api/webhooks/999/tok-EN_1"), {"content": "x"})
    assert s == 404 and r["code"] == 10015, r
    s, _, r = post_json(url, {"content": "x"}, "text/plain")
    assert s == 400 and r["code"] == 50109, r
    f.set({"id": "1234567890", "token": "tok-EN_1", "rate_limit_at": [0], "retry_after": 0.25,
           "retry_after_header": False})
    s, h, r = post_json(url, {"content": "body only"})
    assert s == 429 and h.get("Retry-After") is None and r["retry_after"] == 0.25, (s, dict(h), r)
    log = f.log()
    assert [e["status"] for e in log] == [204, 429, 429, 204, 200, 400, 204, 400, 401, 404, 400, 429], log
    assert log[3]["t"] - log[1]["t"] >= 0.5 and log[2]["early"], log
    f.stop()


def ics():
    f = Fake("ics", {"calendar": "v1"})
    s, h, body = http("GET", f.url("/team.ics"))
    assert s == 200 and h["Content-Type"] == "text/calendar; charset=utf-8", (s, dict(h))
    text = body.decode()
    assert text.endswith("END:VCALENDAR\r\n") and "\n" not in text.replace("\r\n", ""), "CRLF lines"
    assert all(len(line.encode()) <= 75 for line in text.split("\r\n")), "folded at 75 octets"
    unfolded = text.replace("\r\n ", "").replace("\r\n\t", "")
    assert "SUMMARY:Quarterly review of the board support package\\, the watchdog\\, the store and the " \
           "delivery pipeline for the field units\r\n" in unfolded, unfolded
    assert "\r\n\t" in text and "\r\n " in text, "space and TAB continuations"
    assert unfolded.count("BEGIN:VEVENT") == 3 and "DTSTART;VALUE=DATE:20261224" in unfolded
    assert "DTSTART;TZID=Europe/Berlin:20261207T093000" in unfolded
    etag, lm = h["ETag"], h["Last-Modified"]
    s, h, body = http("GET", f.url("/team.ics"), headers={"If-None-Match": etag})
    assert s == 304 and body == b"" and h["ETag"] == etag, s
    s, _, _ = http("GET", f.url("/team.ics"), headers={"If-Modified-Since": lm})
    assert s == 304
    f.set({"calendar": "v2"})
    s, h, body = http("GET", f.url("/team.ics"), headers={"If-None-Match": etag})
    unfolded2 = body.decode().replace("\r\n ", "").replace("\r\n\t", "")
    assert s == 200 and h["ETag"] != etag and unfolded2.count("BEGIN:VEVENT") == 4
    assert "SUMMARY:Daily stand-up (moved)" in unfolded2 and "SUMMARY:Retro — Café Müller" in unfolded2
    f.set({"calendar": "v3"})
    s, h3, body3 = http("GET", f.url("/team.ics"), headers={"If-None-Match": h["ETag"]})
    assert s == 200 and body3 != body and body3.decode().replace("20261204T080000Z", "20261201T080000Z") == body.decode()
    f.set({"calendar": "status 503"})
    assert http("GET", f.url("/team.ics"))[0] == 503
    assert [e["status"] for e in f.log()] == [200, 304, 304, 200, 200, 503]
    f.stop()


def recv(ws):
    return asyncio.wait_for(ws.recv(), 3)


async def closed_with(ws, code):
    """The server closes the connection with `code` (no further message)."""
    import websockets
    try:
        m = await recv(ws)
        raise AssertionError("expected a close with %d, got %r" % (code, m))
    except websockets.ConnectionClosed:
        pass
    assert ws.close_code == code, ws.close_code


async def pusher_session(f):
    import websockets
    base = "ws://127.0.0.1:%d" % f.port
    # conn 1: established, subscribe, live + other event, a ping that is answered, then 4100.
    async with websockets.connect(base + "/app/KEY?protocol=7&client=js&version=8.4.0&flash=false") as ws:
        m = json.loads(await recv(ws))
        assert m["event"] == "pusher:connection_established" and isinstance(m["data"], str), m
        assert json.loads(m["data"])["activity_timeout"] == 120
        await ws.send(json.dumps({"event": "pusher:subscribe", "data": {"auth": "", "channel": "channel.4242"}}))
        m = json.loads(await recv(ws))
        assert m == {"event": "pusher_internal:subscription_succeeded", "channel": "channel.4242", "data": "{}"}, m
        m = json.loads(await recv(ws))
        assert m["event"] == "App\\Events\\StreamerIsLive" and m["channel"] == "channel.4242", m
        assert json.loads(m["data"])["livestream"]["session_title"] == "Hello", m
        m = json.loads(await recv(ws))
        assert m["event"] == "App\\Events\\ChatMessageEvent" and isinstance(m["data"], str), m
        m = json.loads(await recv(ws))
        assert m["event"] == "pusher:ping", m
        await ws.send(json.dumps({"event": "pusher:pong", "data": {}}))
        await ws.send(json.dumps({"event": "pusher:ping", "data": {}}))
        assert json.loads(await recv(ws))["event"] == "pusher:pong"
        await closed_with(ws, 4100)
    # conn 2: a ping nobody answers -> 4201.
    async with websockets.connect(base + "/app/KEY?protocol=7") as ws:
        await recv(ws)
        await ws.send(json.dumps({"event": "pusher:subscribe", "data": {"channel": "channel.4242"}}))
        await recv(ws)
        assert json.loads(await recv(ws))["event"] == "pusher:ping"
        await closed_with(ws, 4201)
    # conn 3: not subscribed -> the channel event is not sent; waits for the test's go file.
    async with websockets.connect(base + "/app/KEY?protocol=7") as ws:
        await recv(ws)
        open(os.path.join(f.dir, "go"), "w").close()
        await closed_with(ws, 4200)
    # Wrong key and missing protocol: Pusher's 4001 / 4008.
    for path, code in (("/app/WRONG?protocol=7", 4001), ("/app/KEY", 4008), ("/app/KEY?protocol=99", 4007)):
        async with websockets.connect(base + path) as ws:
            m = json.loads(await recv(ws))
            assert m["event"] == "pusher:error" and m["data"]["code"] == code, m
            await closed_with(ws, code)


def pusher():
    f = Fake("pusher", {"key": "KEY", "channel": "channel.4242", "connections": [
        [{"live": {"id": 7, "title": "Hello"}}, {"event": "App\\Events\\ChatMessageEvent", "data": {"content": "hi"}},
         {"ping": 2}, {"wait": 0.2}, {"close": 4100, "reason": "Over capacity"}],
        [{"ping": 0.3}],
        [{"until": "go"}, {"live": {"id": 8}}, {"close": 4200}],
        []]})
    asyncio.run(pusher_session(f))
    log = f.log()
    events = [(e["conn"], e["event"]) for e in log]
    assert (1, "pong") in events and (2, "pong_timeout") in events and (3, "not_subscribed") in events, events
    closes = {e["conn"]: (e["code"], e["by"]) for e in log if e["event"] == "closed"}
    assert closes[1] == (4100, "server") and closes[2] == (4201, "server") and closes[4] == (4001, "server"), closes
    f.stop()


def main():
    tests = {"etherscan": etherscan, "telegram": telegram, "discord": discord, "ics": ics, "pusher": pusher}
    try:
        for name in sys.argv[1:] or tests:
            tests[name]()
            print("ok", name, flush=True)
    finally:
        for f in RUNNING:
            if f.proc.poll() is None:
                f.proc.kill()
                f.proc.wait()


if __name__ == "__main__":
    main()
