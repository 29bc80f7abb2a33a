"""The runner host: one event loop thread per process owning Playwright, Chromium and the sandbox server.

Callers (the Celery task, the ``benchmark`` command, benchmarks) stay in their own thread, where Django's
ORM is allowed, and call :meth:`RunnerHost.run_episode`. It schedules the async episode on the host's loop
and hands each event back to the caller's thread through a queue, so persistence happens outside the loop.
The browser and sandbox server outlive episodes: a fresh World and a fresh browser context per episode is
what an episode reset costs, not a browser launch.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from playwright.async_api import Browser, Playwright, async_playwright

from runner.browser import launch_browser
from runner.episode import play_episode
from runner.types import EpisodeOutcome, EpisodeSpec, InfraError
from sandbox.server import SandboxServer

log = logging.getLogger(__name__)
_DONE = object()


class RunnerHost:
    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.sandbox = SandboxServer().start()
        self._playwright: Playwright | None = None
        self._browser: Browser | None = None
        self._browser_lock: asyncio.Lock | None = None
        self._thread = threading.Thread(target=self.loop.run_forever, name="gauntlet-runner", daemon=True)
        self._thread.start()

    async def _ensure_browser(self) -> Browser:
        if self._browser_lock is None:
            self._browser_lock = asyncio.Lock()
        async with self._browser_lock:
            if self._playwright is None:
                self._playwright = await async_playwright().start()
            if self._browser is None or not self._browser.is_connected():
                self._browser = await launch_browser(self._playwright, self.sandbox.address)
            return self._browser

    def call(self, coro_factory: Callable[[Browser, SandboxServer], Any]) -> Any:
        """Run ``coro_factory(browser, sandbox)`` on the host loop and wait for its result (benchmarks)."""

        async def wrapper():
            return await coro_factory(await self._ensure_browser(), self.sandbox)

        return asyncio.run_coroutine_threadsafe(wrapper(), self.loop).result()

    def run_episode(
        self, spec: EpisodeSpec, on_event: Callable[[str, Any], None], tick_s: float | None = None
    ) -> EpisodeOutcome:
        """Play one episode; ``on_event(kind, payload)`` is called in the caller's thread as events arrive.

        With ``tick_s``, ``on_event("tick", None)`` is also called every ``tick_s`` seconds, so the caller can
        show it is alive however long a step takes. Raises InfraError when the episode could not be
        measured. An exception raised by ``on_event`` is re-raised here after the episode has been stopped.
        """
        events: queue.Queue = queue.Queue()

        async def episode():
            try:
                browser = await self._ensure_browser()
            except Exception as exc:
                raise InfraError(f"could not start Chromium: {exc}") from exc
            return await play_episode(spec, browser, self.sandbox, lambda k, p: events.put((k, p)))

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


def get_host() -> RunnerHost:
    """The process's runner host, started on first use (after any fork, so Celery children get their own)."""
    global _host
    with _host_lock:
        if _host is None:
            _host = RunnerHost()
            atexit.register(_host.close)
        return _host
