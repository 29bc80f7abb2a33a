"""Observation options per agent version: what is sent, and the DOM text and set-of-marks views on real pages."""

import base64
import io
import re

import pytest
from PIL import Image, ImageChops

from runner.axtree import parse_elements
from runner.browser import VIEWPORT, observe
from runner.host import get_host
from runner.observation import (
    OBSERVATION_FIELDS,
    agent_observation,
    mark_boxes,
    observation_options,
    read_dom,
    validate_observation_options,
)
from runner.types import AgentSpec
from sandbox.scenarios import build_scenario
from sandbox.server import SANDBOX_DOMAIN, WORLD_COOKIE
from tests import episodes
from tests.fakes.agent_server import AgentServer, answer

browser = pytest.mark.browser

CONTRACT_KEYS = [
    "url",
    "title",
    "tabs",
    "axtree",
    "dom",
    "elements",
    "screenshot",
    "set_of_marks",
    "browsergym",
    "last_action",
    "last_action_error",
    "notices",
]
# Content a page has but does not show: none of it may reach the DOM text.
UNSEEN = (
    "<script>var scriptOnlyText = 'from a script';</script>"
    "<style>.styleOnlyText { color: red }</style>"
    '<div style="display:none">Hidden by display</div>'
    '<div style="visibility:hidden">Hidden by visibility</div>'
    "<p hidden>Hidden by attribute</p>"
    '<p aria-hidden="true">Hidden from assistive tech</p>'
    "<div><div><span></span></div></div>"
)
UNSEEN_TEXTS = ("scriptOnlyText", "styleOnlyText", "Hidden by", "Hidden from")


def on_shop(act, html=""):
    """``await act(page)`` on the shop's catalogue (with ``html`` appended to its body) of a fresh World."""

    async def run(browser, sandbox):
        instance = build_scenario(key="shop.purchase:clean", task="shop.purchase", seed=3)
        sandbox.add_world(instance.world)
        context = await browser.new_context(viewport=VIEWPORT)
        try:
            cookie = {"name": WORLD_COOKIE, "value": instance.world.token, "domain": "." + SANDBOX_DOMAIN, "path": "/"}
            await context.add_cookies([cookie])
            page = await context.new_page()
            await page.goto(instance.start_url, wait_until="domcontentloaded")
            if html:
                await page.evaluate("html => document.body.insertAdjacentHTML('beforeend', html)", html)
            return await act(page)
        finally:
            await context.close()
            sandbox.remove_world(instance.world)

    return get_host().call(run)


def observe_shop(options, *, record_jpeg=False, html=""):
    """The catalogue observed for an agent version asking ``options``."""
    return on_shop(lambda page: observe(page, options=frozenset(options), record_jpeg=record_jpeg), html)


def jpeg(data: str | bytes) -> Image.Image:
    raw = base64.b64decode(data) if isinstance(data, str) else data
    assert raw.startswith(b"\xff\xd8")
    image = Image.open(io.BytesIO(raw))
    assert image.format == "JPEG"
    return image.convert("RGB")


def test_it_defaults_to_the_accessibility_tree():
    assert observation_options({}) == {"axtree"}
    assert observation_options({"name": "oracle", "observation": None}) == {"axtree"}
    assert observation_options({"observation": ["dom", "set_of_marks"]}) == {"dom", "set_of_marks"}
    assert observation_options({"observation": list(OBSERVATION_FIELDS)}) == set(OBSERVATION_FIELDS)


def test_it_explains_what_is_wrong_with_observation_options():
    assert validate_observation_options(["axtree", "screenshot"]) == []
    assert validate_observation_options("axtree") == [
        "observation must be a list of fields out of axtree, dom, screenshot, set_of_marks, browsergym, not str"
    ]
    assert validate_observation_options([]) == [
        "observation must list at least one field out of axtree, dom, screenshot, set_of_marks, browsergym"
    ]
    assert validate_observation_options(["axtree", "html", 3]) == [
        "unknown observation field 'html'; choose from axtree, dom, screenshot, set_of_marks, browsergym",
        "unknown observation field 3; choose from axtree, dom, screenshot, set_of_marks, browsergym",
    ]
    assert validate_observation_options(["dom", "dom"]) == ["observation field 'dom' is listed twice"]
    with pytest.raises(ValueError, match="unknown observation field 'html'"):
        observation_options({"observation": ["html"]})


