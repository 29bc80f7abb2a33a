"""The process's live-event publisher: one Redis connection for many events, and a fresh one after a fork."""

import asyncio
import os
import subprocess
import time

import pytest
import redis
from channels.layers import get_channel_layer

from runs import events
from tests.conftest import _free_port

pytestmark = [pytest.mark.asyncio]


@pytest.fixture
def private_redis(tmp_path, settings):
    """An empty redis-server of our own as the channel layer, so its connection count is ours alone."""
    port = _free_port()
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=(tmp_path / "redis.log").open("w"),
        stderr=subprocess.STDOUT,
    )
    client = redis.Redis(port=port)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                proc.kill()
                pytest.fail("redis-server did not start")
            time.sleep(0.05)
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [{"address": f"redis://127.0.0.1:{port}/0", "socket_timeout": None}]},
        }
    }
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
