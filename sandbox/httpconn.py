"""HTTP/1.1 connections for the sandbox server, parsed by httptools (llhttp, the C parser behind uvicorn).

``http.server`` parses every request's headers with ``email.feedparser`` in Python and writes a response in
two sends (headers, then body), which on a keep-alive connection meets the peer's delayed ACK. Here a
thread per connection feeds what arrives to llhttp, answers each complete request with one ``sendall``,
and keeps the connection open as HTTP/1.1 says (pipelined requests are answered in order).

What the connection promises its peer, whatever it sends:

- a malformed request gets ``400``; a request line and headers over :data:`MAX_HEADER_BYTES`, or more than
  :data:`MAX_HEADERS` headers, get ``431``; a body over the server's limit gets ``413`` (chunked bodies
  are decoded and counted alike); each of these closes the connection, and none stops the server;
- ``Expect: 100-continue`` is answered before the body is read;
- a request that switches protocols (``CONNECT``, ``Upgrade:``) is answered, then the connection closes;
- a ``HEAD`` reply has the headers of the ``GET`` reply and no body.
"""

from __future__ import annotations

import email.utils
import http
import socket
from collections.abc import Callable
from dataclasses import dataclass, field

import httptools

MAX_HEADER_BYTES = 64 * 1024
MAX_HEADERS = 100
IDLE_TIMEOUT_S = 300.0
SERVER_NAME = "GauntletSandbox/2"


@dataclass
class HttpRequest:
    method: str
    target: str  # the request target as sent: an absolute URL for a proxy request, else a path
    headers: list[tuple[str, str]]  # names lower-case, values decoded as ISO-8859-1, in order
    body: bytes = b""
    keep_alive: bool = True  # whether the connection stays open after the reply (version, Connection:)

    def header(self, name: str, default: str = "") -> str:
        """The first value of header ``name`` (lower-case), or ``default``."""
        return next((value for key, value in self.headers if key == name), default)


@dataclass
class HttpReply:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""


Respond = Callable[[HttpRequest], HttpReply]


class _Refused(Exception):
    """A request the connection answers with an error status and then closes."""

    def __init__(self, status: int, text: str):
        super().__init__(text)
        self.status, self.text = status, text


class _Reader:
    """httptools' callbacks for one connection: collects complete requests in order."""

    def __init__(self, sock: socket.socket, max_body: int):
        self.sock, self.max_body = sock, max_body
        self.parser = httptools.HttpRequestParser(self)
        self.complete: list[HttpRequest] = []
        self.in_headers = False
        self._reset()

    def _reset(self) -> None:
        self.url, self.headers, self.body, self.header_bytes = b"", [], [], 0
        self.body_bytes = 0

    def on_message_begin(self) -> None:
        self._reset()
        self.in_headers = True

    def on_url(self, url: bytes) -> None:
        self.url += url
        self._count(len(url))

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.decode("latin-1").lower(), value.decode("latin-1")))
        self._count(len(name) + len(value) + 4)
        if len(self.headers) > MAX_HEADERS:
            raise _Refused(431, "Too many headers")

    def on_headers_complete(self) -> None:
        self.in_headers = False
        length = next((value for key, value in self.headers if key == "content-length"), "0")
        if length.strip().isdigit() and int(length) > self.max_body:
            raise _Refused(413, "Request body too large")
        expect = next((value for key, value in self.headers if key == "expect"), "")
        if expect.lower() == "100-continue" and self.parser.get_http_version() == "1.1":
            self.sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, body: bytes) -> None:
        self.body_bytes += len(body)
        if self.body_bytes > self.max_body:
            raise _Refused(413, "Request body too large")
        self.body.append(body)

    def on_message_complete(self) -> None:
        method = self.parser.get_method().decode("latin-1")
        keep_alive = self.parser.should_keep_alive()
        self.complete.append(
            HttpRequest(method, self.url.decode("latin-1"), self.headers, b"".join(self.body), keep_alive)
        )

    def _count(self, size: int) -> None:
        self.header_bytes += size
        if self.header_bytes > MAX_HEADER_BYTES:
            raise _Refused(431, "Request header fields too large")


def serve_connection(sock: socket.socket, respond: Respond, *, max_body: int) -> None:
    """Answer the requests of one connection with ``respond`` until the peer or the protocol closes it.

    ``respond`` must not raise: it turns its own failures into a reply. Returns when the connection is done.
    """
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.settimeout(IDLE_TIMEOUT_S)
    reader = _Reader(sock, max_body)
    pending = 0  # bytes received since the current request began, while its headers are incomplete
    while True:
        try:
            data = sock.recv(65536)
        except (TimeoutError, OSError):
            return
        if not data:
            return
        refused: _Refused | None = None
        upgrade = False
        try:
            reader.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            upgrade = True
        except httptools.HttpParserCallbackError as exc:
            context = exc.__context__
            refused = context if isinstance(context, _Refused) else _Refused(400, "Malformed request")
        except httptools.HttpParserError:
            refused = _Refused(400, "Malformed request")
        # A header line still being received is buffered inside the parser, where no callback counts it.
        pending = pending + len(data) if reader.in_headers else 0
        if refused is None and pending > MAX_HEADER_BYTES + 65536:
            refused = _Refused(431, "Request header fields too large")
        requests, reader.complete = reader.complete, []
        for index, request in enumerate(requests):
            # The request that switched protocols is the last one this connection answers.
            keep_alive = request.keep_alive and not (upgrade and index == len(requests) - 1)
            if not _send(sock, request, respond(request), keep_alive) or not keep_alive:
                return
        if refused is not None:
            _send(sock, None, _refusal(refused), keep_alive=False)
            return
        if upgrade:
            return


def _refusal(refused: _Refused) -> HttpReply:
    body = f"<!doctype html><title>{refused.text}</title><h1>{refused.text}</h1>".encode()
    return HttpReply(refused.status, [("Content-Type", "text/html; charset=utf-8")], body)


def _send(sock: socket.socket, request: HttpRequest | None, reply: HttpReply, keep_alive: bool) -> bool:
    """Write ``reply`` in one send; False when the peer has gone."""
    try:
        head = _head(reply, keep_alive)
    except ValueError:
        reply = _refusal(_Refused(500, "Sandbox error"))
        head = _head(reply, keep_alive)
    body = b"" if request is not None and request.method == "HEAD" else reply.body
    try:
        sock.sendall(head + body)
    except OSError:
        return False
    return True


def _head(reply: HttpReply, keep_alive: bool) -> bytes:
    """The status line and headers of ``reply``; ValueError for a header that would split the response."""
    try:
        phrase = http.HTTPStatus(reply.status).phrase
    except ValueError:
        phrase = ""
    lines = [
        f"HTTP/1.1 {reply.status} {phrase}",
        f"Server: {SERVER_NAME}",
        f"Date: {email.utils.formatdate(usegmt=True)}",
        f"Content-Length: {len(reply.body)}",
    ]
    for name, value in reply.headers:
        if any(char in name + value for char in "\r\n\0"):
            raise ValueError(f"header {name!r} holds a line break")
        lines.append(f"{name}: {value}")
    if not keep_alive:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")
