"""The agent's screen as a live video while someone watches: Chromium's screencast over CDP, throttled.

Nothing runs while nobody watches: before each step the episode asks ``watched()`` (a flag the caller keeps,
from the dashboard's watchers) and starts or stops the screencast. Chromium then sends a JPEG frame when the
page repaints; each is acknowledged ``min_interval_s`` later, which slows Chromium's encoding down, and one
frame per ``min_interval_s`` at most is emitted as ``("frame", {"agent", "data": base64 JPEG, "ts"})``
(Chromium keeps a few frames in flight, so the acknowledgements alone do not cap the rate).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from playwright.async_api import CDPSession, Page

log = logging.getLogger(__name__)

FRAME_OPTIONS = {"format": "jpeg", "quality": 50, "maxWidth": 800, "maxHeight": 600, "everyNthFrame": 1}


class Screencast:
    """One agent page's screencast, started and stopped by :meth:`update`; failures only stop the video."""

    def __init__(self, page: Page, agent: int, emit: Callable[[str, Any], None], min_interval_s: float = 0.25):
        self.page = page
        self.agent = agent
        self.emit = emit
        self.min_interval_s = min_interval_s
        self.session: CDPSession | None = None
        self.last_sent = 0.0
        self.frames = 0
        self._acks: set[asyncio.Task] = set()

    async def update(self, watched: bool) -> None:
        if watched and self.session is None and not self.page.is_closed():
            await self._start()
        elif not watched and self.session is not None:
            await self.stop()

    async def _start(self) -> None:
        try:
            self.session = await self.page.context.new_cdp_session(self.page)
            self.session.on("Page.screencastFrame", self._on_frame)
            await self.session.send("Page.startScreencast", FRAME_OPTIONS)
        except Exception:
            log.info("screencast of agent %s could not start", self.agent, exc_info=True)
            await self.stop()

    def _on_frame(self, params: dict) -> None:
        if self.session is None:
            return
        now = time.monotonic()
        # Chromium keeps a few frames in flight whatever the acknowledgements: pass on one per interval.
        if now - self.last_sent >= self.min_interval_s:
            self.last_sent = now
            self.frames += 1
            self.emit("frame", {"agent": self.agent, "data": params["data"], "ts": time.time()})
        # Chromium encodes no further frame until this one is acknowledged: acknowledging it only after
        # min_interval_s is the throttle, and Chromium does no work for frames nobody would see.
        asyncio.get_running_loop().call_later(self.min_interval_s, self._ack, params["sessionId"])

    def _ack(self, frame_session: int) -> None:
        session = self.session
        if session is None:
            return
        ack = asyncio.ensure_future(session.send("Page.screencastFrameAck", {"sessionId": frame_session}))
        self._acks.add(ack)
        ack.add_done_callback(self._acked)

    def _acked(self, task: asyncio.Task) -> None:
        self._acks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.debug("screencast frame ack failed", exc_info=task.exception())

    async def stop(self) -> None:
        session, self.session = self.session, None
        if session is None:
            return
        try:
            await session.send("Page.stopScreencast")
            await session.detach()
        except Exception:
            pass  # the page or the browser is gone: so is the screencast
