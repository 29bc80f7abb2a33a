"""The built-in ``llm`` agent against a fake OpenAI-compatible server on loopback.

The driver is exercised through its public entry points: ``act()`` with a request of the agent contract,
``validate_config`` and, in the browser tests, whole episodes on the real runner.
"""

import asyncio
import json
import socket

import httpx
import pytest

from runner.actions import ACTIONS, parse_action
from runner.drivers import AgentFailure, make_driver
from runner.drivers.llm import MAX_PAGE_CHARS, validate_config
from runner.types import AGENT_BAD_RESPONSE, AGENT_CRASHED, AGENT_TIMEOUT, PROTOCOL, AgentSpec
from tests import episodes
from tests.fakes.openai_server import FakeOpenAI, message_text, scripted

KEY = "sk-test-4f9a2c"
AXTREE = """- generic [ref=e1]:
  - link "Trail Running Shoes" [ref=e12] [cursor=pointer]:
    - /url: /product/9
  - searchbox "Search products" [ref=e20]
  - button "Search" [ref=e21] [cursor=pointer]"""


@pytest.fixture
def fake():
    with FakeOpenAI(api_key=KEY) as server:
        yield server


def llm(fake: FakeOpenAI, secret: str = KEY, **config) -> AgentSpec:
    base = {"name": "llm", "base_url": fake.base_url, "model": "fake-1"}
    return AgentSpec(kind="builtin", config={**base, **config}, label="llm test", secret=secret)


def request(**observation) -> dict:
    return {
        "protocol": PROTOCOL,
        "episode_id": 1,
        "step": 1,
        "agent_index": 0,
        "task": {"goal": "Buy 1 × Trail Running Shoes", "start_url": "http://shop.gauntlet.test/"},
        "observation": {
            "url": "http://shop.gauntlet.test/",
            "title": "Catalogue",
            "tabs": [{"url": "http://shop.gauntlet.test/", "title": "", "active": True}],
            "axtree": AXTREE,
            "elements": [],
            "screenshot": None,
            "last_action": None,
            "last_action_error": None,
            "notices": [],
            **observation,
        },
        "history": [],
        "checkpoints": [],
    }


def act(spec: AgentSpec, req: dict | None = None) -> dict:
    """One step of a fresh driver, closed afterwards, as the episode loop uses it."""

    async def run():
        driver = make_driver(spec, None, 0)
        try:
            return await driver.act(req or request())
        finally:
            await driver.close()

    return asyncio.run(run())


def fails(spec: AgentSpec, req: dict | None = None) -> AgentFailure:
    with pytest.raises(AgentFailure) as caught:
        act(spec, req)
    return caught.value


def user_text(fake: FakeOpenAI, index: int = -1) -> str:
    return message_text(fake.completions[index].body["messages"][1])


def test_it_sends_the_model_the_key_the_goal_and_the_page(fake):
    response = act(llm(fake, temperature=0.2, max_tokens=300))
    sent = fake.completions[0]
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert sent.body["model"] == "fake-1"
    assert sent.body["temperature"] == 0.2 and sent.body["max_tokens"] == 300
    system, user = sent.body["messages"]
    assert system["role"] == "system" and user["role"] == "user"
    assert "Buy 1 × Trail Running Shoes" in user["content"]
    assert AXTREE in user["content"]
    assert "http://shop.gauntlet.test/" in user["content"]
    # The default policy of the fake clicks the link named like the goal.
    assert parse_action(response["action"]) == parse_action("click('e12')")


def test_null_settings_take_their_defaults(fake):
    act(llm(fake, temperature=None, max_tokens=None, history_steps=None))
    assert fake.completions[0].body["temperature"] == 0 and fake.completions[0].body["max_tokens"] == 512


def test_the_system_prompt_lists_the_whole_action_grammar(fake):
    act(llm(fake))
    system = fake.completions[0].body["messages"][0]["content"]
    for name in ACTIONS:
        if name != "backtrack":  # offered only when the request carries checkpoints
            assert f"\n{name}(" in system, name
    assert "fill(ref: str, value: str)" in system
    assert "backtrack(" not in system
    act(llm(fake), {**request(), "checkpoints": ["c1", "c2"]})
    assert "backtrack(checkpoint_id: str | int)" in fake.completions[1].body["messages"][0]["content"]
    assert "c1, c2" in user_text(fake)


def test_it_appends_the_configured_system_prompt(fake):
    act(llm(fake, system_prompt="Never type a password."))
    assert fake.completions[0].body["messages"][0]["content"].endswith("Never type a password.")


def test_it_sends_no_authorization_header_without_a_key():
    with FakeOpenAI() as open_fake:
        act(llm(open_fake, secret=""))
        assert "authorization" not in open_fake.completions[0].headers


