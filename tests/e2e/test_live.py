"""The live run page stays true in a real browser: lost events, a silent socket, no network."""

import os
import signal
import time

import pytest
from django.conf import settings as django_settings
from django.db import transaction
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
    _, web = server
    # A stopped server keeps its TCP connections open: the browser gets no close event, only silence.
    os.kill(web.pid, signal.SIGSTOP)
    try:
        expect(page.locator("#live")).to_have_text("reconnecting…", timeout=HEARTBEAT_S * 5000)
    finally:
        os.kill(web.pid, signal.SIGCONT)
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


def episode_event(run, episode) -> dict:
    """The live event of the episode's last change, as the service sent it."""
    episode.refresh_from_db()
    data = {"row": selectors.episode_row(episode), "run": selectors.run_summary(Run.objects.get(pk=run.pk))}
    return {"type": events.EPISODE, "seq": episode.seq, "run_id": run.pk, "data": data}


def publish(run, *frames):
    """The events sent to the run's pages through the real Redis layer."""
    for event in frames:
        events.publisher().publish(events.run_group(run.pk), {"type": "run.event", "event": event})
    assert events.publisher().flush()


def publish_episode_event(run, episode):
    """The event the service sent for the episode's last change, sent again (through the real Redis layer)."""
    publish(run, episode_event(run, episode))


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


def test_events_that_come_during_a_catch_up_read_are_not_undone_by_its_older_rows(run_page, settings):
    page, run = run_page
    episode = run.episodes.order_by("pk").first()
    layers = settings.CHANNEL_LAYERS
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    # Claimed (seq 1) with its event lost: the next heartbeat tells the page it is behind, and it reads the delta.
    Episode.objects.filter(pk=episode.pk).update(attempts=django_settings.GAUNTLET_MAX_ATTEMPTS - 1)
    assert episode.claim("test-worker", 60)
    with transaction.atomic():
        services._publish_episode(episode)
    claimed = episode_event(run, episode)
    reads = []

    def slow_read(route):
        # The read sees the episode running (seq 1). While its answer is on the way, the episode fails (seq 2)
        # and both events reach the page, which must not let the read's older row undo them.
        answer = route.fetch()
        reads.append(route.request.url)
        assert services.fail_episode(episode, episode.attempts, "browser crashed") == "errored"
        assert events.publisher().flush()
        settings.CHANNEL_LAYERS = layers
        publish(run, claimed, episode_event(run, episode))
        time.sleep(1)  # the events reach the page; the read is still waiting for its answer
        route.fulfill(response=answer)

    page.route("**/state.json?since=0", slow_read)
    expect(page.locator(f"#episode-{episode.pk} .ep-status")).to_contain_text("errored", timeout=HEARTBEAT_S * 8000)
    page.wait_for_timeout(HEARTBEAT_S * 3000)  # heartbeats, which find the page up to date: nothing to redo
    expect(page.locator(f"#episode-{episode.pk} .ep-status")).to_contain_text("errored")
    expect(page.locator("#c-done")).to_have_text("1")
    assert len(reads) == 1


def test_a_full_state_replaces_a_sequence_number_ahead_of_the_runs(run_page, settings):
    page, run = run_page
    first, second, third = run.episodes.order_by("pk")[:3]
    # The page counts to 3 with events of a run's other life (a database restored from a backup): the run
    # itself is at 0. Its own events then restart at 1, which the page would take for old ones.
    other_life = [{**episode_event(run, first), "seq": seq} for seq in (1, 2, 3)]
    publish(run, *other_life)
    expect(page.locator("#live")).to_have_text("live")
    # An event ahead of a gap (5 after 3): the page asks what changed since 3, and the server, at 0, says
    # to read it all. Once that state has replaced the page's 3, what the page asks for next is a delta
    # from there; had it kept its 3, every read would be a full one again.
    full_reads = []
    page.on("request", lambda r: full_reads.append(r.url) if r.url.endswith("/state.json") else None)
    publish(run, {**episode_event(run, first), "seq": 5})
    fail_for_good_silently(settings, [second])  # seq 1, its event lost
    expect(page.locator(f"#episode-{second.pk} .ep-status")).to_contain_text("errored", timeout=HEARTBEAT_S * 8000)
    # From there on, the run's own events count: seq 2 is new to the page, not old.
    fail_for_good_silently(settings, [third])
    publish(run, episode_event(run, third))
    expect(page.locator(f"#episode-{third.pk} .ep-status")).to_contain_text("errored", timeout=HEARTBEAT_S * 3000)
    expect(page.locator("#c-done")).to_have_text("2")
    assert len(full_reads) == 1


def test_a_failed_catch_up_read_is_not_retried_at_once_for_every_event(run_page):
    page, run = run_page
    reads = []

    def refuse(route):
        reads.append(time.monotonic())
        route.abort()

    page.route("**/state.json?since=*", refuse)
    first = run.episodes.order_by("pk").first()
    # Event 1 is lost and the reads of what the page missed fail; events 2 to 21 keep coming, 50 ms apart.
    for seq in range(2, 22):
        publish(run, {**episode_event(run, first), "seq": seq})
        time.sleep(0.05)
    # Past the reorder window, the first read fails (a busy machine may take a while to get there) ...
    deadline = time.monotonic() + 10
    while not reads and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    assert reads, "the page never tried to read what it missed"
    page.wait_for_timeout(500)
    # ... and the next follows 2 s later (heartbeats may add one a second), not one per event.
    assert 1 <= len(reads) <= 4, [round(t - reads[0], 2) for t in reads]
