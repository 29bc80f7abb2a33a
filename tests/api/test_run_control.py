"""Cancel, retry and re-run through the API: the run page's controls (runs.control), with the API's errors."""

import pytest

from runs.models import Episode, Run
from tests.api.conftest import error_of

pytestmark = pytest.mark.django_db


def start(api, **settings) -> int:
    response = api.post("/runs", {"agent": "oracle", "suite": "smoke", "trials": 2, **settings})
    assert response.status_code == 201, response.content
    return response.json()["id"]


def test_cancel_withdraws_queued_episodes_and_keeps_what_was_scored(api, played_run):
    run, _ = played_run
    response = api.post(f"/runs/{run.pk}/cancel", {})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "cancelled" and body["withdrawn"] == 3 and body["stopped"] == 0 and not body["already"]
    assert body["counts"]["scored"] == 3 and body["counts"]["cancelled"] == 3 and body["counts"]["done"] == 6
    assert run.episodes.filter(status=Episode.SCORED).count() == 3
    again = api.post(f"/runs/{run.pk}/cancel", {}).json()
    assert again["already"] and again["status"] == "cancelled" and "already" in again["message"]
    # Its metrics are over the scored episodes, and say so.
    metrics = api.get(f"/runs/{run.pk}/metrics").json()
    assert metrics["final"] and metrics["metrics"]["success_rate"]["n"] == 3


def test_a_finished_run_cannot_be_cancelled(api, played_run):
    run, _ = played_run
    Run.objects.filter(pk=run.pk).update(status=Run.COMPLETE)
    error = error_of(api.post(f"/runs/{run.pk}/cancel", {}), 409)
    assert error["code"] == "run_finished" and "complete" in error["message"]


def test_another_team_cannot_control_a_run(api, other_api):
    run_id = start(api)
    for action in ("cancel", "retry", "rerun"):
        assert error_of(other_api.post(f"/runs/{run_id}/{action}", {}), 404)["code"] == "not_found"
    assert Run.objects.get(pk=run_id).status == Run.QUEUED and Run.objects.count() == 1


def test_retry_queues_the_errored_episodes_again(api):
    run_id = start(api)
    assert error_of(api.post(f"/runs/{run_id}/retry", {}), 409)["code"] == "nothing_to_retry"
    episode = Episode.objects.filter(run_id=run_id).first()
    Episode.objects.filter(pk=episode.pk).update(status=Episode.ERRORED, attempts=3, infra_error="browser crashed")
    Run.objects.filter(pk=run_id).update(status=Run.RUNNING)
    from runs.models import RunCounters

    RunCounters.recount(Run.objects.get(pk=run_id))
    body = api.post(f"/runs/{run_id}/retry", {}).json()
    assert body["queued"] == 1 and body["status"] == "running" and body["counts"]["errored"] == 0
    episode.refresh_from_db()
    assert episode.status == Episode.QUEUED and episode.infra_error == ""


def test_rerun_changes_only_the_settings_given(api):
    run_id = start(api, seed=5, guard=True)
    response = api.post(f"/runs/{run_id}/rerun", {"trials": 1, "backtracking": True})
    assert response.status_code == 201, response.content
    new = Run.objects.get(pk=response.json()["id"])
    old = Run.objects.get(pk=run_id)
    assert new.pk != old.pk and new.agent_version == old.agent_version and new.suite == old.suite
    assert new.config["trials"] == 1 and new.config["backtracking"] and new.config["guard"] and new.config["seed"] == 5
    assert new.team == old.team and new.episodes.count() == 3
    error = error_of(api.post(f"/runs/{run_id}/rerun", {"trials": 0}), 422)
    assert error["code"] in ("invalid", "validation") and Run.objects.count() == 2