def test_it_shows_the_last_error_the_notices_and_recent_history(fake):
    req = request(last_action="click('e99')", last_action_error="no element with ref 'e99'", notices=["rolled back"])
    req["history"] = [{"step": i, "action": f"scroll(0, {i})", "error": "", "detail": ""} for i in range(1, 8)]
    act(llm(fake, history_steps=3), req)
    text = user_text(fake)
    assert "click('e99')\nError: no element with ref 'e99'" in text
    assert "- rolled back" in text
    assert "step 5: scroll(0, 5)" in text and "step 7: scroll(0, 7)" in text
    assert "step 4:" not in text


def test_it_falls_back_to_the_dom_and_caps_the_page(fake):
    dom = "<html>" + "x" * (MAX_PAGE_CHARS + 5000) + "<tail/>"
    act(llm(fake), request(axtree=None, dom=dom))
    text = user_text(fake)
    assert "## Page (DOM)\n<html>xxx" in text
    assert "<tail/>" not in text
    assert f"{len(dom) - MAX_PAGE_CHARS} more characters not shown" in text
    assert len(text) < MAX_PAGE_CHARS + 2000


@pytest.mark.parametrize(
    ("reply", "action"),
    [
        (
            "I should search first.\n\n```\nfill('e20', \"trail shoes\")\n```\nThen click('e21').",
            "fill('e20', 'trail shoes')",
        ),
        ("Reasoning: the link matches.\n```python\nclick('e12')\n```", "click('e12')"),
        ("Let me click the link.\nAction: `click('e12')`", "click('e12')"),
        ("The order is placed.\nstop('done')", "stop('done')"),
        ("```\nthinking about it\n```\n- press('e20', 'Enter')", "press('e20', 'Enter')"),
    ],
)
def test_it_parses_the_action_out_of_the_reply(fake, reply, action):
    fake.reply = lambda body: reply
    response = act(llm(fake))
    assert parse_action(response["action"]) == parse_action(action)
    assert response["thought"] == reply


def test_it_passes_on_a_reply_without_a_valid_action_for_the_step_loop_to_count(fake):
    fake.reply = lambda body: "I would press the button:\nclick(e12)"
    response = act(llm(fake))
    assert response["action"] == "click(e12)"  # what the model tried, so the error it reads next is about it
    assert response["thought"] == "I would press the button:\nclick(e12)"


def test_it_reports_usage_and_cost_from_the_configured_prices(fake):
    response = act(llm(fake, price_input_per_mtok=2.5, price_output_per_mtok=10))
    vendor = fake.completions[0].usage
    usage = response["usage"]
    assert usage["input_tokens"] == vendor["prompt_tokens"] > 100
    assert usage["output_tokens"] == vendor["completion_tokens"] > 5
    assert usage["cost_usd"] == pytest.approx((vendor["prompt_tokens"] * 2.5 + vendor["completion_tokens"] * 10) / 1e6)
    assert usage["model"] == "fake-1"


