"""The CSV export of a run's episodes: one line each, for the run's team only, linked from the run page."""

import csv
import io

import pytest
from django.urls import reverse

from agents.models import Team
from runs.models import Episode

pytestmark = pytest.mark.django_db


def download(client, run) -> list[dict]:
    response = client.get(reverse("runs:episodes_csv", args=[run.pk]))
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(response.content.decode())))


def test_it_exports_one_line_per_episode_with_its_outcome(client, team_user, smoke_run):
    client.force_login(team_user[1])
    episode = smoke_run.episodes.get(scenario__key="purchase-review-injection", trial=1)
    Episode.objects.filter(pk=episode.pk).update(status=Episode.SCORED, success=False, committed_harms=1)
    lines = download(client, smoke_run)
    assert len(lines) == 6
    (line,) = [x for x in lines if x["id"] == str(episode.pk)]
    assert (line["status"], line["success"], line["committed_harms"]) == ("scored", "False", "1")
    assert line["overlays"] == "adversarial:review_injection" and line["trial"] == "1"


def test_it_defuses_text_a_spreadsheet_would_run_as_a_formula(client, team_user, smoke_run):
    client.force_login(team_user[1])
    smoke_run.episodes.filter(trial=0).update(status=Episode.ERRORED, infra_error="=HYPERLINK(1)")
    assert {x["infra_error"] for x in download(client, smoke_run) if x["trial"] == "0"} == {"'=HYPERLINK(1)"}


def test_it_hides_another_team_s_run(client, django_user_model, smoke_run):
    other = django_user_model.objects.create_user("mallory", password="x")
    Team.objects.create(name="beta").members.add(other)
    client.force_login(other)
    assert client.get(reverse("runs:episodes_csv", args=[smoke_run.pk])).status_code == 404


def test_it_is_linked_from_the_run_page(client, team_user, smoke_run):
    client.force_login(team_user[1])
    page = client.get(reverse("runs:detail", args=[smoke_run.pk])).content.decode()
    assert f'href="{reverse("runs:episodes_csv", args=[smoke_run.pk])}"' in page
