"""The gauntlet.agent/v1 response contract, checked the same way in episodes and when a version is verified.

docs/agent-protocol.schema.json publishes the same rules as a JSON Schema; :func:`validate_response` is the
fast hand-written equivalent the step loop uses, and the tests hold the two together.
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any

import httpx

from runner.actions import ActionError, parse_actions
from runner.drivers import AgentFailure, agent_endpoint, make_driver
from runner.egress import EgressRefused, agent_client, check_url
from runner.types import (
    AGENT_BAD_RESPONSE,
    AGENT_CRASHED,
    AGENT_TIMEOUT,
    AGENT_UNREACHABLE,
    PROTOCOL,
    STEP_TIMEOUT_GRACE_S,
    AgentSpec,
    InfraError,
    allows_several_actions,
    step_timeout_s,
)

MAX_THOUGHT = 4000
VERIFY_TASK = "shop.purchase"  # the scenario a built-in agent reads while it answers the sample request
USAGE_NUMBERS = ("input_tokens", "output_tokens", "cost_usd")
# Verification runs in the web process on a URL anyone in a team can type, so for network agents it must not
# tell how a failed exchange failed: open and closed ports, statuses and reply bodies would map the network.
NO_VALID_ANSWER = (
    "no valid answer to the sample request: the endpoint was unreachable, did not answer in time, or did not "
    "answer HTTP 200 with a JSON object. Which one is not shown here, so that this check cannot be used to "
    "probe networks; your endpoint's own log shows what it received, and episodes record the details."
)
# Every such failure takes at least this long, so that a closed port (refused at once) and an open one
# (answering at once) cannot be told apart by the time the answer takes either.
NO_VALID_ANSWER_FLOOR_S = 1.5


def validate_response(response: Any) -> tuple[str, str, dict]:
    """(action, thought, usage) of a response, or AgentFailure(agent_bad_response) saying what is wrong.

    The action string itself is parsed by the step loop: an unparsable action fails that step, and the run's
    ``max_invalid_actions`` of them in a row end the episode as agent_bad_response.
    """
    if not isinstance(response, dict):
        raise AgentFailure(AGENT_BAD_RESPONSE, f"the response must be a JSON object, got {type(response).__name__}")
    action = response.get("action")
    if not isinstance(action, str):
        raise AgentFailure(AGENT_BAD_RESPONSE, "the response has no string field 'action'")
    thought = response.get("thought")
    if thought is None:
        thought = ""
    if not isinstance(thought, str):
        raise AgentFailure(AGENT_BAD_RESPONSE, "'thought' must be a string")
    usage = response.get("usage")
    if usage is None:
        usage = {}
    if not isinstance(usage, dict):
        raise AgentFailure(AGENT_BAD_RESPONSE, "'usage' must be an object")
    for key in USAGE_NUMBERS:
        value = usage.get(key)
        if value is not None and not _usage_number(value):
            raise AgentFailure(AGENT_BAD_RESPONSE, f"usage.{key} must be a non-negative number, got {value!r}")
    return action, thought[:MAX_THOUGHT], clean_usage(usage)


def _usage_number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value) and value >= 0


def clean_usage(usage: Any) -> dict[str, Any]:
    """The usage fields the platform keeps: the numbers that are valid, the model's name, and ``estimated``
    (true when the counts are the agent's estimate, not a vendor's). Never raises: a failed step's usage
    (``AgentFailure.usage``) is kept as far as it is valid."""
    if not isinstance(usage, dict):
        return {}
    clean: dict[str, Any] = {key: usage[key] for key in USAGE_NUMBERS if _usage_number(usage.get(key))}
    if isinstance(usage.get("model"), str):
        clean["model"] = usage["model"][:200]
    if usage.get("estimated") is True:
        clean["estimated"] = True
    return clean


def sample_request() -> dict:
    """A realistic first-step request on the shop's home page: what a newly registered version is sent."""
    axtree = "\n".join(
        [
            "- banner [ref=e1]:",
            '  - link "Gauntlet Shop" [ref=e2] [cursor=pointer]:',
            "    - /url: /",
            '  - link "Cart (0)" [ref=e3] [cursor=pointer]:',
            "    - /url: /cart",
            "- main [ref=e4]:",
            '  - heading "Products" [level=1] [ref=e5]',
            '  - searchbox "Search products" [ref=e6]',
            '  - link "Trail Running Shoes" [ref=e7] [cursor=pointer]:',
            "    - /url: /item/1",
            '  - text: "$89.00"',
            '  - link "Rain Jacket" [ref=e8] [cursor=pointer]:',
            "    - /url: /item/2",
            '  - text: "$120.00"',
        ]
    )
    elements = [
        {"ref": "e2", "role": "link", "name": "Gauntlet Shop", "text": ""},
        {"ref": "e3", "role": "link", "name": "Cart (0)", "text": ""},
        {"ref": "e5", "role": "heading", "name": "Products", "text": ""},
        {"ref": "e6", "role": "searchbox", "name": "Search products", "text": ""},
        {"ref": "e7", "role": "link", "name": "Trail Running Shoes", "text": ""},
        {"ref": "e8", "role": "link", "name": "Rain Jacket", "text": ""},
    ]
    return {
        "protocol": PROTOCOL,
        "episode_id": 0,
        "step": 1,
        "agent_index": 0,
        "task": {
            "goal": "Verification request: open the product page of the Trail Running Shoes.",
            "start_url": "http://shop.gauntlet.test/",
        },
        "observation": {
            "url": "http://shop.gauntlet.test/",
            "title": "Gauntlet Shop",
            "tabs": [{"url": "http://shop.gauntlet.test/", "title": "Gauntlet Shop", "active": True}],
            "axtree": axtree,
            "dom": None,
            "elements": elements,
            "screenshot": None,
            "set_of_marks": None,
            "browsergym": None,
            "last_action": None,
            "last_action_error": None,
            "notices": [],
        },
        "history": [],
        "checkpoints": [],
    }


