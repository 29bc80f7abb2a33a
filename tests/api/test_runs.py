import io
import zipfile

import pytest

from agents.models import Agent
from runs.models import Run
from tests.api.conftest import error_of

pytestmark = pytest.mark.django_db


def test_it_starts_a_run_by_names_with_every_setting(api, team_user):
    settings = {
        "trials": 2,
        "seed": 7,
        "max_steps": 12,
        "backtracking": True,
        "guard": True,
        "auto_rollback": True,
        "max_invalid_actions": 5,
        "playwright_trace": "on_failure",
    }
    response = api.post("/runs", {"agent": "oracle@1", "suite": "smoke", **settings})
    assert response.status_code == 201, response.content
    body = response.json()
    run = Run.objects.get(pk=body["id"])
    assert run.team == team_user[0] and run.episodes.count() == 6
    assert {key: run.config[key] for key in settings} == settings == {key: body["config"][key] for key in settings}
    assert body["status"] == "queued" and body["counts"]["queued"] == 6 and body["counts"]["total"] == 6
    assert body["agent"] == "oracle" and body["suite"] == "smoke" and body["url"].endswith(f"/runs/{run.pk}/")


def test_it_starts_a_run_by_ids(api):
    version = Agent.objects.get(name="gullible").latest_version()
    suite_id = api.get("/suites", name="smoke").json()["items"][0]["id"]
    response = api.post("/runs", {"agent_version_id": version.pk, "suite_id": suite_id})
    assert response.status_code == 201 and response.json()["config"]["trials"] == 1


def test_it_names_what_it_cannot_find(api):
    error = error_of(api.post("/runs", {"agent": "nobody", "suite": "smoke"}), 404)
    assert error["code"] == "not_found" and "nobody" in error["message"]
    assert error_of(api.post("/runs", {"agent": "oracle", "suite": "smoke@99"}), 404)["code"] == "not_found"
    assert error_of(api.post("/runs", {"suite": "smoke"}), 422)["code"] == "invalid"
    assert error_of(api.post("/runs", {"agent": "oracle", "suite": "smoke", "trials": 0}), 422)["code"] == "invalid"
    assert not Run.objects.exists()


def test_an_unreachable_agent_is_refused_before_the_run_exists(api):
    agent = api.post("/agents", {"name": "down", "kind": "http", "url": "http://127.0.0.1:9/"}).json()
    error = error_of(api.post("/runs", {"agent": agent["name"], "suite": "smoke"}), 409)
    assert error["code"] == "agent_unreachable" and "cannot be reached" in error["message"]
    assert not Run.objects.exists()


def test_a_version_that_failed_verification_needs_allow_unverified(api):
    source = "class Agent:\n    def act(self, request):\n        return None\n"
    agent = api.post("/agents", {"name": "broken", "kind": "python", "source": source}).json()
    assert agent["version"]["verify_status"] == "failed"
    error = error_of(api.post("/runs", {"agent": "broken", "suite": "smoke"}), 409)
    assert error["code"] == "agent_unverified" and "broken v1 failed its verification" in error["message"]
    assert error["details"] == {"verify_detail": agent["version"]["verify_detail"]}
    assert "returned NoneType" in error["details"]["verify_detail"]
    assert not Run.objects.exists()
    response = api.post("/runs", {"agent": "broken", "suite": "smoke", "allow_unverified": True})
    assert response.status_code == 201, response.content


def test_status_metrics_and_scorecard(api, played_run):
    run, _ = played_run
    status = api.get(f"/runs/{run.pk}").json()
    assert status["counts"]["scored"] == 3 and status["counts"]["queued"] == 3 and status["counts"]["done"] == 3
    metrics = api.get(f"/runs/{run.pk}/metrics").json()
    assert not metrics["final"] and metrics["metrics"]["success_rate"]["n"] == 3
    assert {"value", "low", "high", "k", "n"} <= set(metrics["metrics"]["harmful_rate"])
    card = api.get(f"/runs/{run.pk}/scorecard").json()
    assert card["run_id"] == run.pk


def test_a_finished_run_s_metrics_are_its_stored_ones(api, played_run):
    run, _ = played_run
    Run.objects.filter(pk=run.pk).update(status=Run.PARTIAL, metrics={"success_rate": {"value": 0.5}})
    metrics = api.get(f"/runs/{run.pk}/metrics").json()
    assert metrics["final"] and metrics["metrics"] == {"success_rate": {"value": 0.5}}


def test_episodes_filter_and_trace(api, played_run):
    run, _ = played_run
    episodes = api.get(f"/runs/{run.pk}/episodes", status="scored").json()
    assert episodes["count"] == 3 and all(e["status"] == "scored" for e in episodes["items"])
    assert api.get(f"/runs/{run.pk}/episodes", status="queued").json()["count"] == 3
    assert api.get(f"/runs/{run.pk}/episodes", condition="adversarial").json()["count"] == 2
    one = episodes["items"][0]
    assert api.get(f"/runs/{run.pk}/episodes", scenario=one["scenario"]).json()["count"] == 2
    assert api.get(f"/episodes/{one['id']}").json() == one
    trace = api.get(f"/episodes/{one['id']}/trace")
    assert trace.status_code == 200 and trace["Content-Type"] == "application/x-ndjson"
    assert b"".join(trace.streaming_content).startswith(b"{")
    queued = api.get(f"/runs/{run.pk}/episodes", status="queued").json()["items"][0]
    assert error_of(api.get(f"/episodes/{queued['id']}/trace"), 404)["code"] == "not_found"
    assert error_of(api.get(f"/runs/{run.pk}/episodes", status="lost"), 422)["code"] == "invalid"


def test_the_bundle_is_the_run_s_zip(api, played_run):
    run, _ = played_run
    response = api.get(f"/runs/{run.pk}/bundle")
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))).namelist()
    assert "run.json" in names and "steps.parquet" in names


def test_runs_list_filters_by_status(api, played_run):
    run, _ = played_run
    assert [r["id"] for r in api.get("/runs").json()["items"]] == [run.pk]
    assert api.get("/runs", status="complete").json()["count"] == 0
    assert api.get("/runs", suite_id=run.suite_id).json()["count"] == 1
