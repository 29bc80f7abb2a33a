"""Run control as a service (runs.control): cancel a run, retry its errored episodes, re-run it."""

from datetime import timedelta

import pytest
from celery import current_app
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from agents import services as agent_services
from agents.models import Team
from runs import control, selectors, services
from runs.models import Episode, Run, RunCounters, Suite
from tests.fakes.agent_server import AgentServer

pytestmark = pytest.mark.django_db


@pytest.fixture
def errored_run(smoke_run, settings):
    """``smoke_run`` with every episode errored (one attempt each), so the run is partial."""
    settings.GAUNTLET_MAX_ATTEMPTS = 1
    for episode in smoke_run.episodes.all():
        assert episode.claim("w", 30)
        assert services.fail_episode(episode, episode.attempts, "browser crashed") == "errored"
    smoke_run.refresh_from_db()
    assert smoke_run.status == Run.PARTIAL
    return smoke_run


@pytest.fixture
def empty_queue():
    """The episodes queue of this test process in the real Redis, empty before and after the test."""
    current_app.control.purge()
    yield
    current_app.control.purge()


@pytest.fixture
def outsider(django_user_model):
    user = django_user_model.objects.create_user("mallory", password="x")
    Team.objects.create(name="other").members.add(user)
    return user


def statuses(run):
    return sorted(run.episodes.values_list("status", flat=True))


def test_it_withdraws_queued_episodes_and_ends_the_run_cancelled(smoke_run, team_user):
    done = control.cancel_run(smoke_run, team_user[1])
    assert (done.withdrawn, done.stopped, done.already) == (6, 0, False)
    smoke_run.refresh_from_db()
    assert smoke_run.status == Run.CANCELLED and smoke_run.finished
    assert statuses(smoke_run) == [Episode.CANCELLED] * 6


def test_the_counters_count_cancelled_episodes(smoke_run, team_user):
    control.cancel_run(smoke_run, team_user[1])
    summary = selectors.run_summary(smoke_run)
    assert summary["counts"]["cancelled"] == 6 and summary["counts"]["queued"] == 0
    assert summary["done"] == summary["total"] == 6
    counted = RunCounters.objects.get(run=smoke_run)
    assert RunCounters.recount(smoke_run).cancelled == counted.cancelled == 6


def test_a_withdrawn_episode_whose_message_arrives_is_not_played(smoke_run, team_user):
    control.cancel_run(smoke_run, team_user[1])
    episode = smoke_run.episodes.first()
    assert services.execute_episode(episode.pk) == "skipped"
    episode.refresh_from_db()
    assert episode.status == Episode.CANCELLED and episode.attempts == 0


def test_the_reaper_leaves_cancelled_episodes_alone(smoke_run, team_user):
    smoke_run.episodes.update(enqueued_at=timezone.now() - timedelta(hours=1))
    control.cancel_run(smoke_run, team_user[1])
    assert services.reap_stranded_episodes() == 0
    assert statuses(smoke_run) == [Episode.CANCELLED] * 6


def test_a_running_episode_loses_its_next_step_write_and_keeps_its_trace(smoke_run, team_user):
    episode = smoke_run.episodes.first()
    assert episode.claim("w", 30)
    recorder = services._EpisodeRecorder(episode, 30)
    recorder("trace", {"event": "episode_start"})
    assert control.cancel_run(smoke_run, team_user[1]).stopped == 1
    with pytest.raises(services.LeaseLost):
        recorder.renew_lease()
    assert control.settle_cancelled(episode, recorder.attempt, recorder.save_trace)
    episode.refresh_from_db()
    assert episode.status == Episode.CANCELLED and episode.trace_path


def test_it_keeps_what_was_scored(played_run):
    run, user = played_run
    done = control.cancel_run(run, user)
    assert (done.withdrawn, done.stopped) == (3, 0)
    run.refresh_from_db()
    assert statuses(run) == [Episode.CANCELLED] * 3 + [Episode.SCORED] * 3
    assert run.metrics["scored"] == 3 and run.metrics["cancelled"] == 3
    assert run.metrics["success_rate"]["n"] == 3
    assert run.metrics["infra_error_rate"]["n"] == 3


def test_cancelling_twice_is_harmless_and_says_so(smoke_run, team_user):
    control.cancel_run(smoke_run, team_user[1])
    again = control.cancel_run(smoke_run, team_user[1])
    assert again.already and "already cancelled" in again.message


