"""The runner host outlives its browser: after Chromium or the Playwright driver dies, episodes run again on
a new one, in the same process."""

import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from runner.host import RunnerHost
from runner.types import AgentSpec, InfraError
from tests import episodes
from tests.processes import chromium_browsers, playwright_drivers

pytestmark = pytest.mark.browser


@pytest.fixture
def host():
    host = RunnerHost(slots=2)
    try:
        yield host
    finally:
        host.close()


def play(host, **options):
    return host.run_episode(episodes.smoke("oracle", **options), lambda kind, payload: None)


def test_a_browser_killed_mid_episode_fails_only_that_episode(host):
    others = set(chromium_browsers(os.getpid()))  # other tests' browsers, alive in this process
    steps: list[int] = []
    player = ThreadPoolExecutor(1)
    restless = AgentSpec(kind="builtin", config={"name": "random", "stop_probability": 0})
    running = player.submit(
        host.run_episode,
        episodes.smoke(restless, max_steps=30),
        lambda kind, payload: steps.append(1) if kind == "step" else None,
    )
    deadline = time.monotonic() + 60
    while len(steps) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    [browser] = set(chromium_browsers(os.getpid())) - others
    os.kill(browser, signal.SIGKILL)
    with pytest.raises(InfraError, match="browser"):
        running.result(timeout=60)
    player.shutdown()
    assert play(host).success
    assert sorted(set(chromium_browsers(os.getpid())) - others) not in ([], [browser])


def test_a_dead_playwright_driver_is_started_again(host):
    others = set(playwright_drivers(os.getpid()))  # other tests' drivers, alive in this process
    assert play(host).success
    [driver] = set(playwright_drivers(os.getpid())) - others
    os.kill(driver, signal.SIGKILL)
    # The driver's death shows only when it is used: at most the episode that finds out fails.
    outcomes = []
    for _ in range(2):
        try:
            outcomes.append(play(host).success)
        except InfraError:
            outcomes.append("infra_error")
    assert outcomes[-1] is True
    assert sorted(set(playwright_drivers(os.getpid())) - others) not in ([], [driver])
