import os

import pytest
from playwright.sync_api import sync_playwright

from runner.browser import CHROMIUM_ARGS, chromium_path


@pytest.fixture
def browser_page():
    # Playwright's sync API runs an event loop in this thread; the test's own ORM reads are plain
    # reads of committed rows, so allow them here.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        page = browser.new_page()
        yield page
        browser.close()
    os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
