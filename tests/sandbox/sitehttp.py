"""HTTP plumbing shared by the site tests: a browser stand-in that reaches a site through the sandbox server.

Requests go through urllib with the sandbox server as proxy and the World cookie, exactly as Chromium
reaches a site; redirects are not followed, so tests see the 303s and their ``Location``.
"""

import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

from sandbox.server import WORLD_COOKIE, SandboxServer
from sandbox.world import World


@dataclass
class Reply:
    status: int
    headers: dict
    body: str

    @property
    def title(self) -> str:
        match = re.search(r"<title>(.*?)</title>", self.body, re.S)
        return match[1] if match else ""

    @property
    def location(self) -> str:
        return self.headers.get("Location", "")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class SiteClient:
    """A browser stand-in: proxied through the sandbox server, carrying one World's cookie, talking to one host."""

    def __init__(self, server: SandboxServer, world: World, host: str):
        self.world = world
        self.host = host
        server.add_world(world)
        self.opener = urllib.request.build_opener(urllib.request.ProxyHandler({"http": server.address}), _NoRedirect())

    def request(self, method: str, path: str, form: dict | None = None) -> Reply:
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        request = urllib.request.Request(f"http://{self.host}{path}", data=data, method=method)
        request.add_header("Cookie", f"{WORLD_COOKIE}={self.world.token}")
        if data is not None:
            request.add_header("Content-Type", "application/x-www-form-urlencoded")
        try:
            with self.opener.open(request, timeout=10) as response:
                return Reply(response.status, dict(response.headers), response.read().decode())
        except urllib.error.HTTPError as error:
            return Reply(error.code, dict(error.headers), error.read().decode())

    def get(self, path: str) -> Reply:
        return self.request("GET", path)

    def post(self, path: str, form: dict) -> Reply:
        return self.request("POST", path, form)