def test_it_reads_a_box_only_where_the_snapshot_puts_it():
    axtree = '- button "Pay [box=0,0,1100,800]" [ref=e5]\n- text: [box=1,1,1,1]\n- generic [ref=e6]: a'
    boxed = (
        '- button "Pay [box=0,0,1100,800]" [ref=e5] [box=10,20,30,40]\n'
        "- text: [box=1,1,1,1]\n"
        "- generic [ref=e6] [box=0,0,5,5]: a"
    )
    # The name's look-alike is text, the text line has no box, and a generic element is not worth a mark.
    assert mark_boxes(axtree, boxed) == [("e5", 10.0, 20.0, 30.0, 40.0)]


@browser
def test_it_sends_only_the_accessibility_tree_by_default():
    observation = observe_shop(observation_options({}), record_jpeg=True)
    sent = agent_observation(observation, observation_options({}))
    assert list(sent) == CONTRACT_KEYS
    assert "[ref=" in sent["axtree"]
    assert sent["dom"] is None and sent["screenshot"] is None and sent["set_of_marks"] is None
    assert any(e["role"] == "link" for e in sent["elements"])
    # The dashboard's recording does not depend on what the agent asked for.
    assert jpeg(observation["_jpeg"]).size == (VIEWPORT["width"], VIEWPORT["height"])


@browser
def test_the_dom_text_marks_every_ref_and_leaves_out_what_is_not_shown():
    observation = observe_shop({"dom"}, html=UNSEEN)
    sent = agent_observation(observation, {"dom"})
    dom = sent["dom"]
    assert sent["axtree"] is None and sent["elements"]
    lines = {re.search(r"\[ref=(\w+)\]", line).group(1): line for line in dom.splitlines() if "[ref=" in line}
    # Every ref is marked but the aria-hidden paragraph's, which the AI snapshot keeps because it is visible.
    assert set(lines) == {e["ref"] for e in sent["elements"] if e["text"] != "Hidden from assistive tech"}
    actionable = [e for e in sent["elements"] if e["role"] in ("link", "button", "searchbox")]
    assert len(actionable) > 5
    for element in actionable:
        assert element["ref"] in lines, element
        assert element["name"] in lines[element["ref"]] or element["role"] == "searchbox", lines[element["ref"]]
    assert re.search(r'^\s*a href="[^"]+" \[ref=\w+\]: \S', dom, re.M)
    assert re.search(r"^\s*button type=\"submit\" \[ref=\w+\]: Search$", dom, re.M)
    assert 'input id="q" name="q" type="search"' in dom
    for text in UNSEEN_TEXTS:
        assert text not in dom
    assert "\n\n" not in dom and not re.search(r"^\s*(div|span)$", dom, re.M)


@browser
def test_a_ref_that_no_longer_resolves_is_left_unmarked():
    async def snapshot_then_remove_the_search_button(page):
        elements = parse_elements(await page.aria_snapshot(mode="ai"))
        await page.evaluate("document.querySelector('form[role=search] button').remove()")
        return elements, await read_dom(page, elements)

    elements, dom = on_shop(snapshot_then_remove_the_search_button)
    search = next(e for e in elements if e["role"] == "button" and e["name"] == "Search")
    sign_out = next(e for e in elements if e["role"] == "button" and e["name"] == "Sign out")
    assert f"[ref={search['ref']}]" not in dom and "Search\n" not in dom
    assert re.search(rf"button type=\"submit\" \[ref={sign_out['ref']}\]: Sign out", dom)


