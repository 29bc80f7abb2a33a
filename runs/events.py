"""Live events: the one module that knows the channel-layer group names and the event types.

Events are hints. The channel layer is at-most-once, so each event carries the run's sequence number; a
page that sees a gap (or reconnects) asks for what changed since its last sequence number over HTTP. Events
are sent after the transaction that produced them commits, never before.

With the Redis pub/sub channel layer (as deployed), the committing thread PUBLISHes the event itself
(:class:`DirectPublisher`): one reused synchronous Redis client per process, short timeouts, no retries.
Handing the event to another thread cost that thread's wait for the GIL, tens of milliseconds on a worker
busy with episode threads. When the direct PUBLISH fails, and for any other channel layer, the event goes
through one :class:`Publisher` per process: its own event loop thread and one persistent channel-layer
connection to Redis. Both are made on first use and again after a fork (a Celery prefork child gets its
own). A slow or unreachable Redis delays or drops events, never the episode: after a failed direct PUBLISH
the process leaves direct publishing alone for ``DirectPublisher.PAUSE_AFTER_FAILURE_S``.

A heartbeat (``{"type": "heartbeat", "seq", "run_id"}``) is not published: each web process sends it straight
down the run's websockets every ``GAUNTLET_LIVE_HEARTBEAT_S`` seconds with the run's latest sequence number
from the database, so a page learns within one period that it missed events, and a silent socket is a dead
one.
"""

from __future__ import annotations

import asyncio
import atexit
import binascii
import logging
import os
import threading
import time
from collections.abc import Callable

import msgpack
import redis
from channels import DEFAULT_CHANNEL_LAYER
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction
from redis.backoff import NoBackoff
from redis.retry import Retry

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


def episode_group(episode_id: int) -> str:
    """The group of an episode page's websockets (runs.consumers.EpisodeConsumer): its live screencast."""
    return f"episode-{episode_id}"


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


PUBSUB_LAYER = "channels_redis.pubsub.RedisPubSubChannelLayer"


class DirectPublisher:
    """PUBLISHes a group message from the calling thread with the bytes channels-redis's pub/sub layer sends.

    That layer's ``group_send(group, message)`` is a PUBLISH of ``msgpack.packb(message)`` on the channel
    ``{prefix}__group__{group}``, on the host its consistent hash of the channel picks (CRC-32 of the name,
    its low 12 bits spread evenly over the hosts); its subscribers decode and deliver it. This class does the
    same with a synchronous client per host, so only plain configurations qualify: hosts given by address or
    (host, port), the msgpack serializer, no encryption (:meth:`for_config` says None otherwise).
    """

    SOCKET_TIMEOUT_S = 0.25
    PAUSE_AFTER_FAILURE_S = 10.0
    _OWN_OPTIONS = ("socket_timeout", "socket_connect_timeout", "retry", "retry_on_timeout", "retry_on_error")

    def __init__(self, clients: list[redis.Redis], prefix: str):
        self.clients = clients
        self.prefix = prefix
        self.paused_until = 0.0

    @classmethod
    def for_config(cls, config: dict | None) -> DirectPublisher | None:
        """One for a ``CHANNEL_LAYERS`` entry, or None when that layer's messages are not for us to encode."""
        if not config or config.get("BACKEND") != PUBSUB_LAYER:
            return None
        options = dict(config.get("CONFIG") or {})
        hosts = options.pop("hosts", None) or [{"address": "redis://localhost:6379"}]
        prefix = options.pop("prefix", "asgi")
        if options.pop("serializer_format", "msgpack") != "msgpack" or options or isinstance(hosts, (str, bytes)):
            return None  # encryption, another serializer, callbacks: leave them to the layer
        clients = []
        for host in hosts:
            if isinstance(host, (tuple, list)):
                host = {"host": host[0], "port": host[1]}
            elif not isinstance(host, dict):
                host = {"address": host}
            if "master_name" in host:
                return None
            kwargs = {k: v for k, v in host.items() if k != "address" and k not in cls._OWN_OPTIONS}
            kwargs.update(
                socket_timeout=cls.SOCKET_TIMEOUT_S,
                socket_connect_timeout=cls.SOCKET_TIMEOUT_S,
                retry=Retry(NoBackoff(), 0),
            )
            try:
                if "address" in host:
                    clients.append(redis.Redis.from_url(host["address"], **kwargs))
                else:
                    clients.append(redis.Redis(**kwargs))
            except Exception:
                log.warning("live events: cannot publish directly to %r", host, exc_info=True)
                return None
        return cls(clients, prefix)

    def channel(self, group: str) -> str:
        return f"{self.prefix}__group__{group}"

    def client(self, channel: str) -> redis.Redis:
        if len(self.clients) == 1:
            return self.clients[0]
        bucket = binascii.crc32(channel.encode()) & 0xFFF
        return self.clients[int(bucket / (4096 / len(self.clients)))]

    def publish(self, group: str, message: dict) -> bool:
        """PUBLISH ``message`` to ``group``'s subscribers; False if it was not sent (the caller should fall back)."""
        if time.monotonic() < self.paused_until:
            return False
        try:
            data = msgpack.packb(message)
        except Exception:
            return False  # the layer would fail too, and the publisher thread logs it
        channel = self.channel(group)
        try:
            self.client(channel).publish(channel, data)
        except Exception:
            self.paused_until = time.monotonic() + self.PAUSE_AFTER_FAILURE_S
            log.warning(
                "live events: PUBLISH to %s failed; using the publisher thread for %s s",
                channel,
                self.PAUSE_AFTER_FAILURE_S,
                exc_info=True,
            )
            return False
        return True


