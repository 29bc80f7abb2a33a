"""A recording HTTP proxy in front of a model server: every chat completion, what it cost by the server's own count.

The test of the ``llm`` agent against a real model checks the run's recorded usage against what the server said,
so the proxy keeps, per chat completion, the server's ``usage`` block and reply. Other requests (the run's
reachability probe, ``/v1/models``) are forwarded and counted, not recorded as completions.

llama-cpp-python's server (0.3.x) sends no usage in a streamed answer and ignores ``stream_options``. So a
request asking for a stream is forwarded without streaming, and the proxy streams the server's whole answer back
as OpenAI does (Server-Sent Events: one content chunk, one finish chunk, then a usage chunk when
``stream_options.include_usage`` asks for it, then ``[DONE]``): the client sees a stream, and the usage in it is
the server's count. A plain request is passed through byte for byte.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit


@dataclass
class Completion:
    """One chat completion the server answered."""

    streamed: bool  # the client asked for a stream
    status: int
    usage: dict[str, Any] | None
    reply: str | None
    seconds: float


class RecordingProxy:
    """Forwards ``http://127.0.0.1:<port>/...`` to ``upstream`` (a base URL such as ``http://127.0.0.1:N/v1``);
    :attr:`base_url` is the same path on the proxy. Thread-safe; use as a context manager."""

    def __init__(self, upstream: str):
        parts = urlsplit(upstream)
        self.upstream_host, self.upstream_port = parts.hostname, parts.port or 80
        self.path = parts.path.rstrip("/")
        self.completions: list[Completion] = []
        self.requests = 0
        self.in_flight = 0
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{self.path}"

    def __enter__(self) -> RecordingProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def settle(self, timeout_s: float = 300) -> None:
        """Wait until no request is in flight (a client that gave up may leave the server still answering)."""
        deadline = time.monotonic() + timeout_s
        while self.in_flight and time.monotonic() < deadline:
            time.sleep(0.2)

    def tokens(self) -> tuple[int, int]:
        """(prompt, completion) tokens summed over the completions, as the server counted them."""
        with self.lock:
            usages = [c.usage or {} for c in self.completions]
        return sum(u.get("prompt_tokens") or 0 for u in usages), sum(u.get("completion_tokens") or 0 for u in usages)

    def forward(self, method: str, path: str, body: bytes, content_type: str) -> tuple[int, str, bytes]:
        connection = http.client.HTTPConnection(self.upstream_host, self.upstream_port, timeout=600)
        try:
            headers = {"Content-Type": content_type} if body else {}
            connection.request(method, path, body=body or None, headers=headers)
            response = connection.getresponse()
            return response.status, response.getheader("Content-Type") or "application/json", response.read()
        finally:
            connection.close()


def _reply_text(data: Any) -> str | None:
    try:
        content = data["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        return None
    return content if isinstance(content, str) else None


def _sse(answer: dict, include_usage: bool) -> bytes:
    """The server's whole answer as an OpenAI stream of chunks."""
    choice = answer["choices"][0]
    base = {k: answer.get(k) for k in ("id", "created", "model")}
    base["object"] = "chat.completion.chunk"
    delta = {"role": "assistant", "content": choice["message"].get("content") or ""}
    chunks = [
        {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]},
        {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": choice.get("finish_reason")}]},
    ]
    if include_usage:
        chunks.append({**base, "choices": [], "usage": answer.get("usage")})
    lines = [f"data: {json.dumps(chunk)}\n\n" for chunk in chunks] + ["data: [DONE]\n\n"]
    return "".join(lines).encode()


def _handler(proxy: RecordingProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:
            pass

        def _answer(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            try:
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout); what the server answered is recorded all the same

        def do_GET(self) -> None:
            with proxy.lock:
                proxy.requests += 1
            self._answer(*proxy.forward("GET", self.path, b"", ""))

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with proxy.lock:
                proxy.requests += 1
                proxy.in_flight += 1
            try:
                self._post(body)
            finally:
                with proxy.lock:
                    proxy.in_flight -= 1

        def _post(self, body: bytes) -> None:
            content_type = self.headers.get("Content-Type") or "application/json"
            if not self.path.endswith("/chat/completions"):
                self._answer(*proxy.forward("POST", self.path, body, content_type))
                return
            try:
                request = json.loads(body)
            except ValueError:
                request = None
            streamed = isinstance(request, dict) and request.get("stream") is True
            if streamed:
                options = request.pop("stream_options", None)
                include_usage = isinstance(options, dict) and options.get("include_usage") is True
                request["stream"] = False
                body = json.dumps(request).encode()
            started = time.perf_counter()
            status, answer_type, answer = proxy.forward("POST", self.path, body, content_type)
            try:
                data = json.loads(answer)
            except ValueError:
                data = None
            usage = data.get("usage") if isinstance(data, dict) and isinstance(data.get("usage"), dict) else None
            completion = Completion(streamed, status, usage, _reply_text(data), time.perf_counter() - started)
            with proxy.lock:
                proxy.completions.append(completion)
            if streamed and status == 200 and completion.reply is not None:
                self._answer(200, "text/event-stream", _sse(data, include_usage))
            else:
                self._answer(status, answer_type, answer)

    return Handler
