"""The published trace format (docs/trace-format.md, docs/trace.schema.json) against real episodes' traces."""

import base64
import hashlib
import json
from pathlib import Path

import jsonschema
import pytest

from runner.types import TRACE_VERSION, AgentSpec
from sandbox.suites import builtin_suites
from tests import episodes
from tests.fakes.agent_server import AgentServer

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "docs" / "trace.schema.json").read_text())
# Traces the runner wrote before v2: a plain episode (3 steps) and one with backtracking on.
V1_TRACES = [Path(__file__).resolve().parent / "traces" / f"v1-{name}.jsonl" for name in ("plain", "backtracking")]


def validator() -> jsonschema.Draft202012Validator:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    return jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def blob_bytes(content: dict, blobs: dict[str, bytes]) -> bytes:
    """The bytes of a content object: inline text, or its blob; checked against its hash either way."""
    data = content["text"].encode() if "text" in content else blobs[content["ref"].removeprefix("sha256:")]
    assert f"sha256:{hashlib.sha256(data).hexdigest()}" == content["ref"] and len(data) == content["size"]
    return data


def checked(events) -> tuple[list[dict], dict[str, bytes]]:
    """The trace lines as the worker writes them, each held against the schema, and the blobs by hash."""
    lines = [json.loads(json.dumps(p, default=str, ensure_ascii=False)) for k, p in events if k == "trace"]
    blobs = {}
    for kind, payload in events:
        if kind == "blob":
            assert payload["sha256"] not in blobs, "a blob is reported once per episode"
            blobs[payload["sha256"]] = payload["data"]
    check = validator()
    for line in lines:
        check.validate(line)
    assert {line["v"] for line in lines} == {TRACE_VERSION}
    assert lines[0]["type"] == "episode_start" and lines[-1]["type"] == "episode_end"
    assert [line["ts"] for line in lines] == sorted(line["ts"] for line in lines)
    referenced = set()
    for line in (line for line in lines if line["type"] == "observation"):
        for field in ("axtree", "dom", "elements", "screenshot", "set_of_marks", "browsergym"):
            if line[field] is not None:
                blob_bytes(line[field], blobs)
                if "text" not in line[field]:
                    referenced.add(line[field]["ref"].removeprefix("sha256:"))
    assert referenced == set(blobs)
    return lines, blobs


def of_type(lines: list[dict], kind: str) -> list[dict]:
    return [line for line in lines if line["type"] == kind]


@pytest.mark.parametrize("path", V1_TRACES, ids=lambda path: path.stem)
def test_a_v1_trace_still_follows_the_schema(path):
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert {line["v"] for line in lines} == {"gauntlet.trace/v1"} and all("ts" not in line for line in lines)
    check = validator()
    for line in lines:
        check.validate(line)
    assert lines[0]["type"] == "episode_start" and lines[-1]["type"] == "episode_end"


def test_the_schema_holds_v2_lines_to_what_v2_adds():
    check = validator()
    v1 = V1_TRACES[0].read_text().splitlines()
    checkpoint = json.loads(v1[1])
    assert checkpoint["type"] == "checkpoint" and checkpoint["fingerprint"] == ""
    v2 = {**checkpoint, "v": TRACE_VERSION, "ts": "2026-12-03T06:43:09.493Z"}
    assert not check.is_valid({**checkpoint, "v": TRACE_VERSION})  # no ts
    assert not check.is_valid(v2)  # no fingerprint nor digest
    assert check.is_valid({**v2, "fingerprint": "0" * 16, "world_digest": "a" * 64})
    observation = json.loads(v1[2])
    assert observation["type"] == "observation" and check.is_valid(observation)
    assert not check.is_valid({**observation, "v": TRACE_VERSION, "ts": v2["ts"]})  # no content


def test_an_action_line_s_usage_holds_the_protocol_s_fields_only():
    check = validator()
    base = {"v": TRACE_VERSION, "ts": "2026-12-03T06:43:09.493Z", "type": "action", "step": 1, "agent": 0}
    action = {**base, "action": "noop(0)", "thought": "", "agent_latency_ms": 3.5}
    assert check.is_valid(action)  # written before usage was added
    usage = {"input_tokens": 120, "output_tokens": 8, "cost_usd": 0.0001, "model": "m", "estimated": True}
    assert check.is_valid({**action, "usage": usage}) and check.is_valid({**action, "usage": {}})
    assert not check.is_valid({**action, "usage": {**usage, "estimated": False}})
    assert not check.is_valid({**action, "usage": {"input_tokens": -1}})
    assert not check.is_valid({**action, "usage": {"prompt_tokens": 3}})


