"""Comparing two runs: paired by (scenario, trial) on the same seed, a verdict only when the test finds one."""

import pytest
from django.urls import reverse

from runs import selectors
from tests.runs.boards import finished_run, version

pytestmark = pytest.mark.django_db


@pytest.fixture
def member(client, team_user, builtins):
    team, user = team_user
    client.force_login(user)
    return client, team


def compare_page(client, a, b) -> str:
    return client.get(reverse("runs:compare"), {"a": a.pk, "b": b.pk}).content.decode()


def test_it_counts_the_flips_of_each_scenario(member):
    _, team = member
    a = finished_run(version("x", team), "sfsf", team=team)
    b = finished_run(version("x", team), "ssss", team=team, guard=True)
    (flips,) = selectors.compare_runs(a, b)["tested"]["flips"]
    assert (flips["pairs"], flips["success_only_a"], flips["success_only_b"]) == (4, 0, 2)


def test_it_says_no_significant_difference_on_two_flips(member):
    client, team = member
    a = finished_run(version("x", team), "ffss", team=team)
    b = finished_run(version("x", team), "ssss", team=team, guard=True)
    verdict = compare_page(client, a, b).split('id="verdict"')[1].split("</section>")[0]
    assert "Success:</strong>\n    no significant difference" in verdict


def test_it_calls_a_run_better_when_mcnemar_is_significant(member):
    client, team = member
    a = finished_run(version("x", team), "ffffff", team=team)
    b = finished_run(version("x", team), "ssssss", team=team, guard=True)
    assert f"run #{b.pk} is better" in compare_page(client, a, b)


def test_it_does_not_colour_a_rate_on_an_insignificant_difference(member):
    client, team = member
    a = finished_run(version("x", team), "ffss", team=team)
    b = finished_run(version("x", team), "ssss", team=team, guard=True)
    table = compare_page(client, a, b).split('id="comparison"')[1]
    assert 'class="good"' not in table


def test_it_tests_runs_of_different_seeds_unpaired(member):
    _, team = member
    a = finished_run(version("x", team), "f" * 9, team=team, seed=1)
    b = finished_run(version("x", team), "s" * 9, team=team, seed=2)
    tested = selectors.compare_runs(a, b)["tested"]
    assert not tested["paired"] and tested["flips"] == [] and tested["outcomes"]["success_rate"]["better"] == 1


def test_the_run_page_offers_no_comparison_for_a_first_run(member):
    client, team = member
    run = finished_run(version("x", team), "ss", team=team)
    assert 'id="compare-link"' not in client.get(reverse("runs:detail", args=[run.pk])).content.decode()


def test_the_run_page_offers_the_agent_s_previous_version(member):
    client, team = member
    previous = finished_run(version("x", team, number=1), "ss", team=team)
    finished_run(version("x", team, number=2), "ss", team=team, guard=True)
    run = finished_run(version("x", team, number=2), "ss", team=team)
    page = client.get(reverse("runs:detail", args=[run.pk])).content.decode()
    assert f"?a={previous.pk}&amp;b={run.pk}" in page


def test_the_run_page_offers_the_same_version_with_other_settings(member):
    client, team = member
    other = finished_run(version("x", team), "ss", team=team, guard=True)
    finished_run(version("x", team), "ss", team=team)
    run = finished_run(version("x", team), "ss", team=team)
    page = client.get(reverse("runs:detail", args=[run.pk])).content.decode()
    assert f"?a={other.pk}&amp;b={run.pk}" in page
