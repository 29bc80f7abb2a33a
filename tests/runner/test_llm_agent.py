"""The built-in ``llm`` agent against a fake OpenAI-compatible server on loopback.

The driver is exercised through its public entry points: ``act()`` with a request of the agent contract,
``validate_config`` and, in the browser tests, whole episodes on the real runner.
"""

import asyncio
import json
import math
import socket
import time

import httpx
import pytest

from runner.actions import ACTIONS, COORDINATE_ACTIONS, ActionError, parse_action
from runner.drivers import AgentFailure, make_driver
from runner.drivers.llm import MAX_PAGE_CHARS, validate_config
from runner.llm_prompt import EXAMPLE_REFS, PLAYWRIGHT_REF, estimate_prompt_tokens
from runner.types import (
    AGENT_BAD_RESPONSE,
    AGENT_CONTEXT_OVERFLOW,
    AGENT_CRASHED,
    AGENT_TIMEOUT,
    PROTOCOL,
    AgentSpec,
)
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
    return act_all(spec, [req or request()])[-1]


def act_all(spec: AgentSpec, requests: list[dict]) -> list[dict]:
    """Steps of one driver, as one episode's agent takes them."""

    async def run():
        driver = make_driver(spec, None, 0)
        try:
            return [await driver.act(req) for req in requests]
        finally:
            await driver.close()

    return asyncio.run(run())


def tagged(action: str, thought: str = "It fits the goal.") -> str:
    return f"<think>{thought}</think>\n<action>{action}</action>"


def vendor_usage(fake: FakeOpenAI) -> tuple[int, int]:
    """The tokens the fake reported over all its completions: (prompt, completion)."""
    usages = [r.usage for r in fake.completions if r.usage]
    return sum(u["prompt_tokens"] for u in usages), sum(u["completion_tokens"] for u in usages)


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
        # backtrack is offered only when the request carries checkpoints; the coordinate actions never
        if name != "backtrack" and name not in COORDINATE_ACTIONS:
            assert f"\n{name}(" in system, name
    assert not any(f"\n{name}(" in system for name in COORDINATE_ACTIONS)
    assert "fill(ref: str, value: str, enable_autocomplete_menu: bool = False)" in system
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
    act(llm(fake, context_window=100_000), request(axtree=None, dom=dom))
    text = user_text(fake)
    assert "## Page (DOM)\n<html>xxx" in text
    assert "<tail/>" not in text
    assert "more characters of the page not shown" in text
    assert len(text) < MAX_PAGE_CHARS + 2000


@pytest.mark.parametrize(
    ("reply", "action"),
    [
        ("<think>Search first.</think>\n<action>fill('e20', \"trail shoes\")</action>", "fill('e20', 'trail shoes')"),
        ("<think>The link matches.</think><action>\n```python\nclick('e12')\n```\n</action>", "click('e12')"),
        ("<action>`click('e12')`</action>", "click('e12')"),
        ("<think>Done.</think>\n<ACTION>stop('done')</ACTION>", "stop('done')"),
        # A reply cut by max_tokens after the call still counts; the last tag is the answer.
        (
            "<think>First <action>noop()</action>? No.</think><action>noop()</action><action>press('e20', 'Enter')",
            "press('e20', 'Enter')",
        ),
    ],
)
def test_the_action_is_read_inside_the_action_tag(fake, reply, action):
    fake.reply = lambda body: reply
    response = act(llm(fake))
    assert parse_action(response["action"]) == parse_action(action)
    assert response["thought"] == reply
    assert len(fake.completions) == 1


@pytest.mark.parametrize(
    "reply",
    [
        "go_back()  # go back in the tab's history",
        "Answer with one action, for example:\n```\nclick('e12')\n```",
        "<think>I will click('e12') now.</think>",
        "Action: stop()",
    ],
)
def test_text_outside_an_action_tag_never_acts(fake, reply):
    fake.reply = lambda body: reply
    response = act(llm(fake, parse_retries=0))
    assert response["action"] == "(no action in an <action> tag)"
    with pytest.raises(ActionError):
        parse_action(response["action"])  # so the step loop counts it as unparsable


def test_the_examples_name_refs_playwright_never_produces(fake):
    act(llm(fake), {**request(), "checkpoints": ["c1"]})
    system = fake.completions[0].body["messages"][0]["content"]
    for ref in EXAMPLE_REFS:
        assert f"'{ref}'" in system and not PLAYWRIGHT_REF.fullmatch(ref)
    # Playwright's refs as its AI-mode snapshot writes them, in a page and in a frame.
    assert PLAYWRIGHT_REF.fullmatch("e12") and PLAYWRIGHT_REF.fullmatch("f2e64")
    assert PLAYWRIGHT_REF.search(system) is None, PLAYWRIGHT_REF.search(system)
    assert "<think>" in system and "<action>" in system


