"""A fake OpenAI-compatible chat server on loopback, for tests of the ``llm`` agent.

It listens on a real port (127.0.0.1, chosen by the OS), so processes other than the test's (a Celery
worker) can reach it at :attr:`FakeOpenAI.base_url`. It records every request, checks the bearer key when
one is configured and answers:

- ``POST /v1/chat/completions`` with the text (or ``(status, body)``) that the pluggable ``reply`` callable
  returns for the request's JSON, plus a ``usage`` block derived from the messages' lengths. A request with
  ``"stream": true`` gets the text as server-sent events (``data: {chunk}`` lines, the usage in a last chunk
  when ``stream_options.include_usage`` asks for it, then ``data: [DONE]``), unless :attr:`FakeOpenAI.stream`
  is off, like a vendor that ignores ``stream`` and answers one JSON object;
- ``GET /v1/models`` with the model list.

Usage::

    with FakeOpenAI(api_key="sk-test") as fake:
        config = {"name": "llm", "base_url": fake.base_url, "model": "fake-1"}
        ...
        assert fake.completions[0].headers["authorization"] == "Bearer sk-test"

The default ``reply`` is :func:`browsing_policy`, a scripted agent that reads the prompt of the ``llm``
driver and clicks its way through a few pages before it stops.

A stalling vendor (:attr:`FakeOpenAI.stall_s`) streams the first half of its reply, then only keep-alive
comments; when the client hangs up, the next one fails to send and the request is marked ``hung_up``.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Reply = Callable[[dict], "str | tuple[int, Any]"]

# Words of a goal too common to say which link it is about.
STOP_WORDS = {
    "the", "and", "you", "your", "are", "for", "with", "this", "that", "from", "into", "then", "them", "they",
    "will", "have", "has", "was", "were", "its", "not", "but", "all", "any", "can", "out", "our", "site",
    "asks", "some", "one", "each", "when", "where", "what", "which", "who", "how",
}  # fmt: skip
# The refs of an ``aria_snapshot(mode="ai")`` line: ``- link "Trail Running Shoes" [ref=e12]``.
_ELEMENT = re.compile(r'-\s+(link|button)\s+"((?:[^"\\]|\\.)*)"[^\n]*?\[ref=([\w-]+)\]')
_SECTION = re.compile(r"^## (.+)$", re.MULTILINE)


@dataclass
class RecordedRequest:
    """One request the fake received, and the usage it answered with (chat completions only)."""

    method: str
    path: str
    headers: dict[str, str]  # lower-cased names
    body: Any  # the decoded JSON, or the raw text when it was not JSON
    status: int = 0
    usage: dict | None = None
    streamed: bool = False
    hung_up: bool = False  # the client closed the connection while the reply was streaming


def estimate_tokens(text: str) -> int:
    """The fake's token count: one per four characters, at least one."""
    return max(1, len(text) // 4)


def message_text(message: dict) -> str:
    """The text of a chat message whose content is a string or a list of parts (images are skipped)."""
    content = message.get("content")
    if isinstance(content, list):
        return "\n".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return content if isinstance(content, str) else ""


def prompt_sections(request_json: dict) -> dict[str, str]:
    """The ``## Heading`` sections of the first user message (the step's prompt; later ones ask again), by
    heading."""
    users = [m for m in request_json.get("messages") or [] if isinstance(m, dict) and m.get("role") == "user"]
    text = message_text(users[0]) if users else ""
    sections: dict[str, str] = {}
    matches = list(_SECTION.finditer(text))
    for match, following in zip(matches, matches[1:] + [None], strict=False):
        end = following.start() if following else len(text)
        sections[match.group(1).strip()] = text[match.end() : end].strip()
    return sections


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z]{3,}", text.lower()) if w not in STOP_WORDS}


