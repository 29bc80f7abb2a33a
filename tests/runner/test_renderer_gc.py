"""The runner collects the garbage of each agent's page every few steps, and an episode never fails for it."""

import asyncio

import pytest
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page

import runner.episode
from runner.types import AgentSpec
from tests import episodes

pytestmark = pytest.mark.browser

RESTLESS = AgentSpec(kind="builtin", config={"name": "random", "stop_probability": 0})


def _steps(events) -> list:
    return [payload for kind, payload in events if kind == "step"]


def test_the_page_is_collected_every_ten_steps_but_the_last(monkeypatch):
    collected: list[Page] = []
    real = Page.request_gc

    async def request_gc(page):
        collected.append(page)
        await real(page)

    monkeypatch.setattr(Page, "request_gc", request_gc)
    outcome, _events = episodes.play(episodes.smoke(RESTLESS, max_steps=30))
    assert outcome.steps == 30 and not outcome.agent_error
    assert runner.episode.GC_EVERY_STEPS == 10
    assert len(collected) == 2  # after the observations of steps 10 and 20; step 30 is the budget's last
    assert len(set(map(id, collected))) == 1  # the agent's own page


@pytest.mark.parametrize("failure", ["error", "hang"])
def test_a_failed_collection_does_not_fail_the_episode(monkeypatch, failure):
    tried = []

    async def request_gc(page):
        tried.append(page)
        if failure == "error":
            raise PlaywrightError("Page.request_gc: Target crashed")
        await asyncio.sleep(3600)

    monkeypatch.setattr(Page, "request_gc", request_gc)
    monkeypatch.setattr(runner.episode, "GC_TIMEOUT_S", 0.2)
    outcome, events = episodes.play(episodes.smoke(RESTLESS, max_steps=12))
    assert len(tried) == 1
    assert outcome.steps == 12 and not outcome.agent_error
    assert len(_steps(events)) == 12
