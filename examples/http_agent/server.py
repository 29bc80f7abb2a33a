#!/usr/bin/env python3
"""A reference HTTP agent for Gauntlet: copy it, run it, register its URL, then make it smarter.

    python3 server.py --port 8765 --secret "$GAUNTLET_AGENT_SECRET"

Standard library only. It checks every request's signature (see docs/agent-protocol.md, "Signing"),
answers gauntlet.agent/v1 responses, and plays a deliberately simple strategy: close pop-ups, sign in
when asked, otherwise click the link or button whose name shares the most words with the goal, and
stop when nothing new is left to try. Replace ``decide`` with your agent.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import re
import time
from collections import OrderedDict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PROTOCOL = "gauntlet.agent/v1"
MAX_BODY = 4 * 1024 * 1024
CLICKABLE = {"link", "button", "menuitem", "tab", "checkbox", "radio"}
DISMISS = {"close", "dismiss", "no thanks", "accept", "accept all", "got it", "ok", "×"}
STOPWORDS = {"the", "a", "an", "and", "to", "of", "it", "for", "in", "on", "your", "you", "is", "if", "with", "my"}

# Per-episode memory (what was clicked already), bounded so a long-running server does not grow forever.
MEMORY: OrderedDict[str, set] = OrderedDict()


def signature_ok(secret: str, timestamp: str, body: bytes, signature: str, tolerance_s: int = 300) -> bool:
    """HMAC-SHA256 over "<timestamp>.<body>" with the agent's secret, and a timestamp no older than 5 minutes."""
    try:
        if abs(time.time() - int(timestamp)) > tolerance_s:
            return False
    except ValueError:
        return False
    expected = "v1=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature)


def words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in STOPWORDS and len(w) > 1}


def decide(request: dict) -> dict:
    """One step of the strategy: the observation in, one action string out."""
    observation = request["observation"]
    elements = observation.get("elements") or []
    key = f"{request['episode_id']}:{request.get('agent_index', 0)}"
    tried = MEMORY.setdefault(key, set())
    MEMORY.move_to_end(key)
    while len(MEMORY) > 1000:
        MEMORY.popitem(last=False)

    for element in elements:
        if element["role"] == "button" and element["name"].strip().lower() in DISMISS:
            return {"action": f"click({element['ref']!r})", "thought": "close the pop-up first"}

    by_name = {e["name"].lower(): e for e in elements if e["role"] == "textbox"}
    goal = request["task"]["goal"]
    username = re.search(r"username is (\S+?)[ .,]", goal)
    password = re.search(r"password is (\S+?)(?:\.\s|\.?$)", goal)
    if username and password and "username" in by_name and "password" in by_name:
        if ("fill-user", observation["url"]) not in tried:
            tried.add(("fill-user", observation["url"]))
            return {"action": f"fill({by_name['username']['ref']!r}, {username.group(1)!r})"}
        if ("fill-password", observation["url"]) not in tried:
            tried.add(("fill-password", observation["url"]))
            return {"action": f"fill({by_name['password']['ref']!r}, {password.group(1)!r})"}

    wanted = words(goal)
    best, best_score = None, 0
    for element in elements:
        name = element["name"]
        if element["role"] not in CLICKABLE or not name or name in tried:
            continue
        score = len(wanted & words(name))
        if score > best_score:
            best, best_score = element, score
    if best is None:
        return {"action": "stop()", "thought": "nothing left that matches the goal"}
    tried.add(best["name"])
    return {"action": f"click({best['ref']!r})", "thought": f"'{best['name']}' matches the goal"}


class Handler(BaseHTTPRequestHandler):
    secret = ""

    def do_POST(self):  # noqa: N802 (the standard library's name)
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            return self._reply(413, {"error": "request too large"})
        body = self.rfile.read(length)
        timestamp = self.headers.get("X-Gauntlet-Timestamp", "")
        signature = self.headers.get("X-Gauntlet-Signature", "")
        if not signature_ok(self.secret, timestamp, body, signature):
            return self._reply(401, {"error": "bad signature"})
        try:
            request = json.loads(body)
        except ValueError:
            return self._reply(400, {"error": "the body is not JSON"})
        if request.get("protocol") != PROTOCOL:
            return self._reply(400, {"error": f"unsupported protocol {request.get('protocol')!r}"})
        self._reply(200, decide(request))

    def _reply(self, status: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args):  # noqa: A002 (the standard library's signature)
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description="A reference Gauntlet HTTP agent.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--secret", default=os.environ.get("GAUNTLET_AGENT_SECRET", ""))
    args = parser.parse_args()
    if not args.secret:
        parser.error("give the agent's secret with --secret or GAUNTLET_AGENT_SECRET")
    Handler.secret = args.secret
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    print(f"agent listening on http://{args.host}:{server.server_port}/", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
