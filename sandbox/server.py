"""The sandbox server: a loopback HTTP proxy that serves the sandbox sites and nothing else.

Chromium is launched with this server as its proxy, so every request the browser makes reaches it as a
proxy request (``GET http://shop.gauntlet.test/item/1 HTTP/1.1``). It serves the sandbox host names,
selects the World by the ``gauntlet_world`` cookie, and refuses everything else: HTTPS ``CONNECT``, any
other host (``127.0.0.1``, ``localhost``, the dashboard, the internet). One episode can never reach
another's World because World tokens are unguessable and only the runner sets the cookie.
"""

from __future__ import annotations

import logging
import re
import socketserver
import sys
import threading
import time
from http.cookies import SimpleCookie
from urllib.parse import parse_qsl, urljoin, urlsplit

from sandbox.httpconn import HttpReply, HttpRequest, serve_connection
from sandbox.registry import SITES
from sandbox.sites.base import Request, Response, escape, safe_next
from sandbox.world import IRREVERSIBLE, PolicyViolation, World

WORLD_COOKIE = "gauntlet_world"
# Which agent of the episode a browser context belongs to (concurrent episodes share one World).
AGENT_COOKIE = "gauntlet_agent"
MAX_AGENTS = 16
SANDBOX_DOMAIN = "gauntlet.test"
MAX_BODY = 1 << 20

log = logging.getLogger(__name__)

# http://<the sandbox domain or a name under it>[:80] then a path, query or fragment, in plain ASCII host labels
# and with no character a browser reads differently from a naive parser (see is_sandbox_url).
_SANDBOX_URL = re.compile(
    r"http://(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)*"
    + re.escape(SANDBOX_DOMAIN)
    + r"(?::80)?(?:[/?#][^\x00-\x1f\x7f\\]*)?",
    re.ASCII | re.IGNORECASE,
)


def is_sandbox_url(url: object) -> bool:
    """Whether ``url``, given to a browser, can only mean a sandbox site over plain HTTP.

    Stricter than any parser on purpose: a browser reads URLs by the WHATWG rules, where ``\\`` is ``/``,
    tabs and newlines vanish, ``user@`` hides the real host and hosts are percent-decoded and IDNA-mapped,
    so ``http://127.0.0.1:8102\\@shop.gauntlet.test/`` is 127.0.0.1 to Chromium and shop.gauntlet.test to
    ``urlsplit``. Rather than interpret such spellings, only one is accepted: ``http://`` + ASCII host labels
    ending in the sandbox domain + an optional ``:80`` + a path, query or fragment without backslashes or
    control characters. (Those are harmless after the host, but a relative redirect ``/\\host`` that
    ``urljoin`` keeps as a path is ``//host`` to a browser.) Userinfo, other ports and schemes, IP addresses
    in any notation, percent-encoded or non-ASCII hosts and trailing dots are all refused.
    """
    return isinstance(url, str) and _SANDBOX_URL.fullmatch(url) is not None


def _page(status: int, title: str, text: str) -> Response:
    body = f"<!doctype html><title>{escape(title)}</title><h1>{escape(title)}</h1><p>{escape(text)}</p>"
    return Response(body, status=status)


class _QuietServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    # Chromium opens up to six connections per context at once; the default backlog of 5 would drop some.
    request_queue_size = 128

    def handle_error(self, request, client_address):
        # Chromium drops idle keep-alive connections when a context closes; that is not an error.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        log.exception("sandbox server: error serving %s", client_address)


class _Connection(socketserver.BaseRequestHandler):
    sandbox: SandboxServer

    def handle(self) -> None:
        serve_connection(self.request, self.sandbox.respond, max_body=MAX_BODY)


