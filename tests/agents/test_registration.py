"""Registering agents and versions from the dashboard: secrets shown once, stored encrypted, versions checked."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from agents import crypto, services
from agents.models import Agent, AgentVersion, Team
from runner.drivers.http import verify
from runs import services as run_services
from runs.models import Run, Suite
from tests.fakes.agent_server import AgentServer, answer

pytestmark = pytest.mark.django_db

PYTHON_AGENT = b"""
class Agent:
    def act(self, request):
        return {"action": "noop(0)", "thought": "thinking"}
"""


@pytest.fixture
def logged_in(client, team_user, builtins):
    team, user = team_user
    client.force_login(user)
    return client, team, user


def register(client, **fields):
    data = {"observation": ["axtree"], **fields}
    return client.post(reverse("agents:new"), data)


def test_an_http_agent_gets_a_secret_shown_once_and_a_signed_check(logged_in):
    client, team, _ = logged_in
    with AgentServer(answer("click('e7')")) as server:
        response = register(client, name="scout", kind="http", url=server.url)
        assert response.status_code == 302
        agent = Agent.objects.get(team=team, name="scout")
        page = client.get(response.url).content.decode()
    secret = page.split('<code id="agent-secret">')[1].split("</code>")[0]
    assert secret.startswith("gsk_") and len(secret) > 30
    # Stored encrypted, never in clear; the pages afterwards only show its last characters.
    assert secret not in agent.secret_encrypted and crypto.decrypt(agent.secret_encrypted) == secret
    assert agent.secret_hint == f"…{secret[-4:]}"
    again = client.get(response.url).content.decode()
    assert secret not in again and agent.secret_hint in again
    # The check request the endpoint got is signed with that secret.
    request, headers, body = server.requests[0]
    assert verify(secret, headers["X-Gauntlet-Timestamp"], body, headers["X-Gauntlet-Signature"])
    version = agent.latest_version()
    assert version.verify_status == AgentVersion.VERIFIED and version.verify_detail == ""
    assert "Verified" in again


def test_the_page_shows_the_exact_error_of_a_failed_check(logged_in):
    client, team, _ = logged_in
    with AgentServer(lambda r, h: (200, b'{"action": "click(e7)"}')) as server:
        response = register(client, name="sloppy", kind="http", url=server.url)
    version = Agent.objects.get(name="sloppy").latest_version()
    assert version.verify_status == AgentVersion.VERIFY_FAILED
    assert version.verify_detail.startswith("agent_bad_response: the action does not parse")
    page = client.get(response.url).content.decode()
    assert "Failed" in page and "the action does not parse" in page


def test_an_unreachable_endpoint_is_registered_and_shows_why_it_failed(logged_in):
    client, team, _ = logged_in
    with AgentServer(answer("noop(0)")) as server:
        url = server.url
    response = register(client, name="offline", kind="http", url=url)
    assert response.status_code == 302
    version = Agent.objects.get(name="offline").latest_version()
    assert version.verify_status == "failed" and "unreachable" in version.verify_detail
    # Once the endpoint is up, a new version pointing at it checks out.
    with AgentServer(answer("noop(0)")) as server:
        data = {"url": server.url, "observation": ["axtree"]}
        client.post(reverse("agents:add_version", args=[version.agent_id]), data)
    assert Agent.objects.get(name="offline").latest_version().verify_status == "verified"


def test_bad_input_gets_a_clear_error_and_keeps_nothing(logged_in):
    client, team, _ = logged_in
    response = register(client, name="x", kind="http")
    assert response.status_code == 400 and "needs its endpoint URL" in response.content.decode()
    response = register(client, name="x", kind="http", url="http://a.example/", observation=["smell"])
    assert response.status_code == 400 and "smell" in response.content.decode()
    response = client.post(
        reverse("agents:new"),
        {
            "name": "broken",
            "kind": "python",
            "observation": ["axtree"],
            "source_file": SimpleUploadedFile("broken.py", b"class Agent:\n    def act(self, request)\n"),
        },
    )
    assert response.status_code == 400 and "line 2" in response.content.decode()
    response = register(client, name="llm", kind="llm", base_url="https://llm.example/v1")
    assert response.status_code == 400 and "name the model" in response.content.decode()
    assert not Agent.objects.filter(team=team).exists()


def test_a_python_agent_is_uploaded_and_checked_in_its_sandbox(logged_in):
    client, team, _ = logged_in
    response = client.post(
        reverse("agents:new"),
        {
            "name": "local",
            "kind": "python",
            "observation": ["axtree", "dom"],
            "source_file": SimpleUploadedFile("agent.py", PYTHON_AGENT),
        },
    )
    assert response.status_code == 302
    version = Agent.objects.get(name="local").latest_version()
    assert version.source == PYTHON_AGENT.decode() and version.source_name == "agent.py"
    assert version.config["observation"] == ["axtree", "dom"]
    assert version.verify_status == "verified", version.verify_detail


def test_an_llm_agent_keeps_its_key_encrypted(logged_in):
    from tests.fakes.openai_server import FakeOpenAI

    client, team, _ = logged_in
    with FakeOpenAI(api_key="sk-live-123456") as fake:
        response = register(
            client,
            name="gpt",
            kind="llm",
            base_url=fake.base_url,
            model="fake-1",
            api_key="sk-live-123456",
            price_input_per_mtok="2.5",
        )
        assert response.status_code == 302
        page = client.get(response.url).content.decode()
    agent = Agent.objects.get(name="gpt")
    assert agent.kind == "builtin" and agent.kind_label.startswith("LLM")
    assert "sk-live-123456" not in page and "sk-live-123456" not in json.dumps(agent.latest_version().config)
    assert crypto.decrypt(agent.secret_encrypted) == "sk-live-123456"
    assert agent.latest_version().verify_status == "verified", agent.latest_version().verify_detail


def test_a_used_version_is_immutable_and_new_versions_are_numbered(logged_in):
    client, team, user = logged_in
    with AgentServer(answer("noop(0)")) as server:
        register(client, name="scout", kind="http", url=server.url)
        agent = Agent.objects.get(name="scout")
        v1 = agent.latest_version()
        run = run_services.queue_run(
            agent_version=v1, suite=Suite.objects.get(name="smoke"), team=team, user=user, enqueue=False
        )
        response = client.post(
            reverse("agents:add_version", args=[agent.pk]),
            {"url": server.url + "?v=2", "timeout_s": "5", "observation": ["axtree", "screenshot"]},
        )
    assert response.status_code == 302
    v1.refresh_from_db()
    assert v1.locked and v1.config == {"observation": ["axtree"], "url": server.url}
    v2 = agent.latest_version()
    assert v2.number == 2 and v2.config["timeout_s"] == 5 and not v2.locked
    page = client.get(reverse("agents:detail", args=[agent.pk])).content.decode()
    assert f"run {run.pk}" in page and "immutable" in page


def test_rotating_the_secret_shows_the_new_one_once(logged_in):
    client, team, _ = logged_in
    agent, _, first = services.register_agent(
        team=team, name="scout", kind="http", config={"url": "http://127.0.0.1:9/"}
    )
    response = client.post(reverse("agents:rotate_secret", args=[agent.pk]))
    page = client.get(response.url).content.decode()
    agent.refresh_from_db()
    second = crypto.decrypt(agent.secret_encrypted)
    assert second != first and second in page
    assert second not in client.get(response.url).content.decode()


def test_other_teams_and_built_ins_cannot_be_changed(logged_in, django_user_model):
    client, team, _ = logged_in
    other = Team.objects.create(name="beta")
    theirs, _, _ = services.register_agent(team=other, name="theirs", kind="http", config={"url": "http://a.example/"})
    oracle = Agent.objects.get(name="oracle")
    assert client.get(reverse("agents:detail", args=[theirs.pk])).status_code == 404
    assert client.post(reverse("agents:rotate_secret", args=[theirs.pk])).status_code == 404
    assert client.post(reverse("agents:add_version", args=[oracle.pk]), {"url": "http://a/"}).status_code == 404
    assert client.get(reverse("agents:detail", args=[oracle.pk])).status_code == 200
    assert Run.objects.count() == 0
