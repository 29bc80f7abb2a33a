"""The runner host: one event loop thread per process owning Playwright, Chromium and the sandbox server.

Callers (the Celery task, the ``benchmark`` command, benchmarks) stay in their own thread, where Django's
ORM is allowed, and call :meth:`RunnerHost.run_episode`. It schedules the async episode on the host's loop
and hands each event back to the caller's thread through a queue, so persistence happens outside the loop.
The browser and sandbox server outlive episodes: a fresh World and a fresh browser context per episode is
what an episode reset costs, not a browser launch.

Many callers may play episodes at once (a Celery worker's threads), each in its own context of the one
Chromium. If Chromium dies, the episodes it held end in InfraError and the next episode launches a new one.
While fewer than ``slots`` episodes run, one fenced context with a blank page is made ahead of the next
episode, so its reset skips that cost; a context serves one episode and is closed after it.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import queue
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any

from playwright.async_api import Browser, BrowserContext, Page, Playwright, async_playwright
from playwright.async_api import Error as PlaywrightError

from runner.browser import launch_browser, new_context
from runner.episode import play_episode
from runner.priority import lower_priority
from runner.types import EpisodeOutcome, EpisodeSpec, InfraError
from sandbox.server import SandboxServer

log = logging.getLogger(__name__)
_DONE = object()
# How long a browser may take to open a context before it is taken for dead (after an episode failed).
BROWSER_CHECK_TIMEOUT_S = 30
# How long starting the Playwright driver or launching Chromium may take before the episode fails instead.
STARTUP_TIMEOUT_S = 60
# How long an episode may go on after its browser exited before it is stopped.
ORPHAN_GRACE_S = 10


async def _start_playwright() -> Playwright:
    # Bounded: a driver killed while it starts would otherwise be waited for for ever.
    return await asyncio.wait_for(async_playwright().start(), STARTUP_TIMEOUT_S)


async def _unless_browser_dies(episode: Coroutine[Any, Any, EpisodeOutcome], browser: Browser) -> EpisodeOutcome:
    """Await ``episode``; if ``browser`` exits meanwhile and the episode has not failed on its own within
    ``ORPHAN_GRACE_S`` (a Playwright call can wait for ever on a browser that died under it), stop it."""
    task = asyncio.ensure_future(episode)
    gone = asyncio.get_running_loop().create_future()

    def on_disconnected(_browser):
        if not gone.done():
            gone.set_result(None)

    browser.on("disconnected", on_disconnected)
    try:
        await asyncio.wait([task, gone], return_when=asyncio.FIRST_COMPLETED)
        if not task.done():
            await asyncio.wait([task], timeout=ORPHAN_GRACE_S)
        if not task.done():
            # Cancelled without waiting: its clean-up may wait on the dead browser too.
            task.cancel()
            raise InfraError("browser failed: Chromium exited and the episode hung")
        return task.result()
    finally:
        browser.remove_listener("disconnected", on_disconnected)
        if not task.done():
            task.cancel()  # our caller was cancelled


async def _close_quietly(context: BrowserContext) -> None:
    try:
        await context.close()
    except PlaywrightError:
        pass  # its browser is gone, and the context with it


class RunnerHost:
    """``slots``: how many episodes the caller plays at once at most; a context is pre-warmed only while
    fewer run, so a full host holds no idle context. ``nice``: the CPU niceness of the host's loop thread and
    so of the Playwright driver and Chromium it starts (lowered to it, never raised; 0 leaves it): the bulk
    of an episode's CPU, below the callers' threads that write its steps and publish its live events."""

    def __init__(self, slots: int = 1, nice: int = 0):
        self.loop = asyncio.new_event_loop()
        self.sandbox = SandboxServer().start()
        self.slots = slots
        self._playwright: Playwright | None = None
        self._browser: Browser | None = None
        self._browser_lock: asyncio.Lock | None = None
        self._running = 0  # episodes in play, counted on the loop
        self._warm: tuple[BrowserContext, Page] | None = None
        self._warming: asyncio.Task | None = None
        self.nice = nice
        self._thread = threading.Thread(target=self._serve, name="gauntlet-runner", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        if self.nice:
            lower_priority(self.nice, thread_only=True)
        self.loop.run_forever()

    async def _ensure_browser(self) -> Browser:
        if self._browser_lock is None:
            self._browser_lock = asyncio.Lock()
        async with self._browser_lock:
            if self._playwright is None:
                self._playwright = await _start_playwright()
            if self._browser is None or not self._browser.is_connected():
                try:
                    self._browser = await launch_browser(self._playwright, self.sandbox.address, STARTUP_TIMEOUT_S)
                except Exception:
                    # The Playwright driver itself may have died with the browser: start a new one, once.
                    log.warning("could not launch Chromium: restarting the Playwright driver", exc_info=True)
                    try:
                        await asyncio.wait_for(self._playwright.stop(), 5)
                    except Exception:
                        pass
                    self._playwright = await _start_playwright()
                    self._browser = await launch_browser(self._playwright, self.sandbox.address, STARTUP_TIMEOUT_S)
            return self._browser

    async def _forget_if_dead(self, browser: Browser) -> None:
        """After an episode failed: if ``browser`` does not answer, drop it so the next episode launches
        another. A dead Playwright driver leaves the browser looking connected, hence a real round trip."""
        try:
            context = await asyncio.wait_for(browser.new_context(), BROWSER_CHECK_TIMEOUT_S)
            await _close_quietly(context)
            return
        except Exception:
            log.warning("Chromium does not answer: the next episode launches a new one", exc_info=True)
        async with self._browser_lock:
            if self._browser is browser:
                self._browser = None
                try:
                    await asyncio.wait_for(browser.close(), 5)
                except Exception:
                    pass  # already gone, with its driver perhaps

    async def _take_context(self, browser: Browser) -> tuple[BrowserContext, Page]:
        """A fenced context with a blank page for one agent of one episode: the warm one if it belongs to
        ``browser`` and is intact, else a new one. Either way it was never used; the caller closes it."""
        if self._warming is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._warming), STARTUP_TIMEOUT_S)
            except TimeoutError:
                pass  # make our own below
        warm, self._warm = self._warm, None
        if warm is not None:
            context, page = warm
            if context.browser is browser and browser.is_connected() and not page.is_closed():
                return warm
            await _close_quietly(context)
        context = await new_context(browser)
        try:
            return context, await context.new_page()
        except BaseException:
            await _close_quietly(context)
            raise

    def _prewarm(self) -> None:
        """Start making the next episode's context, unless one is ready or being made or every slot is busy."""
        if self._warm is None and self._warming is None and self._running < self.slots and self.loop.is_running():
            self._warming = self.loop.create_task(self._make_warm())

    async def _make_warm(self) -> None:
        context = None
        try:
            browser = await self._ensure_browser()
            context = await new_context(browser)
            page = await context.new_page()
        except Exception:
            log.info("could not pre-warm a browser context; the next episode makes its own", exc_info=True)
            if context is not None:
                await _close_quietly(context)
            return
        finally:
            self._warming = None
        if self._warm is None:
            self._warm = (context, page)
        else:
            await _close_quietly(context)

    def call(self, coro_factory: Callable[[Browser, SandboxServer], Any]) -> Any:
        """Run ``coro_factory(browser, sandbox)`` on the host loop and wait for its result (benchmarks)."""

        async def wrapper():
            return await coro_factory(await self._ensure_browser(), self.sandbox)

        return asyncio.run_coroutine_threadsafe(wrapper(), self.loop).result()

    async def open_context(self, browser: Browser) -> tuple[BrowserContext, Page]:
        """A fenced context of ``browser`` with a blank page, never used before, for one agent of one episode
        (the caller closes it); then, if a slot is free, the next one is made ahead. Call on the host loop."""
        opened = await self._take_context(browser)
        self._prewarm()
        return opened

    def run_episode(
        self,
        spec: EpisodeSpec,
        on_event: Callable[[str, Any], None],
        tick_s: float | None = None,
        watched: Callable[[], bool] | None = None,
    ) -> EpisodeOutcome:
        """Play one episode; ``on_event(kind, payload)`` is called in the caller's thread as events arrive.

        With ``tick_s``, ``on_event("tick", None)`` is also called every ``tick_s`` seconds, so the caller can
        show it is alive however long a step takes. ``watched()`` (asked on the host loop before each step; keep
        it cheap, e.g. reading a flag) turns the live screencast on and off (runner.screencast). Raises
        InfraError when the episode could not be measured. An exception raised by ``on_event`` is re-raised
        here after the episode has been stopped.
        """
        events: queue.Queue = queue.Queue()

        async def episode():
            self._running += 1
            try:
                try:
                    browser = await self._ensure_browser()
                except Exception as exc:
                    raise InfraError(f"could not start Chromium: {exc}") from exc
                try:
                    played = play_episode(
                        spec,
                        browser,
                        self.sandbox,
                        lambda k, p: events.put((k, p)),
                        open_context=lambda: self.open_context(browser),
                        watched=watched,
                    )
                    return await _unless_browser_dies(played, browser)
                except InfraError:
                    await self._forget_if_dead(browser)
                    raise
            finally:
                self._running -= 1
                self._prewarm()

        future = asyncio.run_coroutine_threadsafe(episode(), self.loop)
        future.add_done_callback(lambda _f: events.put(_DONE))
        try:
            next_tick = time.monotonic() + tick_s if tick_s else None
            while True:
                if next_tick is not None and time.monotonic() >= next_tick:
                    on_event("tick", None)
                    next_tick = time.monotonic() + tick_s
                try:
                    item = events.get(timeout=None if next_tick is None else max(0.0, next_tick - time.monotonic()))
                except queue.Empty:
                    continue
                if item is _DONE:
                    break
                on_event(*item)
        except BaseException:
            future.cancel()
            raise
        try:
            return future.result()
        except InfraError:
            raise
        except Exception as exc:
            log.exception("episode %s failed in the runner", spec.episode_id)
            raise InfraError(f"runner failed: {type(exc).__name__}: {exc}") from exc

    def close(self) -> None:
        async def shutdown():
            if self._warming is not None:
                self._warming.cancel()
            if self._warm is not None:
                await _close_quietly(self._warm[0])
            if self._browser is not None:
                await self._browser.close()
            if self._playwright is not None:
                await self._playwright.stop()

        if self.loop.is_running():
            try:
                asyncio.run_coroutine_threadsafe(shutdown(), self.loop).result(timeout=10)
            except Exception:
                log.warning("runner host did not shut down cleanly", exc_info=True)
            self.loop.call_soon_threadsafe(self.loop.stop)
        self.sandbox.stop()


_host: RunnerHost | None = None
_host_lock = threading.Lock()


def get_host(slots: int = 1, nice: int = 0) -> RunnerHost:
    """The process's runner host, started on first use (after any fork, so Celery children get their own).

    ``slots`` (how many episodes the process plays at once) and ``nice`` (RunnerHost's) apply when this call
    starts the host."""
    global _host
    with _host_lock:
        if _host is None:
            _host = RunnerHost(slots, nice)
            atexit.register(_host.close)
        return _host
