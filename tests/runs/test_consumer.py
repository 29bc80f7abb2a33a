"""The run consumer delivers events through the real Redis channel layer."""

import asyncio
import threading

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.db import transaction
from django.db.backends.signals import connection_created
from django.test import Client

from agents.models import Agent
from benchmark_site.asgi import application
from runs import events, services
from runs.models import Episode, Run, Suite

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


def make_run(team, user):
    return services.queue_run(
        agent_version=Agent.objects.get(name="oracle").latest_version(),
        suite=Suite.objects.get(name="smoke"),
        team=team,
        user=user,
        enqueue=False,
    )


def session_cookie(user):
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


async def connect(run_id, cookie=b""):
    headers = [(b"origin", b"http://127.0.0.1:8000"), (b"host", b"127.0.0.1:8000")]
    if cookie:
        headers.append((b"cookie", cookie))
    communicator = WebsocketCommunicator(application, f"/ws/runs/{run_id}/", headers=headers)
    connected, code = await communicator.connect(timeout=5)
    return communicator, connected, code


async def test_it_sends_a_snapshot_then_the_run_s_events(builtins, team_user):
    assert "RedisPubSubChannelLayer" in type(get_channel_layer()).__name__
    team, user = team_user
    run = await sync_to_async(make_run)(team, user)
    cookie = await sync_to_async(session_cookie)(user)
    communicator, connected, _ = await connect(run.pk, cookie)
    assert connected
    snapshot = await communicator.receive_json_from(timeout=5)
    assert snapshot["type"] == "snapshot" and snapshot["seq"] == 0

    for seq in (1, 2, 3):
        await get_channel_layer().group_send(
            events.run_group(run.pk),
            {"type": "run.event", "event": {"type": "step", "seq": seq, "run_id": run.pk, "data": {"i": seq}}},
        )
    received = [await communicator.receive_json_from(timeout=5) for _ in range(3)]
    assert [e["seq"] for e in received] == [1, 2, 3]
    await sync_to_async(Run.objects.filter(pk=run.pk).update)(event_seq=3)
    await communicator.send_json_to({"type": "resync"})
    assert await communicator.receive_json_from(timeout=5) == {"type": "snapshot", "seq": 3, "run_id": run.pk}
    await communicator.disconnect()


async def test_it_refuses_anonymous_and_other_teams(builtins, team_user, django_user_model):
    from agents.models import Team

    team, user = team_user
    run = await sync_to_async(make_run)(team, user)

    def outsider():
        mallory = django_user_model.objects.create_user("mallory", password="x" * 12)
        Team.objects.create(name="other").members.add(mallory)
        return session_cookie(mallory)

    for cookie in (b"", await sync_to_async(outsider)()):
        communicator, connected, _ = await connect(run.pk, cookie)
        assert connected  # accepted before any check, then closed with nothing sent
        assert await communicator.receive_output(timeout=5) == {"type": "websocket.close", "code": 4403}


async def test_it_sends_the_runs_latest_seq_in_a_heartbeat_even_when_no_event_came(builtins, team_user, settings):
    settings.GAUNTLET_LIVE_HEARTBEAT_S = 1
    team, user = team_user
    run = await sync_to_async(make_run)(team, user)
    cookie = await sync_to_async(session_cookie)(user)
    communicator, connected, _ = await connect(run.pk, cookie)
    snapshot = await communicator.receive_json_from(timeout=5)
    assert snapshot["seq"] == 0 and snapshot["heartbeat_s"] == 1

    # The sequence number moves in the database, but its event never reaches the channel layer.
    await sync_to_async(Run.objects.filter(pk=run.pk).update)(event_seq=7)
    heartbeat = await communicator.receive_json_from(timeout=3)
    assert heartbeat == {"type": "heartbeat", "seq": 7, "run_id": run.pk}
    await communicator.disconnect()


async def test_it_connects_a_large_run_without_sending_or_computing_its_state(builtins, team_user):
    team, user = team_user

    def large_run():
        run = make_run(team, user)
        scenario = run.episodes.first().scenario
        Episode.objects.bulk_create(
            Episode(run=run, scenario=scenario, trial=trial, status=Episode.SCORED, success=True, seq=trial)
            for trial in range(1000, 6000)
        )
        Run.objects.filter(pk=run.pk).update(event_seq=6000)
        return run

    run = await sync_to_async(large_run)()
    cookie = await sync_to_async(session_cookie)(user)
    # The handshake reads in a thread pool, each thread on its own connection: record every statement of the
    # connections opened from here on.
    statements = []

    def record(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    def watch(sender, connection, **kwargs):
        connection.execute_wrappers.append(record)

    connection_created.connect(watch)
    try:
        communicator, connected, _ = await connect(run.pk, cookie)
        assert connected
        # The handshake answers with the sequence number alone: the page asks for what it missed over HTTP.
        snapshot = await communicator.receive_json_from(timeout=5)
    finally:
        connection_created.disconnect(watch)
    assert set(snapshot) == {"type", "seq", "run_id", "heartbeat_s"} and snapshot["seq"] == 6000
    # The session, its user, and the run if visible: nothing reads the episodes.
    assert len(statements) == 3 and not [sql for sql in statements if "runs_episode" in sql]
    await communicator.disconnect()


async def test_it_shakes_hands_and_forwards_events_while_the_shared_sync_thread_is_busy(builtins, team_user):
    team, user = team_user
    run = await sync_to_async(make_run)(team, user)
    cookie = await sync_to_async(session_cookie)(user)
    # Hold the one thread that thread-sensitive sync_to_async calls share (as the other sockets' calls would
    # under load): a handshake or an event that needed it would wait for the release, after these time out.
    release = threading.Event()
    busy = asyncio.ensure_future(sync_to_async(release.wait)())
    try:
        communicator, connected, _ = await connect(run.pk, cookie)
        assert connected
        assert (await communicator.receive_json_from(timeout=5))["seq"] == 0
        event = {"type": "step", "seq": 1, "run_id": run.pk, "data": {}}
        await get_channel_layer().group_send(events.run_group(run.pk), {"type": "run.event", "event": event})
        assert await communicator.receive_json_from(timeout=5) == event
        await communicator.disconnect()
    finally:
        release.set()
        await busy


async def test_a_committed_step_s_event_reaches_the_socket_from_the_committing_thread(builtins, team_user, monkeypatch):
    # The publisher thread, which would otherwise take the event, sends nothing here.
    handed = []
    monkeypatch.setattr(events.Publisher, "publish", lambda self, group, message: handed.append(message))
    team, user = team_user
    run = await sync_to_async(make_run)(team, user)
    cookie = await sync_to_async(session_cookie)(user)
    communicator, connected, _ = await connect(run.pk, cookie)
    assert connected and (await communicator.receive_json_from(timeout=5))["seq"] == 0

    def commit_a_step():
        with transaction.atomic():
            Run.objects.filter(pk=run.pk).update(event_seq=1)
            events.publish_on_commit(run.pk, events.STEP, 1, {"index": 0})

    await sync_to_async(commit_a_step)()

    event = {"type": "step", "seq": 1, "run_id": run.pk, "data": {"index": 0}}
    assert await communicator.receive_json_from(timeout=5) == event
    assert handed == []
    await communicator.disconnect()