# (pid, the channel layer it was made for, the direct publisher or None): made again after a fork, and when
# CHANNEL_LAYERS changes (channels then makes a new layer object).
_direct: tuple[int, object, DirectPublisher | None] | None = None


def direct_publisher() -> DirectPublisher | None:
    """This process's direct publisher for the current channel layer, or None when it is not the plain pub/sub layer."""
    global _direct
    layer = get_channel_layer()
    made = _direct
    if made is None or made[0] != os.getpid() or made[1] is not layer:
        config = getattr(settings, "CHANNEL_LAYERS", {}).get(DEFAULT_CHANNEL_LAYER) if layer is not None else None
        made = _direct = (os.getpid(), layer, DirectPublisher.for_config(config))
    return made[2]


def publish(group: str, message: dict) -> None:
    """Send a channel-layer message to ``group`` without waiting on anything but a short direct PUBLISH."""
    direct = direct_publisher()
    if direct is not None:
        if trace is not None:
            trace("handed_over", message)
        if direct.publish(group, message):
            if trace is not None:
                trace("sent", message)
            return
    publisher().publish(group, message)


def publish_on_commit(run_id: int, event_type: str, seq: int, data: dict) -> None:
    """Publish ``{"type", "seq", "run_id", "data"}`` to the run's group once the current transaction commits."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {event_type!r}")
    payload = {"type": event_type, "seq": seq, "run_id": run_id, "data": data}
    transaction.on_commit(lambda: publish(run_group(run_id), {"type": "run.event", "event": payload}))


def publish_frame(episode_id: int, frame: dict) -> None:
    """Send one screencast frame (``{"agent", "data": base64 JPEG, "ts", "step", "action"}``) to the episode's
    watchers now: frames are not part of any transaction, and a lost one is replaced by the next."""
    publish(episode_group(episode_id), {"type": "episode.frame", "frame": frame})


def heartbeat(run_id: int, seq: int) -> dict:
    """The heartbeat frame: the run's latest sequence number as the database has it."""
    return {"type": HEARTBEAT, "seq": seq, "run_id": run_id}
