"""The ``browsergym`` observation option: BrowserGym's observation keys, in its shapes, with refs as bids, on real
pages."""

import pytest

from runner.browser import VIEWPORT, observe
from runner.observation import agent_observation
from tests.episodes import play_script
from tests.runner.test_observation import observe_shop, on_shop

pytestmark = pytest.mark.browser

FAR_BELOW = '<button id="far" style="position:absolute;top:3000px">Far below</button>'
BROWSERGYM_KEYS = [
    "chat_messages",
    "goal_object",
    "open_pages_urls",
    "open_pages_titles",
    "active_page_index",
    "url",
    "dom_object",
    "axtree_object",
    "extra_element_properties",
    "focused_element_bid",
    "last_action",
    "last_action_error",
    "elapsed_time",
]


def ref_of(observation: dict, role: str, name: str) -> str:
    return next(e["ref"] for e in observation["elements"] if e["role"] == role and e["name"] == name)


def test_element_properties_give_each_ref_its_box_visibility_and_clickability():
    observation = observe_shop({"browsergym"}, html=FAR_BELOW)
    properties = observation["browsergym"]["extra_element_properties"]
    search = properties[ref_of(observation, "button", "Search")]
    assert search["visibility"] == 1.0 and search["clickable"] and search["set_of_marks"]
    x, y, width, height = search["bbox"]
    assert 0 <= x < x + width <= VIEWPORT["width"] and 0 <= y < y + height <= VIEWPORT["height"]
    far = properties[ref_of(observation, "button", "Far below")]
    assert far["visibility"] == 0 and not far["set_of_marks"]
    assert far["bbox"][1] >= 3000


def test_an_element_is_clickable_as_chromium_sees_it_listeners_included():
    async def listen_then_observe(page):
        await page.evaluate(
            "() => { const tap = document.createElement('div'); tap.setAttribute('role', 'button');"
            " tap.textContent = 'Tap'; tap.addEventListener('click', () => {}); document.body.append(tap); }"
        )
        return await observe(page, options=frozenset({"browsergym"}))

    observation = on_shop(listen_then_observe)
    assert observation["browsergym"]["extra_element_properties"][ref_of(observation, "button", "Tap")]["clickable"]


def test_structural_elements_are_neither_clickable_nor_marked():
    observation = observe_shop({"browsergym"})
    properties = observation["browsergym"]["extra_element_properties"]
    heading = next(e for e in observation["elements"] if e["role"] == "heading")
    assert properties[heading["ref"]]["clickable"] is False
    assert set(properties) == {e["ref"] for e in observation["elements"]}


def test_the_accessibility_tree_object_names_each_node_s_ref():
    observation = observe_shop({"browsergym"})
    nodes = observation["browsergym"]["axtree_object"]["nodes"]
    search = ref_of(observation, "button", "Search")
    (node,) = [n for n in nodes if n.get("browsergym_id") == search]
    assert (node["role"]["value"], node["name"]["value"]) == ("button", "Search")
    # Every ref of the snapshot names the node of its element.
    named = {n["browsergym_id"] for n in nodes if "browsergym_id" in n}
    assert named == {e["ref"] for e in observation["elements"]}


def test_the_focused_element_is_named_by_its_ref():
    async def focus_then_observe(page):
        before = await observe(page, options=frozenset({"browsergym"}))
        await page.focus("#q")
        return before, await observe(page, options=frozenset({"browsergym"}))

    before, after = on_shop(focus_then_observe)
    searchbox = next(e["ref"] for e in after["elements"] if e["role"] == "searchbox")
    # Before, the document's body has the focus (as in BrowserGym, its bid when it has one).
    assert before["browsergym"]["focused_element_bid"] != searchbox
    assert after["browsergym"]["focused_element_bid"] == searchbox


def test_reading_the_view_leaves_the_page_as_it_was():
    async def observe_between_reads(page):
        html = "() => document.documentElement.outerHTML"
        before = await page.evaluate(html)
        await observe(page, options=frozenset({"browsergym"}))
        return before, await page.evaluate(html)

    before, after = on_shop(observe_between_reads)
    assert before == after


def test_the_option_is_null_unless_asked_for():
    observation = observe_shop({"axtree"})
    assert observation["browsergym"] is None
    assert agent_observation(observation, {"axtree"})["browsergym"] is None


def test_an_agent_gets_browsergym_s_keys_with_its_chat_and_the_elapsed_time():
    first, second = play_script(["send_msg_to_user('On it')", "new_tab()"], observation=["browsergym"])
    view = first["browsergym"]
    assert list(view) == BROWSERGYM_KEYS
    goal = view["goal_object"][0]["text"]
    assert view["goal_object"] == [{"type": "text", "text": goal}] and goal
    assert [(m["role"], m["message"]) for m in view["chat_messages"]] == [("user", goal), ("assistant", "On it")]
    assert view["last_action"] == "send_msg_to_user('On it')" and view["last_action_error"] == ""
    assert view["url"] == first["url"] and view["active_page_index"] == [0]
    assert view["open_pages_titles"] == [first["title"]] and view["open_pages_urls"] == [first["url"]]
    after = second["browsergym"]
    assert after["active_page_index"] == [1] and after["open_pages_urls"][1] == "about:blank"
    assert 0 < view["elapsed_time"][0] < after["elapsed_time"][0]


def test_an_element_in_a_shadow_root_has_its_properties_and_its_node():
    async def observe_with_a_shadow_root(page):
        await page.evaluate(
            "() => document.body.insertAdjacentElement('beforeend', document.createElement('div'))"
            ".attachShadow({mode: 'open'}).innerHTML = '<p>text</p><button>In the shadow</button>'"
        )
        return await observe(page, options=frozenset({"browsergym"}))

    observation = on_shop(observe_with_a_shadow_root)
    ref = ref_of(observation, "button", "In the shadow")
    assert observation["browsergym"]["extra_element_properties"][ref]["bbox"] is not None
    nodes = observation["browsergym"]["axtree_object"]["nodes"]
    assert [n["name"]["value"] for n in nodes if n.get("browsergym_id") == ref] == ["In the shadow"]


def test_the_dom_snapshot_carries_browsergym_s_marks_on_each_ref_s_element():
    observation = observe_shop({"browsergym"})
    dom = observation["browsergym"]["dom_object"]
    strings, nodes = dom["strings"], dom["documents"][0]["nodes"]
    marks = {}
    for name, attributes in zip(nodes["nodeName"], nodes["attributes"], strict=True):
        pairs = dict(zip((strings[i] for i in attributes[::2]), (strings[i] for i in attributes[1::2]), strict=True))
        if "bid" in pairs:
            marks[pairs["bid"]] = (
                strings[name],
                pairs["browsergym_visibility_ratio"],
                pairs["browsergym_set_of_marks"],
            )
    search = ref_of(observation, "button", "Search")
    assert marks[search] == ("BUTTON", "1", "1")
    assert set(marks) == {e["ref"] for e in observation["elements"]}
