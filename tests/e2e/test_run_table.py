"""The run page's episode table in a real browser: pages, filters, and rows that change while it is open."""

import pytest
from django.conf import settings as django_settings
from django.test import Client
from playwright.sync_api import expect

from agents.models import Agent
from runs import services
from runs.models import Episode, Suite
from tests.conftest import serving_asgi

pytestmark = [pytest.mark.browser, pytest.mark.services, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def server(transactional_db, tmp_path):
    with serving_asgi(tmp_path / "daphne.log", GAUNTLET_LIVE_HEARTBEAT_S="1") as served:
        yield served


@pytest.fixture
def table_page(server, builtins, team_user, browser_page):
    """The live page of a queued 60-episode run, open in a logged-in browser."""
    url, _ = server
    team, user = team_user
    run = services.queue_run(
        agent_version=Agent.objects.get(name="oracle").latest_version(),
        suite=Suite.objects.get(name="smoke"),
        team=team,
        user=user,
        trials=20,
        enqueue=False,
    )
    client = Client()
    client.force_login(user)
    browser_page.context.add_cookies([{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": url}])
    browser_page.goto(f"{url}/runs/{run.pk}/")
    expect(browser_page.locator("#live")).to_have_text("live", timeout=10000)
    return browser_page, run


def test_it_pages_through_the_episodes(table_page):
    page, run = table_page
    expect(page.locator("#episodes tr[data-id]")).to_have_count(50)
    page.locator("#page-next").click()
    expect(page.locator("#episodes tr[data-id]")).to_have_count(10)
    expect(page.locator("#page-number")).to_have_text("2")
    last = run.episodes.order_by("pk").last()
    expect(page.locator(f"#episode-{last.pk} td").nth(1)).to_have_text(last.scenario.key)


def test_a_filtered_table_shows_an_episode_that_comes_to_match(table_page):
    page, run = table_page
    page.locator("#filter-status").select_option("errored")
    page.get_by_role("button", name="Show").click()
    expect(page.locator("#episodes")).to_contain_text("No episode matches this filter.")
    episode = run.episodes.order_by("pk")[7]
    fail_for_good(episode)
    expect(page.locator(f"#episode-{episode.pk} .ep-status")).to_contain_text("errored", timeout=6000)
    expect(page.locator("#episodes tr[data-id]")).to_have_count(1)
    expect(page.locator("#c-done")).to_have_text("1")
    # Episodes finish out of id order: one before the first shown row belongs on the first page too.
    earlier = run.episodes.order_by("pk")[2]
    fail_for_good(earlier)
    expect(page.locator(f"#episode-{earlier.pk} .ep-status")).to_contain_text("errored", timeout=6000)
    expect(page.locator("#episodes tr[data-id]")).to_have_count(2)
    expect(page.locator("#episodes tr[data-id]").first).to_have_id(f"episode-{earlier.pk}")


def fail_for_good(episode):
    """The episode's last attempt claimed and failed through the real service (its event published)."""
    Episode.objects.filter(pk=episode.pk).update(attempts=django_settings.GAUNTLET_MAX_ATTEMPTS - 1)
    assert episode.claim("test-worker", 60)
    assert services.fail_episode(episode, episode.attempts, "browser crashed") == "errored"
