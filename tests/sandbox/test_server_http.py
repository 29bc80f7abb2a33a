"""The sandbox server's HTTP/1.1 as a browser and a hostile client see it, over raw sockets.

Whatever a client sends, it gets a clear status and the server goes on serving everyone else.
"""

import socket
from urllib.parse import urlencode

import pytest

from sandbox import persona
from sandbox.httpconn import MAX_HEADER_BYTES, MAX_HEADERS
from sandbox.scenarios import build_scenario
from sandbox.server import MAX_BODY, WORLD_COOKIE
from sandbox.sites import bank


class Raw:
    """One TCP connection to the sandbox server, reading replies by their Content-Length."""

    def __init__(self, server):
        host, port = server.address.removeprefix("http://").split(":")
        self.sock = socket.create_connection((host, int(port)), timeout=10)
        self.file = self.sock.makefile("rb")

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def reply(self, head: bool = False) -> tuple[int, dict, bytes]:
        status = int(self.file.readline().split()[1])
        headers = {}
        while (line := self.file.readline()) not in (b"\r\n", b""):
            name, value = line.decode("latin-1").split(":", 1)
            headers[name.strip().lower()] = value.strip()
        length = 0 if head or status == 100 else int(headers.get("content-length", 0))
        return status, headers, self.file.read(length)

    def closed(self) -> bool:
        return self.file.read(1) == b""

    def close(self) -> None:
        self.file.close()
        self.sock.close()


@pytest.fixture
def world(server):
    world = build_scenario(key="test", task="bank.pay_payee", seed=3).world
    server.add_world(world)
    yield world
    server.remove_world(world)


@pytest.fixture
def raw(server):
    connection = Raw(server)
    yield connection
    connection.close()


