"""The live run websocket: a snapshot on connect, then the run's events as they are published."""

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from runs import events
from runs.models import Run
from runs.selectors import run_state


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
        await self.send_json({"type": "snapshot", "data": await self._snapshot()})

    async def disconnect(self, code):
        if hasattr(self, "group"):
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
