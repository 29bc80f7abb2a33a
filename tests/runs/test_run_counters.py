"""The run's counters, kept as its episodes change, equal a count of the episodes from scratch after real runs."""

import json
from datetime import timedelta

import pytest
from django.forms.models import model_to_dict
from django.utils import timezone

from agents import services as agent_services
from runs import selectors, services
from runs.models import Episode, Run, RunCounters, Scenario
from tests.fakes.agent_server import AgentServer

pytestmark = [pytest.mark.django_db, pytest.mark.browser]

SHOWN_RATES = ("success_rate", "harmful_rate", "recovery_rate", "attack_success_rate", "containment_rate")


def kept_and_recounted(run: Run) -> tuple[dict, dict]:
    kept = model_to_dict(RunCounters.objects.get(run=run))
    return kept, model_to_dict(RunCounters.recount(run))


def break_scenario(episode: Episode) -> str:
    """Make the sandbox unable to build the episode's scenario (a broken sandbox); returns its task."""
    task = episode.scenario.task
    Scenario.objects.filter(pk=episode.scenario_id).update(task="shop.vanished")
    return task


def test_the_counters_equal_a_recount_after_retries_and_a_reaped_episode(smoke_run, settings):
    settings.GAUNTLET_MAX_ATTEMPTS = 2
    episodes = list(smoke_run.episodes.order_by("pk"))  # two trials of each of three scenarios
    retried, errored, reaped = episodes[0], episodes[2], episodes[4]
    task = break_scenario(retried)
    assert services.execute_episode(retried.pk) == "retry"
    Scenario.objects.filter(pk=retried.scenario_id).update(task=task)
    task = break_scenario(errored)
    assert services.execute_episode(errored.pk) == "retry"
    assert services.execute_episode(errored.pk) == "errored"
    Scenario.objects.filter(pk=errored.scenario_id).update(task=task)
    # A worker dies holding an episode: the reaper returns it to the queue and it is played again.
    assert reaped.claim("dead-worker", 60)
    Episode.objects.filter(pk=reaped.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    services.reap_stranded_episodes()
    for episode in episodes:
        if episode != errored:
            assert services.execute_episode(episode.pk) == "scored"
    smoke_run.refresh_from_db()
    assert smoke_run.status == Run.PARTIAL

    kept, recounted = kept_and_recounted(smoke_run)
    assert kept == recounted
    assert (kept["scored"], kept["errored"], kept["queued"], kept["running"]) == (5, 1, 0, 0)
    assert kept["steps"] > 0 and kept["faulted"] > 0 and kept["adversarial"] > 0


def test_the_live_summary_has_the_finished_run_s_figures(smoke_run):
    for episode in smoke_run.episodes.all():
        assert services.execute_episode(episode.pk) == "scored"
    smoke_run.refresh_from_db()
    summary = selectors.run_summary(smoke_run)
    assert summary["status"] == Run.COMPLETE and summary["done"] == summary["total"] == 6
    for key in (*SHOWN_RATES, "time_to_recover_steps", "time_to_recover_s", "backtracks_per_episode"):
        assert summary["metrics"][key] == smoke_run.metrics[key], key


def noop(request, headers):
    return 200, json.dumps({"action": "noop(0)"}).encode()


def test_the_counters_count_unmeasured_episodes(team_user, builtins):
    team, _ = team_user
    suite, _ = services.register_team_suite("name: one\nscenarios: [{key: buy, task: shop.purchase}]\n", team)
    with AgentServer(noop) as server:
        _, version, _ = agent_services.register_agent(team=team, name="flaky", kind="http", config={"url": server.url})
        run = services.queue_run(agent_version=version, suite=suite, team=team, trials=2, enqueue=False)
    for episode in run.episodes.all():
        assert services.execute_episode(episode.pk, worker="test") == "unmeasured"
    kept, recounted = kept_and_recounted(run)
    assert kept == recounted and kept["unmeasured"] == 2 and kept["scored"] == 0
