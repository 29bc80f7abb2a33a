"""A restore puts back the page's local storage as the checkpoint recorded it, and reloads for it."""

import pytest

from runner.checkpoints import capture_browser, restore_browser
from tests.runner.test_rollback import _on_a_page

browser = pytest.mark.browser

READ = "() => Object.fromEntries(Object.entries(localStorage))"


@browser
def test_it_restores_the_recorded_local_storage():
    async def body(world, page):
        await page.evaluate("() => { localStorage.clear(); localStorage.setItem('cart', 'boots') }")
        state = await capture_browser(page, world, 0)
        await page.evaluate("() => { localStorage.setItem('cart', 'tent'); localStorage.setItem('extra', '1') }")
        await restore_browser(page, state, page.url)
        return await page.evaluate(READ)

    assert _on_a_page(body) == {"cart": "boots"}


@browser
def test_it_empties_local_storage_the_checkpoint_did_not_have():
    async def body(world, page):
        await page.evaluate("() => localStorage.clear()")
        state = await capture_browser(page, world, 0)
        await page.evaluate("() => localStorage.setItem('later', 'x')")
        await restore_browser(page, state, page.url)
        return await page.evaluate(READ)

    assert _on_a_page(body) == {}
