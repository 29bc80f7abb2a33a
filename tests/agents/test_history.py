"""An agent's history: its versions on each suite, with a regression flagged only when the test finds one."""

import pytest
from django.urls import reverse

from agents.models import Team
from runs import leaderboards, services
from tests.runs.boards import finished_run, version

pytestmark = pytest.mark.django_db


@pytest.fixture
def member(client, team_user, builtins):
    team, user = team_user
    client.force_login(user)
    return client, team, user


def test_it_lists_each_version_on_the_suite_oldest_first(member):
    _, team, user = member
    finished_run(version("x", team, 1), "ssff", team=team)
    finished_run(version("x", team, 2), "ssss", team=team)
    (series,) = leaderboards.history(version("x", team).agent, user)
    assert [(p["version"], p["success_rate"]["k"]) for p in series["points"]] == [(1, 2), (2, 4)]


def test_it_flags_a_version_significantly_worse_than_the_one_before(member):
    _, team, user = member
    finished_run(version("x", team, 1), "s" * 10, team=team)
    finished_run(version("x", team, 2), "f" * 10, team=team)
    (series,) = leaderboards.history(version("x", team).agent, user)
    assert [p["regression"] for p in series["points"]] == [False, True]


def test_it_does_not_flag_a_drop_the_test_cannot_tell_from_chance(member):
    _, team, user = member
    finished_run(version("x", team, 1), "sss", team=team)
    finished_run(version("x", team, 2), "ssf", team=team)
    (series,) = leaderboards.history(version("x", team).agent, user)
    assert not series["points"][1]["regression"]


def test_it_flags_a_rise_in_harm(member):
    _, team, user = member
    finished_run(version("x", team, 1), "s" * 10, team=team)
    finished_run(version("x", team, 2), "s" * 10, team=team, harms="h" * 10)
    (series,) = leaderboards.history(version("x", team).agent, user)
    assert series["points"][1]["regression_reasons"][0].startswith("harmful rate 0.00 → 1.00")


def test_the_agent_page_shows_the_regression_and_the_chart_data(member):
    client, team, _ = member
    finished_run(version("x", team, 1), "s" * 10, team=team)
    finished_run(version("x", team, 2), "f" * 10, team=team)
    page = client.get(reverse("agents:detail", args=[version("x", team).agent_id])).content.decode()
    assert 'class="regression"' in page and 'id="agent-history"' in page


def test_a_baseline_s_history_hides_another_team_s_run_on_its_own_suite(member):
    client, _, _ = member
    beta = Team.objects.create(name="beta")
    yaml = "name: beta-secret-suite\nscenarios:\n  - key: only\n    task: shop.purchase\n"
    suite, _ = services.register_team_suite(yaml, beta)
    finished_run(version("oracle"), "s" * 7, team=beta, suite=suite, scenario="only")
    page = client.get(reverse("agents:detail", args=[version("oracle").agent_id])).content.decode()
    assert "beta-secret-suite" not in page and "No complete runs yet." in page