def test_an_unparsable_reply_is_asked_again_with_the_error_and_every_attempt_is_counted(fake):
    fake.reply = scripted("I would click the link.", tagged("click(e12)"), tagged("click('e12')"))
    response = act(llm(fake, price_input_per_mtok=1, price_output_per_mtok=2))
    assert response["action"] == "click('e12')"
    assert len(fake.completions) == 3
    second = fake.completions[1].body["messages"]
    assert [m["role"] for m in second] == ["system", "user", "assistant", "user"]
    assert second[1] == fake.completions[0].body["messages"][1]  # the same step
    assert second[2]["content"] == "I would click the link."
    assert "no <action>...</action> tag" in second[3]["content"]
    third = fake.completions[2].body["messages"]
    assert third[2]["content"] == tagged("click(e12)") and "invalid action in the <action> tag" in third[3]["content"]
    tokens_in, tokens_out = vendor_usage(fake)
    assert response["usage"]["input_tokens"] == tokens_in and response["usage"]["output_tokens"] == tokens_out
    assert response["usage"]["cost_usd"] == pytest.approx((tokens_in + 2 * tokens_out) / 1e6)
    assert "estimated" not in response["usage"]


def test_after_the_retries_the_last_reply_is_passed_on_for_the_step_loop_to_count(fake):
    fake.reply = scripted("no idea", "still no idea", tagged("click(e12)"))
    response = act(llm(fake, parse_retries=2))
    assert len(fake.completions) == 3
    assert response["action"] == "click(e12)"  # what the model tried, so the error it reads next is about it
    assert response["thought"] == tagged("click(e12)")
    assert response["usage"]["input_tokens"] == vendor_usage(fake)[0]


def test_parse_retries_zero_asks_once(fake):
    fake.reply = lambda body: "I am not sure."
    response = act(llm(fake, parse_retries=0))
    assert len(fake.completions) == 1 and response["thought"] == "I am not sure."


def test_the_prompt_shows_the_step_budget_and_earlier_thoughts(fake):
    fake.reply = scripted(tagged("scroll(0, 300)", "The list goes on below."), tagged("stop()"))
    first = {**request(), "max_steps": 12}
    second = {**request(last_action="scroll(0, 300)"), "step": 2, "max_steps": 12}
    second["history"] = [{"step": 1, "action": "scroll(0, 300)", "error": "", "detail": ""}]
    act_all(llm(fake), [first, second])
    assert "## Step\nThis is step 1 of at most 12." in user_text(fake, 0)
    text = user_text(fake, 1)
    assert "## Step\nThis is step 2 of at most 12." in text
    assert "step 1: scroll(0, 300)\n  thought: The list goes on below." in text


def test_system_prompt_as_user_sends_the_instructions_in_the_user_turn(fake):
    act(llm(fake, system_prompt_as_user=True, system_prompt="Never type a password."))
    (user,) = fake.completions[0].body["messages"]
    assert user["role"] == "user"
    assert user["content"].startswith("You are a web agent.")
    assert "Never type a password.\n\n## Goal\nBuy 1 × Trail Running Shoes" in user["content"]


def test_a_retry_keeps_the_instructions_in_the_user_turn_and_the_turns_alternating(fake):
    fake.reply = scripted("hmm", tagged("stop()"))
    act(llm(fake, system_prompt_as_user=True))
    assert [m["role"] for m in fake.completions[1].body["messages"]] == ["user", "assistant", "user"]


def test_it_reports_usage_and_cost_from_the_configured_prices(fake):
    response = act(llm(fake, price_input_per_mtok=2.5, price_output_per_mtok=10))
    vendor = fake.completions[0].usage
    usage = response["usage"]
    assert usage["input_tokens"] == vendor["prompt_tokens"] > 100
    assert usage["output_tokens"] == vendor["completion_tokens"] > 5
    assert usage["cost_usd"] == pytest.approx((vendor["prompt_tokens"] * 2.5 + vendor["completion_tokens"] * 10) / 1e6)
    assert usage["model"] == "fake-1"


