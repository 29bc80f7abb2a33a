"""The process's live-event publisher: the committing thread's own PUBLISH for the pub/sub layer, byte for byte
what the layer sends; the publisher thread otherwise, with one Redis connection for many events, and fresh
ones after a fork; a dead or hung Redis holds up one step for a short timeout at most."""

import asyncio
import os
import signal
import subprocess
import time

import pytest
import redis
from channels.layers import get_channel_layer

from runs import events
from tests.conftest import _free_port

pytestmark = [pytest.mark.asyncio]


def start_redis(log_path) -> tuple[subprocess.Popen, redis.Redis]:
    port = _free_port()
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=log_path.open("w"),
        stderr=subprocess.STDOUT,
    )
    client = redis.Redis(port=port)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            return proc, client
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                proc.kill()
                pytest.fail("redis-server did not start")
            time.sleep(0.05)


def pubsub_layer(*clients, **config) -> dict:
    hosts = [{"address": f"redis://127.0.0.1:{c.connection_pool.connection_kwargs['port']}/0"} for c in clients]
    for host in hosts:
        host["socket_timeout"] = None
    return {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": hosts, **config},
        }
    }


@pytest.fixture
def private_redis(tmp_path, settings):
    """An empty redis-server of our own as the channel layer, so its connection count is ours alone."""
    proc, client = start_redis(tmp_path / "redis.log")
    settings.CHANNEL_LAYERS = pubsub_layer(client)
    yield client
    proc.terminate()
    proc.wait(timeout=10)


async def listen(group: str):
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(group, channel)
    return layer, channel


def connections_received(client) -> int:
    return client.info("stats")["total_connections_received"]


def publish_many(count: int) -> bool:
    for i in range(1, count + 1):
        events.publisher().publish("run-1", {"type": "run.event", "event": {"seq": i}})
    return events.publisher().flush()


async def test_it_sends_many_events_over_one_connection(private_redis):
    layer, channel = await listen("run-1")
    before = connections_received(private_redis)

    assert await asyncio.to_thread(publish_many, 50)

    assert connections_received(private_redis) - before == 1
    received = [await asyncio.wait_for(layer.receive(channel), 5) for _ in range(50)]
    assert [m["event"]["seq"] for m in received] == list(range(1, 51))


def publish_in_a_child() -> int:
    events.publisher()  # the parent's, with its thread
    pid = os.fork()
    if pid == 0:
        try:
            fresh = events.publisher()
            fresh.publish("run-2", {"type": "run.event", "event": {"from": "child", "pid": os.getpid()}})
            os._exit(0 if fresh.pid == os.getpid() and fresh.flush() else 1)
        except BaseException:
            os._exit(2)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


async def test_it_publishes_from_a_forked_child(private_redis):
    layer, channel = await listen("run-2")

    assert await asyncio.to_thread(publish_in_a_child) == 0

    message = await asyncio.wait_for(layer.receive(channel), 5)
    assert message["event"]["from"] == "child" and message["event"]["pid"] != os.getpid()


async def test_it_keeps_publishing_after_redis_was_unreachable(private_redis, settings):
    reachable = settings.CHANNEL_LAYERS
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [{"address": f"redis://127.0.0.1:{_free_port()}/0"}]},
        }
    }
    assert await asyncio.to_thread(publish_many, 3)  # each send failed, was logged and dropped

    settings.CHANNEL_LAYERS = reachable
    layer, channel = await listen("run-1")
    assert await asyncio.to_thread(publish_many, 1)
    assert (await asyncio.wait_for(layer.receive(channel), 5))["event"]["seq"] == 1


def publish_committed(run_id: int, seq: int, data: dict | None = None) -> None:
    """What publish_on_commit does for a step once its transaction has committed."""
    events.publish(events.run_group(run_id), step_message(run_id, seq, data))


def step_message(run_id: int, seq: int, data: dict | None = None) -> dict:
    event = {"type": events.STEP, "seq": seq, "run_id": run_id, "data": data if data is not None else {"index": seq}}
    return {"type": "run.event", "event": event}


@pytest.fixture
def handed_to_thread(monkeypatch):
    """The messages given to the publisher thread, which sends none of them."""
    handed = []
    monkeypatch.setattr(events.Publisher, "publish", lambda self, group, message: handed.append((group, message)))
    return handed


async def test_the_committing_thread_publishes_to_the_layer_s_receivers(private_redis, settings, handed_to_thread):
    settings.CHANNEL_LAYERS = pubsub_layer(private_redis, prefix="gauntlet-test:channels")
    layer, channel = await listen("run-3")

    await asyncio.to_thread(publish_committed, 3, 1)

    assert await asyncio.wait_for(layer.receive(channel), 5) == step_message(3, 1)
    assert handed_to_thread == []


def next_data(subscriber, timeout: float = 5) -> bytes:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message = subscriber.get_message(ignore_subscribe_messages=True, timeout=0.1)
        if message is not None:
            return message["data"]
    pytest.fail("nothing was published")


