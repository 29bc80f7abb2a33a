"""The browser fence, in real Chromium through the runner: an agent's browser reaches the sandbox sites only.

A scripted HTTP agent tries every escape it can ask for (``goto`` with URLs a naive parser misreads, other
schemes, other hosts) and opens hostile sandbox pages (a test-only site) that embed, fetch, redirect and
navigate to a loopback canary standing for the dashboard or any other local service. The canary must
never hear from the browser, and the page-level results show which fence stopped each attempt.
"""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from sandbox.scenarios import SITES
from sandbox.server import is_sandbox_url
from sandbox.sites.base import Response, Site, redirect
from tests import episodes

pytestmark = pytest.mark.browser

ESCAPE = "http://escape.gauntlet.test"
PIXEL = "data:image/gif;base64,R0lGODlhAQABAAAAACH5BAEAAAAALAAAAAABAAEAAAIBAAA="

EMBEDS = """<!doctype html><html><head><meta charset="utf-8"><title>Embeds</title>
<script>function say(id, what) {{ document.getElementById(id).textContent = id + " " + what; }}</script>
<link rel="stylesheet" href="{canary}/style.css"><script src="{canary}/script.js"></script></head><body>
<p id="fetch">fetch pending</p><p id="beacon">beacon pending</p><p id="socket">socket pending</p>
<p id="image">image pending</p><p id="pixel">pixel pending</p>
<img src="{canary}/image.png" onload="say('image', 'loaded')" onerror="say('image', 'blocked')">
<img src="{pixel}" onload="say('pixel', 'loaded')" onerror="say('pixel', 'blocked')">
<iframe src="{canary}/frame" title="local frame"></iframe>
<iframe src="{dashboard}/" title="dashboard frame"></iframe>
<script>
fetch("{canary}/fetch", {{mode: "no-cors"}}).then(() => say("fetch", "answered"), () => say("fetch", "blocked"));
say("beacon", navigator.sendBeacon("{canary}/beacon", "x") ? "queued" : "refused");
try {{
  const socket = new WebSocket("{socket}/ws");
  socket.onopen = () => say("socket", "open");
  socket.onclose = () => say("socket", "closed");
}} catch (e) {{ say("socket", "refused"); }}
</script></body></html>"""

NAVIGATE = """<!doctype html><html><head><meta charset="utf-8"><title>Leaving</title></head><body>
<p>Leaving</p><script>{script}</script></body></html>"""


class Canary:
    """A loopback HTTP server that records whatever reaches it; the browser must never get here."""

    def __init__(self):
        self.requests: list[str] = []
        canary = self

        class Handler(BaseHTTPRequestHandler):
            def _record(self):
                canary.requests.append(f"{self.command} {self.path}")
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST = do_CONNECT = _record  # noqa: N815

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_port
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class EscapeSite(Site):
    """A hostile sandbox site, for this test only."""

    name = "escape"
    host = "escape.gauntlet.test"
    title = "Escape"
    login_required = False

    def __init__(self, port: int):
        super().__init__()
        canary, dashboard = f"http://127.0.0.1:{port}", f"http://localhost:{port}"
        pages = {
            "/embeds": EMBEDS.format(canary=canary, dashboard=dashboard, socket=f"ws://127.0.0.1:{port}", pixel=PIXEL),
            "/to-outside": NAVIGATE.format(script=f'location.href = "{canary}/navigated";'),
            "/to-data": NAVIGATE.format(script='location.href = "data:text/html,<title>escaped</title>";'),
            "/to-file": NAVIGATE.format(script='location.href = "file:///etc/hostname";'),
            "/popup": NAVIGATE.format(script=f'window.open("{canary}/popup");'),
            "/to-blob": NAVIGATE.format(
                script="location.href = URL.createObjectURL(new Blob(['<title>escaped</title>'], {type: 'text/html'}));"
            ),
        }
        for path, body in pages.items():
            self.route("GET", path, lambda world, request, body=body: Response(body))
        self.route("GET", "/redirect-out", lambda world, request: redirect(f"{canary}/redirected"))
        self.route("GET", "/redirect-backslash", lambda world, request: redirect(f"/\\127.0.0.1:{port}/redirected"))
        self.route("GET", "/redirect-userinfo", lambda world, request: redirect(f"http://x@127.0.0.1:{port}/"))

    def seed_state(self, seed: int) -> dict[str, dict]:
        return {}