def test_requests_are_streamed_and_usage_asked_for_in_the_stream(fake):
    response = act(llm(fake))
    sent = fake.completions[0]
    assert sent.body["stream"] is True and sent.body["stream_options"] == {"include_usage": True}
    assert sent.streamed and response["usage"]["input_tokens"] == sent.usage["prompt_tokens"]


def test_a_vendor_that_ignores_stream_is_read_as_one_json_answer(fake):
    fake.stream = False
    response = act(llm(fake))
    assert not fake.completions[0].streamed
    assert parse_action(response["action"]) == parse_action("click('e12')")
    assert response["usage"]["output_tokens"] == fake.completions[0].usage["completion_tokens"]


def test_proxy_variables_are_ignored(fake, monkeypatch):
    dead = "http://127.0.0.1:9"  # the discard port: nothing listens there
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "https_proxy", "http_proxy", "all_proxy"):
        monkeypatch.setenv(name, dead)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    assert act(llm(fake))["action"] == "click('e12')"
    assert len(fake.completions) == 1


def many_lines_page(lines: int, every: int = 10) -> str:
    """A long accessibility tree: a heading, then paragraphs without refs and a link on every ``every``-th line."""
    rows = ['- heading "All products" [level=1]']
    for i in range(1, lines):
        link = f'  - link "Product {i}" [ref=e{i}] [cursor=pointer]'
        rows.append(link if i % every == 0 else f"  - paragraph: text {i}")
    return "\n".join(rows)


def test_a_page_too_long_for_the_context_window_keeps_its_headings_and_elements(fake):
    page = many_lines_page(800)
    spec = llm(fake, context_window=4096, max_tokens=512)
    act(spec, request(axtree=page))
    messages = fake.completions[0].body["messages"]
    assert estimate_prompt_tokens(messages, 2.5) + 512 <= 4096
    text = user_text(fake)
    assert '- heading "All products" [level=1]' in text and "[ref=e10]" in text
    assert "paragraph: text 1\n" not in text
    assert "lines without a ref left out to fit the context window" in text


def test_a_page_that_still_does_not_fit_is_cut_with_a_marker_and_the_history_stays(fake):
    page = many_lines_page(8000, every=1)
    req = request(axtree=page)
    req["history"] = [{"step": i, "action": "scroll(0, 300)", "error": "", "detail": ""} for i in range(1, 4)]
    act(llm(fake, context_window=4096, max_tokens=512), req)
    messages = fake.completions[0].body["messages"]
    assert estimate_prompt_tokens(messages, 2.5) + 512 <= 4096
    text = user_text(fake)
    assert "more characters of the page not shown to fit the context window" in text
    assert "[ref=e7990]" not in text
    assert "step 1: scroll(0, 300)" in text  # the page shrinks before the history


def test_the_history_gives_way_when_the_page_is_down_to_its_minimum(fake):
    req = request(axtree=many_lines_page(8000))
    req["history"] = [
        {"step": i, "action": f"fill('e20', '{'x' * 900}')", "error": "", "detail": ""} for i in range(1, 9)
    ]
    act(llm(fake, context_window=4096, max_tokens=512, history_steps=8), req)
    assert estimate_prompt_tokens(fake.completions[0].body["messages"], 2.5) + 512 <= 4096
    text = user_text(fake)
    assert "step 8: fill(" in text and "step 1: fill(" not in text
    assert "[ref=e10]" in text


def test_a_retry_is_fitted_to_the_context_window_too(fake):
    fake.reply = scripted("x" * 3000, tagged("stop()"))
    act(llm(fake, context_window=4096, max_tokens=1024), request(axtree=many_lines_page(8000)))
    retry = fake.completions[1].body["messages"]
    assert retry[2]["content"].startswith("xxx")  # capped to a quarter of the room, so the page still fits
    assert estimate_prompt_tokens(retry, 2.5) + 1024 <= 4096


def test_a_2048_token_context_takes_a_long_page_and_a_long_unusable_reply(fake):
    fake.reply = scripted("x" * 5000, tagged("stop()"))
    response = act(llm(fake, context_window=2048, max_tokens=512), request(axtree=many_lines_page(800)))
    assert response["action"] == "stop()"
    for sent in fake.completions:
        assert estimate_prompt_tokens(sent.body["messages"], 2.5) + 512 <= 2048
    retry = fake.completions[1].body["messages"]
    assert retry[2]["content"].startswith("xxx") and retry[2]["content"].endswith("\n...")
    assert "[ref=e10]" in message_text(retry[1])


