"""Checkpoints: a restorable point per step, World WAL position + browser state, and their restore.

A checkpoint records the state an agent observed at the start of a step, before its action: the World's WAL
position and digest, the page's URL, a fingerprint of what the agent saw, and (when it may be restored) the
browser state (cookies and local storage, unsubmitted form fields, scroll position, open tabs). Restoring
rolls the World back through its WAL, re-opens the recorded browser state, and then verifies feasibility:
the restored page must show what the checkpoint's fingerprint says, else the restore is reported
infeasible and the agent is told the state it is really in.

Checkpoints form a tree: each one's parent is the checkpoint the agent was at when it took the action
that led to it, which after a backtrack is the checkpoint it went back to.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
from dataclasses import dataclass, field
from typing import Any

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page

from runner.browser import NAVIGATION_TIMEOUT_MS, observe
from sandbox.sites.base import restore_sessions, signed_out_sites
from sandbox.world import World, WorldError

BACKTRACK_INFEASIBLE = "backtrack_infeasible"
IRREVERSIBLE_BARRIER = "irreversible_barrier"
# Refs are numbered afresh on a re-opened page, and which element has the focus is not page state we keep.
_VOLATILE = re.compile(r" \[(?:ref=[^\]]*|active)\]")


def fingerprint(url: str, axtree: str) -> str:
    """What the agent saw, without element refs and focus marks."""
    return hashlib.sha256(f"{url}\n{_VOLATILE.sub('', axtree)}".encode()).hexdigest()[:16]


@dataclass
class Checkpoint:
    id: str
    step: int
    agent: int
    parent: str | None
    url: str
    title: str
    wal_position: int
    fingerprint: str = ""  # set by the runner at every checkpoint, like the digest
    world_digest: str = ""
    # Browser state to re-open: cookies and the page's local storage (as storage_state() has them), fields,
    # scroll and tab URLs; taken only when the run may restore.
    browser: dict[str, Any] | None = field(default=None, repr=False)

    def public(self) -> dict:
        """What the agent sees of it in the request's ``checkpoints``."""
        return {"id": self.id, "step": self.step, "url": self.url, "title": self.title}

    def trace(self) -> dict:
        return {
            "id": self.id,
            "parent": self.parent,
            "step": self.step,
            "agent": self.agent,
            "url": self.url,
            "title": self.title,
            "fingerprint": self.fingerprint,
            "wal_position": self.wal_position,
            "world_digest": self.world_digest,
        }


# The page-only state a reload loses: scroll and what was typed or ticked but not submitted. Fields are found
# again by their position in the document (the nth input, textarea or select). With them, the page's origin and
# its local storage (null where the page has none of its own, as error and blank pages: reading it throws).
_READ_PAGE = """() => {
  const fields = [];
  document.querySelectorAll("input, textarea, select").forEach((el, index) => {
    if (el.type === "checkbox" || el.type === "radio") {
      if (el.checked !== el.defaultChecked) fields.push({index, checked: el.checked});
    } else if (el.tagName === "SELECT") {
      const initial = [...el.options].findIndex((o) => o.defaultSelected);
      if (el.selectedIndex !== Math.max(initial, 0)) fields.push({index, selected: el.selectedIndex});
    } else if (el.type !== "file" && el.type !== "hidden" && el.value !== el.defaultValue) {
      fields.push({index, value: el.value});
    }
  });
  let storage = null;
  try { storage = Object.entries(localStorage).map(([name, value]) => ({name, value})) } catch (e) {}
  return {scroll: [window.scrollX, window.scrollY], fields, origin: location.origin, storage};
}"""
_WRITE_PAGE = """(state) => {
  const all = document.querySelectorAll("input, textarea, select");
  for (const f of state.fields) {
    const el = all[f.index];
    if (!el) continue;
    if ("checked" in f) el.checked = f.checked;
    else if ("selected" in f) el.selectedIndex = f.selected;
    else el.value = f.value;
    el.dispatchEvent(new Event("input", {bubbles: true}));
    el.dispatchEvent(new Event("change", {bubbles: true}));
  }
  window.scrollTo(state.scroll[0], state.scroll[1]);
}"""


