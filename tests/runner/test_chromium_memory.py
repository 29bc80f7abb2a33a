"""What the runner's Chromium flags promise: Playwright's own disabled features kept, one renderer per page."""

import os

import pytest
from playwright.async_api import async_playwright

from runner.browser import chromium_path, new_context
from runner.host import RunnerHost
from tests.processes import command_line, renderers

pytestmark = pytest.mark.browser


def _new_renderers(before: set[int]) -> list[int]:
    """This process's Chromium renderers that were not in ``before`` (other tests' browsers may be alive)."""
    return [pid for pid in renderers(os.getpid()) if pid not in before]


def _disabled_features(pids: list[int]) -> set[str]:
    """The features Chromium disabled, as it tells its renderers ``pids`` (after merging its command line)."""
    for renderer in pids:
        for arg in " ".join(command_line(renderer)).split():
            if arg.startswith("--disable-features="):
                return set(arg.split("=", 1)[1].split(","))
    raise AssertionError("no renderer with --disable-features")


@pytest.fixture
def host():
    host = RunnerHost()
    try:
        yield host
    finally:
        host.close()


async def _two_pages(browser, _sandbox):
    for _ in range(2):
        context = await new_context(browser)
        await context.new_page()


async def test_it_keeps_the_features_playwright_disables(host):
    before = set(renderers(os.getpid()))
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
        await (await browser.new_context()).new_page()
        playwrights = _disabled_features(_new_renderers(before))
        await browser.close()
    before = set(renderers(os.getpid()))
    host.call(_two_pages)
    assert playwrights <= _disabled_features(_new_renderers(before))


def test_it_runs_one_renderer_per_page(host):
    before = set(renderers(os.getpid()))
    host.call(_two_pages)
    # No omnibox pop-up renderer beside each page; at most one spare renderer Chromium keeps ready.
    assert len(_new_renderers(before)) <= 3
