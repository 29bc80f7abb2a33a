"""A worker process plays several episodes at once in one Chromium, and a crash of that browser costs only
the episodes it held: they are retried, unscored, on a new browser, and the process goes on."""

import os
import signal
import socket

import pytest

from agents.models import Agent, AgentVersion
from runs import services
from runs.models import Episode, Run, Suite
from tests.faults.conftest import wait_until
from tests.processes import chromium_browsers, descendants, niceness, renderers, thread_niceness

pytestmark = [pytest.mark.browser, pytest.mark.services]


def long_run(team, user, max_steps: int):
    """The smoke suite's three scenarios with a random agent that never stops: every episode takes all
    ``max_steps`` steps, so the worker's two slots stay busy for a while."""
    agent = Agent.objects.create(team=team, name="restless", kind=Agent.KIND_BUILTIN)
    version = AgentVersion.objects.create(
        agent=agent,
        number=1,
        config={"name": "random", "stop_probability": 0},
        verify_status=AgentVersion.VERIFIED,
    )
    suite = Suite.objects.get(name="smoke", team=None)
    return services.queue_run(agent_version=version, suite=suite, team=team, user=user, trials=1, max_steps=max_steps)


def both_slots_stepping(run, worker) -> list[tuple[int, int]]:
    """(episode, attempt) of the episodes ``worker`` plays, once both of its slots have taken a step."""
    rows = list(
        Episode.objects.filter(
            run=run, status=Episode.RUNNING, steps__gte=1, worker=f"{socket.gethostname()}:{worker.pid}"
        ).values_list("pk", "attempts")
    )
    return rows if len(rows) == 2 else []


def finished(run, worker) -> Run:
    wait_until(
        lambda: Run.objects.get(pk=run.pk).is_final, 240, f"the run to finish:\n{worker.log_path.read_text()[-3000:]}"
    )
    return Run.objects.get(pk=run.pk)


def test_it_plays_two_episodes_at_once_in_one_chromium_at_a_lower_cpu_priority(
    celery_worker_process, builtins, team_user
):
    run = long_run(*team_user, max_steps=6)
    wait_until(lambda: both_slots_stepping(run, celery_worker_process), 120, "two episodes stepping at once")
    browsers = chromium_browsers(celery_worker_process.pid)
    pages = renderers(celery_worker_process.pid)
    assert len(browsers) == 1
    assert len(pages) >= 2  # a context each, never a shared page
    # GAUNTLET_WORKER_NICE (10 by default): the worker's threads, which write steps and publish live events;
    # GAUNTLET_BROWSER_NICE (19): the runner host's loop thread, its Playwright driver and its Chromium.
    assert thread_niceness(celery_worker_process.pid) == {10, 19}
    below = {niceness(pid) for pid in descendants(celery_worker_process.pid)} - {None}
    assert below == {19}
    assert finished(run, celery_worker_process).status == Run.COMPLETE


def test_a_browser_crash_costs_only_the_episodes_it_held(celery_worker_process, builtins, team_user):
    run = long_run(*team_user, max_steps=10)
    held = wait_until(lambda: both_slots_stepping(run, celery_worker_process), 120, "two episodes stepping")
    [browser] = chromium_browsers(celery_worker_process.pid)
    os.kill(browser, signal.SIGKILL)

    run = finished(run, celery_worker_process)
    assert run.status == Run.COMPLETE
    assert celery_worker_process.poll() is None  # the process survived its browser
    attempts = dict(run.episodes.values_list("pk", "attempts"))
    # The two episodes in the dead browser ran again; the third, started later, ran once on the new browser.
    assert sorted(attempts[pk] for pk, _ in held) == [2, 2]
    assert sorted(attempts.values()) == [1, 2, 2]
    assert run.metrics["success_rate"]["n"] == 3  # the failed attempts count nowhere
    assert chromium_browsers(celery_worker_process.pid) not in ([], [browser])