# On the re-opened page, one evaluate: local storage checked against the recorded one of the page's origin (an
# error or blank page has none of its own: reading it throws), then the fields and scroll written. Unless the
# storage differed: then it is written instead, and true says the page must be reloaded for the site to read
# it (the sandbox sites keep nothing there today), the fields after that.
_SETTLE_PAGE = """({storage, state}) => {
  let items = null;
  try { items = Object.entries(localStorage) } catch (e) {}
  if (items !== null) {
    const want = storage[location.origin] || [];
    const same = items.length === want.length && want.every((i) => localStorage.getItem(i.name) === i.value);
    if (!same) {
      localStorage.clear();
      for (const i of want) localStorage.setItem(i.name, i.value);
      return true;
    }
  }
  if (state.fields.length || state.scroll[0] || state.scroll[1]) (WRITE_PAGE)(state);
  return false;
}""".replace("WRITE_PAGE", _WRITE_PAGE)


def _same_cookies(a: list[dict], b: list[dict]) -> bool:
    def key(cookie: dict) -> tuple:
        return tuple(sorted((k, str(v)) for k, v in cookie.items()))

    return sorted(map(key, a)) == sorted(map(key, b))


async def capture_browser(page: Page, world: World, agent: int) -> dict:
    """The browser state a checkpoint re-opens: cookies and local storage, the sites' sessions, the page's
    unsubmitted fields and scroll, the open tabs. Two reads, taken at once: the context's cookies, and the page's
    fields, scroll and local storage in one evaluate.

    Local storage is read for the page's origin, the one a restore puts back (it re-opens this page). Not
    through ``storage_state()``: that opens a hidden page and loads each other origin the context has visited
    in it, on every step of an episode that went to a second site (6 ms for one origin, 120-200 ms for two).
    """
    context = page.context
    cookies, on_page = await asyncio.gather(context.cookies(), page.evaluate(_READ_PAGE), return_exceptions=True)
    for failed in (cookies, on_page):
        if isinstance(failed, BaseException) and (failed is cookies or not isinstance(failed, Exception)):
            raise failed
    if isinstance(on_page, Exception):
        # The document is being replaced; a reload starts from the top with empty fields. Its storage is read
        # from outside the page then.
        storage = await context.storage_state()
        on_page = {"scroll": [0, 0], "fields": []}
    else:
        origin, items = on_page.pop("origin"), on_page.pop("storage")
        storage = {"cookies": cookies, "origins": [{"origin": origin, "localStorage": items}] if items else []}
    with world.lock:
        signed_out = signed_out_sites(world, agent)
    return {"storage": storage, "signed_out": signed_out, "page": on_page, "tabs": [p.url for p in context.pages]}


async def restore_browser(page: Page, state: dict, url: str, *, observe_along: bool = False) -> dict | None:
    """Re-open ``url`` with the recorded cookies, local storage, fields and scroll; close tabs opened since.

    The page is always re-opened; the cookies are replaced, and the page reloaded for its local storage, only
    when they differ from the recorded ones (a step seldom changes either). With ``observe_along``, when no
    field or scroll is to be written, the page's storage is checked while the page is observed, and that
    observation is returned; else (or when the storage differed and the page was reloaded, or observing failed)
    None, and the caller observes the page itself.
    """
    context = page.context
    for other in context.pages:
        if other is not page:
            await other.close()
    storage = state.get("storage") or {}
    cookies = storage.get("cookies") or []
    if not _same_cookies(await context.cookies(), cookies):
        await context.clear_cookies()
        if cookies:
            await context.add_cookies(cookies)
    await page.goto(url, wait_until="domcontentloaded", timeout=NAVIGATION_TIMEOUT_MS)
    origin_items = {o["origin"]: o.get("localStorage", []) for o in storage.get("origins", [])}
    recorded = state.get("page") or {}
    on_page = {"fields": recorded.get("fields") or [], "scroll": recorded.get("scroll") or [0, 0]}
    settle = page.evaluate(_SETTLE_PAGE, {"storage": origin_items, "state": on_page})
    writes = bool(on_page["fields"] or any(on_page["scroll"]))
    observation = None
    if observe_along and not writes:
        # The check writes nothing unless the storage differed, and then the page is reloaded and this
        # observation dropped: one round trip's wait instead of two.
        differs, observation = await asyncio.gather(settle, observe(page), return_exceptions=True)
        for result in (differs, observation):
            if isinstance(result, BaseException) and not isinstance(result, Exception):
                raise result
        if isinstance(differs, Exception):
            raise differs
        if isinstance(observation, Exception):
            observation = None  # observed again by the caller, and failing there as it would have
    else:
        differs = await settle
    if differs:
        await page.reload(wait_until="domcontentloaded", timeout=NAVIGATION_TIMEOUT_MS)
        if writes:
            await page.evaluate(_WRITE_PAGE, on_page)
        return None
    return observation