@browser
def test_set_of_marks_is_the_screenshot_with_the_refs_drawn_on_it():
    async def observe_and_read_boxes(page):
        observation = await observe(page, options=frozenset({"screenshot", "set_of_marks"}))
        return observation, await page.aria_snapshot(mode="ai", boxes=True)

    observation, boxed = on_shop(observe_and_read_boxes)
    sent = agent_observation(observation, {"screenshot", "set_of_marks"})
    assert sent["axtree"] is None and sent["dom"] is None
    plain, marked = jpeg(sent["screenshot"]), jpeg(sent["set_of_marks"])
    assert plain.size == marked.size == (VIEWPORT["width"], VIEWPORT["height"])
    assert ImageChops.difference(plain, marked).getbbox() is not None
    # Marks go on actionable elements that are on screen, not on structure.
    search = next(e for e in sent["elements"] if e["role"] == "button" and e["name"] == "Search")
    marked_refs = {ref for ref, *_ in mark_boxes(observation["axtree"], boxed)}
    assert search["ref"] in marked_refs
    marked_roles = {e["role"] for e in sent["elements"] if e["ref"] in marked_refs}
    assert marked_roles <= {"link", "button", "searchbox", "heading"}


@browser
def test_the_screenshot_option_sends_the_viewport_as_a_jpeg():
    observation = observe_shop({"axtree", "screenshot"})
    sent = agent_observation(observation, {"axtree", "screenshot"})
    assert jpeg(sent["screenshot"]).size == (VIEWPORT["width"], VIEWPORT["height"])
    assert sent["set_of_marks"] is None and sent["dom"] is None and sent["axtree"]
    assert observation["_jpeg"] is None  # nothing recorded unless the run records screenshots


@browser
def test_the_agent_gets_exactly_the_fields_its_version_asked_for():
    def play(observation: list[str] | None, record: bool) -> dict:
        config = {} if observation is None else {"observation": observation}
        with AgentServer(answer("stop()")) as server:
            spec = AgentSpec(kind="http", config={"url": server.url, **config}, secret="s", label="observer")
            outcome, events = episodes.play(episodes.spec(spec, "shop.purchase", max_steps=1, screenshots=record))
        assert outcome.agent_error == "", outcome.agent_error_detail
        steps = [p for k, p in events if k == "step"]
        assert (steps[0].screenshot is not None) is record
        return server.requests[0][0]["observation"]

    default = play(None, record=True)
    assert list(default) == CONTRACT_KEYS
    assert default["axtree"] and default["elements"]
    # Recording screenshots for the dashboard does not send one to an agent that did not ask.
    assert default["screenshot"] is None and default["dom"] is None and default["set_of_marks"] is None

    chosen = play(["dom", "set_of_marks"], record=False)
    assert list(chosen) == CONTRACT_KEYS
    assert chosen["axtree"] is None and chosen["screenshot"] is None
    assert "[ref=" in chosen["dom"] and chosen["elements"]
    assert jpeg(chosen["set_of_marks"]).size == (VIEWPORT["width"], VIEWPORT["height"])


@browser
def test_an_oracle_with_every_observation_option_still_succeeds():
    spec = AgentSpec(kind="builtin", config={"name": "oracle", "observation": list(OBSERVATION_FIELDS)})
    outcome, events = episodes.play(episodes.spec(spec, "shop.purchase", max_steps=25, screenshots=True))
    assert outcome.success and outcome.agent_error == "", outcome
    steps = [p for k, p in events if k == "step"]
    assert steps and all(s.screenshot.startswith(b"\xff\xd8") for s in steps)


@browser
def test_every_tab_has_its_title():
    async def open_a_second_tab(page):
        other = await page.context.new_page()
        await other.set_content("<title>Second tab</title><p>hello</p>")
        return await observe(page)

    observation = on_shop(open_a_second_tab)
    first, second = observation["tabs"]
    assert first["title"] == observation["title"] != "" and first["active"]
    assert second["title"] == "Second tab" and not second["active"]
