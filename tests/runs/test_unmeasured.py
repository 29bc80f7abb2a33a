"""An agent that cannot be reached is never a score: runs refuse to start, and episodes it missed are unmeasured."""

import json

import pytest
from django.urls import reverse

from agents import services as agent_services
from runs import services
from runs.models import Episode, Run
from runs.selectors import compute_run_metrics
from tests.fakes.agent_server import AgentServer

pytestmark = pytest.mark.django_db

SUITE = "name: one\nscenarios: [{key: buy, task: shop.purchase}]\n"


def noop(request, headers):
    return 200, json.dumps({"action": "noop(0)"}).encode()


def dead_url() -> str:
    with AgentServer(noop) as server:
        return server.url


def test_it_refuses_to_start_a_run_whose_endpoint_cannot_be_reached(client, team_user, builtins):
    team, user = team_user
    client.force_login(user)
    suite, _ = services.register_team_suite(SUITE, team)
    _, version, _ = agent_services.register_agent(team=team, name="down", kind="http", config={"url": dead_url()})
    form = {"agent_version": version.pk, "suite": suite.pk, "trials": 1, "seed": 0}
    response = client.post(reverse("runs:start"), form)
    assert response.status_code == 400
    assert "cannot be run: its endpoint cannot be reached: no connection could be made" in response.content.decode()
    assert not Run.objects.exists() and not Episode.objects.exists()


def test_it_starts_a_run_whose_endpoint_answers_any_status(team_user, builtins):
    team, _ = team_user
    suite, _ = services.register_team_suite(SUITE, team)
    # A GET answered 405 still proves the endpoint is there.
    with AgentServer(noop) as server:
        _, version, _ = agent_services.register_agent(team=team, name="up", kind="http", config={"url": server.url})
        run = services.queue_run(agent_version=version, suite=suite, team=team, enqueue=False)
    assert run.episodes.count() == 1


@pytest.mark.browser
def test_an_endpoint_that_dies_mid_run_leaves_its_episodes_unmeasured_and_the_run_partial(client, team_user, builtins):
    team, user = team_user
    client.force_login(user)
    suite, _ = services.register_team_suite(SUITE, team)
    with AgentServer(noop) as server:
        _, version, _ = agent_services.register_agent(team=team, name="flaky", kind="http", config={"url": server.url})
        run = services.queue_run(agent_version=version, suite=suite, team=team, trials=2, enqueue=False)
    first, second = run.episodes.order_by("pk")
    assert services.execute_episode(first.pk, worker="test") == "unmeasured"
    assert services.execute_episode(second.pk, worker="test") == "unmeasured"
    first.refresh_from_db()
    run.refresh_from_db()
    assert first.status == Episode.UNMEASURED and first.agent_error == "agent_unreachable"
    # Not retried like an infrastructure error, and in no score.
    assert first.attempts == 1
    assert run.status == Run.PARTIAL
    metrics = compute_run_metrics(run)
    assert metrics["scored"] == 0 and metrics["success_rate"]["n"] == 0
    page = client.get(reverse("runs:episode", args=[first.pk])).content.decode()
    assert "Unmeasured: the agent could not be reached" in page and "agent unreachable at" in page
    state = client.get(reverse("runs:state", args=[run.pk])).json()
    assert state["counts"]["unmeasured"] == 2 and state["done"] == 2
