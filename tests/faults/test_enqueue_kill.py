"""The process that starts a run killed half way through sending its episodes: none is stranded."""

import time

import pytest
import redis
from django.conf import settings

from runs.models import Episode, Run
from tests.faults.conftest import audit, report, wait_for_runs

pytestmark = [pytest.mark.browser, pytest.mark.services, pytest.mark.faults]

EPISODES_PER_RUN = 3 * 6


def fresh_episode_queue(cluster) -> tuple[redis.Redis, str]:
    """The private Redis and the list that holds fresh episodes (priority 6, see settings.py)."""
    prefix = settings.CELERY_BROKER_TRANSPORT_OPTIONS["global_keyprefix"]
    return redis.Redis(port=cluster.redis_port), f"{prefix}{settings.CELERY_TASK_DEFAULT_QUEUE}\x06\x166"


def kill_mid_enqueue(cluster, client, key) -> tuple[int, int]:
    """Start a run and SIGKILL its process at its first message; returns (episodes created, messages sent)."""
    before = client.llen(key)
    proc = cluster.manage(
        "start_demo_run",
        "--agent",
        "oracle",
        "--suite",
        "smoke",
        "--team",
        "faults",
        "--trials",
        str(EPISODES_PER_RUN // 3),
        "--max-steps",
        "2",
    )
    deadline = time.monotonic() + 60
    while client.llen(key) == before and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.0002)
    proc.kill()
    proc.wait()
    cluster.kills += 1
    run = Run.objects.order_by("-pk").first()
    return (run.episodes.count() if run else 0), client.llen(key) - before


def test_it_runs_every_episode_of_a_run_whose_enqueue_was_killed(cluster):
    cluster.start_redis()
    client, key = fresh_episode_queue(cluster)
    # The kill must land after the commit and before the last message; try again if it missed.
    for _ in range(3):
        created, sent = kill_mid_enqueue(cluster, client, key)
        if 0 < sent < created:
            break
    assert 0 < sent < created, f"the kill missed the enqueue ({sent} of {created} sent)"
    unsent = Episode.objects.filter(status=Episode.QUEUED).count() - client.llen(key)
    started = time.monotonic()
    cluster.start_beat()
    for worker in [cluster.start_worker(wait=False) for _ in range(2)]:
        cluster.wait_ready(worker)
    run_ids = list(Run.objects.values_list("pk", flat=True))
    wait_for_runs(run_ids, 240, cluster)
    figures = audit(run_ids)
    report(
        "enqueue killed",
        {
            "runs": len(run_ids),
            "sent_before_kill": sent,
            "unsent": unsent,
            **figures,
            "done_after_workers_start_s": time.monotonic() - started,
        },
    )
    assert (figures["lost"], figures["duplicated"], figures["stuck"]) == (0, 0, 0)
