"""A restore puts back the page's local storage as the checkpoint recorded it, and reloads for it."""

import pytest

from runner.checkpoints import capture_browser, restore_browser
from sandbox.server import SANDBOX_DOMAIN
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


@browser
def test_it_records_the_page_storage_and_cookies_without_opening_a_page_for_other_sites():
    async def body(world, page):
        shop = page.url
        await page.goto(f"http://forum.{SANDBOX_DOMAIN}/")
        await page.evaluate("() => localStorage.setItem('draft', 'x')")
        await page.goto(shop)
        await page.evaluate("() => { localStorage.clear(); localStorage.setItem('cart', 'boots') }")
        # storage_state() would open a hidden page and load the forum in it to read its storage.
        cdp = await page.context.browser.new_browser_cdp_session()
        opened = []
        cdp.on("Target.targetCreated", lambda event: opened.append(event["targetInfo"]))
        await cdp.send("Target.setDiscoverTargets", {"discover": True})
        known = len(opened)
        state = await capture_browser(page, world, 0)
        await cdp.send("Target.setDiscoverTargets", {"discover": False})
        await cdp.detach()
        return state, opened[known:], await page.context.cookies()

    state, opened, cookies = _on_a_page(body)
    assert [t for t in opened if t["type"] == "page"] == []
    storage = state["storage"]
    assert storage["origins"] == [
        {"origin": f"http://shop.{SANDBOX_DOMAIN}", "localStorage": [{"name": "cart", "value": "boots"}]}
    ]
    assert storage["cookies"] == cookies
