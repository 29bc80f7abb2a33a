"""Fair sharing with a real worker: a small run overtakes a big one's backlog, a run's first episodes cover
its scenarios, and a team stays within its limit while another team uses the free slots."""

import time

import pytest
from celery import current_app

from agents.models import Agent, Team
from runs import services
from runs.models import Episode, Run, Suite

pytestmark = [pytest.mark.browser, pytest.mark.services]

CAPACITY = 2  # celery_worker_process plays two episodes at once
AHEAD = 2


@pytest.fixture
def empty_queue():
    current_app.control.purge()
    yield
    current_app.control.purge()


def queue(team, trials):
    # Two steps: the oracle does not finish, but each episode is short, which is all these tests need.
    return services.queue_run(
        agent_version=Agent.objects.get(name="oracle").latest_version(),
        suite=Suite.objects.get(name="smoke"),
        team=team,
        trials=trials,
        max_steps=2,
    )


def wait_for(predicate, timeout, worker, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}; worker log:\n{worker.log_path.read_text()[-3000:]}")


def started(run):
    return run.episodes.filter(started__isnull=False)


def most_at_once(episodes) -> int:
    """The most of ``episodes`` (finished ones) that were running at the same moment."""
    edges = sorted([(e.started, 1) for e in episodes] + [(e.finished, -1) for e in episodes])
    running = peak = 0
    for _, change in edges:
        running += change
        peak = max(peak, running)
    return peak


@pytest.mark.parametrize("worker_env", [{"GAUNTLET_DISPATCH_AHEAD": str(AHEAD)}], indirect=True)
def test_it_starts_a_small_run_behind_a_big_one_within_a_worker_capacity(
    celery_worker_process, worker_env, builtins, empty_queue, settings
):
    settings.GAUNTLET_DISPATCH_AHEAD = AHEAD
    big = queue(Team.objects.create(name="big"), trials=12)  # 36 episodes
    wait_for(lambda: started(big).count() >= CAPACITY, 60, celery_worker_process, "the big run to start")
    small = queue(Team.objects.create(name="small"), trials=1)
    big_before = started(big).count()
    wait_for(lambda: started(small).exists(), 60, celery_worker_process, "the small run to start")
    first = started(small).order_by("started").first().started
    big_meanwhile = big.episodes.filter(started__lt=first).count() - big_before
    assert big_meanwhile <= AHEAD + CAPACITY, f"{big_meanwhile} episodes of the big run started first"
    wait_for(lambda: Run.objects.get(pk=small.pk).is_final, 60, celery_worker_process, "the small run to end")
    assert Episode.objects.filter(run=big, status=Episode.QUEUED).count() > 0  # it did not wait for the big one
    # The big run's first episodes to go out are one of each of the suite's three scenarios. (In dispatch order:
    # which of the episodes sent together a worker's threads start first is up to the machine's load.)
    firsts = big.episodes.order_by("dispatch_order")[:3]
    assert len({e.scenario_id for e in firsts}) == 3


LIMIT = 2


@pytest.mark.parametrize(
    "worker_env",
    [{"GAUNTLET_EPISODES_PER_WORKER": "3", "GAUNTLET_TEAM_MAX_RUNNING": str(LIMIT), "GAUNTLET_DISPATCH_AHEAD": "2"}],
    indirect=True,
)
def test_it_keeps_each_team_within_its_limit_while_others_use_the_free_slots(
    celery_worker_process, worker_env, builtins, empty_queue, settings
):
    settings.GAUNTLET_TEAM_MAX_RUNNING = LIMIT
    settings.GAUNTLET_DISPATCH_AHEAD = 2
    greedy = queue(Team.objects.create(name="greedy"), trials=4)  # 12 episodes
    wait_for(lambda: started(greedy).count() >= LIMIT, 60, celery_worker_process, "the first run to start")
    other = queue(Team.objects.create(name="other"), trials=2)  # 6 episodes
    runs = (greedy, other)
    wait_for(lambda: all(Run.objects.get(pk=r.pk).is_final for r in runs), 120, celery_worker_process, "both runs")
    assert most_at_once(greedy.episodes.all()) == LIMIT
    assert most_at_once(other.episodes.all()) <= LIMIT
    # Three at once: the worker's third slot went to the other team while the first was at its limit.
    assert most_at_once(Episode.objects.filter(run__in=runs)) == 3