def test_a_prompt_that_cannot_fit_even_without_the_page_is_a_context_overflow(fake):
    failure = fails(llm(fake, context_window=2048, max_tokens=512, system_prompt="Be careful. " * 1500))
    assert failure.code == AGENT_CONTEXT_OVERFLOW
    assert "context_window (2048 tokens, 512 of them for the reply)" in failure.detail
    assert fake.completions == []


def test_an_overflow_the_server_reports_is_named_with_its_message(fake):
    message = "the request exceeds the available context size, try increasing it"
    fake.reply = lambda body: (400, {"error": {"code": 400, "message": message, "type": "exceed_context_size_error"}})
    failure = fails(llm(fake))
    assert failure.code == AGENT_CONTEXT_OVERFLOW
    assert message in failure.detail and "context_window is 8192" in failure.detail
    assert len(fake.completions) == 1


def test_other_client_errors_are_not_overflows(fake):
    fake.reply = lambda body: (400, {"error": {"message": "'temperature' must be a number", "type": "invalid_request"}})
    assert fails(llm(fake)).code == AGENT_CRASHED


def test_a_stalling_model_times_out_within_timeout_s_and_the_connection_is_closed(fake):
    fake.stall_s = 20
    fake.reply = lambda body: tagged("click('e12')", "x" * 200)
    started = time.monotonic()
    failure = fails(llm(fake, timeout_s=1))
    assert failure.code == AGENT_TIMEOUT and "within 1 s" in failure.detail
    assert time.monotonic() - started < 2
    (sent,) = fake.completions
    deadline = time.monotonic() + 3
    while not sent.hung_up and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sent.hung_up  # the vendor saw the connection close, so it stops generating
    # Nothing reported usage: the prompt by the driver's rule and the half reply streamed so far.
    usage = failure.usage
    assert usage["estimated"] is True
    prompt = estimate_prompt_tokens(sent.body["messages"], 2.5)
    assert failure.reply.startswith("<think>xxx") and "</action>" not in failure.reply
    assert usage["input_tokens"] == prompt and usage["output_tokens"] == math.ceil(len(failure.reply) / 2.5) > 0


def test_the_deadline_covers_every_retry_of_a_step(fake):
    fake.delay_s = 0.4
    fake.reply = lambda body: "still thinking"
    started = time.monotonic()
    failure = fails(llm(fake, timeout_s=1, parse_retries=10))
    assert failure.code == AGENT_TIMEOUT and time.monotonic() - started < 1.8
    answered = fake.completions[:-1]
    assert 1 <= len(answered) <= 2
    # The answered requests as the vendor counted them, the abandoned last one estimated on top.
    assert failure.usage["input_tokens"] > sum(r.usage["prompt_tokens"] for r in answered)
    assert failure.usage["estimated"] is True and failure.reply == "still thinking"


def test_failed_requests_are_counted_where_the_vendor_says_what_they_cost(fake):
    error = {"error": {"message": "The server had an error"}, "usage": {"prompt_tokens": 70, "completion_tokens": 3}}
    fake.reply = lambda body: (500, error)
    failure = fails(llm(fake, price_input_per_mtok=1e6))
    assert failure.code == AGENT_CRASHED
    assert failure.usage["input_tokens"] == 210 and failure.usage["output_tokens"] == 9
    assert failure.usage["cost_usd"] == pytest.approx(210) and "estimated" not in failure.usage


def test_a_step_that_fails_after_an_unparsable_reply_keeps_that_reply_and_its_usage(fake):
    fake.reply = scripted("I do not know.", (404, {"error": {"message": "model unloaded"}}))
    failure = fails(llm(fake))
    assert failure.code == AGENT_CRASHED and failure.reply == "I do not know."
    assert failure.usage["input_tokens"] == fake.completions[0].usage["prompt_tokens"] > 0


