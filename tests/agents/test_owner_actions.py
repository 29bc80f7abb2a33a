"""What only owners may do with their team's things: replace secrets and API keys, publish runs."""

import pytest
from django.urls import reverse

from agents import crypto, services
from runs.models import Run
from tests.agents.teams import member_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def bob(client, team_user, django_user_model):
    """A logged-in member (not an owner) of team alpha."""
    team, _ = team_user
    user = member_of(team, django_user_model.objects.create_user("bob"))
    client.force_login(user)
    return user


@pytest.fixture
def http_agent(team_user):
    agent, _, secret = services.register_agent(
        team=team_user[0], name="scout", kind="http", config={"url": "http://127.0.0.1:9/"}
    )
    return agent, secret


def test_a_member_cannot_replace_a_signing_secret(client, bob, http_agent):
    agent, secret = http_agent
    response = client.post(reverse("agents:rotate_secret", args=[agent.pk]))
    assert response.status_code == 403 and "Only an owner" in response.content.decode()
    agent.refresh_from_db()
    assert crypto.decrypt(agent.secret_encrypted) == secret


def test_a_member_is_not_offered_the_replace_button(client, bob, http_agent):
    page = client.get(reverse("agents:detail", args=[http_agent[0].pk])).content.decode()
    assert "Replace the secret" not in page and "a team owner can replace it" in page


def test_an_owner_is_offered_the_replace_button(client, team_user, http_agent):
    client.force_login(team_user[1])
    assert "Replace the secret" in client.get(reverse("agents:detail", args=[http_agent[0].pk])).content.decode()


def test_a_member_cannot_replace_an_llm_api_key(client, bob, team_user):
    config = {"name": "llm", "base_url": "http://127.0.0.1:9/v1", "model": "m", "observation": ["axtree"]}
    agent, _, _ = services.register_agent(
        team=team_user[0], name="chatty", kind="builtin", config=config, secret="sk-first"
    )
    data = {"base_url": "http://127.0.0.1:9/v1", "model": "m2", "observation": ["axtree"], "api_key": "sk-mine"}
    response = client.post(reverse("agents:add_version", args=[agent.pk]), data)
    assert response.status_code == 400 and "Only an owner" in response.content.decode()
    agent.refresh_from_db()
    assert crypto.decrypt(agent.secret_encrypted) == "sk-first" and agent.versions.count() == 1


def test_a_member_cannot_publish_a_run(client, bob, smoke_run):
    response = client.post(reverse("runs:publish", args=[smoke_run.pk]))
    assert response.status_code == 403 and "Only an owner" in response.content.decode()
    assert not Run.objects.get(pk=smoke_run.pk).published


def test_an_owner_publishes_a_run(client, smoke_run, team_user):
    client.force_login(team_user[1])
    client.post(reverse("runs:publish", args=[smoke_run.pk]))
    assert Run.objects.get(pk=smoke_run.pk).published


def test_another_team_s_run_cannot_be_published(client, smoke_run, django_user_model):
    client.force_login(django_user_model.objects.create_user("eve"))
    assert client.post(reverse("runs:publish", args=[smoke_run.pk])).status_code == 404


def test_a_member_is_not_offered_the_publish_button(client, bob, smoke_run):
    page = client.get(reverse("runs:detail", args=[smoke_run.pk])).content.decode()
    assert "publish on the public leaderboard" not in page and "private to alpha" in page


def test_an_owner_is_offered_the_publish_button(client, smoke_run, team_user):
    client.force_login(team_user[1])
    page = client.get(reverse("runs:detail", args=[smoke_run.pk])).content.decode()
    assert "publish on the public leaderboard" in page
