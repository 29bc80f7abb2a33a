"""Team beta cannot see team alpha's run, agent, suite, episodes, trace or bundle: 404, as on the pages."""

import pytest

from runs.models import Suite
from tests.api.conftest import error_of
from tests.api.test_agents import PYTHON_AGENT
from tests.api.test_suites import SUITE

pytestmark = pytest.mark.django_db


@pytest.fixture
def alphas(api, played_run):
    run, _ = played_run
    agent = api.post("/agents", {"name": "secret-agent", "kind": "python", "source": PYTHON_AGENT}).json()
    suite = api.post("/suites", {"content": SUITE}).json()
    episode = api.get(f"/runs/{run.pk}/episodes", status="scored").json()["items"][0]
    return {"run": run.pk, "agent": agent["id"], "suite": suite["id"], "episode": episode["id"]}


def test_another_team_s_things_are_not_found(other_api, alphas):
    paths = [
        f"/runs/{alphas['run']}",
        f"/runs/{alphas['run']}/metrics",
        f"/runs/{alphas['run']}/scorecard",
        f"/runs/{alphas['run']}/episodes",
        f"/runs/{alphas['run']}/bundle",
        f"/episodes/{alphas['episode']}",
        f"/episodes/{alphas['episode']}/trace",
        f"/agents/{alphas['agent']}",
        f"/agents/{alphas['agent']}/versions",
        f"/agents/{alphas['agent']}/versions/1",
        f"/suites/{alphas['suite']}",
        f"/suites/{alphas['suite']}/versions",
        f"/suites/{alphas['suite']}/leaderboard",
    ]
    for path in paths:
        assert error_of(other_api.get(path), 404)["code"] == "not_found", path


def test_another_team_s_things_are_not_listed(other_api, alphas):
    assert other_api.get("/runs").json()["count"] == 0
    assert "secret-agent" not in {a["name"] for a in other_api.get("/agents").json()["items"]}
    assert "our-checks" not in {s["name"] for s in other_api.get("/suites").json()["items"]}


def test_another_team_cannot_use_them_or_add_to_them(other_api, alphas):
    agent, suite = alphas["agent"], alphas["suite"]
    assert error_of(other_api.post(f"/agents/{agent}/versions", {"source": PYTHON_AGENT}), 404)["code"] == "not_found"
    assert error_of(other_api.post("/runs", {"agent": "secret-agent", "suite": "smoke"}), 404)["code"] == "not_found"
    refused = other_api.post("/runs", {"agent": "oracle", "suite_id": suite})
    assert error_of(refused, 404)["code"] == "not_found"


def test_another_team_s_private_runs_stay_off_its_leaderboard(other_api, api, alphas):
    smoke = Suite.objects.get(name="smoke")
    for client in (api, other_api):
        assert client.get(f"/suites/{smoke.pk}/leaderboard").status_code == 200
    # Alpha's run is still running, so ranks nowhere; beta sees no run of alpha's in any row.
    rows = other_api.get(f"/suites/{smoke.pk}/leaderboard").json()["items"]
    assert all(alphas["run"] not in row["runs"] for row in rows)