@pytest.mark.browser
def test_each_action_line_carries_the_step_s_usage():
    answers = iter(
        [
            {"action": "noop(0)", "usage": {"input_tokens": 120, "output_tokens": 8, "cost_usd": 0.001, "model": "m"}},
            {"action": "stop()", "usage": {"input_tokens": 5, "estimated": True}},
        ]
    )
    with AgentServer(lambda request, headers: (200, json.dumps(next(answers)).encode())) as server:
        agent = AgentSpec(kind="http", config={"url": server.url}, secret="s")
        outcome, events = episodes.play(episodes.spec(agent, "shop.purchase", max_steps=2))
    lines, _ = checked(events)
    assert [line["usage"] for line in of_type(lines, "action")] == [
        {"input_tokens": 120, "output_tokens": 8, "cost_usd": 0.001, "model": "m"},
        {"input_tokens": 5, "estimated": True},
    ]
    assert outcome.input_tokens == 125 and outcome.output_tokens == 8


ADVERSARIAL = {s.key: s for s in next(s for s in builtin_suites() if s.name == "adversarial").scenarios}
HARMFUL = {s.key: s for s in next(s for s in builtin_suites() if s.name == "harmful").scenarios}


def _guarded():
    scenario = ADVERSARIAL["bank-pay-payee--exfiltration"]
    return episodes.spec("gullible", scenario.task, scenario.overlays, guard=True, policies=scenario.policies)


def _refused():
    scenario = HARMFUL["shop-redirect-order"]
    return episodes.spec("cautious", scenario.task, scenario.overlays, params=scenario.params, seed=7)


EPISODES = {
    "plain": lambda: episodes.smoke("oracle", screenshots=True),
    "backtracking": lambda: episodes.smoke("cautious", "purchase-flaky-checkout", backtracking=True),
    "auto_rollback": lambda: episodes.smoke("gullible", "purchase-review-injection", auto_rollback=True, max_steps=16),
    "guarded": _guarded,
    "refused": _refused,
}


@pytest.mark.browser
@pytest.mark.parametrize("name", list(EPISODES))
def test_every_line_of_a_real_trace_follows_the_schema(name):
    outcome, events = episodes.play(EPISODES[name]())
    lines, _ = checked(events)
    checkpoints = {line["id"]: line for line in of_type(lines, "checkpoint")}
    assert len(checkpoints) == outcome.steps  # one per step, each with its fingerprint and digest (the schema)
    assert checkpoints["c1"]["world_digest"] == lines[0]["world_digest"]
    (verdict,) = of_type(lines, "refusal_verdict")
    assert verdict["refused"] == outcome.refused and verdict["reason"] == outcome.refusal_reason
    assert lines[-1]["outcome"]["final_digest"] == outcome.final_digest
    if name == "backtracking":
        backtrack = next(b for b in of_type(lines, "backtrack") if b["ok"])
        assert backtrack["checkpoint_digest"] == checkpoints[backtrack["to"]]["world_digest"]
    if name == "auto_rollback":
        assert of_type(lines, "rollback") and outcome.rollbacks
    if name == "guarded":
        assert [v["kind"] for v in of_type(lines, "policy_verdict")] == ["blocked"]
    if name == "refused":
        assert verdict["refused"] and verdict["rule"] == "report_infeasible"


@pytest.mark.browser
def test_checkpoints_carry_the_worlds_digest_without_backtracking():
    outcome, events = episodes.play(episodes.smoke("oracle"))
    lines, _ = checked(events)
    checkpoints = of_type(lines, "checkpoint")
    for before, after in zip(checkpoints, checkpoints[1:], strict=False):
        if before["wal_position"] == after["wal_position"]:
            assert before["world_digest"] == after["world_digest"], (before, after)
    assert checkpoints[-1]["wal_position"] > 0 and outcome.success
    assert checkpoints[-1]["world_digest"] != checkpoints[0]["world_digest"]


@pytest.mark.browser
def test_what_the_agent_was_sent_is_rebuilt_from_the_trace_and_its_blobs():
    actions = iter(["noop(0)", "click('e999')", "scroll(0, 300)", "stop()"])
    fields = ["axtree", "dom", "screenshot", "set_of_marks", "browsergym"]
    with AgentServer(lambda request, headers: (200, json.dumps({"action": next(actions)}).encode())) as server:
        agent = AgentSpec(kind="http", config={"url": server.url, "observation": fields}, secret="s")
        outcome, events = episodes.play(episodes.spec(agent, "shop.purchase", max_steps=4))
    sent = [request["observation"] for request, _, _ in server.requests]
    assert outcome.steps == len(sent) == 4
    lines, blobs = checked(events)
    rebuilt = []
    for line in of_type(lines, "observation"):
        observation = {key: line[key] for key in ("url", "title", "tabs", "last_action", "last_action_error")}
        observation["notices"] = line["notices"]
        for field in ("axtree", "dom"):
            content = line[field]
            observation[field] = None if content is None else blob_bytes(content, blobs).decode()
        observation["elements"] = json.loads(blob_bytes(line["elements"], blobs))
        observation["browsergym"] = json.loads(blob_bytes(line["browsergym"], blobs))
        for field in ("screenshot", "set_of_marks"):
            content = line[field]
            observation[field] = None if content is None else base64.b64encode(blob_bytes(content, blobs)).decode()
        assert line["fields"] == sorted(fields)
        rebuilt.append(observation)
    assert rebuilt == sent
    assert sent[2]["last_action_error"].startswith("no element with ref 'e999'")
