"""Who watches an episode live: a short-lived Redis key per watched episode, set by the episode page's
websocket (runs.consumers.EpisodeConsumer) and renewed while it is open, read by the worker that plays the
episode to decide whether to screencast it (runner.screencast). Nobody watching costs one EXISTS per second
per running episode; Redis unreachable means nobody watches."""

from __future__ import annotations

import logging
import os
import threading
import time

import redis
from django.conf import settings
from redis.backoff import NoBackoff
from redis.retry import Retry

log = logging.getLogger(__name__)

# A watcher renews its key every RENEW_S; the key outlives a watcher that vanished by at most TTL_S.
TTL_S = 15
RENEW_S = 5
# A worker asks Redis at most this often per episode.
CHECK_S = 1.0

_client: tuple[int, redis.Redis] | None = None
_lock = threading.Lock()


def _redis() -> redis.Redis:
    global _client
    with _lock:
        if _client is None or _client[0] != os.getpid():
            client = redis.Redis.from_url(
                settings.REDIS_URL, socket_timeout=0.25, socket_connect_timeout=0.25, retry=Retry(NoBackoff(), 0)
            )
            _client = (os.getpid(), client)
        return _client[1]


def key(episode_id: int) -> str:
    return f"{settings.GAUNTLET_PREFIX}:watching:episode:{episode_id}"


def mark_watched(episode_id: int) -> None:
    """Someone watches the episode (for the next TTL_S seconds)."""
    _redis().set(key(episode_id), "1", ex=TTL_S)


def is_watched(episode_id: int) -> bool:
    try:
        return bool(_redis().exists(key(episode_id)))
    except redis.RedisError:
        log.debug("watching: Redis unreachable, nobody watches episode %s", episode_id, exc_info=True)
        return False


class WatchFlag:
    """Whether an episode is watched, as a flag the runner reads for free; :meth:`refresh` asks Redis again
    when the last answer is CHECK_S old (call it from the episode's own thread: steps, ticks)."""

    def __init__(self, episode_id: int):
        self.episode_id = episode_id
        self.flag = threading.Event()
        self.checked = 0.0

    def refresh(self) -> None:
        now = time.monotonic()
        if now - self.checked < CHECK_S:
            return
        self.checked = now
        if is_watched(self.episode_id):
            self.flag.set()
        else:
            self.flag.clear()

    def __call__(self) -> bool:
        return self.flag.is_set()