def browsing_policy(request_json: dict, max_clicks: int = 3) -> str:
    """A scripted agent: click the link or button whose name shares the most words with the goal.

    It reads the ``llm`` driver's prompt sections (Goal, Page, Previous actions), prefers links to buttons
    on a tie, never repeats a click it already made, and answers ``stop()`` after ``max_clicks`` previous
    actions or when nothing on the page matches. Each answer is a ``<think>`` tag and an ``<action>`` tag.
    """
    sections = prompt_sections(request_json)
    goal = _words(sections.get("Goal", ""))
    page = next((body for heading, body in sections.items() if heading.startswith("Page")), "")
    history = sections.get("Previous actions (oldest first)", "")
    done = set(re.findall(r"click\('[^']*'\)", history))
    if len(re.findall(r"^step \d+:", history, re.MULTILINE)) >= max_clicks:
        return "<think>I have looked around enough.</think>\n<action>stop()</action>"
    best, best_key = None, (0, 0)
    for role, name, ref in _ELEMENT.findall(page):
        shared = len(goal & _words(name))
        key = (shared, 1 if role == "link" else 0)
        if shared and key > best_key and f"click('{ref}')" not in done:
            best, best_key = (role, name, ref), key
    if best is None:
        return "<think>Nothing on this page matches the goal, so I am done.</think>\n<action>stop()</action>"
    role, name, ref = best
    return f"<think>The {role} {name!r} looks related to the goal.</think>\n<action>click('{ref}')</action>"


def scripted(*replies) -> Reply:
    """A reply callable answering ``replies`` in turn (a text or a ``(status, body)``), then the last again."""
    queue = list(replies)
    lock = threading.Lock()

    def reply(request_json: dict):
        with lock:
            return queue.pop(0) if len(queue) > 1 else queue[0]

    return reply


