"""Cancelling a run that a real Celery worker process is playing: running episodes stop at a step boundary."""

import time

import pytest
from django.utils import timezone

from agents.models import Agent
from runs import control, services
from runs.models import Episode, Run, Step, Suite

pytestmark = [pytest.mark.browser, pytest.mark.services]


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_cancel_stops_running_episodes_withdraws_queued_ones_and_keeps_scored_ones(
    celery_worker_process, builtins, team_user
):
    team, user = team_user
    # The random agent takes many quick steps (up to 40), so episodes are caught mid-way.
    run = services.queue_run(
        agent_version=Agent.objects.get(name="random").latest_version(),
        suite=Suite.objects.get(name="smoke"),
        team=team,
        user=user,
        trials=4,
        max_steps=40,
    )
    log = celery_worker_process.log_path

    def caught_mid_way():
        episodes = run.episodes.all()
        return (
            episodes.filter(status=Episode.SCORED).exists()
            and episodes.filter(status=Episode.RUNNING, steps__gte=2).exists()
        )

    wait_for(caught_mid_way, 180, f"a scored and a running episode; worker log:\n{log.read_text()[-3000:]}")
    caught = run.episodes.filter(status=Episode.RUNNING, steps__gte=2).first()
    done = control.cancel_run(run, user)
    cancelled_at, clock = timezone.now(), time.monotonic()
    assert done.stopped >= 1 and done.withdrawn >= 1
    stopped = Episode.objects.filter(run=run, status=Episode.CANCELLED, attempts__gte=1)
    scored = set(Episode.objects.filter(run=run, status=Episode.SCORED).values_list("pk", flat=True))

    # The worker finds out at its next step write (or lease tick) and records the trace it has so far.
    wait_for(lambda: not stopped.filter(trace_path="").exists(), 30, f"the stop; log:\n{log.read_text()[-3000:]}")
    stop_ms = (time.monotonic() - clock) * 1000
    time.sleep(2)  # anything still in flight would land now

    run.refresh_from_db()
    assert run.status == Run.CANCELLED
    assert set(run.episodes.filter(status=Episode.SCORED).values_list("pk", flat=True)) == scored
    assert not run.episodes.filter(status__in=(Episode.QUEUED, Episode.RUNNING, Episode.ERRORED)).exists()
    assert not Step.objects.filter(run=run, created__gt=cancelled_at).exists()
    assert run.counters.cancelled == done.withdrawn + done.stopped
    assert run.metrics["scored"] == len(scored)
    # Stopped at a step boundary: the steps it had taken kept (one more if it was being written as the cancel
    # came), none after it.
    indexes = list(caught.step_set.values_list("index", flat=True))
    assert indexes == list(range(1, len(indexes) + 1)) and len(indexes) in (caught.steps, caught.steps + 1)
    # One attempt each, no retry, unscored.
    assert {(e.attempts, e.success) for e in stopped} == {(1, None)}
    # Withdrawn episodes were never claimed, though their messages were delivered.
    assert run.episodes.filter(status=Episode.CANCELLED, attempts=0).count() == done.withdrawn
    assert "'cancelled'" in log.read_text()
    print(
        f"\ncancel → running episodes stopped: {stop_ms:.0f} ms ({done.stopped} stopped, {done.withdrawn} withdrawn;"
        f" {caught.steps} steps written at the cancel, {len(indexes)} kept)"
    )
