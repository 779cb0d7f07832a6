#!/usr/bin/python3
"""A Telegram Bot API (sendMessage) for examples/token-alerts.toml.

Usage: telegram_fake.py DIR (conventions: tests/support/fakes/fakelib.py).

POST /bot<token>/sendMessage with Content-Type application/json and {"chat_id": ..., "text": ...}
answers 200 {"ok":true,"result":{message_id, from, chat, date, text}} as the Bot API does. Checked
as Telegram checks them, answered with Telegram's error bodies {"ok":false,"error_code":N,
"description":...}: the token (401 Unauthorized), the method (404 Not Found), the content type,
chat_id (400 chat not found), text present and at most 4096 characters (400 message is too long).

control.json:
  {"token": "123456:ABC...", "chat_id": "-1001234567890",
   "rate_limit_at": [1], "retry_after": 1}
The requests whose 0-based number is in rate_limit_at are answered 429 {"ok":false,
"error_code":429,"description":"Too Many Requests: retry after N","parameters":{"retry_after":N}}
(no Retry-After header, as Telegram). Until N seconds have passed every request gets a 429 again
(with the seconds left) and is logged with "early": true.

requests.log: {"t", "method", "path", "content_type", "status", "chat_id", "text", "error"?, "early"?}
"""
import math
import time

import fakelib


def fail(code, description, **extra):
    body = {"ok": False, "error_code": code, "description": description}
    body.update(extra)
    return body


class Telegram(fakelib.ScriptedApi):
    def decide(self, method, control, state, now, entry):
        parts = self.path.split("?")[0].split("/")  # ['', 'bot<token>', 'sendMessage']
        token = control.get("token", "")
        if len(parts) != 3 or not parts[1].startswith("bot"):
            self.body()
            entry["error"] = "path"
            return 404, fail(404, "Not Found"), []
        if parts[1][3:] != token:
            self.body()
            entry["error"] = "token"
            return 401, fail(401, "Unauthorized"), []
        if parts[2] != "sendMessage":
            self.body()
            entry["error"] = "method " + parts[2]
            return 404, fail(404, "Not Found: method not found"), []
        if method != "POST":
            entry["error"] = "not POST"
            return 400, fail(400, "Bad Request: message text is empty"), []
        obj, why, _ = fakelib.json_body(self)
        if obj is None:
            entry["error"] = why
            return 400, fail(400, "Bad Request: message text is empty"), []
        entry["chat_id"] = obj.get("chat_id")
        entry["text"] = obj.get("text")
        limit = state.setdefault("limit", fakelib.RateLimit())
        left = limit.remaining(now)
        if left > 0:
            entry["early"] = True
            n = max(1, math.ceil(left))
            return 429, fail(429, "Too Many Requests: retry after %d" % n, parameters={"retry_after": n}), []
        if "chat_id" not in obj:
            entry["error"] = "chat_id missing"
            return 400, fail(400, "Bad Request: chat_id is empty"), []
        if str(obj["chat_id"]) != str(control.get("chat_id")):
            entry["error"] = "chat_id"
            return 400, fail(400, "Bad Request: chat not found"), []
        text = obj.get("text")
        if not isinstance(text, str) or not text.strip():
            entry["error"] = "text empty"
            return 400, fail(400, "Bad Request: message text is empty"), []
        if len(text) > 4096:
            entry["error"] = "text longer than 4096"
            return 400, fail(400, "Bad Request: message is too long"), []
        n = state.get("n", 0)
        state["n"] = n + 1
        if n in control.get("rate_limit_at", []):
            secs = int(control.get("retry_after", 1))
            limit.trip(now, secs)
            return 429, fail(429, "Too Many Requests: retry after %d" % secs, parameters={"retry_after": secs}), []
        bot_id = int(token.split(":")[0]) if token.split(":")[0].isdigit() else 1
        return 200, {"ok": True, "result": {
            "message_id": 1000 + n,
            "from": {"id": bot_id, "is_bot": True, "first_name": "bulkhead test", "username": "bulkhead_test_bot"},
            "chat": {"id": obj["chat_id"], "title": "Alerts", "type": "supergroup"},
            "date": int(time.time()),
            "text": text}}, []


if __name__ == "__main__":
    fakelib.serve_http(Telegram)
