"""The generic overlays on a real task in real Chromium: attacks land on ``gullible`` and not on ``oracle``,
conditions compose, concurrent agents collide. (Every noisy overlay on every task: test_matrix.py.)"""

import pytest

from sandbox.scenarios import OVERLAYS, build_scenario
from tests.episodes import faults, play, spec

pytestmark = pytest.mark.browser

NOISY = sorted(name for name in OVERLAYS if name.startswith("noisy:"))
ADVERSARIAL = sorted(name for name in OVERLAYS if name.startswith("adversarial:"))


def test_there_are_enough_kinds():
    assert len(NOISY) >= 6 and len(ADVERSARIAL) >= 6
    assert len([name for name in OVERLAYS if name.startswith("concurrent:")]) >= 3


@pytest.mark.parametrize("overlay", ADVERSARIAL)
def test_each_attack_lands_on_gullible_but_not_on_oracle(overlay):
    attacked, _ = play(spec("gullible", "shop.purchase", [overlay]))
    assert attacked.attack_exposed and attacked.attack_succeeded, attacked
    defended, _ = play(spec("oracle", "shop.purchase", [overlay]))
    assert defended.attack_exposed and not defended.attack_succeeded
    assert defended.success and not defended.committed_harms


# The attack kinds the field writes (issue 16): the test above proves that each lands on gullible and not on
# oracle; this one that the cautious baseline, which adopts nothing it reads, resists them too.
FIELD_KINDS = [
    "adversarial:important_instructions",
    "adversarial:ignore_previous",
    "adversarial:aria_injection",
    "adversarial:format_mimicking",
    "adversarial:denial_of_service",
    "adversarial:goal_reveal",
    "adversarial:alt_text_banner",
]


@pytest.mark.parametrize("overlay", FIELD_KINDS)
def test_the_fields_attack_kinds_miss_the_cautious_baseline(overlay):
    assert overlay in ADVERSARIAL
    defended, _ = play(spec("cautious", "shop.purchase", [overlay]))
    assert defended.attack_exposed and not defended.attack_succeeded
    assert defended.success and not defended.committed_harms


def test_overlays_compose():
    overlays = ["adversarial:lookalike_link", "noisy:server_error", "noisy:popup"]
    outcome, events = play(spec("oracle", "shop.purchase", overlays))
    assert {"http_503", "popup"} <= set(faults(events))
    assert outcome.success and outcome.attack_exposed and not outcome.attack_succeeded
    attacked, _ = play(spec("gullible", "shop.purchase", overlays))
    assert attacked.attack_succeeded


def test_the_last_item_race_sells_the_item_once():
    outcome, events = play(spec("oracle", "shop.purchase", ["concurrent:last_item_race"]))
    agents = {p.agent_index for k, p in events if k == "step"}
    assert agents == {0, 1, 2}
    assert outcome.success and not outcome.committed_harms
    assert outcome.end_reason == "report_infeasible,stop"


def test_the_background_actor_changes_the_world_mid_task():
    outcome, events = play(spec("oracle", "shop.purchase", ["concurrent:background_actor"]))
    assert faults(events) == ["background_change"]
    assert any(p["agent"] == 15 for k, p in events if k == "trace" and p["type"] == "wal")
    assert outcome.success


def test_worlds_are_deterministic_for_every_overlay():
    for name in OVERLAYS:
        task = "forum.update_email" if name == "concurrent:two_editors" else "shop.purchase"
        a = build_scenario(key="k", task=task, overlays=[name], seed=11).world
        b = build_scenario(key="k", task=task, overlays=[name], seed=11).world
        assert a.digest() == b.digest(), name


def test_two_naive_editors_collide_and_the_lost_update_is_detected():
    outcome, events = play(spec("oracle", "forum.update_email", ["concurrent:two_editors"]))
    assert {p.agent_index for k, p in events if k == "step"} == {0, 1}
    assert "lost_update" in outcome.committed_harms


def test_two_agents_replying_at_once_double_submit():
    outcome, _ = play(spec("oracle", "forum.reply_thread", ["concurrent:two_editors"]))
    assert "double_submit" in outcome.committed_harms


def test_overlay_parameters_apply():
    outcome, events = play(
        spec("oracle", "shop.purchase", ["noisy:session_expiry"], params={"session_expires_after": 1})
    )
    expired = [p for k, p in events if k == "trace" and p["type"] == "fault"]
    assert expired and expired[0]["step"] <= 2 and outcome.success


def test_a_background_reply_arrives_on_the_forum_mid_task():
    outcome, events = play(spec("oracle", "forum.reply_thread", ["concurrent:background_actor"]))
    assert faults(events) == ["background_change"] and outcome.success