async def test_it_publishes_the_bytes_the_layer_publishes_for_group_send(private_redis, settings, handed_to_thread):
    settings.CHANNEL_LAYERS = pubsub_layer(private_redis, prefix="gauntlet-test:channels")
    subscriber = private_redis.pubsub()
    subscriber.subscribe("gauntlet-test:channels__group__run-4")
    data = {"row": {"id": 9, "status": "scored", "success": True, "cost": 0.0125, "error": None}, "note": "ünï ✓"}
    data["steps"] = [1, -2, 2**40, 1.5, "", [], {}]

    await get_channel_layer().group_send(events.run_group(4), step_message(4, 7, data))
    await asyncio.to_thread(publish_committed, 4, 7, data)

    assert next_data(subscriber) == next_data(subscriber)
    assert handed_to_thread == []
    subscriber.close()


async def test_it_publishes_on_the_host_the_layer_hashes_the_group_to(tmp_path, settings, handed_to_thread):
    servers = [start_redis(tmp_path / f"redis-{i}.log") for i in range(2)]
    try:
        settings.CHANNEL_LAYERS = pubsub_layer(*(client for _, client in servers))
        run_ids = list(range(1, 9))
        listeners = [await listen(events.run_group(run_id)) for run_id in run_ids]
        assert all(client.pubsub_channels() for _, client in servers)  # the groups are spread over both

        for run_id in run_ids:
            await asyncio.to_thread(publish_committed, run_id, 1)

        for run_id, (layer, channel) in zip(run_ids, listeners, strict=True):
            assert await asyncio.wait_for(layer.receive(channel), 5) == step_message(run_id, 1)
        assert handed_to_thread == []
    finally:
        for proc, _ in servers:
            proc.terminate()
            proc.wait(timeout=10)


async def test_it_leaves_other_layers_and_encrypted_messages_to_the_publisher_thread(
    private_redis, settings, handed_to_thread
):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    await asyncio.to_thread(publish_committed, 5, 1)
    settings.CHANNEL_LAYERS = pubsub_layer(private_redis, symmetric_encryption_keys=["secret"])
    await asyncio.to_thread(publish_committed, 5, 2)

    assert handed_to_thread == [("run-5", step_message(5, 1)), ("run-5", step_message(5, 2))]


async def test_a_failed_publish_goes_through_the_publisher_thread_and_pauses_direct_ones(private_redis, monkeypatch):
    attempts = []

    def refused(client, channel, message):
        attempts.append(channel)
        raise redis.ConnectionError("refused")

    monkeypatch.setattr(redis.Redis, "publish", refused)  # the synchronous client's only
    layer, channel = await listen("run-6")

    await asyncio.to_thread(publish_committed, 6, 1)
    await asyncio.to_thread(publish_committed, 6, 2)

    received = [await asyncio.wait_for(layer.receive(channel), 5) for _ in range(2)]
    assert received == [step_message(6, 1), step_message(6, 2)]
    assert len(attempts) == 1


async def test_a_hung_redis_holds_up_one_step_for_a_short_timeout_only(tmp_path, settings):
    proc, client = start_redis(tmp_path / "redis.log")
    settings.CHANNEL_LAYERS = pubsub_layer(client)

    def publish_many_steps() -> float:
        started = time.monotonic()
        for seq in range(1, 61):
            publish_committed(7, seq)
        return time.monotonic() - started

    try:
        proc.send_signal(signal.SIGSTOP)  # connections are still accepted, nothing is answered
        try:
            took = await asyncio.wait_for(asyncio.to_thread(publish_many_steps), 30)
        finally:
            proc.send_signal(signal.SIGCONT)
        # One PUBLISH waited for its timeout; the other 59 went to the publisher thread without waiting (60
        # timeouts would take 15 s; the bound leaves room for a busy machine).
        assert took < 12 * events.DirectPublisher.SOCKET_TIMEOUT_S
        assert await asyncio.to_thread(events.publisher().flush, 30)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def publish_directly_in_a_child() -> int:
    parent = events.direct_publisher()
    assert parent is not None and parent.publish("run-8", {"type": "run.event", "event": {"from": "parent"}})
    pid = os.fork()
    if pid == 0:
        try:
            child = events.direct_publisher()
            sent = child.publish("run-8", {"type": "run.event", "event": {"from": "child", "pid": os.getpid()}})
            os._exit(0 if child is not parent and sent else 1)
        except BaseException:
            os._exit(2)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


async def test_a_forked_child_publishes_directly_on_its_own_connection(private_redis):
    layer, channel = await listen("run-8")

    assert await asyncio.to_thread(publish_directly_in_a_child) == 0

    assert (await asyncio.wait_for(layer.receive(channel), 5))["event"]["from"] == "parent"
    message = await asyncio.wait_for(layer.receive(channel), 5)
    assert message["event"]["from"] == "child" and message["event"]["pid"] != os.getpid()