def _error(message: str, kind: str, code: str | None) -> dict:
    """OpenAI's error shape."""
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeOpenAI

    def handle_error(self, request, client_address):
        # A client that gave up (a step timeout) closes the socket mid-answer; that is expected, not news.
        pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    timeout = 30

    def log_message(self, format, *args):
        pass

    def _send(self, status: int, body: Any) -> None:
        if isinstance(body, dict | list):
            payload, kind = json.dumps(body).encode(), "application/json"
        else:
            payload = body if isinstance(body, bytes) else str(body).encode()
            kind = "text/plain; charset=utf-8"
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _stream(self, record: RecordedRequest, model: str, answer: str, usage: dict | None) -> None:
        """The answer as server-sent events, in pieces of a few characters, in a chunked HTTP body."""
        fake = self.server.fake
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

        def event(payload: Any) -> bytes:
            data = payload if isinstance(payload, str) else json.dumps(payload)
            return f"data: {data}\n\n".encode()

        def delta(text: str) -> dict:
            return {"object": "chat.completion.chunk", "model": model, "choices": [{"index": 0, "delta": text}]}

        pieces = [answer[i : i + 8] for i in range(0, len(answer), 8)] or [""]
        stall_at = len(pieces) // 2 if fake.stall_s else len(pieces)
        try:
            self._chunk(event(delta({"role": "assistant", "content": ""})))
            for index, piece in enumerate(pieces):
                if index == stall_at:
                    # Keep-alive comments until the stall ends or the client hangs up (the write then fails).
                    ends = time.monotonic() + fake.stall_s
                    while time.monotonic() < ends and not fake.stopping.wait(0.05):
                        self._chunk(b": keep-alive\n\n")
                self._chunk(event(delta({"content": piece})))
            self._chunk(event({**delta({}), "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}))
            if usage is not None:
                self._chunk(event({"object": "chat.completion.chunk", "model": model, "choices": [], "usage": usage}))
            self._chunk(event("[DONE]"))
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except OSError:
            record.hung_up = True
            self.close_connection = True

    def _record(self, body: Any) -> RecordedRequest:
        record = RecordedRequest(
            method=self.command,
            path=self.path,
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
        )
        with self.server.fake.lock:
            self.server.fake.requests.append(record)
        return record

    def _authorized(self, record: RecordedRequest) -> bool:
        key = self.server.fake.api_key
        if key is None:
            return True
        given = record.headers.get("authorization", "")
        if given == f"Bearer {key}":
            return True
        # OpenAI names the key it was given in this message; the fake names it in full, so a test can check
        # that the agent never passes it on.
        shown = given.removeprefix("Bearer ") or "(none)"
        record.status = 401
        self._send(401, _error(f"Incorrect API key provided: {shown}.", "invalid_request_error", "invalid_api_key"))
        return False

    def do_GET(self):
        record = self._record(None)
        if not self._authorized(record):
            return
        if self.path.rstrip("/") == "/v1/models":
            record.status = 200
            models = [{"id": m, "object": "model", "created": 0, "owned_by": "fake"} for m in self.server.fake.models]
            self._send(200, {"object": "list", "data": models})
            return
        record.status = 404
        self._send(404, _error(f"Unknown request URL: GET {self.path}.", "invalid_request_error", None))

    def do_POST(self):
        fake = self.server.fake
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body = json.loads(raw)
        except ValueError:
            body = raw.decode("utf-8", "replace")
        record = self._record(body)
        if not self._authorized(record):
            return
        if self.path.rstrip("/") != "/v1/chat/completions":
            record.status = 404
            self._send(404, _error(f"Unknown request URL: POST {self.path}.", "invalid_request_error", None))
            return
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            record.status = 400
            self._send(400, _error("'messages' is a required property", "invalid_request_error", None))
            return
        if fake.delay_s:
            fake.stopping.wait(fake.delay_s)
        answer = fake.reply(body)
        if isinstance(answer, tuple):
            record.status = answer[0]
            self._send(*answer)
            return
        prompt = "\n".join(message_text(m) for m in body["messages"] if isinstance(m, dict))
        usage = {"prompt_tokens": estimate_tokens(prompt), "completion_tokens": estimate_tokens(answer)}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        record.status, record.usage = 200, usage if fake.report_usage else None
        if body.get("stream") is True and fake.stream:
            options = body.get("stream_options")
            include_usage = isinstance(options, dict) and options.get("include_usage") is True
            record.streamed = True
            self._stream(record, body.get("model", ""), answer, record.usage if include_usage else None)
            return
        completion = {
            "id": f"chatcmpl-fake-{len(fake.requests)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", ""),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": "stop"}],
        }
        if record.usage is not None:
            completion["usage"] = record.usage
        self._send(200, completion)


class FakeOpenAI:
    """The fake server. ``reply(request_json)`` returns the assistant's text, or ``(status, body)`` to answer
    that instead (a dict body is sent as JSON). ``api_key`` set: requests without that bearer key get 401.
    ``delay_s``: each completion waits that long first (a slow vendor). ``stream`` off: ``"stream": true`` is
    ignored and the answer is one JSON object. ``stall_s``: a streamed answer stops halfway for that long,
    sending keep-alive comments. ``report_usage`` off: answers carry no usage, as some servers'. All
    attributes may be changed while the server runs."""

    def __init__(
        self,
        reply: Reply | None = None,
        *,
        api_key: str | None = None,
        delay_s: float = 0.0,
        models: tuple[str, ...] = ("fake-1",),
        stream: bool = True,
        stall_s: float = 0.0,
    ):
        self.reply: Reply = reply or browsing_policy
        self.api_key = api_key
        self.delay_s = delay_s
        self.stream = stream
        self.stall_s = stall_s
        self.report_usage = True
        self.models = models
        self.requests: list[RecordedRequest] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @staticmethod
    def default_reply(request_json: dict) -> str:
        """The default ``reply``: :func:`browsing_policy`, for a reply callable that wraps it."""
        return browsing_policy(request_json)

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the fake OpenAI server is not running")
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    @property
    def completions(self) -> list[RecordedRequest]:
        """The chat completion requests received so far, in order."""
        with self.lock:
            return [r for r in self.requests if r.path.rstrip("/").endswith("/chat/completions")]

    def start(self) -> FakeOpenAI:
        self.stopping.clear()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.fake = self
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-openai", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; a completion still waiting out ``delay_s`` is woken and its client hung up on."""
        self.stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
            self._server = self._thread = None

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
