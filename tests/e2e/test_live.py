"""The live run page stays true in a real browser: lost events, a silent socket, no network."""

import os
import signal

import pytest
from django.conf import settings as django_settings
from django.test import Client
from playwright.sync_api import expect

from agents.models import Agent
from runs import events, selectors, services
from runs.models import Episode, Run, Suite
from tests.conftest import serving_asgi

pytestmark = [pytest.mark.browser, pytest.mark.services, pytest.mark.django_db(transaction=True)]

HEARTBEAT_S = 1


@pytest.fixture
def server(transactional_db, tmp_path):
    with serving_asgi(tmp_path / "daphne.log", GAUNTLET_LIVE_HEARTBEAT_S=str(HEARTBEAT_S)) as served:
        yield served


@pytest.fixture
def run_page(server, builtins, team_user, browser_page):
    """The live page of a queued run, open in a logged-in browser and live."""
    url, _ = server
    team, user = team_user
    run = services.queue_run(
        agent_version=Agent.objects.get(name="oracle").latest_version(),
        suite=Suite.objects.get(name="smoke"),
        team=team,
        user=user,
        enqueue=False,
    )
    client = Client()
    client.force_login(user)
    browser_page.context.add_cookies([{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": url}])
    browser_page.goto(f"{url}/runs/{run.pk}/")
    expect(browser_page.locator("#live")).to_have_text("live", timeout=10000)
    return browser_page, run


def test_it_shows_a_result_whose_event_was_lost_without_any_further_event(run_page, settings):
    page, run = run_page
    page.evaluate(
        """() => {
          window.__liveLabels = [];
          const live = document.getElementById("live");
          new MutationObserver(() => window.__liveLabels.push(live.textContent))
            .observe(live, {childList: true, characterData: true, subtree: true});
        }"""
    )
    # The real service writes the result and allocates its sequence number, but its event goes to a channel
    # layer no web process listens to: the event is lost, as the Redis layer loses them under bursts.
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    episode = run.episodes.order_by("pk").first()
    Episode.objects.filter(pk=episode.pk).update(attempts=django_settings.GAUNTLET_MAX_ATTEMPTS - 1)
    assert episode.claim("test-worker", 60)  # its last attempt
    assert services.fail_episode(episode, episode.attempts, "browser crashed") == "errored"

    expect(page.locator(f"#episode-{episode.pk} .ep-status")).to_contain_text("errored", timeout=HEARTBEAT_S * 6000)
    expect(page.locator("#c-done")).to_have_text("1")
    expect(page.locator("#live")).to_have_text("live")
    assert "catching up…" in page.evaluate("window.__liveLabels")


def test_it_reconnects_when_the_socket_goes_silent(server, run_page):
    page, _ = run_page
    _, daphne = server
    # A stopped server keeps its TCP connections open: the browser gets no close event, only silence.
    os.kill(daphne.pid, signal.SIGSTOP)
    try:
        expect(page.locator("#live")).to_have_text("reconnecting…", timeout=HEARTBEAT_S * 5000)
    finally:
        os.kill(daphne.pid, signal.SIGCONT)
    expect(page.locator("#live")).to_have_text("live", timeout=15000)


def test_it_says_offline_while_the_browser_has_no_network(run_page):
    page, _ = run_page
    page.context.set_offline(True)
    expect(page.locator("#live")).to_have_text("offline", timeout=3000)
    page.context.set_offline(False)
    expect(page.locator("#live")).to_have_text("live", timeout=10000)


def fail_for_good_silently(settings, episodes):
    """Error the episodes through the real service (each gets its sequence number) with their events lost."""
    layers = settings.CHANNEL_LAYERS
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    for episode in episodes:
        Episode.objects.filter(pk=episode.pk).update(
            status=Episode.RUNNING, attempts=django_settings.GAUNTLET_MAX_ATTEMPTS
        )
        episode.refresh_from_db()
        assert services.fail_episode(episode, episode.attempts, "browser crashed") == "errored"
    assert events.publisher().flush()
    settings.CHANNEL_LAYERS = layers


def publish_episode_event(run, episode):
    """The event the service sent for the episode's last change, sent again (through the real Redis layer)."""
    episode.refresh_from_db()
    data = {"row": selectors.episode_row(episode), "run": selectors.run_summary(Run.objects.get(pk=run.pk))}
    event = {"type": events.EPISODE, "seq": episode.seq, "run_id": run.pk, "data": data}
    events.publisher().publish(events.run_group(run.pk), {"type": "run.event", "event": event})


def state_requests(page) -> list[str]:
    requests = []
    page.on("request", lambda request: requests.append(request.url) if "state.json" in request.url else None)
    return requests


def test_it_applies_events_that_arrive_out_of_order_without_asking_the_server(run_page, settings):
    page, run = run_page
    requests = state_requests(page)
    first, second = run.episodes.order_by("pk")[:2]
    fail_for_good_silently(settings, [first, second])

    publish_episode_event(run, second)  # overtakes the first, within the reorder window
    publish_episode_event(run, first)

    expect(page.locator(f"#episode-{first.pk} .ep-status")).to_contain_text("errored")
    expect(page.locator(f"#episode-{second.pk} .ep-status")).to_contain_text("errored")
    expect(page.locator("#c-done")).to_have_text("2")
    page.wait_for_timeout(HEARTBEAT_S * 2000)  # a heartbeat or two, which find the page up to date
    assert requests == []


def test_it_reads_only_the_delta_when_an_event_is_lost(run_page, settings):
    page, run = run_page
    requests = state_requests(page)
    first, second = run.episodes.order_by("pk")[:2]
    fail_for_good_silently(settings, [first, second])

    publish_episode_event(run, second)  # the first's event never comes

    expect(page.locator(f"#episode-{first.pk} .ep-status")).to_contain_text("errored")
    expect(page.locator(f"#episode-{second.pk} .ep-status")).to_contain_text("errored")
    expect(page.locator("#c-done")).to_have_text("2")
    assert requests and all(url.endswith("state.json?since=0") for url in requests)
