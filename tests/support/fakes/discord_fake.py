#!/usr/bin/python3
"""A Discord webhook (Execute Webhook) for examples/stream-notify.toml.

Usage: discord_fake.py DIR (conventions: tests/support/fakes/fakelib.py).

POST /api/webhooks/<id>/<token> with Content-Type application/json and {"content": ...} answers
204 No Content (200 with the message object when ?wait=true), with X-RateLimit-* headers, as
Discord does. Checked as Discord checks them, answered with Discord's error bodies: the webhook id
(404 Unknown Webhook, code 10015), the token (401 Invalid Webhook Token, 50027), the method (405),
the content type and JSON (400, 50109 "The request body contains invalid JSON"), an empty message
(400, 50006) and content longer than 2000 characters (400 Invalid Form Body, 50035).

control.json:
  {"id": "1234567890", "token": "abcDEF...", "rate_limit_at": [1], "retry_after": 0.5,
   "retry_after_header": true}
The requests whose 0-based number is in rate_limit_at are answered 429 with the body
{"message":"You are being rate limited.","retry_after":0.5,"global":false} and (unless
retry_after_header is false) a Retry-After header in whole seconds, rounded up. Until retry_after
seconds have passed every request gets a 429 again and is logged with "early": true.

requests.log: {"t", "method", "path", "content_type", "status", "content", "error"?, "early"?}
"""
import math
import time
import urllib.parse

import fakelib


def err(message, code, **extra):
    body = {"message": message, "code": code}
    body.update(extra)
    return body


class Discord(fakelib.ScriptedApi):
    def bucket_headers(self, state, remaining, reset_after):
        return [("X-RateLimit-Bucket", "f0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5"), ("X-RateLimit-Limit", "5"),
                ("X-RateLimit-Remaining", str(remaining)), ("X-RateLimit-Reset", "%.3f" % (time.time() + reset_after)),
                ("X-RateLimit-Reset-After", "%.3f" % reset_after)]

    def decide(self, method, control, state, now, entry):
        url = urllib.parse.urlsplit(self.path)
        parts = url.path.split("/")  # ['', 'api', 'webhooks', id, token]
        if len(parts) != 5 or parts[1] != "api" or parts[2] != "webhooks":
            self.body()
            entry["error"] = "path"
            return 404, err("404: Not Found", 0), []
        if parts[3] != str(control.get("id")):
            self.body()
            entry["error"] = "webhook id"
            return 404, err("Unknown Webhook", 10015), []
        if parts[4] != control.get("token"):
            self.body()
            entry["error"] = "webhook token"
            return 401, err("Invalid Webhook Token", 50027), []
        if method != "POST":
            self.body()
            entry["error"] = "not POST"
            return 405, err("405: Method Not Allowed", 0), []
        obj, why, _ = fakelib.json_body(self)
        if obj is None:
            entry["error"] = why
            return 400, err("The request body contains invalid JSON.", 50109), []
        entry["content"] = obj.get("content")
        limit = state.setdefault("limit", fakelib.RateLimit())
        left = limit.remaining(now)
        if left > 0:
            entry["early"] = True
            return 429, {"message": "You are being rate limited.", "retry_after": round(left, 3), "global": False}, \
                [("Retry-After", str(max(1, math.ceil(left)))), ("X-RateLimit-Scope", "user")] + \
                self.bucket_headers(state, 0, left)
        content = obj.get("content")
        if not isinstance(content, str) or not content.strip():
            if not obj.get("embeds"):
                entry["error"] = "empty message"
                return 400, err("Cannot send an empty message", 50006), []
        elif len(content) > 2000:
            entry["error"] = "content longer than 2000"
            return 400, err("Invalid Form Body", 50035, errors={"content": {"_errors": [
                {"code": "BASE_TYPE_MAX_LENGTH", "message": "Must be 2000 or fewer in length."}]}}), []
        n = state.get("n", 0)
        state["n"] = n + 1
        if n in control.get("rate_limit_at", []):
            secs = float(control.get("retry_after", 0.5))
            limit.trip(now, secs)
            headers = [("X-RateLimit-Scope", "user")] + self.bucket_headers(state, 0, secs)
            if control.get("retry_after_header", True):
                headers.append(("Retry-After", str(max(1, math.ceil(secs)))))
            return 429, {"message": "You are being rate limited.", "retry_after": secs, "global": False}, headers
        headers = self.bucket_headers(state, 4, 2.0)
        if urllib.parse.parse_qs(url.query).get("wait") == ["true"]:
            return 200, {"id": str(1_100_000_000_000_000_000 + n), "type": 0, "content": content,
                         "channel_id": "1000000000000000001", "webhook_id": str(control.get("id"))}, headers
        return 204, b"", headers


if __name__ == "__main__":
    fakelib.serve_http(Discord)
