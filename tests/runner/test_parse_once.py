"""One parse of the accessibility snapshot per observation, shared by every reader of it.

The runner parses the snapshot when it observes the page; the built-in baselines' solutions and the
runner's own ref check then read that same parse (``parse_snapshot``), so a step costs one parse whatever
the agent reads. The episode tests count the parses of a whole real episode.
"""

import pytest

from runner.axtree import parse_elements, parse_snapshot, snapshot_of
from runner.types import AgentSpec
from sandbox.baselines.common import page_texts
from tests import episodes

browser = pytest.mark.browser

DIALOG_PAGE = """- main [ref=e1]:
  - heading "Gauntlet Outdoor" [level=1] [ref=e2]
  - dialog "Newsletter" [ref=e3]:
    - paragraph [ref=e4]: Sign up for deals
    - button "No thanks" [ref=e5] [cursor=pointer]
  - link "Trail Running Shoes" [ref=e7] [cursor=pointer]:
    - /url: /product/9"""


def test_it_returns_the_same_parse_for_the_same_snapshot():
    first = parse_snapshot(DIALOG_PAGE)
    # An equal string, not the same object: the parse is shared by content.
    assert snapshot_of({"axtree": DIALOG_PAGE[:9] + DIALOG_PAGE[9:]}) is first
    assert [e["ref"] for e in first.elements] == ["e1", "e2", "e3", "e4", "e5", "e7"]
    assert first.refs == {"e1", "e2", "e3", "e4", "e5", "e7"}


def test_it_gives_the_lines_nested_under_a_line():
    snapshot = parse_snapshot(DIALOG_PAGE)
    dialog = next(i for i, line in enumerate(snapshot.lines) if line.element and line.element["role"] == "dialog")
    assert [line.element["ref"] for line in snapshot.nested(dialog)] == ["e4", "e5"]
    assert snapshot.nested(len(snapshot.lines) - 1) == ()


def test_its_texts_are_the_pages_names_and_values_without_urls():
    assert page_texts({"axtree": DIALOG_PAGE}) == [
        "Gauntlet Outdoor",
        "Newsletter",
        "Sign up for deals",
        "No thanks",
        "Trail Running Shoes",
    ]


def test_parse_elements_hands_out_copies_the_shared_parse_never_sees():
    elements = parse_elements(DIALOG_PAGE)
    elements[0]["name"] = "changed"
    elements.clear()
    assert parse_snapshot(DIALOG_PAGE).elements[0]["name"] == ""
    assert len(parse_elements(DIALOG_PAGE)) == 6


@browser
@pytest.mark.parametrize(
    ("agent", "task", "overlays", "settings"),
    [
        # Reads page text for planted instructions (twice a step) on top of the shop solution's table reads.
        ("gullible", "shop.purchase", ["adversarial:review_injection"], {}),
        # Looks for dialogs in the snapshot's nesting every step, and backtracks (restores observe again).
        ("cautious", "shop.purchase", ["noisy:checkout_503", "noisy:newsletter_popup"], {"backtracking": True}),
        # The bank solution reads comboboxes and details tables from the snapshot's lines.
        ("oracle", "bank.pay_invoice", [], {}),
    ],
)
def test_it_parses_each_observation_once_in_an_episode(agent, task, overlays, settings):
    parse_snapshot.cache_clear()
    outcome, events = episodes.play(episodes.spec(agent, task, overlays, **settings))
    restores = [p for k, p in events if k == "trace" and p["type"] in ("backtrack", "rollback") and p["ok"]]
    # The readers really ran: the task was done, or the planted instruction was found and followed.
    assert (outcome.success or outcome.attack_succeeded) and outcome.steps > 3
    info = parse_snapshot.cache_info()
    # One parse per page observed (a step, or the page a restore re-opened), and every reader hit it.
    assert 1 <= info.misses <= outcome.steps + len(restores)
    assert info.hits >= outcome.steps


@browser
def test_an_unknown_ref_is_refused_from_the_shared_parse():
    source = "class Agent:\n    def act(self, request):\n        return \"click('e999')\"\n"
    outcome, events = episodes.play(
        episodes.spec(AgentSpec(kind="python", source=source), "shop.purchase", max_steps=2)
    )
    errors = [p["error"] for k, p in events if k == "trace" and p["type"] == "action_result"]
    assert errors == ["no element with ref 'e999' on the current page"] * 2