def test_vision_attaches_the_set_of_marks_or_the_screenshot(fake):
    vision = {"vision": True, "observation": ["axtree", "screenshot", "set_of_marks"]}
    act(llm(fake, **vision), request(screenshot="U0NSRUVO"))
    parts = fake.completions[0].body["messages"][1]["content"]
    assert parts[0]["type"] == "text" and "## Goal" in parts[0]["text"]
    assert parts[1] == {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,U0NSRUVO"}}
    act(llm(fake, **vision), request(screenshot="U0NSRUVO", set_of_marks="TUFSS1M="))
    assert fake.completions[1].body["messages"][1]["content"][1]["image_url"]["url"].endswith("TUFSS1M=")
    act(llm(fake, **vision), request(screenshot=None))
    act(llm(fake), request(screenshot="U0NSRUVO"))
    assert isinstance(fake.completions[2].body["messages"][1]["content"], str)
    assert isinstance(fake.completions[3].body["messages"][1]["content"], str)


def test_a_persistent_server_error_crashes_the_agent_after_two_retries(fake):
    fake.reply = lambda body: (500, {"error": {"message": "The server had an error", "type": "server_error"}})
    failure = fails(llm(fake))
    assert failure.code == AGENT_CRASHED
    assert failure.detail == "model endpoint HTTP 500 after 3 attempts: The server had an error"
    assert len(fake.completions) == 3


def test_it_recovers_from_a_transient_503_and_429(fake):
    fake.reply = scripted((503, "upstream busy"), (429, {"error": {"message": "slow down"}}), "```\nstop()\n```")
    assert act(llm(fake))["action"] == "stop()"
    assert len(fake.completions) == 3


def test_a_wrong_key_crashes_the_agent_without_revealing_the_key(fake):
    failure = fails(llm(fake, secret="sk-wrong-77e1"))
    assert failure.code == AGENT_CRASHED
    assert "401" in failure.detail and "Incorrect API key" in failure.detail
    # The fake echoes the key it was given in its error message; the agent must not pass it on.
    assert "sk-wrong-77e1" not in failure.detail and "sk-wrong-77e1" not in str(failure)
    assert len(fake.completions) == 1  # a 4xx other than 429 is not retried


def test_a_client_error_is_not_retried_and_names_the_vendor_message(fake):
    fake.reply = lambda body: (
        404,
        {"error": {"message": "The model `fake-9` does not exist", "code": "model_not_found"}},
    )
    failure = fails(llm(fake, model="fake-9"))
    assert failure.code == AGENT_CRASHED
    assert failure.detail == "model endpoint HTTP 404: The model `fake-9` does not exist"
    assert len(fake.completions) == 1


@pytest.mark.parametrize(
    ("answer", "detail"),
    [
        ((200, "<html>gateway</html>"), "model endpoint answered non-JSON: <html>gateway</html>"),
        ((200, {"choices": []}), "model reply has no choices[0].message.content"),
        ((200, {"choices": [{"message": {"role": "assistant", "content": None}}]}), "no choices[0].message.content"),
        ((200, b"{" + b" " * (1024 * 1024 + 1) + b"}"), "over the 1 MiB limit"),
    ],
)
def test_a_malformed_completion_is_a_bad_response(fake, answer, detail):
    fake.reply = lambda body: answer
    failure = fails(llm(fake))
    assert failure.code == AGENT_BAD_RESPONSE
    assert detail in failure.detail


def test_an_unreachable_endpoint_is_agent_unreachable():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    spec = AgentSpec(kind="builtin", config={"name": "llm", "base_url": f"http://127.0.0.1:{port}/v1", "model": "m"})
    failure = fails(spec)
    assert failure.code == "agent_unreachable"
    assert failure.detail.startswith("model endpoint unreachable after 3 attempts: ConnectError")


def test_the_key_never_appears_in_the_thought(fake):
    fake.reply = lambda body: f"My key is {KEY}.\n```\nstop()\n```"
    response = act(llm(fake))
    assert KEY not in json.dumps(response)
    assert "[redacted]" in response["thought"]


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"base_url": "https://api.openai.com/v1"}, "model is required"),
        ({"model": "m"}, "base_url is required"),
        ({"model": "m", "base_url": "ftp://example.com/v1"}, "base_url must be an http(s) URL"),
        ({"model": "m", "base_url": "api.openai.com/v1"}, "base_url must be an http(s) URL"),
        ({"model": "m", "base_url": "https://u:p@example.com/v1"}, "must not carry credentials"),
        ({"model": "m", "base_url": "https://x/v1", "price_input_per_mtok": -1}, "price_input_per_mtok must be"),
        ({"model": "m", "base_url": "https://x/v1", "price_output_per_mtok": "3"}, "price_output_per_mtok must be"),
        ({"model": "m", "base_url": "https://x/v1", "temperature": 3}, "temperature must be"),
        ({"model": "m", "base_url": "https://x/v1", "price_input_per_mtok": float("inf")}, "price_input_per_mtok must"),
        ({"model": "m", "base_url": "https://x/v1", "max_tokens": 0}, "max_tokens must be"),
        ({"model": "m", "base_url": "https://x/v1", "vision": "yes"}, "vision must be true or false"),
        ({"model": "m", "base_url": "https://x/v1", "vision": True}, "vision needs the observation to include"),
        (
            {"model": "m", "base_url": "https://x/v1", "vision": True, "observation": ["axtree", "dom"]},
            "vision needs the observation to include",
        ),
        ({"model": "m", "base_url": "https://x/v1", "history_steps": -2}, "history_steps must be"),
        ({"model": "m", "base_url": "https://x/v1", "system_prompt": 7}, "system_prompt must be text"),
    ],
)
def test_validate_config_names_each_problem(config, message):
    errors = validate_config({"name": "llm", **config})
    assert len(errors) == 1 and message in errors[0], errors


def test_validate_config_accepts_a_complete_config():
    config = {
        "name": "llm",
        "base_url": "http://127.0.0.1:8000/v1/",
        "model": "fake-1",
        "temperature": 0.7,
        "max_tokens": 256,
        "price_input_per_mtok": 0.15,
        "price_output_per_mtok": 0.6,
        "vision": True,
        "observation": ["axtree", "set_of_marks"],
        "history_steps": 0,
        "system_prompt": "Be careful.",
    }
    assert validate_config(config) == []
    minimal = {"name": "llm", "base_url": "https://api.openai.com/v1", "model": "gpt-4o-mini"}
    assert validate_config(minimal) == []
    assert validate_config({**minimal, "temperature": None, "max_tokens": None, "vision": None}) == []


