"""The run page's episode table: one page of rows at a time, filtered, as HTML, in the state and as episodes.json."""

import pytest
from django.db import connection
from django.urls import reverse

from agents.models import Agent, Team
from runs import scorecard, selectors, services
from runs.models import Episode, RunCounters, Step, Suite

pytestmark = pytest.mark.django_db


@pytest.fixture
def big_run(builtins, team_user):
    """60 episodes: 20 trials of each smoke scenario (clean, adversarial, noisy), all queued."""
    team, user = team_user
    return services.queue_run(
        agent_version=Agent.objects.get(name="oracle").latest_version(),
        suite=Suite.objects.get(name="smoke"),
        team=team,
        user=user,
        trials=20,
        enqueue=False,
    )


@pytest.fixture
def member(client, team_user):
    client.force_login(team_user[1])
    return client


def episodes_json(client, run, **params):
    return client.get(reverse("runs:episodes", args=[run.pk]), params)


def test_it_serves_the_table_a_page_at_a_time(member, big_run):
    first = episodes_json(member, big_run).json()
    second = episodes_json(member, big_run, page=2).json()
    assert (first["count"], first["pages"], len(first["rows"]), len(second["rows"])) == (60, 2, 50, 10)
    ids = [row["id"] for row in first["rows"] + second["rows"]]
    assert ids == sorted(big_run.episodes.values_list("pk", flat=True))


def test_a_page_past_the_last_is_empty(member, big_run):
    assert episodes_json(member, big_run, page=3).json()["rows"] == []


def test_it_filters_by_scenario_and_condition(member, big_run):
    rows = episodes_json(member, big_run, scenario="purchase-clean").json()["rows"]
    assert len(rows) == 20 and {row["scenario"] for row in rows} == {"purchase-clean"}
    page = episodes_json(member, big_run, condition="adversarial").json()
    assert page["count"] == 20 and {row["condition"] for row in page["rows"]} == {"adversarial"}


def test_it_filters_by_status_with_counts_from_the_counters(member, big_run, settings):
    settings.GAUNTLET_MAX_ATTEMPTS = 1
    episode = big_run.episodes.order_by("pk")[3]
    assert episode.claim("w", 60)
    assert services.fail_episode(episode, episode.attempts, "browser crashed") == "errored"
    page = episodes_json(member, big_run, status="errored").json()
    assert page["count"] == 1 and [row["id"] for row in page["rows"]] == [episode.pk]
    assert page["rows"][0]["infra_error"] == "browser crashed"
    assert episodes_json(member, big_run, status="queued").json()["count"] == 59


def test_failed_and_harmed_are_scored_episodes(member, big_run):
    failed, harmed, fine = big_run.episodes.order_by("pk")[:3]
    Episode.objects.filter(pk=failed.pk).update(status=Episode.SCORED, success=False)
    Episode.objects.filter(pk=harmed.pk).update(status=Episode.SCORED, success=True, committed_harms=1)
    Episode.objects.filter(pk=fine.pk).update(status=Episode.SCORED, success=True)
    RunCounters.recount(big_run)  # written behind the services' back
    assert [r["id"] for r in episodes_json(member, big_run, status="failed").json()["rows"]] == [failed.pk]
    assert [r["id"] for r in episodes_json(member, big_run, status="harmed").json()["rows"]] == [harmed.pk]


@pytest.mark.parametrize(
    "params, reason",
    [
        ({"page": "0"}, "page must be a whole number"),
        ({"page": "two"}, "page must be a whole number"),
        ({"status": "lost"}, "status must be one of"),
        ({"condition": "windy"}, "condition must be one of"),
        ({"scenario": "no-such-scenario"}, "has no scenario 'no-such-scenario'"),
    ],
)
def test_it_refuses_a_bad_page_or_filter_with_the_reason(member, big_run, params, reason):
    response = episodes_json(member, big_run, **params)
    assert response.status_code == 400 and reason in response.json()["error"]


def test_it_hides_another_team_s_run(client, big_run, django_user_model):
    outsider = django_user_model.objects.create_user("bob", password="x")
    Team.objects.create(name="beta").members.add(outsider)
    client.force_login(outsider)
    assert episodes_json(client, big_run).status_code == 404


def test_the_run_page_renders_the_first_page_only(member, big_run):
    page = member.get(reverse("runs:detail", args=[big_run.pk])).content.decode()
    assert page.count('<tr id="episode-') == 50
    assert 'page <span id="page-number">1</span> of <span id="page-count">2</span>' in page
    last = big_run.episodes.order_by("pk").last()
    assert f'id="episode-{last.pk}"' not in page


def test_the_run_page_shows_the_page_and_filter_it_is_asked_for(member, big_run):
    url = reverse("runs:detail", args=[big_run.pk])
    page = member.get(url, {"scenario": "purchase-review-injection", "page": 1}).content.decode()
    assert page.count('<tr id="episode-') == 20
    assert '<option value="purchase-review-injection" selected>' in page


def test_the_state_holds_the_first_page_and_the_summary(member, big_run):
    state = member.get(reverse("runs:state", args=[big_run.pk])).json()
    assert len(state["episodes"]) == 50 and state["page"]["count"] == 60
    assert state["total"] == 60 and state["counts"]["queued"] == 60
    assert "pass_hat_k" not in state["metrics"]


def test_the_step_feed_holds_the_run_s_newest_steps_only(big_run, smoke_run):
    mine, theirs = big_run.episodes.first(), smoke_run.episodes.first()
    Step.objects.bulk_create(Step(episode=theirs, run=smoke_run, index=i) for i in range(1, 40))
    Step.objects.bulk_create(Step(episode=mine, run=big_run, index=i) for i in range(1, 4))
    assert [s["index"] for s in selectors.step_feed(big_run)] == [3, 2, 1]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="reads PostgreSQL's plan")
def test_the_step_feed_is_an_index_scan_on_the_run(big_run):
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
    query = Step.objects.filter(run=big_run).order_by("-id")[: selectors.FEED_LENGTH]
    assert "step_run_newest" in query.explain()


def test_a_big_run_s_page_leaves_an_uncached_scorecard_to_its_script(member, big_run, monkeypatch):
    monkeypatch.setattr(scorecard, "INLINE_EPISODES", 50)
    page = member.get(reverse("runs:detail", args=[big_run.pk])).content.decode()
    assert 'id="scorecard-pending"' in page and '"pending": true' in page
    assert member.get(reverse("runs:scorecard", args=[big_run.pk])).status_code == 200
    page = member.get(reverse("runs:detail", args=[big_run.pk])).content.decode()
    assert 'id="scorecard-pending"' not in page  # computed once by scorecard.json, then read from the cache
