import pytest

from runs.models import Suite
from tests.api.conftest import error_of

pytestmark = pytest.mark.django_db

SUITE = """\
name: our-checks
description: Two purchases.
scenarios:
  - key: buy
    task: shop.purchase
  - key: buy-flaky
    task: shop.purchase
    overlays: ["noisy:server_error"]
"""


def test_it_registers_a_suite_and_its_next_version(api, team_user):
    first = api.post("/suites", {"content": SUITE})
    assert first.status_code == 201
    body = first.json()
    assert body["name"] == "our-checks" and body["version"] == 1 and body["team"] == "alpha"
    assert [s["key"] for s in body["scenario_list"]] == ["buy", "buy-flaky"] and body["created_version"]
    same = api.post("/suites", {"content": SUITE})
    assert same.status_code == 200 and same.json()["id"] == body["id"] and not same.json()["created_version"]
    second = api.post("/suites", {"content": SUITE.replace("Two purchases", "Still two")})
    assert second.status_code == 201 and second.json()["version"] == 2
    versions = api.get(f"/suites/{body['id']}/versions").json()
    assert [v["version"] for v in versions["items"]] == [2, 1] and versions["count"] == 2


def test_a_yaml_error_keeps_its_line(api):
    error = error_of(
        api.post("/suites", {"content": SUITE.replace("    task: shop.purchase\n  - key", "  - key", 1)}), 422
    )
    assert error["code"] == "suite_invalid" and error["details"]["line"] == 4
    assert error["message"].startswith("line 4: ")
    assert not Suite.objects.filter(name="our-checks").exists()


def test_an_unknown_overlay_parameter_keeps_its_line(api):
    content = SUITE.replace(
        '"noisy:server_error"]\n', '"noisy:latency"]\n    params:\n      noisy:latency:\n        lag: 3\n'
    )
    error = error_of(api.post("/suites", {"content": content}), 422)
    assert error["code"] == "suite_invalid" and error["details"]["line"] == 11
    assert "unknown parameter 'lag' of overlay noisy:latency" in error["message"]


def test_a_built_in_name_is_a_conflict(api):
    error = error_of(api.post("/suites", {"content": SUITE.replace("our-checks", "smoke")}), 409)
    assert error["code"] == "suite_name_taken" and "built-in suite" in error["message"]


def test_it_lists_built_in_suites_and_filters_by_name(api):
    listed = api.get("/suites", name="smoke").json()
    assert listed["count"] == 1 and listed["items"][0]["team"] is None and listed["items"][0]["scenarios"] == 3
    suite = api.get(f"/suites/{listed['items'][0]['id']}").json()
    assert "scenarios:" in suite["content"] and len(suite["scenario_list"]) == 3


def test_a_body_that_is_not_json_is_a_400(api):
    response = api.client.post("/api/v1/suites", "{not json", content_type="application/json", headers=api.headers)
    assert error_of(response, 400)["code"] == "bad_request"


def test_a_leaderboard_ranks_the_visible_runs(api, played_run):
    suite = Suite.objects.get(name="smoke")
    board = api.get(f"/suites/{suite.pk}/leaderboard", metric="harmful_rate").json()
    assert board["metric"] == "harmful_rate" and board["method"] and board["count"] == len(board["items"])
    bad = error_of(api.get(f"/suites/{suite.pk}/leaderboard", condition="nowhere"), 422)
    assert bad["code"] == "invalid" and "nowhere" in bad["message"]
    assert error_of(api.get(f"/suites/{suite.pk}/leaderboard", metric="vibes"), 422)["code"] == "invalid"


def test_a_body_over_the_server_s_limit_is_a_413(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    error = error_of(api.post("/suites", {"content": "x" * 2000}), 413)
    assert error["code"] == "too_large" and "MiB the server accepts" in error["message"]
