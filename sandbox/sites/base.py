"""What a sandbox site is: a function of (World, Request) to Response, served by the sandbox server."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import quote

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


SIGNED_OUT = "signed_out"

LOGIN_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in — {title}</title><link rel="icon" href="data:,">
<style>body{{font:16px/1.45 system-ui,sans-serif;background:#f6f7f9;margin:0}}
main{{max-width:24rem;margin:4rem auto;background:#fff;border:1px solid #d8dde3;border-radius:.5rem;padding:1.5rem}}
label{{display:block;margin-top:.8rem;font-weight:600}} input{{width:100%;padding:.35rem;font:inherit}}
button{{margin-top:1rem;background:#1d3557;color:#fff;border:0;border-radius:.35rem;padding:.45rem .9rem;font:inherit}}
.alert{{background:#fde8e7;border:1px solid #b3261e;padding:.6rem;border-radius:.4rem}}</style></head>
<body><main><h1>Sign in to {title}</h1>{message}
<form method="post" action="/login">
<label for="username">Username</label><input id="username" name="username" autocomplete="username" value="{username}">
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password">
<input type="hidden" name="next" value="{next}">
<button type="submit">Sign in</button>
</form></main></body></html>"""

UNAVAILABLE_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>503 Service temporarily unavailable</title></head>
<body><main><h1>Service temporarily unavailable</h1>
<p role="alert">The server could not handle your request right now. Nothing was saved. Please try again.</p>
<p><a href="{back}">Try again</a></p></main></body></html>"""


# What a site answers for a path it has no page for, or a method a page does not take.
ERROR_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title></head><body><h1>{heading}</h1></body></html>"""


def safe_next(target: str | None) -> str:
    """A local path to return to after a form; anything else (absolute URLs, ``//host``, and ``/\\host``,
    which browsers read as ``//host``) becomes ``/``."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def signed_in(world: World, site: str, agent: int | None = None) -> bool:
    agent = world.agent if agent is None else agent
    return f"{site}:{agent}" not in world.flags.get(SIGNED_OUT, set())


def sign_out(world: World, site: str, agent: int | None = None) -> None:
    """Sign the agent (or, with ``agent=None`` … every agent of the World) out of a site. Not World state."""
    signed_out = world.flags.setdefault(SIGNED_OUT, set())
    agents = range(16) if agent is None else [agent]
    signed_out.update(f"{site}:{a}" for a in agents)


def signed_out_sites(world: World, agent: int) -> list[str]:
    """The sites ``agent`` is signed out of: its sessions, which a checkpoint keeps with the browser state."""
    return sorted(entry.split(":")[0] for entry in world.flags.get(SIGNED_OUT, set()) if entry.endswith(f":{agent}"))


def restore_sessions(world: World, agent: int, signed_out: list[str]) -> None:
    """Put ``agent``'s sessions back as :func:`signed_out_sites` recorded them."""
    entries = world.flags.setdefault(SIGNED_OUT, set())
    entries.difference_update({e for e in entries if e.endswith(f":{agent}")})
    entries.update(f"{site}:{agent}" for site in signed_out)


def unavailable(back: str) -> Response:
    """A transient 503 page with a way back, for noisy overlays."""
    return Response(UNAVAILABLE_PAGE.format(back=escape(safe_next(back))), status=503, headers=[("Retry-After", "1")])


class Site:
    """A sandbox web app. Subclasses register routes with :meth:`route` and build their seed state.

    Every site shares one sign-in for the persona (``sandbox.persona``). Episodes start signed in; an overlay
    can sign an agent out (:func:`sign_out`), after which every page but ``/login`` redirects there. Being
    signed in is episode bookkeeping in ``world.flags``, not site state, so it never enters the digest.
    """

    name = ""
    host = ""
    title = ""
    login_required = True
    routes: list[tuple[str, re.Pattern, Handler]]

    def __init__(self):
        self.routes = []

    def route(self, method: str, pattern: str, handler: Handler) -> None:
        self.routes.append((method, re.compile(f"^{pattern}$"), handler))

    def seed_state(self, seed: int) -> dict[str, dict]:
        """The site's initial tables, a pure function of the seed. Its rows of ``sandbox.world.COUNTERS`` (the
        one table sites share) say where the numbering of its seeded tables continues (see World.allocate)."""
        raise NotImplementedError

    def login_page(self, request: Request, message: str = "", username: str = "", status: int = 200) -> Response:
        nxt = safe_next(request.form.get("next") or request.query.get("next"))
        alert = f'<p class="alert" role="alert">{escape(message)}</p>' if message else ""
        body = LOGIN_PAGE.format(
            title=escape(self.title or self.host), message=alert, username=escape(username), next=escape(nxt)
        )
        return Response(body, status=status)

    def _login(self, world: World, request: Request) -> Response:
        from sandbox import persona

        if request.method != "POST":
            return self.login_page(request)
        username = request.form.get("username", "").strip()
        if username != persona.USERNAME or request.form.get("password", "") != persona.PASSWORD:
            return self.login_page(request, "Wrong username or password.", username, status=401)
        world.flags.setdefault(SIGNED_OUT, set()).discard(f"{self.name}:{world.agent}")
        return redirect(safe_next(request.form.get("next")))

    def handle(self, world: World, request: Request) -> Response:
        path = request.path.split("?", 1)[0]
        if path == "/login":
            return self._login(world, request)
        if path == "/logout" and request.method == "POST":
            sign_out(world, self.name, world.agent)
            return redirect("/login")
        if self.login_required and not signed_in(world, self.name):
            if request.method == "GET":
                return redirect(f"/login?next={quote(request.path, safe='')}")
            return self.login_page(request, "Your session has expired. Sign in again.", status=401)
        allowed = False
        for method, pattern, handler in self.routes:
            match = pattern.match(path)
            if not match:
                continue
            allowed = True
            if method == request.method:
                return handler(world, request, **match.groupdict())
        if allowed:
            return Response(ERROR_PAGE.format(title="Method not allowed", heading="405 Method not allowed"), status=405)
        return Response(ERROR_PAGE.format(title="Not found", heading="404 Not found"), status=404)
