"""Claims, retries and run completion through the public services, on the real database."""

from datetime import timedelta

import pytest
from django.utils import timezone

from agents.models import Agent
from runs import services
from runs.models import Episode, Run, Scenario, Suite

pytestmark = pytest.mark.django_db


@pytest.fixture
def run(builtins, team_user):
    team, user = team_user
    return services.queue_run(
        agent_version=Agent.objects.get(name="oracle").latest_version(),
        suite=Suite.objects.get(name="smoke"),
        team=team,
        user=user,
        enqueue=False,
    )


def test_only_one_claim_wins(run):
    episode = run.episodes.first()
    assert episode.claim("w1", 60)
    assert not Episode.objects.get(pk=episode.pk).claim("w2", 60)
    episode.refresh_from_db()
    assert episode.worker == "w1" and episode.attempts == 1


def test_an_expired_lease_can_be_claimed_again(run):
    episode = run.episodes.first()
    assert episode.claim("dead-worker", 60)
    Episode.objects.filter(pk=episode.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    assert Episode.objects.get(pk=episode.pk).claim("w2", 60)
    assert Episode.objects.get(pk=episode.pk).attempts == 2


def test_the_reaper_requeues_expired_leases(run, django_capture_on_commit_callbacks):
    episode = run.episodes.first()
    episode.claim("dead-worker", 60)
    Episode.objects.filter(pk=episode.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    with django_capture_on_commit_callbacks() as callbacks:
        assert services.reap_stranded_episodes() == 1
    assert len(callbacks) == 2  # the live event (the episode's row, queued again) and the message


@pytest.mark.browser
def test_infrastructure_failures_are_retried_then_left_unscored(run, settings, django_capture_on_commit_callbacks):
    settings.GAUNTLET_MAX_ATTEMPTS = 2
    # A scenario the sandbox cannot build stands in for a broken sandbox.
    Scenario.objects.filter(pk=run.episodes.first().scenario_id).update(task="shop.vanished")
    broken = run.episodes.first()
    with django_capture_on_commit_callbacks():
        assert services.execute_episode(broken.pk) == "retry"
        broken.refresh_from_db()
        assert broken.status == Episode.QUEUED and "shop.vanished" in broken.infra_error
        assert services.execute_episode(broken.pk) == "errored"
        for episode in run.episodes.exclude(pk=broken.pk):
            assert services.execute_episode(episode.pk) == "scored"
    run.refresh_from_db()
    assert run.status == Run.PARTIAL
    assert run.metrics["infra_error_rate"]["value"] == pytest.approx(1 / 3, abs=1e-3)
    assert run.metrics["success_rate"]["n"] == 2  # the errored episode is not scored
    assert services.execute_episode(broken.pk) == "skipped"
