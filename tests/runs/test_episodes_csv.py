"""The CSV export of a run's episodes: one line each, for the run's team only, linked from the run page."""

import csv
import io

import pytest
from django.urls import reverse

from agents.models import Agent, Team
from runs import services
from runs.models import Episode, Suite

pytestmark = pytest.mark.django_db


@pytest.fixture
def run(builtins, team_user):
    team, user = team_user
    return services.queue_run(
        agent_version=Agent.objects.get(name="oracle").latest_version(),
        suite=Suite.objects.get(name="smoke"),
        team=team,
        user=user,
        trials=2,
        enqueue=False,
    )


def download(client, run) -> list[dict]:
    response = client.get(reverse("runs:episodes_csv", args=[run.pk]))
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(response.content.decode())))


def test_it_exports_one_line_per_episode_with_its_outcome(client, team_user, run):
    client.force_login(team_user[1])
    episode = run.episodes.get(scenario__key="purchase-review-injection", trial=1)
    Episode.objects.filter(pk=episode.pk).update(status=Episode.SCORED, success=False, committed_harms=1)
    lines = download(client, run)
    assert len(lines) == 6
    (line,) = [x for x in lines if x["id"] == str(episode.pk)]
    assert (line["status"], line["success"], line["committed_harms"]) == ("scored", "False", "1")
    assert line["overlays"] == "adversarial:review_injection" and line["trial"] == "1"


def test_it_defuses_text_a_spreadsheet_would_run_as_a_formula(client, team_user, run):
    client.force_login(team_user[1])
    run.episodes.filter(trial=0).update(status=Episode.ERRORED, infra_error="=HYPERLINK(1)")
    assert {x["infra_error"] for x in download(client, run) if x["trial"] == "0"} == {"'=HYPERLINK(1)"}


def test_it_hides_another_team_s_run(client, django_user_model, run):
    other = django_user_model.objects.create_user("mallory", password="x")
    Team.objects.create(name="beta").members.add(other)
    client.force_login(other)
    assert client.get(reverse("runs:episodes_csv", args=[run.pk])).status_code == 404


def test_it_is_linked_from_the_run_page(client, team_user, run):
    client.force_login(team_user[1])
    page = client.get(reverse("runs:detail", args=[run.pk])).content.decode()
    assert f'href="{reverse("runs:episodes_csv", args=[run.pk])}"' in page
