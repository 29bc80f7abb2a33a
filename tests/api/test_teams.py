"""Which team a thing made through the API goes to: a token has no current team, so a user in several says."""

from agents.models import Agent, Team
from runs.models import Run
from tests.api.conftest import error_of

SOURCE = "class Agent:\n    def act(self, request):\n        return 'stop()'\n"


def python_agent(name: str, **extra) -> dict:
    return {"name": name, "kind": "python", "source": SOURCE, **extra}


def test_a_user_in_one_team_need_not_name_it(api, team_user):
    team, _ = team_user
    assert api.post("/agents", python_agent("solo")).status_code == 201
    assert Agent.objects.get(name="solo").team == team


def test_a_user_in_two_teams_must_say_which(api, team_user):
    alpha, alice = team_user
    gamma = Team.objects.create(name="gamma")
    gamma.members.add(alice)
    error = error_of(api.post("/agents", python_agent("twofold")), 422)
    assert error["code"] == "ambiguous" and "alpha" in error["message"] and "gamma" in error["message"]
    assert not Agent.objects.filter(name="twofold").exists()
    assert api.post("/agents", python_agent("twofold", team=gamma.pk)).status_code == 201
    assert Agent.objects.get(name="twofold").team == gamma
    # A run of a built-in agent on a built-in suite needs the team too; a run of a team's agent goes to its team.
    assert error_of(api.post("/runs", {"agent": "oracle", "suite": "smoke", "trials": 1}), 422)["code"] == "ambiguous"
    started = api.post("/runs", {"agent": "oracle", "suite": "smoke", "trials": 1, "team": alpha.pk})
    assert started.status_code == 201 and Run.objects.get(pk=started.json()["id"]).team == alpha
    started = api.post("/runs", {"agent": "twofold", "suite": "smoke", "trials": 1})
    assert started.status_code == 201 and Run.objects.get(pk=started.json()["id"]).team == gamma


def test_a_team_cannot_run_another_team_s_agent(api, team_user):
    alpha, alice = team_user
    gamma = Team.objects.create(name="gamma")
    gamma.members.add(alice)
    assert api.post("/agents", python_agent("gammas", team=gamma.pk)).status_code == 201
    before = Run.objects.count()
    error = error_of(api.post("/runs", {"agent": "gammas", "suite": "smoke", "trials": 1, "team": alpha.pk}), 422)
    assert "gamma" in error["message"] and Run.objects.count() == before


def test_a_team_the_user_is_not_in_is_not_found(api, other_api):
    beta = Team.objects.get(name="beta")
    error = error_of(api.post("/agents", python_agent("intruder", team=beta.pk)), 404)
    assert error["code"] == "not_found" and not Agent.objects.filter(name="intruder").exists()
