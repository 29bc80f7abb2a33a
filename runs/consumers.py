"""The live run websocket: a snapshot on connect, then the run's events as they are published, and heartbeats."""

import asyncio
import logging

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings

from runs import events
from runs.models import Run
from runs.selectors import run_state

log = logging.getLogger(__name__)


class RunConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        user = self.scope.get("user")
        self.run_id = int(self.scope["url_route"]["kwargs"]["run_id"])
        if user is None or not user.is_authenticated or not await self._visible(user):
            await self.close(code=4403)
            return
        self.group = events.run_group(self.run_id)
        # Join before taking the snapshot, so nothing published in between is missed.
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        await self.send_json(
            {"type": "snapshot", "data": await self._snapshot(), "heartbeat_s": settings.GAUNTLET_LIVE_HEARTBEAT_S}
        )
        HEARTBEATS.watch(self.run_id, self)

    async def disconnect(self, code):
        if hasattr(self, "group"):
            HEARTBEATS.unwatch(self.run_id, self)
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content, **kwargs):
        if content.get("type") == "resync":
            await self.send_json({"type": "snapshot", "data": await self._snapshot()})

    async def run_event(self, message):
        await self.send_json(message["event"])

    @database_sync_to_async
    def _visible(self, user):
        return Run.objects.visible_to(user).filter(pk=self.run_id).exists()

    @database_sync_to_async
    def _snapshot(self):
        return run_state(Run.objects.get(pk=self.run_id))


@database_sync_to_async
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
