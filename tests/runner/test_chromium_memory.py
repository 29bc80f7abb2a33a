"""What the runner's Chromium flags promise: Playwright's own feature lists kept, one renderer per page and no
spare one, no network service process."""

import os

import pytest
from playwright.async_api import async_playwright

from runner.browser import chromium_path, new_context
from runner.host import RunnerHost
from tests.processes import command_line, descendants, renderers

pytestmark = pytest.mark.browser


def _new_renderers(before: set[int]) -> list[int]:
    """This process's Chromium renderers that were not in ``before`` (other tests' browsers may be alive)."""
    return [pid for pid in renderers(os.getpid()) if pid not in before]


def _features(pids: list[int], switch: str) -> set[str]:
    """The features Chromium ``switch``es (``enable`` or ``disable``), as it tells its renderers ``pids``
    (after merging its command line)."""
    for renderer in pids:
        for arg in " ".join(command_line(renderer)).split():
            if arg.startswith(f"--{switch}-features="):
                return set(arg.split("=", 1)[1].split(","))
    raise AssertionError(f"no renderer with --{switch}-features")


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


async def _two_sandbox_pages(browser, _sandbox):
    for _ in range(2):
        context = await new_context(browser)
        await (await context.new_page()).goto("http://shop.gauntlet.test/")


async def test_it_keeps_the_features_playwright_disables_and_enables(host):
    before = set(renderers(os.getpid()))
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
        await (await browser.new_context()).new_page()
        disabled = _features(_new_renderers(before), "disable")
        enabled = _features(_new_renderers(before), "enable")
        await browser.close()
    assert enabled, "Playwright enables features of its own"
    before = set(renderers(os.getpid()))
    host.call(_two_pages)
    assert disabled <= _features(_new_renderers(before), "disable")
    assert enabled <= _features(_new_renderers(before), "enable")


def test_it_runs_one_renderer_per_page_and_no_spare_one(host):
    before = set(renderers(os.getpid()))
    host.call(_two_sandbox_pages)
    # No omnibox pop-up renderer beside each page, and no spare renderer kept ready for the next one.
    assert len(_new_renderers(before)) == 2


def test_the_network_service_runs_in_the_browser_process(host):
    before = set(descendants(os.getpid()))
    host.call(_two_sandbox_pages)
    started = [" ".join(command_line(pid)) for pid in descendants(os.getpid()) if pid not in before]
    assert any("--type=renderer" in line for line in started)
    assert not [line for line in started if "--utility-sub-type=network.mojom.NetworkService" in line]
