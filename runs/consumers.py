"""The live run websocket: the run's latest sequence number on connect, then its events, and heartbeats.

The handshake is accepted at once; then the session, its user and one query by the run's primary key (is
the run visible to that user, and its latest sequence number) decide whether the socket stays. Nothing
heavy: the page already shows the state it was rendered with, or asks for what changed since its sequence
number over HTTP (runs.selectors.run_delta).

Those reads run in a thread pool, and no message goes through the one thread that thread-sensitive calls
of every websocket of the process share: under load, handshakes queued there behind each other, and
behind every socket's events, past Daphne's handshake timeout.
"""

import asyncio
import logging

from channels.auth import get_user
from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.sessions import SessionMiddlewareStack
from django.conf import settings

from runs import events, watching
from runs.models import Episode, Run

log = logging.getLogger(__name__)


class PooledConsumer(AsyncJsonWebsocketConsumer):
    """A websocket consumer whose handlers touch the database only through pooled calls (:func:`pooled`)."""

    async def dispatch(self, message):
        # channels' dispatch first closes stale database connections in the shared thread, for every message:
        # with 50 sockets that is one hop through that thread per event per socket, and handshakes queue
        # behind them. Pooled calls clean up after themselves.
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)


class RunConsumer(PooledConsumer):
    async def connect(self):
        # Accept at once: Daphne drops a handshake that takes 5 s, and in a busy process anything can. Nothing
        # is sent before the check below, and a socket that fails it is closed.
        await self.accept()
        self.run_id = int(self.scope["url_route"]["kwargs"]["run_id"])
        self.scope["user"], seq = await _watcher(self.scope, self.run_id)
        if seq is None:
            await self.close(code=4403)
            return
        self.group = events.run_group(self.run_id)
        # An event published between that read and this join is missed here, but the next event or heartbeat
        # shows the page the gap, and it reads the delta.
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.send_json(
            {
                "type": events.SNAPSHOT,
                "seq": seq,
                "run_id": self.run_id,
                "heartbeat_s": settings.GAUNTLET_LIVE_HEARTBEAT_S,
            }
        )
        HEARTBEATS.watch(self.run_id, self)

    async def disconnect(self, code):
        if hasattr(self, "group"):
            HEARTBEATS.unwatch(self.run_id, self)
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content, **kwargs):
        if content.get("type") == "resync":
            seq = await _latest_seq(self.run_id)
            await self.send_json({"type": events.SNAPSHOT, "seq": seq, "run_id": self.run_id})

    async def run_event(self, message):
        await self.send_json(message["event"])


class EpisodeConsumer(PooledConsumer):
    """An episode page's websocket: the episode's steps as they are taken, its end, and its live screencast
    while it runs (runs.watching tells the worker that someone watches, for as long as the socket is open)."""

    async def connect(self):
        await self.accept()
        self.episode_id = int(self.scope["url_route"]["kwargs"]["episode_id"])
        self.scope["user"], found = await _episode_watcher(self.scope, self.episode_id)
        if found is None:
            await self.close(code=4403)
            return
        status, run_id = found
        self.group = events.episode_group(self.episode_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        # The run's events too, for this episode's steps and its end.
        self.run_group = events.run_group(run_id)
        await self.channel_layer.group_add(self.run_group, self.channel_name)
        await self.send_json({"type": "hello", "episode_id": self.episode_id, "status": status})
        self.renewing = asyncio.ensure_future(self._keep_watching())

    async def _keep_watching(self):
        while True:
            try:
                await _mark_watched(self.episode_id)
            except Exception:
                log.warning("could not mark episode %s watched", self.episode_id, exc_info=True)
            await asyncio.sleep(watching.RENEW_S)

    async def disconnect(self, code):
        if hasattr(self, "renewing"):
            self.renewing.cancel()
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)
            await self.channel_layer.group_discard(self.run_group, self.channel_name)

    async def episode_frame(self, message):
        await self.send_json({"type": "frame", **message["frame"]})

    async def run_event(self, message):
        event = message["event"]
        data = event.get("data") or {}
        if event["type"] == events.STEP and data.get("episode_id") == self.episode_id:
            step = {k: v for k, v in data.items() if k != "row"}
            await self.send_json({"type": "step", **step})
        elif event["type"] == events.EPISODE and (data.get("row") or {}).get("id") == self.episode_id:
            await self.send_json({"type": "episode", "status": data["row"]["status"]})