class SandboxServer:
    """Owns the live Worlds and the HTTP server thread. Safe to use from any thread."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        self._worlds: dict[str, World] = {}
        self._worlds_lock = threading.Lock()
        handler = type("Connection", (_Connection,), {"sandbox": self})
        self.httpd = _QuietServer((host, port), handler)
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="sandbox-server", daemon=True)

    @property
    def address(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> SandboxServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def add_world(self, world: World) -> str:
        with self._worlds_lock:
            self._worlds[world.token] = world
        return world.token

    def remove_world(self, world: World) -> None:
        with self._worlds_lock:
            self._worlds.pop(world.token, None)

    def world_for(self, token: str | None) -> World | None:
        if not token:
            return None
        with self._worlds_lock:
            return self._worlds.get(token)

    def respond(self, http_request: HttpRequest) -> HttpReply:
        """The reply to one HTTP request the browser sent through this proxy. Never raises."""
        started = time.perf_counter()
        method, target = http_request.method, http_request.target
        if method == "CONNECT":
            response = _page(403, "Blocked by the sandbox", "HTTPS and tunnels are not available.")
        elif method not in ("GET", "POST", "HEAD"):
            response = _page(501, "Unsupported method", f"The sandbox sites do not answer {method} requests.")
        else:
            try:
                request = _site_request(http_request)
            except ValueError:  # a port that is no number, a broken IPv6 literal
                request, response = None, _page(400, "Bad request", "The request's URL cannot be read.")
            if request is not None:
                try:
                    response = self.dispatch(request)
                except Exception:
                    log.exception("sandbox site failed on %s %s", method, target)
                    response = _page(500, "Sandbox error", "The sandbox site failed on this request.")
        payload = response.body.encode("utf-8") if isinstance(response.body, str) else response.body
        headers = [("Content-Type", response.content_type), ("Cache-Control", "no-store"), *response.headers]
        log.debug("%s %s -> %s in %.1f ms", method, target, response.status, (time.perf_counter() - started) * 1000)
        return HttpReply(response.status, headers, payload)

    def dispatch(self, request: Request) -> Response:
        site = SITES.get(request.host)
        if site is None:
            return _page(403, "Blocked by the sandbox", f"{request.host} is not a sandbox site.")
        world = self.world_for(request.cookies.get(WORLD_COOKIE))
        if world is None:
            return _page(403, "No sandbox world", "This browser has no sandbox World (missing cookie).")
        try:
            agent = int(request.cookies.get(AGENT_COOKIE, "0"))
        except ValueError:
            agent = 0
        response = dispatch(world, request, agent)
        location = next((value for name, value in response.headers if name.lower() == "location"), None)
        # The browser follows a redirect without asking the runner's route fence (Playwright does not route
        # redirects), so a redirect leaving the sandbox is refused here, where it is made.
        if location is not None and not is_sandbox_url(urljoin(f"http://{request.host}{request.path}", location)):
            return _page(403, "Blocked by the sandbox", "This page redirects outside the sandbox.")
        return response


def dispatch(world: World, request: Request, agent: int = 0) -> Response:
    """Serve one request of a sandbox site against a World, through the World's overlays.

    A request's writes are atomic under the guard: when one is blocked (``PolicyViolation``), the writes the
    request already made are undone and the browser gets the "Blocked by policy" page (403) instead.
    """
    site = SITES.get(request.host)
    if site is None:
        return _page(403, "Blocked by the sandbox", f"{request.host} is not a sandbox site.")
    with world.lock:
        world.agent = agent if 0 <= agent < MAX_AGENTS else 0
        start = world.position
        try:
            for overlay in world.overlays:
                early = overlay.before_request(world, request)
                if early is not None:
                    return early
            response = site.handle(world, request)
            for overlay in world.overlays:
                response = overlay.after_response(world, request, response)
            return response
        except PolicyViolation as exc:
            kept = _undo_request(world, start)
            return _blocked_page(exc.verdict, request, kept)


def _undo_request(world: World, start: int) -> int:
    """Undo the writes a blocked request made since WAL position ``start``; return how many were kept.

    An irreversible write has left the sandbox in the story (an email to an outside address), so it and the
    writes before it stay: the request is rolled back to just after its last irreversible write. Sites make
    their irreversible write the last of a request (the mail transport, a wire), so in practice nothing is
    kept; the rule is there so a guard can never undo what cannot be undone.
    """
    records = world.wal[start:]
    barrier = max((i + 1 for i, r in enumerate(records) if r.reversibility == IRREVERSIBLE), default=0)
    world.restore(start + barrier)
    return barrier


BLOCKED_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Blocked by policy</title><link rel="icon" href="data:,">
<style>body{{font:16px/1.45 system-ui,sans-serif;background:#f6f7f9;margin:0}}
main{{max-width:34rem;margin:4rem auto;background:#fff;border:1px solid #d8dde3;border-radius:.5rem;padding:1.5rem}}
.alert{{background:#fde8e7;border:1px solid #b3261e;padding:.6rem;border-radius:.4rem}}</style></head>
<body><main><h1>Blocked by policy</h1>
<p class="alert" role="alert">{reason}</p>
<p>The policy <strong>{policy}</strong> does not allow this change. {saved}</p>
<p><a href="{back}">Go back</a></p></main></body></html>"""


def _blocked_page(verdict, request: Request, kept: int) -> Response:
    if kept:
        saved = "What had already left the sandbox could not be called back; everything else was undone."
    else:
        saved = "Nothing was saved."
    referer = urlsplit(request.headers.get("referer", ""))
    back = referer.path + (f"?{referer.query}" if referer.query else "") if referer.hostname == request.host else "/"
    body = BLOCKED_PAGE.format(
        reason=escape(verdict.reason), policy=escape(verdict.policy), saved=saved, back=escape(safe_next(back))
    )
    return Response(body, status=403)


def _site_request(http_request: HttpRequest) -> Request:
    """The site's view of a proxy request: host, path and query from the target, cookies, the form."""
    url = urlsplit(http_request.target)
    host = (url.hostname or http_request.header("host")).lower()
    if url.scheme not in ("http", "") or url.port not in (None, 80):
        host = ""  # any explicit port or scheme other than plain http is outside the sandbox
    path = url.path or "/"
    if url.query:
        path += "?" + url.query
    cookies = SimpleCookie()
    try:
        cookies.load(http_request.header("cookie"))
    except Exception:
        cookies = SimpleCookie()
    form = {}
    if "application/x-www-form-urlencoded" in http_request.header("content-type"):
        form = dict(parse_qsl(http_request.body.decode("utf-8", "replace"), keep_blank_values=True))
    return Request(
        # A HEAD request is served as the GET it stands for; the connection leaves the body out.
        method="GET" if http_request.method == "HEAD" else http_request.method,
        host=host,
        path=path,
        query=dict(parse_qsl(url.query, keep_blank_values=True)),
        form=form,
        cookies={k: m.value for k, m in cookies.items()},
        headers=dict(http_request.headers),
    )
