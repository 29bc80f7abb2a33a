"""The runner host makes the next episode's browser context ahead of time, and never hands one out twice."""

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from runner.host import RunnerHost
from tests import episodes

pytestmark = pytest.mark.browser


async def _contexts(browser, _sandbox) -> list[dict]:
    """Every open context of the host's browser: its cookies and the URLs of its pages."""
    return [{"id": id(c), "cookies": await c.cookies(), "pages": [p.url for p in c.pages]} for c in browser.contexts]


def _wait_for_one_context(host: RunnerHost) -> dict:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        contexts = host.call(_contexts)
        if len(contexts) == 1 and contexts[0]["pages"]:
            return contexts[0]
        time.sleep(0.05)
    raise AssertionError(f"expected exactly one warm context, found {contexts}")


@pytest.fixture
def host():
    host = RunnerHost(slots=1)
    try:
        yield host
    finally:
        host.close()


def test_it_keeps_a_blank_context_ready_between_episodes(host):
    host.run_episode(episodes.smoke("oracle"), lambda kind, payload: None)
    warm = _wait_for_one_context(host)
    # Nothing of the episode that just ended: no World cookie, no page but a blank one.
    assert warm["cookies"] == []
    assert warm["pages"] == ["about:blank"]


def test_it_never_hands_out_a_context_twice(host):
    seen = []
    for seed in (1, 2, 3):
        outcome = host.run_episode(episodes.smoke("oracle", seed=seed), lambda kind, payload: None)
        assert outcome.success
        seen.append(_wait_for_one_context(host)["id"])
    # Each episode took the warm context and closed it; a new one was made for the next.
    assert len(set(seen)) == 3


def test_it_keeps_no_context_while_every_slot_is_busy(host):
    events: list[str] = []
    player = ThreadPoolExecutor(1)
    outcome = player.submit(host.run_episode, episodes.smoke("oracle"), lambda kind, payload: events.append(kind))
    deadline = time.monotonic() + 30
    while "step" not in events and time.monotonic() < deadline:
        time.sleep(0.01)
    during = host.call(_contexts)
    assert outcome.result(timeout=60).success
    player.shutdown()
    # One slot and one episode playing: its own context only, no warm one beside it.
    assert len(during) == 1
    assert during[0]["cookies"]
