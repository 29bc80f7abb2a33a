"""An episode ended by unparsable actions is scored agent_bad_response, and its page says so and why."""

import json

import pytest
from django.urls import reverse

from agents import services as agent_services
from runs import services
from tests.fakes.agent_server import AgentServer

pytestmark = [pytest.mark.browser, pytest.mark.django_db]


def test_the_episode_page_names_agent_bad_response_and_the_cap(client, team_user, builtins):
    team, user = team_user
    client.force_login(user)
    suite, _ = services.register_team_suite("name: one\nscenarios: [{key: buy, task: shop.purchase}]\n", team)
    with AgentServer(lambda request, headers: (200, json.dumps({"action": "click(e1)"}).encode())) as server:
        _, version, _ = agent_services.register_agent(team=team, name="typo", kind="http", config={"url": server.url})
        run = services.queue_run(agent_version=version, suite=suite, team=team, max_invalid_actions=2, enqueue=False)
        episode = run.episodes.get()
        assert services.execute_episode(episode.pk, worker="test") == "scored"
    episode.refresh_from_db()
    assert episode.agent_error == "agent_bad_response" and episode.steps == 2
    page = client.get(reverse("runs:episode", args=[episode.pk])).content.decode()
    assert "<code>agent_bad_response</code>" in page
    assert "2 unparsable actions in a row (the run allows 2)" in page
