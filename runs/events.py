"""Live events: the one module that knows the channel-layer group names and the event types.

Events are hints. The channel layer is at-most-once, so each event carries the run's sequence number; a
page that sees a gap (or reconnects) asks for what changed since its last sequence number over HTTP. Events
are sent after the transaction that produced them commits, never before.

Publishing goes through one :class:`Publisher` per process: its own event loop thread and one persistent
channel-layer connection to Redis, made on first use and again after a fork (a Celery prefork child gets its
own). The caller's thread only hands the event over; a slow or unreachable Redis delays or drops events,
never the episode.

A heartbeat (``{"type": "heartbeat", "seq", "run_id"}``) is not published: each web process sends it straight
down the run's websockets every ``GAUNTLET_LIVE_HEARTBEAT_S`` seconds with the run's latest sequence number
from the database, so a page learns within one period that it missed events, and a silent socket is a dead
one.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import threading
from collections.abc import Callable

from channels.layers import get_channel_layer
from django.db import transaction

log = logging.getLogger(__name__)

STEP = "step"
EPISODE = "episode"
RUN = "run"
EVENT_TYPES = (STEP, EPISODE, RUN)
HEARTBEAT = "heartbeat"
SNAPSHOT = "snapshot"


# ``bench/live_latency.py --trace`` sets this to see where an event's time goes: it is called with
# ("handed_over", message) when the code that sends the message to Redis has it in hand, and with
# ("sent", message) once Redis has taken it. Never set in production.
trace: Callable[[str, dict], None] | None = None


def run_group(run_id: int) -> str:
    return f"run-{run_id}"


class Publisher:
    """Sends channel-layer group messages from a private event loop thread, in the order they were handed over.

    The channel layer keeps one connection per event loop, so a loop that lives as long as the process means
    one Redis connection for every publish. ``publish`` never waits for Redis: it queues the message (dropping
    the oldest past ``max_pending``, as the layer itself would under a burst) and returns.
    """

    SEND_TIMEOUT_S = 2.0

    def __init__(self, max_pending: int = 10_000):
        self.pid = os.getpid()
        self.max_pending = max_pending
        self.loop = asyncio.new_event_loop()
        self._queue: asyncio.Queue | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="gauntlet-publisher", daemon=True)
        self._thread.start()
        self._ready.wait()

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        self._queue = asyncio.Queue()
        self.loop.create_task(self._drain())
        self._ready.set()
        self.loop.run_forever()

    async def _drain(self) -> None:
        while True:
            group, message = await self._queue.get()
            try:
                if trace is not None:
                    trace("handed_over", message)
                layer = get_channel_layer()
                if layer is not None:
                    await asyncio.wait_for(layer.group_send(group, message), self.SEND_TIMEOUT_S)
                    if trace is not None:
                        trace("sent", message)
            except Exception:
                # Live events are hints; losing one must never fail the episode that produced it.
                log.warning("could not publish live event to %s", group, exc_info=True)
            finally:
                self._queue.task_done()

    def _put(self, item) -> None:
        if self._queue.qsize() >= self.max_pending:
            self._queue.get_nowait()
            self._queue.task_done()
            log.warning("live events: %s waiting, dropping the oldest", self.max_pending)
        self._queue.put_nowait(item)

    def publish(self, group: str, message: dict) -> None:
        """Queue ``message`` for ``group``; returns at once."""
        self.loop.call_soon_threadsafe(self._put, (group, message))

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every message handed over so far has been sent (or dropped). Returns whether it did."""
        try:
            asyncio.run_coroutine_threadsafe(self._queue.join(), self.loop).result(timeout)
        except Exception:
            return False
        return True


_publisher: Publisher | None = None
_publisher_lock = threading.Lock()


def publisher() -> Publisher:
    """This process's publisher, started on first use and again in a forked child (whose copy has no thread)."""
    global _publisher
    with _publisher_lock:
        if _publisher is None or _publisher.pid != os.getpid():
            _publisher = Publisher()
            atexit.register(_publisher.flush, 2.0)
        return _publisher


# A fork while another thread holds the lock would leave the child's copy locked for ever.
os.register_at_fork(after_in_child=lambda: globals().__setitem__("_publisher_lock", threading.Lock()))


def publish_on_commit(run_id: int, event_type: str, seq: int, data: dict) -> None:
    """Publish ``{"type", "seq", "run_id", "data"}`` to the run's group once the current transaction commits."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {event_type!r}")
    payload = {"type": event_type, "seq": seq, "run_id": run_id, "data": data}
    transaction.on_commit(lambda: publisher().publish(run_group(run_id), {"type": "run.event", "event": payload}))


def heartbeat(run_id: int, seq: int) -> dict:
    """The heartbeat frame: the run's latest sequence number as the database has it."""
    return {"type": HEARTBEAT, "seq": seq, "run_id": run_id}
