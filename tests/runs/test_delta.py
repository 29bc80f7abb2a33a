"""state.json?since=SEQ: the rows changed after a live event, so a page that missed events catches up cheaply."""

import time

import pytest
from django.urls import reverse

from agents.models import Agent, Team
from runs import selectors, services
from runs.models import Episode, Run, Suite

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def client_of(client, team_user):
    client.force_login(team_user[1])
    return client


def fail_once(episode):
    """A real episode change through the service: claimed, then an infrastructure failure (back to the queue)."""
    assert episode.claim("test", 60)
    services.fail_episode(episode, episode.attempts, "browser crashed")


def delta(client, run, since):
    return client.get(reverse("runs:state", args=[run.pk]), {"since": since})


def test_it_returns_the_rows_changed_after_the_seq(client_of, smoke_run):
    a, b, untouched = smoke_run.episodes.order_by("pk")[:3]
    fail_once(a)
    fail_once(b)

    body = delta(client_of, smoke_run, 1).json()

    assert body["seq"] == 2 and body["full"] is False
    assert [row["id"] for row in body["episodes"]] == [b.pk]
    assert body["episodes"][0]["attempts"] == 1 and body["episodes"][0]["status"] == "queued"
    assert body["run"]["total"] == 6 and isinstance(body["steps"], list)
    assert [row["id"] for row in delta(client_of, smoke_run, 0).json()["episodes"]] == [a.pk, b.pk]
    assert delta(client_of, smoke_run, 2).json()["episodes"] == []


@pytest.mark.parametrize("since", ["", "x", "-1", "1.5", "١", "9" * 30])
def test_it_refuses_a_since_that_is_not_a_sequence_number(client_of, smoke_run, since):
    response = delta(client_of, smoke_run, since)
    assert response.status_code == 400 and "since" in response.json()["error"]


def test_it_hides_other_teams_runs(client_of, builtins):
    run = services.queue_run(
        agent_version=Agent.objects.get(name="oracle").latest_version(),
        suite=Suite.objects.get(name="smoke"),
        team=Team.objects.create(name="beta"),
        enqueue=False,
    )
    assert delta(client_of, run, 0).status_code == 404


def test_it_asks_for_a_full_reload_when_more_changed_than_a_delta_carries(client_of, smoke_run, monkeypatch):
    monkeypatch.setattr(selectors, "DELTA_MAX_ROWS", 1)
    for episode in smoke_run.episodes.order_by("pk")[:2]:
        fail_once(episode)

    body = delta(client_of, smoke_run, 0).json()

    assert body["full"] is True and body["episodes"] == [] and body["seq"] == 2


def test_it_asks_for_a_full_reload_when_the_page_is_ahead_of_the_run(client_of, smoke_run):
    body = delta(client_of, smoke_run, 5).json()
    assert body["full"] is True and body["seq"] == 0


def test_requests_at_the_same_seq_share_one_state_and_a_change_shows_at_once(client_of, smoke_run, monkeypatch):
    computed = []
    real = selectors.run_state
    monkeypatch.setattr(selectors, "run_state", lambda run: computed.append(run.pk) or real(run))
    url = reverse("runs:state", args=[smoke_run.pk])

    first, again = client_of.get(url).json(), client_of.get(url).json()
    page = client_of.get(reverse("runs:detail", args=[smoke_run.pk]))
    assert len(computed) == 1 and first == again and page.status_code == 200

    a = smoke_run.episodes.order_by("pk").first()
    fail_once(a)
    changed = client_of.get(url).json()
    assert len(computed) == 2 and changed["seq"] == 1
    assert {row["id"]: row["attempts"] for row in changed["episodes"]}[a.pk] == 1
    # The same for the delta: shared at one seq, new at the next.
    assert delta(client_of, smoke_run, 0).json() == delta(client_of, smoke_run, 0).json()
    fail_once(smoke_run.episodes.order_by("pk")[1])
    assert delta(client_of, smoke_run, 0).json()["seq"] == 2


def test_a_shared_state_is_not_kept_past_its_lifetime_nor_through_a_status_change(client_of, smoke_run, monkeypatch):
    url = reverse("runs:state", args=[smoke_run.pk])
    assert client_of.get(url).json()["status"] == "queued"
    # A change outside the event path (no new seq): the status is part of the key...
    Run.objects.filter(pk=smoke_run.pk).update(status=Run.RUNNING)
    assert client_of.get(url).json()["status"] == "running"
    # ...and anything else shows once the entry is STATE_CACHE_S old.
    Episode.objects.filter(run=smoke_run).update(progress=0.5)
    assert {row["progress"] for row in client_of.get(url).json()["episodes"]} != {0.5}
    later = time.monotonic() + selectors.STATE_CACHE_S
    monkeypatch.setattr(selectors.time, "monotonic", lambda: later)
    assert {row["progress"] for row in client_of.get(url).json()["episodes"]} == {0.5}


def test_a_filtered_run_page_does_not_change_the_shared_state(client_of, smoke_run):
    url = reverse("runs:state", args=[smoke_run.pk])
    before = client_of.get(url).json()
    scenario = smoke_run.episodes.order_by("pk").first().scenario.key
    page = client_of.get(reverse("runs:detail", args=[smoke_run.pk]), {"scenario": scenario})
    assert page.status_code == 200
    assert client_of.get(url).json() == before and len(before["episodes"]) == 6


def test_run_pages_at_the_same_seq_share_their_counters_and_table_and_a_change_shows_at_once(client_of, smoke_run):
    url = reverse("runs:detail", args=[smoke_run.pk])
    shared = ("runs/_live_counters.html", "runs/_live_episodes.html")

    def rendered(response):
        return [name for name in shared if name in {t.name for t in response.templates}]

    first, again = client_of.get(url), client_of.get(url)
    assert rendered(first) == list(shared) and rendered(again) == []
    # The run's status and its six episodes', the same in both.
    assert first.content.count(b'class="status queued"') == again.content.count(b'class="status queued"') == 7

    fail_once(smoke_run.episodes.order_by("pk").first())
    changed = client_of.get(url)
    assert rendered(changed) == list(shared)
    assert b'data-seq="0"' in first.content and b'data-seq="1"' in changed.content

    # A filtered page renders its own table and leaves the shared one alone.
    filtered = client_of.get(url, {"status": "queued"})
    assert rendered(filtered) == ["runs/_live_episodes.html"] and rendered(client_of.get(url)) == []


def test_requests_that_miss_the_shared_state_together_compute_it_once(smoke_run, monkeypatch):
    import threading

    computed, started = [], threading.Barrier(8)

    def slow_state(run):
        computed.append(run.pk)
        time.sleep(0.3)
        if len(computed) == 1:
            raise RuntimeError("the first computation fails: a waiter computes it instead")
        return {"seq": run.event_seq, "status": run.status}

    monkeypatch.setattr(selectors, "run_state", slow_state)
    results, errors = [], []

    def read():
        started.wait()
        try:
            results.append(selectors.shared_run_state(smoke_run))
        except RuntimeError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=read) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    # One computation at a time: the first fails (its request sees the error), one of the waiters computes
    # it again, and the other six share that.
    assert len(computed) == 2 and len(errors) == 1 and len(results) == 7
    assert all(result == {"seq": 0, "status": "queued"} for result in results)
    assert selectors._computing == {}
