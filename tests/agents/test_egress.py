"""The dashboard side of the egress policy: registration, verification and starting a run, from the pages."""

import pytest
from django.urls import reverse

from agents import services
from agents.models import Agent, AgentVersion
from runner.egress import ALLOW_ENV
from runs.models import Episode, Run, Suite
from tests.fakes.agent_server import AgentServer, answer

pytestmark = pytest.mark.django_db


@pytest.fixture
def logged_in(client, team_user):
    team, user = team_user
    client.force_login(user)
    return client, team


def register(client, url: str):
    return client.post(reverse("agents:new"), {"name": "scout", "kind": "http", "url": url, "observation": ["axtree"]})


@pytest.mark.parametrize(
    "url", ["http://10.1.2.3/act", "http://169.254.169.254/latest/meta-data/", "http://[fd00:ec2::254]/"]
)
def test_it_refuses_to_register_an_internal_endpoint(logged_in, url):
    client, team = logged_in
    response = register(client, url)
    assert response.status_code == 400 and "refused by the egress policy" in response.content.decode()
    assert not Agent.objects.filter(team=team).exists()


@pytest.mark.parametrize("host", ["0x7f000001", "2130706433", "017700000001", "[::ffff:127.0.0.1]", "localhost"])
def test_it_refuses_any_spelling_of_loopback_when_loopback_is_not_allowed(logged_in, monkeypatch, host):
    _, team = logged_in
    monkeypatch.setenv(ALLOW_ENV, "none")
    with AgentServer(answer("noop(0)")) as server, pytest.raises(services.AgentError, match="loopback address"):
        services.register_agent(
            team=team, name="scout", kind="http", config={"url": f"http://{host}:{server.httpd.server_port}/act"}
        )
    assert server.requests == [] and not Agent.objects.filter(team=team).exists()


def test_verification_gives_one_message_for_every_failed_exchange(logged_in):
    client, _ = logged_in
    with AgentServer(answer("noop(0)")) as closed:
        closed_url = closed.url
    details = []
    for behaviour in (lambda r, h: (404, b"internal-secret-page"), lambda r, h: (200, b"internal-secret-page")):
        with AgentServer(behaviour) as server:
            register(client, server.url)
            details.append(Agent.objects.get(name="scout").latest_version().verify_detail)
            Agent.objects.filter(name="scout").delete()
    register(client, closed_url)
    details.append(Agent.objects.get(name="scout").latest_version().verify_detail)
    assert len(set(details)) == 1, details
    assert details[0].startswith("no valid answer") and "internal-secret-page" not in details[0]
    assert "404" not in details[0] and "refused" not in details[0]


def test_verification_applies_the_policy_of_the_moment(logged_in, monkeypatch):
    client, _ = logged_in
    with AgentServer(answer("noop(0)")) as server:
        register(client, f"http://localhost:{server.httpd.server_port}/act")
        agent = Agent.objects.get(name="scout")
        assert agent.latest_version().verify_status == AgentVersion.VERIFIED
        monkeypatch.setenv(ALLOW_ENV, "none")
        client.post(reverse("agents:verify", args=[agent.pk, 1]))
    version = agent.latest_version()
    assert version.verify_status == AgentVersion.VERIFY_FAILED
    assert "refused by the egress policy: localhost resolves to" in version.verify_detail
    assert len(server.requests) == 1


def test_a_run_refuses_to_start_when_the_policy_refuses_the_endpoint(logged_in, builtins, monkeypatch):
    client, team = logged_in
    with AgentServer(answer("noop(0)")) as server:
        register(client, server.url)
    version = Agent.objects.get(name="scout").latest_version()
    monkeypatch.setenv(ALLOW_ENV, "none")
    suite = Suite.objects.get(name="smoke")
    form = {"agent_version": version.pk, "suite": suite.pk, "trials": 1, "seed": 0}
    response = client.post(reverse("runs:start"), form)
    assert response.status_code == 400
    assert "cannot be run: its endpoint cannot be reached: refused by the egress policy" in response.content.decode()
    assert not Run.objects.exists() and not Episode.objects.exists()
    version.refresh_from_db()
    assert not version.locked
