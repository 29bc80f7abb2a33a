"""The published JSON Schema of gauntlet.agent/v1 against what the runner really sends and accepts."""

import json
from pathlib import Path

import jsonschema
import pytest

from runner.drivers import AgentFailure
from runner.protocol import sample_request, validate_response
from runner.types import AgentSpec
from tests import episodes
from tests.fakes.agent_server import AgentServer, answer

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "docs" / "agent-protocol.schema.json").read_text())


def validator(definition: str) -> jsonschema.Draft202012Validator:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    return jsonschema.Draft202012Validator({**SCHEMA, "$ref": f"#/$defs/{definition}"})


def test_the_sample_request_follows_the_schema():
    validator("request").validate(sample_request())


@pytest.mark.browser
@pytest.mark.parametrize("observation", [["axtree"], ["dom", "screenshot", "set_of_marks"], ["browsergym"]])
def test_every_request_of_a_real_episode_follows_the_schema(observation):
    with AgentServer(answer("click('e999')")) as server:
        spec = AgentSpec(kind="http", config={"url": server.url, "observation": observation}, secret="s")
        outcome, _ = episodes.play(episodes.spec(spec, "shop.purchase", max_steps=3))
    assert outcome.agent_error == ""
    requests = [r for r, _, _ in server.requests]
    assert len(requests) == 3
    check = validator("request")
    for request in requests:
        check.validate(request)
    last = requests[-1]
    assert last["history"][0]["error"].startswith("no element with ref 'e999'")
    assert last["observation"]["last_action_error"]
    for field in ("axtree", "dom", "screenshot", "set_of_marks", "browsergym"):
        assert (last["observation"][field] is not None) == (field in observation), field


GOOD = [
    {"action": "click('e1')"},
    {"action": "noop(0)", "thought": None, "usage": None},
    {"action": "stop()", "thought": "done", "usage": {"input_tokens": 10, "output_tokens": 2, "cost_usd": 0.001}},
]
BAD = [
    [],
    {"thought": "no action"},
    {"action": 3},
    {"action": "click('e1')", "thought": 5},
    {"action": "click('e1')", "usage": "free"},
    {"action": "click('e1')", "usage": {"cost_usd": -1}},
    {"action": "click('e1')", "usage": {"input_tokens": "many"}},
]


@pytest.mark.parametrize("response", GOOD)
def test_valid_responses_pass_both_the_schema_and_the_runner(response):
    validator("response").validate(response)
    action, thought, usage = validate_response(response)
    assert action == response["action"]


@pytest.mark.parametrize("response", BAD)
def test_invalid_responses_fail_both_the_schema_and_the_runner(response):
    assert not validator("response").is_valid(response)
    with pytest.raises(AgentFailure) as caught:
        validate_response(response)
    assert caught.value.code == "agent_bad_response"