@pytest.mark.parametrize("stream", [True, False])
def test_a_vendor_that_reports_no_usage_is_estimated(fake, stream):
    fake.stream, fake.report_usage = stream, False
    response = act(llm(fake))
    assert response["usage"]["estimated"] is True
    assert response["usage"]["input_tokens"] == estimate_prompt_tokens(fake.completions[0].body["messages"], 2.5)
    assert response["usage"]["output_tokens"] == math.ceil(len(response["thought"]) / 2.5)


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
    fake.reply = scripted((503, "upstream busy"), (429, {"error": {"message": "slow down"}}), tagged("stop()"))
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
    fake.reply = lambda body: f"<think>My key is {KEY}.</think><action>stop()</action>"
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
        ({"model": "m", "base_url": "https://x/v1", "context_window": 1000}, "context_window must be a whole number"),
        ({"model": "m", "base_url": "https://x/v1", "context_window": 4096.5}, "context_window must be a whole"),
        ({"model": "m", "base_url": "https://x/v1", "max_tokens": 8000}, "must leave at least 1536 tokens"),
        ({"model": "m", "base_url": "https://x/v1", "chars_per_token": 0.5}, "chars_per_token must be a number"),
        ({"model": "m", "base_url": "https://x/v1", "parse_retries": 11}, "parse_retries must be a whole number"),
        ({"model": "m", "base_url": "https://x/v1", "parse_retries": True}, "parse_retries must be a whole number"),
        ({"model": "m", "base_url": "https://x/v1", "timeout_s": 0}, "(timeout_s) must be from 1 to 300"),
        ({"model": "m", "base_url": "https://x/v1", "timeout_s": 301}, "(timeout_s) must be from 1 to 300"),
        ({"model": "m", "base_url": "https://x/v1", "system_prompt_as_user": 1}, "system_prompt_as_user must be"),
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
        "price_input_per_mtok": 0.15,
        "price_output_per_mtok": 0.6,
        "vision": True,
        "observation": ["axtree", "set_of_marks"],
        "history_steps": 0,
        "system_prompt": "Be careful.",
        "context_window": 2048,
        "max_tokens": 512,
        "chars_per_token": 3,
        "parse_retries": 0,
        "timeout_s": 12.5,
        "system_prompt_as_user": True,
        "some_future_key": "ignored",
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
    outcome, events = play(llm(fake, parse_retries=1))
    assert outcome.agent_error == AGENT_BAD_RESPONSE and outcome.end_reason == "agent_error"
    assert outcome.agent_error_detail.startswith("3 unparsable actions in a row (the run allows 3)")
    assert outcome.steps == 3 and not outcome.success
    assert len(fake.completions) == 6  # each step asked once more
    assert "## Last action\n(no action in an <action> tag)\nError: invalid action:" in user_text(fake, 2)
    steps = [p for k, p in events if k == "step"]
    assert all(s.thought == "I am not sure what to do here." for s in steps)


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


def trace_of(events, kind: str) -> list[dict]:
    return [p for k, p in events if k == "trace" and p["type"] == kind]


@pytest.mark.browser
def test_a_step_the_driver_times_out_keeps_its_estimated_usage_and_the_partial_reply(fake):
    fake.stall_s = 20
    fake.reply = lambda body: tagged("stop()", "x" * 200)
    outcome, events = play(llm(fake, timeout_s=1), step_timeout_s=10)
    assert outcome.agent_error == AGENT_TIMEOUT and outcome.steps == 1
    (step,) = [p for k, p in events if k == "step"]
    assert step.error == AGENT_TIMEOUT and step.thought.startswith("<think>xxx")
    assert step.usage["estimated"] is True and step.usage["input_tokens"] > 100 and step.usage["output_tokens"] > 0
    assert (outcome.input_tokens, outcome.output_tokens) == (step.usage["input_tokens"], step.usage["output_tokens"])
    (action,) = trace_of(events, "action")
    assert action["usage"] == step.usage and action["thought"] == step.thought


@pytest.mark.browser
def test_retried_replies_are_in_the_step_usage_the_trace_and_the_episode_totals(fake):
    calls = iter(range(100))

    def every_other_unparsable(body):
        return "Let me think." if next(calls) % 2 == 0 else FakeOpenAI.default_reply(body)

    fake.reply = every_other_unparsable
    outcome, events = play(llm(fake))
    assert outcome.agent_error == "" and outcome.end_reason == "stop"
    assert len(fake.completions) == 2 * outcome.steps == 8
    tokens_in, tokens_out = vendor_usage(fake)
    assert (outcome.input_tokens, outcome.output_tokens) == (tokens_in, tokens_out)
    actions = trace_of(events, "action")
    assert sum(a["usage"]["input_tokens"] for a in actions) == tokens_in
    steps = [p for k, p in events if k == "step"]
    assert [s.usage for s in steps] == [a["usage"] for a in actions]


@pytest.mark.browser
def test_a_context_overflow_the_server_reports_ends_the_episode_as_named(fake):
    message = "This model's maximum context length is 2048 tokens. However, you requested 9000 tokens."
    fake.reply = lambda body: (400, {"error": {"message": message, "code": "context_length_exceeded"}})
    outcome, _ = play(llm(fake))
    assert outcome.agent_error == AGENT_CONTEXT_OVERFLOW and outcome.steps == 1
    assert message in outcome.agent_error_detail
