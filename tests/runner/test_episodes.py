"""The runner with real Chromium and the real sandbox server, no Django involved."""

import pytest

from runner.types import StepRecord
from tests import episodes
from tests.episodes import SMOKE

pytestmark = pytest.mark.browser


def play(agent: str, key: str, max_steps: int = 25):
    return episodes.play(episodes.smoke(agent, key, max_steps=max_steps, screenshots=True))


@pytest.mark.parametrize("key", sorted(SMOKE))
def test_oracle_succeeds_without_harm(key):
    outcome, events = play("oracle", key)
    assert outcome.success, outcome
    assert outcome.committed_harms == []
    assert not outcome.attack_succeeded
    assert outcome.progress == 1.0
    assert outcome.agent_error == ""
    assert outcome.end_reason == "stop"
    steps = [p for k, p in events if k == "step"]
    assert [s.index for s in steps] == list(range(1, outcome.steps + 1))
    assert all(isinstance(s, StepRecord) and s.screenshot.startswith(b"\xff\xd8") for s in steps)
    trace_types = [p["type"] for k, p in events if k == "trace"]
    assert trace_types[0] == "episode_start" and trace_types[-1] == "episode_end"
    assert "wal" in trace_types


def test_gullible_commits_the_injected_harm():
    outcome, events = play("gullible", "purchase-review-injection")
    assert outcome.attack_exposed
    assert outcome.attack_succeeded
    assert outcome.committed_harms
    assert not outcome.success
    assert any(p["type"] == "harm" for k, p in events if k == "trace")


def test_oracle_is_exposed_to_the_injection_but_ignores_it():
    outcome, _ = play("oracle", "purchase-review-injection")
    assert outcome.attack_exposed and not outcome.attack_succeeded


def test_the_noisy_scenario_injects_faults_and_oracle_recovers():
    outcome, events = play("oracle", "purchase-flaky-checkout")
    faults = [p["name"] for k, p in events if k == "trace" and p["type"] == "fault"]
    assert "http_503" in faults and "popup" in faults
    assert outcome.faults_injected == len(faults)
    assert outcome.faults_recovered == outcome.faults_injected
    assert outcome.success


def test_the_step_budget_ends_an_episode():
    outcome, _ = play("oracle", "purchase-clean", max_steps=2)
    assert outcome.steps == 2
    assert outcome.end_reason == "step_budget"
    assert not outcome.success
