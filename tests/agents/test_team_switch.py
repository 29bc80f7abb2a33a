"""The current team: kept in the session, chosen in the nav, where new agents, runs and suites go."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from agents import services
from agents.models import Agent, Team
from runs.models import Run, Suite
from tests.agents.teams import member_of

pytestmark = pytest.mark.django_db

SUITE = """\
name: mine
scenarios:
  - key: buy
    task: shop.purchase
"""
PYTHON_AGENT = b"class Agent:\n    def act(self, request):\n        return {'action': 'noop(0)'}\n"


@pytest.fixture
def two_teams(client, team_user, builtins):
    """Alice, in alpha (her first team) and beta, logged in."""
    alpha, alice = team_user
    beta = Team.objects.create(name="beta")
    member_of(beta, alice)
    client.force_login(alice)
    return alpha, beta


def switch(client, team, next_url="/agents/"):
    return client.post(reverse("teams:switch"), {"team": team.pk, "next": next_url})


def test_the_first_team_is_current_until_another_is_chosen(client, two_teams):
    alpha, beta = two_teams
    page = client.get(reverse("runs:index")).content.decode()
    assert f'<option value="{alpha.pk}" selected>alpha</option>' in page
    switch(client, beta)
    page = client.get(reverse("runs:index")).content.decode()
    assert f'<option value="{beta.pk}" selected>beta</option>' in page


def test_switching_returns_to_the_page(client, two_teams):
    assert switch(client, two_teams[1], "/agents/").url == "/agents/"


def test_switching_never_redirects_off_site(client, two_teams):
    assert switch(client, two_teams[1], "https://evil.example/").url == reverse("runs:index")


def test_switching_to_a_team_one_is_not_in_is_404(client, two_teams):
    gamma = Team.objects.create(name="gamma")
    assert switch(client, gamma).status_code == 404
    assert client.post(reverse("teams:switch"), {"team": "x"}).status_code == 404


def test_a_new_agent_goes_to_the_current_team(client, two_teams):
    switch(client, two_teams[1])
    assert "For team beta" in client.get(reverse("agents:new")).content.decode()
    upload = SimpleUploadedFile("agent.py", PYTHON_AGENT)
    data = {"name": "scout", "kind": "python", "observation": ["axtree"], "source_file": upload}
    client.post(reverse("agents:new"), data)
    assert Agent.objects.get(name="scout").team == two_teams[1]


def test_a_new_suite_goes_to_the_current_team(client, two_teams):
    switch(client, two_teams[1])
    assert "For team beta" in client.get(reverse("runs:suite_new")).content.decode()
    client.post(reverse("runs:suite_new"), {"content": SUITE})
    assert Suite.objects.get(name="mine").team == two_teams[1]


def test_a_run_goes_to_the_current_team_and_offers_only_its_agents(client, two_teams):
    alpha, beta = two_teams
    services.register_agent(team=alpha, name="alpha-bot", kind="http", config={"url": "http://127.0.0.1:9/"})
    switch(client, beta)
    page = client.get(reverse("runs:index")).content.decode()
    assert "alpha-bot" not in page and "oracle v1" in page and "In team beta" in page
    alpha_version = Agent.objects.get(name="alpha-bot").latest_version()
    oracle = Agent.objects.get(name="oracle").latest_version()
    smoke = Suite.objects.get(name="smoke")
    form = {"suite": smoke.pk, "trials": 1, "seed": 0}
    refused = client.post(reverse("runs:start"), {**form, "agent_version": alpha_version.pk})
    assert refused.status_code == 400 and Run.objects.count() == 0
    client.post(reverse("runs:start"), {**form, "agent_version": oracle.pk})
    assert Run.objects.get().team == beta


def test_a_team_one_has_left_is_no_longer_current(client, two_teams):
    alpha, beta = two_teams
    switch(client, beta)
    Team.objects.get(pk=beta.pk).memberships.all().delete()
    page = client.get(reverse("runs:index")).content.decode()
    assert f'<option value="{alpha.pk}" selected>alpha</option>' in page and ">beta</option>" not in page


def test_without_a_team_creating_an_agent_sends_one_to_make_a_team(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("solo"))
    assert client.get(reverse("agents:new")).url == reverse("teams:index")