def test_cancelling_a_finished_run_is_refused_with_a_reason(errored_run, team_user):
    with pytest.raises(control.RunControlError, match="already partial"):
        control.cancel_run(errored_run, team_user[1])
    assert statuses(errored_run) == [Episode.ERRORED] * 6


def test_only_the_run_s_team_controls_it(smoke_run, outsider):
    for act in (control.cancel_run, control.retry_errored, control.rerun):
        with pytest.raises(PermissionDenied):
            act(smoke_run, outsider)
    assert Run.objects.count() == 1 and statuses(smoke_run) == [Episode.QUEUED] * 6


def test_it_queues_errored_episodes_again_for_fresh_attempts(
    errored_run, team_user, empty_queue, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        assert control.retry_errored(errored_run, team_user[1]) == 6
    assert services._waiting_messages() == 6
    errored_run.refresh_from_db()
    assert errored_run.status == Run.RUNNING and errored_run.finished is None
    episodes = list(errored_run.episodes.all())
    # One attempt was used (GAUNTLET_MAX_ATTEMPTS is 1 here): the next ones are 2, up to 1 + 1.
    assert {(e.status, e.attempts, e.last_attempt, e.infra_error) for e in episodes} == {(Episode.QUEUED, 1, 2, "")}
    summary = selectors.run_summary(errored_run)
    assert summary["counts"]["queued"] == 6 and summary["counts"]["errored"] == 0


def test_a_retried_episode_is_claimed_again(errored_run, team_user):
    control.retry_errored(errored_run, team_user[1])
    assert errored_run.episodes.first().claim("w", 30)


def test_a_retry_never_reuses_an_attempt_number_so_a_stale_worker_stays_refused(errored_run, team_user):
    episode = errored_run.episodes.order_by("pk").first()
    stale = episode.attempts  # a worker that hung on this attempt and still thinks it plays it
    control.retry_errored(errored_run, team_user[1])
    episode.refresh_from_db()
    assert episode.claim("w", 30) and episode.attempts == stale + 1
    assert services.fail_episode(episode, stale, "the stale worker's failure") == "skipped"
    assert Episode.objects.get(pk=episode.pk).status == Episode.RUNNING
    # The retry's own attempts still end in errored once used up.
    assert services.fail_episode(episode, episode.attempts, "browser crashed again") == "errored"


def test_retrying_without_errored_episodes_is_refused(smoke_run, team_user):
    with pytest.raises(control.RunControlError, match="no errored episode"):
        control.retry_errored(smoke_run, team_user[1])


def test_retrying_a_cancelled_run_is_refused(errored_run, team_user):
    Run.objects.filter(pk=errored_run.pk).update(status=Run.CANCELLED)
    with pytest.raises(control.RunControlError, match="re-run it"):
        control.retry_errored(errored_run, team_user[1])


def test_a_rerun_copies_the_settings_and_changes_those_given(smoke_run, team_user):
    new = control.rerun(smoke_run, team_user[1], seed=9, guard=True, max_steps=12)
    assert new.pk != smoke_run.pk
    assert (new.agent_version, new.suite, new.team) == (smoke_run.agent_version, smoke_run.suite, smoke_run.team)
    assert new.config == {**smoke_run.config, "seed": 9, "guard": True, "max_steps": 12}
    assert new.episodes.count() == 6


def test_a_rerun_refuses_settings_it_cannot_change(smoke_run, team_user):
    with pytest.raises(control.RunControlError, match="cannot change suite"):
        control.rerun(smoke_run, team_user[1], suite=None)
    with pytest.raises(control.RunControlError, match="trials must be between"):
        control.rerun(smoke_run, team_user[1], trials=1000)
    assert Run.objects.count() == 1


def test_a_rerun_of_an_agent_that_cannot_be_reached_is_refused(builtins, team_user):
    team, user = team_user
    with AgentServer(lambda request, headers: (200, b'{"action": "noop(0)"}')) as server:
        _, version, _ = agent_services.register_agent(team=team, name="gone", kind="http", config={"url": server.url})
        run = services.queue_run(
            agent_version=version, suite=Suite.objects.get(name="smoke"), team=team, user=user, enqueue=False
        )
    with pytest.raises(agent_services.AgentError, match="cannot be reached"):
        control.rerun(run, user)
    assert Run.objects.count() == 1
