#!/usr/bin/python3
"""An Etherscan-style account API (the `tokentx` action) for examples/token-alerts.toml.

Usage: etherscan_fake.py DIR (conventions: tests/support/fakes/fakelib.py).

GET /api?module=account&action=tokentx&contractaddress=C&address=A[&page=P&offset=N]&sort=desc
&apikey=K (also under /v2/api with chainid=1, as Etherscan's V2 API) answers like Etherscan:
  {"status":"1","message":"OK","result":[{blockNumber, timeStamp, hash, nonce, blockHash, from,
   contractAddress, to, value, tokenName, tokenSymbol, tokenDecimal, transactionIndex, gas,
   gasPrice, gasUsed, cumulativeGasUsed, input, confirmations}, ...]}   newest first
Every field is a string; addresses are lower case; value is the integer amount in the token's
smallest unit (a big integer string), tokenDecimal "6" unless a transfer says otherwise.

control.json:
  {"expect": {"apikey": K, "contractaddress": C, "address": A},   checked on every request
   "transfers": [{"hash", "from", "to", "value"[, "tokenDecimal", "tokenSymbol"]}, ...],  oldest first
   "steps": [2, "ratelimit", 4, "empty", 5]}
Each request takes the next step; the last one repeats. A number k answers the first k transfers,
newest first (so consecutive polls overlap: the same latest transfers plus new ones), at most
`offset` of them. "ratelimit" answers HTTP 200 {"status":"0","message":"NOTOK","result":"Max rate
limit reached"}; "empty" answers {"status":"0","message":"No transactions found","result":[]}.
A request with a wrong or missing parameter is answered as Etherscan does (status "0", NOTOK,
result = the reason) and logged with "error".

requests.log: {"t", "path", "query": {name: value}, "step", "hashes": [...], "error"?}
"""
import hashlib
import json
import urllib.parse

import fakelib

TOKEN = {"tokenName": "Tether USD", "tokenSymbol": "USDT", "tokenDecimal": "6"}


def notok(result):
    return {"status": "0", "message": "NOTOK", "result": result}


def check(query, expect):
    """The Etherscan error text for a bad request, or None."""
    q = {k: v[-1] for k, v in query.items()}
    if q.get("module") != "account":
        return "Error! Missing Or invalid Module name"
    if q.get("action") != "tokentx":
        return "Error! Missing Or invalid Action name"
    if "apikey" in expect and q.get("apikey") != expect["apikey"]:
        return "Invalid API Key (#err2)|" + q.get("apikey", "")
    for name in ("contractaddress", "address"):
        if name in expect and q.get(name, "").lower() != expect[name].lower():
            return "Error! Invalid " + name + " format" if name not in q else "Error! Unexpected " + name
    if q.get("sort", "asc") not in ("asc", "desc"):
        return "Error! Invalid sort order"
    if q.get("sort") != "desc":
        return "Error! the fake serves sort=desc only (newest first)"
    for name in ("page", "offset"):
        if name in q and not q[name].isdigit():
            return "Error! Invalid " + name
    if "chainid" in q and q["chainid"] != "1":
        return "Missing or unsupported chainid parameter"
    return None


def record(i, t, contract):
    """The full Etherscan record for the i-th transfer (deterministic filler for the other fields)."""
    block = 21_000_000 + i * 3
    filler = hashlib.sha256(t["hash"].encode()).hexdigest()
    rec = {
        "blockNumber": str(block),
        "timeStamp": str(1_764_800_000 + i * 36),
        "hash": t["hash"],
        "nonce": str(100 + i),
        "blockHash": "0x" + filler,
        "from": t["from"].lower(),
        "contractAddress": contract.lower(),
        "to": t["to"].lower(),
        "value": t["value"],
        "tokenName": t.get("tokenName", TOKEN["tokenName"]),
        "tokenSymbol": t.get("tokenSymbol", TOKEN["tokenSymbol"]),
        "tokenDecimal": t.get("tokenDecimal", TOKEN["tokenDecimal"]),
        "transactionIndex": str(i % 150),
        "gas": "63209",
        "gasPrice": "1264000000",
        "gasUsed": "41309",
        "cumulativeGasUsed": str(1_000_000 + i * 41309),
        "input": "deprecated",
        "confirmations": str(1000 - i),
    }
    return rec


class Etherscan(fakelib.Handler):
    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query, keep_blank_values=True)
        flat = {k: v[-1] for k, v in query.items()}
        with self.fake.lock:
            control, state = self.fake.reload()
            entry = {"path": url.path, "query": flat}
            if url.path not in ("/api", "/v2/api"):
                entry["error"] = "path"
                self.fake.log(**entry)
                self.answer(404, "<html><body>404 Not Found</body></html>", "text/html")
                return
            err = check(query, control.get("expect", {}))
            if err:
                entry["error"] = err
                self.fake.log(**entry)
                self.answer(200, json.dumps(notok(err)), "application/json; charset=utf-8")
                return
            steps = control.get("steps", [0])
            n = state.get("n", 0)
            state["n"] = n + 1
            step = steps[min(n, len(steps) - 1)]
            entry["step"] = step
            if step == "ratelimit":
                body = notok("Max rate limit reached")
            elif step == "empty":
                body = {"status": "0", "message": "No transactions found", "result": []}
            else:
                transfers = control.get("transfers", [])[: int(step)]
                contract = control.get("expect", {}).get("contractaddress", "0x" + "0" * 40)
                page = [record(i, t, contract) for i, t in enumerate(transfers)][::-1]
                page = page[: int(flat.get("offset") or 10000)]
                entry["hashes"] = [r["hash"] for r in page]
                body = {"status": "1", "message": "OK", "result": page}
                if not page:
                    body = {"status": "0", "message": "No transactions found", "result": []}
            self.fake.log(**entry)
            self.answer(200, json.dumps(body), "application/json; charset=utf-8")


if __name__ == "__main__":
    fakelib.serve_http(Etherscan)
