"""A playground World survives being frozen in one process and thawed in another."""

import pytest

from sandbox import play
from sandbox.scenarios import build_scenario
from sandbox.sites.base import Request

SHOP = "shop.gauntlet.test"
OVERLAYS = ["adversarial:review_injection", "noisy:newsletter_popup", "noisy:stale_content"]


def instance(seed=0):
    return build_scenario(key="k", task="shop.purchase", overlays=OVERLAYS, params={}, seed=seed)


def get(path):
    return Request(method="GET", host=SHOP, path=path)


def post(path, form):
    return Request(method="POST", host=SHOP, path=path, form=form)


def test_it_rebuilds_a_world_that_answers_the_next_requests_like_the_original():
    original = instance().world
    for request in (get("/"), get("/cart"), post("/cart/add", {"product_id": "1", "quantity": "1"})):
        play.serve(original, "t", request)

    rebuilt = play.thaw(instance(), play.freeze(original))

    assert rebuilt.digest() == original.digest()
    later = [get("/cart"), get("/cart"), get("/product/1"), post("/newsletter/dismiss", {"next": "/"}), get("/")]
    for request in later:
        a, b = play.serve(original, "t", request), play.serve(rebuilt, "t", request)
        assert (b.status, b.headers, b.body) == (a.status, a.headers, a.body), request.path
    assert [e.as_dict() for e in rebuilt.events] == [e.as_dict() for e in original.events]


def test_it_refuses_to_thaw_on_a_world_of_another_seed():
    original = instance(seed=0).world
    play.serve(original, "t", post("/cart/add", {"product_id": "1", "quantity": "1"}))
    with pytest.raises(play.PlaygroundLost):
        play.thaw(instance(seed=1), play.freeze(original))
