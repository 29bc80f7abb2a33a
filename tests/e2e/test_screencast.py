"""Watching an episode live: the episode page of a running episode shows the agent's browser as moving frames
with the step's action beside them, and a worker screencasts only while someone watches."""

import threading
import time

import pytest
from django.test import Client
from django.urls import reverse

from agents.models import Agent, AgentVersion
from runs import services, watching
from runs.models import Suite

pytestmark = [pytest.mark.browser, pytest.mark.services, pytest.mark.django_db(transaction=True)]


def long_episode(team, user, max_steps: int = 60):
    """One queued episode of a random agent that never stops on its own."""
    agent = Agent.objects.create(team=team, name="restless", kind=Agent.KIND_BUILTIN)
    version = AgentVersion.objects.create(
        agent=agent,
        number=1,
        config={"name": "random", "stop_probability": 0},
        verify_status=AgentVersion.VERIFIED,
    )
    run = services.queue_run(
        agent_version=version,
        suite=Suite.objects.get(name="smoke"),
        team=team,
        user=user,
        trials=1,
        max_steps=max_steps,
        enqueue=False,
    )
    return run.episodes.order_by("pk").first()


def test_a_watched_running_episode_shows_moving_frames_and_its_action(asgi_server, builtins, team_user, browser_page):
    team, user = team_user
    episode = long_episode(team, user)
    client = Client()
    client.force_login(user)
    browser_page.context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": asgi_server}]
    )
    browser_page.goto(asgi_server + reverse("runs:episode", args=[episode.pk]))
    browser_page.wait_for_function("document.getElementById('screen-status').textContent.startsWith('waiting')")
    assert watching.is_watched(episode.pk)

    result = {}
    player = threading.Thread(target=lambda: result.setdefault("status", services.execute_episode(episode.pk)))
    player.start()
    try:
        screen = browser_page.locator("#screen")
        browser_page.wait_for_function(
            "Number(document.getElementById('screen').dataset.frames || 0) >= 1", timeout=60_000
        )
        first = screen.get_attribute("src")
        browser_page.wait_for_function(
            "src => document.getElementById('screen').src !== src", arg=first, timeout=60_000
        )
        assert first.startswith("data:image/jpeg;base64,") and len(first) > 1000
        assert screen.is_visible()
        # The action beside the frames is one the agent took.
        browser_page.wait_for_function("document.getElementById('screen-action').textContent.includes('(')")
        shown = browser_page.locator("#screen-action").inner_text()
        actions = set(episode.step_set.values_list("action", flat=True))
        assert shown in actions or shown == "(first step)"
        # The steps table grows as steps are taken, without a reload.
        browser_page.wait_for_function("document.querySelectorAll('tr.live-step').length >= 2", timeout=60_000)
        first_row = browser_page.locator("tr.live-step").first
        index = int(first_row.get_attribute("id").removeprefix("step-"))
        assert first_row.locator("code").nth(1).inner_text() == episode.step_set.get(index=index).action
    finally:
        browser_page.goto("about:blank")  # stop watching: the rest of the episode plays unwatched
        player.join(timeout=180)
    assert result.get("status") == "scored"


def test_nobody_watching_means_no_screencast(builtins, team_user, monkeypatch):
    frames = []
    real = services.events.publish_frame
    monkeypatch.setattr(services.events, "publish_frame", lambda *a: frames.append(a) or real(*a))
    episode = long_episode(*team_user, max_steps=8)
    assert not watching.is_watched(episode.pk)
    assert services.execute_episode(episode.pk) == "scored"
    assert frames == []


def test_a_watch_lasts_only_as_long_as_its_renewals(builtins, team_user, monkeypatch):
    episode = long_episode(*team_user, max_steps=2)
    flag = watching.WatchFlag(episode.pk)
    flag.refresh()
    assert flag() is False
    watching.mark_watched(episode.pk)
    flag.checked = 0
    flag.refresh()
    assert flag() is True
    watching._redis().pexpire(watching.key(episode.pk), 50)
    time.sleep(0.1)
    flag.refresh()
    assert flag() is True  # asked again only after CHECK_S
    flag.checked -= watching.CHECK_S
    flag.refresh()
    assert flag() is False


def test_the_page_of_a_running_episode_shows_its_results_when_it_ends(asgi_server, builtins, team_user, browser_page):
    team, user = team_user
    episode = long_episode(team, user, max_steps=6)
    client = Client()
    client.force_login(user)
    browser_page.context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": asgi_server}]
    )
    browser_page.goto(asgi_server + reverse("runs:episode", args=[episode.pk]))
    browser_page.wait_for_function("document.getElementById('screen-status').textContent.startsWith('waiting')")
    assert services.execute_episode(episode.pk) == "scored"
    browser_page.wait_for_function("document.querySelector('h1 .status').textContent === 'scored'", timeout=30_000)
    assert browser_page.locator("table.steps tbody tr").count() == 6
