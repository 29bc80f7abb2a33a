"""The http agent kind against real loopback agent servers: signing, limits, retries and named errors."""

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runner.drivers import AgentFailure
from runner.drivers.http import MAX_RESPONSE_BYTES, HttpAgent, sign, verify
from runner.protocol import sample_request, verify_agent
from runner.types import AgentSpec
from tests import episodes
from tests.fakes.agent_server import AgentServer, answer, slow

SECRET = "gsk_test_secret"
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "http_agent" / "server.py"


def http_spec(url: str, **config) -> AgentSpec:
    return AgentSpec(kind="http", config={"url": url, **config}, secret=SECRET, label="http-test")


async def act_once(url: str, **config):
    driver = HttpAgent(http_spec(url, **config))
    try:
        return await driver.act(sample_request())
    finally:
        await driver.close()


async def test_it_signs_the_exact_body_with_the_secret():
    with AgentServer(answer("click('e7')")) as server:
        response = await act_once(server.url)
    assert response == {"action": "click('e7')"}
    request, headers, body = server.requests[0]
    assert request == json.loads(json.dumps(sample_request()))
    assert headers["X-Gauntlet-Protocol"] == "gauntlet.agent/v1"
    timestamp = headers["X-Gauntlet-Timestamp"]
    assert abs(int(timestamp) - time.time()) < 5
    assert headers["X-Gauntlet-Signature"] == sign(SECRET, timestamp, body)
    assert verify(SECRET, timestamp, body, headers["X-Gauntlet-Signature"])
    assert not verify("another secret", timestamp, body, headers["X-Gauntlet-Signature"])
    assert not verify(SECRET, timestamp, body + b" ", headers["X-Gauntlet-Signature"])
    assert not verify(SECRET, str(int(timestamp) - 3600), body, sign(SECRET, str(int(timestamp) - 3600), body))


async def test_it_names_a_response_that_is_not_json():
    with AgentServer(lambda r, h: (200, b"<html>oops</html>")) as server, pytest.raises(AgentFailure) as caught:
        await act_once(server.url)
    assert caught.value.code == "agent_bad_response"
    assert "not JSON" in caught.value.detail and "<html>oops" in caught.value.detail


async def test_it_refuses_a_huge_response():
    huge = json.dumps({"action": "noop(0)", "thought": "x" * (MAX_RESPONSE_BYTES + 10)}).encode()
    with AgentServer(lambda r, h: (200, huge)) as server, pytest.raises(AgentFailure) as caught:
        await act_once(server.url)
    assert caught.value.code == "agent_bad_response"
    assert "larger than 256 KiB" in caught.value.detail


async def test_a_5xx_is_a_crash_and_is_not_retried():
    crash = lambda r, h: (500, b"Traceback: KeyError 'observation'")  # noqa: E731
    with AgentServer(crash) as server, pytest.raises(AgentFailure) as caught:
        await act_once(server.url)
    assert caught.value.code == "agent_crashed"
    assert "HTTP 500" in caught.value.detail and "KeyError" in caught.value.detail
    assert len(server.requests) == 1


async def test_a_dropped_connection_after_the_request_is_not_retried():
    with AgentServer(answer("noop(0)")) as server:
        server.drop_connection = True
        with pytest.raises(AgentFailure) as caught:
            await act_once(server.url)
    assert caught.value.code == "agent_crashed"
    assert len(server.requests) == 1


async def test_a_4xx_is_a_bad_response():
    refuse = lambda r, h: (401, b'{"error": "bad signature"}')  # noqa: E731
    with AgentServer(refuse) as server, pytest.raises(AgentFailure) as caught:
        await act_once(server.url)
    assert caught.value.code == "agent_bad_response"
    assert "HTTP 401" in caught.value.detail and "bad signature" in caught.value.detail


