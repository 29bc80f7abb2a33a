"""A message delivered twice, or again after its worker died, plays the episode once with one set of steps."""

import threading
from datetime import timedelta

import pytest
from django.db import connections
from django.utils import timezone

from agents.models import Agent
from runs import services
from runs.models import Episode, Step, Suite
from runs.tasks import run_episode

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def episode(builtins, team_user):
    team, user = team_user
    run = services.queue_run(
        agent_version=Agent.objects.get(name="oracle").latest_version(),
        suite=Suite.objects.get(name="smoke"),
        team=team,
        user=user,
        enqueue=False,
    )
    return run.episodes.first()


def step_indexes(episode):
    return list(Step.objects.filter(episode=episode).order_by("index").values_list("index", flat=True))


def test_it_plays_an_episode_once_when_two_deliveries_arrive_together(episode):
    results = []
    barrier = threading.Barrier(2)

    def deliver():
        barrier.wait()
        try:
            results.append(run_episode(episode.pk))
        finally:
            connections.close_all()  # this thread's own, so the test database can be dropped

    threads = [threading.Thread(target=deliver) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    episode.refresh_from_db()
    assert sorted(results) == ["scored", "skipped"]
    assert episode.attempts == 1
    assert step_indexes(episode) == list(range(1, episode.steps + 1))


def test_it_plays_again_a_redelivered_episode_whose_lease_expired(episode):
    assert episode.claim("dead-worker", 60)
    Step.objects.create(episode=episode, run_id=episode.run_id, index=1, action="click('from-the-dead-attempt')")
    Episode.objects.filter(pk=episode.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    assert run_episode(episode.pk) == "scored"
    episode.refresh_from_db()
    assert episode.attempts == 2
    assert step_indexes(episode) == list(range(1, episode.steps + 1))
    assert not Step.objects.filter(episode=episode, action__contains="from-the-dead-attempt").exists()


def test_it_skips_a_redelivered_episode_whose_lease_is_alive(episode):
    assert episode.claim("busy-worker", 60)
    assert run_episode(episode.pk) == "skipped"
    assert Episode.objects.get(pk=episode.pk).attempts == 1
