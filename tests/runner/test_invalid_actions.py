"""Unparsable actions: fed back to the agent, and scored as agent_bad_response at the run's cap in a row."""

import json

import pytest

from runner.types import AgentSpec
from tests import episodes
from tests.fakes.agent_server import AgentServer

pytestmark = pytest.mark.browser


def scripted(actions: list[str]):
    """An agent that answers ``actions`` in turn, then noop(0) for ever."""

    def behaviour(request, headers):
        step = request["step"]
        action = actions[step - 1] if step <= len(actions) else "noop(0)"
        return 200, json.dumps({"action": action}).encode()

    return behaviour


def play(server: AgentServer, max_steps: int, **settings):
    agent = AgentSpec(kind="http", config={"url": server.url}, secret="s", label="scripted")
    return episodes.play(episodes.spec(agent, "shop.purchase", max_steps=max_steps, step_timeout_s=10, **settings))


def test_it_ends_the_episode_as_agent_bad_response_at_the_cap():
    with AgentServer(scripted(["click('e1'"] * 10)) as server:
        outcome, events = play(server, max_steps=10, max_invalid_actions=3)
    assert outcome.agent_error == "agent_bad_response"
    assert outcome.steps == 3 and outcome.end_reason == "agent_error" and not outcome.success
    assert outcome.agent_error_detail.startswith("3 unparsable actions in a row (the run allows 3); the last:")
    last = [p for k, p in events if k == "trace" and p["type"] == "action_result"][-1]
    assert last["error"] == "agent_bad_response" and "unparsable" in last["agent_error_detail"]


def test_it_feeds_an_unparsable_action_back_and_the_episode_goes_on():
    with AgentServer(scripted(["do the thing", "noop(0)"])) as server:
        outcome, _ = play(server, max_steps=3)
    assert outcome.agent_error == "" and outcome.steps == 3
    second = server.requests[1][0]
    assert second["observation"]["last_action_error"].startswith("invalid action: not a valid action call")
    assert "2 more unparsable actions in a row end the episode" in second["observation"]["last_action_error"]
    assert second["history"][0]["error"] == second["observation"]["last_action_error"]


def test_it_counts_only_unparsable_actions_in_a_row():
    with AgentServer(scripted(["?", "noop(0)", "?", "noop(0)", "?"])) as server:
        outcome, _ = play(server, max_steps=5, max_invalid_actions=2)
    assert outcome.agent_error == "" and outcome.steps == 5


def test_it_tells_the_agent_when_the_next_unparsable_action_ends_the_episode():
    with AgentServer(scripted(["?"])) as server:
        play(server, max_steps=2, max_invalid_actions=2)
    error = server.requests[1][0]["observation"]["last_action_error"]
    assert error.endswith("(one more unparsable action in a row ends the episode as agent_bad_response)")