@dataclass
class RestoreResult:
    ok: bool
    error: str  # "" when ok; else starts with irreversible_barrier or backtrack_infeasible
    world_digest: str
    world_ms: float
    total_ms: float
    observation: dict | None = None  # the page as restored (for the next fingerprint and the agent)


def barrier(world: World, checkpoint: Checkpoint) -> str:
    """Why the World cannot go back to ``checkpoint`` (an irreversible write since), or ""."""
    records = world.irreversible_after(checkpoint.wal_position)
    if not records:
        return ""
    first = records[0]
    return (
        f"{IRREVERSIBLE_BARRIER}: step {first.step} made an irreversible write ({first.site} {first.op} "
        f"{first.table}/{first.key}) that cannot be undone"
    )


async def restore(world: World, page: Page, checkpoint: Checkpoint) -> RestoreResult:
    """Roll the World back to ``checkpoint`` and re-open its browser state, then verify feasibility.

    Refuses (``ok=False``, nothing changed) when an irreversible write stands in the way. Otherwise the
    World is restored and its digest checked against the checkpoint's; the page is re-opened and its
    fingerprint compared. A mismatch leaves the agent where it really is and says so.
    """
    started = time.perf_counter()
    with world.lock:
        reason = barrier(world, checkpoint)
        if reason:
            return RestoreResult(False, reason, world.digest(), 0.0, 0.0)
        try:
            world.restore(checkpoint.wal_position)
        except WorldError as exc:  # a concurrent write sneaked in an irreversible record
            return RestoreResult(False, f"{IRREVERSIBLE_BARRIER}: {exc}", world.digest(), 0.0, 0.0)
        if checkpoint.browser is not None:
            restore_sessions(world, checkpoint.agent, checkpoint.browser.get("signed_out", []))
        digest = world.digest()
    world_ms = (time.perf_counter() - started) * 1000
    if checkpoint.world_digest and digest != checkpoint.world_digest:
        error = f"{BACKTRACK_INFEASIBLE}: the World's state differs from the checkpoint's after the rollback"
        return RestoreResult(False, error, digest, world_ms, (time.perf_counter() - started) * 1000)
    try:
        observation = await restore_browser(page, checkpoint.browser or {}, checkpoint.url, observe_along=True)
    except PlaywrightError as exc:
        # The page cannot be re-opened as it was (a refused URL, a page that never finishes loading).
        detail = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        error = (
            f"{BACKTRACK_INFEASIBLE}: the World is back at {checkpoint.id}, "
            f"but its page could not be re-opened ({detail})"
        )
        return RestoreResult(False, error, digest, world_ms, (time.perf_counter() - started) * 1000)
    if observation is None:
        observation = await observe(page)
    total_ms = (time.perf_counter() - started) * 1000
    if fingerprint(observation["url"], observation["axtree"]) != checkpoint.fingerprint:
        error = (
            f"{BACKTRACK_INFEASIBLE}: the World is back at {checkpoint.id}, but the page re-opened at "
            f"{observation['url']} does not show what it showed then (form input or page-only state is lost); "
            "you are on the page as it is now"
        )
        return RestoreResult(False, error, digest, world_ms, total_ms, observation)
    return RestoreResult(True, "", digest, world_ms, total_ms, observation)
