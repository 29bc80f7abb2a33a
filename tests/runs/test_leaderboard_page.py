"""The leaderboard page and publishing a run: what another team may and may not see."""

import pytest
from django.urls import reverse

from agents.models import Team
from runs.models import Suite
from tests.runs.boards import finished_run, version

pytestmark = pytest.mark.django_db


@pytest.fixture
def smoke(builtins):
    return Suite.objects.get(name="smoke", team__isnull=True)


@pytest.fixture
def outsider(client, django_user_model):
    """A logged-in member of team beta."""
    user = django_user_model.objects.create_user("bob")
    Team.objects.create(name="beta").members.add(user)
    client.force_login(user)
    return client


def page(client, suite, **query) -> str:
    return client.get(reverse("runs:leaderboard", args=[suite.pk]), query).content.decode()


def test_it_never_shows_another_team_an_unpublished_run_s_numbers(smoke, outsider):
    alpha = Team.objects.create(name="alpha")
    finished_run(version("secret-agent", team=alpha), "s" * 7 + "f" * 4, team=alpha)
    html = page(outsider, smoke)
    assert "secret-agent" not in html and "n=11" not in html and "0.64" not in html


def test_it_shows_another_team_a_published_run_without_a_link_to_it(smoke, outsider):
    alpha = Team.objects.create(name="alpha")
    run = finished_run(version("shared-agent", team=alpha), "sss", team=alpha, published=True)
    html = page(outsider, smoke)
    assert "shared-agent v1" in html and reverse("runs:detail", args=[run.pk]) not in html


def test_it_marks_the_built_in_baselines(smoke, outsider):
    finished_run(version("oracle"), "sss")
    assert 'oracle v1 <span class="status">baseline</span>' in page(outsider, smoke)


def test_it_states_the_test_that_decides_ties(smoke, outsider):
    assert "two-proportion z-test" in page(outsider, smoke)


def test_it_always_shows_the_sorted_column(smoke, outsider):
    finished_run(version("oracle"), "sss")
    assert '<th class="sorted">Over-refusal ▾</th>' in page(outsider, smoke, metric="over_refusal_rate")


def test_it_passes_the_chart_its_points(smoke, outsider):
    finished_run(version("oracle"), "sss")
    html = page(outsider, smoke)
    assert 'id="leaderboard-chart"' in html and '"label": "oracle v1 \\u00b7 plain \\u00b7 30 steps"' in html


def test_it_refuses_an_unknown_condition_with_a_message(smoke, outsider):
    assert "Unknown condition" in page(outsider, smoke, condition="bogus")


def test_a_member_publishes_their_team_s_run(smoke, client, team_user):
    team, user = team_user
    client.force_login(user)
    run = finished_run(version("mine", team=team), "ss", team=team)
    client.post(reverse("runs:publish", args=[run.pk]))
    run.refresh_from_db()
    assert run.published


def test_a_member_withdraws_a_published_run(smoke, client, team_user):
    team, user = team_user
    client.force_login(user)
    run = finished_run(version("mine", team=team), "ss", team=team, published=True)
    client.post(reverse("runs:publish", args=[run.pk]), {"published": "0"})
    run.refresh_from_db()
    assert not run.published


def test_another_team_cannot_publish_a_run(smoke, outsider):
    alpha = Team.objects.create(name="alpha")
    run = finished_run(version("secret-agent", team=alpha), "ss", team=alpha)
    assert outsider.post(reverse("runs:publish", args=[run.pk])).status_code == 404
    run.refresh_from_db()
    assert not run.published
