"""A restore skips only the browser work that would change nothing: whatever differs from the checkpoint
(cookies, local storage, fields, the page itself) is put back, and the page is always re-opened."""

import pytest

from runner.checkpoints import restore
from sandbox.server import SANDBOX_DOMAIN
from tests.runner.test_rollback import _checkpoint, _on_a_page

pytestmark = pytest.mark.browser

SHOP = f"http://shop.{SANDBOX_DOMAIN}/"
FORUM = f"http://forum.{SANDBOX_DOMAIN}/"
SEARCH = "input[type=search], input[name=q]"
STORAGE = "() => Object.fromEntries(Object.entries(localStorage))"
# Like a site that reads its local storage as it loads: what the page found there, seen before its own scripts.
READS_ON_LOAD = "try { window.loadedWith = localStorage.getItem('cart') } catch (e) {}"


def _cookies(cookies):
    return sorted((c["name"], c["value"], c["domain"]) for c in cookies)


def test_it_puts_back_cookies_changed_since_the_checkpoint():
    async def body(world, page):
        context = page.context
        await context.add_cookies([{"name": "theme", "value": "light", "url": SHOP}])
        checkpoint = await _checkpoint(world, page)
        before = _cookies(await context.cookies())
        # The same names, one value changed (a cookie added since: see the test across sites).
        await context.add_cookies([{"name": "theme", "value": "dark", "url": SHOP}])
        result = await restore(world, page, checkpoint)
        return result, before, _cookies(await context.cookies()), await page.evaluate("document.cookie")

    result, before, after, seen = _on_a_page(body)
    assert result.ok, result.error
    assert after == before and ("theme", "light", "shop." + SANDBOX_DOMAIN) in after
    assert seen == "theme=light"  # the re-opened page was loaded with them


def test_it_puts_back_local_storage_changed_since_the_checkpoint():
    async def body(world, page):
        await page.add_init_script(READS_ON_LOAD)
        await page.evaluate("() => { localStorage.clear(); localStorage.setItem('cart', 'boots') }")
        checkpoint = await _checkpoint(world, page)
        # As many items as before, one of them changed: a count alone does not tell.
        await page.evaluate("() => localStorage.setItem('cart', 'tent')")
        result = await restore(world, page, checkpoint)
        return result, await page.evaluate(STORAGE), await page.evaluate("window.loadedWith")

    result, storage, loaded_with = _on_a_page(body)
    assert result.ok, result.error
    assert storage == {"cart": "boots"}
    assert loaded_with == "boots", "the page was not loaded again after its storage was put back"


def test_it_puts_back_fields_edited_since_the_checkpoint_and_empties_those_filled_since():
    async def body(world, page):
        await page.goto(SHOP + "track")
        await page.fill("input[name=order]", "1001")
        checkpoint = await _checkpoint(world, page)
        await page.fill("input[name=order]", "2002")
        await page.fill("input[name=email]", "later@example.com")
        result = await restore(world, page, checkpoint)
        return result, await page.input_value("input[name=order]"), await page.input_value("input[name=email]")

    result, order, email = _on_a_page(body)
    assert result.ok, result.error
    assert order == "1001"
    assert email == ""  # at its default in the checkpoint, so back at it


def test_it_writes_the_fields_after_the_reload_that_local_storage_needs():
    async def body(world, page):
        await page.goto(SHOP + "track")
        await page.evaluate("() => { localStorage.clear(); localStorage.setItem('cart', 'boots') }")
        await page.fill("input[name=order]", "1001")
        checkpoint = await _checkpoint(world, page)
        await page.evaluate("() => localStorage.setItem('cart', 'tent')")
        result = await restore(world, page, checkpoint)
        return result, await page.input_value("input[name=order]"), await page.evaluate(STORAGE)

    result, order, storage = _on_a_page(body)
    assert result.ok, result.error
    assert order == "1001" and storage == {"cart": "boots"}


def test_with_nothing_changed_it_still_reloads_the_page_and_keeps_everything():
    async def body(world, page):
        context = page.context
        await page.evaluate("() => { localStorage.clear(); localStorage.setItem('seen', '1') }")
        await page.locator(SEARCH).first.fill("trail")
        checkpoint = await _checkpoint(world, page)
        cookies = _cookies(await context.cookies())
        await page.evaluate("() => { window.__stale = true }")  # only a reload takes this away
        result = await restore(world, page, checkpoint)
        return (
            result,
            cookies,
            _cookies(await context.cookies()),
            await page.evaluate("() => window.__stale === undefined"),
            await page.evaluate(STORAGE),
            await page.locator(SEARCH).first.input_value(),
        )

    result, cookies_before, cookies_after, reloaded, storage, search = _on_a_page(body)
    assert result.ok, result.error
    assert reloaded, "the page was not re-opened"
    assert cookies_after == cookies_before and storage == {"seen": "1"} and search == "trail"


def test_it_restores_across_sites():
    async def body(world, page):
        context = page.context
        await page.add_init_script(READS_ON_LOAD)
        await page.evaluate("() => { localStorage.clear(); localStorage.setItem('cart', 'boots') }")
        checkpoint = await _checkpoint(world, page)
        cookies = _cookies(await context.cookies())
        await page.goto(FORUM)
        await page.evaluate("() => localStorage.setItem('draft', 'x')")
        await context.add_cookies([{"name": "forum_pref", "value": "1", "url": FORUM}])
        await page.goto(SHOP)
        await page.evaluate("() => localStorage.setItem('cart', 'tent')")
        await page.goto(FORUM)
        result = await restore(world, page, checkpoint)
        storage, loaded_with = await page.evaluate(STORAGE), await page.evaluate("window.loadedWith")
        return result, cookies, _cookies(await context.cookies()), page.url, storage, loaded_with

    result, cookies_before, cookies_after, url, storage, loaded_with = _on_a_page(body)
    assert result.ok, result.error
    assert url == SHOP and storage == {"cart": "boots"} and loaded_with == "boots"
    assert cookies_after == cookies_before


def test_it_restores_the_page_after_a_navigation():
    async def body(world, page):
        await page.locator(SEARCH).first.fill("trail")
        await page.evaluate("window.scrollTo(0, 120)")
        checkpoint = await _checkpoint(world, page)
        await page.goto(SHOP + "cart")
        result = await restore(world, page, checkpoint)
        return result, checkpoint, page.url, await page.locator(SEARCH).first.input_value()

    result, checkpoint, url, search = _on_a_page(body)
    assert result.ok, result.error
    assert url == checkpoint.url == SHOP and search == "trail"