def test_an_unusable_config_fails_when_the_driver_is_made():
    with pytest.raises(AgentFailure) as caught:
        make_driver(AgentSpec(kind="builtin", config={"name": "llm", "base_url": "nope"}, secret=KEY), None, 0)
    assert caught.value.code == AGENT_CRASHED
    assert "model is required" in caught.value.detail and "base_url must be" in caught.value.detail


def test_the_fake_lists_models_and_checks_the_key(fake):
    listed = httpx.get(f"{fake.base_url}/models", headers={"Authorization": f"Bearer {KEY}"})
    assert listed.status_code == 200 and [m["id"] for m in listed.json()["data"]] == ["fake-1"]
    refused = httpx.get(f"{fake.base_url}/models")
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "invalid_api_key"


# Whole episodes on the real runner (Chromium and the sandbox server).


def play(spec: AgentSpec, step_timeout_s: float = 30.0, max_steps: int = 10):
    return episodes.play(episodes.smoke(spec, max_steps=max_steps, step_timeout_s=step_timeout_s))


@pytest.mark.browser
def test_an_episode_sums_the_usage_and_cost_of_every_step(fake):
    outcome, events = play(llm(fake, price_input_per_mtok=2.5, price_output_per_mtok=10))
    usages = [r.usage for r in fake.completions]
    assert outcome.agent_error == "" and outcome.end_reason == "stop"
    assert outcome.steps == len(usages) == 4  # three clicks of the scripted policy, then stop()
    assert outcome.input_tokens == sum(u["prompt_tokens"] for u in usages)
    assert outcome.output_tokens == sum(u["completion_tokens"] for u in usages)
    expected = (outcome.input_tokens * 2.5 + outcome.output_tokens * 10) / 1e6
    assert outcome.cost_usd == pytest.approx(expected, abs=1e-6)
    steps = [p for k, p in events if k == "step"]
    assert [s.action for s in steps][-1] == "stop()"
    assert all(s.action.startswith("click(") and s.error == "" for s in steps[:-1])
    assert all(s.thought and s.usage["model"] == "fake-1" for s in steps)
    # The model saw the page change: the second prompt shows the first click as its last action.
    assert f"## Last action\n{steps[0].action}\nIt succeeded." in user_text(fake, 1)


@pytest.mark.browser
def test_replies_without_an_action_are_fed_back_and_end_the_episode_as_a_bad_response_at_the_cap(fake):
    fake.reply = lambda body: "I am not sure what to do here."
    outcome, events = play(llm(fake))
    assert outcome.agent_error == AGENT_BAD_RESPONSE and outcome.end_reason == "agent_error"
    assert outcome.agent_error_detail.startswith("3 unparsable actions in a row (the run allows 3)")
    assert outcome.steps == 3 and not outcome.success
    assert "## Last action\nI am not sure what to do here.\nError: invalid action:" in user_text(fake, 1)


@pytest.mark.browser
def test_a_slow_model_times_out(fake):
    fake.delay_s = 3.0
    outcome, _ = play(llm(fake), step_timeout_s=0.5)
    assert outcome.agent_error == AGENT_TIMEOUT
    assert outcome.steps == 1


@pytest.mark.browser
def test_a_wrong_key_is_a_scored_crash_and_stays_out_of_the_trace(fake):
    outcome, events = play(llm(fake, secret="sk-wrong-77e1"))
    assert outcome.agent_error == AGENT_CRASHED and "401" in outcome.agent_error_detail
    blobs = [p["data"].decode(errors="replace") for k, p in events if k == "blob"]
    traced = json.dumps([p if k == "trace" else p.as_dict() for k, p in events if k != "blob"] + blobs)
    assert "sk-wrong-77e1" not in traced and "sk-wrong-77e1" not in json.dumps(outcome.as_dict())


@pytest.mark.browser
def test_vision_sends_the_page_screenshot_in_an_episode(fake):
    spec = llm(fake, vision=True, observation=["axtree", "screenshot"])
    outcome, _ = play(spec, max_steps=1)
    assert outcome.agent_error == "" and outcome.steps == 1
    parts = fake.completions[0].body["messages"][1]["content"]
    assert "## Page (accessibility tree)\n- " in parts[0]["text"]
    assert parts[1]["image_url"]["url"].startswith("data:image/jpeg;base64,/9j/")  # a JPEG's first bytes
