"""The cap on unparsable actions in a row is a run setting: chosen when a run starts, shown on its page."""

import pytest
from django.urls import reverse

from agents.models import Agent
from runs.models import Run, Suite

pytestmark = pytest.mark.django_db


@pytest.fixture
def logged_in(client, team_user, builtins):
    client.force_login(team_user[1])
    return client


def start(client, **fields):
    oracle = Agent.objects.get(name="oracle").latest_version()
    data = {"agent_version": oracle.pk, "suite": Suite.objects.get(name="smoke").pk, "trials": 1, "seed": 0}
    return client.post(reverse("runs:start"), {**data, **fields})


def test_it_keeps_the_chosen_cap_in_the_run_settings_and_shows_it(logged_in):
    response = start(logged_in, max_invalid_actions=5)
    run = Run.objects.get()
    assert run.config["max_invalid_actions"] == 5
    page = logged_in.get(response.url).content.decode()
    assert "5 unparsable actions in a row end an episode" in page


def test_it_defaults_the_cap_to_three(logged_in):
    start(logged_in)
    assert Run.objects.get().config["max_invalid_actions"] == 3


def test_it_refuses_a_cap_of_zero_with_400(logged_in):
    response = start(logged_in, max_invalid_actions=0)
    assert response.status_code == 400 and not Run.objects.exists()
    assert "greater than or equal to 1" in response.content.decode()


def test_the_comparison_says_when_two_runs_differ_in_the_cap(logged_in):
    start(logged_in, max_invalid_actions=1)
    start(logged_in, max_invalid_actions=5)
    a, b = Run.objects.order_by("pk")
    page = logged_in.get(reverse("runs:compare"), {"a": a.pk, "b": b.pk}).content.decode()
    assert 'id="not-comparable"' in page and "max_invalid_actions" in page
