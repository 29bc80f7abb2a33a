"""Leases are short and renewed while the episode runs, however long a step takes; a hung episode is stopped."""

import threading
import time

import pytest
from django.db import connections

from agents import services as agent_services
from runs import services
from runs.models import Episode, Suite
from runs.tasks import run_episode
from tests.fakes.agent_server import AgentServer

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

STEP_S = 2.5


def slow_noop(request, headers):
    time.sleep(STEP_S)
    return 200, b'{"action": "noop(0)"}'


@pytest.fixture
def slow_episode(builtins, team_user):
    """An episode of two steps whose agent takes STEP_S seconds to answer each."""
    team, user = team_user
    with AgentServer(slow_noop) as server:
        _, version, _ = agent_services.register_agent(team=team, name="slow", kind="http", config={"url": server.url})
        run = services.queue_run(
            agent_version=version,
            suite=Suite.objects.get(name="smoke"),
            team=team,
            user=user,
            max_steps=2,
            enqueue=False,
        )
        yield run.episodes.first()


@pytest.fixture
def busy_reaper():
    """The reaper running every 0.2 s in a thread, as beat would with a very short interval."""
    stop = threading.Event()

    def reap():
        try:
            while not stop.wait(0.2):
                services.reap_stranded_episodes()
        finally:
            connections.close_all()  # this thread's own, so the test database can be dropped

    thread = threading.Thread(target=reap)
    thread.start()
    yield
    stop.set()
    thread.join()


def test_it_claims_for_the_lease_setting(slow_episode, settings):
    settings.GAUNTLET_LEASE_S = 7
    assert slow_episode.claim("w", settings.GAUNTLET_LEASE_S)
    assert 6 <= (slow_episode.lease_until - slow_episode.started).total_seconds() <= 8


def test_it_keeps_an_episode_whose_steps_outlast_the_lease(slow_episode, settings, busy_reaper):
    settings.GAUNTLET_LEASE_S = 2
    assert run_episode(slow_episode.pk) == "scored"
    assert Episode.objects.get(pk=slow_episode.pk).attempts == 1


def test_it_stops_and_retries_an_episode_past_the_episode_timeout(slow_episode, settings):
    settings.GAUNTLET_LEASE_S = 3
    settings.GAUNTLET_EPISODE_TIMEOUT_S = 2
    assert run_episode(slow_episode.pk) == "retry"
    episode = Episode.objects.get(pk=slow_episode.pk)
    assert episode.status == Episode.QUEUED and "longer than 2 s" in episode.infra_error