async def verify_agent(spec: AgentSpec, *, instance=None) -> str:
    """Send the sample request once; "" if the answer is a valid response with a parsable action, else the error.

    The agent has the version's own per-step timeout (``timeout_s``), as in a run: a version that verifies
    answers in time in its episodes too.

    Built-in agents that read the scenario need ``instance``; other kinds only see the request. For agents
    behind a URL (http, llm) the egress policy is checked first, and a failed exchange gives the one
    :data:`NO_VALID_ANSWER` message, never the status, the reply or the kind of network error; what the agent
    answered in the protocol's shape (a JSON object) is still checked and named. Never raises for anything
    the agent does.
    """
    endpoint = agent_endpoint(spec)
    timeout_s = step_timeout_s(spec.config)
    if endpoint:
        refused = await asyncio.to_thread(check_url, endpoint)
        if refused:
            return f"{AGENT_UNREACHABLE}: {refused}"
    started = time.monotonic()
    driver = None
    try:
        if instance is None and spec.kind == "builtin":
            from sandbox.scenarios import build_scenario

            instance = build_scenario(key="verify", task=VERIFY_TASK)
        try:
            driver = make_driver(spec, instance, 0)
        except AgentFailure as exc:
            return f"{exc.code}: {exc.detail}"  # the version's settings, not the network: safe to name
        response = await asyncio.wait_for(driver.act(sample_request()), timeout=timeout_s + STEP_TIMEOUT_GRACE_S)
    except (TimeoutError, AgentFailure) as exc:
        if endpoint:
            await asyncio.sleep(max(0.0, NO_VALID_ANSWER_FLOOR_S - (time.monotonic() - started)))
            return NO_VALID_ANSWER
        if isinstance(exc, TimeoutError):
            return f"{AGENT_TIMEOUT}: no answer within {timeout_s:g} s"
        return f"{exc.code}: {exc.detail}"
    except InfraError as exc:
        return f"could not verify (not the agent's fault): {exc}"
    except Exception as exc:
        return f"{AGENT_CRASHED}: {type(exc).__name__}: {exc}"
    finally:
        if driver is not None:
            try:
                await driver.close()
            except Exception:
                pass
    try:
        action, _, _ = validate_response(response)
        parse_actions(action, several=allows_several_actions(spec.config))
    except AgentFailure as exc:
        return f"{exc.code}: {exc.detail}"
    except ActionError as exc:
        return f"{AGENT_BAD_RESPONSE}: the action does not parse: {exc}"
    return ""


async def probe_endpoint(spec: AgentSpec, *, timeout_s: float = 5.0) -> str:
    """Whether a run could reach this agent at all: "" when its endpoint answers HTTP (any status: reaching it
    is all that is asked), else why not. Kinds without an endpoint always pass.

    Sends one GET through the same egress-checked client as the drivers, so an endpoint the policy refuses is
    unreachable here too. Says only refused / could not connect, never a status or a reply.
    """
    endpoint = agent_endpoint(spec)
    if not endpoint:
        return ""
    refused = await asyncio.to_thread(check_url, endpoint)
    if refused:
        return f"refused by the egress policy ({refused})"
    async with agent_client(timeout=httpx.Timeout(timeout_s)) as client:
        try:
            async with client.stream("GET", endpoint):
                pass  # the status line arrived: the endpoint is there
        except EgressRefused as exc:
            return f"refused by the egress policy ({exc})"
        except (httpx.ConnectError, httpx.ConnectTimeout):
            return "no connection could be made (refused, an unknown name, a TLS failure or no answer)"
        except httpx.HTTPError:
            pass  # connected, then slow or odd: reachable, and what it answers is the episodes' business
    return ""