def pooled(func):
    """``func`` as a coroutine run in the event loop's thread pool (with Django's connection clean-up)."""
    return database_sync_to_async(func, thread_sensitive=False)


def live_auth_stack(inner):
    """Cookies and the session for the websockets, read lazily: the consumer reads the user itself, after
    accepting, in the same pooled call as the run (channels' AuthMiddleware would read it before)."""
    return SessionMiddlewareStack(inner)


@pooled
def _watcher(scope, run_id: int):
    """(the session's user, the run's latest sequence number if that user may watch the run, else None).

    The session and the user by primary key, then one query by the run's primary key."""
    user = get_user.func(scope)
    if not user.is_authenticated:
        return user, None
    visible = Run.objects.visible_to(user).filter(pk=run_id).order_by()
    return user, visible.values_list("event_seq", flat=True).first()


@pooled
def _episode_watcher(scope, episode_id: int):
    """(the session's user, (the episode's status, its run) if that user may watch the run, else None)."""
    user = get_user.func(scope)
    if not user.is_authenticated:
        return user, None
    visible = Episode.objects.filter(pk=episode_id, run__in=Run.objects.visible_to(user)).order_by()
    return user, visible.values_list("status", "run_id").first()


@pooled
def _mark_watched(episode_id: int) -> None:
    watching.mark_watched(episode_id)


@pooled
def _latest_seq(run_id: int) -> int | None:
    return Run.objects.filter(pk=run_id).values_list("event_seq", flat=True).first()


class RunHeartbeats:
    """Tells every websocket of this process that watches a run the run's latest sequence number, periodically.

    Its cost is one timer and one single-row read per watched run per process and period, however many pages
    watch the run, plus one small frame per socket. The frame goes straight down each socket, not through the
    channel layer, so it arrives even when the layer drops events or Redis is down.
    """

    def __init__(self):
        self._sockets: dict[int, set[RunConsumer]] = {}
        self._timers: dict[int, asyncio.Task] = {}

    def watch(self, run_id: int, consumer: RunConsumer) -> None:
        self._sockets.setdefault(run_id, set()).add(consumer)
        timer = self._timers.get(run_id)
        # A timer of a finished event loop (one per test) is dead even if it never noticed.
        if timer is None or timer.done() or timer.get_loop() is not asyncio.get_running_loop():
            self._timers[run_id] = asyncio.ensure_future(self._beat(run_id))

    def unwatch(self, run_id: int, consumer: RunConsumer) -> None:
        sockets = self._sockets.get(run_id, set())
        sockets.discard(consumer)
        if not sockets:
            self._sockets.pop(run_id, None)
            timer = self._timers.pop(run_id, None)
            if timer is not None:
                timer.cancel()

    async def _beat(self, run_id: int) -> None:
        while self._sockets.get(run_id):
            await asyncio.sleep(settings.GAUNTLET_LIVE_HEARTBEAT_S)
            try:
                seq = await _latest_seq(run_id)
            except Exception:
                # Say nothing rather than something untrue: the pages will see a silent socket and reconnect.
                log.warning("heartbeat: could not read run %s", run_id, exc_info=True)
                continue
            if seq is None:
                continue
            frame = events.heartbeat(run_id, seq)
            for consumer in list(self._sockets.get(run_id, ())):
                try:
                    await consumer.send_json(frame)
                except Exception:
                    log.debug("heartbeat: socket of run %s already gone", run_id, exc_info=True)


HEARTBEATS = RunHeartbeats()
