import pytest
from django.urls import reverse

from agents.models import Agent, Team
from runs import services
from runs.models import Run, Suite

pytestmark = pytest.mark.django_db


@pytest.fixture
def logged_in(client, team_user, builtins):
    team, user = team_user
    client.force_login(user)
    return client, team, user


def oracle_version():
    return Agent.objects.get(name="oracle").latest_version()


def test_every_page_requires_login(client, builtins):
    for url in (reverse("runs:index"), reverse("runs:suites"), reverse("agents:index")):
        response = client.get(url)
        assert response.status_code == 302 and response.url.startswith(reverse("login"))


def test_it_starts_a_run_for_the_user_s_team(logged_in, django_capture_on_commit_callbacks):
    client, team, user = logged_in
    suite = Suite.objects.get(name="smoke")
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(
            reverse("runs:start"),
            {
                "agent_version": oracle_version().pk,
                "suite": suite.pk,
                "trials": 2,
                "seed": 3,
            },
        )
    run = Run.objects.get()
    assert response.status_code == 302 and response.url == reverse("runs:detail", args=[run.pk])
    assert run.team == team and run.episodes.count() == 6 and run.config["seed"] == 3
    assert len(callbacks) == 1  # the episodes go to the broker after commit, in one hand-over
    assert run.agent_version.locked
    page = client.get(response.url)
    assert page.status_code == 200
    assert b"purchase-review-injection" in page.content
    state = client.get(reverse("runs:state", args=[run.pk])).json()
    assert state["total"] == 6 and state["counts"]["queued"] == 6


def test_bad_run_input_is_refused_with_the_reason(logged_in):
    client, _, _ = logged_in
    response = client.post(reverse("runs:start"), {"agent_version": 999, "suite": "x", "trials": 0})
    assert response.status_code == 400
    assert not Run.objects.exists()
    assert b"Select a valid choice" in response.content


def test_other_teams_runs_are_invisible(logged_in, django_user_model):
    client, _, _ = logged_in
    other = Team.objects.create(name="beta")
    run = services.queue_run(
        agent_version=oracle_version(), suite=Suite.objects.get(name="smoke"), team=other, enqueue=False
    )
    episode = run.episodes.first()
    for url in (
        reverse("runs:detail", args=[run.pk]),
        reverse("runs:state", args=[run.pk]),
        reverse("runs:episode", args=[episode.pk]),
        reverse("runs:trace", args=[episode.pk]),
    ):
        assert client.get(url).status_code == 404
    assert f"#{run.pk}".encode() not in client.get(reverse("runs:index")).content


def test_unknown_leaderboard_metric_falls_back_with_a_message(logged_in):
    client, _, _ = logged_in
    suite = Suite.objects.get(name="smoke")
    response = client.get(reverse("runs:leaderboard", args=[suite.pk]) + "?metric=bogus")
    assert response.status_code == 200 and b"Unknown metric" in response.content
