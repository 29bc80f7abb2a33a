"""Browser control: launch Chromium fenced by the sandbox proxy, observe a page, execute an action."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
from urllib.parse import urlsplit

from playwright.async_api import Browser, Page, Playwright
from playwright.async_api import Error as PlaywrightError

from runner.actions import Action
from sandbox.policies import parse_elements
from sandbox.server import SANDBOX_DOMAIN

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
ACTION_TIMEOUT_MS = 2000
NAVIGATION_TIMEOUT_MS = 10000
VIEWPORT = {"width": 1100, "height": 800}


def chromium_path() -> str:
    return os.environ.get("GAUNTLET_CHROMIUM", "/usr/bin/chromium")


async def launch_browser(playwright: Playwright, proxy_server: str) -> Browser:
    """Chromium whose every request, loopback included, goes through the sandbox server."""
    return await playwright.chromium.launch(
        executable_path=chromium_path(),
        args=CHROMIUM_ARGS,
        headless=True,
        # "<-loopback>" removes Chromium's implicit bypass for localhost, so nothing escapes the proxy.
        proxy={"server": proxy_server, "bypass": "<-loopback>"},
    )


def is_sandbox_url(url: str) -> bool:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    return parts.scheme == "http" and (host == SANDBOX_DOMAIN or host.endswith("." + SANDBOX_DOMAIN))


def _short_error(exc: Exception) -> str:
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    for prefix in ("Locator.", "Page.", "Mouse."):
        if message.startswith(prefix):
            message = message.split(": ", 1)[-1]
    return message[:300]


async def observe(page: Page, *, screenshot: bool) -> dict:
    """The observation of the agent contract, plus the raw JPEG under ``_jpeg`` (popped by the runner)."""
    for attempt in range(3):
        try:
            await page.wait_for_load_state("domcontentloaded", timeout=NAVIGATION_TIMEOUT_MS)
            axtree = await page.aria_snapshot(mode="ai")
            title = await page.title()
            break
        except PlaywrightError as exc:
            # A navigation can replace the document between the two calls; observe the new one.
            if attempt == 2 or "context was destroyed" not in str(exc) and "navigat" not in str(exc):
                raise
            await asyncio.sleep(0.05)
    jpeg = await page.screenshot(type="jpeg", quality=60) if screenshot else None
    tabs = [{"url": p.url, "title": "", "active": p is page} for p in page.context.pages]
    return {
        "url": page.url,
        "title": title,
        "tabs": tabs,
        "axtree": axtree,
        "elements": parse_elements(axtree),
        "screenshot": base64.b64encode(jpeg).decode() if jpeg else None,
        "_jpeg": jpeg,
    }


def observation_digest(observation: dict) -> str:
    """A fingerprint of what the agent saw: URL + accessibility tree."""
    return hashlib.sha256(f"{observation['url']}\n{observation['axtree']}".encode()).hexdigest()[:16]


async def execute(page: Page, action: Action) -> str:
    """Perform a browser action. Returns "" on success or an error message for the agent."""
    args = action.args
    try:
        match action.name:
            case "click" | "dblclick" | "hover" | "focus" | "clear":
                locator = page.locator(f"aria-ref={args['ref']}")
                if action.name == "click":
                    await locator.click(timeout=ACTION_TIMEOUT_MS, button=args["button"])
                else:
                    await getattr(locator, action.name)(timeout=ACTION_TIMEOUT_MS)
            case "fill":
                await page.locator(f"aria-ref={args['ref']}").fill(args["value"], timeout=ACTION_TIMEOUT_MS)
            case "select_option":
                await page.locator(f"aria-ref={args['ref']}").select_option(args["value"], timeout=ACTION_TIMEOUT_MS)
            case "press":
                await page.locator(f"aria-ref={args['ref']}").press(args["key"], timeout=ACTION_TIMEOUT_MS)
            case "scroll":
                await page.mouse.wheel(args["dx"], args["dy"])
            case "goto":
                if not is_sandbox_url(args["url"]):
                    return f"goto refused: only http://*.{SANDBOX_DOMAIN} sites are reachable"
                await page.goto(args["url"], timeout=NAVIGATION_TIMEOUT_MS, wait_until="domcontentloaded")
            case "go_back":
                await page.go_back(timeout=NAVIGATION_TIMEOUT_MS, wait_until="domcontentloaded")
            case "go_forward":
                await page.go_forward(timeout=NAVIGATION_TIMEOUT_MS, wait_until="domcontentloaded")
            case "noop":
                if args["wait_ms"]:
                    await asyncio.sleep(min(float(args["wait_ms"]), 5000) / 1000)
            case _:
                # send_msg_to_user, report_infeasible, stop, backtrack: handled by the episode loop.
                pass
    except PlaywrightError as exc:
        if "aria-ref" in str(exc) and ("not found" in str(exc) or "Invalid" in str(exc)):
            return f"no element with ref {args.get('ref')!r} on the current page"
        return _short_error(exc)
    try:
        await page.wait_for_load_state("domcontentloaded", timeout=NAVIGATION_TIMEOUT_MS)
    except PlaywrightError as exc:
        return _short_error(exc)
    return ""
