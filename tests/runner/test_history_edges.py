"""go_back() and go_forward() past the ends of a tab's history are action errors; the tab stays where it was.

Before the episode's first page a tab's history holds only the new tab's about:blank, where Chromium would
otherwise go and call it a success.
"""

import pytest

from runner.browser import NO_EARLIER_PAGE, NO_LATER_PAGE
from tests import episodes

pytestmark = pytest.mark.browser

START = "http://shop.gauntlet.test/"
CART = "http://shop.gauntlet.test/cart"


def test_go_back_on_the_first_page_is_an_error_and_stays_there():
    (after,) = episodes.play_script(["go_back()"])
    assert after["last_action_error"] == NO_EARLIER_PAGE
    assert after["url"] == START


def test_go_forward_on_the_last_page_is_an_error_and_stays_there():
    (after,) = episodes.play_script(["go_forward()"])
    assert after["last_action_error"] == NO_LATER_PAGE
    assert after["url"] == START


def test_going_back_and_forward_within_the_history_still_works():
    observations = episodes.play_script([f"goto('{CART}')", "go_back()", "go_forward()", "go_forward()", "go_back()"])
    assert [o["url"] for o in observations] == [CART, START, CART, CART, START]
    assert [o["last_action_error"] for o in observations] == [None, None, None, NO_LATER_PAGE, None]