async def test_it_times_out_a_slow_agent():
    with AgentServer(slow(2.5, answer("noop(0)"))) as server, pytest.raises(AgentFailure) as caught:
        await act_once(server.url, timeout_s=1)
    assert caught.value.code == "agent_timeout"


async def test_an_unreachable_endpoint_is_retried_then_agent_unreachable():
    with AgentServer(answer("noop(0)")) as server:
        url = server.url
    started = time.perf_counter()
    with pytest.raises(AgentFailure) as caught:
        await act_once(url)
    # The agent never saw the request: not its failure, but a failure to measure it.
    assert caught.value.code == "agent_unreachable"
    assert "unreachable" in caught.value.detail
    # Two retries with their back-off happened before giving up.
    assert time.perf_counter() - started >= 0.7


async def test_verification_reports_verified_or_the_exact_error():
    with AgentServer(answer("click('e7')")) as good, AgentServer(answer("click(e7)")) as bad:
        assert await verify_agent(http_spec(good.url)) == ""
        error = await verify_agent(http_spec(bad.url))
    assert error.startswith("agent_bad_response: the action does not parse")


async def test_a_bad_endpoint_url_is_named():
    assert (await verify_agent(http_spec("ftp://example.org/agent"))).startswith("agent_bad_response: the endpoint")


@pytest.fixture
def example_agent():
    proc = subprocess.Popen(
        [sys.executable, str(EXAMPLE), "--port", "0", "--secret", SECRET],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        assert line.startswith("agent listening on "), line
        yield line.split()[-1]
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.browser
def test_the_example_agent_plays_a_smoke_episode(example_agent):
    outcome, events = episodes.play(
        episodes.spec(http_spec(example_agent), "shop.purchase", seed=7, max_steps=8, step_timeout_s=10)
    )
    assert outcome.agent_error == "", outcome.agent_error_detail
    assert outcome.steps >= 2
    actions = [p.action for k, p in events if k == "step"]
    assert actions[0].startswith("click(")
    trace = json.dumps([p for k, p in events if k == "trace"])
    assert SECRET not in trace


@pytest.mark.browser
def test_the_example_agent_refuses_a_wrong_signature(example_agent):
    spec = AgentSpec(kind="http", config={"url": example_agent}, secret="not the secret")
    outcome, _ = episodes.play(episodes.spec(spec, "shop.purchase", max_steps=3))
    assert outcome.agent_error == "agent_bad_response"
    assert "HTTP 401" in outcome.agent_error_detail


@pytest.mark.browser
@pytest.mark.parametrize(
    "behaviour, code, detail",
    [
        (lambda r, h: (200, b"not json"), "agent_bad_response", "not JSON"),
        (lambda r, h: (200, b'{"thought": "no action"}'), "agent_bad_response", "no string field 'action'"),
        (lambda r, h: (200, b'{"action": "noop(0)", "usage": {"cost_usd": "lots"}}'), "agent_bad_response", "usage"),
        (lambda r, h: (200, b"[" * (MAX_RESPONSE_BYTES + 1)), "agent_bad_response", "larger than"),
        (lambda r, h: (503, b"upstream died"), "agent_crashed", "HTTP 503"),
        (slow(3.0, answer("noop(0)")), "agent_timeout", "within 1 s"),
    ],
    ids=["malformed", "no-action", "bad-usage", "huge", "crashing", "slow"],
)
def test_a_misbehaving_agent_gets_a_named_error_and_a_scored_episode(behaviour, code, detail):
    with AgentServer(behaviour) as server:
        spec = episodes.spec(http_spec(server.url, timeout_s=1), "shop.purchase", max_steps=3, step_timeout_s=1)
        outcome, events = episodes.play(spec)
    assert outcome.agent_error == code
    assert detail in outcome.agent_error_detail
    assert outcome.end_reason == "agent_error" and not outcome.success and outcome.steps == 1
    results = [p for k, p in events if k == "trace" and p["type"] == "action_result"]
    assert results[-1]["error"] == code and detail in results[-1]["agent_error_detail"]
