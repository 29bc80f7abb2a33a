"""Live events: the one module that knows the channel-layer group names and the event types.

Events are hints. The channel layer is at-most-once, so each event carries the run's sequence number; a
page that sees a gap (or reconnects) re-reads the state over HTTP. Events are sent after the transaction
that produced them commits, never before.

A heartbeat (``{"type": "heartbeat", "seq", "run_id"}``) is not published: each web process sends it straight
down the run's websockets every ``GAUNTLET_LIVE_HEARTBEAT_S`` seconds with the run's latest sequence number
from the database, so a page learns within one period that it missed events, and a silent socket is a dead
one.
"""

from __future__ import annotations

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

log = logging.getLogger(__name__)

STEP = "step"
EPISODE = "episode"
RUN = "run"
EVENT_TYPES = (STEP, EPISODE, RUN)
HEARTBEAT = "heartbeat"


def run_group(run_id: int) -> str:
    return f"run-{run_id}"


def _send(run_id: int, payload: dict) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(run_group(run_id), {"type": "run.event", "event": payload})
    except Exception:
        # Live events are hints; losing one must never fail the episode that produced it.
        log.warning("could not publish live event for run %s", run_id, exc_info=True)


def publish_on_commit(run_id: int, event_type: str, seq: int, data: dict) -> None:
    """Publish ``{"type", "seq", "run_id", "data"}`` to the run's group once the current transaction commits."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {event_type!r}")
    payload = {"type": event_type, "seq": seq, "run_id": run_id, "data": data}
    transaction.on_commit(lambda: _send(run_id, payload))


def heartbeat(run_id: int, seq: int) -> dict:
    """The heartbeat frame: the run's latest sequence number as the database has it."""
    return {"type": HEARTBEAT, "seq": seq, "run_id": run_id}
