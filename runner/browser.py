"""Browser control: launch Chromium fenced by the sandbox proxy, observe a page, execute an action.

Three fences keep an agent's browser inside the sandbox: Chromium's only proxy is the sandbox server, which
serves the sandbox hosts and nothing else; every context routes any request that is not plainly for a
sandbox host to a refusal before it leaves Chromium (:func:`new_context`); and ``goto`` accepts only URLs
that :func:`is_sandbox_url` passes. Redirects are not routed by Playwright, so the sandbox server refuses to
send one that leaves the sandbox. After each action, a tab showing a document made inside the browser
(``blob:``) is blanked.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import re

from playwright.async_api import Browser, BrowserContext, Page, Playwright, Route, WebSocketRoute
from playwright.async_api import Error as PlaywrightError

from runner.actions import Action
from runner.axtree import parse_snapshot
from runner.browsergym import read_browsergym
from runner.observation import DEFAULT_OBSERVATION, draw_marks, mark_boxes, read_dom
from sandbox.server import SANDBOX_DOMAIN, is_sandbox_url

# Playwright passes Chromium a --disable-features and an --enable-features list of its own, and Chromium keeps
# only the last of each it is given: ours repeat Playwright's (tests/runner/test_chromium_memory.py checks they
# still do) and add what saves memory:
# - the omnibox pop-ups off, web pages that headless Chromium preloads for every context in a renderer process
#   of its own (~40 MiB per episode, for a pop-up headless never shows);
# - no spare renderer, a process Chromium keeps started for the next page, which a worker's episodes rarely
#   wait for (their contexts are made ahead) but which holds a renderer's memory all along;
# - the network service on a thread of the browser process rather than in a process of its own (~20 MiB).
PLAYWRIGHT_DISABLED_FEATURES = [
    "AimEnabled",
    "AvoidCorsURLLoaderRestartOnRedirect",
    "AvoidUnnecessaryBeforeUnloadCheckSync",
    "DestroyProfileOnBrowserClose",
    "HttpsFirstBalancedModeAutoEnable",
    "HttpsUpgrades",
    "LensOverlay",
    "MediaRouter",
    "NetworkTimeServiceQuerying",
    "OptimizationHints",
    "PaintHolding",
    "PreconnectToSearch",
    "TcpPortRandomizationWin",
    "ThirdPartyStoragePartitioning",
    "msEdgeUpdateLaunchServicesPreferredVersion",
    "msForceBrowserSignIn",
]
DISABLED_FEATURES = [
    *PLAYWRIGHT_DISABLED_FEATURES,
    "WebUIOmniboxPopup",
    "WebUIOmniboxAimPopup",
    "SpareRendererForSitePerProcess",
]
# Playwright leaves out its new-surface screenshots when PLAYWRIGHT_LEGACY_SCREENSHOT is set; so do we.
PLAYWRIGHT_ENABLED_FEATURES = [
    *([] if os.environ.get("PLAYWRIGHT_LEGACY_SCREENSHOT") else ["CDPScreenshotNewSurface"]),
    "SkipListAccountsWithoutGaiaCookies",
]
ENABLED_FEATURES = [*PLAYWRIGHT_ENABLED_FEATURES, "NetworkServiceInProcess2"]
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--disable-features=" + ",".join(DISABLED_FEATURES),
    "--enable-features=" + ",".join(ENABLED_FEATURES),
    # The software GPU in the browser process rather than in a process of its own (one process less).
    "--in-process-gpu",
]
ACTION_TIMEOUT_MS = 2000
NAVIGATION_TIMEOUT_MS = 10000
VIEWPORT = {"width": 1100, "height": 800}
# What Playwright says when the document it worked on was replaced by a navigation.
_NAVIGATION_SIGNS = (
    "context was destroyed",
    "navigat",
    "Cannot find context with specified id",
    "JSHandles can be evaluated only in the context",
)


def chromium_path() -> str:
    return os.environ.get("GAUNTLET_CHROMIUM", "/usr/bin/chromium")


async def launch_browser(playwright: Playwright, proxy_server: str, timeout_s: float = 180) -> Browser:
    """Chromium whose every request, loopback included, goes through the sandbox server."""
    return await playwright.chromium.launch(
        timeout=timeout_s * 1000,
        executable_path=chromium_path(),
        args=CHROMIUM_ARGS,
        headless=True,
        # "<-loopback>" removes Chromium's implicit bypass for localhost, so nothing escapes the proxy.
        proxy={"server": proxy_server, "bypass": "<-loopback>"},
    )


# Requests Chromium makes are already in canonical form (lower-case host, no default port, a path), so
# anything that does not start like this is not for a sandbox host: file:, https:, ws: handshakes, other
# hosts, userinfo. Matched inside Playwright, so sandbox requests never wait for Python.
_OUTSIDE = re.compile(r"^(?!http://(?:[a-z0-9-]+\.)*" + re.escape(SANDBOX_DOMAIN) + "/)")
_ANY = re.compile(".*")
FENCED_PAGE = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Blocked by the sandbox</title>'
    '<link rel="icon" href="data:,"></head><body><h1>Blocked by the sandbox</h1>'
    "<p>Only the sandbox sites can be reached from this browser.</p></body></html>"
)


async def _refuse_request(route: Route) -> None:
    request = route.request
    if request.is_navigation_request() and request.url.startswith(("http:", "https:")):
        # A page for a refused navigation, like the sandbox server's, rather than Chromium's error page.
        await route.fulfill(status=403, content_type="text/html; charset=utf-8", body=FENCED_PAGE)
    else:
        await route.abort("blockedbyclient")


async def _refuse_socket(socket: WebSocketRoute) -> None:
    # Sandbox sites use no websockets; a handler that never connects keeps the socket off the network.
    await socket.close(code=1008, reason="outside the sandbox")


async def new_context(browser: Browser) -> BrowserContext:
    """A fresh browser context for one agent of one episode, fenced: a request for anything but a sandbox
    host over plain http (other hosts, https:, file:, ws: and wss:) is refused before it leaves Chromium,
    a refused page load shows a "Blocked by the sandbox" page, and service workers, which routing cannot
    see, are off. data: and blob: subresources, which never reach the network, keep working."""
    context = await browser.new_context(viewport=VIEWPORT, service_workers="block")
    await context.route(_OUTSIDE, _refuse_request)
    await context.route_web_socket(_ANY, _refuse_socket)
    return context


def _short_error(exc: Exception) -> str:
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    for prefix in ("Locator.", "Page.", "Mouse.", "Keyboard.", "FileChooser."):
        if message.startswith(prefix):
            message = message.split(": ", 1)[-1]
    return message[:300]


async def observe(page: Page, *, options: frozenset[str] = DEFAULT_OBSERVATION, record_jpeg: bool = False) -> dict:
    """The page as the agent contract describes it, for the observation ``options`` of the agent version.

    Returns ``url``, ``title``, ``tabs`` (each open tab's URL and title), ``axtree`` and ``elements`` always
    (the snapshot is taken whatever the options: refs and the observation digest come from it), ``dom``,
    ``screenshot`` (base64 JPEG), ``set_of_marks`` (base64 JPEG) and ``browsergym`` (the page's part of that
    view, :func:`runner.browsergym.read_browsergym`) when in ``options``, else None, and under ``_jpeg`` the
    raw JPEG to record when ``record_jpeg`` (popped by the runner), else None. One screenshot serves all
    three; the default options cost a snapshot and no more round trips (the other tabs' titles are read
    alongside).
    """
    dom = boxed = jpeg = browsergym = None
    others = [p for p in page.context.pages if p is not page]
    wants_image = "screenshot" in options or "set_of_marks" in options
    for attempt in range(3):
        try:
            await page.wait_for_load_state("domcontentloaded", timeout=NAVIGATION_TIMEOUT_MS)
            # Three reads of the same page, none changing it: one round trip's wait instead of three.
            reads = [page.aria_snapshot(mode="ai"), page.title()]
            if record_jpeg or wants_image:
                reads.append(page.screenshot(type="jpeg", quality=60))
            results = await asyncio.gather(*reads, _titles(others), return_exceptions=True)
            failed = next((r for r in results if isinstance(r, BaseException)), None)
            if failed is not None:
                raise failed
            axtree, title, titles = results[0], results[1], results[-1]
            jpeg = results[2] if len(results) == 4 else None
            # Parsed once here; every later reader of this observation gets the same parse (parse_snapshot).
            elements = list(parse_snapshot(axtree).elements)
            if "dom" in options:
                dom = await read_dom(page, elements)
            if "set_of_marks" in options:
                boxed = await page.aria_snapshot(mode="ai", boxes=True)
            if "browsergym" in options:
                browsergym = await read_browsergym(page, elements)
            break
        except PlaywrightError as exc:
            # A navigation can replace the document between these calls; observe the new one.
            if attempt == 2 or not any(sign in str(exc) for sign in _NAVIGATION_SIGNS):
                raise
            await asyncio.sleep(0.05)
    marks = None
    if boxed is not None:
        css_width = (page.viewport_size or {}).get("width", 0)
        # Parsing, decoding, drawing and encoding take CPU: off the loop that serves every episode.
        marks = await asyncio.to_thread(lambda: draw_marks(jpeg, mark_boxes(axtree, boxed), css_width))
    titles[page] = title
    tabs = [{"url": p.url, "title": titles.get(p, ""), "active": p is page} for p in page.context.pages]
    return {
        "url": page.url,
        "title": title,
        "tabs": tabs,
        "axtree": axtree,
        "dom": dom,
        "elements": elements,
        "screenshot": base64.b64encode(jpeg).decode() if "screenshot" in options else None,
        "set_of_marks": base64.b64encode(marks).decode() if marks else None,
        "browsergym": browsergym,
        "_jpeg": jpeg if record_jpeg else None,
    }


async def _titles(pages: list[Page]) -> dict[Page, str]:
    """The titles of ``pages`` (other tabs than the observed one), read concurrently; a tab whose document is
    being replaced meanwhile gets ""."""
    found = await asyncio.gather(*(p.title() for p in pages), return_exceptions=True)
    return {p: t if isinstance(t, str) else "" for p, t in zip(pages, found, strict=True)}


def observation_digest(observation: dict) -> str:
    """A fingerprint of what the agent saw: URL + accessibility tree."""
    return hashlib.sha256(f"{observation['url']}\n{observation['axtree']}".encode()).hexdigest()[:16]


# The files an agent may upload (upload_file, mouse_upload_file): made here, in memory, never read from disk, so
# an agent can exercise an upload form without any of the runner's files reaching a page. Name: (type, bytes).
UPLOAD_FILES: dict[str, tuple[str, bytes]] = {
    "my_receipt.pdf": (
        "application/pdf",
        b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\n"
        b"trailer<</Root 1 0 R>>\n%%EOF\n",
    ),
    "notes.txt": ("text/plain", b"Shopping list: milk, eggs, bread.\n"),
    "data.csv": ("text/csv", b"item,quantity\nmilk,1\neggs,12\n"),
}


def _upload_payloads(file: str | list[str]) -> list[dict] | str:
    """The payloads of the named sandbox files, or an error for the agent naming one that is not among them."""
    names = [file] if isinstance(file, str) else file
    for name in names:
        if name not in UPLOAD_FILES:
            return f"upload refused: {name!r} is not one of the files agents may upload ({', '.join(UPLOAD_FILES)})"
    return [{"name": n, "mimeType": UPLOAD_FILES[n][0], "buffer": UPLOAD_FILES[n][1]} for n in names]


async def _upload(page: Page, click, file: str | list[str]) -> str:
    """Click (``click()``), wait for the file chooser it opens, and choose the sandbox files named."""
    payloads = _upload_payloads(file)
    if isinstance(payloads, str):
        return payloads
    async with page.expect_file_chooser(timeout=ACTION_TIMEOUT_MS) as chooser:
        await click()
    await (await chooser.value).set_files(payloads)
    return ""


async def _fill(locator, value: str, autocomplete: bool) -> None:
    """Fill a field; with ``autocomplete``, BrowserGym's way of opening a page's suggestions: fill all but the last
    character, then type that one as a key press, which fires the key events a plain fill does not."""
    if not autocomplete:
        await locator.fill(value, timeout=ACTION_TIMEOUT_MS)
        return
    await locator.clear(timeout=ACTION_TIMEOUT_MS)
    if len(value) > 1:
        await locator.fill(value[:-1], timeout=ACTION_TIMEOUT_MS)
    if value:
        await locator.press_sequentially(value[-1], timeout=ACTION_TIMEOUT_MS)


async def switch_tab(page: Page, action: Action) -> tuple[Page, str]:
    """Perform a tab action (``new_tab``, ``tab_focus``, ``tab_close``): (the agent's page from now on, "" or an
    error for the agent). As in BrowserGym, a new tab is blank and becomes the active one, ``tab_focus`` takes a
    Python index into the open tabs (``-1``: the last), and closing a tab makes the most recently opened one that
    is left active; closing the last tab opens a blank one, so the agent always has a page."""
    context = page.context
    try:
        match action.name:
            case "new_tab":
                page = await context.new_page()
            case "tab_focus":
                tabs, index = context.pages, action.args["index"]
                if not -len(tabs) <= index < len(tabs):
                    return page, f"no tab {index}: {len(tabs)} tab(s) open, numbered from 0"
                page = tabs[index]
            case "tab_close":
                await page.close()
                page = context.pages[-1] if context.pages else await context.new_page()
        await page.bring_to_front()
    except PlaywrightError as exc:
        return page, _short_error(exc)
    return page, ""


async def execute(page: Page, action: Action) -> str:
    """Perform a browser action other than a tab action (:func:`switch_tab`). Returns "" on success or an
    error message for the agent."""
    args = action.args
    mouse, keyboard = page.mouse, page.keyboard
    try:
        match action.name:
            case "click" | "dblclick" | "hover" | "focus" | "clear" | "check" | "uncheck":
                locator = page.locator(f"aria-ref={args['ref']}")
                if action.name in ("click", "dblclick"):
                    method = locator.click if action.name == "click" else locator.dblclick
                    await method(timeout=ACTION_TIMEOUT_MS, button=args["button"], modifiers=args["modifiers"] or None)
                else:
                    await getattr(locator, action.name)(timeout=ACTION_TIMEOUT_MS)
            case "fill":
                locator = page.locator(f"aria-ref={args['ref']}")
                await _fill(locator, args["value"], args["enable_autocomplete_menu"])
            case "select_option":
                await page.locator(f"aria-ref={args['ref']}").select_option(args["value"], timeout=ACTION_TIMEOUT_MS)
            case "press":
                await page.locator(f"aria-ref={args['ref']}").press(args["key"], timeout=ACTION_TIMEOUT_MS)
            case "drag_and_drop":
                await page.locator(f"aria-ref={args['from_ref']}").hover(timeout=ACTION_TIMEOUT_MS)
                await mouse.down()
                await page.locator(f"aria-ref={args['to_ref']}").hover(timeout=ACTION_TIMEOUT_MS)
                await mouse.up()
            case "upload_file":
                locator = page.locator(f"aria-ref={args['ref']}")
                error = await _upload(page, lambda: locator.click(timeout=ACTION_TIMEOUT_MS), args["file"])
                if error:
                    return error
            case "mouse_upload_file":
                error = await _upload(page, lambda: mouse.click(args["x"], args["y"]), args["file"])
                if error:
                    return error
            case "scroll":
                await mouse.wheel(args["dx"], args["dy"])
            case "scroll_at":
                await mouse.move(args["x"], args["y"])
                await mouse.wheel(args["dx"], args["dy"])
            case "mouse_move":
                await mouse.move(args["x"], args["y"])
            case "mouse_up" | "mouse_down":
                await mouse.move(args["x"], args["y"])
                await (mouse.up if action.name == "mouse_up" else mouse.down)(button=args["button"])
            case "mouse_click":
                await mouse.click(args["x"], args["y"], button=args["button"])
            case "mouse_dblclick":
                await mouse.dblclick(args["x"], args["y"], button=args["button"])
            case "mouse_drag_and_drop":
                await mouse.move(args["from_x"], args["from_y"])
                await mouse.down()
                await mouse.move(args["to_x"], args["to_y"])
                await mouse.up()
            case "keyboard_down":
                await keyboard.down(args["key"])
            case "keyboard_up":
                await keyboard.up(args["key"])
            case "keyboard_press":
                await keyboard.press(args["key"])
            case "keyboard_type":
                await keyboard.type(args["text"])
            case "keyboard_insert_text":
                await keyboard.insert_text(args["text"])
            case "goto":
                if not is_sandbox_url(args["url"]):
                    return f"goto refused: only http://*.{SANDBOX_DOMAIN} sites are reachable"
                await page.goto(args["url"], timeout=NAVIGATION_TIMEOUT_MS, wait_until="domcontentloaded")
            case "go_back" | "go_forward":
                error = await _traverse_history(page, -1 if action.name == "go_back" else 1)
                if error:
                    return error
            case "noop":
                if args["wait_ms"]:
                    await asyncio.sleep(min(float(args["wait_ms"]), 5000) / 1000)
            case _:
                # send_msg_to_user, report_infeasible, stop, backtrack: handled by the episode loop.
                pass
    except PlaywrightError as exc:
        if "aria-ref" in str(exc) and ("not found" in str(exc) or "Invalid" in str(exc)):
            missing = next((ref for ref in action.refs if f"aria-ref={ref}" in str(exc)), None)
            return f"no element with ref {missing or args.get('ref')!r} on the current page"
        return _short_error(exc)
    try:
        await page.wait_for_load_state("domcontentloaded", timeout=NAVIGATION_TIMEOUT_MS)
    except PlaywrightError as exc:
        return _short_error(exc)
    return await _clear_local_documents(page)


NO_EARLIER_PAGE = "no earlier page in this tab's history; the tab stays on this page"
NO_LATER_PAGE = "no later page in this tab's history; the tab stays on this page"


async def _traverse_history(page: Page, step: int) -> str:
    """Go one entry back (``step`` -1) or forward (+1) in the tab's history; an error for the agent, with the
    tab left where it was, when there is no such entry that is a web page.

    Before the episode's first page the history holds the new tab's ``about:blank``: Chromium would go there
    and call it a success, leaving the agent on an empty page outside every site. So the entry is looked up
    first (Chromium's own list of the tab's history), and a tab that still ends on a page that is no web page
    is brought back.
    """
    session = await page.context.new_cdp_session(page)
    try:
        history = await session.send("Page.getNavigationHistory")
    finally:
        await session.detach()
    entries, target = history["entries"], history["currentIndex"] + step
    refusal = NO_EARLIER_PAGE if step < 0 else NO_LATER_PAGE
    if not 0 <= target < len(entries) or not entries[target]["url"].startswith(("http:", "https:")):
        return refusal
    before = page.url
    move, undo = (page.go_back, page.go_forward) if step < 0 else (page.go_forward, page.go_back)
    await move(timeout=NAVIGATION_TIMEOUT_MS, wait_until="domcontentloaded")
    if not page.url.startswith(("http:", "https:")) and before.startswith(("http:", "https:")):
        await undo(timeout=NAVIGATION_TIMEOUT_MS, wait_until="domcontentloaded")
        return refusal
    return ""


# Schemes a tab may show: web pages (sandbox pages, and the blocked page of a refused load), a new tab's
# about:blank and Chromium's error page. Others are documents made inside the browser, never from the network.
_WEB_SCHEMES = ("http:", "https:", "about:blank", "chrome-error:")


async def _clear_local_documents(page: Page) -> str:
    """Blank every tab of ``page``'s context that shows a ``blob:``, ``data:`` or other non-web document;
    an error for the agent if one did, else "".

    A page script can navigate its tab to a ``blob:`` URL it made (Chromium allows it, unlike ``data:`` or
    ``file:``). Its requests would still meet the route fence, but the agent should only ever see the
    sandbox's own pages, so such a document is replaced the moment the action that led there ends.
    """
    cleared = []
    for tab in page.context.pages:
        if not tab.url.startswith(_WEB_SCHEMES):
            cleared.append(tab.url.split(":", 1)[0])
            try:
                await tab.goto("about:blank", timeout=NAVIGATION_TIMEOUT_MS)
            except PlaywrightError as exc:
                return _short_error(exc)
    if cleared:
        return f"a page left the sandbox for a {cleared[0]}: document; it was replaced with a blank page"
    return ""
