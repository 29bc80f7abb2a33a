"""go_back() and go_forward() past the ends of a tab's history are action errors; the tab stays where it was.

Before the episode's first page a tab's history holds only the new tab's about:blank, where Chromium would
otherwise go and call it a success.
"""

import json

import pytest

from runner.browser import NO_EARLIER_PAGE, NO_LATER_PAGE
from runner.types import AgentSpec
from tests import episodes
from tests.fakes.agent_server import AgentServer

pytestmark = pytest.mark.browser

START = "http://shop.gauntlet.test/"
CART = "http://shop.gauntlet.test/cart"


def play_script(actions: list[str]) -> list[dict]:
    """Play ``actions`` one per step with a scripted HTTP agent; the observation that followed each one."""
    queue = list(actions)

    def behaviour(request, headers):
        return 200, json.dumps({"action": queue.pop(0) if queue else "stop()"}).encode()

    with AgentServer(behaviour) as agent:
        spec = AgentSpec(kind="http", config={"url": agent.url}, secret="gsk_history")
        outcome, _ = episodes.play(episodes.spec(spec, "shop.purchase", max_steps=len(actions) + 1))
    assert outcome.agent_error == "", outcome.agent_error_detail
    return [request["observation"] for request, _, _ in agent.requests[1:]]


def test_go_back_on_the_first_page_is_an_error_and_stays_there():
    (after,) = play_script(["go_back()"])
    assert after["last_action_error"] == NO_EARLIER_PAGE
    assert after["url"] == START


def test_go_forward_on_the_last_page_is_an_error_and_stays_there():
    (after,) = play_script(["go_forward()"])
    assert after["last_action_error"] == NO_LATER_PAGE
    assert after["url"] == START


def test_going_back_and_forward_within_the_history_still_works():
    observations = play_script([f"goto('{CART}')", "go_back()", "go_forward()", "go_forward()", "go_back()"])
    assert [o["url"] for o in observations] == [CART, START, CART, CART, START]
    assert [o["last_action_error"] for o in observations] == [None, None, None, NO_LATER_PAGE, None]