def get(world, path: str = "/", *extra: str, method: str = "GET", version: str = "1.1") -> bytes:
    lines = [
        f"{method} http://{bank.HOST}{path} HTTP/{version}",
        f"Host: {bank.HOST}",
        f"Cookie: {WORLD_COOKIE}={world.token}",
        *extra,
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def login(world, body: bytes, *headers: str) -> bytes:
    lines = [
        f"POST http://{bank.HOST}/login HTTP/1.1",
        f"Host: {bank.HOST}",
        f"Cookie: {WORLD_COOKIE}={world.token}",
        "Content-Type: application/x-www-form-urlencoded",
        *headers,
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


FORM = urlencode({"username": persona.USERNAME, "password": persona.PASSWORD, "next": "/pay"}).encode()


def chunked(body: bytes, size: int = 7) -> bytes:
    pieces = [body[i : i + size] for i in range(0, len(body), size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces) + b"0\r\n\r\n"


def test_it_answers_many_requests_on_one_kept_alive_connection(world, raw):
    for path in ("/", "/pay", "/nope"):
        raw.send(get(world, path))
        status, headers, body = raw.reply()
        assert status == (404 if path == "/nope" else 200) and body
        assert headers["content-length"] == str(len(body)) and "connection" not in headers


def test_it_answers_pipelined_requests_in_order(world, raw):
    raw.send(get(world, "/nope") + get(world, "/") + get(world, "/nope"))
    assert [raw.reply()[0] for _ in range(3)] == [404, 200, 404]


def test_it_closes_after_connection_close_and_after_an_http_1_0_request(world, server):
    for request in (get(world, "/", "Connection: close"), get(world, "/", version="1.0")):
        connection = Raw(server)
        connection.send(request)
        status, headers, _ = connection.reply()
        assert status == 200 and headers["connection"] == "close" and connection.closed()
        connection.close()


def test_head_has_the_get_headers_and_no_body(world, raw):
    raw.send(get(world, "/"))
    _, got, body = raw.reply()
    raw.send(get(world, "/", method="HEAD"))
    status, headed, _ = raw.reply(head=True)
    raw.send(get(world, "/nope"))
    assert status == 200 and headed["content-length"] == got["content-length"] == str(len(body))
    assert raw.reply()[0] == 404  # nothing of a body was left on the connection


def test_a_form_posts_alike_with_a_length_or_chunked(world, server):
    replies = []
    for request in (
        login(world, FORM, f"Content-Length: {len(FORM)}"),
        login(world, chunked(FORM), "Transfer-Encoding: chunked"),
    ):
        connection = Raw(server)
        connection.send(request)
        connection.send(get(world, "/nope"))
        status, headers, _ = connection.reply()
        replies.append((status, headers.get("location")))
        assert connection.reply()[0] == 404
        connection.close()
    assert replies == [(303, "/pay")] * 2


def test_it_waits_for_the_body_after_100_continue(world, raw):
    raw.send(login(world, b"", f"Content-Length: {len(FORM)}", "Expect: 100-continue"))
    assert raw.reply()[0] == 100
    raw.send(FORM)
    status, headers, _ = raw.reply()
    assert (status, headers["location"]) == (303, "/pay")


@pytest.mark.parametrize("framing", ["length", "chunked"])
def test_a_body_over_the_limit_is_refused_with_413(world, raw, framing):
    big = b"x" * (MAX_BODY + 1)
    if framing == "length":
        raw.send(login(world, b"", f"Content-Length: {len(big)}"))
    else:
        raw.send(login(world, chunked(big, 1 << 16), "Transfer-Encoding: chunked"))
    status, headers, _ = raw.reply()
    assert status == 413 and headers["connection"] == "close"


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GARBAGE\r\n\r\n",
        b"GET / HTTP/9.9\r\n\r\n",
        b"GET http://bank.gauntlet.test/ HTTP/1.1\r\nHost bank\r\n\r\n",
        b"POST http://bank.gauntlet.test/login HTTP/1.1\r\nContent-Length: nine\r\n\r\n",
        b"POST http://bank.gauntlet.test/login HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",  # a TLS hello
    ],
)
def test_a_malformed_request_gets_400_and_the_server_goes_on(world, server, raw, request_bytes):
    raw.send(request_bytes)
    status, headers, _ = raw.reply()
    assert status == 400 and headers["connection"] == "close" and raw.closed()
    healthy = Raw(server)
    healthy.send(get(world, "/"))
    assert healthy.reply()[0] == 200
    healthy.close()


def test_headers_over_the_limits_get_431(world, server):
    too_long = get(world, "/", "X-Padding: " + "a" * MAX_HEADER_BYTES)
    too_many = get(world, "/", *(f"X-{i}: 1" for i in range(MAX_HEADERS + 1)))
    endless = get(world, "/")[:-2] + b"X-Endless: " + b"a" * (4 * MAX_HEADER_BYTES)
    for request in (too_long, too_many, endless):
        connection = Raw(server)
        connection.send(request)
        status, headers, _ = connection.reply()
        assert status == 431 and headers["connection"] == "close"
        connection.close()


def test_headers_near_the_limit_are_served(world, raw):
    raw.send(get(world, "/", "X-Padding: " + "a" * (MAX_HEADER_BYTES // 2), *(f"X-{i}: 1" for i in range(50))))
    assert raw.reply()[0] == 200


def test_connect_is_refused_and_closes(raw):
    raw.send(b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n")
    status, headers, body = raw.reply()
    assert status == 403 and b"HTTPS and tunnels are not available" in body
    assert headers["connection"] == "close" and raw.closed()


def test_other_methods_get_501(world, raw):
    raw.send(get(world, "/", method="PUT"))
    status, _, body = raw.reply()
    assert status == 501 and b"Unsupported method" in body
    raw.send(get(world, "/"))
    assert raw.reply()[0] == 200


def test_a_request_split_across_many_sends_is_served(world, raw):
    request = login(world, FORM, f"Content-Length: {len(FORM)}")
    for i in range(0, len(request), 5):
        raw.send(request[i : i + 5])
    assert raw.reply()[0] == 303


@pytest.mark.parametrize(
    "target", ["http://bank.gauntlet.test:abc/", "http://[::1/", "http://bank.gauntlet.test:99999/"]
)
def test_an_unreadable_url_gets_400_and_the_connection_goes_on(world, raw, target):
    raw.send(f"GET {target} HTTP/1.1\r\nHost: x\r\nCookie: {WORLD_COOKIE}={world.token}\r\n\r\n".encode())
    status, _, body = raw.reply()
    assert status == 400 and b"Bad request" in body
    raw.send(get(world, "/"))
    assert raw.reply()[0] == 200


def test_hosts_outside_the_sandbox_are_refused_as_before(world, raw):
    for target in ("http://127.0.0.1:8000/", "http://localhost/", "http://bank.gauntlet.test:8080/"):
        raw.send(f"GET {target} HTTP/1.1\r\nHost: x\r\nCookie: {WORLD_COOKIE}={world.token}\r\n\r\n".encode())
        status, _, body = raw.reply()
        assert status == 403 and b"Blocked by the sandbox" in body
