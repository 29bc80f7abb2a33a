"""Redis killed and restarted empty mid-run: every queued message is gone, yet every episode is scored once."""

import time

import pytest

from runs.models import Episode
from tests.faults.conftest import audit, report, wait_for_runs, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.services, pytest.mark.faults]


def test_it_scores_every_episode_once_when_redis_restarts_empty(cluster):
    cluster.start_redis()
    for worker in [cluster.start_worker(wait=False) for _ in range(2)]:
        cluster.wait_ready(worker)
    cluster.start_beat()
    run_id = cluster.start_run(trials=3)
    wait_until(lambda: Episode.objects.filter(run=run_id, status=Episode.SCORED).count() >= 2, 120, "two scored")
    cluster.kill_redis()
    stranded = Episode.objects.filter(run=run_id, status=Episode.QUEUED).count()
    time.sleep(1)
    cluster.start_redis()
    restarted = time.monotonic()
    wait_for_runs([run_id], 180, cluster)
    figures = audit([run_id])
    report(
        "redis restarted empty",
        {"queued_when_lost": stranded, **figures, "done_after_restart_s": time.monotonic() - restarted},
    )
    assert stranded > 0, "the restart came too late to lose any message"
    assert (figures["lost"], figures["duplicated"], figures["stuck"]) == (0, 0, 0)
