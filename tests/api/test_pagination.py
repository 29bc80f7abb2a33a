import pytest

from tests.api.conftest import error_of

pytestmark = pytest.mark.django_db


def test_a_page_has_a_count_and_a_link_to_the_next(api):
    first = api.get("/agents", limit=3).json()
    assert first["count"] == 4 and first["limit"] == 3 and first["offset"] == 0 and len(first["items"]) == 3
    assert "offset=3" in first["next"] and "limit=3" in first["next"]
    second = api.client.get(first["next"], headers=api.headers).json()
    assert len(second["items"]) == 1 and second["next"] is None
    assert {a["name"] for a in first["items"] + second["items"]} == {"oracle", "gullible", "random", "cautious"}


def test_filters_stay_in_the_next_link(api):
    page = api.get("/suites", limit=1, name="smoke").json()
    assert page["next"] is None and page["count"] == 1


def test_a_page_past_the_end_is_empty(api):
    page = api.get("/agents", offset=100).json()
    assert page["items"] == [] and page["count"] == 4 and page["next"] is None


@pytest.mark.parametrize("params", [{"limit": 101}, {"limit": 0}, {"offset": -1}, {"limit": "many"}])
def test_a_page_out_of_bounds_is_a_validation_error(api, params):
    error = error_of(api.get("/runs", **params), 422)
    assert error["code"] == "invalid" and error["details"][0]["field"] in params


def test_an_id_out_of_range_is_not_a_server_error(api):
    assert error_of(api.get(f"/runs/{2**70}"), 422)["code"] == "invalid"
    assert error_of(api.get("/runs/0"), 422)["code"] == "invalid"
    assert error_of(api.get("/agents", name="a\x00b"), 422)["code"] == "invalid"


def test_an_unknown_query_parameter_is_refused(api):
    error = error_of(api.get("/runs", stauts="complete"), 422)
    assert error["code"] == "invalid" and "'stauts'" in error["message"] and "status" in error["message"]
