"""The dashboard end to end in a real browser: log in, start a run, watch it live, leaderboard, trace."""

import json

import pytest
from playwright.sync_api import expect

from runs.models import Run

pytestmark = [pytest.mark.browser, pytest.mark.services]


def test_a_user_runs_an_agent_and_watches_it_live(
    asgi_server, celery_worker_process, builtins, team_user, browser_page, tmp_path
):
    page = browser_page
    page.goto(asgi_server + "/")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Runs")).to_be_visible()

    page.get_by_label("Agent").select_option(label="gullible v1")
    page.get_by_label("Suite").select_option(label="smoke v1")
    page.get_by_label("Trials").fill("1")
    page.get_by_role("button", name="Start run").click()
    expect(page.locator("#live")).to_have_text("live", timeout=10000)
    run_id = int(page.url.rstrip("/").split("/")[-1])

    # The counters change without a reload: the page is the one we opened, updated by websocket events.
    page.evaluate("window.__marker = 'same page'")
    expect(page.locator("#c-done")).to_have_text("3", timeout=180000)
    expect(page.locator("#run-status")).to_have_text("complete", timeout=30000)
    assert page.evaluate("window.__marker") == "same page"
    expect(page.locator("#m-harmful_rate")).not_to_have_text("–", timeout=5000)
    assert page.locator("#feed li").count() > 0
    assert Run.objects.get(pk=run_id).status == Run.COMPLETE

    page.get_by_role("link", name="leaderboard", exact=True).click()
    expect(page.locator("#leaderboard")).to_contain_text("gullible v1")
    expect(page.locator("#leaderboard")).to_contain_text(f"#{run_id}")

    page.goto(f"{asgi_server}/runs/{run_id}/")
    with page.expect_download() as download_info:
        page.get_by_role("link", name="trace.jsonl").first.click()
    path = tmp_path / "trace.jsonl"
    download_info.value.save_as(path)
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert lines[0]["type"] == "episode_start" and lines[-1]["type"] == "episode_end"
    assert all(line["v"] == "gauntlet.trace/v2" and line["ts"] for line in lines)
