"""The reaper puts back in the queue what a dead worker or the broker lost, and nothing more."""

from datetime import timedelta

import pytest
from celery import current_app
from django.utils import timezone

from agents.models import Agent
from runs import services
from runs.models import Episode, Run, Suite

pytestmark = pytest.mark.django_db


@pytest.fixture
def empty_queue():
    """The episodes queue of this test process in the real Redis, empty before and after the test."""
    current_app.control.purge()
    yield
    current_app.control.purge()


@pytest.fixture
def queue_smoke_run(builtins, team_user, settings):
    team, user = team_user
    # The reaper's own mechanics, on runs whose episodes are all sent at once (tests/runs/test_dispatch.py
    # has the reaper dispatching episodes that wait for fair dispatch).
    settings.GAUNTLET_FAIR_DISPATCH = False

    def queue(**options):
        # Under the `db` fixture nothing commits, so on-commit messages never leave: as if the broker lost them.
        return services.queue_run(
            agent_version=Agent.objects.get(name="oracle").latest_version(),
            suite=Suite.objects.get(name="smoke"),
            team=team,
            user=user,
            **options,
        )

    return queue


def age(episodes, seconds):
    episodes.update(enqueued_at=timezone.now() - timedelta(seconds=seconds))


def expire(episode):
    Episode.objects.filter(pk=episode.pk).update(lease_until=timezone.now() - timedelta(seconds=1))


def test_it_returns_an_expired_lease_to_the_queue(queue_smoke_run, empty_queue, django_capture_on_commit_callbacks):
    episode = queue_smoke_run(enqueue=False).episodes.first()
    episode.claim("dead-worker", 60)
    expire(episode)
    with django_capture_on_commit_callbacks() as callbacks:
        assert services.reap_stranded_episodes() == 1
    episode.refresh_from_db()
    # Two callbacks: the live event that shows the episode queued again (its seq is the run's latest), and
    # the message that sends it.
    assert (episode.status, episode.lease_until, episode.attempts, len(callbacks)) == ("queued", None, 1, 2)
    assert episode.seq == Run.objects.get(pk=episode.run_id).event_seq > 0


def test_it_leaves_a_live_lease_alone(queue_smoke_run, empty_queue):
    episode = queue_smoke_run(enqueue=False).episodes.first()
    episode.claim("busy-worker", 60)
    assert services.reap_stranded_episodes() == 0
    assert Episode.objects.get(pk=episode.pk).status == Episode.RUNNING


def test_it_errors_an_expired_lease_on_the_last_attempt(queue_smoke_run, empty_queue, settings):
    settings.GAUNTLET_MAX_ATTEMPTS = 1
    episode = queue_smoke_run(enqueue=False).episodes.first()
    episode.claim("dead-worker", 60)
    expire(episode)
    assert services.reap_stranded_episodes() == 0
    episode.refresh_from_db()
    assert episode.status == Episode.ERRORED and "lease expired" in episode.infra_error


def test_it_resends_queued_episodes_whose_messages_were_lost(queue_smoke_run, empty_queue, settings):
    run = queue_smoke_run()
    age(run.episodes, settings.GAUNTLET_REQUEUE_AFTER_S + 1)
    assert services.reap_stranded_episodes() == run.episodes.count()


def test_it_waits_the_bound_before_resending(queue_smoke_run, empty_queue, settings):
    run = queue_smoke_run()
    age(run.episodes, settings.GAUNTLET_REQUEUE_AFTER_S - 5)
    assert services.reap_stranded_episodes() == 0


def test_it_does_not_resend_episodes_whose_messages_wait_in_the_broker(
    queue_smoke_run, empty_queue, settings, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        run = queue_smoke_run()
    assert not run.enqueue_deferred
    age(run.episodes, settings.GAUNTLET_REQUEUE_AFTER_S + 1)
    assert services.reap_stranded_episodes() == 0


def test_it_resends_only_as_many_as_the_broker_is_missing(
    queue_smoke_run, empty_queue, settings, django_capture_on_commit_callbacks
):
    run = queue_smoke_run()
    ids = list(run.episodes.order_by("pk").values_list("pk", flat=True))
    assert services.enqueue_episodes(ids[1:])
    age(run.episodes.filter(pk=ids[0]), settings.GAUNTLET_REQUEUE_AFTER_S + 2)
    age(run.episodes.exclude(pk=ids[0]), settings.GAUNTLET_REQUEUE_AFTER_S + 1)
    with django_capture_on_commit_callbacks(execute=True):
        assert services.reap_stranded_episodes() == 1
    # The message sent again is counted by the broker from now on.
    age(run.episodes, settings.GAUNTLET_REQUEUE_AFTER_S + 1)
    assert services.reap_stranded_episodes() == 0


def test_it_never_sends_episodes_their_caller_plays_itself(queue_smoke_run, empty_queue):
    run = queue_smoke_run(enqueue=False)
    assert set(run.episodes.values_list("enqueued_at", flat=True)) == {None}
    assert services.reap_stranded_episodes() == 0