@pytest.fixture
def canary():
    server = Canary()
    site = EscapeSite(server.port)
    SITES[site.host] = site
    yield server
    SITES.pop(site.host, None)
    server.close()


def escape_urls(port: int) -> list[str]:
    local = f"127.0.0.1:{port}"
    return [
        f"http://{local}\\@shop.gauntlet.test/",
        f"http://{local}/",
        f"http://shop.gauntlet.test@{local}/",
        f"http://shop.gauntlet.test:80@{local}/",
        "http://user:pass@shop.gauntlet.test/",
        f"http://[::1]:{port}/",
        f"http://[::ffff:127.0.0.1]:{port}/",
        f"http://2130706433:{port}/",
        f"http://0x7f000001:{port}/",
        f"http://017700000001:{port}/",
        f"http://127.1:{port}/",
        f"http://localhost:{port}/",
        f"http://shop.gauntlet.test\\@{local}/",
        f"http:\\\\{local}/",
        f"http:/{local}/",
        f"HTTP://{local}/",
        f" http://{local}/",
        f"http://shop.gauntlet.te\tst@{local}/",
        "http://shop%2Egauntlet%2Etest/",
        "http://shop.gauntlet.test./",
        "http://shop.gauntlet.test:8080/",
        "https://shop.gauntlet.test/",
        "file:///etc/passwd",
        "chrome://version",
        "view-source:http://shop.gauntlet.test/",
        "data:text/html,<h1>escaped</h1>",
        "blob:http://shop.gauntlet.test/0b6f0b9c-0000-4000-8000-000000000000",
        f"ws://{local}/",
        f"wss://{local}/",
        "javascript:fetch('http://127.0.0.1/')",
        "about:blank",
    ]


def test_every_escape_url_is_refused_by_goto(canary):
    urls = escape_urls(canary.port)
    assert not any(is_sandbox_url(url) for url in urls)
    observations = episodes.play_script([f"goto({url!r})" for url in urls])
    for url, observation in zip(urls, observations, strict=True):
        assert observation["last_action_error"].startswith("goto refused"), url
        assert observation["url"] == "http://shop.gauntlet.test/", url
    assert canary.requests == []


def test_sandbox_pages_cannot_reach_outside_while_data_images_still_load(canary):
    # Each result is written by an event handler; a few waits leave a loaded machine time to run them all.
    observations = episodes.play_script([f"goto('{ESCAPE}/embeds')"] + ["noop(wait_ms=500)"] * 2)
    page = observations[-1]["axtree"]
    assert "pending" not in page, page
    assert "fetch blocked" in page  # refused inside Chromium: through the proxy alone it would be answered
    assert "image blocked" in page and "pixel loaded" in page
    assert "beacon refused" in page or "beacon queued" in page
    assert "socket open" not in page
    assert canary.requests == []


@pytest.mark.parametrize("path", ["/redirect-out", "/redirect-backslash", "/redirect-userinfo"])
def test_a_sandbox_redirect_to_the_outside_is_refused(canary, path):
    observation = episodes.play_script([f"goto('{ESCAPE}{path}')"])[-1]
    assert observation["title"] == "Blocked by the sandbox"
    assert observation["url"] == f"{ESCAPE}{path}"
    assert canary.requests == []


def test_pages_cannot_navigate_or_open_tabs_outside(canary):
    paths = ("/to-outside", "/to-data", "/to-file", "/popup", "/to-blob")
    # The blob: navigation starts while the page loads; a short wait makes sure it happened either way.
    actions = [f"goto('{ESCAPE}{path}')" for path in paths] + ["noop(wait_ms=300)"]
    outside, data, file, popup, *blob = episodes.play_script(actions)
    assert outside["title"] == "Blocked by the sandbox"
    assert data["url"] == f"{ESCAPE}/to-data" and file["url"] == f"{ESCAPE}/to-file"
    assert blob[-1]["url"] == "about:blank"
    assert any("left the sandbox for a blob: document" in (o["last_action_error"] or "") for o in blob)
    for tab in popup["tabs"]:
        assert is_sandbox_url(tab["url"]) or tab["url"].startswith(f"http://127.0.0.1:{canary.port}/")
    assert canary.requests == []
