"""A scriptable HTTP agent on loopback for tests: it records what it receives and answers as told."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# behaviour(request_json, headers) -> (status, body bytes) or (status, body bytes, extra response headers);
# it may sleep to be slow.
Behaviour = Callable[[dict, dict], tuple[int, bytes] | tuple[int, bytes, dict]]


def answer(action: str, **extra) -> Behaviour:
    def behaviour(request, headers):
        return 200, json.dumps({"action": action, **extra}).encode()

    return behaviour


class AgentServer:
    def __init__(self, behaviour: Behaviour):
        self.behaviour = behaviour
        self.requests: list[tuple[dict, dict, bytes]] = []  # (json, headers, raw body)
        self.drop_connection = False
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                request = json.loads(body)
                server.requests.append((request, dict(self.headers), body))
                if server.drop_connection:
                    self.close_connection = True
                    self.connection.close()
                    return
                status, data, *extra = server.behaviour(request, dict(self.headers))
                try:
                    self.send_response(status)
                    for name, value in (extra[0] if extra else {}).items():
                        self.send_header(name, value)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/act"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> AgentServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def slow(seconds: float, then: Behaviour) -> Behaviour:
    def behaviour(request, headers):
        time.sleep(seconds)
        return then(request, headers)

    return behaviour
