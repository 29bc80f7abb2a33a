"""What a sandbox site is: a function of (World, Request) to Response, served by the sandbox server."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from sandbox.world import World


@dataclass
class Request:
    method: str
    host: str
    path: str
    query: dict[str, str] = field(default_factory=dict)
    form: dict[str, str] = field(default_factory=dict)
    cookies: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://{self.host}{self.path}"


@dataclass
class Response:
    body: str = ""
    status: int = 200
    headers: list[tuple[str, str]] = field(default_factory=list)
    content_type: str = "text/html; charset=utf-8"


def redirect(location: str) -> Response:
    return Response(status=303, headers=[("Location", location)])


def escape(value: object) -> str:
    return html.escape(str(value), quote=True)


Handler = Callable[..., Response]


class Site:
    """A sandbox web app. Subclasses register routes with :meth:`route` and build their seed state."""

    name = ""
    host = ""
    routes: list[tuple[str, re.Pattern, Handler]]

    def __init__(self):
        self.routes = []

    def route(self, method: str, pattern: str, handler: Handler) -> None:
        self.routes.append((method, re.compile(f"^{pattern}$"), handler))

    def seed_state(self, seed: int) -> dict[str, dict]:
        """The site's initial tables, a pure function of the seed."""
        raise NotImplementedError

    def handle(self, world: World, request: Request) -> Response:
        path = request.path.split("?", 1)[0]
        allowed = False
        for method, pattern, handler in self.routes:
            match = pattern.match(path)
            if not match:
                continue
            allowed = True
            if method == request.method:
                return handler(world, request, **match.groupdict())
        if allowed:
            return Response("<h1>405 Method not allowed</h1>", status=405)
        return Response("<title>Not found</title><h1>404 Not found</h1>", status=404)
