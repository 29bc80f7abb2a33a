"""The episode loop's part of BrowserGym's actions: tab actions change the agent's page (and the observation's
active tab), and an answer holding several actions runs them only where the agent version allows it."""

import base64
import io
import json

import pytest
from PIL import Image

from runner.host import get_host
from runner.types import AgentSpec
from tests.episodes import play_script, play_script_outcome, spec
from tests.fakes.agent_server import AgentServer

pytestmark = pytest.mark.browser


def active(observation: dict) -> int:
    return next(i for i, tab in enumerate(observation["tabs"]) if tab["active"])


def test_tab_actions_move_the_agent_to_another_tab():
    opened, back, closed = play_script(["new_tab()", "tab_focus(0)", "tab_close()"])
    assert (opened["url"], active(opened), len(opened["tabs"])) == ("about:blank", 1, 2)
    assert back["url"].startswith("http://shop.") and active(back) == 0
    assert (closed["url"], active(closed), len(closed["tabs"])) == ("about:blank", 0, 1)


def test_closing_the_only_tab_leaves_the_agent_a_blank_page():
    (closed,) = play_script(["tab_close()"])
    assert closed["url"] == "about:blank" and len(closed["tabs"]) == 1 and closed["last_action_error"] is None


def test_several_actions_are_refused_by_default():
    outcome, (after,) = play_script_outcome(["send_msg_to_user('hi')\nstop()"])
    assert "does not allow several actions" in after["last_action_error"]
    assert outcome.messages == [] and outcome.end_reason == "stop"  # the script's own stop() next step


def test_several_actions_run_in_order_where_the_version_allows_them():
    outcome, observations = play_script_outcome(["send_msg_to_user('hi')\nstop()"], multi_action=True)
    assert observations == [] and outcome.steps == 1
    assert outcome.messages == ["hi"] and outcome.end_reason == "stop"


def test_the_first_failing_action_stops_the_rest():
    outcome, (after,) = play_script_outcome(["click('e99999')\nsend_msg_to_user('never')"], multi_action=True)
    assert after["last_action_error"] == "no element with ref 'e99999' on the current page"
    assert after["last_action"] == "click('e99999')\nsend_msg_to_user('never')"
    assert outcome.messages == []


def test_a_watched_agent_s_screencast_follows_it_to_another_tab():
    queue = ["noop(300)", "new_tab()", "noop(1500)"]

    def behaviour(request, headers):
        return 200, json.dumps({"action": queue.pop(0) if queue else "stop()"}).encode()

    events = []
    with AgentServer(behaviour) as agent:
        agent_spec = AgentSpec(kind="http", config={"url": agent.url}, secret="gsk_script")
        episode = spec(agent_spec, "shop.purchase", max_steps=5)
        get_host().run_episode(episode, lambda kind, payload: events.append((kind, payload)), watched=lambda: True)
    kinds = [kind for kind, _ in events if kind in ("frame", "step")]
    after_switch = kinds[kinds.index("step", kinds.index("step") + 1) :]  # from the end of the new_tab step on
    frames = [payload for kind, payload in events if kind == "frame"]
    assert "frame" in kinds[: kinds.index("step")] and "frame" in after_switch
    # The new tab is blank: its frames are white, the shop's are not.
    assert not blank(frames[0]["data"]) and blank(frames[-1]["data"])


def blank(data: str) -> bool:
    image = Image.open(io.BytesIO(base64.b64decode(data))).convert("L")
    return image.getextrema()[0] > 240
