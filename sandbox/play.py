"""Try it yourself: a scenario's sandbox opened in a person's own browser, through the dashboard.

The dashboard forwards ``/play/<token>/<host>/<path>`` to :func:`sandbox.server.dispatch` against a fresh
World, and rewrites the sites' URLs (absolute ``http://*.gauntlet.test/…`` and root-relative ``/…``) so every
link and form stays inside ``/play/<token>/``. The person sees the same pages, overlays included, that an
agent sees. Worlds live in this process for ``ttl_s`` and belong to the user who opened them.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from dataclasses import dataclass

from sandbox.scenarios import build_scenario
from sandbox.server import SANDBOX_DOMAIN, dispatch
from sandbox.sites.base import Request, Response
from sandbox.world import World

_ABSOLUTE = re.compile(r"http://([a-z0-9.-]+\." + re.escape(SANDBOX_DOMAIN) + r")(?=[/\"'?#\s<]|$)", re.I)
_ROOT_RELATIVE = re.compile(r"""(\b(?:href|action|src)=["'])/(?!/)""", re.I)


@dataclass
class _Session:
    world: World
    owner: int
    start_host: str
    start_path: str
    expires: float


class Playground:
    def __init__(self, ttl_s: int = 3600, max_worlds: int = 100):
        self.ttl_s = ttl_s
        self.max_worlds = max_worlds
        self._sessions: dict[str, _Session] = {}
        self._lock = threading.Lock()

    def open(self, *, owner: int, key: str, task: str, overlays: list[str], params: dict, seed: int) -> str:
        """Build a fresh World for the scenario; return the token of its playground."""
        instance = build_scenario(key=key, task=task, overlays=overlays, params=params, seed=seed)
        token = secrets.token_urlsafe(18)
        now = time.monotonic()
        with self._lock:
            for stale in [t for t, s in self._sessions.items() if s.expires < now]:
                del self._sessions[stale]
            if len(self._sessions) >= self.max_worlds:
                oldest = min(self._sessions, key=lambda t: self._sessions[t].expires)
                del self._sessions[oldest]
            self._sessions[token] = _Session(
                instance.world, owner, instance.site.host, instance.task.start_path, now + self.ttl_s
            )
        return token

    def start_url(self, token: str) -> str:
        session = self._sessions[token]
        return f"/play/{token}/{session.start_host}{session.start_path}"

    def session(self, token: str, owner: int) -> _Session | None:
        with self._lock:
            session = self._sessions.get(token)
        if session is None or session.owner != owner or session.expires < time.monotonic():
            return None
        return session

    def serve(self, token: str, owner: int, request: Request) -> Response | None:
        """Serve a request in the playground; None when the token is unknown, expired or someone else's."""
        session = self.session(token, owner)
        if session is None:
            return None
        response = dispatch(session.world, request)
        return rewrite(response, token, request.host)


def rewrite(response: Response, token: str, host: str) -> Response:
    """Keep links, forms and redirects inside ``/play/<token>/``."""
    prefix = f"/play/{token}/"
    headers = []
    for name, value in response.headers:
        if name.lower() == "location":
            value = _ABSOLUTE.sub(lambda m: prefix + m[1], value)
            if value.startswith("/") and not value.startswith(prefix):
                value = f"{prefix}{host}{value}"
        headers.append((name, value))
    body = response.body
    if isinstance(body, str) and response.content_type.startswith("text/html"):
        # Root-relative first: the absolute rewrite produces root-relative URLs that are already final.
        body = _ROOT_RELATIVE.sub(lambda m: f"{m[1]}{prefix}{host}/", body)
        body = _ABSOLUTE.sub(lambda m: prefix + m[1], body)
    return Response(body, status=response.status, headers=headers, content_type=response.content_type)


PLAYGROUND = Playground()
