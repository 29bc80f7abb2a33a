"""A real Celery worker process runs a run to complete against the real Redis."""

import time

import pytest

from agents.models import Agent
from runs import services
from runs.models import Episode, Run, Suite

pytestmark = [pytest.mark.browser, pytest.mark.services]


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_worker_runs_a_queued_run_to_complete(celery_worker_process, builtins, team_user):
    team, user = team_user
    run = services.queue_run(
        agent_version=Agent.objects.get(name="oracle").latest_version(),
        suite=Suite.objects.get(name="smoke"),
        team=team,
        user=user,
    )
    wait_for(
        lambda: Run.objects.get(pk=run.pk).is_final,
        180,
        f"run to finish; worker log:\n{celery_worker_process.log_path.read_text()[-3000:]}",
    )
    run.refresh_from_db()
    assert run.status == Run.COMPLETE
    assert run.metrics["success_rate"]["value"] == 1.0
    assert set(run.episodes.values_list("status", flat=True)) == {Episode.SCORED}
    assert all(e.attempts == 1 and e.trace_path for e in run.episodes.all())
    # Delivering a finished episode again does nothing (idempotent claim).
    episode = run.episodes.first()
    assert services.execute_episode(episode.pk) == "skipped"
    assert run.event_seq > 0
